/* test_grad_l2norm.c: row-wise L2 normalisation (kernels/cpu/l2norm.c), and softmax
 * cross-entropy's missing labels (kernels/cpu/loss.c, label < 0).
 * l2norm: forward against a double reference (|y| = 1, y = x/|x|), gradients by central
 * finite differences of L = sum(y * r) for a fixed random r; rows of d = 1, 7 and 300 (one
 * longer than a CUDA block); the clamped branch (|x| < eps) and in-place backward.
 * Tolerances: step H = 1e-2 in float32 with L summed in double: y's rounding (~6e-8 relative,
 * L ~ sqrt(d)) over 2H gives < 2e-4 noise at d = 300; the truncation error is O(H^2 |y'''|) with
 * |y'''| ~ 1/|x|^3 and |x| >= 0.5 here: < 1e-3. atol 2e-3 rtol 2e-2 (analytic gradients O(1/|x|)).
 * Forward: rtol 1e-6 (one division rounded to float). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "test/testutil.h"

#define FD_H 1e-2f
#define FD_ATOL 2e-3
#define FD_RTOL 2e-2
#define EPS 1e-12f

static double dot(const float *y, const float *r, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)y[i] * r[i];
  return s;
}

static void check_l2norm(int n, int d, uint64_t seed) {
  size_t nd = (size_t)n * d;
  float *x = malloc(nd * 4), *r = malloc(nd * 4), *y = malloc(nd * 4), *yt = malloc(nd * 4), *dx = malloc(nd * 4),
        *g = malloc(nd * 4), *ref = malloc(nd * 4), *norm = malloc((size_t)n * 4);
  pb_test_fill_uniform(x, nd, -1.0f, 1.0f, seed);
  pb_test_fill_uniform(r, nd, -1.0f, 1.0f, seed + 1);
  /* keep every row norm >= 0.5 so that H perturbations stay in the smooth region */
  for (int i = 0; i < n; i++) x[(size_t)i * d] = x[(size_t)i * d] < 0 ? -0.5f - 0.1f * i : 0.5f + 0.1f * i;
  pb_l2norm_fwd_cpu(y, norm, x, n, d, EPS);
  for (int i = 0; i < n; i++) {
    double ss = 0;
    for (int j = 0; j < d; j++) ss += (double)x[(size_t)i * d + j] * x[(size_t)i * d + j];
    PB_CHECK(fabs(norm[i] - sqrt(ss)) <= 1e-6 * sqrt(ss));
    for (int j = 0; j < d; j++) ref[(size_t)i * d + j] = (float)(x[(size_t)i * d + j] / sqrt(ss));
  }
  PB_CHECK(pb_test_allclose("l2norm y", y, ref, nd, 0, 1e-6) == 0);
  pb_l2norm_bwd_cpu(dx, r, y, norm, n, d, EPS);
  for (size_t k = 0; k < nd; k++) {
    const float keep = x[k];
    x[k] = keep + FD_H;
    pb_l2norm_fwd_cpu(yt, NULL, x, n, d, EPS);
    const double lp = dot(yt, r, nd);
    x[k] = keep - FD_H;
    pb_l2norm_fwd_cpu(yt, NULL, x, n, d, EPS);
    const double lm = dot(yt, r, nd);
    x[k] = keep;
    g[k] = (float)((lp - lm) / (2.0 * (double)FD_H));
  }
  char what[64];
  snprintf(what, sizeof what, "l2norm dx (n=%d, d=%d)", n, d);
  PB_CHECK(pb_test_allclose(what, dx, g, nd, FD_ATOL, FD_RTOL) == 0);
  printf("%s: max |analytic - fd| = %.2e\n", what, pb_test_max_abs_diff(dx, g, nd));
  /* in place: dx over dy */
  memcpy(g, r, nd * 4);
  pb_l2norm_bwd_cpu(g, g, y, norm, n, d, EPS);
  PB_CHECK(memcmp(g, dx, nd * 4) == 0);
  free(x), free(r), free(y), free(yt), free(dx), free(g), free(ref), free(norm);
}

/* |x| < eps: y = x / eps and dx = dy / eps (the clamp has no gradient, as F.normalize). */
static void check_clamp(void) {
  float x[3] = {1e-14f, -2e-14f, 0.0f}, y[3], n1, dy[3] = {1.0f, -2.0f, 0.5f}, dx[3];
  pb_l2norm_fwd_cpu(y, &n1, x, 1, 3, EPS);
  for (int j = 0; j < 3; j++) PB_CHECK(fabsf(y[j] - x[j] / EPS) <= 1e-6f * fabsf(x[j] / EPS));
  pb_l2norm_bwd_cpu(dx, dy, y, &n1, 1, 3, EPS);
  for (int j = 0; j < 3; j++) PB_CHECK(fabsf(dx[j] - dy[j] / EPS) <= 1e-6f * fabsf(dy[j] / EPS));
  float z[3] = {0, 0, 0};
  pb_l2norm_fwd_cpu(y, &n1, z, 1, 3, EPS);
  PB_CHECK(y[0] == 0 && y[1] == 0 && y[2] == 0 && n1 == 0);
}

/* A missing label (< 0) contributes no loss and a zero gradient row; the other rows are
 * bitwise those of a batch without it. */
static void check_missing_labels(void) {
  enum { N = 4, K = 5 };
  float z[N * K], d[N * K], d3[3 * K], l, l3, losses[N];
  int32_t y[N] = {2, -1, 0, 4}, y3[3] = {2, 0, 4};
  pb_test_fill_uniform(z, N * K, -3.0f, 3.0f, 9);
  float z3[3 * K];
  memcpy(z3, z, K * 4);
  memcpy(z3 + K, z + 2 * K, 2 * K * 4);
  pb_softmax_xent_cpu(&l, losses, d, z, y, N, K, 0.1f, 0.25f);
  pb_softmax_xent_cpu(&l3, NULL, d3, z3, y3, 3, K, 0.1f, 0.25f);
  PB_CHECK(l == l3);
  PB_CHECK(losses[1] == 0.0f);
  for (int j = 0; j < K; j++) PB_CHECK(d[K + j] == 0.0f);
  PB_CHECK(memcmp(d, d3, K * 4) == 0 && memcmp(d + 2 * K, d3 + K, 2 * K * 4) == 0);
}

int main(void) {
  check_l2norm(3, 1, 10);
  check_l2norm(5, 7, 20);
  check_l2norm(2, 300, 30);
  check_clamp();
  check_missing_labels();
  return pb_test_exit("test_grad_l2norm");
}
