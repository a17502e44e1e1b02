/* multilabel.c: CPU multi-label ops: multi-hot targets from label rows, and the Inclusive Images
 * loss (softmax cross-entropy of each positive against the sample's negatives only) with its
 * fused gradient. Contracts in ops.h; the CUDA twin is kernels/cuda/multilabel.cu, which uses the
 * same per-row formulas (pb_incl_* below are mirrored there). */
#include <math.h>

#include "kernels/ops.h"

void pb_multihot_cpu(float *t, const int32_t *y, int n, int k) {
  if (n <= 0 || k <= 0) return;
  for (int i = 0; i < n; i++)
    for (int c = 0; c < k; c++)
      t[(size_t)i * (size_t)k + (size_t)c] = y[(size_t)c * (size_t)n + (size_t)i] > 0 ? 1.0f : 0.0f;
}

/* Per row, with m = max over the negatives (float) and S = sum_{j in N} exp(z_j - m) >= 1 (in
 * double), a positive p has log Z_p = m + log(exp(z_p - m) + S). Written so that nothing overflows
 * or cancels, whatever the spread of the logits:
 *   z_p >  m: CE_p = log1p(S exp(m - z_p))        (small when p is far above the negatives)
 *   z_p <= m: CE_p = log(exp(z_p - m) + S) + (m - z_p)
 * softmax_p = exp(-CE_p), so the positive's gradient is grad_scale * expm1(-CE_p), and a negative's
 * exp(z_j) / Z_p = exp(z_j - m) * exp(m - log Z_p), with m - log Z_p = (m - z_p) - CE_p = -log(exp(z_p - m) + S)
 * <= 0 (returned in *lw, each case without cancellation). */
static double pb_incl_ce(double zp, double m, double s, double *lw) {
  if (zp > m) {
    const double ce = log1p(s * exp(m - zp));
    *lw = (m - zp) - ce;
    return ce;
  }
  const double l = log(exp(zp - m) + s);
  *lw = -l;
  return l + (m - zp);
}

void pb_inclusive_loss_cpu(float *loss_sum, int64_t *npos, float *dlogits, const float *logits, const float *targets,
                           int n, int k, float grad_scale) {
  double total = 0.0;
  int64_t count = 0;
  const double gs = grad_scale;
  for (int i = 0; n > 0 && k > 0 && i < n; i++) {
    const float *z = logits + (size_t)i * (size_t)k;
    const float *t = targets + (size_t)i * (size_t)k;
    float *d = dlogits ? dlogits + (size_t)i * (size_t)k : NULL;
    int np = 0, nn = 0;
    float mx = -INFINITY;
    for (int j = 0; j < k; j++) {
      if (t[j] > 0.5f) {
        np++;
      } else {
        nn++;
        mx = z[j] > mx ? z[j] : mx;
      }
    }
    count += np;
    if (np == 0 || nn == 0) { /* nothing to contrast: loss 0, gradient 0 */
      if (d)
        for (int j = 0; j < k; j++) d[j] = 0.0f;
      continue;
    }
    const double m = mx;
    double s = 0.0;
    for (int j = 0; j < k; j++)
      if (!(t[j] > 0.5f)) s += exp((double)z[j] - m);
    double row = 0.0, w = 0.0; /* w = sum_p exp(m - log Z_p) */
    for (int j = 0; j < k; j++) {
      if (!(t[j] > 0.5f)) continue;
      double lw;
      const double ce = pb_incl_ce((double)z[j], m, s, &lw);
      row += ce;
      w += exp(lw);
      if (d) d[j] = (float)(gs * expm1(-ce));
    }
    total += row;
    if (d)
      for (int j = 0; j < k; j++)
        if (!(t[j] > 0.5f)) d[j] = (float)(gs * (exp((double)z[j] - m) * w));
  }
  loss_sum[0] = (float)total;
  if (npos) npos[0] = count;
}
