/* debias_fixture.h: the PyTorch golden cases of the fused debiasing losses (RUBi, LearnedMixin+H),
 * read from test/fixtures/debias_golden.safetensors, shared by test_golden_debias.c (the CPU ops;
 * it states the tolerances) and test_cuda_debias.c (the CUDA twins, same tolerances).
 * Header-only, static.
 *
 * Fixture: scripts/fixtures/gen_debias_golden.py (its docstring lists the cases and the
 * mean-to-sum conventions). Per case "<case>.": f [n, k], h [n, k] (RUBi) or g [n, k] and
 * a [n] (Mixin), all float32; labels int32 [n]; scale float32 [2] (scale, scale_head) or
 * (scale, scale_ent); the float64 references loss [2] (the two sums), df [n, k] and dh [n, k]
 * (RUBi) or da [n] (Mixin). n and k are f's shape. Metadata rubi_cases and mixin_cases list the
 * cases, comma-separated. Every tensor is checked for presence, dtype and shape, and copied
 * out of the file's blob (which gives no alignment guarantee). */
#ifndef PB_TEST_DEBIAS_FIXTURE_H
#define PB_TEST_DEBIAS_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/models/safetensors.h"
#include "kernels/pb_common.h"
#include "test/st_fixture.h"
#include "test/testutil.h"

#define DG_FIXTURE "debias_golden.safetensors"

/* One case. RUBi: x2 = h, d1 = df [n*k], d2 = dh [n*k], scale2 = scale_head, a NULL.
 * Mixin: x2 = g, a [n], d1 = df [n*k], d2 = da [n], scale2 = scale_ent. */
typedef struct dg_case {
  char name[48];
  int n, k;
  float scale, scale2;
  float *f, *x2, *a;
  int32_t *labels;
  double loss[2];
  double *d1, *d2;
} dg_case;

/* Every case of the fixture, in the order of its metadata lists. */
typedef struct dg_set {
  int nrubi, nmixin;
  dg_case *rubi, *mixin;
} dg_set;

/* A private copy of the tensor "<prefix>.<key>" (test/st_fixture.h). */
static void *dg_tensor(const pb_st_file *f, const char *prefix, const char *key, pb_st_dtype dt, int ndim, int64_t d0,
                       int64_t d1, pb_err *err) {
  return pb_test_st_copy(f, DG_FIXTURE, prefix, key, dt, ndim, d0, d1, err);
}

static void dg_case_free(dg_case *c) {
  free(c->f), free(c->x2), free(c->a), free(c->labels), free(c->d1), free(c->d2);
  memset(c, 0, sizeof *c);
}

/* Reads the case cs (mixin: a LearnedMixin case, else RUBi) into c. */
static int dg_read_case(const pb_st_file *f, const char *cs, int mixin, dg_case *c, pb_err *err) {
  memset(c, 0, sizeof *c);
  if (strlen(cs) >= sizeof c->name) return pb_err_set(err, "%s: case name %s too long", DG_FIXTURE, cs);
  snprintf(c->name, sizeof c->name, "%s", cs);
  char name[96];
  snprintf(name, sizeof name, "%s.f", cs);
  const pb_st_tensor *tf = pb_st_find(f, name);
  if (!tf) return pb_err_set(err, "%s lacks the tensor %s", DG_FIXTURE, name);
  if (tf->ndim != 2 || tf->shape[0] < 1 || tf->shape[1] < 1 || tf->shape[0] > INT32_MAX || tf->shape[1] > INT32_MAX)
    return pb_err_set(err, "%s: %s must be [n, k] with n, k >= 1", DG_FIXTURE, name);
  const int64_t n = tf->shape[0], k = tf->shape[1];
  c->n = (int)n, c->k = (int)k;
  float *scale = NULL;
  double *loss = NULL;
  int ok = (c->f = dg_tensor(f, cs, "f", PB_ST_F32, 2, n, k, err)) &&
           (c->x2 = dg_tensor(f, cs, mixin ? "g" : "h", PB_ST_F32, 2, n, k, err)) &&
           (!mixin || (c->a = dg_tensor(f, cs, "a", PB_ST_F32, 1, n, 0, err))) &&
           (c->labels = dg_tensor(f, cs, "labels", PB_ST_I32, 1, n, 0, err)) &&
           (scale = dg_tensor(f, cs, "scale", PB_ST_F32, 1, 2, 0, err)) &&
           (loss = dg_tensor(f, cs, "loss", PB_ST_F64, 1, 2, 0, err)) &&
           (c->d1 = dg_tensor(f, cs, "df", PB_ST_F64, 2, n, k, err)) &&
           (c->d2 = mixin ? dg_tensor(f, cs, "da", PB_ST_F64, 1, n, 0, err)
                          : dg_tensor(f, cs, "dh", PB_ST_F64, 2, n, k, err));
  if (ok) {
    c->scale = scale[0], c->scale2 = scale[1];
    c->loss[0] = loss[0], c->loss[1] = loss[1];
  }
  free(scale), free(loss);
  if (!ok) {
    dg_case_free(c);
    return PB_ERR;
  }
  return PB_OK;
}

/* The cases listed in the metadata key key ("rubi_cases", "mixin_cases"): *out, *count. */
static int dg_read_list(const pb_st_file *f, const char *key, int mixin, dg_case **out, int *count, pb_err *err) {
  *out = NULL, *count = 0;
  const char *list = pb_st_meta(f, key);
  if (!list || !*list) return pb_err_set(err, "%s lacks the metadata key %s (its case list)", DG_FIXTURE, key);
  int cap = 1;
  for (const char *p = list; *p; p++) cap += *p == ',';
  dg_case *cs = pb_xcalloc((size_t)cap, sizeof *cs);
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ',');
    const size_t len = e ? (size_t)(e - p) : strlen(p);
    char name[64];
    if (len == 0 || len >= sizeof name) {
      for (int i = 0; i < *count; i++) dg_case_free(&cs[i]);
      free(cs);
      *count = 0;
      return pb_err_set(err, "%s: bad case list in metadata %s: \"%s\"", DG_FIXTURE, key, list);
    }
    memcpy(name, p, len), name[len] = '\0';
    if (dg_read_case(f, name, mixin, &cs[*count], err)) {
      for (int i = 0; i < *count; i++) dg_case_free(&cs[i]);
      free(cs);
      *count = 0;
      return PB_ERR;
    }
    ++*count;
    p += len + (e != NULL);
  }
  *out = cs;
  return PB_OK;
}

static void dg_free(dg_set *s) {
  for (int i = 0; i < s->nrubi; i++) dg_case_free(&s->rubi[i]);
  for (int i = 0; i < s->nmixin; i++) dg_case_free(&s->mixin[i]);
  free(s->rubi), free(s->mixin);
  memset(s, 0, sizeof *s);
}

/* Reads every case of the committed fixture into s. PB_ERR, with a message naming the file and
 * the tensor, when the file cannot be read or a tensor is missing or has the wrong dtype or
 * shape. */
static int dg_load(dg_set *s, pb_err *err) {
  memset(s, 0, sizeof *s);
  pb_st_file f;
  if (pb_st_read(&f, pb_test_fixture(DG_FIXTURE), err)) return PB_ERR;
  int rc = dg_read_list(&f, "rubi_cases", 0, &s->rubi, &s->nrubi, err);
  if (rc == PB_OK) rc = dg_read_list(&f, "mixin_cases", 1, &s->mixin, &s->nmixin, err);
  pb_st_free(&f);
  if (rc != PB_OK) dg_free(s);
  return rc;
}

#endif
