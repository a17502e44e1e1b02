/* l2norm.c: row-wise L2 normalisation (PyTorch's F.normalize(x, p=2, dim=1, eps)), the CPU
 * reference; its CUDA twin is kernels/cuda/l2norm.cu. Contracts in ops.h.
 * Every row sum is taken in double in index order, so results are deterministic and do not
 * depend on the thread count (rows are independent). */
#include <math.h>

#include "kernels/ops.h"

void pb_l2norm_fwd_cpu(float *y, float *norm, const float *x, int n, int d, float eps) {
  for (int i = 0; i < n; i++) {
    const float *xr = x + (size_t)i * (size_t)d;
    float *yr = y + (size_t)i * (size_t)d;
    double ss = 0.0;
    for (int j = 0; j < d; j++) ss += (double)xr[j] * (double)xr[j];
    const double r = sqrt(ss), den = r > (double)eps ? r : (double)eps;
    if (norm) norm[i] = (float)r;
    for (int j = 0; j < d; j++) yr[j] = (float)((double)xr[j] / den);
  }
}

/* r > eps: y = x / r, dx = (dy - y (y . dy)) / r. r <= eps: y = x / eps (the clamp has no
 * gradient), dx = dy / eps. The saved y and r are floats; the arithmetic is in double. */
void pb_l2norm_bwd_cpu(float *dx, const float *dy, const float *y, const float *norm, int n, int d, float eps) {
  for (int i = 0; i < n; i++) {
    const float *gr = dy + (size_t)i * (size_t)d, *yr = y + (size_t)i * (size_t)d;
    float *dr = dx + (size_t)i * (size_t)d;
    const double r = norm[i];
    if (!(r > (double)eps)) {
      for (int j = 0; j < d; j++) dr[j] = (float)((double)gr[j] / (double)eps);
      continue;
    }
    double dot = 0.0;
    for (int j = 0; j < d; j++) dot += (double)gr[j] * (double)yr[j];
    for (int j = 0; j < d; j++) dr[j] = (float)(((double)gr[j] - (double)yr[j] * dot) / r);
  }
}
