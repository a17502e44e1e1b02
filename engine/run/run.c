/* run.c: building a run's session from a config, and staging loader batches onto the model's
 * device (run.h). */
#include "engine/run/run.h"

#include "engine/dist/dist.h"
#include "engine/run/verify.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <inttypes.h>

#include "engine/device/backend.h"
#include "engine/trainers/checkpoint.h"
#include "engine/run/log.h"
#include "engine/run/data.h"
#include "metrics/mlscore.h"

/* The loader's batch memory: pinned on a GPU, so that copies overlap compute. */
static void *stage_alloc(size_t bytes, void *ctx) {
  pb_err e;
  return ((pb_ctx *)ctx)->ops->host_alloc(ctx, bytes, "the loader's batches", &e);
}
static void stage_free(void *p, void *ctx) { ((pb_ctx *)ctx)->ops->host_free(ctx, p); }

int pb_run_augs(const pb_config *cfg, const pb_dataset *train, pb_aug *aug_train, pb_aug *aug_test, pb_err *err) {
  struct {
    pb_dataset train;
    pb_aug aug_train, aug_test;
  } rr, *r = &rr;
  r->train = *train;
  int size = (int)pb_config_int(cfg, "augment", "size");
  if (r->train.kind != PB_DATA_FILES && size && (size != r->train.h || size != r->train.w))
    return pb_err_set(err, "[augment] size = %d but the stored samples are %dx%d: in-memory data keeps its size "
                           "(set 0)",
                      size, r->train.h, r->train.w);
  double sc[PB_CFG_LIST_MAX], ra[PB_CFG_LIST_MAX];
  if (pb_config_floats(cfg, "augment", "scale", sc, PB_CFG_LIST_MAX) != 2 || sc[0] > sc[1] || sc[0] <= 0)
    return pb_err_set(err, "[augment] scale needs two values 0 < lo <= hi <= 1");
  if (pb_config_floats(cfg, "augment", "ratio", ra, PB_CFG_LIST_MAX) != 2 || ra[0] > ra[1])
    return pb_err_set(err, "[augment] ratio needs two values lo <= hi");
  pb_aug a = {.out_c = r->train.c, .out_h = r->train.h, .out_w = r->train.w};
  a.scale[0] = (float)sc[0], a.scale[1] = (float)sc[1], a.ratio[0] = (float)ra[0], a.ratio[1] = (float)ra[1];
  a.resize = (int)pb_config_int(cfg, "augment", "resize");
  if (!a.resize) a.resize = (int)lround(PB_MAX(a.out_h, a.out_w) / 0.875);
  a.pad = (int)pb_config_int(cfg, "augment", "pad");
  r->aug_test = a;
  const char *tta = pb_config_str(cfg, "augment", "tta");
  r->aug_test.views = !strcmp(tta, "flip") ? 2 : !strcmp(tta, "tencrop") ? 10 : 0;
  if (r->aug_test.views && r->train.kind == PB_DATA_F32)
    return pb_err_set(err, "[augment] tta = %s needs image data, not features ([data] dataset = npy)", tta);
  if (r->aug_test.views && r->train.frames)
    return pb_err_set(err, "[augment] tta = %s with image sequences ([data] track_column = %s): test-time views are "
                           "of single images; set tta = none",
                      tta, pb_config_str(cfg, "data", "track_column"));
  const char *tg = pb_config_str(cfg, "augment", "test");
  r->aug_test.geom = !strcmp(tg, "resize_crop") ? PB_AUG_RESIZE_CROP : PB_AUG_NONE;
  const char *g = pb_config_str(cfg, "augment", "train");
  a.geom = !strcmp(g, "rrc")           ? PB_AUG_RRC
           : !strcmp(g, "resize_crop") ? PB_AUG_RESIZE_CROP
           : !strcmp(g, "resize_random_crop") ? PB_AUG_RESIZE_RANDOM_CROP
           : !strcmp(g, "pad_crop")    ? PB_AUG_PAD_CROP
                                       : PB_AUG_NONE;
  a.flip = (float)pb_config_float(cfg, "augment", "flip");
  a.invert = (float)pb_config_float(cfg, "augment", "invert");
  if (r->train.kind == PB_DATA_U8 && (a.geom == PB_AUG_RRC || a.geom == PB_AUG_RESIZE_CROP || a.geom == PB_AUG_RESIZE_RANDOM_CROP ||
                                       r->aug_test.geom))
    pb_log("note: [augment] resampling in-memory %dx%d images back to %dx%d", r->train.h, r->train.w, a.out_h,
           a.out_w);
  r->aug_train = a;
  *aug_train = r->aug_train;
  *aug_test = r->aug_test;
  return PB_OK;
}

