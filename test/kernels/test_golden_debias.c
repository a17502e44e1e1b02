/* test_golden_debias.c: the CPU debiasing losses (kernels/cpu/debias.c: pb_rubi_loss_cpu,
 * pb_mixin_loss_cpu) against PyTorch float64 autograd of the released ReBias code
 * (test/fixtures/debias_golden.safetensors, from scripts/fixtures/gen_debias_golden.py: cases,
 * inputs and the mean-to-sum conventions are in its docstring; read through
 * test/kernels/debias_fixture.h), against central finite differences of the ops' own losses,
 * and the missing-label rule.
 *
 * Goldens, |got - ref| <= atol + rtol |ref| (ref: float64; got: the op's float output):
 *  - rtol GOLD_RTOL = 1e-6: both sides compute each row in double from the same float inputs;
 *    the op rounds once to float (<= 2^-24 = 6e-8 relative). 16x margin.
 *  - atol, from the size of the terms an output is made of (an output that cancels far below
 *    its terms carries the double error of the terms, not of itself: e.g. p_y - 1 for a
 *    confidently right row, s (1 - s) for a saturated sigmoid). The double error of a term is
 *    ~1e-16 (1 + |lse|) relative (the exponent's absolute error), summed over at most k terms:
 *    with M = 1 + max |logit| (<= ~300 here) and k <= 37, ~1e-12 of the term scale S:
 *      loss sums: GOLD_ATOL_LOSS * n * M          (a row's loss is a difference of O(M) values)
 *      gradients: GOLD_ATOL_GRAD * S + 1e-38     (1e-38: float denormals)
 *        RUBi  df: S = scale                    dh: S = scale (1 + max|f|) + scale_head
 *        Mixin df: S = scale                    da: S = max|g| (2 scale + 2 scale_ent (1 + log k))
 *    (sum_j |p_j - e_j| <= 2; sum_j q_j |log q_j + H| <= 2 H <= 2 log k.)
 *    GOLD_ATOL_LOSS = 1e-12 and GOLD_ATOL_GRAD = 1e-9: far above that double noise, far below
 *    float resolution of any output that is not itself a cancellation.
 * Finite differences (FD_CASES, scale = 1 so the gradients are O(1)): central differences of
 * J = scale L0 + scale2 L1 on the float inputs, step FD_H = 1e-3 (x +- h rounded to float; the
 * actual difference divides), in double from the float losses. Error: each loss is a float
 * (<= 1/2 ulp each, two evaluations: noise <= (scale ulp(L0) + scale2 ulp(L1)) / (2h)), plus the
 * truncation h^2/6 J''' (<= ~1e-5 for logits of a few units: third derivatives of log-softmax
 * are < 1, times |f|^3 or |g|^3 through the sigmoid / softplus factor). Tolerance:
 * 2 noise + FD_ATOL (1e-4) + FD_RTOL (1e-3) |analytic|.
 * Missing labels: a row with label -1 gets zero gradient rows (every element overwritten) and adds
 * nothing: the losses and the other rows' gradients are BITWISE those of the op on the labelled
 * rows alone (same adds in the same order). NULL gradient pointers change nothing else
 * (bitwise); n = 0 and all rows missing write loss = {0, 0}. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "test/kernels/debias_fixture.h"
#include "test/testutil.h"

#define GOLD_RTOL 1e-6
#define GOLD_ATOL_LOSS 1e-12
#define GOLD_ATOL_GRAD 1e-9
#define GOLD_FLOOR 1e-38
#define FD_H 1e-3
#define FD_ATOL 1e-4
#define FD_RTOL 1e-3

/* Over all goldens: max |d| / tolerance; max |d| / |ref| where rtol |ref| >= atol (the relative
 * regime) and where |ref| is a normal float (>= 2^-126: informative, no check). */
static double g_worst_ratio, g_worst_rel, g_worst_rel_normal;

static double max_abs_f(const float *x, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)x[i]));
  return m;
}

static double softplus(double x) { return x > 20.0 ? x : log1p(exp(x)); }

