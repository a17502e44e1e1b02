/* cells.c: the cell-averaged accuracy (cells.h). Each grouping's images are sorted by
 * (label, group), so group ids need no bound and no [k, groups] table is allocated. */
#include "metrics/cells.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pb_common.h"

typedef struct {
  int64_t key; /* label << 32 | group */
  int ok;
} cell_item;

static int cmp_item(const void *a, const void *b) {
  int64_t x = ((const cell_item *)a)->key, y = ((const cell_item *)b)->key;
  return (x > y) - (x < y);
}

void pb_cell_accuracy(const int32_t *pred, const int32_t *label, const int32_t *groups, long n, int ngroupings, int k,
                      int min_cell, pb_cell_acc *out) {
  PB_ASSERT(ngroupings >= 1 && ngroupings <= PB_CELLS_MAX_GROUPINGS && n >= 0 && min_cell >= 1 && k >= 1);
  memset(out, 0, sizeof *out);
  out->ngroupings = ngroupings;
  cell_item *it = pb_xmalloc((size_t)PB_MAX(n, 1) * sizeof *it);
  double sum = 0;
  for (int j = 0; j < ngroupings; j++) {
    long m = 0;
    for (long i = 0; i < n; i++) {
      int32_t y = label[i], g = groups[i * ngroupings + j];
      if (y < 0 || y >= k || g < 0) continue;
      it[m].key = (int64_t)y << 32 | (int64_t)g;
      it[m].ok = pred[i] == y;
      m++;
    }
    qsort(it, (size_t)m, sizeof *it, cmp_item);
    double acc_sum = 0;
    for (long s = 0, e; s < m; s = e) {
      long correct = 0;
      for (e = s; e < m && it[e].key == it[s].key; e++) correct += it[e].ok;
      if (e - s < min_cell) continue;
      acc_sum += (double)correct / (double)(e - s);
      out->cells[j]++;
      out->images[j] += e - s;
    }
    out->acc[j] = out->cells[j] ? acc_sum / out->cells[j] : NAN;
    sum += out->acc[j];
  }
  out->mean = sum / ngroupings; /* NaN as soon as one grouping is */
  free(it);
}
