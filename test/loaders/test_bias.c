/* test_bias.c: the bias-injected datasets of loaders/bias.c, loaded from a config through
 * engine/run/data.h, against the protocols of REFERENCES.md, on Fashion-MNIST ($PLUMB_DATA or
 * the Debian package; exit 77 without it).
 *
 * Colour (ReBias Biased MNIST, datasets/colour_mnist.py as released). The assignment of one class
 * (pb_bias_colour_class) without data, on class sizes of MNIST: exactly int(n rho) samples
 * (Python's truncation: 6742 x 0.997 -> 6721, 100 x 0.29 = 28.999... -> 28) take the class
 * colour, the first int(n rho) of the shuffle; the other r follow in consecutive chunks of
 * ceil(r / 9) (the last shorter), each chunk one colour, distinct, never the class's, from
 * label+1..label+9 mod 10: n 6742 rho 0.997 -> 21 others in 7 chunks of 3 (2 colours get none);
 * rho 0.999 -> 7 chunks of 1 (2 get none); n 5923 rho 0.99 -> 8 chunks of 7 and one of 4; the
 * test set's rho 0.1 (n 1135 -> 113 aligned, 8 chunks of 114 and one of 110; n 980 -> 98 and 9
 * of 98) and rho 1 (all aligned). The same seed gives the same assignment; the shuffles of the
 * other colours differ between classes and seeds (their own stream).
 * On Fashion-MNIST, rho in {0.99, 0.997, 0.999, 0.1 (unbiased), 1.0 (biased)}: per class the
 * colour counts are exactly those (the protocol is exact, so the check is equality, not a
 * sampling bound: aligned int(n rho), the others' counts as a multiset), and each class's
 * colours are pb_bias_colour_class's for its samples in dataset order; every non-zero pixel of
 * the grey image is white (255, 255, 255), every zero pixel the sample's colour; groups and
 * aligned flags agree with the pixels; the test set is rho = 0.1 (or 1 with test_bias =
 * biased).
 * Inversion (bias amplification), eps in {0, 10, 25, 50} x class_assignment in {0, 17, 251}:
 * the realised inverted fraction per super-class and per class lies within 5 binomial sigma
 * of 0.5 +- 0.01 eps (5 sigma: a false alarm about once in 1.7 million checks; eps = 50 is
 * exact: all or none), pixels are 255 - x exactly where groups says so, aligned = inverted
 * in super-class 0 / not inverted in super-class 1, and the super-class split is the k-th
 * 5-subset in lexicographic order.
 * Both: the same seed gives the same bytes, another seed other ones.
 * Sample grids (10 x 10, one row per class, the first 10 training samples of each class) are
 * written as PNGs to the test's tmp folder and their paths printed, for a person to look at. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/run/data.h"
#include "loaders/bias.h"
#include "loaders/dataset.h"
#include "loaders/image.h"
#include "test/testutil.h"

static const char *g_data;
static char g_dir[4096];

static const uint8_t colours[10][3] = {{255, 0, 0},   {0, 255, 0},   {0, 0, 255},   {225, 225, 0},
                                       {225, 0, 225}, {0, 255, 255}, {255, 128, 0}, {255, 0, 128},
                                       {128, 0, 255}, {128, 128, 128}};

static pb_config *config(const char *bias, const char *param, const char *extra) {
  pb_err err = {{0}};
  pb_config *c = pb_config_new();
  char kv[4200];
  snprintf(kv, sizeof kv, "data.dir=%s", g_data);
  PB_ASSERT(pb_config_set(c, kv, &err) == PB_OK);
  snprintf(kv, sizeof kv, "data.bias=%s", bias);
  PB_ASSERT(pb_config_set(c, kv, &err) == PB_OK);
  if (param) PB_ASSERT(pb_config_set(c, param, &err) == PB_OK);
  if (extra) PB_ASSERT(pb_config_set(c, extra, &err) == PB_OK);
  return c;
}

static void load(const char *bias, const char *param, uint64_t seed, const char *extra, pb_dataset *tr,
                 pb_dataset *te) {
  pb_err err = {{0}};
  pb_config *c = config(bias, param, extra);
  pb_dataset va;
  PB_ASSERT(pb_run_load_data(c, seed, tr, &va, te, &err) == PB_OK);
  pb_dataset_free(&va);
  pb_config_free(c);
}

/* 10 x 10 grid, row = class, its first 10 samples; 2-pixel grey gutters. Returns the path. */
static const char *write_grid(const pb_dataset *d, const char *name) {
  static char path[4300];
  snprintf(path, sizeof path, "%s/%s.png", g_dir, name);
  int g = 2, cw = d->w + g, ch = d->h + g, W = 10 * cw + g, H = 10 * ch + g, c = d->c;
  uint8_t *img = pb_xmalloc((size_t)W * H * 3);
  memset(img, 96, (size_t)W * H * 3);
  size_t hw = (size_t)d->h * d->w;
  for (int cls = 0; cls < 10; cls++) {
    int col = 0;
    for (int i = 0; i < d->n && col < 10; i++) {
      if (d->labels[i] != cls) continue;
      const uint8_t *s = d->images + (size_t)i * c * hw;
      for (int y = 0; y < d->h; y++)
        for (int x = 0; x < d->w; x++)
          for (int k = 0; k < 3; k++)
            img[((size_t)(g + cls * ch + y) * W + g + col * cw + x) * 3 + k] = s[(c == 3 ? k : 0) * hw + y * d->w + x];
      col++;
    }
  }
  pb_err err = {{0}};
  PB_CHECK_MSG(pb_image_write_png(path, img, W, H, 3, &err) == PB_OK, "%s", err.msg);
  free(img);
  printf("  sample grid: %s\n", path);
  return path;
}

