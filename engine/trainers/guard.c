/* guard.c: the non-finite guard of a learner ([run] on_nonfinite; trainer.h pb_learner).
 *
 * A step's gradients are finite exactly when their squared norm is (a NaN or an infinity in
 * any element makes the double sum NaN or infinite; finite floats squared stay far below the
 * double range), so the check is the clip's sum of squares on the device and ONE read back per
 * optimizer step, never a wait per layer. Only when it fails are the tensors read one by one to
 * name the first (in model order) holding a non-finite gradient or value. The forward passes of
 * the step's micro-batches already moved the model's buffers (batch-norm running statistics) and
 * counters: they are restored from the snapshot pb_guard_begin took before the first of them,
 * so that the model after a skipped step is the model after the last good one. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/device/backend.h"
#include "engine/trainers/trainer.h"

int pb_guard_init(pb_learner *l, const pb_config *cfg, pb_err *err) {
  const char *mode = pb_config_str(cfg, "run", "on_nonfinite");
  l->guard = !strcmp(mode, "stop") ? PB_GUARD_STOP : !strcmp(mode, "skip") ? PB_GUARD_SKIP : PB_GUARD_OFF;
  if (!l->guard) return PB_OK;
  pb_model *m = l->model;
  if (m->nbuffers && !(l->buf_backup = m->ctx->ops->alloc(m->ctx, m->nbuffers * sizeof(float),
                                                          "the guard's copy of the model's buffers", err)))
    return PB_ERR;
  l->ctr_backup = pb_xcalloc((size_t)PB_MAX(pb_model_ntensors(m), 1), sizeof(int64_t));
  return PB_OK;
}

void pb_guard_free(pb_learner *l) {
  if (l->buf_backup) l->model->ctx->ops->free(l->model->ctx, l->buf_backup);
  free(l->ctr_backup);
  l->buf_backup = NULL, l->ctr_backup = NULL;
}

void pb_guard_begin(pb_learner *l) {
  if (!l->guard || l->micro != 0 || !l->model || l->model->infer_only) return;
  pb_model *m = l->model;
  if (m->nbuffers) m->ctx->ops->copy(m->ctx, l->buf_backup, m->buffers, m->nbuffers);
  for (int i = 0; i < pb_model_ntensors(m); i++) {
    pb_param *p = pb_model_tensor(m, i);
    if (p->kind == PB_PARAM_COUNTER) l->ctr_backup[i] = p->counter;
  }
}

/* "GRAD|VALUE of NAME (element E of N)": the first tensor in model order whose gradient or
 * value holds a NaN or an infinity. */
static void locate(pb_learner *l, char *buf, size_t len) {
  pb_model *m = l->model;
  pb_ctx *c = m->ctx;
  snprintf(buf, len, "no single tensor found (the sum of squares overflowed)");
  float *h = NULL;
  size_t cap = 0;
  for (int i = 0; i < pb_model_ntensors(m); i++) {
    pb_param *p = pb_model_tensor(m, i);
    if (p->kind != PB_PARAM_TRAINABLE) continue;
    if (p->numel > cap) {
      free(h);
      cap = p->numel;
      h = pb_xmalloc(cap * sizeof(float));
    }
    for (int which = 0; which < 2; which++) { /* its gradient, then its value */
      c->ops->download(c, h, which ? p->data : p->grad, p->numel * sizeof(float));
      for (size_t j = 0; j < p->numel; j++)
        if (!isfinite(h[j])) {
          snprintf(buf, len, "%s %s of %s (element %zu of %zu)", isnan(h[j]) ? "NaN" : "infinite",
                   which ? "value" : "gradient", p->name, j, p->numel);
          free(h);
          return;
        }
    }
  }
  free(h);
}

int pb_guard_check(pb_learner *l) {
  if (!l->guard) return 0;
  pb_model *m = l->model;
  pb_ctx *c = m->ctx;
  double s;
  c->ops->sumsq(c, l->sumsq, m->grads, m->nparams);
  c->ops->download(c, &s, l->sumsq, sizeof s);
  if (isfinite(s)) return 0;
  char where[300];
  locate(l, where, sizeof where);
  snprintf(l->nonfinite_msg, sizeof l->nonfinite_msg, "%s%s%sstep %" PRId64 ": %s", l->name[0] ? "model " : "",
           l->name, l->name[0] ? ", " : "", l->opt.step + 1, where);
  pb_model_zero_grad(m);
  if (m->nbuffers) c->ops->copy(c, m->buffers, l->buf_backup, m->nbuffers);
  for (int i = 0; i < pb_model_ntensors(m); i++) {
    pb_param *p = pb_model_tensor(m, i);
    if (p->kind == PB_PARAM_COUNTER) p->counter = l->ctr_backup[i];
  }
  l->nonfinite++;
  if (l->guard == PB_GUARD_STOP) l->nonfinite_stop = 1;
  return 1;
}
