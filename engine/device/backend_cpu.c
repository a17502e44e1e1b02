/* backend_cpu.c: pb_backend_cpu, the ops table of a CPU context (engine/device/backend.h): thin adapters
 * to the reference kernels of kernels/cpu/ (kernels/ops.h). Its twin is engine/device/backend_cuda.c.
 *
 * Each adapter calls exactly the kernel the layers called before the table existed, with the
 * same arguments: the scratch {ctx->scratch, ctx->scratch_floats, ctx->nthreads} and
 * ctx->nthreads where the kernel takes them. Results are therefore bitwise those of the direct
 * calls. Memory is host memory (pb_amalloc: 64-byte aligned, zeroed). */
#include <string.h>

#include "engine/device/backend.h"
#include "engine/device/lowp.h"
#include "kernels/half.h"
#include "kernels/ops.h"

static pb_scratch cpu_scratch(const pb_ctx *ctx) {
  pb_scratch s = {ctx->scratch, ctx->scratch_floats, ctx->nthreads};
  return s;
}

/* ------------------------------------------------------------------ memory */

static void *cpu_alloc(pb_ctx *ctx, size_t bytes, const char *what, pb_err *err) {
  (void)ctx, (void)what, (void)err;
  return pb_amalloc(bytes); /* host exhaustion aborts inside (tier 1) */
}
static void cpu_free(pb_ctx *ctx, void *p) {
  (void)ctx;
  pb_afree(p);
}
static void cpu_upload(pb_ctx *ctx, void *dst, const void *host_src, size_t bytes) {
  (void)ctx;
  if (bytes) memcpy(dst, host_src, bytes);
}
static void cpu_download(pb_ctx *ctx, void *host_dst, const void *src, size_t bytes) {
  (void)ctx;
  if (bytes) memcpy(host_dst, src, bytes);
}
static void cpu_zero(pb_ctx *ctx, void *dst, size_t bytes) {
  (void)ctx;
  if (bytes) memset(dst, 0, bytes);
}
static void cpu_copy(pb_ctx *ctx, float *y, const float *x, size_t n) {
  (void)ctx;
  if (n) memcpy(y, x, n * sizeof(float));
}
static void cpu_nothing(pb_ctx *ctx) { (void)ctx; }
static void cpu_round_lp(pb_ctx *ctx, float *x, size_t n, int fmt) {
  if (fmt == PB_PREC_BF16)
    pb_round_bf16_cpu(x, n, ctx->nthreads);
  else
    pb_round_f16_cpu(x, n, ctx->nthreads);
}

/* ------------------------------------------------------------------ staging */

static void *cpu_host_alloc(pb_ctx *ctx, size_t bytes, const char *what, pb_err *err) {
  (void)ctx, (void)what, (void)err;
  return pb_amalloc(bytes);
}
static void cpu_h2d_async(pb_ctx *ctx, void *dst, const void *pinned_src, size_t bytes) {
  (void)ctx;
  if (bytes) memcpy(dst, pinned_src, bytes);
}
static void cpu_stage_begin(pb_ctx *ctx, int slot) { (void)ctx, (void)slot; }

/* ------------------------------------------------------------------ convolution */

static void cpu_conv2d_fwd(pb_ctx *ctx, float *y, const float *x, const float *w, const float *bias,
                           const pb_conv2d_params *p) {
  pb_scratch s = cpu_scratch(ctx);
  pb_conv2d_fwd_cpu(y, x, w, bias, p, &s);
}
static void cpu_conv2d_bwd_data(pb_ctx *ctx, float *dx, const float *dy, const float *w,
                                const pb_conv2d_params *p) {
  pb_scratch s = cpu_scratch(ctx);
  pb_conv2d_bwd_data_cpu(dx, dy, w, p, &s);
}
static void cpu_conv2d_bwd_filter(pb_ctx *ctx, float *dw, float *dbias, const float *dy, const float *x,
                                  const pb_conv2d_params *p) {
  pb_scratch s = cpu_scratch(ctx);
  pb_conv2d_bwd_filter_cpu(dw, dbias, dy, x, p, &s);
}

/* ------------------------------------------------------------------ batch norm */

