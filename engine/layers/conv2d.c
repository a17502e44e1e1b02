/* conv2d.c: the Conv2d layer over the ops table's conv2d_* entries (engine/device/backend.h:
 * pb_conv2d_*_cpu in kernels/cpu/conv.c, pb_conv2d_*_cuda in kernels/cuda/conv.cu). The host
 * scratch the CPU ops need is sized here (conv_scratch) and reserved by the model. */
#include <string.h>

#include "engine/device/backend.h"
#include "engine/layers/layer.h"
#include "kernels/ops.h"

typedef struct {
  pb_conv2d_params p; /* n is set per call */
  int has_bias;
} conv_priv;

static void conv_fwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, float *y, int train) {
  (void)train;
  conv_priv *c = l->priv;
  pb_conv2d_params p = c->p;
  p.n = n, p.nhwc = ctx->nhwc;
  const float *bias = c->has_bias ? l->params[1].data : NULL;
  ctx->ops->conv2d_fwd(ctx, y, x, l->params[0].data, bias, &p);
}

static void conv_bwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, const float *y, const float *dy,
                     float *dx) {
  (void)y;
  conv_priv *c = l->priv;
  pb_conv2d_params p = c->p;
  p.n = n, p.nhwc = ctx->nhwc;
  float *dbias = c->has_bias ? l->params[1].grad : NULL;
  ctx->ops->conv2d_bwd_filter(ctx, l->params[0].grad, dbias, dy, x, &p);
  if (dx) ctx->ops->conv2d_bwd_data(ctx, dx, dy, l->params[0].data, &p);
}

static size_t conv_scratch(const pb_layer *l, int max_n, int nthreads) {
  const conv_priv *c = l->priv;
  pb_conv2d_params p = c->p, q;
  p.n = max_n;
  q = p, q.nhwc = 1; /* the layout is the context's, known per call: room for either */
  return PB_MAX(pb_conv2d_scratch_cpu(&p, nthreads), pb_conv2d_scratch_cpu(&q, nthreads));
}

static const pb_layer_vt conv_vt = {"conv2d", conv_fwd, conv_bwd, conv_scratch, NULL, NULL, NULL};

pb_layer *pb_conv2d_layer(const char *name, const int in[3], int c_out, int k, int stride, int pad, int dil,
                          int groups, int bias, pb_init_kind winit, pb_err *err) {
  conv_priv c;
  memset(&c, 0, sizeof c);
  c.p = (pb_conv2d_params){.n = 1, .c_in = in[0], .h_in = in[1], .w_in = in[2], .c_out = c_out, .kh = k,
                           .kw = k, .stride_h = stride, .stride_w = stride, .pad_h = pad, .pad_w = pad,
                           .dil_h = dil, .dil_w = dil, .groups = groups};
  if (pb_conv2d_params_finish(&c.p)) {
    pb_err_set(err, "layer %s: a %dx%d convolution (stride %d, padding %d, dilation %d, groups %d) does not fit "
                    "an input of %d channels x %dx%d",
               name, k, k, stride, pad, dil, groups, in[0], in[1], in[2]);
    return NULL;
  }
  c.has_bias = bias;
  pb_layer *l = pb_layer_new(&conv_vt, name, in);
  l->out[0] = c_out;
  l->out[1] = c.p.h_out;
  l->out[2] = c.p.w_out;
  int fan_in = in[0] / groups * k * k, fan_out = c_out / groups * k * k;
  int ws[4] = {c_out, in[0] / groups, k, k};
  pb_layer_add_param(l, "weight", PB_PARAM_TRAINABLE, 4, ws, winit, fan_in, fan_out);
  if (bias) pb_layer_add_param(l, "bias", PB_PARAM_TRAINABLE, 1, &c_out, PB_INIT_TORCH_BIAS, fan_in, fan_out);
  l->priv = pb_xmalloc(sizeof c);
  memcpy(l->priv, &c, sizeof c);
  return l;
}
