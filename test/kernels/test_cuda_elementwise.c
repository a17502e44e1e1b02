/* test_cuda_elementwise.c: twin tests of kernels/cuda/activation.cu, elementwise.cu, dropout.cu
 * and convert.cu against their CPU references (kernels/cpu/activation.c, elementwise.c,
 * dropout.c and the loader's normalisation table). Needs a GPU: exits 77 (ctest: skipped)
 * without one.
 *
 * Sizes 1, 3, 31, 1000, 100003 (not multiples of 32, one above a block count boundary); inputs
 * include exact zeros, -0, large magnitudes and a NaN where the op has a NaN rule.
 * Tolerances:
 *  - relu fwd/bwd, sigmoid bwd, add, accumulate, scale, chscale fwd and dx, dropout y / mask /
 *    dx, u8 conversion: BITWISE (memcmp). Each is a comparison or one to three IEEE-rounded
 *    float operations in the CPU's order, done with explicitly rounded intrinsics on the GPU
 *    (no FMA contraction), so the results are the same floats.
 *  - sigmoid fwd: atol 1e-30, rtol 1e-6 (8 ulp): CUDA's expf is within 2 ulp, glibc's within 1,
 *    plus the same two roundings; atol only covers subnormal outputs (x ~ -100) where one ulp
 *    of a subnormal is a large relative error and no consumer can tell.
 *  - chscale ds: atol 1e-6, rtol 1e-5: a sum over hw in double on both sides, in a different
 *    order (tree vs sequential): the double results differ by ~1e-16 relative, after rounding to
 *    float by at most 1 ulp; the tolerance is the project's reduction tolerance. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/ops_cuda.h"
#include "test/cuda_twin.h"
#include "test/testutil.h"

static pb_cuda_env g_env;

/* Tolerance comparison where a NaN must be matched by a NaN at the same place. */
static double cmp_tol(const char *what, size_t n, const float *d_got, const float *ref, double atol, double rtol) {
  float *got = pb_twin_hostf(d_got, n, &g_env);
  float *r = malloc((n ? n : 1) * sizeof(float));
  size_t nan_bad = 0;
  for (size_t i = 0; i < n; i++) {
    r[i] = ref[i];
    if (isnan(got[i]) != isnan(ref[i])) nan_bad++;
    if (isnan(got[i]) && isnan(ref[i])) got[i] = r[i] = 0.0f;
  }
  PB_CHECK_MSG(nan_bad == 0, "%s (n=%zu): %zu NaN mismatches", what, n, nan_bad);
  const size_t bad = pb_test_allclose(what, got, r, n, atol, rtol);
  PB_CHECK_MSG(bad == 0, "%s (n=%zu): %zu of %zu out of tolerance", what, n, bad, n);
  const double e = pb_test_max_abs_diff(got, r, n);
  free(got), free(r);
  return e;
}

