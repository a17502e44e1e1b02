/* test_golden_ops.c: the CPU ops of kernels/ops.h against PyTorch 1.13 (float32, CPU).
 * Fixture: scripts/fixtures/gen_op_fixtures.py -> test/fixtures/ops_golden.safetensors, whose
 * docstring lists the cases; each case stores its inputs, parameters, PyTorch's outputs and
 * autograd's gradients of L = sum(y * r) (for the losses, of the mean loss itself).
 * The ops run with nthreads 2 on the stored inputs; parameter-gradient buffers start at zero
 * (they accumulate). Prints the max |plumb - torch| of every compared tensor.
 *
 * Tolerances |got - ref| <= atol + rtol*|ref|, by family (both sides are float32; they differ
 * only in summation order and in the libm used for exp/log):
 *  - conv, linear: sums of at most ~130 products of O(1) values: rounding ~sqrt(K)*2^-24*
 *    sum|terms| < 5e-6, so atol 1e-5, rtol 1e-4. An indexing bug gives O(0.1..1) errors.
 *  - batch norm: y, dx and dgamma go through a mean, a variance (sums of 100 terms) and
 *    1/sqrt; dx is a difference of nearly equal terms (dy - mean(dy) - xhat*mean(dy*xhat)),
 *    so it loses a digit: atol 2e-5, rtol 2e-4. Running stats atol 1e-6, rtol 1e-5.
 *  - pooling: max pool selects, so it must be exact (atol 0); avg pool sums <= 9 terms and
 *    divides: atol 1e-6, rtol 1e-5; GAP sums 25 terms: same.
 *  - losses: logsumexp over k <= 5 and a mean over n: a few ulps of O(1) values, with expf/
 *    log1pf from another libm: atol 1e-6, rtol 1e-5.
 *  - relu: exact; sigmoid: one expf and a division: atol 1e-7, rtol 1e-6. */
#include <string.h>

#include "engine/models/safetensors.h"
#include "kernels/ops.h"
#include "test/testutil.h"

#define NTHREADS 2

static pb_st_file g_f;

/* The float32 tensor "<c>.<name>"; checks that it exists and holds numel floats (numel 0:
 * any size, returned in *numel_out when non-NULL). Aborts the test when absent: the fixture
 * and this file are out of step. */
static const float *get(const char *c, const char *name, size_t numel) {
  char key[128];
  snprintf(key, sizeof key, "%s.%s", c, name);
  const pb_st_tensor *t = pb_st_find(&g_f, key);
  if (!t) PB_FATAL("fixture lacks %s", key);
  PB_ASSERT(t->dtype == PB_ST_F32);
  if (numel && t->nbytes != numel * sizeof(float))
    PB_FATAL("%s: %zu floats in the fixture, %zu expected", key, t->nbytes / 4, numel);
  return (const float *)t->data;
}

static size_t numel_of(const char *c, const char *name) {
  char key[128];
  snprintf(key, sizeof key, "%s.%s", c, name);
  const pb_st_tensor *t = pb_st_find(&g_f, key);
  if (!t) PB_FATAL("fixture lacks %s", key);
  return t->nbytes / pb_st_dtype_size(t->dtype);
}

/* int64 tensor "<c>.<name>" copied into out[max] (memcpy: int64 data in the blob may not be
 * 8-byte aligned); returns its element count. */
static int get_i64(const char *c, const char *name, int64_t *out, int max) {
  char key[128];
  snprintf(key, sizeof key, "%s.%s", c, name);
  const pb_st_tensor *t = pb_st_find(&g_f, key);
  if (!t) PB_FATAL("fixture lacks %s", key);
  PB_ASSERT(t->dtype == PB_ST_I64 && t->nbytes <= (size_t)max * 8);
  memcpy(out, t->data, t->nbytes);
  return (int)(t->nbytes / 8);
}

/* Compares got with "<c>.<name>" and prints the max abs difference. */
static void cmp(const char *c, const char *name, const float *got, size_t n, double atol,
                double rtol) {
  char key[128];
  snprintf(key, sizeof key, "%s.%s", c, name);
  const float *ref = get(c, name, n);
  size_t bad = pb_test_allclose(key, got, ref, n, atol, rtol);
  PB_CHECK_MSG(bad == 0, "%s differs from PyTorch", key);
  printf("  %-24s max |diff| %.3g%s\n", key, pb_test_max_abs_diff(got, ref, n),
         bad ? "  FAIL" : "");
}

