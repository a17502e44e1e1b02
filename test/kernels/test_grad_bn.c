/* test_grad_bn.c: batch norm CPU ops (kernels/cpu/batchnorm.c): training forward against a
 * double-precision reference, backward (dx, dgamma, dbeta) by central finite differences,
 * running-statistic updates against hand-computed values, eval forward against the direct
 * formula, accumulation of dgamma/dbeta, and independence from the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "test/testutil.h"

/* Forward tolerance: float32 output of a double computation, |y| <~ 4: atol 1e-5 rtol 1e-5.
 * Finite differences: step H = 1e-2 in float32; L = sum(y*r) accumulated in double over a
 * float32 y, whose rounding (~1e-7 * |L|) divided by 2H gives ~1e-5 noise; the O(H^2)
 * truncation error is ~1e-4 for these well-spread inputs. So atol 2e-3 rtol 2e-2. */
#define FWD_ATOL 1e-5
#define FWD_RTOL 1e-5
#define FD_H 1e-2f
#define FD_ATOL 2e-3
#define FD_RTOL 2e-2

/* Double reference of the training forward (biased variance), y only. */
static void ref_bn_train(float *y, const float *x, const float *gamma, const float *beta,
                         const pb_bn_params *p) {
  const size_t hw = (size_t)p->hw, cs = (size_t)p->c * hw;
  const double cnt = (double)p->n * (double)p->hw;
  for (int ch = 0; ch < p->c; ch++) {
    double s = 0, ss = 0;
    for (int in = 0; in < p->n; in++)
      for (size_t i = 0; i < hw; i++) s += x[in * cs + ch * hw + i];
    const double mean = s / cnt;
    for (int in = 0; in < p->n; in++)
      for (size_t i = 0; i < hw; i++) {
        const double d = x[in * cs + ch * hw + i] - mean;
        ss += d * d;
      }
    const double invstd = 1.0 / sqrt(ss / cnt + p->eps);
    for (int in = 0; in < p->n; in++)
      for (size_t i = 0; i < hw; i++) {
        const size_t o = in * cs + ch * hw + i;
        y[o] = (float)((x[o] - mean) * invstd * gamma[ch] + beta[ch]);
      }
  }
}

/* L = sum(y * r) in double, y from the op under test (running stats go to scratch). */
static double objective(const float *x, const float *gamma, const float *beta, const float *r,
                        const pb_bn_params *p, float *y, float *scratch_c4) {
  const size_t c = (size_t)p->c, total = (size_t)p->n * c * (size_t)p->hw;
  float *sm = scratch_c4, *si = sm + c, *rm = si + c, *rv = rm + c;
  for (size_t i = 0; i < c; i++) rm[i] = 0.0f, rv[i] = 1.0f;
  pb_bn_fwd_train_cpu(y, sm, si, rm, rv, x, gamma, beta, p, 1);
  double L = 0;
  for (size_t i = 0; i < total; i++) L += (double)y[i] * r[i];
  return L;
}

/* Central difference of objective with respect to v[i] (v is x, gamma or beta). */
static float fd_at(float *v, size_t i, const float *x, const float *gamma, const float *beta,
                   const float *r, const pb_bn_params *p, float *y, float *sc) {
  const float keep = v[i];
  v[i] = keep + FD_H;
  const double lp = objective(x, gamma, beta, r, p, y, sc);
  v[i] = keep - FD_H;
  const double lm = objective(x, gamma, beta, r, p, y, sc);
  v[i] = keep;
  return (float)((lp - lm) / (2.0 * (double)FD_H));
}

