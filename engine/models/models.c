/* models.c: the model zoo of the Foundation: mlp, simplecnn and ReBias's SimpleConvNet,
 * built from the [model] section; the ResNet family is in models_resnet.c. Layer names follow the PyTorch modules a researcher would
 * write, so checkpoint keys read like a state_dict. */
#include <string.h>

#include "engine/models/model.h"

/* layers = Sequential(Flatten, Linear, ReLU, [Dropout], ..., Linear). */
static int build_mlp(pb_model *m, const pb_config *cfg, int nclass, uint64_t seed, pb_err *err) {
  long hidden[PB_CFG_LIST_MAX];
  int nh = pb_config_ints(cfg, "model", "hidden", hidden, PB_CFG_LIST_MAX);
  float p = (float)pb_config_float(cfg, "model", "dropout");
  int idx = 0;
  char name[64];
  snprintf(name, sizeof name, "layers.%d", idx++);
  PB_MODEL_ADD_OR_FAIL(pb_flatten_layer(name, pb_model_out(m)));
  for (int i = 0; i < nh; i++) {
    snprintf(name, sizeof name, "layers.%d", idx++);
    PB_MODEL_ADD_OR_FAIL(pb_linear_layer(name, pb_model_out(m), (int)hidden[i], 1, err));
    snprintf(name, sizeof name, "layers.%d", idx++);
    PB_MODEL_ADD_OR_FAIL(pb_relu_layer(name, pb_model_out(m)));
    if (p > 0) {
      snprintf(name, sizeof name, "layers.%d", idx++);
      PB_MODEL_ADD_OR_FAIL(pb_dropout_layer(name, pb_model_out(m), p, seed, idx));
    }
  }
  snprintf(name, sizeof name, "layers.%d", idx++);
  if (pb_model_add_classifier(m, cfg, name, nclass, err)) goto fail;
  return PB_OK;
fail:
  return pb_err_prefix(err, "[model] arch = mlp");
}

/* features = Sequential([Conv3x3(no bias), BN, ReLU, MaxPool2] per entry of `channels`),
 * then Flatten, [Dropout], fc = Linear. Kaiming-normal (fan_out) convolutions, as torchvision. */
static int build_simplecnn(pb_model *m, const pb_config *cfg, int nclass, uint64_t seed, pb_err *err) {
  long ch[PB_CFG_LIST_MAX];
  int nc = pb_config_ints(cfg, "model", "channels", ch, PB_CFG_LIST_MAX);
  float p = (float)pb_config_float(cfg, "model", "dropout");
  char name[64];
  int idx = 0;
  for (int i = 0; i < nc; i++) {
    snprintf(name, sizeof name, "features.%d", idx++);
    PB_MODEL_ADD_OR_FAIL(pb_conv2d_layer(name, pb_model_out(m), (int)ch[i], 3, 1, 1, 1, 1, 0,
                                PB_INIT_KAIMING_NORMAL_FAN_OUT, err));
    snprintf(name, sizeof name, "features.%d", idx++);
    PB_MODEL_ADD_OR_FAIL(pb_batchnorm_layer(name, pb_model_out(m), 1e-5f, 0.1f, err));
    snprintf(name, sizeof name, "features.%d", idx++);
    PB_MODEL_ADD_OR_FAIL(pb_relu_layer(name, pb_model_out(m)));
    if (pb_model_out(m)[1] >= 2 && pb_model_out(m)[2] >= 2) {
      snprintf(name, sizeof name, "features.%d", idx++);
      PB_MODEL_ADD_OR_FAIL(pb_maxpool_layer(name, pb_model_out(m), 2, 2, 0, err));
    }
  }
  PB_MODEL_ADD_OR_FAIL(pb_flatten_layer("flatten", pb_model_out(m)));
  if (p > 0) PB_MODEL_ADD_OR_FAIL(pb_dropout_layer("dropout", pb_model_out(m), p, seed, 0));
  if (pb_model_add_classifier(m, cfg, "fc", nclass, err)) goto fail;
  return PB_OK;
fail:
  return pb_err_prefix(err, "[model] arch = simplecnn");
}

/* ReBias's SimpleConvNet: extracter = 4 x [Conv(k, padding k//2), BN, ReLU] with 16/32/64/128
 * channels, global average pool, fc = Linear(128, classes). */
