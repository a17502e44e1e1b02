/* seq.c: the sequence layout and pooling ops (ops.h, "sequence layout and pooling"), the CPU
 * reference; the twin is kernels/cuda/seq.cu. Rows are independent, so the results do not
 * depend on the thread count; the mean sums each row in t order in double. */
#include <string.h>

#include "kernels/ops.h"

void pb_seq_swap01_cpu(float *y, const float *x, int a, int b, int d, int nthreads) {
  const long rows = (long)a * b;
#pragma omp parallel for num_threads(nthreads) schedule(static) if (rows * d > 65536)
  for (long r = 0; r < rows; r++) {
    const long i = r / b, j = r % b; /* x row (i, j) -> y row (j, i) */
    memcpy(y + ((size_t)j * a + (size_t)i) * (size_t)d, x + (size_t)r * (size_t)d, sizeof(float) * (size_t)d);
  }
}

void pb_seq_mean_fwd_cpu(float *y, const float *x, const int32_t *lengths, int t, int n, int c, int nthreads) {
  (void)t;
#pragma omp parallel for num_threads(nthreads) schedule(static) if ((long)n * c * t > 65536)
  for (int i = 0; i < n; i++) {
    const int len = lengths[i];
    for (int k = 0; k < c; k++) {
      double s = 0.0;
      for (int s_ = 0; s_ < len; s_++) s += (double)x[((size_t)s_ * n + (size_t)i) * (size_t)c + (size_t)k];
      y[(size_t)i * c + k] = (float)(s / (double)len);
    }
  }
}

void pb_seq_mean_bwd_cpu(float *dx, const float *dy, const int32_t *lengths, int t, int n, int c, int nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static) if ((long)n * c * t > 65536)
  for (int i = 0; i < n; i++) {
    const int len = lengths[i];
    for (int s = 0; s < t; s++) {
      float *row = dx + ((size_t)s * n + (size_t)i) * (size_t)c;
      if (s >= len) {
        memset(row, 0, sizeof(float) * (size_t)c);
        continue;
      }
      for (int k = 0; k < c; k++) row[k] = (float)((double)dy[(size_t)i * c + k] / (double)len);
    }
  }
}