/* The protocol's counts for a class of m samples at rho: *aligned = int(m rho); want[0..8], the
 * other colours' counts sorted in decreasing order (chunks of ceil(r / 9), the last shorter,
 * then zeros). Returns the chunk size. */
static long protocol(long m, double rho, long *aligned, long want[9]) {
  *aligned = (long)((double)m * rho);
  long r = m - *aligned, chunk = (r + 8) / 9;
  for (int i = 0; i < 9; i++) {
    long left = r - (long)i * chunk;
    want[i] = left <= 0 ? 0 : left < chunk ? left : chunk;
  }
  return chunk;
}

static int desc(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x < y) - (x > y);
}

/* One class assignment (pb_bias_colour_class) against the protocol; want_aligned, want_chunk and
 * want_chunks (the number of non-empty chunks) as computed by hand in the caller. */
static void check_class(int m, int cls, double rho, long want_aligned, long want_chunk, int want_chunks, uint64_t seed,
                        int split) {
  int32_t *col = malloc((size_t)m * sizeof(int32_t)), *col2 = malloc((size_t)m * sizeof(int32_t));
  int *order = malloc((size_t)m * sizeof(int));
  pb_bias_colour_class(col, order, m, cls, rho, seed, split);
  long aligned, want[9];
  long chunk = protocol(m, rho, &aligned, want);
  PB_CHECK_MSG(aligned == want_aligned && chunk == want_chunk, "n %d rho %g: protocol() gives %ld aligned, chunks of %ld",
               m, rho, aligned, chunk);
  /* order is a permutation */
  uint8_t *seen = calloc((size_t)m, 1);
  int perm = 1;
  for (int r = 0; r < m; r++) perm &= order[r] >= 0 && order[r] < m && !seen[order[r]]++;
  PB_CHECK_MSG(perm, "n %d: order is not a permutation", m);
  /* the first int(m rho) of the shuffle: the class colour; then consecutive chunks */
  long bad = 0, cnt[10] = {0};
  int chunk_col[9], nchunks = 0;
  for (int r = 0; r < m; r++) {
    int c = col[order[r]];
    cnt[c]++;
    if (r < want_aligned) {
      bad += c != cls;
      continue;
    }
    long q = (r - want_aligned) / want_chunk;
    if ((r - want_aligned) % want_chunk == 0) chunk_col[nchunks++] = c; /* a new chunk starts */
    bad += q != nchunks - 1 || c != chunk_col[q] || c == cls;
  }
  PB_CHECK_MSG(bad == 0, "n %d rho %g class %d: %ld samples off the chunk layout", m, rho, cls, bad);
  PB_CHECK_MSG(nchunks == want_chunks, "n %d rho %g: %d chunks, want %d", m, rho, nchunks, want_chunks);
  int distinct = 1;
  for (int i = 0; i < nchunks; i++)
    for (int j = 0; j < i; j++) distinct &= chunk_col[i] != chunk_col[j];
  PB_CHECK_MSG(distinct, "n %d rho %g: a colour got two chunks", m, rho);
  long got[9];
  for (int off = 1; off <= 9; off++) got[off - 1] = cnt[(cls + off) % 10];
  qsort(got, 9, sizeof got[0], desc);
  PB_CHECK_MSG(cnt[cls] == want_aligned && !memcmp(got, want, sizeof want),
               "n %d rho %g: %ld aligned, others %ld %ld %ld %ld %ld %ld %ld %ld %ld", m, rho, cnt[cls], got[0], got[1],
               got[2], got[3], got[4], got[5], got[6], got[7], got[8]);
  /* the same seed: the same assignment */
  pb_bias_colour_class(col2, NULL, m, cls, rho, seed, split);
  PB_CHECK(!memcmp(col, col2, (size_t)m * sizeof(int32_t)));
  printf("  class %d n %d rho %g: %ld aligned, %d chunks of %ld (others: %ld %ld %ld %ld %ld %ld %ld %ld %ld)\n", cls,
         m, rho, cnt[cls], nchunks, want_chunk, got[0], got[1], got[2], got[3], got[4], got[5], got[6], got[7], got[8]);
  free(col), free(col2), free(order), free(seen);
}

