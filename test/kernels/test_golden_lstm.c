/* test_golden_lstm.c: the CPU LSTM op (kernels/cpu/lstm.c; contract in ops.h "LSTM") against
 * PyTorch's nn.LSTM in float64 autograd. Fixture: scripts/fixtures/gen_lstm_golden.py ->
 * test/fixtures/lstm_golden.safetensors (its docstring lists what is stored): L 1, 2, 3, uni and
 * bidirectional, equal and ragged lengths (a length-1 sequence and one of length T; T = 1),
 * with and without (h0, c0), D and H 3..10 and one case D 32, H 24.
 *
 * The cases are read through test/kernels/lstm_fixture.h (shared with test_cuda_lstm.c). Per case:
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

#include "kernels/ops.h"
#include "kernels/pb_common.h"
#include "test/kernels/lstm_fixture.h"
#include "test/testutil.h"

#define ATOL 2e-6
#define RTOL 1e-5

typedef struct outs {
  float *y, *hn, *cn, *dx, *dh0, *dc0, *dw, *ye;
} outs;

static void outs_alloc(outs *o, const lg_case *c) {
  o->y = calloc(c->ny, 4), o->ye = calloc(c->ny, 4), o->hn = calloc(c->nh, 4), o->cn = calloc(c->nh, 4);
  o->dx = calloc(c->nx, 4), o->dh0 = calloc(c->nh, 4), o->dc0 = calloc(c->nh, 4), o->dw = calloc(c->nw, 4);
}

static void outs_free(outs *o) {
  free(o->y), free(o->ye), free(o->hn), free(o->cn), free(o->dx), free(o->dh0), free(o->dc0), free(o->dw);
}

static int same(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof(float)) == 0; }

int main(void) {
  pb_err err = {{0}};
  pb_st_file f;
  if (pb_st_read(&f, pb_test_fixture(LG_FIXTURE), &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  pb_cpu_blas_init();
  int ncases = 0;
  char **names = lg_case_names(&f, &ncases, &err);
  if (!names) {
    fprintf(stderr, "FAIL: %s\n", err.msg);
    pb_st_free(&f);
    return 1;
  }
  double worst_fwd = 0, worst_bwd = 0;
  for (int ci = 0; ci < ncases; ci++) {
    /* 1. layout (checked while reading) */
    lg_case c;
    if (lg_read_case(&f, names[ci], &c, &err)) {
      fprintf(stderr, "FAIL: %s\n", err.msg);
      pb_test_failures++;
      continue;
    }
    const pb_lstm_params p = c.p;

    /* 2. forward and backward, nthreads 1, 2, 3 */
    pb_scratch s = {.floats = pb_lstm_scratch_cpu(&p)};
    s.buf = malloc(s.floats * 4);
    float *reserve = malloc(pb_lstm_reserve_cpu(&p) * 4);
    outs o[3];
    for (int k = 0; k < 3; k++) {
      outs_alloc(&o[k], &c);
      s.nthreads = k + 1;
      pb_lstm_fwd_train_cpu(o[k].y, o[k].hn, o[k].cn, reserve, c.x, c.h0, c.c0, c.w, c.len, 7, 11, &p, &s);
      pb_lstm_fwd_eval_cpu(o[k].ye, NULL, NULL, c.x, c.h0, c.c0, c.w, c.len, &p, &s);
      pb_lstm_bwd_cpu(o[k].dx, o[k].dh0, o[k].dc0, o[k].dw, c.wy, c.wh, c.wc, c.x, c.h0, c.c0, c.w, o[k].y, c.len,
                      reserve, &p, &s);
    }
    double wf = 0, wb = 0;
    const lg_outs got = {o[0].y, o[0].hn, o[0].cn, o[0].dx, o[0].dh0, o[0].dc0, o[0].dw};
    lg_check(&c, &got, ATOL, RTOL, &wf, &wb);
    /* 3. thread counts and the evaluation forward: bitwise */
    const size_t ny = c.ny, nh = c.nh, nx = c.nx, nw = c.nw;
    for (int k = 1; k < 3; k++) {
      PB_CHECK_MSG(same(o[0].y, o[k].y, ny) && same(o[0].hn, o[k].hn, nh) && same(o[0].cn, o[k].cn, nh),
                   "%s: forward with %d threads differs from 1 thread", c.name, k + 1);
      PB_CHECK_MSG(same(o[0].dx, o[k].dx, nx) && same(o[0].dh0, o[k].dh0, nh) && same(o[0].dc0, o[k].dc0, nh) &&
                       same(o[0].dw, o[k].dw, nw),
                   "%s: backward with %d threads differs from 1 thread", c.name, k + 1);
    }
    for (int k = 0; k < 3; k++) PB_CHECK_MSG(same(o[k].y, o[k].ye, ny), "%s: evaluation y != training y", c.name);
    printf("%-20s T %d N %d D %d H %d L %d dirs %d h0 %d: worst forward %.3f, backward %.3f of the tolerance\n",
           c.name, p.seq_len, p.batch, p.input_size, p.hidden_size, p.num_layers, p.bidirectional ? 2 : 1, c.has_h0,
           wf, wb);
    worst_fwd = fmax(worst_fwd, wf), worst_bwd = fmax(worst_bwd, wb);
    for (int k = 0; k < 3; k++) outs_free(&o[k]);
    free(s.buf), free(reserve);
    lg_case_free(&c);
  }
  PB_CHECK(ncases >= 8);
  printf("%d cases: worst forward %.3f, backward %.3f of the tolerance (ATOL %g * max|ref| + RTOL %g * |ref|)\n", ncases,
         worst_fwd, worst_bwd, ATOL, RTOL);
  free(names);
  pb_st_free(&f);
  return pb_test_exit("test_golden_lstm");
}
