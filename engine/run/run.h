/* run.h: a run's session: what `plumb train` and `plumb eval` build from a config (the
 * context, the data, the model, its trainer and the loader), and the staging of loader
 * batches onto the model's device. The epoch loop is loop.h, evaluation evaluate.h, the run
 * folder folder.h, the log lines and metrics.csv report.h. */
#ifndef PB_RUN_H
#define PB_RUN_H

#include <signal.h>

#include "engine/device/ctx.h"
#include "engine/models/model.h"
#include "engine/run/data.h"
#include "engine/trainers/trainer.h"
#include "loaders/dataset.h"
#include "loaders/pool.h"
#include "loaders/sampler.h"

#define PB_RUN_MAX_TESTS 4

typedef struct pb_run {
  pb_config *cfg;
  pb_ctx ctx;
  uint64_t seed;
  pb_dataset train, val;
  int ntests;
  pb_dataset tests[PB_RUN_MAX_TESTS]; /* "test" ([data] test_bias), or the [data] test_variants */
  pb_norm norm;
  pb_model *model;       /* the reported model: the only one, or the method's f (g for biased) */
  int nmodels;
  pb_model *models[PB_MAX_LEARNERS]; /* owned: [model], or the [model.NAME] models in declaration order */
  pb_trainer *tr;
  int nterms;            /* the trainer's terms (trainer.h pb_terms) */
  int nlabels;           /* label rows per batch: 1, or one per head of a multi-head model */
  int batch, eval_batch, epochs; /* batch: this rank's part of a global batch (dist_run.c) */
  int global_batch;      /* [train] batch_size: the batch of all ranks together (= batch with one) */
  int dropped_tail;      /* data-parallel: samples left out of each epoch (a last batch smaller than the ranks) */
  int64_t batches_per_epoch;
  /* the training order ([data] sampler, order.c): epoch_samples entries per epoch (the data's
   * size, or P x K x batches for sampler = pk, whose plan is pk) */
  int64_t epoch_samples;
  int pk_p, pk_k;        /* sampler = pk: P identities x K samples; 0 for the epoch sampler */
  pb_pk_stats pk;
  char dir[4096], ckdir[4200];
  /* the loader: worker pool producing batches (pinned on a GPU), and the per-sample
   * augmentation of training and evaluation */
  pb_loader *loader;
  pb_aug aug_train, aug_test;
  pb_batch *held;        /* the batch staged last: its copy may be in flight, its flags are read */
  long ep_bad;           /* bad samples skipped in this epoch (training) */
  /* the current loader pass: its samples, the bad ones skipped so far and the first of their
   * messages, checked against [loader] max_bad_fraction */
  long pass_n, pass_bad;
  double max_bad_fraction;
  int min_cell;          /* [data] min_cell: the cell-averaged accuracy's smallest cell */
  int nfirst_bad;
  char first_bad[3][600];
  const volatile sig_atomic_t *stop; /* non-NULL: evaluation gives up when *stop is set */
  int no_verify;         /* embedding models: evaluation collects the embeddings only (plumb embed) */
  int shard_eval;        /* data-parallel training: evaluations are split over the ranks (eval_shard.c) */
  /* multi-label data ([data] multilabel): the loss's label rows are the k multi-hot rows, and the
   * evaluation keeps each image's per-label scores ([multilabel] score / top_k, metrics/mlscore.h) */
  int multilabel;
  int ml_kind, ml_top_k;
  int ml_inclusive;      /* [train] loss = inclusive: its evaluation loss is per positive */
  double ml_threshold;   /* [multilabel] threshold / min_labels / max_labels (-1: no cap) */
  int ml_min_labels, ml_max_labels;
  int keep_scores;       /* evaluation keeps single-label probabilities too (plumb eval --predictions) */
  /* batch staging: two device slots of bytes and labels, the normalised input */
  int max_batch;         /* samples (images) per batch, training or evaluation */
  int views;             /* test-time views per evaluation image ([augment] tta; 1 = none) */
  int max_rows;          /* model inputs per batch: max(batch, eval_batch * views) */
  size_t max_sample;     /* bytes of the largest sample (u8 or f32) */
  float *x_dev;
  int32_t *y_dev[2];
  uint8_t *u8_dev[2];
  int32_t *y_host;       /* [nlabels, max_batch]: the staged batch's labels on the host */
  int slot;
  /* progress, saved in checkpoints (host mirror of the trainer's accumulators) */
  int64_t epoch, cursor;
  pb_train_stats ep;     /* per loss term */
  long ep_seen;          /* images */
  /* [run] select: the best value of that column so far and its epoch (1-based; 0: none yet),
   * saved in checkpoints while select is set */
  double select_best;
  int64_t select_epoch;
} pb_run;

