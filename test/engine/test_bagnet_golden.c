/* test_bagnet_golden.c: plumb's bagnet18 (engine/models/models_resnet.c, ReBias's BagNet-18 as
 * released) against PyTorch (fixture: scripts/fixtures/gen_bagnet_golden.py ->
 * test/fixtures/bagnet_golden.safetensors, from scripts/fixtures/bagnet_torch.py, which was
 * checked against the released clovaai/rebias models/imagenet_models.py: same keys, bitwise the
 * same outputs).
 *
 * Checks, on a 10-class model and a 2 x 3 x 64 x 64 batch:
 *  - names: every checkpoint tensor, in order, with its shape, equals the released module's
 *    state_dict (keys and shapes, num_batches_tracked included): EXACT;
 *  - parameter count: exact, for 10 classes and for 1000 classes at 224 x 224 (the model
 *    `plumb info --model bagnet18` builds; test/cli/test_info_bagnet.sh checks the CLI line);
 *  - receptive field: at a 3 x 24 x 24 input, for every position o of layer4's 3 x 3 map, the
 *    input pixels that o depends on, measured in plumb by perturbation (eval mode: one forward
 *    per input pixel with that pixel moved by +0.5 in all channels; o depends on the pixel when
 *    any channel of layer4's output at o changes), must have EXACTLY the bounding box PyTorch's
 *    gradient gives (and fill it): 5 x 5 pixels, 8 apart. The boxes' positions also test the
 *    crop (top-left, as released) and the unpadded convolutions;
 *  - eval logits (float32 reference), an inference-only model's logits (bitwise the training
 *    plan's), train-mode logits and loss, every parameter gradient after one backward, and the
 *    stem BN's running statistics after the step (momentum 0.001).
 * Weights are not stored: both sides compute each tensor from its name (det_value, as
 * test_resnet_golden.c and resnet_torch.det_value), bit-identical.
 *
 * Tolerances: those of test_resnet_golden.c, for the same reasons (float32 through ~20 layers,
 * other summation orders; training references in float64 plus ALLOW x PyTorch float32's own
 * error E from the fixture): eval logits atol 5e-4 rtol 1e-3; train logits atol 5e-4 + 32E
 * rtol 1e-3; loss 1e-4 relative + 32E; per parameter gradient norm within 1e-2 ||g|| + 32E,
 * random projection within 3e-2 ||g|| rms(u) + 32E rms(u); element-wise gradients (BN
 * parameters, conv1, fc bias) atol 1e-3 max|g| + 32 max|E| rtol 5e-3, all but max(1, 0.5%)
 * elements per tensor (ReLU kinks: test_resnet_golden.c); running statistics atol 1e-5 rtol
 * 1e-4. Measured worst errors are printed. The same source runs on the GPU as
 * test_cuda_bagnet_golden (PB_GOLDEN_DEVICE). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/models/model.h"
#include "engine/models/safetensors.h"
#include "kernels/ops.h"
#include "test/cuda_twin.h"
#include "test/engine/det_value.h"
#include "test/testutil.h"

#define ALLOW 32.0

#ifndef PB_GOLDEN_DEVICE
#define PB_GOLDEN_DEVICE "cpu"
#define PB_GOLDEN_NAME "test_bagnet_golden"
#endif


static const pb_st_tensor *need(const pb_st_file *f, const char *key) {
  const pb_st_tensor *t = pb_st_find(f, key);
  if (!t) PB_FATAL("fixture lacks %s", key);
  return t;
}

static pb_config *bag_config(int nclass) {
  pb_err err = {{0}};
  pb_config *cfg = pb_config_new();
  char set[64];
  PB_ASSERT(pb_config_set(cfg, "model.arch=bagnet18", &err) == PB_OK);
  snprintf(set, sizeof set, "model.num_classes=%d", nclass);
  PB_ASSERT(pb_config_set(cfg, set, &err) == PB_OK);
  return cfg;
}

static void set_det_weights(pb_model *m, pb_ctx *ctx) {
  float *host = pb_xmalloc(PB_MAX(m->nparams, m->nbuffers) * sizeof(float) + 64);
  for (int i = 0; i < pb_model_ntensors(m); i++) {
    pb_param *p = pb_model_tensor(m, i);
    if (p->kind == PB_PARAM_COUNTER) continue;
    det_value(p, host);
    pb_ctx_upload(ctx, p->data, host, p->numel * sizeof(float));
  }
  free(host);
}

/* Trainable values, as plumb info counts them (m->nparams also counts the block's alignment). */
static size_t trainable(pb_model *m) {
  size_t s = 0;
  for (int i = 0; i < pb_model_ntensors(m); i++) {
    const pb_param *p = pb_model_tensor(m, i);
    if (p->kind == PB_PARAM_TRAINABLE) s += p->numel;
  }
  return s;
}

