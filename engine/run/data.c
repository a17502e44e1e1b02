/* data.c: the loaders' parameters and the normalisation from a run's config (data.h). */
#include "engine/run/data.h"

#include <string.h>

#include "engine/models/model.h"

_Static_assert(PB_MAX_HEADS <= PB_DATA_MAX_HEADS, "every head of a model fits the loaders' parameters");
_Static_assert(sizeof(((pb_head *)0)->name) == sizeof(((pb_data_head *)0)->name), "head names of one size");

/* Index of [data] key's value among names (config enums are checked when parsed). */
static int enum_value(const pb_config *cfg, const char *key, const char *const *names, int n, int *out, pb_err *err) {
  const char *v = pb_config_str(cfg, "data", key);
  for (int i = 0; i < n; i++)
    if (!strcmp(v, names[i])) return *out = i, PB_OK;
  return pb_err_set(err, "[data] %s = %s is not a known value", key, v);
}

int pb_run_data_params(const pb_config *cfg, uint64_t seed, pb_data_params *out, pb_err *err) {
  static const char *const sources[] = {[PB_SOURCE_IDX] = "idx", [PB_SOURCE_FOLDER] = "folder",
                                        [PB_SOURCE_CSV] = "csv", [PB_SOURCE_NPY] = "npy"};
  static const char *const biases[] = {[PB_BIAS_NONE] = "none", [PB_BIAS_INVERSION] = "inversion",
                                       [PB_BIAS_COLOUR] = "colour"};
  static const char *const test_biases[] = {[PB_TEST_BIAS_DEFAULT] = "default", [PB_TEST_BIAS_UNBIASED] = "unbiased",
                                            [PB_TEST_BIAS_BIASED] = "biased"};
  pb_data_params *p = out;
  memset(p, 0, sizeof *p);
  if (enum_value(cfg, "dataset", sources, 4, &p->source, err) || enum_value(cfg, "bias", biases, 3, &p->bias.kind, err) ||
      enum_value(cfg, "test_bias", test_biases, 3, &p->bias.test_bias, err))
    return PB_ERR;
  p->dir = pb_config_str(cfg, "data", "dir");
  p->train_images = pb_config_str(cfg, "data", "train_images");
  p->train_labels = pb_config_str(cfg, "data", "train_labels");
  p->test_images = pb_config_str(cfg, "data", "test_images");
  p->test_labels = pb_config_str(cfg, "data", "test_labels");
  p->limit_train = pb_config_int(cfg, "data", "limit_train");
  p->limit_test = pb_config_int(cfg, "data", "limit_test");
  p->bias.eps = pb_config_float(cfg, "data", "eps");
  p->bias.class_assignment = (int)pb_config_int(cfg, "data", "class_assignment");
  p->bias.rho = pb_config_float(cfg, "data", "rho");
  p->bias.assignment_file = pb_config_str(cfg, "data", "class_assignment_file");
  p->bias.lists_dir = pb_config_str(cfg, "data", "inversion_lists");
  p->bias.superclass_task = !strcmp(pb_config_str(cfg, "data", "task"), "superclass");
  p->train_path = pb_config_str(cfg, "data", "train_path");
  p->test_path = pb_config_str(cfg, "data", "test_path");
  p->train_targets = pb_config_str(cfg, "data", "train_targets");
  p->test_targets = pb_config_str(cfg, "data", "test_targets");
  p->train_lengths = pb_config_str(cfg, "data", "train_lengths");
  p->test_lengths = pb_config_str(cfg, "data", "test_lengths");
  p->train_groups = pb_config_str(cfg, "data", "train_groups");
  p->test_groups = pb_config_str(cfg, "data", "test_groups");
  p->image_root = pb_config_str(cfg, "data", "image_root");
  p->path_column = pb_config_str(cfg, "data", "path_column");
  p->label_columns = pb_config_str(cfg, "data", "label_columns");
  p->group_column = pb_config_str(cfg, "data", "group_column");
  p->test_group_columns = pb_config_str(cfg, "data", "test_group_columns");
  p->path_suffix = pb_config_str(cfg, "data", "path_suffix");
  p->multilabel = pb_config_bool(cfg, "data", "multilabel");
  p->track_column = pb_config_str(cfg, "data", "track_column");
  p->frame_column = pb_config_str(cfg, "data", "frame_column");
  p->max_frames = (int)pb_config_int(cfg, "data", "max_frames");
  p->channels = (int)pb_config_int(cfg, "data", "channels");
  p->size = (int)pb_config_int(cfg, "augment", "size");
  p->val_split = pb_config_float(cfg, "data", "val_split");
  p->num_classes = (int)pb_config_int(cfg, "model", "num_classes");
  /* an embedding model's labels are identities: any id >= 0, no classes to bound them */
  if (pb_config_int(cfg, "model", "embedding_dim") > 0) p->num_classes = 1 << 30;
  p->seed = seed;
  if (p->source == PB_SOURCE_CSV) {
    pb_head heads[PB_MAX_HEADS];
    if (pb_heads_parse(cfg, heads, &p->nheads, err)) return PB_ERR;
    for (int h = 0; h < p->nheads; h++) {
      memcpy(p->heads[h].name, heads[h].name, sizeof p->heads[h].name);
      p->heads[h].classes = heads[h].classes;
    }
  }
  return PB_OK;
}

