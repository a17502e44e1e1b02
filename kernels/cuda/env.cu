/* env.cu: the CUDA device environment (streams, cuDNN / cuBLAS handles, workspace, conv
 * algorithm cache, LSTM descriptor cache) and device / pinned memory with copies. Contracts in
 * kernels/ops_cuda.h; the CPU-only build's twin is kernels/cuda/stubs.c (which aborts: no
 * device there).
 *
 * Errors: a failed library call is a bug or a device failure and aborts (tier 1, via the
 * checks in cuda_check.cuh). Running out of device or pinned memory, and a GPU ordinal that
 * does not exist, depend on the user's config, so they are returned with a message (tier 2). */
#include <pthread.h>
#include <string.h>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/conv_cache.h"
#include "kernels/cuda/lstm_cache.h"

extern "C" {
#include "kernels/ops_cuda.h"
}

#define PB_GIB (1024.0 * 1024.0 * 1024.0)

/* Accounting of plumb's own device allocations (what PyTorch's memory_allocated counts: no
 * CUDA context, no library-internal memory). A model holds tens of blocks, so a flat table
 * with a linear search on free is enough; a mutex because loader threads may allocate too. */
typedef struct pb_alloc_rec {
  void *p;
  size_t bytes;
} pb_alloc_rec;
static pthread_mutex_t pb_alloc_mu = PTHREAD_MUTEX_INITIALIZER;
static pb_alloc_rec *pb_alloc_tab;
static size_t pb_alloc_n, pb_alloc_cap, pb_alloc_cur, pb_alloc_peak;

static void pb_alloc_note(void *p, size_t bytes) {
  pthread_mutex_lock(&pb_alloc_mu);
  if (pb_alloc_n == pb_alloc_cap) {
    pb_alloc_cap = pb_alloc_cap ? 2 * pb_alloc_cap : 64;
    pb_alloc_tab = (pb_alloc_rec *)pb_xrealloc(pb_alloc_tab, pb_alloc_cap * sizeof *pb_alloc_tab);
  }
  pb_alloc_tab[pb_alloc_n].p = p;
  pb_alloc_tab[pb_alloc_n++].bytes = bytes;
  pb_alloc_cur += bytes;
  if (pb_alloc_cur > pb_alloc_peak) pb_alloc_peak = pb_alloc_cur;
  pthread_mutex_unlock(&pb_alloc_mu);
}

static void pb_alloc_forget(void *p) {
  pthread_mutex_lock(&pb_alloc_mu);
  for (size_t i = pb_alloc_n; i-- > 0;)
    if (pb_alloc_tab[i].p == p) {
      pb_alloc_cur -= pb_alloc_tab[i].bytes;
      pb_alloc_tab[i] = pb_alloc_tab[--pb_alloc_n];
      break;
    }
  pthread_mutex_unlock(&pb_alloc_mu);
}

extern "C" void pb_cuda_alloc_stats(size_t *current, size_t *peak) {
  pthread_mutex_lock(&pb_alloc_mu);
  if (current) *current = pb_alloc_cur;
  if (peak) *peak = pb_alloc_peak;
  pthread_mutex_unlock(&pb_alloc_mu);
}

extern "C" void pb_cuda_alloc_reset_peak(void) {
  pthread_mutex_lock(&pb_alloc_mu);
  pb_alloc_peak = pb_alloc_cur;
  pthread_mutex_unlock(&pb_alloc_mu);
}

extern "C" void *pb_cuda_alloc(size_t bytes, const char *what, pb_err *err) {
  /* A zero-byte request still gets a real, unique allocation, so NULL always means failure. */
  const size_t ask = bytes ? bytes : 1;
  void *p = NULL;
  cudaError_t e = cudaMalloc(&p, ask);
  if (e == cudaSuccess) {
    pb_alloc_note(p, ask);
    return p;
  }
  if (e != cudaErrorMemoryAllocation)
    PB_FATAL("CUDA: cudaMalloc(%zu bytes) for %s failed: %s (%s)", ask, what ? what : "?", cudaGetErrorString(e),
             cudaGetErrorName(e));
  /* Out of memory is not sticky: clear it so the next call on this thread starts clean. */
  (void)cudaGetLastError();
  size_t free_b = 0, total_b = 0;
  PB_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  pb_err_set(err,
             "out of GPU memory allocating %s: asked %.2f GiB (%zu bytes), %.2f GiB free of %.1f GiB; use a smaller "
             "[train] batch_size (and a larger [train] accum_steps to keep the effective batch)",
             what ? what : "device memory", ask / PB_GIB, ask, free_b / PB_GIB, total_b / PB_GIB);
  return NULL;
}

