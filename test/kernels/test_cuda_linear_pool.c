/* test_cuda_linear_pool.c: twin tests of kernels/cuda/linear.cu (cuBLAS), kernels/cuda/pool.cu
 * (own kernels) against kernels/cpu/linear.c and kernels/cpu/pool.c, and of the memory side
 * of kernels/cuda/env.cu. Needs a GPU: exits 77 (ctest: skipped) without one.
 *
 * Linear, shapes (n, in, out) with batch 1, odd and prime sizes, and a large one; with and
 * without bias, dx == NULL; dw and db accumulate onto non-zero pre-filled values, dx
 * overwrites garbage; env tf32 0 and 1. Tolerance |gpu - cpu| <= atol + rtol |cpu| with
 * M = max(1, max |cpu|) of the tensor: fp32 atol 1e-4 M, rtol 1e-4 (same products summed in
 * another order: ~sqrt(K) 2^-24 relative); TF32 atol 5e-3 M, rtol 5e-3 (each operand rounded
 * to a 10-bit mantissa, ~1e-3 per product, random-sign sums stay ~1e-3 M; factor 5 margin).
 *
 * Pooling: max pool (stride < kernel so windows overlap, stride 2 on odd sizes, padding,
 * values quantised to force ties, a NaN), avg pool (count_include_pad 0 and 1), global avg
 * pool. The CUDA kernels read each window in the CPU's order and the backward gathers in the
 * CPU's scatter order, so y, argmax, dx are expected BITWISE equal (checked exactly, NaN
 * positions included); GAP forward sums in double in another order: 1e-6 relative.
 *
 * Env: pb_cuda_alloc of 1 << 50 bytes must fail with "out of GPU memory" and the bytes asked,
 * and the process must stay usable (an op runs after it); pinned memory, h2d_overlap,
 * memset0 round trips. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/ops_cuda.h"
#include "test/cuda_twin.h"
#include "test/testutil.h"

/* The GEMM tolerance (pb_twin_check_gemm) on a device array. */
static double compare_tol(const char *what, const float *d_got, const float *ref, size_t n, int tf32,
                          const pb_cuda_env *env) {
  float *got = pb_twin_hostf(d_got, n, env);
  const double e = pb_twin_check_gemm(what, got, ref, n, tf32);
  free(got);
  return e;
}

/* ------------------------------------------------------------------ linear */

static void linear_case(int n, int in, int out, int with_bias, int with_dx, const pb_cuda_env *env,
                        const char *env_name, uint64_t seed) {
  const size_t nx = (size_t)n * in, nw = (size_t)out * in, ny = (size_t)n * out;
  float *x = malloc(nx * sizeof(float)), *w = malloc(nw * sizeof(float)), *b = malloc(out * sizeof(float));
  float *dy = malloc(ny * sizeof(float)), *y = malloc(ny * sizeof(float)), *dx = malloc(nx * sizeof(float));
  float *dw = malloc(nw * sizeof(float)), *db = malloc(out * sizeof(float));
  float *dw0 = malloc(nw * sizeof(float)), *db0 = malloc(out * sizeof(float));
  pb_test_fill_uniform(x, nx, -1.0f, 1.0f, seed + 1);
  pb_test_fill_uniform(w, nw, -1.0f, 1.0f, seed + 2);
  for (size_t i = 0; i < nw; i++) w[i] /= sqrtf((float)in);
  pb_test_fill_uniform(b, out, -0.5f, 0.5f, seed + 3);
  pb_test_fill_uniform(dy, ny, -1.0f, 1.0f, seed + 4);
  pb_test_fill_uniform(dw0, nw, -2.0f, 2.0f, seed + 5);
  pb_test_fill_uniform(db0, out, -2.0f, 2.0f, seed + 6);
  memcpy(dw, dw0, nw * sizeof(float));
  memcpy(db, db0, out * sizeof(float));
  pb_linear_fwd_cpu(y, x, w, with_bias ? b : NULL, n, in, out, 1);
  pb_linear_bwd_cpu(with_dx ? dx : NULL, dw, with_bias ? db : NULL, dy, x, w, n, in, out, 1);

  float *d_x = pb_twin_fromf(x, nx, env), *d_w = pb_twin_fromf(w, nw, env), *d_b = pb_twin_fromf(b, out, env);
  float *d_dy = pb_twin_fromf(dy, ny, env), *d_y = pb_twin_fromf(dy, ny, env), *d_dx = pb_twin_fromf(x, nx, env);
  float *d_dw = pb_twin_fromf(dw0, nw, env), *d_db = pb_twin_fromf(db0, out, env);
  pb_linear_fwd_cuda(d_y, d_x, d_w, with_bias ? d_b : NULL, n, in, out, env);
  pb_linear_bwd_cuda(with_dx ? d_dx : NULL, d_dw, with_bias ? d_db : NULL, d_dy, d_x, d_w, n, in, out, env);
  const int tf = env->tf32;
  double e_y = compare_tol("linear y", d_y, y, ny, tf, env);
  double e_dx = with_dx ? compare_tol("linear dx", d_dx, dx, nx, tf, env) : 0.0;
  if (!with_dx) pb_twin_check_bits("linear dx untouched when NULL", d_dx, x, nx, env);
  double e_dw = compare_tol("linear dw (+=)", d_dw, dw, nw, tf, env);
  double e_db = compare_tol("linear db (+=)", d_db, with_bias ? db : db0, out, tf, env);
  printf("  linear n %d in %d out %d bias %d dx %d [%s] max abs err: y %.2e dx %.2e dw %.2e db %.2e\n", n, in, out,
         with_bias, with_dx, env_name, e_y, e_dx, e_dw, e_db);
  pb_cuda_free(d_x), pb_cuda_free(d_w), pb_cuda_free(d_b), pb_cuda_free(d_dy), pb_cuda_free(d_y);
  pb_cuda_free(d_dx), pb_cuda_free(d_dw), pb_cuda_free(d_db);
  free(x), free(w), free(b), free(dy), free(y), free(dx), free(dw), free(db), free(dw0), free(db0);
}

