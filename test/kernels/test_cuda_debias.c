/* test_cuda_debias.c: twin tests of kernels/cuda/debias.cu (pb_rubi_loss_cuda,
 * pb_mixin_loss_cuda) against kernels/cpu/debias.c on random inputs. Needs a GPU: exits 77
 * (ctest: skipped) without one.
 *
 * Shapes (n, k): a single sample with k = 1, 10 and 1000, k = 1 with several rows, k not a
 * multiple of 32, k = 1000 and 4099 (one block per row, several elements per thread), n = 300.
 * Logits of a few units and large ones (|x| ~ 50: the max shift and the saturated sigmoid
 * matter); every 4th label the row's argmax (p_y near 1: p_y - 1 cancels), every 5th row
 * missing (label -1) in most cases; Mixin's a spread over [-30, 30] with rows at exactly 20,
 * 20.5, 25, -21 and -25 (both branches of softplus's threshold). scale 1/n, scale_head 0.7/n,
 * scale_ent 0.36/n. Every call writes over garbage (gradients and both loss floats).
 *
 * Exact on the GPU (bitwise): the no-workspace path (one block walks the rows) against the
 * workspace path (one block per row, then one thread); a second call against the first
 * (run to run); NULL gradient pointers (each, and both) leave the loss and the other gradient
 * bitwise unchanged, on both paths; n = 0 writes loss = {0, 0}.
 *
 * Against the CPU, |gpu - cpu| <= atol + rtol |cpu|:
 *  - rtol 1e-6. Both sides compute each row in double from the same float inputs with the same
 *    operations in the same order (debias.cu rounds every double op explicitly, no FMA; the CPU
 *    build has none either) and round once to float. They differ only by the double exp / log /
 *    log1p implementations (CUDA's and libm's: each within 1 ulp of double) and the order of
 *    the sums over a row's k elements (a block tree against j = 0..k-1): the doubles agree to
 *    ~1e-15 relative to the terms, so the floats differ by at most 1 float ulp (<= 2^-23 =
 *    1.2e-7 relative) unless an output cancels far below its terms. 8x margin.
 *  - atol for the outputs that cancel (p_y - 1 of a confidently right row, the two terms of dh,
 *    the sum over j in da, a row's loss lse - z_y), from the scale of their terms. The double
 *    error of a term is ~1e-16 (1 + |lse|) relative (the exponent's absolute error through exp),
 *    and a sum over k <= 4099 terms adds <= k ulps: with M = 1 + the largest |logit| of the case
 *    (<= ~100 here), <= ~4e-11 of the term scale S in the worst case. So:
 *      loss sums: 1e-12 n M                       (each row's loss is a difference of O(M) values)
 *      gradients: 1e-9 S + 1e-38 (float denormals)
 *        RUBi  df: S = scale                    dh: S = scale (1 + max|f|) + scale_head
 *        Mixin df: S = scale                    da: S = max|g| (2 scale + 2 scale_ent (1 + log k))
 *    (sum_j |p_j - e_j| <= 2, sum_j q_j |log q_j + H| <= 2 H <= 2 log k): 25x above the worst
 *    case double noise, still ~1e-9 of the outputs' scale, far below anything a wrong term
 *    or factor would give. The same tolerances as the PyTorch goldens (test_golden_debias.c).
 * The maxima of |gpu - cpu| (absolute, and relative where rtol |cpu| >= atol) are printed.
 * Goldens: the PyTorch float64 cases of test/fixtures/debias_golden.safetensors (read through
 * test/kernels/debias_fixture.h) through the CUDA ops (both paths), with test_golden_debias.c's
 * tolerances (the same constants as here). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/ops_cuda.h"
#include "test/cuda_twin.h"
#include "test/kernels/debias_fixture.h"
#include "test/testutil.h"

#define RTOL 1e-6
#define ATOL_LOSS 1e-12
#define ATOL_GRAD 1e-9
#define FLOOR 1e-38

static pb_cuda_env g_env, g_env_nows; /* g_env_nows: same env, workspace hidden */
static double g_worst_rel;           /* max |gpu - cpu| / |cpu| in the relative regime */

static double max_abs(const float *x, size_t n) { return pb_twin_max_abs(x, n); }

static double softplus(double x) { return x > 20.0 ? x : log1p(exp(x)); }

