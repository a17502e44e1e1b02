/* calibration.c: reliability table, ECE and MCE (calibration.h). One pass accumulates per-bin
 * counts and confidence sums; the aggregates are formed at the end. */
#include "metrics/calibration.h"

#include <math.h>
#include <string.h>

#include "kernels/pb_common.h"

void pb_calib_boundaries(int nbins, float *b) {
  PB_ASSERT(nbins >= 1 && nbins <= PB_CALIB_MAX_BINS);
  int steps = nbins + 1, half = steps / 2;
  float step = 1.0f / (float)nbins;
  for (int i = 0; i < steps; i++) {
    /* The product of two floats is exact in double, so (float)(double product) is the float32
     * product rounded once, whatever the compiler's contraction setting. */
    if (i < half) {
      b[i] = (float)((double)step * (double)i);
    } else {
      float p = (float)((double)step * (double)(steps - i - 1));
      b[i] = 1.0f - p;
    }
  }
}

int pb_calib_bin_of(float c, const float *b, int nbins) {
  if (isnan(c)) return -1;
  /* A first guess from c * nbins, then the exact float32 comparisons decide. */
  double g = ceil((double)c * nbins) - 1;
  int i = g < 0 ? 0 : g > nbins - 1 ? nbins - 1 : (int)g;
  while (i > 0 && !(c > b[i])) i--;
  while (i < nbins - 1 && c > b[i + 1]) i++;
  return i;
}

float pb_calib_softmax_conf(const float *x, int k, int32_t *pred) {
  PB_ASSERT(k >= 1);
  int arg = 0;
  float m = x[0];
  for (int j = 0; j < k; j++) {
    if (isnan(x[j])) {
      *pred = -1;
      return NAN;
    }
    if (x[j] > m) m = x[j], arg = j;
  }
  double s = 0;
  for (int j = 0; j < k; j++) {
    float d = x[j] - m;
    s += (double)expf(d);
  }
  *pred = arg;
  return (float)(1.0 / s);
}

typedef struct {
  pb_calib *out;
  float b[PB_CALIB_MAX_BINS + 1];
  double conf_sum[PB_CALIB_MAX_BINS];
} calib_acc;

static void acc_init(calib_acc *a, int nbins, pb_calib *out) {
  PB_ASSERT(nbins >= 1 && nbins <= PB_CALIB_MAX_BINS);
  memset(out, 0, sizeof *out);
  memset(a->conf_sum, 0, sizeof a->conf_sum);
  a->out = out;
  out->nbins = nbins;
  pb_calib_boundaries(nbins, a->b);
  for (int i = 0; i < nbins; i++) out->bins[i].lower = a->b[i], out->bins[i].upper = a->b[i + 1];
}

static void acc_add(calib_acc *a, float c, int32_t pred, int32_t label) {
  pb_calib *o = a->out;
  int i = pb_calib_bin_of(c, a->b, o->nbins);
  if (i < 0) {
    o->n_nan++;
    return;
  }
  int ok = pred == label;
  o->bins[i].count++;
  o->bins[i].correct += ok;
  a->conf_sum[i] += (double)c;
}

static void acc_finish(calib_acc *a) {
  pb_calib *o = a->out;
  double conf_total = 0, ece = 0, mce = 0;
  for (int i = 0; i < o->nbins; i++) {
    pb_calib_bin *bin = &o->bins[i];
    o->n += bin->count;
    o->correct += bin->correct;
    conf_total += a->conf_sum[i];
    if (!bin->count) {
      bin->acc = bin->conf = NAN;
      continue;
    }
    bin->acc = (double)bin->correct / (double)bin->count;
    bin->conf = a->conf_sum[i] / (double)bin->count;
  }
  for (int i = 0; i < o->nbins; i++) {
    const pb_calib_bin *bin = &o->bins[i];
    if (!bin->count) continue; /* empty bins are skipped */
    double gap = fabs(bin->acc - bin->conf);
    ece += (double)bin->count / (double)o->n * gap;
    mce = gap > mce ? gap : mce;
  }
  if (o->n == 0) {
    o->accuracy = o->mean_conf = o->ece = o->mce = NAN;
  } else {
    o->accuracy = (double)o->correct / (double)o->n;
    o->mean_conf = conf_total / (double)o->n;
    o->ece = ece;
    o->mce = mce;
  }
}

void pb_calib_from_conf(const float *conf, const int32_t *pred, const int32_t *labels, long n, int nbins,
                        const uint8_t *mask, pb_calib *out) {
  PB_ASSERT(n >= 0);
  calib_acc a;
  acc_init(&a, nbins, out);
  for (long i = 0; i < n; i++) {
    if (labels[i] < 0 || (mask && !mask[i])) continue;
    acc_add(&a, conf[i], pred[i], labels[i]);
  }
  acc_finish(&a);
}

void pb_calib_from_logits(const float *logits, const int32_t *labels, long n, int k, int nbins, const uint8_t *mask,
                          pb_calib *out) {
  PB_ASSERT(n >= 0 && k >= 1);
  calib_acc a;
  acc_init(&a, nbins, out);
  for (long i = 0; i < n; i++) {
    if (labels[i] < 0 || labels[i] >= k || (mask && !mask[i])) continue;
    int32_t pred;
    float c = pb_calib_softmax_conf(logits + (size_t)i * (size_t)k, k, &pred);
    acc_add(&a, c, pred, labels[i]);
  }
  acc_finish(&a);
}

void pb_calib_from_probs(const float *probs, const int32_t *labels, long n, int k, int nbins, const uint8_t *mask,
                         pb_calib *out) {
  PB_ASSERT(n >= 0 && k >= 1);
  calib_acc a;
  acc_init(&a, nbins, out);
  for (long i = 0; i < n; i++) {
    if (labels[i] < 0 || labels[i] >= k || (mask && !mask[i])) continue;
    const float *p = probs + (size_t)i * (size_t)k;
    int32_t arg = 0;
    float c = p[0];
    for (int j = 1; j < k && !isnan(c); j++)
      if (isnan(p[j]) || p[j] > c) c = p[j], arg = j;
    acc_add(&a, c, isnan(c) ? -1 : arg, labels[i]);
  }
  acc_finish(&a);
}
