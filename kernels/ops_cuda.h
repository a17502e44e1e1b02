/* ops_cuda.h: the CUDA twins of kernels/ops.h, and the device environment they run in.
 *
 * Every pb_<op>_<dir>_cuda takes the same arguments as its CPU twin, with DEVICE pointers,
 * minus the CPU scratch / nthreads, plus the environment (stream, library handles,
 * workspace). All work is enqueued on env->stream; no op synchronises the host. Scalars an op
 * produces (loss sums, norms, counts) are written to device memory.
 * Implemented in kernels/cuda/ (one .cu per op family); a CPU-only build links kernels/cuda/stubs.c, whose
 * functions abort with a clear message (they are unreachable there: pb_ctx never selects a
 * GPU in a build without CUDA). Library failures abort with file, line and the library's
 * own message (tier 1); out-of-memory is reported to the caller (tier 2). */
#ifndef PB_OPS_CUDA_H
#define PB_OPS_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/ops.h"
#include "kernels/pb_common.h"

typedef struct pb_cuda_env {
  int device;            /* CUDA ordinal */
  void *stream;          /* cudaStream_t: compute stream, every op is enqueued here */
  void *copy_stream;     /* cudaStream_t: host-to-device copies overlapping compute */
  void *cudnn;           /* cudnnHandle_t bound to stream */
  void *cublas;          /* cublasHandle_t bound to stream */
  void *workspace;       /* device scratch for cuDNN and own kernels */
  size_t workspace_bytes;
  size_t workspace_floor; /* the most an own op or the LSTM asked for at build (the backend's
                             *_reserve): pb_cuda_workspace_fit never goes below it */
  int workspace_fitted;   /* pb_cuda_workspace_fit ran: the workspace stays where it is (captured
                             CUDA graphs hold its address) */
  int deterministic;     /* only deterministic algorithms (cuDNN conv / BN / pool choices) */
  int tf32;              /* allow TF32 tensor-core math in cuBLAS GEMMs and cuDNN convolutions */
  void *conv_cache;      /* per-shape cuDNN algorithm choices (kernels/cuda/conv.cu) */
  void *lstm_cache;      /* per-shape cuDNN RNN descriptors and weight maps (kernels/cuda/lstm.cu) */
  void *stage_events[2]; /* cudaEvent_t per staging slot (kernels/cuda/staging.cu), lazily made */
} pb_cuda_env;

/* ------------------------------------------------------------------ environment and memory (env.cu) */

/* Selects GPU dev, creates the streams, handles and a workspace of workspace_bytes.
 * Returns PB_ERR (message: the bytes asked and free) when the workspace does not fit. */
int pb_cuda_env_init(pb_cuda_env *env, int dev, size_t workspace_bytes, int deterministic, int tf32, pb_err *err);
void pb_cuda_env_free(pb_cuda_env *env);
/* Shrinks the workspace to what is used: the largest need of the convolution algorithms chosen so
 * far (pb_cuda_conv_workspace_max), env->workspace_floor and 1 MiB, rounded up to 1 MiB; never
 * grows it. For inference after its first batch: the search ran with the whole workspace, and
 * what it chose keeps fitting; a shape searched later gets the fastest algorithm that fits the
 * smaller one. Waits for the stream. *bytes (may be NULL): the size now. Only the first call
 * moves it (a second model's first forward leaves it: graphs captured since hold its address).
 * PB_ERR only if the smaller allocation fails (then the workspace is gone: a tier-2 error). */
int pb_cuda_workspace_fit(pb_cuda_env *env, size_t *bytes, pb_err *err);
/* CUDA graphs (graph.cu): graph_begin starts recording what is enqueued on env's stream (nothing
 * runs); graph_end instantiates it (NULL with err when the capture failed: nothing of it ran, the
 * caller enqueues the work again); graph_launch enqueues an instance; graph_free destroys one. */
