/* debias.c: the fused losses of RUBi and LearnedMixin+H (ops.h, "debiasing losses"), the CPU
 * reference. Each row in double: its log-softmax by the max-shifted log-sum-exp, the
 * gradients in the same pass. Its twin is kernels/cuda/debias.cu. */
#include <math.h>

#include <stdlib.h>

#include "kernels/ops.h"
#include "kernels/pb_common.h"

/* log(sum_j exp(z_j)) of one row of k doubles. */
static double row_lse(const double *z, int k) {
  double mx = z[0], s = 0.0;
  for (int j = 1; j < k; j++) mx = z[j] > mx ? z[j] : mx;
  for (int j = 0; j < k; j++) s += exp(z[j] - mx);
  return mx + log(s);
}

static inline double sigmoid_d(double x) {
  if (x >= 0.0) return 1.0 / (1.0 + exp(-x));
  const double e = exp(x);
  return e / (1.0 + e);
}

/* PyTorch's softplus (beta 1, threshold 20) and its derivative. */
static inline double softplus_d(double x) { return x > 20.0 ? x : log1p(exp(x)); }
static inline double softplus_grad_d(double x) { return x > 20.0 ? 1.0 : sigmoid_d(x); }

void pb_rubi_loss_cpu(float *loss, float *df, float *dh, const float *f, const float *h, const int32_t *labels,
                      int n, int k, float scale, float scale_head) {
  double *z = pb_xmalloc((size_t)k * 3 * sizeof(double)), *s = z + k, *hd = z + 2 * k;
  double fused = 0.0, head = 0.0;
  for (int i = 0; i < n; i++) {
    const float *fi = f + (size_t)i * k, *hi = h + (size_t)i * k;
    const int y = labels[i];
    if (y < 0) {
      for (int j = 0; j < k; j++) {
        if (df) df[(size_t)i * k + j] = 0.0f;
        if (dh) dh[(size_t)i * k + j] = 0.0f;
      }
      continue;
    }
    for (int j = 0; j < k; j++) {
      s[j] = sigmoid_d(hi[j]);
      z[j] = (double)fi[j] * s[j];
      hd[j] = hi[j];
    }
    const double lz = row_lse(z, k), lh = row_lse(hd, k);
    fused += lz - z[y];
    head += lh - hd[y];
    for (int j = 0; j < k; j++) {
      const double e = j == y ? 1.0 : 0.0, dz = (double)scale * (exp(z[j] - lz) - e);
      if (df) df[(size_t)i * k + j] = (float)(dz * s[j]);
      if (dh)
        dh[(size_t)i * k + j] =
            (float)(dz * (double)fi[j] * s[j] * (1.0 - s[j]) + (double)scale_head * (exp(hd[j] - lh) - e));
    }
  }
  loss[0] = (float)fused;
  loss[1] = (float)head;
  free(z);
}

void pb_mixin_loss_cpu(float *loss, float *df, float *da, const float *f, const float *g, const float *a,
                       const int32_t *labels, int n, int k, float scale, float scale_ent) {
  double *z = pb_xmalloc((size_t)k * 2 * sizeof(double)), *u = z + k;
  double ce = 0.0, ent = 0.0;
  for (int i = 0; i < n; i++) {
    const float *fi = f + (size_t)i * k, *gi = g + (size_t)i * k;
    const int y = labels[i];
    if (y < 0) {
      if (df)
        for (int j = 0; j < k; j++) df[(size_t)i * k + j] = 0.0f;
      if (da) da[i] = 0.0f;
      continue;
    }
    const double c = softplus_d(a[i]);
    for (int j = 0; j < k; j++) {
      u[j] = c * (double)gi[j];
      z[j] = (double)fi[j] + u[j];
    }
    const double lz = row_lse(z, k), lu = row_lse(u, k);
    double H = 0.0;
    for (int j = 0; j < k; j++) H -= exp(u[j] - lu) * (u[j] - lu);
    ce += lz - z[y];
    ent += H;
    double dc = 0.0;
    for (int j = 0; j < k; j++) {
      const double dz = (double)scale * (exp(z[j] - lz) - (j == y ? 1.0 : 0.0));
      const double lq = u[j] - lu, du = dz - (double)scale_ent * exp(lq) * (lq + H);
      if (df) df[(size_t)i * k + j] = (float)dz;
      dc += du * (double)gi[j];
    }
    if (da) da[i] = (float)(dc * softplus_grad_d(a[i]));
  }
  loss[0] = (float)ce;
  loss[1] = (float)ent;
  free(z);
}
