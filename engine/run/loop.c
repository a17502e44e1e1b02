/* loop.c: the training run (loop.h): the session in its run folder, the epoch loop,
 * checkpoints with the training state, exact resume and the stop on a signal. */
#include "engine/run/loop.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/device/lowp.h"
#include "engine/dist/dist.h"
#include "engine/run/log.h"
#include "engine/run/evaluate.h"
#include "engine/run/folder.h"
#include "engine/run/report.h"
#include "engine/run/run.h"
#include "engine/run/state.h"
#include "engine/run/stop.h"
#include "engine/run/tensorboard.h"
#include "engine/run/verify.h"

/* The training session: the run and where it writes. */
typedef struct train_session {
  pb_run r;
  pb_runfolder f;
  pb_report rep;
  int64_t saved_step; /* the step of the checkpoint written last (-1: none in this process) */
  char path[4300];    /* its model file */
  /* [run] on_nonfinite: the figures after the last good step (a skipped one's are undone) and the
   * skipped steps seen so far */
  pb_train_stats good_ep;
  long good_seen, skips;
  int sig; /* the stop signal the ranks agreed on (stop_agreed) */
} train_session;

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

/* The checkpoint at (epoch, cursor); progress 0 for an epoch-end one. Data-parallel: every rank
 * calls it; rank 0 writes it, with the figures of all ranks (a resume gives them to rank 0), and
 * the others wait until it is whole (a rank stopping after it cannot cut it short). */
static int save_checkpoint(train_session *S, int64_t epoch, int64_t cursor, int progress, pb_err *err) {
  pb_run *r = &S->r;
  const pb_dist *w = pb_dist_world();
  pb_train_stats own = r->ep;
  long own_seen = r->ep_seen;
  if (w->size > 1 && pb_run_dist_stats(r, &r->ep, &r->ep_seen, err)) return PB_ERR;
  int rc = w->rank == 0 ? pb_run_save_state(r, &S->f, epoch, cursor, progress, S->path, sizeof S->path, err) : PB_OK;
  r->ep = own, r->ep_seen = own_seen;
  if (w->size > 1) {
    int64_t bad = rc != PB_OK; /* rank 0's failure stops every rank, each with a message */
    if (pb_dist_max_i64(&bad, 1, "the checkpoint", err)) return PB_ERR;
    if (bad && rc == PB_OK) return pb_err_set(err, "rank 0 could not write the checkpoint (its message above)");
  }
  if (rc) return PB_ERR;
  S->saved_step = pb_trainer_step(r->tr);
  return PB_OK;
}

/* The stop signal, agreed: a signal any rank got stops every rank at the same step. */
static int stop_agreed(train_session *S) {
  int64_t sig = pb_stop_signal();
  const pb_dist *w = pb_dist_world();
  if (w->size > 1) {
    pb_err e = {{0}};
    if (pb_dist_max_i64(&sig, 1, "the stop check", &e)) {
      pb_log_err("plumb train: error: %s", e.msg);
      pb_dist_abort(1);
    }
  }
  return S->sig = (int)sig;
}

/* ------------------------------------------------------------------ the loop */

/* Reads the trainer's accumulators into the run's progress. */
static void sync_stats(pb_run *r) { pb_trainer_stats(r->tr, &r->ep); }

static void reset_stats(pb_run *r) {
  memset(&r->ep, 0, sizeof r->ep);
  r->ep.nterms = r->nterms;
  r->ep_seen = 0;
  pb_trainer_set_stats(r->tr, &r->ep);
}

/* A stop: the checkpoint at (epoch, cursor) unless this very step was just saved. Returns
 * PB_EXIT_STOPPED, or PB_ERR when the checkpoint cannot be written. */
static int stop_now(train_session *S, int64_t epoch, int64_t cursor, pb_err *err) {
  pb_run *r = &S->r;
  if (S->saved_step != pb_trainer_step(r->tr)) {
    sync_stats(r);
    if (save_checkpoint(S, epoch, cursor, 1, err)) return PB_ERR;
  }
  pb_log("interrupted (signal %d) at step %" PRId64 ": checkpoint saved to %s; run the same command to resume",
         S->sig ? S->sig : pb_stop_signal(), pb_trainer_step(r->tr), S->path);
  return PB_EXIT_STOPPED;
}

