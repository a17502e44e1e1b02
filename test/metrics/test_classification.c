/* test_classification.c: metrics/classification.c by hand-counted cases: overall and
 * bias-aligned / bias-conflicting accuracy, NaN for an empty denominator, per-class counts with
 * missing (< 0) and out-of-range labels left out, and the Bias Bounty disparity (max - min
 * per-class accuracy over the classes present; 0 with one class, NaN with none). */
#include <math.h>

#include "metrics/classification.h"
#include "test/testutil.h"

static int near(double a, double b) { return fabs(a - b) < 1e-12; }

static void test_counts(void) {
  const int32_t pred[8] = {0, 1, 2, 2, 1, 0, 3, 3}, y[8] = {0, 1, 1, 2, 0, 0, 3, 1};
  const uint8_t aligned[8] = {1, 1, 0, 1, 0, 0, 1, 0};
  pb_cls_counts c = {0};
  pb_cls_counts_add(&c, pred, y, aligned, 5);
  pb_cls_counts_add(&c, pred + 5, y + 5, aligned + 5, 3); /* accumulates across batches */
  /* correct: rows 0, 1, 3, 5, 6 -> 5 of 8; aligned rows 0,1,3,6: all correct; conflicting 2,4,5,7: row 5 */
  PB_CHECK(c.n == 8 && c.correct == 5);
  PB_CHECK(c.n_aligned == 4 && c.correct_aligned == 4);
  PB_CHECK(c.n_conflicting == 4 && c.correct_conflicting == 1);
  PB_CHECK(near(pb_ratio(c.correct, c.n), 0.625));
  PB_CHECK(isnan(pb_ratio(0, 0)));
  pb_cls_counts d = {0};
  pb_cls_counts_add(&d, pred, y, NULL, 8); /* no bias attribute */
  PB_CHECK(d.n == 8 && d.correct == 5 && d.n_aligned == 0 && d.n_conflicting == 0);
}

static void test_per_class(void) {
  pb_class_counts c;
  pb_class_counts_init(&c, 3);
  PB_CHECK(isnan(pb_class_counts_disparity(&c))); /* no class present */
  const int32_t pred[7] = {0, 0, 1, 1, 2, 2, 0}, y[7] = {0, 1, 1, 1, -1, 7, 0};
  pb_class_counts_add(&c, pred, y, 7);
  /* counted: rows 0, 1, 2, 3, 6 (row 4 missing, row 5 out of range); class 0: 2/2, class 1: 2/3 */
  PB_CHECK(c.n == 5 && c.correct == 4);
  PB_CHECK(c.per_n[0] == 2 && c.per_correct[0] == 2 && c.per_n[1] == 3 && c.per_correct[1] == 2 && c.per_n[2] == 0);
  PB_CHECK_MSG(near(pb_class_counts_disparity(&c), 1.0 - 2.0 / 3.0), "disparity %g", pb_class_counts_disparity(&c));
  pb_class_counts_free(&c);
  pb_class_counts_init(&c, 2);
  const int32_t p1[2] = {1, 0}, y1[2] = {1, 1};
  pb_class_counts_add(&c, p1, y1, 2);
  PB_CHECK(near(pb_class_counts_disparity(&c), 0.0)); /* one class present */
  pb_class_counts_free(&c);
  pb_class_counts_free(NULL);
}

int main(void) {
  test_counts();
  test_per_class();
  return pb_test_exit("test_classification");
}
