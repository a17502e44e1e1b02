/* test_cuda_golden_ops.c: the CUDA twins of kernels/ops_cuda.h against PyTorch 1.13, case for
 * case the comparisons of test_golden_ops.c (same fixture, same cases, same tolerances).
 * Fixture: scripts/fixtures/gen_op_fixtures.py -> test/fixtures/ops_golden.safetensors, whose
 * docstring lists the cases; each case stores its inputs, parameters, PyTorch's outputs and
 * autograd's gradients of L = sum(y * r) (for the losses, of the mean loss itself).
 * Inputs are uploaded to fresh device buffers, the _cuda op runs on env.stream, and results
 * are downloaded (pb_cuda_d2h waits for the stream) and compared on the host. Parameter-
 * gradient buffers are zeroed on the device first (they accumulate); the losses write ONE
 * device float holding the SUM, divided on the host as the CPU test does; labels go to the
 * device as int32 (the fixture stores int64). Prints the max |plumb - torch| of every
 * compared tensor. Exits 77 (skipped) without a GPU.
 *
 * Precision: fp32 on the GPU with TF32 OFF (pb_cuda_env_init tf32 = 0), so cuBLAS / cuDNN do
 * true fp32 arithmetic and differ from PyTorch's CPU float32 only in summation order and in
 * the exp/log implementations; the CPU tolerances therefore hold unchanged.
 * Tolerances |got - ref| <= atol + rtol*|ref|, by family:
 *  - conv, linear: sums of at most ~130 products of O(1) values: rounding ~sqrt(K)*2^-24*
 *    sum|terms| < 5e-6, so atol 1e-5, rtol 1e-4. An indexing bug gives O(0.1..1) errors.
 *  - batch norm: y, dx, dgamma, dbeta go through a mean, a variance (sums of 100 terms) and
 *    1/sqrt; dx is a difference of nearly equal terms, so it loses a digit: atol 2e-5,
 *    rtol 2e-4 (eval y too). Running stats atol 1e-6, rtol 1e-5.
 *  - pooling: max pool y selects, so it must be exact (atol 0); max pool dx sums the dy of
 *    overlapping windows sharing a max: atol 1e-7, rtol 1e-6; avg pool sums <= 9 terms and
 *    divides: atol 1e-6, rtol 1e-5; GAP sums 25 terms: same.
 *  - losses (mean loss and dlogits): logsumexp over k <= 5 and a mean over n: a few ulps of
 *    O(1) values, with another exp/log: atol 1e-6, rtol 1e-5.
 *  - relu: exact (atol 0); sigmoid: one exp and a division: atol 1e-7, rtol 1e-6. */
#include <string.h>

#include "engine/models/safetensors.h"
#include "kernels/ops_cuda.h"
#include "test/cuda_twin.h"
#include "test/testutil.h"

static pb_st_file g_f;
static pb_cuda_env g_env;

/* The float32 tensor "<c>.<name>" (host, in the fixture); checks that it exists and holds
 * numel floats (numel 0: any size). Aborts the test when absent. */
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

/* int64 tensor "<c>.<name>" copied into out[max]; returns its element count. */
static int get_i64(const char *c, const char *name, int64_t *out, int max) {
  char key[128];
  snprintf(key, sizeof key, "%s.%s", c, name);
  const pb_st_tensor *t = pb_st_find(&g_f, key);
  if (!t) PB_FATAL("fixture lacks %s", key);
  PB_ASSERT(t->dtype == PB_ST_I64 && t->nbytes <= (size_t)max * 8);
  memcpy(out, t->data, t->nbytes);
  return (int)(t->nbytes / 8);
}

static float meta_float(const char *key) {
  const char *s = pb_st_meta(&g_f, key);
  if (!s) PB_FATAL("fixture lacks metadata %s", key);
  return strtof(s, NULL);
}

/* ------------------------------------------------------------------ device helpers */

/* A fresh zeroed device buffer of n floats. */
static float *dzeros(size_t n) {
  float *d = pb_twin_alloc(n * sizeof(float));
  pb_cuda_memset0(d, (n ? n : 1) * sizeof(float), &g_env);
  return d;
}

/* The fixture tensor "<c>.<name>" (numel floats; 0: any) uploaded to a fresh device buffer. */
static float *up(const char *c, const char *name, size_t numel) {
  if (!numel) numel = numel_of(c, name);
  return pb_twin_fromf(get(c, name, numel), numel, &g_env);
}