/* The device array d_got[n] against the CPU's ref[n]; returns the max abs error. */
static double cmp(const char *what, const float *d_got, const float *ref, size_t n, double atol) {
  float *got = pb_twin_hostf(d_got, n, &g_env);
  double emax = 0;
  for (size_t i = 0; i < n; i++) {
    const double d = fabs((double)got[i] - (double)ref[i]);
    emax = fmax(emax, d);
    if (RTOL * fabs((double)ref[i]) >= atol) g_worst_rel = fmax(g_worst_rel, d / fabs((double)ref[i]));
  }
  PB_CHECK(pb_test_allclose(what, got, ref, n, atol, RTOL) == 0);
  free(got);
  return emax;
}

static void check_same_bits(const char *what, const void *d_a, const void *d_b, size_t bytes) {
  void *a = pb_twin_host(d_a, bytes, &g_env), *b = pb_twin_host(d_b, bytes, &g_env);
  PB_CHECK_MSG(memcmp(a, b, bytes) == 0, "%s: not bitwise equal", what);
  free(a), free(b);
}

/* Labels: uniform in [0, k); every 4th row the argmax of logits z (given); every 5th row -1. */
static void make_labels(int32_t *labels, const double *z, int n, int k, int missing, uint64_t seed) {
  for (int i = 0; i < n; i++) {
    labels[i] = (int32_t)((i * 7919u + (unsigned)seed * 31u) % (unsigned)k);
    if (i % 4 == 0) {
      int b = 0;
      for (int j = 1; j < k; j++) b = z[(size_t)i * k + j] > z[(size_t)i * k + b] ? j : b;
      labels[i] = b;
    }
    if (missing && i % 5 == 2) labels[i] = -1;
  }
}

/* ------------------------------------------------------------------ RUBi */

static void rubi_gpu(float *d_loss, float *d_df, float *d_dh, const float *d_f, const float *d_h, const int32_t *d_lab,
                     int n, int k, float scale, float scale_head, const pb_cuda_env *env) {
  pb_rubi_loss_cuda(d_loss, d_df, d_dh, d_f, d_h, d_lab, n, k, scale, scale_head, env);
}

