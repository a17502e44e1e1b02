/* sampler.h: the P x K batch sampler of metric learning (Hermans et al. 2017; REFERENCES.md
 * "Metric learning and verification"): every batch holds P identities with K samples each, so
 * each anchor has K - 1 positives and (P - 1) K negatives in its batch. Seeded and pure: the
 * order depends only on (labels, P, K, seed, epoch). */
#ifndef PB_SAMPLER_H
#define PB_SAMPLER_H

#include <stdint.h>

#include "kernels/pb_common.h"

/* What an epoch's P x K order looks like (for the log). */
typedef struct pb_pk_stats {
  int identities;   /* distinct labels >= 0 */
  int short_ids;    /* identities with fewer than K samples: their K are drawn with replacement */
  int singletons;   /* identities with 1 sample (their positives are the sample itself) */
  int batches;      /* floor(identities / P) per epoch; the last identities < P are left out */
  int left_out;     /* identities left out of this epoch (identities - batches * P) */
} pb_pk_stats;

/* Checks that labels [n] (labels < 0: no identity, never drawn) allow P x K batches and fills st:
 * errors (naming P, K and the counts) when P < 2 or K < 2, when fewer than P identities exist,
 * or when no identity has 2 samples (no anchor would have a positive). */
int pb_pk_plan(const int32_t *labels, int n, int P, int K, pb_pk_stats *st, pb_err *err);

/* The epoch's order: order [st->batches * P * K] (caller-allocated) = batch after batch of P
 * identities x K sample indices. The identities are a seeded shuffle for (seed, epoch), taken P at
 * a time; an identity with at least K samples gives K distinct ones (the first K of a seeded
 * shuffle of its samples), one with fewer gives K drawn uniformly with replacement. Rows of one
 * identity are consecutive inside its batch. pb_pk_plan must have succeeded for the same args. */
void pb_pk_order(int32_t *order, const int32_t *labels, int n, int P, int K, uint64_t seed, int64_t epoch,
                 const pb_pk_stats *st);

#endif
