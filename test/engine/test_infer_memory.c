/* test_infer_memory.c: the inference-only plan (engine/models/model.c, place_infer; model.h),
 * where one arena holds every layer's output at alternating ends with each layer's work between,
 * batch norm and ReLU run in place, and residual blocks run their lean evaluation
 * (engine/layers/resblock.c, block_eval).
 *
 *  1. Same results: for every arch family (mlp with dropout, simplecnn, simpleconvnet, resnet18,
 *     resnet50, seresnet50, cifar_resnet, bagnet18) with random weights AND random running
 *     statistics, the inference-only model's outputs are BITWISE those of the training-planned
 *     model's evaluation forward, for the full batch and a smaller one, and the input is left
 *     untouched (also by a model whose FIRST layer is a batch norm, which must not run in place
 *     over the caller's input).
 *  2. No overlap: for every layer that makes a tensor, its input, its output and its work lie
 *     inside the arena and do not overlap.
 *  3. The size is the widest single layer, from shapes computed here by hand (224 x 224, one
 *     image): resnet50's layer1.0 (x 64x56x56 + y 256x56x56 + the downsample's 256x56x56 in the
 *     work) = 1,806,336 floats; resnet18's stem max pool (64x112x112 in, 64x56x56 out) =
 *     1,003,520. The old plan (two buffers of the largest tensor plus 3 R of work per block) held
 *     2 x 802,816 + 3 x 802,816 floats for resnet50. */
#include <math.h>
#include <string.h>

#include "engine/models/model.h"
#include "test/testutil.h"

static pb_model *build(pb_ctx *ctx, const char *arch, const int in[3], int n, int infer) {
  pb_err err = {{0}};
  pb_config *cfg = pb_config_new();
  char set[96];
  snprintf(set, sizeof set, "model.arch=%s", arch);
  PB_ASSERT(pb_config_set(cfg, set, &err) == PB_OK);
  PB_ASSERT(pb_config_set(cfg, "model.num_classes=7", &err) == PB_OK);
  if (!strcmp(arch, "mlp")) PB_ASSERT(pb_config_set(cfg, "model.dropout=0.3", &err) == PB_OK);
  pb_model *m = pb_model_build(cfg, ctx, in, n, 1, infer, &err);
  if (!m) PB_FATAL("%s: %s", arch, err.msg);
  pb_config_free(cfg);
  return m;
}

/* Random values for every tensor (the same in both models); running variances in [0.2, 2). */
static void randomise(pb_model *a, pb_model *b) {
  for (int i = 0; i < pb_model_ntensors(a); i++) {
    pb_param *p = pb_model_tensor(a, i), *q = pb_model_tensor(b, i);
    if (p->kind == PB_PARAM_COUNTER) continue;
    float *h = pb_xmalloc(p->numel * sizeof(float));
    int var = strstr(p->name, "running_var") != NULL;
    pb_test_fill_uniform(h, p->numel, var ? 0.2f : -0.3f, var ? 2.0f : 0.3f, 100 + (uint64_t)i);
    memcpy(p->data, h, p->numel * sizeof(float));
    memcpy(q->data, h, p->numel * sizeof(float));
    free(h);
  }
}

static int overlap(const float *a, size_t na, const float *b, size_t nb) {
  return na && nb && a < b + nb && b < a + na;
}

/* 2: inside the arena and disjoint, for the full batch. */
static void check_layout(const pb_model *m) {
  const float *arena = m->act_block, *end = m->act_block + m->mem_act / sizeof(float);
  const float *cur = NULL;
  size_t cur_n = 0;
  for (int i = 0; i < m->nlayers; i++) {
    const pb_layer *l = m->layers[i];
    size_t w = (size_t)m->max_n * l->work_per_sample + l->work_fixed;
    if (w) PB_CHECK_MSG(l->work >= arena && l->work + w <= end, "%s: work outside the arena", l->name);
    if (l->alias || !m->act[i] || m->act[i] == cur) { /* alias or in place (act set per forward) */
      PB_CHECK_MSG(!overlap(cur, cur_n, l->work, w), "%s (in place): work overlaps its tensor", l->name);
      continue;
    }
    size_t o = (size_t)m->max_n * pb_layer_out_numel(l);
    PB_CHECK_MSG(m->act[i] >= arena && m->act[i] + o <= end, "%s: output outside the arena", l->name);
    PB_CHECK_MSG(!overlap(cur, cur_n, m->act[i], o), "%s: output overlaps input", l->name);
    PB_CHECK_MSG(!overlap(cur, cur_n, l->work, w), "%s: work overlaps input", l->name);
    PB_CHECK_MSG(!overlap(m->act[i], o, l->work, w), "%s: work overlaps output", l->name);
    cur = m->act[i], cur_n = o;
  }
}

