/* loss.cu: fused softmax cross-entropy with label smoothing, binary cross-entropy with logits,
 * row softmax, the argmax / correct count, one-hot targets and the double loss accumulator: the
 * CUDA twin of kernels/cpu/loss.c. Contracts in ops.h / ops_cuda.h.
 *
 * Precision: as the CPU, every loss and gradient is computed in DOUBLE from the float logits
 * (row max in float, exp / log / log1p in double) and rounded to float once at the end. CUDA's
 * double exp / log are within 1 ulp of double, the CPU's libm likewise, so after the final
 * rounding to float the results agree with the CPU to 1 float ulp at most. Every double
 * add / sub / mul around exp and log is an explicitly rounded intrinsic (__dadd_rn...): nvcc
 * cannot contract them with the last multiply inside an inlined exp into an FMA, so both
 * launch paths below (and every call) round exactly alike.
 *
 * Determinism (no floating-point atomics anywhere; every sum has a fixed order and tree):
 *  - softmax xent: a row is reduced by one block of PB_RED_THREADS threads (pb_xent_row: max
 *    tree in float, sum of exp and sum of log-probabilities with fixed double trees). The
 *    per-sample losses (in double) are then summed IN ROW ORDER 0..n-1 by one thread, which is
 *    the CPU's order. Two equivalent paths (bitwise the same result):
 *      a) env->workspace holds n doubles: n blocks, one row each, write the row losses to the
 *         workspace; then one thread sums them;
 *      b) otherwise ONE block walks the rows in order and thread 0 accumulates.
 *  - bce: pb_det_sum (reduce_det.cuh) over the n*k elements, writing the gradient in passing.
 *  - argmax: one warp per row, first index of the maximum (exactly the CPU loop
 *    `if (r[j] > r[b]) b = j` from b = 0, NaN included: a NaN never wins, except r[0] = NaN
 *    which is never replaced); correct[0] += count with one integer atomicAdd per block
 *    (integer addition is associative: deterministic). correct NULL: predictions only.
 *  - onehot and accum_f64 write each element once, no sums: bitwise the CPU.
 * A label < 0 is a missing label, as on the CPU: loss 0 and a zero gradient row (multi-head
 * training, engine/trainer.c). A label >= k (undefined on the CPU) gives a NaN loss here, never a
 * wild read. */
#include <math.h>

#include "kernels/cuda/reduce_det.cuh"


/* log(sum_j exp(z_j)) of one row in double, shifted by the row max (float), as the CPU. */
__device__ static inline double pb_row_lse(const float *z, int k, double *shd, float *shf) {
  float m = -INFINITY;
  for (int j = threadIdx.x; j < k; j += PB_RED_THREADS) m = z[j] > m ? z[j] : m;
  const float mx = pb_block_max_f(m, shf);
  double s = 0.0;
  for (int j = threadIdx.x; j < k; j += PB_RED_THREADS) s = __dadd_rn(s, exp(__dsub_rn((double)z[j], (double)mx)));
  s = pb_block_sum_d(s, shd);
  return __dadd_rn((double)mx, log(s));
}

typedef struct pb_xent_args {
  float *losses, *dlogits;
  const float *logits;
  const int32_t *labels;
  int k;
  double eps, off, grad_scale; /* smoothing, smoothing / k, grad_scale: as the CPU, in double */
} pb_xent_args;

/* Row i: loss = -(1-eps) log p_y - eps/k sum_j log p_j; d_j = grad_scale * (p_j - target_j).
 * Called by every thread of a block; returns the row's loss (double) to all of them. */
