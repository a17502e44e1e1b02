/* test_grad_lstm.c: the CPU LSTM op (kernels/cpu/lstm.c; contract in ops.h "LSTM") against a
 * float64 reimplementation written here with plain loops from the contract (one sequence, one
 * step, one gate at a time; no GEMM, no reserve), and its gradients against central differences
 * of that reimplementation. The PyTorch goldens are test_golden_lstm.c.
 *
 *  1. Forward: the training forward's y, h_n, c_n against the float64 forward on the same
 *     float inputs (and the same dropout mask, from pb_lstm_dropout_mask_cpu): |got - ref| <=
 *     FWD_ATOL + FWD_RTOL |ref| (float32 gates and state: rounding ~1e-7 of O(1) values through
 *     a few steps and layers: measured <= 1e-7, 0.05 of the tolerance).
 *  2. Gradients of loss = sum(y*wy) + sum(h_n*wh) + sum(c_n*wc): the op's backward (dy = wy,
 *     dh_n = wh, dc_n = wc) against central differences of the float64 loss, step FD_H = 1e-5:
 *     truncation O(FD_H^2 |loss'''|) ~ 1e-10 and rounding ~1e-16 |loss| / FD_H ~ 1e-10, far
 *     below the float op's own error. Every entry of x, h0 and c0 (a sample of 40 for the big
 *     case) and 8 entries of every weight tensor (first, last, 6 drawn). Per tensor,
 *     |g - fd| <= FD_ATOL * max|g over the tensor| + FD_RTOL |fd|: the op's float32 gradient
 *     carries ~1e-7 of the tensor's scale (measured <= 1.2e-7: 0.06 of the tolerance, printed
 *     per case); a wrong term, factor or step shows at O(max|g|) (a dropout scale left out of
 *     the backward: 1e3 times the tolerance). Cases: L 1, 2, 3, uni and
 *     bidirectional, equal and ragged lengths (1 and T included), h0/c0 given or NULL (the
 *     gradient at the zero state), dropout 0 and 0.3 (the mask the reimplementation uses is
 *     the op's: pb_lstm_dropout_mask_cpu; step 3 checks it against the formula), one case with
 *     N 37, H 20 so that several batch and row blocks exist.
 *  3. Exact properties (bitwise): nthreads 1..4 agree; the evaluation forward equals the
 *     training forward when dropout is 0 or L is 1, and differs when it drops; dropout 0 gives
 *     the same results for any seed, and equals the dropout path when nothing is dropped
 *     (p = 1e-9: every element kept, scale 1.0f); pb_lstm_dropout_mask_cpu follows the ops.h
 *     formula, layers and streams draw different masks, and the dropped fraction of ~400k
 *     draws per layer is within 5 sigma of p for p = 0.1, 0.3, 0.5; padded rows of y and dx are
 *     exactly 0; dx, dh0, dc0 overwrite (pre-filled with NaN); NULL h_n / c_n / dx / dh0 / dc0
 *     change nothing else; dy == NULL equals dy = 0; dw accumulates (r + g within 1e-6). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/pb_common.h"
#include "kernels/pb_rng.h"
#include "test/testutil.h"

#define FWD_ATOL 2e-6
#define FWD_RTOL 1e-5
#define FD_H 1e-5
#define FD_ATOL 2e-6
#define FD_RTOL 1e-4

/* ------------------------------------------------------------------ a case and its data */

typedef struct lcase {
  const char *name;
  pb_lstm_params p;
  int has_h0;
  int32_t len[64]; /* 0-terminated list, or len[0] == 0 for all T */
  int fd_sample;   /* 0: every entry of x, h0, c0; else this many drawn */
  uint64_t seed;
} lcase;

typedef struct ldata {
  pb_lstm_params p;
  int dirs;
  size_t ny, nh, nx, nw;
  int32_t *len;
  float *x, *h0, *c0, *w, *wy, *wh, *wc; /* h0, c0 NULL when the case has none */
  uint8_t *mask[8];                      /* per layer l >= 1 when dropout > 0 */
  uint64_t seed, stream;
  pb_scratch s;
  float *reserve;
} ldata;

