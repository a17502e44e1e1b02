/* test_multilabel.c: metrics/multilabel.c by hand-computed cases (the F2 of small sets, both
 * empty = 1, an empty prediction for a non-empty truth = 0, the strict threshold, the sweep's
 * thresholds bit for bit and its first best, the min / max labels selection and its ties, AP /
 * AUC with tied scores, classes without positives or negatives, unknown entries, NaN scores),
 * then against numpy / scikit-learn on random cases (test/fixtures/multilabel_sklearn.txt,
 * written by scripts/fixtures/metrics_multilabel.py). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/multilabel.h"
#include "test/testutil.h"

/* the hand cases are a few double operations from the exact value */
static int near(double a, double b) { return fabs(a - b) <= 1e-15; }

static void test_f2_counts(void) {
  PB_CHECK(pb_ml_f2_counts(0, 0, 0) == 1.0); /* both empty: P = R = 1 */
  PB_CHECK(pb_ml_f2_counts(0, 0, 2) == 0.0); /* nothing predicted, 2 true: P = 1, R = 0 -> 0 / 4 */
  PB_CHECK(pb_ml_f2_counts(0, 3, 0) == 0.0); /* 3 predicted, none true: P = 0, R = 1 -> 0 / 1 */
  PB_CHECK(pb_ml_f2_counts(0, 1, 1) == 0.0); /* P = R = 0: 4P + R = 0 -> 0, not NaN */
  PB_CHECK(pb_ml_f2_counts(2, 2, 2) == 1.0);
  /* P = 1/2, R = 1/3: 5 * 1/6 / (2 + 1/3) = (5/6) / (7/3) = 5/14 */
  PB_CHECK(near(pb_ml_f2_counts(1, 2, 3), 5.0 / 14));
  /* P = 1, R = 1/2: 2.5 / 4.5 = 5/9 (recall weighs 4x: P = 1/2, R = 1 gives 2.5 / 3 = 5/6) */
  PB_CHECK(near(pb_ml_f2_counts(1, 1, 2), 5.0 / 9) && near(pb_ml_f2_counts(1, 2, 1), 5.0 / 6));
}

static void test_f2_threshold(void) {
  /* image 0: truth {0, 1}; image 1: truth {} */
  const float s[6] = {0.5f, 0.9f, 0.2f, 0.1f, 0.3f, 0.6f};
  const uint8_t y[6] = {1, 1, 0, 0, 0, 0};
  /* t = 0.5, strict: image 0 predicts {1} (0.5 is not > 0.5): P = 1, R = 1/2 -> 5/9; image 1
   * predicts {2} for an empty truth: P = 0, R = 1 -> 0. Mean 5/18. */
  PB_CHECK(near(pb_ml_f2_mean(s, y, 2, 3, 0.5), 5.0 / 18));
  /* t = 0.4: image 0 predicts {0, 1}: 1; image 1 {2}: 0 -> 1/2 */
  PB_CHECK(pb_ml_f2_mean(s, y, 2, 3, 0.4) == 0.5);
  /* t = 0.7: image 0 {1}: 5/9; image 1 predicts nothing for nothing: 1 -> 7/9 */
  PB_CHECK(near(pb_ml_f2_mean(s, y, 2, 3, 0.7), 7.0 / 9));
  /* t = 0.95: image 0 predicts nothing for {0, 1}: 0; image 1: 1 -> 1/2 */
  PB_CHECK(pb_ml_f2_mean(s, y, 2, 3, 0.95) == 0.5);
  /* An unknown entry is neither true nor predictable: image 0's label 1 unknown leaves truth
   * {0}; at t = 0.5 nothing else passes: empty prediction, non-empty truth -> 0. */
  const uint8_t yu[6] = {1, PB_ML_UNKNOWN, 0, 0, 0, 0};
  PB_CHECK(pb_ml_f2_mean(s, yu, 1, 3, 0.5) == 0.0 && pb_ml_f2_mean(s, yu, 1, 3, 0.4) == 1.0);
  /* The comparison is exact in double: 0.15f = 0.150000006 > 0.15000000000000002 (predicted),
   * 0.7f = 0.699999988 < 0.7000000000000001 (not). numpy 1.x, comparing in float32, would say
   * 0.15f > 0.15f: false. A NaN score never passes. */
  const float e[3] = {0.15f, 0.7f, NAN};
  const uint8_t ye[3] = {1, 0, 0};
  PB_CHECK(pb_ml_f2_mean(e, ye, 1, 1, 3 * 0.05) == 1.0);
  PB_CHECK(pb_ml_f2_mean(e + 1, ye + 1, 1, 2, 14 * 0.05) == 1.0);
}

