/* bn_sync.cu: synchronised batch norm ([dist] sync_bn), the CUDA twin of kernels/cpu/bn_sync.c
 * (contracts in ops.h / ops_cuda.h). Every pointer on the device, the sums too; all work on
 * env->stream, nothing synchronises with the host. The sums kernel of the forward, the statistics,
 * the elementwise expressions and the grid sizing live in bn_own.cuh, shared with the fused
 * training batch norm (bn_train_fused.cu), so both compute the same values from the same sums.
 *
 * - The per-channel sums (bn_sums, bn_bwd_sums): one block of PB_RED_THREADS per channel;
 *   thread t sums elements t, t+T, ... of the channel's n*hw in double, then the fixed
 *   shared-memory tree of pb_block_sum_d. No atomics: run-to-run bitwise reproducible. The CPU
 *   sums sequentially in double; the two differ by ~1e-16 relative.
 * - The elementwise passes (bn_fwd_sync, bn_bwd_sync): a grid of (c, parts) blocks, each block
 *   striding over one channel's elements; every thread derives the channel's statistics from
 *   the sums itself (a few double operations), and block (ch, 0)'s thread 0 alone writes the
 *   per-channel outputs (saved and running statistics; dgamma / dbeta). A channel with no
 *   elements on this rank (n == 0) still gets its statistics: at least one block per channel.
 * - The double and float expressions are the CPU's, explicitly rounded (no FMA contraction),
 *   so given the same sums both sides compute the same values.
 * Channels last (p->nhwc) is read through pb_bn_params_nchw_view at every entry point, as the
 * CPU does: batch norm over [n*hw, c, 1], the channel's elements met in the same order (sample,
 * then pixel), so every thread gets the same elements as for NCHW on the permuted tensor and the
 * results are bitwise those (the count sums[2c] = n*hw too). There a thread's consecutive
 * elements are c floats apart (not coalesced; the channels' blocks share the lines through L2).
 * Elements of a channel are walked as (sample, position) pairs advanced by the stride, so the
 * loops divide by hw once per thread, not once per element. Precondition: c >= 1 (c <= 0 does
 * nothing), global count > 0 in fwd_sync / bwd_sync, eps > 0. */
#include "kernels/cuda/bn_own.cuh"

__global__ static void __launch_bounds__(PB_RED_THREADS)
    pb_bn_fwd_sync_kernel(float *y, float *save_mean, float *save_invstd, float *running_mean, float *running_var,
                          const float *x, const float *gamma, const float *beta, const double *sums, int n, int c,
                          size_t hw, double eps, double m) {
  const int ch = blockIdx.x;
  const pb_bns_stats st = pb_bns_stats_of(sums, c, ch, eps);
  if (blockIdx.y == 0 && threadIdx.x == 0)
    pb_bns_save(save_mean, save_invstd, running_mean, running_var, st, sums[2 * (size_t)c], m, ch);
  const float fmean = (float)st.mean, alpha = (float)__dmul_rn((double)gamma[ch], st.invstd), b = beta[ch];
  pb_bns_each((size_t)blockIdx.y * PB_RED_THREADS + threadIdx.x, (size_t)gridDim.y * PB_RED_THREADS, n, hw,
              (size_t)c * hw, ch,
              [&](size_t o) { y[o] = pb_bns_affine(x[o], fmean, alpha, b); });
}

__global__ static void __launch_bounds__(PB_RED_THREADS)
    pb_bn_bwd_sums_kernel(double *sums, const float *dy, const float *x, const float *save_mean,
                          const float *save_invstd, int n, int c, size_t hw) {
  __shared__ double sh[PB_RED_THREADS];
  const int ch = blockIdx.x;
  const double mean = save_mean[ch], invstd = save_invstd[ch];
  double s = 0.0, s2 = 0.0;
  pb_bns_each(threadIdx.x, PB_RED_THREADS, n, hw, (size_t)c * hw, ch, [&](size_t o) {
    const double g = dy[o];
    s = __dadd_rn(s, g);
    s2 = __dadd_rn(s2, __dmul_rn(g, pb_bns_xhat(x[o], mean, invstd)));
  });
  s = pb_block_sum_d(s, sh);
  s2 = pb_block_sum_d(s2, sh);
  if (threadIdx.x == 0) {
    sums[ch] = s;
    sums[c + ch] = s2;
  }
}

