/* nhwc_cases.h: the cases of test_nhwc_models.c (CPU) and test_cuda_nhwc_models.c (GPU): [run] layout = nhwc through whole models (engine/models/model.c, layout_edges;
 * engine/layers/layout.c; every image layer reading ctx->nhwc), on the CPU reference.
 *
 * For every convolutional arch family (mlp, simplecnn with its flatten, simpleconvnet, resnet18,
 * resnet50, seresnet50 (SE: GAP + channel scale), cifar_resnet, bagnet18 (crop add)), the same
 * config is built on an NCHW and an NHWC context with the same seed and random weights and running
 * statistics, and fed the SAME NCHW batch:
 *  1. structure: the NHWC model has the entry layer to_nhwc first exactly where its first image
 *     layer reads a map of several channels (not for mlp, whose flatten reads the input), a
 *     flatten behind channels-last maps permutes (alias off), and the tensors (names, shapes,
 *     count) are those of the NCHW model: checkpoints do not depend on the layout;
 *  2. a training forward: logits, features (the classifier's input, NCHW order) and batch-norm
 *     running statistics near NCHW's;
 *  3. a backward of the same logits gradient: every trainable tensor's gradient near NCHW's.
 *     "Near" in 2 and 3: within 1e-5 (forward) / 1e-4 (gradients) relative L2, or within 10x the
 *     NOISE FLOOR, how far NCHW moves from itself when every input value moves by one ulp
 *     (nextafterf), measured per quantity. The convolutions sum in another order in NHWC, and a deep
 *     network's training step amplifies rounding: resnet50 with a batch of 3 at 64x64 (its last
 *     batch norms see 12 values per channel) moves its logits by 4e-5 and some bias gradients by
 *     2e-2 under the one-ulp nudge. A layout bug gives errors of order 1,
 *     far above either bound. A tensor whose gradient is below 1e-5 of the whole gradient's norm
 *     (the convolution bias before a batch norm: exactly zero in exact arithmetic) is rounding on
 *     both sides: its difference is held to 1e-5 of the whole instead. Figures printed: NHWC error
 *     (floor);
 *  4. evaluation of an inference-only NHWC model (the arena plan, fused BN + ReLU, in-place layers)
 *     within 1e-5 of the NCHW inference model, and its input left untouched.
 * A model of the other layout reading this model's weights is exactly what loading a checkpoint
 * written in the other layout does, since the tensors are the same. */
#ifndef PB_TEST_NHWC_CASES_H
#define PB_TEST_NHWC_CASES_H

#include <math.h>
#include <string.h>

#include "engine/models/model.h"
#include "test/testutil.h"

/* Host copies of device memory (the models may live on a GPU). */
static float *host_of(pb_ctx *ctx, const float *dev, size_t n) {
  float *h = pb_xmalloc((n ? n : 1) * sizeof(float));
  pb_ctx_download(ctx, h, dev, n * sizeof(float));
  return h;
}
/* L2 norm of a device array */
static double l2_dev(pb_ctx *c, const float *x, size_t n) {
  float *h = host_of(c, x, n);
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)h[i] * h[i];
  free(h);
  return sqrt(s);
}
/* rel L2 of two device arrays of two contexts */
static double rel_l2_dev(pb_ctx *cg, const float *got, pb_ctx *cr, const float *ref, size_t n) {
  float *g = host_of(cg, got, n), *r = host_of(cr, ref, n);
  double e = pb_test_rel_l2(g, r, n);
  free(g), free(r);
  return e;
}

/* The frame encoder case: arch lstm over 3 frames of (3, 16, 16), each encoded by simpleconvnet. */
static const char *const FRAMES_SETS[] = {"model.frame_encoder=simpleconvnet", "model.seq_steps=3",
                                          "model.in_channels=3", "model.lstm_hidden=8", NULL};

