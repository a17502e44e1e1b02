/* models_resnet.c: the ResNet family, built from [model] (model.h), with torchvision's module
 * names so that checkpoints are torchvision state dicts (timm's for the SE variants):
 *   conv1, bn1, relu, [maxpool], layer1..layerK (blocks "layerS.B", engine/layers/resblock.c),
 *   avgpool, fc (or heads.NAME / embedding [+ l2norm]: engine/models/model_heads.c).
 * Archs:
 *   resnet18/34 (basic [2,2,2,2] / [3,4,6,3]), resnet50/101/152 (bottleneck [3,4,6,3] / [3,4,23,3] /
 *   [3,8,36,3]); stride on the bottleneck's 3x3 convolution (torchvision, "v1.5").
 *   seresnet50/101/152: the same with timm's SE module (reduction se_reduction, 1x1 conv FCs
 *   with bias) after each block's last BN, before the residual add.
 *   cifar_resnet: depth 6n+2, basic blocks [n,n,n] with 16/32/64 planes, 3x3 stem without max
 *   pool; projection (1x1 conv + BN) shortcuts where the shape changes (He et al.'s option B).
 *   bagnet18: ReBias's g network as released (models/imagenet_models.py: BagNetDeep(BasicBlock_,
 *   [2,2,2,2], strides [2,2,2,1], kernel3 [1,0,0,0])), built by build_bagnet18 below, with the
 *   released module's names (state_dict keys):
 *     conv1 1x1 (in -> 64), conv2 3x3 (64 -> 64, padding 0), bn1 (momentum 0.001), relu, no max
 *     pool; layer1..layer4 of 2 BagNet blocks each (engine/layers/resblock.c, pb_bagnet_block:
 *     conv1 k x k with the stride, bn1, ReLU, conv2 1x1, bn2, no padding, the shortcut cropped to
 *     the output's top-left), planes 64/128/256/512, strides 2/2/2/1 on each stage's first
 *     block, k = 3 only in layer1.0 (1 elsewhere); avgpool (global), fc.
 *   Init as released: every convolution N(0, sqrt(2 / (k k out))) (= kaiming_normal_ fan_out,
 *   relu), BN weight 1 bias 0, fc nn.Linear's default. Receptive field 5 x 5 pixels, outputs
 *   8 pixels apart. The stem key does not apply (the released stem has no variant).
 * Every stage's planes are multiplied by [model] width. stem = small (or auto on inputs under
 * 64 pixels): conv1 is 3x3 stride 1 and there is no max pool (28x28 and 32x32 inputs). */
#include <math.h>
#include <string.h>

#include "engine/models/model.h"

typedef struct {
  const char *name;
  int bottleneck, se, nstages, blocks[4], k[4];
} arch_spec;

static const arch_spec ARCHS[] = {
    {"resnet18", 0, 0, 4, {2, 2, 2, 2}, {3, 3, 3, 3}},   {"resnet34", 0, 0, 4, {3, 4, 6, 3}, {3, 3, 3, 3}},
    {"resnet50", 1, 0, 4, {3, 4, 6, 3}, {3, 3, 3, 3}},   {"resnet101", 1, 0, 4, {3, 4, 23, 3}, {3, 3, 3, 3}},
    {"resnet152", 1, 0, 4, {3, 8, 36, 3}, {3, 3, 3, 3}}, {"seresnet50", 1, 1, 4, {3, 4, 6, 3}, {3, 3, 3, 3}},
    {"seresnet101", 1, 1, 4, {3, 4, 23, 3}, {3, 3, 3, 3}}, {"seresnet152", 1, 1, 4, {3, 8, 36, 3}, {3, 3, 3, 3}},
    {"cifar_resnet", 0, 0, 3, {0, 0, 0, 0}, {3, 3, 3, 3}},
};

static const arch_spec *find_arch(const char *name) {
  for (size_t i = 0; i < sizeof ARCHS / sizeof ARCHS[0]; i++)
    if (!strcmp(ARCHS[i].name, name)) return &ARCHS[i];
  return NULL;
}

int pb_arch_is_resnet(const char *arch) { return find_arch(arch) != NULL || !strcmp(arch, "bagnet18"); }