/* ------------------------------------------------------------------ pooling */

typedef struct pool_case {
  const char *name;
  int n, c, h, w, kh, kw, sh, sw, ph, pw;
} pool_case;

static const pool_case pool_cases[] = {
    {"resnet 3x3 s2 p1 on 7x7", 2, 3, 7, 7, 3, 3, 2, 2, 1, 1},
    {"2x2 s2 batch1", 1, 5, 8, 8, 2, 2, 2, 2, 0, 0},
    {"3x3 s1 p1 overlapping 9x6", 2, 4, 9, 6, 3, 3, 1, 1, 1, 1},
    {"3x3 s3 p1 on 5x5", 1, 3, 5, 5, 3, 3, 3, 3, 1, 1},
    {"5x3 s(2,1) p(2,1) on 11x10", 2, 17, 11, 10, 5, 3, 2, 1, 2, 1},
    {"3x3 s2 p1 on 56x56", 4, 8, 56, 56, 3, 3, 2, 2, 1, 1},
};

static void pool_run(const pool_case *pc, int quantise, int with_nan, const pb_cuda_env *env, uint64_t seed) {
  pb_pool_params p = {.n = pc->n, .c = pc->c, .h_in = pc->h, .w_in = pc->w, .kh = pc->kh, .kw = pc->kw,
                      .stride_h = pc->sh, .stride_w = pc->sw, .pad_h = pc->ph, .pad_w = pc->pw, .count_include_pad = 1};
  if (pb_pool_params_finish(&p) != 0) {
    PB_CHECK_MSG(0, "pool case %s: bad params", pc->name);
    return;
  }
  const size_t nx = (size_t)p.n * p.c * p.h_in * p.w_in, ny = (size_t)p.n * p.c * p.h_out * p.w_out;
  float *x = malloc(nx * sizeof(float)), *dy = malloc(ny * sizeof(float));
  float *y = malloc(ny * sizeof(float)), *dx = malloc(nx * sizeof(float));
  int32_t *am = malloc(ny * sizeof(int32_t)), *am_got = malloc(ny * sizeof(int32_t));
  pb_test_fill_uniform(x, nx, -1.0f, 1.0f, seed + 1);
  pb_test_fill_uniform(dy, ny, -1.0f, 1.0f, seed + 2);
  if (quantise) /* few distinct values: ties in most windows */
    for (size_t i = 0; i < nx; i++) x[i] = roundf(x[i] * 2.0f) / 2.0f;
  if (with_nan) x[nx / 3] = NAN, x[nx / 3 + 1] = NAN;

  float *d_x = pb_twin_fromf(x, nx, env), *d_dy = pb_twin_fromf(dy, ny, env);
  float *d_y = pb_twin_fromf(dy, ny, env), *d_dx = pb_twin_fromf(x, nx, env); /* garbage: overwritten */
  int32_t *d_am = pb_twin_alloc(ny * sizeof(int32_t));

  /* max pool */
  pb_maxpool_fwd_cpu(y, am, x, &p);
  pb_maxpool_bwd_cpu(dx, dy, am, &p);
  pb_maxpool_fwd_cuda(d_y, d_am, d_x, &p, env);
  pb_cuda_d2h(am_got, d_am, ny * sizeof(int32_t), env);
  PB_CHECK_MSG(memcmp(am, am_got, ny * sizeof(int32_t)) == 0, "%s: argmax differs", pc->name);
  pb_twin_check_bits("maxpool y", d_y, y, ny, env);
  pb_maxpool_bwd_cuda(d_dx, d_dy, d_am, &p, env);
  pb_twin_check_bits("maxpool dx", d_dx, dx, nx, env);

  /* avg pool, both divisor rules (NaN-free input: a NaN would only spread) */
  if (!with_nan)
    for (int cip = 0; cip <= 1; cip++) {
      p.count_include_pad = cip;
      pb_avgpool_fwd_cpu(y, x, &p);
      pb_avgpool_bwd_cpu(dx, dy, &p);
      pb_avgpool_fwd_cuda(d_y, d_x, &p, env);
      pb_avgpool_bwd_cuda(d_dx, d_dy, &p, env);
      pb_twin_check_bits(cip ? "avgpool y (count_include_pad)" : "avgpool y", d_y, y, ny, env);
      pb_twin_check_bits(cip ? "avgpool dx (count_include_pad)" : "avgpool dx", d_dx, dx, nx, env);
    }
  printf("  pool %-32s quantised %d nan %d: out %dx%d checked\n", pc->name, quantise, with_nan, p.h_out, p.w_out);
  pb_cuda_free(d_x), pb_cuda_free(d_dy), pb_cuda_free(d_y), pb_cuda_free(d_dx), pb_cuda_free(d_am);
  free(x), free(dy), free(y), free(dx), free(am), free(am_got);
}

