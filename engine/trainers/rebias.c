/* rebias.c: the trainer over several named models ([model.NAME] sections, trainer.h
 * pb_trainer_models): [method] vanilla (f on its cross-entropy), biased (g on its
 * cross-entropy) and rebias, the ReBias min-max of the released code (REFERENCES.md,
 * "ReBias"): per batch, n_g_update steps of every g on CE(g) - lambda_g HSIC(g_feat, f_feat)
 * with f's features detached, then one step of f on CE(f) + lambda_f sum over g of
 * HSIC(f_feat, g_feat) with g's detached; rubi and learnedmixin, the comparison methods of the
 * released code, whose f step is in mixin.c. [method] g_pretrain_epochs first trains every g
 * on its cross-entropy alone at a constant rate (rebias, rubi, learnedmixin: as released).
 * Features: the input of each model's classifier
 * (after global average pooling), the HSIC op's gradient added there (pb_model_backward_hook).
 * As released, the models run in training mode whenever they run in a step (f's forward in
 * g's step moves f's batch-norm statistics too), and sigma_x goes with the first argument:
 * g's features in g's step, f's in f's.
 *
 * Every model is evaluated and checkpointed. The checkpoint of a step is one pair of files per
 * model: step-N.NAME.safetensors (+ .state) for all but the reported model (f; g for
 * biased), whose step-N.safetensors (+ .state) is written last and marks the checkpoint
 * complete, as for one model. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/device/backend.h"
#include "engine/dist/dist.h"
#include "engine/trainers/checkpoint.h"
#include "engine/trainers/multi.h"

static float sigma_of(const char *spec, int dim, float median) {
  if (!strcmp(spec, "dimension")) return sqrtf((float)dim);
  if (!strcmp(spec, "median")) return median > 0 ? median : 1.0f; /* 1 only while planning memory */
  return (float)strtod(spec, NULL);
}

static pb_hsic_params hsic_params(const rb_priv *p, int n, int dx, int dy) {
  pb_hsic_params h = {.n = n, .dx = dx, .dy = dy, .unbiased = p->unbiased};
  h.sigma_x = sigma_of(p->sigma_x, dx, p->median_x);
  h.sigma_y = sigma_of(p->sigma_y, dy, p->median_y);
  return h;
}

/* ------------------------------------------------------------------ the median sigma */

/* As released (sigma_utils.py): the squared distances of f's features (for sigma_x) and of
 * every g's (pooled, for sigma_y) over the first floor(batches / 4) + 1 batches of the
 * epoch's order, the models in training mode (their batch-norm statistics move, as there);
 * sigma = sqrt of ONE median over all of them (diagonal zeros and both (i,j), (j,i)
 * included). At the start, and before every epoch with update_sigma_per_epoch. */
static int rb_uses_median(const rb_priv *p) {
  return p->method == M_REBIAS && (!strcmp(p->sigma_x, "median") || !strcmp(p->sigma_y, "median"));
}

static int64_t rb_observe_batches(pb_trainer *t, int64_t epoch, int64_t batches) {
  rb_priv *p = t->priv;
  /* as released: once before g's pretraining, then after each epoch of the method */
  if (!rb_uses_median(p) || t->infer_only || (epoch > 0 && (!p->sigma_every_epoch || epoch <= t->pre_epochs)))
    return 0;
  p->npool[0] = p->npool[1] = 0;
  return PB_MIN(batches, batches / 4 + 1);
}

static void pool_add(rb_priv *p, int w, pb_ctx *c, int n) {
  size_t m = (size_t)n * n;
  if (p->npool[w] + m > p->cap[w]) {
    p->cap[w] = PB_MAX(2 * p->cap[w], p->npool[w] + m);
    p->pool[w] = pb_xrealloc(p->pool[w], p->cap[w] * sizeof(float));
  }
  c->ops->download(c, p->pool[w] + p->npool[w], p->dist, m * sizeof(float));
  p->npool[w] += m;
}

