/* sources.c: image folders, CSV manifests and .npy arrays as pb_datasets (sources.h). */
#include "loaders/sources.h"

#include "kernels/pb_file.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------ string lists */

typedef struct strlist {
  char **s;
  int n, cap;
} strlist;

static void sl_push(strlist *l, const char *s) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 64;
    l->s = pb_xrealloc(l->s, (size_t)l->cap * sizeof(char *));
  }
  l->s[l->n++] = pb_xstrdup(s);
}
static void sl_free(strlist *l) {
  for (int i = 0; i < l->n; i++) free(l->s[i]);
  free(l->s);
  memset(l, 0, sizeof *l);
}
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static void sl_sort_unique(strlist *l) {
  if (!l->n) return;
  qsort(l->s, (size_t)l->n, sizeof(char *), cmp_str);
  int m = 1;
  for (int i = 1; i < l->n; i++) {
    if (strcmp(l->s[i], l->s[m - 1]))
      l->s[m++] = l->s[i];
    else
      free(l->s[i]);
  }
  l->n = m;
}
static int find_name(char **names, int n, const char *s) {
  char **hit = bsearch(&s, names, (size_t)n, sizeof(char *), cmp_str);
  return hit ? (int)(hit - names) : -1;
}

/* ------------------------------------------------------------------ image folders */

static int list_dir(const char *path, int want_dirs, strlist *out, pb_err *err) {
  DIR *d = opendir(path);
  if (!d) return pb_err_set(err, "%s: cannot open the folder: %s", path, strerror(errno));
  struct dirent *e;
  char p[8192];
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    snprintf(p, sizeof p, "%s/%s", path, e->d_name);
    struct stat st;
    if (stat(p, &st)) {
      /* A dangling symlink (or one we may not follow) among the images is a bad sample that
       * the loader counts and names, not a file that silently is not there. */
      if (!want_dirs && !lstat(p, &st) && S_ISLNK(st.st_mode)) sl_push(out, e->d_name);
      continue;
    }
    if (want_dirs ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)) sl_push(out, e->d_name);
  }
  closedir(d);
  qsort(out->s, (size_t)out->n, sizeof(char *), cmp_str);
  return PB_OK;
}

int pb_data_folder(pb_dataset *d, const char *name, const char *root, const pb_dataset *classes, pb_err *err) {
  memset(d, 0, sizeof *d);
  strlist cls = {0}, paths = {0};
  int32_t *labels = NULL;
  int nl = 0, cap = 0, rc = PB_ERR;
  if (list_dir(root, 1, &cls, err)) return pb_err_prefix(err, "[data] %s image folder", name);
  if (!cls.n) {
    pb_err_set(err, "[data] %s image folder %s has no class sub-folders", name, root);
    goto out;
  }
  for (int k = 0; k < cls.n; k++) {
    int id = k;
    if (classes) {
      id = find_name(classes->class_names, classes->num_classes, cls.s[k]);
      if (id < 0) {
        pb_err_set(err, "[data] %s: class folder %s/%s is not one of the %d training classes", name, root, cls.s[k],
                   classes->num_classes);
        goto out;
      }
    }
    char sub[8192];
    snprintf(sub, sizeof sub, "%s/%s", root, cls.s[k]);
    strlist files = {0};
    if (list_dir(sub, 0, &files, err)) goto out;
    for (int i = 0; i < files.n; i++) {
      char p[8192];
      snprintf(p, sizeof p, "%s/%s", sub, files.s[i]);
      sl_push(&paths, p);
      if (nl == cap) cap = cap ? 2 * cap : 256, labels = pb_xrealloc(labels, (size_t)cap * sizeof(int32_t));
      labels[nl++] = id;
    }
    sl_free(&files);
  }
  if (!paths.n) {
    pb_err_set(err, "[data] %s image folder %s has no files in its class folders", name, root);
    goto out;
  }
  snprintf(d->name, sizeof d->name, "%s", name);
  d->kind = PB_DATA_FILES;
  d->n = paths.n;
  d->paths = paths.s;
  paths.s = NULL;
  d->labels = labels;
  labels = NULL;
  if (classes) {
    d->num_classes = classes->num_classes;
    d->class_names = pb_xcalloc((size_t)d->num_classes, sizeof(char *));
    for (int k = 0; k < d->num_classes; k++) d->class_names[k] = pb_xstrdup(classes->class_names[k]);
  } else {
    d->num_classes = cls.n;
    d->class_names = cls.s;
    cls.s = NULL, cls.n = 0;
  }
  rc = PB_OK;
out:
  sl_free(&cls);
  paths.n = paths.s ? paths.n : 0;
  sl_free(&paths);
  free(labels);
  return rc;
}

/* ------------------------------------------------------------------ CSV */

static char *read_text(const char *path, pb_err *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return pb_err_set(err, "%s: cannot open: %s", path, strerror(errno)), NULL;
  size_t cap = 1 << 16, n = 0;
  char *b = pb_xmalloc(cap);
  size_t got;
  while ((got = fread(b + n, 1, cap - n - 1, f)) > 0) {
    n += got;
    if (cap - n < 2) cap *= 2, b = pb_xrealloc(b, cap);
  }
  fclose(f);
  b[n] = 0;
  return b;
}

