/* activation.c: CPU elementwise activations (ReLU, sigmoid) and their backwards.
 * Its CUDA twin will be kernels/cuda/activation.cu. */
#include <math.h>

#include "kernels/ops.h"

/* `x < 0 ? 0 : x` rather than `x > 0 ? x : 0` so that NaN propagates, as torch.relu. */
void pb_relu_fwd_cpu(float *y, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

void pb_relu_bwd_cpu(float *dx, const float *dy, const float *y, size_t n) {
  for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* exp only ever of a non-positive argument, so it cannot overflow for large |x|. */
static inline float pb_sigmoidf(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
}

void pb_sigmoid_fwd_cpu(float *y, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = pb_sigmoidf(x[i]);
}

void pb_sigmoid_bwd_cpu(float *dx, const float *dy, const float *y, size_t n) {
  for (size_t i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}
