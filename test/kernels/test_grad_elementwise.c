/* test_grad_elementwise.c: CPU activations (kernels/cpu/activation.c), elementwise ops and
 * channel scale (kernels/cpu/elementwise.c) and dropout (kernels/cpu/dropout.c).
 * Gradients by central finite differences of L = sum(y * r) for a fixed random r. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/pb_rng.h"
#include "test/testutil.h"

/* Finite differences: step H = 1e-2 in float32, L accumulated in double over float32 y;
 * y's rounding (~6e-8 relative) over 2H gives < 1e-5 noise, and the O(H^2) truncation error
 * of sigmoid is < 1e-5 (|sigmoid'''| <= 1/8). ReLU and chscale are piecewise linear, so only
 * rounding remains. So atol 2e-3 rtol 2e-2 is loose; the analytic gradients are O(1). */
#define FD_H 1e-2f
#define FD_ATOL 2e-3
#define FD_RTOL 2e-2

enum { N_ACT = 257 };

static double dot(const float *y, const float *r, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)y[i] * r[i];
  return s;
}

typedef void (*unary_fwd)(float *y, const float *x, size_t n);

/* dL/dx by central differences through the forward f; L = sum(f(x) * r). */
static void fd_unary(float *g, unary_fwd f, float *x, const float *r, float *y, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const float keep = x[i];
    x[i] = keep + FD_H;
    f(y, x, n);
    const double lp = dot(y, r, n);
    x[i] = keep - FD_H;
    f(y, x, n);
    const double lm = dot(y, r, n);
    x[i] = keep;
    g[i] = (float)((lp - lm) / (2.0 * (double)FD_H));
  }
}

static void check_relu(void) {
  float x[N_ACT], r[N_ACT], y[N_ACT], dx[N_ACT], g[N_ACT], ref[N_ACT];
  pb_test_fill_uniform(x, N_ACT, -2.0f, 2.0f, 1);
  pb_test_fill_uniform(r, N_ACT, -1.0f, 1.0f, 2);
  /* keep every x at least 2H from the kink so that differences do not straddle it */
  for (int i = 0; i < N_ACT; i++)
    if (fabsf(x[i]) < 3 * FD_H) x[i] = x[i] < 0 ? -3 * FD_H : 3 * FD_H;
  pb_relu_fwd_cpu(y, x, N_ACT);
  for (int i = 0; i < N_ACT; i++) ref[i] = x[i] > 0 ? x[i] : 0.0f;
  PB_CHECK(memcmp(y, ref, sizeof y) == 0);
  pb_relu_bwd_cpu(dx, r, y, N_ACT);
  fd_unary(g, pb_relu_fwd_cpu, x, r, ref, N_ACT);
  PB_CHECK(pb_test_allclose("relu dx", dx, g, N_ACT, FD_ATOL, FD_RTOL) == 0);
  /* in place: y over x, then dx over dy, give the same values */
  float xy[N_ACT], d[N_ACT];
  memcpy(xy, x, sizeof xy);
  memcpy(d, r, sizeof d);
  pb_relu_fwd_cpu(xy, xy, N_ACT);
  pb_relu_bwd_cpu(d, d, xy, N_ACT);
  PB_CHECK(memcmp(xy, y, sizeof y) == 0);
  PB_CHECK(memcmp(d, dx, sizeof d) == 0);
}

static void check_sigmoid(void) {
  float x[N_ACT], r[N_ACT], y[N_ACT], dx[N_ACT], g[N_ACT], tmp[N_ACT];
  pb_test_fill_uniform(x, N_ACT, -6.0f, 6.0f, 3);
  pb_test_fill_uniform(r, N_ACT, -1.0f, 1.0f, 4);
  pb_sigmoid_fwd_cpu(y, x, N_ACT);
  size_t bad = 0;
  for (int i = 0; i < N_ACT; i++) {
    const double ref = 1.0 / (1.0 + exp(-(double)x[i]));
    if (fabs(y[i] - ref) > 1e-7 + 1e-6 * ref) bad++; /* float32: a few ulps */
  }
  PB_CHECK(bad == 0);
  pb_sigmoid_bwd_cpu(dx, r, y, N_ACT);
  fd_unary(g, pb_sigmoid_fwd_cpu, x, r, tmp, N_ACT);
  PB_CHECK(pb_test_allclose("sigmoid dx", dx, g, N_ACT, FD_ATOL, FD_RTOL) == 0);
  /* large |x|: saturates without inf/nan; tiny values for negative x stay positive */
  const float big[6] = {-100.0f, 100.0f, -1000.0f, 1000.0f, -20.0f, 0.0f};
  float yb[6], db[6];
  const float ones[6] = {1, 1, 1, 1, 1, 1};
  pb_sigmoid_fwd_cpu(yb, big, 6);
  pb_sigmoid_bwd_cpu(db, ones, yb, 6);
  for (int i = 0; i < 6; i++) PB_CHECK(isfinite(yb[i]) && isfinite(db[i]));
  PB_CHECK(yb[0] >= 0.0f && yb[0] < 1e-40f && yb[1] == 1.0f && yb[2] == 0.0f && yb[3] == 1.0f);
  PB_CHECK(fabsf(yb[4] - 2.0611537e-9f) <= 1e-15f && yb[5] == 0.5f);
}

