/* collect.c: plumb collect (collect.h): per-trial final and best values of metrics.csv, and
 * the mean and standard deviation over seeds per setting. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/config/config.h"
#include "engine/sweep/collect.h"
#include "engine/sweep/sweep.h"
#include "kernels/pb_file.h"
#include "loaders/sources.h"

#define COL_MAX 1024

/* A growable list of strings (names, in order of first appearance). */
typedef struct strs {
  int n, cap;
  char **v;
} strs;

static int strs_find(const strs *s, const char *x) {
  for (int i = 0; i < s->n; i++)
    if (!strcmp(s->v[i], x)) return i;
  return -1;
}

static int strs_add(strs *s, const char *x) { /* index of x, added when new */
  int i = strs_find(s, x);
  if (i >= 0) return i;
  if (s->n == s->cap) s->v = pb_xrealloc(s->v, (size_t)(s->cap = s->cap ? 2 * s->cap : 16) * sizeof *s->v);
  s->v[s->n] = pb_xstrdup(x);
  return s->n++;
}

static void strs_free(strs *s) {
  for (int i = 0; i < s->n; i++) free(s->v[i]);
  free(s->v);
  memset(s, 0, sizeof *s);
}

/* One trial: its manifest values (by key index) and its metrics (by column index). */
typedef struct trial {
  char *trial, *name, *config, *run_dir, *status;
  long epochs_done; /* -1: no rows */
  strs keyv;        /* keyv.v[k] for key index k ("" when its manifest lacks the key) */
  char **final, **best; /* [ncols] (NULL = no value) */
  int ncols;
} trial;

typedef struct collect {
  strs keys, cols;
  int n, cap;
  trial *t;
} collect;

int pb_collect_minimised(const char *col) {
  size_t n = strlen(col);
  return (n >= 5 && !strcmp(col + n - 5, "_loss")) || (n >= 4 && !strcmp(col + n - 4, "_eer"));
}

static int finite_num(const char *s, double *v) {
  if (!s || !*s) return 0;
  char *end;
  *v = strtod(s, &end);
  return end != s && !*end && isfinite(*v);
}

static trial *new_trial(collect *C) {
  if (C->n == C->cap) C->t = pb_xrealloc(C->t, (size_t)(C->cap = C->cap ? 2 * C->cap : 16) * sizeof *C->t);
  trial *t = &C->t[C->n++];
  memset(t, 0, sizeof *t);
  t->epochs_done = -1;
  return t;
}

static void set_key(trial *t, int k, const char *v) {
  while (t->keyv.n <= k) {
    if (t->keyv.n == t->keyv.cap) t->keyv.v = pb_xrealloc(t->keyv.v, (size_t)(t->keyv.cap = t->keyv.cap ? 2 * t->keyv.cap : 8) * sizeof(char *));
    t->keyv.v[t->keyv.n++] = NULL;
  }
  free(t->keyv.v[k]);
  t->keyv.v[k] = pb_xstrdup(v);
}

static int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Reads run_dir/metrics.csv into t (status missing when absent or empty). epochs: the
 * config's [train] epochs (0 = unknown). */
static int read_metrics(collect *C, trial *t, long epochs, pb_err *err) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/metrics.csv", t->run_dir);
  t->status = pb_xstrdup("missing");
  if (!is_file(path)) return PB_OK;
  char *text = pb_csv_read_text(path, err);
  if (!text) return PB_ERR;
  char *p = text, *f[COL_MAX];
  int nh = pb_csv_next_row(&p, f, COL_MAX);
  if (nh <= 0 || nh > COL_MAX) {
    free(text);
    return nh == 0 ? PB_OK : pb_err_set(err, "%s: a bad header row", path);
  }
  int idx[COL_MAX], epoch_col = -1;
  for (int i = 0; i < nh; i++) {
    idx[i] = strcmp(f[i], "epoch") ? strs_add(&C->cols, f[i]) : -1;
    if (idx[i] < 0) epoch_col = i;
  }
  t->ncols = C->cols.n;
  t->final = pb_xcalloc((size_t)C->cols.n, sizeof *t->final);
  t->best = pb_xcalloc((size_t)C->cols.n, sizeof *t->best);
  double *bestv = pb_xcalloc((size_t)C->cols.n, sizeof *bestv);
  int line = 1, rows = 0, n;
  while ((n = pb_csv_next_row(&p, f, COL_MAX)) != 0) {
    line++;
    if (n == 1 && !*f[0]) continue;
    if (n < 0 || n != nh) {
      free(bestv);
      free(text);
      return pb_err_set(err, "%s:%d: %d fields, the header has %d", path, line, n, nh);
    }
    rows++;
    for (int i = 0; i < nh; i++) {
      if (i == epoch_col) {
        t->epochs_done = strtol(f[i], NULL, 10);
        continue;
      }
      int c = idx[i];
      free(t->final[c]);
      t->final[c] = pb_xstrdup(f[i]);
      double v;
      if (!strcmp(C->cols.v[c], "step") || !finite_num(f[i], &v)) continue;
      if (!t->best[c] || (pb_collect_minimised(C->cols.v[c]) ? v < bestv[c] : v > bestv[c])) {
        free(t->best[c]);
        t->best[c] = pb_xstrdup(f[i]);
        bestv[c] = v;
      }
    }
  }
  free(bestv);
  free(text);
  if (!rows) return PB_OK;
  if (epoch_col < 0) t->epochs_done = rows;
  free(t->status);
  t->status = pb_xstrdup(epochs > 0 && t->epochs_done >= epochs ? "complete" : "partial");
  return PB_OK;
}

