/* hsic.cu: the HSIC penalty of ReBias (RBF kernels, biased / unbiased estimators) forward and
 * backward, and the squared-distance matrix for the 'median' sigma: the CUDA twin of
 * kernels/cpu/hsic.c, whose file comment has the formulas (ops.h "HSIC" the contract and the
 * precision scheme). Same steps, same order:
 *   centre (one thread per column, the mean in double over the rows in order: bitwise the
 *   CPU) -> Gram matrices with cuBLAS -> K, L and their off-diagonal row sums (one block per
 *   row) -> the value (one block) or, backward, the W matrices (one block per row), W xc with
 *   cuBLAS and the fused += into dx / dy.
 *
 * GEMMs: cublasGemmEx with CUBLAS_COMPUTE_32F_PEDANTIC, i.e. full fp32 even when the handle
 * allows TF32 (env->tf32): D_ij = G_ii + G_jj - 2 G_ij cancels, and TF32's 10-bit mantissa
 * would leave errors of ~1e-3 |x|^2 in it, enough to change K near the diagonal completely.
 * cuBLAS GEMMs are run-to-run reproducible on one GPU (no split-K atomics by default).
 *
 * Sums: in double, per row with the fixed tree of reduce_det.cuh (pb_block_sum_d), then over
 * rows by one block, fixed tree: no atomics, bitwise reproducible run to run. The CPU sums in
 * sequence; the two differ by ~1e-16 relative, invisible after the rounding to float. Every
 * double operation on the way is an explicitly rounded intrinsic (__dadd_rn ...), as on the
 * CPU (C11: no FMA contraction), so the elementwise parts round as the CPU's do; products of
 * two floats are exact in double anyway.
 *
 * Workspace: env->workspace holds everything (pb_hsic_workspace_cuda bytes, asserted); it is
 * used only between this op's own launches on env->stream. Nothing synchronises the host; the
 * value is written to device memory. */
#include <math.h>

#include "kernels/cuda/reduce_det.cuh"

/* ------------------------------------------------------------------ workspace layout */

/* Doubles kt, lt, p, rx, ry [n each] and sums [2]; floats xc [n*dx], yc [n*dy], gx, gy, k, l
 * [n*n] and pr [n*max(dx, dy)]. Every region starts on 256 bytes. */
#define PB_HSIC_AL(b) (((b) + 255) & ~(size_t)255)

struct pb_hsic_dws {
  double *kt, *lt, *p, *rx, *ry, *sums;
  float *xc, *yc, *gx, *gy, *k, *l, *pr;
};

static size_t pb_hsic_dlayout(const pb_hsic_params *p, pb_hsic_dws *w, char *base) {
  const size_t n = (size_t)p->n, nn = n * n, dmax = (size_t)(p->dx > p->dy ? p->dx : p->dy);
  size_t off = 0;
  double **dbl[6] = {&w->kt, &w->lt, &w->p, &w->rx, &w->ry, &w->sums};
  const size_t dsz[6] = {n, n, n, n, n, 2};
  for (int i = 0; i < 6; i++) {
    if (base) *dbl[i] = (double *)(void *)(base + off);
    off += PB_HSIC_AL(dsz[i] * sizeof(double));
  }
  float **flt[7] = {&w->xc, &w->yc, &w->gx, &w->gy, &w->k, &w->l, &w->pr};
  const size_t fsz[7] = {n * (size_t)p->dx, n * (size_t)p->dy, nn, nn, nn, nn, n * dmax};
  for (int i = 0; i < 7; i++) {
    if (base) *flt[i] = (float *)(void *)(base + off);
    off += PB_HSIC_AL(fsz[i] * sizeof(float));
  }
  return off;
}

extern "C" size_t pb_hsic_workspace_cuda(const pb_hsic_params *p) {
  pb_hsic_dws w;
  return pb_hsic_dlayout(p, &w, NULL);
}

