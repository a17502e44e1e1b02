/* batchnorm.cu: batch norm on cuDNN (training forward, eval forward, backward), the CUDA twin
 * of kernels/cpu/batchnorm.c (PyTorch BatchNorm1d/2d semantics). Contracts in ops.h /
 * ops_cuda.h.
 *
 * x [n, c, hw] is described to cuDNN as NCHW [n, c, hw, 1] with CUDNN_BATCHNORM_SPATIAL
 * (channels last, p->nhwc: x [n, hw, c] described as NHWC [n, c, hw, 1], the same statistics):
 * statistics per channel over n*hw elements, which is what the CPU twin computes for every hw,
 * including hw == 1 (BatchNorm1d on [n, c]: per-channel over the batch; PER_ACTIVATION would be
 * the same there, SPATIAL keeps one code path). Not SPATIAL_PERSISTENT: that mode may overflow
 * on some inputs.
 *
 * Mapping to cuDNN:
 *  - exponentialAverageFactor = momentum: running = (1 - m) * running + m * batch_stat, and
 *    cuDNN updates the running variance with the UNBIASED batch variance (n*hw/(n*hw-1)
 *    correction), as PyTorch and the CPU twin do; PyTorch's own cuDNN path relies on this.
 *    The twin test (test/kernels/test_cuda_bn.c) checks running_var against the CPU twin.
 *  - resultSaveMean / resultSaveInvVariance = save_mean / save_invstd: cuDNN's "inverse
 *    variance" is 1/sqrt(var_biased + eps), the CPU twin's save_invstd.
 *  - backward: alphaDataDiff 1, betaDataDiff 0 (dx overwritten), alphaParamDiff 1,
 *    betaParamDiff 1 (dgamma, dbeta accumulate), with the saved mean / invstd.
 *  - epsilon must be >= CUDNN_BN_MIN_EPSILON (asserted).
 * Precondition as the CPU twin (and PyTorch, which raises): n*hw > 1 in training.
 * cuDNN's batch-norm routines are deterministic (none is listed among the atomics users).
 * Descriptors are created per call: host-only work, small beside the kernels. */
#include "kernels/cuda/cuda_check.cuh"

extern "C" {
#include "kernels/ops_cuda.h"
}

typedef struct pb_bn_desc {
  cudnnTensorDescriptor_t x;  /* [n, c, hw, 1], NCHW or NHWC: x, y, dy, dx */
  cudnnTensorDescriptor_t bn; /* [1, c, 1, 1]: gamma, beta, means, variances */
} pb_bn_desc;

static void pb_bn_desc_init(pb_bn_desc *d, const pb_bn_params *p) {
  PB_ASSERT((double)p->eps >= CUDNN_BN_MIN_EPSILON);
  PB_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d->x));
  PB_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d->bn));
  PB_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d->x, p->nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                            p->n, p->c, p->hw, 1));
  PB_CUDNN_CHECK(cudnnDeriveBNTensorDescriptor(d->bn, d->x, CUDNN_BATCHNORM_SPATIAL));
}

static void pb_bn_desc_free(pb_bn_desc *d) {
  PB_CUDNN_CHECK(cudnnDestroyTensorDescriptor(d->x));
  PB_CUDNN_CHECK(cudnnDestroyTensorDescriptor(d->bn));
}

static int pb_bn_empty(const pb_bn_params *p) { return p->n <= 0 || p->c <= 0 || p->hw <= 0; }

extern "C" void pb_bn_fwd_train_cuda(float *y, float *save_mean, float *save_invstd, float *running_mean,
                                     float *running_var, const float *x, const float *gamma, const float *beta,
                                     const pb_bn_params *p, const pb_cuda_env *env) {
  if (pb_bn_empty(p)) return;
  pb_bn_desc d;
  pb_bn_desc_init(&d, p);
  const float one = 1.0f, zero = 0.0f;
  PB_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining((cudnnHandle_t)env->cudnn, CUDNN_BATCHNORM_SPATIAL, &one,
                                                        &zero, d.x, x, d.x, y, d.bn, gamma, beta,
                                                        (double)p->momentum, running_mean, running_var,
                                                        (double)p->eps, save_mean, save_invstd));
  pb_bn_desc_free(&d);
}

extern "C" void pb_bn_fwd_eval_cuda(float *y, const float *x, const float *gamma, const float *beta,
                                    const float *running_mean, const float *running_var, const pb_bn_params *p,
                                    const pb_cuda_env *env) {
  if (pb_bn_empty(p)) return;
  pb_bn_desc d;
  pb_bn_desc_init(&d, p);
  const float one = 1.0f, zero = 0.0f;
  PB_CUDNN_CHECK(cudnnBatchNormalizationForwardInference((cudnnHandle_t)env->cudnn, CUDNN_BATCHNORM_SPATIAL, &one,
                                                         &zero, d.x, x, d.x, y, d.bn, gamma, beta, running_mean,
                                                         running_var, (double)p->eps));
  pb_bn_desc_free(&d);
}

extern "C" void pb_bn_bwd_cuda(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                               const float *gamma, const float *save_mean, const float *save_invstd,
                               const pb_bn_params *p, const pb_cuda_env *env) {
  if (pb_bn_empty(p)) return;
  pb_bn_desc d;
  pb_bn_desc_init(&d, p);
  const float one = 1.0f, zero = 0.0f;
  PB_CUDNN_CHECK(cudnnBatchNormalizationBackward((cudnnHandle_t)env->cudnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero,
                                                 &one, &one, d.x, x, d.x, dy, d.x, dx, d.bn, gamma, dgamma, dbeta,
                                                 (double)p->eps, save_mean, save_invstd));
  pb_bn_desc_free(&d);
}
