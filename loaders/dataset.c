/* dataset.c: IDX-backed in-memory datasets (dataset.h); bias injection is in loaders/bias.c. */
#include "loaders/dataset.h"

#include "kernels/pb_file.h"

#include "engine/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pb_rng.h"
#include "loaders/bias.h"
#include "loaders/idx.h"
#include "loaders/sources.h"

void pb_dataset_free(pb_dataset *d) {
  if (!d) return;
  free(d->images);
  free(d->feats);
  if (d->paths)
    for (int i = 0; i < d->n; i++) free(d->paths[i]);
  free(d->paths);
  free(d->heads);
  free(d->multi);
  if (d->class_names)
    for (int i = 0; i < d->num_classes; i++) free(d->class_names[i]);
  free(d->class_names);
  free(d->labels);
  free(d->groups);
  free(d->aligned);
  memset(d, 0, sizeof *d);
}

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

void pb_dataset_take(pb_dataset *dst, const pb_dataset *src, const int32_t *idx, int n, const char *name) {
  size_t per = (size_t)src->c * src->h * src->w;
  memset(dst, 0, sizeof *dst);
  snprintf(dst->name, sizeof dst->name, "%s", name);
  dst->kind = src->kind;
  dst->n = n;
  dst->c = src->c;
  dst->h = src->h;
  dst->w = src->w;
  dst->num_classes = src->num_classes;
  dst->nheads = src->nheads;
  dst->multi_k = src->multi_k;
  size_t m = (size_t)PB_MAX(n, 1);
  if (src->images) dst->images = pb_xmalloc(m * per);
  if (src->feats) dst->feats = pb_xmalloc(m * per * sizeof(float));
  if (src->paths) dst->paths = pb_xcalloc(m, sizeof(char *));
  if (src->heads) dst->heads = pb_xmalloc(m * src->nheads * sizeof(int32_t));
  if (src->multi) dst->multi = pb_xmalloc(m * src->multi_k);
  dst->labels = pb_xmalloc(m * sizeof(int32_t));
  if (src->groups) dst->groups = pb_xmalloc(m * sizeof(int32_t));
  if (src->aligned) dst->aligned = pb_xmalloc(m);
  if (src->class_names) {
    dst->class_names = pb_xcalloc((size_t)src->num_classes, sizeof(char *));
    for (int k = 0; k < src->num_classes; k++) dst->class_names[k] = pb_xstrdup(src->class_names[k]);
  }
  for (int i = 0; i < n; i++) {
    size_t j = (size_t)idx[i];
    if (src->images) memcpy(dst->images + (size_t)i * per, src->images + j * per, per);
    if (src->feats) memcpy(dst->feats + (size_t)i * per, src->feats + j * per, per * sizeof(float));
    if (src->paths) dst->paths[i] = pb_xstrdup(src->paths[j]);
    if (src->heads) memcpy(dst->heads + (size_t)i * src->nheads, src->heads + j * src->nheads, src->nheads * sizeof(int32_t));
    if (src->multi) memcpy(dst->multi + (size_t)i * src->multi_k, src->multi + j * src->multi_k, src->multi_k);
    dst->labels[i] = src->labels[j];
    if (src->groups) dst->groups[i] = src->groups[j];
    if (src->aligned) dst->aligned[i] = src->aligned[j];
  }
}

