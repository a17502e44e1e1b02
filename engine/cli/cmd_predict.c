/* cmd_predict.c: `plumb predict CONFIG --checkpoint C --input FOLDER|LIST.csv --out SUB.csv
 * [--probs P.npy] [--failed F.csv] [--tta none|flip|tencrop]`: a Kaggle submission of a
 * checkpoint's predictions on images without labels. The pass is engine/run/predict.h, the
 * input loaders/unlabelled.h; here: the options, the labels of each row (single-label: the
 * argmax class; multi-label: [multilabel] threshold / min_labels / max_labels over the per-label
 * scores, metrics/multilabel.h), the files and the summary.
 *
 * Class names are the training set's vocabulary (the training manifest's label names, or the
 * class folders), read from the config's training data; the test data is not needed. Without
 * names (IDX data, integer labels) the labels are class ids, and a note says so.
 * Every output is written to a temporary file and renamed once all are complete: an error or a
 * stop signal leaves none of them written or half-written. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cli/cli.h"
#include "engine/run/predict.h"
#include "engine/run/state.h"
#include "engine/run/stop.h"
#include "kernels/pb_file.h"
#include "loaders/npy_write.h"
#include "loaders/unlabelled.h"
#include "metrics/multilabel.h"

/* s as one CSV field (quoted when it holds a comma, a quote or a line break). */
static void csv_field(FILE *f, const char *s) {
  int q = strpbrk(s, ",\"\n\r") != NULL;
  if (!q) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (const char *c = s; *c; c++) fputs(*c == '"' ? "\"\"" : (char[2]){*c, 0}, f);
  fputc('"', f);
}

/* The name of class j: the training vocabulary's, else its id. */
static const char *class_name(const pb_dataset *train, int j, char *buf, size_t len) {
  if (train->class_names && j < train->num_classes) return train->class_names[j];
  snprintf(buf, len, "%d", j);
  return buf;
}

typedef struct sel_rule {
  int multilabel;
  double threshold;
  int min_labels, max_labels; /* max_labels -1: no cap */
} sel_rule;

/* The submission: one row per input, labels best first; counts[k] gets each class's
 * predictions, per-image label counts into *nmin / *nmax / *nsum. */
static void write_submission(FILE *f, char **ids, const pb_predict *p, const pb_dataset *train, const sel_rule *s,
                             long *counts, long *nmin, long *nmax, long *nsum) {
  int *lab = pb_xmalloc((size_t)p->k * sizeof(int));
  char buf[32];
  *nmin = -1, *nmax = 0, *nsum = 0;
  fprintf(f, "image_id,labels\n");
  for (long i = 0; i < p->n; i++) {
    csv_field(f, ids[i]);
    fputc(',', f);
    if (p->reason[i]) { /* failed: the row is there, with no label */
      fputc('\n', f);
      continue;
    }
    int nl = 0;
    if (s->multilabel)
      nl = pb_ml_select(p->probs + (size_t)i * p->k, NULL, p->k, s->threshold, s->min_labels, s->max_labels, lab);
    else if (p->top[i] >= 0)
      lab[nl++] = p->top[i];
    /* one field: names joined by spaces (quoted as a whole when a name needs it) */
    size_t cap = 64, len = 0;
    char *joined = pb_xmalloc(cap);
    joined[0] = 0;
    for (int j = 0; j < nl; j++) {
      const char *nm = class_name(train, lab[j], buf, sizeof buf);
      size_t L = strlen(nm);
      while (len + L + 2 > cap) cap *= 2, joined = pb_xrealloc(joined, cap);
      len += (size_t)snprintf(joined + len, cap - len, "%s%s", j ? " " : "", nm);
      counts[lab[j]]++;
    }
    csv_field(f, joined);
    fputc('\n', f);
    free(joined);
    *nmin = *nmin < 0 || nl < *nmin ? nl : *nmin;
    *nmax = nl > *nmax ? nl : *nmax;
    *nsum += nl;
  }
  free(lab);
}

