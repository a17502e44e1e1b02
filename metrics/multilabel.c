/* multilabel.c: the multi-label metrics of multilabel.h (Inclusive Images F2, per-class AP and
 * ROC AUC as scikit-learn computes them). CPU only; the references are
 * scripts/fixtures/metrics_multilabel.py (numpy + sklearn) and test/metrics/test_multilabel.c. */
#include "metrics/multilabel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pb_common.h"

double pb_ml_f2_counts(long inter, long npred, long ngt) {
  double p = npred ? (double)inter / (double)npred : 1.0;
  double r = ngt ? (double)inter / (double)ngt : 1.0;
  double den = 4.0 * p + r;
  /* the same operations in the same order as the numpy reference, so equal bit for bit */
  return den == 0.0 ? 0.0 : 5.0 * p * r / den;
}

void pb_ml_thresholds(double t[PB_ML_NTHRESH]) {
  for (int i = 0; i < PB_ML_NTHRESH; i++) t[i] = (double)i * 0.05;
}

static int known(uint8_t y) { return y != PB_ML_UNKNOWN; }
static int present(uint8_t y) { return y != 0 && y != PB_ML_UNKNOWN; }

double pb_ml_f2_mean(const float *scores, const uint8_t *truth, long n, int k, double t) {
  PB_ASSERT(n >= 1 && k >= 1);
  double sum = 0;
  for (long i = 0; i < n; i++) {
    const float *s = scores + i * k;
    const uint8_t *y = truth + i * k;
    long inter = 0, npred = 0, ngt = 0;
    for (int j = 0; j < k; j++) {
      if (!known(y[j])) continue;
      int p = (double)s[j] > t, g = present(y[j]); /* NaN > t is false */
      npred += p, ngt += g, inter += p & g;
    }
    sum += pb_ml_f2_counts(inter, npred, ngt);
  }
  return sum / (double)n;
}

void pb_ml_f2_sweep(const float *scores, const uint8_t *truth, long n, int k, pb_ml_sweep *out) {
  memset(out, 0, sizeof *out);
  pb_ml_thresholds(out->t);
  for (int i = 0; i < PB_ML_NTHRESH; i++) {
    out->f2[i] = pb_ml_f2_mean(scores, truth, n, k, out->t[i]);
    if (i == 0 || out->f2[i] > out->f2[out->best]) out->best = i; /* strict: the first best stays */
  }
  out->best_t = out->t[out->best];
  out->best_f2 = out->f2[out->best];
}

/* Whether label a ranks before label b: higher score first, NaN last, then the smaller index. */
static int ranks_before(const float *row, int a, int b) {
  float x = row[a], y = row[b];
  int xn = isnan(x), yn = isnan(y);
  if (xn != yn) return yn;
  if (!xn && x != y) return x > y;
  return a < b;
}

static void sift_down(const float *row, int *h, int root, int m) {
  /* a heap with the LAST-ranked label on top, so that popping to the end sorts best first */
  for (int c; (c = 2 * root + 1) < m; root = c) {
    if (c + 1 < m && ranks_before(row, h[c], h[c + 1])) c++;
    if (!ranks_before(row, h[root], h[c])) return;
    int tmp = h[root];
    h[root] = h[c], h[c] = tmp;
  }
}

int pb_ml_select(const float *row, const uint8_t *truth_row, int k, double t, int min_labels, int max_labels,
                 int *out) {
  PB_ASSERT(k >= 1 && min_labels >= 0 && (max_labels < 0 || min_labels <= max_labels));
  int m = 0;
  for (int j = 0; j < k; j++)
    if (!truth_row || known(truth_row[j])) out[m++] = j;
  /* heapsort in place: no scratch, and the order is total (score, index), so deterministic */
  for (int i = m / 2 - 1; i >= 0; i--) sift_down(row, out, i, m);
  for (int e = m - 1; e > 0; e--) {
    int tmp = out[0];
    out[0] = out[e], out[e] = tmp;
    sift_down(row, out, 0, e);
  }
  int pass = 0;
  while (pass < m && (double)row[out[pass]] > t) pass++; /* sorted: the passing labels lead */
  if (max_labels >= 0 && pass > max_labels) pass = max_labels;
  if (pass < min_labels) pass = PB_MIN(min_labels, m);
  return pass;
}

