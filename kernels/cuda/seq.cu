/* seq.cu: the sequence layout and pooling ops, the CUDA twin of kernels/cpu/seq.c (contracts
 * in ops.h / ops_cuda.h). swap01 and mean_bwd move or divide single values: bitwise the CPU's.
 * mean_fwd: one thread per (n, c) sums its column in t order in double, as the CPU does:
 * bitwise the CPU's too (the same double additions in the same order, one final rounding). */
#include "kernels/cuda/reduce_det.cuh"

__global__ static void pb_seq_swap01_kernel(float *y, const float *x, int a, int b, int d, size_t total) {
  for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
    const size_t r = e / (size_t)d, k = e % (size_t)d;
    const size_t i = r / (size_t)b, j = r % (size_t)b;
    y[(j * (size_t)a + i) * (size_t)d + k] = x[e];
  }
}

__global__ static void pb_seq_mean_fwd_kernel(float *y, const float *x, const int32_t *lengths, int n, int c) {
  const size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= (size_t)n * (size_t)c) return;
  const size_t i = e / (size_t)c, k = e % (size_t)c;
  const int len = lengths[i];
  double s = 0.0;
  for (int t = 0; t < len; t++) s = __dadd_rn(s, (double)x[((size_t)t * (size_t)n + i) * (size_t)c + k]);
  y[e] = (float)__ddiv_rn(s, (double)len);
}

__global__ static void pb_seq_mean_bwd_kernel(float *dx, const float *dy, const int32_t *lengths, int n, int c,
                                              size_t total) {
  for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
    const size_t k = e % (size_t)c, r = e / (size_t)c;
    const size_t i = r % (size_t)n, t = r / (size_t)n;
    const int len = lengths[i];
    dx[e] = (int)t < len ? (float)__ddiv_rn((double)dy[i * (size_t)c + k], (double)len) : 0.0f;
  }
}

static unsigned int pb_seq_grid(size_t total) {
  size_t g = (total + 255) / 256;
  return (unsigned int)(g > 65535 * 8 ? 65535 * 8 : (g ? g : 1));
}

extern "C" void pb_seq_swap01_cuda(float *y, const float *x, int a, int b, int d, const pb_cuda_env *env) {
  const size_t total = (size_t)a * (size_t)b * (size_t)d;
  if (!total) return;
  pb_seq_swap01_kernel<<<pb_seq_grid(total), 256, 0, pb_cuda_stream_of(env->stream)>>>(y, x, a, b, d, total);
  PB_CUDA_CHECK_LAUNCH("pb_seq_swap01_kernel");
}

extern "C" void pb_seq_mean_fwd_cuda(float *y, const float *x, const int32_t *lengths, int t, int n, int c,
                                     const pb_cuda_env *env) {
  (void)t;
  const size_t total = (size_t)n * (size_t)c;
  if (!total) return;
  pb_seq_mean_fwd_kernel<<<(unsigned int)((total + 255) / 256), 256, 0, pb_cuda_stream_of(env->stream)>>>(
      y, x, lengths, n, c);
  PB_CUDA_CHECK_LAUNCH("pb_seq_mean_fwd_kernel");
}

extern "C" void pb_seq_mean_bwd_cuda(float *dx, const float *dy, const int32_t *lengths, int t, int n, int c,
                                     const pb_cuda_env *env) {
  const size_t total = (size_t)t * (size_t)n * (size_t)c;
  if (!total) return;
  pb_seq_mean_bwd_kernel<<<pb_seq_grid(total), 256, 0, pb_cuda_stream_of(env->stream)>>>(dx, dy, lengths, n, c,
                                                                                         total);
  PB_CUDA_CHECK_LAUNCH("pb_seq_mean_bwd_kernel");
}
