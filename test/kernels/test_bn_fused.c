/* test_bn_fused.c: the fused evaluation batch norm (kernels/cpu/bn_fused.c), y = act(bn_eval(x)
 * + r), that inference runs in ResNets: BN + ReLU after a convolution, BN + residual add + ReLU
 * at the end of a block, plain BN in place.
 *
 * Exactness: BITWISE against the unfused chain it replaces (pb_bn_fwd_eval_cpu, then
 * pb_accumulate_cpu(y, r), then pb_relu_fwd_cpu), which the golden test holds to PyTorch. Every
 * combination of residual and ReLU, out of place, in place over x and in place over r, with
 * 1 and 3 threads; inputs hold -0, a NaN, +-1e30 and a near-constant channel (a large invstd);
 * shapes: BatchNorm1d (hw 1), one channel, a 7x7 and a 56x56 plane.
 *
 * The fused TRAINING pair (kernels/cpu/batchnorm.c, [run] fused_bn_train) the same way: the
 * forward (statistics, running averages, y) bitwise pb_bn_fwd_train_cpu + accumulate + relu, out of
 * place and in place over r, and the backward (dz, dx, dgamma, dbeta accumulating) bitwise
 * pb_relu_bwd_cpu + pb_bn_bwd_cpu, out of place and with dz over dy; NCHW and channels last. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "test/testutil.h"

static void one_case(int n, int c, int hw, uint64_t seed) {
  pb_bn_params p = {n, c, hw, 1e-5f, 0.1f, 0};
  const size_t cnt = (size_t)n * c * hw;
  float *x = malloc(cnt * sizeof(float)), *r = malloc(cnt * sizeof(float)), *ref = malloc(cnt * sizeof(float));
  float *y = malloc(cnt * sizeof(float)), *io = malloc(cnt * sizeof(float));
  float *g = malloc((size_t)c * sizeof(float)), *b = malloc((size_t)c * sizeof(float));
  float *m = malloc((size_t)c * sizeof(float)), *v = malloc((size_t)c * sizeof(float));
  pb_test_fill_uniform(x, cnt, -3, 3, seed), pb_test_fill_uniform(r, cnt, -2, 2, seed + 1);
  pb_test_fill_uniform(g, (size_t)c, -1.5f, 1.5f, seed + 2), pb_test_fill_uniform(b, (size_t)c, -1, 1, seed + 3);
  pb_test_fill_uniform(m, (size_t)c, -0.5f, 0.5f, seed + 4), pb_test_fill_uniform(v, (size_t)c, 0.01f, 4, seed + 5);
  v[0] = 1e-9f; /* near-constant channel 0: invstd ~ 316 */
  const float specials[] = {-0.0f, NAN, 1e30f, -1e30f};
  for (size_t s = 0; s < 4 && 5 * s + 3 < cnt; s++) x[5 * s + 3] = specials[s];
  if (cnt > 7) r[7] = -0.0f;
  for (int with_r = 0; with_r < 2; with_r++)
    for (int relu = 0; relu < 2; relu++)
      for (int nt = 1; nt <= 3; nt += 2) {
        const float *rr = with_r ? r : NULL;
        pb_bn_fwd_eval_cpu(ref, x, g, b, m, v, &p, 1);
        if (rr) pb_accumulate_cpu(ref, rr, cnt);
        if (relu) pb_relu_fwd_cpu(ref, ref, cnt);
        char what[128];
        snprintf(what, sizeof what, "%dx%dx%d residual %d relu %d threads %d", n, c, hw, with_r, relu, nt);
        memset(y, 0xff, cnt * sizeof(float));
        pb_bn_eval_fused_cpu(y, x, rr, g, b, m, v, relu, &p, nt);
        PB_CHECK_MSG(!memcmp(y, ref, cnt * sizeof(float)), "%s: not bitwise the unfused chain", what);
        memcpy(io, x, cnt * sizeof(float)); /* in place over x */
        pb_bn_eval_fused_cpu(io, io, rr, g, b, m, v, relu, &p, nt);
        PB_CHECK_MSG(!memcmp(io, ref, cnt * sizeof(float)), "%s: in place over x differs", what);
        if (rr) {
          memcpy(io, r, cnt * sizeof(float)); /* in place over the residual */
          pb_bn_eval_fused_cpu(io, x, io, g, b, m, v, relu, &p, nt);
          PB_CHECK_MSG(!memcmp(io, ref, cnt * sizeof(float)), "%s: in place over r differs", what);
        }
      }
  /* the ReLU really clamps and the residual really adds: spot values against double */
  pb_bn_eval_fused_cpu(y, x, r, g, b, m, v, 1, &p, 1);
  size_t checked = 0;
  for (size_t i = 0; i < cnt; i += 11) {
    int ch = (int)((i / (size_t)hw) % (size_t)c);
    if (!isfinite(x[i]) || fabsf(x[i]) > 1e29f) continue;
    double t = ((double)x[i] - m[ch]) * ((double)g[ch] / sqrt((double)v[ch] + 1e-5)) + b[ch] + r[i];
    double want = t < 0 ? 0 : t;
    PB_CHECK_MSG(fabs((double)y[i] - want) <= 1e-5 * (1 + fabs(want)), "%dx%dx%d element %zu: %g, want %g", n, c,
                 hw, i, (double)y[i], want);
    checked++;
  }
  PB_CHECK(checked > 0);
  printf("  %dx%dx%d: 8 variants x 2 thread counts bitwise the unfused chain, in place too; %zu values against "
         "double\n", n, c, hw, checked);
  free(x), free(r), free(ref), free(y), free(io), free(g), free(b), free(m), free(v);
}

