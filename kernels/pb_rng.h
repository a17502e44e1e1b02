/* pb_rng.h: counter-based random numbers (Philox-4x32-10, Salmon et al. SC'11).
 *
 * Every random draw in plumb is a pure function of (key, counter): the key is a per-purpose
 * seed (init, data order, augmentation, dropout), the counter the draw's index. So results
 * never depend on thread counts or on the order work is done, and the same header serves
 * the CPU and CUDA (the functions are host+device inline). */
#ifndef PB_RNG_H
#define PB_RNG_H

#include <stdint.h>

#ifdef __CUDACC__
#define PB_HD __host__ __device__ __forceinline__
#else
#define PB_HD static inline
#endif

typedef struct { uint32_t v[4]; } pb_u32x4;

PB_HD pb_u32x4 pb_philox4x32(uint64_t key, uint64_t ctr_hi, uint64_t ctr_lo) {
  uint32_t c0 = (uint32_t)ctr_lo, c1 = (uint32_t)(ctr_lo >> 32);
  uint32_t c2 = (uint32_t)ctr_hi, c3 = (uint32_t)(ctr_hi >> 32);
  uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
  for (int r = 0; r < 10; r++) {
    uint64_t p0 = (uint64_t)0xD2511F53u * c0;
    uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
    uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    c1 = (uint32_t)p1;
    c3 = (uint32_t)p0;
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  pb_u32x4 out = {{c0, c1, c2, c3}};
  return out;
}

/* 64 random bits for draw `ctr` of stream (key, stream). */
PB_HD uint64_t pb_rng_u64(uint64_t key, uint64_t stream, uint64_t ctr) {
  pb_u32x4 r = pb_philox4x32(key, stream, ctr);
  return ((uint64_t)r.v[0] << 32) | r.v[1];
}

/* Uniform float in [0, 1) with 24 random bits. */
PB_HD float pb_rng_uniform(uint64_t key, uint64_t stream, uint64_t ctr) {
  return (float)(pb_rng_u64(key, stream, ctr) >> 40) * (1.0f / 16777216.0f);
}

/* Uniform double in [0, 1) with 53 random bits. */
PB_HD double pb_rng_uniform_f64(uint64_t key, uint64_t stream, uint64_t ctr) {
  return (double)(pb_rng_u64(key, stream, ctr) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform integer in [0, n), n > 0 (multiply-shift; bias below 2^-32 for n < 2^32). */
PB_HD uint64_t pb_rng_below(uint64_t key, uint64_t stream, uint64_t ctr, uint64_t n) {
  uint64_t x = pb_rng_u64(key, stream, ctr) >> 32;
  return (x * n) >> 32;
}

/* Purposes: the stream high word, so streams of different purposes never overlap. */
enum {
  PB_RNG_INIT = 1,     /* parameter initialisation */
  PB_RNG_ORDER = 2,    /* data order per epoch */
  PB_RNG_AUGMENT = 3,  /* per-sample augmentation */
  PB_RNG_DROPOUT = 4,  /* dropout masks */
  PB_RNG_DATA = 5,     /* dataset generation: bias injection, splits */
  PB_RNG_SWEEP = 6,    /* plumb sweep: random-search trials (engine/sweep/expand.c) */
};
#define PB_RNG_STREAM(purpose, index) (((uint64_t)(purpose) << 56) | ((uint64_t)(index) & 0x00FFFFFFFFFFFFFFull))

#endif
