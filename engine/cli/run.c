/* run.c: building a run from a config, evaluation, and checkpoint bookkeeping (run.h). */
#include "engine/cli/run.h"

#include "engine/checkpoint.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int pb_run_init(pb_run *r, pb_config *cfg, pb_err *err) {
  memset(r, 0, sizeof *r);
  r->cfg = cfg;
  r->seed = (uint64_t)pb_config_int(cfg, "run", "seed");
  if (pb_ctx_init(&r->ctx, pb_config_str(cfg, "run", "device"), (int)pb_config_int(cfg, "run", "threads"),
                  pb_config_bool(cfg, "run", "deterministic"), pb_config_bool(cfg, "run", "tf32"), err))
    return PB_ERR;
  if (pb_data_load(cfg, r->seed, &r->train, &r->val, &r->test, err)) goto fail;
  int want_c = (int)pb_config_int(cfg, "model", "in_channels");
  if (want_c && want_c != r->train.c) {
    pb_err_set(err, "[model] in_channels = %d but the data has %d channel(s) (set 0 to take it from the data)", want_c,
               r->train.c);
    goto fail;
  }
  if (pb_data_norm(cfg, r->train.c, &r->norm, err)) goto fail;
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
  r->model = pb_model_from_config(cfg, &r->ctx, in, PB_MAX(r->batch, r->eval_batch), r->seed, err);
  if (!r->model) goto fail;
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
  r->max_batch = PB_MAX(r->batch, r->eval_batch);
  size_t per = (size_t)r->train.c * r->train.h * r->train.w, mb = (size_t)r->max_batch;
  if (r->ctx.cuda) {
    for (int s = 0; s < 2; s++)
      if (!(r->pin_u8[s] = pb_cuda_host_alloc(mb * per, "the pinned image staging", err)) ||
          !(r->pin_y[s] = pb_cuda_host_alloc(mb * sizeof(int32_t), "the pinned label staging", err)) ||
          !(r->u8_dev[s] = pb_ctx_alloc(&r->ctx, mb * per, "the input bytes", err)) ||
          !(r->y_dev[s] = pb_ctx_alloc(&r->ctx, mb * sizeof(int32_t), "the labels", err)))
        goto fail;
    if (!(r->x_dev = pb_ctx_alloc(&r->ctx, mb * per * sizeof(float), "the input batch", err))) goto fail;
  } else {
    r->x_host = pb_amalloc(mb * per * sizeof(float));
    r->y_host = pb_amalloc(mb * sizeof(int32_t));
  }
  return PB_OK;
fail:
  pb_run_free(r);
  return PB_ERR;
}

void pb_run_free(pb_run *r) {
  pb_trainer_free(&r->tr);
  if (r->ctx.cuda) {
    for (int s = 0; s < 2; s++) {
      pb_cuda_host_free(r->pin_u8[s]);
      pb_cuda_host_free(r->pin_y[s]);
      pb_ctx_free_mem(&r->ctx, r->u8_dev[s]);
      pb_ctx_free_mem(&r->ctx, r->y_dev[s]);
    }
    pb_ctx_free_mem(&r->ctx, r->x_dev);
  }
  pb_afree(r->x_host);
  pb_afree(r->y_host);
  r->x_host = NULL;
  r->y_host = NULL;
  pb_model_free(r->model);
  r->model = NULL;
  pb_dataset_free(&r->train);
  pb_dataset_free(&r->val);
  pb_dataset_free(&r->test);
  pb_ctx_free(&r->ctx);
}

void pb_run_batch(pb_run *r, const pb_dataset *d, const int32_t *idx, int n, float **x, int32_t **y,
                  const int32_t **y_host) {
  PB_ASSERT(n <= r->max_batch);
  if (!r->ctx.cuda) {
    pb_data_batch(d, idx, n, &r->norm, r->x_host, r->y_host);
    *x = r->x_host;
    *y = r->y_host;
    *y_host = r->y_host;
    return;
  }
  pb_cuda_env *g = r->ctx.cuda;
  int s = r->slot;
  r->slot ^= 1;
  /* The pinned slot was last read by the copy of two batches ago: wait for the copies before
   * refilling it (they are short: this rarely waits long). */
  pb_cuda_copy_wait(g);
  pb_data_gather_u8(d, idx, n, r->pin_u8[s], r->pin_y[s]);
  /* The device slot may still be read by batch i-2's step: the copy waits for its end. */
  pb_cuda_stage_begin(g, s);
  int hw = d->h * d->w;
  pb_cuda_h2d_overlap(r->u8_dev[s], r->pin_u8[s], (size_t)n * d->c * hw, g);
  pb_cuda_h2d_overlap(r->y_dev[s], r->pin_y[s], (size_t)n * sizeof(int32_t), g);
  pb_u8_to_f32_norm_cuda(r->x_dev, r->u8_dev[s], n, d->c, hw, r->norm.mean, r->norm.std, g);
  *x = r->x_dev;
  *y = r->y_dev[s];
  *y_host = r->pin_y[s];
}

void pb_run_evaluate(pb_run *r, const pb_dataset *d, pb_cls_counts *out) {
  memset(out, 0, sizeof *out);
  int eb = r->eval_batch;
  int32_t *pred = pb_xmalloc((size_t)eb * sizeof(int32_t)), *idx = pb_xmalloc((size_t)eb * sizeof(int32_t));
  for (int off = 0; off < d->n; off += eb) {
    int n = PB_MIN(eb, d->n - off);
    for (int i = 0; i < n; i++) idx[i] = off + i;
    float *x;
    int32_t *y;
    const int32_t *yh;
    pb_run_batch(r, d, idx, n, &x, &y, &yh);
    out->loss_sum += pb_trainer_eval(&r->tr, x, y, n, pred);
    pb_cls_counts_add(out, pred, yh, d->aligned ? d->aligned + off : NULL, n);
  }
  free(pred);
  free(idx);
}

size_t pb_run_count_params(const pb_run *r) {
  size_t n = 0;
  for (int i = 0; i < r->model->nlayers; i++)
    for (int j = 0; j < r->model->layers[i]->nparams; j++)
      if (r->model->layers[i]->params[j].kind == PB_PARAM_TRAINABLE) n += r->model->layers[i]->params[j].numel;
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
