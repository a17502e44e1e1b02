/* backend_lowp.c: mixed precision as an ops table laid over a device's (lowp.h): each wrapped
 * entry rounds its activation inputs in place, calls the device's op (fp16: with every
 * gradient source's grad_scale times the loss scale), and rounds what it wrote. Entries not
 * listed in pb_lowp_enable are the device's own (memory, copies, plain adds and scales, the
 * optimizers, norms: float32 work on float32 tensors). */
#include "engine/device/lowp.h"

#include <math.h>
#include <string.h>

#define LP(c) ((pb_lowp *)(c)->lowp)
#define BASE(c) (LP(c)->base)

/* x[0..n) rounded in place (a const input is an activation the model owns: rounding it is what
 * half-precision storage would have held). NULL or empty: nothing. */
static void rnd(pb_ctx *c, const float *x, size_t n) {
  if (x && n) BASE(c)->round_lp(c, (float *)x, n, LP(c)->fmt);
}

/* A rounded copy of weights w [n] in slot s (0: weights, 1: biases) of the rounding memory. */
static const float *wcopy(pb_ctx *c, int s, const float *w, size_t n) {
  if (!w || !n) return w;
  pb_lowp *l = LP(c);
  PB_ASSERT(n <= l->w_floats); /* pb_lowp_reserve was told every weight run (model.c) */
  float *t = l->tmp + (size_t)s * l->w_floats;
  BASE(c)->copy(c, t, w, n);
  BASE(c)->round_lp(c, t, n, l->fmt);
  return t;
}

/* A zeroed gradient part in slot s (2: weights, 3: biases), or NULL when dst is. */
static float *gpart(pb_ctx *c, int s, const float *dst, size_t n) {
  if (!dst || !n) return NULL;
  pb_lowp *l = LP(c);
  PB_ASSERT(n <= l->w_floats);
  float *t = l->tmp + (size_t)s * l->w_floats;
  BASE(c)->zero(c, t, n * sizeof(float));
  return t;
}
/* dst += round(part): the call's weight gradient, rounded, into the float32 gradient. */
static void gadd(pb_ctx *c, float *dst, float *part, size_t n) {
  if (!part) return;
  BASE(c)->round_lp(c, part, n, LP(c)->fmt);
  BASE(c)->accumulate(c, dst, part, n);
}

static float S(pb_ctx *c) { return LP(c)->scaling ? LP(c)->scale : 1.0f; }

/* ------------------------------------------------------------------ shapes */

static size_t conv_x(const pb_conv2d_params *p) { return (size_t)p->n * p->c_in * p->h_in * p->w_in; }
static size_t conv_y(const pb_conv2d_params *p) { return (size_t)p->n * p->c_out * p->h_out * p->w_out; }
static size_t conv_w(const pb_conv2d_params *p) { return (size_t)p->c_out * (p->c_in / p->groups) * p->kh * p->kw; }
static size_t bn_n(const pb_bn_params *p) { return (size_t)p->n * p->c * p->hw; }
static size_t pool_x(const pb_pool_params *p) { return (size_t)p->n * p->c * p->h_in * p->w_in; }
static size_t pool_y(const pb_pool_params *p) { return (size_t)p->n * p->c * p->h_out * p->w_out; }
static size_t lstm_x(const pb_lstm_params *p) { return (size_t)p->seq_len * p->batch * p->input_size; }
static size_t lstm_y(const pb_lstm_params *p) {
  return (size_t)p->seq_len * p->batch * (p->bidirectional ? 2 : 1) * p->hidden_size;
}
static size_t lstm_h(const pb_lstm_params *p) {
  return (size_t)p->num_layers * (p->bidirectional ? 2 : 1) * p->batch * p->hidden_size;
}

/* ------------------------------------------------------------------ convolution, linear */