static void ldata_init(ldata *d, const lcase *c) {
  memset(d, 0, sizeof *d);
  d->p = c->p;
  const pb_lstm_params *p = &d->p;
  d->dirs = p->bidirectional ? 2 : 1;
  const size_t T = (size_t)p->seq_len, N = (size_t)p->batch, H = (size_t)p->hidden_size;
  d->ny = T * N * d->dirs * H, d->nh = (size_t)p->num_layers * d->dirs * N * H, d->nx = T * N * p->input_size;
  d->nw = pb_lstm_weight_floats(p);
  d->len = malloc(N * sizeof(int32_t));
  for (size_t n = 0; n < N; n++) d->len[n] = c->len[0] ? c->len[n] : p->seq_len;
  d->x = malloc(d->nx * 4), d->w = malloc(d->nw * 4);
  d->wy = malloc(d->ny * 4), d->wh = malloc(d->nh * 4), d->wc = malloc(d->nh * 4);
  pb_test_fill_uniform(d->x, d->nx, -1.0f, 1.0f, c->seed); /* padded steps too: must be ignored */
  const float k = 1.0f / sqrtf((float)H);
  pb_test_fill_uniform(d->w, d->nw, -k, k, c->seed + 1);
  pb_test_fill_uniform(d->wy, d->ny, -1.0f, 1.0f, c->seed + 2);
  pb_test_fill_uniform(d->wh, d->nh, -1.0f, 1.0f, c->seed + 3);
  pb_test_fill_uniform(d->wc, d->nh, -1.0f, 1.0f, c->seed + 4);
  if (c->has_h0) {
    d->h0 = malloc(d->nh * 4), d->c0 = malloc(d->nh * 4);
    pb_test_fill_uniform(d->h0, d->nh, -1.0f, 1.0f, c->seed + 5);
    pb_test_fill_uniform(d->c0, d->nh, -2.0f, 2.0f, c->seed + 6);
  }
  d->seed = c->seed * 7 + 3, d->stream = PB_RNG_STREAM(PB_RNG_DROPOUT, c->seed);
  for (int l = 1; l < p->num_layers && p->dropout > 0.0f; l++) {
    d->mask[l] = malloc(T * N * d->dirs * H);
    pb_lstm_dropout_mask_cpu(d->mask[l], l, d->seed, d->stream, p);
  }
  d->s.floats = pb_lstm_scratch_cpu(p);
  d->s.buf = malloc(d->s.floats * 4);
  d->s.nthreads = 2;
  d->reserve = malloc(pb_lstm_reserve_cpu(p) * 4);
}

static void ldata_free(ldata *d) {
  free(d->len), free(d->x), free(d->w), free(d->wy), free(d->wh), free(d->wc), free(d->h0), free(d->c0);
  for (int l = 0; l < 8; l++) free(d->mask[l]);
  free(d->s.buf), free(d->reserve);
}

/* The op's results for one set of inputs. */
typedef struct lres {
  float *y, *hn, *cn, *dx, *dh0, *dc0, *dw;
} lres;

static void lres_alloc(lres *r, const ldata *d) {
  r->y = calloc(d->ny, 4), r->hn = calloc(d->nh, 4), r->cn = calloc(d->nh, 4);
  r->dx = calloc(d->nx, 4), r->dh0 = calloc(d->nh, 4), r->dc0 = calloc(d->nh, 4), r->dw = calloc(d->nw, 4);
}

static void lres_free(lres *r) {
  free(r->y), free(r->hn), free(r->cn), free(r->dx), free(r->dh0), free(r->dc0), free(r->dw);
}

/* Training forward and backward (dy = wy, dh_n = wh, dc_n = wc; dw from zero). */
static void run_op(lres *r, ldata *d, int nthreads) {
  d->s.nthreads = nthreads;
  memset(r->dw, 0, d->nw * 4);
  pb_lstm_fwd_train_cpu(r->y, r->hn, r->cn, d->reserve, d->x, d->h0, d->c0, d->w, d->len, d->seed, d->stream, &d->p,
                        &d->s);
  pb_lstm_bwd_cpu(r->dx, r->dh0, r->dc0, r->dw, d->wy, d->wh, d->wc, d->x, d->h0, d->c0, d->w, r->y, d->len,
                  d->reserve, &d->p, &d->s);
}

static int same(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof(float)) == 0; }

static int lres_same(const lres *a, const lres *b, const ldata *d) {
  return same(a->y, b->y, d->ny) && same(a->hn, b->hn, d->nh) && same(a->cn, b->cn, d->nh) &&
         same(a->dx, b->dx, d->nx) && same(a->dh0, b->dh0, d->nh) && same(a->dc0, b->dc0, d->nh) &&
         same(a->dw, b->dw, d->nw);
}

