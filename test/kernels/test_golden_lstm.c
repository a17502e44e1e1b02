/* test_golden_lstm.c: the CPU LSTM op (kernels/cpu/lstm.c; contract in ops.h "LSTM") against
 * PyTorch's nn.LSTM in float64 autograd. Fixture: scripts/fixtures/gen_lstm_golden.py ->
 * test/fixtures/lstm_golden.safetensors (its docstring lists what is stored): L 1, 2, 3, uni and
 * bidirectional, equal and ragged lengths (a length-1 sequence and one of length T; T = 1),
 * with and without (h0, c0), D and H 3..10 and one case D 32, H 24.
 *
 * Per case:
 *  1. the weight layout: pb_lstm_weight_count / _at against the module's _flat_weights_names
 *     (names, order, shapes), the offsets packed in that order, pb_lstm_weight_floats the total;
 *  2. the training forward (y, h_n, c_n) and the backward of
 *     loss = sum(y*wy) + sum(h_n*wh) + sum(c_n*wc) (dx, dh0, dc0, every dw tensor) against the
 *     references, with (h0, c0) NULL where the case has none;
 *  3. nthreads 1, 2 and 3 give bitwise identical results (the op cuts its work in blocks that do
 *     not depend on the thread count), and the evaluation forward equals the training one.
 *
 * Tolerances: |got - ref| <= ATOL * max|ref of the tensor| + RTOL * |ref|, per tensor.
 *  The op is float32 throughout: every gate pre-activation is a dot product of length in + H
 *  (<= 56 here) plus two biases, rounded with relative error ~ sqrt(in + H) * 6e-8 of the sum
 *  of |terms| typically; the state carries these errors through T <= 7 steps and L <= 3 layers
 *  with gains below 1 (sigmoid' <= 1/4, tanh' <= 1, f < 1) but adding up per step, and the
 *  backward adds as many again in reverse: a few 1e-7 of the tensor's scale (measured:
 *  <= 2e-7 of max|ref|). Errors are absolute-like near zero crossings, hence the atol relative
 *  to max|ref| (a gradient entry can be ~0 while its tensor is O(1)). ATOL 2e-6 and RTOL 1e-5
 *  leave a margin of ~10 over the measured worst (printed as a fraction of the
 *  tolerance), while a wrong gate order, a missing bias or a state taken from the wrong step
 *  gives errors of O(max|ref|). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/models/safetensors.h"
#include "kernels/ops.h"
#include "kernels/pb_common.h"
#include "test/testutil.h"

#define ATOL 2e-6
#define RTOL 1e-5

static const pb_st_tensor *get(const pb_st_file *f, const char *c, const char *what, pb_st_dtype dt, int need) {
  char key[256];
  snprintf(key, sizeof key, "%s.%s", c, what);
  const pb_st_tensor *t = pb_st_find(f, key);
  if (!t && need) PB_FATAL("fixture lacks %s", key);
  if (t) PB_ASSERT(t->dtype == dt);
  return t;
}

static size_t numel(const pb_st_tensor *t) {
  size_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
  return n;
}

/* A copy of a fixture tensor (the blob may not be aligned). */
static float *fcopy(const pb_st_tensor *t) {
  float *a = malloc(t->nbytes ? t->nbytes : 4);
  memcpy(a, t->data, t->nbytes);
  return a;
}

/* Worst |got - ref| / (ATOL max|ref| + RTOL |ref|) over n; counts a failure above 1. */
static double cmp(const char *c, const char *what, const float *got, const pb_st_tensor *rt, size_t n) {
  PB_ASSERT(numel(rt) == n);
  float *ref = fcopy(rt);
  double mx = 0, worst = 0;
  for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(ref[i]));
  size_t wi = 0;
  for (size_t i = 0; i < n; i++) {
    const double d = fabs((double)got[i] - ref[i]), tol = ATOL * mx + RTOL * fabs(ref[i]) + 1e-30;
    const double q = isnan(d) ? INFINITY : d / tol;
    if (q > worst) worst = q, wi = i;
  }
  PB_CHECK_MSG(worst <= 1.0, "%s %s: worst [%zu] got %.9g ref %.9g (max|ref| %.3g): %.3g of the tolerance", c, what,
               wi, got[wi], ref[wi], mx, worst);
  free(ref);
  return worst;
}

typedef struct outs {
  float *y, *hn, *cn, *dx, *dh0, *dc0, *dw, *ye;
} outs;

