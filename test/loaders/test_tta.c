/* test_tta.c: test-time augmentation ([augment] tta): the loader's views (pool.c +
 * pb_aug_views in augment.c) and their averaging (the loss's views method, engine/losses/xent.c, through pb_trainer_eval).
 *  - flip: a batch of n images comes out as 2n rows in order, row 2i = image i as stored
 *    (geometry none at the stored size is an exact copy), row 2i+1 = its mirror image;
 *    the TTA evaluation equals averaging, by hand, the softmax probabilities of two single-view
 *    evaluations (the images, and the mirrored images): loss within 1e-5 relative (the same
 *    float logits, summed in double in both), identical predictions;
 *  - tencrop: 10 rows per image, row 10i + v = pb_aug_view(v) of image i, and views 5..9 are
 *    the mirrors of views 0..4; identical bytes with 1 and 3 workers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/run/data.h"
#include "engine/trainers/trainer.h"
#include "kernels/ops.h"
#include "loaders/pool.h"
#include "test/testutil.h"

enum { N = 13, C = 3, H = 10, W = 12, K = 4, B = 5 };

static pb_dataset make_data(void) {
  pb_dataset d = {.kind = PB_DATA_U8, .n = N, .c = C, .h = H, .w = W, .num_classes = K};
  d.images = pb_xmalloc((size_t)N * C * H * W);
  d.labels = pb_xmalloc(N * sizeof(int32_t));
  float u[N * C * H * W];
  pb_test_fill_uniform(u, N * C * H * W, 0, 256, 5);
  for (int i = 0; i < N * C * H * W; i++) d.images[i] = (uint8_t)u[i];
  for (int i = 0; i < N; i++) d.labels[i] = i % K;
  return d;
}

/* All rows of a pass in order: rows [N * views, C, out_h, out_w]. */
static uint8_t *views_pass(const pb_dataset *d, const pb_aug *a, int workers, size_t per) {
  pb_loader_opts o = {.workers = workers, .depth = 4, .max_batch = B, .max_views = a->views,
                      .max_sample_bytes = (size_t)C * H * W, .seed = 1};
  pb_err err;
  pb_loader *L = pb_loader_new(&o, &err);
  PB_ASSERT(L);
  int32_t order[N];
  for (int i = 0; i < N; i++) order[i] = i;
  uint8_t *rows = pb_xmalloc((size_t)N * a->views * per);
  int got = 0;
  pb_loader_start(L, d, a, order, N, B, 0, 0);
  for (pb_batch *b; (b = pb_loader_next(L));) {
    PB_CHECK(b->views == a->views);
    memcpy(rows + (size_t)got * a->views * per, b->u8, (size_t)b->n * b->views * per);
    got += b->n;
    pb_loader_release(L, b);
  }
  PB_CHECK(got == N);
  pb_loader_free(L);
  return rows;
}

/* Softmax of logits [k] in double, added into p with weight w. */
static void add_softmax(double *p, const float *r, int k, double w) {
  double mx = r[0], s = 0;
  for (int j = 1; j < k; j++) mx = fmax(mx, r[j]);
  for (int j = 0; j < k; j++) s += exp(r[j] - mx);
  for (int j = 0; j < k; j++) p[j] += w * exp(r[j] - mx) / s;
}