/* Names and shapes in order, and the exact parameter counts. */
static void check_names_and_counts(const pb_st_file *f, pb_ctx *ctx, pb_model *m) {
  const char *want = pb_st_meta(f, "state_dict");
  PB_ASSERT(want);
  size_t cap = strlen(want) + 4096, len = 0;
  char *got = pb_xmalloc(cap);
  got[0] = 0;
  for (int i = 0; i < pb_model_ntensors(m); i++) {
    const pb_param *p = pb_model_tensor(m, i);
    len += (size_t)snprintf(got + len, cap - len, "%s:", p->name);
    for (int d = 0; d < p->ndim && len < cap; d++)
      len += (size_t)snprintf(got + len, cap - len, d ? "x%d" : "%d", p->shape[d]);
    if (len < cap) len += (size_t)snprintf(got + len, cap - len, ";");
    PB_ASSERT(len < cap);
  }
  if (strcmp(got, want)) {
    /* the first differing entry */
    size_t k = 0;
    while (got[k] && got[k] == want[k]) k++;
    while (k && want[k - 1] != ';') k--;
    fprintf(stderr, "  plumb:   %.120s\n  PyTorch: %.120s\n", got + k, want + k);
  }
  PB_CHECK_MSG(!strcmp(got, want), "tensor names / shapes differ from the released state_dict");
  printf("names: %d tensors, names and shapes equal to the released state_dict\n", pb_model_ntensors(m));
  free(got);

  long want10 = atol(pb_st_meta(f, "params_10")), want1000 = atol(pb_st_meta(f, "params_1000"));
  size_t n10 = trainable(m);
  PB_CHECK_MSG((long)n10 == want10, "10 classes: %zu parameters, PyTorch %ld", n10, want10);
  pb_err err = {{0}};
  pb_config *cfg = bag_config(1000);
  int in[3];
  pb_model_config_input(cfg, in); /* 3 x 224 x 224, as plumb info */
  pb_model *big = pb_model_build(cfg, ctx, in, 1, 1, 1, &err);
  PB_ASSERT(big);
  size_t n1000 = trainable(big), sum = 0;
  for (int i = 0; i < big->nlayers; i++) sum += pb_layer_count_params(big->layers[i]);
  PB_CHECK_MSG((long)n1000 == want1000 && sum == n1000, "1000 classes: %zu (by layer %zu), PyTorch %ld", n1000, sum,
               want1000);
  printf("parameters: %zu (10 classes; PyTorch %ld), %zu (1000 classes at %dx%d; PyTorch %ld)\n", n10, want10,
         n1000, in[1], in[2], want1000);
  pb_model_free(big);
  pb_config_free(cfg);
}

