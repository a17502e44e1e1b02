/* ctx.c: device selection and the CPU thread pool settings (ctx.h). */
#include "engine/ctx.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda_device.h"
#include "kernels/ops.h"

static int parse_device(const char *s, int *is_cuda, int *index) {
  *index = 0;
  if (!strcmp(s, "cpu")) {
    *is_cuda = 0;
    return 0;
  }
  if (!strcmp(s, "cuda")) {
    *is_cuda = 1;
    return 0;
  }
  if (!strncmp(s, "cuda:", 5) && s[5]) {
    char *end;
    long v = strtol(s + 5, &end, 10);
    if (*end || v < 0 || v > 1023) return -1;
    *is_cuda = 1;
    *index = (int)v;
    return 0;
  }
  return -1;
}

int pb_ctx_init(pb_ctx *ctx, const char *device, int threads, int deterministic, pb_err *err) {
  memset(ctx, 0, sizeof *ctx);
  ctx->deterministic = deterministic;
  ctx->nthreads = threads > 0 ? threads : omp_get_num_procs();
  if (ctx->nthreads < 1) ctx->nthreads = 1;
  omp_set_num_threads(ctx->nthreads);
  pb_cpu_blas_init();

  char why[200] = "";
  int ngpu = pb_cuda_device_count(why, sizeof why);
  if (!strcmp(device, "auto")) {
    ctx->dev.kind = PB_DEV_CPU;
    if (ngpu > 0) {
      /* The CUDA ops are the CUDA backend's work (issue 3); until they exist the GPU is not
       * used, and the log says so rather than pretending. */
      snprintf(ctx->why, sizeof ctx->why,
               "device auto: %d GPU(s) present, but this build has no CUDA ops yet; using the CPU (%d threads)",
               ngpu, ctx->nthreads);
    } else {
      snprintf(ctx->why, sizeof ctx->why, "device auto: no GPU (%s); using the CPU (%d threads)", why,
               ctx->nthreads);
    }
    return PB_OK;
  }
  int is_cuda, index;
  if (parse_device(device, &is_cuda, &index))
    return pb_err_set(err, "[run] device = %s is not one of auto, cpu, cuda, cuda:N", device);
  if (!is_cuda) {
    ctx->dev.kind = PB_DEV_CPU;
    snprintf(ctx->why, sizeof ctx->why, "device cpu: using the CPU (%d threads)", ctx->nthreads);
    return PB_OK;
  }
  if (ngpu == 0) return pb_err_set(err, "[run] device = %s, but no GPU is usable: %s", device, why);
  if (index >= ngpu)
    return pb_err_set(err, "[run] device = %s, but only %d GPU(s) are present (cuda:0..cuda:%d)", device,
                      ngpu, ngpu - 1);
  return pb_err_set(err, "[run] device = %s: the CUDA training path is not implemented in this build yet "
                         "(the CUDA backend issue); use device = cpu or auto", device);
}

void pb_ctx_free(pb_ctx *ctx) {
  if (!ctx) return;
  pb_afree(ctx->scratch);
  ctx->scratch = NULL;
  ctx->scratch_floats = 0;
}

float *pb_ctx_reserve_scratch(pb_ctx *ctx, size_t floats) {
  if (floats > ctx->scratch_floats) {
    pb_afree(ctx->scratch);
    ctx->scratch = pb_amalloc(floats * sizeof(float));
    ctx->scratch_floats = floats;
  }
  return ctx->scratch;
}