static void check_add_scale(void) {
  enum { N = 37 };
  float a[N], b[N], y[N], r[N], ref[N];
  pb_test_fill_uniform(a, N, -2.0f, 2.0f, 5);
  pb_test_fill_uniform(b, N, -2.0f, 2.0f, 6);
  pb_test_fill_uniform(r, N, -1.0f, 1.0f, 7);
  for (int i = 0; i < N; i++) ref[i] = a[i] + b[i];
  pb_add_fwd_cpu(y, a, b, N);
  PB_CHECK(memcmp(y, ref, sizeof y) == 0);
  /* aliasing y with a, then with b */
  float t[N];
  memcpy(t, a, sizeof t);
  pb_add_fwd_cpu(t, t, b, N);
  PB_CHECK(memcmp(t, ref, sizeof t) == 0);
  memcpy(t, b, sizeof t);
  pb_add_fwd_cpu(t, a, t, N);
  PB_CHECK(memcmp(t, ref, sizeof t) == 0);
  /* backward is the identity: dL/da = dL/db = r, checked by differences on a */
  float g[N];
  for (int i = 0; i < N; i++) {
    const float keep = a[i];
    a[i] = keep + FD_H;
    pb_add_fwd_cpu(y, a, b, N);
    const double lp = dot(y, r, N);
    a[i] = keep - FD_H;
    pb_add_fwd_cpu(y, a, b, N);
    const double lm = dot(y, r, N);
    a[i] = keep;
    g[i] = (float)((lp - lm) / (2.0 * (double)FD_H));
  }
  PB_CHECK(pb_test_allclose("add da", g, r, N, FD_ATOL, FD_RTOL) == 0);
  /* accumulate adds, scale multiplies in place */
  memcpy(t, a, sizeof t);
  pb_accumulate_cpu(t, b, N);
  PB_CHECK(memcmp(t, ref, sizeof t) == 0);
  pb_scale_cpu(t, -0.5f, N);
  for (int i = 0; i < N; i++) PB_CHECK(t[i] == ref[i] * -0.5f);
}

/* chscale: y[n,c,hw] = x * s[n,c]; dx = dy*s, ds = sum_hw dy*x (both overwritten). */
static void check_chscale(void) {
  enum { NB = 2, C = 5, HW = 6, T = NB * C * HW };
  float x[T], s[NB * C], r[T], y[T], dx[T], ds[NB * C], gx[T], gs[NB * C];
  pb_test_fill_uniform(x, T, -2.0f, 2.0f, 8);
  pb_test_fill_uniform(s, NB * C, 0.0f, 1.0f, 9);
  pb_test_fill_uniform(r, T, -1.0f, 1.0f, 10);
  pb_chscale_fwd_cpu(y, x, s, NB, C, HW);
  for (int i = 0; i < T; i++) PB_CHECK(y[i] == x[i] * s[i / HW]);
  /* outputs start as garbage: both are overwritten */
  for (int i = 0; i < T; i++) dx[i] = 123.0f;
  for (int i = 0; i < NB * C; i++) ds[i] = 456.0f;
  pb_chscale_bwd_cpu(dx, ds, r, x, s, NB, C, HW);
  for (int i = 0; i < T; i++) {
    const float keep = x[i];
    x[i] = keep + FD_H;
    pb_chscale_fwd_cpu(y, x, s, NB, C, HW);
    const double lp = dot(y, r, T);
    x[i] = keep - FD_H;
    pb_chscale_fwd_cpu(y, x, s, NB, C, HW);
    const double lm = dot(y, r, T);
    x[i] = keep;
    gx[i] = (float)((lp - lm) / (2.0 * (double)FD_H));
  }
  for (int i = 0; i < NB * C; i++) {
    const float keep = s[i];
    s[i] = keep + FD_H;
    pb_chscale_fwd_cpu(y, x, s, NB, C, HW);
    const double lp = dot(y, r, T);
    s[i] = keep - FD_H;
    pb_chscale_fwd_cpu(y, x, s, NB, C, HW);
    const double lm = dot(y, r, T);
    s[i] = keep;
    gs[i] = (float)((lp - lm) / (2.0 * (double)FD_H));
  }
  PB_CHECK(pb_test_allclose("chscale dx", dx, gx, T, FD_ATOL, FD_RTOL) == 0);
  PB_CHECK(pb_test_allclose("chscale ds", ds, gs, NB * C, FD_ATOL, FD_RTOL) == 0);
}

