/* test_guard.c: [run] on_nonfinite (engine/trainers/guard.c) in the plain trainer, on a model
 * with batch norm (simplecnn) and gradient accumulation (2 micro-batches per step):
 *   - stop: a group whose second micro-batch holds a NaN input is not stepped: the parameters,
 *     the batch-norm running statistics (moved by BOTH micro-batches' forwards) and the
 *     num_batches_tracked counters are those after the last good step, bit for bit; the
 *     optimizer step count stays; the message names the step and the first trainable tensor;
 *   - skip: the same, and training goes on: good, bad (skipped), good ends bitwise where good,
 *     good ends on a model that never saw the bad group;
 *   - off: the NaN reaches the parameters. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/trainers/trainer.h"
#include "test/testutil.h"

enum { N = 6, C = 1, H = 8, W = 8, K = 3 };

typedef struct {
  pb_model *m;
  pb_trainer *t;
} net;

static net make(pb_ctx *ctx, pb_config *cfg) {
  pb_err err = {{0}};
  int in[3] = {C, H, W};
  net n;
  n.m = pb_model_from_config(cfg, ctx, in, N, 7, &err);
  PB_ASSERT(n.m);
  n.t = pb_trainer_from_config(cfg, n.m, 10, 1, &err);
  PB_ASSERT(n.t);
  return n;
}

static void drop(net *n) {
  pb_trainer_free(n->t);
  pb_model_free(n->m);
}

static int64_t counter_sum(pb_model *m) {
  int64_t s = 0;
  for (int i = 0; i < pb_model_ntensors(m); i++)
    if (pb_model_tensor(m, i)->kind == PB_PARAM_COUNTER) s += pb_model_tensor(m, i)->counter;
  return s;
}

/* one optimizer step of two micro-batches */
static void group(net *n, const float *x1, const float *x2, const int32_t *y) {
  PB_CHECK(pb_trainer_micro(n->t, x1, y, y, N, 0) == 0);
  PB_CHECK(pb_trainer_micro(n->t, x2, y, y, N, 0) == 1);
}

static pb_config *config(const char *mode) {
  pb_err err = {{0}};
  pb_config *cfg = pb_config_new();
  char m[64];
  snprintf(m, sizeof m, "run.on_nonfinite=%s", mode);
  const char *sets[] = {"model.arch=simplecnn", "model.channels=4", "model.num_classes=3", "train.accum_steps=2",
                        "optim.name=sgd", "optim.lr=0.1", m};
  for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) PB_ASSERT(pb_config_set(cfg, sets[i], &err) == PB_OK);
  return cfg;
}

int main(void) {
  pb_err err = {{0}};
  pb_ctx ctx;
  PB_ASSERT(pb_ctx_init(&ctx, "cpu", 1, 0, 0, &err) == PB_OK);
  float a[N * C * H * W], b[N * C * H * W], bad[N * C * H * W];
  int32_t y[N];
  pb_test_fill_uniform(a, N * C * H * W, -1, 1, 11);
  pb_test_fill_uniform(b, N * C * H * W, -1, 1, 12);
  memcpy(bad, b, sizeof bad);
  bad[5 * C * H * W + 17] = NAN;
  for (int i = 0; i < N; i++) y[i] = i % K;

  for (int mode = 0; mode < 2; mode++) { /* stop, skip */
    pb_config *cfg = config(mode ? "skip" : "stop");
    net g = make(&ctx, cfg);
    PB_CHECK(g.t->learner[0].guard == (mode ? PB_GUARD_SKIP : PB_GUARD_STOP));
    group(&g, a, b, y);
    size_t np = g.m->nparams, nb = g.m->nbuffers;
    float *p1 = malloc(np * sizeof(float)), *b1 = malloc(nb * sizeof(float));
    memcpy(p1, g.m->params, np * sizeof(float));
    memcpy(b1, g.m->buffers, nb * sizeof(float));
    int64_t c1 = counter_sum(g.m);
    group(&g, a, bad, y); /* both forwards move the BN statistics; the second's gradient is NaN */
    PB_CHECK(g.t->learner[0].opt.step == 1 && g.t->learner[0].nonfinite == 1 && g.t->learner[0].micro == 0);
    PB_CHECK(g.t->learner[0].nonfinite_stop == !mode);
    PB_CHECK(!memcmp(p1, g.m->params, np * sizeof(float)));
    PB_CHECK_MSG(!memcmp(b1, g.m->buffers, nb * sizeof(float)), "the BN statistics were not restored");
    PB_CHECK(counter_sum(g.m) == c1);
    const char *first = NULL;
    for (int i = 0; i < pb_model_ntensors(g.m) && !first; i++)
      if (pb_model_tensor(g.m, i)->kind == PB_PARAM_TRAINABLE) first = pb_model_tensor(g.m, i)->name;
    char want[160];
    snprintf(want, sizeof want, "step 2: NaN gradient of %s (element ", first);
    PB_CHECK_MSG(strstr(g.t->learner[0].nonfinite_msg, want), "message '%s' lacks '%s'", g.t->learner[0].nonfinite_msg,
                 want);
    if (mode) { /* skip: a good group afterwards ends where good, good does */
      group(&g, a, b, y);
      net r = make(&ctx, cfg);
      group(&r, a, b, y);
      group(&r, a, b, y);
      PB_CHECK(g.t->learner[0].opt.step == 2 && r.t->learner[0].opt.step == 2);
      PB_CHECK(!memcmp(r.m->params, g.m->params, np * sizeof(float)));
      PB_CHECK(!memcmp(r.m->buffers, g.m->buffers, nb * sizeof(float)));
      PB_CHECK(counter_sum(r.m) == counter_sum(g.m));
      drop(&r);
    }
    free(p1);
    free(b1);
    drop(&g);
    pb_config_free(cfg);
  }
  /* off: no check, the NaN goes into the parameters */
  pb_config *cfg = config("off");
  net o = make(&ctx, cfg);
  PB_CHECK(o.t->learner[0].guard == PB_GUARD_OFF && !o.t->learner[0].buf_backup);
  group(&o, a, bad, y);
  int nan_seen = 0;
  for (size_t i = 0; i < o.m->nparams; i++) nan_seen |= isnan(o.m->params[i]);
  PB_CHECK(nan_seen && o.t->learner[0].opt.step == 1);
  drop(&o);
  pb_config_free(cfg);
  pb_ctx_free(&ctx);
  return pb_test_exit("test_guard");
}
