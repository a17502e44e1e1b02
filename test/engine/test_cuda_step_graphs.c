/* test_cuda_step_graphs.c: CUDA graphs of the plain trainer's micro-step (engine/trainers/
 * step_graph.c; [run] cuda_graphs_train). The first part runs everywhere; the GPU part exits 77
 * (ctest: skipped) without a GPU.
 *
 *  - why it is off: the key false; dropout (its RNG counter is host state); the CPU.
 *  - GPU: resnet18 (3 x 32 x 32, batch 4, SGD with momentum) trained twice from the same weights,
 *    graphs on and off, 10 steps over two input / label buffers (the loader's staging slots) and
 *    a batch of 3 with a missing label (another labelled count): after every step the parameters,
 *    the batch-norm buffers and counters and the labelled count are BITWISE the eager run's, and
 *    at least 5 micro-steps replayed a graph. */
#include <string.h>

#include "engine/device/backend.h"
#include "engine/models/model.h"
#include "engine/trainers/step_graph.h"
#include "engine/trainers/trainer.h"
#include "test/cuda_twin.h"
#include "test/testutil.h"

typedef struct {
  pb_model *m;
  pb_trainer *t;
  pb_config *cfg;
} rig;

static rig make(pb_ctx *ctx, const char *arch, int graphs, const char *extra) {
  pb_err err = {{0}};
  rig r;
  r.cfg = pb_config_new();
  char set[96];
  snprintf(set, sizeof set, "model.arch=%s", arch);
  PB_ASSERT(pb_config_set(r.cfg, set, &err) == PB_OK && pb_config_set(r.cfg, "model.num_classes=5", &err) == PB_OK);
  PB_ASSERT(pb_config_set(r.cfg, graphs ? "run.cuda_graphs_train=true" : "run.cuda_graphs_train=false", &err) == PB_OK);
  if (extra) PB_ASSERT(pb_config_set(r.cfg, extra, &err) == PB_OK);
  const int in[3] = {3, 32, 32};
  if (!(r.m = pb_model_build(r.cfg, ctx, in, 4, 1, 0, &err)) || !(r.t = pb_trainer_from_config(r.cfg, r.m, 100, 1, &err)))
    PB_FATAL("%s: %s", arch, err.msg);
  return r;
}
static void unmake(rig *r) {
  pb_trainer_free(r->t);
  pb_model_free(r->m);
  pb_config_free(r->cfg);
}
static const char *why(const rig *r) { return ((const pb_step_graphs *)r->t->priv)->why; }

static void why_off(void) {
  pb_ctx ctx;
  pb_err err = {{0}};
  PB_ASSERT(pb_ctx_init(&ctx, "cpu", 1, 1, 0, &err) == PB_OK);
  rig a = make(&ctx, "resnet18", 0, NULL), b = make(&ctx, "mlp", 1, "model.dropout=0.2"), c = make(&ctx, "resnet18", 1, NULL);
  printf("  key false: %s\n  mlp with dropout: %s\n  resnet18 on the CPU: %s\n", why(&a), why(&b), why(&c));
  PB_CHECK(!strcmp(why(&a), "off ([run] cuda_graphs_train = false)"));
  PB_CHECK(strstr(why(&b), "(dropout) changes or reads the host") != NULL);
  PB_CHECK(!strcmp(why(&c), "off (the CPU has no graphs)"));
  unmake(&a), unmake(&b), unmake(&c);
  pb_ctx_free(&ctx);
}

