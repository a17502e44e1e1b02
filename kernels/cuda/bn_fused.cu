/* bn_fused.cu: batch norm in evaluation fused with the residual add and the ReLU that follow it
 * (y = act(bn_eval(x) + r)), the CUDA twin of kernels/cpu/bn_fused.c; contract in ops.h
 * (pb_bn_eval_fused_cpu) and ops_cuda.h.
 *
 * Channels last (p->nhwc) is read through pb_bn_params_nchw_view, as the CPU does: batch norm over
 * [n*hw, c, 1]. Two kernels, the same arithmetic:
 *  - hw > 1: one block per (sample, channel) plane of hw elements, min(256, hw rounded up to a
 *    warp) threads striding over it;
 *  - hw == 1 (channels last, BatchNorm1d): rows of c channels; a block of 32 x 8 threads takes 32
 *    consecutive channels (one per lane: a warp reads 32 consecutive floats of a row) and strides
 *    over the rows; one block per plane would there be one block per element.
 * The channel's statistics are folded in double exactly as the CPU
 * (alpha = (float)(gamma * (1 / sqrt(var + eps))); CUDA's double division and square root are
 * correctly rounded) by thread 0 of a plane's block into shared memory (by each thread for its
 * channel in the row kernel); each element is then (x - mean) * alpha + beta with
 * explicitly rounded __fsub_rn / __fmul_rn / __fadd_rn (no FMA contraction), + r with __fadd_rn,
 * and ReLU as pb_relu_fwd (v < 0 ? 0 : v: NaN and -0 pass). So the result is BITWISE the CPU's.
 * Element i is read and written by one thread only: y may alias x or r. Not cuDNN's
 * cudnnBatchNormalizationForwardInference: that makes no promise for y == x, and it cannot add
 * the residual or apply the ReLU in the same pass. */
#include "kernels/cuda/cuda_check.cuh"

extern "C" {
#include "kernels/ops_cuda.h"
}

/* plane = sample * c + channel; grid.x = n * c planes */
__global__ static void pb_bn_eval_fused_kernel(float *y, const float *x, const float *r, const float *gamma,
                                               const float *beta, const float *mean, const float *var, float eps,
                                               int c, int hw, int relu) {
  __shared__ float s_alpha, s_mean, s_beta;
  const size_t plane = blockIdx.x;
  const int ch = (int)(plane % (size_t)c);
  if (threadIdx.x == 0) {
    const double invstd = 1.0 / sqrt((double)var[ch] + (double)eps);
    s_alpha = __double2float_rn((double)gamma[ch] * invstd);
    s_mean = mean[ch];
    s_beta = beta[ch];
  }
  __syncthreads();
  const float alpha = s_alpha, m = s_mean, b = s_beta;
  const size_t base = plane * (size_t)hw;
  for (int i = threadIdx.x; i < hw; i += blockDim.x) {
    float v = __fadd_rn(__fmul_rn(__fsub_rn(x[base + i], m), alpha), b);
    if (r) v = __fadd_rn(v, r[base + i]);
    y[base + i] = relu && v < 0.0f ? 0.0f : v;
  }
}

#define PB_BNF_LANES 32
#define PB_BNF_ROWS 8

/* x, r, y [rows, c]; blockIdx.x: 32 channels, blockIdx.y: the first row, striding by gridDim.y. */
__global__ static void __launch_bounds__(PB_BNF_LANES *PB_BNF_ROWS)
    pb_bn_eval_fused_rows_kernel(float *y, const float *x, const float *r, const float *gamma, const float *beta,
                                 const float *mean, const float *var, float eps, int c, size_t rows, int relu) {
  const int ch = blockIdx.x * PB_BNF_LANES + threadIdx.x;
  if (ch >= c) return; /* no barrier below */
  const double invstd = 1.0 / sqrt((double)var[ch] + (double)eps);
  const float alpha = __double2float_rn((double)gamma[ch] * invstd), m = mean[ch], b = beta[ch];
  for (size_t row = (size_t)blockIdx.y * PB_BNF_ROWS + threadIdx.y; row < rows;
       row += (size_t)gridDim.y * PB_BNF_ROWS) {
    const size_t i = row * (size_t)c + (size_t)ch;
    float v = __fadd_rn(__fmul_rn(__fsub_rn(x[i], m), alpha), b);
    if (r) v = __fadd_rn(v, r[i]);
    y[i] = relu && v < 0.0f ? 0.0f : v;
  }
}

extern "C" void pb_bn_eval_fused_cuda(float *y, const float *x, const float *r, const float *gamma, const float *beta,
                                      const float *running_mean, const float *running_var, int relu,
                                      const pb_bn_params *pv, const pb_cuda_env *env) {
  const pb_bn_params q = pb_bn_params_nchw_view(pv), *p = &q; /* channels last: the NCHW view */
  if (p->n <= 0 || p->c <= 0 || p->hw <= 0) return;
  if (p->hw == 1) {
    const size_t rows = (size_t)p->n;
    const unsigned int ctiles = (unsigned int)((p->c + PB_BNF_LANES - 1) / PB_BNF_LANES);
    /* enough row blocks to fill the GPU (~8192 blocks in all), within gridDim.y */
    size_t parts = (rows + PB_BNF_ROWS - 1) / PB_BNF_ROWS, cap = 8192 / ctiles;
    if (cap < 1) cap = 1;
    if (parts > cap) parts = cap;
    if (parts > 65535) parts = 65535;
    const dim3 grid(ctiles, (unsigned int)parts), block(PB_BNF_LANES, PB_BNF_ROWS);
    pb_bn_eval_fused_rows_kernel<<<grid, block, 0, pb_cuda_stream_of(env->stream)>>>(
        y, x, r, gamma, beta, running_mean, running_var, p->eps, p->c, rows, relu);
    PB_CUDA_CHECK_LAUNCH("pb_bn_eval_fused_rows_kernel");
    return;
  }
  const size_t planes = (size_t)p->n * (size_t)p->c;
  PB_ASSERT(planes <= 0x7fffffffu);
  unsigned int threads = (unsigned int)((p->hw + 31) / 32 * 32);
  if (threads > PB_CUDA_THREADS) threads = PB_CUDA_THREADS;
  pb_bn_eval_fused_kernel<<<(unsigned int)planes, threads, 0, pb_cuda_stream_of(env->stream)>>>(
      y, x, r, gamma, beta, running_mean, running_var, p->eps, p->c, p->hw, relu);
  PB_CUDA_CHECK_LAUNCH("pb_bn_eval_fused_kernel");
}