/* got[n] (float) against ref[n] (double); one failed check naming the worst element. */
static void check_gold(const char *what, const float *got, const double *ref, size_t n, double atol, double rtol) {
  size_t bad = 0, worst = 0;
  double wr = -1;
  for (size_t i = 0; i < n; i++) {
    const double d = fabs((double)got[i] - ref[i]), tol = atol + rtol * fabs(ref[i]);
    if (!(d <= tol)) bad++;
    const double r = d / tol;
    if (r > wr || isnan(r)) wr = r, worst = i;
    if (rtol * fabs(ref[i]) >= atol) g_worst_rel = fmax(g_worst_rel, d / fabs(ref[i]));
    if (fabs(ref[i]) >= 0x1p-126) g_worst_rel_normal = fmax(g_worst_rel_normal, d / fabs(ref[i]));
  }
  g_worst_ratio = fmax(g_worst_ratio, wr);
  PB_CHECK_MSG(bad == 0, "%s: %zu of %zu out of tolerance; worst [%zu] got %.9g ref %.17g (atol %.3g rtol %.3g)", what,
               bad, n, worst, (double)got[worst], ref[worst], atol, rtol);
}

/* The term scales of the tolerance (file comment). */
static double rubi_m(const dg_case *c) {
  const size_t nk = (size_t)c->n * c->k;
  return 1.0 + fmax(max_abs_f(c->f, nk), max_abs_f(c->x2, nk));
}
static double mixin_m(const dg_case *c) {
  const size_t nk = (size_t)c->n * c->k;
  double cmax = 0;
  for (int i = 0; i < c->n; i++) cmax = fmax(cmax, softplus(c->a[i]));
  return 1.0 + max_abs_f(c->f, nk) + cmax * max_abs_f(c->x2, nk);
}
static double mixin_sda(const dg_case *c) {
  return max_abs_f(c->x2, (size_t)c->n * c->k) *
         (2.0 * c->scale + 2.0 * c->scale2 * (1.0 + log((double)c->k)));
}

static void golden_rubi(const dg_case *c) {
  const size_t nk = (size_t)c->n * c->k;
  float loss[2] = {-7.0f, -7.0f}, *df = malloc(nk * sizeof(float)), *dh = malloc(nk * sizeof(float));
  for (size_t e = 0; e < nk; e++) df[e] = dh[e] = 99.0f; /* overwritten */
  pb_rubi_loss_cpu(loss, df, dh, c->f, c->x2, c->labels, c->n, c->k, c->scale, c->scale2);
  char w[96];
  snprintf(w, sizeof w, "rubi %s loss", c->name);
  check_gold(w, loss, c->loss, 2, GOLD_ATOL_LOSS * c->n * rubi_m(c), GOLD_RTOL);
  snprintf(w, sizeof w, "rubi %s df", c->name);
  check_gold(w, df, c->d1, nk, GOLD_ATOL_GRAD * c->scale + GOLD_FLOOR, GOLD_RTOL);
  snprintf(w, sizeof w, "rubi %s dh", c->name);
  const double sdh = c->scale * (1.0 + max_abs_f(c->f, nk)) + c->scale2;
  check_gold(w, dh, c->d2, nk, GOLD_ATOL_GRAD * sdh + GOLD_FLOOR, GOLD_RTOL);
  double ed = 0, eh = 0;
  for (size_t e = 0; e < nk; e++) ed = fmax(ed, fabs(df[e] - c->d1[e])), eh = fmax(eh, fabs(dh[e] - c->d2[e]));
  printf("  rubi  %-10s n=%-3d k=%-3d loss %.9g %.9g (|diff| %.2g %.2g)  max|diff| df %.2g dh %.2g\n", c->name, c->n,
         c->k, (double)loss[0], (double)loss[1], fabs(loss[0] - c->loss[0]), fabs(loss[1] - c->loss[1]), ed, eh);
  free(df), free(dh);
}

static void golden_mixin(const dg_case *c) {
  const size_t nk = (size_t)c->n * c->k;
  float loss[2] = {-7.0f, -7.0f}, *df = malloc(nk * sizeof(float)), *da = malloc(c->n * sizeof(float));
  for (size_t e = 0; e < nk; e++) df[e] = 99.0f;
  for (int i = 0; i < c->n; i++) da[i] = 99.0f;
  pb_mixin_loss_cpu(loss, df, da, c->f, c->x2, c->a, c->labels, c->n, c->k, c->scale, c->scale2);
  char w[96];
  snprintf(w, sizeof w, "mixin %s loss", c->name);
  check_gold(w, loss, c->loss, 2, GOLD_ATOL_LOSS * c->n * mixin_m(c), GOLD_RTOL);
  snprintf(w, sizeof w, "mixin %s df", c->name);
  check_gold(w, df, c->d1, nk, GOLD_ATOL_GRAD * c->scale + GOLD_FLOOR, GOLD_RTOL);
  snprintf(w, sizeof w, "mixin %s da", c->name);
  check_gold(w, da, c->d2, (size_t)c->n, GOLD_ATOL_GRAD * mixin_sda(c) + GOLD_FLOOR, GOLD_RTOL);
  double ed = 0, ea = 0;
  for (size_t e = 0; e < nk; e++) ed = fmax(ed, fabs(df[e] - c->d1[e]));
  for (int i = 0; i < c->n; i++) ea = fmax(ea, fabs(da[i] - c->d2[i]));
  printf("  mixin %-10s n=%-3d k=%-3d loss %.9g %.9g (|diff| %.2g %.2g)  max|diff| df %.2g da %.2g\n", c->name, c->n,
         c->k, (double)loss[0], (double)loss[1], fabs(loss[0] - c->loss[0]), fabs(loss[1] - c->loss[1]), ed, ea);
  free(df), free(da);
}

