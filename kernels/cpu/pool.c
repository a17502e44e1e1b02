/* pool.c: CPU pooling with PyTorch semantics (floor mode): max pool with argmax, average pool
 * (count_include_pad as nn.AvgPool2d), global average pool. Its CUDA twin will be
 * kernels/cuda/pool.cu (cuDNN pooling plus a small GAP kernel).
 *
 * Every op works plane by plane (one [h, w] plane of one sample and channel), so the planes
 * are split across OpenMP threads with no shared writes; results do not depend on the thread
 * count. These ops take no nthreads, so they use the OpenMP default team size, and only for
 * tensors big enough to pay for the fork. */
#include <math.h>
#include <string.h>

#include "kernels/ops.h"

/* Below this many output elements a parallel region costs more than it saves. */
#define PB_POOL_PAR_MIN 16384

static inline int pb_pool_min(int a, int b) { return a < b ? a : b; }

static void pb_maxpool_nhwc_fwd(float *y, int32_t *argmax, const float *x, const pb_pool_params *p);
static void pb_maxpool_nhwc_bwd(float *dx, const float *dy, const int32_t *argmax, const pb_pool_params *p);
static void pb_avgpool_nhwc_fwd(float *y, const float *x, const pb_pool_params *p);
static void pb_avgpool_nhwc_bwd(float *dx, const float *dy, const pb_pool_params *p);

int pb_pool_params_finish(pb_pool_params *p) {
  if (p->n <= 0 || p->c <= 0 || p->h_in <= 0 || p->w_in <= 0 || p->kh <= 0 || p->kw <= 0 ||
      p->stride_h <= 0 || p->stride_w <= 0 || p->pad_h < 0 || p->pad_w < 0)
    return -1;
  if (p->pad_h > p->kh / 2 || p->pad_w > p->kw / 2) return -1; /* PyTorch's own rule */
  const int span_h = p->h_in + 2 * p->pad_h - p->kh, span_w = p->w_in + 2 * p->pad_w - p->kw;
  if (span_h < 0 || span_w < 0) return -1;
  p->h_out = span_h / p->stride_h + 1;
  p->w_out = span_w / p->stride_w + 1;
  return 0;
}

void pb_maxpool_fwd_cpu(float *y, int32_t *argmax, const float *x, const pb_pool_params *p) {
  if (p->nhwc) {
    pb_maxpool_nhwc_fwd(y, argmax, x, p);
    return;
  }
  const long planes = (long)p->n * p->c;
  const size_t hw_in = (size_t)p->h_in * p->w_in, hw_out = (size_t)p->h_out * p->w_out;
#pragma omp parallel for schedule(static) if (planes * (long)hw_out >= PB_POOL_PAR_MIN)
  for (long pl = 0; pl < planes; pl++) {
    const float *xp = x + (size_t)pl * hw_in;
    float *yp = y + (size_t)pl * hw_out;
    int32_t *ap = argmax ? argmax + (size_t)pl * hw_out : NULL;
    for (int oh = 0; oh < p->h_out; oh++) {
      const int h0 = oh * p->stride_h - p->pad_h;
      const int hs = h0 < 0 ? 0 : h0, he = pb_pool_min(h0 + p->kh, p->h_in);
      for (int ow = 0; ow < p->w_out; ow++) {
        const int w0 = ow * p->stride_w - p->pad_w;
        const int ws = w0 < 0 ? 0 : w0, we = pb_pool_min(w0 + p->kw, p->w_in);
        /* As PyTorch's CPU kernel: start at -inf on the first in-bounds element (padding never
         * wins), strict > keeps the first max, and a NaN wins and propagates (the last NaN,
         * as there). */
        int32_t best_i = hs * p->w_in + ws;
        float best = -INFINITY;
        for (int ih = hs; ih < he; ih++)
          for (int iw = ws; iw < we; iw++) {
            const float v = xp[ih * p->w_in + iw];
            if (v > best || isnan(v)) {
              best = v;
              best_i = ih * p->w_in + iw;
            }
          }
        yp[oh * p->w_out + ow] = best;
        if (ap) ap[oh * p->w_out + ow] = best_i;
      }
    }
  }
}

