/* verify.c: verification of an embedding run's evaluation sets (verify.h). */
#include "engine/run/verify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "engine/run/log.h"
#include "kernels/pb_file.h"

int pb_run_verif_params(const pb_config *cfg, int nthreads, double *fpr, pb_verif_params *p, pb_err *err) {
  memset(p, 0, sizeof *p);
  p->score = strcmp(pb_config_str(cfg, "verify", "score"), "l2") ? PB_VERIF_COSINE : PB_VERIF_NEG_L2;
  int n = pb_config_floats(cfg, "verify", "fpr", fpr, PB_VERIF_MAX_FPR);
  if (n < 1 || n > PB_VERIF_MAX_FPR)
    return pb_err_set(err, "%s: [verify] fpr needs 1 to %d false-positive rates", pb_config_origin(cfg, "verify", "fpr"),
                      PB_VERIF_MAX_FPR);
  p->fpr = fpr;
  p->nfpr = n;
  p->nthreads = nthreads;
  return PB_OK;
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* Identities of d with their sample counts: how many, and how many have >= 2 samples. */
static void id_counts(const pb_dataset *d, int *ids, int *multi) {
  int32_t *l = pb_xmalloc((size_t)PB_MAX(d->n, 1) * sizeof(int32_t));
  int n = 0;
  for (int i = 0; i < d->n; i++)
    if (d->labels[i] >= 0) l[n++] = d->labels[i];
  qsort(l, (size_t)n, sizeof *l, cmp_i32);
  *ids = *multi = 0;
  for (int i = 0; i < n;) {
    int j = i;
    while (j < n && l[j] == l[i]) j++;
    (*ids)++;
    *multi += j - i >= 2;
    i = j;
  }
  free(l);
}

int pb_run_check_verif_sets(const pb_run *r, pb_err *err) {
  if (r->views > 1)
    return pb_err_set(err, "%s: [augment] tta = %s: test-time views are not averaged for embeddings ([model] "
                           "embedding_dim); use tta = none",
                      pb_config_origin(r->cfg, "augment", "tta"), pb_config_str(r->cfg, "augment", "tta"));
  const pb_dataset *sets[1 + PB_RUN_MAX_TESTS] = {&r->val};
  for (int k = 0; k < r->ntests; k++) sets[1 + k] = &r->tests[k];
  for (int k = 0; k < 1 + r->ntests; k++) {
    const pb_dataset *d = sets[k];
    if (!d->n) continue;
    int ids, multi;
    id_counts(d, &ids, &multi);
    if (ids < 2 || multi < 1)
      return pb_err_set(err, "the %s set (%d samples, %d identities, %d of them with 2 or more samples) has no %s "
                             "pair: verification needs identities with 2 samples and at least 2 identities",
                        d->name, d->n, ids, multi, ids < 2 ? "impostor" : "genuine");
  }
  return PB_OK;
}

int pb_run_verify(const pb_run *r, const pb_dataset *d, pb_eval *e, pb_err *err) {
  double fpr[PB_VERIF_MAX_FPR];
  pb_verif_params p;
  if (pb_run_verif_params(r->cfg, r->ctx.nthreads, fpr, &p, err)) return PB_ERR;
  pb_verif_data x = {e->emb, e->labels, e->groups, e->n, e->emb_dim};
  pb_verif_pairs pairs = {PB_VERIF_ALL_PAIRS, NULL, 0, NULL, 0};
  e->verif = pb_xcalloc(1, sizeof *e->verif);
  if (pb_verif_eval(&x, &pairs, &p, e->verif, err)) return pb_err_prefix(err, "verification of the %s set", d->name);
  if (d != &r->train && r->train.labels) {
    e->overlap = pb_xcalloc(1, sizeof *e->overlap);
    pb_verif_overlap_find(r->train.labels, r->train.n, e->labels, e->n, e->overlap);
  }
  return PB_OK;
}

void pb_run_log_overlap(const pb_run *r) {
  const pb_dataset *sets[1 + PB_RUN_MAX_TESTS] = {&r->val};
  for (int k = 0; k < r->ntests; k++) sets[1 + k] = &r->tests[k];
  for (int k = 0; k < 1 + r->ntests; k++) {
    const pb_dataset *d = sets[k];
    if (!d->n || !d->labels) continue;
    pb_verif_overlap o;
    pb_verif_overlap_find(r->train.labels, r->train.n, d->labels, d->n, &o);
    char line[1024];
    pb_verif_overlap_str(&o, line, sizeof line);
    if (line[0]) pb_log("the %s set: %s", d->name, line);
    pb_verif_overlap_free(&o);
  }
}

/* ------------------------------------------------------------------ eval.json */

typedef struct {
  char path[4200];
} json_priv;

static int write_set(FILE *f, const char *name, const pb_eval *e, int first, pb_err *err) {
  fprintf(f, "%s\n    \"%s\": {\"n\": %ld, \"identity_overlap\": ", first ? "" : ",", name, e->n);
  if (e->overlap) {
    const pb_verif_overlap *o = e->overlap;
    fprintf(f, "{\"train_identities\": %" PRId64 ", \"identities\": %" PRId64 ", \"shared\": %" PRId64
               ", \"rows_shared\": %" PRId64 "}",
            o->ntrain_ids, o->neval_ids, o->nshared, o->neval_rows);
  } else {
    fprintf(f, "null");
  }
  fprintf(f, ",\n      \"verification\": ");
  if (pb_verif_json_write(e->verif, f, err)) return PB_ERR;
  fprintf(f, "}");
  return PB_OK;
}

static void json_epoch(pb_report_writer *w, const pb_terms *terms, const pb_epoch_figures *f) {
  (void)terms;
  json_priv *p = w->priv;
  const pb_eval *sets[1 + 4] = {f->val};
  const char *names[1 + 4] = {"val"};
  for (int k = 0; k < f->ntests; k++) sets[1 + k] = f->tests[k], names[1 + k] = f->test_names[k];
  int any = 0;
  for (int k = 0; k < 1 + f->ntests; k++) any |= sets[k] && sets[k]->verif;
  if (!any) return;
  pb_err err = {0};
  pb_afile a;
  if (pb_afile_open(&a, p->path, &err)) {
    pb_log("warning: %s", err.msg);
    return;
  }
  fprintf(a.f, "{\n  \"plumb\": \"%s\", \"epoch\": %" PRId64 ", \"step\": %" PRId64 ",\n  \"sets\": {", PLUMB_VERSION,
          f->epoch + 1, f->step);
  int first = 1, rc = PB_OK;
  for (int k = 0; k < 1 + f->ntests && rc == PB_OK; k++) {
    if (!sets[k] || !sets[k]->verif) continue;
    rc = write_set(a.f, names[k], sets[k], first, &err);
    first = 0;
  }
  fprintf(a.f, "\n  }\n}\n");
  if (rc || pb_afile_commit(&a, &err)) {
    if (rc) pb_afile_abort(&a);
    pb_log("warning: eval.json not written: %s", err.msg);
  }
}

static void json_free(pb_report_writer *w) {
  free(w->priv);
  free(w);
}

pb_report_writer *pb_report_eval_json(const char *dir) {
  pb_report_writer *w = pb_xcalloc(1, sizeof *w);
  json_priv *p = pb_xcalloc(1, sizeof *p);
  snprintf(p->path, sizeof p->path, "%s/eval.json", dir);
  w->name = "eval.json";
  w->epoch = json_epoch;
  w->free = json_free;
  w->priv = p;
  return w;
}