/* [run] on_nonfinite, after a step: 0 when it was taken (the figures so far become the last
 * good ones); 1 when the guard skipped it (the figures go back to the last good step's, the
 * skip is logged); -1 under stop, with the last good state saved and err naming the tensor. */
static int guard_after_step(train_session *S, int64_t epoch, int64_t cursor, pb_err *err) {
  pb_run *r = &S->r;
  long skips = 0;
  for (int i = 0; i < r->tr->nlearners; i++) skips += r->tr->learner[i].nonfinite + r->tr->learner[i].spikes;
  if (skips == S->skips) {
    sync_stats(r); /* cheap: the guard waited for the device already */
    S->good_ep = r->ep, S->good_seen = r->ep_seen;
    return 0;
  }
  S->skips = skips;
  r->ep = S->good_ep, r->ep_seen = S->good_seen;
  pb_trainer_set_stats(r->tr, &r->ep);
  const pb_learner *stop = pb_trainer_nonfinite_stop(r->tr);
  if (!stop) {
    for (int i = 0; i < r->tr->nlearners; i++) {
      pb_learner *l = &r->tr->learner[i];
      if (l->nonfinite_msg[0])
        pb_log("warning: %s: the step was skipped ([run] on_nonfinite = skip; %ld skipped so far)", l->nonfinite_msg,
               skips);
      if (l->spike_msg[0]) pb_log("warning: %s: the step was skipped (%ld skipped so far)", l->spike_msg, skips);
      l->nonfinite_msg[0] = l->spike_msg[0] = 0;
    }
    return 1;
  }
  int64_t step = pb_trainer_step(r->tr);
  if (S->saved_step != step && save_checkpoint(S, epoch, cursor, 1, err)) return -1;
  if (stop->spike_stop)
    pb_err_set(err, "%s: %ld loss spikes in a row: the loss has left its running range for good; the step was "
                    "not taken; the state of the last good step (%" PRId64 ") is in %s (raise [run] loss_spike_z or "
                    "loss_spike_max_skips, or lower [optim] lr)",
               stop->spike_msg, stop->spike_run, step, S->path);
  else
    pb_err_set(err, "%s: the step was not taken; the state of the last good step (%" PRId64 ") is in %s "
                    "([run] on_nonfinite = stop; skip goes on without such steps)",
               stop->nonfinite_msg, step, S->path);
  return -1;
}

/* [run] select: after the epoch's row, a better value of the column than any before writes the
 * epoch's models as best.safetensors (+ companions). */
static int select_best(train_session *S, const pb_epoch_figures *f, int64_t epoch, pb_err *err) {
  pb_run *r = &S->r;
  const char *col = pb_config_str(r->cfg, "run", "select");
  double v;
  if (!col[0] || !pb_report_value(&r->tr->terms, f, col, &v) || !isfinite(v)) return PB_OK;
  if (epoch < r->tr->pre_epochs) return PB_OK; /* g's pretraining: f is not trained yet (released: no candidate) */
  size_t L = strlen(col);
  int lower = (L > 5 && !strcmp(col + L - 5, "_loss")) || (L > 4 && !strcmp(col + L - 4, "_eer"));
  if (r->select_epoch > 0 && (lower ? v >= r->select_best : v <= r->select_best)) return PB_OK;
  char base[4300];
  snprintf(base, sizeof base, "%s/best", S->f.ckdir);
  pb_stop_saving(1);
  int rc = r->tr->vt->save(r->tr, base, NULL, 0, err);
  pb_stop_saving(0);
  if (rc) return PB_ERR;
  pb_log("best so far by [run] select = %s: epoch %" PRId64 " (%s = %.4f): %s.safetensors", col, epoch + 1, col, v, base);
  r->select_best = v, r->select_epoch = epoch + 1;
  return PB_OK;
}

/* A statistic the trainer needs before the epoch (the ReBias median sigma): the first batches
 * of the epoch's order, training augmentation, fed to the trainer. Only at an epoch's start:
 * a resume in the middle of one goes on with what the checkpoint holds. */
