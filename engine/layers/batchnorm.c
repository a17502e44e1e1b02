/* batchnorm.c: BatchNorm2d (and BatchNorm1d on (D,1,1) inputs) over the ops table's bn_* entries
 * (engine/device/backend.h: pb_bn_*_cpu in kernels/cpu/batchnorm.c, pb_bn_*_cuda in
 * kernels/cuda/batchnorm.cu). Parameters and buffers carry PyTorch's names. The batch statistics
 * kept for backward live in the layer's saved memory (on the model's device). */
#include <string.h>

#include "engine/device/backend.h"
#include "engine/layers/layer.h"
#include "kernels/ops.h"

typedef struct {
  float eps, momentum;
} bn_priv;

static pb_bn_params bn_params(const pb_layer *l, int n) {
  const bn_priv *b = l->priv;
  pb_bn_params p = {n, l->in[0], l->in[1] * l->in[2], b->eps, b->momentum};
  return p;
}

static void bn_fwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, float *y, int train) {
  pb_bn_params p = bn_params(l, n);
  float *save_mean = l->saved, *save_invstd = l->saved + l->in[0];
  const float *g = l->params[0].data, *b = l->params[1].data;
  float *rm = l->params[2].data, *rv = l->params[3].data;
  if (train) {
    ctx->ops->bn_fwd_train(ctx, y, save_mean, save_invstd, rm, rv, x, g, b, &p);
    l->params[4].counter++;
  } else {
    ctx->ops->bn_fwd_eval(ctx, y, x, g, b, rm, rv, &p);
  }
}

static void bn_bwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, const float *y, const float *dy, float *dx) {
  (void)y;
  pb_bn_params p = bn_params(l, n);
  /* The op always writes dx; the first layer of a model gets a scratch target. */
  PB_ASSERT(dx != NULL);
  const float *save_mean = l->saved, *save_invstd = l->saved + l->in[0];
  ctx->ops->bn_bwd(ctx, dx, l->params[0].grad, l->params[1].grad, dy, x, l->params[0].data, save_mean, save_invstd,
                   &p);
}

static const pb_layer_vt bn_vt = {"batchnorm", bn_fwd, bn_bwd, NULL, NULL, NULL, NULL};

pb_layer *pb_batchnorm_layer(const char *name, const int in[3], float eps, float momentum, pb_err *err) {
  (void)err;
  pb_layer *l = pb_layer_new(&bn_vt, name, in);
  int c = in[0];
  pb_param *w = pb_layer_add_param(l, "weight", PB_PARAM_TRAINABLE, 1, &c, PB_INIT_CONST, 0, 0);
  w->init_value = 1.0f;
  pb_layer_add_param(l, "bias", PB_PARAM_TRAINABLE, 1, &c, PB_INIT_CONST, 0, 0);
  pb_layer_add_param(l, "running_mean", PB_PARAM_BUFFER, 1, &c, PB_INIT_CONST, 0, 0);
  pb_param *rv = pb_layer_add_param(l, "running_var", PB_PARAM_BUFFER, 1, &c, PB_INIT_CONST, 0, 0);
  rv->init_value = 1.0f;
  pb_layer_add_param(l, "num_batches_tracked", PB_PARAM_COUNTER, 0, NULL, PB_INIT_CONST, 0, 0);
  bn_priv *b = pb_xcalloc(1, sizeof *b);
  b->eps = eps;
  b->momentum = momentum;
  l->priv = b;
  l->saved_fixed = 2 * (size_t)c; /* save_mean, save_invstd */
  return l;
}