static float *zeros(size_t n) { return pb_xcalloc(n ? n : 1, sizeof(float)); }

/* ------------------------------------------------------------------ cases */

static void conv_case(const char *c) {
  int64_t v[14];
  PB_ASSERT(get_i64(c, "params", v, 14) == 14);
  pb_conv2d_params p = {.n = (int)v[0], .c_in = (int)v[1], .h_in = (int)v[2], .w_in = (int)v[3],
                        .c_out = (int)v[4], .kh = (int)v[5], .kw = (int)v[6],
                        .stride_h = (int)v[7], .stride_w = (int)v[8], .pad_h = (int)v[9],
                        .pad_w = (int)v[10], .dil_h = (int)v[11], .dil_w = (int)v[12],
                        .groups = (int)v[13]};
  PB_ASSERT(pb_conv2d_params_finish(&p) == 0);
  size_t nx = (size_t)p.n * p.c_in * p.h_in * p.w_in;
  size_t nw = (size_t)p.c_out * (p.c_in / p.groups) * p.kh * p.kw;
  size_t ny = (size_t)p.n * p.c_out * p.h_out * p.w_out;
  PB_CHECK_MSG(numel_of(c, "y") == ny, "%s: output size %dx%d disagrees with PyTorch's", c,
               p.h_out, p.w_out);
  if (numel_of(c, "y") != ny) return;
  char key[64];
  snprintf(key, sizeof key, "%s.b", c);
  int has_bias = pb_st_find(&g_f, key) != NULL;
  const float *x = get(c, "x", nx), *w = get(c, "w", nw), *r = get(c, "r", ny);
  const float *b = has_bias ? get(c, "b", (size_t)p.c_out) : NULL;

  pb_scratch s = {.floats = pb_conv2d_scratch_cpu(&p, NTHREADS), .nthreads = NTHREADS};
  s.buf = zeros(s.floats);
  float *y = zeros(ny), *dx = zeros(nx), *dw = zeros(nw), *db = zeros((size_t)p.c_out);
  printf("%s: %dx%dx%dx%d -> %d, k%dx%d s%d p%d d%d g%d%s\n", c, p.n, p.c_in, p.h_in, p.w_in,
         p.c_out, p.kh, p.kw, p.stride_h, p.pad_h, p.dil_h, p.groups, has_bias ? ", bias" : "");
  pb_conv2d_fwd_cpu(y, x, w, b, &p, &s);
  cmp(c, "y", y, ny, 1e-5, 1e-4);
  pb_conv2d_bwd_data_cpu(dx, r, w, &p, &s);
  cmp(c, "dx", dx, nx, 1e-5, 1e-4);
  pb_conv2d_bwd_filter_cpu(dw, has_bias ? db : NULL, r, x, &p, &s);
  cmp(c, "dw", dw, nw, 1e-5, 1e-4);
  if (has_bias) cmp(c, "db", db, (size_t)p.c_out, 1e-5, 1e-4);
  free(s.buf), free(y), free(dx), free(dw), free(db);
}

static float meta_float(const char *key) {
  const char *s = pb_st_meta(&g_f, key);
  if (!s) PB_FATAL("fixture lacks metadata %s", key);
  return strtof(s, NULL);
}

static void bn_train_case(const char *c) {
  int64_t v[3];
  PB_ASSERT(get_i64(c, "params", v, 3) == 3);
  pb_bn_params p = {.n = (int)v[0], .c = (int)v[1], .hw = (int)v[2], .eps = meta_float("bn.eps"),
                    .momentum = meta_float("bn.momentum")};
  size_t nx = (size_t)p.n * p.c * p.hw, nc = (size_t)p.c;
  const float *x = get(c, "x", nx), *gamma = get(c, "gamma", nc), *beta = get(c, "beta", nc);
  const float *r = get(c, "r", nx);
  float *rm = zeros(nc), *rv = zeros(nc), *mean = zeros(nc), *invstd = zeros(nc);
  memcpy(rm, get(c, "running_mean0", nc), nc * 4);
  memcpy(rv, get(c, "running_var0", nc), nc * 4);
  float *y = zeros(nx), *dx = zeros(nx), *dgamma = zeros(nc), *dbeta = zeros(nc);
  printf("%s: n %d c %d hw %d eps %g momentum %g\n", c, p.n, p.c, p.hw, p.eps, p.momentum);
  pb_bn_fwd_train_cpu(y, mean, invstd, rm, rv, x, gamma, beta, &p, NTHREADS);
  cmp(c, "y", y, nx, 2e-5, 2e-4);
  cmp(c, "running_mean", rm, nc, 1e-6, 1e-5);
  cmp(c, "running_var", rv, nc, 1e-6, 1e-5);
  pb_bn_bwd_cpu(dx, dgamma, dbeta, r, x, gamma, mean, invstd, &p, NTHREADS);
  cmp(c, "dx", dx, nx, 2e-5, 2e-4);
  cmp(c, "dgamma", dgamma, nc, 2e-5, 2e-4);
  cmp(c, "dbeta", dbeta, nc, 2e-5, 2e-4);
  free(rm), free(rv), free(mean), free(invstd), free(y), free(dx), free(dgamma), free(dbeta);
}

