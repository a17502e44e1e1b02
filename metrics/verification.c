/* verification.c: verification figures over embeddings (verification.h): the checks, the rows
 * gathered (normalised for cosine), the pair counts known before any score, and the two passes
 * over a fixed grid of score blocks (one float32 GEMM each) that feed the selection core
 * (verif_select.c); the given-scores entry point; the train / evaluation identity overlap.
 * No twin: metrics run on the host. */
#include "metrics/verification.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "metrics/verif_select.h"

/* The score block: BP probe rows x BG gallery rows, 512 KiB of float32 per thread (L2-sized).
 * Fixed, so each block is the same GEMM call whatever the thread count. */
#define PB_VERIF_BP 128
#define PB_VERIF_BG 1024
#define PB_VERIF_CHUNK 65536 /* pairs per task in pb_verif_eval_scores */

static const double default_fpr[4] = {1e-3, 1e-4, 1e-5, 1e-6};

static int check_params(const pb_verif_params *p, double *fpr, int *nfpr, int *nthreads, pb_err *err) {
  if (!p) return pb_err_set(err, "verification: no parameters");
  if (p->score != PB_VERIF_COSINE && p->score != PB_VERIF_NEG_L2)
    return pb_err_set(err, "verification: unknown score %d (cosine %d, negative L2 %d)", (int)p->score,
                      PB_VERIF_COSINE, PB_VERIF_NEG_L2);
  const double *f = p->fpr && p->nfpr > 0 ? p->fpr : default_fpr;
  int n = p->fpr && p->nfpr > 0 ? p->nfpr : 4;
  if (n > PB_VERIF_MAX_FPR)
    return pb_err_set(err, "verification: %d FPR operating points, at most %d", n, PB_VERIF_MAX_FPR);
  for (int i = 0; i < n; i++) {
    if (!(f[i] > 0.0 && f[i] < 1.0))
      return pb_err_set(err, "verification: FPR operating point %d is %g: each must be in (0, 1)", i, f[i]);
    fpr[i] = f[i];
  }
  *nfpr = n;
  *nthreads = p->nthreads > 0 ? p->nthreads : omp_get_max_threads();
  return PB_OK;
}

/* ------------------------------------------------------------------ rows */

/* One side of the pairs, gathered: P (probes, or the one set) or G (gallery). */
typedef struct vside {
  int64_t n;
  float *e;      /* [n, d]: normalised rows (cosine) or the rows (L2) */
  float *sq;     /* [n]: squared norms (L2) */
  int64_t *row;  /* [n]: the row in the data */
  int32_t *lab;  /* [n] */
  int32_t *gid;  /* [n]: the group id as given, then the compact group (-1: none) */
} vside;

static void vside_free(vside *s) {
  free(s->e);
  free(s->sq);
  free(s->row);
  free(s->lab);
  free(s->gid);
  memset(s, 0, sizeof *s);
}