/* Receptive fields by perturbation against PyTorch's gradient boxes (file comment). */
static void check_receptive_field(const pb_st_file *f, pb_ctx *ctx) {
  const pb_st_tensor *rin = need(f, "rf_in"), *rbox = need(f, "rf_box");
  const int64_t *ri = rin->data;
  int in[3] = {(int)ri[0], (int)ri[1], (int)ri[2]}, B = 64;
  pb_err err = {{0}};
  pb_config *cfg = bag_config(10);
  pb_model *m = pb_model_build(cfg, ctx, in, B, 1, 0, &err);
  PB_ASSERT(m);
  set_det_weights(m, ctx);
  int l4 = -1;
  for (int i = 0; i < m->nlayers; i++)
    if (!strcmp(m->layers[i]->name, "layer4.1")) l4 = i;
  PB_ASSERT(l4 >= 0);
  const int *o = m->layers[l4]->out;
  const int HO = o[1], WO = o[2], npos = HO * WO, C4 = o[0];
  PB_ASSERT(rbox->ndim == 2 && rbox->shape[0] == (int64_t)npos && rbox->shape[1] == 4);
  const size_t per = (size_t)in[0] * in[1] * in[2], hw = (size_t)in[1] * in[2], fm = (size_t)C4 * npos;
  float *x0 = pb_xmalloc(per * sizeof(float)), *xb = pb_xmalloc((size_t)B * per * sizeof(float));
  float *base = pb_xmalloc(fm * sizeof(float)), *fo = pb_xmalloc((size_t)B * fm * sizeof(float));
  pb_test_fill_uniform(x0, per, -1, 1, 77);
  float *dx = pb_ctx_alloc(ctx, (size_t)B * per * sizeof(float), "rf input", &err);
  pb_ctx_upload(ctx, dx, x0, per * sizeof(float));
  pb_model_forward(m, dx, 1, 0);
  pb_ctx_download(ctx, base, m->act[l4], fm * sizeof(float));
  /* dep[pos][pixel] */
  uint8_t *dep = calloc((size_t)npos * hw, 1);
  for (size_t p0 = 0; p0 < hw; p0 += (size_t)B) {
    int nb = (int)PB_MIN((size_t)B, hw - p0);
    for (int s = 0; s < nb; s++) { /* sample s: the base input with pixel p0 + s moved */
      float *xs = xb + (size_t)s * per;
      memcpy(xs, x0, per * sizeof(float));
      for (int ch = 0; ch < in[0]; ch++) xs[ch * hw + p0 + s] += 0.5f;
    }
    pb_ctx_upload(ctx, dx, xb, (size_t)nb * per * sizeof(float));
    pb_model_forward(m, dx, nb, 0);
    pb_ctx_download(ctx, fo, m->act[l4], (size_t)nb * fm * sizeof(float));
    for (int s = 0; s < nb; s++) {
      for (int pos = 0; pos < npos; pos++)
        for (int c = 0; c < C4 && !dep[(size_t)pos * hw + p0 + s]; c++)
          if (fo[(size_t)s * fm + (size_t)c * npos + pos] != base[(size_t)c * npos + pos]) dep[(size_t)pos * hw + p0 + s] = 1;
    }
  }
  const int64_t *want = rbox->data;
  int bad = 0, rf_h = 0, rf_w = 0;
  for (int pos = 0; pos < npos; pos++) {
    int y0 = in[1], y1 = -1, x0 = in[2], x1 = -1, cnt = 0;
    for (int y = 0; y < in[1]; y++)
      for (int x = 0; x < in[2]; x++)
        if (dep[(size_t)pos * hw + (size_t)y * in[2] + x]) {
          y0 = PB_MIN(y0, y), y1 = PB_MAX(y1, y), x0 = PB_MIN(x0, x), x1 = PB_MAX(x1, x), cnt++;
        }
    const int64_t *w = want + 4 * pos;
    int ok = y0 == w[0] && y1 == w[1] && x0 == w[2] && x1 == w[3] && cnt == (y1 - y0 + 1) * (x1 - x0 + 1);
    if (!ok)
      fprintf(stderr, "  output (%d,%d): plumb rows %d..%d cols %d..%d (%d pixels), PyTorch rows %lld..%lld cols %lld..%lld\n",
              pos / WO, pos % WO, y0, y1, x0, x1, cnt, (long long)w[0], (long long)w[1], (long long)w[2],
              (long long)w[3]);
    bad += !ok;
    rf_h = PB_MAX(rf_h, y1 - y0 + 1), rf_w = PB_MAX(rf_w, x1 - x0 + 1);
  }
  PB_CHECK_MSG(bad == 0, "%d of %d receptive fields differ from PyTorch's", bad, npos);
  printf("receptive field (plumb, by perturbation at %dx%d): %dx%d pixels at each of layer4's %dx%d outputs, boxes "
         "equal to PyTorch's gradient boxes\nPyTorch at 64x64: %s\n",
         in[1], in[2], rf_h, rf_w, HO, WO, pb_st_meta(f, "rf"));
  free(dep), free(x0), free(xb), free(base), free(fo);
  pb_ctx_free_mem(ctx, dx);
  pb_model_free(m);
  pb_config_free(cfg);
}