static void pb_hsic_dws_of(const pb_hsic_params *p, const pb_cuda_env *env, pb_hsic_dws *w) {
  PB_ASSERT(p->n >= (p->unbiased ? 4 : 2));
  PB_ASSERT(p->dx >= 1 && p->dy >= 1);
  PB_ASSERT(p->sigma_x > 0.0f && isfinite(p->sigma_x));
  PB_ASSERT(p->sigma_y > 0.0f && isfinite(p->sigma_y));
  const size_t need = pb_hsic_workspace_cuda(p);
  if (!env->workspace || env->workspace_bytes < need)
    PB_FATAL("HSIC n=%d dx=%d dy=%d needs %zu bytes of workspace, the environment has %zu (the caller "
             "checks this when it is built: backend hsic_reserve)",
             p->n, p->dx, p->dy, need, env->workspace ? env->workspace_bytes : (size_t)0);
  pb_hsic_dlayout(p, w, (char *)env->workspace);
}

/* ------------------------------------------------------------------ kernels */

/* xc = x - column means; one thread per column, rows in order (the CPU's loop). */
__global__ static void pb_hsic_center_kernel(float *__restrict__ xc, const float *__restrict__ x, int n, int d) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= d) return;
  double m = 0.0;
  for (int i = 0; i < n; i++) m = __dadd_rn(m, (double)x[(size_t)i * d + k]);
  m = __ddiv_rn(m, (double)n);
  for (int i = 0; i < n; i++) xc[(size_t)i * d + k] = (float)__dsub_rn((double)x[(size_t)i * d + k], m);
}

/* D_ij from the Gram matrix: upper triangle and diagonal only (as the CPU). */
__device__ static inline double pb_hsic_ddist(const float *g, int n, int i, int j) {
  const int a = i < j ? i : j, b = i < j ? j : i;
  return __dsub_rn(__dadd_rn((double)g[(size_t)a * n + a], (double)g[(size_t)b * n + b]),
                   __dmul_rn(2.0, (double)g[(size_t)a * n + b]));
}

/* Row i = blockIdx.x of k = exp(-D / two_s2) (k_ii = 1); rs[i] = sum_{j != i} k_ij; with
 * other != NULL also pr[i] = sum_{j != i} k_ij other_ij. */
__global__ static void __launch_bounds__(PB_RED_THREADS)
    pb_hsic_rbf_kernel(float *__restrict__ k, double *rs, const float *__restrict__ g, int n, double two_s2,
                       const float *__restrict__ other, double *pr) {
  __shared__ double sh[PB_RED_THREADS];
  const int i = blockIdx.x;
  float *kr = k + (size_t)i * n;
  double s = 0.0, q = 0.0;
  for (int j = threadIdx.x; j < n; j += PB_RED_THREADS) {
    if (j == i) {
      kr[j] = 1.0f;
      continue;
    }
    const float v = (float)exp(__ddiv_rn(-pb_hsic_ddist(g, n, i, j), two_s2));
    kr[j] = v;
    s = __dadd_rn(s, (double)v);
    if (other) q = __dadd_rn(q, __dmul_rn((double)v, (double)other[(size_t)i * n + j]));
  }
  s = pb_block_sum_d(s, sh);
  if (other) q = pb_block_sum_d(q, sh); /* other is uniform over the grid */
  if (threadIdx.x == 0) {
    rs[i] = s;
    if (pr) pr[i] = q;
  }
}

