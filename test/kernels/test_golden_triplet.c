/* test_golden_triplet.c: the CPU triplet loss (kernels/cpu/triplet.c: pb_triplet_loss_cpu; contract
 * in ops.h "triplet loss") against PyTorch float64 autograd (test/fixtures/triplet_golden.safetensors
 * from scripts/fixtures/gen_triplet_golden.py, read through test/kernels/triplet_fixture.h: 8
 * batches x 16 variants), against central finite differences of the float64 reimplementation of
 * test/kernels/triplet_ref.h (as test_hsic.c does for HSIC), and exact properties. The CUDA twin's
 * test is test_cuda_triplet.c.
 *
 * 1. Goldens, |got - ref| <= atol + rtol |ref| (ref float64; got the op's float, nthreads 2):
 *    - rtol GOLD_RTOL = 1e-6: the op computes every value in double from the same float inputs
 *      and rounds once to float (<= 2^-24 = 6e-8 relative): 16x margin.
 *    - loss: atol GOLD_ATOL_LOSS (1e-12) * M, M = 1 + margin + the largest distance: a term is a
 *      difference of two distances plus the margin, each with a double error ~1e-16 M.
 *    - dE: atol GOLD_ATOL_GRAD (1e-9) * max |ref dE| + 1e-38 (float denormals): an element is a
 *      sum over j of terms c_ij g_ij (e_i - e_j); a sum that cancels carries the double error of
 *      its terms (~1e-16 n of them), which stays 1e-6 below this atol unless the terms exceed
 *      max |dE| by 1e5 (they do not here: the generator's closed-form check bounds them); a wrong
 *      term, factor or tie choice gives errors O(max |dE|).
 *    - counts (valid, nonzero, active, excluded): exactly. The generator keeps every decision
 *      (hinge kink, active threshold, hardest candidate) away from float64 rounding, apart from
 *      exact ties between identical rows, which the op must resolve to the smallest index.
 *    The worst |got - ref| / tolerance over all cases is printed.
 * 2. Finite differences: the op's dE against central differences (step FD_H = 1e-6, in double) of
 *    scale * loss of triplet_ref.h on the same float inputs, every element, all 16 variants, on
 *    small batches (P x K with K 2..3, one with ignored rows and a singleton identity). The error
 *    of the differences: truncation h^2 |f'''| / 6 (<= ~1e-11 for distances ~1) and rounding
 *    ~1e-16 |loss| / h (~1e-10); the op's: one float rounding. Tolerance per element
 *    FD_ATOL (1e-6) max |fd| + FD_RTOL (1e-5) |fd|. The step cannot cross a kink: each case checks
 *    that triplet_ref.h's kink distance exceeds 100x the most a step can move a distance
 *    difference (2h Euclidean, 2h (2 max|e_i - e_j| + h) squared), else the case fails as useless.
 * 3. Values against triplet_ref.h on larger random batches (n 60 and 150, random labels with
 *    ignored rows, D 16 and 32): loss within the golden tolerance, counts exactly.
 * 4. Exact properties: results BITWISE the same for nthreads 1, 2, 3, 4, 7; dE overwritten (every
 *    element over garbage; rows of ignored labels exactly 0); dE NULL and counts NULL change
 *    nothing else; grad_scale 2 gives exactly 2x dE and -1 exactly -dE (a power-of-two scale is
 *    exact in double and in the rounding to float), 0 gives +0 everywhere; relabelling the
 *    identities changes nothing; n = 0, n = 1, all rows ignored and a single identity give loss 0,
 *    zero dE and the right counts; embeddings of 1e15 and 1e-20 and duplicates give finite
 *    values (no NaN). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "test/kernels/triplet_fixture.h"
#include "test/kernels/triplet_ref.h"
#include "test/testutil.h"

#define GOLD_RTOL TG_RTOL /* the constants live in triplet_fixture.h, shared with the CUDA test */
#define GOLD_ATOL_LOSS TG_ATOL_LOSS
#define GOLD_ATOL_GRAD TG_ATOL_GRAD
#define FLOOR TG_FLOOR
#define FD_H 1e-6
#define FD_ATOL 1e-6
#define FD_RTOL 1e-5

