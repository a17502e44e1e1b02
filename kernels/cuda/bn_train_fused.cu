/* bn_train_fused.cu: fused training batch norm, y = act(bn_train(x) + r), and its backward, as a
 * ResNet block runs them ([run] fused_bn_train): the CUDA twins of kernels/cpu/batchnorm.c's
 * pb_bn_fwd_train_fused_cpu / pb_bn_bwd_fused_cpu (contracts in ops.h / ops_cuda.h). All work on
 * env->stream, nothing synchronises with the host.
 *
 * Forward, two launches: (a) pb_bn_sums_kernel (bn_own.cuh, the kernel of pb_bn_sums_cuda): per
 * channel sum x and sum x^2 in double, and the count, into 2c + 1 doubles of env's workspace;
 * (b) one elementwise pass over a (c, parts) grid: every thread derives its channel's statistics
 * from the sums (pb_bns_stats_of), block (ch, 0)'s thread 0 writes save_mean, save_invstd and the
 * running averages (pb_bns_save: momentum p->momentum, running_var with the unbiased cnt / (cnt - 1)
 * variance), and each element is v = (x - mean) * alpha + beta, then v + r (r != NULL), then ReLU
 * as pb_relu_fwd (v < 0 ? 0 : v: NaN and -0 pass). y may alias r: each element's r is read by the
 * thread that then writes its y.
 * Backward, two launches: (a) one block per channel sums g and g * xhat in double, g = relu ?
 * (y > 0 ? dy : 0) : dy (pb_relu_bwd's select) computed on the fly, into 2c doubles of the
 * workspace; (b) one elementwise pass recomputing g: dz = g (dz may alias dy: the same thread reads
 * dy then writes dz; where dz == dy only the elements the ReLU zeroes are written) and dx = k (g -
 * mean_g - xhat mean_g_xhat), the means over cnt = n*hw; block (ch, 0)'s thread 0 adds dbeta +=
 * (float)sum g, dgamma += (float)sum g xhat. y is not read when relu == 0 (it may be NULL then).
 * The (has_r, relu) variants are template parameters: no per-element branch on them.
 *
 * Numerics. The statistics come from one-pass double sums (var = sum x^2 / cnt - mean^2, clamped
 * at 0) where the CPU takes two passes in double: with float inputs (exact squares in double) the
 * two agree to ~1e-15 relative (~|mean|^2 / var * 1e-16 for the variance), so save_mean and
 * save_invstd are the CPU's floats or one rounding away. Every elementwise double and float
 * expression is the CPU's, explicitly rounded (bn_own.cuh: no FMA contraction), so y and dx are
 * within a few float ulps of the CPU (bitwise given the same statistics, up to the order of the
 * double sums), and dz is bitwise the CPU's (a select). Deterministic: fixed trees, no atomics.
 *
 * Why own kernels and not cuDNN: the legacy fused API (cudnnBatchNormalizationForwardTrainingEx /
 * BackwardEx with BN_ADD_ACTIVATION) is deprecated in cuDNN 9.19 and its fast path is NHWC half
 * only; the graph API's NormAddRelu / DReluForkDNorm engines are the next step once a GPU can test
 * them (../shared/GPU-SPEED.md section 1). These kernels keep fp32 at the CPU's statistics.
 * Known cost: the sums passes run one block per channel (few blocks for a small c and a large
 * n*hw), and channels last (through pb_bn_params_nchw_view: batch norm over [n*hw, c, 1]) leaves a
 * thread's consecutive elements c floats apart (not coalesced; the channels' blocks share the lines
 * through L2), as bn_sync.cu.
 *
 * Scratch: the sums live in env->workspace (2c + 1 doubles; PB_FATAL naming [run]
 * cudnn_workspace_mb when it is smaller), used only between the two stream-ordered launches of one
 * call. n*hw == 0 or c <= 0: nothing is launched. Precondition: eps > 0; n*hw > 1 for an unbiased
 * running variance (n*hw == 1 stores the biased one, 0, as the CPU). */
#include "kernels/cuda/bn_own.cuh"

/* g = relu ? (y > 0 ? dy : 0) : dy; *pass: whether g is dy itself. */
template <bool RELU>
__device__ static inline float pb_bnt_grad(const float *dy, const float *y, size_t o, bool *pass) {
  const float d = dy[o];
  *pass = !RELU || y[o] > 0.0f;
  return *pass ? d : 0.0f;
}

