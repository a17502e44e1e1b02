/* bench_loader.c: `plumb bench --loader CONFIG`: images/s of the loader's decode + augment
 * (the config's training set and [augment] train) with 1, 2, 4, ... up to N workers, N the
 * number of cores unless --workers lists the counts. Each count makes one pass over up to
 * --images samples after a warm-up pass (page cache); batches are released at once, so this
 * measures what the pool can supply, not training. Two figures per count: "workers" = the
 * uint8 batches (what a GPU run copies, to normalise on the device) and "workers-f32" = the
 * same plus each batch made into the normalised float batch on the consuming thread, as the
 * CPU trainer does (pb_u8_to_f32_norm_cpu): the like of torchvision's ToTensor + Normalize.
 * scripts/bench/loader_vs_torch.sh runs the torchvision DataLoader equivalent in the same run
 * and prints both ratios. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/cli/cli.h"
#include "engine/run/data.h"
#include "engine/run/run.h"
#include "kernels/ops.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One pass over order[0..n): returns images delivered per second. With x (f32 mode), each
 * batch is also normalised into x [batch, c, h, w] before it is released. */
static double pass(pb_loader *L, const pb_dataset *d, const pb_aug *a, const int32_t *order, int n, int batch,
                   long *bad, float *x, const pb_norm *norm) {
  double t0 = now_s();
  long got = 0;
  pb_loader_start(L, d, a, order, n, batch, 0, 0);
  for (pb_batch *b; (b = pb_loader_next(L));) {
    got += b->n;
    *bad += b->nbad;
    if (x && d->kind != PB_DATA_F32) pb_u8_to_f32_norm_cpu(x, b->u8, b->n * PB_MAX(d->frames, 1), d->c, d->h * d->w, norm->mean, norm->std);
    pb_loader_release(L, b);
  }
  return (double)got / (now_s() - t0);
}

int pb_cmd_bench_loader(const pb_cli_opts *o) {
  const char *wlist = pb_cli_opt(o, "workers"), *v;
  long images = (v = pb_cli_opt(o, "images")) ? atol(v) : 2000;
  pb_cli_opts lo = *o;
  lo.config = pb_cli_opt(o, "loader");
  pb_config *cfg = pb_cli_config(&lo);
  if (!cfg) return 2;
  pb_err err = {{0}};
  pb_dataset tr, va, te;
  pb_aug at, ae;
  pb_norm norm;
  if (pb_run_load_data(cfg, (uint64_t)pb_config_int(cfg, "run", "seed"), &tr, &va, &te, &err) ||
      pb_run_augs(cfg, &tr, &at, &ae, &err) || pb_run_data_norm(cfg, tr.c, &norm, &err)) {
    fprintf(stderr, "plumb bench --loader: error: %s\n", err.msg);
    pb_config_free(cfg);
    return 1;
  }
  int batch = (int)pb_config_int(cfg, "train", "batch_size");
  int n = (int)PB_MIN((long)tr.n, images);
  int32_t *order = pb_xmalloc((size_t)tr.n * sizeof(int32_t));
  float *x = pb_amalloc((size_t)batch * pb_dataset_sample_elems(&tr) * sizeof(float));
  pb_data_order(order, tr.n, 1, 0, 1);
  int counts[64], nc = 0, cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (wlist) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", wlist);
    for (char *s, *t = strtok_r(buf, ",", &s); t && nc < 64; t = strtok_r(NULL, ",", &s)) counts[nc++] = PB_MAX(1, atoi(t));
  } else {
    for (int w = 1; w < cores && nc < 63; w *= 2) counts[nc++] = w;
    counts[nc++] = cores;
  }
  printf("loader bench: %s, %d of %d training samples, %dx%dx%d output, batch %d, [augment] train = %s, "
         "TurboJPEG %s, %d cores\n",
         lo.config, n, tr.n, tr.c, tr.h, tr.w, batch, pb_config_str(cfg, "augment", "train"),
         pb_decoder_has_turbojpeg() && pb_config_bool(cfg, "loader", "reduced_dct") ? "on" : "off", cores);
  int rc = 0;
  for (int k = 0; k < nc; k++) {
    pb_loader_opts lo = {.workers = counts[k], .depth = counts[k] + 2, .max_batch = batch,
                         .max_sample_bytes = pb_dataset_sample_elems(&tr) * (tr.kind == PB_DATA_F32 ? 4 : 1),
                         .reduced_dct = pb_config_bool(cfg, "loader", "reduced_dct"),
                         .convert_channels = pb_config_bool(cfg, "data", "convert_channels"), .seed = 1};
    pb_loader *L = pb_loader_new(&lo, &err);
    if (!L) {
      fprintf(stderr, "plumb bench --loader: error: %s\n", err.msg);
      rc = 1;
      break;
    }
    long bad = 0;
    if (k == 0) pass(L, &tr, &at, order, n, batch, &bad, NULL, NULL); /* warm the page cache */
    bad = 0;
    double ips = pass(L, &tr, &at, order, n, batch, &bad, NULL, NULL);
    printf("workers %3d: %9.1f images/s  (%7.1f per worker)  uint8 batches%s\n", counts[k], ips, ips / counts[k],
           bad ? "  [bad images skipped]" : "");
    fflush(stdout);
    ips = pass(L, &tr, &at, order, n, batch, &bad, x, &norm);
    printf("workers-f32 %3d: %9.1f images/s  (%7.1f per worker)  + normalised float batches (CPU trainer)\n",
           counts[k], ips, ips / counts[k]);
    fflush(stdout);
    pb_loader_free(L);
  }
  free(order);
  pb_afree(x);
  pb_dataset_free(&tr);
  pb_dataset_free(&va);
  pb_dataset_free(&te);
  pb_config_free(cfg);
  return rc;
}
