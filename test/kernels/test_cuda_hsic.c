/* test_cuda_hsic.c: the CUDA HSIC ops (kernels/cuda/hsic.cu) against their CPU twins
 * (kernels/cpu/hsic.c) on random inputs, against the PyTorch goldens (test/kernels/hsic_golden.h,
 * the CPU's cases and tolerances), and the backend's hsic entries on a GPU context. Needs a GPU:
 * exits 77 (ctest: skipped) without one.
 *
 * The environment has TF32 ON on purpose: the HSIC GEMMs must stay full fp32 regardless (one
 * case is rerun with TF32 off and must agree to the twin tolerance; bitwise is reported).
 * Shapes (n, dx, dy): (4,1,10) (5,10,1) (37,19,6) (64,128,10) with an offset, (100,3,300),
 * (256,512,128) and (256,512,512); both estimators; sigma fixed 1, median, sqrt(D).
 * Tolerances |gpu - cpu| <= atol + rtol |cpu|, twice the golden ones (hsic_golden.h, which
 * justifies them), since both sides carry a float GEMM's error (OpenBLAS vs cuBLAS order); with
 * r = median(D) / (2 sigma^2) per side and terms from the float64 reference (hsic_ref.h):
 *  - value: atol 2e-6 terms (1 + rx + ry) + 1e-35, rtol 2e-6;
 *  - gradients per tensor: atol 2e-5 (1 + rx + ry + 1/rx + 1/ry) max|cpu| + 1e-35, rtol 2e-3;
 *  - sqdist: the diagonal exactly 0 and exact symmetry on both; atol 1e-5 max|x_i|^2, rtol 1e-5.
 * Exact on the GPU: run-to-run bitwise (value and gradients); dx, dy accumulate (r + g bitwise);
 * a NULL side leaves the other bitwise unchanged; constant features give dx exactly 0. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/device/backend.h"
#include "engine/device/ctx.h"
#include "kernels/ops.h"
#include "kernels/ops_cuda.h"
#include "test/cuda_twin.h"
#include "test/kernels/hsic_golden.h"
#include "test/kernels/hsic_ref.h"
#include "test/testutil.h"

static pb_cuda_env g_env; /* TF32 on */

static void fill(float *x, float *y, int n, int dx, int dy, float amp, float offset, uint64_t seed) {
  pb_test_fill_uniform(x, (size_t)n * dx, -amp, amp, seed);
  pb_test_fill_uniform(y, (size_t)n * dy, -amp, amp, seed + 1);
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < dy; j++)
      y[(size_t)i * dy + j] = 0.5f * y[(size_t)i * dy + j] + (float)sin(3.0 * x[(size_t)i * dx] / amp + j) * amp;
    for (int j = 0; j < dx; j++) x[(size_t)i * dx + j] += offset;
  }
}

static double median_d(const float *a, int n, int d) {
  float *m = malloc(sizeof(float) * n * n);
  pb_sqdist_cpu(m, a, n, d);
  const double med = pb_median_sqdist(m, (size_t)n * n);
  free(m);
  return med;
}

/* One GPU run into fresh device buffers: value and (zero-started) gradients, on the host. */
static void gpu_run(float *v, float *gx, float *gy, const float *xd, const float *yd, const pb_hsic_params *p,
                    float gs, const pb_cuda_env *env) {
  const size_t mx = (size_t)p->n * p->dx, my = (size_t)p->n * p->dy;
  float *vd = pb_twin_alloc(4), *gxd = pb_twin_alloc(mx * 4), *gyd = pb_twin_alloc(my * 4);
  pb_cuda_memset0(gxd, mx * 4, env), pb_cuda_memset0(gyd, my * 4, env);
  pb_hsic_fwd_cuda(vd, xd, yd, p, env);
  pb_hsic_bwd_cuda(gxd, gyd, gs, xd, yd, p, env);
  pb_cuda_d2h(v, vd, 4, env);
  pb_cuda_d2h(gx, gxd, mx * 4, env);
  pb_cuda_d2h(gy, gyd, my * 4, env);
  pb_cuda_free(vd), pb_cuda_free(gxd), pb_cuda_free(gyd);
}

