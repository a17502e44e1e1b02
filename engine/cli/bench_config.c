/* bench_config.c: `plumb bench --config CONFIG [--batch N] [--steps S] [--warmup W]
 * [--set section.key=value]...`: the training step of any config, timed: one model with its
 * plain trainer, or the named models ([model.NAME]) with the trainer of [method] (rebias: the
 * n_g_update steps of each g, then f's step). The models and their trainer are built by
 * pb_run_init_models exactly as `plumb train` builds them (same seeds, views, init_from,
 * method), but no data is read: the batch is synthetic and already on the device (inputs
 * uniform in [-1, 1) of [model] in_channels (0: 3) x input_size x input_size, labels uniform
 * over the classes), so the loader is not measured (plumb bench --loader does that) and no
 * dataset is needed. --batch N is --set train.batch_size=N. A step is one pb_trainer_micro
 * with step_now set: one optimizer step of every trained model per batch. The device is
 * synchronised before and after the S timed steps, which follow W warm-up steps (cuDNN's
 * algorithm search happens there). Prints images/s, steps/s, the mean loss of each trainer
 * term over all the steps (a check that the step computed something finite), each model's
 * planned memory and the device memory (pb_cli_bench_memory, as plumb bench --model).
 * scripts/bench/bench_rebias.sh runs the PyTorch equivalent of the ReBias step beside it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/cli/cli.h"
#include "engine/device/backend.h"
#include "engine/run/run.h"
#include "kernels/pb_rng.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Host copies of the synthetic batch: x [n, in] uniform in [-1, 1), y [nlabels, n] with row h
 * uniform over classes[h]. */
static void synth_host(const int in[3], int n, int nlabels, const int *classes, float *x, int32_t *y) {
  size_t cnt = (size_t)n * in[0] * in[1] * in[2];
  for (size_t i = 0; i < cnt; i++) x[i] = 2.0f * pb_rng_uniform(7, PB_RNG_STREAM(PB_RNG_DATA, 99), i) - 1.0f;
  for (int h = 0; h < nlabels; h++)
    for (int i = 0; i < n; i++) {
      uint64_t k = (uint64_t)h * (uint64_t)n + (uint64_t)i;
      y[k] = (int32_t)(pb_rng_uniform(7, PB_RNG_STREAM(PB_RNG_DATA, 98), k) * classes[h]) % classes[h];
    }
}

