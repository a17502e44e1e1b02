/* testutil.c: helpers for the ctest executables (see testutil.h). */
#include "test/testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/pb_common.h"
#include "kernels/pb_rng.h"

int pb_test_failures = 0;

int pb_test_exit(const char *name) {
  if (pb_test_failures) {
    fprintf(stderr, "%s: %d check(s) failed\n", name, pb_test_failures);
    return 1;
  }
  printf("%s: all checks passed\n", name);
  return 0;
}

void pb_test_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed) {
  for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * pb_rng_uniform(seed, 99, i);
}

size_t pb_test_allclose(const char *what, const float *got, const float *ref, size_t n, double atol,
                        double rtol) {
  size_t bad = 0, worst = 0;
  double worst_excess = -1;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - (double)ref[i]);
    double tol = atol + rtol * fabs((double)ref[i]);
    if (!(d <= tol)) bad++;
    double excess = isnan(d) ? INFINITY : d - tol;
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = i;
    }
  }
  if (bad && n) {
    fprintf(stderr, "  %s: %zu/%zu elements out of tolerance (atol %g rtol %g); worst [%zu] got %.8g ref %.8g\n",
            what, bad, n, atol, rtol, worst, got[worst], ref[worst]);
  }
  return bad;
}

double pb_test_max_abs_diff(const float *a, const float *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]);
    if (d > m || isnan(d)) m = d;
  }
  return m;
}

double pb_test_rel_l2(const float *got, const float *ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)got[i] - (double)ref[i];
    num += d * d;
    den += (double)ref[i] * ref[i];
  }
  if (isnan(num)) return NAN;
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

const char *pb_test_path(const char *dir, const char *name) {
  static char p[4][4200];
  static int k;
  k = (k + 1) % 4;
  snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
  return p[k];
}

void pb_test_write_file(const char *path, const void *b, size_t n) {
  FILE *f = fopen(path, "wb");
  PB_ASSERT(f);
  if (n) PB_ASSERT(fwrite(b, 1, n, f) == n);
  PB_ASSERT(fclose(f) == 0);
}

const char *pb_test_fixture(const char *name) {
  static char path[4096];
  snprintf(path, sizeof path, "%s/%s", PLUMB_FIXTURES, name);
  return path;
}

const char *pb_test_tmpdir(const char *name) {
  static char path[4096];
  snprintf(path, sizeof path, "%s/pb_test_%s_%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", name,
           (int)getpid());
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
  if (system(cmd) != 0) { /* best effort */
  }
  mkdir(path, 0755);
  return path;
}
