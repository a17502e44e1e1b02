/* test_cuda_loss.c: twin tests of kernels/cuda/loss.cu against kernels/cpu/loss.c (and the
 * CPU twin pb_argmax_count_cpu). Needs a GPU: exits 77 (ctest: skipped) without one.
 *
 * Shapes (n, k): a single sample, k = 3, k not a multiple of 32, k = 1000 (one block per row
 * with several elements per thread), n in the hundreds. Label smoothing 0 and 0.1; losses and
 * dlogits NULL and non-NULL; every op also run with an env WITHOUT workspace, which takes the
 * single-block fallback path of loss.cu / reduce_det.cuh: results must be bitwise equal to the
 * workspace path (same parts, same trees, same order), and a second call bitwise equal to the
 * first (determinism).
 * Tolerances, atol 1e-6, rtol 1e-5 (the project's reduction tolerance) for losses, loss sums,
 * gradients and softmax: both sides compute in double from the same float logits and round
 * once to float; they differ by the double exp/log implementations (1 ulp of double) and the
 * summation order of double sums, so the floats agree to about 1 ulp (6e-8 relative), far
 * inside. The loss sums add up to n*k terms of O(1..10): still ~1e-15 relative in double.
 * argmax / count: exact (ties, NaN rows and -inf rows included), also with correct and labels
 * NULL (predictions only). onehot and accum_f64 (no arithmetic beyond one double add): bitwise. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/ops_cuda.h"
#include "test/cuda_twin.h"
#include "test/testutil.h"

#define ATOL 1e-6
#define RTOL 1e-5

static pb_cuda_env g_env, g_env_nows; /* g_env_nows: same env, workspace hidden */

static double cmp(const char *what, const float *d_got, const float *ref, size_t n) {
  return pb_twin_check_close(what, d_got, ref, n, ATOL, RTOL, &g_env);
}

static void check_same_bits(const char *what, const void *d_a, const void *d_b, size_t bytes) {
  void *a = pb_twin_host(d_a, bytes, &g_env), *b = pb_twin_host(d_b, bytes, &g_env);
  PB_CHECK_MSG(memcmp(a, b, bytes) == 0, "%s: not bitwise equal", what);
  free(a), free(b);
}

