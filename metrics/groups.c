/* groups.c: accuracy per group, disparity, Bias Bounty score (groups.h). */
#include "metrics/groups.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pb_common.h"

void pb_group_accuracy(const int32_t *pred, const int32_t *label, const int32_t *group, long n, int ngroups,
                       pb_group_acc *out) {
  PB_ASSERT(ngroups >= 1 && n >= 0);
  memset(out, 0, sizeof *out);
  out->ngroups = ngroups;
  out->per_n = calloc((size_t)ngroups, sizeof *out->per_n);
  out->per_correct = calloc((size_t)ngroups, sizeof *out->per_correct);
  out->acc = pb_xmalloc((size_t)ngroups * sizeof *out->acc);
  PB_ASSERT(out->per_n && out->per_correct);
  for (long i = 0; i < n; i++) {
    int32_t g = group ? group[i] : label[i];
    if (label[i] < 0 || g < 0 || g >= ngroups) continue;
    int ok = pred[i] == label[i];
    out->per_n[g]++;
    out->per_correct[g] += ok;
    out->n++;
    out->correct += ok;
  }
  out->worst = out->best = -1;
  for (int g = 0; g < ngroups; g++) {
    if (!out->per_n[g]) {
      out->acc[g] = NAN;
      continue;
    }
    double a = (double)out->per_correct[g] / (double)out->per_n[g];
    out->acc[g] = a;
    out->present++;
    if (out->worst < 0 || a < out->acc[out->worst]) out->worst = g;
    if (out->best < 0 || a > out->acc[out->best]) out->best = g;
  }
  out->accuracy = out->n ? (double)out->correct / (double)out->n : NAN;
  out->disparity = out->present ? out->acc[out->best] - out->acc[out->worst] : NAN;
}

void pb_group_acc_free(pb_group_acc *g) {
  if (!g) return;
  free(g->per_n);
  free(g->per_correct);
  free(g->acc);
  g->per_n = g->per_correct = NULL;
  g->acc = NULL;
}

double pb_bias_bounty_score(double acc_skin, double disp_skin, double acc_age, double disp_age, double acc_gender,
                            double disp_gender) {
  double d5 = disp_skin * disp_skin * disp_skin * disp_skin * disp_skin;
  return 10 * acc_skin * (1 - d5) + 4 * acc_age * (1 - disp_age * disp_age) + 2 * acc_gender * (1 - disp_gender);
}