static double g_gold_worst, g_fd_worst, g_val_worst; /* worst |err| / tolerance */

/* ------------------------------------------------------------------ helpers */

/* One call of the op with its own scratch. */
static void run_op(float *loss, int64_t *counts, float *de, const float *e, const int32_t *labels, float scale,
                   const pb_triplet_params *p, int nthreads) {
  pb_scratch s = {NULL, 0, nthreads};
  if (p->n > 0) {
    s.floats = pb_triplet_scratch_cpu(p);
    s.buf = malloc(s.floats * sizeof(float));
  }
  pb_triplet_loss_cpu(loss, counts, de, e, labels, scale, p, &s);
  free(s.buf);
}

static double *to_double(const float *a, size_t n) {
  double *d = malloc(sizeof(double) * (n ? n : 1));
  for (size_t i = 0; i < n; i++) d[i] = a[i];
  return d;
}

/* P x K labels (identity ids 10 + 7 i), rows shuffled by a fixed permutation of the seed. */
static void pk_labels(int32_t *labels, int P, int K, uint64_t seed) {
  const int n = P * K;
  for (int i = 0; i < n; i++) labels[i] = 10 + 7 * (i / K);
  float *u = malloc(sizeof(float) * n);
  pb_test_fill_uniform(u, (size_t)n, 0, 1, seed);
  for (int i = n - 1; i > 0; i--) {
    const int j = (int)(u[i] * (float)(i + 1)) % (i + 1), t = labels[i];
    labels[i] = labels[j], labels[j] = t;
  }
  free(u);
}

static int64_t all_bits_equal(const void *a, const void *b, size_t bytes) { return memcmp(a, b, bytes) == 0; }

/* ------------------------------------------------------------------ 1. goldens */

static void golden_case(const tg_case *c) {
  const tg_batch *b = c->b;
  const size_t nd = (size_t)b->n * b->d;
  float loss = -7.0f, *de = malloc(nd * sizeof(float));
  int64_t counts[PB_TRIPLET_NCOUNTS] = {-1, -1, -1, -1};
  for (size_t i = 0; i < nd; i++) de[i] = 99.0f; /* overwritten */
  run_op(&loss, counts, de, b->e, b->labels, b->scale, &c->p, 2);

  const double m = tg_loss_scale(b->e, b->n, b->d, &c->p);
  const double lt = GOLD_ATOL_LOSS * m + GOLD_RTOL * fabs(c->loss), le = fabs((double)loss - c->loss);
  PB_CHECK_MSG(le <= lt, "%s: loss %.9g, ref %.17g (|diff| %.3g > %.3g)", c->name, (double)loss, c->loss, le, lt);
  g_gold_worst = fmax(g_gold_worst, le / lt);
  PB_CHECK_MSG(!memcmp(counts, c->counts, sizeof counts),
               "%s: counts %lld %lld %lld %lld, ref %lld %lld %lld %lld", c->name, (long long)counts[0],
               (long long)counts[1], (long long)counts[2], (long long)counts[3], (long long)c->counts[0],
               (long long)c->counts[1], (long long)c->counts[2], (long long)c->counts[3]);
  double mref = 0;
  for (size_t i = 0; i < nd; i++) mref = fmax(mref, fabs(c->de[i]));
  const double atol = GOLD_ATOL_GRAD * mref + FLOOR;
  size_t bad = 0, wi = 0;
  double wr = -1;
  for (size_t i = 0; i < nd; i++) {
    const double err = fabs((double)de[i] - c->de[i]), tol = atol + GOLD_RTOL * fabs(c->de[i]);
    bad += !(err <= tol);
    if (err / tol > wr || isnan(err)) wr = err / tol, wi = i;
  }
  g_gold_worst = fmax(g_gold_worst, wr);
  PB_CHECK_MSG(bad == 0, "%s: dE %zu of %zu out of tolerance; worst [%zu] got %.9g ref %.17g (atol %.3g)", c->name,
               bad, nd, wi, (double)de[wi], c->de[wi], atol);
  /* rows of ignored labels: exactly 0 */
  size_t nonzero_ignored = 0;
  for (int i = 0; i < b->n; i++)
    for (int k = 0; b->labels[i] < 0 && k < b->d; k++) nonzero_ignored += de[(size_t)i * b->d + k] != 0.0f;
  PB_CHECK_MSG(nonzero_ignored == 0, "%s: %zu gradient elements of ignored rows are not 0", c->name,
               nonzero_ignored);
  /* dE NULL and counts NULL: the rest bitwise unchanged */
  float loss2 = -7.0f;
  int64_t counts2[PB_TRIPLET_NCOUNTS] = {-1, -1, -1, -1};
  run_op(&loss2, counts2, NULL, b->e, b->labels, b->scale, &c->p, 2);
  PB_CHECK_MSG(all_bits_equal(&loss, &loss2, 4) && !memcmp(counts, counts2, sizeof counts),
               "%s: dE NULL changes the loss or the counts", c->name);
  float *de2 = malloc(nd * sizeof(float));
  run_op(&loss2, NULL, de2, b->e, b->labels, b->scale, &c->p, 2);
  PB_CHECK_MSG(all_bits_equal(&loss, &loss2, 4) && all_bits_equal(de, de2, nd * 4),
               "%s: counts NULL changes the loss or dE", c->name);
  printf("  %-34s loss %.9g (ref %.9g)  counts %lld %lld %lld %lld  dE worst %.2g of tol (max|dE| %.3g)\n",
         c->name, (double)loss, c->loss, (long long)counts[0], (long long)counts[1], (long long)counts[2],
         (long long)counts[3], wr, mref);
  free(de), free(de2);
}