static void check_dropout(void) {
  enum { N = 100000 };
  const float p = 0.3f;
  const uint64_t seed = 1234, stream = PB_RNG_STREAM(PB_RNG_DROPOUT, 7);
  float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
  float *dy = malloc(N * sizeof(float)), *dx = malloc(N * sizeof(float));
  uint8_t *mask = malloc(N), *mask2 = malloc(N);
  pb_test_fill_uniform(x, N, -2.0f, 2.0f, 11);
  pb_test_fill_uniform(dy, N, -1.0f, 1.0f, 12);
  pb_dropout_fwd_cpu(y, mask, x, N, p, seed, stream);
  const float scale = 1.0f / (1.0f - p);
  size_t kept = 0, bad_val = 0, bad_mask = 0;
  for (size_t i = 0; i < N; i++) {
    kept += mask[i];
    if (mask[i] != (pb_rng_uniform(seed, stream, i) >= p)) bad_mask++;
    /* kept: x/(1-p) to a float32 rounding or two; dropped: exactly 0 */
    const double want = mask[i] ? (double)x[i] / (1.0 - (double)p) : 0.0;
    if (fabs(y[i] - want) > 2e-7 * fabs(want)) bad_val++;
  }
  /* kept fraction ~ 1-p: binomial sd sqrt(p(1-p)/N) = 1.45e-3; allow 5 sd */
  const double frac = (double)kept / N, sd = sqrt(p * (1.0 - p) / N);
  PB_CHECK_MSG(fabs(frac - (1.0 - p)) <= 5 * sd, "kept %.5f want %.5f", frac, 1.0 - p);
  PB_CHECK(bad_mask == 0);
  PB_CHECK(bad_val == 0);
  /* same (seed, stream): same mask; another stream or seed: a different one */
  pb_dropout_fwd_cpu(dx, mask2, x, N, p, seed, stream);
  PB_CHECK(memcmp(mask, mask2, N) == 0 && memcmp(y, dx, N * sizeof(float)) == 0);
  pb_dropout_fwd_cpu(dx, mask2, x, N, p, seed, stream + 1);
  PB_CHECK(memcmp(mask, mask2, N) != 0);
  pb_dropout_fwd_cpu(dx, mask2, x, N, p, seed + 1, stream);
  PB_CHECK(memcmp(mask, mask2, N) != 0);
  /* backward: dx = mask * dy / (1-p), overwriting */
  for (size_t i = 0; i < N; i++) dx[i] = 99.0f;
  pb_dropout_bwd_cpu(dx, dy, mask, N, p);
  bad_val = 0;
  for (size_t i = 0; i < N; i++)
    if (dx[i] != (mask[i] ? dy[i] * scale : 0.0f)) bad_val++;
  PB_CHECK(bad_val == 0);
  /* p = 0 keeps everything unchanged */
  pb_dropout_fwd_cpu(y, mask, x, N, 0.0f, seed, stream);
  kept = 0;
  for (size_t i = 0; i < N; i++) kept += mask[i];
  PB_CHECK(kept == N && memcmp(y, x, N * sizeof(float)) == 0);
  free(x), free(y), free(dy), free(dx), free(mask), free(mask2);
}

int main(void) {
  check_relu();
  check_sigmoid();
  check_add_scale();
  check_chscale();
  check_dropout();
  return pb_test_exit("test_grad_elementwise");
}
