/* half.h: mixed-precision array conversions on the CPU (kernels/cpu/half.c), built on the exact
 * scalar conversions of kernels/pb_half.h (round to nearest, ties to even; NaN stays a quiet NaN
 * with its sign; see there for overflow and subnormals). Their CUDA twins will round with
 * __float2bfloat16 / __float2half, which give the same bits.
 *
 * All take n elements (n = 0: nothing, pointers not read) and parallelise with OpenMP over at
 * most nthreads threads (< 1 means 1); each element is converted on its own, so the result does
 * not depend on nthreads. None can fail. Buffers must not overlap, except x in the in-place ops. */
#ifndef PB_HALF_ARRAYS_H
#define PB_HALF_ARRAYS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/pb_half.h"

/* x[i] = pb_round_bf16(x[i]) / pb_round_f16(x[i]), in place: x [n] float32. */
void pb_round_bf16_cpu(float *x, size_t n, int nthreads);
void pb_round_f16_cpu(float *x, size_t n, int nthreads);

/* dst [n] uint16 bits <- src [n] float32 (rounded), and back (exact). */
void pb_f32_to_bf16_array(uint16_t *dst, const float *src, size_t n, int nthreads);
void pb_bf16_to_f32_array(float *dst, const uint16_t *src, size_t n, int nthreads);
void pb_f32_to_f16_array(uint16_t *dst, const float *src, size_t n, int nthreads);
void pb_f16_to_f32_array(float *dst, const uint16_t *src, size_t n, int nthreads);

#endif
