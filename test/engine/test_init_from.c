/* test_init_from.c: [model] init_from (pb_ckpt_init_from, engine/trainers/checkpoint.c): a plumb
 * checkpoint of a cifar_resnet loads into the same model; a model with another number of classes
 * is refused with a message naming the mis-shaped fc tensors, and loads with init_exclude =
 * fc.*; missing and unexpected tensors are named. */
#include <string.h>

#include "engine/trainers/checkpoint.h"
#include "test/testutil.h"

static pb_model *build(pb_ctx *ctx, const char *classes) {
  pb_err err = {{0}};
  pb_config *cfg = pb_config_new();
  PB_ASSERT(pb_config_set(cfg, "model.arch=cifar_resnet", &err) == PB_OK);
  PB_ASSERT(pb_config_set(cfg, "model.depth=8", &err) == PB_OK);
  PB_ASSERT(pb_config_set(cfg, classes, &err) == PB_OK);
  int in[3] = {3, 8, 8};
  pb_model *m = pb_model_build(cfg, ctx, in, 2, 3, 1, &err);
  PB_ASSERT(m);
  pb_config_free(cfg);
  return m;
}

int main(void) {
  pb_err err = {{0}};
  pb_ctx ctx;
  PB_ASSERT(pb_ctx_init(&ctx, "cpu", 1, 0, 0, &err) == PB_OK);
  char base[4200], path[4300], bad[4300];
  snprintf(base, sizeof base, "%s/ck", pb_test_tmpdir("test_init_from"));
  snprintf(path, sizeof path, "%s.safetensors", base);
  pb_model *a = build(&ctx, "model.num_classes=10");
  PB_CHECK(pb_ckpt_save(base, a, NULL, NULL, 0, &err) == PB_OK);

  /* the same model: loads, the weights are equal */
  pb_model *b = build(&ctx, "model.num_classes=10");
  pb_model_init(b, 99);
  char sum[1200];
  PB_CHECK(pb_ckpt_init_from(path, "", b, sum, sizeof sum, &err) == PB_OK);
  printf("%s\n", sum);
  PB_CHECK(memcmp(a->params, b->params, a->nparams * sizeof(float)) == 0);

  /* 5 classes: fc is mis-shaped, named; excluded, it loads and fc keeps its own init */
  pb_model *c = build(&ctx, "model.num_classes=5");
  PB_CHECK(pb_ckpt_init_from(path, "", c, sum, sizeof sum, &err) == PB_ERR);
  printf("expected error: %s\n", err.msg);
  PB_CHECK(strstr(err.msg, "fc.weight (file F32 [10, 64], model F32 [5, 64])") != NULL);
  PB_CHECK(strstr(err.msg, "fc.bias") != NULL && strstr(err.msg, "init_exclude") != NULL);
  PB_CHECK(pb_ckpt_init_from(path, "fc.*", c, sum, sizeof sum, &err) == PB_OK);
  printf("%s\n", sum);
  PB_CHECK(strstr(sum, "2 left at their initialisation") != NULL);
  PB_CHECK(memcmp(pb_model_find(c, "conv1.weight")->data, pb_model_find(a, "conv1.weight")->data, 16 * 27) == 0);

  /* missing and unexpected: a file without layer1.0.conv1.weight and with an extra tensor */
  pb_st_tensor t[400];
  int nt = 0;
  float extra[4] = {0};
  for (int i = 0; i < pb_model_ntensors(a); i++) {
    pb_param *p = pb_model_tensor(a, i);
    if (!strcmp(p->name, "layer1.0.conv1.weight")) continue;
    memset(&t[nt], 0, sizeof t[nt]);
    t[nt].name = p->name;
    t[nt].ndim = p->ndim;
    for (int d = 0; d < p->ndim; d++) t[nt].shape[d] = p->shape[d];
    t[nt].dtype = p->kind == PB_PARAM_COUNTER ? PB_ST_I64 : PB_ST_F32;
    t[nt].data = p->kind == PB_PARAM_COUNTER ? (void *)&p->counter : (void *)p->data;
    t[nt].nbytes = p->kind == PB_PARAM_COUNTER ? 8 : p->numel * 4;
    nt++;
  }
  memset(&t[nt], 0, sizeof t[nt]);
  t[nt].name = "head.extra";
  t[nt].ndim = 1;
  t[nt].shape[0] = 4;
  t[nt].dtype = PB_ST_F32;
  t[nt].data = extra;
  t[nt].nbytes = sizeof extra;
  nt++;
  snprintf(bad, sizeof bad, "%s/bad.safetensors", pb_test_tmpdir("test_init_from"));
  PB_CHECK(pb_st_write(bad, t, nt, NULL, 0, &err) == PB_OK);
  PB_CHECK(pb_ckpt_init_from(bad, "", b, sum, sizeof sum, &err) == PB_ERR);
  printf("expected error: %s\n", err.msg);
  PB_CHECK(strstr(err.msg, "1 missing tensor(s) (layer1.0.conv1.weight)") != NULL);
  PB_CHECK(strstr(err.msg, "1 unexpected tensor(s) (head.extra)") != NULL);
  PB_CHECK(pb_ckpt_init_from(bad, "layer1.0.conv1.*,head.*", b, sum, sizeof sum, &err) == PB_OK);

  pb_model_free(a);
  pb_model_free(b);
  pb_model_free(c);
  pb_ctx_free(&ctx);
  return pb_test_exit("test_init_from");
}
