/* triplet.c: the triplet loss of metric learning (loss.h, pb_loss_triplet): the fused op of
 * kernels/cpu/triplet.c and kernels/cuda/triplet.cu through the context's ops table, its
 * reduced loss and the run's statistics (active fraction, excluded anchors) accumulated where
 * the model runs: no host round trip per step. */
#include <stdlib.h>
#include <string.h>

#include "engine/device/backend.h"
#include "engine/losses/loss.h"

typedef struct {
  pb_triplet_params p; /* n set per batch */
  int max_n;
  float *loss;         /* device: ONE float, the batch's reduced loss */
  int64_t *counts;     /* device: PB_TRIPLET_NCOUNTS */
} triplet_priv;

static void triplet_compute(pb_loss *l, pb_ctx *ctx, const float *emb, const int32_t *y, const int32_t *y_host, int n,
                            int accum, float *demb, int32_t *pred, int *correct, long *seen) {
  (void)pred, (void)correct; /* no classes: nothing predicted */
  triplet_priv *P = l->priv;
  PB_ASSERT(n >= 1 && n <= P->max_n && accum >= 1);
  long rows = 0;
  for (int i = 0; i < n; i++) rows += y_host[i] >= 0;
  pb_triplet_params p = P->p;
  p.n = n;
  /* the objective of one micro-batch is loss / accum: the op reduces, the caller only scales */
  ctx->ops->triplet_loss(ctx, P->loss, P->counts, demb, emb, y, 1.0f / (float)accum, &p);
  ctx->ops->triplet_stats(ctx, l->term_loss, P->loss, P->counts, (int)rows);
  if (seen)
    for (int t = 0; t < l->nterms; t++) seen[t] += rows;
}

static void triplet_free(pb_loss *l, pb_ctx *ctx) {
  triplet_priv *P = l->priv;
  if (!P) return;
  ctx->ops->free(ctx, P->loss);
  ctx->ops->free(ctx, P->counts);
}

static const pb_loss_vt triplet_vt = {"triplet", triplet_compute, NULL, triplet_free};

pb_loss *pb_loss_triplet(pb_ctx *ctx, int d, const pb_triplet_params *p, int max_n, pb_err *err) {
  PB_ASSERT(d >= 1 && max_n >= 1);
  pb_loss *l = pb_xcalloc(1, sizeof *l);
  triplet_priv *P = pb_xcalloc(1, sizeof *P);
  l->vt = &triplet_vt;
  l->priv = P;
  l->k = d;
  l->nterms = 3;
  l->label_rows = 1;
  static const char *names[3] = {"triplet", "active", "excluded"};
  for (int t = 0; t < 3; t++) {
    snprintf(l->term[t].name, sizeof l->term[t].name, "%s", names[t]);
    l->term[t].weight = t == 0 ? 1.0f : 0.0f;
    l->term[t].stat = t > 0;
  }
  P->p = *p;
  P->p.d = d;
  P->max_n = max_n;
  pb_triplet_params big = P->p;
  big.n = max_n;
  if (ctx->ops->triplet_reserve(ctx, &big, err) || pb_loss_alloc_terms(l, ctx, err) ||
      !(P->loss = ctx->ops->alloc(ctx, sizeof(float), "the triplet loss", err)) ||
      !(P->counts = ctx->ops->alloc(ctx, PB_TRIPLET_NCOUNTS * sizeof(int64_t), "the triplet counts", err))) {
    pb_loss_free(l, ctx);
    return NULL;
  }
  return l;
}