/* Gathers rows idx[0..n) (idx NULL: 0..n-1) of x; `what` names the set in messages. */
static int gather(const pb_verif_data *x, const int64_t *idx, int64_t n, int score, const char *what, vside *s,
                  pb_err *err) {
  const int d = x->d;
  s->n = n;
  s->e = pb_xmalloc((size_t)PB_MAX(n, 1) * (size_t)d * sizeof(float));
  s->sq = pb_xmalloc((size_t)PB_MAX(n, 1) * sizeof(float));
  s->row = pb_xmalloc((size_t)PB_MAX(n, 1) * sizeof(int64_t));
  s->lab = pb_xmalloc((size_t)PB_MAX(n, 1) * sizeof(int32_t));
  s->gid = pb_xmalloc((size_t)PB_MAX(n, 1) * sizeof(int32_t));
  for (int64_t i = 0; i < n; i++) {
    int64_t r = idx ? idx[i] : i;
    if (r < 0 || r >= x->n)
      return pb_err_set(err, "verification: %s index %lld is row %lld, outside [0, %lld)", what, (long long)i,
                        (long long)r, (long long)x->n);
    if (x->label[r] < 0)
      return pb_err_set(err,
                        "verification: row %lld (%s %lld) has identity label %d: every evaluated row needs an "
                        "identity (leave unlabelled rows out of the sets)",
                        (long long)r, what, (long long)i, (int)x->label[r]);
    const float *src = x->emb + (size_t)r * (size_t)d;
    double ss = 0;
    for (int k = 0; k < d; k++) {
      if (!isfinite(src[k]))
        return pb_err_set(err, "verification: row %lld (%s %lld) has a non-finite value at column %d", (long long)r,
                          what, (long long)i, k);
      ss += (double)src[k] * (double)src[k];
    }
    float *dst = s->e + (size_t)i * (size_t)d;
    if (score == PB_VERIF_COSINE) {
      if (!(ss > 0))
        return pb_err_set(err, "verification: row %lld (%s %lld) has norm 0: its cosine similarity is undefined",
                          (long long)r, what, (long long)i);
      double inv = 1.0 / sqrt(ss);
      for (int k = 0; k < d; k++) dst[k] = (float)((double)src[k] * inv);
    } else {
      if (!(ss < (double)FLT_MAX / 8))
        return pb_err_set(err, "verification: row %lld (%s %lld) has squared norm %g: the float32 L2 score would "
                               "overflow", (long long)r, what, (long long)i, ss);
      memcpy(dst, src, (size_t)d * sizeof(float));
    }
    s->sq[i] = (float)ss;
    s->row[i] = r;
    s->lab[i] = x->label[r];
    s->gid[i] = x->group ? x->group[r] : -1;
  }
  return PB_OK;
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}
static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Distinct ids (>= 0) of the sides into ids[] (ascending); each gid[] becomes its compact index. */
static int compact_groups(vside *sides, int nsides, int32_t *ids, int *nids, pb_err *err) {
  int64_t total = 0;
  for (int s = 0; s < nsides; s++) total += sides[s].n;
  int32_t *all = pb_xmalloc((size_t)PB_MAX(total, 1) * sizeof *all);
  int64_t m = 0;
  for (int s = 0; s < nsides; s++)
    for (int64_t i = 0; i < sides[s].n; i++)
      if (sides[s].gid[i] >= 0) all[m++] = sides[s].gid[i];
  qsort(all, (size_t)m, sizeof *all, cmp_i32);
  int n = 0;
  for (int64_t i = 0; i < m; i++) {
    if (i > 0 && all[i] == all[i - 1]) continue;
    if (n == PB_VERIF_MAX_GROUPS) {
      int32_t extra = all[i];
      free(all);
      return pb_err_set(err, "verification: more than %d distinct group ids (the %dth is %d)", PB_VERIF_MAX_GROUPS,
                        PB_VERIF_MAX_GROUPS + 1, (int)extra);
    }
    ids[n++] = all[i];
  }
  free(all);
  for (int s = 0; s < nsides; s++)
    for (int64_t i = 0; i < sides[s].n; i++) {
      int32_t g = sides[s].gid[i];
      if (g < 0) {
        sides[s].gid[i] = -1;
        continue;
      }
      const int32_t *hit = bsearch(&g, ids, (size_t)n, sizeof *ids, cmp_i32);
      sides[s].gid[i] = (int32_t)(hit - ids);
    }
  *nids = n;
  return PB_OK;
}

/* Sorted copies, then runs: same-value counts. */
static int32_t *sorted_i32(const int32_t *a, int64_t n) {
  int32_t *c = pb_xmalloc((size_t)PB_MAX(n, 1) * sizeof *c);
  if (n) memcpy(c, a, (size_t)n * sizeof *c);
  qsort(c, (size_t)n, sizeof *c, cmp_i32);
  return c;
}
static int64_t *sorted_i64(const int64_t *a, int64_t n) {
  int64_t *c = pb_xmalloc((size_t)PB_MAX(n, 1) * sizeof *c);
  if (n) memcpy(c, a, (size_t)n * sizeof *c);
  qsort(c, (size_t)n, sizeof *c, cmp_i64);
  return c;
}

/* Sum over the values common to a[na] and b[nb] (sorted) of count_a * count_b; with b NULL,
 * sum over a's values of c (c - 1) / 2 (pairs within one set). */