/* Multi-head models: every label of every head fits the head (-1 = missing). */
static int check_head_labels(const pb_run *r, const pb_dataset *d, pb_err *err) {
  const pb_model *m = r->model;
  if (d->nheads != m->nheads && !(m->nheads == 1 && d->nheads <= 1))
    return pb_err_set(err, "[data] the %s set has %d label column(s) for %d heads ([model] heads): multi-head models "
                           "need a csv manifest with a label column per head",
                      d->name, d->nheads, m->nheads);
  for (int i = 0; i < d->n; i++)
    for (int h = 0; h < m->nheads; h++) {
      int32_t y = d->heads ? d->heads[(size_t)i * d->nheads + h] : d->labels[i];
      if (y >= m->heads[h].classes)
        return pb_err_set(err, "[data] %s sample %d: label id %d of column '%s' does not fit head %s:%d (more distinct "
                               "labels than classes)",
                          d->name, i, y, m->heads[h].name, m->heads[h].name, m->heads[h].classes);
    }
  return PB_OK;
}

/* [data] multilabel: one model trained by the plain trainer on a multi-label loss, and every
 * set's multi-hot rows as wide as its output; the scores of [multilabel]. */
static int check_multilabel(pb_run *r, const pb_config *cfg, pb_err *err) {
  r->multilabel = pb_config_bool(cfg, "data", "multilabel");
  if (!r->multilabel) return PB_OK;
  const char *sc = pb_config_str(cfg, "multilabel", "score");
  r->ml_kind = strcmp(sc, "auto")                                   ? pb_mlscore_parse(sc)
               : !strcmp(pb_config_str(cfg, "train", "loss"), "inclusive") ? PB_MLSCORE_INCLUSIVE
                                                                           : PB_MLSCORE_SIGMOID;
  r->ml_top_k = (int)pb_config_int(cfg, "multilabel", "top_k");
  r->ml_inclusive = !strcmp(pb_config_str(cfg, "train", "loss"), "inclusive");
  r->ml_threshold = pb_config_float(cfg, "multilabel", "threshold");
  r->ml_min_labels = (int)pb_config_int(cfg, "multilabel", "min_labels");
  r->ml_max_labels = (int)pb_config_int(cfg, "multilabel", "max_labels");
  if (r->ml_max_labels == 0) r->ml_max_labels = -1;
  if (r->ml_max_labels > 0 && r->ml_min_labels > r->ml_max_labels)
    return pb_err_set(err, "%s: [multilabel] min_labels = %d is more than max_labels = %d",
                      pb_config_origin(cfg, "multilabel", "min_labels"), r->ml_min_labels, r->ml_max_labels);
  if (r->nmodels != 1 || r->tr->terms.n != 1 || !r->tr->terms.term[0].multilabel)
    return pb_err_set(err, "[data] multilabel = true: multi-label models are trained by [method] name = plain with "
                           "[train] loss = bce or inclusive");
  const int *o = pb_model_out(r->model);
  int k = o[0] * o[1] * o[2];
  const pb_dataset *ds[2 + PB_RUN_MAX_TESTS] = {&r->train, &r->val};
  for (int i = 0; i < r->ntests; i++) ds[2 + i] = &r->tests[i];
  for (int i = 0; i < 2 + r->ntests; i++) {
    if (!ds[i]->n) continue;
    if (!ds[i]->multi)
      return pb_err_set(err, "[data] multilabel = true but the %s set has no multi-label targets (a csv manifest "
                             "whose label column holds space-separated labels)",
                        ds[i]->name);
    if (ds[i]->multi_k != k)
      return pb_err_set(err, "[data] multilabel: the %s set has %d labels but the model has %d outputs ([model] "
                             "num_classes)",
                        ds[i]->name, ds[i]->multi_k, k);
  }
  return PB_OK;
}

