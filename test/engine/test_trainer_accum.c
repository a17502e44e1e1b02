/* test_trainer_accum.c: gradient accumulation in the plain trainer's micro-step (engine/trainers/plain.c, learner.c) when a
 * micro-batch is empty (every image of the batch was bad and skipped): the accumulation group
 * that the empty batch ends still takes its optimizer step, with exactly the gradient of the
 * micro-batches it did hold; an empty batch inside a group changes nothing. */
#include <stdlib.h>
#include <string.h>

#include "engine/trainers/trainer.h"
#include "test/testutil.h"

enum { N = 6, D = 12, K = 3 };

static pb_model *build(pb_ctx *ctx, pb_config *cfg) {
  pb_err err = {{0}};
  int in[3] = {D, 1, 1};
  pb_model *m = pb_model_from_config(cfg, ctx, in, N, 7, &err);
  PB_ASSERT(m);
  return m;
}

int main(void) {
  pb_err err = {{0}};
  pb_ctx ctx;
  PB_ASSERT(pb_ctx_init(&ctx, "cpu", 1, 0, 0, &err) == PB_OK);
  pb_config *cfg = pb_config_new();
  const char *sets[] = {"model.arch=mlp", "model.hidden=8", "model.num_classes=3", "train.accum_steps=2",
                        "optim.name=sgd", "optim.lr=0.1", "optim.momentum=0"};
  for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) PB_ASSERT(pb_config_set(cfg, sets[i], &err) == PB_OK);
  float x[N * D];
  int32_t y[N];
  pb_test_fill_uniform(x, N * D, -1, 1, 11);
  for (int i = 0; i < N; i++) y[i] = i % K;

  /* a: one micro-batch then an empty one that ends the group (the epoch's last batch). */
  pb_model *a = build(&ctx, cfg);
  pb_trainer *ta = pb_trainer_from_config(cfg, a, 1, 1, &err);
  PB_ASSERT(ta);
  PB_CHECK(pb_trainer_micro(ta, x, y, y, N, 0) == 0);
  PB_CHECK(ta->learner[0].opt.step == 0 && ta->learner[0].micro == 1);
  PB_CHECK(pb_trainer_micro(ta, NULL, NULL, NULL, 0, 1) == 1);
  PB_CHECK_MSG(ta->learner[0].opt.step == 1 && ta->learner[0].micro == 0, "step %lld micro %d", (long long)ta->learner[0].opt.step, ta->learner[0].micro);

  /* b: the same micro-batch and a step_now at once: the same update, bit for bit. */
  pb_model *b = build(&ctx, cfg);
  pb_trainer *tb = pb_trainer_from_config(cfg, b, 1, 1, &err);
  PB_ASSERT(tb);
  PB_CHECK(memcmp(a->params, b->params, a->nparams * sizeof(float)) != 0); /* a has moved */
  PB_CHECK(pb_trainer_micro(tb, x, y, y, N, 1) == 1);
  PB_CHECK(tb->learner[0].opt.step == 1);
  PB_CHECK(memcmp(a->params, b->params, a->nparams * sizeof(float)) == 0);

  /* An empty batch inside a group, or with nothing pending, does not step. */
  PB_CHECK(pb_trainer_micro(tb, NULL, NULL, NULL, 0, 1) == 0 && tb->learner[0].opt.step == 1);
  PB_CHECK(pb_trainer_micro(tb, x, y, y, N, 0) == 0);
  PB_CHECK(pb_trainer_micro(tb, NULL, NULL, NULL, 0, 0) == 0 && tb->learner[0].micro == 1 && tb->learner[0].opt.step == 1);
  PB_CHECK(pb_trainer_micro(tb, x, y, y, N, 0) == 1 && tb->learner[0].opt.step == 2);

  pb_trainer_free(ta);
  pb_trainer_free(tb);
  pb_model_free(a);
  pb_model_free(b);
  pb_config_free(cfg);
  pb_ctx_free(&ctx);
  return pb_test_exit("test_trainer_accum");
}
