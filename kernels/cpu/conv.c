/* conv.c: CPU 2-D convolution (forward, backward data, backward filter) with PyTorch Conv2d
 * semantics: stride, zero padding, dilation, groups, optional bias. Its CUDA twin will be
 * kernels/cuda/conv.cu (cuDNN).
 *
 * Method: per sample, im2col unrolls x into col[c_in*kh*kw, h_out*w_out] (group g owns rows
 * [g*K, (g+1)*K), K = c_in/groups*kh*kw), and each group is one GEMM:
 *   fwd:         y_g[c_out/G, HWo]  = w_g[c_out/G, K] col_g[K, HWo]
 *   bwd data:    col_g[K, HWo]      = w_g^T dy_g, then col2im adds col back into dx
 *   bwd filter:  dw_g[c_out/G, K]  += dy_g col_g^T
 * A 1x1 / stride 1 / no padding convolution needs no im2col: x itself is col.
 *
 * Threads split the batch; each uses its own slice of the scratch. Forward and backward data
 * compute every sample the same way whatever the thread count, so they are bitwise
 * independent of it. Backward filter gives chunk t of the batch (a fixed split by nthreads) its
 * own dw/dbias partial, and sums the partials in chunk order: deterministic for a given
 * nthreads. Scratch layout for T = nthreads: [T x col] [T x (wsize + c_out)].
 * Channels-last params (nhwc = 1) go to conv_nhwc.c. */
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/cpu/conv_nhwc.h"
#include "kernels/ops.h"

