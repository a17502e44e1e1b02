/* frames.c: the frame encoder (layer.h, pb_frames_layer): an image model's layers applied to
 * every frame of an image sequence, trained end to end with what follows (the LSTM).
 *
 * Per sample the input is T frames of (C, H, W), stored as (T*C, H, W) (the loader's [n, T, C,
 * H, W]); the output is (1, T, F), F the encoder's output per frame, the layout the sequence
 * layers read. Only the VALID frames are encoded: a batch's frames t < lengths[i]
 * (ctx->seq_lengths; NULL = all T) are packed into M = sum lengths contiguous rows, the child
 * layers run on those M rows (batch norm's statistics are over real frames only, never over
 * padding), and the outputs are unpacked into [n, T, F] with zeros past each length. Backward
 * packs dy the same way, so padded steps give no gradient. Packing is one device copy per
 * sequence (frames of a sequence are contiguous).
 *
 * Children run with batches of up to max_n * T rows: the plan hook re-plans them for that batch,
 * scales their per-sample saved memory by T (the model assigns it, as for any child), and sizes
 * this layer's own memory: saved (training) = the packed input and every child's output
 * [max_n * T, out]; work = the children's shared work region, then (training) two packed
 * gradient buffers, or (evaluation) the packed input and two ping-pong buffers. */
#include <stdlib.h>
#include <string.h>

#include "engine/device/backend.h"
#include "engine/layers/layer.h"

#define PAD16(x) (((x) + 15) / 16 * 16)

typedef struct {
  int T;
  size_t fin, fout, maxdim; /* per frame: input numel, output numel, largest child tensor */
  int32_t *full;            /* host [max_n]: T, the lengths when ctx->seq_lengths is NULL */
  int32_t *off;             /* host [max_n + 1]: packed row offsets of the last call */
  int M;                    /* packed rows of the last training forward */
  size_t *o_out;            /* [nchildren]: offset of child k's output (saved, training) */
  size_t o_in;              /* the packed input (saved in training, work in evaluation) */
  size_t region;            /* floats of the children's work region at the start of work */
  int train_plan;
} frames_priv;

static void set_rows(pb_layer *l, int rows, float *work) {
  l->max_n = rows;
  if (work) l->work = work;
  for (int c = 0; c < l->nchildren; c++) set_rows(l->children[c], rows, work);
}

/* Offsets of the valid frames; returns M. */
static int pack_offsets(frames_priv *q, pb_ctx *ctx, int n) {
  const int32_t *len = ctx->seq_lengths ? ctx->seq_lengths : q->full;
  q->off[0] = 0;
  for (int i = 0; i < n; i++) {
    PB_ASSERT(len[i] >= 1 && len[i] <= q->T);
    q->off[i + 1] = q->off[i] + len[i];
  }
  return q->off[n];
}

/* [n, T, d] -> [M, d] (pack) or back with zeros past each length (unpack). */
static void pack(const frames_priv *q, pb_ctx *ctx, int n, float *dst, const float *src, size_t d) {
  for (int i = 0; i < n; i++)
    ctx->ops->copy(ctx, dst + (size_t)q->off[i] * d, src + (size_t)i * q->T * d,
                   (size_t)(q->off[i + 1] - q->off[i]) * d);
}
static void unpack(const frames_priv *q, pb_ctx *ctx, int n, float *dst, const float *src, size_t d) {
  ctx->ops->zero(ctx, dst, (size_t)n * q->T * d * sizeof(float));
  for (int i = 0; i < n; i++)
    ctx->ops->copy(ctx, dst + (size_t)i * q->T * d, src + (size_t)q->off[i] * d,
                   (size_t)(q->off[i + 1] - q->off[i]) * d);
}