int pb_cuda_graph_begin(const pb_cuda_env *env, pb_err *err);
void *pb_cuda_graph_end(const pb_cuda_env *env, pb_err *err);
void pb_cuda_graph_launch(void *exec, const pb_cuda_env *env);
void pb_cuda_graph_free(void *exec);
/* The largest workspace any chosen convolution algorithm of env needs (conv.cu). */
size_t pb_cuda_conv_workspace_max(const pb_cuda_env *env);

/* Device allocation. On out-of-memory returns NULL and sets err: what was being allocated,
 * the bytes asked, the bytes free, and a suggestion (smaller batch, gradient accumulation). */
void *pb_cuda_alloc(size_t bytes, const char *what, pb_err *err);
void pb_cuda_free(void *p);
/* Pinned host memory (page-locked, for asynchronous copies); NULL-safe free. */
void *pb_cuda_host_alloc(size_t bytes, const char *what, pb_err *err);
void pb_cuda_host_free(void *p);
/* Copies enqueued on env->stream (async for pinned host memory). */
void pb_cuda_h2d(void *dst, const void *src, size_t bytes, const pb_cuda_env *env);
void pb_cuda_d2h(void *dst, const void *src, size_t bytes, const pb_cuda_env *env);
void pb_cuda_memset0(void *dst, size_t bytes, const pb_cuda_env *env);
/* Host-to-device on env->copy_stream, then an event that env->stream waits on before its
 * next op: the copy overlaps the compute already enqueued. */
void pb_cuda_h2d_overlap(void *dst, const void *pinned_src, size_t bytes, const pb_cuda_env *env);
/* Waits until every copy enqueued with pb_cuda_h2d_overlap has finished reading its pinned
 * source, so the caller may refill it (kernels/cuda/staging.cu). */
void pb_cuda_copy_wait(const pb_cuda_env *env);
/* Double-buffered staging (staging.cu). Call before filling device staging slot `slot` (0/1)
 * for batch i: marks the end of the compute enqueued so far (batch i-1, which used the other
 * slot) and makes the copy stream wait for the mark of this slot (the end of batch i-2, the
 * slot's previous user). Copies into the slot then overlap batch i-1's compute but never
 * overwrite data batch i-2 may still read. */
void pb_cuda_stage_begin(pb_cuda_env *env, int slot);
/* Destroys the staging events (called by pb_cuda_env_free). */
void pb_cuda_stage_free(pb_cuda_env *env);
/* Waits for everything enqueued on env->stream. */
void pb_cuda_sync(const pb_cuda_env *env);

/* ------------------------------------------------------------------ convolution (conv.cu, cuDNN) */

/* Algorithms are chosen by measurement (cudnnFind*) once per shape and cached in
 * env->conv_cache; restricted to deterministic ones when env->deterministic. Workspace from
 * env. Accumulation as the CPU twins: dw, dbias +=; y, dx =. */
void pb_conv2d_fwd_cuda(float *y, const float *x, const float *w, const float *bias, const pb_conv2d_params *p,
                        const pb_cuda_env *env);
void pb_conv2d_bwd_data_cuda(float *dx, const float *dy, const float *w, const pb_conv2d_params *p,
                             const pb_cuda_env *env);
void pb_conv2d_bwd_filter_cuda(float *dw, float *dbias, const float *dy, const float *x, const pb_conv2d_params *p,
                               const pb_cuda_env *env);

/* ------------------------------------------------------------------ batch norm (batchnorm.cu, cuDNN) */

void pb_bn_fwd_train_cuda(float *y, float *save_mean, float *save_invstd, float *running_mean, float *running_var,
                          const float *x, const float *gamma, const float *beta, const pb_bn_params *p,
                          const pb_cuda_env *env);
void pb_bn_fwd_eval_cuda(float *y, const float *x, const float *gamma, const float *beta, const float *running_mean,
                         const float *running_var, const pb_bn_params *p, const pb_cuda_env *env);
