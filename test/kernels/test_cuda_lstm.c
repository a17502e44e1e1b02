/* test_cuda_lstm.c: the CUDA LSTM op (kernels/cuda/lstm.cu, cuDNN's v8 RNN API) against the
 * PyTorch goldens and against its CPU twin (kernels/cpu/lstm.c); contract in ops.h "LSTM".
 * Needs a GPU: exits 77 (ctest: skipped) without one.
 *
 * Math: the environment has TF32 OFF (cuDNN CUDNN_FMA_MATH: full fp32), so the tolerances can
 * be tight; one case runs again with TF32 on (CUDNN_DEFAULT_MATH) at a TF32 tolerance.
 *
 *  1. Goldens (test/fixtures/lstm_golden.safetensors through test/kernels/lstm_fixture.h, the
 *     same 10 cases as test_golden_lstm.c: L 1-3, uni/bi, ragged, h0 given or NULL, random
 *     values in x's padded steps): y, h_n, c_n of the training forward, y of the evaluation
 *     forward, and dx, dh0, dc0, every dw tensor of the backward of
 *     loss = sum(y*wy) + sum(h_n*wh) + sum(c_n*wc), within GOLD_ATOL max|ref of the tensor| +
 *     GOLD_RTOL |ref|, 1e-5 and 1e-5. The CPU op meets 2e-6 / 1e-5 with its worst at 0.09 of
 *     that (~2e-7 of max|ref|: float32 rounding of dot products of length <= 56 carried through
 *     <= 7 steps and 3 layers, test_golden_lstm.c). cuDNN in fp32 makes rounding errors of the
 *     same kind (other summation orders, its own exp / tanh), so 1e-5 leaves a margin of ~50 for
 *     them; a wrong gate, bias, direction, state or padding rule costs O(max|ref|).
 *  2. Twins on random inputs (weights U(-1/sqrt(H), 1/sqrt(H)) as nn.LSTM, x, h0, dy ... U(-1, 1),
 *     c0 U(-2, 2)), the same (seed, stream) on both sides so the dropout masks are the same:
 *       l2_bi_rag_drop    L 2 bi, ragged (lengths 1 and T included), dropout 0.3, h0 given
 *       l3_uni_rag_drop   L 3, dropout 0.5, h0 NULL, dy NULL (dh_n, dc_n given)
 *       l1_bi_eq_drop     L 1: dropout 0.3 has no layer to act between (one cuDNN call)
 *       l2_uni_rag_nodrop L 2, dropout 0 (one cuDNN call for both layers), dh_n / dc_n NULL
 *       l5_bi_rag         10 pseudo-layers (more than one weight-gather launch)
 *       many_seq          N 600 (lengths uploaded in two launches)
 *       big_l1_uni        H 512, N 64, T 25, D 512 (DeepBench's shape), h0 NULL
 *       big_l2_bi_drop    L 2 bi, H 256, N 32, T 25, D 128, ragged, dropout 0.3
 *     Every GPU output starts as NaN (overwrite), dy's padded rows are NaN (never read), x's are
 *     random (multiplied by zero only). Checked per tensor against the CPU with
 *     |gpu - cpu| <= atol max|cpu| + rtol |cpu|:
 *       small cases (T <= 10, D + H <= 64): 2e-5 and 2e-5, twice the golden tolerance (both
 *         sides now carry float rounding; the CPU's own is ~2e-7 of max);
 *       big cases: 1e-4 and 1e-4, the project's fp32 GEMM-twin tolerance (cuda_twin.h): dot
 *         products of length up to 1024 and weight-gradient sums over T*N = 1600 rows, each
 *         side rounding ~sqrt(K) 6e-8 of the terms' scale, through 25 steps;
 *       TF32 (big_l1_uni again, TF32 on): 1e-2 and 1e-2: TF32 rounds GEMM inputs to 10
 *         mantissa bits (2^-11 ~ 5e-4 relative per product), ~1e-3 of max|ref| expected on
 *         the gates and gradients; O(1) errors still fail.
 *     Exact (bitwise): y's and dx's padded rows are 0 (training and evaluation); the
 *     evaluation forward is compared with the CPU's evaluation forward (no dropout).
 *  3. Twice per case: the second run accumulates onto dw = r (random): dw2 must equal
 *     r + dw1 within twice the tolerance of the gradient (each run is within it of the CPU),
 *     and is bitwise r + dw1 when cuDNN reproduces its own results. cuDNN does not document its RNN routines as reproducible, so run-to-run
 *     equality is REPORTED, not required: a line per case says whether y, h_n, c_n, dx, dh0,
 *     dc0 and dw of two runs are bitwise equal.
 *  4. NULL outputs: a run with h_n, c_n NULL (forward) and dx, dh0, dc0 NULL (backward) gives
 *     y and dw within the tolerance of the CPU's (l2_bi_rag_drop, l2_uni_rag_nodrop).
 * Each case prints "max abs err:" figures (scripts/gpu-check.sh collects them) and the worst
 * error as a fraction of its tolerance. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/ops_cuda.h"
#include "kernels/pb_rng.h"
#include "test/cuda_twin.h"
#include "test/kernels/lstm_fixture.h"
#include "test/testutil.h"

#define GOLD_ATOL 1e-5
#define GOLD_RTOL 1e-5
#define SMALL_TOL 2e-5
#define BIG_TOL 1e-4
#define TF32_TOL 1e-2
#define CPU_THREADS 8
#define WORKSPACE ((size_t)256 << 20)

static pb_cuda_env g_env;      /* TF32 off */
static pb_cuda_env g_env_tf32; /* TF32 on */

