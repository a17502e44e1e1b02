/* conv_nhwc.c: the CPU 2-D convolution on channels-last tensors (ops.h: pb_conv2d_params.nhwc = 1),
 * reached through pb_conv2d_*_cpu (conv.c). Same semantics as the NCHW op (PyTorch Conv2d: stride,
 * zero padding, dilation, groups, optional bias); the weight stays PyTorch's [c_out, c_in/G, kh, kw].
 *
 * Method: per sample, im2col unrolls x [h_in, w_in, c_in] into col[HWo, G*K] (row j = output pixel;
 * group g owns columns [g*K, (g+1)*K) in (ki, kj, ci) order, K = c_in/G*kh*kw), the layout in which
 * one output pixel's receptive field is c_in-contiguous runs of x. The weight is first transposed to
 * wk[c_out, kh, kw, c_in/G] (KRSC, as cuDNN's NHWC filters), so each group is one GEMM:
 *   fwd:         y_g[HWo, c_out/G]  = col_g[HWo, K] wk_g^T          (y rows c_out apart)
 *   bwd data:    col_g[HWo, K]      = dy_g[HWo, c_out/G] wk_g, then col2im adds col back into dx
 *   bwd filter:  dwk_g[c_out/G, K] += dy_g^T col_g, transposed back and added into dw at the end
 * A 1x1 / stride 1 / no padding convolution needs no im2col: x [HW, c_in] itself is col.
 *
 * Threads as conv.c: forward and backward data split the batch (bitwise independent of the thread
 * count); backward filter gives chunk t of a fixed split by nthreads its own partials, summed in
 * chunk order. Scratch (conv.c's pb_conv2d_scratch_cpu) for T = nthreads:
 *   [T x col] [T x (wsize + c_out)] [wsize: wk]. */
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/cpu/conv_nhwc.h"