static void write_failed(FILE *f, char **ids, const pb_predict *p, const pb_dataset *d) {
  fprintf(f, "image_id,path,reason\n");
  for (long i = 0; i < p->n; i++) {
    if (!p->reason[i]) continue;
    csv_field(f, ids[i]);
    fputc(',', f);
    csv_field(f, d->paths[i]);
    fputc(',', f);
    csv_field(f, p->reason[i]);
    fputc('\n', f);
  }
}

/* The table at the end (80 columns). */
static void print_summary(const pb_predict *p, const pb_dataset *train, const sel_rule *s, const long *counts,
                          long nmin, long nmax, long nsum, const char *const paths[4]) {
  static const char *const what[4] = {"submission", "probs", "failed", NULL};
  printf("\nimages\n");
  printf("  %-20s %10ld\n  %-20s %10ld\n  %-20s %10ld\n", "total", p->n, "predicted", p->npred, "failed", p->nfailed);
  if (s->multilabel && p->npred)
    printf("  %-20s %10.2f  (min %ld, max %ld)\n", "labels per image", (double)nsum / (double)p->npred, nmin, nmax);
  int shown[5], ns = 0;
  for (; ns < 5; ns++) { /* the 5 most predicted, the smaller class first on a tie */
    int best = -1;
    for (int j = 0; j < p->k; j++) {
      int used = 0;
      for (int t = 0; t < ns; t++) used |= shown[t] == j;
      if (!used && counts[j] > 0 && (best < 0 || counts[j] > counts[best])) best = j;
    }
    if (best < 0) break;
    shown[ns] = best;
  }
  if (ns) printf("%-22s %10s\n", "most predicted", "images");
  for (int t = 0; t < ns; t++) {
    char buf[32];
    printf("  %-20.40s %10ld\n", class_name(train, shown[t], buf, sizeof buf), counts[shown[t]]);
  }
  for (int j = 0; j < 3; j++)
    if (paths[j]) printf("%-11s %s\n", what[j], paths[j]);
}

