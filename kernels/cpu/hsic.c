/* hsic.c: the HSIC penalty of ReBias (RBF kernels, biased and unbiased estimators), forward
 * and backward, the squared-distance matrix for the 'median' sigma and the median itself: the
 * CPU reference. Its CUDA twin is kernels/cuda/hsic.cu; contracts and the precision scheme
 * are in ops.h ("HSIC").
 *
 * Both directions build the same state (prepare): the centred features xc, yc, their Gram
 * matrices, K and L, and the off-diagonal row sums kt_i = sum_{j != i} K_ij, lt_i likewise.
 * With P = sum_i sum_{j != i} K_ij L_ij, Sk = sum kt_i, Sl = sum lt_i, Q = sum kt_i lt_i:
 *   unbiased: HSIC = [P + Sk Sl / ((n-1)(n-2)) - 2 Q / (n-2)] / (n (n-3))
 *   biased:   with a_i = kt_i + 1, b_i = lt_i + 1 (the diagonal K_ii = L_ii = 1),
 *             tr(KHLH) = (P + n) - 2/n sum a_i b_i + (sum a)(sum b) / n^2,  / (n-1)^2.
 * Backward: HSIC depends on x only through K, K_ij through D_ij; with A = dHSIC/dK symmetrised
 * (A_ij for i != j, the diagonal is constant),
 *   unbiased: A_ij = [Lt_ij + Sl/((n-1)(n-2)) - (lt_i + lt_j)/(n-2)] / (n (n-3))
 *   biased:   A_ij = (HLH)_ij / (n-1)^2 = [L_ij - b_i/n - b_j/n + (sum b)/n^2] / (n-1)^2
 * and dK_ij/dD_ij = -K_ij / (2 sigma^2), dD_ij/dx_i = 2 (x_i - x_j) (counted for (i,j) and
 * (j,i)):  dHSIC/dx_i = -(2 / sigma_x^2) sum_j W_ij (x_i - x_j),  W_ij = A_ij K_ij,
 * i.e. (2 / sigma_x^2) [(W xc)_i - r_i xc_i] with r_i = sum_j W_ij (translation invariant, so
 * the centred features serve). W is rounded to float for the GEMM and r sums those rounded
 * values, so the two parts stay consistent. dy: the same with K and L swapped.
 *
 * Threads: the GEMMs are split in row blocks (one pb_sgemm_cpu per thread); every O(n^2) loop
 * runs over rows, each row's sums sequential in j, the sums over rows sequential in i. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/pb_common.h"

/* ------------------------------------------------------------------ scratch layout */

/* Doubles first (kt, lt, p, rx, ry: n each), then floats: xc [n*dx], yc [n*dy], Gx, Gy (Gram
 * matrices, later the W matrices), K, L [n*n], and pr [n * max(dx, dy)] (the W xc product).
 * Every region starts on a multiple of 16 floats. */
#define PB_HSIC_ALIGN(f) (((f) + 15) & ~(size_t)15)

typedef struct pb_hsic_ws {
  double *kt, *lt, *p, *rx, *ry;
  float *xc, *yc, *gx, *gy, *k, *l, *pr;
} pb_hsic_ws;

static size_t pb_hsic_layout(const pb_hsic_params *p, pb_hsic_ws *w, float *base) {
  const size_t n = (size_t)p->n, nn = n * n, dmax = (size_t)PB_MAX(p->dx, p->dy);
  size_t off = 0;
  double **dbl[5] = {&w->kt, &w->lt, &w->p, &w->rx, &w->ry};
  for (int i = 0; i < 5; i++) {
    if (base) *dbl[i] = (double *)(void *)(base + off);
    off += PB_HSIC_ALIGN(2 * n);
  }
  float **flt[7] = {&w->xc, &w->yc, &w->gx, &w->gy, &w->k, &w->l, &w->pr};
  const size_t sz[7] = {n * (size_t)p->dx, n * (size_t)p->dy, nn, nn, nn, nn, n * dmax};
  for (int i = 0; i < 7; i++) {
    if (base) *flt[i] = base + off;
    off += PB_HSIC_ALIGN(sz[i]);
  }
  return off;
}

