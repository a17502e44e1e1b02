/* unlabelled.c: images without labels from a folder or a CSV listing (unlabelled.h). */
#include "loaders/unlabelled.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "kernels/pb_file.h"
#include "loaders/sources.h"

void pb_unlabelled_ids_free(char **ids, int n) {
  if (!ids) return;
  for (int i = 0; i < n; i++) free(ids[i]);
  free(ids);
}

/* A growing list of (id, path, line) triples. */
typedef struct items {
  int n, cap;
  char **id, **path;
  long *line; /* CSV: the line of the row (1-based); folder: 0 */
} items;

static void items_push(items *l, const char *id, const char *path, long line) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 64;
    l->id = pb_xrealloc(l->id, (size_t)l->cap * sizeof(char *));
    l->path = pb_xrealloc(l->path, (size_t)l->cap * sizeof(char *));
    l->line = pb_xrealloc(l->line, (size_t)l->cap * sizeof(long));
  }
  l->id[l->n] = pb_xstrdup(id), l->path[l->n] = pb_xstrdup(path), l->line[l->n] = line;
  l->n++;
}

static void items_free(items *l) {
  for (int i = 0; i < l->n; i++) free(l->id[i]), free(l->path[i]);
  free(l->id), free(l->path), free(l->line);
  memset(l, 0, sizeof *l);
}

