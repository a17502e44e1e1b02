/* lowp.h: [run] precision = bf16 | fp16, mixed precision on any device: the ops table of a
 * context with the rounding of a low-precision format laid over its device's table
 * (engine/device/backend_lowp.c), and fp16's dynamic loss scaling.
 *
 * What is rounded (round to nearest even, kernels/pb_half.h; fp16 overflows to infinity): every
 * activation and activation gradient, as a half-precision tensor would hold it. Each op of the
 * table that reads or writes them rounds its activation inputs IN PLACE (idempotent: what a
 * rounded op wrote is unchanged; a residual sum or a gradient sum the plain adds left in float32
 * is rounded where it is next read, which is what storing it in half precision would have given)
 * and its outputs. Convolution, linear and LSTM weights and biases are rounded COPIES of the
 * float32 masters for each call, and each call's weight gradient is rounded before it is added
 * to the float32 gradient (AMP's cast weights). Float32 stays: the parameters and their
 * gradients, batch norm's parameters and statistics, the loss and its softmax, the optimizer,
 * the HSIC / triplet / debiasing sums (computed from rounded inputs). Ops that are one library
 * call on a GPU (cuDNN's LSTM) round at their boundaries only.
 *
 * This is the precision's NUMERICS on float32 storage: the CPU reference of the GPU's half-
 * precision path (issue 16), and on a GPU the same arithmetic (conv / GEMM inputs in half
 * precision are exact in TF32, so the tensor cores multiply exactly what a half-precision
 * kernel would), not yet its speed: storage stays float32 and the rounding is extra passes.
 *
 * fp16's dynamic loss scaling (as torch.cuda.amp.GradScaler with its defaults): every gradient
 * a loss or a penalty starts (the ops' grad_scale) is multiplied by S before it is rounded;
 * before an optimizer step the learner checks its gradients (one read: their sum of squares);
 * non-finite -> the step is skipped, counted and logged; else they are divided by S. After the
 * training step S halves if any learner skipped, and doubles after `interval` good steps in a
 * row. S, the run of good steps and the skipped count are saved in checkpoints. Non-finite once
 * S is down to 2^-24 is the model's own NaN, not an overflow: [run] on_nonfinite takes it. */
#ifndef PB_LOWP_H
#define PB_LOWP_H

#include <stddef.h>
#include <stdint.h>

#include "engine/device/backend.h"

enum { PB_PREC_TF32 = 0, PB_PREC_FP32, PB_PREC_BF16, PB_PREC_FP16 };

typedef struct pb_lowp {
  pb_backend table;       /* ctx->ops: the device's entries with the rounding ones over them */
  const pb_backend *base; /* the device's own table */
  int fmt;                /* PB_PREC_BF16 or PB_PREC_FP16 */
  float *tmp;             /* the context's memory: rounded weight copies, weight-gradient parts */
  size_t tmp_floats;      /* 4 x the largest weight run reserved (pb_lowp_reserve) */
  size_t w_floats;        /* that largest run */
  /* fp16's loss scale */
  int scaling;            /* 1: dynamic loss scaling (fp16) */
  float scale;            /* S */
  int64_t interval;       /* good steps before S doubles */
  int64_t good;           /* good steps in a row since S last changed */
  int64_t skipped;        /* steps skipped for an overflow, in all */
  int overflow;           /* a learner skipped in this training step */
} pb_lowp;

/* Lays precision fmt (PB_PREC_BF16 / FP16) over ctx's table (ctx->ops then points into it; the
 * state is ctx->lowp, freed by pb_ctx_free). scale0, interval: fp16's initial loss scale and
 * growth interval (ignored for bf16). */
void pb_lowp_enable(pb_ctx *ctx, int fmt, float scale0, int64_t interval);
/* Makes the rounding memory hold weight runs of `floats` (while building models, never in a
 * step). No low precision: nothing. Out of memory: PB_ERR naming it. */
int pb_lowp_reserve(pb_ctx *ctx, size_t floats, pb_err *err);
/* The loss scale S (1 without fp16 scaling). */
float pb_lowp_scale(const pb_ctx *ctx);
/* After the training step (every learner stepped or skipped): S halves on an overflow, doubles
 * after `interval` good steps. Returns 1 when the step overflowed (the caller logs it). */
int pb_lowp_update(pb_ctx *ctx);
/* "bf16", "fp16", ... for the log. */
const char *pb_precision_name(int prec);

#endif