static void cpu_bn_fwd_train(pb_ctx *ctx, float *y, float *save_mean, float *save_invstd, float *running_mean,
                             float *running_var, const float *x, const float *gamma, const float *beta,
                             const pb_bn_params *p) {
  pb_bn_fwd_train_cpu(y, save_mean, save_invstd, running_mean, running_var, x, gamma, beta, p, ctx->nthreads);
}
static void cpu_bn_fwd_eval(pb_ctx *ctx, float *y, const float *x, const float *gamma, const float *beta,
                            const float *running_mean, const float *running_var, const pb_bn_params *p) {
  pb_bn_fwd_eval_cpu(y, x, gamma, beta, running_mean, running_var, p, ctx->nthreads);
}
static void cpu_bn_eval_fused(pb_ctx *ctx, float *y, const float *x, const float *r, const float *gamma,
                              const float *beta, const float *running_mean, const float *running_var, int relu,
                              const pb_bn_params *p) {
  pb_bn_eval_fused_cpu(y, x, r, gamma, beta, running_mean, running_var, relu, p, ctx->nthreads);
}
static void cpu_bn_bwd(pb_ctx *ctx, float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                       const float *gamma, const float *save_mean, const float *save_invstd, const pb_bn_params *p) {
  pb_bn_bwd_cpu(dx, dgamma, dbeta, dy, x, gamma, save_mean, save_invstd, p, ctx->nthreads);
}
static void cpu_bn_fwd_train_fused(pb_ctx *ctx, float *y, float *save_mean, float *save_invstd, float *running_mean,
                                   float *running_var, const float *x, const float *r, const float *gamma,
                                   const float *beta, int relu, const pb_bn_params *p) {
  pb_bn_fwd_train_fused_cpu(y, save_mean, save_invstd, running_mean, running_var, x, r, gamma, beta, relu, p,
                            ctx->nthreads);
}
static void cpu_bn_bwd_fused(pb_ctx *ctx, float *dx, float *dz, float *dgamma, float *dbeta, const float *dy,
                             const float *y, const float *x, const float *gamma, const float *save_mean,
                             const float *save_invstd, int relu, const pb_bn_params *p) {
  pb_bn_bwd_fused_cpu(dx, dz, dgamma, dbeta, dy, y, x, gamma, save_mean, save_invstd, relu, p, ctx->nthreads);
}
static void cpu_bn_sums(pb_ctx *ctx, double *sums, const float *x, const pb_bn_params *p) {
  pb_bn_sums_cpu(sums, x, p, ctx->nthreads);
}
static void cpu_bn_fwd_sync(pb_ctx *ctx, float *y, float *save_mean, float *save_invstd, float *running_mean,
                             float *running_var, const float *x, const float *gamma, const float *beta,
                             const double *sums, const pb_bn_params *p) {
  pb_bn_fwd_sync_cpu(y, save_mean, save_invstd, running_mean, running_var, x, gamma, beta, sums, p, ctx->nthreads);
}
static void cpu_bn_bwd_sums(pb_ctx *ctx, double *sums, const float *dy, const float *x, const float *save_mean,
                             const float *save_invstd, const pb_bn_params *p) {
  pb_bn_bwd_sums_cpu(sums, dy, x, save_mean, save_invstd, p, ctx->nthreads);
}
static void cpu_bn_bwd_sync(pb_ctx *ctx, float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                             const float *gamma, const float *save_mean, const float *save_invstd, const double *local,
                             const double *global, const double *fwd, const pb_bn_params *p) {
  pb_bn_bwd_sync_cpu(dx, dgamma, dbeta, dy, x, gamma, save_mean, save_invstd, local, global, fwd, p, ctx->nthreads);
}

/* ------------------------------------------------------------------ activations */

static void cpu_relu_fwd(pb_ctx *ctx, float *y, const float *x, size_t n) {
  (void)ctx;
  pb_relu_fwd_cpu(y, x, n);
}
static void cpu_relu_bwd(pb_ctx *ctx, float *dx, const float *dy, const float *y, size_t n) {
  (void)ctx;
  pb_relu_bwd_cpu(dx, dy, y, n);
}
static void cpu_sigmoid_fwd(pb_ctx *ctx, float *y, const float *x, size_t n) {
  (void)ctx;
  pb_sigmoid_fwd_cpu(y, x, n);
}
static void cpu_sigmoid_bwd(pb_ctx *ctx, float *dx, const float *dy, const float *y, size_t n) {
  (void)ctx;
  pb_sigmoid_bwd_cpu(dx, dy, y, n);
}

