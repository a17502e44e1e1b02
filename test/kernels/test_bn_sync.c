/* test_bn_sync.c: synchronised batch norm CPU ops (kernels/cpu/bn_sync.c) against the
 * single-process batch norm (kernels/cpu/batchnorm.c), which is what sync BN must reproduce:
 *  - one rank (global sums = local sums): y, save_mean, save_invstd, running stats, dx, dgamma,
 *    dbeta equal pb_bn_fwd_train_cpu / pb_bn_bwd_cpu (dgamma/dbeta accumulating onto non-zero);
 *  - simulated ranks: the batch split into parts along n, each part's sums added (the
 *    all-reduce), fwd_sync / bwd_sums / add / bwd_sync per part; the concatenated y and dx and
 *    the rank-summed dgamma / dbeta equal the single-process ops on the whole batch, and every
 *    rank ends with the same saved and running statistics;
 *  - a rank holding no samples (n = 0) contributes zero sums and still gets the statistics;
 *  - results independent of nthreads (bitwise);
 *  - dx of the two-rank pipeline by central finite differences of L = sum(y * r).
 * Tolerance: |got - ref| <= 1e-5 M + 1e-5 |ref|, M = max(1, max |ref|): the only difference
 * from the reference is the one-pass variance in double (~1e-12 relative here, even with the
 * mean at 100) and the order of the rank sums, both far below float's 6e-8. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "test/testutil.h"

#define TOL 1e-5
#define FD_H 1e-2f
#define FD_ATOL 2e-3
#define FD_RTOL 2e-2
#define MAX_PARTS 4

static double worst; /* largest scaled error seen (printed at the end) */

/* |got - ref| / M over the array, M = max(1, max |ref|); checks it against TOL elementwise. */
static void cmp(const char *what, const char *cs, const float *got, const float *ref, size_t n) {
  double m = 1.0, e = 0.0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs(ref[i]));
  for (size_t i = 0; i < n; i++) e = fmax(e, fabs((double)got[i] - ref[i]) / m);
  if (e > worst) worst = e;
  char name[128];
  snprintf(name, sizeof name, "%s [%s]", what, cs);
  PB_CHECK_MSG(pb_test_allclose(name, got, ref, n, TOL * m, TOL) == 0, "%s", name);
}

typedef struct bn_out {
  float *y, *dx, *sm, *si, *rm, *rv, *dg, *db;
} bn_out;

static bn_out out_alloc(size_t total, size_t c) {
  bn_out o;
  o.y = malloc(total * sizeof(float)), o.dx = malloc(total * sizeof(float));
  o.sm = malloc(c * sizeof(float)), o.si = malloc(c * sizeof(float)), o.rm = malloc(c * sizeof(float));
  o.rv = malloc(c * sizeof(float)), o.dg = malloc(c * sizeof(float)), o.db = malloc(c * sizeof(float));
  return o;
}

static void out_free(bn_out *o) {
  free(o->y), free(o->dx), free(o->sm), free(o->si), free(o->rm), free(o->rv), free(o->dg), free(o->db);
}

/* The synchronised pipeline over nparts simulated ranks holding parts[r] samples each (in
 * order, summing to p->n). o->rm / rv / dg / db hold the starting values: every rank starts its
 * running stats from them; dgamma / dbeta: each rank accumulates into its own zeroed buffer and
 * the buffers are added onto o->dg / o->db in rank order (the gradient all-reduce). Checks that
 * all ranks end with bitwise the same saved and running statistics. */
