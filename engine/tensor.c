/* tensor.c: pb_tensor helpers (tensor.h). Host memory only here; device buffers come from
 * the CUDA backend's allocator through pb_ctx. */
#include "engine/tensor.h"

#include <stdio.h>
#include <string.h>

#include "kernels/pb_common.h"

size_t pb_dtype_size(pb_dtype t) {
  switch (t) {
    case PB_F32: return 4;
    case PB_I32: return 4;
    case PB_I64: return 8;
    case PB_U8: return 1;
  }
  PB_FATAL("unknown dtype %d", (int)t);
}

size_t pb_tensor_numel(const pb_tensor *t) {
  size_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
  return n;
}

size_t pb_tensor_bytes(const pb_tensor *t) { return pb_tensor_numel(t) * pb_dtype_size(t->dtype); }

pb_tensor pb_tensor_view(void *data, pb_dtype dtype, int ndim, const int *shape, pb_device dev) {
  PB_ASSERT(ndim >= 0 && ndim <= PB_TENSOR_MAX_DIMS);
  pb_tensor t;
  memset(&t, 0, sizeof t);
  t.dtype = dtype;
  t.layout = PB_NCHW;
  t.ndim = ndim;
  for (int i = 0; i < ndim; i++) t.shape[i] = shape[i];
  t.dev = dev;
  t.data = data;
  return t;
}

pb_tensor pb_tensor_host(pb_dtype dtype, int ndim, const int *shape) {
  pb_device cpu = {PB_DEV_CPU, 0};
  pb_tensor t = pb_tensor_view(NULL, dtype, ndim, shape, cpu);
  t.data = pb_amalloc(pb_tensor_bytes(&t));
  t.owner = 1;
  return t;
}

void pb_tensor_free(pb_tensor *t) {
  if (!t) return;
  if (t->owner && t->dev.kind == PB_DEV_CPU) pb_afree(t->data);
  PB_ASSERT(!(t->owner && t->dev.kind != PB_DEV_CPU)); /* device tensors are freed by pb_ctx */
  memset(t, 0, sizeof *t);
}

const char *pb_tensor_shape_str(const pb_tensor *t, char *buf, size_t len) {
  size_t off = 0;
  off += (size_t)snprintf(buf + off, len - off, "[");
  for (int i = 0; i < t->ndim && off < len; i++)
    off += (size_t)snprintf(buf + off, len - off, i ? ", %d" : "%d", t->shape[i]);
  if (off < len) snprintf(buf + off, len - off, "]");
  return buf;
}
