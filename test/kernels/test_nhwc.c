/* test_nhwc.c: the channels-last CPU references ([run] layout = nhwc; ops.h "layout") against the
 * NCHW ops on the same tensors, permuted HERE by index arithmetic (not by the ops under test).
 *
 *  - layout: pb_nchw_to_nhwc_cpu / pb_nhwc_to_nchw_cpu equal the index formula, bitwise, and undo
 *    each other;
 *  - batch norm (training forward with its statistics and running averages, evaluation, the fused
 *    evaluation with residual and ReLU, backward, the four sync ops), pools (max with argmax, avg with
 *    and without count_include_pad, padding, stride), GAP, the SE channel scale (all three) and the
 *    crop add: BITWISE the NCHW op, since every output element meets the same operands in the same
 *    order (that is the contract ops.h states);
 *  - convolution (forward with bias, backward data, backward filter ACCUMULATING onto a nonzero dw
 *    and dbias): the NHWC GEMMs sum in another order, so within 2e-6 relative L2 (float32 rounding
 *    of sums of up to a few hundred terms: measured figures are printed), over groups 1 / 2 / 4
 *    (depthwise), stride 2, padding, dilation 2, a 1x1 pointwise and a 1x1 strided one, n = 1; and
 *    forward / backward data bitwise the same for 1 and 3 threads, backward filter deterministic
 *    for a given thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "test/testutil.h"

/* y [n, hw, c] = x [n, c, hw] and back, by index */
static void perm_to_nhwc(float *y, const float *x, int n, int c, int hw) {
  for (int i = 0; i < n; i++)
    for (int ch = 0; ch < c; ch++)
      for (int j = 0; j < hw; j++) y[((size_t)i * hw + j) * c + ch] = x[((size_t)i * c + ch) * hw + j];
}
static void perm_to_nchw(float *y, const float *x, int n, int c, int hw) {
  for (int i = 0; i < n; i++)
    for (int ch = 0; ch < c; ch++)
      for (int j = 0; j < hw; j++) y[((size_t)i * c + ch) * hw + j] = x[((size_t)i * hw + j) * c + ch];
}
static void perm_i32_to_nhwc(int32_t *y, const int32_t *x, int n, int c, int hw) {
  for (int i = 0; i < n; i++)
    for (int ch = 0; ch < c; ch++)
      for (int j = 0; j < hw; j++) y[((size_t)i * hw + j) * c + ch] = x[((size_t)i * c + ch) * hw + j];
}

static float *fmem(size_t n) { return calloc(n ? n : 1, sizeof(float)); }
static float *rnd(size_t n, float lo, float hi, uint64_t seed) {
  float *x = fmem(n);
  pb_test_fill_uniform(x, n, lo, hi, seed);
  return x;
}
/* x (NHWC) equals ref (NCHW) permuted, bitwise */
static int same_nhwc(const float *x, const float *ref, int n, int c, int hw) {
  size_t cnt = (size_t)n * c * hw;
  float *t = fmem(cnt);
  perm_to_nhwc(t, ref, n, c, hw);
  int ok = !memcmp(t, x, cnt * sizeof(float));
  free(t);
  return ok;
}

static void test_layout(void) {
  const int n = 3, c = 37, hw = 45;
  size_t cnt = (size_t)n * c * hw;
  float *x = rnd(cnt, -1, 1, 1), *y = fmem(cnt), *ref = fmem(cnt), *back = fmem(cnt);
  pb_nchw_to_nhwc_cpu(y, x, n, c, hw);
  perm_to_nhwc(ref, x, n, c, hw);
  PB_CHECK_MSG(!memcmp(y, ref, cnt * sizeof(float)), "to_nhwc differs from the index formula");
  pb_nhwc_to_nchw_cpu(back, y, n, c, hw);
  PB_CHECK_MSG(!memcmp(back, x, cnt * sizeof(float)), "to_nchw does not undo to_nhwc");
  free(x), free(y), free(ref), free(back);
}

