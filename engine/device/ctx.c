/* ctx.c: device selection, the choice of the ops table (engine/device/backend.h) and the CPU thread
 * pool settings (ctx.h). The memory functions are thin wrappers over the table. */
#include "engine/device/ctx.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "engine/device/backend.h"
#include "engine/device/lowp.h"
#include "engine/config/config.h"
#include "kernels/cuda_device.h"
#include "kernels/ops_cuda.h"
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

/* cuDNN / own-kernel workspace of a GPU context made without a config (the tests); plumb train,
 * eval and bench take [run] cudnn_workspace_mb (default 1024). */
#define PB_CUDA_WORKSPACE_BYTES ((size_t)256 << 20)

static int use_gpu(pb_ctx *ctx, int index, int tf32, const char *how, pb_err *err) {
  ctx->cuda = pb_xcalloc(1, sizeof *ctx->cuda);
  if (pb_cuda_env_init(ctx->cuda, index, ctx->workspace_bytes, ctx->deterministic, tf32, err)) {
    free(ctx->cuda);
    ctx->cuda = NULL;
    return PB_ERR;
  }
  ctx->dev.kind = PB_DEV_CUDA;
  ctx->dev.index = index;
  ctx->ops = &pb_backend_cuda;
  char desc[256];
  pb_cuda_describe(index, desc, sizeof desc);
  snprintf(ctx->why, sizeof ctx->why, "device %s: %s%s", how, desc, tf32 ? "; TF32 allowed" : "");
  return PB_OK;
}

int pb_ctx_init(pb_ctx *ctx, const char *device, int threads, int deterministic, int tf32, pb_err *err) {
  return pb_ctx_init_ws(ctx, device, threads, deterministic, tf32, PB_CUDA_WORKSPACE_BYTES, err);
}

/* [run] precision, with [run] tf32 (older configs): tf32 = false alone means fp32; both set
 * must agree. bf16 / fp16 keep TF32 on: their rounded inputs are exact in TF32. */
static int precision_of(const pb_config *cfg, int *prec, int *tf32, pb_err *err) {
  *prec = pb_config_enum(cfg, "run", "precision");
  *tf32 = pb_config_bool(cfg, "run", "tf32");
  int pset = pb_config_is_set(cfg, "run", "precision"), tset = pb_config_is_set(cfg, "run", "tf32");
  if (!pset && tset && !*tf32) *prec = PB_PREC_FP32;
  if (pset && tset && ((*prec == PB_PREC_TF32 && !*tf32) || (*prec == PB_PREC_FP32 && *tf32)))
    return pb_err_set(err, "[run] precision = %s and [run] tf32 = %s contradict each other: precision decides, drop tf32",
                      pb_precision_name(*prec), *tf32 ? "true" : "false");
  *tf32 = *prec != PB_PREC_FP32;
  return PB_OK;
}

int pb_ctx_init_cfg(pb_ctx *ctx, const pb_config *cfg, pb_err *err) {
  return pb_ctx_init_cfg_on(ctx, cfg, pb_config_str(cfg, "run", "device"), (int)pb_config_int(cfg, "run", "threads"),
                            err);
}

