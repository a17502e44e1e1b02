/* convert.cu: u8 images to normalised float, x = (u8/255 - mean[c]) / std[c]: the CUDA twin of
 * the loader's table (pb_data_batch in loaders/dataset.c). Contract in ops_cuda.h.
 *
 * mean / std are host arrays of c <= 8 values: copied into a small struct passed by value as a
 * kernel argument (no device allocation, no copy). Per element the loader's three rounded
 * operations in its order ((float)v / 255, - mean, / std) with explicitly rounded intrinsics:
 * bitwise equal to the CPU. One grid-stride loop over n*c*hw elements. */
#include "kernels/cuda/cuda_check.cuh"

extern "C" {
#include "kernels/ops_cuda.h"
}

#define PB_NORM_MAX_C 8

typedef struct pb_norm_k {
  float mean[PB_NORM_MAX_C], std[PB_NORM_MAX_C];
} pb_norm_k;

__global__ static void pb_u8_to_f32_norm_kernel(float *x, const uint8_t *u8, size_t total, size_t hw, unsigned c,
                                                pb_norm_k nk) {
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
    const unsigned ch = (unsigned)((i / hw) % c);
    x[i] = __fdiv_rn(__fsub_rn(__fdiv_rn((float)u8[i], 255.0f), nk.mean[ch]), nk.std[ch]);
  }
}

extern "C" void pb_u8_to_f32_norm_cuda(float *x, const uint8_t *u8, int n, int c, int hw, const float *mean,
                                       const float *std, const pb_cuda_env *env) {
  if (n <= 0 || c <= 0 || hw <= 0) return;
  PB_ASSERT(c <= PB_NORM_MAX_C);
  pb_norm_k nk;
  for (int i = 0; i < PB_NORM_MAX_C; i++) nk.mean[i] = 0.0f, nk.std[i] = 1.0f;
  for (int i = 0; i < c; i++) nk.mean[i] = mean[i], nk.std[i] = std[i];
  const size_t total = (size_t)n * (size_t)c * (size_t)hw;
  pb_u8_to_f32_norm_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0,
                             pb_cuda_stream_of(env->stream)>>>(x, u8, total, (size_t)hw, (unsigned)c, nk);
  PB_CUDA_CHECK_LAUNCH("pb_u8_to_f32_norm_kernel");
}