/* Two device slots of input bytes and labels (the copy of batch i+1 overlaps batch i's
 * compute), the normalised input, and the host copy of the labels. */
static int alloc_staging(pb_run *r, pb_err *err) {
  const pb_dataset *ds[2 + PB_RUN_MAX_TESTS] = {&r->train, &r->val};
  for (int k = 0; k < r->ntests; k++) ds[2 + k] = &r->tests[k];
  for (int k = 0; k < 2 + r->ntests; k++)
    r->max_sample = PB_MAX(r->max_sample, pb_dataset_sample_elems(ds[k]) *
                                              (ds[k]->kind == PB_DATA_F32 ? sizeof(float) : 1));
  size_t per = pb_dataset_sample_elems(&r->train), mb = (size_t)r->max_rows;
  size_t ny = mb * (size_t)r->nlabels; /* labels per batch: [nlabels, n] */
  for (int s = 0; s < 2; s++)
    if (!(r->u8_dev[s] = pb_ctx_alloc(&r->ctx, mb * r->max_sample, "the input bytes", err)) ||
        !(r->y_dev[s] = pb_ctx_alloc(&r->ctx, ny * sizeof(int32_t), "the labels", err)))
      return PB_ERR;
  if (!(r->x_dev = pb_ctx_alloc(&r->ctx, mb * per * sizeof(float), "the input batch", err))) return PB_ERR;
  r->y_host = pb_amalloc(ny * sizeof(int32_t));
  return PB_OK;
}

/* The worker pool of [loader], its batches in the context's staging memory. */
static pb_loader *make_loader(pb_run *r, const pb_config *cfg, pb_err *err) {
  long workers = pb_config_int(cfg, "loader", "workers");
  if (workers == 0) workers = PB_MAX(1, sysconf(_SC_NPROCESSORS_ONLN));
  long depth = pb_config_int(cfg, "loader", "queue_depth");
  if (depth == 0) depth = workers + 2;
  pb_loader_opts lo = {.workers = (int)workers,
                       .depth = (int)PB_MAX(depth, 3),
                       .max_batch = r->max_batch,
                       .max_views = r->views,
                       .max_sample_bytes = r->max_sample,
                       .reduced_dct = pb_config_bool(cfg, "loader", "reduced_dct"),
                       .convert_channels = pb_config_bool(cfg, "data", "convert_channels"),
                       .fail_on_bad = !strcmp(pb_config_str(cfg, "loader", "on_bad_image"), "fail"),
                       .max_pixels = pb_config_int(cfg, "loader", "max_image_pixels"),
                       .seed = r->seed,
                       .max_heads = r->multilabel ? r->nlabels : r->model->nheads,
                       .alloc = stage_alloc,
                       .dealloc = stage_free,
                       .alloc_ctx = &r->ctx};
  return pb_loader_new(&lo, err);
}

/* [model.NAME] i's seed: the run's, mixed with the name (FNV-1a), so that two models of the same
 * architecture start apart and a model's start does not depend on the others declared. */
static uint64_t model_seed(uint64_t seed, const char *name) {
  uint64_t h = 1469598103934665603ull;
  for (const char *c = name; *c; c++) h = (h ^ (uint8_t)*c) * 1099511628211ull;
  return *name ? seed ^ h : seed;
}

/* [model] init_from of one model (its view of the config). */
static int init_from(const pb_config *view, pb_model *m, const char *name, pb_err *err) {
  const char *path = pb_config_str(view, "model", "init_from");
  if (!path[0]) return PB_OK;
  char summary[1200];
  if (pb_ckpt_init_from(path, pb_config_str(view, "model", "init_exclude"), m, summary, sizeof summary, err))
    return pb_err_prefix(err, "[model%s%s] init_from", *name ? "." : "", name);
  printf("%s%s%s\n", *name ? name : "", *name ? ": " : "", summary);
  return PB_OK;
}