/* ------------------------------------------------------------------ finite differences */

/* J = scale L0 + scale2 L1 of one op call on (f, x2, a); also its noise bound (1 ulp of each). */
static double fd_eval(int mixin, const dg_case *c, const float *f, const float *x2, const float *a, double *ulps) {
  float loss[2];
  if (mixin)
    pb_mixin_loss_cpu(loss, NULL, NULL, f, x2, a, c->labels, c->n, c->k, c->scale, c->scale2);
  else
    pb_rubi_loss_cpu(loss, NULL, NULL, f, x2, c->labels, c->n, c->k, c->scale, c->scale2);
  if (ulps)
    *ulps = c->scale * (nextafterf(fabsf(loss[0]), INFINITY) - fabsf(loss[0])) +
            c->scale2 * (nextafterf(fabsf(loss[1]), INFINITY) - fabsf(loss[1]));
  return c->scale * (double)loss[0] + c->scale2 * (double)loss[1];
}

/* Central differences of J on every element of x[len] (one of the case's inputs, perturbed in a
 * copy) against the analytic gradient an[len]. Returns the worst |fd - an| / tolerance. */
static double fd_check(const char *what, int mixin, const dg_case *c, float *f, float *x2, float *a, float *x,
                       const float *an, size_t len) {
  double worst = 0, emax = 0;
  size_t bad = 0;
  for (size_t e = 0; e < len; e++) {
    const float keep = x[e], xp = (float)(keep + FD_H), xm = (float)(keep - FD_H);
    double up, um;
    x[e] = xp;
    const double jp = fd_eval(mixin, c, f, x2, a, &up);
    x[e] = xm;
    const double jm = fd_eval(mixin, c, f, x2, a, &um);
    x[e] = keep;
    const double step = (double)xp - (double)xm, fd = (jp - jm) / step;
    const double tol = (up + um) / step + FD_ATOL + FD_RTOL * fabs((double)an[e]);
    const double d = fabs(fd - (double)an[e]);
    if (!(d <= tol) && bad++ == 0)
      fprintf(stderr, "FAIL %s [%zu]: finite difference %.9g analytic %.9g (tol %.3g)\n", what, e, fd, (double)an[e],
              tol);
    worst = fmax(worst, d / tol), emax = fmax(emax, d);
  }
  PB_CHECK_MSG(bad == 0, "%s: %zu of %zu elements off their finite difference", what, bad, len);
  printf("  fd %-22s max |fd - analytic| %.2g (worst / tol %.2f)\n", what, emax, worst);
  return worst;
}

/* A golden case's inputs with scale = scale2 = 1 (O(1) gradients against the FD noise). */
static void fd_case(int mixin, const dg_case *g) {
  dg_case c = *g;
  c.scale = 1.0f, c.scale2 = mixin ? 0.36f : 1.0f;
  const size_t nk = (size_t)c.n * c.k;
  float *f = malloc(nk * sizeof(float)), *x2 = malloc(nk * sizeof(float)), *a = malloc(c.n * sizeof(float));
  float *d1 = malloc(nk * sizeof(float)), *d2 = malloc(nk * sizeof(float)), loss[2];
  memcpy(f, c.f, nk * sizeof(float)), memcpy(x2, c.x2, nk * sizeof(float));
  if (mixin) memcpy(a, c.a, c.n * sizeof(float));
  char w[64];
  if (mixin) {
    pb_mixin_loss_cpu(loss, d1, d2, f, x2, a, c.labels, c.n, c.k, c.scale, c.scale2);
    snprintf(w, sizeof w, "mixin %s df", c.name);
    fd_check(w, 1, &c, f, x2, a, f, d1, nk);
    snprintf(w, sizeof w, "mixin %s da", c.name);
    fd_check(w, 1, &c, f, x2, a, a, d2, (size_t)c.n);
  } else {
    pb_rubi_loss_cpu(loss, d1, d2, f, x2, c.labels, c.n, c.k, c.scale, c.scale2);
    snprintf(w, sizeof w, "rubi %s df", c.name);
    fd_check(w, 0, &c, f, x2, NULL, f, d1, nk);
    snprintf(w, sizeof w, "rubi %s dh", c.name);
    fd_check(w, 0, &c, f, x2, NULL, x2, d2, nk);
  }
  free(f), free(x2), free(a), free(d1), free(d2);
}

