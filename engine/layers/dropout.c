/* dropout.c: the Dropout layer over pb_dropout_*_cpu (kernels/cpu/dropout.c). Its mask is a
 * pure function of (seed, layer index, call counter), so resuming restores it exactly. */
#include <stdint.h>
#include <string.h>

#include "engine/layer.h"
#include "kernels/ops.h"
#include "kernels/ops_cuda.h"
#include "kernels/pb_rng.h"

typedef struct {
  float p;
  uint64_t seed;
  int index;
  uint64_t calls; /* training forwards so far */
} drop_priv;

/* y = x (dropout off): a copy, since y is this layer's own output buffer. */
static void copy_act(pb_ctx *ctx, float *y, const float *x, size_t cnt) {
  if (ctx->cuda) {
    pb_cuda_memset0(y, cnt * sizeof(float), ctx->cuda);
    pb_accumulate_cuda(y, x, cnt, ctx->cuda);
  } else {
    memcpy(y, x, cnt * sizeof(float));
  }
}

static void drop_fwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, float *y, int train) {
  drop_priv *d = l->priv;
  size_t cnt = (size_t)n * pb_layer_out_numel(l);
  if (!train || d->p == 0.0f) {
    copy_act(ctx, y, x, cnt);
    return;
  }
  uint64_t stream = PB_RNG_STREAM(PB_RNG_DROPOUT, ((uint64_t)d->index << 40) | d->calls);
  if (ctx->cuda)
    pb_dropout_fwd_cuda(y, (uint8_t *)l->saved, x, cnt, d->p, d->seed, stream, ctx->cuda);
  else
    pb_dropout_fwd_cpu(y, (uint8_t *)l->saved, x, cnt, d->p, d->seed, stream);
  d->calls++;
}

static void drop_bwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, const float *y, const float *dy, float *dx) {
  (void)x, (void)y;
  drop_priv *d = l->priv;
  size_t cnt = (size_t)n * pb_layer_out_numel(l);
  if (!dx) return;
  if (d->p == 0.0f) {
    copy_act(ctx, dx, dy, cnt);
    return;
  }
  if (ctx->cuda)
    pb_dropout_bwd_cuda(dx, dy, (const uint8_t *)l->saved, cnt, d->p, ctx->cuda);
  else
    pb_dropout_bwd_cpu(dx, dy, (const uint8_t *)l->saved, cnt, d->p);
}

static const pb_layer_vt drop_vt = {"dropout", drop_fwd, drop_bwd, NULL, NULL};

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
  return &((drop_priv *)l->priv)->calls;
}
