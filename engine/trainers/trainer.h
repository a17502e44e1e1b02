/* trainer.h: the trainer interface and its learners.
 *
 * A LEARNER is a model with its optimizer, learning-rate schedule, gradient accumulation and
 * clipping (learner.c). A TRAINER owns one or more learners and a loss and decides which
 * learner steps, in what order, on which loss: the plain supervised trainer (plain.c) runs
 * one learner on one loss; trainers with several models (ReBias) plug in beside it. The run
 * (engine/run/) feeds batches and epochs and never looks inside.
 *
 * Loss values and correct counts accumulate where the model runs (on the GPU without a host
 * round trip, in double) and are read with pb_trainer_stats at log points. */
#ifndef PB_TRAINER_H
#define PB_TRAINER_H

#include "engine/config/config.h"
#include "engine/losses/loss.h"
#include "engine/models/model.h"
#include "engine/trainers/optim.h"
#include "engine/models/safetensors.h"

#define PB_MAX_LEARNERS 6

typedef struct pb_learner {
  char name[32];       /* the model's name ([model.NAME]; "" for the one model of a plain run) */
  pb_model *model;
  pb_optim opt;        /* its step count is the learner's */
  pb_sched_cfg sched;
  int accum_steps;     /* micro-batches per optimizer step */
  int micro;           /* micro-batches accumulated since the last step */
  double clip;         /* max gradient norm, 0 = off */
  double lr;           /* of the last optimizer step */
  int64_t steps_per_epoch, total_steps;
  int64_t const_steps; /* steps at [optim] lr before the schedule starts (pretraining), 0: none */
  double *sumsq;       /* device: the gradient norm's square */
  float *dout;         /* device [max_n, out]: the gradient of the model's output */
  /* the non-finite guard ([run] on_nonfinite, guard.c): before each optimizer step the gradients'
   * squared norm is read back (one wait for the device per step); a non-finite one skips the step,
   * restores the model's buffers (BN statistics) and counters from the snapshot taken when the
   * step's first micro-batch began, and names the first tensor holding a non-finite value */
  int guard;           /* PB_GUARD_OFF / SKIP / STOP */
  float *buf_backup;   /* device [nbuffers] */
  int64_t *ctr_backup; /* host: the counters (BN num_batches_tracked), in tensor order */
  long nonfinite;      /* steps skipped so far in this process */
  int nonfinite_stop;  /* STOP: a step was non-finite; the loop saves the last good state and stops */
  char nonfinite_msg[400];
  /* the loss-spike guard ([run] loss_spike_z, guard.c): the step's loss is the learner's watched
   * terms (set by its trainer, pb_guard_watch), each term's mean over the step's labelled
   * samples (or steps, for per-step values) times its weight, summed; a step more than z running
   * standard deviations above the running mean is skipped like a non-finite one */
  double spike_z;      /* 0: off */
  long spike_window;
  double spike_mean, spike_var; /* of the taken steps' losses (in the checkpoints) */
  long spike_n;        /* taken steps folded in */
  long spikes;         /* steps skipped as spikes in this process */
  long spike_max, spike_run; /* [run] loss_spike_max_skips; spikes in a row so far */
  int spike_stop;      /* spike_max in a row: the loop saves the last good state and stops */
  int nwatch, watch[PB_LOSS_MAX_TERMS];
  double watch_w[PB_LOSS_MAX_TERMS];
  const double *watch_acc;       /* device: the trainer's loss sums */
  const long *watch_seen;        /* host: the trainer's counts */
  double last_loss[PB_LOSS_MAX_TERMS]; /* the watched sums and counts at the last check */
  long last_seen[PB_LOSS_MAX_TERMS];
  double step_loss;    /* of the last checked step (NAN: none) */
  char spike_msg[400];
  struct pb_dist_bucket *bucket; /* data-parallel GPU buckets overlapping the backward (NULL: none) */
} pb_learner;