/* [run] out_dir / name and [train] epochs of a trial config. */
static int read_config(const char *path, char *run_dir, size_t cap, long *epochs, pb_err *err) {
  pb_config *c = pb_config_new();
  int rc = pb_config_load(c, path, err);
  if (rc == PB_OK) {
    snprintf(run_dir, cap, "%s/%s", pb_config_str(c, "run", "out_dir"), pb_config_str(c, "run", "name"));
    *epochs = pb_config_int(c, "train", "epochs");
  }
  pb_config_free(c);
  return rc;
}

/* The manifest's rows into C (trial, keys, name, config, run_dir; the
 * config's [train] epochs parked in epochs_done, status NULL), without their metrics; config is
 * the manifest's text. */
static int read_sweep_rows(collect *C, const char *dir, const char *manifest, pb_err *err) {
  char *text = pb_csv_read_text(manifest, err);
  if (!text) return PB_ERR;
  char *p = text, *f[COL_MAX];
  int nh = pb_csv_next_row(&p, f, COL_MAX), rc = PB_OK;
  if (nh < 3 || nh > COL_MAX || strcmp(f[0], "trial") || strcmp(f[nh - 2], "name") || strcmp(f[nh - 1], "config")) {
    free(text);
    return pb_err_set(err, "%s: the header is not trial,<keys>...,name,config (plumb sweep writes it)", manifest);
  }
  int kidx[COL_MAX];
  for (int i = 1; i < nh - 2; i++) kidx[i] = strs_add(&C->keys, f[i]);
  int line = 1, n;
  while (rc == PB_OK && (n = pb_csv_next_row(&p, f, COL_MAX)) != 0) {
    line++;
    if (n == 1 && !*f[0]) continue;
    if (n != nh) {
      rc = pb_err_set(err, "%s:%d: %d fields, the header has %d", manifest, line, n, nh);
      break;
    }
    trial *t = new_trial(C);
    t->trial = pb_xstrdup(f[0]);
    t->name = pb_xstrdup(f[nh - 2]);
    for (int i = 1; i < nh - 2; i++) set_key(t, kidx[i], f[i]);
    char cfg[PATH_MAX * 2], run_dir[PATH_MAX * 2];
    snprintf(cfg, sizeof cfg, "%s%s%s", f[nh - 1][0] == '/' ? "" : dir, f[nh - 1][0] == '/' ? "" : "/", f[nh - 1]);
    t->config = pb_xstrdup(f[nh - 1]);
    long epochs = 0;
    if (read_config(cfg, run_dir, sizeof run_dir, &epochs, err)) {
      rc = pb_err_prefix(err, "%s:%d: trial %s", manifest, line, t->trial);
      break;
    }
    t->run_dir = pb_xstrdup(run_dir);
    t->epochs_done = epochs;
  }
  free(text);
  return rc;
}

static int read_sweep(collect *C, const char *dir, const char *manifest, pb_err *err) {
  int first = C->n, found = 0;
  int rc = read_sweep_rows(C, dir, manifest, err);
  for (int i = first; rc == PB_OK && i < C->n; i++) {
    trial *t = &C->t[i];
    long epochs = t->epochs_done;
    t->epochs_done = -1;
    rc = read_metrics(C, t, epochs, err);
    found += rc == PB_OK && strcmp(t->status, "missing");
  }
  int total = C->n - first;
  if (rc == PB_OK && total && !found)
    rc = pb_err_set(err, "%s: none of its %d trials has results yet (no run folder with metrics.csv rows, e.g. %s)", dir,
                    total, C->t[C->n - 1].run_dir);
  if (rc == PB_OK && !total) rc = pb_err_set(err, "%s: manifest.csv lists no trial", dir);
  return rc;
}