static void lp_conv2d_fwd(pb_ctx *c, float *y, const float *x, const float *w, const float *bias,
                          const pb_conv2d_params *p) {
  rnd(c, x, conv_x(p));
  BASE(c)->conv2d_fwd(c, y, x, wcopy(c, 0, w, conv_w(p)), wcopy(c, 1, bias, (size_t)p->c_out), p);
  rnd(c, y, conv_y(p));
}
static void lp_conv2d_bwd_data(pb_ctx *c, float *dx, const float *dy, const float *w, const pb_conv2d_params *p) {
  rnd(c, dy, conv_y(p));
  BASE(c)->conv2d_bwd_data(c, dx, dy, wcopy(c, 0, w, conv_w(p)), p);
  rnd(c, dx, conv_x(p));
}
static void lp_conv2d_bwd_filter(pb_ctx *c, float *dw, float *dbias, const float *dy, const float *x,
                                 const pb_conv2d_params *p) {
  rnd(c, dy, conv_y(p));
  rnd(c, x, conv_x(p));
  size_t nw = conv_w(p), nb = (size_t)p->c_out;
  float *tw = gpart(c, 2, dw, nw), *tb = gpart(c, 3, dbias, nb);
  BASE(c)->conv2d_bwd_filter(c, tw, tb, dy, x, p);
  gadd(c, dw, tw, nw);
  gadd(c, dbias, tb, nb);
}
static void lp_linear_fwd(pb_ctx *c, float *y, const float *x, const float *w, const float *b, int n, int in,
                          int out) {
  rnd(c, x, (size_t)n * in);
  BASE(c)->linear_fwd(c, y, x, wcopy(c, 0, w, (size_t)in * out), wcopy(c, 1, b, (size_t)out), n, in, out);
  rnd(c, y, (size_t)n * out);
}
static void lp_linear_bwd(pb_ctx *c, float *dx, float *dw, float *db, const float *dy, const float *x,
                          const float *w, int n, int in, int out) {
  rnd(c, dy, (size_t)n * out);
  rnd(c, x, (size_t)n * in);
  size_t nw = (size_t)in * out;
  float *tw = gpart(c, 2, dw, nw), *tb = gpart(c, 3, db, (size_t)out);
  BASE(c)->linear_bwd(c, dx, tw, tb, dy, x, dx ? wcopy(c, 0, w, nw) : w, n, in, out);
  rnd(c, dx, (size_t)n * in);
  gadd(c, dw, tw, nw);
  gadd(c, db, tb, (size_t)out);
}

/* ------------------------------------------------------------------ batch norm (statistics stay float32) */

static void lp_bn_fwd_train(pb_ctx *c, float *y, float *sm, float *si, float *rm, float *rv, const float *x,
                            const float *g, const float *b, const pb_bn_params *p) {
  rnd(c, x, bn_n(p));
  BASE(c)->bn_fwd_train(c, y, sm, si, rm, rv, x, g, b, p);
  rnd(c, y, bn_n(p));
}
static void lp_bn_fwd_eval(pb_ctx *c, float *y, const float *x, const float *g, const float *b, const float *rm,
                           const float *rv, const pb_bn_params *p) {
  rnd(c, x, bn_n(p));
  BASE(c)->bn_fwd_eval(c, y, x, g, b, rm, rv, p);
  rnd(c, y, bn_n(p));
}
static void lp_bn_eval_fused(pb_ctx *c, float *y, const float *x, const float *r, const float *g, const float *b,
                             const float *rm, const float *rv, int relu, const pb_bn_params *p) {
  rnd(c, x, bn_n(p));
  rnd(c, r, bn_n(p));
  BASE(c)->bn_eval_fused(c, y, x, r, g, b, rm, rv, relu, p);
  rnd(c, y, bn_n(p));
}
static void lp_bn_bwd(pb_ctx *c, float *dx, float *dg, float *db, const float *dy, const float *x, const float *g,
                      const float *sm, const float *si, const pb_bn_params *p) {
  rnd(c, dy, bn_n(p));
  rnd(c, x, bn_n(p));
  BASE(c)->bn_bwd(c, dx, dg, db, dy, x, g, sm, si, p);
  rnd(c, dx, bn_n(p));
}
/* The fused training pair, with the unfused chain's roundings: the batch norm's output, then the sum
 * (the ReLU keeps it rounded); backward: dz is the rounded dy masked, dx rounded. The forward runs
 * the chain itself (y != r: as lp_chscale_add_relu, the blocks never alias them). */
