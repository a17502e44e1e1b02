/* lstm.c: the LSTM op's CPU reference (a stack of nn.LSTM layers over ragged sequences):
 * the flat weight layout and its names, the training and evaluation forwards, the backward.
 * Contracts in ops.h ("LSTM"). Its CUDA twin is kernels/cuda/lstm.cu (cuDNN v8 RNN API,
 * one layer at a time when plumb's dropout sits between layers).
 *
 * Per layer and direction d:
 *   forward:  G = X W_ih^T + b_ih + b_hh for all T*N rows (one GEMM in row blocks); then for
 *             each step in the direction's order, G[t] += h W_hh^T (one GEMM per batch block),
 *             and the cell on the active rows (t < lengths[n]). A sequence's state is only
 *             touched at its active steps, so the forward state after the loop is its state
 *             after step lengths[n]-1, and the reverse direction, which starts from h0 at
 *             t = T-1, meets step lengths[n]-1 still at h0.
 *   backward: the same steps in the opposite order, carrying dh and dc; an inactive step
 *             passes them through unchanged. dG (pre-activation gate gradients) is zero on
 *             inactive rows, so the weight gradients are GEMMs over all T*N rows:
 *             dW_ih += dG^T X, dW_hh += dG^T Hprev (Hprev [T, N, H]: the state each step
 *             started from, h0 or the neighbour step's output), db_ih = db_hh += sum dG;
 *             dX = sum_d dG_d W_ih_d.
 * Threads: every parallel loop runs over tasks of a fixed size (PB_LSTM_NB batch rows for the
 * recurrences, whose sequences are independent; PB_LSTM_RB rows for the other GEMMs), each
 * task one single-threaded pb_sgemm_cpu call and its own rows, so no element depends on how
 * tasks are shared among threads: bitwise the same results for every nthreads.
 *
 * Training reserve (floats), then scratch, laid out by pb_lstm_layout:
 *   per layer l, direction d: G [T*N, 4H] (the activated gates i, f, g, o at active rows) and
 *     C [T*N, H] (the cell state after each active step);
 *   per layer l < L-1: Y_l [T*N, dirs*H] (its output) and, when dropout > 0, X_{l+1} (the
 *     dropped input of layer l+1) and S_{l+1} (its scale: 0 or 1/(1-p)), each [T*N, dirs*H].
 *   scratch: the states (h, c: [dirs][N, H]); evaluation: G [dirs][T*N, 4H] and two layer
 *   outputs [T*N, dirs*H]; backward: dG [dirs][T*N, 4H], Hprev [dirs][T*N, H], the carries
 *   dh, dc and a GEMM result [dirs][N, H] each, and two gradient buffers [T*N, dirs*H]. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/pb_common.h"
#include "kernels/pb_rng.h"

#define PB_LSTM_NB 16 /* batch rows per recurrence task */
#define PB_LSTM_RB 64 /* rows per task of the projection, input-gradient and weight-gradient GEMMs */

/* ------------------------------------------------------------------ shapes and weights */

typedef struct pb_lstm_dims {
  int T, N, D, H, L, dirs, out; /* out = dirs*H */
  size_t tn;                    /* T*N */
} pb_lstm_dims;

static pb_lstm_dims pb_lstm_dims_of(const pb_lstm_params *p) {
  PB_ASSERT(p->seq_len >= 1 && p->batch >= 1 && p->input_size >= 1 && p->hidden_size >= 1);
  PB_ASSERT(p->num_layers >= 1 && (p->bidirectional == 0 || p->bidirectional == 1));
  PB_ASSERT(p->dropout >= 0.0f && p->dropout < 1.0f);
  pb_lstm_dims m;
  m.T = p->seq_len, m.N = p->batch, m.D = p->input_size, m.H = p->hidden_size, m.L = p->num_layers;
  m.dirs = p->bidirectional ? 2 : 1;
  m.out = m.dirs * m.H;
  m.tn = (size_t)m.T * m.N;
  return m;
}

static int pb_lstm_in(const pb_lstm_dims *m, int l) { return l == 0 ? m->D : m->out; }

/* Floats of one (layer, direction) block: W_ih, W_hh, b_ih, b_hh. */
static size_t pb_lstm_block(const pb_lstm_dims *m, int l) {
  const size_t g = 4 * (size_t)m->H;
  return g * (size_t)pb_lstm_in(m, l) + g * (size_t)m->H + 2 * g;
}

