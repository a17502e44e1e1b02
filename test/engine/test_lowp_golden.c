/* test_lowp_golden.c: [run] precision = bf16 / fp16 (engine/device/lowp.h) against PyTorch with
 * the same rounding written out explicitly (scripts/fixtures/gen_lowp_golden.py ->
 * test/fixtures/lowp_golden.safetensors): simplecnn (channels 8,16; 5 classes), 8 x 1 x 16 x 16,
 * one training forward, cross-entropy and backward, fp16 with the loss scale 1024.
 *
 * Checks, per precision P: plumb's logits, loss and every parameter's gradient against the
 * reference's P. The two sides sum in other orders (OpenBLAS / plumb's convolution against
 * oneDNN), so a sum near a rounding boundary can land on the neighbouring half-precision value
 * on one side; so tolerances are relative L2 distances, stated below, and the discriminating
 * check is that plumb's P is much closer to the reference's P than to the reference's float32:
 * the roundings are the same ones, not merely "some rounding". fp32 against fp32 is the
 * baseline (summation order only). */
#include <math.h>
#include <string.h>

#include "engine/device/backend.h"
#include "engine/device/lowp.h"
#include "engine/models/model.h"
#include "engine/models/safetensors.h"
#include "engine/trainers/trainer.h"
#include "test/testutil.h"

static const pb_st_tensor *need(const pb_st_file *f, const char *key) {
  const pb_st_tensor *t = pb_st_find(f, key);
  if (!t) PB_FATAL("fixture lacks %s", key);
  return t;
}

static double rel(const float *a, const float *b, size_t n) { return pb_test_rel_l2(a, b, n); }

/* plumb's logits, loss and gradients in precision prec; compared with fmt's and fp32's. */
static void check(const pb_st_file *f, int prec, const char *fmt, double tol_logits, double tol_grad) {
  pb_ctx ctx;
  pb_err err = {{0}};
  PB_ASSERT(pb_ctx_init(&ctx, "cpu", 2, 1, 0, &err) == PB_OK);
  float S = prec == PB_PREC_FP16 ? 1024.0f : 1.0f;
  if (prec == PB_PREC_BF16 || prec == PB_PREC_FP16) pb_lowp_enable(&ctx, prec, S, 2000);
  pb_config *cfg = pb_config_new();
  PB_ASSERT(pb_config_set(cfg, "model.arch=simplecnn", &err) == PB_OK);
  PB_ASSERT(pb_config_set(cfg, "model.channels=8,16", &err) == PB_OK);
  PB_ASSERT(pb_config_set(cfg, "model.num_classes=5", &err) == PB_OK);
  const int n = 8, in[3] = {1, 16, 16};
  pb_model *m = pb_model_build(cfg, &ctx, in, n, 1, 0, &err);
  if (!m) PB_FATAL("%s", err.msg);
  pb_trainer *t = pb_trainer_from_config(cfg, m, 10, 1, &err);
  if (!t) PB_FATAL("%s", err.msg);
  for (int i = 0; i < pb_model_ntensors(m); i++) {
    pb_param *p = pb_model_tensor(m, i);
    if (p->kind != PB_PARAM_TRAINABLE) continue;
    const pb_st_tensor *w = need(f, p->name);
    PB_ASSERT(w->nbytes == p->numel * sizeof(float));
    memcpy(p->data, w->data, w->nbytes);
  }
  float x[8 * 256];
  memcpy(x, need(f, "input")->data, sizeof x);
  int32_t y[8];
  for (int i = 0; i < n; i++) y[i] = (int32_t)((const int64_t *)need(f, "labels")->data)[i];
  const float *logits = pb_model_forward(m, x, n, 1);
  pb_loss *ls = t->loss;
  pb_learner *lr = &t->learner[0];
  ls->vt->compute(ls, &ctx, (float *)logits, y, y, n, 1, lr->dout, t->pred, t->correct_acc, t->seen);
  pb_model_backward(m, lr->dout, n);
  char key[128];
  snprintf(key, sizeof key, "%s.logits", fmt);
  double dl = rel(logits, (const float *)need(f, key)->data, 40);
  double dl32 = rel(logits, (const float *)need(f, "fp32.logits")->data, 40);
  snprintf(key, sizeof key, "%s.loss", fmt);
  double loss = ls->term_loss[0] / n, want = ((const float *)need(f, key)->data)[0];
  double worst = 0, worst32 = 0;
  char worst_name[96] = "";
  for (int i = 0; i < pb_model_ntensors(m); i++) {
    pb_param *p = pb_model_tensor(m, i);
    if (p->kind != PB_PARAM_TRAINABLE) continue;
    float *g = pb_xmalloc(p->numel * sizeof(float));
    for (size_t j = 0; j < p->numel; j++) g[j] = p->grad[j] / S;
    snprintf(key, sizeof key, "%s.grad.%s", fmt, p->name);
    double d = rel(g, (const float *)need(f, key)->data, p->numel);
    snprintf(key, sizeof key, "fp32.grad.%s", p->name);
    double d32 = rel(g, (const float *)need(f, key)->data, p->numel);
    if (d > worst) worst = d, snprintf(worst_name, sizeof worst_name, "%s", p->name);
    worst32 = PB_MAX(worst32, d32);
    free(g);
  }
  printf("  %s: logits rel L2 %.3g to the reference's %s (%.3g to its fp32; tolerance %.0e); loss %.7g vs %.7g; "
         "gradients worst %.3g (%s; to fp32 %.3g; tolerance %.0e)\n",
         fmt, dl, fmt, dl32, tol_logits, loss, want, worst, worst_name, worst32, tol_grad);
  PB_CHECK_MSG(dl <= tol_logits, "%s logits: %.3g > %.0e", fmt, dl, tol_logits);
  PB_CHECK_MSG(fabs(loss - want) <= 4 * tol_logits * fabs(want), "%s loss %g vs %g", fmt, loss, want);
  PB_CHECK_MSG(worst <= tol_grad, "%s gradient of %s: %.3g > %.0e", fmt, worst_name, worst, tol_grad);
  if (prec != PB_PREC_FP32) /* the same roundings, not just any: far closer to P than to fp32 */
    PB_CHECK_MSG(dl < dl32 / 4 && worst < worst32 / 4, "%s: not closer to the reference's %s than to fp32", fmt, fmt);
  pb_trainer_free(t);
  pb_model_free(m);
  pb_config_free(cfg);
  pb_ctx_free(&ctx);
}

int main(void) {
  pb_st_file f;
  pb_err err = {{0}};
  if (pb_st_read(&f, pb_test_fixture("lowp_golden.safetensors"), &err)) PB_FATAL("%s", err.msg);
  check(&f, PB_PREC_FP32, "fp32", 1e-5, 1e-4); /* measured 3e-7 and 1.1e-6 */
  check(&f, PB_PREC_BF16, "bf16", 1e-3, 5e-3); /* measured 0 and 2.6e-4 */
  check(&f, PB_PREC_FP16, "fp16", 1e-4, 2e-3); /* measured 2e-6 and 1.8e-4 */
  pb_st_free(&f);
  return pb_test_exit("test_lowp_golden");
}
