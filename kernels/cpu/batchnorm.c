/* batchnorm.c: CPU batch norm (training forward, eval forward, backward) with PyTorch
 * BatchNorm1d/2d semantics. Its CUDA twin will be kernels/cuda/batchnorm.cu.
 *
 * x is [n, c, hw]; every op parallelises over channels, and each channel's sums are taken
 * by one thread in a fixed order (in double), so results do not depend on nthreads. */
#include <math.h>
#include <string.h>

#include "kernels/cpu/bn_channel.h"
#include "kernels/ops.h"

/* Mean and biased variance of channel ch, two-pass in double (one pass would lose digits
 * when the mean is large against the spread). */
static void pb_bn_channel_stats(double *mean_out, double *var_out, const float *x,
                                const pb_bn_params *p, int ch) {
  const size_t hw = (size_t)p->hw, cstride = (size_t)p->c * hw;
  const double count = (double)p->n * (double)p->hw;
  double sum = 0.0;
  for (int in = 0; in < p->n; in++) {
    const float *xp = x + (size_t)in * cstride + (size_t)ch * hw;
    for (size_t i = 0; i < hw; i++) sum += xp[i];
  }
  const double mean = sum / count;
  double ssd = 0.0;
  for (int in = 0; in < p->n; in++) {
    const float *xp = x + (size_t)in * cstride + (size_t)ch * hw;
    for (size_t i = 0; i < hw; i++) {
      const double d = (double)xp[i] - mean;
      ssd += d * d;
    }
  }
  *mean_out = mean;
  *var_out = ssd / count;
}

/* Channel ch of a training forward: its batch statistics (save_mean, save_invstd), its running
 * averages (updated with the unbiased variance), and the float mean and alpha = gamma * invstd the
 * affine uses. Precondition (as PyTorch, which raises): n*hw > 1, else the unbiased variance is
 * undefined; here n*hw == 1 stores the biased variance (0) instead of dividing by zero. */
static void pb_bn_channel_train(float *fmean, float *falpha, float *save_mean, float *save_invstd,
                                float *running_mean, float *running_var, const float *x, const float *gamma,
                                const pb_bn_params *p, int ch) {
  const double count = (double)p->n * (double)p->hw, m = p->momentum;
  double mean, var;
  pb_bn_channel_stats(&mean, &var, x, p, ch);
  const double invstd = 1.0 / sqrt(var + (double)p->eps);
  save_mean[ch] = (float)mean;
  save_invstd[ch] = (float)invstd;
  const double var_unbiased = count > 1.0 ? var * count / (count - 1.0) : var;
  running_mean[ch] = (float)((1.0 - m) * running_mean[ch] + m * mean);
  running_var[ch] = (float)((1.0 - m) * running_var[ch] + m * var_unbiased);
  *fmean = (float)mean;
  *falpha = (float)((double)gamma[ch] * invstd);
}

/* Precondition (as PyTorch, which raises): n*hw > 1, else the unbiased variance is undefined;
 * here n*hw == 1 stores the biased variance (0) instead of dividing by zero. */
void pb_bn_fwd_train_cpu(float *y, float *save_mean, float *save_invstd, float *running_mean,
                         float *running_var, const float *x, const float *gamma, const float *beta,
                         const pb_bn_params *pv, int nthreads) {
  const pb_bn_params q = pb_bn_params_nchw_view(pv), *p = &q; /* channels last: the NCHW view */
  int nt = nthreads < 1 ? 1 : nthreads;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int ch = 0; ch < p->c; ch++) {
    float mean, alpha;
    pb_bn_channel_train(&mean, &alpha, save_mean, save_invstd, running_mean, running_var, x, gamma, p, ch);
    pb_bn_channel_affine(y, x, mean, alpha, beta[ch], p, ch);
  }
}