static void lp_bn_fwd_train_fused(pb_ctx *c, float *y, float *sm, float *si, float *rm, float *rv, const float *x,
                                  const float *r, const float *g, const float *b, int relu, const pb_bn_params *p) {
  PB_ASSERT(y != r);
  lp_bn_fwd_train(c, y, sm, si, rm, rv, x, g, b, p);
  if (r) {
    rnd(c, r, bn_n(p));
    BASE(c)->accumulate(c, y, r, bn_n(p));
    rnd(c, y, bn_n(p));
  }
  if (relu) BASE(c)->relu_fwd(c, y, y, bn_n(p));
}
static void lp_bn_bwd_fused(pb_ctx *c, float *dx, float *dz, float *dg, float *db, const float *dy, const float *y,
                            const float *x, const float *g, const float *sm, const float *si, int relu,
                            const pb_bn_params *p) {
  rnd(c, dy, bn_n(p));
  rnd(c, x, bn_n(p));
  BASE(c)->bn_bwd_fused(c, dx, dz, dg, db, dy, y, x, g, sm, si, relu, p);
  rnd(c, dx, bn_n(p));
}
static void lp_bn_sums(pb_ctx *c, double *sums, const float *x, const pb_bn_params *p) {
  rnd(c, x, bn_n(p));
  BASE(c)->bn_sums(c, sums, x, p);
}
static void lp_bn_fwd_sync(pb_ctx *c, float *y, float *sm, float *si, float *rm, float *rv, const float *x,
                           const float *g, const float *b, const double *sums, const pb_bn_params *p) {
  rnd(c, x, bn_n(p));
  BASE(c)->bn_fwd_sync(c, y, sm, si, rm, rv, x, g, b, sums, p);
  rnd(c, y, bn_n(p));
}
static void lp_bn_bwd_sums(pb_ctx *c, double *sums, const float *dy, const float *x, const float *sm, const float *si,
                           const pb_bn_params *p) {
  rnd(c, dy, bn_n(p));
  rnd(c, x, bn_n(p));
  BASE(c)->bn_bwd_sums(c, sums, dy, x, sm, si, p);
}
static void lp_bn_bwd_sync(pb_ctx *c, float *dx, float *dg, float *db, const float *dy, const float *x, const float *g,
                           const float *sm, const float *si, const double *local, const double *global,
                           const double *fwd, const pb_bn_params *p) {
  rnd(c, dy, bn_n(p));
  rnd(c, x, bn_n(p));
  BASE(c)->bn_bwd_sync(c, dx, dg, db, dy, x, g, sm, si, local, global, fwd, p);
  rnd(c, dx, bn_n(p));
}

/* ------------------------------------------------------------------ activations, pooling, elementwise */

