/* test_cuda_optim.c: twin tests of kernels/cuda/optim.cu against kernels/cpu/optim.c and the
 * clipping rule of pb_clip_grad_norm (engine/trainers/optim.c). Needs a GPU: exits 77 (ctest: skipped)
 * without one.
 *
 * Blocks of 100003 parameters (not a multiple of anything), 1 and 7. SGD plain, with momentum
 * and weight decay, Nesterov, dampening; Adam, Adam with L2 weight decay, AdamW: 6 steps each,
 * a fresh gradient per step, first_step / step counters as the optimizer passes them, all state
 * kept on each side and compared after the last step.
 * Tolerances:
 *  - steps: |gpu - cpu| <= 1e-6 + 1e-5 |cpu| (the brief's optimizer tolerance). The GPU does the
 *    CPU's operations in the CPU's order with explicitly rounded intrinsics, so the results are
 *    expected bitwise equal (the count of differing elements is printed); the tolerance leaves
 *    room for a CPU build that contracts into FMA (1 ulp per operation, a few per step).
 *  - sum of squares: relative 1e-12. Both sides sum exact float squares in double, in different
 *    orders: the error bound is ~ log2(n) * 2^-53 relative for the GPU's trees and ~ n/64 * 2^-53
 *    for the CPU's chunks, i.e. < 1e-12 for 1e5 elements.
 *  - clipping: bitwise against the CPU rule applied with the GPU's sumsq (same double sqrt and
 *    division, correctly rounded on both).
 * Determinism: sumsq twice and through the no-workspace fallback path: bitwise the same. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/ops_cuda.h"
#include "test/cuda_twin.h"
#include "test/testutil.h"

#define ATOL 1e-6
#define RTOL 1e-5
#define STEPS 6

static pb_cuda_env g_env, g_env_nows;

/* Compares a device array with the CPU's; prints into *err_out the max abs error, returns the
 * number of elements that are not bitwise equal. */
static size_t cmp(const char *what, const float *d_got, const float *ref, size_t n, double *err_out) {
  float *got = pb_twin_hostf(d_got, n, &g_env);
  const size_t bad = pb_test_allclose(what, got, ref, n, ATOL, RTOL);
  PB_CHECK_MSG(bad == 0, "%s (n=%zu): %zu of %zu out of tolerance", what, n, bad, n);
  *err_out = pb_test_max_abs_diff(got, ref, n);
  const size_t diff = pb_twin_diff_bits(got, ref, n);
  free(got);
  return diff;
}

static void test_sgd(const char *name, size_t n, pb_sgd_params p, uint64_t seed) {
  float *param = malloc(n * sizeof(float)), *buf = malloc(n * sizeof(float)), *grad = malloc(n * sizeof(float));
  pb_test_fill_uniform(param, n, -1.0f, 1.0f, seed);
  pb_test_fill_uniform(buf, n, -5.0f, 5.0f, seed + 1); /* garbage: the first step overwrites it */
  float *d_param = pb_twin_fromf(param, n, &g_env), *d_buf = pb_twin_fromf(buf, n, &g_env);
  float *d_grad = pb_twin_alloc(n * sizeof(float));
  for (int s = 0; s < STEPS; s++) {
    pb_test_fill_uniform(grad, n, -0.5f, 0.5f, seed + 10 + (uint64_t)s);
    pb_cuda_h2d(d_grad, grad, n * sizeof(float), &g_env);
    pb_sgd_step_cpu(param, buf, grad, n, &p, s == 0);
    pb_sgd_step_cuda(d_param, d_buf, d_grad, n, &p, s == 0, &g_env);
  }
  double ep = 0.0, eb = 0.0;
  const size_t dp = cmp("sgd param", d_param, param, n, &ep);
  size_t db = 0;
  if (p.momentum != 0.0f) db = cmp("sgd momentum buffer", d_buf, buf, n, &eb);
  printf("  sgd  %-22s n=%-6zu %d steps: max abs err param %.2e buf %.2e; not bitwise: %zu / %zu\n", name, n, STEPS,
         ep, eb, dp, db);
  pb_cuda_free(d_param), pb_cuda_free(d_buf), pb_cuda_free(d_grad);
  free(param), free(buf), free(grad);
}

static void test_adam(const char *name, size_t n, pb_adam_params p, uint64_t seed) {
  float *param = malloc(n * sizeof(float)), *m = calloc(n, sizeof(float)), *v = calloc(n, sizeof(float));
  float *grad = malloc(n * sizeof(float));
  pb_test_fill_uniform(param, n, -1.0f, 1.0f, seed);
  float *d_param = pb_twin_fromf(param, n, &g_env), *d_m = pb_twin_fromf(m, n, &g_env);
  float *d_v = pb_twin_fromf(v, n, &g_env);
  float *d_grad = pb_twin_alloc(n * sizeof(float));
  for (int s = 0; s < STEPS; s++) {
    pb_test_fill_uniform(grad, n, -0.5f, 0.5f, seed + 10 + (uint64_t)s);
    if (s == 2) /* some exact zero gradients: v stays 0 there, denom = eps */
      for (size_t i = 0; i < n; i += 5) grad[i] = 0.0f;
    pb_cuda_h2d(d_grad, grad, n * sizeof(float), &g_env);
    p.step = s + 1;
    pb_adam_step_cpu(param, m, v, grad, n, &p);
    pb_adam_step_cuda(d_param, d_m, d_v, d_grad, n, &p, &g_env);
  }
  double ep, em, ev;
  const size_t dp = cmp("adam param", d_param, param, n, &ep);
  const size_t dm = cmp("adam m", d_m, m, n, &em);
  const size_t dv = cmp("adam v", d_v, v, n, &ev);
  printf("  adam %-22s n=%-6zu %d steps: max abs err param %.2e m %.2e v %.2e; not bitwise: %zu / %zu / %zu\n", name,
         n, STEPS, ep, em, ev, dp, dm, dv);
  pb_cuda_free(d_param), pb_cuda_free(d_m), pb_cuda_free(d_v), pb_cuda_free(d_grad);
  free(param), free(m), free(v), free(grad);
}

