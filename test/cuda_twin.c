/* cuda_twin.c: the CUDA twin tests' shared harness (see cuda_twin.h). Only pb_cuda_* calls:
 * in a CPU-only build they resolve to kernels/cuda/stubs.c and pb_twin_require_gpu exits 77
 * before any of them runs. */
#include "test/cuda_twin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda_device.h"
#include "kernels/pb_common.h"
#include "test/testutil.h"

void pb_twin_require_gpu(void) {
  char why[256] = "";
  if (pb_cuda_device_count(why, sizeof why) > 0) return;
  printf("skipped: no GPU (%s)\n", why);
  exit(77);
}

void pb_twin_env(pb_cuda_env *env, size_t workspace, int deterministic, int tf32) {
  pb_err err = {{0}};
  if (pb_cuda_env_init(env, 0, workspace, deterministic, tf32, &err) != PB_OK) {
    fprintf(stderr, "FAIL: env init: %s\n", err.msg);
    exit(1);
  }
}

void *pb_twin_alloc(size_t bytes) {
  pb_err err = {{0}};
  void *d = pb_cuda_alloc(bytes, "test buffer", &err);
  if (!d) {
    fprintf(stderr, "FAIL: %s\n", err.msg);
    exit(1);
  }
  return d;
}

void *pb_twin_from(const void *host, size_t bytes, const pb_cuda_env *env) {
  void *d = pb_twin_alloc(bytes);
  pb_cuda_h2d(d, host, bytes, env); /* a no-op for 0 bytes */
  return d;
}

float *pb_twin_fromf(const float *host, size_t n, const pb_cuda_env *env) {
  return pb_twin_from(host, n * sizeof(float), env);
}

void *pb_twin_host(const void *dev, size_t bytes, const pb_cuda_env *env) {
  void *h = pb_xmalloc(bytes ? bytes : 1);
  pb_cuda_d2h(h, dev, bytes, env); /* waits for the stream; a no-op for 0 bytes */
  pb_cuda_sync(env);               /* so that 0 bytes waits too */
  return h;
}

float *pb_twin_hostf(const float *dev, size_t n, const pb_cuda_env *env) {
  return pb_twin_host(dev, n * sizeof(float), env);
}

size_t pb_twin_diff_bits(const float *a, const float *b, size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++) c += memcmp(&a[i], &b[i], sizeof(float)) != 0;
  return c;
}

size_t pb_twin_diff_bits_nan(const float *a, const float *b, size_t n, size_t *first) {
  size_t bad = 0, f = 0;
  for (size_t i = 0; i < n; i++) {
    const int same = (isnan(a[i]) && isnan(b[i])) || memcmp(&a[i], &b[i], sizeof(float)) == 0;
    if (!same && bad++ == 0) f = i;
  }
  if (first) *first = f;
  return bad;
}

double pb_twin_max_abs(const float *a, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++)
    if (fabs((double)a[i]) > m) m = fabs((double)a[i]);
  return m;
}

double pb_twin_check_bits(const char *what, const float *d_got, const float *ref, size_t n,
                          const pb_cuda_env *env) {
  float *got = pb_twin_hostf(d_got, n, env);
  size_t first = 0;
  const size_t bad = pb_twin_diff_bits_nan(got, ref, n, &first);
  PB_CHECK_MSG(bad == 0, "%s (n=%zu): %zu elements not bitwise equal, first [%zu] got %.9g ref %.9g", what, n, bad,
               first, got[first], ref[first]);
  double e = 0.0; /* max abs error, NaN pairs left out */
  for (size_t i = 0; i < n; i++) {
    if (isnan(got[i]) && isnan(ref[i])) continue;
    const double d = fabs((double)got[i] - (double)ref[i]);
    if (d > e || isnan(d)) e = d;
  }
  free(got);
  return e;
}

double pb_twin_check_close(const char *what, const float *d_got, const float *ref, size_t n, double atol,
                           double rtol, const pb_cuda_env *env) {
  float *got = pb_twin_hostf(d_got, n, env);
  const size_t bad = pb_test_allclose(what, got, ref, n, atol, rtol);
  PB_CHECK_MSG(bad == 0, "%s: %zu of %zu out of tolerance", what, bad, n);
  const double e = pb_test_max_abs_diff(got, ref, n);
  free(got);
  return e;
}

double pb_twin_check_gemm(const char *what, const float *got, const float *ref, size_t n, int tf32) {
  const double m = pb_twin_max_abs(ref, n) > 1.0 ? pb_twin_max_abs(ref, n) : 1.0;
  const double atol = (tf32 ? 5e-3 : 1e-4) * m, rtol = tf32 ? 5e-3 : 1e-4;
  const size_t bad = pb_test_allclose(what, got, ref, n, atol, rtol);
  PB_CHECK_MSG(bad == 0, "%s: %zu of %zu out of tolerance", what, bad, n);
  return pb_test_max_abs_diff(got, ref, n);
}
