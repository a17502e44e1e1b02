/* bn_own.cuh: private to kernels/cuda/. The pieces plumb's own batch-norm kernels share: synchronised
 * batch norm (bn_sync.cu) and fused training batch norm (bn_train_fused.cu), so that both compute
 * exactly the same per-channel sums, statistics and elementwise expressions.
 *
 * Tensors are [n, c, hw] (callers pass channels-last params through pb_bn_params_nchw_view: batch
 * norm over [n*hw, c, 1]). A channel's n*hw elements are walked by pb_bns_each as (sample,
 * position) pairs advanced by a stride, so a loop divides by hw once per thread, not once per
 * element. Every double and float operation is explicitly rounded (__dadd_rn, __fsub_rn ...): nvcc
 * cannot contract them into FMAs, and they are the CPU's expressions (kernels/cpu/bn_channel.h,
 * batchnorm.c, bn_sync.c) operation for operation.
 *
 * - pb_bn_sums_kernel: one block of PB_RED_THREADS per channel (grid.x = c); thread t sums elements
 *   t, t+T, ... of the channel in double, then the fixed tree of pb_block_sum_d (no atomics:
 *   run-to-run bitwise reproducible). sums[ch] = sum x, sums[c + ch] = sum x^2, sums[2c] = count.
 * - pb_bns_stats_of: mean = sum / cnt, biased var = sum x^2 / cnt - mean^2 (clamped at 0),
 *   invstd = 1 / sqrt(var + eps), cnt = sums[2c]; pb_bns_save writes the saved statistics and the
 *   running averages (running_var with the unbiased var * cnt / (cnt - 1)).
 * - pb_bns_affine (y = (x - mean) * alpha + beta), pb_bns_xhat, pb_bns_dx: the elementwise terms.
 * - pb_bns_parts: blocks per channel for the elementwise passes (grid (c, parts)). */
#ifndef PB_BN_OWN_CUH
#define PB_BN_OWN_CUH

#include "kernels/cuda/reduce_det.cuh"

/* Calls f(offset) for the elements first, first + stride, ... (< n*hw) of channel ch of
 * x [n, c, hw], offset into the [n, c, hw] array. */
template <class F>
__device__ static inline void pb_bns_each(size_t first, size_t stride, int n, size_t hw, size_t cstride, int ch,
                                          const F &f) {
  size_t in = first / hw, j = first % hw;
  const size_t dq = stride / hw, dr = stride % hw, base = (size_t)ch * hw;
  while (in < (size_t)n) {
    f(in * cstride + base + j);
    j += dr;
    in += dq;
    if (j >= hw) j -= hw, in++;
  }
}

/* The channel's statistics from the sums, as the CPU computes them. */
struct pb_bns_stats {
  double mean, var, invstd;
};

__device__ static inline pb_bns_stats pb_bns_stats_of(const double *sums, int c, int ch, double eps) {
  pb_bns_stats s;
  const double cnt = sums[2 * (size_t)c];
  s.mean = __ddiv_rn(sums[ch], cnt);
  s.var = __dsub_rn(__ddiv_rn(sums[c + ch], cnt), __dmul_rn(s.mean, s.mean));
  if (!(s.var > 0.0)) s.var = 0.0;
  s.invstd = __ddiv_rn(1.0, __dsqrt_rn(__dadd_rn(s.var, eps)));
  return s;
}

/* The channel's per-channel outputs of a training forward (one thread per channel writes them):
 * save_mean, save_invstd, and the running averages with momentum m, running_var with the UNBIASED
 * variance var * cnt / (cnt - 1) (cnt <= 1: the biased one, 0, instead of a division by zero). */
