/* groups.h: accuracy per group and its disparity, and the 8-bit Bias Bounty score
 * (../shared/REFERENCES.md "8-bit Bias Bounty"), as pure functions over host arrays. No twin:
 * evaluation runs on the host. Tested by test/metrics/test_groups.c. (Per-class counts over one
 * head during a pass: pb_class_counts in classification.h; this takes whole arrays and any
 * grouping.) */
#ifndef PB_METRICS_GROUPS_H
#define PB_METRICS_GROUPS_H

#include <stdint.h>

typedef struct pb_group_acc {
  int ngroups;
  long n, correct;    /* labelled samples in a group */
  double accuracy;    /* correct / n; NaN when n == 0 */
  long *per_n;        /* [ngroups], owned */
  long *per_correct;  /* [ngroups], owned */
  double *acc;        /* [ngroups], owned: per_correct / per_n; NaN for an empty group */
  int present;        /* groups with per_n > 0 */
  int worst, best;    /* the first group with the lowest / highest accuracy; -1 when none */
  double disparity;   /* max - min of acc over the groups present; 0 with one, NaN with none */
} pb_group_acc;

/* pred [n], label [n], group [n] (or NULL: the group is the true label, so acc is the per-class
 * accuracy and disparity the Bias Bounty Disp of that head). A sample with label < 0 (missing) or
 * a group outside [0, ngroups) is left out. ngroups >= 1, n >= 0. out owns its arrays
 * (pb_group_acc_free). Cannot fail (allocation failure aborts). */
void pb_group_accuracy(const int32_t *pred, const int32_t *label, const int32_t *group, long n, int ngroups,
                       pb_group_acc *out);
void pb_group_acc_free(pb_group_acc *g); /* NULL is fine */

/* The Bias Bounty score of the three heads, in the formula's order skin tone (10 Monk classes),
 * age (4 bins), gender (2):
 *   10 acc_skin (1 - disp_skin^5) + 4 acc_age (1 - disp_age^2) + 2 acc_gender (1 - disp_gender)
 * acc_x is the head's accuracy over its labelled samples and disp_x its max - min per-class
 * accuracy (pb_group_accuracy with group NULL: .accuracy and .disparity), all in [0, 1]; the
 * best score is 16. A NaN input gives NaN. */
double pb_bias_bounty_score(double acc_skin, double disp_skin, double acc_age, double disp_age, double acc_gender,
                            double disp_gender);

#endif