void pb_maxpool_bwd_cpu(float *dx, const float *dy, const int32_t *argmax,
                        const pb_pool_params *p) {
  if (p->nhwc) {
    pb_maxpool_nhwc_bwd(dx, dy, argmax, p);
    return;
  }
  const long planes = (long)p->n * p->c;
  const size_t hw_in = (size_t)p->h_in * p->w_in, hw_out = (size_t)p->h_out * p->w_out;
#pragma omp parallel for schedule(static) if (planes * (long)hw_in >= PB_POOL_PAR_MIN)
  for (long pl = 0; pl < planes; pl++) {
    float *dxp = dx + (size_t)pl * hw_in;
    const float *dyp = dy + (size_t)pl * hw_out;
    const int32_t *ap = argmax + (size_t)pl * hw_out;
    memset(dxp, 0, sizeof(float) * hw_in);
    for (size_t j = 0; j < hw_out; j++) dxp[ap[j]] += dyp[j];
  }
}

/* Window [hs,he) x [ws,we) clipped to the input, and its divisor, as PyTorch's avg_pool2d:
 * the padded window is clipped to the padded input first (that is the count_include_pad
 * size), then to the real input (the count without padding). */
static void pb_avg_window(int *hs, int *he, int *ws, int *we, float *inv_div, int oh, int ow,
                          const pb_pool_params *p) {
  int h0 = oh * p->stride_h - p->pad_h, w0 = ow * p->stride_w - p->pad_w;
  int h1 = pb_pool_min(h0 + p->kh, p->h_in + p->pad_h);
  int w1 = pb_pool_min(w0 + p->kw, p->w_in + p->pad_w);
  const int padded = (h1 - h0) * (w1 - w0);
  if (h0 < 0) h0 = 0;
  if (w0 < 0) w0 = 0;
  if (h1 > p->h_in) h1 = p->h_in;
  if (w1 > p->w_in) w1 = p->w_in;
  *hs = h0, *he = h1, *ws = w0, *we = w1;
  *inv_div = 1.0f / (float)(p->count_include_pad ? padded : (h1 - h0) * (w1 - w0));
}

void pb_avgpool_fwd_cpu(float *y, const float *x, const pb_pool_params *p) {
  if (p->nhwc) {
    pb_avgpool_nhwc_fwd(y, x, p);
    return;
  }
  const long planes = (long)p->n * p->c;
  const size_t hw_in = (size_t)p->h_in * p->w_in, hw_out = (size_t)p->h_out * p->w_out;
#pragma omp parallel for schedule(static) if (planes * (long)hw_out >= PB_POOL_PAR_MIN)
  for (long pl = 0; pl < planes; pl++) {
    const float *xp = x + (size_t)pl * hw_in;
    float *yp = y + (size_t)pl * hw_out;
    for (int oh = 0; oh < p->h_out; oh++)
      for (int ow = 0; ow < p->w_out; ow++) {
        int hs, he, ws, we;
        float inv;
        pb_avg_window(&hs, &he, &ws, &we, &inv, oh, ow, p);
        float acc = 0.0f;
        for (int ih = hs; ih < he; ih++)
          for (int iw = ws; iw < we; iw++) acc += xp[ih * p->w_in + iw];
        yp[oh * p->w_out + ow] = acc * inv;
      }
  }
}

void pb_avgpool_bwd_cpu(float *dx, const float *dy, const pb_pool_params *p) {
  if (p->nhwc) {
    pb_avgpool_nhwc_bwd(dx, dy, p);
    return;
  }
  const long planes = (long)p->n * p->c;
  const size_t hw_in = (size_t)p->h_in * p->w_in, hw_out = (size_t)p->h_out * p->w_out;
#pragma omp parallel for schedule(static) if (planes * (long)hw_in >= PB_POOL_PAR_MIN)
  for (long pl = 0; pl < planes; pl++) {
    float *dxp = dx + (size_t)pl * hw_in;
    const float *dyp = dy + (size_t)pl * hw_out;
    memset(dxp, 0, sizeof(float) * hw_in);
    for (int oh = 0; oh < p->h_out; oh++)
      for (int ow = 0; ow < p->w_out; ow++) {
        int hs, he, ws, we;
        float inv;
        pb_avg_window(&hs, &he, &ws, &we, &inv, oh, ow, p);
        const float g = dyp[oh * p->w_out + ow] * inv;
        for (int ih = hs; ih < he; ih++)
          for (int iw = ws; iw < we; iw++) dxp[ih * p->w_in + iw] += g;
      }
  }
}

