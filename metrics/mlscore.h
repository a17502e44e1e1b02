/* mlscore.h: per-label scores of a multi-label model from its logits, on the host (the CPU is
 * the only implementation; no twin). The scores feed metrics/multilabel.h (F2 sweep, selection,
 * AP / AUC), predictions.csv and `plumb predict`.
 *
 * - PB_MLSCORE_SIGMOID: score = sigmoid(logit) (the model trained with BCE).
 * - PB_MLSCORE_INCLUSIVE: the Inclusive Images solution's score (../shared/REFERENCES.md,
 *   "Inclusive Images"): the logits of a row sorted descending (ties: the smaller label index
 *   first); label j ranked r < top_k scores softmax([logit_j, the logits ranked top_k..k-1])
 *   taken at logit_j = 1 / (1 + sum_{r' >= top_k} exp(logit_r' - logit_j)), computed in double;
 *   labels ranked >= top_k score 0 (they cannot be predicted). With top_k >= k every label
 *   ranked below k scores 1 (the solution's behaviour: nothing is left to compare with).
 *   This mirrors the training loss (engine/losses/multilabel.c): a positive against the
 *   negatives.
 * - PB_MLSCORE_SOFTMAX: the row's softmax (a single-label model's probabilities).
 * A NaN logit gives NaN scores for its row (never a number that looks valid). */
#ifndef PB_METRICS_MLSCORE_H
#define PB_METRICS_MLSCORE_H

#include <stdint.h>

typedef enum { PB_MLSCORE_SIGMOID = 0, PB_MLSCORE_INCLUSIVE = 1, PB_MLSCORE_SOFTMAX = 2 } pb_mlscore_kind;

/* "sigmoid" / "inclusive" / "softmax" -> the kind, -1 when unknown. */
int pb_mlscore_parse(const char *s);
const char *pb_mlscore_name(pb_mlscore_kind kind);

/* scores [n, k] (overwritten; may not alias logits) from logits [n, k]. top_k >= 1 is read by
 * PB_MLSCORE_INCLUSIVE only. n >= 0, k >= 1. Cannot fail (allocation failure aborts). */
void pb_ml_scores(float *scores, const float *logits, long n, int k, pb_mlscore_kind kind, int top_k);

#endif