/* value[0] = the estimator from the row sums (one block; the CPU's formula, rounded alike). */
__global__ static void __launch_bounds__(PB_RED_THREADS)
    pb_hsic_value_kernel(float *value, const double *kt, const double *lt, const double *pr, int n, int unbiased) {
  __shared__ double sh[PB_RED_THREADS];
  double P = 0.0, Sk = 0.0, Sl = 0.0, Q = 0.0;
  for (int i = threadIdx.x; i < n; i += PB_RED_THREADS) {
    P = __dadd_rn(P, pr[i]);
    Sk = __dadd_rn(Sk, kt[i]);
    Sl = __dadd_rn(Sl, lt[i]);
    Q = __dadd_rn(Q, unbiased ? __dmul_rn(kt[i], lt[i]) : __dmul_rn(__dadd_rn(kt[i], 1.0), __dadd_rn(lt[i], 1.0)));
  }
  P = pb_block_sum_d(P, sh);
  Sk = pb_block_sum_d(Sk, sh);
  Sl = pb_block_sum_d(Sl, sh);
  Q = pb_block_sum_d(Q, sh);
  if (threadIdx.x != 0) return;
  const double nd = (double)n;
  double v;
  if (unbiased) {
    const double t2 = __ddiv_rn(__dmul_rn(Sk, Sl), __dmul_rn(nd - 1.0, nd - 2.0));
    const double t3 = __ddiv_rn(__dmul_rn(2.0, Q), nd - 2.0);
    v = __ddiv_rn(__dsub_rn(__dadd_rn(P, t2), t3), __dmul_rn(nd, nd - 3.0));
  } else {
    const double Sa = __dadd_rn(Sk, nd), Sb = __dadd_rn(Sl, nd);
    const double t2 = __ddiv_rn(__dmul_rn(2.0, Q), nd), t3 = __ddiv_rn(__dmul_rn(Sa, Sb), __dmul_rn(nd, nd));
    v = __ddiv_rn(__dadd_rn(__dsub_rn(__dadd_rn(P, nd), t2), t3), __dmul_rn(nd - 1.0, nd - 1.0));
  }
  value[0] = (float)v;
}

/* sums[0] = sum kt, sums[1] = sum lt (one block). */
__global__ static void __launch_bounds__(PB_RED_THREADS)
    pb_hsic_sums_kernel(double *sums, const double *kt, const double *lt, int n) {
  __shared__ double sh[PB_RED_THREADS];
  double a = 0.0, b = 0.0;
  for (int i = threadIdx.x; i < n; i += PB_RED_THREADS) a = __dadd_rn(a, kt[i]), b = __dadd_rn(b, lt[i]);
  a = pb_block_sum_d(a, sh);
  b = pb_block_sum_d(b, sh);
  if (threadIdx.x == 0) sums[0] = a, sums[1] = b;
}

/* Row i = blockIdx.x of wm = A self (0 on the diagonal), A = dHSIC/dself from `other`, its
 * off-diagonal row sums ors and their total *so; r[i] = sum_j wm_ij of the rounded values. */
__global__ static void __launch_bounds__(PB_RED_THREADS)
    pb_hsic_wmat_kernel(float *__restrict__ wm, double *r, const float *__restrict__ self,
                        const float *__restrict__ other, const double *ors, const double *so, int n, int unbiased) {
  __shared__ double sh[PB_RED_THREADS];
  const int i = blockIdx.x;
  const double nd = (double)n, So = so[0];
  const double cu = __ddiv_rn(So, __dmul_rn(nd - 1.0, nd - 2.0)), du = __dmul_rn(nd, nd - 3.0);
  const double cb = __ddiv_rn(__dadd_rn(So, nd), __dmul_rn(nd, nd)), db = __dmul_rn(nd - 1.0, nd - 1.0);
  const double oi = ors[i];
  double acc = 0.0;
  for (int j = threadIdx.x; j < n; j += PB_RED_THREADS) {
    const size_t e = (size_t)i * n + j;
    if (j == i) {
      wm[e] = 0.0f;
      continue;
    }
    const double o = (double)other[e];
    double a;
    if (unbiased)
      a = __ddiv_rn(__dsub_rn(__dadd_rn(o, cu), __ddiv_rn(__dadd_rn(oi, ors[j]), nd - 2.0)), du);
    else
      a = __ddiv_rn(__dadd_rn(__dsub_rn(__dsub_rn(o, __ddiv_rn(__dadd_rn(oi, 1.0), nd)),
                                        __ddiv_rn(__dadd_rn(ors[j], 1.0), nd)),
                              cb),
                    db);
    const float v = (float)__dmul_rn(a, (double)self[e]);
    wm[e] = v;
    acc = __dadd_rn(acc, (double)v);
  }
  acc = pb_block_sum_d(acc, sh);
  if (threadIdx.x == 0) r[i] = acc;
}

