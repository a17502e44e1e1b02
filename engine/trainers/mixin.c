/* mixin.c: the f step of the two comparison methods of the released ReBias code
 * (REFERENCES.md, "ReBias"; criterions/comparison_methods.py, trainer.py), on the fused ops
 * rubi_loss and mixin_loss (kernels/cpu/debias.c, kernels/cuda/debias.cu). Per batch:
 *
 *  rubi:  g's n_g_update steps on CE(g) (rebias.c); then f, every g and the HEAD, a
 *         Linear(g's feature dim -> classes) on g's features (detached), run in training mode;
 *         f steps on lambda_f sum over g of [CE(f_logits * sigmoid(head(g_feat))) + w CE(head(g_feat))]
 *         (w = [method] rubi_g_weight, 1 as released), without CE(f).
 *  learnedmixin (+H): g pretrained ([method] g_pretrain_epochs, rebias.c) and never stepped
 *         again, but it still runs in training mode (its batch-norm statistics move, as
 *         released); the HEAD is Linear(f's feature dim -> 1), c = softplus(head(f_feat)) per
 *         sample; f steps on lambda_f sum over g of [CE(f_logits + c g_logits) + w H(softmax(c g_logits))]
 *         (w = [method] entropy_weight, 0.36), without CE(f). The head's gradient reaches f's
 *         features (added where the classifier's gradient is formed).
 *
 * The head is shared by every g (as the released criterion's one fc) and is a learner after
 * the models, named after the method (checkpoint files step-N.rubi.safetensors with fc.weight
 * and fc.bias, nn.Linear's init). [method] train_head = true steps it with f's optimizer,
 * schedule and rate, as the methods' papers intend; false leaves it at its random init, which
 * is what the released code does (its `'fc' in criterion.__dict__` test never holds, so the
 * head is in no optimizer). Logged per step: f's CE (a value: f is not trained on it), every
 * g's CE, and the method's two sums as batch means ("rubi" / "rubi_head", "mixin" / "entropy"). */
#include <string.h>

#include "engine/device/backend.h"
#include "engine/trainers/multi.h"

static long labelled(const int32_t *yh, int n) {
  long c = 0;
  for (int i = 0; i < n; i++) c += yh[i] >= 0;
  return c;
}

/* The fused op's two sums as batch means into the method's terms (one step's value). */
static void log_values(pb_trainer *t, rb_priv *p, long lab) {
  pb_ctx *c = t->ctx;
  c->ops->scale(c, p->mloss, lab ? 1.0f / (float)lab : 0.0f, 2);
  c->ops->accum_f64(c, t->loss_acc + p->term0, p->mloss);
  c->ops->accum_f64(c, t->loss_acc + p->term0 + 1, p->mloss + 1);
}

static void add_feat_grad(void *user, float *dfeat, int n) {
  rb_priv *p = user;
  p->ctx->ops->accumulate(p->ctx, dfeat, p->dfeat, (size_t)n * p->self_dim);
}

static void rubi_f_step(pb_trainer *t, rb_priv *p, const float *x, const int32_t *y, const int32_t *yh, int n,
                        float scale) {
  pb_ctx *c = t->ctx;
  pb_learner *lf = &t->learner[p->f], *lh = &t->learner[p->head];
  int k = p->ce[p->f]->k, first = 1;
  const float *fl = pb_multi_forward_ce(t, p->f, x, y, yh, n, 0); /* f's CE: logged, not trained */
  for (int i = 0; i < p->nmodels; i++) {
    if (!p->is_g[i]) continue;
    int d;
    pb_model_forward(t->learner[i].model, x, n, 1);
    const float *gf = pb_model_features(t->learner[i].model, &d);
    const float *h = pb_model_forward(lh->model, gf, n, 1);
    c->ops->rubi_loss(c, p->mloss, first ? lf->dout : p->dtmp, p->dhead, fl, h, y, n, k, scale, scale * p->g_weight);
    if (!first) c->ops->accumulate(c, lf->dout, p->dtmp, (size_t)n * k);
    pb_model_backward(lh->model, p->dhead, n); /* its gradient accumulates over the g models */
    log_values(t, p, labelled(yh, n));
    first = 0;
  }
  pb_model_backward(lf->model, lf->dout, n);
}

