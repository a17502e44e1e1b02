/* bias.c: bias injection, inversion and colour (bias.h). The random streams (PB_RNG_DATA,
 * per split and class) are part of every recorded result: changing them changes the data. */
#include "loaders/bias.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pb_rng.h"

static const uint8_t colour_table[10][3] = {{255, 0, 0},   {0, 255, 0},   {0, 0, 255},   {225, 225, 0},
                                            {225, 0, 225}, {0, 255, 255}, {255, 128, 0}, {255, 0, 128},
                                            {128, 0, 255}, {128, 128, 128}};

int pb_bias_superclasses(int k, uint8_t in0[10]) {
  int count = 0, a[5];
  for (a[0] = 0; a[0] < 10; a[0]++)
    for (a[1] = a[0] + 1; a[1] < 10; a[1]++)
      for (a[2] = a[1] + 1; a[2] < 10; a[2]++)
        for (a[3] = a[2] + 1; a[3] < 10; a[3]++)
          for (a[4] = a[3] + 1; a[4] < 10; a[4]++) {
            if (count++ == k) {
              memset(in0, 0, 10);
              for (int j = 0; j < 5; j++) in0[a[j]] = 1;
              return PB_OK;
            }
          }
  return PB_ERR;
}

void pb_bias_inversion(pb_dataset *d, const uint8_t in0[10], double eps, uint64_t seed, int split) {
  PB_ASSERT(d->kind == PB_DATA_U8 && d->images && d->labels);
  size_t per = (size_t)d->c * d->h * d->w;
  d->groups = pb_xmalloc((size_t)d->n * sizeof(int32_t));
  d->aligned = pb_xmalloc((size_t)d->n);
  for (int i = 0; i < d->n; i++) {
    int s0 = in0[d->labels[i] % 10];
    double p = s0 ? 0.5 + 0.01 * eps : 0.5 - 0.01 * eps;
    int inv = pb_rng_uniform_f64(seed, PB_RNG_STREAM(PB_RNG_DATA, split), (uint64_t)i) < p;
    d->groups[i] = inv;
    d->aligned[i] = (uint8_t)(s0 ? inv : !inv);
    if (inv) {
      uint8_t *px = d->images + (size_t)i * per;
      for (size_t j = 0; j < per; j++) px[j] = (uint8_t)(255 - px[j]);
    }
  }
}

void pb_bias_colour(pb_dataset *d, double rho, uint64_t seed, int split) {
  PB_ASSERT(d->kind == PB_DATA_U8 && d->c == 1 && d->images && d->labels);
  size_t hw = (size_t)d->h * d->w;
  uint8_t *rgb = pb_xmalloc((size_t)d->n * 3 * hw);
  d->groups = pb_xmalloc((size_t)d->n * sizeof(int32_t));
  d->aligned = pb_xmalloc((size_t)d->n);
  int *members = pb_xmalloc((size_t)d->n * sizeof(int));
  for (int cls = 0; cls < 10; cls++) {
    int m = 0;
    for (int i = 0; i < d->n; i++)
      if (d->labels[i] % 10 == cls) members[m++] = i;
    /* Seeded Fisher-Yates shuffle of the class's samples. */
    for (int i = m - 1; i > 0; i--) {
      int j = (int)pb_rng_below(seed, PB_RNG_STREAM(PB_RNG_DATA, 16 + split * 16 + cls), (uint64_t)i, (uint64_t)i + 1);
      int t = members[i];
      members[i] = members[j];
      members[j] = t;
    }
    int biased = (int)lround(m * rho);
    for (int r = 0; r < m; r++) {
      int i = members[r];
      int colour = r < biased ? cls : (cls + 1 + (r - biased) % 9) % 10;
      d->groups[i] = colour;
      d->aligned[i] = colour == cls;
    }
  }
  free(members);
  for (int i = 0; i < d->n; i++) {
    const uint8_t *g = d->images + (size_t)i * hw;
    uint8_t *o = rgb + (size_t)i * 3 * hw;
    const uint8_t *col = colour_table[d->groups[i]];
    for (int ch = 0; ch < 3; ch++)
      for (size_t j = 0; j < hw; j++) o[ch * hw + j] = g[j] ? 255 : col[ch];
  }
  free(d->images);
  d->images = rgb;
  d->c = 3;
}

int pb_bias_inject(const pb_bias_params *b, uint64_t seed, pb_dataset *train, pb_dataset *test, pb_err *err) {
  int tb = b->test_bias;
  if (b->kind == PB_BIAS_INVERSION) {
    uint8_t in0[10];
    if (pb_bias_superclasses(b->class_assignment, in0))
      return pb_err_set(err, "[data] class_assignment must be below 252 (the number of 5/5 splits of 10 classes)");
    pb_bias_inversion(train, in0, b->eps, seed, 1);
    pb_bias_inversion(test, in0, tb == PB_TEST_BIAS_UNBIASED ? 0 : tb == PB_TEST_BIAS_BIASED ? 50 : b->eps, seed, 2);
  } else if (b->kind == PB_BIAS_COLOUR) {
    pb_bias_colour(train, b->rho, seed, 1);
    pb_bias_colour(test, tb == PB_TEST_BIAS_BIASED ? 1.0 : 0.1, seed, 2);
  }
  return PB_OK;
}