int pb_ctx_init_cfg_on(pb_ctx *ctx, const pb_config *cfg, const char *device, int threads, pb_err *err) {
  int prec, tf32;
  if (precision_of(cfg, &prec, &tf32, err)) return PB_ERR;
  if (pb_ctx_init_ws(ctx, device, threads, pb_config_bool(cfg, "run", "deterministic"), tf32,
                     (size_t)pb_config_int(cfg, "run", "cudnn_workspace_mb") << 20, err))
    return PB_ERR;
  ctx->precision = prec;
  ctx->nhwc = pb_config_enum(cfg, "run", "layout") == 1;
  const int fb = pb_config_enum(cfg, "run", "fused_bn_train"); /* auto | true | false */
  ctx->fused_bn = fb == 1 || (fb == 0 && !ctx->cuda);
  if (ctx->fused_bn && ctx->cuda && ctx->workspace_bytes < ((size_t)1 << 20)) {
    pb_ctx_free(ctx); /* the fused kernels keep their per-channel sums in the workspace */
    return pb_err_set(err, "[run] fused_bn_train = true on a GPU needs [run] cudnn_workspace_mb >= 1 (its per-channel "
                           "sums live in the workspace)");
  }
  if (ctx->nhwc) {
    size_t len = strlen(ctx->why);
    snprintf(ctx->why + len, sizeof ctx->why - len, "; layout nhwc");
  }
  if (ctx->fused_bn && ctx->cuda) {
    size_t len = strlen(ctx->why);
    snprintf(ctx->why + len, sizeof ctx->why - len, "; fused training batch norm");
  }
  if (prec == PB_PREC_BF16 || prec == PB_PREC_FP16) {
    pb_lowp_enable(ctx, prec, (float)pb_config_float(cfg, "run", "loss_scale_init"),
                   pb_config_int(cfg, "run", "loss_scale_interval"));
    size_t len = strlen(ctx->why);
    snprintf(ctx->why + len, sizeof ctx->why - len, "; precision %s (rounded on float32 storage%s)",
             pb_precision_name(prec), prec == PB_PREC_FP16 ? ", dynamic loss scaling" : "");
  } else if (prec == PB_PREC_FP32 && ctx->cuda) {
    size_t len = strlen(ctx->why);
    snprintf(ctx->why + len, sizeof ctx->why - len, "; precision fp32 (TF32 off)");
  }
  return PB_OK;
}

int pb_ctx_init_ws(pb_ctx *ctx, const char *device, int threads, int deterministic, int tf32,
                   size_t workspace_bytes, pb_err *err) {
  memset(ctx, 0, sizeof *ctx);
  ctx->ops = &pb_backend_cpu; /* until a GPU environment is up (use_gpu) */
  ctx->deterministic = deterministic;
  ctx->workspace_bytes = workspace_bytes;
  ctx->nthreads = threads > 0 ? threads : omp_get_num_procs();
  if (ctx->nthreads < 1) ctx->nthreads = 1;
  omp_set_num_threads(ctx->nthreads);
  pb_cpu_blas_init();

  char why[200] = "";
  int ngpu = pb_cuda_device_count(why, sizeof why);
  if (!strcmp(device, "auto")) {
    ctx->dev.kind = PB_DEV_CPU;
    if (ngpu > 0) return use_gpu(ctx, 0, tf32, "auto", err);
    {
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
  return use_gpu(ctx, index, tf32, device, err);
}

void pb_ctx_free(pb_ctx *ctx) {
  if (!ctx) return;
  if (ctx->lowp) { /* before the device goes: its rounding memory is on it */
    pb_lowp *l = ctx->lowp;
    l->base->free(ctx, l->tmp);
    ctx->ops = l->base;
    free(l);
    ctx->lowp = NULL;
  }
  if (ctx->cuda) {
    pb_cuda_env_free(ctx->cuda);
    free(ctx->cuda);
    ctx->cuda = NULL;
  }
  pb_afree(ctx->scratch);
  ctx->scratch = NULL;
  ctx->scratch_floats = 0;
}

float *pb_ctx_reserve_scratch(pb_ctx *ctx, size_t floats) {
  if (ctx->dev.kind != PB_DEV_CPU) return NULL; /* GPU ops use ctx->cuda's workspace */
  if (floats > ctx->scratch_floats) {
    pb_afree(ctx->scratch);
    ctx->scratch = pb_amalloc(floats * sizeof(float));
    ctx->scratch_floats = floats;
  }
  return ctx->scratch;
}

void *pb_ctx_alloc(pb_ctx *ctx, size_t bytes, const char *what, pb_err *err) {
  return ctx->ops->alloc(ctx, bytes, what, err);
}

void pb_ctx_free_mem(pb_ctx *ctx, void *p) { ctx->ops->free(ctx, p); }

void pb_ctx_upload(pb_ctx *ctx, void *dev_dst, const void *host_src, size_t bytes) {
  ctx->ops->upload(ctx, dev_dst, host_src, bytes);
}

void pb_ctx_download(pb_ctx *ctx, void *host_dst, const void *dev_src, size_t bytes) {
  ctx->ops->download(ctx, host_dst, dev_src, bytes);
}

void pb_ctx_zero(pb_ctx *ctx, void *dev_dst, size_t bytes) { ctx->ops->zero(ctx, dev_dst, bytes); }
