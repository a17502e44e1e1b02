/* classification.h: classification metrics as pure functions over host arrays. */
#ifndef PB_METRICS_CLASSIFICATION_H
#define PB_METRICS_CLASSIFICATION_H

#include <stdint.h>

/* Running counts for one evaluation pass. */
typedef struct pb_cls_counts {
  long n, correct;
  long n_aligned, correct_aligned;       /* bias-aligned samples */
  long n_conflicting, correct_conflicting;
  double loss_sum;
} pb_cls_counts;

/* Adds n predictions. aligned may be NULL (no bias attribute). */
void pb_cls_counts_add(pb_cls_counts *c, const int32_t *pred, const int32_t *y, const uint8_t *aligned, int n);
/* correct / n; NaN when n == 0 (reported as "nan", never as a made-up number). */
double pb_ratio(long num, long den);

/* Per-class counts of one classification head (multi-head evaluation). Labels < 0 are missing
 * and not counted. */
typedef struct pb_class_counts {
  int k;
  long n, correct;
  long *per_n, *per_correct; /* [k], owned */
  double loss_sum;
} pb_class_counts;
void pb_class_counts_init(pb_class_counts *c, int k);
void pb_class_counts_free(pb_class_counts *c);
void pb_class_counts_add(pb_class_counts *c, const int32_t *pred, const int32_t *y, int n);
/* The Bias Bounty disparity: max minus min per-class accuracy over the classes present
 * (per_n > 0); 0 with one class present, NaN with none. */
double pb_class_counts_disparity(const pb_class_counts *c);

#endif