__device__ static double pb_xent_row(const pb_xent_args &a, int i, double *shd, float *shf) {
  const int k = a.k;
  const float *z = a.logits + (size_t)i * (size_t)k;
  const int y = a.labels[i];
  if (y < 0) { /* a missing label (uniform over the block: no barrier is skipped by some threads only) */
    if (threadIdx.x == 0 && a.losses) a.losses[i] = 0.0f;
    if (a.dlogits)
      for (int j = threadIdx.x; j < k; j += PB_RED_THREADS) a.dlogits[(size_t)i * (size_t)k + j] = 0.0f;
    return 0.0;
  }
  const double lse = pb_row_lse(z, k, shd, shf);
  double sl = 0.0;
  for (int j = threadIdx.x; j < k; j += PB_RED_THREADS) sl = __dadd_rn(sl, __dsub_rn((double)z[j], lse));
  const double sum_logp = pb_block_sum_d(sl, shd);
  const double zy = (y >= 0 && y < k) ? (double)z[y] : (double)NAN;
  /* explicit roundings: no FMA contraction, as the CPU's -(1-eps)*(z_y - lse) - off*sum_logp */
  const double li = __dsub_rn(__dmul_rn(-(1.0 - a.eps), __dsub_rn(zy, lse)), __dmul_rn(a.off, sum_logp));
  if (threadIdx.x == 0 && a.losses) a.losses[i] = (float)li;
  if (a.dlogits) {
    float *d = a.dlogits + (size_t)i * (size_t)k;
    for (int j = threadIdx.x; j < k; j += PB_RED_THREADS) {
      const double target = __dadd_rn(j == y ? 1.0 - a.eps : 0.0, a.off);
      d[j] = (float)__dmul_rn(a.grad_scale, __dsub_rn(exp(__dsub_rn((double)z[j], lse)), target));
    }
  }
  return li;
}

/* Path a: block i handles row i; its loss goes to row_loss[i] (the workspace). */
__global__ static void __launch_bounds__(PB_RED_THREADS) pb_xent_rows_kernel(double *row_loss, pb_xent_args a) {
  __shared__ double shd[PB_RED_THREADS];
  __shared__ float shf[PB_RED_THREADS];
  const int i = (int)blockIdx.x;
  const double li = pb_xent_row(a, i, shd, shf);
  if (threadIdx.x == 0) row_loss[i] = li;
}

/* Sum of the row losses in row order (the CPU's order), one thread. */
__global__ static void pb_xent_total_kernel(float *loss_sum, const double *row_loss, int n) {
  if (threadIdx.x != 0) return;
  double total = 0.0;
  for (int i = 0; i < n; i++) total = __dadd_rn(total, row_loss[i]);
  loss_sum[0] = (float)total;
}

/* Path b: one block, rows in order, thread 0 accumulates (same row code, same order). */
__global__ static void __launch_bounds__(PB_RED_THREADS) pb_xent_single_kernel(float *loss_sum, pb_xent_args a,
                                                                               int n) {
  __shared__ double shd[PB_RED_THREADS];
  __shared__ float shf[PB_RED_THREADS];
  double total = 0.0;
  for (int i = 0; i < n; i++) {
    const double li = pb_xent_row(a, i, shd, shf);
    if (threadIdx.x == 0) total = __dadd_rn(total, li);
  }
  if (threadIdx.x == 0) loss_sum[0] = (float)total;
}

extern "C" void pb_softmax_xent_cuda(float *loss_sum, float *losses, float *dlogits, const float *logits,
                                     const int32_t *labels, int n, int k, float smoothing, float grad_scale,
                                     const pb_cuda_env *env) {
  cudaStream_t st = pb_cuda_stream_of(env->stream);
  if (n <= 0) {
    PB_CUDA_CHECK(cudaMemsetAsync(loss_sum, 0, sizeof(float), st)); /* the CPU writes 0 */
    return;
  }
  PB_ASSERT(k > 0);
  pb_xent_args a;
  a.losses = losses, a.dlogits = dlogits, a.logits = logits, a.labels = labels, a.k = k;
  a.eps = smoothing, a.off = a.eps / (double)k, a.grad_scale = grad_scale;
  if (env->workspace && env->workspace_bytes >= (size_t)n * sizeof(double)) {
    double *row_loss = (double *)env->workspace;
    pb_xent_rows_kernel<<<(unsigned int)n, PB_RED_THREADS, 0, st>>>(row_loss, a);
    PB_CUDA_CHECK_LAUNCH("pb_xent_rows_kernel");
    pb_xent_total_kernel<<<1, 32, 0, st>>>(loss_sum, row_loss, n);
    PB_CUDA_CHECK_LAUNCH("pb_xent_total_kernel");
  } else {
    pb_xent_single_kernel<<<1, PB_RED_THREADS, 0, st>>>(loss_sum, a, n);
    PB_CUDA_CHECK_LAUNCH("pb_xent_single_kernel");
  }
}

