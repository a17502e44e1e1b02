/* cmd_verify.c: `plumb verify --emb EMB.npy --rows ROWS.csv [--gallery G.npy --gallery-rows
 * GR.csv] [--label-column label] [--group-column NAME] [--score cosine|l2] [--fpr F,F,...]
 * [--json OUT.json]`: verification figures (metrics/verification.h) of embeddings computed
 * anywhere: plumb embed's output, or descriptors from another tool (the mean of a track's frame
 * descriptors, a baseline). Without a gallery every pair of the rows is scored; with one, every
 * row (a probe) against every gallery row. Labels (identities) and groups come from columns of
 * the CSVs, one row per embedding row, in order. */
#include <stdlib.h>
#include <string.h>

#include "engine/cli/cli.h"
#include "kernels/pb_file.h"
#include "loaders/sources.h"
#include "metrics/verification.h"

/* "1e-3,1e-4" into fpr[cap]; PB_ERR naming the option on a malformed list. */
static int parse_fpr(const char *s, double *fpr, int cap, int *n, pb_err *err) {
  *n = 0;
  const char *p = s;
  while (*p) {
    char *end;
    double v = strtod(p, &end);
    if (end == p || (*end && *end != ',') || !(v > 0 && v < 1) || *n == cap)
      return pb_err_set(err, "--fpr %s: a comma-separated list of 1 to %d rates in (0, 1) expected", s, cap);
    fpr[(*n)++] = v;
    p = *end ? end + 1 : end;
  }
  return *n ? PB_OK : pb_err_set(err, "--fpr is empty");
}

/* A set of embedding rows: the .npy [N, D] and the labels / groups of its CSV. */
static int load_set(pb_dataset *d, const char *name, const char *emb, const char *rows, const char *label_col,
                    const char *group_col, pb_err *err) {
  if (pb_data_npy(d, name, emb, rows, label_col, group_col, 1 << 30, err)) return PB_ERR;
  if (d->h != 1 || d->w != 1) /* [N, D] features load as [N, D, 1, 1] */
    return pb_err_set(err, "%s: embeddings must be a float32 [N, D] .npy (it holds [N, %d, %d])", emb, d->h, d->w);
  return PB_OK;
}

int pb_cmd_verify(const pb_cli_opts *o, pb_config *cfg) {
  (void)cfg;
  const char *emb = pb_cli_opt(o, "emb"), *rows = pb_cli_opt(o, "rows"), *gal = pb_cli_opt(o, "gallery");
  const char *grows = pb_cli_opt(o, "gallery-rows"), *json = pb_cli_opt(o, "json");
  const char *lc = pb_cli_opt(o, "label-column"), *gc = pb_cli_opt(o, "group-column");
  const char *score = pb_cli_opt(o, "score"), *fprs = pb_cli_opt(o, "fpr");
  pb_err err = {{0}};
  pb_dataset a = {0}, b = {0};
  pb_verif_result res = {0};
  float *all = NULL;
  int32_t *lab = NULL, *grp = NULL;
  int64_t *ia = NULL, *ib = NULL;
  pb_afile jf = {0};
  int rc = 1;
  double fpr[PB_VERIF_MAX_FPR];
  pb_verif_params p = {0};
  if (!lc) lc = "label";
  if (!gc) gc = "";
  if (!!gal != !!grows) {
    pb_err_set(&err, "--gallery and --gallery-rows go together (the gallery's embeddings and their rows)");
    goto out;
  }
  if (score && strcmp(score, "cosine") && strcmp(score, "l2")) {
    pb_err_set(&err, "--score %s: cosine or l2", score);
    goto out;
  }
  p.score = score && !strcmp(score, "l2") ? PB_VERIF_NEG_L2 : PB_VERIF_COSINE;
  if (fprs && parse_fpr(fprs, fpr, PB_VERIF_MAX_FPR, &p.nfpr, &err)) goto out;
  if (fprs) p.fpr = fpr;
  if (load_set(&a, "rows", emb, rows, lc, gc, &err) || (gal && load_set(&b, "gallery", gal, grows, lc, gc, &err)))
    goto out;
  if (gal && b.c != a.c) {
    pb_err_set(&err, "%s holds %d-d embeddings but %s %d-d ones", gal, b.c, emb, a.c);
    goto out;
  }
  int64_t n = (int64_t)a.n + b.n;
  int d = a.c;
  all = pb_xmalloc((size_t)n * d * sizeof(float));
  lab = pb_xmalloc((size_t)n * sizeof(int32_t));
  memcpy(all, a.feats, (size_t)a.n * d * sizeof(float));
  memcpy(lab, a.labels, (size_t)a.n * sizeof(int32_t));
  if (b.n) memcpy(all + (size_t)a.n * d, b.feats, (size_t)b.n * d * sizeof(float));
  if (b.n) memcpy(lab + a.n, b.labels, (size_t)b.n * sizeof(int32_t));
  if (a.groups) {
    grp = pb_xmalloc((size_t)n * sizeof(int32_t));
    memcpy(grp, a.groups, (size_t)a.n * sizeof(int32_t));
    for (int i = 0; i < b.n; i++) grp[a.n + i] = b.groups ? b.groups[i] : -1;
  }
  pb_verif_data x = {all, lab, grp, n, d};
  pb_verif_pairs pairs = {PB_VERIF_ALL_PAIRS, NULL, 0, NULL, 0};
  if (gal) {
    ia = pb_xmalloc((size_t)a.n * sizeof(int64_t));
    ib = pb_xmalloc((size_t)b.n * sizeof(int64_t));
    for (int i = 0; i < a.n; i++) ia[i] = i;
    for (int i = 0; i < b.n; i++) ib[i] = a.n + i;
    pairs = (pb_verif_pairs){PB_VERIF_PROBE_GALLERY, ia, a.n, ib, b.n};
  }
  if (pb_verif_eval(&x, &pairs, &p, &res, &err)) goto out;
  char line[4096];
  pb_verif_summary(&res, line, sizeof line);
  printf("%s: %d rows%s%s%s of %d dimensions\n%s\n", emb, a.n, gal ? " against the gallery " : "", gal ? gal : "",
         gal ? "" : " (every pair)", d, line);
  if (json) {
    if (pb_afile_open(&jf, json, &err) || pb_verif_json_write(&res, jf.f, &err)) goto out;
    fprintf(jf.f, "\n");
    if (pb_afile_commit(&jf, &err)) goto out;
    printf("figures: %s\n", json);
  }
  rc = 0;
out:
  if (jf.f) pb_afile_abort(&jf);
  if (rc) fprintf(stderr, "plumb verify: error: %s\n", err.msg);
  pb_verif_result_free(&res);
  pb_dataset_free(&a);
  pb_dataset_free(&b);
  free(all), free(lab), free(grp), free(ia), free(ib);
  return rc;
}
