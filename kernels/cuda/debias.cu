/* debias.cu: the fused losses of RUBi and LearnedMixin+H (ops.h, "debiasing losses"): the CUDA
 * twin of kernels/cpu/debias.c. Contracts in ops.h / ops_cuda.h.
 *
 * Precision: as the CPU, every row is computed in DOUBLE from the float inputs (row maxima,
 * exp / log / log1p, products and sums) and each output is rounded to float once. The per-element
 * formulas are the CPU's, operation for operation, with every double add / sub / mul / div an
 * explicitly rounded intrinsic (__dadd_rn...): nvcc cannot contract them into FMAs, so both launch
 * paths below (and every call) round exactly alike, and as the CPU (which has no FMA either).
 * What differs from the CPU: CUDA's double exp / log / log1p (within 1 ulp of double, as libm's)
 * and the order of the sums over a row's k elements (a fixed tree here, j = 0..k-1 there): the
 * doubles agree to ~1e-15 relative to the terms, the floats to 1 ulp except where a result
 * cancels far below its terms (test/kernels/test_cuda_debias.c states the tolerances).
 *
 * Determinism (no floating-point atomics; every sum has a fixed order and tree): a row is
 * reduced by one block of PB_RED_THREADS threads (thread t takes elements t, t + T, ... in
 * order, then fixed shared-memory trees for the maxima and the sums). The two per-row losses
 * (doubles) are then summed IN ROW ORDER 0..n-1 by one thread, the CPU's order. Two paths,
 * bitwise the same result (same row code, same order):
 *   a) env->workspace holds 2n doubles: n blocks, one row each, write the row losses to the
 *      workspace; then one thread sums them;
 *   b) otherwise ONE block walks the rows in order and thread 0 accumulates.
 * A label < 0 is a missing label, as on the CPU: the row adds nothing and its gradient rows are
 * zero. A label >= k (undefined on the CPU) gives a NaN loss here, never a wild read. */
#include <math.h>

#include "kernels/cuda/reduce_det.cuh"

/* Shared memory of one row block: two values per thread for the paired trees. */
typedef struct pb_debias_shared {
  double a[PB_RED_THREADS], b[PB_RED_THREADS];
} pb_debias_shared;

/* Maxima of (x, y) over the block (blockDim.x == PB_RED_THREADS), fixed tree, as the CPU's
 * `z[j] > mx ? z[j] : mx` (a NaN may or may not win; the row's exp sum is NaN either way). Every
 * thread must call it and gets both results; sh is free again on return. */
__device__ static inline void pb_block_max2_d(double *x, double *y, pb_debias_shared *sh) {
  const unsigned t = threadIdx.x;
  sh->a[t] = *x, sh->b[t] = *y;
  __syncthreads();
  for (unsigned s = PB_RED_THREADS / 2; s > 0; s >>= 1) {
    if (t < s) {
      const double oa = sh->a[t + s], ob = sh->b[t + s];
      sh->a[t] = oa > sh->a[t] ? oa : sh->a[t];
      sh->b[t] = ob > sh->b[t] ? ob : sh->b[t];
    }
    __syncthreads();
  }
  *x = sh->a[0], *y = sh->b[0];
  __syncthreads();
}

/* Sums of (x, y) over the block, fixed tree (pb_block_sum_d's, twice at once). */
__device__ static inline void pb_block_sum2_d(double *x, double *y, pb_debias_shared *sh) {
  const unsigned t = threadIdx.x;
  sh->a[t] = *x, sh->b[t] = *y;
  __syncthreads();
  for (unsigned s = PB_RED_THREADS / 2; s > 0; s >>= 1) {
    if (t < s) {
      sh->a[t] = __dadd_rn(sh->a[t], sh->a[t + s]);
      sh->b[t] = __dadd_rn(sh->b[t], sh->b[t + s]);
    }
    __syncthreads();
  }
  *x = sh->a[0], *y = sh->b[0];
  __syncthreads();
}

/* Stable sigmoid in double, as the CPU's sigmoid_d: exp only of a non-positive argument. */
__device__ static inline double pb_sigmoid_d(double x) {
  if (x >= 0.0) return __ddiv_rn(1.0, __dadd_rn(1.0, exp(-x)));
  const double e = exp(x);
  return __ddiv_rn(e, __dadd_rn(1.0, e));
}

