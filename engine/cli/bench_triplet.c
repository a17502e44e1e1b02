/* bench_triplet.c: `plumb bench --op triplet [--batch N] [--P P --K K] [--dim D] [--mode hard|all]
 * [--soft 0|1] [--squared 0|1] [--margin M] [--reduction all|nonzero] [--emb FILE.npy] [--steps S]
 * [--warmup W] [--repeat R] [--set run.KEY=VALUE]...`: the triplet loss op alone (kernels/ops.h
 * "triplet loss": pb_triplet_loss_cpu, kernels/cpu/triplet.c; pb_triplet_loss_cuda,
 * kernels/cuda/triplet.cu), its fused forward + backward (loss, counts and the embedding gradient)
 * on one batch already on the device, timed between two synchronisations: W warm-up calls, then
 * R repeats of S calls each, the figure being the median of the R per-call means. Defaults are
 * the paper's batch (Hermans et al. 2017: P 18 identities x K 4 samples = 72, D 128), batch-hard,
 * hinge with margin 0.2, Euclidean distances, the mean over all terms. Labels: row i has label
 * i / K (P x K layout). Embeddings: the float32 [N, D] array of --emb, used as is (how
 * scripts/bench/triplet_torch.py hands PyTorch's batch over, so both losses can be compared), else
 * e_ik = 2 u - 1, u = pb_rng_uniform(7, PB_RNG_STREAM(PB_RNG_DATA, 93), i * D + k), each row then
 * L2-normalised. scripts/bench/bench_triplet.sh prints this beside PyTorch with the ratio. The
 * dispatch and the LSTM bench: bench_op.c. */
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
#include "loaders/sources.h"

static double trip_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The buffers of one call on the context's device. */
typedef struct trip_bufs {
  float *e, *de, *loss;
  int32_t *labels;
  int64_t *counts;
  pb_scratch s; /* CPU only */
} trip_bufs;

static void trip_call(pb_ctx *c, trip_bufs *b, const pb_triplet_params *p) {
  if (c->cuda) pb_triplet_loss_cuda(b->loss, b->counts, b->de, b->e, b->labels, 1.0f, p, c->cuda);
  else pb_triplet_loss_cpu(b->loss, b->counts, b->de, b->e, b->labels, 1.0f, p, &b->s);
}

