/* state.c: a run's training state in its checkpoints (state.h): the metadata written beside
 * the trainer's tensors, and reading it back for an exact resume. */
#include "engine/run/state.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/device/lowp.h"
#include "engine/run/report.h"
#include "engine/trainers/checkpoint.h"
#include "engine/run/stop.h"

/* Training-state metadata written into every checkpoint. progress 0: an epoch-end checkpoint,
 * which carries no progress of the epoch. */
/* "rng.dropout.LAYER" for the reported model (as with one model), "rng.dropout.NAME.LAYER"
 * for the other models of a multi-model run. */
static void dropout_key(const pb_run *r, int learner, const pb_layer *ly, char *k, size_t len) {
  if (learner == 0)
    snprintf(k, len, "rng.dropout.%s", ly->name);
  else
    snprintf(k, len, "rng.dropout.%s.%s", r->tr->terms.term[learner].name, ly->name);
}

/* "loss_spike" for the reported model, "loss_spike.NAME" for the others. */
static void spike_key(const pb_run *r, int learner, char *k, size_t len) {
  if (learner == 0)
    snprintf(k, len, "loss_spike");
  else
    snprintf(k, len, "loss_spike.%s", r->tr->learner[learner].name);
}

static int make_meta(const pb_run *r, int64_t epoch, int64_t cursor, int progress, char store[][96],
                     const char **meta) {
  int n = 0;
  const pb_train_stats *s = &r->ep;
  const pb_terms *l = &r->tr->terms;
  int named = l->term[0].name[0] != 0;
#define META(k, ...)                         \
  do {                                       \
    snprintf(store[2 * n], 96, "%s", k);     \
    snprintf(store[2 * n + 1], 96, __VA_ARGS__); \
    meta[2 * n] = store[2 * n];              \
    meta[2 * n + 1] = store[2 * n + 1];      \
    n++;                                     \
  } while (0)
  META("plumb.format", "1");
  META("arch", "%s", r->model->arch);
  META("step", "%" PRId64, pb_trainer_step(r->tr));
  META("epoch", "%" PRId64, epoch);
  META("cursor", "%" PRId64, cursor);
  META("seed", "%" PRIu64, r->seed);
  META("epoch_loss_sum", "%.17g", progress ? pb_report_train_loss(l, s, 1) : 0.0);
  META("epoch_correct", "%ld", progress && !named ? s->correct[0] : 0);
  META("epoch_seen", "%ld", progress ? r->ep_seen : 0);
  for (int t = 0; named && t < l->n; t++) { /* per-head progress: "loss_sum correct seen" */
    char k[96];
    snprintf(k, sizeof k, "epoch_head.%s", l->term[t].name);
    META(k, "%.17g %ld %ld", progress ? s->loss[t] : 0.0, progress ? s->correct[t] : 0, progress ? s->seen[t] : 0);
  }
  if (pb_config_str(r->cfg, "run", "select")[0]) {
    META("select.best", "%.17g", r->select_best);
    META("select.epoch", "%" PRId64, r->select_epoch);
  }
  for (int j = 0; j < r->tr->nlearners; j++) { /* the loss-spike guards' running statistics */
    const pb_learner *lr = &r->tr->learner[j];
    if (!(lr->spike_z > 0) || !lr->nwatch) continue;
    char k[96];
    spike_key(r, j, k, sizeof k);
    META(k, "%.17g %.17g %ld", lr->spike_mean, lr->spike_var, lr->spike_n);
  }
  const pb_lowp *lp = r->ctx.lowp;
  if (lp && lp->scaling) /* fp16's dynamic loss scale: "scale good-steps skipped" */
    META("loss_scale", "%.9g %" PRId64 " %" PRId64, (double)lp->scale, lp->good, lp->skipped);
  for (int j = 0; j < r->tr->nlearners; j++) { /* every model's dropout counters */
    const pb_model *m = r->tr->learner[j].model;
    for (int i = 0; i < m->nlayers && n < 60; i++) {
      pb_layer *ly = m->layers[i];
      uint64_t *ctr = pb_layer_rng_counter(ly);
      if (!ctr) continue;
      char k[96];
      dropout_key(r, j, ly, k, sizeof k);
      META(k, "%" PRIu64, *ctr);
    }
  }
#undef META
  return n;
}

int pb_run_save_state(pb_run *r, const pb_runfolder *f, int64_t epoch, int64_t cursor, int progress, char *path,
                      size_t len, pb_err *err) {
  char store[128][96];
  const char *meta[128];
  int nmeta = make_meta(r, epoch, cursor, progress, store, meta);
  char base[4300];
  pb_runfolder_ckpt_base(f, pb_trainer_step(r->tr), base, sizeof base);
  pb_stop_saving(1); /* a signal now waits for the checkpoint to be whole */
  int rc = r->tr->vt->save(r->tr, base, meta, nmeta, err);
  if (rc == PB_OK) {
    snprintf(path, len, "%s.safetensors", base);
    pb_runfolder_prune(f, (int)pb_config_int(r->cfg, "run", "keep_checkpoints"));
  }
  pb_stop_saving(0);
  return rc;
}