static size_t pb_lstm_block_offset(const pb_lstm_dims *m, int l, int d) {
  size_t off = 0;
  for (int k = 0; k < l; k++) off += (size_t)m->dirs * pb_lstm_block(m, k);
  return off + (size_t)d * pb_lstm_block(m, l);
}

/* Offsets of the four tensors of (l, d): W_ih, W_hh, b_ih, b_hh. */
static void pb_lstm_offsets(size_t off[4], const pb_lstm_dims *m, int l, int d) {
  const size_t g = 4 * (size_t)m->H;
  off[0] = pb_lstm_block_offset(m, l, d);
  off[1] = off[0] + g * (size_t)pb_lstm_in(m, l);
  off[2] = off[1] + g * (size_t)m->H;
  off[3] = off[2] + g;
}

/* The four tensors of (l, d) inside a flat buffer (w or dw). */
typedef struct pb_lstm_wp {
  float *ih, *hh, *bih, *bhh;
} pb_lstm_wp;

static pb_lstm_wp pb_lstm_wp_of(const pb_lstm_dims *m, const float *w, int l, int d) {
  size_t off[4];
  pb_lstm_offsets(off, m, l, d);
  float *b = (float *)w;
  pb_lstm_wp r = {b + off[0], b + off[1], b + off[2], b + off[3]};
  return r;
}

size_t pb_lstm_weight_floats(const pb_lstm_params *p) {
  const pb_lstm_dims m = pb_lstm_dims_of(p);
  return pb_lstm_block_offset(&m, m.L, 0);
}

int pb_lstm_weight_count(const pb_lstm_params *p) {
  const pb_lstm_dims m = pb_lstm_dims_of(p);
  return 4 * m.L * m.dirs;
}