static void test_xent(int n, int k, float smoothing, float scale_lo, float scale_hi, uint64_t seed) {
  const size_t nk = (size_t)n * k;
  float *logits = malloc(nk * sizeof(float)), *dl = malloc(nk * sizeof(float)), *losses = malloc(n * sizeof(float));
  int32_t *labels = malloc(n * sizeof(int32_t));
  pb_test_fill_uniform(logits, nk, scale_lo, scale_hi, seed);
  for (int i = 0; i < n; i++) labels[i] = i == 0 ? 0 : i == 1 ? k - 1 : (int32_t)((i * 7919u + seed) % (unsigned)k);
  float loss_sum = 0.0f;
  const float gs = 1.0f / (float)n;
  pb_softmax_xent_cpu(&loss_sum, losses, dl, logits, labels, n, k, smoothing, gs);

  float *d_logits = pb_twin_fromf(logits, nk, &g_env);
  int32_t *d_labels = pb_twin_from(labels, n * sizeof(int32_t), &g_env);
  float *d_dl = pb_twin_fromf(logits, nk, &g_env), *d_losses = pb_twin_fromf(logits, n, &g_env); /* garbage */
  float *d_dl2 = pb_twin_fromf(logits, nk, &g_env), *d_losses2 = pb_twin_fromf(logits, n, &g_env);
  float *d_sum = pb_twin_alloc(sizeof(float)), *d_sum2 = pb_twin_alloc(sizeof(float));
  float *d_sum3 = pb_twin_alloc(sizeof(float));

  pb_softmax_xent_cuda(d_sum, d_losses, d_dl, d_logits, d_labels, n, k, smoothing, gs, &g_env);
  const double e_sum = cmp("xent loss_sum", d_sum, &loss_sum, 1);
  const double e_l = cmp("xent losses", d_losses, losses, (size_t)n);
  const double e_d = cmp("xent dlogits", d_dl, dl, nk);
  /* fallback path (no workspace): bitwise the same */
  pb_softmax_xent_cuda(d_sum2, d_losses2, d_dl2, d_logits, d_labels, n, k, smoothing, gs, &g_env_nows);
  check_same_bits("xent loss_sum (no workspace)", d_sum, d_sum2, sizeof(float));
  check_same_bits("xent losses (no workspace)", d_losses, d_losses2, (size_t)n * sizeof(float));
  check_same_bits("xent dlogits (no workspace)", d_dl, d_dl2, nk * sizeof(float));
  /* losses and dlogits NULL (the trainer's call): same sum; and again: same bits */
  pb_softmax_xent_cuda(d_sum3, NULL, NULL, d_logits, d_labels, n, k, smoothing, gs, &g_env);
  check_same_bits("xent loss_sum (NULL outputs)", d_sum, d_sum3, sizeof(float));
  pb_softmax_xent_cuda(d_sum3, NULL, d_dl2, d_logits, d_labels, n, k, smoothing, gs, &g_env_nows);
  check_same_bits("xent loss_sum (NULL losses, no workspace)", d_sum, d_sum3, sizeof(float));
  check_same_bits("xent dlogits (NULL losses, no workspace)", d_dl, d_dl2, nk * sizeof(float));

  printf("  xent n=%-4d k=%-5d eps=%.1f max abs err: loss_sum %.2e losses %.2e dlogits %.2e (sum %.6g)\n", n, k,
         (double)smoothing, e_sum, e_l, e_d, (double)loss_sum);
  pb_cuda_free(d_logits), pb_cuda_free(d_labels), pb_cuda_free(d_dl), pb_cuda_free(d_losses);
  pb_cuda_free(d_dl2), pb_cuda_free(d_losses2), pb_cuda_free(d_sum), pb_cuda_free(d_sum2), pb_cuda_free(d_sum3);
  free(logits), free(dl), free(losses), free(labels);
}

static void test_bce(int n, int k, uint64_t seed) {
  const size_t nk = (size_t)n * k;
  float *logits = malloc(nk * sizeof(float)), *t = malloc(nk * sizeof(float)), *dl = malloc(nk * sizeof(float));
  pb_test_fill_uniform(logits, nk, -8.0f, 8.0f, seed);
  pb_test_fill_uniform(t, nk, 0.0f, 1.0f, seed + 1);
  for (size_t i = 0; i < nk; i += 3) t[i] = (i / 3) % 2 ? 1.0f : 0.0f; /* hard labels too */
  if (nk > 4) logits[1] = 60.0f, logits[2] = -60.0f, logits[3] = 0.0f;
  float loss_sum = 0.0f;
  const float gs = 1.0f / (float)nk;
  pb_bce_logits_cpu(&loss_sum, dl, logits, t, n, k, gs);

  float *d_logits = pb_twin_fromf(logits, nk, &g_env), *d_t = pb_twin_fromf(t, nk, &g_env);
  float *d_dl = pb_twin_fromf(t, nk, &g_env), *d_dl2 = pb_twin_fromf(t, nk, &g_env);
  float *d_sum = pb_twin_alloc(sizeof(float)), *d_sum2 = pb_twin_alloc(sizeof(float));
  pb_bce_logits_cuda(d_sum, d_dl, d_logits, d_t, n, k, gs, &g_env);
  const double e_sum = cmp("bce loss_sum", d_sum, &loss_sum, 1);
  const double e_d = cmp("bce dlogits", d_dl, dl, nk);
  pb_bce_logits_cuda(d_sum2, d_dl2, d_logits, d_t, n, k, gs, &g_env_nows);
  check_same_bits("bce loss_sum (no workspace)", d_sum, d_sum2, sizeof(float));
  check_same_bits("bce dlogits (no workspace)", d_dl, d_dl2, nk * sizeof(float));
  pb_bce_logits_cuda(d_sum2, NULL, d_logits, d_t, n, k, gs, &g_env);
  check_same_bits("bce loss_sum (NULL dlogits)", d_sum, d_sum2, sizeof(float));
  printf("  bce  n=%-4d k=%-5d max abs err: loss_sum %.2e dlogits %.2e (sum %.6g)\n", n, k, e_sum, e_d,
         (double)loss_sum);
  pb_cuda_free(d_logits), pb_cuda_free(d_t), pb_cuda_free(d_dl), pb_cuda_free(d_dl2), pb_cuda_free(d_sum);
  pb_cuda_free(d_sum2);
  free(logits), free(t), free(dl);
}