/* ------------------------------------------------------------------ pooling */

static void cpu_maxpool_fwd(pb_ctx *ctx, float *y, int32_t *argmax, const float *x, const pb_pool_params *p) {
  (void)ctx;
  pb_maxpool_fwd_cpu(y, argmax, x, p);
}
static void cpu_maxpool_bwd(pb_ctx *ctx, float *dx, const float *dy, const int32_t *argmax,
                            const pb_pool_params *p) {
  (void)ctx;
  pb_maxpool_bwd_cpu(dx, dy, argmax, p);
}
static void cpu_avgpool_fwd(pb_ctx *ctx, float *y, const float *x, const pb_pool_params *p) {
  (void)ctx;
  pb_avgpool_fwd_cpu(y, x, p);
}
static void cpu_avgpool_bwd(pb_ctx *ctx, float *dx, const float *dy, const pb_pool_params *p) {
  (void)ctx;
  pb_avgpool_bwd_cpu(dx, dy, p);
}
static void cpu_gap_fwd(pb_ctx *ctx, float *y, const float *x, int n, int c, int hw) {
  (void)ctx;
  pb_gap_fwd_cpu(y, x, n, c, hw);
}
static void cpu_gap_bwd(pb_ctx *ctx, float *dx, const float *dy, int n, int c, int hw) {
  (void)ctx;
  pb_gap_bwd_cpu(dx, dy, n, c, hw);
}
static void cpu_gap_nhwc_fwd(pb_ctx *ctx, float *y, const float *x, int n, int c, int hw) {
  (void)ctx;
  pb_gap_nhwc_fwd_cpu(y, x, n, c, hw);
}
static void cpu_gap_nhwc_bwd(pb_ctx *ctx, float *dx, const float *dy, int n, int c, int hw) {
  (void)ctx;
  pb_gap_nhwc_bwd_cpu(dx, dy, n, c, hw);
}

/* ------------------------------------------------------------------ linear */

static void cpu_linear_fwd(pb_ctx *ctx, float *y, const float *x, const float *w, const float *b, int n, int in,
                           int out) {
  pb_linear_fwd_cpu(y, x, w, b, n, in, out, ctx->nthreads);
}
static void cpu_linear_bwd(pb_ctx *ctx, float *dx, float *dw, float *db, const float *dy, const float *x,
                           const float *w, int n, int in, int out) {
  pb_linear_bwd_cpu(dx, dw, db, dy, x, w, n, in, out, ctx->nthreads);
}

/* ------------------------------------------------------------------ elementwise, channel scale */

static void cpu_add_fwd(pb_ctx *ctx, float *y, const float *a, const float *b, size_t n) {
  (void)ctx;
  pb_add_fwd_cpu(y, a, b, n);
}
static void cpu_accumulate(pb_ctx *ctx, float *y, const float *x, size_t n) {
  (void)ctx;
  pb_accumulate_cpu(y, x, n);
}
static void cpu_scale(pb_ctx *ctx, float *x, float s, size_t n) {
  (void)ctx;
  pb_scale_cpu(x, s, n);
}
static void cpu_chscale_fwd(pb_ctx *ctx, float *y, const float *x, const float *s, int n, int c, int hw) {
  (void)ctx;
  pb_chscale_fwd_cpu(y, x, s, n, c, hw);
}
static void cpu_chscale_add_relu(pb_ctx *ctx, float *y, const float *x, const float *s, const float *r, int n, int c,
                                 int hw) {
  (void)ctx;
  pb_chscale_add_relu_cpu(y, x, s, r, n, c, hw);
}
static void cpu_chscale_bwd(pb_ctx *ctx, float *dx, float *ds, const float *dy, const float *x, const float *s,
                            int n, int c, int hw) {
  (void)ctx;
  pb_chscale_bwd_cpu(dx, ds, dy, x, s, n, c, hw);
}
static void cpu_chscale_nhwc_fwd(pb_ctx *ctx, float *y, const float *x, const float *s, int n, int c, int hw) {
  (void)ctx;
  pb_chscale_nhwc_fwd_cpu(y, x, s, n, c, hw);
}
static void cpu_chscale_add_relu_nhwc(pb_ctx *ctx, float *y, const float *x, const float *s, const float *r, int n,
                                      int c, int hw) {
  (void)ctx;
  pb_chscale_add_relu_nhwc_cpu(y, x, s, r, n, c, hw);
}
static void cpu_chscale_nhwc_bwd(pb_ctx *ctx, float *dx, float *ds, const float *dy, const float *x, const float *s,
                                 int n, int c, int hw) {
  (void)ctx;
  pb_chscale_nhwc_bwd_cpu(dx, ds, dy, x, s, n, c, hw);
}

