/* resblock.c: torchvision's BasicBlock and Bottleneck (stride on the 3x3 convolution, "v1.5"),
 * timm's squeeze-excitation module and ReBias's BagNet block (BasicBlock_ of the released
 * models/imagenet_models.py), as composite layers over child conv2d / batchnorm
 * layers (engine/layers/conv2d.c, batchnorm.c) and the elementwise ops of the context's ops
 * table (engine/device/backend.h), which runs the CPU reference or its CUDA twin, so the block has no
 * twin of its own.
 *
 *   x -> conv1 -> a1 -> bn1 -> r1 (ReLU in place) -> conv2 -> a2 -> bn2 [-> r2 -> conv3 -> a3 -> bn3]
 *     -> b [-> SE: s = sigmoid(fc2(relu(fc1(gap(b))))); b * s] -> + shortcut(x) -> ReLU -> y
 *   (with SE, b * s + shortcut and the ReLU are one op, chscale_add_relu; fc1 and fc2 are GEMMs)
 *   shortcut(x) = x, or bn_d(conv_d(x)) (1x1, stride) when the shape changes ("downsample").
 * BagNet block: conv1 k x k (stride) and conv2 1x1, both WITHOUT padding, so the branch can be
 * smaller than the shortcut; the shortcut is then cropped to the branch's size at its top-left
 * (the released identity[:, :, :-diff, :-diff]), with the crop add op (ops.h) forward and
 * backward (its gradient: dz padded with zeros to the shortcut's size).
 *
 * Memory. A training forward keeps what backward reads in the block's saved memory (planned by
 * the model): a_i (batch-norm inputs), r_i (ReLU outputs = next conv inputs), the downsample's
 * conv output, and with SE the pre-scale b, the pooled vector, fc1's ReLU output and the gate.
 * The last BN writes straight into y when there is no SE, with the residual add and the ReLU in
 * the same op (pb_batchnorm_train: fused with [run] fused_bn_train, else the three in place on y;
 * the shortcut is computed first for that); a BN inside the block and the ReLU after it are one
 * op too, and so are their backwards (pb_batchnorm_train_bwd: the ReLU's mask, then the BN's).
 * Either way the result is bitwise the unfused order's on the CPU. Backward uses three work
 * regions of R floats per sample (R = the largest per-sample tensor of the block, the uncropped
 * shortcut included) for gradients.
 *
 * Evaluation (block_eval) keeps nothing and runs in the least memory: batch norms run in place,
 * fused with the ReLU after them and, at the end, with the residual add and the block's ReLU
 * (pb_batchnorm_eval); a bottleneck's first intermediate lies in y itself (free until conv3
 * writes it) when it fits, the next in the work; the downsample runs last, into the work the
 * intermediates have left. So the work is max(one or two intermediates, the shortcut) instead of
 * 3 R, and the whole block needs x + y + that (block_plan sets it for inference-only models).
 * The result is bitwise the unfused order's (each fused op is, and a + b == b + a). */
#include <string.h>

#include "engine/device/backend.h"
#include "engine/layers/layer.h"

enum { MAXC = 3 };

typedef struct {
  int nconv;                       /* 2 (basic) or 3 (bottleneck) */
  pb_layer *conv[MAXC], *bn[MAXC]; /* children (owned by the layer) */
  pb_layer *dconv, *dbn;           /* downsample, or NULL */
  pb_layer *fc1, *fc2;             /* SE, or NULL */
  size_t m[MAXC];                  /* per-sample numel of conv i's output */
  size_t in_sz, out_sz, R;         /* per-sample numel of input, output; the largest */
  size_t ad_sz;                    /* per-sample numel of the shortcut (downsample output or x) */
  int crop;                        /* 1: the shortcut is larger than the output (BagNet) */
  pb_crop_params cp;               /* its crop add, for n = 1 (n set per call) */
  int se_c, se_r, hw_out;          /* SE channels, reduced channels; output plane */
  /* per-sample offsets into the saved memory (times max_n) */
  size_t off_a[MAXC], off_r[MAXC], off_ad, off_b, off_s0, off_s1, off_s3;
} block_priv;

