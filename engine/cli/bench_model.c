/* bench_model.c: `plumb bench --model NAME [--batch N] [--steps S] [--mode train|infer|both]
 * [--set section.key=value]...`: training and inference throughput of [model] arch = NAME on
 * synthetic data already on the device (no loader), and the device memory it takes.
 * Training = forward + softmax cross-entropy + backward + optimizer step ([optim], default SGD
 * with momentum), in a model planned for training; inference = evaluation forwards in a model
 * planned for inference only (no gradients, nothing saved for backward). Input 3 x input_size^2
 * ([model] input_size, 224). On a GPU the memory is the peak of plumb's own allocations (for
 * inference: over the timed forwards, after the warm-up's algorithm search with the whole cuDNN
 * workspace and the workspace's fit to the chosen algorithms; the warm-up's peak is printed too)
 * and cudaMemGetInfo's use of the whole device; on the CPU, the planned bytes and the process's
 * peak RSS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "engine/cli/cli.h"
#include "engine/models/model.h"
#include "engine/device/backend.h"
#include "engine/trainers/step_graph.h"
#include "engine/trainers/trainer.h"
#include "kernels/cuda_device.h"
#include "kernels/pb_rng.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void pb_cli_bench_memory(const pb_ctx *c) {
  if (c->cuda) {
    size_t cur = 0, peak = 0;
    pb_cuda_alloc_stats(&cur, &peak);
    printf("  plumb's device allocations: peak %.1f MiB during this mode (now %.1f MiB; as PyTorch's "
           "max_memory_allocated: no CUDA context or library memory)\n",
           (double)peak / 1048576.0, (double)cur / 1048576.0);
    printf("  device memory in use after the run: %.1f MiB (cudaMemGetInfo, whole GPU)\n",
           (double)pb_cuda_mem_used() / 1048576.0);
  } else {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("  peak RSS so far: %.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
  }
}

static void report_mem(pb_ctx *c, const pb_model *m) {
  pb_model_print_memory(m, stdout);
  pb_cli_bench_memory(c);
}

/* Synthetic batch on the device: x uniform in [-1, 1), labels uniform. */
static int synth(pb_ctx *c, const int in[3], int n, int k, float **x, int32_t **y, pb_err *err) {
  size_t cnt = (size_t)n * in[0] * in[1] * in[2];
  float *hx = pb_xmalloc(cnt * sizeof(float));
  int32_t *hy = pb_xmalloc((size_t)n * sizeof(int32_t));
  for (size_t i = 0; i < cnt; i++) hx[i] = 2.0f * pb_rng_uniform(7, PB_RNG_STREAM(PB_RNG_DATA, 99), i) - 1.0f;
  for (int i = 0; i < n; i++) hy[i] = (int32_t)(pb_rng_uniform(7, PB_RNG_STREAM(PB_RNG_DATA, 98), (uint64_t)i) * k) % k;
  int rc = PB_ERR;
  if ((*x = pb_ctx_alloc(c, cnt * sizeof(float), "the synthetic batch", err)) &&
      (*y = pb_ctx_alloc(c, (size_t)n * sizeof(int32_t), "the synthetic labels", err))) {
    pb_ctx_upload(c, *x, hx, cnt * sizeof(float));
    pb_ctx_upload(c, *y, hy, (size_t)n * sizeof(int32_t));
    rc = PB_OK;
  }
  free(hx);
  free(hy);
  return rc;
}

