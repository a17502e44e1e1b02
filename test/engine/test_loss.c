/* test_loss.c: the loss interface (engine/losses/): cross-entropy, BCE and the weighted sum
 * over heads, against the ops and by-hand formulas, on the CPU (the ops' CUDA twins are
 * tested against the CPU in test/kernels/test_cuda_loss.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/device/backend.h"
#include "engine/losses/loss.h"
#include "engine/models/model.h"
#include "kernels/ops.h"
#include "test/testutil.h"

#define N 4

/* sum over rows with a label of -log softmax(z)[y], and the argmax */
static double ce_sum(const float *z, const int32_t *y, int n, int k, long *labelled) {
  double s = 0;
  *labelled = 0;
  for (int i = 0; i < n; i++) {
    if (y[i] < 0) continue;
    double mx = z[i * k], e = 0;
    for (int j = 1; j < k; j++) mx = fmax(mx, z[i * k + j]);
    for (int j = 0; j < k; j++) e += exp(z[i * k + j] - mx);
    s += -(z[i * k + y[i]] - mx - log(e));
    (*labelled)++;
  }
  return s;
}

static void test_xent(pb_ctx *ctx) {
  const int k = 3;
  float z[N * k], d[N * k], ref_d[N * k], ref_l;
  int32_t y[N] = {0, 2, 1, 2}, pred[N];
  pb_test_fill_uniform(z, N * k, -2, 2, 5);
  pb_err err = {{0}};
  pb_loss *l = pb_loss_xent(ctx, k, 0.1f, N, &err);
  PB_ASSERT(l && l->nterms == 1 && l->term[0].name[0] == 0);
  int correct = 0;
  long seen = 0;
  l->vt->compute(l, ctx, z, y, y, N, 2, d, pred, &correct, &seen);
  pb_softmax_xent_cpu(&ref_l, NULL, ref_d, z, y, N, k, 0.1f, 1.0f / (N * 2.0f));
  PB_CHECK_MSG(l->term_loss[0] == ref_l, "ce loss %g vs %g", l->term_loss[0], ref_l);
  PB_CHECK(memcmp(d, ref_d, sizeof d) == 0); /* the same op, the same scale: bit for bit */
  int32_t ref_pred[N];
  int ref_correct = 0;
  pb_argmax_count_cpu(ref_pred, &ref_correct, z, y, N, k);
  PB_CHECK(memcmp(pred, ref_pred, sizeof pred) == 0 && correct == ref_correct && seen == N);
  /* test-time views: two identical views average to the plain softmax */
  float zz[2 * N * k];
  for (int i = 0; i < N; i++)
    for (int v = 0; v < 2; v++) memcpy(zz + ((size_t)i * 2 + v) * k, z + (size_t)i * k, k * sizeof(float));
  pb_loss *l0 = pb_loss_xent(ctx, k, 0.0f, N, &err);
  long lab;
  double vl = l0->vt->views(l0, zz, y, N, 2, pred);
  double want = ce_sum(z, y, N, k, &lab);
  PB_CHECK_MSG(fabs(vl - want) <= 1e-5 * want, "views loss %.9g vs %.9g", vl, want);
  pb_loss_free(l0, ctx);
  pb_loss_free(l, ctx);
}

static void test_bce(pb_ctx *ctx) {
  const int k = 4;
  float z[N * k], d[N * k];
  int32_t y[N] = {3, 0, 1, 1}, pred[N];
  pb_test_fill_uniform(z, N * k, -3, 3, 6);
  pb_err err = {{0}};
  pb_loss *l = pb_loss_bce(ctx, k, N, &err);
  PB_ASSERT(l);
  l->vt->compute(l, ctx, z, y, y, N, 1, d, pred, NULL, NULL);
  double want = 0;
  for (int i = 0; i < N; i++)
    for (int j = 0; j < k; j++) {
      double x = z[i * k + j], t = j == y[i];
      want += (fmax(x, 0) - x * t + log1p(exp(-fabs(x)))) / k;
      double g = (1 / (1 + exp(-x)) - t) / (N * k);
      PB_CHECK_MSG(fabs(d[i * k + j] - g) <= 1e-6, "bce grad [%d,%d] %g vs %g", i, j, d[i * k + j], g);
    }
  PB_CHECK_MSG(fabs(l->term_loss[0] - want) <= 1e-5 * want, "bce loss %g vs %g", l->term_loss[0], want);
  pb_loss_free(l, ctx);
}

