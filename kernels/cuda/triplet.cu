/* triplet.cu: the triplet loss (batch-hard / batch-all, hinge / soft margin, Euclidean / squared):
 * the CUDA twin of kernels/cpu/triplet.c, whose file comment lists the four steps; ops.h ("triplet
 * loss") has the contract and the formulas, ops_cuda.h the twin's. Same steps, same order:
 *   1. pb_trip_dist_kernel: one thread per (i, j), the sum over k in order;
 *   2. one block per anchor (PB_RED_THREADS threads):
 *      hard: each thread scans its columns j = t, t + T, ... keeping the first maximum / minimum,
 *            then a fixed shared-memory tree on (value, index) with ties to the smaller index:
 *            the first maximum of the whole row, the CPU's choice;
 *      all:  thread t owns the columns j = t, t + T, ...: for a positive j it sums the terms over
 *            the negatives m in order (the CPU's inner loop, the same grouping), for a negative j
 *            it accumulates -w over the positives in order (the CPU's r_an -= w, same order);
 *            the per-positive sums go to the workspace and thread 0 adds them in order of j;
 *      the counts are integers (any order is exact);
 *   3. one thread: the totals over the anchors in order, the denominator, the loss, the counts and
 *      the gradient's coefficient grad_scale / denominator (device memory: no host round trip);
 *   4. one thread per (i, k): de_ik = coef * sum_j c_ij g_ij (e_ik - e_jk), j in order.
 * Precision: every double +, -, *, / and sqrt is an explicitly rounded intrinsic (__dadd_rn ...,
 * __dsqrt_rn): nvcc cannot contract them into FMAs, and each rounds exactly as the CPU's (x86-64
 * without FMA; C's sqrt is correctly rounded). So with hinge terms every value (distances, choices,
 * terms, sums, gradients) is expected to be the CPU's bit for bit; with soft terms CUDA's double
 * exp / log1p (within 1 ulp of libm's) make the doubles differ by a few ulps, the floats by at most
 * one ulp. Determinism: no atomics, fixed trees and orders: bitwise reproducible run to run.
 * Workspace: env->workspace holds everything (pb_triplet_workspace_cuda bytes, checked: a smaller
 * one aborts, tier 1); used only between this op's own launches on env->stream. */
#include <math.h>

#include "kernels/cuda/reduce_det.cuh"

#define PB_TRIP_EPS 1e-12     /* inside the square root (ops.h) */
#define PB_TRIP_ACTIVE_AT 1e-5 /* "active" terms (REFERENCES.md) */

/* ------------------------------------------------------------------ workspace layout */

/* Doubles dist, r [n*n], t [n*n] (batch-all only), asum [n], coef [1]; int64 acnt [4n]. Every
 * region starts on 256 bytes. */
#define PB_TRIP_AL(b) (((b) + 255) & ~(size_t)255)

struct pb_trip_dws {
  double *dist, *r, *t, *asum, *coef;
  long long *acnt;
};

static size_t pb_trip_dlayout(const pb_triplet_params *p, pb_trip_dws *w, char *base) {
  const size_t n = (size_t)p->n, nn = n * n;
  const size_t sz[6] = {nn, nn, p->mode == PB_TRIPLET_BATCH_ALL ? nn : 0, n, 1, 4 * n}; /* 8-byte elements */
  char *at[6];
  size_t off = 0;
  for (int i = 0; i < 6; i++) {
    at[i] = base ? base + off : NULL;
    off += PB_TRIP_AL(sz[i] * 8);
  }
  if (base) {
    w->dist = (double *)(void *)at[0], w->r = (double *)(void *)at[1], w->t = (double *)(void *)at[2];
    w->asum = (double *)(void *)at[3], w->coef = (double *)(void *)at[4], w->acnt = (long long *)(void *)at[5];
  }
  return off;
}

extern "C" size_t pb_triplet_workspace_cuda(const pb_triplet_params *p) {
  PB_ASSERT(p->n >= 0 && p->d >= 1);
  pb_trip_dws w;
  return pb_trip_dlayout(p, &w, NULL);
}

/* ------------------------------------------------------------------ device helpers */

/* m(x) and w = m'(x): the CPU's pb_trip_term, operation for operation. */
__device__ static inline double pb_trip_term(double x, int soft, double margin, double *w) {
  if (!soft) {
    const double t = __dadd_rn(x, margin);
    *w = t > 0.0 ? 1.0 : 0.0;
    return t > 0.0 ? t : 0.0;
  }
  if (x > 0.0) {
    const double e = exp(-x);
    *w = __ddiv_rn(1.0, __dadd_rn(1.0, e));
    return __dadd_rn(x, log1p(e));
  }
  const double e = exp(x);
  *w = __ddiv_rn(e, __dadd_rn(1.0, e));
  return log1p(e);
}

