/* conv_nhwc.h: private to kernels/cpu/. The channels-last convolution (conv_nhwc.c) that
 * pb_conv2d_*_cpu (conv.c) run when params.nhwc = 1; contracts as theirs in ops.h. */
#ifndef PB_CONV_NHWC_H
#define PB_CONV_NHWC_H

#include "kernels/ops.h"

/* Floats of one thread's column matrix [HWo, c_in*kh*kw]; 0 for a 1x1 / stride 1 / unpadded
 * convolution (x itself is the matrix). */
static inline size_t pb_conv_nhwc_col_floats(const pb_conv2d_params *p) {
  if (p->kh == 1 && p->kw == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_h == 0 && p->pad_w == 0) return 0;
  return (size_t)p->c_in * p->kh * p->kw * (size_t)p->h_out * p->w_out;
}
static inline size_t pb_conv_nhwc_w_floats(const pb_conv2d_params *p) {
  return (size_t)p->c_out * (p->c_in / p->groups) * p->kh * p->kw;
}
/* Scratch floats for nthreads: [T x col] [T x (wsize + c_out)] [wsize]. */
static inline size_t pb_conv_nhwc_scratch(const pb_conv2d_params *p, int nthreads) {
  if (nthreads < 1) nthreads = 1;
  return (size_t)nthreads * (pb_conv_nhwc_col_floats(p) + pb_conv_nhwc_w_floats(p) + (size_t)p->c_out) +
         pb_conv_nhwc_w_floats(p);
}

void pb_conv2d_nhwc_fwd_cpu(float *y, const float *x, const float *w, const float *bias, const pb_conv2d_params *p,
                            const pb_scratch *s);
void pb_conv2d_nhwc_bwd_data_cpu(float *dx, const float *dy, const float *w, const pb_conv2d_params *p,
                                 const pb_scratch *s);
void pb_conv2d_nhwc_bwd_filter_cpu(float *dw, float *dbias, const float *dy, const float *x,
                                   const pb_conv2d_params *p, const pb_scratch *s);

#endif
