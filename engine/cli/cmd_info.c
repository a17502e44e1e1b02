/* cmd_info.c: `plumb info`: the build, the libraries and the GPUs this binary sees;
 * `plumb info --model NAME [--set ...]`: an architecture summary and its parameter count;
 * `plumb info --data CONFIG [--set ...]`: the data as the run loads it, one CSV row per sample;
 * and `plumb config`: the key reference or a resolved config. */
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine/cli/cli.h"
#include "engine/models/model.h"
#include "engine/run/data.h"
#include "kernels/cuda_device.h"

pb_config *pb_cli_model_config(const pb_cli_opts *o) {
  pb_config *cfg = pb_config_new();
  pb_err err = {{0}};
  char set[256];
  const char *model = pb_cli_opt(o, "model");
  snprintf(set, sizeof set, "model.arch=%s", model);
  if (pb_config_set(cfg, set, &err)) {
    fprintf(stderr, "plumb: --model %s: %s\n", model, err.msg);
    pb_config_free(cfg);
    return NULL;
  }
  if (!strncmp(model, "resnet", 6) || !strncmp(model, "seresnet", 8) || !strcmp(model, "bagnet18"))
    pb_config_set(cfg, "model.num_classes=1000", &err); /* torchvision's default head */
  for (int i = 0; i < o->nset; i++) {
    if (pb_config_set(cfg, o->set[i], &err)) {
      fprintf(stderr, "plumb: config error: %s\n", err.msg);
      pb_config_free(cfg);
      return NULL;
    }
  }
  return cfg;
}

/* The summary of [model] as `--model NAME` and --set make it (built on the CPU for one
 * sample, for evaluation only: parameters but no training memory). */
static int info_model(const pb_cli_opts *o) {
  pb_config *cfg = pb_cli_model_config(o);
  if (!cfg) return 2;
  pb_err err = {{0}};
  pb_ctx ctx;
  int rc = 1;
  if (pb_ctx_init(&ctx, "cpu", 1, 0, 0, &err)) {
    fprintf(stderr, "plumb info: %s\n", err.msg);
    pb_config_free(cfg);
    return 1;
  }
  int in[3];
  pb_model_config_input(cfg, in);
  pb_model *m = pb_model_build(cfg, &ctx, in, 1, 0, 1, &err);
  if (!m) {
    fprintf(stderr, "plumb info: error: %s\n", err.msg);
  } else {
    pb_model_summary(m, stdout);
    size_t np = 0, nb = 0;
    for (int i = 0; i < pb_model_ntensors(m); i++) {
      const pb_param *p = pb_model_tensor(m, i);
      if (p->kind == PB_PARAM_TRAINABLE)
        np += p->numel;
      else if (p->kind == PB_PARAM_BUFFER)
        nb += p->numel;
    }
    printf("parameters: %zu trainable; %d tensors in a checkpoint (%zu buffer values)\n", np,
           pb_model_ntensors(m), nb);
    rc = 0;
  }
  pb_model_free(m);
  pb_ctx_free(&ctx);
  pb_config_free(cfg);
  return rc;
}

static void print_split(const pb_dataset *d) {
  for (int i = 0; i < d->n; i++)
    printf("%s,%d,%d,%d\n", d->name, i, d->labels ? d->labels[i] : -1, d->groups ? d->groups[i] : -1);
}

/* CONFIG's data as training loads it (the run's seed, bias injected, [data] task applied):
 * split,sample,label,group on stdout, sample = the position in the split (the IDX order
 * when val_split = 0); group = the bias attribute (inversion: 1 = inverted), -1 without. A
 * check of what a config trains on, e.g. test/cli/test_biasamp_release.sh. */
static int info_data(const pb_cli_opts *o) {
  pb_cli_opts co = *o;
  co.config = pb_cli_opt(o, "data");
  pb_config *cfg = pb_cli_config(&co);
  if (!cfg) return 2;
  pb_err err = {{0}};
  pb_dataset tr, va, te;
  int rc = 0;
  if (pb_run_load_data(cfg, (uint64_t)pb_config_int(cfg, "run", "seed"), &tr, &va, &te, &err)) {
    fprintf(stderr, "plumb info: %s: %s\n", co.config, err.msg);
    rc = 1;
  } else {
    printf("split,sample,label,group\n");
    print_split(&tr);
    print_split(&va);
    print_split(&te);
  }
  pb_dataset_free(&tr);
  pb_dataset_free(&va);
  pb_dataset_free(&te);
  pb_config_free(cfg);
  return rc;
}

int pb_cmd_info(const pb_cli_opts *o, pb_config *unused) {
  (void)unused;
  if (pb_cli_opt(o, "model")) return info_model(o);
  if (pb_cli_opt(o, "data")) return info_data(o);
  printf("plumb %s\n", PLUMB_VERSION);
  printf("compiler: %s, C11%s\n", PLUMB_C_COMPILER, pb_cuda_built() ? " + CUDA" : "");
  printf("CPU GEMM: %s\n", PLUMB_HAVE_OPENBLAS ? "OpenBLAS" : "built-in blocked kernel");
  printf("TurboJPEG: %s\n", PLUMB_HAVE_TURBOJPEG ? "found at build time" : "not built");
  printf("MPI: %s\n", PLUMB_HAVE_MPI ? "built (data-parallel ranks: plumb train --nproc N, mpirun, srun)"
                                      : "not built (one rank; apt-get install libopenmpi-dev openmpi-bin)");
  printf("NCCL: %s\n", PLUMB_HAVE_NCCL ? "built (gradients of GPU ranks)" : "not built");
  printf("CPU threads available: %d\n", omp_get_num_procs());
  char buf[512];
  pb_cuda_build_info(buf, sizeof buf);
  printf("%s\n", buf);
  char why[256] = "";
  int n = pb_cuda_device_count(why, sizeof why);
  printf("GPUs: %d%s%s\n", n, n ? "" : " — ", n ? "" : why);
  for (int i = 0; i < n; i++) {
    pb_cuda_describe(i, buf, sizeof buf);
    printf("  %s\n", buf);
  }
  return 0;
}

int pb_cmd_config(const pb_cli_opts *o, pb_config *cfg) {
  if (!cfg && o->nset == 0) {
    pb_config_print_reference(stdout);
    return 0;
  }
  pb_config *own = cfg ? NULL : pb_cli_config(o); /* --set without CONFIG: on the defaults */
  if (!cfg && !own) return 2;
  pb_config_dump(cfg ? cfg : own, stdout);
  pb_config_free(own);
  return 0;
}
