/* optim.cu: SGD and Adam / AdamW steps over the flat parameter block, the sum of squares for
 * gradient-norm clipping and the clipping scale: the CUDA twin of kernels/cpu/optim.c and of
 * pb_clip_grad_norm (engine/trainers/optim.c). Contracts in ops.h / ops_cuda.h.
 *
 * Steps: ONE grid-stride launch each over the whole block. The scalars (bias corrections,
 * 1 - beta, -lr, decay...) are computed on the host with exactly the CPU's code (doubles
 * rounded to float where PyTorch rounds them) and passed by value. Per element, the CPU's
 * operations in the CPU's order, each one an explicitly rounded intrinsic (__fmul_rn,
 * __fadd_rn, __fdiv_rn, __fsqrt_rn): nvcc never contracts a * b + c into an FMA through them
 * (whatever -fmad says), and the CPU build (C11, -ffp-contract=off by the ISO mode, no FMA on
 * baseline x86-64) rounds every operation too. So param, buf, m and v are expected BITWISE
 * equal to the CPU's; the twin test allows 1e-6 + 1e-5 |ref| (a few ulp over many steps) so
 * that a CPU compiled with FMA contraction (another compiler or flags) still passes.
 *
 * Sum of squares: pb_det_sum (reduce_det.cuh): fixed 1024 parts x 256 threads, double
 * accumulation (each float square is exact in double), fixed trees: run-to-run bitwise
 * reproducible, independent of the GPU. Against the CPU (64 chunks, 4 accumulators) only the
 * double rounding order differs: relative ~1e-15.
 *
 * Clip: one grid-stride launch; every thread reads sumsq[0] from device memory and computes
 * coef = max_norm / (sqrt(sumsq) + 1e-6) in double exactly as pb_clip_grad_norm; the block is
 * scaled by (float)coef when coef < 1 (no host round trip). */
#include <math.h>

#include "kernels/cuda/reduce_det.cuh"

#define PB_GRID_LOOP(i, n) \
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

/* ------------------------------------------------------------------ SGD */

typedef struct pb_sgd_k {
  float wd, mom, damp1, neg_lr;
  int use_mom, nesterov, first;
} pb_sgd_k;

__global__ static void pb_sgd_step_kernel(float *param, float *buf, const float *grad, size_t n, pb_sgd_k k) {
  PB_GRID_LOOP(i, n) {
    float g = grad[i];
    const float x = param[i];
    if (k.wd != 0.0f) g = __fadd_rn(g, __fmul_rn(k.wd, x)); /* d_p.add(param, alpha=wd) */
    if (k.use_mom) {
      /* first step: buf = clone(d_p); else buf * mom + (1 - dampening) * d_p */
      const float b = k.first ? g : __fadd_rn(__fmul_rn(buf[i], k.mom), __fmul_rn(k.damp1, g));
      buf[i] = b;
      g = k.nesterov ? __fadd_rn(g, __fmul_rn(k.mom, b)) : b;
    }
    param[i] = __fadd_rn(x, __fmul_rn(k.neg_lr, g));
  }
}

