/* backend.h: the ops table (pb_backend), plumb's one device dispatch point, in the manner of
 * ggml's backend interface. The context chooses a table once (pb_ctx_init*: ctx->ops) and
 * layers, models, optimizers and checkpoints call through it, never naming a device:
 *
 *     ctx->ops->relu_fwd(ctx, y, x, n);
 *
 * Implementations: engine/device/backend_cpu.c (pb_backend_cpu, adapters to kernels/cpu/) and its twin
 * engine/device/backend_cuda.c (pb_backend_cuda, adapters to kernels/cuda/ with ctx->cuda; a CPU-only
 * build links kernels/cuda/stubs.c underneath, and the context never selects that table there).
 *
 * Contract of every entry: ctx first, then the arguments of the CPU twin in kernels/ops.h
 * (shapes, accumulation rules and NULL-able pointers as documented there) minus the CPU-only
 * ones: the pb_scratch {ctx->scratch, ctx->scratch_floats, ctx->nthreads} and nthreads come
 * from ctx. Every pointer is in the context's memory (host on the CPU, device on a GPU) unless
 * its name says host. On a GPU, work is enqueued on the context's stream and the host does not
 * wait, except in download and sync; scalars an op produces (loss sums, norms, counts) are
 * written to the context's memory, so read them with download. Ops never fail: a device failure
 * aborts (tier 1); only alloc and host_alloc report out-of-memory (tier 2). */
#ifndef PB_BACKEND_H
#define PB_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "engine/device/ctx.h"
#include "kernels/ops.h"
#include "kernels/pb_common.h"

