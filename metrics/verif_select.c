/* verif_select.c: the exact selection core of the verification figures (verif_select.h).
 *
 * Pass 1 histograms the top 16 bits (the "bucket") of every impostor key per scope and keeps the
 * genuine keys. In between, per scope: the bucket holding the (k+1)-th largest impostor of each
 * FPR (walking the cumulative histogram down), the bucket where the ROC polyline crosses
 * FPR = 1 - TPR, and the AUC comparisons between different buckets (histogram x genuine counts).
 * Pass 2 records the low 16 bits of the impostors in those few buckets (a slot each) and, for an
 * impostor in a bucket that holds genuine keys, counts the genuine keys above / equal to it (a
 * prefix table per such bucket leaves a few keys to compare). The bucket plus the low bits is the
 * whole key, so every figure is exact. */
#include "metrics/verif_select.h"

#include <math.h>
#include <stdlib.h>

#define NB PB_VSEL_NB

void pb_vsel_init(pb_vsel *s, int ngroups, const double *fpr, int nfpr, int nthreads, int64_t list_max) {
  PB_ASSERT(ngroups >= 0 && ngroups <= PB_VERIF_MAX_GROUPS && nfpr >= 1 && nfpr <= PB_VERIF_MAX_FPR && nthreads >= 1);
  memset(s, 0, sizeof *s);
  s->nscope = 1 + ngroups;
  s->nthreads = nthreads;
  s->nfpr = nfpr;
  memcpy(s->fpr, fpr, (size_t)nfpr * sizeof *fpr);
  s->list_max = list_max > 0 ? list_max : (int64_t)1 << 17;
  s->th = pb_amalloc((size_t)nthreads * sizeof *s->th);
  for (int t = 0; t < nthreads; t++) s->th[t].hist = pb_xcalloc((size_t)s->nscope * NB, sizeof(uint64_t));
  s->sc = pb_xcalloc((size_t)s->nscope, sizeof *s->sc);
}

void pb_vsel_free(pb_vsel *s) {
  if (!s) return;
  for (int t = 0; s->th && t < s->nthreads; t++) {
    pb_vsel_thread *th = &s->th[t];
    free(th->hist);
    free(th->gen);
    for (int r = 0; th->rec && r < s->nscope * PB_VSEL_MAX_SLOTS; r++) {
      free(th->rec[r].v);
      free(th->rec[r].dense);
    }
    pb_afree(th->rec);
    pb_afree(th->auc);
  }
  for (int c = 0; s->sc && c < s->nscope; c++) {
    pb_vsel_scope *sc = &s->sc[c];
    free(sc->ge);
    free(sc->gen);
    free(sc->gstart);
    free(sc->gen16);
    free(sc->lutpos);
    free(sc->lut);
    for (int k = 0; k < sc->nslot; k++) {
      free(sc->slot[k].low);
      free(sc->slot[k].cnt);
    }
  }
  pb_afree(s->th);
  free(s->sc);
  free(s->flag);
  memset(s, 0, sizeof *s);
}

static int cmp_gen(const void *a, const void *b) {
  uint32_t x = ((const pb_vsel_gen *)a)->key, y = ((const pb_vsel_gen *)b)->key;
  return (x > y) - (x < y);
}

/* floor(f * n) in IEEE double, at most n - 1 (so the (k+1)-th largest exists). */
static int64_t fpr_k(double f, int64_t n) {
  double k = floor(f * (double)n);
  return k >= (double)(n - 1) ? n - 1 : (int64_t)k;
}

/* The bucket holding the (k+1)-th largest impostor: ge[b + 1] <= k < ge[b]. */
static uint32_t kth_bucket(const uint64_t *ge, int64_t k) {
  uint32_t lo = 0, hi = NB - 1; /* ge[0] = n > k; find the largest b with ge[b] > k */
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo + 1) / 2;
    if (ge[mid] > (uint64_t)k)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

/* ROC side of the crossing: FPR + TPR >= 1 with i impostors and g genuine accepted, exactly. */
static int roc_past(uint64_t i, uint64_t g, const pb_vsel_scope *sc) {
  return i * (uint64_t)sc->n_gen + g * (uint64_t)sc->n_imp >= (uint64_t)sc->n_imp * (uint64_t)sc->n_gen;
}