static void check_shape(int n, int c, int hw, uint64_t seed) {
  pb_bn_params p = {n, c, hw, 1e-5f, 0.1f, 0};
  const size_t total = (size_t)n * c * hw;
  float *x = malloc(total * sizeof(float)), *y = malloc(total * sizeof(float));
  float *yref = malloc(total * sizeof(float)), *r = malloc(total * sizeof(float));
  float *dx = malloc(total * sizeof(float)), *dx_fd = malloc(total * sizeof(float));
  float *dx3 = malloc(total * sizeof(float));
  float *gamma = malloc(c * sizeof(float)), *beta = malloc(c * sizeof(float));
  float *dg = malloc(c * sizeof(float)), *db = malloc(c * sizeof(float));
  float *dg3 = malloc(c * sizeof(float)), *db3 = malloc(c * sizeof(float));
  float *dg_fd = malloc(c * sizeof(float)), *db_fd = malloc(c * sizeof(float));
  float *sc = malloc(4 * c * sizeof(float)), *sm = malloc(c * sizeof(float));
  float *si = malloc(c * sizeof(float)), *rm = malloc(c * sizeof(float));
  float *rv = malloc(c * sizeof(float)), *y3 = malloc(total * sizeof(float));

  pb_test_fill_uniform(x, total, -2.0f, 2.0f, seed);
  pb_test_fill_uniform(r, total, -1.0f, 1.0f, seed + 1);
  pb_test_fill_uniform(gamma, c, 0.5f, 1.5f, seed + 2);
  pb_test_fill_uniform(beta, c, -0.5f, 0.5f, seed + 3);
  if (n == 2 && hw == 1) {
    /* BatchNorm1d with two samples: xhat = +-d/2/sqrt(d^2/4+eps) is a near step in the
     * difference d, so keep |d| >= 0.5 for the finite differences to be meaningful. */
    for (int ch = 0; ch < c; ch++) {
      const size_t o0 = (size_t)ch, o1 = (size_t)(c + ch);
      x[o1] = x[o0] + (x[o1] >= x[o0] ? 0.5f : -0.5f) + 0.25f * (x[o1] - x[o0]);
    }
  }

  /* forward against the double reference */
  for (int i = 0; i < c; i++) rm[i] = 0.0f, rv[i] = 1.0f;
  pb_bn_fwd_train_cpu(y, sm, si, rm, rv, x, gamma, beta, &p, 1);
  ref_bn_train(yref, x, gamma, beta, &p);
  PB_CHECK(pb_test_allclose("bn train y", y, yref, total, FWD_ATOL, FWD_RTOL) == 0);

  /* backward; dgamma/dbeta start non-zero to check that they accumulate */
  for (int i = 0; i < c; i++) dg[i] = 0.25f, db[i] = -0.75f;
  pb_bn_bwd_cpu(dx, dg, db, r, x, gamma, sm, si, &p, 1);
  for (int i = 0; i < c; i++) dg[i] -= 0.25f, db[i] += 0.75f;

  for (size_t i = 0; i < total; i++) dx_fd[i] = fd_at(x, i, x, gamma, beta, r, &p, y, sc);
  for (int i = 0; i < c; i++) dg_fd[i] = fd_at(gamma, i, x, gamma, beta, r, &p, y, sc);
  for (int i = 0; i < c; i++) db_fd[i] = fd_at(beta, i, x, gamma, beta, r, &p, y, sc);
  char what[96];
  snprintf(what, sizeof what, "bn dx n=%d c=%d hw=%d", n, c, hw);
  PB_CHECK_MSG(pb_test_allclose(what, dx, dx_fd, total, FD_ATOL, FD_RTOL) == 0, "%s", what);
  snprintf(what, sizeof what, "bn dgamma n=%d c=%d hw=%d", n, c, hw);
  PB_CHECK_MSG(pb_test_allclose(what, dg, dg_fd, c, FD_ATOL, FD_RTOL) == 0, "%s", what);
  snprintf(what, sizeof what, "bn dbeta n=%d c=%d hw=%d", n, c, hw);
  PB_CHECK_MSG(pb_test_allclose(what, db, db_fd, c, FD_ATOL, FD_RTOL) == 0, "%s", what);

  /* 3 threads give bitwise the same results as 1 (per-channel sums in a fixed order) */
  float *rm3 = sc, *rv3 = sc + c, *sm3 = sc + 2 * c, *si3 = sc + 3 * c;
  for (int i = 0; i < c; i++) rm3[i] = 0.0f, rv3[i] = 1.0f, dg3[i] = 0.0f, db3[i] = 0.0f;
  for (int i = 0; i < c; i++) rm[i] = 0.0f, rv[i] = 1.0f, dg[i] = 0.0f, db[i] = 0.0f;
  pb_bn_fwd_train_cpu(y, sm, si, rm, rv, x, gamma, beta, &p, 1);
  pb_bn_fwd_train_cpu(y3, sm3, si3, rm3, rv3, x, gamma, beta, &p, 3);
  pb_bn_bwd_cpu(dx, dg, db, r, x, gamma, sm, si, &p, 1);
  pb_bn_bwd_cpu(dx3, dg3, db3, r, x, gamma, sm3, si3, &p, 3);
  PB_CHECK(memcmp(y, y3, total * sizeof(float)) == 0);
  PB_CHECK(memcmp(rv, rv3, c * sizeof(float)) == 0);
  PB_CHECK(memcmp(dx, dx3, total * sizeof(float)) == 0);
  PB_CHECK(memcmp(dg, dg3, c * sizeof(float)) == 0);
  PB_CHECK(memcmp(db, db3, c * sizeof(float)) == 0);

  free(x), free(y), free(yref), free(r), free(dx), free(dx_fd), free(dx3), free(gamma);
  free(beta), free(dg), free(db), free(dg3), free(db3), free(dg_fd), free(db_fd), free(sc);
  free(sm), free(si), free(rm), free(rv), free(y3);
}

/* Running statistics after two training calls, against values computed by hand.
 * x [n=2, c=2, hw=2], momentum 0.1, running_mean starts at 0, running_var at 1.
 * Call 1: channel 0 holds {1,2,3,4}: mean 2.5, biased var 1.25, unbiased 5/3;
 *         channel 1 holds {-1,-1,1,1}: mean 0, biased var 1, unbiased 4/3.
 *   rm = {0.25, 0}, rv = {0.9 + 0.1*5/3, 0.9 + 0.1*4/3} = {1.0666667, 1.0333333}.
 * Call 2: channel 0 holds {0,0,2,2}: mean 1, unbiased 4/3;
 *         channel 1 holds {10,10,10,10}: mean 10, var 0.
 *   rm = {0.9*0.25 + 0.1*1, 0.9*0 + 0.1*10} = {0.325, 1.0},
 *   rv = {0.9*1.0666667 + 0.1*4/3, 0.9*1.0333333 + 0} = {1.0933333, 0.93}. */