/* ms per call over `steps` calls. */
static double trip_time(pb_ctx *c, trip_bufs *b, const pb_triplet_params *p, int steps) {
  c->ops->sync(c);
  const double t0 = trip_now();
  for (int i = 0; i < steps; i++) trip_call(c, b, p);
  c->ops->sync(c);
  return 1e3 * (trip_now() - t0) / steps;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The host embeddings [n, d] (see the file comment), or NULL with err set. */
static float *trip_embeddings(const char *path, long n, long d, pb_err *err) {
  float *h = pb_xmalloc((size_t)n * d * sizeof(float));
  if (path) {
    pb_npy x;
    memset(&x, 0, sizeof x);
    if (pb_npy_read(&x, path, err)) {
      free(h);
      return NULL;
    }
    if (!x.f32 || x.ndim != 2 || x.dims[0] != n || x.dims[1] != d) {
      char shape[96] = "";
      for (int i = 0; i < x.ndim && i < 4; i++)
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%ld", i ? ", " : "", x.dims[i]);
      pb_err_set(err, "--emb %s: want a float32 array [%ld, %ld] (--batch, --dim), got %s [%s]", path, n, d,
                 x.f32 ? "float32" : "integers", shape);
      pb_npy_free(&x);
      free(h);
      return NULL;
    }
    memcpy(h, x.f32, (size_t)n * d * sizeof(float));
    pb_npy_free(&x);
    return h;
  }
  for (long i = 0; i < n; i++) {
    float *row = h + (size_t)i * d;
    double ss = 0.0;
    for (long k = 0; k < d; k++) {
      row[k] = 2.0f * pb_rng_uniform(7, PB_RNG_STREAM(PB_RNG_DATA, 93), (uint64_t)(i * d + k)) - 1.0f;
      ss += (double)row[k] * row[k];
    }
    const double inv = ss > 0.0 ? 1.0 / sqrt(ss) : 0.0;
    for (long k = 0; k < d; k++) row[k] = (float)(row[k] * inv);
  }
  return h;
}

int pb_cli_bench_triplet(const pb_cli_opts *o, pb_ctx *c, int steps, int warmup) {
  const long P = pb_cli_opt_long(o, "P", 18, 1), K = pb_cli_opt_long(o, "K", 4, 1);
  const long D = pb_cli_opt_long(o, "dim", 128, 1), R = pb_cli_opt_long(o, "repeat", 5, 1);
  const long soft = pb_cli_opt_long(o, "soft", 0, 0), sq = pb_cli_opt_long(o, "squared", 0, 0);
  if (P < 0 || K < 0 || D < 0 || R < 0 || soft < 0 || sq < 0) return 2; /* pb_cli_opt_long said why */
  if (P * K > 1000000) {
    fprintf(stderr, "plumb bench: --P %ld x --K %ld is more than 1000000 rows\n", P, K);
    return 2;
  }
  const long N = pb_cli_opt_long(o, "batch", P * K, 1);
  if (N < 0) return 2;
  if (N != P * K) {
    fprintf(stderr, "plumb bench: --batch %ld is not --P %ld x --K %ld = %ld (the batch is P identities x K samples)\n",
            N, P, K, P * K);
    return 2;
  }
  const char *mv = pb_cli_opt(o, "mode"), *rv = pb_cli_opt(o, "reduction"), *gv = pb_cli_opt(o, "margin");
  const int all = mv && !strcmp(mv, "all"), nonzero = rv && !strcmp(rv, "nonzero");
  char *end = NULL;
  const double margin = gv ? strtod(gv, &end) : 0.2;
  if ((mv && !all && strcmp(mv, "hard")) || (rv && !nonzero && strcmp(rv, "all")) || soft > 1 || sq > 1 ||
      (gv && (!*gv || *end || !isfinite(margin)))) {
    fprintf(stderr, "plumb bench: --mode is hard or all, --reduction all or nonzero, --soft and --squared 0 or 1, "
                    "--margin a finite number\n");
    return 2;
  }
  const pb_triplet_params p = {.n = (int)N, .d = (int)D,
                               .mode = all ? PB_TRIPLET_BATCH_ALL : PB_TRIPLET_BATCH_HARD,
                               .reduction = nonzero ? PB_TRIPLET_MEAN_NONZERO : PB_TRIPLET_MEAN_ALL,
                               .soft = (int)soft, .squared = (int)sq, .margin = (float)margin};
  const char *emb = pb_cli_opt(o, "emb");
  pb_err err = {{0}};
  trip_bufs b;
  memset(&b, 0, sizeof b);
  int rc = 1;
  double *ms = pb_xmalloc(sizeof(double) * (size_t)R);
  int32_t *hl = pb_xmalloc(sizeof(int32_t) * (size_t)N);
  for (long i = 0; i < N; i++) hl[i] = (int32_t)(i / K);
  float *he = trip_embeddings(emb, N, D, &err);
  if (!he) goto done;
  if (c->cuda) {
    const size_t need = pb_triplet_workspace_cuda(&p);
    if (need > c->cuda->workspace_bytes) {
      pb_err_set(&err, "the triplet loss needs %.1f MiB of workspace, [run] cudnn_workspace_mb gives %.1f",
                 need / 1048576.0, c->cuda->workspace_bytes / 1048576.0);
      goto done;
    }
  } else {
    b.s.floats = pb_triplet_scratch_cpu(&p);
    b.s.nthreads = c->nthreads;
    b.s.buf = pb_ctx_reserve_scratch(c, b.s.floats);
  }
  const size_t ne = (size_t)N * D;
  if (!(b.e = pb_ctx_alloc(c, ne * sizeof(float), "the embeddings", &err)) ||
      !(b.de = pb_ctx_alloc(c, ne * sizeof(float), "the embedding gradient", &err)) ||
      !(b.labels = pb_ctx_alloc(c, (size_t)N * sizeof(int32_t), "the labels", &err)) ||
      !(b.loss = pb_ctx_alloc(c, sizeof(float), "the loss", &err)) ||
      !(b.counts = pb_ctx_alloc(c, PB_TRIPLET_NCOUNTS * sizeof(int64_t), "the counts", &err)))
    goto done;
  pb_ctx_upload(c, b.e, he, ne * sizeof(float));
  pb_ctx_upload(c, b.labels, hl, (size_t)N * sizeof(int32_t));
  char fn[48];
  if (soft) snprintf(fn, sizeof fn, "soft-margin");
  else snprintf(fn, sizeof fn, "hinge margin %g", (double)p.margin);
  printf("triplet N %ld (P %ld x K %ld) D %ld batch-%s %s %s mean-%s, float32, %s, %s embeddings, %d timed steps "
         "after %d warm-up, median of %ld\n",
         N, P, K, D, all ? "all" : "hard", fn, sq ? "squared" : "euclidean", nonzero ? "nonzero" : "all",
         c->cuda ? "CUDA" : "CPU reference", emb ? "--emb" : "random", steps, warmup, R);
  trip_time(c, &b, &p, warmup ? warmup : 1); /* warm-up */
  for (long r = 0; r < R; r++) ms[r] = trip_time(c, &b, &p, steps);
  qsort(ms, (size_t)R, sizeof(double), cmp_double);
  const double med = R % 2 ? ms[R / 2] : 0.5 * (ms[R / 2 - 1] + ms[R / 2]);
  float loss;
  int64_t cnt[PB_TRIPLET_NCOUNTS];
  pb_ctx_download(c, &loss, b.loss, sizeof loss);
  pb_ctx_download(c, cnt, b.counts, sizeof cnt);
  printf("triplet: forward+backward %.4f ms (min %.4f, max %.4f), loss %.9g, active %lld of %lld terms, "
         "excluded %lld\n",
         med, ms[0], ms[R - 1], (double)loss, (long long)cnt[PB_TRIPLET_ACTIVE], (long long)cnt[PB_TRIPLET_VALID],
         (long long)cnt[PB_TRIPLET_EXCLUDED]);
  pb_cli_bench_memory(c);
  rc = 0;
done:
  if (rc) fprintf(stderr, "plumb bench: error: %s\n", err.msg);
  void *bufs[] = {b.e, b.de, b.labels, b.loss, b.counts};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) pb_ctx_free_mem(c, bufs[i]);
  free(he);
  free(hl);
  free(ms);
  return rc;
}