#define PAIR_COUNT(T)                                                                  \
  static int64_t pairs_##T(const T *a, int64_t na, const T *b, int64_t nb) {           \
    int64_t sum = 0;                                                                   \
    for (int64_t i = 0, j = 0; i < na;) {                                              \
      int64_t e = i;                                                                   \
      while (e < na && a[e] == a[i]) e++;                                              \
      if (!b) {                                                                        \
        sum += (e - i) * (e - i - 1) / 2;                                              \
      } else {                                                                         \
        while (j < nb && b[j] < a[i]) j++;                                             \
        int64_t f = j;                                                                 \
        while (f < nb && b[f] == a[i]) f++;                                            \
        sum += (e - i) * (f - j);                                                      \
        j = f;                                                                         \
      }                                                                                \
      i = e;                                                                           \
    }                                                                                  \
    return sum;                                                                        \
  }
PAIR_COUNT(int32_t)
PAIR_COUNT(int64_t)

/* N_gen, N_imp and the self pairs (skipped) from the labels and rows alone. */
static void count_pairs(const vside *p, const vside *g, int64_t *ngen, int64_t *nimp, int64_t *nself) {
  int32_t *pl = sorted_i32(p->lab, p->n), *gl = g ? sorted_i32(g->lab, g->n) : NULL;
  int64_t *pr = sorted_i64(p->row, p->n), *gr = g ? sorted_i64(g->row, g->n) : NULL;
  int64_t same = g ? pairs_int32_t(pl, p->n, gl, g->n) : pairs_int32_t(pl, p->n, NULL, 0);
  *nself = g ? pairs_int64_t(pr, p->n, gr, g->n) : pairs_int64_t(pr, p->n, NULL, 0);
  int64_t total = g ? p->n * g->n : p->n * (p->n - 1) / 2;
  *ngen = same - *nself; /* a self pair has one identity */
  *nimp = total - same;
  free(pl), free(gl), free(pr), free(gr);
}

/* ------------------------------------------------------------------ score blocks */

typedef struct vjob {
  int all_pairs, score, d, self;
  const vside *p, *g; /* g == p for all pairs */
  int64_t nblocks;
  int64_t *blk;       /* [nblocks, 2]: (i0, j0) */
} vjob;

static void job_blocks(vjob *j) {
  int64_t np = j->p->n, ng = j->g->n, n = 0;
  j->blk = pb_xmalloc((size_t)(((np + PB_VERIF_BP - 1) / PB_VERIF_BP) * ((ng + PB_VERIF_BG - 1) / PB_VERIF_BG) + 1) *
                      2 * sizeof(int64_t));
  for (int64_t i0 = 0; i0 < np; i0 += PB_VERIF_BP)
    for (int64_t j0 = 0; j0 < ng; j0 += PB_VERIF_BG) {
      if (j->all_pairs && PB_MIN(j0 + PB_VERIF_BG, ng) - 1 <= i0) continue; /* no j > i in it */
      j->blk[2 * n] = i0;
      j->blk[2 * n + 1] = j0;
      n++;
    }
  j->nblocks = n;
}

/* c [bp, bg] = the scores of probe rows i0.. against gallery rows j0.. */
static void block_scores(const vjob *j, int64_t i0, int64_t j0, int bp, int bg, float *c) {
  const int d = j->d;
  pb_sgemm_cpu(0, 1, bp, bg, d, 1.0f, j->p->e + (size_t)i0 * d, d, j->g->e + (size_t)j0 * d, d, 0.0f, c, bg);
  if (j->score != PB_VERIF_NEG_L2) return;
  for (int ii = 0; ii < bp; ii++) {
    float *cr = c + (size_t)ii * bg, si = j->p->sq[i0 + ii];
    const float *sg = j->g->sq + j0;
    for (int jj = 0; jj < bg; jj++) {
      float d2 = si + sg[jj] - 2.0f * cr[jj];
      cr[jj] = -sqrtf(d2 > 0.0f ? d2 : 0.0f);
    }
  }
}

/* One block of pass 1 or 2: each pair's key to the selection core. Inlined into one copy per
 * pass, so that the pass is a constant in the inner loop. */
