/* dist.c: the world of ranks and its collectives (dist.h): launch detection, MPI between
 * processes, the ordered gradient reduction, the collective watchdog. NCCL: dist_nccl.c. */
#define _GNU_SOURCE
#include "engine/dist/dist.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/config/config.h"
#include "engine/device/backend.h"
#include "engine/device/ctx.h"
#include "engine/dist/dist_nccl.h"

#if PLUMB_HAVE_MPI
#include <mpi.h>
#endif

static pb_dist world = {.rank = 0, .size = 1, .local_rank = 0, .local_size = 1, .launcher = "none", .timeout_s = 0};

pb_dist *pb_dist_world(void) { return &world; }

static int env_int(const char *name, int def) {
  const char *v = getenv(name);
  if (!v || !*v) return def;
  char *end;
  long x = strtol(v, &end, 10);
  return *end || x < 0 || x > 1000000 ? def : (int)x;
}

/* ------------------------------------------------------------------ the watchdog */

static pthread_mutex_t wd_mu = PTHREAD_MUTEX_INITIALIZER;
static const char *wd_what;   /* the collective under way (NULL: none) */
static double wd_since;
static int wd_running;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *watchdog(void *arg) {
  (void)arg;
  for (;;) {
    sleep(1);
    pthread_mutex_lock(&wd_mu);
    const char *what = wd_what;
    double since = wd_since;
    pthread_mutex_unlock(&wd_mu);
    if (what && world.timeout_s > 0 && now_s() - since > world.timeout_s) {
      fprintf(stderr,
              "plumb: rank %d: error: the collective '%s' did not finish within %g s ([dist] timeout): another rank "
              "died or hangs; stopping every rank (the last checkpoint is intact)\n",
              world.rank, what, world.timeout_s);
      fflush(stderr);
      pb_dist_abort(1);
    }
  }
  return NULL;
}

static void coll_begin(const char *what) {
  if (world.size == 1 && !world.forced) return;
  pthread_mutex_lock(&wd_mu);
  wd_what = what, wd_since = now_s();
  pthread_mutex_unlock(&wd_mu);
}

static void coll_end(void) {
  if (world.size == 1 && !world.forced) return;
  pthread_mutex_lock(&wd_mu);
  wd_what = NULL;
  pthread_mutex_unlock(&wd_mu);
}

/* ------------------------------------------------------------------ start and end */

int pb_dist_init(pb_err *err) {
  /* mpirun (Open MPI), srun (slurm), or nothing */
  int n = env_int("OMPI_COMM_WORLD_SIZE", 0);
  if (n > 0) {
    world.launcher = "mpirun";
    world.size = n;
    world.rank = env_int("OMPI_COMM_WORLD_RANK", 0);
    world.local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK", 0);
    world.local_size = env_int("OMPI_COMM_WORLD_LOCAL_SIZE", 1);
  } else if (env_int("SLURM_STEP_NUM_TASKS", 1) > 1) {
    /* a task of an srun step of several (the batch script itself is a step of one task, even
     * under --ntasks=N: SLURM_NTASKS alone does not make a rank) */
    world.launcher = "srun";
    world.size = env_int("SLURM_STEP_NUM_TASKS", 1);
    world.rank = env_int("SLURM_PROCID", 0);
    world.local_rank = env_int("SLURM_LOCALID", 0);
    world.local_size = env_int("SLURM_STEP_TASKS_PER_NODE", env_int("SLURM_NTASKS_PER_NODE", 1));
  }
  /* PLUMB_DIST_ONE=1: a world of one still goes through MPI (and NCCL on a GPU), to measure what
   * the machinery costs (scripts/gpu-check.sh) */
  const char *one = getenv("PLUMB_DIST_ONE");
  world.forced = one && !strcmp(one, "1");
  if (world.size == 1 && !world.forced) {
    world.rank = 0, world.local_rank = 0, world.local_size = 1, world.launcher = "none";
    return PB_OK;
  }
#if PLUMB_HAVE_MPI
  int provided = 0;
  if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    return pb_err_set(err, "MPI_Init failed (%d ranks launched by %s)", world.size, world.launcher);
  int r, s;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  if (s != world.size) {
    int was = world.size;
    world.size = s, world.rank = r;
    if (s == 1) { /* srun without an MPI plugin: every task is a world of its own */
      MPI_Finalize();
      return pb_err_set(err, "%s started %d tasks, but MPI sees a world of 1: launch with srun --mpi=pmix (or "
                             "mpirun)", world.launcher, was);
    }
  }
  world.rank = r;
  world.transport = PB_DIST_MPI;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  pthread_t t;
  if (pthread_create(&t, NULL, watchdog, NULL) == 0) pthread_detach(t), wd_running = 1;
  return PB_OK;
#else
  return pb_err_set(err, "%s started %d ranks, but this plumb was built without MPI: install Open MPI (apt-get "
                         "install libopenmpi-dev openmpi-bin; scripts/setup.sh does) and build again",
                    world.launcher, world.size);
#endif
}

