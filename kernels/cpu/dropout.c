/* dropout.c: CPU inverted dropout driven by the counter-based RNG (kernels/pb_rng.h), so the
 * mask is a pure function of (seed, stream, element index) and the CUDA twin,
 * kernels/cuda/dropout.cu, draws the very same mask. */
#include "kernels/ops.h"
#include "kernels/pb_rng.h"

void pb_dropout_fwd_cpu(float *y, uint8_t *mask, const float *x, size_t n, float p, uint64_t seed,
                        uint64_t stream) {
  const float scale = 1.0f / (1.0f - p);
  for (size_t i = 0; i < n; i++) {
    const int keep = pb_rng_uniform(seed, stream, (uint64_t)i) >= p;
    mask[i] = (uint8_t)keep;
    y[i] = keep ? x[i] * scale : 0.0f;
  }
}

void pb_dropout_bwd_cpu(float *dx, const float *dy, const uint8_t *mask, size_t n, float p) {
  const float scale = 1.0f / (1.0f - p);
  for (size_t i = 0; i < n; i++) dx[i] = mask[i] ? dy[i] * scale : 0.0f;
}