enum { PB_GUARD_OFF = 0, PB_GUARD_SKIP, PB_GUARD_STOP };

/* [train] accum_steps / clip_grad_norm, [optim] and [schedule] for model m (planned for
 * training). steps_per_epoch: optimizer steps per epoch. */
int pb_learner_init(pb_learner *l, pb_model *m, const pb_config *cfg, int64_t steps_per_epoch, int epochs,
                    pb_err *err);
void pb_learner_free(pb_learner *l);
/* Data-parallel GPU ranks with [dist] bucket_mb > 0, for a learner stepped after each backward
 * of its model (accum_steps 1; the plain trainer): its backward starts the gradient exchange in
 * buckets (engine/dist/dist.h). Otherwise nothing. */
void pb_learner_overlap(pb_learner *l, const pb_config *cfg);
/* Clips, sets the scheduled rate, steps the optimizer and zeroes the gradients. */
void pb_learner_step(pb_learner *l);
/* guard.c: [run] on_nonfinite for l (allocates the snapshot; off: nothing). */
int pb_guard_init(pb_learner *l, const pb_config *cfg, pb_err *err);
void pb_guard_free(pb_learner *l);
/* Before a micro-batch's forward: at a step group's first, the snapshot of the buffers and
 * counters. */
void pb_guard_begin(pb_learner *l);
/* Before the optimizer step: 1 when the gradients hold a non-finite value (the step is then
 * not taken: gradients zeroed, buffers and counters restored, nonfinite counted and the
 * message set), else 0. */
int pb_guard_check(pb_learner *l);
/* The terms of t l's loss-spike guard watches (indices into t->terms) with their weights (NULL:
 * the terms' own). */
struct pb_trainer;
void pb_guard_watch(pb_learner *l, const struct pb_trainer *t, const int *terms, const double *weights, int n);
/* Any learner of t guarded (on_nonfinite or loss_spike_z): the run checks after each step. */
static inline int pb_learner_guarded(const pb_learner *l) { return l->guard || l->spike_z > 0; }
/* Counts one accumulated micro-batch; steps when step_now or the group is complete. Returns 1
 * when it stepped (or when the guard skipped the step: the group is over either way). */
int pb_learner_end_micro(pb_learner *l, int step_now);
/* The rate of optimizer step `step` (0-based): [optim] lr for the first const_steps, then the
 * schedule counted from there. */
double pb_learner_lr_at(const pb_learner *l, int64_t step);

/* What a trainer reports: its terms (a loss term, or a model of a multi-model trainer), each
 * with a name ("" for the single term of a one-model, one-term run), a weight in the training
 * objective, its classes, and the label row its predictions are scored against (rows of the
 * [nlabels, n] label block: a head's column, or row 0 for every model). */
typedef struct pb_terms {
  int n;
  pb_loss_term term[PB_LOSS_MAX_TERMS];
  int label_row[PB_LOSS_MAX_TERMS];
  /* an embedding model: its dimension (0: a classifier) and the verification operating points
   * its evaluation reports ([verify] fpr; set by the run) */
  int emb_dim;
  int nfpr;
  double fpr[16];
} pb_terms;

/* Training progress per term since the last set (an epoch). */
typedef struct pb_train_stats {
  int nterms;
  double loss[PB_LOSS_MAX_TERMS]; /* sums over the labelled samples */
  long correct[PB_LOSS_MAX_TERMS], seen[PB_LOSS_MAX_TERMS];
} pb_train_stats;

typedef struct pb_trainer pb_trainer;

