/* fuzz_safetensors.c: libFuzzer harness of the safetensors reader and the checkpoint loaders
 * (engine/models/safetensors.c, engine/trainers/checkpoint.c): pb_st_read with pb_st_find / pb_st_meta over
 * every tensor and metadata key, then pb_ckpt_load_model, pb_ckpt_init_from and
 * pb_ckpt_load_state of the input into a tiny model built once: simplecnn, channels = 2,
 * 1x4x4 inputs, 3 classes, with an Adam optimizer (the model checkpoint's tensors are
 * features.0.weight, features.1.{weight,bias,running_mean,running_var,num_batches_tracked},
 * fc.weight, fc.bias; the state file's optimizer.<name>.exp_avg / exp_avg_sq).
 * Oracles besides the sanitizers: a file that reads has unique, findable names, every byte of
 * every tensor is touched, and each tensor's byte size is its element count times its dtype
 * size. PB_FUZZ_VERBOSE=1 prints each loader's verdict (to check the seeds). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/trainers/checkpoint.h"
#include "engine/device/ctx.h"
#include "test/fuzz/fuzz_util.h"

static pb_ctx g_ctx;
static pb_model *g_model;
static pb_optim g_opt;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  pb_err err = {{0}};
  if (pb_ctx_init(&g_ctx, "cpu", 1, 0, 0, &err)) fprintf(stderr, "%s\n", err.msg), abort();
  pb_config *cfg = pb_config_new();
  const char *sets[] = {"model.arch=simplecnn", "model.channels=2", "model.num_classes=3"};
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
    if (pb_config_set(cfg, sets[i], &err)) fprintf(stderr, "%s\n", err.msg), abort();
  int in[3] = {1, 4, 4};
  g_model = pb_model_build(cfg, &g_ctx, in, 2, 1, 0, &err);
  if (!g_model) fprintf(stderr, "%s\n", err.msg), abort();
  pb_config_free(cfg);
  pb_optim_cfg oc = {.kind = PB_OPT_ADAM, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
  if (pb_optim_init(&g_opt, &oc, g_model->nparams, &g_ctx, &err)) fprintf(stderr, "%s\n", err.msg), abort();
  return 0;
}

static void check_file(const pb_st_file *f) {
  volatile unsigned acc = 0;
  for (int i = 0; i < f->n; i++) {
    const pb_st_tensor *t = &f->tensors[i];
    if (pb_st_find(f, t->name) != t) fprintf(stderr, "fuzz_safetensors: '%s' not found as itself\n", t->name), abort();
    if (t->ndim < 0 || t->ndim > PB_ST_MAX_DIMS) fprintf(stderr, "fuzz_safetensors: ndim %d\n", t->ndim), abort();
    size_t numel = 1;
    for (int d = 0; d < t->ndim; d++)
      if (t->shape[d] < 0 || __builtin_mul_overflow(numel, (size_t)t->shape[d], &numel))
        fprintf(stderr, "fuzz_safetensors: '%s' has a shape that overflows\n", t->name), abort();
    size_t bytes;
    if (__builtin_mul_overflow(numel, pb_st_dtype_size(t->dtype), &bytes) || bytes != t->nbytes)
      fprintf(stderr, "fuzz_safetensors: '%s' holds %zu bytes for %zu elements\n", t->name, t->nbytes, numel), abort();
    for (size_t b = 0; b < t->nbytes; b++) acc += ((const uint8_t *)t->data)[b];
  }
  for (int i = 0; i < f->nmeta; i++) {
    const char *v = pb_st_meta(f, f->meta[2 * i]);
    if (!v) fprintf(stderr, "fuzz_safetensors: metadata key '%s' not found\n", f->meta[2 * i]), abort();
    acc += (unsigned)strlen(v) + (unsigned)strlen(f->meta[2 * i + 1]);
  }
  (void)acc;
}

static void say(const char *what, int rc, const pb_err *err) { pb_fuzz_say("fuzz_safetensors", what, rc, err); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = pb_fuzz_memfd(0, data, size);
  pb_err err = {{0}};
  pb_st_file f;
  int rc = pb_st_read(&f, path, &err);
  say("pb_st_read", rc, &err);
  if (rc == PB_OK) {
    check_file(&f);
    pb_st_free(&f);
  }
  say("pb_ckpt_load_model", pb_ckpt_load_model(path, g_model, &err), &err);
  char summary[1024];
  const char *exclude = size & 1 ? "fc.*" : "";
  say("pb_ckpt_init_from", pb_ckpt_init_from(path, exclude, g_model, summary, sizeof summary, &err), &err);
  pb_st_file state;
  rc = pb_ckpt_load_state(path, &g_opt, g_model, &state, &err);
  say("pb_ckpt_load_state", rc, &err);
  if (rc == PB_OK) {
    volatile const char *step = pb_st_meta(&state, "step");
    (void)step;
    pb_st_free(&state);
  }
  return 0;
}
