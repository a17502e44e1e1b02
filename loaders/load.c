/* load.c: a run's datasets from plain parameters (load.h): IDX splits, the dispatch to the
 * other sources (loaders/sources.h), bias injection (loaders/bias.h) and the validation split. */
#include "loaders/load.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pb_file.h"
#include "loaders/idx.h"
#include "loaders/sources.h"

static const char *const bias_names[] = {"none", "inversion", "colour"};

/* An IDX image file (N x H x W) and its label file as an in-memory grey dataset. */
static int load_split(pb_dataset *d, const char *name, const char *dir, const char *img_file,
                      const char *lab_file, long limit, int nclass, pb_err *err) {
  char ip[4096], lp[4096];
  if (pb_path_join(ip, sizeof ip, dir, img_file, err) || pb_path_join(lp, sizeof lp, dir, lab_file, err))
    return pb_err_prefix(err, "[data] %s", name);
  pb_idx im = {0}, lb = {0};
  if (pb_idx_read(&im, ip, err)) return pb_err_prefix(err, "[data] %s images", name);
  if (pb_idx_read(&lb, lp, err)) {
    pb_idx_free(&im);
    return pb_err_prefix(err, "[data] %s labels", name);
  }
  int rc = PB_ERR;
  if (im.ndim != 3) {
    pb_err_set(err, "%s: expected a 3-D IDX image file (N x H x W), found %d dimensions", ip, im.ndim);
    goto out;
  }
  if (lb.ndim != 1) {
    pb_err_set(err, "%s: expected a 1-D IDX label file, found %d dimensions", lp, lb.ndim);
    goto out;
  }
  if (im.dims[0] != lb.dims[0]) {
    pb_err_set(err, "%s has %d images but %s has %d labels", ip, im.dims[0], lp, lb.dims[0]);
    goto out;
  }
  int n = im.dims[0];
  if (limit > 0 && limit < n) n = (int)limit;
  memset(d, 0, sizeof *d);
  snprintf(d->name, sizeof d->name, "%s", name);
  d->n = n;
  d->c = 1;
  d->h = im.dims[1];
  d->w = im.dims[2];
  d->num_classes = nclass;
  size_t per = (size_t)d->h * d->w;
  d->images = pb_xmalloc((size_t)n * per);
  memcpy(d->images, im.data, (size_t)n * per);
  d->labels = pb_xmalloc((size_t)n * sizeof(int32_t));
  for (int i = 0; i < n; i++) {
    if (lb.data[i] >= nclass) {
      pb_err_set(err, "%s: label %d of item %d is not below [model] num_classes = %d", lp, lb.data[i], i, nclass);
      pb_dataset_free(d);
      goto out;
    }
    d->labels[i] = lb.data[i];
  }
  rc = PB_OK;
out:
  pb_idx_free(&im);
  pb_idx_free(&lb);
  return rc;
}

/* The sequence lengths of d (float32 [N, T, D]) from the integer .npy `path` (relative to dir;
 * "" = none): [N] values in 1..T; the steps past each length are zeroed (sequence layers need
 * finite padding). Errors name the file, the row and the [data] key. */
static int load_lengths(pb_dataset *d, const char *dir, const char *file, const char *key, pb_err *err) {
  if (!file[0]) return PB_OK;
  char path[4096];
  if (pb_path_join(path, sizeof path, dir, file, err)) return pb_err_prefix(err, "[data] %s", key);
  if (d->kind != PB_DATA_F32 || d->c != 1)
    return pb_err_set(err, "[data] %s = %s: lengths need sequence features, a float32 [N, T, D] .npy", key, file);
  pb_npy l;
  if (pb_npy_read(&l, path, err)) return pb_err_prefix(err, "[data] %s", key);
  int rc = PB_ERR;
  if (!l.i32 || l.ndim != 1 || l.dims[0] != d->n) {
    pb_err_set(err, "[data] %s = %s: lengths must be integers [N] with N = %d (the features' rows)", key, path, d->n);
    goto out;
  }
  for (int i = 0; i < d->n; i++)
    if (l.i32[i] < 1 || l.i32[i] > d->h) {
      pb_err_set(err, "[data] %s = %s: length %d of row %d is not in [1, T = %d]", key, path, l.i32[i], i, d->h);
      goto out;
    }
  d->lengths = l.i32;
  l.i32 = NULL;
  for (int i = 0; i < d->n; i++) {
    size_t per = (size_t)d->h * (size_t)d->w, from = (size_t)d->lengths[i] * (size_t)d->w;
    memset(d->feats + (size_t)i * per + from, 0, (per - from) * sizeof(float));
  }
  rc = PB_OK;
out:
  pb_npy_free(&l);
  return rc;
}

