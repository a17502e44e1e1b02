/* testutil.h: small helpers shared by the ctest executables. */
#ifndef PB_TESTUTIL_H
#define PB_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Counts failures; a test's main returns pb_test_exit(). */
extern int pb_test_failures;

#define PB_CHECK(cond)                                                            \
  do {                                                                            \
    if (!(cond)) {                                                                \
      fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);             \
      pb_test_failures++;                                                         \
    }                                                                             \
  } while (0)

#define PB_CHECK_MSG(cond, ...)                                                   \
  do {                                                                            \
    if (!(cond)) {                                                                \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);             \
      fprintf(stderr, __VA_ARGS__);                                               \
      fputc('\n', stderr);                                                        \
      pb_test_failures++;                                                         \
    }                                                                             \
  } while (0)

/* Returns 0 when no check failed, else 1, and prints a one-line verdict. */
int pb_test_exit(const char *name);

/* Fills x[n] with uniform values in [lo, hi) from a counter-based stream (seeded). */
void pb_test_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed);

/* Compares got against ref element-wise with |g - r| <= atol + rtol*|r|. Prints the worst
 * element and returns the number of violations (0 = all close). what names the tensor. */
size_t pb_test_allclose(const char *what, const float *got, const float *ref, size_t n, double atol,
                        double rtol);

/* Max absolute difference. */
double pb_test_max_abs_diff(const float *a, const float *b, size_t n);

/* ||got - ref||_2 / ||ref||_2 (the absolute norm when ref is all zeros; NaN if any is NaN). */
double pb_test_rel_l2(const float *got, const float *ref, size_t n);

/* dir "/" name in one of 4 rotating static buffers (so a few may be used in one call). */
const char *pb_test_path(const char *dir, const char *name);

/* Writes n bytes of b to path (created or truncated); aborts on an I/O error. */
void pb_test_write_file(const char *path, const void *b, size_t n);

/* Path of a committed fixture: PLUMB_FIXTURES "/" name (static buffer). */
const char *pb_test_fixture(const char *name);

/* A fresh empty temporary directory for this test (created; static buffer). */
const char *pb_test_tmpdir(const char *name);

#endif