static void rb_observe(pb_trainer *t, const float *x, int n) {
  rb_priv *p = t->priv;
  pb_ctx *c = t->ctx;
  if (n < 2) return;
  for (int i = 0; i < p->nmodels; i++) {
    if (i != p->f && !p->is_g[i]) continue;
    pb_model *m = t->learner[i].model;
    pb_model_forward(m, x, n, 1);
    int d;
    const float *feat = pb_model_features(m, &d);
    c->ops->sqdist(c, p->dist, feat, n, d);
    pool_add(p, p->is_g[i] ? 1 : 0, c, n);
  }
}

static int rb_observe_end(pb_trainer *t, char *msg, size_t len, pb_err *err) {
  rb_priv *p = t->priv;
  float *dst[2] = {&p->median_x, &p->median_y};
  for (int w = 0; w < 2; w++) {
    if (!p->npool[w]) continue;
    double med = pb_median_sqdist(p->pool[w], p->npool[w]);
    if (!(med > 0) || !isfinite(med))
      return pb_err_set(err, "[method] sigma_%c = median: the median squared distance of %s's features is %g (constant "
                             "or non-finite features); set a fixed sigma",
                        w ? 'y' : 'x', w ? "the g models" : "f", med);
    *dst[w] = (float)sqrt(med);
  }
  snprintf(msg, len, "median sigma over %zu distances: sigma_x = %.6g (f), sigma_y = %.6g (g)", p->npool[0] + p->npool[1],
           p->median_x, p->median_y);
  return PB_OK;
}

/* Adds grad_scale * dHSIC(self, other_k)/dself for every other model k to the features'
 * gradient (the others detached). */
static void hsic_hook(void *user, float *dfeat, int n) {
  rb_priv *p = user;
  for (int k = 0; k < p->nother; k++) {
    pb_hsic_params h = hsic_params(p, n, p->self_dim, p->other_dim[k]);
    p->ctx->ops->hsic_bwd(p->ctx, dfeat, NULL, p->grad_scale, p->self_feat, p->other[k], &h);
  }
}

float *pb_multi_forward_ce(pb_trainer *t, int i, const float *x, const int32_t *y, const int32_t *yh, int n, int grad) {
  rb_priv *p = t->priv;
  pb_learner *l = &t->learner[i];
  pb_ctx *c = t->ctx;
  float *logits = pb_model_forward(l->model, x, n, 1);
  pb_loss *ce = p->ce[i];
  ce->vt->compute(ce, c, logits, y, yh, n, l->accum_steps, grad ? l->dout : NULL, t->pred + (size_t)i * l->model->max_n,
                  t->correct_acc + i, t->seen + i);
  c->ops->accum_f64(c, t->loss_acc + i, ce->term_loss);
  return logits;
}

/* One model on its cross-entropy alone (vanilla, biased, a rebias batch too small for HSIC). */
static int plain_step(pb_trainer *t, int i, const float *x, const int32_t *y, const int32_t *yh, int n, int step_now) {
  pb_learner *l = &t->learner[i];
  pb_multi_forward_ce(t, i, x, y, yh, n, 1);
  pb_model_backward(l->model, l->dout, n);
  return pb_learner_end_micro(l, step_now);
}

/* The penalised step of learner i against the others' features: CE(i) + scale * sum HSIC. */
static void hsic_step(pb_trainer *t, int i, const int *others, int nothers, const float *x, const int32_t *y,
                      const int32_t *yh, int n, float scale, int log_value) {
  rb_priv *p = t->priv;
  pb_ctx *c = t->ctx;
  /* the others first (their features stay in their own activation memory), in train mode */
  p->nother = 0;
  for (int k = 0; k < nothers; k++) {
    pb_model *o = t->learner[others[k]].model;
    pb_model_forward(o, x, n, 1);
    p->other[p->nother] = pb_model_features(o, &p->other_dim[p->nother]);
    p->nother++;
  }
  pb_learner *l = &t->learner[i];
  pb_multi_forward_ce(t, i, x, y, yh, n, 1);
  p->self_feat = pb_model_features(l->model, &p->self_dim);
  if (log_value) { /* f's step: the penalty sum_g HSIC(f, g), logged */
    for (int k = 0; k < p->nother; k++) {
      pb_hsic_params h = hsic_params(p, n, p->self_dim, p->other_dim[k]);
      c->ops->hsic_fwd(c, p->hsic_val + k, p->self_feat, p->other[k], &h);
      c->ops->accum_f64(c, t->loss_acc + p->hsic_term, p->hsic_val + k);
    }
    t->seen[p->hsic_term] += 1; /* its mean is per f step */
  }
  p->grad_scale = scale;
  pb_model_backward_hook(l->model, l->dout, n, hsic_hook, p);
  pb_learner_end_micro(l, 1);
}