/* ------------------------------------------------------------------ 2. finite differences */

static void fd_batch(const char *what, const float *e, const int32_t *labels, int n, int d, float margin,
                     float scale) {
  const size_t nd = (size_t)n * d;
  double *ed = to_double(e, nd), span = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      for (int k = 0; k < d; k++) span = fmax(span, fabs(ed[(size_t)i * d + k] - ed[(size_t)j * d + k]));
  float *de = malloc(nd * sizeof(float)), loss;
  double *fd = malloc(nd * sizeof(double));
  for (int v = 0; v < 16; v++) {
    pb_triplet_params p;
    variant_params(&p, v, n, d, margin);
    run_op(&loss, NULL, de, e, labels, scale, &p, 3);
    const tr_result r0 = ref_triplet(ed, labels, &p);
    const double move = 2.0 * FD_H * (p.squared ? 2.0 * span + FD_H : 1.0);
    PB_CHECK_MSG(r0.kink > 100.0 * move, "fd %s %s: a kink %.3g from the inputs (the step moves %.3g): useless case",
                 what, variant_name(&p), r0.kink, move);
    double mx = 0;
    for (size_t i = 0; i < nd; i++) {
      const double keep = ed[i];
      ed[i] = keep + FD_H;
      const double lp = ref_triplet(ed, labels, &p).loss;
      ed[i] = keep - FD_H;
      const double lm = ref_triplet(ed, labels, &p).loss;
      ed[i] = keep;
      fd[i] = (double)scale * (lp - lm) / (2.0 * FD_H);
      mx = fmax(mx, fabs(fd[i]));
    }
    size_t bad = 0, wi = 0;
    double worst = 0;
    for (size_t i = 0; i < nd; i++) {
      const double err = fabs((double)de[i] - fd[i]), tol = FD_ATOL * mx + FD_RTOL * fabs(fd[i]);
      bad += !(err <= tol);
      if (tol > 0 && err / tol > worst) worst = err / tol, wi = i;
    }
    g_fd_worst = fmax(g_fd_worst, worst);
    PB_CHECK_MSG(bad == 0, "fd %s %s: %zu of %zu off; worst [%zu] op %.9g fd %.9g (max|fd| %.3g)", what,
                 variant_name(&p), bad, nd, wi, (double)de[wi], fd[wi], mx);
    PB_CHECK_MSG(mx > 0, "fd %s %s: the differences are all 0 (a useless case)", what, variant_name(&p));
    printf("  fd %-10s %-22s max|fd| %.3g  worst %.2g of tol  kink %.2g (loss %.6g)\n", what, variant_name(&p), mx,
           worst, r0.kink, r0.loss);
  }
  free(ed), free(de), free(fd);
}

