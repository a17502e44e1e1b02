/* test_small_ops.c: the CPU references of the small ops the trainer and the loader use
 * (kernels/cpu): argmax + correct count (first maximum on ties, NaN rules, missing labels),
 * one-hot targets (missing and out-of-range labels give zero rows), the double loss
 * accumulator, u8 -> normalised f32 (bitwise the formula), gradient-norm clipping (torch's rule:
 * coef = max_norm / (norm + 1e-6), applied when below 1), the SE tail chscale_add_relu (bitwise
 * chscale, accumulate, relu; in place). Their CUDA twins are checked against
 * these in test_cuda_loss, test_cuda_elementwise and test_cuda_optim. All checks exact. */
#include <math.h>
#include <string.h>

#include "kernels/ops.h"
#include "test/testutil.h"

static void test_argmax(void) {
  const int k = 4;
  float z[6][4] = {{1, 3, 3, 0}, {NAN, 5, 6, 7}, {1, NAN, 0, 2}, {-INFINITY, -INFINITY, -INFINITY, -INFINITY},
                   {0.0f, -0.0f, 0.0f, -1}, {-5, -4, -3, -2}};
  int32_t labels[6] = {1, 0, 3, -1, 0, 2}, pred[6];
  const int32_t want[6] = {1, 0, 3, 0, 0, 3};
  int correct = 10;
  pb_argmax_count_cpu(pred, &correct, &z[0][0], labels, 6, k);
  for (int i = 0; i < 6; i++) PB_CHECK_MSG(pred[i] == want[i], "row %d: argmax %d, want %d", i, pred[i], want[i]);
  /* rows 0, 1, 2 and 4 match their labels; the missing label (-1) of row 3 never counts */
  PB_CHECK_MSG(correct == 14, "correct %d, want 10 + 4", correct);
  memset(pred, 0xFF, sizeof pred);
  pb_argmax_count_cpu(pred, NULL, &z[0][0], NULL, 6, k); /* predictions only */
  PB_CHECK(pred[5] == 3 && pred[0] == 1);
}

static void test_onehot(void) {
  enum { N = 5, K = 4 };
  const int32_t labels[N] = {2, 0, -1, 3, 4}; /* -1 missing, 4 out of range: zero rows */
  float t[N * K + 1];
  for (int i = 0; i < N * K + 1; i++) t[i] = 7.0f; /* garbage: every element is overwritten */
  pb_onehot_cpu(t, labels, N, K);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < K; j++) {
      const float want = labels[i] == j ? 1.0f : 0.0f;
      PB_CHECK_MSG(t[i * K + j] == want, "onehot row %d col %d: %g, want %g", i, j, (double)t[i * K + j],
                   (double)want);
    }
  PB_CHECK_MSG(t[N * K] == 7.0f, "onehot wrote past t[n*k]");
  pb_onehot_cpu(NULL, NULL, 0, K); /* n = 0: nothing, not even a read */
}

static void test_accum_f64(void) {
  double acc = 0.25;
  const float x[2] = {0.1f, 1e30f};
  pb_accum_f64_cpu(&acc, x); /* one element only: x[1] never counts */
  PB_CHECK_MSG(acc == 0.25 + (double)0.1f, "accum_f64: %.17g", acc);
  pb_accum_f64_cpu(&acc, x);
  PB_CHECK_MSG(acc == 0.25 + (double)0.1f + (double)0.1f, "accum_f64 (2nd): %.17g", acc);
}

static void test_u8_norm(void) {
  enum { N = 3, C = 3, HW = 50 };
  uint8_t u8[N * C * HW];
  float x[N * C * HW];
  const float mean[C] = {0.485f, 0.456f, 0.406f}, std[C] = {0.229f, 0.224f, 0.225f};
  for (int i = 0; i < N * C * HW; i++) u8[i] = (uint8_t)(i * 37 + 11);
  pb_u8_to_f32_norm_cpu(x, u8, N, C, HW, mean, std);
  int bad = 0;
  for (int i = 0; i < N * C * HW; i++) {
    int ch = (i / HW) % C;
    float ref = ((float)u8[i] / 255.0f - mean[ch]) / std[ch];
    bad += memcmp(&ref, &x[i], sizeof ref) != 0;
  }
  PB_CHECK_MSG(bad == 0, "%d values differ from (u8/255 - mean)/std", bad);
}

static void test_clip(void) {
  float g[1000], h[1000];
  pb_test_fill_uniform(g, 1000, -1, 1, 5);
  const double ss = pb_sumsq_cpu(g, 1000), norm = sqrt(ss);
  for (int f = 0; f < 3; f++) {
    const double max_norm = f == 0 ? 0.5 * norm : f == 1 ? 2 * norm : 0; /* clips, leaves, off */
    memcpy(h, g, sizeof g);
    pb_clip_scale_cpu(h, 1000, &ss, max_norm);
    const double coef = max_norm / (norm + 1e-6);
    int bad = 0;
    for (int i = 0; i < 1000; i++) {
      float ref = max_norm > 0 && coef < 1 ? g[i] * (float)coef : g[i];
      bad += memcmp(&ref, &h[i], sizeof ref) != 0;
    }
    PB_CHECK_MSG(bad == 0, "clip factor %d: %d elements differ", f, bad);
    if (f == 0) PB_CHECK(fabs(sqrt(pb_sumsq_cpu(h, 1000)) - 0.5 * norm) < 1e-4 * norm);
  }
  const double nan_ss = NAN;
  memcpy(h, g, sizeof g);
  pb_clip_scale_cpu(h, 1000, &nan_ss, 1.0); /* a NaN norm: no scaling */
  PB_CHECK(!memcmp(h, g, sizeof g));
}

/* The SE tail y = relu(x * s + r): bitwise chscale, accumulate, relu; in place over x and r. */
static void test_chscale_add_relu(void) {
  enum { N = 3, C = 5, HW = 7, CNT = N * C * HW };
  float x[CNT], r[CNT], s[N * C], ref[CNT], y[CNT], io[CNT];
  pb_test_fill_uniform(x, CNT, -2, 2, 1), pb_test_fill_uniform(r, CNT, -1, 1, 2), pb_test_fill_uniform(s, N * C, 0, 1, 3);
  x[4] = -0.0f, x[9] = NAN, r[11] = -0.0f;
  pb_chscale_fwd_cpu(ref, x, s, N, C, HW);
  pb_accumulate_cpu(ref, r, CNT);
  pb_relu_fwd_cpu(ref, ref, CNT);
  pb_chscale_add_relu_cpu(y, x, s, r, N, C, HW);
  PB_CHECK(!memcmp(y, ref, sizeof y));
  memcpy(io, x, sizeof io);
  pb_chscale_add_relu_cpu(io, io, s, r, N, C, HW);
  PB_CHECK(!memcmp(io, ref, sizeof io));
  memcpy(io, r, sizeof io);
  pb_chscale_add_relu_cpu(io, x, s, io, N, C, HW);
  PB_CHECK(!memcmp(io, ref, sizeof io));
  size_t zeros = 0;
  for (int i = 0; i < CNT; i++) zeros += y[i] == 0.0f;
  PB_CHECK(zeros > 10); /* the ReLU clamped */
}

int main(void) {
  test_chscale_add_relu();
  test_argmax();
  test_onehot();
  test_accum_f64();
  test_u8_norm();
  test_clip();
  return pb_test_exit("test_small_ops");
}