__device__ static inline void pb_bns_save(float *save_mean, float *save_invstd, float *running_mean,
                                          float *running_var, const pb_bns_stats &st, double cnt, double m, int ch) {
  save_mean[ch] = (float)st.mean;
  save_invstd[ch] = (float)st.invstd;
  const double vu = cnt > 1.0 ? __ddiv_rn(__dmul_rn(st.var, cnt), __dsub_rn(cnt, 1.0)) : st.var;
  const double keep = __dsub_rn(1.0, m);
  running_mean[ch] = (float)__dadd_rn(__dmul_rn(keep, (double)running_mean[ch]), __dmul_rn(m, st.mean));
  running_var[ch] = (float)__dadd_rn(__dmul_rn(keep, (double)running_var[ch]), __dmul_rn(m, vu));
}

/* (x - mean) * alpha + beta in float, alpha = (float)(gamma * invstd), mean = (float)mean: the CPU's
 * pb_bn_channel_affine (not x * alpha + shift, which cancels for a near-constant channel). */
__device__ static inline float pb_bns_affine(float x, float fmean, float alpha, float b) {
  return __fadd_rn(__fmul_rn(__fsub_rn(x, fmean), alpha), b);
}

/* xhat = (x - mean) * invstd in double. */
__device__ static inline double pb_bns_xhat(float x, double mean, double invstd) {
  return __dmul_rn(__dsub_rn((double)x, mean), invstd);
}

/* dx = k * (g - mean_g - xhat * mean_g_xhat), k = gamma * invstd: the CPU's pb_bn_channel_dx. */
__device__ static inline float pb_bns_dx(float g, double xhat, double k, double mean_g, double mean_g_xhat) {
  return (float)__dmul_rn(k, __dsub_rn(__dsub_rn((double)g, mean_g), __dmul_rn(xhat, mean_g_xhat)));
}

/* sums[ch] = sum of x over channel ch's n*hw elements, sums[c + ch] = sum of x^2 (double, fixed
 * order); block 0 also writes sums[2c] = count. grid.x = c, blockDim.x = PB_RED_THREADS. */
__global__ static void __launch_bounds__(PB_RED_THREADS)
    pb_bn_sums_kernel(double *sums, const float *x, int n, int c, size_t hw, double count) {
  __shared__ double sh[PB_RED_THREADS];
  const int ch = blockIdx.x;
  double s = 0.0, s2 = 0.0;
  pb_bns_each(threadIdx.x, PB_RED_THREADS, n, hw, (size_t)c * hw, ch, [&](size_t o) {
    const double v = x[o];
    s = __dadd_rn(s, v);
    s2 = __dadd_rn(s2, __dmul_rn(v, v));
  });
  s = pb_block_sum_d(s, sh);
  s2 = pb_block_sum_d(s2, sh);
  if (threadIdx.x == 0) {
    sums[ch] = s;
    sums[c + ch] = s2;
    if (ch == 0) sums[2 * (size_t)c] = count;
  }
}

/* Blocks per channel for the elementwise passes: enough for ~8192 blocks in all (fills any
 * current GPU), none without work, at least 1 (the per-channel outputs), within gridDim.y.
 * p: the NCHW view, c >= 1. */
static inline unsigned int pb_bns_parts(const pb_bn_params *p) {
  const size_t per_ch = (size_t)(p->n > 0 ? p->n : 0) * (size_t)(p->hw > 0 ? p->hw : 0);
  size_t want = (per_ch + PB_RED_THREADS - 1) / PB_RED_THREADS;
  const size_t cap = (size_t)8192 / (size_t)p->c;
  if (want > cap) want = cap;
  if (want > 65535) want = 65535;
  return (unsigned int)(want < 1 ? 1 : want);
}

/* The (n, hw) the kernels walk: hw >= 1 (pb_bns_each divides by it), n = 0 when there are no elements. */
static inline size_t pb_bns_hw(const pb_bn_params *p) { return p->hw > 0 ? (size_t)p->hw : 1; }

static inline int pb_bns_n(const pb_bn_params *p) { return p->hw > 0 && p->n > 0 ? p->n : 0; }

#endif
