/* backend_cuda.c: pb_backend_cuda, the ops table of a GPU context (engine/device/backend.h): plain C
 * adapters to the CUDA twins of kernels/cuda/ (kernels/ops_cuda.h), run in ctx->cuda's
 * environment (stream, cuDNN / cuBLAS handles, workspace). Its twin is engine/device/backend_cpu.c.
 *
 * Each adapter calls exactly the pb_*_cuda function the engine called before the table existed.
 * No #ifdef: a CPU-only build links kernels/cuda/stubs.c, and its context never selects this
 * table (pb_ctx_init* picks it only once a GPU environment is up). */
#include "engine/device/backend.h"
#include "engine/device/lowp.h"
#include "kernels/ops_cuda.h"

/* ------------------------------------------------------------------ memory */

static void *cuda_alloc(pb_ctx *ctx, size_t bytes, const char *what, pb_err *err) {
  /* a real, unique pointer even for 0 bytes, as the host's pb_amalloc */
  void *p = pb_cuda_alloc(bytes ? bytes : 16, what, err);
  if (p) pb_cuda_memset0(p, bytes ? bytes : 16, ctx->cuda);
  return p;
}
static void cuda_free(pb_ctx *ctx, void *p) {
  (void)ctx;
  if (p) pb_cuda_free(p);
}
static void cuda_upload(pb_ctx *ctx, void *dst, const void *host_src, size_t bytes) {
  if (bytes) pb_cuda_h2d(dst, host_src, bytes, ctx->cuda);
}
static void cuda_download(pb_ctx *ctx, void *host_dst, const void *src, size_t bytes) {
  if (bytes) pb_cuda_d2h(host_dst, src, bytes, ctx->cuda);
}
static void cuda_zero(pb_ctx *ctx, void *dst, size_t bytes) {
  if (bytes) pb_cuda_memset0(dst, bytes, ctx->cuda);
}
/* y = 0 + x: what the dropout layer has always done on a GPU (no device-to-device copy exists
 * in ops_cuda.h); a -0.0 becomes +0.0, nothing else changes. */
static void cuda_copy(pb_ctx *ctx, float *y, const float *x, size_t n) {
  if (!n) return;
  pb_cuda_memset0(y, n * sizeof(float), ctx->cuda);
  pb_accumulate_cuda(y, x, n, ctx->cuda);
}
static void cuda_sync(pb_ctx *ctx) { pb_cuda_sync(ctx->cuda); }
static void cuda_round_lp(pb_ctx *ctx, float *x, size_t n, int fmt) {
  if (fmt == PB_PREC_BF16)
    pb_round_bf16_cuda(x, n, ctx->cuda);
  else
    pb_round_f16_cuda(x, n, ctx->cuda);
}

/* ------------------------------------------------------------------ staging */

static void *cuda_host_alloc(pb_ctx *ctx, size_t bytes, const char *what, pb_err *err) {
  (void)ctx;
  return pb_cuda_host_alloc(bytes, what, err);
}
static void cuda_host_free(pb_ctx *ctx, void *p) {
  (void)ctx;
  pb_cuda_host_free(p);
}
static void cuda_h2d_async(pb_ctx *ctx, void *dst, const void *pinned_src, size_t bytes) {
  pb_cuda_h2d_overlap(dst, pinned_src, bytes, ctx->cuda);
}
static void cuda_copy_wait(pb_ctx *ctx) { pb_cuda_copy_wait(ctx->cuda); }
static void cuda_stage_begin(pb_ctx *ctx, int slot) { pb_cuda_stage_begin(ctx->cuda, slot); }

/* ------------------------------------------------------------------ ops: ctx->cuda appended */