/* g[i, k] += (float)(scale * (pr[i, k] - r[i] ac[i, k])) over the n*d elements. */
__global__ static void pb_hsic_apply_kernel(float *__restrict__ g, const float *__restrict__ pr, const double *r,
                                            const float *__restrict__ ac, size_t total, int d, double scale) {
  for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
    const double t = __dmul_rn(scale, __dsub_rn((double)pr[e], __dmul_rn(r[e / (size_t)d], (double)ac[e])));
    g[e] += (float)t;
  }
}

/* d[i, j] = D_ij from the Gram matrix g (0 on the diagonal), over the n*n elements. */
__global__ static void pb_hsic_sqdist_kernel(float *__restrict__ d, const float *__restrict__ g, int n) {
  const size_t total = (size_t)n * n;
  for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
    const int i = (int)(e / (size_t)n), j = (int)(e % (size_t)n);
    d[e] = i == j ? 0.0f : (float)pb_hsic_ddist(g, n, i, j);
  }
}

/* ------------------------------------------------------------------ host side */

/* Row-major c [m, n] = a [m, k] op(b), op(b) = b^T (b [n, k]) when trans_b, else b ([k, n]),
 * full fp32 (see the file comment). cuBLAS is column-major: c^T = op(b)^T a^T. */
static void pb_hsic_sgemm(const pb_cuda_env *env, int trans_b, int m, int n, int k, const float *a, const float *b,
                          float *c) {
  const float one = 1.0f, zero = 0.0f;
  PB_CUBLAS_CHECK(cublasGemmEx((cublasHandle_t)env->cublas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, n, m, k,
                               &one, b, CUDA_R_32F, trans_b ? k : n, a, CUDA_R_32F, k, &zero, c, CUDA_R_32F, n,
                               CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_GEMM_DEFAULT));
}

static void pb_hsic_dprepare(const pb_hsic_dws *w, const float *x, const float *y, const pb_hsic_params *p,
                             int with_p, const pb_cuda_env *env) {
  cudaStream_t st = pb_cuda_stream_of(env->stream);
  const int n = p->n;
  pb_hsic_center_kernel<<<(unsigned)((p->dx + PB_CUDA_THREADS - 1) / PB_CUDA_THREADS), PB_CUDA_THREADS, 0, st>>>(
      w->xc, x, n, p->dx);
  PB_CUDA_CHECK_LAUNCH("pb_hsic_center_kernel");
  pb_hsic_center_kernel<<<(unsigned)((p->dy + PB_CUDA_THREADS - 1) / PB_CUDA_THREADS), PB_CUDA_THREADS, 0, st>>>(
      w->yc, y, n, p->dy);
  PB_CUDA_CHECK_LAUNCH("pb_hsic_center_kernel");
  pb_hsic_sgemm(env, 1, n, n, p->dx, w->xc, w->xc, w->gx);
  pb_hsic_sgemm(env, 1, n, n, p->dy, w->yc, w->yc, w->gy);
  const double sx = (double)p->sigma_x, sy = (double)p->sigma_y;
  pb_hsic_rbf_kernel<<<(unsigned)n, PB_RED_THREADS, 0, st>>>(w->k, w->kt, w->gx, n, 2.0 * sx * sx, NULL, NULL);
  PB_CUDA_CHECK_LAUNCH("pb_hsic_rbf_kernel");
  pb_hsic_rbf_kernel<<<(unsigned)n, PB_RED_THREADS, 0, st>>>(w->l, w->lt, w->gy, n, 2.0 * sy * sy, w->k,
                                                             with_p ? w->p : NULL);
  PB_CUDA_CHECK_LAUNCH("pb_hsic_rbf_kernel");
}