static void bn_eval_case(const char *c) {
  int64_t v[3];
  PB_ASSERT(get_i64(c, "params", v, 3) == 3);
  pb_bn_params p = {.n = (int)v[0], .c = (int)v[1], .hw = (int)v[2], .eps = meta_float("bn.eps"),
                    .momentum = meta_float("bn.momentum")};
  size_t nx = (size_t)p.n * p.c * p.hw, nc = (size_t)p.c;
  float *y = zeros(nx);
  printf("%s: n %d c %d hw %d\n", c, p.n, p.c, p.hw);
  pb_bn_fwd_eval_cpu(y, get(c, "x", nx), get(c, "gamma", nc), get(c, "beta", nc),
                     get(c, "running_mean", nc), get(c, "running_var", nc), &p, NTHREADS);
  cmp(c, "y", y, nx, 2e-5, 2e-4);
  free(y);
}

static void pool_case(const char *c, int is_max, int count_include_pad) {
  int64_t v[10];
  PB_ASSERT(get_i64(c, "params", v, 10) == 10);
  pb_pool_params p = {.n = (int)v[0], .c = (int)v[1], .h_in = (int)v[2], .w_in = (int)v[3],
                      .kh = (int)v[4], .kw = (int)v[5], .stride_h = (int)v[6],
                      .stride_w = (int)v[7], .pad_h = (int)v[8], .pad_w = (int)v[9],
                      .count_include_pad = count_include_pad};
  PB_ASSERT(pb_pool_params_finish(&p) == 0);
  size_t nx = (size_t)p.n * p.c * p.h_in * p.w_in, ny = (size_t)p.n * p.c * p.h_out * p.w_out;
  PB_CHECK_MSG(numel_of(c, "y") == ny, "%s: output size %dx%d disagrees with PyTorch's", c,
               p.h_out, p.w_out);
  if (numel_of(c, "y") != ny) return;
  const float *x = get(c, "x", nx), *r = get(c, "r", ny);
  float *y = zeros(ny), *dx = zeros(nx);
  printf("%s: %dx%dx%dx%d k%d s%d p%d%s\n", c, p.n, p.c, p.h_in, p.w_in, p.kh, p.stride_h,
         p.pad_h, is_max ? "" : count_include_pad ? " count_include_pad" : " exclude pad");
  if (is_max) {
    int32_t *argmax = pb_xcalloc(ny, sizeof(int32_t));
    pb_maxpool_fwd_cpu(y, argmax, x, &p);
    cmp(c, "y", y, ny, 0, 0);
    pb_maxpool_bwd_cpu(dx, r, argmax, &p);
    /* dx sums the dy of overlapping windows that share a max: float adds, order may differ */
    cmp(c, "dx", dx, nx, 1e-7, 1e-6);
    free(argmax);
  } else {
    pb_avgpool_fwd_cpu(y, x, &p);
    cmp(c, "y", y, ny, 1e-6, 1e-5);
    pb_avgpool_bwd_cpu(dx, r, &p);
    cmp(c, "dx", dx, nx, 1e-6, 1e-5);
  }
  free(y), free(dx);
}

static void gap_case(void) {
  const char *c = "gap";
  int n = 2, ch = 3, hw = 25;
  size_t nx = (size_t)n * ch * hw, ny = (size_t)n * ch;
  float *y = zeros(ny), *dx = zeros(nx);
  printf("%s: %dx%dx5x5\n", c, n, ch);
  pb_gap_fwd_cpu(y, get(c, "x", nx), n, ch, hw);
  cmp(c, "y", y, ny, 1e-6, 1e-5);
  pb_gap_bwd_cpu(dx, get(c, "r", ny), n, ch, hw);
  cmp(c, "dx", dx, nx, 1e-6, 1e-5);
  free(y), free(dx);
}