static void test_sweep(void) {
  double t[PB_ML_NTHRESH];
  pb_ml_thresholds(t);
  /* np.arange(0, 1, 0.05), as numpy 1.24 prints it */
  PB_CHECK(t[0] == 0.0 && t[1] == 0.05 && t[2] == 0.1 && t[3] == 0.15000000000000002);
  PB_CHECK(t[6] == 0.30000000000000004 && t[7] == 0.35000000000000003 && t[11] == 0.55);
  PB_CHECK(t[12] == 0.6000000000000001 && t[14] == 0.7000000000000001 && t[19] == 0.9500000000000001);
  /* image A: 0.32 true; image B: 0.12 with an empty truth. t <= 0.1: A 1, B 0 -> 0.5; 0.15 to
   * 0.30000000000000004 (< 0.32f): A 1, B 1 -> 1; from 0.35: A 0, B 1 -> 0.5. First best: 3. */
  const float s[2] = {0.32f, 0.12f};
  const uint8_t y[2] = {1, 0};
  pb_ml_sweep r;
  pb_ml_f2_sweep(s, y, 2, 1, &r);
  for (int i = 0; i < PB_ML_NTHRESH; i++)
    PB_CHECK_MSG(r.t[i] == t[i] && r.f2[i] == (i >= 3 && i <= 6 ? 1.0 : 0.5), "t[%d]: %g", i, r.f2[i]);
  PB_CHECK(r.best == 3 && r.best_t == 0.15000000000000002 && r.best_f2 == 1.0);
  /* constant F2: the first threshold, 0, wins */
  const float c[2] = {0.99f, 0.99f};
  const uint8_t yc[2] = {1, 1};
  pb_ml_f2_sweep(c, yc, 1, 2, &r);
  PB_CHECK(r.best == 0 && r.best_t == 0.0 && r.best_f2 == 1.0 && r.f2[19] == 1.0);
}

static int same(const int *got, int n, const int *want, int m) {
  return n == m && (m == 0 || !memcmp(got, want, (size_t)m * sizeof *want));
}

