/* test_cuda_half.c: the twin test of kernels/cuda/half.cu against kernels/cpu/half.c: rounding to
 * bfloat16 / binary16 in place, BITWISE for every non-NaN input (both are round to nearest, ties
 * to even); a NaN must stay a NaN (payload and sign may differ: the device's NaN is canonical).
 * Inputs: every float32 whose upper 16 bits take each of the 65536 values with three lower
 * halves (0, the tie 0x8000, and 0x8001 / 0x7FFF around it), which walks every bf16 rounding
 * case and every fp16 exponent, plus 100003 random bit patterns. Needs a GPU: exits 77 (ctest:
 * skipped) without one. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/half.h"
#include "kernels/ops_cuda.h"
#include "test/cuda_twin.h"
#include "test/testutil.h"

static pb_cuda_env g_env;

static void check_round(const char *what, const float *x, size_t n, int bf16) {
  float *ref = malloc(n * sizeof(float));
  memcpy(ref, x, n * sizeof(float));
  if (bf16)
    pb_round_bf16_cpu(ref, n, 1);
  else
    pb_round_f16_cpu(ref, n, 1);
  float *d = pb_twin_fromf(x, n, &g_env);
  if (bf16)
    pb_round_bf16_cuda(d, n, &g_env);
  else
    pb_round_f16_cuda(d, n, &g_env);
  float *got = pb_twin_hostf(d, n, &g_env);
  size_t bad = 0, first = n;
  for (size_t i = 0; i < n; i++) {
    int ok = isnan(ref[i]) ? isnan(got[i]) : memcmp(&got[i], &ref[i], sizeof(float)) == 0;
    if (!ok && bad++ == 0) first = i;
  }
  if (bad) {
    uint32_t u;
    memcpy(&u, &x[first], sizeof u);
    PB_CHECK_MSG(0, "%s: %zu of %zu differ; first x = %.9g (0x%08X): gpu %.9g, cpu %.9g", what, bad, n, x[first], u,
                 got[first], ref[first]);
  }
  printf("%s: %zu values, bitwise equal (NaNs: NaN)\n", what, n);
  pb_cuda_free(d);
  free(got);
  free(ref);
}

int main(void) {
  pb_twin_require_gpu();
  pb_twin_env(&g_env, (size_t)16 << 20, 0, 0);
  const uint32_t lows[4] = {0x0000, 0x8000, 0x8001, 0x7FFF};
  size_t n = 65536 * 4 + 100003;
  float *x = malloc(n * sizeof(float));
  for (uint32_t hi = 0; hi < 65536; hi++)
    for (int k = 0; k < 4; k++) {
      uint32_t u = hi << 16 | lows[k];
      memcpy(&x[hi * 4 + (uint32_t)k], &u, sizeof u);
    }
  uint64_t s = 0x9E3779B97F4A7C15ull;
  for (size_t i = 65536 * 4; i < n; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    uint32_t u = (uint32_t)(s >> 32);
    memcpy(&x[i], &u, sizeof u);
  }
  check_round("round to bf16", x, n, 1);
  check_round("round to fp16", x, n, 0);
  pb_round_bf16_cuda(NULL, 0, &g_env); /* n == 0: no launch */
  pb_round_f16_cuda(NULL, 0, &g_env);
  pb_cuda_sync(&g_env);
  free(x);
  pb_cuda_env_free(&g_env);
  return pb_test_exit("test_cuda_half");
}
