/* learner.c: a model with its optimizer, schedule, accumulation and clipping (trainer.h). */
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include "engine/device/backend.h"
#include "engine/device/lowp.h"
#include "engine/trainers/trainer.h"

#include <stdio.h>

#include "engine/dist/dist.h"

static int optim_cfg(const pb_config *cfg, pb_optim_cfg *oc, pb_err *err) {
  memset(oc, 0, sizeof *oc);
  const char *name = pb_config_str(cfg, "optim", "name");
  oc->kind = !strcmp(name, "sgd") ? PB_OPT_SGD : !strcmp(name, "adam") ? PB_OPT_ADAM : PB_OPT_ADAMW;
  oc->momentum = (float)pb_config_float(cfg, "optim", "momentum");
  oc->dampening = (float)pb_config_float(cfg, "optim", "dampening");
  oc->nesterov = pb_config_bool(cfg, "optim", "nesterov");
  oc->weight_decay = (float)pb_config_float(cfg, "optim", "weight_decay");
  oc->beta1 = (float)pb_config_float(cfg, "optim", "beta1");
  oc->beta2 = (float)pb_config_float(cfg, "optim", "beta2");
  oc->eps = (float)pb_config_float(cfg, "optim", "eps");
  if (oc->kind == PB_OPT_SGD && oc->nesterov && (oc->momentum <= 0 || oc->dampening != 0))
    return pb_err_set(err, "[optim] nesterov = true needs momentum > 0 and dampening = 0 (as torch.optim.SGD)");
  return PB_OK;
}

static int sched_cfg(const pb_config *cfg, pb_sched_cfg *s, pb_err *err) {
  memset(s, 0, sizeof *s);
  const char *sn = pb_config_str(cfg, "schedule", "name");
  s->kind = !strcmp(sn, "constant")    ? PB_SCHED_CONSTANT
            : !strcmp(sn, "step")      ? PB_SCHED_STEP
            : !strcmp(sn, "multistep") ? PB_SCHED_MULTISTEP
                                       : PB_SCHED_COSINE;
  s->base_lr = pb_config_float(cfg, "optim", "lr");
  s->per_step = !strcmp(pb_config_str(cfg, "schedule", "unit"), "step");
  s->step_size = pb_config_int(cfg, "schedule", "step_size");
  s->gamma = pb_config_float(cfg, "schedule", "gamma");
  long ms[PB_CFG_LIST_MAX];
  int nms = pb_config_ints(cfg, "schedule", "milestones", ms, PB_CFG_LIST_MAX);
  if (s->kind == PB_SCHED_MULTISTEP && nms == 0)
    return pb_err_set(err, "[schedule] name = multistep needs milestones (e.g. milestones = 30,60)");
  for (int i = 0; i < nms; i++) {
    if (i > 0 && ms[i] <= ms[i - 1])
      return pb_err_set(err, "[schedule] milestones must increase (%ld follows %ld)", ms[i], ms[i - 1]);
    s->milestones[i] = ms[i];
  }
  s->nmilestones = nms;
  s->nfactors = pb_config_floats(cfg, "schedule", "factors", s->factors, PB_SCHED_MAX_MILESTONES);
  if (s->nfactors && s->nfactors != nms)
    return pb_err_set(err, "[schedule] factors has %d values but milestones %d: one factor per milestone",
                      s->nfactors, nms);
  s->min_lr = pb_config_float(cfg, "schedule", "min_lr");
  s->warmup_steps = pb_config_int(cfg, "schedule", "warmup_steps");
  return PB_OK;
}

int pb_learner_init(pb_learner *l, pb_model *m, const pb_config *cfg, int64_t steps_per_epoch, int epochs,
                    pb_err *err) {
  memset(l, 0, sizeof *l);
  l->model = m;
  l->accum_steps = (int)pb_config_int(cfg, "train", "accum_steps");
  l->clip = pb_config_float(cfg, "train", "clip_grad_norm");
  l->steps_per_epoch = steps_per_epoch;
  l->total_steps = steps_per_epoch * epochs;
  pb_optim_cfg oc;
  if (optim_cfg(cfg, &oc, err) || sched_cfg(cfg, &l->sched, err)) return PB_ERR;
  if (m->infer_only) return PB_OK; /* evaluation only: no optimizer state, no gradients */
  pb_ctx *c = m->ctx;
  const int *out = pb_model_out(m);
  size_t nk = (size_t)m->max_n * out[0] * out[1] * out[2];
  if (pb_optim_init(&l->opt, &oc, m->nparams, c, err) ||
      !(l->dout = c->ops->alloc(c, nk * sizeof(float), "the logit gradients", err)) ||
      !(l->sumsq = c->ops->alloc(c, sizeof(double), "the gradient norm", err))) {
    pb_learner_free(l);
    return PB_ERR;
  }
  pb_model_zero_grad(m);
  if (pb_guard_init(l, cfg, err)) {
    pb_learner_free(l);
    return PB_ERR;
  }
  return PB_OK;
}