/* n floats from the device into host (waits for the stream). */
static void down(float *host, const float *dev, size_t n) {
  pb_cuda_d2h(host, dev, n * sizeof(float), &g_env);
}

/* Compares host got with "<c>.<name>" and prints the max abs difference. */
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

/* Downloads n floats of dev and compares them with "<c>.<name>". */
static void cmp_dev(const char *c, const char *name, const float *dev, size_t n, double atol,
                    double rtol) {
  float *h = pb_twin_hostf(dev, n, &g_env);
  cmp(c, name, h, n, atol, rtol);
  free(h);
}

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
  float *x = up(c, "x", nx), *w = up(c, "w", nw), *r = up(c, "r", ny);
  float *b = has_bias ? up(c, "b", (size_t)p.c_out) : NULL;
  float *y = dzeros(ny), *dx = dzeros(nx), *dw = dzeros(nw), *db = dzeros((size_t)p.c_out);
  printf("%s: %dx%dx%dx%d -> %d, k%dx%d s%d p%d d%d g%d%s\n", c, p.n, p.c_in, p.h_in, p.w_in,
         p.c_out, p.kh, p.kw, p.stride_h, p.pad_h, p.dil_h, p.groups, has_bias ? ", bias" : "");
  pb_conv2d_fwd_cuda(y, x, w, b, &p, &g_env);
  cmp_dev(c, "y", y, ny, 1e-5, 1e-4);
  pb_conv2d_bwd_data_cuda(dx, r, w, &p, &g_env);
  cmp_dev(c, "dx", dx, nx, 1e-5, 1e-4);
  pb_conv2d_bwd_filter_cuda(dw, has_bias ? db : NULL, r, x, &p, &g_env);
  cmp_dev(c, "dw", dw, nw, 1e-5, 1e-4);
  if (has_bias) cmp_dev(c, "db", db, (size_t)p.c_out, 1e-5, 1e-4);
  pb_cuda_free(x), pb_cuda_free(w), pb_cuda_free(r), pb_cuda_free(b);
  pb_cuda_free(y), pb_cuda_free(dx), pb_cuda_free(dw), pb_cuda_free(db);
}

static void bn_train_case(const char *c) {
  int64_t v[3];
  PB_ASSERT(get_i64(c, "params", v, 3) == 3);
  pb_bn_params p = {.n = (int)v[0], .c = (int)v[1], .hw = (int)v[2], .eps = meta_float("bn.eps"),
                    .momentum = meta_float("bn.momentum")};
  size_t nx = (size_t)p.n * p.c * p.hw, nc = (size_t)p.c;
  float *x = up(c, "x", nx), *gamma = up(c, "gamma", nc), *beta = up(c, "beta", nc);
  float *r = up(c, "r", nx);
  float *rm = up(c, "running_mean0", nc), *rv = up(c, "running_var0", nc);
  float *mean = dzeros(nc), *invstd = dzeros(nc);
  float *y = dzeros(nx), *dx = dzeros(nx), *dgamma = dzeros(nc), *dbeta = dzeros(nc);
  printf("%s: n %d c %d hw %d eps %g momentum %g\n", c, p.n, p.c, p.hw, p.eps, p.momentum);
  pb_bn_fwd_train_cuda(y, mean, invstd, rm, rv, x, gamma, beta, &p, &g_env);
  cmp_dev(c, "y", y, nx, 2e-5, 2e-4);
  cmp_dev(c, "running_mean", rm, nc, 1e-6, 1e-5);
  cmp_dev(c, "running_var", rv, nc, 1e-6, 1e-5);
  pb_bn_bwd_cuda(dx, dgamma, dbeta, r, x, gamma, mean, invstd, &p, &g_env);
  cmp_dev(c, "dx", dx, nx, 2e-5, 2e-4);
  cmp_dev(c, "dgamma", dgamma, nc, 2e-5, 2e-4);
  cmp_dev(c, "dbeta", dbeta, nc, 2e-5, 2e-4);
  pb_cuda_free(x), pb_cuda_free(gamma), pb_cuda_free(beta), pb_cuda_free(r);
  pb_cuda_free(rm), pb_cuda_free(rv), pb_cuda_free(mean), pb_cuda_free(invstd);
  pb_cuda_free(y), pb_cuda_free(dx), pb_cuda_free(dgamma), pb_cuda_free(dbeta);
}