/* ------------------------------------------------------------------ the float64 reimplementation */

/* Inputs of the float64 forward: copies of the float data (h0, c0 zeros when absent). */
typedef struct dref {
  const ldata *d;
  double *x, *h0, *c0, *w;
} dref;

static double *to_d(const float *a, size_t n) {
  double *r = calloc(n ? n : 1, sizeof(double));
  for (size_t i = 0; a && i < n; i++) r[i] = a[i];
  return r;
}

static void dref_init(dref *r, const ldata *d) {
  r->d = d;
  r->x = to_d(d->x, d->nx), r->h0 = to_d(d->h0, d->nh), r->c0 = to_d(d->c0, d->nh), r->w = to_d(d->w, d->nw);
}

static void dref_free(dref *r) { free(r->x), free(r->h0), free(r->c0), free(r->w); }

static double sigm(double v) { return 1.0 / (1.0 + exp(-v)); }

/* Offset of tensor k (0 W_ih, 1 W_hh, 2 b_ih, 3 b_hh) of (l, dir): PyTorch's order, packed. */
static size_t woff(const pb_lstm_params *p, int l, int dir, int k) {
  const size_t H = (size_t)p->hidden_size, dirs = p->bidirectional ? 2 : 1;
  size_t off = 0;
  for (int ll = 0; ll <= l; ll++) {
    const size_t in = ll == 0 ? (size_t)p->input_size : dirs * H;
    const size_t sz[4] = {4 * H * in, 4 * H * H, 4 * H, 4 * H};
    for (int dd = 0; dd < (int)dirs; dd++)
      for (int kk = 0; kk < 4; kk++) {
        if (ll == l && dd == dir && kk == k) return off;
        off += sz[kk];
      }
  }
  PB_FATAL("woff: no tensor %d of (%d, %d)", k, l, dir);
}

/* y [T, N, dirs*H], hn, cn [L*dirs, N, H]; returns the loss. Plain loops over sequences,
 * steps, gates. */
static double ref_fwd(const dref *r, double *y, double *hn, double *cn) {
  const ldata *d = r->d;
  const pb_lstm_params *p = &d->p;
  const int T = p->seq_len, N = p->batch, H = p->hidden_size, dirs = d->dirs, out = dirs * H;
  double *in = malloc(sizeof(double) * (size_t)T * N * PB_MAX(p->input_size, out));
  double *ol = malloc(sizeof(double) * (size_t)T * N * out);
  double *g = malloc(sizeof(double) * 4 * H), *h = malloc(sizeof(double) * H), *c = malloc(sizeof(double) * H);
  memcpy(in, r->x, sizeof(double) * d->nx);
  const double keep = 1.0 / (1.0 - (double)p->dropout);
  for (int l = 0; l < p->num_layers; l++) {
    const int isz = l == 0 ? p->input_size : out;
    double *o = l == p->num_layers - 1 ? y : ol;
    memset(o, 0, sizeof(double) * (size_t)T * N * out);
    for (int dir = 0; dir < dirs; dir++) {
      const double *wih = r->w + woff(p, l, dir, 0), *whh = r->w + woff(p, l, dir, 1);
      const double *bih = r->w + woff(p, l, dir, 2), *bhh = r->w + woff(p, l, dir, 3);
      for (int n = 0; n < N; n++) {
        const size_t srow = ((size_t)(l * dirs + dir) * N + n) * H;
        for (int j = 0; j < H; j++) h[j] = r->h0[srow + j], c[j] = r->c0[srow + j];
        for (int s = 0; s < d->len[n]; s++) {
          const int t = dir == 0 ? s : d->len[n] - 1 - s;
          const double *xt = in + ((size_t)t * N + n) * isz;
          for (int q = 0; q < 4 * H; q++) {
            double a = bih[q] + bhh[q];
            for (int k = 0; k < isz; k++) a += wih[(size_t)q * isz + k] * xt[k];
            for (int k = 0; k < H; k++) a += whh[(size_t)q * H + k] * h[k];
            g[q] = a;
          }
          for (int j = 0; j < H; j++) {
            const double ig = sigm(g[j]), fg = sigm(g[H + j]), gg = tanh(g[2 * H + j]), og = sigm(g[3 * H + j]);
            c[j] = fg * c[j] + ig * gg;
            h[j] = og * tanh(c[j]);
            o[((size_t)t * N + n) * out + (size_t)dir * H + j] = h[j];
          }
        }
        for (int j = 0; j < H; j++) hn[srow + j] = h[j], cn[srow + j] = c[j];
      }
    }
    if (l + 1 < p->num_layers) { /* the next layer's input, through dropout */
      for (size_t e = 0; e < (size_t)T * N * out; e++)
        in[e] = d->mask[l + 1] ? (d->mask[l + 1][e] ? o[e] * keep : 0.0) : o[e];
    }
  }
  double loss = 0;
  for (size_t e = 0; e < d->ny; e++) loss += y[e] * d->wy[e];
  for (size_t e = 0; e < d->nh; e++) loss += hn[e] * d->wh[e] + cn[e] * d->wc[e];
  free(in), free(ol), free(g), free(h), free(c);
  return loss;
}