typedef struct pb_trainer_vt {
  const char *kind;
  /* One micro-batch: x [n, in], labels y [nlabels, n] on the device, y_host the same on the
   * host. Returns 1 when an optimizer stepped. n may be 0 (every sample of the batch was bad):
   * nothing is computed, but with step_now a pending accumulation group still steps. */
  int (*micro)(pb_trainer *t, const float *x, const int32_t *y, const int32_t *y_host, int n, int step_now);
  /* Evaluation forward of n samples with `views` rows each (test-time augmentation; 1 =
   * none): pred [terms.n, n] (host) the predicted classes, term_loss[t] (host) the loss sums.
   * Waits for the device. */
  void (*eval)(pb_trainer *t, const float *x, const int32_t *y, const int32_t *y_host, int n, int views,
               int32_t *pred, double *term_loss);
  /* Checkpoints: every learner's model and optimizer state at base (meta in the files'
   * metadata); restore reads them back and leaves the state file's metadata in *st. */
  int (*save)(pb_trainer *t, const char *base, const char *const *meta, int nmeta, pb_err *err);
  int (*restore)(pb_trainer *t, const char *model_path, const char *state_path, pb_st_file *st, pb_err *err);
  void (*free)(pb_trainer *t);
  /* Optional (NULL: none). A statistic of the data the trainer needs before it trains (the
   * ReBias median sigma): observe_batches returns how many batches of the epoch's order it
   * wants before epoch `epoch` starts (0: none; batches_per_epoch: the epoch's length), the run
   * feeds them to observe (x [n, in] on the device, training mode), then observe_end. */
  int64_t (*observe_batches)(pb_trainer *t, int64_t epoch, int64_t batches_per_epoch);
  void (*observe)(pb_trainer *t, const float *x, int n);
  int (*observe_end)(pb_trainer *t, char *msg, size_t len, pb_err *err); /* msg: a line for the log */
  /* Optional (NULL: learner 0's). The run's step count (checkpoint names, logs, max_steps),
   * the steps of the whole run and the rate to report, for a trainer whose reported model
   * does not step in every batch (LearnedMixin pretrains g first); set_step restores the
   * count from a checkpoint (after restore). */
  void (*progress)(const pb_trainer *t, int64_t *step, int64_t *total, double *lr);
  void (*set_step)(pb_trainer *t, int64_t step);
  /* Optional (NULL: the reported model is no embedding model). Evaluation forward of n rows:
   * emb_host [n, embed_dim] (host) the reported model's embeddings. Waits for the device. */
  void (*embed)(pb_trainer *t, const float *x, int n, float *emb_host);
} pb_trainer_vt;

struct pb_trainer {
  const pb_trainer_vt *vt;
  int nlearners;
  pb_learner learner[PB_MAX_LEARNERS]; /* learner[0]: the model the run evaluates and reports */
  int nmodels;       /* learners [0, nmodels) are the run's models (evaluated, loaded by plumb eval);
                        the rest belong to the method (the RUBi / LearnedMixin head) */
  int pre_epochs;    /* epochs the method trains before [train] epochs (g's pretraining) */
  pb_loss *loss;
  pb_terms terms;    /* what it reports (plain: the loss's terms) */
  int nlabels;       /* label rows a batch carries: [nlabels, n] */
  pb_ctx *ctx;       /* learner 0's model's */
  int infer_only;
  /* training progress, on the device: per term */
  double *loss_acc;  /* [nterms] */
  int *correct_acc;  /* [nterms] */
  long seen[PB_LOSS_MAX_TERMS]; /* host: labelled samples */
  int32_t *pred;     /* device [nterms, max_n] */
  float *view_logits; /* host [max_n, k]: test-time views on a GPU */
  /* the logits of the last evaluation forward without test-time views ([n, k] in the model's
   * memory, head-major as the loss reads them), for the confidences (calibration); NULL when the
   * trainer does not expose them (the multi-model methods) */
  const float *last_logits;
  /* with test-time views: the host copy of the last evaluation forward's logits [n * views, k]
   * (sample i's views at rows i * views ..), NULL otherwise or when not exposed */
  const float *last_view_logits;
  void *priv;
};

/* The trainer for cfg over model m. A model planned for inference only
 * (pb_model_finalize_infer) gets an evaluation-only trainer: no optimizer, micro is a bug.
 * Embedding models ([model] embedding_dim) train with [train] loss = triplet (and only with it). */