/* PyTorch's softplus (beta 1, threshold 20) and its derivative, as the CPU. */
__device__ static inline double pb_softplus_d(double x) { return x > 20.0 ? x : log1p(exp(x)); }
__device__ static inline double pb_softplus_grad_d(double x) { return x > 20.0 ? 1.0 : pb_sigmoid_d(x); }

/* The two losses of one row, returned to every thread of the block. */
typedef struct pb_loss2 {
  double l0, l1;
} pb_loss2;

/* ------------------------------------------------------------------ RUBi */

typedef struct pb_rubi_args {
  float *df, *dh;
  const float *f, *h;
  const int32_t *labels;
  int k;
  double scale, scale_head;
} pb_rubi_args;

/* Row i: s = sigmoid(h), z = f * s; l0 = lse(z) - z_y, l1 = lse(h) - h_y; the gradients as ops.h.
 * Called by every thread of a block (the label test is uniform over the block). z and s are
 * recomputed in each pass from f and h (the same rounded operations, so the same doubles):
 * nothing of size k is kept, any k fits. */
__device__ static pb_loss2 pb_debias_row(const pb_rubi_args &a, int i, pb_debias_shared *sh) {
  const int k = a.k;
  const size_t off = (size_t)i * (size_t)k;
  const float *f = a.f + off, *h = a.h + off;
  const int y = a.labels[i];
  pb_loss2 r = {0.0, 0.0};
  if (y < 0) {
    for (int j = threadIdx.x; j < k; j += PB_RED_THREADS) {
      if (a.df) a.df[off + j] = 0.0f;
      if (a.dh) a.dh[off + j] = 0.0f;
    }
    return r;
  }
  double mz = -INFINITY, mh = -INFINITY;
  for (int j = threadIdx.x; j < k; j += PB_RED_THREADS) {
    const double z = __dmul_rn((double)f[j], pb_sigmoid_d((double)h[j])), hd = (double)h[j];
    mz = z > mz ? z : mz;
    mh = hd > mh ? hd : mh;
  }
  pb_block_max2_d(&mz, &mh, sh);
  double sz = 0.0, shh = 0.0;
  for (int j = threadIdx.x; j < k; j += PB_RED_THREADS) {
    const double z = __dmul_rn((double)f[j], pb_sigmoid_d((double)h[j]));
    sz = __dadd_rn(sz, exp(__dsub_rn(z, mz)));
    shh = __dadd_rn(shh, exp(__dsub_rn((double)h[j], mh)));
  }
  pb_block_sum2_d(&sz, &shh, sh);
  const double lz = __dadd_rn(mz, log(sz)), lh = __dadd_rn(mh, log(shh));
  const int ok = y < k;
  const double zy = ok ? __dmul_rn((double)f[y], pb_sigmoid_d((double)h[y])) : (double)NAN;
  const double hy = ok ? (double)h[y] : (double)NAN;
  r.l0 = __dsub_rn(lz, zy);
  r.l1 = __dsub_rn(lh, hy);
  if (a.df || a.dh) {
    for (int j = threadIdx.x; j < k; j += PB_RED_THREADS) {
      const double s = pb_sigmoid_d((double)h[j]), fj = (double)f[j], z = __dmul_rn(fj, s);
      const double e = j == y ? 1.0 : 0.0, dz = __dmul_rn(a.scale, __dsub_rn(exp(__dsub_rn(z, lz)), e));
      if (a.df) a.df[off + j] = (float)__dmul_rn(dz, s);
      if (a.dh) {
        /* ((dz f) s)(1 - s) + scale_head (q_j - e_j), left to right as the CPU */
        const double t1 = __dmul_rn(__dmul_rn(__dmul_rn(dz, fj), s), __dsub_rn(1.0, s));
        const double t2 = __dmul_rn(a.scale_head, __dsub_rn(exp(__dsub_rn((double)h[j], lh)), e));
        a.dh[off + j] = (float)__dadd_rn(t1, t2);
      }
    }
  }
  return r;
}

/* ------------------------------------------------------------------ LearnedMixin + H */

