/* trainer.h: the plain supervised trainer: forward, loss, backward over micro-batches,
 * gradient accumulation, clipping, the learning-rate schedule and the optimizer step, on the
 * model's device. It decides nothing about data or epochs: the caller feeds batches
 * (engine/cli/train.c). Loss and accuracy are accumulated where the model runs (on the GPU
 * without a host round trip) and read with pb_trainer_stats at log points. */
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
  int k;                /* classes */
  /* on the model's device */
  float *dlogits, *targets; /* [max_n, k] */
  int32_t *pred;            /* [max_n] */
  float *loss_tmp, *loss_acc;
  int *correct_acc;
  int *eval_count;          /* evaluation's count (the host counts with the bias flags) */
  double *sumsq;
  /* host */
  float *targets_host;      /* [max_n, k] one-hot staging for bce on a GPU */
  int32_t *pred_host;       /* [max_n] */
  double host_loss;         /* CPU accumulators */
  long host_correct;
  double lr;                /* of the last optimizer step */
  /* Multi-head models (model->nheads > 0): per-head loss sums and correct counts on the
   * device, labelled-sample counts on the host (the labels are known there). */
  int nheads;
  float *head_loss_acc;     /* [nheads] */
  int *head_correct_acc;    /* [nheads] */
  double host_head_loss[PB_MAX_HEADS];
  long host_head_correct[PB_MAX_HEADS], head_seen[PB_MAX_HEADS];
} pb_trainer;

/* Reads [train], [optim] and [schedule]. steps_per_epoch: optimizer steps per epoch. A model
 * planned for inference only (pb_model_finalize_infer) gets an evaluation-only trainer: no
 * optimizer state, no logit gradients (pb_trainer_micro is then a bug). Embedding models
 * ([model] embedding_dim) are refused: no loss for embeddings exists yet. */
int pb_trainer_init(pb_trainer *t, pb_model *m, const pb_config *cfg, int64_t steps_per_epoch, int epochs,
                    pb_err *err);
void pb_trainer_free(pb_trainer *t);

/* One micro-batch x [n, in], labels y [n] (both on the model's device): forward (training
 * mode), loss, backward with the loss scaled by 1/(n * accum_steps); loss sum and correct
 * predictions added to the accumulators. When step_now (the accumulation group is complete,
 * or the epoch ends) or accum_steps micro-batches are accumulated, clips, sets the scheduled
 * learning rate and steps the optimizer. n may be 0 (a batch whose every sample was bad):
 * nothing is computed, but with step_now a pending group still steps. Returns 1 when the
 * optimizer stepped. */
int pb_trainer_micro(pb_trainer *t, const float *x, const int32_t *y, int n, int step_now);

/* The accumulated loss sum and correct count (waits for the device); set them (resume). */
void pb_trainer_stats(pb_trainer *t, double *loss_sum, long *correct);
void pb_trainer_set_stats(pb_trainer *t, double loss_sum, long correct);

/* Evaluation forward (running statistics, no dropout) of n samples on the device: returns
 * the loss sum; pred_host [n] gets the predicted classes (waits for the device). */
double pb_trainer_eval(pb_trainer *t, const float *x, const int32_t *y, int n, int32_t *pred_host);

/* Test-time augmentation: x [n * views, in] on the device holds `views` views of each of n
 * samples (sample i at rows i*views ..), n * views <= max_n. The probabilities (softmax for
 * ce, sigmoid for bce) are averaged over each sample's views, in double on the host;
 * pred_host [n] = their argmax; returns the loss sum over the n samples of the averaged
 * probabilities (ce: -(1-s) log p_y - s/k sum_j log p_j with label smoothing s; bce: the
 * mean over classes of the binary cross-entropy), y_host [n] the labels on the host. */
double pb_trainer_eval_views(pb_trainer *t, const float *x, const int32_t *y_host, int n, int views,
                             int32_t *pred_host);
/* Multi-head models. y: labels [nheads, n] on the device (head h's at y + h*n, -1 = missing),
 * y_host: the same on the host. The loss is sum_h weight_h * (mean CE of head h over its
 * labelled samples); each head's gradient is scaled by weight_h / (labelled_h * accum_steps)
 * (a head without labels in the batch contributes nothing). Per-head loss sums and correct
 * counts accumulate on the device, labelled counts on the host. n = 0 and the return value as
 * pb_trainer_micro. */
int pb_trainer_micro_heads(pb_trainer *t, const float *x, const int32_t *y, const int32_t *y_host, int n,
                           int step_now);
/* Per-head loss sums, correct counts and labelled counts since the last set (waits for the
 * device); set them (resume, epoch start). */
void pb_trainer_head_stats(pb_trainer *t, double *loss_sum, long *correct, long *seen);
void pb_trainer_set_head_stats(pb_trainer *t, const double *loss_sum, const long *correct, const long *seen);
/* Evaluation forward of a multi-head model: loss_sum[h] = sum of head h's CE over its labelled
 * samples; pred_host [nheads, n] the predicted classes (waits for the device). */
void pb_trainer_eval_heads(pb_trainer *t, const float *x, const int32_t *y, int n, int32_t *pred_host,
                           double *loss_sum);

#endif
