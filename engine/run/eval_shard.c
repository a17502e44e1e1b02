/* eval_shard.c: a data-parallel run's evaluation (evaluate.h): every rank evaluates its
 * contiguous share of the set (pb_dist_share of the dataset order), then rank 0 gathers each
 * image's figures in rank order, which is the dataset's order, so that its pb_eval holds what one
 * process evaluating the whole set holds: every image once, none dropped at the tail. The sums
 * (losses, positives, bad images) are added over the ranks. Before it, rank 0's model buffers
 * (batch-norm running statistics) go to every rank, so that all evaluate the same model. */
#include <stdlib.h>
#include <string.h>

#include "engine/device/backend.h"
#include "engine/dist/dist.h"
#include "engine/run/evaluate.h"

int pb_run_dist_sync_buffers(pb_run *r, pb_err *err) {
  if (pb_dist_world()->size == 1) return PB_OK;
  for (int i = 0; i < r->nmodels; i++) {
    pb_model *m = r->models[i];
    if (!m->nbuffers) continue;
    float *h = pb_xmalloc(m->nbuffers * sizeof(float));
    r->ctx.ops->download(&r->ctx, h, m->buffers, m->nbuffers * sizeof(float));
    int rc = pb_dist_bcast(h, m->nbuffers * sizeof(float), 0, "the model's buffers", err);
    if (rc == PB_OK) r->ctx.ops->upload(&r->ctx, m->buffers, h, m->nbuffers * sizeof(float));
    free(h);
    if (rc) return PB_ERR;
  }
  return PB_OK;
}

/* One per-image array: n_r rows of `row` bytes at local on each rank, into dst on rank 0 (rows of
 * the whole set, rank 0's first). */
static int gather_rows(void *dst, const void *local, size_t row, const int64_t *ns, const char *what, pb_err *err) {
  const pb_dist *w = pb_dist_world();
  size_t total = 0, *counts = pb_xmalloc((size_t)w->size * sizeof *counts);
  for (int j = 0; j < w->size; j++) counts[j] = (size_t)ns[j] * row, total += counts[j];
  void *tmp = w->rank == 0 ? pb_xmalloc(PB_MAX(total, 1)) : NULL;
  int rc = pb_dist_gatherv(local, counts[w->rank], tmp, counts, what, err);
  if (rc == PB_OK && w->rank == 0) memcpy(dst, tmp, total);
  free(tmp);
  free(counts);
  return rc;
}

int pb_run_eval_gather(pb_run *r, const pb_dataset *d, pb_eval *e, pb_err *err) {
  const pb_dist *w = pb_dist_world();
  int N = w->size, nt = e->nterms;
  int64_t *ns = pb_xmalloc((size_t)N * sizeof *ns), mine = e->n;
  int rc = pb_dist_allgather(&mine, ns, sizeof mine, "the evaluation's image counts", err);
  int64_t total = 0;
  for (int j = 0; j < N; j++) total += ns[j];
  const char *what = "the evaluation's per-image figures";
  for (int t = 0; t < nt && rc == PB_OK; t++) {
    rc = gather_rows(e->pred + t * e->cap, e->pred + t * e->cap, sizeof(int32_t), ns, what, err);
    if (rc == PB_OK) rc = gather_rows(e->labels + t * e->cap, e->labels + t * e->cap, sizeof(int32_t), ns, what, err);
    if (rc == PB_OK && e->conf) rc = gather_rows(e->conf + t * e->cap, e->conf + t * e->cap, sizeof(float), ns, what, err);
  }
  if (rc == PB_OK && e->aligned) rc = gather_rows(e->aligned, e->aligned, 1, ns, what, err);
  if (rc == PB_OK && e->groups) rc = gather_rows(e->groups, e->groups, sizeof(int32_t), ns, what, err);
  if (rc == PB_OK && e->groupings)
    rc = gather_rows(e->groupings, e->groupings, (size_t)d->ngroupings * sizeof(int32_t), ns, what, err);
  if (rc == PB_OK) rc = gather_rows(e->sample, e->sample, sizeof(int32_t), ns, what, err);
  if (rc == PB_OK && e->scores) rc = gather_rows(e->scores, e->scores, (size_t)e->score_k * sizeof(float), ns, what, err);
  if (rc == PB_OK && e->truth) rc = gather_rows(e->truth, e->truth, (size_t)e->score_k, ns, what, err);
  if (rc == PB_OK && e->emb) rc = gather_rows(e->emb, e->emb, (size_t)e->emb_dim * sizeof(float), ns, what, err);
  int64_t sums[2] = {e->ml_positives, r->pass_bad};
  if (rc == PB_OK) rc = pb_dist_sum_f64(e->loss, nt, "the evaluation's losses", err);
  if (rc == PB_OK) rc = pb_dist_sum_i64(sums, 2, "the evaluation's counts", err);
  e->ml_positives = sums[0], r->pass_bad = (long)sums[1];
  if (w->rank == 0) e->n = total;
  free(ns);
  return rc;
}