static void test_bn(int n, int c, int hw) {
  size_t cnt = (size_t)n * c * hw;
  pb_bn_params pc = {n, c, hw, 1e-5f, 0.1f, 0}, ph = pc;
  ph.nhwc = 1;
  float *x = rnd(cnt, -2, 3, 10), *dy = rnd(cnt, -1, 1, 11), *r = rnd(cnt, -1, 1, 12);
  float *g = rnd((size_t)c, 0.5f, 1.5f, 13), *b = rnd((size_t)c, -0.5f, 0.5f, 14);
  float *xh = fmem(cnt), *dyh = fmem(cnt), *rh = fmem(cnt);
  perm_to_nhwc(xh, x, n, c, hw), perm_to_nhwc(dyh, dy, n, c, hw), perm_to_nhwc(rh, r, n, c, hw);
  float *y = fmem(cnt), *yh = fmem(cnt), *dx = fmem(cnt), *dxh = fmem(cnt);
  float *st = fmem(4 * (size_t)c), *sth = fmem(4 * (size_t)c); /* mean, invstd, running mean, running var */
  for (int ch = 0; ch < c; ch++) st[3 * c + ch] = sth[3 * c + ch] = 1.0f;
  pb_bn_fwd_train_cpu(y, st, st + c, st + 2 * c, st + 3 * c, x, g, b, &pc, 3);
  pb_bn_fwd_train_cpu(yh, sth, sth + c, sth + 2 * c, sth + 3 * c, xh, g, b, &ph, 2);
  PB_CHECK_MSG(same_nhwc(yh, y, n, c, hw), "bn %dx%dx%d: training forward not bitwise", n, c, hw);
  PB_CHECK_MSG(!memcmp(st, sth, 4 * (size_t)c * sizeof(float)), "bn: statistics / running averages differ");
  float *dg = fmem((size_t)c), *db = fmem((size_t)c), *dgh = fmem((size_t)c), *dbh = fmem((size_t)c);
  pb_bn_bwd_cpu(dx, dg, db, dy, x, g, st, st + c, &pc, 3);
  pb_bn_bwd_cpu(dxh, dgh, dbh, dyh, xh, g, sth, sth + c, &ph, 1);
  PB_CHECK_MSG(same_nhwc(dxh, dx, n, c, hw), "bn: backward dx not bitwise");
  PB_CHECK_MSG(!memcmp(dg, dgh, (size_t)c * 4) && !memcmp(db, dbh, (size_t)c * 4), "bn: dgamma / dbeta differ");
  pb_bn_fwd_eval_cpu(y, x, g, b, st + 2 * c, st + 3 * c, &pc, 2);
  pb_bn_fwd_eval_cpu(yh, xh, g, b, st + 2 * c, st + 3 * c, &ph, 2);
  PB_CHECK_MSG(same_nhwc(yh, y, n, c, hw), "bn: evaluation not bitwise");
  pb_bn_eval_fused_cpu(y, x, r, g, b, st + 2 * c, st + 3 * c, 1, &pc, 2);
  pb_bn_eval_fused_cpu(xh, xh, rh, g, b, st + 2 * c, st + 3 * c, 1, &ph, 2); /* in place, as inference */
  PB_CHECK_MSG(same_nhwc(xh, y, n, c, hw), "bn: fused evaluation (residual, ReLU, in place) not bitwise");
  /* synchronised batch norm, one rank: sums, forward, backward sums, backward */
  perm_to_nhwc(xh, x, n, c, hw);
  double *s = calloc(2 * (size_t)c + 1, sizeof(double)), *sh = calloc(2 * (size_t)c + 1, sizeof(double));
  pb_bn_sums_cpu(s, x, &pc, 2), pb_bn_sums_cpu(sh, xh, &ph, 3);
  PB_CHECK_MSG(!memcmp(s, sh, (2 * (size_t)c + 1) * sizeof(double)), "sync bn: sums differ");
  pb_bn_fwd_sync_cpu(y, st, st + c, st + 2 * c, st + 3 * c, x, g, b, s, &pc, 2);
  pb_bn_fwd_sync_cpu(yh, sth, sth + c, sth + 2 * c, sth + 3 * c, xh, g, b, sh, &ph, 2);
  PB_CHECK_MSG(same_nhwc(yh, y, n, c, hw) && !memcmp(st, sth, 4 * (size_t)c * 4), "sync bn: forward differs");
  double *bs = calloc(2 * (size_t)c, sizeof(double)), *bsh = calloc(2 * (size_t)c, sizeof(double));
  pb_bn_bwd_sums_cpu(bs, dy, x, st, st + c, &pc, 2), pb_bn_bwd_sums_cpu(bsh, dyh, xh, sth, sth + c, &ph, 2);
  PB_CHECK_MSG(!memcmp(bs, bsh, 2 * (size_t)c * sizeof(double)), "sync bn: backward sums differ");
  pb_bn_bwd_sync_cpu(dx, dg, db, dy, x, g, st, st + c, bs, bs, s, &pc, 2);
  pb_bn_bwd_sync_cpu(dxh, dgh, dbh, dyh, xh, g, sth, sth + c, bsh, bsh, sh, &ph, 2);
  PB_CHECK_MSG(same_nhwc(dxh, dx, n, c, hw) && !memcmp(dg, dgh, (size_t)c * 4), "sync bn: backward differs");
  free(s), free(sh), free(bs), free(bsh);
  free(x), free(dy), free(r), free(g), free(b), free(xh), free(dyh), free(rh), free(y), free(yh), free(dx), free(dxh);
  free(st), free(sth), free(dg), free(db), free(dgh), free(dbh);
}

