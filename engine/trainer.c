/* trainer.c: micro-batch training step and evaluation forward (trainer.h), dispatching the
 * loss, metric and clipping ops to the CPU or the GPU with the model. */
#include "engine/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/ops_cuda.h"

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

  if (m->embed_dim)
    return pb_err_set(err, "[model] embedding_dim = %d: no training or evaluation loss for embeddings exists yet "
                           "(a triplet loss is planned); plumb info and plumb bench --mode infer work on this model, "
                           "or set embedding_dim = 0 to train a classifier",
                      m->embed_dim);
  t->nheads = m->nheads;
  if (t->nheads && t->bce)
    return pb_err_set(err, "[train] loss = bce is for one head; [model] heads trains each head with softmax "
                           "cross-entropy (loss = ce)");
  pb_ctx *c = m->ctx;
  if (m->infer_only) {
    /* evaluation only: no optimizer state */
  } else if (pb_optim_init(&t->opt, &oc, m->nparams, c, err)) {
    return PB_ERR;
  }
  const int *out = pb_model_out(m);
  t->k = out[0] * out[1] * out[2];
  size_t nk = (size_t)m->max_n * t->k, npred = (size_t)m->max_n * PB_MAX(1, t->nheads);
  if ((!m->infer_only && !(t->dlogits = pb_ctx_alloc(c, nk * sizeof(float), "the logit gradients", err))) ||
      (!t->nheads && !(t->targets = pb_ctx_alloc(c, nk * sizeof(float), "the loss targets", err))) ||
      !(t->pred = pb_ctx_alloc(c, npred * sizeof(int32_t), "the predictions", err)) ||
      (t->nheads && !(t->head_loss_acc = pb_ctx_alloc(c, PB_MAX_HEADS * sizeof(float), "the loss", err))) ||
      (t->nheads && !(t->head_correct_acc = pb_ctx_alloc(c, PB_MAX_HEADS * sizeof(int), "the accuracy count", err))) ||
      !(t->loss_tmp = pb_ctx_alloc(c, 16, "the loss", err)) || !(t->loss_acc = pb_ctx_alloc(c, 16, "the loss", err)) ||
      !(t->correct_acc = pb_ctx_alloc(c, 16, "the accuracy count", err)) ||
      !(t->eval_count = pb_ctx_alloc(c, 16, "the accuracy count", err)) ||
      !(t->sumsq = pb_ctx_alloc(c, 16, "the gradient norm", err))) {
    pb_trainer_free(t);
    return PB_ERR;
  }
  t->targets_host = pb_amalloc(nk * sizeof(float));
  t->pred_host = pb_amalloc(npred * sizeof(int32_t));
  if (!m->infer_only) pb_model_zero_grad(m);
  if (t->nheads) {
    static const double zl[PB_MAX_HEADS];
    static const long zc[PB_MAX_HEADS];
    pb_trainer_set_head_stats(t, zl, zc, zc);
  }
  return PB_OK;
}

void pb_trainer_free(pb_trainer *t) {
  if (!t || !t->model) return;
  pb_ctx *c = t->model->ctx;
  pb_optim_free(&t->opt);
  pb_ctx_free_mem(c, t->dlogits);
  pb_ctx_free_mem(c, t->targets);
  pb_ctx_free_mem(c, t->pred);
  pb_ctx_free_mem(c, t->loss_tmp);
  pb_ctx_free_mem(c, t->loss_acc);
  pb_ctx_free_mem(c, t->correct_acc);
  pb_ctx_free_mem(c, t->eval_count);
  pb_ctx_free_mem(c, t->sumsq);
  pb_ctx_free_mem(c, t->head_loss_acc);
  pb_ctx_free_mem(c, t->head_correct_acc);
  pb_afree(t->targets_host);
  pb_afree(t->pred_host);
  memset(t, 0, sizeof *t);
}

/* Loss of n rows into t->loss_tmp (device or host float: the SUM over samples), gradients
 * into dlogits when non-NULL. */
