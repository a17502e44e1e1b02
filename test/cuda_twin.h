/* cuda_twin.h: the harness shared by the CUDA twin tests (test/kernels/test_cuda_*.c,
 * test/engine/test_cuda_*.c and the GPU runs of the golden tests): the no-GPU skip, the
 * environment, device buffers filled from and copied back to the host, and the comparisons
 * that several twins make. Implemented in test/cuda_twin.c (part of plumb_testutil, so it
 * links in a CPU-only build too, where kernels/cuda/stubs.c stands in for the device).
 *
 * Failure behaviour: a test cannot go on without its buffers or its environment, so these
 * print "FAIL: <message>" to stderr and exit(1) on device out-of-memory or a failed
 * environment init (not counted as a check failure: the test simply fails). Other CUDA
 * errors abort inside the pb_cuda_* calls (tier 1). Comparisons count failed checks through
 * PB_CHECK_MSG (test/testutil.h) and never exit. */
#ifndef PB_CUDA_TWIN_H
#define PB_CUDA_TWIN_H

#include <stddef.h>

#include "kernels/ops_cuda.h"

/* Returns when at least one GPU is usable; otherwise prints "skipped: no GPU (<why>)" to
 * stdout and exits 77, which ctest reports as skipped (SKIP_RETURN_CODE). Call first in main. */
void pb_twin_require_gpu(void);

/* pb_cuda_env_init on GPU 0 with the given workspace bytes and flags; on failure prints
 * "FAIL: env init: <message>" and exits 1. Free with pb_cuda_env_free. */
void pb_twin_env(pb_cuda_env *env, size_t workspace, int deterministic, int tf32);

/* A fresh device buffer of bytes (a real, unique pointer even for 0), contents undefined.
 * Caller frees with pb_cuda_free. Out of memory: prints the message and exits 1. */
void *pb_twin_alloc(size_t bytes);

/* A fresh device buffer holding a copy of host[bytes], enqueued on env->stream (pageable
 * host memory may be reused on return: the driver has staged it; pinned memory only once
 * the stream has passed the copy). Ownership and failure as pb_twin_alloc.
 * pb_twin_fromf: n floats. */
void *pb_twin_from(const void *host, size_t bytes, const pb_cuda_env *env);
float *pb_twin_fromf(const float *host, size_t n, const pb_cuda_env *env);

/* A fresh host (malloc) copy of dev[bytes], taken after everything already enqueued on
 * env->stream has finished (at least 1 byte is allocated, so 0 gives a valid pointer).
 * Caller frees with free; host exhaustion aborts. pb_twin_hostf: n floats. */
void *pb_twin_host(const void *dev, size_t bytes, const pb_cuda_env *env);
float *pb_twin_hostf(const float *dev, size_t n, const pb_cuda_env *env);

/* Number of elements of a[n] and b[n] whose bits differ (a NaN differs from a NaN with
 * another payload). */
size_t pb_twin_diff_bits(const float *a, const float *b, size_t n);

/* As pb_twin_diff_bits, but a NaN matches any NaN (the GPU writes the canonical NaN for
 * arithmetic on a NaN, x86 keeps the operand's payload, and no consumer reads payloads).
 * *first (if non-NULL) receives the index of the first mismatch, 0 when there is none. */
size_t pb_twin_diff_bits_nan(const float *a, const float *b, size_t n, size_t *first);

/* max |a[i]| (0 for n == 0). */
double pb_twin_max_abs(const float *a, size_t n);

/* Checks the device array d_got[n] against the host reference ref[n] BITWISE, a NaN matching
 * any NaN (pb_twin_diff_bits_nan); one failed check naming what, n and the first mismatch.
 * Returns the max abs error with NaN pairs left out (NaN if one side alone is NaN). */
double pb_twin_check_bits(const char *what, const float *d_got, const float *ref, size_t n,
                          const pb_cuda_env *env);

/* Checks the device array d_got[n] against ref[n] with |got - ref| <= atol + rtol*|ref|
 * (pb_test_allclose prints the worst element); one failed check when any is out. Returns
 * the max abs error. */
double pb_twin_check_close(const char *what, const float *d_got, const float *ref, size_t n, double atol,
                           double rtol, const pb_cuda_env *env);

/* The tolerance of the GEMM-like twins (convolution, linear), host arrays: with
 * M = max(1, max |ref|), fp32 (tf32 0) atol 1e-4 M, rtol 1e-4; TF32 (tf32 1) atol 5e-3 M,
 * rtol 5e-3 (justified in test_cuda_conv.c). One failed check when any element is out;
 * returns the max abs error. */
double pb_twin_check_gemm(const char *what, const float *got, const float *ref, size_t n, int tf32);

#endif
