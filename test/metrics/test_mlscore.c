/* test_mlscore.c: metrics/mlscore.c by hand-computed cases: the Inclusive Images score (a
 * label ranked inside top_k against the logits ranked from top_k on, zero outside, ties broken by
 * the smaller index, top_k >= k), sigmoid and softmax rows, a NaN row, and the names. The values
 * are closed forms in double, so the tolerance is float32 rounding. */
#include <math.h>
#include <string.h>

#include "metrics/mlscore.h"
#include "test/testutil.h"

static int near(double a, double b) { return fabs(a - b) <= 1e-7 * fmax(1.0, fabs(b)); }

static void test_inclusive(void) {
  /* row 0: logits [3, 1, 2, 0], top 2 = labels 0 (3) and 2 (2); the rest {1, 0}:
   *   s0 = 1 / (1 + e^(1-3) + e^(0-3)), s2 = 1 / (1 + e^(1-2) + e^(0-2)), s1 = s3 = 0.
   * row 1: a tie [1, 1, 0, 0]: labels 0 and 1 (by index), the rest {0, 0} -> both 1/(1+2e^-1). */
  const float z[8] = {3, 1, 2, 0, 1, 1, 0, 0};
  float s[8];
  pb_ml_scores(s, z, 2, 4, PB_MLSCORE_INCLUSIVE, 2);
  PB_CHECK(near(s[0], 1 / (1 + exp(-2.0) + exp(-3.0))) && s[1] == 0 && near(s[2], 1 / (1 + exp(-1.0) + exp(-2.0))) &&
           s[3] == 0);
  PB_CHECK(near(s[4], 1 / (1 + 2 * exp(-1.0))) && near(s[5], s[4]) && s[6] == 0 && s[7] == 0);
  /* a tie across the top_k boundary: [1, 0, 1, 1] with top 1 -> label 0 (the smaller index)
   * against labels 2, 3 and 1 = 1 / (1 + 1 + 1 + e^-1); labels 2 and 3 score 0 */
  const float t[4] = {1, 0, 1, 1};
  pb_ml_scores(s, t, 1, 4, PB_MLSCORE_INCLUSIVE, 1);
  PB_CHECK(near(s[0], 1 / (3 + exp(-1.0))) && s[1] == 0 && s[2] == 0 && s[3] == 0);
  /* top_k >= k: nothing left to compare with, every label scores 1 */
  pb_ml_scores(s, z, 1, 4, PB_MLSCORE_INCLUSIVE, 150);
  PB_CHECK(s[0] == 1 && s[1] == 1 && s[2] == 1 && s[3] == 1);
}

static void test_sigmoid_softmax(void) {
  const float z[3] = {0, 2, -30};
  float s[3];
  pb_ml_scores(s, z, 1, 3, PB_MLSCORE_SIGMOID, 1);
  PB_CHECK(s[0] == 0.5f && near(s[1], 1 / (1 + exp(-2.0))) && near(s[2], 1 / (1 + exp(30.0))));
  pb_ml_scores(s, z, 1, 3, PB_MLSCORE_SOFTMAX, 1);
  double sum = 1 + exp(2.0) + exp(-30.0);
  PB_CHECK(near(s[0], 1 / sum) && near(s[1], exp(2.0) / sum) && near(s[2], exp(-30.0) / sum));
  const float zn[6] = {0, NAN, 1, 1, 2, 3}; /* a NaN row stays NaN, the next is untouched */
  float sn[6];
  for (int kind = 0; kind < 3; kind++) {
    pb_ml_scores(sn, zn, 2, 3, (pb_mlscore_kind)kind, 1);
    PB_CHECK(isnan(sn[0]) && isnan(sn[1]) && isnan(sn[2]) && !isnan(sn[3]) && !isnan(sn[5]));
  }
}

static void test_names(void) {
  PB_CHECK(pb_mlscore_parse("sigmoid") == PB_MLSCORE_SIGMOID && pb_mlscore_parse("inclusive") == PB_MLSCORE_INCLUSIVE);
  PB_CHECK(pb_mlscore_parse("softmax") == PB_MLSCORE_SOFTMAX && pb_mlscore_parse("bce") == -1);
  PB_CHECK(!strcmp(pb_mlscore_name(PB_MLSCORE_INCLUSIVE), "inclusive"));
}

int main(void) {
  test_inclusive();
  test_sigmoid_softmax();
  test_names();
  return pb_test_exit("test_mlscore");
}
