/* pool.cu: max pool with argmax, average pool, global average pool: own kernels, the CUDA twin
 * of kernels/cpu/pool.c (PyTorch semantics, floor mode). Contracts in ops.h / ops_cuda.h.
 *
 * Why not cuDNN: its max pool has no argmax output and its max-pool backward uses atomics
 * (non-deterministic). Here every op is deterministic and follows the CPU twin's arithmetic:
 *  - forwards: one thread per output element, the window read in the CPU's order (rows, then
 *    columns), so y and argmax are bitwise equal to the CPU's (first max on ties, padding never
 *    wins, a NaN wins and the last NaN is kept, as the CPU / PyTorch CPU kernel);
 *  - backwards: a GATHER, one thread per input element, summing the outputs whose window
 *    covers it in increasing output index, which is exactly the order in which the CPU's
 *    scatter adds them: no atomics, dx bitwise equal to the CPU's for any overlap.
 *  - GAP forward: one block per (n, c) plane, double accumulation (as the CPU), fixed-order
 *    tree reduction in shared memory; GAP backward: one thread per element.
 * Channels last (p->nhwc; pb_gap_nhwc_*): x [n, h, w, c], y, argmax [n, h_out, w_out, c] (argmax
 * the index ih*w_in+iw within the plane, as NCHW). The same kernels with the channel the fastest
 * index of the thread number, so a warp reads and writes 32 consecutive channels (coalesced): the
 * same windows scanned in the same order, the same gathers in the same order, the same
 * expressions, so the results are bitwise the CPU's NHWC references (themselves bitwise the NCHW
 * ones on permuted tensors). GAP forward on NHWC: one thread per (n, c) sums its channel's hw
 * pixels in order in double, exactly the CPU's sum (bitwise, not merely to double rounding as
 * the NCHW tree), still coalesced across the channels of a warp.
 * Index math: planes and flat element indices are size_t; coordinates within a plane are int
 * (plane sizes fit int, as on the CPU). */
#include <math.h>

#include "kernels/cuda/cuda_check.cuh"

extern "C" {
#include "kernels/ops_cuda.h"
}

/* The pool geometry a kernel needs, passed by value. */
typedef struct pb_pool_geom {
  int h_in, w_in, h_out, w_out;
  int kh, kw, sh, sw, ph, pw;
  int count_include_pad;
} pb_pool_geom;

static pb_pool_geom pb_pool_geom_of(const pb_pool_params *p) {
  pb_pool_geom g;
  g.h_in = p->h_in, g.w_in = p->w_in, g.h_out = p->h_out, g.w_out = p->w_out;
  g.kh = p->kh, g.kw = p->kw, g.sh = p->stride_h, g.sw = p->stride_w, g.ph = p->pad_h, g.pw = p->pad_w;
  g.count_include_pad = p->count_include_pad;
  return g;
}

static size_t pb_pool_planes(const pb_pool_params *p) {
  return (p->n <= 0 || p->c <= 0) ? 0 : (size_t)p->n * (size_t)p->c;
}

/* Outputs o in [*lo, *hi] (inclusive; empty when lo > hi) whose window
 * [o*s - pad, o*s - pad + k) covers input coordinate i. */
__device__ static inline void pb_pool_cover(int *lo, int *hi, int i, int k, int s, int pad, int n_out) {
  const int a = i + pad - k + 1; /* o*s >= a */
  *lo = a <= 0 ? 0 : (a + s - 1) / s;
  const int b = (i + pad) / s; /* o*s <= i + pad, i + pad >= 0 */
  *hi = b < n_out - 1 ? b : n_out - 1;
}

