/* bias.c: bias injection, inversion and colour (bias.h). The random streams (PB_RNG_DATA,
 * per split and class) are part of every recorded result: changing them changes the data.
 * Streams: inversion `split` (1, 2); colour, the class's member shuffle 16 + 16 split + class
 * (32..41, 48..57) and the shuffle of its other colours 256 + 16 split + class (272..281,
 * 288..297). */
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

/* Seeded Fisher-Yates shuffle of v[m] on one stream (draw i for position i). */
static void shuffle(int *v, int m, uint64_t seed, uint64_t stream) {
  for (int i = m - 1; i > 0; i--) {
    int j = (int)pb_rng_below(seed, stream, (uint64_t)i, (uint64_t)i + 1);
    int t = v[i];
    v[i] = v[j];
    v[j] = t;
  }
}

void pb_bias_colour_class(int32_t *colour, int *order, int m, int cls, double rho, uint64_t seed, int split) {
  int *ord = order ? order : pb_xmalloc((size_t)(m > 0 ? m : 1) * sizeof(int));
  for (int k = 0; k < m; k++) ord[k] = k;
  shuffle(ord, m, seed, PB_RNG_STREAM(PB_RNG_DATA, 16 + split * 16 + cls));
  /* Python's int(n_samples * rho): the same double product, truncated */
  int aligned = (int)((double)m * rho);
  if (aligned > m) aligned = m;
  int rest = m - aligned, chunk = (rest + 8) / 9; /* int(np.ceil(rest / 9)) */
  int others[9];
  for (int i = 0; i < 9; i++) others[i] = (cls + 1 + i) % 10;
  shuffle(others, 9, seed, PB_RNG_STREAM(PB_RNG_DATA, 256 + split * 16 + cls));
  for (int r = 0; r < m; r++) colour[ord[r]] = r < aligned ? cls : others[(r - aligned) / chunk];
  if (!order) free(ord);
}

void pb_bias_colour(pb_dataset *d, double rho, uint64_t seed, int split) {
  PB_ASSERT(d->kind == PB_DATA_U8 && d->c == 1 && d->images && d->labels);
  size_t hw = (size_t)d->h * d->w;
  uint8_t *rgb = pb_xmalloc((size_t)d->n * 3 * hw);
  d->groups = pb_xmalloc((size_t)d->n * sizeof(int32_t));
  d->aligned = pb_xmalloc((size_t)d->n);
  int *members = pb_xmalloc((size_t)d->n * sizeof(int));
  int32_t *col = pb_xmalloc((size_t)d->n * sizeof(int32_t));
  for (int cls = 0; cls < 10; cls++) {
    int m = 0;
    for (int i = 0; i < d->n; i++)
      if (d->labels[i] % 10 == cls) members[m++] = i;
    pb_bias_colour_class(col, NULL, m, cls, rho, seed, split);
    for (int k = 0; k < m; k++) {
      d->groups[members[k]] = col[k];
      d->aligned[members[k]] = col[k] == cls;
    }
  }
  free(members);
  free(col);
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