double pb_ml_f2_mean_select(const float *scores, const uint8_t *truth, long n, int k, double t, int min_labels,
                            int max_labels) {
  PB_ASSERT(n >= 1 && k >= 1);
  int *sel = pb_xmalloc((size_t)k * sizeof *sel);
  double sum = 0;
  for (long i = 0; i < n; i++) {
    const uint8_t *y = truth + i * k;
    int npred = pb_ml_select(scores + i * k, y, k, t, min_labels, max_labels, sel);
    long inter = 0, ngt = 0;
    for (int j = 0; j < k; j++) ngt += present(y[j]);
    for (int q = 0; q < npred; q++) inter += present(y[sel[q]]);
    sum += pb_ml_f2_counts(inter, npred, ngt);
  }
  free(sel);
  return sum / (double)n;
}

void pb_ml_ranking_init(pb_ml_ranking *r, int k) {
  PB_ASSERT(k >= 1);
  memset(r, 0, sizeof *r);
  r->k = k;
  r->ap = pb_xcalloc((size_t)k, sizeof *r->ap);
  r->auc = pb_xcalloc((size_t)k, sizeof *r->auc);
  r->pos = pb_xcalloc((size_t)k, sizeof *r->pos);
  r->neg = pb_xcalloc((size_t)k, sizeof *r->neg);
}

void pb_ml_ranking_free(pb_ml_ranking *r) {
  if (!r) return;
  free(r->ap), free(r->auc), free(r->pos), free(r->neg);
  memset(r, 0, sizeof *r);
}

typedef struct {
  float s;
  int y; /* 1 positive, 0 negative */
} ml_item;

static int cmp_desc(const void *a, const void *b) {
  float x = ((const ml_item *)a)->s, y = ((const ml_item *)b)->s;
  return (x < y) - (x > y); /* no NaN reaches the sort */
}

/* One class over its m known entries, sorted by descending score: walk the groups of equal
 * score. AP adds (tp_g / P) * precision after the group; the Mann-Whitney count 2U adds, per
 * group, 2 * pos_g * (negatives scored lower) + pos_g * neg_g (the ties, halves doubled). */
static void rank_class(const ml_item *it, long m, long pos, long neg, double *ap, double *auc) {
  double sum_ap = 0;
  int64_t u2 = 0;
  long tp = 0, fp = 0;
  for (long s = 0, e; s < m; s = e) {
    long pg = 0, ng = 0;
    for (e = s; e < m && it[e].s == it[s].s; e++) pg += it[e].y, ng += !it[e].y;
    tp += pg, fp += ng;
    if (pg) sum_ap += ((double)pg / (double)pos) * ((double)tp / (double)(tp + fp));
    u2 += 2 * (int64_t)pg * (int64_t)(neg - fp) + (int64_t)pg * (int64_t)ng;
  }
  *ap = pos ? sum_ap : NAN;
  *auc = pos && neg ? (double)u2 / (2.0 * (double)pos * (double)neg) : NAN;
}

void pb_ml_ranking_compute(pb_ml_ranking *r, const float *scores, const uint8_t *truth, long n, int k) {
  PB_ASSERT(r->k == k && n >= 0);
  ml_item *it = pb_xmalloc((size_t)PB_MAX(n, 1) * sizeof *it);
  double sum_ap = 0, sum_auc = 0;
  r->nap = r->nauc = 0;
  for (int j = 0; j < k; j++) {
    long m = 0, pos = 0;
    int has_nan = 0;
    for (long i = 0; i < n; i++) {
      uint8_t y = truth[i * k + j];
      if (!known(y)) continue;
      it[m].s = scores[i * k + j];
      it[m].y = present(y);
      has_nan |= isnan(it[m].s);
      pos += it[m].y;
      m++;
    }
    r->pos[j] = pos, r->neg[j] = m - pos;
    if (has_nan) {
      r->ap[j] = r->auc[j] = NAN;
    } else {
      qsort(it, (size_t)m, sizeof *it, cmp_desc);
      rank_class(it, m, pos, m - pos, &r->ap[j], &r->auc[j]);
    }
    if (pos) sum_ap += r->ap[j], r->nap++;
    if (pos && m - pos) sum_auc += r->auc[j], r->nauc++;
  }
  r->map = r->nap ? sum_ap / r->nap : NAN;
  r->mauc = r->nauc ? sum_auc / r->nauc : NAN;
  free(it);
}
