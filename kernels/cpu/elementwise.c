/* elementwise.c: CPU add / accumulate / scale and the SE channel scale (chscale).
 * Its CUDA twin will be kernels/cuda/elementwise.cu. */
#include "kernels/ops.h"

/* Element i is read before y[i] is written, so y may alias a or b. */
void pb_add_fwd_cpu(float *y, const float *a, const float *b, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void pb_accumulate_cpu(float *y, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] += x[i];
}

void pb_scale_cpu(float *x, float s, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] *= s;
}

void pb_chscale_fwd_cpu(float *y, const float *x, const float *s, int n, int c, int hw) {
  const size_t planes = (size_t)n * (size_t)c, len = (size_t)hw;
  for (size_t pl = 0; pl < planes; pl++) {
    const float sv = s[pl];
    const float *xp = x + pl * len;
    float *yp = y + pl * len;
    for (size_t i = 0; i < len; i++) yp[i] = xp[i] * sv;
  }
}

void pb_chscale_add_relu_cpu(float *y, const float *x, const float *s, const float *r, int n, int c, int hw) {
  const size_t planes = (size_t)n * (size_t)c, len = (size_t)hw;
  for (size_t pl = 0; pl < planes; pl++) {
    const float sv = s[pl];
    const float *xp = x + pl * len, *rp = r + pl * len;
    float *yp = y + pl * len;
    for (size_t i = 0; i < len; i++) {
      const float v = xp[i] * sv + rp[i];
      yp[i] = v < 0.0f ? 0.0f : v;
    }
  }
}

/* ds is a per-plane sum, taken in double in index order (deterministic). */
void pb_chscale_bwd_cpu(float *dx, float *ds, const float *dy, const float *x, const float *s,
                        int n, int c, int hw) {
  const size_t planes = (size_t)n * (size_t)c, len = (size_t)hw;
  for (size_t pl = 0; pl < planes; pl++) {
    const float sv = s[pl];
    const float *xp = x + pl * len, *dyp = dy + pl * len;
    float *dxp = dx + pl * len;
    double acc = 0.0;
    for (size_t i = 0; i < len; i++) {
      acc += (double)dyp[i] * (double)xp[i];
      dxp[i] = dyp[i] * sv;
    }
    ds[pl] = (float)acc;
  }
}
