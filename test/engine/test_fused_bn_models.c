/* test_fused_bn_models.c: [run] fused_bn_train through whole models on the CPU (engine/layers/
 * resblock.c and model.c running batch norm + [residual] + ReLU as one op forward and backward,
 * pb_batchnorm_train / pb_batchnorm_train_bwd). The CPU's fused ops are the unfused chain bit for
 * bit and the blocks' new order (the shortcut first, the last batch norm adding it) is the same
 * arithmetic, so a training step with fusion is BITWISE the step without: logits, every gradient,
 * every running statistic and counter, for every arch family with batch norms (simplecnn,
 * simpleconvnet, resnet18, resnet50, seresnet50, cifar_resnet, bagnet18) in NCHW and for simplecnn,
 * resnet18, seresnet50 and bagnet18 (every block kind) in NHWC, and the parameters after three SGD
 * steps of a whole trainer. */
#include <string.h>

#include "engine/models/model.h"
#include "engine/trainers/trainer.h"
#include "test/testutil.h"

static pb_config *config(const char *arch) {
  pb_err err = {{0}};
  pb_config *cfg = pb_config_new();
  char set[96];
  snprintf(set, sizeof set, "model.arch=%s", arch);
  PB_ASSERT(pb_config_set(cfg, set, &err) == PB_OK);
  PB_ASSERT(pb_config_set(cfg, "model.num_classes=7", &err) == PB_OK);
  return cfg;
}

static void one_arch(pb_ctx *plain, pb_ctx *fused, const char *arch, int hw) {
  const int in[3] = {3, hw, hw}, n = 4;
  pb_err err = {{0}};
  pb_config *cfg = config(arch);
  pb_model *a = pb_model_build(cfg, plain, in, n, 5, 0, &err), *b = pb_model_build(cfg, fused, in, n, 5, 0, &err);
  PB_ASSERT(a && b);
  pb_trainer *ta = pb_trainer_from_config(cfg, a, 100, 1, &err), *tb = pb_trainer_from_config(cfg, b, 100, 1, &err);
  if (!ta || !tb) PB_FATAL("%s: %s", arch, err.msg);
  size_t cnt = (size_t)n * 3 * hw * hw, k = (size_t)pb_model_out(a)[0];
  float *x = pb_xmalloc(cnt * sizeof(float)), *dl = pb_xmalloc((size_t)n * k * sizeof(float));
  int32_t y[4] = {0, 3, 6, 2}; /* CPU contexts: host memory is the device's */
  /* one forward and backward: everything bitwise */
  pb_test_fill_uniform(x, cnt, -1, 1, 7);
  pb_test_fill_uniform(dl, (size_t)n * k, -1, 1, 8);
  const float *ya = pb_model_forward(a, x, n, 1), *yb = pb_model_forward(b, x, n, 1);
  PB_CHECK_MSG(!memcmp(ya, yb, (size_t)n * k * sizeof(float)), "%s %s: training logits differ", arch,
               plain->nhwc ? "nhwc" : "nchw");
  pb_model_zero_grad(a), pb_model_zero_grad(b);
  pb_model_backward(a, dl, n), pb_model_backward(b, dl, n);
  PB_CHECK_MSG(!memcmp(a->grads, b->grads, a->nparams * sizeof(float)), "%s: gradients differ", arch);
  PB_CHECK_MSG(!memcmp(a->buffers, b->buffers, a->nbuffers * sizeof(float)), "%s: running statistics differ", arch);
  for (int i = 0; i < pb_model_ntensors(a); i++)
    if (pb_model_tensor(a, i)->kind == PB_PARAM_COUNTER)
      PB_CHECK(pb_model_tensor(a, i)->counter == pb_model_tensor(b, i)->counter);
  /* three steps of the plain trainer (loss, backward, SGD): the parameters stay bitwise equal */
  for (int s = 0; s < 3; s++) {
    pb_test_fill_uniform(x, cnt, -1, 1, 20 + (uint64_t)s);
    pb_trainer_micro(ta, x, y, y, n, 1), pb_trainer_micro(tb, x, y, y, n, 1);
  }
  PB_CHECK_MSG(pb_trainer_step(ta) == 3 && pb_trainer_step(tb) == 3, "%s: the trainers did not step", arch);
  PB_CHECK_MSG(!memcmp(a->params, b->params, a->nparams * sizeof(float)), "%s: parameters after 3 steps differ", arch);
  printf("  %-13s %s 3x%dx%d: one step and three trainer steps bitwise the unfused chain\n", arch,
         plain->nhwc ? "nhwc" : "nchw", hw, hw);
  free(x), free(dl);
  pb_trainer_free(ta), pb_trainer_free(tb);
  pb_model_free(a), pb_model_free(b);
  pb_config_free(cfg);
}

int main(void) {
  const char *archs[] = {"simplecnn", "simpleconvnet", "resnet18", "resnet50", "seresnet50", "cifar_resnet", "bagnet18"};
  const int sizes[] = {16, 16, 32, 32, 32, 32, 48};
  const int in_nhwc[] = {1, 0, 1, 0, 1, 0, 1}; /* channels last: one of each block kind (time) */
  for (int layout = 0; layout < 2; layout++) {
    pb_ctx plain, fused;
    pb_err err = {{0}};
    PB_ASSERT(pb_ctx_init(&plain, "cpu", 2, 1, 0, &err) == PB_OK && pb_ctx_init(&fused, "cpu", 2, 1, 0, &err) == PB_OK);
    fused.fused_bn = 1, plain.fused_bn = 0;
    plain.nhwc = fused.nhwc = layout;
    for (int i = 0; i < 7; i++)
      if (!layout || in_nhwc[i]) one_arch(&plain, &fused, archs[i], sizes[i]);
    pb_ctx_free(&plain), pb_ctx_free(&fused);
  }
  return pb_test_exit("test_fused_bn_models");
}