/* The order in which a class's other colours receive chunks, at rho 0 (every colour a chunk). */
static void chunk_order(int m, int cls, uint64_t seed, int split, int out[9]) {
  int32_t *col = malloc((size_t)m * sizeof(int32_t));
  int *order = malloc((size_t)m * sizeof(int));
  pb_bias_colour_class(col, order, m, cls, 0.0, seed, split);
  int chunk = (m + 8) / 9;
  for (int i = 0; i < 9; i++) out[i] = col[order[i * chunk]];
  free(col), free(order);
}

static void test_colour_class(void) {
  check_class(6742, 1, 0.997, 6721, 3, 7, 1, 1); /* MNIST's class 1: 21 others, 2 colours none */
  check_class(6742, 1, 0.999, 6735, 1, 7, 1, 1);
  check_class(5923, 0, 0.99, 5863, 7, 9, 1, 1);  /* 5863.77: 60 others, 8 x 7 + 4 */
  check_class(5923, 0, 0.995, 5893, 4, 8, 1, 1); /* 5893.385: 30 others, 7 x 4 + 2 */
  check_class(100, 9, 0.29, 28, 8, 9, 1, 1);     /* 28.999999999999996: truncated, not rounded */
  check_class(1135, 1, 0.1, 113, 114, 9, 1, 2);  /* test set, unbiased: 113.5 -> 113 */
  check_class(980, 0, 0.1, 98, 98, 9, 1, 2);
  check_class(1135, 1, 1.0, 1135, 0, 0, 1, 2);   /* biased: no others, chunks of ceil(0 / 9) = 0 */
  /* the shuffle of the other colours has its own stream: it differs between classes and seeds */
  int a[9], b[9], c[9];
  chunk_order(900, 3, 1, 1, a);
  chunk_order(900, 3, 2, 1, b);
  chunk_order(900, 4, 1, 1, c);
  int same_ab = !memcmp(a, b, sizeof a), shifted = 1;
  for (int i = 0; i < 9; i++) shifted &= c[i] == (a[i] + 1) % 10;
  printf("  other-colour order, class 3 seed 1: %d %d %d %d %d %d %d %d %d; seed 2: %d %d %d %d %d %d %d %d %d\n", a[0],
         a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8]);
  PB_CHECK_MSG(!same_ab && !shifted, "the other colours' shuffle does not depend on the seed and the class");
}