void pb_bn_bwd_cuda(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *gamma,
                    const float *save_mean, const float *save_invstd, const pb_bn_params *p, const pb_cuda_env *env);

/* Fused evaluation batch norm [+ residual] [+ ReLU] (bn_fused.cu, own kernel): the twin of
 * ops.h's pb_bn_eval_fused_cpu, bitwise; y may alias x or r. */
void pb_bn_eval_fused_cuda(float *y, const float *x, const float *r, const float *gamma, const float *beta,
                           const float *running_mean, const float *running_var, int relu, const pb_bn_params *p,
                           const pb_cuda_env *env);

/* Fused training batch norm [+ residual] [+ ReLU] and its backward (bn_train_fused.cu, own kernels):
 * the twins of ops.h's pb_bn_fwd_train_fused_cpu / pb_bn_bwd_fused_cpu. The statistics come from
 * per-channel sums in double (as pb_bn_sums_cuda), so they match the CPU's two-pass double
 * statistics to ~1e-16 relative, and every elementwise expression is the CPU's, explicitly rounded.
 * y may alias r; dz may alias dy. */
void pb_bn_fwd_train_fused_cuda(float *y, float *save_mean, float *save_invstd, float *running_mean,
                                float *running_var, const float *x, const float *r, const float *gamma,
                                const float *beta, int relu, const pb_bn_params *p, const pb_cuda_env *env);
void pb_bn_bwd_fused_cuda(float *dx, float *dz, float *dgamma, float *dbeta, const float *dy, const float *y,
                          const float *x, const float *gamma, const float *save_mean, const float *save_invstd,
                          int relu, const pb_bn_params *p, const pb_cuda_env *env);

/* Synchronised batch norm (bn_sync.cu): the CUDA twins of kernels/ops.h's pb_bn_*sync*_cpu, with
 * every pointer on the device (the sums too), enqueued on env->stream. */
void pb_bn_sums_cuda(double *sums, const float *x, const pb_bn_params *p, const pb_cuda_env *env);
void pb_bn_fwd_sync_cuda(float *y, float *save_mean, float *save_invstd, float *running_mean, float *running_var,
                         const float *x, const float *gamma, const float *beta, const double *sums,
                         const pb_bn_params *p, const pb_cuda_env *env);
void pb_bn_bwd_sums_cuda(double *sums, const float *dy, const float *x, const float *save_mean,
                         const float *save_invstd, const pb_bn_params *p, const pb_cuda_env *env);
void pb_bn_bwd_sync_cuda(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *gamma,
                         const float *save_mean, const float *save_invstd, const double *local, const double *global,
                         const double *fwd, const pb_bn_params *p, const pb_cuda_env *env);

/* Mixed-precision rounding (half.cu): x[i] rounded to bfloat16 / binary16 and back, in place, the
 * twins of kernels/half.h's pb_round_bf16_cpu / pb_round_f16_cpu (same bits; NaN: "is NaN"). */
void pb_round_bf16_cuda(float *x, size_t n, const pb_cuda_env *env);
void pb_round_f16_cuda(float *x, size_t n, const pb_cuda_env *env);

/* ------------------------------------------------------------------ activations (activation.cu) */

void pb_relu_fwd_cuda(float *y, const float *x, size_t n, const pb_cuda_env *env);
void pb_relu_bwd_cuda(float *dx, const float *dy, const float *y, size_t n, const pb_cuda_env *env);
void pb_sigmoid_fwd_cuda(float *y, const float *x, size_t n, const pb_cuda_env *env);
void pb_sigmoid_bwd_cuda(float *dx, const float *dy, const float *y, size_t n, const pb_cuda_env *env);

/* ------------------------------------------------------------------ pooling (pool.cu) */