static void check_golden(const pb_st_file *f, pb_ctx *ctx) {
  pb_err err = {{0}};
  pb_config *cfg = bag_config(10);
  const pb_st_tensor *in = need(f, "input"), *lab = need(f, "labels");
  PB_ASSERT(in->ndim == 4 && in->shape[0] <= 8);
  int n = (int)in->shape[0], k = 10;
  int shape[3] = {(int)in->shape[1], (int)in->shape[2], (int)in->shape[3]};
  pb_model *m = pb_model_build(cfg, ctx, shape, n, 1, 0, &err);
  pb_model *mi = pb_model_build(cfg, ctx, shape, n, 1, 1, &err);
  PB_ASSERT(m && mi && pb_model_ntensors(m) == pb_model_ntensors(mi));
  check_names_and_counts(f, ctx, m);
  set_det_weights(m, ctx);
  set_det_weights(mi, ctx);
  int32_t labels[8];
  for (int i = 0; i < n; i++) labels[i] = (int32_t)((const int64_t *)lab->data)[i];
  float *xin = pb_ctx_alloc(ctx, in->nbytes, "input", &err);
  pb_ctx_upload(ctx, xin, in->data, in->nbytes);
  float logits[8 * 10], logits_i[8 * 10];

  pb_ctx_download(ctx, logits, pb_model_forward(m, xin, n, 0), (size_t)n * k * sizeof(float));
  pb_ctx_download(ctx, logits_i, pb_model_forward(mi, xin, n, 0), (size_t)n * k * sizeof(float));
  const pb_st_tensor *ref = need(f, "eval_logits");
  PB_CHECK(pb_test_allclose("eval logits", logits, ref->data, (size_t)n * k, 5e-4, 1e-3) == 0);
  double de = pb_test_max_abs_diff(logits, ref->data, (size_t)n * k);
  PB_CHECK(pb_test_max_abs_diff(logits, logits_i, (size_t)n * k) == 0.0);
  printf("eval logits max |diff| %.3g (tolerance 5e-4 + 1e-3 |ref|); inference-only model bitwise the same\n", de);

  pb_ctx_download(ctx, logits, pb_model_forward(m, xin, n, 1), (size_t)n * k * sizeof(float));
  ref = need(f, "train_logits");
  double E = *(const double *)need(f, "train_logits_err32")->data;
  PB_CHECK(pb_test_allclose("train logits", logits, ref->data, (size_t)n * k, 5e-4 + ALLOW * E, 1e-3) == 0);
  double dt = pb_test_max_abs_diff(logits, ref->data, (size_t)n * k);
  float loss_sum, dlogits[8 * 10];
  pb_softmax_xent_cpu(&loss_sum, NULL, dlogits, logits, labels, n, k, 0.0f, 1.0f / (float)n);
  float loss = loss_sum / (float)n, rloss = *(const float *)need(f, "loss")->data;
  PB_CHECK(fabs((double)loss - rloss) <= 1e-4 * fabs(rloss) + ALLOW * E);
  printf("train logits max |diff| %.3g (torch float32's own: %.3g), loss plumb %.7f torch float64 %.7f\n", dt, E, loss,
         rloss);
  pb_model_zero_grad(m);
  float *dl = pb_ctx_alloc(ctx, sizeof dlogits, "dlogits", &err);
  pb_ctx_upload(ctx, dl, dlogits, sizeof dlogits);
  pb_model_backward(m, dl, n);

  float *host = pb_xmalloc(PB_MAX(m->nparams, m->nbuffers) * sizeof(float) + 64);
  double wn = 0, wp = 0, we = 0, rawn = 0, rawp = 0;
  int ngrad = 0, nelem = 0;
  char key[256];
  for (int i = 0; i < pb_model_ntensors(m); i++) {
    pb_param *p = pb_model_tensor(m, i);
    if (p->kind != PB_PARAM_TRAINABLE) continue;
    pb_ctx_download(ctx, host, p->grad, p->numel * sizeof(float));
    snprintf(key, sizeof key, "proj.%s", p->name);
    uint32_t h = fnv1a32(key);
    double ss = 0, pr = 0;
    for (size_t j = 0; j < p->numel; j++) {
      ss += (double)host[j] * host[j];
      pr += (double)host[j] * det_u(h, j);
    }
    snprintf(key, sizeof key, "gnorm.%s", p->name);
    double rn = *(const double *)need(f, key)->data;
    snprintf(key, sizeof key, "gproj.%s", p->name);
    double rp = *(const double *)need(f, key)->data;
    snprintf(key, sizeof key, "gerr32.%s", p->name);
    double ge = *(const double *)need(f, key)->data;
    double en = PB_MAX(0.0, fabs(sqrt(ss) - rn) - ALLOW * ge) / (rn + 1e-30);
    double ep = PB_MAX(0.0, fabs(pr - rp) - ALLOW * ge * sqrt(1.0 / 12.0)) / (rn * sqrt(1.0 / 12.0) + 1e-30);
    PB_CHECK_MSG(en <= 1e-2, "%s: grad norm %.8g vs torch %.8g (torch f32 err %.3g)", p->name, sqrt(ss), rn, ge);
    PB_CHECK_MSG(ep <= 3e-2, "%s: grad projection %.8g vs torch %.8g (norm %.4g, torch f32 err %.3g)", p->name, pr, rp,
                 rn, ge);
    wn = PB_MAX(wn, en);
    wp = PB_MAX(wp, ep);
    rawn = PB_MAX(rawn, fabs(sqrt(ss) - rn) / (rn + 1e-30));
    rawp = PB_MAX(rawp, fabs(pr - rp) / (rn * sqrt(1.0 / 12.0) + 1e-30));
    snprintf(key, sizeof key, "grad.%s", p->name);
    const pb_st_tensor *g = pb_st_find(f, key);
    if (g) {
      float mx = 0;
      for (size_t j = 0; j < p->numel; j++) mx = fmaxf(mx, fabsf(((const float *)g->data)[j]));
      snprintf(key, sizeof key, "gmax32.%s", p->name);
      double gm = *(const double *)need(f, key)->data;
      snprintf(key, sizeof key, "grad.%s", p->name);
      size_t bad = pb_test_allclose(key, host, g->data, p->numel, 1e-3 * mx + ALLOW * gm, 5e-3);
      PB_CHECK_MSG(bad <= PB_MAX((size_t)1, p->numel / 200), "%s: %zu elements out of tolerance", key, bad);
      we = PB_MAX(we, pb_test_max_abs_diff(host, g->data, p->numel) / (mx + 1e-30));
      nelem++;
    }
    ngrad++;
  }
  printf("%d gradients vs torch float64: worst norm rel err %.3g, projection err %.3g (x ||g|| rms(u)); beyond 32x "
         "torch float32's own error: %.3g (tol 1e-2), %.3g (tol 3e-2); %d element-wise, max |diff| %.3g x max|g|\n",
         ngrad, rawn, rawp, wn, wp, nelem, we);
  const char *stats[2] = {"bn1.running_mean", "bn1.running_var"};
  for (int s = 0; s < 2; s++) {
    pb_param *p = pb_model_find(m, stats[s]);
    pb_ctx_download(ctx, host, p->data, p->numel * sizeof(float));
    snprintf(key, sizeof key, "after.%s", stats[s]);
    PB_CHECK(pb_test_allclose(key, host, need(f, key)->data, p->numel, 1e-5, 1e-4) == 0);
  }
  free(host);
  pb_ctx_free_mem(ctx, xin);
  pb_ctx_free_mem(ctx, dl);
  pb_model_free(m);
  pb_model_free(mi);
  pb_config_free(cfg);
}

int main(void) {
  pb_err err = {{0}};
  if (strcmp(PB_GOLDEN_DEVICE, "cpu")) pb_twin_require_gpu();
  pb_st_file f;
  if (pb_st_read(&f, pb_test_fixture("bagnet_golden.safetensors"), &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  pb_ctx ctx;
  PB_CHECK(pb_ctx_init(&ctx, PB_GOLDEN_DEVICE, 2, 0, 0, &err) == PB_OK);
  check_golden(&f, &ctx);
  check_receptive_field(&f, &ctx);
  pb_ctx_free(&ctx);
  pb_st_free(&f);
  return pb_test_exit(PB_GOLDEN_NAME);
}