static void test_rubi(int n, int k, float famp, float hamp, int missing, uint64_t seed) {
  const size_t nk = (size_t)n * k;
  float *f = malloc(nk * 4), *h = malloc(nk * 4), *df = malloc(nk * 4), *dh = malloc(nk * 4), *junk = malloc(nk * 4);
  double *z = malloc(nk * 8);
  int32_t *labels = malloc(n * sizeof(int32_t));
  pb_test_fill_uniform(f, nk, -famp, famp, seed);
  pb_test_fill_uniform(h, nk, -hamp, hamp, seed + 1);
  pb_test_fill_uniform(junk, nk, -9.0f, 9.0f, seed + 2);
  for (size_t e = 0; e < nk; e++) z[e] = (double)f[e] / (1.0 + exp(-(double)h[e]));
  make_labels(labels, z, n, k, missing, seed);
  const float scale = 1.0f / (float)n, scale_head = 0.7f / (float)n;
  float loss[2];
  pb_rubi_loss_cpu(loss, df, dh, f, h, labels, n, k, scale, scale_head);

  float *d_f = pb_twin_fromf(f, nk, &g_env), *d_h = pb_twin_fromf(h, nk, &g_env);
  int32_t *d_lab = pb_twin_from(labels, n * sizeof(int32_t), &g_env);
  const float junk2[2] = {-3.0f, 77.0f};
  float *d_loss = pb_twin_fromf(junk2, 2, &g_env), *d_loss2 = pb_twin_fromf(junk2, 2, &g_env);
  float *d_df = pb_twin_fromf(junk, nk, &g_env), *d_dh = pb_twin_fromf(junk, nk, &g_env);
  float *d_df2 = pb_twin_fromf(junk, nk, &g_env), *d_dh2 = pb_twin_fromf(junk, nk, &g_env);

  rubi_gpu(d_loss, d_df, d_dh, d_f, d_h, d_lab, n, k, scale, scale_head, &g_env);
  const double m = 1.0 + fmax(max_abs(f, nk), max_abs(h, nk));
  char w[96];
  snprintf(w, sizeof w, "rubi n=%d k=%d loss", n, k);
  const double el = cmp(w, d_loss, loss, 2, ATOL_LOSS * n * m);
  snprintf(w, sizeof w, "rubi n=%d k=%d df", n, k);
  const double ef = cmp(w, d_df, df, nk, ATOL_GRAD * scale + FLOOR);
  snprintf(w, sizeof w, "rubi n=%d k=%d dh", n, k);
  const double eh = cmp(w, d_dh, dh, nk, ATOL_GRAD * (scale * (1.0 + max_abs(f, nk)) + scale_head) + FLOOR);

  /* the no-workspace path, then the workspace path again: bitwise */
  for (int pass = 0; pass < 2; pass++) {
    const pb_cuda_env *env = pass == 0 ? &g_env_nows : &g_env;
    const char *tag = pass == 0 ? "no workspace" : "second run";
    rubi_gpu(d_loss2, d_df2, d_dh2, d_f, d_h, d_lab, n, k, scale, scale_head, env);
    snprintf(w, sizeof w, "rubi n=%d k=%d loss (%s)", n, k, tag);
    check_same_bits(w, d_loss, d_loss2, 8);
    snprintf(w, sizeof w, "rubi n=%d k=%d df (%s)", n, k, tag);
    check_same_bits(w, d_df, d_df2, nk * 4);
    snprintf(w, sizeof w, "rubi n=%d k=%d dh (%s)", n, k, tag);
    check_same_bits(w, d_dh, d_dh2, nk * 4);
    /* NULL gradients: the loss and the other gradient unchanged */
    pb_cuda_h2d(d_df2, junk, nk * 4, env), pb_cuda_h2d(d_dh2, junk, nk * 4, env);
    rubi_gpu(d_loss2, NULL, d_dh2, d_f, d_h, d_lab, n, k, scale, scale_head, env);
    snprintf(w, sizeof w, "rubi n=%d k=%d df NULL (%s)", n, k, pass == 0 ? "no workspace" : "workspace");
    check_same_bits(w, d_loss, d_loss2, 8);
    check_same_bits(w, d_dh, d_dh2, nk * 4);
    rubi_gpu(d_loss2, d_df2, NULL, d_f, d_h, d_lab, n, k, scale, scale_head, env);
    snprintf(w, sizeof w, "rubi n=%d k=%d dh NULL (%s)", n, k, pass == 0 ? "no workspace" : "workspace");
    check_same_bits(w, d_loss, d_loss2, 8);
    check_same_bits(w, d_df, d_df2, nk * 4);
    pb_cuda_h2d(d_loss2, junk2, 8, env);
    rubi_gpu(d_loss2, NULL, NULL, d_f, d_h, d_lab, n, k, scale, scale_head, env);
    snprintf(w, sizeof w, "rubi n=%d k=%d both NULL (%s)", n, k, pass == 0 ? "no workspace" : "workspace");
    check_same_bits(w, d_loss, d_loss2, 8);
  }
  printf("  rubi  n=%-4d k=%-5d |f|<%-3g |h|<%-3g max abs err: loss %.2e df %.2e dh %.2e (loss %.7g %.7g)\n", n, k,
         (double)famp, (double)hamp, el, ef, eh, (double)loss[0], (double)loss[1]);
  pb_cuda_free(d_f), pb_cuda_free(d_h), pb_cuda_free(d_lab), pb_cuda_free(d_loss), pb_cuda_free(d_loss2);
  pb_cuda_free(d_df), pb_cuda_free(d_dh), pb_cuda_free(d_df2), pb_cuda_free(d_dh2);
  free(f), free(h), free(df), free(dh), free(junk), free(z), free(labels);
}

/* ------------------------------------------------------------------ LearnedMixin + H */

static void mixin_gpu(float *d_loss, float *d_df, float *d_da, const float *d_f, const float *d_g, const float *d_a,
                      const int32_t *d_lab, int n, int k, float scale, float scale_ent, const pb_cuda_env *env) {
  pb_mixin_loss_cuda(d_loss, d_df, d_da, d_f, d_g, d_a, d_lab, n, k, scale, scale_ent, env);
}