void pb_gap_fwd_cpu(float *y, const float *x, int n, int c, int hw) {
  const long planes = (long)n * c;
  const double inv = 1.0 / (double)hw;
#pragma omp parallel for schedule(static) if (planes * (long)hw >= PB_POOL_PAR_MIN)
  for (long pl = 0; pl < planes; pl++) {
    const float *xp = x + (size_t)pl * hw;
    double acc = 0.0; /* in double: hw can be large (a 56x56 map) */
    for (int j = 0; j < hw; j++) acc += xp[j];
    y[pl] = (float)(acc * inv);
  }
}

void pb_gap_bwd_cpu(float *dx, const float *dy, int n, int c, int hw) {
  const long planes = (long)n * c;
  const float inv = 1.0f / (float)hw;
#pragma omp parallel for schedule(static) if (planes * (long)hw >= PB_POOL_PAR_MIN)
  for (long pl = 0; pl < planes; pl++) {
    float *dxp = dx + (size_t)pl * hw;
    const float g = dy[pl] * inv;
    for (int j = 0; j < hw; j++) dxp[j] = g;
  }
}

/* ---- channels last (p->nhwc): x [n, h_in, w_in, c], y / argmax [n, h_out, w_out, c]. Every output
 * element scans its window in the NCHW op's order with its rules, and every input element of a
 * backward receives its terms in the NCHW op's order: bitwise the NCHW ops on permuted tensors.
 * Threads split output rows (forward) or samples (backward). */

static void pb_maxpool_nhwc_fwd(float *y, int32_t *argmax, const float *x, const pb_pool_params *p) {
  const int c = p->c;
  const long rows = (long)p->n * p->h_out;
#pragma omp parallel for schedule(static) if (rows * (long)p->w_out * c >= PB_POOL_PAR_MIN)
  for (long r = 0; r < rows; r++) {
    const int i = (int)(r / p->h_out), oh = (int)(r % p->h_out);
    const float *xi = x + (size_t)i * p->h_in * p->w_in * c;
    const int h0 = oh * p->stride_h - p->pad_h;
    const int hs = h0 < 0 ? 0 : h0, he = pb_pool_min(h0 + p->kh, p->h_in);
    for (int ow = 0; ow < p->w_out; ow++) {
      const int w0 = ow * p->stride_w - p->pad_w;
      const int ws = w0 < 0 ? 0 : w0, we = pb_pool_min(w0 + p->kw, p->w_in);
      const size_t o = ((size_t)r * p->w_out + ow) * c;
      for (int ch = 0; ch < c; ch++) {
        int32_t best_i = hs * p->w_in + ws;
        float best = -INFINITY;
        for (int ih = hs; ih < he; ih++)
          for (int iw = ws; iw < we; iw++) {
            const float v = xi[((size_t)ih * p->w_in + iw) * c + ch];
            if (v > best || isnan(v)) {
              best = v;
              best_i = ih * p->w_in + iw;
            }
          }
        y[o + ch] = best;
        if (argmax) argmax[o + ch] = best_i;
      }
    }
  }
}

static void pb_maxpool_nhwc_bwd(float *dx, const float *dy, const int32_t *argmax, const pb_pool_params *p) {
  const int c = p->c;
  const size_t in = (size_t)p->h_in * p->w_in * c, out = (size_t)p->h_out * p->w_out * c;
#pragma omp parallel for schedule(static) if ((long)p->n * (long)in >= PB_POOL_PAR_MIN)
  for (int i = 0; i < p->n; i++) {
    float *dxi = dx + (size_t)i * in;
    const float *dyi = dy + (size_t)i * out;
    const int32_t *ai = argmax + (size_t)i * out;
    memset(dxi, 0, sizeof(float) * in);
    for (size_t j = 0; j < out; j += (size_t)c)
      for (int ch = 0; ch < c; ch++) dxi[(size_t)ai[j + ch] * c + ch] += dyi[j + ch];
  }
}