extern "C" void pb_sgd_step_cuda(float *param, float *buf, const float *grad, size_t n, const pb_sgd_params *p,
                                 int first_step, const pb_cuda_env *env) {
  if (n == 0) return;
  pb_sgd_k k; /* as pb_sgd_step_cpu */
  k.wd = p->weight_decay;
  k.mom = p->momentum;
  k.damp1 = (float)(1.0 - (double)p->dampening);
  k.neg_lr = -p->lr;
  k.use_mom = p->momentum != 0.0f;
  k.nesterov = p->nesterov;
  k.first = first_step != 0;
  PB_ASSERT(!k.use_mom || buf);
  pb_sgd_step_kernel<<<pb_cuda_blocks(n, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(
      param, buf, grad, n, k);
  PB_CUDA_CHECK_LAUNCH("pb_sgd_step_kernel");
}

/* ------------------------------------------------------------------ Adam / AdamW */

typedef struct pb_adam_k {
  float neg_step_size, bc2_sqrt, b1, b2, eps, omb1, omb2, wd, decay;
  int decoupled;
} pb_adam_k;

__global__ static void pb_adam_step_kernel(float *param, float *m, float *v, const float *grad, size_t n,
                                           pb_adam_k k) {
  PB_GRID_LOOP(i, n) {
    float g = grad[i];
    float x = param[i];
    if (k.decoupled) {
      x = __fmul_rn(x, k.decay); /* AdamW: param.mul_(1 - lr*wd) */
    } else if (k.wd != 0.0f) {
      g = __fadd_rn(g, __fmul_rn(k.wd, x)); /* grad.add(param, alpha=wd) */
    }
    const float mi = __fadd_rn(__fmul_rn(m[i], k.b1), __fmul_rn(k.omb1, g));
    /* addcmul: v*b2 + ((1-b2)*g)*g */
    const float vi = __fadd_rn(__fmul_rn(v[i], k.b2), __fmul_rn(__fmul_rn(k.omb2, g), g));
    m[i] = mi;
    v[i] = vi;
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), k.bc2_sqrt), k.eps);
    /* addcdiv: x + (-step_size * m) / denom */
    param[i] = __fadd_rn(x, __fdiv_rn(__fmul_rn(k.neg_step_size, mi), denom));
  }
}

extern "C" void pb_adam_step_cuda(float *param, float *m, float *v, const float *grad, size_t n,
                                  const pb_adam_params *p, const pb_cuda_env *env) {
  if (n == 0) return;
  /* the scalars exactly as pb_adam_step_cpu computes them */
  const double lr = p->lr, step = (double)p->step;
  const double bc1 = 1.0 - pow((double)p->beta1, step);
  const double bc2 = 1.0 - pow((double)p->beta2, step);
  pb_adam_k k;
  k.neg_step_size = (float)(-(lr / bc1));
  k.bc2_sqrt = (float)sqrt(bc2);
  k.b1 = p->beta1;
  k.b2 = p->beta2;
  k.eps = p->eps;
  k.omb1 = (float)(1.0 - (double)p->beta1);
  k.omb2 = (float)(1.0 - (double)p->beta2);
  k.wd = p->weight_decay;
  k.decoupled = p->decoupled;
  k.decay = (float)(1.0 - lr * (double)p->weight_decay);
  pb_adam_step_kernel<<<pb_cuda_blocks(n, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(
      param, m, v, grad, n, k);
  PB_CUDA_CHECK_LAUNCH("pb_adam_step_kernel");
}

/* ------------------------------------------------------------------ sum of squares and clipping */

struct pb_sq_term {
  const float *x;
  /* a float squared is exact in double, so an FMA in the caller's accumulation changes nothing */
  __device__ double operator()(size_t i) const {
    const double a = x[i];
    return a * a;
  }
};

extern "C" void pb_sumsq_cuda(double *sumsq, const float *x, size_t n, const pb_cuda_env *env) {
  pb_sq_term f;
  f.x = x;
  pb_det_sum<double>(sumsq, f, n, env, "pb_sumsq (pb_det_sum)"); /* n == 0: writes 0 */
}

__global__ static void pb_clip_scale_kernel(float *x, size_t n, const double *sumsq, double max_norm) {
  /* torch.nn.utils.clip_grad_norm_ as pb_clip_grad_norm: coef = max_norm / (norm + 1e-6), used
   * when < 1 (a NaN norm gives a NaN coef: no scaling, as the CPU). Double sqrt and division
   * are correctly rounded on the GPU, so coef is bitwise the CPU's for the same sumsq. */
  const double coef = max_norm / (sqrt(sumsq[0]) + 1e-6);
  if (!(coef < 1.0)) return;
  const float s = (float)coef;
  PB_GRID_LOOP(i, n) x[i] = __fmul_rn(x[i], s);
}

extern "C" void pb_clip_scale_cuda(float *x, size_t n, const double *sumsq, double max_norm,
                                   const pb_cuda_env *env) {
  if (n == 0 || !(max_norm > 0.0)) return;
  pb_clip_scale_kernel<<<pb_cuda_blocks(n, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, pb_cuda_stream_of(env->stream)>>>(
      x, n, sumsq, max_norm);
  PB_CUDA_CHECK_LAUNCH("pb_clip_scale_kernel");
}
