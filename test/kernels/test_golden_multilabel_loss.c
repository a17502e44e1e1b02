/* test_golden_multilabel_loss.c: the CPU multi-label ops (kernels/cpu/multilabel.c:
 * pb_multihot_cpu, pb_inclusive_loss_cpu; contracts in ops.h "multi-label losses") against PyTorch
 * float64 autograd of the original Inclusive Images loop (test/fixtures/multilabel_loss_golden.safetensors
 * from scripts/fixtures/multilabel_loss.py: cases (4, 7), (8, 33), (3, 1000) with rows without
 * positives, rows without negatives and +-60 logits), against central finite differences of a
 * direct double implementation, and exact properties. The CUDA twin's test is
 * test_cuda_multilabel_loss.c.
 *
 * 1. Goldens (ref float64; got the op's float, grad_scale = 1 / npos as the trainer passes it):
 *    - loss_sum: |got - ref| <= GOLD_RTOL |ref|, GOLD_RTOL = 1e-6: the op sums in double from the
 *      same float logits and rounds once to float (<= 6e-8 relative): 16x margin.
 *    - npos: exactly.
 *    - dlogits: max |got - ref| <= GOLD_GRAD 1e-6 * max |ref|: every element is one double
 *      expression rounded once to float, times grad_scale, itself the float nearest 1 / npos
 *      (two roundings: <= 1.2e-7 |element| <= 1.2e-7 max |ref|).
 *    - multihot of the fixture's label rows (values -2..3): exactly the fixture's targets.
 *    - rows without positives or without negatives: EXACTLY 0 gradient (over garbage).
 * 2. Finite differences: the op's dlogits (grad_scale 1) against central differences (step
 *    FD_H = 1e-6, in double) of a direct double implementation of the loss (fd_loss: unshifted
 *    exp / log per positive, as the loop of the reference; logits in [-4, 4], so nothing
 *    overflows). Error of the differences: truncation h^2 |f'''| / 6 ~ 1e-13, rounding
 *    ~1e-16 |loss| / h ~ 1e-9 for losses ~10; the op's: one float rounding (6e-8 relative).
 *    Tolerance per element FD_ATOL (1e-6) * max |fd| + FD_RTOL (1e-5) |fd|. The op's loss against
 *    fd_loss: GOLD_RTOL.
 * 3. Exact properties: dlogits overwritten (garbage before); dlogits NULL and npos NULL change
 *    nothing else; grad_scale 2 gives exactly 2x dlogits (a power of two is exact in double and in
 *    the rounding to float) and the loss unscaled; n = 0 and k = 0 give loss 0, npos 0; logits of
 *    +-1000 (beyond double exp's range when shifted by the row max) give finite, exact values:
 *    a positive 2000 below a negative loses 2000 with gradient -1 / +1; one 2000 above loses 0. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/models/safetensors.h"
#include "kernels/ops.h"
#include "kernels/pb_common.h"
#include "test/st_fixture.h"
#include "test/testutil.h"

#define FIXTURE "multilabel_loss_golden.safetensors"
#define GOLD_RTOL 1e-6
#define GOLD_GRAD 1e-6
#define FD_H 1e-6
#define FD_ATOL 1e-6
#define FD_RTOL 1e-5

/* ------------------------------------------------------------------ helpers */

static int row_zero_bits(const float *d, int k) {
  for (int j = 0; j < k; j++)
    if (d[j] != 0.0f) return 0;
  return 1;
}

/* max |got - ref| over n (ref double); NaN propagates. */
static double max_err(const float *got, const double *ref, size_t n, double *max_ref) {
  double e = 0.0, m = 0.0;
  for (size_t i = 0; i < n; i++) {
    const double d = fabs((double)got[i] - ref[i]);
    e = (d > e || isnan(d)) ? d : e;
    m = fmax(m, fabs(ref[i]));
  }
  if (max_ref) *max_ref = m;
  return e;
}

/* The direct loss sum in double: per positive p, log(exp(z_p) + sum_N exp(z_j)) - z_p (moderate
 * logits only: no shift). */