/* ------------------------------------------------------------------ shorthands */

static void relu_(pb_ctx *c, float *y, const float *x, size_t n) { c->ops->relu_fwd(c, y, x, n); }
static void relu_bwd_(pb_ctx *c, float *dx, const float *dy, const float *y, size_t n) {
  c->ops->relu_bwd(c, dx, dy, y, n);
}
static void acc_(pb_ctx *c, float *y, const float *x, size_t n) { c->ops->accumulate(c, y, x, n); }

static void fwd_(pb_layer *l, pb_ctx *c, int n, const float *x, float *y, int train) {
  l->vt->forward(l, c, n, x, y, train);
}
static void bwd_(pb_layer *l, pb_ctx *c, int n, const float *x, const float *dy, float *dx) {
  l->vt->backward(l, c, n, x, NULL, dy, dx);
}

/* ------------------------------------------------------------------ squeeze-excitation */

/* y = b * gate(b), or with the shortcut r (non-NULL) the block's whole tail y = relu(b * gate(b)
 * + r) in one pass. s0 [n,C], s1 [n,Cr], s3 [n,C]: the pooled vector, fc1's ReLU output and the
 * gate, kept for backward in training. */
static void se_fwd(block_priv *p, pb_ctx *c, int n, const float *b, float *y, float *s0, float *s1, float *s3,
                   const float *r, int train) {
  int C = p->se_c, hw = p->hw_out;
  (c->nhwc ? c->ops->gap_nhwc_fwd : c->ops->gap_fwd)(c, s0, b, n, C, hw);
  fwd_(p->fc1, c, n, s0, s1, train);
  relu_(c, s1, s1, (size_t)n * p->se_r);
  fwd_(p->fc2, c, n, s1, s3, train);
  c->ops->sigmoid_fwd(c, s3, s3, (size_t)n * C);
  if (r)
    (c->nhwc ? c->ops->chscale_add_relu_nhwc : c->ops->chscale_add_relu)(c, y, b, s3, r, n, C, hw);
  else
    (c->nhwc ? c->ops->chscale_nhwc_fwd : c->ops->chscale_fwd)(c, y, b, s3, n, C, hw);
}

/* db = d(b * gate(b)) / db given dy; v: 3 work vectors of [n, C]; tmp: [n, out] work. */
static void se_bwd(block_priv *p, pb_ctx *c, int n, float *db, const float *dy, const float *b, const float *s0,
                   const float *s1, const float *s3, float *v, float *tmp) {
  int C = p->se_c, hw = p->hw_out;
  float *ds = v, *ds1 = v + (size_t)n * C, *ds0 = v + 2 * (size_t)n * C;
  (c->nhwc ? c->ops->chscale_nhwc_bwd : c->ops->chscale_bwd)(c, db, ds, dy, b, s3, n, C, hw);
  c->ops->sigmoid_bwd(c, ds, ds, s3, (size_t)n * C);
  bwd_(p->fc2, c, n, s1, ds, ds1);
  relu_bwd_(c, ds1, ds1, s1, (size_t)n * p->se_r);
  bwd_(p->fc1, c, n, s0, ds1, ds0);
  (c->nhwc ? c->ops->gap_nhwc_bwd : c->ops->gap_bwd)(c, tmp, ds0, n, C, hw);
  acc_(c, db, tmp, (size_t)n * p->out_sz);
}

/* ------------------------------------------------------------------ the block */

/* y = relu(y + shortcut), the shortcut cropped to y's size in a BagNet block. */
static void add_relu(const block_priv *p, pb_ctx *c, int n, float *y, const float *sc) {
  size_t no = (size_t)n * p->out_sz;
  if (p->crop) {
    pb_crop_params cp = p->cp;
    cp.n = n, cp.nhwc = c->nhwc;
    c->ops->add_crop_fwd(c, y, y, sc, &cp);
  } else {
    acc_(c, y, sc, no);
  }
  relu_(c, y, y, no);
}

