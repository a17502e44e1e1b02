/* verif_select.h: internal to metrics/verification.c: the exact selection core behind the
 * verification figures (verif_select.c). Scores become order-preserving uint32 keys (the float
 * bits, sign-folded; -0 counts as +0). A "scope" is one set of pairs: scope 0 all pairs, scope
 * 1 + g the pairs of compact group g.
 *
 * Use: pb_vsel_init; pass 1 over every pair from any number of threads (pb_vsel_gen1 for a
 * genuine pair, pb_vsel_imp1 for an impostor, each thread on its own pb_vsel_thread);
 * pb_vsel_prepare; pass 2 over the impostor pairs again, the same scores (pb_vsel_imp2);
 * pb_vsel_finish. Everything accumulated is integer counts or multisets, so the result does not
 * depend on how pairs are spread over threads or in what order they come. */
#ifndef PB_METRICS_VERIF_SELECT_H
#define PB_METRICS_VERIF_SELECT_H

#include <stdint.h>
#include <string.h>

#include "kernels/pb_common.h"
#include "metrics/verification.h"

#define PB_VSEL_NB 65536                              /* buckets: the top 16 bits of a key */
#define PB_VSEL_MAX_SLOTS (2 * PB_VERIF_MAX_FPR + 1) /* per scope: own + global thresholds, EER */

typedef struct pb_vsel_gen {
  uint32_t key;
  int16_t g1, g2; /* compact groups of the pair (-1: none) */
} pb_vsel_gen;

/* A pass-2 record of the low 16 bits of the impostor keys in one bucket of one scope, per
 * thread: a list, or a dense histogram when the bucket is big. */
typedef struct pb_vsel_rec {
  uint16_t *v;
  size_t n, cap;
  uint64_t *dense; /* [2^16], allocated on first use */
} pb_vsel_rec;

/* Written by one thread only; 64-byte aligned, as is everything a thread writes in pass 2, so
 * that threads never share a cache line. */
typedef struct pb_vsel_thread {
  _Alignas(64) uint64_t *hist; /* pass 1: [nscope, NB] impostors per bucket */
  pb_vsel_gen *gen; /* pass 1: the genuine pairs seen */
  size_t ngen, capgen;
  pb_vsel_rec *rec; /* pass 2: [nscope, PB_VSEL_MAX_SLOTS] */
  uint64_t *auc;    /* pass 2: [nscope, 2] in-bucket (gen > imp, gen == imp) counts */
} pb_vsel_thread;

/* One slot after the merge: the distinct low 16 bits (ascending) and their counts. */
typedef struct pb_vsel_slot {
  uint32_t bucket;
  int dense;
  int64_t nv;
  uint16_t *low;
  uint64_t *cnt;
} pb_vsel_slot;

typedef struct pb_vsel_scope {
  int64_t n_gen, n_imp;
  uint64_t *ge;     /* [NB + 1]: impostors with bucket >= b */
  uint32_t *gen;    /* [n_gen] genuine keys, ascending */
  uint32_t *gstart; /* [NB + 1]: gen[] offset of each bucket */
  uint16_t *gen16;  /* [n_gen]: the low 16 bits of gen[] (pass 2 compares within a bucket) */
  uint32_t *lutpos; /* [NB]: where a bucket with 1..65535 genuine keys has its table in lut */
  uint16_t *lut;    /* per such bucket 2^bits + 1 entries: entry m = the bucket's genuine keys whose
                       next `bits` bits (after the top 16) are < m; pass 2 scans the keys (mostly
                       none) that share an impostor's prefix instead of searching the bucket */
  int nslot;
  pb_vsel_slot slot[PB_VSEL_MAX_SLOTS];
  uint32_t tb[PB_VERIF_MAX_FPR]; /* own threshold buckets (when n_imp > 0) */
  uint32_t eer_bucket;
  uint64_t auc_cross; /* gen > imp over pairs of pairs in different buckets */
} pb_vsel_scope;

typedef struct pb_vsel {
  int nscope, nthreads, nfpr;
  double fpr[PB_VERIF_MAX_FPR];
  int64_t list_max;
  uint8_t *flag; /* [nscope, NB]: 1 a slot, 2 genuine keys in the bucket (pass 2 looks closer),
                    4 more than 65535 of them (binary search), top nibble: the bucket's lut bits */
  pb_vsel_thread *th;  /* [nthreads] */
  pb_vsel_scope *sc;   /* [nscope] */
} pb_vsel;

static inline uint32_t pb_vsel_key(float s) {
  s += 0.0f; /* -0 -> +0: equal scores, equal keys */
  uint32_t u;
  memcpy(&u, &s, sizeof u);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static inline float pb_vsel_score(uint32_t key) {
  uint32_t u = (key & 0x80000000u) ? (key & 0x7fffffffu) : ~key;
  float s;
  memcpy(&s, &u, sizeof s);
  return s;
}

/* fpr[nfpr] checked by the caller; list_max <= 0: the default. Cannot fail. */
void pb_vsel_init(pb_vsel *s, int ngroups, const double *fpr, int nfpr, int nthreads, int64_t list_max);
void pb_vsel_free(pb_vsel *s);

static inline void pb_vsel_gen1(pb_vsel_thread *t, uint32_t key, int g1, int g2) {
  if (t->ngen == t->capgen) {
    t->capgen = t->capgen ? 2 * t->capgen : 4096;
    t->gen = (pb_vsel_gen *)pb_xrealloc(t->gen, t->capgen * sizeof *t->gen);
  }
  t->gen[t->ngen++] = (pb_vsel_gen){key, (int16_t)g1, (int16_t)g2};
}

/* g1, g2: the pair's compact groups, -1 for none; g2 != g1 unless both are -1. */
static inline void pb_vsel_imp1(pb_vsel_thread *t, uint32_t key, int g1, int g2) {
  uint32_t b = key >> 16;
  t->hist[b]++;
  if (g1 >= 0) t->hist[(size_t)(1 + g1) * PB_VSEL_NB + b]++;
  if (g2 >= 0) t->hist[(size_t)(1 + g2) * PB_VSEL_NB + b]++;
}

/* Merges pass 1 and plans pass 2. PB_ERR when there is no genuine or no impostor pair, or
 * N_gen * N_imp >= 2^62. */
int pb_vsel_prepare(pb_vsel *s, pb_err *err);

void pb_vsel_look(const pb_vsel *s, pb_vsel_thread *t, int scope, uint32_t key); /* pass 2, flagged bucket */

static inline void pb_vsel_imp2(const pb_vsel *s, pb_vsel_thread *t, uint32_t key, int g1, int g2) {
  uint32_t b = key >> 16;
  if (s->flag[b]) pb_vsel_look(s, t, 0, key);
  if (g1 >= 0 && s->flag[(size_t)(1 + g1) * PB_VSEL_NB + b]) pb_vsel_look(s, t, 1 + g1, key);
  if (g2 >= 0 && s->flag[(size_t)(1 + g2) * PB_VSEL_NB + b]) pb_vsel_look(s, t, 1 + g2, key);
}

/* The figures into out->all and out->group[g].own / at_global (out->group allocated by the
 * caller with nscope - 1 entries, ids filled). Cannot fail. */
void pb_vsel_finish(pb_vsel *s, pb_verif_result *out);

#endif