typedef struct pb_mixin_args {
  float *df, *da;
  const float *f, *g, *a;
  const int32_t *labels;
  int k;
  double scale, scale_ent;
} pb_mixin_args;

/* Row i: c = softplus(a_i), u = c g, z = f + u; l0 = lse(z) - z_y, l1 = H(softmax(u)); the
 * gradients as ops.h. Called by every thread of a block; u and z recomputed in each pass. */
__device__ static pb_loss2 pb_debias_row(const pb_mixin_args &m, int i, pb_debias_shared *sh) {
  const int k = m.k;
  const size_t off = (size_t)i * (size_t)k;
  const float *f = m.f + off, *g = m.g + off;
  const int y = m.labels[i];
  pb_loss2 r = {0.0, 0.0};
  if (y < 0) {
    if (m.df)
      for (int j = threadIdx.x; j < k; j += PB_RED_THREADS) m.df[off + j] = 0.0f;
    if (m.da && threadIdx.x == 0) m.da[i] = 0.0f;
    return r;
  }
  const double ai = (double)m.a[i], c = pb_softplus_d(ai);
  double mz = -INFINITY, mu = -INFINITY;
  for (int j = threadIdx.x; j < k; j += PB_RED_THREADS) {
    const double u = __dmul_rn(c, (double)g[j]), z = __dadd_rn((double)f[j], u);
    mz = z > mz ? z : mz;
    mu = u > mu ? u : mu;
  }
  pb_block_max2_d(&mz, &mu, sh);
  double sz = 0.0, su = 0.0;
  for (int j = threadIdx.x; j < k; j += PB_RED_THREADS) {
    const double u = __dmul_rn(c, (double)g[j]), z = __dadd_rn((double)f[j], u);
    sz = __dadd_rn(sz, exp(__dsub_rn(z, mz)));
    su = __dadd_rn(su, exp(__dsub_rn(u, mu)));
  }
  pb_block_sum2_d(&sz, &su, sh);
  const double lz = __dadd_rn(mz, log(sz)), lu = __dadd_rn(mu, log(su));
  /* H = -sum_j q_j log q_j; the second slot of the pair is unused */
  double qlq = 0.0, unused = 0.0;
  for (int j = threadIdx.x; j < k; j += PB_RED_THREADS) {
    const double lq = __dsub_rn(__dmul_rn(c, (double)g[j]), lu);
    qlq = __dadd_rn(qlq, __dmul_rn(exp(lq), lq));
  }
  pb_block_sum2_d(&qlq, &unused, sh);
  const double H = __dsub_rn(0.0, qlq); /* 0 - sum, as the CPU's H -= ... from 0 (signed zeros alike) */
  const double zy = y < k ? __dadd_rn((double)f[y], __dmul_rn(c, (double)g[y])) : (double)NAN;
  r.l0 = __dsub_rn(lz, zy);
  r.l1 = H;
  if (m.df || m.da) {
    double dc = 0.0;
    for (int j = threadIdx.x; j < k; j += PB_RED_THREADS) {
      const double u = __dmul_rn(c, (double)g[j]), z = __dadd_rn((double)f[j], u);
      const double dz = __dmul_rn(m.scale, __dsub_rn(exp(__dsub_rn(z, lz)), j == y ? 1.0 : 0.0));
      if (m.df) m.df[off + j] = (float)dz;
      /* du = dz - ((scale_ent q_j)(log q_j + H)), as the CPU */
      const double lq = __dsub_rn(u, lu);
      const double du = __dsub_rn(dz, __dmul_rn(__dmul_rn(m.scale_ent, exp(lq)), __dadd_rn(lq, H)));
      dc = __dadd_rn(dc, __dmul_rn(du, (double)g[j]));
    }
    if (m.da) { /* uniform over the block: every thread reaches the tree */
      double unused2 = 0.0;
      pb_block_sum2_d(&dc, &unused2, sh);
      if (threadIdx.x == 0) m.da[i] = (float)__dmul_rn(dc, pb_softplus_grad_d(ai));
    }
  }
  return r;
}

/* ------------------------------------------------------------------ the two launch paths
 * Both templates take either argument struct; pb_debias_row is overloaded on it. */