void pb_maxpool_fwd_cuda(float *y, int32_t *argmax, const float *x, const pb_pool_params *p, const pb_cuda_env *env);
void pb_maxpool_bwd_cuda(float *dx, const float *dy, const int32_t *argmax, const pb_pool_params *p,
                         const pb_cuda_env *env);
void pb_avgpool_fwd_cuda(float *y, const float *x, const pb_pool_params *p, const pb_cuda_env *env);
void pb_avgpool_bwd_cuda(float *dx, const float *dy, const pb_pool_params *p, const pb_cuda_env *env);
void pb_gap_fwd_cuda(float *y, const float *x, int n, int c, int hw, const pb_cuda_env *env);
void pb_gap_bwd_cuda(float *dx, const float *dy, int n, int c, int hw, const pb_cuda_env *env);
/* Channels last (ops.h pb_gap_nhwc_*_cpu): bitwise the CPU twins. */
void pb_gap_nhwc_fwd_cuda(float *y, const float *x, int n, int c, int hw, const pb_cuda_env *env);
void pb_gap_nhwc_bwd_cuda(float *dx, const float *dy, int n, int c, int hw, const pb_cuda_env *env);

/* ------------------------------------------------------------------ linear (linear.cu, cuBLAS) */

void pb_linear_fwd_cuda(float *y, const float *x, const float *w, const float *b, int n, int in, int out,
                        const pb_cuda_env *env);
void pb_linear_bwd_cuda(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int n,
                        int in, int out, const pb_cuda_env *env);

/* ------------------------------------------------------------------ elementwise (elementwise.cu) */

void pb_add_fwd_cuda(float *y, const float *a, const float *b, size_t n, const pb_cuda_env *env);
void pb_accumulate_cuda(float *y, const float *x, size_t n, const pb_cuda_env *env);
void pb_scale_cuda(float *x, float s, size_t n, const pb_cuda_env *env);
void pb_chscale_fwd_cuda(float *y, const float *x, const float *s, int n, int c, int hw, const pb_cuda_env *env);
void pb_chscale_add_relu_cuda(float *y, const float *x, const float *s, const float *r, int n, int c, int hw,
                              const pb_cuda_env *env);
void pb_chscale_bwd_cuda(float *dx, float *ds, const float *dy, const float *x, const float *s, int n, int c, int hw,
                         const pb_cuda_env *env);
/* Channels last (ops.h pb_chscale_*nhwc*_cpu): bitwise the CPU twins. */
void pb_chscale_nhwc_fwd_cuda(float *y, const float *x, const float *s, int n, int c, int hw, const pb_cuda_env *env);
void pb_chscale_add_relu_nhwc_cuda(float *y, const float *x, const float *s, const float *r, int n, int c, int hw,
                                   const pb_cuda_env *env);
void pb_chscale_nhwc_bwd_cuda(float *dx, float *ds, const float *dy, const float *x, const float *s, int n, int c,
                              int hw, const pb_cuda_env *env);

/* ------------------------------------------------------------------ layout (layout.cu) */

/* ops.h pb_nchw_to_nhwc_cpu / pb_nhwc_to_nchw_cpu: permutations, bitwise. */
void pb_nchw_to_nhwc_cuda(float *y, const float *x, int n, int c, int hw, const pb_cuda_env *env);
void pb_nhwc_to_nchw_cuda(float *y, const float *x, int n, int c, int hw, const pb_cuda_env *env);

/* ------------------------------------------------------------------ crop add (crop_add.cu) */

/* The BagNet residual add and its backward: bitwise the CPU twins (one rounded add or a copy). */
void pb_add_crop_fwd_cuda(float *y, const float *a, const float *b, const pb_crop_params *p, const pb_cuda_env *env);
void pb_add_crop_bwd_cuda(float *db, const float *dy, const pb_crop_params *p, const pb_cuda_env *env);

/* ------------------------------------------------------------------ L2 normalisation (l2norm.cu) */

