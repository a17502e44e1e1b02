/* cmd_train.c: `plumb train CONFIG`: the run directory, the epoch loop, evaluation, progress
 * lines, metrics CSV, checkpoints, exact resume and clean stop on a signal (stop.h). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/checkpoint.h"
#include "engine/cli/cli.h"
#include "engine/cli/run.h"
#include "engine/cli/runfolder.h"
#include "engine/cli/stop.h"
#include "engine/log.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_duration(double s, char *buf, size_t len) {
  if (!(s >= 0) || s > 1e8) {
    snprintf(buf, len, "?");
    return;
  }
  long t = (long)(s + 0.5);
  if (t >= 3600)
    snprintf(buf, len, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else
    snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
}

static int mkdir_p(const char *path, pb_err *err) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0755) && errno != EEXIST) return pb_err_set(err, "cannot create %s: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0755) && errno != EEXIST) return pb_err_set(err, "cannot create %s: %s", buf, strerror(errno));
  return PB_OK;
}

/* Training-state metadata written into every checkpoint. */
static int make_meta(pb_run *r, int64_t epoch, int64_t cursor, char store[][64], const char **meta) {
  int n = 0;
#define META(k, ...)                                        \
  do {                                                      \
    meta[2 * n] = k;                                        \
    snprintf(store[n], 64, __VA_ARGS__);                    \
    meta[2 * n + 1] = store[n];                             \
    n++;                                                    \
  } while (0)
  META("plumb.format", "1");
  META("arch", "%s", r->model->arch);
  META("step", "%" PRId64, r->tr.opt.step);
  META("epoch", "%" PRId64, epoch);
  META("cursor", "%" PRId64, cursor);
  META("seed", "%" PRIu64, r->seed);
  META("epoch_loss_sum", "%.17g", r->ep_loss);
  META("epoch_correct", "%ld", r->ep_correct);
  META("epoch_seen", "%ld", r->ep_seen);
  for (int h = 0; h < r->nheads; h++) { /* per-head epoch progress: "loss_sum correct seen" */
    static char hkeys[PB_MAX_HEADS][64];
    snprintf(hkeys[h], sizeof hkeys[h], "epoch_head.%s", r->model->heads[h].name);
    int z = r->ep_seen == 0; /* the progress was reset for this checkpoint */
    META(hkeys[h], "%.17g %ld %ld", z ? 0.0 : r->ep_head_loss[h], z ? 0 : r->ep_head_correct[h],
         z ? 0 : r->ep_head_seen[h]);
  }
  for (int i = 0; i < r->model->nlayers && n < 60; i++) {
    pb_layer *l = r->model->layers[i];
    if (strcmp(l->vt->kind, "dropout")) continue;
    static char keys[16][96];
    int d = n % 16;
    snprintf(keys[d], sizeof keys[d], "rng.dropout.%s", l->name);
    META(keys[d], "%" PRIu64, *pb_dropout_counter(l));
  }
#undef META
  return n;
}

static int save_checkpoint(pb_run *r, int64_t epoch, int64_t cursor, char *saved_path, size_t len, pb_err *err) {
  char store[64][64];
  const char *meta[128];
  int nmeta = make_meta(r, epoch, cursor, store, meta);
  char base[4200];
  snprintf(base, sizeof base, "%s/step-%010" PRId64, r->ckdir, r->tr.opt.step);
  pb_stop_saving(1); /* a signal now waits for the checkpoint to be whole */
  int rc = pb_ckpt_save(base, r->model, &r->tr.opt, meta, nmeta, err);
  if (rc == PB_OK) {
    snprintf(saved_path, len, "%s.safetensors", base);
    pb_run_prune_checkpoints(r);
  }
  pb_stop_saving(0);
  return rc;
}

