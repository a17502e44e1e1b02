/* test_cuda_bn_train_fused.c: twin test of kernels/cuda/bn_train_fused.cu (fused training batch
 * norm y = act(bn_train(x) + r) and its backward) against the CPU references
 * pb_bn_fwd_train_fused_cpu / pb_bn_bwd_fused_cpu (kernels/cpu/batchnorm.c). Needs a GPU: exits 77
 * (ctest: skipped) without one.
 *
 * Shapes [n, c, hw]: odd channel counts, BatchNorm1d (hw 1), a count of 2, and two with several
 * blocks per channel in the elementwise passes (n*hw > 256); each NCHW and channels last (nhwc),
 * with and without the residual r, ReLU on and off. Channel 1 has mean ~100 (spread 2): the GPU's
 * one-pass double variance against the CPU's two-pass one.
 *  - forward: y (pre-filled with garbage), save_mean, save_invstd, running_mean / running_var
 *    (updated from non-trivial values); again with y aliasing r, y then bitwise the first GPU run's
 *    (same kernel, same inputs: also run-to-run reproducibility);
 *  - backward, on the CPU's inputs (its y, with a few exact 0, -0 and NaN written in to probe the
 *    ReLU's select, dy with a -0, the CPU's saved statistics): dz BITWISE (a select, NaN matching
 *    NaN), dx, dgamma / dbeta (accumulated onto non-zero values); again with dz aliasing dy, dx
 *    then bitwise the first GPU run's;
 *  - the GPU fused forward with r = NULL, relu = 0 against the GPU's cuDNN pb_bn_fwd_train_cuda
 *    (x without the mean-100 channel: cuDNN's statistics are float);
 *  - n*hw == 0 and c == 0 with NULL pointers: nothing launched.
 * Tolerances (one line printed per check: max |diff|, the worst |diff| / limit, elements differing
 * in bits). y, dx, dgamma, dbeta: |gpu - ref| <= 1e-5 (1 + |ref|). The statistics (save_mean,
 * save_invstd, running_mean, running_var): |gpu - ref| <= 1e-7 + 1e-5 |ref|. Against the CPU both
 * are loose: the GPU's statistics are the CPU's to ~1e-15 relative in double (one pass against two),
 * so the floats are equal or one rounding apart, and every elementwise expression is the CPU's,
 * explicitly rounded; given the CPU's statistics the backward is bitwise up to the order of the
 * double sums. Against cuDNN (float statistics over <= 6000 elements of magnitude ~1, ~1e-6
 * relative) the same limits hold with a margin of ~3. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/ops_cuda.h"
#include "test/cuda_twin.h"
#include "test/testutil.h"

#define TOL 1e-5       /* y, dx, dgamma, dbeta: atol = rtol = TOL */
#define STAT_ATOL 1e-7 /* statistics */
#define STAT_RTOL 1e-5

static pb_cuda_env g_env;

typedef struct bnt_shape {
  int n, c, hw;
} bnt_shape;

static const bnt_shape shapes[] = {{4, 19, 35}, {2, 64, 49}, {3, 5, 1}, {1, 3, 2}, {8, 16, 196}, {2, 3, 3000}};

/* Compares the device array d_got[n] with ref[n]: |got - ref| <= atol + rtol |ref| (a NaN fails);
 * prints one line; one failed check when any element is out. */
static void cmp(const char *what, const char *cs, const float *d_got, const float *ref, size_t n, double atol,
                double rtol) {
  float *got = pb_twin_hostf(d_got, n, &g_env);
  double emax = 0.0, worst = 0.0;
  size_t bad = 0, at = 0;
  for (size_t i = 0; i < n; i++) {
    const double d = fabs((double)got[i] - (double)ref[i]), lim = atol + rtol * fabs((double)ref[i]);
    if (!(d <= lim)) bad++;
    if (!(d <= emax)) emax = d;
    if (!(d / lim <= worst)) worst = d / lim, at = i;
  }
  const size_t bits = pb_twin_diff_bits_nan(got, ref, n, NULL);
  printf("    %-34s %-26s max|diff| %.3e  worst/limit %.3f  bits differ %zu/%zu\n", what, cs, emax, worst, bits, n);
  PB_CHECK_MSG(bad == 0, "%s [%s]: %zu of %zu out of tolerance, worst [%zu] got %.9g ref %.9g", what, cs, bad, n, at,
               got[at], ref[at]);
  free(got);
}

