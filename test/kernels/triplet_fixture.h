/* triplet_fixture.h: the PyTorch golden cases of the triplet loss, read from
 * test/fixtures/triplet_golden.safetensors, shared by test_golden_triplet.c (the CPU op; it states
 * the tolerances) and test_cuda_triplet.c (the CUDA twin, same tolerances). Header-only, static.
 *
 * Fixture: scripts/fixtures/gen_triplet_golden.py (its docstring lists the batches, the variants
 * and how the references are computed). Per batch "<b>.": E float32 [n, d], labels int32 [n],
 * margin float32 [1], scale float32 [1]. Per case "<b>.<variant>.": config int32 [4] (mode,
 * reduction, soft, squared), loss float64 [1], counts int64 [4], dE float64 [n, d]. Metadata
 * "batches" and "variants" list them, comma-separated; every batch has every variant. Every
 * tensor is checked for presence, dtype and shape, and copied out of the file's blob (which gives
 * no alignment guarantee). */
#ifndef PB_TEST_TRIPLET_FIXTURE_H
#define PB_TEST_TRIPLET_FIXTURE_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/models/safetensors.h"
#include "kernels/ops.h"
#include "kernels/pb_common.h"
#include "test/st_fixture.h"
#include "test/testutil.h"

#define TG_FIXTURE "triplet_golden.safetensors"

/* The golden tolerances, |got - ref| <= atol + TG_RTOL |ref| (justified in test_golden_triplet.c):
 * loss atol TG_ATOL_LOSS * tg_loss_scale(), dE atol TG_ATOL_GRAD * max |ref dE| + TG_FLOOR, counts
 * exact. The CUDA twin's test uses the same, against the goldens and against the CPU op. */
#define TG_RTOL 1e-6
#define TG_ATOL_LOSS 1e-12
#define TG_ATOL_GRAD 1e-9
#define TG_FLOOR 1e-38

typedef struct tg_batch {
  char name[48];
  int n, d;
  float *e;
  int32_t *labels;
  float margin, scale;
} tg_batch;

typedef struct tg_case {
  char name[112]; /* "<batch>.<variant>" */
  const tg_batch *b;
  pb_triplet_params p;
  double loss;
  int64_t counts[PB_TRIPLET_NCOUNTS];
  double *de; /* [n * d] */
} tg_case;

typedef struct tg_set {
  int nbatch, ncase;
  tg_batch *batch;
  tg_case *cases; /* batch-major, variants in the metadata's order */
} tg_set;

/* Variant v (0..15) of the fixture: bit 3 mode, 2 soft, 1 squared, 0 reduction; its name. */
static inline void variant_params(pb_triplet_params *p, int v, int n, int d, float margin) {
  *p = (pb_triplet_params){.n = n, .d = d, .mode = (v >> 3) & 1, .soft = (v >> 2) & 1, .squared = (v >> 1) & 1,
                           .reduction = v & 1, .margin = margin};
}

static inline const char *variant_name(const pb_triplet_params *p) {
  static char buf[64];
  snprintf(buf, sizeof buf, "%s_%s_%s_%s", p->mode ? "all" : "hard", p->soft ? "soft" : "hinge",
           p->squared ? "sq" : "euc", p->reduction ? "nonzero" : "mean");
  return buf;
}

/* A private copy of the tensor "<prefix>.<key>" (test/st_fixture.h). */
static void *tg_tensor(const pb_st_file *f, const char *prefix, const char *key, pb_st_dtype dt, int ndim, int64_t d0,
                       int64_t d1, pb_err *err) {
  return pb_test_st_copy(f, TG_FIXTURE, prefix, key, dt, ndim, d0, d1, err);
}

/* Splits the metadata list key into *count names of at most 47 characters (pb_xcalloc'd). */
static int tg_list(const pb_st_file *f, const char *key, char (**names)[48], int *count, pb_err *err) {
  *names = NULL, *count = 0;
  const char *list = pb_st_meta(f, key);
  if (!list || !*list) return pb_err_set(err, "%s lacks the metadata key %s", TG_FIXTURE, key);
  int cap = 1;
  for (const char *p = list; *p; p++) cap += *p == ',';
  char(*out)[48] = pb_xcalloc((size_t)cap, sizeof *out);
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ',');
    const size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == 0 || len >= sizeof out[0]) {
      free(out);
      return pb_err_set(err, "%s: bad list in metadata %s: \"%s\"", TG_FIXTURE, key, list);
    }
    memcpy(out[*count], p, len), out[*count][len] = '\0';
    ++*count;
    p += len + (e != NULL);
  }
  *names = out;
  return PB_OK;
}

/* 1 + margin + the largest distance between rows of e [n, d] (the loss tolerance's scale; the
 * distances in double by direct differences, as ops.h defines them). */
static double tg_loss_scale(const float *e, int n, int d, const pb_triplet_params *p) {
  double m = 0.0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      double s = 0.0;
      for (int k = 0; k < d; k++) {
        const double t = (double)e[(size_t)i * d + k] - (double)e[(size_t)j * d + k];
        s += t * t;
      }
      m = fmax(m, p->squared ? s : sqrt(s + 1e-12));
    }
  return 1.0 + fabs((double)p->margin) + m;
}

