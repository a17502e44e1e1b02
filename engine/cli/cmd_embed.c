/* cmd_embed.c: `plumb embed CONFIG --checkpoint C --out EMB.npy [--split test|train|val|NAME]
 * [--csv FILE]`: the embeddings of an embedding model ([model] embedding_dim; image and sequence
 * models alike) for one set of the config's data, as a float32 [N, D] .npy (numpy.load reads it)
 * and a CSV of each row's sample: its index in the set, its path (files; an image sequence: its
 * first frame's), its identity label and its group. Rows follow the set's order; samples that
 * could not be read are left out (the CSV says which are there). Both files are written
 * atomically: a failure leaves neither half-written. */
#include <stdio.h>
#include <string.h>

#include "engine/cli/cli.h"
#include "engine/run/evaluate.h"
#include "engine/run/state.h"
#include "kernels/pb_file.h"
#include "loaders/npy_write.h"

static void csv_path(const char *out, char *buf, size_t len) {
  size_t L = strlen(out);
  if (L > 4 && !strcmp(out + L - 4, ".npy"))
    snprintf(buf, len, "%.*s.csv", (int)(L - 4), out);
  else
    snprintf(buf, len, "%s.csv", out);
}

static void write_rows(FILE *f, const pb_eval *e, const pb_dataset *d) {
  fprintf(f, "row,index,path,label,group\n");
  for (long i = 0; i < e->n; i++) {
    int32_t s = e->sample[i];
    const char *path = pb_dataset_path(d, s);
    int quote = strpbrk(path, ",\"\n\r") != NULL;
    fprintf(f, "%ld,%d,%s", i, s, quote ? "\"" : "");
    for (const char *c = path; *c; c++) fprintf(f, *c == '"' ? "\"\"" : "%c", *c);
    fprintf(f, "%s,%d,", quote ? "\"" : "", e->labels[i]);
    if (e->groups) fprintf(f, "%d", e->groups[i]);
    fprintf(f, "\n");
  }
}

int pb_cmd_embed(const pb_cli_opts *o, pb_config *cfg) {
  const char *ck = pb_cli_opt(o, "checkpoint"), *out = pb_cli_opt(o, "out"), *split = pb_cli_opt(o, "split");
  const char *csv_opt = pb_cli_opt(o, "csv");
  if (!split) split = "test";
  char csv[4200];
  if (csv_opt)
    snprintf(csv, sizeof csv, "%s", csv_opt);
  else
    csv_path(out, csv, sizeof csv);
  pb_err err = {{0}};
  pb_run r;
  if (pb_run_init_infer(&r, cfg, &err)) {
    fprintf(stderr, "plumb embed: error: %s\n", err.msg);
    return 1;
  }
  int rc = 1;
  pb_eval e = {0};
  pb_afile nf = {0}, cf = {0};
  const pb_dataset *d = NULL;
  if (!r.model->embed_dim) {
    pb_err_set(&err, "%s: the model has no embedding ([model] embedding_dim = 0): plumb embed writes an embedding "
                     "model's embeddings; plumb eval scores a classifier",
               o->config);
    goto out;
  }
  if (!strcmp(split, "train")) d = &r.train;
  if (!strcmp(split, "val")) d = &r.val;
  for (int k = 0; k < r.ntests && !d; k++)
    if (!strcmp(split, r.tests[k].name)) d = &r.tests[k];
  if (!d || !d->n) {
    pb_err_set(&err, "--split %s: %s (the sets of this config: train, %s%s)", split,
               d ? "that set is empty" : "no set of that name", r.val.n ? "val, " : "", r.tests[0].name);
    goto out;
  }
  if (pb_run_load_models(&r, ck, &err)) goto out;
  r.no_verify = 1; /* the embeddings only: any set, any identities */
  if (pb_run_evaluate(&r, d, &e, &err)) goto out;
  if (pb_afile_open(&nf, out, &err) || pb_afile_open(&cf, csv, &err)) goto out;
  if (pb_npy_write_f32(nf.f, e.emb, e.n, e.emb_dim, &err)) {
    pb_err_prefix(&err, "%s", out);
    goto out;
  }
  write_rows(cf.f, &e, d);
  if (pb_afile_commit(&nf, &err) || pb_afile_commit(&cf, &err)) goto out;
  printf("checkpoint %s: %ld %s samples embedded in %d dimensions%s\n", ck, e.n, d->name, e.emb_dim,
         e.n < d->n ? " (the rest could not be read)" : "");
  printf("embeddings: %s\nrows: %s\n", out, csv);
  rc = 0;
out:
  if (nf.f) pb_afile_abort(&nf);
  if (cf.f) pb_afile_abort(&cf);
  if (rc) fprintf(stderr, "plumb embed: error: %s\n", err.msg);
  pb_eval_free(&e);
  pb_run_free(&r);
  return rc;
}
