/* layout.cu: NCHW <-> NHWC ([run] layout = nhwc), the CUDA twin of kernels/cpu/layout.c
 * (contracts in ops.h "layout" and ops_cuda.h), and the batched transpose it is made of
 * (layout.cuh), which conv.cu also uses to reorder a weight KCRS <-> KRSC.
 *
 * Each sample is a [c, hw] <-> [hw, c] matrix transpose. A block of 32 x 8 threads moves one
 * 32 x 32 tile through shared memory: it reads the tile's rows (consecutive threads, consecutive
 * addresses), and writes the tile's columns as rows of the output (consecutive again), so both
 * global accesses are coalesced. The tile is padded to 33 columns so that reading a column of it
 * (32 threads, stride 33 floats) hits 32 different banks. Every element is copied, never computed
 * on: the result is the CPU's, bit for bit (NaN payloads included). The accumulating variant
 * (the convolution's weight gradient, dw += transposed buffer) is one __fadd_rn per element.
 * Sizes: any batches, rows, cols >= 0; the grid loops over tile rows and batches beyond the grid
 * limits (65535 in y and z); offsets are size_t. */
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/layout.cuh"

extern "C" {
#include "kernels/ops_cuda.h"
}

#define PB_TILE 32
#define PB_TILE_ROWS 8 /* blockDim.y: each thread moves PB_TILE / PB_TILE_ROWS elements */

/* blockIdx.x: tile column (over cols); blockIdx.y, z: the first tile row and batch, striding
 * by gridDim.y, gridDim.z. Loop bounds are uniform over the block: __syncthreads is safe. */
template <int ACCUMULATE>
__global__ static void __launch_bounds__(PB_TILE *PB_TILE_ROWS)
    pb_transpose_kernel(float *__restrict__ y, const float *__restrict__ x, int batches, int rows, int cols) {
  __shared__ float tile[PB_TILE][PB_TILE + 1];
  const int tiles_r = (rows + PB_TILE - 1) / PB_TILE;
  const size_t plane = (size_t)rows * (size_t)cols;
  const int c0 = blockIdx.x * PB_TILE;
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (int b = blockIdx.z; b < batches; b += gridDim.z) {
    const float *xb = x + (size_t)b * plane;
    float *yb = y + (size_t)b * plane;
    for (int tr = blockIdx.y; tr < tiles_r; tr += gridDim.y) {
      const int r0 = tr * PB_TILE;
      /* read rows r0 + i of x, columns c0 + tx */
      for (int i = ty; i < PB_TILE; i += PB_TILE_ROWS) {
        const int r = r0 + i, c = c0 + tx;
        if (r < rows && c < cols) tile[i][tx] = xb[(size_t)r * (size_t)cols + (size_t)c];
      }
      __syncthreads();
      /* write rows c0 + i of y (columns of x), columns r0 + tx */
      for (int i = ty; i < PB_TILE; i += PB_TILE_ROWS) {
        const int c = c0 + i, r = r0 + tx;
        if (c < cols && r < rows) {
          const size_t o = (size_t)c * (size_t)rows + (size_t)r;
          const float v = tile[tx][i];
          yb[o] = ACCUMULATE ? __fadd_rn(yb[o], v) : v;
        }
      }
      __syncthreads(); /* the tile is refilled by the next iteration */
    }
  }
}

void pb_cuda_transpose(float *y, const float *x, int batches, int rows, int cols, int accumulate,
                       cudaStream_t stream) {
  if (batches <= 0 || rows <= 0 || cols <= 0) return;
  const unsigned int tiles_c = (unsigned int)((cols + PB_TILE - 1) / PB_TILE); /* <= 2^26: within gridDim.x */
  const int tiles_r = (rows + PB_TILE - 1) / PB_TILE;
  const dim3 grid(tiles_c, (unsigned int)(tiles_r < 65535 ? tiles_r : 65535),
                  (unsigned int)(batches < 65535 ? batches : 65535));
  const dim3 block(PB_TILE, PB_TILE_ROWS);
  if (accumulate) {
    pb_transpose_kernel<1><<<grid, block, 0, stream>>>(y, x, batches, rows, cols);
    PB_CUDA_CHECK_LAUNCH("pb_transpose_kernel<accumulate>");
  } else {
    pb_transpose_kernel<0><<<grid, block, 0, stream>>>(y, x, batches, rows, cols);
    PB_CUDA_CHECK_LAUNCH("pb_transpose_kernel");
  }
}

/* x [n, c, hw] -> y [n, hw, c]: each sample's [c, hw] matrix transposed. */
extern "C" void pb_nchw_to_nhwc_cuda(float *y, const float *x, int n, int c, int hw, const pb_cuda_env *env) {
  pb_cuda_transpose(y, x, n, c, hw, 0, pb_cuda_stream_of(env->stream));
}

/* x [n, hw, c] -> y [n, c, hw]: each sample's [hw, c] matrix transposed. */
extern "C" void pb_nhwc_to_nchw_cuda(float *y, const float *x, int n, int c, int hw, const pb_cuda_env *env) {
  pb_cuda_transpose(y, x, n, hw, c, 0, pb_cuda_stream_of(env->stream));
}
