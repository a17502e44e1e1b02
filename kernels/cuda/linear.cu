/* linear.cu: fully connected layer (nn.Linear layout, w [out, in]) on cuBLAS, the CUDA twin of
 * kernels/cpu/linear.c. Contracts in ops.h / ops_cuda.h.
 *
 * cuBLAS is column-major; a row-major M [r, c] is the column-major M^T [c, r] with leading
 * dimension c. So each row-major product C = A B is computed as C^T = B^T A^T:
 *   y  [n, out] = x w^T     ->  y^T  [out, n]  = op_T(w: col-major [in, out]) x^T [in, n]
 *   dx [n, in]  = dy w      ->  dx^T [in, n]   = w^T [in, out] dy^T [out, n]
 *   dw [out,in] += dy^T x   ->  dw^T [in, out] += x^T [in, n] op_T(dy: col-major [out, n])
 * Math mode (TF32 or full fp32) is set on the handle once, in pb_cuda_env_init. cuBLAS GEMMs
 * are reproducible on one GPU with atomics off (the default). The bias add and db (column sums
 * of dy) are own kernels; db's sum has a fixed order, so it is deterministic. */
#include "kernels/cuda/cuda_check.cuh"

extern "C" {
#include "kernels/ops_cuda.h"
}

/* y[r, o] += b[o] over the n*out elements of y. */
__global__ static void pb_linear_bias_kernel(float *__restrict__ y, const float *__restrict__ b, size_t total,
                                             int out) {
  for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (size_t)gridDim.x * blockDim.x)
    y[idx] += b[idx % (size_t)out];
}

#define PB_DB_COLS 32
#define PB_DB_ROWS 8

/* db[o] += sum over r of dy[r, o]. Block: 32 columns x 8 row lanes; lane l sums rows l, l+8,
 * ... in order (coalesced: a warp reads 32 consecutive columns of one row), then lane 0 adds
 * the 8 partials in order. Fixed order throughout: deterministic. */
__global__ static void pb_linear_db_kernel(float *__restrict__ db, const float *__restrict__ dy, int n, int out) {
  __shared__ float part[PB_DB_ROWS][PB_DB_COLS + 1];
  const int o = blockIdx.x * PB_DB_COLS + threadIdx.x;
  float acc = 0.0f;
  if (o < out)
    for (int r = threadIdx.y; r < n; r += PB_DB_ROWS) acc += dy[(size_t)r * out + o];
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && o < out) {
    float s = part[0][threadIdx.x];
    for (int l = 1; l < PB_DB_ROWS; l++) s += part[l][threadIdx.x];
    db[o] += s;
  }
}

extern "C" void pb_linear_fwd_cuda(float *y, const float *x, const float *w, const float *b, int n, int in, int out,
                                   const pb_cuda_env *env) {
  if (n <= 0 || out <= 0) return;
  PB_ASSERT(in > 0);
  const float one = 1.0f, zero = 0.0f;
  PB_CUBLAS_CHECK(cublasSgemm((cublasHandle_t)env->cublas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, w, in, x, in,
                              &zero, y, out));
  if (b) {
    const size_t total = (size_t)n * (size_t)out;
    pb_linear_bias_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0,
                            pb_cuda_stream_of(env->stream)>>>(y, b, total, out);
    PB_CUDA_CHECK_LAUNCH("pb_linear_bias_kernel");
  }
}

extern "C" void pb_linear_bwd_cuda(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                                   int n, int in, int out, const pb_cuda_env *env) {
  if (n <= 0 || out <= 0) return; /* nothing to add to dw / db; dx [0, in] is empty */
  PB_ASSERT(in > 0);
  cublasHandle_t h = (cublasHandle_t)env->cublas;
  const float one = 1.0f, zero = 0.0f;
  if (dx) PB_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &one, w, in, dy, out, &zero, dx, in));
  PB_CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &one, x, in, dy, out, &one, dw, in));
  if (db) {
    const dim3 block(PB_DB_COLS, PB_DB_ROWS);
    const unsigned int blocks = (unsigned int)((out + PB_DB_COLS - 1) / PB_DB_COLS);
    pb_linear_db_kernel<<<blocks, block, 0, pb_cuda_stream_of(env->stream)>>>(db, dy, n, out);
    PB_CUDA_CHECK_LAUNCH("pb_linear_db_kernel");
  }
}