template <bool HAS_R, bool RELU>
__global__ static void __launch_bounds__(PB_RED_THREADS)
    pb_bn_fwd_train_fused_kernel(float *y, float *save_mean, float *save_invstd, float *running_mean,
                                 float *running_var, const float *x, const float *r, const float *gamma,
                                 const float *beta, const double *sums, int n, int c, size_t hw, double eps,
                                 double m) {
  const int ch = blockIdx.x;
  const pb_bns_stats st = pb_bns_stats_of(sums, c, ch, eps);
  if (blockIdx.y == 0 && threadIdx.x == 0)
    pb_bns_save(save_mean, save_invstd, running_mean, running_var, st, sums[2 * (size_t)c], m, ch);
  const float fmean = (float)st.mean, alpha = (float)__dmul_rn((double)gamma[ch], st.invstd), b = beta[ch];
  pb_bns_each((size_t)blockIdx.y * PB_RED_THREADS + threadIdx.x, (size_t)gridDim.y * PB_RED_THREADS, n, hw,
              (size_t)c * hw, ch, [&](size_t o) {
                float v = pb_bns_affine(x[o], fmean, alpha, b);
                if (HAS_R) v = __fadd_rn(v, r[o]);
                if (RELU) v = v < 0.0f ? 0.0f : v;
                y[o] = v;
              });
}

