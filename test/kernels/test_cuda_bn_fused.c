/* test_cuda_bn_fused.c: twin test of kernels/cuda/bn_fused.cu against the CPU reference
 * (kernels/cpu/bn_fused.c), the fused evaluation batch norm y = act(bn_eval(x) + r). Needs a
 * GPU: exits 77 (ctest: skipped) without one.
 *
 * Tolerance: BITWISE (a NaN matching a NaN). The kernel folds alpha in double exactly as the CPU
 * and rounds each float operation explicitly (__fsub_rn, __fmul_rn, __fadd_rn: no FMA), so
 * every element is the CPU's. Every residual / ReLU combination, out of place and in place over
 * x and over r; shapes: BatchNorm1d (hw 1), a 7x7 plane with 2048 channels (more planes than
 * threads), 112x112 (planes longer than a block) and an empty batch (no launch). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/ops_cuda.h"
#include "test/cuda_twin.h"
#include "test/testutil.h"

static pb_cuda_env g_env;

static void one_case(int n, int c, int hw, uint64_t seed) {
  pb_bn_params p = {n, c, hw, 1e-5f, 0.1f, 0};
  const size_t cnt = (size_t)n * c * hw;
  float *x = malloc(cnt * sizeof(float)), *r = malloc(cnt * sizeof(float)), *ref = malloc(cnt * sizeof(float));
  float *g = malloc((size_t)c * sizeof(float)), *b = malloc((size_t)c * sizeof(float));
  float *m = malloc((size_t)c * sizeof(float)), *v = malloc((size_t)c * sizeof(float));
  pb_test_fill_uniform(x, cnt, -3, 3, seed), pb_test_fill_uniform(r, cnt, -2, 2, seed + 1);
  pb_test_fill_uniform(g, (size_t)c, -1.5f, 1.5f, seed + 2), pb_test_fill_uniform(b, (size_t)c, -1, 1, seed + 3);
  pb_test_fill_uniform(m, (size_t)c, -0.5f, 0.5f, seed + 4), pb_test_fill_uniform(v, (size_t)c, 0.01f, 4, seed + 5);
  v[0] = 1e-9f;
  const float specials[] = {-0.0f, NAN, 1e30f, -1e30f};
  for (size_t s = 0; s < 4 && 5 * s + 3 < cnt; s++) x[5 * s + 3] = specials[s];
  float *d_x = pb_twin_fromf(x, cnt, &g_env), *d_r = pb_twin_fromf(r, cnt, &g_env), *d_y = pb_twin_fromf(r, cnt, &g_env);
  float *d_g = pb_twin_fromf(g, (size_t)c, &g_env), *d_b = pb_twin_fromf(b, (size_t)c, &g_env);
  float *d_m = pb_twin_fromf(m, (size_t)c, &g_env), *d_v = pb_twin_fromf(v, (size_t)c, &g_env);
  for (int with_r = 0; with_r < 2; with_r++)
    for (int relu = 0; relu < 2; relu++) {
      pb_bn_eval_fused_cpu(ref, x, with_r ? r : NULL, g, b, m, v, relu, &p, 2);
      char what[128];
      snprintf(what, sizeof what, "bn_eval_fused %dx%dx%d residual %d relu %d", n, c, hw, with_r, relu);
      pb_bn_eval_fused_cuda(d_y, d_x, with_r ? d_r : NULL, d_g, d_b, d_m, d_v, relu, &p, &g_env);
      pb_twin_check_bits(what, d_y, ref, cnt, &g_env);
      float *d_io = pb_twin_fromf(x, cnt, &g_env);
      pb_bn_eval_fused_cuda(d_io, d_io, with_r ? d_r : NULL, d_g, d_b, d_m, d_v, relu, &p, &g_env);
      snprintf(what, sizeof what, "bn_eval_fused in place over x %dx%dx%d residual %d relu %d", n, c, hw, with_r,
               relu);
      pb_twin_check_bits(what, d_io, ref, cnt, &g_env);
      pb_cuda_free(d_io);
      if (with_r) {
        d_io = pb_twin_fromf(r, cnt, &g_env);
        pb_bn_eval_fused_cuda(d_io, d_x, d_io, d_g, d_b, d_m, d_v, relu, &p, &g_env);
        snprintf(what, sizeof what, "bn_eval_fused in place over r %dx%dx%d relu %d", n, c, hw, relu);
        pb_twin_check_bits(what, d_io, ref, cnt, &g_env);
        pb_cuda_free(d_io);
      }
    }
  printf("  %dx%dx%d: 4 variants, out of place and in place, bitwise the CPU\n", n, c, hw);
  pb_cuda_free(d_x), pb_cuda_free(d_r), pb_cuda_free(d_y), pb_cuda_free(d_g), pb_cuda_free(d_b);
  pb_cuda_free(d_m), pb_cuda_free(d_v);
  free(x), free(r), free(ref), free(g), free(b), free(m), free(v);
}

int main(void) {
  pb_twin_require_gpu();
  pb_twin_env(&g_env, (size_t)16 << 20, 0, 0);
  one_case(5, 3, 1, 1);
  one_case(4, 2048, 49, 2);
  one_case(2, 8, 12544, 3);
  pb_bn_params empty = {0, 3, 16, 1e-5f, 0.1f, 0};
  pb_bn_eval_fused_cuda(NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1, &empty, &g_env);
  pb_cuda_sync(&g_env);
  pb_cuda_env_free(&g_env);
  return pb_test_exit("test_cuda_bn_fused");
}