/* Image folders, CSV manifests, .npy arrays: train into full, test into test. */
static int load_other(const pb_config *cfg, const char *kind, const char *dir, pb_dataset *full, pb_dataset *test,
                      pb_err *err) {
  char tp[4096], sp[4096];
  if (pb_path_join(tp, sizeof tp, dir, pb_config_str(cfg, "data", "train_path"), err) ||
      pb_path_join(sp, sizeof sp, dir, pb_config_str(cfg, "data", "test_path"), err))
    return pb_err_prefix(err, "[data]");
  int nclass = (int)pb_config_int(cfg, "model", "num_classes");
  if (!strcmp(kind, "npy")) {
    char tl[4096], sl[4096];
    if (pb_path_join(tl, sizeof tl, dir, pb_config_str(cfg, "data", "train_targets"), err) ||
        pb_path_join(sl, sizeof sl, dir, pb_config_str(cfg, "data", "test_targets"), err))
      return pb_err_prefix(err, "[data]");
    const char *col = pb_config_str(cfg, "data", "label_columns");
    if (pb_data_npy(full, "train", tp, tl, col, nclass, err)) return PB_ERR;
    if (pb_data_npy(test, "test", sp, sl, col, nclass, err)) return pb_dataset_free(full), PB_ERR;
    if (full->c != test->c || full->h != test->h || full->w != test->w) {
      pb_err_set(err, "[data] train features are %dx%dx%d per sample but test features %dx%dx%d", full->c, full->h,
                 full->w, test->c, test->h, test->w);
      return pb_dataset_free(full), pb_dataset_free(test), PB_ERR;
    }
    return PB_OK;
  }
  int size = (int)pb_config_int(cfg, "augment", "size");
  if (size <= 0) return pb_err_set(err, "[augment] size must be set (the output height and width) for image files");
  if (!strcmp(kind, "folder")) {
    if (pb_data_folder(full, "train", tp, NULL, err)) return PB_ERR;
    if (pb_data_folder(test, "test", sp, full, err)) return pb_dataset_free(full), PB_ERR;
    if (full->num_classes > nclass) {
      pb_err_set(err, "[data] %s has %d class folders but [model] num_classes = %d", tp, full->num_classes, nclass);
      return pb_dataset_free(full), pb_dataset_free(test), PB_ERR;
    }
  } else {
    char root[4096];
    if (pb_path_join(root, sizeof root, dir, pb_config_str(cfg, "data", "image_root"), err))
      return pb_err_prefix(err, "[data] image_root");
    pb_csv_opts o = {pb_config_str(cfg, "data", "path_column"), pb_config_str(cfg, "data", "label_columns"),
                     pb_config_str(cfg, "data", "group_column"), pb_config_bool(cfg, "data", "multilabel"),
                     pb_config_str(cfg, "data", "path_suffix"), nclass};
    /* Multi-head models: head h reads the column of its name; the columns go in head order. */
    pb_head heads[PB_MAX_HEADS];
    int nh, bounds[PB_MAX_HEADS];
    char cols[1100] = "";
    if (pb_heads_parse(cfg, heads, &nh, err)) return PB_ERR;
    if (nh) {
      if (pb_data_heads_columns(o.label_columns, heads, nh, err)) return PB_ERR;
      for (int h = 0; h < nh; h++) {
        size_t L = strlen(cols);
        snprintf(cols + L, sizeof cols - L, "%s%s", h ? "," : "", heads[h].name);
        bounds[h] = heads[h].classes;
      }
      o.label_columns = cols, o.num_classes = heads[0].classes;
    }
    pb_vocab v = {0};
    int rc = nh ? pb_data_csv_heads(full, "train", tp, root, &o, bounds, &v, err)
                : pb_data_csv(full, "train", tp, root, &o, &v, err);
    if (!rc && (rc = nh ? pb_data_csv_heads(test, "test", sp, root, &o, bounds, &v, err)
                        : pb_data_csv(test, "test", sp, root, &o, &v, err)))
      pb_dataset_free(full);
    pb_vocab_free(&v);
    if (rc) return PB_ERR;
  }
  pb_dataset *ds[2] = {full, test};
  for (int k = 0; k < 2; k++) {
    ds[k]->c = (int)pb_config_int(cfg, "data", "channels");
    ds[k]->h = ds[k]->w = size;
  }
  return PB_OK;
}