static void cmp_val(const char *what, const char *cs, const float *d_got, const float *ref, size_t n) {
  cmp(what, cs, d_got, ref, n, TOL, TOL);
}

static void cmp_stat(const char *what, const char *cs, const float *d_got, const float *ref, size_t n) {
  cmp(what, cs, d_got, ref, n, STAT_ATOL, STAT_RTOL);
}

static void cmp_bits(const char *what, const char *cs, const float *d_got, const float *ref, size_t n) {
  char name[160];
  snprintf(name, sizeof name, "%s [%s]", what, cs);
  const double e = pb_twin_check_bits(name, d_got, ref, n, &g_env);
  printf("    %-34s %-26s bitwise (max|diff| %.3e)\n", what, cs, e);
}

/* Two device arrays bitwise equal (NaN matching NaN). */
static void same_bits(const char *what, const char *cs, const float *d_a, const float *d_b, size_t n) {
  float *a = pb_twin_hostf(d_a, n, &g_env), *b = pb_twin_hostf(d_b, n, &g_env);
  const size_t bad = pb_twin_diff_bits_nan(a, b, n, NULL);
  printf("    %-34s %-26s %zu/%zu differ in bits\n", what, cs, bad, n);
  PB_CHECK_MSG(bad == 0, "%s [%s]: %zu of %zu elements differ", what, cs, bad, n);
  free(a), free(b);
}

static float *dupf(const float *a, size_t n) {
  float *b = malloc((n ? n : 1) * sizeof(float));
  memcpy(b, a, n * sizeof(float));
  return b;
}

/* Offset of element (sample in, channel ch, position j) in the layout of p. */
static size_t at_of(const pb_bn_params *p, int in, int ch, int j) {
  return p->nhwc ? ((size_t)in * p->hw + j) * p->c + ch : ((size_t)in * p->c + ch) * p->hw + j;
}

/* x uniform in [-1, 3); channel 1 (when offset and c > 1) in [99, 101). */
static void fill_x(float *x, const pb_bn_params *p, int offset, uint64_t seed) {
  const size_t nx = (size_t)p->n * p->c * p->hw;
  pb_test_fill_uniform(x, nx, -1.0f, 3.0f, seed);
  if (!offset || p->c < 2) return;
  for (int in = 0; in < p->n; in++)
    for (int j = 0; j < p->hw; j++) {
      float *v = &x[at_of(p, in, 1, j)];
      *v = 100.0f + 0.5f * (*v - 1.0f);
    }
}