static int observe(train_session *S, int64_t epoch, const int32_t *perm, int64_t nperm, pb_err *err) {
  pb_run *r = &S->r;
  pb_trainer *t = r->tr;
  if (!t->vt->observe_batches || r->cursor != 0) return PB_OK;
  int64_t k = t->vt->observe_batches(t, epoch, r->batches_per_epoch);
  if (!k) return PB_OK;
  int n = (int)PB_MIN(nperm, k * r->batch);
  pb_run_pass(r, &r->train, 1, perm, n, r->batch, 0, epoch);
  for (pb_batch *b; (b = pb_loader_next(r->loader));) {
    float *x;
    int32_t *y;
    const int32_t *yh;
    if (pb_run_batch(r, &r->train, b, &x, &y, &yh, err)) {
      pb_run_pass_stop(r);
      return PB_ERR;
    }
    if (b->n) t->vt->observe(t, x, b->n);
  }
  char msg[256] = "";
  if (t->vt->observe_end(t, msg, sizeof msg, err)) return PB_ERR;
  pb_log("epoch %" PRId64 ": %s (%" PRId64 " batches)", epoch + 1, msg, k);
  return PB_OK;
}

/* Result of an epoch: go on, or the loop's end. */
#define EPOCH_NEXT 0
#define LOOP_MAX_STEPS 1000

static int epoch_after_report(train_session *S, int64_t epoch, pb_err *err);

/* After the epoch's last batch: evaluation, the reports, the epoch-end checkpoint, the reset. */
static int epoch_end(train_session *S, int64_t epoch, double t_ep, double t_train, double t_wait, long imgs,
                     pb_err *err) {
  pb_run *r = &S->r;
  r->cursor = 0;
  r->ep_bad = r->pass_bad; /* the evaluation passes count their own */
  sync_stats(r);
  double train_secs = now_s() - t_ep;
  t_train = PB_MAX(t_train, train_secs);
  const pb_dist *w = pb_dist_world();
  pb_train_stats gep; /* all ranks' figures (this rank's alone with one) */
  long gseen;
  if (pb_run_dist_stats(r, &gep, &gseen, err)) return PB_ERR;
  double loss = pb_report_train_loss(&r->tr->terms, &gep, gseen);
  if (!isfinite(loss))
    return pb_err_set(err, "the loss became %g in epoch %" PRId64 ": lower [optim] lr or set [train] clip_grad_norm",
                      loss, epoch + 1);
  if (gseen == 0)
    return pb_err_set(err, "no training image of epoch %" PRId64 " could be read (see the skipped images above)",
                      epoch + 1);
  /* data-parallel: every rank evaluates its share of each set (rank 0's model), rank 0 gathers
   * the figures and reports; the checkpoint and the stop are everyone's */
  if (pb_run_dist_sync_buffers(r, err)) return PB_ERR;
  pb_eval val = {0}, tests[PB_RUN_MAX_TESTS] = {{0}};
  int erc = r->val.n ? pb_run_evaluate(r, &r->val, &val, err) : PB_OK;
  for (int k = 0; k < r->ntests && !erc; k++) erc = pb_run_evaluate(r, &r->tests[k], &tests[k], err);
  if (erc || w->rank > 0) {
    pb_eval_free(&val);
    for (int k = 0; k < r->ntests; k++) pb_eval_free(&tests[k]);
    if (!erc) return epoch_after_report(S, epoch, err);
    /* a signal during evaluation: the checkpoint evaluates again on resume */
    return erc == PB_STOPPED ? stop_now(S, epoch, r->batches_per_epoch, err) : PB_ERR;
  }
  double ips = (double)imgs * w->size / PB_MAX(t_train, 1e-9); /* every rank's images */
  pb_epoch_figures f = {.epoch = epoch,
                        .epochs = r->epochs,
                        .step = pb_trainer_step(r->tr),
                        .lr = pb_trainer_lr(r->tr),
                        .train = &gep,
                        .train_images = gseen,
                        .val = r->val.n ? &val : NULL,
                        .ntests = r->ntests,
                        .train_seconds = train_secs,
                        .wall_seconds = now_s() - t_ep,
                        .images_per_second = ips,
                        .loader_wait = t_wait,
                        .bad_images = r->ep_bad};
  for (int k = 0; k < r->ntests; k++) f.tests[k] = &tests[k], f.test_names[k] = r->tests[k].name;
  /* The row first: a kill between the two resumes from the previous checkpoint, which cuts
   * the row off again (pb_runfolder_trim_metrics). */
  pb_report_epoch(&S->rep, &f);
  int sel = select_best(S, &f, epoch, err);
  pb_eval_free(&val);
  for (int k = 0; k < r->ntests; k++) pb_eval_free(&tests[k]);
  if (sel) return PB_ERR;
  return epoch_after_report(S, epoch, err);
}

