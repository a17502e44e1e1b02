/* halving.c: plumb halve's rounds and state (halving.h). */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/sweep/halving.h"
#include "kernels/pb_file.h"
#include "loaders/sources.h"

#define STATE_HEADER "round,trial,epochs,value,status,metric,eta,min_epochs,max_epochs"

static int find_trial(const pb_halve *h, long trial) {
  for (int i = 0; i < h->m.n; i++)
    if (h->m.rows[i].trial == trial) return i;
  return -1;
}

static pb_halve_row *find_row(pb_halve *h, int round, int t) {
  for (int i = 0; i < h->n; i++)
    if (h->rows[i].round == round && h->rows[i].t == t) return &h->rows[i];
  return NULL;
}

static void add_row(pb_halve *h, int round, int t, long epochs, double value, const char *status) {
  if (h->n == h->cap) h->rows = pb_xrealloc(h->rows, (size_t)(h->cap = h->cap ? 2 * h->cap : 16) * sizeof *h->rows);
  pb_halve_row *r = &h->rows[h->n++];
  r->round = round, r->t = t, r->epochs = epochs, r->value = value;
  snprintf(r->status, sizeof r->status, "%s", status);
}

static int save(const pb_halve *h, pb_err *err) {
  pb_afile a;
  if (pb_afile_open(&a, h->state_path, err)) return PB_ERR;
  fprintf(a.f, STATE_HEADER "\n");
  for (int i = 0; i < h->n; i++) {
    const pb_halve_row *r = &h->rows[i];
    fprintf(a.f, "%d,%ld,%ld,%.17g,%s,%s,%d,%ld,%ld\n", r->round, h->m.rows[r->t].trial, r->epochs, r->value, r->status,
            h->metric, h->eta, h->r, h->e);
  }
  return pb_afile_commit(&a, err);
}

static int load_state(pb_halve *h, long e_given, pb_err *err) {
  struct stat st;
  if (stat(h->state_path, &st) != 0) return PB_OK;
  char *text = pb_csv_read_text(h->state_path, err);
  if (!text) return PB_ERR;
  char *p = text, *f[16];
  int n = pb_csv_next_row(&p, f, 16), line = 1, rc = PB_OK;
  if (n != 9 || strcmp(f[0], "round") || strcmp(f[8], "max_epochs")) {
    free(text);
    return pb_err_set(err, "%s: the header is not " STATE_HEADER, h->state_path);
  }
  while ((n = pb_csv_next_row(&p, f, 16)) != 0) {
    line++;
    if (n == 1 && !*f[0]) continue;
    if (n != 9) {
      rc = pb_err_set(err, "%s:%d: %d fields, the header has 9", h->state_path, line, n);
      break;
    }
    if (strcmp(f[5], h->metric) || atoi(f[6]) != h->eta || atol(f[7]) != h->r || (e_given && atol(f[8]) != h->e)) {
      rc = pb_err_set(err,
                      "%s was written by plumb halve --metric %s --eta %s --min-epochs %s --max-epochs %s, not --metric %s "
                      "--eta %d --min-epochs %ld%s: rerun with those, or remove %s/halving to start over",
                      h->state_path, f[5], f[6], f[7], f[8], h->metric, h->eta, h->r, e_given ? " and this --max-epochs" : "",
                      h->dir);
      break;
    }
    h->e = atol(f[8]);
    int t = find_trial(h, atol(f[1]));
    if (t < 0) {
      rc = pb_err_set(err, "%s:%d: trial %s is not in %s/manifest.csv", h->state_path, line, f[1], h->dir);
      break;
    }
    add_row(h, atoi(f[0]), t, atol(f[2]), strtod(f[3], NULL), f[4]);
  }
  free(text);
  return rc;
}