static void test_twin(int n, int dx, int dy, float amp, float offset, int mode, int unbiased, uint64_t seed) {
  const size_t mx = (size_t)n * dx, my = (size_t)n * dy;
  float *x = malloc(mx * 4), *y = malloc(my * 4);
  fill(x, y, n, dx, dy, amp, offset, seed);
  const double medx = median_d(x, n, dx), medy = median_d(y, n, dy);
  float sx = 1.0f, sy = 1.0f;
  if (mode == 1) sx = (float)sqrt(medx), sy = (float)sqrt(medy);
  if (mode == 2) sx = (float)sqrt((double)dx), sy = (float)sqrt((double)dy);
  const pb_hsic_params p = {.n = n, .dx = dx, .dy = dy, .sigma_x = sx, .sigma_y = sy, .unbiased = unbiased};
  const float gs = 0.7f;
  char what[128];
  snprintf(what, sizeof what, "%s n=%d dx=%d dy=%d sigma %.3g/%.3g", unbiased ? "unbiased" : "biased", n, dx, dy,
           (double)sx, (double)sy);

  /* CPU */
  pb_scratch s = {.floats = pb_hsic_scratch_cpu(&p), .nthreads = 2};
  s.buf = malloc(s.floats * 4);
  float vc, *gxc = calloc(mx, 4), *gyc = calloc(my, 4);
  pb_hsic_fwd_cpu(&vc, x, y, &p, &s);
  pb_hsic_bwd_cpu(gxc, gyc, gs, x, y, &p, &s);
  double *xd64 = malloc(mx * 8), *yd64 = malloc(my * 8), terms;
  for (size_t e = 0; e < mx; e++) xd64[e] = x[e];
  for (size_t e = 0; e < my; e++) yd64[e] = y[e];
  ref_hsic(xd64, yd64, n, dx, dy, sx, sy, unbiased, &terms);
  free(xd64), free(yd64);

  /* GPU */
  float *xd = pb_twin_fromf(x, mx, &g_env), *yd = pb_twin_fromf(y, my, &g_env);
  float vg, *gxg = malloc(mx * 4), *gyg = malloc(my * 4);
  gpu_run(&vg, gxg, gyg, xd, yd, &p, gs, &g_env);
  const double rx = medx / (2.0 * sx * sx), ry = medy / (2.0 * sy * sy);
  const double fac = 1.0 + rx + ry + 1.0 / rx + 1.0 / ry;
  const double vtol = 2e-6 * terms * (1.0 + rx + ry) + 1e-35 + 2e-6 * fabs(vc);
  PB_CHECK_MSG(fabs(vg - vc) <= vtol, "%s: HSIC gpu %.9g cpu %.9g, |diff| %.3g > %.3g", what, (double)vg, (double)vc,
               fabs(vg - vc), vtol);
  double mxg = 0, myg = 0;
  for (size_t e = 0; e < mx; e++) mxg = fmax(mxg, fabs(gxc[e]));
  for (size_t e = 0; e < my; e++) myg = fmax(myg, fabs(gyc[e]));
  char w2[160];
  snprintf(w2, sizeof w2, "%s: dx", what);
  PB_CHECK(pb_test_allclose(w2, gxg, gxc, mx, 2e-5 * fac * mxg + 1e-35, 2e-3) == 0);
  snprintf(w2, sizeof w2, "%s: dy", what);
  PB_CHECK(pb_test_allclose(w2, gyg, gyc, my, 2e-5 * fac * myg + 1e-35, 2e-3) == 0);
  printf("  %-44s HSIC %-12.6g |diff|/terms %-8.2g grads |diff|/max %.2g %.2g\n", what, (double)vg,
         fabs(vg - vc) / terms, mxg > 0 ? pb_test_max_abs_diff(gxg, gxc, mx) / mxg : 0.0,
         myg > 0 ? pb_test_max_abs_diff(gyg, gyc, my) / myg : 0.0);

  /* run to run, bitwise */
  float v2, *gx2 = malloc(mx * 4), *gy2 = malloc(my * 4);
  gpu_run(&v2, gx2, gy2, xd, yd, &p, gs, &g_env);
  PB_CHECK_MSG(!memcmp(&v2, &vg, 4) && !memcmp(gx2, gxg, mx * 4) && !memcmp(gy2, gyg, my * 4),
               "%s: a second GPU run differs", what);

  /* accumulation (r + g with the same float add) and NULL sides */
  float *rx_h = malloc(mx * 4), *ry_h = malloc(my * 4);
  pb_test_fill_uniform(rx_h, mx, -1, 1, seed + 7), pb_test_fill_uniform(ry_h, my, -1, 1, seed + 8);
  float *ax = pb_twin_fromf(rx_h, mx, &g_env), *ay = pb_twin_fromf(ry_h, my, &g_env);
  pb_hsic_bwd_cuda(ax, ay, gs, xd, yd, &p, &g_env);
  float *hx = pb_twin_hostf(ax, mx, &g_env), *hy = pb_twin_hostf(ay, my, &g_env);
  size_t bad = 0;
  for (size_t e = 0; e < mx; e++) bad += hx[e] != rx_h[e] + gxg[e];
  for (size_t e = 0; e < my; e++) bad += hy[e] != ry_h[e] + gyg[e];
  PB_CHECK_MSG(bad == 0, "%s: %zu accumulated elements are not r + g", what, bad);
  free(hx), free(hy);
  pb_cuda_memset0(ax, mx * 4, &g_env), pb_cuda_memset0(ay, my * 4, &g_env);
  pb_hsic_bwd_cuda(ax, NULL, gs, xd, yd, &p, &g_env);
  pb_hsic_bwd_cuda(NULL, ay, gs, xd, yd, &p, &g_env);
  pb_hsic_bwd_cuda(NULL, NULL, gs, xd, yd, &p, &g_env);
  hx = pb_twin_hostf(ax, mx, &g_env), hy = pb_twin_hostf(ay, my, &g_env);
  PB_CHECK_MSG(!memcmp(hx, gxg, mx * 4) && !memcmp(hy, gyg, my * 4), "%s: a NULL side changes the other", what);
  free(hx), free(hy);

  /* sqdist */
  float *dd = pb_twin_alloc((size_t)n * n * 4), *dc = malloc((size_t)n * n * 4);
  pb_sqdist_cuda(dd, xd, n, dx, &g_env);
  pb_sqdist_cpu(dc, x, n, dx);
  float *dg = pb_twin_hostf(dd, (size_t)n * n, &g_env);
  double maxsq = 0;
  for (int i = 0; i < n; i++) {
    double q = 0;
    for (int k = 0; k < dx; k++) q += (double)x[(size_t)i * dx + k] * x[(size_t)i * dx + k];
    maxsq = fmax(maxsq, q);
  }
  size_t asym = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      asym += i == j ? dg[(size_t)i * n + j] != 0.0f : dg[(size_t)i * n + j] != dg[(size_t)j * n + i];
  PB_CHECK_MSG(asym == 0, "%s: sqdist on the GPU: %zu entries break symmetry or the zero diagonal", what, asym);
  snprintf(w2, sizeof w2, "%s: sqdist", what);
  PB_CHECK(pb_test_allclose(w2, dg, dc, (size_t)n * n, 1e-5 * maxsq, 1e-5) == 0);

  pb_cuda_free(xd), pb_cuda_free(yd), pb_cuda_free(ax), pb_cuda_free(ay), pb_cuda_free(dd);
  free(x), free(y), free(s.buf), free(gxc), free(gyc), free(gxg), free(gyg), free(gx2), free(gy2), free(rx_h),
      free(ry_h), free(dc), free(dg);
}

