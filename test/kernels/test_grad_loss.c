/* test_grad_loss.c: CPU losses (kernels/cpu/loss.c): softmax cross-entropy with label
 * smoothing (loss against a direct double computation, per-sample losses, gradient by
 * central finite differences of the loss itself, grad_scale), BCE with logits (direct
 * loss, finite differences, no inf/nan at |z| = 100), and softmax rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "test/testutil.h"

/* Loss values: float32 result of a double computation: atol 1e-5 rtol 1e-5.
 * Finite differences: step H = 1e-2 on float32 logits; the loss sum (~10) is returned as
 * float32, so rounding (~1e-6) over 2H adds ~5e-5, and the O(H^2) truncation error is
 * ~1e-5 (softmax derivatives are bounded by 1). The differences are taken with grad_scale 1,
 * so the gradients are O(1): atol 2e-3 rtol 2e-2. */
#define LOSS_ATOL 1e-5
#define LOSS_RTOL 1e-5
#define FD_H 1e-2f
#define FD_ATOL 2e-3
#define FD_RTOL 2e-2

enum { N = 5, K = 7 };

/* Direct (unshifted) per-sample loss in double: -(1-eps) log p_y - eps/k sum_j log p_j. */
static double direct_xent(const float *z, int y, int k, double eps) {
  double s = 0;
  for (int j = 0; j < k; j++) s += exp((double)z[j]);
  const double lse = log(s);
  double sum_logp = 0;
  for (int j = 0; j < k; j++) sum_logp += z[j] - lse;
  return -(1.0 - eps) * (z[y] - lse) - eps / k * sum_logp;
}

static void check_xent(float smoothing) {
  float z[N * K], losses[N], d[N * K], d2[N * K], g[N * K], ls, ls2;
  int32_t labels[N] = {0, 6, 3, 3, 1};
  pb_test_fill_uniform(z, N * K, -3.0f, 3.0f, 20 + (uint64_t)(smoothing * 100));
  const float gs = 1.0f / N;
  for (int i = 0; i < N * K; i++) d[i] = 77.0f; /* dlogits is overwritten */
  pb_softmax_xent_cpu(&ls, losses, d, z, labels, N, K, smoothing, gs);
  float ref[N];
  double sum = 0;
  for (int i = 0; i < N; i++) {
    ref[i] = (float)direct_xent(z + i * K, labels[i], K, smoothing);
    sum += ref[i];
  }
  const float refsum = (float)sum;
  char what[64];
  snprintf(what, sizeof what, "xent losses eps=%g", smoothing);
  PB_CHECK(pb_test_allclose(what, losses, ref, N, LOSS_ATOL, LOSS_RTOL) == 0);
  snprintf(what, sizeof what, "xent loss_sum eps=%g", smoothing);
  PB_CHECK(pb_test_allclose(what, &ls, &refsum, 1, LOSS_ATOL, LOSS_RTOL) == 0);
  /* d(loss_sum)/dz (grad_scale 1, so gradients are O(1) against FD_ATOL) by central
   * differences of the op's own loss */
  float d1[N * K];
  pb_softmax_xent_cpu(&ls2, NULL, d1, z, labels, N, K, smoothing, 1.0f);
  for (int i = 0; i < N * K; i++) {
    const float keep = z[i];
    float lp, lm;
    z[i] = keep + FD_H;
    pb_softmax_xent_cpu(&lp, NULL, NULL, z, labels, N, K, smoothing, 1.0f);
    z[i] = keep - FD_H;
    pb_softmax_xent_cpu(&lm, NULL, NULL, z, labels, N, K, smoothing, 1.0f);
    z[i] = keep;
    g[i] = (float)(((double)lp - (double)lm) / (2.0 * (double)FD_H));
  }
  snprintf(what, sizeof what, "xent dlogits eps=%g", smoothing);
  PB_CHECK(pb_test_allclose(what, d1, g, N * K, FD_ATOL, FD_RTOL) == 0);
  /* grad_scale 1/N (a mean) scales that gradient: float32 roundings only */
  for (int i = 0; i < N * K; i++) g[i] = d1[i] * gs;
  PB_CHECK(pb_test_allclose("xent mean grad", d, g, N * K, 1e-7, 1e-6) == 0);
  /* each gradient row sums to 0 (probabilities and targets both sum to 1) */
  for (int i = 0; i < N; i++) {
    double rs = 0;
    for (int j = 0; j < K; j++) rs += d[i * K + j];
    PB_CHECK(fabs(rs) <= 1e-6);
  }
  /* grad_scale is a pure factor: 2.5 times the scale gives 2.5 times the gradient */
  pb_softmax_xent_cpu(&ls2, NULL, d2, z, labels, N, K, smoothing, 2.5f * gs);
  for (int i = 0; i < N * K; i++) g[i] = 2.5f * d[i];
  PB_CHECK(pb_test_allclose("xent grad_scale", d2, g, N * K, 1e-7, 1e-6) == 0);
  PB_CHECK(ls2 == ls); /* the loss itself is not scaled */
}