int pb_halve_open(pb_halve *h, const char *dir, const char *metric, int eta, long r, long e, pb_err *err) {
  memset(h, 0, sizeof *h);
  h->dir = pb_xstrdup(dir);
  h->metric = pb_xstrdup(metric);
  h->eta = eta, h->r = r, h->e = e;
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/halving/state.csv", dir);
  h->state_path = pb_xstrdup(path);
  if (eta < 2) return pb_err_set(err, "--eta %d: must be 2 or more (the fraction 1/eta of a round's trials go on)", eta);
  if (r < 1) return pb_err_set(err, "--min-epochs %ld: must be 1 or more", r);
  if (pb_manifest_load(&h->m, dir, err)) return PB_ERR;
  if (!h->e)
    for (int i = 0; i < h->m.n; i++)
      if (h->m.rows[i].epochs > h->e) h->e = h->m.rows[i].epochs;
  if (h->e < r) return pb_err_set(err, "--min-epochs %ld is more than the budget of %ld epochs (--max-epochs, else the "
                                  "trials' [train] epochs)", r, h->e);
  snprintf(path, sizeof path, "%s/halving", dir);
  if (mkdir(path, 0777) != 0 && errno != EEXIST) return pb_err_set(err, "%s: cannot create: %s", path, strerror(errno));
  return load_state(h, e, err);
}

void pb_halve_free(pb_halve *h) {
  pb_manifest_free(&h->m);
  free(h->dir), free(h->metric), free(h->state_path), free(h->rows);
  memset(h, 0, sizeof *h);
}

/* a better than b (rows of one round): value (nan last), then the smaller trial number. */
static int better(const pb_halve *h, const pb_halve_row *a, const pb_halve_row *b) {
  int an = isnan(a->value), bn = isnan(b->value);
  if (an != bn) return bn;
  if (!an && a->value != b->value) return pb_collect_minimised(h->metric) ? a->value < b->value : a->value > b->value;
  return h->m.rows[a->t].trial < h->m.rows[b->t].trial;
}

static long round_epochs(const pb_halve *h, int round, int nmembers) {
  if (nmembers == 1) return h->e;
  double x = (double)h->r * pow(h->eta, round);
  return x >= (double)h->e ? h->e : (long)x;
}

int pb_halve_record(pb_halve *h, int round, int t, long epochs, int ok, pb_err *err) {
  double value = NAN;
  long done = -1;
  if (ok && pb_collect_last(h->m.rows[t].run_dir, h->metric, &value, &done, err))
    return pb_err_prefix(err, "--metric %s", h->metric);
  add_row(h, round, t, done >= 0 ? done : epochs, value, ok && done >= epochs ? "trained" : "failed");
  return save(h, err);
}