static int restore(pb_run *r, const char *model_path, pb_err *err) {
  char state_path[4200];
  size_t L = strlen(model_path);
  const char *suf = ".safetensors";
  if (L <= strlen(suf) || strcmp(model_path + L - strlen(suf), suf))
    return pb_err_set(err, "--resume %s: expected a checkpoint's model file, NAME.safetensors", model_path);
  snprintf(state_path, sizeof state_path, "%.*s.state.safetensors", (int)(L - strlen(suf)), model_path);
  if (pb_ckpt_load_model(model_path, r->model, err)) return PB_ERR;
  pb_st_file st;
  if (pb_ckpt_load_state(state_path, &r->tr.opt, r->model, &st, err)) return PB_ERR;
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
  r->tr.opt.step = strtoll(vals[0], &end, 10);
  r->epoch = strtoll(vals[1], &end, 10);
  r->cursor = strtoll(vals[2], &end, 10);
  uint64_t seed = strtoull(vals[3], &end, 10);
  r->ep_loss = strtod(vals[4], &end);
  r->ep_correct = strtol(vals[5], &end, 10);
  r->ep_seen = strtol(vals[6], &end, 10);
  pb_trainer_set_stats(&r->tr, r->ep_loss, r->ep_correct);
  /* The rate of the last step taken: an epoch's row written before any new step reports it. */
  if (r->tr.opt.step > 0)
    r->tr.lr = pb_sched_lr(&r->tr.sched, r->tr.opt.step - 1, r->tr.steps_per_epoch, r->tr.total_steps);
  for (int h = 0; h < r->nheads; h++) {
    char k[96];
    snprintf(k, sizeof k, "epoch_head.%s", r->model->heads[h].name);
    const char *v = pb_st_meta(&st, k);
    if (!v || sscanf(v, "%lf %ld %ld", &r->ep_head_loss[h], &r->ep_head_correct[h], &r->ep_head_seen[h]) != 3) {
      pb_err_set(err, "%s: metadata '%s' is missing: not a checkpoint of this multi-head model", state_path, k);
      goto out;
    }
  }
  if (r->nheads) pb_trainer_set_head_stats(&r->tr, r->ep_head_loss, r->ep_head_correct, r->ep_head_seen);
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
  for (int i = 0; i < r->model->nlayers; i++) {
    pb_layer *l = r->model->layers[i];
    if (strcmp(l->vt->kind, "dropout")) continue;
    char k[128];
    snprintf(k, sizeof k, "rng.dropout.%s", l->name);
    const char *v = pb_st_meta(&st, k);
    if (v) *pb_dropout_counter(l) = strtoull(v, &end, 10);
  }
  rc = PB_OK;
out:
  pb_st_free(&st);
  return rc;
}

/* The run's metrics.csv opened for appending (NULL, with a warning in the log, when it cannot
 * be); *fresh = 1 when it did not exist yet (the caller writes the header). */
static FILE *open_metrics(const pb_run *r, int *fresh) {
  char path[4200];
  snprintf(path, sizeof path, "%s/metrics.csv", r->dir);
  *fresh = access(path, F_OK) != 0;
  FILE *f = fopen(path, "a");
  if (!f) pb_log("warning: cannot append to %s: %s", path, strerror(errno));
  return f;
}

static void csv_row(pb_run *r, int64_t epoch, double secs, double ips, const pb_cls_counts *val,
                    const pb_cls_counts *test) {
  int fresh;
  FILE *f = open_metrics(r, &fresh);
  if (!f) return;
  if (fresh)
    fprintf(f, "epoch,step,lr,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,test_aligned_acc,"
               "test_conflicting_acc,epoch_seconds,images_per_second\n");
  fprintf(f, "%" PRId64 ",%" PRId64 ",%.6g,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.2f,%.1f\n", epoch + 1,
          r->tr.opt.step, r->tr.lr, r->ep_loss / (double)PB_MAX(r->ep_seen, 1),
          pb_ratio(r->ep_correct, r->ep_seen), val->n ? val->loss_sum / val->n : NAN, pb_ratio(val->correct, val->n),
          test->loss_sum / (double)PB_MAX(test->n, 1), pb_ratio(test->correct, test->n),
          pb_ratio(test->correct_aligned, test->n_aligned), pb_ratio(test->correct_conflicting, test->n_conflicting),
          secs, ips);
  fclose(f);
}

/* Reads the trainer's accumulators into the run's progress. Multi-head models: ep_loss is the
 * weighted sum over heads of their loss sums (per image: the training objective when every
 * label is present). */
static void sync_stats(pb_run *r) {
  pb_trainer_stats(&r->tr, &r->ep_loss, &r->ep_correct);
  if (!r->nheads) return;
  pb_trainer_head_stats(&r->tr, r->ep_head_loss, r->ep_head_correct, r->ep_head_seen);
  r->ep_loss = 0;
  for (int h = 0; h < r->nheads; h++) r->ep_loss += r->model->heads[h].weight * r->ep_head_loss[h];
}