static void test_pool(int n, int c, int h, int w, int k, int stride, int pad, int include_pad) {
  pb_pool_params p = {.n = n, .c = c, .h_in = h, .w_in = w, .kh = k, .kw = k, .stride_h = stride,
                      .stride_w = stride, .pad_h = pad, .pad_w = pad, .count_include_pad = include_pad};
  PB_CHECK(pb_pool_params_finish(&p) == 0);
  pb_pool_params q = p;
  q.nhwc = 1;
  const int hwi = h * w, hwo = p.h_out * p.w_out;
  size_t ni = (size_t)n * c * hwi, no = (size_t)n * c * hwo;
  float *x = rnd(ni, -1, 1, 20), *dy = rnd(no, -1, 1, 21), *xh = fmem(ni), *dyh = fmem(no);
  x[3] = x[4]; /* a tie inside a window: the first maximum wins in both layouts */
  perm_to_nhwc(xh, x, n, c, hwi), perm_to_nhwc(dyh, dy, n, c, hwo);
  float *y = fmem(no), *yh = fmem(no), *dx = fmem(ni), *dxh = fmem(ni);
  int32_t *am = calloc(no, 4), *amh = calloc(no, 4), *amp = calloc(no, 4);
  pb_maxpool_fwd_cpu(y, am, x, &p), pb_maxpool_fwd_cpu(yh, amh, xh, &q);
  perm_i32_to_nhwc(amp, am, n, c, hwo);
  PB_CHECK_MSG(same_nhwc(yh, y, n, c, hwo) && !memcmp(amp, amh, no * 4), "maxpool k%d s%d p%d: forward differs", k,
               stride, pad);
  pb_maxpool_bwd_cpu(dx, dy, am, &p), pb_maxpool_bwd_cpu(dxh, dyh, amh, &q);
  PB_CHECK_MSG(same_nhwc(dxh, dx, n, c, hwi), "maxpool: backward differs");
  pb_avgpool_fwd_cpu(y, x, &p), pb_avgpool_fwd_cpu(yh, xh, &q);
  PB_CHECK_MSG(same_nhwc(yh, y, n, c, hwo), "avgpool k%d s%d p%d pad-count %d: forward differs", k, stride, pad,
               include_pad);
  pb_avgpool_bwd_cpu(dx, dy, &p), pb_avgpool_bwd_cpu(dxh, dyh, &q);
  PB_CHECK_MSG(same_nhwc(dxh, dx, n, c, hwi), "avgpool: backward differs");
  free(x), free(dy), free(xh), free(dyh), free(y), free(yh), free(dx), free(dxh), free(am), free(amh), free(amp);
}

/* GAP, the SE scale (all three) and the crop add */
static void test_se_crop(int n, int c, int hw) {
  size_t cnt = (size_t)n * c * hw, nc = (size_t)n * c;
  float *x = rnd(cnt, -1, 1, 30), *r = rnd(cnt, -1, 1, 31), *dy = rnd(cnt, -1, 1, 32), *s = rnd(nc, 0, 1, 33);
  float *xh = fmem(cnt), *rh = fmem(cnt), *dyh = fmem(cnt);
  perm_to_nhwc(xh, x, n, c, hw), perm_to_nhwc(rh, r, n, c, hw), perm_to_nhwc(dyh, dy, n, c, hw);
  float *v = fmem(nc), *vh = fmem(nc), *y = fmem(cnt), *yh = fmem(cnt), *ds = fmem(nc), *dsh = fmem(nc);
  pb_gap_fwd_cpu(v, x, n, c, hw), pb_gap_nhwc_fwd_cpu(vh, xh, n, c, hw);
  PB_CHECK_MSG(!memcmp(v, vh, nc * 4), "gap %dx%dx%d: forward differs", n, c, hw);
  pb_gap_bwd_cpu(y, s, n, c, hw), pb_gap_nhwc_bwd_cpu(yh, s, n, c, hw);
  PB_CHECK_MSG(same_nhwc(yh, y, n, c, hw), "gap: backward differs");
  pb_chscale_fwd_cpu(y, x, s, n, c, hw), pb_chscale_nhwc_fwd_cpu(yh, xh, s, n, c, hw);
  PB_CHECK_MSG(same_nhwc(yh, y, n, c, hw), "chscale: forward differs");
  pb_chscale_add_relu_cpu(y, x, s, r, n, c, hw), pb_chscale_add_relu_nhwc_cpu(yh, xh, s, rh, n, c, hw);
  PB_CHECK_MSG(same_nhwc(yh, y, n, c, hw), "chscale_add_relu: differs");
  pb_chscale_bwd_cpu(y, ds, dy, x, s, n, c, hw), pb_chscale_nhwc_bwd_cpu(yh, dsh, dyh, xh, s, n, c, hw);
  PB_CHECK_MSG(same_nhwc(yh, y, n, c, hw) && !memcmp(ds, dsh, nc * 4), "chscale: backward differs");
  free(x), free(r), free(dy), free(s), free(xh), free(rh), free(dyh), free(v), free(vh), free(y), free(yh);
  free(ds), free(dsh);
}

