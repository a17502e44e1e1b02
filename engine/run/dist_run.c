/* dist_run.c: a run's data-parallel side (run.h, engine/dist/dist.h): the rank's device and
 * threads, the global batch split over the ranks, the agreement check at start-up, each rank's
 * shard of an epoch's order, and the training figures summed over the ranks.
 *
 * The split: [train] batch_size is the GLOBAL batch G; with N ranks each takes B = G / N
 * samples of every global batch b, rank r the contiguous part [b G + r B, b G + (r + 1) B) of
 * the order one process draws, so that N ranks see exactly the batches of one process with
 * batch G (and rank r's part is micro-batch r of one process with batch B and accum_steps N).
 * The epoch's last, short global batch of L samples is split as evenly (pb_dist_share); when L
 * is smaller than N it is left out (logged), so that no rank ever has an empty batch. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <omp.h>

#include "engine/device/backend.h"
#include "engine/dist/dist.h"
#include "kernels/cuda_device.h"
#include "engine/run/log.h"
#include "engine/run/run.h"

int pb_run_ctx_init(pb_ctx *ctx, const pb_config *cfg, pb_err *err) {
  const pb_dist *w = pb_dist_world();
  if (w->size == 1) return pb_ctx_init_cfg(ctx, cfg, err);
  const char *dev = pb_config_str(cfg, "run", "device");
  int threads = (int)pb_config_int(cfg, "run", "threads");
  if (threads == 0) threads = PB_MAX(1, omp_get_num_procs() / PB_MAX(w->local_size, 1)); /* the node's cores, shared */
  char buf[32];
  if (!strcmp(dev, "auto") || !strcmp(dev, "cuda")) { /* the GPU of the local rank, when there are GPUs */
    char why[200];
    int ngpu = pb_cuda_device_count(why, sizeof why);
    if (ngpu > 0) {
      snprintf(buf, sizeof buf, "cuda:%d", w->local_rank % ngpu);
      dev = buf;
      if (w->local_size > ngpu && w->rank == 0)
        pb_log("warning: %d ranks on this node share %d GPU(s)", w->local_size, ngpu);
    }
  }
  return pb_ctx_init_cfg_on(ctx, cfg, dev, threads, err);
}

int pb_run_dist_batches(pb_run *r, pb_err *err) {
  const pb_dist *w = pb_dist_world();
  r->global_batch = r->batch;
  if (w->size == 1) return PB_OK;
  int N = w->size;
  if (r->batch % N)
    return pb_err_set(err, "%s: [train] batch_size = %d is the batch of all %d ranks together and must be a multiple of "
                           "it (%d or %d)",
                      pb_config_origin(r->cfg, "train", "batch_size"), r->batch, N, r->batch / N * N,
                      (r->batch / N + 1) * N);
  if (r->pk_p)
    return pb_err_set(err, "%s: [data] sampler = pk is not split over ranks yet (its batches are P x K identities): "
                           "train it in one process",
                      pb_config_origin(r->cfg, "data", "sampler"));
  if (pb_config_float(r->cfg, "run", "loss_spike_z") > 0)
    return pb_err_set(err, "%s: [run] loss_spike_z with %d ranks: the spike guard sees one rank's loss; not supported "
                           "yet (set 0)",
                      pb_config_origin(r->cfg, "run", "loss_spike_z"), N);
  int64_t G = r->batch, n = r->epoch_samples, tail = n % G;
  r->batches_per_epoch = n / G + (tail >= N ? 1 : 0);
  r->dropped_tail = tail && tail < N ? (int)tail : 0;
  if (r->batches_per_epoch < 1)
    return pb_err_set(err, "%" PRId64 " training samples are fewer than the %d ranks", n, N);
  r->batch = (int)(G / N);
  return PB_OK;
}

int64_t pb_run_shard(const pb_run *r, const int32_t *perm, int32_t *out) {
  const pb_dist *w = pb_dist_world();
  if (w->size == 1) {
    memcpy(out, perm, (size_t)r->epoch_samples * sizeof *out);
    return r->epoch_samples;
  }
  int64_t G = r->global_batch, k = 0;
  for (int64_t b = 0; b < r->batches_per_epoch; b++) {
    int64_t base = b * G, L = PB_MIN(G, r->epoch_samples - base), lo, hi;
    pb_dist_share(L, w->rank, w->size, &lo, &hi);
    memcpy(out + k, perm + base + lo, (size_t)(hi - lo) * sizeof *out);
    k += hi - lo;
  }
  return k;
}