static void loss_and_grad(pb_trainer *t, const float *logits, const int32_t *y, int n, float scale, float *dlogits) {
  pb_cuda_env *g = t->model->ctx->cuda;
  int k = t->k;
  if (t->bce) {
    /* One-hot targets; BCE averages over classes too, as nn.BCEWithLogitsLoss(reduction='mean'). */
    memset(t->targets_host, 0, (size_t)n * k * sizeof(float));
    if (g) {
      pb_ctx_download(t->model->ctx, t->pred_host, y, (size_t)n * sizeof(int32_t));
      for (int i = 0; i < n; i++) t->targets_host[(size_t)i * k + t->pred_host[i]] = 1.0f;
      pb_ctx_upload(t->model->ctx, t->targets, t->targets_host, (size_t)n * k * sizeof(float));
      pb_bce_logits_cuda(t->loss_tmp, dlogits, logits, t->targets, n, k, scale / (float)k, g);
      pb_scale_cuda(t->loss_tmp, 1.0f / (float)k, 1, g);
    } else {
      for (int i = 0; i < n; i++) t->targets_host[(size_t)i * k + y[i]] = 1.0f;
      pb_bce_logits_cpu(t->loss_tmp, dlogits, logits, t->targets_host, n, k, scale / (float)k);
      t->loss_tmp[0] /= (float)k;
    }
    return;
  }
  if (g)
    pb_softmax_xent_cuda(t->loss_tmp, NULL, dlogits, logits, y, n, k, t->smoothing, scale, g);
  else
    pb_softmax_xent_cpu(t->loss_tmp, NULL, dlogits, logits, y, n, k, t->smoothing, scale);
}

static void count_correct(pb_trainer *t, const float *logits, const int32_t *y, int n) {
  pb_cuda_env *g = t->model->ctx->cuda;
  if (g) {
    pb_argmax_count_cuda(t->pred, t->correct_acc, logits, y, n, t->k, g);
    return;
  }
  int correct = 0;
  pb_argmax_count_cpu(t->pred, &correct, logits, y, n, t->k);
  t->host_correct += correct;
}

/* Clip, schedule, step and zero the gradients of the pending accumulation group. */
static void step(pb_trainer *t) {
  pb_model *m = t->model;
  pb_cuda_env *g = m->ctx->cuda;
  if (g) {
    pb_sumsq_cuda(t->sumsq, m->grads, m->nparams, g);
    pb_clip_scale_cuda(m->grads, m->nparams, t->sumsq, t->clip, g);
  } else {
    pb_clip_grad_norm(m->grads, m->nparams, t->clip);
  }
  t->lr = pb_sched_lr(&t->sched, t->opt.step, t->steps_per_epoch, t->total_steps);
  pb_optim_step(&t->opt, m->params, m->grads, (float)t->lr);
  pb_model_zero_grad(m);
  t->micro = 0;
}

static int backward_and_step(pb_trainer *t, int n, int step_now);

/* A micro-batch of n = 0 (every sample of the batch was bad): nothing to learn from, but a group
 * that ends here (the epoch's last batch, say) still takes its step. */
static int empty_micro(pb_trainer *t, int step_now) {
  if (step_now && t->micro > 0) {
    step(t);
    return 1;
  }
  return 0;
}

int pb_trainer_micro(pb_trainer *t, const float *x, const int32_t *y, int n, int step_now) {
  if (n == 0) return empty_micro(t, step_now);
  pb_model *m = t->model;
  pb_cuda_env *g = m->ctx->cuda;
  PB_ASSERT(!t->nheads && !m->infer_only);
  float *logits = pb_model_forward(m, x, n, 1);
  count_correct(t, logits, y, n);
  loss_and_grad(t, logits, y, n, 1.0f / ((float)n * (float)t->accum_steps), t->dlogits);
  if (g)
    pb_accumulate_cuda(t->loss_acc, t->loss_tmp, 1, g);
  else
    t->host_loss += t->loss_tmp[0];
  return backward_and_step(t, n, step_now);
}

static int backward_and_step(pb_trainer *t, int n, int step_now) {
  pb_model *m = t->model;
  pb_model_backward(m, t->dlogits, n);
  t->micro++;
  if (step_now || t->micro >= t->accum_steps) {
    step(t);
    return 1;
  }
  return 0;
}

void pb_trainer_stats(pb_trainer *t, double *loss_sum, long *correct) {
  pb_ctx *c = t->model->ctx;
  if (!c->cuda) {
    *loss_sum = t->host_loss;
    *correct = t->host_correct;
    return;
  }
  float l;
  int k;
  pb_ctx_download(c, &l, t->loss_acc, sizeof l);
  pb_ctx_download(c, &k, t->correct_acc, sizeof k);
  *loss_sum = l;
  *correct = k;
}