extern "C" void pb_hsic_fwd_cuda(float *value, const float *x, const float *y, const pb_hsic_params *p,
                                 const pb_cuda_env *env) {
  pb_hsic_dws w;
  pb_hsic_dws_of(p, env, &w);
  pb_hsic_dprepare(&w, x, y, p, 1, env);
  pb_hsic_value_kernel<<<1, PB_RED_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(value, w.kt, w.lt, w.p, p->n,
                                                                               p->unbiased);
  PB_CUDA_CHECK_LAUNCH("pb_hsic_value_kernel");
}

/* g += (2 grad_scale / sigma^2) (wm ac - diag(r) ac). */
static void pb_hsic_dapply(float *g, const pb_hsic_dws *w, const float *wm, const double *r, const float *ac, int n,
                           int d, float sigma, float grad_scale, const pb_cuda_env *env) {
  pb_hsic_sgemm(env, 0, n, d, n, wm, ac, w->pr);
  const double scale = 2.0 * (double)grad_scale / ((double)sigma * (double)sigma);
  const size_t total = (size_t)n * d;
  pb_hsic_apply_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0,
                         pb_cuda_stream_of(env->stream)>>>(g, w->pr, r, ac, total, d, scale);
  PB_CUDA_CHECK_LAUNCH("pb_hsic_apply_kernel");
}

extern "C" void pb_hsic_bwd_cuda(float *dx, float *dy, float grad_scale, const float *x, const float *y,
                                 const pb_hsic_params *p, const pb_cuda_env *env) {
  pb_hsic_dws w;
  pb_hsic_dws_of(p, env, &w);
  if (!dx && !dy) return;
  cudaStream_t st = pb_cuda_stream_of(env->stream);
  const int n = p->n;
  pb_hsic_dprepare(&w, x, y, p, 0, env);
  pb_hsic_sums_kernel<<<1, PB_RED_THREADS, 0, st>>>(w.sums, w.kt, w.lt, n);
  PB_CUDA_CHECK_LAUNCH("pb_hsic_sums_kernel");
  if (dx) { /* A from L: its row sums lt and their total sums[1] */
    pb_hsic_wmat_kernel<<<(unsigned)n, PB_RED_THREADS, 0, st>>>(w.gx, w.rx, w.k, w.l, w.lt, w.sums + 1, n,
                                                                p->unbiased);
    PB_CUDA_CHECK_LAUNCH("pb_hsic_wmat_kernel");
    pb_hsic_dapply(dx, &w, w.gx, w.rx, w.xc, n, p->dx, p->sigma_x, grad_scale, env);
  }
  if (dy) {
    pb_hsic_wmat_kernel<<<(unsigned)n, PB_RED_THREADS, 0, st>>>(w.gy, w.ry, w.l, w.k, w.kt, w.sums, n, p->unbiased);
    PB_CUDA_CHECK_LAUNCH("pb_hsic_wmat_kernel");
    pb_hsic_dapply(dy, &w, w.gy, w.ry, w.yc, n, p->dy, p->sigma_y, grad_scale, env);
  }
}

extern "C" void pb_sqdist_cuda(float *d, const float *x, int n, int dim, const pb_cuda_env *env) {
  PB_ASSERT(n >= 1 && dim >= 1);
  const size_t need = (size_t)n * n * sizeof(float);
  if (!env->workspace || env->workspace_bytes < need)
    PB_FATAL("sqdist n=%d needs %zu bytes of workspace, the environment has %zu", n, need,
             env->workspace ? env->workspace_bytes : (size_t)0);
  float *g = (float *)env->workspace;
  pb_hsic_sgemm(env, 1, n, n, dim, x, x, g);
  const size_t total = (size_t)n * n;
  pb_hsic_sqdist_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0,
                          pb_cuda_stream_of(env->stream)>>>(d, g, n);
  PB_CUDA_CHECK_LAUNCH("pb_hsic_sqdist_kernel");
}
