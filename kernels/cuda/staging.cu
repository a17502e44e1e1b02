/* staging.cu: synchronisation of the double-buffered data staging (ops_cuda.h:
 * pb_cuda_copy_wait, pb_cuda_stage_begin, pb_cuda_stage_free). CPU-only twin:
 * kernels/cuda/stubs.c. */
#include <cuda_runtime.h>

#include "kernels/cuda/cuda_check.cuh"

extern "C" {
#include "kernels/ops_cuda.h"
}

extern "C" void pb_cuda_copy_wait(const pb_cuda_env *env) {
  PB_CUDA_CHECK(cudaStreamSynchronize((cudaStream_t)env->copy_stream));
}

extern "C" void pb_cuda_stage_begin(pb_cuda_env *env, int slot) {
  for (int s = 0; s < 2; s++)
    if (!env->stage_events[s]) {
      cudaEvent_t e;
      PB_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
      /* Recorded once on the idle stream so the first wait is satisfied at once. */
      PB_CUDA_CHECK(cudaEventRecord(e, (cudaStream_t)env->stream));
      env->stage_events[s] = (void *)e;
    }
  /* The compute enqueued so far ends batch i-1, the user of the other slot. */
  PB_CUDA_CHECK(cudaEventRecord((cudaEvent_t)env->stage_events[slot ^ 1], (cudaStream_t)env->stream));
  /* This slot was last read by batch i-2, whose end was marked when batch i-1 began. */
  PB_CUDA_CHECK(cudaStreamWaitEvent((cudaStream_t)env->copy_stream, (cudaEvent_t)env->stage_events[slot], 0));
}

extern "C" void pb_cuda_stage_free(pb_cuda_env *env) {
  for (int s = 0; s < 2; s++)
    if (env->stage_events[s]) {
      PB_CUDA_CHECK(cudaEventDestroy((cudaEvent_t)env->stage_events[s]));
      env->stage_events[s] = NULL;
    }
}