static int rb_micro(pb_trainer *t, const float *x, const int32_t *y, const int32_t *yh, int n, int step_now) {
  rb_priv *p = t->priv;
  PB_ASSERT(!t->infer_only);
  if (p->pre_done < p->pre_total) { /* g's pretraining: every g on its cross-entropy (accum_steps 1) */
    for (int i = 0; i < p->nmodels && n > 0; i++)
      if (p->trained[i] && p->is_g[i]) plain_step(t, i, x, y, yh, n, 1);
    p->pre_done++;
    return 1;
  }
  if (n == 0) { /* an empty batch: a pending accumulation group still steps */
    int stepped = 0;
    for (int i = 0; i < p->nmodels; i++)
      if (p->trained[i] && step_now && (t->learner[i].micro > 0 || pb_dist_world()->size > 1))
        pb_learner_step(&t->learner[i]), stepped = 1;
    return stepped;
  }
  if (p->method == M_RUBI || p->method == M_MIXIN) {
    if (p->method == M_RUBI) /* g on its own cross-entropy, n_g_update times */
      for (int r = 0; r < p->n_g_update; r++)
        for (int i = 0; i < p->nmodels; i++)
          if (p->trained[i] && p->is_g[i]) plain_step(t, i, x, y, yh, n, 1);
    if (p->trained[p->f]) pb_mixin_f_step(t, x, y, yh, n);
    return 1;
  }
  if (p->method != M_REBIAS || (p->unbiased && n < 4) || n < 2) {
    /* vanilla, biased; and ReBias on a batch HSIC cannot take (the epoch's short last one) */
    int stepped = 0;
    for (int r = 0; r < (p->method == M_REBIAS ? p->n_g_update : 1); r++)
      for (int i = 0; i < p->nmodels; i++)
        if (p->trained[i] && p->is_g[i]) stepped |= plain_step(t, i, x, y, yh, n, step_now);
    if (p->f >= 0 && p->trained[p->f]) stepped |= plain_step(t, p->f, x, y, yh, n, step_now);
    return stepped;
  }
  int fidx[1] = {p->f}, gidx[PB_MAX_LEARNERS], ng = 0;
  for (int i = 0; i < p->nmodels; i++)
    if (p->is_g[i]) gidx[ng++] = i;
  for (int r = 0; r < p->n_g_update; r++)
    for (int k = 0; k < ng; k++)
      if (p->trained[gidx[k]]) hsic_step(t, gidx[k], fidx, 1, x, y, yh, n, -p->lambda_g, 0);
  if (p->trained[p->f]) hsic_step(t, p->f, gidx, ng, x, y, yh, n, p->lambda_f, 1);
  return 1;
}

