/* test_cuda_triplet.c: the CUDA triplet loss (kernels/cuda/triplet.cu: pb_triplet_loss_cuda) against
 * its CPU twin (kernels/cpu/triplet.c) on random batches and against the PyTorch goldens
 * (test/fixtures/triplet_golden.safetensors through test/kernels/triplet_fixture.h). Needs a GPU:
 * exits 77 (ctest: skipped) without one.
 *
 * Batches (n, d, layout), each through all 16 variants (mode x margin function x distance x
 * reduction), margin 0.3, grad_scale 0.7:
 *   n 2 (two identities of one row: both anchors excluded), 3 (a pair and a negative), 7 with
 *   random labels, 72 = P 18 x K 4 with d 128 (the paper's batch, L2-normalised rows), 257 (more
 *   rows than a block's 256 threads) with random labels and ignored rows, 300 = P 75 x K 4 with
 *   d 1 and with d 512, 600 = P 150 x K 4 (batch-all: 1.1M triplets), a single identity, all rows
 *   ignored, a batch with duplicate rows (zero distances, exact ties of the hardest positive /
 *   negative) and a collapsed one (all rows equal: ties everywhere).
 * Every call writes over garbage (loss, counts and dE).
 *
 * Against the CPU (nthreads 4), |gpu - cpu| <= atol + rtol |cpu|, the golden tolerances
 * (triplet_fixture.h, justified in test_golden_triplet.c), counts exactly:
 *   both sides compute every value in double from the same floats with the same operations in the
 *   same order (triplet.cu's file comment: explicitly rounded intrinsics, no FMA; the CPU build has
 *   none either), and choose the hardest positive / negative with the same tie rule from bitwise
 *   equal distances. With hinge terms (no transcendental function) the results are therefore
 *   expected to be BITWISE the CPU's; with soft terms CUDA's double exp / log1p (within 1 ulp of
 *   libm's) move the doubles by a few ulps, the floats by at most 1 ulp (1.2e-7 relative: rtol
 *   1e-6 covers it 8x). The counts could only differ if a term lay within a few double ulps of the
 *   active threshold 1e-5 (soft terms): not the case on these inputs. The number of elements
 *   bitwise equal to the CPU's is printed for both, and the hinge figure is expected to be all of
 *   them: it is reported, not checked, since the contract is the tolerance.
 * Exact on the GPU (bitwise): a second call (run to run); dE NULL and counts NULL leave the rest
 * unchanged; grad_scale 0 gives +0 everywhere; n = 0 writes loss 0 and zero counts. The run's figures
 * (pb_triplet_stats_cuda) are the CPU's bit for bit.
 * Goldens: every case of the fixture through the CUDA op, with test_golden_triplet.c's checks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/ops_cuda.h"
#include "test/cuda_twin.h"
#include "test/kernels/triplet_fixture.h"
#include "test/testutil.h"

static pb_cuda_env g_env;
static size_t g_bits_hinge[2], g_bits_soft[2]; /* {bitwise equal, total} dE elements against the CPU */
static double g_worst;                         /* worst |gpu - ref| / tolerance */

/* The GPU outputs of one call, on the host. */
typedef struct gpu_out {
  float loss;
  int64_t counts[PB_TRIPLET_NCOUNTS];
  float *de; /* NULL when not asked */
} gpu_out;