static void test_softmax(int n, int k, uint64_t seed) {
  const size_t nk = (size_t)n * k;
  float *logits = malloc(nk * sizeof(float)), *p = malloc(nk * sizeof(float));
  pb_test_fill_uniform(logits, nk, -20.0f, 20.0f, seed);
  pb_softmax_fwd_cpu(p, logits, n, k);
  float *d_logits = pb_twin_fromf(logits, nk, &g_env), *d_p = pb_twin_fromf(logits, nk, &g_env);
  pb_softmax_fwd_cuda(d_p, d_logits, n, k, &g_env);
  const double e = cmp("softmax", d_p, p, nk);
  printf("  softmax n=%-4d k=%-5d max abs err %.2e\n", n, k, e);
  pb_cuda_free(d_logits), pb_cuda_free(d_p);
  free(logits), free(p);
}

static void test_argmax(int n, int k, uint64_t seed) {
  const size_t nk = (size_t)n * k;
  float *logits = malloc(nk * sizeof(float));
  int32_t *labels = malloc(n * sizeof(int32_t)), *pred = malloc(n * sizeof(int32_t));
  pb_test_fill_uniform(logits, nk, 0.0f, 4.0f, seed);
  for (size_t i = 0; i < nk; i++) logits[i] = floorf(logits[i]); /* many ties */
  for (int i = 0; i < n; i++) {
    float *r = logits + (size_t)i * k;
    switch (i % 9) {
      case 3: r[0] = NAN; break;                     /* NaN first: the answer stays 0 */
      case 4: r[k / 2] = NAN; break;                 /* NaN elsewhere never wins */
      case 5: for (int j = 0; j < k; j++) r[j] = -INFINITY; break;
      case 6: for (int j = 0; j < k; j++) r[j] = NAN; break;
      case 7: r[k - 1] = 100.0f; break;              /* max at the end */
      case 8: for (int j = 0; j < k; j++) r[j] = (j % 2) ? 0.0f : -0.0f; break; /* -0 == +0 ties */
      default: break;
    }
  }
  /* The CPU twin (kernels/cpu/loss.c) gives the reference predictions and count. */
  pb_argmax_count_cpu(pred, NULL, logits, NULL, n, k);
  for (int i = 0; i < n; i++) labels[i] = (i % 3 == 0) ? pred[i] : (int32_t)((i * 31u + seed) % (unsigned)k);
  for (int i = 0; i < n; i += 7) labels[i] = -1; /* missing labels never count */
  int expect = 0;
  pb_argmax_count_cpu(pred, &expect, logits, labels, n, k);
  float *d_logits = pb_twin_fromf(logits, nk, &g_env);
  int32_t *d_labels = pb_twin_from(labels, n * sizeof(int32_t), &g_env), *d_pred = pb_twin_alloc(n * sizeof(int32_t));
  const int start = 5;
  int *d_correct = pb_twin_from(&start, sizeof(int), &g_env);
  pb_argmax_count_cuda(d_pred, d_correct, d_logits, d_labels, n, k, &g_env);
  int32_t *gpred = pb_twin_host(d_pred, n * sizeof(int32_t), &g_env);
  int *gc = pb_twin_host(d_correct, sizeof(int), &g_env);
  size_t bad = 0, first = 0;
  for (int i = 0; i < n; i++)
    if (gpred[i] != pred[i] && bad++ == 0) first = (size_t)i;
  PB_CHECK_MSG(bad == 0, "argmax n=%d k=%d: %zu rows differ, first row %zu got %d ref %d", n, k, bad, first,
               gpred[first], pred[first]);
  PB_CHECK_MSG(*gc == start + expect, "argmax count n=%d k=%d: got %d, expected %d", n, k, *gc, start + expect);
  /* accumulates */
  pb_argmax_count_cuda(d_pred, d_correct, d_logits, d_labels, n, k, &g_env);
  free(gc);
  gc = pb_twin_host(d_correct, sizeof(int), &g_env);
  PB_CHECK_MSG(*gc == start + 2 * expect, "argmax count (2nd call) n=%d k=%d: got %d, expected %d", n, k, *gc,
               start + 2 * expect);
  /* predictions only: correct NULL (labels given), then correct and labels both NULL */
  int32_t *d_pred2 = pb_twin_alloc(n * sizeof(int32_t));
  pb_argmax_count_cuda(d_pred2, NULL, d_logits, d_labels, n, k, &g_env);
  check_same_bits("argmax pred (correct NULL)", d_pred, d_pred2, n * sizeof(int32_t));
  pb_cuda_memset0(d_pred2, n * sizeof(int32_t), &g_env);
  pb_argmax_count_cuda(d_pred2, NULL, d_logits, NULL, n, k, &g_env);
  check_same_bits("argmax pred (correct, labels NULL)", d_pred, d_pred2, n * sizeof(int32_t));
  pb_cuda_free(d_pred2);
  printf("  argmax n=%-4d k=%-5d: %zu rows differ, count %d (expected %d)\n", n, k, bad, *gc - start, 2 * expect);
  pb_cuda_free(d_logits), pb_cuda_free(d_labels), pb_cuda_free(d_pred), pb_cuda_free(d_correct);
  free(logits), free(labels), free(pred), free(gpred), free(gc);
}

