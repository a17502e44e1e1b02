/* plain.c: the plain supervised trainer (trainer.h, pb_trainer_plain): one learner, one loss
 * (cross-entropy, BCE, or the weighted sum over a multi-head model's heads): forward, loss,
 * backward over micro-batches, then the learner's step. */
#include <string.h>

#include "engine/device/backend.h"
#include "engine/dist/dist.h"
#include "engine/trainers/checkpoint.h"
#include "engine/trainers/step_graph.h"
#include "engine/trainers/trainer.h"

/* forward, loss, backward of one micro-batch (captured as a CUDA graph when step_graph.h allows) */
static void plain_fwd_bwd(pb_trainer *t, const float *x, const int32_t *y, const int32_t *y_host, int n) {
  pb_learner *l = &t->learner[0];
  pb_model *m = l->model;
  pb_ctx *c = m->ctx;
  pb_loss *ls = t->loss;
  float *logits = pb_model_forward(m, x, n, 1);
  ls->vt->compute(ls, c, logits, y, y_host, n, l->accum_steps, l->dout, t->pred, t->correct_acc, t->seen);
  for (int i = 0; i < ls->nterms; i++) c->ops->accum_f64(c, t->loss_acc + i, ls->term_loss + i);
  pb_model_backward(m, l->dout, n);
}

static int plain_micro(pb_trainer *t, const float *x, const int32_t *y, const int32_t *y_host, int n, int step_now) {
  pb_learner *l = &t->learner[0];
  PB_ASSERT(!t->infer_only);
  if (n == 0) { /* nothing to learn from, but a group that ends here still steps (and with several
                  ranks every step is everyone's: the others' gradients come in) */
    if (step_now && (l->micro > 0 || pb_dist_world()->size > 1)) {
      pb_learner_step(l);
      return 1;
    }
    return 0;
  }
  pb_step_graphs *sg = t->priv;
  if (sg && sg->on)
    pb_step_graph_micro(sg, t, l->model, x, y, y_host, n, l->accum_steps, plain_fwd_bwd);
  else
    plain_fwd_bwd(t, x, y, y_host, n);
  return pb_learner_end_micro(l, step_now);
}

static void plain_free(pb_trainer *t) {
  pb_step_graphs_free(t->priv, t->ctx);
  t->priv = NULL;
}

static void plain_eval(pb_trainer *t, const float *x, const int32_t *y, const int32_t *y_host, int n, int views,
                       int32_t *pred, double *term_loss) {
  pb_model *m = t->learner[0].model;
  pb_ctx *c = m->ctx;
  pb_loss *ls = t->loss;
  PB_ASSERT(views >= 1 && (int64_t)n * views <= m->max_n);
  const float *logits = pb_model_forward(m, x, n * views, 0);
  t->last_logits = t->last_view_logits = NULL;
  if (views > 1) { /* averaged on the host: the loss says how */
    PB_ASSERT(ls->vt->views);
    c->ops->download(c, t->view_logits, logits, (size_t)n * views * ls->k * sizeof(float));
    term_loss[0] = ls->vt->views(ls, t->view_logits, y_host, n, views, pred);
    t->last_view_logits = t->view_logits;
    return;
  }
  ls->vt->compute(ls, c, logits, y, y_host, n, 1, NULL, t->pred, NULL, NULL);
  t->last_logits = logits;
  float l[PB_LOSS_MAX_TERMS];
  c->ops->download(c, pred, t->pred, (size_t)ls->nterms * n * sizeof(int32_t));
  c->ops->download(c, l, ls->term_loss, (size_t)ls->nterms * sizeof(float));
  for (int i = 0; i < ls->nterms; i++) term_loss[i] = l[i];
}

static int plain_save(pb_trainer *t, const char *base, const char *const *meta, int nmeta, pb_err *err) {
  return pb_ckpt_save(base, t->learner[0].model, &t->learner[0].opt, meta, nmeta, err);
}

static int plain_restore(pb_trainer *t, const char *model_path, const char *state_path, pb_st_file *st, pb_err *err) {
  if (pb_ckpt_load_model(model_path, t->learner[0].model, err)) return PB_ERR;
  return pb_ckpt_load_state(state_path, &t->learner[0].opt, t->learner[0].model, st, err);
}

static void plain_embed(pb_trainer *t, const float *x, int n, float *emb_host) {
  pb_model *m = t->learner[0].model;
  PB_ASSERT(m->embed_dim > 0 && n <= m->max_n);
  const float *e = pb_model_forward(m, x, n, 0);
  m->ctx->ops->download(m->ctx, emb_host, e, (size_t)n * m->embed_dim * sizeof(float));
}

static const pb_trainer_vt plain_vt = {"plain", plain_micro, plain_eval, plain_save, plain_restore, plain_free, NULL,
                                       NULL,    NULL,        NULL,       NULL,       NULL};
/* an embedding model: the same, plus its embeddings for verification */
static const pb_trainer_vt plain_embed_vt = {"plain", plain_micro, plain_eval, plain_save, plain_restore, plain_free,
                                             NULL,    NULL,        NULL,       NULL,       NULL,          plain_embed};

pb_trainer *pb_trainer_plain(const pb_config *cfg, pb_model *m, int64_t steps_per_epoch, int epochs, pb_err *err) {
  pb_trainer *t = pb_xcalloc(1, sizeof *t);
  t->vt = m->embed_dim ? &plain_embed_vt : &plain_vt;
  t->nlearners = t->nmodels = 1;
  t->infer_only = m->infer_only;
  t->ctx = m->ctx;
  const int *out = pb_model_out(m);
  int k = out[0] * out[1] * out[2];
  if (pb_learner_init(&t->learner[0], m, cfg, steps_per_epoch, epochs, err) ||
      !(t->loss = pb_loss_from_config(cfg, m->ctx, k, m->heads, m->nheads, m->max_n, err))) {
    pb_trainer_free(t);
    return NULL;
  }
  t->terms.n = t->loss->nterms;
  t->terms.emb_dim = m->embed_dim;
  t->nlabels = t->loss->label_rows ? t->loss->label_rows : t->loss->nterms;
  for (int i = 0; i < t->loss->nterms; i++)
    t->terms.term[i] = t->loss->term[i], t->terms.label_row[i] = t->nlabels == 1 ? 0 : i;
  if (pb_trainer_alloc_common(t, m, err)) {
    pb_trainer_free(t);
    return NULL;
  }
  int all[PB_LOSS_MAX_TERMS]; /* the spike guard watches the objective: every term, weighted */
  for (int i = 0; i < t->terms.n; i++) all[i] = i;
  pb_guard_watch(&t->learner[0], t, all, NULL, t->terms.n);
  pb_learner_overlap(&t->learner[0], cfg); /* data-parallel GPU ranks: buckets during the backward */
  if (!m->infer_only) t->priv = pb_step_graphs_new(cfg, t, m); /* CUDA graphs of the micro-step */
  return t;
}