/* Two heads, head-major logits, missing labels: each head's mean over its labelled rows,
 * weighted. */
static void test_sum(pb_ctx *ctx) {
  pb_head heads[2] = {{"skin", 3, 0, 1.0f}, {"age", 2, 3, 0.5f}};
  float z[N * 5], d[N * 5];
  int32_t y[2 * N] = {0, 1, -1, 2, /* age: */ 1, -1, -1, 0}, pred[2 * N];
  pb_test_fill_uniform(z, N * 5, -2, 2, 7);
  pb_config *cfg = pb_config_new();
  pb_err err = {{0}};
  pb_loss *l = pb_loss_from_config(cfg, ctx, 5, heads, 2, N, &err);
  PB_ASSERT(l && l->nterms == 2 && l->k == 5 && !strcmp(l->term[1].name, "age") && l->term[1].weight == 0.5f);
  int correct[2] = {0, 0};
  long seen[2] = {0, 0};
  memset(d, 0xff, sizeof d);
  l->vt->compute(l, ctx, z, y, y, N, 3, d, pred, correct, seen);
  PB_CHECK(seen[0] == 3 && seen[1] == 2);
  long lab;
  double skin = ce_sum(z, y, N, 3, &lab), age = ce_sum(z + N * 3, y + N, N, 2, &lab);
  PB_CHECK_MSG(fabs(l->term_loss[0] - skin) <= 1e-5 * skin && fabs(l->term_loss[1] - age) <= 1e-5 * age,
               "head sums %g %g vs %g %g", l->term_loss[0], l->term_loss[1], skin, age);
  /* gradients: the op's with weight / (labelled * accum); a missing label's row is zero */
  float ref[N * 5], ls;
  pb_softmax_xent_cpu(&ls, NULL, ref, z, y, N, 3, 0, 1.0f / (3.0f * 3.0f));
  pb_softmax_xent_cpu(&ls, NULL, ref + N * 3, z + N * 3, y + N, N, 2, 0, 0.5f / (2.0f * 3.0f));
  PB_CHECK(memcmp(d, ref, sizeof d) == 0);
  for (int j = 0; j < 3; j++) PB_CHECK(d[2 * 3 + j] == 0.0f);
  int32_t rp[N];
  int rc0 = 0, rc1 = 0;
  pb_argmax_count_cpu(rp, &rc0, z, y, N, 3);
  PB_CHECK(memcmp(pred, rp, sizeof rp) == 0);
  pb_argmax_count_cpu(rp, &rc1, z + N * 3, y + N, N, 2);
  PB_CHECK(memcmp(pred + N, rp, sizeof rp) == 0 && correct[0] == rc0 && correct[1] == rc1);
  /* bce is for one head */
  PB_ASSERT(pb_config_set(cfg, "train.loss=bce", &err) == PB_OK);
  PB_CHECK(pb_loss_from_config(cfg, ctx, 5, heads, 2, N, &err) == NULL && strstr(err.msg, "loss = bce is for one head"));
  pb_loss_free(l, ctx);
  pb_config_free(cfg);
}

int main(void) {
  pb_err err = {{0}};
  pb_ctx ctx;
  PB_ASSERT(pb_ctx_init(&ctx, "cpu", 1, 0, 0, &err) == PB_OK);
  test_xent(&ctx);
  test_bce(&ctx);
  test_sum(&ctx);
  pb_ctx_free(&ctx);
  return pb_test_exit("test_loss");
}