static void test_flip(void) {
  pb_dataset d = make_data();
  size_t per = (size_t)C * H * W, hw = (size_t)H * W;
  pb_aug a = {.geom = PB_AUG_NONE, .out_c = C, .out_h = H, .out_w = W, .views = 2};
  uint8_t *rows = views_pass(&d, &a, 2, per);
  int ok = 1;
  for (int i = 0; i < N; i++)
    for (int ch = 0; ch < C; ch++)
      for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
          uint8_t s = d.images[i * per + ch * hw + y * W + x];
          ok &= rows[(2 * i) * per + ch * hw + y * W + x] == s;
          ok &= rows[(2 * i + 1) * per + ch * hw + y * W + (W - 1 - x)] == s;
        }
  PB_CHECK_MSG(ok, "flip views: row 2i = image i, row 2i+1 = its mirror");

  /* The model and its TTA evaluation. */
  pb_err err = {{0}};
  pb_ctx ctx;
  PB_ASSERT(pb_ctx_init(&ctx, "cpu", 1, 0, 0, &err) == PB_OK);
  pb_config *cfg = pb_config_new();
  PB_ASSERT(pb_config_set(cfg, "model.arch=simplecnn", &err) == PB_OK);
  PB_ASSERT(pb_config_set(cfg, "model.channels=4,8", &err) == PB_OK);
  PB_ASSERT(pb_config_set(cfg, "model.num_classes=4", &err) == PB_OK);
  int in[3] = {C, H, W};
  pb_model *m = pb_model_from_config(cfg, &ctx, in, 2 * N, 3, &err);
  PB_ASSERT(m);
  pb_trainer *t = pb_trainer_from_config(cfg, m, 1, 1, &err);
  PB_ASSERT(t);
  pb_norm norm = {{0.4f, 0.5f, 0.6f}, {0.2f, 0.3f, 0.25f}};
  float *x = pb_xmalloc(2 * N * per * sizeof(float));
  pb_u8_to_f32_norm_cpu(x, rows, 2 * N, C, (int)hw, norm.mean, norm.std);
  int32_t pred[N];
  double loss;
  pb_trainer_eval(t, x, d.labels, d.labels, N, 2, pred, &loss);

  /* By hand: two single-view evaluations (N images, then N mirrored images), averaged. */
  float *x1 = pb_xmalloc(N * per * sizeof(float)), *x2 = pb_xmalloc(N * per * sizeof(float));
  float *l1 = pb_xmalloc(N * K * sizeof(float)), *l2 = pb_xmalloc(N * K * sizeof(float));
  for (int i = 0; i < N; i++) {
    memcpy(x1 + i * per, x + (2 * i) * per, per * sizeof(float));
    memcpy(x2 + i * per, x + (2 * i + 1) * per, per * sizeof(float));
  }
  memcpy(l1, pb_model_forward(m, x1, N, 0), N * K * sizeof(float));
  memcpy(l2, pb_model_forward(m, x2, N, 0), N * K * sizeof(float));
  double ref = 0, single = 0;
  int same = 1, differs = 0;
  for (int i = 0; i < N; i++) {
    double p[K] = {0}, q[K] = {0};
    add_softmax(p, l1 + i * K, K, 0.5);
    add_softmax(p, l2 + i * K, K, 0.5);
    add_softmax(q, l1 + i * K, K, 1.0);
    int b = 0;
    for (int j = 1; j < K; j++) b = p[j] > p[b] ? j : b;
    same &= b == pred[i];
    ref -= log(p[d.labels[i]]);
    single -= log(q[d.labels[i]]);
    differs |= memcmp(l1 + i * K, l2 + i * K, K * sizeof(float)) != 0;
  }
  printf("flip TTA: loss sum %.9g, by hand %.9g (single view %.9g)\n", loss, ref, single);
  PB_CHECK(fabs(loss - ref) <= 1e-5 * fabs(ref));
  PB_CHECK(fabs(single - ref) > 1e-4 * fabs(ref) && differs); /* the views do differ */
  PB_CHECK(same);
  free(x), free(x1), free(x2), free(l1), free(l2), free(rows);
  pb_trainer_free(t);
  pb_model_free(m);
  pb_config_free(cfg);
  pb_ctx_free(&ctx);
  pb_dataset_free(&d);
}

static void test_tencrop(void) {
  pb_dataset d = make_data();
  int oh = H, ow = W; /* in-memory data keeps its stored size */
  size_t per = (size_t)C * oh * ow;
  pb_aug a = {.geom = PB_AUG_NONE, .out_c = C, .out_h = oh, .out_w = ow, .resize = 13, .views = 10};
  uint8_t *r1 = views_pass(&d, &a, 1, per), *r3 = views_pass(&d, &a, 3, per);
  PB_CHECK(!memcmp(r1, r3, (size_t)N * 10 * per));
  pb_image im = {.w = W, .h = H, .c = C, .data = pb_xmalloc((size_t)C * H * W)};
  uint8_t *v = pb_xmalloc(per);
  int ok = 1, mirrored = 1, distinct = 0;
  for (int i = 0; i < N; i++) {
    for (int ch = 0; ch < C; ch++)
      for (int j = 0; j < H * W; j++) im.data[j * C + ch] = d.images[((size_t)i * C + ch) * H * W + j];
    for (int k = 0; k < 10; k++) {
      pb_aug_view(&a, &im, k, v);
      ok &= !memcmp(v, r1 + ((size_t)i * 10 + k) * per, per);
    }
    for (int k = 0; k < 5; k++) {
      const uint8_t *s = r1 + ((size_t)i * 10 + k) * per, *f = r1 + ((size_t)i * 10 + k + 5) * per;
      for (int row = 0; row < C * oh; row++)
        for (int x = 0; x < ow; x++) mirrored &= s[row * ow + x] == f[row * ow + ow - 1 - x];
      distinct += k > 0 && memcmp(s, r1 + (size_t)i * 10 * per, per) != 0;
    }
  }
  PB_CHECK_MSG(ok, "tencrop rows = pb_aug_view 0..9 in order");
  PB_CHECK_MSG(mirrored, "views 5..9 mirror views 0..4");
  PB_CHECK(distinct == 4 * N);
  free(v);
  pb_image_free(&im);
  free(r1), free(r3);
  pb_dataset_free(&d);
}

int main(void) {
  test_flip();
  test_tencrop();
  return pb_test_exit("test_tta");
}
