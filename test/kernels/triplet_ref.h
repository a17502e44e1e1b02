/* triplet_ref.h: a float64 reimplementation of the triplet loss's forward (loss and counts), written
 * from the contract in ops.h ("triplet loss") by plain enumeration of the anchors and triplets,
 * independently of kernels/cpu/triplet.c's pair-coefficient algebra, for test_golden_triplet.c's
 * finite differences and value checks. It also reports how far the inputs are from a point where
 * the loss is not differentiable (a hinge kink or a change of the hardest positive / negative), so
 * that a finite-difference step can be shown not to cross one. Header-only, static. */
#ifndef PB_TEST_TRIPLET_REF_H
#define PB_TEST_TRIPLET_REF_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "kernels/ops.h"

typedef struct tr_result {
  double loss;
  int64_t counts[PB_TRIPLET_NCOUNTS];
  double kink; /* the smallest |x + margin| of a hinge term, or gap between the hardest candidate
                  and another one (in distance units); INFINITY when there is none */
} tr_result;

static double tr_dist(const double *e, int d, int i, int j, int squared) {
  double s = 0.0;
  for (int k = 0; k < d; k++) s += (e[(size_t)i * d + k] - e[(size_t)j * d + k]) * (e[(size_t)i * d + k] - e[(size_t)j * d + k]);
  return squared ? s : sqrt(s + 1e-12);
}

static double tr_term(double x, const pb_triplet_params *p, double *kink) {
  if (p->soft) return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
  const double t = x + (double)p->margin;
  if (fabs(t) < *kink) *kink = fabs(t);
  return t > 0 ? t : 0.0;
}

/* e [n, d] in double, labels as the op's. */
static tr_result ref_triplet(const double *e, const int32_t *labels, const pb_triplet_params *p) {
  const int n = p->n, d = p->d;
  tr_result r = {0.0, {0, 0, 0, 0}, INFINITY};
  double sum = 0.0;
  for (int a = 0; a < n; a++) {
    if (labels[a] < 0) continue;
    int npos = 0, nneg = 0, bp = -1, bn = -1;
    double dp = 0, dn = 0;
    for (int j = 0; j < n; j++) {
      if (j == a || labels[j] < 0) continue;
      const double dj = tr_dist(e, d, a, j, p->squared);
      if (labels[j] == labels[a]) {
        npos++;
        if (bp < 0 || dj > dp) bp = j, dp = dj;
      } else {
        nneg++;
        if (bn < 0 || dj < dn) bn = j, dn = dj;
      }
    }
    if (npos == 0 || nneg == 0) {
      r.counts[PB_TRIPLET_EXCLUDED]++;
      continue;
    }
    if (p->mode == PB_TRIPLET_BATCH_HARD) {
      for (int j = 0; j < n; j++) { /* the mining's margin: the hardest against every other one */
        if (j == a || j == bp || j == bn || labels[j] < 0) continue;
        const double g = fabs(tr_dist(e, d, a, j, p->squared) - (labels[j] == labels[a] ? dp : dn));
        if (g < r.kink) r.kink = g;
      }
      const double t = tr_term(dp - dn, p, &r.kink);
      sum += t;
      r.counts[PB_TRIPLET_VALID]++;
      r.counts[PB_TRIPLET_NONZERO] += t > 0;
      r.counts[PB_TRIPLET_ACTIVE] += t > 1e-5;
      continue;
    }
    for (int q = 0; q < n; q++) {
      if (q == a || labels[q] != labels[a]) continue;
      for (int m = 0; m < n; m++) {
        if (labels[m] < 0 || labels[m] == labels[a]) continue;
        const double t = tr_term(tr_dist(e, d, a, q, p->squared) - tr_dist(e, d, a, m, p->squared), p, &r.kink);
        sum += t;
        r.counts[PB_TRIPLET_VALID]++;
        r.counts[PB_TRIPLET_NONZERO] += t > 0;
        r.counts[PB_TRIPLET_ACTIVE] += t > 1e-5;
      }
    }
  }
  const int64_t denom = p->reduction == PB_TRIPLET_MEAN_NONZERO ? r.counts[PB_TRIPLET_NONZERO] : r.counts[PB_TRIPLET_VALID];
  r.loss = denom > 0 ? sum / (double)denom : 0.0;
  return r;
}

#endif
