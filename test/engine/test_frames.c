/* test_frames.c: the frame encoder layer (engine/layers/frames.c) against the same layers run as
 * a plain model on the packed valid frames: the outputs at valid steps, zeros past each length,
 * every parameter gradient and the batch-norm running statistics are bitwise the plain model's
 * (so batch norm saw the real frames only, and padded steps give no gradient); evaluation mode
 * too, in a model planned for training and in one planned for inference; and with no lengths
 * (every frame valid). The children include a max pool, which uses the layers' shared work
 * memory, or a residual block (its own saved offsets scale with the frames). */
#include <stdlib.h>
#include <string.h>

#include "engine/layers/layer.h"
#include "engine/models/model.h"
#include "test/testutil.h"

enum { C = 2, H = 6, W = 6, T = 4, N = 3, K = 5 };

static int variant; /* 0: conv, bn, relu, max pool, ...; 1: a residual block (saved memory of its own, work) */

static int encoder(pb_layer **out, pb_err *err) {
  const int in[3] = {C, H, W};
  out[0] = pb_conv2d_layer("conv1", in, K, 3, 1, 1, 1, 1, 1, PB_INIT_TORCH_DEFAULT, err);
  out[1] = pb_batchnorm_layer("bn1", out[0]->out, 1e-5f, 0.1f, err);
  out[2] = pb_relu_layer("relu", out[1]->out);
  out[3] = variant ? pb_basic_block("layer1.0", out[2]->out, K, 2, 3, 0, 0, err)
                   : pb_maxpool_layer("pool", out[2]->out, 2, 2, 0, err);
  out[4] = pb_gap_layer("gap", out[3]->out);
  out[5] = pb_flatten_layer("flatten", out[4]->out);
  for (int i = 0; i < 6; i++)
    if (!out[i]) return PB_ERR;
  return PB_OK;
}

/* B's tensors take A's values (same order: A's frames layer has none of its own). */
static void copy_params(pb_model *a, pb_model *b) {
  PB_CHECK(pb_model_ntensors(a) == pb_model_ntensors(b));
  for (int i = 0; i < pb_model_ntensors(a); i++) {
    pb_param *p = pb_model_tensor(a, i), *q = pb_model_tensor(b, i);
    PB_CHECK(p->numel == q->numel && p->kind == q->kind);
    PB_CHECK_MSG(!strncmp(p->name, "encoder.", 8) && !strcmp(p->name + 8, q->name), "%s vs %s", p->name, q->name);
    if (p->kind != PB_PARAM_COUNTER) memcpy(q->data, p->data, p->numel * sizeof(float));
  }
}

