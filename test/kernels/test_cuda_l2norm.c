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

#include "kernels/cuda_device.h"
#include "kernels/ops.h"
#include "kernels/ops_cuda.h"
#include "test/testutil.h"

static pb_cuda_env g_env;

static void *dev_alloc(size_t bytes) {
  pb_err err = {{0}};
  void *d = pb_cuda_alloc(bytes ? bytes : 1, "test buffer", &err);
  if (!d) {
    fprintf(stderr, "FAIL: %s\n", err.msg);
    exit(1);
  }
  return d;
}

static float *dev_from(const float *h, size_t n) {
  float *d = dev_alloc(n * sizeof(float));
  pb_cuda_h2d(d, h, n * sizeof(float), &g_env);
  return d;
}

static float *host_of(const float *d, size_t n) {
  float *h = malloc(n * sizeof(float));
  pb_cuda_d2h(h, d, n * sizeof(float), &g_env);
  pb_cuda_sync(&g_env);
  return h;
}

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
  float *xd = dev_from(x, nd), *dyd = dev_from(dy, nd), *yd = dev_alloc(nd * 4), *nd_ = dev_alloc((size_t)n * 4),
        *dxd = dev_alloc(nd * 4);
  pb_l2norm_fwd_cuda(yd, nd_, xd, n, d, eps, &g_env);
  pb_l2norm_bwd_cuda(dxd, dyd, yd, nd_, n, d, eps, &g_env);
  float *gy = host_of(yd, nd), *gn = host_of(nd_, (size_t)n), *gdx = host_of(dxd, nd);
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
  float *gy2 = host_of(yd, nd), *gdx2 = host_of(dyd, nd);
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
  float *zd = dev_from(z, nk), *dd = dev_alloc(nk * 4), *ld = dev_alloc(4);
  int32_t *yd = dev_alloc((size_t)n * 4);
  pb_cuda_h2d(yd, y, (size_t)n * 4, &g_env);
  pb_softmax_xent_cuda(ld, NULL, dd, zd, yd, n, k, 0.1f, 1.0f / n, &g_env);
  float *gl = host_of(ld, 1), *gd = host_of(dd, nk);
  PB_CHECK(pb_test_allclose("xent missing: loss", gl, &l, 1, 1e-5, 1e-6) == 0);
  PB_CHECK(pb_test_allclose("xent missing: dlogits", gd, d, nk, 1e-7, 1e-6) == 0);
  for (int i = 1; i < n; i += 3)
    for (int j = 0; j < k; j++) PB_CHECK(gd[(size_t)i * k + j] == 0.0f);
  pb_cuda_free(zd), pb_cuda_free(dd), pb_cuda_free(ld), pb_cuda_free(yd);
  free(z), free(d), free(y), free(gl), free(gd);
}

int main(void) {
  char why[256];
  if (pb_cuda_device_count(why, sizeof why) == 0) {
    printf("skipped: no GPU (%s)\n", why);
    return 77;
  }
  pb_err err = {{0}};
  if (pb_cuda_env_init(&g_env, 0, (size_t)64 << 20, 0, 0, &err) != PB_OK) {
    fprintf(stderr, "FAIL: env init: %s\n", err.msg);
    return 1;
  }
  const int cases[][2] = {{1, 1}, {4, 3}, {300, 128}, {3, 255}, {5, 256}, {5, 257}, {64, 2048}, {3, 10000}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_l2norm(cases[i][0], cases[i][1], 10 + i);
  pb_l2norm_fwd_cuda(NULL, NULL, NULL, 0, 4, 1e-12f, &g_env); /* n == 0: no launch */
  test_xent_missing(7, 5, 1);
  test_xent_missing(1000, 10, 2);
  pb_cuda_env_free(&g_env);
  return pb_test_exit("test_cuda_l2norm");
}