/* sums[ch] = sum g, sums[c + ch] = sum g * xhat over channel ch (double, fixed order). */
template <bool RELU>
__global__ static void __launch_bounds__(PB_RED_THREADS)
    pb_bn_bwd_fused_sums_kernel(double *sums, const float *dy, const float *y, const float *x,
                                const float *save_mean, const float *save_invstd, int n, int c, size_t hw) {
  __shared__ double sh[PB_RED_THREADS];
  const int ch = blockIdx.x;
  const double mean = save_mean[ch], invstd = save_invstd[ch];
  double s = 0.0, s2 = 0.0;
  pb_bns_each(threadIdx.x, PB_RED_THREADS, n, hw, (size_t)c * hw, ch, [&](size_t o) {
    bool pass;
    const double g = pb_bnt_grad<RELU>(dy, y, o, &pass);
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

/* dz may alias dy (dz[o] written after dy[o] is read, by the same thread); dx aliases none. */
template <bool RELU>
__global__ static void __launch_bounds__(PB_RED_THREADS)
    pb_bn_bwd_fused_kernel(float *dx, float *dz, float *dgamma, float *dbeta, const float *dy, const float *y,
                           const float *x, const float *gamma, const float *save_mean, const float *save_invstd,
                           const double *sums, int n, int c, size_t hw, double cnt) {
  const int ch = blockIdx.x;
  if (blockIdx.y == 0 && threadIdx.x == 0) {
    dbeta[ch] = __fadd_rn(dbeta[ch], (float)sums[ch]);
    dgamma[ch] = __fadd_rn(dgamma[ch], (float)sums[c + ch]);
  }
  const double mean = save_mean[ch], invstd = save_invstd[ch];
  const double k = __dmul_rn((double)gamma[ch], invstd);
  const double mean_g = __ddiv_rn(sums[ch], cnt), mean_g_xhat = __ddiv_rn(sums[c + ch], cnt);
  const bool in_place = dz == dy; /* then dz[o] already holds g wherever the ReLU passes dy */
  pb_bns_each((size_t)blockIdx.y * PB_RED_THREADS + threadIdx.x, (size_t)gridDim.y * PB_RED_THREADS, n, hw,
              (size_t)c * hw, ch, [&](size_t o) {
                bool pass;
                const float g = pb_bnt_grad<RELU>(dy, y, o, &pass);
                if (!in_place || !pass) dz[o] = g;
                dx[o] = pb_bns_dx(g, pb_bns_xhat(x[o], mean, invstd), k, mean_g, mean_g_xhat);
              });
}

/* n*hw == 0 or c <= 0 (p: the NCHW view): nothing to compute, nothing launched. */
static int pb_bnt_empty(const pb_bn_params *p) { return p->n <= 0 || p->hw <= 0 || p->c <= 0; }

/* The workspace as scratch for ndoubles doubles (cudaMalloc: 256-byte aligned). */
static double *pb_bnt_scratch(const pb_cuda_env *env, size_t ndoubles, const char *op) {
  const size_t need = ndoubles * sizeof(double), have = env->workspace ? env->workspace_bytes : 0;
  if (need > have)
    PB_FATAL("%s: its per-channel sums need %zu bytes of GPU workspace, %zu are set: raise [run] "
             "cudnn_workspace_mb",
             op, need, have);
  return (double *)env->workspace;
}

template <bool HAS_R, bool RELU>
static void pb_bnt_fwd_launch(dim3 grid, cudaStream_t st, float *y, float *save_mean, float *save_invstd,
                              float *running_mean, float *running_var, const float *x, const float *r,
                              const float *gamma, const float *beta, const double *sums, const pb_bn_params *p) {
  pb_bn_fwd_train_fused_kernel<HAS_R, RELU><<<grid, PB_RED_THREADS, 0, st>>>(
      y, save_mean, save_invstd, running_mean, running_var, x, r, gamma, beta, sums, pb_bns_n(p), p->c,
      pb_bns_hw(p), (double)p->eps, (double)p->momentum);
  PB_CUDA_CHECK_LAUNCH("pb_bn_fwd_train_fused_kernel");
}

extern "C" void pb_bn_fwd_train_fused_cuda(float *y, float *save_mean, float *save_invstd, float *running_mean,
                                           float *running_var, const float *x, const float *r, const float *gamma,
                                           const float *beta, int relu, const pb_bn_params *pv,
                                           const pb_cuda_env *env) {
  const pb_bn_params q = pb_bn_params_nchw_view(pv), *p = &q; /* channels last: the NCHW view */
  if (pb_bnt_empty(p)) return;
  double *sums = pb_bnt_scratch(env, 2 * (size_t)p->c + 1, "pb_bn_fwd_train_fused_cuda");
  const cudaStream_t st = pb_cuda_stream_of(env->stream);
  const double count = (double)p->n * (double)p->hw;
  pb_bn_sums_kernel<<<(unsigned int)p->c, PB_RED_THREADS, 0, st>>>(sums, x, pb_bns_n(p), p->c, pb_bns_hw(p),
                                                                     count);
  PB_CUDA_CHECK_LAUNCH("pb_bn_sums_kernel (fused training forward)");
  const dim3 grid((unsigned int)p->c, pb_bns_parts(p));
  if (r && relu)
    pb_bnt_fwd_launch<true, true>(grid, st, y, save_mean, save_invstd, running_mean, running_var, x, r, gamma, beta,
                                  sums, p);
  else if (r)
    pb_bnt_fwd_launch<true, false>(grid, st, y, save_mean, save_invstd, running_mean, running_var, x, r, gamma,
                                   beta, sums, p);
  else if (relu)
    pb_bnt_fwd_launch<false, true>(grid, st, y, save_mean, save_invstd, running_mean, running_var, x, r, gamma,
                                   beta, sums, p);
  else
    pb_bnt_fwd_launch<false, false>(grid, st, y, save_mean, save_invstd, running_mean, running_var, x, r, gamma,
                                    beta, sums, p);
}

template <bool RELU>
static void pb_bnt_bwd_launch(const pb_bn_params *p, cudaStream_t st, double *sums, float *dx, float *dz,
                              float *dgamma, float *dbeta, const float *dy, const float *y, const float *x,
                              const float *gamma, const float *save_mean, const float *save_invstd) {
  pb_bn_bwd_fused_sums_kernel<RELU><<<(unsigned int)p->c, PB_RED_THREADS, 0, st>>>(
      sums, dy, y, x, save_mean, save_invstd, pb_bns_n(p), p->c, pb_bns_hw(p));
  PB_CUDA_CHECK_LAUNCH("pb_bn_bwd_fused_sums_kernel");
  const dim3 grid((unsigned int)p->c, pb_bns_parts(p));
  pb_bn_bwd_fused_kernel<RELU><<<grid, PB_RED_THREADS, 0, st>>>(dx, dz, dgamma, dbeta, dy, y, x, gamma, save_mean,
                                                                 save_invstd, sums, pb_bns_n(p), p->c, pb_bns_hw(p),
                                                                 (double)p->n * (double)p->hw);
  PB_CUDA_CHECK_LAUNCH("pb_bn_bwd_fused_kernel");
}

extern "C" void pb_bn_bwd_fused_cuda(float *dx, float *dz, float *dgamma, float *dbeta, const float *dy,
                                     const float *y, const float *x, const float *gamma, const float *save_mean,
                                     const float *save_invstd, int relu, const pb_bn_params *pv,
                                     const pb_cuda_env *env) {
  const pb_bn_params q = pb_bn_params_nchw_view(pv), *p = &q; /* channels last: the NCHW view */
  if (pb_bnt_empty(p)) return;
  double *sums = pb_bnt_scratch(env, 2 * (size_t)p->c, "pb_bn_bwd_fused_cuda");
  const cudaStream_t st = pb_cuda_stream_of(env->stream);
  if (relu)
    pb_bnt_bwd_launch<true>(p, st, sums, dx, dz, dgamma, dbeta, dy, y, x, gamma, save_mean, save_invstd);
  else
    pb_bnt_bwd_launch<false>(p, st, sums, dx, dz, dgamma, dbeta, dy, y, x, gamma, save_mean, save_invstd);
}
