/* test_hsic.c: the HSIC op (kernels/cpu/hsic.c; contract in ops.h "HSIC") against the float64
 * reimplementation of test/kernels/hsic_ref.h (written from REFERENCES.md, independent of the
 * op's algebra). The PyTorch goldens are test_golden_hsic.c; the CUDA twin test_cuda_hsic.c.
 *
 *  1. Gradients: central differences of the float64 reimplementation (step H = 1e-5 on
 *     features of size ~0.1..2: truncation O(H^2 |f'''|) ~ 1e-10, rounding ~1e-16 |terms| / H
 *     ~ 1e-11, both far below the float op's own error) against the op's analytic float
 *     gradient, both estimators, n = 2 (biased), 3 (biased), 4 .. 9, several sigmas, offsets.
 *     Tolerance per tensor |g - fd| <= 1e-4 max|fd| + 1e-3 |fd|: the op's gradient goes through
 *     float K, L, W and a float GEMM, ~1e-6 of the gradient's scale (measured: <= 2e-6 of
 *     max|fd|); a wrong term or factor gives O(max|fd|).
 *  2. Values against the float64 reimplementation, n up to 100, dimensions up to 300, with a
 *     common offset 5x the spread, dependent and independent, and far-apart features (sigma
 *     0.3: D / (2 sigma^2) ~ 150): |v - ref| <= 1e-5 terms + 1e-6 |ref| + 1e-35. terms: the
 *     size of the terms the estimator adds (hsic_ref.h): near independence HSIC_u is a small
 *     difference of them and only their scale gives a meaningful absolute tolerance. Float K
 *     carries ~1e-7 relative error, plus dD / (2 sigma^2) from the float GEMM's error in D
 *     (hsic_golden.h has the sigma-aware form; measured here <= 2e-8 of the terms). 1e-6 |ref|:
 *     the value's rounding to float; 1e-35: K entries under FLT_MIN (the far-apart case).
 *  3. Exact properties (bitwise): dx, dy ACCUMULATE (r + g, the same float add); a NULL side
 *     leaves the other bitwise unchanged; HSIC(x, y) = HSIC(y, x) with the sigmas swapped,
 *     value and gradients; run-to-run identical; grad_scale is linear (rtol 1e-6: one rounding
 *     apart); the value depends on the thread count only through the GEMMs' blocking (1e-6 of
 *     the terms).
 *  4. Degenerate inputs: constant features give HSIC 0 (K = 11^T: the estimator's terms cancel;
 *     |v| <= 1e-6 terms), dx exactly 0 and dy ~0, and a median squared distance of 0 (which the
 *     caller must reject, ops.h). The asserted preconditions (n < 4 unbiased, sigma <= 0) abort
 *     and are not exercised here.
 *  5. pb_sqdist_cpu (symmetric and a zero diagonal exactly; rtol 1e-5 + 1e-6 |x|^2 against the
 *     double distances: the uncentred Gram form cancels |x|^2) and pb_median_sqdist: by-hand
 *     medians (odd, even, ties, np.median's mean of the two middle values, 3 and 4 points on a
 *     line), against sorting for many sizes with ties, NaN. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/pb_common.h"
#include "test/kernels/hsic_ref.h"
#include "test/testutil.h"

#define FD_H 1e-5
#define FD_ATOL_REL 1e-4
#define FD_RTOL 1e-3
#define VAL_TOL 1e-5
#define VAL_FLOOR 1e-35

/* ------------------------------------------------------------------ helpers */

typedef struct hcase {
  int n, dx, dy;
  float *x, *y;
  pb_hsic_params p;
  pb_scratch s;
} hcase;

/* Features uniform in [-amp, amp) plus offset; y = a smooth function of x's first column plus
 * noise (so HSIC is not ~0) when dep. */