static void test_sumsq_clip(size_t n, double max_norm_factor, uint64_t seed) {
  float *x = malloc((n ? n : 1) * sizeof(float));
  pb_test_fill_uniform(x, n, -1.0f, 1.0f, seed);
  const double ref = pb_sumsq_cpu(x, n);
  float *d_x = pb_twin_fromf(x, n, &g_env);
  double *d_s = pb_twin_alloc(2 * sizeof(double));
  pb_sumsq_cuda(d_s, d_x, n, &g_env);
  pb_sumsq_cuda(d_s + 1, d_x, n, &g_env_nows); /* fallback path */
  double s[2], s2;
  pb_cuda_d2h(s, d_s, sizeof s, &g_env);
  pb_sumsq_cuda(d_s, d_x, n, &g_env);
  pb_cuda_d2h(&s2, d_s, sizeof s2, &g_env);
  pb_cuda_sync(&g_env);
  const double rel = ref != 0.0 ? fabs(s[0] - ref) / ref : fabs(s[0]);
  PB_CHECK_MSG(rel <= 1e-12, "sumsq n=%zu: gpu %.17g cpu %.17g (rel %.2e)", n, s[0], ref, rel);
  PB_CHECK_MSG(memcmp(&s[0], &s[1], sizeof(double)) == 0, "sumsq n=%zu: no-workspace path %.17g != %.17g", n, s[1],
               s[0]);
  PB_CHECK_MSG(memcmp(&s[0], &s2, sizeof(double)) == 0, "sumsq n=%zu: second call %.17g != %.17g", n, s2, s[0]);

  /* clip with max_norm = factor * norm: < 1 scales, > 1 leaves x alone; 0 is off */
  const double norm = sqrt(s[0]), max_norm = max_norm_factor * norm;
  pb_clip_scale_cuda(d_x, n, d_s, max_norm, &g_env);
  float *ref_x = malloc((n ? n : 1) * sizeof(float));
  memcpy(ref_x, x, n * sizeof(float));
  pb_clip_scale_cpu(ref_x, n, &s[0], max_norm); /* the CPU twin, with the GPU's sumsq */
  float *got = pb_twin_hostf(d_x, n, &g_env);
  const size_t diff = pb_twin_diff_bits(got, ref_x, n);
  PB_CHECK_MSG(diff == 0, "clip n=%zu max_norm %.6g: %zu elements not bitwise equal", n, max_norm, diff);
  printf("  sumsq n=%-6zu gpu %.17g cpu %.17g rel err %.2e; clip x%.2f: %zu elements differ\n", n, s[0], ref, rel,
         max_norm_factor, diff);
  pb_cuda_free(d_x), pb_cuda_free(d_s);
  free(x), free(ref_x), free(got);
}

int main(void) {
  pb_twin_require_gpu();
  pb_twin_env(&g_env, (size_t)64 << 20, 0, 0);
  g_env_nows = g_env;
  g_env_nows.workspace = NULL;
  g_env_nows.workspace_bytes = 0;

  const size_t sizes[] = {100003, 1, 7};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    const size_t n = sizes[i];
    const uint64_t seed = 1000 * (i + 1);
    test_sgd("plain", n, (pb_sgd_params){.lr = 0.1f}, seed + 1);
    test_sgd("momentum+wd", n, (pb_sgd_params){.lr = 0.05f, .momentum = 0.9f, .weight_decay = 1e-4f}, seed + 2);
    test_sgd("nesterov+wd", n,
             (pb_sgd_params){.lr = 0.05f, .momentum = 0.9f, .weight_decay = 5e-4f, .nesterov = 1}, seed + 3);
    test_sgd("momentum+dampening", n, (pb_sgd_params){.lr = 0.01f, .momentum = 0.5f, .dampening = 0.1f}, seed + 4);
    test_adam("adam", n, (pb_adam_params){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f}, seed + 5);
    test_adam("adam+l2", n,
              (pb_adam_params){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 1e-2f},
              seed + 6);
    test_adam("adamw", n,
              (pb_adam_params){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 1e-2f,
                               .decoupled = 1},
              seed + 7);
    test_adam("adamw betas .5/.9", n,
              (pb_adam_params){.lr = 3e-2f, .beta1 = 0.5f, .beta2 = 0.9f, .eps = 1e-6f, .weight_decay = 0.1f,
                               .decoupled = 1},
              seed + 8);
  }
  test_sumsq_clip(100003, 0.5, 11);
  test_sumsq_clip(100003, 2.0, 12);
  test_sumsq_clip(100003, 0.0, 13); /* clipping off */
  test_sumsq_clip(1, 0.5, 14);
  test_sumsq_clip(262145, 0.9, 15); /* more than one pass of the 1024 x 256 parts */
  test_sumsq_clip(0, 0.5, 16);      /* empty: sumsq 0, clip does nothing */

  pb_cuda_env_free(&g_env);
  return pb_test_exit("test_cuda_optim");
}