/* Checks d (colour-injected from grey) against the protocol at rho. */
static void check_colour(const pb_dataset *d, const pb_dataset *grey, double rho, uint64_t seed, int split,
                         const char *what) {
  PB_CHECK(d->c == 3 && d->n == grey->n && d->groups && d->aligned);
  size_t hw = (size_t)d->h * d->w;
  long bad_px = 0, bad_flag = 0, total_aligned = 0;
  for (int i = 0; i < d->n; i++) {
    int col = d->groups[i];
    if (col < 0 || col > 9) {
      bad_flag++;
      continue;
    }
    bad_flag += d->aligned[i] != (col == d->labels[i]);
    total_aligned += d->aligned[i];
    const uint8_t *g = grey->images + (size_t)i * hw, *s = d->images + (size_t)i * 3 * hw;
    for (size_t j = 0; j < hw; j++)
      for (int k = 0; k < 3; k++) bad_px += s[k * hw + j] != (g[j] ? 255 : colours[col][k]);
  }
  PB_CHECK_MSG(bad_px == 0 && bad_flag == 0, "%s: %ld wrong pixels, %ld wrong flags", what, bad_px, bad_flag);
  int exact = 1, same = 1;
  long agg[9] = {0}, agg_aligned = 0;
  int32_t *col = malloc((size_t)d->n * sizeof(int32_t)), *ref = malloc((size_t)d->n * sizeof(int32_t));
  for (int cls = 0; cls < 10; cls++) {
    long m = 0, cnt[10] = {0}, aligned, want[9], got[9];
    for (int i = 0; i < d->n; i++)
      if (d->labels[i] == cls) col[m++] = d->groups[i], cnt[d->groups[i]]++;
    protocol(m, rho, &aligned, want);
    for (int off = 1; off <= 9; off++) got[off - 1] = cnt[(cls + off) % 10];
    qsort(got, 9, sizeof got[0], desc);
    if (cnt[cls] != aligned || memcmp(got, want, sizeof want)) {
      exact = 0;
      printf("  %s class %d: %ld of %ld aligned (want int(n rho) = %ld), others %ld %ld %ld .. %ld (want %ld %ld %ld .. %ld)\n",
             what, cls, cnt[cls], m, aligned, got[0], got[1], got[2], got[8], want[0], want[1], want[2], want[8]);
    }
    if (cls == 0) memcpy(agg, got, sizeof agg), agg_aligned = cnt[cls];
    pb_bias_colour_class(ref, NULL, (int)m, cls, rho, seed, split);
    same &= !memcmp(col, ref, (size_t)m * sizeof(int32_t));
  }
  free(col), free(ref);
  PB_CHECK_MSG(exact, "%s: per-class counts off the protocol", what);
  PB_CHECK_MSG(same, "%s: the colours are not pb_bias_colour_class's", what);
  printf("  %s: n %d, aligned fraction %.5f (rho %.3f), per-class counts exact (class 0: %ld aligned, others %ld %ld %ld "
         "%ld %ld %ld %ld %ld %ld)\n", what, d->n, (double)total_aligned / d->n, rho, agg_aligned, agg[0], agg[1],
         agg[2], agg[3], agg[4], agg[5], agg[6], agg[7], agg[8]);
}

static void test_colour(void) {
  pb_dataset grey, grey_te, tr, te;
  load("none", NULL, 1, NULL, &grey, &grey_te);
  const double rhos[5] = {0.99, 0.997, 0.999, 0.1, 1.0};
  for (int r = 0; r < 5; r++) {
    char p[64], what[64];
    snprintf(p, sizeof p, "data.rho=%g", rhos[r]);
    load("colour", p, 1, NULL, &tr, &te);
    snprintf(what, sizeof what, "colour rho %g train", rhos[r]);
    check_colour(&tr, &grey, rhos[r], 1, 1, what);
    if (r == 0) {
      check_colour(&te, &grey_te, 0.1, 1, 2, "colour test (default: unbiased)");
      write_grid(&tr, "colour_rho0.99_train");
      write_grid(&te, "colour_test_unbiased");
      /* The same seed: the same bytes; another seed: another assignment. */
      pb_dataset tr2, te2;
      load("colour", p, 1, NULL, &tr2, &te2);
      PB_CHECK(!memcmp(tr.images, tr2.images, (size_t)tr.n * 3 * tr.h * tr.w) &&
               !memcmp(te.groups, te2.groups, (size_t)te.n * sizeof(int32_t)));
      pb_dataset_free(&tr2), pb_dataset_free(&te2);
      load("colour", p, 2, NULL, &tr2, &te2);
      long diff = 0;
      for (int i = 0; i < tr.n; i++) diff += tr.groups[i] != tr2.groups[i];
      printf("  colour seed 1 vs 2: %ld of %d training colours differ\n", diff, tr.n);
      PB_CHECK(diff > tr.n / 100 && memcmp(te.groups, te2.groups, (size_t)te.n * sizeof(int32_t)));
      pb_dataset_free(&tr2), pb_dataset_free(&te2);
    }
    pb_dataset_free(&tr), pb_dataset_free(&te);
  }
  load("colour", "data.rho=0.997", 3, "data.test_bias=biased", &tr, &te);
  check_colour(&te, &grey_te, 1.0, 3, 2, "colour test (test_bias = biased)");
  pb_dataset_free(&tr), pb_dataset_free(&te);
  pb_dataset_free(&grey), pb_dataset_free(&grey_te);
}