static void test_fd(void) {
  /* P x K batches with random embeddings */
  const int shapes[][3] = {{3, 3, 4}, {4, 2, 3}};
  for (int s = 0; s < 2; s++) {
    const int P = shapes[s][0], K = shapes[s][1], d = shapes[s][2], n = P * K;
    float *e = malloc(sizeof(float) * n * d);
    int32_t *labels = malloc(sizeof(int32_t) * n);
    pb_test_fill_uniform(e, (size_t)n * d, -1.0f, 1.0f, 300 + s);
    pk_labels(labels, P, K, 310 + s);
    char w[32];
    snprintf(w, sizeof w, "p%dk%d", P, K);
    fd_batch(w, e, labels, n, d, 0.3f, 0.7f);
    free(e), free(labels);
  }
  /* ignored rows and a singleton identity */
  const int32_t labels[9] = {4, -1, 4, 6, 6, 8, -1, 6, 4};
  float e[9 * 3];
  pb_test_fill_uniform(e, 27, -1.0f, 1.0f, 333);
  fd_batch("ignored", e, labels, 9, 3, 0.5f, 1.0f);
}

/* ------------------------------------------------------------------ 3. values against the reference */

static void test_values(int n, int d, int nlabels, uint64_t seed) {
  const size_t nd = (size_t)n * d;
  float *e = malloc(nd * sizeof(float));
  int32_t *labels = malloc(sizeof(int32_t) * n);
  pb_test_fill_uniform(e, nd, -1.0f, 1.0f, seed);
  float *u = malloc(sizeof(float) * n);
  pb_test_fill_uniform(u, (size_t)n, 0, 1, seed + 1);
  for (int i = 0; i < n; i++) labels[i] = i % 11 == 5 ? -1 : (int32_t)(u[i] * (float)nlabels) % nlabels;
  double *ed = to_double(e, nd);
  for (int v = 0; v < 16; v++) {
    pb_triplet_params p;
    variant_params(&p, v, n, d, 0.4f);
    float loss;
    int64_t counts[PB_TRIPLET_NCOUNTS];
    run_op(&loss, counts, NULL, e, labels, 1.0f, &p, 2);
    const tr_result r = ref_triplet(ed, labels, &p);
    const double tol = GOLD_ATOL_LOSS * tg_loss_scale(e, n, d, &p) + GOLD_RTOL * fabs(r.loss);
    const double err = fabs((double)loss - r.loss);
    g_val_worst = fmax(g_val_worst, err / tol);
    PB_CHECK_MSG(err <= tol, "values n=%d %s: loss %.9g, ref %.17g", n, variant_name(&p), (double)loss, r.loss);
    PB_CHECK_MSG(!memcmp(counts, r.counts, sizeof counts), "values n=%d %s: counts %lld %lld %lld %lld, ref %lld %lld %lld %lld",
                 n, variant_name(&p), (long long)counts[0], (long long)counts[1], (long long)counts[2],
                 (long long)counts[3], (long long)r.counts[0], (long long)r.counts[1], (long long)r.counts[2],
                 (long long)r.counts[3]);
  }
  printf("  values n=%d d=%d labels in [0, %d) + ignored: 16 variants checked\n", n, d, nlabels);
  free(e), free(labels), free(u), free(ed);
}

/* ------------------------------------------------------------------ 4. exact properties */

