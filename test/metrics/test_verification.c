/* test_verification.c: metrics/verification.c (TPR at FPR, ROC AUC, EER, per group):
 * (1) against scikit-learn / numpy brute force (test/fixtures/verification_sklearn.txt, written
 *     by scripts/fixtures/gen_verification_fixture.py): given scores and embeddings with exact
 *     float32 scores, both protocols and both scores, ties, tiny sets where f * N_imp < 1;
 *     counts and thresholds exact, AUC within 1e-12 of sklearn's roc_auc_score (its trapezoids
 *     are float64 sums) and the Mann-Whitney counts exact, EER within 1e-12;
 * (2) against a full-sort C reimplementation on random data (Gaussian, quantised with many ties,
 *     identical rows, several blocks), from the scores pb_verif_score_matrix returns: everything
 *     exact (the same float32 scores, the same EER formula);
 * (3) the same figures, bit for bit, for 1-4 threads and with pass 2's dense histograms forced;
 * (4) every error case returns PB_ERR with a message naming it, never a NaN figure;
 * (5) the JSON object, the log line and the identity overlap warning. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pb_rng.h"
#include "metrics/verification.h"
#include "test/testutil.h"

/* ------------------------------------------------------------------ comparison helpers */

static int same_d(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

static int same_point(const pb_verif_point *a, const pb_verif_point *b) {
  return same_d(a->fpr, b->fpr) && a->k == b->k && same_d(a->threshold, b->threshold) && same_d(a->tpr, b->tpr) &&
         same_d(a->fpr_achieved, b->fpr_achieved) && a->n_gen_accepted == b->n_gen_accepted &&
         a->n_imp_accepted == b->n_imp_accepted && a->below_resolution == b->below_resolution;
}

static int same_figures(const pb_verif_figures *a, const pb_verif_figures *b) {
  int ok = a->n_gen == b->n_gen && a->n_imp == b->n_imp && a->auc_greater == b->auc_greater &&
           a->auc_equal == b->auc_equal && same_d(a->auc, b->auc) && same_d(a->eer, b->eer) && a->npoints == b->npoints;
  for (int i = 0; ok && i < a->npoints; i++) ok = same_point(&a->at[i], &b->at[i]);
  return ok;
}

static int same_result(const pb_verif_result *a, const pb_verif_result *b) {
  if (!same_figures(&a->all, &b->all) || a->ngroups != b->ngroups) return 0;
  for (int g = 0; g < a->ngroups; g++) {
    if (a->group[g].id != b->group[g].id || !same_figures(&a->group[g].own, &b->group[g].own)) return 0;
    for (int i = 0; i < a->all.npoints; i++)
      if (!same_point(&a->group[g].at_global[i], &b->group[g].at_global[i])) return 0;
  }
  return 1;
}

/* ------------------------------------------------------------------ (1) the sklearn fixture */

typedef struct tok {
  FILE *f;
  char s[64];
} tok;

static const char *next(tok *t) {
  if (fscanf(t->f, "%63s", t->s) != 1) t->s[0] = 0;
  return t->s;
}
static double dnext(tok *t) {
  next(t);
  return strcmp(t->s, "nan") ? strtod(t->s, NULL) : NAN;
}
static long long inext(tok *t) { return strtoll(next(t), NULL, 10); }

static int close_to(double a, double b, double tol) { return (isnan(a) && isnan(b)) || fabs(a - b) <= tol; }

/* Compares r against the expected block of the fixture. */
static void check_expected(tok *t, const pb_verif_result *r, int nfpr, int ncase) {
  for (int sc = -1; sc < r->ngroups; sc++) {
    const pb_verif_figures *fg = sc < 0 ? &r->all : &r->group[sc].own;
    PB_CHECK_MSG(!strcmp(next(t), "scope"), "case %d: expected scope, got '%s'", ncase, t->s);
    next(t);
    if (sc < 0)
      PB_CHECK_MSG(!strcmp(t->s, "all"), "case %d: scope '%s'", ncase, t->s);
    else
      PB_CHECK_MSG(atoi(t->s) == r->group[sc].id, "case %d: group %s vs plumb's %d", ncase, t->s, r->group[sc].id);
    long long ngen = inext(t), nimp = inext(t), gt = inext(t), eq = inext(t);
    double auc = dnext(t), eer = dnext(t);
    PB_CHECK_MSG(fg->n_gen == ngen && fg->n_imp == nimp, "case %d scope %d: N_gen %lld N_imp %lld vs %lld %lld", ncase,
                 sc, (long long)fg->n_gen, (long long)fg->n_imp, ngen, nimp);
    PB_CHECK_MSG(fg->auc_greater == (uint64_t)gt && fg->auc_equal == (uint64_t)eq,
                 "case %d scope %d: AUC counts %llu %llu vs %lld %lld", ncase, sc, (unsigned long long)fg->auc_greater,
                 (unsigned long long)fg->auc_equal, gt, eq);
    PB_CHECK_MSG(close_to(fg->auc, auc, 1e-12), "case %d scope %d: AUC %.17g vs sklearn %.17g", ncase, sc, fg->auc,
                 auc);
    PB_CHECK_MSG(close_to(fg->eer, eer, 1e-12), "case %d scope %d: EER %.17g vs %.17g", ncase, sc, fg->eer, eer);
    for (int i = 0; i < nfpr; i++) {
      const pb_verif_point *p = &fg->at[i];
      PB_CHECK(!strcmp(next(t), "own"));
      long long k = inext(t);
      next(t);
      float thr = strcmp(t->s, "nan") ? strtof(t->s, NULL) : NAN;
      long long ga = inext(t), ia = inext(t);
      double tpr = dnext(t), fpa = dnext(t);
      int below = (int)inext(t);
      PB_CHECK_MSG(p->k == k && same_d((double)(float)p->threshold, (double)thr) && p->n_gen_accepted == ga &&
                       p->n_imp_accepted == ia && p->below_resolution == below,
                   "case %d scope %d point %d: k %lld t %.9g acc %lld %lld below %d vs k %lld t %.9g acc %lld %lld "
                   "below %d", ncase, sc, i, (long long)p->k, p->threshold, (long long)p->n_gen_accepted,
                   (long long)p->n_imp_accepted, p->below_resolution, k, (double)thr, ga, ia, below);
      PB_CHECK_MSG(close_to(p->tpr, tpr, 1e-15) && close_to(p->fpr_achieved, fpa, 1e-15),
                   "case %d scope %d point %d: tpr %.17g fpr %.17g vs %.17g %.17g", ncase, sc, i, p->tpr,
                   p->fpr_achieved, tpr, fpa);
    }
    for (int i = 0; sc >= 0 && i < nfpr; i++) {
      const pb_verif_point *p = &r->group[sc].at_global[i];
      PB_CHECK(!strcmp(next(t), "glob"));
      long long ga = inext(t), ia = inext(t);
      double tpr = dnext(t), fpa = dnext(t);
      PB_CHECK_MSG(p->n_gen_accepted == ga && p->n_imp_accepted == ia && close_to(p->tpr, tpr, 1e-15) &&
                       close_to(p->fpr_achieved, fpa, 1e-15) && same_d(p->threshold, r->all.at[i].threshold),
                   "case %d group %d global point %d: %lld %lld %.17g %.17g vs %lld %lld %.17g %.17g", ncase,
                   r->group[sc].id, i, (long long)p->n_gen_accepted, (long long)p->n_imp_accepted, p->tpr,
                   p->fpr_achieved, ga, ia, tpr, fpa);
    }
  }
  PB_CHECK_MSG(!strcmp(next(t), "end"), "case %d: expected end, got '%s' (a scope too many or too few)", ncase, t->s);
}

static void test_sklearn_fixture(void) {
  const char *path = pb_test_fixture("verification_sklearn.txt");
  tok t = {fopen(path, "r"), {0}};
  PB_CHECK_MSG(t.f != NULL, "cannot open %s", path);
  if (!t.f) return;
  int ncase = 0, nemb = 0;
  while (next(&t)[0]) {
    int emb = !strcmp(t.s, "emb");
    PB_CHECK_MSG(emb || !strcmp(t.s, "scores"), "%s: case %d starts with '%s'", path, ncase, t.s);
    double fpr[PB_VERIF_MAX_FPR];
    pb_verif_result r[3];
    pb_err err = {{0}};
    int rc[3], nfpr;
    if (!emb) {
      int64_t n = inext(&t);
      nfpr = (int)inext(&t);
      for (int i = 0; i < nfpr; i++) fpr[i] = dnext(&t);
      int hasg = (int)inext(&t);
      float *s = malloc((size_t)n * sizeof *s);
      uint8_t *gen = malloc((size_t)n);
      int32_t *grp = hasg ? malloc((size_t)n * sizeof *grp) : NULL;
      for (int64_t i = 0; i < n; i++) s[i] = strtof(next(&t), NULL);
      for (int64_t i = 0; i < n; i++) gen[i] = (uint8_t)inext(&t);
      for (int64_t i = 0; hasg && i < n; i++) grp[i] = (int32_t)inext(&t);
      for (int v = 0; v < 3; v++) {
        /* one thread; three threads with every pass-2 bucket a dense histogram; four */
        pb_verif_params p = {.score = PB_VERIF_COSINE, .fpr = fpr, .nfpr = nfpr, .nthreads = (int[]){1, 3, 4}[v],
                             .list_max = v == 1 ? 1 : 0};
        rc[v] = pb_verif_eval_scores(s, gen, grp, n, &p, &r[v], &err);
      }
      free(s), free(gen), free(grp);
    } else {
      int proto = (int)inext(&t), score = (int)inext(&t);
      int64_t n = inext(&t);
      int d = (int)inext(&t);
      int64_t na = inext(&t), nb = inext(&t);
      nfpr = (int)inext(&t);
      for (int i = 0; i < nfpr; i++) fpr[i] = dnext(&t);
      int hasg = (int)inext(&t);
      float *e = malloc((size_t)n * d * sizeof *e);
      int32_t *lab = malloc((size_t)n * sizeof *lab), *grp = hasg ? malloc((size_t)n * sizeof *grp) : NULL;
      int64_t *a = na >= 0 ? malloc((size_t)na * sizeof *a) : NULL, *b = nb > 0 ? malloc((size_t)nb * sizeof *b) : NULL;
      for (int64_t i = 0; i < n * d; i++) e[i] = strtof(next(&t), NULL);
      for (int64_t i = 0; i < n; i++) lab[i] = (int32_t)inext(&t);
      for (int64_t i = 0; hasg && i < n; i++) grp[i] = (int32_t)inext(&t);
      for (int64_t i = 0; i < na; i++) a[i] = inext(&t);
      for (int64_t i = 0; i < nb; i++) b[i] = inext(&t);
      pb_verif_data x = {e, lab, grp, n, d};
      pb_verif_pairs pr = {(pb_verif_protocol)proto, a, na, b, nb};
      for (int v = 0; v < 3; v++) {
        pb_verif_params p = {.score = (pb_verif_score)score, .fpr = fpr, .nfpr = nfpr, .nthreads = (int[]){1, 3, 4}[v],
                             .list_max = v == 1 ? 1 : 0};
        rc[v] = pb_verif_eval(&x, &pr, &p, &r[v], &err);
      }
      free(e), free(lab), free(grp), free(a), free(b);
      nemb++;
    }
    PB_CHECK_MSG(rc[0] == PB_OK && rc[1] == PB_OK && rc[2] == PB_OK, "case %d: %s", ncase, err.msg);
    if (rc[0] == PB_OK) check_expected(&t, &r[0], nfpr, ncase);
    PB_CHECK_MSG(same_result(&r[0], &r[1]) && same_result(&r[0], &r[2]),
                 "case %d: results differ with 3 threads and dense pass-2 buckets, or 4 threads", ncase);
    for (int v = 0; v < 3; v++) pb_verif_result_free(&r[v]);
    ncase++;
  }
  fclose(t.f);
  PB_CHECK_MSG(ncase >= 13 && nemb >= 6, "%s: only %d cases (%d with embeddings) read", path, ncase, nemb);
}

/* ------------------------------------------------------------------ (2) full-sort reference */

static int cmp_f(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* Every figure of one scope from its genuine and impostor scores by sorting them. */
static void ref_figures(float *gen, int64_t ng, float *imp, int64_t ni, const double *fpr, int nfpr,
                        pb_verif_figures *o) {
  memset(o, 0, sizeof *o);
  o->n_gen = ng, o->n_imp = ni, o->npoints = nfpr;
  if (ng) qsort(gen, (size_t)ng, sizeof *gen, cmp_f);
  if (ni) qsort(imp, (size_t)ni, sizeof *imp, cmp_f);
  uint64_t gt = 0, eq = 0;
  for (int64_t i = 0, lo = 0, hi = 0; i < ng; i++) { /* impostors < gen[i] and == gen[i] */
    while (lo < ni && imp[lo] < gen[i]) lo++;
    while (hi < ni && imp[hi] <= gen[i]) hi++;
    gt += (uint64_t)lo, eq += (uint64_t)(hi - lo);
  }
  o->auc_greater = gt, o->auc_equal = eq;
  o->auc = ng && ni ? (2.0 * (double)gt + (double)eq) / (2.0 * (double)ng * (double)ni) : NAN;
  o->eer = NAN;
  if (ng && ni) { /* the ROC points, distinct scores descending */
    int64_t i = ni - 1, g = ng - 1;
    uint64_t i0 = 0, g0 = 0;
    while (i >= 0 || g >= 0) {
      float v = i < 0 ? gen[g] : g < 0 ? imp[i] : (imp[i] > gen[g] ? imp[i] : gen[g]);
      uint64_t i1 = i0, g1 = g0;
      while (i >= 0 && imp[i] == v) i1++, i--;
      while (g >= 0 && gen[g] == v) g1++, g--;
      if (i1 * (uint64_t)ng + g1 * (uint64_t)ni >= (uint64_t)ni * (uint64_t)ng) {
        double x0 = (double)i0 / (double)ni, y0 = (double)g0 / (double)ng;
        double x1 = (double)i1 / (double)ni, y1 = (double)g1 / (double)ng;
        double s0 = x0 + y0 - 1.0, s1 = x1 + y1 - 1.0, lam = -s0 / (s1 - s0);
        o->eer = x0 + lam * (x1 - x0);
        break;
      }
      i0 = i1, g0 = g1;
    }
  }
  for (int f = 0; f < nfpr; f++) {
    pb_verif_point *p = &o->at[f];
    p->fpr = fpr[f];
    p->below_resolution = !(fpr[f] * (double)ni >= 1.0);
    if (!ni) {
      p->threshold = p->tpr = p->fpr_achieved = NAN;
      continue;
    }
    int64_t k = (int64_t)floor(fpr[f] * (double)ni);
    if (k > ni - 1) k = ni - 1;
    p->k = k;
    float t = imp[ni - 1 - k];
    p->threshold = t;
    for (int64_t i = 0; i < ng; i++) p->n_gen_accepted += gen[i] > t;
    for (int64_t i = 0; i < ni; i++) p->n_imp_accepted += imp[i] > t;
    p->tpr = ng ? (double)p->n_gen_accepted / (double)ng : NAN;
    p->fpr_achieved = (double)p->n_imp_accepted / (double)ni;
  }
}

/* A growable float array. */
typedef struct fvec {
  float *v;
  int64_t n, cap;
} fvec;
static void fpush(fvec *a, float x) {
  if (a->n == a->cap) a->v = realloc(a->v, (size_t)(a->cap = a->cap ? 2 * a->cap : 256) * sizeof *a->v);
  a->v[a->n++] = x;
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* The reference result of pb_verif_eval(x, pr, p) from the score matrix. */
static void ref_eval(const pb_verif_data *x, const pb_verif_pairs *pr, const pb_verif_params *p, pb_verif_result *o) {
  int ap = pr->protocol == PB_VERIF_ALL_PAIRS;
  int64_t na = ap && !pr->a ? x->n : pr->na, nb = ap ? na : pr->nb;
  float *m = malloc((size_t)na * (size_t)nb * sizeof *m);
  pb_err err = {{0}};
  PB_CHECK_MSG(pb_verif_score_matrix(x, pr, p, m, &err) == PB_OK, "%s", err.msg);
  int32_t ids[PB_VERIF_MAX_GROUPS + 1];
  int nids = 0;
  for (int64_t i = 0; x->group && i < na; i++) { /* the groups of the (probe) set */
    int32_t g = x->group[pr->a ? pr->a[i] : i];
    int seen = g < 0;
    for (int k = 0; k < nids && !seen; k++) seen = ids[k] == g;
    if (!seen) ids[nids++] = g;
  }
  qsort(ids, (size_t)nids, sizeof *ids, cmp_i32);
  fvec *gen = calloc((size_t)nids + 1, sizeof *gen), *imp = calloc((size_t)nids + 1, sizeof *imp);
  for (int64_t i = 0; i < na; i++)
    for (int64_t j = ap ? i + 1 : 0; j < nb; j++) {
      int64_t ri = pr->a ? pr->a[i] : i, rj = ap ? (pr->a ? pr->a[j] : j) : pr->b[j];
      if (ri == rj) continue;
      float s = m[(size_t)i * nb + j];
      int genuine = x->label[ri] == x->label[rj];
      fpush(genuine ? &gen[0] : &imp[0], s);
      for (int k = 0; k < nids; k++) {
        int in = x->group[ri] == ids[k] || (ap && x->group[rj] == ids[k]);
        if (in) fpush(genuine ? &gen[1 + k] : &imp[1 + k], s);
      }
    }
  double fpr[PB_VERIF_MAX_FPR] = {1e-3, 1e-4, 1e-5, 1e-6};
  int nfpr = p->nfpr ? p->nfpr : 4;
  if (p->nfpr) memcpy(fpr, p->fpr, (size_t)nfpr * sizeof *fpr);
  memset(o, 0, sizeof *o);
  o->ngroups = nids;
  o->group = calloc((size_t)nids + 1, sizeof *o->group);
  ref_figures(gen[0].v, gen[0].n, imp[0].v, imp[0].n, fpr, nfpr, &o->all);
  for (int k = 0; k < nids; k++) {
    pb_verif_group *g = &o->group[k];
    g->id = ids[k];
    ref_figures(gen[1 + k].v, gen[1 + k].n, imp[1 + k].v, imp[1 + k].n, fpr, nfpr, &g->own);
    for (int f = 0; f < nfpr; f++) { /* the group's pairs at the global threshold */
      pb_verif_point *q = &g->at_global[f];
      *q = o->all.at[f];
      q->n_gen_accepted = q->n_imp_accepted = 0;
      for (int64_t i = 0; i < gen[1 + k].n; i++) q->n_gen_accepted += gen[1 + k].v[i] > (float)q->threshold;
      for (int64_t i = 0; i < imp[1 + k].n; i++) q->n_imp_accepted += imp[1 + k].v[i] > (float)q->threshold;
      q->tpr = gen[1 + k].n ? (double)q->n_gen_accepted / (double)gen[1 + k].n : NAN;
      q->fpr_achieved = imp[1 + k].n ? (double)q->n_imp_accepted / (double)imp[1 + k].n : NAN;
    }
  }
  for (int k = 0; k <= nids; k++) free(gen[k].v), free(imp[k].v);
  free(gen), free(imp), free(m);
}

static void print_diff(const char *what, const pb_verif_figures *a, const pb_verif_figures *b) {
  fprintf(stderr, "  %s: plumb n %lld/%lld auc %llu/%llu eer %.17g | ref n %lld/%lld auc %llu/%llu eer %.17g\n", what,
          (long long)a->n_gen, (long long)a->n_imp, (unsigned long long)a->auc_greater,
          (unsigned long long)a->auc_equal, a->eer, (long long)b->n_gen, (long long)b->n_imp,
          (unsigned long long)b->auc_greater, (unsigned long long)b->auc_equal, b->eer);
  for (int i = 0; i < a->npoints; i++)
    fprintf(stderr, "    f %g: plumb k %lld t %.9g acc %lld/%lld | ref k %lld t %.9g acc %lld/%lld\n", a->at[i].fpr,
            (long long)a->at[i].k, a->at[i].threshold, (long long)a->at[i].n_gen_accepted,
            (long long)a->at[i].n_imp_accepted, (long long)b->at[i].k, b->at[i].threshold,
            (long long)b->at[i].n_gen_accepted, (long long)b->at[i].n_imp_accepted);
}

/* Random data: kind 0 Gaussian identities, 1 entries in {-1, 0, 1} (many tied scores), 2 every
 * row the same (one score for all pairs), 3 entries in {0, 0.5, 1} scaled per row. */
static void make_data(int kind, int64_t n, int d, int nids, uint64_t seed, float *e, int32_t *lab, int32_t *grp) {
  float *ctr = malloc((size_t)nids * d * sizeof *ctr);
  pb_test_fill_uniform(ctr, (size_t)nids * d, -1, 1, seed);
  for (int64_t i = 0; i < n; i++) {
    lab[i] = (int32_t)(pb_rng_uniform(seed, 1, (uint64_t)i) * nids);
    grp[i] = (int32_t)(pb_rng_uniform(seed, 2, (uint64_t)i) * 4) - (kind == 1); /* -1: no group */
    float sc = 1.0f + (float)(int)(pb_rng_uniform(seed, 3, (uint64_t)i) * 3);
    int nonzero = 0;
    for (int k = 0; k < d; k++) {
      float u = pb_rng_uniform(seed, 4, (uint64_t)(i * d + k)) * 2 - 1;
      float *v = &e[i * d + k];
      if (kind == 0) *v = ctr[lab[i] * d + k] + 0.8f * u;
      if (kind == 1) *v = (float)(int)(1.5f * u);
      if (kind == 2) *v = (float)(k + 1);
      if (kind == 3) *v = sc * 0.5f * (float)(int)(1.5f * (u + 1));
      nonzero |= *v != 0;
    }
    if (!nonzero) e[i * d] = 1; /* cosine needs a norm */
  }
  free(ctr);
}

static void test_against_full_sort(void) {
  const double fpr_a[6] = {0.3, 0.05, 1e-2, 1e-3, 1e-4, 1e-6};
  struct {
    int kind, ap, score;
    int64_t n, na, nb;
    int d, nids, nfpr;
  } cases[] = {
      {0, 1, PB_VERIF_COSINE, 700, 0, 0, 16, 60, 6},   {0, 0, PB_VERIF_NEG_L2, 900, 300, 600, 24, 80, 6},
      {1, 1, PB_VERIF_COSINE, 500, 0, 0, 4, 30, 6},    {1, 0, PB_VERIF_NEG_L2, 600, 250, 350, 3, 40, 6},
      {2, 1, PB_VERIF_NEG_L2, 300, 0, 0, 5, 7, 6},     {3, 0, PB_VERIF_COSINE, 700, 200, 500, 5, 25, 6},
      {0, 1, PB_VERIF_NEG_L2, 1400, 1300, 0, 8, 200, 0}, {0, 0, PB_VERIF_COSINE, 2600, 300, 2300, 8, 150, 6},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    int64_t n = cases[c].n;
    int d = cases[c].d;
    float *e = malloc((size_t)n * d * sizeof *e);
    int32_t *lab = malloc((size_t)n * sizeof *lab), *grp = malloc((size_t)n * sizeof *grp);
    make_data(cases[c].kind, n, d, cases[c].nids, 100 + c, e, lab, grp);
    int64_t *idx = malloc((size_t)n * sizeof *idx); /* a shuffled subset; one row listed twice */
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
      int64_t j = (int64_t)(pb_rng_uniform(7, 7 + c, (uint64_t)i) * (i + 1)), t = idx[i];
      idx[i] = idx[j], idx[j] = t;
    }
    pb_verif_pairs pr = {cases[c].ap ? PB_VERIF_ALL_PAIRS : PB_VERIF_PROBE_GALLERY, NULL, 0, NULL, 0};
    if (cases[c].na) {
      pr.a = idx, pr.na = cases[c].na;
      if (!cases[c].ap) pr.b = idx + cases[c].na, pr.nb = cases[c].nb;
      idx[1] = idx[0]; /* the same row twice in the set (all pairs) or ... */
      if (!cases[c].ap) idx[cases[c].na] = idx[2]; /* ... in both sets (probe x gallery): skipped */
    }
    pb_verif_data x = {e, lab, grp, n, d};
    pb_verif_params p = {.score = (pb_verif_score)cases[c].score, .fpr = cases[c].nfpr ? fpr_a : NULL,
                         .nfpr = cases[c].nfpr, .nthreads = 2};
    pb_verif_result r, ref, r1;
    pb_err err = {{0}};
    int rc = pb_verif_eval(&x, &pr, &p, &r, &err);
    PB_CHECK_MSG(rc == PB_OK, "full-sort case %zu: %s", c, err.msg);
    if (rc == PB_OK) {
      ref_eval(&x, &pr, &p, &ref);
      int ok = same_result(&r, &ref);
      PB_CHECK_MSG(ok, "full-sort case %zu (kind %d, %s, %s): plumb differs from the full sort", c, cases[c].kind,
                   cases[c].ap ? "all pairs" : "probe x gallery", cases[c].score ? "neg L2" : "cosine");
      if (!ok) {
        print_diff("all", &r.all, &ref.all);
        for (int g = 0; g < r.ngroups && g < ref.ngroups; g++) print_diff("group", &r.group[g].own, &ref.group[g].own);
      }
      PB_CHECK(r.all.auc >= 0 && r.all.auc <= 1 && r.all.eer >= 0 && r.all.eer <= 1 && !isnan(r.all.at[0].tpr));
      for (int nt = 1; nt <= 4; nt++) { /* bit for bit whatever the threads; dense pass 2 too */
        pb_verif_params q = p;
        q.nthreads = nt;
        q.list_max = nt == 3 ? 1 : 0;
        PB_CHECK(pb_verif_eval(&x, &pr, &q, &r1, &err) == PB_OK);
        PB_CHECK_MSG(same_result(&r, &r1), "full-sort case %zu: %d thread(s)%s differ from 2", c, nt,
                     nt == 3 ? " with dense buckets" : "");
        pb_verif_result_free(&r1);
      }
      pb_verif_result_free(&ref);
    }
    pb_verif_result_free(&r);
    free(e), free(lab), free(grp), free(idx);
  }
}

/* pb_verif_eval_scores against the full sort, and the same bits with 3 threads and dense
 * pass-2 buckets; grp[i] in -1..3. */
static void check_scores(const char *what, const float *s, const uint8_t *gen, const int32_t *grp, int n,
                         const double *fpr, int nfpr) {
  pb_verif_params p = {.fpr = fpr, .nfpr = nfpr, .nthreads = 2};
  pb_verif_result r, r3;
  pb_err err = {{0}};
  PB_CHECK_MSG(pb_verif_eval_scores(s, gen, grp, n, &p, &r, &err) == PB_OK, "%s: %s", what, err.msg);
  pb_verif_params q = p;
  q.nthreads = 3;
  q.list_max = 1;
  PB_CHECK(pb_verif_eval_scores(s, gen, grp, n, &q, &r3, &err) == PB_OK);
  PB_CHECK_MSG(same_result(&r, &r3), "%s: 3 threads with dense buckets differ from 2", what);
  fvec g[5] = {{0}}, im[5] = {{0}};
  for (int i = 0; i < n; i++) {
    fpush(gen[i] ? &g[0] : &im[0], s[i]);
    if (grp[i] >= 0) fpush(gen[i] ? &g[1 + grp[i]] : &im[1 + grp[i]], s[i]);
  }
  pb_verif_figures ref;
  ref_figures(g[0].v, g[0].n, im[0].v, im[0].n, fpr, nfpr, &ref);
  PB_CHECK_MSG(same_figures(&r.all, &ref), "%s: all pairs differ from the full sort", what);
  if (!same_figures(&r.all, &ref)) print_diff("all", &r.all, &ref);
  PB_CHECK(r.ngroups == 4);
  for (int k = 0; k < 4 && k < r.ngroups; k++) {
    ref_figures(g[1 + k].v, g[1 + k].n, im[1 + k].v, im[1 + k].n, fpr, nfpr, &ref);
    PB_CHECK_MSG(r.group[k].id == k && same_figures(&r.group[k].own, &ref), "%s: group %d differs", what, k);
  }
  for (int k = 0; k < 5; k++) free(g[k].v), free(im[k].v);
  pb_verif_result_free(&r);
  pb_verif_result_free(&r3);
}

/* The given-scores entry point: many ties and -0 / +0; then more than 65535 genuine scores in
 * one bucket (0.5 to 0.5039: pass 2 searches it instead of using a table) with impostors among
 * them, and buckets with one genuine score among thousands of impostors. */
static void test_scores_full_sort(void) {
  enum { N = 200000 };
  float *s = malloc(N * sizeof *s);
  uint8_t *gen = malloc(N);
  int32_t *grp = malloc(N * sizeof *grp);
  for (int i = 0; i < N; i++) {
    gen[i] = pb_rng_uniform(9, 0, (uint64_t)i) < 0.02f;
    float u = pb_rng_uniform(9, 1, (uint64_t)i);
    s[i] = i % 3 ? u + 0.3f * gen[i] : (float)(int)(8 * u - 4 + 2 * gen[i]) / 4; /* a third on 1/4 steps */
    if (s[i] == 0 && i % 2) s[i] = -0.0f;
    grp[i] = (int32_t)(i % 5) - 1;
  }
  const double fpr[5] = {0.5, 1e-2, 1e-3, 1e-4, 1e-6};
  check_scores("given scores, ties", s, gen, grp, N, fpr, 5);
  for (int i = 0; i < N; i++) {
    float u = pb_rng_uniform(10, 1, (uint64_t)i);
    gen[i] = i % 8 < 5;
    s[i] = gen[i] ? 0.5f + 0.0039f * u : i % 8 == 5 ? 0.5f + 0.004f * u : i % 8 == 6 ? 0.3f * u : 0.25f + 1e-3f * u;
    if (i % 100000 == 7) gen[i] = 1, s[i] = 0.2501f; /* alone among the 0.25.. impostors */
    grp[i] = (int32_t)(i % 4);
  }
  check_scores("given scores, a bucket of 125000 genuine scores", s, gen, grp, N, fpr, 5);
  free(s), free(gen), free(grp);
}

/* ------------------------------------------------------------------ (4) errors */

static void expect_err(int rc, const pb_err *err, const pb_verif_result *r, const char *needle, const char *what) {
  PB_CHECK_MSG(rc == PB_ERR, "%s: accepted", what);
  PB_CHECK_MSG(strstr(err->msg, needle) != NULL, "%s: message '%s' does not say '%s'", what, err->msg, needle);
  PB_CHECK_MSG(r->group == NULL && r->ngroups == 0 && r->all.n_gen == 0 && r->all.npoints == 0,
               "%s: a result was filled", what);
}

static void test_errors(void) {
  float e[5 * 2] = {1, 0, 0, 1, 1, 1, 2, 0, 0, 0}; /* row 4 has norm 0 */
  int32_t lab[5] = {0, 0, 1, 1, 2}, same[5] = {3, 3, 3, 3, 3}, diff[5] = {0, 1, 2, 3, 4}, neg[5] = {0, 0, 1, -1, 2};
  int64_t first4[4] = {0, 1, 2, 3}, one[1] = {0}, bad[2] = {0, 5};
  pb_verif_data x = {e, lab, NULL, 5, 2};
  pb_verif_pairs all4 = {PB_VERIF_ALL_PAIRS, first4, 4, NULL, 0};
  pb_verif_params p = {.score = PB_VERIF_COSINE, .nthreads = 2};
  pb_verif_result r;
  pb_err err = {{0}};
  pb_verif_pairs pr = {PB_VERIF_ALL_PAIRS, one, 1, NULL, 0};
  expect_err(pb_verif_eval(&x, &pr, &p, &r, &err), &err, &r, "at least 2", "one row");
  pr = (pb_verif_pairs){PB_VERIF_PROBE_GALLERY, one, 1, NULL, 0};
  expect_err(pb_verif_eval(&x, &pr, &p, &r, &err), &err, &r, "needs both sets", "no gallery");
  pr = (pb_verif_pairs){PB_VERIF_ALL_PAIRS, bad, 2, NULL, 0};
  expect_err(pb_verif_eval(&x, &pr, &p, &r, &err), &err, &r, "outside [0, 5)", "index out of range");
  pr = (pb_verif_pairs){PB_VERIF_ALL_PAIRS, NULL, 0, NULL, 0};
  expect_err(pb_verif_eval(&x, &pr, &p, &r, &err), &err, &r, "norm 0", "zero-norm row, cosine");
  p.score = PB_VERIF_NEG_L2;
  PB_CHECK_MSG(pb_verif_eval(&x, &pr, &p, &r, &err) == PB_OK, "the zero row is fine for L2: %s", err.msg);
  PB_CHECK(!isnan(r.all.auc) && !isnan(r.all.eer) && r.all.n_gen == 2 && r.all.n_imp == 8);
  pb_verif_result_free(&r);
  p.score = PB_VERIF_COSINE;
  x.label = diff;
  expect_err(pb_verif_eval(&x, &all4, &p, &r, &err), &err, &r, "no genuine pairs", "no genuine pair");
  x.label = same;
  expect_err(pb_verif_eval(&x, &all4, &p, &r, &err), &err, &r, "no impostor pairs", "no impostor pair");
  x.label = neg;
  expect_err(pb_verif_eval(&x, &all4, &p, &r, &err), &err, &r, "identity label -1", "negative label");
  x.label = lab;
  int64_t dup[2] = {2, 2}; /* the only pair is a row with itself: skipped, so no pair at all */
  pr = (pb_verif_pairs){PB_VERIF_ALL_PAIRS, dup, 2, NULL, 0};
  expect_err(pb_verif_eval(&x, &pr, &p, &r, &err), &err, &r, "no genuine pairs", "a row with itself");
  e[3] = NAN;
  expect_err(pb_verif_eval(&x, &all4, &p, &r, &err), &err, &r, "non-finite", "NaN embedding");
  e[3] = 1;
  double f0[2] = {1e-3, 0}, f1[1] = {1}, fnan[1] = {NAN}, many[PB_VERIF_MAX_FPR + 1];
  for (int i = 0; i <= PB_VERIF_MAX_FPR; i++) many[i] = 0.01;
  p.fpr = f0, p.nfpr = 2;
  expect_err(pb_verif_eval(&x, &all4, &p, &r, &err), &err, &r, "in (0, 1)", "FPR 0");
  p.fpr = f1, p.nfpr = 1;
  expect_err(pb_verif_eval(&x, &all4, &p, &r, &err), &err, &r, "in (0, 1)", "FPR 1");
  p.fpr = fnan;
  expect_err(pb_verif_eval(&x, &all4, &p, &r, &err), &err, &r, "in (0, 1)", "FPR NaN");
  p.fpr = many, p.nfpr = PB_VERIF_MAX_FPR + 1;
  expect_err(pb_verif_eval(&x, &all4, &p, &r, &err), &err, &r, "at most", "too many FPRs");
  p.fpr = NULL, p.nfpr = 0;
  /* more groups than PB_VERIF_MAX_GROUPS */
  enum { M = PB_VERIF_MAX_GROUPS + 2 };
  float em[M * 2];
  int32_t lm[M], gm[M];
  for (int i = 0; i < M; i++) em[2 * i] = 1, em[2 * i + 1] = (float)i, lm[i] = i / 2, gm[i] = 1000 + i;
  pb_verif_data xm = {em, lm, gm, M, 2};
  pr = (pb_verif_pairs){PB_VERIF_ALL_PAIRS, NULL, 0, NULL, 0};
  expect_err(pb_verif_eval(&xm, &pr, &p, &r, &err), &err, &r, "distinct group ids", "too many groups");
  gm[M - 1] = gm[M - 2] = gm[M - 3] = -1; /* 63 groups: fine */
  PB_CHECK_MSG(pb_verif_eval(&xm, &pr, &p, &r, &err) == PB_OK && r.ngroups == M - 3, "63 groups: %s", err.msg);
  pb_verif_result_free(&r);
  /* given scores */
  float s[4] = {0.5f, 0.1f, NAN, 0.2f};
  uint8_t g[4] = {1, 0, 0, 0}, none[4] = {0}, all[4] = {1, 1, 1, 1};
  expect_err(pb_verif_eval_scores(s, g, NULL, 4, &p, &r, &err), &err, &r, "must be finite", "NaN score");
  s[2] = 0.3f;
  expect_err(pb_verif_eval_scores(s, none, NULL, 4, &p, &r, &err), &err, &r, "no genuine pairs", "given: no genuine");
  expect_err(pb_verif_eval_scores(s, all, NULL, 4, &p, &r, &err), &err, &r, "no impostor pairs", "given: no impostor");
  expect_err(pb_verif_eval_scores(s, g, NULL, 0, &p, &r, &err), &err, &r, "nothing to evaluate", "given: n = 0");
  PB_CHECK(pb_verif_eval_scores(s, g, NULL, 4, &p, &r, &err) == PB_OK);
  /* 1 genuine above 3 impostors: every figure defined, no NaN; each point below resolution */
  PB_CHECK(r.all.auc == 1.0 && r.all.eer == 0.0 && r.all.npoints == 4);
  for (int i = 0; i < 4; i++)
    PB_CHECK(r.all.at[i].below_resolution && r.all.at[i].tpr == 1.0 && r.all.at[i].k == 0 &&
             (float)r.all.at[i].threshold == 0.3f && r.all.at[i].fpr_achieved == 0.0);
  pb_verif_result_free(&r);
  pb_verif_result_free(NULL);
}

/* ------------------------------------------------------------------ (5) writers */

static void test_writers(void) {
  /* probe x gallery by hand: probes 0 (id 0, group 7) and 1 (id 1, group 9); gallery 2 (id 0),
   * 3 (id 1), 4 (id 2); rows 3 and 4 normalise to (0.6, 0.8) and (0.8, 0.6) */
  float e[5 * 2] = {1, 0, 0, 1, 1, 0, 3, 4, 4, 3};
  int32_t lab[5] = {0, 1, 0, 1, 2}, grp[5] = {7, 9, 0, 0, 0};
  int64_t probe[2] = {0, 1}, gallery[3] = {2, 3, 4};
  pb_verif_data x = {e, lab, grp, 5, 2};
  pb_verif_pairs pr = {PB_VERIF_PROBE_GALLERY, probe, 2, gallery, 3};
  double fpr[2] = {0.25, 1e-3};
  pb_verif_params p = {.score = PB_VERIF_COSINE, .fpr = fpr, .nfpr = 2, .nthreads = 1};
  pb_verif_result r;
  pb_err err = {{0}};
  PB_CHECK_MSG(pb_verif_eval(&x, &pr, &p, &r, &err) == PB_OK, "%s", err.msg);
  /* genuine: (0,2) = 1, (1,3) = 0.8; impostors: (0,3) 0.6, (0,4) 0.8, (1,2) 0, (1,4) 0.6 */
  PB_CHECK(r.all.n_gen == 2 && r.all.n_imp == 4 && r.ngroups == 2 && r.group[0].id == 7 && r.group[1].id == 9);
  PB_CHECK(r.all.auc_greater == 7 && r.all.auc_equal == 1 && r.all.auc == 15.0 / 16);
  PB_CHECK(r.all.at[0].k == 1 && (float)r.all.at[0].threshold == 0.6f && r.all.at[0].tpr == 1.0 &&
           r.all.at[0].fpr_achieved == 0.25 && !r.all.at[0].below_resolution);
  PB_CHECK(r.all.at[1].below_resolution && r.all.at[1].tpr == 0.5); /* t = 0.8: the genuine 0.8 is rejected */
  /* group 9 (probe 1): genuine 0.8, impostors 0, 0.6: own threshold at 0.25: k 0, t 0.6, tpr 1 */
  PB_CHECK(r.group[1].own.n_gen == 1 && r.group[1].own.n_imp == 2 && r.group[1].own.at[0].tpr == 1.0 &&
           (float)r.group[1].own.at[0].threshold == 0.6f && r.group[1].at_global[1].tpr == 0.0);
  char small[16], line[512];
  size_t n = pb_verif_json(&r, NULL, 0);
  char *js = malloc(n + 1);
  PB_CHECK(pb_verif_json(&r, js, n + 1) == n && strlen(js) == n);
  PB_CHECK(pb_verif_json(&r, small, sizeof small) == n && strlen(small) == sizeof small - 1 && !strncmp(js, small, 15));
  PB_CHECK(js[0] == '{' && js[n - 1] == '}' && !strstr(js, "nan") && !strstr(js, "inf"));
  PB_CHECK(strstr(js, "\"score\": \"cosine\"") && strstr(js, "\"protocol\": \"probe_gallery\"") &&
           strstr(js, "\"pair_group\": \"probe\"") && strstr(js, "\"n_gen\": 2, \"n_imp\": 4") &&
           strstr(js, "\"auc\": 0.9375") && strstr(js, "\"group\": 9") && strstr(js, "\"at_global_threshold\"") &&
           strstr(js, "\"below_resolution\": true, \"note\": \"f * N_imp < 1: the operating point is meaningless\""));
  int opens = 0, closes = 0, sq = 0;
  for (size_t i = 0; i < n; i++) opens += js[i] == '{', closes += js[i] == '}', sq += js[i] == '[' ? 1 : js[i] == ']' ? -1 : 0;
  PB_CHECK(opens == closes && sq == 0);
  FILE *f = tmpfile();
  PB_CHECK(pb_verif_json_write(&r, f, &err) == PB_OK);
  rewind(f);
  char *back = calloc(n + 2, 1);
  PB_CHECK(fread(back, 1, n + 1, f) == n && !strcmp(back, js));
  fclose(f);
  free(back), free(js);
  pb_verif_summary(&r, line, sizeof line);
  PB_CHECK_MSG(strstr(line, "verification cosine probe_gallery: n_gen=2 n_imp=4 auc=0.937500") &&
                   strstr(line, "tpr@0.25=1.0000") && strstr(line, "tpr@0.001=0.5000(meaningless: f*N_imp=0.004<1)") &&
                   strstr(line, "2 groups, tpr@0.25 at the global threshold: min 1.0000 (group 7) max 1.0000"),
               "%s", line);
  pb_verif_result_free(&r);
  /* a group without genuine pairs: null in JSON, n/a in the line */
  int32_t lab2[5] = {0, 1, 0, 3, 2};
  x.label = lab2;
  PB_CHECK(pb_verif_eval(&x, &pr, &p, &r, &err) == PB_OK);
  PB_CHECK(r.group[1].own.n_gen == 0 && isnan(r.group[1].own.auc) && isnan(r.group[1].at_global[0].tpr));
  js = malloc(pb_verif_json(&r, NULL, 0) + 1);
  pb_verif_json(&r, js, pb_verif_json(&r, NULL, 0) + 1);
  PB_CHECK(strstr(js, "\"auc\": null") && strstr(js, "\"tpr\": null") && !strstr(js, "nan"));
  free(js);
  pb_verif_result_free(&r);
}

static void test_overlap(void) {
  int32_t train[7] = {5, 3, 3, 9, 11, -1, 5}, eval[8] = {2, 3, 3, 3, 11, 40, 2, -1};
  pb_verif_overlap o;
  pb_verif_overlap_find(train, 7, eval, 8, &o);
  PB_CHECK(o.ntrain_ids == 5 && o.neval_ids == 5 && o.nshared == 3 && o.neval_rows == 5);
  PB_CHECK(o.shared[0] == -1 && o.shared[1] == 3 && o.shared[2] == 11);
  char line[512];
  pb_verif_overlap_str(&o, line, sizeof line);
  PB_CHECK_MSG(strstr(line, "WARNING: 3 of 5 evaluated identities (5 evaluated rows) also appear in the training "
                            "set") && strstr(line, "shared ids: -1 3 11"), "%s", line);
  pb_verif_overlap_free(&o);
  pb_verif_overlap_find(train, 7, eval, 0, &o);
  pb_verif_overlap_str(&o, line, sizeof line);
  PB_CHECK(o.nshared == 0 && line[0] == 0);
  pb_verif_overlap_free(&o);
  pb_verif_overlap_free(NULL);
}

int main(void) {
  test_sklearn_fixture();
  test_against_full_sort();
  test_scores_full_sort();
  test_errors();
  test_writers();
  test_overlap();
  return pb_test_exit("test_verification");
}