static int pb_nhwc_thread(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/* wk[co][ki][kj][ci] = w[co][ci][ki][kj] (ci within the group). */
static void pb_nhwc_w_to_krsc(float *restrict wk, const float *restrict w, const pb_conv2d_params *p) {
  const int cig = p->c_in / p->groups, rs = p->kh * p->kw;
  for (int co = 0; co < p->c_out; co++) {
    const float *src = w + (size_t)co * cig * rs;
    float *dst = wk + (size_t)co * cig * rs;
    for (int ci = 0; ci < cig; ci++)
      for (int k = 0; k < rs; k++) dst[(size_t)k * cig + ci] = src[(size_t)ci * rs + k];
  }
}

/* col[j][g*K + (ki*kw + kj)*cig + ci] = x[ih][iw][g*cig + ci], ih = oh*sh + ki*dh - ph (iw alike), zero
 * outside x. */
static void pb_nhwc_im2col(float *restrict col, const float *restrict x, const pb_conv2d_params *p) {
  const int G = p->groups, cig = p->c_in / G, rs = p->kh * p->kw, K = cig * rs;
  const size_t row = (size_t)G * K;
  for (int oh = 0; oh < p->h_out; oh++)
    for (int ow = 0; ow < p->w_out; ow++) {
      float *cr = col + ((size_t)oh * p->w_out + ow) * row;
      for (int ki = 0; ki < p->kh; ki++) {
        const int ih = oh * p->stride_h + ki * p->dil_h - p->pad_h;
        for (int kj = 0; kj < p->kw; kj++) {
          const int iw = ow * p->stride_w + kj * p->dil_w - p->pad_w;
          const int k = ki * p->kw + kj;
          const int inside = ih >= 0 && ih < p->h_in && iw >= 0 && iw < p->w_in;
          const float *xp = inside ? x + ((size_t)ih * p->w_in + iw) * p->c_in : NULL;
          for (int g = 0; g < G; g++) {
            float *dst = cr + (size_t)g * K + (size_t)k * cig;
            if (inside)
              memcpy(dst, xp + (size_t)g * cig, sizeof(float) * (size_t)cig);
            else
              memset(dst, 0, sizeof(float) * (size_t)cig);
          }
        }
      }
    }
}

/* The adjoint of pb_nhwc_im2col: dx[ih][iw][...] += col[j][...]; dx zeroed by the caller. Fixed
 * order (pixel j, then ki, kj): deterministic. */
static void pb_nhwc_col2im(float *restrict dx, const float *restrict col, const pb_conv2d_params *p) {
  const int G = p->groups, cig = p->c_in / G, rs = p->kh * p->kw, K = cig * rs;
  const size_t row = (size_t)G * K;
  for (int oh = 0; oh < p->h_out; oh++)
    for (int ow = 0; ow < p->w_out; ow++) {
      const float *cr = col + ((size_t)oh * p->w_out + ow) * row;
      for (int ki = 0; ki < p->kh; ki++) {
        const int ih = oh * p->stride_h + ki * p->dil_h - p->pad_h;
        if (ih < 0 || ih >= p->h_in) continue;
        for (int kj = 0; kj < p->kw; kj++) {
          const int iw = ow * p->stride_w + kj * p->dil_w - p->pad_w;
          if (iw < 0 || iw >= p->w_in) continue;
          const int k = ki * p->kw + kj;
          float *dp = dx + ((size_t)ih * p->w_in + iw) * p->c_in;
          for (int g = 0; g < G; g++) {
            const float *src = cr + (size_t)g * K + (size_t)k * cig;
            float *d = dp + (size_t)g * cig;
            for (int ci = 0; ci < cig; ci++) d[ci] += src[ci];
          }
        }
      }
    }
}

void pb_conv2d_nhwc_fwd_cpu(float *y, const float *x, const float *w, const float *bias, const pb_conv2d_params *p,
                            const pb_scratch *s) {
  const int nt = s->nthreads < 1 ? 1 : s->nthreads;
  const int G = p->groups, cog = p->c_out / G, K = p->c_in / G * p->kh * p->kw;
  const int hwo = p->h_out * p->w_out;
  const size_t x_stride = (size_t)p->h_in * p->w_in * p->c_in, y_stride = (size_t)hwo * p->c_out;
  const size_t col_floats = pb_conv_nhwc_col_floats(p), wsize = pb_conv_nhwc_w_floats(p);
  const int pointwise = col_floats == 0;
  float *wk = s->buf + (size_t)nt * (col_floats + wsize + (size_t)p->c_out);
  pb_nhwc_w_to_krsc(wk, w, p);
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int i = 0; i < p->n; i++) {
    const float *xi = x + (size_t)i * x_stride;
    float *yi = y + (size_t)i * y_stride;
    const float *col = xi;
    if (!pointwise) {
      float *mine = s->buf + (size_t)pb_nhwc_thread() * col_floats;
      pb_nhwc_im2col(mine, xi, p);
      col = mine;
    }
    for (int g = 0; g < G; g++)
      pb_sgemm_cpu(0, 1, hwo, cog, K, 1.0f, col + (size_t)g * K, G * K, wk + (size_t)g * cog * K, K, 0.0f,
                   yi + (size_t)g * cog, p->c_out);
    if (bias)
      for (int j = 0; j < hwo; j++) {
        float *yr = yi + (size_t)j * p->c_out;
        for (int co = 0; co < p->c_out; co++) yr[co] += bias[co];
      }
  }
}