static void test_threads_and_scale(void) {
  const int n = 150, d = 32;
  const size_t nd = (size_t)n * d;
  float *e = malloc(nd * 4), *de1 = malloc(nd * 4), *de2 = malloc(nd * 4);
  int32_t *labels = malloc(n * 4), *relab = malloc(n * 4);
  pb_test_fill_uniform(e, nd, -1.0f, 1.0f, 77);
  pk_labels(labels, 30, 5, 78);
  labels[3] = -1, labels[40] = -1;
  for (int i = 0; i < n; i++) relab[i] = labels[i] < 0 ? -5 : 3 * labels[i] + 1000;
  for (int v = 0; v < 16; v++) {
    pb_triplet_params p;
    variant_params(&p, v, n, d, 0.4f);
    const char *vn = variant_name(&p);
    float l1, l2;
    int64_t c1[4], c2[4];
    run_op(&l1, c1, de1, e, labels, 1.0f, &p, 1);
    static const int threads[] = {2, 3, 4, 7};
    for (int t = 0; t < 4; t++) {
      run_op(&l2, c2, de2, e, labels, 1.0f, &p, threads[t]);
      PB_CHECK_MSG(all_bits_equal(&l1, &l2, 4) && !memcmp(c1, c2, sizeof c1) && all_bits_equal(de1, de2, nd * 4),
                   "%s: nthreads %d differs from nthreads 1", vn, threads[t]);
    }
    run_op(&l2, c2, de2, e, relab, 1.0f, &p, 2);
    PB_CHECK_MSG(all_bits_equal(&l1, &l2, 4) && !memcmp(c1, c2, sizeof c1) && all_bits_equal(de1, de2, nd * 4),
                 "%s: relabelling the identities changes the result", vn);
    size_t bad2 = 0, badm = 0, bad0 = 0;
    run_op(&l2, c2, de2, e, labels, 2.0f, &p, 2);
    for (size_t i = 0; i < nd; i++) bad2 += de2[i] != 2.0f * de1[i];
    PB_CHECK_MSG(all_bits_equal(&l1, &l2, 4) && bad2 == 0, "%s: grad_scale 2: %zu elements not exactly 2x", vn, bad2);
    run_op(&l2, c2, de2, e, labels, -1.0f, &p, 2);
    for (size_t i = 0; i < nd; i++) badm += de2[i] != -de1[i];
    PB_CHECK_MSG(badm == 0, "%s: grad_scale -1: %zu elements not exactly -dE", vn, badm);
    run_op(&l2, c2, de2, e, labels, 0.0f, &p, 2);
    const float pz = 0.0f;
    for (size_t i = 0; i < nd; i++) bad0 += !all_bits_equal(&de2[i], &pz, 4);
    PB_CHECK_MSG(bad0 == 0, "%s: grad_scale 0: %zu elements not +0", vn, bad0);
    PB_CHECK_MSG(c1[PB_TRIPLET_EXCLUDED] == 0, "%s: %lld anchors excluded in a P x K batch", vn,
                 (long long)c1[PB_TRIPLET_EXCLUDED]);
  }
  printf("  n=%d d=%d, 16 variants: bitwise for nthreads 1/2/3/4/7, relabelled, grad_scale 2 / -1 / 0 exact\n", n, d);
  free(e), free(de1), free(de2), free(labels), free(relab);
}