/* ReBias's BagNet-18 (the file comment). */
static int build_bagnet18(pb_model *m, const pb_config *cfg, int nclass, pb_err *err) {
  static const int strides[4] = {2, 2, 2, 1};
  double width = pb_config_float(cfg, "model", "width");
  int zero_init = pb_config_bool(cfg, "model", "zero_init_residual");
  int planes0 = (int)lround(64 * width);
  if (planes0 < 1) {
    pb_err_set(err, "[model] width = %g leaves no channels", width);
    goto fail;
  }
  PB_MODEL_ADD_OR_FAIL(pb_conv2d_layer("conv1", pb_model_out(m), planes0, 1, 1, 0, 1, 1, 0,
                                       PB_INIT_KAIMING_NORMAL_FAN_OUT, err));
  PB_MODEL_ADD_OR_FAIL(pb_conv2d_layer("conv2", pb_model_out(m), planes0, 3, 1, 0, 1, 1, 0,
                                       PB_INIT_KAIMING_NORMAL_FAN_OUT, err));
  PB_MODEL_ADD_OR_FAIL(pb_batchnorm_layer("bn1", pb_model_out(m), 1e-5f, 0.001f, err));
  PB_MODEL_ADD_OR_FAIL(pb_relu_inplace_layer("relu", pb_model_out(m)));
  for (int st = 0; st < 4; st++) {
    int planes = (int)lround(64 * width * (1 << st));
    for (int b = 0; b < 2; b++) {
      char name[64];
      snprintf(name, sizeof name, "layer%d.%d", st + 1, b);
      int k = (st == 0 && b == 0) ? 3 : 1;
      PB_MODEL_ADD_OR_FAIL(pb_bagnet_block(name, pb_model_out(m), planes, b == 0 ? strides[st] : 1, k, zero_init, err));
    }
  }
  PB_MODEL_ADD_OR_FAIL(pb_gap_layer("avgpool", pb_model_out(m)));
  if (pb_model_add_classifier(m, cfg, "fc", nclass, err)) goto fail;
  return PB_OK;
fail:
  return pb_err_prefix(err, "[model] arch = bagnet18, input %dx%dx%d", m->in[0], m->in[1], m->in[2]);
}

int pb_build_resnet(pb_model *m, const pb_config *cfg, int nclass, pb_err *err) {
  const char *archname = pb_config_str(cfg, "model", "arch");
  if (!strcmp(archname, "bagnet18")) return build_bagnet18(m, cfg, nclass, err);
  const arch_spec *a = find_arch(archname);
  PB_ASSERT(a);
  arch_spec s = *a;
  double width = pb_config_float(cfg, "model", "width");
  int se_r = s.se ? (int)pb_config_int(cfg, "model", "se_reduction") : 0;
  int zero_init = pb_config_bool(cfg, "model", "zero_init_residual");
  const char *stem = pb_config_str(cfg, "model", "stem");
  int cifar = !strcmp(s.name, "cifar_resnet");
  int base = cifar ? 16 : 64;
  if (cifar) {
    int depth = (int)pb_config_int(cfg, "model", "depth");
    if (depth < 8 || (depth - 2) % 6) {
      pb_err_set(err, "[model] depth = %d: cifar_resnet needs depth = 6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, 110)",
                 depth);
      goto fail;
    }
    for (int i = 0; i < 3; i++) s.blocks[i] = (depth - 2) / 6;
  }
  int small = cifar || !strcmp(stem, "small") ||
              (!strcmp(stem, "auto") && (m->in[1] < 64 || m->in[2] < 64));
  int planes0 = (int)lround(base * width);
  if (planes0 < 1) {
    pb_err_set(err, "[model] width = %g leaves no channels", width);
    goto fail;
  }
  if (small)
    PB_MODEL_ADD_OR_FAIL(pb_conv2d_layer("conv1", pb_model_out(m), planes0, 3, 1, 1, 1, 1, 0, PB_INIT_KAIMING_NORMAL_FAN_OUT,
                                err));
  else
    PB_MODEL_ADD_OR_FAIL(pb_conv2d_layer("conv1", pb_model_out(m), planes0, 7, 2, 3, 1, 1, 0, PB_INIT_KAIMING_NORMAL_FAN_OUT,
                                err));
  PB_MODEL_ADD_OR_FAIL(pb_batchnorm_layer("bn1", pb_model_out(m), 1e-5f, 0.1f, err));
  PB_MODEL_ADD_OR_FAIL(pb_relu_inplace_layer("relu", pb_model_out(m)));
  if (!small) PB_MODEL_ADD_OR_FAIL(pb_maxpool_layer("maxpool", pb_model_out(m), 3, 2, 1, err));
  for (int st = 0; st < s.nstages; st++) {
    int planes = (int)lround(base * width * (1 << st));
    for (int b = 0; b < s.blocks[st]; b++) {
      char name[64];
      snprintf(name, sizeof name, "layer%d.%d", st + 1, b);
      int stride = (b == 0 && st > 0) ? 2 : 1;
      if (s.bottleneck)
        PB_MODEL_ADD_OR_FAIL(pb_bottleneck_block(name, pb_model_out(m), planes, stride, se_r, zero_init, err));
      else
        PB_MODEL_ADD_OR_FAIL(pb_basic_block(name, pb_model_out(m), planes, stride, s.k[st], se_r, zero_init, err));
    }
  }
  PB_MODEL_ADD_OR_FAIL(pb_gap_layer("avgpool", pb_model_out(m)));
  if (pb_model_add_classifier(m, cfg, "fc", nclass, err)) goto fail;
  return PB_OK;
fail:
  return pb_err_prefix(err, "[model] arch = %s, input %dx%dx%d", archname, m->in[0], m->in[1], m->in[2]);
}
