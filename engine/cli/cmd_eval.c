/* cmd_eval.c: `plumb eval CONFIG --checkpoint FILE`: test loss, accuracy and bias figures
 * (per head and per class for multi-head models, per grouping for the cell-averaged accuracy;
 * verification for embedding models), all of them also in eval.json (engine/run/eval_json.h;
 * beside the checkpoint, or --json PATH), and with --predictions FILE each test image's labels
 * and predicted classes. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pb_file.h"
#include "engine/trainers/checkpoint.h"
#include "engine/cli/cli.h"
#include "engine/run/eval_json.h"
#include "engine/run/evaluate.h"
#include "engine/run/report.h"
#include "engine/run/state.h"
#include "metrics/calibration.h"
#include "metrics/multilabel.h"
#include "metrics/verification.h"

/* The cell-averaged accuracy of each model behind its figure: per grouping, its value, cells and
 * images counted. */
static void print_cells(const pb_terms *l, const pb_eval *e) {
  if (!e->ngroupings) return;
  for (int t = 0; t < l->n; t++) {
    if (!l->term[t].classes) continue;
    pb_cell_acc a;
    pb_eval_cell_acc(e, t, l->term[t].classes, &a);
    printf("  %s%scell accuracy %.4f (cells of >= %d images):", l->term[t].name, l->term[t].name[0] ? " " : "", a.mean,
           e->min_cell);
    for (int j = 0; j < a.ngroupings; j++)
      printf("%s grouping %d %.4f (%d cells, %ld images)", j ? "," : "", j + 1, a.acc[j], a.cells[j], a.images[j]);
    printf("\n");
  }
}

static void write_path(FILE *f, const pb_dataset *d, int32_t s) {
  const char *path = pb_dataset_path(d, s);
  int quote = strpbrk(path, ",\"\n\r") != NULL;
  fprintf(f, "%s,%d,%s", d->name, s, quote ? "\"" : "");
  for (const char *c = path; *c; c++) fprintf(f, *c == '"' ? "\"\"" : "%c", *c);
  fprintf(f, "%s", quote ? "\"" : "");
}

/* A multi-label model's rows: "set,index,path[,group],labels,pred,score_0..score_{k-1}": the true
 * and the predicted label ids space-separated (predicted by the [multilabel] threshold /
 * min_labels / max_labels rule, best first), then every label's score ([multilabel] score). */
static void write_ml_predictions(FILE *f, const pb_eval *e, const pb_dataset *d, int header) {
  int k = e->score_k;
  if (header) {
    fprintf(f, "set,index,path%s,labels,pred", e->groups ? ",group" : "");
    for (int j = 0; j < k; j++) fprintf(f, ",score_%d", j);
    fprintf(f, "\n");
  }
  if (!e->truth) return;
  int *sel = pb_xmalloc((size_t)k * sizeof(int));
  for (long i = 0; i < e->n; i++) {
    write_path(f, d, e->sample[i]);
    if (e->groups) fprintf(f, ",%d", e->groups[i]);
    fprintf(f, ",");
    for (int j = 0, first = 1; j < k; j++)
      if (e->truth[(size_t)i * k + j]) fprintf(f, "%s%d", first ? "" : " ", j), first = 0;
    int m = pb_ml_select(e->scores + (size_t)i * k, NULL, k, e->ml_threshold, e->ml_min_labels, e->ml_max_labels, sel);
    fprintf(f, ",");
    for (int j = 0; j < m; j++) fprintf(f, "%s%d", j ? " " : "", sel[j]);
    for (int j = 0; j < k; j++) fprintf(f, ",%.9g", e->scores[(size_t)i * k + j]);
    fprintf(f, "\n");
  }
  free(sel);
}

/* --predictions: "set,index,path" (index: the image's row among the test manifest's data rows,
 * 0-based; path as plumb opened it, empty for in-memory data), "group" when the data has a group
 * / attribute (its id; the same in every test set of the run), then LABEL,PRED per model
 * (NAME_label,NAME_pred, or label,pred for a one-model run), each followed by CONF (NAME_conf or
 * conf: the prediction's softmax probability, float32 printed exactly) when the trainer exposes
 * its logits, then for a one-model classifier p_0..p_{k-1}: every class's softmax probability
 * (averaged over the test-time views with [augment] tta). Images skipped as bad are absent. */
