/* linear.c: CPU fully connected layer with nn.Linear's layout (w [out, in]). Its CUDA twin
 * will be kernels/cuda/linear.cu (cuBLAS).
 *
 * Each op is a few GEMMs split into nthreads fixed blocks, every block one single-threaded
 * pb_sgemm_cpu call: y and dx split the batch rows, dw and db split the output features. No
 * element is written by two threads and no sum crosses a block, so the result is deterministic
 * for a given nthreads. */
#include "kernels/ops.h"

/* Rows [lo, hi) of block t when `rows` are split into nt blocks. */
static void pb_linear_block(int *lo, int *hi, int rows, int t, int nt) {
  *lo = (int)((long)rows * t / nt);
  *hi = (int)((long)rows * (t + 1) / nt);
}

void pb_linear_fwd_cpu(float *y, const float *x, const float *w, const float *b, int n, int in,
                       int out, int nthreads) {
  const int nt = nthreads < 1 ? 1 : nthreads;
#pragma omp parallel for schedule(static) num_threads(nt)
  for (int t = 0; t < nt; t++) {
    int r0, r1;
    pb_linear_block(&r0, &r1, n, t, nt);
    if (r1 <= r0) continue;
    /* y[r0:r1, :] = x[r0:r1, :] w^T */
    pb_sgemm_cpu(0, 1, r1 - r0, out, in, 1.0f, x + (size_t)r0 * in, in, w, in, 0.0f,
                 y + (size_t)r0 * out, out);
    if (b)
      for (int r = r0; r < r1; r++) {
        float *yr = y + (size_t)r * out;
        for (int o = 0; o < out; o++) yr[o] += b[o];
      }
  }
}

void pb_linear_bwd_cpu(float *dx, float *dw, float *db, const float *dy, const float *x,
                       const float *w, int n, int in, int out, int nthreads) {
  const int nt = nthreads < 1 ? 1 : nthreads;
#pragma omp parallel num_threads(nt)
  {
    if (dx) {
#pragma omp for schedule(static) nowait
      for (int t = 0; t < nt; t++) {
        int r0, r1;
        pb_linear_block(&r0, &r1, n, t, nt);
        if (r1 <= r0) continue;
        /* dx[r0:r1, :] = dy[r0:r1, :] w */
        pb_sgemm_cpu(0, 0, r1 - r0, in, out, 1.0f, dy + (size_t)r0 * out, out, w, in, 0.0f,
                     dx + (size_t)r0 * in, in);
      }
    }
#pragma omp for schedule(static)
    for (int t = 0; t < nt; t++) {
      int o0, o1;
      pb_linear_block(&o0, &o1, out, t, nt);
      if (o1 <= o0) continue;
      /* dw[o0:o1, :] += dy[:, o0:o1]^T x  (dy seen as stored [k = n, m = out]) */
      pb_sgemm_cpu(1, 0, o1 - o0, in, n, 1.0f, dy + o0, out, x, in, 1.0f, dw + (size_t)o0 * in,
                   in);
      if (db)
        for (int o = o0; o < o1; o++) {
          float acc = 0.0f;
          for (int r = 0; r < n; r++) acc += dy[(size_t)r * out + o];
          db[o] += acc;
        }
    }
  }
}