/* The k-th 5-subset of 0..9 in lexicographic order, recomputed independently (by rank). */
static void subset(int k, int in0[10]) {
  memset(in0, 0, 10 * sizeof(int));
  int x = 0;
  for (int pos = 0; pos < 5; pos++)
    for (;; x++) {
      /* subsets starting with x at this position: C(9 - x, 4 - pos) */
      long cnt = 1;
      for (int j = 0; j < 4 - pos; j++) cnt = cnt * (9 - x - j) / (j + 1);
      if (k < cnt) {
        in0[x++] = 1;
        break;
      }
      k -= (int)cnt;
    }
}

/* Inverted counts of d against p0 / p1 (super-class 0 / 1): 5 binomial sigma. */
static void check_inversion(const pb_dataset *d, const pb_dataset *grey, const int in0[10], double eps, const char *what) {
  size_t hw = (size_t)d->h * d->w;
  long bad_px = 0, bad_flag = 0, n[2] = {0}, inv[2] = {0}, nc[10] = {0}, ic[10] = {0};
  for (int i = 0; i < d->n; i++) {
    int s = in0[d->labels[i]] ? 0 : 1, g = d->groups[i];
    bad_flag += (g != 0 && g != 1) || d->aligned[i] != (s == 0 ? g == 1 : g == 0);
    n[s]++, inv[s] += g == 1, nc[d->labels[i]]++, ic[d->labels[i]] += g == 1;
    const uint8_t *a = grey->images + (size_t)i * hw, *b = d->images + (size_t)i * hw;
    for (size_t j = 0; j < hw; j++) bad_px += b[j] != (g == 1 ? 255 - a[j] : a[j]);
  }
  PB_CHECK_MSG(bad_px == 0 && bad_flag == 0, "%s: %ld wrong pixels, %ld wrong flags", what, bad_px, bad_flag);
  double p[2] = {0.5 + 0.01 * eps, 0.5 - 0.01 * eps};
  double worst = 0;
  for (int s = 0; s < 2; s++) {
    double sd = sqrt(n[s] * p[s] * (1 - p[s])), dev = fabs(inv[s] - n[s] * p[s]);
    PB_CHECK_MSG(dev <= 5 * sd, "%s super-class %d: %ld of %ld inverted, expected %.1f +- 5 x %.1f", what, s, inv[s],
                 n[s], n[s] * p[s], sd);
    printf("  %s super-class %d: inverted %.4f (p %.2f, n %ld, %.2f sigma)\n", what, s, (double)inv[s] / n[s], p[s],
           n[s], sd > 0 ? dev / sd : 0.0);
  }
  for (int c = 0; c < 10; c++) {
    double pc = p[in0[c] ? 0 : 1], sd = sqrt(nc[c] * pc * (1 - pc)), dev = fabs(ic[c] - nc[c] * pc);
    PB_CHECK_MSG(dev <= 5 * sd, "%s class %d: %ld of %ld inverted, expected %.1f +- 5 x %.1f", what, c, ic[c], nc[c],
                 nc[c] * pc, sd);
    if (sd > 0 && dev / sd > worst) worst = dev / sd;
  }
  printf("  %s: per-class inverted fractions within %.2f sigma\n", what, worst);
}

