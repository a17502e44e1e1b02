/* ops.h: every compute op of plumb, on raw buffers.
 *
 * Each op is a pair: pb_<op>_<dir>_cpu in kernels/cpu/ (the reference) and
 * pb_<op>_<dir>_cuda in kernels/cuda/ (the twin, same arguments plus a stream; issue 3).
 * Conventions, for every op below unless its comment says otherwise:
 *  - layout NCHW, dtype float32, contiguous; outputs come first in the argument list;
 *  - layout NHWC (channels last, [run] layout = nhwc) where an op's params say nhwc = 1 or its
 *    name ends in _nhwc: then images and their gradients are [n, h, w, c]; weights, biases and
 *    per-channel vectors keep PyTorch's layout (a convolution's weight stays
 *    [c_out, c_in/groups, kh, kw]), so checkpoints never depend on the layout;
 *  - ops never allocate and never touch globals: scratch is passed in (size from the
 *    matching _scratch function), shapes in a small const params struct;
 *  - parameter gradients ACCUMULATE (+=); activation gradients OVERWRITE (=);
 *  - CPU ops parallelise with OpenMP over at most `nthreads` threads where they take it;
 *    results are deterministic for a given thread count (reductions have a fixed order);
 *  - ops do not validate user input: callers (layers) check shapes when the model is built,
 *    and a violated precondition here is a bug.
 */
#ifndef PB_OPS_H
#define PB_OPS_H

#include <stddef.h>
#include <stdint.h>

/* Scratch memory for an op: `buf` holds at least the floats that the op's _scratch function
 * asked for, for the same params and nthreads. */
typedef struct pb_scratch {
  float *buf;
  size_t floats;
  int nthreads; /* >= 1: the number of threads the op may use */
} pb_scratch;

/* ------------------------------------------------------------------ GEMM */

/* Makes the BLAS library single-threaded (plumb's ops parallelise around their GEMM calls
 * with OpenMP, so a threaded BLAS inside would oversubscribe). Called once by the context. */
void pb_cpu_blas_init(void);

/* Row-major C[m,n] = alpha * op(A)[m,k] op(B)[k,n] + beta * C. trans_a: A is stored [k,m];
 * trans_b: B is stored [n,k]. Single-threaded (callers parallelise over blocks). OpenBLAS
 * when built with it, else the built-in blocked kernel. */