static void reset_head_stats(pb_run *r) {
  memset(r->ep_head_loss, 0, sizeof r->ep_head_loss);
  memset(r->ep_head_correct, 0, sizeof r->ep_head_correct);
  memset(r->ep_head_seen, 0, sizeof r->ep_head_seen);
  pb_trainer_set_head_stats(&r->tr, r->ep_head_loss, r->ep_head_correct, r->ep_head_seen);
}

/* " | skin: loss 2.1034 acc 0.2100, gender: ..." (training progress of each head). */
static void heads_train_str(const pb_run *r, char *buf, size_t len) {
  buf[0] = 0;
  for (int h = 0; h < r->nheads; h++) {
    size_t L = strlen(buf);
    long n = r->ep_head_seen[h];
    snprintf(buf + L, len - L, "%s %s: loss %.4f acc %.4f", h ? "," : " |", r->model->heads[h].name,
             n ? r->ep_head_loss[h] / (double)n : NAN, pb_ratio(r->ep_head_correct[h], n));
  }
}

static void csv_row_heads(pb_run *r, int64_t epoch, double secs, double ips, const pb_heads_eval *val,
                          const pb_heads_eval *test) {
  int fresh;
  FILE *f = open_metrics(r, &fresh);
  if (!f) return;
  const pb_model *m = r->model;
  if (fresh) {
    fprintf(f, "epoch,step,lr,train_loss");
    for (int h = 0; h < m->nheads; h++) fprintf(f, ",%s_train_loss,%s_train_acc", m->heads[h].name, m->heads[h].name);
    for (int h = 0; h < m->nheads; h++) fprintf(f, ",%s_val_loss,%s_val_acc", m->heads[h].name, m->heads[h].name);
    for (int h = 0; h < m->nheads; h++)
      fprintf(f, ",%s_test_loss,%s_test_acc,%s_test_disparity", m->heads[h].name, m->heads[h].name, m->heads[h].name);
    fprintf(f, ",epoch_seconds,images_per_second\n");
  }
  fprintf(f, "%" PRId64 ",%" PRId64 ",%.6g,%.6f", epoch + 1, r->tr.opt.step, r->tr.lr,
          r->ep_loss / (double)PB_MAX(r->ep_seen, 1));
  for (int h = 0; h < m->nheads; h++)
    fprintf(f, ",%.6f,%.6f", r->ep_head_seen[h] ? r->ep_head_loss[h] / r->ep_head_seen[h] : NAN,
            pb_ratio(r->ep_head_correct[h], r->ep_head_seen[h]));
  for (int h = 0; h < m->nheads; h++) {
    const pb_class_counts *c = val->nheads ? &val->h[h] : NULL;
    fprintf(f, ",%.6f,%.6f", c && c->n ? c->loss_sum / c->n : NAN, c ? pb_ratio(c->correct, c->n) : NAN);
  }
  for (int h = 0; h < m->nheads; h++) {
    const pb_class_counts *c = &test->h[h];
    fprintf(f, ",%.6f,%.6f,%.6f", c->n ? c->loss_sum / c->n : NAN, pb_ratio(c->correct, c->n),
            pb_class_counts_disparity(c));
  }
  fprintf(f, ",%.2f,%.1f\n", secs, ips);
  fclose(f);
}

/* End of an epoch of a multi-head model: evaluation, the epoch line, checkpoint, metrics.csv,
 * and the progress reset. */
