/* run.c: building a run from a config, evaluation, and checkpoint bookkeeping (run.h). */
#include "engine/cli/run.h"

#include "engine/checkpoint.h"
#include "engine/log.h"
#include "engine/run/data.h"
#include "kernels/ops.h"

#include <dirent.h>
#include <math.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *pin_alloc(size_t bytes, void *ctx) {
  (void)ctx;
  pb_err e;
  return pb_cuda_host_alloc(bytes, "the loader's pinned batches", &e);
}
static void pin_free(void *p, void *ctx) {
  (void)ctx;
  pb_cuda_host_free(p);
}

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
  const char *tg = pb_config_str(cfg, "augment", "test");
  r->aug_test.geom = !strcmp(tg, "resize_crop") ? PB_AUG_RESIZE_CROP : PB_AUG_NONE;
  const char *g = pb_config_str(cfg, "augment", "train");
  a.geom = !strcmp(g, "rrc")           ? PB_AUG_RRC
           : !strcmp(g, "resize_crop") ? PB_AUG_RESIZE_CROP
           : !strcmp(g, "pad_crop")    ? PB_AUG_PAD_CROP
                                       : PB_AUG_NONE;
  a.flip = (float)pb_config_float(cfg, "augment", "flip");
  a.invert = (float)pb_config_float(cfg, "augment", "invert");
  if (r->train.kind == PB_DATA_U8 && (a.geom == PB_AUG_RRC || a.geom == PB_AUG_RESIZE_CROP || r->aug_test.geom))
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

static int run_init(pb_run *r, pb_config *cfg, int infer, pb_err *err);

int pb_run_init(pb_run *r, pb_config *cfg, pb_err *err) { return run_init(r, cfg, 0, err); }
int pb_run_init_infer(pb_run *r, pb_config *cfg, pb_err *err) { return run_init(r, cfg, 1, err); }

static int run_init(pb_run *r, pb_config *cfg, int infer, pb_err *err) {
  memset(r, 0, sizeof *r);
  r->cfg = cfg;
  r->seed = (uint64_t)pb_config_int(cfg, "run", "seed");
  if (pb_ctx_init_cfg(&r->ctx, cfg, err))
    return PB_ERR;
  if (pb_run_load_data(cfg, r->seed, &r->train, &r->val, &r->test, err)) goto fail;
  int want_c = (int)pb_config_int(cfg, "model", "in_channels");
  if (want_c && want_c != r->train.c) {
    pb_err_set(err, "[model] in_channels = %d but the data has %d channel(s) (set 0 to take it from the data)", want_c,
               r->train.c);
    goto fail;
  }
  if (pb_run_data_norm(cfg, r->train.c, &r->norm, err)) goto fail;
  if (pb_run_augs(cfg, &r->train, &r->aug_train, &r->aug_test, err)) goto fail;
  r->max_bad_fraction = pb_config_float(cfg, "loader", "max_bad_fraction");
  r->batch = (int)pb_config_int(cfg, "train", "batch_size");
  r->eval_batch = (int)pb_config_int(cfg, "train", "eval_batch_size");
  if (r->eval_batch == 0) r->eval_batch = 2 * r->batch;
  r->epochs = (int)pb_config_int(cfg, "train", "epochs");
  if (r->train.n < 1) {
    pb_err_set(err, "[data] the training set is empty");
    goto fail;
  }
  r->batches_per_epoch = (r->train.n + r->batch - 1) / r->batch;
  int accum = (int)pb_config_int(cfg, "train", "accum_steps");
  int64_t steps = (r->batches_per_epoch + accum - 1) / accum;
  int in[3] = {r->train.c, r->train.h, r->train.w};
  /* Test-time views: an evaluation batch of eval_batch images is eval_batch * views rows. */
  r->views = PB_MAX(r->aug_test.views, 1);
  r->max_rows = infer ? r->eval_batch * r->views : PB_MAX(r->batch, r->eval_batch * r->views);
  r->model = pb_model_build(cfg, &r->ctx, in, r->max_rows, r->seed, infer, err);
  if (!r->model) goto fail;
  r->nheads = r->model->nheads;
  if (r->nheads && r->views > 1) {
    pb_err_set(err, "[augment] tta = %s: test-time views are not averaged for multi-head models ([model] heads) yet; "
                    "use tta = none", pb_config_str(cfg, "augment", "tta"));
    goto fail;
  }
  if (r->nheads) {
    const pb_dataset *dd[3] = {&r->train, &r->val, &r->test};
    for (int k = 0; k < 3; k++)
      if (dd[k]->n && check_head_labels(r, dd[k], err)) goto fail;
  }
  const char *init_from = pb_config_str(cfg, "model", "init_from");
  char init_summary[1200];
  if (init_from[0]) {
    if (pb_ckpt_init_from(init_from, pb_config_str(cfg, "model", "init_exclude"), r->model, init_summary,
                          sizeof init_summary, err)) {
      pb_err_prefix(err, "[model] init_from");
      goto fail;
    }
    printf("%s\n", init_summary);
  }
  if (pb_trainer_init(&r->tr, r->model, cfg, steps, r->epochs, err)) goto fail;
  r->max_batch = infer ? r->eval_batch : PB_MAX(r->batch, r->eval_batch);
  const pb_dataset *ds[3] = {&r->train, &r->val, &r->test};
  for (int k = 0; k < 3; k++)
    r->max_sample = PB_MAX(r->max_sample, (size_t)ds[k]->c * ds[k]->h * ds[k]->w *
                                              (ds[k]->kind == PB_DATA_F32 ? sizeof(float) : 1));
  size_t per = (size_t)r->train.c * r->train.h * r->train.w, mb = (size_t)r->max_rows;
  size_t ny = mb * (size_t)PB_MAX(1, r->nheads); /* labels per batch: [nheads, n] for multi-head models */
  if (r->ctx.cuda) {
    for (int s = 0; s < 2; s++)
      if (!(r->u8_dev[s] = pb_ctx_alloc(&r->ctx, mb * r->max_sample, "the input bytes", err)) ||
          !(r->y_dev[s] = pb_ctx_alloc(&r->ctx, ny * sizeof(int32_t), "the labels", err)))
        goto fail;
    if (!(r->x_dev = pb_ctx_alloc(&r->ctx, mb * per * sizeof(float), "the input batch", err))) goto fail;
    if (r->nheads) r->yh_heads = pb_amalloc(ny * sizeof(int32_t));
  } else {
    r->x_host = pb_amalloc(mb * per * sizeof(float));
    r->y_host = pb_amalloc(ny * sizeof(int32_t));
  }
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
                       .max_heads = r->nheads};
  if (r->ctx.cuda) lo.alloc = pin_alloc, lo.dealloc = pin_free;
  if (!(r->loader = pb_loader_new(&lo, err))) goto fail;
  return PB_OK;