typedef struct pb_backend {
  const char *name; /* "cpu", "cuda" */

  /* ---------------------------------------------------------------- memory */
  /* bytes of the context's memory, zeroed (host: 64-byte aligned). Out of memory: NULL, err
   * naming what, the bytes asked and free. */
  void *(*alloc)(pb_ctx *ctx, size_t bytes, const char *what, pb_err *err);
  void (*free)(pb_ctx *ctx, void *p); /* NULL-safe */
  /* host -> context memory; ordered before later ops. 0 bytes: nothing. */
  void (*upload)(pb_ctx *ctx, void *dst, const void *host_src, size_t bytes);
  /* context memory -> host; returns when the copy (and the work before it) is done. */
  void (*download)(pb_ctx *ctx, void *host_dst, const void *src, size_t bytes);
  void (*zero)(pb_ctx *ctx, void *dst, size_t bytes);
  /* y[n] = x[n] (floats, both in the context's memory, not overlapping). On a GPU it is
   * 0 + x: a -0.0 comes out +0.0 (what the dropout layer always did there). */
  void (*copy)(pb_ctx *ctx, float *y, const float *x, size_t n);
  /* waits for everything enqueued so far (CPU: nothing to wait for). */
  void (*sync)(pb_ctx *ctx);
  /* x[n] rounded in place to fmt (PB_PREC_BF16 / PB_PREC_FP16 of engine/device/lowp.h): round to
   * nearest even, as kernels/half.h; the rounding table of [run] precision calls it. */
  void (*round_lp)(pb_ctx *ctx, float *x, size_t n, int fmt);

  /* ---------------------------------------------------------------- staging of input batches */
  /* Host memory the loader fills and h2d_async reads: pinned on a GPU, pb_amalloc on the CPU
   * (zeroed there). Out of memory: NULL with err (a GPU's pinned memory). */
  void *(*host_alloc)(pb_ctx *ctx, size_t bytes, const char *what, pb_err *err);
  void (*host_free)(pb_ctx *ctx, void *p); /* NULL-safe */
  /* pinned host -> context memory, overlapping the compute already enqueued (GPU: the copy
   * stream; later ops wait for it). CPU: memcpy. */
  void (*h2d_async)(pb_ctx *ctx, void *dst, const void *pinned_src, size_t bytes);
  /* waits until every h2d_async source has been read (then it may be refilled). CPU: nothing. */
  void (*copy_wait)(pb_ctx *ctx);
  /* before filling staging slot 0/1 for the next batch (ops_cuda.h, pb_cuda_stage_begin).
   * CPU: nothing. */
  void (*stage_begin)(pb_ctx *ctx, int slot);

  /* ---------------------------------------------------------------- convolution */
  void (*conv2d_fwd)(pb_ctx *ctx, float *y, const float *x, const float *w, const float *bias,
                     const pb_conv2d_params *p);
  void (*conv2d_bwd_data)(pb_ctx *ctx, float *dx, const float *dy, const float *w, const pb_conv2d_params *p);
  void (*conv2d_bwd_filter)(pb_ctx *ctx, float *dw, float *dbias, const float *dy, const float *x,
                            const pb_conv2d_params *p);

  /* ---------------------------------------------------------------- batch norm */
  void (*bn_fwd_train)(pb_ctx *ctx, float *y, float *save_mean, float *save_invstd, float *running_mean,
                       float *running_var, const float *x, const float *gamma, const float *beta,
                       const pb_bn_params *p);
  void (*bn_fwd_eval)(pb_ctx *ctx, float *y, const float *x, const float *gamma, const float *beta,
                      const float *running_mean, const float *running_var, const pb_bn_params *p);
  /* inference's batch norm [+ residual r] [+ ReLU] in one pass (ops.h pb_bn_eval_fused_cpu); y may
   * be x or r. Equal to bn_fwd_eval, accumulate, relu_fwd on the CPU bit for bit; on a GPU the
   * own kernel is the CPU's bit for bit (cuDNN's bn_fwd_eval is not). */
  void (*bn_eval_fused)(pb_ctx *ctx, float *y, const float *x, const float *r, const float *gamma, const float *beta,
                        const float *running_mean, const float *running_var, int relu, const pb_bn_params *p);
  void (*bn_bwd)(pb_ctx *ctx, float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                 const float *gamma, const float *save_mean, const float *save_invstd, const pb_bn_params *p);
  /* training batch norm [+ residual r] [+ ReLU] and its backward (ops.h pb_bn_fwd_train_fused_cpu,
   * pb_bn_bwd_fused_cpu; [run] fused_bn_train): the CPU is the unfused chain bit for bit; a GPU runs
   * plumb's own kernels (the statistics in double, as sync batch norm's), within rounding of it. */
  void (*bn_fwd_train_fused)(pb_ctx *ctx, float *y, float *save_mean, float *save_invstd, float *running_mean,
                             float *running_var, const float *x, const float *r, const float *gamma,
                             const float *beta, int relu, const pb_bn_params *p);
  void (*bn_bwd_fused)(pb_ctx *ctx, float *dx, float *dz, float *dgamma, float *dbeta, const float *dy, const float *y,
                       const float *x, const float *gamma, const float *save_mean, const float *save_invstd, int relu,
                       const pb_bn_params *p);
  /* synchronised batch norm ([dist] sync_bn; kernels/ops.h pb_bn_*sync*): sums double on the device */
  void (*bn_sums)(pb_ctx *ctx, double *sums, const float *x, const pb_bn_params *p);
  void (*bn_fwd_sync)(pb_ctx *ctx, float *y, float *save_mean, float *save_invstd, float *running_mean,
                      float *running_var, const float *x, const float *gamma, const float *beta, const double *sums,
                      const pb_bn_params *p);
  void (*bn_bwd_sums)(pb_ctx *ctx, double *sums, const float *dy, const float *x, const float *save_mean,
                      const float *save_invstd, const pb_bn_params *p);
  void (*bn_bwd_sync)(pb_ctx *ctx, float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                      const float *gamma, const float *save_mean, const float *save_invstd, const double *local,
                      const double *global, const double *fwd, const pb_bn_params *p);

  /* ---------------------------------------------------------------- activations */
  void (*relu_fwd)(pb_ctx *ctx, float *y, const float *x, size_t n);
  void (*relu_bwd)(pb_ctx *ctx, float *dx, const float *dy, const float *y, size_t n);
  void (*sigmoid_fwd)(pb_ctx *ctx, float *y, const float *x, size_t n);
  void (*sigmoid_bwd)(pb_ctx *ctx, float *dx, const float *dy, const float *y, size_t n);

  /* ---------------------------------------------------------------- pooling */
  void (*maxpool_fwd)(pb_ctx *ctx, float *y, int32_t *argmax, const float *x, const pb_pool_params *p);
  void (*maxpool_bwd)(pb_ctx *ctx, float *dx, const float *dy, const int32_t *argmax, const pb_pool_params *p);
  void (*avgpool_fwd)(pb_ctx *ctx, float *y, const float *x, const pb_pool_params *p);
  void (*avgpool_bwd)(pb_ctx *ctx, float *dx, const float *dy, const pb_pool_params *p);
  void (*gap_fwd)(pb_ctx *ctx, float *y, const float *x, int n, int c, int hw);
  void (*gap_bwd)(pb_ctx *ctx, float *dx, const float *dy, int n, int c, int hw);
  /* channels last ([run] layout = nhwc): x, dx [n, hw, c] */
  void (*gap_nhwc_fwd)(pb_ctx *ctx, float *y, const float *x, int n, int c, int hw);
  void (*gap_nhwc_bwd)(pb_ctx *ctx, float *dx, const float *dy, int n, int c, int hw);

  /* ---------------------------------------------------------------- linear */
  void (*linear_fwd)(pb_ctx *ctx, float *y, const float *x, const float *w, const float *b, int n, int in,
                     int out);
  void (*linear_bwd)(pb_ctx *ctx, float *dx, float *dw, float *db, const float *dy, const float *x,
                     const float *w, int n, int in, int out);

  /* ---------------------------------------------------------------- elementwise, channel scale */
  void (*add_fwd)(pb_ctx *ctx, float *y, const float *a, const float *b, size_t n);
  void (*accumulate)(pb_ctx *ctx, float *y, const float *x, size_t n); /* y += x */
  void (*scale)(pb_ctx *ctx, float *x, float s, size_t n);             /* x *= s */
  void (*chscale_fwd)(pb_ctx *ctx, float *y, const float *x, const float *s, int n, int c, int hw);
  /* y = relu(x * s + r) (ops.h pb_chscale_add_relu_cpu): an SE block's scale, residual add and
   * ReLU in one pass; y may alias x or r. */
  void (*chscale_add_relu)(pb_ctx *ctx, float *y, const float *x, const float *s, const float *r, int n, int c,
                           int hw);
  void (*chscale_bwd)(pb_ctx *ctx, float *dx, float *ds, const float *dy, const float *x, const float *s, int n,
                      int c, int hw);
  /* the three channels last: x, y, r, dy, dx [n, hw, c] */
  void (*chscale_nhwc_fwd)(pb_ctx *ctx, float *y, const float *x, const float *s, int n, int c, int hw);
  void (*chscale_add_relu_nhwc)(pb_ctx *ctx, float *y, const float *x, const float *s, const float *r, int n, int c,
                                int hw);
  void (*chscale_nhwc_bwd)(pb_ctx *ctx, float *dx, float *ds, const float *dy, const float *x, const float *s, int n,
                           int c, int hw);

  /* ---------------------------------------------------------------- layout (ops.h "layout") */
  void (*to_nhwc)(pb_ctx *ctx, float *y, const float *x, int n, int c, int hw); /* [n,c,hw] -> [n,hw,c] */
  void (*to_nchw)(pb_ctx *ctx, float *y, const float *x, int n, int c, int hw); /* [n,hw,c] -> [n,c,hw] */

  /* ---------------------------------------------------------------- crop add (BagNet residual) */
  void (*add_crop_fwd)(pb_ctx *ctx, float *y, const float *a, const float *b, const pb_crop_params *p);
  void (*add_crop_bwd)(pb_ctx *ctx, float *db, const float *dy, const pb_crop_params *p);

  /* ---------------------------------------------------------------- L2 normalisation */
  void (*l2norm_fwd)(pb_ctx *ctx, float *y, float *norm, const float *x, int n, int d, float eps);
  void (*l2norm_bwd)(pb_ctx *ctx, float *dx, const float *dy, const float *y, const float *norm, int n, int d,
                     float eps);

  /* ---------------------------------------------------------------- dropout */
  void (*dropout_fwd)(pb_ctx *ctx, float *y, uint8_t *mask, const float *x, size_t n, float p, uint64_t seed,
                      uint64_t stream);
  void (*dropout_bwd)(pb_ctx *ctx, float *dx, const float *dy, const uint8_t *mask, size_t n, float p);

  /* ---------------------------------------------------------------- losses and metrics */
  /* loss_sum: ONE float, overwritten. */
  void (*softmax_xent)(pb_ctx *ctx, float *loss_sum, float *losses, float *dlogits, const float *logits,
                       const int32_t *labels, int n, int k, float smoothing, float grad_scale);
  void (*bce_logits)(pb_ctx *ctx, float *loss_sum, float *dlogits, const float *logits, const float *targets,
                     int n, int k, float grad_scale);
  void (*softmax_fwd)(pb_ctx *ctx, float *p, const float *logits, int n, int k);
  /* correct: ONE int, ACCUMULATED (+=); may be NULL (predictions only); labels may be NULL too. */
  void (*argmax_count)(pb_ctx *ctx, int32_t *pred, int *correct, const float *logits, const int32_t *labels,
                       int n, int k);
  /* t[n,k] = one-hot of labels (overwritten); a label < 0 (missing) or >= k gives a zero row. */
  void (*onehot)(pb_ctx *ctx, float *t, const int32_t *labels, int n, int k);
  /* acc[0] += (double)x[0]: one double, one float. */
  void (*accum_f64)(pb_ctx *ctx, double *acc, const float *x);
  /* t[n,k] = multi-hot targets from label rows y[k,n]: t[i*k + c] = y[c*n + i] > 0 (overwritten). */
  void (*multihot)(pb_ctx *ctx, float *t, const int32_t *y, int n, int k);
  /* The Inclusive Images loss (ops.h pb_inclusive_loss_cpu): loss_sum ONE float and npos ONE int64
   * (may be NULL), overwritten; dlogits overwritten if non-NULL (grad_scale = 1 / positives). */
  void (*inclusive_loss)(pb_ctx *ctx, float *loss_sum, int64_t *npos, float *dlogits, const float *logits,
                         const float *targets, int n, int k, float grad_scale);

  /* ---------------------------------------------------------------- debiasing losses (RUBi, LearnedMixin+H)
   * ops.h pb_rubi_loss_cpu / pb_mixin_loss_cpu: loss [2] floats overwritten (the two sums);
   * gradients overwritten where non-NULL. */
  void (*rubi_loss)(pb_ctx *ctx, float *loss, float *df, float *dh, const float *f, const float *h,
                    const int32_t *labels, int n, int k, float scale, float scale_head);
  void (*mixin_loss)(pb_ctx *ctx, float *loss, float *df, float *da, const float *f, const float *g, const float *a,
                     const int32_t *labels, int n, int k, float scale, float scale_ent);

  /* ---------------------------------------------------------------- HSIC (ReBias's penalty) */
  /* Makes available the memory hsic_fwd, hsic_bwd and sqdist need for these params (sqdist of
   * the same n included); call while building, as pb_ctx_reserve_scratch, never in a step.
   * CPU: grows the context's host scratch to pb_hsic_scratch_cpu(p) floats (always PB_OK).
   * GPU: the workspace is fixed when the context is made: checks that it holds
   * pb_hsic_workspace_cuda(p) bytes, else PB_ERR naming both sizes and [run] cudnn_workspace_mb.
   * The params' own preconditions (ops.h: n >= 4 unbiased, sigmas > 0) are the caller's to
   * check: the ops assert them. */
  int (*hsic_reserve)(pb_ctx *ctx, const pb_hsic_params *p, pb_err *err);
  /* For inference, after its first batch (pb_model_forward of an inference-only model): shrinks
   * the device's scratch to what the ops chosen so far use, never below what a *_reserve asked
   * (GPU: the cuDNN workspace, ops_cuda.h pb_cuda_workspace_fit); *bytes (may be NULL): its size
   * now. CPU: nothing (*bytes = 0). PB_ERR: out of memory re-allocating the smaller one. */
  int (*workspace_fit)(pb_ctx *ctx, size_t *bytes, pb_err *err);
  /* CUDA graphs ([run] cuda_graphs; ops_cuda.h pb_cuda_graph_*): graph_begin records what is
   * enqueued from here instead of running it; graph_end returns it instantiated (NULL with err
   * when the device could not: nothing recorded ran, enqueue it again); graph_launch runs an
   * instance; graph_free. CPU: graph_begin is PB_ERR ("no graphs on the CPU"): run eagerly. */
  int (*graph_begin)(pb_ctx *ctx, pb_err *err);
  void *(*graph_end)(pb_ctx *ctx, pb_err *err);
  void (*graph_launch)(pb_ctx *ctx, void *graph);
  void (*graph_free)(pb_ctx *ctx, void *graph);
  /* value: ONE float, overwritten. x [n, dx], y [n, dy]. */
  void (*hsic_fwd)(pb_ctx *ctx, float *value, const float *x, const float *y, const pb_hsic_params *p);
  /* dx += grad_scale dHSIC/dx, dy += grad_scale dHSIC/dy: ACCUMULATED (the features' gradient
   * from the classifier is already there); either may be NULL (detached). */
  void (*hsic_bwd)(pb_ctx *ctx, float *dx, float *dy, float grad_scale, const float *x, const float *y,
                   const pb_hsic_params *p);
  /* d [n, n] = squared distances of the rows of x [n, dim] (overwritten; for the median sigma:
   * download it and take pb_median_sqdist on the host). */
  void (*sqdist)(pb_ctx *ctx, float *d, const float *x, int n, int dim);

  /* ---------------------------------------------------------------- triplet loss (ops.h "triplet loss")
   * triplet_reserve: call while building, never in a step, with the largest batch (p->n). CPU:
   * grows the host scratch to pb_triplet_scratch_cpu(p) floats (always PB_OK); GPU: checks that
   * the workspace holds pb_triplet_workspace_cuda(p) bytes, else PB_ERR naming both sizes and
   * [run] cudnn_workspace_mb. triplet_loss: the op (loss ONE float, counts PB_TRIPLET_NCOUNTS
   * int64, de overwritten, any of counts / de may be NULL), every array in the context's memory;
   * triplet_stats: pb_triplet_stats_cpu's out[3] from them. */
  int (*triplet_reserve)(pb_ctx *ctx, const pb_triplet_params *p, pb_err *err);
  void (*triplet_loss)(pb_ctx *ctx, float *loss, int64_t *counts, float *de, const float *e, const int32_t *labels,
                       float grad_scale, const pb_triplet_params *p);
  void (*triplet_stats)(pb_ctx *ctx, float *out, const float *loss, const int64_t *counts, int rows);

  /* ---------------------------------------------------------------- LSTM and sequences (ops.h "LSTM",
   * "sequence layout and pooling")
   * lstm_reserve: call while building, never in a step. Makes available the memory the three
   * LSTM ops need for these params (p->batch: the largest batch) and sets *reserve_floats to the
   * size of the training forward's reserve, in the context's memory. CPU: grows the host scratch
   * (always PB_OK); GPU: checks the workspace holds pb_lstm_workspace_cuda(p) bytes (else
   * PB_ERR naming [run] cudnn_workspace_mb). The reserve must be 256-byte aligned, and lstm_bwd
   * may write it (cuDNN does): one backward per training forward. The lengths of the LSTM ops
   * are HOST int32 [N]; those of seq_mean_* are in the context's memory. */
  int (*lstm_reserve)(pb_ctx *ctx, const pb_lstm_params *p, size_t *reserve_floats, pb_err *err);
  void (*lstm_fwd_train)(pb_ctx *ctx, float *y, float *h_n, float *c_n, float *reserve, const float *x,
                         const float *h0, const float *c0, const float *w, const int32_t *lengths_host, uint64_t seed,
                         uint64_t stream, const pb_lstm_params *p);
  void (*lstm_fwd_eval)(pb_ctx *ctx, float *y, float *h_n, float *c_n, const float *x, const float *h0,
                        const float *c0, const float *w, const int32_t *lengths_host, const pb_lstm_params *p);
  void (*lstm_bwd)(pb_ctx *ctx, float *dx, float *dh0, float *dc0, float *dw, const float *dy, const float *dh_n,
                   const float *dc_n, const float *x, const float *h0, const float *c0, const float *w,
                   const float *y, const int32_t *lengths_host, float *reserve, const pb_lstm_params *p);
  void (*seq_swap01)(pb_ctx *ctx, float *y, const float *x, int a, int b, int d);
  void (*seq_mean_fwd)(pb_ctx *ctx, float *y, const float *x, const int32_t *lengths, int t, int n, int c);
  void (*seq_mean_bwd)(pb_ctx *ctx, float *dx, const float *dy, const int32_t *lengths, int t, int n, int c);

  /* ---------------------------------------------------------------- optimizers */
  void (*sgd_step)(pb_ctx *ctx, float *param, float *buf, const float *grad, size_t n, const pb_sgd_params *p,
                   int first_step);
  void (*adam_step)(pb_ctx *ctx, float *param, float *m, float *v, const float *grad, size_t n,
                    const pb_adam_params *p);
  /* sumsq[0] = sum of squares of x (ONE double, overwritten), deterministic. */
  void (*sumsq)(pb_ctx *ctx, double *sumsq, const float *x, size_t n);
  void (*clip_scale)(pb_ctx *ctx, float *x, size_t n, const double *sumsq, double max_norm);

  /* ---------------------------------------------------------------- data */
  /* mean_host, std_host: HOST arrays of c (<= 8) floats. */
  void (*u8_to_f32_norm)(pb_ctx *ctx, float *x, const uint8_t *u8, int n, int c, int hw, const float *mean_host,
                         const float *std_host);
} pb_backend;

extern const pb_backend pb_backend_cpu;  /* engine/device/backend_cpu.c */
extern const pb_backend pb_backend_cuda; /* engine/device/backend_cuda.c */

#endif