static const dg_case *find_case(const dg_case *cs, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (!strcmp(cs[i].name, name)) return &cs[i];
  PB_CHECK_MSG(0, "golden case %s not in %s", name, DG_FIXTURE);
  exit(1);
}

/* ------------------------------------------------------------------ missing labels, NULL gradients */

static int same_bits(const void *a, const void *b, size_t bytes) { return memcmp(a, b, bytes) == 0; }

static void missing_labels(int mixin, const dg_case *c) {
  const int n = c->n, k = c->k;
  const size_t nk = (size_t)n * k;
  int32_t *lab = malloc(n * sizeof(int32_t)), *clab = malloc(n * sizeof(int32_t));
  float *cf = malloc(nk * 4), *cx = malloc(nk * 4), *ca = malloc(n * 4);
  float *d1 = malloc(nk * 4), *d2 = malloc(nk * 4), *e1 = malloc(nk * 4), *e2 = malloc(nk * 4);
  int m = 0;
  for (int i = 0; i < n; i++) {
    lab[i] = (i % 3 == 1) ? -1 : c->labels[i];
    if (lab[i] < 0) continue;
    memcpy(cf + (size_t)m * k, c->f + (size_t)i * k, k * 4), memcpy(cx + (size_t)m * k, c->x2 + (size_t)i * k, k * 4);
    if (mixin) ca[m] = c->a[i];
    clab[m++] = lab[i];
  }
  for (size_t e = 0; e < nk; e++) d1[e] = d2[e] = 99.0f;
  float loss[2], closs[2];
  if (mixin) {
    pb_mixin_loss_cpu(loss, d1, d2, c->f, c->x2, c->a, lab, n, k, c->scale, c->scale2);
    pb_mixin_loss_cpu(closs, e1, e2, cf, cx, ca, clab, m, k, c->scale, c->scale2);
  } else {
    pb_rubi_loss_cpu(loss, d1, d2, c->f, c->x2, lab, n, k, c->scale, c->scale2);
    pb_rubi_loss_cpu(closs, e1, e2, cf, cx, clab, m, k, c->scale, c->scale2);
  }
  PB_CHECK_MSG(same_bits(loss, closs, sizeof loss), "%s missing labels: loss %.9g %.9g, labelled rows alone %.9g %.9g",
               c->name, (double)loss[0], (double)loss[1], (double)closs[0], (double)closs[1]);
  const size_t w2 = mixin ? 1 : (size_t)k; /* da has one element per row */
  size_t bad = 0;
  int r = 0;
  for (int i = 0; i < n; i++) {
    if (lab[i] < 0) {
      for (int j = 0; j < k; j++) bad += !same_bits(&d1[(size_t)i * k + j], &(float){0.0f}, 4);
      for (size_t j = 0; j < w2; j++) bad += !same_bits(&d2[i * w2 + j], &(float){0.0f}, 4);
      continue;
    }
    bad += !same_bits(d1 + (size_t)i * k, e1 + (size_t)r * k, (size_t)k * 4);
    bad += !same_bits(d2 + i * w2, e2 + r * w2, w2 * 4);
    r++;
  }
  PB_CHECK_MSG(bad == 0, "%s missing labels: %zu gradient rows / elements differ", c->name, bad);
  /* NULL gradients: the same losses, the other gradient bitwise */
  float l2[2];
  memset(e1, 0, nk * 4), memset(e2, 0, nk * 4);
  if (mixin) {
    pb_mixin_loss_cpu(l2, NULL, e2, c->f, c->x2, c->a, lab, n, k, c->scale, c->scale2);
    bad = !same_bits(l2, loss, 8) + !same_bits(e2, d2, (size_t)n * 4);
    pb_mixin_loss_cpu(l2, e1, NULL, c->f, c->x2, c->a, lab, n, k, c->scale, c->scale2);
    bad += !same_bits(l2, loss, 8) + !same_bits(e1, d1, nk * 4);
    pb_mixin_loss_cpu(l2, NULL, NULL, c->f, c->x2, c->a, lab, n, k, c->scale, c->scale2);
  } else {
    pb_rubi_loss_cpu(l2, NULL, e2, c->f, c->x2, lab, n, k, c->scale, c->scale2);
    bad = !same_bits(l2, loss, 8) + !same_bits(e2, d2, nk * 4);
    pb_rubi_loss_cpu(l2, e1, NULL, c->f, c->x2, lab, n, k, c->scale, c->scale2);
    bad += !same_bits(l2, loss, 8) + !same_bits(e1, d1, nk * 4);
    pb_rubi_loss_cpu(l2, NULL, NULL, c->f, c->x2, lab, n, k, c->scale, c->scale2);
  }
  bad += !same_bits(l2, loss, 8);
  PB_CHECK_MSG(bad == 0, "%s: NULL gradient pointers change %zu results", c->name, bad);
  /* every row missing, and n = 0: loss {0, 0} (overwritten) */
  for (int i = 0; i < n; i++) lab[i] = -1 - i % 2;
  l2[0] = l2[1] = 5.0f;
  if (mixin)
    pb_mixin_loss_cpu(l2, d1, d2, c->f, c->x2, c->a, lab, n, k, c->scale, c->scale2);
  else
    pb_rubi_loss_cpu(l2, d1, d2, c->f, c->x2, lab, n, k, c->scale, c->scale2);
  PB_CHECK_MSG(l2[0] == 0.0f && l2[1] == 0.0f, "%s all missing: loss %g %g", c->name, (double)l2[0], (double)l2[1]);
  PB_CHECK_MSG(max_abs_f(d1, nk) == 0 && max_abs_f(d2, mixin ? (size_t)n : nk) == 0, "%s all missing: gradients not 0",
               c->name);
  l2[0] = l2[1] = 5.0f;
  if (mixin)
    pb_mixin_loss_cpu(l2, NULL, NULL, NULL, NULL, NULL, NULL, 0, k, c->scale, c->scale2);
  else
    pb_rubi_loss_cpu(l2, NULL, NULL, NULL, NULL, NULL, 0, k, c->scale, c->scale2);
  PB_CHECK_MSG(l2[0] == 0.0f && l2[1] == 0.0f, "%s n = 0: loss %g %g", c->name, (double)l2[0], (double)l2[1]);
  printf("  missing labels %-10s %d of %d rows labelled: bitwise the labelled rows alone\n", c->name, m, n);
  free(lab), free(clab), free(cf), free(cx), free(ca), free(d1), free(d2), free(e1), free(e2);
}

