/* bn_fused.c: batch norm in evaluation fused with the residual add and the ReLU that follow it
 * in a ResNet (y = act(bn_eval(x) + r)), the CPU reference of kernels/cuda/bn_fused.cu. The
 * contract is in ops.h (pb_bn_eval_fused_cpu).
 *
 * Each element is computed exactly as the unfused chain computes it: t = (x - mean) * alpha +
 * beta rounded to float as pb_bn_fwd_eval_cpu (alpha = (float)(gamma / sqrt(var + eps)) in
 * double, the subtraction kept: see batchnorm.c), then t + r (one float add, as
 * pb_accumulate_cpu), then ReLU (x < 0 ? 0 : x, NaN and -0 pass, as pb_relu_fwd_cpu). So the
 * fused op equals bn_fwd_eval, accumulate and relu_fwd in sequence, bit for bit; the only
 * difference is one pass over memory instead of three. Element i is read before it is written
 * and by no other element, so y may be x or r (in place). */
#include <math.h>

#include "kernels/ops.h"

void pb_bn_eval_fused_cpu(float *y, const float *x, const float *r, const float *gamma, const float *beta,
                          const float *running_mean, const float *running_var, int relu, const pb_bn_params *pv,
                          int nthreads) {
  const pb_bn_params q = pb_bn_params_nchw_view(pv), *p = &q; /* channels last: the NCHW view */
  const size_t hw = (size_t)p->hw, cstride = (size_t)p->c * hw;
  int nt = nthreads < 1 ? 1 : nthreads;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int ch = 0; ch < p->c; ch++) {
    const double invstd = 1.0 / sqrt((double)running_var[ch] + (double)p->eps);
    const float alpha = (float)((double)gamma[ch] * invstd), mean = running_mean[ch], b = beta[ch];
    for (int in = 0; in < p->n; in++) {
      const size_t off = (size_t)in * cstride + (size_t)ch * hw;
      const float *xp = x + off, *rp = r ? r + off : NULL;
      float *yp = y + off;
      for (size_t i = 0; i < hw; i++) {
        float v = (xp[i] - mean) * alpha + b;
        if (rp) v = v + rp[i];
        yp[i] = relu && v < 0.0f ? 0.0f : v;
      }
    }
  }
}