/* The epoch-end checkpoint, the reset and the stop check (every rank). */
static int epoch_after_report(train_session *S, int64_t epoch, pb_err *err) {
  pb_run *r = &S->r;
  int final = epoch + 1 == r->epochs;
  int ck_every = (int)pb_config_int(r->cfg, "run", "checkpoint_every");
  if (final || (ck_every > 0 && (epoch + 1) % ck_every == 0)) {
    if (save_checkpoint(S, epoch + 1, 0, 0, err)) return PB_ERR;
    pb_log("checkpoint: %s", S->path);
  }
  reset_stats(r);
  if (stop_agreed(S) && !final) return stop_now(S, epoch + 1, 0, err);
  return EPOCH_NEXT;
}

static int train_loop(train_session *S, pb_err *err) {
  pb_run *r = &S->r;
  int32_t *perm = pb_xmalloc((size_t)PB_MAX(r->epoch_samples, 1) * sizeof(int32_t));
  int32_t *shard = pb_xmalloc((size_t)PB_MAX(r->epoch_samples, 1) * sizeof(int32_t)); /* this rank's part */
  const pb_dist *w = pb_dist_world();
  int log_every = (int)pb_config_int(r->cfg, "run", "log_interval");
  int guarded = 0; /* [run] on_nonfinite / loss_spike_z: a look after every step */
  for (int i = 0; i < r->tr->nlearners; i++) guarded |= pb_learner_guarded(&r->tr->learner[i]);
  int64_t ck_steps = pb_config_int(r->cfg, "run", "checkpoint_every_steps");
  int64_t max_steps = pb_config_int(r->cfg, "train", "max_steps");
  int accum = r->tr->learner[0].accum_steps;
  double t_start = now_s();
  int64_t step0 = pb_trainer_step(r->tr);
  int64_t total = pb_trainer_total_steps(r->tr);
  if (max_steps > 0 && max_steps < total) total = max_steps;
  int rc = PB_OK;
  r->stop = w->size > 1 ? NULL : pb_stop_flag(); /* ranks stop together, at a step (stop_agreed) */
  r->shard_eval = w->size > 1;
  if (max_steps > 0 && step0 >= max_steps) {
    pb_log("[train] max_steps = %" PRId64 " was reached before (step %" PRId64 "): nothing to train", max_steps, step0);
    free(perm);
    free(shard);
    return LOOP_MAX_STEPS;
  }
  for (int64_t epoch = r->epoch; epoch < r->epochs && rc == PB_OK; epoch++) {
    pb_run_epoch_order(r, perm, epoch);
    int64_t nshard = pb_run_shard(r, perm, shard);
    if (observe(S, epoch, shard, nshard, err)) {
      rc = PB_ERR;
      goto out;
    }
    pb_run_pass(r, &r->train, 1, shard, (int)nshard, r->batch, r->cursor, epoch);
    S->good_ep = r->ep, S->good_seen = r->ep_seen;
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
      int step_now = b == r->batches_per_epoch - 1 || (b + 1) % accum == 0;
      /* A batch whose every sample was bad computes nothing, but the accumulation group it
       * ends (the epoch's last, say) still steps. */
      int stepped = pb_trainer_micro(r->tr, x, y, yh, n, step_now);
      r->ep_seen += n;
      imgs += n;
      t_train += now_s() - t0;
      if (!stepped) continue; /* inside an accumulation group, or an empty batch */
      if (pb_lowp_update(&r->ctx)) { /* fp16: an overflow skipped the step (lowp.h), on every rank alike */
        const pb_lowp *lp = r->ctx.lowp;
        if (pb_dist_world()->rank == 0)
          pb_log("fp16: a non-finite gradient after step %" PRId64 ": the step was skipped; loss scale now %g (%" PRId64
                 " skipped so far)",
                 pb_trainer_step(r->tr), (double)lp->scale, lp->skipped);
        continue;
      }
      if (guarded) {
        int g = guard_after_step(S, epoch, b + 1, err);
        if (g < 0) {
          rc = PB_ERR;
          goto out;
        }
        if (g) continue; /* the step was skipped */
      }
      int64_t step = pb_trainer_step(r->tr);
      if (step % log_every == 0) {
        /* A log point: the one place a step waits for the device. */
        sync_stats(r);
        t_train = PB_MAX(t_train, now_s() - t_ep); /* the device work enqueued is done now */
        pb_train_stats gep;
        long gseen;
        if (pb_run_dist_stats(r, &gep, &gseen, err)) {
          rc = PB_ERR;
          goto out;
        }
        double loss = pb_report_train_loss(&r->tr->terms, &gep, gseen);
        if (!isfinite(loss)) {
          rc = pb_err_set(err, "the loss became %g by step %" PRId64 " (epoch %" PRId64
                               "): lower [optim] lr or set [train] clip_grad_norm",
                          loss, step, epoch + 1);
          goto out;
        }
        char eta[32];
        fmt_duration((now_s() - t_start) / (double)PB_MAX(step - step0, 1) * (double)(total - step), eta, sizeof eta);
        if (w->rank == 0)
          pb_report_progress(&S->rep, epoch, r->epochs, b + 1, r->batches_per_epoch, step, &gep, gseen,
                             pb_trainer_lr(r->tr), (double)imgs * w->size / PB_MAX(t_train, 1e-9), eta);
      }
      /* A checkpoint taken after the epoch's last batch has cursor = batches per epoch: its
       * resume evaluates the epoch and writes its row before going on. */
      if (ck_steps > 0 && step % ck_steps == 0) {
        sync_stats(r);
        if (save_checkpoint(S, epoch, b + 1, 1, err)) {
          rc = PB_ERR;
          goto out;
        }
      }
      if (stop_agreed(S)) {
        rc = stop_now(S, epoch, b + 1, err);
        goto out;
      }
      if (max_steps > 0 && step >= max_steps) {
        if (S->saved_step != step) {
          sync_stats(r);
          if (save_checkpoint(S, epoch, b + 1, 1, err)) {
            rc = PB_ERR;
            goto out;
          }
        }
        pb_log("reached [train] max_steps = %" PRId64 ": checkpoint saved to %s", max_steps, S->path);
        rc = LOOP_MAX_STEPS; /* finished early, not an error */
        goto out;
      }
    }
    rc = epoch_end(S, epoch, t_ep, t_train, t_wait, imgs, err);
  }