static int read_run(collect *C, const char *dir, pb_err *err) {
  trial *t = new_trial(C);
  char num[32], cfg[PATH_MAX + 32];
  snprintf(num, sizeof num, "%d", C->n);
  t->trial = pb_xstrdup(num);
  const char *base = strrchr(dir, '/');
  while (base && !base[1] && base > dir) { /* "runs/x/" */
    const char *q = base - 1;
    while (q > dir && *q != '/') q--;
    base = *q == '/' ? q : NULL;
  }
  char name[PATH_MAX];
  snprintf(name, sizeof name, "%s", base ? base + 1 : dir);
  size_t nl = strlen(name);
  while (nl && name[nl - 1] == '/') name[--nl] = '\0';
  t->name = pb_xstrdup(name);
  snprintf(cfg, sizeof cfg, "%s/config.ini", dir);
  t->config = pb_xstrdup(is_file(cfg) ? cfg : "");
  t->run_dir = pb_xstrdup(dir);
  long epochs = 0;
  char ignored[PATH_MAX * 2];
  if (is_file(cfg) && read_config(cfg, ignored, sizeof ignored, &epochs, err)) return PB_ERR;
  if (read_metrics(C, t, epochs, err)) return PB_ERR;
  if (!strcmp(t->status, "missing")) return pb_err_set(err, "%s: metrics.csv has no rows", dir);
  return PB_OK;
}


static const char *key_of(const trial *t, int k) { return k < t->keyv.n && t->keyv.v[k] ? t->keyv.v[k] : ""; }

static void write_trials(FILE *f, const collect *C, const int *use) {
  pb_sweep_csv_field(f, "trial", 0);
  for (int k = 0; k < C->keys.n; k++) pb_sweep_csv_field(f, C->keys.v[k], 0);
  fputs("name,config,run_dir,status,epochs_done", f);
  for (int c = 0; c < C->cols.n; c++)
    if (use[c]) fprintf(f, ",final_%s", C->cols.v[c]);
  for (int c = 0; c < C->cols.n; c++)
    if (use[c] && strcmp(C->cols.v[c], "step")) fprintf(f, ",best_%s", C->cols.v[c]);
  fputc('\n', f);
  for (int i = 0; i < C->n; i++) {
    const trial *t = &C->t[i];
    pb_sweep_csv_field(f, t->trial, 0);
    for (int k = 0; k < C->keys.n; k++) pb_sweep_csv_field(f, key_of(t, k), 0);
    pb_sweep_csv_field(f, t->name, 0);
    pb_sweep_csv_field(f, t->config, 0);
    pb_sweep_csv_field(f, t->run_dir, 0);
    pb_sweep_csv_field(f, t->status, 0);
    if (t->epochs_done >= 0) fprintf(f, "%ld", t->epochs_done);
    for (int c = 0; c < C->cols.n; c++)
      if (use[c]) fprintf(f, ",%s", c < t->ncols && t->final[c] ? t->final[c] : "");
    for (int c = 0; c < C->cols.n; c++)
      if (use[c] && strcmp(C->cols.v[c], "step")) fprintf(f, ",%s", c < t->ncols && t->best[c] ? t->best[c] : "");
    fputc('\n', f);
  }
}

static void stat_line(FILE *f, const collect *C, const int *members, int nm, int c, int best) {
  double sum = 0, v;
  int n = 0;
  for (int j = 0; j < nm; j++) {
    const trial *t = &C->t[members[j]];
    if (c < t->ncols && finite_num(best ? t->best[c] : t->final[c], &v)) sum += v, n++;
  }
  double mean = n ? sum / n : NAN, ss = 0;
  for (int j = 0; j < nm; j++) {
    const trial *t = &C->t[members[j]];
    if (c < t->ncols && finite_num(best ? t->best[c] : t->final[c], &v)) ss += (v - mean) * (v - mean);
  }
  fprintf(f, ",%.17g,%.17g", mean, n >= 2 ? sqrt(ss / (n - 1)) : NAN);
}