/* The group ids of d (.npy features) from the integer .npy `file` (relative to dir; "" = none):
 * [N] values in [0, PB_DATA_GROUP_BOUND). Errors name the [data] key, the file, and the first
 * bad row and value. */
static int load_groups(pb_dataset *d, const char *dir, const char *file, const char *key, pb_err *err) {
  if (!file[0]) return PB_OK;
  char path[4096];
  if (pb_path_join(path, sizeof path, dir, file, err)) return pb_err_prefix(err, "[data] %s", key);
  pb_npy g;
  if (pb_npy_read(&g, path, err)) return pb_err_prefix(err, "[data] %s", key);
  int rc = PB_ERR;
  if (!g.i32) {
    pb_err_set(err, "[data] %s = %s: group ids must be integers (int8/uint8/int32/int64), not float32", key, path);
    goto out;
  }
  if (g.ndim != 1 || g.dims[0] != d->n) {
    char shape[96];
    size_t o = 0;
    for (int k = 0; k < g.ndim; k++) o += (size_t)snprintf(shape + o, sizeof shape - o, k ? ", %ld" : "%ld", g.dims[k]);
    pb_err_set(err, "[data] %s = %s: group ids must be [N] with N = %d (the features' rows), not (%s)", key, path,
               d->n, shape);
    goto out;
  }
  for (int i = 0; i < d->n; i++)
    if (g.i32[i] < 0 || g.i32[i] >= PB_DATA_GROUP_BOUND) {
      pb_err_set(err, "[data] %s = %s: group id %d of row %d is not in [0, 2^20)", key, path, g.i32[i], i);
      goto out;
    }
  free(d->groups);
  d->groups = g.i32;
  g.i32 = NULL;
  rc = PB_OK;
out:
  pb_npy_free(&g);
  return rc;
}

/* The first limit rows of d (0 or >= d->n: all of them), in place. */
static void limit_rows(pb_dataset *d, long limit) {
  if (limit <= 0 || limit >= d->n) return;
  int n = (int)limit;
  int32_t *idx = pb_xmalloc((size_t)n * sizeof(int32_t));
  for (int i = 0; i < n; i++) idx[i] = i;
  pb_dataset sub;
  pb_dataset_take(&sub, d, idx, n, d->name);
  free(idx);
  pb_dataset_free(d);
  *d = sub;
}