out:
  pb_run_pass_stop(r);
  free(perm);
  free(shard);
  return rc;
}

/* ------------------------------------------------------------------ the session */

/* A run already trained to its last epoch: its final model's test figures, nothing written. */
static int already_complete(train_session *S, pb_err *err) {
  pb_run *r = &S->r;
  char sp[4096] = "";
  for (int k = 0; k < r->ntests; k++) {
    pb_eval test;
    char pre[32], part[2048];
    if (pb_run_evaluate(r, &r->tests[k], &test, err)) {
      pb_eval_free(&test);
      return PB_ERR;
    }
    snprintf(pre, sizeof pre, "%s_", r->tests[k].name);
    pb_report_eval_str(&r->tr->terms, &test, pre, 0, part, sizeof part);
    pb_eval_free(&test);
    snprintf(sp + strlen(sp), sizeof sp - strlen(sp), "%s", part);
  }
  pb_log("run %s is already complete (%d epochs, step %" PRId64 "); raise [train] epochs to train on. "
         "Its final model:%s",
         S->f.dir, r->epochs, pb_trainer_step(r->tr), sp);
  return PB_OK;
}

/* The folder, the log, the resolved config, the resume; then the loop. */
/* Data-parallel ranks other than 0: the checkpoint rank 0 resumes from (bcast), nothing written;
 * then the same loop. */