static pb_model *build(pb_ctx *ctx, const char *arch, const int in[3], int n, int infer) {
  pb_err err = {{0}};
  pb_config *cfg = pb_config_new();
  char set[96];
  snprintf(set, sizeof set, "model.arch=%s", arch);
  PB_ASSERT(pb_config_set(cfg, set, &err) == PB_OK);
  PB_ASSERT(pb_config_set(cfg, "model.num_classes=7", &err) == PB_OK);
  if (!strcmp(arch, "lstm"))
    for (int i = 0; FRAMES_SETS[i]; i++) PB_ASSERT(pb_config_set(cfg, FRAMES_SETS[i], &err) == PB_OK);
  pb_model *m = pb_model_build(cfg, ctx, in, n, 1, infer, &err);
  if (!m) PB_FATAL("%s: %s", arch, err.msg);
  pb_config_free(cfg);
  return m;
}

/* Both models start from the same initialisation (seed and tensor ordinal); the running statistics
 * get the same random values (variances in [0.2, 2)), for the inference check. Trainable tensors keep
 * their Kaiming initialisation: random weights of a fixed scale make a deep network's gradients
 * ill-conditioned, and the comparison would measure that rather than the layouts. */
static void randomise(pb_model *a, pb_model *b) {
  PB_CHECK(pb_model_ntensors(a) == pb_model_ntensors(b));
  for (int i = 0; i < pb_model_ntensors(a); i++) {
    pb_param *p = pb_model_tensor(a, i), *q = pb_model_tensor(b, i);
    PB_CHECK_MSG(!strcmp(p->name, q->name) && p->numel == q->numel && p->ndim == q->ndim &&
                     !memcmp(p->shape, q->shape, sizeof p->shape),
                 "tensor %d: %s differs from %s between the layouts", i, p->name, q->name);
    if (p->kind == PB_PARAM_TRAINABLE) {
      float *hp = host_of(a->ctx, p->data, p->numel), *hq = host_of(b->ctx, q->data, q->numel);
      PB_CHECK_MSG(!memcmp(hp, hq, p->numel * sizeof(float)), "%s: initialised differently", p->name);
      free(hp), free(hq);
    }
    if (p->kind != PB_PARAM_BUFFER) continue;
    int var = strstr(p->name, "running_var") != NULL;
    float *h = pb_xmalloc(p->numel * sizeof(float));
    pb_test_fill_uniform(h, p->numel, var ? 0.2f : -0.3f, var ? 2.0f : 0.3f, 100 + (uint64_t)i);
    pb_ctx_upload(a->ctx, p->data, h, p->numel * sizeof(float));
    pb_ctx_upload(b->ctx, q->data, h, p->numel * sizeof(float));
    free(h);
  }
}

static const pb_layer *find_kind(const pb_model *m, const char *kind) {
  for (int i = 0; i < m->nlayers; i++)
    if (!strcmp(m->layers[i]->vt->kind, kind)) return m->layers[i];
  return NULL;
}

