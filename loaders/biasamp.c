/* biasamp.c: the bias-amplification study's released class assignments and inversion lists
 * (biasamp.h). No twin. The CSV is tiny and parsed strictly (every field checked); the lists
 * go through the fuzzed .npy reader (sources.c). */
#include "loaders/biasamp.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pb_file.h"
#include "loaders/sources.h"

int pb_biasamp_assignment(const char *path, int index, uint8_t in0[10], pb_err *err) {
  FILE *f = fopen(path, "r");
  if (!f) return pb_err_set(err, "%s: cannot open the class assignments: %s", path, strerror(errno));
  char line[512];
  int rc = PB_ERR, lineno = 0, rows = 0, found = 0;
  uint8_t row[10], want[10];
  while (fgets(line, sizeof line, f)) {
    lineno++;
    size_t len = strlen(line);
    if (len == sizeof line - 1 && line[len - 1] != '\n') {
      pb_err_set(err, "%s:%d: line too long", path, lineno);
      goto out;
    }
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
    if (lineno == 1) {
      if (strcmp(line, "assignment,class0,class1,class2,class3,class4,class5,class6,class7,class8,class9")) {
        pb_err_set(err, "%s:1: header must be assignment,class0,...,class9", path);
        goto out;
      }
      continue;
    }
    if (!len) continue;
    char *p = line, *end;
    errno = 0;
    long a = strtol(p, &end, 10);
    if (end == p || *end != ',' || errno || a != rows) {
      pb_err_set(err, "%s:%d: the assignment column must be %d (rows numbered from 0 in order)", path, lineno, rows);
      goto out;
    }
    p = end + 1;
    int ones = 0;
    for (int c = 0; c < 10; c++) {
      if ((*p != '0' && *p != '1') || p[1] != (c == 9 ? 0 : ',')) {
        pb_err_set(err, "%s:%d: class%d must be 0 or 1 (the super-class), with 10 classes per row", path, lineno, c);
        goto out;
      }
      row[c] = (uint8_t)(*p == '1');
      ones += row[c];
      p += 2;
    }
    if (ones != 5) {
      pb_err_set(err, "%s:%d: %d classes in super-class 1; a balanced assignment has 5", path, lineno, ones);
      goto out;
    }
    if (rows == index) {
      for (int c = 0; c < 10; c++) want[c] = (uint8_t)!row[c];
      found = 1;
    }
    rows++;
  }
  if (ferror(f)) {
    pb_err_set(err, "%s: read error", path);
    goto out;
  }
  if (!found) {
    pb_err_set(err, "%s: [data] class_assignment = %d, but the file holds %d assignments (0..%d)", path, index, rows,
               rows - 1);
    goto out;
  }
  memcpy(in0, want, sizeof want); /* only now: a later bad row leaves in0 as it was */
  rc = PB_OK;
out:
  fclose(f);
  return rc;
}

int pb_biasamp_lists(const char *dir, int assignment, int split, uint8_t **b, int *n, pb_err *err) {
  char path[4096];
  const char *file = split == 1 ? "inversion_train.npy" : "inversion_test.npy";
  if (pb_path_join(path, sizeof path, dir, file, err)) return pb_err_prefix(err, "[data] inversion_lists");
  pb_npy x;
  if (pb_npy_read(&x, path, err)) return pb_err_prefix(err, "[data] inversion_lists");
  int rc = PB_ERR;
  if (!x.i32) {
    pb_err_set(err, "%s: holds floats; the inversion lists are uint8 twentieths (scripts/biasamp_lists.py)", path);
    goto out;
  }
  long rows = split == 1 ? (x.ndim == 2 ? x.dims[0] : -1) : (x.ndim == 1 ? 1 : -1);
  if (rows < 0) {
    pb_err_set(err, "%s: %d dimensions; expected %s", path, x.ndim,
               split == 1 ? "[assignments, samples]" : "[samples]");
    goto out;
  }
  if (split == 1 && assignment >= rows) {
    pb_err_set(err, "%s: no row for [data] class_assignment = %d (%ld assignments)", path, assignment, rows);
    goto out;
  }
  long cols = x.dims[x.ndim - 1];
  const int32_t *src = x.i32 + (split == 1 ? (size_t)assignment * (size_t)cols : 0);
  for (long k = 0; k < cols; k++)
    if (src[k] < 0 || src[k] > 19) {
      pb_err_set(err, "%s: entry %ld%s is %d; twentieths lie in 0..19", path, k, split == 1 ? " of the row" : "",
                 src[k]);
      goto out;
    }
  *b = pb_xmalloc((size_t)(cols > 0 ? cols : 1));
  for (long k = 0; k < cols; k++) (*b)[k] = (uint8_t)src[k];
  *n = (int)cols;
  rc = PB_OK;
out:
  pb_npy_free(&x);
  return rc;
}

int pb_biasamp_threshold(double eps, int in0, int *t, pb_err *err) {
  /* np.round(0.5 +- eps * 0.01, 2), then 20 p */
  double p = round((in0 ? 0.5 + eps * 0.01 : 0.5 - eps * 0.01) * 100.0) / 100.0;
  double tp = 20.0 * p;
  if (fabs(tp - round(tp)) > 1e-6)
    return pb_err_set(err, "[data] eps = %g: the released inversion lists ([data] inversion_lists) hold the study's "
                           "eps 0, 5, ..., 50 only",
                      eps);
  *t = (int)round(tp);
  return PB_OK;
}