static void cuda_conv2d_fwd(pb_ctx *ctx, float *y, const float *x, const float *w, const float *bias,
                            const pb_conv2d_params *p) {
  pb_conv2d_fwd_cuda(y, x, w, bias, p, ctx->cuda);
}
static void cuda_conv2d_bwd_data(pb_ctx *ctx, float *dx, const float *dy, const float *w, const pb_conv2d_params *p) {
  pb_conv2d_bwd_data_cuda(dx, dy, w, p, ctx->cuda);
}
static void cuda_conv2d_bwd_filter(pb_ctx *ctx, float *dw, float *dbias, const float *dy, const float *x,
                                   const pb_conv2d_params *p) {
  pb_conv2d_bwd_filter_cuda(dw, dbias, dy, x, p, ctx->cuda);
}
static void cuda_bn_fwd_train(pb_ctx *ctx, float *y, float *save_mean, float *save_invstd, float *running_mean,
                              float *running_var, const float *x, const float *gamma, const float *beta,
                              const pb_bn_params *p) {
  pb_bn_fwd_train_cuda(y, save_mean, save_invstd, running_mean, running_var, x, gamma, beta, p, ctx->cuda);
}
static void cuda_bn_fwd_eval(pb_ctx *ctx, float *y, const float *x, const float *gamma, const float *beta,
                             const float *running_mean, const float *running_var, const pb_bn_params *p) {
  pb_bn_fwd_eval_cuda(y, x, gamma, beta, running_mean, running_var, p, ctx->cuda);
}
static void cuda_bn_eval_fused(pb_ctx *ctx, float *y, const float *x, const float *r, const float *gamma,
                               const float *beta, const float *running_mean, const float *running_var, int relu,
                               const pb_bn_params *p) {
  pb_bn_eval_fused_cuda(y, x, r, gamma, beta, running_mean, running_var, relu, p, ctx->cuda);
}
static void cuda_bn_bwd(pb_ctx *ctx, float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                        const float *gamma, const float *save_mean, const float *save_invstd, const pb_bn_params *p) {
  pb_bn_bwd_cuda(dx, dgamma, dbeta, dy, x, gamma, save_mean, save_invstd, p, ctx->cuda);
}
static void cuda_bn_fwd_train_fused(pb_ctx *ctx, float *y, float *save_mean, float *save_invstd, float *running_mean,
                                    float *running_var, const float *x, const float *r, const float *gamma,
                                    const float *beta, int relu, const pb_bn_params *p) {
  pb_bn_fwd_train_fused_cuda(y, save_mean, save_invstd, running_mean, running_var, x, r, gamma, beta, relu, p,
                             ctx->cuda);
}
static void cuda_bn_bwd_fused(pb_ctx *ctx, float *dx, float *dz, float *dgamma, float *dbeta, const float *dy,
                              const float *y, const float *x, const float *gamma, const float *save_mean,
                              const float *save_invstd, int relu, const pb_bn_params *p) {
  pb_bn_bwd_fused_cuda(dx, dz, dgamma, dbeta, dy, y, x, gamma, save_mean, save_invstd, relu, p, ctx->cuda);
}
static void cuda_bn_sums(pb_ctx *ctx, double *sums, const float *x, const pb_bn_params *p) {
  pb_bn_sums_cuda(sums, x, p, ctx->cuda);
}
static void cuda_bn_fwd_sync(pb_ctx *ctx, float *y, float *save_mean, float *save_invstd, float *running_mean,
                             float *running_var, const float *x, const float *gamma, const float *beta,
                             const double *sums, const pb_bn_params *p) {
  pb_bn_fwd_sync_cuda(y, save_mean, save_invstd, running_mean, running_var, x, gamma, beta, sums, p, ctx->cuda);
}
static void cuda_bn_bwd_sums(pb_ctx *ctx, double *sums, const float *dy, const float *x, const float *save_mean,
                             const float *save_invstd, const pb_bn_params *p) {
  pb_bn_bwd_sums_cuda(sums, dy, x, save_mean, save_invstd, p, ctx->cuda);
}
static void cuda_bn_bwd_sync(pb_ctx *ctx, float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                             const float *gamma, const float *save_mean, const float *save_invstd, const double *local,
                             const double *global, const double *fwd, const pb_bn_params *p) {
  pb_bn_bwd_sync_cuda(dx, dgamma, dbeta, dy, x, gamma, save_mean, save_invstd, local, global, fwd, p, ctx->cuda);
}
static void cuda_relu_fwd(pb_ctx *ctx, float *y, const float *x, size_t n) { pb_relu_fwd_cuda(y, x, n, ctx->cuda); }
static void cuda_relu_bwd(pb_ctx *ctx, float *dx, const float *dy, const float *y, size_t n) {
  pb_relu_bwd_cuda(dx, dy, y, n, ctx->cuda);
}
static void cuda_sigmoid_fwd(pb_ctx *ctx, float *y, const float *x, size_t n) {
  pb_sigmoid_fwd_cuda(y, x, n, ctx->cuda);
}
static void cuda_sigmoid_bwd(pb_ctx *ctx, float *dx, const float *dy, const float *y, size_t n) {
  pb_sigmoid_bwd_cuda(dx, dy, y, n, ctx->cuda);
}
static void cuda_maxpool_fwd(pb_ctx *ctx, float *y, int32_t *argmax, const float *x, const pb_pool_params *p) {
  pb_maxpool_fwd_cuda(y, argmax, x, p, ctx->cuda);
}
static void cuda_maxpool_bwd(pb_ctx *ctx, float *dx, const float *dy, const int32_t *argmax, const pb_pool_params *p) {
  pb_maxpool_bwd_cuda(dx, dy, argmax, p, ctx->cuda);
}
static void cuda_avgpool_fwd(pb_ctx *ctx, float *y, const float *x, const pb_pool_params *p) {
  pb_avgpool_fwd_cuda(y, x, p, ctx->cuda);
}
static void cuda_avgpool_bwd(pb_ctx *ctx, float *dx, const float *dy, const pb_pool_params *p) {
  pb_avgpool_bwd_cuda(dx, dy, p, ctx->cuda);
}
static void cuda_gap_fwd(pb_ctx *ctx, float *y, const float *x, int n, int c, int hw) {
  pb_gap_fwd_cuda(y, x, n, c, hw, ctx->cuda);
}
static void cuda_gap_bwd(pb_ctx *ctx, float *dx, const float *dy, int n, int c, int hw) {
  pb_gap_bwd_cuda(dx, dy, n, c, hw, ctx->cuda);
}
static void cuda_gap_nhwc_fwd(pb_ctx *ctx, float *y, const float *x, int n, int c, int hw) {
  pb_gap_nhwc_fwd_cuda(y, x, n, c, hw, ctx->cuda);
}
static void cuda_gap_nhwc_bwd(pb_ctx *ctx, float *dx, const float *dy, int n, int c, int hw) {
  pb_gap_nhwc_bwd_cuda(dx, dy, n, c, hw, ctx->cuda);
}
static void cuda_linear_fwd(pb_ctx *ctx, float *y, const float *x, const float *w, const float *b, int n, int in,
                            int out) {
  pb_linear_fwd_cuda(y, x, w, b, n, in, out, ctx->cuda);
}
static void cuda_linear_bwd(pb_ctx *ctx, float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, int n, int in, int out) {
  pb_linear_bwd_cuda(dx, dw, db, dy, x, w, n, in, out, ctx->cuda);
}
static void cuda_add_fwd(pb_ctx *ctx, float *y, const float *a, const float *b, size_t n) {
  pb_add_fwd_cuda(y, a, b, n, ctx->cuda);
}
static void cuda_accumulate(pb_ctx *ctx, float *y, const float *x, size_t n) { pb_accumulate_cuda(y, x, n, ctx->cuda); }
static void cuda_scale(pb_ctx *ctx, float *x, float s, size_t n) { pb_scale_cuda(x, s, n, ctx->cuda); }
static void cuda_chscale_fwd(pb_ctx *ctx, float *y, const float *x, const float *s, int n, int c, int hw) {
  pb_chscale_fwd_cuda(y, x, s, n, c, hw, ctx->cuda);
}
static void cuda_chscale_add_relu(pb_ctx *ctx, float *y, const float *x, const float *s, const float *r, int n, int c,
                                  int hw) {
  pb_chscale_add_relu_cuda(y, x, s, r, n, c, hw, ctx->cuda);
}
static void cuda_chscale_bwd(pb_ctx *ctx, float *dx, float *ds, const float *dy, const float *x, const float *s, int n,
                             int c, int hw) {
  pb_chscale_bwd_cuda(dx, ds, dy, x, s, n, c, hw, ctx->cuda);
}
static void cuda_chscale_nhwc_fwd(pb_ctx *ctx, float *y, const float *x, const float *s, int n, int c, int hw) {
  pb_chscale_nhwc_fwd_cuda(y, x, s, n, c, hw, ctx->cuda);
}
static void cuda_chscale_add_relu_nhwc(pb_ctx *ctx, float *y, const float *x, const float *s, const float *r, int n,
                                       int c, int hw) {
  pb_chscale_add_relu_nhwc_cuda(y, x, s, r, n, c, hw, ctx->cuda);
}
static void cuda_chscale_nhwc_bwd(pb_ctx *ctx, float *dx, float *ds, const float *dy, const float *x, const float *s,
                                  int n, int c, int hw) {
  pb_chscale_nhwc_bwd_cuda(dx, ds, dy, x, s, n, c, hw, ctx->cuda);
}
static void cuda_to_nhwc(pb_ctx *ctx, float *y, const float *x, int n, int c, int hw) {
  pb_nchw_to_nhwc_cuda(y, x, n, c, hw, ctx->cuda);
}
static void cuda_to_nchw(pb_ctx *ctx, float *y, const float *x, int n, int c, int hw) {
  pb_nhwc_to_nchw_cuda(y, x, n, c, hw, ctx->cuda);
}
static void cuda_add_crop_fwd(pb_ctx *ctx, float *y, const float *a, const float *b, const pb_crop_params *p) {
  pb_add_crop_fwd_cuda(y, a, b, p, ctx->cuda);
}
static void cuda_add_crop_bwd(pb_ctx *ctx, float *db, const float *dy, const pb_crop_params *p) {
  pb_add_crop_bwd_cuda(db, dy, p, ctx->cuda);
}
static void cuda_l2norm_fwd(pb_ctx *ctx, float *y, float *norm, const float *x, int n, int d, float eps) {
  pb_l2norm_fwd_cuda(y, norm, x, n, d, eps, ctx->cuda);
}
static void cuda_l2norm_bwd(pb_ctx *ctx, float *dx, const float *dy, const float *y, const float *norm, int n, int d,
                            float eps) {
  pb_l2norm_bwd_cuda(dx, dy, y, norm, n, d, eps, ctx->cuda);
}
static void cuda_dropout_fwd(pb_ctx *ctx, float *y, uint8_t *mask, const float *x, size_t n, float p, uint64_t seed,
                             uint64_t stream) {
  pb_dropout_fwd_cuda(y, mask, x, n, p, seed, stream, ctx->cuda);
}
static void cuda_dropout_bwd(pb_ctx *ctx, float *dx, const float *dy, const uint8_t *mask, size_t n, float p) {
  pb_dropout_bwd_cuda(dx, dy, mask, n, p, ctx->cuda);
}
static void cuda_softmax_xent(pb_ctx *ctx, float *loss_sum, float *losses, float *dlogits, const float *logits,
                              const int32_t *labels, int n, int k, float smoothing, float grad_scale) {
  pb_softmax_xent_cuda(loss_sum, losses, dlogits, logits, labels, n, k, smoothing, grad_scale, ctx->cuda);
}
static void cuda_bce_logits(pb_ctx *ctx, float *loss_sum, float *dlogits, const float *logits, const float *targets,
                            int n, int k, float grad_scale) {
  pb_bce_logits_cuda(loss_sum, dlogits, logits, targets, n, k, grad_scale, ctx->cuda);
}
static void cuda_softmax_fwd(pb_ctx *ctx, float *p, const float *logits, int n, int k) {
  pb_softmax_fwd_cuda(p, logits, n, k, ctx->cuda);
}
static void cuda_argmax_count(pb_ctx *ctx, int32_t *pred, int *correct, const float *logits, const int32_t *labels,
                              int n, int k) {
  pb_argmax_count_cuda(pred, correct, logits, labels, n, k, ctx->cuda);
}
static void cuda_onehot(pb_ctx *ctx, float *t, const int32_t *labels, int n, int k) {
  pb_onehot_cuda(t, labels, n, k, ctx->cuda);
}
static void cuda_accum_f64(pb_ctx *ctx, double *acc, const float *x) { pb_accum_f64_cuda(acc, x, ctx->cuda); }
static void cuda_multihot(pb_ctx *ctx, float *t, const int32_t *y, int n, int k) {
  pb_multihot_cuda(t, y, n, k, ctx->cuda);
}
static void cuda_inclusive_loss(pb_ctx *ctx, float *loss_sum, int64_t *npos, float *dlogits, const float *logits,
                                const float *targets, int n, int k, float grad_scale) {
  pb_inclusive_loss_cuda(loss_sum, npos, dlogits, logits, targets, n, k, grad_scale, ctx->cuda);
}
static void cuda_rubi_loss(pb_ctx *ctx, float *loss, float *df, float *dh, const float *f, const float *h,
                           const int32_t *labels, int n, int k, float scale, float scale_head) {
  pb_rubi_loss_cuda(loss, df, dh, f, h, labels, n, k, scale, scale_head, ctx->cuda);
}
static void cuda_mixin_loss(pb_ctx *ctx, float *loss, float *df, float *da, const float *f, const float *g,
                            const float *a, const int32_t *labels, int n, int k, float scale, float scale_ent) {
  pb_mixin_loss_cuda(loss, df, da, f, g, a, labels, n, k, scale, scale_ent, ctx->cuda);
}
/* What a reserve found fitting is a floor pb_cuda_workspace_fit keeps. */
static int raise_floor(pb_ctx *ctx, size_t need) {
  if (need > ctx->cuda->workspace_floor) ctx->cuda->workspace_floor = need;
  return PB_OK;
}
static int cuda_graph_begin(pb_ctx *ctx, pb_err *err) { return pb_cuda_graph_begin(ctx->cuda, err); }
static void *cuda_graph_end(pb_ctx *ctx, pb_err *err) { return pb_cuda_graph_end(ctx->cuda, err); }
static void cuda_graph_launch(pb_ctx *ctx, void *graph) { pb_cuda_graph_launch(graph, ctx->cuda); }
static void cuda_graph_free(pb_ctx *ctx, void *graph) {
  (void)ctx;
  pb_cuda_graph_free(graph);
}
static int cuda_workspace_fit(pb_ctx *ctx, size_t *bytes, pb_err *err) {
  return pb_cuda_workspace_fit(ctx->cuda, bytes, err);
}
/* The workspace is fixed at context init ([run] cudnn_workspace_mb): a batch whose HSIC does not
 * fit is a configuration error, reported here when the loss is built, not an abort in a step. */
