/* dropout.cu: inverted dropout forward and backward: the CUDA twin of kernels/cpu/dropout.c
 * (contracts in ops.h / ops_cuda.h).
 *
 * Element i is kept when pb_rng_uniform(seed, stream, i) >= p: the same counter-based Philox
 * draw as the CPU (kernels/pb_rng.h is __host__ __device__ under nvcc), so the masks are
 * bitwise equal to the CPU's, whatever the grid. The scale 1/(1-p) is computed on the host in
 * float exactly as the CPU does and passed by value; y = x * scale is one rounded multiply,
 * so y and dx are bitwise equal to the CPU too. y may alias x, dx may alias dy. */
#include "kernels/cuda/cuda_check.cuh"

extern "C" {
#include "kernels/ops_cuda.h"
#include "kernels/pb_rng.h"
}

#define PB_GRID_LOOP(i, n) \
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

__global__ static void pb_dropout_fwd_kernel(float *y, uint8_t *mask, const float *x, size_t n, float p, float scale,
                                             uint64_t seed, uint64_t stream) {
  PB_GRID_LOOP(i, n) {
    const int keep = pb_rng_uniform(seed, stream, (uint64_t)i) >= p;
    mask[i] = (uint8_t)keep;
    y[i] = keep ? __fmul_rn(x[i], scale) : 0.0f;
  }
}

__global__ static void pb_dropout_bwd_kernel(float *dx, const float *dy, const uint8_t *mask, size_t n, float scale) {
  PB_GRID_LOOP(i, n) dx[i] = mask[i] ? __fmul_rn(dy[i], scale) : 0.0f;
}

extern "C" void pb_dropout_fwd_cuda(float *y, uint8_t *mask, const float *x, size_t n, float p, uint64_t seed,
                                    uint64_t stream, const pb_cuda_env *env) {
  if (n == 0) return;
  const float scale = 1.0f / (1.0f - p); /* as the CPU, on the host */
  pb_dropout_fwd_kernel<<<pb_cuda_blocks(n, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(
      y, mask, x, n, p, scale, seed, stream);
  PB_CUDA_CHECK_LAUNCH("pb_dropout_fwd_kernel");
}

extern "C" void pb_dropout_bwd_cuda(float *dx, const float *dy, const uint8_t *mask, size_t n, float p,
                                    const pb_cuda_env *env) {
  if (n == 0) return;
  const float scale = 1.0f / (1.0f - p);
  pb_dropout_bwd_kernel<<<pb_cuda_blocks(n, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(
      dx, dy, mask, n, scale);
  PB_CUDA_CHECK_LAUNCH("pb_dropout_bwd_kernel");
}