static int pb_conv_thread(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/* 1x1, stride 1, no padding: x [c_in, h*w] already is the im2col matrix (dilation is moot). */
static int pb_conv_pointwise(const pb_conv2d_params *p) {
  return p->kh == 1 && p->kw == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_h == 0 &&
         p->pad_w == 0;
}

static size_t pb_conv_col_floats(const pb_conv2d_params *p) {
  if (pb_conv_pointwise(p)) return 0;
  return (size_t)p->c_in * p->kh * p->kw * (size_t)p->h_out * p->w_out;
}

static size_t pb_conv_w_floats(const pb_conv2d_params *p) {
  return (size_t)p->c_out * (p->c_in / p->groups) * p->kh * p->kw;
}

static int pb_conv_ceil_div(int a, int b) { return a <= 0 ? -((-a) / b) : (a + b - 1) / b; }

int pb_conv2d_params_finish(pb_conv2d_params *p) {
  if (p->n <= 0 || p->c_in <= 0 || p->c_out <= 0 || p->h_in <= 0 || p->w_in <= 0 || p->kh <= 0 ||
      p->kw <= 0 || p->stride_h <= 0 || p->stride_w <= 0 || p->pad_h < 0 || p->pad_w < 0 ||
      p->dil_h <= 0 || p->dil_w <= 0 || p->groups <= 0)
    return -1;
  if (p->c_in % p->groups != 0 || p->c_out % p->groups != 0) return -1;
  const long span_h = (long)p->h_in + 2L * p->pad_h - (long)p->dil_h * (p->kh - 1) - 1;
  const long span_w = (long)p->w_in + 2L * p->pad_w - (long)p->dil_w * (p->kw - 1) - 1;
  if (span_h < 0 || span_w < 0) return -1;
  p->h_out = (int)(span_h / p->stride_h + 1);
  p->w_out = (int)(span_w / p->stride_w + 1);
  return 0;
}

size_t pb_conv2d_scratch_cpu(const pb_conv2d_params *p, int nthreads) {
  if (p->nhwc) return pb_conv_nhwc_scratch(p, nthreads);
  if (nthreads < 1) nthreads = 1;
  return (size_t)nthreads * (pb_conv_col_floats(p) + pb_conv_w_floats(p) + (size_t)p->c_out);
}

/* Output columns ow whose input column iw = ow*stride + off lies in [0, w_in): [*lo, *hi). */
static void pb_conv_valid_range(int *lo, int *hi, int off, int stride, int w_in, int w_out) {
  int a = off >= 0 ? 0 : pb_conv_ceil_div(-off, stride);
  int b = pb_conv_ceil_div(w_in - off, stride);
  if (b > w_out) b = w_out;
  if (a > w_out) a = w_out;
  if (b < a) b = a;
  *lo = a;
  *hi = b;
}

/* col[(c*kh + ki)*kw + kj][oh*w_out + ow] = x[c][oh*sh + ki*dh - ph][ow*sw + kj*dw - pw], zero
 * outside x. The valid ow range is computed once per kernel column, so the inner loops are
 * plain copies (contiguous when stride_w == 1). */
static void pb_im2col(float *restrict col, const float *restrict x, const pb_conv2d_params *p) {
  const int h_in = p->h_in, w_in = p->w_in, h_out = p->h_out, w_out = p->w_out;
  const int sh = p->stride_h, sw = p->stride_w;
  const size_t hw_out = (size_t)h_out * w_out, hw_in = (size_t)h_in * w_in;
  for (int c = 0; c < p->c_in; c++) {
    const float *xc = x + (size_t)c * hw_in;
    for (int ki = 0; ki < p->kh; ki++) {
      const int off_h = ki * p->dil_h - p->pad_h;
      for (int kj = 0; kj < p->kw; kj++) {
        const int off_w = kj * p->dil_w - p->pad_w;
        int lo, hi;
        pb_conv_valid_range(&lo, &hi, off_w, sw, w_in, w_out);
        float *dst = col + ((size_t)(c * p->kh + ki) * p->kw + kj) * hw_out;
        for (int oh = 0; oh < h_out; oh++) {
          float *row = dst + (size_t)oh * w_out;
          const int ih = oh * sh + off_h;
          if (ih < 0 || ih >= h_in) {
            memset(row, 0, sizeof(float) * (size_t)w_out);
            continue;
          }
          const float *xr = xc + (size_t)ih * w_in + off_w; /* xr[ow*sw] = x[ih][iw] */
          for (int ow = 0; ow < lo; ow++) row[ow] = 0.0f;
          if (sw == 1)
            for (int ow = lo; ow < hi; ow++) row[ow] = xr[ow];
          else
            for (int ow = lo; ow < hi; ow++) row[ow] = xr[(size_t)ow * sw];
          for (int ow = hi; ow < w_out; ow++) row[ow] = 0.0f;
        }
      }
    }
  }
}

/* The adjoint of pb_im2col: dx[c][ih][iw] += col[...] for every col entry that came from x.
 * dx must be zeroed by the caller. Fixed loop order, so the sums are deterministic. */
static void pb_col2im(float *restrict dx, const float *restrict col, const pb_conv2d_params *p) {
  const int h_in = p->h_in, w_in = p->w_in, h_out = p->h_out, w_out = p->w_out;
  const int sh = p->stride_h, sw = p->stride_w;
  const size_t hw_out = (size_t)h_out * w_out, hw_in = (size_t)h_in * w_in;
  for (int c = 0; c < p->c_in; c++) {
    float *dxc = dx + (size_t)c * hw_in;
    for (int ki = 0; ki < p->kh; ki++) {
      const int off_h = ki * p->dil_h - p->pad_h;
      for (int kj = 0; kj < p->kw; kj++) {
        const int off_w = kj * p->dil_w - p->pad_w;
        int lo, hi;
        pb_conv_valid_range(&lo, &hi, off_w, sw, w_in, w_out);
        const float *src = col + ((size_t)(c * p->kh + ki) * p->kw + kj) * hw_out;
        for (int oh = 0; oh < h_out; oh++) {
          const int ih = oh * sh + off_h;
          if (ih < 0 || ih >= h_in) continue;
          const float *row = src + (size_t)oh * w_out;
          float *dr = dxc + (size_t)ih * w_in + off_w;
          if (sw == 1)
            for (int ow = lo; ow < hi; ow++) dr[ow] += row[ow];
          else
            for (int ow = lo; ow < hi; ow++) dr[(size_t)ow * sw] += row[ow];
        }
      }
    }
  }
}

/* Sum of r[0..n) in 8 interleaved lanes, combined in a fixed order: vectorisable (a single
 * running sum is a serial dependency chain gcc may not reorder) and still deterministic. */
static float pb_conv_row_sum(const float *restrict r, int n) {
  float lane[8] = {0};
  int j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; l++) lane[l] += r[j + l];
  for (; j < n; j++) lane[j & 7] += r[j];
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

void pb_conv2d_fwd_cpu(float *y, const float *x, const float *w, const float *bias,
                       const pb_conv2d_params *p, const pb_scratch *s) {
  if (p->nhwc) {
    pb_conv2d_nhwc_fwd_cpu(y, x, w, bias, p, s);
    return;
  }
  const int nt = s->nthreads < 1 ? 1 : s->nthreads;
  const int G = p->groups, cog = p->c_out / G;
  const int K = p->c_in / G * p->kh * p->kw;
  const int hwo = p->h_out * p->w_out;
  const size_t x_stride = (size_t)p->c_in * p->h_in * p->w_in;
  const size_t y_stride = (size_t)p->c_out * hwo;
  const size_t col_floats = pb_conv_col_floats(p);
  const int pointwise = col_floats == 0;
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int i = 0; i < p->n; i++) {
    const float *xi = x + (size_t)i * x_stride;
    float *yi = y + (size_t)i * y_stride;
    const float *col = xi;
    if (!pointwise) {
      float *mine = s->buf + (size_t)pb_conv_thread() * col_floats;
      pb_im2col(mine, xi, p);
      col = mine;
    }
    for (int g = 0; g < G; g++)
      pb_sgemm_cpu(0, 0, cog, hwo, K, 1.0f, w + (size_t)g * cog * K, K,
                   col + (size_t)g * K * hwo, hwo, 0.0f, yi + (size_t)g * cog * hwo, hwo);
    if (bias)
      for (int co = 0; co < p->c_out; co++) {
        float *yr = yi + (size_t)co * hwo;
        const float b = bias[co];
        for (int j = 0; j < hwo; j++) yr[j] += b;
      }
  }
}

