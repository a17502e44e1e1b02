/* trainer.c: what every trainer shares (trainer.h): the choice from the config, the
 * progress accumulators on the model's device, and freeing. */
#include "engine/trainers/trainer.h"

#include <stdlib.h>
#include <string.h>

#include "engine/device/backend.h"

pb_trainer *pb_trainer_from_config(const pb_config *cfg, pb_model *m, int64_t steps_per_epoch, int epochs,
                                   pb_err *err) {
  int triplet = !strcmp(pb_config_str(cfg, "train", "loss"), "triplet");
  if (m->embed_dim && !triplet) {
    pb_err_set(err, "%s: [model] embedding_dim = %d: an embedding has no classes for [train] loss = %s; train it with "
                    "loss = triplet, or set embedding_dim = 0 to train a classifier",
               pb_config_origin(cfg, "model", "embedding_dim"), m->embed_dim, pb_config_str(cfg, "train", "loss"));
    return NULL;
  }
  if (triplet && !m->embed_dim) {
    pb_err_set(err, "%s: [train] loss = triplet trains an embedding: set [model] embedding_dim (e.g. 128)",
               pb_config_origin(cfg, "train", "loss"));
    return NULL;
  }
  return pb_trainer_plain(cfg, m, steps_per_epoch, epochs, err);
}

int pb_trainer_alloc_common(pb_trainer *t, pb_model *m, pb_err *err) {
  pb_ctx *c = m->ctx;
  int nt = t->terms.n;
  const int *out = pb_model_out(m);
  if (!(t->loss_acc = c->ops->alloc(c, (size_t)nt * sizeof(double), "the loss", err)) ||
      !(t->correct_acc = c->ops->alloc(c, (size_t)nt * sizeof(int), "the accuracy count", err)) ||
      !(t->pred = c->ops->alloc(c, (size_t)nt * m->max_n * sizeof(int32_t), "the predictions", err)))
    return PB_ERR;
  t->view_logits = pb_amalloc((size_t)m->max_n * out[0] * out[1] * out[2] * sizeof(float));
  return PB_OK;
}

void pb_trainer_free(pb_trainer *t) {
  if (!t) return;
  if (t->vt && t->vt->free) t->vt->free(t);
  pb_ctx *c = t->ctx;
  if (c) {
    c->ops->free(c, t->loss_acc);
    c->ops->free(c, t->correct_acc);
    c->ops->free(c, t->pred);
    pb_loss_free(t->loss, c);
  }
  pb_afree(t->view_logits);
  for (int i = 0; i < t->nlearners; i++) pb_learner_free(&t->learner[i]);
  free(t->priv);
  free(t);
}

void pb_trainer_stats(pb_trainer *t, pb_train_stats *s) {
  pb_ctx *c = t->ctx;
  int nt = t->terms.n;
  memset(s, 0, sizeof *s);
  s->nterms = nt;
  int k[PB_LOSS_MAX_TERMS];
  c->ops->download(c, s->loss, t->loss_acc, (size_t)nt * sizeof(double));
  c->ops->download(c, k, t->correct_acc, (size_t)nt * sizeof(int));
  for (int i = 0; i < nt; i++) s->correct[i] = k[i], s->seen[i] = t->seen[i];
}

void pb_trainer_set_stats(pb_trainer *t, const pb_train_stats *s) {
  pb_ctx *c = t->ctx;
  int nt = t->terms.n;
  int k[PB_LOSS_MAX_TERMS];
  double l[PB_LOSS_MAX_TERMS];
  for (int i = 0; i < nt; i++) {
    int have = s && i < s->nterms;
    l[i] = have ? s->loss[i] : 0, k[i] = have ? (int)s->correct[i] : 0, t->seen[i] = have ? s->seen[i] : 0;
  }
  c->ops->upload(c, t->loss_acc, l, (size_t)nt * sizeof(double));
  c->ops->upload(c, t->correct_acc, k, (size_t)nt * sizeof(int));
  for (int j = 0; j < t->nlearners; j++) { /* the spike guards count steps from these sums on */
    pb_learner *lr = &t->learner[j];
    for (int w = 0; w < lr->nwatch; w++) lr->last_loss[w] = l[lr->watch[w]], lr->last_seen[w] = t->seen[lr->watch[w]];
  }
}

void pb_trainer_resume_lr(pb_trainer *t) {
  for (int i = 0; i < t->nlearners; i++) {
    pb_learner *l = &t->learner[i];
    if (l->opt.step > 0) l->lr = pb_learner_lr_at(l, l->opt.step - 1);
  }
}
