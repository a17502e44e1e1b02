/* test_grad_linear_pool.c: CPU GEMM (kernels/cpu/gemm.c), linear (kernels/cpu/linear.c) and
 * pooling (kernels/cpu/pool.c) ops.
 *  - pb_sgemm_cpu (OpenBLAS or own) AND pb_sgemm_own_cpu against a double triple loop: all 4
 *    transpose combinations, odd sizes, sizes past every blocking edge (m > MC, n > NC,
 *    k > KC), padded leading dimensions, alpha != 1, beta 0 (C pre-filled with NaN), 1, -0.5,
 *    and k == 0;
 *  - linear: forward against a double loop, dx/dw/db against central finite differences of
 *    L = sum(y * r), with and without bias, dx == NULL, dw/db accumulate (+=), dx overwrites,
 *    and nthreads 1/2/3 agree;
 *  - pool params (sizes and error cases); max pool with padding and stride != kernel: values
 *    and argmax against a direct loop, first-max on ties, padding acting as -inf, dx by finite
 *    differences; avg pool with count_include_pad 0 and 1 against a direct loop and by finite
 *    differences; global average pool likewise; a shape big enough to take the parallel path. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/gemm_own.h"
#include "kernels/ops.h"
#include "test/testutil.h"

/* Finite differences: every op here is linear in each input (max pool piecewise linear, with
 * inputs spaced further apart than 2H so no argmax flips), so central differences carry only
 * float32 rounding of the touched outputs (~1e-7 / 2H ~ 1e-5). atol 2e-3 rtol 2e-2 is the
 * suite-wide FD tolerance; indexing bugs give O(0.1..1) errors. */
#define FD_H 1e-2f
#define FD_ATOL 2e-3
#define FD_RTOL 2e-2
/* Forward results against double references: float32 sums of at most ~40 terms in [-1, 1]:
 * rounding ~ sqrt(K) * 2^-24 * sum|terms| < 1e-5. */
#define FWD_ATOL 1e-5
#define FWD_RTOL 1e-4

typedef void (*gemm_fn)(int, int, int, int, int, float, const float *, int, const float *, int,
                        float, float *, int);

/* ------------------------------------------------------------------ GEMM */

static void check_gemm_one(gemm_fn fn, const char *fname, int ta, int tb, int m, int n, int k,
                           float alpha, float beta, uint64_t seed) {
  /* Stored shapes with padded leading dimensions (+3) so that ld != width is exercised. */
  const int a_rows = ta ? k : m, a_cols = ta ? m : k, lda = a_cols + 3;
  const int b_rows = tb ? n : k, b_cols = tb ? k : n, ldb = b_cols + 3;
  const int ldc = n + 3;
  float *a = malloc(sizeof(float) * ((size_t)a_rows * lda + 1));
  float *b = malloc(sizeof(float) * ((size_t)b_rows * ldb + 1));
  float *c = malloc(sizeof(float) * (size_t)m * ldc), *ref = malloc(sizeof(float) * (size_t)m * n);
  float *got = malloc(sizeof(float) * (size_t)m * n);
  pb_test_fill_uniform(a, (size_t)a_rows * lda + 1, -1.0f, 1.0f, seed);
  pb_test_fill_uniform(b, (size_t)b_rows * ldb + 1, -1.0f, 1.0f, seed + 1);
  pb_test_fill_uniform(c, (size_t)m * ldc, -1.0f, 1.0f, seed + 2);
  if (beta == 0.0f) /* beta == 0 must not read C */
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++) c[(size_t)i * ldc + j] = NAN;
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double acc = 0.0;
      for (int p = 0; p < k; p++) {
        const double av = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
        const double bv = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
        acc += av * bv;
      }
      const double cv = beta == 0.0f ? 0.0 : (double)beta * c[(size_t)i * ldc + j];
      ref[(size_t)i * n + j] = (float)(alpha * acc + cv);
    }
  /* The padding columns of C must stay untouched. */
  for (int i = 0; i < m; i++)
    for (int j = n; j < ldc; j++) c[(size_t)i * ldc + j] = 777.0f;
  fn(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  int pad_ok = 1;
  for (int i = 0; i < m; i++) {
    memcpy(got + (size_t)i * n, c + (size_t)i * ldc, sizeof(float) * (size_t)n);
    for (int j = n; j < ldc; j++) pad_ok &= c[(size_t)i * ldc + j] == 777.0f;
  }
  char what[160];
  snprintf(what, sizeof what, "%s ta=%d tb=%d m=%d n=%d k=%d beta=%g", fname, ta, tb, m, n, k,
           beta);
  /* float32 dot products of k terms in [-1,1]: error ~ k * 2^-24 for random signs; 1e-6*(k+1)
   * is ~15x that and far below any indexing error. */
  PB_CHECK_MSG(pb_test_allclose(what, got, ref, (size_t)m * n, 1e-6 * (k + 1), 1e-5) == 0, "%s",
               what);
  PB_CHECK_MSG(pad_ok, "%s: wrote past n in a row of C", what);
  free(a), free(b), free(c), free(ref), free(got);
}

