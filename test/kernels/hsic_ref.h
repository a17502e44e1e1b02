/* hsic_ref.h: a float64 reimplementation of the HSIC estimators, written from REFERENCES.md
 * ("ReBias") independently of kernels/cpu/hsic.c's algebra, for test_hsic.c (finite differences,
 * values) and test_cuda_hsic.c (the terms' scale of its tolerances): D_ij = sum_k (x_ik - x_jk)^2
 * directly (no Gram matrix), K = exp(-D / (2 sigma^2)); the biased estimator as
 * sum_ij (HKH)_ij L_ij with H applied explicitly, the unbiased one term by term with Kt, Lt
 * (zeroed diagonals). O(n^2 (dx + dy)). Header-only, static. */
#ifndef PB_TEST_HSIC_REF_H
#define PB_TEST_HSIC_REF_H

#include <math.h>
#include <stdlib.h>

static void ref_kernel(double *k, const double *x, int n, int d, double sigma) {
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      double s = 0.0;
      for (int c = 0; c < d; c++) {
        const double t = x[(size_t)i * d + c] - x[(size_t)j * d + c];
        s += t * t;
      }
      k[(size_t)i * n + j] = exp(-s / (2.0 * sigma * sigma));
    }
}

/* HSIC in double; *terms (may be NULL) = the size of the terms the estimator adds, as the golden
 * generator defines it (scripts/fixtures/gen_hsic_golden.py). */
static double ref_hsic(const double *x, const double *y, int n, int dx, int dy, double sx, double sy, int unbiased,
                       double *terms) {
  double *k = malloc(sizeof(double) * n * n), *l = malloc(sizeof(double) * n * n);
  ref_kernel(k, x, n, dx, sx);
  ref_kernel(l, y, n, dy, sy);
  double v, t1 = 0, t2, t3;
  if (unbiased) {
    double sk = 0, sl = 0, q = 0;
    for (int i = 0; i < n; i++) {
      double ki = 0, li = 0;
      for (int j = 0; j < n; j++) {
        if (j == i) continue; /* Kt, Lt: zero diagonal */
        t1 += k[(size_t)i * n + j] * l[(size_t)j * n + i];
        ki += k[(size_t)i * n + j];
        li += l[(size_t)i * n + j];
      }
      sk += ki, sl += li, q += ki * li;
    }
    t2 = sk * sl / ((n - 1.0) * (n - 2.0));
    t3 = 2.0 / (n - 2.0) * q;
    v = (t1 + t2 - t3) / (n * (n - 3.0));
    if (terms) *terms = (fabs(t1) + fabs(t2) + fabs(t3)) / (n * (n - 3.0));
  } else {
    /* tr(K H L H) = sum_ij (HKH)_ij L_ij, HKH = K - row means - column means + grand mean */
    double *rm = calloc(n, sizeof(double)), *cm = calloc(n, sizeof(double)), g = 0, sk = 0, sl = 0, q = 0;
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++) rm[i] += k[(size_t)i * n + j] / n, cm[j] += k[(size_t)i * n + j] / n;
    for (int i = 0; i < n; i++) g += rm[i] / n;
    v = 0;
    for (int i = 0; i < n; i++) {
      double ki = 0, li = 0;
      for (int j = 0; j < n; j++) {
        v += (k[(size_t)i * n + j] - rm[i] - cm[j] + g) * l[(size_t)i * n + j];
        t1 += k[(size_t)i * n + j] * l[(size_t)i * n + j];
        ki += k[(size_t)i * n + j], li += l[(size_t)i * n + j];
      }
      sk += ki, sl += li, q += ki * li;
    }
    v /= (n - 1.0) * (n - 1.0);
    t2 = 2.0 / n * q;
    t3 = sk * sl / ((double)n * n);
    if (terms) *terms = (fabs(t1) + fabs(t2) + fabs(t3)) / ((n - 1.0) * (n - 1.0));
    free(rm), free(cm);
  }
  free(k), free(l);
  return v;
}

#endif
