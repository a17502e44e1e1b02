/* test_golden_hsic.c: the CPU HSIC op (kernels/cpu/hsic.c) and the median-sigma helpers against
 * PyTorch float64 autograd. Fixture, cases and tolerances: test/kernels/hsic_golden.h (shared
 * with the CUDA twin's run in test_cuda_hsic.c). nthreads 2. */
#include <stdlib.h>
#include <string.h>

#include "test/kernels/hsic_golden.h"

static void cpu_hsic(void *ctx, float *value, float *dx, float *dy, const float *x, const float *y,
                     const pb_hsic_params *p) {
  (void)ctx;
  pb_scratch s = {.floats = pb_hsic_scratch_cpu(p), .nthreads = 2};
  s.buf = malloc(s.floats * sizeof(float));
  pb_hsic_fwd_cpu(value, x, y, p, &s);
  if (dx) {
    memset(dx, 0, sizeof(float) * p->n * p->dx);
    memset(dy, 0, sizeof(float) * p->n * p->dy);
    pb_hsic_bwd_cpu(dx, dy, 1.0f, x, y, p, &s);
  }
  free(s.buf);
}

static void cpu_sqdist(void *ctx, float *d, const float *a, int n, int dim) {
  (void)ctx;
  pb_sqdist_cpu(d, a, n, dim);
}

int main(void) {
  pb_err err = {{0}};
  pb_st_file f;
  if (pb_st_read(&f, pb_test_fixture("hsic_golden.safetensors"), &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  pb_cpu_blas_init();
  const hg_runner run = {cpu_hsic, cpu_sqdist, NULL};
  hg_worst w;
  hg_run_all(&f, &run, "cpu", &w);
  pb_st_free(&f);
  return pb_test_exit("test_golden_hsic");
}