void pb_trainer_set_stats(pb_trainer *t, double loss_sum, long correct) {
  pb_ctx *c = t->model->ctx;
  t->host_loss = loss_sum;
  t->host_correct = correct;
  if (c->cuda) {
    float l = (float)loss_sum;
    int k = (int)correct;
    pb_ctx_upload(c, t->loss_acc, &l, sizeof l);
    pb_ctx_upload(c, t->correct_acc, &k, sizeof k);
  }
}

double pb_trainer_eval(pb_trainer *t, const float *x, const int32_t *y, int n, int32_t *pred_host) {
  pb_model *m = t->model;
  pb_ctx *c = m->ctx;
  float *logits = pb_model_forward(m, x, n, 0);
  if (c->cuda) {
    /* The predictions go back to the host, which counts with the bias flags. */
    pb_argmax_count_cuda(t->pred, t->eval_count, logits, y, n, t->k, c->cuda);
  } else {
    pb_argmax_count_cpu(t->pred, NULL, logits, NULL, n, t->k);
  }
  loss_and_grad(t, logits, y, n, 1.0f, NULL);
  pb_ctx_download(c, pred_host, t->pred, (size_t)n * sizeof(int32_t));
  float loss;
  pb_ctx_download(c, &loss, t->loss_tmp, sizeof loss);
  return loss;
}

double pb_trainer_eval_views(pb_trainer *t, const float *x, const int32_t *y_host, int n, int views,
                             int32_t *pred_host) {
  pb_model *m = t->model;
  pb_ctx *c = m->ctx;
  int k = t->k;
  PB_ASSERT(views >= 1 && (int64_t)n * views <= m->max_n);
  const float *logits = pb_model_forward(m, x, n * views, 0);
  if (c->cuda) {
    pb_ctx_download(c, t->targets_host, logits, (size_t)n * views * k * sizeof(float));
    logits = t->targets_host;
  }
  double *p = pb_xmalloc((size_t)k * sizeof(double)), loss = 0;
  const double tiny = 1e-300; /* log of a probability that underflowed */
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < k; j++) p[j] = 0;
    for (int v = 0; v < views; v++) {
      const float *r = logits + ((size_t)i * views + v) * k;
      if (t->bce) {
        for (int j = 0; j < k; j++) p[j] += 1.0 / (1.0 + exp(-(double)r[j])) / views;
        continue;
      }
      double mx = r[0], s = 0;
      for (int j = 1; j < k; j++) mx = r[j] > mx ? r[j] : mx;
      for (int j = 0; j < k; j++) s += exp((double)r[j] - mx);
      for (int j = 0; j < k; j++) p[j] += exp((double)r[j] - mx) / s / views;
    }
    int32_t b = 0;
    for (int j = 1; j < k; j++)
      if (p[j] > p[b]) b = j;
    pred_host[i] = b;
    int y = y_host[i];
    if (t->bce) {
      double l = 0;
      for (int j = 0; j < k; j++) l -= j == y ? log(PB_MAX(p[j], tiny)) : log(PB_MAX(1 - p[j], tiny));
      loss += l / k;
    } else {
      double sm = 0;
      if (t->smoothing > 0)
        for (int j = 0; j < k; j++) sm -= log(PB_MAX(p[j], tiny));
      loss += -(1 - t->smoothing) * log(PB_MAX(p[y], tiny)) + t->smoothing / k * sm;
    }
  }
  free(p);
  return loss;
}

/* ------------------------------------------------------------------ multi-head models */

/* Argmax of head rows z [n, k] into pred; correct labels (>= 0) counted into *correct_dev
 * (device int) or *correct_host. */
static void head_argmax(pb_trainer *t, int32_t *pred, int *correct_dev, long *correct_host, const float *z,
                        const int32_t *y, int n, int k) {
  pb_cuda_env *g = t->model->ctx->cuda;
  if (g) {
    pb_argmax_count_cuda(pred, correct_dev, z, y, n, k, g);
    return;
  }
  int correct = 0;
  pb_argmax_count_cpu(pred, &correct, z, y, n, k);
  if (correct_host) *correct_host += correct;
}

