/* test_cuda_bn_sync.c: twin test of kernels/cuda/bn_sync.cu against kernels/cpu/bn_sync.c.
 * Needs a GPU: exits 77 (ctest: skipped) without one.
 *
 * Each case is one simulated rank holding the first `part` of n samples; the GLOBAL sums are
 * the CPU's over all n (so local != global unless part == n), as after the all-reduce.
 *  - op by op, on the same inputs: bn_sums (the rank's part), bn_fwd_sync (the CPU's global
 *    sums; running stats from non-trivial values), bn_bwd_sums (the CPU's saved statistics),
 *    bn_bwd_sync (the CPU's local and global backward sums; dgamma / dbeta onto non-zero
 *    values, dx pre-filled with garbage);
 *  - the GPU pipeline end to end (its own sums and statistics), and a second run of it bitwise
 *    equal to the first (no atomics);
 *  - a rank with no samples (part 0): zero sums, count 0, still the statistics.
 * Tolerances. The double sums: |gpu - cpu| <= 1e-9 S, S = max(1, count, max |ref|): both sum
 * the same doubles in another order (~1e-16 relative per term). Float outputs: op by op the GPU
 * evaluates the CPU's expressions explicitly rounded from the same inputs, so they should agree
 * to the bit (the number of differing elements is printed); the check allows 1e-5 M + 1e-5
 * |ref|, M = max(1, max |ref|), which also covers the end-to-end pipeline, where the sums differ
 * in their last bits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/ops_cuda.h"
#include "test/cuda_twin.h"
#include "test/testutil.h"

#define TOL 1e-5
#define SUM_TOL 1e-9

typedef struct bns_case {
  const char *name;
  int n, part, c, hw;
  float lo, hi; /* x uniform in [lo, hi) */
} bns_case;

static const bns_case cases[] = {
    {"4x3x25 whole", 4, 4, 3, 25, -1.0f, 3.0f},       {"1d 8x17x1 whole", 8, 8, 17, 1, -2.0f, 2.0f},
    {"6x5x7 part 4", 6, 4, 5, 7, -1.0f, 3.0f},        {"2x64x196 part 1", 2, 1, 64, 196, -1.0f, 3.0f},
    {"2x3x64 mean 100", 2, 2, 3, 64, 99.0f, 101.0f},  {"3x4x9 part 0", 3, 0, 4, 9, -1.0f, 1.0f},
    {"64x8x3136 part 48", 64, 48, 8, 3136, -1.0f, 3.0f},
};

static double cmpf(const char *what, const char *cs, const float *d_got, const float *ref, size_t n,
                   const pb_cuda_env *env) {
  double m = 1.0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs(ref[i]));
  char name[128];
  snprintf(name, sizeof name, "%s [%s]", what, cs);
  float *got = pb_twin_hostf(d_got, n, env);
  const size_t bits = pb_twin_diff_bits_nan(got, ref, n, NULL);
  if (bits) printf("    %s: %zu of %zu elements differ in bits\n", name, bits, n);
  free(got);
  return pb_twin_check_close(name, d_got, ref, n, TOL * m, TOL, env) / m;
}

static double cmpd(const char *what, const char *cs, const double *d_got, const double *ref, size_t n, double count,
                   const pb_cuda_env *env) {
  double *got = pb_twin_host(d_got, n * sizeof(double), env);
  double s = fmax(1.0, count), e = 0.0;
  for (size_t i = 0; i < n; i++) s = fmax(s, fabs(ref[i]));
  for (size_t i = 0; i < n; i++) e = fmax(e, fabs(got[i] - ref[i]));
  PB_CHECK_MSG(e <= SUM_TOL * s, "%s [%s]: max |gpu - cpu| %.3e > %.1e * %.3e", what, cs, e, SUM_TOL, s);
  free(got);
  return e / s;
}

static float *dupf(const float *a, size_t n) {
  float *b = malloc((n ? n : 1) * sizeof(float));
  memcpy(b, a, n * sizeof(float));
  return b;
}

