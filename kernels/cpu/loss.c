/* loss.c: CPU losses with fused gradients (softmax cross-entropy with label smoothing,
 * binary cross-entropy with logits), row-wise softmax, argmax / correct count, one-hot targets
 * and the double loss accumulator. Its CUDA twin is kernels/cuda/loss.cu. */
#include <math.h>
#include <string.h>

#include "kernels/ops.h"

/* log(sum_j exp(z_j)) of one row, shifted by the max so exp never overflows; in double. */
static double pb_row_logsumexp(const float *z, int k) {
  float mx = z[0];
  for (int j = 1; j < k; j++) mx = z[j] > mx ? z[j] : mx;
  double s = 0.0;
  for (int j = 0; j < k; j++) s += exp((double)z[j] - (double)mx);
  return (double)mx + log(s);
}

/* Per sample, with log p_j = z_j - lse (a label < 0 is missing: loss 0, gradient 0):
 *   loss = -(1-eps) log p_y - eps/k sum_j log p_j,
 *   dloss/dz_j = p_j - (1-eps) [j == y] - eps/k. */
void pb_softmax_xent_cpu(float *loss_sum, float *losses, float *dlogits, const float *logits,
                         const int32_t *labels, int n, int k, float smoothing, float grad_scale) {
  const double eps = smoothing, off = eps / (double)k;
  double total = 0.0;
  for (int i = 0; i < n; i++) {
    const float *z = logits + (size_t)i * (size_t)k;
    const int y = labels[i];
    if (y < 0) { /* a missing label: no loss, no gradient */
      if (losses) losses[i] = 0.0f;
      if (dlogits)
        for (int j = 0; j < k; j++) dlogits[(size_t)i * (size_t)k + j] = 0.0f;
      continue;
    }
    const double lse = pb_row_logsumexp(z, k);
    double sum_logp = 0.0;
    for (int j = 0; j < k; j++) sum_logp += (double)z[j] - lse;
    const double li = -(1.0 - eps) * ((double)z[y] - lse) - off * sum_logp;
    total += li;
    if (losses) losses[i] = (float)li;
    if (dlogits) {
      float *d = dlogits + (size_t)i * (size_t)k;
      for (int j = 0; j < k; j++) {
        const double target = (j == y ? 1.0 - eps : 0.0) + off;
        d[j] = (float)((double)grad_scale * (exp((double)z[j] - lse) - target));
      }
    }
  }
  loss_sum[0] = (float)total;
}

/* Stable sigmoid: exp only of a non-positive argument. */
static inline double pb_sigmoid_d(double z) {
  if (z >= 0.0) return 1.0 / (1.0 + exp(-z));
  const double e = exp(z);
  return e / (1.0 + e);
}

void pb_bce_logits_cpu(float *loss_sum, float *dlogits, const float *logits, const float *targets,
                       int n, int k, float grad_scale) {
  const size_t total_n = (size_t)n * (size_t)k;
  double total = 0.0;
  for (size_t i = 0; i < total_n; i++) {
    const double z = logits[i], t = targets[i];
    total += (z > 0.0 ? z : 0.0) - z * t + log1p(exp(-fabs(z)));
    if (dlogits) dlogits[i] = (float)((double)grad_scale * (pb_sigmoid_d(z) - t));
  }
  loss_sum[0] = (float)total;
}

void pb_softmax_fwd_cpu(float *p, const float *logits, int n, int k) {
  for (int i = 0; i < n; i++) {
    const float *z = logits + (size_t)i * (size_t)k;
    float *pr = p + (size_t)i * (size_t)k;
    const double lse = pb_row_logsumexp(z, k);
    for (int j = 0; j < k; j++) pr[j] = (float)exp((double)z[j] - lse);
  }
}

void pb_argmax_count_cpu(int32_t *pred, int *correct, const float *logits, const int32_t *labels, int n, int k) {
  int count = 0;
  for (int i = 0; i < n; i++) {
    const float *r = logits + (size_t)i * k;
    int32_t b = 0;
    for (int j = 1; j < k; j++)
      if (r[j] > r[b]) b = j;
    pred[i] = b;
    count += labels && b == labels[i];
  }
  if (correct) *correct += count;
}

void pb_onehot_cpu(float *t, const int32_t *labels, int n, int k) {
  if (n <= 0 || k <= 0) return;
  memset(t, 0, (size_t)n * (size_t)k * sizeof(float));
  for (int i = 0; i < n; i++)
    if (labels[i] >= 0 && labels[i] < k) t[(size_t)i * (size_t)k + (size_t)labels[i]] = 1.0f;
}

void pb_accum_f64_cpu(double *acc, const float *x) { acc[0] += (double)x[0]; }