static int same(const float *a, const float *b, size_t n) { return !memcmp(a, b, n * sizeof(float)); }

static void train_case(int n, int c, int hw, int nhwc, uint64_t seed) {
  pb_bn_params p = {n, c, hw, 1e-5f, 0.1f, nhwc};
  const size_t cnt = (size_t)n * c * hw, cc = (size_t)c;
  float *x = malloc(cnt * 4), *r = malloc(cnt * 4), *dy = malloc(cnt * 4), *ref = malloc(cnt * 4), *y = malloc(cnt * 4);
  float *dzr = malloc(cnt * 4), *dxr = malloc(cnt * 4), *dz = malloc(cnt * 4), *dx = malloc(cnt * 4);
  float *g = malloc(cc * 4), *b = malloc(cc * 4), *st = malloc(8 * cc * 4);
  pb_test_fill_uniform(x, cnt, -3, 3, seed), pb_test_fill_uniform(r, cnt, -2, 2, seed + 1);
  pb_test_fill_uniform(dy, cnt, -1, 1, seed + 2);
  pb_test_fill_uniform(g, cc, -1.5f, 1.5f, seed + 3), pb_test_fill_uniform(b, cc, -1, 1, seed + 4);
  if (cnt > 7) r[7] = -0.0f, dy[5] = -0.0f;
  int variants = 0;
  for (int with_r = 0; with_r < 2; with_r++)
    for (int relu = 0; relu < 2; relu++)
      for (int alias = 0; alias < 2; alias++) {
        if (alias && !with_r) continue;
        const float *rr = with_r ? r : NULL;
        char what[128];
        snprintf(what, sizeof what, "train %dx%dx%d%s residual %d relu %d alias %d", n, c, hw, nhwc ? " nhwc" : "",
                 with_r, relu, alias);
        /* reference: the chain; st: [mean, invstd, running mean, running var] x 2 (chain, fused) */
        for (size_t i = 0; i < cc; i++) st[2 * cc + i] = st[6 * cc + i] = 0.1f, st[3 * cc + i] = st[7 * cc + i] = 0.9f;
        pb_bn_fwd_train_cpu(ref, st, st + cc, st + 2 * cc, st + 3 * cc, x, g, b, &p, 2);
        if (rr) pb_accumulate_cpu(ref, rr, cnt);
        if (relu) pb_relu_fwd_cpu(ref, ref, cnt);
        float *out = y;
        if (alias) memcpy(y, r, cnt * 4), rr = y; /* y over r */
        pb_bn_fwd_train_fused_cpu(out, st + 4 * cc, st + 5 * cc, st + 6 * cc, st + 7 * cc, x, rr, g, b, relu, &p, 3);
        PB_CHECK_MSG(same(out, ref, cnt), "%s: forward not bitwise the chain", what);
        PB_CHECK_MSG(same(st, st + 4 * cc, 4 * cc), "%s: statistics / running averages differ", what);
        /* backward: the chain, then fused (dz over dy when alias) */
        float *dg = calloc(cc, 4), *db = calloc(cc, 4), *dg2 = calloc(cc, 4), *db2 = calloc(cc, 4);
        for (size_t i = 0; i < cc; i++) dg[i] = dg2[i] = 0.25f, db[i] = db2[i] = -0.5f; /* they accumulate */
        if (relu)
          pb_relu_bwd_cpu(dzr, dy, ref, cnt);
        else
          memcpy(dzr, dy, cnt * 4);
        pb_bn_bwd_cpu(dxr, dg, db, dzr, x, g, st, st + cc, &p, 2);
        float *dzo = dz;
        if (alias) memcpy(dz, dy, cnt * 4);
        pb_bn_bwd_fused_cpu(dx, dzo, dg2, db2, alias ? dz : dy, out, x, g, st + 4 * cc, st + 5 * cc, relu, &p, 3);
        PB_CHECK_MSG(same(dz, dzr, cnt) && same(dx, dxr, cnt), "%s: backward dz / dx not bitwise the chain", what);
        PB_CHECK_MSG(same(dg, dg2, cc) && same(db, db2, cc), "%s: dgamma / dbeta differ", what);
        free(dg), free(db), free(dg2), free(db2);
        variants++;
      }
  printf("  training %dx%dx%d%s: %d variants bitwise the unfused chain, forward and backward\n", n, c, hw,
         nhwc ? " (channels last)" : "", variants);
  free(x), free(r), free(dy), free(ref), free(y), free(dzr), free(dxr), free(dz), free(dx), free(g), free(b), free(st);
}

int main(void) {
  train_case(5, 3, 1, 0, 11);
  train_case(3, 16, 49, 0, 12);
  train_case(3, 16, 49, 1, 13);
  train_case(2, 8, 3136, 0, 14);
  one_case(5, 3, 1, 1);    /* BatchNorm1d */
  one_case(4, 1, 9, 2);    /* one channel */
  one_case(3, 16, 49, 3);  /* a 7x7 plane */
  one_case(2, 8, 3136, 4); /* 56x56 */
  return pb_test_exit("test_bn_fused");
}