static void bn_eval_case(const char *c) {
  int64_t v[3];
  PB_ASSERT(get_i64(c, "params", v, 3) == 3);
  pb_bn_params p = {.n = (int)v[0], .c = (int)v[1], .hw = (int)v[2], .eps = meta_float("bn.eps"),
                    .momentum = meta_float("bn.momentum")};
  size_t nx = (size_t)p.n * p.c * p.hw, nc = (size_t)p.c;
  float *x = up(c, "x", nx), *gamma = up(c, "gamma", nc), *beta = up(c, "beta", nc);
  float *rm = up(c, "running_mean", nc), *rv = up(c, "running_var", nc);
  float *y = dzeros(nx);
  printf("%s: n %d c %d hw %d\n", c, p.n, p.c, p.hw);
  pb_bn_fwd_eval_cuda(y, x, gamma, beta, rm, rv, &p, &g_env);
  cmp_dev(c, "y", y, nx, 2e-5, 2e-4);
  pb_cuda_free(x), pb_cuda_free(gamma), pb_cuda_free(beta), pb_cuda_free(rm), pb_cuda_free(rv);
  pb_cuda_free(y);
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
  float *x = up(c, "x", nx), *r = up(c, "r", ny);
  float *y = dzeros(ny), *dx = dzeros(nx);
  printf("%s: %dx%dx%dx%d k%d s%d p%d%s\n", c, p.n, p.c, p.h_in, p.w_in, p.kh, p.stride_h,
         p.pad_h, is_max ? "" : count_include_pad ? " count_include_pad" : " exclude pad");
  if (is_max) {
    int32_t *argmax = pb_twin_alloc(ny * sizeof(int32_t));
    pb_maxpool_fwd_cuda(y, argmax, x, &p, &g_env);
    cmp_dev(c, "y", y, ny, 0, 0);
    pb_maxpool_bwd_cuda(dx, r, argmax, &p, &g_env);
    /* dx sums the dy of overlapping windows that share a max: float adds, order may differ */
    cmp_dev(c, "dx", dx, nx, 1e-7, 1e-6);
    pb_cuda_free(argmax);
  } else {
    pb_avgpool_fwd_cuda(y, x, &p, &g_env);
    cmp_dev(c, "y", y, ny, 1e-6, 1e-5);
    pb_avgpool_bwd_cuda(dx, r, &p, &g_env);
    cmp_dev(c, "dx", dx, nx, 1e-6, 1e-5);
  }
  pb_cuda_free(x), pb_cuda_free(r), pb_cuda_free(y), pb_cuda_free(dx);
}

static void gap_case(void) {
  const char *c = "gap";
  int n = 2, ch = 3, hw = 25;
  size_t nx = (size_t)n * ch * hw, ny = (size_t)n * ch;
  float *x = up(c, "x", nx), *r = up(c, "r", ny);
  float *y = dzeros(ny), *dx = dzeros(nx);
  printf("%s: %dx%dx5x5\n", c, n, ch);
  pb_gap_fwd_cuda(y, x, n, ch, hw, &g_env);
  cmp_dev(c, "y", y, ny, 1e-6, 1e-5);
  pb_gap_bwd_cuda(dx, r, n, ch, hw, &g_env);
  cmp_dev(c, "dx", dx, nx, 1e-6, 1e-5);
  pb_cuda_free(x), pb_cuda_free(r), pb_cuda_free(y), pb_cuda_free(dx);
}