/* ------------------------------------------------------------------ one run, host in and out */

typedef struct run_in {
  pb_lstm_params p;
  const int32_t *len;
  const float *x, *h0, *c0, *w;  /* h0, c0 may be NULL */
  const float *dy, *dhn, *dcn;   /* each may be NULL */
  const float *dw0;              /* dw before the backward; NULL: zeros */
  uint64_t seed, stream;         /* dropout */
  int null_outs;                 /* h_n, c_n, dx, dh0, dc0 passed as NULL (GPU) */
} run_in;

typedef struct run_out {
  float *y, *hn, *cn, *ye, *dx, *dh0, *dc0, *dw; /* NULL where not produced */
} run_out;

typedef struct sizes {
  size_t ny, nh, nx, nw;
} sizes;

static sizes sizes_of(const pb_lstm_params *p) {
  const size_t T = (size_t)p->seq_len, N = (size_t)p->batch, H = (size_t)p->hidden_size;
  const size_t dirs = p->bidirectional ? 2 : 1;
  const sizes s = {T * N * dirs * H, (size_t)p->num_layers * dirs * N * H, T * N * (size_t)p->input_size,
                   pb_lstm_weight_floats(p)};
  return s;
}

static void out_free(run_out *o) {
  free(o->y), free(o->hn), free(o->cn), free(o->ye), free(o->dx), free(o->dh0), free(o->dc0), free(o->dw);
  memset(o, 0, sizeof *o);
}

/* A device buffer of n floats, every one NaN (an output the op must overwrite). */
static float *dev_nan(size_t n, const pb_cuda_env *env) {
  float *h = malloc((n ? n : 1) * sizeof(float));
  for (size_t i = 0; i < n; i++) h[i] = NAN;
  float *d = pb_twin_fromf(h, n, env);
  pb_cuda_sync(env); /* h is pageable: the copy has read it once the stream has passed it */
  free(h);
  return d;
}

static float *dev_or_null(const float *h, size_t n, const pb_cuda_env *env) {
  return h ? pb_twin_fromf(h, n, env) : NULL;
}

static float *host_or_null(const float *d, size_t n, const pb_cuda_env *env) {
  return d ? pb_twin_hostf(d, n, env) : NULL;
}