/* The models and their trainer: one model ([model]) and the plain trainer, or the named models
 * ([model.NAME]) and the trainer of [method] over them. */
static int build_models(pb_run *r, pb_config *cfg, const int in[3], int infer, int64_t steps, pb_err *err) {
  const char *names[PB_MAX_LEARNERS + 1];
  int nm = pb_config_names(cfg, "model", names, PB_MAX_LEARNERS + 1);
  const char *method = pb_config_str(cfg, "method", "name");
  if (nm > PB_MAX_LEARNERS)
    return pb_err_set(err, "%s: [model.%s]: at most %d named models", pb_config_named_origin(cfg, "model", names[PB_MAX_LEARNERS]),
                      names[PB_MAX_LEARNERS], PB_MAX_LEARNERS);
  if (nm && !strcmp(method, "plain"))
    return pb_err_set(err, "%s: [model.%s]: named models are trained by a method: set [method] name = vanilla, biased "
                           "or rebias",
                      pb_config_named_origin(cfg, "model", names[0]), names[0]);
  if (!nm && strcmp(method, "plain"))
    return pb_err_set(err, "%s: [method] name = %s trains named models: declare them as [model.f] and [model.g] "
                           "sections (or set name = plain)",
                      pb_config_origin(cfg, "method", "name"), method);
  static const char *const learner_sections[] = {"optim", "schedule"};
  for (int s = 0; s < 2; s++) { /* [optim.NAME] / [schedule.NAME] of a model that does not exist */
    const char *on[PB_CFG_LIST_MAX];
    int no = pb_config_names(cfg, learner_sections[s], on, PB_CFG_LIST_MAX);
    for (int j = 0; j < no && j < PB_CFG_LIST_MAX; j++) {
      int k = 0;
      while (k < nm && strcmp(names[k], on[j])) k++;
      if (k == nm)
        return pb_err_set(err, "%s: [%s.%s]: no [model.%s] section declares model '%s'",
                          pb_config_named_origin(cfg, learner_sections[s], on[j]), learner_sections[s], on[j], on[j],
                          on[j]);
    }
  }
  if (!nm) {
    r->nmodels = 1;
    if (!(r->model = r->models[0] = pb_model_build(cfg, &r->ctx, in, r->max_rows, r->seed, infer, err))) return PB_ERR;
    if (r->model->nheads && r->views > 1)
      return pb_err_set(err, "[augment] tta = %s: test-time views are not averaged for multi-head models ([model] heads) "
                             "yet; use tta = none",
                        pb_config_str(cfg, "augment", "tta"));
    if (r->model->nheads) {
      const pb_dataset *dd[2 + PB_RUN_MAX_TESTS] = {&r->train, &r->val};
      for (int k = 0; k < r->ntests; k++) dd[2 + k] = &r->tests[k];
      for (int k = 0; k < 2 + r->ntests; k++)
        if (dd[k]->n && check_head_labels(r, dd[k], err)) return PB_ERR;
    }
    if (init_from(cfg, r->model, "", err)) return PB_ERR;
    if (!(r->tr = pb_trainer_from_config(cfg, r->model, steps, r->epochs, err))) return PB_ERR;
    return PB_OK;
  }
  pb_config *views[PB_MAX_LEARNERS] = {0};
  int rc = PB_ERR;
  for (int i = 0; i < nm; i++) {
    views[i] = pb_config_view(cfg, names[i]);
    r->models[i] = pb_model_build(views[i], &r->ctx, in, r->max_rows, model_seed(r->seed, names[i]), infer, err);
    r->nmodels = i + 1;
    if (!r->models[i]) {
      pb_err_prefix(err, "[model.%s]", names[i]);
      goto out;
    }
    if (init_from(views[i], r->models[i], names[i], err)) goto out;
  }
  if (!(r->tr = pb_trainer_models(cfg, r->models, views, names, nm, steps, r->epochs, err))) goto out;
  r->model = r->tr->learner[0].model;
  rc = PB_OK;
out:
  for (int i = 0; i < nm; i++) pb_config_free(views[i]);
  return rc;
}

