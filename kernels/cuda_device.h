/* cuda_device.h: what the engine asks of the CUDA runtime, with a CPU-only build's twin in
 * kernels/cuda/stubs.c (so engine code has no #ifdef). Implemented in kernels/cuda/device.cu. */
#ifndef PB_CUDA_DEVICE_H
#define PB_CUDA_DEVICE_H

#include <stddef.h>

/* 1 when this binary was built with the CUDA backend. */
int pb_cuda_built(void);
/* Number of usable GPUs; 0 without a driver or GPU (never fails). If why is non-NULL and the
 * count is 0, a reason is written there ("built without CUDA", the runtime's message...). */
int pb_cuda_device_count(char *why, size_t why_len);
/* One line describing GPU dev: name, compute capability, memory, driver. */
void pb_cuda_describe(int dev, char *buf, size_t len);
/* Versions of the CUDA runtime, cuDNN and cuBLAS this binary was built against and runs with. */
void pb_cuda_build_info(char *buf, size_t len);

/* Bytes in use on the current GPU (total - free, cudaMemGetInfo: the whole device, this
 * process's context included); 0 without CUDA. */
size_t pb_cuda_mem_used(void);

/* plumb's own device allocations (pb_cuda_alloc minus pb_cuda_free): bytes now and the peak since
 * the start or the last reset; both 0 without CUDA. Comparable to PyTorch's memory_allocated /
 * max_memory_allocated (neither counts the CUDA context or library-internal memory). */
void pb_cuda_alloc_stats(size_t *current, size_t *peak);
void pb_cuda_alloc_reset_peak(void);

#endif
