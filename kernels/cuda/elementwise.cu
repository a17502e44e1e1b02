/* elementwise.cu: add, accumulate, scale and the SE channel scale (chscale) forward and
 * backward: the CUDA twin of kernels/cpu/elementwise.c (contracts in ops.h / ops_cuda.h).
 *
 * Elementwise ops are grid-stride loops with explicitly rounded intrinsics (one IEEE operation
 * each, as the CPU): bitwise equal to the CPU. y may alias a or b (add), x may alias y
 * (chscale fwd) and dx may alias dy (chscale bwd): every element is read before it is written,
 * by the same thread.
 *
 * chscale bwd: one block of PB_RED_THREADS per (n, c) plane. dx = dy * s (bitwise as the CPU);
 * ds[plane] = sum over hw of dy * x, each product exact in double, summed in double: thread t
 * takes elements t, t+T, ... in order, then a fixed shared-memory tree (pb_block_sum_d). No
 * atomics, so ds is run-to-run reproducible; against the CPU's sequential double sum it
 * differs only by double rounding, i.e. (after rounding to float) at most 1 ulp.
 *
 * Channels last (pb_chscale_*nhwc*): x, y, r, dy, dx [n, hw, c], s, ds [n, c]. fwd and add_relu
 * are the same grid-stride loops with s indexed by (sample, channel) (the same expressions:
 * bitwise). bwd: one thread per (sample, channel) walks its channel's hw pixels in order, dx =
 * dy * s and ds += (double)dy * (double)x in double, in the CPU's order: ds is bitwise the CPU's
 * (pb_chscale_nhwc_bwd_cpu, itself the NCHW sum's order), not merely to double rounding; the
 * threads of a warp take consecutive channels, so every access is coalesced. */
#include "kernels/cuda/reduce_det.cuh"

#define PB_GRID_LOOP(i, n) \
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

__global__ static void pb_add_fwd_kernel(float *y, const float *a, const float *b, size_t n) {
  PB_GRID_LOOP(i, n) y[i] = __fadd_rn(a[i], b[i]);
}

__global__ static void pb_accumulate_kernel(float *y, const float *x, size_t n) {
  PB_GRID_LOOP(i, n) y[i] = __fadd_rn(y[i], x[i]);
}

__global__ static void pb_scale_kernel(float *x, float s, size_t n) {
  PB_GRID_LOOP(i, n) x[i] = __fmul_rn(x[i], s);
}

/* total = planes * hw elements; element i belongs to plane i / hw. */
__global__ static void pb_chscale_fwd_kernel(float *y, const float *x, const float *s, size_t total, size_t hw) {
  PB_GRID_LOOP(i, total) y[i] = __fmul_rn(x[i], s[i / hw]);
}

/* y = relu(x * s + r): one rounded multiply, one rounded add, ReLU as pb_relu_fwd: the CPU's bits. */
__global__ static void pb_chscale_add_relu_kernel(float *y, const float *x, const float *s, const float *r,
                                                  size_t total, size_t hw) {
  PB_GRID_LOOP(i, total) {
    const float v = __fadd_rn(__fmul_rn(x[i], s[i / hw]), r[i]);
    y[i] = v < 0.0f ? 0.0f : v;
  }
}

/* One block per plane (blockIdx.x); hw may be 0 (ds = 0, as the CPU). */
__global__ static void __launch_bounds__(PB_RED_THREADS)
    pb_chscale_bwd_kernel(float *dx, float *ds, const float *dy, const float *x, const float *s, size_t hw) {
  __shared__ double sh[PB_RED_THREADS];
  const size_t pl = blockIdx.x;
  const float sv = s[pl];
  const float *xp = x + pl * hw, *dyp = dy + pl * hw;
  float *dxp = dx + pl * hw;
  double acc = 0.0;
  for (size_t j = threadIdx.x; j < hw; j += PB_RED_THREADS) {
    const float g = dyp[j];
    /* float * float is exact in double, so an FMA here would not change the sum */
    acc += (double)g * (double)xp[j];
    dxp[j] = __fmul_rn(g, sv);
  }
  const double tot = pb_block_sum_d(acc, sh);
  if (threadIdx.x == 0) ds[pl] = (float)tot;
}

