/* bench_op.c: `plumb bench --op lstm [--seq T] [--batch N] [--input D] [--hidden H] [--layers L]
 * [--bidirectional 0|1] [--dropout P] [--steps S] [--warmup W] [--set run.KEY=VALUE]...`: one op
 * alone on synthetic data already on the device, timed between two synchronisations after W
 * warm-up steps (S per figure). The LSTM op (kernels/cpu/lstm.c, kernels/cuda/lstm.cu):
 * evaluation forward, training forward, training forward + backward (dx and dw from dy; no
 * initial state, no state gradients), all sequences of length T; defaults are DeepBench's
 * shape (T 25, N 64, D 512, H 512, L 1). [run] device, threads, tf32 and cudnn_workspace_mb
 * come from --set. scripts/bench/lstm_torch.py times nn.LSTM the same way, and
 * scripts/bench/bench_lstm.sh prints both with their ratio. `--op triplet`: bench_triplet.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/cli/cli.h"
#include "engine/device/backend.h"
#include "engine/device/ctx.h"
#include "kernels/ops.h"
#include "kernels/ops_cuda.h"
#include "kernels/pb_rng.h"

static double bench_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

long pb_cli_opt_long(const pb_cli_opts *o, const char *name, long def, long lo) {
  const char *v = pb_cli_opt(o, name);
  if (!v) return def;
  char *end = NULL;
  long x = strtol(v, &end, 10);
  if (!*v || *end || x < lo || x > 1000000) {
    fprintf(stderr, "plumb bench: --%s must be an integer >= %ld, got '%s'\n", name, lo, v);
    return -1;
  }
  return x;
}

/* The buffers of one LSTM step on the context's device. */
typedef struct lstm_bufs {
  float *x, *w, *y, *dy, *dx, *dw, *reserve;
  int32_t *len; /* host */
  pb_scratch s; /* CPU only */
} lstm_bufs;

static void lstm_fwd_train(pb_ctx *c, lstm_bufs *b, const pb_lstm_params *p) {
  if (c->cuda) pb_lstm_fwd_train_cuda(b->y, NULL, NULL, b->reserve, b->x, NULL, NULL, b->w, b->len, 1, 2, p, c->cuda);
  else pb_lstm_fwd_train_cpu(b->y, NULL, NULL, b->reserve, b->x, NULL, NULL, b->w, b->len, 1, 2, p, &b->s);
}

static void lstm_fwd_eval(pb_ctx *c, lstm_bufs *b, const pb_lstm_params *p) {
  if (c->cuda) pb_lstm_fwd_eval_cuda(b->y, NULL, NULL, b->x, NULL, NULL, b->w, b->len, p, c->cuda);
  else pb_lstm_fwd_eval_cpu(b->y, NULL, NULL, b->x, NULL, NULL, b->w, b->len, p, &b->s);
}

static void lstm_bwd(pb_ctx *c, lstm_bufs *b, const pb_lstm_params *p) {
  if (c->cuda)
    pb_lstm_bwd_cuda(b->dx, NULL, NULL, b->dw, b->dy, NULL, NULL, b->x, NULL, NULL, b->w, b->y, b->len, b->reserve, p,
                     c->cuda);
  else
    pb_lstm_bwd_cpu(b->dx, NULL, NULL, b->dw, b->dy, NULL, NULL, b->x, NULL, NULL, b->w, b->y, b->len, b->reserve, p,
                    &b->s);
}

/* ms per step of `steps` repetitions of what (0 eval, 1 training forward, 2 forward + backward). */
static double lstm_time(pb_ctx *c, lstm_bufs *b, const pb_lstm_params *p, int what, int steps) {
  c->ops->sync(c);
  const double t0 = bench_now();
  for (int i = 0; i < steps; i++) {
    if (what == 0) lstm_fwd_eval(c, b, p);
    else lstm_fwd_train(c, b, p);
    if (what == 2) lstm_bwd(c, b, p);
  }
  c->ops->sync(c);
  return 1e3 * (bench_now() - t0) / steps;
}

/* A device copy of n uniform floats in [-a, a). */
static float *synth(pb_ctx *c, size_t n, float a, uint64_t stream, const char *what, pb_err *err) {
  float *h = pb_xmalloc((n ? n : 1) * sizeof(float));
  for (size_t i = 0; i < n; i++) h[i] = a * (2.0f * pb_rng_uniform(7, PB_RNG_STREAM(PB_RNG_DATA, stream), i) - 1.0f);
  float *d = pb_ctx_alloc(c, n * sizeof(float), what, err);
  if (d) pb_ctx_upload(c, d, h, n * sizeof(float));
  free(h);
  return d;
}

