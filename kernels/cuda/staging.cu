/* staging.cu: host-side synchronisation for the pinned staging buffers of the data path
 * (ops_cuda.h: pb_cuda_copy_wait). CPU-only twin: kernels/cuda/stubs.c. */
#include <cuda_runtime.h>
#include <stdio.h>

extern "C" {
#include "kernels/ops_cuda.h"
}

extern "C" void pb_cuda_copy_wait(const pb_cuda_env *env) {
  cudaError_t e = cudaStreamSynchronize((cudaStream_t)env->copy_stream);
  if (e != cudaSuccess) pb_fatal_at(__FILE__, __LINE__, "cudaStreamSynchronize(copy stream): %s", cudaGetErrorString(e));
}
