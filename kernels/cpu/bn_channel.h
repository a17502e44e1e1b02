/* bn_channel.h: private to kernels/cpu/. The per-channel loops batch norm's CPU references share
 * (batchnorm.c, bn_sync.c), so that synchronised batch norm with one rank computes exactly the
 * expressions of the plain one. x, y, dy, dx are [n, c, hw]; each function walks channel ch. */
#ifndef PB_BN_CHANNEL_H
#define PB_BN_CHANNEL_H

#include "kernels/ops.h"

/* y = (x - mean) * alpha + beta over channel ch. Not folded into x * alpha + shift: with a large
 * invstd (near-constant channel) that form cancels and loses the digits of y. */
static inline void pb_bn_channel_affine(float *y, const float *x, float mean, float alpha, float beta,
                                        const pb_bn_params *p, int ch) {
  const size_t hw = (size_t)p->hw, cstride = (size_t)p->c * hw;
  for (int in = 0; in < p->n; in++) {
    const size_t off = (size_t)in * cstride + (size_t)ch * hw;
    const float *xp = x + off;
    float *yp = y + off;
    for (size_t i = 0; i < hw; i++) yp[i] = (xp[i] - mean) * alpha + beta;
  }
}

/* The backward's sums over channel ch, in double in index order: sum dy and sum dy * xhat,
 * xhat = (x - mean) * invstd. */
static inline void pb_bn_channel_bwd_sums(double *sum_dy, double *sum_dy_xhat, const float *dy, const float *x,
                                          double mean, double invstd, const pb_bn_params *p, int ch) {
  const size_t hw = (size_t)p->hw, cstride = (size_t)p->c * hw;
  double s = 0.0, sx = 0.0;
  for (int in = 0; in < p->n; in++) {
    const size_t off = (size_t)in * cstride + (size_t)ch * hw;
    const float *xp = x + off, *dyp = dy + off;
    for (size_t i = 0; i < hw; i++) {
      s += dyp[i];
      sx += (double)dyp[i] * (((double)xp[i] - mean) * invstd);
    }
  }
  *sum_dy = s, *sum_dy_xhat = sx;
}

/* dx = k * (dy - mean_dy - xhat * mean_dy_xhat) over channel ch (k = gamma * invstd; the means
 * over the count the statistics were taken on). dx may alias dy. */
static inline void pb_bn_channel_dx(float *dx, const float *dy, const float *x, double k, double mean, double invstd,
                                    double mean_dy, double mean_dy_xhat, const pb_bn_params *p, int ch) {
  const size_t hw = (size_t)p->hw, cstride = (size_t)p->c * hw;
  for (int in = 0; in < p->n; in++) {
    const size_t off = (size_t)in * cstride + (size_t)ch * hw;
    const float *xp = x + off, *dyp = dy + off;
    float *dxp = dx + off;
    for (size_t i = 0; i < hw; i++) {
      const double xhat = ((double)xp[i] - mean) * invstd;
      dxp[i] = (float)(k * ((double)dyp[i] - mean_dy - xhat * mean_dy_xhat));
    }
  }
}

#endif