static int bench_lstm(const pb_cli_opts *o, pb_ctx *c, int steps, int warmup, int tf32) {
  const long T = pb_cli_opt_long(o, "seq", 25, 1), N = pb_cli_opt_long(o, "batch", 64, 1), D = pb_cli_opt_long(o, "input", 512, 1);
  const long H = pb_cli_opt_long(o, "hidden", 512, 1), L = pb_cli_opt_long(o, "layers", 1, 1);
  const long bi = pb_cli_opt_long(o, "bidirectional", 0, 0);
  const char *dv = pb_cli_opt(o, "dropout");
  const double drop = dv ? atof(dv) : 0.0;
  if (T < 0 || N < 0 || D < 0 || H < 0 || L < 0 || bi < 0) return 2; /* opt_long said why */
  if (bi > 1 || !(drop >= 0.0 && drop < 1.0)) {
    fprintf(stderr, "plumb bench: --bidirectional is 0 or 1, --dropout in [0, 1)\n");
    return 2;
  }
  const pb_lstm_params p = {.seq_len = (int)T, .batch = (int)N, .input_size = (int)D, .hidden_size = (int)H,
                            .num_layers = (int)L, .bidirectional = (int)bi, .dropout = (float)drop};
  const size_t dirs = bi ? 2 : 1, ny = (size_t)T * N * dirs * H, nx = (size_t)T * N * D;
  const size_t nw = pb_lstm_weight_floats(&p);
  pb_err err = {{0}};
  lstm_bufs b;
  memset(&b, 0, sizeof b);
  int rc = 1;
  size_t rbytes;
  if (c->cuda) {
    const size_t need = pb_lstm_workspace_cuda(&p, c->cuda);
    if (need > c->cuda->workspace_bytes) {
      fprintf(stderr, "plumb bench: the LSTM needs %.1f MiB of cuDNN workspace, [run] cudnn_workspace_mb gives %.1f\n",
              need / 1048576.0, c->cuda->workspace_bytes / 1048576.0);
      return 1;
    }
    rbytes = pb_lstm_reserve_cuda(&p, c->cuda);
  } else {
    rbytes = pb_lstm_reserve_cpu(&p) * sizeof(float);
    b.s.floats = pb_lstm_scratch_cpu(&p);
    b.s.nthreads = c->nthreads;
    b.s.buf = pb_ctx_reserve_scratch(c, b.s.floats);
  }
  b.len = pb_xmalloc(sizeof(int32_t) * (size_t)N);
  for (long n = 0; n < N; n++) b.len[n] = (int32_t)T;
  if (!(b.x = synth(c, nx, 1.0f, 90, "the LSTM input", &err)) ||
      !(b.w = synth(c, nw, 1.0f / sqrtf((float)H), 91, "the LSTM weights", &err)) ||
      !(b.dy = synth(c, ny, 1.0f, 92, "the LSTM output gradient", &err)) ||
      !(b.y = pb_ctx_alloc(c, ny * sizeof(float), "the LSTM output", &err)) ||
      !(b.dx = pb_ctx_alloc(c, nx * sizeof(float), "the LSTM input gradient", &err)) ||
      !(b.dw = pb_ctx_alloc(c, nw * sizeof(float), "the LSTM weight gradient", &err)) ||
      !(b.reserve = pb_ctx_alloc(c, rbytes, "the LSTM reserve", &err)))
    goto done;
  printf("lstm T %ld N %ld D %ld H %ld L %ld %s dropout %g, float32, tf32 %s, %s, %d timed steps after %d warm-up\n",
         T, N, D, H, L, bi ? "bidirectional" : "unidirectional", drop, c->cuda ? (tf32 ? "on" : "off") : "n/a",
         c->cuda ? "cuDNN" : "CPU reference", steps, warmup);
  lstm_time(c, &b, &p, 2, warmup ? warmup : 1); /* warm-up (and first-use descriptor set-up) */
  const double ms_eval = lstm_time(c, &b, &p, 0, steps), ms_fwd = lstm_time(c, &b, &p, 1, steps);
  const double ms_step = lstm_time(c, &b, &p, 2, steps);
  printf("lstm: inference forward %.3f ms, training forward %.3f ms, forward+backward %.3f ms\n", ms_eval, ms_fwd,
         ms_step);
  pb_cli_bench_memory(c);
  rc = 0;
done:
  if (rc) fprintf(stderr, "plumb bench: error: %s\n", err.msg);
  float *bufs[] = {b.x, b.w, b.y, b.dy, b.dx, b.dw, b.reserve};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) pb_ctx_free_mem(c, bufs[i]);
  free(b.len);
  return rc;
}

int pb_cmd_bench_op(const pb_cli_opts *o) {
  const char *op = pb_cli_opt(o, "op");
  const long steps = pb_cli_opt_long(o, "steps", 50, 1), warmup = pb_cli_opt_long(o, "warmup", 10, 0);
  if (steps < 0 || warmup < 0) return 2;
  const int triplet = !strcmp(op, "triplet");
  if (strcmp(op, "lstm") != 0 && !triplet) {
    fprintf(stderr, "plumb bench: --op %s: unknown op (known: lstm, triplet)\n", op);
    return 2;
  }
  pb_config *cfg = pb_config_new();
  pb_err err = {{0}};
  for (int i = 0; i < o->nset; i++)
    if (pb_config_set(cfg, o->set[i], &err)) {
      fprintf(stderr, "plumb bench: config error: %s\n", err.msg);
      pb_config_free(cfg);
      return 2;
    }
  pb_ctx ctx;
  if (pb_ctx_init_cfg(&ctx, cfg, &err)) {
    fprintf(stderr, "plumb bench: error: %s\n", err.msg);
    pb_config_free(cfg);
    return 1;
  }
  printf("%s\n", ctx.why);
  const int rc = triplet ? pb_cli_bench_triplet(o, &ctx, (int)steps, (int)warmup)
                         : bench_lstm(o, &ctx, (int)steps, (int)warmup, pb_config_bool(cfg, "run", "tf32"));
  pb_ctx_free(&ctx);
  pb_config_free(cfg);
  return rc;
}