static void hcase_init(hcase *c, int n, int dx, int dy, float amp, float offset, int dep, float sx, float sy,
                       int unbiased, int nthreads, uint64_t seed) {
  c->n = n, c->dx = dx, c->dy = dy;
  c->x = malloc(sizeof(float) * n * dx);
  c->y = malloc(sizeof(float) * n * dy);
  pb_test_fill_uniform(c->x, (size_t)n * dx, -amp, amp, seed);
  pb_test_fill_uniform(c->y, (size_t)n * dy, -amp, amp, seed + 1);
  for (int i = 0; i < n; i++) {
    const float x0 = c->x[(size_t)i * dx];
    for (int j = 0; j < dy; j++) {
      float *v = &c->y[(size_t)i * dy + j];
      if (dep) *v = 0.5f * *v + (float)sin(3.0 * x0 / amp + j) * amp;
      *v += 0.5f * offset;
    }
    for (int j = 0; j < dx; j++) c->x[(size_t)i * dx + j] += offset;
  }
  c->p = (pb_hsic_params){.n = n, .dx = dx, .dy = dy, .sigma_x = sx, .sigma_y = sy, .unbiased = unbiased};
  c->s.floats = pb_hsic_scratch_cpu(&c->p);
  c->s.buf = malloc(sizeof(float) * c->s.floats);
  c->s.nthreads = nthreads;
}

static void hcase_free(hcase *c) { free(c->x), free(c->y), free(c->s.buf); }

static double *to_double(const float *a, size_t n) {
  double *d = malloc(sizeof(double) * (n ? n : 1));
  for (size_t i = 0; i < n; i++) d[i] = a[i];
  return d;
}

static double ref_of(const hcase *c, double *terms) {
  double *xd = to_double(c->x, (size_t)c->n * c->dx), *yd = to_double(c->y, (size_t)c->n * c->dy);
  const double v =
      ref_hsic(xd, yd, c->n, c->dx, c->dy, c->p.sigma_x, c->p.sigma_y, c->p.unbiased, terms);
  free(xd), free(yd);
  return v;
}

/* ------------------------------------------------------------------ 1. gradients by finite differences */

static double g_fd_worst = 0; /* worst |g - fd| / max|fd| over every check */

static void check_grad_side(const char *what, const float *g, double *v, const double *other, int n, int d, int od,
                            int is_x, const hcase *c) {
  const size_t m = (size_t)n * d;
  double *fd = malloc(sizeof(double) * m), mx = 0;
  for (size_t e = 0; e < m; e++) {
    const double keep = v[e];
    double fp, fm;
    v[e] = keep + FD_H;
    fp = is_x ? ref_hsic(v, other, n, d, od, c->p.sigma_x, c->p.sigma_y, c->p.unbiased, NULL)
              : ref_hsic(other, v, n, od, d, c->p.sigma_x, c->p.sigma_y, c->p.unbiased, NULL);
    v[e] = keep - FD_H;
    fm = is_x ? ref_hsic(v, other, n, d, od, c->p.sigma_x, c->p.sigma_y, c->p.unbiased, NULL)
              : ref_hsic(other, v, n, od, d, c->p.sigma_x, c->p.sigma_y, c->p.unbiased, NULL);
    v[e] = keep;
    fd[e] = (fp - fm) / (2.0 * FD_H);
    mx = fmax(mx, fabs(fd[e]));
  }
  double worst = 0;
  size_t bad = 0, wi = 0;
  for (size_t e = 0; e < m; e++) {
    const double err = fabs((double)g[e] - fd[e]);
    if (err > FD_ATOL_REL * mx + FD_RTOL * fabs(fd[e])) bad++;
    if (err > worst) worst = err, wi = e;
  }
  if (mx > 0) g_fd_worst = fmax(g_fd_worst, worst / mx);
  PB_CHECK_MSG(bad == 0, "%s: %zu of %zu gradients off; worst [%zu] op %.9g fd %.9g (max |fd| %.3g)", what, bad, m, wi,
               (double)g[wi], fd[wi], mx);
  PB_CHECK_MSG(mx > 0, "%s: the finite differences are all 0 (a useless case)", what);
  free(fd);
}