int pb_trainer_micro_heads(pb_trainer *t, const float *x, const int32_t *y, const int32_t *y_host, int n,
                           int step_now) {
  pb_model *m = t->model;
  pb_cuda_env *g = m->ctx->cuda;
  PB_ASSERT(t->nheads && !m->infer_only);
  if (n == 0) return empty_micro(t, step_now);
  float *logits = pb_model_forward(m, x, n, 1);
  for (int h = 0; h < t->nheads; h++) {
    const pb_head *hd = &m->heads[h];
    size_t o = (size_t)n * hd->offset;
    const int32_t *yh = y + (size_t)h * n, *yhh = y_host + (size_t)h * n;
    long cnt = 0;
    for (int i = 0; i < n; i++) cnt += yhh[i] >= 0;
    t->head_seen[h] += cnt;
    head_argmax(t, t->pred, t->head_correct_acc + h, &t->host_head_correct[h], logits + o, yh, n, hd->classes);
    float scale = cnt ? hd->weight / ((float)cnt * (float)t->accum_steps) : 0.0f;
    if (g) {
      pb_softmax_xent_cuda(t->loss_tmp, NULL, t->dlogits + o, logits + o, yh, n, hd->classes, t->smoothing, scale, g);
      pb_accumulate_cuda(t->head_loss_acc + h, t->loss_tmp, 1, g);
    } else {
      pb_softmax_xent_cpu(t->loss_tmp, NULL, t->dlogits + o, logits + o, yh, n, hd->classes, t->smoothing, scale);
      t->host_head_loss[h] += t->loss_tmp[0];
    }
  }
  return backward_and_step(t, n, step_now);
}

void pb_trainer_head_stats(pb_trainer *t, double *loss_sum, long *correct, long *seen) {
  pb_ctx *c = t->model->ctx;
  int nh = t->nheads;
  for (int h = 0; h < nh; h++) seen[h] = t->head_seen[h];
  if (!c->cuda) {
    for (int h = 0; h < nh; h++) loss_sum[h] = t->host_head_loss[h], correct[h] = t->host_head_correct[h];
    return;
  }
  float l[PB_MAX_HEADS];
  int k[PB_MAX_HEADS];
  pb_ctx_download(c, l, t->head_loss_acc, (size_t)nh * sizeof(float));
  pb_ctx_download(c, k, t->head_correct_acc, (size_t)nh * sizeof(int));
  for (int h = 0; h < nh; h++) loss_sum[h] = l[h], correct[h] = k[h];
}

void pb_trainer_set_head_stats(pb_trainer *t, const double *loss_sum, const long *correct, const long *seen) {
  pb_ctx *c = t->model->ctx;
  int nh = t->nheads;
  float l[PB_MAX_HEADS];
  int k[PB_MAX_HEADS];
  for (int h = 0; h < nh; h++) {
    t->host_head_loss[h] = loss_sum[h], t->host_head_correct[h] = correct[h], t->head_seen[h] = seen[h];
    l[h] = (float)loss_sum[h], k[h] = (int)correct[h];
  }
  if (c->cuda) {
    pb_ctx_upload(c, t->head_loss_acc, l, (size_t)nh * sizeof(float));
    pb_ctx_upload(c, t->head_correct_acc, k, (size_t)nh * sizeof(int));
  }
}

void pb_trainer_eval_heads(pb_trainer *t, const float *x, const int32_t *y, int n, int32_t *pred_host,
                           double *loss_sum) {
  pb_model *m = t->model;
  pb_ctx *c = m->ctx;
  PB_ASSERT(t->nheads);
  float *logits = pb_model_forward(m, x, n, 0);
  for (int h = 0; h < t->nheads; h++) {
    const pb_head *hd = &m->heads[h];
    size_t o = (size_t)n * hd->offset;
    const int32_t *yh = y + (size_t)h * n;
    /* the host counts per class (disparity): the device count is not read */
    head_argmax(t, t->pred + (size_t)h * n, t->eval_count, NULL, logits + o, yh, n, hd->classes);
    float l;
    if (c->cuda) {
      pb_softmax_xent_cuda(t->loss_tmp, NULL, NULL, logits + o, yh, n, hd->classes, t->smoothing, 1.0f, c->cuda);
      pb_ctx_download(c, &l, t->loss_tmp, sizeof l);
    } else {
      pb_softmax_xent_cpu(t->loss_tmp, NULL, NULL, logits + o, yh, n, hd->classes, t->smoothing, 1.0f);
      l = t->loss_tmp[0];
    }
    loss_sum[h] = l;
  }
  pb_ctx_download(c, pred_host, t->pred, (size_t)t->nheads * n * sizeof(int32_t));
}
