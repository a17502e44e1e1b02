/* st_fixture.h: reading PyTorch golden fixtures (the .safetensors files of test/fixtures/) in
 * the op tests: a private copy of one tensor, checked for presence, dtype and shape, with a
 * message naming the fixture, the tensor, what it is and what was expected. Header-only (static), for the
 * fixture readers of test/kernels/ (debias_fixture.h, triplet_fixture.h). */
#ifndef PB_TEST_ST_FIXTURE_H
#define PB_TEST_ST_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "engine/models/safetensors.h"
#include "kernels/pb_common.h"

/* A pb_xmalloc'd copy of the tensor "<prefix>.<key>" of f (read from the file named fixture),
 * which must exist with dtype dt and shape [d0] (ndim 1) or [d0, d1] (ndim 2). NULL and err
 * set otherwise. */
static inline void *pb_test_st_copy(const pb_st_file *f, const char *fixture, const char *prefix, const char *key,
                                    pb_st_dtype dt, int ndim, int64_t d0, int64_t d1, pb_err *err) {
  char name[160];
  snprintf(name, sizeof name, "%s.%s", prefix, key);
  const pb_st_tensor *t = pb_st_find(f, name);
  if (!t) {
    pb_err_set(err, "%s lacks the tensor %s", fixture, name);
    return NULL;
  }
  const int64_t want[2] = {d0, d1};
  int ok = t->dtype == dt && t->ndim == ndim;
  for (int d = 0; ok && d < ndim; d++) ok = t->shape[d] == want[d];
  if (!ok) {
    char got[128] = "", exp[64];
    for (int d = 0; d < t->ndim && strlen(got) < sizeof got - 24; d++)
      snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (ndim == 1)
      snprintf(exp, sizeof exp, "%lld", (long long)d0);
    else
      snprintf(exp, sizeof exp, "%lld, %lld", (long long)d0, (long long)d1);
    pb_err_set(err, "%s: %s is %s [%s], expected %s [%s]", fixture, name, pb_st_dtype_name(t->dtype), got,
               pb_st_dtype_name(dt), exp);
    return NULL;
  }
  void *p = pb_xmalloc(t->nbytes ? t->nbytes : 1);
  memcpy(p, t->data, t->nbytes);
  return p;
}

#endif