static inline __attribute__((always_inline)) void block_pass(const vjob *j, pb_vsel *s, pb_vsel_thread *t, int pass,
                                                             int64_t i0, int64_t j0, float *c) {
  const int bp = (int)PB_MIN(PB_VERIF_BP, j->p->n - i0), bg = (int)PB_MIN(PB_VERIF_BG, j->g->n - j0);
  block_scores(j, i0, j0, bp, bg, c);
  const int32_t *glab = j->g->lab + j0, *ggrp = j->g->gid + j0;
  const int64_t *grow = j->g->row + j0;
  for (int ii = 0; ii < bp; ii++) {
    const int64_t i = i0 + ii, ri = j->p->row[i];
    const int32_t li = j->p->lab[i], gi = j->p->gid[i];
    const float *cr = c + (size_t)ii * bg;
    int jj = j->all_pairs ? (int)PB_MAX(0, i + 1 - j0) : 0;
    for (; jj < bg; jj++) {
      if (j->self && grow[jj] == ri) continue;
      int g2 = j->all_pairs && ggrp[jj] != gi ? ggrp[jj] : -1;
      uint32_t key = pb_vsel_key(cr[jj]);
      if (glab[jj] == li) {
        if (pass == 1) pb_vsel_gen1(t, key, gi, g2);
      } else if (pass == 1) {
        pb_vsel_imp1(t, key, gi, g2);
      } else {
        pb_vsel_imp2(s, t, key, gi, g2);
      }
    }
  }
}

static void run_pass(const vjob *j, pb_vsel *s, int pass, float *scratch) {
#pragma omp parallel num_threads(s->nthreads)
  {
    const int tid = omp_get_thread_num();
    float *c = scratch + (size_t)tid * PB_VERIF_BP * PB_VERIF_BG;
#pragma omp for schedule(dynamic, 1)
    for (int64_t k = 0; k < j->nblocks; k++) {
      if (pass == 1)
        block_pass(j, s, &s->th[tid], 1, j->blk[2 * k], j->blk[2 * k + 1], c);
      else
        block_pass(j, s, &s->th[tid], 2, j->blk[2 * k], j->blk[2 * k + 1], c);
    }
  }
}

/* Checks x and pairs and gathers the sides (p, and g for probe x gallery). */
static int prepare_sides(const pb_verif_data *x, const pb_verif_pairs *pairs, int score, vside *p, vside *g,
                         pb_err *err) {
  if (!x || !pairs) return pb_err_set(err, "verification: no data or no pairs");
  if (x->n < 0 || x->d < 1 || !x->emb || !x->label)
    return pb_err_set(err, "verification: bad data: n = %lld, d = %d, emb %s, label %s", (long long)x->n, x->d,
                      x->emb ? "set" : "NULL", x->label ? "set" : "NULL");
  if (pairs->protocol == PB_VERIF_ALL_PAIRS) {
    int64_t n = pairs->a ? pairs->na : x->n;
    if (n < 2)
      return pb_err_set(err, "verification: %lld row(s) in the set: all pairs need at least 2", (long long)n);
    return gather(x, pairs->a, n, score, "set", p, err);
  }
  if (pairs->protocol != PB_VERIF_PROBE_GALLERY)
    return pb_err_set(err, "verification: protocol %d is not all pairs (%d) or probe x gallery (%d)",
                      (int)pairs->protocol, PB_VERIF_ALL_PAIRS, PB_VERIF_PROBE_GALLERY);
  if (!pairs->a || pairs->na < 1 || !pairs->b || pairs->nb < 1)
    return pb_err_set(err, "verification: probe x gallery needs both sets: %lld probe(s), %lld gallery row(s)",
                      (long long)(pairs->a ? pairs->na : 0), (long long)(pairs->b ? pairs->nb : 0));
  if (gather(x, pairs->a, pairs->na, score, "probe", p, err)) return PB_ERR;
  return gather(x, pairs->b, pairs->nb, score, "gallery", g, err);
}

static void result_init(pb_verif_result *out, int score, int protocol, const int32_t *ids, int nids) {
  memset(out, 0, sizeof *out);
  out->score = (pb_verif_score)score;
  out->protocol = (pb_verif_protocol)protocol;
  out->ngroups = nids;
  out->group = nids ? pb_xcalloc((size_t)nids, sizeof *out->group) : NULL;
  for (int i = 0; i < nids; i++) out->group[i].id = ids[i];
}