fail:
  pb_run_free(r);
  return PB_ERR;
}

void pb_run_free(pb_run *r) {
  if (r->ctx.cuda && r->loader) pb_cuda_copy_wait(r->ctx.cuda);
  pb_loader_free(r->loader);
  r->loader = NULL;
  pb_trainer_free(&r->tr);
  if (r->ctx.cuda) {
    for (int s = 0; s < 2; s++) {
      pb_ctx_free_mem(&r->ctx, r->u8_dev[s]);
      pb_ctx_free_mem(&r->ctx, r->y_dev[s]);
    }
    pb_ctx_free_mem(&r->ctx, r->x_dev);
  }
  pb_afree(r->x_host);
  pb_afree(r->y_host);
  pb_afree(r->yh_heads);
  r->yh_heads = NULL;
  r->x_host = NULL;
  r->y_host = NULL;
  pb_model_free(r->model);
  r->model = NULL;
  pb_dataset_free(&r->train);
  pb_dataset_free(&r->val);
  pb_dataset_free(&r->test);
  pb_ctx_free(&r->ctx);
}

void pb_run_pass(pb_run *r, const pb_dataset *d, int train, const int32_t *order, int n, int batch, int64_t first,
                 int64_t epoch) {
  /* The loader reuses its batches: no copy may still read one. */
  if (r->ctx.cuda) pb_cuda_copy_wait(r->ctx.cuda);
  r->held = NULL;
  r->pass_n = n, r->pass_bad = 0, r->nfirst_bad = 0;
  pb_loader_start(r->loader, d, train ? &r->aug_train : &r->aug_test, order, n, batch, first, epoch);
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
  int hw = d->h * d->w;
  int f32 = d->kind == PB_DATA_F32;
  if (!r->ctx.cuda) {
    if (f32)
      memcpy(r->x_host, b->f32, (size_t)n * d->c * hw * sizeof(float));
    else
      pb_u8_to_f32_norm_cpu(r->x_host, b->u8, rows, d->c, hw, r->norm.mean, r->norm.std);
    if (r->nheads) /* head-major with the batch's stride -> [nheads, n] */
      for (int h = 0; h < r->nheads; h++)
        memcpy(r->y_host + (size_t)h * n, b->heads + (size_t)h * r->max_batch, (size_t)n * sizeof(int32_t));
    else
      memcpy(r->y_host, b->y, (size_t)n * sizeof(int32_t));
    /* Kept until the next batch: the caller reads its groups and bias flags. */
    pb_loader_release(r->loader, r->held);
    r->held = b;
    *x = r->x_host;
    *y = r->y_host;
    *y_host = r->y_host;
    return PB_OK;
  }
  pb_cuda_env *g = r->ctx.cuda;
  int s = r->slot;
  r->slot ^= 1;
  /* The previous batch's pinned memory goes back to the loader once its copy is done. */
  pb_cuda_copy_wait(g);
  pb_loader_release(r->loader, r->held);
  r->held = b;
  /* The device slot may still be read by batch i-2's step: the copy waits for its end. */
  pb_cuda_stage_begin(g, s);
  size_t bytes = (size_t)rows * d->c * hw * (f32 ? sizeof(float) : 1);
  pb_cuda_h2d_overlap(r->u8_dev[s], b->u8, bytes, g);
  if (r->nheads) {
    for (int h = 0; h < r->nheads; h++) {
      const int32_t *src = b->heads + (size_t)h * r->max_batch;
      pb_cuda_h2d_overlap(r->y_dev[s] + (size_t)h * n, src, (size_t)n * sizeof(int32_t), g);
      memcpy(r->yh_heads + (size_t)h * n, src, (size_t)n * sizeof(int32_t));
    }
  } else {
    pb_cuda_h2d_overlap(r->y_dev[s], b->y, (size_t)n * sizeof(int32_t), g);
  }
  if (f32)
    *x = (float *)r->u8_dev[s];
  else {
    pb_u8_to_f32_norm_cuda(r->x_dev, r->u8_dev[s], rows, d->c, hw, r->norm.mean, r->norm.std, g);
    *x = r->x_dev;
  }
  *y = r->y_dev[s];
  *y_host = r->nheads ? r->yh_heads : b->y;
  return PB_OK;
}

