/* test_cuda_multilabel_loss.c: twin tests of kernels/cuda/multilabel.cu against
 * kernels/cpu/multilabel.c (pb_multihot_cuda / pb_inclusive_loss_cuda vs the CPU ops; contracts in
 * ops.h "multi-label losses"). Needs a GPU: exits 77 (ctest: skipped) without one. The CPU ops
 * themselves are checked against PyTorch in test_golden_multilabel_loss.c.
 *
 * Shapes (n, k): a single sample, k = 1, k not a multiple of 32, k = 1000, and the Inclusive
 * Images head (n = 32, k = 7178; one block per row, ~28 elements per thread); random multi-hot
 * targets at densities 1% .. 50%, plus rows without positives, rows of only positives, and rows
 * with +-60 logits. Every case is also run with an env WITHOUT workspace (the single-block path):
 * loss, npos and dlogits must be bitwise equal to the workspace path (same row code, same trees,
 * same order), and a second call bitwise equal to the first (determinism); dlogits NULL and npos
 * NULL give the same loss.
 * Tolerances (both sides compute every row in double from the same float logits and round once
 * to float; they differ only in the order of the row's double sums, a few double ulps):
 *   loss_sum |gpu - cpu| <= LOSS_RTOL 1e-6 |cpu|; npos exactly;
 *   dlogits max |gpu - cpu| <= GRAD_REL 1e-6 * max |cpu| (about 1 float ulp expected);
 *   rows without positives or without negatives: exactly 0 on both;
 *   multihot: bitwise (a comparison and a store). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/ops_cuda.h"
#include "test/cuda_twin.h"
#include "test/testutil.h"

#define LOSS_RTOL 1e-6
#define GRAD_REL 1e-6

static pb_cuda_env g_env, g_env_nows; /* g_env_nows: same env, workspace hidden */

static void check_same_bits(const char *what, const void *d_a, const void *d_b, size_t bytes) {
  void *a = pb_twin_host(d_a, bytes, &g_env), *b = pb_twin_host(d_b, bytes, &g_env);
  PB_CHECK_MSG(memcmp(a, b, bytes) == 0, "%s: not bitwise equal", what);
  free(a), free(b);
}

/* Random logits in [-lo, lo] and targets of the given density; row 0 without positives, row 1 all
 * positives, row 2 +-60 logits (when n is large enough). */
static void make_case(float *logits, float *t, int n, int k, float spread, float density, uint64_t seed) {
  const size_t nk = (size_t)n * k;
  pb_test_fill_uniform(logits, nk, -spread, spread, seed);
  pb_test_fill_uniform(t, nk, 0.0f, 1.0f, seed + 1);
  for (size_t e = 0; e < nk; e++) t[e] = t[e] < density ? 1.0f : 0.0f;
  for (int i = 0; i < n; i++) { /* at least one of each kind, where k allows */
    t[(size_t)i * k + (size_t)(i % k)] = 1.0f;
    if (k > 1) t[(size_t)i * k + (size_t)((i + 1) % k)] = 0.0f;
  }
  if (n >= 4) {
    for (int j = 0; j < k; j++) t[j] = 0.0f, t[(size_t)k + j] = 1.0f;
    for (int j = 0; j < k; j++) logits[2 * (size_t)k + j] = (j % 3) ? -60.0f : 60.0f;
  }
}