static int run_init(pb_run *r, pb_config *cfg, int infer, pb_err *err);

int pb_run_init(pb_run *r, pb_config *cfg, pb_err *err) { return run_init(r, cfg, 0, err); }
int pb_run_init_infer(pb_run *r, pb_config *cfg, pb_err *err) { return run_init(r, cfg, 1, err); }
int pb_run_init_predict(pb_run *r, pb_config *cfg, pb_err *err) { return run_init(r, cfg, 2, err); }

static int run_init(pb_run *r, pb_config *cfg, int infer, pb_err *err) {
  memset(r, 0, sizeof *r);
  r->cfg = cfg;
  r->seed = (uint64_t)pb_config_int(cfg, "run", "seed");
  if (infer ? pb_ctx_init_cfg(&r->ctx, cfg, err) : pb_run_ctx_init(&r->ctx, cfg, err))
    return PB_ERR;
  int nv = 0;
  pb_dataset variants[PB_RUN_MAX_TESTS];
  if (infer == 2) { /* predict: the training set's vocabulary and shape, no test set */
    if (pb_run_load_train(cfg, r->seed, &r->train, err)) goto fail;
  } else {
    if (pb_run_load_data(cfg, r->seed, &r->train, &r->val, &r->tests[0], err)) goto fail;
    r->ntests = 1;
    if (pb_run_load_test_variants(cfg, r->seed, variants, PB_RUN_MAX_TESTS, &nv, err)) goto fail;
  }
  if (nv) { /* the variants in place of the one test set */
    pb_dataset_free(&r->tests[0]);
    for (int k = 0; k < nv; k++) r->tests[k] = variants[k];
    r->ntests = nv;
  }
  int want_c = (int)pb_config_int(cfg, "model", "in_channels");
  if (want_c && want_c != r->train.c) {
    pb_err_set(err, "[model] in_channels = %d but the data has %d channel(s) (set 0 to take it from the data)", want_c,
               r->train.c);
    goto fail;
  }
  /* float features go to the model as they are: [data] mean / std apply to images only */
  if (r->train.kind != PB_DATA_F32 && pb_run_data_norm(cfg, r->train.c, &r->norm, err)) goto fail;
  if (pb_run_augs(cfg, &r->train, &r->aug_train, &r->aug_test, err)) goto fail;
  r->max_bad_fraction = pb_config_float(cfg, "loader", "max_bad_fraction");
  r->min_cell = (int)pb_config_int(cfg, "data", "min_cell");
  r->batch = (int)pb_config_int(cfg, "train", "batch_size");
  r->eval_batch = (int)pb_config_int(cfg, "train", "eval_batch_size");
  if (r->eval_batch == 0) r->eval_batch = 2 * r->batch;
  r->epochs = (int)pb_config_int(cfg, "train", "epochs");
  if (r->train.n < 1) {
    pb_err_set(err, "[data] the training set is empty");
    goto fail;
  }
  r->epoch_samples = r->train.n;
  r->batches_per_epoch = (r->train.n + r->batch - 1) / r->batch;
  if (!infer && (pb_run_sampler_init(r, err) || pb_run_dist_batches(r, err))) goto fail;
  if (infer) r->global_batch = r->batch;
  int accum = (int)pb_config_int(cfg, "train", "accum_steps");
  int64_t steps = (r->batches_per_epoch + accum - 1) / accum;
  /* Image sequences: [n, T, c, h, w] is [n, T * c, h, w]; the model recovers T from [data] channels. */
  int in[3] = {PB_MAX(r->train.frames, 1) * r->train.c, r->train.h, r->train.w};
  /* Test-time views: an evaluation batch of eval_batch images is eval_batch * views rows. */
  r->views = PB_MAX(r->aug_test.views, 1);
  r->max_rows = infer ? r->eval_batch * r->views : PB_MAX(r->batch, r->eval_batch * r->views);
  if (build_models(r, cfg, in, infer != 0, steps, err)) goto fail;
  if (!infer && (pb_dist_configure(cfg, &r->ctx, err) || pb_run_dist_agree(r, err))) goto fail;
  r->epochs += r->tr->pre_epochs; /* the method's pretraining epochs come first */
  r->nterms = r->tr->terms.n;
  r->nlabels = r->tr->nlabels;
  if (check_multilabel(r, cfg, err)) goto fail;
  if (r->tr->terms.emb_dim) { /* verification of the evaluated sets */
    pb_verif_params vp;
    if (pb_run_verif_params(cfg, r->ctx.nthreads, r->tr->terms.fpr, &vp, err) ||
        (!infer && pb_run_check_verif_sets(r, err))) /* plumb eval says it when it evaluates */
      goto fail;
    r->tr->terms.nfpr = vp.nfpr;
  }
  r->max_batch = infer ? r->eval_batch : PB_MAX(r->batch, r->eval_batch);
  if (alloc_staging(r, err) || !(r->loader = make_loader(r, cfg, err))) goto fail;
  return PB_OK;
fail:
  pb_run_free(r);
  return PB_ERR;
}

