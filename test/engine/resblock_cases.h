/* resblock_cases.h: the composite-block cases shared by test_grad_resblock.c (CPU finite
 * differences) and test_cuda_resblock.c (GPU vs CPU): each block alone in a model planned for
 * training, with every trainable tensor set from a seeded uniform draw (so batch-norm weights
 * and biases are not the degenerate 1 / 0 of the default init). Header-only, static. */
#ifndef PB_TEST_RESBLOCK_CASES_H
#define PB_TEST_RESBLOCK_CASES_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/models/model.h"
#include "test/testutil.h"

typedef struct {
  const char *what;
  int bottleneck, in[3], planes, stride, se;
  int bag_k; /* > 0: a BagNet block (pb_bagnet_block) with this kernel; bottleneck and se unused */
} rb_case;

/* n = 2, 6x6 inputs: basic without and with downsample, bottleneck stride 2, SE bottleneck;
 * BagNet blocks (unpadded, the shortcut cropped to the output's top-left) with a downsample
 * (3x3 -> 2x2) and with an identity shortcut (6x6 -> 4x4). */
static const rb_case RB_CASES[] = {
    {"basic 8->8 stride 1 (identity shortcut)", 0, {8, 6, 6}, 8, 1, 0, 0},
    {"basic 8->16 stride 2 (downsample)", 0, {8, 6, 6}, 16, 2, 0, 0},
    {"bottleneck 16->16 stride 2 (downsample)", 1, {16, 6, 6}, 4, 2, 0, 0},
    {"SE bottleneck 16->32 stride 1 (se_reduction 4)", 1, {16, 6, 6}, 8, 1, 4, 0},
    {"bagnet k3 8->16 stride 2 (downsample 3x3 cropped to 2x2)", 0, {8, 6, 6}, 16, 2, 0, 3},
    {"bagnet k3 8->8 stride 1 (identity 6x6 cropped to 4x4)", 0, {8, 6, 6}, 8, 1, 0, 3},
};
#define RB_NCASES ((int)(sizeof RB_CASES / sizeof RB_CASES[0]))
#define RB_N 2

/* The block as the only layer of a model on ctx, planned for batches of RB_N. */
static pb_model *rb_build(const rb_case *c, pb_ctx *ctx, uint64_t seed) {
  pb_err err = {{0}};
  pb_model *m = pb_model_new(ctx, c->in, "block");
  pb_layer *l = c->bag_k      ? pb_bagnet_block("layer1.0", c->in, c->planes, c->stride, c->bag_k, 0, &err)
                : c->bottleneck ? pb_bottleneck_block("layer1.0", c->in, c->planes, c->stride, c->se, 0, &err)
                              : pb_basic_block("layer1.0", c->in, c->planes, c->stride, 3, c->se, 0, &err);
  if (!l) {
    fprintf(stderr, "FAIL: %s: %s\n", c->what, err.msg);
    exit(1);
  }
  pb_model_add(m, l);
  if (pb_model_finalize(m, RB_N, &err)) {
    fprintf(stderr, "FAIL: %s: %s\n", c->what, err.msg);
    exit(1);
  }
  pb_model_init(m, seed);
  /* batch-norm weights in [0.5, 1.5], biases and conv / fc weights in +-1.5/sqrt(fan_in) */
  for (int t = 0; t < pb_model_ntensors(m); t++) {
    pb_param *p = pb_model_tensor(m, t);
    if (p->kind != PB_PARAM_TRAINABLE) continue;
    float *h = malloc(p->numel * sizeof(float));
    int bn_w = p->ndim == 1 && strstr(p->name, ".bn") && strstr(p->name, "weight");
    bn_w |= p->ndim == 1 && strstr(p->name, "downsample.1.weight") != NULL;
    double b = bn_w ? 0.5 : 1.5 / sqrt(p->fan_in > 0 ? p->fan_in : 1);
    pb_test_fill_uniform(h, p->numel, bn_w ? 0.5f : (float)-b, bn_w ? 1.5f : (float)b, seed * 131 + (uint64_t)t);
    pb_ctx_upload(ctx, p->data, h, p->numel * sizeof(float));
    free(h);
  }
  return m;
}

#endif
