/* layout.c: the permutations between NCHW and channels-last NHWC (ops.h "layout"); the CUDA twin is
 * kernels/cuda/layout.cu. Each sample's [c, hw] matrix is transposed in 32 x 32 tiles (both sides of
 * a tile stay in cache), samples and tile rows split over OpenMP threads: a copy, so bitwise for
 * every thread count. */
#include "kernels/ops.h"

#define PB_LAYOUT_TILE 32
#define PB_LAYOUT_PAR_MIN 65536

/* y[b][a] = x[a][b] for one sample, x [rows, cols]. */
static void pb_transpose_tile_rows(float *restrict y, const float *restrict x, int rows, int cols, int r0) {
  const int r1 = r0 + PB_LAYOUT_TILE < rows ? r0 + PB_LAYOUT_TILE : rows;
  for (int c0 = 0; c0 < cols; c0 += PB_LAYOUT_TILE) {
    const int c1 = c0 + PB_LAYOUT_TILE < cols ? c0 + PB_LAYOUT_TILE : cols;
    for (int r = r0; r < r1; r++)
      for (int c = c0; c < c1; c++) y[(size_t)c * rows + r] = x[(size_t)r * cols + c];
  }
}

static void pb_transpose_batched(float *y, const float *x, int n, int rows, int cols) {
  const long tiles = (rows + PB_LAYOUT_TILE - 1) / PB_LAYOUT_TILE;
  const long total = (long)n * tiles;
  const size_t per = (size_t)rows * cols;
#pragma omp parallel for schedule(static) if ((long)n * (long)per >= PB_LAYOUT_PAR_MIN)
  for (long t = 0; t < total; t++) {
    const long i = t / tiles;
    pb_transpose_tile_rows(y + (size_t)i * per, x + (size_t)i * per, rows, cols, (int)(t % tiles) * PB_LAYOUT_TILE);
  }
}

void pb_nchw_to_nhwc_cpu(float *y, const float *x, int n, int c, int hw) { pb_transpose_batched(y, x, n, c, hw); }

void pb_nhwc_to_nchw_cpu(float *y, const float *x, int n, int c, int hw) { pb_transpose_batched(y, x, n, hw, c); }