static void test_onehot(int n, int k, uint64_t seed) {
  const size_t nk = (size_t)n * k;
  int32_t *labels = malloc(n * sizeof(int32_t));
  float *t = malloc(nk * sizeof(float)), *garbage = malloc(nk * sizeof(float));
  for (int i = 0; i < n; i++)
    labels[i] = i % 5 == 3 ? -1 : i % 5 == 4 ? k + i : (int32_t)((i * 7919u + seed) % (unsigned)k);
  pb_onehot_cpu(t, labels, n, k);
  pb_test_fill_uniform(garbage, nk, -3.0f, 3.0f, seed); /* every element must be overwritten */
  int32_t *d_labels = pb_twin_from(labels, n * sizeof(int32_t), &g_env);
  float *d_t = pb_twin_fromf(garbage, nk, &g_env);
  pb_onehot_cuda(d_t, d_labels, n, k, &g_env);
  pb_twin_check_bits("onehot", d_t, t, nk, &g_env);
  printf("  onehot n=%-4d k=%-5d checked bitwise\n", n, k);
  pb_cuda_free(d_labels), pb_cuda_free(d_t);
  free(labels), free(t), free(garbage);
}

static void test_accum_f64(void) {
  const float x[3] = {0.1f, -2.5e-8f, 3.0e7f};
  double acc = 1.0 / 3.0;
  double *d_acc = pb_twin_from(&acc, sizeof acc, &g_env);
  float *d_x = pb_twin_fromf(x, 3, &g_env);
  for (int i = 0; i < 3; i++) { /* a running sum, one element of x at a time */
    pb_accum_f64_cpu(&acc, x + i);
    pb_accum_f64_cuda(d_acc, d_x + i, &g_env);
  }
  double *got = pb_twin_host(d_acc, sizeof acc, &g_env);
  PB_CHECK_MSG(memcmp(got, &acc, sizeof acc) == 0, "accum_f64: got %.17g, CPU %.17g", *got, acc);
  printf("  accum_f64: %.17g (CPU %.17g)\n", *got, acc);
  pb_cuda_free(d_acc), pb_cuda_free(d_x);
  free(got);
}