static void gap_case(int n, int c, int hw, const pb_cuda_env *env, uint64_t seed) {
  const size_t nx = (size_t)n * c * hw, ny = (size_t)n * c;
  float *x = malloc(nx * sizeof(float)), *dy = malloc(ny * sizeof(float));
  float *y = malloc(ny * sizeof(float)), *dx = malloc(nx * sizeof(float));
  pb_test_fill_uniform(x, nx, -1.0f, 3.0f, seed + 1);
  pb_test_fill_uniform(dy, ny, -1.0f, 1.0f, seed + 2);
  pb_gap_fwd_cpu(y, x, n, c, hw);
  pb_gap_bwd_cpu(dx, dy, n, c, hw);
  float *d_x = pb_twin_fromf(x, nx, env), *d_dy = pb_twin_fromf(dy, ny, env);
  float *d_y = pb_twin_fromf(dy, ny, env), *d_dx = pb_twin_fromf(x, nx, env);
  pb_gap_fwd_cuda(d_y, d_x, n, c, hw, env);
  pb_gap_bwd_cuda(d_dx, d_dy, n, c, hw, env);
  /* Both sum in double, in different orders: the float results agree to ~1 ulp. */
  double e = compare_tol("gap y", d_y, y, ny, 0, env);
  pb_twin_check_bits("gap dx", d_dx, dx, nx, env);
  printf("  gap %dx%dx%d: max abs err y %.2e\n", n, c, hw, e);
  pb_cuda_free(d_x), pb_cuda_free(d_dy), pb_cuda_free(d_y), pb_cuda_free(d_dx);
  free(x), free(dy), free(y), free(dx);
}

/* ------------------------------------------------------------------ env / memory */

