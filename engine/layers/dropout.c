/* dropout.c: the Dropout layer over the ops table's dropout_* entries (engine/device/backend.h:
 * kernels/cpu/dropout.c and its twin kernels/cuda/dropout.cu). Its mask is a
 * pure function of (seed, layer index, call counter), so resuming restores it exactly. */
#include <stdint.h>

#include "engine/device/backend.h"
#include "engine/layers/layer.h"
#include "kernels/pb_rng.h"

typedef struct {
  float p;
  uint64_t seed;
  int index;
  uint64_t calls; /* training forwards so far */
} drop_priv;

static void drop_fwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, float *y, int train) {
  drop_priv *d = l->priv;
  size_t cnt = (size_t)n * pb_layer_out_numel(l);
  if (!train || d->p == 0.0f) {
    ctx->ops->copy(ctx, y, x, cnt); /* dropout off: y is this layer's own output buffer */
    return;
  }
  uint64_t stream = PB_RNG_STREAM(PB_RNG_DROPOUT, ((uint64_t)d->index << 40) | d->calls);
  ctx->ops->dropout_fwd(ctx, y, (uint8_t *)l->saved, x, cnt, d->p, d->seed, stream);
  d->calls++;
}

static void drop_bwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, const float *y, const float *dy, float *dx) {
  (void)x, (void)y;
  drop_priv *d = l->priv;
  size_t cnt = (size_t)n * pb_layer_out_numel(l);
  if (!dx) return;
  if (d->p == 0.0f) {
    ctx->ops->copy(ctx, dx, dy, cnt);
    return;
  }
  ctx->ops->dropout_bwd(ctx, dx, dy, (const uint8_t *)l->saved, cnt, d->p);
}

static uint64_t *drop_counter(pb_layer *l) { return &((drop_priv *)l->priv)->calls; }

static const pb_layer_vt drop_vt = {"dropout", drop_fwd, drop_bwd, NULL, NULL, NULL, drop_counter};

pb_layer *pb_dropout_layer(const char *name, const int in[3], float p, uint64_t seed, int index) {
  pb_layer *l = pb_layer_new(&drop_vt, name, in);
  drop_priv *d = pb_xcalloc(1, sizeof *d);
  d->p = p;
  d->seed = seed;
  d->index = index;
  l->priv = d;
  l->saved_per_sample = (pb_layer_out_numel(l) + 3) / 4; /* uint8 mask in float-sized slots */
  return l;
}

uint64_t *pb_dropout_counter(pb_layer *l) {
  PB_ASSERT(l->vt == &drop_vt);
  return drop_counter(l);
}