/* Sum of an integer over the block (blockDim.x == PB_RED_THREADS); every thread must call it and
 * gets the result; sh is free again on return. */
__device__ static inline long long pb_trip_block_sum_ll(long long v, long long *sh) {
  const unsigned t = threadIdx.x;
  sh[t] = v;
  __syncthreads();
  for (unsigned s = PB_RED_THREADS / 2; s > 0; s >>= 1) {
    if (t < s) sh[t] += sh[t + s];
    __syncthreads();
  }
  const long long r = sh[0];
  __syncthreads();
  return r;
}

/* ------------------------------------------------------------------ kernels */

/* dist [n, n], one thread per (i, j) (both triangles: the same bits, as on the CPU). */
__global__ static void pb_trip_dist_kernel(double *__restrict__ dist, const float *__restrict__ e, int n, int d,
                                           int squared) {
  const size_t nn = (size_t)n * (size_t)n;
  for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < nn; idx += (size_t)gridDim.x * blockDim.x) {
    const float *ei = e + (idx / (size_t)n) * (size_t)d, *ej = e + (idx % (size_t)n) * (size_t)d;
    double s = 0.0;
    for (int k = 0; k < d; k++) {
      const double t = __dsub_rn((double)ei[k], (double)ej[k]);
      s = __dadd_rn(s, __dmul_rn(t, t));
    }
    dist[idx] = squared ? s : __dsqrt_rn(__dadd_rn(s, PB_TRIP_EPS));
  }
}

/* Batch-hard, anchor a = blockIdx.x. */
__global__ static void __launch_bounds__(PB_RED_THREADS)
    pb_trip_hard_kernel(pb_trip_dws w, const int32_t *__restrict__ labels, int n, int soft, double margin) {
  __shared__ double vp[PB_RED_THREADS], vn[PB_RED_THREADS];
  __shared__ int ip[PB_RED_THREADS], in[PB_RED_THREADS];
  const int a = (int)blockIdx.x, t = (int)threadIdx.x, la = labels[a];
  const double *da = w.dist + (size_t)a * n;
  double *ra = w.r + (size_t)a * n;
  long long *cnt = w.acnt + 4 * (size_t)a;
  for (int j = t; j < n; j += PB_RED_THREADS) ra[j] = 0.0;
  int bp = -1, bn = -1;
  double bpv = 0.0, bnv = 0.0;
  if (la >= 0) {
    for (int j = t; j < n; j += PB_RED_THREADS) {
      const int lj = labels[j];
      if (j == a || lj < 0) continue;
      if (lj == la) {
        if (bp < 0 || da[j] > bpv) bp = j, bpv = da[j];
      } else if (bn < 0 || da[j] < bnv) {
        bn = j, bnv = da[j];
      }
    }
  }
  vp[t] = bpv, vn[t] = bnv, ip[t] = bp, in[t] = bn;
  __syncthreads(); /* also orders the zeroing of ra before thread 0's writes below */
  for (int s = PB_RED_THREADS / 2; s > 0; s >>= 1) {
    if (t < s) {
      const int op = ip[t + s], on = in[t + s];
      if (op >= 0 && (ip[t] < 0 || vp[t + s] > vp[t] || (vp[t + s] == vp[t] && op < ip[t])))
        ip[t] = op, vp[t] = vp[t + s];
      if (on >= 0 && (in[t] < 0 || vn[t + s] < vn[t] || (vn[t + s] == vn[t] && on < in[t])))
        in[t] = on, vn[t] = vn[t + s];
    }
    __syncthreads();
  }
  if (t != 0) return;
  cnt[0] = cnt[1] = cnt[2] = cnt[3] = 0;
  w.asum[a] = 0.0;
  if (la < 0) return;
  bp = ip[0], bn = in[0];
  if (bp < 0 || bn < 0) {
    cnt[3] = 1;
    return;
  }
  double wt;
  const double term = pb_trip_term(__dsub_rn(vp[0], vn[0]), soft, margin, &wt);
  w.asum[a] = term;
  cnt[0] = 1;
  cnt[1] = term > 0.0;
  cnt[2] = term > PB_TRIP_ACTIVE_AT;
  ra[bp] = wt;
  ra[bn] = -wt;
}