static void lp_relu_fwd(pb_ctx *c, float *y, const float *x, size_t n) {
  rnd(c, x, n); /* relu of a rounded value is rounded */
  BASE(c)->relu_fwd(c, y, x, n);
}
static void lp_relu_bwd(pb_ctx *c, float *dx, const float *dy, const float *y, size_t n) {
  rnd(c, dy, n);
  BASE(c)->relu_bwd(c, dx, dy, y, n);
}
static void lp_sigmoid_fwd(pb_ctx *c, float *y, const float *x, size_t n) {
  rnd(c, x, n);
  BASE(c)->sigmoid_fwd(c, y, x, n);
  rnd(c, y, n);
}
static void lp_sigmoid_bwd(pb_ctx *c, float *dx, const float *dy, const float *y, size_t n) {
  rnd(c, dy, n);
  BASE(c)->sigmoid_bwd(c, dx, dy, y, n);
  rnd(c, dx, n);
}
static void lp_maxpool_fwd(pb_ctx *c, float *y, int32_t *am, const float *x, const pb_pool_params *p) {
  rnd(c, x, pool_x(p));
  BASE(c)->maxpool_fwd(c, y, am, x, p);
}
static void lp_maxpool_bwd(pb_ctx *c, float *dx, const float *dy, const int32_t *am, const pb_pool_params *p) {
  rnd(c, dy, pool_y(p));
  BASE(c)->maxpool_bwd(c, dx, dy, am, p);
  rnd(c, dx, pool_x(p)); /* overlapping windows add */
}
static void lp_avgpool_fwd(pb_ctx *c, float *y, const float *x, const pb_pool_params *p) {
  rnd(c, x, pool_x(p));
  BASE(c)->avgpool_fwd(c, y, x, p);
  rnd(c, y, pool_y(p));
}
static void lp_avgpool_bwd(pb_ctx *c, float *dx, const float *dy, const pb_pool_params *p) {
  rnd(c, dy, pool_y(p));
  BASE(c)->avgpool_bwd(c, dx, dy, p);
  rnd(c, dx, pool_x(p));
}
/* GAP and the SE channel scale, in either layout (nhwc: the _nhwc entries; the same roundings) */
static void lp_gap(pb_ctx *c, float *y, const float *x, int n, int ch, int hw, int nhwc) {
  rnd(c, x, (size_t)n * ch * hw);
  (nhwc ? BASE(c)->gap_nhwc_fwd : BASE(c)->gap_fwd)(c, y, x, n, ch, hw);
  rnd(c, y, (size_t)n * ch);
}
static void lp_gap_back(pb_ctx *c, float *dx, const float *dy, int n, int ch, int hw, int nhwc) {
  rnd(c, dy, (size_t)n * ch);
  (nhwc ? BASE(c)->gap_nhwc_bwd : BASE(c)->gap_bwd)(c, dx, dy, n, ch, hw);
  rnd(c, dx, (size_t)n * ch * hw);
}
static void lp_chscale(pb_ctx *c, float *y, const float *x, const float *s, int n, int ch, int hw, int nhwc) {
  rnd(c, x, (size_t)n * ch * hw);
  rnd(c, s, (size_t)n * ch);
  (nhwc ? BASE(c)->chscale_nhwc_fwd : BASE(c)->chscale_fwd)(c, y, x, s, n, ch, hw);
  rnd(c, y, (size_t)n * ch * hw);
}
static void lp_chscale_relu(pb_ctx *c, float *y, const float *x, const float *s, const float *r, int n, int ch, int hw,
                            int nhwc) {
  /* as the unfused chain rounds: the scaled tensor, then the sum (the ReLU keeps it rounded) */
  size_t cnt = (size_t)n * ch * hw;
  PB_ASSERT(y != r);
  rnd(c, r, cnt);
  lp_chscale(c, y, x, s, n, ch, hw, nhwc);
  BASE(c)->accumulate(c, y, r, cnt);
  rnd(c, y, cnt);
  BASE(c)->relu_fwd(c, y, y, cnt);
}
static void lp_chscale_back(pb_ctx *c, float *dx, float *ds, const float *dy, const float *x, const float *s, int n,
                            int ch, int hw, int nhwc) {
  rnd(c, dy, (size_t)n * ch * hw);
  (nhwc ? BASE(c)->chscale_nhwc_bwd : BASE(c)->chscale_bwd)(c, dx, ds, dy, x, s, n, ch, hw);
  rnd(c, dx, (size_t)n * ch * hw);
  rnd(c, ds, (size_t)n * ch);
}
static void lp_gap_fwd(pb_ctx *c, float *y, const float *x, int n, int ch, int hw) { lp_gap(c, y, x, n, ch, hw, 0); }
static void lp_gap_bwd(pb_ctx *c, float *dx, const float *dy, int n, int ch, int hw) {
  lp_gap_back(c, dx, dy, n, ch, hw, 0);
}
static void lp_gap_nhwc_fwd(pb_ctx *c, float *y, const float *x, int n, int ch, int hw) {
  lp_gap(c, y, x, n, ch, hw, 1);
}
static void lp_gap_nhwc_bwd(pb_ctx *c, float *dx, const float *dy, int n, int ch, int hw) {
  lp_gap_back(c, dx, dy, n, ch, hw, 1);
}
static void lp_chscale_fwd(pb_ctx *c, float *y, const float *x, const float *s, int n, int ch, int hw) {
  lp_chscale(c, y, x, s, n, ch, hw, 0);
}
static void lp_chscale_nhwc_fwd(pb_ctx *c, float *y, const float *x, const float *s, int n, int ch, int hw) {
  lp_chscale(c, y, x, s, n, ch, hw, 1);
}
static void lp_chscale_add_relu(pb_ctx *c, float *y, const float *x, const float *s, const float *r, int n, int ch,
                                int hw) {
  lp_chscale_relu(c, y, x, s, r, n, ch, hw, 0);
}
static void lp_chscale_add_relu_nhwc(pb_ctx *c, float *y, const float *x, const float *s, const float *r, int n,
                                     int ch, int hw) {
  lp_chscale_relu(c, y, x, s, r, n, ch, hw, 1);
}
static void lp_chscale_bwd(pb_ctx *c, float *dx, float *ds, const float *dy, const float *x, const float *s, int n,
                           int ch, int hw) {
  lp_chscale_back(c, dx, ds, dy, x, s, n, ch, hw, 0);
}
static void lp_chscale_nhwc_bwd(pb_ctx *c, float *dx, float *ds, const float *dy, const float *x, const float *s,
                                int n, int ch, int hw) {
  lp_chscale_back(c, dx, ds, dy, x, s, n, ch, hw, 1);
}
static void lp_add_crop_fwd(pb_ctx *c, float *y, const float *a, const float *b, const pb_crop_params *p) {
  rnd(c, a, (size_t)p->n * p->c * p->h * p->w);
  rnd(c, b, (size_t)p->n * p->c * p->h_in * p->w_in);
  BASE(c)->add_crop_fwd(c, y, a, b, p);
  rnd(c, y, (size_t)p->n * p->c * p->h * p->w);
}
static void lp_add_crop_bwd(pb_ctx *c, float *db, const float *dy, const pb_crop_params *p) {
  rnd(c, dy, (size_t)p->n * p->c * p->h * p->w);
  BASE(c)->add_crop_bwd(c, db, dy, p);
}
static void lp_l2norm_fwd(pb_ctx *c, float *y, float *norm, const float *x, int n, int d, float eps) {
  rnd(c, x, (size_t)n * d);
  BASE(c)->l2norm_fwd(c, y, norm, x, n, d, eps);
  rnd(c, y, (size_t)n * d);
}
static void lp_l2norm_bwd(pb_ctx *c, float *dx, const float *dy, const float *y, const float *norm, int n, int d,
                          float eps) {
  rnd(c, dy, (size_t)n * d);
  BASE(c)->l2norm_bwd(c, dx, dy, y, norm, n, d, eps);
  rnd(c, dx, (size_t)n * d);
}
static void lp_dropout_fwd(pb_ctx *c, float *y, uint8_t *mask, const float *x, size_t n, float p, uint64_t seed,
                           uint64_t stream) {
  rnd(c, x, n);
  BASE(c)->dropout_fwd(c, y, mask, x, n, p, seed, stream);
  rnd(c, y, n);
}
static void lp_dropout_bwd(pb_ctx *c, float *dx, const float *dy, const uint8_t *mask, size_t n, float p) {
  rnd(c, dy, n);
  BASE(c)->dropout_bwd(c, dx, dy, mask, n, p);
  rnd(c, dx, n);
}

