/* biasamp.c: directional bias amplification (biasamp.h) from [na, nt] count tables. */
#include "metrics/biasamp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pb_common.h"

static int in_range(int32_t v, int n) { return v >= 0 && v < n; }

void pb_biasamp_compute(const int32_t *t, const int32_t *a, const int32_t *pred, long n, int nt, int na,
                        pb_biasamp_dir dir, pb_biasamp_variant variant, const int32_t *y_t, const int32_t *y_a,
                        long n_y, pb_biasamp *out) {
  PB_ASSERT(nt >= 1 && na >= 1 && n >= 0 && n_y >= 0 && (y_t == NULL) == (y_a == NULL));
  PB_ASSERT(variant == PB_BIASAMP_STUDY || variant == PB_BIASAMP_WANG);
  PB_ASSERT(dir == PB_BIASAMP_A_TO_T || dir == PB_BIASAMP_T_TO_A);
  static const char *names[2][2] = {{"study_a_to_t", "study_t_to_a"}, {"wang_a_to_t", "wang_t_to_a"}};
  memset(out, 0, sizeof *out);
  out->variant = variant;
  out->dir = dir;
  out->name = names[variant][dir];
  out->na = na, out->nt = nt;
  size_t cells = (size_t)na * (size_t)nt;
  out->y = pb_xmalloc(cells * sizeof *out->y);
  out->d = pb_xmalloc(cells * sizeof *out->d);
  /* counts: [0] joint (a,t) of the y labels, [1] joint of the test labels, [2] joint (a, t_hat)
   * for A->T or (a_hat, t) for T->A; then the marginals of the y labels and the test labels. */
  long *c = calloc(3 * cells + 2 * ((size_t)na + (size_t)nt), sizeof *c);
  PB_ASSERT(c != NULL);
  long *cy = c, *ct = c + cells, *cp = c + 2 * cells;
  long *ya = c + 3 * cells, *yt = ya + na, *ta = yt + nt, *tt = ta + na;
  if (!y_t) y_t = t, y_a = a, n_y = n;
  for (long i = 0; i < n_y; i++) {
    if (!in_range(y_t[i], nt) || !in_range(y_a[i], na)) continue;
    cy[(size_t)y_a[i] * nt + y_t[i]]++;
    ya[y_a[i]]++, yt[y_t[i]]++;
    out->n_y++;
  }
  for (long i = 0; i < n; i++) {
    if (!in_range(t[i], nt) || !in_range(a[i], na)) continue;
    ct[(size_t)a[i] * nt + t[i]]++;
    ta[a[i]]++, tt[t[i]]++;
    out->n++;
    if (dir == PB_BIASAMP_A_TO_T && in_range(pred[i], nt)) cp[(size_t)a[i] * nt + pred[i]]++;
    if (dir == PB_BIASAMP_T_TO_A && in_range(pred[i], na)) cp[(size_t)pred[i] * nt + t[i]]++;
  }
  double sum = 0;
  long terms = 0;
  for (int ai = 0; ai < na; ai++) {
    for (int ti = 0; ti < nt; ti++) {
      size_t at = (size_t)ai * nt + ti;
      /* P(a,t) vs P(a) P(t) is c_at / n vs c_a c_t / n^2: compare n c_at with c_a c_t exactly. */
      long long lhs = (long long)out->n_y * cy[at], rhs = (long long)ya[ai] * yt[ti];
      int sgn = (lhs > rhs) - (lhs < rhs);
      double cond = dir == PB_BIASAMP_A_TO_T ? (double)ta[ai] : (double)tt[ti]; /* 0/0 = NaN */
      double d = (double)cp[at] / cond - (double)ct[at] / cond;
      double term;
      if (variant == PB_BIASAMP_STUDY) {
        out->y[at] = (int8_t)(sgn > 0);
        term = sgn > 0 ? d : -d;
      } else {
        out->y[at] = (int8_t)sgn;
        term = (double)sgn * d; /* 0 * NaN stays NaN, as in numpy */
      }
      out->d[at] = d;
      if (variant == PB_BIASAMP_WANG && isnan(term)) continue; /* nanmean */
      sum += term;
      terms++;
    }
  }
  out->value = terms ? sum / (double)terms : NAN;
  free(c);
}

void pb_biasamp_free(pb_biasamp *b) {
  if (!b) return;
  free(b->y);
  free(b->d);
  b->y = NULL, b->d = NULL;
}