static void run_case(const bnt_shape *s, int nhwc, int with_r, int relu, uint64_t seed) {
  const pb_bn_params p = {s->n, s->c, s->hw, 1e-5f, 0.1f, nhwc};
  const size_t nx = (size_t)s->n * s->c * s->hw, nc = (size_t)s->c;
  char cs[64];
  snprintf(cs, sizeof cs, "%dx%dx%d %s r%d relu%d", s->n, s->c, s->hw, nhwc ? "nhwc" : "nchw", with_r, relu);
  float *x = malloc(nx * sizeof(float)), *r = malloc(nx * sizeof(float)), *dy = malloc(nx * sizeof(float));
  float *gamma = malloc(nc * sizeof(float)), *beta = malloc(nc * sizeof(float));
  float *rm0 = malloc(nc * sizeof(float)), *rv0 = malloc(nc * sizeof(float));
  float *dg0 = malloc(nc * sizeof(float)), *db0 = malloc(nc * sizeof(float));
  float *y = malloc(nx * sizeof(float)), *dx = malloc(nx * sizeof(float)), *dz = malloc(nx * sizeof(float));
  float *sm = malloc(nc * sizeof(float)), *si = malloc(nc * sizeof(float));
  fill_x(x, &p, 1, seed + 1);
  pb_test_fill_uniform(r, nx, -2.0f, 2.0f, seed + 2);
  pb_test_fill_uniform(dy, nx, -1.0f, 1.0f, seed + 3);
  pb_test_fill_uniform(gamma, nc, 0.5f, 1.5f, seed + 4);
  pb_test_fill_uniform(beta, nc, -0.5f, 0.5f, seed + 5);
  pb_test_fill_uniform(rm0, nc, -0.2f, 0.2f, seed + 6);
  pb_test_fill_uniform(rv0, nc, 0.5f, 2.0f, seed + 7);
  pb_test_fill_uniform(dg0, nc, -1.0f, 1.0f, seed + 8);
  pb_test_fill_uniform(db0, nc, -1.0f, 1.0f, seed + 9);
  const float *rr = with_r ? r : NULL;

  /* forward: CPU reference, GPU out of place, GPU with y aliasing r */
  float *rm = dupf(rm0, nc), *rv = dupf(rv0, nc);
  pb_bn_fwd_train_fused_cpu(y, sm, si, rm, rv, x, rr, gamma, beta, relu, &p, 1);
  float *d_x = pb_twin_fromf(x, nx, &g_env), *d_r = pb_twin_fromf(r, nx, &g_env);
  float *d_y = pb_twin_fromf(dy, nx, &g_env); /* garbage */
  float *d_g = pb_twin_fromf(gamma, nc, &g_env), *d_b = pb_twin_fromf(beta, nc, &g_env);
  float *d_rm = pb_twin_fromf(rm0, nc, &g_env), *d_rv = pb_twin_fromf(rv0, nc, &g_env);
  float *d_sm = pb_twin_fromf(rv0, nc, &g_env), *d_si = pb_twin_fromf(rm0, nc, &g_env); /* garbage */
  pb_bn_fwd_train_fused_cuda(d_y, d_sm, d_si, d_rm, d_rv, d_x, with_r ? d_r : NULL, d_g, d_b, relu, &p, &g_env);
  cmp_val("fwd y", cs, d_y, y, nx);
  cmp_stat("fwd save_mean", cs, d_sm, sm, nc);
  cmp_stat("fwd save_invstd", cs, d_si, si, nc);
  cmp_stat("fwd running_mean", cs, d_rm, rm, nc);
  cmp_stat("fwd running_var", cs, d_rv, rv, nc);
  if (with_r) {
    float *d_io = pb_twin_fromf(r, nx, &g_env);
    pb_cuda_h2d(d_rm, rm0, nc * sizeof(float), &g_env);
    pb_cuda_h2d(d_rv, rv0, nc * sizeof(float), &g_env);
    pb_bn_fwd_train_fused_cuda(d_io, d_sm, d_si, d_rm, d_rv, d_x, d_io, d_g, d_b, relu, &p, &g_env);
    cmp_val("fwd y (y aliasing r)", cs, d_io, y, nx);
    cmp_stat("fwd running_var (y aliasing r)", cs, d_rv, rv, nc);
    same_bits("fwd y aliasing r == out of place", cs, d_io, d_y, nx);
    pb_cuda_free(d_io);
  }

  /* backward on the CPU's inputs; probes of the select in y (0, -0, NaN) and dy (-0) */
  float *yb = dupf(y, nx);
  if (nx > 13) yb[3] = 0.0f, yb[8] = -0.0f, yb[13] = NAN;
  for (size_t i = 0; i < nx; i++)
    if (!relu || yb[i] > 0.0f) {
      dy[i] = -0.0f; /* passed through: dz must keep the sign bit */
      break;
    }
  float *dg = dupf(dg0, nc), *db = dupf(db0, nc);
  pb_bn_bwd_fused_cpu(dx, dz, dg, db, dy, yb, x, gamma, sm, si, relu, &p, 1);
  float *d_yb = pb_twin_fromf(yb, nx, &g_env), *d_dy = pb_twin_fromf(dy, nx, &g_env);
  float *d_csm = pb_twin_fromf(sm, nc, &g_env), *d_csi = pb_twin_fromf(si, nc, &g_env);
  float *d_dx = pb_twin_fromf(x, nx, &g_env), *d_dz = pb_twin_fromf(r, nx, &g_env); /* garbage */
  float *d_dg = pb_twin_fromf(dg0, nc, &g_env), *d_db = pb_twin_fromf(db0, nc, &g_env);
  pb_bn_bwd_fused_cuda(d_dx, d_dz, d_dg, d_db, d_dy, d_yb, d_x, d_g, d_csm, d_csi, relu, &p, &g_env);
  cmp_bits("bwd dz", cs, d_dz, dz, nx);
  cmp_val("bwd dx", cs, d_dx, dx, nx);
  cmp_val("bwd dgamma (+=)", cs, d_dg, dg, nc);
  cmp_val("bwd dbeta (+=)", cs, d_db, db, nc);
  /* dz aliasing dy */
  float *d_io = pb_twin_fromf(dy, nx, &g_env), *d_dx2 = pb_twin_fromf(r, nx, &g_env);
  pb_cuda_h2d(d_dg, dg0, nc * sizeof(float), &g_env);
  pb_cuda_h2d(d_db, db0, nc * sizeof(float), &g_env);
  pb_bn_bwd_fused_cuda(d_dx2, d_io, d_dg, d_db, d_io, d_yb, d_x, d_g, d_csm, d_csi, relu, &p, &g_env);
  cmp_bits("bwd dz (dz aliasing dy)", cs, d_io, dz, nx);
  cmp_val("bwd dx (dz aliasing dy)", cs, d_dx2, dx, nx);
  cmp_val("bwd dgamma (dz aliasing dy)", cs, d_dg, dg, nc);
  same_bits("bwd dx aliasing == out of place", cs, d_dx2, d_dx, nx);

  pb_cuda_free(d_x), pb_cuda_free(d_r), pb_cuda_free(d_y), pb_cuda_free(d_g), pb_cuda_free(d_b);
  pb_cuda_free(d_rm), pb_cuda_free(d_rv), pb_cuda_free(d_sm), pb_cuda_free(d_si), pb_cuda_free(d_yb);
  pb_cuda_free(d_dy), pb_cuda_free(d_csm), pb_cuda_free(d_csi), pb_cuda_free(d_dx), pb_cuda_free(d_dz);
  pb_cuda_free(d_dg), pb_cuda_free(d_db), pb_cuda_free(d_io), pb_cuda_free(d_dx2);
  free(x), free(r), free(dy), free(gamma), free(beta), free(rm0), free(rv0), free(dg0), free(db0), free(y);
  free(dx), free(dz), free(sm), free(si), free(rm), free(rv), free(yb), free(dg), free(db);
}