/* One block per row, fixed reduction tree in double: deterministic; within 1 float ulp of the CPU. */
void pb_l2norm_fwd_cuda(float *y, float *norm, const float *x, int n, int d, float eps, const pb_cuda_env *env);
void pb_l2norm_bwd_cuda(float *dx, const float *dy, const float *y, const float *norm, int n, int d, float eps,
                        const pb_cuda_env *env);

/* ------------------------------------------------------------------ sequence layout and pooling (seq.cu) */

/* Bitwise the CPU twins (moves, one division, the mean's double sum in t order); lengths on
 * the device. */
void pb_seq_swap01_cuda(float *y, const float *x, int a, int b, int d, const pb_cuda_env *env);
void pb_seq_mean_fwd_cuda(float *y, const float *x, const int32_t *lengths, int t, int n, int c,
                          const pb_cuda_env *env);
void pb_seq_mean_bwd_cuda(float *dx, const float *dy, const int32_t *lengths, int t, int n, int c,
                          const pb_cuda_env *env);

/* ------------------------------------------------------------------ dropout (dropout.cu) */

/* Same counter-based mask as the CPU twin (kernels/pb_rng.h): bitwise-identical masks. */
void pb_dropout_fwd_cuda(float *y, uint8_t *mask, const float *x, size_t n, float p, uint64_t seed, uint64_t stream,
                         const pb_cuda_env *env);
void pb_dropout_bwd_cuda(float *dx, const float *dy, const uint8_t *mask, size_t n, float p, const pb_cuda_env *env);

/* ------------------------------------------------------------------ losses and metrics (loss.cu) */

/* Fused softmax cross-entropy forward + backward; loss_sum is ONE device float (overwritten). */
void pb_softmax_xent_cuda(float *loss_sum, float *losses, float *dlogits, const float *logits, const int32_t *labels,
                          int n, int k, float smoothing, float grad_scale, const pb_cuda_env *env);
void pb_bce_logits_cuda(float *loss_sum, float *dlogits, const float *logits, const float *targets, int n, int k,
                        float grad_scale, const pb_cuda_env *env);
void pb_softmax_fwd_cuda(float *p, const float *logits, int n, int k, const pb_cuda_env *env);
/* pred[n] = argmax of each logits row (first on ties); correct[0] += count of pred == labels
 * (one device int, accumulated: zero it at the start of an epoch). correct may be NULL
 * (predictions only), and so may labels (nothing counts), as on the CPU. */
void pb_argmax_count_cuda(int32_t *pred, int *correct, const float *logits, const int32_t *labels, int n, int k,
                          const pb_cuda_env *env);
/* t[n,k] = one-hot of labels (overwritten; a label < 0 or >= k gives a zero row): bitwise the CPU. */
void pb_onehot_cuda(float *t, const int32_t *labels, int n, int k, const pb_cuda_env *env);
/* acc[0] += (double)x[0]: ONE device double, ONE device float; bitwise the CPU. */
void pb_accum_f64_cuda(double *acc, const float *x, const pb_cuda_env *env);

/* ------------------------------------------------------------------ multi-label losses (multilabel.cu) */

/* t[n,k] from label rows y[k,n] (y on the device): bitwise the CPU (each element written once). */
void pb_multihot_cuda(float *t, const int32_t *y, int n, int k, const pb_cuda_env *env);
/* The twin of pb_inclusive_loss_cpu (ops.h: same contract); loss_sum ONE device float, npos ONE
 * device int64 (or NULL), both overwritten. One block per row, fixed double trees; the per-row
 * loss and count go through env->workspace when it holds n doubles + n int64 (16 n bytes), else
 * one block walks the rows (same trees, same order: bitwise the same results); the rows are then
 * summed in row order. Deterministic; within a few float ulps of the CPU. */
void pb_inclusive_loss_cuda(float *loss_sum, int64_t *npos, float *dlogits, const float *logits,
                            const float *targets, int n, int k, float grad_scale, const pb_cuda_env *env);

