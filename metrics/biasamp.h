/* biasamp.h: directional bias amplification (Wang & Russakovsky 2021) for single-label tasks and
 * attributes, as pure functions over host arrays (../shared/REFERENCES.md "Bias amplification").
 * No twin: evaluation runs on the host. Reference values: scripts/fixtures/metrics_calib_biasamp.py
 * (numpy), checked by test/metrics/test_biasamp.c.
 *
 * A->T, from task labels t, attributes a and predicted tasks t_hat, over all (a, t) pairs:
 *   y_at = 1[P(a,t) > P(a) P(t)]             from the ground truth (equality gives 0)
 *   D_at = P(T_hat = t | A = a) - P(T = t | A = a)
 *   BiasAmp = mean over (a, t) of [ y_at D_at + (1 - y_at)(-D_at) ]
 * T->A swaps the roles: predicted attributes a_hat, D_at = P(A_hat = a | T = t) - P(A = a | T = t),
 * y the same (it is symmetric in a and t), mean over the same pairs.
 * Variants:
 *   PB_BIASAMP_STUDY: cv_bias_amplification's calc_bias_amp_at as above, a plain mean: an
 *     attribute (A->T) or task (T->A) without samples makes its D_at 0/0 = NaN, and the value NaN.
 *   PB_BIASAMP_WANG: princetonvisualai/directional-bias-amp: y_at = sign(P(a,t) - P(a) P(t))
 *     (-1, 0 or +1), term y_at D_at, nanmean over the pairs (NaN only when every term is NaN).
 * y's comparison is exact (integer counts cross-multiplied: n c_at vs c_a c_t), where the
 * references compare float64 ratios; the two can differ only when P(a,t) = P(a) P(t) exactly. */
#ifndef PB_METRICS_BIASAMP_H
#define PB_METRICS_BIASAMP_H

#include <stdint.h>

typedef enum pb_biasamp_variant { PB_BIASAMP_STUDY = 0, PB_BIASAMP_WANG = 1 } pb_biasamp_variant;
typedef enum pb_biasamp_dir { PB_BIASAMP_A_TO_T = 0, PB_BIASAMP_T_TO_A = 1 } pb_biasamp_dir;

typedef struct pb_biasamp {
  pb_biasamp_variant variant;
  pb_biasamp_dir dir;
  const char *name;   /* static: "study_a_to_t", "study_t_to_a", "wang_a_to_t", "wang_t_to_a" */
  int na, nt;
  long n;             /* samples with t in [0, nt) and a in [0, na) */
  long n_y;           /* samples y was computed from (n unless training labels were given) */
  double value;       /* the bias amplification; NaN as described above */
  int8_t *y;          /* [na * nt], y[a * nt + t] in both directions: STUDY 0/1, WANG -1/0/+1 */
  double *d;          /* [na * nt], D at [a * nt + t] in both directions; NaN when its condition
                         (attribute a for A->T, task t for T->A) has no sample */
} pb_biasamp;

/* t [n] in [0, nt), a [n] in [0, na): true task and attribute; a sample with either outside its
 * range (a missing label, -1) is left out. pred [n]: t_hat for A->T, a_hat for T->A; a prediction
 * outside its range counts as predicting no class. y_t, y_a [n_y] or both NULL: the labels y is
 * computed from (W&R's optional training labels); NULL uses t and a. nt, na >= 1, n, n_y >= 0.
 * out owns y and d (pb_biasamp_free). Cannot fail (allocation failure aborts). */
void pb_biasamp_compute(const int32_t *t, const int32_t *a, const int32_t *pred, long n, int nt, int na,
                        pb_biasamp_dir dir, pb_biasamp_variant variant, const int32_t *y_t, const int32_t *y_a,
                        long n_y, pb_biasamp *out);
void pb_biasamp_free(pb_biasamp *b); /* NULL is fine */

#endif