/* ------------------------------------------------------------------ layout */

static void cpu_to_nhwc(pb_ctx *ctx, float *y, const float *x, int n, int c, int hw) {
  (void)ctx;
  pb_nchw_to_nhwc_cpu(y, x, n, c, hw);
}
static void cpu_to_nchw(pb_ctx *ctx, float *y, const float *x, int n, int c, int hw) {
  (void)ctx;
  pb_nhwc_to_nchw_cpu(y, x, n, c, hw);
}

/* ------------------------------------------------------------------ crop add (BagNet residual) */

static void cpu_add_crop_fwd(pb_ctx *ctx, float *y, const float *a, const float *b, const pb_crop_params *p) {
  (void)ctx;
  pb_add_crop_fwd_cpu(y, a, b, p);
}
static void cpu_add_crop_bwd(pb_ctx *ctx, float *db, const float *dy, const pb_crop_params *p) {
  (void)ctx;
  pb_add_crop_bwd_cpu(db, dy, p);
}

/* ------------------------------------------------------------------ L2 normalisation, dropout */

static void cpu_l2norm_fwd(pb_ctx *ctx, float *y, float *norm, const float *x, int n, int d, float eps) {
  (void)ctx;
  pb_l2norm_fwd_cpu(y, norm, x, n, d, eps);
}
static void cpu_l2norm_bwd(pb_ctx *ctx, float *dx, const float *dy, const float *y, const float *norm, int n,
                           int d, float eps) {
  (void)ctx;
  pb_l2norm_bwd_cpu(dx, dy, y, norm, n, d, eps);
}
static void cpu_dropout_fwd(pb_ctx *ctx, float *y, uint8_t *mask, const float *x, size_t n, float p,
                            uint64_t seed, uint64_t stream) {
  (void)ctx;
  pb_dropout_fwd_cpu(y, mask, x, n, p, seed, stream);
}
static void cpu_dropout_bwd(pb_ctx *ctx, float *dx, const float *dy, const uint8_t *mask, size_t n, float p) {
  (void)ctx;
  pb_dropout_bwd_cpu(dx, dy, mask, n, p);
}

/* ------------------------------------------------------------------ losses and metrics */

static void cpu_softmax_xent(pb_ctx *ctx, float *loss_sum, float *losses, float *dlogits, const float *logits,
                             const int32_t *labels, int n, int k, float smoothing, float grad_scale) {
  (void)ctx;
  pb_softmax_xent_cpu(loss_sum, losses, dlogits, logits, labels, n, k, smoothing, grad_scale);
}
static void cpu_bce_logits(pb_ctx *ctx, float *loss_sum, float *dlogits, const float *logits,
                           const float *targets, int n, int k, float grad_scale) {
  (void)ctx;
  pb_bce_logits_cpu(loss_sum, dlogits, logits, targets, n, k, grad_scale);
}
static void cpu_softmax_fwd(pb_ctx *ctx, float *p, const float *logits, int n, int k) {
  (void)ctx;
  pb_softmax_fwd_cpu(p, logits, n, k);
}
static void cpu_argmax_count(pb_ctx *ctx, int32_t *pred, int *correct, const float *logits, const int32_t *labels,
                             int n, int k) {
  (void)ctx;
  pb_argmax_count_cpu(pred, correct, logits, labels, n, k);
}
static void cpu_onehot(pb_ctx *ctx, float *t, const int32_t *labels, int n, int k) {
  (void)ctx;
  pb_onehot_cpu(t, labels, n, k);
}
static void cpu_accum_f64(pb_ctx *ctx, double *acc, const float *x) {
  (void)ctx;
  pb_accum_f64_cpu(acc, x);
}
static void cpu_multihot(pb_ctx *ctx, float *t, const int32_t *y, int n, int k) {
  (void)ctx;
  pb_multihot_cpu(t, y, n, k);
}
static void cpu_inclusive_loss(pb_ctx *ctx, float *loss_sum, int64_t *npos, float *dlogits, const float *logits,
                               const float *targets, int n, int k, float grad_scale) {
  (void)ctx;
  pb_inclusive_loss_cpu(loss_sum, npos, dlogits, logits, targets, n, k, grad_scale);
}