/* dx may alias dy: each element's dy is read by the thread that then writes its dx. */
__global__ static void __launch_bounds__(PB_RED_THREADS)
    pb_bn_bwd_sync_kernel(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *gamma,
                          const float *save_mean, const float *save_invstd, const double *local,
                          const double *global, const double *fwd, int n, int c, size_t hw) {
  const int ch = blockIdx.x;
  if (blockIdx.y == 0 && threadIdx.x == 0) {
    dbeta[ch] = __fadd_rn(dbeta[ch], (float)local[ch]);
    dgamma[ch] = __fadd_rn(dgamma[ch], (float)local[c + ch]);
  }
  const double cnt = fwd[2 * (size_t)c];
  const double mean = save_mean[ch], invstd = save_invstd[ch];
  const double k = __dmul_rn((double)gamma[ch], invstd);
  const double mean_dy = __ddiv_rn(global[ch], cnt), mean_dy_xhat = __ddiv_rn(global[c + ch], cnt);
  pb_bns_each((size_t)blockIdx.y * PB_RED_THREADS + threadIdx.x, (size_t)gridDim.y * PB_RED_THREADS, n, hw,
              (size_t)c * hw, ch, [&](size_t o) {
                const double xhat = pb_bns_xhat(x[o], mean, invstd);
                dx[o] = pb_bns_dx(dy[o], xhat, k, mean_dy, mean_dy_xhat);
              });
}

/* Only c <= 0 is skipped: a rank with n == 0 or hw == 0 still writes its (zero) sums and count. */
static int pb_bns_skip(const pb_bn_params *p) { return p->c <= 0; }

extern "C" void pb_bn_sums_cuda(double *sums, const float *x, const pb_bn_params *pv, const pb_cuda_env *env) {
  const pb_bn_params q = pb_bn_params_nchw_view(pv), *p = &q; /* channels last: the NCHW view */
  if (pb_bns_skip(p)) return;
  const double count = (double)p->n * (double)p->hw;
  pb_bn_sums_kernel<<<(unsigned int)p->c, PB_RED_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(
      sums, x, pb_bns_n(p), p->c, pb_bns_hw(p), count);
  PB_CUDA_CHECK_LAUNCH("pb_bn_sums_kernel");
}

extern "C" void pb_bn_fwd_sync_cuda(float *y, float *save_mean, float *save_invstd, float *running_mean,
                                    float *running_var, const float *x, const float *gamma, const float *beta,
                                    const double *sums, const pb_bn_params *pv, const pb_cuda_env *env) {
  const pb_bn_params q = pb_bn_params_nchw_view(pv), *p = &q; /* channels last: the NCHW view */
  if (pb_bns_skip(p)) return;
  const dim3 grid((unsigned int)p->c, pb_bns_parts(p));
  pb_bn_fwd_sync_kernel<<<grid, PB_RED_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(
      y, save_mean, save_invstd, running_mean, running_var, x, gamma, beta, sums, pb_bns_n(p), p->c, pb_bns_hw(p),
      (double)p->eps, (double)p->momentum);
  PB_CUDA_CHECK_LAUNCH("pb_bn_fwd_sync_kernel");
}

extern "C" void pb_bn_bwd_sums_cuda(double *sums, const float *dy, const float *x, const float *save_mean,
                                    const float *save_invstd, const pb_bn_params *pv, const pb_cuda_env *env) {
  const pb_bn_params q = pb_bn_params_nchw_view(pv), *p = &q; /* channels last: the NCHW view */
  if (pb_bns_skip(p)) return;
  pb_bn_bwd_sums_kernel<<<(unsigned int)p->c, PB_RED_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(
      sums, dy, x, save_mean, save_invstd, pb_bns_n(p), p->c, pb_bns_hw(p));
  PB_CUDA_CHECK_LAUNCH("pb_bn_bwd_sums_kernel");
}

extern "C" void pb_bn_bwd_sync_cuda(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                                    const float *gamma, const float *save_mean, const float *save_invstd,
                                    const double *local, const double *global, const double *fwd,
                                    const pb_bn_params *pv, const pb_cuda_env *env) {
  const pb_bn_params q = pb_bn_params_nchw_view(pv), *p = &q; /* channels last: the NCHW view */
  if (pb_bns_skip(p)) return;
  const dim3 grid((unsigned int)p->c, pb_bns_parts(p));
  pb_bn_bwd_sync_kernel<<<grid, PB_RED_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(
      dx, dgamma, dbeta, dy, x, gamma, save_mean, save_invstd, local, global, fwd, pb_bns_n(p), p->c, pb_bns_hw(p));
  PB_CUDA_CHECK_LAUNCH("pb_bn_bwd_sync_kernel");
}
