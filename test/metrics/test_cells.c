/* test_cells.c: metrics/cells.c, the cell-averaged accuracy (ReBias's ImageNet-9 "unbiased"
 * accuracy), by hand-computed cases: the >= min_cell rule at its edge, the cell keyed by the TRUE
 * label (not the prediction), the unweighted mean over cells and then over groupings, missing
 * labels and negative groups left out, group ids far apart, NaN when a grouping has no cell;
 * then against scikit-learn on random cases (test/fixtures/cells_sklearn.txt, written by
 * scripts/fixtures/gen_cells_fixture.py: accuracy_score per cell of a numpy groupby). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/cells.h"
#include "test/testutil.h"

static int near(double a, double b) { return fabs(a - b) < 1e-12; }

/* One grouping: 2 classes, groups 0/1. Cells: (0,0) 3 images 2 right; (0,1) 2 images 2 right;
 * (1,0) 1 image 0 right; (1,1) 4 images 1 right. */
static void test_one_grouping(void) {
  const int32_t label[10] = {0, 0, 0, 0, 0, 1, 1, 1, 1, 1};
  const int32_t pred[10] = {0, 0, 1, 0, 0, 0, 1, 0, 0, 0};
  const int32_t group[10] = {0, 0, 0, 1, 1, 0, 1, 1, 1, 1};
  pb_cell_acc r;
  pb_cell_accuracy(pred, label, group, 10, 1, 2, 1, &r); /* every cell */
  PB_CHECK(r.ngroupings == 1 && r.cells[0] == 4 && r.images[0] == 10);
  double all = (2.0 / 3 + 1.0 + 0.0 + 1.0 / 4) / 4;
  PB_CHECK_MSG(near(r.acc[0], all) && near(r.mean, all), "%.15g vs %.15g", r.acc[0], all);
  pb_cell_accuracy(pred, label, group, 10, 1, 2, 2, &r); /* (1,0) has 1 image: out */
  PB_CHECK(r.cells[0] == 3 && r.images[0] == 9 && near(r.acc[0], (2.0 / 3 + 1.0 + 1.0 / 4) / 3));
  pb_cell_accuracy(pred, label, group, 10, 1, 2, 3, &r); /* ">= min_cell": 3 and 4 images count */
  PB_CHECK(r.cells[0] == 2 && near(r.acc[0], (2.0 / 3 + 1.0 / 4) / 2));
  pb_cell_accuracy(pred, label, group, 10, 1, 2, 4, &r);
  PB_CHECK(r.cells[0] == 1 && near(r.acc[0], 0.25));
  pb_cell_accuracy(pred, label, group, 10, 1, 2, 5, &r); /* no cell: NaN, not 0 */
  PB_CHECK(r.cells[0] == 0 && r.images[0] == 0 && isnan(r.acc[0]) && isnan(r.mean));
  /* Plain accuracy would be 4/10; the cell mean weighs the small cells as much as the big. */
}

/* The cell is (true label, group): keyed by the prediction instead, image 0 (label 1, predicted
 * 0) would fall into (0, 0) and make it 1 of 2. */
static void test_true_label(void) {
  const int32_t label[4] = {1, 0, 1, 1}, pred[4] = {0, 0, 1, 1}, group[4] = {0, 0, 0, 0};
  pb_cell_acc r;
  pb_cell_accuracy(pred, label, group, 4, 1, 2, 1, &r);
  /* cells (0,0): 1/1; (1,0): 2/3 */
  PB_CHECK(r.cells[0] == 2 && near(r.acc[0], (1.0 + 2.0 / 3) / 2));
}