static void test_mixin(int n, int k, float famp, float gamp, float aamp, int missing, uint64_t seed) {
  const size_t nk = (size_t)n * k;
  float *f = malloc(nk * 4), *g = malloc(nk * 4), *a = malloc(n * 4), *df = malloc(nk * 4), *da = malloc(n * 4);
  float *junk = malloc(nk * 4);
  double *z = malloc(nk * 8);
  int32_t *labels = malloc(n * sizeof(int32_t));
  pb_test_fill_uniform(f, nk, -famp, famp, seed);
  pb_test_fill_uniform(g, nk, -gamp, gamp, seed + 1);
  pb_test_fill_uniform(a, (size_t)n, -aamp, aamp, seed + 2);
  pb_test_fill_uniform(junk, nk, -9.0f, 9.0f, seed + 3);
  static const float special[] = {20.0f, 20.5f, 25.0f, -21.0f, -25.0f};
  for (int i = 1; i < n; i += 3) a[i] = special[(i / 3) % 5];
  double cmax = 0;
  for (int i = 0; i < n; i++) {
    const double c = softplus(a[i]);
    cmax = fmax(cmax, c);
    for (int j = 0; j < k; j++) z[(size_t)i * k + j] = (double)f[(size_t)i * k + j] + c * g[(size_t)i * k + j];
  }
  make_labels(labels, z, n, k, missing, seed);
  const float scale = 1.0f / (float)n, scale_ent = 0.36f / (float)n;
  float loss[2];
  pb_mixin_loss_cpu(loss, df, da, f, g, a, labels, n, k, scale, scale_ent);

  float *d_f = pb_twin_fromf(f, nk, &g_env), *d_g = pb_twin_fromf(g, nk, &g_env), *d_a = pb_twin_fromf(a, n, &g_env);
  int32_t *d_lab = pb_twin_from(labels, n * sizeof(int32_t), &g_env);
  const float junk2[2] = {-3.0f, 77.0f};
  float *d_loss = pb_twin_fromf(junk2, 2, &g_env), *d_loss2 = pb_twin_fromf(junk2, 2, &g_env);
  float *d_df = pb_twin_fromf(junk, nk, &g_env), *d_da = pb_twin_fromf(junk, n, &g_env);
  float *d_df2 = pb_twin_fromf(junk, nk, &g_env), *d_da2 = pb_twin_fromf(junk, n, &g_env);

  mixin_gpu(d_loss, d_df, d_da, d_f, d_g, d_a, d_lab, n, k, scale, scale_ent, &g_env);
  const double m = 1.0 + max_abs(f, nk) + cmax * max_abs(g, nk);
  const double sda = max_abs(g, nk) * (2.0 * scale + 2.0 * scale_ent * (1.0 + log((double)k)));
  char w[96];
  snprintf(w, sizeof w, "mixin n=%d k=%d loss", n, k);
  const double el = cmp(w, d_loss, loss, 2, ATOL_LOSS * n * m);
  snprintf(w, sizeof w, "mixin n=%d k=%d df", n, k);
  const double ef = cmp(w, d_df, df, nk, ATOL_GRAD * scale + FLOOR);
  snprintf(w, sizeof w, "mixin n=%d k=%d da", n, k);
  const double ea = cmp(w, d_da, da, (size_t)n, ATOL_GRAD * sda + FLOOR);

  for (int pass = 0; pass < 2; pass++) {
    const pb_cuda_env *env = pass == 0 ? &g_env_nows : &g_env;
    const char *tag = pass == 0 ? "no workspace" : "second run";
    mixin_gpu(d_loss2, d_df2, d_da2, d_f, d_g, d_a, d_lab, n, k, scale, scale_ent, env);
    snprintf(w, sizeof w, "mixin n=%d k=%d loss (%s)", n, k, tag);
    check_same_bits(w, d_loss, d_loss2, 8);
    snprintf(w, sizeof w, "mixin n=%d k=%d df (%s)", n, k, tag);
    check_same_bits(w, d_df, d_df2, nk * 4);
    snprintf(w, sizeof w, "mixin n=%d k=%d da (%s)", n, k, tag);
    check_same_bits(w, d_da, d_da2, (size_t)n * 4);
    pb_cuda_h2d(d_df2, junk, nk * 4, env), pb_cuda_h2d(d_da2, junk, (size_t)n * 4, env);
    mixin_gpu(d_loss2, NULL, d_da2, d_f, d_g, d_a, d_lab, n, k, scale, scale_ent, env);
    snprintf(w, sizeof w, "mixin n=%d k=%d df NULL (%s)", n, k, pass == 0 ? "no workspace" : "workspace");
    check_same_bits(w, d_loss, d_loss2, 8);
    check_same_bits(w, d_da, d_da2, (size_t)n * 4);
    mixin_gpu(d_loss2, d_df2, NULL, d_f, d_g, d_a, d_lab, n, k, scale, scale_ent, env);
    snprintf(w, sizeof w, "mixin n=%d k=%d da NULL (%s)", n, k, pass == 0 ? "no workspace" : "workspace");
    check_same_bits(w, d_loss, d_loss2, 8);
    check_same_bits(w, d_df, d_df2, nk * 4);
    pb_cuda_h2d(d_loss2, junk2, 8, env);
    mixin_gpu(d_loss2, NULL, NULL, d_f, d_g, d_a, d_lab, n, k, scale, scale_ent, env);
    snprintf(w, sizeof w, "mixin n=%d k=%d both NULL (%s)", n, k, pass == 0 ? "no workspace" : "workspace");
    check_same_bits(w, d_loss, d_loss2, 8);
  }
  printf("  mixin n=%-4d k=%-5d |f|<%-3g |g|<%-3g |a|<%-3g max abs err: loss %.2e df %.2e da %.2e (loss %.7g %.7g)\n",
         n, k, (double)famp, (double)gamp, (double)aamp, el, ef, ea, (double)loss[0], (double)loss[1]);
  pb_cuda_free(d_f), pb_cuda_free(d_g), pb_cuda_free(d_a), pb_cuda_free(d_lab), pb_cuda_free(d_loss);
  pb_cuda_free(d_loss2), pb_cuda_free(d_df), pb_cuda_free(d_da), pb_cuda_free(d_df2), pb_cuda_free(d_da2);
  free(f), free(g), free(a), free(df), free(da), free(junk), free(z), free(labels);
}