static int cuda_hsic_reserve(pb_ctx *ctx, const pb_hsic_params *p, pb_err *err) {
  const size_t need = pb_hsic_workspace_cuda(p), have = ctx->cuda->workspace ? ctx->cuda->workspace_bytes : 0;
  if (need <= have) return raise_floor(ctx, need);
  return pb_err_set(err,
                    "the HSIC of a batch of %d (features %d and %d) needs %zu bytes of GPU workspace, %zu are "
                    "set: raise [run] cudnn_workspace_mb to at least %zu, or use a smaller batch",
                    p->n, p->dx, p->dy, need, have, (need + ((size_t)1 << 20) - 1) >> 20);
}
static void cuda_hsic_fwd(pb_ctx *ctx, float *value, const float *x, const float *y, const pb_hsic_params *p) {
  pb_hsic_fwd_cuda(value, x, y, p, ctx->cuda);
}
static void cuda_hsic_bwd(pb_ctx *ctx, float *dx, float *dy, float grad_scale, const float *x, const float *y,
                          const pb_hsic_params *p) {
  pb_hsic_bwd_cuda(dx, dy, grad_scale, x, y, p, ctx->cuda);
}
static void cuda_sqdist(pb_ctx *ctx, float *d, const float *x, int n, int dim) {
  pb_sqdist_cuda(d, x, n, dim, ctx->cuda);
}
/* As the HSIC's: a batch whose triplet loss does not fit the fixed workspace is a configuration
 * error when the loss is built. */