static void pb_hsic_check(const pb_hsic_params *p) {
  PB_ASSERT(p->n >= (p->unbiased ? 4 : 2));
  PB_ASSERT(p->dx >= 1 && p->dy >= 1);
  PB_ASSERT(p->sigma_x > 0.0f && isfinite(p->sigma_x));
  PB_ASSERT(p->sigma_y > 0.0f && isfinite(p->sigma_y));
}

size_t pb_hsic_scratch_cpu(const pb_hsic_params *p) { return pb_hsic_layout(p, &(pb_hsic_ws){0}, NULL); }

static void pb_hsic_ws_of(const pb_hsic_params *p, const pb_scratch *s, pb_hsic_ws *w) {
  pb_hsic_check(p);
  PB_ASSERT(s && s->buf && s->floats >= pb_hsic_scratch_cpu(p));
  PB_ASSERT((uintptr_t)s->buf % sizeof(double) == 0);
  pb_hsic_layout(p, w, s->buf);
}

static int pb_hsic_nt(const pb_scratch *s) { return s->nthreads < 1 ? 1 : s->nthreads; }

/* Rows [lo, hi) of block t of nt. */
static void pb_hsic_block(int *lo, int *hi, int rows, int t, int nt) {
  *lo = (int)((long)rows * t / nt);
  *hi = (int)((long)rows * (t + 1) / nt);
}

/* ------------------------------------------------------------------ shared steps */

/* xc = x - column means (means in double, rows in order). */
static void pb_hsic_center(float *xc, const float *x, int n, int d) {
  for (int k = 0; k < d; k++) {
    double m = 0.0;
    for (int i = 0; i < n; i++) m += (double)x[(size_t)i * d + k];
    m /= (double)n;
    for (int i = 0; i < n; i++) xc[(size_t)i * d + k] = (float)((double)x[(size_t)i * d + k] - m);
  }
}

/* g [n, n] = a a^T, a [n, d]: row blocks, one GEMM per thread. */
static void pb_hsic_gram(float *g, const float *a, int n, int d, int nt) {
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int t = 0; t < nt; t++) {
    int r0, r1;
    pb_hsic_block(&r0, &r1, n, t, nt);
    if (r1 > r0)
      pb_sgemm_cpu(0, 1, r1 - r0, n, d, 1.0f, a + (size_t)r0 * d, d, a, d, 0.0f, g + (size_t)r0 * n, n);
  }
}

/* D_ij from a Gram matrix: the upper triangle and the diagonal only, in double. */
static double pb_hsic_dist(const float *g, int n, int i, int j) {
  const int a = i < j ? i : j, b = i < j ? j : i;
  return ((double)g[(size_t)a * n + a] + (double)g[(size_t)b * n + b]) - 2.0 * (double)g[(size_t)a * n + b];
}

/* k [n, n] = exp(-D / (2 sigma^2)) from the Gram matrix g, k_ii = 1; rs[i] = sum_{j != i} k_ij.
 * With other != NULL also pr[i] = sum_{j != i} k_ij other_ij (products of floats: exact in
 * double). */
static void pb_hsic_rbf(float *k, double *rs, const float *g, int n, float sigma, const float *other, double *pr,
                        int nt) {
  const double two_s2 = 2.0 * (double)sigma * (double)sigma;
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int i = 0; i < n; i++) {
    float *kr = k + (size_t)i * n;
    const float *orow = other ? other + (size_t)i * n : NULL;
    double s = 0.0, q = 0.0;
    for (int j = 0; j < n; j++) {
      if (j == i) {
        kr[j] = 1.0f;
        continue;
      }
      const float v = (float)exp(-pb_hsic_dist(g, n, i, j) / two_s2);
      kr[j] = v;
      s += (double)v;
      if (orow) q += (double)v * (double)orow[j];
    }
    rs[i] = s;
    if (pr) pr[i] = q;
  }
}

