/* triplet.c: the triplet loss (Hermans et al. 2017; batch-hard and batch-all, hinge or soft
 * margin, Euclidean or squared distances), forward and backward fused: the CPU reference. The
 * contract, the formulas and the gradient's form are in ops.h ("triplet loss"); the CUDA twin is
 * kernels/cuda/triplet.cu, which follows the same steps in the same order:
 *   1. dist [n, n]: d_ij by direct differences in double, k in order (rows in parallel);
 *   2. per anchor a (in parallel): its terms, their sum and counts, and row a of the pair
 *      coefficients r (hard: r_ap* = w, r_an* = -w; all: r_ap = sum over n of w_apn in order of
 *      n, r_an = -w_ap1n - w_ap2n - ... in order of p);
 *   3. the totals over the anchors in order of a, the denominator, the loss;
 *   4. de_ik = (grad_scale / denominator) * sum_j c_ij g_ij (e_ik - e_jk), the sum over j in order
 *      (rows in parallel).
 * Every double operation is a plain +, -, *, / or sqrt (correctly rounded, no FMA in this build)
 * except softplus / sigmoid (exp, log1p), so with hinge terms the twin can reproduce every value
 * bit for bit; the sums of a batch-all anchor are summed per positive first (over the negatives
 * in order), then over the positives in order, the grouping the twin uses. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/pb_common.h"

#define PB_TRIPLET_EPS 1e-12     /* inside the square root (ops.h) */
#define PB_TRIPLET_ACTIVE_AT 1e-5 /* a term above this is "active" (REFERENCES.md) */

/* ------------------------------------------------------------------ scratch layout */

/* Doubles: dist [n*n], r [n*n], gacc [n*d], asum [n]; then int64 acnt [n * 4] (valid, nonzero,
 * active, excluded per anchor). Every region starts on a multiple of 16 floats. */
#define PB_TRIPLET_ALIGN(f) (((f) + 15) & ~(size_t)15)

typedef struct pb_triplet_ws {
  double *dist, *r, *gacc, *asum;
  int64_t *acnt;
} pb_triplet_ws;

static size_t pb_triplet_layout(const pb_triplet_params *p, pb_triplet_ws *w, float *base) {
  const size_t n = (size_t)p->n, nn = n * n, nd = n * (size_t)p->d;
  const size_t off[5] = {0, PB_TRIPLET_ALIGN(2 * nn), 2 * PB_TRIPLET_ALIGN(2 * nn),
                         2 * PB_TRIPLET_ALIGN(2 * nn) + PB_TRIPLET_ALIGN(2 * nd),
                         2 * PB_TRIPLET_ALIGN(2 * nn) + PB_TRIPLET_ALIGN(2 * nd) + PB_TRIPLET_ALIGN(2 * n)};
  if (base) {
    w->dist = (double *)(void *)(base + off[0]);
    w->r = (double *)(void *)(base + off[1]);
    w->gacc = (double *)(void *)(base + off[2]);
    w->asum = (double *)(void *)(base + off[3]);
    w->acnt = (int64_t *)(void *)(base + off[4]);
  }
  return off[4] + PB_TRIPLET_ALIGN(2 * 4 * n);
}

size_t pb_triplet_scratch_cpu(const pb_triplet_params *p) {
  PB_ASSERT(p->n >= 0 && p->d >= 1);
  pb_triplet_ws w;
  return pb_triplet_layout(p, &w, NULL);
}

/* ------------------------------------------------------------------ the margin function */

/* m(x) and its derivative w = m'(x) (ops.h): hinge max(x + margin, 0) with relu's gradient
 * (0 at the kink), or the stable softplus with the stable sigmoid. The twin's pb_trip_term is
 * this, operation for operation. */
static inline double pb_trip_term(double x, int soft, double margin, double *w) {
  if (!soft) {
    const double t = x + margin;
    *w = t > 0.0 ? 1.0 : 0.0;
    return t > 0.0 ? t : 0.0;
  }
  if (x > 0.0) {
    const double e = exp(-x);
    *w = 1.0 / (1.0 + e);
    return x + log1p(e);
  }
  const double e = exp(x);
  *w = e / (1.0 + e);
  return log1p(e);
}

