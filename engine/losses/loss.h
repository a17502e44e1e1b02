/* loss.h: the loss interface. A loss turns a model's output into per-term loss values, the
 * gradient of the training objective and predictions, on the model's device; trainers
 * (engine/trainers/) decide when and on which model it runs.
 *
 * A loss has one or more TERMS. Cross-entropy and BCE have one, unnamed (logged as "loss" /
 * "acc"); the multi-head weighted sum has one per head, named after it (logged as
 * "skin_loss", "skin_acc", ...), each with a weight. The objective is sum_t weight_t * (mean
 * of term t over the samples that have its label); a single-head model is the one-term case.
 *
 * Implementations: xent.c (softmax cross-entropy with label smoothing; binary cross-entropy on
 * one-hot targets), multilabel.c (BCE on multi-hot targets, the Inclusive Images loss),
 * triplet.c, sum.c (the weighted sum over heads). Every op goes through the context's
 * ops table (engine/device/backend.h): no loss names a device. */
#ifndef PB_LOSS_H
#define PB_LOSS_H

#include <stdint.h>

#include "engine/config/config.h"
#include "engine/device/ctx.h"
#include "kernels/ops.h"

#define PB_LOSS_MAX_TERMS 16

typedef struct pb_loss_term {
  char name[32]; /* "" for the single term of a one-term loss; else the head's name */
  float weight;  /* in the objective */
  int classes;   /* logits of the term per sample */
  int offset;    /* term t's logits: the [n, classes] block at logits + n * offset (head-major) */
  int stat;      /* 1: a statistic of training, not a loss (weight 0, classes 0): its "loss sum" over
                    the labelled samples / their count is logged as train_NAME (the triplet loss's
                    active fraction) */
  int multilabel; /* 1: a multi-label term (pb_loss_multilabel): its labels are the k label rows of
                     the multi-hot targets, its "pred" the top label; it has no accuracy (the
                     evaluation reports F2, mAP and precision at 1 from the scores) */
} pb_loss_term;

typedef struct pb_loss pb_loss;

typedef struct pb_loss_vt {
  const char *kind;
  /* n samples (n <= the max_n given at creation; n >= 1):
   *   logits [n, k] (device), head-major for several terms (see pb_loss_term.offset)
   *   y [nterms, n] labels (device), y_host the same on the host; a label < 0 is missing
   * Writes term t's loss SUM over its labelled samples to l->term_loss[t] (device float,
   * overwritten) and its predicted classes to pred + t*n (device). When correct is non-NULL
   * adds term t's correct predictions to correct[t] (device int); when seen is non-NULL adds
   * its labelled samples to seen[t] (host). When dlogits is non-NULL writes ([n, k],
   * overwritten) the gradient of weight_t * scale / (labelled_t * accum) * (term t's sum),
   * i.e. of the objective for one micro-batch of an accumulation group of accum. */
  void (*compute)(pb_loss *l, pb_ctx *ctx, const float *logits, const int32_t *y, const int32_t *y_host, int n,
                  int accum, float *dlogits, int32_t *pred, int *correct, long *seen);
  /* Test-time augmentation, on the host: logits [n * views, k] hold `views` rows per sample;
   * the probabilities are averaged over each sample's views (in double), pred[n] gets their
   * argmax and the return value is the loss sum of the averaged probabilities. NULL when the
   * loss has no such form (several terms). */
  double (*views)(pb_loss *l, const float *logits, const int32_t *y_host, int n, int views, int32_t *pred);
  void (*free)(pb_loss *l, pb_ctx *ctx);
} pb_loss_vt;

struct pb_loss {
  const pb_loss_vt *vt;
  int k;          /* logits per sample (all terms) */
  int nterms;
  int label_rows; /* label rows [label_rows, n] compute reads: nterms (one per head), or 1 when
                     every term scores the one label row (the triplet loss's statistics) */
  pb_loss_term term[PB_LOSS_MAX_TERMS];
  float *term_loss; /* [nterms] on the device: the loss sums of the last compute */
  int owns_term_loss;
  void *priv;
};

/* Softmax cross-entropy over [n, k] with label smoothing s (PyTorch's target
 * (1-s) onehot + s/k), one term. max_n bounds n. NULL with err on out-of-memory. */
pb_loss *pb_loss_xent(pb_ctx *ctx, int k, float smoothing, int max_n, pb_err *err);
/* Binary cross-entropy with logits on one-hot targets of the labels, averaged over the k
 * classes (nn.BCEWithLogitsLoss on one-hot rows), one term. */
pb_loss *pb_loss_bce(pb_ctx *ctx, int k, int max_n, pb_err *err);
/* The triplet loss (ops.h "triplet loss") over embeddings [n, d] (the model's output, k = d)
 * with identity labels, for batches of up to max_n rows (the training batch: the loss reserves
 * O(max_n^2) memory). Three terms on the one label row: "triplet" (weight 1: the reduced loss of
 * each batch, weighted by its labelled rows in the epoch's mean), then the statistics "active"
 * (the fraction of valid terms > 1e-5) and "excluded" (the fraction of anchors without a positive
 * or a negative in their batch). No predictions: the classes of every term are 0. The gradient is
 * that of loss / accum. User errors (the workspace on a GPU) name the keys. */
pb_loss *pb_loss_triplet(pb_ctx *ctx, int d, const pb_triplet_params *p, int max_n, pb_err *err);

/* Multi-label classification over k labels, one term with label_rows = k: the labels y are the
 * k label ROWS [k, n] (y[c * n + i] > 0: sample i has label c). inclusive 0: binary cross-entropy
 * with logits on the multi-hot targets, nn.BCEWithLogitsLoss(reduction='mean') (the term's sum is
 * per sample: the mean over its k classes; seen counts samples); inclusive 1: the Inclusive
 * Images loss, the sum over every positive (i, p) of -log softmax([z_ip, z_i,negatives])[0], its
 * gradient that of sum / (the batch's positives * accum) (the solution's mean over positives;
 * seen counts positives, so the logged loss is the same mean). A sample without positives adds
 * nothing to the inclusive loss. max_n bounds n. */
pb_loss *pb_loss_multilabel(pb_ctx *ctx, int k, int inclusive, int max_n, pb_err *err);

/* The weighted sum of one term per head: terms[t] gives the head's name, weight, classes and
 * offset; part[t] (owned from here on, even on failure) computes that head's term on its
 * logit block. */
pb_loss *pb_loss_sum(pb_ctx *ctx, int nterms, const pb_loss_term *terms, pb_loss **part, pb_err *err);

/* The loss [train] loss / label_smoothing ask for, over logits of k per sample; heads: the
 * model's heads (nheads 0: a one-term loss). Bad combinations are errors naming the keys. */
struct pb_head;
pb_loss *pb_loss_from_config(const pb_config *cfg, pb_ctx *ctx, int k, const struct pb_head *heads, int nheads,
                             int max_n, pb_err *err);
void pb_loss_free(pb_loss *l, pb_ctx *ctx);

/* Allocates l->term_loss for nterms on ctx (for implementations). */
int pb_loss_alloc_terms(pb_loss *l, pb_ctx *ctx, pb_err *err);

#endif
