/* fuzz_idx.c: libFuzzer harness of the IDX reader (loaders/idx.c, MNIST / Fashion-MNIST files,
 * raw or gzipped): pb_idx_read on the input. A file that reads must hold exactly the bytes its
 * dims describe; every byte is touched so that a short buffer is an ASan report. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "loaders/idx.h"
#include "test/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pb_idx x;
  pb_err err = {{0}};
  if (pb_idx_read(&x, pb_fuzz_memfd(0, data, size), &err) == PB_OK) {
    if (x.ndim < 1 || x.ndim > 4) fprintf(stderr, "fuzz_idx: ndim %d\n", x.ndim), abort();
    size_t item = 1;
    for (int d = 1; d < x.ndim; d++) item *= (size_t)x.dims[d];
    if (x.dims[0] <= 0 || item != x.item_bytes)
      fprintf(stderr, "fuzz_idx: %d items of %zu bytes, dims say %zu\n", x.dims[0], x.item_bytes, item), abort();
    volatile unsigned sum = 0;
    for (size_t i = 0; i < (size_t)x.dims[0] * x.item_bytes; i++) sum += x.data[i];
    (void)sum;
  }
  pb_idx_free(&x);
  return 0;
}