/* TF32 off must agree with TF32 on (the HSIC GEMMs ignore the handle's math mode). */
static void test_tf32_independent(void) {
  pb_cuda_env e0;
  pb_twin_env(&e0, (size_t)64 << 20, 0, 0);
  const int n = 256, dx = 512, dy = 128;
  float *x = malloc(sizeof(float) * n * dx), *y = malloc(sizeof(float) * n * dy);
  fill(x, y, n, dx, dy, 1.0f, 0.0f, 555);
  const pb_hsic_params p = {.n = n, .dx = dx, .dy = dy, .sigma_x = sqrtf((float)median_d(x, n, dx)),
                            .sigma_y = sqrtf((float)median_d(y, n, dy)), .unbiased = 1};
  float *x1 = pb_twin_fromf(x, (size_t)n * dx, &g_env), *y1 = pb_twin_fromf(y, (size_t)n * dy, &g_env);
  float *x0 = pb_twin_fromf(x, (size_t)n * dx, &e0), *y0 = pb_twin_fromf(y, (size_t)n * dy, &e0);
  float v1, v0, *g1x = malloc(sizeof(float) * n * dx), *g1y = malloc(sizeof(float) * n * dy),
               *g0x = malloc(sizeof(float) * n * dx), *g0y = malloc(sizeof(float) * n * dy);
  gpu_run(&v1, g1x, g1y, x1, y1, &p, 1.0f, &g_env);
  gpu_run(&v0, g0x, g0y, x0, y0, &p, 1.0f, &e0);
  double mg = 0;
  for (int e = 0; e < n * dx; e++) mg = fmax(mg, fabs(g0x[e]));
  PB_CHECK_MSG(fabs(v1 - v0) <= 1e-6 * fabs(v0) + 1e-9, "TF32 on %.9g, off %.9g", (double)v1, (double)v0);
  PB_CHECK(pb_test_allclose("TF32 on vs off: dx", g1x, g0x, (size_t)n * dx, 2e-5 * 6 * mg, 2e-3) == 0);
  printf("TF32 on vs off: value %s, dx %s\n", v1 == v0 ? "bitwise equal" : "close",
         memcmp(g1x, g0x, sizeof(float) * n * dx) ? "close" : "bitwise equal");
  pb_cuda_free(x1), pb_cuda_free(y1), pb_cuda_free(x0), pb_cuda_free(y0);
  free(x), free(y), free(g1x), free(g1y), free(g0x), free(g0y);
  pb_cuda_env_free(&e0);
}