/* One GPU call over garbage-filled outputs; with_de / with_counts: pass the pointer or NULL. */
static gpu_out gpu_run(const float *d_e, const int32_t *d_lab, float scale, const pb_triplet_params *p, int with_de,
                       int with_counts) {
  const size_t nd = (size_t)p->n * p->d;
  const float junk_loss = -3.0f;
  const int64_t junk_counts[PB_TRIPLET_NCOUNTS] = {-1, -2, -3, -4};
  float *d_loss = pb_twin_fromf(&junk_loss, 1, &g_env);
  int64_t *d_counts = pb_twin_from(junk_counts, sizeof junk_counts, &g_env);
  float *d_de = NULL;
  if (with_de) {
    float *junk = malloc((nd ? nd : 1) * sizeof(float));
    pb_test_fill_uniform(junk, nd, -9.0f, 9.0f, 4242);
    d_de = pb_twin_fromf(junk, nd, &g_env);
    free(junk);
  }
  pb_triplet_loss_cuda(d_loss, with_counts ? d_counts : NULL, d_de, d_e, d_lab, scale, p, &g_env);
  gpu_out o;
  pb_cuda_d2h(&o.loss, d_loss, sizeof(float), &g_env);
  pb_cuda_d2h(o.counts, d_counts, sizeof o.counts, &g_env);
  o.de = with_de ? pb_twin_hostf(d_de, nd, &g_env) : NULL;
  pb_cuda_sync(&g_env);
  if (!with_counts)
    PB_CHECK_MSG(!memcmp(o.counts, junk_counts, sizeof junk_counts), "counts NULL: the counts buffer was written");
  pb_cuda_free(d_loss), pb_cuda_free(d_counts), pb_cuda_free(d_de);
  return o;
}

/* got[n] against ref[n] (double), |got - ref| <= atol + TG_RTOL |ref|; returns the bitwise-equal
 * count against the float ref_f (may be NULL). */
static size_t check_de(const char *what, const float *got, const double *ref, const float *ref_f, size_t n) {
  double mref = 0, wr = 0;
  for (size_t i = 0; i < n; i++) mref = fmax(mref, fabs(ref[i]));
  const double atol = TG_ATOL_GRAD * mref + TG_FLOOR;
  size_t bad = 0, wi = 0, same = 0;
  for (size_t i = 0; i < n; i++) {
    const double err = fabs((double)got[i] - ref[i]), tol = atol + TG_RTOL * fabs(ref[i]);
    bad += !(err <= tol);
    if (err / tol > wr || isnan(err)) wr = err / tol, wi = i;
    if (ref_f) same += !memcmp(&got[i], &ref_f[i], sizeof(float));
  }
  g_worst = fmax(g_worst, wr);
  PB_CHECK_MSG(bad == 0, "%s: dE %zu of %zu out of tolerance; worst [%zu] got %.9g ref %.17g (atol %.3g)", what, bad, n,
               wi, n ? (double)got[wi] : 0.0, n ? ref[wi] : 0.0, atol);
  return same;
}

static void check_loss(const char *what, float got, double ref, const float *e, const pb_triplet_params *p) {
  const double tol = TG_ATOL_LOSS * tg_loss_scale(e, p->n, p->d, p) + TG_RTOL * fabs(ref);
  const double err = fabs((double)got - ref);
  g_worst = fmax(g_worst, err / tol);
  PB_CHECK_MSG(err <= tol, "%s: loss %.9g, ref %.17g (|diff| %.3g > %.3g)", what, (double)got, ref, err, tol);
}

static void check_counts(const char *what, const int64_t *got, const int64_t *ref) {
  PB_CHECK_MSG(!memcmp(got, ref, PB_TRIPLET_NCOUNTS * sizeof(int64_t)),
               "%s: counts %lld %lld %lld %lld, ref %lld %lld %lld %lld", what, (long long)got[0], (long long)got[1],
               (long long)got[2], (long long)got[3], (long long)ref[0], (long long)ref[1], (long long)ref[2],
               (long long)ref[3]);
}

/* ------------------------------------------------------------------ twin tests */