/* ------------------------------------------------------------------ debiasing losses */

static void cpu_rubi_loss(pb_ctx *ctx, float *loss, float *df, float *dh, const float *f, const float *h,
                          const int32_t *labels, int n, int k, float scale, float scale_head) {
  (void)ctx;
  pb_rubi_loss_cpu(loss, df, dh, f, h, labels, n, k, scale, scale_head);
}
static void cpu_mixin_loss(pb_ctx *ctx, float *loss, float *df, float *da, const float *f, const float *g,
                           const float *a, const int32_t *labels, int n, int k, float scale, float scale_ent) {
  (void)ctx;
  pb_mixin_loss_cpu(loss, df, da, f, g, a, labels, n, k, scale, scale_ent);
}

/* ------------------------------------------------------------------ HSIC */

static int cpu_workspace_fit(pb_ctx *ctx, size_t *bytes, pb_err *err) {
  (void)ctx, (void)err;
  if (bytes) *bytes = 0;
  return PB_OK;
}
static int cpu_graph_begin(pb_ctx *ctx, pb_err *err) {
  (void)ctx;
  return pb_err_set(err, "no graphs on the CPU");
}
static void *cpu_graph_end(pb_ctx *ctx, pb_err *err) {
  (void)ctx;
  pb_err_set(err, "no graphs on the CPU");
  return NULL;
}
static void cpu_graph_launch(pb_ctx *ctx, void *graph) {
  (void)ctx, (void)graph;
  PB_FATAL("a CPU context has no graphs to launch");
}
static void cpu_graph_free(pb_ctx *ctx, void *graph) { (void)ctx, (void)graph; }
static int cpu_hsic_reserve(pb_ctx *ctx, const pb_hsic_params *p, pb_err *err) {
  (void)err;
  pb_ctx_reserve_scratch(ctx, pb_hsic_scratch_cpu(p));
  return PB_OK;
}
static void cpu_hsic_fwd(pb_ctx *ctx, float *value, const float *x, const float *y, const pb_hsic_params *p) {
  pb_scratch s = cpu_scratch(ctx);
  pb_hsic_fwd_cpu(value, x, y, p, &s);
}
static void cpu_hsic_bwd(pb_ctx *ctx, float *dx, float *dy, float grad_scale, const float *x, const float *y,
                         const pb_hsic_params *p) {
  pb_scratch s = cpu_scratch(ctx);
  pb_hsic_bwd_cpu(dx, dy, grad_scale, x, y, p, &s);
}
static void cpu_sqdist(pb_ctx *ctx, float *d, const float *x, int n, int dim) {
  (void)ctx;
  pb_sqdist_cpu(d, x, n, dim);
}

/* ------------------------------------------------------------------ triplet loss */

static int cpu_triplet_reserve(pb_ctx *ctx, const pb_triplet_params *p, pb_err *err) {
  (void)err;
  pb_ctx_reserve_scratch(ctx, pb_triplet_scratch_cpu(p));
  return PB_OK;
}
static void cpu_triplet_loss(pb_ctx *ctx, float *loss, int64_t *counts, float *de, const float *e,
                             const int32_t *labels, float grad_scale, const pb_triplet_params *p) {
  pb_scratch s = cpu_scratch(ctx);
  pb_triplet_loss_cpu(loss, counts, de, e, labels, grad_scale, p, &s);
}
static void cpu_triplet_stats(pb_ctx *ctx, float *out, const float *loss, const int64_t *counts, int rows) {
  (void)ctx;
  pb_triplet_stats_cpu(out, loss, counts, rows);
}

/* ------------------------------------------------------------------ optimizers, data */