/* Builds xc, K, kt (and yc, L, lt) for the sides asked; both Grams are needed for K and L. */
static void pb_hsic_prepare(const pb_hsic_ws *w, const float *x, const float *y, const pb_hsic_params *p, int nt,
                            int with_p) {
  const int n = p->n;
  pb_hsic_center(w->xc, x, n, p->dx);
  pb_hsic_center(w->yc, y, n, p->dy);
  pb_hsic_gram(w->gx, w->xc, n, p->dx, nt);
  pb_hsic_gram(w->gy, w->yc, n, p->dy, nt);
  pb_hsic_rbf(w->k, w->kt, w->gx, n, p->sigma_x, NULL, NULL, nt);
  pb_hsic_rbf(w->l, w->lt, w->gy, n, p->sigma_y, w->k, with_p ? w->p : NULL, nt);
}

/* ------------------------------------------------------------------ forward */

/* The estimator from the row sums (sums over rows in order of i). */
static double pb_hsic_value(const double *kt, const double *lt, const double *pr, const pb_hsic_params *p) {
  const int n = p->n;
  const double nd = (double)n;
  double P = 0.0, Sk = 0.0, Sl = 0.0, Q = 0.0;
  for (int i = 0; i < n; i++) {
    P += pr[i];
    Sk += kt[i];
    Sl += lt[i];
    Q += p->unbiased ? kt[i] * lt[i] : (kt[i] + 1.0) * (lt[i] + 1.0);
  }
  if (p->unbiased)
    return ((P + Sk * Sl / ((nd - 1.0) * (nd - 2.0))) - 2.0 * Q / (nd - 2.0)) / (nd * (nd - 3.0));
  const double Sa = Sk + nd, Sb = Sl + nd;
  return (((P + nd) - 2.0 * Q / nd) + Sa * Sb / (nd * nd)) / ((nd - 1.0) * (nd - 1.0));
}

void pb_hsic_fwd_cpu(float *value, const float *x, const float *y, const pb_hsic_params *p, const pb_scratch *s) {
  pb_hsic_ws w;
  pb_hsic_ws_of(p, s, &w);
  pb_hsic_prepare(&w, x, y, p, pb_hsic_nt(s), 1);
  value[0] = (float)pb_hsic_value(w.kt, w.lt, w.p, p);
}

/* ------------------------------------------------------------------ backward */

/* wm [n, n] (float) = A_ij self_ij for i != j, 0 on the diagonal, where A = dHSIC/dself is
 * built from `other` (the other side's kernel) and its off-diagonal row sums ors;
 * r[i] = sum_j wm_ij of the rounded values. wm may be the Gram buffer of this side (no longer
 * read: K and L are built). */
static void pb_hsic_wmat(float *wm, double *r, const float *self, const float *other, const double *ors,
                         const pb_hsic_params *p, int nt) {
  const int n = p->n;
  const double nd = (double)n;
  double So = 0.0;
  for (int i = 0; i < n; i++) So += ors[i];
  /* unbiased: A = [Ot + c - (o_i + o_j) / (n-2)] / (n(n-3)), c = So / ((n-1)(n-2));
   * biased: A = [O - b_i/n - b_j/n + Sb/n^2] / (n-1)^2, b = o + 1, Sb = So + n */
  const double cu = So / ((nd - 1.0) * (nd - 2.0)), du = nd * (nd - 3.0);
  const double cb = (So + nd) / (nd * nd), db = (nd - 1.0) * (nd - 1.0);
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int i = 0; i < n; i++) {
    float *wr = wm + (size_t)i * n;
    const float *sr = self + (size_t)i * n, *orow = other + (size_t)i * n;
    double acc = 0.0;
    for (int j = 0; j < n; j++) {
      if (j == i) {
        wr[j] = 0.0f;
        continue;
      }
      double a;
      if (p->unbiased)
        a = (((double)orow[j] + cu) - (ors[i] + ors[j]) / (nd - 2.0)) / du;
      else
        a = ((((double)orow[j] - (ors[i] + 1.0) / nd) - (ors[j] + 1.0) / nd) + cb) / db;
      const float v = (float)(a * (double)sr[j]);
      wr[j] = v;
      acc += (double)v;
    }
    r[i] = acc;
  }
}