/* FNV-1a, 64 bits. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *s = p;
  for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
  return h;
}

/* The resolved config's hash: every key's value, origins (comments) left out. */
static uint64_t config_hash(const pb_config *cfg) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return 0;
  pb_config_dump(cfg, f);
  fclose(f);
  uint64_t h = 1469598103934665603ull;
  for (char *line = text, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = 0;
    char *c = strstr(line, "  # ");
    h = fnv(h, line, c ? (size_t)(c - line) : strlen(line));
    h = fnv(h, "\n", 1);
  }
  free(text);
  return h;
}

int pb_run_dist_agree(pb_run *r, pb_err *err) {
  const pb_dist *w = pb_dist_world();
  if (w->size == 1) return PB_OK;
  /* the config, and the models each rank built from it (same seed, same parameters) */
  uint64_t mine[2] = {config_hash(r->cfg), 1469598103934665603ull};
  for (int i = 0; i < r->nmodels; i++) {
    pb_model *m = r->models[i];
    size_t n = m->nparams;
    float *h = pb_xmalloc(PB_MAX(n, 1) * sizeof(float));
    r->ctx.ops->download(&r->ctx, h, m->params, n * sizeof(float));
    mine[1] = fnv(mine[1], h, n * sizeof(float));
    free(h);
  }
  uint64_t *all = pb_xmalloc((size_t)w->size * sizeof mine);
  if (pb_dist_allgather(mine, all, sizeof mine, "the config check", err)) {
    free(all);
    return PB_ERR;
  }
  int rc = PB_OK;
  for (int j = 1; j < w->size && rc == PB_OK; j++) {
    if (all[2 * j] != all[0])
      rc = pb_err_set(err, "rank %d was started with another config than rank 0 (resolved configs differ: hash %016llx "
                           "vs %016llx); every rank must train the same config",
                      j, (unsigned long long)all[2 * j], (unsigned long long)all[0]);
    else if (all[2 * j + 1] != all[1])
      rc = pb_err_set(err, "rank %d built other initial parameters than rank 0 from the same config (another plumb "
                           "build or device kind?)", j);
  }
  free(all);
  return rc;
}

void pb_run_dist_describe(const pb_run *r) {
  const pb_dist *w = pb_dist_world();
  if (w->size == 1) return;
  pb_log("data-parallel: %d ranks (%s; %s), %d samples each of a global batch of %d; gradients summed %s", w->size,
         w->launcher, r->ctx.dev.kind == PB_DEV_CUDA ? "GPU" : "CPU", r->batch, r->global_batch,
         r->ctx.dev.kind == PB_DEV_CUDA ? "by NCCL" : w->reduce == PB_REDUCE_ORDERED ? "in rank order" : "by MPI_Allreduce");
  if (r->dropped_tail)
    pb_log("data-parallel: the epoch's last %d samples are fewer than the %d ranks: left out of every epoch",
           r->dropped_tail, w->size);
}

int pb_run_dist_stats(const pb_run *r, pb_train_stats *g, long *gseen, pb_err *err) {
  *g = r->ep, *gseen = r->ep_seen;
  const pb_dist *w = pb_dist_world();
  if (w->size == 1) return PB_OK;
  int nt = r->ep.nterms;
  double d[PB_LOSS_MAX_TERMS];
  int64_t k[2 * PB_LOSS_MAX_TERMS + 1];
  for (int i = 0; i < nt; i++) d[i] = r->ep.loss[i], k[i] = r->ep.correct[i], k[nt + i] = r->ep.seen[i];
  k[2 * nt] = r->ep_seen;
  if (pb_dist_sum_f64(d, nt, "the training figures", err) || pb_dist_sum_i64(k, 2 * nt + 1, "the training figures", err))
    return PB_ERR;
  for (int i = 0; i < nt; i++) g->loss[i] = d[i], g->correct[i] = k[i], g->seen[i] = k[nt + i];
  *gseen = k[2 * nt];
  return PB_OK;
}
