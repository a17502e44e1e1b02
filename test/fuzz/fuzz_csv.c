/* fuzz_csv.c: libFuzzer harness of the CSV manifest reader (loaders/sources.c): pb_data_csv or
 * pb_data_csv_heads on the input as a training manifest, then again as the test manifest with
 * the vocabularies the first pass built; pb_dataset_free / pb_vocab_free.
 *
 * Input: one options byte, then the CSV text. Options (as loaders/load.c fills pb_csv_opts
 * from [data]): bit 0 multilabel, bit 1 multi-head (pb_data_csv_heads), bits 2-3 the label
 * columns, bits 4-5 the group column, bit 6 path_suffix ".jpg", bit 7 path_column "name". When
 * the group column is "group", the test pass also reads "group,age" as groupings ([data]
 * test_group_columns, the test manifest alone).
 * Oracle besides the sanitizers: every id of a dataset that loads is within its bounds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loaders/dataset.h"
#include "loaders/sources.h"
#include "test/fuzz/fuzz_util.h"

static const char *const k_labels[4] = {"", "skin,gender,age", "skin_tone,age", "Labels"};
static const char *const k_groups[4] = {"", "gender", "group", "age"};
static const int k_bounds[16] = {10, 2, 4, 10, 3, 5, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10};

static void fail(const char *what, int i, long v) {
  fprintf(stderr, "fuzz_csv: %s of row %d is %ld, out of bounds\n", what, i, v);
  abort();
}

static void check(const pb_dataset *d, int heads, const pb_vocab *v) {
  if (d->n <= 0 || d->kind != PB_DATA_FILES || !d->paths || !d->labels) fail("n", 0, d->n);
  for (int i = 0; i < d->n; i++) {
    volatile size_t len = strlen(d->paths[i]);
    (void)len;
    if (d->labels[i] < (heads ? -1 : 0) || d->labels[i] >= d->num_classes)
      fail("label", i, d->labels[i]);
    if (d->groups && d->groups[i] < 0) fail("group", i, d->groups[i]);
    for (int j = 0; d->groupings && j < d->ngroupings; j++)
      if (d->groupings[(size_t)i * d->ngroupings + j] < 0) fail("grouping", i, d->groupings[(size_t)i * d->ngroupings + j]);
    for (int h = 0; d->heads && h < d->nheads; h++) {
      int32_t x = d->heads[(size_t)i * d->nheads + h];
      /* Integer labels are bounded (bounds[h]); names by the vocabulary. */
      int bound = !v->numeric[h] ? v->count[h] : heads ? k_bounds[h] : h ? 0x7FFFFFFF : d->num_classes;
      if (x < (heads ? -1 : 0) || x >= bound) fail("head label", i, x);
    }
    for (int k = 0; d->multi && k < d->multi_k; k++)
      if (d->multi[(size_t)i * d->multi_k + k] > 1) fail("multi-hot entry", i, d->multi[(size_t)i * d->multi_k + k]);
  }
  for (int k = 0; d->class_names && k < d->num_classes; k++) {
    volatile size_t len = strlen(d->class_names[k]);
    (void)len;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const uint8_t opt = data[0];
  const char *path = pb_fuzz_memfd(0, data + 1, size - 1);
  const int heads = (opt >> 1) & 1;
  pb_csv_opts o = {
      .path_column = (opt & 0x80) ? "name" : "",
      .label_columns = k_labels[(opt >> 2) & 3],
      .group_column = k_groups[(opt >> 4) & 3],
      .multilabel = opt & 1,
      .path_suffix = (opt & 0x40) ? ".jpg" : "",
      .num_classes = 10,
  };
  pb_vocab v = {0};
  pb_err err = {{0}};
  for (int pass = 0; pass < 2; pass++) {
    pb_dataset d;
    const char *name = pass ? "test" : "train";
    o.group_columns = pass && ((opt >> 4) & 3) == 2 ? "group,age" : "";
    int rc = heads ? pb_data_csv_heads(&d, name, path, "root", &o, k_bounds, &v, &err)
                   : pb_data_csv(&d, name, path, "root", &o, &v, &err);
    pb_fuzz_say("fuzz_csv", name, rc, &err);
    if (rc == PB_OK) check(&d, heads, &v);
    pb_dataset_free(&d);
    if (rc != PB_OK) break;
  }
  pb_vocab_free(&v);
  return 0;
}