pb_lstm_weight pb_lstm_weight_at(const pb_lstm_params *p, int i) {
  const pb_lstm_dims m = pb_lstm_dims_of(p);
  PB_ASSERT(i >= 0 && i < 4 * m.L * m.dirs);
  const int l = i / (4 * m.dirs), d = (i / 4) % m.dirs, k = i % 4;
  static const char *const kind[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
  pb_lstm_weight r;
  snprintf(r.name, sizeof r.name, "%s_l%d%s", kind[k], l, d ? "_reverse" : "");
  size_t off[4];
  pb_lstm_offsets(off, &m, l, d);
  r.offset = off[k];
  r.ndim = k < 2 ? 2 : 1;
  r.shape[0] = 4 * m.H;
  r.shape[1] = k == 0 ? pb_lstm_in(&m, l) : k == 1 ? m.H : 1;
  return r;
}

/* ------------------------------------------------------------------ reserve and scratch */

/* Reserve: per (l, d) G then C; then per l < L-1 Y_l [, X_{l+1}, S_{l+1}]. */
static size_t pb_lstm_rs_gc(const pb_lstm_dims *m, int l, int d) { return (size_t)(l * m->dirs + d) * m->tn * 5 * m->H; }

static size_t pb_lstm_rs_y(const pb_lstm_dims *m, int l, int dropout) {
  return pb_lstm_rs_gc(m, m->L, 0) + (size_t)l * (dropout ? 3 : 1) * m->tn * m->out;
}

size_t pb_lstm_reserve_cpu(const pb_lstm_params *p) {
  const pb_lstm_dims m = pb_lstm_dims_of(p);
  return pb_lstm_rs_y(&m, m.L - 1, p->dropout > 0.0f);
}

typedef struct pb_lstm_ws {
  float *hs, *cs;     /* states [dirs][N, H] (forwards); the dh, dc carries (backward) */
  float *tmp;         /* backward: dG W_hh per step [dirs][N, H] */
  float *g;           /* evaluation: gates [dirs][T*N, 4H]; backward: dG, the same size */
  float *hprev;       /* backward: [dirs][T*N, H] */
  float *buf0, *buf1; /* evaluation: layer outputs; backward: activation gradients [T*N, dirs*H] */
} pb_lstm_ws;

static size_t pb_lstm_ws_layout(const pb_lstm_dims *m, pb_lstm_ws *w, float *base) {
  const size_t nh = (size_t)m->dirs * m->N * m->H;
  const size_t sz[7] = {nh, nh, nh, (size_t)m->dirs * m->tn * 4 * m->H, (size_t)m->dirs * m->tn * m->H,
                        m->tn * m->out, m->tn * m->out};
  float **at[7] = {&w->hs, &w->cs, &w->tmp, &w->g, &w->hprev, &w->buf0, &w->buf1};
  size_t off = 0;
  for (int i = 0; i < 7; i++) {
    *at[i] = base ? base + off : NULL;
    off += (sz[i] + 15) & ~(size_t)15; /* 64-byte steps for aligned bases */
  }
  return off;
}

size_t pb_lstm_scratch_cpu(const pb_lstm_params *p) {
  const pb_lstm_dims m = pb_lstm_dims_of(p);
  pb_lstm_ws w;
  return pb_lstm_ws_layout(&m, &w, NULL);
}

static pb_lstm_ws pb_lstm_ws_of(const pb_lstm_params *p, const pb_lstm_dims *m, const pb_scratch *s) {
  PB_ASSERT(s && s->buf && s->floats >= pb_lstm_scratch_cpu(p));
  pb_lstm_ws w;
  pb_lstm_ws_layout(m, &w, s->buf);
  return w;
}

static int pb_lstm_nt(const pb_scratch *s) { return s->nthreads < 1 ? 1 : s->nthreads; }

static int pb_lstm_blocks(size_t rows, int per) { return (int)((rows + (size_t)per - 1) / (size_t)per); }

/* ------------------------------------------------------------------ dropout */

void pb_lstm_dropout_mask_cpu(uint8_t *mask, int layer, uint64_t seed, uint64_t stream, const pb_lstm_params *p) {
  const pb_lstm_dims m = pb_lstm_dims_of(p);
  PB_ASSERT(layer >= 1 && layer < m.L);
  const size_t n = m.tn * (size_t)m.out;
  const uint64_t hi = (uint64_t)layer << 40;
  for (size_t e = 0; e < n; e++) mask[e] = (uint8_t)(pb_rng_uniform(seed, stream, hi | (uint64_t)e) >= p->dropout);
}

/* xd = y * s, s = 0 or 1/(1-p) from the mask formula, for layer l's input (rows in blocks). */
static void pb_lstm_dropout_fwd(float *xd, float *scale, const float *y, int l, uint64_t seed, uint64_t stream,
                                float p, const pb_lstm_dims *m, int nt) {
  const float keep_scale = 1.0f / (1.0f - p);
  const uint64_t hi = (uint64_t)l << 40;
  const int nb = pb_lstm_blocks(m->tn, PB_LSTM_RB);
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int b = 0; b < nb; b++) {
    const size_t e0 = (size_t)b * PB_LSTM_RB * m->out, e1 = PB_MIN(m->tn, (size_t)(b + 1) * PB_LSTM_RB) * m->out;
    for (size_t e = e0; e < e1; e++) {
      const float sc = pb_rng_uniform(seed, stream, hi | (uint64_t)e) >= p ? keep_scale : 0.0f;
      scale[e] = sc;
      xd[e] = y[e] * sc;
    }
  }
}

/* ------------------------------------------------------------------ forward */

static inline float pb_lstm_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* One layer, both directions. in [T*N, in_size]; out [T*N, dirs*H] overwritten (zeros at
 * inactive rows); g[d] [T*N, 4H]: on return the activated gates at active rows; cst[d]
 * [T*N, H] the cell states (cst[d] NULL: not kept); h0l, c0l: the layer's rows [dirs][N, H] of h0,
 * c0 or NULL; hnl, cnl likewise for h_n, c_n. hs, cs: state scratch [dirs][N, H]. */