static double fd_loss(const double *z, const float *t, int n, int k) {
  double total = 0.0;
  for (int i = 0; i < n; i++) {
    const double *r = z + (size_t)i * k;
    const float *ti = t + (size_t)i * k;
    double sn = 0.0;
    int nn = 0;
    for (int j = 0; j < k; j++)
      if (!(ti[j] > 0.5f)) sn += exp(r[j]), nn++;
    if (nn == 0) continue;
    for (int j = 0; j < k; j++)
      if (ti[j] > 0.5f) total += log(exp(r[j]) + sn) - r[j];
  }
  return total;
}

/* ------------------------------------------------------------------ 1. goldens */

static void check_case(const pb_st_file *f, const char *name) {
  pb_err err = {{0}};
  char key[64];
  snprintf(key, sizeof key, "%s.logits", name);
  const pb_st_tensor *tl = pb_st_find(f, key);
  PB_CHECK_MSG(tl && tl->ndim == 2, "%s: %s missing or not [n, k]", FIXTURE, key);
  if (!tl || tl->ndim != 2) return;
  const int n = (int)tl->shape[0], k = (int)tl->shape[1];
  const size_t nk = (size_t)n * k;
  float *logits = NULL, *targets = NULL;
  int32_t *labels = NULL;
  double *loss = NULL, *dref = NULL;
  int64_t *npos_ref = NULL;
  const int ok = (logits = pb_test_st_copy(f, FIXTURE, name, "logits", PB_ST_F32, 2, n, k, &err)) &&
                 (targets = pb_test_st_copy(f, FIXTURE, name, "targets", PB_ST_F32, 2, n, k, &err)) &&
                 (labels = pb_test_st_copy(f, FIXTURE, name, "labels", PB_ST_I32, 2, k, n, &err)) &&
                 (loss = pb_test_st_copy(f, FIXTURE, name, "loss_sum", PB_ST_F64, 1, 1, 0, &err)) &&
                 (npos_ref = pb_test_st_copy(f, FIXTURE, name, "npos", PB_ST_I64, 1, 1, 0, &err)) &&
                 (dref = pb_test_st_copy(f, FIXTURE, name, "dlogits", PB_ST_F64, 2, n, k, &err));
  PB_CHECK_MSG(ok, "%s", err.msg);
  if (ok) {
    /* multihot of the label rows: exactly the targets, every element overwritten */
    float *t = malloc(nk * sizeof(float)), *d = malloc(nk * sizeof(float));
    pb_test_fill_uniform(t, nk, -3.0f, 3.0f, 5);
    pb_multihot_cpu(t, labels, n, k);
    PB_CHECK_MSG(memcmp(t, targets, nk * sizeof(float)) == 0, "%s: multihot differs from the targets", name);

    pb_test_fill_uniform(d, nk, -3.0f, 3.0f, 6); /* garbage: dlogits is overwritten */
    float ls = -1.0f;
    int64_t np = -1;
    const float gs = 1.0f / (float)npos_ref[0];
    pb_inclusive_loss_cpu(&ls, &np, d, logits, targets, n, k, gs);
    const double lrel = fabs((double)ls - loss[0]) / fabs(loss[0]);
    double mref;
    const double gerr = max_err(d, dref, nk, &mref);
    PB_CHECK_MSG(lrel <= GOLD_RTOL, "%s: loss_sum %.9g, ref %.9g (rel %.2e)", name, (double)ls, loss[0], lrel);
    PB_CHECK_MSG(np == npos_ref[0], "%s: npos %lld, ref %lld", name, (long long)np, (long long)npos_ref[0]);
    PB_CHECK_MSG(gerr <= GOLD_GRAD * mref, "%s: dlogits max abs err %.3e > %.1e * %.3e", name, gerr, GOLD_GRAD,
                 mref);
    /* rows with nothing to contrast: exactly zero */
    int special = 0;
    for (int i = 0; i < n; i++) {
      int np_i = 0;
      for (int j = 0; j < k; j++) np_i += targets[(size_t)i * k + j] > 0.5f;
      if (np_i == 0 || np_i == k) {
        special++;
        PB_CHECK_MSG(row_zero_bits(d + (size_t)i * k, k), "%s: row %d (%d positives of %d) has a nonzero gradient",
                     name, i, np_i, k);
      }
    }
    printf("  %s n=%-2d k=%-5d npos %lld loss rel err %.2e, dlogits max err %.2e (max |ref| %.3g), "
           "%d empty/full rows\n", name, n, k, (long long)np, lrel, gerr, mref, special);
    free(t), free(d);
  }
  free(logits), free(targets), free(labels), free(loss), free(npos_ref), free(dref);
}