/* Image folders, CSV manifests, .npy arrays: train into full, test into test. */
static int load_other(const pb_data_params *p, pb_dataset *full, pb_dataset *test, pb_err *err) {
  const char *dir = p->dir;
  char tp[4096], sp[4096];
  if (pb_path_join(tp, sizeof tp, dir, p->train_path, err) || pb_path_join(sp, sizeof sp, dir, p->test_path, err))
    return pb_err_prefix(err, "[data]");
  int nclass = p->num_classes;
  if (p->source == PB_SOURCE_NPY) {
    char tl[4096], sl[4096];
    if (pb_path_join(tl, sizeof tl, dir, p->train_targets, err) ||
        pb_path_join(sl, sizeof sl, dir, p->test_targets, err))
      return pb_err_prefix(err, "[data]");
    const char *col = p->label_columns, *gc = p->group_column;
    if (gc[0] && (p->train_groups[0] || p->test_groups[0]))
      return pb_err_set(err, "[data] group_column = %s and %s = %s both give the groups: set one of them", gc,
                        p->train_groups[0] ? "train_groups" : "test_groups",
                        p->train_groups[0] ? p->train_groups : p->test_groups);
    if (pb_data_npy(full, "train", tp, tl, col, gc, nclass, err)) return PB_ERR;
    if (pb_data_npy(test, "test", sp, sl, col, gc, nclass, err)) return pb_dataset_free(full), PB_ERR;
    if (load_lengths(full, dir, p->train_lengths, "train_lengths", err) ||
        load_lengths(test, dir, p->test_lengths, "test_lengths", err) ||
        load_groups(full, dir, p->train_groups, "train_groups", err) ||
        load_groups(test, dir, p->test_groups, "test_groups", err))
      return pb_dataset_free(full), pb_dataset_free(test), PB_ERR;
    limit_rows(full, p->limit_train);
    limit_rows(test, p->limit_test);
    if (full->c != test->c || full->h != test->h || full->w != test->w) {
      pb_err_set(err, "[data] train features are %dx%dx%d per sample but test features %dx%dx%d", full->c, full->h,
                 full->w, test->c, test->h, test->w);
      return pb_dataset_free(full), pb_dataset_free(test), PB_ERR;
    }
    return PB_OK;
  }
  int size = p->size;
  if (size <= 0) return pb_err_set(err, "[augment] size must be set (the output height and width) for image files");
  if (p->source == PB_SOURCE_FOLDER) {
    if (pb_data_folder(full, "train", tp, NULL, err)) return PB_ERR;
    if (pb_data_folder(test, "test", sp, full, err)) return pb_dataset_free(full), PB_ERR;
    if (full->num_classes > nclass) {
      pb_err_set(err, "[data] %s has %d class folders but [model] num_classes = %d", tp, full->num_classes, nclass);
      return pb_dataset_free(full), pb_dataset_free(test), PB_ERR;
    }
  } else {
    char root[4096];
    if (pb_path_join(root, sizeof root, dir, p->image_root, err)) return pb_err_prefix(err, "[data] image_root");
    pb_csv_opts o = {p->path_column, p->label_columns, p->group_column, p->multilabel, p->path_suffix, nclass, "",
                     NULL, p->track_column, p->frame_column, p->max_frames, p->max_frames};
    /* Multi-head models: head h reads the column of its name; the columns go in head order. */
    int nh = p->nheads, bounds[PB_DATA_MAX_HEADS];
    char cols[1100] = "";
    if (nh) {
      if (pb_data_heads_columns(o.label_columns, p->heads, nh, err)) return PB_ERR;
      for (int h = 0; h < nh; h++) {
        size_t L = strlen(cols);
        snprintf(cols + L, sizeof cols - L, "%s%s", h ? "," : "", p->heads[h].name);
        bounds[h] = p->heads[h].classes;
      }
      o.label_columns = cols, o.num_classes = p->heads[0].classes;
    }
    pb_vocab v = {0};
    int rc = nh ? pb_data_csv_heads(full, "train", tp, root, &o, bounds, &v, err)
                : pb_data_csv(full, "train", tp, root, &o, &v, err);
    o.group_columns = p->test_group_columns; /* the test manifest's groupings (ImageNet-9's clusters) */
    if (!rc && full->frames) o.max_frames = full->frames; /* the test tracks fit the training T */
    if (!rc && (rc = nh ? pb_data_csv_heads(test, "test", sp, root, &o, bounds, &v, err)
                        : pb_data_csv(test, "test", sp, root, &o, &v, err)))
      pb_dataset_free(full);
    pb_vocab_free(&v);
    if (rc) return PB_ERR;
    if (full->frames) { /* the limits count tracks */
      limit_rows(full, p->limit_train);
      limit_rows(test, p->limit_test);
    }
  }
  pb_dataset *ds[2] = {full, test};
  for (int k = 0; k < 2; k++) {
    ds[k]->c = p->channels;
    ds[k]->h = ds[k]->w = size;
  }
  return PB_OK;
}

int pb_data_heads_columns(const char *label_columns, const pb_data_head *heads, int nh, pb_err *err) {
  if (!label_columns[0]) return PB_OK;
  char buf[1024];
  int seen[PB_DATA_MAX_HEADS] = {0}, cnt = 0;
  snprintf(buf, sizeof buf, "%s", label_columns);
  for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save), cnt++) {
    while (*t == ' ') t++;
    int h = 0;
    while (h < nh && strcmp(heads[h].name, t)) h++;
    if (h == nh || seen[h]++)
      return pb_err_set(err, "[data] label_columns = %s: '%s' is not a head of [model] heads (or is repeated); "
                             "each head reads the label column of its name (leave label_columns empty)",
                        label_columns, t);
  }
  if (cnt != nh)
    return pb_err_set(err, "[data] label_columns = %s names %d columns for %d heads ([model] heads)", label_columns, cnt,
                      nh);
  return PB_OK;
}