/* The end of an evaluation pass: an abandoned pass leaves the loader idle; a pass that read no
 * image at all has no accuracy to report (it would print nan and carry on). */
static int pass_end(pb_run *r, const pb_dataset *d, long seen, int rc, pb_err *err) {
  if (rc) {
    if (r->ctx.cuda) pb_cuda_copy_wait(r->ctx.cuda);
    r->held = NULL;
    pb_loader_stop(r->loader);
    return rc;
  }
  if (seen == 0 && d->n > 0)
    return pb_err_set(err, "no %s image could be read (%ld skipped; the first: %s)", d->name, r->pass_bad,
                      r->nfirst_bad ? r->first_bad[0] : "?");
  return PB_OK;
}

int pb_run_evaluate(pb_run *r, const pb_dataset *d, pb_cls_counts *out, pb_err *err) {
  memset(out, 0, sizeof *out);
  int eb = r->eval_batch;
  int32_t *pred = pb_xmalloc((size_t)eb * sizeof(int32_t)), *idx = pb_xmalloc((size_t)PB_MAX(d->n, 1) * sizeof(int32_t));
  for (int i = 0; i < d->n; i++) idx[i] = i;
  pb_run_pass(r, d, 0, idx, d->n, eb, 0, 0);
  int rc = PB_OK;
  for (pb_batch *b; (b = pb_loader_next(r->loader));) {
    float *x;
    int32_t *y;
    const int32_t *yh;
    if (r->stop && *r->stop) {
      pb_loader_release(r->loader, b);
      rc = PB_STOPPED;
      break;
    }
    if ((rc = pb_run_batch(r, d, b, &x, &y, &yh, err))) break;
    if (!b->n) continue;
    if (b->views > 1)
      out->loss_sum += pb_trainer_eval_views(&r->tr, x, yh, b->n, b->views, pred);
    else
      out->loss_sum += pb_trainer_eval(&r->tr, x, y, b->n, pred);
    pb_cls_counts_add(out, pred, yh, d->aligned ? b->aligned : NULL, b->n);
  }
  free(pred);
  free(idx);
  return pass_end(r, d, out->n, rc, err);
}

