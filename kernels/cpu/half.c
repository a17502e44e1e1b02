/* half.c: float32 <-> bf16 / fp16 over arrays and in-place rounding (contracts in kernels/half.h),
 * the CPU reference of the mixed-precision casts; the scalar rules are kernels/pb_half.h. Its
 * CUDA twin will be kernels/cuda/half.cu. Static schedule over elements: each is independent. */
#include "kernels/half.h"

static int pb_half_nt(int nthreads) { return nthreads < 1 ? 1 : nthreads; }

void pb_round_bf16_cpu(float *x, size_t n, int nthreads) {
#pragma omp parallel for num_threads(pb_half_nt(nthreads)) schedule(static)
  for (size_t i = 0; i < n; i++) x[i] = pb_round_bf16(x[i]);
}

void pb_round_f16_cpu(float *x, size_t n, int nthreads) {
#pragma omp parallel for num_threads(pb_half_nt(nthreads)) schedule(static)
  for (size_t i = 0; i < n; i++) x[i] = pb_round_f16(x[i]);
}

void pb_f32_to_bf16_array(uint16_t *dst, const float *src, size_t n, int nthreads) {
#pragma omp parallel for num_threads(pb_half_nt(nthreads)) schedule(static)
  for (size_t i = 0; i < n; i++) dst[i] = pb_f32_to_bf16(src[i]);
}

void pb_bf16_to_f32_array(float *dst, const uint16_t *src, size_t n, int nthreads) {
#pragma omp parallel for num_threads(pb_half_nt(nthreads)) schedule(static)
  for (size_t i = 0; i < n; i++) dst[i] = pb_bf16_to_f32(src[i]);
}

void pb_f32_to_f16_array(uint16_t *dst, const float *src, size_t n, int nthreads) {
#pragma omp parallel for num_threads(pb_half_nt(nthreads)) schedule(static)
  for (size_t i = 0; i < n; i++) dst[i] = pb_f32_to_f16(src[i]);
}

void pb_f16_to_f32_array(float *dst, const uint16_t *src, size_t n, int nthreads) {
#pragma omp parallel for num_threads(pb_half_nt(nthreads)) schedule(static)
  for (size_t i = 0; i < n; i++) dst[i] = pb_f16_to_f32(src[i]);
}