static void cpu_sgd_step(pb_ctx *ctx, float *param, float *buf, const float *grad, size_t n,
                         const pb_sgd_params *p, int first_step) {
  (void)ctx;
  pb_sgd_step_cpu(param, buf, grad, n, p, first_step);
}
static void cpu_adam_step(pb_ctx *ctx, float *param, float *m, float *v, const float *grad, size_t n,
                          const pb_adam_params *p) {
  (void)ctx;
  pb_adam_step_cpu(param, m, v, grad, n, p);
}
static void cpu_sumsq(pb_ctx *ctx, double *sumsq, const float *x, size_t n) {
  (void)ctx;
  sumsq[0] = pb_sumsq_cpu(x, n);
}
static void cpu_clip_scale(pb_ctx *ctx, float *x, size_t n, const double *sumsq, double max_norm) {
  (void)ctx;
  pb_clip_scale_cpu(x, n, sumsq, max_norm);
}
/* ------------------------------------------------------------------ LSTM and sequences */

static int cpu_lstm_reserve(pb_ctx *ctx, const pb_lstm_params *p, size_t *reserve_floats, pb_err *err) {
  (void)err;
  pb_ctx_reserve_scratch(ctx, pb_lstm_scratch_cpu(p));
  *reserve_floats = pb_lstm_reserve_cpu(p);
  return PB_OK;
}
static void cpu_lstm_fwd_train(pb_ctx *ctx, float *y, float *h_n, float *c_n, float *reserve, const float *x,
                               const float *h0, const float *c0, const float *w, const int32_t *lengths_host,
                               uint64_t seed, uint64_t stream, const pb_lstm_params *p) {
  pb_scratch s = {ctx->scratch, ctx->scratch_floats, ctx->nthreads};
  pb_lstm_fwd_train_cpu(y, h_n, c_n, reserve, x, h0, c0, w, lengths_host, seed, stream, p, &s);
}
static void cpu_lstm_fwd_eval(pb_ctx *ctx, float *y, float *h_n, float *c_n, const float *x, const float *h0,
                              const float *c0, const float *w, const int32_t *lengths_host, const pb_lstm_params *p) {
  pb_scratch s = {ctx->scratch, ctx->scratch_floats, ctx->nthreads};
  pb_lstm_fwd_eval_cpu(y, h_n, c_n, x, h0, c0, w, lengths_host, p, &s);
}
static void cpu_lstm_bwd(pb_ctx *ctx, float *dx, float *dh0, float *dc0, float *dw, const float *dy,
                         const float *dh_n, const float *dc_n, const float *x, const float *h0, const float *c0,
                         const float *w, const float *y, const int32_t *lengths_host, float *reserve,
                         const pb_lstm_params *p) {
  pb_scratch s = {ctx->scratch, ctx->scratch_floats, ctx->nthreads};
  pb_lstm_bwd_cpu(dx, dh0, dc0, dw, dy, dh_n, dc_n, x, h0, c0, w, y, lengths_host, reserve, p, &s);
}
static void cpu_seq_swap01(pb_ctx *ctx, float *y, const float *x, int a, int b, int d) {
  pb_seq_swap01_cpu(y, x, a, b, d, ctx->nthreads);
}
static void cpu_seq_mean_fwd(pb_ctx *ctx, float *y, const float *x, const int32_t *lengths, int t, int n, int c) {
  pb_seq_mean_fwd_cpu(y, x, lengths, t, n, c, ctx->nthreads);
}
static void cpu_seq_mean_bwd(pb_ctx *ctx, float *dx, const float *dy, const int32_t *lengths, int t, int n,
                             int c) {
  pb_seq_mean_bwd_cpu(dx, dy, lengths, t, n, c, ctx->nthreads);
}

static void cpu_u8_to_f32_norm(pb_ctx *ctx, float *x, const uint8_t *u8, int n, int c, int hw,
                               const float *mean_host, const float *std_host) {
  (void)ctx;
  pb_u8_to_f32_norm_cpu(x, u8, n, c, hw, mean_host, std_host);
}