__global__ static void pb_maxpool_fwd_kernel(float *__restrict__ y, int32_t *__restrict__ argmax,
                                             const float *__restrict__ x, size_t total, pb_pool_geom g) {
  const size_t hw_out = (size_t)g.h_out * g.w_out, hw_in = (size_t)g.h_in * g.w_in;
  for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (size_t)gridDim.x * blockDim.x) {
    const size_t pl = idx / hw_out;
    const int r = (int)(idx - pl * hw_out);
    const int oh = r / g.w_out, ow = r - oh * g.w_out;
    const float *xp = x + pl * hw_in;
    const int h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
    const int hs = h0 < 0 ? 0 : h0, he = min(h0 + g.kh, g.h_in);
    const int ws = w0 < 0 ? 0 : w0, we = min(w0 + g.kw, g.w_in);
    int32_t best_i = hs * g.w_in + ws;
    float best = -INFINITY;
    for (int ih = hs; ih < he; ih++)
      for (int iw = ws; iw < we; iw++) {
        const float v = xp[ih * g.w_in + iw];
        if (v > best || isnan(v)) {
          best = v;
          best_i = ih * g.w_in + iw;
        }
      }
    y[idx] = best;
    if (argmax) argmax[idx] = best_i; /* NULL in evaluation */
  }
}

/* Precondition: argmax came from the forward with the same params, so every argmax lies in
 * its own window and the gather over covering windows finds every contribution. */
__global__ static void pb_maxpool_bwd_kernel(float *__restrict__ dx, const float *__restrict__ dy,
                                             const int32_t *__restrict__ argmax, size_t total, pb_pool_geom g) {
  const size_t hw_out = (size_t)g.h_out * g.w_out, hw_in = (size_t)g.h_in * g.w_in;
  for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (size_t)gridDim.x * blockDim.x) {
    const size_t pl = idx / hw_in;
    const int r = (int)(idx - pl * hw_in);
    const int ih = r / g.w_in, iw = r - ih * g.w_in;
    const float *dyp = dy + pl * hw_out;
    const int32_t *ap = argmax + pl * hw_out;
    int oh0, oh1, ow0, ow1;
    pb_pool_cover(&oh0, &oh1, ih, g.kh, g.sh, g.ph, g.h_out);
    pb_pool_cover(&ow0, &ow1, iw, g.kw, g.sw, g.pw, g.w_out);
    float acc = 0.0f; /* the CPU zeroes dx, then adds in increasing output index: same order */
    for (int oh = oh0; oh <= oh1; oh++)
      for (int ow = ow0; ow <= ow1; ow++) {
        const int j = oh * g.w_out + ow;
        if (ap[j] == r) acc += dyp[j];
      }
    dx[idx] = acc;
  }
}

/* As the CPU's pb_avg_window: the padded window clipped to the padded input gives the
 * count_include_pad divisor, then clipped to the input the summed range. */
__device__ static inline void pb_avg_window(int *hs, int *he, int *ws, int *we, float *inv_div, int oh, int ow,
                                            const pb_pool_geom &g) {
  int h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
  int h1 = min(h0 + g.kh, g.h_in + g.ph);
  int w1 = min(w0 + g.kw, g.w_in + g.pw);
  const int padded = (h1 - h0) * (w1 - w0);
  if (h0 < 0) h0 = 0;
  if (w0 < 0) w0 = 0;
  if (h1 > g.h_in) h1 = g.h_in;
  if (w1 > g.w_in) w1 = g.w_in;
  *hs = h0, *he = h1, *ws = w0, *we = w1;
  *inv_div = 1.0f / (float)(g.count_include_pad ? padded : (h1 - h0) * (w1 - w0));
}

__global__ static void pb_avgpool_fwd_kernel(float *__restrict__ y, const float *__restrict__ x, size_t total,
                                             pb_pool_geom g) {
  const size_t hw_out = (size_t)g.h_out * g.w_out, hw_in = (size_t)g.h_in * g.w_in;
  for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (size_t)gridDim.x * blockDim.x) {
    const size_t pl = idx / hw_out;
    const int r = (int)(idx - pl * hw_out);
    const int oh = r / g.w_out, ow = r - oh * g.w_out;
    const float *xp = x + pl * hw_in;
    int hs, he, ws, we;
    float inv;
    pb_avg_window(&hs, &he, &ws, &we, &inv, oh, ow, g);
    float acc = 0.0f;
    for (int ih = hs; ih < he; ih++)
      for (int iw = ws; iw < we; iw++) acc += xp[ih * g.w_in + iw];
    y[idx] = __fmul_rn(acc, inv);
  }
}