/* ------------------------------------------------------------------ debiasing losses (debias.cu)
 * The twins of pb_rubi_loss_cpu / pb_mixin_loss_cpu (ops.h: same contract); the two per-row
 * losses go through env->workspace when it holds 2n doubles, else one block walks the rows
 * (same trees, same order: bitwise the same results). */
void pb_rubi_loss_cuda(float *loss, float *df, float *dh, const float *f, const float *h, const int32_t *labels,
                       int n, int k, float scale, float scale_head, const pb_cuda_env *env);
void pb_mixin_loss_cuda(float *loss, float *df, float *da, const float *f, const float *g, const float *a,
                        const int32_t *labels, int n, int k, float scale, float scale_ent, const pb_cuda_env *env);

/* ------------------------------------------------------------------ HSIC (hsic.cu) */

/* Bytes of env->workspace the three ops below need for these params (pb_sqdist_cuda needs
 * n*n floats, less than the HSIC ops for the same n). The ops abort (tier 1) when the
 * workspace is smaller: a caller checks this once, when it is built (the backend's
 * hsic_reserve entry turns it into a user error). */
size_t pb_hsic_workspace_cuda(const pb_hsic_params *p);
/* As the CPU twins (value: ONE device float, overwritten; dx, dy ACCUMULATE, either NULL).
 * GEMMs on cuBLAS in full fp32 whatever env->tf32 says (the distances cancel); the O(n^2)
 * parts fused kernels; every sum in double with fixed trees: run-to-run bitwise reproducible.
 * The twin test (test_cuda_hsic) states the tolerances against the CPU. */
void pb_hsic_fwd_cuda(float *value, const float *x, const float *y, const pb_hsic_params *p, const pb_cuda_env *env);
void pb_hsic_bwd_cuda(float *dx, float *dy, float grad_scale, const float *x, const float *y, const pb_hsic_params *p,
                      const pb_cuda_env *env);
void pb_sqdist_cuda(float *d, const float *x, int n, int dim, const pb_cuda_env *env);

/* ------------------------------------------------------------------ LSTM (lstm.cu, cuDNN RNN)
 * The twins of pb_lstm_fwd_train_cpu / _fwd_eval_cpu / _bwd_cpu (ops.h "LSTM": same shapes,
 * NULL rules, overwrite / accumulate rules, the same dropout masks), on cuDNN's v8 RNN API;
 * lstm.cu's file comment has the design. Device pointers except `lengths`, which stays a HOST
 * int32 array [N] (each in 1..T) as on the CPU. Math: full fp32 (CUDNN_FMA_MATH) unless
 * env->tf32, then cuDNN may use TF32 tensor cores (CUDNN_DEFAULT_MATH), as the convolutions.
 *
 * Sizes (both create the shape's cached cuDNN descriptors on first use; the same for any
 * lengths: cuDNN is asked with every sequence of length T):
 *  - pb_lstm_workspace_cuda: bytes of env->workspace the three ops need for these params (the
 *    cuDNN weight space and its gradient, cuDNN's work space, a few [T, N, *] buffers). The ops
 *    abort (tier 1) when the workspace is smaller: a caller checks once, when it is built.
 *  - pb_lstm_reserve_cuda: bytes of the training forward's reserve (depends on dropout > 0 with
 *    L > 1, where cuDNN runs one layer at a time and the reserve also holds the layers'
 *    outputs, dropped inputs and masks). Device memory owned by the caller, 256-byte aligned
 *    (pb_cuda_alloc's is).
 * Unlike the CPU's, the backward WRITES the reserve (cuDNN's backward data uses it as scratch
 * for its backward weights): one backward per training forward. */