extern "C" void pb_cuda_free(void *p) {
  if (!p) return;
  pb_alloc_forget(p);
  cudaError_t e = cudaFree(p);
  /* At process exit the runtime may already be torn down; the memory is gone with it. */
  if (e == cudaErrorCudartUnloading) {
    (void)cudaGetLastError();
    return;
  }
  PB_CUDA_CHECK(e);
}

extern "C" void *pb_cuda_host_alloc(size_t bytes, const char *what, pb_err *err) {
  const size_t ask = bytes ? bytes : 1;
  void *p = NULL;
  cudaError_t e = cudaMallocHost(&p, ask);
  if (e == cudaSuccess) return p;
  if (e != cudaErrorMemoryAllocation)
    PB_FATAL("CUDA: cudaMallocHost(%zu bytes) for %s failed: %s (%s)", ask, what ? what : "?",
             cudaGetErrorString(e), cudaGetErrorName(e));
  (void)cudaGetLastError();
  pb_err_set(err,
             "out of pinned host memory allocating %s: asked %.2f GiB (%zu bytes); use a smaller [train] batch_size "
             "or fewer prefetched batches",
             what ? what : "host buffers", ask / PB_GIB, ask);
  return NULL;
}

extern "C" void pb_cuda_host_free(void *p) {
  if (!p) return;
  cudaError_t e = cudaFreeHost(p);
  if (e == cudaErrorCudartUnloading) {
    (void)cudaGetLastError();
    return;
  }
  PB_CUDA_CHECK(e);
}

extern "C" void pb_cuda_h2d(void *dst, const void *src, size_t bytes, const pb_cuda_env *env) {
  if (bytes == 0) return;
  PB_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, pb_cuda_stream_of(env->stream)));
}

extern "C" void pb_cuda_d2h(void *dst, const void *src, size_t bytes, const pb_cuda_env *env) {
  if (bytes == 0) return;
  cudaStream_t s = pb_cuda_stream_of(env->stream);
  PB_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s));
  /* The caller reads dst next: wait for the copy (and everything before it on the stream). */
  PB_CUDA_CHECK(cudaStreamSynchronize(s));
}

extern "C" void pb_cuda_memset0(void *dst, size_t bytes, const pb_cuda_env *env) {
  if (bytes == 0) return;
  PB_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, pb_cuda_stream_of(env->stream)));
}

/* The event is created and destroyed per call: cudaStreamWaitEvent captures the event's state
 * when it is called, and destroying an event whose work is pending is allowed (its resources
 * are released once it completes), so no pool has to track which events are still in use.
 * The caller keeps pinned_src unchanged and dst unread by compute until the copy is done
 * (double buffering); the copy does not wait for compute already enqueued on env->stream. */
extern "C" void pb_cuda_h2d_overlap(void *dst, const void *pinned_src, size_t bytes, const pb_cuda_env *env) {
  if (bytes == 0) return;
  cudaStream_t copy = pb_cuda_stream_of(env->copy_stream), compute = pb_cuda_stream_of(env->stream);
  cudaEvent_t done;
  PB_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
  PB_CUDA_CHECK(cudaMemcpyAsync(dst, pinned_src, bytes, cudaMemcpyHostToDevice, copy));
  PB_CUDA_CHECK(cudaEventRecord(done, copy));
  PB_CUDA_CHECK(cudaStreamWaitEvent(compute, done, 0));
  PB_CUDA_CHECK(cudaEventDestroy(done));
}

extern "C" void pb_cuda_sync(const pb_cuda_env *env) {
  PB_CUDA_CHECK(cudaStreamSynchronize(pb_cuda_stream_of(env->stream)));
}

