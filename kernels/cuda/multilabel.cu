/* multilabel.cu: multi-hot targets from label rows, and the Inclusive Images loss (each positive's
 * softmax cross-entropy against the sample's negatives) with its fused gradient: the CUDA twin of
 * kernels/cpu/multilabel.c. Contracts in ops.h / ops_cuda.h.
 *
 * Precision: as the CPU, every row is computed in DOUBLE from the float logits (the negatives'
 * max in float, exp / log / log1p / expm1 in double, the same case split of pb_incl_ce) and rounded
 * to float once. The double sums of a row (sum of exp over the negatives, the positives' CE and
 * their 1/Z_p weights) use a fixed block tree instead of the CPU's sequential order: they differ
 * by a few double ulps, so the floats agree with the CPU to about 1 float ulp. Every double
 * add / sub / mul around exp and log is an explicitly rounded intrinsic (__dadd_rn...), so both
 * launch paths below round exactly alike (as loss.cu).
 *
 * Determinism (no floating-point atomics; every sum has a fixed order and tree): one block of
 * PB_RED_THREADS threads per row (pb_incl_row); the row losses (double) and positive counts
 * (int64) are summed IN ROW ORDER 0..n-1 by one thread, the CPU's order. Two equivalent paths
 * (bitwise the same results):
 *   a) env->workspace holds n doubles + n int64: n blocks write the per-row values there, then
 *      one thread sums them;
 *   b) otherwise ONE block walks the rows in order and thread 0 accumulates.
 * multihot writes each element once, no arithmetic: bitwise the CPU. */
#include <math.h>

#include "kernels/cuda/reduce_det.cuh"

/* ------------------------------------------------------------------ multi-hot targets */

/* Element e = i*k + c of t from y[c*n + i] (reads strided by n, writes coalesced: t is the larger
 * traffic only when k is, and both are tiny next to a forward pass). */
__global__ static void pb_multihot_kernel(float *t, const int32_t *y, int n, int k, size_t total) {
  for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
    const size_t i = e / (size_t)k, c = e - i * (size_t)k;
    t[e] = y[c * (size_t)n + i] > 0 ? 1.0f : 0.0f;
  }
}

extern "C" void pb_multihot_cuda(float *t, const int32_t *y, int n, int k, const pb_cuda_env *env) {
  if (n <= 0 || k <= 0) return;
  const size_t total = (size_t)n * (size_t)k;
  pb_multihot_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(
      t, y, n, k, total);
  PB_CUDA_CHECK_LAUNCH("pb_multihot_kernel");
}

/* ------------------------------------------------------------------ inclusive loss */

typedef struct pb_incl_args {
  float *dlogits;
  const float *logits, *targets;
  int k;
  double grad_scale;
} pb_incl_args;


/* CE_p and *lw = m - log Z_p, the CPU's pb_incl_ce (kernels/cpu/multilabel.c) with explicit roundings. */
__device__ static inline double pb_incl_ce_dev(double zp, double m, double s, double *lw) {
  if (zp > m) {
    const double ce = log1p(__dmul_rn(s, exp(__dsub_rn(m, zp))));
    *lw = __dsub_rn(__dsub_rn(m, zp), ce);
    return ce;
  }
  const double l = log(__dadd_rn(exp(__dsub_rn(zp, m)), s));
  *lw = -l;
  return __dadd_rn(l, __dsub_rn(m, zp));
}

/* Row i, called by every thread of a block (every branch below is uniform over the block, so no
 * barrier is skipped by some threads only). Returns the row's loss to all threads and its number
 * of positives in *np_out. */
__device__ static double pb_incl_row(const pb_incl_args &a, int i, double *shd, float *shf, int *np_out) {
  const int k = a.k;
  const float *z = a.logits + (size_t)i * (size_t)k;
  const float *t = a.targets + (size_t)i * (size_t)k;
  float *d = a.dlogits ? a.dlogits + (size_t)i * (size_t)k : NULL;
  float mx = -INFINITY;
  double cnt = 0.0; /* positives of this thread: an exact integer in double */
  for (int j = threadIdx.x; j < k; j += PB_RED_THREADS) {
    if (t[j] > 0.5f)
      cnt += 1.0;
    else
      mx = z[j] > mx ? z[j] : mx;
  }
  const int np = (int)pb_block_sum_d(cnt, shd);
  *np_out = np;
  const int nn = k - np;
  if (np == 0 || nn == 0) { /* nothing to contrast: loss 0, gradient 0 */
    if (d)
      for (int j = threadIdx.x; j < k; j += PB_RED_THREADS) d[j] = 0.0f;
    return 0.0;
  }
  const double m = (double)pb_block_max_f(mx, shf);
  double s = 0.0;
  for (int j = threadIdx.x; j < k; j += PB_RED_THREADS)
    if (!(t[j] > 0.5f)) s = __dadd_rn(s, exp(__dsub_rn((double)z[j], m)));
  s = pb_block_sum_d(s, shd);
  double row = 0.0, w = 0.0;
  for (int j = threadIdx.x; j < k; j += PB_RED_THREADS) {
    if (!(t[j] > 0.5f)) continue;
    double lw;
    const double ce = pb_incl_ce_dev((double)z[j], m, s, &lw);
    row = __dadd_rn(row, ce);
    w = __dadd_rn(w, exp(lw));
    if (d) d[j] = (float)__dmul_rn(a.grad_scale, expm1(-ce));
  }
  row = pb_block_sum_d(row, shd);
  w = pb_block_sum_d(w, shd);
  if (d)
    for (int j = threadIdx.x; j < k; j += PB_RED_THREADS)
      if (!(t[j] > 0.5f)) d[j] = (float)__dmul_rn(a.grad_scale, __dmul_rn(exp(__dsub_rn((double)z[j], m)), w));
  return row;
}