__global__ static void pb_avgpool_bwd_kernel(float *__restrict__ dx, const float *__restrict__ dy, size_t total,
                                             pb_pool_geom g) {
  const size_t hw_out = (size_t)g.h_out * g.w_out, hw_in = (size_t)g.h_in * g.w_in;
  for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (size_t)gridDim.x * blockDim.x) {
    const size_t pl = idx / hw_in;
    const int r = (int)(idx - pl * hw_in);
    const int ih = r / g.w_in, iw = r - ih * g.w_in;
    const float *dyp = dy + pl * hw_out;
    int oh0, oh1, ow0, ow1;
    /* The clipped window covers (ih, iw) exactly when the unclipped one does: it is in range. */
    pb_pool_cover(&oh0, &oh1, ih, g.kh, g.sh, g.ph, g.h_out);
    pb_pool_cover(&ow0, &ow1, iw, g.kw, g.sw, g.pw, g.w_out);
    float acc = 0.0f;
    for (int oh = oh0; oh <= oh1; oh++)
      for (int ow = ow0; ow <= ow1; ow++) {
        int hs, he, ws, we;
        float inv;
        pb_avg_window(&hs, &he, &ws, &we, &inv, oh, ow, g);
        /* g = dy * inv rounded first, then added: the CPU's two roundings, no fused multiply-add */
        acc = __fadd_rn(acc, __fmul_rn(dyp[oh * g.w_out + ow], inv));
      }
    dx[idx] = acc;
  }
}

#define PB_GAP_THREADS 256

/* One block per plane; each thread sums a fixed strided subset in double, then a fixed tree. */
__global__ static void pb_gap_fwd_kernel(float *__restrict__ y, const float *__restrict__ x, int hw) {
  __shared__ double part[PB_GAP_THREADS];
  const size_t pl = blockIdx.x;
  const float *xp = x + pl * (size_t)hw;
  double acc = 0.0;
  for (int j = threadIdx.x; j < hw; j += PB_GAP_THREADS) acc += (double)xp[j];
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int s = PB_GAP_THREADS / 2; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) y[pl] = (float)(part[0] * (1.0 / (double)hw));
}

__global__ static void pb_gap_bwd_kernel(float *__restrict__ dx, const float *__restrict__ dy, size_t total, int hw,
                                         float inv) {
  for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (size_t)gridDim.x * blockDim.x)
    dx[idx] = __fmul_rn(dy[idx / (size_t)hw], inv);
}

/* ---- channels last. Thread index = ((sample * plane) + pixel) * c + channel. */

__global__ static void pb_maxpool_nhwc_fwd_kernel(float *__restrict__ y, int32_t *__restrict__ argmax,
                                                  const float *__restrict__ x, size_t total, int c, pb_pool_geom g) {
  const size_t hw_out = (size_t)g.h_out * g.w_out, hw_in = (size_t)g.h_in * g.w_in;
  for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (size_t)gridDim.x * blockDim.x) {
    const size_t q = idx / (size_t)c, smp = q / hw_out;
    const int ch = (int)(idx - q * (size_t)c), r = (int)(q - smp * hw_out);
    const int oh = r / g.w_out, ow = r - oh * g.w_out;
    const float *xp = x + smp * hw_in * (size_t)c + (size_t)ch;
    const int h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
    const int hs = h0 < 0 ? 0 : h0, he = min(h0 + g.kh, g.h_in);
    const int ws = w0 < 0 ? 0 : w0, we = min(w0 + g.kw, g.w_in);
    int32_t best_i = hs * g.w_in + ws;
    float best = -INFINITY;
    for (int ih = hs; ih < he; ih++)
      for (int iw = ws; iw < we; iw++) {
        const int j = ih * g.w_in + iw;
        const float v = xp[(size_t)j * c];
        if (v > best || isnan(v)) {
          best = v;
          best_i = j;
        }
      }
    y[idx] = best;
    if (argmax) argmax[idx] = best_i;
  }
}