/* Splits the next line at *p into fields (in place; quotes "..." with "" escapes). Returns
 * the number of fields, 0 at the end of the text, -1 for an unterminated quote. */
static int csv_row(char **p, char **fields, int cap) {
  char *s = *p;
  if (!*s) return 0;
  int n = 0;
  for (;;) {
    char *out = s, *start = s;
    if (*s == '"') {
      s++;
      for (;;) {
        if (!*s) return -1;
        if (*s == '"' && s[1] == '"') *out++ = '"', s += 2;
        else if (*s == '"') { s++; break; }
        else *out++ = *s++;
      }
      while (*s && *s != ',' && *s != '\n' && *s != '\r') s++;
    } else {
      while (*s && *s != ',' && *s != '\n' && *s != '\r') s++;
      out = s;
    }
    char c = *s;
    *out = 0;
    if (n < cap) fields[n] = start;
    n++;
    if (c == ',') {
      s++;
      continue;
    }
    /* c was read before the terminator was written over it. */
    if (c == '\r') {
      s++;
      if (*s == '\n') s++;
    } else if (c == '\n') {
      s++;
    }
    break;
  }
  *p = s;
  return n;
}

char *pb_csv_read_text(const char *path, pb_err *err) { return read_text(path, err); }
int pb_csv_next_row(char **p, char **fields, int cap) { return csv_row(p, fields, cap); }

static int col_index(char **hdr, int nh, const char *name) {
  for (int i = 0; i < nh; i++)
    if (!strcmp(hdr[i], name)) return i;
  return -1;
}

static int parse_id(const char *s, long *v) {
  char *end;
  if (!*s) return 0;
  errno = 0;
  *v = strtol(s, &end, 10);
  return !*end && !errno && *v >= 0 && *v < 0x7FFFFFFF;
}

void pb_vocab_free(pb_vocab *v) {
  for (int c = 0; c < v->ncols; c++) {
    for (int i = 0; i < v->count[c]; i++) free(v->names[c][i]);
    free(v->names[c]);
  }
  memset(v, 0, sizeof *v);
}

#define MAXF 256

/* ------------------------------------------------------------------ image sequences */

/* The rows of an image-sequence manifest, read by csv_load, for group_tracks. */
typedef struct seq_rows {
  const char *csv, *fname;   /* the manifest, its frame column */
  const pb_csv_opts *o;
  char **hdr;
  const int *cols, *gcols;   /* csv_load's path + vocabulary columns, and the groupings' */
  int nv, nlab, ngs, k0, rows;
  const pb_vocab *vocab;
  char **track;              /* [rows] track ids */
  const long *frame;         /* [rows] frame numbers */
  const int *line;           /* [rows] line numbers */
  const int32_t *ids;        /* [rows, nv + 1] vocabulary ids */
  const int32_t *gids;       /* [rows, ngs] groupings, or NULL */
  const char *multi;         /* [rows, k0] multi-hot, or NULL */
} seq_rows;

typedef struct track_row {
  const char *track;
  long frame;
  int row;
} track_row;

static int cmp_track_row(const void *a, const void *b) {
  const track_row *x = a, *y = b;
  int c = strcmp(x->track, y->track);
  if (c) return c;
  if (x->frame != y->frame) return x->frame < y->frame ? -1 : 1;
  return (x->row > y->row) - (x->row < y->row);
}

typedef struct track_span {
  int first;       /* the track's first row in the file */
  int start, len;  /* its rows, by frame number: tr[start .. start + len) */
} track_span;

static int cmp_span(const void *a, const void *b) {
  const track_span *x = a, *y = b;
  return (x->first > y->first) - (x->first < y->first);
}

/* The name of vocabulary id `id` of column v ("" for a missing label). */
static const char *vocab_value(const pb_vocab *v, int col, int32_t id, char *buf, size_t cap) {
  if (id < 0) return "";
  if (!v->numeric[col]) return v->names[col][id];
  snprintf(buf, cap, "%d", id);
  return buf;
}

/* Tracks of the rows of s: *n tracks in the order of their first rows, each of lens[i] frames
 * in 1..*T, the rows of track i's frames at order[i * T + t] (-1 past its length), and pick[i] =
 * its first row, the one its labels are read from. Errors name file:line and the [data] key. */
