/* l2norm.c: the L2-normalisation layer of embedding heads (layer.h, pb_l2norm_layer) over
 * the ops table's l2norm_* entries (engine/device/backend.h: pb_l2norm_*_cpu in kernels/cpu/l2norm.c and
 * its CUDA twin kernels/cuda/l2norm.cu). A training
 * forward keeps the row norms (1 float per sample) for backward; evaluation keeps nothing. */
#include "engine/device/backend.h"
#include "engine/layers/layer.h"

#define PB_L2NORM_EPS 1e-12f /* F.normalize's default */

static void l2_fwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, float *y, int train) {
  int d = (int)pb_layer_in_numel(l);
  float *norm = train ? l->saved : NULL;
  ctx->ops->l2norm_fwd(ctx, y, norm, x, n, d, PB_L2NORM_EPS);
}

static void l2_bwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, const float *y, const float *dy, float *dx) {
  (void)x;
  if (!dx) return;
  int d = (int)pb_layer_in_numel(l);
  ctx->ops->l2norm_bwd(ctx, dx, dy, y, l->saved, n, d, PB_L2NORM_EPS);
}

static const pb_layer_vt l2_vt = {"l2norm", l2_fwd, l2_bwd, NULL, NULL, NULL, NULL};

pb_layer *pb_l2norm_layer(const char *name, const int in[3]) {
  pb_layer *l = pb_layer_new(&l2_vt, name, in);
  l->out[0] = in[0] * in[1] * in[2];
  l->out[1] = l->out[2] = 1;
  l->saved_per_sample = 1;
  return l;
}
