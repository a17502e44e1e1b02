/* lstm_fixture.h: the PyTorch golden cases of the LSTM op, read from
 * test/fixtures/lstm_golden.safetensors, shared by test_golden_lstm.c (the CPU op) and
 * test_cuda_lstm.c (the CUDA twin); each states its tolerances. Header-only, static.
 *
 * Fixture: scripts/fixtures/gen_lstm_golden.py (its docstring lists what is stored). Per case
 * "<case>.": dims I32 [7] (T, N, D, H, L, bidirectional, has_h0), lengths I32 [N], x, h0, c0
 * (when has_h0), w.<name> for every PyTorch parameter, the loss weights wy, wh, wc, and the
 * float64 references rounded to float: y, h_n, c_n, dx, dh0, dc0, dw.<name>. Metadata "cases"
 * lists the cases, "<case>.names" the module's _flat_weights_names in order.
 *
 * Reading a case also checks plumb's weight layout against PyTorch's: pb_lstm_weight_count /
 * _at give the same names in the same order with the same shapes, the offsets pack them in
 * that order, and pb_lstm_weight_floats is the total; the weights and their gradients are
 * copied into flat buffers of plumb's layout. Every tensor is checked for presence, dtype and
 * size, and copied out of the file's blob (which gives no alignment guarantee). */
#ifndef PB_TEST_LSTM_FIXTURE_H
#define PB_TEST_LSTM_FIXTURE_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/models/safetensors.h"
#include "kernels/ops.h"
#include "kernels/pb_common.h"
#include "test/testutil.h"

#define LG_FIXTURE "lstm_golden.safetensors"

typedef struct lg_case {
  char name[64];
  pb_lstm_params p; /* dropout 0 */
  int has_h0;
  size_t ny, nh, nx, nw; /* floats of y, of one state tensor, of x, of w */
  int32_t *len;          /* [N] */
  float *x, *h0, *c0;    /* inputs; h0, c0 NULL when the case has none */
  float *w;              /* [nw], plumb's layout */
  float *wy, *wh, *wc;   /* the loss weights: dy, dh_n, dc_n */
  float *y, *hn, *cn, *dx, *dh0, *dc0, *dw; /* references; dw in plumb's layout */
} lg_case;

static void lg_case_free(lg_case *c) {
  free(c->len), free(c->x), free(c->h0), free(c->c0), free(c->w), free(c->wy), free(c->wh), free(c->wc);
  free(c->y), free(c->hn), free(c->cn), free(c->dx), free(c->dh0), free(c->dc0), free(c->dw);
  memset(c, 0, sizeof *c);
}

/* The tensor "<cs>.<key>" of dtype dt and n elements, or NULL with err set. */
static const pb_st_tensor *lg_find(const pb_st_file *f, const char *cs, const char *key, pb_st_dtype dt, size_t n,
                                   pb_err *err) {
  char name[160];
  snprintf(name, sizeof name, "%s.%s", cs, key);
  const pb_st_tensor *t = pb_st_find(f, name);
  if (!t) {
    pb_err_set(err, "%s lacks the tensor %s", LG_FIXTURE, name);
    return NULL;
  }
  size_t cnt = 1;
  for (int i = 0; i < t->ndim; i++) cnt *= (size_t)t->shape[i];
  if (t->dtype != dt || cnt != n) {
    pb_err_set(err, "%s: %s is %s with %zu elements, expected %s with %zu", LG_FIXTURE, name,
               pb_st_dtype_name(t->dtype), cnt, pb_st_dtype_name(dt), n);
    return NULL;
  }
  return t;
}

/* A private copy of "<cs>.<key>" (n elements of dt), or NULL with err set. */
static void *lg_copy(const pb_st_file *f, const char *cs, const char *key, pb_st_dtype dt, size_t n, pb_err *err) {
  const pb_st_tensor *t = lg_find(f, cs, key, dt, n, err);
  if (!t) return NULL;
  void *p = pb_xmalloc(t->nbytes ? t->nbytes : 1);
  memcpy(p, t->data, t->nbytes);
  return p;
}

/* Copies the fixture tensor "<cs>.<key>" ([rows, cols], or [rows] when cols == 1) to
 * dst + wt->offset after checking its shape against wt. */
static int lg_weight(float *dst, const pb_st_file *f, const char *cs, const char *key, const pb_lstm_weight *wt,
                     pb_err *err) {
  const size_t cnt = (size_t)wt->shape[0] * wt->shape[1];
  const pb_st_tensor *t = lg_find(f, cs, key, PB_ST_F32, cnt, err);
  if (!t) return PB_ERR;
  if (t->ndim != wt->ndim || t->shape[0] != wt->shape[0] || (wt->ndim == 2 && t->shape[1] != wt->shape[1]))
    return pb_err_set(err, "%s: %s.%s has another shape than plumb's [%d, %d]", LG_FIXTURE, cs, key, wt->shape[0],
                      wt->shape[1]);
  memcpy(dst + wt->offset, t->data, cnt * sizeof(float));
  return PB_OK;
}