/* Batch-all, anchor a = blockIdx.x (the file comment). */
__global__ static void __launch_bounds__(PB_RED_THREADS)
    pb_trip_all_kernel(pb_trip_dws w, const int32_t *__restrict__ labels, int n, int soft, double margin) {
  __shared__ long long sh[PB_RED_THREADS];
  const int a = (int)blockIdx.x, t = (int)threadIdx.x, la = labels[a];
  const double *da = w.dist + (size_t)a * n;
  double *ra = w.r + (size_t)a * n, *ta = w.t + (size_t)a * n;
  long long *cnt = w.acnt + 4 * (size_t)a;
  long long npos = 0, nneg = 0;
  if (la >= 0) {
    for (int j = t; j < n; j += PB_RED_THREADS) {
      const int lj = labels[j];
      if (j == a || lj < 0) continue;
      if (lj == la)
        npos++;
      else
        nneg++;
    }
  }
  npos = pb_trip_block_sum_ll(npos, sh); /* la is uniform over the block: every thread gets here */
  nneg = pb_trip_block_sum_ll(nneg, sh);
  if (la < 0 || npos == 0 || nneg == 0) {
    for (int j = t; j < n; j += PB_RED_THREADS) ra[j] = 0.0;
    if (t == 0) {
      cnt[0] = cnt[1] = cnt[2] = 0;
      cnt[3] = la >= 0;
      w.asum[a] = 0.0;
    }
    return;
  }
  long long nz = 0, act = 0;
  for (int j = t; j < n; j += PB_RED_THREADS) {
    const int lj = labels[j];
    double rj = 0.0, tj = 0.0;
    if (j != a && lj == la) { /* a positive: its terms over the negatives m in order */
      double wj = 0.0;
      for (int m = 0; m < n; m++) {
        const int lm = labels[m];
        if (lm < 0 || lm == la) continue;
        double wt;
        const double term = pb_trip_term(__dsub_rn(da[j], da[m]), soft, margin, &wt);
        tj = __dadd_rn(tj, term);
        wj = __dadd_rn(wj, wt);
        nz += term > 0.0;
        act += term > PB_TRIP_ACTIVE_AT;
      }
      rj = wj;
    } else if (lj >= 0 && lj != la) { /* a negative: -w over the positives p in order */
      for (int q = 0; q < n; q++) {
        if (q == a || labels[q] != la) continue;
        double wt;
        pb_trip_term(__dsub_rn(da[q], da[j]), soft, margin, &wt);
        rj = __dsub_rn(rj, wt);
      }
    }
    ra[j] = rj;
    ta[j] = tj;
  }
  nz = pb_trip_block_sum_ll(nz, sh); /* its barriers also publish ta to thread 0 */
  act = pb_trip_block_sum_ll(act, sh);
  if (t != 0) return;
  double asum = 0.0;
  for (int j = 0; j < n; j++) asum = __dadd_rn(asum, ta[j]); /* + 0.0 where j is no positive: exact */
  w.asum[a] = asum;
  cnt[0] = npos * nneg;
  cnt[1] = nz;
  cnt[2] = act;
  cnt[3] = 0;
}

/* Totals over the anchors in order; loss, counts, and coef = grad_scale / denominator (0 when
 * the denominator is 0). One thread. */
__global__ static void pb_trip_total_kernel(float *loss, long long *counts, pb_trip_dws w, int n, int nonzero,
                                            double grad_scale) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  double sum = 0.0;
  long long tot[4] = {0, 0, 0, 0};
  for (int a = 0; a < n; a++) {
    sum = __dadd_rn(sum, w.asum[a]);
    for (int c = 0; c < 4; c++) tot[c] += w.acnt[4 * (size_t)a + c];
  }
  const long long denom = nonzero ? tot[PB_TRIPLET_NONZERO] : tot[PB_TRIPLET_VALID];
  loss[0] = denom > 0 ? (float)__ddiv_rn(sum, (double)denom) : 0.0f;
  if (counts)
    for (int c = 0; c < 4; c++) counts[c] = tot[c];
  w.coef[0] = denom > 0 ? __ddiv_rn(grad_scale, (double)denom) : 0.0;
}

/* de [n, d], one thread per element. */
__global__ static void pb_trip_grad_kernel(float *__restrict__ de, pb_trip_dws w, const float *__restrict__ e, int n,
                                           int d, int squared) {
  const double coef = w.coef[0];
  const size_t nd = (size_t)n * (size_t)d;
  for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < nd; idx += (size_t)gridDim.x * blockDim.x) {
    if (coef == 0.0) {
      de[idx] = 0.0f;
      continue;
    }
    const size_t i = idx / (size_t)d, k = idx % (size_t)d;
    const double eik = (double)e[idx];
    double acc = 0.0;
    for (int j = 0; j < n; j++) {
      const double c = __dadd_rn(w.r[i * n + j], w.r[(size_t)j * n + i]);
      if (c == 0.0) continue;
      const double cg = squared ? __dmul_rn(2.0, c) : __ddiv_rn(c, w.dist[i * n + j]);
      acc = __dadd_rn(acc, __dmul_rn(cg, __dsub_rn(eik, (double)e[(size_t)j * d + k])));
    }
    de[idx] = (float)__dmul_rn(coef, acc);
  }
}