/* Constant x: K = 11^T; xc = 0 so dx is exactly 0, and HSIC ~0. */
static void test_constant(void) {
  const int n = 9, dx = 5, dy = 3;
  float x[45], y[27], gx[45], gy[27], v;
  fill(x, y, n, dx, dy, 0.5f, 0.0f, 91);
  for (int i = 1; i < n; i++) memcpy(x + i * dx, x, dx * 4);
  const pb_hsic_params p = {.n = n, .dx = dx, .dy = dy, .sigma_x = 1.0f, .sigma_y = 0.8f, .unbiased = 1};
  float *xd = pb_twin_fromf(x, 45, &g_env), *yd = pb_twin_fromf(y, 27, &g_env);
  gpu_run(&v, gx, gy, xd, yd, &p, 1.0f, &g_env);
  size_t nz = 0;
  for (int e = 0; e < 45; e++) nz += gx[e] != 0.0f;
  PB_CHECK_MSG(nz == 0 && fabs(v) < 1e-6, "constant x on the GPU: HSIC %.3g, %zu nonzero dx", (double)v, nz);
  pb_cuda_free(xd), pb_cuda_free(yd);
}

/* ------------------------------------------------------------------ goldens through the GPU */

static void gpu_hsic(void *ctx, float *value, float *dx, float *dy, const float *x, const float *y,
                     const pb_hsic_params *p) {
  const pb_cuda_env *env = ctx;
  const size_t mx = (size_t)p->n * p->dx, my = (size_t)p->n * p->dy;
  float *xd = pb_twin_fromf(x, mx, env), *yd = pb_twin_fromf(y, my, env);
  float *vd = pb_twin_alloc(4);
  pb_hsic_fwd_cuda(vd, xd, yd, p, env);
  pb_cuda_d2h(value, vd, 4, env);
  if (dx) {
    float *gxd = pb_twin_alloc(mx * 4), *gyd = pb_twin_alloc(my * 4);
    pb_cuda_memset0(gxd, mx * 4, env), pb_cuda_memset0(gyd, my * 4, env);
    pb_hsic_bwd_cuda(gxd, gyd, 1.0f, xd, yd, p, env);
    pb_cuda_d2h(dx, gxd, mx * 4, env), pb_cuda_d2h(dy, gyd, my * 4, env);
    pb_cuda_free(gxd), pb_cuda_free(gyd);
  }
  pb_cuda_free(xd), pb_cuda_free(yd), pb_cuda_free(vd);
}