static void pb_lstm_layer_fwd(float *out, float *hnl, float *cnl, float *const g[2], float *const cst[2], float *hs,
                              float *cs, const float *in, int l, const float *h0l, const float *c0l, const float *w,
                              const int32_t *len, const pb_lstm_dims *m, int nt) {
  const int H = m->H, G4 = 4 * H, N = m->N, T = m->T, in_size = pb_lstm_in(m, l);
  const size_t nh = (size_t)N * H;
  /* the input projection of every step, with both biases */
  const int nrb = pb_lstm_blocks(m->tn, PB_LSTM_RB);
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int task = 0; task < m->dirs * nrb; task++) {
    const int d = task / nrb;
    const size_t r0 = (size_t)(task % nrb) * PB_LSTM_RB, r1 = PB_MIN(m->tn, r0 + PB_LSTM_RB);
    const pb_lstm_wp wp = pb_lstm_wp_of(m, w, l, d);
    pb_sgemm_cpu(0, 1, (int)(r1 - r0), G4, in_size, 1.0f, in + r0 * in_size, in_size, wp.ih, in_size, 0.0f,
                 g[d] + r0 * G4, G4);
    for (size_t r = r0; r < r1; r++) {
      float *gr = g[d] + r * G4;
      for (int j = 0; j < G4; j++) gr[j] = gr[j] + wp.bih[j] + wp.bhh[j];
    }
  }
  /* the recurrence: each task one direction of PB_LSTM_NB sequences, all steps */
  const int nbb = pb_lstm_blocks((size_t)N, PB_LSTM_NB);
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int task = 0; task < m->dirs * nbb; task++) {
    const int d = task / nbb, n0 = (task % nbb) * PB_LSTM_NB, n1 = PB_MIN(N, n0 + PB_LSTM_NB);
    const pb_lstm_wp wp = pb_lstm_wp_of(m, w, l, d);
    float *h = hs + d * nh + (size_t)n0 * H, *c = cs + d * nh + (size_t)n0 * H;
    const size_t rows = (size_t)(n1 - n0) * H;
    if (h0l) memcpy(h, h0l + d * nh + (size_t)n0 * H, rows * sizeof(float));
    else memset(h, 0, rows * sizeof(float));
    if (c0l) memcpy(c, c0l + d * nh + (size_t)n0 * H, rows * sizeof(float));
    else memset(c, 0, rows * sizeof(float));
    for (int s = 0; s < T; s++) {
      const int t = d == 0 ? s : T - 1 - s;
      float *gt = g[d] + ((size_t)t * N + n0) * G4;
      pb_sgemm_cpu(0, 1, n1 - n0, G4, H, 1.0f, h, H, wp.hh, H, 1.0f, gt, G4);
      for (int n = n0; n < n1; n++) {
        const size_t r = (size_t)t * N + n;
        float *o = out + r * m->out + (size_t)d * H;
        if (t >= len[n]) {
          memset(o, 0, sizeof(float) * H);
          continue;
        }
        float *gr = g[d] + r * G4, *hr = h + (size_t)(n - n0) * H, *cr = c + (size_t)(n - n0) * H;
        float *cs_out = cst[d] ? cst[d] + r * H : NULL;
        for (int j = 0; j < H; j++) {
          const float ig = pb_lstm_sigmoid(gr[j]), fg = pb_lstm_sigmoid(gr[H + j]);
          const float gg = tanhf(gr[2 * H + j]), og = pb_lstm_sigmoid(gr[3 * H + j]);
          const float cn = fg * cr[j] + ig * gg;
          const float hn = og * tanhf(cn);
          gr[j] = ig, gr[H + j] = fg, gr[2 * H + j] = gg, gr[3 * H + j] = og;
          cr[j] = cn;
          hr[j] = hn;
          o[j] = hn;
          if (cs_out) cs_out[j] = cn;
        }
      }
    }
    if (hnl) memcpy(hnl + d * nh + (size_t)n0 * H, h, rows * sizeof(float));
    if (cnl) memcpy(cnl + d * nh + (size_t)n0 * H, c, rows * sizeof(float));
  }
}

/* Row offset of layer l's [dirs][N, H] block in h0 / h_n; NULL stays NULL. */
static const float *pb_lstm_state_rows(const float *a, const pb_lstm_dims *m, int l) {
  return a ? a + (size_t)l * m->dirs * m->N * m->H : NULL;
}

