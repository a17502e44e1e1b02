/* multilabel.h: multi-label metrics as pure functions over host arrays (the CPU is the only
 * implementation; no twin). Inputs are scores [n, k] float32 row-major (probabilities or any
 * per-label score: only their order and their comparison with a threshold matter) and a truth
 * [n, k] uint8 row-major: 0 = absent, PB_ML_UNKNOWN (255) = unknown, any other value = present.
 * An unknown (image, label) entry is skipped everywhere: it is neither true nor predictable in
 * the F2 functions and is left out of that class's AP and AUC.
 *
 * - Inclusive Images F2 per image (../shared/REFERENCES.md, calculate_f2_measure):
 *   P = |pred n gt| / |pred| (1 if pred is empty), R = |pred n gt| / |gt| (1 if gt is empty),
 *   F2 = 5PR / (4P + R), 0 when 4P + R = 0; the score is the mean over images. So both empty is
 *   1 and an empty prediction for a non-empty truth is 0.
 * - Average precision and ROC AUC per class, as sklearn.metrics.average_precision_score and
 *   roc_auc_score on that class's column, and their macro means (see pb_ml_ranking).
 * Accumulation is in double; nothing allocated survives a call except pb_ml_ranking's arrays. */
#ifndef PB_METRICS_MULTILABEL_H
#define PB_METRICS_MULTILABEL_H

#include <stdint.h>

#define PB_ML_UNKNOWN 255
#define PB_ML_NTHRESH 20 /* np.arange(0, 1, 0.05) */

/* F2 of one image from its counts (inter <= npred, inter <= ngt, all >= 0). Cannot fail. */
double pb_ml_f2_counts(long inter, long npred, long ngt);

/* The sweep's thresholds, exactly as numpy 1.24 computes np.arange(0, 1, 0.05) in float64:
 * t[i] = i * 0.05 in double (arange fills start + i * delta with delta = (start + step) - start;
 * checked bit for bit against numpy: 0, 0.05, 0.1, 0.15000000000000002, ..., 0.9500000000000001,
 * 20 values since ceil(1 / 0.05) = 20). */
void pb_ml_thresholds(double t[PB_ML_NTHRESH]);

/* Mean over the n images of the F2 per image with the predicted set {j : scores[i, j] > t}
 * (STRICT; the float32 score is compared with the double t exactly, in double. numpy < 2 compares
 * a float32 array with a float64 scalar in float32 instead, so a score within a float32 rounding
 * of t, e.g. 0.15f against 0.15000000000000002, can differ; the fixture compares in float64).
 * A NaN score is never above t. n >= 1, k >= 1. Cannot fail. */
double pb_ml_f2_mean(const float *scores, const uint8_t *truth, long n, int k, double t);

/* The threshold sweep over pb_ml_thresholds: f2[i] = pb_ml_f2_mean at t[i]; best is the FIRST
 * index of the largest f2 (a later equal value does not replace it). */
typedef struct pb_ml_sweep {
  double t[PB_ML_NTHRESH], f2[PB_ML_NTHRESH];
  int best;
  double best_t, best_f2;
} pb_ml_sweep;
/* n >= 1, k >= 1. Cannot fail. */
void pb_ml_f2_sweep(const float *scores, const uint8_t *truth, long n, int k, pb_ml_sweep *out);

/* The labels predicted for one image under the submission rule generalised (Inclusive Images:
 * "up to 5 labels with score above 0.55, else the top 2" is t = 0.55, min 2, max 5): the labels
 * with score > t (strict, in double), capped to the max_labels highest; when fewer than
 * min_labels pass, the top min_labels by score instead. Order: score descending, ties broken by
 * the smaller label index; NaN scores rank below every number and never pass t. truth_row [k]
 * may be NULL; where given, labels whose truth is PB_ML_UNKNOWN cannot be predicted.
 * 0 <= min_labels <= max_labels (max_labels < 0: no cap). Writes the labels, best first, to
 * out[] (room for k) and returns their count. Cannot fail. */
int pb_ml_select(const float *row, const uint8_t *truth_row, int k, double t, int min_labels, int max_labels,
                 int *out);

/* Mean F2 over the n images with pb_ml_select's predicted sets. n >= 1, k >= 1.
 * Cannot fail (allocation failure aborts). */
double pb_ml_f2_mean_select(const float *scores, const uint8_t *truth, long n, int k, double t, int min_labels,
                            int max_labels);

/* Per-class average precision and ROC AUC, each class's column sorted once: O(n log n) per class.
 * AP is sklearn's step function AP = sum_n (R_n - R_{n-1}) P_n over the distinct scores,
 * descending, all samples with an equal score entering together. AUC is the Mann-Whitney
 * statistic, a tied (positive, negative) pair counting 1/2, counted exactly in integers, divided
 * once in double (sklearn integrates the ROC curve by trapezoids: equal to rounding).
 * ap[j] is NaN for a class without positives; auc[j] NaN without positives or without
 * negatives. sklearn 1.2 differs there: average_precision_score returns -0.0 (a warning, "recall
 * is set to one") and its 'macro' mean averages that 0 in; roc_auc_score raises ValueError. Here
 * the macro means are over the classes where the metric is defined (map over pos > 0, mauc over
 * pos > 0 and neg > 0), NaN when there is none. A NaN score in a defined class makes its AP / AUC
 * NaN and so the macro mean NaN (sklearn raises on NaN input): never silently dropped. */
typedef struct pb_ml_ranking {
  int k;
  double *ap, *auc; /* [k], owned */
  long *pos, *neg;  /* [k]: the known positives and negatives per class */
  double map, mauc; /* macro means over the defined classes */
  int nap, nauc;    /* how many classes each mean is over */
} pb_ml_ranking;
void pb_ml_ranking_init(pb_ml_ranking *r, int k);
void pb_ml_ranking_free(pb_ml_ranking *r); /* NULL or zeroed is fine */
/* Fills r (initialised with r->k == k) from scores / truth [n, k]; n >= 0.
 * Cannot fail (allocation failure aborts). */
void pb_ml_ranking_compute(pb_ml_ranking *r, const float *scores, const uint8_t *truth, long n, int k);

#endif
