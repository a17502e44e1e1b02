/* test_backend.c: the ops tables (engine/device/backend.h). Both tables are complete (every entry set,
 * checked slot by slot so a new entry cannot be forgotten); a CPU context selects
 * pb_backend_cpu; its memory and staging entries behave as documented; and its op entries are
 * the CPU kernels with the context's scratch and thread count: bitwise equal to direct calls
 * (the property the quickstart fingerprint, test_quickstart_identical, relies on), HSIC's scratch
 * reserved through the table's hsic_reserve.
 * The CUDA table's ops are exercised on a GPU by test_cuda_train_step and test_cuda_resblock. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "engine/device/backend.h"
#include "engine/device/ctx.h"
#include "kernels/ops.h"
#include "test/testutil.h"

typedef void (*pb_fn)(void);

/* Every member after `name` is a function pointer of the same size and alignment as pb_fn. */
_Static_assert((sizeof(pb_backend) - offsetof(pb_backend, alloc)) % sizeof(pb_fn) == 0,
               "pb_backend: only function pointers after name");

static void test_complete(const pb_backend *b, const char *name) {
  PB_CHECK_MSG(b->name && !strcmp(b->name, name), "table name %s, want %s", b->name ? b->name : "(null)", name);
  const size_t first = offsetof(pb_backend, alloc), n = (sizeof(pb_backend) - first) / sizeof(pb_fn);
  for (size_t i = 0; i < n; i++) {
    pb_fn f;
    memcpy(&f, (const char *)b + first + i * sizeof(pb_fn), sizeof f);
    PB_CHECK_MSG(f != NULL, "%s table: entry %zu of %zu is NULL", name, i, n);
  }
}

static void test_memory(pb_ctx *c) {
  const pb_backend *o = c->ops;
  pb_err err = {{0}};
  float host[37], back[37];
  pb_test_fill_uniform(host, 37, -1.0f, 1.0f, 3);
  float *a = o->alloc(c, sizeof host, "a test block", &err), *b = o->alloc(c, sizeof host, "a test block", &err);
  PB_ASSERT(a && b);
  o->download(c, back, a, sizeof back);
  for (int i = 0; i < 37; i++) PB_CHECK_MSG(back[i] == 0.0f, "alloc: element %d not zeroed", i);
  o->upload(c, a, host, sizeof host);
  o->copy(c, b, a, 37);
  o->download(c, back, b, sizeof back);
  PB_CHECK_MSG(!memcmp(back, host, sizeof host), "upload + copy + download: not the same bits");
  o->zero(c, b, 10 * sizeof(float));
  o->download(c, back, b, sizeof back);
  PB_CHECK(back[9] == 0.0f && back[10] == host[10]);
  o->upload(c, NULL, NULL, 0); /* 0 bytes: nothing */
  o->sync(c);
  o->free(c, a), o->free(c, b), o->free(c, NULL);
  void *z = pb_ctx_alloc(c, 0, "nothing", &err);
  PB_CHECK(z != NULL); /* a real pointer for 0 bytes */
  pb_ctx_free_mem(c, z);

  /* staging: host buffer -> context memory */
  float *pin = o->host_alloc(c, sizeof host, "a staging buffer", &err), *dst = o->alloc(c, sizeof host, "x", &err);
  PB_ASSERT(pin && dst);
  memcpy(pin, host, sizeof host);
  o->stage_begin(c, 0);
  o->h2d_async(c, dst, pin, sizeof host);
  o->copy_wait(c);
  o->download(c, back, dst, sizeof back);
  PB_CHECK_MSG(!memcmp(back, host, sizeof host), "h2d_async: not the same bits");
  o->host_free(c, pin), o->host_free(c, NULL), o->free(c, dst);
}