/* Reads case cs into c (all fields), checking the weight layout (see the file comment). */
static int lg_read_case(const pb_st_file *f, const char *cs, lg_case *c, pb_err *err) {
  memset(c, 0, sizeof *c);
  if (strlen(cs) >= sizeof c->name) return pb_err_set(err, "%s: case name %s too long", LG_FIXTURE, cs);
  snprintf(c->name, sizeof c->name, "%s", cs);
  const pb_st_tensor *td = lg_find(f, cs, "dims", PB_ST_I32, 7, err);
  if (!td) return PB_ERR;
  int32_t dm[7];
  memcpy(dm, td->data, sizeof dm);
  if (dm[0] < 1 || dm[1] < 1 || dm[2] < 1 || dm[3] < 1 || dm[4] < 1 || (dm[5] != 0 && dm[5] != 1))
    return pb_err_set(err, "%s: %s.dims are not valid LSTM dimensions", LG_FIXTURE, cs);
  const pb_lstm_params p = {.seq_len = dm[0], .batch = dm[1], .input_size = dm[2], .hidden_size = dm[3],
                            .num_layers = dm[4], .bidirectional = dm[5], .dropout = 0.0f};
  c->p = p;
  c->has_h0 = dm[6] != 0;
  const size_t T = (size_t)p.seq_len, N = (size_t)p.batch, H = (size_t)p.hidden_size, dirs = p.bidirectional ? 2 : 1;
  c->ny = T * N * dirs * H, c->nh = (size_t)p.num_layers * dirs * N * H, c->nx = T * N * (size_t)p.input_size;
  c->nw = pb_lstm_weight_floats(&p);
  int ok = (c->len = lg_copy(f, cs, "lengths", PB_ST_I32, N, err)) &&
           (c->x = lg_copy(f, cs, "x", PB_ST_F32, c->nx, err)) &&
           (!c->has_h0 || (c->h0 = lg_copy(f, cs, "h0", PB_ST_F32, c->nh, err))) &&
           (!c->has_h0 || (c->c0 = lg_copy(f, cs, "c0", PB_ST_F32, c->nh, err))) &&
           (c->wy = lg_copy(f, cs, "wy", PB_ST_F32, c->ny, err)) && (c->wh = lg_copy(f, cs, "wh", PB_ST_F32, c->nh, err)) &&
           (c->wc = lg_copy(f, cs, "wc", PB_ST_F32, c->nh, err)) && (c->y = lg_copy(f, cs, "y", PB_ST_F32, c->ny, err)) &&
           (c->hn = lg_copy(f, cs, "h_n", PB_ST_F32, c->nh, err)) &&
           (c->cn = lg_copy(f, cs, "c_n", PB_ST_F32, c->nh, err)) &&
           (c->dx = lg_copy(f, cs, "dx", PB_ST_F32, c->nx, err)) &&
           (c->dh0 = lg_copy(f, cs, "dh0", PB_ST_F32, c->nh, err)) &&
           (c->dc0 = lg_copy(f, cs, "dc0", PB_ST_F32, c->nh, err));
  for (size_t n = 0; ok && n < N; n++)
    if (c->len[n] < 1 || c->len[n] > (int32_t)T) {
      pb_err_set(err, "%s: %s.lengths[%zu] = %d is not in 1..T", LG_FIXTURE, cs, n, (int)c->len[n]);
      ok = 0;
    }
  if (!ok) {
    lg_case_free(c);
    return PB_ERR;
  }
  /* the layout: PyTorch's names in order against plumb's tensors */
  char key[160];
  snprintf(key, sizeof key, "%s.names", cs);
  const char *nm = pb_st_meta(f, key);
  if (!nm) {
    lg_case_free(c);
    return pb_err_set(err, "%s lacks the metadata key %s", LG_FIXTURE, key);
  }
  c->w = pb_xcalloc(c->nw ? c->nw : 1, sizeof(float));
  c->dw = pb_xcalloc(c->nw ? c->nw : 1, sizeof(float));
  char *names = pb_xstrdup(nm);
  const int count = pb_lstm_weight_count(&p);
  int i = 0, rc = PB_OK;
  size_t next = 0;
  for (char *save = NULL, *n = strtok_r(names, ",", &save); n && rc == PB_OK; n = strtok_r(NULL, ",", &save), i++) {
    if (i >= count) {
      rc = pb_err_set(err, "%s: more tensors in PyTorch than plumb's %d", cs, count);
      break;
    }
    const pb_lstm_weight wt = pb_lstm_weight_at(&p, i);
    if (strcmp(wt.name, n) != 0)
      rc = pb_err_set(err, "%s: tensor %d is plumb's %s, PyTorch's %s", cs, i, wt.name, n);
    else if (wt.offset != next)
      rc = pb_err_set(err, "%s: %s at offset %zu, packed order needs %zu", cs, n, wt.offset, next);
    else if (wt.offset + (size_t)wt.shape[0] * wt.shape[1] > c->nw)
      rc = pb_err_set(err, "%s: %s ends past pb_lstm_weight_floats %zu", cs, n, c->nw);
    if (rc != PB_OK) break;
    char wk[96];
    snprintf(wk, sizeof wk, "w.%s", n);
    rc = lg_weight(c->w, f, cs, wk, &wt, err);
    snprintf(wk, sizeof wk, "dw.%s", n);
    if (rc == PB_OK) rc = lg_weight(c->dw, f, cs, wk, &wt, err);
    next = wt.offset + (size_t)wt.shape[0] * wt.shape[1];
  }
  free(names);
  if (rc == PB_OK && i != count) rc = pb_err_set(err, "%s: %d tensors in PyTorch, %d in plumb", cs, i, count);
  if (rc == PB_OK && next != c->nw) rc = pb_err_set(err, "%s: tensors end at %zu, weight_floats %zu", cs, next, c->nw);
  if (rc != PB_OK) lg_case_free(c);
  return rc;
}