static int heads_epoch_end(pb_run *r, int64_t epoch, double train_secs, long imgs, double t_train, double t_ep,
                           int ck_every, int64_t *saved_step, char *path, size_t plen, pb_err *err) {
  pb_heads_eval val = {0}, test = {0};
  int rc = PB_ERR;
  if ((r->val.n && (rc = pb_run_evaluate_heads(r, &r->val, &val, err))) ||
      (rc = pb_run_evaluate_heads(r, &r->test, &test, err)))
    goto out;
  rc = PB_ERR;
  char tp[1200], vp[2048] = "", sp[2048];
  heads_train_str(r, tp, sizeof tp);
  if (r->val.n) pb_heads_eval_str(r, &val, "val_", vp, sizeof vp);
  pb_heads_eval_str(r, &test, "test_", sp, sizeof sp);
  double ips = (double)imgs / PB_MAX(t_train, 1e-9);
  pb_log("epoch %" PRId64 "/%d done in %.1fs (%.0f img/s): train_loss=%.4f%s;%s%s", epoch + 1, r->epochs,
         now_s() - t_ep, ips, r->ep_loss / (double)PB_MAX(r->ep_seen, 1), tp, vp, sp);
  /* The row first: a kill between the two resumes from the previous checkpoint, which cuts
   * the row off again (pb_runfolder_trim_metrics). */
  csv_row_heads(r, epoch, train_secs, ips, &val, &test);
  if (epoch + 1 == r->epochs || (ck_every > 0 && (epoch + 1) % ck_every == 0)) {
    double keep_loss = r->ep_loss;
    long keep_c = r->ep_correct, keep_s = r->ep_seen;
    r->ep_loss = 0, r->ep_correct = 0, r->ep_seen = 0; /* an epoch-end checkpoint carries no progress */
    int bad = save_checkpoint(r, epoch + 1, 0, path, plen, err);
    r->ep_loss = keep_loss, r->ep_correct = keep_c, r->ep_seen = keep_s;
    if (bad) goto out;
    *saved_step = r->tr.opt.step;
    pb_log("checkpoint: %s", path);
  }
  r->ep_loss = 0, r->ep_correct = 0, r->ep_seen = 0;
  pb_trainer_set_stats(&r->tr, 0, 0);
  reset_head_stats(r);
  rc = PB_OK;
out:
  pb_heads_eval_free(&val);
  pb_heads_eval_free(&test);
  return rc;
}

/* A stop: the checkpoint at (epoch, cursor) unless this very step was just saved. Returns
 * PB_EXIT_STOPPED, or PB_ERR when the checkpoint cannot be written. */
static int stop_now(pb_run *r, int64_t epoch, int64_t cursor, int64_t saved_step, char *path, size_t plen,
                    pb_err *err) {
  if (saved_step != r->tr.opt.step) {
    sync_stats(r);
    if (save_checkpoint(r, epoch, cursor, path, plen, err)) return PB_ERR;
  }
  pb_log("interrupted (signal %d) at step %" PRId64 ": checkpoint saved to %s; run the same command to resume",
         pb_stop_signal(), r->tr.opt.step, path);
  return PB_EXIT_STOPPED;
}

