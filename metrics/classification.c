/* classification.c: accuracy and bias-aligned / bias-conflicting accuracy (classification.h). */
#include "metrics/classification.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void pb_cls_counts_add(pb_cls_counts *c, const int32_t *pred, const int32_t *y, const uint8_t *aligned, int n) {
  for (int i = 0; i < n; i++) {
    int ok = pred[i] == y[i];
    c->n++;
    c->correct += ok;
    if (aligned) {
      if (aligned[i]) {
        c->n_aligned++;
        c->correct_aligned += ok;
      } else {
        c->n_conflicting++;
        c->correct_conflicting += ok;
      }
    }
  }
}

double pb_ratio(long num, long den) { return den > 0 ? (double)num / (double)den : NAN; }

void pb_class_counts_init(pb_class_counts *c, int k) {
  memset(c, 0, sizeof *c);
  c->k = k;
  c->per_n = calloc((size_t)k, sizeof(long));
  c->per_correct = calloc((size_t)k, sizeof(long));
  if (!c->per_n || !c->per_correct) abort();
}

void pb_class_counts_free(pb_class_counts *c) {
  if (!c) return;
  free(c->per_n);
  free(c->per_correct);
  memset(c, 0, sizeof *c);
}

void pb_class_counts_add(pb_class_counts *c, const int32_t *pred, const int32_t *y, int n) {
  for (int i = 0; i < n; i++) {
    if (y[i] < 0 || y[i] >= c->k) continue;
    int ok = pred[i] == y[i];
    c->n++;
    c->correct += ok;
    c->per_n[y[i]]++;
    c->per_correct[y[i]] += ok;
  }
}

double pb_class_counts_disparity(const pb_class_counts *c) {
  double lo = INFINITY, hi = -INFINITY;
  for (int j = 0; j < c->k; j++) {
    if (!c->per_n[j]) continue;
    double a = (double)c->per_correct[j] / (double)c->per_n[j];
    lo = a < lo ? a : lo;
    hi = a > hi ? a : hi;
  }
  return hi >= lo ? hi - lo : NAN;
}
