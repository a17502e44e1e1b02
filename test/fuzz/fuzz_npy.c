/* fuzz_npy.c: libFuzzer harness of the .npy reader (loaders/sources.c): pb_npy_read on the
 * input, then pb_data_npy with the input as the features and each of two fixed labels files
 * (4 labels in [0, 3): labels.npy, labels.csv).
 * Oracles besides the sanitizers: an array that reads has 1..4 dims whose product fits size_t,
 * and every element it claims is touched (a short buffer is an ASan report). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loaders/dataset.h"
#include "loaders/sources.h"
#include "test/fuzz/fuzz_util.h"

static const char *g_labels[2];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  /* np.save of np.array([0, 1, 2, 1], dtype="<i8"), format 1.0 (header padded to 128 bytes). */
  static const char hdr[] = "{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }";
  uint8_t buf[128 + 32];
  memset(buf, ' ', 128);
  memcpy(buf, "\x93NUMPY\x01\x00", 8);
  buf[8] = 128 - 10, buf[9] = 0;
  memcpy(buf + 10, hdr, sizeof hdr - 1);
  buf[127] = '\n';
  const int64_t lab[4] = {0, 1, 2, 1};
  memcpy(buf + 128, lab, sizeof lab);
  g_labels[0] = pb_fuzz_write_tmp("labels.npy", buf, sizeof buf);
  static const char csv[] = "id,label\n0,0\n1,1\n2,2\n3,1\n";
  g_labels[1] = pb_fuzz_write_tmp("labels.csv", csv, sizeof csv - 1);
  return 0;
}

static void check_npy(const pb_npy *x) {
  if (x->ndim < 1 || x->ndim > 4 || (!x->f32 == !x->i32)) {
    fprintf(stderr, "fuzz_npy: read an array with ndim %d, f32 %p, i32 %p\n", x->ndim, (void *)x->f32,
            (void *)x->i32);
    abort();
  }
  size_t total = 1, bytes;
  for (int d = 0; d < x->ndim; d++) {
    if (x->dims[d] < 0 || __builtin_mul_overflow(total, (size_t)x->dims[d], &total) ||
        __builtin_mul_overflow(total, sizeof(float), &bytes)) {
      fprintf(stderr, "fuzz_npy: read an array whose shape (dim %d = %ld) overflows size_t\n", d, x->dims[d]);
      abort();
    }
  }
  volatile uint32_t acc = 0;
  for (size_t i = 0; i < total; i++) acc += x->f32 ? (uint32_t)(x->f32[i] != 0) : (uint32_t)x->i32[i];
  (void)acc;
}

static void check_data(const pb_dataset *d) {
  if (d->n != 4 || d->kind != PB_DATA_F32) fprintf(stderr, "fuzz_npy: %d rows for 4 labels\n", d->n), abort();
  volatile float acc = 0;
  for (size_t i = 0; i < (size_t)d->n * d->c * d->h * d->w; i++) acc += d->feats[i];
  for (int i = 0; i < d->n; i++)
    if (d->labels[i] < 0 || d->labels[i] >= 3) fprintf(stderr, "fuzz_npy: label %d\n", d->labels[i]), abort();
  (void)acc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = pb_fuzz_memfd(0, data, size);
  pb_err err = {{0}};
  pb_npy x;
  int rc = pb_npy_read(&x, path, &err);
  pb_fuzz_say("fuzz_npy", "pb_npy_read", rc, &err);
  if (rc == PB_OK) check_npy(&x);
  pb_npy_free(&x);

  for (int k = 0; k < 2; k++) {
    pb_dataset d;
    rc = pb_data_npy(&d, "train", path, g_labels[k], "", "", 3, &err);
    pb_fuzz_say("fuzz_npy", k ? "pb_data_npy (labels.csv)" : "pb_data_npy (labels.npy)", rc, &err);
    if (rc == PB_OK) check_data(&d);
    pb_dataset_free(&d);
  }
  return 0;
}