void pb_conv2d_bwd_data_cpu(float *dx, const float *dy, const float *w, const pb_conv2d_params *p,
                            const pb_scratch *s) {
  if (p->nhwc) {
    pb_conv2d_nhwc_bwd_data_cpu(dx, dy, w, p, s);
    return;
  }
  const int nt = s->nthreads < 1 ? 1 : s->nthreads;
  const int G = p->groups, cog = p->c_out / G;
  const int K = p->c_in / G * p->kh * p->kw;
  const int hwo = p->h_out * p->w_out;
  const size_t x_stride = (size_t)p->c_in * p->h_in * p->w_in;
  const size_t y_stride = (size_t)p->c_out * hwo;
  const size_t col_floats = pb_conv_col_floats(p);
  const int pointwise = col_floats == 0;
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int i = 0; i < p->n; i++) {
    float *dxi = dx + (size_t)i * x_stride;
    const float *dyi = dy + (size_t)i * y_stride;
    /* Pointwise: dx_g [K = c_in/G, HW] is written by the GEMM directly. */
    float *col = pointwise ? dxi : s->buf + (size_t)pb_conv_thread() * col_floats;
    for (int g = 0; g < G; g++)
      pb_sgemm_cpu(1, 0, K, hwo, cog, 1.0f, w + (size_t)g * cog * K, K,
                   dyi + (size_t)g * cog * hwo, hwo, 0.0f, col + (size_t)g * K * hwo, hwo);
    if (!pointwise) {
      memset(dxi, 0, sizeof(float) * x_stride);
      pb_col2im(dxi, col, p);
    }
  }
}

void pb_conv2d_bwd_filter_cpu(float *dw, float *dbias, const float *dy, const float *x,
                              const pb_conv2d_params *p, const pb_scratch *s) {
  if (p->nhwc) {
    pb_conv2d_nhwc_bwd_filter_cpu(dw, dbias, dy, x, p, s);
    return;
  }
  const int nt = s->nthreads < 1 ? 1 : s->nthreads;
  const int G = p->groups, cog = p->c_out / G;
  const int K = p->c_in / G * p->kh * p->kw;
  const int hwo = p->h_out * p->w_out;
  const size_t x_stride = (size_t)p->c_in * p->h_in * p->w_in;
  const size_t y_stride = (size_t)p->c_out * hwo;
  const size_t col_floats = pb_conv_col_floats(p);
  const int pointwise = col_floats == 0;
  const size_t wsize = pb_conv_w_floats(p);
  const size_t part_floats = wsize + (size_t)p->c_out; /* dw partial, then dbias partial */
  float *parts = s->buf + (size_t)nt * col_floats;
#pragma omp parallel num_threads(nt)
  {
    /* Chunk t of the batch (fixed by nt, not by how many threads the runtime granted). */
#pragma omp for schedule(static)
    for (int t = 0; t < nt; t++) {
      float *pw = parts + (size_t)t * part_floats, *pb = pw + wsize;
      memset(pw, 0, sizeof(float) * part_floats);
      const int i0 = (int)((long)p->n * t / nt), i1 = (int)((long)p->n * (t + 1) / nt);
      float *mine = s->buf + (size_t)t * col_floats;
      for (int i = i0; i < i1; i++) {
        const float *xi = x + (size_t)i * x_stride;
        const float *dyi = dy + (size_t)i * y_stride;
        const float *col = xi;
        if (!pointwise) {
          pb_im2col(mine, xi, p);
          col = mine;
        }
        for (int g = 0; g < G; g++)
          pb_sgemm_cpu(0, 1, cog, K, hwo, 1.0f, dyi + (size_t)g * cog * hwo, hwo,
                       col + (size_t)g * K * hwo, hwo, 1.0f, pw + (size_t)g * cog * K, K);
        if (dbias)
          for (int co = 0; co < p->c_out; co++)
            pb[co] += pb_conv_row_sum(dyi + (size_t)co * hwo, hwo);
      }
    }
    /* Implicit barrier above; each element sums the partials in chunk order. */
#pragma omp for schedule(static)
    for (size_t j = 0; j < wsize; j++) {
      float acc = parts[j];
      for (int t = 1; t < nt; t++) acc += parts[(size_t)t * part_floats + j];
      dw[j] += acc;
    }
    if (dbias) {
#pragma omp for schedule(static)
      for (int co = 0; co < p->c_out; co++) {
        float acc = parts[wsize + co];
        for (int t = 1; t < nt; t++) acc += parts[(size_t)t * part_floats + wsize + co];
        dbias[co] += acc;
      }
    }
  }
}
