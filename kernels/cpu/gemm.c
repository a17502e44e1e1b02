/* gemm.c: CPU single-precision GEMM for the op layer: pb_sgemm_cpu (OpenBLAS when built with
 * it) and plumb's own cache-blocked, register-tiled kernel pb_sgemm_own_cpu (the fallback).
 * Its CUDA twin will be kernels/cuda/gemm.cu (cuBLAS).
 *
 * The own kernel follows the usual Goto/BLIS structure: op(B) is packed in KC x NC blocks of
 * NR-wide column panels, op(A) in MC x KC blocks of MR-high row panels, and an MR x NR
 * micro-kernel accumulates a tile in registers. The micro-kernel is plain C with constant trip
 * counts so that gcc unrolls and vectorises it; on x86-64 it is also cloned for AVX2 and
 * picked at load time. Packing zero-pads the edges, so the micro-kernel never branches. */
#include <string.h>

#include "kernels/cpu/gemm_own.h"
#include "kernels/ops.h"

#if PLUMB_HAVE_OPENBLAS
#include <cblas.h>
#endif

void pb_cpu_blas_init(void) {
#if PLUMB_HAVE_OPENBLAS
  openblas_set_num_threads(1);
#endif
}

void pb_sgemm_cpu(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc) {
#if PLUMB_HAVE_OPENBLAS
  if (m <= 0 || n <= 0) return;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
  pb_sgemm_own_cpu(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

/* ------------------------------------------------------------------ own kernel */

#define PB_MR 4
#define PB_NR 16
#define PB_KC 256
#define PB_MC 64 /* multiple of PB_MR */
#define PB_NC 64 /* multiple of PB_NR */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PB_GEMM_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define PB_GEMM_CLONES
#endif

static inline int pb_gemm_min(int a, int b) { return a < b ? a : b; }

/* Packs rows [i0, i0+mc) x cols [p0, p0+kc) of op(A) into MR-high panels:
 * ap[panel][p][r], zero rows past mc. */
static void pb_gemm_pack_a(float *ap, int trans_a, const float *a, int lda, int i0, int mc,
                           int p0, int kc) {
  for (int ib = 0; ib < mc; ib += PB_MR) {
    const int mr = pb_gemm_min(PB_MR, mc - ib);
    float *dst = ap + (size_t)ib * kc;
    if (!trans_a) {
      for (int r = 0; r < PB_MR; r++) {
        if (r < mr) {
          const float *src = a + (size_t)(i0 + ib + r) * lda + p0;
          for (int p = 0; p < kc; p++) dst[p * PB_MR + r] = src[p];
        } else {
          for (int p = 0; p < kc; p++) dst[p * PB_MR + r] = 0.0f;
        }
      }
    } else { /* A stored [k, m]: op(A)[i][p] = a[p*lda + i], rows contiguous in memory */
      for (int p = 0; p < kc; p++) {
        const float *src = a + (size_t)(p0 + p) * lda + i0 + ib;
        int r = 0;
        for (; r < mr; r++) dst[p * PB_MR + r] = src[r];
        for (; r < PB_MR; r++) dst[p * PB_MR + r] = 0.0f;
      }
    }
  }
}

/* Packs rows [p0, p0+kc) x cols [j0, j0+nc) of op(B) into NR-wide panels:
 * bp[panel][p][c], zero columns past nc. */
static void pb_gemm_pack_b(float *bp, int trans_b, const float *b, int ldb, int p0, int kc,
                           int j0, int nc) {
  for (int jb = 0; jb < nc; jb += PB_NR) {
    const int nr = pb_gemm_min(PB_NR, nc - jb);
    float *dst = bp + (size_t)jb * kc;
    if (!trans_b) {
      for (int p = 0; p < kc; p++) {
        const float *src = b + (size_t)(p0 + p) * ldb + j0 + jb;
        int col = 0;
        for (; col < nr; col++) dst[p * PB_NR + col] = src[col];
        for (; col < PB_NR; col++) dst[p * PB_NR + col] = 0.0f;
      }
    } else { /* B stored [n, k]: op(B)[p][j] = b[j*ldb + p] */
      for (int col = 0; col < PB_NR; col++) {
        if (col < nr) {
          const float *src = b + (size_t)(j0 + jb + col) * ldb + p0;
          for (int p = 0; p < kc; p++) dst[p * PB_NR + col] = src[p];
        } else {
          for (int p = 0; p < kc; p++) dst[p * PB_NR + col] = 0.0f;
        }
      }
    }
  }
}

/* acc = Ap(MR x kc) * Bp(kc x NR), then C[mr x nr] = alpha*acc + beta*C (first k block) or
 * C += alpha*acc (later blocks: beta_eff == 1). beta_eff == 0 does not read C. */
PB_GEMM_CLONES
static void pb_gemm_micro(int kc, const float *restrict ap, const float *restrict bp, float alpha,
                          float beta_eff, float *restrict c, int ldc, int mr, int nr) {
  /* One named accumulator row per A row: with a 2-D array gcc vectorises across rows and
   * shuffles; with rows apart it keeps each row in NR/8 vector registers. */
  float acc0[PB_NR] = {0}, acc1[PB_NR] = {0}, acc2[PB_NR] = {0}, acc3[PB_NR] = {0};
  for (int p = 0; p < kc; p++) {
    const float *bv = bp + (size_t)p * PB_NR;
    const float a0 = ap[p * PB_MR + 0], a1 = ap[p * PB_MR + 1];
    const float a2 = ap[p * PB_MR + 2], a3 = ap[p * PB_MR + 3];
    for (int j = 0; j < PB_NR; j++) {
      acc0[j] += a0 * bv[j];
      acc1[j] += a1 * bv[j];
      acc2[j] += a2 * bv[j];
      acc3[j] += a3 * bv[j];
    }
  }
  float *acc[PB_MR] = {acc0, acc1, acc2, acc3};
  if (mr == PB_MR && nr == PB_NR) {
    for (int r = 0; r < PB_MR; r++) {
      float *cr = c + (size_t)r * ldc;
      if (beta_eff == 0.0f)
        for (int j = 0; j < PB_NR; j++) cr[j] = alpha * acc[r][j];
      else if (beta_eff == 1.0f)
        for (int j = 0; j < PB_NR; j++) cr[j] += alpha * acc[r][j];
      else
        for (int j = 0; j < PB_NR; j++) cr[j] = alpha * acc[r][j] + beta_eff * cr[j];
    }
    return;
  }
  for (int r = 0; r < mr; r++) {
    float *cr = c + (size_t)r * ldc;
    for (int j = 0; j < nr; j++)
      cr[j] = beta_eff == 0.0f ? alpha * acc[r][j] : alpha * acc[r][j] + beta_eff * cr[j];
  }
}

void pb_sgemm_own_cpu(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                      int lda, const float *b, int ldb, float beta, float *c, int ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) { /* C = beta * C, as BLAS does (beta == 0 overwrites) */
    for (int i = 0; i < m; i++) {
      float *ci = c + (size_t)i * ldc;
      if (beta == 0.0f)
        memset(ci, 0, sizeof(float) * (size_t)n);
      else if (beta != 1.0f)
        for (int j = 0; j < n; j++) ci[j] *= beta;
    }
    return;
  }
  float ap[PB_MC * PB_KC] __attribute__((aligned(64)));
  float bp[PB_KC * PB_NC] __attribute__((aligned(64)));
  for (int j0 = 0; j0 < n; j0 += PB_NC) {
    const int nc = pb_gemm_min(PB_NC, n - j0);
    for (int p0 = 0; p0 < k; p0 += PB_KC) {
      const int kc = pb_gemm_min(PB_KC, k - p0);
      const float beta_eff = p0 == 0 ? beta : 1.0f;
      pb_gemm_pack_b(bp, trans_b, b, ldb, p0, kc, j0, nc);
      for (int i0 = 0; i0 < m; i0 += PB_MC) {
        const int mc = pb_gemm_min(PB_MC, m - i0);
        pb_gemm_pack_a(ap, trans_a, a, lda, i0, mc, p0, kc);
        for (int jb = 0; jb < nc; jb += PB_NR)
          for (int ib = 0; ib < mc; ib += PB_MR)
            pb_gemm_micro(kc, ap + (size_t)ib * kc, bp + (size_t)jb * kc, alpha, beta_eff,
                          c + (size_t)(i0 + ib) * ldc + j0 + jb, ldc,
                          pb_gemm_min(PB_MR, mc - ib), pb_gemm_min(PB_NR, nc - jb));
      }
    }
  }
}
