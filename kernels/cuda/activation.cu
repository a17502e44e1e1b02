/* activation.cu: ReLU and sigmoid, forward and backward: the CUDA twin of
 * kernels/cpu/activation.c (contracts in ops.h / ops_cuda.h).
 *
 * One grid-stride loop per op, one element per thread iteration, the CPU's formulas operation
 * by operation with explicitly rounded intrinsics (__fadd_rn, __fmul_rn, __fdiv_rn), so nvcc
 * never contracts a multiply and an add into an FMA where the CPU rounds twice:
 *  - relu fwd / bwd and sigmoid bwd are bitwise equal to the CPU (same comparisons, so the
 *    same NaN behaviour: relu passes NaN through, relu bwd of a NaN y gives 0);
 *  - sigmoid fwd differs only by CUDA's expf (<= 2 ulp) against glibc's: a few ulp.
 * In-place use (y == x, dx == dy) is fine: each element is read before it is written by the
 * same thread. */
#include <math.h>

#include "kernels/cuda/cuda_check.cuh"

extern "C" {
#include "kernels/ops_cuda.h"
}

#define PB_GRID_LOOP(i, n) \
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

__global__ static void pb_relu_fwd_kernel(float *y, const float *x, size_t n) {
  PB_GRID_LOOP(i, n) {
    const float v = x[i];
    y[i] = v < 0.0f ? 0.0f : v; /* NaN propagates, -0 stays -0: as the CPU */
  }
}

__global__ static void pb_relu_bwd_kernel(float *dx, const float *dy, const float *y, size_t n) {
  PB_GRID_LOOP(i, n) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* exp only of a non-positive argument: no overflow for large |x| (as the CPU). */
__device__ static inline float pb_sigmoidf_dev(float x) {
  if (x >= 0.0f) return __fdiv_rn(1.0f, __fadd_rn(1.0f, expf(-x)));
  const float e = expf(x);
  return __fdiv_rn(e, __fadd_rn(1.0f, e));
}

__global__ static void pb_sigmoid_fwd_kernel(float *y, const float *x, size_t n) {
  PB_GRID_LOOP(i, n) y[i] = pb_sigmoidf_dev(x[i]);
}

/* dy * y * (1 - y), left to right as C evaluates it. */
__global__ static void pb_sigmoid_bwd_kernel(float *dx, const float *dy, const float *y, size_t n) {
  PB_GRID_LOOP(i, n) {
    const float yv = y[i];
    dx[i] = __fmul_rn(__fmul_rn(dy[i], yv), __fsub_rn(1.0f, yv));
  }
}

extern "C" void pb_relu_fwd_cuda(float *y, const float *x, size_t n, const pb_cuda_env *env) {
  if (n == 0) return;
  pb_relu_fwd_kernel<<<pb_cuda_blocks(n, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(y, x,
                                                                                                                 n);
  PB_CUDA_CHECK_LAUNCH("pb_relu_fwd_kernel");
}

extern "C" void pb_relu_bwd_cuda(float *dx, const float *dy, const float *y, size_t n, const pb_cuda_env *env) {
  if (n == 0) return;
  pb_relu_bwd_kernel<<<pb_cuda_blocks(n, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(
      dx, dy, y, n);
  PB_CUDA_CHECK_LAUNCH("pb_relu_bwd_kernel");
}

extern "C" void pb_sigmoid_fwd_cuda(float *y, const float *x, size_t n, const pb_cuda_env *env) {
  if (n == 0) return;
  pb_sigmoid_fwd_kernel<<<pb_cuda_blocks(n, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(
      y, x, n);
  PB_CUDA_CHECK_LAUNCH("pb_sigmoid_fwd_kernel");
}

extern "C" void pb_sigmoid_bwd_cuda(float *dx, const float *dy, const float *y, size_t n, const pb_cuda_env *env) {
  if (n == 0) return;
  pb_sigmoid_bwd_kernel<<<pb_cuda_blocks(n, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(
      dx, dy, y, n);
  PB_CUDA_CHECK_LAUNCH("pb_sigmoid_bwd_kernel");
}