void pb_lstm_fwd_train_cpu(float *y, float *h_n, float *c_n, float *reserve, const float *x, const float *h0,
                           const float *c0, const float *w, const int32_t *lengths, uint64_t seed, uint64_t stream,
                           const pb_lstm_params *p, const pb_scratch *s) {
  const pb_lstm_dims m = pb_lstm_dims_of(p);
  const pb_lstm_ws ws = pb_lstm_ws_of(p, &m, s);
  const int nt = pb_lstm_nt(s), drop = p->dropout > 0.0f;
  const float *in = x;
  for (int l = 0; l < m.L; l++) {
    float *g[2], *cst[2];
    for (int d = 0; d < m.dirs; d++) {
      g[d] = reserve + pb_lstm_rs_gc(&m, l, d);
      cst[d] = g[d] + m.tn * 4 * m.H;
    }
    float *out = l == m.L - 1 ? y : reserve + pb_lstm_rs_y(&m, l, drop);
    pb_lstm_layer_fwd(out, h_n ? h_n + (size_t)l * m.dirs * m.N * m.H : NULL,
                      c_n ? c_n + (size_t)l * m.dirs * m.N * m.H : NULL, g, cst, ws.hs, ws.cs, in, l,
                      pb_lstm_state_rows(h0, &m, l), pb_lstm_state_rows(c0, &m, l), w, lengths, &m, nt);
    if (l < m.L - 1 && drop) {
      float *xd = out + m.tn * m.out, *sc = xd + m.tn * m.out;
      pb_lstm_dropout_fwd(xd, sc, out, l + 1, seed, stream, p->dropout, &m, nt);
      in = xd;
    } else {
      in = out;
    }
  }
}

void pb_lstm_fwd_eval_cpu(float *y, float *h_n, float *c_n, const float *x, const float *h0, const float *c0,
                          const float *w, const int32_t *lengths, const pb_lstm_params *p, const pb_scratch *s) {
  const pb_lstm_dims m = pb_lstm_dims_of(p);
  const pb_lstm_ws ws = pb_lstm_ws_of(p, &m, s);
  const int nt = pb_lstm_nt(s);
  float *g[2] = {ws.g, ws.g + m.tn * 4 * m.H}, *const nocst[2] = {NULL, NULL};
  const float *in = x;
  for (int l = 0; l < m.L; l++) {
    float *out = l == m.L - 1 ? y : (l % 2 ? ws.buf1 : ws.buf0);
    pb_lstm_layer_fwd(out, h_n ? h_n + (size_t)l * m.dirs * m.N * m.H : NULL,
                      c_n ? c_n + (size_t)l * m.dirs * m.N * m.H : NULL, g, nocst, ws.hs, ws.cs, in, l,
                      pb_lstm_state_rows(h0, &m, l), pb_lstm_state_rows(c0, &m, l), w, lengths, &m, nt);
    in = out;
  }
}

/* ------------------------------------------------------------------ backward */

/* The recurrence backward of layer l: dg[d] [T*N, 4H] (pre-activation gate gradients, 0 at
 * inactive rows) and hprev[d] [T*N, H] overwritten; dh0l, dc0l: the layer's rows of dh0, dc0
 * (NULL: not written). dyl [T*N, dirs*H] the gradient of the layer's output (NULL: zero);
 * yl the output itself; gates, cells from the reserve. */
