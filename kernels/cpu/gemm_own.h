/* gemm_own.h: plumb's built-in single-precision GEMM (kernels/cpu/gemm.c), exposed so the
 * tests can check it even when pb_sgemm_cpu dispatches to OpenBLAS. */
#ifndef PB_GEMM_OWN_H
#define PB_GEMM_OWN_H

/* Same contract as pb_sgemm_cpu (kernels/ops.h): row-major
 * C[m,n] = alpha * op(A)[m,k] op(B)[k,n] + beta * C; trans_a: A stored [k,m]; trans_b: B
 * stored [n,k]. beta == 0 overwrites C without reading it (NaNs in C do not survive).
 * Single-threaded, no heap allocation (packing buffers live on the stack, ~128 KiB). */
void pb_sgemm_own_cpu(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                      int lda, const float *b, int ldb, float beta, float *c, int ldc);

#endif
