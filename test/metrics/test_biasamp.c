/* test_biasamp.c: metrics/biasamp.c (directional bias amplification) by hand-computed cases: A->T
 * and T->A, both variants, y at equality (study: 0, so the term is -D; Wang & Russakovsky: sign 0,
 * term 0), an attribute without samples (NaN in the study's plain mean, skipped by W&R's
 * nanmean), missing labels, a prediction outside the classes, y from other (training) labels,
 * n = 0; then against numpy on random cases (test/fixtures/metrics_calib_biasamp.txt, written by
 * scripts/fixtures/metrics_calib_biasamp.py). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/biasamp.h"
#include "test/testutil.h"

static int near(double a, double b) { return (isnan(a) && isnan(b)) || fabs(a - b) <= 1e-12; }

/* (a, t): (0,0) (0,0) (0,1) (1,1), t_hat 0 0 0 1, a_hat 0 0 1 1; two samples with a missing label.
 * P(a0) 3/4, P(a1) 1/4, P(t0) = P(t1) = 1/2.
 * y: (a0,t0) 1/2 > 3/8: 1; (a0,t1) 1/4 > 3/8: 0 (sign -1); (a1,t0) 0 > 1/8: 0 (-1); (a1,t1) 1/4 > 1/8: 1.
 * A->T: P(T|a0) = (2/3, 1/3), P(T_hat|a0) = (1, 0): D = (1/3, -1/3); a1: P(T|a1) = P(T_hat|a1) =
 * (0, 1): D = (0, 0). study: (1/3 + 1/3 + 0 + 0) / 4 = 1/6; W&R: (1/3 + (-1)(-1/3) + 0 + 0)/4 = 1/6.
 * T->A: P(A|t0) = (1, 0) = P(A_hat|t0): D = 0; P(A|t1) = (1/2, 1/2), P(A_hat|t1) = (0, 1):
 * D(a0,t1) = -1/2, D(a1,t1) = 1/2. study: (0 + 1/2 + 0 + 1/2)/4 = 1/4; W&R the same. */
static void test_hand(void) {
  const int32_t a[6] = {0, 0, 0, 1, -1, 1}, t[6] = {0, 0, 1, 1, 0, -1};
  const int32_t th[6] = {0, 0, 0, 1, 1, 1}, ah[6] = {0, 0, 1, 1, 1, 1};
  pb_biasamp r;
  pb_biasamp_compute(t, a, th, 6, 2, 2, PB_BIASAMP_A_TO_T, PB_BIASAMP_STUDY, NULL, NULL, 0, &r);
  PB_CHECK(r.n == 4 && r.n_y == 4 && !strcmp(r.name, "study_a_to_t") && r.na == 2 && r.nt == 2);
  PB_CHECK(r.y[0] == 1 && r.y[1] == 0 && r.y[2] == 0 && r.y[3] == 1);
  PB_CHECK(near(r.d[0], 1.0 / 3) && near(r.d[1], -1.0 / 3) && r.d[2] == 0 && r.d[3] == 0);
  PB_CHECK_MSG(near(r.value, 1.0 / 6), "%.17g", r.value);
  pb_biasamp_free(&r);
  pb_biasamp_compute(t, a, th, 6, 2, 2, PB_BIASAMP_A_TO_T, PB_BIASAMP_WANG, NULL, NULL, 0, &r);
  PB_CHECK(!strcmp(r.name, "wang_a_to_t") && r.y[0] == 1 && r.y[1] == -1 && r.y[2] == -1 && r.y[3] == 1);
  PB_CHECK(near(r.value, 1.0 / 6));
  pb_biasamp_free(&r);
  pb_biasamp_compute(t, a, ah, 6, 2, 2, PB_BIASAMP_T_TO_A, PB_BIASAMP_STUDY, NULL, NULL, 0, &r);
  PB_CHECK(!strcmp(r.name, "study_t_to_a") && r.d[0] == 0 && r.d[2] == 0 && near(r.d[1], -0.5) && near(r.d[3], 0.5));
  PB_CHECK(near(r.value, 0.25));
  pb_biasamp_free(&r);
  pb_biasamp_compute(t, a, ah, 6, 2, 2, PB_BIASAMP_T_TO_A, PB_BIASAMP_WANG, NULL, NULL, 0, &r);
  PB_CHECK(near(r.value, 0.25));
  pb_biasamp_free(&r);
  /* y from other labels (W&R's training labels): (a,t) = (0,1) (1,0): y(a0,t1) = y(a1,t0) = +1
   * (1/2 > 1/4), the others -1. W&R A->T: (-1)(1/3) + (1)(-1/3) + 0 + 0 = -2/3, / 4 = -1/6. */
  const int32_t ya[2] = {0, 1}, yt[2] = {1, 0};
  pb_biasamp_compute(t, a, th, 6, 2, 2, PB_BIASAMP_A_TO_T, PB_BIASAMP_WANG, yt, ya, 2, &r);
  PB_CHECK(r.n_y == 2 && r.n == 4 && r.y[0] == -1 && r.y[1] == 1 && near(r.value, -1.0 / 6));
  pb_biasamp_free(&r);
}

