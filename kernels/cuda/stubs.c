/* stubs.c: the CPU-only build's stand-ins for the CUDA backend (kernels/cuda/ .cu files).
 * They report that CUDA is absent; nothing here ever pretends to compute. */
#include <stdio.h>

#include "kernels/cuda_device.h"

int pb_cuda_built(void) { return 0; }

int pb_cuda_device_count(char *why, size_t why_len) {
  if (why && why_len) snprintf(why, why_len, "this plumb was built without CUDA (PLUMB_CUDA=OFF or no nvcc)");
  return 0;
}

void pb_cuda_describe(int dev, char *buf, size_t len) {
  snprintf(buf, len, "GPU %d: unavailable (built without CUDA)", dev);
}

void pb_cuda_build_info(char *buf, size_t len) { snprintf(buf, len, "CUDA: not built"); }
