/* guard.c: the guards of a learner before each optimizer step (trainer.h pb_learner): the
 * non-finite guard ([run] on_nonfinite) and the loss-spike guard ([run] loss_spike_z).
 *
 * A step's gradients are finite exactly when their squared norm is (a NaN or an infinity in
 * any element makes the double sum NaN or infinite; finite floats squared stay far below the
 * double range), so the check is the clip's sum of squares on the device and ONE read back per
 * optimizer step, never a wait per layer. Only when it fails are the tensors read one by one to
 * name the first (in model order) holding a non-finite gradient or value.
 *
 * The spike guard reads the trainer's loss sums of the terms the learner watches (one more small
 * read once the device is waited for) and takes the step's loss as the change since its last
 * check; the running mean m and variance v of the taken steps' losses follow
 *   d = x - m,  m += a d,  v = (1 - a) (v + a d^2),  a = max(1/k, 1/window)   (k: steps so far)
 * which is exactly the cumulative mean and population variance for the first `window` steps
 * and an exponential average after. A step is a spike once k >= window and x > m + z sqrt(v),
 * or when x is not finite.
 *
 * A skipped step (either guard): the forward passes of the step's micro-batches already moved
 * the model's buffers (batch-norm running statistics) and counters: they are restored from the
 * snapshot pb_guard_begin took before the first of them, so that the model after a skipped step
 * is the model after the last good one. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/device/backend.h"
#include "engine/trainers/trainer.h"

int pb_guard_init(pb_learner *l, const pb_config *cfg, pb_err *err) {
  const char *mode = pb_config_str(cfg, "run", "on_nonfinite");
  l->guard = !strcmp(mode, "stop") ? PB_GUARD_STOP : !strcmp(mode, "skip") ? PB_GUARD_SKIP : PB_GUARD_OFF;
  l->spike_z = pb_config_float(cfg, "run", "loss_spike_z");
  l->spike_window = pb_config_int(cfg, "run", "loss_spike_window");
  l->spike_max = pb_config_int(cfg, "run", "loss_spike_max_skips");
  l->step_loss = NAN;
  if (!pb_learner_guarded(l)) return PB_OK;
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
  if (!pb_learner_guarded(l) || l->micro != 0 || !l->model || l->model->infer_only) return;
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

void pb_guard_watch(pb_learner *l, const pb_trainer *t, const int *terms, const double *weights, int n) {
  PB_ASSERT(n >= 0 && n <= PB_LOSS_MAX_TERMS);
  l->nwatch = n;
  for (int i = 0; i < n; i++) {
    PB_ASSERT(terms[i] >= 0 && terms[i] < t->terms.n);
    l->watch[i] = terms[i];
    l->watch_w[i] = weights ? weights[i] : t->terms.term[terms[i]].weight;
    l->last_loss[i] = 0, l->last_seen[i] = 0;
  }
  l->watch_acc = t->loss_acc;
  l->watch_seen = t->seen;
}

/* The step undone: gradients zeroed, buffers and counters back to the snapshot. */
static void undo(pb_learner *l) {
  pb_model *m = l->model;
  pb_ctx *c = m->ctx;
  pb_model_zero_grad(m);
  if (m->nbuffers) c->ops->copy(c, m->buffers, l->buf_backup, m->nbuffers);
  for (int i = 0; i < pb_model_ntensors(m); i++) {
    pb_param *p = pb_model_tensor(m, i);
    if (p->kind == PB_PARAM_COUNTER) p->counter = l->ctr_backup[i];
  }
}

/* The loss-spike test of the step about to be taken: 1 (spike_msg set) or 0 (folded into the
 * running statistics). */
static int spike(pb_learner *l) {
  l->step_loss = NAN;
  if (!l->nwatch) return 0;
  int nt = 0;
  for (int i = 0; i < l->nwatch; i++) nt = PB_MAX(nt, l->watch[i] + 1);
  double acc[PB_LOSS_MAX_TERMS];
  l->model->ctx->ops->download(l->model->ctx, acc, l->watch_acc, (size_t)nt * sizeof(double));
  double x = 0;
  int any = 0;
  for (int i = 0; i < l->nwatch; i++) {
    int t = l->watch[i];
    long dn = l->watch_seen[t] - l->last_seen[i];
    if (dn > 0) x += l->watch_w[i] * (acc[t] - l->last_loss[i]) / (double)dn, any = 1;
    l->last_loss[i] = acc[t], l->last_seen[i] = l->watch_seen[t];
  }
  if (!any) return 0; /* no labelled sample in the step: no loss to judge */
  l->step_loss = x;
  double sd = sqrt(l->spike_var);
  if (!isfinite(x) || (l->spike_n >= l->spike_window && x > l->spike_mean + l->spike_z * sd)) {
    snprintf(l->spike_msg, sizeof l->spike_msg,
             "%s%s%sstep %" PRId64 ": loss spike: %.6g is %.3g standard deviations above the running mean %.6g "
             "(std %.6g over %ld steps; [run] loss_spike_z = %g)",
             l->name[0] ? "model " : "", l->name, l->name[0] ? ", " : "", l->opt.step + 1, x,
             sd > 0 ? (x - l->spike_mean) / sd : INFINITY, l->spike_mean, sd, l->spike_n, l->spike_z);
    return 1;
  }
  l->spike_n++;
  l->spike_run = 0;
  double a = PB_MAX(1.0 / (double)l->spike_n, 1.0 / (double)l->spike_window), d = x - l->spike_mean;
  l->spike_mean += a * d;
  l->spike_var = (1 - a) * (l->spike_var + a * d * d);
  return 0;
}

int pb_guard_check(pb_learner *l) {
  if (!pb_learner_guarded(l)) return 0;
  pb_model *m = l->model;
  pb_ctx *c = m->ctx;
  if (l->guard) {
    double s;
    c->ops->sumsq(c, l->sumsq, m->grads, m->nparams);
    c->ops->download(c, &s, l->sumsq, sizeof s);
    if (!isfinite(s)) {
      char where[300];
      locate(l, where, sizeof where);
      snprintf(l->nonfinite_msg, sizeof l->nonfinite_msg, "%s%s%sstep %" PRId64 ": %s", l->name[0] ? "model " : "",
               l->name, l->name[0] ? ", " : "", l->opt.step + 1, where);
      undo(l);
      l->nonfinite++;
      if (l->guard == PB_GUARD_STOP) l->nonfinite_stop = 1;
      return 1;
    }
  }
  if (l->spike_z > 0 && spike(l)) {
    undo(l);
    l->spikes++;
    if (++l->spike_run >= l->spike_max) l->spike_stop = 1;
    return 1;
  }
  return 0;
}