/* The CPU twin: training forward, evaluation forward, backward (dw from dw0). */
static void cpu_run(const run_in *in, run_out *o) {
  const pb_lstm_params *p = &in->p;
  const sizes z = sizes_of(p);
  pb_scratch s = {.floats = pb_lstm_scratch_cpu(p), .nthreads = CPU_THREADS};
  s.buf = malloc(s.floats * sizeof(float));
  float *reserve = malloc(pb_lstm_reserve_cpu(p) * sizeof(float));
  o->y = malloc(z.ny * 4), o->ye = malloc(z.ny * 4), o->hn = malloc(z.nh * 4), o->cn = malloc(z.nh * 4);
  o->dx = malloc(z.nx * 4), o->dh0 = malloc(z.nh * 4), o->dc0 = malloc(z.nh * 4), o->dw = calloc(z.nw, 4);
  if (in->dw0) memcpy(o->dw, in->dw0, z.nw * 4);
  pb_lstm_fwd_train_cpu(o->y, o->hn, o->cn, reserve, in->x, in->h0, in->c0, in->w, in->len, in->seed, in->stream, p,
                        &s);
  pb_lstm_fwd_eval_cpu(o->ye, NULL, NULL, in->x, in->h0, in->c0, in->w, in->len, p, &s);
  pb_lstm_bwd_cpu(o->dx, o->dh0, o->dc0, o->dw, in->dy, in->dhn, in->dcn, in->x, in->h0, in->c0, in->w, o->y,
                  in->len, reserve, p, &s);
  free(s.buf), free(reserve);
}

/* The CUDA op on env: training forward, evaluation forward, backward. 0, or -1 (one failed
 * check) when the environment's workspace is too small for the case. */
static int gpu_run(const run_in *in, run_out *o, const pb_cuda_env *env) {
  const pb_lstm_params *p = &in->p;
  const sizes z = sizes_of(p);
  memset(o, 0, sizeof *o);
  const size_t need = pb_lstm_workspace_cuda(p, env), rbytes = pb_lstm_reserve_cuda(p, env);
  PB_CHECK_MSG(need <= env->workspace_bytes, "workspace %zu bytes needed, the test's environment has %zu", need,
               env->workspace_bytes);
  if (need > env->workspace_bytes) return -1;
  float *x = pb_twin_fromf(in->x, z.nx, env), *w = pb_twin_fromf(in->w, z.nw, env);
  float *h0 = dev_or_null(in->h0, z.nh, env), *c0 = dev_or_null(in->c0, z.nh, env);
  float *dy = dev_or_null(in->dy, z.ny, env), *dhn = dev_or_null(in->dhn, z.nh, env);
  float *dcn = dev_or_null(in->dcn, z.nh, env);
  float *y = dev_nan(z.ny, env), *ye = dev_nan(z.ny, env);
  float *hn = in->null_outs ? NULL : dev_nan(z.nh, env), *cn = in->null_outs ? NULL : dev_nan(z.nh, env);
  float *dx = in->null_outs ? NULL : dev_nan(z.nx, env), *dh0 = in->null_outs ? NULL : dev_nan(z.nh, env);
  float *dc0 = in->null_outs ? NULL : dev_nan(z.nh, env);
  float *dw = pb_twin_alloc(z.nw * 4);
  if (in->dw0) pb_cuda_h2d(dw, in->dw0, z.nw * 4, env);
  else pb_cuda_memset0(dw, z.nw * 4, env);
  float *reserve = pb_twin_alloc(rbytes);
  pb_lstm_fwd_train_cuda(y, hn, cn, reserve, x, h0, c0, w, in->len, in->seed, in->stream, p, env);
  pb_lstm_fwd_eval_cuda(ye, NULL, NULL, x, h0, c0, w, in->len, p, env);
  pb_lstm_bwd_cuda(dx, dh0, dc0, dw, dy, dhn, dcn, x, h0, c0, w, y, in->len, reserve, p, env);
  o->y = pb_twin_hostf(y, z.ny, env), o->ye = pb_twin_hostf(ye, z.ny, env);
  o->hn = host_or_null(hn, z.nh, env), o->cn = host_or_null(cn, z.nh, env);
  o->dx = host_or_null(dx, z.nx, env), o->dh0 = host_or_null(dh0, z.nh, env), o->dc0 = host_or_null(dc0, z.nh, env);
  o->dw = pb_twin_hostf(dw, z.nw, env);
  float *bufs[] = {x, w, h0, c0, dy, dhn, dcn, y, ye, hn, cn, dx, dh0, dc0, dw, reserve};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) pb_cuda_free(bufs[i]);
  return 0;
}

