/* test_cuda_add_crop.c: twin test of kernels/cuda/crop_add.cu against the CPU reference
 * (kernels/cpu/crop_add.c), the BagNet residual add y = a + b[:, :, :h, :w] and its backward
 * db = dy padded with zeros. Needs a GPU: exits 77 (ctest: skipped) without one.
 *
 * Tolerance: BITWISE (a NaN matching a NaN). Each output element is one IEEE-rounded add
 * (__fadd_rn on the GPU, no FMA to contract) or a copy / zero, exactly as the CPU. Inputs hold
 * -0, large magnitudes and a NaN; shapes: no crop, BagNet18's 31 -> 30, a crop in one
 * dimension, 1x1 outputs and one of 4 M elements (thousands of blocks), plus y aliasing a and
 * an empty batch (no launch). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/ops_cuda.h"
#include "test/cuda_twin.h"
#include "test/testutil.h"

static pb_cuda_env g_env;

static void one_case(int n, int c, int h, int w, int h_in, int w_in, uint64_t seed) {
  pb_crop_params p = {n, c, h, w, h_in, w_in, 0};
  const size_t no = (size_t)n * c * h * w, ni = (size_t)n * c * h_in * w_in;
  float *a = malloc(no * sizeof(float)), *b = malloc(ni * sizeof(float)), *y = malloc(no * sizeof(float));
  float *dy = malloc(no * sizeof(float)), *db = malloc(ni * sizeof(float));
  pb_test_fill_uniform(a, no, -3, 3, seed), pb_test_fill_uniform(b, ni, -3, 3, seed + 1);
  pb_test_fill_uniform(dy, no, -1, 1, seed + 2);
  const float specials[] = {-0.0f, 1e30f, -1e30f, NAN};
  for (size_t s = 0; s < 4 && 3 * s + 2 < no; s++) a[3 * s + 1] = specials[s], dy[3 * s + 2] = specials[s];
  float *d_a = pb_twin_fromf(a, no, &g_env), *d_b = pb_twin_fromf(b, ni, &g_env), *d_y = pb_twin_fromf(a, no, &g_env);
  float *d_dy = pb_twin_fromf(dy, no, &g_env), *d_db = pb_twin_fromf(b, ni, &g_env); /* garbage: overwritten */
  char what[128];
  pb_add_crop_fwd_cpu(y, a, b, &p);
  pb_add_crop_fwd_cuda(d_y, d_a, d_b, &p, &g_env);
  snprintf(what, sizeof what, "add_crop fwd %dx%dx%dx%d from %dx%d", n, c, h, w, h_in, w_in);
  pb_twin_check_bits(what, d_y, y, no, &g_env);
  pb_add_crop_fwd_cuda(d_a, d_a, d_b, &p, &g_env); /* in place */
  snprintf(what, sizeof what, "add_crop fwd in place %dx%dx%dx%d", n, c, h, w);
  pb_twin_check_bits(what, d_a, y, no, &g_env);
  pb_add_crop_bwd_cpu(db, dy, &p);
  pb_add_crop_bwd_cuda(d_db, d_dy, &p, &g_env);
  snprintf(what, sizeof what, "add_crop bwd %dx%dx%dx%d from %dx%d", n, c, h, w, h_in, w_in);
  pb_twin_check_bits(what, d_db, db, ni, &g_env);
  printf("  %dx%dx%dx%d from %dx%d: forward, in-place forward and backward bitwise\n", n, c, h, w, h_in, w_in);
  pb_cuda_free(d_a), pb_cuda_free(d_b), pb_cuda_free(d_y), pb_cuda_free(d_dy), pb_cuda_free(d_db);
  free(a), free(b), free(y), free(dy), free(db);
}

int main(void) {
  pb_twin_require_gpu();
  pb_twin_env(&g_env, (size_t)16 << 20, 0, 0);
  one_case(2, 3, 5, 5, 5, 5, 1);
  one_case(2, 64, 30, 30, 31, 31, 2);
  one_case(3, 2, 4, 6, 6, 6, 3);
  one_case(1, 5, 1, 1, 3, 2, 4);
  one_case(8, 256, 45, 45, 47, 46, 5);
  pb_crop_params empty = {0, 3, 4, 4, 5, 5, 0};
  pb_add_crop_fwd_cuda(NULL, NULL, NULL, &empty, &g_env);
  pb_add_crop_bwd_cuda(NULL, NULL, &empty, &g_env);
  pb_cuda_sync(&g_env);
  pb_cuda_env_free(&g_env);
  return pb_test_exit("test_cuda_add_crop");
}
