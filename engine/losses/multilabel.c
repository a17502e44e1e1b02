/* multilabel.c: the multi-label losses (loss.h pb_loss_multilabel): binary cross-entropy on
 * multi-hot targets, and the Inclusive Images loss (../shared/REFERENCES.md, "Inclusive Images":
 * for each positive label, softmax cross-entropy over [that positive's logit, every negative's
 * logit], averaged over the positives of the batch). The labels arrive as k label ROWS [k, n]
 * (row c: 1 where sample i has label c, else 0; the loader's head-major rows, pool.h), turned
 * into multi-hot targets [n, k] on the device by the multihot op; the math is the op pairs
 * pb_bce_logits_* / pb_inclusive_loss_* through the context's ops table. The test-time-view
 * average runs on the host in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/device/backend.h"
#include "engine/losses/loss.h"

typedef struct {
  int inclusive;  /* 0: BCE */
  float *targets; /* [max_n, k] multi-hot targets on the device */
} ml_priv;

/* The positives of the batch and the samples with at least one (host label rows [k, n]). */
static void count_positives(const int32_t *y_host, int n, int k, long *npos, long *nwith) {
  *npos = *nwith = 0;
  for (int i = 0; i < n; i++) {
    long c = 0;
    for (int j = 0; j < k; j++) c += y_host[(size_t)j * n + i] > 0;
    *npos += c;
    *nwith += c > 0;
  }
}

static void ml_compute(pb_loss *l, pb_ctx *ctx, const float *logits, const int32_t *y, const int32_t *y_host, int n,
                       int accum, float *dlogits, int32_t *pred, int *correct, long *seen) {
  (void)correct; /* no training accuracy: the evaluation reports F2, mAP and precision at 1 */
  const ml_priv *p = l->priv;
  const pb_backend *ops = ctx->ops;
  int k = l->k;
  float w = l->term[0].weight;
  ops->argmax_count(ctx, pred, NULL, logits, NULL, n, k); /* the top label */
  ops->multihot(ctx, p->targets, y, n, k);
  if (!p->inclusive) {
    /* nn.BCEWithLogitsLoss(reduction='mean') over [n, k]; the term's sum is per sample (the mean
     * over its classes), so the logged loss is that mean too */
    if (seen) seen[0] += n;
    float scale = w / ((float)n * (float)accum * (float)k);
    ops->bce_logits(ctx, l->term_loss, dlogits, logits, p->targets, n, k, scale);
    ops->scale(ctx, l->term_loss, 1.0f / (float)k, 1);
    return;
  }
  /* the solution's objective: the sum over every positive of the batch / their count; the
   * logged loss is that mean too (seen counts positives) */
  long npos, nwith;
  count_positives(y_host, n, k, &npos, &nwith);
  if (seen) seen[0] += npos;
  float scale = npos ? w / ((float)npos * (float)accum) : 0.0f;
  ops->inclusive_loss(ctx, l->term_loss, NULL, dlogits, logits, p->targets, n, k, scale);
}

/* Test-time views on the host: the loss of each sample's mean over its views (BCE: of the mean
 * sigmoid probabilities, as the single-label BCE averages probabilities; inclusive: of the mean
 * logits), pred = the top label of the mean logits. Returns the loss sum in the term's units. */
static double ml_views(pb_loss *l, const float *logits, const int32_t *y_host, int n, int views, int32_t *pred) {
  const ml_priv *p = l->priv;
  int k = l->k;
  double *z = pb_xmalloc((size_t)k * sizeof(double)), *q = pb_xmalloc((size_t)k * sizeof(double)), loss = 0;
  const double tiny = 1e-300;
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < k; j++) z[j] = q[j] = 0;
    for (int v = 0; v < views; v++) {
      const float *r = logits + ((size_t)i * views + v) * k;
      for (int j = 0; j < k; j++) z[j] += (double)r[j] / views, q[j] += 1.0 / (1.0 + exp(-(double)r[j])) / views;
    }
    int32_t b = 0;
    for (int j = 1; j < k; j++)
      if (z[j] > z[b]) b = j;
    pred[i] = b;
    if (!p->inclusive) {
      double s = 0;
      for (int j = 0; j < k; j++) s -= y_host[(size_t)j * n + i] > 0 ? log(PB_MAX(q[j], tiny)) : log(PB_MAX(1 - q[j], tiny));
      loss += s / k;
      continue;
    }
    double m = z[0], sneg = 0;
    for (int j = 1; j < k; j++) m = z[j] > m ? z[j] : m;
    for (int j = 0; j < k; j++)
      if (y_host[(size_t)j * n + i] <= 0) sneg += exp(z[j] - m);
    for (int j = 0; j < k; j++)
      if (y_host[(size_t)j * n + i] > 0) loss += log(exp(z[j] - m) + sneg) - (z[j] - m);
  }
  free(z);
  free(q);
  return loss;
}

static void ml_free(pb_loss *l, pb_ctx *ctx) {
  ml_priv *p = l->priv;
  if (p) ctx->ops->free(ctx, p->targets);
}

static const pb_loss_vt ml_vt = {"multilabel", ml_compute, ml_views, ml_free};

pb_loss *pb_loss_multilabel(pb_ctx *ctx, int k, int inclusive, int max_n, pb_err *err) {
  pb_loss *l = pb_xcalloc(1, sizeof *l);
  ml_priv *p = pb_xcalloc(1, sizeof *p);
  l->vt = &ml_vt;
  l->priv = p;
  l->k = k;
  l->nterms = 1;
  l->label_rows = k;
  l->term[0] = (pb_loss_term){.name = "", .weight = 1.0f, .classes = k, .offset = 0, .multilabel = 1};
  p->inclusive = inclusive;
  if (pb_loss_alloc_terms(l, ctx, err) ||
      !(p->targets = ctx->ops->alloc(ctx, (size_t)max_n * k * sizeof(float), "the loss targets", err))) {
    pb_loss_free(l, ctx);
    return NULL;
  }
  return l;
}