static int ends_with_ci(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcasecmp(s + n - k, suffix);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every .jpg / .jpeg / .png directly in dir, sorted by name (byte order). */
static int list_folder(const char *dir, items *out, pb_err *err) {
  DIR *dh = opendir(dir);
  if (!dh) return pb_err_set(err, "--input %s: cannot open the folder: %s", dir, strerror(errno));
  int n = 0, cap = 0;
  char **names = NULL;
  for (struct dirent *e; (e = readdir(dh));) {
    const char *nm = e->d_name;
    if (nm[0] == '.' || !(ends_with_ci(nm, ".jpg") || ends_with_ci(nm, ".jpeg") || ends_with_ci(nm, ".png")))
      continue;
    char p[4096];
    struct stat st;
    if (pb_path_join(p, sizeof p, dir, nm, err)) {
      closedir(dh);
      for (int i = 0; i < n; i++) free(names[i]);
      free(names);
      return PB_ERR;
    }
    if (stat(p, &st) || !S_ISREG(st.st_mode)) continue; /* a folder named x.jpg is no image */
    if (n == cap) cap = cap ? 2 * cap : 64, names = pb_xrealloc(names, (size_t)cap * sizeof(char *));
    names[n++] = pb_xstrdup(nm);
  }
  closedir(dh);
  if (n) qsort(names, (size_t)n, sizeof(char *), cmp_str); /* names is NULL for an empty folder */
  int rc = PB_OK;
  for (int i = 0; i < n; i++) {
    char p[4096];
    if (rc == PB_OK && !(rc = pb_path_join(p, sizeof p, dir, names[i], err))) {
      char *dot = strrchr(names[i], '.');
      *dot = 0; /* the id: the name less its extension (there is one: it matched above) */
      items_push(out, names[i], p, 0);
    }
    free(names[i]);
  }
  free(names);
  if (rc == PB_OK && out->n == 0)
    rc = pb_err_set(err, "--input %s: the folder holds no image (.jpg, .jpeg or .png files directly in it)", dir);
  return rc;
}

/* The rows of a CSV listing. */
static int list_csv(const char *csv, const pb_unlabelled_opts *o, items *out, pb_err *err) {
  char *text = pb_csv_read_text(csv, err);
  if (!text) return pb_err_prefix(err, "--input");
  char *orig = pb_xstrdup(text); /* the line count: csv rows are split in place */
  char dir[4096];
  if (o->image_dir && o->image_dir[0]) {
    snprintf(dir, sizeof dir, "%s", o->image_dir);
  } else { /* the CSV's folder */
    snprintf(dir, sizeof dir, "%s", csv);
    char *slash = strrchr(dir, '/');
    if (slash) slash[slash == dir ? 1 : 0] = 0;
    else dir[0] = 0;
  }
  enum { CAP = 256 };
  char *f[CAP], *p = text;
  int rc = PB_ERR, nf = pb_csv_next_row(&p, f, CAP);
  if (nf <= 0) {
    pb_err_set(err, "%s: line 1: %s", csv, nf == 0 ? "empty file (a header row naming the id column is needed)"
                                                   : "unterminated quote");
    goto out;
  }
  int icol = -1, pcol = -1, nh = nf < CAP ? nf : CAP;
  for (int j = 0; j < nh; j++) {
    if (!strcmp(f[j], o->id_column)) icol = j;
    if (o->path_column[0] && !strcmp(f[j], o->path_column)) pcol = j;
  }
  if (icol < 0 || (o->path_column[0] && pcol < 0)) {
    char cols[1024] = "";
    for (int j = 0; j < nh; j++) {
      size_t L = strlen(cols);
      snprintf(cols + L, sizeof cols - L, "%s%s", j ? ", " : "", f[j]);
    }
    pb_err_set(err, "%s: line 1: no column '%s' (%s [predict] %s); the header has: %s", csv,
               icol < 0 ? o->id_column : o->path_column, icol < 0 ? "the ids," : "the paths,",
               icol < 0 ? "id_column" : "path_column", cols);
    goto out;
  }
  long line = 1;
  const char *scan = orig;
  for (;;) {
    char *start = p;
    for (const char *q = scan; q < orig + (start - text); q++) line += *q == '\n';
    scan = orig + (start - text);
    int k = pb_csv_next_row(&p, f, CAP);
    if (k == 0) break;
    if (k < 0) {
      pb_err_set(err, "%s: line %ld: unterminated quote", csv, line);
      goto out;
    }
    if (k == 1 && !f[0][0]) continue; /* a blank line */
    int need = (icol > pcol ? icol : pcol) + 1;
    if (k < need) {
      pb_err_set(err, "%s: line %ld: %d field(s), the header has %d", csv, line, k, nf);
      goto out;
    }
    const char *id = f[icol];
    if (!id[0]) {
      pb_err_set(err, "%s: line %ld: empty id in column '%s'", csv, line, o->id_column);
      goto out;
    }
    char rel[4096], full[4096];
    if (pcol >= 0) {
      if (!f[pcol][0]) {
        pb_err_set(err, "%s: line %ld: empty path in column '%s'", csv, line, o->path_column);
        goto out;
      }
      snprintf(rel, sizeof rel, "%s", f[pcol]);
    } else if (snprintf(rel, sizeof rel, "%s%s", id, o->path_suffix) >= (int)sizeof rel) {
      pb_err_set(err, "%s: line %ld: path too long", csv, line);
      goto out;
    }
    if (pb_path_join(full, sizeof full, dir, rel, err)) {
      pb_err_prefix(err, "%s: line %ld", csv, line);
      goto out;
    }
    items_push(out, id, full, line);
  }
  if (out->n == 0) {
    pb_err_set(err, "%s: no data rows after the header (no image to predict)", csv);
    goto out;
  }
  rc = PB_OK;
out:
  free(text);
  free(orig);
  return rc;
}

static const items *g_sort; /* qsort's context: the ids being sorted (one sort at a time) */
static int cmp_idx(const void *a, const void *b) {
  int i = *(const int *)a, j = *(const int *)b;
  int c = strcmp(g_sort->id[i], g_sort->id[j]);
  return c ? c : (i > j) - (i < j);
}

/* Two samples with one id would be two rows of one submission id. */
static int check_unique(const items *l, const char *input, pb_err *err) {
  int *idx = pb_xmalloc((size_t)l->n * sizeof(int));
  for (int i = 0; i < l->n; i++) idx[i] = i;
  g_sort = l;
  qsort(idx, (size_t)l->n, sizeof(int), cmp_idx);
  int rc = PB_OK;
  for (int i = 1; i < l->n && rc == PB_OK; i++) {
    int a = idx[i - 1], b = idx[i];
    if (strcmp(l->id[a], l->id[b])) continue;
    if (l->line[a])
      rc = pb_err_set(err, "%s: line %ld: duplicate id '%s' (first on line %ld)", input, l->line[b], l->id[b],
                      l->line[a]);
    else
      rc = pb_err_set(err, "--input %s: duplicate id '%s': %s and %s (the id is the file name less its extension)",
                      input, l->id[a], l->path[a], l->path[b]);
  }
  free(idx);
  return rc;
}

int pb_data_unlabelled(pb_dataset *d, char ***ids, const char *input, const pb_unlabelled_opts *o, pb_err *err) {
  memset(d, 0, sizeof *d);
  *ids = NULL;
  items l = {0};
  struct stat st;
  int rc;
  if (ends_with_ci(input, ".csv") && !(stat(input, &st) == 0 && S_ISDIR(st.st_mode)))
    rc = list_csv(input, o, &l, err);
  else if (stat(input, &st) != 0)
    rc = pb_err_set(err, "--input %s: no such folder or CSV file (%s)", input, strerror(errno));
  else if (!S_ISDIR(st.st_mode))
    rc = pb_err_set(err, "--input %s: neither a folder of images nor a CSV file (a name ending in .csv)", input);
  else
    rc = list_folder(input, &l, err);
  if (rc == PB_OK) rc = check_unique(&l, input, err);
  if (rc) {
    items_free(&l);
    return PB_ERR;
  }
  snprintf(d->name, sizeof d->name, "predict");
  d->kind = PB_DATA_FILES;
  d->n = l.n;
  d->paths = l.path;
  d->labels = pb_xcalloc((size_t)l.n, sizeof(int32_t));
  *ids = l.id;
  free(l.line);
  return PB_OK;
}