/* ------------------------------------------------------------------ steps */

/* dist [n, n]: row i against every j (both triangles: (e_i - e_j)^2 == (e_j - e_i)^2 exactly). */
static void pb_trip_dist(double *dist, const float *e, const pb_triplet_params *p, int nt) {
  const int n = p->n, d = p->d;
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int i = 0; i < n; i++) {
    const float *ei = e + (size_t)i * d;
    for (int j = 0; j < n; j++) {
      const float *ej = e + (size_t)j * d;
      double s = 0.0;
      for (int k = 0; k < d; k++) {
        const double t = (double)ei[k] - (double)ej[k];
        s += t * t;
      }
      dist[(size_t)i * n + j] = p->squared ? s : sqrt(s + PB_TRIPLET_EPS);
    }
  }
}

/* Batch-hard, anchor a: the hardest positive (first maximum) and negative (first minimum). */
static void pb_trip_anchor_hard(const pb_triplet_ws *w, const int32_t *labels, int a, const pb_triplet_params *p) {
  const int n = p->n, la = labels[a];
  const double *da = w->dist + (size_t)a * n;
  double *ra = w->r + (size_t)a * n;
  int64_t *cnt = w->acnt + 4 * (size_t)a;
  memset(ra, 0, sizeof(double) * (size_t)n);
  memset(cnt, 0, 4 * sizeof(int64_t));
  w->asum[a] = 0.0;
  if (la < 0) return;
  int bp = -1, bn = -1;
  for (int j = 0; j < n; j++) {
    if (j == a || labels[j] < 0) continue;
    if (labels[j] == la) {
      if (bp < 0 || da[j] > da[bp]) bp = j;
    } else if (bn < 0 || da[j] < da[bn]) {
      bn = j;
    }
  }
  if (bp < 0 || bn < 0) {
    cnt[3] = 1;
    return;
  }
  double wt;
  const double term = pb_trip_term(da[bp] - da[bn], p->soft, (double)p->margin, &wt);
  w->asum[a] = term;
  cnt[0] = 1;
  cnt[1] = term > 0.0;
  cnt[2] = term > PB_TRIPLET_ACTIVE_AT;
  ra[bp] = wt;
  ra[bn] = -wt;
}

/* Batch-all, anchor a: every (p, n); per positive p the sums over n in order, then the anchor's
 * sum over p in order; r_an accumulates -w in order of p. */
static void pb_trip_anchor_all(const pb_triplet_ws *w, const int32_t *labels, int a, const pb_triplet_params *p) {
  const int n = p->n, la = labels[a];
  const double *da = w->dist + (size_t)a * n;
  double *ra = w->r + (size_t)a * n;
  int64_t *cnt = w->acnt + 4 * (size_t)a;
  memset(ra, 0, sizeof(double) * (size_t)n);
  memset(cnt, 0, 4 * sizeof(int64_t));
  w->asum[a] = 0.0;
  if (la < 0) return;
  int64_t npos = 0, nneg = 0;
  for (int j = 0; j < n; j++) {
    if (j == a || labels[j] < 0) continue;
    if (labels[j] == la)
      npos++;
    else
      nneg++;
  }
  if (npos == 0 || nneg == 0) {
    cnt[3] = 1;
    return;
  }
  const double margin = (double)p->margin;
  double asum = 0.0;
  int64_t nz = 0, act = 0;
  for (int j = 0; j < n; j++) {
    if (j == a || labels[j] != la) continue; /* j: a positive */
    double tj = 0.0, wj = 0.0;
    for (int m = 0; m < n; m++) {
      if (labels[m] < 0 || labels[m] == la) continue; /* m: a negative */
      double wt;
      const double term = pb_trip_term(da[j] - da[m], p->soft, margin, &wt);
      tj += term;
      wj += wt;
      nz += term > 0.0;
      act += term > PB_TRIPLET_ACTIVE_AT;
      ra[m] -= wt;
    }
    ra[j] = wj;
    asum += tj;
  }
  w->asum[a] = asum;
  cnt[0] = npos * nneg;
  cnt[1] = nz;
  cnt[2] = act;
}