static void test_crop(int n, int c, int h, int w, int h_in, int w_in) {
  pb_crop_params p = {n, c, h, w, h_in, w_in, 0}, q = p;
  q.nhwc = 1;
  size_t no = (size_t)n * c * h * w, ni = (size_t)n * c * h_in * w_in;
  float *a = rnd(no, -1, 1, 40), *b = rnd(ni, -1, 1, 41), *ah = fmem(no), *bh = fmem(ni);
  perm_to_nhwc(ah, a, n, c, h * w), perm_to_nhwc(bh, b, n, c, h_in * w_in);
  float *y = fmem(no), *db = fmem(ni), *dbh = fmem(ni);
  pb_add_crop_fwd_cpu(y, a, b, &p), pb_add_crop_fwd_cpu(ah, ah, bh, &q); /* in place, as the block */
  PB_CHECK_MSG(same_nhwc(ah, y, n, c, h * w), "crop add %dx%d from %dx%d: forward differs", h, w, h_in, w_in);
  perm_to_nhwc(ah, a, n, c, h * w); /* dy */
  pb_add_crop_bwd_cpu(db, a, &p), pb_add_crop_bwd_cpu(dbh, ah, &q);
  PB_CHECK_MSG(same_nhwc(dbh, db, n, c, h_in * w_in), "crop add: backward differs");
  free(a), free(b), free(ah), free(bh), free(y), free(db), free(dbh);
}