static void add_slot(pb_vsel *s, int c, uint32_t b) {
  pb_vsel_scope *sc = &s->sc[c];
  for (int k = 0; k < sc->nslot; k++)
    if (sc->slot[k].bucket == b) return;
  PB_ASSERT(sc->nslot < PB_VSEL_MAX_SLOTS);
  pb_vsel_slot *sl = &sc->slot[sc->nslot++];
  sl->bucket = b;
  sl->dense = (int64_t)(sc->ge[b] - sc->ge[b + 1]) > s->list_max;
  s->flag[(size_t)c * NB + b] |= 1;
}

/* The bits of a bucket's table: 16 entries per genuine key, so that a scan mostly meets no key
 * (a predictable branch; buckets with few genuine keys may hold millions of impostors), at most
 * 2^8 (the rest of an impostor's top 24 bits). */
static uint32_t lut_bits(uint32_t keys) {
  uint32_t bits = 0;
  while (bits < 8 && (1u << bits) < 16 * keys) bits++;
  return bits;
}

/* The prefix tables of scope c's buckets that hold 1..65535 genuine keys (more are searched): a
 * bucket with n keys gets a table of 2^bits + 1 entries, bits = lut_bits(n), kept in the flag's
 * top nibble; at most 34 bytes per genuine key and 514 per bucket. */
static void build_lut(pb_vsel *s, int c) {
  pb_vsel_scope *sc = &s->sc[c];
  size_t size = 0;
  for (uint32_t b = 0; b < NB; b++) {
    uint32_t keys = sc->gstart[b + 1] - sc->gstart[b];
    if (keys > 0 && keys <= 65535u) size += (1u << lut_bits(keys)) + 1;
  }
  sc->lutpos = pb_xcalloc(NB, sizeof *sc->lutpos);
  sc->lut = pb_xmalloc(PB_MAX(size, 1) * sizeof *sc->lut);
  sc->gen16 = pb_xmalloc((size_t)PB_MAX(sc->n_gen, 1) * sizeof *sc->gen16);
  for (int64_t i = 0; i < sc->n_gen; i++) sc->gen16[i] = (uint16_t)(sc->gen[i] & 0xffff);
  size_t at = 0;
  for (uint32_t b = 0; b < NB; b++) {
    uint32_t lo = sc->gstart[b], hi = sc->gstart[b + 1];
    if (hi == lo) continue;
    if (hi - lo > 65535u) {
      s->flag[(size_t)c * NB + b] |= 4;
      continue;
    }
    uint32_t bits = lut_bits(hi - lo), n = 1u << bits, i = lo;
    s->flag[(size_t)c * NB + b] |= (uint8_t)(bits << 4);
    uint16_t *l = sc->lut + at;
    sc->lutpos[b] = (uint32_t)at;
    at += n + 1;
    for (uint32_t m = 0; m <= n; m++) {
      while (i < hi && ((uint32_t)sc->gen16[i] >> (16 - bits)) < m) i++;
      l[m] = (uint16_t)(i - lo);
    }
  }
}