static void test_activations_elementwise(size_t n, uint64_t seed) {
  float *x = malloc(n * sizeof(float)), *x2 = malloc(n * sizeof(float)), *dy = malloc(n * sizeof(float));
  float *y = malloc(n * sizeof(float)), *dx = malloc(n * sizeof(float));
  pb_test_fill_uniform(x, n, -4.0f, 4.0f, seed);
  pb_test_fill_uniform(x2, n, -2.0f, 2.0f, seed + 1);
  pb_test_fill_uniform(dy, n, -1.0f, 1.0f, seed + 2);
  /* special values where there is room: zeros, -0, large magnitudes, NaN */
  const float specials[] = {0.0f, -0.0f, 100.0f, -100.0f, 20.0f, -20.0f, NAN, 1e-3f};
  for (size_t s = 0; s < sizeof specials / sizeof specials[0] && 2 * s + 1 < n; s++) x[2 * s + 1] = specials[s];

  float *d_x = pb_twin_fromf(x, n, &g_env), *d_x2 = pb_twin_fromf(x2, n, &g_env);
  float *d_dy = pb_twin_fromf(dy, n, &g_env);
  float *d_y = pb_twin_fromf(dy, n, &g_env), *d_dx = pb_twin_fromf(x, n, &g_env); /* garbage: outputs are overwritten */
  double e[10];

  pb_relu_fwd_cpu(y, x, n);
  pb_relu_fwd_cuda(d_y, d_x, n, &g_env);
  e[0] = pb_twin_check_bits("relu fwd", d_y, y, n, &g_env);
  pb_cuda_h2d(d_y, y, n * sizeof(float), &g_env); /* backward from the same y */
  pb_relu_bwd_cpu(dx, dy, y, n);
  pb_relu_bwd_cuda(d_dx, d_dy, d_y, n, &g_env);
  e[1] = pb_twin_check_bits("relu bwd", d_dx, dx, n, &g_env);

  pb_sigmoid_fwd_cpu(y, x, n);
  pb_sigmoid_fwd_cuda(d_y, d_x, n, &g_env);
  e[2] = cmp_tol("sigmoid fwd", n, d_y, y, 1e-30, 1e-6);
  pb_cuda_h2d(d_y, y, n * sizeof(float), &g_env);
  pb_sigmoid_bwd_cpu(dx, dy, y, n);
  pb_sigmoid_bwd_cuda(d_dx, d_dy, d_y, n, &g_env);
  e[3] = pb_twin_check_bits("sigmoid bwd", d_dx, dx, n, &g_env);

  /* add, then add in place (y aliases a) */
  pb_add_fwd_cpu(y, x, x2, n);
  pb_add_fwd_cuda(d_y, d_x, d_x2, n, &g_env);
  e[4] = pb_twin_check_bits("add", d_y, y, n, &g_env);
  pb_add_fwd_cpu(y, y, x2, n);
  pb_add_fwd_cuda(d_y, d_y, d_x2, n, &g_env);
  e[5] = pb_twin_check_bits("add in place", d_y, y, n, &g_env);

  pb_accumulate_cpu(y, dy, n);
  pb_accumulate_cuda(d_y, d_dy, n, &g_env);
  e[6] = pb_twin_check_bits("accumulate", d_y, y, n, &g_env);

  pb_scale_cpu(y, 0.3f, n);
  pb_scale_cuda(d_y, 0.3f, n, &g_env);
  e[7] = pb_twin_check_bits("scale", d_y, y, n, &g_env);

  printf("  n=%-7zu max abs err: relu %.2e / %.2e sigmoid %.2e / %.2e add %.2e / %.2e accumulate %.2e scale %.2e\n",
         n, e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]);
  pb_cuda_free(d_x), pb_cuda_free(d_x2), pb_cuda_free(d_dy), pb_cuda_free(d_y), pb_cuda_free(d_dx);
  free(x), free(x2), free(dy), free(y), free(dx);
}

