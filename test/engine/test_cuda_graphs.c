/* test_cuda_graphs.c: CUDA graphs of inference forwards (engine/models/model_graph.c; [run]
 * cuda_graphs), and where they are off. The first part runs everywhere; the GPU part exits 77
 * (ctest: skipped) without a GPU.
 *
 *  - graphs_why: "off (the CPU has no graphs)" for resnet18 on the CPU; "off (layer ... (lstm)
 *    ...)" for an LSTM model (its forward reads the batch's lengths on the host); "off (a model
 *    planned for training)"; "off ([run] cuda_graphs = false)".
 *  - GPU: resnet18 (3 x 32 x 32, max batch 4) planned for inference twice, graphs on and off,
 *    with the same weights; 12 forwards cycling over two input buffers and batches 4 and 3 (the
 *    loader's two staging slots and a last, smaller batch): every output BITWISE equal between
 *    the two models (a replay runs the captured kernels on the same memory), the graph model's
 *    features pointer equal to the eager one's offset, and at least 6 forwards replayed. */
#include <string.h>

#include "engine/device/backend.h"
#include "engine/models/model.h"
#include "test/cuda_twin.h"
#include "test/testutil.h"

static pb_model *build(pb_ctx *ctx, const char *arch, const int in[3], int infer, int graphs) {
  pb_err err = {{0}};
  pb_config *cfg = pb_config_new();
  char set[96];
  snprintf(set, sizeof set, "model.arch=%s", arch);
  PB_ASSERT(pb_config_set(cfg, set, &err) == PB_OK && pb_config_set(cfg, "model.num_classes=5", &err) == PB_OK);
  PB_ASSERT(pb_config_set(cfg, graphs ? "run.cuda_graphs=true" : "run.cuda_graphs=false", &err) == PB_OK);
  pb_model *m = pb_model_build(cfg, ctx, in, 4, 1, infer, &err);
  if (!m) PB_FATAL("%s: %s", arch, err.msg);
  pb_config_free(cfg);
  return m;
}

static void why_off(void) {
  pb_ctx ctx;
  pb_err err = {{0}};
  PB_ASSERT(pb_ctx_init(&ctx, "cpu", 1, 1, 0, &err) == PB_OK);
  const int img[3] = {3, 32, 32}, seq[3] = {1, 6, 4};
  pb_model *a = build(&ctx, "resnet18", img, 1, 1), *b = build(&ctx, "lstm", seq, 1, 1);
  pb_model *c = build(&ctx, "resnet18", img, 0, 1), *d = build(&ctx, "resnet18", img, 1, 0);
  printf("  resnet18 on the CPU: %s\n  lstm: %s\n  training plan: %s\n  cuda_graphs false: %s\n", a->graphs_why,
         b->graphs_why, c->graphs_why, d->graphs_why);
  PB_CHECK(!a->graphs_on && !strcmp(a->graphs_why, "off (the CPU has no graphs)"));
  PB_CHECK(!b->graphs_on && strstr(b->graphs_why, "(lstm) reads the host"));
  PB_CHECK(!c->graphs_on && !strcmp(c->graphs_why, "off (a model planned for training)"));
  PB_CHECK(!d->graphs_on && !strcmp(d->graphs_why, "off ([run] cuda_graphs = false)"));
  pb_model_free(a), pb_model_free(b), pb_model_free(c), pb_model_free(d);
  pb_ctx_free(&ctx);
}

int main(void) {
  why_off();
  if (pb_test_exit("test_cuda_graphs (CPU part)")) return 1;
  pb_twin_require_gpu();
  pb_ctx ctx;
  pb_err err = {{0}};
  PB_ASSERT(pb_ctx_init(&ctx, "cuda", 1, 1, 1, &err) == PB_OK);
  const int in[3] = {3, 32, 32};
  pb_model *g = build(&ctx, "resnet18", in, 1, 1), *e = build(&ctx, "resnet18", in, 1, 0);
  PB_CHECK_MSG(g->graphs_on, "graphs off on a GPU: %s", g->graphs_why);
  size_t cnt = (size_t)4 * 3 * 32 * 32;
  float *h = pb_xmalloc(cnt * sizeof(float)), *xs[2];
  for (int b = 0; b < 2; b++) {
    pb_test_fill_uniform(h, cnt, -1, 1, 40 + (uint64_t)b);
    xs[b] = pb_ctx_alloc(&ctx, cnt * sizeof(float), "x", &err);
    pb_ctx_upload(&ctx, xs[b], h, cnt * sizeof(float));
  }
  float og[20], oe[20];
  for (int i = 0; i < 12; i++) {
    int n = i % 3 == 2 ? 3 : 4;
    const float *x = xs[i % 2];
    const float *yg = pb_model_forward(g, x, n, 0), *ye = pb_model_forward(e, x, n, 0);
    pb_ctx_download(&ctx, og, yg, (size_t)n * 5 * sizeof(float));
    pb_ctx_download(&ctx, oe, ye, (size_t)n * 5 * sizeof(float));
    PB_CHECK_MSG(!memcmp(og, oe, (size_t)n * 5 * sizeof(float)), "forward %d (buffer %d, batch %d): graph differs",
                 i, i % 2, n);
    int dg = 0, de = 0;
    PB_CHECK(pb_model_features(g, &dg) - g->act_block == pb_model_features(e, &de) - e->act_block && dg == de);
  }
  printf("  GPU: %s; %ld of 12 forwards replayed, every output bitwise the eager model's\n", g->graphs_why,
         g->graph_launches);
  PB_CHECK(g->graphs_on && g->graph_launches >= 6);
  pb_ctx_free_mem(&ctx, xs[0]), pb_ctx_free_mem(&ctx, xs[1]);
  free(h);
  pb_model_free(g), pb_model_free(e);
  pb_ctx_free(&ctx);
  return pb_test_exit("test_cuda_graphs");
}