/* ------------------------------------------------------------------ checks */

/* Rows t >= len[n] of a[T, N, width] that are not exactly 0 (+0 or -0). */
static size_t pad_nonzero(const float *a, const pb_lstm_params *p, const int32_t *len, int width) {
  size_t bad = 0;
  for (int t = 0; t < p->seq_len; t++)
    for (int n = 0; n < p->batch; n++)
      if (t >= len[n])
        for (int j = 0; j < width; j++) bad += a[((size_t)t * p->batch + n) * width + j] != 0.0f;
  return bad;
}

static void check_padding(const char *cs, const run_out *o, const pb_lstm_params *p, const int32_t *len) {
  const int out = (p->bidirectional ? 2 : 1) * p->hidden_size;
  const size_t by = pad_nonzero(o->y, p, len, out), bye = pad_nonzero(o->ye, p, len, out);
  const size_t bdx = o->dx ? pad_nonzero(o->dx, p, len, p->input_size) : 0;
  PB_CHECK_MSG(by == 0 && bye == 0 && bdx == 0,
               "%s: padded rows not exactly 0: %zu in y, %zu in the evaluation y, %zu in dx", cs, by, bye, bdx);
}

typedef struct worst {
  double frac;                                  /* worst |err| / tolerance */
  double e_y, e_hn, e_cn, e_ye, e_dx, e_dh, e_dw; /* max abs errors */
} worst;

static double max_abs_err(const float *a, const float *b, size_t n) { return a && b ? pb_test_max_abs_diff(a, b, n) : 0; }

/* Every output of g present in g against r, per tensor (dw per weight tensor). */
static worst compare(const char *cs, const run_out *g, const run_out *r, const pb_lstm_params *p, double atol,
                     double rtol) {
  const sizes z = sizes_of(p);
  worst wo;
  memset(&wo, 0, sizeof wo);
  const struct {
    const char *what;
    const float *got, *ref;
    size_t n;
    double *e;
  } t[] = {{"y", g->y, r->y, z.ny, &wo.e_y},        {"h_n", g->hn, r->hn, z.nh, &wo.e_hn},
           {"c_n", g->cn, r->cn, z.nh, &wo.e_cn},    {"evaluation y", g->ye, r->ye, z.ny, &wo.e_ye},
           {"dx", g->dx, r->dx, z.nx, &wo.e_dx},     {"dh0", g->dh0, r->dh0, z.nh, &wo.e_dh},
           {"dc0", g->dc0, r->dc0, z.nh, &wo.e_dh}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    if (!t[i].got || !t[i].ref) continue;
    wo.frac = fmax(wo.frac, lg_cmp(cs, t[i].what, t[i].got, t[i].ref, t[i].n, atol, rtol));
    *t[i].e = fmax(*t[i].e, max_abs_err(t[i].got, t[i].ref, t[i].n));
  }
  for (int k = 0; k < pb_lstm_weight_count(p); k++) {
    const pb_lstm_weight wt = pb_lstm_weight_at(p, k);
    const size_t n = (size_t)wt.shape[0] * wt.shape[1];
    char what[64];
    snprintf(what, sizeof what, "dw.%s", wt.name);
    wo.frac = fmax(wo.frac, lg_cmp(cs, what, g->dw + wt.offset, r->dw + wt.offset, n, atol, rtol));
    wo.e_dw = fmax(wo.e_dw, max_abs_err(g->dw + wt.offset, r->dw + wt.offset, n));
  }
  return wo;
}

/* One line: the worst fraction of the tolerance first, then the "max abs err:" figures (all
 * numbers after that label are errors, for scripts/gpu-check.sh; a tag naming tf32 outside
 * parentheses makes it a TF32 line there). */
static void print_worst(const char *cs, const char *tag, const worst *w) {
  printf("  %-20s %s worst %.3f of the tolerance; max abs err: y %.2g h_n %.2g c_n %.2g eval_y %.2g dx %.2g "
         "dh0_dc0 %.2g dw %.2g\n",
         cs, tag, w->frac, w->e_y, w->e_hn, w->e_cn, w->e_ye, w->e_dx, w->e_dh, w->e_dw);
}