int pb_vsel_prepare(pb_vsel *s, pb_err *err) {
  /* genuine keys of every thread, sorted by key: the content is independent of the threads */
  size_t ngen = 0;
  for (int t = 0; t < s->nthreads; t++) ngen += s->th[t].ngen;
  pb_vsel_gen *all = pb_xmalloc(PB_MAX(ngen, 1) * sizeof *all);
  ngen = 0;
  for (int t = 0; t < s->nthreads; t++) {
    if (s->th[t].ngen) memcpy(all + ngen, s->th[t].gen, s->th[t].ngen * sizeof *all);
    ngen += s->th[t].ngen;
    free(s->th[t].gen);
    s->th[t].gen = NULL;
    s->th[t].ngen = s->th[t].capgen = 0;
  }
  qsort(all, ngen, sizeof *all, cmp_gen);
  s->flag = pb_xcalloc((size_t)s->nscope * NB, 1);
  for (int c = 0; c < s->nscope; c++) {
    pb_vsel_scope *sc = &s->sc[c];
    sc->ge = pb_xcalloc(NB + 1, sizeof *sc->ge);
    for (int t = 0; t < s->nthreads; t++) {
      const uint64_t *h = s->th[t].hist + (size_t)c * NB;
      for (uint32_t b = 0; b < NB; b++) sc->ge[b] += h[b];
    }
    for (int b = NB - 1; b >= 0; b--) sc->ge[b] += sc->ge[b + 1];
    sc->n_imp = (int64_t)sc->ge[0];
    sc->gen = pb_xmalloc(PB_MAX(ngen, 1) * sizeof *sc->gen);
    for (size_t i = 0; i < ngen; i++)
      if (c == 0 || all[i].g1 == c - 1 || all[i].g2 == c - 1) sc->gen[sc->n_gen++] = all[i].key;
    sc->gstart = pb_xcalloc(NB + 1, sizeof *sc->gstart);
    for (int64_t i = 0; i < sc->n_gen; i++) sc->gstart[(sc->gen[i] >> 16) + 1]++;
    for (uint32_t b = 0; b < NB; b++) sc->gstart[b + 1] += sc->gstart[b];
  }
  free(all);
  for (int t = 0; t < s->nthreads; t++) {
    free(s->th[t].hist);
    s->th[t].hist = NULL;
  }
  const pb_vsel_scope *a = &s->sc[0];
  if (a->n_gen == 0) return pb_err_set(err, "no genuine pairs (no two evaluated rows share an identity)");
  if (a->n_imp == 0) return pb_err_set(err, "no impostor pairs (every evaluated row has the same identity)");
  if (a->n_gen >= (int64_t)UINT32_MAX)
    return pb_err_set(err, "%lld genuine pairs: more than 2^32 - 1", (long long)a->n_gen);
  if ((double)a->n_gen * (double)a->n_imp >= 0x1p62)
    return pb_err_set(err, "%lld genuine x %lld impostor pairs: too many for the exact AUC counts (limit 2^62)",
                      (long long)a->n_gen, (long long)a->n_imp);

  for (int c = 0; c < s->nscope; c++) {
    pb_vsel_scope *sc = &s->sc[c];
    uint64_t cross = 0;
    for (uint32_t b = 0; b < NB; b++) {
      uint64_t imp = sc->ge[b] - sc->ge[b + 1];
      cross += imp * (uint64_t)(sc->n_gen - sc->gstart[b + 1]);
      if (sc->gstart[b + 1] > sc->gstart[b]) s->flag[(size_t)c * NB + b] |= 2;
    }
    sc->auc_cross = cross;
    build_lut(s, c);
    if (sc->n_imp == 0) continue;
    for (int f = 0; f < s->nfpr; f++) {
      sc->tb[f] = kth_bucket(sc->ge, fpr_k(s->fpr[f], sc->n_imp));
      add_slot(s, c, sc->tb[f]);
      if (c > 0) add_slot(s, c, s->sc[0].tb[f]); /* the group's pairs at the global threshold */
    }
    if (sc->n_gen == 0) continue;
    int b = NB - 1; /* the largest bucket at whose lowest key FPR + TPR >= 1 */
    while (!roc_past(sc->ge[b], (uint64_t)(sc->n_gen - sc->gstart[b]), sc)) b--;
    sc->eer_bucket = (uint32_t)b;
    add_slot(s, c, (uint32_t)b);
  }
  for (int t = 0; t < s->nthreads; t++) {
    s->th[t].rec = pb_amalloc((size_t)s->nscope * PB_VSEL_MAX_SLOTS * sizeof *s->th[t].rec);
    s->th[t].auc = pb_amalloc((size_t)s->nscope * 2 * sizeof *s->th[t].auc);
  }
  return PB_OK;
}

/* First index in a[lo, hi) with a[i] > key (upper) or >= key (lower). */
static uint32_t bound(const uint32_t *a, uint32_t lo, uint32_t hi, uint32_t key, int upper) {
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (upper ? a[mid] <= key : a[mid] < key)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

void pb_vsel_look(const pb_vsel *s, pb_vsel_thread *t, int c, uint32_t key) {
  const pb_vsel_scope *sc = &s->sc[c];
  uint32_t b = key >> 16;
  uint8_t f = s->flag[(size_t)c * NB + b];
  if (f & 1) {
    int k = 0;
    while (sc->slot[k].bucket != b) k++;
    pb_vsel_rec *r = &t->rec[c * PB_VSEL_MAX_SLOTS + k];
    if (sc->slot[k].dense) {
      if (!r->dense) r->dense = pb_xcalloc(NB, sizeof *r->dense);
      r->dense[key & 0xffff]++;
    } else {
      if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 256;
        r->v = pb_xrealloc(r->v, r->cap * sizeof *r->v);
      }
      r->v[r->n++] = (uint16_t)(key & 0xffff);
    }
  }
  if (f & 2) {
    uint32_t lo = sc->gstart[b], hi = sc->gstart[b + 1], less, eq = 0;
    if (f & 4) { /* more than 65535 genuine keys in the bucket */
      less = bound(sc->gen, lo, hi, key, 0);
      eq = bound(sc->gen, less, hi, key, 1) - less;
    } else { /* scan the keys (mostly none) that share the impostor's bucket and next (f >> 4) bits */
      const uint16_t low = (uint16_t)(key & 0xffff);
      const uint16_t *l = sc->lut + sc->lutpos[b];
      const uint32_t m = (uint32_t)low >> (16 - (f >> 4)), e = lo + l[m + 1];
      less = lo + l[m];
      for (uint32_t i = less; i < e; i++) {
        less += sc->gen16[i] < low;
        eq += sc->gen16[i] == low;
      }
    }
    t->auc[2 * c] += hi - less - eq;
    t->auc[2 * c + 1] += eq;
  }
}