static void twin_batch(const char *what, const float *e, const int32_t *labels, int n, int d) {
  const size_t nd = (size_t)n * d;
  float *d_e = pb_twin_fromf(e, nd, &g_env);
  int32_t *d_lab = pb_twin_from(labels, (size_t)n * sizeof(int32_t), &g_env);
  float *de = malloc((nd ? nd : 1) * sizeof(float));
  double *de_d = malloc((nd ? nd : 1) * sizeof(double));
  pb_scratch s = {NULL, 0, 4};
  size_t hard_same = 0, all_same = 0;
  for (int v = 0; v < 16; v++) {
    pb_triplet_params p;
    variant_params(&p, v, n, d, 0.3f);
    PB_CHECK_MSG(pb_triplet_workspace_cuda(&p) <= g_env.workspace_bytes, "%s: workspace %zu > %zu", what,
                 pb_triplet_workspace_cuda(&p), g_env.workspace_bytes);
    s.floats = pb_triplet_scratch_cpu(&p);
    s.buf = realloc(s.buf, s.floats * sizeof(float));
    float loss;
    int64_t counts[PB_TRIPLET_NCOUNTS];
    pb_triplet_loss_cpu(&loss, counts, de, e, labels, 0.7f, &p, &s);
    for (size_t i = 0; i < nd; i++) de_d[i] = de[i];

    char w[128];
    snprintf(w, sizeof w, "%s %s", what, variant_name(&p));
    gpu_out g = gpu_run(d_e, d_lab, 0.7f, &p, 1, 1);
    check_loss(w, g.loss, (double)loss, e, &p);
    check_counts(w, g.counts, counts);
    const size_t same = check_de(w, g.de, de_d, de, nd);
    size_t *acc = p.soft ? g_bits_soft : g_bits_hinge;
    acc[0] += same, acc[1] += nd;
    if (p.mode)
      all_same += same;
    else
      hard_same += same;
    const int loss_same = !memcmp(&g.loss, &loss, sizeof loss);
    if (!p.soft && (!loss_same || same != nd))
      printf("  note: %s: hinge, loss %s the CPU's bits, %zu of %zu dE elements bitwise (expected all)\n", w,
             loss_same ? "has" : "differs from", same, nd);

    /* run to run; dE NULL; counts NULL */
    gpu_out g2 = gpu_run(d_e, d_lab, 0.7f, &p, 1, 1);
    PB_CHECK_MSG(!memcmp(&g.loss, &g2.loss, 4) && !memcmp(g.counts, g2.counts, sizeof g.counts) &&
                     !memcmp(g.de, g2.de, nd * sizeof(float)),
                 "%s: a second run differs", w);
    gpu_out g3 = gpu_run(d_e, d_lab, 0.7f, &p, 0, 1);
    PB_CHECK_MSG(!memcmp(&g.loss, &g3.loss, 4) && !memcmp(g.counts, g3.counts, sizeof g.counts),
                 "%s: dE NULL changes the loss or the counts", w);
    gpu_out g4 = gpu_run(d_e, d_lab, 0.7f, &p, 1, 0);
    PB_CHECK_MSG(!memcmp(&g.loss, &g4.loss, 4) && !memcmp(g.de, g4.de, nd * sizeof(float)),
                 "%s: counts NULL changes the loss or dE", w);
    /* grad_scale 0: +0 everywhere */
    gpu_out g5 = gpu_run(d_e, d_lab, 0.0f, &p, 1, 1);
    size_t nz = 0;
    const float pz = 0.0f;
    for (size_t i = 0; i < nd; i++) nz += memcmp(&g5.de[i], &pz, sizeof pz) != 0;
    PB_CHECK_MSG(nz == 0 && !memcmp(&g.loss, &g5.loss, 4), "%s: grad_scale 0: %zu elements not +0", w, nz);
    free(g.de), free(g2.de), free(g4.de), free(g5.de);
  }
  printf("  %-26s n=%-4d d=%-4d 16 variants; dE bitwise equal to the CPU: hard %zu, all %zu of %zu each x 8\n",
         what, n, d, hard_same, all_same, nd);
  pb_cuda_free(d_e), pb_cuda_free(d_lab);
  free(de), free(de_d), free(s.buf);
}

/* P x K labels (ids 3 + 5 i), rows in a fixed shuffled order. */
static void pk_labels(int32_t *labels, int P, int K, uint64_t seed) {
  const int n = P * K;
  for (int i = 0; i < n; i++) labels[i] = 3 + 5 * (i / K);
  float *u = malloc(sizeof(float) * n);
  pb_test_fill_uniform(u, (size_t)n, 0, 1, seed);
  for (int i = n - 1; i > 0; i--) {
    const int j = (int)(u[i] * (float)(i + 1)) % (i + 1), t = labels[i];
    labels[i] = labels[j], labels[j] = t;
  }
  free(u);
}

