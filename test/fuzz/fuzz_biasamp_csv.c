/* fuzz_biasamp_csv.c: libFuzzer harness of the class-assignment CSV reader of the
 * bias-amplification data (loaders/biasamp.c): pb_biasamp_assignment on the input as the CSV,
 * for rows 0, 1 and 19.
 *
 * Input: the CSV text (header assignment,class0,...,class9, then rows).
 * Oracle besides the sanitizers: a row that reads has ten 0/1 entries, five of them 1 (the
 * documented shape of an assignment); in0 is untouched on failure. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loaders/biasamp.h"
#include "test/fuzz/fuzz_util.h"

static void fail(const char *what, int index) {
  fprintf(stderr, "fuzz_biasamp_csv: %s (index %d)\n", what, index);
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = pb_fuzz_memfd(0, data, size);
  static const int k_index[3] = {0, 1, 19};
  for (int i = 0; i < 3; i++) {
    uint8_t in0[10];
    memset(in0, 0xAB, sizeof in0);
    pb_err err = {{0}};
    int rc = pb_biasamp_assignment(path, k_index[i], in0, &err);
    pb_fuzz_say("fuzz_biasamp_csv", "assignment", rc, &err);
    if (rc == PB_OK) {
      int ones = 0;
      for (int c = 0; c < 10; c++) {
        if (in0[c] > 1) fail("entry not 0 or 1", k_index[i]);
        ones += in0[c];
      }
      if (ones != 5) fail("not five classes in super-class 0", k_index[i]);
    } else {
      for (int c = 0; c < 10; c++)
        if (in0[c] != 0xAB) fail("in0 changed on failure", k_index[i]);
    }
  }
  return 0;
}
