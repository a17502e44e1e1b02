/* activation.c: ReLU, Sigmoid and Flatten layers over the ops table (engine/device/backend.h; kernels:
 * kernels/cpu/activation.c and its twin kernels/cuda/activation.cu). */
#include "engine/device/backend.h"
#include "engine/layers/layer.h"

static void relu_fwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, float *y, int train) {
  (void)train;
  size_t cnt = (size_t)n * pb_layer_out_numel(l);
  ctx->ops->relu_fwd(ctx, y, x, cnt);
}
static void relu_bwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, const float *y, const float *dy, float *dx) {
  (void)x;
  size_t cnt = (size_t)n * pb_layer_out_numel(l);
  if (!dx) return;
  ctx->ops->relu_bwd(ctx, dx, dy, y, cnt);
}
static const pb_layer_vt relu_vt = {"relu", relu_fwd, relu_bwd, NULL, NULL, NULL, NULL};

static void sig_fwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, float *y, int train) {
  (void)train;
  size_t cnt = (size_t)n * pb_layer_out_numel(l);
  ctx->ops->sigmoid_fwd(ctx, y, x, cnt);
}
static void sig_bwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, const float *y, const float *dy, float *dx) {
  (void)x;
  size_t cnt = (size_t)n * pb_layer_out_numel(l);
  if (!dx) return;
  ctx->ops->sigmoid_bwd(ctx, dx, dy, y, cnt);
}
static const pb_layer_vt sig_vt = {"sigmoid", sig_fwd, sig_bwd, NULL, NULL, NULL, NULL};

/* Flatten is a view: NCHW memory already is [N, C*H*W]. Behind channels-last layers the model
 * clears alias, and it permutes [n, h, w, c] to that order (and the gradient back). */
static void flat_fwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, float *y, int train) {
  (void)train;
  if (!l->alias) ctx->ops->to_nchw(ctx, y, x, n, l->in[0], l->in[1] * l->in[2]);
}
static void flat_bwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, const float *y, const float *dy, float *dx) {
  (void)x, (void)y;
  if (!l->alias && dx) ctx->ops->to_nhwc(ctx, dx, dy, n, l->in[0], l->in[1] * l->in[2]);
}
static const pb_layer_vt flat_vt = {"flatten", flat_fwd, flat_bwd, NULL, NULL, NULL, NULL};

pb_layer *pb_relu_layer(const char *name, const int in[3]) {
  pb_layer *l = pb_layer_new(&relu_vt, name, in);
  l->inplace_eval = 1;
  return l;
}
pb_layer *pb_relu_inplace_layer(const char *name, const int in[3]) {
  pb_layer *l = pb_layer_new(&relu_vt, name, in);
  l->inplace = l->inplace_eval = 1;
  return l;
}
pb_layer *pb_sigmoid_layer(const char *name, const int in[3]) { return pb_layer_new(&sig_vt, name, in); }
pb_layer *pb_flatten_layer(const char *name, const int in[3]) {
  pb_layer *l = pb_layer_new(&flat_vt, name, in);
  l->out[0] = in[0] * in[1] * in[2];
  l->out[1] = l->out[2] = 1;
  l->alias = 1;
  return l;
}