int main(void) {
  dg_set gs;
  pb_err err = {{0}};
  if (dg_load(&gs, &err)) {
    fprintf(stderr, "FAIL: %s\n", err.msg);
    return 1;
  }
  printf("goldens (PyTorch float64 autograd, released ReBias forward):\n");
  for (int i = 0; i < gs.nrubi; i++) golden_rubi(&gs.rubi[i]);
  for (int i = 0; i < gs.nmixin; i++) golden_mixin(&gs.mixin[i]);
  printf("  worst |diff| / tolerance %.3g; worst |diff| / |ref|: %.3g where rtol |ref| >= atol, %.3g where |ref| >= "
         "2^-126\n", g_worst_ratio, g_worst_rel, g_worst_rel_normal);
  printf("finite differences (step %g, scale 1):\n", FD_H);
  fd_case(0, find_case(gs.rubi, gs.nrubi, "r_n4_k2"));
  fd_case(0, find_case(gs.rubi, gs.nrubi, "r_n1_k37"));
  fd_case(1, find_case(gs.mixin, gs.nmixin, "m_n4_k2"));
  fd_case(1, find_case(gs.mixin, gs.nmixin, "m_n1_k37"));
  printf("missing labels, NULL gradients, n = 0:\n");
  missing_labels(0, find_case(gs.rubi, gs.nrubi, "r_n64_k10"));
  missing_labels(1, find_case(gs.mixin, gs.nmixin, "m_n64_k10"));
  dg_free(&gs);
  return pb_test_exit("test_golden_debias");
}