static void test_loss(int n, int k, float spread, float density, uint64_t seed) {
  const size_t nk = (size_t)n * k;
  float *logits = malloc(nk * sizeof(float)), *t = malloc(nk * sizeof(float)), *dl = malloc(nk * sizeof(float));
  make_case(logits, t, n, k, spread, density, seed);
  float ls;
  int64_t np;
  pb_inclusive_loss_cpu(&ls, &np, dl, logits, t, n, k, 1.0f); /* grad_scale as the trainer passes it: */
  const float gs = np > 0 ? 1.0f / (float)np : 1.0f;
  pb_inclusive_loss_cpu(&ls, &np, dl, logits, t, n, k, gs);

  float *d_logits = pb_twin_fromf(logits, nk, &g_env), *d_t = pb_twin_fromf(t, nk, &g_env);
  float *d_dl = pb_twin_fromf(logits, nk, &g_env), *d_dl2 = pb_twin_fromf(t, nk, &g_env); /* garbage */
  float *d_sum = pb_twin_alloc(sizeof(float)), *d_sum2 = pb_twin_alloc(sizeof(float));
  int64_t *d_np = pb_twin_alloc(sizeof(int64_t)), *d_np2 = pb_twin_alloc(sizeof(int64_t));

  pb_inclusive_loss_cuda(d_sum, d_np, d_dl, d_logits, d_t, n, k, gs, &g_env);
  float *gsum = pb_twin_hostf(d_sum, 1, &g_env), *gdl = pb_twin_hostf(d_dl, nk, &g_env);
  int64_t *gnp = pb_twin_host(d_np, sizeof(int64_t), &g_env);
  const double lrel = fabs((double)*gsum - (double)ls) / fmax(fabs((double)ls), 1e-30);
  PB_CHECK_MSG(lrel <= LOSS_RTOL, "n=%d k=%d: loss_sum gpu %.9g cpu %.9g (rel %.2e)", n, k, (double)*gsum, (double)ls,
               lrel);
  PB_CHECK_MSG(*gnp == np, "n=%d k=%d: npos gpu %lld cpu %lld", n, k, (long long)*gnp, (long long)np);
  const double mref = pb_twin_max_abs(dl, nk), gerr = pb_test_max_abs_diff(gdl, dl, nk);
  PB_CHECK_MSG(gerr <= GRAD_REL * mref, "n=%d k=%d: dlogits max abs err %.3e > %.0e * %.3e", n, k, gerr, GRAD_REL,
               mref);
  for (int i = 0; i < n; i++) { /* rows with nothing to contrast: exactly zero on both */
    int npi = 0;
    for (int j = 0; j < k; j++) npi += t[(size_t)i * k + j] > 0.5f;
    if (npi != 0 && npi != k) continue;
    int zero = 1;
    for (int j = 0; j < k; j++) zero &= gdl[(size_t)i * k + j] == 0.0f && dl[(size_t)i * k + j] == 0.0f;
    PB_CHECK_MSG(zero, "n=%d k=%d: row %d (%d positives) has a nonzero gradient", n, k, i, npi);
  }
  /* the single-block path (no workspace): bitwise the same; then NULL outputs; then determinism */
  pb_inclusive_loss_cuda(d_sum2, d_np2, d_dl2, d_logits, d_t, n, k, gs, &g_env_nows);
  check_same_bits("loss_sum (no workspace)", d_sum, d_sum2, sizeof(float));
  check_same_bits("npos (no workspace)", d_np, d_np2, sizeof(int64_t));
  check_same_bits("dlogits (no workspace)", d_dl, d_dl2, nk * sizeof(float));
  pb_inclusive_loss_cuda(d_sum2, NULL, NULL, d_logits, d_t, n, k, gs, &g_env);
  check_same_bits("loss_sum (NULL dlogits, npos)", d_sum, d_sum2, sizeof(float));
  pb_inclusive_loss_cuda(d_sum2, d_np2, d_dl2, d_logits, d_t, n, k, gs, &g_env);
  check_same_bits("loss_sum (2nd call)", d_sum, d_sum2, sizeof(float));
  check_same_bits("dlogits (2nd call)", d_dl, d_dl2, nk * sizeof(float));

  printf("  inclusive n=%-3d k=%-5d density %.2f: npos %lld loss %.6g rel err %.2e, dlogits max err %.2e (max %.3g)\n",
         n, k, (double)density, (long long)np, (double)ls, lrel, gerr, mref);
  pb_cuda_free(d_logits), pb_cuda_free(d_t), pb_cuda_free(d_dl), pb_cuda_free(d_dl2), pb_cuda_free(d_sum);
  pb_cuda_free(d_sum2), pb_cuda_free(d_np), pb_cuda_free(d_np2);
  free(logits), free(t), free(dl), free(gsum), free(gdl), free(gnp);
}