static int train_loop(pb_run *r, pb_err *err) {
  int batch = r->batch;
  int32_t *perm = pb_xmalloc((size_t)r->train.n * sizeof(int32_t));
  int log_every = (int)pb_config_int(r->cfg, "run", "log_interval");
  int ck_every = (int)pb_config_int(r->cfg, "run", "checkpoint_every");
  int64_t ck_steps = pb_config_int(r->cfg, "run", "checkpoint_every_steps");
  int64_t max_steps = pb_config_int(r->cfg, "train", "max_steps");
  int shuffle = pb_config_bool(r->cfg, "data", "shuffle");
  int accum = r->tr.accum_steps;
  double t_start = now_s();
  int64_t step0 = r->tr.opt.step, saved_step = -1;
  int64_t total = r->tr.total_steps;
  if (max_steps > 0 && max_steps < total) total = max_steps;
  int rc = PB_OK;
  char path[4300] = "";
  r->stop = pb_stop_flag();
  if (max_steps > 0 && r->tr.opt.step >= max_steps) {
    pb_log("[train] max_steps = %" PRId64 " was reached before (step %" PRId64 "): nothing to train", max_steps,
           r->tr.opt.step);
    free(perm);
    return 1000;
  }

  for (int64_t epoch = r->epoch; epoch < r->epochs; epoch++) {
    pb_data_order(perm, r->train.n, r->seed, epoch, shuffle);
    pb_run_pass(r, &r->train, 1, perm, r->train.n, batch, r->cursor, epoch);
    double t_ep = now_s(), t_train = 0, t_wait = 0;
    long imgs = 0;
    for (int64_t b = r->cursor; b < r->batches_per_epoch; b++) {
      double t0 = now_s();
      float *x;
      int32_t *y;
      const int32_t *yh;
      pb_batch *bt = pb_loader_next(r->loader);
      t_wait += now_s() - t0; /* the trainer waiting for a batch the pool had not finished */
      PB_ASSERT(bt && bt->index == b);
      if (pb_run_batch(r, &r->train, bt, &x, &y, &yh, err)) {
        rc = PB_ERR;
        goto out;
      }
      int n = bt->n;
      int last = b == r->batches_per_epoch - 1;
      int step_now = last || (b + 1) % accum == 0;
      /* A batch whose every sample was bad computes nothing, but the accumulation group it
       * ends (the epoch's last, say) still steps. */
      int stepped = r->nheads ? pb_trainer_micro_heads(&r->tr, x, y, yh, n, step_now)
                              : pb_trainer_micro(&r->tr, x, y, n, step_now);
      r->ep_seen += n;
      imgs += n;
      t_train += now_s() - t0;
      if (!stepped) continue; /* inside an accumulation group, or an empty batch */
      int64_t step = r->tr.opt.step;
      if (step % log_every == 0) {
        /* A log point: the one place a step waits for the device. */
        sync_stats(r);
        t_train = PB_MAX(t_train, now_s() - t_ep); /* the device work enqueued is done now */
        if (!isfinite(r->ep_loss)) {
          rc = pb_err_set(err, "the loss became %g by step %" PRId64 " (epoch %" PRId64
                               "): lower [optim] lr or set [train] clip_grad_norm",
                          r->ep_loss, step, epoch + 1);
          goto out;
        }
        double el = now_s() - t_start;
        char eta[32];
        fmt_duration(el / (double)PB_MAX(step - step0, 1) * (double)(total - step), eta, sizeof eta);
        char hp[1200] = "", accp[32] = "";
        if (r->nheads)
          heads_train_str(r, hp, sizeof hp);
        else
          snprintf(accp, sizeof accp, " acc %.4f", pb_ratio(r->ep_correct, r->ep_seen));
        pb_log("epoch %" PRId64 "/%d step %" PRId64 "/%" PRId64 " (total %" PRId64
               ") loss %.4f%s lr %.4g %.0f img/s eta %s%s",
               epoch + 1, r->epochs, b + 1, r->batches_per_epoch, step, r->ep_loss / (double)r->ep_seen, accp,
               r->tr.lr, (double)imgs / PB_MAX(t_train, 1e-9), eta, hp);
      }
      /* A checkpoint taken after the epoch's last batch has cursor = batches per epoch: its
       * resume evaluates the epoch and writes its row before going on. */
      if (ck_steps > 0 && step % ck_steps == 0) {
        sync_stats(r);
        if (save_checkpoint(r, epoch, b + 1, path, sizeof path, err)) {
          rc = PB_ERR;
          goto out;
        }
        saved_step = step;
      }
      if (pb_stop_signal()) {
        rc = stop_now(r, epoch, b + 1, saved_step, path, sizeof path, err);
        goto out;
      }
      if (max_steps > 0 && step >= max_steps) {
        if (saved_step != step) {
          sync_stats(r);
          if (save_checkpoint(r, epoch, b + 1, path, sizeof path, err)) {
            rc = PB_ERR;
            goto out;
          }
        }
        pb_log("reached [train] max_steps = %" PRId64 ": checkpoint saved to %s", max_steps, path);
        rc = 1000; /* finished early, not an error */
        goto out;
      }
    }
    r->cursor = 0;
    r->ep_bad = r->pass_bad; /* the evaluation passes count their own */
    sync_stats(r);
    double train_secs = now_s() - t_ep;
    t_train = PB_MAX(t_train, train_secs);
    if (!isfinite(r->ep_loss)) {
      rc = pb_err_set(err, "the loss became %g in epoch %" PRId64 ": lower [optim] lr or set [train] clip_grad_norm",
                      r->ep_loss, epoch + 1);
      goto out;
    }
    if (r->ep_seen == 0) {
      rc = pb_err_set(err, "no training image of epoch %" PRId64 " could be read (see the skipped images above)",
                      epoch + 1);
      goto out;
    }
    if (r->nheads) {
      int erc = heads_epoch_end(r, epoch, train_secs, imgs, t_train, t_ep, ck_every, &saved_step, path, sizeof path, err);
      if (erc == PB_STOPPED) { /* a signal during evaluation: evaluate again on resume */
        rc = stop_now(r, epoch, r->batches_per_epoch, saved_step, path, sizeof path, err);
        goto out;
      }
      if (erc) {
        rc = PB_ERR;
        goto out;
      }
      if (pb_stop_signal() && epoch + 1 < r->epochs) {
        rc = stop_now(r, epoch + 1, 0, saved_step, path, sizeof path, err);
        goto out;
      }
      continue;
    }
    pb_cls_counts val = {0}, test = {0};
    int erc = r->val.n ? pb_run_evaluate(r, &r->val, &val, err) : PB_OK;
    if (!erc) erc = pb_run_evaluate(r, &r->test, &test, err);
    if (erc == PB_STOPPED) {
      rc = stop_now(r, epoch, r->batches_per_epoch, saved_step, path, sizeof path, err);
      goto out;
    }
    if (erc) {
      rc = PB_ERR;
      goto out;
    }
    char valpart[128] = "";
    if (r->val.n)
      snprintf(valpart, sizeof valpart, " val_loss=%.4f val_acc=%.4f", val.loss_sum / val.n, pb_ratio(val.correct, val.n));
    char biaspart[200] = "";
    if (test.n_aligned + test.n_conflicting > 0)
      snprintf(biaspart, sizeof biaspart, " test_aligned_acc=%.4f test_conflicting_acc=%.4f (aligned %ld, conflicting %ld)",
               pb_ratio(test.correct_aligned, test.n_aligned), pb_ratio(test.correct_conflicting, test.n_conflicting),
               test.n_aligned, test.n_conflicting);
    double ips = (double)imgs / PB_MAX(t_train, 1e-9);
    char badpart[64] = "";
    if (r->ep_bad) snprintf(badpart, sizeof badpart, " bad_images_skipped=%ld", r->ep_bad);
    pb_log("epoch %" PRId64 "/%d done in %.1fs (%.0f img/s): train_loss=%.4f train_acc=%.4f%s test_loss=%.4f test_acc=%.4f%s%s"
           " loader_wait=%.2fs",
           epoch + 1, r->epochs, now_s() - t_ep, ips, r->ep_loss / (double)PB_MAX(r->ep_seen, 1),
           pb_ratio(r->ep_correct, r->ep_seen), valpart, test.loss_sum / (double)PB_MAX(test.n, 1),
           pb_ratio(test.correct, test.n), biaspart, badpart, t_wait);
    /* The row first: a kill between the two resumes from the previous checkpoint, which cuts
     * the row off again (pb_runfolder_trim_metrics). */
    csv_row(r, epoch, train_secs, ips, &val, &test);
    int final = epoch + 1 == r->epochs;
    if (final || (ck_every > 0 && (epoch + 1) % ck_every == 0)) {
      double keep_loss = r->ep_loss;
      long keep_c = r->ep_correct, keep_s = r->ep_seen;
      r->ep_loss = 0, r->ep_correct = 0, r->ep_seen = 0;
      if (save_checkpoint(r, epoch + 1, 0, path, sizeof path, err)) {
        rc = PB_ERR;
        goto out;
      }
      r->ep_loss = keep_loss, r->ep_correct = keep_c, r->ep_seen = keep_s;
      saved_step = r->tr.opt.step;
      pb_log("checkpoint: %s", path);
    }
    r->ep_loss = 0, r->ep_correct = 0, r->ep_seen = 0;
    pb_trainer_set_stats(&r->tr, 0, 0);
    if (pb_stop_signal() && !final) {
      rc = stop_now(r, epoch + 1, 0, saved_step, path, sizeof path, err);
      goto out;
    }
  }
out:
  /* Abandon the pass (a signal, max_steps, an error): the workers stop between samples. */
  if (r->ctx.cuda) pb_cuda_copy_wait(r->ctx.cuda);
  r->held = NULL;
  pb_loader_stop(r->loader);
  free(perm);
  return rc;
}