static int group_tracks(const seq_rows *s, int *n, int *T, int **pick, int32_t **lens, int **order, pb_err *err) {
  const pb_csv_opts *o = s->o;
  int rows = s->rows, rc = PB_ERR, ns = 0, longest = 0;
  track_row *tr = pb_xmalloc((size_t)rows * sizeof *tr);
  track_span *sp = pb_xmalloc((size_t)rows * sizeof *sp);
  *pick = NULL, *lens = NULL, *order = NULL;
  for (int r = 0; r < rows; r++) tr[r] = (track_row){s->track[r], s->frame[r], r};
  qsort(tr, (size_t)rows, sizeof *tr, cmp_track_row);
  for (int k = 0; k < rows;) {
    int e = k + 1, first = tr[k].row;
    for (; e < rows && !strcmp(tr[e].track, tr[k].track); e++) {
      if (tr[e].frame == tr[e - 1].frame) {
        pb_err_set(err, "%s:%d: frame %ld of track '%s' again (first at line %d): a frame number appears once per "
                        "track (column '%s', [data] frame_column)",
                   s->csv, s->line[tr[e].row], tr[e].frame, tr[e].track, s->line[tr[e - 1].row],
                   s->fname);
        goto out;
      }
      first = PB_MIN(first, tr[e].row);
    }
    sp[ns++] = (track_span){first, k, e - k};
    longest = PB_MAX(longest, e - k);
    k = e;
  }
  /* Every frame of a track carries its first row's labels, group and groupings. */
  for (int i = 0; i < ns; i++) {
    int f = sp[i].first;
    for (int k = sp[i].start; k < sp[i].start + sp[i].len; k++) {
      int r = tr[k].row;
      if (r == f) continue;
      for (int v = 0; v < s->nv; v++) {
        int32_t a = s->ids[(size_t)f * (s->nv + 1) + v], b = s->ids[(size_t)r * (s->nv + 1) + v];
        int is_multi = v == 0 && s->multi;
        if (a == b && !(is_multi && memcmp(s->multi + (size_t)f * s->k0, s->multi + (size_t)r * s->k0, (size_t)s->k0)))
          continue;
        int grp = v >= s->nlab;
        char ba[32], bb[32];
        if (is_multi)
          pb_err_set(err, "%s:%d: track '%s' has other labels in column '%s' here than at line %d: every frame of a "
                          "track carries the same labels ([data] label_columns)",
                     s->csv, s->line[r], tr[k].track, s->hdr[s->cols[1 + v]], s->line[f]);
        else
          pb_err_set(err, "%s:%d: track '%s' has %s '%s' in column '%s' here but '%s' at line %d: every frame of a "
                          "track carries the same %s ([data] %s)",
                     s->csv, s->line[r], tr[k].track, grp ? "group" : "label",
                     vocab_value(s->vocab, v, b, bb, sizeof bb), s->hdr[s->cols[1 + v]],
                     vocab_value(s->vocab, v, a, ba, sizeof ba), s->line[f], grp ? "group" : "labels",
                     grp ? "group_column" : "label_columns");
        goto out;
      }
      for (int j = 0; j < s->ngs; j++) {
        int32_t a = s->gids[(size_t)f * s->ngs + j], b = s->gids[(size_t)r * s->ngs + j];
        if (a == b) continue;
        pb_err_set(err, "%s:%d: track '%s' has group id %d in column '%s' here but %d at line %d: every frame of a "
                        "track carries the same groups ([data] %s)",
                   s->csv, s->line[r], tr[k].track, b, s->hdr[s->gcols[j]], a, s->line[f],
                   o->group_columns_key ? o->group_columns_key : "test_group_columns");
        goto out;
      }
    }
  }
  int t_max = o->max_frames > 0 ? o->max_frames : longest;
  for (int i = 0; i < ns; i++) {
    if (sp[i].len <= t_max) continue;
    const track_row *x = &tr[sp[i].start + t_max]; /* the first frame past the bound */
    if (o->max_frames_key > 0)
      pb_err_set(err, "%s:%d: track '%s' has %d frames, more than [data] max_frames = %d", s->csv, s->line[x->row],
                 x->track, sp[i].len, o->max_frames_key);
    else
      pb_err_set(err, "%s:%d: track '%s' has %d frames, more than the %d of the training manifest's longest track "
                      "([data] max_frames = 0); set max_frames",
                 s->csv, s->line[x->row], x->track, sp[i].len, t_max);
    goto out;
  }
  qsort(sp, (size_t)ns, sizeof *sp, cmp_span);
  *pick = pb_xmalloc((size_t)ns * sizeof(int));
  *lens = pb_xmalloc((size_t)ns * sizeof(int32_t));
  *order = pb_xmalloc((size_t)ns * t_max * sizeof(int));
  for (int i = 0; i < ns; i++) {
    (*pick)[i] = sp[i].first;
    (*lens)[i] = sp[i].len;
    for (int t = 0; t < t_max; t++) (*order)[(size_t)i * t_max + t] = t < sp[i].len ? tr[sp[i].start + t].row : -1;
  }
  *n = ns, *T = t_max;
  rc = PB_OK;
out:
  free(tr);
  free(sp);
  return rc;
}