static void check_goldens(void) {
  pb_st_file f;
  pb_err err = {{0}};
  if (pb_st_read(&f, pb_test_fixture(FIXTURE), &err) != PB_OK) {
    PB_CHECK_MSG(0, "%s", err.msg);
    return;
  }
  const char *cases = pb_st_meta(&f, "cases");
  PB_CHECK_MSG(cases && *cases, "%s lacks the metadata key cases", FIXTURE);
  int count = 0;
  for (const char *p = cases ? cases : ""; *p;) {
    const char *e = strchr(p, ',');
    const size_t len = e ? (size_t)(e - p) : strlen(p);
    char name[32];
    PB_CHECK_MSG(len > 0 && len < sizeof name, "%s: bad case list \"%s\"", FIXTURE, cases);
    if (len == 0 || len >= sizeof name) break;
    memcpy(name, p, len), name[len] = '\0';
    check_case(&f, name);
    count++;
    p += len + (e != NULL);
  }
  PB_CHECK_MSG(count == 3, "%s: %d cases, expected 3", FIXTURE, count);
  pb_st_free(&f);
}

/* ------------------------------------------------------------------ multihot by hand */

static void check_multihot_hand(void) {
  enum { N = 3, K = 4 };
  /* label rows y[K][N]: label c of sample i at c*N + i */
  const int32_t y[K * N] = {1, 0, -1, /* label 0: sample 0 */
                            0, 2, 0,  /* label 1: sample 1 (2 > 0 is present) */
                            5, 5, 5,  /* label 2: every sample */
                            -3, 0, 0 /* label 3: none */};
  const float want[N * K] = {1, 0, 1, 0, /* sample 0 */
                             0, 1, 1, 0, /* sample 1 */
                             0, 0, 1, 0 /* sample 2 */};
  float t[N * K];
  for (int i = 0; i < N * K; i++) t[i] = 7.0f;
  pb_multihot_cpu(t, y, N, K);
  PB_CHECK_MSG(memcmp(t, want, sizeof t) == 0, "multihot hand case differs");
  pb_multihot_cpu(NULL, NULL, 0, K); /* nothing */
  pb_multihot_cpu(NULL, NULL, N, 0);
}

/* ------------------------------------------------------------------ 2. finite differences */

static void check_fd(void) {
  enum { N = 5, K = 9 };
  float z[N * K], t[N * K], d[N * K];
  pb_test_fill_uniform(z, N * K, -4.0f, 4.0f, 11);
  pb_test_fill_uniform(t, N * K, 0.0f, 1.0f, 12);
  for (int i = 0; i < N * K; i++) t[i] = t[i] < 0.35f ? 1.0f : 0.0f;
  for (int j = 0; j < K; j++) t[1 * K + j] = 0.0f, t[3 * K + j] = 1.0f; /* row 1 empty, row 3 full */
  t[0] = 1.0f, t[1] = 0.0f, t[2 * K] = 1.0f, t[2 * K + 1] = 0.0f, t[4 * K + 2] = 1.0f, t[4 * K + 3] = 0.0f;
  float ls;
  int64_t np;
  pb_inclusive_loss_cpu(&ls, &np, d, z, t, N, K, 1.0f);
  double zd[N * K], fd[N * K];
  for (int i = 0; i < N * K; i++) zd[i] = z[i];
  const double lref = fd_loss(zd, t, N, K);
  PB_CHECK_MSG(fabs((double)ls - lref) <= GOLD_RTOL * fabs(lref), "fd case: loss %.9g, direct %.9g", (double)ls, lref);
  double mfd = 0.0;
  for (int i = 0; i < N * K; i++) {
    const double keep = zd[i];
    zd[i] = keep + FD_H;
    const double lp = fd_loss(zd, t, N, K);
    zd[i] = keep - FD_H;
    const double lm = fd_loss(zd, t, N, K);
    zd[i] = keep;
    fd[i] = (lp - lm) / (2.0 * FD_H);
    mfd = fmax(mfd, fabs(fd[i]));
  }
  double worst = 0.0;
  for (int i = 0; i < N * K; i++) {
    const double e = fabs((double)d[i] - fd[i]), tol = FD_ATOL * mfd + FD_RTOL * fabs(fd[i]);
    worst = fmax(worst, e / tol);
    PB_CHECK_MSG(e <= tol, "fd: element %d (row %d) op %.9g, differences %.9g", i, i / K, (double)d[i], fd[i]);
  }
  /* each row's gradient sums to 0 when it has both kinds: sum_p (s_p - 1) + sum_N e_j sum_p 1/Z_p = 0 */
  for (int i = 0; i < N; i++) {
    double rs = 0.0;
    for (int j = 0; j < K; j++) rs += d[i * K + j];
    PB_CHECK_MSG(fabs(rs) <= 1e-5, "row %d gradient sums to %.3g", i, rs);
  }
  printf("  finite differences: worst |err| / tol %.3f (npos %lld, loss %.6g)\n", worst, (long long)np, (double)ls);
}

