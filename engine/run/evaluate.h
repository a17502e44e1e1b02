/* evaluate.h: one evaluation pass over a dataset, collecting on the host what metrics/ needs:
 * each image's predicted class and label per loss term, its bias-aligned flag and group, its
 * groups in the dataset's groupings (the cell-averaged accuracy), and the loss sums. The measurements themselves are pure functions in metrics/. */
#ifndef PB_EVALUATE_H
#define PB_EVALUATE_H

#include "engine/run/run.h"
#include "metrics/cells.h"
#include "metrics/classification.h"
#include "metrics/multilabel.h"

typedef struct pb_eval {
  long n;             /* images evaluated (bad ones left out) */
  int nterms;
  int32_t *pred;      /* [nterms, cap]: term t's prediction of image i at pred[t * cap + i] */
  int32_t *labels;    /* the same layout; -1 = missing */
  long cap;           /* the dataset's size */
  uint8_t *aligned;   /* [n] bias-aligned flags, NULL when the data has none */
  int32_t *groups;    /* [n] bias attribute / group ids, NULL when the data has none */
  int ngroupings;     /* the dataset's groupings ([data] test_group_columns), else 0 */
  int32_t *groupings; /* [n, ngroupings] row-major, NULL when ngroupings == 0 */
  int min_cell;       /* [data] min_cell: images a (class, group) cell needs to count */
  int32_t *sample;    /* [n] the dataset index of each evaluated image */
  double loss[PB_LOSS_MAX_TERMS]; /* loss sums per term over its labelled images */
  /* embedding models ([model] embedding_dim): no predictions (pred is -1) but the embeddings
   * and their verification figures (engine/run/verify.h) */
  float *conf;        /* [nterms, cap] like pred: the largest softmax probability of each image's
                         prediction (float32, metrics/calibration.h), NaN for terms without classes;
                         with test-time views ([augment] tta, one head) the largest view-averaged
                         probability; NULL when the trainer does not expose its logits (the
                         multi-model methods) and for multi-label models */
  /* per-image scores [n, score_k] row-major: a multi-label model's per-label scores ([multilabel]
   * score, metrics/mlscore.h; averaged over test-time views), or with r->keep_scores a one-term
   * classifier's softmax probabilities (averaged over the views); NULL otherwise (several terms, a
   * multi-model method) */
  int score_k;
  float *scores;
  uint8_t *truth;     /* multi-label: [n, score_k] multi-hot truth (1 present, 0 absent), else NULL */
  long ml_positives;  /* multi-label: the positives of the evaluated images */
  int ml_inclusive;   /* multi-label: the loss sum is over positives (else over images) */
  double ml_threshold; /* multi-label: the run's [multilabel] threshold / min_labels / max_labels */
  int ml_min_labels, ml_max_labels;
  int emb_dim;        /* 0: a classifier */
  float *emb;         /* [n, emb_dim] row-major, image i's embedding */
  struct pb_verif_result *verif;   /* the set's verification figures, owned */
  struct pb_verif_overlap *overlap; /* identities of the set also in the training set, owned */
} pb_eval;

/* Returned by pb_run_evaluate when r->stop was set before the pass ended. */
#define PB_STOPPED 1

/* Evaluation-mode pass over d (batches of eval_batch), averaging the probabilities over the
 * test-time views of [augment] tta when set. For an embedding model it collects the embeddings
 * and evaluates verification over every pair of d (pb_run_verify). out is initialised here (pb_eval_free, also on
 * failure). Fails when no image of d could be read, or when the skipped ones pass
 * [loader] max_bad_fraction; returns PB_STOPPED when r->stop was set. */
int pb_run_evaluate(pb_run *r, const pb_dataset *d, pb_eval *out, pb_err *err);
void pb_eval_free(pb_eval *e);
/* Data-parallel, with r->shard_eval set (eval_shard.c): pb_run_evaluate is a collective; each
 * rank evaluates its share and rank 0's out holds the whole set's figures (the other ranks' out
 * holds nothing to report). pb_run_eval_gather is its last part; pb_run_dist_sync_buffers gives
 * every rank rank 0's model buffers (batch-norm statistics) before an evaluation. */
int pb_run_eval_gather(pb_run *r, const pb_dataset *d, pb_eval *out, pb_err *err);
int pb_run_dist_sync_buffers(pb_run *r, pb_err *err);

/* A multi-label evaluation's figures (e->truth set): the loss (per positive for the inclusive
 * loss, per image for BCE), precision at 1 over the images with a positive (the top-scored label
 * is a true one), the F2 sweep (best threshold and F2), the F2 of the submission rule ([multilabel]
 * threshold / min_labels / max_labels), and AP / ROC AUC per class with their macro means
 * (metrics/multilabel.h). pb_eval_ml_free it. */
typedef struct pb_eval_ml {
  double loss, p1, f2_select;
  long n_with_positive;
  pb_ml_sweep sweep;
  pb_ml_ranking rank;
} pb_eval_ml;
void pb_eval_multilabel(const pb_eval *e, pb_eval_ml *out);
void pb_eval_ml_free(pb_eval_ml *m);

/* The 8-bit Bias Bounty score (metrics/groups.h) of the terms named skin, age and gender
 * (accuracy and per-class disparity of each): 1 with *score set when the three are there, else 0. */
int pb_eval_bounty(const pb_terms *l, const pb_eval *e, double *score);

/* Term t's counts over its labelled images, per class of k (metrics/classification.h);
 * pb_class_counts_free it. */
void pb_eval_class_counts(const pb_eval *e, int t, int k, pb_class_counts *out);
/* Accuracy overall and on bias-aligned / bias-conflicting images (term 0). */
void pb_eval_bias_counts(const pb_eval *e, pb_cls_counts *out);
/* Term t's cell-averaged accuracy over e's groupings (metrics/cells.h; labels outside [0, k)
 * left out); e->ngroupings must be >= 1. All NaN when e holds no image. */
void pb_eval_cell_acc(const pb_eval *e, int t, int k, pb_cell_acc *out);

#endif