static void outs_alloc(outs *o, size_t ny, size_t nh, size_t nx, size_t nw) {
  o->y = calloc(ny, 4), o->ye = calloc(ny, 4), o->hn = calloc(nh, 4), o->cn = calloc(nh, 4);
  o->dx = calloc(nx, 4), o->dh0 = calloc(nh, 4), o->dc0 = calloc(nh, 4), o->dw = calloc(nw, 4);
}

static void outs_free(outs *o) {
  free(o->y), free(o->ye), free(o->hn), free(o->cn), free(o->dx), free(o->dh0), free(o->dc0), free(o->dw);
}

static int same(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof(float)) == 0; }

int main(void) {
  pb_err err = {{0}};
  pb_st_file f;
  if (pb_st_read(&f, pb_test_fixture("lstm_golden.safetensors"), &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  pb_cpu_blas_init();
  const char *list = pb_st_meta(&f, "cases");
  PB_ASSERT(list);
  char *cases = pb_xstrdup(list);
  double worst_fwd = 0, worst_bwd = 0;
  int ncases = 0;
  for (char *save = NULL, *c = strtok_r(cases, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
    ncases++;
    const int32_t *dims = get(&f, c, "dims", PB_ST_I32, 1)->data;
    int32_t dm[7];
    memcpy(dm, dims, sizeof dm);
    const pb_lstm_params p = {.seq_len = dm[0], .batch = dm[1], .input_size = dm[2], .hidden_size = dm[3],
                              .num_layers = dm[4], .bidirectional = dm[5], .dropout = 0.0f};
    const int has_h0 = dm[6], dirs = p.bidirectional ? 2 : 1;
    const size_t T = (size_t)p.seq_len, N = (size_t)p.batch, H = (size_t)p.hidden_size;
    const size_t ny = T * N * dirs * H, nh = (size_t)p.num_layers * dirs * N * H, nx = T * N * p.input_size;
    const size_t nw = pb_lstm_weight_floats(&p);

    /* 1. layout: names, order, shapes, offsets */
    char key[256];
    snprintf(key, sizeof key, "%s.names", c);
    const char *nm = pb_st_meta(&f, key);
    PB_ASSERT(nm);
    char *names = pb_xstrdup(nm);
    float *w = calloc(nw, 4), *dwref = calloc(nw, 4);
    int i = 0;
    size_t next = 0;
    for (char *s2 = NULL, *n = strtok_r(names, ",", &s2); n; n = strtok_r(NULL, ",", &s2), i++) {
      PB_CHECK_MSG(i < pb_lstm_weight_count(&p), "%s: more tensors in PyTorch than in plumb", c);
      if (i >= pb_lstm_weight_count(&p)) break;
      const pb_lstm_weight wt = pb_lstm_weight_at(&p, i);
      PB_CHECK_MSG(strcmp(wt.name, n) == 0, "%s: tensor %d is %s, PyTorch's %s", c, i, wt.name, n);
      PB_CHECK_MSG(wt.offset == next, "%s: %s at %zu, expected %zu", c, n, wt.offset, next);
      char wk[96];
      snprintf(wk, sizeof wk, "w.%s", n);
      const pb_st_tensor *tw = get(&f, c, wk, PB_ST_F32, 1);
      snprintf(wk, sizeof wk, "dw.%s", n);
      const pb_st_tensor *tdw = get(&f, c, wk, PB_ST_F32, 1);
      PB_CHECK_MSG(tw->ndim == wt.ndim && tw->shape[0] == wt.shape[0] && (wt.ndim == 1 || tw->shape[1] == wt.shape[1]),
                   "%s: %s shape [%d, %d] against PyTorch's", c, n, wt.shape[0], wt.shape[1]);
      const size_t cnt = (size_t)wt.shape[0] * wt.shape[1];
      PB_ASSERT(numel(tw) == cnt && wt.offset + cnt <= nw);
      memcpy(w + wt.offset, tw->data, cnt * 4);
      memcpy(dwref + wt.offset, tdw->data, cnt * 4);
      next = wt.offset + cnt;
    }
    PB_CHECK_MSG(i == pb_lstm_weight_count(&p), "%s: %d tensors in PyTorch, %d in plumb", c, i,
                 pb_lstm_weight_count(&p));
    PB_CHECK_MSG(next == nw, "%s: tensors end at %zu, weight_floats %zu", c, next, nw);
    free(names);

    /* 2. forward and backward, nthreads 1, 2, 3 */
    float *x = fcopy(get(&f, c, "x", PB_ST_F32, 1));
    int32_t *len = malloc(N * sizeof(int32_t));
    memcpy(len, get(&f, c, "lengths", PB_ST_I32, 1)->data, N * sizeof(int32_t));
    float *h0 = has_h0 ? fcopy(get(&f, c, "h0", PB_ST_F32, 1)) : NULL;
    float *c0 = has_h0 ? fcopy(get(&f, c, "c0", PB_ST_F32, 1)) : NULL;
    float *wy = fcopy(get(&f, c, "wy", PB_ST_F32, 1)), *wh = fcopy(get(&f, c, "wh", PB_ST_F32, 1));
    float *wc = fcopy(get(&f, c, "wc", PB_ST_F32, 1));
    pb_scratch s = {.floats = pb_lstm_scratch_cpu(&p)};
    s.buf = malloc(s.floats * 4);
    float *reserve = malloc(pb_lstm_reserve_cpu(&p) * 4);
    outs o[3];
    for (int k = 0; k < 3; k++) {
      outs_alloc(&o[k], ny, nh, nx, nw);
      s.nthreads = k + 1;
      pb_lstm_fwd_train_cpu(o[k].y, o[k].hn, o[k].cn, reserve, x, h0, c0, w, len, 7, 11, &p, &s);
      pb_lstm_fwd_eval_cpu(o[k].ye, NULL, NULL, x, h0, c0, w, len, &p, &s);
      pb_lstm_bwd_cpu(o[k].dx, o[k].dh0, o[k].dc0, o[k].dw, wy, wh, wc, x, h0, c0, w, o[k].y, len, reserve, &p, &s);
    }
    double wf = 0, wb = 0;
    wf = fmax(wf, cmp(c, "y", o[0].y, get(&f, c, "y", PB_ST_F32, 1), ny));
    wf = fmax(wf, cmp(c, "h_n", o[0].hn, get(&f, c, "h_n", PB_ST_F32, 1), nh));
    wf = fmax(wf, cmp(c, "c_n", o[0].cn, get(&f, c, "c_n", PB_ST_F32, 1), nh));
    wb = fmax(wb, cmp(c, "dx", o[0].dx, get(&f, c, "dx", PB_ST_F32, 1), nx));
    wb = fmax(wb, cmp(c, "dh0", o[0].dh0, get(&f, c, "dh0", PB_ST_F32, 1), nh));
    wb = fmax(wb, cmp(c, "dc0", o[0].dc0, get(&f, c, "dc0", PB_ST_F32, 1), nh));
    for (int t = 0; t < pb_lstm_weight_count(&p); t++) {
      const pb_lstm_weight wt = pb_lstm_weight_at(&p, t);
      char wk[96];
      snprintf(wk, sizeof wk, "dw.%s", wt.name);
      wb = fmax(wb, cmp(c, wk, o[0].dw + wt.offset, get(&f, c, wk, PB_ST_F32, 1), (size_t)wt.shape[0] * wt.shape[1]));
    }
    /* 3. thread counts and the evaluation forward: bitwise */
    for (int k = 1; k < 3; k++) {
      PB_CHECK_MSG(same(o[0].y, o[k].y, ny) && same(o[0].hn, o[k].hn, nh) && same(o[0].cn, o[k].cn, nh),
                   "%s: forward with %d threads differs from 1 thread", c, k + 1);
      PB_CHECK_MSG(same(o[0].dx, o[k].dx, nx) && same(o[0].dh0, o[k].dh0, nh) && same(o[0].dc0, o[k].dc0, nh) &&
                       same(o[0].dw, o[k].dw, nw),
                   "%s: backward with %d threads differs from 1 thread", c, k + 1);
    }
    for (int k = 0; k < 3; k++) PB_CHECK_MSG(same(o[k].y, o[k].ye, ny), "%s: evaluation y != training y", c);
    printf("%-20s T %d N %d D %d H %d L %d dirs %d h0 %d: worst forward %.3f, backward %.3f of the tolerance\n", c,
           p.seq_len, p.batch, p.input_size, p.hidden_size, p.num_layers, dirs, has_h0, wf, wb);
    worst_fwd = fmax(worst_fwd, wf), worst_bwd = fmax(worst_bwd, wb);
    for (int k = 0; k < 3; k++) outs_free(&o[k]);
    free(x), free(len), free(h0), free(c0), free(wy), free(wh), free(wc), free(s.buf), free(reserve), free(w),
        free(dwref);
  }
  PB_CHECK(ncases >= 8);
  printf("%d cases: worst forward %.3f, backward %.3f of the tolerance (ATOL %g * max|ref| + RTOL %g * |ref|)\n", ncases,
         worst_fwd, worst_bwd, ATOL, RTOL);
  free(cases);
  pb_st_free(&f);
  return pb_test_exit("test_golden_lstm");
}