__global__ static void pb_maxpool_nhwc_bwd_kernel(float *__restrict__ dx, const float *__restrict__ dy,
                                                  const int32_t *__restrict__ argmax, size_t total, int c,
                                                  pb_pool_geom g) {
  const size_t hw_out = (size_t)g.h_out * g.w_out, hw_in = (size_t)g.h_in * g.w_in;
  for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (size_t)gridDim.x * blockDim.x) {
    const size_t q = idx / (size_t)c, smp = q / hw_in;
    const int ch = (int)(idx - q * (size_t)c), r = (int)(q - smp * hw_in);
    const int ih = r / g.w_in, iw = r - ih * g.w_in;
    const size_t base = smp * hw_out * (size_t)c + (size_t)ch;
    const float *dyp = dy + base;
    const int32_t *ap = argmax + base;
    int oh0, oh1, ow0, ow1;
    pb_pool_cover(&oh0, &oh1, ih, g.kh, g.sh, g.ph, g.h_out);
    pb_pool_cover(&ow0, &ow1, iw, g.kw, g.sw, g.pw, g.w_out);
    float acc = 0.0f; /* the CPU zeroes dx, then adds in increasing output index: same order */
    for (int oh = oh0; oh <= oh1; oh++)
      for (int ow = ow0; ow <= ow1; ow++) {
        const size_t j = (size_t)(oh * g.w_out + ow) * c;
        if (ap[j] == r) acc = __fadd_rn(acc, dyp[j]);
      }
    dx[idx] = acc;
  }
}

__global__ static void pb_avgpool_nhwc_fwd_kernel(float *__restrict__ y, const float *__restrict__ x, size_t total,
                                                  int c, pb_pool_geom g) {
  const size_t hw_out = (size_t)g.h_out * g.w_out, hw_in = (size_t)g.h_in * g.w_in;
  for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (size_t)gridDim.x * blockDim.x) {
    const size_t q = idx / (size_t)c, smp = q / hw_out;
    const int ch = (int)(idx - q * (size_t)c), r = (int)(q - smp * hw_out);
    const int oh = r / g.w_out, ow = r - oh * g.w_out;
    const float *xp = x + smp * hw_in * (size_t)c + (size_t)ch;
    int hs, he, ws, we;
    float inv;
    pb_avg_window(&hs, &he, &ws, &we, &inv, oh, ow, g);
    float acc = 0.0f;
    for (int ih = hs; ih < he; ih++)
      for (int iw = ws; iw < we; iw++) acc = __fadd_rn(acc, xp[(size_t)(ih * g.w_in + iw) * c]);
    y[idx] = __fmul_rn(acc, inv);
  }
}

__global__ static void pb_avgpool_nhwc_bwd_kernel(float *__restrict__ dx, const float *__restrict__ dy, size_t total,
                                                  int c, pb_pool_geom g) {
  const size_t hw_out = (size_t)g.h_out * g.w_out, hw_in = (size_t)g.h_in * g.w_in;
  for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (size_t)gridDim.x * blockDim.x) {
    const size_t q = idx / (size_t)c, smp = q / hw_in;
    const int ch = (int)(idx - q * (size_t)c), r = (int)(q - smp * hw_in);
    const int ih = r / g.w_in, iw = r - ih * g.w_in;
    const float *dyp = dy + smp * hw_out * (size_t)c + (size_t)ch;
    int oh0, oh1, ow0, ow1;
    pb_pool_cover(&oh0, &oh1, ih, g.kh, g.sh, g.ph, g.h_out);
    pb_pool_cover(&ow0, &ow1, iw, g.kw, g.sw, g.pw, g.w_out);
    float acc = 0.0f;
    for (int oh = oh0; oh <= oh1; oh++)
      for (int ow = ow0; ow <= ow1; ow++) {
        int hs, he, ws, we;
        float inv;
        pb_avg_window(&hs, &he, &ws, &we, &inv, oh, ow, g);
        acc = __fadd_rn(acc, __fmul_rn(dyp[(size_t)(oh * g.w_out + ow) * c], inv));
      }
    dx[idx] = acc;
  }
}

