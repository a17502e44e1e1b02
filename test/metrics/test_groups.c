/* test_groups.c: metrics/groups.c, accuracy per group with its disparity, and the 8-bit Bias
 * Bounty score, by hand-computed cases: missing labels and out-of-range groups left out, empty
 * groups NaN and not in the disparity, group NULL = per-class accuracy, one group (disparity 0),
 * none (NaN). No library reference: the values are ratios of integer counts, and the hand cases
 * cover each rule. */
#include <math.h>
#include <stddef.h>

#include "metrics/groups.h"
#include "test/testutil.h"

static int near(double a, double b) { return fabs(a - b) <= 1e-12; }

/* 8 samples, 3 groups (group 1 empty after the exclusions):
 *   i   0 1 2 3 4 5  6 7
 *   y   0 1 1 0 2 2 -1 0
 *   p   0 1 0 0 2 1  0 1
 *   g   0 0 0 2 2 2  0 5
 * sample 6: missing label; sample 7: group 5 >= 3, left out. Group 0 {0, 1, 2}: 2/3; group 1
 * empty (NaN, not in the disparity); group 2 {3, 4, 5}: 2/3 -> disparity 0, worst = best = 0
 * (the first); overall 4/6. */
static void test_groups(void) {
  const int32_t y[8] = {0, 1, 1, 0, 2, 2, -1, 0}, p[8] = {0, 1, 0, 0, 2, 1, 0, 1}, g[8] = {0, 0, 0, 2, 2, 2, 0, 5};
  pb_group_acc r;
  pb_group_accuracy(p, y, g, 8, 3, &r);
  PB_CHECK(r.n == 6 && r.correct == 4 && near(r.accuracy, 4.0 / 6) && r.present == 2);
  PB_CHECK(r.per_n[0] == 3 && r.per_n[1] == 0 && r.per_n[2] == 3 && isnan(r.acc[1]));
  PB_CHECK(near(r.acc[0], 2.0 / 3) && near(r.acc[2], 2.0 / 3) && r.disparity == 0 && r.worst == 0 && r.best == 0);
  pb_group_acc_free(&r);
  pb_group_accuracy(p, y, NULL, 8, 3, &r); /* per class; sample 7 (class 0, wrong) now counts */
  /* class 0 {0, 3, 7}: 2/3; class 1: 1/2; class 2: 1/2 -> disparity 2/3 - 1/2 = 1/6; 5 of 7 */
  PB_CHECK(r.n == 7 && r.correct == 4 && near(r.acc[0], 2.0 / 3) && near(r.acc[1], 0.5) && near(r.acc[2], 0.5));
  PB_CHECK(near(r.disparity, 1.0 / 6) && r.worst == 1 && r.best == 0 && r.present == 3);
  pb_group_acc_free(&r);
  /* one group present: disparity 0; none (n = 0 or all missing): NaN */
  const int32_t g1[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  pb_group_accuracy(p, y, g1, 8, 3, &r);
  PB_CHECK(r.present == 1 && r.disparity == 0 && near(r.acc[1], 4.0 / 7));
  pb_group_acc_free(&r);
  pb_group_accuracy(NULL, NULL, NULL, 0, 4, &r);
  PB_CHECK(r.n == 0 && r.present == 0 && isnan(r.accuracy) && isnan(r.disparity) && r.worst == -1);
  pb_group_acc_free(&r);
  pb_group_acc_free(NULL);
}

/* Score = 10 As (1 - Ds^5) + 4 Aa (1 - Da^2) + 2 Ag (1 - Dg):
 * perfect heads 16; As .8 Ds .5: 10 .8 (1 - 1/32) = 7.75; Aa .6 Da .5: 4 .6 .75 = 1.8;
 * Ag .9 Dg .1: 2 .9 .9 = 1.62; total 11.17. The order matters: swapping age and gender gives
 * 10 .8 (31/32) + 4 .9 (1 - .01) + 2 .6 (1 - .5) = 7.75 + 3.564 + .6 = 11.914. */
static void test_bounty(void) {
  PB_CHECK(pb_bias_bounty_score(1, 0, 1, 0, 1, 0) == 16);
  PB_CHECK(near(pb_bias_bounty_score(.8, .5, .6, .5, .9, .1), 11.17));
  PB_CHECK(near(pb_bias_bounty_score(.8, .5, .9, .1, .6, .5), 11.914));
  PB_CHECK(pb_bias_bounty_score(0, 1, 0, 1, 0, 1) == 0);
  PB_CHECK(isnan(pb_bias_bounty_score(NAN, 0, 1, 0, 1, 0)));
}

int main(void) {
  test_groups();
  test_bounty();
  return pb_test_exit("test_groups");
}