/* The fused forward with r = NULL, relu = 0 against cuDNN's training forward, both on the GPU. */
static void vs_cudnn(const bnt_shape *s, int nhwc, uint64_t seed) {
  const pb_bn_params p = {s->n, s->c, s->hw, 1e-5f, 0.1f, nhwc};
  const size_t nx = (size_t)s->n * s->c * s->hw, nc = (size_t)s->c;
  char cs[64];
  snprintf(cs, sizeof cs, "%dx%dx%d %s", s->n, s->c, s->hw, nhwc ? "nhwc" : "nchw");
  float *x = malloc(nx * sizeof(float)), *gamma = malloc(nc * sizeof(float)), *beta = malloc(nc * sizeof(float));
  float *rm0 = malloc(nc * sizeof(float)), *rv0 = malloc(nc * sizeof(float));
  fill_x(x, &p, 0, seed + 1);
  pb_test_fill_uniform(gamma, nc, 0.5f, 1.5f, seed + 2);
  pb_test_fill_uniform(beta, nc, -0.5f, 0.5f, seed + 3);
  pb_test_fill_uniform(rm0, nc, -0.2f, 0.2f, seed + 4);
  pb_test_fill_uniform(rv0, nc, 0.5f, 2.0f, seed + 5);
  float *d_x = pb_twin_fromf(x, nx, &g_env), *d_g = pb_twin_fromf(gamma, nc, &g_env);
  float *d_b = pb_twin_fromf(beta, nc, &g_env);
  float *d_y[2], *d_sm[2], *d_si[2], *d_rm[2], *d_rv[2];
  for (int k = 0; k < 2; k++) {
    d_y[k] = pb_twin_alloc(nx * sizeof(float)), d_sm[k] = pb_twin_alloc(nc * sizeof(float));
    d_si[k] = pb_twin_alloc(nc * sizeof(float));
    d_rm[k] = pb_twin_fromf(rm0, nc, &g_env), d_rv[k] = pb_twin_fromf(rv0, nc, &g_env);
  }
  pb_bn_fwd_train_cuda(d_y[0], d_sm[0], d_si[0], d_rm[0], d_rv[0], d_x, d_g, d_b, &p, &g_env);
  pb_bn_fwd_train_fused_cuda(d_y[1], d_sm[1], d_si[1], d_rm[1], d_rv[1], d_x, NULL, d_g, d_b, 0, &p, &g_env);
  float *ref = pb_twin_hostf(d_y[0], nx, &g_env);
  cmp_val("vs cuDNN y", cs, d_y[1], ref, nx);
  free(ref);
  const char *names[4] = {"vs cuDNN save_mean", "vs cuDNN save_invstd", "vs cuDNN running_mean",
                          "vs cuDNN running_var"};
  float **arrs[4] = {d_sm, d_si, d_rm, d_rv};
  for (int k = 0; k < 4; k++) {
    ref = pb_twin_hostf(arrs[k][0], nc, &g_env);
    cmp_stat(names[k], cs, arrs[k][1], ref, nc);
    free(ref);
  }
  for (int k = 0; k < 2; k++) {
    pb_cuda_free(d_y[k]), pb_cuda_free(d_sm[k]), pb_cuda_free(d_si[k]), pb_cuda_free(d_rm[k]);
    pb_cuda_free(d_rv[k]);
  }
  pb_cuda_free(d_x), pb_cuda_free(d_g), pb_cuda_free(d_b);
  free(x), free(gamma), free(beta), free(rm0), free(rv0);
}