static int build_simpleconvnet(pb_model *m, const pb_config *cfg, int nclass, pb_err *err) {
  static const int widths[4] = {16, 32, 64, 128};
  int k = (int)pb_config_int(cfg, "model", "kernel_size");
  char name[64];
  for (int i = 0; i < 4; i++) {
    snprintf(name, sizeof name, "extracter.%d", 3 * i);
    PB_MODEL_ADD_OR_FAIL(pb_conv2d_layer(name, pb_model_out(m), widths[i], k, 1, k / 2, 1, 1, 1,
                                PB_INIT_KAIMING_NORMAL_FAN_OUT, err));
    snprintf(name, sizeof name, "extracter.%d", 3 * i + 1);
    PB_MODEL_ADD_OR_FAIL(pb_batchnorm_layer(name, pb_model_out(m), 1e-5f, 0.1f, err));
    snprintf(name, sizeof name, "extracter.%d", 3 * i + 2);
    PB_MODEL_ADD_OR_FAIL(pb_relu_layer(name, pb_model_out(m)));
  }
  PB_MODEL_ADD_OR_FAIL(pb_gap_layer("avgpool", pb_model_out(m)));
  if (pb_model_add_classifier(m, cfg, "fc", nclass, err)) goto fail;
  return PB_OK;
fail:
  return pb_err_prefix(err, "[model] arch = simpleconvnet, kernel_size = %d", k);
}

void pb_model_config_input(const pb_config *cfg, int in[3]) {
  int c = (int)pb_config_int(cfg, "model", "in_channels"), side = (int)pb_config_int(cfg, "model", "input_size");
  in[0] = c ? c : 3;
  in[1] = in[2] = side;
  if (!strcmp(pb_config_str(cfg, "model", "arch"), "lstm")) {
    if (strcmp(pb_config_str(cfg, "model", "frame_encoder"), "none")) { /* image sequences (T*C, H, W) */
      in[0] = (int)pb_config_int(cfg, "model", "seq_steps") * (c ? c : (int)pb_config_int(cfg, "data", "channels"));
      return;
    }
    in[0] = 1; /* feature sequences (1, T, D) */
    in[1] = (int)pb_config_int(cfg, "model", "seq_steps");
    in[2] = (int)pb_config_int(cfg, "model", "seq_dim");
  }
}

pb_model *pb_model_from_config(const pb_config *cfg, pb_ctx *ctx, const int in[3], int max_n, uint64_t seed,
                               pb_err *err) {
  return pb_model_build(cfg, ctx, in, max_n, seed, 0, err);
}

int pb_model_add_arch(pb_model *m, const pb_config *cfg, const char *arch, int nclass, uint64_t seed, pb_err *err) {
  int rc;
  if (!strcmp(arch, "mlp")) {
    rc = build_mlp(m, cfg, nclass, seed, err);
  } else if (!strcmp(arch, "simplecnn")) {
    rc = build_simplecnn(m, cfg, nclass, seed, err);
  } else if (!strcmp(arch, "simpleconvnet")) {
    rc = build_simpleconvnet(m, cfg, nclass, err);
  } else if (!strcmp(arch, "lstm")) {
    rc = pb_build_lstm(m, cfg, nclass, seed, err);
  } else if (pb_arch_is_resnet(arch)) {
    rc = pb_build_resnet(m, cfg, nclass, err);
  } else {
    PB_FATAL("arch '%s' is in the config table but has no builder", arch);
  }
  return rc;
}

pb_model *pb_model_build(const pb_config *cfg, pb_ctx *ctx, const int in[3], int max_n, uint64_t seed, int infer,
                         pb_err *err) {
  const char *arch = pb_config_str(cfg, "model", "arch");
  int nclass = (int)pb_config_int(cfg, "model", "num_classes");
  pb_model *m = pb_model_new(ctx, in, arch);
  int rc = pb_model_add_arch(m, cfg, arch, nclass, seed, err);
  if (rc != PB_OK) {
    pb_model_free(m);
    return NULL;
  }
  if (infer ? pb_model_finalize_infer(m, max_n, err) : pb_model_finalize(m, max_n, err)) {
    pb_model_free(m);
    return NULL;
  }
  pb_model_init(m, seed);
  pb_model_graphs_enable(m, pb_config_bool(cfg, "run", "cuda_graphs")); /* inference plans only */
  return m;
}
