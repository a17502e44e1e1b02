/* predict.c: the prediction pass (predict.h). */
#include "engine/run/predict.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/device/backend.h"
#include "loaders/image.h"

void pb_predict_free(pb_predict *p) {
  if (!p) return;
  free(p->probs);
  free(p->top);
  if (p->reason)
    for (long i = 0; i < p->n; i++) free(p->reason[i]);
  free(p->reason);
  memset(p, 0, sizeof *p);
}

/* Sample s's row from its views' logits lg [views, k]: softmax probabilities (in double) or
 * the per-label scores, averaged over the views; top: the argmax of the averaged softmax. */
static void average_views(const pb_predict_params *p, const float *lg, int views, int k, float *scratch,
                          double *acc, float *row, int32_t *top) {
  memset(acc, 0, (size_t)k * sizeof(double));
  for (int v = 0; v < views; v++) {
    const float *x = lg + (size_t)v * k;
    if (p->multilabel) {
      pb_ml_scores(scratch, x, 1, k, p->kind, p->top_k);
      for (int j = 0; j < k; j++) acc[j] += scratch[j];
      continue;
    }
    double mx = x[0], s = 0;
    for (int j = 1; j < k; j++) mx = x[j] > mx ? x[j] : mx;
    for (int j = 0; j < k; j++) s += exp((double)x[j] - mx);
    for (int j = 0; j < k; j++) acc[j] += exp((double)x[j] - mx) / s;
  }
  int best = 0;
  for (int j = 0; j < k; j++) {
    acc[j] /= views;
    row[j] = (float)acc[j];
    if (acc[j] > acc[best]) best = j;
  }
  *top = p->multilabel || isnan(acc[best]) ? -1 : best;
}

/* Why sample i could not be read: its file decoded again here (the loader keeps a few messages
 * per batch only). A file that decodes now was still left out by the loader: that is said. */
static char *failure_reason(const pb_run *r, const pb_dataset *d, int i, const char *loader_msg) {
  pb_decoder dec;
  pb_decoder_init(&dec, 0, pb_config_bool(r->cfg, "data", "convert_channels"));
  int64_t mp = pb_config_int(r->cfg, "loader", "max_image_pixels");
  if (mp > 0) dec.max_pixels = mp;
  pb_image im = {0};
  pb_err e = {{0}};
  char buf[700];
  const char *path = d->paths[i];
  if (pb_image_load(&dec, path, d->c, 0, 0, &im, &e)) {
    const char *m = e.msg; /* the reason without the path the message starts with */
    size_t L = strlen(path);
    if (!strncmp(m, path, L) && m[L] == ':') m += L + 1 + (m[L + 1] == ' ');
    snprintf(buf, sizeof buf, "%s", m);
  } else {
    snprintf(buf, sizeof buf, "left out by the loader%s%s", loader_msg ? ": " : "", loader_msg ? loader_msg : "");
  }
  pb_image_free(&im);
  pb_decoder_free(&dec);
  return pb_xstrdup(buf);
}

int pb_run_predict(pb_run *r, const pb_dataset *d, const pb_predict_params *p, pb_predict *out, pb_err *err) {
  memset(out, 0, sizeof *out);
  pb_model *m = r->model;
  if (m->nheads)
    return pb_err_set(err, "plumb predict: a multi-head model ([model] heads) has one prediction per head; not "
                           "supported yet (plumb eval --predictions writes each head's)");
  if (m->embed_dim)
    return pb_err_set(err, "plumb predict: an embedding model ([model] embedding_dim) predicts no classes; use "
                           "plumb embed");
  const int *o = pb_model_out(m);
  const int k = o[0] * o[1] * o[2], eb = r->eval_batch;
  long n = d->n;
  out->n = n, out->k = k;
  out->probs = pb_xmalloc((size_t)PB_MAX(n, 1) * k * sizeof(float));
  out->top = pb_xmalloc((size_t)PB_MAX(n, 1) * sizeof(int32_t));
  out->reason = pb_xcalloc((size_t)PB_MAX(n, 1), sizeof(char *));
  uint8_t *done = pb_xcalloc((size_t)PB_MAX(n, 1), 1);
  for (size_t j = 0; j < (size_t)n * k; j++) out->probs[j] = NAN;
  for (long i = 0; i < n; i++) out->top[i] = -1;
  float *logits = pb_xmalloc((size_t)eb * r->views * k * sizeof(float)), *scratch = pb_xmalloc((size_t)k * sizeof(float));
  double *acc = pb_xmalloc((size_t)k * sizeof(double));
  int32_t *idx = pb_xmalloc((size_t)PB_MAX(n, 1) * sizeof(int32_t));
  for (long i = 0; i < n; i++) idx[i] = (int32_t)i;
  /* every failure is reported and kept by the caller: the bound on skipped images is not applied */
  double max_bad = r->max_bad_fraction;
  r->max_bad_fraction = 1.0;
  char first_msg[600] = "";
  pb_run_pass(r, d, 0, idx, (int)n, eb, 0, 0);
  int rc = PB_OK;
  for (pb_batch *b; (b = pb_loader_next(r->loader));) {
    float *x;
    int32_t *y;
    const int32_t *yh;
    if (r->stop && *r->stop) {
      pb_loader_release(r->loader, b);
      rc = PB_PREDICT_STOPPED;
      break;
    }
    if (b->nmsg && !first_msg[0]) snprintf(first_msg, sizeof first_msg, "%s", b->msg[0]);
    if ((rc = pb_run_batch(r, d, b, &x, &y, &yh, err))) break;
    int nb = b->n, views = PB_MAX(b->views, 1);
    PB_ASSERT(views <= r->views);
    if (!nb) continue;
    const float *lg = pb_model_forward(m, x, nb * views, 0);
    r->ctx.ops->download(&r->ctx, logits, lg, (size_t)nb * views * k * sizeof(float));
    for (int i = 0; i < nb; i++) {
      int32_t s = b->sample[i];
      average_views(p, logits + (size_t)i * views * k, views, k, scratch, acc, out->probs + (size_t)s * k,
                    &out->top[s]);
      done[s] = 1;
    }
  }
  r->max_bad_fraction = max_bad;
  if (rc) pb_run_pass_stop(r); /* an abandoned pass leaves the loader idle */
  for (long i = 0; rc == PB_OK && i < n; i++) {
    if (done[i]) {
      out->npred++;
      continue;
    }
    out->reason[i] = failure_reason(r, d, (int)i, first_msg[0] ? first_msg : NULL);
    out->nfailed++;
  }
  if (rc == PB_OK && n > 0 && out->npred == 0) {
    long first = 0;
    while (first < n - 1 && !out->reason[first]) first++;
    rc = pb_err_set(err, "none of the %ld images could be read (the first: %s: %s)", n, d->paths[first],
                    out->reason[first] ? out->reason[first] : "?");
  }
  free(done);
  free(logits);
  free(scratch);
  free(acc);
  free(idx);
  return rc;
}