static void check_gemm(gemm_fn fn, const char *fname) {
  static const int shapes[][3] = {{1, 1, 1},    {7, 13, 5},   {4, 16, 256}, {37, 29, 300},
                                  {70, 130, 17}, {65, 65, 257}, {3, 5, 0},   {16, 9, 784}};
  const float betas[] = {0.0f, 1.0f, -0.5f};
  uint64_t seed = 1000;
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++)
        for (int bi = 0; bi < 3; bi++, seed += 10)
          check_gemm_one(fn, fname, ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 0.7f,
                         betas[bi], seed);
}

/* ------------------------------------------------------------------ linear */

static double linear_objective(const float *x, const float *w, const float *b, const float *r,
                               int n, int in, int out, float *y) {
  pb_linear_fwd_cpu(y, x, w, b, n, in, out, 1);
  double L = 0.0;
  for (size_t i = 0; i < (size_t)n * out; i++) L += (double)y[i] * r[i];
  return L;
}

static void linear_fd(float *g, float *v, size_t nv, const float *x, const float *w,
                      const float *b, const float *r, int n, int in, int out, float *y) {
  for (size_t i = 0; i < nv; i++) {
    const float v0 = v[i], vp = v0 + FD_H, vm = v0 - FD_H;
    v[i] = vp;
    const double lp = linear_objective(x, w, b, r, n, in, out, y);
    v[i] = vm;
    const double lm = linear_objective(x, w, b, r, n, in, out, y);
    v[i] = v0;
    g[i] = (float)((lp - lm) / ((double)vp - (double)vm));
  }
}