extern "C" int pb_cuda_env_init(pb_cuda_env *env, int dev, size_t workspace_bytes, int deterministic, int tf32,
                                pb_err *err) {
  memset(env, 0, sizeof *env);
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return pb_err_set(err, "cannot use GPU %d: CUDA runtime: %s", dev, cudaGetErrorString(e));
  }
  if (dev < 0 || dev >= count)
    return pb_err_set(err, "cannot use GPU %d: this machine has %d GPU%s (valid: cuda:0..cuda:%d)", dev, count,
                      count == 1 ? "" : "s", count - 1);
  PB_CUDA_CHECK(cudaSetDevice(dev));
  env->device = dev;
  env->deterministic = deterministic ? 1 : 0;
  env->tf32 = tf32 ? 1 : 0;

  /* Non-blocking: neither stream synchronises with the legacy default stream, which other
   * libraries in the process might use. */
  cudaStream_t stream, copy_stream;
  PB_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  PB_CUDA_CHECK(cudaStreamCreateWithFlags(&copy_stream, cudaStreamNonBlocking));
  env->stream = (void *)stream;
  env->copy_stream = (void *)copy_stream;

  cudnnHandle_t cudnn;
  PB_CUDNN_CHECK(cudnnCreate(&cudnn));
  PB_CUDNN_CHECK(cudnnSetStream(cudnn, stream));
  env->cudnn = (void *)cudnn;

  cublasHandle_t cublas;
  PB_CUBLAS_CHECK(cublasCreate(&cublas));
  PB_CUBLAS_CHECK(cublasSetStream(cublas, stream));
  /* CUBLAS_DEFAULT_MATH keeps fp32 GEMMs in full fp32; TF32 only when asked. Atomics stay off
   * (the default), so a GEMM is reproducible run to run on one GPU. */
  PB_CUBLAS_CHECK(cublasSetMathMode(cublas, env->tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  env->cublas = (void *)cublas;

  if (workspace_bytes) {
    env->workspace = pb_cuda_alloc(workspace_bytes, "the cuDNN workspace", err);
    if (!env->workspace) {
      pb_cuda_env_free(env);
      return PB_ERR;
    }
    env->workspace_bytes = workspace_bytes;
  }
  env->conv_cache = pb_cuda_conv_cache_new();
  env->lstm_cache = pb_cuda_lstm_cache_new();
  return PB_OK;
}

extern "C" int pb_cuda_workspace_fit(pb_cuda_env *env, size_t *bytes, pb_err *err) {
  const size_t mib = (size_t)1 << 20;
  size_t need = pb_cuda_conv_workspace_max(env);
  if (need < env->workspace_floor) need = env->workspace_floor;
  if (need < mib) need = mib;
  need = (need + mib - 1) / mib * mib;
  if (env->workspace && need < env->workspace_bytes && !env->workspace_fitted) {
    PB_CUDA_CHECK(cudaStreamSynchronize(pb_cuda_stream_of(env->stream))); /* work may still use it */
    pb_cuda_free(env->workspace);
    env->workspace_bytes = 0;
    if (!(env->workspace = pb_cuda_alloc(need, "the cuDNN workspace (fitted)", err))) return PB_ERR;
    env->workspace_bytes = need;
  }
  env->workspace_fitted = 1;
  if (bytes) *bytes = env->workspace_bytes;
  return PB_OK;
}

extern "C" void pb_cuda_env_free(pb_cuda_env *env) {
  if (!env) return;
  if (env->stream) {
    PB_CUDA_CHECK(cudaSetDevice(env->device));
    /* Work in flight may still use the workspace or the descriptors. */
    PB_CUDA_CHECK(cudaStreamSynchronize(pb_cuda_stream_of(env->stream)));
  }
  if (env->copy_stream) PB_CUDA_CHECK(cudaStreamSynchronize(pb_cuda_stream_of(env->copy_stream)));
  pb_cuda_conv_cache_free(env->conv_cache);
  pb_cuda_lstm_cache_free(env->lstm_cache);
  pb_cuda_stage_free(env);
  pb_cuda_free(env->workspace);
  if (env->cublas) PB_CUBLAS_CHECK(cublasDestroy((cublasHandle_t)env->cublas));
  if (env->cudnn) PB_CUDNN_CHECK(cudnnDestroy((cudnnHandle_t)env->cudnn));
  if (env->copy_stream) PB_CUDA_CHECK(cudaStreamDestroy(pb_cuda_stream_of(env->copy_stream)));
  if (env->stream) PB_CUDA_CHECK(cudaStreamDestroy(pb_cuda_stream_of(env->stream)));
  memset(env, 0, sizeof *env);
}
