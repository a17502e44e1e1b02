/* test_simpleconvnet_golden.c: ReBias's SimpleConvNet (kernel 7) built by plumb from a config,
 * loaded with PyTorch's weights, against PyTorch's forward (training mode), loss, every
 * parameter gradient and the updated BN running statistics
 * (fixture: scripts/fixtures/gen_simpleconvnet.py -> test/fixtures/simpleconvnet_golden.safetensors).
 *
 * Tolerances: float32 with other summation orders through 4 conv+BN layers (kernel 7, sums of
 * up to 7*7*64 = 3136 products): logits and loss atol 1e-4 rtol 1e-4; gradients atol 1e-4
 * rtol 2e-3 (BN backward subtracts means of products, which loses a few digits);
 * running stats atol 1e-5 rtol 1e-4. */
#include <string.h>

#include "engine/model.h"
#include "engine/safetensors.h"
#include "kernels/ops.h"
#include "test/testutil.h"

int main(void) {
  pb_err err = {{0}};
  pb_st_file f;
  if (pb_st_read(&f, pb_test_fixture("simpleconvnet_golden.safetensors"), &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  pb_config *cfg = pb_config_new();
  PB_CHECK(pb_config_set(cfg, "model.arch=simpleconvnet", &err) == PB_OK);
  PB_CHECK(pb_config_set(cfg, "model.kernel_size=7", &err) == PB_OK);
  pb_ctx ctx;
  PB_CHECK(pb_ctx_init(&ctx, "cpu", 2, 0, 0, &err) == PB_OK);
  const pb_st_tensor *in = pb_st_find(&f, "input"), *lab = pb_st_find(&f, "labels");
  PB_ASSERT(in && lab && in->ndim == 4);
  int n = (int)in->shape[0];
  int shape[3] = {(int)in->shape[1], (int)in->shape[2], (int)in->shape[3]};
  pb_model *m = pb_model_from_config(cfg, &ctx, shape, n, 1, &err);
  PB_ASSERT(m);

  /* Every model tensor comes from the fixture under the same PyTorch name. */
  for (int i = 0; i < pb_model_ntensors(m); i++) {
    pb_param *p = pb_model_tensor(m, i);
    const pb_st_tensor *t = pb_st_find(&f, p->name);
    PB_CHECK_MSG(t != NULL, "fixture lacks %s", p->name);
    if (!t) continue;
    if (p->kind == PB_PARAM_COUNTER)
      memcpy(&p->counter, t->data, 8);
    else {
      PB_CHECK_MSG(t->nbytes == p->numel * 4, "%s size", p->name);
      memcpy(p->data, t->data, p->numel * 4);
    }
  }
  int32_t labels[64];
  for (int i = 0; i < n; i++) labels[i] = (int32_t)((const int64_t *)lab->data)[i];

  float *logits = pb_model_forward(m, in->data, n, 1);
  const pb_st_tensor *ref = pb_st_find(&f, "logits");
  PB_CHECK(pb_test_allclose("logits", logits, ref->data, (size_t)n * 10, 1e-4, 1e-4) == 0);
  printf("logits max |diff| %.3g\n", pb_test_max_abs_diff(logits, ref->data, (size_t)n * 10));

  float loss_sum, dlogits[64 * 10];
  pb_softmax_xent_cpu(&loss_sum, NULL, dlogits, logits, labels, n, 10, 0.0f, 1.0f / (float)n);
  float loss = loss_sum / (float)n;
  PB_CHECK(pb_test_allclose("loss", &loss, pb_st_find(&f, "loss")->data, 1, 1e-4, 1e-4) == 0);
  printf("loss plumb %.7f torch %.7f\n", loss, *(const float *)pb_st_find(&f, "loss")->data);

  pb_model_zero_grad(m);
  pb_model_backward(m, dlogits, n);
  int ngrad = 0;
  for (int i = 0; i < pb_model_ntensors(m); i++) {
    pb_param *p = pb_model_tensor(m, i);
    char key[160];
    if (p->kind == PB_PARAM_TRAINABLE) {
      snprintf(key, sizeof key, "grad.%s", p->name);
      const pb_st_tensor *g = pb_st_find(&f, key);
      PB_CHECK_MSG(g != NULL, "fixture lacks %s", key);
      if (!g) continue;
      PB_CHECK(pb_test_allclose(key, p->grad, g->data, p->numel, 1e-4, 2e-3) == 0);
      printf("%-28s max |diff| %.3g\n", key, pb_test_max_abs_diff(p->grad, g->data, p->numel));
      ngrad++;
    } else if (p->kind == PB_PARAM_BUFFER) {
      snprintf(key, sizeof key, "after.%s", p->name);
      const pb_st_tensor *b = pb_st_find(&f, key);
      PB_CHECK_MSG(b != NULL, "fixture lacks %s", key);
      if (b) PB_CHECK(pb_test_allclose(key, p->data, b->data, p->numel, 1e-5, 1e-4) == 0);
    }
  }
  PB_CHECK(ngrad == 18); /* 4 x (conv w, conv b, bn w, bn b) + fc (w, b) */
  pb_model_free(m);
  pb_ctx_free(&ctx);
  pb_config_free(cfg);
  pb_st_free(&f);
  return pb_test_exit("test_simpleconvnet_golden");
}
