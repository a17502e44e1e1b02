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
#include "loaders/biasamp.h"

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

static void invert_sample(pb_dataset *d, int i) {
  size_t per = (size_t)d->c * d->h * d->w;
  uint8_t *px = d->images + (size_t)i * per;
  for (size_t j = 0; j < per; j++) px[j] = (uint8_t)(255 - px[j]);
}

void pb_bias_inversion_lists(pb_dataset *d, const uint8_t in0[10], const uint8_t *b, int t0, int t1) {
  PB_ASSERT(d->kind == PB_DATA_U8 && d->images && d->labels);
  d->groups = pb_xmalloc((size_t)(d->n > 0 ? d->n : 1) * sizeof(int32_t));
  d->aligned = pb_xmalloc((size_t)(d->n > 0 ? d->n : 1));
  for (int i = 0; i < d->n; i++) {
    int s0 = in0[d->labels[i] % 10];
    int inv = b[i] < (s0 ? t0 : t1);
    d->groups[i] = inv;
    d->aligned[i] = (uint8_t)(s0 ? inv : !inv);
    if (inv) invert_sample(d, i);
  }
}

void pb_bias_superclass_labels(pb_dataset *d, const uint8_t in0[10]) {
  for (int i = 0; i < d->n; i++) d->labels[i] = in0[d->labels[i] % 10] ? 0 : 1;
  d->num_classes = 2;
}

/* The released lists of both splits (pb_bias_inject with lists_dir). */
static int inversion_released(const pb_bias_params *b, const uint8_t in0[10], double test_eps, pb_dataset *train,
                              pb_dataset *test, pb_err *err) {
  int t[2][2];
  if (pb_biasamp_threshold(b->eps, 1, &t[0][0], err) || pb_biasamp_threshold(b->eps, 0, &t[0][1], err) ||
      pb_biasamp_threshold(test_eps, 1, &t[1][0], err) || pb_biasamp_threshold(test_eps, 0, &t[1][1], err))
    return PB_ERR;
  uint8_t *lists[2] = {NULL, NULL};
  pb_dataset *ds[2] = {train, test};
  for (int s = 0; s < 2; s++) {
    int n = 0;
    if (pb_biasamp_lists(b->lists_dir, b->class_assignment, s + 1, &lists[s], &n, err)) goto fail;
    if (n < ds[s]->n) {
      pb_err_set(err, "[data] inversion_lists = %s: the %s list has %d samples but the %s set %d", b->lists_dir,
                 s ? "test" : "train", n, s ? "test" : "train", ds[s]->n);
      goto fail;
    }
  }
  for (int s = 0; s < 2; s++) pb_bias_inversion_lists(ds[s], in0, lists[s], t[s][0], t[s][1]);
  free(lists[0]);
  free(lists[1]);
  return PB_OK;
fail:
  free(lists[0]);
  free(lists[1]);
  return PB_ERR;
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
  if (b->superclass_task && b->kind != PB_BIAS_INVERSION)
    return pb_err_set(err, "[data] task = superclass needs bias = inversion (the super-classes are its split)");
  if (b->kind == PB_BIAS_INVERSION) {
    uint8_t in0[10];
    const char *file = b->assignment_file ? b->assignment_file : "";
    const char *lists = b->lists_dir ? b->lists_dir : "";
    if (file[0]) {
      if (pb_biasamp_assignment(file, b->class_assignment, in0, err))
        return pb_err_prefix(err, "[data] class_assignment_file");
    } else if (pb_bias_superclasses(b->class_assignment, in0)) {
      return pb_err_set(err, "[data] class_assignment must be below 252 (the number of 5/5 splits of 10 classes)");
    }
    double test_eps = tb == PB_TEST_BIAS_UNBIASED ? 0 : tb == PB_TEST_BIAS_BIASED ? 50 : b->eps;
    if (lists[0]) {
      if (!file[0])
        return pb_err_set(err, "[data] inversion_lists = %s: the released lists belong to the released assignments: "
                               "set [data] class_assignment_file (data/biasamp/class_assignments.csv)",
                          lists);
      if (inversion_released(b, in0, test_eps, train, test, err)) return PB_ERR;
    } else {
      pb_bias_inversion(train, in0, b->eps, seed, 1);
      pb_bias_inversion(test, in0, test_eps, seed, 2);
    }
    if (b->superclass_task) {
      pb_bias_superclass_labels(train, in0);
      pb_bias_superclass_labels(test, in0);
    }
  } else if (b->kind == PB_BIAS_COLOUR) {
    pb_bias_colour(train, b->rho, seed, 1);
    pb_bias_colour(test, tb == PB_TEST_BIAS_BIASED ? 1.0 : 0.1, seed, 2);
  }
  return PB_OK;
}