static void nhwc_case(pb_ctx *cc, pb_ctx *ch, const char *arch, int c, int hw) {
  const int in[3] = {c, hw, hw}, n = 3;
  pb_model *a = build(cc, arch, in, n, 0), *b = build(ch, arch, in, n, 0);
  /* 1: structure */
  int frames = !strcmp(arch, "lstm"), image = strcmp(arch, "mlp") != 0 && !frames;
  PB_CHECK_MSG(!strcmp(b->layers[0]->vt->kind, image ? "to_nhwc" : frames ? "frames" : "flatten"),
               "%s: layer 0 of the NHWC model is %s", arch, b->layers[0]->vt->kind);
  PB_CHECK_MSG(b->nlayers == a->nlayers + image, "%s: %d layers against %d", arch, b->nlayers, a->nlayers);
  if (frames) /* the frame encoder is an image model of its own: its entry is its first child */
    PB_CHECK_MSG(!strcmp(b->layers[0]->children[0]->vt->kind, "to_nhwc") &&
                     b->layers[0]->nchildren == a->layers[0]->nchildren + 1,
                 "%s: the NHWC frame encoder does not start with to_nhwc", arch);
  PB_CHECK(find_kind(a, "to_nhwc") == NULL);
  const pb_layer *fa = find_kind(a, "flatten"), *fb = find_kind(b, "flatten");
  if (fb) {
    int want_alias = fb->in[1] * fb->in[2] < 2 || !image; /* a map behind image layers is permuted */
    PB_CHECK_MSG(fa->alias && fb->alias == want_alias, "%s: flatten alias %d (NHWC), want %d", arch, fb->alias,
                 want_alias);
  }
  randomise(a, b);
  /* 2: a training forward of the same NCHW batch; the floor model a2 reads it one ulp away */
  pb_model *a2 = build(cc, arch, in, n, 0);
  randomise(a, a2);
  size_t cnt = (size_t)n * c * hw * hw, k = (size_t)pb_model_out(a)[0];
  float *x0 = pb_xmalloc(cnt * sizeof(float)), *xu0 = pb_xmalloc(cnt * 4);
  pb_test_fill_uniform(x0, cnt, -1, 1, 7);
  for (size_t i = 0; i < cnt; i++) xu0[i] = nextafterf(x0[i], 2.0f);
  pb_err err = {{0}};
  float *x = pb_ctx_alloc(cc, cnt * 4, "x", &err), *xb = pb_ctx_alloc(ch, cnt * 4, "x", &err);
  float *xu = pb_ctx_alloc(cc, cnt * 4, "x", &err);
  PB_ASSERT(x && xb && xu);
  pb_ctx_upload(cc, x, x0, cnt * 4), pb_ctx_upload(ch, xb, x0, cnt * 4), pb_ctx_upload(cc, xu, xu0, cnt * 4);
  const float *ya = pb_model_forward(a, x, n, 1), *yb = pb_model_forward(b, xb, n, 1);
  const float *yu = pb_model_forward(a2, xu, n, 1);
  int da, db, du;
  const float *fta = pb_model_features(a, &da), *ftb = pb_model_features(b, &db), *ftu = pb_model_features(a2, &du);
  PB_CHECK(da == db && da == du);
  double el = rel_l2_dev(ch, yb, cc, ya, (size_t)n * k), fl = rel_l2_dev(cc, yu, cc, ya, (size_t)n * k);
  double ef = rel_l2_dev(ch, ftb, cc, fta, (size_t)n * da), ff = rel_l2_dev(cc, ftu, cc, fta, (size_t)n * da);
  PB_CHECK_MSG(el < fmax(1e-5, 10 * fl) && ef < fmax(1e-5, 10 * ff), "%s: training logits rel L2 %.3g (floor %.3g), "
               "features %.3g (floor %.3g)", arch, el, fl, ef, ff);
  double erun = 0, frun = 0;
  for (int i = 0; i < pb_model_ntensors(a); i++) {
    pb_param *p = pb_model_tensor(a, i), *q = pb_model_tensor(b, i), *u = pb_model_tensor(a2, i);
    if (p->kind == PB_PARAM_BUFFER) {
      double e = rel_l2_dev(ch, q->data, cc, p->data, p->numel), f = rel_l2_dev(cc, u->data, cc, p->data, p->numel);
      PB_CHECK_MSG(e < fmax(1e-5, 10 * f), "%s: %s rel L2 %.3g (floor %.3g)", arch, p->name, e, f);
      erun = fmax(erun, e), frun = fmax(frun, f);
    }
    if (p->kind == PB_PARAM_COUNTER) PB_CHECK(p->counter == q->counter);
  }
  /* 3: backward of the same logits gradient */
  float *dlh = pb_xmalloc((size_t)n * k * sizeof(float));
  pb_test_fill_uniform(dlh, (size_t)n * k, -1, 1, 8);
  float *dl = pb_ctx_alloc(cc, (size_t)n * k * 4, "dl", &err), *dlb = pb_ctx_alloc(ch, (size_t)n * k * 4, "dl", &err);
  PB_ASSERT(dl && dlb);
  pb_ctx_upload(cc, dl, dlh, (size_t)n * k * 4), pb_ctx_upload(ch, dlb, dlh, (size_t)n * k * 4);
  pb_model_zero_grad(a), pb_model_zero_grad(b), pb_model_zero_grad(a2);
  pb_model_backward(a, dl, n), pb_model_backward(b, dlb, n), pb_model_backward(a2, dl, n);
  double eg = 0, fg = 0, eall = rel_l2_dev(ch, b->grads, cc, a->grads, a->nparams);
  double fall = rel_l2_dev(cc, a2->grads, cc, a->grads, a->nparams);
  const char *worst = "";
  const double gall = l2_dev(cc, a->grads, a->nparams);
  int vanishing = 0;
  for (int i = 0; i < pb_model_ntensors(a); i++) {
    pb_param *p = pb_model_tensor(a, i), *q = pb_model_tensor(b, i), *u = pb_model_tensor(a2, i);
    if (p->kind != PB_PARAM_TRAINABLE) continue;
    double e = rel_l2_dev(ch, q->grad, cc, p->grad, p->numel), f = rel_l2_dev(cc, u->grad, cc, p->grad, p->numel);
    double g = l2_dev(cc, p->grad, p->numel);
    if (g < 1e-5 * gall) { /* an exactly-zero gradient in exact arithmetic (a convolution's bias before a batch
                              norm): rounding on both sides; held to 1e-5 of the whole gradient instead */
      vanishing++;
      PB_CHECK_MSG(e * g < 1e-5 * gall, "%s: vanishing gradient of %s differs by %.3g of the whole", arch, p->name,
                   e * g / gall);
      continue;
    }
    PB_CHECK_MSG(e < fmax(1e-4, 10 * f), "%s: gradient of %s rel L2 %.3g (floor %.3g)", arch, p->name, e, f);
    if (e > eg) eg = e, fg = f, worst = p->name;
  }
  PB_CHECK_MSG(eall < fmax(1e-4, 10 * fall), "%s: all gradients rel L2 %.3g (floor %.3g)", arch, eall, fall);
  float *xh = host_of(ch, xb, cnt);
  PB_CHECK_MSG(!memcmp(xh, x0, cnt * sizeof(float)), "%s: the input was overwritten", arch);
  free(xh);
  /* 4: inference-only models */
  pb_model *ia = build(cc, arch, in, n, 1), *ib = build(ch, arch, in, n, 1);
  randomise(ia, ib);
  const float *za = pb_model_forward(ia, x, n, 0), *zb = pb_model_forward(ib, xb, n, 0);
  double ei = rel_l2_dev(ch, zb, cc, za, (size_t)n * k);
  PB_CHECK_MSG(ei < 1e-5, "%s: inference logits rel L2 %.3g", arch, ei);
  xh = host_of(ch, xb, cnt);
  PB_CHECK_MSG(!memcmp(xh, x0, cnt * sizeof(float)), "%s: inference overwrote the input", arch);
  free(xh);
  printf("  %-13s %dx%dx%d: NHWC against NCHW, rel L2 (floor): logits %.2g (%.2g), features %.2g (%.2g), running "
         "stats %.2g (%.2g), all gradients %.2g (%.2g), worst tensor %s %.2g (%.2g) (%d vanishing); inference %.2g\n",
         arch, c, hw, hw, el, fl, ef, ff, erun, frun, eall, fall, worst, eg, fg, vanishing, ei);
  free(x0), free(xu0), free(dlh);
  pb_ctx_free_mem(cc, x), pb_ctx_free_mem(ch, xb), pb_ctx_free_mem(cc, xu), pb_ctx_free_mem(cc, dl);
  pb_ctx_free_mem(ch, dlb);
  pb_model_free(a), pb_model_free(a2), pb_model_free(b), pb_model_free(ia), pb_model_free(ib);
}


/* Every case on two contexts of one device: cc NCHW, ch NHWC (ch->nhwc = 1). */
static void nhwc_all_cases(pb_ctx *cc, pb_ctx *ch) {
  static const struct {
    const char *arch;
    int c, hw;
  } cases[] = {{"mlp", 3, 12},          {"simplecnn", 3, 16}, {"simpleconvnet", 3, 16}, {"resnet18", 3, 64},
               {"resnet50", 3, 64},     {"seresnet50", 3, 64}, {"cifar_resnet", 3, 32},  {"bagnet18", 3, 64},
               {"lstm", 9, 16}}; /* lstm: 3 frames of 3 x 16 x 16 through a simpleconvnet encoder */
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) nhwc_case(cc, ch, cases[i].arch, cases[i].c, cases[i].hw);
}

#endif