static int cuda_triplet_reserve(pb_ctx *ctx, const pb_triplet_params *p, pb_err *err) {
  const size_t need = pb_triplet_workspace_cuda(p), have = ctx->cuda->workspace ? ctx->cuda->workspace_bytes : 0;
  if (need <= have) return raise_floor(ctx, need);
  return pb_err_set(err,
                    "the triplet loss of a batch of %d needs %zu bytes of GPU workspace, %zu are set: raise [run] "
                    "cudnn_workspace_mb to at least %zu, or use a smaller batch",
                    p->n, need, have, (need + ((size_t)1 << 20) - 1) >> 20);
}
static void cuda_triplet_loss(pb_ctx *ctx, float *loss, int64_t *counts, float *de, const float *e,
                              const int32_t *labels, float grad_scale, const pb_triplet_params *p) {
  pb_triplet_loss_cuda(loss, counts, de, e, labels, grad_scale, p, ctx->cuda);
}
static void cuda_triplet_stats(pb_ctx *ctx, float *out, const float *loss, const int64_t *counts, int rows) {
  pb_triplet_stats_cuda(out, loss, counts, rows, ctx->cuda);
}
static void cuda_sgd_step(pb_ctx *ctx, float *param, float *buf, const float *grad, size_t n, const pb_sgd_params *p,
                          int first_step) {
  pb_sgd_step_cuda(param, buf, grad, n, p, first_step, ctx->cuda);
}
static void cuda_adam_step(pb_ctx *ctx, float *param, float *m, float *v, const float *grad, size_t n,
                           const pb_adam_params *p) {
  pb_adam_step_cuda(param, m, v, grad, n, p, ctx->cuda);
}
static void cuda_sumsq(pb_ctx *ctx, double *sumsq, const float *x, size_t n) { pb_sumsq_cuda(sumsq, x, n, ctx->cuda); }
static void cuda_clip_scale(pb_ctx *ctx, float *x, size_t n, const double *sumsq, double max_norm) {
  pb_clip_scale_cuda(x, n, sumsq, max_norm, ctx->cuda);
}
static int cuda_lstm_reserve(pb_ctx *ctx, const pb_lstm_params *p, size_t *reserve_floats, pb_err *err) {
  const size_t need = pb_lstm_workspace_cuda(p, ctx->cuda), have = ctx->cuda->workspace ? ctx->cuda->workspace_bytes : 0;
  *reserve_floats = (pb_lstm_reserve_cuda(p, ctx->cuda) + sizeof(float) - 1) / sizeof(float);
  if (need <= have) return raise_floor(ctx, need);
  return pb_err_set(err,
                    "the LSTM (T %d, batch %d, input %d, hidden %d, %d layer(s)%s) needs %zu bytes of GPU workspace, "
                    "%zu are set: raise [run] cudnn_workspace_mb to at least %zu, or use a smaller batch",
                    p->seq_len, p->batch, p->input_size, p->hidden_size, p->num_layers,
                    p->bidirectional ? ", bidirectional" : "", need, have, (need + ((size_t)1 << 20) - 1) >> 20);
}
static void cuda_lstm_fwd_train(pb_ctx *ctx, float *y, float *h_n, float *c_n, float *reserve, const float *x,
                                const float *h0, const float *c0, const float *w, const int32_t *lengths_host,
                                uint64_t seed, uint64_t stream, const pb_lstm_params *p) {
  pb_lstm_fwd_train_cuda(y, h_n, c_n, reserve, x, h0, c0, w, lengths_host, seed, stream, p, ctx->cuda);
}
static void cuda_lstm_fwd_eval(pb_ctx *ctx, float *y, float *h_n, float *c_n, const float *x, const float *h0,
                               const float *c0, const float *w, const int32_t *lengths_host,
                               const pb_lstm_params *p) {
  pb_lstm_fwd_eval_cuda(y, h_n, c_n, x, h0, c0, w, lengths_host, p, ctx->cuda);
}
static void cuda_lstm_bwd(pb_ctx *ctx, float *dx, float *dh0, float *dc0, float *dw, const float *dy,
                          const float *dh_n, const float *dc_n, const float *x, const float *h0, const float *c0,
                          const float *w, const float *y, const int32_t *lengths_host, float *reserve,
                          const pb_lstm_params *p) {
  pb_lstm_bwd_cuda(dx, dh0, dc0, dw, dy, dh_n, dc_n, x, h0, c0, w, y, lengths_host, reserve, p, ctx->cuda);
}
static void cuda_seq_swap01(pb_ctx *ctx, float *y, const float *x, int a, int b, int d) {
  pb_seq_swap01_cuda(y, x, a, b, d, ctx->cuda);
}
static void cuda_seq_mean_fwd(pb_ctx *ctx, float *y, const float *x, const int32_t *lengths, int t, int n, int c) {
  pb_seq_mean_fwd_cuda(y, x, lengths, t, n, c, ctx->cuda);
}
static void cuda_seq_mean_bwd(pb_ctx *ctx, float *dx, const float *dy, const int32_t *lengths, int t, int n,
                              int c) {
  pb_seq_mean_bwd_cuda(dx, dy, lengths, t, n, c, ctx->cuda);
}

