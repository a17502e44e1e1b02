/* pb_half.h: exact float32 <-> bfloat16 / IEEE binary16 (fp16) conversions, scalar and
 * static inline, for the CPU reference of mixed precision ([run] precision = bf16 | fp16).
 * The GPU kernels round the same values with __float2bfloat16 / __float2half (round to nearest,
 * ties to even), so a CPU reference that rounds through these gives the same bits.
 *
 * Integer arithmetic only (bit casts through memcpy): the results do not depend on the FPU's
 * rounding mode, on flush-to-zero / denormals-are-zero, or on -ffast-math. Dependency-free C11.
 * Checked bit-exact against PyTorch (bf16) and numpy (fp16) in test/kernels/test_half.c
 * (goldens: scripts/fixtures/half_golden.py -> test/fixtures/half_golden.bin).
 *
 * NaN: both narrowing conversions return a quiet NaN with the input's sign (the top mantissa
 * bit set, the rest of the payload truncated). PyTorch's vectorised CPU path returns 0xFFFF for
 * every NaN and its scalar path 0x7FC0, so only "is NaN" is comparable with it. */
#ifndef PB_HALF_H
#define PB_HALF_H

#include <stdint.h>
#include <string.h>

static inline uint32_t pb_f32_bits(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}

static inline float pb_bits_f32(uint32_t u) {
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* float32 -> bfloat16 bits, round to nearest, ties to even. Values at or past the midpoint
 * between the largest bf16 (0x7F7F, ~3.3895e38) and 2^128 become +-inf, as in PyTorch; float32
 * subnormals round like any other value (no flush). NaN -> quiet NaN, sign kept. */
static inline uint16_t pb_f32_to_bf16(float x) {
  uint32_t u = pb_f32_bits(x);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x0040u);
  /* Adding 0x7FFF (+1 when the kept lsb is odd) carries into bit 16 exactly when the dropped
   * half is above the midpoint, or at it with an odd lsb. A carry out of the mantissa bumps the
   * exponent, which is the right result (up to 0x7F80 = inf); inf itself does not carry. */
  u += 0x7FFFu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

/* bfloat16 bits -> float32, exact (every bf16 is a float32). */
static inline float pb_bf16_to_f32(uint16_t h) { return pb_bits_f32((uint32_t)h << 16); }

/* float32 -> IEEE binary16 bits, round to nearest, ties to even, with gradual underflow:
 * |x| >= 65520 (the midpoint of 65504 and 2^16) -> +-inf; |x| <= 2^-25 -> +-0 (2^-25 is the tie
 * between 0 and the smallest subnormal 2^-24, and 0 is even); values just under 2^-14 may round
 * up into the smallest normal (0x0400). NaN -> quiet NaN, sign kept, top payload bits kept. */
static inline uint16_t pb_f32_to_f16(float x) {
  const uint32_t u = pb_f32_bits(x);
  const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return (uint16_t)(sign | 0x7E00u | ((a >> 13) & 0x03FFu));
  if (a >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u); /* 65520 and up, inf */
  if (a >= 0x38800000u) {                                   /* 2^-14 and up: normal */
    /* Rebias the exponent (127 -> 15: minus 112 << 23), then round off 13 bits as in bf16.
     * The carry may bump the exponent; it cannot reach 0x7C00 below 65520. */
    uint32_t r = a - 0x38000000u;
    r += 0x0FFFu + ((r >> 13) & 1u);
    return (uint16_t)(sign | (r >> 13));
  }
  if (a <= 0x33000000u) return sign; /* <= 2^-25, float32 subnormals included */
  /* Subnormal result: |x| = m * 2^(e - 150) with the implicit bit in m, e in [102, 112];
   * in units of 2^-24 that is m >> (126 - e), shift in [14, 24], rounded to nearest even.
   * q may reach 0x400, the smallest normal's bit pattern, which is the right result. */
  const uint32_t e = a >> 23, m = (a & 0x007FFFFFu) | 0x00800000u, shift = 126u - e;
  uint32_t q = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (q & 1u))) q++;
  return (uint16_t)(sign | q);
}

/* IEEE binary16 bits -> float32, exact: subnormals (normalised in integers, so no FTZ can touch
 * them), +-inf, NaN with its payload (a signalling fp16 NaN stays signalling). */
static inline float pb_f16_to_f32(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1Fu;
  uint32_t m = h & 0x03FFu;
  if (e == 0x1Fu) return pb_bits_f32(sign | 0x7F800000u | (m << 13));
  if (e != 0) return pb_bits_f32(sign | ((e + 112u) << 23) | (m << 13));
  if (m == 0) return pb_bits_f32(sign);
  uint32_t k = 0; /* m * 2^-24: shift the leading one up to bit 10, k in [1, 10] */
  while (!(m & 0x0400u)) {
    m <<= 1;
    k++;
  }
  return pb_bits_f32(sign | ((113u - k) << 23) | ((m & 0x03FFu) << 13));
}

/* x rounded to the nearest bf16 / fp16 value (as a float32): what a GPU kernel that stores x in
 * that format and reads it back sees. */
static inline float pb_round_bf16(float x) { return pb_bf16_to_f32(pb_f32_to_bf16(x)); }
static inline float pb_round_f16(float x) { return pb_f16_to_f32(pb_f32_to_f16(x)); }

#endif
