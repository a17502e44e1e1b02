/* test_add_crop.c: the CPU crop add (kernels/cpu/crop_add.c), the residual add of ReBias's
 * BagNet blocks: y = a + b[:, :, :h, :w], db = dy padded with zeros to b's size.
 *
 * Exactness, not finite differences: the op is one float add per element (forward) and a copy
 * (backward), so the reference is computed here independently, from the (n, c, i, j)
 * coordinates of each element of b, and compared BITWISE. The backward is checked as the
 * transpose of the forward's b-part as well: <dy, crop(b)> = <db, b> (sums in double over
 * float products, exact up to double rounding: tolerance 1e-12 relative), and as PyTorch's
 * autograd would give it: every element of b outside the top-left window gets 0 (and -0 in dy
 * stays -0). Cases: no crop (h_in = h), a crop of 1 (BagNet18's layer1.0: 31 -> 30), a crop of
 * 2 in one dimension only, 1x1 outputs, and y aliasing a. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "test/testutil.h"

static void one_case(int n, int c, int h, int w, int h_in, int w_in, uint64_t seed) {
  pb_crop_params p = {n, c, h, w, h_in, w_in, 0};
  const size_t no = (size_t)n * c * h * w, ni = (size_t)n * c * h_in * w_in;
  float *a = malloc(no * sizeof(float)), *b = malloc(ni * sizeof(float)), *y = malloc(no * sizeof(float));
  float *ref = malloc(no * sizeof(float)), *dy = malloc(no * sizeof(float)), *db = malloc(ni * sizeof(float));
  pb_test_fill_uniform(a, no, -2, 2, seed), pb_test_fill_uniform(b, ni, -2, 2, seed + 1);
  pb_test_fill_uniform(dy, no, -1, 1, seed + 2);
  if (no > 1) dy[1] = -0.0f;
  /* reference from b's coordinates: element (s, ch, i, j) of b lands on y's (s, ch, i, j) */
  memcpy(ref, a, no * sizeof(float));
  size_t used = 0;
  for (int s = 0; s < n; s++)
    for (int ch = 0; ch < c; ch++)
      for (int i = 0; i < h_in; i++)
        for (int j = 0; j < w_in; j++) {
          if (i >= h || j >= w) continue;
          size_t yi = (((size_t)s * c + ch) * h + i) * w + j, bi = (((size_t)s * c + ch) * h_in + i) * w_in + j;
          ref[yi] = a[yi] + b[bi];
          used++;
        }
  PB_CHECK(used == no);
  char what[96];
  snprintf(what, sizeof what, "%dx%dx%dx%d from %dx%d", n, c, h, w, h_in, w_in);
  memset(y, 0xff, no * sizeof(float)); /* NaN garbage: the output is overwritten */
  pb_add_crop_fwd_cpu(y, a, b, &p);
  PB_CHECK_MSG(!memcmp(y, ref, no * sizeof(float)), "%s: forward not bitwise the reference", what);
  pb_add_crop_fwd_cpu(a, a, b, &p); /* in place: y aliases a */
  PB_CHECK_MSG(!memcmp(a, ref, no * sizeof(float)), "%s: in-place forward differs", what);

  memset(db, 0xff, ni * sizeof(float));
  pb_add_crop_bwd_cpu(db, dy, &p);
  size_t bad = 0;
  double lhs = 0, rhs = 0;
  for (int s = 0; s < n; s++)
    for (int ch = 0; ch < c; ch++)
      for (int i = 0; i < h_in; i++)
        for (int j = 0; j < w_in; j++) {
          size_t bi = (((size_t)s * c + ch) * h_in + i) * w_in + j;
          float want = 0.0f;
          if (i < h && j < w) {
            size_t yi = (((size_t)s * c + ch) * h + i) * w + j;
            want = dy[yi];
            lhs += (double)dy[yi] * b[bi];
          }
          bad += memcmp(&db[bi], &want, sizeof want) != 0;
          rhs += (double)db[bi] * b[bi];
        }
  PB_CHECK_MSG(bad == 0, "%s: backward: %zu of %zu elements not dy / 0", what, bad, ni);
  PB_CHECK_MSG(fabs(lhs - rhs) <= 1e-12 * (fabs(lhs) + 1), "%s: <dy, crop(b)> %.17g != <db, b> %.17g", what, lhs, rhs);
  printf("  %-26s forward and backward bitwise; adjoint %.3g vs %.3g\n", what, lhs, rhs);
  free(a), free(b), free(y), free(ref), free(dy), free(db);
}

int main(void) {
  one_case(2, 3, 5, 5, 5, 5, 1);     /* no crop: a plain add */
  one_case(2, 4, 30, 30, 31, 31, 2); /* bagnet18 layer1.0 at 64x64 input */
  one_case(3, 2, 4, 6, 6, 6, 3);     /* crop in one dimension only */
  one_case(1, 5, 1, 1, 3, 2, 4);     /* 1x1 output */
  one_case(2, 1, 7, 3, 9, 8, 5);
  return pb_test_exit("test_add_crop");
}
