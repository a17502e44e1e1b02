/* test_half.c: the exact bf16 / fp16 conversions of kernels/pb_half.h and the array ops of
 * kernels/cpu/half.c (kernels/half.h), all checks bit-exact.
 *  1. Goldens (test/fixtures/half_golden.bin from scripts/fixtures/half_golden.py, format in its
 *     docstring): pb_f32_to_bf16 against PyTorch, pb_f32_to_f16 against numpy, over hand-picked
 *     edges (ties both ways, overflow, subnormals) and ~100k random float32. For NaN inputs only
 *     "is NaN" is compared with the goldens (PyTorch gives 0xFFFF for every NaN); pb_half must
 *     return a quiet NaN with the input's sign.
 *  2. Every one of the 65536 bf16 and fp16 bit patterns: to float32 and back gives the same bits
 *     (non-NaN), and the float32 value is the format's definition (sign, exponent, mantissa).
 *  3. The array ops equal the scalar conversions with 1 and 3 threads.
 * Each failing check names its first bad input. */
#include <math.h>
#include <string.h>

#include "kernels/half.h"
#include "kernels/pb_common.h"
#include "test/testutil.h"

static size_t g_checked;

static int bf16_is_nan(uint16_t h) { return (h & 0x7FFF) > 0x7F80; }
static int f16_is_nan(uint16_t h) { return (h & 0x7FFF) > 0x7C00; }

/* Got vs golden for one format; is_nan and quiet say what a NaN and its quiet bit are there. */
static void check_golden(const char *fmt, const float *x, const uint16_t *want, size_t n, size_t n_special,
                         uint16_t (*conv)(float), int (*is_nan)(uint16_t), uint16_t quiet) {
  size_t bad = 0, nan_bad = 0;
  for (size_t i = 0; i < n; i++) {
    const uint16_t got = conv(x[i]);
    const uint32_t xb = pb_f32_bits(x[i]);
    int ok;
    if (isnan(x[i])) {
      /* golden: NaN at all; ours: quiet, input's sign */
      ok = is_nan(want[i]) && is_nan(got) && (got & quiet) && (got >> 15) == (xb >> 31);
      nan_bad += !ok;
    } else {
      ok = got == want[i];
    }
    if (!ok && bad++ == 0)
      fprintf(stderr, "%s: first mismatch at input %zu (%s) x = %.9g (0x%08X): got 0x%04X, golden 0x%04X\n", fmt, i,
              i < n_special ? "special" : "random", (double)x[i], (unsigned)xb, got, want[i]);
  }
  PB_CHECK_MSG(bad == 0, "%s: %zu of %zu inputs differ from the goldens (%zu of them NaN)", fmt, bad, n, nan_bad);
  g_checked += n;
}

static void test_goldens(void) {
  const char *path = pb_test_fixture("half_golden.bin");
  FILE *f = fopen(path, "rb");
  PB_CHECK_MSG(f != NULL, "cannot open %s", path);
  if (!f) return;
  char magic[8];
  uint32_t hdr[2];
  int ok = fread(magic, 1, 8, f) == 8 && memcmp(magic, "PBHALF1", 8) == 0 && fread(hdr, 4, 2, f) == 2 &&
           hdr[0] > 0 && hdr[1] <= hdr[0];
  PB_CHECK_MSG(ok, "%s: bad header", path);
  if (!ok) {
    fclose(f);
    return;
  }
  const size_t n = hdr[0], n_special = hdr[1];
  float *x = pb_xmalloc(n * sizeof *x);
  uint16_t *bf = pb_xmalloc(n * sizeof *bf), *f16 = pb_xmalloc(n * sizeof *f16);
  ok = fread(x, sizeof *x, n, f) == n && fread(bf, sizeof *bf, n, f) == n && fread(f16, sizeof *f16, n, f) == n &&
       fgetc(f) == EOF;
  fclose(f);
  PB_CHECK_MSG(ok, "%s: truncated or trailing bytes (n = %zu)", path, n);
  if (ok) {
    check_golden("bf16 vs PyTorch", x, bf, n, n_special, pb_f32_to_bf16, bf16_is_nan, 0x0040);
    check_golden("fp16 vs numpy", x, f16, n, n_special, pb_f32_to_f16, f16_is_nan, 0x0200);
    printf("goldens: %zu inputs (%zu hand-picked), bf16 and fp16\n", n, n_special);
  }
  free(x);
  free(bf);
  free(f16);
}

/* The fp16 value of h from its definition, in double (exact), for the 65536 sweep. */
static double f16_value(uint16_t h) {
  const int e = (h >> 10) & 0x1F, m = h & 0x3FF;
  const double s = (h & 0x8000) ? -1.0 : 1.0;
  if (e == 0x1F) return m ? NAN : s * INFINITY;
  return e ? s * ldexp(1024 + m, e - 25) : s * ldexp(m, -24);
}

