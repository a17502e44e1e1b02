/* multi.h: private to engine/trainers/: the state of the trainer over several named models
 * (rebias.c: vanilla, biased, rebias; mixin.c: rubi, learnedmixin) and the steps the two
 * files share. Nothing outside engine/trainers/ includes it. */
#ifndef PB_TRAINERS_MULTI_H
#define PB_TRAINERS_MULTI_H

#include "engine/trainers/trainer.h"

enum { M_VANILLA, M_BIASED, M_REBIAS, M_RUBI, M_MIXIN };

typedef struct {
  int method;
  int nmodels;                       /* learners [0, nmodels): the models; then the head (rubi, learnedmixin) */
  int is_g[PB_MAX_LEARNERS];
  int trained[PB_MAX_LEARNERS];      /* stepped by this method (not frozen) */
  pb_loss *ce[PB_MAX_LEARNERS];      /* each model's cross-entropy */
  int f;                             /* learner index of f (-1: none) */
  float lambda_f, lambda_g;
  int n_g_update, unbiased;
  /* g's pretraining ([method] g_pretrain_epochs): the first pre_total batches train every g
   * on its cross-entropy alone at a constant rate */
  int64_t pre_total, pre_done;
  /* rebias */
  char sigma_x[32], sigma_y[32];     /* a number, "dimension" or "median" */
  float median_x, median_y;          /* the median sigmas (0: not computed yet) */
  int sigma_every_epoch;             /* [method] update_sigma_per_epoch */
  float *dist;                       /* device [max_n, max_n]: one batch's squared distances */
  float *pool[2];                    /* host: the distances observed (x: f's; y: every g's) */
  size_t npool[2], cap[2];
  int hsic_term;                     /* index of the "hsic" term, -1 without */
  float *hsic_val;                   /* device [PB_MAX_LEARNERS] */
  /* rubi, learnedmixin (mixin.c) */
  int head;                          /* learner index of the head, -1: none */
  int train_head;                    /* [method] train_head: stepped with f's optimizer settings */
  float g_weight;                    /* rubi: weight of CE(head) ([method] rubi_g_weight) */
  float entropy_weight;              /* learnedmixin: w of the entropy term */
  int term0;                         /* the first of the method's two value terms */
  float *mloss;                      /* device [2]: the fused op's two sums */
  float *dtmp, *dhead, *da, *da_k, *dfeat; /* device scratch: [max_n, k] x2, [max_n] x2, [max_n, f's dim] */
  /* the hook's arguments */
  pb_ctx *ctx;
  const float *other[PB_MAX_LEARNERS];
  int nother;
  int other_dim[PB_MAX_LEARNERS];
  float grad_scale;
  int self_dim, hook_n;
  const float *self_feat;
} rb_priv;

/* Forward of learner i in training mode, its cross-entropy into its term (loss, correct,
 * seen) and, when grad, the CE's gradient into the learner's dout. Returns the logits. */
float *pb_multi_forward_ce(pb_trainer *t, int i, const float *x, const int32_t *y, const int32_t *yh, int n, int grad);

/* mixin.c: the RUBi / LearnedMixin head (a learner after the models) and its scratch; the
 * method's two value terms ("rubi", "rubi_head" / "mixin", "entropy"). */
int pb_mixin_setup(pb_trainer *t, rb_priv *p, const pb_config *cfg, const pb_config *fview, int64_t steps_per_epoch,
                   int epochs, pb_err *err);
/* The f step of rubi / learnedmixin on one batch (n >= 1): f on lambda_f times the method's
 * loss summed over the g models, the head with it. */
void pb_mixin_f_step(pb_trainer *t, const float *x, const int32_t *y, const int32_t *yh, int n);
void pb_mixin_free(pb_trainer *t, rb_priv *p);

#endif