int pb_run_load_data(const pb_config *cfg, uint64_t seed, pb_dataset *train, pb_dataset *val, pb_dataset *test,
                     pb_err *err) {
  pb_data_params p;
  if (pb_run_data_params(cfg, seed, &p, err)) {
    memset(train, 0, sizeof *train), memset(val, 0, sizeof *val), memset(test, 0, sizeof *test);
    return PB_ERR;
  }
  return pb_data_load(&p, train, val, test, err);
}

int pb_run_load_train(const pb_config *cfg, uint64_t seed, pb_dataset *train, pb_err *err) {
  pb_data_params p;
  memset(train, 0, sizeof *train);
  if (pb_run_data_params(cfg, seed, &p, err)) return PB_ERR;
  /* The loaders read a train / test pair: the test side reads the training files again (a
   * listing or a manifest; images are decoded per sample, later), so that the config's test
   * data need not exist. The vocabulary is the training set's either way. */
  p.test_images = p.train_images, p.test_labels = p.train_labels, p.test_path = p.train_path;
  p.test_targets = p.train_targets, p.test_lengths = p.train_lengths, p.test_groups = p.train_groups;
  p.limit_test = p.limit_train, p.test_group_columns = "", p.val_split = 0;
  pb_dataset val, test;
  if (pb_data_load(&p, train, &val, &test, err)) return PB_ERR;
  pb_dataset_free(&val);
  pb_dataset_free(&test);
  return PB_OK;
}

int pb_run_load_test_variants(const pb_config *cfg, uint64_t seed, pb_dataset *tests, int cap, int *n, pb_err *err) {
  *n = 0;
  const char *spec = pb_config_str(cfg, "data", "test_variants");
  if (!spec[0]) return PB_OK;
  pb_data_params p;
  if (pb_run_data_params(cfg, seed, &p, err)) return PB_ERR;
  if (p.bias.kind == PB_BIAS_NONE)
    return pb_err_set(err, "%s: [data] test_variants = %s needs a bias ([data] bias = colour or inversion)",
                      pb_config_origin(cfg, "data", "test_variants"), spec);
  char buf[256];
  snprintf(buf, sizeof buf, "%s", spec);
  for (char *sv, *tok = strtok_r(buf, ", ", &sv); tok; tok = strtok_r(NULL, ", ", &sv)) {
    int tb = !strcmp(tok, "biased") ? PB_TEST_BIAS_BIASED : !strcmp(tok, "unbiased") ? PB_TEST_BIAS_UNBIASED : -1;
    if (tb < 0 || *n == cap) {
      for (int k = 0; k < *n; k++) pb_dataset_free(&tests[k]);
      *n = 0;
      return pb_err_set(err, "%s: [data] test_variants = %s: %s", pb_config_origin(cfg, "data", "test_variants"), spec,
                        tb < 0 ? "each variant is biased or unbiased" : "too many variants");
    }
    p.bias.test_bias = tb;
    pb_dataset tr, va;
    if (pb_data_load(&p, &tr, &va, &tests[*n], err)) {
      for (int k = 0; k < *n; k++) pb_dataset_free(&tests[k]);
      *n = 0;
      return PB_ERR;
    }
    pb_dataset_free(&tr);
    pb_dataset_free(&va);
    snprintf(tests[*n].name, sizeof tests[*n].name, "%s", tok);
    (*n)++;
  }
  return PB_OK;
}

int pb_run_data_norm(const pb_config *cfg, int channels, pb_norm *out, pb_err *err) {
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