size_t pb_lstm_workspace_cuda(const pb_lstm_params *p, const pb_cuda_env *env);
size_t pb_lstm_reserve_cuda(const pb_lstm_params *p, const pb_cuda_env *env);
void pb_lstm_fwd_train_cuda(float *y, float *h_n, float *c_n, float *reserve, const float *x, const float *h0,
                            const float *c0, const float *w, const int32_t *lengths, uint64_t seed, uint64_t stream,
                            const pb_lstm_params *p, const pb_cuda_env *env);
void pb_lstm_fwd_eval_cuda(float *y, float *h_n, float *c_n, const float *x, const float *h0, const float *c0,
                           const float *w, const int32_t *lengths, const pb_lstm_params *p, const pb_cuda_env *env);
void pb_lstm_bwd_cuda(float *dx, float *dh0, float *dc0, float *dw, const float *dy, const float *dh_n,
                      const float *dc_n, const float *x, const float *h0, const float *c0, const float *w,
                      const float *y, const int32_t *lengths, float *reserve, const pb_lstm_params *p,
                      const pb_cuda_env *env);

/* ------------------------------------------------------------------ triplet loss (triplet.cu) */

/* Bytes of env->workspace pb_triplet_loss_cuda needs for these params: 2 n^2 (batch-hard) or
 * 3 n^2 (batch-all) doubles and 5 n + 1 more (n = 300: 2.2 / 3.2 MB). The op aborts (tier 1) when
 * the workspace is smaller: a caller checks this once, when it is built. */
size_t pb_triplet_workspace_cuda(const pb_triplet_params *p);
/* The twin of pb_triplet_loss_cpu (ops.h: same contract, same tie rule): loss ONE device float,
 * counts PB_TRIPLET_NCOUNTS device int64 (may be NULL), de [n, d] overwritten (may be NULL),
 * e and labels device arrays. The denominator and the gradient's coefficient stay on the device
 * (no host round trip). One block per anchor, every sum in double in a fixed order (the CPU's),
 * no atomics: bitwise reproducible run to run; with hinge terms the values are expected to be the
 * CPU's bit for bit, with soft terms within 1 float ulp (CUDA's exp / log1p); test_cuda_triplet
 * states the tolerances it checks. */
void pb_triplet_loss_cuda(float *loss, int64_t *counts, float *de, const float *e, const int32_t *labels,
                          float grad_scale, const pb_triplet_params *p, const pb_cuda_env *env);
/* The twin of pb_triplet_stats_cpu: out, loss, counts device arrays; one thread, same float
 * arithmetic (bitwise the CPU's). */
void pb_triplet_stats_cuda(float *out, const float *loss, const int64_t *counts, int rows, const pb_cuda_env *env);

/* ------------------------------------------------------------------ data (convert.cu) */

/* x[n,c,hw] = (u8/255 - mean[c]) / std[c]; mean/std are HOST arrays of c (<= 8) values. */
void pb_u8_to_f32_norm_cuda(float *x, const uint8_t *u8, int n, int c, int hw, const float *mean, const float *std,
                            const pb_cuda_env *env);

/* ------------------------------------------------------------------ optimizers (optim.cu) */

/* One fused launch over the whole parameter block each, same semantics as the CPU twins. */
void pb_sgd_step_cuda(float *param, float *buf, const float *grad, size_t n, const pb_sgd_params *p, int first_step,
                      const pb_cuda_env *env);
void pb_adam_step_cuda(float *param, float *m, float *v, const float *grad, size_t n, const pb_adam_params *p,
                       const pb_cuda_env *env);
/* sumsq[0] = sum of squares (ONE device double, overwritten), deterministic. */
void pb_sumsq_cuda(double *sumsq, const float *x, size_t n, const pb_cuda_env *env);
/* Gradient-norm clipping without a host round trip: reads sumsq[0], and when max_norm > 0 and
 * sqrt(sumsq) > max_norm scales x by max_norm / (sqrt(sumsq) + 1e-6). */
void pb_clip_scale_cuda(float *x, size_t n, const double *sumsq, double max_norm, const pb_cuda_env *env);

#endif