static void run_sync(bn_out *o, const int *parts, int nparts, const float *x, const float *dy, const float *gamma,
                     const float *beta, const pb_bn_params *p, int nthreads, const char *cs) {
  const int c = p->c;
  const size_t plane = (size_t)c * p->hw, nsum = 2 * (size_t)c + 1;
  double *loc = calloc(MAX_PARTS * nsum, sizeof(double)), *glob = calloc(nsum, sizeof(double));
  double *bloc = calloc(MAX_PARTS * nsum, sizeof(double)), *bglob = calloc(nsum, sizeof(double));
  float *rm = malloc(MAX_PARTS * c * sizeof(float)), *rv = malloc(MAX_PARTS * c * sizeof(float));
  float *sm = malloc(MAX_PARTS * c * sizeof(float)), *si = malloc(MAX_PARTS * c * sizeof(float));
  float *dg = calloc(MAX_PARTS * c, sizeof(float)), *db = calloc(MAX_PARTS * c, sizeof(float));
  pb_bn_params pr[MAX_PARTS];
  size_t off[MAX_PARTS];
  size_t at = 0;
  for (int r = 0; r < nparts; r++) {
    pr[r] = *p, pr[r].n = parts[r], off[r] = at * plane, at += (size_t)parts[r];
  }
  PB_CHECK(nparts <= MAX_PARTS && at == (size_t)p->n);
  /* forward: local sums, all-reduce, normalise */
  for (int r = 0; r < nparts; r++) pb_bn_sums_cpu(loc + r * nsum, x + off[r], &pr[r], nthreads);
  for (int r = 0; r < nparts; r++)
    for (size_t i = 0; i < nsum; i++) glob[i] += loc[r * nsum + i];
  for (int r = 0; r < nparts; r++) {
    memcpy(rm + r * c, o->rm, c * sizeof(float)), memcpy(rv + r * c, o->rv, c * sizeof(float));
    pb_bn_fwd_sync_cpu(o->y + off[r], sm + r * c, si + r * c, rm + r * c, rv + r * c, x + off[r], gamma, beta, glob,
                       &pr[r], nthreads);
  }
  /* backward: local sums, all-reduce, dx; then the gradient all-reduce of dgamma / dbeta */
  for (int r = 0; r < nparts; r++)
    pb_bn_bwd_sums_cpu(bloc + r * nsum, dy + off[r], x + off[r], sm + r * c, si + r * c, &pr[r], nthreads);
  for (int r = 0; r < nparts; r++)
    for (size_t i = 0; i < 2 * (size_t)c; i++) bglob[i] += bloc[r * nsum + i];
  for (int r = 0; r < nparts; r++)
    pb_bn_bwd_sync_cpu(o->dx + off[r], dg + r * c, db + r * c, dy + off[r], x + off[r], gamma, sm + r * c, si + r * c,
                       bloc + r * nsum, bglob, glob, &pr[r], nthreads);
  for (int r = 0; r < nparts; r++)
    for (int ch = 0; ch < c; ch++) o->dg[ch] += dg[r * c + ch], o->db[ch] += db[r * c + ch];
  memcpy(o->sm, sm, c * sizeof(float)), memcpy(o->si, si, c * sizeof(float));
  memcpy(o->rm, rm, c * sizeof(float)), memcpy(o->rv, rv, c * sizeof(float));
  for (int r = 1; r < nparts; r++)
    PB_CHECK_MSG(memcmp(sm, sm + r * c, c * sizeof(float)) == 0 && memcmp(si, si + r * c, c * sizeof(float)) == 0 &&
                     memcmp(rm, rm + r * c, c * sizeof(float)) == 0 && memcmp(rv, rv + r * c, c * sizeof(float)) == 0,
                 "[%s] rank %d's statistics differ from rank 0's", cs, r);
  free(loc), free(glob), free(bloc), free(bglob), free(rm), free(rv), free(sm), free(si), free(dg), free(db);
}

static void fill_start(bn_out *o, size_t c, uint64_t seed) {
  pb_test_fill_uniform(o->rm, c, -0.2f, 0.2f, seed);
  pb_test_fill_uniform(o->rv, c, 0.5f, 2.0f, seed + 1);
  pb_test_fill_uniform(o->dg, c, -1.0f, 1.0f, seed + 2);
  pb_test_fill_uniform(o->db, c, -1.0f, 1.0f, seed + 3);
}

