/* optim.c: optimizers over the contiguous parameter block and gradient-norm clipping
 * (engine/trainers/optim.h), on the context's device through its ops table (engine/device/backend.h). The
 * per-element math is kernels/cpu/optim.c and its twin kernels/cuda/optim.cu; this file owns
 * the state block and the step count. */
#include "engine/trainers/optim.h"

#include <math.h>
#include <string.h>

#include "engine/device/backend.h"
#include "kernels/ops.h"
#include "kernels/pb_common.h"

/* Number of [n] state slices per kind, in PyTorch's state_dict order. SGD without momentum
 * keeps no state (PyTorch stores momentum_buffer = None). */
static int pb_optim_nstate(const pb_optim_cfg *cfg) {
  switch (cfg->kind) {
    case PB_OPT_SGD: return cfg->momentum != 0.0f ? 1 : 0;
    case PB_OPT_ADAM:
    case PB_OPT_ADAMW: return 2;
  }
  PB_FATAL("unknown optimizer kind %d", (int)cfg->kind);
}

int pb_optim_init(pb_optim *o, const pb_optim_cfg *cfg, size_t nparams, pb_ctx *ctx, pb_err *err) {
  memset(o, 0, sizeof *o);
  o->cfg = *cfg;
  o->n = nparams;
  o->nstate = pb_optim_nstate(cfg);
  o->ctx = ctx;
  o->step = 0;
  if (o->nstate > 0 && nparams > 0) {
    o->state = ctx->ops->alloc(ctx, (size_t)o->nstate * nparams * sizeof(float), "the optimizer state", err);
    if (!o->state) return PB_ERR;
  }
  return PB_OK;
}

void pb_optim_free(pb_optim *o) {
  if (!o) return;
  if (o->ctx) o->ctx->ops->free(o->ctx, o->state);
  o->state = NULL;
  o->nstate = 0;
  o->n = 0;
}

void pb_optim_step(pb_optim *o, float *params, const float *grads, float lr) {
  const pb_optim_cfg *c = &o->cfg;
  switch (c->kind) {
    case PB_OPT_SGD: {
      const pb_sgd_params p = {.lr = lr, .momentum = c->momentum, .dampening = c->dampening,
                               .weight_decay = c->weight_decay, .nesterov = c->nesterov};
      /* PyTorch initialises the buffer on the first step it sees, i.e. when step == 0 (a
       * resumed run restores step together with the buffer). */
      o->ctx->ops->sgd_step(o->ctx, params, o->state, grads, o->n, &p, o->step == 0);
      break;
    }
    case PB_OPT_ADAM:
    case PB_OPT_ADAMW: {
      const pb_adam_params p = {.lr = lr, .beta1 = c->beta1, .beta2 = c->beta2, .eps = c->eps,
                                .weight_decay = c->weight_decay,
                                .decoupled = c->kind == PB_OPT_ADAMW, .step = o->step + 1};
      o->ctx->ops->adam_step(o->ctx, params, pb_optim_state(o, 0), pb_optim_state(o, 1), grads, o->n, &p);
      break;
    }
    default: PB_FATAL("unknown optimizer kind %d", (int)c->kind);
  }
  o->step++;
}

const char *pb_optim_state_name(const pb_optim *o, int i) {
  PB_ASSERT(i >= 0 && i < o->nstate);
  if (o->cfg.kind == PB_OPT_SGD) return "momentum_buffer";
  return i == 0 ? "exp_avg" : "exp_avg_sq";
}

float *pb_optim_state(const pb_optim *o, int i) {
  PB_ASSERT(i >= 0 && i < o->nstate);
  return o->state ? o->state + (size_t)i * o->n : NULL;
}

double pb_clip_grad_norm(float *grads, size_t n, double max_norm) {
  const double sumsq = pb_sumsq_cpu(grads, n);
  pb_clip_scale_cpu(grads, n, &sumsq, max_norm);
  return sqrt(sumsq);
}
