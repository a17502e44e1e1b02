/* write.c: the sweep folder (sweep.h, pb_sweep_write): every trial's resolved config through
 * the config module (base, [set], --set, [run] name / out_dir, the trial's values), written as
 * `plumb config` and a run's config.ini write it, and manifest.csv. */
#define _XOPEN_SOURCE 700

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/config/config.h"
#include "engine/sweep/sweep.h"
#include "kernels/pb_file.h"

/* The config of trial t; NULL with err set when a value does not apply. */
static pb_config *resolve(const pb_sweep_spec *s, const pb_sweep_plan *p, long t, const char *out_dir,
                          const char *const *sets, int nset, pb_err *err) {
  pb_config *c = pb_config_new();
  if (pb_config_load(c, s->base, err)) {
    pb_err_prefix(err, "%s: [sweep] base", s->base_origin);
    goto fail;
  }
  for (int i = 0; i < s->nfixed; i++)
    if (pb_config_set_at(c, s->fixed[i].name, s->fixed[i].value, s->fixed[i].origin, err)) goto fail;
  for (int i = 0; i < nset; i++)
    if (pb_config_set(c, sets[i], err)) goto fail;
  const char *name_origin = s->name_origin ? s->name_origin : "plumb sweep";
  if (pb_config_set_at(c, "run.name", p->names[t], name_origin, err)) goto fail;
  if (pb_config_set_at(c, "run.out_dir", out_dir, "plumb sweep", err)) goto fail;
  for (int k = 0; k < p->nkeys; k++)
    if (pb_config_set_at(c, p->keys[k], p->values[t * p->nkeys + k], p->origins[k], err)) {
      pb_err_prefix(err, "trial %ld", t + 1);
      goto fail;
    }
  return c;
fail:
  pb_config_free(c);
  return NULL;
}

static int mkdir_p(const char *path, pb_err *err) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return pb_err_set(err, "path too long: %s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0755) && errno != EEXIST) return pb_err_set(err, "cannot create %s: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0755) && errno != EEXIST) return pb_err_set(err, "cannot create %s: %s", buf, strerror(errno));
  return PB_OK;
}

void pb_sweep_csv_field(FILE *f, const char *v, int last) {
  if (!v) v = "";
  if (strpbrk(v, ",\"\r\n")) {
    fputc('"', f);
    for (; *v; v++) {
      if (*v == '"') fputc('"', f);
      fputc(*v, f);
    }
    fputc('"', f);
  } else {
    fputs(v, f);
  }
  fputc(last ? '\n' : ',', f);
}

static void config_name(char *buf, size_t cap, long t) { snprintf(buf, cap, "configs/trial-%04ld.ini", t + 1); }

int pb_sweep_write(const pb_sweep_spec *s, const pb_sweep_plan *p, const char *dir_in, const char *const *sets,
                   int nset, int force, pb_err *err) {
  PB_ASSERT(s && p && dir_in);
  char dir[PATH_MAX], path[PATH_MAX + 64], out_dir[PATH_MAX * 2];
  /* The folder as an absolute path, so the trial configs run from anywhere. */
  if (dir_in[0] == '/') {
    snprintf(dir, sizeof dir, "%s", dir_in);
  } else {
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return pb_err_set(err, "cannot read the current folder: %s", strerror(errno));
    if (snprintf(dir, sizeof dir, "%s/%s", cwd, dir_in) >= (int)sizeof dir) return pb_err_set(err, "path too long: %s", dir_in);
  }
  size_t dl = strlen(dir);
  while (dl > 1 && dir[dl - 1] == '/') dir[--dl] = '\0';
  const char *od = s->out_dir ? s->out_dir : "runs";
  snprintf(out_dir, sizeof out_dir, "%s%s%s", od[0] == '/' ? "" : dir, od[0] == '/' ? "" : "/", od);

  snprintf(path, sizeof path, "%s/manifest.csv", dir);
  struct stat st;
  if (!force && stat(path, &st) == 0)
    return pb_err_set(err, "%s already holds a sweep (manifest.csv); choose another --out or pass --force to replace it",
                      dir_in);
  if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) return pb_err_set(err, "--out %s is not a folder", dir_in);

  /* Every trial resolves before anything is written. */
  for (long t = 0; t < p->ntrials; t++) {
    pb_config *c = resolve(s, p, t, out_dir, sets, nset, err);
    if (!c) return PB_ERR;
    pb_config_free(c);
  }

  snprintf(path, sizeof path, "%s/configs", dir);
  if (mkdir_p(path, err)) return PB_ERR;
  for (long t = 0; t < p->ntrials; t++) {
    pb_config *c = resolve(s, p, t, out_dir, sets, nset, err);
    if (!c) return PB_ERR;
    char rel[64];
    config_name(rel, sizeof rel, t);
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    int rc = pb_config_write(c, path, err);
    pb_config_free(c);
    if (rc) return PB_ERR;
  }

  pb_afile af;
  snprintf(path, sizeof path, "%s/manifest.csv", dir);
  if (pb_afile_open(&af, path, err)) return PB_ERR;
  pb_sweep_csv_field(af.f, "trial", 0);
  for (int k = 0; k < p->nkeys; k++) pb_sweep_csv_field(af.f, p->keys[k], 0);
  pb_sweep_csv_field(af.f, "name", 0);
  pb_sweep_csv_field(af.f, "config", 1);
  for (long t = 0; t < p->ntrials; t++) {
    char num[32], rel[64];
    snprintf(num, sizeof num, "%ld", t + 1);
    config_name(rel, sizeof rel, t);
    pb_sweep_csv_field(af.f, num, 0);
    for (int k = 0; k < p->nkeys; k++) pb_sweep_csv_field(af.f, p->values[t * p->nkeys + k], 0);
    pb_sweep_csv_field(af.f, p->names[t], 0);
    pb_sweep_csv_field(af.f, rel, 1);
  }
  if (pb_afile_commit(&af, err)) return PB_ERR;

  /* --force over a larger sweep: its trial configs past this one's are not this sweep's. */
  snprintf(path, sizeof path, "%s/configs", dir);
  DIR *d = opendir(path);
  for (struct dirent *e; d && (e = readdir(d));) {
    long n;
    char tail[8];
    if (sscanf(e->d_name, "trial-%ld.%7s", &n, tail) == 2 && !strcmp(tail, "ini") && n > p->ntrials) {
      char old[PATH_MAX + 320];
      snprintf(old, sizeof old, "%s/%s", path, e->d_name);
      unlink(old);
    }
  }
  if (d) closedir(d);
  return PB_OK;
}
