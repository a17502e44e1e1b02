/* biasamp.h: the released data of the bias-amplification study's Fashion-MNIST experiment
 * (facebookresearch/cv_bias_amplification; data/biasamp/README.md): its 20 fixed class
 * assignments (a CSV) and its per-sample inversion lists (two uint8 .npy files of
 * twentieths written by scripts/biasamp_lists.py). No twin: host-side data only.
 * Errors name the file and what was wrong; nothing is changed on error. */
#ifndef PB_BIASAMP_H
#define PB_BIASAMP_H

#include <stdint.h>

#include "kernels/pb_common.h"

/* Row `index` of a class-assignment CSV (header assignment,class0,...,class9; row i has
 * assignment = i and ten 0/1 super-classes with five of each): in0[c] = 1 when class c is in
 * super-class 0 (the super-class of inversion probability 0.5 + 0.01 eps). Fails on an
 * unreadable or malformed file or an index past its rows. */
int pb_biasamp_assignment(const char *path, int index, uint8_t in0[10], pb_err *err);

/* The twentieths of one split from the folder `dir`: split 1 = inversion_train.npy (uint8
 * [A, N], row `assignment`), 2 = inversion_test.npy (uint8 [N], every assignment). *b
 * (malloc'd, N entries in 0..19, IDX sample order) and *n receive them. Fails when a file is
 * missing or corrupt (pb_npy_read), not integers, of another shape, holds a value outside
 * 0..19, or has no row `assignment`. */
int pb_biasamp_lists(const char *dir, int assignment, int split, uint8_t **b, int *n, pb_err *err);

/* 20 p for a sample of super-class 0 (in0 = 1, p = round(0.5 + 0.01 eps, 2)) or 1 (p =
 * round(0.5 - 0.01 eps, 2)): a sample is inverted when its twentieth is below it. Fails
 * unless it is a whole number (eps a multiple of 5: the lists are exact on the study's grid). */
int pb_biasamp_threshold(double eps, int in0, int *t, pb_err *err);

#endif
