/* test_cuda_conv.c: twin test of kernels/cuda/conv.cu (cuDNN) against kernels/cpu/conv.c.
 * Needs a GPU: exits 77 (ctest: skipped) without one.
 *
 * For several shapes, awkward on purpose (batch 1, channel counts 3, 5, 17 that are not
 * multiples of 8, stride 2 on odd sizes, padding 3 with a 7x7 kernel, dilation 2, groups 2 and
 * depthwise, 1x1, no bias), and for every environment of {deterministic 0, 1} x {tf32 0, 1}
 * plus one with NO workspace (only zero-workspace algorithms qualify):
 *  - y, dx, dw, dbias against the CPU twin on the same random inputs;
 *  - accumulation: dw and dbias are pre-filled with non-zero values and must come back as
 *    pre-fill + gradient (which also proves that the algorithm search, cudnnFind, which runs
 *    the convolution, did not write into dw), then a second call must add the gradient again;
 *  - the second call of each op takes the cached algorithm; with deterministic 1 it must give
 *    bitwise the same y and dx as the first, and a fresh dw the same as the first dw.
 *
 * Tolerances, |gpu - cpu| <= atol + rtol * |cpu|, with M = max(1, max |cpu|) of the tensor:
 *  - fp32 (tf32 0): atol 1e-4 * M, rtol 1e-4. Both sides are fp32 sums of K products in
 *    different orders (rounding ~ sqrt(K) * 2^-24 * sum|terms|, ~1e-6 relative here); cuDNN's
 *    FFT and Winograd algorithms add transform rounding that scales with the whole tensor's
 *    magnitude rather than each element's, hence atol relative to M. An indexing bug gives
 *    errors of the order of M itself.
 *  - TF32 (tf32 1): atol 5e-3 * M, rtol 5e-3. TF32 keeps 10 of fp32's 23 mantissa bits:
 *    rounding each operand costs up to 2^-11 ~ 4.9e-4 relative, so a product up to ~1e-3;
 *    summed in fp32 over K products of random sign, the error of an output is ~1e-3 *
 *    sqrt(sum of squared products) <= ~1e-3 * M, and 5e-3 leaves a factor 5 of margin.
 * Inputs: x, dy in [-1, 1); w in [-1, 1) / sqrt(K) (as a Kaiming-like init, so y is O(1)). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda_device.h"
#include "kernels/ops.h"
#include "kernels/ops_cuda.h"
#include "test/cuda_twin.h"
#include "test/testutil.h"

typedef struct conv_case {
  const char *name;
  int n, c_in, h, w, c_out, kh, kw, sh, sw, ph, pw, dh, dw, groups, bias;
} conv_case;

static const conv_case cases[] = {
    {"3->5 k3 s1 p1", 2, 3, 8, 8, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {"batch1 17->8 k3 s2 p1 on 9x7", 1, 17, 9, 7, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    {"groups2 dil2 4->6 k3 p2", 3, 4, 10, 10, 6, 3, 3, 1, 1, 2, 2, 2, 2, 2, 1},
    {"1x1 16->32", 2, 16, 7, 7, 32, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1},
    {"stem 3->8 k7 s2 p3 on 13x11 no bias", 2, 3, 13, 11, 8, 7, 7, 2, 2, 3, 3, 1, 1, 1, 0},
    {"depthwise 6 k3 p1", 2, 6, 6, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 6, 1},
    {"1x1 s2 5->17 on 9x9", 3, 5, 9, 9, 17, 1, 1, 2, 2, 0, 0, 1, 1, 1, 1},
    {"64->64 k3 p1 14x14", 4, 64, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {"asymmetric k3x1 s(2,1) p(1,0) dil(1,2)", 2, 5, 11, 8, 7, 3, 1, 2, 1, 1, 0, 1, 2, 1, 1},
};

static void to_host(float *h, const float *d, size_t n, const pb_cuda_env *env) {
  pb_cuda_d2h(h, d, n * sizeof(float), env);
}

static void run_case(const conv_case *cs, const pb_cuda_env *env, const char *env_name, uint64_t seed) {
  pb_conv2d_params p = {.n = cs->n, .c_in = cs->c_in, .h_in = cs->h, .w_in = cs->w, .c_out = cs->c_out,
                        .kh = cs->kh, .kw = cs->kw, .stride_h = cs->sh, .stride_w = cs->sw, .pad_h = cs->ph,
                        .pad_w = cs->pw, .dil_h = cs->dh, .dil_w = cs->dw, .groups = cs->groups};
  if (pb_conv2d_params_finish(&p) != 0) {
    PB_CHECK_MSG(0, "case %s: bad params", cs->name);
    return;
  }
  const int K = p.c_in / p.groups * p.kh * p.kw;
  const size_t nx = (size_t)p.n * p.c_in * p.h_in * p.w_in;
  const size_t ny = (size_t)p.n * p.c_out * p.h_out * p.w_out;
  const size_t nw = (size_t)p.c_out * (p.c_in / p.groups) * p.kh * p.kw;
  const size_t nb = (size_t)p.c_out;
  float *x = malloc(nx * sizeof(float)), *w = malloc(nw * sizeof(float)), *b = malloc(nb * sizeof(float));
  float *dy = malloc(ny * sizeof(float)), *dw0 = malloc(nw * sizeof(float)), *db0 = malloc(nb * sizeof(float));
  float *y_ref = malloc(ny * sizeof(float)), *dx_ref = malloc(nx * sizeof(float));
  float *dw_ref = malloc(nw * sizeof(float)), *db_ref = malloc(nb * sizeof(float));
  float *dw_ref2 = malloc(nw * sizeof(float)), *db_ref2 = malloc(nb * sizeof(float));
  float *y_got = malloc(ny * sizeof(float)), *y_got2 = malloc(ny * sizeof(float));
  float *dx_got = malloc(nx * sizeof(float)), *dx_got2 = malloc(nx * sizeof(float));
  float *dw_got = malloc(nw * sizeof(float)), *dw_got2 = malloc(nw * sizeof(float));
  float *db_got = malloc(nb * sizeof(float));
  pb_test_fill_uniform(x, nx, -1.0f, 1.0f, seed + 1);
  pb_test_fill_uniform(w, nw, -1.0f, 1.0f, seed + 2);
  for (size_t i = 0; i < nw; i++) w[i] /= sqrtf((float)K);
  pb_test_fill_uniform(b, nb, -0.5f, 0.5f, seed + 3);
  pb_test_fill_uniform(dy, ny, -1.0f, 1.0f, seed + 4);
  pb_test_fill_uniform(dw0, nw, -2.0f, 2.0f, seed + 5);
  pb_test_fill_uniform(db0, nb, -2.0f, 2.0f, seed + 6);
  const float *bias = cs->bias ? b : NULL;

  /* CPU reference (single thread). */
  const size_t sf = pb_conv2d_scratch_cpu(&p, 1);
  pb_scratch s = {.buf = malloc((sf ? sf : 1) * sizeof(float)), .floats = sf, .nthreads = 1};
  pb_conv2d_fwd_cpu(y_ref, x, w, bias, &p, &s);
  pb_conv2d_bwd_data_cpu(dx_ref, dy, w, &p, &s);
  memcpy(dw_ref, dw0, nw * sizeof(float));
  memcpy(db_ref, db0, nb * sizeof(float));
  pb_conv2d_bwd_filter_cpu(dw_ref, cs->bias ? db_ref : NULL, dy, x, &p, &s);
  memcpy(dw_ref2, dw_ref, nw * sizeof(float));
  memcpy(db_ref2, db_ref, nb * sizeof(float));
  pb_conv2d_bwd_filter_cpu(dw_ref2, cs->bias ? db_ref2 : NULL, dy, x, &p, &s);

  /* GPU. */
  float *d_x = pb_twin_fromf(x, nx, env), *d_w = pb_twin_fromf(w, nw, env), *d_b = pb_twin_fromf(b, nb, env);
  float *d_dy = pb_twin_fromf(dy, ny, env), *d_dw = pb_twin_fromf(dw0, nw, env), *d_db = pb_twin_fromf(db0, nb, env);
  float *d_dw2 = pb_twin_fromf(dw0, nw, env);
  float *d_y = pb_twin_fromf(y_ref, ny, env), *d_dx = pb_twin_fromf(dx_ref, nx, env); /* garbage-in: overwritten */
  pb_cuda_memset0(d_y, ny * sizeof(float), env);
  const int tf = env->tf32;

  pb_conv2d_fwd_cuda(d_y, d_x, d_w, cs->bias ? d_b : NULL, &p, env); /* first: measures, then computes */
  to_host(y_got, d_y, ny, env);
  double e_y = pb_twin_check_gemm("y", y_got, y_ref, ny, tf);
  pb_conv2d_fwd_cuda(d_y, d_x, d_w, cs->bias ? d_b : NULL, &p, env); /* cached algorithm */
  to_host(y_got2, d_y, ny, env);
  pb_twin_check_gemm("y (cached)", y_got2, y_ref, ny, tf);

  pb_conv2d_bwd_data_cuda(d_dx, d_dy, d_w, &p, env);
  to_host(dx_got, d_dx, nx, env);
  double e_dx = pb_twin_check_gemm("dx", dx_got, dx_ref, nx, tf);
  pb_conv2d_bwd_data_cuda(d_dx, d_dy, d_w, &p, env);
  to_host(dx_got2, d_dx, nx, env);
  pb_twin_check_gemm("dx (cached)", dx_got2, dx_ref, nx, tf);

  pb_conv2d_bwd_filter_cuda(d_dw, cs->bias ? d_db : NULL, d_dy, d_x, &p, env);
  to_host(dw_got, d_dw, nw, env);
  to_host(db_got, d_db, nb, env);
  double e_dw = pb_twin_check_gemm("dw (+= once)", dw_got, dw_ref, nw, tf);
  double e_db = pb_twin_check_gemm("dbias (+= once)", db_got, db_ref, nb, tf); /* db0 itself when no bias */
  /* A fresh pre-filled dw through the cached algorithm. */
  pb_conv2d_bwd_filter_cuda(d_dw2, NULL, d_dy, d_x, &p, env);
  to_host(dw_got2, d_dw2, nw, env);
  pb_twin_check_gemm("dw fresh (cached)", dw_got2, dw_ref, nw, tf);
  if (env->deterministic) {
    PB_CHECK_MSG(memcmp(y_got, y_got2, ny * sizeof(float)) == 0, "%s [%s]: y not bitwise reproducible", cs->name,
                 env_name);
    PB_CHECK_MSG(memcmp(dx_got, dx_got2, nx * sizeof(float)) == 0, "%s [%s]: dx not bitwise reproducible", cs->name,
                 env_name);
    PB_CHECK_MSG(memcmp(dw_got, dw_got2, nw * sizeof(float)) == 0, "%s [%s]: dw not bitwise reproducible", cs->name,
                 env_name);
  }
  /* Second accumulation into the first dw / dbias. */
  pb_conv2d_bwd_filter_cuda(d_dw, cs->bias ? d_db : NULL, d_dy, d_x, &p, env);
  to_host(dw_got, d_dw, nw, env);
  to_host(db_got, d_db, nb, env);
  pb_twin_check_gemm("dw (+= twice)", dw_got, dw_ref2, nw, tf);
  pb_twin_check_gemm("dbias (+= twice)", db_got, db_ref2, nb, tf);

  printf("  %-40s [%s] max abs err: y %.2e dx %.2e dw %.2e db %.2e (max |y| %.2f |dw| %.2f)\n", cs->name, env_name,
         e_y, e_dx, e_dw, e_db, pb_twin_max_abs(y_ref, ny), pb_twin_max_abs(dw_ref, nw));

  pb_cuda_free(d_x), pb_cuda_free(d_w), pb_cuda_free(d_b), pb_cuda_free(d_dy), pb_cuda_free(d_dw);
  pb_cuda_free(d_db), pb_cuda_free(d_dw2), pb_cuda_free(d_y), pb_cuda_free(d_dx);
  free(s.buf);
  free(x), free(w), free(b), free(dy), free(dw0), free(db0), free(y_ref), free(dx_ref), free(dw_ref), free(db_ref);
  free(dw_ref2), free(db_ref2), free(y_got), free(y_got2), free(dx_got), free(dx_got2), free(dw_got), free(dw_got2);
  free(db_got);
}

int main(void) {
  pb_twin_require_gpu();
  char desc[512];
  pb_cuda_describe(0, desc, sizeof desc);
  printf("%s\n", desc);
  const struct {
    const char *name;
    int det, tf32;
    size_t ws;
  } envs[] = {
      {"det0 fp32", 0, 0, (size_t)64 << 20}, {"det1 fp32", 1, 0, (size_t)64 << 20},
      {"det0 tf32", 0, 1, (size_t)64 << 20}, {"det1 tf32", 1, 1, (size_t)64 << 20},
      {"det0 fp32 no workspace", 0, 0, 0},
  };
  for (size_t e = 0; e < sizeof envs / sizeof envs[0]; e++) {
    pb_cuda_env env;
    pb_twin_env(&env, envs[e].ws, envs[e].det, envs[e].tf32);
    printf("env %s:\n", envs[e].name);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) run_case(&cases[c], &env, envs[e].name, 1000 * c + 7);
    pb_cuda_env_free(&env);
  }
  return pb_test_exit("test_cuda_conv");
}