static int same_bits(const float *a, const float *b, size_t n) { return !a || !b || !memcmp(a, b, n * sizeof(float)); }

/* Run 2 against run 1: forward and input gradients reported bitwise; dw2 (accumulated onto r)
 * against r + dw1: within the gradient's tolerance always, bitwise reported. */
static void check_rerun(const char *cs, const run_out *a, const run_out *b, const float *r, const float *ref_dw,
                        const pb_lstm_params *p, double atol, double rtol) {
  const sizes z = sizes_of(p);
  const int fwd = same_bits(a->y, b->y, z.ny) && same_bits(a->hn, b->hn, z.nh) && same_bits(a->cn, b->cn, z.nh) &&
                  same_bits(a->ye, b->ye, z.ny);
  const int bwd = same_bits(a->dx, b->dx, z.nx) && same_bits(a->dh0, b->dh0, z.nh) && same_bits(a->dc0, b->dc0, z.nh);
  size_t dw_exact = 0;
  for (int k = 0; k < pb_lstm_weight_count(p); k++) {
    const pb_lstm_weight wt = pb_lstm_weight_at(p, k);
    const size_t n = (size_t)wt.shape[0] * wt.shape[1], o = wt.offset;
    double mx = 0, worst = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs((double)ref_dw[o + i]));
    for (size_t i = 0; i < n; i++) {
      const float sum = r[o + i] + a->dw[o + i]; /* one rounded add, as the op's */
      dw_exact += memcmp(&sum, &b->dw[o + i], sizeof sum) == 0;
      /* each run's gradient is within the tolerance of the CPU's, so the two within twice it;
       * plus the rounding of the two sums */
      const double tol = 2.0 * (atol * mx + rtol * fabs((double)ref_dw[o + i])) + 2.4e-7 * fabs((double)sum) + 1e-30;
      const double d = fabs((double)b->dw[o + i] - (double)sum);
      worst = fmax(worst, isnan(d) ? INFINITY : d / tol);
    }
    PB_CHECK_MSG(worst <= 1.0, "%s: dw.%s accumulated onto r is not r + dw of the first run: %.3g of the tolerance", cs,
                 wt.name, worst);
  }
  printf("  %-20s run to run: forward %s, input gradients %s, dw %s (%zu of %zu bitwise r + dw)\n", cs,
         fwd ? "bitwise equal" : "DIFFERS", bwd ? "bitwise equal" : "DIFFERS",
         dw_exact == z.nw ? "bitwise r + dw" : "close", dw_exact, z.nw);
}

/* ------------------------------------------------------------------ 1. goldens */

static void test_golden(void) {
  pb_err err = {{0}};
  pb_st_file f;
  if (pb_st_read(&f, pb_test_fixture(LG_FIXTURE), &err)) {
    fprintf(stderr, "FAIL: %s\n", err.msg);
    pb_test_failures++;
    return;
  }
  int ncases = 0;
  char **names = lg_case_names(&f, &ncases, &err);
  if (!names) {
    fprintf(stderr, "FAIL: %s\n", err.msg);
    pb_test_failures++;
    pb_st_free(&f);
    return;
  }
  double wf_all = 0, wb_all = 0;
  for (int ci = 0; ci < ncases; ci++) {
    lg_case c;
    if (lg_read_case(&f, names[ci], &c, &err)) {
      fprintf(stderr, "FAIL: %s\n", err.msg);
      pb_test_failures++;
      continue;
    }
    const run_in in = {.p = c.p, .len = c.len, .x = c.x, .h0 = c.h0, .c0 = c.c0, .w = c.w, .dy = c.wy, .dhn = c.wh,
                       .dcn = c.wc, .seed = 7, .stream = 11};
    run_out g;
    if (gpu_run(&in, &g, &g_env) == 0) {
      double wf = 0, wb = 0;
      const lg_outs got = {g.y, g.hn, g.cn, g.dx, g.dh0, g.dc0, g.dw};
      lg_check(&c, &got, GOLD_ATOL, GOLD_RTOL, &wf, &wb);
      wf = fmax(wf, lg_cmp(c.name, "evaluation y", g.ye, c.y, c.ny, GOLD_ATOL, GOLD_RTOL));
      check_padding(c.name, &g, &c.p, c.len);
      const double ey = fmax(pb_test_max_abs_diff(g.y, c.y, c.ny), pb_test_max_abs_diff(g.ye, c.y, c.ny));
      const double es = fmax(pb_test_max_abs_diff(g.hn, c.hn, c.nh), pb_test_max_abs_diff(g.cn, c.cn, c.nh));
      const double ed = fmax(pb_test_max_abs_diff(g.dx, c.dx, c.nx),
                             fmax(pb_test_max_abs_diff(g.dh0, c.dh0, c.nh), pb_test_max_abs_diff(g.dc0, c.dc0, c.nh)));
      printf("  golden %-20s worst forward %.3f, backward %.3f of the tolerance; max abs err: y %.2g h_n_c_n %.2g "
             "dx_dh0_dc0 %.2g dw %.2g\n",
             c.name, wf, wb, ey, es, ed, pb_test_max_abs_diff(g.dw, c.dw, c.nw));
      wf_all = fmax(wf_all, wf), wb_all = fmax(wb_all, wb);
      out_free(&g);
    }
    lg_case_free(&c);
  }
  PB_CHECK(ncases >= 8);
  printf("goldens (%d cases, fp32): worst forward %.3f, backward %.3f of the tolerance (%g max|ref| + %g |ref|)\n",
         ncases, wf_all, wb_all, GOLD_ATOL, GOLD_RTOL);
  free(names);
  pb_st_free(&f);
}