static double ref_loss(const dref *r) {
  double *y = malloc(sizeof(double) * r->d->ny), *hn = malloc(sizeof(double) * r->d->nh);
  double *cn = malloc(sizeof(double) * r->d->nh);
  const double v = ref_fwd(r, y, hn, cn);
  free(y), free(hn), free(cn);
  return v;
}

/* ------------------------------------------------------------------ 1, 2: forward and gradients */

static double g_fwd_worst, g_fd_worst;

static double cmp_fwd(const char *c, const char *what, const float *got, const double *ref, size_t n) {
  double worst = 0;
  size_t wi = 0;
  for (size_t i = 0; i < n; i++) {
    const double q = fabs(got[i] - ref[i]) / (FWD_ATOL + FWD_RTOL * fabs(ref[i]));
    if (!(q <= worst)) worst = isnan(q) ? INFINITY : q, wi = i;
  }
  PB_CHECK_MSG(worst <= 1.0, "%s %s: [%zu] got %.9g ref %.9g: %.3g of the tolerance", c, what, wi, got[wi], ref[wi],
               worst);
  g_fwd_worst = fmax(g_fwd_worst, worst);
  return worst;
}

/* Central differences of the loss in v[idx[i]] against g[idx[i]]; scale = max|g| over the
 * whole tensor g[0..n). */
static double check_fd(const char *c, const char *what, const dref *r, double *v, const float *g, size_t n,
                       const size_t *idx, size_t m) {
  double scale = 0, worst = 0;
  for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(g[i]));
  for (size_t i = 0; i < m; i++) {
    const size_t e = idx[i];
    const double keep = v[e];
    v[e] = keep + FD_H;
    const double lp = ref_loss(r);
    v[e] = keep - FD_H;
    const double lm = ref_loss(r);
    v[e] = keep;
    const double fd = (lp - lm) / (2 * FD_H);
    const double q = fabs(g[e] - fd) / (FD_ATOL * scale + FD_RTOL * fabs(fd) + 1e-300);
    PB_CHECK_MSG(q <= 1.0, "%s d%s[%zu]: op %.9g, finite differences %.9g (max|g| %.3g): %.3g of the tolerance", c,
                 what, e, g[e], fd, scale, q);
    worst = fmax(worst, isnan(q) ? INFINITY : q);
  }
  g_fd_worst = fmax(g_fd_worst, worst);
  return worst;
}

/* Every index, or `sample` drawn (with the first and last). */
static size_t pick(size_t *idx, size_t n, size_t sample, uint64_t seed) {
  if (!sample || sample >= n) {
    for (size_t i = 0; i < n; i++) idx[i] = i;
    return n;
  }
  idx[0] = 0, idx[1] = n - 1;
  for (size_t i = 2; i < sample; i++) idx[i] = (size_t)pb_rng_below(seed, 5, i, n);
  return sample;
}