int pb_data_heads_columns(const char *label_columns, const pb_head *heads, int nh, pb_err *err) {
  if (!label_columns[0]) return PB_OK;
  char buf[1024];
  int seen[PB_MAX_HEADS] = {0}, cnt = 0;
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

int pb_data_load(const pb_config *cfg, uint64_t seed, pb_dataset *train, pb_dataset *val, pb_dataset *test,
                 pb_err *err) {
  memset(val, 0, sizeof *val);
  memset(train, 0, sizeof *train);
  memset(test, 0, sizeof *test);
  const char *kind = pb_config_str(cfg, "data", "dataset");
  const char *dir = pb_config_str(cfg, "data", "dir");
  int nclass = (int)pb_config_int(cfg, "model", "num_classes");
  const char *tb = pb_config_str(cfg, "data", "test_bias");
  pb_dataset full;
  if (strcmp(kind, "idx")) {
    if (load_other(cfg, kind, dir, &full, test, err)) return PB_ERR;
    if (strcmp(pb_config_str(cfg, "data", "bias"), "none")) {
      pb_err_set(err, "[data] bias = %s needs dataset = idx (MNIST / Fashion-MNIST)", pb_config_str(cfg, "data", "bias"));
      goto fail;
    }
  } else {
    if (load_split(&full, "train", dir, pb_config_str(cfg, "data", "train_images"),
                   pb_config_str(cfg, "data", "train_labels"), pb_config_int(cfg, "data", "limit_train"), nclass, err))
      return PB_ERR;
    if (load_split(test, "test", dir, pb_config_str(cfg, "data", "test_images"),
                   pb_config_str(cfg, "data", "test_labels"), pb_config_int(cfg, "data", "limit_test"), nclass, err)) {
      pb_dataset_free(&full);
      return PB_ERR;
    }
    if (full.h != test->h || full.w != test->w) {
      pb_err_set(err, "[data] train images are %dx%d but test images are %dx%d", full.h, full.w, test->h, test->w);
      goto fail;
    }
    const char *bias = pb_config_str(cfg, "data", "bias");
    pb_bias_params b = {!strcmp(bias, "inversion") ? PB_BIAS_INVERSION : !strcmp(bias, "colour") ? PB_BIAS_COLOUR
                                                                                              : PB_BIAS_NONE,
                        !strcmp(tb, "unbiased") ? PB_TEST_BIAS_UNBIASED : !strcmp(tb, "biased") ? PB_TEST_BIAS_BIASED
                                                                                               : PB_TEST_BIAS_DEFAULT,
                        pb_config_float(cfg, "data", "eps"), (int)pb_config_int(cfg, "data", "class_assignment"),
                        pb_config_float(cfg, "data", "rho")};
    if (pb_bias_inject(&b, seed, &full, test, err)) goto fail;
  }
  double vs = pb_config_float(cfg, "data", "val_split");
  int nval = (int)floor(full.n * vs);
  if (vs > 0 && (nval < 1 || nval >= full.n)) {
    pb_err_set(err, "[data] val_split = %g leaves %d validation and %d training samples", vs, nval, full.n - nval);
    goto fail;
  }
  if (nval > 0) {
    int32_t *perm = pb_xmalloc((size_t)full.n * sizeof(int32_t));
    pb_data_order(perm, full.n, seed ^ 0x5EEDull, -1, 1);
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

void pb_data_order(int32_t *perm, int n, uint64_t seed, int64_t epoch, int shuffle) {
  for (int i = 0; i < n; i++) perm[i] = i;
  if (!shuffle) return;
  uint64_t stream = PB_RNG_STREAM(PB_RNG_ORDER, (uint64_t)epoch);
  for (int i = n - 1; i > 0; i--) {
    int j = (int)pb_rng_below(seed, stream, (uint64_t)i, (uint64_t)i + 1);
    int32_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
}

int pb_data_norm(const pb_config *cfg, int channels, pb_norm *out, pb_err *err) {
  double mean[PB_CFG_LIST_MAX], std[PB_CFG_LIST_MAX];
  int nm = pb_config_floats(cfg, "data", "mean", mean, PB_CFG_LIST_MAX);
  int ns = pb_config_floats(cfg, "data", "std", std, PB_CFG_LIST_MAX);
  if ((nm != 1 && nm != channels) || (ns != 1 && ns != channels) || channels > 8)
    return pb_err_set(err, "[data] mean and std need 1 or %d values (one per channel); got %d and %d", channels, nm,
                      ns);
  for (int c = 0; c < channels; c++) {
    out->mean[c] = (float)mean[nm == 1 ? 0 : c];
    out->std[c] = (float)std[ns == 1 ? 0 : c];
  }
  return PB_OK;
}