static void twin_pk(const char *what, int P, int K, int d, int normalise, uint64_t seed) {
  const int n = P * K;
  float *e = malloc(sizeof(float) * n * d);
  int32_t *labels = malloc(sizeof(int32_t) * n);
  pb_test_fill_uniform(e, (size_t)n * d, -1.0f, 1.0f, seed);
  pk_labels(labels, P, K, seed + 1);
  /* rows of one identity share a centre, so that the batch has easy and hard triplets */
  float *c = malloc(sizeof(float) * d * P);
  pb_test_fill_uniform(c, (size_t)d * P, -1.0f, 1.0f, seed + 2);
  for (int i = 0; i < n; i++) {
    const int id = (labels[i] - 3) / 5;
    double s = 0;
    for (int k = 0; k < d; k++) {
      float *x = &e[(size_t)i * d + k];
      *x = 0.6f * *x + c[(size_t)id * d + k];
      s += (double)*x * *x;
    }
    for (int k = 0; normalise && k < d; k++) e[(size_t)i * d + k] = (float)(e[(size_t)i * d + k] / sqrt(s));
  }
  twin_batch(what, e, labels, n, d);
  free(e), free(labels), free(c);
}

static void twin_random(const char *what, int n, int d, int nlabels, int ignore_every, uint64_t seed) {
  float *e = malloc(sizeof(float) * ((size_t)n * d + 1)), *u = malloc(sizeof(float) * (n + 1));
  int32_t *labels = malloc(sizeof(int32_t) * (n + 1));
  pb_test_fill_uniform(e, (size_t)n * d, -1.0f, 1.0f, seed);
  pb_test_fill_uniform(u, (size_t)n, 0, 1, seed + 1);
  for (int i = 0; i < n; i++) {
    labels[i] = nlabels > 0 ? (int32_t)(u[i] * (float)nlabels) % nlabels : -1;
    if (ignore_every > 0 && i % ignore_every == 1) labels[i] = -1;
  }
  twin_batch(what, e, labels, n, d);
  free(e), free(u), free(labels);
}

/* Duplicate rows: zero distances and exact ties of the hardest positive and negative. */
static void twin_dups(void) {
  const int n = 16, d = 6;
  float e[16 * 6];
  int32_t labels[16];
  pb_test_fill_uniform(e, (size_t)n * d, -1.0f, 1.0f, 99);
  for (int i = 0; i < n; i++) labels[i] = i / 4;
  const int copies[][2] = {{1, 0}, {3, 2}, {5, 0}, {9, 0}, {7, 6}, {13, 12}, {14, 12}, {11, 10}};
  for (int c = 0; c < 8; c++) memcpy(&e[copies[c][0] * d], &e[copies[c][1] * d], sizeof(float) * d);
  twin_batch("duplicate rows", e, labels, n, d);
  float same[8 * 6];
  int32_t l2[8] = {0, 0, 1, 1, 2, 2, 3, 3};
  for (int i = 0; i < 8; i++) memcpy(&same[i * d], e, sizeof(float) * d);
  twin_batch("collapsed (all rows equal)", same, l2, 8, d);
}

/* ------------------------------------------------------------------ goldens */

static void golden(const tg_case *c) {
  const tg_batch *b = c->b;
  const size_t nd = (size_t)b->n * b->d;
  float *d_e = pb_twin_fromf(b->e, nd, &g_env);
  int32_t *d_lab = pb_twin_from(b->labels, (size_t)b->n * sizeof(int32_t), &g_env);
  gpu_out g = gpu_run(d_e, d_lab, b->scale, &c->p, 1, 1);
  check_loss(c->name, g.loss, c->loss, b->e, &c->p);
  check_counts(c->name, g.counts, c->counts);
  check_de(c->name, g.de, c->de, NULL, nd);
  free(g.de);
  pb_cuda_free(d_e), pb_cuda_free(d_lab);
}