int pb_verif_eval(const pb_verif_data *x, const pb_verif_pairs *pairs, const pb_verif_params *p,
                  pb_verif_result *out, pb_err *err) {
  memset(out, 0, sizeof *out);
  double fpr[PB_VERIF_MAX_FPR];
  int nfpr, nt;
  if (check_params(p, fpr, &nfpr, &nt, err)) return PB_ERR;
  vside ps = {0}, gs = {0};
  int32_t ids[PB_VERIF_MAX_GROUPS];
  int nids = 0, rc = PB_ERR;
  pb_vsel s = {0};
  vjob j = {0};
  float *scratch = NULL;
  int64_t ngen, nimp, nself;
  if (prepare_sides(x, pairs, p->score, &ps, &gs, err)) goto done;
  const int ap = pairs->protocol == PB_VERIF_ALL_PAIRS;
  /* a probe x gallery pair is in its probe's group: the gallery's groups play no part */
  for (int64_t i = 0; i < gs.n; i++) gs.gid[i] = -1;
  if (compact_groups(&ps, 1, ids, &nids, err)) goto done;
  count_pairs(&ps, ap ? NULL : &gs, &ngen, &nimp, &nself);
  if (ngen == 0) {
    pb_err_set(err, "verification: no genuine pairs: no two evaluated rows share an identity (%lld pairs, all "
                    "impostors)", (long long)nimp);
    goto done;
  }
  if (nimp == 0) {
    pb_err_set(err, "verification: no impostor pairs: every evaluated pair has one identity (%lld genuine pairs)",
               (long long)ngen);
    goto done;
  }
  pb_cpu_blas_init();
  j = (vjob){.all_pairs = ap, .score = p->score, .d = x->d, .self = nself > 0, .p = &ps, .g = ap ? &ps : &gs};
  job_blocks(&j);
  pb_vsel_init(&s, nids, fpr, nfpr, nt, p->list_max);
  scratch = pb_xmalloc((size_t)nt * PB_VERIF_BP * PB_VERIF_BG * sizeof(float));
  run_pass(&j, &s, 1, scratch);
  if (pb_vsel_prepare(&s, err)) {
    pb_err_prefix(err, "verification");
    goto done;
  }
  PB_ASSERT(s.sc[0].n_gen == ngen && s.sc[0].n_imp == nimp);
  run_pass(&j, &s, 2, scratch);
  result_init(out, p->score, pairs->protocol, ids, nids);
  pb_vsel_finish(&s, out);
  rc = PB_OK;
done:
  free(scratch);
  free(j.blk);
  pb_vsel_free(&s);
  vside_free(&ps);
  vside_free(&gs);
  return rc;
}

int pb_verif_score_matrix(const pb_verif_data *x, const pb_verif_pairs *pairs, const pb_verif_params *p, float *out,
                          pb_err *err) {
  double fpr[PB_VERIF_MAX_FPR];
  int nfpr, nt, rc = PB_ERR;
  if (check_params(p, fpr, &nfpr, &nt, err)) return PB_ERR;
  vside ps = {0}, gs = {0};
  vjob j = {0};
  if (prepare_sides(x, pairs, p->score, &ps, &gs, err)) goto done;
  const int ap = pairs->protocol == PB_VERIF_ALL_PAIRS;
  pb_cpu_blas_init();
  j = (vjob){.all_pairs = ap, .score = p->score, .d = x->d, .p = &ps, .g = ap ? &ps : &gs};
  job_blocks(&j);
  const int64_t ng = j.g->n;
  if (ap) memset(out, 0, (size_t)ps.n * (size_t)ps.n * sizeof *out);
  float *scratch = pb_xmalloc((size_t)nt * PB_VERIF_BP * PB_VERIF_BG * sizeof(float));
#pragma omp parallel num_threads(nt)
  {
    float *c = scratch + (size_t)omp_get_thread_num() * PB_VERIF_BP * PB_VERIF_BG;
#pragma omp for schedule(dynamic, 1)
    for (int64_t k = 0; k < j.nblocks; k++) {
      const int64_t i0 = j.blk[2 * k], j0 = j.blk[2 * k + 1];
      const int bp = (int)PB_MIN(PB_VERIF_BP, ps.n - i0), bg = (int)PB_MIN(PB_VERIF_BG, ng - j0);
      block_scores(&j, i0, j0, bp, bg, c);
      for (int ii = 0; ii < bp; ii++) {
        int jj = ap ? (int)PB_MAX(0, i0 + ii + 1 - j0) : 0;
        if (jj < bg)
          memcpy(out + (size_t)(i0 + ii) * ng + j0 + jj, c + (size_t)ii * bg + jj, (size_t)(bg - jj) * sizeof *out);
      }
    }
  }
  free(scratch);
  rc = PB_OK;
done:
  free(j.blk);
  vside_free(&ps);
  vside_free(&gs);
  return rc;
}