int main(void) {
  why_off();
  if (pb_test_exit("test_cuda_step_graphs (CPU part)")) return 1;
  pb_twin_require_gpu();
  pb_ctx ctx;
  pb_err err = {{0}};
  PB_ASSERT(pb_ctx_init(&ctx, "cuda", 1, 1, 1, &err) == PB_OK);
  rig g = make(&ctx, "resnet18", 1, NULL), e = make(&ctx, "resnet18", 0, NULL);
  PB_CHECK_MSG(((pb_step_graphs *)g.t->priv)->on, "graphs off on a GPU: %s", why(&g));
  for (int i = 0; i < pb_model_ntensors(g.m); i++) { /* the same start */
    pb_param *p = pb_model_tensor(g.m, i), *q = pb_model_tensor(e.m, i);
    if (p->kind != PB_PARAM_COUNTER) ctx.ops->copy(&ctx, q->data, p->data, p->numel);
  }
  size_t cnt = (size_t)4 * 3 * 32 * 32;
  float *h = pb_xmalloc(cnt * sizeof(float)), *xs[2];
  int32_t hy[2][4] = {{0, 3, 1, 4}, {2, 2, 0, 1}}, *ys[2];
  for (int b = 0; b < 2; b++) {
    pb_test_fill_uniform(h, cnt, -1, 1, 50 + (uint64_t)b);
    xs[b] = pb_ctx_alloc(&ctx, cnt * sizeof(float), "x", &err);
    ys[b] = pb_ctx_alloc(&ctx, sizeof hy[b], "y", &err);
    pb_ctx_upload(&ctx, xs[b], h, cnt * sizeof(float));
    pb_ctx_upload(&ctx, ys[b], hy[b], sizeof hy[b]);
  }
  int32_t hmiss[4] = {1, -1, 4, 0}, *ymiss = pb_ctx_alloc(&ctx, sizeof hmiss, "y", &err);
  pb_ctx_upload(&ctx, ymiss, hmiss, sizeof hmiss);
  float *pg = pb_xmalloc(g.m->nparams * sizeof(float)), *pe = pb_xmalloc(e.m->nparams * sizeof(float));
  float *bg = pb_xmalloc(g.m->nbuffers * sizeof(float)), *be = pb_xmalloc(e.m->nbuffers * sizeof(float));
  for (int s = 0; s < 10; s++) {
    int b = s % 2, n = s % 4 == 3 ? 3 : 4;
    const int32_t *y = s % 4 == 3 ? ymiss : ys[b], *yh = s % 4 == 3 ? hmiss : hy[b];
    pb_trainer_micro(g.t, xs[b], y, yh, n, 1);
    pb_trainer_micro(e.t, xs[b], y, yh, n, 1);
    pb_ctx_download(&ctx, pg, g.m->params, g.m->nparams * sizeof(float));
    pb_ctx_download(&ctx, pe, e.m->params, e.m->nparams * sizeof(float));
    pb_ctx_download(&ctx, bg, g.m->buffers, g.m->nbuffers * sizeof(float));
    pb_ctx_download(&ctx, be, e.m->buffers, e.m->nbuffers * sizeof(float));
    PB_CHECK_MSG(!memcmp(pg, pe, g.m->nparams * sizeof(float)), "step %d: parameters differ", s);
    PB_CHECK_MSG(!memcmp(bg, be, g.m->nbuffers * sizeof(float)), "step %d: batch-norm buffers differ", s);
    PB_CHECK_MSG(g.t->seen[0] == e.t->seen[0], "step %d: labelled count %ld vs %ld", s, g.t->seen[0], e.t->seen[0]);
    for (int i = 0; i < pb_model_ntensors(g.m); i++)
      if (pb_model_tensor(g.m, i)->kind == PB_PARAM_COUNTER)
        PB_CHECK(pb_model_tensor(g.m, i)->counter == pb_model_tensor(e.m, i)->counter);
  }
  long launches = ((pb_step_graphs *)g.t->priv)->launches;
  printf("  GPU: %s; %ld of 10 micro-steps replayed; parameters, buffers, counters bitwise the eager run's\n", why(&g),
         launches);
  PB_CHECK(launches >= 5);
  for (int b = 0; b < 2; b++) pb_ctx_free_mem(&ctx, xs[b]), pb_ctx_free_mem(&ctx, ys[b]);
  pb_ctx_free_mem(&ctx, ymiss);
  free(h), free(pg), free(pe), free(bg), free(be);
  unmake(&g), unmake(&e);
  pb_ctx_free(&ctx);
  return pb_test_exit("test_cuda_step_graphs");
}
