/* lstm.c: the LSTM layer (layer.h, pb_lstm_layer): nn.LSTM over plumb's batch-major samples
 * (1, T, D), on the ops table's lstm_* and seq_* entries (kernels/cpu/lstm.c, kernels/cpu/seq.c
 * and their CUDA twins). The op is sequence-major, so the layer swaps [n, T, D] <-> [T, n, D]
 * around it and pools the output (every step, the final states, or the mean over the valid
 * steps). Each batch's lengths come from ctx->seq_lengths (host; NULL = T steps each).
 *
 * Parameters: the 4 * layers * dirs tensors of nn.LSTM, named NAME.weight_ih_l0,
 * NAME.weight_hh_l0, NAME.bias_ih_l0, NAME.bias_hh_l0, NAME.weight_ih_l0_reverse, ... in
 * PyTorch's order (pb_lstm_weight_at), placed by the model as ONE unpadded block (pb_param
 * .packed): the op's flat weight buffer is the first tensor's memory. Init as nn.LSTM:
 * U(-1/sqrt(H), 1/sqrt(H)) for every tensor (PB_INIT_TORCH_BIAS with fan_in = H).
 *
 * Memory, planned for max_n by the plan hook (so the GPU twin's reserve size can come from its
 * library): saved (training) = the op's input xs [T, max_n, D], its output ys [T, max_n, dirs*H],
 * the reserve, and the lengths in the context's memory (for the mean); work = the final states
 * [L*dirs, max_n, H] and, in backward, dys and dxs; in evaluation xs, ys and the lengths live
 * in work. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/device/backend.h"
#include "engine/layers/layer.h"
#include "kernels/pb_rng.h"

#define PAD16(x) (((x) + 15) / 16 * 16)

typedef struct {
  pb_lstm_params p; /* batch = the planned max_n; set to n per call */
  int pooling;
  uint64_t seed;
  int index;
  uint64_t calls;      /* training forwards so far (the dropout masks' counter) */
  int32_t *full;       /* host [max_n] = T: the lengths when ctx->seq_lengths is NULL */
  const int32_t *len;  /* host lengths of the last training forward */
  size_t reserve;      /* floats of the op's reserve for max_n */
  /* float offsets inside saved (training) or work (evaluation) */
  size_t o_xs, o_ys, o_rs, o_len;
  /* inside work */
  size_t o_hn, o_dys, o_dxs, o_ev;
} lstm_priv;

static int dirs_of(const lstm_priv *q) { return q->p.bidirectional ? 2 : 1; }

static int lstm_plan(pb_layer *l, pb_ctx *ctx, int max_n, int train, pb_err *err) {
  lstm_priv *q = l->priv;
  if (!ctx->ops->lstm_reserve)
    return pb_err_set(err, "layer %s: the LSTM does not run on %s in this build yet; set [run] device = cpu", l->name,
                      ctx->ops->name);
  q->p.batch = max_n;
  if (ctx->ops->lstm_reserve(ctx, &q->p, &q->reserve, err)) return pb_err_prefix(err, "layer %s", l->name);
  const size_t T = (size_t)q->p.seq_len, n = (size_t)max_n, D = (size_t)q->p.input_size;
  const size_t C = (size_t)dirs_of(q) * (size_t)q->p.hidden_size;
  const size_t S = (size_t)q->p.num_layers * (size_t)dirs_of(q) * (size_t)q->p.hidden_size;
  /* the sequence-major tensors and the device lengths (int32 in float slots) */
  q->o_xs = 0;
  q->o_ys = q->o_xs + PAD16(T * n * D);
  q->o_len = q->o_ys + PAD16(T * n * C);
  size_t seq_end = q->o_len + PAD16(n);
  q->o_rs = seq_end;
  l->saved_per_sample = 0;
  l->saved_fixed = train ? seq_end + PAD16(q->reserve) + 64 : 0; /* + room to align the reserve to 256 bytes */
  /* work: final states, then the backward's dys and dxs; evaluation puts xs, ys, len after */
  q->o_hn = 0;
  q->o_dys = q->o_hn + PAD16(n * S);
  q->o_dxs = q->o_dys + PAD16(T * n * C);
  q->o_ev = q->o_dxs + PAD16(T * n * D);
  l->work_per_sample = 0;
  l->work_fixed = q->o_ev + seq_end;
  free(q->full);
  q->full = pb_xcalloc(n, sizeof *q->full);
  for (size_t i = 0; i < n; i++) q->full[i] = q->p.seq_len;
  return PB_OK;
}

