/* test_calibration.c: metrics/calibration.c (reliability table, ECE, MCE) by hand-computed cases:
 * the (lower, upper] bins on float32 linspace boundaries (1/15 exactly on a boundary, the
 * boundaries torch computes as 1 - step * i), first-max ties, missing labels, a subset mask, empty
 * bins skipped, all correct at confidence 1, n = 0 giving NaN, a NaN logit, the stable softmax;
 * then against torch on random cases (test/fixtures/metrics_calib_biasamp.txt, written by
 * scripts/fixtures/metrics_calib_biasamp.py: Guo et al.'s _ECELoss in float32 and the same bins
 * in float64). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/calibration.h"
#include "test/testutil.h"

static int near(double a, double b, double tol) { return fabs(a - b) <= tol; }

/* 5 bins (0,.2] (.2,.4] (.4,.6] (.6,.8] (.8,1]; probabilities, k = 2:
 *   s0 [.9 .1]  y0: conf .9,  pred 0, right, bin 4
 *   s1 [.3 .7]  y0: conf .7,  pred 1, wrong, bin 3
 *   s2 [.65 .35] y0: conf .65, pred 0, right, bin 3
 *   s3 [.95 .05] y1: conf .95, pred 0, wrong, bin 4
 *   s4 [.5 .5]  y1: conf .5,  pred 0 (first max), wrong, bin 2
 *   s5 [.2 .8]  y-1: missing, left out
 * bin 2: 1 sample, acc 0, conf .5: gap .5; bin 3: acc 1/2, conf (.7 + .65)/2 = .675: gap .175;
 * bin 4: acc 1/2, conf (.9 + .95)/2 = .925: gap .425; bins 0, 1 empty.
 * ECE = 1/5 .5 + 2/5 .175 + 2/5 .425 = .1 + .07 + .17 = .34; MCE = .5; accuracy 2/5;
 * mean confidence (.9 + .7 + .65 + .95 + .5)/5 = .74 (all with the float32 values). */
static void test_hand(void) {
  const float p[12] = {.9f, .1f, .3f, .7f, .65f, .35f, .95f, .05f, .5f, .5f, .2f, .8f};
  const int32_t y[6] = {0, 0, 0, 1, 1, -1};
  double c9 = .9f, c7 = .7f, c65 = .65f, c95 = .95f, c5 = .5f;
  pb_calib r;
  pb_calib_from_probs(p, y, 6, 2, 5, NULL, &r);
  PB_CHECK(r.nbins == 5 && r.n == 5 && r.correct == 2 && r.n_nan == 0);
  PB_CHECK(r.bins[0].count == 0 && r.bins[1].count == 0 && isnan(r.bins[0].acc) && isnan(r.bins[1].conf));
  PB_CHECK(r.bins[2].count == 1 && r.bins[3].count == 2 && r.bins[4].count == 2);
  PB_CHECK(r.bins[3].correct == 1 && r.bins[4].correct == 1 && r.bins[2].correct == 0);
  PB_CHECK(near(r.bins[3].conf, (c7 + c65) / 2, 1e-15) && near(r.bins[4].acc, 0.5, 0));
  double g2 = c5, g3 = fabs(0.5 - (c7 + c65) / 2), g4 = fabs(0.5 - (c9 + c95) / 2);
  double ece = 0.2 * g2 + 0.4 * g3 + 0.4 * g4;
  PB_CHECK_MSG(near(r.ece, ece, 1e-12) && near(r.ece, 0.34, 1e-6), "ece %.17g vs %.17g", r.ece, ece);
  PB_CHECK(near(r.mce, 0.5, 1e-12) && near(r.accuracy, 0.4, 1e-15));
  PB_CHECK(near(r.mean_conf, (c9 + c7 + c65 + c95 + c5) / 5, 1e-12) && near(r.mean_conf, 0.74, 1e-6));
  PB_CHECK(r.bins[0].lower == 0.0f && r.bins[4].upper == 1.0f && r.bins[2].lower == r.bins[1].upper);
  /* mask {s0, s1}: bin 4 .9 right (gap .1), bin 3 .7 wrong (gap .7): ECE .4, MCE .7 */
  const uint8_t mask[6] = {1, 1, 0, 0, 0, 1};
  pb_calib_from_probs(p, y, 6, 2, 5, mask, &r);
  PB_CHECK(r.n == 2 && near(r.ece, 0.5 * (1 - c9) + 0.5 * c7, 1e-12) && near(r.mce, c7, 1e-12));
  /* the same through precomputed confidences */
  const float conf[6] = {.9f, .7f, .65f, .95f, .5f, .8f};
  const int32_t pred[6] = {0, 1, 0, 0, 0, 1};
  pb_calib_from_conf(conf, pred, y, 6, 5, NULL, &r);
  PB_CHECK(r.n == 5 && near(r.ece, ece, 1e-12) && near(r.mce, 0.5, 1e-12));
}