static void env_checks(const pb_cuda_env *env) {
  /* Out of memory is reported, not fatal, and leaves the process usable. */
  pb_err err = {{0}};
  const size_t huge = (size_t)1 << 50;
  void *p = pb_cuda_alloc(huge, "a test tensor", &err);
  PB_CHECK(p == NULL);
  char bytes[32];
  snprintf(bytes, sizeof bytes, "%zu", huge);
  PB_CHECK_MSG(strstr(err.msg, "out of GPU memory") != NULL, "message: %s", err.msg);
  PB_CHECK_MSG(strstr(err.msg, bytes) != NULL, "message lacks the bytes asked (%s): %s", bytes, err.msg);
  PB_CHECK_MSG(strstr(err.msg, "a test tensor") != NULL, "message lacks what: %s", err.msg);
  printf("  OOM message: %s\n", err.msg);

  /* Still usable: pinned buffers, an overlapped copy, a memset, an op, a copy back. */
  const size_t n = 100003;
  float *pin = pb_cuda_host_alloc(n * sizeof(float), "test pinned", &err);
  PB_CHECK_MSG(pin != NULL, "host alloc: %s", err.msg);
  if (!pin) return;
  pb_test_fill_uniform(pin, n, -1.0f, 1.0f, 99);
  float *d = pb_twin_alloc(n * sizeof(float)), *d_y = pb_twin_alloc(sizeof(float) * 1);
  pb_cuda_memset0(d, n * sizeof(float), env);
  /* The overlapped copy does not wait for work already on env->stream (that is its point):
   * the memset must be done before it starts. */
  pb_cuda_sync(env);
  pb_cuda_h2d_overlap(d, pin, n * sizeof(float), env);
  pb_gap_fwd_cuda(d_y, d, 1, 1, (int)n, env); /* runs on env->stream after the copy */
  float y_got = 0, y_ref = 0;
  pb_cuda_d2h(&y_got, d_y, sizeof(float), env);
  pb_gap_fwd_cpu(&y_ref, pin, 1, 1, (int)n);
  PB_CHECK_MSG(fabsf(y_got - y_ref) <= 1e-6f * (1.0f + fabsf(y_ref)), "h2d_overlap + gap: got %g ref %g", y_got,
               y_ref);
  float *back = pb_twin_hostf(d, n, env);
  PB_CHECK(memcmp(back, pin, n * sizeof(float)) == 0);
  pb_cuda_memset0(d, n * sizeof(float), env);
  pb_cuda_sync(env);
  float *zeros = pb_twin_hostf(d, n, env);
  size_t nz = 0;
  for (size_t i = 0; i < n; i++) nz += zeros[i] != 0.0f;
  PB_CHECK(nz == 0);
  pb_cuda_h2d(d, NULL, 0, env); /* zero-byte copies are no-ops */
  pb_cuda_d2h(NULL, d, 0, env);
  void *z = pb_cuda_alloc(0, "empty", &err); /* a zero-byte request still gives a real pointer */
  PB_CHECK(z != NULL);
  pb_cuda_free(z);
  pb_cuda_free(NULL);
  pb_cuda_host_free(NULL);
  free(back), free(zeros);
  pb_cuda_free(d), pb_cuda_free(d_y);
  pb_cuda_host_free(pin);
}

int main(void) {
  pb_twin_require_gpu();
  for (int tf32 = 0; tf32 <= 1; tf32++) {
    pb_cuda_env env;
    pb_twin_env(&env, (size_t)16 << 20, 1, tf32);
    const char *name = tf32 ? "tf32" : "fp32";
    printf("env %s:\n", name);
    linear_case(1, 3, 5, 1, 1, &env, name, 11);
    linear_case(7, 17, 3, 1, 1, &env, name, 12);
    linear_case(7, 17, 3, 0, 0, &env, name, 13);
    linear_case(33, 100, 257, 1, 1, &env, name, 14);
    linear_case(64, 512, 10, 1, 0, &env, name, 15);
    linear_case(128, 1024, 100, 1, 1, &env, name, 16);
    linear_case(300, 5, 1, 1, 1, &env, name, 17);
    if (tf32 == 0) {
      for (size_t i = 0; i < sizeof pool_cases / sizeof pool_cases[0]; i++) {
        pool_run(&pool_cases[i], 0, 0, &env, 100 + i);
        pool_run(&pool_cases[i], 1, 0, &env, 200 + i);
        pool_run(&pool_cases[i], 0, 1, &env, 300 + i);
      }
      gap_case(2, 3, 49, &env, 1);
      gap_case(1, 17, 1, &env, 2);
      gap_case(4, 2048, 49, &env, 3);
      gap_case(2, 5, 3136, &env, 4);
      gap_case(1, 1, 100000, &env, 5);
      env_checks(&env);
    }
    pb_cuda_env_free(&env);
  }
  return pb_test_exit("test_cuda_linear_pool");
}
