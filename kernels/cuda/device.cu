/* device.cu: device discovery and library versions for the CUDA build (CPU-only twin:
 * kernels/cuda/stubs.c). */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stdio.h>

extern "C" {
#include "kernels/cuda_device.h"
}

extern "C" int pb_cuda_built(void) { return 1; }

extern "C" int pb_cuda_device_count(char *why, size_t why_len) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    if (why && why_len) snprintf(why, why_len, "CUDA runtime: %s", cudaGetErrorString(e));
    cudaGetLastError(); /* clear the sticky-free error so later probes start clean */
    return 0;
  }
  if (n == 0 && why && why_len) snprintf(why, why_len, "no CUDA GPU found");
  return n;
}

extern "C" void pb_cuda_describe(int dev, char *buf, size_t len) {
  cudaDeviceProp p;
  if (cudaGetDeviceProperties(&p, dev) != cudaSuccess) {
    snprintf(buf, len, "GPU %d: cannot read its properties", dev);
    return;
  }
  int driver = 0;
  cudaDriverGetVersion(&driver);
  size_t free_b = 0, total_b = 0;
  int cur = 0;
  cudaGetDevice(&cur);
  cudaSetDevice(dev);
  cudaMemGetInfo(&free_b, &total_b);
  cudaSetDevice(cur);
  snprintf(buf, len, "GPU %d: %s, compute capability %d.%d, %.1f GiB (%.1f GiB free), %d SMs, driver CUDA %d.%d",
           dev, p.name, p.major, p.minor, total_b / 1073741824.0, free_b / 1073741824.0,
           p.multiProcessorCount, driver / 1000, (driver % 1000) / 10);
}

extern "C" size_t pb_cuda_mem_used(void) {
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) return 0;
  return total_b - free_b;
}

extern "C" void pb_cuda_build_info(char *buf, size_t len) {
  int rt = 0;
  cudaRuntimeGetVersion(&rt);
  size_t cudnn_rt = cudnnGetVersion();
  int cublas_v = 0;
  cublasHandle_t h;
  if (cublasCreate(&h) == CUBLAS_STATUS_SUCCESS) {
    cublasGetVersion(h, &cublas_v);
    cublasDestroy(h);
  }
  snprintf(buf, len,
           "CUDA runtime %d.%d (built with %d.%d); cuDNN %zu (built with %d.%d.%d); cuBLAS %d (built with %d.%d.%d)",
           rt / 1000, (rt % 1000) / 10, CUDART_VERSION / 1000, (CUDART_VERSION % 1000) / 10, cudnn_rt,
           CUDNN_MAJOR, CUDNN_MINOR, CUDNN_PATCHLEVEL, cublas_v, CUBLAS_VER_MAJOR, CUBLAS_VER_MINOR,
           CUBLAS_VER_PATCH);
}