static void test_fd(int n, int dx, int dy, float amp, float offset, float sx, float sy, int unbiased, uint64_t seed) {
  hcase c;
  hcase_init(&c, n, dx, dy, amp, offset, 1, sx, sy, unbiased, 2, seed);
  float *gx = calloc((size_t)n * dx, sizeof(float)), *gy = calloc((size_t)n * dy, sizeof(float));
  pb_hsic_bwd_cpu(gx, gy, 1.0f, c.x, c.y, &c.p, &c.s);
  double *xd = to_double(c.x, (size_t)n * dx), *yd = to_double(c.y, (size_t)n * dy);
  char w[96];
  snprintf(w, sizeof w, "fd %s n=%d dx=%d dy=%d sigma %.2g/%.2g: dx", unbiased ? "unbiased" : "biased", n, dx, dy,
           (double)sx, (double)sy);
  check_grad_side(w, gx, xd, yd, n, dx, dy, 1, &c);
  w[strlen(w) - 1] = 'y';
  check_grad_side(w, gy, yd, xd, n, dy, dx, 0, &c);
  /* and the value, on the same small case */
  float v;
  double terms, ref = ref_of(&c, &terms);
  pb_hsic_fwd_cpu(&v, c.x, c.y, &c.p, &c.s);
  PB_CHECK_MSG(fabs(v - ref) <= VAL_TOL * terms + 1e-6 * fabs(ref) + VAL_FLOOR, "%s: value %.9g, ref %.9g (terms %.3g)", w, (double)v,
               ref, terms);
  free(xd), free(yd), free(gx), free(gy);
  hcase_free(&c);
}

/* ------------------------------------------------------------------ 2. values */

static double g_val_worst = 0; /* worst |v - ref| / terms */

static void test_value(int n, int dx, int dy, float amp, float offset, int dep, float sx, float sy, int unbiased,
                       uint64_t seed) {
  hcase c;
  hcase_init(&c, n, dx, dy, amp, offset, dep, sx, sy, unbiased, 2, seed);
  float v;
  pb_hsic_fwd_cpu(&v, c.x, c.y, &c.p, &c.s);
  double terms, ref = ref_of(&c, &terms);
  const double err = fabs(v - ref);
  if (terms > 1e3 * VAL_FLOOR / VAL_TOL) g_val_worst = fmax(g_val_worst, err / terms); /* not the underflow floor */
  printf("  value %s n=%3d dx=%3d dy=%3d offset %.1f: %.9g ref %.9g terms %.3g |diff|/terms %.3g\n",
         unbiased ? "u" : "b", n, dx, dy, (double)offset, (double)v, ref, terms, err / terms);
  PB_CHECK_MSG(err <= VAL_TOL * terms + 1e-6 * fabs(ref) + VAL_FLOOR,
               "value %s n=%d dx=%d dy=%d offset %g: %.9g, ref %.9g, |diff| %.3g > %.3g (terms %.3g)",
               unbiased ? "unbiased" : "biased", n, dx, dy, (double)offset, (double)v, ref, err, VAL_TOL * terms,
               terms);
  hcase_free(&c);
}

/* ------------------------------------------------------------------ 3. exact properties */