/* loss 0, the given counts, dE exactly 0 (over garbage): the degenerate batches. */
static void check_degenerate(const char *what, const float *e, const int32_t *labels, int n, int d,
                             int64_t want_excluded) {
  const size_t nd = (size_t)n * d;
  float *de = malloc((nd ? nd : 1) * 4);
  for (int v = 0; v < 16; v++) {
    pb_triplet_params p;
    variant_params(&p, v, n, d, 0.5f);
    for (size_t i = 0; i < nd; i++) de[i] = NAN;
    float loss = NAN;
    int64_t c[4] = {-1, -1, -1, -1};
    run_op(&loss, c, de, e, labels, 1.0f, &p, 2);
    size_t bad = 0;
    const float pz = 0.0f;
    for (size_t i = 0; i < nd; i++) bad += !all_bits_equal(&de[i], &pz, 4);
    PB_CHECK_MSG(loss == 0.0f && bad == 0 && c[0] == 0 && c[1] == 0 && c[2] == 0 && c[3] == want_excluded,
                 "%s %s: loss %g, %zu gradient elements not +0, counts %lld %lld %lld %lld (excluded: want %lld)", what,
                 variant_name(&p), (double)loss, bad, (long long)c[0], (long long)c[1], (long long)c[2],
                 (long long)c[3], (long long)want_excluded);
  }
  printf("  %-22s loss 0, dE +0, excluded %lld (16 variants)\n", what, (long long)want_excluded);
  free(de);
}

static void test_degenerate(void) {
  float e[8 * 3];
  pb_test_fill_uniform(e, 24, -1.0f, 1.0f, 5);
  const int32_t one_id[8] = {3, 3, 3, 3, 3, 3, 3, 3}, ignored[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
  const int32_t singletons[8] = {0, 1, 2, 3, 4, 5, 6, 7}, mixed[8] = {2, -1, 2, -1, -1, -1, -1, -1};
  check_degenerate("n=0", NULL, NULL, 0, 3, 0);
  check_degenerate("n=1", e, one_id, 1, 3, 1);
  check_degenerate("single identity", e, one_id, 8, 3, 8);
  check_degenerate("all ignored", e, ignored, 8, 3, 0);
  check_degenerate("all singletons", e, singletons, 8, 3, 8);
  check_degenerate("one pair, rest ignored", e, mixed, 8, 3, 2);
}

/* Extreme magnitudes: everything finite. */
static void test_finite(float amp, uint64_t seed) {
  const int n = 12, d = 5;
  float e[12 * 5], de[12 * 5];
  int32_t labels[12];
  pb_test_fill_uniform(e, 60, -amp, amp, seed);
  pk_labels(labels, 4, 3, seed + 1);
  e[5] = e[0], e[6] = e[1], e[7] = e[2], e[8] = e[3], e[9] = e[4]; /* a duplicate row: zero distances */
  for (int v = 0; v < 16; v++) {
    pb_triplet_params p;
    variant_params(&p, v, n, d, 0.5f);
    float loss;
    int64_t c[4];
    run_op(&loss, c, de, e, labels, 1.0f, &p, 2);
    size_t bad = 0;
    for (int i = 0; i < n * d; i++) bad += !isfinite(de[i]);
    PB_CHECK_MSG(isfinite(loss) && bad == 0, "amp %g %s: loss %g, %zu non-finite gradient elements", (double)amp,
                 variant_name(&p), (double)loss, bad);
  }
  printf("  embeddings of size %g with a duplicate row: finite (16 variants)\n", (double)amp);
}

int main(void) {
  tg_set gs;
  pb_err err = {{0}};
  if (tg_load(&gs, &err)) {
    fprintf(stderr, "FAIL: %s\n", err.msg);
    pb_test_failures++;
  } else {
    for (int i = 0; i < gs.ncase; i++) golden_case(&gs.cases[i]);
    printf("goldens: %d cases, worst |got - ref| / tolerance %.3g\n", gs.ncase, g_gold_worst);
    PB_CHECK_MSG(gs.ncase >= 128, "only %d golden cases", gs.ncase);
    tg_free(&gs);
  }
  test_fd();
  printf("finite differences: worst |op - fd| / tolerance %.3g\n", g_fd_worst);
  test_values(60, 16, 15, 900);
  test_values(150, 32, 20, 901);
  printf("values: worst |op - ref| / tolerance %.3g\n", g_val_worst);
  test_threads_and_scale();
  test_degenerate();
  test_finite(1e15f, 40);
  test_finite(1e-20f, 41);
  test_finite(1.0f, 42);
  return pb_test_exit("test_golden_triplet");
}
