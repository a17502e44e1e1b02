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

/* Channels last: x, y, r, dy, dx [n, hw, c]. Each output element is the NCHW op's expression on the
 * same operands; ds sums pixel by pixel in double (per channel the order of the NCHW op), 64
 * channels at a time. */
void pb_chscale_nhwc_fwd_cpu(float *y, const float *x, const float *s, int n, int c, int hw) {
  for (int i = 0; i < n; i++) {
    const float *sv = s + (size_t)i * c;
    for (int j = 0; j < hw; j++) {
      const size_t off = ((size_t)i * hw + j) * c;
      for (int ch = 0; ch < c; ch++) y[off + ch] = x[off + ch] * sv[ch];
    }
  }
}

void pb_chscale_add_relu_nhwc_cpu(float *y, const float *x, const float *s, const float *r, int n, int c, int hw) {
  for (int i = 0; i < n; i++) {
    const float *sv = s + (size_t)i * c;
    for (int j = 0; j < hw; j++) {
      const size_t off = ((size_t)i * hw + j) * c;
      for (int ch = 0; ch < c; ch++) {
        const float v = x[off + ch] * sv[ch] + r[off + ch];
        y[off + ch] = v < 0.0f ? 0.0f : v;
      }
    }
  }
}

void pb_chscale_nhwc_bwd_cpu(float *dx, float *ds, const float *dy, const float *x, const float *s, int n, int c,
                             int hw) {
  enum { BLOCK = 64 }; /* channels summed together: one pass over the pixels per block, no allocation */
  for (int i = 0; i < n; i++) {
    const float *sv = s + (size_t)i * c;
    for (int c0 = 0; c0 < c; c0 += BLOCK) {
      const int c1 = c0 + BLOCK < c ? c0 + BLOCK : c;
      double acc[BLOCK] = {0};
      for (int j = 0; j < hw; j++) {
        const size_t off = ((size_t)i * hw + j) * c;
        for (int ch = c0; ch < c1; ch++) {
          acc[ch - c0] += (double)dy[off + ch] * (double)x[off + ch];
          dx[off + ch] = dy[off + ch] * sv[ch];
        }
      }
      for (int ch = c0; ch < c1; ch++) ds[(size_t)i * c + ch] = (float)acc[ch - c0];
    }
  }
}