static void check_case(const lcase *c) {
  ldata d;
  ldata_init(&d, c);
  lres r;
  lres_alloc(&r, &d);
  run_op(&r, &d, 2);
  dref dr;
  dref_init(&dr, &d);
  double *y = malloc(sizeof(double) * d.ny), *hn = malloc(sizeof(double) * d.nh), *cn = malloc(sizeof(double) * d.nh);
  ref_fwd(&dr, y, hn, cn);
  double fwd = cmp_fwd(c->name, "y", r.y, y, d.ny);
  fwd = fmax(fwd, cmp_fwd(c->name, "h_n", r.hn, hn, d.nh));
  fwd = fmax(fwd, cmp_fwd(c->name, "c_n", r.cn, cn, d.nh));
  free(y), free(hn), free(cn);

  size_t *idx = malloc(sizeof(size_t) * (d.nx + d.nh + 8));
  double worst = 0;
  size_t m = pick(idx, d.nx, (size_t)c->fd_sample, c->seed + 10);
  worst = fmax(worst, check_fd(c->name, "x", &dr, dr.x, r.dx, d.nx, idx, m));
  m = pick(idx, d.nh, (size_t)c->fd_sample, c->seed + 11);
  worst = fmax(worst, check_fd(c->name, "h0", &dr, dr.h0, r.dh0, d.nh, idx, m));
  m = pick(idx, d.nh, (size_t)c->fd_sample, c->seed + 12);
  worst = fmax(worst, check_fd(c->name, "c0", &dr, dr.c0, r.dc0, d.nh, idx, m));
  for (int t = 0; t < pb_lstm_weight_count(&d.p); t++) {
    const pb_lstm_weight wt = pb_lstm_weight_at(&d.p, t);
    const size_t cnt = (size_t)wt.shape[0] * wt.shape[1];
    m = pick(idx, cnt, 8, c->seed + 20 + t);
    worst = fmax(worst, check_fd(c->name, wt.name, &dr, dr.w + wt.offset, r.dw + wt.offset, cnt, idx, m));
  }
  /* padded rows: y and dx exactly 0 */
  const int T = d.p.seq_len, N = d.p.batch;
  int padded_ok = 1;
  for (int t = 0; t < T; t++)
    for (int n = 0; n < N; n++) {
      if (t < d.len[n]) continue;
      for (int j = 0; j < d.dirs * d.p.hidden_size; j++) padded_ok &= r.y[((size_t)t * N + n) * d.dirs * d.p.hidden_size + j] == 0.0f;
      for (int j = 0; j < d.p.input_size; j++) padded_ok &= r.dx[((size_t)t * N + n) * d.p.input_size + j] == 0.0f;
    }
  PB_CHECK_MSG(padded_ok, "%s: padded rows of y or dx are not 0", c->name);
  printf("%-16s T %d N %d D %d H %d L %d dirs %d h0 %d p %.1f: forward within %.3f, gradients %.3f of the tolerance\n",
         c->name, T, N, d.p.input_size, d.p.hidden_size, d.p.num_layers, d.dirs, c->has_h0, d.p.dropout, fwd, worst);
  free(idx);
  dref_free(&dr);
  lres_free(&r);
  ldata_free(&d);
}

/* ------------------------------------------------------------------ 3. exact properties */