int pb_cmd_bench_model(const pb_cli_opts *o) {
  const char *v, *mode = "both", *model = pb_cli_opt(o, "model");
  int batch = (v = pb_cli_opt(o, "batch")) ? atoi(v) : 64;
  int steps = (v = pb_cli_opt(o, "steps")) ? atoi(v) : 20;
  int warmup = (v = pb_cli_opt(o, "warmup")) ? atoi(v) : 5;
  if ((v = pb_cli_opt(o, "mode"))) mode = v;
  if (batch < 1 || steps < 1 || warmup < 0 ||
      (strcmp(mode, "train") && strcmp(mode, "infer") && strcmp(mode, "both"))) {
    fprintf(stderr, "plumb bench: --batch and --steps must be >= 1, --mode train|infer|both\n");
    return 2;
  }
  pb_config *cfg = pb_cli_model_config(o);
  if (!cfg) return 2;
  pb_err err = {{0}};
  pb_ctx ctx;
  if (pb_ctx_init_cfg(&ctx, cfg, &err)) {
    fprintf(stderr, "plumb bench: error: %s\n", err.msg);
    pb_config_free(cfg);
    return 1;
  }
  printf("%s\n", ctx.why);
  int in[3], rc = 1;
  pb_model_config_input(cfg, in);
  int k = (int)pb_config_int(cfg, "model", "num_classes");
  float *x = NULL;
  int32_t *y = NULL;
  if (synth(&ctx, in, batch, k, &x, &y, &err)) goto fail;
  printf("model %s, batch %d, input %dx%dx%d, float32 NCHW, tf32 %s, %d timed steps after %d warm-up\n", model,
         batch, in[0], in[1], in[2], ctx.cuda ? (pb_config_bool(cfg, "run", "tf32") ? "on" : "off") : "n/a", steps,
         warmup);
  if (strcmp(mode, "infer") && pb_config_int(cfg, "model", "embedding_dim") && !strcmp(mode, "both")) {
    printf("train: skipped ([model] embedding_dim: no loss for embeddings exists yet)\n");
  } else if (strcmp(mode, "infer")) {
    pb_cuda_alloc_reset_peak();
    pb_model *m = pb_model_build(cfg, &ctx, in, batch, 1, 0, &err);
    if (!m) goto fail;
    pb_trainer *t = pb_trainer_from_config(cfg, m, 1000000, 1, &err);
    if (!t) {
      pb_model_free(m);
      goto fail;
    }
    /* labels [nlabels, batch]: the synthetic ones, or label 0 for every head of a multi-head model */
    int nt = t->nlabels;
    int32_t *yh = pb_xcalloc((size_t)batch * nt, sizeof(int32_t)), *yd = y;
    if (nt > 1 || m->nheads) {
      if (!(yd = pb_ctx_alloc(&ctx, (size_t)batch * nt * sizeof(int32_t), "the labels", &err))) {
        free(yh);
        pb_trainer_free(t);
        pb_model_free(m);
        goto fail;
      }
      pb_ctx_upload(&ctx, yd, yh, (size_t)batch * nt * sizeof(int32_t));
    } else {
      pb_ctx_download(&ctx, yh, y, (size_t)batch * sizeof(int32_t));
    }
    for (int s = 0; s < warmup; s++) pb_trainer_micro(t, x, yd, yh, batch, 1);
    ctx.ops->sync(&ctx);
    double t0 = now_s();
    for (int s = 0; s < steps; s++) pb_trainer_micro(t, x, yd, yh, batch, 1);
    free(yh);
    if (yd != y) pb_ctx_free_mem(&ctx, yd);
    ctx.ops->sync(&ctx);
    double dt = now_s() - t0;
    printf("train: %.1f images/s (%.2f ms per step)\n", (double)batch * steps / dt, 1e3 * dt / steps);
    report_mem(&ctx, m);
    if (!strcmp(t->vt->kind, "plain") && t->priv) {
      const pb_step_graphs *sg = t->priv;
      printf("  CUDA graphs (training, [run] cuda_graphs_train): %s; %ld micro-steps replayed a graph\n", sg->why,
             sg->launches);
    }
    pb_trainer_free(t);
    pb_model_free(m);
  }
  if (strcmp(mode, "train")) {
    pb_cuda_alloc_reset_peak();
    pb_model *m = pb_model_build(cfg, &ctx, in, batch, 1, 1, &err);
    if (!m) goto fail;
    for (int s = 0; s < warmup; s++) pb_model_forward(m, x, batch, 0);
    ctx.ops->sync(&ctx);
    /* the first forward searched the convolution algorithms with the whole workspace, then the
     * model fitted it (model.h): the timed steps' peak is the steady state */
    size_t ws = 0, cur = 0, warm_peak = 0;
    if (ctx.ops->workspace_fit(&ctx, &ws, &err)) {
      pb_model_free(m);
      goto fail;
    }
    pb_cuda_alloc_stats(&cur, &warm_peak);
    if (warmup) pb_cuda_alloc_reset_peak();
    m->graph_launches = 0;
    double t0 = now_s();
    for (int s = 0; s < steps; s++) pb_model_forward(m, x, batch, 0);
    ctx.ops->sync(&ctx);
    double dt = now_s() - t0;
    printf("infer: %.1f images/s (%.2f ms per batch)\n", (double)batch * steps / dt, 1e3 * dt / steps);
    report_mem(&ctx, m);
    printf("  CUDA graphs: %s; %ld of the %d timed forwards replayed a graph\n", m->graphs_why, m->graph_launches,
           steps);
    if (ctx.cuda)
      printf("  warm-up (%d forwards, the algorithm search with the whole workspace): plumb's allocations peaked at "
             "%.1f MiB; the cuDNN workspace is now %.1f MiB (the chosen algorithms' largest need)%s\n",
             warmup, (double)warm_peak / 1048576.0, (double)ws / 1048576.0,
             warmup ? "; the peak above is of the timed forwards" : "");
    pb_model_free(m);
  }
  rc = 0;
fail:
  if (rc) fprintf(stderr, "plumb bench: error: %s\n", err.msg);
  pb_ctx_free_mem(&ctx, x);
  pb_ctx_free_mem(&ctx, y);
  pb_ctx_free(&ctx);
  pb_config_free(cfg);
  return rc;
}
