/* test_cuda_l2norm.c: twin test of kernels/cuda/l2norm.cu against kernels/cpu/l2norm.c, and of
 * softmax cross-entropy's missing labels (label < 0) in kernels/cuda/loss.cu against the CPU.
 * Needs a GPU: exits 77 (ctest: skipped) without one.
 *
 * l2norm shapes: d = 1, 3, 128, 255, 256, 257, 2048, 10000 (around and over a block of 256) with
 * n up to 300 rows; a zero row and a row below eps (the clamped branch); backward in place too.
 * Tolerances: atol 1e-6, rtol 1e-5 for y, norm and dx: the row sums are in double on both sides
 * in a different order (block tree vs sequential), differing by ~1e-16 relative, so after the
 * single rounding to float the results differ by at most 1 ulp (the project's reduction
 * tolerance). Run-to-run: bitwise (a second launch gives the same bytes).
 * xent with missing labels: loss sum atol 1e-5 rtol 1e-6, dlogits atol 1e-7 rtol 1e-6 (the
 * tolerances of test_cuda_loss); the missing rows' gradients are exactly 0 on the GPU. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/ops_cuda.h"
#include "test/cuda_twin.h"
#include "test/testutil.h"

static pb_cuda_env g_env;

static void test_l2norm(int n, int d, uint64_t seed) {
  const float eps = 1e-12f;
  size_t nd = (size_t)n * d;
  float *x = malloc(nd * 4), *dy = malloc(nd * 4), *y = malloc(nd * 4), *norm = malloc((size_t)n * 4),
        *dx = malloc(nd * 4);
  pb_test_fill_uniform(x, nd, -2.0f, 2.0f, seed);
  pb_test_fill_uniform(dy, nd, -1.0f, 1.0f, seed + 1);
  if (n > 2) {
    memset(x, 0, (size_t)d * 4); /* a zero row */
    for (int j = 0; j < d; j++) x[(size_t)d + j] *= 1e-14f; /* a row under eps */
  }
  pb_l2norm_fwd_cpu(y, norm, x, n, d, eps);
  pb_l2norm_bwd_cpu(dx, dy, y, norm, n, d, eps);
  float *xd = pb_twin_fromf(x, nd, &g_env), *dyd = pb_twin_fromf(dy, nd, &g_env);
  float *yd = pb_twin_alloc(nd * 4), *nd_ = pb_twin_alloc((size_t)n * 4), *dxd = pb_twin_alloc(nd * 4);
  pb_l2norm_fwd_cuda(yd, nd_, xd, n, d, eps, &g_env);
  pb_l2norm_bwd_cuda(dxd, dyd, yd, nd_, n, d, eps, &g_env);
  float *gy = pb_twin_hostf(yd, nd, &g_env), *gn = pb_twin_hostf(nd_, (size_t)n, &g_env);
  float *gdx = pb_twin_hostf(dxd, nd, &g_env);
  char w[64];
  snprintf(w, sizeof w, "l2norm y n=%d d=%d", n, d);
  PB_CHECK(pb_test_allclose(w, gy, y, nd, 1e-6, 1e-5) == 0);
  snprintf(w, sizeof w, "l2norm norm n=%d d=%d", n, d);
  PB_CHECK(pb_test_allclose(w, gn, norm, (size_t)n, 1e-6, 1e-5) == 0);
  snprintf(w, sizeof w, "l2norm dx n=%d d=%d", n, d);
  /* the clamped rows' dx are dy/eps ~ 1e12: relative tolerance covers them */
  PB_CHECK(pb_test_allclose(w, gdx, dx, nd, 1e-6, 1e-5) == 0);
  /* run-to-run bitwise, and in place (dx over dy) */
  pb_l2norm_fwd_cuda(yd, nd_, xd, n, d, eps, &g_env);
  pb_l2norm_bwd_cuda(dyd, dyd, yd, nd_, n, d, eps, &g_env);
  float *gy2 = pb_twin_hostf(yd, nd, &g_env), *gdx2 = pb_twin_hostf(dyd, nd, &g_env);
  PB_CHECK(memcmp(gy, gy2, nd * 4) == 0);
  PB_CHECK(memcmp(gdx, gdx2, nd * 4) == 0);
  pb_cuda_free(xd), pb_cuda_free(dyd), pb_cuda_free(yd), pb_cuda_free(nd_), pb_cuda_free(dxd);
  free(x), free(dy), free(y), free(norm), free(dx), free(gy), free(gn), free(gdx), free(gy2), free(gdx2);
}

static void test_xent_missing(int n, int k, uint64_t seed) {
  size_t nk = (size_t)n * k;
  float *z = malloc(nk * 4), *d = malloc(nk * 4), l;
  int32_t *y = malloc((size_t)n * 4);
  pb_test_fill_uniform(z, nk, -4.0f, 4.0f, seed);
  for (int i = 0; i < n; i++) y[i] = i % 3 == 1 ? -1 : (int32_t)((i * 7) % k);
  pb_softmax_xent_cpu(&l, NULL, d, z, y, n, k, 0.1f, 1.0f / n);
  float *zd = pb_twin_fromf(z, nk, &g_env), *dd = pb_twin_alloc(nk * 4), *ld = pb_twin_alloc(4);
  int32_t *yd = pb_twin_from(y, (size_t)n * 4, &g_env);
  pb_softmax_xent_cuda(ld, NULL, dd, zd, yd, n, k, 0.1f, 1.0f / n, &g_env);
  float *gl = pb_twin_hostf(ld, 1, &g_env), *gd = pb_twin_hostf(dd, nk, &g_env);
  PB_CHECK(pb_test_allclose("xent missing: loss", gl, &l, 1, 1e-5, 1e-6) == 0);
  PB_CHECK(pb_test_allclose("xent missing: dlogits", gd, d, nk, 1e-7, 1e-6) == 0);
  for (int i = 1; i < n; i += 3)
    for (int j = 0; j < k; j++) PB_CHECK(gd[(size_t)i * k + j] == 0.0f);
  pb_cuda_free(zd), pb_cuda_free(dd), pb_cuda_free(ld), pb_cuda_free(yd);
  free(z), free(d), free(y), free(gl), free(gd);
}

int main(void) {
  pb_twin_require_gpu();
  pb_twin_env(&g_env, (size_t)64 << 20, 0, 0);
  const int cases[][2] = {{1, 1}, {4, 3}, {300, 128}, {3, 255}, {5, 256}, {5, 257}, {64, 2048}, {3, 10000}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_l2norm(cases[i][0], cases[i][1], 10 + i);
  pb_l2norm_fwd_cuda(NULL, NULL, NULL, 0, 4, 1e-12f, &g_env); /* n == 0: no launch */
  test_xent_missing(7, 5, 1);
  test_xent_missing(1000, 10, 2);
  pb_cuda_env_free(&g_env);
  return pb_test_exit("test_cuda_l2norm");
}