/* ------------------------------------------------------------------ 2-4. twins */

typedef struct tcase {
  const char *name;
  int T, N, D, H, L, bi;
  float dropout;
  int ragged, has_h0, has_dy, has_dhn, null_run;
} tcase;

static void test_twin(const tcase *tc, uint64_t seed) {
  const pb_lstm_params p = {.seq_len = tc->T, .batch = tc->N, .input_size = tc->D, .hidden_size = tc->H,
                            .num_layers = tc->L, .bidirectional = tc->bi, .dropout = tc->dropout};
  const sizes z = sizes_of(&p);
  const int out = (tc->bi ? 2 : 1) * tc->H;
  const int big = tc->T > 10 || tc->D + tc->H > 64;
  const double tol = big ? BIG_TOL : SMALL_TOL;
  int32_t *len = malloc(sizeof(int32_t) * (size_t)tc->N);
  float *lf = malloc(sizeof(float) * (size_t)tc->N);
  pb_test_fill_uniform(lf, (size_t)tc->N, 1.0f, (float)tc->T + 0.999f, seed);
  for (int n = 0; n < tc->N; n++) len[n] = tc->ragged ? PB_MIN(tc->T, (int32_t)lf[n]) : tc->T;
  if (tc->ragged) { /* the longest and a length-1 sequence, the rest in between */
    len[0] = tc->T;
    if (tc->N > 1) len[1] = 1;
  }
  free(lf);
  float *x = malloc(z.nx * 4), *w = malloc(z.nw * 4), *h0 = NULL, *c0 = NULL, *dy = NULL, *dhn = NULL, *dcn = NULL;
  float *r = malloc(z.nw * 4);
  const float k = 1.0f / sqrtf((float)tc->H);
  pb_test_fill_uniform(x, z.nx, -1.0f, 1.0f, seed + 1);
  pb_test_fill_uniform(w, z.nw, -k, k, seed + 2);
  pb_test_fill_uniform(r, z.nw, -1.0f, 1.0f, seed + 3);
  if (tc->has_h0) {
    h0 = malloc(z.nh * 4), c0 = malloc(z.nh * 4);
    pb_test_fill_uniform(h0, z.nh, -1.0f, 1.0f, seed + 4);
    pb_test_fill_uniform(c0, z.nh, -2.0f, 2.0f, seed + 5);
  }
  if (tc->has_dy) {
    dy = malloc(z.ny * 4);
    pb_test_fill_uniform(dy, z.ny, -1.0f, 1.0f, seed + 6);
    for (int t = 0; t < tc->T; t++) /* padded rows: never read */
      for (int n = 0; n < tc->N; n++)
        if (t >= len[n])
          for (int j = 0; j < out; j++) dy[((size_t)t * tc->N + n) * out + j] = NAN;
  }
  if (tc->has_dhn) {
    dhn = malloc(z.nh * 4), dcn = malloc(z.nh * 4);
    pb_test_fill_uniform(dhn, z.nh, -1.0f, 1.0f, seed + 7);
    pb_test_fill_uniform(dcn, z.nh, -1.0f, 1.0f, seed + 8);
  }
  run_in in = {.p = p, .len = len, .x = x, .h0 = h0, .c0 = c0, .w = w, .dy = dy, .dhn = dhn, .dcn = dcn,
               .seed = seed + 100, .stream = PB_RNG_STREAM(PB_RNG_DROPOUT, 3)};
  run_out c, g, g2;
  cpu_run(&in, &c);
  if (gpu_run(&in, &g, &g_env) == 0) {
    check_padding(tc->name, &g, &p, len);
    const worst wo = compare(tc->name, &g, &c, &p, tol, tol);
    print_worst(tc->name, big ? "(fp32, big)" : "(fp32)", &wo);
    /* 3. a second run, accumulating onto r */
    in.dw0 = r;
    if (gpu_run(&in, &g2, &g_env) == 0) {
      check_rerun(tc->name, &g, &g2, r, c.dw, &p, tol, tol);
      out_free(&g2);
    }
    in.dw0 = NULL;
    /* 4. NULL outputs */
    if (tc->null_run) {
      in.null_outs = 1;
      if (gpu_run(&in, &g2, &g_env) == 0) {
        char what[64];
        snprintf(what, sizeof what, "%s, NULL outputs", tc->name);
        const worst wn = compare(what, &g2, &c, &p, tol, tol);
        print_worst(tc->name, "(NULL h_n c_n dx dh0 dc0)", &wn);
        out_free(&g2);
      }
      in.null_outs = 0;
    }
    out_free(&g);
  }
  /* TF32 on: the DeepBench shape only */
  if (big && tc->L == 1 && gpu_run(&in, &g, &g_env_tf32) == 0) {
    char what[64];
    snprintf(what, sizeof what, "%s, tf32", tc->name);
    const worst wt = compare(what, &g, &c, &p, TF32_TOL, TF32_TOL);
    print_worst(tc->name, "tf32:", &wt);
    out_free(&g);
  }
  out_free(&c);
  free(len), free(x), free(w), free(r), free(h0), free(c0), free(dy), free(dhn), free(dcn);
}