/* bounds: multi-head models (pb_data_csv_heads), else NULL. */
static int csv_load(pb_dataset *d, const char *name, const char *csv, const char *root, const pb_csv_opts *o,
                    const int *bounds, pb_vocab *vocab, pb_err *err) {
  const int allow_missing = bounds != NULL;
  memset(d, 0, sizeof *d);
  char *text = read_text(csv, err);
  if (!text) return pb_err_prefix(err, "[data] %s manifest", name);
  char *fields[MAXF], *hdr[MAXF];
  int cols[18], ncol = 0, rc = PB_ERR; /* path, labels..., group */
  /* csv_row splits in place: each pass over the rows restores them from orig first. */
  size_t tlen = strlen(text);
  char *orig = pb_xstrdup(text);
  char *p = text;
  int nh = csv_row(&p, fields, MAXF);
  size_t body = (size_t)(p - text);
#define RESTART() (memcpy(text + body, orig + body, tlen - body + 1), p = text + body)
  strlist paths = {0};
  int32_t *ids = NULL; /* rows x (nlab + 1) */
  int32_t *gids = NULL; /* rows x ngs */
  char *heads_multi = NULL;
  strlist trk = {0};                   /* image sequences: [rows] track ids, */
  long *frame = NULL;                  /* frame numbers, */
  int *lines = NULL;                   /* line numbers, */
  int *pick = NULL, *forder = NULL;    /* and group_tracks's tracks */
  int32_t *lens = NULL;
  int fresh = vocab->ncols == 0;
  if (nh <= 0) {
    pb_err_set(err, "%s:1: empty manifest: a header row naming the columns is needed", csv);
    goto out;
  }
  if (nh > MAXF) {
    pb_err_set(err, "%s:1: %d columns; at most %d are supported", csv, nh, MAXF);
    goto out;
  }
  memcpy(hdr, fields, sizeof(char *) * (size_t)nh);
  /* Columns: path, label columns, then the group column (or -1). */
  cols[0] = o->path_column[0] ? col_index(hdr, nh, o->path_column) : 0;
  if (cols[0] < 0) {
    pb_err_set(err, "%s:1: no column named '%s' ([data] path_column)", csv, o->path_column);
    goto out;
  }
  ncol = 1;
  if (!o->label_columns[0]) {
    if (nh < 2) {
      pb_err_set(err, "%s:1: only one column: a label column is needed", csv);
      goto out;
    }
    cols[ncol++] = 1;
  } else {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", o->label_columns);
    for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      while (*t == ' ') t++;
      int c = col_index(hdr, nh, t);
      if (c < 0 || ncol > 15) {
        pb_err_set(err, "%s:1: no column named '%s' ([data] label_columns)", csv, t);
        goto out;
      }
      cols[ncol++] = c;
    }
  }
  int nlab = ncol - 1;
  cols[ncol++] = o->group_column[0] ? col_index(hdr, nh, o->group_column) : -1;
  if (o->group_column[0] && cols[ncol - 1] < 0) {
    pb_err_set(err, "%s:1: no column named '%s' ([data] group_column)", csv, o->group_column);
    goto out;
  }
  int ngrp = cols[ncol - 1] >= 0;
  /* Groupings: their own columns, integer ids read as they are (no vocabulary). */
  int gcols[PB_DATA_MAX_GROUPINGS], ngs = 0;
  const char *gkey = o->group_columns_key ? o->group_columns_key : "test_group_columns";
  if (o->group_columns && o->group_columns[0]) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", o->group_columns);
    for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      while (*t == ' ') t++;
      size_t L = strlen(t);
      while (L && t[L - 1] == ' ') t[--L] = 0;
      if (ngs == PB_DATA_MAX_GROUPINGS) {
        pb_err_set(err, "[data] %s = %s: more than %d columns", gkey, o->group_columns, PB_DATA_MAX_GROUPINGS);
        goto out;
      }
      if ((gcols[ngs++] = col_index(hdr, nh, t)) < 0) {
        pb_err_set(err, "%s:1: no column named '%s' ([data] %s)", csv, t, gkey);
        goto out;
      }
    }
  }
  /* Image sequences: a row per frame, tracks by the track column. */
  const int seq = o->track_column && o->track_column[0];
  const char *fname = o->frame_column && o->frame_column[0] ? o->frame_column : "frame";
  int tcol = -1, fcol = -1;
  if (seq && (tcol = col_index(hdr, nh, o->track_column)) < 0) {
    pb_err_set(err, "%s:1: no column named '%s' ([data] track_column)", csv, o->track_column);
    goto out;
  }
  if (seq && (fcol = col_index(hdr, nh, fname)) < 0) {
    pb_err_set(err, "%s:1: no column named '%s' ([data] frame_column)", csv, fname);
    goto out;
  }
  int nv = nlab + ngrp; /* vocabulary columns */
  if (!fresh && vocab->ncols != nv) {
    pb_err_set(err, "%s: has %d label/group columns, the training manifest %d", csv, nv, vocab->ncols);
    goto out;
  }
  /* Pass 1: rows, paths and the raw values (kept as pointers into text). */
  int rows = 0, line = 1;
  for (int nf; (nf = csv_row(&p, fields, MAXF)) != 0;) {
    line++;
    if (nf == 1 && !fields[0][0]) continue; /* blank line */
    if (nf != nh) {
      pb_err_set(err, "%s:%d: %d columns, the header has %d", csv, line, nf < 0 ? 0 : nf, nh);
      goto out;
    }
    rows++;
  }
  if (!rows) {
    pb_err_set(err, "%s: no rows after the header", csv);
    goto out;
  }
  /* Vocabularies from this file's values (training manifest). */
  if (fresh) {
    vocab->ncols = nv;
    for (int v = 0; v < nv; v++) {
      strlist vals = {0};
      int numeric = 1;
      RESTART();
      int ln = 1;
      for (int nf; (nf = csv_row(&p, fields, MAXF)) != 0;) {
        ln++;
        if (nf == 1 && !fields[0][0]) continue;
        char *val = fields[cols[1 + v]];
        if (!val[0] && v < nlab && !allow_missing && !(v == 0 && o->multilabel)) {
          /* Not a class of its own: only multi-head models have missing labels. */
          sl_free(&vals);
          pb_err_set(err, "%s:%d: empty value in label column '%s' (only [model] heads allow missing labels)", csv,
                     ln, hdr[cols[1 + v]]);
          goto out;
        }
        if (v == 0 && o->multilabel) {
          char tmp[4096];
          snprintf(tmp, sizeof tmp, "%s", val);
          for (char *save, *t = strtok_r(tmp, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
            long id;
            numeric &= parse_id(t, &id);
            sl_push(&vals, t);
          }
        } else if (val[0] || !allow_missing) {
          long id;
          numeric &= parse_id(val, &id);
          sl_push(&vals, val);
        }
      }
      sl_sort_unique(&vals);
      vocab->numeric[v] = numeric;
      if (numeric) {
        sl_free(&vals);
      } else {
        vocab->names[v] = vals.s;
        vocab->count[v] = vals.n;
      }
    }
  }
  int k0 = vocab->numeric[0] ? o->num_classes : vocab->count[0];
  if (!vocab->numeric[0] && vocab->count[0] > o->num_classes) {
    pb_err_set(err, "%s: %d distinct labels in column '%s' but [model] num_classes = %d", csv, vocab->count[0],
               hdr[cols[1]], o->num_classes);
    goto out;
  }
  ids = pb_xmalloc((size_t)rows * (nv + 1) * sizeof(int32_t));
  if (ngs) gids = pb_xmalloc((size_t)rows * ngs * sizeof(int32_t));
  if (o->multilabel) heads_multi = pb_xcalloc((size_t)rows * k0, 1);
  if (seq) frame = pb_xmalloc((size_t)rows * sizeof(long)), lines = pb_xmalloc((size_t)rows * sizeof(int));
  RESTART();
  line = 1;
  int r = 0;
  for (int nf; (nf = csv_row(&p, fields, MAXF)) != 0;) {
    line++;
    if (nf == 1 && !fields[0][0]) continue;
    const char *rel = fields[cols[0]];
    if (!rel[0] || rel[0] == '/' || !strcmp(rel, "..") || !strncmp(rel, "../", 3) || strstr(rel, "/../") ||
        (strlen(rel) >= 3 && !strcmp(rel + strlen(rel) - 3, "/.."))) {
      pb_err_set(err, "%s:%d: path '%s' is empty, absolute or leaves the image root %s", csv, line, rel, root);
      goto out;
    }
    char full[8192], withsuf[4096];
    snprintf(withsuf, sizeof withsuf, "%s%s", rel, o->path_suffix);
    if (pb_path_join(full, sizeof full, root, withsuf, err)) {
      pb_err_prefix(err, "%s:%d", csv, line);
      goto out;
    }
    sl_push(&paths, full);
    if (seq) {
      const char *fv = fields[fcol];
      char *end;
      errno = 0;
      long fr = strtol(fv, &end, 10);
      if (!fv[0] || *end || errno) {
        pb_err_set(err, "%s:%d: frame '%s' in column '%s' is not an integer ([data] frame_column)", csv, line, fv, fname);
        goto out;
      }
      if (!fields[tcol][0]) {
        pb_err_set(err, "%s:%d: empty track id in column '%s' ([data] track_column)", csv, line, o->track_column);
        goto out;
      }
      sl_push(&trk, fields[tcol]);
      frame[r] = fr;
      lines[r] = line;
    }
    for (int j = 0; j < ngs; j++) {
      long id;
      if (!parse_id(fields[gcols[j]], &id)) {
        pb_err_set(err, "%s:%d: '%s' in column '%s' is not a group id (an integer >= 0; [data] %s)", csv, line,
                   fields[gcols[j]], hdr[gcols[j]], gkey);
        goto out;
      }
      gids[(size_t)r * ngs + j] = (int32_t)id;
    }
    for (int v = 0; v < nv; v++) {
      char *val = fields[cols[1 + v]];
      int bound = bounds && v < nlab ? bounds[v] : v == 0 ? o->num_classes : 0x7FFFFFFF;
      int32_t first = -1;
      char tmp[4096];
      snprintf(tmp, sizeof tmp, "%s", val);
      int multi = v == 0 && o->multilabel;
      if (!val[0] && allow_missing && v < nlab && !multi) {
        ids[(size_t)r * (nv + 1) + v] = -1; /* a missing label (multi-head models) */
        continue;
      }
      char *save = NULL, *t = multi ? strtok_r(tmp, " ", &save) : tmp;
      for (; t; t = multi ? strtok_r(NULL, " ", &save) : NULL) {
        long id = -1;
        if (vocab->numeric[v]) {
          if (!parse_id(t, &id) || id >= bound) id = -1;
        } else {
          id = find_name(vocab->names[v], vocab->count[v], t);
        }
        if (id < 0) {
          pb_err_set(err, "%s:%d: unknown label '%s' in column '%s'%s", csv, line, t, hdr[cols[1 + v]],
                     vocab->numeric[v] ? " (integer ids below [model] num_classes expected)"
                                       : " (not among the training manifest's labels)");
          goto out;
        }
        if (first < 0) first = (int32_t)id;
        if (multi) heads_multi[(size_t)r * k0 + id] = 1;
      }
      if (first < 0 && !multi) {
        pb_err_set(err, "%s:%d: empty label in column '%s'", csv, line, hdr[cols[1 + v]]);
        goto out;
      }
      ids[(size_t)r * (nv + 1) + v] = first < 0 ? 0 : first;
    }
    r++;
  }
  /* Samples: the rows, or the tracks (each read from its first row). */
  int n = rows, T = 0;
  if (seq) {
    seq_rows sr = {csv, fname, o, hdr, cols, gcols, nv, nlab, ngs, k0, rows, vocab, trk.s, frame, lines, ids, gids,
                   heads_multi};
    if (group_tracks(&sr, &n, &T, &pick, &lens, &forder, err)) goto out;
  }
  snprintf(d->name, sizeof d->name, "%s", name);
  d->kind = PB_DATA_FILES;
  d->n = n;
  if (seq) {
    d->frames = T;
    d->lengths = lens;
    lens = NULL;
    d->paths = pb_xcalloc((size_t)n * T, sizeof(char *));
    for (size_t k = 0; k < (size_t)n * T; k++)
      if (forder[k] >= 0) d->paths[k] = paths.s[forder[k]], paths.s[forder[k]] = NULL;
  } else {
    d->paths = paths.s;
    paths.s = NULL, paths.n = 0;
  }
  d->num_classes = k0;
  d->labels = pb_xmalloc((size_t)n * sizeof(int32_t));
  d->nheads = nlab;
  if (nlab > 1) d->heads = pb_xmalloc((size_t)n * nlab * sizeof(int32_t));
  if (ngrp) d->groups = pb_xmalloc((size_t)n * sizeof(int32_t));
  d->ngroupings = ngs;
  if (ngs) d->groupings = pb_xmalloc((size_t)n * ngs * sizeof(int32_t));
  if (o->multilabel) d->multi_k = k0, d->multi = pb_xmalloc((size_t)n * k0);
  for (int i = 0; i < n; i++) {
    size_t j = pick ? (size_t)pick[i] : (size_t)i; /* the row of sample i */
    d->labels[i] = ids[j * (nv + 1)];
    for (int h = 0; h < nlab && nlab > 1; h++) d->heads[(size_t)i * nlab + h] = ids[j * (nv + 1) + h];
    if (ngrp) d->groups[i] = ids[j * (nv + 1) + nlab];
    if (ngs) memcpy(d->groupings + (size_t)i * ngs, gids + j * ngs, (size_t)ngs * sizeof(int32_t));
    if (o->multilabel) memcpy(d->multi + (size_t)i * k0, heads_multi + j * k0, (size_t)k0);
  }
  if (!vocab->numeric[0]) {
    d->class_names = pb_xcalloc((size_t)k0, sizeof(char *));
    for (int k = 0; k < k0; k++) d->class_names[k] = pb_xstrdup(vocab->names[0][k]);
  }
  rc = PB_OK;
out:
#undef RESTART
  free(text);
  free(orig);
  sl_free(&paths);
  free(ids);
  free(gids);
  free(heads_multi);
  sl_free(&trk);
  free(frame);
  free(lines);
  free(pick);
  free(forder);
  free(lens);
  return rc;
}