int pb_run_restore_state(pb_run *r, const char *model_path, pb_err *err) {
  char state_path[4200];
  size_t L = strlen(model_path);
  const char *suf = ".safetensors";
  if (L <= strlen(suf) || strcmp(model_path + L - strlen(suf), suf))
    return pb_err_set(err, "--resume %s: expected a checkpoint's model file, NAME.safetensors", model_path);
  snprintf(state_path, sizeof state_path, "%.*s.state.safetensors", (int)(L - strlen(suf)), model_path);
  pb_st_file st;
  if (r->tr->vt->restore(r->tr, model_path, state_path, &st, err)) return PB_ERR;
  int rc = PB_ERR;
  const char *keys[] = {"step", "epoch", "cursor", "seed", "epoch_loss_sum", "epoch_correct", "epoch_seen"};
  const char *vals[7];
  for (int i = 0; i < 7; i++) {
    vals[i] = pb_st_meta(&st, keys[i]);
    if (!vals[i]) {
      pb_err_set(err, "%s: metadata '%s' is missing: not a plumb training checkpoint", state_path, keys[i]);
      goto out;
    }
  }
  char *end;
  pb_trainer_set_step(r->tr, strtoll(vals[0], &end, 10));
  r->epoch = strtoll(vals[1], &end, 10);
  r->cursor = strtoll(vals[2], &end, 10);
  uint64_t seed = strtoull(vals[3], &end, 10);
  const pb_terms *l = &r->tr->terms;
  memset(&r->ep, 0, sizeof r->ep);
  r->ep.nterms = l->n;
  r->ep_seen = strtol(vals[6], &end, 10);
  if (l->term[0].name[0] == 0) { /* one unnamed term: its figures are the epoch's */
    r->ep.loss[0] = strtod(vals[4], &end);
    r->ep.correct[0] = strtol(vals[5], &end, 10);
    r->ep.seen[0] = r->ep_seen;
  } else {
    for (int t = 0; t < l->n; t++) {
      char k[96];
      snprintf(k, sizeof k, "epoch_head.%s", l->term[t].name);
      const char *v = pb_st_meta(&st, k);
      if (!v || sscanf(v, "%lf %ld %ld", &r->ep.loss[t], &r->ep.correct[t], &r->ep.seen[t]) != 3) {
        pb_err_set(err, "%s: metadata '%s' is missing: not a checkpoint of this multi-head model", state_path, k);
        goto out;
      }
    }
  }
  pb_trainer_set_stats(r->tr, &r->ep);
  /* The rate of the last step taken: an epoch's row written before any new step reports it. */
  pb_trainer_resume_lr(r->tr);
  if (seed != r->seed) {
    pb_err_set(err, "%s was written by a run with seed %" PRIu64 ", this config has [run] seed = %" PRIu64
                    ": resuming would not continue the same run",
               state_path, seed, r->seed);
    goto out;
  }
  if (r->cursor < 0 || r->cursor > r->batches_per_epoch || r->epoch < 0) {
    pb_err_set(err, "%s: cursor %" PRId64 " does not fit this config's %" PRId64
                    " batches per epoch ([train] batch_size or [data] changed?)",
               state_path, r->cursor, r->batches_per_epoch);
    goto out;
  }
  for (int j = 0; j < r->tr->nlearners; j++) {
    const pb_model *m = r->tr->learner[j].model;
    for (int i = 0; i < m->nlayers; i++) {
      pb_layer *ly = m->layers[i];
      uint64_t *ctr = pb_layer_rng_counter(ly);
      if (!ctr) continue;
      char k[128];
      dropout_key(r, j, ly, k, sizeof k);
      const char *v = pb_st_meta(&st, k);
      if (v) *ctr = strtoull(v, &end, 10);
    }
  }
  for (int j = 0; j < r->tr->nlearners; j++) {
    pb_learner *lr = &r->tr->learner[j];
    if (!(lr->spike_z > 0) || !lr->nwatch) continue;
    char k[96];
    spike_key(r, j, k, sizeof k);
    const char *v = pb_st_meta(&st, k);
    /* a checkpoint from before the guard was on: the statistics start over */
    if (v && (sscanf(v, "%lf %lf %ld", &lr->spike_mean, &lr->spike_var, &lr->spike_n) != 3 || lr->spike_n < 0 ||
              !isfinite(lr->spike_mean) || !(lr->spike_var >= 0) || !isfinite(lr->spike_var))) {
      pb_err_set(err, "%s: metadata '%s' = '%s' is not 'mean variance count'", state_path, k, v);
      goto out;
    }
  }
  pb_lowp *lp = r->ctx.lowp;
  const char *ls = pb_st_meta(&st, "loss_scale");
  if (lp && lp->scaling && ls) { /* a checkpoint of another precision: the scale starts over */
    double sc;
    int64_t good, skipped;
    if (sscanf(ls, "%lf %" SCNd64 " %" SCNd64, &sc, &good, &skipped) != 3 || !(sc > 0) || !isfinite(sc) || good < 0 ||
        skipped < 0) {
      pb_err_set(err, "%s: metadata 'loss_scale' = '%s' is not 'scale good-steps skipped'", state_path, ls);
      goto out;
    }
    lp->scale = (float)sc, lp->good = good, lp->skipped = skipped;
  }
  const char *sb = pb_st_meta(&st, "select.best"), *se = pb_st_meta(&st, "select.epoch");
  if (sb && se) r->select_best = strtod(sb, NULL), r->select_epoch = strtoll(se, NULL, 10);
  rc = PB_OK;
out:
  pb_st_free(&st);
  return rc;
}


int pb_run_load_models(pb_run *r, const char *model_path, pb_err *err) {
  size_t L = strlen(model_path), S = strlen(".safetensors");
  for (int j = 1; j < r->tr->nmodels; j++) {
    if (L <= S || strcmp(model_path + L - S, ".safetensors"))
      return pb_err_set(err, "--checkpoint %s: expected a checkpoint's model file, NAME.safetensors", model_path);
    char p[4400];
    snprintf(p, sizeof p, "%.*s.%s.safetensors", (int)(L - S), model_path, r->tr->learner[j].name);
    if (pb_ckpt_load_model(p, r->tr->learner[j].model, err)) return PB_ERR;
  }
  return pb_ckpt_load_model(model_path, r->tr->learner[0].model, err);
}