/* The table's ops against direct calls of the CPU kernels, bitwise. */
static void test_cpu_ops_bitwise(pb_ctx *c) {
  const pb_backend *o = c->ops;
  /* convolution: the only op with scratch (sized and reserved as the model does) */
  pb_conv2d_params p = {.n = 3, .c_in = 4, .h_in = 9, .w_in = 7, .c_out = 5, .kh = 3, .kw = 3, .stride_h = 2,
                        .stride_w = 1, .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1, .groups = 1};
  PB_ASSERT(pb_conv2d_params_finish(&p) == 0);
  pb_ctx_reserve_scratch(c, pb_conv2d_scratch_cpu(&p, c->nthreads));
  pb_scratch s = {c->scratch, c->scratch_floats, c->nthreads};
  const size_t nx = (size_t)p.n * p.c_in * p.h_in * p.w_in, nw = (size_t)p.c_out * p.c_in * 9,
               ny = (size_t)p.n * p.c_out * p.h_out * p.w_out;
  float *x = malloc(nx * sizeof(float)), *w = malloc(nw * sizeof(float)), *bias = malloc(5 * sizeof(float));
  float *y1 = malloc(ny * sizeof(float)), *y2 = malloc(ny * sizeof(float));
  float *dx1 = malloc(nx * sizeof(float)), *dx2 = malloc(nx * sizeof(float));
  float *dw1 = calloc(nw, sizeof(float)), *dw2 = calloc(nw, sizeof(float));
  float db1[5] = {0}, db2[5] = {0};
  pb_test_fill_uniform(x, nx, -1, 1, 10), pb_test_fill_uniform(w, nw, -1, 1, 11);
  pb_test_fill_uniform(bias, 5, -1, 1, 12);
  pb_conv2d_fwd_cpu(y1, x, w, bias, &p, &s);
  o->conv2d_fwd(c, y2, x, w, bias, &p);
  PB_CHECK_MSG(!memcmp(y1, y2, ny * sizeof(float)), "conv2d_fwd differs from pb_conv2d_fwd_cpu");
  pb_conv2d_bwd_data_cpu(dx1, y1, w, &p, &s);
  o->conv2d_bwd_data(c, dx2, y1, w, &p);
  PB_CHECK_MSG(!memcmp(dx1, dx2, nx * sizeof(float)), "conv2d_bwd_data differs");
  pb_conv2d_bwd_filter_cpu(dw1, db1, y1, x, &p, &s);
  o->conv2d_bwd_filter(c, dw2, db2, y1, x, &p);
  PB_CHECK_MSG(!memcmp(dw1, dw2, nw * sizeof(float)) && !memcmp(db1, db2, sizeof db1), "conv2d_bwd_filter differs");

  /* batch norm and linear: the context's thread count */
  pb_bn_params bp = {.n = 3, .c = 4, .hw = 63, .eps = 1e-5f, .momentum = 0.1f};
  float g[4] = {1, 0.5f, 2, -1}, be[4] = {0, 0.1f, -0.2f, 0.3f}, st1[16] = {0}, st2[16] = {0};
  for (int i = 0; i < 4; i++) st1[12 + i] = st2[12 + i] = 1.0f; /* running_var */
  pb_bn_fwd_train_cpu(dx1, st1, st1 + 4, st1 + 8, st1 + 12, x, g, be, &bp, c->nthreads);
  o->bn_fwd_train(c, dx2, st2, st2 + 4, st2 + 8, st2 + 12, x, g, be, &bp);
  PB_CHECK_MSG(!memcmp(dx1, dx2, nx * sizeof(float)) && !memcmp(st1, st2, sizeof st1), "bn_fwd_train differs");
  pb_linear_fwd_cpu(y1, x, w, bias, 3, 12, 5, c->nthreads);
  o->linear_fwd(c, y2, x, w, bias, 3, 12, 5);
  PB_CHECK_MSG(!memcmp(y1, y2, 15 * sizeof(float)), "linear_fwd differs");

  /* losses and optimizer helpers */
  int32_t labels[3] = {1, -1, 4}, pred1[3], pred2[3];
  float l1, l2;
  pb_softmax_xent_cpu(&l1, NULL, y1, x, labels, 3, 5, 0.1f, 1.0f / 3);
  o->softmax_xent(c, &l2, NULL, y2, x, labels, 3, 5, 0.1f, 1.0f / 3);
  PB_CHECK_MSG(!memcmp(&l1, &l2, sizeof l1) && !memcmp(y1, y2, 15 * sizeof(float)), "softmax_xent differs");
  int c1 = 2, c2 = 2;
  pb_argmax_count_cpu(pred1, &c1, x, labels, 3, 5);
  o->argmax_count(c, pred2, &c2, x, labels, 3, 5);
  o->argmax_count(c, pred2, NULL, x, NULL, 3, 5); /* predictions only */
  PB_CHECK_MSG(c1 == c2 && !memcmp(pred1, pred2, sizeof pred1), "argmax_count differs");
  float t[15];
  o->onehot(c, t, labels, 3, 5);
  PB_CHECK(t[1] == 1.0f && t[4] == 0.0f && t[14] == 1.0f && t[5] == 0.0f && t[9] == 0.0f); /* row 1: missing */
  /* multi-label: label rows y[5][3] -> multi-hot, then the Inclusive Images loss on them */
  const int32_t yrows[15] = {1, 0, 0, 0, 2, 0, 1, 1, -1, 0, 0, 3, 0, 0, 0};
  float mh[15], il1, il2;
  int64_t np1, np2;
  pb_multihot_cpu(mh, yrows, 3, 5);
  o->multihot(c, t, yrows, 3, 5);
  PB_CHECK_MSG(!memcmp(mh, t, sizeof t), "multihot differs");
  pb_inclusive_loss_cpu(&il1, &np1, y1, x, t, 3, 5, 0.25f);
  o->inclusive_loss(c, &il2, &np2, y2, x, t, 3, 5, 0.25f);
  PB_CHECK_MSG(!memcmp(&il1, &il2, sizeof il1) && np1 == np2 && np1 == 5 && !memcmp(y1, y2, 15 * sizeof(float)),
               "inclusive_loss differs");
  double acc = 1.0;
  o->accum_f64(c, &acc, &l1);
  PB_CHECK(acc == 1.0 + (double)l1);
  double ss;
  o->sumsq(c, &ss, x, nx);
  PB_CHECK_MSG(ss == pb_sumsq_cpu(x, nx), "sumsq differs from pb_sumsq_cpu");

  /* HSIC: the caller reserves the scratch through the table (hsic_reserve), then the entries are
   * the kernels with the context's scratch and threads */
  pb_hsic_params hp = {.n = 9, .dx = 7, .dy = 5, .sigma_x = 1.1f, .sigma_y = 0.7f, .unbiased = 1};
  pb_err err = {{0}};
  PB_CHECK(o->hsic_reserve(c, &hp, &err) == PB_OK && c->scratch_floats >= pb_hsic_scratch_cpu(&hp));
  pb_scratch hs = {c->scratch, c->scratch_floats, c->nthreads};
  float hv1, hv2, hx1[63] = {0}, hx2[63] = {0}, hy1[45] = {0}, hy2[45] = {0}, d1[81], d2[81];
  pb_hsic_fwd_cpu(&hv1, x, x + 63, &hp, &hs);
  o->hsic_fwd(c, &hv2, x, x + 63, &hp);
  PB_CHECK_MSG(!memcmp(&hv1, &hv2, sizeof hv1), "hsic_fwd differs from pb_hsic_fwd_cpu");
  pb_hsic_bwd_cpu(hx1, hy1, -0.5f, x, x + 63, &hp, &hs);
  o->hsic_bwd(c, hx2, hy2, -0.5f, x, x + 63, &hp);
  PB_CHECK_MSG(!memcmp(hx1, hx2, sizeof hx1) && !memcmp(hy1, hy2, sizeof hy1), "hsic_bwd differs");
  pb_sqdist_cpu(d1, x, 9, 7);
  o->sqdist(c, d2, x, 9, 7);
  PB_CHECK_MSG(!memcmp(d1, d2, sizeof d1), "sqdist differs from pb_sqdist_cpu");

  free(x), free(w), free(bias), free(y1), free(y2), free(dx1), free(dx2), free(dw1), free(dw2);
}

