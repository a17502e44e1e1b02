/* npy_write.c: float32 arrays as .npy files (npy_write.h). */
#include "loaders/npy_write.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

int pb_npy_write_f32(FILE *f, const float *x, int64_t rows, int64_t cols, pb_err *err) {
  PB_ASSERT(rows >= 0 && cols >= 1);
  const uint32_t probe = 1;
  uint8_t first;
  memcpy(&first, &probe, 1);
  PB_ASSERT(first == 1); /* '<f4': the raw floats are written as the host holds them */
  char dict[128];
  int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%" PRId64 ", %" PRId64 "), }",
                   rows, cols);
  PB_ASSERT(n > 0 && n < 100);
  /* magic (6) + version (2) + length (2) + dict + spaces + '\n', a multiple of 64 */
  size_t total = ((size_t)10 + (size_t)n + 1 + 63) / 64 * 64, hlen = total - 10;
  uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(hlen & 0xff), (uint8_t)(hlen >> 8)};
  char hdr[192];
  memset(hdr, ' ', sizeof hdr);
  memcpy(hdr, dict, (size_t)n);
  hdr[hlen - 1] = '\n';
  size_t count = (size_t)rows * (size_t)cols;
  if (fwrite(pre, 1, sizeof pre, f) != sizeof pre || fwrite(hdr, 1, hlen, f) != hlen ||
      (count && fwrite(x, sizeof(float), count, f) != count))
    return pb_err_set(err, "writing the .npy data: %s", strerror(errno));
  return PB_OK;
}