void pb_learner_overlap(pb_learner *l, const pb_config *cfg) {
  const pb_dist *w = pb_dist_world();
  pb_model *m = l->model;
  double mb = pb_config_float(cfg, "dist", "bucket_mb");
  if (m->infer_only || m->ctx->dev.kind != PB_DEV_CUDA || (w->size == 1 && !w->forced) || l->accum_steps != 1 ||
      !(mb > 0))
    return;
  pb_dist_bucket *b = pb_xcalloc(1, sizeof *b);
  b->ctx = m->ctx, b->grads = m->grads, b->n = b->sent_lo = m->nparams;
  b->bucket = PB_MAX((size_t)(mb * 1e6 / sizeof(float)), 1);
  l->bucket = b;
  m->grads_ready = pb_dist_bucket_ready, m->grads_ready_user = b;
}

void pb_learner_free(pb_learner *l) {
  if (!l || !l->model) return;
  if (l->bucket) l->model->grads_ready = NULL, l->model->grads_ready_user = NULL;
  free(l->bucket);
  pb_ctx *c = l->model->ctx;
  pb_optim_free(&l->opt);
  pb_guard_free(l);
  c->ops->free(c, l->dout);
  c->ops->free(c, l->sumsq);
  memset(l, 0, sizeof *l);
}

void pb_learner_step(pb_learner *l) {
  pb_model *m = l->model;
  pb_ctx *c = m->ctx;
  const pb_dist *w = pb_dist_world();
  if (w->size > 1 || w->forced) { /* data-parallel: the mean of the ranks' gradients (engine/dist/dist.h) */
    pb_err e = {{0}};
    float scale = 1.0f / (float)w->size;
    if (l->bucket ? pb_dist_bucket_finish(l->bucket, scale, "the gradients", &e)
                  : pb_dist_allreduce_grads(c, m->grads, m->nparams, scale, "the gradients", &e)) {
      fprintf(stderr, "plumb: rank %d: error: %s\n", w->rank, e.msg);
      pb_dist_abort(1);
    }
  }
  pb_lowp *lp = c->lowp;
  if (lp && lp->scaling) { /* fp16 (lowp.h): an overflow skips the step; else the gradients lose S */
    double ss = 0;
    c->ops->sumsq(c, l->sumsq, m->grads, m->nparams);
    c->ops->download(c, &ss, l->sumsq, sizeof ss);
    /* non-finite at a scale of 2^-24 is no overflow of S but a NaN / infinity of the model's own:
     * the non-finite guard ([run] on_nonfinite) takes it, instead of halving S for ever */
    if (!isfinite(ss) && lp->scale > 0x1p-24f) {
      lp->overflow = 1;
      lp->skipped++;
      pb_model_zero_grad(m);
      l->micro = 0;
      return;
    }
    c->ops->scale(c, m->grads, 1.0f / lp->scale, m->nparams);
  }
  if (pb_guard_check(l)) { /* a non-finite gradient: no step (guard.c) */
    l->micro = 0;
    return;
  }
  if (l->clip > 0) { /* clip_grad_norm_ without a host round trip (the guard computed sumsq) */
    if (!l->guard) c->ops->sumsq(c, l->sumsq, m->grads, m->nparams);
    c->ops->clip_scale(c, m->grads, m->nparams, l->sumsq, l->clip);
  }
  l->lr = pb_learner_lr_at(l, l->opt.step);
  pb_optim_step(&l->opt, m->params, m->grads, (float)l->lr);
  pb_model_zero_grad(m);
  l->micro = 0;
}

double pb_learner_lr_at(const pb_learner *l, int64_t step) {
  if (step < l->const_steps) return l->sched.base_lr;
  return pb_sched_lr(&l->sched, step - l->const_steps, l->steps_per_epoch, l->total_steps);
}

int pb_learner_end_micro(pb_learner *l, int step_now) {
  l->micro++;
  if (step_now || l->micro >= l->accum_steps) {
    pb_learner_step(l);
    return 1;
  }
  return 0;
}
