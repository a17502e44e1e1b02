/* test_cuda_resblock.c: each composite residual block (engine/layers/resblock.c) on the GPU
 * against the CPU, on random inputs: the cases of resblock_cases.h (basic with and without
 * downsample, bottleneck stride 2, SE bottleneck, BagNet blocks with a cropped shortcut; n = 2,
 * 6x6), the same parameters on both devices. Checked: the training forward y, the batch-norm
 * running statistics it updates, the input gradient and every parameter gradient of the
 * backward, and the evaluation forward (running statistics). Needs a GPU: exits 77 (ctest:
 * skipped) without one.
 *
 * Tolerances: TF32 off, deterministic algorithms. Relative L2 error ||gpu - cpu|| / ||cpu|| <=
 * 1e-5 for y and the running statistics, <= 1e-4 for gradients; element-wise atol 1e-5, rtol
 * 1e-3 for y, atol 1e-4, rtol 1e-2 for gradients. cuDNN's convolutions and batch norm sum in a
 * different order than the CPU (float32 accumulation over at most 16*9 = 144 products per
 * output; BN statistics over 72 values per channel): errors ~1e-6 relative; gradients chain
 * three convolutions and batch norms, each adding its rounding, so ~1e-5 relative; an
 * element-wise rtol guards near-zero values (cancellation in weight gradients). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test/cuda_twin.h"
#include "test/engine/resblock_cases.h"

static float *dl(pb_ctx *c, const float *d, size_t n) {
  float *h = malloc(n * sizeof(float));
  pb_ctx_download(c, h, d, n * sizeof(float));
  return h;
}

static void cmp(const char *what, const char *name, const float *got, const float *ref, size_t n, double rel_bound,
                double atol, double rtol) {
  char w[160];
  snprintf(w, sizeof w, "%s: %s", what, name);
  double rel = pb_test_rel_l2(got, ref, n);
  printf("  %-48s rel L2 %.2e max |diff| %.2e\n", name, rel, pb_test_max_abs_diff(got, ref, n));
  PB_CHECK_MSG(rel <= rel_bound, "%s: rel L2 %.2e", w, rel);
  PB_CHECK(pb_test_allclose(w, got, ref, n, atol, rtol) == 0);
}

static void check_case(const rb_case *c, pb_ctx *cpu, pb_ctx *gpu, uint64_t seed) {
  printf("%s\n", c->what);
  pb_model *mc = rb_build(c, cpu, seed), *mg = rb_build(c, gpu, seed);
  pb_layer *lc = mc->layers[0], *lg = mg->layers[0];
  size_t ni = (size_t)RB_N * pb_layer_in_numel(lc), no = (size_t)RB_N * pb_layer_out_numel(lc);
  float *x = malloc(ni * 4), *r = malloc(no * 4), *dxc = malloc(ni * 4);
  pb_test_fill_uniform(x, ni, -1.0f, 1.0f, seed + 1);
  pb_test_fill_uniform(r, no, -1.0f, 1.0f, seed + 2);
  pb_err err = {{0}};
  float *xg = pb_ctx_alloc(gpu, ni * 4, "x", &err), *rg = pb_ctx_alloc(gpu, no * 4, "r", &err),
        *dxg = pb_ctx_alloc(gpu, ni * 4, "dx", &err);
  PB_CHECK(xg && rg && dxg);
  pb_ctx_upload(gpu, xg, x, ni * 4);
  pb_ctx_upload(gpu, rg, r, no * 4);
  /* training forward and backward */
  float *yc = pb_model_forward(mc, x, RB_N, 1), *yg = pb_model_forward(mg, xg, RB_N, 1);
  float *ygh = dl(gpu, yg, no);
  cmp(c->what, "train forward y", ygh, yc, no, 1e-5, 1e-5, 1e-3);
  pb_model_zero_grad(mc);
  pb_model_zero_grad(mg);
  lc->vt->backward(lc, mc->ctx, RB_N, x, yc, r, dxc);
  lg->vt->backward(lg, mg->ctx, RB_N, xg, yg, rg, dxg);
  float *dxgh = dl(gpu, dxg, ni);
  cmp(c->what, "input gradient", dxgh, dxc, ni, 1e-4, 1e-4, 1e-2);
  for (int t = 0; t < pb_model_ntensors(mc); t++) {
    pb_param *pc = pb_model_tensor(mc, t), *pg = pb_model_tensor(mg, t);
    if (pc->kind == PB_PARAM_COUNTER) continue;
    if (pc->kind == PB_PARAM_TRAINABLE) {
      float *g = dl(gpu, pg->grad, pc->numel);
      char nm[128];
      snprintf(nm, sizeof nm, "grad %s", pc->name);
      cmp(c->what, nm, g, pc->grad, pc->numel, 1e-4, 1e-4, 1e-2);
      free(g);
    } else { /* running statistics after one training forward */
      float *b = dl(gpu, pg->data, pc->numel);
      cmp(c->what, pc->name, b, pc->data, pc->numel, 1e-5, 1e-5, 1e-3);
      free(b);
    }
  }
  /* evaluation forward (running statistics) */
  yc = pb_model_forward(mc, x, RB_N, 0);
  yg = pb_model_forward(mg, xg, RB_N, 0);
  float *ye = dl(gpu, yg, no);
  cmp(c->what, "eval forward y", ye, yc, no, 1e-5, 1e-5, 1e-3);
  free(x), free(r), free(dxc), free(ygh), free(dxgh), free(ye);
  pb_ctx_free_mem(gpu, xg), pb_ctx_free_mem(gpu, rg), pb_ctx_free_mem(gpu, dxg);
  pb_model_free(mc);
  pb_model_free(mg);
}

int main(void) {
  pb_twin_require_gpu();
  pb_err err = {{0}};
  pb_ctx cpu, gpu;
  if (pb_ctx_init(&cpu, "cpu", 1, 1, 0, &err) || pb_ctx_init(&gpu, "cuda", 1, 1, 0, &err)) {
    fprintf(stderr, "FAIL: %s\n", err.msg);
    return 1;
  }
  for (int i = 0; i < RB_NCASES; i++) check_case(&RB_CASES[i], &cpu, &gpu, 100 + 10 * (uint64_t)i);
  pb_ctx_free(&gpu);
  pb_ctx_free(&cpu);
  return pb_test_exit("test_cuda_resblock");
}