int pb_cmd_predict(const pb_cli_opts *o, pb_config *cfg) {
  const char *ck = pb_cli_opt(o, "checkpoint"), *input = pb_cli_opt(o, "input"), *out = pb_cli_opt(o, "out");
  const char *probs_path = pb_cli_opt(o, "probs"), *failed_path = pb_cli_opt(o, "failed"), *tta = pb_cli_opt(o, "tta");
  pb_err err = {{0}};
  if (tta) {
    if (strcmp(tta, "none") && strcmp(tta, "flip") && strcmp(tta, "tencrop")) {
      fprintf(stderr, "plumb predict: error: --tta %s: expected none, flip or tencrop\n", tta);
      return 2;
    }
    char set[64];
    snprintf(set, sizeof set, "augment.tta=%s", tta);
    if (pb_config_set(cfg, set, &err)) {
      fprintf(stderr, "plumb predict: error: %s\n", err.msg);
      return 2;
    }
  }
  pb_run r;
  if (pb_run_init_predict(&r, cfg, &err)) {
    fprintf(stderr, "plumb predict: error: %s\n", err.msg);
    return 1;
  }
  /* the [multilabel] rule and score, as the run resolved them (engine/run/run.h) */
  sel_rule s = {.multilabel = r.multilabel,
                .threshold = r.ml_threshold,
                .min_labels = r.ml_min_labels,
                .max_labels = r.ml_max_labels};
  pb_predict_params pp = {.multilabel = r.multilabel, .kind = (pb_mlscore_kind)r.ml_kind, .top_k = r.ml_top_k};
  r.stop = pb_stop_flag();
  int rc = 1;
  pb_dataset d = {0};
  char **ids = NULL;
  pb_predict p = {0};
  pb_afile fs = {0}, fp = {0}, ff = {0};
  long *counts = NULL;
  if (r.train.kind == PB_DATA_F32 || r.train.frames) {
    pb_err_set(&err, "plumb predict reads single images; this config's model takes %s",
               r.train.frames ? "image sequences ([data] track_column)" : "feature arrays ([data] dataset = npy)");
    goto out;
  }
  if (pb_run_load_models(&r, ck, &err)) goto out;
  pb_unlabelled_opts uo = {pb_config_str(cfg, "predict", "id_column"), pb_config_str(cfg, "predict", "path_column"),
                           pb_config_str(cfg, "predict", "path_suffix"), pb_config_str(cfg, "predict", "image_dir")};
  if (!uo.id_column[0]) {
    pb_err_set(&err, "%s: [predict] id_column is empty", pb_config_origin(cfg, "predict", "id_column"));
    goto out;
  }
  if (pb_data_unlabelled(&d, &ids, input, &uo, &err)) goto out;
  d.c = r.train.c, d.h = r.train.h, d.w = r.train.w;
  d.num_classes = r.train.num_classes;
  if (!r.train.class_names)
    printf("note: the training data names no classes (IDX data or integer labels): the labels are class ids\n");
  printf("predict: %d images from %s, %s%s%s\n", d.n, input,
         s.multilabel ? "multi-label, score " : "single-label (softmax)",
         s.multilabel ? pb_mlscore_name(pp.kind) : "", r.views > 1 ? ", test-time views averaged" : "");
  int prc = pb_run_predict(&r, &d, &pp, &p, &err);
  if (prc == PB_PREDICT_STOPPED || pb_stop_signal()) {
    fprintf(stderr, "plumb predict: stopped by signal %d; nothing written\n", pb_stop_signal());
    rc = 128 + pb_stop_signal();
    goto out;
  }
  if (prc) goto out;
  for (long i = 0; i < p.n; i++)
    if (p.reason[i]) fprintf(stderr, "plumb predict: could not read %s (%s): %s\n", ids[i], d.paths[i], p.reason[i]);
  counts = pb_xcalloc((size_t)p.k, sizeof(long));
  long nmin, nmax, nsum;
  if (pb_afile_open(&fs, out, &err)) goto out;
  write_submission(fs.f, ids, &p, &r.train, &s, counts, &nmin, &nmax, &nsum);
  if (probs_path && (pb_afile_open(&fp, probs_path, &err) || pb_npy_write_f32(fp.f, p.probs, p.n, p.k, &err)))
    goto out;
  if (failed_path) {
    if (pb_afile_open(&ff, failed_path, &err)) goto out;
    write_failed(ff.f, ids, &p, &d);
  }
  if (pb_stop_signal()) { /* nothing is renamed after a stop */
    fprintf(stderr, "plumb predict: stopped by signal %d; nothing written\n", pb_stop_signal());
    rc = 128 + pb_stop_signal();
    goto out;
  }
  pb_stop_saving(1); /* the renames complete together */
  int crc = pb_afile_commit(&fs, &err) || (fp.f && pb_afile_commit(&fp, &err)) || (ff.f && pb_afile_commit(&ff, &err));
  pb_stop_saving(0);
  if (crc) goto out;
  const char *const paths[4] = {out, probs_path, failed_path, NULL};
  print_summary(&p, &r.train, &s, counts, nmin, nmax, nsum, paths);
  if (p.nfailed)
    fprintf(stderr, "plumb predict: WARNING: %ld of %ld images could not be read: their rows have no labels%s%s\n",
            p.nfailed, p.n, failed_path ? "; listed in " : " (--failed FILE lists them)", failed_path ? failed_path : "");
  rc = 0;
out:
  if (rc == 1) fprintf(stderr, "plumb predict: error: %s\n", err.msg);
  pb_afile_abort(&fs);
  pb_afile_abort(&fp);
  pb_afile_abort(&ff);
  free(counts);
  pb_predict_free(&p);
  pb_unlabelled_ids_free(ids, d.n);
  pb_dataset_free(&d);
  pb_run_free(&r);
  return rc;
}