void pb_dist_finalize(void) {
#if PLUMB_HAVE_MPI
  if (world.transport == PB_DIST_MPI) {
    pb_dist_nccl_free();
    MPI_Finalize();
    world.transport = PB_DIST_SINGLE;
  }
#endif
}

void pb_dist_abort(int code) {
  fflush(stdout);
  fflush(stderr);
#if PLUMB_HAVE_MPI
  if (world.transport == PB_DIST_MPI) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  _exit(code);
}

void pb_dist_bucket_ready(void *bucket, size_t lo) {
  pb_dist_bucket *b = bucket;
  if (lo >= b->sent_lo || b->sent_lo - lo < b->bucket) return;
  pb_err err = {{0}};
  double t0 = now_s();
  if (pb_dist_nccl_launch(b->ctx, b->grads + lo, b->sent_lo - lo, "a gradient bucket", &err)) {
    fprintf(stderr, "plumb: rank %d: error: %s\n", world.rank, err.msg);
    pb_dist_abort(1);
  }
  world.grad_seconds += now_s() - t0;
  b->sent_lo = lo;
}

int pb_dist_bucket_finish(pb_dist_bucket *b, float scale, const char *what, pb_err *err) {
  double t0 = now_s();
  world.grad_calls++, world.grad_values = b->n;
  int rc = b->sent_lo > 0 ? pb_dist_nccl_launch(b->ctx, b->grads, b->sent_lo, what, err) : PB_OK;
  if (rc == PB_OK) rc = pb_dist_nccl_join(b->ctx, err);
  if (rc == PB_OK && scale != 1.0f) b->ctx->ops->scale(b->ctx, b->grads, scale, b->n);
  b->sent_lo = b->n; /* the next backward starts from the top again */
  world.grad_seconds += now_s() - t0;
  return rc;
}

int pb_dist_configure(const pb_config *cfg, pb_ctx *ctx, pb_err *err) {
  const char *red = pb_config_str(cfg, "dist", "reduce");
  world.reduce = !strcmp(red, "ordered") ? PB_REDUCE_ORDERED : PB_REDUCE_LIBRARY;
  world.timeout_s = pb_config_float(cfg, "dist", "timeout");
  world.bucket_values = (size_t)(pb_config_float(cfg, "dist", "bucket_mb") * 1e6 / sizeof(float));
  world.sync_bn = (world.size > 1 || world.forced) && pb_config_bool(cfg, "dist", "sync_bn");
  if ((world.size == 1 && !world.forced) || ctx->dev.kind != PB_DEV_CUDA) return PB_OK;
  return pb_dist_nccl_init(ctx, err);
}

/* ------------------------------------------------------------------ collectives */