static void frames_fwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, float *y, int train) {
  frames_priv *q = l->priv;
  set_rows(l, l->max_n * q->T, l->work);
  l->max_n /= q->T; /* this layer's own bound stays the model's */
  int M = pack_offsets(q, ctx, n);
  const size_t rows = (size_t)l->max_n * q->T;
  float *in, *ping[2] = {NULL, NULL};
  /* a model planned for training keeps its outputs in saved in evaluation too */
  const int keep = train || q->train_plan;
  if (train) q->M = M;
  if (keep) {
    in = l->saved + q->o_in;
  } else {
    in = l->work + q->region;
    ping[0] = in + PAD16(rows * q->fin);
    ping[1] = ping[0] + PAD16(rows * q->maxdim);
  }
  pack(q, ctx, n, in, x, q->fin);
  const float *cur = in;
  int which = 0;
  for (int k = 0; k < l->nchildren; k++) {
    pb_layer *c = l->children[k];
    if (c->alias) continue;
    float *out = keep ? l->saved + q->o_out[k] : ping[which];
    c->vt->forward(c, ctx, M, cur, out, train);
    cur = out;
    which ^= 1;
  }
  unpack(q, ctx, n, y, cur, q->fout);
}

static void frames_bwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, const float *y, const float *dy, float *dx) {
  (void)x, (void)y;
  frames_priv *q = l->priv;
  set_rows(l, l->max_n * q->T, l->work);
  l->max_n /= q->T;
  int M = q->M;
  PB_ASSERT(pack_offsets(q, ctx, n) == M); /* the lengths of the training forward */
  const size_t rows = (size_t)l->max_n * q->T;
  float *g[2] = {l->work + q->region, l->work + q->region + PAD16(rows * q->maxdim)};
  int which = 0;
  pack(q, ctx, n, g[which], dy, q->fout);
  const float *d = g[which];
  int last = l->nchildren - 1;
  while (last >= 0 && l->children[last]->alias) last--;
  for (int k = last; k >= 0; k--) {
    pb_layer *c = l->children[k];
    if (c->alias) continue;
    int prev = k - 1;
    while (prev >= 0 && l->children[prev]->alias) prev--;
    const float *cx = prev >= 0 ? l->saved + q->o_out[prev] : l->saved + q->o_in;
    int first = prev < 0;
    /* the first child needs an input gradient only when this layer's is asked for (batch norm's
     * op always writes one) */
    int need = !first || dx || !strcmp(c->vt->kind, "batchnorm");
    float *cdx = need ? g[which ^ 1] : NULL;
    c->vt->backward(c, ctx, M, cx, l->saved + q->o_out[k], d, cdx);
    d = cdx;
    which ^= 1;
  }
  if (dx) unpack(q, ctx, n, dx, d, q->fin);
}

/* Host scratch of l's subtree for batches of rows. */
static size_t subtree_scratch(const pb_layer *l, int rows, int nthreads) {
  size_t s = l->vt->scratch ? l->vt->scratch(l, rows, nthreads) : 0;
  for (int c = 0; c < l->nchildren; c++) s = PB_MAX(s, subtree_scratch(l->children[c], rows, nthreads));
  return s;
}

static size_t frames_scratch(const pb_layer *l, int max_n, int nthreads) {
  const frames_priv *q = l->priv;
  size_t s = 0;
  for (int c = 0; c < l->nchildren; c++) s = PB_MAX(s, subtree_scratch(l->children[c], max_n * q->T, nthreads));
  return s;
}

static int replan(pb_layer *l, pb_ctx *ctx, int rows, int train, pb_err *err) {
  for (int c = 0; c < l->nchildren; c++)
    if (replan(l->children[c], ctx, rows, train, err)) return PB_ERR;
  return l->vt->plan ? l->vt->plan(l, ctx, rows, train, err) : PB_OK;
}

/* Scales the per-sample saved memory of l's subtree by T; returns its largest work need. */
static size_t scale_subtree(pb_layer *l, int T, size_t rows) {
  l->saved_per_sample *= (size_t)T;
  size_t w = rows * l->work_per_sample + l->work_fixed;
  for (int c = 0; c < l->nchildren; c++) w = PB_MAX(w, scale_subtree(l->children[c], T, rows));
  return w;
}