/* Path a: block i handles row i; its two losses go to row_loss[2i], row_loss[2i + 1]. */
template <class A>
__global__ static void __launch_bounds__(PB_RED_THREADS) pb_debias_rows_kernel(double *row_loss, A args) {
  __shared__ pb_debias_shared sh;
  const int i = (int)blockIdx.x;
  const pb_loss2 r = pb_debias_row(args, i, &sh);
  if (threadIdx.x == 0) row_loss[2 * (size_t)i] = r.l0, row_loss[2 * (size_t)i + 1] = r.l1;
}

/* The row losses summed in row order (the CPU's order), one thread. */
__global__ static void pb_debias_total_kernel(float *loss, const double *row_loss, int n) {
  if (threadIdx.x != 0) return;
  double t0 = 0.0, t1 = 0.0;
  for (int i = 0; i < n; i++) {
    t0 = __dadd_rn(t0, row_loss[2 * (size_t)i]);
    t1 = __dadd_rn(t1, row_loss[2 * (size_t)i + 1]);
  }
  loss[0] = (float)t0;
  loss[1] = (float)t1;
}

/* Path b: one block, rows in order, thread 0 accumulates (same row code, same order). */
template <class A>
__global__ static void __launch_bounds__(PB_RED_THREADS) pb_debias_single_kernel(float *loss, A args, int n) {
  __shared__ pb_debias_shared sh;
  double t0 = 0.0, t1 = 0.0;
  for (int i = 0; i < n; i++) {
    const pb_loss2 r = pb_debias_row(args, i, &sh);
    if (threadIdx.x == 0) t0 = __dadd_rn(t0, r.l0), t1 = __dadd_rn(t1, r.l1);
  }
  if (threadIdx.x == 0) loss[0] = (float)t0, loss[1] = (float)t1;
}

/* Enqueues either path on env->stream; n == 0 writes the two zeros. */
template <class A>
static void pb_debias_launch(float *loss, const A &args, int n, int k, const pb_cuda_env *env, const char *name) {
  cudaStream_t st = pb_cuda_stream_of(env->stream);
  if (n <= 0) {
    PB_CUDA_CHECK(cudaMemsetAsync(loss, 0, 2 * sizeof(float), st)); /* the CPU writes 0, 0 */
    return;
  }
  PB_ASSERT(k > 0);
  if (env->workspace && env->workspace_bytes >= 2 * (size_t)n * sizeof(double)) {
    double *row_loss = (double *)env->workspace; /* cudaMalloc: aligned */
    pb_debias_rows_kernel<A><<<(unsigned int)n, PB_RED_THREADS, 0, st>>>(row_loss, args);
    PB_CUDA_CHECK_LAUNCH(name);
    pb_debias_total_kernel<<<1, 32, 0, st>>>(loss, row_loss, n);
    PB_CUDA_CHECK_LAUNCH("pb_debias_total_kernel");
  } else {
    pb_debias_single_kernel<A><<<1, PB_RED_THREADS, 0, st>>>(loss, args, n);
    PB_CUDA_CHECK_LAUNCH(name);
  }
}

extern "C" void pb_rubi_loss_cuda(float *loss, float *df, float *dh, const float *f, const float *h,
                                  const int32_t *labels, int n, int k, float scale, float scale_head,
                                  const pb_cuda_env *env) {
  pb_rubi_args a;
  a.df = df, a.dh = dh, a.f = f, a.h = h, a.labels = labels, a.k = k;
  a.scale = (double)scale, a.scale_head = (double)scale_head;
  pb_debias_launch<pb_rubi_args>(loss, a, n, k, env, "pb_rubi_loss kernel");
}

extern "C" void pb_mixin_loss_cuda(float *loss, float *df, float *da, const float *f, const float *g,
                                   const float *a, const int32_t *labels, int n, int k, float scale,
                                   float scale_ent, const pb_cuda_env *env) {
  pb_mixin_args m;
  m.df = df, m.da = da, m.f = f, m.g = g, m.a = a, m.labels = labels, m.k = k;
  m.scale = (double)scale, m.scale_ent = (double)scale_ent;
  pb_debias_launch<pb_mixin_args>(loss, m, n, k, env, "pb_mixin_loss kernel");
}