static void write_summary(FILE *f, const collect *C, const int *use) {
  int seed = strs_find(&C->keys, "run.seed");
  for (int k = 0; k < C->keys.n; k++)
    if (k != seed) pb_sweep_csv_field(f, C->keys.v[k], 0);
  fputs("n,seeds", f);
  for (int b = 0; b < 2; b++)
    for (int c = 0; c < C->cols.n; c++)
      if (use[c] && !(b && !strcmp(C->cols.v[c], "step")))
        fprintf(f, ",mean_%s_%s,std_%s_%s", b ? "best" : "final", C->cols.v[c], b ? "best" : "final", C->cols.v[c]);
  fputc('\n', f);
  int *done = pb_xcalloc((size_t)C->n + 1, sizeof *done), *members = pb_xmalloc(((size_t)C->n + 1) * sizeof *members);
  for (int i = 0; i < C->n; i++) {
    if (done[i] || !strcmp(C->t[i].status, "missing")) continue;
    int nm = 0;
    for (int j = i; j < C->n; j++) {
      if (done[j] || !strcmp(C->t[j].status, "missing")) continue;
      int same = 1;
      for (int k = 0; k < C->keys.n && same; k++)
        if (k != seed && strcmp(key_of(&C->t[i], k), key_of(&C->t[j], k))) same = 0;
      if (same) done[j] = 1, members[nm++] = j;
    }
    for (int k = 0; k < C->keys.n; k++)
      if (k != seed) pb_sweep_csv_field(f, key_of(&C->t[i], k), 0);
    fprintf(f, "%d,", nm);
    for (int j = 0; j < nm; j++) fprintf(f, "%s%s", j ? " " : "", seed >= 0 ? key_of(&C->t[members[j]], seed) : "");
    for (int b = 0; b < 2; b++)
      for (int c = 0; c < C->cols.n; c++)
        if (use[c] && !(b && !strcmp(C->cols.v[c], "step"))) stat_line(f, C, members, nm, c, b);
    fputc('\n', f);
  }
  free(done);
  free(members);
}

int pb_collect(const pb_collect_opts *o, FILE *info, pb_err *err) {
  PB_ASSERT(o && o->out && o->ndirs > 0);
  collect C;
  memset(&C, 0, sizeof C);
  int rc = PB_OK;
  for (int d = 0; rc == PB_OK && d < o->ndirs; d++) {
    const char *dir = o->dirs[d];
    char manifest[PATH_MAX + 32], metrics[PATH_MAX + 32];
    snprintf(manifest, sizeof manifest, "%s/manifest.csv", dir);
    snprintf(metrics, sizeof metrics, "%s/metrics.csv", dir);
    if (is_file(manifest)) rc = read_sweep(&C, dir, manifest, err);
    else if (is_file(metrics)) rc = read_run(&C, dir, err);
    else
      rc = pb_err_set(err, "%s: no results: neither a sweep folder (manifest.csv, from plumb sweep) nor a run folder "
                      "(metrics.csv)", dir);
  }
  int *use = pb_xcalloc((size_t)C.cols.n + 1, sizeof *use);
  for (int c = 0; c < C.cols.n; c++) use[c] = o->nmetrics == 0;
  for (int m = 0; rc == PB_OK && m < o->nmetrics; m++) {
    int c = strs_find(&C.cols, o->metrics[m]);
    if (c < 0) {
      char list[1024] = "";
      size_t len = 0;
      for (int j = 0; j < C.cols.n; j++)
        len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0, "%s%s", j ? ", " : "", C.cols.v[j]);
      rc = pb_err_set(err, "--metric %s: no metrics.csv has that column (columns: %s)", o->metrics[m], list);
    } else {
      use[c] = 1;
    }
  }
  char summary[PATH_MAX + 32];
  if (o->summary) {
    snprintf(summary, sizeof summary, "%s", o->summary);
  } else {
    size_t n = strlen(o->out);
    if (n >= 4 && !strcmp(o->out + n - 4, ".csv")) n -= 4;
    snprintf(summary, sizeof summary, "%.*s_summary.csv", (int)n, o->out);
  }
  if (rc == PB_OK && !strcmp(summary, o->out)) rc = pb_err_set(err, "--summary is the same file as --out (%s)", o->out);
  pb_afile a1, a2;
  if (rc == PB_OK && (rc = pb_afile_open(&a1, o->out, err)) == PB_OK) {
    if ((rc = pb_afile_open(&a2, summary, err))) {
      pb_afile_abort(&a1);
    } else {
      write_trials(a1.f, &C, use);
      write_summary(a2.f, &C, use);
      if ((rc = pb_afile_commit(&a1, err))) pb_afile_abort(&a2);
      else rc = pb_afile_commit(&a2, err);
    }
  }
  if (rc == PB_OK && info) {
    int missing = 0;
    for (int i = 0; i < C.n; i++) missing += !strcmp(C.t[i].status, "missing");
    fprintf(info, "wrote %s: %d trials (%d without results), %d metrics.csv columns\n", o->out, C.n, missing, C.cols.n);
    fprintf(info, "wrote %s: mean and std over run.seed per setting\n", summary);
  }
  free(use);
  for (int i = 0; i < C.n; i++) {
    trial *t = &C.t[i];
    free(t->trial), free(t->name), free(t->config), free(t->run_dir), free(t->status);
    for (int c = 0; c < t->ncols; c++) free(t->final[c]), free(t->best[c]);
    free(t->final), free(t->best);
    strs_free(&t->keyv);
  }
  free(C.t);
  strs_free(&C.keys);
  strs_free(&C.cols);
  return rc;
}