static void check_linear(int n, int in, int out, int with_bias, uint64_t seed) {
  const size_t nx = (size_t)n * in, nw = (size_t)out * in, ny = (size_t)n * out;
  float *x = malloc(sizeof(float) * nx), *w = malloc(sizeof(float) * nw);
  float *b = with_bias ? malloc(sizeof(float) * out) : NULL;
  float *r = malloc(sizeof(float) * ny), *y = malloc(sizeof(float) * ny);
  float *yref = malloc(sizeof(float) * ny);
  pb_test_fill_uniform(x, nx, -1.0f, 1.0f, seed);
  pb_test_fill_uniform(w, nw, -1.0f, 1.0f, seed + 1);
  if (b) pb_test_fill_uniform(b, (size_t)out, -1.0f, 1.0f, seed + 2);
  pb_test_fill_uniform(r, ny, -1.0f, 1.0f, seed + 3);
  char what[128];

  for (int i = 0; i < n; i++)
    for (int o = 0; o < out; o++) {
      double acc = b ? b[o] : 0.0;
      for (int j = 0; j < in; j++) acc += (double)x[(size_t)i * in + j] * w[(size_t)o * in + j];
      yref[(size_t)i * out + o] = (float)acc;
    }
  for (size_t i = 0; i < ny; i++) y[i] = NAN;
  pb_linear_fwd_cpu(y, x, w, b, n, in, out, 2);
  snprintf(what, sizeof what, "linear n=%d in=%d out=%d bias=%d fwd", n, in, out, with_bias);
  PB_CHECK_MSG(pb_test_allclose(what, y, yref, ny, FWD_ATOL, FWD_RTOL) == 0, "%s", what);

  /* Analytic: dx pre-filled with NaN (overwrite), dw/db from zero. */
  float *dx = malloc(sizeof(float) * nx), *dw = calloc(nw, sizeof(float));
  float *db = b ? calloc((size_t)out, sizeof(float)) : NULL;
  for (size_t i = 0; i < nx; i++) dx[i] = NAN;
  pb_linear_bwd_cpu(dx, dw, db, r, x, w, n, in, out, 1);
  float *fx = malloc(sizeof(float) * nx), *fw = malloc(sizeof(float) * nw);
  linear_fd(fx, x, nx, x, w, b, r, n, in, out, y);
  linear_fd(fw, w, nw, x, w, b, r, n, in, out, y);
  snprintf(what, sizeof what, "linear n=%d in=%d out=%d dx", n, in, out);
  PB_CHECK_MSG(pb_test_allclose(what, dx, fx, nx, FD_ATOL, FD_RTOL) == 0, "%s", what);
  snprintf(what, sizeof what, "linear n=%d in=%d out=%d dw", n, in, out);
  PB_CHECK_MSG(pb_test_allclose(what, dw, fw, nw, FD_ATOL, FD_RTOL) == 0, "%s", what);
  if (b) {
    float *fb = malloc(sizeof(float) * out);
    linear_fd(fb, b, (size_t)out, x, w, b, r, n, in, out, y);
    snprintf(what, sizeof what, "linear n=%d in=%d out=%d db", n, in, out);
    PB_CHECK_MSG(pb_test_allclose(what, db, fb, (size_t)out, FD_ATOL, FD_RTOL) == 0, "%s", what);
    free(fb);
  }

  /* Thread counts 2 and 3, dx == NULL, and accumulation onto random dw/db. Each dw/db element
   * is computed by one thread over the whole batch, so only BLAS-internal blocking could make
   * it differ: 1e-6 relative. */
  for (int nt = 2; nt <= 3; nt++) {
    float *dx2 = malloc(sizeof(float) * nx), *dw2 = malloc(sizeof(float) * nw);
    float *db2 = b ? malloc(sizeof(float) * out) : NULL;
    float *ew = malloc(sizeof(float) * nw), *eb = b ? malloc(sizeof(float) * out) : NULL;
    pb_test_fill_uniform(dw2, nw, -1.0f, 1.0f, seed + 7);
    for (size_t i = 0; i < nw; i++) ew[i] = dw2[i] + dw[i];
    if (b) {
      pb_test_fill_uniform(db2, (size_t)out, -1.0f, 1.0f, seed + 8);
      for (int i = 0; i < out; i++) eb[i] = db2[i] + db[i];
    }
    pb_linear_bwd_cpu(nt == 3 ? NULL : dx2, dw2, db2, r, x, w, n, in, out, nt);
    if (nt == 2) {
      snprintf(what, sizeof what, "linear n=%d dx nthreads 2", n);
      PB_CHECK_MSG(pb_test_allclose(what, dx2, dx, nx, 1e-6, 1e-6) == 0, "%s", what);
    }
    snprintf(what, sizeof what, "linear n=%d dw accumulates, nthreads %d", n, nt);
    PB_CHECK_MSG(pb_test_allclose(what, dw2, ew, nw, 1e-6, 1e-6) == 0, "%s", what);
    if (b) {
      snprintf(what, sizeof what, "linear n=%d db accumulates, nthreads %d", n, nt);
      PB_CHECK_MSG(pb_test_allclose(what, db2, eb, (size_t)out, 1e-6, 1e-6) == 0, "%s", what);
    }
    pb_linear_fwd_cpu(y, x, w, b, n, in, out, nt);
    snprintf(what, sizeof what, "linear n=%d fwd nthreads %d", n, nt);
    PB_CHECK_MSG(pb_test_allclose(what, y, yref, ny, FWD_ATOL, FWD_RTOL) == 0, "%s", what);
    free(dx2), free(dw2), free(db2), free(ew), free(eb);
  }
  free(x), free(w), free(b), free(r), free(y), free(yref), free(dx), free(dw), free(db);
  free(fx), free(fw);
}

/* ------------------------------------------------------------------ pooling */

enum { POOL_MAX, POOL_AVG };

static size_t pin(const pb_pool_params *p) { return (size_t)p->n * p->c * p->h_in * p->w_in; }
static size_t pout(const pb_pool_params *p) { return (size_t)p->n * p->c * p->h_out * p->w_out; }

/* Direct pooling from the definition: padding is -inf for max and zero for avg; the avg
 * divisor is kh*kw with count_include_pad (floor mode keeps every window inside the padded
 * input), else the in-bounds count. First max wins on ties. */
