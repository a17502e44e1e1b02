/* run.h: what `plumb train` and `plumb eval` build from a config: the context, the data,
 * the model and its trainer; plus evaluation and the run folder's checkpoints. */
#ifndef PB_RUN_H
#define PB_RUN_H

#include <signal.h>

#include "engine/ctx.h"
#include "engine/model.h"
#include "engine/run/data.h"
#include "engine/trainer.h"
#include "loaders/dataset.h"
#include "loaders/pool.h"
#include "metrics/classification.h"

typedef struct pb_run {
  pb_config *cfg;
  pb_ctx ctx;
  uint64_t seed;
  pb_dataset train, val, test;
  pb_norm norm;
  pb_model *model;
  pb_trainer tr;
  int batch, eval_batch, epochs;
  int64_t batches_per_epoch;
  char dir[4096], ckdir[4200];
  /* the loader: worker pool producing batches (pinned on a GPU), and the per-sample
   * augmentation of training and evaluation */
  pb_loader *loader;
  pb_aug aug_train, aug_test;
  pb_batch *held;        /* GPU: the batch whose copy may still be in flight */
  long ep_bad;           /* bad samples skipped in this epoch (training) */
  /* the current loader pass: its samples, the bad ones skipped so far and the first of their
   * messages, checked against [loader] max_bad_fraction */
  long pass_n, pass_bad;
  double max_bad_fraction;
  int nfirst_bad;
  char first_bad[3][600];
  const volatile sig_atomic_t *stop; /* non-NULL: evaluation gives up when *stop is set */
  /* batch staging: host tensors on the CPU; device slots + tensors on a GPU */
  int max_batch;         /* samples (images) per batch, training or evaluation */
  int views;             /* test-time views per evaluation image ([augment] tta; 1 = none) */
  int max_rows;          /* model inputs per batch: max(batch, eval_batch * views) */
  size_t max_sample;     /* bytes of the largest sample (u8 or f32) */
  float *x_host, *x_dev;
  int32_t *y_host, *y_dev[2];
  uint8_t *u8_dev[2];
  int slot;
  /* progress, saved in checkpoints (host mirror of the trainer's accumulators) */
  int64_t epoch, cursor;
  double ep_loss;
  long ep_correct, ep_seen;
  /* multi-head models (model->nheads > 0): labels [nheads, n] staged like y (y_host, y_dev hold
   * max_batch * nheads), per-head epoch progress (saved in checkpoints too) */
  int nheads;
  double ep_head_loss[PB_MAX_HEADS];
  long ep_head_correct[PB_MAX_HEADS], ep_head_seen[PB_MAX_HEADS];
  int32_t *yh_heads;     /* GPU: host copy [nheads, n] of the batch's labels */
} pb_run;

/* Evaluation of a multi-head model: per head, loss, accuracy and per-class accuracy. */
typedef struct pb_heads_eval {
  int nheads;
  pb_class_counts h[PB_MAX_HEADS];
} pb_heads_eval;

/* Context, data, model, trainer from cfg. On error everything is released. */
int pb_run_init(pb_run *r, pb_config *cfg, pb_err *err);
/* The same for evaluation only (`plumb eval`): the model is planned for inference (no
 * gradients, nothing saved for backward, batches of eval_batch_size) and has no optimizer. */
int pb_run_init_infer(pb_run *r, pb_config *cfg, pb_err *err);
void pb_run_free(pb_run *r);
/* [augment] for training and evaluation on data shaped like train (in-memory data keeps
 * its stored size). */
int pb_run_augs(const pb_config *cfg, const pb_dataset *train, pb_aug *aug_train, pb_aug *aug_test, pb_err *err);
/* Starts a loader pass over order[0..n) of d from batch first (waits for copies in flight
 * from the loader's memory first). train: the training augmentation, else evaluation's. */
void pb_run_pass(pb_run *r, const pb_dataset *d, int train, const int32_t *order, int n, int batch, int64_t first,
                 int64_t epoch);
/* Stages a loader batch of d for the model's device: *x [n * views, c, h, w] normalised (u8 data) or
 * as stored (f32 data) and *y [n] on the device, *y_host [n] the labels on the host. On a GPU
 * the bytes go from the batch's pinned memory by an asynchronous copy that overlaps the
 * compute already enqueued, and are normalised there. Bad samples the batch left out are
 * logged; with [loader] on_bad_image = fail the first one is returned as the error, with skip
 * an error names the count and the first files once the pass's skipped samples pass
 * [loader] max_bad_fraction of its samples. */
int pb_run_batch(pb_run *r, const pb_dataset *d, pb_batch *b, float **x, int32_t **y, const int32_t **y_host,
                 pb_err *err);
/* Returned by the evaluations when r->stop was set before the pass ended. */
#define PB_STOPPED 1

/* Evaluation-mode pass over d (batches of eval_batch), averaging the probabilities over the
 * test-time views of [augment] tta when set. Fails when no image of d could be read, or when
 * the skipped ones pass [loader] max_bad_fraction; returns PB_STOPPED when r->stop was set. */
int pb_run_evaluate(pb_run *r, const pb_dataset *d, pb_cls_counts *out, pb_err *err);
/* The same for a multi-head model; out is initialised here (pb_heads_eval_free). Same returns. */
int pb_run_evaluate_heads(pb_run *r, const pb_dataset *d, pb_heads_eval *out, pb_err *err);
void pb_heads_eval_free(pb_heads_eval *e);
/* " NAME_loss=.. NAME_acc=.. NAME_disparity=.." per head, prefixed (e.g. "test_"). */
void pb_heads_eval_str(const pb_run *r, const pb_heads_eval *e, const char *prefix, char *buf, size_t len);
size_t pb_run_count_params(const pb_run *r);
/* Newest complete checkpoint in r->ckdir (its model file path); 0 when none. */
int pb_run_latest_checkpoint(const pb_run *r, char *path, size_t len);
/* Keeps the newest [run] keep_checkpoints complete checkpoints, removing older ones. */
void pb_run_prune_checkpoints(const pb_run *r);

#endif