static void check_exact(const lcase *c) {
  ldata d;
  ldata_init(&d, c);
  lres a, b;
  lres_alloc(&a, &d), lres_alloc(&b, &d);
  run_op(&a, &d, 1);
  for (int nt = 2; nt <= 4; nt++) {
    run_op(&b, &d, nt);
    PB_CHECK_MSG(lres_same(&a, &b, &d), "%s: %d threads differ from 1", c->name, nt);
  }
  /* evaluation forward: equal without dropout (or with one layer), different when it drops */
  float *ye = malloc(d.ny * 4), *he = malloc(d.nh * 4), *ce = malloc(d.nh * 4);
  pb_lstm_fwd_eval_cpu(ye, he, ce, d.x, d.h0, d.c0, d.w, d.len, &d.p, &d.s);
  if (d.p.dropout == 0.0f || d.p.num_layers == 1)
    PB_CHECK_MSG(same(ye, a.y, d.ny) && same(he, a.hn, d.nh) && same(ce, a.cn, d.nh),
                 "%s: evaluation forward != training forward", c->name);
  else
    PB_CHECK_MSG(!same(ye, a.y, d.ny), "%s: evaluation forward equals training forward with dropout", c->name);
  /* NULL h_n / c_n change nothing; NaN-filled dx, dh0, dc0 are overwritten; dw accumulates */
  memset(b.y, 0, d.ny * 4);
  pb_lstm_fwd_train_cpu(b.y, NULL, NULL, d.reserve, d.x, d.h0, d.c0, d.w, d.len, d.seed, d.stream, &d.p, &d.s);
  PB_CHECK_MSG(same(a.y, b.y, d.ny), "%s: y depends on h_n/c_n being NULL", c->name);
  for (size_t i = 0; i < d.nx; i++) b.dx[i] = NAN;
  for (size_t i = 0; i < d.nh; i++) b.dh0[i] = NAN, b.dc0[i] = NAN;
  float *r0 = malloc(d.nw * 4);
  pb_test_fill_uniform(r0, d.nw, -1.0f, 1.0f, c->seed + 99);
  memcpy(b.dw, r0, d.nw * 4);
  pb_lstm_bwd_cpu(b.dx, b.dh0, b.dc0, b.dw, d.wy, d.wh, d.wc, d.x, d.h0, d.c0, d.w, a.y, d.len, d.reserve, &d.p, &d.s);
  PB_CHECK_MSG(same(a.dx, b.dx, d.nx) && same(a.dh0, b.dh0, d.nh) && same(a.dc0, b.dc0, d.nh),
               "%s: dx/dh0/dc0 do not overwrite", c->name);
  int acc_ok = 1;
  for (size_t i = 0; i < d.nw; i++)
    acc_ok &= fabs((double)b.dw[i] - ((double)r0[i] + a.dw[i])) <= 1e-6 * (fabs(r0[i]) + fabs(a.dw[i])) + 1e-30;
  PB_CHECK_MSG(acc_ok, "%s: dw does not accumulate", c->name);
  /* NULL dx, dh0, dc0: the same dw; dy NULL equals dy = 0 */
  memset(b.dw, 0, d.nw * 4);
  pb_lstm_bwd_cpu(NULL, NULL, NULL, b.dw, d.wy, d.wh, d.wc, d.x, d.h0, d.c0, d.w, a.y, d.len, d.reserve, &d.p, &d.s);
  PB_CHECK_MSG(same(a.dw, b.dw, d.nw), "%s: dw depends on dx/dh0/dc0 being NULL", c->name);
  float *zeros = calloc(d.ny, 4);
  lres z;
  lres_alloc(&z, &d);
  pb_lstm_bwd_cpu(z.dx, z.dh0, z.dc0, z.dw, zeros, d.wh, NULL, d.x, d.h0, d.c0, d.w, a.y, d.len, d.reserve, &d.p,
                  &d.s);
  memset(b.dw, 0, d.nw * 4);
  pb_lstm_bwd_cpu(b.dx, b.dh0, b.dc0, b.dw, NULL, d.wh, NULL, d.x, d.h0, d.c0, d.w, a.y, d.len, d.reserve, &d.p, &d.s);
  PB_CHECK_MSG(same(z.dx, b.dx, d.nx) && same(z.dh0, b.dh0, d.nh) && same(z.dc0, b.dc0, d.nh) && same(z.dw, b.dw, d.nw),
               "%s: dy NULL differs from dy = 0", c->name);
  lres_free(&z);
  free(zeros), free(r0), free(ye), free(he), free(ce);
  lres_free(&a), lres_free(&b);
  ldata_free(&d);
}

/* Dropout 0 with any seed, and the dropout path keeping everything (p = 1e-9, scale 1.0f),
 * give bitwise the results of no dropout. */
static void check_dropout_zero(const lcase *c) {
  lcase c2 = *c;
  c2.p.dropout = 0.0f;
  ldata d;
  ldata_init(&d, &c2);
  lres a, b;
  lres_alloc(&a, &d), lres_alloc(&b, &d);
  run_op(&a, &d, 2);
  d.seed += 12345, d.stream += 1;
  run_op(&b, &d, 2);
  PB_CHECK_MSG(lres_same(&a, &b, &d), "%s: dropout 0 depends on the seed", c->name);
  d.p.dropout = 1e-9f;
  PB_CHECK(1.0f / (1.0f - d.p.dropout) == 1.0f);
  free(d.reserve);
  d.reserve = malloc(pb_lstm_reserve_cpu(&d.p) * 4);
  int all_kept = 1;
  uint8_t *mk = malloc(d.ny);
  for (int l = 1; l < d.p.num_layers; l++) {
    pb_lstm_dropout_mask_cpu(mk, l, d.seed, d.stream, &d.p);
    for (size_t e = 0; e < d.ny; e++) all_kept &= mk[e];
  }
  free(mk);
  PB_CHECK(all_kept);
  run_op(&b, &d, 2);
  PB_CHECK_MSG(lres_same(&a, &b, &d), "%s: the dropout path keeping everything differs from no dropout", c->name);
  lres_free(&a), lres_free(&b);
  ldata_free(&d);
}