int pb_cmd_bench_config(const pb_cli_opts *o) {
  const char *v;
  int steps = (v = pb_cli_opt(o, "steps")) ? atoi(v) : 20;
  int warmup = (v = pb_cli_opt(o, "warmup")) ? atoi(v) : 5;
  if (steps < 1 || warmup < 0) {
    fprintf(stderr, "plumb bench: --steps must be >= 1 and --warmup >= 0\n");
    return 2;
  }
  pb_cli_opts co = *o;
  co.config = pb_cli_opt(o, "config");
  pb_config *cfg = pb_cli_config(&co);
  if (!cfg) return 2;
  pb_err err = {{0}};
  if ((v = pb_cli_opt(o, "batch"))) {
    char set[64];
    snprintf(set, sizeof set, "train.batch_size=%s", v);
    if (pb_config_set(cfg, set, &err)) {
      fprintf(stderr, "plumb bench: --batch %s: %s\n", v, err.msg);
      pb_config_free(cfg);
      return 2;
    }
  }
  int batch = (int)pb_config_int(cfg, "train", "batch_size");
  int in[3];
  pb_model_config_input(cfg, in);
  pb_run r;
  if (pb_run_init_models(&r, cfg, in, batch, 1000000, &err)) {
    fprintf(stderr, "plumb bench: error: %s\n", err.msg);
    pb_config_free(cfg);
    return 1;
  }
  pb_ctx *c = &r.ctx;
  printf("%s\n", c->why);
  const char *names[PB_MAX_LEARNERS];
  int nnamed = pb_config_names(cfg, "model", names, PB_MAX_LEARNERS);
  printf("config %s: method %s, model%s", co.config, pb_config_str(cfg, "method", "name"), r.nmodels > 1 ? "s" : "");
  for (int i = 0; i < r.nmodels; i++)
    printf("%s %s%s%s", i ? "," : "", nnamed ? names[i] : "", nnamed ? " " : "", r.models[i]->arch);
  printf(" (trainer %s)\n", r.tr->vt->kind);
  if (!pb_config_is_set(cfg, "model", "input_size"))
    printf("note: [model] input_size is not set: the default %d is used (training takes the data's size)\n", in[1]);
  printf("batch %d, input %dx%dx%d (synthetic, on the device), float32 NCHW, tf32 %s, %d timed steps after %d "
         "warm-up\n",
         batch, in[0], in[1], in[2], c->cuda ? (pb_config_bool(cfg, "run", "tf32") ? "on" : "off") : "n/a", steps,
         warmup);

  int rc = 1, nl = r.nlabels;
  int classes[PB_LOSS_MAX_TERMS];
  PB_ASSERT(nl >= 1 && nl <= PB_LOSS_MAX_TERMS);
  for (int h = 0; h < nl; h++)
    classes[h] = r.model->nheads ? r.model->heads[h].classes : (int)pb_config_int(cfg, "model", "num_classes");
  size_t xcount = (size_t)batch * in[0] * in[1] * in[2], ycount = (size_t)batch * nl;
  float *hx = pb_xmalloc(xcount * sizeof(float)), *x = NULL;
  int32_t *hy = pb_xmalloc(ycount * sizeof(int32_t)), *y = NULL;
  synth_host(in, batch, nl, classes, hx, hy);
  if (!(x = pb_ctx_alloc(c, xcount * sizeof(float), "the synthetic batch", &err)) ||
      !(y = pb_ctx_alloc(c, ycount * sizeof(int32_t), "the synthetic labels", &err))) {
    fprintf(stderr, "plumb bench: error: %s\n", err.msg);
    goto out;
  }
  pb_ctx_upload(c, x, hx, xcount * sizeof(float));
  pb_ctx_upload(c, y, hy, ycount * sizeof(int32_t));

  for (int s = 0; s < warmup; s++) pb_trainer_micro(r.tr, x, y, hy, batch, 1);
  c->ops->sync(c);
  double t0 = now_s();
  for (int s = 0; s < steps; s++) pb_trainer_micro(r.tr, x, y, hy, batch, 1);
  c->ops->sync(c);
  double dt = now_s() - t0;
  printf("train: %.1f images/s, %.3f steps/s (%.2f ms per step)\n", (double)batch * steps / dt, steps / dt,
         1e3 * dt / steps);

  pb_train_stats st;
  pb_trainer_stats(r.tr, &st);
  int finite = 1;
  printf("mean loss over the %d steps:", warmup + steps);
  for (int k = 0; k < st.nterms; k++) {
    double mean = st.seen[k] ? st.loss[k] / (double)st.seen[k] : 0.0;
    finite &= isfinite(mean);
    printf("%s %s %.4g", k ? "," : "", r.tr->terms.term[k].name[0] ? r.tr->terms.term[k].name : "loss", mean);
  }
  printf("\n");
  printf("memory:\n");
  for (int i = 0; i < r.nmodels; i++) {
    printf("  %s%s", nnamed ? names[i] : "", nnamed ? ": " : "");
    pb_model_print_memory(r.models[i], stdout);
  }
  pb_cli_bench_memory(c);
  if (!finite) {
    fprintf(stderr, "plumb bench: error: a loss is not finite\n");
    goto out;
  }
  rc = 0;
out:
  free(hx);
  free(hy);
  pb_ctx_free_mem(c, x);
  pb_ctx_free_mem(c, y);
  pb_run_free(&r);
  pb_config_free(cfg);
  return rc;
}
