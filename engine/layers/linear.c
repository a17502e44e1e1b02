/* linear.c: the Linear layer (nn.Linear layout, weight [out, in]) over the ops table's linear_*
 * entries (engine/device/backend.h: kernels/cpu/linear.c and its twin kernels/cuda/linear.cu).
 * A (C,H,W) input is flattened implicitly: NCHW memory already is [N, C*H*W]. The frame
 * variant applies it to every step of a sequence (1, T, D): [N*T, D] rows, as nn.Linear on the
 * last dimension. */
#include "engine/device/backend.h"
#include "engine/layers/layer.h"

static void lin_fwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, float *y, int train) {
  (void)train;
  const float *b = l->nparams > 1 ? l->params[1].data : NULL;
  int in = (int)pb_layer_in_numel(l);
  ctx->ops->linear_fwd(ctx, y, x, l->params[0].data, b, n, in, l->out[0]);
}
static void lin_bwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, const float *y, const float *dy, float *dx) {
  (void)y;
  float *db = l->nparams > 1 ? l->params[1].grad : NULL;
  int in = (int)pb_layer_in_numel(l);
  ctx->ops->linear_bwd(ctx, dx, l->params[0].grad, db, dy, x, l->params[0].data, n, in, l->out[0]);
}
static const pb_layer_vt lin_vt = {"linear", lin_fwd, lin_bwd, NULL, NULL, NULL, NULL};

pb_layer *pb_linear_layer(const char *name, const int in[3], int out, int bias, pb_err *err) {
  if (out < 1) {
    pb_err_set(err, "layer %s: a linear layer needs at least 1 output, got %d", name, out);
    return NULL;
  }
  pb_layer *l = pb_layer_new(&lin_vt, name, in);
  int fan_in = (int)pb_layer_in_numel(l);
  l->out[0] = out;
  l->out[1] = l->out[2] = 1;
  int ws[2] = {out, fan_in};
  pb_layer_add_param(l, "weight", PB_PARAM_TRAINABLE, 2, ws, PB_INIT_TORCH_DEFAULT, fan_in, out);
  if (bias) pb_layer_add_param(l, "bias", PB_PARAM_TRAINABLE, 1, &out, PB_INIT_TORCH_BIAS, fan_in, out);
  return l;
}

/* ------------------------------------------------------------------ per frame */

static void frame_fwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, float *y, int train) {
  (void)train;
  const float *b = l->nparams > 1 ? l->params[1].data : NULL;
  ctx->ops->linear_fwd(ctx, y, x, l->params[0].data, b, n * l->in[1], l->in[2], l->out[2]);
}
static void frame_bwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, const float *y, const float *dy, float *dx) {
  (void)y;
  float *db = l->nparams > 1 ? l->params[1].grad : NULL;
  ctx->ops->linear_bwd(ctx, dx, l->params[0].grad, db, dy, x, l->params[0].data, n * l->in[1], l->in[2], l->out[2]);
}
static const pb_layer_vt frame_vt = {"frame_linear", frame_fwd, frame_bwd, NULL, NULL, NULL, NULL};

pb_layer *pb_frame_linear_layer(const char *name, const int in[3], int out, int bias, pb_err *err) {
  if (in[0] != 1 || out < 1) {
    pb_err_set(err, "layer %s: a per-frame linear layer reads sequences (1, T, D) and needs at least 1 output, got "
                    "(%d, %d, %d) -> %d", name, in[0], in[1], in[2], out);
    return NULL;
  }
  pb_layer *l = pb_layer_new(&frame_vt, name, in);
  l->out[2] = out;
  int ws[2] = {out, in[2]};
  pb_layer_add_param(l, "weight", PB_PARAM_TRAINABLE, 2, ws, PB_INIT_TORCH_DEFAULT, in[2], out);
  if (bias) pb_layer_add_param(l, "bias", PB_PARAM_TRAINABLE, 1, &out, PB_INIT_TORCH_BIAS, in[2], out);
  return l;
}