static void rb_eval(pb_trainer *t, const float *x, const int32_t *y, const int32_t *yh, int n, int views,
                    int32_t *pred, double *term_loss) {
  rb_priv *p = t->priv;
  pb_ctx *c = t->ctx;
  for (int i = 0; i < p->nmodels; i++) {
    pb_model *m = t->learner[i].model;
    pb_loss *ce = p->ce[i];
    const float *logits = pb_model_forward(m, x, n * views, 0);
    if (views > 1) {
      c->ops->download(c, t->view_logits, logits, (size_t)n * views * ce->k * sizeof(float));
      term_loss[i] = ce->vt->views(ce, t->view_logits, yh, n, views, pred + (size_t)i * n);
      continue;
    }
    ce->vt->compute(ce, c, logits, y, yh, n, 1, NULL, t->pred, NULL, NULL);
    float l;
    c->ops->download(c, pred + (size_t)i * n, t->pred, (size_t)n * sizeof(int32_t));
    c->ops->download(c, &l, ce->term_loss, sizeof l);
    term_loss[i] = l;
  }
  for (int k = p->nmodels; k < t->terms.n; k++) { /* the method's values: training only */
    term_loss[k] = 0;
    for (int i = 0; i < n; i++) pred[(size_t)k * n + i] = -1;
  }
}

/* Learner 0 (the reported model) last: its model file marks the checkpoint complete. */
static int rb_save(pb_trainer *t, const char *base, const char *const *meta, int nmeta, pb_err *err) {
  rb_priv *p = t->priv;
  for (int i = t->nlearners - 1; i >= 0; i--) {
    char b[4400], st[64], pre[32];
    const char *m2[256];
    int n2 = 0;
    if (i == 0) {
      snprintf(b, sizeof b, "%s", base);
      for (int k = 0; k < 2 * nmeta && k < 250; k++) m2[n2++] = meta[k];
      if (rb_uses_median(p)) { /* the sigmas in use: a resume goes on with them */
        static char sx[32], sy[32];
        snprintf(sx, sizeof sx, "%.9g", p->median_x);
        snprintf(sy, sizeof sy, "%.9g", p->median_y);
        m2[n2++] = "rebias.median_sigma_x", m2[n2++] = sx, m2[n2++] = "rebias.median_sigma_y", m2[n2++] = sy;
      }
      if (p->pre_total) { /* how far g's pretraining went */
        snprintf(pre, sizeof pre, "%lld", (long long)p->pre_done);
        m2[n2++] = "method.pretrain_batches", m2[n2++] = pre;
      }
    } else { /* a model's own file: its own step count */
      snprintf(b, sizeof b, "%s.%s", base, t->learner[i].name);
      snprintf(st, sizeof st, "%lld", (long long)t->learner[i].opt.step);
      m2[0] = "plumb.format", m2[1] = "1", m2[2] = "step", m2[3] = st, n2 = 4;
    }
    /* a frozen model has no optimizer state; the reported model's state file always exists
     * (it carries the run's metadata) */
    const pb_optim *o = i == 0 || p->trained[i] ? &t->learner[i].opt : NULL;
    if (pb_ckpt_save(b, t->learner[i].model, o, m2, n2 / 2, err))
      return PB_ERR;
  }
  return PB_OK;
}

static int rb_restore(pb_trainer *t, const char *model_path, const char *state_path, pb_st_file *st, pb_err *err) {
  rb_priv *p = t->priv;
  size_t L = strlen(model_path), S = strlen(".safetensors");
  for (int i = 1; i < t->nlearners; i++) {
    char mp[4400], sp[4400];
    snprintf(mp, sizeof mp, "%.*s.%s.safetensors", (int)(L - S), model_path, t->learner[i].name);
    if (pb_ckpt_load_model(mp, t->learner[i].model, err)) return PB_ERR;
    if (!p->trained[i]) continue;
    snprintf(sp, sizeof sp, "%.*s.%s.state.safetensors", (int)(L - S), model_path, t->learner[i].name);
    pb_st_file s2;
    if (pb_ckpt_load_state(sp, &t->learner[i].opt, t->learner[i].model, &s2, err)) return PB_ERR;
    const char *v = pb_st_meta(&s2, "step");
    if (!v) {
      pb_st_free(&s2);
      return pb_err_set(err, "%s: metadata 'step' is missing: not a plumb training checkpoint", sp);
    }
    t->learner[i].opt.step = strtoll(v, NULL, 10);
    pb_st_free(&s2);
  }
  if (pb_ckpt_load_model(model_path, t->learner[0].model, err)) return PB_ERR;
  if (pb_ckpt_load_state(state_path, &t->learner[0].opt, t->learner[0].model, st, err)) return PB_ERR;
  const char *sx = pb_st_meta(st, "rebias.median_sigma_x"), *sy = pb_st_meta(st, "rebias.median_sigma_y");
  if (sx && sy) p->median_x = strtof(sx, NULL), p->median_y = strtof(sy, NULL);
  const char *pre = pb_st_meta(st, "method.pretrain_batches");
  p->pre_done = pre ? strtoll(pre, NULL, 10) : p->pre_total;
  if (p->pre_done < 0 || p->pre_done > p->pre_total)
    return pb_err_set(err, "%s: method.pretrain_batches = %s does not fit this config's %lld batches of g pretraining "
                           "([method] g_pretrain_epochs or [train] batch_size changed?)",
                      state_path, pre, (long long)p->pre_total);
  return PB_OK;
}