int pb_cmd_train(int argc, char **argv) {
  pb_cli_opts o;
  if (pb_cli_parse(argc, argv, 2, "resume", &o)) return 2;
  if (!o.config) {
    fprintf(stderr, "usage: plumb train CONFIG [--set section.key=value]... [--resume CHECKPOINT]\n");
    return 2;
  }
  /* From here a stop signal only asks for a stop: one during start-up ends the run at its
   * first step boundary, with a checkpoint. */
  pb_stop_install();
  pb_config *cfg = pb_cli_config(&o);
  if (!cfg) return 2;
  pb_err err = {{0}};
  pb_run r;
  int rc = 1;
  if (pb_run_init(&r, cfg, &err)) goto fail_cfg;
  snprintf(r.dir, sizeof r.dir, "%s/%s", pb_config_str(cfg, "run", "out_dir"), pb_config_str(cfg, "run", "name"));
  snprintf(r.ckdir, sizeof r.ckdir, "%s/checkpoints", r.dir);
  if (mkdir_p(r.ckdir, &err)) goto fail;
  /* Held until the process ends: no second plumb cleans or writes this folder meanwhile. */
  if (pb_runfolder_lock(r.dir, &err) < 0) goto fail;
  char latest[4300] = "";
  int have = pb_run_latest_checkpoint(&r, latest, sizeof latest);
  const char *resume_from = o.resume ? o.resume : NULL;
  if (!resume_from && have) {
    if (!pb_config_bool(cfg, "run", "resume")) {
      pb_err_set(&err, "%s already holds checkpoints (latest %s) and [run] resume = false: choose another [run] name "
                       "or remove the folder; nothing was changed",
                 r.dir, latest);
      goto fail;
    }
    resume_from = latest;
  }
  char logp[4200];
  snprintf(logp, sizeof logp, "%s/log.txt", r.dir);
  if (pb_log_open(logp, &err)) goto fail;
  pb_runfolder_clean(r.dir, r.ckdir); /* what a killed run left half-written */
  char cfgp[4300];
  if (resume_from)
    snprintf(cfgp, sizeof cfgp, "%s/config.resumed.ini", r.dir);
  else
    snprintf(cfgp, sizeof cfgp, "%s/config.ini", r.dir);
  if (pb_config_write(cfg, cfgp, &err)) goto fail;
  pb_log("plumb %s: run %s (%s)", PLUMB_VERSION, r.dir, r.ctx.why);
  pb_log("data: train %d, val %d, test %d images of %dx%dx%d; model %s with %zu parameters; %" PRId64
         " steps per epoch",
         r.train.n, r.val.n, r.test.n, r.train.c, r.train.h, r.train.w, r.model->arch, pb_run_count_params(&r),
         r.tr.steps_per_epoch);
  if (resume_from) {
    if (restore(&r, resume_from, &err)) goto fail;
    pb_log("resumed from %s: epoch %" PRId64 ", batch %" PRId64 ", step %" PRId64, resume_from, r.epoch + 1,
           r.cursor, r.tr.opt.step);
    if (pb_runfolder_trim_metrics(r.dir, r.epoch, &err)) goto fail;
  }
  if (r.epoch >= r.epochs && r.nheads) {
    pb_heads_eval he = {0};
    if (pb_run_evaluate_heads(&r, &r.test, &he, &err)) {
      pb_heads_eval_free(&he);
      goto fail;
    }
    char sp[2048];
    pb_heads_eval_str(&r, &he, "test_", sp, sizeof sp);
    pb_heads_eval_free(&he);
    pb_log("run %s is already complete (%d epochs, step %" PRId64 "); raise [train] epochs to train on. "
           "Its final model:%s",
           r.dir, r.epochs, r.tr.opt.step, sp);
    pb_run_free(&r);
    pb_log_close();
    pb_config_free(cfg);
    return 0;
  }
  if (r.epoch >= r.epochs) {
    pb_cls_counts test;
    if (pb_run_evaluate(&r, &r.test, &test, &err)) goto fail;
    pb_log("run %s is already complete (%d epochs, step %" PRId64 "); raise [train] epochs to train on. "
           "Its final model: test_loss=%.4f test_acc=%.4f",
           r.dir, r.epochs, r.tr.opt.step, test.loss_sum / (double)PB_MAX(test.n, 1), pb_ratio(test.correct, test.n));
    pb_run_free(&r);
    pb_log_close();
    pb_config_free(cfg);
    return 0;
  }
  rc = train_loop(&r, &err);
  if (rc == PB_ERR) goto fail;
  if (rc == 1000 || rc == PB_OK) {
    if (rc == PB_OK) pb_log("done: %d epochs, %" PRId64 " steps; run folder %s", r.epochs, r.tr.opt.step, r.dir);
    rc = 0;
  }
  pb_run_free(&r);
  pb_log_close();
  pb_config_free(cfg);
  return rc;
fail:
  pb_log_err("plumb train: error: %s", err.msg);
  pb_run_free(&r);
  pb_log_close();
  pb_config_free(cfg);
  return 1;
fail_cfg:
  fprintf(stderr, "plumb train: error: %s\n", err.msg);
  pb_config_free(cfg);
  return rc;
}
