/* test_resnet_golden.c: plumb's resnet18, resnet50 and seresnet50 (10 classes, 4 x 3 x 128 x 128,
 * ImageNet stem) against PyTorch (torchvision; timm's SE placement): eval-mode logits, an
 * inference-only model's logits, train-mode logits and loss, and every parameter's gradient
 * after one backward (fixture: scripts/fixtures/gen_resnet_golden.py ->
 * test/fixtures/resnet_golden.safetensors).
 *
 * Weights: not in the fixture (resnet50 is 100 MB). Both sides compute each tensor from its
 * name (det_value below = resnet_torch.det_value): u = ((i*2654435761 + fnv1a32(name)) mod 2^32)
 * / 2^32 - 0.5 is exact in double on both sides, and the scaling is one double multiply (and a
 * correctly rounded sqrt) rounded once to float, so the weights are bit-identical.
 *
 * Gradients: every parameter is checked by its norm and by a random projection
 * sum(g * u("proj." + name)) (computed in double); parameters of at most 4096 values (all batch
 * norms, the stem conv of resnet18, fc bias) also element-wise.
 *
 * Tolerances (float32, other summation orders through 18-50 layers; on the GPU cuDNN picks
 * other algorithms, TF32 off). Evaluation is well conditioned: logits atol 5e-4 rtol 1e-3
 * against PyTorch float32 (logits are O(1); measured ~1e-6 on the CPU). Training is less so (a
 * batch norm over few values amplifies rounding: at 2 x 64 x 64, BN over 2 x 2 x 2 values in
 * layer4, PyTorch's own float32 train logits of resnet50 were 2e-2 from float64; now every BN
 * sees at least 64 values), so training references are PyTorch float64
 * and each check allows a fixed tolerance PLUS 32x PyTorch float32's own error E on the same
 * quantity (from the fixture; plumb's float32 rounding differs from PyTorch's and the
 * amplification is the same, and E is a single sample of that error, so plumb's error is a
 * random multiple of E (measured up to ~20x): 32x keeps the check stable while an actual bug gives O(||g||)
 * errors): train logits atol 5e-4 + 32E rtol 1e-3; loss 1e-4 relative + 32E; gradient norms
 * 1e-2 ||g|| + 32E; projections 3e-2 ||g|| rms(u) + 32E rms(u) (an error of 3% of the
 * gradient's norm in a random direction); element-wise gradients atol 1e-3 max|g| + 32 max|E|
 * rtol 5e-3 (all but max(1, 0.5%) elements; see ReLU kinks below); running statistics atol 1e-5 rtol 1e-4. resnet18 is well conditioned (E ~ 1e-5
 * on the logits) so its checks are tight in effect; for resnet50 / seresnet50 the training
 * checks are weak where PyTorch's own float32 gradient is poor, and their evaluation checks
 * (tight) carry the weight. Measured worst errors are printed.
 * ReLU kinks: a pre-activation within rounding of 0 can land on the other side of a ReLU when
 * the summation order changes (another CPU, other BLAS kernels, a GPU algorithm). Seen on the
 * CPU of an H100 machine (16 threads, other OpenBLAS kernels): one element of layer4.0's output
 * flipped, moving that channel's BN-bias gradient by 14% (1 of 512 elements) and the random
 * projections of the gradients below it by up to 2.4% of their norm. So the element-wise check
 * allows max(1, 0.5%) elements per tensor outside its tolerance, and the norm and projection
 * checks allow 1e-2 and 3e-2 of the gradient's norm; a wrong formula, stride or accumulation
 * moves far more than that (and test_grad_resblock checks each block's backward).
 * The same source runs on the GPU as test_cuda_resnet_golden (PB_GOLDEN_DEVICE). */
#include <math.h>
#include <string.h>

#include "engine/models/model.h"
#include "engine/models/safetensors.h"
#include "kernels/ops.h"
#include "test/cuda_twin.h"
#include "test/engine/det_value.h"
#include "test/testutil.h"

/* How many times PyTorch float32's own error (vs float64) plumb may add to the fixed tolerance. */
#define ALLOW 32.0

#ifndef PB_GOLDEN_DEVICE
#define PB_GOLDEN_DEVICE "cpu"
#define PB_GOLDEN_NAME "test_resnet_golden"
#endif


static const pb_st_tensor *need(const pb_st_file *f, const char *arch, const char *what) {
  char key[512];
  snprintf(key, sizeof key, "%s.%s", arch, what);
  const pb_st_tensor *t = pb_st_find(f, key);
  if (!t) PB_FATAL("fixture lacks %s", key);
  return t;
}

static double worst_logit, worst_gnorm, worst_gproj, worst_grad;

