/* xent.c: the one-term losses (loss.h): softmax cross-entropy with label smoothing and binary
 * cross-entropy on one-hot targets. The math is the op pair pb_softmax_xent_* / pb_bce_logits_*
 * (kernels/cpu/loss.c, kernels/cuda/loss.cu), reached through the context's ops table; the
 * test-time-augmentation average runs on the host in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/device/backend.h"
#include "engine/losses/loss.h"

typedef struct {
  int bce;
  float smoothing; /* ce */
  float *targets;  /* bce: [max_n, k] one-hot targets on the device */
} xent_priv;

/* Labelled rows of one term (labels < 0 are missing). */
static long labelled(const int32_t *y_host, int n) {
  long c = 0;
  for (int i = 0; i < n; i++) c += y_host[i] >= 0;
  return c;
}

static void xent_compute(pb_loss *l, pb_ctx *ctx, const float *logits, const int32_t *y, const int32_t *y_host, int n,
                         int accum, float *dlogits, int32_t *pred, int *correct, long *seen) {
  const xent_priv *p = l->priv;
  const pb_backend *ops = ctx->ops;
  int k = l->k;
  long cnt = labelled(y_host, n);
  if (seen) seen[0] += cnt;
  ops->argmax_count(ctx, pred, correct, logits, y, n, k);
  /* weight / (labelled * accum): the mean over the term's labelled samples of one micro-batch */
  float scale = cnt ? l->term[0].weight / ((float)cnt * (float)accum) : 0.0f;
  if (!p->bce) {
    ops->softmax_xent(ctx, l->term_loss, NULL, dlogits, logits, y, n, k, p->smoothing, scale);
    return;
  }
  /* BCE averages over the classes too, as nn.BCEWithLogitsLoss(reduction='mean'). */
  ops->onehot(ctx, p->targets, y, n, k);
  ops->bce_logits(ctx, l->term_loss, dlogits, logits, p->targets, n, k, scale / (float)k);
  ops->scale(ctx, l->term_loss, 1.0f / (float)k, 1);
}

static double xent_views(pb_loss *l, const float *logits, const int32_t *y_host, int n, int views, int32_t *pred) {
  const xent_priv *p = l->priv;
  int k = l->k;
  double *q = pb_xmalloc((size_t)k * sizeof(double)), loss = 0;
  const double tiny = 1e-300; /* log of a probability that underflowed */
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < k; j++) q[j] = 0;
    for (int v = 0; v < views; v++) {
      const float *r = logits + ((size_t)i * views + v) * k;
      if (p->bce) {
        for (int j = 0; j < k; j++) q[j] += 1.0 / (1.0 + exp(-(double)r[j])) / views;
        continue;
      }
      double mx = r[0], s = 0;
      for (int j = 1; j < k; j++) mx = r[j] > mx ? r[j] : mx;
      for (int j = 0; j < k; j++) s += exp((double)r[j] - mx);
      for (int j = 0; j < k; j++) q[j] += exp((double)r[j] - mx) / s / views;
    }
    int32_t b = 0;
    for (int j = 1; j < k; j++)
      if (q[j] > q[b]) b = j;
    pred[i] = b;
    int y = y_host[i];
    if (p->bce) {
      double s = 0;
      for (int j = 0; j < k; j++) s -= j == y ? log(PB_MAX(q[j], tiny)) : log(PB_MAX(1 - q[j], tiny));
      loss += s / k;
    } else {
      double sm = 0;
      if (p->smoothing > 0)
        for (int j = 0; j < k; j++) sm -= log(PB_MAX(q[j], tiny));
      loss += -(1 - p->smoothing) * log(PB_MAX(q[y], tiny)) + p->smoothing / k * sm;
    }
  }
  free(q);
  return loss;
}

static void xent_free(pb_loss *l, pb_ctx *ctx) {
  xent_priv *p = l->priv;
  if (p) ctx->ops->free(ctx, p->targets);
}

static const pb_loss_vt xent_vt = {"xent", xent_compute, xent_views, xent_free};

static pb_loss *make(pb_ctx *ctx, int k, int bce, float smoothing, int max_n, pb_err *err) {
  pb_loss *l = pb_xcalloc(1, sizeof *l);
  xent_priv *p = pb_xcalloc(1, sizeof *p);
  l->vt = &xent_vt;
  l->priv = p;
  l->k = k;
  l->nterms = 1;
  l->term[0] = (pb_loss_term){.name = "", .weight = 1.0f, .classes = k, .offset = 0};
  p->bce = bce;
  p->smoothing = smoothing;
  if (pb_loss_alloc_terms(l, ctx, err) ||
      (bce && !(p->targets = ctx->ops->alloc(ctx, (size_t)max_n * k * sizeof(float), "the loss targets", err)))) {
    pb_loss_free(l, ctx);
    return NULL;
  }
  return l;
}

pb_loss *pb_loss_xent(pb_ctx *ctx, int k, float smoothing, int max_n, pb_err *err) {
  return make(ctx, k, 0, smoothing, max_n, err);
}

pb_loss *pb_loss_bce(pb_ctx *ctx, int k, int max_n, pb_err *err) { return make(ctx, k, 1, 0.0f, max_n, err); }
