/* evaluate.c: the evaluation pass (evaluate.h). */
#include "engine/run/evaluate.h"

#include "engine/dist/dist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/device/backend.h"
#include "engine/run/verify.h"
#include "metrics/calibration.h"
#include "metrics/groups.h"
#include "metrics/mlscore.h"
#include "metrics/verification.h"

_Static_assert(PB_DATA_MAX_GROUPINGS <= PB_CELLS_MAX_GROUPINGS, "every grouping of a dataset fits the metric");

void pb_eval_free(pb_eval *e) {
  free(e->pred);
  free(e->labels);
  free(e->aligned);
  free(e->groups);
  free(e->groupings);
  free(e->sample);
  free(e->emb);
  free(e->conf);
  free(e->scores);
  free(e->truth);
  if (e->verif) pb_verif_result_free(e->verif);
  free(e->verif);
  if (e->overlap) pb_verif_overlap_free(e->overlap);
  free(e->overlap);
  memset(e, 0, sizeof *e);
}

/* The scores of a batch's n images into out->scores (and out->truth) at rows out->n..: a
 * multi-label model's per-label scores, or softmax probabilities, each averaged over the
 * test-time views. logits: host room for [n, k]. */
static void batch_scores(pb_run *r, const pb_dataset *d, const pb_batch *b, int n, int k, float *logits, pb_eval *out) {
  int views = r->tr->last_view_logits ? r->views : 1;
  int kind = r->multilabel ? r->ml_kind : PB_MLSCORE_SOFTMAX;
  float *dst = out->scores + (size_t)out->n * k;
  if (views == 1) { /* logits: the batch's, downloaded by the caller */
    pb_ml_scores(dst, logits, n, k, kind, r->ml_top_k ? r->ml_top_k : 1);
  } else {
    float *one = pb_xmalloc((size_t)k * sizeof(float));
    for (int i = 0; i < n; i++) {
      double *acc = pb_xcalloc((size_t)k, sizeof(double));
      for (int v = 0; v < views; v++) {
        pb_ml_scores(one, r->tr->last_view_logits + ((size_t)i * views + v) * k, 1, k, kind,
                     r->ml_top_k ? r->ml_top_k : 1);
        for (int j = 0; j < k; j++) acc[j] += one[j];
      }
      for (int j = 0; j < k; j++) dst[(size_t)i * k + j] = (float)(acc[j] / views);
      free(acc);
    }
    free(one);
  }
  if (!out->truth) return;
  for (int i = 0; i < n; i++) {
    const uint8_t *t = d->multi + (size_t)b->sample[i] * d->multi_k;
    uint8_t *o = out->truth + (size_t)(out->n + i) * k;
    for (int j = 0; j < k; j++) o[j] = j < d->multi_k && t[j] != 0, out->ml_positives += o[j];
  }
}

/* With test-time views (one head): conf[i] = the largest of image i's softmax probabilities
 * averaged over its views (in double; the prediction is their argmax, loss.h views). */
static void view_conf(pb_run *r, int n, int k, float *conf) {
  float *one = pb_xmalloc((size_t)k * sizeof(float));
  double *acc = pb_xmalloc((size_t)k * sizeof(double));
  int views = r->views;
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < k; j++) acc[j] = 0;
    for (int v = 0; v < views; v++) {
      pb_ml_scores(one, r->tr->last_view_logits + ((size_t)i * views + v) * k, 1, k, PB_MLSCORE_SOFTMAX, 1);
      for (int j = 0; j < k; j++) acc[j] += one[j];
    }
    double best = acc[0];
    for (int j = 1; j < k; j++) best = acc[j] > best ? acc[j] : best;
    conf[i] = (float)(best / views);
  }
  free(one);
  free(acc);
}