/* ------------------------------------------------------------------ given scores */

int pb_verif_eval_scores(const float *score, const uint8_t *genuine, const int32_t *group, int64_t n,
                         const pb_verif_params *p, pb_verif_result *out, pb_err *err) {
  memset(out, 0, sizeof *out);
  double fpr[PB_VERIF_MAX_FPR];
  int nfpr, nt;
  if (check_params(p, fpr, &nfpr, &nt, err)) return PB_ERR;
  if (n < 1 || !score || !genuine)
    return pb_err_set(err, "verification: %lld given pair(s)%s: nothing to evaluate", (long long)n,
                      n >= 1 ? " without scores or genuine flags" : "");
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(score[i]))
      return pb_err_set(err, "verification: given score %lld is %g: scores must be finite", (long long)i,
                        (double)score[i]);
  vside gs = {.n = n, .gid = pb_xmalloc((size_t)n * sizeof(int32_t))};
  for (int64_t i = 0; i < n; i++) gs.gid[i] = group ? group[i] : -1;
  int32_t ids[PB_VERIF_MAX_GROUPS];
  int nids = 0;
  if (compact_groups(&gs, 1, ids, &nids, err)) {
    free(gs.gid);
    return PB_ERR;
  }
  pb_vsel s;
  pb_vsel_init(&s, nids, fpr, nfpr, nt, p->list_max);
  const int64_t nchunks = (n + PB_VERIF_CHUNK - 1) / PB_VERIF_CHUNK;
  int rc = PB_ERR;
  for (int pass = 1; pass <= 2; pass++) {
#pragma omp parallel num_threads(nt)
    {
      pb_vsel_thread *t = &s.th[omp_get_thread_num()];
#pragma omp for schedule(dynamic, 1)
      for (int64_t k = 0; k < nchunks; k++)
        for (int64_t i = k * PB_VERIF_CHUNK; i < PB_MIN(n, (k + 1) * PB_VERIF_CHUNK); i++) {
          uint32_t key = pb_vsel_key(score[i]);
          if (genuine[i]) {
            if (pass == 1) pb_vsel_gen1(t, key, gs.gid[i], -1);
          } else if (pass == 1) {
            pb_vsel_imp1(t, key, gs.gid[i], -1);
          } else {
            pb_vsel_imp2(&s, t, key, gs.gid[i], -1);
          }
        }
    }
    if (pass == 1 && pb_vsel_prepare(&s, err)) {
      pb_err_prefix(err, "verification");
      goto done;
    }
  }
  result_init(out, p->score, PB_VERIF_GIVEN_SCORES, ids, nids);
  pb_vsel_finish(&s, out);
  rc = PB_OK;
done:
  pb_vsel_free(&s);
  free(gs.gid);
  return rc;
}

void pb_verif_result_free(pb_verif_result *r) {
  if (!r) return;
  free(r->group);
  memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------------ identity overlap */

void pb_verif_overlap_find(const int32_t *train, int64_t ntrain, const int32_t *eval, int64_t neval,
                           pb_verif_overlap *out) {
  memset(out, 0, sizeof *out);
  int32_t *a = sorted_i32(train, ntrain), *b = sorted_i32(eval, neval);
  out->shared = pb_xmalloc((size_t)PB_MAX(PB_MIN(ntrain, neval), 1) * sizeof *out->shared);
  for (int64_t i = 0; i < ntrain; i++) out->ntrain_ids += i == 0 || a[i] != a[i - 1];
  for (int64_t i = 0, j = 0; i < neval;) {
    int64_t e = i;
    while (e < neval && b[e] == b[i]) e++;
    out->neval_ids++;
    while (j < ntrain && a[j] < b[i]) j++;
    if (j < ntrain && a[j] == b[i]) {
      out->shared[out->nshared++] = b[i];
      out->neval_rows += e - i;
    }
    i = e;
  }
  free(a);
  free(b);
}

void pb_verif_overlap_free(pb_verif_overlap *o) {
  if (!o) return;
  free(o->shared);
  memset(o, 0, sizeof *o);
}