/* Boundaries: float32 linspace; a confidence exactly on a boundary belongs to the lower bin. */
static void test_boundaries(void) {
  float b[PB_CALIB_MAX_BINS + 1];
  pb_calib_boundaries(15, b);
  /* torch.linspace(0, 1, 16) on this project's torch: b[1] = 0.0666666701 = (float)(1/15);
   * b[8] = 1 - 7 step = 0.533333302 (not (float)(8/15) = 0.533333361); b[15] = 1 exactly */
  PB_CHECK(b[0] == 0.0f && b[1] == (float)(1.0 / 15) && b[15] == 1.0f);
  PB_CHECK(b[8] == 0.533333302f && b[8] != (float)(8.0 / 15) && b[12] == 0.799999952f);
  PB_CHECK(pb_calib_bin_of(b[1], b, 15) == 0 && pb_calib_bin_of(nextafterf(b[1], 2), b, 15) == 1);
  PB_CHECK(pb_calib_bin_of(b[8], b, 15) == 7 && pb_calib_bin_of((float)(8.0 / 15), b, 15) == 8);
  PB_CHECK(pb_calib_bin_of(1.0f, b, 15) == 14 && pb_calib_bin_of(0.0f, b, 15) == 0);
  PB_CHECK(pb_calib_bin_of(1.5f, b, 15) == 14 && pb_calib_bin_of(-0.5f, b, 15) == 0);
  PB_CHECK(pb_calib_bin_of(NAN, b, 15) == -1);
  /* every boundary and its float neighbours, for several nbins, against a linear search */
  for (int nb = 1; nb <= PB_CALIB_MAX_BINS; nb += 7) {
    pb_calib_boundaries(nb, b);
    for (int i = 0; i <= nb; i++) {
      float cs[3] = {b[i], nextafterf(b[i], -1), nextafterf(b[i], 2)};
      for (int j = 0; j < 3; j++) {
        float c = cs[j];
        int want = 0;
        for (int q = 0; q < nb; q++)
          if (c > b[q] && c <= b[q + 1]) want = q;
        if (c > 1) want = nb - 1;
        PB_CHECK_MSG(pb_calib_bin_of(c, b, nb) == want, "nb %d c %.9g: %d vs %d", nb, c, pb_calib_bin_of(c, b, nb),
                     want);
      }
    }
  }
}

/* Softmax: [1 1 1 1] gives 1/4 and the first index; [1002 1000] the same as [2 0] (stable):
 * 1 / (1 + e^-2) = 0.880797...; a NaN logit gives NaN and pred -1, left out as n_nan. */
static void test_softmax(void) {
  const float eq[4] = {1, 1, 1, 1}, big[2] = {1002, 1000}, small[2] = {2, 0}, lo[2] = {0, 2};
  int32_t p;
  PB_CHECK(pb_calib_softmax_conf(eq, 4, &p) == 0.25f && p == 0);
  float cb = pb_calib_softmax_conf(big, 2, &p);
  PB_CHECK(p == 0 && cb == pb_calib_softmax_conf(small, 2, &p) && near(cb, 1 / (1 + exp(-2.0)), 1e-7));
  PB_CHECK(pb_calib_softmax_conf(lo, 2, &p) == cb && p == 1);
  const float lg[6] = {2, 0, NAN, 1, 0, 2};
  const int32_t y[3] = {0, 0, 0};
  pb_calib r;
  pb_calib_from_logits(lg, y, 3, 2, 15, NULL, &r);
  /* s0 conf .8808 right (bin 13: (.8667, .9333]); s2 conf .8808 wrong: acc 1/2, gap .3808 */
  PB_CHECK(r.n == 2 && r.n_nan == 1 && r.bins[13].count == 2 && near(r.ece, cb - 0.5, 1e-7));
}

/* All correct at confidence 1: one bin, ECE 0; n = 0 (all missing, or no sample): NaN. */
static void test_edges(void) {
  const float p[6] = {1, 0, 0, 1, 1, 0};
  const int32_t y[3] = {0, 1, 0}, miss[3] = {-1, -1, -1};
  pb_calib r;
  pb_calib_from_probs(p, y, 3, 2, 15, NULL, &r);
  PB_CHECK(r.n == 3 && r.bins[14].count == 3 && r.ece == 0 && r.mce == 0 && r.accuracy == 1);
  pb_calib_from_probs(p, miss, 3, 2, 15, NULL, &r);
  PB_CHECK(r.n == 0 && isnan(r.ece) && isnan(r.mce) && isnan(r.accuracy) && isnan(r.mean_conf));
  pb_calib_from_logits(NULL, NULL, 0, 2, 15, NULL, &r);
  PB_CHECK(r.n == 0 && isnan(r.ece) && r.bins[3].count == 0);
  /* a confidence of exactly 0 (all-zero probabilities) goes to bin 0; the label 5 >= k is missing */
  const float z[4] = {0, 0, 0.3f, 0.7f};
  const int32_t yz[2] = {0, 5};
  pb_calib_from_probs(z, yz, 2, 2, 15, NULL, &r);
  PB_CHECK(r.n == 1 && r.bins[0].count == 1 && r.correct == 1 && near(r.ece, 1, 0));
}

