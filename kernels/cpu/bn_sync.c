/* bn_sync.c: synchronised batch norm on the CPU ([dist] sync_bn): the training forward and
 * backward of batchnorm.c split around per-channel sums that the caller adds over the
 * data-parallel ranks (contracts in ops.h). Its CUDA twin is kernels/cuda/bn_sync.cu.
 *
 * x is [n, c, hw]; every op parallelises over channels and each channel's sums are taken by one
 * thread in a fixed order, in double, so results do not depend on nthreads. The variance is
 * one-pass (sum x^2 / cnt - mean^2): the sums are what the ranks can add. In double, with float
 * inputs (whose squares are exact in double), that loses ~|mean|^2 / var * 1e-16 relative, far
 * below float for any realistic activation; it is clamped at 0 against a negative rounding.
 * The elementwise expressions are those of batchnorm.c, so one rank equals bn_fwd_train /
 * bn_bwd to the rounding of the variance. */
#include <math.h>

#include "kernels/cpu/bn_channel.h"
#include "kernels/ops.h"

static int pb_bn_sync_nt(int nthreads) { return nthreads < 1 ? 1 : nthreads; }

void pb_bn_sums_cpu(double *sums, const float *x, const pb_bn_params *pv, int nthreads) {
  const pb_bn_params q = pb_bn_params_nchw_view(pv), *p = &q; /* channels last: the NCHW view */
  const size_t hw = (size_t)p->hw, cstride = (size_t)p->c * hw;
  const int c = p->c;
#pragma omp parallel for num_threads(pb_bn_sync_nt(nthreads)) schedule(static)
  for (int ch = 0; ch < c; ch++) {
    double s = 0.0, s2 = 0.0;
    for (int in = 0; in < p->n; in++) {
      const float *xp = x + (size_t)in * cstride + (size_t)ch * hw;
      for (size_t i = 0; i < hw; i++) {
        const double v = xp[i];
        s += v;
        s2 += v * v;
      }
    }
    sums[ch] = s;
    sums[c + ch] = s2;
  }
  sums[2 * (size_t)c] = (double)p->n * (double)p->hw;
}

/* Precondition (as bn_fwd_train): the global count cnt > 1 in training; cnt == 1 stores the
 * biased variance (0) in running_var instead of dividing by zero. */
void pb_bn_fwd_sync_cpu(float *y, float *save_mean, float *save_invstd, float *running_mean, float *running_var,
                        const float *x, const float *gamma, const float *beta, const double *sums,
                        const pb_bn_params *pv, int nthreads) {
  const pb_bn_params q = pb_bn_params_nchw_view(pv), *p = &q; /* channels last: the NCHW view */
  const int c = p->c;
  const double cnt = sums[2 * (size_t)c], m = p->momentum;
#pragma omp parallel for num_threads(pb_bn_sync_nt(nthreads)) schedule(static)
  for (int ch = 0; ch < c; ch++) {
    const double mean = sums[ch] / cnt;
    double var = sums[c + ch] / cnt - mean * mean;
    if (!(var > 0.0)) var = 0.0; /* rounding can make it slightly negative */
    const double invstd = 1.0 / sqrt(var + (double)p->eps);
    save_mean[ch] = (float)mean;
    save_invstd[ch] = (float)invstd;
    const double var_unbiased = cnt > 1.0 ? var * cnt / (cnt - 1.0) : var;
    running_mean[ch] = (float)((1.0 - m) * running_mean[ch] + m * mean);
    running_var[ch] = (float)((1.0 - m) * running_var[ch] + m * var_unbiased);
    /* (x - mean) * alpha + beta, not x * alpha + shift: see bn_channel.h. */
    pb_bn_channel_affine(y, x, (float)mean, (float)((double)gamma[ch] * invstd), beta[ch], p, ch);
  }
}

void pb_bn_bwd_sums_cpu(double *sums, const float *dy, const float *x, const float *save_mean,
                        const float *save_invstd, const pb_bn_params *pv, int nthreads) {
  const pb_bn_params q = pb_bn_params_nchw_view(pv), *p = &q; /* channels last: the NCHW view */
  const int c = p->c;
#pragma omp parallel for num_threads(pb_bn_sync_nt(nthreads)) schedule(static)
  for (int ch = 0; ch < c; ch++)
    pb_bn_channel_bwd_sums(&sums[ch], &sums[c + ch], dy, x, save_mean[ch], save_invstd[ch], p, ch);
}

/* dx may alias dy (each element reads its own dy before writing dx). */
void pb_bn_bwd_sync_cpu(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x, const float *gamma,
                        const float *save_mean, const float *save_invstd, const double *local, const double *global,
                        const double *fwd, const pb_bn_params *pv, int nthreads) {
  const pb_bn_params q = pb_bn_params_nchw_view(pv), *p = &q; /* channels last: the NCHW view */
  const int c = p->c;
  const double cnt = fwd[2 * (size_t)c];
#pragma omp parallel for num_threads(pb_bn_sync_nt(nthreads)) schedule(static)
  for (int ch = 0; ch < c; ch++) {
    dbeta[ch] += (float)local[ch];
    dgamma[ch] += (float)local[c + ch];
    const double invstd = save_invstd[ch];
    pb_bn_channel_dx(dx, dy, x, (double)gamma[ch] * invstd, save_mean[ch], invstd, global[ch] / cnt,
                     global[c + ch] / cnt, p, ch);
  }
}