static float *sv(const pb_layer *l, size_t off) {
  return l->saved + (size_t)l->max_n * off;
}

#define PAD64(x) (((x) + 63) / 64 * 64)

/* Where evaluation puts the intermediates of conv1 (and conv2 of a bottleneck) for a batch of n:
 * the first in y when a bottleneck's fits there (*in_y = 1; the second then at the work's start),
 * else at the work's start and the second at *off1. Returns the work's floats before the SE
 * vectors. */
static size_t eval_layout(const block_priv *p, int n, int *in_y, size_t *off1) {
  size_t m0 = PAD64((size_t)n * p->m[0]), used;
  *in_y = p->nconv == 3 && p->m[0] <= p->out_sz;
  if (*in_y) {
    *off1 = 0;
    used = PAD64((size_t)n * p->m[1]);
  } else {
    *off1 = m0;
    used = m0 + (p->nconv == 3 ? PAD64((size_t)n * p->m[1]) : 0);
  }
  if (p->dconv) used = PB_MAX(used, PAD64((size_t)n * p->ad_sz)); /* the downsample reuses the start */
  return used;
}

static void block_eval(pb_layer *l, pb_ctx *c, int n, const float *x, float *y) {
  block_priv *p = l->priv;
  int in_y;
  size_t off1, used = eval_layout(p, n, &in_y, &off1);
  float *mid[MAXC - 1] = {in_y ? y : l->work, l->work + off1};
  int last = p->nconv - 1;
  const float *cur = x;
  for (int i = 0; i < last; i++) { /* conv, then BN + ReLU in place */
    fwd_(p->conv[i], c, n, cur, mid[i], 0);
    pb_batchnorm_eval(p->bn[i], c, n, mid[i], NULL, mid[i], 1);
    cur = mid[i];
  }
  fwd_(p->conv[last], c, n, cur, y, 0);
  if (!p->fc1 && !p->dconv && !p->crop) { /* y = relu(bn(y) + x) */
    pb_batchnorm_eval(p->bn[last], c, n, y, x, y, 1);
    return;
  }
  pb_batchnorm_eval(p->bn[last], c, n, y, NULL, y, 0);
  const float *sc = x;
  if (p->fc1) { /* SE: the shortcut first, then scale + add + ReLU in one pass, in place */
    size_t nc = (size_t)n * p->se_c;
    float *v = l->work + used;
    if (p->dconv) {
      fwd_(p->dconv, c, n, x, l->work, 0);
      pb_batchnorm_eval(p->dbn, c, n, l->work, NULL, l->work, 0);
      sc = l->work;
    }
    se_fwd(p, c, n, y, y, v, v + nc, v + 2 * nc, p->crop ? NULL : sc, 0);
    if (!p->crop) return;
  } else if (p->dconv) {
    float *w = l->work;
    fwd_(p->dconv, c, n, x, w, 0);
    if (!p->crop) { /* y = relu(bn_d(w) + y) */
      pb_batchnorm_eval(p->dbn, c, n, w, y, y, 1);
      return;
    }
    pb_batchnorm_eval(p->dbn, c, n, w, NULL, w, 0);
    sc = w;
  }
  add_relu(p, c, n, y, sc);
}

/* The work: 3 R (+ the SE vectors) for a backward, which also holds block_eval's layout (its
 * regions are at most 2 R plus 256 floats of alignment); in an inference-only model exactly what
 * block_eval needs for max_n (eval_layout grows with n). */
static int block_plan(pb_layer *l, pb_ctx *ctx, int max_n, int train, pb_err *err) {
  (void)ctx, (void)err;
  block_priv *p = l->priv;
  size_t se = p->fc1 ? 3 * (size_t)p->se_c : 0;
  if (train) {
    l->work_per_sample = 3 * p->R + se;
    l->work_fixed = 256;
  } else {
    int in_y;
    size_t off1;
    l->work_per_sample = se;
    l->work_fixed = eval_layout(p, max_n, &in_y, &off1);
  }
  return PB_OK;
}