/* One thread per (sample, channel): the channel's hw pixels summed in order, in double, as the
 * CPU (pb_gap_nhwc_fwd_cpu / pb_gap_fwd_cpu): bitwise. A warp reads 32 consecutive channels of a
 * pixel. */
__global__ static void pb_gap_nhwc_fwd_kernel(float *__restrict__ y, const float *__restrict__ x, size_t total, int c,
                                              int hw) {
  const double inv = 1.0 / (double)hw;
  for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (size_t)gridDim.x * blockDim.x) {
    const size_t smp = idx / (size_t)c, ch = idx - smp * (size_t)c;
    const float *xp = x + smp * (size_t)hw * (size_t)c + ch;
    double acc = 0.0;
#pragma unroll 8 /* x is read-only and restrict: the loads of 8 pixels go out together */
    for (int j = 0; j < hw; j++) acc = __dadd_rn(acc, (double)xp[(size_t)j * c]);
    y[idx] = (float)__dmul_rn(acc, inv);
  }
}

/* dx[n][j][c] = dy[n][c] * inv. */
__global__ static void pb_gap_nhwc_bwd_kernel(float *__restrict__ dx, const float *__restrict__ dy, size_t total, int c,
                                              size_t hw, float inv) {
  const size_t per = hw * (size_t)c;
  for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (size_t)gridDim.x * blockDim.x) {
    const size_t smp = idx / per;
    dx[idx] = __fmul_rn(dy[smp * (size_t)c + idx % (size_t)c], inv);
  }
}

extern "C" void pb_maxpool_fwd_cuda(float *y, int32_t *argmax, const float *x, const pb_pool_params *p,
                                    const pb_cuda_env *env) {
  const size_t total = pb_pool_planes(p) * (size_t)p->h_out * (size_t)p->w_out;
  if (total == 0) return;
  if (p->nhwc) {
    pb_maxpool_nhwc_fwd_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0,
                                  pb_cuda_stream_of(env->stream)>>>(y, argmax, x, total, p->c, pb_pool_geom_of(p));
    PB_CUDA_CHECK_LAUNCH("pb_maxpool_nhwc_fwd_kernel");
    return;
  }
  pb_maxpool_fwd_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0,
                          pb_cuda_stream_of(env->stream)>>>(y, argmax, x, total, pb_pool_geom_of(p));
  PB_CUDA_CHECK_LAUNCH("pb_maxpool_fwd_kernel");
}

extern "C" void pb_maxpool_bwd_cuda(float *dx, const float *dy, const int32_t *argmax, const pb_pool_params *p,
                                    const pb_cuda_env *env) {
  const size_t total = pb_pool_planes(p) * (size_t)p->h_in * (size_t)p->w_in;
  if (total == 0) return;
  if (p->nhwc) {
    pb_maxpool_nhwc_bwd_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0,
                                  pb_cuda_stream_of(env->stream)>>>(dx, dy, argmax, total, p->c, pb_pool_geom_of(p));
    PB_CUDA_CHECK_LAUNCH("pb_maxpool_nhwc_bwd_kernel");
    return;
  }
  pb_maxpool_bwd_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0,
                          pb_cuda_stream_of(env->stream)>>>(dx, dy, argmax, total, pb_pool_geom_of(p));
  PB_CUDA_CHECK_LAUNCH("pb_maxpool_bwd_kernel");
}