static void gpu_sqdist(void *ctx, float *d, const float *a, int n, int dim) {
  const pb_cuda_env *env = ctx;
  float *ad = pb_twin_fromf(a, (size_t)n * dim, env), *dd = pb_twin_alloc((size_t)n * n * 4);
  pb_sqdist_cuda(dd, ad, n, dim, env);
  pb_cuda_d2h(d, dd, (size_t)n * n * 4, env);
  pb_cuda_free(ad), pb_cuda_free(dd);
}

static void test_golden(void) {
  pb_err err = {{0}};
  pb_st_file f;
  if (pb_st_read(&f, pb_test_fixture("hsic_golden.safetensors"), &err)) {
    fprintf(stderr, "FAIL: %s\n", err.msg);
    pb_test_failures++;
    return;
  }
  const hg_runner run = {gpu_hsic, gpu_sqdist, &g_env};
  hg_worst w;
  hg_run_all(&f, &run, "gpu", &w);
  pb_st_free(&f);
}

/* ------------------------------------------------------------------ the backend on a GPU context */

static void test_backend(void) {
  pb_ctx c;
  pb_err err = {{0}};
  PB_ASSERT(pb_ctx_init_ws(&c, "cuda", 1, 0, 1, (size_t)1 << 20, &err) == PB_OK); /* 1 MiB of workspace */
  const pb_hsic_params big = {.n = 256, .dx = 512, .dy = 128, .sigma_x = 1, .sigma_y = 1, .unbiased = 1};
  const pb_hsic_params small = {.n = 32, .dx = 16, .dy = 8, .sigma_x = 1.5f, .sigma_y = 0.5f, .unbiased = 0};
  PB_CHECK(c.ops->hsic_reserve(&c, &big, &err) == PB_ERR);
  PB_CHECK_MSG(strstr(err.msg, "cudnn_workspace_mb") != NULL, "message: %s", err.msg);
  printf("hsic_reserve, 1 MiB: %s\n", err.msg);
  PB_CHECK(c.ops->hsic_reserve(&c, &small, &err) == PB_OK);
  float x[32 * 16], y[32 * 8], v1, v2, *vd = pb_ctx_alloc(&c, 4, "v", &err);
  fill(x, y, 32, 16, 8, 0.6f, 0.2f, 1234);
  float *xd = pb_ctx_alloc(&c, sizeof x, "x", &err), *yd = pb_ctx_alloc(&c, sizeof y, "y", &err);
  pb_ctx_upload(&c, xd, x, sizeof x), pb_ctx_upload(&c, yd, y, sizeof y);
  c.ops->hsic_fwd(&c, vd, xd, yd, &small);
  pb_ctx_download(&c, &v1, vd, 4);
  pb_hsic_fwd_cuda(vd, xd, yd, &small, c.cuda);
  pb_ctx_download(&c, &v2, vd, 4);
  PB_CHECK_MSG(v1 == v2, "backend hsic_fwd %.9g, direct %.9g", (double)v1, (double)v2);
  pb_ctx_free_mem(&c, vd), pb_ctx_free_mem(&c, xd), pb_ctx_free_mem(&c, yd);
  pb_ctx_free(&c);
}

int main(void) {
  pb_twin_require_gpu();
  pb_cpu_blas_init();
  pb_twin_env(&g_env, (size_t)64 << 20, 0, 1);
  const struct {
    int n, dx, dy;
    float amp, offset;
  } shapes[] = {{4, 1, 10, 0.5f, 0.0f},   {5, 10, 1, 0.5f, 0.0f},    {37, 19, 6, 0.4f, 0.3f},
                {64, 128, 10, 0.1f, 0.5f}, {100, 3, 300, 0.3f, 0.0f}, {256, 512, 128, 0.05f, 0.0f},
                {256, 512, 512, 0.05f, 0.2f}};
  uint64_t seed = 100;
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    for (int u = 0; u <= 1; u++)
      for (int mode = 0; mode < 3; mode++)
        test_twin(shapes[i].n, shapes[i].dx, shapes[i].dy, shapes[i].amp, shapes[i].offset, mode, u, seed++);
  test_tf32_independent();
  test_constant();
  test_golden();
  test_backend();
  pb_cuda_env_free(&g_env);
  return pb_test_exit("test_cuda_hsic");
}