static void mixin_f_step(pb_trainer *t, rb_priv *p, const float *x, const int32_t *y, const int32_t *yh, int n,
                         float scale) {
  pb_ctx *c = t->ctx;
  pb_learner *lf = &t->learner[p->f], *lh = &t->learner[p->head];
  int k = p->ce[p->f]->k, first = 1;
  const float *fl = pb_multi_forward_ce(t, p->f, x, y, yh, n, 0);
  const float *ff = pb_model_features(lf->model, &p->self_dim);
  const float *a = pb_model_forward(lh->model, ff, n, 1); /* [n, 1] */
  for (int i = 0; i < p->nmodels; i++) {
    if (!p->is_g[i]) continue;
    const float *gl = pb_multi_forward_ce(t, i, x, y, yh, n, 0); /* frozen g, training mode; its CE logged */
    c->ops->mixin_loss(c, p->mloss, first ? lf->dout : p->dtmp, first ? p->da : p->da_k, fl, gl, a, y, n, k, scale,
                       scale * p->entropy_weight);
    if (!first) {
      c->ops->accumulate(c, lf->dout, p->dtmp, (size_t)n * k);
      c->ops->accumulate(c, p->da, p->da_k, (size_t)n);
    }
    log_values(t, p, labelled(yh, n));
    first = 0;
  }
  pb_model_backward(lh->model, p->da, n);
  /* d f_feat = da w: the head's weight [1, dim] read as [dim, 1], a rank-1 product */
  const pb_param *w = pb_model_find(lh->model, "fc.weight");
  c->ops->linear_fwd(c, p->dfeat, p->da, w->data, NULL, n, 1, p->self_dim);
  pb_model_backward_hook(lf->model, lf->dout, n, add_feat_grad, p);
}

void pb_mixin_f_step(pb_trainer *t, const float *x, const int32_t *y, const int32_t *yh, int n) {
  rb_priv *p = t->priv;
  long lab = labelled(yh, n);
  float scale = lab ? p->lambda_f / (float)lab : 0.0f; /* the batch means, as nn.CrossEntropyLoss and .mean() */
  if (p->method == M_RUBI)
    rubi_f_step(t, p, x, y, yh, n, scale);
  else
    mixin_f_step(t, p, x, y, yh, n, scale);
  t->seen[p->term0] += 1, t->seen[p->term0 + 1] += 1; /* their means are per step */
  pb_learner_end_micro(&t->learner[p->f], 1);
  pb_learner *lh = &t->learner[p->head];
  if (p->train_head)
    pb_learner_end_micro(lh, 1);
  else
    pb_model_zero_grad(lh->model); /* released: the head never steps */
}

static void add_term(pb_trainer *t, const char *name) {
  pb_loss_term *tm = &t->terms.term[t->terms.n];
  snprintf(tm->name, sizeof tm->name, "%s", name);
  tm->weight = 0.0f;
  tm->classes = 0; /* a value, no predictions */
  t->terms.label_row[t->terms.n++] = 0;
}