static void test_conv(int n, int cin, int h, int w, int cout, int k, int stride, int pad, int dil, int groups) {
  pb_conv2d_params p = {.n = n, .c_in = cin, .h_in = h, .w_in = w, .c_out = cout, .kh = k, .kw = k,
                        .stride_h = stride, .stride_w = stride, .pad_h = pad, .pad_w = pad, .dil_h = dil,
                        .dil_w = dil, .groups = groups};
  PB_CHECK(pb_conv2d_params_finish(&p) == 0);
  pb_conv2d_params q = p;
  q.nhwc = 1;
  const int hwi = h * w, hwo = p.h_out * p.w_out;
  size_t ni = (size_t)n * cin * hwi, no = (size_t)n * cout * hwo, nw = (size_t)cout * (cin / groups) * k * k;
  float *x = rnd(ni, -1, 1, 50), *wt = rnd(nw, -0.5f, 0.5f, 51), *bias = rnd((size_t)cout, -1, 1, 52);
  float *dy = rnd(no, -1, 1, 53), *xh = fmem(ni), *dyh = fmem(no);
  perm_to_nhwc(xh, x, n, cin, hwi), perm_to_nhwc(dyh, dy, n, cout, hwo);
  size_t sf = pb_conv2d_scratch_cpu(&q, 3);
  if (pb_conv2d_scratch_cpu(&p, 3) > sf) sf = pb_conv2d_scratch_cpu(&p, 3);
  float *buf = fmem(sf), *buf1 = fmem(sf);
  pb_scratch s3 = {buf, sf, 3}, s1 = {buf1, sf, 1};
  float *y = fmem(no), *yh = fmem(no), *yh1 = fmem(no), *t = fmem(no > ni ? no : ni);
  pb_conv2d_fwd_cpu(y, x, wt, bias, &p, &s3);
  pb_conv2d_fwd_cpu(yh, xh, wt, bias, &q, &s3);
  pb_conv2d_fwd_cpu(yh1, xh, wt, bias, &q, &s1);
  perm_to_nchw(t, yh, n, cout, hwo);
  char what[128];
  snprintf(what, sizeof what, "conv %dx%dx%dx%d -> %d k%d s%d p%d d%d g%d", n, cin, h, w, cout, k, stride, pad, dil,
           groups);
  double ef = pb_test_rel_l2(t, y, no);
  PB_CHECK_MSG(ef < 2e-6, "%s: forward rel L2 %.3g", what, ef);
  PB_CHECK_MSG(!memcmp(yh, yh1, no * 4), "%s: forward depends on the thread count", what);
  float *dx = fmem(ni), *dxh = fmem(ni), *dxh1 = fmem(ni);
  pb_conv2d_bwd_data_cpu(dx, dy, wt, &p, &s3);
  pb_conv2d_bwd_data_cpu(dxh, dyh, wt, &q, &s3);
  pb_conv2d_bwd_data_cpu(dxh1, dyh, wt, &q, &s1);
  perm_to_nchw(t, dxh, n, cin, hwi);
  double ed = pb_test_rel_l2(t, dx, ni);
  PB_CHECK_MSG(ed < 2e-6, "%s: backward data rel L2 %.3g", what, ed);
  PB_CHECK_MSG(!memcmp(dxh, dxh1, ni * 4), "%s: backward data depends on the thread count", what);
  /* backward filter accumulates onto a nonzero dw / dbias */
  float *dw = rnd(nw, -1, 1, 54), *dwh = fmem(nw), *dwh2 = fmem(nw), *dbs = rnd((size_t)cout, -1, 1, 55);
  float *dbh = fmem((size_t)cout), *dbh2 = fmem((size_t)cout);
  memcpy(dwh, dw, nw * 4), memcpy(dwh2, dw, nw * 4), memcpy(dbh, dbs, (size_t)cout * 4), memcpy(dbh2, dbs, (size_t)cout * 4);
  pb_conv2d_bwd_filter_cpu(dw, dbs, dy, x, &p, &s3);
  pb_conv2d_bwd_filter_cpu(dwh, dbh, dyh, xh, &q, &s3);
  pb_conv2d_bwd_filter_cpu(dwh2, dbh2, dyh, xh, &q, &s3);
  double ew = pb_test_rel_l2(dwh, dw, nw), eb = pb_test_rel_l2(dbh, dbs, (size_t)cout);
  PB_CHECK_MSG(ew < 2e-6 && eb < 2e-6, "%s: backward filter rel L2 dw %.3g dbias %.3g", what, ew, eb);
  PB_CHECK_MSG(!memcmp(dwh, dwh2, nw * 4), "%s: backward filter not deterministic", what);
  printf("%s: rel L2 to NCHW fwd %.2g, bwd data %.2g, dw %.2g, dbias %.2g\n", what, ef, ed, ew, eb);
  free(x), free(wt), free(bias), free(dy), free(xh), free(dyh), free(buf), free(buf1), free(y), free(yh), free(yh1);
  free(t), free(dx), free(dxh), free(dxh1), free(dw), free(dwh), free(dwh2), free(dbs), free(dbh), free(dbh2);
}

int main(void) {
  test_layout();
  test_bn(4, 19, 35);
  test_bn(1, 64, 1 * 49);
  test_bn(3, 5, 1); /* BatchNorm1d-shaped: the layouts coincide */
  test_pool(2, 13, 11, 9, 3, 2, 1, 1);
  test_pool(3, 7, 8, 8, 2, 2, 0, 1);
  test_pool(1, 70, 7, 10, 3, 1, 1, 0);
  test_se_crop(3, 70, 49); /* more than one 64-channel block */
  test_se_crop(2, 5, 1);
  test_crop(2, 6, 5, 4, 6, 5);
  test_crop(1, 3, 7, 7, 7, 7);
  test_conv(3, 8, 9, 7, 12, 3, 1, 1, 1, 1);
  test_conv(2, 8, 10, 10, 16, 3, 2, 1, 1, 2);
  test_conv(2, 12, 9, 9, 12, 3, 1, 2, 2, 4);
  test_conv(2, 8, 9, 9, 8, 3, 1, 1, 1, 8); /* depthwise */
  test_conv(4, 16, 6, 5, 24, 1, 1, 0, 1, 1); /* pointwise: no im2col */
  test_conv(2, 16, 7, 7, 32, 1, 2, 0, 1, 1); /* a strided 1x1 (a downsample) */
  test_conv(1, 3, 15, 13, 10, 7, 2, 3, 1, 1); /* a ResNet stem */
  return pb_test_exit("test_nhwc");
}
