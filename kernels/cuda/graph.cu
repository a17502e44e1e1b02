/* graph.cu: CUDA graphs on the compute stream (ops_cuda.h, "CUDA graphs"): capture the work a
 * stretch of host code enqueues, instantiate it once, launch it again and again. plumb captures
 * an inference model's forward per (input buffer, batch) (engine/models/model_graph.c).
 *
 * Capture mode is Relaxed: cuBLAS / cuDNN may make host-side calls such as cudaMalloc of their own
 * while the stream records (global mode would refuse them); what plumb enqueues in a forward is
 * kernels, library calls and device-to-device work only, so nothing waits on the host. A capture
 * that fails (an unsupported call, an invalidated capture) is a tier-2 result: the caller runs
 * the ops again, eagerly. The sticky error state is cleared on that path. */
#include "kernels/cuda/cuda_check.cuh"

extern "C" {
#include "kernels/ops_cuda.h"
}

extern "C" int pb_cuda_graph_begin(const pb_cuda_env *env, pb_err *err) {
  cudaError_t e = cudaStreamBeginCapture(pb_cuda_stream_of(env->stream), cudaStreamCaptureModeRelaxed);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return pb_err_set(err, "cudaStreamBeginCapture: %s", cudaGetErrorString(e));
  }
  return PB_OK;
}

extern "C" void *pb_cuda_graph_end(const pb_cuda_env *env, pb_err *err) {
  cudaGraph_t g = NULL;
  cudaError_t e = cudaStreamEndCapture(pb_cuda_stream_of(env->stream), &g);
  if (e != cudaSuccess || !g) {
    (void)cudaGetLastError();
    if (g) (void)cudaGraphDestroy(g);
    pb_err_set(err, "cudaStreamEndCapture: %s", cudaGetErrorString(e));
    return NULL;
  }
  cudaGraphExec_t x = NULL;
  e = cudaGraphInstantiate(&x, g, 0);
  (void)cudaGraphDestroy(g);
  if (e != cudaSuccess || !x) {
    (void)cudaGetLastError();
    pb_err_set(err, "cudaGraphInstantiate: %s", cudaGetErrorString(e));
    return NULL;
  }
  return (void *)x;
}

extern "C" void pb_cuda_graph_launch(void *exec, const pb_cuda_env *env) {
  PB_CUDA_CHECK(cudaGraphLaunch((cudaGraphExec_t)exec, pb_cuda_stream_of(env->stream)));
}

extern "C" void pb_cuda_graph_free(void *exec) {
  if (exec) PB_CUDA_CHECK(cudaGraphExecDestroy((cudaGraphExec_t)exec));
}