int main(void) {
  pb_twin_require_gpu();
  pb_cpu_blas_init();
  pb_twin_env(&g_env, WORKSPACE, 0, 0);
  pb_twin_env(&g_env_tf32, WORKSPACE, 0, 1);
  test_golden();
  /* name, T, N, D, H, L, bi, dropout, ragged, h0, dy, dh_n, NULL run */
  static const tcase cases[] = {
      {"l2_bi_rag_drop", 9, 7, 13, 16, 2, 1, 0.3f, 1, 1, 1, 1, 1},
      {"l3_uni_rag_drop", 6, 5, 4, 8, 3, 0, 0.5f, 1, 0, 0, 1, 0},
      {"l1_bi_eq_drop", 5, 4, 6, 7, 1, 1, 0.3f, 0, 1, 1, 1, 0},
      {"l2_uni_rag_nodrop", 8, 6, 5, 9, 2, 0, 0.0f, 1, 1, 1, 0, 1},
      {"l5_bi_rag", 4, 3, 3, 5, 5, 1, 0.0f, 1, 1, 1, 1, 0},
      {"many_seq", 3, 600, 4, 4, 1, 0, 0.0f, 1, 1, 1, 1, 0},
      {"big_l1_uni", 25, 64, 512, 512, 1, 0, 0.0f, 0, 0, 1, 1, 0},
      {"big_l2_bi_drop", 25, 32, 128, 256, 2, 1, 0.3f, 1, 1, 1, 1, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_twin(&cases[i], 1000 + 17 * i);
  pb_cuda_env_free(&g_env_tf32);
  pb_cuda_env_free(&g_env);
  return pb_test_exit("test_cuda_lstm");
}
