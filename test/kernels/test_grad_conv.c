/* test_grad_conv.c: CPU convolution ops (kernels/cpu/conv.c). For a set of shapes covering
 * stride 2 on odd sizes, asymmetric kernels/strides, padding, dilation 2, groups 2, 1x1
 * (the no-im2col path and a strided 1x1), with and without bias, batch 1, and channel counts
 * that are not multiples of 8, it checks:
 *  - pb_conv2d_params_finish against hand-computed output sizes and its error cases;
 *  - forward against a naive direct convolution in double;
 *  - dx, dw, dbias against central finite differences of L = sum(y * r);
 *  - that fwd and bwd_data overwrite (outputs pre-filled with NaN) and bwd_filter ADDS to dw
 *    and dbias;
 *  - that fwd and bwd_data are bitwise identical for nthreads 1, 2 and 3, and bwd_filter
 *    agrees to 1e-5 relative (its partials are summed in a different order);
 *  - that no op writes past the scratch size it asked for (guard floats after the scratch).
 * It ends with a throwaway timing (printed, never asserted) of the quickstart's convs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/ops.h"
#include "test/testutil.h"

/* Forward vs double reference: each output is a float32 sum of K <= 54 products of values in
 * [-1, 1]; its rounding error is about sqrt(K) * 2^-24 * sum|terms| < 1e-5, so atol 1e-5 and
 * rtol 1e-4 leave headroom without hiding an indexing bug (those give O(1) errors). */
#define FWD_ATOL 1e-5
#define FWD_RTOL 1e-4
/* Finite differences: L is linear in each input, so the central difference has no truncation
 * error; what remains is float32 rounding of the few outputs the perturbed element touches
 * (~1e-7 * |y| * sqrt(#touched) in L, divided by 2H = 2e-2: ~1e-5). atol 2e-3 rtol 2e-2 is
 * the suite-wide FD tolerance; a wrong index or a missed term is off by O(0.1..1). */
#define FD_H 1e-2f
#define FD_ATOL 2e-3
#define FD_RTOL 2e-2
/* bwd_filter with another thread count sums the per-chunk partials in a different order:
 * a few float32 roundings on sums of ~100 terms, so 1e-5 relative (atol 1e-5 for sums that
 * nearly cancel). */
#define THR_ATOL 1e-5
#define THR_RTOL 1e-5
#define GUARD 64
#define GUARD_VAL 12345.0f

typedef struct conv_case {
  const char *name;
  int n, c_in, h_in, w_in, c_out, kh, kw, sh, sw, ph, pw, dh, dw, groups, bias;
} conv_case;