int main(void) {
  pb_twin_require_gpu();
  pb_twin_env(&g_env, (size_t)16 << 20, 1, 0);
  uint64_t seed = 11;
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    for (int nhwc = 0; nhwc < 2; nhwc++) {
      for (int with_r = 0; with_r < 2; with_r++)
        for (int relu = 0; relu < 2; relu++) run_case(&shapes[i], nhwc, with_r, relu, seed += 100);
      vs_cudnn(&shapes[i], nhwc, seed += 100);
    }
  /* nothing to do: no launch, no pointer touched */
  const pb_bn_params empty_n = {0, 3, 16, 1e-5f, 0.1f, 0}, empty_hw = {4, 3, 0, 1e-5f, 0.1f, 1};
  const pb_bn_params empty_c = {4, 0, 16, 1e-5f, 0.1f, 0};
  const pb_bn_params *empties[3] = {&empty_n, &empty_hw, &empty_c};
  for (int k = 0; k < 3; k++) {
    pb_bn_fwd_train_fused_cuda(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1, empties[k], &g_env);
    pb_bn_bwd_fused_cuda(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1, empties[k], &g_env);
  }
  pb_cuda_sync(&g_env);
  printf("  empty batch / no channels: nothing launched\n");
  pb_cuda_env_free(&g_env);
  return pb_test_exit("test_cuda_bn_train_fused");
}