static void same_results(pb_ctx *ctx, const char *arch, int c, int hw) {
  const int in[3] = {c, hw, hw}, n = 3;
  pb_model *t = build(ctx, arch, in, n, 0), *f = build(ctx, arch, in, n, 1);
  randomise(t, f);
  check_layout(f);
  size_t cnt = (size_t)n * c * hw * hw, k = (size_t)pb_model_out(t)[0];
  float *x = pb_xmalloc(cnt * sizeof(float)), *x0 = pb_xmalloc(cnt * sizeof(float));
  pb_test_fill_uniform(x, cnt, -1, 1, 7);
  memcpy(x0, x, cnt * sizeof(float));
  for (int b = n; b >= 2; b--) {
    const float *yt = pb_model_forward(t, x, b, 0), *yf = pb_model_forward(f, x, b, 0);
    PB_CHECK_MSG(!memcmp(yt, yf, (size_t)b * k * sizeof(float)), "%s batch %d: inference plan differs", arch, b);
    PB_CHECK_MSG(!memcmp(x, x0, cnt * sizeof(float)), "%s: the input was overwritten", arch);
  }
  double mb = 1.0 / 1048576;
  printf("  %-13s %dx%dx%d: bitwise the training plan's evaluation; activations %.2f MiB (training plan %.2f + "
         "work %.2f)\n", arch, c, hw, hw, (double)f->mem_act * mb, (double)t->mem_act * mb, (double)t->mem_work * mb);
  free(x), free(x0);
  pb_model_free(t), pb_model_free(f);
}

/* a batch norm as the first layer: it must not run in place over the caller's input */
static void bn_first(pb_ctx *ctx) {
  pb_err err = {{0}};
  const int in[3] = {6, 1, 1};
  pb_model *m[2];
  for (int infer = 0; infer < 2; infer++) {
    m[infer] = pb_model_new(ctx, in, "bn-first");
    pb_model_add(m[infer], pb_batchnorm_layer("bn", in, 1e-5f, 0.1f, &err));
    pb_model_add(m[infer], pb_relu_layer("relu", in));
    pb_model_add(m[infer], pb_linear_layer("fc", in, 3, 1, &err));
    PB_CHECK((infer ? pb_model_finalize_infer(m[1], 4, &err) : pb_model_finalize(m[0], 4, &err)) == PB_OK);
  }
  randomise(m[0], m[1]);
  float x[24], x0[24];
  pb_test_fill_uniform(x, 24, -2, 2, 3);
  memcpy(x0, x, sizeof x);
  const float *a = pb_model_forward(m[0], x, 4, 0), *b = pb_model_forward(m[1], x, 4, 0);
  PB_CHECK(!memcmp(a, b, 12 * sizeof(float)));
  PB_CHECK_MSG(!memcmp(x, x0, sizeof x), "a first batch norm overwrote the caller's input");
  check_layout(m[1]);
  printf("  a batch norm first: the caller's input untouched, bitwise the training plan\n");
  pb_model_free(m[0]), pb_model_free(m[1]);
}

static void arena_size(pb_ctx *ctx, const char *arch, size_t want_floats) {
  const int in[3] = {3, 224, 224};
  pb_model *f = build(ctx, arch, in, 1, 1);
  check_layout(f);
  PB_CHECK_MSG(f->mem_act == want_floats * sizeof(float), "%s at 224: arena %zu floats, want %zu", arch,
               f->mem_act / sizeof(float), want_floats);
  printf("  %-13s 224x224, one image: arena %zu floats (want %zu)\n", arch, f->mem_act / sizeof(float), want_floats);
  pb_model_free(f);
}

int main(void) {
  pb_ctx ctx;
  pb_err err = {{0}};
  PB_ASSERT(pb_ctx_init(&ctx, "cpu", 2, 1, 0, &err) == PB_OK);
  same_results(&ctx, "mlp", 1, 12);
  same_results(&ctx, "simplecnn", 3, 16);
  same_results(&ctx, "simpleconvnet", 3, 16);
  same_results(&ctx, "resnet18", 3, 64);
  same_results(&ctx, "resnet50", 3, 64);
  same_results(&ctx, "seresnet50", 3, 64);
  same_results(&ctx, "cifar_resnet", 3, 32);
  same_results(&ctx, "bagnet18", 3, 64);
  bn_first(&ctx);
  arena_size(&ctx, "resnet50", 64 * 56 * 56 + 2 * 256 * 56 * 56);
  arena_size(&ctx, "resnet18", 64 * 112 * 112 + 64 * 56 * 56);
  pb_ctx_free(&ctx);
  return pb_test_exit("test_infer_memory");
}
