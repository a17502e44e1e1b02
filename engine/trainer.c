/* trainer.c: micro-batch training step and evaluation forward (trainer.h). */
#include "engine/trainer.h"

#include <string.h>

#include "kernels/ops.h"

int pb_trainer_init(pb_trainer *t, pb_model *m, const pb_config *cfg, int64_t steps_per_epoch, int epochs,
                    pb_err *err) {
  memset(t, 0, sizeof *t);
  t->model = m;
  t->accum_steps = (int)pb_config_int(cfg, "train", "accum_steps");
  t->clip = pb_config_float(cfg, "train", "clip_grad_norm");
  t->smoothing = (float)pb_config_float(cfg, "train", "label_smoothing");
  t->bce = !strcmp(pb_config_str(cfg, "train", "loss"), "bce");
  if (t->bce && t->smoothing > 0)
    return pb_err_set(err, "[train] label_smoothing applies to loss = ce only (loss = bce was set)");
  t->steps_per_epoch = steps_per_epoch;
  t->total_steps = steps_per_epoch * epochs;

  pb_optim_cfg oc;
  memset(&oc, 0, sizeof oc);
  const char *name = pb_config_str(cfg, "optim", "name");
  oc.kind = !strcmp(name, "sgd") ? PB_OPT_SGD : !strcmp(name, "adam") ? PB_OPT_ADAM : PB_OPT_ADAMW;
  oc.momentum = (float)pb_config_float(cfg, "optim", "momentum");
  oc.dampening = (float)pb_config_float(cfg, "optim", "dampening");
  oc.nesterov = pb_config_bool(cfg, "optim", "nesterov");
  oc.weight_decay = (float)pb_config_float(cfg, "optim", "weight_decay");
  oc.beta1 = (float)pb_config_float(cfg, "optim", "beta1");
  oc.beta2 = (float)pb_config_float(cfg, "optim", "beta2");
  oc.eps = (float)pb_config_float(cfg, "optim", "eps");
  if (oc.kind == PB_OPT_SGD && oc.nesterov && (oc.momentum <= 0 || oc.dampening != 0))
    return pb_err_set(err, "[optim] nesterov = true needs momentum > 0 and dampening = 0 (as torch.optim.SGD)");
  pb_optim_init(&t->opt, &oc, m->nparams);

  pb_sched_cfg *s = &t->sched;
  memset(s, 0, sizeof *s);
  const char *sn = pb_config_str(cfg, "schedule", "name");
  s->kind = !strcmp(sn, "constant") ? PB_SCHED_CONSTANT
            : !strcmp(sn, "step")   ? PB_SCHED_STEP
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
  s->min_lr = pb_config_float(cfg, "schedule", "min_lr");
  s->warmup_steps = pb_config_int(cfg, "schedule", "warmup_steps");

  const int *out = pb_model_out(m);
  size_t k = (size_t)out[0] * out[1] * out[2];
  t->dlogits = pb_amalloc((size_t)m->max_n * k * sizeof(float));
  t->targets = pb_amalloc((size_t)m->max_n * k * sizeof(float));
  pb_model_zero_grad(m);
  return PB_OK;
}

void pb_trainer_free(pb_trainer *t) {
  if (!t) return;
  pb_optim_free(&t->opt);
  pb_afree(t->dlogits);
  pb_afree(t->targets);
  t->dlogits = t->targets = NULL;
}

static double loss_and_grad(pb_trainer *t, const float *logits, const int32_t *y, int n, float scale, float *dlogits) {
  const int *out = pb_model_out(t->model);
  int k = out[0] * out[1] * out[2];
  float loss = 0;
  if (t->bce) {
    memset(t->targets, 0, (size_t)n * k * sizeof(float));
    for (int i = 0; i < n; i++) t->targets[(size_t)i * k + y[i]] = 1.0f;
    /* BCE averages over classes too, as nn.BCEWithLogitsLoss(reduction='mean'). */
    pb_bce_logits_cpu(&loss, dlogits, logits, t->targets, n, k, scale / (float)k);
    return (double)loss / k;
  }
  pb_softmax_xent_cpu(&loss, NULL, dlogits, logits, y, n, k, t->smoothing, scale);
  return loss;
}

static void predict(const float *logits, int n, int k, int32_t *pred) {
  for (int i = 0; i < n; i++) {
    const float *r = logits + (size_t)i * k;
    int32_t b = 0;
    for (int j = 1; j < k; j++)
      if (r[j] > r[b]) b = j;
    pred[i] = b;
  }
}

double pb_trainer_micro(pb_trainer *t, const float *x, const int32_t *y, int n, int32_t *pred, int step_now) {
  pb_model *m = t->model;
  const int *out = pb_model_out(m);
  int k = out[0] * out[1] * out[2];
  float *logits = pb_model_forward(m, x, n, 1);
  if (pred) predict(logits, n, k, pred);
  double loss = loss_and_grad(t, logits, y, n, 1.0f / ((float)n * (float)t->accum_steps), t->dlogits);
  pb_model_backward(m, t->dlogits, n);
  t->micro++;
  if (step_now || t->micro >= t->accum_steps) {
    t->grad_norm = pb_clip_grad_norm(m->grads, m->nparams, t->clip);
    t->lr = pb_sched_lr(&t->sched, t->opt.step, t->steps_per_epoch, t->total_steps);
    pb_optim_step(&t->opt, m->params, m->grads, (float)t->lr);
    pb_model_zero_grad(m);
    t->micro = 0;
  }
  return loss;
}

double pb_trainer_eval(pb_trainer *t, const float *x, const int32_t *y, int n, int32_t *pred) {
  pb_model *m = t->model;
  const int *out = pb_model_out(m);
  int k = out[0] * out[1] * out[2];
  float *logits = pb_model_forward(m, x, n, 0);
  if (pred) predict(logits, n, k, pred);
  return loss_and_grad(t, logits, y, n, 1.0f, NULL);
}
