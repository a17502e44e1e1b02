/* bias.h: bias injection into in-memory grey image datasets (REFERENCES.md), from plain
 * parameters and the run's seed, so that the same parameters always give the same data.
 *
 *  - inversion (bias-amplification study): the 10 classes are split into two super-classes
 *    of 5 (split number `class_assignment` in lexicographic order of 5-subsets); a sample is
 *    colour-inverted (255 - x) with probability 0.5 + 0.01 eps in super-class 0 and
 *    0.5 - 0.01 eps in super-class 1. Aligned = inverted in super-class 0, or not inverted
 *    in super-class 1.
 *  - colour (ReBias Biased MNIST, datasets/colour_mnist.py as released): digits binarised to
 *    white, the background coloured; per class of n samples the first int(n rho) shuffled
 *    samples take the class colour (truncated, as Python's int: 6742 x 0.997 -> 6721); the
 *    other r go in consecutive chunks of ceil(r / 9) (the last shorter) to the other labels
 *    label+1..label+9 mod 10 in a shuffled order, so with few left over some colours get none
 *    (r = 7 at rho 0.999: seven colours get one sample, two get none). Both shuffles are
 *    seeded (the released code's are not). The test set uses rho = 0.1 (the "unbiased"
 *    evaluation) or 1 (test_bias = biased). Aligned = the class's own colour.
 * Both fill d->groups (inversion: 0/1 = inverted; colour: the colour index) and d->aligned. */
#ifndef PB_BIAS_H
#define PB_BIAS_H

#include <stdint.h>

#include "loaders/dataset.h"

/* [data] bias */
enum { PB_BIAS_NONE = 0, PB_BIAS_INVERSION, PB_BIAS_COLOUR };
/* [data] test_bias: default = colour: rho 0.1, inversion: the training eps; unbiased = rho 0.1
 * / eps 0; biased = rho 1 / eps 50. */
enum { PB_TEST_BIAS_DEFAULT = 0, PB_TEST_BIAS_UNBIASED, PB_TEST_BIAS_BIASED };

typedef struct pb_bias_params {
  int kind;             /* PB_BIAS_* */
  int test_bias;        /* PB_TEST_BIAS_* */
  double eps;           /* inversion strength, 0..50 */
  int class_assignment; /* inversion: the super-class split, 0..251 */
  double rho;           /* colour: fraction of the training samples with their class colour */
  /* inversion, the released study (loaders/biasamp.h): */
  const char *assignment_file; /* "" = the lexicographic splits; else a CSV whose row
                                  class_assignment gives the split */
  const char *lists_dir;       /* "" = plumb's own draw; else the folder of the released
                                  per-sample lists (needs assignment_file) */
  int superclass_task;         /* labels become the super-class (0/1) after the injection */
} pb_bias_params;

/* Injects b's bias into train (random stream 1) and test (stream 2), both grey in-memory
 * images (PB_DATA_U8, c = 1, labels set) as IDX files give them; nothing for PB_BIAS_NONE.
 * Colour makes them 3-channel. Inversion with lists_dir inverts sample i (IDX order, the
 * first n of the lists) as the released lists say, in place of the random draw; with
 * superclass_task the labels then become super-classes 0/1 (num_classes 2). Fails, changing
 * nothing, when class_assignment is not a split (outside 0..251, or past the file's rows), a
 * file is missing or corrupt, a list is shorter than its split, or eps is off the lists'
 * grid; superclass_task needs bias = inversion. */
int pb_bias_inject(const pb_bias_params *b, uint64_t seed, pb_dataset *train, pb_dataset *test, pb_err *err);

/* The pieces pb_bias_inject is made of. */

/* in0[c] = 1 for the classes c of super-class 0 in split k, the k-th 5-subset of {0..9} in
 * lexicographic order. Returns PB_ERR (in0 untouched) unless 0 <= k < 252. */
int pb_bias_superclasses(int k, uint8_t in0[10]);
/* Inverts each sample of d (PB_DATA_U8, any c) with probability 0.5 +- 0.01 eps by super-class
 * (labels taken modulo 10); fills d->groups and d->aligned (allocated here). split: the
 * random stream (1 = train, 2 = test). */
void pb_bias_inversion(pb_dataset *d, const uint8_t in0[10], double eps, uint64_t seed, int split);
/* Inverts sample i of d (PB_DATA_U8) when b[i] (its twentieth, b has at least d->n) is below
 * t0 (class in super-class 0) or t1 (super-class 1); fills d->groups and d->aligned. */
void pb_bias_inversion_lists(pb_dataset *d, const uint8_t in0[10], const uint8_t *b, int t0, int t1);
/* labels[i] = the super-class of class labels[i] % 10 (0 when in0, else 1); num_classes = 2. */
void pb_bias_superclass_labels(pb_dataset *d, const uint8_t in0[10]);
/* Colours d (PB_DATA_U8, c = 1) into 3 channels at rho; fills d->groups and d->aligned. */
void pb_bias_colour(pb_dataset *d, double rho, uint64_t seed, int split);
/* The colour assignment of one class of m samples (what pb_bias_colour does per class):
 * colour[k] = the colour of the class's k-th sample in dataset order (k < m). order (m ints, or
 * NULL) receives the shuffle: order[r] = the sample at shuffled position r; positions
 * 0..int(m rho)-1 take cls, the rest chunks of ceil(r / 9) of the shuffled other colours.
 * rho in [0, 1], 0 <= cls < 10, split: 1 = train, 2 = test (the random streams). */
void pb_bias_colour_class(int32_t *colour, int *order, int m, int cls, double rho, uint64_t seed, int split);

#endif