int pb_collect_last(const char *run_dir, const char *col, double *value, long *epochs, pb_err *err) {
  collect C;
  memset(&C, 0, sizeof C);
  trial *t = new_trial(&C);
  t->run_dir = pb_xstrdup(run_dir);
  *value = NAN;
  *epochs = -1;
  int rc = read_metrics(&C, t, 0, err);
  if (rc == PB_OK && strcmp(t->status, "missing")) {
    int c = strs_find(&C.cols, col);
    if (c < 0) {
      char list[1024] = "";
      size_t len = 0;
      for (int j = 0; j < C.cols.n; j++)
        len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0, "%s%s", j ? ", " : "", C.cols.v[j]);
      rc = pb_err_set(err, "%s/metrics.csv has no column %s (columns: %s)", run_dir, col, list);
    } else {
      double v;
      if (c < t->ncols && finite_num(t->final[c], &v)) *value = v;
      *epochs = t->epochs_done;
    }
  }
  free(t->run_dir), free(t->status);
  for (int c = 0; c < t->ncols; c++) free(t->final[c]), free(t->best[c]);
  free(t->final), free(t->best);
  free(C.t);
  strs_free(&C.cols);
  return rc;
}

int pb_manifest_load(pb_manifest *m, const char *dir, pb_err *err) {
  memset(m, 0, sizeof *m);
  char manifest[PATH_MAX + 32];
  snprintf(manifest, sizeof manifest, "%s/manifest.csv", dir);
  if (!is_file(manifest)) return pb_err_set(err, "%s: no manifest.csv (a sweep folder is written by plumb sweep)", dir);
  collect C;
  memset(&C, 0, sizeof C);
  int rc = read_sweep_rows(&C, dir, manifest, err);
  m->nkeys = C.keys.n;
  m->keys = pb_xcalloc((size_t)C.keys.n + 1, sizeof *m->keys);
  for (int k = 0; k < C.keys.n; k++) m->keys[k] = pb_xstrdup(C.keys.v[k]);
  m->n = C.n;
  m->rows = pb_xcalloc((size_t)C.n + 1, sizeof *m->rows);
  for (int i = 0; i < C.n; i++) {
    trial *t = &C.t[i];
    pb_manifest_row *r = &m->rows[i];
    r->trial = strtol(t->trial, NULL, 10);
    r->name = t->name, r->run_dir = t->run_dir;
    char cfg[PATH_MAX * 2];
    snprintf(cfg, sizeof cfg, "%s%s%s", t->config[0] == '/' ? "" : dir, t->config[0] == '/' ? "" : "/", t->config);
    r->config = pb_xstrdup(cfg);
    free(t->config);
    r->epochs = t->epochs_done;
    r->vals = pb_xcalloc((size_t)C.keys.n + 1, sizeof *r->vals);
    for (int k = 0; k < C.keys.n; k++) r->vals[k] = pb_xstrdup(key_of(t, k));
    free(t->trial), free(t->status);
    strs_free(&t->keyv);
  }
  free(C.t);
  strs_free(&C.keys);
  strs_free(&C.cols);
  if (rc == PB_OK && !m->n) rc = pb_err_set(err, "%s: manifest.csv lists no trial", dir);
  return rc;
}

void pb_manifest_free(pb_manifest *m) {
  for (int k = 0; k < m->nkeys; k++) free(m->keys[k]);
  free(m->keys);
  for (int i = 0; i < m->n; i++) {
    pb_manifest_row *r = &m->rows[i];
    free(r->name), free(r->config), free(r->run_dir);
    for (int k = 0; k < m->nkeys; k++) free(r->vals[k]);
    free(r->vals);
  }
  free(m->rows);
  memset(m, 0, sizeof *m);
}