/* The mask: the ops.h formula, different per layer and stream, the dropped fraction ~ p. */
static void check_mask(void) {
  const pb_lstm_params p0 = {.seq_len = 50, .batch = 64, .input_size = 5, .hidden_size = 64, .num_layers = 3,
                             .bidirectional = 1, .dropout = 0.3f};
  const size_t n = (size_t)50 * 64 * 128;
  uint8_t *m1 = malloc(n), *m2 = malloc(n), *m3 = malloc(n);
  const float ps[3] = {0.1f, 0.3f, 0.5f};
  for (int k = 0; k < 3; k++) {
    pb_lstm_params p = p0;
    p.dropout = ps[k];
    for (int l = 1; l < 3; l++) {
      pb_lstm_dropout_mask_cpu(m1, l, 42, 7, &p);
      size_t dropped = 0;
      int formula = 1;
      for (size_t e = 0; e < n; e++) {
        dropped += !m1[e];
        if (e % 97 == 0) formula &= m1[e] == (pb_rng_uniform(42, 7, ((uint64_t)l << 40) | e) >= p.dropout);
      }
      const double frac = (double)dropped / n, sigma = sqrt(p.dropout * (1.0 - p.dropout) / n);
      PB_CHECK_MSG(fabs(frac - p.dropout) <= 5 * sigma, "p %.1f layer %d: dropped %.5f (sigma %.1e)", p.dropout, l,
                   frac, sigma);
      PB_CHECK_MSG(formula, "p %.1f layer %d: the mask is not the ops.h formula", p.dropout, l);
      if (k == 1 && l == 1) printf("dropout p 0.3, %zu draws: dropped fraction %.5f (%.1f sigma)\n", n, frac,
                                   fabs(frac - p.dropout) / sigma);
    }
    pb_lstm_dropout_mask_cpu(m1, 1, 42, 7, &p);
    pb_lstm_dropout_mask_cpu(m2, 2, 42, 7, &p);
    pb_lstm_dropout_mask_cpu(m3, 1, 42, 8, &p);
    PB_CHECK(memcmp(m1, m2, n) != 0 && memcmp(m1, m3, n) != 0);
  }
  free(m1), free(m2), free(m3);
}

int main(void) {
  pb_cpu_blas_init();
  const lcase cases[] = {
      {"uni_l1_eq_h0", {4, 3, 3, 4, 1, 0, 0.0f}, 1, {0}, 0, 101},
      {"uni_l1_rag", {6, 4, 3, 5, 1, 0, 0.0f}, 0, {6, 1, 3, 4}, 0, 102},
      {"bi_l1_rag_h0", {5, 3, 4, 3, 1, 1, 0.0f}, 1, {2, 5, 1}, 0, 103},
      {"bi_l2_rag_h0", {5, 4, 3, 3, 2, 1, 0.0f}, 1, {5, 1, 3, 4}, 0, 104},
      {"bi_l2_rag_drop", {5, 4, 3, 3, 2, 1, 0.3f}, 0, {5, 1, 3, 4}, 0, 105},
      {"uni_l3_rag_drop", {4, 3, 2, 3, 3, 0, 0.3f}, 1, {2, 4, 1}, 0, 106},
      {"bi_l2_eq_drop_h0", {3, 2, 4, 4, 2, 1, 0.3f}, 1, {0}, 0, 107},
      {"big_bi_l2_drop", {6, 37, 13, 20, 2, 1, 0.3f}, 1, {6, 1, 3, 6, 2, 5, 4, 6, 1, 2, 3, 4, 5, 6, 6, 6, 1, 1, 2,
                                                            3, 5, 6, 4, 4, 2, 1, 6, 5, 3, 2, 6, 6, 1, 4, 5, 2, 3},
       40, 108},
  };
  const int ncases = (int)(sizeof cases / sizeof cases[0]);
  for (int i = 0; i < ncases; i++) check_case(&cases[i]);
  printf("forward worst %.3f of (%g + %g |ref|); gradients worst %.3f of (%g max|g| + %g |fd|)\n", g_fwd_worst,
         FWD_ATOL, FWD_RTOL, g_fd_worst, FD_ATOL, FD_RTOL);
  for (int i = 0; i < ncases; i++) check_exact(&cases[i]);
  check_dropout_zero(&cases[4]);
  check_dropout_zero(&cases[7]);
  check_mask();
  return pb_test_exit("test_grad_lstm");
}
