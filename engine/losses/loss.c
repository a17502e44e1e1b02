/* loss.c: the loss interface's shared parts (loss.h): choosing a loss from the config, term
 * memory and freeing. The implementations are xent.c, multilabel.c, triplet.c and sum.c. */
#include "engine/losses/loss.h"

#include <stdlib.h>
#include <string.h>

#include "engine/device/backend.h"
#include "engine/models/model.h"

int pb_loss_alloc_terms(pb_loss *l, pb_ctx *ctx, pb_err *err) {
  l->term_loss = ctx->ops->alloc(ctx, (size_t)l->nterms * sizeof(float), "the loss", err);
  l->owns_term_loss = l->term_loss != NULL;
  return l->term_loss ? PB_OK : PB_ERR;
}

void pb_loss_free(pb_loss *l, pb_ctx *ctx) {
  if (!l) return;
  if (l->vt && l->vt->free) l->vt->free(l, ctx);
  if (l->owns_term_loss) ctx->ops->free(ctx, l->term_loss);
  free(l->priv);
  free(l);
}

/* [train] loss = triplet and its triplet_* keys, over embeddings of k per sample; the batches
 * it reserves for are the training micro-batches ([train] batch_size, at most max_n). */
static pb_loss *triplet_from_config(const pb_config *cfg, pb_ctx *ctx, int k, int nheads, int max_n, pb_err *err) {
  if (nheads || pb_config_float(cfg, "train", "label_smoothing") > 0) {
    pb_err_set(err, "%s: [train] loss = triplet trains an embedding ([model] embedding_dim); %s", pb_config_origin(cfg, "train", "loss"),
               nheads ? "[model] heads are classifiers" : "[train] label_smoothing applies to loss = ce only");
    return NULL;
  }
  pb_triplet_params p = {0};
  p.mode = strcmp(pb_config_str(cfg, "train", "triplet_mining"), "all") ? PB_TRIPLET_BATCH_HARD : PB_TRIPLET_BATCH_ALL;
  p.reduction = strcmp(pb_config_str(cfg, "train", "triplet_reduction"), "mean_nonzero") ? PB_TRIPLET_MEAN_ALL
                                                                                        : PB_TRIPLET_MEAN_NONZERO;
  p.soft = pb_config_bool(cfg, "train", "triplet_soft");
  p.squared = !strcmp(pb_config_str(cfg, "train", "triplet_distance"), "squared");
  p.margin = (float)pb_config_float(cfg, "train", "triplet_margin");
  int batch = (int)PB_MIN(pb_config_int(cfg, "train", "batch_size"), (int64_t)max_n);
  return pb_loss_triplet(ctx, k, &p, PB_MAX(batch, 1), err);
}

pb_loss *pb_loss_from_config(const pb_config *cfg, pb_ctx *ctx, int k, const pb_head *heads, int nheads, int max_n,
                             pb_err *err) {
  float smoothing = (float)pb_config_float(cfg, "train", "label_smoothing");
  const char *kind = pb_config_str(cfg, "train", "loss");
  int multi = pb_config_bool(cfg, "data", "multilabel"), inclusive = !strcmp(kind, "inclusive");
  if (multi || inclusive) {
    const char *why = !multi ? "loss = inclusive is a multi-label loss: set [data] multilabel = true (a csv label column "
                               "of space-separated labels)"
                      : strcmp(kind, "bce") && !inclusive ? "[data] multilabel = true trains with loss = bce or inclusive"
                      : nheads                            ? "[data] multilabel is for one head ([model] heads is set)"
                      : smoothing > 0                     ? "[train] label_smoothing applies to loss = ce only"
                                                          : NULL;
    if (why) {
      pb_err_set(err, "%s: [train] loss = %s: %s", pb_config_origin(cfg, "train", "loss"), kind, why);
      return NULL;
    }
    return pb_loss_multilabel(ctx, k, inclusive, max_n, err);
  }
  if (!strcmp(kind, "triplet")) return triplet_from_config(cfg, ctx, k, nheads, max_n, err);
  int bce = !strcmp(kind, "bce");
  if (bce && smoothing > 0) {
    pb_err_set(err, "[train] label_smoothing applies to loss = ce only (loss = bce was set)");
    return NULL;
  }
  if (!nheads) return bce ? pb_loss_bce(ctx, k, max_n, err) : pb_loss_xent(ctx, k, smoothing, max_n, err);
  if (bce) {
    pb_err_set(err, "[train] loss = bce is for one head; [model] heads trains each head with softmax "
                    "cross-entropy (loss = ce)");
    return NULL;
  }
  pb_loss_term terms[PB_LOSS_MAX_TERMS];
  pb_loss *part[PB_LOSS_MAX_TERMS] = {0};
  PB_ASSERT(nheads <= PB_LOSS_MAX_TERMS);
  for (int h = 0; h < nheads; h++) {
    memset(&terms[h], 0, sizeof terms[h]);
    snprintf(terms[h].name, sizeof terms[h].name, "%s", heads[h].name);
    terms[h].weight = heads[h].weight;
    terms[h].classes = heads[h].classes;
    terms[h].offset = heads[h].offset;
    if (!(part[h] = pb_loss_xent(ctx, heads[h].classes, smoothing, max_n, err))) {
      for (int j = 0; j < h; j++) pb_loss_free(part[j], ctx);
      return NULL;
    }
  }
  return pb_loss_sum(ctx, nheads, terms, part, err);
}
