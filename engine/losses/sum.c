/* sum.c: the weighted sum of per-head losses (loss.h, pb_loss_sum): multi-head models train
 * sum_h weight_h * (mean CE of head h over the samples labelled for it). Each part is an
 * ordinary one-term loss run on its head's logit block; a head without labels in a batch
 * contributes neither loss nor gradient. */
#include <stdlib.h>
#include <string.h>

#include "engine/device/backend.h"
#include "engine/losses/loss.h"

typedef struct {
  pb_loss *part[PB_LOSS_MAX_TERMS]; /* owned; their term_loss points into the sum's */
} sum_priv;

static void sum_compute(pb_loss *l, pb_ctx *ctx, const float *logits, const int32_t *y, const int32_t *y_host, int n,
                        int accum, float *dlogits, int32_t *pred, int *correct, long *seen) {
  sum_priv *p = l->priv;
  for (int t = 0; t < l->nterms; t++) {
    const pb_loss_term *tm = &l->term[t];
    size_t o = (size_t)n * tm->offset, yo = (size_t)t * n;
    p->part[t]->vt->compute(p->part[t], ctx, logits + o, y + yo, y_host + yo, n, accum, dlogits ? dlogits + o : NULL,
                            pred + yo, correct ? correct + t : NULL, seen ? seen + t : NULL);
  }
}

static void sum_free(pb_loss *l, pb_ctx *ctx) {
  sum_priv *p = l->priv;
  if (!p) return;
  for (int t = 0; t < l->nterms; t++) pb_loss_free(p->part[t], ctx);
}

static const pb_loss_vt sum_vt = {"sum", sum_compute, NULL, sum_free};

pb_loss *pb_loss_sum(pb_ctx *ctx, int nterms, const pb_loss_term *terms, pb_loss **part, pb_err *err) {
  PB_ASSERT(nterms >= 1 && nterms <= PB_LOSS_MAX_TERMS);
  pb_loss *l = pb_xcalloc(1, sizeof *l);
  sum_priv *p = pb_xcalloc(1, sizeof *p);
  l->vt = &sum_vt;
  l->priv = p;
  l->nterms = nterms;
  for (int t = 0; t < nterms; t++) {
    l->term[t] = terms[t];
    l->k += terms[t].classes;
    p->part[t] = part[t];
    PB_ASSERT(part[t] && part[t]->nterms == 1 && part[t]->k == terms[t].classes);
  }
  if (pb_loss_alloc_terms(l, ctx, err)) {
    pb_loss_free(l, ctx);
    return NULL;
  }
  for (int t = 0; t < nterms; t++) {
    /* the part writes its sum straight into the sum's slot t, with the head's weight */
    pb_loss *q = p->part[t];
    if (q->owns_term_loss) ctx->ops->free(ctx, q->term_loss);
    q->owns_term_loss = 0;
    q->term_loss = l->term_loss + t;
    q->term[0].weight = terms[t].weight;
  }
  return l;
}