/* The crop add (BagNet residual): the table's entries against the CPU kernels, bitwise. */
static void test_cpu_add_crop_bitwise(pb_ctx *c) {
  const pb_backend *o = c->ops;
  pb_crop_params p = {2, 3, 4, 5, 6, 7, 0};
  float a[120], b[252], y1[120], y2[120], db1[252], db2[252];
  pb_test_fill_uniform(a, 120, -1, 1, 20), pb_test_fill_uniform(b, 252, -1, 1, 21);
  pb_add_crop_fwd_cpu(y1, a, b, &p);
  o->add_crop_fwd(c, y2, a, b, &p);
  PB_CHECK_MSG(!memcmp(y1, y2, sizeof y1), "add_crop_fwd differs from pb_add_crop_fwd_cpu");
  pb_add_crop_bwd_cpu(db1, a, &p);
  o->add_crop_bwd(c, db2, a, &p);
  PB_CHECK_MSG(!memcmp(db1, db2, sizeof db1), "add_crop_bwd differs from pb_add_crop_bwd_cpu");
}

int main(void) {
  test_complete(&pb_backend_cpu, "cpu");
  test_complete(&pb_backend_cuda, "cuda");
  pb_ctx c;
  pb_err err = {{0}};
  PB_ASSERT(pb_ctx_init(&c, "cpu", 2, 0, 0, &err) == PB_OK);
  PB_CHECK(c.ops == &pb_backend_cpu);
  test_memory(&c);
  test_cpu_ops_bitwise(&c);
  test_cpu_add_crop_bitwise(&c);
  pb_ctx_free(&c);
  return pb_test_exit("test_backend");
}