int pb_data_csv(pb_dataset *d, const char *name, const char *csv, const char *root, const pb_csv_opts *o,
                pb_vocab *vocab, pb_err *err) {
  return csv_load(d, name, csv, root, o, NULL, vocab, err);
}

int pb_data_csv_heads(pb_dataset *d, const char *name, const char *csv, const char *root, const pb_csv_opts *o,
                      const int *bounds, pb_vocab *vocab, pb_err *err) {
  return csv_load(d, name, csv, root, o, bounds, vocab, err);
}

/* ------------------------------------------------------------------ .npy */

void pb_npy_free(pb_npy *x) {
  if (!x) return;
  free(x->f32);
  free(x->i32);
  memset(x, 0, sizeof *x);
}

/* The value after 'key': in a .npy header dict (NULL when the key is absent). */
static const char *npy_value(const char *hdr, const char *key) {
  const char *k = strstr(hdr, key);
  if (!k) return NULL;
  k += strlen(key);
  while (*k == ' ') k++;
  if (*k++ != ':') return NULL;
  while (*k == ' ') k++;
  return k;
}

int pb_npy_read(pb_npy *out, const char *path, pb_err *err) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (!f) return pb_err_set(err, "%s: cannot open: %s", path, strerror(errno));
  unsigned char pre[12];
  int rc = PB_ERR;
  char *hdr = NULL;
  void *raw = NULL;
  struct stat st;
  if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
    pb_err_set(err, "%s: not a regular file", path);
    goto out;
  }
  uint64_t fsize = (uint64_t)st.st_size;
  if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6)) {
    pb_err_set(err, "%s: not a .npy file (no \\x93NUMPY magic)", path);
    goto out;
  }
  if (pre[6] < 1 || pre[6] > 3 || pre[7] != 0) {
    pb_err_set(err, "%s: unknown .npy format version %d.%d", path, pre[6], pre[7]);
    goto out;
  }
  size_t hl, pl = 10;
  if (pre[6] == 1) {
    hl = pre[8] | (size_t)pre[9] << 8;
  } else {
    if (fread(pre + 10, 1, 2, f) != 2) goto trunc;
    hl = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    pl = 12;
  }
  if (hl > (1 << 20) || hl > fsize - pl) {
    pb_err_set(err, "%s: .npy header length %zu does not fit the file's %llu bytes", path, hl,
               (unsigned long long)fsize);
    goto out;
  }
  hdr = pb_xmalloc(hl + 1);
  if (fread(hdr, 1, hl, f) != hl) goto trunc;
  hdr[hl] = 0;
  const char *descr = npy_value(hdr, "'descr'"), *fo = npy_value(hdr, "'fortran_order'"),
             *sh = npy_value(hdr, "'shape'");
  if (!descr || !fo || !sh) {
    pb_err_set(err, "%s: malformed .npy header (needs 'descr', 'fortran_order' and 'shape')", path);
    goto out;
  }
  if (!strncmp(fo, "True", 4)) {
    pb_err_set(err, "%s: Fortran-order arrays are not supported (save with np.ascontiguousarray)", path);
    goto out;
  }
  if (strncmp(fo, "False", 5)) {
    pb_err_set(err, "%s: malformed .npy header ('fortran_order' is neither True nor False)", path);
    goto out;
  }
  char dt[16] = "";
  if (sscanf(descr, "'%15[^']'", dt) != 1) {
    pb_err_set(err, "%s: malformed .npy descr", path);
    goto out;
  }
  int isz;
  if (!strcmp(dt, "<f4")) isz = 4;
  else if (!strcmp(dt, "|u1") || !strcmp(dt, "|i1")) isz = 1;
  else if (!strcmp(dt, "<i4")) isz = 4;
  else if (!strcmp(dt, "<i8")) isz = 8;
  else {
    pb_err_set(err, "%s: dtype %s is not supported (float32, int8/uint8, int32, int64)", path, dt);
    goto out;
  }
  if (*sh != '(') {
    pb_err_set(err, "%s: malformed .npy shape (not a tuple)", path);
    goto out;
  }
  /* Every size is checked, with overflow-checked arithmetic, against the bytes the file holds
   * before anything the size of the data is allocated. */
  size_t total = 1;
  const char *q = sh + 1;
  for (;;) {
    while (*q == ' ' || *q == ',') q++;
    if (*q == ')') break;
    char *end;
    errno = 0;
    long v = strtol(q, &end, 10);
    if (end == q || errno || v < 0 || v > 0x7FFFFFFF || out->ndim == 4) {
      pb_err_set(err, "%s: unsupported shape in the .npy header (at most 4 dimensions, each below 2^31)", path);
      goto out;
    }
    out->dims[out->ndim++] = v;
    if (__builtin_mul_overflow(total, (size_t)v, &total)) {
      pb_err_set(err, "%s: the .npy shape's element count overflows", path);
      goto out;
    }
    q = end;
  }
  if (!out->ndim) {
    pb_err_set(err, "%s: a 0-dimensional .npy array", path);
    goto out;
  }
  size_t bytes;
  uint64_t have = fsize - pl - hl;
  int wraps = __builtin_mul_overflow(total, (size_t)isz, &bytes);
  if (wraps || bytes != have) {
    char shape[128];
    size_t o = 0;
    for (int d = 0; d < out->ndim; d++)
      o += (size_t)snprintf(shape + o, sizeof shape - o, d ? ", %ld" : "%ld", out->dims[d]);
    if (wraps)
      pb_err_set(err, "%s: shape (%s) of %s describes more bytes than any file holds (forged header)", path, shape, dt);
    else
      pb_err_set(err, "%s: shape (%s) of %s needs %zu bytes of data, the file holds %llu (%s)", path, shape, dt,
                 bytes, (unsigned long long)have, bytes > have ? "truncated file or forged header" : "trailing bytes");
    goto out;
  }
  raw = pb_xmalloc(PB_MAX(bytes, 1));
  if (fread(raw, 1, bytes, f) != bytes) goto trunc;
  if (!strcmp(dt, "<f4")) {
    out->f32 = raw;
    raw = NULL;
  } else {
    out->i32 = pb_xmalloc(PB_MAX(total, 1) * sizeof(int32_t));
    for (size_t i = 0; i < total; i++) {
      if (isz == 1) out->i32[i] = dt[1] == 'u' ? ((uint8_t *)raw)[i] : ((int8_t *)raw)[i];
      else if (isz == 4) out->i32[i] = ((int32_t *)raw)[i];
      else {
        int64_t v = ((int64_t *)raw)[i];
        if (v < INT32_MIN || v > INT32_MAX) {
          pb_err_set(err, "%s: element %zu is %lld, outside the 32-bit range", path, i, (long long)v);
          goto out;
        }
        out->i32[i] = (int32_t)v;
      }
    }
  }
  rc = PB_OK;
  goto out;
