/* hsic_golden.h: the PyTorch golden comparison of the HSIC op, shared by test_golden_hsic.c (the
 * CPU op) and test_cuda_hsic.c (the CUDA twin): same fixture, cases and tolerances; the caller
 * supplies the op through a runner. Header-only, static.
 *
 * Fixture: scripts/fixtures/gen_hsic_golden.py -> test/fixtures/hsic_golden.safetensors (its
 * docstring lists the cases): float32 inputs; float64 values and float32 gradients computed
 * from them in float64 by autograd; per (estimator, sigma mode) the float32 sigmas plumb gets
 * and the size of the estimator's terms. Cases: N in {4, 5, 64, 256}, D in {1, 10, 128, 512}
 * as (N, Dx, Dy) = (4,1,10) (4,512,128) (5,10,1) (5,128,512) (64,128,10) offset (64,512,1)
 * independent (256,10,128) (256,512,128); values for all six (estimator, sigma) pairs,
 * gradients for all six where N (Dx + Dy) <= 10000, else for one or two pairs.
 *
 * Tolerances |got - ref| <= atol + rtol |ref|. Both scale with how hard the case is for float
 * arithmetic, through r = median(D) / (2 sigma^2) of each side (1/2 for the median sigma):
 *  - K_ij = exp(-D_ij / (2 sigma^2)) with D_ij from a float GEMM: an error dD gives K a relative
 *    error dD / (2 sigma^2) = (dD / D) (D / (2 sigma^2)): large when sigma is small against the
 *    distances (fixed sigma 1 on unit-variance features: r ~ 100).
 *  - when sigma is large against the distances (r << 1: sqrt(D) on features of norm ~1), K is
 *    nearly constant and dHSIC/dK is a difference of nearly equal O(1) float terms: the
 *    gradient's relative error grows like 1/r.
 *  So, with f = 1 + r_x + r_y + 1/r_x + 1/r_y (>= 5):
 *  - value: atol HG_VAL * terms * (1 + r_x + r_y) + HG_FLOOR, rtol HG_VAL (the value's own
 *    rounding to float). terms: the size of the terms the estimator adds (the fixture's):
 *    near independence HSIC_u is a small difference of them and only their scale gives a
 *    meaningful absolute tolerance. FLOOR: K entries that underflow in float (values ~1e-200 in
 *    float64, 0 in float).
 *  - gradients, per tensor: atol HG_GRAD * f * max|ref| + HG_FLOOR, rtol 1e-3. A wrong term or
 *    factor shows at O(max|ref|); HG_GRAD * f stays <= 4e-3 on these cases.
 *  - the median: pb_sqdist + pb_median_sqdist against np.median of the float64 distances,
 *    rtol HG_MED_RTOL: D from a float GEMM of the uncentred features, ~sqrt(D) 6e-8 |x|^2 / D_ij
 *    relative (|x|^2 / D_ij ~ 1/2 for these features, 1/(2 0.15^2) for the offset case). */
#ifndef PB_TEST_HSIC_GOLDEN_H
#define PB_TEST_HSIC_GOLDEN_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/models/safetensors.h"
#include "kernels/ops.h"
#include "test/testutil.h"

#define HG_VAL 1e-6
#define HG_GRAD 1e-5
#define HG_GRAD_RTOL 1e-3
#define HG_MED_RTOL 1e-5
#define HG_FLOOR 1e-35

/* Runs the op under test: value[0] = HSIC; when dx (dy) is non-NULL, dx = dHSIC/dx (dy likewise)
 * with grad_scale 1, the buffers zeroed by the runner first (the op accumulates). d [n, n]:
 * the squared distances of a [n, dim] (pb_sqdist_*). Host pointers in and out. */
typedef struct hg_runner {
  void (*hsic)(void *ctx, float *value, float *dx, float *dy, const float *x, const float *y,
               const pb_hsic_params *p);
  void (*sqdist)(void *ctx, float *d, const float *a, int n, int dim);
  void *ctx;
} hg_runner;

typedef struct hg_worst {
  double val, grad, med; /* worst |diff| / the tolerance's scale (terms (1 + rx + ry), f max|ref|, ref) */
} hg_worst;

static const pb_st_tensor *hg_find(const pb_st_file *f, const char *key, pb_st_dtype dt) {
  const pb_st_tensor *t = pb_st_find(f, key);
  if (t) PB_ASSERT(t->dtype == dt);
  return t;
}

static const pb_st_tensor *hg_get(const pb_st_file *f, const char *key, pb_st_dtype dt) {
  const pb_st_tensor *t = hg_find(f, key, dt);
  if (!t) PB_FATAL("fixture lacks %s", key);
  return t;
}

static double hg_f64(const pb_st_file *f, const char *key) {
  double v;
  memcpy(&v, hg_get(f, key, PB_ST_F64)->data, sizeof v); /* the blob may not be 8-aligned */
  return v;
}

/* Compares got[m] with the float32 tensor key (atol HG_GRAD * fac * max|ref|); returns the worst
 * |diff| / max|ref|. */
static double hg_cmp_grad(const pb_st_file *f, const char *key, const float *got, size_t m, double fac,
                          const char *who) {
  const pb_st_tensor *t = hg_get(f, key, PB_ST_F32);
  PB_ASSERT(t->nbytes == m * sizeof(float));
  float *ref = malloc(m * sizeof(float));
  memcpy(ref, t->data, m * sizeof(float));
  double mx = 0;
  for (size_t e = 0; e < m; e++) mx = fmax(mx, fabs(ref[e]));
  char what[128];
  snprintf(what, sizeof what, "%s %s", who, key);
  const size_t bad = pb_test_allclose(what, got, ref, m, HG_GRAD * fac * mx + HG_FLOOR, HG_GRAD_RTOL);
  PB_CHECK_MSG(bad == 0, "%s differs from PyTorch", what);
  const double d = pb_test_max_abs_diff(got, ref, m);
  free(ref);
  return mx > 0 ? d / mx : 0.0;
}

