/* layout.c: the channels-last entry layer ([run] layout = nhwc): y [n, h, w, c] = x [n, c, h, w],
 * the ops table's to_nhwc (ops.h "layout"). The model puts it before its first image layer
 * (model.c, pb_model_add), so every caller keeps handing models NCHW batches, as PyTorch's
 * x.to(memory_format=torch.channels_last). No parameters; nothing saved. */
#include "engine/device/backend.h"
#include "engine/layers/layer.h"

static void entry_fwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, float *y, int train) {
  (void)train;
  ctx->ops->to_nhwc(ctx, y, x, n, l->in[0], l->in[1] * l->in[2]);
}

/* The gradient of a permutation is the inverse permutation (a model's first layer gets dx NULL:
 * nothing to do). */
static void entry_bwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, const float *y, const float *dy, float *dx) {
  (void)x, (void)y;
  if (dx) ctx->ops->to_nchw(ctx, dx, dy, n, l->in[0], l->in[1] * l->in[2]);
}

static const pb_layer_vt entry_vt = {"to_nhwc", entry_fwd, entry_bwd, NULL, NULL, NULL, NULL};

pb_layer *pb_to_nhwc_layer(const char *name, const int in[3]) { return pb_layer_new(&entry_vt, name, in); }