int main(void) {
  pb_twin_require_gpu();
  pb_twin_env(&g_env, (size_t)64 << 20, 0, 0);
  g_env_nows = g_env;
  g_env_nows.workspace = NULL;
  g_env_nows.workspace_bytes = 0;

  const int shapes[][2] = {{1, 3}, {1, 1000}, {7, 10}, {33, 37}, {64, 1000}, {300, 9}, {5, 4099}};
  const size_t ns = sizeof shapes / sizeof shapes[0];
  for (size_t s = 0; s < ns; s++) {
    test_xent(shapes[s][0], shapes[s][1], 0.0f, -5.0f, 5.0f, 10 + s);
    test_xent(shapes[s][0], shapes[s][1], 0.1f, -5.0f, 5.0f, 20 + s);
  }
  test_xent(16, 100, 0.1f, -80.0f, 80.0f, 40); /* large logits: the max shift matters */
  test_xent(2, 1, 0.1f, -1.0f, 1.0f, 41);      /* k = 1 */

  const int bshapes[][2] = {{1, 1}, {5, 3}, {64, 100}, {300, 1000}, {7, 37}};
  for (size_t s = 0; s < sizeof bshapes / sizeof bshapes[0]; s++) test_bce(bshapes[s][0], bshapes[s][1], 50 + s);

  for (size_t s = 0; s < ns; s++) test_softmax(shapes[s][0], shapes[s][1], 60 + s);

  const int ashapes[][2] = {{1, 1}, {1, 3}, {9, 10}, {100, 37}, {257, 1000}, {31, 33}};
  for (size_t s = 0; s < sizeof ashapes / sizeof ashapes[0]; s++) test_argmax(ashapes[s][0], ashapes[s][1], 70 + s);

  const int oshapes[][2] = {{1, 1}, {7, 10}, {300, 9}, {64, 1000}, {5, 4099}};
  for (size_t s = 0; s < sizeof oshapes / sizeof oshapes[0]; s++) test_onehot(oshapes[s][0], oshapes[s][1], 80 + s);
  test_accum_f64();

  /* n == 0: loss sums are 0, nothing is launched otherwise */
  {
    float *d_sum = pb_twin_alloc(sizeof(float));
    const float one = 1.0f;
    pb_cuda_h2d(d_sum, &one, sizeof one, &g_env);
    pb_softmax_xent_cuda(d_sum, NULL, NULL, NULL, NULL, 0, 10, 0.1f, 1.0f, &g_env);
    float *got = pb_twin_host(d_sum, sizeof(float), &g_env);
    PB_CHECK_MSG(*got == 0.0f, "xent n=0: loss_sum %g, expected 0", (double)*got);
    free(got);
    pb_cuda_h2d(d_sum, &one, sizeof one, &g_env);
    pb_bce_logits_cuda(d_sum, NULL, NULL, NULL, 0, 10, 1.0f, &g_env);
    got = pb_twin_host(d_sum, sizeof(float), &g_env);
    PB_CHECK_MSG(*got == 0.0f, "bce n=0: loss_sum %g, expected 0", (double)*got);
    free(got);
    pb_softmax_fwd_cuda(NULL, NULL, 0, 10, &g_env);
    pb_argmax_count_cuda(NULL, NULL, NULL, NULL, 0, 10, &g_env);
    pb_onehot_cuda(NULL, NULL, 0, 10, &g_env);
    pb_cuda_sync(&g_env);
    pb_cuda_free(d_sum);
  }

  pb_cuda_env_free(&g_env);
  return pb_test_exit("test_cuda_loss");
}