static int frames_plan(pb_layer *l, pb_ctx *ctx, int max_n, int train, pb_err *err) {
  frames_priv *q = l->priv;
  const size_t rows = (size_t)max_n * q->T;
  if (rows > (size_t)1 << 30)
    return pb_err_set(err, "layer %s: %d sequences of %d frames are too many rows", l->name, max_n, q->T);
  size_t region = 0, saved = 0;
  free(q->o_out);
  q->o_out = pb_xcalloc((size_t)l->nchildren, sizeof(size_t));
  q->o_in = 0;
  saved = PAD16(rows * q->fin);
  for (int c = 0; c < l->nchildren; c++) {
    pb_layer *ch = l->children[c];
    if (replan(ch, ctx, (int)rows, train, err)) return pb_err_prefix(err, "layer %s", l->name);
    region = PB_MAX(region, scale_subtree(ch, q->T, rows));
    if (ch->alias) continue;
    q->o_out[c] = saved;
    saved += PAD16(rows * pb_layer_out_numel(ch));
  }
  q->region = PAD16(region);
  q->train_plan = train;
  l->saved_per_sample = 0;
  l->saved_fixed = train ? saved : 0; /* offsets are absolute: sized for max_n here */
  l->work_per_sample = 0;
  l->work_fixed = q->region + (train ? 0 : PAD16(rows * q->fin)) + 2 * PAD16(rows * q->maxdim);
  free(q->full);
  free(q->off);
  q->full = pb_xmalloc((size_t)max_n * sizeof(int32_t));
  q->off = pb_xmalloc(((size_t)max_n + 1) * sizeof(int32_t));
  for (int i = 0; i < max_n; i++) q->full[i] = q->T;
  return PB_OK;
}

static void frames_free(pb_layer *l) {
  frames_priv *q = l->priv;
  if (!q) return;
  free(q->full);
  free(q->off);
  free(q->o_out);
}

static const pb_layer_vt frames_vt = {"frames", frames_fwd, frames_bwd, frames_scratch, frames_free, frames_plan,
                                      NULL};

/* Prefixes the names of l's subtree and of its tensors with "prefix.". */
static int prefix_names(pb_layer *l, const char *prefix, pb_err *err) {
  char buf[160];
  if ((size_t)snprintf(buf, sizeof buf, "%s.%s", prefix, l->name) >= sizeof l->name)
    return pb_err_set(err, "layer name %s.%s is too long", prefix, l->name);
  snprintf(l->name, sizeof l->name, "%s", buf);
  for (int i = 0; i < l->nparams; i++) {
    if ((size_t)snprintf(buf, sizeof buf, "%s.%s", prefix, l->params[i].name) >= sizeof l->params[i].name)
      return pb_err_set(err, "tensor name %s.%s is too long", prefix, l->params[i].name);
    snprintf(l->params[i].name, sizeof l->params[i].name, "%s", buf);
  }
  for (int c = 0; c < l->nchildren; c++)
    if (prefix_names(l->children[c], prefix, err)) return PB_ERR;
  return PB_OK;
}

pb_layer *pb_frames_layer(const char *name, const int in[3], int T, pb_layer **children, int nchildren, pb_err *err) {
  pb_layer *l = pb_layer_new(&frames_vt, name, in);
  frames_priv *q = pb_xcalloc(1, sizeof *q);
  l->priv = q;
  q->T = T;
  for (int c = 0; c < nchildren; c++) pb_layer_add_child(l, children[c]); /* owned from here on */
  if (T < 1 || nchildren < 1 || in[0] % T) {
    pb_err_set(err, "layer %s: %d frames of input %dx%dx%d with %d layers", name, T, in[0], in[1], in[2], nchildren);
    pb_layer_free(l);
    return NULL;
  }
  const int frame[3] = {in[0] / T, in[1], in[2]};
  const pb_layer *first = children[0], *lastc = children[nchildren - 1];
  if (memcmp(first->in, frame, sizeof frame)) {
    pb_err_set(err, "layer %s: the encoder reads %dx%dx%d frames, the data has %dx%dx%d", name, first->in[0],
               first->in[1], first->in[2], frame[0], frame[1], frame[2]);
    pb_layer_free(l);
    return NULL;
  }
  q->fin = pb_layer_in_numel(first);
  q->fout = pb_layer_out_numel(lastc);
  q->maxdim = q->fin;
  for (int c = 0; c < nchildren; c++) q->maxdim = PB_MAX(q->maxdim, pb_layer_out_numel(children[c]));
  if (prefix_names(l, name, err)) {
    pb_layer_free(l);
    return NULL;
  }
  snprintf(l->name, sizeof l->name, "%s", name); /* prefix_names prefixed the layer itself too */
  l->out[0] = 1, l->out[1] = T, l->out[2] = (int)q->fout;
  return l;
}