static void ref_pool(float *y, int32_t *am, const float *x, const pb_pool_params *p, int kind) {
  for (int pl = 0; pl < p->n * p->c; pl++)
    for (int oh = 0; oh < p->h_out; oh++)
      for (int ow = 0; ow < p->w_out; ow++) {
        double best = -INFINITY, sum = 0.0;
        int best_i = -1, cnt = 0;
        for (int ki = 0; ki < p->kh; ki++)
          for (int kj = 0; kj < p->kw; kj++) {
            const int ih = oh * p->stride_h - p->pad_h + ki, iw = ow * p->stride_w - p->pad_w + kj;
            if (ih < 0 || ih >= p->h_in || iw < 0 || iw >= p->w_in) continue;
            const float v = x[(size_t)pl * p->h_in * p->w_in + ih * p->w_in + iw];
            if (best_i < 0 || v > best) best = v, best_i = ih * p->w_in + iw;
            sum += v, cnt++;
          }
        const size_t o = (size_t)pl * p->h_out * p->w_out + oh * p->w_out + ow;
        if (kind == POOL_MAX) {
          y[o] = (float)best;
          am[o] = best_i;
        } else {
          y[o] = (float)(sum / (p->count_include_pad ? p->kh * p->kw : cnt));
        }
      }
}

static double pool_objective(const float *x, const float *r, const pb_pool_params *p, int kind,
                             float *y, int32_t *am) {
  if (kind == POOL_MAX)
    pb_maxpool_fwd_cpu(y, am, x, p);
  else
    pb_avgpool_fwd_cpu(y, x, p);
  double L = 0.0;
  for (size_t i = 0; i < pout(p); i++) L += (double)y[i] * r[i];
  return L;
}

static void check_pool(pb_pool_params p, int kind, const char *name, int do_fd, uint64_t seed) {
  PB_CHECK_MSG(pb_pool_params_finish(&p) == 0, "%s", name);
  const size_t nx = pin(&p), ny = pout(&p);
  float *x = malloc(sizeof(float) * nx), *y = malloc(sizeof(float) * ny);
  float *yref = malloc(sizeof(float) * ny), *r = malloc(sizeof(float) * ny);
  int32_t *am = malloc(sizeof(int32_t) * ny), *amref = malloc(sizeof(int32_t) * ny);
  /* For finite differences, distinct values 0.05 apart (a permutation: 7919 is prime and does
   * not divide nx); else uniform. All negative for max pool, so that zero padding would win
   * if padding were not -inf. */
  const float shift = kind == POOL_MAX ? -1.0f : 0.0f;
  if (do_fd)
    for (size_t i = 0; i < nx; i++) x[i] = ((float)((i * 7919) % nx) - (float)nx) * 0.05f;
  else
    pb_test_fill_uniform(x, nx, -1.0f + shift, 1.0f + shift, seed + 99);
  pb_test_fill_uniform(r, ny, -1.0f, 1.0f, seed);
  for (size_t i = 0; i < ny; i++) y[i] = NAN;
  pool_objective(x, r, &p, kind, y, am);
  ref_pool(yref, amref, x, &p, kind);
  char what[128];
  snprintf(what, sizeof what, "%s fwd", name);
  PB_CHECK_MSG(pb_test_allclose(what, y, yref, ny, FWD_ATOL, FWD_RTOL) == 0, "%s", what);
  if (kind == POOL_MAX)
    PB_CHECK_MSG(memcmp(am, amref, sizeof(int32_t) * ny) == 0, "%s: argmax differs", name);

  float *dx = malloc(sizeof(float) * nx);
  for (size_t i = 0; i < nx; i++) dx[i] = NAN;
  if (kind == POOL_MAX)
    pb_maxpool_bwd_cpu(dx, r, am, &p);
  else
    pb_avgpool_bwd_cpu(dx, r, &p);
  if (do_fd) {
    float *fx = malloc(sizeof(float) * nx);
    for (size_t i = 0; i < nx; i++) {
      const float v0 = x[i], vp = v0 + FD_H, vm = v0 - FD_H;
      x[i] = vp;
      const double lp = pool_objective(x, r, &p, kind, y, am);
      x[i] = vm;
      const double lm = pool_objective(x, r, &p, kind, y, am);
      x[i] = v0;
      fx[i] = (float)((lp - lm) / ((double)vp - (double)vm));
    }
    snprintf(what, sizeof what, "%s dx", name);
    PB_CHECK_MSG(pb_test_allclose(what, dx, fx, nx, FD_ATOL, FD_RTOL) == 0, "%s", what);
    free(fx);
  } else { /* big shape: compare with a serial scatter of the reference instead */
    float *ex = calloc(nx, sizeof(float));
    for (size_t pl = 0; pl < (size_t)p.n * p.c; pl++)
      for (int oh = 0; oh < p.h_out; oh++)
        for (int ow = 0; ow < p.w_out; ow++) {
          const size_t o = pl * p.h_out * p.w_out + oh * p.w_out + ow;
          if (kind == POOL_MAX) {
            ex[pl * p.h_in * p.w_in + amref[o]] += r[o];
            continue;
          }
          int cnt = 0;
          for (int pass = 0; pass < 2; pass++)
            for (int ki = 0; ki < p.kh; ki++)
              for (int kj = 0; kj < p.kw; kj++) {
                const int ih = oh * p.stride_h - p.pad_h + ki, iw = ow * p.stride_w - p.pad_w + kj;
                if (ih < 0 || ih >= p.h_in || iw < 0 || iw >= p.w_in) continue;
                if (pass == 0)
                  cnt++;
                else
                  ex[pl * p.h_in * p.w_in + ih * p.w_in + iw] +=
                      r[o] / (float)(p.count_include_pad ? p.kh * p.kw : cnt);
              }
        }
    snprintf(what, sizeof what, "%s dx (direct)", name);
    PB_CHECK_MSG(pb_test_allclose(what, dx, ex, nx, FWD_ATOL, FWD_RTOL) == 0, "%s", what);
    free(ex);
  }
  free(x), free(y), free(yref), free(r), free(am), free(amref), free(dx);
}