/* ------------------------------------------------------------------ the op */

extern "C" void pb_triplet_loss_cuda(float *loss, int64_t *counts, float *de, const float *e, const int32_t *labels,
                                     float grad_scale, const pb_triplet_params *p, const pb_cuda_env *env) {
  PB_ASSERT(p->n >= 0 && p->d >= 1);
  PB_ASSERT(p->mode == PB_TRIPLET_BATCH_HARD || p->mode == PB_TRIPLET_BATCH_ALL);
  PB_ASSERT(p->reduction == PB_TRIPLET_MEAN_ALL || p->reduction == PB_TRIPLET_MEAN_NONZERO);
  PB_ASSERT(isfinite(p->margin));
  cudaStream_t st = pb_cuda_stream_of(env->stream);
  const int n = p->n, d = p->d;
  if (n == 0) { /* 0.0f and 0 are all-zero bytes */
    PB_CUDA_CHECK(cudaMemsetAsync(loss, 0, sizeof(float), st));
    if (counts) PB_CUDA_CHECK(cudaMemsetAsync(counts, 0, PB_TRIPLET_NCOUNTS * sizeof(int64_t), st));
    return;
  }
  const size_t need = pb_triplet_workspace_cuda(p);
  if (!env->workspace || env->workspace_bytes < need)
    PB_FATAL("triplet loss n=%d needs %zu bytes of workspace, the environment has %zu (the caller checks "
             "pb_triplet_workspace_cuda when it is built)",
             n, need, env->workspace ? env->workspace_bytes : (size_t)0);
  pb_trip_dws w;
  pb_trip_dlayout(p, &w, (char *)env->workspace);
  const size_t nn = (size_t)n * (size_t)n;
  const double margin = (double)p->margin;

  pb_trip_dist_kernel<<<pb_cuda_blocks(nn, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, st>>>(w.dist, e, n, d, p->squared);
  PB_CUDA_CHECK_LAUNCH("pb_trip_dist_kernel");
  if (p->mode == PB_TRIPLET_BATCH_HARD) {
    pb_trip_hard_kernel<<<(unsigned int)n, PB_RED_THREADS, 0, st>>>(w, labels, n, p->soft, margin);
    PB_CUDA_CHECK_LAUNCH("pb_trip_hard_kernel");
  } else {
    pb_trip_all_kernel<<<(unsigned int)n, PB_RED_THREADS, 0, st>>>(w, labels, n, p->soft, margin);
    PB_CUDA_CHECK_LAUNCH("pb_trip_all_kernel");
  }
  pb_trip_total_kernel<<<1, 32, 0, st>>>(loss, (long long *)counts, w, n, p->reduction == PB_TRIPLET_MEAN_NONZERO,
                                         (double)grad_scale);
  PB_CUDA_CHECK_LAUNCH("pb_trip_total_kernel");
  if (de) {
    const size_t nd = (size_t)n * (size_t)d;
    pb_trip_grad_kernel<<<pb_cuda_blocks(nd, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, st>>>(de, w, e, n, d, p->squared);
    PB_CUDA_CHECK_LAUNCH("pb_trip_grad_kernel");
  }
}

/* ------------------------------------------------------------------ the run's figures */

__global__ static void pb_trip_stats_kernel(float *out, const float *loss, const long long *counts, int rows) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  const long long valid = counts[PB_TRIPLET_VALID];
  out[0] = __fmul_rn(loss[0], (float)rows);
  out[1] = valid > 0 ? __fmul_rn((float)__ddiv_rn((double)counts[PB_TRIPLET_ACTIVE], (double)valid), (float)rows) : 0.0f;
  out[2] = (float)counts[PB_TRIPLET_EXCLUDED];
}

extern "C" void pb_triplet_stats_cuda(float *out, const float *loss, const int64_t *counts, int rows,
                                      const pb_cuda_env *env) {
  pb_trip_stats_kernel<<<1, 32, 0, pb_cuda_stream_of(env->stream)>>>(out, loss, (const long long *)counts, rows);
  PB_CUDA_CHECK_LAUNCH("pb_trip_stats_kernel");
}