extern "C" void pb_avgpool_fwd_cuda(float *y, const float *x, const pb_pool_params *p, const pb_cuda_env *env) {
  const size_t total = pb_pool_planes(p) * (size_t)p->h_out * (size_t)p->w_out;
  if (total == 0) return;
  if (p->nhwc) {
    pb_avgpool_nhwc_fwd_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0,
                                  pb_cuda_stream_of(env->stream)>>>(y, x, total, p->c, pb_pool_geom_of(p));
    PB_CUDA_CHECK_LAUNCH("pb_avgpool_nhwc_fwd_kernel");
    return;
  }
  pb_avgpool_fwd_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0,
                          pb_cuda_stream_of(env->stream)>>>(y, x, total, pb_pool_geom_of(p));
  PB_CUDA_CHECK_LAUNCH("pb_avgpool_fwd_kernel");
}

extern "C" void pb_avgpool_bwd_cuda(float *dx, const float *dy, const pb_pool_params *p, const pb_cuda_env *env) {
  const size_t total = pb_pool_planes(p) * (size_t)p->h_in * (size_t)p->w_in;
  if (total == 0) return;
  if (p->nhwc) {
    pb_avgpool_nhwc_bwd_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0,
                                  pb_cuda_stream_of(env->stream)>>>(dx, dy, total, p->c, pb_pool_geom_of(p));
    PB_CUDA_CHECK_LAUNCH("pb_avgpool_nhwc_bwd_kernel");
    return;
  }
  pb_avgpool_bwd_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0,
                          pb_cuda_stream_of(env->stream)>>>(dx, dy, total, pb_pool_geom_of(p));
  PB_CUDA_CHECK_LAUNCH("pb_avgpool_bwd_kernel");
}

extern "C" void pb_gap_fwd_cuda(float *y, const float *x, int n, int c, int hw, const pb_cuda_env *env) {
  if (n <= 0 || c <= 0) return;
  const size_t planes = (size_t)n * (size_t)c;
  /* One block per plane: gridDim.x allows 2^31 - 1, far beyond any n*c. */
  PB_ASSERT(planes <= 0x7fffffffu);
  pb_gap_fwd_kernel<<<(unsigned int)planes, PB_GAP_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(y, x, hw < 0 ? 0 : hw);
  PB_CUDA_CHECK_LAUNCH("pb_gap_fwd_kernel");
}

extern "C" void pb_gap_bwd_cuda(float *dx, const float *dy, int n, int c, int hw, const pb_cuda_env *env) {
  if (n <= 0 || c <= 0 || hw <= 0) return;
  const size_t total = (size_t)n * (size_t)c * (size_t)hw;
  const float inv = 1.0f / (float)hw; /* as the CPU: float reciprocal, then dy * inv */
  pb_gap_bwd_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(
      dx, dy, total, hw, inv);
  PB_CUDA_CHECK_LAUNCH("pb_gap_bwd_kernel");
}

extern "C" void pb_gap_nhwc_fwd_cuda(float *y, const float *x, int n, int c, int hw, const pb_cuda_env *env) {
  if (n <= 0 || c <= 0) return;
  const size_t total = (size_t)n * (size_t)c;
  /* hw == 0 gives 0 * (1/0) = NaN, as the CPU */
  pb_gap_nhwc_fwd_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0,
                           pb_cuda_stream_of(env->stream)>>>(y, x, total, c, hw < 0 ? 0 : hw);
  PB_CUDA_CHECK_LAUNCH("pb_gap_nhwc_fwd_kernel");
}

extern "C" void pb_gap_nhwc_bwd_cuda(float *dx, const float *dy, int n, int c, int hw, const pb_cuda_env *env) {
  if (n <= 0 || c <= 0 || hw <= 0) return;
  const size_t total = (size_t)n * (size_t)c * (size_t)hw;
  const float inv = 1.0f / (float)hw; /* as the CPU: float reciprocal, then dy * inv */
  pb_gap_nhwc_bwd_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0,
                           pb_cuda_stream_of(env->stream)>>>(dx, dy, total, c, (size_t)hw, inv);
  PB_CUDA_CHECK_LAUNCH("pb_gap_nhwc_bwd_kernel");
}