static void run_case(const bns_case *cs, const pb_cuda_env *env, uint64_t seed) {
  const pb_bn_params pg = {cs->n, cs->c, cs->hw, 1e-5f, 0.1f, 0}; /* the whole (global) batch */
  pb_bn_params p = pg;                                           /* this rank's part */
  p.n = cs->part;
  const size_t ng = (size_t)pg.n * pg.c * pg.hw, nx = (size_t)p.n * p.c * p.hw, nc = (size_t)p.c;
  const size_t ns = 2 * nc + 1, nxa = nx ? nx : 1;
  float *x = malloc(ng * sizeof(float)), *dy = malloc(nxa * sizeof(float)), *gamma = malloc(nc * sizeof(float));
  float *beta = malloc(nc * sizeof(float)), *rm0 = malloc(nc * sizeof(float)), *rv0 = malloc(nc * sizeof(float));
  float *dg0 = malloc(nc * sizeof(float)), *db0 = malloc(nc * sizeof(float)), *y = malloc(nxa * sizeof(float));
  float *dx = malloc(nxa * sizeof(float)), *sm = malloc(nc * sizeof(float)), *si = malloc(nc * sizeof(float));
  double *glob = malloc(ns * sizeof(double)), *loc = malloc(ns * sizeof(double));
  double *bsum = malloc(ns * sizeof(double));
  pb_test_fill_uniform(x, ng, cs->lo, cs->hi, seed + 1);
  pb_test_fill_uniform(dy, nx, -1.0f, 1.0f, seed + 2);
  pb_test_fill_uniform(gamma, nc, 0.5f, 1.5f, seed + 3);
  pb_test_fill_uniform(beta, nc, -0.5f, 0.5f, seed + 4);
  pb_test_fill_uniform(rm0, nc, -0.2f, 0.2f, seed + 5);
  pb_test_fill_uniform(rv0, nc, 0.5f, 2.0f, seed + 6);
  pb_test_fill_uniform(dg0, nc, -1.0f, 1.0f, seed + 7);
  pb_test_fill_uniform(db0, nc, -1.0f, 1.0f, seed + 8);

  /* CPU reference: this rank's sums, the global ones, and the rank's ops. */
  float *rm = dupf(rm0, nc), *rv = dupf(rv0, nc), *dg = dupf(dg0, nc), *db = dupf(db0, nc);
  pb_bn_sums_cpu(loc, x, &p, 1);
  pb_bn_sums_cpu(glob, x, &pg, 1);
  pb_bn_fwd_sync_cpu(y, sm, si, rm, rv, x, gamma, beta, glob, &p, 1);
  pb_bn_bwd_sums_cpu(bsum, dy, x, sm, si, &p, 1);
  /* the backward's global sums: this rank's, plus a made-up rest of the batch */
  double *bglob = malloc(ns * sizeof(double));
  for (size_t i = 0; i < 2 * nc; i++) bglob[i] = bsum[i] + (cs->part < cs->n ? 0.25 * (double)(i % 7) - 0.5 : 0.0);
  pb_bn_bwd_sync_cpu(dx, dg, db, dy, x, gamma, sm, si, bsum, bglob, glob, &p, 1);

  /* GPU, op by op on the CPU's inputs. */
  float *d_x = pb_twin_fromf(x, nxa, env), *d_dy = pb_twin_fromf(dy, nxa, env);
  float *d_y = pb_twin_fromf(dy, nxa, env), *d_dx = pb_twin_fromf(x, nxa, env); /* garbage */
  float *d_g = pb_twin_fromf(gamma, nc, env), *d_b = pb_twin_fromf(beta, nc, env);
  float *d_rm = pb_twin_fromf(rm0, nc, env), *d_rv = pb_twin_fromf(rv0, nc, env);
  float *d_sm = pb_twin_fromf(rm0, nc, env), *d_si = pb_twin_fromf(rv0, nc, env);
  float *d_csm = pb_twin_fromf(sm, nc, env), *d_csi = pb_twin_fromf(si, nc, env);
  float *d_dg = pb_twin_fromf(dg0, nc, env), *d_db = pb_twin_fromf(db0, nc, env);
  double *d_glob = pb_twin_from(glob, ns * sizeof(double), env), *d_bsum = pb_twin_from(bsum, ns * sizeof(double), env);
  double *d_bglob = pb_twin_from(bglob, ns * sizeof(double), env);
  double *d_s = pb_twin_alloc(ns * sizeof(double)), *d_s2 = pb_twin_alloc(ns * sizeof(double));
  const double cnt = (double)nx / (double)(nc ? nc : 1);

  pb_bn_sums_cuda(d_s, d_x, &p, env);
  double e_s = cmpd("bn_sums", cs->name, d_s, loc, ns, cnt, env);
  pb_bn_fwd_sync_cuda(d_y, d_sm, d_si, d_rm, d_rv, d_x, d_g, d_b, d_glob, &p, env);
  double e_f = cmpf("y", cs->name, d_y, y, nx, env);
  e_f = fmax(e_f, cmpf("save_mean", cs->name, d_sm, sm, nc, env));
  e_f = fmax(e_f, cmpf("save_invstd", cs->name, d_si, si, nc, env));
  e_f = fmax(e_f, cmpf("running_mean", cs->name, d_rm, rm, nc, env));
  e_f = fmax(e_f, cmpf("running_var", cs->name, d_rv, rv, nc, env));
  pb_bn_bwd_sums_cuda(d_s2, d_dy, d_x, d_csm, d_csi, &p, env);
  const double e_bs = cmpd("bn_bwd_sums", cs->name, d_s2, bsum, 2 * nc, cnt, env);
  pb_bn_bwd_sync_cuda(d_dx, d_dg, d_db, d_dy, d_x, d_g, d_csm, d_csi, d_bsum, d_bglob, d_glob, &p, env);
  double e_b = cmpf("dx", cs->name, d_dx, dx, nx, env);
  e_b = fmax(e_b, cmpf("dgamma (+=)", cs->name, d_dg, dg, nc, env));
  e_b = fmax(e_b, cmpf("dbeta (+=)", cs->name, d_db, db, nc, env));

  /* The GPU pipeline end to end, this rank's sums as the global ones, from its own sums and
   * statistics: twice, y and dx bitwise equal (running stats and dgamma / dbeta go on
   * accumulating and are not compared); then against the CPU's one-rank pipeline. */
  float *dx_run[2] = {NULL, NULL}, *y_run[2] = {NULL, NULL};
  for (int run = 0; run < 2; run++) {
    pb_bn_sums_cuda(d_s, d_x, &p, env);
    pb_bn_fwd_sync_cuda(d_y, d_sm, d_si, d_rm, d_rv, d_x, d_g, d_b, d_s, &p, env);
    pb_bn_bwd_sums_cuda(d_s2, d_dy, d_x, d_sm, d_si, &p, env);
    pb_bn_bwd_sync_cuda(d_dx, d_dg, d_db, d_dy, d_x, d_g, d_sm, d_si, d_s2, d_s2, d_s, &p, env);
    y_run[run] = pb_twin_hostf(d_y, nxa, env), dx_run[run] = pb_twin_hostf(d_dx, nxa, env);
  }
  PB_CHECK_MSG(memcmp(y_run[0], y_run[1], nx * sizeof(float)) == 0 && memcmp(dx_run[0], dx_run[1], nx * sizeof(float)) == 0,
               "[%s] pipeline not bitwise reproducible", cs->name);
  double e_p = 0.0;
  if (cs->part > 1) {
    memcpy(rm, rm0, nc * sizeof(float)), memcpy(dg, dg0, nc * sizeof(float)), memcpy(db, db0, nc * sizeof(float));
    memcpy(rv, rv0, nc * sizeof(float));
    pb_cuda_h2d(d_rv, rv0, nc * sizeof(float), env);
    pb_cuda_h2d(d_rm, rm0, nc * sizeof(float), env);
    pb_cuda_h2d(d_dg, dg0, nc * sizeof(float), env);
    pb_cuda_h2d(d_db, db0, nc * sizeof(float), env);
    pb_bn_fwd_sync_cuda(d_y, d_sm, d_si, d_rm, d_rv, d_x, d_g, d_b, d_s, &p, env);
    pb_bn_bwd_sync_cuda(d_dx, d_dg, d_db, d_dy, d_x, d_g, d_sm, d_si, d_s2, d_s2, d_s, &p, env);
    pb_bn_fwd_sync_cpu(y, sm, si, rm, rv, x, gamma, beta, loc, &p, 1);
    pb_bn_bwd_sums_cpu(bsum, dy, x, sm, si, &p, 1);
    pb_bn_bwd_sync_cpu(dx, dg, db, dy, x, gamma, sm, si, bsum, bsum, loc, &p, 1);
    e_p = cmpf("pipeline y", cs->name, d_y, y, nx, env);
    e_p = fmax(e_p, cmpf("pipeline running_var", cs->name, d_rv, rv, nc, env));
    e_p = fmax(e_p, cmpf("pipeline dx", cs->name, d_dx, dx, nx, env));
    e_p = fmax(e_p, cmpf("pipeline dgamma", cs->name, d_dg, dg, nc, env));
    e_p = fmax(e_p, cmpf("pipeline dbeta", cs->name, d_db, db, nc, env));
  }
  printf("  %-20s scaled err: sums %.2e fwd %.2e bwd_sums %.2e bwd %.2e pipeline %.2e\n", cs->name, e_s, e_f, e_bs,
         e_b, e_p);

  pb_cuda_free(d_x), pb_cuda_free(d_dy), pb_cuda_free(d_y), pb_cuda_free(d_dx), pb_cuda_free(d_g), pb_cuda_free(d_b);
  pb_cuda_free(d_rm), pb_cuda_free(d_rv), pb_cuda_free(d_sm), pb_cuda_free(d_si), pb_cuda_free(d_csm);
  pb_cuda_free(d_csi), pb_cuda_free(d_dg), pb_cuda_free(d_db), pb_cuda_free(d_glob), pb_cuda_free(d_bsum);
  pb_cuda_free(d_bglob), pb_cuda_free(d_s), pb_cuda_free(d_s2);
  for (int r = 0; r < 2; r++) free(y_run[r]), free(dx_run[r]);
  free(x), free(dy), free(gamma), free(beta), free(rm0), free(rv0), free(dg0), free(db0), free(y), free(dx);
  free(sm), free(si), free(glob), free(loc), free(bsum), free(bglob), free(rm), free(rv), free(dg), free(db);
}

int main(void) {
  pb_twin_require_gpu();
  pb_cuda_env env;
  pb_twin_env(&env, (size_t)16 << 20, 1, 0);
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) run_case(&cases[c], &env, 100 * c + 7);
  pb_cuda_env_free(&env);
  return pb_test_exit("test_cuda_bn_sync");
}
