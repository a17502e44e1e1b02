/* det_value.h: the deterministic tensor values the PyTorch golden tests share with
 * scripts/fixtures/resnet_torch.py (det_value): each tensor computed from its name, so the
 * fixtures store no weights. Used by test_resnet_golden.c and test_bagnet_golden.c (and their
 * CUDA twins, which include those files). */
#ifndef PB_TEST_DET_VALUE_H
#define PB_TEST_DET_VALUE_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine/layers/layer.h"

static inline uint32_t fnv1a32(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}
static inline double det_u(uint32_t h, size_t i) {
  return (double)(uint32_t)((uint32_t)i * 2654435761u + h) / 4294967296.0 - 0.5;
}

static inline int ends_with(const char *s, const char *t) {
  size_t a = strlen(s), b = strlen(t);
  return a >= b && !strcmp(s + a - b, t);
}

/* resnet_torch.det_value: out[numel] for tensor p. */
static inline void det_value(const pb_param *p, float *out) {
  uint32_t h = fnv1a32(p->name);
  for (size_t i = 0; i < p->numel; i++) {
    double u = det_u(h, i), v;
    if (ends_with(p->name, "running_mean"))
      v = 0.2 * u;
    else if (ends_with(p->name, "running_var"))
      v = 1.0 + 0.4 * (u + 0.5);
    else if (p->ndim >= 2)
      v = u * sqrt(24.0 / (double)(p->numel / (size_t)p->shape[0]));
    else if (ends_with(p->name, "weight"))
      v = 1.0 + 0.2 * u;
    else
      v = 0.2 * u;
    out[i] = (float)v;
  }
}

#endif