int pb_run_init_models(pb_run *r, pb_config *cfg, const int in[3], int batch, int64_t steps_per_epoch,
                       pb_err *err) {
  memset(r, 0, sizeof *r);
  r->cfg = cfg;
  r->seed = (uint64_t)pb_config_int(cfg, "run", "seed");
  if (pb_ctx_init_cfg(&r->ctx, cfg, err)) return PB_ERR;
  r->batch = r->eval_batch = r->max_batch = r->max_rows = batch;
  r->views = 1;
  r->epochs = (int)pb_config_int(cfg, "train", "epochs");
  if (build_models(r, cfg, in, 0, steps_per_epoch, err)) {
    pb_run_free(r);
    return PB_ERR;
  }
  r->nterms = r->tr->terms.n;
  r->nlabels = r->tr->nlabels;
  return PB_OK;
}

void pb_run_free(pb_run *r) {
  if (r->ctx.ops && r->loader) r->ctx.ops->copy_wait(&r->ctx);
  pb_loader_free(r->loader);
  r->loader = NULL;
  pb_trainer_free(r->tr);
  r->tr = NULL;
  if (r->ctx.ops) {
    for (int s = 0; s < 2; s++) {
      pb_ctx_free_mem(&r->ctx, r->u8_dev[s]);
      pb_ctx_free_mem(&r->ctx, r->y_dev[s]);
    }
    pb_ctx_free_mem(&r->ctx, r->x_dev);
  }
  pb_afree(r->y_host);
  r->y_host = NULL, r->x_dev = NULL;
  memset(r->u8_dev, 0, sizeof r->u8_dev);
  memset(r->y_dev, 0, sizeof r->y_dev);
  for (int i = 0; i < r->nmodels; i++) pb_model_free(r->models[i]);
  r->nmodels = 0;
  r->model = NULL;
  pb_dataset_free(&r->train);
  pb_dataset_free(&r->val);
  for (int k = 0; k < r->ntests; k++) pb_dataset_free(&r->tests[k]);
  r->ntests = 0;
  pb_ctx_free(&r->ctx);
}

void pb_run_pass(pb_run *r, const pb_dataset *d, int train, const int32_t *order, int n, int batch, int64_t first,
                 int64_t epoch) {
  /* The loader reuses its batches: no copy may still read one. */
  r->ctx.ops->copy_wait(&r->ctx);
  r->held = NULL;
  r->pass_n = n, r->pass_bad = 0, r->nfirst_bad = 0;
  pb_loader_start(r->loader, d, train ? &r->aug_train : &r->aug_test, order, n, batch, first, epoch);
}

void pb_run_pass_stop(pb_run *r) {
  r->ctx.ops->copy_wait(&r->ctx);
  r->held = NULL;
  pb_loader_stop(r->loader);
}

