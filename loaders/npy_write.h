/* npy_write.h: writing float32 arrays as NumPy .npy files (format version 1.0: the magic, a
 * little-endian header length, the header dict padded to 64 bytes, then the raw data in C order),
 * the format numpy.load reads. The reader is pb_npy_read (sources.h). */
#ifndef PB_NPY_WRITE_H
#define PB_NPY_WRITE_H

#include <stdint.h>
#include <stdio.h>

#include "kernels/pb_common.h"

/* x [rows, cols] float32 row-major as a 2-d '<f4' array to f (at its position; the caller opens,
 * commits or aborts the file: pb_afile). PB_ERR with err on a write error. rows >= 0, cols >= 1. */
int pb_npy_write_f32(FILE *f, const float *x, int64_t rows, int64_t cols, pb_err *err);

#endif