/* de [n, d] = coef * sum_j c_ij g_ij (e_i - e_j), j in order; coef == 0: exactly +0. */
static void pb_trip_grad(float *de, const pb_triplet_ws *w, const float *e, double coef, const pb_triplet_params *p,
                         int nt) {
  const int n = p->n, d = p->d;
  if (coef == 0.0) {
    memset(de, 0, sizeof(float) * (size_t)n * d);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int i = 0; i < n; i++) {
    const float *ei = e + (size_t)i * d;
    double *acc = w->gacc + (size_t)i * d;
    for (int k = 0; k < d; k++) acc[k] = 0.0;
    for (int j = 0; j < n; j++) {
      const double c = w->r[(size_t)i * n + j] + w->r[(size_t)j * n + i];
      if (c == 0.0) continue;
      const double cg = p->squared ? 2.0 * c : c / w->dist[(size_t)i * n + j];
      const float *ej = e + (size_t)j * d;
      for (int k = 0; k < d; k++) acc[k] += cg * ((double)ei[k] - (double)ej[k]);
    }
    float *dei = de + (size_t)i * d;
    for (int k = 0; k < d; k++) dei[k] = (float)(coef * acc[k]);
  }
}

/* ------------------------------------------------------------------ the op */

void pb_triplet_loss_cpu(float *loss, int64_t *counts, float *de, const float *e, const int32_t *labels,
                         float grad_scale, const pb_triplet_params *p, const pb_scratch *s) {
  PB_ASSERT(p->n >= 0 && p->d >= 1);
  PB_ASSERT(p->mode == PB_TRIPLET_BATCH_HARD || p->mode == PB_TRIPLET_BATCH_ALL);
  PB_ASSERT(p->reduction == PB_TRIPLET_MEAN_ALL || p->reduction == PB_TRIPLET_MEAN_NONZERO);
  PB_ASSERT(isfinite(p->margin));
  const int n = p->n;
  if (n == 0) {
    loss[0] = 0.0f;
    if (counts) memset(counts, 0, PB_TRIPLET_NCOUNTS * sizeof(int64_t));
    return;
  }
  PB_ASSERT(s && s->buf && s->floats >= pb_triplet_scratch_cpu(p));
  PB_ASSERT((uintptr_t)s->buf % sizeof(double) == 0);
  pb_triplet_ws w;
  pb_triplet_layout(p, &w, s->buf);
  const int nt = s->nthreads < 1 ? 1 : s->nthreads;

  pb_trip_dist(w.dist, e, p, nt);
  const int hard = p->mode == PB_TRIPLET_BATCH_HARD;
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int a = 0; a < n; a++) {
    if (hard)
      pb_trip_anchor_hard(&w, labels, a, p);
    else
      pb_trip_anchor_all(&w, labels, a, p);
  }

  double sum = 0.0;
  int64_t tot[PB_TRIPLET_NCOUNTS] = {0, 0, 0, 0};
  for (int a = 0; a < n; a++) {
    sum += w.asum[a];
    for (int c = 0; c < PB_TRIPLET_NCOUNTS; c++) tot[c] += w.acnt[4 * (size_t)a + c];
  }
  const int64_t denom = p->reduction == PB_TRIPLET_MEAN_NONZERO ? tot[PB_TRIPLET_NONZERO] : tot[PB_TRIPLET_VALID];
  loss[0] = denom > 0 ? (float)(sum / (double)denom) : 0.0f;
  if (counts) memcpy(counts, tot, sizeof tot);
  if (de) pb_trip_grad(de, &w, e, denom > 0 ? (double)grad_scale / (double)denom : 0.0, p, nt);
}

void pb_triplet_stats_cpu(float *out, const float *loss, const int64_t *counts, int rows) {
  const int64_t valid = counts[PB_TRIPLET_VALID];
  out[0] = loss[0] * (float)rows;
  out[1] = valid > 0 ? (float)((double)counts[PB_TRIPLET_ACTIVE] / (double)valid) * (float)rows : 0.0f;
  out[2] = (float)counts[PB_TRIPLET_EXCLUDED];
}