/* The reserve: 256-byte aligned inside saved (the GPU twin's requirement). */
static float *reserve_of(pb_layer *l) {
  uintptr_t a = (uintptr_t)(l->saved + ((lstm_priv *)l->priv)->o_rs);
  return (float *)((a + 255) & ~(uintptr_t)255);
}

static float *w_of(pb_layer *l) {
  /* the model placed the tensors as one block (pb_param.packed): the last one ends the block */
  const pb_param *last = &l->params[l->nparams - 1];
  PB_ASSERT(last->data + last->numel == l->params[0].data + pb_lstm_weight_floats(&((lstm_priv *)l->priv)->p));
  return l->params[0].data;
}

static void lstm_fwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, float *y, int train) {
  lstm_priv *q = l->priv;
  const pb_backend *ops = ctx->ops;
  const int T = q->p.seq_len, D = q->p.input_size, H = q->p.hidden_size, dirs = dirs_of(q);
  const int C = dirs * H, L = q->p.num_layers;
  pb_lstm_params p = q->p;
  p.batch = n;
  const int32_t *len = ctx->seq_lengths ? ctx->seq_lengths : q->full;
  float *base = train ? l->saved : l->work + q->o_ev;
  float *xs = base + q->o_xs, *ys = base + q->o_ys, *hn = l->work + q->o_hn;
  int32_t *len_dev = (int32_t *)(base + q->o_len);
  ops->seq_swap01(ctx, xs, x, n, T, D); /* [n, T, D] -> [T, n, D] */
  if (train) {
    uint64_t stream = PB_RNG_STREAM(PB_RNG_DROPOUT, ((uint64_t)q->index << 40) | q->calls);
    ops->lstm_fwd_train(ctx, ys, hn, NULL, reserve_of(l), xs, NULL, NULL, w_of(l), len, q->seed, stream, &p);
    if (p.dropout > 0.0f && L > 1) q->calls++;
    q->len = len;
  } else {
    ops->lstm_fwd_eval(ctx, ys, hn, NULL, xs, NULL, NULL, w_of(l), len, &p);
  }
  switch (q->pooling) {
    case PB_SEQ_ALL:
      ops->seq_swap01(ctx, y, ys, T, n, C); /* [T, n, C] -> [n, T, C] */
      break;
    case PB_SEQ_LAST: /* the last layer's rows of h_n, [dirs, n, H] -> [n, dirs, H] */
      ops->seq_swap01(ctx, y, hn + (size_t)(L - 1) * dirs * n * H, dirs, n, H);
      break;
    default:
      ops->upload(ctx, len_dev, len, (size_t)n * sizeof(int32_t));
      ops->seq_mean_fwd(ctx, y, ys, len_dev, T, n, C);
      break;
  }
}