/* The sync pipeline split as parts[] against the single-process ops on the whole batch. */
static void check_case(const char *cs, int n, int c, int hw, float lo, float hi, const int *parts, int nparts,
                       uint64_t seed) {
  const pb_bn_params p = {n, c, hw, 1e-5f, 0.1f, 0};
  const size_t total = (size_t)n * c * hw;
  float *x = malloc(total * sizeof(float)), *dy = malloc(total * sizeof(float));
  float *gamma = malloc(c * sizeof(float)), *beta = malloc(c * sizeof(float));
  pb_test_fill_uniform(x, total, lo, hi, seed);
  pb_test_fill_uniform(dy, total, -1.0f, 1.0f, seed + 1);
  pb_test_fill_uniform(gamma, c, 0.5f, 1.5f, seed + 2);
  pb_test_fill_uniform(beta, c, -0.5f, 0.5f, seed + 3);
  bn_out ref = out_alloc(total, c), got = out_alloc(total, c), got3 = out_alloc(total, c);
  fill_start(&ref, c, seed + 4), fill_start(&got, c, seed + 4), fill_start(&got3, c, seed + 4);

  pb_bn_fwd_train_cpu(ref.y, ref.sm, ref.si, ref.rm, ref.rv, x, gamma, beta, &p, 1);
  pb_bn_bwd_cpu(ref.dx, ref.dg, ref.db, dy, x, gamma, ref.sm, ref.si, &p, 1);
  run_sync(&got, parts, nparts, x, dy, gamma, beta, &p, 1, cs);
  cmp("y", cs, got.y, ref.y, total);
  cmp("save_mean", cs, got.sm, ref.sm, c);
  cmp("save_invstd", cs, got.si, ref.si, c);
  cmp("running_mean", cs, got.rm, ref.rm, c);
  cmp("running_var", cs, got.rv, ref.rv, c);
  cmp("dx", cs, got.dx, ref.dx, total);
  cmp("dgamma", cs, got.dg, ref.dg, c);
  cmp("dbeta", cs, got.db, ref.db, c);
  if (nparts == 1) /* the backward sums are the reference's, in its order: accumulation bitwise */
    PB_CHECK_MSG(memcmp(got.dg, ref.dg, c * sizeof(float)) == 0 && memcmp(got.db, ref.db, c * sizeof(float)) == 0,
                 "[%s] one-rank dgamma/dbeta not bitwise bn_bwd's", cs);

  /* 3 threads: bitwise the same as 1 */
  run_sync(&got3, parts, nparts, x, dy, gamma, beta, &p, 3, cs);
  PB_CHECK_MSG(memcmp(got.y, got3.y, total * sizeof(float)) == 0 && memcmp(got.dx, got3.dx, total * sizeof(float)) == 0 &&
                   memcmp(got.rv, got3.rv, c * sizeof(float)) == 0 && memcmp(got.dg, got3.dg, c * sizeof(float)) == 0,
               "[%s] 3 threads differ from 1", cs);
  printf("  %-28s ok so far (worst scaled error %.2e)\n", cs, worst);
  out_free(&ref), out_free(&got), out_free(&got3);
  free(x), free(dy), free(gamma), free(beta);
}

/* bn_sums: the count and a hand-computed case; bn_fwd_sync clamps a negative variance. */
static void check_sums_by_hand(void) {
  const pb_bn_params p = {2, 2, 2, 1e-5f, 0.1f, 0};
  const float x[8] = {1, 2, -1, -1, 3, 4, 1, 1}; /* ch 0 {1,2,3,4}, ch 1 {-1,-1,1,1} */
  double s[5];
  pb_bn_sums_cpu(s, x, &p, 2);
  PB_CHECK(s[0] == 10.0 && s[1] == 0.0 && s[2] == 30.0 && s[3] == 4.0 && s[4] == 4.0);
  /* sums whose var rounds negative: mean 3, sum x^2 / cnt a hair under 9 */
  const pb_bn_params q = {1, 1, 2, 1e-5f, 0.1f, 0};
  const double g[3] = {6.0, 18.0 - 1e-12, 2.0};
  const float xx[2] = {3, 3}, gm = 1, bt = 0;
  float y[2], sm, si, rm = 0, rv = 1;
  pb_bn_fwd_sync_cpu(y, &sm, &si, &rm, &rv, xx, &gm, &bt, g, &q, 1);
  PB_CHECK(sm == 3.0f && si == (float)(1.0 / sqrt((double)1e-5f)) && rv == 0.9f && y[0] == 0.0f);
}