int pb_run_evaluate(pb_run *r, const pb_dataset *d, pb_eval *out, pb_err *err) {
  memset(out, 0, sizeof *out);
  int nt = r->nterms, eb = r->eval_batch;
  long cap = PB_MAX(d->n, 1);
  out->nterms = nt;
  out->cap = cap;
  out->pred = pb_xmalloc((size_t)nt * cap * sizeof(int32_t));
  out->labels = pb_xmalloc((size_t)nt * cap * sizeof(int32_t));
  if (d->aligned) out->aligned = pb_xmalloc((size_t)cap);
  if (d->groups) out->groups = pb_xmalloc((size_t)cap * sizeof(int32_t));
  out->ngroupings = d->ngroupings;
  if (d->groupings) out->groupings = pb_xmalloc((size_t)cap * d->ngroupings * sizeof(int32_t));
  out->min_cell = r->min_cell;
  out->ml_inclusive = r->ml_inclusive;
  out->ml_threshold = r->ml_threshold;
  out->ml_min_labels = r->ml_min_labels, out->ml_max_labels = r->ml_max_labels;
  out->sample = pb_xmalloc((size_t)cap * sizeof(int32_t));
  const int ed = r->tr->vt->embed ? r->model->embed_dim : 0;
  if (ed) {
    PB_ASSERT(r->views == 1); /* refused at init: no test-time views of embeddings */
    out->emb_dim = ed;
    out->emb = pb_xmalloc((size_t)cap * ed * sizeof(float));
  }
  int32_t *pred = pb_xmalloc((size_t)eb * nt * sizeof(int32_t)), *idx = pb_xmalloc((size_t)cap * sizeof(int32_t));
  const int ktot = pb_model_out(r->model)[0] * pb_model_out(r->model)[1] * pb_model_out(r->model)[2];
  float *logits = NULL; /* host [eb, ktot]: the confidences' source */
  const int multi = r->multilabel && !ed;
  /* per-image confidences (calibration): of each head's logits, or with test-time views of the
   * one head's view-averaged softmax; multi-label models have no single confidence */
  if (!ed && !multi && (r->views == 1 || (nt == 1 && r->nmodels == 1))) {
    out->conf = pb_xmalloc((size_t)nt * cap * sizeof(float));
    logits = pb_xmalloc((size_t)eb * ktot * sizeof(float));
  }
  if (!ed && (multi || (r->keep_scores && nt == 1)) && r->nmodels == 1) {
    out->score_k = ktot;
    out->scores = pb_xmalloc((size_t)cap * ktot * sizeof(float));
    if (multi) out->truth = pb_xmalloc((size_t)cap * ktot);
    if (!logits) logits = pb_xmalloc((size_t)eb * ktot * sizeof(float));
  }
  /* data-parallel (r->shard_eval): this rank's share of the set, gathered on rank 0 below */
  const pb_dist *w = pb_dist_world();
  int shard = r->shard_eval && w->size > 1;
  int64_t lo = 0, hi = d->n;
  if (shard) pb_dist_share(d->n, w->rank, w->size, &lo, &hi);
  for (int64_t i = lo; i < hi; i++) idx[i - lo] = (int32_t)i;
  pb_run_pass(r, d, 0, idx, (int)(hi - lo), eb, 0, 0);
  int rc = PB_OK;
  for (pb_batch *b; (b = pb_loader_next(r->loader));) {
    float *x;
    int32_t *y;
    const int32_t *yh;
    if (r->stop && *r->stop) {
      pb_loader_release(r->loader, b);
      rc = PB_STOPPED;
      break;
    }
    if ((rc = pb_run_batch(r, d, b, &x, &y, &yh, err))) break;
    int n = b->n;
    if (!n) continue;
    double loss[PB_LOSS_MAX_TERMS] = {0};
    if (ed) { /* the embeddings: no prediction, no loss (the triplet loss is a training batch's) */
      r->tr->vt->embed(r->tr, x, n, out->emb + (size_t)out->n * ed);
      memset(pred, 0xff, (size_t)nt * n * sizeof(int32_t));
    } else {
      pb_trainer_eval(r->tr, x, y, yh, n, b->views, pred, loss);
      if (out->conf && !r->tr->last_logits && !r->tr->last_view_logits) { /* kept to itself */
        free(out->conf);
        out->conf = NULL;
      }
      if (out->scores && !r->tr->last_logits && !r->tr->last_view_logits) {
        free(out->scores);
        free(out->truth);
        out->scores = NULL, out->truth = NULL, out->score_k = 0;
      }
      /* the logits on the host once, for the scores and the confidences */
      if ((out->scores || out->conf) && r->tr->last_logits)
        r->ctx.ops->download(&r->ctx, logits, r->tr->last_logits, (size_t)n * ktot * sizeof(float));
      if (out->scores) batch_scores(r, d, b, n, ktot, logits, out);
      if (out->conf && !r->tr->last_logits) {
        view_conf(r, n, ktot, out->conf + out->n);
      } else if (out->conf) {
        for (int t = 0; t < nt; t++) {
          const pb_loss_term *tm = &r->tr->terms.term[t];
          for (int i = 0; i < n; i++) {
            int32_t p;
            out->conf[t * cap + out->n + i] =
                tm->classes ? pb_calib_softmax_conf(logits + (size_t)n * tm->offset + (size_t)i * tm->classes,
                                                    tm->classes, &p)
                            : NAN;
          }
        }
      }
    }
    for (int t = 0; t < nt; t++) {
      out->loss[t] += loss[t];
      memcpy(out->pred + t * cap + out->n, pred + (size_t)t * n, (size_t)n * sizeof(int32_t));
      if (r->tr->terms.term[t].multilabel) /* no single label: F2, mAP and precision at 1 come from the scores */
        for (int i = 0; i < n; i++) out->labels[t * cap + out->n + i] = -1;
      else
        memcpy(out->labels + t * cap + out->n, yh + (size_t)r->tr->terms.label_row[t] * n, (size_t)n * sizeof(int32_t));
    }
    if (out->aligned) memcpy(out->aligned + out->n, b->aligned, (size_t)n);
    if (out->groups) memcpy(out->groups + out->n, b->groups, (size_t)n * sizeof(int32_t));
    memcpy(out->sample + out->n, b->sample, (size_t)n * sizeof(int32_t));
    for (int i = 0; out->groupings && i < n; i++) /* bad images are left out: by dataset index */
      memcpy(out->groupings + (out->n + i) * d->ngroupings, d->groupings + (size_t)b->sample[i] * d->ngroupings,
             (size_t)d->ngroupings * sizeof(int32_t));
    out->n += n;
  }
  free(pred);
  free(idx);
  free(logits);
  if (rc) { /* an abandoned pass leaves the loader idle */
    pb_run_pass_stop(r);
    return rc;
  }
  if (shard && pb_run_eval_gather(r, d, out, err)) return PB_ERR;
  if (shard && w->rank > 0) return PB_OK; /* rank 0 holds the set's figures */
  /* a pass that read no image has no accuracy to report (it would print nan and carry on) */
  if (out->n == 0 && d->n > 0)
    return pb_err_set(err, "no %s image could be read (%ld skipped; the first: %s)", d->name, r->pass_bad,
                      r->nfirst_bad ? r->first_bad[0] : "?");
  return ed && !r->no_verify ? pb_run_verify(r, d, out, err) : PB_OK;
}

