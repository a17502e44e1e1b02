/* mlscore.c: see mlscore.h. */
#include "metrics/mlscore.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pb_common.h"

int pb_mlscore_parse(const char *s) {
  if (!strcmp(s, "sigmoid")) return PB_MLSCORE_SIGMOID;
  if (!strcmp(s, "inclusive")) return PB_MLSCORE_INCLUSIVE;
  if (!strcmp(s, "softmax")) return PB_MLSCORE_SOFTMAX;
  return -1;
}

const char *pb_mlscore_name(pb_mlscore_kind kind) {
  return kind == PB_MLSCORE_INCLUSIVE ? "inclusive" : kind == PB_MLSCORE_SOFTMAX ? "softmax" : "sigmoid";
}

typedef struct {
  float z;
  int j;
} ml_rank;

static int by_logit_desc(const void *a, const void *b) {
  const ml_rank *x = a, *y = b;
  if (x->z != y->z) return x->z < y->z ? 1 : -1;
  return (x->j > y->j) - (x->j < y->j);
}

static int row_has_nan(const float *z, int k) {
  for (int j = 0; j < k; j++)
    if (isnan(z[j])) return 1;
  return 0;
}

static void inclusive_row(float *s, const float *z, int k, int top_k, ml_rank *rk) {
  for (int j = 0; j < k; j++) rk[j].z = z[j], rk[j].j = j, s[j] = 0.0f;
  qsort(rk, (size_t)k, sizeof *rk, by_logit_desc);
  int top = PB_MIN(top_k, k);
  for (int r = 0; r < top; r++) {
    double zj = rk[r].z, sum = 0;
    for (int q = top; q < k; q++) sum += exp((double)rk[q].z - zj);
    s[rk[r].j] = (float)(1.0 / (1.0 + sum));
  }
}

void pb_ml_scores(float *scores, const float *logits, long n, int k, pb_mlscore_kind kind, int top_k) {
  PB_ASSERT(n >= 0 && k >= 1 && top_k >= 1);
  ml_rank *rk = kind == PB_MLSCORE_INCLUSIVE ? pb_xmalloc((size_t)k * sizeof *rk) : NULL;
  for (long i = 0; i < n; i++) {
    const float *z = logits + i * k;
    float *s = scores + i * k;
    if (row_has_nan(z, k)) {
      for (int j = 0; j < k; j++) s[j] = NAN;
      continue;
    }
    if (kind == PB_MLSCORE_SIGMOID) {
      for (int j = 0; j < k; j++) s[j] = (float)(1.0 / (1.0 + exp(-(double)z[j])));
    } else if (kind == PB_MLSCORE_SOFTMAX) {
      double m = z[0], sum = 0;
      for (int j = 1; j < k; j++) m = z[j] > m ? z[j] : m;
      for (int j = 0; j < k; j++) sum += exp((double)z[j] - m);
      for (int j = 0; j < k; j++) s[j] = (float)(exp((double)z[j] - m) / sum);
    } else {
      inclusive_row(s, z, k, top_k, rk);
    }
  }
  free(rk);
}