/* ------------------------------------------------------------------ losses: float32 from rounded logits;
 * their gradients scaled by S (fp16) and rounded */

static void lp_softmax_xent(pb_ctx *c, float *loss_sum, float *losses, float *dl, const float *logits,
                            const int32_t *labels, int n, int k, float smoothing, float grad_scale) {
  rnd(c, logits, (size_t)n * k);
  BASE(c)->softmax_xent(c, loss_sum, losses, dl, logits, labels, n, k, smoothing, grad_scale * S(c));
  rnd(c, dl, (size_t)n * k);
}
static void lp_bce_logits(pb_ctx *c, float *loss_sum, float *dl, const float *logits, const float *t, int n, int k,
                          float grad_scale) {
  rnd(c, logits, (size_t)n * k);
  BASE(c)->bce_logits(c, loss_sum, dl, logits, t, n, k, grad_scale * S(c));
  rnd(c, dl, (size_t)n * k);
}
static void lp_softmax_fwd(pb_ctx *c, float *p, const float *logits, int n, int k) {
  rnd(c, logits, (size_t)n * k);
  BASE(c)->softmax_fwd(c, p, logits, n, k);
}
static void lp_inclusive_loss(pb_ctx *c, float *loss_sum, int64_t *npos, float *dl, const float *logits,
                              const float *t, int n, int k, float grad_scale) {
  rnd(c, logits, (size_t)n * k);
  BASE(c)->inclusive_loss(c, loss_sum, npos, dl, logits, t, n, k, grad_scale * S(c));
  rnd(c, dl, (size_t)n * k);
}
static void lp_rubi_loss(pb_ctx *c, float *loss, float *df, float *dh, const float *f, const float *h,
                         const int32_t *labels, int n, int k, float scale, float scale_head) {
  rnd(c, f, (size_t)n * k);
  rnd(c, h, (size_t)n * k);
  BASE(c)->rubi_loss(c, loss, df, dh, f, h, labels, n, k, scale * S(c), scale_head * S(c));
  rnd(c, df, (size_t)n * k);
  rnd(c, dh, (size_t)n * k);
}
static void lp_mixin_loss(pb_ctx *c, float *loss, float *df, float *da, const float *f, const float *g,
                          const float *a, const int32_t *labels, int n, int k, float scale, float scale_ent) {
  rnd(c, f, (size_t)n * k);
  rnd(c, g, (size_t)n * k);
  rnd(c, a, (size_t)n);
  BASE(c)->mixin_loss(c, loss, df, da, f, g, a, labels, n, k, scale * S(c), scale_ent * S(c));
  rnd(c, df, (size_t)n * k);
  rnd(c, da, (size_t)n);
}
static void lp_hsic_fwd(pb_ctx *c, float *value, const float *x, const float *y, const pb_hsic_params *p) {
  rnd(c, x, (size_t)p->n * p->dx);
  rnd(c, y, (size_t)p->n * p->dy);
  BASE(c)->hsic_fwd(c, value, x, y, p);
}
/* dx, dy ACCUMULATE into feature gradients: rounded where the backward reads them next */
static void lp_hsic_bwd(pb_ctx *c, float *dx, float *dy, float grad_scale, const float *x, const float *y,
                        const pb_hsic_params *p) {
  rnd(c, x, (size_t)p->n * p->dx);
  rnd(c, y, (size_t)p->n * p->dy);
  BASE(c)->hsic_bwd(c, dx, dy, grad_scale * S(c), x, y, p);
}
static void lp_sqdist(pb_ctx *c, float *d, const float *x, int n, int dim) {
  rnd(c, x, (size_t)n * dim);
  BASE(c)->sqdist(c, d, x, n, dim);
}
static void lp_triplet_loss(pb_ctx *c, float *loss, int64_t *counts, float *de, const float *e,
                            const int32_t *labels, float grad_scale, const pb_triplet_params *p) {
  rnd(c, e, (size_t)p->n * p->d);
  BASE(c)->triplet_loss(c, loss, counts, de, e, labels, grad_scale * S(c), p);
  rnd(c, de, (size_t)p->n * p->d);
}