/* Channels last: element i = (sample * hw + pixel) * c + channel; s [n, c]. */
__device__ static inline size_t pb_chs_nhwc_s(size_t i, size_t c, size_t per) { return i / per * c + i % c; }

__global__ static void pb_chscale_nhwc_fwd_kernel(float *y, const float *x, const float *s, size_t total, size_t c,
                                                  size_t per) {
  PB_GRID_LOOP(i, total) y[i] = __fmul_rn(x[i], s[pb_chs_nhwc_s(i, c, per)]);
}

__global__ static void pb_chscale_add_relu_nhwc_kernel(float *y, const float *x, const float *s, const float *r,
                                                       size_t total, size_t c, size_t per) {
  PB_GRID_LOOP(i, total) {
    const float v = __fadd_rn(__fmul_rn(x[i], s[pb_chs_nhwc_s(i, c, per)]), r[i]);
    y[i] = v < 0.0f ? 0.0f : v;
  }
}

/* One thread per (sample, channel), total = n * c; hw may be 0 (ds = 0, as the CPU). The pixels
 * are taken PB_CHS_BATCH at a time, all their loads first: dx may alias dy, so the compiler may
 * not move a load above an earlier store itself, and one load in flight per thread would leave
 * the memory system idle. Each thread reads only the elements it writes, so reading a batch
 * before writing it is safe under that aliasing; the sum keeps pixel order. */
#define PB_CHS_BATCH 8

__global__ static void pb_chscale_nhwc_bwd_kernel(float *dx, float *ds, const float *dy, const float *x, const float *s,
                                                  size_t total, size_t c, size_t hw) {
  PB_GRID_LOOP(k, total) {
    const size_t smp = k / c, ch = k - smp * c;
    const size_t base = smp * hw * c + ch;
    const float sv = s[k];
    double acc = 0.0;
    size_t j = 0;
    for (; j + PB_CHS_BATCH <= hw; j += PB_CHS_BATCH) {
      float g[PB_CHS_BATCH], xv[PB_CHS_BATCH];
#pragma unroll
      for (int u = 0; u < PB_CHS_BATCH; u++) {
        g[u] = dy[base + (j + u) * c];
        xv[u] = x[base + (j + u) * c];
      }
#pragma unroll
      for (int u = 0; u < PB_CHS_BATCH; u++) {
        /* the product of two floats is exact in double: no FMA question */
        acc = __dadd_rn(acc, __dmul_rn((double)g[u], (double)xv[u]));
        dx[base + (j + u) * c] = __fmul_rn(g[u], sv);
      }
    }
    for (; j < hw; j++) {
      const size_t i = base + j * c;
      const float g = dy[i];
      acc = __dadd_rn(acc, __dmul_rn((double)g, (double)x[i]));
      dx[i] = __fmul_rn(g, sv);
    }
    ds[k] = (float)acc;
  }
}