static void pb_avgpool_nhwc_fwd(float *y, const float *x, const pb_pool_params *p) {
  const int c = p->c;
  const long rows = (long)p->n * p->h_out;
#pragma omp parallel for schedule(static) if (rows * (long)p->w_out * c >= PB_POOL_PAR_MIN)
  for (long r = 0; r < rows; r++) {
    const int i = (int)(r / p->h_out), oh = (int)(r % p->h_out);
    const float *xi = x + (size_t)i * p->h_in * p->w_in * c;
    for (int ow = 0; ow < p->w_out; ow++) {
      int hs, he, ws, we;
      float inv;
      pb_avg_window(&hs, &he, &ws, &we, &inv, oh, ow, p);
      const size_t o = ((size_t)r * p->w_out + ow) * c;
      for (int ch = 0; ch < c; ch++) {
        float acc = 0.0f;
        for (int ih = hs; ih < he; ih++)
          for (int iw = ws; iw < we; iw++) acc += xi[((size_t)ih * p->w_in + iw) * c + ch];
        y[o + ch] = acc * inv;
      }
    }
  }
}

static void pb_avgpool_nhwc_bwd(float *dx, const float *dy, const pb_pool_params *p) {
  const int c = p->c;
  const size_t in = (size_t)p->h_in * p->w_in * c, out = (size_t)p->h_out * p->w_out * c;
#pragma omp parallel for schedule(static) if ((long)p->n * (long)in >= PB_POOL_PAR_MIN)
  for (int i = 0; i < p->n; i++) {
    float *dxi = dx + (size_t)i * in;
    const float *dyi = dy + (size_t)i * out;
    memset(dxi, 0, sizeof(float) * in);
    for (int oh = 0; oh < p->h_out; oh++)
      for (int ow = 0; ow < p->w_out; ow++) {
        int hs, he, ws, we;
        float inv;
        pb_avg_window(&hs, &he, &ws, &we, &inv, oh, ow, p);
        const float *g = dyi + ((size_t)oh * p->w_out + ow) * c;
        for (int ih = hs; ih < he; ih++)
          for (int iw = ws; iw < we; iw++) {
            float *d = dxi + ((size_t)ih * p->w_in + iw) * c;
            for (int ch = 0; ch < c; ch++) d[ch] += g[ch] * inv;
          }
      }
  }
}

void pb_gap_nhwc_fwd_cpu(float *y, const float *x, int n, int c, int hw) {
  enum { BLOCK = 64 }; /* channels summed together in one pass over the pixels */
  const double inv = 1.0 / (double)hw;
#pragma omp parallel for schedule(static) if ((long)n * c * (long)hw >= PB_POOL_PAR_MIN)
  for (int i = 0; i < n; i++)
    for (int c0 = 0; c0 < c; c0 += BLOCK) {
      const int c1 = pb_pool_min(c0 + BLOCK, c);
      double acc[BLOCK] = {0};
      for (int j = 0; j < hw; j++) {
        const float *xr = x + ((size_t)i * hw + j) * c;
        for (int ch = c0; ch < c1; ch++) acc[ch - c0] += xr[ch];
      }
      for (int ch = c0; ch < c1; ch++) y[(size_t)i * c + ch] = (float)(acc[ch - c0] * inv);
    }
}

void pb_gap_nhwc_bwd_cpu(float *dx, const float *dy, int n, int c, int hw) {
  const float inv = 1.0f / (float)hw;
#pragma omp parallel for schedule(static) if ((long)n * c * (long)hw >= PB_POOL_PAR_MIN)
  for (int i = 0; i < n; i++)
    for (int j = 0; j < hw; j++) {
      float *d = dx + ((size_t)i * hw + j) * c;
      for (int ch = 0; ch < c; ch++) d[ch] = dy[(size_t)i * c + ch] * inv;
    }
}