int pb_data_load(const pb_data_params *p, pb_dataset *train, pb_dataset *val, pb_dataset *test, pb_err *err) {
  memset(val, 0, sizeof *val);
  memset(train, 0, sizeof *train);
  memset(test, 0, sizeof *test);
  pb_dataset full;
  if ((p->train_lengths[0] || p->test_lengths[0]) && p->source != PB_SOURCE_NPY)
    return pb_err_set(err, "[data] %s = %s needs dataset = npy (sequence features [N, T, D])",
                      p->train_lengths[0] ? "train_lengths" : "test_lengths",
                      p->train_lengths[0] ? p->train_lengths : p->test_lengths);
  if ((p->train_groups[0] || p->test_groups[0]) && p->source != PB_SOURCE_NPY)
    return pb_err_set(err, "[data] %s = %s needs dataset = npy (csv manifests: group_column)",
                      p->train_groups[0] ? "train_groups" : "test_groups",
                      p->train_groups[0] ? p->train_groups : p->test_groups);
  if (p->track_column && p->track_column[0] && p->source != PB_SOURCE_CSV)
    return pb_err_set(err, "[data] track_column = %s needs dataset = csv (a manifest of one row per frame)",
                      p->track_column);
  if (p->test_group_columns[0] && p->source != PB_SOURCE_CSV)
    return pb_err_set(err, "[data] test_group_columns = %s needs dataset = csv (columns of the test manifest)",
                      p->test_group_columns);
  if (p->source != PB_SOURCE_IDX) {
    if (p->bias.superclass_task)
      return pb_err_set(err, "[data] task = superclass needs dataset = idx and bias = inversion");
    if (load_other(p, &full, test, err)) return PB_ERR;
    if (p->bias.kind != PB_BIAS_NONE) {
      const char *name = p->bias.kind > 0 && p->bias.kind < 3 ? bias_names[p->bias.kind] : "?";
      pb_err_set(err, "[data] bias = %s needs dataset = idx (MNIST / Fashion-MNIST)", name);
      goto fail;
    }
  } else {
    /* task = superclass: the files hold the 10 classes, the model sees their 2 super-classes */
    int nclass = p->num_classes;
    if (p->bias.superclass_task) {
      if (nclass != 2)
        return pb_err_set(err, "[data] task = superclass: the model has 2 outputs (the super-classes); set [model] "
                               "num_classes = 2, not %d",
                          nclass);
      nclass = 10;
    }
    if (load_split(&full, "train", p->dir, p->train_images, p->train_labels, p->limit_train, nclass, err))
      return PB_ERR;
    if (load_split(test, "test", p->dir, p->test_images, p->test_labels, p->limit_test, nclass, err)) {
      pb_dataset_free(&full);
      return PB_ERR;
    }
    if (full.h != test->h || full.w != test->w) {
      pb_err_set(err, "[data] train images are %dx%d but test images are %dx%d", full.h, full.w, test->h, test->w);
      goto fail;
    }
    if (pb_bias_inject(&p->bias, p->seed, &full, test, err)) goto fail;
  }
  double vs = p->val_split;
  int nval = (int)floor(full.n * vs);
  if (vs > 0 && (nval < 1 || nval >= full.n)) {
    pb_err_set(err, "[data] val_split = %g leaves %d validation and %d training samples", vs, nval, full.n - nval);
    goto fail;
  }
  if (nval > 0) {
    int32_t *perm = pb_xmalloc((size_t)full.n * sizeof(int32_t));
    pb_data_order(perm, full.n, p->seed ^ 0x5EEDull, -1, 1);
    pb_dataset_take(val, &full, perm + (full.n - nval), nval, "val");
    pb_dataset_take(train, &full, perm, full.n - nval, "train");
    free(perm);
    pb_dataset_free(&full);
  } else {
    *train = full;
  }
  return PB_OK;
fail:
  pb_dataset_free(&full);
  pb_dataset_free(test);
  return PB_ERR;
}