/* The run's step: the pretraining batches, then learner 0's steps. */
static void rb_progress(const pb_trainer *t, int64_t *step, int64_t *total, double *lr) {
  const rb_priv *p = t->priv;
  *step = p->pre_done + t->learner[0].opt.step;
  *total = p->pre_total + t->learner[0].total_steps;
  *lr = t->learner[0].lr;
  for (int i = 0; i < p->nmodels && p->pre_total && t->learner[0].opt.step == 0; i++) /* pretraining: g's rate */
    if (p->is_g[i] && p->trained[i]) {
      *lr = t->learner[i].lr;
      break;
    }
}

static void rb_set_step(pb_trainer *t, int64_t step) {
  rb_priv *p = t->priv;
  t->learner[0].opt.step = step - p->pre_done;
}

static void rb_free(pb_trainer *t) {
  rb_priv *p = t->priv;
  if (!p) return;
  for (int i = 0; i < p->nmodels; i++) pb_loss_free(p->ce[i], t->ctx);
  pb_mixin_free(t, p);
  t->ctx->ops->free(t->ctx, p->hsic_val);
  t->ctx->ops->free(t->ctx, p->dist);
  free(p->pool[0]);
  free(p->pool[1]);
}

static const pb_trainer_vt rb_vt = {"rebias",    rb_micro,           rb_eval,    rb_save,        rb_restore,
                                    rb_free,     rb_observe_batches, rb_observe, rb_observe_end, rb_progress,
                                    rb_set_step, NULL};

/* Which models a method needs and trains; every user error names the key and where it was set. */
static int check_models(const pb_config *cfg, rb_priv *p, const char **names, int n, pb_err *err) {
  const char *fname = pb_config_str(cfg, "method", "f"), *gspec = pb_config_str(cfg, "method", "g");
  const char *mname = pb_config_str(cfg, "method", "name");
  p->f = -1;
  for (int i = 0; i < n; i++)
    if (!strcmp(names[i], fname)) p->f = i;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", gspec);
  int ng = 0;
  for (char *sv, *tok = strtok_r(buf, ", ", &sv); tok; tok = strtok_r(NULL, ", ", &sv)) {
    int k = -1;
    for (int i = 0; i < n; i++)
      if (!strcmp(names[i], tok)) k = i;
    if (k < 0 && p->method != M_VANILLA)
      return pb_err_set(err, "%s: [method] g = %s: no [model.%s] section declares model '%s'",
                        pb_config_origin(cfg, "method", "g"), gspec, tok, tok);
    if (k == p->f && k >= 0)
      return pb_err_set(err, "%s: [method] g = %s names f ('%s') too", pb_config_origin(cfg, "method", "g"), gspec, tok);
    if (k >= 0) p->is_g[k] = 1, ng++;
  }
  if (p->f < 0 && p->method != M_BIASED)
    return pb_err_set(err, "%s: [method] name = %s needs the model f = %s: no [model.%s] section declares it",
                      pb_config_origin(cfg, "method", "f"), mname, fname, fname);
  if (ng == 0 && p->method != M_VANILLA)
    return pb_err_set(err, "%s: [method] name = %s needs a biased model g ([method] g = %s names no [model.NAME])",
                      pb_config_origin(cfg, "method", "name"), mname, gspec);
  return PB_OK;
}

