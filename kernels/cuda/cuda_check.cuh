/* cuda_check.cuh: private to kernels/cuda/. Tier-1 checks for every CUDA runtime, cuDNN and
 * cuBLAS call and every kernel launch: a failure aborts (PB_FATAL) with file, line, the call
 * and the library's own error string. Also the launch-size helpers the .cu files share. */
#ifndef PB_CUDA_CHECK_CUH
#define PB_CUDA_CHECK_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stddef.h>

extern "C" {
#include "kernels/pb_common.h"
}

#define PB_CUDA_CHECK(call)                                                                        \
  do {                                                                                             \
    cudaError_t pb_e_ = (call);                                                                    \
    if (pb_e_ != cudaSuccess)                                                                      \
      PB_FATAL("CUDA: %s failed: %s (%s)", #call, cudaGetErrorString(pb_e_), cudaGetErrorName(pb_e_)); \
  } while (0)

/* cuDNN 9 keeps a more detailed message of the last failure; print both. */
#define PB_CUDNN_CHECK(call)                                                                       \
  do {                                                                                             \
    cudnnStatus_t pb_s_ = (call);                                                                  \
    if (pb_s_ != CUDNN_STATUS_SUCCESS) {                                                           \
      char pb_detail_[512];                                                                        \
      pb_detail_[0] = '\0';                                                                        \
      cudnnGetLastErrorString(pb_detail_, sizeof pb_detail_);                                      \
      PB_FATAL("cuDNN: %s failed: %s (%d)%s%s", #call, cudnnGetErrorString(pb_s_), (int)pb_s_,     \
               pb_detail_[0] ? ": " : "", pb_detail_);                                             \
    }                                                                                              \
  } while (0)

#define PB_CUBLAS_CHECK(call)                                                                      \
  do {                                                                                             \
    cublasStatus_t pb_s_ = (call);                                                                 \
    if (pb_s_ != CUBLAS_STATUS_SUCCESS)                                                            \
      PB_FATAL("cuBLAS: %s failed: %s (%d)", #call, cublasGetStatusString(pb_s_), (int)pb_s_);     \
  } while (0)

/* After every <<<...>>>: catches bad launch configurations at the launch site (errors of the
 * kernel's execution surface at the next synchronising call, also checked). */
#define PB_CUDA_CHECK_LAUNCH(name)                                                                 \
  do {                                                                                             \
    cudaError_t pb_e_ = cudaGetLastError();                                                        \
    if (pb_e_ != cudaSuccess)                                                                      \
      PB_FATAL("CUDA: launch of %s failed: %s (%s)", name, cudaGetErrorString(pb_e_),              \
               cudaGetErrorName(pb_e_));                                                           \
  } while (0)

#define PB_CUDA_THREADS 256

/* Blocks for a grid-stride loop over n elements: enough to fill the GPU, never more than
 * needed, never more than a grid allows (the loop covers the rest). n > 0. */
static inline unsigned int pb_cuda_blocks(size_t n, unsigned int threads) {
  const size_t want = (n + threads - 1) / threads;
  const size_t cap = (size_t)1 << 20;
  return (unsigned int)(want < cap ? want : cap);
}

static inline cudaStream_t pb_cuda_stream_of(const void *stream) { return (cudaStream_t)stream; }

#endif
