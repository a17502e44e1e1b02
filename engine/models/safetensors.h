/* safetensors.h: reading and writing the safetensors format
 * (8-byte little-endian header length N, N bytes of JSON header, raw little-endian data).
 *
 * Header: {"__metadata__": {"k": "v", ...}, "name": {"dtype": "F32", "shape": [..],
 * "data_offsets": [begin, end]}, ...}; offsets are relative to the start of the data. */
#ifndef PB_SAFETENSORS_H
#define PB_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/pb_common.h"

typedef enum pb_st_dtype {
  PB_ST_F32, PB_ST_F64, PB_ST_F16, PB_ST_BF16, PB_ST_I64, PB_ST_I32, PB_ST_I16, PB_ST_I8,
  PB_ST_U8, PB_ST_BOOL,
} pb_st_dtype;

#define PB_ST_MAX_DIMS 8

typedef struct pb_st_tensor {
  const char *name;
  pb_st_dtype dtype;
  int ndim;
  int64_t shape[PB_ST_MAX_DIMS];
  const void *data; /* writing: the caller's bytes; reading: points into the file's blob */
  size_t nbytes;
} pb_st_tensor;

/* Bytes per element of a dtype; its safetensors name ("F32"). */
size_t pb_st_dtype_size(pb_st_dtype t);
const char *pb_st_dtype_name(pb_st_dtype t);

/* Writes n tensors and nmeta metadata pairs (meta[2i] = key, meta[2i+1] = value) to path:
 * to "<path>.tmp.<pid>", fsync, then rename over path, so an existing file is never left
 * half-written. Names must be unique (a bug otherwise). Fails (PB_ERR) on I/O errors. */
int pb_st_write(const char *path, const pb_st_tensor *tensors, int n, const char *const *meta,
                int nmeta, pb_err *err);

typedef struct pb_st_file {
  int n;
  pb_st_tensor *tensors; /* names and data point into memory owned by the file */
  int nmeta;
  char **meta;           /* 2*nmeta strings: key, value, ... */
  void *mem;             /* internal */
} pb_st_file;

/* Reads and validates a whole file. Refuses (PB_ERR, message naming the file and what is
 * wrong): a file shorter than 8 bytes, a header length beyond the file, malformed JSON, an
 * unknown dtype, a shape whose byte size differs from its data_offsets, offsets outside the
 * data, overlapping tensors, duplicate names, trailing garbage in the header. Never crashes
 * on any input. */
int pb_st_read(pb_st_file *out, const char *path, pb_err *err);
/* NULL when absent. */
const pb_st_tensor *pb_st_find(const pb_st_file *f, const char *name);
const char *pb_st_meta(const pb_st_file *f, const char *key);
void pb_st_free(pb_st_file *f);

#endif