static void test_all_patterns(void) {
  size_t bad_bf = 0, bad_16 = 0;
  for (uint32_t i = 0; i < 65536; i++) {
    const uint16_t h = (uint16_t)i;
    /* bf16: the float32 with these top bits, and back */
    const float vb = pb_bf16_to_f32(h);
    int ok = pb_f32_bits(vb) == (uint32_t)h << 16 &&
             (bf16_is_nan(h) ? isnan(vb) && pb_f32_to_bf16(vb) == (h | 0x0040) : pb_f32_to_bf16(vb) == h);
    if (!ok && bad_bf++ == 0)
      fprintf(stderr, "bf16 pattern 0x%04X: f32 0x%08X, back 0x%04X\n", h, (unsigned)pb_f32_bits(vb),
              pb_f32_to_bf16(vb));
    /* fp16: the defined value, and back; NaN keeps its sign, payload and quiet bit */
    const float vh = pb_f16_to_f32(h);
    const double want = f16_value(h);
    if (f16_is_nan(h))
      ok = isnan(vh) && (pb_f32_bits(vh) >> 31) == (uint32_t)(h >> 15) &&
           pb_f32_to_f16(vh) == (h | 0x0200) && isnan(pb_round_f16(vh));
    else
      ok = (double)vh == want && !signbit(vh) == !signbit(want) && pb_f32_to_f16(vh) == h &&
           pb_f32_bits(pb_round_f16(vh)) == pb_f32_bits(vh);
    if (!ok && bad_16++ == 0)
      fprintf(stderr, "fp16 pattern 0x%04X: f32 %.9g (0x%08X), want %.9g, back 0x%04X\n", h, (double)vh,
              (unsigned)pb_f32_bits(vh), want, pb_f32_to_f16(vh));
  }
  PB_CHECK_MSG(bad_bf == 0, "bf16: %zu of 65536 bit patterns do not round-trip", bad_bf);
  PB_CHECK_MSG(bad_16 == 0, "fp16: %zu of 65536 bit patterns do not round-trip", bad_16);
  g_checked += 2 * 65536;
  printf("bit patterns: 65536 bf16 + 65536 fp16 round-trip\n");
}

/* Arrays (in place and between buffers) equal the scalar functions, bit for bit. */
static void test_arrays(void) {
  enum { N = 10007 };
  float *x = pb_xmalloc(N * sizeof *x), *y = pb_xmalloc(N * sizeof *y), *back = pb_xmalloc(N * sizeof *back);
  uint16_t *h = pb_xmalloc(N * sizeof *h);
  pb_test_fill_uniform(x, N, -70000.0f, 70000.0f, 11);
  for (size_t i = 0; i < N; i += 7) x[i] *= 1e-9f;   /* fp16 subnormals and zeros */
  for (size_t i = 3; i < N; i += 97) x[i] = NAN;
  x[1] = -INFINITY;
  pb_f32_to_bf16_array(NULL, NULL, 0, 3); /* n = 0: no access */
  const int threads[2] = {1, 3};
  for (int t = 0; t < 2; t++) {
    const int nt = threads[t];
    size_t bad[6] = {0};
    size_t first[6] = {0};
    for (int f = 0; f < 2; f++) { /* f = 0: bf16, 1: fp16 */
      memcpy(y, x, N * sizeof *x);
      if (f == 0) {
        pb_round_bf16_cpu(y, N, nt);
        pb_f32_to_bf16_array(h, x, N, nt);
        pb_bf16_to_f32_array(back, h, N, nt);
      } else {
        pb_round_f16_cpu(y, N, nt);
        pb_f32_to_f16_array(h, x, N, nt);
        pb_f16_to_f32_array(back, h, N, nt);
      }
      for (size_t i = 0; i < N; i++) {
        const uint16_t s = f ? pb_f32_to_f16(x[i]) : pb_f32_to_bf16(x[i]);
        const float r = f ? pb_round_f16(x[i]) : pb_round_bf16(x[i]);
        const int b[3] = {pb_f32_bits(y[i]) != pb_f32_bits(r), h[i] != s, pb_f32_bits(back[i]) != pb_f32_bits(r)};
        for (int k = 0; k < 3; k++)
          if (b[k] && bad[3 * f + k]++ == 0) first[3 * f + k] = i;
      }
    }
    static const char *what[6] = {"pb_round_bf16_cpu",    "pb_f32_to_bf16_array", "pb_bf16_to_f32_array",
                                  "pb_round_f16_cpu",     "pb_f32_to_f16_array",  "pb_f16_to_f32_array"};
    for (int k = 0; k < 6; k++)
      PB_CHECK_MSG(bad[k] == 0, "%s, %d threads: %zu of %d differ from the scalar function, first x[%zu] = %.9g",
                   what[k], nt, bad[k], N, first[k], (double)x[first[k]]);
    g_checked += 6 * (size_t)N;
  }
  printf("arrays: 6 ops x %d values x threads 1 and 3\n", N);
  free(x);
  free(y);
  free(back);
  free(h);
}

int main(void) {
  test_goldens();
  test_all_patterns();
  test_arrays();
  printf("test_half: %zu values checked\n", g_checked);
  return pb_test_exit("test_half");
}