/* Every case and combination of the fixture through run; who names the op in messages. */
static void hg_run_all(const pb_st_file *f, const hg_runner *run, const char *who, hg_worst *w) {
  static const char *const est[2] = {"u", "b"}, *const sig[3] = {"fixed", "median", "dim"};
  const char *list = pb_st_meta(f, "cases");
  if (!list) PB_FATAL("fixture lacks the metadata key cases");
  char cases[512];
  snprintf(cases, sizeof cases, "%s", list);
  memset(w, 0, sizeof *w);
  for (char *save = NULL, *c = strtok_r(cases, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
    char key[128];
    snprintf(key, sizeof key, "%s.x", c);
    const pb_st_tensor *tx = hg_get(f, key, PB_ST_F32);
    snprintf(key, sizeof key, "%s.y", c);
    const pb_st_tensor *ty = hg_get(f, key, PB_ST_F32);
    const int n = (int)tx->shape[0], dx = (int)tx->shape[1], dy = (int)ty->shape[1];
    PB_ASSERT(tx->ndim == 2 && ty->ndim == 2 && ty->shape[0] == n);
    /* aligned private copies: the blob gives no alignment guarantee */
    float *x = malloc(tx->nbytes), *y = malloc(ty->nbytes), *gx = malloc(tx->nbytes), *gy = malloc(ty->nbytes);
    memcpy(x, tx->data, tx->nbytes), memcpy(y, ty->data, ty->nbytes);
    printf("%s: %s N=%d Dx=%d Dy=%d\n", who, c, n, dx, dy);

    /* the median of the squared distances, each side */
    float *d = malloc(sizeof(float) * n * n);
    double med[2];
    for (int side = 0; side < 2; side++) {
      run->sqdist(run->ctx, d, side ? y : x, n, side ? dy : dx);
      const double got = pb_median_sqdist(d, (size_t)n * n);
      snprintf(key, sizeof key, "%s.median_%c", c, side ? 'y' : 'x');
      const double ref = hg_f64(f, key), err = fabs(got - ref);
      med[side] = ref;
      w->med = fmax(w->med, err / ref);
      PB_CHECK_MSG(err <= HG_MED_RTOL * ref, "%s %s: %.9g, np.median %.9g", who, key, got, ref);
    }
    free(d);

    for (int e = 0; e < 2; e++)
      for (int s = 0; s < 3; s++) {
        char base[96];
        snprintf(base, sizeof base, "%s.%s_%s", c, est[e], sig[s]);
        snprintf(key, sizeof key, "%s.sigma", base);
        const pb_st_tensor *ts = hg_get(f, key, PB_ST_F32);
        float sg[2];
        memcpy(sg, ts->data, sizeof sg);
        const pb_hsic_params p = {.n = n, .dx = dx, .dy = dy, .sigma_x = sg[0], .sigma_y = sg[1], .unbiased = e == 0};
        snprintf(key, sizeof key, "%s.dx", base);
        const int grads = hg_find(f, key, PB_ST_F32) != NULL;
        float v;
        run->hsic(run->ctx, &v, grads ? gx : NULL, grads ? gy : NULL, x, y, &p);
        snprintf(key, sizeof key, "%s.value", base);
        const double ref = hg_f64(f, key);
        snprintf(key, sizeof key, "%s.terms", base);
        const double terms = hg_f64(f, key), err = fabs((double)v - ref);
        const double rx = med[0] / (2.0 * sg[0] * sg[0]), ry = med[1] / (2.0 * sg[1] * sg[1]);
        const double vs = terms * (1.0 + rx + ry), fac = 1.0 + rx + ry + 1.0 / rx + 1.0 / ry;
        const double tol = HG_VAL * vs + HG_FLOOR + HG_VAL * fabs(ref);
        if (terms > 1e-20) w->val = fmax(w->val, err / vs); /* not the underflow cases */
        PB_CHECK_MSG(err <= tol, "%s %s: HSIC %.9g, PyTorch %.9g, |diff| %.3g > %.3g", who, base, (double)v, ref, err,
                     tol);
        double gerr = 0;
        if (grads) {
          snprintf(key, sizeof key, "%s.dx", base);
          gerr = fmax(gerr, hg_cmp_grad(f, key, gx, (size_t)n * dx, fac, who));
          snprintf(key, sizeof key, "%s.dy", base);
          gerr = fmax(gerr, hg_cmp_grad(f, key, gy, (size_t)n * dy, fac, who));
          w->grad = fmax(w->grad, gerr / fac);
        }
        printf("  %-16s sigma %-7.4g %-7.4g r %-7.3g %-7.3g HSIC %-13.6g |diff|/terms %-8.2g", base, (double)sg[0],
               (double)sg[1], rx, ry, (double)v, terms > 0 ? err / terms : 0.0);
        if (grads) printf(" grads |diff|/max %.2g (f %.3g)", gerr, fac);
        printf("\n");
      }
    free(x), free(y), free(gx), free(gy);
  }
  printf("%s worst: value |diff| / (terms (1 + rx + ry)) %.3g (tol %.0e), gradient |diff| / (f max|ref|) %.3g "
         "(tol %.0e, + %.0e |ref|), median relative %.3g (tol %.0e)\n",
         who, w->val, HG_VAL, w->grad, HG_GRAD, HG_GRAD_RTOL, w->med, HG_MED_RTOL);
}

#endif