static void test_properties(int unbiased) {
  const int n = 37, dx = 19, dy = 6;
  hcase c, t;
  hcase_init(&c, n, dx, dy, 0.4f, 0.3f, 1, 1.3f, 0.7f, unbiased, 3, 77);
  const size_t mx = (size_t)n * dx, my = (size_t)n * dy;
  float *gx = calloc(mx, 4), *gy = calloc(my, 4), *ax = malloc(mx * 4), *ay = malloc(my * 4), *rx = malloc(mx * 4),
        *ry = malloc(my * 4), *hx = calloc(mx, 4), *hy = calloc(my, 4);
  const float gs = -0.37f;
  pb_hsic_bwd_cpu(gx, gy, gs, c.x, c.y, &c.p, &c.s);
  /* accumulation: r + g with the same float add */
  pb_test_fill_uniform(rx, mx, -1, 1, 5), pb_test_fill_uniform(ry, my, -1, 1, 6);
  memcpy(ax, rx, mx * 4), memcpy(ay, ry, my * 4);
  pb_hsic_bwd_cpu(ax, ay, gs, c.x, c.y, &c.p, &c.s);
  size_t bad = 0;
  for (size_t e = 0; e < mx; e++) bad += ax[e] != rx[e] + gx[e];
  for (size_t e = 0; e < my; e++) bad += ay[e] != ry[e] + gy[e];
  PB_CHECK_MSG(bad == 0, "accumulation: %zu elements are not r + g", bad);
  /* a NULL side: the other bitwise unchanged */
  memset(ax, 0, mx * 4), memset(ay, 0, my * 4);
  pb_hsic_bwd_cpu(ax, NULL, gs, c.x, c.y, &c.p, &c.s);
  pb_hsic_bwd_cpu(NULL, ay, gs, c.x, c.y, &c.p, &c.s);
  PB_CHECK_MSG(!memcmp(ax, gx, mx * 4) && !memcmp(ay, gy, my * 4), "a NULL side changes the other");
  pb_hsic_bwd_cpu(NULL, NULL, gs, c.x, c.y, &c.p, &c.s); /* nothing to do */
  /* run to run */
  memset(ax, 0, mx * 4), memset(ay, 0, my * 4);
  pb_hsic_bwd_cpu(ax, ay, gs, c.x, c.y, &c.p, &c.s);
  PB_CHECK(!memcmp(ax, gx, mx * 4) && !memcmp(ay, gy, my * 4));
  /* grad_scale is linear */
  pb_hsic_bwd_cpu(hx, hy, 1.0f, c.x, c.y, &c.p, &c.s);
  for (size_t e = 0; e < mx; e++) hx[e] *= gs;
  for (size_t e = 0; e < my; e++) hy[e] *= gs;
  PB_CHECK(pb_test_allclose("grad_scale linear: dx", gx, hx, mx, 0, 1e-6) == 0);
  PB_CHECK(pb_test_allclose("grad_scale linear: dy", gy, hy, my, 0, 1e-6) == 0);
  /* symmetry: HSIC(y, x) with the sigmas swapped, bitwise */
  t = c;
  t.x = c.y, t.y = c.x, t.dx = dy, t.dy = dx;
  t.p.dx = dy, t.p.dy = dx, t.p.sigma_x = c.p.sigma_y, t.p.sigma_y = c.p.sigma_x;
  float v1, v2, v3;
  pb_hsic_fwd_cpu(&v1, c.x, c.y, &c.p, &c.s);
  pb_hsic_fwd_cpu(&v2, t.x, t.y, &t.p, &c.s); /* same scratch size: the layout is symmetric */
  PB_CHECK_MSG(v1 == v2, "HSIC(x, y) %.9g != HSIC(y, x) %.9g", (double)v1, (double)v2);
  memset(ax, 0, mx * 4), memset(ay, 0, my * 4);
  pb_hsic_bwd_cpu(ay, ax, gs, t.x, t.y, &t.p, &c.s);
  PB_CHECK_MSG(!memcmp(ax, gx, mx * 4) && !memcmp(ay, gy, my * 4), "swapped sides: gradients differ");
  /* thread count: only the GEMM blocking may change the bits */
  c.s.nthreads = 1;
  pb_hsic_fwd_cpu(&v3, c.x, c.y, &c.p, &c.s);
  double terms;
  ref_of(&c, &terms);
  PB_CHECK_MSG(fabs(v3 - v1) <= 1e-6 * terms, "1 thread %.9g vs 3 threads %.9g", (double)v3, (double)v1);
  free(gx), free(gy), free(ax), free(ay), free(rx), free(ry), free(hx), free(hy);
  hcase_free(&c);
}

/* ------------------------------------------------------------------ 4. degenerate inputs */