/* Context, data, model, trainer from cfg. On error everything is released. */
int pb_run_init(pb_run *r, pb_config *cfg, pb_err *err);
/* The same for evaluation only (`plumb eval`): the model is planned for inference (no
 * gradients, nothing saved for backward, batches of eval_batch_size) and has no optimizer. */
int pb_run_init_infer(pb_run *r, pb_config *cfg, pb_err *err);
/* The same for `plumb predict` (engine/run/predict.h): planned for inference, but only the
 * training set is loaded (pb_run_load_train: the class names and the input shape); r->ntests
 * is 0 and the config's test data is never read. */
int pb_run_init_predict(pb_run *r, pb_config *cfg, pb_err *err);
/* Context, models and trainer from cfg without data, for benchmarks on synthetic batches: the
 * models and their trainer are built exactly as pb_run_init builds them (same seeds, views,
 * init_from, method), for inputs in[3] and batches of up to `batch` rows; steps_per_epoch sets
 * the schedules' length. No dataset, loader or staging memory (r->train etc. stay empty). On
 * error everything is released. */
int pb_run_init_models(pb_run *r, pb_config *cfg, const int in[3], int batch, int64_t steps_per_epoch,
                       pb_err *err);
void pb_run_free(pb_run *r);
/* [augment] for training and evaluation on data shaped like train (in-memory data keeps
 * its stored size). */
int pb_run_augs(const pb_config *cfg, const pb_dataset *train, pb_aug *aug_train, pb_aug *aug_test, pb_err *err);
/* Starts a loader pass over order[0..n) of d from batch first (waits for copies in flight
 * from the loader's memory first). train: the training augmentation, else evaluation's. */
void pb_run_pass(pb_run *r, const pb_dataset *d, int train, const int32_t *order, int n, int batch, int64_t first,
                 int64_t epoch);
/* Abandons the current pass (a signal, max_steps, an error): the workers stop between samples. */
void pb_run_pass_stop(pb_run *r);
/* Stages a loader batch of d for the model's device: *x [n * views, c, h, w] normalised (u8
 * data) or as stored (f32 data), *y [nlabels, n] on the device, *y_host the same on the host.
 * The bytes go by an asynchronous copy that overlaps the compute already enqueued (a memcpy
 * on the CPU) and are normalised on the device. Bad samples the batch left out are logged;
 * with [loader] on_bad_image = fail the first one is returned as the error, with skip an
 * error names the count and the first files once the pass's skipped samples pass
 * [loader] max_bad_fraction of its samples. */
int pb_run_batch(pb_run *r, const pb_dataset *d, pb_batch *b, float **x, int32_t **y, const int32_t **y_host,
                 pb_err *err);
size_t pb_run_count_params(const pb_run *r);

/* Data-parallel (dist_run.c, engine/dist/dist.h); with one rank each is what one process does. */
/* The context on the rank's device (GPU = local rank) with its share of the node's cores. */
int pb_run_ctx_init(pb_ctx *ctx, const pb_config *cfg, pb_err *err);
/* After the sampler: the global batch split over the ranks (batch, global_batch,
 * batches_per_epoch, dropped_tail). Errors: batch_size not a multiple of the ranks, sampler = pk,
 * loss_spike_z, fewer samples than ranks. */
int pb_run_dist_batches(pb_run *r, pb_err *err);
/* Every rank runs the same resolved config and built the same initial parameters (else the
 * error names the first rank that differs). A collective. */
int pb_run_dist_agree(pb_run *r, pb_err *err);
/* The log lines saying how the run is split (nothing with one rank). */
void pb_run_dist_describe(const pb_run *r);
/* This rank's shard of an epoch's order perm [epoch_samples] into out; returns its length. */
int64_t pb_run_shard(const pb_run *r, const int32_t *perm, int32_t *out);
/* The training figures so far summed over the ranks (a collective; r->ep / ep_seen with one). */
int pb_run_dist_stats(const pb_run *r, pb_train_stats *g, long *gseen, pb_err *err);

/* [data] sampler for r->train and r->batch (order.c): sets epoch_samples, batches_per_epoch and
 * for sampler = pk the P x K plan (loaders/sampler.h). Errors name the keys: batch_size not
 * P x K, fewer than P identities, no identity with 2 samples. */
int pb_run_sampler_init(pb_run *r, pb_err *err);
/* The training order of `epoch`: order [r->epoch_samples] dataset indices (a sample may repeat
 * with sampler = pk). Pure in (data, config, seed, epoch): an exact resume draws it again. */
void pb_run_epoch_order(const pb_run *r, int32_t *order, int64_t epoch);
/* The log line describing the sampler ("" for the epoch sampler). */
void pb_run_sampler_str(const pb_run *r, char *buf, size_t len);

#endif