/* ------------------------------------------------------------------ LSTM and sequences */

static void lp_lstm_fwd_train(pb_ctx *c, float *y, float *h_n, float *c_n, float *reserve, const float *x,
                              const float *h0, const float *c0, const float *w, const int32_t *len, uint64_t seed,
                              uint64_t stream, const pb_lstm_params *p) {
  rnd(c, x, lstm_x(p));
  rnd(c, h0, lstm_h(p));
  rnd(c, c0, lstm_h(p));
  BASE(c)->lstm_fwd_train(c, y, h_n, c_n, reserve, x, h0, c0, wcopy(c, 0, w, pb_lstm_weight_floats(p)), len, seed,
                          stream, p);
  rnd(c, y, lstm_y(p));
  rnd(c, h_n, lstm_h(p));
  rnd(c, c_n, lstm_h(p));
}
static void lp_lstm_fwd_eval(pb_ctx *c, float *y, float *h_n, float *c_n, const float *x, const float *h0,
                             const float *c0, const float *w, const int32_t *len, const pb_lstm_params *p) {
  rnd(c, x, lstm_x(p));
  rnd(c, h0, lstm_h(p));
  rnd(c, c0, lstm_h(p));
  BASE(c)->lstm_fwd_eval(c, y, h_n, c_n, x, h0, c0, wcopy(c, 0, w, pb_lstm_weight_floats(p)), len, p);
  rnd(c, y, lstm_y(p));
  rnd(c, h_n, lstm_h(p));
  rnd(c, c_n, lstm_h(p));
}
static void lp_lstm_bwd(pb_ctx *c, float *dx, float *dh0, float *dc0, float *dw, const float *dy, const float *dh_n,
                        const float *dc_n, const float *x, const float *h0, const float *c0, const float *w,
                        const float *y, const int32_t *len, float *reserve, const pb_lstm_params *p) {
  rnd(c, dy, lstm_y(p));
  rnd(c, dh_n, lstm_h(p));
  rnd(c, dc_n, lstm_h(p));
  size_t nw = pb_lstm_weight_floats(p);
  float *tw = gpart(c, 2, dw, nw);
  BASE(c)->lstm_bwd(c, dx, dh0, dc0, tw, dy, dh_n, dc_n, x, h0, c0, wcopy(c, 0, w, nw), y, len, reserve, p);
  rnd(c, dx, lstm_x(p));
  rnd(c, dh0, lstm_h(p));
  rnd(c, dc0, lstm_h(p));
  gadd(c, dw, tw, nw);
}
static void lp_seq_mean_fwd(pb_ctx *c, float *y, const float *x, const int32_t *len, int t, int n, int ch) {
  rnd(c, x, (size_t)t * n * ch);
  BASE(c)->seq_mean_fwd(c, y, x, len, t, n, ch);
  rnd(c, y, (size_t)n * ch);
}
static void lp_seq_mean_bwd(pb_ctx *c, float *dx, const float *dy, const int32_t *len, int t, int n, int ch) {
  rnd(c, dy, (size_t)n * ch);
  BASE(c)->seq_mean_bwd(c, dx, dy, len, t, n, ch);
  rnd(c, dx, (size_t)t * n * ch);
}

