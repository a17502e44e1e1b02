/* reduce_det.cuh: private to kernels/cuda/. Deterministic (run-to-run bitwise reproducible)
 * sums for the hand-written kernels: no floating-point atomics, a fixed assignment of
 * elements to threads and a fixed reduction tree, none of which depend on the GPU model,
 * its SM count or the scheduling of blocks.
 *
 * pb_det_sum(out, f, n, env): out[0] = (OutT) sum over i < n of f(i), the terms in double.
 *   The n terms are split into PB_RED_PARTS "parts" (part g takes i = g*T + t + s*PARTS*T
 *   for thread t of T = PB_RED_THREADS, s = 0, 1, ...); each part is a per-thread sequential
 *   sum followed by a fixed shared-memory tree; the PB_RED_PARTS part sums are then summed by
 *   one block (thread t sums parts t, t+T, ... in order, then the same tree).
 *   - When env->workspace holds PB_RED_PARTS doubles: one launch of PB_RED_PARTS blocks
 *     (block g computes part g into the workspace) and one single-block launch for the final
 *     sum; the workspace is only used between those two launches on env->stream.
 *   - Otherwise ONE block computes the parts one after another into shared memory, then the
 *     same final sum. Same parts, same trees: bitwise the same result as the two-launch path.
 *   f may also write per-element outputs (a fused gradient): every i < n is visited exactly
 *   once in both paths. The accumulations are explicitly rounded (__dadd_rn), so nvcc cannot
 *   fuse them with a multiply at the end of f into an FMA differently in the two kernels.
 * Both paths are tested against each other in test/kernels/test_cuda_optim.c and test_cuda_loss.c. */
#ifndef PB_REDUCE_DET_CUH
#define PB_REDUCE_DET_CUH

#include "kernels/cuda/cuda_check.cuh"

extern "C" {
#include "kernels/ops_cuda.h"
}

#define PB_RED_THREADS 256 /* blockDim.x of every reduction block: a power of two */
#define PB_RED_PARTS 1024  /* fixed number of parts (enough blocks to fill an H100) */

/* Sum of v over the block (blockDim.x == PB_RED_THREADS), fixed tree; every thread of the block
 * must call it and gets the result. sh: PB_RED_THREADS doubles of shared memory, free again on
 * return (the trailing barrier), so calls can follow one another. */
__device__ static inline double pb_block_sum_d(double v, double *sh) {
  const unsigned t = threadIdx.x;
  sh[t] = v;
  __syncthreads();
  for (unsigned s = PB_RED_THREADS / 2; s > 0; s >>= 1) {
    if (t < s) sh[t] = __dadd_rn(sh[t], sh[t + s]);
    __syncthreads();
  }
  const double r = sh[0];
  __syncthreads();
  return r;
}

/* Max of v over the block (a row's max in the loss kernels), float, fixed tree; the caller passes
 * -inf as the neutral element. All threads get it. sh: PB_RED_THREADS floats of shared memory.
 * A NaN in the row may or may not win here, as on the CPU; the losses' sums of exp are NaN
 * either way, so their row's loss and gradient are NaN on both. */
__device__ static inline float pb_block_max_f(float v, float *sh) {
  const unsigned t = threadIdx.x;
  sh[t] = v;
  __syncthreads();
  for (unsigned s = PB_RED_THREADS / 2; s > 0; s >>= 1) {
    if (t < s) {
      const float o = sh[t + s];
      sh[t] = o > sh[t] ? o : sh[t];
    }
    __syncthreads();
  }
  const float r = sh[0];
  __syncthreads();
  return r;
}

/* Part g of the sum of f(i), i < n (all threads of the block call it; all get the result). */
template <class F>
__device__ static inline double pb_det_part(const F &f, size_t n, unsigned g, double *sh) {
  const size_t stride = (size_t)PB_RED_PARTS * PB_RED_THREADS;
  double acc = 0.0;
  for (size_t i = (size_t)g * PB_RED_THREADS + threadIdx.x; i < n; i += stride) acc = __dadd_rn(acc, f(i));
  return pb_block_sum_d(acc, sh);
}

/* Sum of the PB_RED_PARTS parts (global or shared memory), fixed order. */
__device__ static inline double pb_det_parts_total(const double *parts, double *sh) {
  double acc = 0.0;
  for (unsigned j = threadIdx.x; j < PB_RED_PARTS; j += PB_RED_THREADS) acc = __dadd_rn(acc, parts[j]);
  return pb_block_sum_d(acc, sh);
}

template <class F>
__global__ static void __launch_bounds__(PB_RED_THREADS) pb_det_parts_kernel(double *parts, F f, size_t n) {
  __shared__ double sh[PB_RED_THREADS];
  const double p = pb_det_part(f, n, blockIdx.x, sh);
  if (threadIdx.x == 0) parts[blockIdx.x] = p;
}

template <class OutT>
__global__ static void __launch_bounds__(PB_RED_THREADS) pb_det_final_kernel(OutT *out, const double *parts) {
  __shared__ double sh[PB_RED_THREADS];
  const double total = pb_det_parts_total(parts, sh);
  if (threadIdx.x == 0) out[0] = (OutT)total;
}

template <class OutT, class F>
__global__ static void __launch_bounds__(PB_RED_THREADS) pb_det_single_kernel(OutT *out, F f, size_t n) {
  __shared__ double sh[PB_RED_THREADS];
  __shared__ double parts[PB_RED_PARTS];
  for (unsigned g = 0; g < PB_RED_PARTS; g++) {
    const double p = pb_det_part(f, n, g, sh);
    if (threadIdx.x == 0) parts[g] = p;
  }
  __syncthreads();
  const double total = pb_det_parts_total(parts, sh);
  if (threadIdx.x == 0) out[0] = (OutT)total;
}

/* out[0] = (OutT) sum_{i<n} f(i) (see the file comment); n == 0 writes 0. Enqueued on
 * env->stream. name: for the launch-failure message. */
template <class OutT, class F>
static void pb_det_sum(OutT *out, const F &f, size_t n, const pb_cuda_env *env, const char *name) {
  cudaStream_t st = pb_cuda_stream_of(env->stream);
  if (n == 0) { /* 0.0f / 0.0 are all-zero bytes */
    PB_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(OutT), st));
    return;
  }
  if (env->workspace && env->workspace_bytes >= (size_t)PB_RED_PARTS * sizeof(double)) {
    double *parts = (double *)env->workspace; /* cudaMalloc: 256-byte aligned */
    pb_det_parts_kernel<F><<<PB_RED_PARTS, PB_RED_THREADS, 0, st>>>(parts, f, n);
    PB_CUDA_CHECK_LAUNCH(name);
    pb_det_final_kernel<OutT><<<1, PB_RED_THREADS, 0, st>>>(out, parts);
    PB_CUDA_CHECK_LAUNCH(name);
  } else {
    pb_det_single_kernel<OutT, F><<<1, PB_RED_THREADS, 0, st>>>(out, f, n);
    PB_CUDA_CHECK_LAUNCH(name);
  }
}

#endif