static void pb_lstm_layer_bwd_rec(float *const dg[2], float *const hprev[2], float *dh0l, float *dc0l,
                                  const pb_lstm_ws *ws, const float *dyl, const float *dhnl, const float *dcnl,
                                  const float *yl, const float *h0l, const float *c0l, const float *reserve,
                                  const float *w, int l, const int32_t *len, const pb_lstm_dims *m, int nt) {
  const int H = m->H, G4 = 4 * H, N = m->N, T = m->T;
  const size_t nh = (size_t)N * H;
  const int nbb = pb_lstm_blocks((size_t)N, PB_LSTM_NB);
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int task = 0; task < m->dirs * nbb; task++) {
    const int d = task / nbb, n0 = (task % nbb) * PB_LSTM_NB, n1 = PB_MIN(N, n0 + PB_LSTM_NB);
    const pb_lstm_wp wp = pb_lstm_wp_of(m, w, l, d);
    const float *gates = reserve + pb_lstm_rs_gc(m, l, d), *cells = gates + m->tn * G4;
    const size_t rows = (size_t)(n1 - n0) * H;
    float *dh = ws->hs + d * nh + (size_t)n0 * H, *dc = ws->cs + d * nh + (size_t)n0 * H;
    float *tmp = ws->tmp + d * nh + (size_t)n0 * H;
    if (dhnl) memcpy(dh, dhnl + d * nh + (size_t)n0 * H, rows * sizeof(float));
    else memset(dh, 0, rows * sizeof(float));
    if (dcnl) memcpy(dc, dcnl + d * nh + (size_t)n0 * H, rows * sizeof(float));
    else memset(dc, 0, rows * sizeof(float));
    /* Hprev: the state each active step started from (zeros at inactive rows) */
    for (int t = 0; t < T; t++)
      for (int n = n0; n < n1; n++) {
        float *hp = hprev[d] + ((size_t)t * N + n) * H;
        const int first = d == 0 ? t == 0 : t == len[n] - 1;
        if (t >= len[n]) memset(hp, 0, sizeof(float) * H);
        else if (first && h0l) memcpy(hp, h0l + d * nh + (size_t)n * H, sizeof(float) * H);
        else if (first) memset(hp, 0, sizeof(float) * H);
        else memcpy(hp, yl + ((size_t)(d == 0 ? t - 1 : t + 1) * N + n) * m->out + (size_t)d * H, sizeof(float) * H);
      }
    for (int s = 0; s < T; s++) {
      const int t = d == 0 ? T - 1 - s : s;
      for (int n = n0; n < n1; n++) {
        const size_t r = (size_t)t * N + n;
        float *dgr = dg[d] + r * G4;
        if (t >= len[n]) {
          memset(dgr, 0, sizeof(float) * G4);
          continue;
        }
        const int first = d == 0 ? t == 0 : t == len[n] - 1;
        const float *gr = gates + r * G4, *cr = cells + r * H;
        const float *cp = first ? (c0l ? c0l + d * nh + (size_t)n * H : NULL)
                                : cells + ((size_t)(d == 0 ? t - 1 : t + 1) * N + n) * H;
        const float *dyr = dyl ? dyl + r * m->out + (size_t)d * H : NULL;
        float *dhr = dh + (size_t)(n - n0) * H, *dcr = dc + (size_t)(n - n0) * H;
        for (int j = 0; j < H; j++) {
          const float ig = gr[j], fg = gr[H + j], gg = gr[2 * H + j], og = gr[3 * H + j];
          const float hgrad = dyr ? dhr[j] + dyr[j] : dhr[j];
          const float tc = tanhf(cr[j]);
          const float cgrad = dcr[j] + hgrad * og * (1.0f - tc * tc);
          const float cprev = cp ? cp[j] : 0.0f;
          dgr[j] = cgrad * gg * ig * (1.0f - ig);
          dgr[H + j] = cgrad * cprev * fg * (1.0f - fg);
          dgr[2 * H + j] = cgrad * ig * (1.0f - gg * gg);
          dgr[3 * H + j] = hgrad * tc * og * (1.0f - og);
          dcr[j] = cgrad * fg;
        }
      }
      /* dh for the previous step = dG W_hh; inactive rows keep their carry */
      pb_sgemm_cpu(0, 0, n1 - n0, H, G4, 1.0f, dg[d] + ((size_t)t * N + n0) * G4, G4, wp.hh, H, 0.0f, tmp, H);
      for (int n = n0; n < n1; n++)
        if (t < len[n]) memcpy(dh + (size_t)(n - n0) * H, tmp + (size_t)(n - n0) * H, sizeof(float) * H);
    }
    if (dh0l) memcpy(dh0l + d * nh + (size_t)n0 * H, dh, rows * sizeof(float));
    if (dc0l) memcpy(dc0l + d * nh + (size_t)n0 * H, dc, rows * sizeof(float));
  }
}

/* dW_ih += dG^T X, dW_hh += dG^T Hprev, db_ih, db_hh += column sums of dG (in double, rows in
 * order), in blocks of PB_LSTM_RB gate rows. */