/* The case names of the fixture's "cases" metadata: a NULL-terminated array of strings in one
 * allocation (free it with free), *count of them. NULL with err set when the list is missing. */
static char **lg_case_names(const pb_st_file *f, int *count, pb_err *err) {
  *count = 0;
  const char *list = pb_st_meta(f, "cases");
  if (!list || !*list) {
    pb_err_set(err, "%s lacks the metadata key cases", LG_FIXTURE);
    return NULL;
  }
  int cap = 2;
  for (const char *s = list; *s; s++) cap += *s == ',';
  const size_t len = strlen(list) + 1;
  char **v = pb_xmalloc(sizeof(char *) * (size_t)cap + len);
  char *text = (char *)(v + cap);
  memcpy(text, list, len);
  for (char *save = NULL, *n = strtok_r(text, ",", &save); n; n = strtok_r(NULL, ",", &save)) v[(*count)++] = n;
  v[*count] = NULL;
  return v;
}

/* Worst |got - ref| / (atol max|ref| + rtol |ref|) over n elements; one failed check (naming
 * the case, the tensor and the worst element) when it is above 1, or when got has a NaN. */
static double lg_cmp(const char *cs, const char *what, const float *got, const float *ref, size_t n, double atol,
                     double rtol) {
  double mx = 0, worst = 0;
  for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs((double)ref[i]));
  size_t wi = 0;
  for (size_t i = 0; i < n; i++) {
    const double d = fabs((double)got[i] - ref[i]), tol = atol * mx + rtol * fabs((double)ref[i]) + 1e-30;
    const double q = isnan(d) ? INFINITY : d / tol;
    if (q > worst) worst = q, wi = i;
  }
  PB_CHECK_MSG(worst <= 1.0, "%s %s: worst [%zu] got %.9g ref %.9g (max|ref| %.3g): %.3g of the tolerance", cs, what,
               wi, n ? got[wi] : 0.0f, n ? ref[wi] : 0.0f, mx, worst);
  return worst;
}

/* Outputs of one run, as lg_case's references. */
typedef struct lg_outs {
  const float *y, *hn, *cn, *dx, *dh0, *dc0, *dw;
} lg_outs;

/* Compares every output of o against c's references (dw per weight tensor) with
 * |got - ref| <= atol max|ref of the tensor| + rtol |ref|; *worst_fwd, *worst_bwd receive the
 * worst fractions of the tolerance of the forward (y, h_n, c_n) and backward outputs. */
static void lg_check(const lg_case *c, const lg_outs *o, double atol, double rtol, double *worst_fwd,
                     double *worst_bwd) {
  double wf = 0, wb = 0;
  wf = fmax(wf, lg_cmp(c->name, "y", o->y, c->y, c->ny, atol, rtol));
  wf = fmax(wf, lg_cmp(c->name, "h_n", o->hn, c->hn, c->nh, atol, rtol));
  wf = fmax(wf, lg_cmp(c->name, "c_n", o->cn, c->cn, c->nh, atol, rtol));
  wb = fmax(wb, lg_cmp(c->name, "dx", o->dx, c->dx, c->nx, atol, rtol));
  wb = fmax(wb, lg_cmp(c->name, "dh0", o->dh0, c->dh0, c->nh, atol, rtol));
  wb = fmax(wb, lg_cmp(c->name, "dc0", o->dc0, c->dc0, c->nh, atol, rtol));
  for (int t = 0; t < pb_lstm_weight_count(&c->p); t++) {
    const pb_lstm_weight wt = pb_lstm_weight_at(&c->p, t);
    char wk[96];
    snprintf(wk, sizeof wk, "dw.%s", wt.name);
    wb = fmax(wb, lg_cmp(c->name, wk, o->dw + wt.offset, c->dw + wt.offset, (size_t)wt.shape[0] * wt.shape[1], atol,
                         rtol));
  }
  *worst_fwd = wf, *worst_bwd = wb;
}

#endif