static void linear_case(void) {
  const char *c = "linear";
  int n = 5, in = 7, out = 3;
  const float *x = get(c, "x", (size_t)n * in), *w = get(c, "w", (size_t)out * in);
  const float *b = get(c, "b", (size_t)out), *r = get(c, "r", (size_t)n * out);
  float *y = zeros((size_t)n * out), *dx = zeros((size_t)n * in), *dw = zeros((size_t)out * in);
  float *db = zeros((size_t)out);
  printf("%s: n %d in %d out %d\n", c, n, in, out);
  pb_linear_fwd_cpu(y, x, w, b, n, in, out, NTHREADS);
  cmp(c, "y", y, (size_t)n * out, 1e-5, 1e-4);
  pb_linear_bwd_cpu(dx, dw, db, r, x, w, n, in, out, NTHREADS);
  cmp(c, "dx", dx, (size_t)n * in, 1e-5, 1e-4);
  cmp(c, "dw", dw, (size_t)out * in, 1e-5, 1e-4);
  cmp(c, "db", db, (size_t)out, 1e-5, 1e-4);
  free(y), free(dx), free(dw), free(db);
}

static void xent_case(const char *c) {
  enum { N = 6, K = 4 };
  char key[64];
  snprintf(key, sizeof key, "%s.smoothing", c);
  float sm = meta_float(key);
  int64_t lab64[N];
  int32_t labels[N];
  PB_ASSERT(get_i64(c, "labels", lab64, N) == N);
  for (int i = 0; i < N; i++) labels[i] = (int32_t)lab64[i];
  float loss_sum = -1, losses[N], dlogits[N * K];
  printf("%s: n %d k %d smoothing %g (mean)\n", c, N, K, sm);
  /* plumb returns the SUM; PyTorch's reduction='mean' divides by n (no ignore_index here) */
  pb_softmax_xent_cpu(&loss_sum, losses, dlogits, get(c, "logits", N * K), labels, N, K, sm,
                      1.0f / N);
  float loss = loss_sum / N;
  cmp(c, "loss", &loss, 1, 1e-6, 1e-5);
  cmp(c, "dlogits", dlogits, N * K, 1e-6, 1e-5);
}

static void bce_case(void) {
  enum { N = 4, K = 5 };
  const char *c = "bce";
  float loss_sum = -1, dlogits[N * K];
  printf("%s: n %d k %d (mean over n*k; some |logits| > 20)\n", c, N, K);
  pb_bce_logits_cpu(&loss_sum, dlogits, get(c, "logits", N * K), get(c, "targets", N * K), N, K,
                    1.0f / (N * K));
  float loss = loss_sum / (N * K);
  cmp(c, "loss", &loss, 1, 1e-6, 1e-5);
  cmp(c, "dlogits", dlogits, N * K, 1e-6, 1e-5);
}

static void act_case(const char *c, int is_relu) {
  size_t n = numel_of(c, "x");
  const float *x = get(c, "x", n), *r = get(c, "r", n);
  float *y = zeros(n), *dx = zeros(n);
  printf("%s: %zu elements\n", c, n);
  if (is_relu) {
    pb_relu_fwd_cpu(y, x, n);
    cmp(c, "y", y, n, 0, 0);
    pb_relu_bwd_cpu(dx, r, y, n);
    cmp(c, "dx", dx, n, 0, 0);
  } else {
    pb_sigmoid_fwd_cpu(y, x, n);
    cmp(c, "y", y, n, 1e-7, 1e-6);
    pb_sigmoid_bwd_cpu(dx, r, y, n);
    cmp(c, "dx", dx, n, 1e-7, 1e-6);
  }
  free(y), free(dx);
}

int main(void) {
  pb_err err = {{0}};
  if (pb_st_read(&g_f, pb_test_fixture("ops_golden.safetensors"), &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  pb_cpu_blas_init();
  conv_case("conv_a");
  conv_case("conv_b");
  conv_case("conv_c");
  bn_train_case("bn2d_train");
  bn_train_case("bn1d_train");
  bn_eval_case("bn2d_eval");
  pool_case("maxpool", 1, 0);
  pool_case("avgpool_incl", 0, 1);
  pool_case("avgpool_excl", 0, 0);
  gap_case();
  linear_case();
  xent_case("xent_s0");
  xent_case("xent_s01");
  bce_case();
  act_case("relu", 1);
  act_case("sigmoid", 0);
  pb_st_free(&g_f);
  return pb_test_exit("test_golden_ops");
}