pb_trainer *pb_trainer_from_config(const pb_config *cfg, pb_model *m, int64_t steps_per_epoch, int epochs,
                                   pb_err *err);
void pb_trainer_free(pb_trainer *t);

/* The trainer of [method] over named models (rebias.c): models[i] named names[i], built from
 * views[i] (pb_config_view of cfg for that name). vanilla trains f on its cross-entropy,
 * biased the g models, rebias both in the ReBias min-max; frozen models are evaluated and
 * checkpointed only. learner[0] is the reported model (f; the first g for biased); its
 * terms: one per model (its CE and accuracy), then "hsic" (rebias; a value, no predictions).
 * User errors name the key and where it was set. */
pb_trainer *pb_trainer_models(const pb_config *cfg, pb_model **models, pb_config **views, const char **names, int n,
                              int64_t steps_per_epoch, int epochs, pb_err *err);

/* The plain supervised trainer: one learner over m, one loss (plain.c). */
pb_trainer *pb_trainer_plain(const pb_config *cfg, pb_model *m, int64_t steps_per_epoch, int epochs, pb_err *err);

static inline int pb_trainer_micro(pb_trainer *t, const float *x, const int32_t *y, const int32_t *y_host, int n,
                                   int step_now) {
  for (int i = 0; i < t->nlearners; i++) pb_guard_begin(&t->learner[i]);
  return t->vt->micro(t, x, y, y_host, n, step_now);
}
/* The first learner whose last step was non-finite under on_nonfinite = stop, or the last of
 * [run] loss_spike_max_skips spikes in a row, else NULL. */
static inline const pb_learner *pb_trainer_nonfinite_stop(const pb_trainer *t) {
  for (int i = 0; i < t->nlearners; i++)
    if (t->learner[i].nonfinite_stop || t->learner[i].spike_stop) return &t->learner[i];
  return NULL;
}
static inline void pb_trainer_eval(pb_trainer *t, const float *x, const int32_t *y, const int32_t *y_host, int n,
                                   int views, int32_t *pred, double *term_loss) {
  t->vt->eval(t, x, y, y_host, n, views, pred, term_loss);
}
/* The run's steps so far (learner 0's optimizer steps unless the trainer counts otherwise),
 * the steps of the whole run, and the rate to report. */
static inline int64_t pb_trainer_step(const pb_trainer *t) {
  int64_t s = t->learner[0].opt.step, tot;
  double lr;
  if (t->vt->progress) t->vt->progress(t, &s, &tot, &lr);
  return s;
}
static inline int64_t pb_trainer_total_steps(const pb_trainer *t) {
  int64_t s, tot = t->learner[0].total_steps;
  double lr;
  if (t->vt->progress) t->vt->progress(t, &s, &tot, &lr);
  return tot;
}
static inline double pb_trainer_lr(const pb_trainer *t) {
  int64_t s, tot;
  double lr = t->learner[0].lr;
  if (t->vt->progress) t->vt->progress(t, &s, &tot, &lr);
  return lr;
}
/* Restores the run's step count read from a checkpoint. */
static inline void pb_trainer_set_step(pb_trainer *t, int64_t step) {
  if (t->vt->set_step)
    t->vt->set_step(t, step);
  else
    t->learner[0].opt.step = step;
}

/* The progress since the last set (waits for the device); set it (resume, epoch start). */
void pb_trainer_stats(pb_trainer *t, pb_train_stats *s);
void pb_trainer_set_stats(pb_trainer *t, const pb_train_stats *s);
/* Learning rate after resuming at step: the rate of the last step taken (learner 0). */
void pb_trainer_resume_lr(pb_trainer *t);

/* For implementations: the shared progress accumulators and prediction buffer for loss l on
 * m's device (pb_trainer_free releases them). */
int pb_trainer_alloc_common(pb_trainer *t, pb_model *m, pb_err *err);

#endif
