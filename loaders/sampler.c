/* sampler.c: the P x K batch sampler (sampler.h). */
#include "loaders/sampler.h"

#include <stdlib.h>

#include "kernels/pb_rng.h"

/* Distinct labels >= 0 in increasing order, with their samples in index order (CSR). */
typedef struct {
  int nid;
  int32_t *start; /* [nid + 1]: identity g's samples are idx[start[g] .. start[g + 1]) */
  int32_t *idx;
} pk_groups;

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static void pk_group(pk_groups *g, const int32_t *labels, int n) {
  int m = 0;
  int64_t *key = pb_xmalloc(sizeof(int64_t) * (size_t)(n ? n : 1));
  for (int i = 0; i < n; i++) /* (label, index): sorting groups by label, then index */
    if (labels[i] >= 0) key[m++] = ((int64_t)labels[i] << 32) | (int64_t)(uint32_t)i;
  qsort(key, (size_t)m, sizeof *key, cmp_i64);
  g->idx = pb_xmalloc(sizeof(int32_t) * (size_t)(m ? m : 1));
  g->start = pb_xmalloc(sizeof(int32_t) * (size_t)(m + 1));
  g->nid = 0;
  for (int j = 0; j < m; j++) {
    if (j == 0 || (key[j] >> 32) != (key[j - 1] >> 32)) g->start[g->nid++] = j;
    g->idx[j] = (int32_t)(key[j] & 0xFFFFFFFF);
  }
  g->start[g->nid] = m;
  free(key);
}

static void pk_free(pk_groups *g) {
  free(g->start);
  free(g->idx);
}

int pb_pk_plan(const int32_t *labels, int n, int P, int K, pb_pk_stats *st, pb_err *err) {
  *st = (pb_pk_stats){0};
  if (P < 2 || K < 2)
    return pb_err_set(err, "a P x K batch needs P >= 2 identities (negatives) and K >= 2 samples each (positives), "
                           "got P = %d, K = %d", P, K);
  pk_groups g;
  pk_group(&g, labels, n);
  int with2 = 0;
  st->identities = g.nid;
  for (int k = 0; k < g.nid; k++) {
    int c = g.start[k + 1] - g.start[k];
    st->short_ids += c < K;
    st->singletons += c == 1;
    with2 += c >= 2;
  }
  pk_free(&g);
  if (st->identities < P)
    return pb_err_set(err, "P x K batches of P = %d identities, but the data has %d identities", P, st->identities);
  if (!with2)
    return pb_err_set(err, "no identity of the %d has 2 samples: no anchor would have a positive (P x K batches need "
                           "identities with several samples)", st->identities);
  st->batches = st->identities / P;
  st->left_out = st->identities - st->batches * P;
  return PB_OK;
}

void pb_pk_order(int32_t *order, const int32_t *labels, int n, int P, int K, uint64_t seed, int64_t epoch,
                 const pb_pk_stats *st) {
  pk_groups g;
  pk_group(&g, labels, n);
  PB_ASSERT(g.nid == st->identities && st->batches * P <= g.nid);
  /* the identities' order this epoch: a Fisher-Yates shuffle from (seed, epoch) */
  int32_t *ids = pb_xmalloc(sizeof(int32_t) * (size_t)g.nid);
  for (int k = 0; k < g.nid; k++) ids[k] = k;
  const uint64_t s_ids = PB_RNG_STREAM(PB_RNG_ORDER, ((uint64_t)1 << 48) | (uint64_t)epoch);
  for (int i = g.nid - 1; i > 0; i--) {
    int j = (int)pb_rng_below(seed, s_ids, (uint64_t)i, (uint64_t)i + 1);
    int32_t t = ids[i];
    ids[i] = ids[j];
    ids[j] = t;
  }
  int32_t *tmp = pb_xmalloc(sizeof(int32_t) * (size_t)(n ? n : 1));
  int32_t *out = order;
  for (int b = 0; b < st->batches * P; b++) {
    const int id = ids[b], c = g.start[id + 1] - g.start[id];
    const int32_t *mine = g.idx + g.start[id];
    /* a stream per (epoch, identity): the draws of one identity never depend on the others */
    const uint64_t s = PB_RNG_STREAM(PB_RNG_ORDER, ((uint64_t)2 << 48) | ((uint64_t)epoch << 24) | (uint64_t)id);
    if (c >= K) { /* the first K of a partial Fisher-Yates shuffle: K distinct samples */
      for (int i = 0; i < c; i++) tmp[i] = mine[i];
      for (int i = 0; i < K; i++) {
        int j = i + (int)pb_rng_below(seed, s, (uint64_t)i, (uint64_t)(c - i));
        int32_t t = tmp[i];
        tmp[i] = tmp[j];
        tmp[j] = t;
        *out++ = tmp[i];
      }
    } else { /* K draws with replacement */
      for (int i = 0; i < K; i++) *out++ = mine[pb_rng_below(seed, s, (uint64_t)i, (uint64_t)c)];
    }
  }
  free(tmp);
  free(ids);
  pk_free(&g);
}
