/* models_seq.c: sequence models ([model] arch = lstm): per-frame projection layers
 * (proj.0, proj.1, ...: Linear + ReLU per entry of frame_proj, applied to every step), the
 * LSTM (nn.LSTM, module "lstm"), then the classifier or the embedding of every arch
 * (pb_model_add_classifier). The input is (1, T, D): a float32 [N, T, D] dataset, each
 * batch's lengths in ctx->seq_lengths. The PyTorch module this mirrors:
 *
 *   proj = Sequential(Linear(D, P0), ReLU(), Linear(P0, P1), ReLU(), ...)   (per frame)
 *   lstm = LSTM(P_last or D, lstm_hidden, lstm_layers, batch_first=True,
 *               dropout=lstm_dropout, bidirectional=bidirectional)
 *   fc / embedding (+ F.normalize) on h_n of the last layer (pooling = last, both directions
 *   concatenated), the mean of the output over the valid steps (mean), or every step (all).
 */
#include <stdlib.h>
#include <string.h>

#include "engine/models/model.h"

/* [model] frame_encoder: the registry's `arch` for one frame of the (T*C, H, W) input, without
 * its classifier, as a frames layer "encoder" (engine/layers/frames.c). C: [model] in_channels,
 * else [data] channels. */
static int add_frame_encoder(pb_model *m, const pb_config *cfg, const char *arch, uint64_t seed, pb_err *err) {
  const int *in = pb_model_out(m);
  int C = (int)pb_config_int(cfg, "model", "in_channels");
  if (!C) C = (int)pb_config_int(cfg, "data", "channels");
  if (in[0] % C || in[1] < 1)
    return pb_err_set(err, "[model] frame_encoder = %s reads image sequences, T frames of %d channels ([data] "
                           "channels / [model] in_channels): got samples of %d x %d x %d",
                      arch, C, in[0], in[1], in[2]);
  if (pb_config_float(cfg, "model", "dropout") > 0)
    return pb_err_set(err, "[model] dropout = %g with frame_encoder = %s: dropout inside the frame encoder is not "
                           "supported (its draws would not be checkpointed); use lstm_dropout",
                      pb_config_float(cfg, "model", "dropout"), arch);
  pb_config *v = pb_config_view(cfg, NULL);
  const char *sets[] = {"model.embedding_dim=0", "model.embedding_l2=false", "model.heads=", "model.head_weights="};
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
    if (pb_config_set(v, sets[i], err)) PB_FATAL("frame encoder config: %s", err->msg);
  const int frame[3] = {C, in[1], in[2]};
  pb_model *enc = pb_model_new(m->ctx, frame, arch);
  int rc = pb_model_add_arch(enc, v, arch, 1, seed, err);
  pb_config_free(v);
  if (rc) {
    pb_model_free(enc);
    return pb_err_prefix(err, "[model] frame_encoder = %s", arch);
  }
  /* the registry ends every arch in its classifier, one linear layer: the encoder stops before it */
  pb_layer *fc = enc->layers[enc->nlayers - 1];
  PB_ASSERT(enc->nlayers >= 2 && !strcmp(fc->vt->kind, "linear"));
  int nl = enc->nlayers - 1;
  pb_layer **layers = enc->layers;
  enc->layers = NULL, enc->nlayers = 0;
  pb_model_free(enc);
  pb_layer_free(fc);
  pb_layer *fr = pb_frames_layer("encoder", in, in[0] / C, layers, nl, err);
  free(layers);
  if (!fr) return pb_err_prefix(err, "[model] frame_encoder = %s", arch);
  pb_model_add(m, fr);
  return PB_OK;
}

int pb_build_lstm(pb_model *m, const pb_config *cfg, int nclass, uint64_t seed, pb_err *err) {
  long proj[PB_CFG_LIST_MAX];
  int np = pb_config_ints(cfg, "model", "frame_proj", proj, PB_CFG_LIST_MAX);
  const char *pool = pb_config_str(cfg, "model", "pooling");
  int pooling = !strcmp(pool, "all") ? PB_SEQ_ALL : !strcmp(pool, "mean") ? PB_SEQ_MEAN : PB_SEQ_LAST;
  const char *fe = pb_config_str(cfg, "model", "frame_encoder");
  if (strcmp(fe, "none") && add_frame_encoder(m, cfg, fe, seed, err)) goto fail;
  const int *in = pb_model_out(m);
  if (in[0] != 1)
    return pb_err_set(err, "[model] arch = lstm reads sequences: float32 [N, T, D] features ([data] dataset = npy), "
                           "got samples of %d x %d x %d", in[0], in[1], in[2]);
  char name[64];
  for (int i = 0; i < np; i++) {
    snprintf(name, sizeof name, "proj.%d", 2 * i);
    PB_MODEL_ADD_OR_FAIL(pb_frame_linear_layer(name, pb_model_out(m), (int)proj[i], 1, err));
    snprintf(name, sizeof name, "proj.%d", 2 * i + 1);
    PB_MODEL_ADD_OR_FAIL(pb_relu_layer(name, pb_model_out(m)));
  }
  PB_MODEL_ADD_OR_FAIL(pb_lstm_layer("lstm", pb_model_out(m), (int)pb_config_int(cfg, "model", "lstm_hidden"),
                                     (int)pb_config_int(cfg, "model", "lstm_layers"),
                                     pb_config_bool(cfg, "model", "bidirectional"),
                                     (float)pb_config_float(cfg, "model", "lstm_dropout"), pooling, seed, 0, err));
  if (pb_model_add_classifier(m, cfg, "fc", nclass, err)) goto fail;
  return PB_OK;
fail:
  return pb_err_prefix(err, "[model] arch = lstm");
}