static void test_inversion(void) {
  pb_dataset grey, grey_te, tr, te;
  load("none", NULL, 1, NULL, &grey, &grey_te);
  const double epss[4] = {0, 10, 25, 50};
  const int assign[3] = {0, 17, 251};
  /* Independent references for the split: 0 = {0..4}, 251 = {5..9}, 1 = {0,1,2,3,5}. */
  int in0[10], ref1[10] = {1, 1, 1, 1, 0, 1, 0, 0, 0, 0};
  subset(0, in0);
  PB_CHECK(in0[0] && in0[4] && !in0[5]);
  subset(251, in0);
  PB_CHECK(!in0[4] && in0[5] && in0[9]);
  subset(1, in0);
  PB_CHECK(!memcmp(in0, ref1, sizeof ref1));
  for (int a = 0; a < 3; a++)
    for (int e = 0; e < 4; e++) {
      char p[64], q[64], what[96];
      snprintf(p, sizeof p, "data.eps=%g", epss[e]);
      snprintf(q, sizeof q, "data.class_assignment=%d", assign[a]);
      pb_config *c = config("inversion", p, q);
      pb_dataset va;
      pb_err err = {{0}};
      PB_ASSERT(pb_run_load_data(c, 1, &tr, &va, &te, &err) == PB_OK);
      pb_config_free(c);
      pb_dataset_free(&va);
      subset(assign[a], in0);
      snprintf(what, sizeof what, "inversion eps %g split %d train", epss[e], assign[a]);
      check_inversion(&tr, &grey, in0, epss[e], what);
      snprintf(what, sizeof what, "inversion eps %g split %d test", epss[e], assign[a]);
      check_inversion(&te, &grey_te, in0, epss[e], what); /* default: the training eps */
      if (a == 0 && e == 2) {
        write_grid(&tr, "inversion_eps25_split0_train");
        pb_dataset tr2, te2;
        load("inversion", p, 1, q, &tr2, &te2);
        PB_CHECK(!memcmp(tr.images, tr2.images, (size_t)tr.n * tr.h * tr.w));
        pb_dataset_free(&tr2), pb_dataset_free(&te2);
        load("inversion", p, 2, q, &tr2, &te2);
        long diff = 0;
        for (int i = 0; i < tr.n; i++) diff += tr.groups[i] != tr2.groups[i];
        printf("  inversion seed 1 vs 2: %ld of %d inversion flags differ\n", diff, tr.n);
        PB_CHECK(diff > tr.n / 10);
        pb_dataset_free(&tr2), pb_dataset_free(&te2);
      }
      pb_dataset_free(&tr), pb_dataset_free(&te);
    }
  /* test_bias = unbiased / biased: eps 0 / 50 on the test set whatever the training eps. */
  subset(0, in0);
  load("inversion", "data.eps=25", 1, "data.test_bias=unbiased", &tr, &te);
  check_inversion(&te, &grey_te, in0, 0, "inversion test (test_bias = unbiased)");
  pb_dataset_free(&tr), pb_dataset_free(&te);
  load("inversion", "data.eps=25", 1, "data.test_bias=biased", &tr, &te);
  check_inversion(&te, &grey_te, in0, 50, "inversion test (test_bias = biased)");
  pb_dataset_free(&tr), pb_dataset_free(&te);
  pb_dataset_free(&grey), pb_dataset_free(&grey_te);
}

int main(void) {
  g_data = getenv("PLUMB_DATA");
  if (!g_data || !g_data[0]) g_data = "/usr/share/datasets/fashion-mnist";
  char probe[4200];
  snprintf(probe, sizeof probe, "%s/train-images-idx3-ubyte.gz", g_data);
  if (access(probe, R_OK)) {
    printf("skipped: %s not installed (apt-get install dataset-fashion-mnist)\n", probe);
    return 77;
  }
  snprintf(g_dir, sizeof g_dir, "%s", pb_test_tmpdir("test_bias"));
  test_colour_class();
  test_colour();
  test_inversion();
  return pb_test_exit("test_bias");
}