static void block_fwd(pb_layer *l, pb_ctx *c, int n, const float *x, float *y, int train) {
  if (!train) {
    block_eval(l, c, n, x, y);
    return;
  }
  block_priv *p = l->priv;
  size_t R = (size_t)n * p->R;
  float *W2 = l->work + 2 * R; /* the downsample's output (the rest of the work is for backward) */
  int last = p->nconv - 1;
  /* the shortcut first (the branches are independent): the last batch norm adds it */
  const float *sc = x;
  if (p->dconv) {
    float *ad = sv(l, p->off_ad);
    fwd_(p->dconv, c, n, x, ad, train);
    fwd_(p->dbn, c, n, ad, W2, train);
    sc = W2;
  }
  const float *cur = x;
  for (int i = 0; i < last; i++) { /* conv, then batch norm + ReLU (one op when fused) */
    float *a = sv(l, p->off_a[i]), *r = sv(l, p->off_r[i]);
    fwd_(p->conv[i], c, n, cur, a, train);
    pb_batchnorm_train(p->bn[i], c, n, a, NULL, r, 1);
    cur = r;
  }
  float *a = sv(l, p->off_a[last]);
  fwd_(p->conv[last], c, n, cur, a, train);
  if (p->fc1) { /* without a crop: scale, shortcut add and ReLU in one pass */
    float *b = sv(l, p->off_b);
    fwd_(p->bn[last], c, n, a, b, train);
    se_fwd(p, c, n, b, y, sv(l, p->off_s0), sv(l, p->off_s1), sv(l, p->off_s3), p->crop ? NULL : sc, 1);
    if (p->crop) add_relu(p, c, n, y, sc);
  } else if (p->crop) {
    fwd_(p->bn[last], c, n, a, y, train);
    add_relu(p, c, n, y, sc);
  } else { /* y = relu(bn(a) + shortcut) */
    pb_batchnorm_train(p->bn[last], c, n, a, sc, y, 1);
  }
}

static void block_bwd(pb_layer *l, pb_ctx *c, int n, const float *x, const float *y, const float *dy, float *dx) {
  block_priv *p = l->priv;
  size_t R = (size_t)n * p->R, no = (size_t)n * p->out_sz;
  float *G0 = l->work, *G1 = G0 + R, *G2 = G1 + R, *V = G2 + R;
  int last = p->nconv - 1;
  const float *a_last = sv(l, p->off_a[last]);
  if (p->fc1) {
    relu_bwd_(c, G0, dy, y, no); /* dz: the gradient of both branches */
    se_bwd(p, c, n, G1, G0, sv(l, p->off_b), sv(l, p->off_s0), sv(l, p->off_s1), sv(l, p->off_s3), V, G2);
    bwd_(p->bn[last], c, n, a_last, G1, G2);
  } else { /* dz = dy masked by the block's ReLU into G0 (the shortcut's too), and the last BN's backward */
    pb_batchnorm_train_bwd(p->bn[last], c, n, a_last, y, dy, G0, G2, 1);
  }
  for (int i = last; i >= 0; i--) {
    if (i < last) /* the ReLU after bn i (in r_i) and bn i's backward: G1 masked in place, into G2 */
      pb_batchnorm_train_bwd(p->bn[i], c, n, sv(l, p->off_a[i]), sv(l, p->off_r[i]), G1, G1, G2, 1);
    const float *xin = i ? sv(l, p->off_r[i - 1]) : x;
    bwd_(p->conv[i], c, n, xin, G2, i ? G1 : dx);
  }
  /* the shortcut's gradient: dz, or with a crop dz padded with zeros to the shortcut's size */
  pb_crop_params cp = p->cp;
  cp.n = n, cp.nhwc = c->nhwc;
  const float *gs = G0;
  if (p->crop && (p->dconv || dx)) {
    c->ops->add_crop_bwd(c, G2, G0, &cp);
    gs = G2;
  }
  if (p->dconv) {
    bwd_(p->dbn, c, n, sv(l, p->off_ad), gs, G1);
    bwd_(p->dconv, c, n, x, G1, dx ? G2 : NULL);
    if (dx) acc_(c, dx, G2, (size_t)n * p->in_sz);
  } else if (dx) {
    acc_(c, dx, gs, (size_t)n * p->in_sz);
  }
}