/* ------------------------------------------------------------------ input */

static void lp_u8_to_f32_norm(pb_ctx *c, float *x, const uint8_t *u8, int n, int ch, int hw, const float *mean,
                              const float *std) {
  BASE(c)->u8_to_f32_norm(c, x, u8, n, ch, hw, mean, std);
  rnd(c, x, (size_t)n * ch * hw);
}

/* ------------------------------------------------------------------ state */

void pb_lowp_enable(pb_ctx *ctx, int fmt, float scale0, int64_t interval) {
  PB_ASSERT((fmt == PB_PREC_BF16 || fmt == PB_PREC_FP16) && !ctx->lowp);
  pb_lowp *l = pb_xcalloc(1, sizeof *l);
  l->base = ctx->ops;
  l->fmt = fmt;
  l->scaling = fmt == PB_PREC_FP16;
  l->scale = l->scaling ? scale0 : 1.0f;
  l->interval = interval;
  pb_backend *t = &l->table;
  *t = *l->base;
  t->name = fmt == PB_PREC_BF16 ? "cpu+bf16" : "cpu+fp16";
  if (!strcmp(l->base->name, "cuda")) t->name = fmt == PB_PREC_BF16 ? "cuda+bf16" : "cuda+fp16";
  t->conv2d_fwd = lp_conv2d_fwd, t->conv2d_bwd_data = lp_conv2d_bwd_data, t->conv2d_bwd_filter = lp_conv2d_bwd_filter;
  t->linear_fwd = lp_linear_fwd, t->linear_bwd = lp_linear_bwd;
  t->bn_fwd_train = lp_bn_fwd_train, t->bn_fwd_eval = lp_bn_fwd_eval, t->bn_eval_fused = lp_bn_eval_fused;
  t->bn_bwd = lp_bn_bwd, t->bn_sums = lp_bn_sums, t->bn_fwd_sync = lp_bn_fwd_sync;
  t->bn_fwd_train_fused = lp_bn_fwd_train_fused, t->bn_bwd_fused = lp_bn_bwd_fused;
  t->bn_bwd_sums = lp_bn_bwd_sums, t->bn_bwd_sync = lp_bn_bwd_sync;
  t->relu_fwd = lp_relu_fwd, t->relu_bwd = lp_relu_bwd, t->sigmoid_fwd = lp_sigmoid_fwd;
  t->sigmoid_bwd = lp_sigmoid_bwd;
  t->maxpool_fwd = lp_maxpool_fwd, t->maxpool_bwd = lp_maxpool_bwd, t->avgpool_fwd = lp_avgpool_fwd;
  t->avgpool_bwd = lp_avgpool_bwd, t->gap_fwd = lp_gap_fwd, t->gap_bwd = lp_gap_bwd;
  t->chscale_fwd = lp_chscale_fwd, t->chscale_bwd = lp_chscale_bwd, t->chscale_add_relu = lp_chscale_add_relu;
  t->gap_nhwc_fwd = lp_gap_nhwc_fwd, t->gap_nhwc_bwd = lp_gap_nhwc_bwd, t->chscale_nhwc_fwd = lp_chscale_nhwc_fwd;
  t->chscale_nhwc_bwd = lp_chscale_nhwc_bwd, t->chscale_add_relu_nhwc = lp_chscale_add_relu_nhwc;
  /* to_nhwc / to_nchw pass through: a permutation of rounded values is rounded */
  t->add_crop_fwd = lp_add_crop_fwd, t->add_crop_bwd = lp_add_crop_bwd;
  t->l2norm_fwd = lp_l2norm_fwd, t->l2norm_bwd = lp_l2norm_bwd;
  t->dropout_fwd = lp_dropout_fwd, t->dropout_bwd = lp_dropout_bwd;
  t->softmax_xent = lp_softmax_xent, t->bce_logits = lp_bce_logits, t->softmax_fwd = lp_softmax_fwd;
  t->inclusive_loss = lp_inclusive_loss, t->rubi_loss = lp_rubi_loss, t->mixin_loss = lp_mixin_loss;
  t->hsic_fwd = lp_hsic_fwd, t->hsic_bwd = lp_hsic_bwd, t->sqdist = lp_sqdist, t->triplet_loss = lp_triplet_loss;
  t->lstm_fwd_train = lp_lstm_fwd_train, t->lstm_fwd_eval = lp_lstm_fwd_eval, t->lstm_bwd = lp_lstm_bwd;
  t->seq_mean_fwd = lp_seq_mean_fwd, t->seq_mean_bwd = lp_seq_mean_bwd;
  t->u8_to_f32_norm = lp_u8_to_f32_norm;
  ctx->lowp = l;
  ctx->ops = t;
}

