/* optim.h: optimizers over the contiguous parameter block, learning-rate schedules and
 * gradient-norm clipping. Semantics follow torch.optim exactly (tested against it).
 * Implemented in engine/trainers/optim.c and engine/trainers/schedule.c; the per-element math runs through the
 * context's ops table (sgd_step, adam_step: kernels/cpu/optim.c and its twin kernels/cuda/optim.cu). */
#ifndef PB_OPTIM_H
#define PB_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "engine/device/ctx.h"
#include "kernels/pb_common.h"

typedef enum pb_opt_kind { PB_OPT_SGD, PB_OPT_ADAM, PB_OPT_ADAMW } pb_opt_kind;

typedef struct pb_optim_cfg {
  pb_opt_kind kind;
  float momentum, dampening, weight_decay; /* SGD (weight_decay also Adam/AdamW) */
  int nesterov;
  float beta1, beta2, eps; /* Adam, AdamW */
} pb_optim_cfg;

/* Optimizer state: one contiguous block of nstate*n floats (SGD with momentum: the momentum
 * buffer; Adam/AdamW: exp_avg then exp_avg_sq), and the number of steps taken. */
typedef struct pb_optim {
  pb_optim_cfg cfg;
  size_t n;
  int nstate;
  float *state; /* owned, zero at init, in the context's memory; NULL when nstate or n is 0 */
  int64_t step; /* steps taken so far */
  pb_ctx *ctx;  /* the device of the state, the parameters and the gradients (not owned) */
} pb_optim;

/* State for nparams parameters allocated zeroed in ctx's memory (ctx->ops->alloc); every step
 * then runs through ctx->ops (one fused launch on a GPU). ctx must outlive the optimizer.
 * Fails (PB_ERR) only on out-of-memory, with a message naming the optimizer state. */
int pb_optim_init(pb_optim *o, const pb_optim_cfg *cfg, size_t nparams, pb_ctx *ctx, pb_err *err);
/* Frees the state; NULL and a zeroed pb_optim are fine. */
void pb_optim_free(pb_optim *o);
/* One step at learning rate lr: params[n] updated from grads[n] (grads read only; both in the
 * context's memory); step++. */
void pb_optim_step(pb_optim *o, float *params, const float *grads, float lr);
/* PyTorch's state names, for checkpoints: "momentum_buffer"; "exp_avg", "exp_avg_sq".
 * pb_optim_state(o, i) is the i-th [n] slice of the state block. */
const char *pb_optim_state_name(const pb_optim *o, int i);
float *pb_optim_state(const pb_optim *o, int i);

/* torch.nn.utils.clip_grad_norm_ over one flat HOST block (a helper for host arrays: tests,
 * tools; a trainer clips through ctx->ops->sumsq and clip_scale): total L2 norm (in double);
 * when max_norm > 0 and the norm exceeds it, grads *= max_norm / (norm + 1e-6).
 * Returns the norm before clipping. */
double pb_clip_grad_norm(float *grads, size_t n, double max_norm);

typedef enum pb_sched_kind { PB_SCHED_CONSTANT, PB_SCHED_STEP, PB_SCHED_MULTISTEP, PB_SCHED_COSINE } pb_sched_kind;

#define PB_SCHED_MAX_MILESTONES 64

typedef struct pb_sched_cfg {
  pb_sched_kind kind;
  double base_lr;
  int per_step;       /* 0: the schedule advances once per epoch (PyTorch's usual
                         scheduler.step() per epoch); 1: once per optimizer step */
  int64_t step_size;  /* StepLR period, in the schedule's unit */
  double gamma;       /* StepLR / MultiStepLR factor */
  int64_t milestones[PB_SCHED_MAX_MILESTONES];
  int nmilestones;
  double factors[PB_SCHED_MAX_MILESTONES]; /* multistep: lr is multiplied by factors[i] at
                                              milestone i (0 factors = gamma at each) */
  int nfactors;       /* 0 or nmilestones */
  double min_lr;      /* CosineAnnealingLR eta_min; T_max = total length in the unit */
  int64_t warmup_steps; /* linear warmup over the first warmup_steps OPTIMIZER steps:
                           lr *= (step+1)/warmup_steps; 0 = none */
} pb_sched_cfg;

/* Learning rate for optimizer step `step` (0-based) given steps_per_epoch and the total
 * number of steps (epochs * steps_per_epoch). Pure function: resuming needs no state. */
double pb_sched_lr(const pb_sched_cfg *s, int64_t step, int64_t steps_per_epoch, int64_t total_steps);

#endif