/* Three groupings [n, 3] row-major, a missing label, a negative group, a group id of 2^31-1. */
static void test_groupings(void) {
  enum { N = 6 };
  const int32_t label[N] = {0, 0, 1, 1, -1, 2};
  const int32_t pred[N] = {0, 1, 1, 1, 0, 0};
  const int32_t groups[N * 3] = {
      /* g1 g2 g3 */
      0, 5, 2147483647, /* image 0: right */
      0, 5, 2147483647, /* image 1: wrong */
      0, 5, 0,          /* image 2: right */
      1, -1, 0,         /* image 3: right; left out of grouping 2 */
      0, 0, 0,          /* image 4: missing label, left out everywhere */
      0, 5, 0,          /* image 5: class 2 >= k = 2, left out everywhere */
  };
  pb_cell_acc r;
  pb_cell_accuracy(pred, label, groups, N, 3, 2, 1, &r);
  PB_CHECK(r.ngroupings == 3);
  /* g1: (0,0) 1/2, (1,0) 1/1, (1,1) 1/1 -> (0.5 + 1 + 1) / 3 */
  PB_CHECK(r.cells[0] == 3 && r.images[0] == 4 && near(r.acc[0], 2.5 / 3));
  /* g2: (0,5) 1/2, (1,5) 1/1 -> 0.75 */
  PB_CHECK(r.cells[1] == 2 && r.images[1] == 3 && near(r.acc[1], 0.75));
  /* g3: (0,2^31-1) 1/2, (1,0) 2/2 -> 0.75 */
  PB_CHECK(r.cells[2] == 2 && r.images[2] == 4 && near(r.acc[2], 0.75));
  PB_CHECK(near(r.mean, (2.5 / 3 + 0.75 + 0.75) / 3));
  /* min_cell 2: g1 keeps (0,0) only: 0.5; g2 (0,5): 0.5; g3 both: 0.75 */
  pb_cell_accuracy(pred, label, groups, N, 3, 2, 2, &r);
  PB_CHECK(r.cells[0] == 1 && near(r.acc[0], 0.5) && r.cells[1] == 1 && near(r.acc[1], 0.5) && r.cells[2] == 2);
  PB_CHECK(near(r.mean, (0.5 + 0.5 + 0.75) / 3));
  /* min_cell 3: g1 and g2 have no cell, g3 neither: NaN mean; a grouping without a cell makes
   * the mean NaN even when another has cells */
  pb_cell_accuracy(pred, label, groups, N, 3, 2, 3, &r);
  PB_CHECK(isnan(r.mean) && isnan(r.acc[0]) && isnan(r.acc[1]) && isnan(r.acc[2]));
  const int32_t g2[N * 2] = {0, 0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5};
  pb_cell_accuracy(pred, label, g2, N, 2, 2, 2, &r); /* grouping 1 has (0,0) with 2 images; grouping 2 none */
  PB_CHECK(r.cells[0] == 2 && !isnan(r.acc[0]) && r.cells[1] == 0 && isnan(r.mean));
  pb_cell_accuracy(pred, label, g2, 0, 2, 2, 1, &r); /* no image */
  PB_CHECK(isnan(r.mean) && r.cells[0] == 0);
}

/* The random cases of the sklearn fixture: per case "n ngroupings k min_cell", the pred, label
 * and groups rows, then the expected per-grouping accuracies ("nan" when none), cells and mean. */
static void test_sklearn_fixture(void) {
  const char *path = PLUMB_FIXTURES "/cells_sklearn.txt";
  FILE *f = fopen(path, "r");
  PB_CHECK_MSG(f != NULL, "cannot open %s", path);
  if (!f) return;
  int cases = 0;
  char tag[16];
  while (fscanf(f, "%15s", tag) == 1) {
    PB_CHECK_MSG(!strcmp(tag, "case"), "%s: expected 'case', got '%s'", path, tag);
    long n;
    int ng, k, mc;
    if (fscanf(f, "%ld %d %d %d", &n, &ng, &k, &mc) != 4 || ng < 1 || ng > PB_CELLS_MAX_GROUPINGS) break;
    int32_t *pred = malloc((size_t)n * 4 + 4), *label = malloc((size_t)n * 4 + 4);
    int32_t *groups = malloc((size_t)n * ng * 4 + 4);
    for (long i = 0; i < n; i++) PB_CHECK(fscanf(f, "%d", &pred[i]) == 1);
    for (long i = 0; i < n; i++) PB_CHECK(fscanf(f, "%d", &label[i]) == 1);
    for (long i = 0; i < n * ng; i++) PB_CHECK(fscanf(f, "%d", &groups[i]) == 1);
    pb_cell_acc r;
    pb_cell_accuracy(pred, label, groups, n, ng, k, mc, &r);
    for (int j = 0; j < ng; j++) {
      char v[64];
      int cells;
      PB_CHECK(fscanf(f, "%63s %d", v, &cells) == 2);
      double want = strcmp(v, "nan") ? strtod(v, NULL) : NAN;
      /* the fixture holds 17 significant digits; sums of at most a few hundred ratios agree to
       * well under 1e-12 whatever their order */
      PB_CHECK_MSG((isnan(want) && isnan(r.acc[j])) || fabs(r.acc[j] - want) <= 1e-12,
                   "case %d grouping %d: %.17g vs sklearn %.17g", cases, j, r.acc[j], want);
      PB_CHECK_MSG(r.cells[j] == cells, "case %d grouping %d: %d cells vs %d", cases, j, r.cells[j], cells);
    }
    char v[64];
    PB_CHECK(fscanf(f, "%63s", v) == 1);
    double want = strcmp(v, "nan") ? strtod(v, NULL) : NAN;
    PB_CHECK_MSG((isnan(want) && isnan(r.mean)) || fabs(r.mean - want) <= 1e-12, "case %d mean: %.17g vs %.17g",
                 cases, r.mean, want);
    free(pred), free(label), free(groups);
    cases++;
  }
  fclose(f);
  PB_CHECK_MSG(cases >= 8, "%s: only %d cases read", path, cases);
}

int main(void) {
  test_one_grouping();
  test_true_label();
  test_groupings();
  test_sklearn_fixture();
  return pb_test_exit("test_cells");
}