static const pb_layer_vt block_vt = {"resblock", block_fwd, block_bwd, NULL, NULL, block_plan, NULL};
static const pb_layer_vt bagnet_block_vt = {"bagblock", block_fwd, block_bwd, NULL, NULL, block_plan, NULL};

/* pad < 0: k / 2 (torchvision's "same" padding for odd k). */
static pb_layer *conv_child(pb_layer *l, const char *sfx, const int in[3], int cout, int k, int stride, int pad,
                            int bias, pb_err *err) {
  char name[96];
  snprintf(name, sizeof name, "%s.%s", l->name, sfx);
  return pb_layer_add_child(l, pb_conv2d_layer(name, in, cout, k, stride, pad < 0 ? k / 2 : pad, 1, 1, bias,
                                               PB_INIT_KAIMING_NORMAL_FAN_OUT, err));
}
static pb_layer *bn_child(pb_layer *l, const char *sfx, const int in[3], pb_err *err) {
  char name[96];
  snprintf(name, sizeof name, "%s.%s", l->name, sfx);
  return pb_layer_add_child(l, pb_batchnorm_layer(name, in, 1e-5f, 0.1f, err));
}

/* An SE fully connected layer: timm's 1x1 convolution with bias over the pooled [C, 1, 1]
 * vector, run as a GEMM (a linear layer: the same sums, one cuBLAS call instead of a cuDNN
 * convolution of 1x1 planes), its weight named and shaped as timm's [out, C, 1, 1] (the memory
 * of the linear's [out, C]) and initialised as the convolution was. */
static pb_layer *se_fc_child(pb_layer *l, const char *sfx, const int in[3], int cout, pb_err *err) {
  char name[96];
  snprintf(name, sizeof name, "%s.%s", l->name, sfx);
  pb_layer *fc = pb_linear_layer(name, in, cout, 1, err);
  if (fc) {
    pb_param *w = &fc->params[0];
    w->ndim = 4, w->shape[0] = cout, w->shape[1] = in[0], w->shape[2] = w->shape[3] = 1;
    w->init = PB_INIT_KAIMING_NORMAL_FAN_OUT, w->fan_in = in[0], w->fan_out = cout;
  }
  return pb_layer_add_child(l, fc);
}

/* timm's make_divisible(C / r, 8, round_limit = 0): the SE bottleneck width. */
static int se_width(int c, int r) {
  int v = (int)((double)c / r + 4.0) / 8 * 8;
  return v < 8 ? 8 : v;
}