static int read_floats(FILE *f, float *x, long n) {
  for (long i = 0; i < n; i++)
    if (fscanf(f, "%f", &x[i]) != 1) return 0;
  return 1;
}

static double read_num(FILE *f) {
  char v[64];
  if (fscanf(f, "%63s", v) != 1) return -1e300;
  return strcmp(v, "nan") ? strtod(v, NULL) : NAN;
}

/* Tolerances: from probabilities the confidences are the fixture's float32 values, so the float64
 * reference agrees to 1e-12; from logits plumb's softmax (double sum) may differ from torch's by
 * an ulp, so 1e-6 (bin counts stay exact: no random confidence lies within an ulp of a
 * boundary); torch's float32 ECE accumulation agrees to 1e-6. */
static void test_torch_fixture(void) {
  const char *path = pb_test_fixture("metrics_calib_biasamp.txt");
  FILE *f = fopen(path, "r");
  PB_CHECK_MSG(f != NULL, "cannot open %s", path);
  if (!f) return;
  int cases = 0;
  char tag[16], kind[16];
  while (fscanf(f, "%15s", tag) == 1 && !strcmp(tag, "calib")) {
    long n;
    int k, nb;
    if (fscanf(f, "%15s %ld %d %d", kind, &n, &k, &nb) != 4 || nb > PB_CALIB_MAX_BINS) break;
    int32_t *y = malloc((size_t)n * 4);
    float *v = malloc((size_t)n * k * 4), b[PB_CALIB_MAX_BINS + 1], mine[PB_CALIB_MAX_BINS + 1];
    for (long i = 0; i < n; i++) PB_CHECK(fscanf(f, "%d", &y[i]) == 1);
    PB_CHECK(read_floats(f, v, n * k) && read_floats(f, b, nb + 1));
    int logits = !strcmp(kind, "logits");
    pb_calib r;
    if (logits) pb_calib_from_logits(v, y, n, k, nb, NULL, &r);
    else pb_calib_from_probs(v, y, n, k, nb, NULL, &r);
    pb_calib_boundaries(nb, mine);
    PB_CHECK_MSG(!memcmp(mine, b, (size_t)(nb + 1) * sizeof(float)), "case %d: boundaries differ from torch", cases);
    for (int i = 0; i < nb; i++) {
      long cnt;
      PB_CHECK(fscanf(f, "%ld", &cnt) == 1);
      PB_CHECK_MSG(r.bins[i].count == cnt, "case %d bin %d: %ld vs torch %ld", cases, i, r.bins[i].count, cnt);
    }
    for (int i = 0; i < nb; i++) {
      long cor;
      PB_CHECK(fscanf(f, "%ld", &cor) == 1);
      PB_CHECK_MSG(r.bins[i].correct == cor, "case %d bin %d correct: %ld vs %ld", cases, i, r.bins[i].correct, cor);
    }
    double ece32 = read_num(f), mce32 = read_num(f);
    double ece = read_num(f), mce = read_num(f), acc = read_num(f), mc = read_num(f);
    double tol = logits ? 1e-6 : 1e-12;
    PB_CHECK_MSG(near(r.ece, ece, tol) && near(r.ece, ece32, 1e-6), "case %d ece %.17g vs %.17g / torch %.9g",
                 cases, r.ece, ece, ece32);
    PB_CHECK_MSG(near(r.mce, mce, tol) && near(r.mce, mce32, 1e-6), "case %d mce %.17g vs %.17g", cases, r.mce, mce);
    PB_CHECK_MSG(near(r.accuracy, acc, 1e-12) && near(r.mean_conf, mc, tol), "case %d acc %.17g conf %.17g", cases,
                 r.accuracy, r.mean_conf);
    free(y), free(v);
    cases++;
  }
  fclose(f);
  PB_CHECK_MSG(cases >= 6, "%s: only %d calibration cases read", path, cases);
}

int main(void) {
  test_hand();
  test_boundaries();
  test_softmax();
  test_edges();
  test_torch_fixture();
  return pb_test_exit("test_calibration");
}