static void tg_free(tg_set *s) {
  for (int i = 0; i < s->nbatch; i++) free(s->batch[i].e), free(s->batch[i].labels);
  for (int i = 0; i < s->ncase; i++) free(s->cases[i].de);
  free(s->batch), free(s->cases);
  memset(s, 0, sizeof *s);
}

static int tg_read_batch(const pb_st_file *f, const char *bn, tg_batch *b, pb_err *err) {
  memset(b, 0, sizeof *b);
  snprintf(b->name, sizeof b->name, "%s", bn);
  char name[96];
  snprintf(name, sizeof name, "%s.E", bn);
  const pb_st_tensor *te = pb_st_find(f, name);
  if (!te) return pb_err_set(err, "%s lacks the tensor %s", TG_FIXTURE, name);
  if (te->ndim != 2 || te->shape[0] < 1 || te->shape[1] < 1 || te->shape[0] > 100000 || te->shape[1] > 100000)
    return pb_err_set(err, "%s: %s must be [n, d] with 1 <= n, d <= 100000", TG_FIXTURE, name);
  const int64_t n = te->shape[0], d = te->shape[1];
  b->n = (int)n, b->d = (int)d;
  float *margin = NULL, *scale = NULL;
  const int ok = (b->e = tg_tensor(f, bn, "E", PB_ST_F32, 2, n, d, err)) &&
                 (b->labels = tg_tensor(f, bn, "labels", PB_ST_I32, 1, n, 0, err)) &&
                 (margin = tg_tensor(f, bn, "margin", PB_ST_F32, 1, 1, 0, err)) &&
                 (scale = tg_tensor(f, bn, "scale", PB_ST_F32, 1, 1, 0, err));
  if (ok) b->margin = margin[0], b->scale = scale[0];
  free(margin), free(scale);
  return ok ? PB_OK : PB_ERR;
}

static int tg_read_case(const pb_st_file *f, const tg_batch *b, const char *vn, tg_case *c, pb_err *err) {
  memset(c, 0, sizeof *c);
  snprintf(c->name, sizeof c->name, "%s.%s", b->name, vn);
  c->b = b;
  int32_t *cfg = NULL;
  double *loss = NULL;
  int64_t *counts = NULL;
  int ok = (cfg = tg_tensor(f, c->name, "config", PB_ST_I32, 1, 4, 0, err)) &&
           (loss = tg_tensor(f, c->name, "loss", PB_ST_F64, 1, 1, 0, err)) &&
           (counts = tg_tensor(f, c->name, "counts", PB_ST_I64, 1, PB_TRIPLET_NCOUNTS, 0, err)) &&
           (c->de = tg_tensor(f, c->name, "dE", PB_ST_F64, 2, b->n, b->d, err));
  if (ok) {
    for (int i = 0; i < 4; i++) ok &= cfg[i] == 0 || cfg[i] == 1;
    if (!ok) pb_err_set(err, "%s: %s.config must hold 0 or 1", TG_FIXTURE, c->name);
  }
  if (ok) {
    c->p = (pb_triplet_params){.n = b->n, .d = b->d, .mode = cfg[0], .reduction = cfg[1], .soft = cfg[2],
                               .squared = cfg[3], .margin = b->margin};
    c->loss = loss[0];
    memcpy(c->counts, counts, sizeof c->counts);
  }
  free(cfg), free(loss), free(counts);
  return ok ? PB_OK : PB_ERR;
}

/* Reads every batch and case of the committed fixture into s. PB_ERR, with a message naming the
 * file and the tensor, when the file cannot be read or a tensor is missing or malformed. */
static int tg_load(tg_set *s, pb_err *err) {
  memset(s, 0, sizeof *s);
  pb_st_file f;
  if (pb_st_read(&f, pb_test_fixture(TG_FIXTURE), err)) return PB_ERR;
  char(*bn)[48] = NULL, (*vn)[48] = NULL;
  int nb = 0, nv = 0, rc = tg_list(&f, "batches", &bn, &nb, err);
  if (rc == PB_OK) rc = tg_list(&f, "variants", &vn, &nv, err);
  if (rc == PB_OK) {
    s->batch = pb_xcalloc((size_t)nb, sizeof *s->batch);
    s->cases = pb_xcalloc((size_t)nb * (size_t)nv, sizeof *s->cases);
    for (int i = 0; rc == PB_OK && i < nb; i++) {
      rc = tg_read_batch(&f, bn[i], &s->batch[i], err);
      s->nbatch = i + 1; /* freed by tg_free even when partly read */
      for (int v = 0; rc == PB_OK && v < nv; v++) {
        rc = tg_read_case(&f, &s->batch[i], vn[v], &s->cases[s->ncase], err);
        s->ncase++;
      }
    }
  }
  free(bn), free(vn);
  pb_st_free(&f);
  if (rc != PB_OK) tg_free(s);
  return rc;
}

#endif