int pb_mixin_setup(pb_trainer *t, rb_priv *p, const pb_config *cfg, const pb_config *fview, int64_t steps_per_epoch,
                   int epochs, pb_err *err) {
  const char *mname = pb_config_str(cfg, "method", "name");
  p->lambda_f = (float)pb_config_float(cfg, "method", "lambda_f");
  p->n_g_update = (int)pb_config_int(cfg, "method", "n_g_update");
  p->train_head = pb_config_bool(cfg, "method", "train_head");
  p->g_weight = (float)pb_config_float(cfg, "method", "rubi_g_weight");
  p->entropy_weight = (float)pb_config_float(cfg, "method", "entropy_weight");
  if (!(p->lambda_f > 0))
    return pb_err_set(err, "%s: [method] lambda_f = %g: %s trains f on lambda_f times its loss alone (no CE(f)); "
                           "set lambda_f > 0 (1 as released)",
                      pb_config_origin(cfg, "method", "lambda_f"), p->lambda_f, mname);
  for (int i = 0; i < p->nmodels; i++)
    if (!strcmp(t->learner[i].name, mname))
      return pb_err_set(err, "[model.%s]: the name is taken by the %s head (its checkpoint files step-N.%s.*); rename "
                             "the model", mname, mname, mname);
  p->term0 = t->terms.n;
  add_term(t, p->method == M_RUBI ? "rubi" : "mixin");
  add_term(t, p->method == M_RUBI ? "rubi_head" : "entropy");
  if (t->infer_only) return PB_OK; /* evaluation: the head is not a model of the run */
  pb_ctx *c = t->ctx;
  pb_model *fm = t->learner[p->f].model;
  int k = p->ce[p->f]->k, max_n = fm->max_n, dim, fdim;
  pb_model_features(fm, &fdim);
  dim = fdim;
  if (p->method == M_RUBI) { /* one head over every g: their features must agree */
    int first = -1;
    for (int i = 0; i < p->nmodels; i++) {
      if (!p->is_g[i]) continue;
      int d;
      pb_model_features(t->learner[i].model, &d);
      if (first >= 0 && d != dim)
        return pb_err_set(err, "[method] g = %s: rubi's one head takes every g's features, but [model.%s] has %d and "
                               "[model.%s] %d features",
                          pb_config_str(cfg, "method", "g"), t->learner[first].name, dim, t->learner[i].name, d);
      if (first < 0) first = i, dim = d;
    }
  }
  int in[3] = {dim, 1, 1};
  pb_model *h = pb_model_new(c, in, "linear");
  pb_layer *ly = pb_linear_layer("fc", in, p->method == M_RUBI ? k : 1, 1, err);
  if (!ly) {
    pb_model_free(h);
    return PB_ERR;
  }
  pb_model_add(h, ly);
  p->head = t->nlearners;
  pb_learner *lh = &t->learner[p->head];
  if (pb_model_finalize(h, max_n, err)) {
    pb_model_free(h);
    return PB_ERR;
  }
  pb_model_init(h, (uint64_t)pb_config_int(cfg, "run", "seed") ^ 0x6865616475ull /* "headu" */);
  if (pb_learner_init(lh, h, fview, steps_per_epoch, epochs, err)) {
    pb_model_free(h);
    return PB_ERR;
  }
  snprintf(lh->name, sizeof lh->name, "%s", mname);
  t->nlearners++;
  if (!p->train_head) pb_optim_free(&lh->opt);
  p->trained[p->head] = p->train_head;
  p->self_dim = fdim;
  size_t nk = (size_t)max_n * k * sizeof(float);
  if (!(p->mloss = c->ops->alloc(c, 2 * sizeof(float), "the method's loss sums", err)) ||
      !(p->dtmp = c->ops->alloc(c, nk, "the method's logit gradients", err)) ||
      !(p->dhead = c->ops->alloc(c, nk, "the head's gradients", err)) ||
      !(p->da = c->ops->alloc(c, (size_t)max_n * sizeof(float), "the mixin factors' gradients", err)) ||
      !(p->da_k = c->ops->alloc(c, (size_t)max_n * sizeof(float), "the mixin factors' gradients", err)) ||
      !(p->dfeat = c->ops->alloc(c, (size_t)max_n * fdim * sizeof(float), "the head's feature gradients", err)))
    return PB_ERR;
  return PB_OK;
}

void pb_mixin_free(pb_trainer *t, rb_priv *p) {
  pb_ctx *c = t->ctx;
  float *bufs[] = {p->mloss, p->dtmp, p->dhead, p->da, p->da_k, p->dfeat};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) c->ops->free(c, bufs[i]);
  if (p->head < 0) return;
  pb_model *h = t->learner[p->head].model;
  pb_learner_free(&t->learner[p->head]);
  pb_model_free(h);
}