const pb_backend pb_backend_cpu = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .zero = cpu_zero,
    .copy = cpu_copy,
    .sync = cpu_nothing,
    .round_lp = cpu_round_lp,
    .host_alloc = cpu_host_alloc,
    .host_free = cpu_free,
    .h2d_async = cpu_h2d_async,
    .copy_wait = cpu_nothing,
    .stage_begin = cpu_stage_begin,
    .conv2d_fwd = cpu_conv2d_fwd,
    .conv2d_bwd_data = cpu_conv2d_bwd_data,
    .conv2d_bwd_filter = cpu_conv2d_bwd_filter,
    .bn_fwd_train = cpu_bn_fwd_train,
    .bn_fwd_eval = cpu_bn_fwd_eval,
    .bn_eval_fused = cpu_bn_eval_fused,
    .bn_bwd = cpu_bn_bwd,
    .bn_fwd_train_fused = cpu_bn_fwd_train_fused,
    .bn_bwd_fused = cpu_bn_bwd_fused,
    .bn_sums = cpu_bn_sums,
    .bn_fwd_sync = cpu_bn_fwd_sync,
    .bn_bwd_sums = cpu_bn_bwd_sums,
    .bn_bwd_sync = cpu_bn_bwd_sync,
    .relu_fwd = cpu_relu_fwd,
    .relu_bwd = cpu_relu_bwd,
    .sigmoid_fwd = cpu_sigmoid_fwd,
    .sigmoid_bwd = cpu_sigmoid_bwd,
    .maxpool_fwd = cpu_maxpool_fwd,
    .maxpool_bwd = cpu_maxpool_bwd,
    .avgpool_fwd = cpu_avgpool_fwd,
    .avgpool_bwd = cpu_avgpool_bwd,
    .gap_fwd = cpu_gap_fwd,
    .gap_bwd = cpu_gap_bwd,
    .linear_fwd = cpu_linear_fwd,
    .linear_bwd = cpu_linear_bwd,
    .add_fwd = cpu_add_fwd,
    .accumulate = cpu_accumulate,
    .scale = cpu_scale,
    .chscale_fwd = cpu_chscale_fwd,
    .chscale_bwd = cpu_chscale_bwd,
    .chscale_add_relu = cpu_chscale_add_relu,
    .gap_nhwc_fwd = cpu_gap_nhwc_fwd,
    .gap_nhwc_bwd = cpu_gap_nhwc_bwd,
    .chscale_nhwc_fwd = cpu_chscale_nhwc_fwd,
    .chscale_add_relu_nhwc = cpu_chscale_add_relu_nhwc,
    .chscale_nhwc_bwd = cpu_chscale_nhwc_bwd,
    .to_nhwc = cpu_to_nhwc,
    .to_nchw = cpu_to_nchw,
    .add_crop_fwd = cpu_add_crop_fwd,
    .add_crop_bwd = cpu_add_crop_bwd,
    .l2norm_fwd = cpu_l2norm_fwd,
    .l2norm_bwd = cpu_l2norm_bwd,
    .dropout_fwd = cpu_dropout_fwd,
    .dropout_bwd = cpu_dropout_bwd,
    .softmax_xent = cpu_softmax_xent,
    .bce_logits = cpu_bce_logits,
    .softmax_fwd = cpu_softmax_fwd,
    .argmax_count = cpu_argmax_count,
    .onehot = cpu_onehot,
    .accum_f64 = cpu_accum_f64,
    .multihot = cpu_multihot,
    .inclusive_loss = cpu_inclusive_loss,
    .rubi_loss = cpu_rubi_loss,
    .mixin_loss = cpu_mixin_loss,
    .hsic_reserve = cpu_hsic_reserve,
    .workspace_fit = cpu_workspace_fit,
    .graph_begin = cpu_graph_begin,
    .graph_end = cpu_graph_end,
    .graph_launch = cpu_graph_launch,
    .graph_free = cpu_graph_free,
    .hsic_fwd = cpu_hsic_fwd,
    .hsic_bwd = cpu_hsic_bwd,
    .triplet_reserve = cpu_triplet_reserve,
    .triplet_loss = cpu_triplet_loss,
    .triplet_stats = cpu_triplet_stats,
    .sqdist = cpu_sqdist,
    .lstm_reserve = cpu_lstm_reserve,
    .lstm_fwd_train = cpu_lstm_fwd_train,
    .lstm_fwd_eval = cpu_lstm_fwd_eval,
    .lstm_bwd = cpu_lstm_bwd,
    .seq_swap01 = cpu_seq_swap01,
    .seq_mean_fwd = cpu_seq_mean_fwd,
    .seq_mean_bwd = cpu_seq_mean_bwd,
    .sgd_step = cpu_sgd_step,
    .adam_step = cpu_adam_step,
    .sumsq = cpu_sumsq,
    .clip_scale = cpu_clip_scale,
    .u8_to_f32_norm = cpu_u8_to_f32_norm,
};