static void check_pool_params_and_ties(void) {
  pb_pool_params p = {.n = 1, .c = 1, .h_in = 7, .w_in = 8, .kh = 3, .kw = 3, .stride_h = 2,
                      .stride_w = 2, .pad_h = 1, .pad_w = 1, .count_include_pad = 1};
  PB_CHECK(pb_pool_params_finish(&p) == 0 && p.h_out == 4 && p.w_out == 4); /* (7+2-3)/2+1 */
  p.pad_h = 2; /* pad > kernel/2 */
  PB_CHECK(pb_pool_params_finish(&p) == -1);
  p.pad_h = 0, p.h_in = 2; /* window larger than the input */
  PB_CHECK(pb_pool_params_finish(&p) == -1);

  /* Ties: a constant plane picks the first in-bounds element of each window. */
  pb_pool_params q = {.n = 1, .c = 1, .h_in = 4, .w_in = 5, .kh = 3, .kw = 3, .stride_h = 2,
                      .stride_w = 2, .pad_h = 1, .pad_w = 1};
  PB_CHECK(pb_pool_params_finish(&q) == 0);
  float x[20], y[6];
  int32_t am[6];
  for (int i = 0; i < 20; i++) x[i] = -3.0f;
  pb_maxpool_fwd_cpu(y, am, x, &q);
  for (int oh = 0; oh < q.h_out; oh++)
    for (int ow = 0; ow < q.w_out; ow++) {
      const int hs = oh * 2 - 1 < 0 ? 0 : oh * 2 - 1, ws = ow * 2 - 1 < 0 ? 0 : ow * 2 - 1;
      PB_CHECK_MSG(am[oh * q.w_out + ow] == hs * 5 + ws && y[oh * q.w_out + ow] == -3.0f,
                   "tie at (%d,%d): argmax %d", oh, ow, am[oh * q.w_out + ow]);
    }
}