void pb_conv2d_nhwc_bwd_data_cpu(float *dx, const float *dy, const float *w, const pb_conv2d_params *p,
                                 const pb_scratch *s) {
  const int nt = s->nthreads < 1 ? 1 : s->nthreads;
  const int G = p->groups, cog = p->c_out / G, K = p->c_in / G * p->kh * p->kw;
  const int hwo = p->h_out * p->w_out;
  const size_t x_stride = (size_t)p->h_in * p->w_in * p->c_in, y_stride = (size_t)hwo * p->c_out;
  const size_t col_floats = pb_conv_nhwc_col_floats(p), wsize = pb_conv_nhwc_w_floats(p);
  const int pointwise = col_floats == 0;
  float *wk = s->buf + (size_t)nt * (col_floats + wsize + (size_t)p->c_out);
  pb_nhwc_w_to_krsc(wk, w, p);
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int i = 0; i < p->n; i++) {
    float *dxi = dx + (size_t)i * x_stride;
    const float *dyi = dy + (size_t)i * y_stride;
    /* pointwise: dx [HW, c_in] is the column matrix, written by the GEMMs directly */
    float *col = pointwise ? dxi : s->buf + (size_t)pb_nhwc_thread() * col_floats;
    for (int g = 0; g < G; g++)
      pb_sgemm_cpu(0, 0, hwo, K, cog, 1.0f, dyi + (size_t)g * cog, p->c_out, wk + (size_t)g * cog * K, K, 0.0f,
                   col + (size_t)g * K, G * K);
    if (!pointwise) {
      memset(dxi, 0, sizeof(float) * x_stride);
      pb_nhwc_col2im(dxi, col, p);
    }
  }
}

void pb_conv2d_nhwc_bwd_filter_cpu(float *dw, float *dbias, const float *dy, const float *x,
                                   const pb_conv2d_params *p, const pb_scratch *s) {
  const int nt = s->nthreads < 1 ? 1 : s->nthreads;
  const int G = p->groups, cog = p->c_out / G, cig = p->c_in / G, rs = p->kh * p->kw, K = cig * rs;
  const int hwo = p->h_out * p->w_out;
  const size_t x_stride = (size_t)p->h_in * p->w_in * p->c_in, y_stride = (size_t)hwo * p->c_out;
  const size_t col_floats = pb_conv_nhwc_col_floats(p), wsize = pb_conv_nhwc_w_floats(p);
  const int pointwise = col_floats == 0;
  const size_t part_floats = wsize + (size_t)p->c_out; /* dwk partial, then dbias partial */
  float *parts = s->buf + (size_t)nt * col_floats;
#pragma omp parallel num_threads(nt)
  {
#pragma omp for schedule(static)
    for (int t = 0; t < nt; t++) {
      float *pw = parts + (size_t)t * part_floats, *pb = pw + wsize;
      memset(pw, 0, sizeof(float) * part_floats);
      const int i0 = (int)((long)p->n * t / nt), i1 = (int)((long)p->n * (t + 1) / nt);
      float *mine = s->buf + (size_t)t * col_floats;
      for (int i = i0; i < i1; i++) {
        const float *xi = x + (size_t)i * x_stride, *dyi = dy + (size_t)i * y_stride;
        const float *col = xi;
        if (!pointwise) {
          pb_nhwc_im2col(mine, xi, p);
          col = mine;
        }
        for (int g = 0; g < G; g++)
          pb_sgemm_cpu(1, 0, cog, K, hwo, 1.0f, dyi + (size_t)g * cog, p->c_out, col + (size_t)g * K, G * K, 1.0f,
                       pw + (size_t)g * cog * K, K);
        if (dbias)
          for (int j = 0; j < hwo; j++) {
            const float *r = dyi + (size_t)j * p->c_out;
            for (int co = 0; co < p->c_out; co++) pb[co] += r[co];
          }
      }
    }
    /* implicit barrier; each element sums the partials in chunk order, then goes back to KCRS */
#pragma omp for schedule(static)
    for (int co = 0; co < p->c_out; co++)
      for (int k = 0; k < rs; k++)
        for (int ci = 0; ci < cig; ci++) {
          const size_t j = ((size_t)co * rs + k) * cig + ci;
          float acc = parts[j];
          for (int t = 1; t < nt; t++) acc += parts[(size_t)t * part_floats + j];
          dw[((size_t)co * cig + ci) * rs + k] += acc;
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