static void pb_lstm_layer_bwd_w(float *dw, float *const dg[2], float *const hprev[2], const float *xl, int l,
                                const pb_lstm_dims *m, int nt) {
  const int H = m->H, G4 = 4 * H, in_size = pb_lstm_in(m, l), tn = (int)m->tn;
  const int nb = pb_lstm_blocks((size_t)G4, PB_LSTM_RB);
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int task = 0; task < m->dirs * 2 * nb; task++) {
    const int d = task / (2 * nb), hh = (task / nb) % 2, r0 = (task % nb) * PB_LSTM_RB;
    const int r1 = PB_MIN(G4, r0 + PB_LSTM_RB);
    const pb_lstm_wp dwp = pb_lstm_wp_of(m, dw, l, d);
    if (hh) {
      pb_sgemm_cpu(1, 0, r1 - r0, H, tn, 1.0f, dg[d] + r0, G4, hprev[d], H, 1.0f, dwp.hh + (size_t)r0 * H, H);
      continue;
    }
    pb_sgemm_cpu(1, 0, r1 - r0, in_size, tn, 1.0f, dg[d] + r0, G4, xl, in_size, 1.0f,
                 dwp.ih + (size_t)r0 * in_size, in_size);
    for (int j = r0; j < r1; j++) {
      double acc = 0.0;
      for (size_t r = 0; r < m->tn; r++) acc += (double)dg[d][r * G4 + j];
      dwp.bih[j] += (float)acc;
      dwp.bhh[j] += (float)acc;
    }
  }
}

/* dxl [T*N, in] = sum_d dG_d W_ih_d (overwritten), in blocks of PB_LSTM_RB rows. */
static void pb_lstm_layer_bwd_x(float *dxl, float *const dg[2], const float *w, int l, const pb_lstm_dims *m,
                                int nt) {
  const int G4 = 4 * m->H, in_size = pb_lstm_in(m, l);
  const int nb = pb_lstm_blocks(m->tn, PB_LSTM_RB);
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int b = 0; b < nb; b++) {
    const size_t r0 = (size_t)b * PB_LSTM_RB, r1 = PB_MIN(m->tn, r0 + PB_LSTM_RB);
    for (int d = 0; d < m->dirs; d++) {
      const pb_lstm_wp wp = pb_lstm_wp_of(m, w, l, d);
      pb_sgemm_cpu(0, 0, (int)(r1 - r0), in_size, G4, 1.0f, dg[d] + r0 * G4, G4, wp.ih, in_size, d ? 1.0f : 0.0f,
                   dxl + r0 * in_size, in_size);
    }
  }
}

void pb_lstm_bwd_cpu(float *dx, float *dh0, float *dc0, float *dw, const float *dy, const float *dh_n,
                     const float *dc_n, const float *x, const float *h0, const float *c0, const float *w,
                     const float *y, const int32_t *lengths, const float *reserve, const pb_lstm_params *p,
                     const pb_scratch *s) {
  const pb_lstm_dims m = pb_lstm_dims_of(p);
  const pb_lstm_ws ws = pb_lstm_ws_of(p, &m, s);
  const int nt = pb_lstm_nt(s), drop = p->dropout > 0.0f;
  float *dg[2] = {ws.g, ws.g + m.tn * 4 * m.H}, *hprev[2] = {ws.hprev, ws.hprev + m.tn * m.H};
  const float *dyl = dy; /* the gradient of the current layer's output */
  for (int l = m.L - 1; l >= 0; l--) {
    const size_t st = (size_t)l * m.dirs * m.N * m.H;
    const float *yl = l == m.L - 1 ? y : reserve + pb_lstm_rs_y(&m, l, drop);
    /* the layer's input: x, the previous layer's output, or its dropped version */
    const float *xl = l == 0 ? x : reserve + pb_lstm_rs_y(&m, l - 1, drop) + (drop ? m.tn * m.out : 0);
    pb_lstm_layer_bwd_rec(dg, hprev, dh0 ? dh0 + st : NULL, dc0 ? dc0 + st : NULL, &ws, dyl,
                          dh_n ? dh_n + st : NULL, dc_n ? dc_n + st : NULL, yl, pb_lstm_state_rows(h0, &m, l),
                          pb_lstm_state_rows(c0, &m, l), reserve, w, l, lengths, &m, nt);
    pb_lstm_layer_bwd_w(dw, dg, hprev, xl, l, &m, nt);
    if (l == 0) {
      if (dx) pb_lstm_layer_bwd_x(dx, dg, w, 0, &m, nt);
      break;
    }
    /* the previous layer's output gradient, through the dropout's scale */
    float *dxl = dyl == ws.buf0 ? ws.buf1 : ws.buf0;
    pb_lstm_layer_bwd_x(dxl, dg, w, l, &m, nt);
    if (drop) {
      const float *sc = xl + m.tn * m.out;
      const size_t n = m.tn * m.out;
      for (size_t e = 0; e < n; e++) dxl[e] *= sc[e];
    }
    dyl = dxl;
  }
}