/* ReBias's keys, the memory of its HSIC terms, and the logged "hsic" term. */
static int rebias_setup(pb_trainer *t, rb_priv *p, const pb_config *cfg, int n, pb_err *err) {
  p->lambda_f = (float)pb_config_float(cfg, "method", "lambda_f");
  p->lambda_g = (float)pb_config_float(cfg, "method", "lambda_g");
  p->n_g_update = (int)pb_config_int(cfg, "method", "n_g_update");
  p->unbiased = !strcmp(pb_config_str(cfg, "method", "hsic"), "unbiased");
  const char *keys[2] = {"sigma_x", "sigma_y"};
  char *dst[2] = {p->sigma_x, p->sigma_y};
  for (int k = 0; k < 2; k++) {
    const char *v = pb_config_str(cfg, "method", keys[k]);
    char *end;
    double d = strtod(v, &end);
    if (strcmp(v, "dimension") && strcmp(v, "median") && (end == v || *end || !(d > 0) || !isfinite(d))) {
      pb_err_set(err, "%s: [method] %s = %s: expected a number > 0, median or dimension",
                 pb_config_origin(cfg, "method", keys[k]), keys[k], v);
      return PB_ERR;
    }
    snprintf(dst[k], 32, "%s", v);
  }
  int max_n = t->learner[0].model->max_n;
  if (p->unbiased && (int)pb_config_int(cfg, "train", "batch_size") < 4) {
    pb_err_set(err, "[train] batch_size = %ld: the unbiased HSIC needs batches of 4 or more ([method] hsic = biased "
                    "takes 2)", pb_config_int(cfg, "train", "batch_size"));
    return PB_ERR;
  }
  /* the HSIC memory for every pair, planned now (evaluation computes no HSIC) */
  for (int a = 0; a < n && !t->infer_only; a++)
    for (int b = 0; b < n; b++) {
      int da, db;
      if (a == b) continue;
      pb_model_features(t->learner[a].model, &da);
      pb_model_features(t->learner[b].model, &db);
      pb_hsic_params h = hsic_params(p, max_n, da, db);
      if (t->ctx->ops->hsic_reserve(t->ctx, &h, err)) return PB_ERR;
    }
  if (!(p->hsic_val = t->ctx->ops->alloc(t->ctx, PB_MAX_LEARNERS * sizeof(float), "the HSIC values", err))) return PB_ERR;
  p->sigma_every_epoch = pb_config_bool(cfg, "method", "update_sigma_per_epoch");
  if (rb_uses_median(p) && !t->infer_only &&
      !(p->dist = t->ctx->ops->alloc(t->ctx, (size_t)max_n * max_n * sizeof(float), "the median sigma's distances", err)))
    return PB_ERR;
  p->hsic_term = t->terms.n++;
  pb_loss_term *tm = &t->terms.term[p->hsic_term];
  snprintf(tm->name, sizeof tm->name, "hsic");
  tm->weight = 0.0f;
  tm->classes = 0; /* a value, no predictions */
  t->terms.label_row[p->hsic_term] = 0;
  return PB_OK;
}

/* What each learner's loss-spike guard watches (guard.c): a model stepped on its cross-entropy
 * that term; ReBias's f its CE plus lambda_f times the logged HSIC sum; rubi / learnedmixin's f
 * and head the method's two logged values. */
static void watch_losses(pb_trainer *t, const rb_priv *p) {
  for (int j = 0; j < t->nlearners; j++) {
    int terms[2] = {j, 0}, n = j < p->nmodels;
    double w[2] = {1, 1};
    if ((p->method == M_RUBI || p->method == M_MIXIN) && (j == p->f || j == p->head))
      terms[0] = p->term0, terms[1] = p->term0 + 1, n = 2;
    else if (p->method == M_REBIAS && j == p->f && p->hsic_term >= 0)
      terms[1] = p->hsic_term, w[1] = p->lambda_f, n = 2;
    pb_guard_watch(&t->learner[j], t, terms, w, n);
  }
}