static void run_case(pb_ctx *ctx, const int32_t *lengths, int infer) {
  pb_err err = {{0}};
  pb_layer *ea[6], *eb[6];
  PB_CHECK(encoder(ea, &err) == PB_OK && encoder(eb, &err) == PB_OK);
  const int in[3] = {T * C, H, W}, fin[3] = {C, H, W};
  pb_model *a = pb_model_new(ctx, in, "frames"), *b = pb_model_new(ctx, fin, "plain");
  pb_layer *fr = pb_frames_layer("encoder", in, T, ea, 6, &err);
  PB_CHECK_MSG(fr != NULL, "%s", err.msg);
  pb_model_add(a, fr);
  for (int i = 0; i < 6; i++) pb_model_add(b, eb[i]);
  PB_CHECK(fr->out[0] == 1 && fr->out[1] == T && fr->out[2] == K);
  int off[N + 1] = {0};
  for (int i = 0; i < N; i++) off[i + 1] = off[i] + (lengths ? lengths[i] : T);
  const int M = off[N];
  if (infer)
    PB_CHECK(pb_model_finalize_infer(a, N, &err) == PB_OK && pb_model_finalize_infer(b, M, &err) == PB_OK);
  else
    PB_CHECK(pb_model_finalize(a, N, &err) == PB_OK && pb_model_finalize(b, M, &err) == PB_OK);
  pb_model_init(a, 7);
  copy_params(a, b);
  const size_t fs = (size_t)C * H * W;
  float *x = malloc((size_t)N * T * fs * sizeof(float)), *xb = malloc((size_t)M * fs * sizeof(float));
  pb_test_fill_uniform(x, (size_t)N * T * fs, -1, 1, 3); /* padded frames hold garbage: never read */
  for (int i = 0; i < N; i++)
    memcpy(xb + (size_t)off[i] * fs, x + (size_t)i * T * fs, (size_t)(off[i + 1] - off[i]) * fs * sizeof(float));
  for (int train = !infer; train >= 0; train--) {
    ctx->seq_lengths = lengths;
    const float *ya = pb_model_forward(a, x, N, train);
    ctx->seq_lengths = NULL;
    const float *yb = pb_model_forward(b, xb, M, train);
    int bad = 0;
    for (int i = 0; i < N; i++)
      for (int t = 0; t < T; t++)
        for (int k = 0; k < K; k++) {
          float v = ya[((size_t)i * T + t) * K + k];
          float want = off[i] + t < off[i + 1] ? yb[(size_t)(off[i] + t) * K + k] : 0.0f;
          bad += memcmp(&v, &want, sizeof v) != 0;
        }
    PB_CHECK_MSG(bad == 0, "%s forward: %d values differ from the plain model on the packed frames",
                 train ? "training" : "evaluation", bad);
    if (!train) break;
    float *dy = malloc((size_t)N * T * K * sizeof(float)), *dyb = malloc((size_t)M * K * sizeof(float));
    pb_test_fill_uniform(dy, (size_t)N * T * K, -1, 1, 5); /* padded steps' dy must not matter */
    for (int i = 0; i < N; i++)
      memcpy(dyb + (size_t)off[i] * K, dy + (size_t)i * T * K, (size_t)(off[i + 1] - off[i]) * K * sizeof(float));
    pb_model_zero_grad(a);
    pb_model_zero_grad(b);
    ctx->seq_lengths = lengths;
    pb_model_backward(a, dy, N);
    ctx->seq_lengths = NULL;
    pb_model_backward(b, dyb, M);
    for (int t = 0; t < pb_model_ntensors(a); t++) {
      pb_param *p = pb_model_tensor(a, t), *q = pb_model_tensor(b, t);
      if (p->kind == PB_PARAM_TRAINABLE)
        PB_CHECK_MSG(!memcmp(p->grad, q->grad, p->numel * sizeof(float)), "gradient of %s differs", p->name);
      if (p->kind == PB_PARAM_BUFFER)
        PB_CHECK_MSG(!memcmp(p->data, q->data, p->numel * sizeof(float)), "running statistic %s differs", p->name);
      if (p->kind == PB_PARAM_COUNTER) PB_CHECK(p->counter == q->counter && p->counter == 1);
    }
    free(dy);
    free(dyb);
  }
  free(x);
  free(xb);
  pb_model_free(a);
  pb_model_free(b);
}

int main(void) {
  pb_ctx ctx;
  pb_err err = {{0}};
  if (pb_ctx_init(&ctx, "cpu", 2, 1, 0, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  const int32_t lengths[N] = {4, 1, 3};
  run_case(&ctx, lengths, 0);
  run_case(&ctx, NULL, 0);
  run_case(&ctx, lengths, 1); /* planned for inference: the packed input and ping-pong in work */
  variant = 1;
  run_case(&ctx, lengths, 0);
  run_case(&ctx, lengths, 1);
  variant = 0;
  /* shape errors name the layer */
  pb_layer *e[6];
  PB_CHECK(encoder(e, &err) == PB_OK);
  const int bad_in[3] = {T * C, H + 1, W};
  PB_CHECK(pb_frames_layer("encoder", bad_in, T, e, 6, &err) == NULL);
  PB_CHECK_MSG(strstr(err.msg, "the encoder reads 2x6x6 frames, the data has 2x7x6") != NULL, "%s", err.msg);
  pb_ctx_free(&ctx);
  return pb_test_exit("test_frames");
}