static void test_select(void) {
  /* by score: 1 (0.9), 4 (0.7), 0 and 2 (0.6, tied: 0 first), 5 (0.2), 3 (0.1) */
  const float s[6] = {0.6f, 0.9f, 0.6f, 0.1f, 0.7f, 0.2f};
  int out[6], n;
  n = pb_ml_select(s, NULL, 6, 0.55, 2, 5, out); /* 4 pass, <= 5 */
  PB_CHECK(same(out, n, (int[]){1, 4, 0, 2}, 4));
  n = pb_ml_select(s, NULL, 6, 0.55, 0, 3, out); /* capped: the tie goes to label 0 */
  PB_CHECK(same(out, n, (int[]){1, 4, 0}, 3));
  n = pb_ml_select(s, NULL, 6, 0.8, 2, 5, out); /* only 1 passes: the top 2 instead */
  PB_CHECK(same(out, n, (int[]){1, 4}, 2));
  n = pb_ml_select(s, NULL, 6, 0.95, 2, 5, out); /* none passes: the top 2 */
  PB_CHECK(same(out, n, (int[]){1, 4}, 2));
  n = pb_ml_select(s, NULL, 6, 0.95, 0, 5, out);
  PB_CHECK(n == 0);
  n = pb_ml_select(s, NULL, 6, 0.6, 0, 5, out); /* strict: 0.6f = 0.60000002 > 0.6 in double */
  PB_CHECK(same(out, n, (int[]){1, 4, 0, 2}, 4));
  n = pb_ml_select(s, NULL, 6, 0.15, 0, -1, out); /* no cap */
  PB_CHECK(same(out, n, (int[]){1, 4, 0, 2, 5}, 5));
  const uint8_t u[6] = {0, PB_ML_UNKNOWN, 0, PB_ML_UNKNOWN, 0, PB_ML_UNKNOWN};
  n = pb_ml_select(s, u, 6, 0.55, 2, 5, out); /* unknown labels cannot be predicted */
  PB_CHECK(same(out, n, (int[]){4, 0, 2}, 3));
  const uint8_t u4[6] = {PB_ML_UNKNOWN, 0, PB_ML_UNKNOWN, PB_ML_UNKNOWN, 0, PB_ML_UNKNOWN};
  n = pb_ml_select(s, u4, 6, 0.95, 3, 3, out); /* min 3 but 2 candidates */
  PB_CHECK(same(out, n, (int[]){1, 4}, 2));
  const float sn[3] = {NAN, 0.1f, 0.2f}; /* NaN ranks last */
  n = pb_ml_select(sn, NULL, 3, 0.5, 3, 3, out);
  PB_CHECK(same(out, n, (int[]){2, 1, 0}, 3));
  const float st[4] = {0.3f, 0.3f, 0.3f, 0.3f}; /* all tied: by index */
  n = pb_ml_select(st, NULL, 4, 0.0, 0, 3, out);
  PB_CHECK(same(out, n, (int[]){0, 1, 2}, 3));
  /* F2: truth {1, 2}; t = 0.55, 2..5 predicts {1, 4, 0, 2}: P = 1/2, R = 1 -> 5/6; t = 0.8 the
   * top 2 {1, 4}: P = R = 1/2 -> 1/2; second image: truth {} and nothing passes 0.95 with min 0:
   * 1, with min 2: 0. */
  const float s2[12] = {0.6f, 0.9f, 0.6f, 0.1f, 0.7f, 0.2f, 0, 0, 0, 0, 0, 0};
  const uint8_t y2[12] = {0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  PB_CHECK(near(pb_ml_f2_mean_select(s2, y2, 1, 6, 0.55, 2, 5), 5.0 / 6));
  PB_CHECK(near(pb_ml_f2_mean_select(s2, y2, 1, 6, 0.8, 2, 5), 0.5));
  PB_CHECK(near(pb_ml_f2_mean_select(s2, y2, 2, 6, 0.95, 0, 5), 0.5));  /* (0 + 1) / 2 */
  PB_CHECK(near(pb_ml_f2_mean_select(s2, y2, 2, 6, 0.95, 2, 5), 0.25)); /* (1/2 + 0) / 2 */
  /* with min 0 and no cap the rule is the plain threshold */
  PB_CHECK(pb_ml_f2_mean_select(s2, y2, 2, 6, 0.55, 0, -1) == pb_ml_f2_mean(s2, y2, 2, 6, 0.55));
}

static void test_ranking(void) {
  enum { N = 7, K = 3 };
  /* column 0 (scores, truth): (0.9, 1) (0.8, 0) (0.8, 1) (0.8, 1) (0.3, 0) (0.1, 1), and
   * (0.95, unknown) skipped. P = 4, N = 2. Descending groups:
   *   0.9: tp 1 fp 0 -> (1/4) * 1 = 1/4
   *   0.8 (all three together): tp 3 fp 1 -> (2/4) * (3/4) = 3/8
   *   0.3: tp 3 fp 2, no recall step
   *   0.1: tp 4 fp 2 -> (1/4) * (4/6) = 1/6        AP = 6/24 + 9/24 + 4/24 = 19/24
   * (entered one at a time, positives first, the 0.8s would give 1/4 + 1/2 * 1 + ... = more).
   * AUC over the 8 pairs: the 0.9 beats both negatives (2); each 0.8 positive beats 0.3 and
   * ties the 0.8 negative (1 + 1/2, twice: 3); the 0.1 beats none: U = 5 -> 5/8.
   * column 1: no positive (AP, AUC NaN); column 2: all known entries positive (AP 1, AUC NaN). */
  const float s[N * K] = {0.9f, 0.5f, 0.2f, 0.8f, 0.5f, 0.4f, 0.8f, 0.1f, 0.4f, 0.8f, 0.9f, 0.6f,
                          0.3f, 0.5f, 0.1f, 0.1f, 0.5f, 0.9f, 0.95f, 0.2f, 0.3f};
  const uint8_t y[N * K] = {1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, PB_ML_UNKNOWN, 0, PB_ML_UNKNOWN};
  pb_ml_ranking r;
  pb_ml_ranking_init(&r, K);
  pb_ml_ranking_compute(&r, s, y, N, K);
  PB_CHECK(r.pos[0] == 4 && r.neg[0] == 2 && r.pos[1] == 0 && r.neg[1] == 7 && r.pos[2] == 6 && r.neg[2] == 0);
  PB_CHECK_MSG(near(r.ap[0], 19.0 / 24) && r.auc[0] == 5.0 / 8, "%.17g %.17g", r.ap[0], r.auc[0]);
  PB_CHECK(isnan(r.ap[1]) && isnan(r.auc[1]) && near(r.ap[2], 1.0) && isnan(r.auc[2]));
  /* macro over the defined classes: AP over columns 0 and 2, AUC over column 0 only */
  PB_CHECK(r.nap == 2 && near(r.map, (19.0 / 24 + 1) / 2) && r.nauc == 1 && r.mauc == 5.0 / 8);
  /* perfect and reversed rankings, a single tie of everything */
  const float p[4] = {0.1f, 0.2f, 0.3f, 0.4f};
  const uint8_t yp[4] = {0, 0, 1, 1}, yr[4] = {1, 1, 0, 0};
  pb_ml_ranking q;
  pb_ml_ranking_init(&q, 1);
  pb_ml_ranking_compute(&q, p, yp, 4, 1);
  PB_CHECK(q.ap[0] == 1.0 && q.auc[0] == 1.0);
  pb_ml_ranking_compute(&q, p, yr, 4, 1); /* AP: 0.2 -> 1/2 * 1/3, 0.1 -> 1/2 * 2/4 = 5/12 */
  PB_CHECK(near(q.ap[0], 5.0 / 12) && q.auc[0] == 0.0);
  const float flat[4] = {0.5f, 0.5f, 0.5f, 0.5f}; /* one group: AP = prevalence, AUC = 1/2 */
  pb_ml_ranking_compute(&q, flat, yp, 4, 1);
  PB_CHECK(q.ap[0] == 0.5 && q.auc[0] == 0.5);
  /* a NaN score in a defined class: NaN there and in the macro means, never dropped */
  const float sn[4] = {0.1f, NAN, 0.3f, 0.4f};
  pb_ml_ranking_compute(&q, sn, yp, 4, 1);
  PB_CHECK(isnan(q.ap[0]) && isnan(q.auc[0]) && isnan(q.map) && isnan(q.mauc) && q.nap == 1);
  pb_ml_ranking_compute(&q, p, yp, 0, 1); /* no image */
  PB_CHECK(q.nap == 0 && isnan(q.map) && isnan(q.mauc) && q.pos[0] == 0);
  pb_ml_ranking_free(&q);
  pb_ml_ranking_free(&r);
  pb_ml_ranking_free(&r); /* zeroed: fine */
  pb_ml_ranking_free(NULL);
}

static double read_num(FILE *f) {
  char v[64];
  if (fscanf(f, "%63s", v) != 1) return -1e300;
  return strcmp(v, "nan") ? strtod(v, NULL) : NAN;
}

/* |a - b| <= 1e-12 * |b| (and 1e-15 absolute for values near 0); NaN matches NaN */
static int close_rel(double a, double b) {
  if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
  return fabs(a - b) <= 1e-12 * fabs(b) + 1e-15;
}

static void test_fixture(void) {
  const char *path = pb_test_fixture("multilabel_sklearn.txt");
  FILE *f = fopen(path, "r");
  PB_CHECK_MSG(f != NULL, "cannot open %s", path);
  if (!f) return;
  int cases = 0;
  char tag[16];
  while (fscanf(f, "%15s", tag) == 1) {
    PB_CHECK_MSG(!strcmp(tag, "case"), "%s: expected 'case', got '%s'", path, tag);
    long n;
    int k;
    if (fscanf(f, "%ld %d", &n, &k) != 2 || n < 1 || k < 1) break;
    float *s = malloc((size_t)(n * k) * sizeof *s);
    uint8_t *y = malloc((size_t)(n * k));
    for (long i = 0; i < n * k; i++) PB_CHECK(fscanf(f, "%f", &s[i]) == 1); /* %.9g: exact */
    for (long i = 0; i < n * k; i++) {
      int v = -1;
      PB_CHECK(fscanf(f, "%d", &v) == 1 && (v == 0 || v == 1 || v == PB_ML_UNKNOWN));
      y[i] = (uint8_t)v;
    }
    pb_ml_sweep sw;
    pb_ml_f2_sweep(s, y, n, k, &sw);
    /* the F2 per image is bit-equal to numpy's; the means differ by summation order only */
    for (int i = 0; i < PB_ML_NTHRESH; i++) {
      double want = read_num(f);
      PB_CHECK_MSG(fabs(sw.f2[i] - want) <= 1e-12, "case %d t %.17g: %.17g vs numpy %.17g", cases, sw.t[i], sw.f2[i],
                   want);
    }
    int best = -1;
    PB_CHECK(fscanf(f, "%d", &best) == 1);
    PB_CHECK_MSG(sw.best == best, "case %d: best %d vs numpy %d", cases, sw.best, best);
    for (int q = 0; q < 3; q++) {
      double t;
      int lo, hi;
      PB_CHECK(fscanf(f, "%lf %d %d", &t, &lo, &hi) == 3);
      double want = read_num(f), got = pb_ml_f2_mean_select(s, y, n, k, t, lo, hi);
      PB_CHECK_MSG(fabs(got - want) <= 1e-12, "case %d select %g %d %d: %.17g vs %.17g", cases, t, lo, hi, got, want);
    }
    pb_ml_ranking r;
    pb_ml_ranking_init(&r, k);
    pb_ml_ranking_compute(&r, s, y, n, k);
    for (int j = 0; j < k; j++) {
      double want = read_num(f);
      PB_CHECK_MSG(close_rel(r.ap[j], want), "case %d class %d AP %.17g vs sklearn %.17g", cases, j, r.ap[j], want);
    }
    for (int j = 0; j < k; j++) {
      double want = read_num(f);
      PB_CHECK_MSG(close_rel(r.auc[j], want), "case %d class %d AUC %.17g vs sklearn %.17g", cases, j, r.auc[j],
                   want);
    }
    double wmap = read_num(f), wmauc = read_num(f);
    PB_CHECK_MSG(close_rel(r.map, wmap) && close_rel(r.mauc, wmauc), "case %d: mAP %.17g vs %.17g, mAUC %.17g vs %.17g",
                 cases, r.map, wmap, r.mauc, wmauc);
    pb_ml_ranking_free(&r);
    free(s), free(y);
    cases++;
  }
  fclose(f);
  PB_CHECK_MSG(cases >= 8, "%s: only %d cases read", path, cases);
}

int main(void) {
  test_f2_counts();
  test_f2_threshold();
  test_sweep();
  test_select();
  test_ranking();
  test_fixture();
  return pb_test_exit("test_multilabel");
}