/* Very large logits: shifted log-sum-exp keeps everything finite. */
static void check_xent_large(void) {
  const float z[2 * 3] = {1000.0f, 0.0f, -1000.0f, -500.0f, 500.0f, 499.0f};
  const int32_t labels[2] = {0, 2};
  float losses[2], d[6], ls;
  pb_softmax_xent_cpu(&ls, losses, d, z, labels, 2, 3, 0.1f, 1.0f);
  PB_CHECK(isfinite(ls));
  for (int i = 0; i < 6; i++) PB_CHECK(isfinite(d[i]));
  /* sample 0, y = 0: log p = {0, -1000, -2000} -> 0.9*0 + 0.1/3*3000 = 100 */
  PB_CHECK(fabsf(losses[0] - 100.0f) <= 1e-4f);
  /* sample 1, y = 2: lse = 500 + log(1 + e^-1); log p_2 = -1 - log(1 + e^-1) */
  const double l1p = log1p(exp(-1.0)), lp2 = -1.0 - l1p, lp1 = -l1p, lp0 = -1000.0 - l1p;
  const double want = -0.9 * lp2 - 0.1 / 3 * (lp0 + lp1 + lp2);
  PB_CHECK(fabs(losses[1] - want) <= 1e-4);
}

/* Direct BCE in double: -t log sigma(z) - (1-t) log(1 - sigma(z)); fine for moderate z. */
static double direct_bce(double z, double t) {
  const double s = 1.0 / (1.0 + exp(-z));
  return -t * log(s) - (1.0 - t) * log(1.0 - s);
}

static void check_bce(void) {
  float z[N * K], t[N * K], d[N * K], g[N * K], ls;
  pb_test_fill_uniform(z, N * K, -4.0f, 4.0f, 30);
  pb_test_fill_uniform(t, N * K, 0.0f, 1.0f, 31);
  for (int i = 0; i < N * K; i += 3) t[i] = t[i] < 0.5f ? 0.0f : 1.0f; /* hard labels too */
  const float gs = 1.0f / (N * K);
  pb_bce_logits_cpu(&ls, d, z, t, N, K, gs);
  double sum = 0;
  for (int i = 0; i < N * K; i++) sum += direct_bce(z[i], t[i]);
  const float refsum = (float)sum;
  PB_CHECK(pb_test_allclose("bce loss_sum", &ls, &refsum, 1, LOSS_ATOL, LOSS_RTOL) == 0);
  /* finite differences of the loss sum against the grad_scale-1 gradient (O(1) values) */
  float d1[N * K], l1;
  pb_bce_logits_cpu(&l1, d1, z, t, N, K, 1.0f);
  for (int i = 0; i < N * K; i++) {
    const float keep = z[i];
    float lp, lm;
    z[i] = keep + FD_H;
    pb_bce_logits_cpu(&lp, NULL, z, t, N, K, 1.0f);
    z[i] = keep - FD_H;
    pb_bce_logits_cpu(&lm, NULL, z, t, N, K, 1.0f);
    z[i] = keep;
    g[i] = (float)(((double)lp - (double)lm) / (2.0 * (double)FD_H));
  }
  PB_CHECK(pb_test_allclose("bce dlogits", d1, g, N * K, FD_ATOL, FD_RTOL) == 0);
  for (int i = 0; i < N * K; i++) g[i] = d1[i] * gs;
  PB_CHECK(pb_test_allclose("bce mean grad", d, g, N * K, 1e-7, 1e-6) == 0);
  PB_CHECK(l1 == ls);

  /* |z| = 100: the naive form would give log(0) = -inf; the stable one stays exact */
  const float zb[4] = {100.0f, -100.0f, 100.0f, -100.0f};
  const float tb[4] = {0.0f, 1.0f, 1.0f, 0.0f};
  float db[4], lb;
  pb_bce_logits_cpu(&lb, db, zb, tb, 1, 4, 1.0f);
  PB_CHECK(isfinite(lb));
  for (int i = 0; i < 4; i++) PB_CHECK(isfinite(db[i]));
  /* two wrong-side terms of 100 + log1p(e^-100), two right-side terms of ~e^-100 */
  PB_CHECK(fabsf(lb - 200.0f) <= 1e-4f);
  PB_CHECK(db[0] == 1.0f && db[1] == -1.0f && fabsf(db[2]) <= 1e-30f && fabsf(db[3]) <= 1e-30f);
}

static void check_softmax(void) {
  float z[N * K], p[N * K];
  pb_test_fill_uniform(z, N * K, -5.0f, 5.0f, 40);
  z[0] = 1000.0f; /* row 0: one huge logit, must not overflow */
  z[K] = -1000.0f;
  pb_softmax_fwd_cpu(p, z, N, K);
  for (int i = 0; i < N; i++) {
    double rs = 0;
    for (int j = 0; j < K; j++) {
      PB_CHECK(isfinite(p[i * K + j]) && p[i * K + j] >= 0.0f);
      rs += p[i * K + j];
    }
    PB_CHECK_MSG(fabs(rs - 1.0) <= 1e-6, "row %d sums to %.9f", i, rs); /* K float roundings */
  }
  PB_CHECK(p[0] == 1.0f && p[K] == 0.0f);
  /* rows 2.. against exp(z) / sum exp(z) in double */
  float ref[N * K];
  for (int i = 2; i < N; i++) {
    double s = 0;
    for (int j = 0; j < K; j++) s += exp((double)z[i * K + j]);
    for (int j = 0; j < K; j++) ref[i * K + j] = (float)(exp((double)z[i * K + j]) / s);
  }
  PB_CHECK(pb_test_allclose("softmax p", p + 2 * K, ref + 2 * K, (N - 2) * K, 1e-7, 1e-6) == 0);
}

int main(void) {
  check_xent(0.0f);
  check_xent(0.1f);
  check_xent_large();
  check_bce();
  check_softmax();
  return pb_test_exit("test_grad_loss");
}