pb_trainer *pb_trainer_models(const pb_config *cfg, pb_model **models, pb_config **views, const char **names, int n,
                              int64_t steps_per_epoch, int epochs, pb_err *err) {
  PB_ASSERT(n >= 1 && n <= PB_MAX_LEARNERS);
  const char *mname = pb_config_str(cfg, "method", "name");
  pb_trainer *t = pb_xcalloc(1, sizeof *t);
  rb_priv *p = pb_xcalloc(1, sizeof *p);
  t->vt = &rb_vt;
  t->priv = p;
  t->ctx = models[0]->ctx;
  p->ctx = t->ctx;
  p->method = !strcmp(mname, "vanilla")  ? M_VANILLA
              : !strcmp(mname, "biased") ? M_BIASED
              : !strcmp(mname, "rubi")   ? M_RUBI
              : !strcmp(mname, "learnedmixin") ? M_MIXIN
                                               : M_REBIAS;
  p->head = -1;
  p->nmodels = n;
  p->hsic_term = -1;
  int order[PB_MAX_LEARNERS];
  rb_priv tmp = *p;
  if (strcmp(pb_config_str(cfg, "train", "loss"), "ce") != 0) {
    pb_err_set(err, "%s: [train] loss = %s: the debiasing methods ([method] name = %s) train classifiers with "
                    "cross-entropy (loss = ce)",
               pb_config_origin(cfg, "train", "loss"), pb_config_str(cfg, "train", "loss"), mname);
    goto fail;
  }
  if (check_models(cfg, &tmp, names, n, err)) goto fail;
  int pre_epochs = (int)pb_config_int(cfg, "method", "g_pretrain_epochs");
  if (pre_epochs && (p->method == M_VANILLA || p->method == M_BIASED)) {
    pb_err_set(err, "%s: [method] g_pretrain_epochs = %d: only rebias, rubi and learnedmixin pretrain g before f (name "
                    "= %s)", pb_config_origin(cfg, "method", "g_pretrain_epochs"), pre_epochs, mname);
    goto fail;
  }
  if (!models[0]->infer_only) { /* evaluation runs no pretraining */
    t->pre_epochs = pre_epochs;
    p->pre_total = (int64_t)pre_epochs * steps_per_epoch;
  }
  /* the reported model first: f, or the first g for biased */
  int main_i = tmp.f >= 0 && p->method != M_BIASED ? tmp.f : -1;
  for (int i = 0; i < n && main_i < 0; i++)
    if (tmp.is_g[i]) main_i = i;
  order[0] = main_i;
  for (int i = 0, k = 1; i < n; i++)
    if (i != main_i) order[k++] = i;
  p->f = -1;
  for (int j = 0; j < n; j++) {
    int i = order[j];
    p->is_g[j] = tmp.is_g[i];
    if (i == tmp.f) p->f = j;
    int frozen = pb_config_bool(views[i], "model", "frozen");
    /* learnedmixin's g trains only while it pretrains */
    int role_trains = p->method == M_VANILLA  ? i == tmp.f
                      : p->method == M_BIASED ? tmp.is_g[i]
                      : p->method == M_MIXIN  ? i == tmp.f || (tmp.is_g[i] && pre_epochs > 0)
                                              : i == tmp.f || tmp.is_g[i];
    p->trained[j] = role_trains && !frozen;
    if (tmp.is_g[i] && frozen && pre_epochs) {
      pb_err_set(err, "%s: [method] g_pretrain_epochs = %d pretrains g, but [model.%s] frozen = true (%s)",
                 pb_config_origin(cfg, "method", "g_pretrain_epochs"), pre_epochs, names[i],
                 pb_config_origin(views[i], "model", "frozen"));
      goto fail;
    }
    if (p->method == M_MIXIN && tmp.is_g[i] && !pre_epochs && !pb_config_str(views[i], "model", "init_from")[0]) {
      pb_err_set(err, "%s: [method] name = learnedmixin uses g = %s as a fixed biased model: pretrain it ([method] "
                      "g_pretrain_epochs, 5 in the released MNIST protocol) or load it ([model.%s] init_from)",
                 pb_config_origin(cfg, "method", "name"), names[i], names[i]);
      goto fail;
    }
    if (frozen && pb_config_named_origin(cfg, "optim", names[i])) {
      pb_err_set(err, "%s: [optim.%s] configures the optimizer of model %s, which is frozen ([model.%s] frozen = true at %s)",
                 pb_config_named_origin(cfg, "optim", names[i]), names[i], names[i], names[i],
                 pb_config_origin(views[i], "model", "frozen"));
      goto fail;
    }
    if (pb_config_int(views[i], "model", "num_classes") != pb_config_int(cfg, "model", "num_classes")) {
      pb_err_set(err, "%s: [model.%s] num_classes = %ld, but the data is labelled for [model] num_classes = %ld",
                 pb_config_origin(views[i], "model", "num_classes"), names[i],
                 pb_config_int(views[i], "model", "num_classes"), pb_config_int(cfg, "model", "num_classes"));
      goto fail;
    }
    pb_model *m = models[i];
    t->infer_only = m->infer_only;
    if (m->embed_dim || m->nheads) {
      pb_err_set(err, "[model.%s]: [method] name = %s trains classifiers with one head (no embedding_dim, no heads)",
                 names[i], mname);
      goto fail;
    }
    if (pb_learner_init(&t->learner[j], m, views[i], steps_per_epoch, epochs, err)) goto fail;
    snprintf(t->learner[j].name, sizeof t->learner[j].name, "%s", names[i]);
    if ((p->method == M_REBIAS || p->method == M_RUBI) && tmp.is_g[i]) {
      /* g steps n_g_update times a batch: its schedule's epoch is as long */
      int ng = (int)pb_config_int(cfg, "method", "n_g_update");
      t->learner[j].steps_per_epoch *= ng;
      t->learner[j].total_steps *= ng;
    }
    if (tmp.is_g[i]) t->learner[j].const_steps = p->pre_total; /* pretraining at [optim] lr, as released */
    if (p->trained[j] && t->learner[j].accum_steps != 1 && p->method != M_VANILLA && p->method != M_BIASED) {
      pb_err_set(err, "%s: [train] accum_steps = %d: [method] name = %s steps every model every batch (its losses "
                      "are statistics of the batch); set accum_steps = 1",
                 pb_config_origin(views[i], "train", "accum_steps"), t->learner[j].accum_steps, mname);
      goto fail;
    }
    if (!p->trained[j]) { /* never stepped: no optimizer state, nothing to plan for it */
      pb_optim_free(&t->learner[j].opt);
    }
    t->nlearners = j + 1;
    const int *out = pb_model_out(m);
    if (!(p->ce[j] = pb_loss_xent(t->ctx, out[0] * out[1] * out[2], 0.0f, m->max_n, err))) goto fail;
    pb_loss_term *tm = &t->terms.term[j];
    snprintf(tm->name, sizeof tm->name, "%s", t->learner[j].name);
    tm->weight = j == 0 ? 1.0f : 0.0f; /* train_loss: the reported model's */
    tm->classes = out[0] * out[1] * out[2];
    t->terms.label_row[j] = 0;
  }
  t->terms.n = n;
  t->nmodels = n;
  t->nlabels = 1;
  if (p->method == M_REBIAS && rebias_setup(t, p, cfg, n, err)) goto fail;
  if ((p->method == M_RUBI || p->method == M_MIXIN) &&
      pb_mixin_setup(t, p, cfg, views[order[p->f]], steps_per_epoch, epochs, err))
    goto fail;
  if (pb_trainer_alloc_common(t, models[order[0]], err)) goto fail;
  watch_losses(t, p);
  return t;
fail:
  pb_trainer_free(t);
  return NULL;
}