void pb_eval_class_counts(const pb_eval *e, int t, int k, pb_class_counts *out) {
  pb_class_counts_init(out, k);
  pb_class_counts_add(out, e->pred + t * e->cap, e->labels + t * e->cap, (int)e->n);
  out->loss_sum = e->loss[t];
}

void pb_eval_bias_counts(const pb_eval *e, pb_cls_counts *out) {
  memset(out, 0, sizeof *out);
  pb_cls_counts_add(out, e->pred, e->labels, e->aligned, (int)e->n);
  out->loss_sum = e->loss[0];
}

void pb_eval_cell_acc(const pb_eval *e, int t, int k, pb_cell_acc *out) {
  PB_ASSERT(e->ngroupings >= 1);
  pb_cell_accuracy(e->pred ? e->pred + t * e->cap : NULL, e->labels ? e->labels + t * e->cap : NULL, e->groupings,
                   e->n, e->ngroupings, k, PB_MAX(e->min_cell, 1), out);
}

void pb_eval_multilabel(const pb_eval *e, pb_eval_ml *out) {
  PB_ASSERT(e->truth && e->scores);
  memset(out, 0, sizeof *out);
  int k = e->score_k;
  long n = e->n, hit = 0;
  for (long i = 0; i < n; i++) {
    const float *s = e->scores + (size_t)i * k;
    const uint8_t *t = e->truth + (size_t)i * k;
    int any = 0, top = 0;
    for (int j = 0; j < k; j++) {
      any |= t[j];
      if (s[j] > s[top]) top = j;
    }
    out->n_with_positive += any;
    hit += any && t[top];
  }
  out->p1 = pb_ratio(hit, out->n_with_positive);
  long den = e->ml_inclusive ? e->ml_positives : n;
  out->loss = den ? e->loss[0] / (double)den : NAN;
  if (n) {
    pb_ml_f2_sweep(e->scores, e->truth, n, k, &out->sweep);
    out->f2_select =
        pb_ml_f2_mean_select(e->scores, e->truth, n, k, e->ml_threshold, e->ml_min_labels, e->ml_max_labels);
  } else {
    out->sweep.best_f2 = out->sweep.best_t = out->f2_select = NAN;
  }
  pb_ml_ranking_init(&out->rank, k);
  pb_ml_ranking_compute(&out->rank, e->scores, e->truth, n, k);
}

void pb_eval_ml_free(pb_eval_ml *m) { pb_ml_ranking_free(&m->rank); }

int pb_eval_bounty(const pb_terms *l, const pb_eval *e, double *score) {
  static const char *names[3] = {"skin", "age", "gender"};
  double acc[3], disp[3];
  int found = 0;
  for (int h = 0; h < 3; h++)
    for (int t = 0; t < l->n; t++) {
      if (!l->term[t].classes || strcmp(l->term[t].name, names[h])) continue;
      pb_class_counts c;
      pb_eval_class_counts(e, t, l->term[t].classes, &c);
      acc[h] = pb_ratio(c.correct, c.n), disp[h] = pb_class_counts_disparity(&c);
      pb_class_counts_free(&c);
      found++;
    }
  if (found != 3) return 0;
  *score = pb_bias_bounty_score(acc[0], disp[0], acc[1], disp[1], acc[2], disp[2]);
  return 1;
}