int pb_halve_next(pb_halve *h, int *round, long *epochs, int *todo, int *ntodo, pb_err *err) {
  int n = h->m.n, nm = n;
  int *members = pb_xmalloc((size_t)n * sizeof *members), *kept = pb_xmalloc((size_t)n * sizeof *kept);
  for (int i = 0; i < n; i++) members[i] = i;
  int rc = 0;
  for (int k = 0;; k++) {
    long ep = round_epochs(h, k, nm);
    /* trials of round k not recorded: the run may already be there (a slurm array, a state
     * write lost to a kill): record it without training */
    *ntodo = 0;
    for (int j = 0; j < nm; j++) {
      if (find_row(h, k, members[j])) continue;
      double v;
      long done;
      if (pb_collect_last(h->m.rows[members[j]].run_dir, h->metric, &v, &done, err)) {
        rc = pb_err_prefix(err, "--metric %s", h->metric);
        goto out;
      }
      if (done == ep) {
        if ((rc = pb_halve_record(h, k, members[j], ep, 1, err))) goto out;
      } else {
        todo[(*ntodo)++] = members[j];
      }
    }
    if (*ntodo) {
      *round = k, *epochs = ep;
      rc = 1;
      goto out;
    }
    /* round k complete: rank it, close it when open */
    pb_halve_row **rs = pb_xmalloc((size_t)nm * sizeof *rs);
    int nr = 0, open = 0;
    for (int j = 0; j < nm; j++) {
      pb_halve_row *r = find_row(h, k, members[j]);
      if (strcmp(r->status, "failed")) rs[nr++] = r;
      open |= !strcmp(r->status, "trained");
    }
    for (int a = 1; a < nr; a++) /* insertion sort, best first */
      for (int b = a; b > 0 && better(h, rs[b], rs[b - 1]); b--) {
        pb_halve_row *x = rs[b];
        rs[b] = rs[b - 1], rs[b - 1] = x;
      }
    int last = nm == 1 || ep >= h->e, keep = last ? nr : (nr + h->eta - 1) / h->eta;
    if (open) {
      for (int j = 0; j < nr; j++) snprintf(rs[j]->status, sizeof rs[j]->status, "%s", j < keep ? "kept" : "dropped");
      if (save(h, err)) {
        free(rs);
        rc = PB_ERR;
        goto out;
      }
    }
    int nk = 0;
    for (int j = 0; j < nr; j++)
      if (!strcmp(rs[j]->status, "kept")) kept[nk++] = rs[j]->t;
    free(rs);
    if (!nr) {
      rc = pb_err_set(err, "every trial of round %d failed (logs in %s/halving/round-%d/)", k, h->dir, k);
      goto out;
    }
    if (last) {
      rc = 0;
      goto out;
    }
    memcpy(members, kept, (size_t)nk * sizeof *kept);
    nm = nk;
  }
out:
  free(members);
  free(kept);
  return rc;
}

int pb_halve_result(const pb_halve *h, FILE *out, pb_err *err) {
  /* each trial's row of the last round it reached */
  const pb_halve_row **best = pb_xcalloc((size_t)h->m.n + 1, sizeof *best);
  for (int i = 0; i < h->n; i++) {
    const pb_halve_row *r = &h->rows[i];
    if (!best[r->t] || r->round > best[r->t]->round) best[r->t] = r;
  }
  int *order = pb_xmalloc((size_t)h->m.n * sizeof *order), no = 0;
  for (int t = 0; t < h->m.n; t++)
    if (best[t]) order[no++] = t;
  for (int a = 1; a < no; a++)
    for (int b = a; b > 0; b--) {
      const pb_halve_row *x = best[order[b]], *y = best[order[b - 1]];
      int xf = !strcmp(x->status, "failed"), yf = !strcmp(y->status, "failed");
      int before = xf != yf ? yf : x->round != y->round ? x->round > y->round : better(h, x, y);
      if (!before) break;
      int s = order[b];
      order[b] = order[b - 1], order[b - 1] = s;
    }
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/halving/result.csv", h->dir);
  pb_afile a;
  int rc = pb_afile_open(&a, path, err);
  if (rc == PB_OK) {
    FILE *f[2] = {a.f, out};
    for (int w = 0; w < 2; w++) {
      if (!f[w]) continue;
      const char *sep = w ? "  " : ",";
      fprintf(f[w], "rank%strial", sep);
      for (int k = 0; k < h->m.nkeys; k++) fprintf(f[w], "%s%s", sep, h->m.keys[k]);
      fprintf(f[w], "%sname%s%s%sepochs%sround%sstatus\n", sep, sep, h->metric, sep, sep, sep);
      for (int j = 0; j < no; j++) {
        const pb_halve_row *r = best[order[j]];
        const pb_manifest_row *m = &h->m.rows[r->t];
        fprintf(f[w], "%d%s%ld", j + 1, sep, m->trial);
        for (int k = 0; k < h->m.nkeys; k++) fprintf(f[w], "%s%s", sep, m->vals[k]);
        fprintf(f[w], "%s%s%s%.6g%s%ld%s%d%s%s\n", sep, m->name, sep, r->value, sep, r->epochs, sep, r->round, sep, r->status);
      }
    }
    rc = pb_afile_commit(&a, err);
  }
  free(best);
  free(order);
  return rc;
}