static const conv_case CASES[] = {
    {"stride2_odd_pad1_bias", 2, 3, 9, 7, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    {"dil2_groups2_batch1_nobias", 1, 4, 8, 8, 6, 3, 3, 1, 1, 2, 2, 2, 2, 2, 0},
    {"asym_k3x2_s2x1_p1x0_d1x2_g2", 2, 6, 7, 9, 4, 3, 2, 2, 1, 1, 0, 1, 2, 2, 1},
    {"pointwise_1x1_bias", 2, 5, 6, 5, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1},
    {"pointwise_1x1_groups2_nobias", 2, 4, 5, 5, 6, 1, 1, 1, 1, 0, 0, 1, 1, 2, 0},
    {"strided_1x1_g2", 2, 4, 7, 7, 6, 1, 1, 2, 2, 0, 0, 1, 1, 2, 0},
    {"k5_s3_p2_c1", 2, 1, 11, 10, 7, 5, 5, 3, 3, 2, 2, 1, 1, 1, 1},
    {"k5_nopad_small", 1, 3, 6, 6, 3, 5, 5, 1, 1, 0, 0, 1, 1, 1, 1},
    {"quickstart_like_3x3_p1", 2, 3, 6, 6, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
};

static pb_conv2d_params params_of(const conv_case *c) {
  pb_conv2d_params p = {.n = c->n, .c_in = c->c_in, .h_in = c->h_in, .w_in = c->w_in,
                        .c_out = c->c_out, .kh = c->kh, .kw = c->kw, .stride_h = c->sh,
                        .stride_w = c->sw, .pad_h = c->ph, .pad_w = c->pw, .dil_h = c->dh,
                        .dil_w = c->dw, .groups = c->groups};
  return p;
}

static size_t x_size(const pb_conv2d_params *p) {
  return (size_t)p->n * p->c_in * p->h_in * p->w_in;
}
static size_t y_size(const pb_conv2d_params *p) {
  return (size_t)p->n * p->c_out * p->h_out * p->w_out;
}
static size_t w_size(const pb_conv2d_params *p) {
  return (size_t)p->c_out * (p->c_in / p->groups) * p->kh * p->kw;
}

/* Scratch for nt threads followed by GUARD sentinel floats. */
static pb_scratch scratch_new(const pb_conv2d_params *p, int nt) {
  pb_scratch s;
  s.floats = pb_conv2d_scratch_cpu(p, nt);
  s.buf = malloc(sizeof(float) * (s.floats + GUARD));
  s.nthreads = nt;
  for (size_t i = 0; i < s.floats; i++) s.buf[i] = NAN; /* ops must not read stale scratch */
  for (size_t i = 0; i < GUARD; i++) s.buf[s.floats + i] = GUARD_VAL;
  return s;
}
static int scratch_guard_ok(const pb_scratch *s) {
  for (size_t i = 0; i < GUARD; i++)
    if (s->buf[s->floats + i] != GUARD_VAL) return 0;
  return 1;
}

/* Direct convolution in double, straight from the definition. */
static void ref_conv(float *y, const float *x, const float *w, const float *b,
                     const pb_conv2d_params *p) {
  const int cig = p->c_in / p->groups, cog = p->c_out / p->groups;
  for (int in = 0; in < p->n; in++)
    for (int co = 0; co < p->c_out; co++) {
      const int g = co / cog;
      for (int oh = 0; oh < p->h_out; oh++)
        for (int ow = 0; ow < p->w_out; ow++) {
          double acc = b ? b[co] : 0.0;
          for (int ci = 0; ci < cig; ci++)
            for (int ki = 0; ki < p->kh; ki++)
              for (int kj = 0; kj < p->kw; kj++) {
                const int ih = oh * p->stride_h - p->pad_h + ki * p->dil_h;
                const int iw = ow * p->stride_w - p->pad_w + kj * p->dil_w;
                if (ih < 0 || ih >= p->h_in || iw < 0 || iw >= p->w_in) continue;
                const int c = g * cig + ci;
                acc += (double)x[((size_t)(in * p->c_in + c) * p->h_in + ih) * p->w_in + iw] *
                       w[((size_t)(co * cig + ci) * p->kh + ki) * p->kw + kj];
              }
          y[((size_t)(in * p->c_out + co) * p->h_out + oh) * p->w_out + ow] = (float)acc;
        }
    }
}

static double objective(const float *x, const float *w, const float *b, const float *r,
                        const pb_conv2d_params *p, const pb_scratch *s, float *y) {
  pb_conv2d_fwd_cpu(y, x, w, b, p, s);
  double L = 0.0;
  for (size_t i = 0, ny = y_size(p); i < ny; i++) L += (double)y[i] * r[i];
  return L;
}

/* Central differences of the objective with respect to every element of v (x, w or b). */
static void fd_grad(float *g, float *v, size_t nv, const float *x, const float *w, const float *b,
                    const float *r, const pb_conv2d_params *p, const pb_scratch *s, float *y) {
  for (size_t i = 0; i < nv; i++) {
    const float v0 = v[i], vp = v0 + FD_H, vm = v0 - FD_H;
    v[i] = vp;
    const double lp = objective(x, w, b, r, p, s, y);
    v[i] = vm;
    const double lm = objective(x, w, b, r, p, s, y);
    v[i] = v0;
    g[i] = (float)((lp - lm) / ((double)vp - (double)vm));
  }
}

static int all_nan_free(const float *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(v[i])) return 0;
  return 1;
}

static void check_case(const conv_case *cc, uint64_t seed) {
  pb_conv2d_params p = params_of(cc);
  PB_CHECK_MSG(pb_conv2d_params_finish(&p) == 0, "%s", cc->name);
  const size_t nx = x_size(&p), ny = y_size(&p), nw = w_size(&p), nb = (size_t)p.c_out;
  float *x = malloc(sizeof(float) * nx), *w = malloc(sizeof(float) * nw);
  float *b = cc->bias ? malloc(sizeof(float) * nb) : NULL;
  float *r = malloc(sizeof(float) * ny), *y = malloc(sizeof(float) * ny);
  float *yref = malloc(sizeof(float) * ny);
  pb_test_fill_uniform(x, nx, -1.0f, 1.0f, seed);
  pb_test_fill_uniform(w, nw, -1.0f, 1.0f, seed + 1);
  if (b) pb_test_fill_uniform(b, nb, -1.0f, 1.0f, seed + 2);
  pb_test_fill_uniform(r, ny, -1.0f, 1.0f, seed + 3);
  pb_scratch s1 = scratch_new(&p, 1);

  /* Forward against the direct loop; y pre-filled with NaN must be fully overwritten. */
  for (size_t i = 0; i < ny; i++) y[i] = NAN;
  pb_conv2d_fwd_cpu(y, x, w, b, &p, &s1);
  ref_conv(yref, x, w, b, &p);
  PB_CHECK_MSG(all_nan_free(y, ny), "%s: fwd left NaN", cc->name);
  PB_CHECK_MSG(pb_test_allclose(cc->name, y, yref, ny, FWD_ATOL, FWD_RTOL) == 0, "%s fwd",
               cc->name);

  /* Analytic gradients with dy = r. */
  float *dx = malloc(sizeof(float) * nx), *dw = calloc(nw, sizeof(float));
  float *db = b ? calloc(nb, sizeof(float)) : NULL;
  for (size_t i = 0; i < nx; i++) dx[i] = NAN;
  pb_conv2d_bwd_data_cpu(dx, r, w, &p, &s1);
  PB_CHECK_MSG(all_nan_free(dx, nx), "%s: bwd_data left NaN", cc->name);
  pb_conv2d_bwd_filter_cpu(dw, db, r, x, &p, &s1);
  PB_CHECK_MSG(all_nan_free(dw, nw), "%s: bwd_filter NaN", cc->name);

  /* Finite differences. */
  float *fx = malloc(sizeof(float) * nx), *fw = malloc(sizeof(float) * nw);
  fd_grad(fx, x, nx, x, w, b, r, &p, &s1, y);
  fd_grad(fw, w, nw, x, w, b, r, &p, &s1, y);
  char what[128];
  snprintf(what, sizeof what, "%s dx", cc->name);
  PB_CHECK_MSG(pb_test_allclose(what, dx, fx, nx, FD_ATOL, FD_RTOL) == 0, "%s", what);
  snprintf(what, sizeof what, "%s dw", cc->name);
  PB_CHECK_MSG(pb_test_allclose(what, dw, fw, nw, FD_ATOL, FD_RTOL) == 0, "%s", what);
  if (b) {
    float *fb = malloc(sizeof(float) * nb);
    fd_grad(fb, b, nb, x, w, b, r, &p, &s1, y);
    snprintf(what, sizeof what, "%s dbias", cc->name);
    PB_CHECK_MSG(pb_test_allclose(what, db, fb, nb, FD_ATOL, FD_RTOL) == 0, "%s", what);
    free(fb);
  }

  /* Accumulation: bwd_filter adds onto existing dw/dbias. The expected sum is formed with the
   * same float additions (prior + fresh gradient), so only the partial-sum order can differ. */
  float *dw2 = malloc(sizeof(float) * nw), *exp_w = malloc(sizeof(float) * nw);
  float *db2 = b ? malloc(sizeof(float) * nb) : NULL;
  float *exp_b = b ? malloc(sizeof(float) * nb) : NULL;
  pb_test_fill_uniform(dw2, nw, -1.0f, 1.0f, seed + 4);
  for (size_t i = 0; i < nw; i++) exp_w[i] = dw2[i] + dw[i];
  if (b) {
    pb_test_fill_uniform(db2, nb, -1.0f, 1.0f, seed + 5);
    for (size_t i = 0; i < nb; i++) exp_b[i] = db2[i] + db[i];
  }
  pb_conv2d_bwd_filter_cpu(dw2, db2, r, x, &p, &s1);
  snprintf(what, sizeof what, "%s dw accumulates", cc->name);
  PB_CHECK_MSG(pb_test_allclose(what, dw2, exp_w, nw, 1e-6, 1e-6) == 0, "%s", what);
  if (b) {
    snprintf(what, sizeof what, "%s dbias accumulates", cc->name);
    PB_CHECK_MSG(pb_test_allclose(what, db2, exp_b, nb, 1e-6, 1e-6) == 0, "%s", what);
  }

  /* Thread counts 2 and 3 (3 > n for every case: empty chunks). */
  for (int nt = 2; nt <= 3; nt++) {
    pb_scratch sn = scratch_new(&p, nt);
    float *yt = malloc(sizeof(float) * ny), *dxt = malloc(sizeof(float) * nx);
    float *dwt = calloc(nw, sizeof(float)), *dbt = b ? calloc(nb, sizeof(float)) : NULL;
    pb_conv2d_fwd_cpu(y, x, w, b, &p, &s1);
    pb_conv2d_fwd_cpu(yt, x, w, b, &p, &sn);
    PB_CHECK_MSG(memcmp(y, yt, sizeof(float) * ny) == 0, "%s: fwd nthreads %d not bitwise",
                 cc->name, nt);
    pb_conv2d_bwd_data_cpu(dxt, r, w, &p, &sn);
    PB_CHECK_MSG(memcmp(dx, dxt, sizeof(float) * nx) == 0,
                 "%s: bwd_data nthreads %d not bitwise", cc->name, nt);
    pb_conv2d_bwd_filter_cpu(dwt, dbt, r, x, &p, &sn);
    snprintf(what, sizeof what, "%s dw nthreads %d", cc->name, nt);
    PB_CHECK_MSG(pb_test_allclose(what, dwt, dw, nw, THR_ATOL, THR_RTOL) == 0, "%s", what);
    if (b) {
      snprintf(what, sizeof what, "%s dbias nthreads %d", cc->name, nt);
      PB_CHECK_MSG(pb_test_allclose(what, dbt, db, nb, THR_ATOL, THR_RTOL) == 0, "%s", what);
    }
    PB_CHECK_MSG(scratch_guard_ok(&sn), "%s: scratch overrun with nthreads %d", cc->name, nt);
    free(sn.buf), free(yt), free(dxt), free(dwt), free(dbt);
  }
  PB_CHECK_MSG(scratch_guard_ok(&s1), "%s: scratch overrun", cc->name);

  free(x), free(w), free(b), free(r), free(y), free(yref), free(dx), free(dw), free(db);
  free(fx), free(fw), free(dw2), free(exp_w), free(db2), free(exp_b), free(s1.buf);
}

static void check_params_finish(void) {
  pb_conv2d_params p = {.n = 1, .c_in = 1, .h_in = 28, .w_in = 28, .c_out = 16, .kh = 3, .kw = 3,
                        .stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1, .dil_h = 1,
                        .dil_w = 1, .groups = 1};
  PB_CHECK(pb_conv2d_params_finish(&p) == 0 && p.h_out == 28 && p.w_out == 28);
  /* floor((7+2-3)/2)+1 = 4, floor((8+2-3)/2)+1 = 4 */
  p.h_in = 7, p.w_in = 8, p.stride_h = 2, p.stride_w = 2;
  PB_CHECK(pb_conv2d_params_finish(&p) == 0 && p.h_out == 4 && p.w_out == 4);
  p.h_in = p.w_in = 5, p.stride_h = p.stride_w = 1, p.pad_h = p.pad_w = 0, p.dil_h = p.dil_w = 2;
  PB_CHECK(pb_conv2d_params_finish(&p) == 0 && p.h_out == 1 && p.w_out == 1); /* span 5 */
  p.h_in = 4; /* dilated kernel spans 5 > 4: empty output */
  PB_CHECK(pb_conv2d_params_finish(&p) == -1);
  p.h_in = 5, p.c_in = 4, p.c_out = 6, p.groups = 4; /* 4 does not divide 6 */
  PB_CHECK(pb_conv2d_params_finish(&p) == -1);
  p.groups = 2;
  PB_CHECK(pb_conv2d_params_finish(&p) == 0);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Throwaway timing of the quickstart's two convs (batch 128, 3x3 pad 1), 2 threads: the best
 * of a few runs of fwd, bwd_data, bwd_filter. Printed only; machines vary. */
static void time_quickstart(void) {
  const int shapes[2][4] = {{1, 16, 28, 28}, {16, 32, 14, 14}};
  for (int sidx = 0; sidx < 2; sidx++) {
    pb_conv2d_params p = {.n = 128, .c_in = shapes[sidx][0], .h_in = shapes[sidx][2],
                          .w_in = shapes[sidx][3], .c_out = shapes[sidx][1], .kh = 3, .kw = 3,
                          .stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1, .dil_h = 1,
                          .dil_w = 1, .groups = 1};
    pb_conv2d_params_finish(&p);
    const size_t nx = x_size(&p), ny = y_size(&p), nw = w_size(&p);
    float *x = malloc(sizeof(float) * nx), *dx = malloc(sizeof(float) * nx);
    float *y = malloc(sizeof(float) * ny), *w = malloc(sizeof(float) * nw);
    float *dw = calloc(nw, sizeof(float)), *b = calloc((size_t)p.c_out, sizeof(float));
    float *db = calloc((size_t)p.c_out, sizeof(float));
    pb_test_fill_uniform(x, nx, -1.0f, 1.0f, 7);
    pb_test_fill_uniform(w, nw, -1.0f, 1.0f, 8);
    pb_scratch s = scratch_new(&p, 2);
    double best[3] = {1e9, 1e9, 1e9};
    for (int rep = 0; rep < 5; rep++) {
      double t0 = now_s();
      pb_conv2d_fwd_cpu(y, x, w, b, &p, &s);
      double t1 = now_s();
      pb_conv2d_bwd_data_cpu(dx, y, w, &p, &s);
      double t2 = now_s();
      pb_conv2d_bwd_filter_cpu(dw, db, y, x, &p, &s);
      double t3 = now_s();
      best[0] = fmin(best[0], t1 - t0), best[1] = fmin(best[1], t2 - t1);
      best[2] = fmin(best[2], t3 - t2);
    }
    printf("timing (not a test) conv n=128 %d->%d %dx%d 3x3 pad 1, 2 threads: fwd %.2f ms, "
           "bwd_data %.2f ms, bwd_filter %.2f ms, total %.2f ms\n",
           p.c_in, p.c_out, p.h_in, p.w_in, 1e3 * best[0], 1e3 * best[1], 1e3 * best[2],
           1e3 * (best[0] + best[1] + best[2]));
    free(x), free(dx), free(y), free(w), free(dw), free(b), free(db), free(s.buf);
  }
}

int main(void) {
  pb_cpu_blas_init();
  check_params_finish();
  for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) check_case(&CASES[i], 100 + 10 * i);
  if (!getenv("PLUMB_TEST_NO_TIMING")) time_quickstart();
  return pb_test_exit("test_grad_conv");
}