/* Path a: block i handles row i; its loss and count go to the workspace. */
__global__ static void __launch_bounds__(PB_RED_THREADS)
    pb_incl_rows_kernel(double *row_loss, int64_t *row_np, pb_incl_args a) {
  __shared__ double shd[PB_RED_THREADS];
  __shared__ float shf[PB_RED_THREADS];
  const int i = (int)blockIdx.x;
  int np;
  const double li = pb_incl_row(a, i, shd, shf, &np);
  if (threadIdx.x == 0) row_loss[i] = li, row_np[i] = np;
}

/* Sums of the row values in row order (the CPU's order), one thread. */
__global__ static void pb_incl_total_kernel(float *loss_sum, int64_t *npos, const double *row_loss,
                                            const int64_t *row_np, int n) {
  if (threadIdx.x != 0) return;
  double total = 0.0;
  int64_t count = 0;
  for (int i = 0; i < n; i++) total = __dadd_rn(total, row_loss[i]), count += row_np[i];
  loss_sum[0] = (float)total;
  if (npos) npos[0] = count;
}

/* Path b: one block, rows in order, thread 0 accumulates (same row code, same order). */
__global__ static void __launch_bounds__(PB_RED_THREADS)
    pb_incl_single_kernel(float *loss_sum, int64_t *npos, pb_incl_args a, int n) {
  __shared__ double shd[PB_RED_THREADS];
  __shared__ float shf[PB_RED_THREADS];
  double total = 0.0;
  int64_t count = 0;
  for (int i = 0; i < n; i++) {
    int np;
    const double li = pb_incl_row(a, i, shd, shf, &np);
    if (threadIdx.x == 0) total = __dadd_rn(total, li), count += np;
  }
  if (threadIdx.x == 0) {
    loss_sum[0] = (float)total;
    if (npos) npos[0] = count;
  }
}

extern "C" void pb_inclusive_loss_cuda(float *loss_sum, int64_t *npos, float *dlogits, const float *logits,
                                       const float *targets, int n, int k, float grad_scale, const pb_cuda_env *env) {
  cudaStream_t st = pb_cuda_stream_of(env->stream);
  if (n <= 0 || k <= 0) { /* the CPU writes 0 and 0: all-zero bytes */
    PB_CUDA_CHECK(cudaMemsetAsync(loss_sum, 0, sizeof(float), st));
    if (npos) PB_CUDA_CHECK(cudaMemsetAsync(npos, 0, sizeof(int64_t), st));
    return;
  }
  pb_incl_args a;
  a.dlogits = dlogits, a.logits = logits, a.targets = targets, a.k = k, a.grad_scale = grad_scale;
  const size_t need = (size_t)n * (sizeof(double) + sizeof(int64_t));
  if (env->workspace && env->workspace_bytes >= need) {
    double *row_loss = (double *)env->workspace; /* cudaMalloc: 256-byte aligned */
    int64_t *row_np = (int64_t *)(row_loss + n);
    pb_incl_rows_kernel<<<(unsigned int)n, PB_RED_THREADS, 0, st>>>(row_loss, row_np, a);
    PB_CUDA_CHECK_LAUNCH("pb_incl_rows_kernel");
    pb_incl_total_kernel<<<1, 32, 0, st>>>(loss_sum, npos, row_loss, row_np, n);
    PB_CUDA_CHECK_LAUNCH("pb_incl_total_kernel");
  } else {
    pb_incl_single_kernel<<<1, PB_RED_THREADS, 0, st>>>(loss_sum, npos, a, n);
    PB_CUDA_CHECK_LAUNCH("pb_incl_single_kernel");
  }
}