int pb_run_batch(pb_run *r, const pb_dataset *d, pb_batch *b, float **x, int32_t **y, const int32_t **y_host,
                 pb_err *err) {
  int n = b->n, rows = b->n * b->views;
  PB_ASSERT(n <= r->max_batch && rows <= r->max_rows);
  for (int i = 0; i < b->nmsg; i++) pb_log("%s image skipped: %s", d->name, b->msg[i]);
  if (b->nbad > b->nmsg) pb_log("%s: %d more bad images skipped in batch %" PRId64, d->name, b->nbad - b->nmsg, b->index);
  if (b->failed) {
    pb_err_set(err, "%s ([loader] on_bad_image = fail; set skip to leave bad images out)", b->msg[0]);
    pb_loader_release(r->loader, b);
    return PB_ERR;
  }
  for (int i = 0; i < b->nmsg && r->nfirst_bad < 3; i++)
    snprintf(r->first_bad[r->nfirst_bad++], sizeof r->first_bad[0], "%s", b->msg[i]);
  r->pass_bad += b->nbad;
  /* A pass that loses more than the bound is not the experiment the config describes. */
  if (b->nbad && (double)r->pass_bad > r->max_bad_fraction * (double)r->pass_n) {
    pb_err_set(err, "%ld of the %ld %s images of this pass could not be read, more than [loader] max_bad_fraction = %g "
                    "allows; the first: %s%s%s%s%s",
               r->pass_bad, r->pass_n, d->name, r->max_bad_fraction, r->first_bad[0], r->nfirst_bad > 1 ? "; " : "",
               r->nfirst_bad > 1 ? r->first_bad[1] : "", r->nfirst_bad > 2 ? "; " : "",
               r->nfirst_bad > 2 ? r->first_bad[2] : "");
    pb_loader_release(r->loader, b);
    return PB_ERR;
  }
  int hw = d->h * d->w, frames = PB_MAX(d->frames, 1); /* image sequences: n * T images of c x hw */
  int f32 = d->kind == PB_DATA_F32;
  pb_ctx *c = &r->ctx;
  const pb_backend *ops = c->ops;
  int s = r->slot;
  r->slot ^= 1;
  /* The previous batch's memory goes back to the loader once its copy is done; this one is
   * kept until the next (the caller reads its groups and bias flags). */
  ops->copy_wait(c);
  pb_loader_release(r->loader, r->held);
  r->held = b;
  /* The device slot may still be read by batch i-2's step: the copy waits for its end. */
  ops->stage_begin(c, s);
  size_t bytes = (size_t)rows * pb_dataset_sample_elems(d) * (f32 ? sizeof(float) : 1);
  ops->h2d_async(c, r->u8_dev[s], b->u8, bytes);
  if (r->nlabels > 1 || r->model->nheads) {
    /* head-major with the batch's stride -> [nlabels, n], packed in place (row h moves down to
     * h * n <= h * max_batch, never over a row not yet moved), then one copy */
    for (int h = 1; n < r->max_batch && h < r->nlabels; h++)
      memmove(b->heads + (size_t)h * n, b->heads + (size_t)h * r->max_batch, (size_t)n * sizeof(int32_t));
    ops->h2d_async(c, r->y_dev[s], b->heads, (size_t)n * r->nlabels * sizeof(int32_t));
    memcpy(r->y_host, b->heads, (size_t)n * r->nlabels * sizeof(int32_t));
  } else {
    ops->h2d_async(c, r->y_dev[s], b->y, (size_t)n * sizeof(int32_t));
    memcpy(r->y_host, b->y, (size_t)n * sizeof(int32_t));
  }
  if (f32) {
    *x = (float *)r->u8_dev[s];
  } else {
    ops->u8_to_f32_norm(c, r->x_dev, r->u8_dev[s], rows * frames, d->c, hw, r->norm.mean, r->norm.std);
    *x = r->x_dev;
  }
  *y = r->y_dev[s];
  *y_host = r->y_host;
  c->seq_lengths = d->lengths ? b->lengths : NULL; /* b is held until the next batch: valid for its backward */
  return PB_OK;
}

size_t pb_run_count_params(const pb_run *r) {
  size_t n = 0; /* composite layers (residual blocks, heads) count their children's too */
  for (int i = 0; i < r->model->nlayers; i++) n += pb_layer_count_params(r->model->layers[i]);
  return n;
}