void pb_bn_fwd_eval_cpu(float *y, const float *x, const float *gamma, const float *beta,
                        const float *running_mean, const float *running_var,
                        const pb_bn_params *pv, int nthreads) {
  const pb_bn_params q = pb_bn_params_nchw_view(pv), *p = &q; /* channels last: the NCHW view */
  int nt = nthreads < 1 ? 1 : nthreads;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int ch = 0; ch < p->c; ch++) {
    const double invstd = 1.0 / sqrt((double)running_var[ch] + (double)p->eps);
    const double alpha = (double)gamma[ch] * invstd;
    pb_bn_channel_affine(y, x, running_mean[ch], (float)alpha, beta[ch], p, ch);
  }
}

/* With xhat = (x - mean) * invstd and M = n*hw elements per channel:
 *   dbeta  += sum dy,   dgamma += sum dy * xhat,
 *   dx = gamma * invstd / M * (M * dy - sum dy - xhat * sum(dy * xhat)). */
void pb_bn_bwd_cpu(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                   const float *gamma, const float *save_mean, const float *save_invstd,
                   const pb_bn_params *pv, int nthreads) {
  const pb_bn_params q = pb_bn_params_nchw_view(pv), *p = &q; /* channels last: the NCHW view */
  const double count = (double)p->n * (double)p->hw;
  int nt = nthreads < 1 ? 1 : nthreads;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int ch = 0; ch < p->c; ch++) {
    const double mean = save_mean[ch], invstd = save_invstd[ch];
    double sum_dy, sum_dy_xhat;
    pb_bn_channel_bwd_sums(&sum_dy, &sum_dy_xhat, dy, x, mean, invstd, p, ch);
    dbeta[ch] += (float)sum_dy;
    dgamma[ch] += (float)sum_dy_xhat;
    pb_bn_channel_dx(dx, dy, x, (double)gamma[ch] * invstd, mean, invstd, sum_dy / count, sum_dy_xhat / count, p, ch);
  }
}

/* Fused training forward (ops.h): the statistics and running averages as pb_bn_fwd_train_cpu, each
 * element as pb_bn_channel_affine computes it, then + r, then ReLU, in one pass (y may alias r). */
void pb_bn_fwd_train_fused_cpu(float *y, float *save_mean, float *save_invstd, float *running_mean,
                               float *running_var, const float *x, const float *r, const float *gamma,
                               const float *beta, int relu, const pb_bn_params *pv, int nthreads) {
  const pb_bn_params q = pb_bn_params_nchw_view(pv), *p = &q; /* channels last: the NCHW view */
  const size_t hw = (size_t)p->hw, cstride = (size_t)p->c * hw;
  int nt = nthreads < 1 ? 1 : nthreads;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int ch = 0; ch < p->c; ch++) {
    float fmean, alpha;
    pb_bn_channel_train(&fmean, &alpha, save_mean, save_invstd, running_mean, running_var, x, gamma, p, ch);
    const float b = beta[ch];
    for (int in = 0; in < p->n; in++) {
      const size_t off = (size_t)in * cstride + (size_t)ch * hw;
      const float *xp = x + off, *rp = r ? r + off : NULL;
      float *yp = y + off;
      for (size_t i = 0; i < hw; i++) {
        float v = (xp[i] - fmean) * alpha + b;
        if (rp) v = v + rp[i];
        yp[i] = relu && v < 0.0f ? 0.0f : v;
      }
    }
  }
}

/* Fused backward (ops.h): the ReLU's mask into dz, then the batch norm backward of dz. */
void pb_bn_bwd_fused_cpu(float *dx, float *dz, float *dgamma, float *dbeta, const float *dy, const float *y,
                         const float *x, const float *gamma, const float *save_mean, const float *save_invstd,
                         int relu, const pb_bn_params *p, int nthreads) {
  const size_t cnt = (size_t)p->n * (size_t)p->c * (size_t)p->hw;
  if (relu)
    pb_relu_bwd_cpu(dz, dy, y, cnt);
  else if (dz != dy)
    memcpy(dz, dy, cnt * sizeof(float));
  pb_bn_bwd_cpu(dx, dgamma, dbeta, dz, x, gamma, save_mean, save_invstd, p, nthreads);
}
