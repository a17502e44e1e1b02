/* fuzz_unlabelled.c: libFuzzer harness of the unlabelled CSV list reader of plumb predict
 * (loaders/unlabelled.c): pb_data_unlabelled on the input written as "in.csv" in the harness's
 * folder; pb_unlabelled_ids_free / pb_dataset_free.
 *
 * Input: one options byte, then the CSV text. Options (as cmd_predict.c fills
 * pb_unlabelled_opts from [predict]): bit 0 id_column "id" (else "image_id"), bit 1 path_column
 * "path" (else none: id + path_suffix), bit 2 path_suffix "" (else ".jpg"), bit 3 image_dir
 * "root" (else the CSV's folder).
 * Oracle besides the sanitizers: a list that loads has n >= 1 samples, each with a non-empty id
 * and path, label 0, and no id twice. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loaders/dataset.h"
#include "loaders/unlabelled.h"
#include "test/fuzz/fuzz_util.h"

static void fail(const char *what, int i) {
  fprintf(stderr, "fuzz_unlabelled: %s (row %d)\n", what, i);
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const uint8_t opt = data[0];
  const char *path = pb_fuzz_write_tmp("in.csv", data + 1, size - 1);
  pb_unlabelled_opts o = {.id_column = (opt & 1) ? "id" : "image_id",
                          .path_column = (opt & 2) ? "path" : "",
                          .path_suffix = (opt & 4) ? "" : ".jpg",
                          .image_dir = (opt & 8) ? "root" : ""};
  pb_dataset d;
  char **ids;
  pb_err err = {{0}};
  int rc = pb_data_unlabelled(&d, &ids, path, &o, &err);
  pb_fuzz_say("fuzz_unlabelled", "list", rc, &err);
  if (rc == PB_OK) {
    if (d.n < 1 || d.kind != PB_DATA_FILES || !d.paths || !d.labels || !ids) fail("empty dataset", 0);
    for (int i = 0; i < d.n; i++) {
      if (!ids[i][0] || !d.paths[i][0]) fail("empty id or path", i);
      if (d.labels[i] != 0) fail("label", i);
      for (int j = 0; j < i && d.n <= 256; j++) /* quadratic: small lists only */
        if (!strcmp(ids[i], ids[j])) fail("duplicate id", i);
    }
  } else if (d.n || ids) {
    fail("a failed load left data", 0);
  }
  pb_unlabelled_ids_free(ids, d.n);
  pb_dataset_free(&d);
  return 0;
}
