/* classification.c: accuracy and bias-aligned / bias-conflicting accuracy (classification.h). */
#include "metrics/classification.h"

#include <math.h>

int32_t pb_argmax(const float *x, int k) {
  int32_t best = 0;
  for (int j = 1; j < k; j++)
    if (x[j] > x[best]) best = j;
  return best;
}

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