static void check_gap(int n, int c, int hw, uint64_t seed) {
  const size_t nx = (size_t)n * c * hw, ny = (size_t)n * c;
  float *x = malloc(sizeof(float) * nx), *y = malloc(sizeof(float) * ny);
  float *yref = malloc(sizeof(float) * ny), *r = malloc(sizeof(float) * ny);
  float *dx = malloc(sizeof(float) * nx), *fx = malloc(sizeof(float) * nx);
  pb_test_fill_uniform(x, nx, -1.0f, 1.0f, seed);
  pb_test_fill_uniform(r, ny, -1.0f, 1.0f, seed + 1);
  for (size_t pl = 0; pl < ny; pl++) {
    double s = 0.0;
    for (int j = 0; j < hw; j++) s += x[pl * hw + j];
    yref[pl] = (float)(s / hw);
  }
  pb_gap_fwd_cpu(y, x, n, c, hw);
  PB_CHECK_MSG(pb_test_allclose("gap fwd", y, yref, ny, FWD_ATOL, FWD_RTOL) == 0, "gap fwd");
  for (size_t i = 0; i < nx; i++) dx[i] = NAN;
  pb_gap_bwd_cpu(dx, r, n, c, hw);
  for (size_t i = 0; i < nx; i++) {
    const float v0 = x[i], vp = v0 + FD_H, vm = v0 - FD_H;
    double lp = 0.0, lm = 0.0;
    x[i] = vp;
    pb_gap_fwd_cpu(y, x, n, c, hw);
    for (size_t j = 0; j < ny; j++) lp += (double)y[j] * r[j];
    x[i] = vm;
    pb_gap_fwd_cpu(y, x, n, c, hw);
    for (size_t j = 0; j < ny; j++) lm += (double)y[j] * r[j];
    x[i] = v0;
    fx[i] = (float)((lp - lm) / ((double)vp - (double)vm));
  }
  PB_CHECK_MSG(pb_test_allclose("gap dx", dx, fx, nx, FD_ATOL, FD_RTOL) == 0, "gap dx");
  free(x), free(y), free(yref), free(r), free(dx), free(fx);
}

int main(void) {
  pb_cpu_blas_init();
  check_gemm(pb_sgemm_cpu, "pb_sgemm_cpu");
  check_gemm(pb_sgemm_own_cpu, "pb_sgemm_own_cpu");

  check_linear(5, 7, 3, 1, 11);
  check_linear(1, 13, 9, 0, 21);  /* batch 1: two of three threads get no rows */
  check_linear(6, 17, 10, 1, 31); /* out 10 split 3 ways */

  check_pool_params_and_ties();
  const pb_pool_params mp1 = {.n = 2, .c = 3, .h_in = 7, .w_in = 8, .kh = 3, .kw = 3,
                              .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
  const pb_pool_params mp2 = {.n = 1, .c = 2, .h_in = 5, .w_in = 6, .kh = 2, .kw = 2,
                              .stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1};
  const pb_pool_params mp3 = {.n = 2, .c = 1, .h_in = 9, .w_in = 7, .kh = 3, .kw = 2,
                              .stride_h = 1, .stride_w = 3, .pad_h = 1, .pad_w = 0};
  check_pool(mp1, POOL_MAX, "maxpool k3 s2 p1", 1, 41);
  check_pool(mp2, POOL_MAX, "maxpool k2 s1 p1", 1, 42);
  check_pool(mp3, POOL_MAX, "maxpool k3x2 s1x3 p1x0", 1, 43);
  for (int cip = 0; cip <= 1; cip++) {
    pb_pool_params a1 = mp1, a2 = mp2, a3 = mp3;
    a1.count_include_pad = a2.count_include_pad = a3.count_include_pad = cip;
    char n1[64], n2[64], n3[64];
    snprintf(n1, sizeof n1, "avgpool k3 s2 p1 cip=%d", cip);
    snprintf(n2, sizeof n2, "avgpool k2 s1 p1 cip=%d", cip);
    snprintf(n3, sizeof n3, "avgpool k3x2 s1x3 p1x0 cip=%d", cip);
    check_pool(a1, POOL_AVG, n1, 1, 50 + cip);
    check_pool(a2, POOL_AVG, n2, 1, 52 + cip);
    check_pool(a3, POOL_AVG, n3, 1, 54 + cip);
  }
  /* Big enough for the parallel path (>= 16384 outputs); checked against direct loops. */
  const pb_pool_params big = {.n = 8, .c = 33, .h_in = 17, .w_in = 16, .kh = 3, .kw = 3,
                              .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1,
                              .count_include_pad = 0};
  check_pool(big, POOL_MAX, "maxpool big", 0, 60);
  check_pool(big, POOL_AVG, "avgpool big", 0, 61);

  check_gap(2, 3, 10, 70);
  check_gap(1, 5, 1, 71);
  return pb_test_exit("test_grad_linear_pool");
}