static void test_chscale(int n, int c, int hw, uint64_t seed) {
  const size_t nx = (size_t)n * c * hw, ns = (size_t)n * c;
  float *x = malloc((nx ? nx : 1) * sizeof(float)), *dy = malloc((nx ? nx : 1) * sizeof(float));
  float *s = malloc(ns * sizeof(float)), *y = malloc((nx ? nx : 1) * sizeof(float));
  float *dx = malloc((nx ? nx : 1) * sizeof(float)), *ds = malloc(ns * sizeof(float));
  pb_test_fill_uniform(x, nx, -2.0f, 2.0f, seed);
  pb_test_fill_uniform(dy, nx, -1.0f, 1.0f, seed + 1);
  pb_test_fill_uniform(s, ns, 0.0f, 1.0f, seed + 2);
  pb_chscale_fwd_cpu(y, x, s, n, c, hw);
  pb_chscale_bwd_cpu(dx, ds, dy, x, s, n, c, hw);

  float *d_x = pb_twin_fromf(x, nx, &g_env), *d_dy = pb_twin_fromf(dy, nx, &g_env);
  float *d_s = pb_twin_fromf(s, ns, &g_env);
  float *d_y = pb_twin_fromf(dy, nx, &g_env), *d_dx = pb_twin_fromf(x, nx, &g_env); /* garbage */
  float *d_ds = pb_twin_fromf(s, ns, &g_env);                                       /* garbage */
  pb_chscale_fwd_cuda(d_y, d_x, d_s, n, c, hw, &g_env);
  const double ey = pb_twin_check_bits("chscale fwd", d_y, y, nx, &g_env);
  pb_chscale_bwd_cuda(d_dx, d_ds, d_dy, d_x, d_s, n, c, hw, &g_env);
  const double edx = pb_twin_check_bits("chscale dx", d_dx, dx, nx, &g_env);
  /* the SE tail y = relu(x * s + r) (r: dy as a shortcut): bitwise, and in place over x */
  if (nx) {
    pb_chscale_add_relu_cpu(y, x, s, dy, n, c, hw);
    pb_chscale_add_relu_cuda(d_y, d_x, d_s, d_dy, n, c, hw, &g_env);
    pb_twin_check_bits("chscale_add_relu", d_y, y, nx, &g_env);
    float *d_io = pb_twin_fromf(x, nx, &g_env);
    pb_chscale_add_relu_cuda(d_io, d_io, d_s, d_dy, n, c, hw, &g_env);
    pb_twin_check_bits("chscale_add_relu in place", d_io, y, nx, &g_env);
    pb_cuda_free(d_io);
    pb_chscale_fwd_cpu(y, x, s, n, c, hw); /* y back to the plain scale for nothing else */
  }
  const double eds = cmp_tol("chscale ds", ns, d_ds, ds, 1e-6, 1e-5);
  /* run to run: a second backward gives the same ds bits */
  float *ds1 = pb_twin_hostf(d_ds, ns, &g_env);
  pb_chscale_bwd_cuda(d_dx, d_ds, d_dy, d_x, d_s, n, c, hw, &g_env);
  float *ds2 = pb_twin_hostf(d_ds, ns, &g_env);
  PB_CHECK_MSG(memcmp(ds1, ds2, ns * sizeof(float)) == 0, "chscale ds %dx%dx%d not reproducible", n, c, hw);
  printf("  chscale %dx%dx%d max abs err: y %.2e dx %.2e ds %.2e\n", n, c, hw, ey, edx, eds);
  pb_cuda_free(d_x), pb_cuda_free(d_dy), pb_cuda_free(d_s), pb_cuda_free(d_y), pb_cuda_free(d_dx), pb_cuda_free(d_ds);
  free(x), free(dy), free(s), free(y), free(dx), free(ds), free(ds1), free(ds2);
}

static void test_dropout(size_t n, float p, uint64_t seed, uint64_t stream) {
  float *x = malloc(n * sizeof(float)), *dy = malloc(n * sizeof(float));
  float *y = malloc(n * sizeof(float)), *dx = malloc(n * sizeof(float));
  uint8_t *mask = malloc(n), *gmask = malloc(n);
  pb_test_fill_uniform(x, n, -3.0f, 3.0f, seed + 5);
  pb_test_fill_uniform(dy, n, -1.0f, 1.0f, seed + 6);
  pb_dropout_fwd_cpu(y, mask, x, n, p, seed, stream);
  pb_dropout_bwd_cpu(dx, dy, mask, n, p);

  float *d_x = pb_twin_fromf(x, n, &g_env), *d_dy = pb_twin_fromf(dy, n, &g_env);
  float *d_y = pb_twin_fromf(dy, n, &g_env), *d_dx = pb_twin_fromf(x, n, &g_env);
  uint8_t *d_mask = pb_twin_alloc(n);
  pb_cuda_memset0(d_mask, n, &g_env);
  pb_dropout_fwd_cuda(d_y, d_mask, d_x, n, p, seed, stream, &g_env);
  pb_cuda_d2h(gmask, d_mask, n, &g_env);
  pb_cuda_sync(&g_env);
  size_t bad = 0, kept = 0;
  for (size_t i = 0; i < n; i++) bad += gmask[i] != mask[i], kept += mask[i];
  PB_CHECK_MSG(bad == 0, "dropout mask n=%zu p=%g: %zu of %zu differ from the CPU's", n, (double)p, bad, n);
  const double ey = pb_twin_check_bits("dropout y", d_y, y, n, &g_env);
  pb_dropout_bwd_cuda(d_dx, d_dy, d_mask, n, p, &g_env);
  const double edx = pb_twin_check_bits("dropout dx", d_dx, dx, n, &g_env);
  printf("  dropout n=%-7zu p=%.2f: mask bitwise (%zu kept), max abs err y %.2e dx %.2e\n", n, (double)p, kept, ey, edx);
  pb_cuda_free(d_x), pb_cuda_free(d_dy), pb_cuda_free(d_y), pb_cuda_free(d_dx), pb_cuda_free(d_mask);
  free(x), free(dy), free(y), free(dx), free(mask), free(gmask);
}