/* ------------------------------------------------------------------ 3. properties */

static void check_properties(void) {
  enum { N = 6, K = 17 };
  float z[N * K], t[N * K], d1[N * K], d2[N * K];
  pb_test_fill_uniform(z, N * K, -6.0f, 6.0f, 21);
  pb_test_fill_uniform(t, N * K, 0.0f, 1.0f, 22);
  for (int i = 0; i < N * K; i++) t[i] = t[i] < 0.3f ? 1.0f : 0.0f;
  float l1, l2;
  int64_t n1, n2;
  pb_inclusive_loss_cpu(&l1, &n1, d1, z, t, N, K, 0.125f);
  pb_test_fill_uniform(d2, N * K, -1.0f, 1.0f, 23);
  pb_inclusive_loss_cpu(&l2, &n2, d2, z, t, N, K, 0.25f);
  int exact = l1 == l2 && n1 == n2;
  for (int i = 0; i < N * K; i++) exact &= d2[i] == 2.0f * d1[i];
  PB_CHECK_MSG(exact, "grad_scale x2 is not exactly 2x dlogits, or changed the loss");
  int64_t cnt = 0;
  for (int i = 0; i < N * K; i++) cnt += t[i] > 0.5f;
  PB_CHECK_MSG(n1 == cnt, "npos %lld, expected %lld", (long long)n1, (long long)cnt);
  pb_inclusive_loss_cpu(&l2, NULL, NULL, z, t, N, K, 0.125f);
  PB_CHECK_MSG(l2 == l1, "dlogits / npos NULL changed the loss");

  /* empty shapes */
  l2 = 5.0f, n2 = 5;
  pb_inclusive_loss_cpu(&l2, &n2, NULL, NULL, NULL, 0, K, 1.0f);
  PB_CHECK(l2 == 0.0f && n2 == 0);
  l2 = 5.0f, n2 = 5;
  pb_inclusive_loss_cpu(&l2, &n2, NULL, NULL, NULL, N, 0, 1.0f);
  PB_CHECK(l2 == 0.0f && n2 == 0);

  /* +-1000: row 0 positive 2000 below a negative; row 1 positive 2000 above the negatives */
  const float zb[2 * 3] = {-1000.0f, 1000.0f, 0.0f, 1000.0f, -1000.0f, -1000.0f};
  const float tb[2 * 3] = {1.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f};
  float db[6], lb;
  int64_t nb;
  pb_inclusive_loss_cpu(&lb, &nb, db, zb, tb, 2, 3, 1.0f);
  PB_CHECK_MSG(lb == 2000.0f && nb == 2, "+-1000: loss %.9g npos %lld, expected 2000, 2", (double)lb, (long long)nb);
  PB_CHECK_MSG(db[0] == -1.0f && db[1] == 1.0f && db[2] == 0.0f && db[3] == 0.0f && db[4] == 0.0f && db[5] == 0.0f,
               "+-1000: gradient %g %g %g / %g %g %g", (double)db[0], (double)db[1], (double)db[2], (double)db[3],
               (double)db[4], (double)db[5]);
}

int main(void) {
  check_goldens();
  check_multihot_hand();
  check_fd();
  check_properties();
  return pb_test_exit("test_golden_multilabel_loss");
}
