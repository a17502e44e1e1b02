/* l2norm.cu: row-wise L2 normalisation forward and backward, the CUDA twin of
 * kernels/cpu/l2norm.c (contracts in ops.h / ops_cuda.h).
 *
 * One block of PB_RED_THREADS per row: thread t sums elements t, t+T, ... in double, then the
 * fixed shared-memory tree of pb_block_sum_d. No atomics: run-to-run bitwise reproducible. The
 * CPU sums the row sequentially in double; the two double sums differ by ~1e-16 relative, so
 * after the final rounding to float the results agree to 1 ulp (the project's reduction
 * tolerance in test_cuda_l2norm). The elementwise parts are the CPU's double expressions,
 * explicitly rounded (no FMA contraction). */
#include "kernels/cuda/reduce_det.cuh"

__global__ static void __launch_bounds__(PB_RED_THREADS)
    pb_l2norm_fwd_kernel(float *y, float *norm, const float *x, int d, double eps) {
  __shared__ double sh[PB_RED_THREADS];
  const size_t row = blockIdx.x;
  const float *xr = x + row * (size_t)d;
  float *yr = y + row * (size_t)d;
  double ss = 0.0;
  for (int j = threadIdx.x; j < d; j += PB_RED_THREADS) ss = __dadd_rn(ss, __dmul_rn((double)xr[j], (double)xr[j]));
  ss = pb_block_sum_d(ss, sh);
  const double r = sqrt(ss), den = r > eps ? r : eps;
  if (threadIdx.x == 0 && norm) norm[row] = (float)r;
  for (int j = threadIdx.x; j < d; j += PB_RED_THREADS) yr[j] = (float)__ddiv_rn((double)xr[j], den);
}

__global__ static void __launch_bounds__(PB_RED_THREADS)
    pb_l2norm_bwd_kernel(float *dx, const float *dy, const float *y, const float *norm, int d, double eps) {
  __shared__ double sh[PB_RED_THREADS];
  const size_t row = blockIdx.x;
  const float *gr = dy + row * (size_t)d, *yr = y + row * (size_t)d;
  float *dr = dx + row * (size_t)d;
  const double r = norm[row];
  if (!(r > eps)) { /* uniform over the block */
    for (int j = threadIdx.x; j < d; j += PB_RED_THREADS) dr[j] = (float)__ddiv_rn((double)gr[j], eps);
    return;
  }
  double dot = 0.0;
  for (int j = threadIdx.x; j < d; j += PB_RED_THREADS) dot = __dadd_rn(dot, __dmul_rn((double)gr[j], (double)yr[j]));
  dot = pb_block_sum_d(dot, sh); /* every gr[j] is read before any dr[j] is written: dx may alias dy */
  for (int j = threadIdx.x; j < d; j += PB_RED_THREADS)
    dr[j] = (float)__ddiv_rn(__dsub_rn((double)gr[j], __dmul_rn((double)yr[j], dot)), r);
}

extern "C" void pb_l2norm_fwd_cuda(float *y, float *norm, const float *x, int n, int d, float eps,
                                   const pb_cuda_env *env) {
  if (n <= 0 || d <= 0) return;
  pb_l2norm_fwd_kernel<<<(unsigned int)n, PB_RED_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(y, norm, x, d,
                                                                                              (double)eps);
  PB_CUDA_CHECK_LAUNCH("pb_l2norm_fwd_kernel");
}

extern "C" void pb_l2norm_bwd_cuda(float *dx, const float *dy, const float *y, const float *norm, int n, int d,
                                   float eps, const pb_cuda_env *env) {
  if (n <= 0 || d <= 0) return;
  pb_l2norm_bwd_kernel<<<(unsigned int)n, PB_RED_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(dx, dy, y, norm, d,
                                                                                              (double)eps);
  PB_CUDA_CHECK_LAUNCH("pb_l2norm_bwd_kernel");
}