/* bagnet: convolutions without padding and a cropped shortcut (pb_bagnet_block). */
static pb_layer *make_block(const char *name, const int in[3], int nconv, const int *couts, const int *ks,
                            const int *strides, int se_reduction, int zero_init, int bagnet, pb_err *err) {
  pb_layer *l = pb_layer_new(bagnet ? &bagnet_block_vt : &block_vt, name, in);
  block_priv *p = pb_xcalloc(1, sizeof *p);
  l->priv = p;
  p->nconv = nconv;
  const int *cur = in;
  char sfx[16];
  for (int i = 0; i < nconv; i++) {
    snprintf(sfx, sizeof sfx, "conv%d", i + 1);
    if (!(p->conv[i] = conv_child(l, sfx, cur, couts[i], ks[i], strides[i], bagnet ? 0 : -1, 0, err))) goto fail;
    cur = p->conv[i]->out;
    snprintf(sfx, sizeof sfx, "bn%d", i + 1);
    if (!(p->bn[i] = bn_child(l, sfx, cur, err))) goto fail;
    p->m[i] = pb_layer_out_numel(p->conv[i]);
  }
  memcpy(l->out, cur, sizeof l->out);
  if (zero_init) p->bn[nconv - 1]->params[0].init_value = 0.0f;
  p->in_sz = pb_layer_in_numel(l);
  p->out_sz = pb_layer_out_numel(l);
  p->hw_out = l->out[1] * l->out[2];
  if (se_reduction > 0) {
    p->se_c = l->out[0];
    p->se_r = se_width(p->se_c, se_reduction);
    int v[3] = {p->se_c, 1, 1};
    if (!(p->fc1 = se_fc_child(l, "se.fc1", v, p->se_r, err))) goto fail;
    if (!(p->fc2 = se_fc_child(l, "se.fc2", p->fc1->out, p->se_c, err))) goto fail;
  }
  int stride = 1;
  for (int i = 0; i < nconv; i++) stride *= strides[i];
  const int *sc = in; /* the shortcut's shape */
  if (stride != 1 || in[0] != l->out[0]) {
    if (!(p->dconv = conv_child(l, "downsample.0", in, l->out[0], 1, stride, 0, 0, err))) goto fail;
    sc = p->dconv->out;
  }
  if (bagnet ? sc[1] < l->out[1] || sc[2] < l->out[2] : sc[1] != l->out[1] || sc[2] != l->out[2]) {
    pb_err_set(err, "layer %s: the shortcut's output %dx%d %s the block's %dx%d", name, sc[1], sc[2],
               bagnet ? "is smaller than" : "differs from", l->out[1], l->out[2]);
    goto fail;
  }
  p->crop = sc[1] != l->out[1] || sc[2] != l->out[2];
  p->cp = (pb_crop_params){1, l->out[0], l->out[1], l->out[2], sc[1], sc[2], 0}; /* n, nhwc set per call */
  p->ad_sz = (size_t)sc[0] * sc[1] * sc[2];
  if (p->dconv && !(p->dbn = bn_child(l, "downsample.1", p->dconv->out, err))) goto fail;
  /* saved layout, per sample */
  size_t o = 0;
  for (int i = 0; i < nconv; i++) {
    p->off_a[i] = o;
    o += p->m[i];
    if (i < nconv - 1) {
      p->off_r[i] = o;
      o += p->m[i];
    }
  }
  if (p->dconv) p->off_ad = o, o += p->ad_sz;
  if (p->fc1) {
    p->off_b = o, o += p->out_sz;
    p->off_s0 = o, o += (size_t)p->se_c;
    p->off_s1 = o, o += (size_t)p->se_r;
    p->off_s3 = o, o += (size_t)p->se_c;
  }
  l->saved_per_sample = o;
  p->R = PB_MAX(PB_MAX(p->in_sz, p->out_sz), p->ad_sz);
  for (int i = 0; i < nconv; i++) p->R = PB_MAX(p->R, p->m[i]);
  l->work_per_sample = 3 * p->R + (p->fc1 ? 3 * (size_t)p->se_c : 0); /* block_plan refines it */
  l->work_fixed = 256;
  return l;
fail:
  pb_layer_free(l);
  return NULL;
}

pb_layer *pb_basic_block(const char *name, const int in[3], int planes, int stride, int k, int se_reduction,
                         int zero_init, pb_err *err) {
  int couts[2] = {planes, planes}, ks[2] = {k, k}, strides[2] = {stride, 1};
  return make_block(name, in, 2, couts, ks, strides, se_reduction, zero_init, 0, err);
}

pb_layer *pb_bottleneck_block(const char *name, const int in[3], int planes, int stride, int se_reduction,
                              int zero_init, pb_err *err) {
  int couts[3] = {planes, planes, 4 * planes}, ks[3] = {1, 3, 1}, strides[3] = {1, stride, 1};
  return make_block(name, in, 3, couts, ks, strides, se_reduction, zero_init, 0, err);
}

pb_layer *pb_bagnet_block(const char *name, const int in[3], int planes, int stride, int k, int zero_init,
                          pb_err *err) {
  int couts[2] = {planes, planes}, ks[2] = {k, 1}, strides[2] = {stride, 1};
  return make_block(name, in, 2, couts, ks, strides, 0, zero_init, 1, err);
}
