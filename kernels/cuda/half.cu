/* half.cu: the CUDA twins of kernels/cpu/half.c's in-place rounding (kernels/half.h): x[i] rounded
 * to bfloat16 / binary16 and back, with the device's round-to-nearest-even conversions
 * (__float2bfloat16_rn, __float2half_rn), which give the bits of kernels/pb_half.h for every
 * number; NaNs stay NaN (their payload and sign may differ from the CPU's: compare "is NaN").
 * Enqueued on env->stream; n = 0 launches nothing. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/cuda/cuda_check.cuh"

extern "C" {
#include "kernels/ops_cuda.h"
}

#define PB_GRID_LOOP(i, n) \
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

__global__ static void pb_round_bf16_kernel(float *x, size_t n) {
  PB_GRID_LOOP(i, n) x[i] = __bfloat162float(__float2bfloat16_rn(x[i]));
}

__global__ static void pb_round_f16_kernel(float *x, size_t n) {
  PB_GRID_LOOP(i, n) x[i] = __half2float(__float2half_rn(x[i]));
}

extern "C" void pb_round_bf16_cuda(float *x, size_t n, const pb_cuda_env *env) {
  if (n == 0) return;
  pb_round_bf16_kernel<<<pb_cuda_blocks(n, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(x, n);
  PB_CUDA_CHECK_LAUNCH("pb_round_bf16_kernel");
}

extern "C" void pb_round_f16_cuda(float *x, size_t n, const pb_cuda_env *env) {
  if (n == 0) return;
  pb_round_f16_kernel<<<pb_cuda_blocks(n, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(x, n);
  PB_CUDA_CHECK_LAUNCH("pb_round_f16_kernel");
}