/* ------------------------------------------------------------------ BCE with logits */

/* Stable sigmoid in double: exp only of a non-positive argument (as the CPU). */
__device__ static inline double pb_sigmoid_dev_d(double z) {
  if (z >= 0.0) return __ddiv_rn(1.0, __dadd_rn(1.0, exp(-z)));
  const double e = exp(z);
  return __ddiv_rn(e, __dadd_rn(1.0, e));
}

/* Term i of the BCE sum; writes the gradient of element i in passing (visited exactly once). */
struct pb_bce_term {
  float *dlogits;
  const float *logits, *targets;
  double grad_scale;
  __device__ double operator()(size_t i) const {
    const double z = logits[i], t = targets[i];
    if (dlogits) dlogits[i] = (float)__dmul_rn(grad_scale, __dsub_rn(pb_sigmoid_dev_d(z), t));
    /* max(z,0) - z*t + log1p(exp(-|z|)), left to right, z*t rounded on its own (no FMA) */
    return __dadd_rn(__dsub_rn(z > 0.0 ? z : 0.0, __dmul_rn(z, t)), log1p(exp(-fabs(z))));
  }
};

extern "C" void pb_bce_logits_cuda(float *loss_sum, float *dlogits, const float *logits, const float *targets, int n,
                                   int k, float grad_scale, const pb_cuda_env *env) {
  const size_t total = (n <= 0 || k <= 0) ? 0 : (size_t)n * (size_t)k;
  pb_bce_term f;
  f.dlogits = dlogits, f.logits = logits, f.targets = targets, f.grad_scale = grad_scale;
  pb_det_sum<float>(loss_sum, f, total, env, "pb_bce_logits (pb_det_sum)"); /* total == 0: writes 0 */
}

/* ------------------------------------------------------------------ softmax */

__global__ static void __launch_bounds__(PB_RED_THREADS) pb_softmax_fwd_kernel(float *p, const float *logits, int k) {
  __shared__ double shd[PB_RED_THREADS];
  __shared__ float shf[PB_RED_THREADS];
  const size_t row = blockIdx.x;
  const float *z = logits + row * (size_t)k;
  float *pr = p + row * (size_t)k;
  const double lse = pb_row_lse(z, k, shd, shf);
  for (int j = threadIdx.x; j < k; j += PB_RED_THREADS) pr[j] = (float)exp(__dsub_rn((double)z[j], lse));
}

extern "C" void pb_softmax_fwd_cuda(float *p, const float *logits, int n, int k, const pb_cuda_env *env) {
  if (n <= 0 || k <= 0) return;
  pb_softmax_fwd_kernel<<<(unsigned int)n, PB_RED_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(p, logits, k);
  PB_CUDA_CHECK_LAUNCH("pb_softmax_fwd_kernel");
}

/* ------------------------------------------------------------------ argmax and correct count */

#define PB_ARGMAX_THREADS 256 /* 8 warps, one row each */

/* Is candidate (ov, oi) better than (bv, bi)? i < 0: no non-NaN value seen. Larger value wins,
 * the smaller index on equal values: the first maximum among the non-NaN values. */