static void cuda_u8_to_f32_norm(pb_ctx *ctx, float *x, const uint8_t *u8, int n, int c, int hw, const float *mean_host,
                                const float *std_host) {
  pb_u8_to_f32_norm_cuda(x, u8, n, c, hw, mean_host, std_host, ctx->cuda);
}

const pb_backend pb_backend_cuda = {
    .name = "cuda",
    .alloc = cuda_alloc,
    .free = cuda_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .zero = cuda_zero,
    .copy = cuda_copy,
    .sync = cuda_sync,
    .round_lp = cuda_round_lp,
    .host_alloc = cuda_host_alloc,
    .host_free = cuda_host_free,
    .h2d_async = cuda_h2d_async,
    .copy_wait = cuda_copy_wait,
    .stage_begin = cuda_stage_begin,
    .conv2d_fwd = cuda_conv2d_fwd,
    .conv2d_bwd_data = cuda_conv2d_bwd_data,
    .conv2d_bwd_filter = cuda_conv2d_bwd_filter,
    .bn_fwd_train = cuda_bn_fwd_train,
    .bn_fwd_eval = cuda_bn_fwd_eval,
    .bn_eval_fused = cuda_bn_eval_fused,
    .bn_bwd = cuda_bn_bwd,
    .bn_fwd_train_fused = cuda_bn_fwd_train_fused,
    .bn_bwd_fused = cuda_bn_bwd_fused,
    .bn_sums = cuda_bn_sums,
    .bn_fwd_sync = cuda_bn_fwd_sync,
    .bn_bwd_sums = cuda_bn_bwd_sums,
    .bn_bwd_sync = cuda_bn_bwd_sync,
    .relu_fwd = cuda_relu_fwd,
    .relu_bwd = cuda_relu_bwd,
    .sigmoid_fwd = cuda_sigmoid_fwd,
    .sigmoid_bwd = cuda_sigmoid_bwd,
    .maxpool_fwd = cuda_maxpool_fwd,
    .maxpool_bwd = cuda_maxpool_bwd,
    .avgpool_fwd = cuda_avgpool_fwd,
    .avgpool_bwd = cuda_avgpool_bwd,
    .gap_fwd = cuda_gap_fwd,
    .gap_bwd = cuda_gap_bwd,
    .gap_nhwc_fwd = cuda_gap_nhwc_fwd,
    .gap_nhwc_bwd = cuda_gap_nhwc_bwd,
    .linear_fwd = cuda_linear_fwd,
    .linear_bwd = cuda_linear_bwd,
    .add_fwd = cuda_add_fwd,
    .accumulate = cuda_accumulate,
    .scale = cuda_scale,
    .chscale_fwd = cuda_chscale_fwd,
    .chscale_bwd = cuda_chscale_bwd,
    .chscale_add_relu = cuda_chscale_add_relu,
    .chscale_nhwc_fwd = cuda_chscale_nhwc_fwd,
    .chscale_add_relu_nhwc = cuda_chscale_add_relu_nhwc,
    .chscale_nhwc_bwd = cuda_chscale_nhwc_bwd,
    .to_nhwc = cuda_to_nhwc,
    .to_nchw = cuda_to_nchw,
    .add_crop_fwd = cuda_add_crop_fwd,
    .add_crop_bwd = cuda_add_crop_bwd,
    .l2norm_fwd = cuda_l2norm_fwd,
    .l2norm_bwd = cuda_l2norm_bwd,
    .dropout_fwd = cuda_dropout_fwd,
    .dropout_bwd = cuda_dropout_bwd,
    .softmax_xent = cuda_softmax_xent,
    .bce_logits = cuda_bce_logits,
    .softmax_fwd = cuda_softmax_fwd,
    .argmax_count = cuda_argmax_count,
    .onehot = cuda_onehot,
    .accum_f64 = cuda_accum_f64,
    .multihot = cuda_multihot,
    .inclusive_loss = cuda_inclusive_loss,
    .rubi_loss = cuda_rubi_loss,
    .mixin_loss = cuda_mixin_loss,
    .workspace_fit = cuda_workspace_fit,
    .graph_begin = cuda_graph_begin,
    .graph_end = cuda_graph_end,
    .graph_launch = cuda_graph_launch,
    .graph_free = cuda_graph_free,
    .hsic_reserve = cuda_hsic_reserve,
    .hsic_fwd = cuda_hsic_fwd,
    .hsic_bwd = cuda_hsic_bwd,
    .triplet_reserve = cuda_triplet_reserve,
    .triplet_loss = cuda_triplet_loss,
    .triplet_stats = cuda_triplet_stats,
    .sqdist = cuda_sqdist,
    .lstm_reserve = cuda_lstm_reserve,
    .lstm_fwd_train = cuda_lstm_fwd_train,
    .lstm_fwd_eval = cuda_lstm_fwd_eval,
    .lstm_bwd = cuda_lstm_bwd,
    .seq_swap01 = cuda_seq_swap01,
    .seq_mean_fwd = cuda_seq_mean_fwd,
    .seq_mean_bwd = cuda_seq_mean_bwd,
    .sgd_step = cuda_sgd_step,
    .adam_step = cuda_adam_step,
    .sumsq = cuda_sumsq,
    .clip_scale = cuda_clip_scale,
    .u8_to_f32_norm = cuda_u8_to_f32_norm,
};
