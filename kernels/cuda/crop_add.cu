/* crop_add.cu: the BagNet residual add y = a + b[:, :, :h, :w] and its backward (db = dy padded
 * with zeros): the CUDA twin of kernels/cpu/crop_add.c (contracts in ops.h / ops_cuda.h).
 *
 * Grid-stride loops, one thread per output element (forward: y; backward: db), each a copy or
 * one explicitly rounded add (__fadd_rn, as the CPU's single IEEE add): bitwise equal to the
 * CPU. y may alias a: element i of a is read by the thread that writes y[i]. Channels last
 * (p->nhwc) is read through pb_crop_params_nchw_view, as the CPU does: one "channel" of rows w*c
 * wide, the same elements in the same places. */
#include "kernels/cuda/cuda_check.cuh"

extern "C" {
#include "kernels/ops_cuda.h"
}

#define PB_GRID_LOOP(i, n) \
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

/* total = planes * h * w; element i is (plane, row, col) of y. */
__global__ static void pb_add_crop_fwd_kernel(float *y, const float *a, const float *b, size_t total, int h, int w,
                                              int h_in, int w_in) {
  PB_GRID_LOOP(i, total) {
    const size_t hw = (size_t)h * w, pl = i / hw;
    const int r = (int)((i % hw) / (size_t)w), c = (int)(i % (size_t)w);
    y[i] = __fadd_rn(a[i], b[pl * ((size_t)h_in * w_in) + (size_t)r * w_in + c]);
  }
}

/* total = planes * h_in * w_in; element i is (plane, row, col) of db. */
__global__ static void pb_add_crop_bwd_kernel(float *db, const float *dy, size_t total, int h, int w, int h_in,
                                              int w_in) {
  PB_GRID_LOOP(i, total) {
    const size_t hw_in = (size_t)h_in * w_in, pl = i / hw_in;
    const int r = (int)((i % hw_in) / (size_t)w_in), c = (int)(i % (size_t)w_in);
    db[i] = (r < h && c < w) ? dy[pl * ((size_t)h * w) + (size_t)r * w + c] : 0.0f;
  }
}

extern "C" void pb_add_crop_fwd_cuda(float *y, const float *a, const float *b, const pb_crop_params *pv,
                                     const pb_cuda_env *env) {
  const pb_crop_params q = pb_crop_params_nchw_view(pv), *p = &q; /* channels last: the NCHW view */
  const size_t total = (size_t)p->n * (size_t)p->c * (size_t)p->h * (size_t)p->w;
  if (total == 0) return;
  pb_add_crop_fwd_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0,
                           pb_cuda_stream_of(env->stream)>>>(y, a, b, total, p->h, p->w, p->h_in, p->w_in);
  PB_CUDA_CHECK_LAUNCH("pb_add_crop_fwd_kernel");
}

extern "C" void pb_add_crop_bwd_cuda(float *db, const float *dy, const pb_crop_params *pv, const pb_cuda_env *env) {
  const pb_crop_params q = pb_crop_params_nchw_view(pv), *p = &q; /* channels last: the NCHW view */
  const size_t total = (size_t)p->n * (size_t)p->c * (size_t)p->h_in * (size_t)p->w_in;
  if (total == 0) return;
  pb_add_crop_bwd_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0,
                           pb_cuda_stream_of(env->stream)>>>(db, dy, total, p->h, p->w, p->h_in, p->w_in);
  PB_CUDA_CHECK_LAUNCH("pb_add_crop_bwd_kernel");
}