static int session_rank(train_session *S, pb_config *cfg, pb_err *err) {
  pb_run *r = &S->r;
  char from[4300];
  if (pb_dist_bcast(from, sizeof from, 0, "the run folder's checkpoint", err)) return PB_ERR;
  snprintf(S->f.dir, sizeof S->f.dir, "%s/%s", pb_config_str(cfg, "run", "out_dir"), pb_config_str(cfg, "run", "name"));
  if (from[0]) {
    if (pb_run_restore_state(r, from, err)) return PB_ERR;
    /* rank 0 holds the figures of every rank so far */
    memset(&r->ep, 0, sizeof r->ep);
    r->ep.nterms = r->nterms;
    r->ep_seen = 0;
    pb_trainer_set_stats(r->tr, &r->ep);
  }
  if (r->epoch >= r->epochs) return PB_OK;
  int rc = train_loop(S, err);
  return rc == LOOP_MAX_STEPS ? PB_OK : rc;
}

static int session(train_session *S, pb_config *cfg, const char *resume, pb_err *err) {
  pb_run *r = &S->r;
  const pb_dist *w = pb_dist_world();
  if (w->rank > 0) return session_rank(S, cfg, err);
  if (pb_runfolder_make(&S->f, pb_config_str(cfg, "run", "out_dir"), pb_config_str(cfg, "run", "name"), err))
    return PB_ERR;
  /* Held until the process ends: no second plumb cleans or writes this folder meanwhile. */
  if (pb_runfolder_lock(S->f.dir, err) < 0) return PB_ERR;
  char latest[4300] = "";
  int have = pb_runfolder_latest(&S->f, latest, sizeof latest);
  const char *resume_from = resume;
  if (!resume_from && have) {
    if (!pb_config_bool(cfg, "run", "resume"))
      return pb_err_set(err, "%s already holds checkpoints (latest %s) and [run] resume = false: choose another [run] "
                             "name or remove the folder; nothing was changed",
                        S->f.dir, latest);
    resume_from = latest;
  }
  char p[4300];
  snprintf(p, sizeof p, "%s/log.txt", S->f.dir);
  if (pb_log_open(p, err)) return PB_ERR;
  pb_runfolder_clean(S->f.dir, S->f.ckdir); /* what a killed run left half-written */
  snprintf(p, sizeof p, "%s/%s", S->f.dir, resume_from ? "config.resumed.ini" : "config.ini");
  if (pb_config_write(cfg, p, err)) return PB_ERR;
  pb_log("plumb %s: run %s (%s)", PLUMB_VERSION, S->f.dir, r->ctx.why);
  pb_log("data: train %d, val %d, test %d images of %dx%dx%d; model %s with %zu parameters; %" PRId64
         " steps per epoch",
         r->train.n, r->val.n, r->tests[0].n, r->train.c, r->train.h, r->train.w, r->model->arch, pb_run_count_params(r),
         r->tr->learner[0].steps_per_epoch);
  pb_run_dist_describe(r);
  char smp[512];
  pb_run_sampler_str(r, smp, sizeof smp);
  if (smp[0]) pb_log("%s", smp);
  if (r->tr->terms.emb_dim) pb_run_log_overlap(r); /* verification on identities seen in training */
  if (w->size > 1) { /* the other ranks resume from the same checkpoint */
    char from[4300] = "";
    if (resume_from) snprintf(from, sizeof from, "%s", resume_from);
    if (pb_dist_bcast(from, sizeof from, 0, "the run folder's checkpoint", err)) return PB_ERR;
  }
  if (resume_from) {
    if (pb_run_restore_state(r, resume_from, err)) return PB_ERR;
    pb_log("resumed from %s: epoch %" PRId64 ", batch %" PRId64 ", step %" PRId64, resume_from, r->epoch + 1,
           r->cursor, pb_trainer_step(r->tr));
    if (pb_runfolder_trim_metrics(S->f.dir, r->epoch, err)) return PB_ERR;
  }
  if (r->epoch >= r->epochs) return already_complete(S, err);
  pb_report_init(&S->rep, &r->tr->terms, S->f.dir);
  if (pb_config_bool(cfg, "log", "tensorboard")) { /* a new events file per session (resume) */
    pb_report_writer *tb = pb_report_tensorboard(S->f.dir, err);
    if (!tb) {
      pb_report_free(&S->rep);
      return PB_ERR;
    }
    pb_report_add(&S->rep, tb);
  }
  double t_loop = now_s();
  int rc = train_loop(S, err);
  t_loop = now_s() - t_loop;
  if ((w->size > 1 || w->forced) && w->grad_calls) /* the price of the ranks: rank 0's time in the gradient exchange */
    pb_log("data-parallel: %ld gradient all-reduces of %.2f MB, %.3f ms each on rank 0%s: %.1f%% of the %.1f s training "
           "loop",
           w->grad_calls, (double)w->grad_values * 4e-6, 1e3 * w->grad_seconds / (double)w->grad_calls,
           r->ctx.dev.kind == PB_DEV_CUDA ? " (enqueueing; NCCL runs on the stream)" : "",
           100.0 * w->grad_seconds / PB_MAX(t_loop, 1e-9), t_loop);
  pb_report_free(&S->rep);
  if (rc == PB_OK) pb_log("done: %d epochs, %" PRId64 " steps; run folder %s", r->epochs, pb_trainer_step(r->tr), S->f.dir);
  return rc == LOOP_MAX_STEPS ? PB_OK : rc;
}