/* ------------------------------------------------------------------ PyTorch goldens */

/* got[n] (device) against the float64 reference ref[n]. */
static void cmp_gold(const char *what, const float *d_got, const double *ref, size_t n, double atol) {
  float *got = pb_twin_hostf(d_got, n, &g_env);
  size_t bad = 0, worst = 0;
  double wr = -1;
  for (size_t i = 0; i < n; i++) {
    const double d = fabs((double)got[i] - ref[i]), tol = atol + RTOL * fabs(ref[i]);
    bad += !(d <= tol);
    if (d / tol > wr || isnan(d)) wr = d / tol, worst = i;
  }
  PB_CHECK_MSG(bad == 0, "%s: %zu of %zu out of tolerance; worst [%zu] got %.9g ref %.17g (atol %.3g)", what, bad, n,
               worst, (double)got[worst], ref[worst], atol);
  free(got);
}

static void test_golden(const dg_case *c, int mixin) {
  const int n = c->n, k = c->k;
  const size_t nk = (size_t)n * k, n2 = mixin ? (size_t)n : nk;
  float *d_f = pb_twin_fromf(c->f, nk, &g_env), *d_x2 = pb_twin_fromf(c->x2, nk, &g_env);
  float *d_a = mixin ? pb_twin_fromf(c->a, (size_t)n, &g_env) : NULL;
  int32_t *d_lab = pb_twin_from(c->labels, (size_t)n * sizeof(int32_t), &g_env);
  double cmax = 0; /* M as test_golden_debias.c: 1 + max(|f|, |h|); 1 + |f| + max softplus(a) |g| */
  for (int i = 0; mixin && i < n; i++) cmax = fmax(cmax, softplus(c->a[i]));
  const double mm = mixin ? 1.0 + max_abs(c->f, nk) + cmax * max_abs(c->x2, nk)
                          : 1.0 + fmax(max_abs(c->f, nk), max_abs(c->x2, nk));
  const double s2 = mixin ? max_abs(c->x2, nk) * (2.0 * c->scale + 2.0 * c->scale2 * (1.0 + log((double)k)))
                          : c->scale * (1.0 + max_abs(c->f, nk)) + c->scale2;
  for (int pass = 0; pass < 2; pass++) {
    const pb_cuda_env *env = pass == 0 ? &g_env : &g_env_nows;
    float *d_loss = pb_twin_alloc(8), *d1 = pb_twin_alloc(nk * 4), *d2 = pb_twin_alloc(n2 * 4);
    if (mixin)
      pb_mixin_loss_cuda(d_loss, d1, d2, d_f, d_x2, d_a, d_lab, n, k, c->scale, c->scale2, env);
    else
      pb_rubi_loss_cuda(d_loss, d1, d2, d_f, d_x2, d_lab, n, k, c->scale, c->scale2, env);
    char w[96];
    const char *tag = pass == 0 ? "" : " (no workspace)";
    snprintf(w, sizeof w, "golden %s loss%s", c->name, tag);
    cmp_gold(w, d_loss, c->loss, 2, ATOL_LOSS * n * mm);
    snprintf(w, sizeof w, "golden %s df%s", c->name, tag);
    cmp_gold(w, d1, c->d1, nk, ATOL_GRAD * c->scale + FLOOR);
    snprintf(w, sizeof w, "golden %s %s%s", c->name, mixin ? "da" : "dh", tag);
    cmp_gold(w, d2, c->d2, n2, ATOL_GRAD * s2 + FLOOR);
    pb_cuda_free(d_loss), pb_cuda_free(d1), pb_cuda_free(d2);
  }
  printf("  golden %-10s n=%-3d k=%-3d checked (both paths)\n", c->name, n, k);
  pb_cuda_free(d_f), pb_cuda_free(d_x2), pb_cuda_free(d_a), pb_cuda_free(d_lab);
}