#if PLUMB_HAVE_MPI
static int mpi_fail(int rc, const char *what, pb_err *err) {
  if (rc == MPI_SUCCESS) return PB_OK;
  char s[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, s, &len);
  return pb_err_set(err, "rank %d: MPI failed in '%s': %.*s", world.rank, what, len, s);
}
#endif

/* The ordered reduction of n floats (host): every rank owns a contiguous part; the parts of all
 * ranks are exchanged (all-to-all), summed in rank order (((g0 + g1) + g2) + ...), scaled and
 * gathered back. Traffic as a ring all-reduce's (2 (N-1)/N of the data per rank); the bits do
 * not depend on the library's algorithm choice. */
static float *ord_recv;
static size_t ord_cap;

static int ordered_sum(float *buf, size_t n, float scale, const char *what, pb_err *err) {
#if PLUMB_HAVE_MPI
  int N = world.size, me = world.rank;
  int *sc = pb_xmalloc((size_t)N * sizeof *sc), *sd = pb_xmalloc((size_t)N * sizeof *sd);
  int *rc = pb_xmalloc((size_t)N * sizeof *rc), *rd = pb_xmalloc((size_t)N * sizeof *rd);
  int64_t lo, hi, mlo, mhi;
  pb_dist_share((int64_t)n, me, N, &mlo, &mhi);
  size_t mine = (size_t)(mhi - mlo);
  for (int j = 0; j < N; j++) {
    pb_dist_share((int64_t)n, j, N, &lo, &hi);
    sc[j] = (int)(hi - lo), sd[j] = (int)lo;   /* my part j goes to rank j */
    rc[j] = (int)mine, rd[j] = (int)(j * mine); /* rank j's copy of my part */
  }
  if ((size_t)N * mine > ord_cap) {
    free(ord_recv);
    ord_cap = (size_t)N * mine;
    ord_recv = pb_xmalloc(ord_cap * sizeof(float) + 64);
  }
  int r = MPI_Alltoallv(buf, sc, sd, MPI_FLOAT, ord_recv, rc, rd, MPI_FLOAT, MPI_COMM_WORLD);
  if (r == MPI_SUCCESS) {
    float *out = buf + mlo;
    memcpy(out, ord_recv, mine * sizeof(float));
    for (int j = 1; j < N; j++) {
      const float *g = ord_recv + (size_t)j * mine;
      for (size_t i = 0; i < mine; i++) out[i] += g[i];
    }
    if (scale != 1.0f)
      for (size_t i = 0; i < mine; i++) out[i] *= scale;
    r = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, sc, sd, MPI_FLOAT, MPI_COMM_WORLD);
  }
  free(sc), free(sd), free(rc), free(rd);
  return mpi_fail(r, what, err);
#else
  (void)buf, (void)n, (void)scale, (void)what;
  return pb_err_set(err, "no MPI in this build");
#endif
}

int pb_dist_allreduce_grads(pb_ctx *ctx, float *buf, size_t n, float scale, const char *what, pb_err *err) {
  if (world.size == 1 && !world.forced) {
    if (scale != 1.0f) ctx->ops->scale(ctx, buf, scale, n);
    return PB_OK;
  }
  if (n > (size_t)INT32_MAX) return pb_err_set(err, "%s: %zu values are more than one MPI call takes", what, n);
  double t0 = now_s();
  world.grad_calls++, world.grad_values = n;
  if (ctx->dev.kind == PB_DEV_CUDA) {
    coll_begin(what);
    int rc = pb_dist_nccl_allreduce(ctx, buf, n, scale, what, err);
    coll_end();
    world.grad_seconds += now_s() - t0;
    return rc;
  }
  coll_begin(what);
  int rc;
#if PLUMB_HAVE_MPI
  if (world.reduce == PB_REDUCE_ORDERED) {
    rc = ordered_sum(buf, n, scale, what, err);
  } else {
    rc = mpi_fail(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), what, err);
    if (rc == PB_OK && scale != 1.0f) ctx->ops->scale(ctx, buf, scale, n);
  }