trunc:
  pb_err_set(err, "%s: truncated .npy file", path);
out:
  free(hdr);
  free(raw);
  fclose(f);
  if (rc) pb_npy_free(out);
  return rc;
}

int pb_data_npy(pb_dataset *d, const char *name, const char *feats, const char *labels, const char *label_column,
                const char *group_column, int num_classes, pb_err *err) {
  memset(d, 0, sizeof *d);
  const char *gc = group_column ? group_column : "";
  pb_npy x, y = {0};
  if (pb_npy_read(&x, feats, err)) return pb_err_prefix(err, "[data] %s features", name);
  int rc = PB_ERR;
  if (!x.f32 || (x.ndim != 2 && x.ndim != 3)) {
    pb_err_set(err, "%s: features must be float32 [N, D] or [N, T, D]", feats);
    goto out;
  }
  int n = (int)x.dims[0];
  /* An empty array can claim any sizes: a sample must fit the loader's int arithmetic. */
  if ((x.ndim == 2 ? x.dims[1] : x.dims[1] * x.dims[2]) > (1L << 28)) {
    pb_err_set(err, "%s: %ld features per sample, more than plumb takes (2^28)", feats,
               x.ndim == 2 ? x.dims[1] : x.dims[1] * x.dims[2]);
    goto out;
  }
  int32_t *lab = NULL, *grp = NULL;
  size_t ln = strlen(labels);
  int is_csv = ln > 4 && !strcmp(labels + ln - 4, ".csv");
  if (gc[0] && !is_csv) {
    pb_err_set(err, "[data] group_column = %s reads a column of .csv targets; the %s targets %s are not a .csv "
               "(give [data] %s_groups, a .npy of group ids, instead)", gc, name, labels, name);
    goto out;
  }
  if (strchr(gc, ',')) {
    pb_err_set(err, "[data] group_column = %s: one column name, not a list", gc);
    goto out;
  }
  if (is_csv) {
    /* Integer labels from a CSV column (header row); group ids, read as they are, from another
     * (a grouping: no vocabulary, so the train and test files' ids agree). */
    pb_csv_opts o = {"", label_column, "", 0, "", num_classes, gc, "group_column", NULL, NULL, 0, 0};
    pb_vocab v = {0};
    pb_dataset t;
    char *text = read_text(labels, err);
    if (!text) goto out;
    char *fields[MAXF], *p = text;
    int nh = csv_row(&p, fields, MAXF);
    char lc[256];
    snprintf(lc, sizeof lc, "%s", label_column[0] ? label_column : (nh > 0 ? fields[nh - 1] : ""));
    int found = !label_column[0];
    for (int i = 0; i < nh && !found; i++) found = !strcmp(fields[i], lc);
    free(text);
    if (!found) { /* said here: the manifest reader would name its (unused) path column */
      pb_err_set(err, "%s:1: no column named '%s' ([data] label_columns)", labels, lc);
      goto out;
    }
    o.label_columns = lc;
    o.path_column = lc; /* the path column is unused: any non-empty value passes */
    if (pb_data_csv(&t, name, labels, "", &o, &v, err)) {
      pb_vocab_free(&v);
      goto out;
    }
    int numeric = v.numeric[0];
    pb_vocab_free(&v);
    if (!numeric) {
      pb_dataset_free(&t);
      pb_err_set(err, "%s: column '%s' must hold integer labels", labels, lc);
      goto out;
    }
    if (t.n != n) {
      pb_err_set(err, "%s has %d labels but %s has %d rows", labels, t.n, feats, n);
      pb_dataset_free(&t);
      goto out;
    }
    if (gc[0])
      for (int i = 0; i < n; i++)
        if (t.groupings[i] >= PB_DATA_GROUP_BOUND) {
          pb_err_set(err, "%s: group id %d of row %d (column '%s', [data] group_column) is not below 2^20", labels,
                     t.groupings[i], i, gc);
          pb_dataset_free(&t);
          goto out;
        }
    lab = t.labels;
    t.labels = NULL;
    grp = t.groupings; /* [n, 1]: one grouping */
    t.groupings = NULL;
    pb_dataset_free(&t);
  } else {
    if (pb_npy_read(&y, labels, err)) goto out;
    if (!y.i32 || y.ndim != 1 || y.dims[0] != n) {
      pb_err_set(err, "%s: labels must be integers [N] with N = %d (the features' rows)", labels, n);
      goto out;
    }
    for (int i = 0; i < n; i++)
      if (y.i32[i] < 0 || y.i32[i] >= num_classes) {
        pb_err_set(err, "%s: label %d of row %d is not in [0, [model] num_classes = %d)", labels, y.i32[i], i,
                   num_classes);
        goto out;
      }
    lab = y.i32;
    y.i32 = NULL;
  }
  snprintf(d->name, sizeof d->name, "%s", name);
  d->kind = PB_DATA_F32;
  d->n = n;
  if (x.ndim == 2)
    d->c = (int)x.dims[1], d->h = 1, d->w = 1;
  else
    d->c = 1, d->h = (int)x.dims[1], d->w = (int)x.dims[2];
  d->feats = x.f32;
  x.f32 = NULL;
  d->labels = lab;
  d->groups = grp;
  d->num_classes = num_classes;
  rc = PB_OK;
out:
  pb_npy_free(&x);
  pb_npy_free(&y);
  return rc;
}