/* L = sum(y * r) through the two-rank sync forward (running stats to scratch). */
static double objective(const float *x, const float *gamma, const float *beta, const float *r, const pb_bn_params *p,
                        const int *parts, int nparts, bn_out *o) {
  const size_t total = (size_t)p->n * p->c * p->hw;
  for (int i = 0; i < p->c; i++) o->rm[i] = 0, o->rv[i] = 1, o->dg[i] = 0, o->db[i] = 0;
  run_sync(o, parts, nparts, x, r, gamma, beta, p, 1, "fd");
  double L = 0;
  for (size_t i = 0; i < total; i++) L += (double)o->y[i] * r[i];
  return L;
}

/* dx of the split pipeline (dy = r) by central differences: the global coupling through the
 * all-reduced sums must make each rank's dx the gradient of the whole batch's loss. */
static void check_fd(void) {
  const pb_bn_params p = {3, 2, 3, 1e-5f, 0.1f, 0};
  const int parts[2] = {2, 1};
  const size_t total = 18;
  float x[18], r[18], gamma[2], beta[2], dx[18], dxfd[18];
  pb_test_fill_uniform(x, total, -2.0f, 2.0f, 901);
  pb_test_fill_uniform(r, total, -1.0f, 1.0f, 902);
  pb_test_fill_uniform(gamma, 2, 0.5f, 1.5f, 903);
  pb_test_fill_uniform(beta, 2, -0.5f, 0.5f, 904);
  bn_out o = out_alloc(total, 2);
  objective(x, gamma, beta, r, &p, parts, 2, &o);
  memcpy(dx, o.dx, sizeof dx);
  for (size_t i = 0; i < total; i++) {
    const float keep = x[i];
    x[i] = keep + FD_H;
    const double lp = objective(x, gamma, beta, r, &p, parts, 2, &o);
    x[i] = keep - FD_H;
    const double lm = objective(x, gamma, beta, r, &p, parts, 2, &o);
    x[i] = keep;
    dxfd[i] = (float)((lp - lm) / (2.0 * (double)FD_H));
  }
  PB_CHECK(pb_test_allclose("sync dx vs finite differences", dx, dxfd, total, FD_ATOL, FD_RTOL) == 0);
  printf("  finite differences: max |dx - fd| %.2e\n", pb_test_max_abs_diff(dx, dxfd, total));
  out_free(&o);
}

int main(void) {
  int p1[1];
  p1[0] = 3, check_case("one rank 3x5x7", 3, 5, 7, -1.0f, 3.0f, p1, 1, 11);
  p1[0] = 8, check_case("one rank 8x16x1", 8, 16, 1, -2.0f, 2.0f, p1, 1, 12);
  p1[0] = 2, check_case("one rank 2x3x64 mean 100", 2, 3, 64, 99.0f, 101.0f, p1, 1, 13);
  const int p42[2] = {4, 2};
  check_case("ranks 4+2 6x5x7", 6, 5, 7, -1.0f, 3.0f, p42, 2, 21);
  check_case("ranks 4+2 6x16x1", 6, 16, 1, -2.0f, 2.0f, p42, 2, 22);
  check_case("ranks 4+2 6x3x64 mean 100", 6, 3, 64, 99.0f, 101.0f, p42, 2, 23);
  const int p3[4] = {1, 0, 3, 2}; /* a rank with no samples among four */
  check_case("ranks 1+0+3+2 6x4x9", 6, 4, 9, -1.0f, 1.0f, p3, 4, 24);
  check_sums_by_hand();
  check_fd();
  printf("worst scaled error against the single-process ops: %.3e (tolerance %.0e)\n", worst, TOL);
  return pb_test_exit("test_bn_sync");
}