/* g [n, d] += (2 grad_scale / sigma^2) (wm ac - diag(r) ac): pr = wm ac by row-block GEMMs. */
static void pb_hsic_apply(float *g, float *pr, const float *wm, const double *r, const float *ac, int n, int d,
                          float sigma, float grad_scale, int nt) {
  const double scale = 2.0 * (double)grad_scale / ((double)sigma * (double)sigma);
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int t = 0; t < nt; t++) {
    int r0, r1;
    pb_hsic_block(&r0, &r1, n, t, nt);
    if (r1 <= r0) continue;
    pb_sgemm_cpu(0, 0, r1 - r0, d, n, 1.0f, wm + (size_t)r0 * n, n, ac, d, 0.0f, pr + (size_t)r0 * d, d);
    for (int i = r0; i < r1; i++)
      for (int k = 0; k < d; k++) {
        const size_t e = (size_t)i * d + k;
        g[e] += (float)(scale * ((double)pr[e] - r[i] * (double)ac[e]));
      }
  }
}

void pb_hsic_bwd_cpu(float *dx, float *dy, float grad_scale, const float *x, const float *y, const pb_hsic_params *p,
                     const pb_scratch *s) {
  pb_hsic_ws w;
  pb_hsic_ws_of(p, s, &w);
  if (!dx && !dy) return;
  const int nt = pb_hsic_nt(s), n = p->n;
  pb_hsic_prepare(&w, x, y, p, nt, 0);
  if (dx) {
    pb_hsic_wmat(w.gx, w.rx, w.k, w.l, w.lt, p, nt);
    pb_hsic_apply(dx, w.pr, w.gx, w.rx, w.xc, n, p->dx, p->sigma_x, grad_scale, nt);
  }
  if (dy) {
    pb_hsic_wmat(w.gy, w.ry, w.l, w.k, w.kt, p, nt);
    pb_hsic_apply(dy, w.pr, w.gy, w.ry, w.yc, n, p->dy, p->sigma_y, grad_scale, nt);
  }
}

/* ------------------------------------------------------------------ distances and median */

void pb_sqdist_cpu(float *d, const float *x, int n, int dim) {
  PB_ASSERT(n >= 1 && dim >= 1);
  pb_sgemm_cpu(0, 1, n, n, dim, 1.0f, x, dim, x, dim, 0.0f, d, n);
  /* in place: row i writes (i, j) and (j, i) for j > i and reads only (i, j), (i, i), (j, j);
   * the lower triangle is never read and the diagonal is zeroed last */
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++) {
      const float v = (float)pb_hsic_dist(d, n, i, j);
      d[(size_t)i * n + j] = v;
      d[(size_t)j * n + i] = v;
    }
  for (int i = 0; i < n; i++) d[(size_t)i * n + i] = 0.0f;
}

/* The k-th smallest of a[0..n) (0-based), partially reordering a: Hoare-style quickselect
 * with a median-of-three pivot; no NaN in a. Afterwards a[0..k) <= a[k]. */
static float pb_select(float *a, size_t n, size_t k) {
  size_t lo = 0, hi = n - 1;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    float x = a[lo], y = a[mid], z = a[hi];
    const float piv = (x < y) ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
    size_t i = lo, j = hi;
    for (;;) { /* a[lo..i) <= piv, a(j..hi] >= piv */
      while (a[i] < piv) i++;
      while (a[j] > piv) j--;
      if (i >= j) break;
      const float t = a[i];
      a[i] = a[j], a[j] = t;
      i++, j--;
    }
    /* a[lo..j] <= piv <= a[j+1..hi] (j < hi) */
    if (k <= j)
      hi = j;
    else
      lo = j + 1;
  }
  return a[k];
}

double pb_median_sqdist(const float *d, size_t count) {
  PB_ASSERT(count >= 1);
  for (size_t i = 0; i < count; i++)
    if (isnan(d[i])) return NAN; /* np.median propagates NaN */
  float *a = pb_xmalloc(count * sizeof(float));
  memcpy(a, d, count * sizeof(float));
  const size_t k = count / 2;
  double m = (double)pb_select(a, count, k);
  if (count % 2 == 0) { /* the other middle value: the largest of a[0..k) */
    float lo = a[0];
    for (size_t i = 1; i < k; i++) lo = a[i] > lo ? a[i] : lo;
    m = ((double)lo + m) / 2.0;
  }
  free(a);
  return m;
}
