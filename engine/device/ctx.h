/* ctx.h: pb_ctx, the device context: which device runs the ops, the CPU thread count,
 * and (with CUDA) the stream, library handles and workspace. Device choice happens here and
 * nowhere else: pb_ctx_init* picks the ops table (engine/device/backend.h) that everything above the
 * context calls through. Implemented in engine/device/ctx.c. */
#ifndef PB_CTX_H
#define PB_CTX_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/pb_common.h"

struct pb_backend; /* engine/device/backend.h */

typedef enum pb_device_kind { PB_DEV_CPU, PB_DEV_CUDA } pb_device_kind;

typedef struct pb_device {
  pb_device_kind kind;
  int index; /* GPU ordinal; 0 for the CPU */
} pb_device;

struct pb_cuda_env; /* kernels/ops_cuda.h: only the CUDA ops table looks inside */

typedef struct pb_ctx {
  const struct pb_backend *ops; /* the ops table of this device: &pb_backend_cpu or &pb_backend_cuda */
  pb_device dev;
  int nthreads;      /* CPU threads for ops (OpenMP), >= 1 */
  int deterministic; /* restrict to deterministic algorithms (CUDA; the CPU always is) */
  char why[256];     /* one line: which device was chosen and why (for the log) */
  float *scratch;    /* host scratch shared by ops, grown at model build, never in a step */
  size_t scratch_floats;
  struct pb_cuda_env *cuda; /* the GPU environment; NULL when running on the CPU */
  size_t workspace_bytes; /* cuDNN workspace asked for on a GPU */
  /* HOST int32 [n]: the sequence lengths (1..T) of the batch the models run now (float32
   * [N, T, D] data with lengths), set by whoever stages the batch; NULL = every sample has T
   * steps. Read by sequence layers (layer.h) in forward and backward. */
  const int32_t *seq_lengths;
  int precision;  /* [run] precision: PB_PREC_* (engine/device/lowp.h) */
  void *lowp;     /* struct pb_lowp when precision is bf16 / fp16 (ops then points into it), else NULL */
  int fused_bn;   /* [run] fused_bn_train resolved: 1 = layers use bn_fwd_train_fused / bn_bwd_fused
                     (engine/layers/layer.h pb_batchnorm_train); pb_ctx_init* leave it 0 */
  int nhwc;       /* [run] layout = nhwc: image layers keep activations channels last (ops.h "layout");
                     read by the layers when they call their ops, and by models when they are built */
} pb_ctx;

/* device: "auto" | "cpu" | "cuda" | "cuda:N". threads: 0 = all cores.
 * Errors (bad input): an unparsable device, "cuda" on a machine or build without a GPU
 * (the message says which), an ordinal beyond the GPUs present. */
int pb_ctx_init(pb_ctx *ctx, const char *device, int threads, int deterministic, int tf32, pb_err *err);
/* The same with the cuDNN workspace size (pb_ctx_init: 256 MiB). */
int pb_ctx_init_ws(pb_ctx *ctx, const char *device, int threads, int deterministic, int tf32,
                   size_t workspace_bytes, pb_err *err);
/* From [run] device, threads, deterministic, precision (with tf32) and cudnn_workspace_mb; bf16 /
 * fp16 lay the rounding table over the device's (engine/device/lowp.h). Errors: precision and
 * tf32 set against each other. */
struct pb_config;
int pb_ctx_init_cfg(pb_ctx *ctx, const struct pb_config *cfg, pb_err *err);
/* The same on another device and thread count than [run] device / threads (a data-parallel rank's
 * own GPU or share of the cores); everything else, precision included, from cfg. */
int pb_ctx_init_cfg_on(pb_ctx *ctx, const struct pb_config *cfg, const char *device, int threads, pb_err *err);
void pb_ctx_free(pb_ctx *ctx);
/* Ensures the shared host scratch of the CPU ops holds at least `floats`; call while building
 * models only. A GPU context's ops take their workspace from ctx->cuda instead: there this
 * reserves nothing and returns NULL. */
float *pb_ctx_reserve_scratch(pb_ctx *ctx, size_t floats);

/* Memory on the context's device, through its ops table (ctx->ops->alloc, free, upload,
 * download, zero). Host: 64-byte aligned and zeroed; GPU: zeroed. On out-of-memory returns NULL
 * with err naming `what`, the bytes asked and free. pb_ctx_free_mem(ctx, NULL) is fine. */
void *pb_ctx_alloc(pb_ctx *ctx, size_t bytes, const char *what, pb_err *err);
void pb_ctx_free_mem(pb_ctx *ctx, void *p);
/* Copies between host memory and the context's device (memcpy on the CPU). Downloads wait
 * for the copy to finish; uploads are ordered before later ops on the device. */
void pb_ctx_upload(pb_ctx *ctx, void *dev_dst, const void *host_src, size_t bytes);
void pb_ctx_download(pb_ctx *ctx, void *host_dst, const void *dev_src, size_t bytes);
void pb_ctx_zero(pb_ctx *ctx, void *dev_dst, size_t bytes);

#endif