static void lstm_bwd(pb_layer *l, pb_ctx *ctx, int n, const float *x, const float *y, const float *dy, float *dx) {
  (void)x, (void)y;
  lstm_priv *q = l->priv;
  const pb_backend *ops = ctx->ops;
  const int T = q->p.seq_len, D = q->p.input_size, H = q->p.hidden_size, dirs = dirs_of(q);
  const int C = dirs * H, L = q->p.num_layers;
  pb_lstm_params p = q->p;
  p.batch = n;
  float *xs = l->saved + q->o_xs, *ys = l->saved + q->o_ys;
  const int32_t *len_dev = (const int32_t *)(l->saved + q->o_len);
  float *dys = l->work + q->o_dys, *dxs = dx ? l->work + q->o_dxs : NULL, *dhn = NULL;
  switch (q->pooling) {
    case PB_SEQ_ALL:
      ops->seq_swap01(ctx, dys, dy, n, T, C); /* [n, T, C] -> [T, n, C] */
      break;
    case PB_SEQ_LAST:
      dhn = l->work + q->o_hn;
      ops->zero(ctx, dhn, sizeof(float) * (size_t)L * dirs * n * H);
      ops->seq_swap01(ctx, dhn + (size_t)(L - 1) * dirs * n * H, dy, n, dirs, H); /* [n, dirs, H] -> [dirs, n, H] */
      dys = NULL;
      break;
    default:
      ops->seq_mean_bwd(ctx, dys, dy, len_dev, T, n, C);
      break;
  }
  ops->lstm_bwd(ctx, dxs, NULL, NULL, l->params[0].grad, dys, dhn, NULL, xs, NULL, NULL, w_of(l), ys, q->len,
                reserve_of(l), &p);
  if (dx) ops->seq_swap01(ctx, dx, dxs, T, n, D); /* [T, n, D] -> [n, T, D] */
}

static uint64_t *lstm_counter(pb_layer *l) { return &((lstm_priv *)l->priv)->calls; }

static void lstm_free(pb_layer *l) {
  lstm_priv *q = l->priv;
  if (q) free(q->full);
}

static const pb_layer_vt lstm_vt = {"lstm", lstm_fwd, lstm_bwd, NULL, lstm_free, lstm_plan, lstm_counter};

pb_layer *pb_lstm_layer(const char *name, const int in[3], int hidden, int layers, int bidirectional, float dropout,
                        int pooling, uint64_t seed, int index, pb_err *err) {
  if (in[0] != 1 || in[1] < 1 || in[2] < 1) {
    pb_err_set(err, "layer %s: an LSTM reads sequences (1, T, D) (a float32 [N, T, D] dataset), got (%d, %d, %d)",
               name, in[0], in[1], in[2]);
    return NULL;
  }
  if (hidden < 1 || layers < 1 || layers > 4 || !(dropout >= 0.0f && dropout < 1.0f)) {
    pb_err_set(err, "layer %s: an LSTM needs hidden size >= 1, 1..4 layers and dropout in [0, 1), got %d, %d, %g",
               name, hidden, layers, (double)dropout);
    return NULL;
  }
  pb_layer *l = pb_layer_new(&lstm_vt, name, in);
  lstm_priv *q = pb_xcalloc(1, sizeof *q);
  l->priv = q;
  q->p.seq_len = in[1];
  q->p.batch = 1;
  q->p.input_size = in[2];
  q->p.hidden_size = hidden;
  q->p.num_layers = layers;
  q->p.bidirectional = bidirectional ? 1 : 0;
  q->p.dropout = dropout;
  q->pooling = pooling;
  q->seed = seed;
  q->index = index;
  const int C = (bidirectional ? 2 : 1) * hidden;
  if (pooling == PB_SEQ_ALL) {
    l->out[0] = 1, l->out[1] = in[1], l->out[2] = C;
  } else {
    l->out[0] = C, l->out[1] = l->out[2] = 1;
  }
  const int nt = pb_lstm_weight_count(&q->p);
  size_t expect = 0;
  for (int i = 0; i < nt; i++) {
    pb_lstm_weight w = pb_lstm_weight_at(&q->p, i);
    PB_ASSERT(w.offset == expect); /* the op's layout is the tensors back to back */
    int shape[2] = {w.shape[0], w.shape[1]};
    pb_param *pp = pb_layer_add_param(l, w.name, PB_PARAM_TRAINABLE, w.ndim, shape, PB_INIT_TORCH_BIAS, hidden, 0);
    pp->packed = i + 1 < nt;
    expect += pp->numel;
  }
  PB_ASSERT(expect == pb_lstm_weight_floats(&q->p));
  return l;
}