static void write_predictions(FILE *f, const pb_terms *l, const pb_eval *e, const pb_dataset *d, int header) {
  if (l->n == 1 && l->term[0].multilabel) {
    write_ml_predictions(f, e, d, header);
    return;
  }
  if (header) {
    fprintf(f, "set,index,path%s", e->groups ? ",group" : "");
    for (int t = 0; t < l->n; t++)
      if (l->term[t].classes)
        fprintf(f, ",%s%slabel,%s%spred%s%s%s", l->term[t].name, l->term[t].name[0] ? "_" : "", l->term[t].name,
                l->term[t].name[0] ? "_" : "", e->conf ? "," : "", e->conf ? l->term[t].name : "",
                e->conf ? (l->term[t].name[0] ? "_conf" : "conf") : "");
    for (int j = 0; e->scores && j < e->score_k; j++) fprintf(f, ",p_%d", j);
    fprintf(f, "\n");
  }
  for (long i = 0; i < e->n; i++) {
    write_path(f, d, e->sample[i]);
    if (e->groups) fprintf(f, ",%d", e->groups[i]);
    for (int t = 0; t < l->n; t++)
      if (l->term[t].classes) {
        fprintf(f, ",%d,%d", e->labels[t * e->cap + i], e->pred[t * e->cap + i]);
        if (e->conf) fprintf(f, ",%.9g", e->conf[t * e->cap + i]);
      }
    for (int j = 0; e->scores && j < e->score_k; j++) fprintf(f, ",%.9g", e->scores[(size_t)i * e->score_k + j]);
    fprintf(f, "\n");
  }
}

/* The short table after the figures: one row per test set and head (set, head, images,
 * accuracy, per-class disparity, ECE), or for an embedding model (set, images, AUC, EER, TPR at
 * the first [verify] fpr). */
static void print_summary(const pb_terms *l, const pb_eval *ev, const pb_dataset *ds, int nsets) {
  if (l->n == 1 && l->term[0].multilabel) { /* set, images, F2 (best threshold), F2 of the rule, mAP, p@1 */
    printf("\n%-12s %8s %8s %6s %9s %8s %8s\n", "set", "images", "f2", "at", "f2_select", "map", "p@1");
    for (int k = 0; k < nsets; k++) {
      if (!ev[k].truth) continue;
      pb_eval_ml m;
      pb_eval_multilabel(&ev[k], &m);
      printf("%-12s %8ld %8.4f %6.2f %9.4f %8.4f %8.4f\n", ds[k].name, ev[k].n, m.sweep.best_f2, m.sweep.best_t,
             m.f2_select, m.rank.map, m.p1);
      pb_eval_ml_free(&m);
    }
    return;
  }
  int emb = nsets > 0 && ev[0].verif;
  if (emb) {
    char h[32];
    snprintf(h, sizeof h, "tpr@%g", ev[0].verif->all.npoints ? ev[0].verif->all.at[0].fpr : NAN);
    printf("\n%-12s %8s %8s %8s %10s\n", "set", "images", "auc", "eer", h);
  } else {
    printf("\n%-12s %-10s %8s %8s %10s %8s\n", "set", "head", "images", "acc", "disparity", "ece");
  }
  for (int k = 0; k < nsets; k++) {
    const pb_eval *e = &ev[k];
    if (emb) {
      const pb_verif_figures *a = &e->verif->all;
      printf("%-12s %8ld %8.4f %8.4f %10.4f\n", ds[k].name, e->n, a->auc, a->eer, a->npoints ? a->at[0].tpr : NAN);
      continue;
    }
    for (int t = 0; t < l->n; t++) {
      if (!l->term[t].classes) continue;
      pb_class_counts c;
      pb_eval_class_counts(e, t, l->term[t].classes, &c);
      double ece = NAN;
      if (e->conf) {
        pb_calib *cb = pb_xmalloc(sizeof *cb);
        pb_calib_from_conf(e->conf + t * e->cap, e->pred + t * e->cap, e->labels + t * e->cap, e->n,
                           PB_CALIB_DEFAULT_BINS, NULL, cb);
        ece = cb->ece;
        free(cb);
      }
      printf("%-12s %-10s %8ld %8.4f %10.4f %8.4f\n", ds[k].name, l->term[t].name[0] ? l->term[t].name : "-", c.n,
             pb_ratio(c.correct, c.n), pb_class_counts_disparity(&c), ece);
      pb_class_counts_free(&c);
    }
  }
}