static void test_multihot(int n, int k, uint64_t seed) {
  const size_t nk = (size_t)n * k;
  int32_t *y = malloc(nk * sizeof(int32_t));
  float *t = malloc(nk * sizeof(float)), *garbage = malloc(nk * sizeof(float));
  pb_test_fill_uniform(garbage, nk, -3.5f, 3.5f, seed);
  for (size_t e = 0; e < nk; e++) y[e] = (int32_t)floorf(garbage[e]); /* -4 .. 3: > 0 present */
  pb_multihot_cpu(t, y, n, k);
  int32_t *d_y = pb_twin_from(y, nk * sizeof(int32_t), &g_env);
  float *d_t = pb_twin_fromf(garbage, nk, &g_env); /* every element must be overwritten */
  pb_multihot_cuda(d_t, d_y, n, k, &g_env);
  pb_twin_check_bits("multihot", d_t, t, nk, &g_env);
  printf("  multihot n=%-3d k=%-5d checked bitwise\n", n, k);
  pb_cuda_free(d_y), pb_cuda_free(d_t);
  free(y), free(t), free(garbage);
}

int main(void) {
  pb_twin_require_gpu();
  pb_twin_env(&g_env, (size_t)64 << 20, 0, 0);
  g_env_nows = g_env;
  g_env_nows.workspace = NULL;
  g_env_nows.workspace_bytes = 0;

  test_loss(1, 1, 3.0f, 0.5f, 10);     /* one positive, no negative: loss 0 */
  test_loss(1, 7, 3.0f, 0.3f, 11);
  test_loss(5, 37, 5.0f, 0.2f, 12);
  test_loss(16, 1000, 8.0f, 0.01f, 13);
  test_loss(32, 7178, 6.0f, 0.001f, 14); /* the Inclusive Images head, a few positives per image */
  test_loss(32, 7178, 6.0f, 0.05f, 15);
  test_loss(300, 9, 4.0f, 0.5f, 16);

  const int mshapes[][2] = {{1, 1}, {3, 4}, {32, 7178}, {300, 9}, {7, 1000}};
  for (size_t s = 0; s < sizeof mshapes / sizeof mshapes[0]; s++) test_multihot(mshapes[s][0], mshapes[s][1], 30 + s);

  /* n == 0 / k == 0: loss 0, npos 0, nothing else */
  {
    float *d_sum = pb_twin_alloc(sizeof(float));
    int64_t *d_np = pb_twin_alloc(sizeof(int64_t));
    const float one = 1.0f;
    const int64_t five = 5;
    for (int c = 0; c < 2; c++) {
      pb_cuda_h2d(d_sum, &one, sizeof one, &g_env);
      pb_cuda_h2d(d_np, &five, sizeof five, &g_env);
      pb_inclusive_loss_cuda(d_sum, d_np, NULL, NULL, NULL, c ? 4 : 0, c ? 0 : 10, 1.0f, &g_env);
      float *got = pb_twin_hostf(d_sum, 1, &g_env);
      int64_t *gnp = pb_twin_host(d_np, sizeof(int64_t), &g_env);
      PB_CHECK_MSG(*got == 0.0f && *gnp == 0, "empty shape %d: loss %g npos %lld, expected 0, 0", c, (double)*got,
                   (long long)*gnp);
      free(got), free(gnp);
    }
    pb_multihot_cuda(NULL, NULL, 0, 10, &g_env);
    pb_cuda_sync(&g_env);
    pb_cuda_free(d_sum), pb_cuda_free(d_np);
  }

  pb_cuda_env_free(&g_env);
  return pb_test_exit("test_cuda_multilabel_loss");
}
