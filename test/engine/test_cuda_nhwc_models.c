/* test_cuda_nhwc_models.c: [run] layout = nhwc through whole models ON A GPU: the cases of
 * test/engine/nhwc_cases.h (every conv arch family and a frame encoder; NHWC against NCHW with the
 * same weights and batch, within 1e-5 / 1e-4 or 10x the one-ulp noise floor) on two CUDA contexts,
 * TF32 off and deterministic algorithms, so that cuDNN's NHWC descriptors, the KRSC weight copies,
 * the NHWC pool / GAP / SE / crop kernels and the layout permutations are all exercised by the
 * model code paths. Then the same NHWC model on the GPU against the CPU reference (logits and
 * gradients of resnet18, same bounds), and NHWC with [run] fused_bn_train (plumb's own training
 * batch-norm kernels, kernels/cuda/bn_train_fused.cu) against cuDNN's NCHW for the three block kinds. Needs a GPU: exits 77 (ctest: skipped) without one. */
#include "test/cuda_twin.h"
#include "test/engine/nhwc_cases.h"

int main(void) {
  pb_twin_require_gpu();
  pb_ctx cc, ch, cpu;
  pb_err err = {{0}};
  PB_ASSERT(pb_ctx_init(&cc, "cuda", 2, 1, 0, &err) == PB_OK);
  PB_ASSERT(pb_ctx_init(&ch, "cuda", 2, 1, 0, &err) == PB_OK);
  ch.nhwc = 1;
  nhwc_all_cases(&cc, &ch);
  /* the CPU NCHW reference against the GPU NHWC model: both at once (cc the reference side) */
  PB_ASSERT(pb_ctx_init(&cpu, "cpu", 2, 1, 0, &err) == PB_OK);
  nhwc_case(&cpu, &ch, "resnet18", 3, 64);
  /* NHWC with the fused training batch norm's own kernels ([run] fused_bn_train) against cuDNN NCHW */
  ch.fused_bn = 1;
  nhwc_case(&cc, &ch, "resnet50", 3, 64);
  nhwc_case(&cc, &ch, "seresnet50", 3, 64);
  nhwc_case(&cc, &ch, "bagnet18", 3, 64);
  pb_ctx_free(&cc), pb_ctx_free(&ch), pb_ctx_free(&cpu);
  return pb_test_exit("test_cuda_nhwc_models");
}
