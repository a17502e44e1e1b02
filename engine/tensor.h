/* tensor.h: pb_tensor, a typed view of memory on a device, and pb_device.
 * A tensor either owns its buffer (owner = 1, freed by pb_tensor_free) or is a view. */
#ifndef PB_TENSOR_H
#define PB_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum pb_dtype { PB_F32, PB_I32, PB_I64, PB_U8 } pb_dtype;
typedef enum pb_layout { PB_NCHW } pb_layout; /* NHWC later */
typedef enum pb_device_kind { PB_DEV_CPU, PB_DEV_CUDA } pb_device_kind;

typedef struct pb_device {
  pb_device_kind kind;
  int index; /* GPU ordinal; 0 for the CPU */
} pb_device;

#define PB_TENSOR_MAX_DIMS 4

typedef struct pb_tensor {
  pb_dtype dtype;
  pb_layout layout;
  int ndim;
  int shape[PB_TENSOR_MAX_DIMS];
  pb_device dev;
  void *data;
  int owner;
} pb_tensor;

size_t pb_dtype_size(pb_dtype t);
size_t pb_tensor_numel(const pb_tensor *t);
size_t pb_tensor_bytes(const pb_tensor *t);
/* A view of existing memory (owner = 0). ndim <= 4. */
pb_tensor pb_tensor_view(void *data, pb_dtype dtype, int ndim, const int *shape, pb_device dev);
/* An owning, zeroed host tensor (64-byte aligned). Aborts on out-of-memory. */
pb_tensor pb_tensor_host(pb_dtype dtype, int ndim, const int *shape);
/* Frees the buffer when owned; leaves an empty tensor. NULL-safe. */
void pb_tensor_free(pb_tensor *t);
/* "[4, 3, 28, 28]" into buf. */
const char *pb_tensor_shape_str(const pb_tensor *t, char *buf, size_t len);

#endif
