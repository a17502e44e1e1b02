/* optim.c: CPU optimizer steps (SGD, Adam, AdamW) over a flat parameter block, and the
 * double-precision sum of squares used by gradient-norm clipping.
 * Its CUDA twin will be kernels/cuda/optim.cu.
 *
 * The per-element arithmetic mirrors torch.optim (1.13, foreach=False) operation by
 * operation, including where PyTorch rounds a Python double to float32 (the scalar
 * arguments of mul_/add_/addcmul_/addcdiv_), so float32 results agree to about 1 ulp per
 * step. (PyTorch's AVX2 kernels fuse `a + alpha*b` into one FMA; plain C rounds twice, which
 * is where that ulp comes from.) Elementwise loops are split across OpenMP threads only for
 * large blocks; every element's result is independent of the split. */
#include <math.h>

#include "kernels/ops.h"

/* Below this many elements a parallel region costs more than it saves. */
#define PB_OPTIM_PAR_MIN ((size_t)1 << 16)
/* pb_sumsq_cpu splits x into this many equal chunks (a function of n only), so the
 * summation order, and the result, never depend on the thread count. */
#define PB_SUMSQ_CHUNKS 64

void pb_sgd_step_cpu(float *param, float *buf, const float *grad, size_t n, const pb_sgd_params *p,
                     int first_step) {
  const float wd = p->weight_decay, mom = p->momentum;
  /* buf.mul_(momentum).add_(d_p, alpha=1 - dampening); param.add_(d_p, alpha=-lr). */
  const float damp1 = (float)(1.0 - (double)p->dampening);
  const float neg_lr = -p->lr;
  const int use_mom = mom != 0.0f, nesterov = p->nesterov, first = first_step != 0;
  const long long nn = (long long)n;
#pragma omp parallel for schedule(static) if (n >= PB_OPTIM_PAR_MIN)
  for (long long i = 0; i < nn; i++) {
    float g = grad[i];
    if (wd != 0.0f) g = g + wd * param[i]; /* d_p = d_p.add(param, alpha=weight_decay) */
    if (use_mom) {
      /* PyTorch clones d_p into the buffer on the first step (no dampening applied). */
      const float b = first ? g : buf[i] * mom + damp1 * g;
      buf[i] = b;
      g = nesterov ? g + mom * b : b;
    }
    param[i] = param[i] + neg_lr * g;
  }
}

void pb_adam_step_cpu(float *param, float *m, float *v, const float *grad, size_t n,
                      const pb_adam_params *p) {
  /* Python-side scalars are doubles in PyTorch; each is rounded to float32 when it meets a
   * float32 tensor, exactly as here. */
  const double lr = p->lr, step = (double)p->step;
  const double bc1 = 1.0 - pow((double)p->beta1, step);
  const double bc2 = 1.0 - pow((double)p->beta2, step);
  const float neg_step_size = (float)(-(lr / bc1));     /* addcdiv_(value=-step_size) */
  const float bc2_sqrt = (float)sqrt(bc2);              /* exp_avg_sq.sqrt() / bc2_sqrt */
  const float b1 = p->beta1, b2 = p->beta2, eps = p->eps;
  const float omb1 = (float)(1.0 - (double)p->beta1);   /* add_(grad, alpha=1-beta1) */
  const float omb2 = (float)(1.0 - (double)p->beta2);   /* addcmul_(value=1-beta2) */
  const float wd = p->weight_decay;
  const int decoupled = p->decoupled;
  const float decay = (float)(1.0 - lr * (double)p->weight_decay); /* AdamW param.mul_ */
  const long long nn = (long long)n;
#pragma omp parallel for schedule(static) if (n >= PB_OPTIM_PAR_MIN)
  for (long long i = 0; i < nn; i++) {
    float g = grad[i];
    float x = param[i];
    if (decoupled) {
      x = x * decay;
    } else if (wd != 0.0f) {
      g = g + wd * x; /* grad = grad.add(param, alpha=weight_decay) */
    }
    const float mi = m[i] * b1 + omb1 * g;
    const float vi = v[i] * b2 + omb2 * g * g; /* addcmul: self + (value*t1)*t2 */
    m[i] = mi;
    v[i] = vi;
    const float denom = sqrtf(vi) / bc2_sqrt + eps;
    param[i] = x + neg_step_size * mi / denom; /* addcdiv: self + (value*t1)/t2 */
  }
}

/* Sum of squares of x[lo, hi) in double, four interleaved accumulators (fixed order). Each
 * float square is exact in double. */
static double pb_sumsq_range(const float *x, size_t lo, size_t hi) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  size_t i = lo;
  for (; i + 4 <= hi; i += 4) {
    const double a = x[i], b = x[i + 1], c = x[i + 2], d = x[i + 3];
    s0 += a * a;
    s1 += b * b;
    s2 += c * c;
    s3 += d * d;
  }
  for (; i < hi; i++) {
    const double a = x[i];
    s0 += a * a;
  }
  return (s0 + s1) + (s2 + s3);
}

double pb_sumsq_cpu(const float *x, size_t n) {
  double part[PB_SUMSQ_CHUNKS];
  const size_t chunk = (n + PB_SUMSQ_CHUNKS - 1) / PB_SUMSQ_CHUNKS;
#pragma omp parallel for schedule(static) if (n >= PB_OPTIM_PAR_MIN)
  for (int c = 0; c < PB_SUMSQ_CHUNKS; c++) {
    size_t lo = (size_t)c * chunk, hi = lo + chunk;
    if (lo > n) lo = n;
    if (hi > n) hi = n;
    part[c] = pb_sumsq_range(x, lo, hi);
  }
  double s = 0.0;
  for (int c = 0; c < PB_SUMSQ_CHUNKS; c++) s += part[c];
  return s;
}

void pb_clip_scale_cpu(float *x, size_t n, const double *sumsq, double max_norm) {
  if (n == 0 || !(max_norm > 0.0)) return;
  /* The CUDA twin's arithmetic: double sqrt and division, one float scale. */
  const double coef = max_norm / (sqrt(sumsq[0]) + 1e-6);
  if (!(coef < 1.0)) return;
  const float s = (float)coef;
  for (size_t i = 0; i < n; i++) x[i] *= s;
}
