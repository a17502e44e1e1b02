/* test_bn_fused.c: the fused evaluation batch norm (kernels/cpu/bn_fused.c), y = act(bn_eval(x)
 * + r), that inference runs in ResNets: BN + ReLU after a convolution, BN + residual add + ReLU
 * at the end of a block, plain BN in place.
 *
 * Exactness: BITWISE against the unfused chain it replaces (pb_bn_fwd_eval_cpu, then
 * pb_accumulate_cpu(y, r), then pb_relu_fwd_cpu), which the golden test holds to PyTorch. Every
 * combination of residual and ReLU, out of place, in place over x and in place over r, with
 * 1 and 3 threads; inputs hold -0, a NaN, +-1e30 and a near-constant channel (a large invstd);
 * shapes: BatchNorm1d (hw 1), one channel, a 7x7 and a 56x56 plane. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "test/testutil.h"

static void one_case(int n, int c, int hw, uint64_t seed) {
  pb_bn_params p = {n, c, hw, 1e-5f, 0.1f, 0};
  const size_t cnt = (size_t)n * c * hw;
  float *x = malloc(cnt * sizeof(float)), *r = malloc(cnt * sizeof(float)), *ref = malloc(cnt * sizeof(float));
  float *y = malloc(cnt * sizeof(float)), *io = malloc(cnt * sizeof(float));
  float *g = malloc((size_t)c * sizeof(float)), *b = malloc((size_t)c * sizeof(float));
  float *m = malloc((size_t)c * sizeof(float)), *v = malloc((size_t)c * sizeof(float));
  pb_test_fill_uniform(x, cnt, -3, 3, seed), pb_test_fill_uniform(r, cnt, -2, 2, seed + 1);
  pb_test_fill_uniform(g, (size_t)c, -1.5f, 1.5f, seed + 2), pb_test_fill_uniform(b, (size_t)c, -1, 1, seed + 3);
  pb_test_fill_uniform(m, (size_t)c, -0.5f, 0.5f, seed + 4), pb_test_fill_uniform(v, (size_t)c, 0.01f, 4, seed + 5);
  v[0] = 1e-9f; /* near-constant channel 0: invstd ~ 316 */
  const float specials[] = {-0.0f, NAN, 1e30f, -1e30f};
  for (size_t s = 0; s < 4 && 5 * s + 3 < cnt; s++) x[5 * s + 3] = specials[s];
  if (cnt > 7) r[7] = -0.0f;
  for (int with_r = 0; with_r < 2; with_r++)
    for (int relu = 0; relu < 2; relu++)
      for (int nt = 1; nt <= 3; nt += 2) {
        const float *rr = with_r ? r : NULL;
        pb_bn_fwd_eval_cpu(ref, x, g, b, m, v, &p, 1);
        if (rr) pb_accumulate_cpu(ref, rr, cnt);
        if (relu) pb_relu_fwd_cpu(ref, ref, cnt);
        char what[128];
        snprintf(what, sizeof what, "%dx%dx%d residual %d relu %d threads %d", n, c, hw, with_r, relu, nt);
        memset(y, 0xff, cnt * sizeof(float));
        pb_bn_eval_fused_cpu(y, x, rr, g, b, m, v, relu, &p, nt);
        PB_CHECK_MSG(!memcmp(y, ref, cnt * sizeof(float)), "%s: not bitwise the unfused chain", what);
        memcpy(io, x, cnt * sizeof(float)); /* in place over x */
        pb_bn_eval_fused_cpu(io, io, rr, g, b, m, v, relu, &p, nt);
        PB_CHECK_MSG(!memcmp(io, ref, cnt * sizeof(float)), "%s: in place over x differs", what);
        if (rr) {
          memcpy(io, r, cnt * sizeof(float)); /* in place over the residual */
          pb_bn_eval_fused_cpu(io, x, io, g, b, m, v, relu, &p, nt);
          PB_CHECK_MSG(!memcmp(io, ref, cnt * sizeof(float)), "%s: in place over r differs", what);
        }
      }
  /* the ReLU really clamps and the residual really adds: spot values against double */
  pb_bn_eval_fused_cpu(y, x, r, g, b, m, v, 1, &p, 1);
  size_t checked = 0;
  for (size_t i = 0; i < cnt; i += 11) {
    int ch = (int)((i / (size_t)hw) % (size_t)c);
    if (!isfinite(x[i]) || fabsf(x[i]) > 1e29f) continue;
    double t = ((double)x[i] - m[ch]) * ((double)g[ch] / sqrt((double)v[ch] + 1e-5)) + b[ch] + r[i];
    double want = t < 0 ? 0 : t;
    PB_CHECK_MSG(fabs((double)y[i] - want) <= 1e-5 * (1 + fabs(want)), "%dx%dx%d element %zu: %g, want %g", n, c,
                 hw, i, (double)y[i], want);
    checked++;
  }
  PB_CHECK(checked > 0);
  printf("  %dx%dx%d: 8 variants x 2 thread counts bitwise the unfused chain, in place too; %zu values against "
         "double\n", n, c, hw, checked);
  free(x), free(r), free(ref), free(y), free(io), free(g), free(b), free(m), free(v);
}

int main(void) {
  one_case(5, 3, 1, 1);    /* BatchNorm1d */
  one_case(4, 1, 9, 2);    /* one channel */
  one_case(3, 16, 49, 3);  /* a 7x7 plane */
  one_case(2, 8, 3136, 4); /* 56x56 */
  return pb_test_exit("test_bn_fused");
}