static void check_running_stats(void) {
  pb_bn_params p = {2, 2, 2, 1e-5f, 0.1f, 0};
  /* layout [n][c][hw] */
  const float x1[8] = {1, 2, -1, -1, 3, 4, 1, 1};
  const float x2[8] = {0, 0, 10, 10, 2, 2, 10, 10};
  const float gamma[2] = {1, 1}, beta[2] = {0, 0};
  float y[8], sm[2], si[2], rm[2] = {0, 0}, rv[2] = {1, 1};
  pb_bn_fwd_train_cpu(y, sm, si, rm, rv, x1, gamma, beta, &p, 2);
  const float sm1[2] = {2.5f, 0.0f};
  const float si1[2] = {(float)(1.0 / sqrt(1.25 + 1e-5)), (float)(1.0 / sqrt(1.0 + 1e-5))};
  const float rm1[2] = {0.25f, 0.0f}, rv1[2] = {1.0666667f, 1.0333333f};
  PB_CHECK(pb_test_allclose("save_mean 1", sm, sm1, 2, 1e-6, 1e-6) == 0);
  PB_CHECK(pb_test_allclose("save_invstd 1", si, si1, 2, 1e-6, 1e-6) == 0);
  PB_CHECK(pb_test_allclose("running_mean 1", rm, rm1, 2, 1e-6, 1e-6) == 0);
  PB_CHECK(pb_test_allclose("running_var 1", rv, rv1, 2, 1e-6, 1e-6) == 0);
  pb_bn_fwd_train_cpu(y, sm, si, rm, rv, x2, gamma, beta, &p, 2);
  const float rm2[2] = {0.325f, 1.0f}, rv2[2] = {1.0933333f, 0.93f};
  PB_CHECK(pb_test_allclose("running_mean 2", rm, rm2, 2, 1e-6, 1e-6) == 0);
  PB_CHECK(pb_test_allclose("running_var 2", rv, rv2, 2, 1e-6, 1e-6) == 0);
  /* constant channel: y = beta exactly up to rounding (x - mean = 0), invstd = 1/sqrt(eps) */
  PB_CHECK(fabsf(y[2]) <= 1e-6f && fabsf(y[7]) <= 1e-6f);
  PB_CHECK(fabs(si[1] - 1.0 / sqrt(1e-5)) <= 1e-6 * (1.0 / sqrt(1e-5)));
}

/* Eval forward against y = (x - rm) / sqrt(rv + eps) * gamma + beta in double. */
static void check_eval(void) {
  const int n = 3, c = 13, hw = 5;
  pb_bn_params p = {n, c, hw, 1e-3f, 0.1f, 0};
  const size_t total = (size_t)n * c * hw;
  float x[3 * 13 * 5], y[3 * 13 * 5], yref[3 * 13 * 5];
  float gamma[13], beta[13], rm[13], rv[13];
  pb_test_fill_uniform(x, total, -3.0f, 3.0f, 71);
  pb_test_fill_uniform(gamma, c, -1.5f, 1.5f, 72);
  pb_test_fill_uniform(beta, c, -1.0f, 1.0f, 73);
  pb_test_fill_uniform(rm, c, -1.0f, 1.0f, 74);
  pb_test_fill_uniform(rv, c, 0.0f, 3.0f, 75);
  rv[0] = 0.0f; /* eps alone keeps it finite */
  for (int in = 0; in < n; in++)
    for (int ch = 0; ch < c; ch++)
      for (int i = 0; i < hw; i++) {
        const size_t o = ((size_t)in * c + ch) * hw + i;
        yref[o] = (float)(((double)x[o] - rm[ch]) / sqrt((double)rv[ch] + (double)p.eps) *
                              gamma[ch] + beta[ch]);
      }
  pb_bn_fwd_eval_cpu(y, x, gamma, beta, rm, rv, &p, 2);
  /* float32 outputs up to ~|3+1|/sqrt(1e-3)*1.5 ~ 190: atol 1e-5 rtol 1e-5 (a few ulps) */
  PB_CHECK(pb_test_allclose("bn eval y", y, yref, total, 1e-5, 1e-5) == 0);
}

int main(void) {
  check_shape(2, 3, 1, 11);  /* BatchNorm1d, two samples */
  check_shape(2, 5, 2, 12);  /* two values per channel, hw > 1 */
  check_shape(4, 11, 1, 13); /* BatchNorm1d, c not a multiple of 8 */
  check_shape(3, 5, 7, 14);  /* BatchNorm2d, c not a multiple of 8 */
  check_shape(2, 9, 16, 15);
  check_running_stats();
  check_eval();
  return pb_test_exit("test_grad_bn");
}