/* n == 0 on both paths: loss = {0, 0} over garbage, nothing else touched. */
static void test_empty(void) {
  const float junk2[2] = {-3.0f, 77.0f};
  float *d_loss = pb_twin_fromf(junk2, 2, &g_env);
  for (int pass = 0; pass < 2; pass++) {
    const pb_cuda_env *env = pass == 0 ? &g_env : &g_env_nows;
    pb_rubi_loss_cuda(d_loss, NULL, NULL, NULL, NULL, NULL, 0, 10, 1.0f, 1.0f, env);
    float *got = pb_twin_hostf(d_loss, 2, &g_env);
    PB_CHECK_MSG(got[0] == 0.0f && got[1] == 0.0f, "rubi n=0: loss %g %g", (double)got[0], (double)got[1]);
    free(got);
    pb_cuda_h2d(d_loss, junk2, 8, &g_env);
    pb_mixin_loss_cuda(d_loss, NULL, NULL, NULL, NULL, NULL, NULL, 0, 10, 1.0f, 1.0f, env);
    got = pb_twin_hostf(d_loss, 2, &g_env);
    PB_CHECK_MSG(got[0] == 0.0f && got[1] == 0.0f, "mixin n=0: loss %g %g", (double)got[0], (double)got[1]);
    free(got);
    pb_cuda_h2d(d_loss, junk2, 8, &g_env);
  }
  pb_cuda_sync(&g_env);
  pb_cuda_free(d_loss);
  printf("  n=0: loss {0, 0} on both paths\n");
}

int main(void) {
  pb_twin_require_gpu();
  pb_twin_env(&g_env, (size_t)64 << 20, 0, 0);
  g_env_nows = g_env;
  g_env_nows.workspace = NULL;
  g_env_nows.workspace_bytes = 0;

  /* (n, k, missing labels) */
  const int shapes[][3] = {{1, 1, 0}, {1, 10, 0}, {1, 1000, 0}, {6, 1, 1},    {7, 10, 1},
                           {33, 37, 1}, {64, 1000, 1}, {300, 10, 1}, {300, 100, 1}, {5, 4099, 1}};
  const size_t ns = sizeof shapes / sizeof shapes[0];
  for (size_t s = 0; s < ns; s++) {
    const int n = shapes[s][0], k = shapes[s][1], miss = shapes[s][2];
    test_rubi(n, k, 4.0f, 4.0f, miss, 100 + 10 * s);
    test_rubi(n, k, 50.0f, 50.0f, miss, 101 + 10 * s); /* large logits, saturated sigmoids */
    test_mixin(n, k, 4.0f, 2.0f, 3.0f, miss, 102 + 10 * s);
    test_mixin(n, k, 50.0f, 2.0f, 30.0f, miss, 103 + 10 * s); /* large logits, a across both branches */
  }
  test_empty();
  dg_set gs;
  pb_err err = {{0}};
  if (dg_load(&gs, &err)) {
    fprintf(stderr, "FAIL: %s\n", err.msg);
    pb_test_failures++;
  } else {
    for (int i = 0; i < gs.nrubi; i++) test_golden(&gs.rubi[i], 0);
    for (int i = 0; i < gs.nmixin; i++) test_golden(&gs.mixin[i], 1);
    dg_free(&gs);
  }
  printf("  worst |gpu - cpu| / |cpu| where rtol |cpu| >= atol: %.3g (rtol %g)\n", g_worst_rel, RTOL);

  pb_cuda_env_free(&g_env);
  return pb_test_exit("test_cuda_debias");
}
