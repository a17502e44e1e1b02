/* test_cuda_nhwc.c: twin tests of the channels-last ([run] layout = nhwc) CUDA ops against their
 * CPU references (kernels/ops.h): conv.cu and batchnorm.cu (cuDNN, NHWC descriptors), pool.cu,
 * elementwise.cu (chscale), layout.cu, crop_add.cu, bn_fused.cu and bn_sync.cu. Needs a GPU: exits
 * 77 (ctest: skipped) without one. One line is printed per check, with its figure.
 *
 * Shapes are awkward on purpose: batch 1, odd sizes, channel counts that are not multiples of 32
 * (3, 5, 17, 33, 36), stride 2, padding, groups 2 and 4 and depthwise, 1x1 convolutions, and
 * sizes above a block. Inputs are random with fixed seeds.
 *
 * BITWISE (a NaN matching any NaN; argmax by memcmp), against the CPU's NHWC reference:
 *  - max pool (y, argmax, dx; ties forced by quantised inputs, a NaN), avg pool (both divisor
 *    rules, both directions): the kernels scan each window, and gather each input's terms, in the
 *    CPU's order with the same explicitly rounded float operations;
 *  - GAP (both directions) and chscale (all three, ds included): per (sample, channel) the CPU's
 *    sequential double sum in pixel order, the same expressions;
 *  - layout (both directions, and the round trip): copies;
 *  - crop add (fwd, in place, bwd) and bn_eval_fused (residual / ReLU variants, in place): the
 *    NCHW kernels on the params' NCHW view, as the CPU;
 *  - synchronised BN: bn_fwd_sync and bn_bwd_sync given the CPU's sums (the CPU's expressions,
 *    explicitly rounded). Their sums (bn_sums, bn_bwd_sums) are a fixed tree on the GPU and a
 *    sequential loop on the CPU: |gpu - cpu| <= 1e-9 S, S = max(1, count, max |ref|) (double
 *    rounding, ~1e-16 relative per term, as test_cuda_bn_sync.c); and BITWISE the GPU's NCHW
 *    sums of the permuted tensor (the view hands every thread the same elements in the same order).
 * Tolerances:
 *  - convolution (all three directions) as test_cuda_conv.c (pb_twin_check_gemm): with M =
 *    max(1, max |ref|), fp32 (tf32 0) atol 1e-4 M, rtol 1e-4: both sides sum the same K products
 *    in other orders (~sqrt(K) 2^-24 relative); cuDNN's transform algorithms add rounding that
 *    scales with the tensor's magnitude, hence atol relative to M. TF32 (tf32 1): atol 5e-3 M,
 *    rtol 5e-3 (operands rounded to 10 mantissa bits; justified in test_cuda_conv.c). Against the
 *    CPU NHWC reference, and against the GPU's own NCHW convolution of the permuted tensors (which
 *    proves the NHWC descriptors and the weight transposes); dw and dbias accumulate onto non-zero
 *    values, twice, and (dw2 - dw0) must be 2 (dw1 - dw0);
 *  - cuDNN batch norm (train forward with save_mean / save_invstd / running statistics, eval,
 *    backward): |gpu - cpu| <= 1e-4 + 1e-4 |cpu| as test_cuda_bn.c (cuDNN sums in float, the CPU
 *    in double: ~sqrt(M) 2^-24 relative for M = n*hw elements per channel). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/ops_cuda.h"
#include "test/cuda_twin.h"
#include "test/testutil.h"

static pb_cuda_env g_env; /* deterministic 0, tf32 0: every op but the convolution */

/* ------------------------------------------------------------------ helpers */

static float *rnd(size_t n, float lo, float hi, uint64_t seed) {
  float *x = malloc((n ? n : 1) * sizeof(float));
  pb_test_fill_uniform(x, n, lo, hi, seed);
  return x;
}

static float *hbuf(size_t n) { return malloc((n ? n : 1) * sizeof(float)); }

static float *dupf(const float *a, size_t n) {
  float *b = hbuf(n);
  memcpy(b, a, n * sizeof(float));
  return b;
}

/* [n, c, hw] -> [n, hw, c] and back, on the host (the CPU layout ops). */
static float *to_nhwc(const float *x, int n, int c, int hw) {
  float *y = hbuf((size_t)n * c * hw);
  pb_nchw_to_nhwc_cpu(y, x, n, c, hw);
  return y;
}

static float *to_nchw(const float *x, int n, int c, int hw) {
  float *y = hbuf((size_t)n * c * hw);
  pb_nhwc_to_nchw_cpu(y, x, n, c, hw);
  return y;
}

/* BITWISE check of device d_got[n] against ref (a NaN matches a NaN): one failed check and one line. */
static void chk_bits(const char *name, const float *d_got, const float *ref, size_t n) {
  float *got = pb_twin_hostf(d_got, n, &g_env);
  size_t first = 0;
  const size_t bad = pb_twin_diff_bits_nan(got, ref, n, &first);
  PB_CHECK_MSG(bad == 0, "%s: %zu of %zu elements not bitwise equal, first [%zu] got %.9g ref %.9g", name, bad, n,
               first, n ? got[first] : 0.0f, n ? ref[first] : 0.0f);
  double e = 0.0;
  for (size_t i = 0; i < n; i++)
    if (!(isnan(got[i]) && isnan(ref[i]))) e = fmax(e, fabs((double)got[i] - (double)ref[i]));
  printf("  %-72s bitwise: %zu of %zu differ; max abs err %.2e\n", name, bad, n, e);
  free(got);
}

static void chk_bits_i32(const char *name, const int32_t *d_got, const int32_t *ref, size_t n) {
  int32_t *got = pb_twin_host(d_got, n * sizeof(int32_t), &g_env);
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) bad += got[i] != ref[i];
  PB_CHECK_MSG(bad == 0, "%s: %zu of %zu indices differ", name, bad, n);
  printf("  %-72s exact: %zu of %zu differ\n", name, bad, n);
  free(got);
}

/* The GEMM tolerance of the convolution twins (pb_twin_check_gemm), host arrays. */
static void chk_gemm(const char *name, const float *got, const float *ref, size_t n, int tf32) {
  const double e = pb_twin_check_gemm(name, got, ref, n, tf32);
  printf("  %-72s %s tol: max abs err %.2e rel L2 %.2e (max |ref| %.2f)\n", name, tf32 ? "tf32" : "fp32", e,
         pb_test_rel_l2(got, ref, n), pb_twin_max_abs(ref, n));
}