int pb_cmd_eval(const pb_cli_opts *o, pb_config *cfg) {
  const char *ck = pb_cli_opt(o, "checkpoint");
  if (!ck) {
    fprintf(stderr, "usage: plumb eval CONFIG --checkpoint CHECKPOINT.safetensors [--set section.key=value]...\n");
    return 2;
  }
  pb_err err = {{0}};
  pb_run r;
  if (pb_run_init_infer(&r, cfg, &err)) {
    fprintf(stderr, "plumb eval: error: %s\n", err.msg);
    return 1;
  }
  int rc = 1;
  pb_eval ev[PB_RUN_MAX_TESTS];
  memset(ev, 0, sizeof ev);
  pb_afile pf = {0};
  const char *pred_path = pb_cli_opt(o, "predictions");
  r.keep_scores = pred_path != NULL; /* the probabilities go to predictions.csv */
  if (pb_run_load_models(&r, ck, &err)) goto out;
  /* The inference plan: no gradients, nothing saved for backward (one line, for the log). */
  pb_model_print_memory(r.model, stdout);
  /* --model NAME: that model's figures only (the others' terms are left out of the report) */
  pb_terms terms = r.tr->terms;
  const char *only = pb_cli_opt(o, "model");
  if (only) {
    int found = 0;
    for (int t = 0; t < terms.n; t++) {
      if (terms.term[t].classes && !strcmp(terms.term[t].name, only)) found = 1;
      else terms.term[t].classes = 0;
    }
    if (!found) {
      pb_err_set(&err, "--model %s: the config has no model of that name ([model.NAME] sections)", only);
      goto out;
    }
  }
  if (pred_path && pb_afile_open(&pf, pred_path, &err)) goto out;
  for (int k = 0; k < r.ntests; k++) {
    pb_eval *ek = &ev[k];
    if (pb_run_evaluate(&r, &r.tests[k], ek, &err)) goto out;
    pb_eval e = *ek; /* a view: ev[k] owns the memory */
    char part[4096], pre[32];
    snprintf(pre, sizeof pre, "%s_", r.tests[k].name);
    pb_report_eval_str(&terms, &e, pre, 1, part, sizeof part);
    printf("checkpoint %s: %ld %s images\n", ck, e.n, r.tests[k].name);
    printf("%s\n", part + 1);
    pb_report_per_class(&terms, &e, stdout);
    if (e.verif) { /* an embedding model: the figures in full, per group, and the overlap warning */
      char line[4096], warn[1024] = "";
      pb_verif_summary(e.verif, line, sizeof line);
      if (e.overlap) pb_verif_overlap_str(e.overlap, warn, sizeof warn);
      printf("%s\n%s%s", line, warn, warn[0] ? "\n" : "");
    }
    print_cells(&terms, &e);
    if (pf.f) write_predictions(pf.f, &terms, &e, &r.tests[k], k == 0);
  }
  /* eval.json: every figure of every test set, named, beside the checkpoint unless --json says */
  char jpath[4200];
  const char *jopt = pb_cli_opt(o, "json");
  size_t L = strlen(ck);
  if (jopt)
    snprintf(jpath, sizeof jpath, "%s", jopt);
  else if (L > 12 && !strcmp(ck + L - 12, ".safetensors"))
    snprintf(jpath, sizeof jpath, "%.*s.eval.json", (int)(L - 12), ck);
  else
    snprintf(jpath, sizeof jpath, "%s.eval.json", ck);
  print_summary(&terms, ev, r.tests, r.ntests);
  const pb_eval *es[PB_RUN_MAX_TESTS];
  const pb_dataset *ds[PB_RUN_MAX_TESTS];
  for (int k = 0; k < r.ntests; k++) es[k] = &ev[k], ds[k] = &r.tests[k];
  /* the checkpoint and config as absolute paths: eval.json is read from elsewhere */
  char ck_abs[PATH_MAX], cfg_abs[PATH_MAX];
  if (!realpath(ck, ck_abs)) snprintf(ck_abs, sizeof ck_abs, "%s", ck);
  if (!realpath(o->config, cfg_abs)) snprintf(cfg_abs, sizeof cfg_abs, "%s", o->config);
  if (pb_eval_json_write(jpath, &terms, es, ds, r.ntests, ck_abs, cfg_abs, r.model->arch, &err)) goto out;
  printf("figures: %s\n", jpath);
  if (pf.f) {
    if (pb_afile_commit(&pf, &err)) goto out;
    printf("predictions: %s\n", pred_path);
  }
  rc = 0;
out:
  if (pf.f) pb_afile_abort(&pf);
  if (rc) fprintf(stderr, "plumb eval: error: %s\n", err.msg);
  for (int k = 0; k < PB_RUN_MAX_TESTS; k++) pb_eval_free(&ev[k]);
  pb_run_free(&r);
  return rc;
}