/* Independence: (a,t) = (0,0) (0,1) (1,0) (1,1): P(a,t) = 1/4 = P(a) P(t) everywhere, so study
 * y = 0 (terms -D) and W&R sign 0 (terms 0). t_hat = -1 (no class), 1, 0, 1:
 * D(a0,t0) = 0 - 1/2, D(a0,t1) = 1/2 - 1/2 = 0, D(a1,t0) = 1/2 - 1/2 = 0, D(a1,t1) = 0.
 * study: (1/2 + 0 + 0 + 0)/4 = 1/8; W&R: 0. */
static void test_equality(void) {
  const int32_t a[4] = {0, 0, 1, 1}, t[4] = {0, 1, 0, 1}, th[4] = {-1, 1, 0, 1};
  pb_biasamp r;
  pb_biasamp_compute(t, a, th, 4, 2, 2, PB_BIASAMP_A_TO_T, PB_BIASAMP_STUDY, NULL, NULL, 0, &r);
  PB_CHECK(r.y[0] == 0 && r.y[3] == 0 && near(r.d[0], -0.5) && near(r.value, 0.125));
  pb_biasamp_free(&r);
  pb_biasamp_compute(t, a, th, 4, 2, 2, PB_BIASAMP_A_TO_T, PB_BIASAMP_WANG, NULL, NULL, 0, &r);
  PB_CHECK(r.y[0] == 0 && r.y[1] == 0 && r.value == 0);
  pb_biasamp_free(&r);
}

/* The hand case with na = 3: attribute 2 has no sample, D(a2, t) = 0/0. A->T study: NaN; W&R:
 * y(a2,t) = sign(0 - 0) = 0, 0 * NaN = NaN skipped: (1/3 + 1/3 + 0 + 0)/4 = 1/6.
 * T->A conditions on t, so D(a2,t) = P(A_hat = a2 | t) - 0 = 0 is defined: study (0 + 1/2 + 0 +
 * 1/2 + 0 + 0)/6 = 1/6, W&R the same (sign 0 terms count as 0). n = 0: NaN in both. */
