/* idx.h: IDX files (MNIST / Fashion-MNIST), gzipped or not.
 * Format: magic 00 00 <type> <ndim>, ndim big-endian uint32 dims, then the data. Only
 * unsigned-byte data (type 0x08) is used by these datasets and supported. */
#ifndef PB_IDX_H
#define PB_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/pb_common.h"

typedef struct pb_idx {
  int ndim;        /* 1..4 */
  int dims[4];     /* dims[0] = number of items */
  uint8_t *data;   /* dims[0] * item_bytes bytes, owned */
  size_t item_bytes;
} pb_idx;

/* Reads the whole file (gzip detected by its magic bytes 1f 8b). Errors name the path and
 * what is wrong: missing/unreadable file, corrupt gzip, wrong magic, unsupported type,
 * bad ndim, zero or huge dims, data shorter (truncated) or longer than the dims say. */
int pb_idx_read(pb_idx *out, const char *path, pb_err *err);
void pb_idx_free(pb_idx *x);

#endif
