/* convert.c: u8 -> normalised f32 batches, the CPU reference of kernels/cuda/convert.cu
 * (contract in ops.h). A 256-entry table per channel holds ((v / 255) - mean) / std computed with
 * the CUDA kernel's float operations, so both give the same bits for every byte. */
#include "kernels/ops.h"

void pb_u8_to_f32_norm_cpu(float *x, const uint8_t *u8, int n, int c, int hw, const float *mean, const float *std) {
  for (int ch = 0; ch < c; ch++) {
    float lut[256];
    for (int v = 0; v < 256; v++) lut[v] = ((float)v / 255.0f - mean[ch]) / std[ch];
    for (int i = 0; i < n; i++) {
      const uint8_t *src = u8 + ((size_t)i * c + ch) * hw;
      float *dst = x + ((size_t)i * c + ch) * hw;
      for (int j = 0; j < hw; j++) dst[j] = lut[src[j]];
    }
  }
}
