/* cells.h: the cell-averaged accuracy, ReBias's ImageNet-9 "unbiased" accuracy (official
 * evaluator.py, ImageNetEvaluator): for each grouping of the images (ImageNet-9: 3 texture
 * clusterings of the validation images), the images fall into cells (true class, group); the
 * grouping's value is the unweighted mean, over the cells holding at least min_cell images, of
 * the cell's accuracy; the result is the mean over the groupings. Pure function over host
 * arrays; no allocation survives the call. */
#ifndef PB_METRICS_CELLS_H
#define PB_METRICS_CELLS_H

#include <stdint.h>

#define PB_CELLS_MAX_GROUPINGS 16

typedef struct pb_cell_acc {
  double mean;                          /* mean of acc[] over the groupings; NaN when any is NaN
                                           (the released code divides by zero there) */
  int ngroupings;
  double acc[PB_CELLS_MAX_GROUPINGS];   /* per grouping: mean over its counted cells of
                                           correct / images; NaN when no cell has min_cell images */
  int cells[PB_CELLS_MAX_GROUPINGS];    /* the cells counted (images >= min_cell) */
  long images[PB_CELLS_MAX_GROUPINGS];  /* the images in those cells */
} pb_cell_acc;

/* pred [n], label [n]: predicted and true class of each image; an image whose label is outside
 * [0, k) (a missing label, -1) is left out. groups [n, ngroupings] row-major: image i's group in
 * grouping j at groups[i * ngroupings + j], any integer >= 0 (a negative one leaves the image out
 * of that grouping). A cell is (true label, group): the class is the image's label, never its
 * prediction. Cells count when they hold >= min_cell images (min_cell >= 1; 10 in ReBias).
 * 1 <= ngroupings <= PB_CELLS_MAX_GROUPINGS, n >= 0. Cannot fail (allocation failure aborts). */
void pb_cell_accuracy(const int32_t *pred, const int32_t *label, const int32_t *groups, long n, int ngroupings, int k,
                      int min_cell, pb_cell_acc *out);

#endif