/* Merges the threads' records of slot k of scope c into its sorted (low, count) list. */
static void merge_slot(pb_vsel *s, int c, int k, uint64_t *tmp) {
  memset(tmp, 0, NB * sizeof *tmp);
  for (int t = 0; t < s->nthreads; t++) {
    const pb_vsel_rec *r = &s->th[t].rec[c * PB_VSEL_MAX_SLOTS + k];
    for (size_t i = 0; i < r->n; i++) tmp[r->v[i]]++;
    if (r->dense)
      for (uint32_t v = 0; v < NB; v++) tmp[v] += r->dense[v];
  }
  pb_vsel_slot *sl = &s->sc[c].slot[k];
  int64_t nv = 0;
  for (uint32_t v = 0; v < NB; v++) nv += tmp[v] != 0;
  sl->low = pb_xmalloc((size_t)PB_MAX(nv, 1) * sizeof *sl->low);
  sl->cnt = pb_xmalloc((size_t)PB_MAX(nv, 1) * sizeof *sl->cnt);
  sl->nv = 0;
  uint64_t total = 0;
  for (uint32_t v = 0; v < NB; v++)
    if (tmp[v]) {
      sl->low[sl->nv] = (uint16_t)v;
      sl->cnt[sl->nv++] = tmp[v];
      total += tmp[v];
    }
  PB_ASSERT(total == s->sc[c].ge[sl->bucket] - s->sc[c].ge[sl->bucket + 1]);
}

static const pb_vsel_slot *find_slot(const pb_vsel_scope *sc, uint32_t b) {
  for (int k = 0; k < sc->nslot; k++)
    if (sc->slot[k].bucket == b) return &sc->slot[k];
  PB_FATAL("verification: no pass-2 slot for bucket %u", b);
}

/* Impostors of scope sc with key > t (t's bucket has a slot). */
static uint64_t imp_above(const pb_vsel_scope *sc, uint32_t t) {
  const pb_vsel_slot *sl = find_slot(sc, t >> 16);
  uint64_t n = sc->ge[(t >> 16) + 1];
  for (int64_t i = sl->nv - 1; i >= 0 && sl->low[i] > (t & 0xffff); i--) n += sl->cnt[i];
  return n;
}

static double ratio(uint64_t a, int64_t b) { return b > 0 ? (double)a / (double)b : NAN; }

/* The point at threshold key t (has_t 0: undefined) for scope sc. */
static void point_at(const pb_vsel_scope *sc, double f, int64_t k, int has_t, uint32_t t, pb_verif_point *p) {
  p->fpr = f;
  p->k = k;
  p->below_resolution = !(f * (double)sc->n_imp >= 1.0);
  if (!has_t) {
    p->threshold = p->tpr = p->fpr_achieved = NAN;
    p->n_gen_accepted = p->n_imp_accepted = 0;
    return;
  }
  p->threshold = (double)pb_vsel_score(t);
  p->n_imp_accepted = sc->n_imp > 0 ? (int64_t)imp_above(sc, t) : 0;
  p->n_gen_accepted = sc->n_gen - (int64_t)bound(sc->gen, 0, (uint32_t)sc->n_gen, t, 1);
  p->tpr = ratio((uint64_t)p->n_gen_accepted, sc->n_gen);
  p->fpr_achieved = ratio((uint64_t)p->n_imp_accepted, sc->n_imp);
}