int pb_run_evaluate_heads(pb_run *r, const pb_dataset *d, pb_heads_eval *out, pb_err *err) {
  const pb_model *m = r->model;
  out->nheads = m->nheads;
  for (int h = 0; h < m->nheads; h++) pb_class_counts_init(&out->h[h], m->heads[h].classes);
  int eb = r->eval_batch;
  int32_t *pred = pb_xmalloc((size_t)eb * m->nheads * sizeof(int32_t)),
          *idx = pb_xmalloc((size_t)PB_MAX(d->n, 1) * sizeof(int32_t));
  for (int i = 0; i < d->n; i++) idx[i] = i;
  pb_run_pass(r, d, 0, idx, d->n, eb, 0, 0);
  int rc = PB_OK;
  long seen = 0;
  for (pb_batch *b; (b = pb_loader_next(r->loader));) {
    float *x;
    int32_t *y;
    const int32_t *yh;
    if (r->stop && *r->stop) {
      pb_loader_release(r->loader, b);
      rc = PB_STOPPED;
      break;
    }
    if ((rc = pb_run_batch(r, d, b, &x, &y, &yh, err))) break;
    if (!b->n) continue;
    seen += b->n;
    double loss[PB_MAX_HEADS];
    pb_trainer_eval_heads(&r->tr, x, y, b->n, pred, loss);
    for (int h = 0; h < m->nheads; h++) {
      out->h[h].loss_sum += loss[h];
      pb_class_counts_add(&out->h[h], pred + (size_t)h * b->n, yh + (size_t)h * b->n, b->n);
    }
  }
  free(pred);
  free(idx);
  return pass_end(r, d, seen, rc, err);
}

void pb_heads_eval_free(pb_heads_eval *e) {
  for (int h = 0; h < e->nheads; h++) pb_class_counts_free(&e->h[h]);
  e->nheads = 0;
}

void pb_heads_eval_str(const pb_run *r, const pb_heads_eval *e, const char *prefix, char *buf, size_t len) {
  buf[0] = 0;
  for (int h = 0; h < e->nheads; h++) {
    const pb_class_counts *c = &e->h[h];
    size_t L = strlen(buf);
    snprintf(buf + L, len - L, " %s%s_loss=%.4f %s%s_acc=%.4f %s%s_disparity=%.4f", prefix, r->model->heads[h].name,
             c->n ? c->loss_sum / (double)c->n : NAN, prefix, r->model->heads[h].name, pb_ratio(c->correct, c->n),
             prefix, r->model->heads[h].name, pb_class_counts_disparity(c));
  }
}

size_t pb_run_count_params(const pb_run *r) {
  size_t n = 0; /* composite layers (residual blocks, heads) count their children's too */
  for (int i = 0; i < r->model->nlayers; i++) n += pb_layer_count_params(r->model->layers[i]);
  return n;
}

/* Steps of the complete checkpoints (model + state file) in the folder, ascending. */
static int list_steps(const char *dir, int64_t *steps, int cap) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    long long s;
    char tail[64];
    if (sscanf(e->d_name, "step-%lld%63s", &s, tail) != 2 || strcmp(tail, ".safetensors")) continue;
    char st[4400];
    snprintf(st, sizeof st, "%s/step-%010lld.state.safetensors", dir, s);
    if (access(st, R_OK) || n == cap) continue;
    steps[n++] = s;
  }
  closedir(d);
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && steps[j] < steps[j - 1]; j--) {
      int64_t t = steps[j];
      steps[j] = steps[j - 1];
      steps[j - 1] = t;
    }
  return n;
}

int pb_run_latest_checkpoint(const pb_run *r, char *path, size_t len) {
  int64_t steps[4096];
  int n = list_steps(r->ckdir, steps, 4096);
  if (!n) return 0;
  snprintf(path, len, "%s/step-%010" PRId64 ".safetensors", r->ckdir, steps[n - 1]);
  return 1;
}

void pb_run_prune_checkpoints(const pb_run *r) {
  int64_t steps[4096];
  int n = list_steps(r->ckdir, steps, 4096);
  int keep = (int)pb_config_int(r->cfg, "run", "keep_checkpoints");
  for (int i = 0; i < n - keep; i++) {
    char p[4400];
    /* The model file goes first: without it the pair no longer counts as complete. */
    snprintf(p, sizeof p, "%s/step-%010" PRId64 ".safetensors", r->ckdir, steps[i]);
    unlink(p);
    snprintf(p, sizeof p, "%s/step-%010" PRId64 ".state.safetensors", r->ckdir, steps[i]);
    unlink(p);
  }
}