#else
  rc = ordered_sum(buf, n, scale, what, err);
#endif
  coll_end();
  world.grad_seconds += now_s() - t0;
  return rc;
}

int pb_dist_sum_f64_dev(pb_ctx *ctx, double *buf, size_t n, const char *what, pb_err *err) {
  if (world.size == 1 && !world.forced) return PB_OK;
  if (n > (size_t)INT32_MAX) return pb_err_set(err, "%s: %zu values are more than one MPI call takes", what, n);
  coll_begin(what);
  int rc;
  if (ctx->dev.kind == PB_DEV_CUDA) {
    rc = pb_dist_nccl_sum_f64(ctx, buf, n, what, err);
  } else {
#if PLUMB_HAVE_MPI
    rc = mpi_fail(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), what, err);
#else
    rc = pb_err_set(err, "%s: no MPI in this build", what);
#endif
  }
  coll_end();
  return rc;
}

#if PLUMB_HAVE_MPI
#define HOST_COLL(call)                         \
  do {                                          \
    if (world.size == 1) return PB_OK;          \
    coll_begin(what);                           \
    int rc_ = (call);                           \
    coll_end();                                 \
    return mpi_fail(rc_, what, err);            \
  } while (0)
#else
#define HOST_COLL(call)                                                   \
  do {                                                                    \
    if (world.size == 1) return PB_OK;                                    \
    return pb_err_set(err, "%s: no MPI in this build", what);             \
  } while (0)
#endif

int pb_dist_sum_f64(double *buf, int n, const char *what, pb_err *err) {
  HOST_COLL(MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
}

int pb_dist_sum_i64(int64_t *buf, int n, const char *what, pb_err *err) {
  HOST_COLL(MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
}

int pb_dist_max_i64(int64_t *buf, int n, const char *what, pb_err *err) {
  HOST_COLL(MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD));
}

int pb_dist_bcast(void *buf, size_t bytes, int root, const char *what, pb_err *err) {
  if (bytes > (size_t)INT32_MAX) return pb_err_set(err, "%s: %zu bytes are more than one MPI call takes", what, bytes);
  HOST_COLL(MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD));
}

int pb_dist_allgather(const void *mine, void *out, size_t bytes, const char *what, pb_err *err) {
  if (world.size == 1) {
    memmove(out, mine, bytes);
    return PB_OK;
  }
  HOST_COLL(MPI_Allgather(mine, (int)bytes, MPI_BYTE, out, (int)bytes, MPI_BYTE, MPI_COMM_WORLD));
}

int pb_dist_barrier(const char *what, pb_err *err) { HOST_COLL(MPI_Barrier(MPI_COMM_WORLD)); }

int pb_dist_gatherv(const void *mine, size_t bytes, void *out, const size_t *counts, const char *what, pb_err *err) {
  if (world.size == 1) {
    memmove(out, mine, bytes);
    return PB_OK;
  }
#if PLUMB_HAVE_MPI
  int N = world.size;
  int *rc = NULL, *rd = NULL;
  if (world.rank == 0) {
    rc = pb_xmalloc((size_t)N * sizeof *rc), rd = pb_xmalloc((size_t)N * sizeof *rd);
    size_t off = 0;
    for (int j = 0; j < N; j++) {
      if (counts[j] > (size_t)INT32_MAX || off > (size_t)INT32_MAX) {
        free(rc), free(rd);
        return pb_err_set(err, "%s: more bytes than one MPI call takes", what);
      }
      rc[j] = (int)counts[j], rd[j] = (int)off, off += counts[j];
    }
  }
  coll_begin(what);
  int r = MPI_Gatherv(mine, (int)bytes, MPI_BYTE, out, rc, rd, MPI_BYTE, 0, MPI_COMM_WORLD);
  coll_end();
  free(rc), free(rd);
  return mpi_fail(r, what, err);
#else
  (void)counts;
  return pb_err_set(err, "%s: no MPI in this build", what);
#endif
}