static void check_arch(const pb_st_file *f, pb_ctx *ctx, const char *arch) {
  pb_err err = {{0}};
  pb_config *cfg = pb_config_new();
  char set[96];
  snprintf(set, sizeof set, "model.arch=%s", arch);
  PB_ASSERT(pb_config_set(cfg, set, &err) == PB_OK);
  PB_ASSERT(pb_config_set(cfg, "model.num_classes=10", &err) == PB_OK);
  PB_ASSERT(pb_config_set(cfg, "model.stem=imagenet", &err) == PB_OK);
  const pb_st_tensor *in = pb_st_find(f, "input"), *lab = pb_st_find(f, "labels");
  PB_ASSERT(in && lab && in->ndim == 4 && in->shape[0] <= 8);
  int n = (int)in->shape[0], k = 10;
  int shape[3] = {(int)in->shape[1], (int)in->shape[2], (int)in->shape[3]};
  pb_model *m = pb_model_build(cfg, ctx, shape, n, 1, 0, &err);
  pb_model *mi = pb_model_build(cfg, ctx, shape, n, 1, 1, &err);
  PB_ASSERT(m && mi && pb_model_ntensors(m) == pb_model_ntensors(mi));
  float *host = pb_xmalloc(PB_MAX(m->nparams, m->nbuffers) * sizeof(float) + 64);
  for (int i = 0; i < pb_model_ntensors(m); i++) {
    pb_param *p = pb_model_tensor(m, i), *q = pb_model_tensor(mi, i);
    if (p->kind == PB_PARAM_COUNTER) continue;
    det_value(p, host);
    pb_ctx_upload(ctx, p->data, host, p->numel * sizeof(float));
    pb_ctx_upload(ctx, q->data, host, p->numel * sizeof(float));
  }
  int32_t labels[8];
  for (int i = 0; i < n; i++) labels[i] = (int32_t)((const int64_t *)lab->data)[i];
  float *xin = pb_ctx_alloc(ctx, in->nbytes, "input", &err);
  pb_ctx_upload(ctx, xin, in->data, in->nbytes);
  float logits[8 * 10], logits_i[8 * 10];
  char what[160];

  /* evaluation: the training-planned model and the inference-only one */
  pb_ctx_download(ctx, logits, pb_model_forward(m, xin, n, 0), (size_t)n * k * sizeof(float));
  pb_ctx_download(ctx, logits_i, pb_model_forward(mi, xin, n, 0), (size_t)n * k * sizeof(float));
  const pb_st_tensor *ref = need(f, arch, "eval_logits");
  snprintf(what, sizeof what, "%s eval logits", arch);
  PB_CHECK(pb_test_allclose(what, logits, ref->data, (size_t)n * k, 5e-4, 1e-3) == 0);
  double d = pb_test_max_abs_diff(logits, ref->data, (size_t)n * k);
  worst_logit = PB_MAX(worst_logit, d);
  printf("%-10s eval logits max |diff| %.3g; inference-only model vs training model %.3g\n", arch, d,
         pb_test_max_abs_diff(logits, logits_i, (size_t)n * k));
  PB_CHECK(pb_test_max_abs_diff(logits, logits_i, (size_t)n * k) == 0.0);

  /* one training step */
  pb_ctx_download(ctx, logits, pb_model_forward(m, xin, n, 1), (size_t)n * k * sizeof(float));
  ref = need(f, arch, "train_logits");
  double E = *(const double *)need(f, arch, "train_logits_err32")->data;
  snprintf(what, sizeof what, "%s train logits", arch);
  PB_CHECK(pb_test_allclose(what, logits, ref->data, (size_t)n * k, 5e-4 + ALLOW * E, 1e-3) == 0);
  d = pb_test_max_abs_diff(logits, ref->data, (size_t)n * k);
  worst_logit = PB_MAX(worst_logit, d);
  float loss_sum, dlogits[8 * 10];
  pb_softmax_xent_cpu(&loss_sum, NULL, dlogits, logits, labels, n, k, 0.0f, 1.0f / (float)n);
  float loss = loss_sum / (float)n, rloss = *(const float *)need(f, arch, "loss")->data;
  PB_CHECK(fabs((double)loss - rloss) <= 1e-4 * fabs(rloss) + ALLOW * E);
  printf("%-10s train logits max |diff| %.3g (torch float32's own: %.3g), loss plumb %.7f torch float64 %.7f\n",
         arch, d, E, loss, rloss);
  pb_model_zero_grad(m);
  float *dl = pb_ctx_alloc(ctx, sizeof dlogits, "dlogits", &err);
  pb_ctx_upload(ctx, dl, dlogits, sizeof dlogits);
  pb_model_backward(m, dl, n);

  double wn = 0, wp = 0, we = 0;
  int ngrad = 0;
  for (int i = 0; i < pb_model_ntensors(m); i++) {
    pb_param *p = pb_model_tensor(m, i);
    if (p->kind != PB_PARAM_TRAINABLE) continue;
    pb_ctx_download(ctx, host, p->grad, p->numel * sizeof(float));
    uint32_t h;
    char key[256];
    snprintf(key, sizeof key, "proj.%s", p->name);
    h = fnv1a32(key);
    double ss = 0, pr = 0;
    for (size_t j = 0; j < p->numel; j++) {
      ss += (double)host[j] * host[j];
      pr += (double)host[j] * det_u(h, j);
    }
    snprintf(key, sizeof key, "gnorm.%s", p->name);
    double rn = *(const double *)need(f, arch, key)->data;
    snprintf(key, sizeof key, "gproj.%s", p->name);
    double rp = *(const double *)need(f, arch, key)->data;
    snprintf(key, sizeof key, "gerr32.%s", p->name);
    double ge = *(const double *)need(f, arch, key)->data;
    /* errors in units of the tolerance's fixed part, after removing 4x torch float32's error */
    double en = PB_MAX(0.0, fabs(sqrt(ss) - rn) - ALLOW * ge) / (rn + 1e-30);
    double ep = PB_MAX(0.0, fabs(pr - rp) - ALLOW * ge * sqrt(1.0 / 12.0)) / (rn * sqrt(1.0 / 12.0) + 1e-30);
    PB_CHECK_MSG(en <= 1e-2, "%s %s: grad norm %.8g vs torch %.8g (torch f32 err %.3g)", arch, p->name, sqrt(ss), rn,
                 ge);
    PB_CHECK_MSG(ep <= 3e-2, "%s %s: grad projection %.8g vs torch %.8g (norm %.4g, torch f32 err %.3g)", arch,
                 p->name, pr, rp, rn, ge);
    wn = PB_MAX(wn, en);
    wp = PB_MAX(wp, ep);
    snprintf(key, sizeof key, "%s.grad.%s", arch, p->name);
    const pb_st_tensor *g = pb_st_find(f, key);
    if (g) {
      float mx = 0;
      for (size_t j = 0; j < p->numel; j++) mx = fmaxf(mx, fabsf(((const float *)g->data)[j]));
      snprintf(key, sizeof key, "gmax32.%s", p->name);
      double gm = *(const double *)need(f, arch, key)->data;
      snprintf(key, sizeof key, "%s.grad.%s", arch, p->name);
      size_t bad = pb_test_allclose(key, host, g->data, p->numel, 1e-3 * mx + ALLOW * gm, 5e-3);
      PB_CHECK_MSG(bad <= PB_MAX((size_t)1, p->numel / 200), "%s: %zu elements out of tolerance (ReLU-kink flips "
                   "allowed: %zu)", key, bad, PB_MAX((size_t)1, p->numel / 200));
      we = PB_MAX(we, pb_test_max_abs_diff(host, g->data, p->numel) / (mx + 1e-30));
    }
    ngrad++;
  }
  worst_gnorm = PB_MAX(worst_gnorm, wn);
  worst_gproj = PB_MAX(worst_gproj, wp);
  worst_grad = PB_MAX(worst_grad, we);
  printf("%-10s %d gradients vs torch float64, beyond 32x torch float32's own error: worst norm rel err %.3g, "
         "projection err %.3g (x ||g|| rms(u)); element-wise max |diff| %.3g (x max|g|)\n",
         arch, ngrad, wn, wp, we);
  const char *stats[2] = {"bn1.running_mean", "bn1.running_var"};
  for (int s = 0; s < 2; s++) {
    pb_param *p = pb_model_find(m, stats[s]);
    pb_ctx_download(ctx, host, p->data, p->numel * sizeof(float));
    snprintf(what, sizeof what, "after.%s", stats[s]);
    PB_CHECK(pb_test_allclose(what, host, need(f, arch, what)->data, p->numel, 1e-5, 1e-4) == 0);
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
  if (pb_st_read(&f, pb_test_fixture("resnet_golden.safetensors"), &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  pb_ctx ctx;
  PB_CHECK(pb_ctx_init(&ctx, PB_GOLDEN_DEVICE, 2, 0, 0, &err) == PB_OK);
  check_arch(&f, &ctx, "resnet18");
  check_arch(&f, &ctx, "resnet50");
  check_arch(&f, &ctx, "seresnet50");
  printf("worst: logits %.3g, grad norm rel %.3g, grad projection %.3g, element-wise grad %.3g\n", worst_logit,
         worst_gnorm, worst_gproj, worst_grad);
  pb_ctx_free(&ctx);
  pb_st_free(&f);
  return pb_test_exit(PB_GOLDEN_NAME);
}