void pb_sgemm_cpu(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* ------------------------------------------------------------------ convolution */

typedef struct pb_conv2d_params {
  int n, c_in, h_in, w_in; /* input  x [n, c_in, h_in, w_in] */
  int c_out, kh, kw;       /* weight w [c_out, c_in/groups, kh, kw]; bias [c_out] */
  int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
  int h_out, w_out; /* output y [n, c_out, h_out, w_out]; set by pb_conv2d_params_finish */
  int nhwc;         /* 1: x [n, h_in, w_in, c_in], y [n, h_out, w_out, c_out] (cpu/conv_nhwc.c); w as above */
} pb_conv2d_params;

/* Computes h_out and w_out as PyTorch does (floor). Returns 0, or -1 when the output would be
 * empty or groups does not divide c_in and c_out (the caller reports that as a config error). */
int pb_conv2d_params_finish(pb_conv2d_params *p);

/* Floats of scratch the conv ops need for these params and this many threads (im2col
 * columns per thread, and per-thread weight-gradient partials for bwd_filter). */
size_t pb_conv2d_scratch_cpu(const pb_conv2d_params *p, int nthreads);

/* y = conv(x, w) + bias. bias may be NULL. y overwritten. */
void pb_conv2d_fwd_cpu(float *y, const float *x, const float *w, const float *bias,
                       const pb_conv2d_params *p, const pb_scratch *s);
/* dx = conv_transpose(dy, w). dx overwritten. */
void pb_conv2d_bwd_data_cpu(float *dx, const float *dy, const float *w, const pb_conv2d_params *p,
                            const pb_scratch *s);
/* dw += corr(x, dy); dbias += sum over n,h,w of dy (dbias may be NULL). */
void pb_conv2d_bwd_filter_cpu(float *dw, float *dbias, const float *dy, const float *x,
                              const pb_conv2d_params *p, const pb_scratch *s);

/* ------------------------------------------------------------------ batch norm */

typedef struct pb_bn_params {
  int n, c, hw;   /* x [n, c, hw] (hw = H*W; 1 for BatchNorm1d) */
  float eps;      /* PyTorch default 1e-5 */
  float momentum; /* PyTorch default 0.1: running = (1-m)*running + m*batch_stat */
  int nhwc;       /* 1: x [n, hw, c] (channels last) */
} pb_bn_params;

/* Channels-last batch norm IS batch norm over [n*hw, c, 1]: the same elements per channel, met in
 * the same order (sample, then pixel). Every batch-norm op (the sums, the statistics, the
 * running averages, the sync sums and their count) reads an nhwc = 1 params through this view, so
 * NHWC results are bitwise those of NCHW on the permuted tensor, on the CPU. */
static inline pb_bn_params pb_bn_params_nchw_view(const pb_bn_params *p) {
  pb_bn_params q = *p;
  if (p->nhwc) q.n = p->n * p->hw, q.hw = 1, q.nhwc = 0;
  return q;
}

/* Training: normalises with the batch mean and biased variance; writes save_mean[c] and
 * save_invstd[c] = 1/sqrt(var_biased + eps) for backward; updates running_mean and
 * running_var[c] in place (running_var with the UNBIASED batch variance, as PyTorch).
 * y overwritten. gamma/beta [c]. */
void pb_bn_fwd_train_cpu(float *y, float *save_mean, float *save_invstd, float *running_mean,
                         float *running_var, const float *x, const float *gamma, const float *beta,
                         const pb_bn_params *p, int nthreads);
/* Eval: normalises with running statistics. y overwritten. */
void pb_bn_fwd_eval_cpu(float *y, const float *x, const float *gamma, const float *beta,
                        const float *running_mean, const float *running_var,
                        const pb_bn_params *p, int nthreads);
/* Backward of the training forward. dx overwritten; dgamma, dbeta accumulate. */
void pb_bn_bwd_cpu(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                   const float *gamma, const float *save_mean, const float *save_invstd,
                   const pb_bn_params *p, int nthreads);

/* Fused evaluation batch norm (cpu/bn_fused.c): y = act(bn_eval(x) + r) per element, with
 * bn_eval as pb_bn_fwd_eval_cpu, r [n, c, hw] added when non-NULL (the residual of a ResNet
 * block) and act = ReLU when relu != 0 (else the identity). Bitwise equal to pb_bn_fwd_eval_cpu,
 * then pb_accumulate_cpu(y, r), then pb_relu_fwd_cpu. y may alias x or r (in place): inference
 * runs batch norm in the memory of its input. */
void pb_bn_eval_fused_cpu(float *y, const float *x, const float *r, const float *gamma, const float *beta,
                          const float *running_mean, const float *running_var, int relu, const pb_bn_params *p,
                          int nthreads);

/* Fused training batch norm ([run] fused_bn_train; cpu/batchnorm.c), the training twins of the
 * fused evaluation op, as a ResNet block runs them:
 *   pb_bn_fwd_train_fused_cpu: y = act(bn_train(x) + r): pb_bn_fwd_train_cpu (the statistics saved,
 *     the running averages updated), then r [n, c, hw] added when non-NULL, then ReLU when relu != 0.
 *     Bitwise pb_bn_fwd_train_cpu, pb_accumulate_cpu(y, r), pb_relu_fwd_cpu. y may alias r (each
 *     element of r is read before its y is written), never x.
 *   pb_bn_bwd_fused_cpu: its backward. dz = relu ? (y > 0 ? dy : 0) : dy, as pb_relu_bwd_cpu
 *     (overwritten; dz may alias dy): the gradient of the sum, which is also r's; then dx = the batch
 *     norm backward of dz (overwritten; dgamma, dbeta accumulate) as pb_bn_bwd_cpu(dx, .., dz, x, ..).
 *     y: the fused forward's output. Bitwise pb_relu_bwd_cpu then pb_bn_bwd_cpu. dx must not alias
 *     dz, dy, x or y. */
void pb_bn_fwd_train_fused_cpu(float *y, float *save_mean, float *save_invstd, float *running_mean,
                               float *running_var, const float *x, const float *r, const float *gamma,
                               const float *beta, int relu, const pb_bn_params *p, int nthreads);
void pb_bn_bwd_fused_cpu(float *dx, float *dz, float *dgamma, float *dbeta, const float *dy, const float *y,
                         const float *x, const float *gamma, const float *save_mean, const float *save_invstd,
                         int relu, const pb_bn_params *p, int nthreads);

/* Synchronised batch norm ([dist] sync_bn, kernels/cpu/bn_sync.c): the training forward and
 * backward split around the sums a caller adds over the data-parallel ranks. x, y, dy, dx are
 * [n, c, hw]; the sums are double.
 *   bn_sums:     sums[ch] = sum of x over (n, hw), sums[c + ch] = sum of x^2, sums[2c] = n * hw.
 *   bn_fwd_sync: from the GLOBAL sums [2c + 1] (cnt = sums[2c]): mean = sums[ch] / cnt, biased
 *                var = sums[c + ch] / cnt - mean^2 (clamped at 0), save_mean / save_invstd =
 *                1 / sqrt(var + eps) as bn_fwd_train, running_mean / running_var updated with the
 *                mean and the UNBIASED var * cnt / (cnt - 1) (momentum as bn_fwd_train), y =
 *                gamma (x - mean) invstd + beta. With one rank it equals bn_fwd_train to rounding.
 *   bn_bwd_sums: sums[ch] = sum of dy, sums[c + ch] = sum of dy * (x - mean) * invstd (this rank's).
 *   bn_bwd_sync: dgamma[ch] += local[c + ch], dbeta[ch] += local[ch] (this rank's part: the
 *                gradient all-reduce adds the others'); dx = gamma invstd (dy - global[ch] / cnt -
 *                xhat global[c + ch] / cnt) with the GLOBAL sums and cnt = fwd[2c], the forward's
 *                global count. dx overwritten. */
void pb_bn_sums_cpu(double *sums, const float *x, const pb_bn_params *p, int nthreads);
void pb_bn_fwd_sync_cpu(float *y, float *save_mean, float *save_invstd, float *running_mean, float *running_var,
                        const float *x, const float *gamma, const float *beta, const double *sums,
                        const pb_bn_params *p, int nthreads);
void pb_bn_bwd_sums_cpu(double *sums, const float *dy, const float *x, const float *save_mean,
                        const float *save_invstd, const pb_bn_params *p, int nthreads);
void pb_bn_bwd_sync_cpu(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *gamma,
                        const float *save_mean, const float *save_invstd, const double *local, const double *global,
                        const double *fwd, const pb_bn_params *p, int nthreads);

/* ------------------------------------------------------------------ activations (elementwise, n elements) */

void pb_relu_fwd_cpu(float *y, const float *x, size_t n);
/* dx = dy * (y > 0); uses the forward OUTPUT y (so it can run in place). */
void pb_relu_bwd_cpu(float *dx, const float *dy, const float *y, size_t n);
void pb_sigmoid_fwd_cpu(float *y, const float *x, size_t n);
/* dx = dy * y * (1 - y); y the forward output. */
void pb_sigmoid_bwd_cpu(float *dx, const float *dy, const float *y, size_t n);

/* ------------------------------------------------------------------ pooling */

typedef struct pb_pool_params {
  int n, c, h_in, w_in;
  int kh, kw, stride_h, stride_w, pad_h, pad_w;
  int count_include_pad; /* avg pool: PyTorch default 1 */
  int h_out, w_out;      /* set by pb_pool_params_finish (floor mode) */
  int nhwc;              /* 1: x [n, h_in, w_in, c], y and argmax [n, h_out, w_out, c]; argmax keeps
                            the index h*w_in+w within the input plane (as NCHW: bitwise equal) */
} pb_pool_params;

/* Computes h_out, w_out. Returns 0, or -1 when the output is empty or pad > kernel/2. */
int pb_pool_params_finish(pb_pool_params *p);

/* y [n,c,h_out,w_out] overwritten; argmax [n,c,h_out,w_out] = flat index h*w_in+w of the max
 * within the input plane (first max on ties, as PyTorch's CPU kernel; padding is -inf); argmax
 * may be NULL (evaluation: nothing for a backward). */
void pb_maxpool_fwd_cpu(float *y, int32_t *argmax, const float *x, const pb_pool_params *p);
/* dx overwritten (zeroed, then dy scattered to argmax). */
void pb_maxpool_bwd_cpu(float *dx, const float *dy, const int32_t *argmax, const pb_pool_params *p);
void pb_avgpool_fwd_cpu(float *y, const float *x, const pb_pool_params *p);
void pb_avgpool_bwd_cpu(float *dx, const float *dy, const pb_pool_params *p);

/* Global average pool: x [n,c,hw] -> y [n,c]. dx overwritten. */
void pb_gap_fwd_cpu(float *y, const float *x, int n, int c, int hw);
void pb_gap_bwd_cpu(float *dx, const float *dy, int n, int c, int hw);
/* The same on channels-last x / dx [n, hw, c]; y, dy [n, c]. Sums in the same order (double, pixel
 * order): bitwise pb_gap_fwd_cpu / pb_gap_bwd_cpu of the permuted tensor. */
void pb_gap_nhwc_fwd_cpu(float *y, const float *x, int n, int c, int hw);
void pb_gap_nhwc_bwd_cpu(float *dx, const float *dy, int n, int c, int hw);

/* ------------------------------------------------------------------ linear */

/* y[n,out] = x[n,in] * w[out,in]^T + b[out]  (PyTorch's nn.Linear layout). b may be NULL.
 * y overwritten. */
void pb_linear_fwd_cpu(float *y, const float *x, const float *w, const float *b, int n, int in,
                       int out, int nthreads);
/* dx[n,in] = dy * w (overwritten; dx may be NULL to skip); dw[out,in] += dy^T x;
 * db[out] += sum_n dy (db may be NULL). */
void pb_linear_bwd_cpu(float *dx, float *dw, float *db, const float *dy, const float *x,
                       const float *w, int n, int in, int out, int nthreads);

/* ------------------------------------------------------------------ elementwise and channel scale */

/* y = a + b (n elements); y may alias a or b. Backward is the identity for both inputs. */
void pb_add_fwd_cpu(float *y, const float *a, const float *b, size_t n);
/* y += x. */
void pb_accumulate_cpu(float *y, const float *x, size_t n);
/* x *= s. */
void pb_scale_cpu(float *x, float s, size_t n);

/* SE scaling: y[n,c,hw] = x[n,c,hw] * s[n,c]. */
void pb_chscale_fwd_cpu(float *y, const float *x, const float *s, int n, int c, int hw);
/* The tail of an SE block in one pass: y = relu(x * s[n,c] + r), r [n,c,hw] the shortcut: bitwise
 * pb_chscale_fwd_cpu, then pb_accumulate_cpu(y, r), then pb_relu_fwd_cpu. y may alias x or r. */
void pb_chscale_add_relu_cpu(float *y, const float *x, const float *s, const float *r, int n, int c, int hw);
/* dx = dy * s (overwritten); ds[n,c] = sum_hw dy * x (overwritten: s is an activation). */
void pb_chscale_bwd_cpu(float *dx, float *ds, const float *dy, const float *x, const float *s,
                        int n, int c, int hw);
/* The three on channels-last x, y, r, dy, dx [n, hw, c] (s, ds [n, c] as above): bitwise the NCHW
 * ops on the permuted tensors (ds summed in double in pixel order). */
void pb_chscale_nhwc_fwd_cpu(float *y, const float *x, const float *s, int n, int c, int hw);
void pb_chscale_add_relu_nhwc_cpu(float *y, const float *x, const float *s, const float *r, int n, int c, int hw);
void pb_chscale_nhwc_bwd_cpu(float *dx, float *ds, const float *dy, const float *x, const float *s, int n, int c,
                             int hw);

/* ------------------------------------------------------------------ crop add (BagNet residual) */

/* The residual add of ReBias's BagNet blocks (cpu/crop_add.c): the shortcut b is larger than the
 * branch a (unpadded convolutions) and only its top-left h x w part is added, as the released
 * identity[:, :, :-diff, :-diff]. */
typedef struct pb_crop_params {
  int n, c;       /* batch, channels */
  int h, w;       /* a, y, dy: [n, c, h, w] */
  int h_in, w_in; /* b, db: [n, c, h_in, w_in], h_in >= h, w_in >= w */
  int nhwc;       /* 1: a, y, dy [n, h, w, c] and b, db [n, h_in, w_in, c] */
} pb_crop_params;

/* A channels-last crop add is the NCHW one over one "channel" whose rows are w*c wide: the
 * top-left h x (w*c) of each [h_in, w_in*c] plane. The ops (CPU and CUDA) read nhwc = 1 params
 * through this view. */
static inline pb_crop_params pb_crop_params_nchw_view(const pb_crop_params *p) {
  pb_crop_params q = *p;
  if (p->nhwc) q.c = 1, q.w = p->w * p->c, q.w_in = p->w_in * p->c, q.nhwc = 0;
  return q;
}

/* y = a + b[:, :, :h, :w]. y overwritten; y may alias a (not b). */
void pb_add_crop_fwd_cpu(float *y, const float *a, const float *b, const pb_crop_params *p);
/* db = dy in the top-left h x w of each plane, 0 elsewhere (overwritten). The gradient with
 * respect to a is dy itself (no op). */
void pb_add_crop_bwd_cpu(float *db, const float *dy, const pb_crop_params *p);

/* ------------------------------------------------------------------ layout (cpu/layout.c)
 *
 * [run] layout = nhwc: a model turns its NCHW input channels last on entry (its first layer) and
 * a flatten before a fully connected layer turns a map back, so that the features and the
 * classifier's weights are PyTorch's. Both are permutations (exact); y and x do not overlap. */
/* y [n, hw, c] = x [n, c, hw]. */
void pb_nchw_to_nhwc_cpu(float *y, const float *x, int n, int c, int hw);
/* y [n, c, hw] = x [n, hw, c]. */
void pb_nhwc_to_nchw_cpu(float *y, const float *x, int n, int c, int hw);

/* ------------------------------------------------------------------ L2 normalisation (embeddings) */

/* Row-wise y[n,d] = x / max(||x||_2, eps), as PyTorch's F.normalize(x, dim=1, eps) (eps 1e-12 in
 * the embedding layer). norm[n] = ||x||_2 of each row (for backward; may be NULL). y overwritten;
 * sums in double. */
void pb_l2norm_fwd_cpu(float *y, float *norm, const float *x, int n, int d, float eps);
/* dx[n,d] = dy * dy/dx given the forward's y and norm (overwritten; dx may alias dy). */
void pb_l2norm_bwd_cpu(float *dx, const float *dy, const float *y, const float *norm, int n, int d, float eps);

/* ------------------------------------------------------------------ dropout */

/* Inverted dropout with counter-based randomness: element i is kept when
 * pb_rng_uniform(seed, stream, i) >= p; kept elements are scaled by 1/(1-p).
 * mask[i] = 1 when kept. y overwritten. p in [0, 1). */
void pb_dropout_fwd_cpu(float *y, uint8_t *mask, const float *x, size_t n, float p, uint64_t seed,
                        uint64_t stream);
/* dx = dy * mask / (1-p), overwritten. */
void pb_dropout_bwd_cpu(float *dx, const float *dy, const uint8_t *mask, size_t n, float p);

/* ------------------------------------------------------------------ losses (fused forward + backward) */

/* Softmax cross-entropy with label smoothing (PyTorch: target = (1-eps)*onehot + eps/k).
 * logits [n,k], labels [n] in [0,k), or < 0 for a MISSING label: that row's loss is 0 and its
 * gradient row 0 (the caller scales by 1/(labelled rows)). loss_sum[0] = SUM over samples of the per-sample loss
 * (overwritten); losses[n] per-sample loss if non-NULL; dlogits [n,k] = grad_scale *
 * d(per-sample loss)/dlogits, overwritten, if non-NULL (pass grad_scale = 1/n for a mean). */
void pb_softmax_xent_cpu(float *loss_sum, float *losses, float *dlogits, const float *logits,
                         const int32_t *labels, int n, int k, float smoothing, float grad_scale);

/* Binary cross-entropy with logits, multi-label: targets [n,k] in [0,1]. Stable form
 * max(z,0) - z*t + log(1 + exp(-|z|)). loss_sum[0] = SUM over all n*k elements (overwritten);
 * dlogits = grad_scale * (sigmoid(z) - t), overwritten, if non-NULL. */
void pb_bce_logits_cpu(float *loss_sum, float *dlogits, const float *logits, const float *targets,
                       int n, int k, float grad_scale);

/* Row-wise softmax probabilities: p[n,k] from logits (for metrics and calibration). */
void pb_softmax_fwd_cpu(float *p, const float *logits, int n, int k);
/* pred[n] = argmax of each logits row (the first maximum; a NaN never wins unless it is the
 * row's first element); *correct += the count of pred == labels (a label < 0 never counts).
 * correct may be NULL (predictions only). */
void pb_argmax_count_cpu(int32_t *pred, int *correct, const float *logits, const int32_t *labels, int n, int k);
/* t[n,k] = one-hot of labels (overwritten, for BCE targets): row i is 1 at labels[i], 0 elsewhere;
 * a label < 0 (missing) or >= k gives a zero row. n or k <= 0: nothing. */
void pb_onehot_cpu(float *t, const int32_t *labels, int n, int k);
/* acc[0] += (double)x[0]: one float loss term into a double running sum (an epoch's loss, kept
 * where the loss is, so a GPU run needs no copy per step). */
void pb_accum_f64_cpu(double *acc, const float *x);

/* ------------------------------------------------------------------ multi-label losses (cpu/multilabel.c)
 * The Inclusive Images loss (REFERENCES.md, "Inclusive Images", 4th place): per positive label, a
 * softmax cross-entropy of that label against the sample's negatives only (the other positives are
 * left out). The CUDA twins are in kernels/cuda/multilabel.cu. */

/* t[n,k] = multi-hot targets from label ROWS y[k,n] (the layout the manifest loader keeps: row c
 * holds label c for every sample): t[i*k + c] = y[c*n + i] > 0 ? 1 : 0 (any value > 0 is
 * present, <= 0 absent). t overwritten, exactly 0 or 1. n or k <= 0: nothing. */
void pb_multihot_cpu(float *t, const int32_t *y, int n, int k);

/* Inclusive loss: logits [n,k], targets [n,k] (t > 0.5 is a positive, anything else a negative;
 * multihot writes exactly 0 / 1). For sample i with positives P_i and negatives N_i, per p in P_i:
 *   CE_p = -log( exp(z_p) / (exp(z_p) + sum_{j in N_i} exp(z_j)) ) = log Z_p - z_p.
 * loss_sum[0] = SUM over all samples and all their positives of CE_p (ONE float, overwritten);
 * npos[0] = the total number of positives (ONE int64, overwritten; may be NULL), every positive
 * counted, also those of rows without negatives (the reference's denominator);
 * dlogits [n,k] = grad_scale * d(loss_sum)/dlogits, overwritten, if non-NULL:
 *   p in P_i: grad_scale * (exp(z_p) / Z_p - 1);   j in N_i: grad_scale * exp(z_j) * sum_{p in P_i} 1 / Z_p.
 * A row without positives, or without negatives (every CE_p = 0), adds 0 and gets a zero gradient
 * row. The caller averages over the batch's positives (the reference's loss / denominator) by
 * passing grad_scale = 1 / npos, with npos counted on the host from the host labels.
 * Every row is computed in double from the float logits, shifted by the max over its NEGATIVES
 * (not the row max: a positive far above the negatives would underflow every exp(z_j - max)),
 * and rounded to float once; rows summed in order. n or k <= 0: loss_sum 0, npos 0. */
void pb_inclusive_loss_cpu(float *loss_sum, int64_t *npos, float *dlogits, const float *logits, const float *targets,
                           int n, int k, float grad_scale);

/* ------------------------------------------------------------------ debiasing losses (cpu/debias.c)
 *
 * The fused losses of the two comparison methods of ReBias (REFERENCES.md, "ReBias"; clovaai/rebias
 * criterions/comparison_methods.py), forward and backward in one pass over the rows. Every row
 * is computed in double from float inputs; a row whose label is < 0 (missing) adds nothing and
 * gets zero gradients. The loss sums are over the rows, in double, stored as float
 * (overwritten). Gradients are overwritten when their pointer is non-NULL. The CUDA twins
 * (kernels/cuda/debias.cu) compute the same formulas, one block per row, and sum the rows in
 * a fixed order (reduce_det.cuh). */

/* RUBi (Cadene et al. 2019): f [n,k] the de-biased model's logits, h [n,k] the head's logits
 * on the biased model's features. Per labelled row, s = sigmoid(h), p = softmax(f * s),
 * q = softmax(h), e_y the one-hot of the label:
 *   loss[0] += CE(f * s, y) = -log p_y        loss[1] += CE(h, y) = -log q_y
 *   df = scale * (p - e_y) * s
 *   dh = scale * (p - e_y) * f * s * (1 - s) + scale_head * (q - e_y) */
void pb_rubi_loss_cpu(float *loss, float *df, float *dh, const float *f, const float *h, const int32_t *labels,
                      int n, int k, float scale, float scale_head);

/* LearnedMixin + H (Clark et al. 2019): f [n,k] the de-biased model's logits, g [n,k] the
 * frozen biased model's logits, a [n] the head's output on f's features. Per labelled row,
 * c = softplus(a) (as PyTorch: a > 20 gives a), u = c * g, z = f + u, p = softmax(z),
 * q = softmax(u), H = -sum_j q_j log q_j:
 *   loss[0] += CE(z, y) = -log p_y             loss[1] += H
 *   df = scale * (p - e_y)
 *   du = scale * (p - e_y) - scale_ent * q * (log q + H)
 *   da = softplus'(a) * sum_j du_j g_j           (softplus' = sigmoid; 1 for a > 20)
 * g gets no gradient. */
void pb_mixin_loss_cpu(float *loss, float *df, float *da, const float *f, const float *g, const float *a,
                       const int32_t *labels, int n, int k, float scale, float scale_ent);

/* ------------------------------------------------------------------ HSIC (cpu/hsic.c; ReBias's penalty) */

/* The Hilbert-Schmidt Independence Criterion of two feature batches with RBF kernels, as in
 * ReBias (REFERENCES.md, "ReBias"; clovaai/rebias criterions/hsic.py):
 *   x [n, dx], y [n, dy]: row i is sample i's features, flattened (the same n samples);
 *   D_ij = |x_i|^2 + |x_j|^2 - 2 x_i.x_j  (from a GEMM; NOT clamped: rounding may leave a
 *          slightly negative off-diagonal entry, as in the official code); D_ii = 0 exactly;
 *   K = exp(-D / (2 sigma_x^2)), so diag(K) = 1; L likewise from y with sigma_y;
 *   unbiased = 0: HSIC_b = tr(K H L H) / (n-1)^2, H = I - 11^T/n  (Gretton 2005);
 *   unbiased = 1: HSIC_u = [tr(Kt Lt) + (1^T Kt 1)(1^T Lt 1)/((n-1)(n-2))
 *                           - 2/(n-2) (Kt 1)^T (Lt 1)] / (n (n-3))   (Song 2012, ReBias's
 *                 default), Kt = K with its diagonal set to 0, Lt likewise.
 * HSIC is symmetric in (x, sigma_x) <-> (y, sigma_y).
 *
 * Precision (the twin, kernels/cuda/hsic.cu, does the same in the same order):
 *  - the features are centred first (column means in double): D is translation invariant,
 *    and removing a common offset (post-ReLU features are all positive) removes most of the
 *    cancellation in |x_i|^2 + |x_j|^2 - 2 x_i.x_j. The Gram matrix G = xc xc^T is a float
 *    GEMM; D_ij = G_ii + G_jj - 2 G_ij in double from the upper triangle (a < b), so K is
 *    exactly symmetric; K_ij = (float)exp(-D_ij / (2 sigma^2)) in double.
 *  - every sum over the n^2 entries is in double in two levels: each row i sums its
 *    off-diagonal terms (j != i) in order of j, then the n row sums are summed in order of i
 *    (the diagonal's contributions, K_ii = L_ii = 1, are added in closed form). The result
 *    does not depend on the thread count; only the GEMMs (row blocks, one per thread) may.
 *  - near independence HSIC_u is rounding noise around 0 (and may be negative): its error is
 *    relative to the size of its terms (~1e-6 of them), not to the value.
 *
 * Preconditions (PB_ASSERT: a violation is a bug of the caller): n >= 4 when unbiased (the
 * estimator divides by n-3), n >= 2 when biased, dx, dy >= 1, sigma_x, sigma_y > 0 and finite.
 * The caller (the HSIC loss) must turn bad configurations into user errors before calling:
 * a batch smaller than 4 (e.g. the last, short batch of an epoch: drop it or skip the
 * penalty), a sigma <= 0, and a 'median' sigma from constant features (every distance 0, so
 * the median is 0: sigma 0 is not allowed here; report it, or fall back to a fixed sigma).
 * Non-finite features give a NaN value; nothing is checked per call. */
typedef struct pb_hsic_params {
  int n, dx, dy;          /* batch, x's and y's feature dimensions */
  float sigma_x, sigma_y; /* RBF widths, > 0 */
  int unbiased;           /* 1: Song's unbiased estimator (ReBias's default), 0: Gretton's biased */
} pb_hsic_params;

/* Floats of scratch pb_hsic_fwd_cpu and pb_hsic_bwd_cpu need for these params (any thread
 * count): O(n^2 + n (dx + dy)). The scratch buffer must be 8-byte aligned (doubles live in it;
 * pb_amalloc and malloc are). */
size_t pb_hsic_scratch_cpu(const pb_hsic_params *p);

/* value[0] = HSIC(x, y) (ONE float, overwritten), x [n, dx], y [n, dy]. */
void pb_hsic_fwd_cpu(float *value, const float *x, const float *y, const pb_hsic_params *p,
                     const pb_scratch *s);

/* dx [n, dx] += grad_scale * dHSIC/dx and dy [n, dy] += grad_scale * dHSIC/dy.
 * BOTH ACCUMULATE (+=), although x and y are activations: the same features also receive the
 * classifier's gradient, so the caller adds the penalty's share on top of it (grad_scale =
 * lambda, or -lambda for the g step's -HSIC). Either may be NULL: that side is detached and
 * costs nothing. Computed with GEMMs: dx = (2 grad_scale / sigma_x^2) (W xc - diag(W 1) xc),
 * W_ij = K_ij dHSIC/dK_ij (symmetrised, W_ii = 0), and the same for y with L. */
void pb_hsic_bwd_cpu(float *dx, float *dy, float grad_scale, const float *x, const float *y,
                     const pb_hsic_params *p, const pb_scratch *s);

/* d [n, n] = the squared distances D_ij = |x_i|^2 + |x_j|^2 - 2 x_i.x_j of the rows of
 * x [n, dim] (overwritten), for the 'median' sigma: a float GEMM of x (NOT centred: no
 * scratch), then D_ij = G_ii + G_jj - 2 G_ij in double from the upper triangle, mirrored;
 * D_ii = 0 exactly; not clamped. n >= 1, dim >= 1. */
void pb_sqdist_cpu(float *d, const float *x, int n, int dim);

/* A host helper, not an op: the median of d[count] as numpy's np.median (the mean of the two
 * middle values for an even count), over every entry given: for ReBias, all n^2 entries of
 * one or more pb_sqdist_cpu matrices, the zero diagonal and both (i,j) and (j,i) included.
 * The median itself is sigma^2: sigma = sqrt(median). count >= 1; d is not modified (a copy
 * is sorted: it allocates count floats, aborting on exhaustion). NaN entries: NaN. */
double pb_median_sqdist(const float *d, size_t count);

/* ------------------------------------------------------------------ triplet loss (cpu/triplet.c)
 *
 * The triplet loss of Hermans, Beyer and Leibe 2017 (REFERENCES.md, "Metric learning and
 * verification") over one batch, forward and backward fused:
 *   e [n, d]: the embeddings (L2-normalised or not: the op does not care);
 *   labels [n]: int32 identities; a label < 0 IGNORES the row entirely (no anchor, positive or
 *     negative; its gradient row is 0). Any other values, in any order (no P x K layout assumed).
 *   distance: squared = 0: d_ij = sqrt(s_ij + 1e-12), s_ij = sum_k (e_ik - e_jk)^2 (the 1e-12
 *     keeps d's gradient finite at s = 0: duplicate rows have d = 1e-6 and gradient 0);
 *     squared = 1: d_ij = s_ij. s_ij by DIRECT DIFFERENCES in double (each difference of two
 *     floats is exact in double; squares and the sum over k, in order k = 0..d-1, in double),
 *     not by the Gram form |a|^2 + |b|^2 - 2ab, whose cancellation can go negative: s_ij >= 0
 *     always, so REFERENCES.md's max(s, 0) is a no-op here. d_ij == d_ji bitwise.
 *   positives of anchor a: p != a with labels[p] == labels[a]; negatives: labels[n] >= 0 and
 *     != labels[a]. An anchor (labels[a] >= 0) with no positive or no negative is EXCLUDED:
 *     it adds no term, never a NaN, and is counted.
 *   m(x) = max(x + margin, 0) (hinge; gradient 1 where x + margin > 0, else 0, as relu), or
 *     soft = 1: m(x) = softplus(x) = log1p(exp(x)), computed stably (x > 0: x + log1p(exp(-x)));
 *     the paper's soft margin, with no margin (params.margin is unused).
 *   mode PB_TRIPLET_BATCH_HARD: one term per valid anchor, m(d_ap* - d_an*), p* = the hardest
 *     positive (largest d_ap), n* = the hardest negative (smallest d_an); TIES go to the
 *     SMALLEST INDEX (CPU and CUDA alike: d is computed bitwise alike on both).
 *   mode PB_TRIPLET_BATCH_ALL: one term per valid triplet (a, p, n), m(d_ap - d_an).
 *   reduction PB_TRIPLET_MEAN_ALL: loss = sum of the terms / the number of terms (valid anchors
 *     or triplets); PB_TRIPLET_MEAN_NONZERO: sum of the terms / the number of terms > 0
 *     (pytorch-metric-learning's default for its TripletMarginLoss: AvgNonZeroReducer, i.e.
 *     threshold 0, strict; with soft = 1 every term is > 0, so the two agree, unless a term
 *     underflows to 0 (x below about -745)). Both apply to both modes; the paper's batch-hard is
 *     MEAN_ALL. A zero denominator
 *     (no valid term, or no term > 0) gives loss 0 and a zero gradient: no NaN.
 * Outputs:
 *   loss[0] = the reduced loss (ONE float, overwritten), from a double sum over the anchors in
 *     order, rounded once;
 *   counts[PB_TRIPLET_NCOUNTS] (int64, overwritten; may be NULL):
 *     [PB_TRIPLET_VALID]    valid terms: anchors (batch-hard) or triplets (batch-all);
 *     [PB_TRIPLET_NONZERO]  terms > 0 (the MEAN_NONZERO denominator);
 *     [PB_TRIPLET_ACTIVE]   terms > 1e-5 (REFERENCES.md's "active" fraction = ACTIVE / VALID);
 *     [PB_TRIPLET_EXCLUDED] labelled anchors with no positive or no negative (ignored rows are
 *                           not counted: they are no anchors);
 *   de [n, d] = grad_scale * dloss/de, OVERWRITTEN (an activation gradient), computed in double
 *     and rounded once per element; may be NULL (forward only). The denominator is data-dependent
 *     (the non-zero count), so the op reduces itself and the caller only scales (a loss weight;
 *     1 for the plain loss). Where that scale or the denominator is 0, de is exactly +0.
 * Gradient (for the file comments and the twin): every term's weight w = m'(x) goes to the pair
 * coefficients r_ap += w, r_an -= w (r [n, n], row a = the anchor's); then with c_ij = r_ij + r_ji
 *   de_i = grad_scale / denominator * sum_j c_ij g_ij (e_i - e_j),  g_ij = 1 / d_ij or 2 (squared).
 * Cost: O(n^2 d) for the distances and the gradient; batch-hard O(n^2), batch-all
 * O(sum_a npos_a nneg_a) <= O(n^3) terms: fine for n up to a few hundred.
 * Threads: anchors and gradient rows are independent and every sum has a fixed order (rows j in
 * order, anchors in order), so results are BITWISE THE SAME FOR EVERY THREAD COUNT.
 * Non-finite embeddings give unspecified values (possibly NaN), never an out-of-bounds access.
 * Preconditions (PB_ASSERT): n >= 0, d >= 1, mode and reduction valid, margin finite. */
typedef enum pb_triplet_mode { PB_TRIPLET_BATCH_HARD = 0, PB_TRIPLET_BATCH_ALL = 1 } pb_triplet_mode;
typedef enum pb_triplet_reduction { PB_TRIPLET_MEAN_ALL = 0, PB_TRIPLET_MEAN_NONZERO = 1 } pb_triplet_reduction;
enum { PB_TRIPLET_VALID = 0, PB_TRIPLET_NONZERO = 1, PB_TRIPLET_ACTIVE = 2, PB_TRIPLET_EXCLUDED = 3, PB_TRIPLET_NCOUNTS = 4 };

typedef struct pb_triplet_params {
  int n, d;      /* e [n, d], labels [n] */
  int mode;      /* pb_triplet_mode */
  int reduction; /* pb_triplet_reduction */
  int soft;      /* 1: softplus (soft margin), 0: hinge with margin */
  int squared;   /* 1: squared Euclidean distances, 0: Euclidean */
  float margin;  /* the hinge's margin (unused when soft) */
} pb_triplet_params;

/* Floats of scratch pb_triplet_loss_cpu needs for these params (any thread count): room for
 * 2 n^2 + n d + 5 n doubles (n = 300, d = 128: 1.8 MB). The buffer must be 8-byte aligned
 * (doubles live in it; pb_amalloc and malloc are). n = 0 needs none (buf may be NULL). */
size_t pb_triplet_scratch_cpu(const pb_triplet_params *p);

/* The loss, counts and gradient above. e, labels: host arrays; de must not alias e. */
void pb_triplet_loss_cpu(float *loss, int64_t *counts, float *de, const float *e, const int32_t *labels,
                         float grad_scale, const pb_triplet_params *p, const pb_scratch *s);

/* The figures a training run accumulates from one batch's loss and counts (the op's outputs
 * above, read where they live: no host round trip on a GPU): out[3] (overwritten) =
 *   {loss[0] * rows, (VALID > 0 ? ACTIVE / VALID : 0) * rows, EXCLUDED},
 * rows = the batch's labelled rows, so that sums over batches divided by the rows seen give the
 * row-weighted mean loss, the mean active fraction and the fraction of anchors excluded. */
void pb_triplet_stats_cpu(float *out, const float *loss, const int64_t *counts, int rows);

/* ------------------------------------------------------------------ LSTM (cpu/lstm.c)
 *
 * A stack of LSTM layers with PyTorch's nn.LSTM semantics (REFERENCES.md, "LSTM"), sequence
 * major (batch_first = False), over ragged sequences as nn.LSTM over a packed sequence
 * (pack_padded_sequence(enforce_sorted = False)):
 *   x [T, N, D]: step t of sequence n; steps t >= lengths[n] are not read as data, but they
 *     are multiplied by zero in the weight gradient: keep them finite (zeros);
 *   lengths [N]: host int32, each in 1..T (not validated: the caller checks); any order;
 *   y [T, N, dirs*H]: the last layer's output, forward direction in [0, H), reverse in
 *     [H, 2H); rows t >= lengths[n] are zeros;
 *   h0, c0, h_n, c_n [L*dirs, N, H]: row l*dirs + d is layer l, direction d (0 forward,
 *     1 reverse). h_n / c_n hold each sequence's state after its own last step (forward:
 *     after step lengths[n]-1; reverse: it starts at step lengths[n]-1 and ends after step 0).
 * Cell (gate order i, f, g, o): gates = x W_ih^T + b_ih + h W_hh^T + b_hh; i, f, o = sigmoid,
 * g = tanh; c' = f c + i g; h' = o tanh(c'). Layer l > 0 reads layer l-1's output
 * [T, N, dirs*H]; with dropout p > 0 in training it reads it through inverted dropout:
 *   element e (the flat index in [T, N, dirs*H]) of layer l's input is kept when
 *   pb_rng_uniform(seed, stream, ((uint64_t)l << 40) | e) >= p, and scaled by 1/(1-p)
 * (pb_lstm_dropout_mask_cpu gives that mask). Counter-based, so the CUDA twin draws the same
 * mask: it runs cuDNN one layer at a time when p > 0 and applies plumb's dropout in between.
 * p = 0 draws nothing (bitwise the same as no dropout); evaluation never drops (as nn.LSTM).
 *
 * Weights: ONE flat float buffer w, PyTorch's _flat_weights order, packed without padding:
 * for each layer l, for each direction (forward, then reverse):
 *   weight_ih_l{l}[_reverse] [4H, in]   in = D for l = 0, dirs*H after
 *   weight_hh_l{l}[_reverse] [4H, H]
 *   bias_ih_l{l}[_reverse]   [4H]
 *   bias_hh_l{l}[_reverse]   [4H]
 * (rows in gate order i, f, g, o, cuDNN's linLayerID order 0-3 for W_ih and 4-7 for W_hh;
 * CUDNN_RNN_DOUBLE_BIAS). A layer's tensors are one contiguous block (the unit a per-layer
 * cuDNN call needs). cuDNN's weight space is opaque: the CUDA twin maps every matrix and bias
 * with cudnnGetRNNWeightParams, gathers w into cuDNN's layout before each call and adds cuDNN's
 * weight gradient into dw after the backward (kernels/cuda/lstm.cu). dw has the same layout. pb_lstm_weight_at names each tensor for checkpoints.
 *
 * Training forward saves what backward needs in a caller-provided reserve buffer
 * (pb_lstm_reserve_cpu floats; owned by the caller, read by backward, left untouched in
 * between). Evaluation needs none. All three ops take scratch (pb_lstm_scratch_cpu floats).
 *
 * Computation (the CPU reference): per layer and direction, the input projection of all T
 * steps is one GEMM [T*N, in] x W_ih^T, the recurrence one GEMM [N, H] x W_hh^T per step, the
 * weight gradients one GEMM each over all T*N rows. OpenMP over at most nthreads threads, in
 * blocks whose size does not depend on nthreads (batch rows for the recurrence, which are
 * independent sequences; rows of the GEMMs otherwise), and every sum in a fixed order:
 * results are BITWISE THE SAME FOR EVERY THREAD COUNT. */
typedef struct pb_lstm_params {
  int seq_len;       /* T >= 1: steps of x and y (the longest length) */
  int batch;         /* N >= 1 */
  int input_size;    /* D >= 1 */
  int hidden_size;   /* H >= 1 */
  int num_layers;    /* L >= 1 */
  int bidirectional; /* 0: dirs = 1; 1: dirs = 2 */
  float dropout;     /* p in [0, 1): on the input of layers l >= 1, training only */
} pb_lstm_params;

/* One named tensor of the flat weight buffer. */
typedef struct pb_lstm_weight {
  char name[32]; /* PyTorch's parameter name: weight_ih_l0, bias_hh_l1_reverse, ... */
  size_t offset; /* floats from the start of w */
  int ndim;      /* 2 (weights) or 1 (biases) */
  int shape[2];  /* [4H, in], [4H, H], or [4H] (then shape[1] = 1) */
} pb_lstm_weight;

/* Floats in the flat weight buffer (and in dw). */
size_t pb_lstm_weight_floats(const pb_lstm_params *p);
/* Named tensors in it: 4 * L * dirs. */
int pb_lstm_weight_count(const pb_lstm_params *p);
/* Tensor i, 0 <= i < pb_lstm_weight_count, in buffer order (PyTorch's _flat_weights_names:
 * weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, weight_ih_l0_reverse, ...). */
pb_lstm_weight pb_lstm_weight_at(const pb_lstm_params *p, int i);

/* Floats of scratch each of the three ops needs for these params (any thread count). */
size_t pb_lstm_scratch_cpu(const pb_lstm_params *p);
/* Floats of the training forward's reserve for these params (depends on dropout > 0). */
size_t pb_lstm_reserve_cpu(const pb_lstm_params *p);

/* mask [T*N*dirs*H] (overwritten) = 1 where layer l's input element is kept in training, for
 * 1 <= l < L and dropout > 0 (the formula above). For tests and for the CUDA twin's test. */
void pb_lstm_dropout_mask_cpu(uint8_t *mask, int layer, uint64_t seed, uint64_t stream, const pb_lstm_params *p);

/* Training forward: y overwritten; h_n, c_n overwritten, each may be NULL (not written);
 * reserve [pb_lstm_reserve_cpu] overwritten, for pb_lstm_bwd_cpu. h0, c0 may be NULL (zeros),
 * independently. (seed, stream): the dropout masks (ignored when dropout == 0 or L == 1). */
void pb_lstm_fwd_train_cpu(float *y, float *h_n, float *c_n, float *reserve, const float *x, const float *h0,
                           const float *c0, const float *w, const int32_t *lengths, uint64_t seed, uint64_t stream,
                           const pb_lstm_params *p, const pb_scratch *s);

/* Evaluation forward: no dropout, no reserve. y, h_n, c_n as in training (bitwise the same
 * as the training forward's when dropout == 0). */
void pb_lstm_fwd_eval_cpu(float *y, float *h_n, float *c_n, const float *x, const float *h0, const float *c0,
                          const float *w, const int32_t *lengths, const pb_lstm_params *p, const pb_scratch *s);

/* Backward of pb_lstm_fwd_train_cpu, given the same x, h0, c0, w, lengths and params, its y
 * and its untouched reserve. dy [T, N, dirs*H]: the gradient of y (rows t >= lengths[n] are
 * not read); dh_n, dc_n [L*dirs, N, H]: of h_n and c_n; each of the three may be NULL (zero).
 *   dx [T, N, D] OVERWRITTEN (rows t >= lengths[n] are 0); may be NULL (not computed);
 *   dh0, dc0 [L*dirs, N, H] OVERWRITTEN; each may be NULL (not written); computed also
 *     when h0, c0 are NULL (the gradient at the zero state);
 *   dw [pb_lstm_weight_floats] ACCUMULATES (+=), the flat layout of w.
 * dw and dx must not alias any input. */
void pb_lstm_bwd_cpu(float *dx, float *dh0, float *dc0, float *dw, const float *dy, const float *dh_n,
                     const float *dc_n, const float *x, const float *h0, const float *c0, const float *w,
                     const float *y, const int32_t *lengths, const float *reserve, const pb_lstm_params *p,
                     const pb_scratch *s);

/* ------------------------------------------------------------------ sequence layout and pooling (cpu/seq.c)
 *
 * The LSTM layer's glue between plumb's batch-major samples [N, T, D] and the LSTM op's
 * sequence-major [T, N, D], and its pooling over each sequence's valid steps. lengths [N]:
 * int32 in 1..T, in the op's memory (the CUDA twins read it on the device). */

/* y [B, A, D] = x [A, B, D] with the first two dimensions swapped: y[b][a][:] = x[a][b][:]
 * (overwrite; y and x do not overlap). */
void pb_seq_swap01_cpu(float *y, const float *x, int a, int b, int d, int nthreads);
/* Mean over the valid steps of x [T, N, C] (sequence-major): y [N, C] (overwrite),
 * y[n][c] = (sum over t < lengths[n] of x[t][n][c], in t order, in double) / lengths[n]. */
void pb_seq_mean_fwd_cpu(float *y, const float *x, const int32_t *lengths, int t, int n, int c, int nthreads);
/* Its backward: dx [T, N, C] (overwrite) = dy[n][c] / lengths[n] for t < lengths[n], 0 after. */
void pb_seq_mean_bwd_cpu(float *dx, const float *dy, const int32_t *lengths, int t, int n, int c, int nthreads);

/* ------------------------------------------------------------------ optimizers (flat parameter block) */

typedef struct pb_sgd_params {
  float lr, momentum, dampening, weight_decay;
  int nesterov;
} pb_sgd_params;

/* PyTorch torch.optim.SGD semantics over n contiguous parameters. buf is the momentum
 * buffer (unused when momentum == 0); first_step != 0 means buf is initialised to the
 * (decayed) gradient instead of being updated, as PyTorch does on the first step.
 * param updated in place; grad is read only. */
void pb_sgd_step_cpu(float *param, float *buf, const float *grad, size_t n, const pb_sgd_params *p,
                     int first_step);

typedef struct pb_adam_params {
  float lr, beta1, beta2, eps, weight_decay;
  int decoupled; /* 0: Adam (L2 added to the gradient); 1: AdamW (param *= 1 - lr*wd) */
  int64_t step;  /* the step being taken, >= 1 (for bias correction) */
} pb_adam_params;

/* PyTorch torch.optim.Adam / AdamW semantics (amsgrad off). m, v: first and second moments. */
void pb_adam_step_cpu(float *param, float *m, float *v, const float *grad, size_t n,
                      const pb_adam_params *p);

/* Sum of squares in double precision (for gradient-norm clipping), deterministic. */
double pb_sumsq_cpu(const float *x, size_t n);
/* torch.nn.utils.clip_grad_norm_: when max_norm > 0, x *= max_norm / (sqrt(sumsq[0]) + 1e-6)
 * if that is below 1 (a NaN norm: no scaling). sumsq[0] from pb_sumsq_cpu. */
void pb_clip_scale_cpu(float *x, size_t n, const double *sumsq, double max_norm);

/* ------------------------------------------------------------------ data (cpu/convert.c) */

/* x[n,c,hw] = (u8/255 - mean[c]) / std[c] (every value rounded as the CUDA twin rounds it). */
void pb_u8_to_f32_norm_cpu(float *x, const uint8_t *u8, int n, int c, int hw, const float *mean, const float *std);

#endif