static void chk_close(const char *name, const float *d_got, const float *ref, size_t n, double atol, double rtol) {
  float *got = pb_twin_hostf(d_got, n, &g_env);
  const size_t bad = pb_test_allclose(name, got, ref, n, atol, rtol);
  PB_CHECK_MSG(bad == 0, "%s: %zu of %zu out of tolerance", name, bad, n);
  printf("  %-72s |d| <= %.0e + %.0e|ref|: max abs err %.2e rel L2 %.2e\n", name, atol, rtol,
         pb_test_max_abs_diff(got, ref, n), pb_test_rel_l2(got, ref, n));
  free(got);
}

/* ------------------------------------------------------------------ convolution */

typedef struct conv_case {
  const char *name;
  int n, c_in, h, w, c_out, kh, kw, sh, sw, ph, pw, dh, dw, groups, bias;
} conv_case;

static const conv_case conv_cases[] = {
    {"3->5 k3 s1 p1", 2, 3, 8, 8, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {"batch1 17->8 k3 s2 p1 on 9x7", 1, 17, 9, 7, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    {"groups2 dil2 4->6 k3 p2", 3, 4, 10, 10, 6, 3, 3, 1, 1, 2, 2, 2, 2, 2, 1},
    {"groups4 36->20 k3 s2 p1 on 11x11", 2, 36, 11, 11, 20, 3, 3, 2, 2, 1, 1, 1, 1, 4, 1},
    {"1x1 16->33", 2, 16, 7, 7, 33, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1},
    {"1x1 s2 5->17 on 9x9", 3, 5, 9, 9, 17, 1, 1, 2, 2, 0, 0, 1, 1, 1, 1},
    {"stem 3->8 k7 s2 p3 on 13x11 no bias", 2, 3, 13, 11, 8, 7, 7, 2, 2, 3, 3, 1, 1, 1, 0},
    {"depthwise 6 k3 p1", 2, 6, 6, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 6, 1},
    {"64->64 k3 p1 14x14", 4, 64, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {"asymmetric k3x1 s(2,1) p(1,0) dil(1,2)", 2, 5, 11, 8, 7, 3, 1, 2, 1, 1, 0, 1, 2, 1, 1},
};

static void conv_run(const conv_case *cs, const pb_cuda_env *env, const char *env_name, uint64_t seed) {
  pb_conv2d_params p = {.n = cs->n, .c_in = cs->c_in, .h_in = cs->h, .w_in = cs->w, .c_out = cs->c_out,
                        .kh = cs->kh, .kw = cs->kw, .stride_h = cs->sh, .stride_w = cs->sw, .pad_h = cs->ph,
                        .pad_w = cs->pw, .dil_h = cs->dh, .dil_w = cs->dw, .groups = cs->groups, .nhwc = 0};
  pb_conv2d_params pn = p;
  pn.nhwc = 1;
  if (pb_conv2d_params_finish(&p) != 0 || pb_conv2d_params_finish(&pn) != 0) {
    PB_CHECK_MSG(0, "conv case %s: bad params", cs->name);
    return;
  }
  const int K = p.c_in / p.groups * p.kh * p.kw, tf = env->tf32;
  const int hw_in = p.h_in * p.w_in, hw_out = p.h_out * p.w_out;
  const size_t nx = (size_t)p.n * p.c_in * hw_in, ny = (size_t)p.n * p.c_out * hw_out;
  const size_t nw = (size_t)p.c_out * (p.c_in / p.groups) * p.kh * p.kw, nb = (size_t)p.c_out;
  float *x = rnd(nx, -1.0f, 1.0f, seed + 1), *w = rnd(nw, -1.0f, 1.0f, seed + 2);
  for (size_t i = 0; i < nw; i++) w[i] /= sqrtf((float)K);
  float *b = rnd(nb, -0.5f, 0.5f, seed + 3), *dy = rnd(ny, -1.0f, 1.0f, seed + 4);
  float *dw0 = rnd(nw, -2.0f, 2.0f, seed + 5), *db0 = rnd(nb, -2.0f, 2.0f, seed + 6);
  float *xn = to_nhwc(x, p.n, p.c_in, hw_in), *dyn = to_nhwc(dy, p.n, p.c_out, hw_out);
  const float *bias = cs->bias ? b : NULL;

  /* CPU NHWC reference (single thread): y, dx, and dw / dbias after one and two accumulations. */
  float *y_ref = hbuf(ny), *dx_ref = hbuf(nx);
  float *dw_ref = dupf(dw0, nw), *db_ref = dupf(db0, nb), *dw_ref2, *db_ref2;
  const size_t sf = pb_conv2d_scratch_cpu(&pn, 1);
  pb_scratch s = {.buf = malloc((sf ? sf : 1) * sizeof(float)), .floats = sf, .nthreads = 1};
  pb_conv2d_fwd_cpu(y_ref, xn, w, bias, &pn, &s);
  pb_conv2d_bwd_data_cpu(dx_ref, dyn, w, &pn, &s);
  pb_conv2d_bwd_filter_cpu(dw_ref, cs->bias ? db_ref : NULL, dyn, xn, &pn, &s);
  dw_ref2 = dupf(dw_ref, nw), db_ref2 = dupf(db_ref, nb);
  pb_conv2d_bwd_filter_cpu(dw_ref2, cs->bias ? db_ref2 : NULL, dyn, xn, &pn, &s);

  /* GPU, NHWC. */
  float *d_xn = pb_twin_fromf(xn, nx, env), *d_dyn = pb_twin_fromf(dyn, ny, env), *d_w = pb_twin_fromf(w, nw, env);
  float *d_b = pb_twin_fromf(b, nb, env), *d_dw = pb_twin_fromf(dw0, nw, env), *d_db = pb_twin_fromf(db0, nb, env);
  float *d_y = pb_twin_fromf(dyn, ny, env), *d_dx = pb_twin_fromf(xn, nx, env); /* garbage: overwritten */
  char name[192];
#define CONV_NAME(what) (snprintf(name, sizeof name, "conv %s [%s] %s", cs->name, env_name, what), name)

  pb_conv2d_fwd_cuda(d_y, d_xn, d_w, cs->bias ? d_b : NULL, &pn, env); /* first: measures, then computes */
  float *y_got = pb_twin_hostf(d_y, ny, env);
  chk_gemm(CONV_NAME("NHWC y vs cpu"), y_got, y_ref, ny, tf);
  pb_conv2d_bwd_data_cuda(d_dx, d_dyn, d_w, &pn, env);
  float *dx_got = pb_twin_hostf(d_dx, nx, env);
  chk_gemm(CONV_NAME("NHWC dx vs cpu"), dx_got, dx_ref, nx, tf);
  pb_conv2d_bwd_filter_cuda(d_dw, cs->bias ? d_db : NULL, d_dyn, d_xn, &pn, env);
  float *dw1 = pb_twin_hostf(d_dw, nw, env), *db1 = pb_twin_hostf(d_db, nb, env);
  chk_gemm(CONV_NAME("NHWC dw (+= once) vs cpu"), dw1, dw_ref, nw, tf);
  chk_gemm(CONV_NAME("NHWC dbias (+= once) vs cpu"), db1, db_ref, nb, tf);
  pb_conv2d_bwd_filter_cuda(d_dw, cs->bias ? d_db : NULL, d_dyn, d_xn, &pn, env); /* cached algorithm */
  float *dw2 = pb_twin_hostf(d_dw, nw, env), *db2 = pb_twin_hostf(d_db, nb, env);
  chk_gemm(CONV_NAME("NHWC dw (+= twice) vs cpu"), dw2, dw_ref2, nw, tf);
  chk_gemm(CONV_NAME("NHWC dbias (+= twice) vs cpu"), db2, db_ref2, nb, tf);
  /* the second accumulation added the same gradient again: dw2 - dw0 == 2 (dw1 - dw0) */
  float *g2 = hbuf(nw), *g1x2 = hbuf(nw);
  for (size_t i = 0; i < nw; i++) g2[i] = dw2[i] - dw0[i], g1x2[i] = 2.0f * (dw1[i] - dw0[i]);
  chk_gemm(CONV_NAME("NHWC dw2 - dw0 vs 2 (dw1 - dw0)"), g2, g1x2, nw, tf);
  /* cached forward again: the same algorithm, deterministic envs give the same bits */
  pb_conv2d_fwd_cuda(d_y, d_xn, d_w, cs->bias ? d_b : NULL, &pn, env);
  float *y_got2 = pb_twin_hostf(d_y, ny, env);
  if (env->deterministic)
    PB_CHECK_MSG(memcmp(y_got, y_got2, ny * sizeof(float)) == 0, "%s: y of the cached algorithm not bitwise the first",
                 CONV_NAME(""));
  else
    chk_gemm(CONV_NAME("NHWC y (cached) vs cpu"), y_got2, y_ref, ny, tf);

  /* GPU, NCHW on the NCHW tensors, the outputs permuted to NHWC: the same convolution. */
  float *d_x = pb_twin_fromf(x, nx, env), *d_dy = pb_twin_fromf(dy, ny, env), *d_dwc = pb_twin_fromf(dw0, nw, env);
  float *d_yc = pb_twin_fromf(dy, ny, env), *d_dxc = pb_twin_fromf(x, nx, env);
  pb_conv2d_fwd_cuda(d_yc, d_x, d_w, cs->bias ? d_b : NULL, &p, env);
  pb_conv2d_bwd_data_cuda(d_dxc, d_dy, d_w, &p, env);
  pb_conv2d_bwd_filter_cuda(d_dwc, NULL, d_dy, d_x, &p, env);
  float *yc = pb_twin_hostf(d_yc, ny, env), *dxc = pb_twin_hostf(d_dxc, nx, env), *dwc = pb_twin_hostf(d_dwc, nw, env);
  float *ycn = to_nhwc(yc, p.n, p.c_out, hw_out), *dxcn = to_nhwc(dxc, p.n, p.c_in, hw_in);
  chk_gemm(CONV_NAME("NHWC y vs gpu NCHW permuted"), y_got, ycn, ny, tf);
  chk_gemm(CONV_NAME("NHWC dx vs gpu NCHW permuted"), dx_got, dxcn, nx, tf);
  chk_gemm(CONV_NAME("NHWC dw (+= once) vs gpu NCHW"), dw1, dwc, nw, tf);
#undef CONV_NAME

  pb_cuda_free(d_xn), pb_cuda_free(d_dyn), pb_cuda_free(d_w), pb_cuda_free(d_b), pb_cuda_free(d_dw);
  pb_cuda_free(d_db), pb_cuda_free(d_y), pb_cuda_free(d_dx), pb_cuda_free(d_x), pb_cuda_free(d_dy);
  pb_cuda_free(d_dwc), pb_cuda_free(d_yc), pb_cuda_free(d_dxc);
  free(s.buf);
  free(x), free(w), free(b), free(dy), free(dw0), free(db0), free(xn), free(dyn), free(y_ref), free(dx_ref);
  free(dw_ref), free(db_ref), free(dw_ref2), free(db_ref2), free(y_got), free(dx_got), free(dw1), free(db1);
  free(dw2), free(db2), free(g2), free(g1x2), free(y_got2), free(yc), free(dxc), free(dwc), free(ycn), free(dxcn);
}

static void test_conv(void) {
  const struct {
    const char *name;
    int det, tf32;
  } envs[] = {{"det0 fp32", 0, 0}, {"det1 fp32", 1, 0}, {"det0 tf32", 0, 1}};
  for (size_t e = 0; e < sizeof envs / sizeof envs[0]; e++) {
    pb_cuda_env env;
    pb_twin_env(&env, (size_t)64 << 20, envs[e].det, envs[e].tf32);
    for (size_t c = 0; c < sizeof conv_cases / sizeof conv_cases[0]; c++)
      conv_run(&conv_cases[c], &env, envs[e].name, 1000 * c + 11);
    pb_cuda_env_free(&env); /* frees the NHWC entries' filter buffers */
  }
}

/* ------------------------------------------------------------------ batch norm (cuDNN) */

#define BN_ATOL 1e-4
#define BN_RTOL 1e-4

static void bn_cudnn_case(int n, int c, int hw, uint64_t seed) {
  const pb_bn_params p = {n, c, hw, 1e-5f, 0.1f, 1};
  const size_t nx = (size_t)n * c * hw, nc = (size_t)c;
  float *x = rnd(nx, -1.0f, 3.0f, seed + 1), *dy = rnd(nx, -1.0f, 1.0f, seed + 2);
  float *gamma = rnd(nc, 0.5f, 1.5f, seed + 3), *beta = rnd(nc, -0.5f, 0.5f, seed + 4);
  float *rm0 = rnd(nc, -0.2f, 0.2f, seed + 5), *rv0 = rnd(nc, 0.5f, 2.0f, seed + 6);
  float *dg0 = rnd(nc, -1.0f, 1.0f, seed + 7), *db0 = rnd(nc, -1.0f, 1.0f, seed + 8);
  float *y = hbuf(nx), *ye = hbuf(nx), *dx = hbuf(nx), *sm = hbuf(nc), *si = hbuf(nc);
  float *rm = dupf(rm0, nc), *rv = dupf(rv0, nc), *dg = dupf(dg0, nc), *db = dupf(db0, nc);
  pb_bn_fwd_train_cpu(y, sm, si, rm, rv, x, gamma, beta, &p, 1);
  pb_bn_fwd_eval_cpu(ye, x, gamma, beta, rm, rv, &p, 1);
  pb_bn_bwd_cpu(dx, dg, db, dy, x, gamma, sm, si, &p, 1);

  float *d_x = pb_twin_fromf(x, nx, &g_env), *d_dy = pb_twin_fromf(dy, nx, &g_env);
  float *d_y = pb_twin_fromf(dy, nx, &g_env), *d_ye = pb_twin_fromf(dy, nx, &g_env); /* garbage */
  float *d_dx = pb_twin_fromf(x, nx, &g_env);
  float *d_g = pb_twin_fromf(gamma, nc, &g_env), *d_b = pb_twin_fromf(beta, nc, &g_env);
  float *d_rm = pb_twin_fromf(rm0, nc, &g_env), *d_rv = pb_twin_fromf(rv0, nc, &g_env);
  float *d_sm = pb_twin_fromf(rm0, nc, &g_env), *d_si = pb_twin_fromf(rv0, nc, &g_env);
  float *d_dg = pb_twin_fromf(dg0, nc, &g_env), *d_db = pb_twin_fromf(db0, nc, &g_env);
  char name[160];
#define BN_NAME(what) (snprintf(name, sizeof name, "cudnn bn NHWC %dx%dx%d %s", n, hw, c, what), name)
  pb_bn_fwd_train_cuda(d_y, d_sm, d_si, d_rm, d_rv, d_x, d_g, d_b, &p, &g_env);
  chk_close(BN_NAME("y (train)"), d_y, y, nx, BN_ATOL, BN_RTOL);
  chk_close(BN_NAME("save_mean"), d_sm, sm, nc, BN_ATOL, BN_RTOL);
  chk_close(BN_NAME("save_invstd"), d_si, si, nc, BN_ATOL, BN_RTOL);
  chk_close(BN_NAME("running_mean"), d_rm, rm, nc, BN_ATOL, BN_RTOL);
  chk_close(BN_NAME("running_var (unbiased)"), d_rv, rv, nc, BN_ATOL, BN_RTOL);
  pb_bn_fwd_eval_cuda(d_ye, d_x, d_g, d_b, d_rm, d_rv, &p, &g_env);
  chk_close(BN_NAME("y (eval)"), d_ye, ye, nx, BN_ATOL, BN_RTOL);
  pb_bn_bwd_cuda(d_dx, d_dg, d_db, d_dy, d_x, d_g, d_sm, d_si, &p, &g_env);
  chk_close(BN_NAME("dx"), d_dx, dx, nx, BN_ATOL, BN_RTOL);
  chk_close(BN_NAME("dgamma (+=)"), d_dg, dg, nc, BN_ATOL, BN_RTOL);
  chk_close(BN_NAME("dbeta (+=)"), d_db, db, nc, BN_ATOL, BN_RTOL);
#undef BN_NAME
  pb_cuda_free(d_x), pb_cuda_free(d_dy), pb_cuda_free(d_y), pb_cuda_free(d_ye), pb_cuda_free(d_dx);
  pb_cuda_free(d_g), pb_cuda_free(d_b), pb_cuda_free(d_rm), pb_cuda_free(d_rv), pb_cuda_free(d_sm);
  pb_cuda_free(d_si), pb_cuda_free(d_dg), pb_cuda_free(d_db);
  free(x), free(dy), free(gamma), free(beta), free(rm0), free(rv0), free(dg0), free(db0), free(y), free(ye);
  free(dx), free(sm), free(si), free(rm), free(rv), free(dg), free(db);
}

/* ------------------------------------------------------------------ bn_eval_fused */

static void bn_fused_case(int n, int c, int hw, uint64_t seed) {
  const pb_bn_params p = {n, c, hw, 1e-5f, 0.1f, 1};
  const size_t cnt = (size_t)n * c * hw;
  float *x = rnd(cnt, -3, 3, seed), *r = rnd(cnt, -2, 2, seed + 1), *ref = hbuf(cnt);
  float *g = rnd((size_t)c, -1.5f, 1.5f, seed + 2), *b = rnd((size_t)c, -1, 1, seed + 3);
  float *m = rnd((size_t)c, -0.5f, 0.5f, seed + 4), *v = rnd((size_t)c, 0.01f, 4, seed + 5);
  v[0] = 1e-9f;
  const float specials[] = {-0.0f, NAN, 1e30f, -1e30f};
  for (size_t s = 0; s < 4 && 5 * s + 3 < cnt; s++) x[5 * s + 3] = specials[s];
  float *d_x = pb_twin_fromf(x, cnt, &g_env), *d_r = pb_twin_fromf(r, cnt, &g_env);
  float *d_y = pb_twin_fromf(r, cnt, &g_env);
  float *d_g = pb_twin_fromf(g, (size_t)c, &g_env), *d_b = pb_twin_fromf(b, (size_t)c, &g_env);
  float *d_m = pb_twin_fromf(m, (size_t)c, &g_env), *d_v = pb_twin_fromf(v, (size_t)c, &g_env);
  char name[160];
  for (int with_r = 0; with_r < 2; with_r++)
    for (int relu = 0; relu < 2; relu++) {
      pb_bn_eval_fused_cpu(ref, x, with_r ? r : NULL, g, b, m, v, relu, &p, 2);
      pb_bn_eval_fused_cuda(d_y, d_x, with_r ? d_r : NULL, d_g, d_b, d_m, d_v, relu, &p, &g_env);
      snprintf(name, sizeof name, "bn_eval_fused NHWC %dx%dx%d residual %d relu %d", n, hw, c, with_r, relu);
      chk_bits(name, d_y, ref, cnt);
      float *d_io = pb_twin_fromf(x, cnt, &g_env);
      pb_bn_eval_fused_cuda(d_io, d_io, with_r ? d_r : NULL, d_g, d_b, d_m, d_v, relu, &p, &g_env);
      snprintf(name, sizeof name, "bn_eval_fused NHWC %dx%dx%d residual %d relu %d in place over x", n, hw, c, with_r,
               relu);
      chk_bits(name, d_io, ref, cnt);
      pb_cuda_free(d_io);
      if (with_r) {
        d_io = pb_twin_fromf(r, cnt, &g_env);
        pb_bn_eval_fused_cuda(d_io, d_x, d_io, d_g, d_b, d_m, d_v, relu, &p, &g_env);
        snprintf(name, sizeof name, "bn_eval_fused NHWC %dx%dx%d relu %d in place over r", n, hw, c, relu);
        chk_bits(name, d_io, ref, cnt);
        pb_cuda_free(d_io);
      }
    }
  pb_cuda_free(d_x), pb_cuda_free(d_r), pb_cuda_free(d_y), pb_cuda_free(d_g), pb_cuda_free(d_b);
  pb_cuda_free(d_m), pb_cuda_free(d_v);
  free(x), free(r), free(ref), free(g), free(b), free(m), free(v);
}

/* ------------------------------------------------------------------ synchronised batch norm */

#define SUM_TOL 1e-9

static void chk_sums(const char *name, const double *d_got, const double *ref, size_t n, double count) {
  double *got = pb_twin_host(d_got, n * sizeof(double), &g_env);
  double s = fmax(1.0, count), e = 0.0;
  for (size_t i = 0; i < n; i++) s = fmax(s, fabs(ref[i]));
  for (size_t i = 0; i < n; i++) e = fmax(e, fabs(got[i] - ref[i]));
  PB_CHECK_MSG(e <= SUM_TOL * s, "%s: max |gpu - cpu| %.3e > %.1e * %.3e", name, e, SUM_TOL, s);
  printf("  %-72s |d| <= %.0e S: max abs err / S %.2e\n", name, SUM_TOL, e / s);
  free(got);
}

static void chk_sums_bits(const char *name, const double *d_a, const double *d_b, size_t n) {
  double *a = pb_twin_host(d_a, n * sizeof(double), &g_env), *b = pb_twin_host(d_b, n * sizeof(double), &g_env);
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) bad += memcmp(&a[i], &b[i], sizeof(double)) != 0;
  PB_CHECK_MSG(bad == 0, "%s: %zu of %zu sums differ in bits", name, bad, n);
  printf("  %-72s bitwise: %zu of %zu differ\n", name, bad, n);
  free(a), free(b);
}

/* One simulated rank holding the first `part` of n samples (x [n, hw, c]); the GLOBAL sums are the
 * CPU's over all n. */
static void bn_sync_case(int n, int part, int c, int hw, uint64_t seed) {
  const pb_bn_params pg = {n, c, hw, 1e-5f, 0.1f, 1};
  pb_bn_params p = pg, pc = pg; /* this rank's part, NHWC; and the same as NCHW */
  p.n = part, pc.n = part, pc.nhwc = 0;
  const size_t ng = (size_t)n * c * hw, nx = (size_t)part * c * hw, nc = (size_t)c, ns = 2 * nc + 1;
  float *x = rnd(ng, -1.0f, 3.0f, seed + 1), *dy = rnd(nx, -1.0f, 1.0f, seed + 2);
  float *gamma = rnd(nc, 0.5f, 1.5f, seed + 3), *beta = rnd(nc, -0.5f, 0.5f, seed + 4);
  float *rm0 = rnd(nc, -0.2f, 0.2f, seed + 5), *rv0 = rnd(nc, 0.5f, 2.0f, seed + 6);
  float *dg0 = rnd(nc, -1.0f, 1.0f, seed + 7), *db0 = rnd(nc, -1.0f, 1.0f, seed + 8);
  float *y = hbuf(nx), *dx = hbuf(nx), *sm = hbuf(nc), *si = hbuf(nc);
  float *rm = dupf(rm0, nc), *rv = dupf(rv0, nc), *dg = dupf(dg0, nc), *db = dupf(db0, nc);
  double *loc = malloc(ns * sizeof(double)), *glob = malloc(ns * sizeof(double));
  double *bsum = malloc(ns * sizeof(double)), *bglob = malloc(ns * sizeof(double));
  pb_bn_sums_cpu(loc, x, &p, 1);
  pb_bn_sums_cpu(glob, x, &pg, 1);
  pb_bn_fwd_sync_cpu(y, sm, si, rm, rv, x, gamma, beta, glob, &p, 1);
  pb_bn_bwd_sums_cpu(bsum, dy, x, sm, si, &p, 1);
  bsum[2 * nc] = 0.0; /* the backward sums have no count slot: defined bytes for the copies */
  /* the backward's global sums: this rank's, plus a made-up rest of the batch */
  for (size_t i = 0; i < ns; i++) bglob[i] = bsum[i] + (part < n && i < 2 * nc ? 0.25 * (double)(i % 7) - 0.5 : 0.0);
  pb_bn_bwd_sync_cpu(dx, dg, db, dy, x, gamma, sm, si, bsum, bglob, glob, &p, 1);

  float *d_x = pb_twin_fromf(x, nx, &g_env), *d_dy = pb_twin_fromf(dy, nx, &g_env);
  float *d_y = pb_twin_fromf(dy, nx, &g_env), *d_dx = pb_twin_fromf(x, nx, &g_env); /* garbage */
  float *d_g = pb_twin_fromf(gamma, nc, &g_env), *d_b = pb_twin_fromf(beta, nc, &g_env);
  float *d_rm = pb_twin_fromf(rm0, nc, &g_env), *d_rv = pb_twin_fromf(rv0, nc, &g_env);
  float *d_sm = pb_twin_fromf(rm0, nc, &g_env), *d_si = pb_twin_fromf(rv0, nc, &g_env);
  float *d_csm = pb_twin_fromf(sm, nc, &g_env), *d_csi = pb_twin_fromf(si, nc, &g_env);
  float *d_dg = pb_twin_fromf(dg0, nc, &g_env), *d_db = pb_twin_fromf(db0, nc, &g_env);
  double *d_glob = pb_twin_from(glob, ns * sizeof(double), &g_env);
  double *d_bsum = pb_twin_from(bsum, ns * sizeof(double), &g_env);
  double *d_bglob = pb_twin_from(bglob, ns * sizeof(double), &g_env);
  double *d_s = pb_twin_alloc(ns * sizeof(double)), *d_s2 = pb_twin_alloc(ns * sizeof(double));
  double *d_sc = pb_twin_alloc(ns * sizeof(double)), *d_s2c = pb_twin_alloc(ns * sizeof(double));
  /* the rank's part permuted to NCHW, for the GPU's NCHW sums */
  float *xc = to_nchw(x, part, c, hw), *dyc = to_nchw(dy, part, c, hw);
  float *d_xc = pb_twin_fromf(xc, nx, &g_env), *d_dyc = pb_twin_fromf(dyc, nx, &g_env);
  const double cnt = (double)part * (double)hw;
  char name[160];
#define BNS_NAME(what) (snprintf(name, sizeof name, "sync bn NHWC %dx%dx%d part %d %s", n, hw, c, part, what), name)

  pb_bn_sums_cuda(d_s, d_x, &p, &g_env);
  chk_sums(BNS_NAME("bn_sums vs cpu"), d_s, loc, ns, cnt);
  pb_bn_sums_cuda(d_sc, d_xc, &pc, &g_env);
  chk_sums_bits(BNS_NAME("bn_sums vs gpu NCHW permuted"), d_s, d_sc, ns);
  pb_bn_fwd_sync_cuda(d_y, d_sm, d_si, d_rm, d_rv, d_x, d_g, d_b, d_glob, &p, &g_env);
  chk_bits(BNS_NAME("bn_fwd_sync y"), d_y, y, nx);
  chk_bits(BNS_NAME("bn_fwd_sync save_mean"), d_sm, sm, nc);
  chk_bits(BNS_NAME("bn_fwd_sync save_invstd"), d_si, si, nc);
  chk_bits(BNS_NAME("bn_fwd_sync running_mean"), d_rm, rm, nc);
  chk_bits(BNS_NAME("bn_fwd_sync running_var"), d_rv, rv, nc);
  pb_bn_bwd_sums_cuda(d_s2, d_dy, d_x, d_csm, d_csi, &p, &g_env);
  chk_sums(BNS_NAME("bn_bwd_sums vs cpu"), d_s2, bsum, 2 * nc, cnt);
  pb_bn_bwd_sums_cuda(d_s2c, d_dyc, d_xc, d_csm, d_csi, &pc, &g_env);
  chk_sums_bits(BNS_NAME("bn_bwd_sums vs gpu NCHW permuted"), d_s2, d_s2c, 2 * nc);
  pb_bn_bwd_sync_cuda(d_dx, d_dg, d_db, d_dy, d_x, d_g, d_csm, d_csi, d_bsum, d_bglob, d_glob, &p, &g_env);
  chk_bits(BNS_NAME("bn_bwd_sync dx"), d_dx, dx, nx);
  chk_bits(BNS_NAME("bn_bwd_sync dgamma (+=)"), d_dg, dg, nc);
  chk_bits(BNS_NAME("bn_bwd_sync dbeta (+=)"), d_db, db, nc);
#undef BNS_NAME

  pb_cuda_free(d_x), pb_cuda_free(d_dy), pb_cuda_free(d_y), pb_cuda_free(d_dx), pb_cuda_free(d_g), pb_cuda_free(d_b);
  pb_cuda_free(d_rm), pb_cuda_free(d_rv), pb_cuda_free(d_sm), pb_cuda_free(d_si), pb_cuda_free(d_csm);
  pb_cuda_free(d_csi), pb_cuda_free(d_dg), pb_cuda_free(d_db), pb_cuda_free(d_glob), pb_cuda_free(d_bsum);
  pb_cuda_free(d_bglob), pb_cuda_free(d_s), pb_cuda_free(d_s2), pb_cuda_free(d_sc), pb_cuda_free(d_s2c);
  pb_cuda_free(d_xc), pb_cuda_free(d_dyc);
  free(x), free(dy), free(gamma), free(beta), free(rm0), free(rv0), free(dg0), free(db0), free(y), free(dx);
  free(sm), free(si), free(rm), free(rv), free(dg), free(db), free(loc), free(glob), free(bsum), free(bglob);
  free(xc), free(dyc);
}

/* ------------------------------------------------------------------ pooling */

typedef struct pool_case {
  const char *name;
  int n, c, h, w, kh, kw, sh, sw, ph, pw;
} pool_case;

static const pool_case pool_cases[] = {
    {"resnet 3x3 s2 p1 on 7x7", 2, 3, 7, 7, 3, 3, 2, 2, 1, 1},
    {"2x2 s2 batch1", 1, 5, 8, 8, 2, 2, 2, 2, 0, 0},
    {"3x3 s1 p1 overlapping 9x6", 2, 33, 9, 6, 3, 3, 1, 1, 1, 1},
    {"3x3 s3 p1 on 5x5", 1, 3, 5, 5, 3, 3, 3, 3, 1, 1},
    {"5x3 s(2,1) p(2,1) on 11x10", 2, 17, 11, 10, 5, 3, 2, 1, 2, 1},
    {"3x3 s2 p1 on 56x56", 4, 40, 56, 56, 3, 3, 2, 2, 1, 1},
};

static void pool_run(const pool_case *pc, int quantise, int with_nan, uint64_t seed) {
  pb_pool_params p = {.n = pc->n, .c = pc->c, .h_in = pc->h, .w_in = pc->w, .kh = pc->kh, .kw = pc->kw,
                      .stride_h = pc->sh, .stride_w = pc->sw, .pad_h = pc->ph, .pad_w = pc->pw,
                      .count_include_pad = 1, .nhwc = 1};
  if (pb_pool_params_finish(&p) != 0) {
    PB_CHECK_MSG(0, "pool case %s: bad params", pc->name);
    return;
  }
  const size_t nx = (size_t)p.n * p.c * p.h_in * p.w_in, ny = (size_t)p.n * p.c * p.h_out * p.w_out;
  float *x = rnd(nx, -1.0f, 1.0f, seed + 1), *dy = rnd(ny, -1.0f, 1.0f, seed + 2);
  float *y = hbuf(ny), *dx = hbuf(nx);
  int32_t *am = malloc(ny * sizeof(int32_t));
  if (quantise) /* few distinct values: ties in most windows */
    for (size_t i = 0; i < nx; i++) x[i] = roundf(x[i] * 2.0f) / 2.0f;
  if (with_nan) x[nx / 3] = NAN, x[nx / 3 + 1] = NAN, x[nx / 3 + (size_t)p.c] = NAN;
  float *d_x = pb_twin_fromf(x, nx, &g_env), *d_dy = pb_twin_fromf(dy, ny, &g_env);
  float *d_y = pb_twin_fromf(dy, ny, &g_env), *d_dx = pb_twin_fromf(x, nx, &g_env); /* garbage: overwritten */
  int32_t *d_am = pb_twin_alloc(ny * sizeof(int32_t));
  char name[160];
#define POOL_NAME(what)                                                                                               \
  (snprintf(name, sizeof name, "pool NHWC %s c %d q%d nan%d %s", pc->name, pc->c, quantise, with_nan, what), name)

  pb_maxpool_fwd_cpu(y, am, x, &p);
  pb_maxpool_bwd_cpu(dx, dy, am, &p);
  pb_maxpool_fwd_cuda(d_y, d_am, d_x, &p, &g_env);
  chk_bits_i32(POOL_NAME("maxpool argmax"), d_am, am, ny);
  chk_bits(POOL_NAME("maxpool y"), d_y, y, ny);
  pb_maxpool_bwd_cuda(d_dx, d_dy, d_am, &p, &g_env);
  chk_bits(POOL_NAME("maxpool dx"), d_dx, dx, nx);
  pb_maxpool_fwd_cuda(d_y, NULL, d_x, &p, &g_env); /* evaluation: no argmax */
  chk_bits(POOL_NAME("maxpool y (no argmax)"), d_y, y, ny);
  if (!with_nan)
    for (int cip = 0; cip <= 1; cip++) {
      p.count_include_pad = cip;
      pb_avgpool_fwd_cpu(y, x, &p);
      pb_avgpool_bwd_cpu(dx, dy, &p);
      pb_avgpool_fwd_cuda(d_y, d_x, &p, &g_env);
      pb_avgpool_bwd_cuda(d_dx, d_dy, &p, &g_env);
      chk_bits(POOL_NAME(cip ? "avgpool y (count_include_pad)" : "avgpool y"), d_y, y, ny);
      chk_bits(POOL_NAME(cip ? "avgpool dx (count_include_pad)" : "avgpool dx"), d_dx, dx, nx);
    }
#undef POOL_NAME
  pb_cuda_free(d_x), pb_cuda_free(d_dy), pb_cuda_free(d_y), pb_cuda_free(d_dx), pb_cuda_free(d_am);
  free(x), free(dy), free(y), free(dx), free(am);
}

static void gap_case(int n, int c, int hw, uint64_t seed) {
  const size_t nx = (size_t)n * c * hw, ny = (size_t)n * c;
  float *x = rnd(nx, -1.0f, 3.0f, seed), *dy = rnd(ny, -1.0f, 1.0f, seed + 1), *y = hbuf(ny), *dx = hbuf(nx);
  pb_gap_nhwc_fwd_cpu(y, x, n, c, hw);
  pb_gap_nhwc_bwd_cpu(dx, dy, n, c, hw);
  float *d_x = pb_twin_fromf(x, nx, &g_env), *d_dy = pb_twin_fromf(dy, ny, &g_env);
  float *d_y = pb_twin_fromf(dy, ny, &g_env), *d_dx = pb_twin_fromf(x, nx, &g_env); /* garbage */
  pb_gap_nhwc_fwd_cuda(d_y, d_x, n, c, hw, &g_env);
  pb_gap_nhwc_bwd_cuda(d_dx, d_dy, n, c, hw, &g_env);
  char name[160];
  snprintf(name, sizeof name, "gap NHWC %dx%dx%d y", n, hw, c);
  chk_bits(name, d_y, y, ny);
  snprintf(name, sizeof name, "gap NHWC %dx%dx%d dx", n, hw, c);
  chk_bits(name, d_dx, dx, nx);
  pb_cuda_free(d_x), pb_cuda_free(d_dy), pb_cuda_free(d_y), pb_cuda_free(d_dx);
  free(x), free(dy), free(y), free(dx);
}

/* ------------------------------------------------------------------ chscale */

static void chscale_case(int n, int c, int hw, uint64_t seed) {
  const size_t nx = (size_t)n * c * hw, ns = (size_t)n * c;
  float *x = rnd(nx, -2.0f, 2.0f, seed), *dy = rnd(nx, -1.0f, 1.0f, seed + 1), *s = rnd(ns, 0.0f, 1.0f, seed + 2);
  float *r = rnd(nx, -1.0f, 1.0f, seed + 3), *y = hbuf(nx), *ya = hbuf(nx), *dx = hbuf(nx), *ds = hbuf(ns);
  pb_chscale_nhwc_fwd_cpu(y, x, s, n, c, hw);
  pb_chscale_add_relu_nhwc_cpu(ya, x, s, r, n, c, hw);
  pb_chscale_nhwc_bwd_cpu(dx, ds, dy, x, s, n, c, hw);
  float *d_x = pb_twin_fromf(x, nx, &g_env), *d_dy = pb_twin_fromf(dy, nx, &g_env), *d_s = pb_twin_fromf(s, ns, &g_env);
  float *d_r = pb_twin_fromf(r, nx, &g_env), *d_y = pb_twin_fromf(dy, nx, &g_env), *d_dx = pb_twin_fromf(x, nx, &g_env);
  float *d_ds = pb_twin_fromf(s, ns, &g_env); /* garbage */
  char name[160];
#define CHS_NAME(what) (snprintf(name, sizeof name, "chscale NHWC %dx%dx%d %s", n, hw, c, what), name)
  pb_chscale_nhwc_fwd_cuda(d_y, d_x, d_s, n, c, hw, &g_env);
  chk_bits(CHS_NAME("fwd y"), d_y, y, nx);
  pb_chscale_add_relu_nhwc_cuda(d_y, d_x, d_s, d_r, n, c, hw, &g_env);
  chk_bits(CHS_NAME("add_relu y"), d_y, ya, nx);
  float *d_io = pb_twin_fromf(x, nx, &g_env);
  pb_chscale_add_relu_nhwc_cuda(d_io, d_io, d_s, d_r, n, c, hw, &g_env);
  chk_bits(CHS_NAME("add_relu in place over x"), d_io, ya, nx);
  pb_cuda_free(d_io);
  d_io = pb_twin_fromf(r, nx, &g_env);
  pb_chscale_add_relu_nhwc_cuda(d_io, d_x, d_s, d_io, n, c, hw, &g_env);
  chk_bits(CHS_NAME("add_relu in place over r"), d_io, ya, nx);
  pb_cuda_free(d_io);
  pb_chscale_nhwc_bwd_cuda(d_dx, d_ds, d_dy, d_x, d_s, n, c, hw, &g_env);
  chk_bits(CHS_NAME("bwd dx"), d_dx, dx, nx);
  chk_bits(CHS_NAME("bwd ds"), d_ds, ds, ns);
  d_io = pb_twin_fromf(dy, nx, &g_env); /* dx aliasing dy */
  pb_chscale_nhwc_bwd_cuda(d_io, d_ds, d_io, d_x, d_s, n, c, hw, &g_env);
  chk_bits(CHS_NAME("bwd dx in place over dy"), d_io, dx, nx);
  chk_bits(CHS_NAME("bwd ds (dx over dy)"), d_ds, ds, ns);
  pb_cuda_free(d_io);
#undef CHS_NAME
  pb_cuda_free(d_x), pb_cuda_free(d_dy), pb_cuda_free(d_s), pb_cuda_free(d_r), pb_cuda_free(d_y);
  pb_cuda_free(d_dx), pb_cuda_free(d_ds);
  free(x), free(dy), free(s), free(r), free(y), free(ya), free(dx), free(ds);
}

/* ------------------------------------------------------------------ crop add */

static void crop_case(int n, int c, int h, int w, int h_in, int w_in, uint64_t seed) {
  const pb_crop_params p = {n, c, h, w, h_in, w_in, 1};
  const size_t no = (size_t)n * c * h * w, ni = (size_t)n * c * h_in * w_in;
  float *a = rnd(no, -3, 3, seed), *b = rnd(ni, -3, 3, seed + 1), *dy = rnd(no, -1, 1, seed + 2);
  float *y = hbuf(no), *db = hbuf(ni);
  const float specials[] = {-0.0f, 1e30f, -1e30f, NAN};
  for (size_t s = 0; s < 4 && 3 * s + 2 < no; s++) a[3 * s + 1] = specials[s], dy[3 * s + 2] = specials[s];
  pb_add_crop_fwd_cpu(y, a, b, &p);
  pb_add_crop_bwd_cpu(db, dy, &p);
  float *d_a = pb_twin_fromf(a, no, &g_env), *d_b = pb_twin_fromf(b, ni, &g_env), *d_y = pb_twin_fromf(dy, no, &g_env);
  float *d_dy = pb_twin_fromf(dy, no, &g_env), *d_db = pb_twin_fromf(b, ni, &g_env); /* garbage: overwritten */
  char name[160];
#define CROP_NAME(what) \
  (snprintf(name, sizeof name, "add_crop NHWC %dx%dx%dx%d from %dx%d %s", n, h, w, c, h_in, w_in, what), name)
  pb_add_crop_fwd_cuda(d_y, d_a, d_b, &p, &g_env);
  chk_bits(CROP_NAME("fwd"), d_y, y, no);
  pb_add_crop_fwd_cuda(d_a, d_a, d_b, &p, &g_env);
  chk_bits(CROP_NAME("fwd in place"), d_a, y, no);
  pb_add_crop_bwd_cuda(d_db, d_dy, &p, &g_env);
  chk_bits(CROP_NAME("bwd"), d_db, db, ni);
#undef CROP_NAME
  pb_cuda_free(d_a), pb_cuda_free(d_b), pb_cuda_free(d_y), pb_cuda_free(d_dy), pb_cuda_free(d_db);
  free(a), free(b), free(dy), free(y), free(db);
}

/* ------------------------------------------------------------------ layout */

static void layout_case(int n, int c, int hw, uint64_t seed) {
  const size_t nx = (size_t)n * c * hw;
  float *x = rnd(nx, -5.0f, 5.0f, seed), *yh = hbuf(nx), *xb = hbuf(nx);
  if (nx > 2) x[1] = NAN, x[2] = -0.0f;
  pb_nchw_to_nhwc_cpu(yh, x, n, c, hw);
  pb_nhwc_to_nchw_cpu(xb, x, n, c, hw); /* x read as [n, hw, c] */
  float *d_x = pb_twin_fromf(x, nx, &g_env), *d_y = pb_twin_alloc((nx ? nx : 1) * sizeof(float));
  float *d_z = pb_twin_alloc((nx ? nx : 1) * sizeof(float));
  char name[160];
  pb_nchw_to_nhwc_cuda(d_y, d_x, n, c, hw, &g_env);
  snprintf(name, sizeof name, "layout %dx%dx%d nchw -> nhwc", n, c, hw);
  chk_bits(name, d_y, yh, nx);
  pb_nhwc_to_nchw_cuda(d_z, d_y, n, c, hw, &g_env);
  snprintf(name, sizeof name, "layout %dx%dx%d round trip", n, c, hw);
  chk_bits(name, d_z, x, nx);
  pb_nhwc_to_nchw_cuda(d_z, d_x, n, c, hw, &g_env);
  snprintf(name, sizeof name, "layout %dx%dx%d nhwc -> nchw", n, c, hw);
  chk_bits(name, d_z, xb, nx);
  pb_cuda_free(d_x), pb_cuda_free(d_y), pb_cuda_free(d_z);
  free(x), free(yh), free(xb);
}

int main(void) {
  pb_twin_require_gpu();
  pb_twin_env(&g_env, (size_t)16 << 20, 0, 0);

  printf("layout:\n");
  layout_case(2, 3, 37 * 41, 1);
  layout_case(1, 64, 1, 2);
  layout_case(3, 33, 65, 3);
  layout_case(2, 100, 1000, 4);
  layout_case(1, 1, 1, 5);
  layout_case(2, 2048, 49, 6);
  pb_nchw_to_nhwc_cuda(NULL, NULL, 0, 3, 16, &g_env); /* empty: no launch */
  pb_nhwc_to_nchw_cuda(NULL, NULL, 4, 0, 16, &g_env);

  printf("pooling:\n");
  for (size_t i = 0; i < sizeof pool_cases / sizeof pool_cases[0]; i++) {
    pool_run(&pool_cases[i], 0, 0, 100 * i + 1);
    pool_run(&pool_cases[i], 1, 0, 100 * i + 2);
    pool_run(&pool_cases[i], 0, 1, 100 * i + 3);
  }
  gap_case(2, 3, 49, 11);
  gap_case(1, 17, 1, 12);
  gap_case(4, 2048, 49, 13);
  gap_case(2, 5, 3136, 14);
  gap_case(1, 33, 100000 / 33, 15);

  printf("chscale:\n");
  chscale_case(2, 3, 49, 21);
  chscale_case(1, 17, 1, 22);
  chscale_case(3, 33, 100, 23);
  chscale_case(4, 64, 3136, 24);
  chscale_case(2, 5, 13, 25); /* hw below the kernel's batch of 8 pixels */

  printf("crop add:\n");
  crop_case(2, 3, 5, 5, 5, 5, 31);
  crop_case(2, 64, 30, 30, 31, 31, 32);
  crop_case(3, 5, 4, 6, 6, 6, 33);
  crop_case(1, 33, 1, 1, 3, 2, 34);

  printf("bn_eval_fused:\n");
  bn_fused_case(5, 3, 1, 41);
  bn_fused_case(2, 33, 49, 42);
  bn_fused_case(1, 2048, 49, 43);
  bn_fused_case(4, 64, 3136, 44);

  printf("sync batch norm:\n");
  bn_sync_case(4, 4, 3, 25, 51);
  bn_sync_case(6, 4, 5, 7, 52);
  bn_sync_case(2, 1, 64, 196, 53);
  bn_sync_case(3, 0, 4, 9, 54);
  bn_sync_case(8, 6, 33, 49, 55);

  printf("cudnn batch norm:\n");
  bn_cudnn_case(4, 3, 25, 61);
  bn_cudnn_case(1, 5, 49, 62);
  bn_cudnn_case(2, 64, 196, 63);
  bn_cudnn_case(16, 33, 49, 64);
  bn_cudnn_case(32, 8, 1, 65);

  printf("convolution:\n");
  test_conv();

  pb_cuda_sync(&g_env);
  pb_cuda_env_free(&g_env);
  return pb_test_exit("test_cuda_nhwc");
}