static void linear_case(void) {
  const char *c = "linear";
  int n = 5, in = 7, out = 3;
  float *x = up(c, "x", (size_t)n * in), *w = up(c, "w", (size_t)out * in);
  float *b = up(c, "b", (size_t)out), *r = up(c, "r", (size_t)n * out);
  float *y = dzeros((size_t)n * out), *dx = dzeros((size_t)n * in), *dw = dzeros((size_t)out * in);
  float *db = dzeros((size_t)out);
  printf("%s: n %d in %d out %d\n", c, n, in, out);
  pb_linear_fwd_cuda(y, x, w, b, n, in, out, &g_env);
  cmp_dev(c, "y", y, (size_t)n * out, 1e-5, 1e-4);
  pb_linear_bwd_cuda(dx, dw, db, r, x, w, n, in, out, &g_env);
  cmp_dev(c, "dx", dx, (size_t)n * in, 1e-5, 1e-4);
  cmp_dev(c, "dw", dw, (size_t)out * in, 1e-5, 1e-4);
  cmp_dev(c, "db", db, (size_t)out, 1e-5, 1e-4);
  pb_cuda_free(x), pb_cuda_free(w), pb_cuda_free(b), pb_cuda_free(r);
  pb_cuda_free(y), pb_cuda_free(dx), pb_cuda_free(dw), pb_cuda_free(db);
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
  int32_t *labels_d = pb_twin_from(labels, sizeof labels, &g_env);
  float *logits = up(c, "logits", N * K);
  float *loss_sum_d = dzeros(1), *losses = dzeros(N), *dlogits = dzeros(N * K);
  printf("%s: n %d k %d smoothing %g (mean)\n", c, N, K, sm);
  /* plumb returns the SUM; PyTorch's reduction='mean' divides by n (no ignore_index here) */
  pb_softmax_xent_cuda(loss_sum_d, losses, dlogits, logits, labels_d, N, K, sm, 1.0f / N, &g_env);
  float loss_sum = -1;
  down(&loss_sum, loss_sum_d, 1); /* also waits before labels[] goes out of scope */
  float loss = loss_sum / N;
  cmp(c, "loss", &loss, 1, 1e-6, 1e-5);
  cmp_dev(c, "dlogits", dlogits, N * K, 1e-6, 1e-5);
  pb_cuda_free(labels_d), pb_cuda_free(logits), pb_cuda_free(loss_sum_d);
  pb_cuda_free(losses), pb_cuda_free(dlogits);
}

static void bce_case(void) {
  enum { N = 4, K = 5 };
  const char *c = "bce";
  float *logits = up(c, "logits", N * K), *targets = up(c, "targets", N * K);
  float *loss_sum_d = dzeros(1), *dlogits = dzeros(N * K);
  printf("%s: n %d k %d (mean over n*k; some |logits| > 20)\n", c, N, K);
  pb_bce_logits_cuda(loss_sum_d, dlogits, logits, targets, N, K, 1.0f / (N * K), &g_env);
  float loss_sum = -1;
  down(&loss_sum, loss_sum_d, 1);
  float loss = loss_sum / (N * K);
  cmp(c, "loss", &loss, 1, 1e-6, 1e-5);
  cmp_dev(c, "dlogits", dlogits, N * K, 1e-6, 1e-5);
  pb_cuda_free(logits), pb_cuda_free(targets), pb_cuda_free(loss_sum_d), pb_cuda_free(dlogits);
}

static void act_case(const char *c, int is_relu) {
  size_t n = numel_of(c, "x");
  float *x = up(c, "x", n), *r = up(c, "r", n);
  float *y = dzeros(n), *dx = dzeros(n);
  printf("%s: %zu elements\n", c, n);
  if (is_relu) {
    pb_relu_fwd_cuda(y, x, n, &g_env);
    cmp_dev(c, "y", y, n, 0, 0);
    pb_relu_bwd_cuda(dx, r, y, n, &g_env);
    cmp_dev(c, "dx", dx, n, 0, 0);
  } else {
    pb_sigmoid_fwd_cuda(y, x, n, &g_env);
    cmp_dev(c, "y", y, n, 1e-7, 1e-6);
    pb_sigmoid_bwd_cuda(dx, r, y, n, &g_env);
    cmp_dev(c, "dx", dx, n, 1e-7, 1e-6);
  }
  pb_cuda_free(x), pb_cuda_free(r), pb_cuda_free(y), pb_cuda_free(dx);
}

int main(void) {
  pb_twin_require_gpu();
  pb_err err = {{0}};
  if (pb_st_read(&g_f, pb_test_fixture("ops_golden.safetensors"), &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  /* GPU 0, 64 MiB workspace, any algorithm, TF32 off: plain fp32 like the fixture. */
  pb_twin_env(&g_env, 64 << 20, 0, 0);
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
  pb_cuda_sync(&g_env);
  pb_cuda_env_free(&g_env);
  pb_st_free(&g_f);
  return pb_test_exit("test_cuda_golden_ops");
}
