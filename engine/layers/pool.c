/* pool.c: MaxPool2d, AvgPool2d and global average pooling layers over the ops table
 * (engine/device/backend.h: kernels/cpu/pool.c and its twin kernels/cuda/pool.cu). */
#include <string.h>

#include "engine/device/backend.h"
#include "engine/layers/layer.h"
#include "kernels/ops.h"

static pb_pool_params pool_params(const pb_layer *l, const pb_ctx *ctx, int n) {
  pb_pool_params p;
  memcpy(&p, l->priv, sizeof p);
  p.n = n;
  p.nhwc = ctx->nhwc;
  return p;
}

static void max_fwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, float *y, int train) {
  pb_pool_params p = pool_params(l, ctx, n);
  /* evaluation keeps no argmax (NULL: the op skips it) */
  int32_t *argmax = train ? (int32_t *)l->saved : NULL;
  ctx->ops->maxpool_fwd(ctx, y, argmax, x, &p);
}
static void max_bwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, const float *y, const float *dy, float *dx) {
  (void)x, (void)y;
  pb_pool_params p = pool_params(l, ctx, n);
  if (!dx) return;
  ctx->ops->maxpool_bwd(ctx, dx, dy, (const int32_t *)l->saved, &p);
}
static void avg_fwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, float *y, int train) {
  (void)train;
  pb_pool_params p = pool_params(l, ctx, n);
  ctx->ops->avgpool_fwd(ctx, y, x, &p);
}
static void avg_bwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, const float *y, const float *dy, float *dx) {
  (void)x, (void)y;
  pb_pool_params p = pool_params(l, ctx, n);
  if (!dx) return;
  ctx->ops->avgpool_bwd(ctx, dx, dy, &p);
}
static void gap_fwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, float *y, int train) {
  (void)train;
  (ctx->nhwc ? ctx->ops->gap_nhwc_fwd : ctx->ops->gap_fwd)(ctx, y, x, n, l->in[0], l->in[1] * l->in[2]);
}
static void gap_bwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, const float *y, const float *dy, float *dx) {
  (void)x, (void)y;
  if (!dx) return;
  (ctx->nhwc ? ctx->ops->gap_nhwc_bwd : ctx->ops->gap_bwd)(ctx, dx, dy, n, l->in[0], l->in[1] * l->in[2]);
}

static const pb_layer_vt max_vt = {"maxpool", max_fwd, max_bwd, NULL, NULL, NULL, NULL};
static const pb_layer_vt avg_vt = {"avgpool", avg_fwd, avg_bwd, NULL, NULL, NULL, NULL};
static const pb_layer_vt gap_vt = {"gap", gap_fwd, gap_bwd, NULL, NULL, NULL, NULL};

static pb_layer *pool_layer(const pb_layer_vt *vt, const char *name, const int in[3], int k, int stride, int pad,
                            pb_err *err) {
  pb_pool_params p = {.n = 1, .c = in[0], .h_in = in[1], .w_in = in[2], .kh = k, .kw = k, .stride_h = stride,
                      .stride_w = stride, .pad_h = pad, .pad_w = pad, .count_include_pad = 1};
  if (pb_pool_params_finish(&p)) {
    pb_err_set(err, "layer %s: a %dx%d pool (stride %d, padding %d) does not fit an input of %dx%d", name, k, k,
               stride, pad, in[1], in[2]);
    return NULL;
  }
  pb_layer *l = pb_layer_new(vt, name, in);
  l->out[1] = p.h_out;
  l->out[2] = p.w_out;
  l->priv = pb_xmalloc(sizeof p);
  memcpy(l->priv, &p, sizeof p);
  return l;
}

pb_layer *pb_maxpool_layer(const char *name, const int in[3], int k, int stride, int pad, pb_err *err) {
  pb_layer *l = pool_layer(&max_vt, name, in, k, stride, pad, err);
  if (l) l->saved_per_sample = pb_layer_out_numel(l); /* int32 argmax, one per output */
  return l;
}

pb_layer *pb_avgpool_layer(const char *name, const int in[3], int k, int stride, int pad, pb_err *err) {
  return pool_layer(&avg_vt, name, in, k, stride, pad, err);
}

pb_layer *pb_gap_layer(const char *name, const int in[3]) {
  pb_layer *l = pb_layer_new(&gap_vt, name, in);
  l->out[1] = l->out[2] = 1;
  return l;
}