static void test_empty(void) {
  pb_triplet_params p;
  variant_params(&p, 9, 0, 4, 0.3f);
  gpu_out g = gpu_run(NULL, NULL, 1.0f, &p, 0, 1);
  PB_CHECK_MSG(g.loss == 0.0f && !g.counts[0] && !g.counts[1] && !g.counts[2] && !g.counts[3],
               "n = 0: loss %g counts %lld %lld %lld %lld", (double)g.loss, (long long)g.counts[0],
               (long long)g.counts[1], (long long)g.counts[2], (long long)g.counts[3]);
  printf("  n=0: loss 0, counts 0\n");
}

/* pb_triplet_stats_cuda bitwise pb_triplet_stats_cpu, from the same loss and counts (VALID 0
 * included: the active fraction is 0 there, not NaN). */
static void test_stats(void) {
  const float loss[3] = {0.4016691f, 0.0f, 1e-30f};
  const int64_t counts[3][PB_TRIPLET_NCOUNTS] = {{72, 70, 51, 0}, {0, 0, 0, 5}, {4560, 4559, 3, 2}};
  const int rows[3] = {72, 5, 4096};
  for (int i = 0; i < 3; i++) {
    float want[3], got[3], junk[3] = {-1, -2, -3};
    pb_triplet_stats_cpu(want, &loss[i], counts[i], rows[i]);
    float *d_loss = pb_twin_fromf(&loss[i], 1, &g_env), *d_out = pb_twin_fromf(junk, 3, &g_env);
    int64_t *d_counts = pb_twin_from(counts[i], sizeof counts[i], &g_env);
    pb_triplet_stats_cuda(d_out, d_loss, d_counts, rows[i], &g_env);
    pb_cuda_d2h(got, d_out, sizeof got, &g_env);
    pb_cuda_sync(&g_env);
    PB_CHECK_MSG(!memcmp(got, want, sizeof got), "stats case %d: gpu %g %g %g, cpu %g %g %g", i, got[0], got[1], got[2],
                 want[0], want[1], want[2]);
    pb_cuda_free(d_loss), pb_cuda_free(d_out), pb_cuda_free(d_counts);
  }
}

int main(void) {
  pb_twin_require_gpu();
  pb_twin_env(&g_env, (size_t)64 << 20, 0, 0);

  const float e3[3 * 5] = {0.1f, -0.2f, 0.3f, 0.4f, 0.5f, 1.0f, 0.9f, -0.8f, 0.7f, 0.6f, -0.5f, 0.4f, 0.3f, 0.2f, 0.1f};
  const int32_t two_ids[2] = {4, 9}, pair_neg[3] = {1, 1, 2};
  twin_batch("2 rows, 2 identities", e3, two_ids, 2, 5);
  twin_batch("a pair and a negative", e3, pair_neg, 3, 5);
  twin_random("7 rows, random labels", 7, 3, 3, 0, 11);
  twin_pk("P18 K4 (normalised)", 18, 4, 128, 1, 12);
  twin_random("257 rows, ignored rows", 257, 16, 40, 9, 13);
  twin_pk("P75 K4 d1", 75, 4, 1, 0, 14);
  twin_pk("P75 K4 d512", 75, 4, 512, 1, 15);
  twin_pk("P150 K4", 150, 4, 32, 0, 16);
  twin_random("single identity", 20, 8, 1, 0, 17);
  twin_random("all ignored", 20, 8, 0, 0, 18);
  twin_dups();
  test_empty();
  test_stats();

  tg_set gs;
  pb_err err = {{0}};
  if (tg_load(&gs, &err)) {
    fprintf(stderr, "FAIL: %s\n", err.msg);
    pb_test_failures++;
  } else {
    for (int i = 0; i < gs.ncase; i++) golden(&gs.cases[i]);
    printf("  goldens: %d cases through the CUDA op\n", gs.ncase);
    tg_free(&gs);
  }
  printf("  dE bitwise equal to the CPU: hinge %zu of %zu (expected all), soft %zu of %zu\n", g_bits_hinge[0],
         g_bits_hinge[1], g_bits_soft[0], g_bits_soft[1]);
  printf("  worst |gpu - ref| / tolerance: %.3g\n", g_worst);
  pb_cuda_env_free(&g_env);
  return pb_test_exit("test_cuda_triplet");
}