int pb_lowp_reserve(pb_ctx *ctx, size_t floats, pb_err *err) {
  pb_lowp *l = LP(ctx);
  if (!l || floats <= l->w_floats) return PB_OK;
  floats = (floats + 63) / 64 * 64;
  float *t = l->base->alloc(ctx, 4 * floats * sizeof(float), "the mixed-precision weight copies", err);
  if (!t) return PB_ERR;
  l->base->free(ctx, l->tmp);
  l->tmp = t, l->tmp_floats = 4 * floats, l->w_floats = floats;
  return PB_OK;
}

float pb_lowp_scale(const pb_ctx *ctx) {
  const pb_lowp *l = ctx->lowp;
  return l && l->scaling ? l->scale : 1.0f;
}

int pb_lowp_update(pb_ctx *ctx) {
  pb_lowp *l = LP(ctx);
  if (!l || !l->scaling) return 0;
  int of = l->overflow;
  l->overflow = 0;
  if (of) {
    l->scale *= 0.5f;
    l->good = 0;
  } else if (++l->good >= l->interval) {
    if (isfinite(l->scale * 2.0f)) l->scale *= 2.0f;
    l->good = 0;
  }
  return of;
}

const char *pb_precision_name(int prec) {
  switch (prec) {
    case PB_PREC_FP32: return "fp32";
    case PB_PREC_BF16: return "bf16";
    case PB_PREC_FP16: return "fp16";
    default: return "tf32";
  }
}