/* The (k+1)-th largest impostor key of scope sc, in bucket b. */
static uint32_t kth_key(const pb_vsel_scope *sc, uint32_t b, int64_t k) {
  const pb_vsel_slot *sl = find_slot(sc, b);
  uint64_t above = sc->ge[b + 1];
  for (int64_t i = sl->nv - 1; i >= 0; i--) {
    if (above + sl->cnt[i] > (uint64_t)k) return b << 16 | sl->low[i];
    above += sl->cnt[i];
  }
  PB_FATAL("verification: the (k+1)-th impostor is not in bucket %u", b);
}

/* The EER of scope sc: walk the distinct keys of the crossing bucket downwards. */
static double eer_of(const pb_vsel_scope *sc) {
  uint32_t b = sc->eer_bucket;
  const pb_vsel_slot *sl = find_slot(sc, b);
  uint64_t i0 = sc->ge[b + 1], g0 = (uint64_t)sc->n_gen - sc->gstart[b + 1];
  int64_t ii = sl->nv - 1, gi = (int64_t)sc->gstart[b + 1] - 1, glo = (int64_t)sc->gstart[b];
  while (ii >= 0 || gi >= glo) {
    uint32_t vi = ii >= 0 ? sl->low[ii] : 0, vg = gi >= glo ? (sc->gen[gi] & 0xffff) : 0;
    uint32_t v = ii < 0 ? vg : gi < glo ? vi : (vi > vg ? vi : vg);
    uint64_t i1 = i0, g1 = g0;
    if (ii >= 0 && vi == v) i1 += sl->cnt[ii--];
    while (gi >= glo && (sc->gen[gi] & 0xffff) == v) g1++, gi--;
    if (roc_past(i1, g1, sc)) {
      double x0 = (double)i0 / (double)sc->n_imp, y0 = (double)g0 / (double)sc->n_gen;
      double x1 = (double)i1 / (double)sc->n_imp, y1 = (double)g1 / (double)sc->n_gen;
      double s0 = x0 + y0 - 1.0, s1 = x1 + y1 - 1.0;
      double lambda = -s0 / (s1 - s0);
      return x0 + lambda * (x1 - x0);
    }
    i0 = i1, g0 = g1;
  }
  PB_FATAL("verification: the ROC does not cross FPR = 1 - TPR in bucket %u", b);
}

static void figures(const pb_vsel *s, int c, pb_verif_figures *fg) {
  const pb_vsel_scope *sc = &s->sc[c];
  memset(fg, 0, sizeof *fg);
  fg->n_gen = sc->n_gen;
  fg->n_imp = sc->n_imp;
  fg->npoints = s->nfpr;
  uint64_t gt = sc->auc_cross, eq = 0;
  for (int t = 0; t < s->nthreads; t++) gt += s->th[t].auc[2 * c], eq += s->th[t].auc[2 * c + 1];
  fg->auc_greater = gt;
  fg->auc_equal = eq;
  int both = sc->n_gen > 0 && sc->n_imp > 0;
  /* both integers are exact (< 2^63, checked in prepare): three roundings in all */
  fg->auc = both ? (double)(2 * gt + eq) / (double)(2 * (uint64_t)sc->n_gen * (uint64_t)sc->n_imp) : NAN;
  fg->eer = both ? eer_of(sc) : NAN;
  for (int f = 0; f < s->nfpr; f++) {
    int64_t k = sc->n_imp > 0 ? fpr_k(s->fpr[f], sc->n_imp) : 0;
    point_at(sc, s->fpr[f], k, sc->n_imp > 0, sc->n_imp > 0 ? kth_key(sc, sc->tb[f], k) : 0, &fg->at[f]);
  }
}

void pb_vsel_finish(pb_vsel *s, pb_verif_result *out) {
  uint64_t *tmp = pb_xmalloc(NB * sizeof *tmp);
  for (int c = 0; c < s->nscope; c++)
    for (int k = 0; k < s->sc[c].nslot; k++) merge_slot(s, c, k, tmp);
  free(tmp);
  figures(s, 0, &out->all);
  for (int c = 1; c < s->nscope; c++) {
    pb_verif_group *g = &out->group[c - 1];
    figures(s, c, &g->own);
    const pb_vsel_scope *sc = &s->sc[c];
    for (int f = 0; f < s->nfpr; f++) {
      const pb_verif_point *gp = &out->all.at[f];
      uint32_t t = pb_vsel_key((float)gp->threshold);
      pb_verif_point *p = &g->at_global[f];
      point_at(sc, gp->fpr, gp->k, 1, t, p);
      p->below_resolution = gp->below_resolution;
    }
  }
}
