/* trainer.h: the plain supervised trainer: forward, loss, backward over micro-batches,
 * gradient accumulation, clipping, the learning-rate schedule and the optimizer step.
 * It decides nothing about data or epochs: the caller feeds batches (engine/cli/train.c). */
#ifndef PB_TRAINER_H
#define PB_TRAINER_H

#include "engine/config.h"
#include "engine/model.h"
#include "engine/optim.h"

typedef struct pb_trainer {
  pb_model *model;
  pb_optim opt;
  pb_sched_cfg sched;
  int accum_steps;      /* micro-batches per optimizer step */
  int micro;            /* micro-batches accumulated since the last step */
  double clip;          /* max gradient norm, 0 = off */
  float smoothing;      /* label smoothing (ce) */
  int bce;              /* 1: binary cross-entropy on one-hot targets; 0: softmax CE */
  int64_t steps_per_epoch, total_steps;
  float *dlogits, *targets; /* [max_n, classes] */
  double lr, grad_norm; /* of the last optimizer step */
} pb_trainer;

/* Reads [train], [optim] and [schedule]. steps_per_epoch: optimizer steps per epoch. */
int pb_trainer_init(pb_trainer *t, pb_model *m, const pb_config *cfg, int64_t steps_per_epoch, int epochs,
                    pb_err *err);
void pb_trainer_free(pb_trainer *t);

/* One micro-batch x [n, in], labels y [n]: forward (training mode), loss, backward with the
 * loss scaled by 1/(n * accum_steps). When step_now (the accumulation group is complete, or
 * the epoch ends), clips, sets the scheduled learning rate and steps the optimizer.
 * Returns the SUM of per-sample losses; pred [n] gets the predicted classes. */
double pb_trainer_micro(pb_trainer *t, const float *x, const int32_t *y, int n, int32_t *pred, int step_now);

/* Evaluation forward (running statistics, no dropout) of n samples: loss sum returned,
 * pred [n] filled; logits returned (model-owned). */
double pb_trainer_eval(pb_trainer *t, const float *x, const int32_t *y, int n, int32_t *pred);

#endif