static void test_constant(int unbiased) {
  const int n = 9, dx = 5, dy = 3;
  hcase c;
  hcase_init(&c, n, dx, dy, 0.5f, 0.0f, 1, 1.0f, 0.8f, unbiased, 2, 91);
  for (int i = 1; i < n; i++) memcpy(c.x + (size_t)i * dx, c.x, dx * 4); /* every row alike */
  float v, *gx = calloc((size_t)n * dx, 4), *gy = calloc((size_t)n * dy, 4), d[81];
  pb_hsic_fwd_cpu(&v, c.x, c.y, &c.p, &c.s);
  double terms, ref = ref_of(&c, &terms);
  PB_CHECK_MSG(fabs(ref) <= 1e-12 * terms, "reference: constant x gives %.3g", ref);
  PB_CHECK_MSG(fabs(v) <= 1e-6 * terms, "constant x: HSIC %.3g, want 0 (terms %.3g)", (double)v, terms);
  pb_hsic_bwd_cpu(gx, gy, 1.0f, c.x, c.y, &c.p, &c.s);
  size_t nz = 0; /* xc = 0 exactly: dx = W 0 - r 0 = 0 exactly */
  for (int e = 0; e < n * dx; e++) nz += gx[e] != 0.0f;
  PB_CHECK_MSG(nz == 0, "constant x: %zu entries of dx are not 0", nz);
  double gmax = 0;
  for (int e = 0; e < n * dy; e++) gmax = fmax(gmax, fabs(gy[e]));
  PB_CHECK_MSG(gmax <= 1e-6, "constant x: |dy| up to %.3g, want ~0", gmax);
  pb_sqdist_cpu(d, c.x, n, dx);
  PB_CHECK_MSG(pb_median_sqdist(d, 81) == 0.0, "constant x: the median distance is %g", pb_median_sqdist(d, 81));
  free(gx), free(gy);
  hcase_free(&c);
}

/* ------------------------------------------------------------------ 5. distances and the median */

static int cmp_float(const void *a, const void *b) {
  const float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

static double sorted_median(const float *a, size_t n) {
  float *s = malloc(n * 4);
  memcpy(s, a, n * 4);
  qsort(s, n, 4, cmp_float);
  const double m = n % 2 ? s[n / 2] : ((double)s[n / 2 - 1] + s[n / 2]) / 2.0;
  free(s);
  return m;
}

static void test_median(void) {
  const float odd[3] = {3, 1, 2}, even[4] = {4, 1, 3, 2}, ties[6] = {5, 5, 1, 5, 0, 5}, one[1] = {-2};
  PB_CHECK(pb_median_sqdist(odd, 3) == 2.0);
  PB_CHECK(pb_median_sqdist(even, 4) == 2.5);
  PB_CHECK(pb_median_sqdist(ties, 6) == 5.0);
  PB_CHECK(pb_median_sqdist(one, 1) == -2.0);
  const float nan_in[3] = {1, NAN, 2};
  PB_CHECK(isnan(pb_median_sqdist(nan_in, 3)));
  /* 1-d points 0, 1, 3: D = [0 1 9; 1 0 4; 9 4 0], sorted 0 0 0 1 1 4 4 9 9 -> 1 */
  const float p3[3] = {0, 1, 3}, p4[4] = {0, 1, 2, 4};
  float d[16];
  pb_sqdist_cpu(d, p3, 3, 1);
  const float want3[9] = {0, 1, 9, 1, 0, 4, 9, 4, 0};
  PB_CHECK_MSG(!memcmp(d, want3, sizeof want3), "sqdist of 0, 1, 3");
  PB_CHECK(pb_median_sqdist(d, 9) == 1.0);
  /* 0, 1, 2, 4: 16 entries 0x4 1x4 4x4 9x2 16x2 -> middle pair (1, 4) -> 2.5 */
  pb_sqdist_cpu(d, p4, 4, 1);
  PB_CHECK(pb_median_sqdist(d, 16) == 2.5);
  /* against sorting: many sizes, with repeated values */
  float *a = malloc(4 * 5001);
  for (size_t n = 1; n <= 5001; n += (n < 64 ? 1 : 379)) {
    pb_test_fill_uniform(a, n, -3, 3, 1000 + n);
    for (size_t i = 0; i < n; i += 3) a[i] = (float)(int)a[i]; /* ties */
    const double got = pb_median_sqdist(a, n), want = sorted_median(a, n);
    PB_CHECK_MSG(got == want, "median of %zu values: %.9g, sorting gives %.9g", n, got, want);
  }
  free(a);
}

static void test_sqdist(int n, int dim, float offset, uint64_t seed) {
  float *x = malloc(sizeof(float) * n * dim), *d = malloc(sizeof(float) * n * n);
  pb_test_fill_uniform(x, (size_t)n * dim, -1, 1, seed);
  for (int e = 0; e < n * dim; e++) x[e] += offset;
  pb_sqdist_cpu(d, x, n, dim);
  size_t bad = 0;
  double worst = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      double s = 0;
      for (int k = 0; k < dim; k++) {
        const double t = (double)x[(size_t)i * dim + k] - x[(size_t)j * dim + k];
        s += t * t;
      }
      const float g = d[(size_t)i * n + j];
      if (i == j) {
        bad += g != 0.0f;
        continue;
      }
      bad += g != d[(size_t)j * n + i];
      /* the uncentred Gram form cancels |x|^2 ~ dim (1/3 + offset^2): error ~ 1e-7 of that */
      const double tol = 1e-5 * s + 1e-6 * dim * (1.0 / 3 + (double)offset * offset);
      worst = fmax(worst, fabs(g - s) / (s + 1e-30));
      bad += fabs(g - s) > tol;
    }
  PB_CHECK_MSG(bad == 0, "sqdist n=%d dim=%d: %zu entries off (worst relative %.3g)", n, dim, bad, worst);
  free(x), free(d);
}