/* [run] select must name a column of this run's metrics.csv. */
static int check_select(const pb_run *r, pb_err *err) {
  const char *col = pb_config_str(r->cfg, "run", "select");
  if (!col[0]) return PB_OK;
  pb_eval empty[1 + PB_RUN_MAX_TESTS];
  memset(empty, 0, sizeof empty);
  pb_train_stats st;
  memset(&st, 0, sizeof st);
  pb_epoch_figures f = {.train = &st, .val = r->val.n ? &empty[0] : NULL, .ntests = r->ntests};
  for (int k = 0; k < r->ntests; k++) f.tests[k] = &empty[1 + k], f.test_names[k] = r->tests[k].name;
  /* the columns the data and the trainer give: the cell-averaged accuracy (groupings), the group
   * figures (a group / attribute), calibration (per-image confidences: one model, no test-time
   * views, a single-label classifier) */
  static int32_t some_group;
  static float some_conf;
  const pb_dataset *ds[1 + PB_RUN_MAX_TESTS] = {&r->val};
  for (int k = 0; k < r->ntests; k++) ds[1 + k] = &r->tests[k];
  for (int k = 0; k < 1 + r->ntests; k++) {
    empty[k].ngroupings = ds[k]->ngroupings;
    empty[k].groups = ds[k]->groups ? &some_group : NULL;
    empty[k].conf = r->nmodels == 1 && (r->views == 1 || r->tr->terms.n == 1) && !r->multilabel &&
                            !r->tr->terms.emb_dim
                        ? &some_conf
                        : NULL;
  }
  double v;
  if (pb_report_value(&r->tr->terms, &f, col, &v)) return PB_OK;
  return pb_err_set(err, "%s: [run] select = %s is not a column of this run's metrics.csv (e.g. %s%stest_acc)",
                    pb_config_origin(r->cfg, "run", "select"), col, r->tr->terms.term[0].name,
                    r->tr->terms.term[0].name[0] ? "_" : "");
}

int pb_train_run(pb_config *cfg, const char *resume, pb_err *err) {
  train_session *S = pb_xcalloc(1, sizeof *S);
  S->saved_step = -1;
  int rc = pb_run_init(&S->r, cfg, err);
  if (rc == PB_OK && check_select(&S->r, err)) {
    pb_run_free(&S->r);
    rc = PB_ERR;
  }
  if (rc == PB_OK) {
    reset_stats(&S->r);
    rc = session(S, cfg, resume, err);
    pb_run_free(&S->r);
  }
  free(S);
  return rc;
}
