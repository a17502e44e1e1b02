/* bn_fused.cu: batch norm in evaluation fused with the residual add and the ReLU that follow it
 * (y = act(bn_eval(x) + r)), the CUDA twin of kernels/cpu/bn_fused.c; contract in ops.h
 * (pb_bn_eval_fused_cpu) and ops_cuda.h.
 *
 * One block per (sample, channel) plane of hw elements, min(256, hw rounded up to a warp)
 * threads striding over it. Thread 0 folds the channel's statistics in double exactly as the CPU
 * (alpha = (float)(gamma * (1 / sqrt(var + eps))); CUDA's double division and square root are
 * correctly rounded) into shared memory; each element is then (x - mean) * alpha + beta with
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

extern "C" void pb_bn_eval_fused_cuda(float *y, const float *x, const float *r, const float *gamma, const float *beta,
                                      const float *running_mean, const float *running_var, int relu,
                                      const pb_bn_params *p, const pb_cuda_env *env) {
  if (p->n <= 0 || p->c <= 0 || p->hw <= 0) return;
  const size_t planes = (size_t)p->n * (size_t)p->c;
  PB_ASSERT(planes <= 0x7fffffffu);
  unsigned int threads = (unsigned int)((p->hw + 31) / 32 * 32);
  if (threads > PB_CUDA_THREADS) threads = PB_CUDA_THREADS;
  pb_bn_eval_fused_kernel<<<(unsigned int)planes, threads, 0, pb_cuda_stream_of(env->stream)>>>(
      y, x, r, gamma, beta, running_mean, running_var, p->eps, p->c, p->hw, relu);
  PB_CUDA_CHECK_LAUNCH("pb_bn_eval_fused_kernel");
}