static void test_empty(void) {
  const int32_t a[4] = {0, 0, 0, 1}, t[4] = {0, 0, 1, 1}, th[4] = {0, 0, 0, 1}, ah[4] = {0, 0, 1, 1};
  pb_biasamp r;
  pb_biasamp_compute(t, a, th, 4, 2, 3, PB_BIASAMP_A_TO_T, PB_BIASAMP_STUDY, NULL, NULL, 0, &r);
  PB_CHECK(isnan(r.value) && isnan(r.d[4]) && isnan(r.d[5]) && r.y[4] == 0 && !isnan(r.d[0]));
  pb_biasamp_free(&r);
  pb_biasamp_compute(t, a, th, 4, 2, 3, PB_BIASAMP_A_TO_T, PB_BIASAMP_WANG, NULL, NULL, 0, &r);
  PB_CHECK_MSG(near(r.value, 1.0 / 6) && r.y[4] == 0 && r.y[5] == 0, "%.17g", r.value);
  pb_biasamp_free(&r);
  pb_biasamp_compute(t, a, ah, 4, 2, 3, PB_BIASAMP_T_TO_A, PB_BIASAMP_STUDY, NULL, NULL, 0, &r);
  PB_CHECK(near(r.value, 1.0 / 6) && r.d[4] == 0);
  pb_biasamp_free(&r);
  pb_biasamp_compute(t, a, ah, 4, 2, 3, PB_BIASAMP_T_TO_A, PB_BIASAMP_WANG, NULL, NULL, 0, &r);
  PB_CHECK(near(r.value, 1.0 / 6));
  pb_biasamp_free(&r);
  for (int v = 0; v < 2; v++)
    for (int dir = 0; dir < 2; dir++) {
      pb_biasamp_compute(NULL, NULL, NULL, 0, 2, 2, dir, v, NULL, NULL, 0, &r);
      PB_CHECK(r.n == 0 && isnan(r.value));
      pb_biasamp_free(&r);
    }
  pb_biasamp_free(NULL);
}

static void read_ints(FILE *f, int32_t *x, long n) {
  for (long i = 0; i < n; i++) PB_CHECK(fscanf(f, "%d", &x[i]) == 1);
}

static double read_num(FILE *f) {
  char v[64];
  if (fscanf(f, "%63s", v) != 1) return -1e300;
  return strcmp(v, "nan") ? strtod(v, NULL) : NAN;
}

/* numpy computes the same ratios in float64 in another order: 1e-12. */
static void test_numpy_fixture(void) {
  const char *path = pb_test_fixture("metrics_calib_biasamp.txt");
  FILE *f = fopen(path, "r");
  PB_CHECK_MSG(f != NULL, "cannot open %s", path);
  if (!f) return;
  int cases = 0;
  char tag[64];
  while (fscanf(f, "%63s", tag) == 1) {
    if (strcmp(tag, "biasamp")) continue; /* the calibration records */
    long n;
    int nt, na;
    if (fscanf(f, "%ld %d %d", &n, &nt, &na) != 3) break;
    int32_t *v = malloc((size_t)n * 4 * sizeof *v), *t = v, *a = v + n, *th = v + 2 * n, *ah = v + 3 * n;
    read_ints(f, v, 4 * n);
    double want[4];
    for (int i = 0; i < 4; i++) want[i] = read_num(f);
    pb_biasamp r[4];
    pb_biasamp_compute(t, a, th, n, nt, na, PB_BIASAMP_A_TO_T, PB_BIASAMP_STUDY, NULL, NULL, 0, &r[0]);
    pb_biasamp_compute(t, a, th, n, nt, na, PB_BIASAMP_A_TO_T, PB_BIASAMP_WANG, NULL, NULL, 0, &r[1]);
    pb_biasamp_compute(t, a, ah, n, nt, na, PB_BIASAMP_T_TO_A, PB_BIASAMP_STUDY, NULL, NULL, 0, &r[2]);
    pb_biasamp_compute(t, a, ah, n, nt, na, PB_BIASAMP_T_TO_A, PB_BIASAMP_WANG, NULL, NULL, 0, &r[3]);
    for (int i = 0; i < 4; i++)
      PB_CHECK_MSG(near(r[i].value, want[i]), "case %d %s: %.17g vs numpy %.17g", cases, r[i].name, r[i].value,
                   want[i]);
    for (int dir = 0; dir < 2; dir++)
      for (int i = 0; i < na * nt; i++) {
        double d = read_num(f);
        PB_CHECK_MSG(near(r[2 * dir].d[i], d), "case %d dir %d D[%d]: %.17g vs %.17g", cases, dir, i, r[2 * dir].d[i], d);
      }
    for (int i = 0; i < 4; i++) pb_biasamp_free(&r[i]);
    free(v);
    cases++;
  }
  fclose(f);
  PB_CHECK_MSG(cases >= 5, "%s: only %d bias amplification cases read", path, cases);
}

int main(void) {
  test_hand();
  test_equality();
  test_empty();
  test_numpy_fixture();
  return pb_test_exit("test_biasamp");
}