int main(void) {
  pb_cpu_blas_init();
  /* 1. finite differences */
  for (int u = 0; u <= 1; u++) {
    test_fd(4, 3, 2, 0.5f, 0.0f, 0.8f, 0.6f, u, 11);
    test_fd(5, 1, 4, 0.7f, 0.3f, 1.0f, 1.0f, u, 12);
    test_fd(7, 6, 5, 0.4f, 2.0f, 1.7f, 0.9f, u, 13);
    test_fd(9, 2, 3, 0.3f, -1.0f, 0.5f, 2.5f, u, 14);
  }
  test_fd(2, 3, 2, 0.5f, 0.0f, 0.8f, 0.6f, 0, 15); /* the smallest batches each estimator allows */
  test_fd(3, 2, 2, 0.5f, 0.1f, 0.8f, 0.6f, 0, 16);
  printf("finite differences: worst |g - fd| / max|fd| = %.3g (tolerance %.0e + %.0e |fd|)\n", g_fd_worst,
         FD_ATOL_REL, FD_RTOL);

  /* 2. values */
  for (int u = 0; u <= 1; u++) {
    test_value(4, 1, 10, 0.5f, 0.0f, 1, 1.0f, 1.0f, u, 21);
    test_value(16, 33, 7, 0.3f, 0.0f, 1, 0.9f, 1.2f, u, 22);
    test_value(64, 128, 10, 0.1f, 0.5f, 1, 1.0f, 1.0f, u, 23); /* offset 5x the spread */
    test_value(64, 128, 10, 0.1f, 0.5f, 0, 1.0f, 1.0f, u, 24); /* independent: HSIC_u ~ noise */
    test_value(100, 20, 300, 0.2f, 0.0f, 1, 0.6f, 2.0f, u, 25);
    test_value(50, 40, 40, 1.0f, 0.0f, 1, 0.3f, 0.3f, u, 26); /* far apart: K underflows */
  }
  printf("values: worst |v - ref| / terms = %.3g (tolerance %.0e)\n", g_val_worst, VAL_TOL);

  /* 3., 4. */
  test_properties(1);
  test_properties(0);
  test_constant(1);
  test_constant(0);

  /* 5. */
  test_median();
  test_sqdist(1, 3, 0.0f, 31);
  test_sqdist(17, 1, 0.0f, 32);
  test_sqdist(64, 128, 0.0f, 33);
  test_sqdist(33, 300, 2.0f, 34);
  return pb_test_exit("test_hsic");
}
