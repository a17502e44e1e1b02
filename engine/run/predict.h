/* predict.h: the prediction pass of `plumb predict`: a dataset without labels (usually
 * loaders/unlabelled.h) through the evaluation preprocessing of the config ([augment] test and
 * its test-time views, the normalisation) and the model restored from a checkpoint, in
 * inference mode, collecting each image's view-averaged probabilities (single-label models:
 * softmax) or per-label scores (multi-label: metrics/mlscore.h) by dataset index, and which
 * images could not be read, with the reason. The submission itself is the CLI's
 * (engine/cli/cmd_predict.c). */
#ifndef PB_PREDICT_H
#define PB_PREDICT_H

#include "engine/run/run.h"
#include "metrics/mlscore.h"

typedef struct pb_predict_params {
  int multilabel;       /* 0: softmax probabilities; 1: per-label scores of kind / top_k */
  pb_mlscore_kind kind; /* multi-label: the score (metrics/mlscore.h) */
  int top_k;            /* multi-label, PB_MLSCORE_INCLUSIVE: [multilabel] top_k */
} pb_predict_params;

typedef struct pb_predict {
  long n;         /* the dataset's samples */
  int k;          /* classes (the model's outputs) */
  float *probs;   /* [n, k] row-major, row = dataset index: the probabilities / scores averaged
                     over the test-time views (in double, stored as float32); NaN rows for the
                     images that failed */
  int32_t *top;   /* [n] single-label: the argmax class of the averaged probabilities (the
                     smaller index on a tie; the class plumb eval predicts without views), -1
                     when the image failed; multi-label: -1 */
  char **reason;  /* [n] NULL when predicted; else why the image could not be read (owned) */
  long npred, nfailed;
} pb_predict;

/* Returned by pb_run_predict when r->stop was set before the pass ended. */
#define PB_PREDICT_STOPPED 1

/* One inference pass of r's reported model over d (every sample, in index order; batches of
 * [train] eval_batch_size, r->views test-time views per image). r comes from
 * pb_run_init_predict with the model loaded (pb_run_load_models). d: PB_DATA_FILES with r's
 * training set's c, h, w. Images the loader skips never end the pass ([loader]
 * max_bad_fraction is not applied: each failure is kept with its reason, decoded again on this
 * thread to say why); with [loader] on_bad_image = fail the first one is the error.
 * Fails (PB_ERR, err set) for a model plumb cannot predict with (multi-head, embedding), when
 * every image failed (naming the count and the first), or a loader error; PB_PREDICT_STOPPED
 * when r->stop was set. out is initialised here; pb_predict_free it (also on failure). */
int pb_run_predict(pb_run *r, const pb_dataset *d, const pb_predict_params *p, pb_predict *out, pb_err *err);
void pb_predict_free(pb_predict *p);

#endif