extern "C" void pb_add_fwd_cuda(float *y, const float *a, const float *b, size_t n, const pb_cuda_env *env) {
  if (n == 0) return;
  pb_add_fwd_kernel<<<pb_cuda_blocks(n, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(y, a,
                                                                                                                b, n);
  PB_CUDA_CHECK_LAUNCH("pb_add_fwd_kernel");
}

extern "C" void pb_accumulate_cuda(float *y, const float *x, size_t n, const pb_cuda_env *env) {
  if (n == 0) return;
  pb_accumulate_kernel<<<pb_cuda_blocks(n, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(
      y, x, n);
  PB_CUDA_CHECK_LAUNCH("pb_accumulate_kernel");
}

extern "C" void pb_scale_cuda(float *x, float s, size_t n, const pb_cuda_env *env) {
  if (n == 0) return;
  pb_scale_kernel<<<pb_cuda_blocks(n, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(x, s,
                                                                                                              n);
  PB_CUDA_CHECK_LAUNCH("pb_scale_kernel");
}

extern "C" void pb_chscale_fwd_cuda(float *y, const float *x, const float *s, int n, int c, int hw,
                                    const pb_cuda_env *env) {
  if (n <= 0 || c <= 0 || hw <= 0) return;
  const size_t total = (size_t)n * (size_t)c * (size_t)hw;
  pb_chscale_fwd_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0,
                          pb_cuda_stream_of(env->stream)>>>(y, x, s, total, (size_t)hw);
  PB_CUDA_CHECK_LAUNCH("pb_chscale_fwd_kernel");
}

extern "C" void pb_chscale_add_relu_cuda(float *y, const float *x, const float *s, const float *r, int n, int c,
                                         int hw, const pb_cuda_env *env) {
  if (n <= 0 || c <= 0 || hw <= 0) return;
  const size_t total = (size_t)n * (size_t)c * (size_t)hw;
  pb_chscale_add_relu_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0,
                               pb_cuda_stream_of(env->stream)>>>(y, x, s, r, total, (size_t)hw);
  PB_CUDA_CHECK_LAUNCH("pb_chscale_add_relu_kernel");
}

extern "C" void pb_chscale_bwd_cuda(float *dx, float *ds, const float *dy, const float *x, const float *s, int n,
                                    int c, int hw, const pb_cuda_env *env) {
  if (n <= 0 || c <= 0) return;
  const size_t planes = (size_t)n * (size_t)c;
  /* One block per plane: gridDim.x allows 2^31 - 1. */
  PB_ASSERT(planes <= 0x7fffffffu);
  pb_chscale_bwd_kernel<<<(unsigned int)planes, PB_RED_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(
      dx, ds, dy, x, s, hw < 0 ? 0 : (size_t)hw);
  PB_CUDA_CHECK_LAUNCH("pb_chscale_bwd_kernel");
}

extern "C" void pb_chscale_nhwc_fwd_cuda(float *y, const float *x, const float *s, int n, int c, int hw,
                                         const pb_cuda_env *env) {
  if (n <= 0 || c <= 0 || hw <= 0) return;
  const size_t total = (size_t)n * (size_t)c * (size_t)hw;
  pb_chscale_nhwc_fwd_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0,
                               pb_cuda_stream_of(env->stream)>>>(y, x, s, total, (size_t)c, (size_t)hw * (size_t)c);
  PB_CUDA_CHECK_LAUNCH("pb_chscale_nhwc_fwd_kernel");
}

extern "C" void pb_chscale_add_relu_nhwc_cuda(float *y, const float *x, const float *s, const float *r, int n, int c,
                                              int hw, const pb_cuda_env *env) {
  if (n <= 0 || c <= 0 || hw <= 0) return;
  const size_t total = (size_t)n * (size_t)c * (size_t)hw;
  pb_chscale_add_relu_nhwc_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0,
                                    pb_cuda_stream_of(env->stream)>>>(y, x, s, r, total, (size_t)c,
                                                                      (size_t)hw * (size_t)c);
  PB_CUDA_CHECK_LAUNCH("pb_chscale_add_relu_nhwc_kernel");
}

extern "C" void pb_chscale_nhwc_bwd_cuda(float *dx, float *ds, const float *dy, const float *x, const float *s, int n,
                                         int c, int hw, const pb_cuda_env *env) {
  if (n <= 0 || c <= 0) return;
  const size_t total = (size_t)n * (size_t)c;
  pb_chscale_nhwc_bwd_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0,
                               pb_cuda_stream_of(env->stream)>>>(dx, ds, dy, x, s, total, (size_t)c,
                                                                 hw < 0 ? 0 : (size_t)hw);
  PB_CUDA_CHECK_LAUNCH("pb_chscale_nhwc_bwd_kernel");
}