__device__ static inline bool pb_argmax_better(float ov, int oi, float bv, int bi) {
  if (oi < 0) return false;
  if (bi < 0) return true;
  return ov > bv || (ov == bv && oi < bi);
}

__global__ static void __launch_bounds__(PB_ARGMAX_THREADS)
    pb_argmax_count_kernel(int32_t *pred, int *correct, const float *logits, const int32_t *labels, int n, int k) {
  const int lane = (int)(threadIdx.x & 31u);
  const long long row = (long long)blockIdx.x * (PB_ARGMAX_THREADS / 32) + (long long)(threadIdx.x >> 5);
  int hit = 0;
  if (row < (long long)n) { /* uniform within the warp: all 32 lanes take part in the shuffles */
    const float *r = logits + (size_t)row * (size_t)k;
    float bv = 0.0f;
    int bi = -1;
    for (int j = lane; j < k; j += 32) { /* increasing j: strict > keeps the first */
      const float v = r[j];
      if (bi < 0 ? !isnan(v) : v > bv) bv = v, bi = j;
    }
    for (int off = 16; off > 0; off >>= 1) {
      const float ov = __shfl_down_sync(0xffffffffu, bv, off);
      const int oi = __shfl_down_sync(0xffffffffu, bi, off);
      if (pb_argmax_better(ov, oi, bv, bi)) bv = ov, bi = oi;
    }
    if (lane == 0) {
      /* the CPU starts from b = 0 and r[j] > NaN is never true: r[0] = NaN stays the answer */
      const int b = (isnan(r[0]) || bi < 0) ? 0 : bi;
      pred[row] = b;
      hit = labels && b == labels[row];
    }
  }
  const int cnt = __syncthreads_count(hit); /* every thread of the block reaches it */
  if (threadIdx.x == 0 && cnt && correct) atomicAdd(correct, cnt);
}

extern "C" void pb_argmax_count_cuda(int32_t *pred, int *correct, const float *logits, const int32_t *labels, int n,
                                     int k, const pb_cuda_env *env) {
  if (n <= 0) return;
  PB_ASSERT(k > 0);
  const unsigned int rows_per_block = PB_ARGMAX_THREADS / 32;
  const unsigned int blocks = (unsigned int)(((size_t)n + rows_per_block - 1) / rows_per_block);
  pb_argmax_count_kernel<<<blocks, PB_ARGMAX_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(pred, correct, logits,
                                                                                           labels, n, k);
  PB_CUDA_CHECK_LAUNCH("pb_argmax_count_kernel");
}

/* ------------------------------------------------------------------ one-hot targets, double accumulator */

/* Element e = i*k + j of t: 1 when j is row i's label. A label < 0 or >= k never equals a j in
 * [0, k): a zero row, with no out-of-range write. */
__global__ static void pb_onehot_kernel(float *t, const int32_t *labels, int k, size_t total) {
  for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
    const size_t i = e / (size_t)k;
    const int j = (int)(e - i * (size_t)k);
    t[e] = labels[i] == j ? 1.0f : 0.0f;
  }
}

extern "C" void pb_onehot_cuda(float *t, const int32_t *labels, int n, int k, const pb_cuda_env *env) {
  if (n <= 0 || k <= 0) return;
  const size_t total = (size_t)n * (size_t)k;
  pb_onehot_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(
      t, labels, k, total);
  PB_CUDA_CHECK_LAUNCH("pb_onehot_kernel");
}

__global__ static void pb_accum_f64_kernel(double *acc, const float *x) {
  if (threadIdx.x == 0) acc[0] = __dadd_rn(acc[0], (double)x[0]);
}

extern "C" void pb_accum_f64_cuda(double *acc, const float *x, const pb_cuda_env *env) {
  pb_accum_f64_kernel<<<1, 32, 0, pb_cuda_stream_of(env->stream)>>>(acc, x);
  PB_CUDA_CHECK_LAUNCH("pb_accum_f64_kernel");
}
