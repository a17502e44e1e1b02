/* batchnorm.c: BatchNorm2d (and BatchNorm1d on (D,1,1) inputs; SyncBatchNorm with [dist] sync_bn)
 * over the ops table's bn_* entries
 * (engine/device/backend.h: pb_bn_*_cpu in kernels/cpu/batchnorm.c, pb_bn_*_cuda in
 * kernels/cuda/batchnorm.cu). Parameters and buffers carry PyTorch's names. The batch statistics
 * kept for backward live in the layer's saved memory (on the model's device). */
#include <stdio.h>
#include <string.h>

#include "engine/device/backend.h"
#include "engine/dist/dist.h"
#include "engine/layers/layer.h"
#include "kernels/ops.h"

typedef struct {
  float eps, momentum;
} bn_priv;

static pb_bn_params bn_params(const pb_layer *l, const pb_ctx *ctx, int n) {
  const bn_priv *b = l->priv;
  pb_bn_params p = {n, l->in[0], l->in[1] * l->in[2], b->eps, b->momentum, ctx->nhwc};
  return p;
}

/* Synchronised batch norm ([dist] sync_bn, engine/dist/dist.h): the sums of the forward (the
 * global ones, kept for the backward's count) and of the backward (this rank's, then the global
 * ones) live in the layer's saved memory, after save_mean and save_invstd, as doubles. */
static double *sync_sums(const pb_layer *l, int which) {
  size_t c = (size_t)l->in[0];
  double *base = (double *)(l->saved + 2 * c); /* 2c floats: 8-byte aligned */
  return which == 0 ? base : which == 1 ? base + 2 * c + 2 : base + 4 * c + 2;
}

static void sync_or_die(pb_ctx *ctx, double *buf, size_t n) {
  pb_err err = {{0}};
  if (pb_dist_sum_f64_dev(ctx, buf, n, "synchronised batch norm", &err)) {
    fprintf(stderr, "plumb: rank %d: error: %s\n", pb_dist_world()->rank, err.msg);
    pb_dist_abort(1);
  }
}

static const pb_layer_vt bn_vt;

static void bn_fwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, float *y, int train) {
  pb_bn_params p = bn_params(l, ctx, n);
  float *save_mean = l->saved, *save_invstd = l->saved + l->in[0];
  const float *g = l->params[0].data, *b = l->params[1].data;
  float *rm = l->params[2].data, *rv = l->params[3].data;
  if (train && pb_dist_world()->sync_bn) {
    double *fs = sync_sums(l, 0);
    ctx->ops->bn_sums(ctx, fs, x, &p);
    sync_or_die(ctx, fs, 2 * (size_t)l->in[0] + 1);
    ctx->ops->bn_fwd_sync(ctx, y, save_mean, save_invstd, rm, rv, x, g, b, fs, &p);
    l->params[4].counter++;
  } else if (train) {
    ctx->ops->bn_fwd_train(ctx, y, save_mean, save_invstd, rm, rv, x, g, b, &p);
    l->params[4].counter++;
  } else {
    pb_batchnorm_eval(l, ctx, n, x, NULL, y, 0);
  }
}

void pb_batchnorm_eval(pb_layer *l, pb_ctx *ctx, int n, const float *x, const float *r, float *y, int relu) {
  PB_ASSERT(l->vt == &bn_vt);
  pb_bn_params p = bn_params(l, ctx, n);
  ctx->ops->bn_eval_fused(ctx, y, x, r, l->params[0].data, l->params[1].data, l->params[2].data, l->params[3].data,
                          relu, &p);
}

static void bn_bwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, const float *y, const float *dy, float *dx);

void pb_batchnorm_train(pb_layer *l, pb_ctx *ctx, int n, const float *x, const float *r, float *y, int relu) {
  PB_ASSERT(l->vt == &bn_vt && y != x && y != r);
  const size_t cnt = (size_t)n * pb_layer_in_numel(l);
  if (!ctx->fused_bn || pb_dist_world()->sync_bn) { /* the chain (sync batch norm has its own forward) */
    bn_fwd(l, ctx, n, x, y, 1);
    if (r) ctx->ops->accumulate(ctx, y, r, cnt);
    if (relu) ctx->ops->relu_fwd(ctx, y, y, cnt);
    return;
  }
  pb_bn_params p = bn_params(l, ctx, n);
  ctx->ops->bn_fwd_train_fused(ctx, y, l->saved, l->saved + l->in[0], l->params[2].data, l->params[3].data, x, r,
                               l->params[0].data, l->params[1].data, relu, &p);
  l->params[4].counter++;
}

void pb_batchnorm_train_bwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, const float *y, const float *dy,
                            float *dz, float *dx, int relu) {
  PB_ASSERT(l->vt == &bn_vt);
  const size_t cnt = (size_t)n * pb_layer_in_numel(l);
  if (!ctx->fused_bn || pb_dist_world()->sync_bn) {
    if (relu)
      ctx->ops->relu_bwd(ctx, dz, dy, y, cnt);
    else if (dz != dy)
      ctx->ops->copy(ctx, dz, dy, cnt);
    bn_bwd(l, ctx, n, x, NULL, dz, dx);
    return;
  }
  pb_bn_params p = bn_params(l, ctx, n);
  ctx->ops->bn_bwd_fused(ctx, dx, dz, l->params[0].grad, l->params[1].grad, dy, y, x, l->params[0].data, l->saved,
                         l->saved + l->in[0], relu, &p);
}

static void bn_bwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, const float *y, const float *dy, float *dx) {
  (void)y;
  pb_bn_params p = bn_params(l, ctx, n);
  /* The op always writes dx; the first layer of a model gets a scratch target. */
  PB_ASSERT(dx != NULL);
  const float *save_mean = l->saved, *save_invstd = l->saved + l->in[0];
  if (pb_dist_world()->sync_bn) {
    size_t c = (size_t)l->in[0];
    double *loc = sync_sums(l, 1), *glob = sync_sums(l, 2);
    ctx->ops->bn_bwd_sums(ctx, loc, dy, x, save_mean, save_invstd, &p);
    ctx->ops->copy(ctx, (float *)glob, (const float *)loc, 4 * c); /* 2c doubles */
    sync_or_die(ctx, glob, 2 * c);
    ctx->ops->bn_bwd_sync(ctx, dx, l->params[0].grad, l->params[1].grad, dy, x, l->params[0].data, save_mean,
                          save_invstd, loc, glob, sync_sums(l, 0), &p);
    return;
  }
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
  l->inplace_eval = 1; /* the fused op runs in place */
  /* save_mean, save_invstd; then for [dist] sync_bn the forward's global sums [2c + 1] and the
   * backward's local and global sums [2c] each, as doubles (2 floats each, rounded up) */
  l->saved_fixed = 2 * (size_t)c + 2 * (2 * (size_t)c + 2) + 2 * 2 * (2 * (size_t)c);
  return l;
}
