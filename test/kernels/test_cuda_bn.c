/* test_cuda_bn.c: twin test of kernels/cuda/batchnorm.cu (cuDNN) against kernels/cpu/batchnorm.c.
 * Needs a GPU: exits 77 (ctest: skipped) without one.
 *
 * Shapes [n, c, hw]: batch 1, channel counts 3, 5, 17 (not multiples of 8), BatchNorm1d
 * (hw == 1), a large plane, and one with many channels; x offset from zero (mean ~1) so the
 * mean matters. For each:
 *  - training forward: y, save_mean, save_invstd, and running_mean / running_var updated from
 *    non-trivial pre-filled values (running_var with the UNBIASED batch variance, as PyTorch);
 *  - eval forward with the running statistics;
 *  - backward: dx (overwritten: pre-filled with garbage), dgamma and dbeta accumulated onto
 *    non-zero pre-filled values;
 *  - with deterministic and tf32 envs alike (batch norm has no TF32 path; both are run to show
 *    the env flags do not change it), and a second backward must be bitwise equal to the first.
 *
 * Tolerance |gpu - cpu| <= 1e-4 + 1e-4 |cpu| everywhere. The CPU sums in double; cuDNN in
 * float with its own order: for M = n*hw <= 16000 elements of magnitude ~1, float rounding of
 * the sums is ~ sqrt(M) * 2^-24 ~ 1e-5 relative, well inside; y, dx and invstd are O(1..3). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/ops_cuda.h"
#include "test/cuda_twin.h"
#include "test/testutil.h"

#define BN_ATOL 1e-4
#define BN_RTOL 1e-4

typedef struct bn_case {
  const char *name;
  int n, c, hw;
} bn_case;

static const bn_case cases[] = {
    {"4x3x25", 4, 3, 25},      {"batch1 1x5x49", 1, 5, 49}, {"1d 8x17x1", 8, 17, 1},    {"1d 32x8x1", 32, 8, 1},
    {"2x64x196", 2, 64, 196},  {"3x7x1000", 3, 7, 1000},    {"16x256x49", 16, 256, 49}, {"2x3x8000", 2, 3, 8000},
};

static double cmp(const char *what, const float *d_got, const float *ref, size_t n, const pb_cuda_env *env) {
  return pb_twin_check_close(what, d_got, ref, n, BN_ATOL, BN_RTOL, env);
}

static void run_case(const bn_case *cs, const pb_cuda_env *env, const char *env_name, uint64_t seed) {
  pb_bn_params p = {.n = cs->n, .c = cs->c, .hw = cs->hw, .eps = 1e-5f, .momentum = 0.1f};
  const size_t nx = (size_t)p.n * p.c * p.hw, nc = (size_t)p.c;
  float *x = malloc(nx * sizeof(float)), *dy = malloc(nx * sizeof(float)), *y = malloc(nx * sizeof(float));
  float *dx = malloc(nx * sizeof(float)), *ye = malloc(nx * sizeof(float));
  float *gamma = malloc(nc * sizeof(float)), *beta = malloc(nc * sizeof(float));
  float *rm = malloc(nc * sizeof(float)), *rv = malloc(nc * sizeof(float));
  float *rm0 = malloc(nc * sizeof(float)), *rv0 = malloc(nc * sizeof(float));
  float *sm = malloc(nc * sizeof(float)), *si = malloc(nc * sizeof(float));
  float *dg = malloc(nc * sizeof(float)), *dbt = malloc(nc * sizeof(float));
  float *dg0 = malloc(nc * sizeof(float)), *dbt0 = malloc(nc * sizeof(float));
  pb_test_fill_uniform(x, nx, -1.0f, 3.0f, seed + 1);
  pb_test_fill_uniform(dy, nx, -1.0f, 1.0f, seed + 2);
  pb_test_fill_uniform(gamma, nc, 0.5f, 1.5f, seed + 3);
  pb_test_fill_uniform(beta, nc, -0.5f, 0.5f, seed + 4);
  pb_test_fill_uniform(rm0, nc, -0.2f, 0.2f, seed + 5);
  pb_test_fill_uniform(rv0, nc, 0.5f, 2.0f, seed + 6);
  pb_test_fill_uniform(dg0, nc, -1.0f, 1.0f, seed + 7);
  pb_test_fill_uniform(dbt0, nc, -1.0f, 1.0f, seed + 8);

  /* CPU reference. */
  memcpy(rm, rm0, nc * sizeof(float));
  memcpy(rv, rv0, nc * sizeof(float));
  memcpy(dg, dg0, nc * sizeof(float));
  memcpy(dbt, dbt0, nc * sizeof(float));
  pb_bn_fwd_train_cpu(y, sm, si, rm, rv, x, gamma, beta, &p, 1);
  pb_bn_fwd_eval_cpu(ye, x, gamma, beta, rm, rv, &p, 1);
  pb_bn_bwd_cpu(dx, dg, dbt, dy, x, gamma, sm, si, &p, 1);

  /* GPU. */
  float *d_x = pb_twin_fromf(x, nx, env), *d_dy = pb_twin_fromf(dy, nx, env);
  float *d_y = pb_twin_fromf(dy, nx, env), *d_dx = pb_twin_fromf(x, nx, env); /* garbage */
  float *d_ye = pb_twin_fromf(dy, nx, env);                                    /* garbage */
  float *d_g = pb_twin_fromf(gamma, nc, env), *d_b = pb_twin_fromf(beta, nc, env);
  float *d_rm = pb_twin_fromf(rm0, nc, env), *d_rv = pb_twin_fromf(rv0, nc, env);
  float *d_sm = pb_twin_fromf(rm0, nc, env), *d_si = pb_twin_fromf(rv0, nc, env);
  float *d_dg = pb_twin_fromf(dg0, nc, env), *d_dbt = pb_twin_fromf(dbt0, nc, env);
  float *d_dg2 = pb_twin_fromf(dg0, nc, env), *d_dbt2 = pb_twin_fromf(dbt0, nc, env);

  pb_bn_fwd_train_cuda(d_y, d_sm, d_si, d_rm, d_rv, d_x, d_g, d_b, &p, env);
  const double e_y = cmp("y (train)", d_y, y, nx, env);
  const double e_sm = cmp("save_mean", d_sm, sm, nc, env);
  const double e_si = cmp("save_invstd", d_si, si, nc, env);
  const double e_rm = cmp("running_mean", d_rm, rm, nc, env);
  const double e_rv = cmp("running_var (unbiased)", d_rv, rv, nc, env);
  pb_bn_fwd_eval_cuda(d_ye, d_x, d_g, d_b, d_rm, d_rv, &p, env);
  const double e_ye = cmp("y (eval)", d_ye, ye, nx, env);
  /* Backward from the GPU's own saved statistics (as in training). */
  pb_bn_bwd_cuda(d_dx, d_dg, d_dbt, d_dy, d_x, d_g, d_sm, d_si, &p, env);
  const double e_dx = cmp("dx", d_dx, dx, nx, env);
  const double e_dg = cmp("dgamma (+=)", d_dg, dg, nc, env);
  const double e_db = cmp("dbeta (+=)", d_dbt, dbt, nc, env);
  /* Reproducibility: a second backward into fresh accumulators, bitwise. */
  float *dx1 = pb_twin_hostf(d_dx, nx, env), *g1 = pb_twin_hostf(d_dg, nc, env);
  pb_bn_bwd_cuda(d_dx, d_dg2, d_dbt2, d_dy, d_x, d_g, d_sm, d_si, &p, env);
  float *dx2 = pb_twin_hostf(d_dx, nx, env), *g2 = pb_twin_hostf(d_dg2, nc, env);
  PB_CHECK_MSG(memcmp(dx1, dx2, nx * sizeof(float)) == 0 && memcmp(g1, g2, nc * sizeof(float)) == 0,
               "%s [%s]: backward not bitwise reproducible", cs->name, env_name);

  printf("  %-16s [%s] max abs err: y %.2e mean %.2e invstd %.2e rmean %.2e rvar %.2e eval %.2e dx %.2e dgamma "
         "%.2e dbeta %.2e\n",
         cs->name, env_name, e_y, e_sm, e_si, e_rm, e_rv, e_ye, e_dx, e_dg, e_db);

  pb_cuda_free(d_x), pb_cuda_free(d_dy), pb_cuda_free(d_y), pb_cuda_free(d_dx), pb_cuda_free(d_ye);
  pb_cuda_free(d_g), pb_cuda_free(d_b), pb_cuda_free(d_rm), pb_cuda_free(d_rv), pb_cuda_free(d_sm);
  pb_cuda_free(d_si), pb_cuda_free(d_dg), pb_cuda_free(d_dbt), pb_cuda_free(d_dg2), pb_cuda_free(d_dbt2);
  free(x), free(dy), free(y), free(dx), free(ye), free(gamma), free(beta), free(rm), free(rv), free(rm0);
  free(rv0), free(sm), free(si), free(dg), free(dbt), free(dg0), free(dbt0), free(dx1), free(dx2), free(g1);
  free(g2);
}

int main(void) {
  pb_twin_require_gpu();
  const struct {
    const char *name;
    int det, tf32;
  } envs[] = {{"det0 tf32 0", 0, 0}, {"det1 tf32 1", 1, 1}};
  for (size_t e = 0; e < sizeof envs / sizeof envs[0]; e++) {
    pb_cuda_env env;
    pb_twin_env(&env, (size_t)16 << 20, envs[e].det, envs[e].tf32);
    printf("env %s:\n", envs[e].name);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) run_case(&cases[c], &env, envs[e].name, 100 * c + 3);
    pb_cuda_env_free(&env);
  }
  return pb_test_exit("test_cuda_bn");
}