/* Reference: the loader's table, ((float)v / 255.0f - mean[c]) / std[c] (kernels/cpu/convert.c). */
static void test_convert(int n, int c, int hw, uint64_t seed) {
  const size_t total = (size_t)n * c * hw;
  uint8_t *u8 = malloc(total);
  float *ref = malloc(total * sizeof(float));
  float mean[8], std[8];
  for (int ch = 0; ch < c; ch++) mean[ch] = 0.1f * (float)(ch + 1), std[ch] = 0.2f + 0.05f * (float)ch;
  for (size_t i = 0; i < total; i++) u8[i] = (uint8_t)((i * 2654435761u + seed) >> 7);
  pb_u8_to_f32_norm_cpu(ref, u8, n, c, hw, mean, std); /* the CPU twin */
  uint8_t *d_u8 = pb_twin_alloc(total);
  pb_cuda_h2d(d_u8, u8, total, &g_env);
  float *d_x = pb_twin_alloc(total * sizeof(float));
  pb_u8_to_f32_norm_cuda(d_x, d_u8, n, c, hw, mean, std, &g_env);
  const double e = pb_twin_check_bits("u8 -> f32 norm", d_x, ref, total, &g_env);
  printf("  u8_to_f32_norm %dx%dx%d max abs err %.2e\n", n, c, hw, e);
  pb_cuda_free(d_u8), pb_cuda_free(d_x);
  free(u8), free(ref);
}

int main(void) {
  pb_twin_require_gpu();
  pb_twin_env(&g_env, (size_t)64 << 20, 0, 0);
  const size_t sizes[] = {1, 3, 31, 1000, 100003};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) test_activations_elementwise(sizes[s], 10 + s);

  /* n == 0: no launch, no error */
  pb_relu_fwd_cuda(NULL, NULL, 0, &g_env);
  pb_sigmoid_bwd_cuda(NULL, NULL, NULL, 0, &g_env);
  pb_add_fwd_cuda(NULL, NULL, NULL, 0, &g_env);
  pb_scale_cuda(NULL, 2.0f, 0, &g_env);
  pb_dropout_fwd_cuda(NULL, NULL, NULL, 0, 0.5f, 1, 2, &g_env);
  pb_chscale_fwd_cuda(NULL, NULL, NULL, 0, 3, 5, &g_env);
  pb_cuda_sync(&g_env);

  const int ch_cases[][3] = {{1, 1, 1}, {2, 3, 5}, {1, 7, 49}, {4, 64, 196}, {3, 5, 1000}, {2, 3, 70001}, {2, 4, 0}};
  for (size_t i = 0; i < sizeof ch_cases / sizeof ch_cases[0]; i++)
    test_chscale(ch_cases[i][0], ch_cases[i][1], ch_cases[i][2], 100 + i);

  test_dropout(1, 0.5f, 7, 0);
  test_dropout(31, 0.1f, 7, 3);
  test_dropout(1000, 0.5f, 12345, 42);
  test_dropout(100003, 0.3f, 0xDEADBEEFCAFEull, ((uint64_t)4 << 56) | 17);
  test_dropout(100003, 0.0f, 99, 1);

  test_convert(1, 1, 1, 3);
  test_convert(2, 3, 1000, 5);
  test_convert(3, 8, 33, 9);

  pb_cuda_env_free(&g_env);
  return pb_test_exit("test_cuda_elementwise");
}
