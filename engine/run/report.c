/* report.c: the log lines and the per-epoch writers of a run (report.h). */
#include "engine/run/report.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/run/log.h"
#include "engine/run/verify.h"
#include "metrics/biasamp.h"
#include "metrics/calibration.h"
#include "metrics/groups.h"

static int named(const pb_terms *l) { return l->term[0].name[0] != 0; }
static void progress_cells(const pb_terms *l, const pb_train_stats *s, long images_seen, double lr,
                           double images_per_second, pb_report_cells *c);

double pb_report_train_loss(const pb_terms *l, const pb_train_stats *s, long images) {
  double sum = 0;
  for (int t = 0; t < l->n; t++) sum += (double)l->term[t].weight * s->loss[t];
  return sum / (double)PB_MAX(images, 1);
}

static void append(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t len, const char *fmt, ...) {
  size_t L = strlen(buf);
  if (L >= len) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + L, len - L, fmt, ap);
  va_end(ap);
}

/* " | skin: loss 2.1034 acc 0.2100, gender: ..." (training progress of each head). */
static void heads_train_str(const pb_terms *l, const pb_train_stats *s, char *buf, size_t len) {
  for (int t = 0; t < l->n; t++) {
    long n = s->seen[t];
    if (!n) /* not trained this epoch so far (f while g pretrains) */
      append(buf, len, "%s %s: -", t ? "," : " |", l->term[t].name);
    else if (!l->term[t].classes) /* a value (HSIC): its mean per step */
      append(buf, len, "%s %s: %.4f", t ? "," : " |", l->term[t].name, n ? s->loss[t] / (double)n : NAN);
    else
      append(buf, len, "%s %s: loss %.4f acc %.4f", t ? "," : " |", l->term[t].name, n ? s->loss[t] / (double)n : NAN,
             pb_ratio(s->correct[t], n));
  }
}

/* " PREFIXNAME_cell_acc=.." when e has groupings (the ImageNet-9 "unbiased" accuracy). */
static void cell_acc_str(const pb_eval *e, int t, int k, const char *prefix, const char *nm, char *buf, size_t len) {
  if (!e->ngroupings) return;
  pb_cell_acc a;
  pb_eval_cell_acc(e, t, k, &a);
  append(buf, len, " %s%s%scell_acc=%.4f", prefix, nm, nm[0] ? "_" : "", a.mean);
}

/* " PREFIXauc=.. PREFIXeer=.. PREFIXtpr@F=.." of an embedding model's set. */
static void verif_str(const pb_eval *e, const char *prefix, char *buf, size_t len) {
  const pb_verif_figures *a = &e->verif->all;
  append(buf, len, " %sauc=%.4f %seer=%.4f", prefix, a->auc, prefix, a->eer);
  for (int i = 0; i < a->npoints; i++)
    append(buf, len, " %stpr@%g=%.4f%s", prefix, a->at[i].fpr, a->at[i].tpr, a->at[i].below_resolution ? "(n/a)" : "");
}

void pb_report_eval_str(const pb_terms *l, const pb_eval *e, const char *prefix, int bias, char *buf, size_t len) {
  buf[0] = 0;
  if (e->verif) {
    verif_str(e, prefix, buf, len);
    return;
  }
  if (l->term[0].multilabel) {
    if (!e->truth) return; /* an empty set (no figures yet) */
    pb_eval_ml m;
    pb_eval_multilabel(e, &m);
    append(buf, len, " %sloss=%.4f %sf2=%.4f (threshold %.2f) %smap=%.4f %sp1=%.4f", prefix, m.loss, prefix,
           m.sweep.best_f2, m.sweep.best_t, prefix, m.rank.map, prefix, m.p1);
    pb_eval_ml_free(&m);
    return;
  }
  if (!named(l)) {
    pb_cls_counts c;
    pb_eval_bias_counts(e, &c);
    append(buf, len, " %sloss=%.4f %sacc=%.4f", prefix, c.loss_sum / (double)PB_MAX(c.n, 1), prefix,
           pb_ratio(c.correct, c.n));
    cell_acc_str(e, 0, l->term[0].classes, prefix, "", buf, len);
    if (bias && c.n_aligned + c.n_conflicting > 0)
      append(buf, len, " %saligned_acc=%.4f %sconflicting_acc=%.4f (aligned %ld, conflicting %ld)", prefix,
             pb_ratio(c.correct_aligned, c.n_aligned), prefix, pb_ratio(c.correct_conflicting, c.n_conflicting),
             c.n_aligned, c.n_conflicting);
    return;
  }
  for (int t = 0; t < l->n; t++) {
    if (!l->term[t].classes) continue; /* a value, no predictions */
    pb_class_counts c;
    pb_eval_class_counts(e, t, l->term[t].classes, &c);
    const char *nm = l->term[t].name;
    append(buf, len, " %s%s_loss=%.4f %s%s_acc=%.4f %s%s_disparity=%.4f", prefix, nm,
           c.n ? c.loss_sum / (double)c.n : NAN, prefix, nm, pb_ratio(c.correct, c.n), prefix, nm,
           pb_class_counts_disparity(&c));
    pb_class_counts_free(&c);
    cell_acc_str(e, t, l->term[t].classes, prefix, nm, buf, len);
  }
}

void pb_report_per_class(const pb_terms *l, const pb_eval *e, FILE *out) {
  if (!named(l)) return;
  for (int t = 0; t < l->n; t++) { /* per-class accuracy behind each disparity */
    if (!l->term[t].classes) continue;
    pb_class_counts c;
    pb_eval_class_counts(e, t, l->term[t].classes, &c);
    fprintf(out, "  %s per-class accuracy (labelled %ld):", l->term[t].name, c.n);
    for (int j = 0; j < c.k; j++)
      if (c.per_n[j])
        fprintf(out, " %.3f", pb_ratio(c.per_correct[j], c.per_n[j]));
      else
        fprintf(out, " -");
    fprintf(out, "\n");
    pb_class_counts_free(&c);
  }
}

void pb_report_progress(const pb_report *rep, int64_t epoch, int epochs, int64_t batch, int64_t batches, int64_t step,
                        const pb_train_stats *s, long images_seen, double lr, double images_per_second,
                        const char *eta) {
  const pb_terms *l = rep->terms;
  char hp[1200] = "", accp[32] = "";
  if (named(l))
    heads_train_str(l, s, hp, sizeof hp);
  else if (!l->term[0].multilabel)
    snprintf(accp, sizeof accp, " acc %.4f", pb_ratio(s->correct[0], s->seen[0]));
  pb_log("epoch %" PRId64 "/%d step %" PRId64 "/%" PRId64 " (total %" PRId64 ") loss %.4f%s lr %.4g %.0f img/s eta %s%s",
         epoch + 1, epochs, batch, batches, step, pb_report_train_loss(l, s, images_seen) * 1.0, accp, lr,
         images_per_second, eta, hp);
  pb_report_cells *c = NULL;
  for (int i = 0; i < rep->nwriters; i++) {
    if (!rep->writer[i]->progress) continue;
    if (!c) {
      c = pb_xmalloc(sizeof *c);
      progress_cells(l, s, images_seen, lr, images_per_second, c);
    }
    rep->writer[i]->progress(rep->writer[i], step, c);
  }
  free(c);
}

void pb_report_epoch(pb_report *rep, const pb_epoch_figures *f) {
  const pb_terms *l = rep->terms;
  char tp[1200] = "", vp[2048] = "", sp[2048] = "", badp[64] = "";
  if (named(l)) {
    heads_train_str(l, f->train, tp, sizeof tp);
    append(tp, sizeof tp, ";");
  } else if (!l->term[0].multilabel) {
    snprintf(tp, sizeof tp, " train_acc=%.4f", pb_ratio(f->train->correct[0], f->train->seen[0]));
  }
  if (f->val) pb_report_eval_str(l, f->val, "val_", 0, vp, sizeof vp);
  for (int k = 0; k < f->ntests; k++) {
    char pre[32], part[2048];
    snprintf(pre, sizeof pre, "%s_", f->test_names[k]);
    pb_report_eval_str(l, f->tests[k], pre, 1, part, sizeof part);
    append(sp, sizeof sp, "%s", part);
  }
  if (f->bad_images) snprintf(badp, sizeof badp, " bad_images_skipped=%ld", f->bad_images);
  pb_log("epoch %" PRId64 "/%d done in %.1fs (%.0f img/s): train_loss=%.4f%s%s%s%s loader_wait=%.2fs", f->epoch + 1,
         f->epochs, f->wall_seconds, f->images_per_second, pb_report_train_loss(l, f->train, f->train_images), tp, vp,
         sp, badp, f->loader_wait);
  const pb_eval *sets[1 + 4] = {f->val};
  const char *sn[1 + 4] = {"val"};
  for (int k = 0; k < f->ntests; k++) sets[1 + k] = f->tests[k], sn[1 + k] = f->test_names[k];
  for (int k = 0; k < 1 + f->ntests; k++) { /* an embedding model's figures in full, per group */
    if (!sets[k] || !sets[k]->verif) continue;
    char line[4096], warn[1024] = "";
    pb_verif_summary(sets[k]->verif, line, sizeof line);
    if (sets[k]->overlap) pb_verif_overlap_str(sets[k]->overlap, warn, sizeof warn);
    pb_log("epoch %" PRId64 " %s: %s%s%s", f->epoch + 1, sn[k], line, warn[0] ? "; " : "", warn);
  }
  for (int i = 0; i < rep->nwriters; i++) rep->writer[i]->epoch(rep->writer[i], l, f);
}

void pb_report_init(pb_report *rep, const pb_terms *l, const char *dir) {
  memset(rep, 0, sizeof *rep);
  rep->terms = l;
  if (dir) rep->writer[rep->nwriters++] = pb_report_csv(dir);
  if (dir && l->emb_dim) rep->writer[rep->nwriters++] = pb_report_eval_json(dir);
}

void pb_report_add(pb_report *rep, pb_report_writer *w) {
  PB_ASSERT(rep->nwriters < PB_REPORT_MAX_WRITERS);
  rep->writer[rep->nwriters++] = w;
}

void pb_report_free(pb_report *rep) {
  for (int i = 0; i < rep->nwriters; i++)
    if (rep->writer[i]->free) rep->writer[i]->free(rep->writer[i]);
  rep->nwriters = 0;
}

/* ------------------------------------------------------------------ metrics.csv */

static void cell(pb_report_cells *c, const char *fmt_val, double v, const char *name_fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void cell(pb_report_cells *c, const char *fmt_val, double v, const char *name_fmt, ...) {
  PB_ASSERT(c->n < (int)(sizeof c->name / sizeof c->name[0]));
  va_list ap;
  va_start(ap, name_fmt);
  vsnprintf(c->name[c->n], sizeof c->name[0], name_fmt, ap);
  va_end(ap);
  if (!strcmp(fmt_val, "%lld"))
    snprintf(c->val[c->n], sizeof c->val[0], "%lld", (long long)v);
  else
    snprintf(c->val[c->n], sizeof c->val[0], fmt_val, v);
  c->n++;
}

/* The progress line's figures under metrics.csv's names: the objective so far this epoch, each
 * term's (only those trained so far this epoch), lr, images_per_second. */
static void progress_cells(const pb_terms *l, const pb_train_stats *s, long images_seen, double lr,
                           double images_per_second, pb_report_cells *c) {
  c->n = 0;
  int nm = named(l);
  cell(c, "%.9g", pb_report_train_loss(l, s, images_seen), "train_loss");
  for (int t = 0; t < l->n; t++) {
    const char *p = l->term[t].name, *u = nm ? "_" : "";
    long n = s->seen[t];
    if (!n) continue; /* not trained this epoch so far (f while g pretrains) */
    if (l->term[t].stat)
      cell(c, "%.9g", s->loss[t] / (double)n, "train_%s", p);
    else if (nm)
      cell(c, "%.9g", s->loss[t] / (double)n, "%s%strain_loss", p, u);
    if (l->term[t].classes && !l->term[t].multilabel)
      cell(c, "%.9g", pb_ratio(s->correct[t], n), "%s%strain_acc", p, u);
  }
  cell(c, "%.9g", lr, "lr");
  cell(c, "%.9g", images_per_second, "images_per_second");
}

/* A multi-label set's figures: SET_loss, SET_p1, SET_f2 (the sweep's best) and its threshold,
 * SET_f2_select (the [multilabel] submission rule), SET_map, SET_mauc (NaN without the set). */
static void ml_cells(pb_report_cells *c, const pb_eval *e, const char *set) {
  pb_eval_ml m;
  int have = e && e->truth;
  if (have) pb_eval_multilabel(e, &m);
  cell(c, "%.6f", have ? m.loss : NAN, "%s_loss", set);
  cell(c, "%.6f", have ? m.p1 : NAN, "%s_p1", set);
  cell(c, "%.6f", have ? m.sweep.best_f2 : NAN, "%s_f2", set);
  cell(c, "%.2f", have ? m.sweep.best_t : NAN, "%s_f2_threshold", set);
  cell(c, "%.6f", have ? m.f2_select : NAN, "%s_f2_select", set);
  cell(c, "%.6f", have ? m.rank.map : NAN, "%s_map", set);
  cell(c, "%.6f", have ? m.rank.mauc : NAN, "%s_mauc", set);
  if (have) pb_eval_ml_free(&m);
}

/* Term t's calibration and group figures on a set, where the set supports them (the columns are
 * the same every epoch: they depend on the data and the trainer only): SET_ece / SET_mce (15
 * bins) with per-image confidences; with a group / attribute the worst group's accuracy, the
 * groups' disparity (best - worst) and the bias amplification A->T (Wang & Russakovsky's
 * definition as the study computes it). Named terms prefix NAME_. */
static void fairness_cells(pb_report_cells *c, const pb_terms *l, int t, const pb_eval *e, const char *set) {
  const char *p = l->term[t].name, *u = p[0] ? "_" : "";
  if (!e->n) { /* no figures (the column check of [run] select): the names only */
    if (e->conf) cell(c, "%.6f", NAN, "%s%s%s_ece", p, u, set), cell(c, "%.6f", NAN, "%s%s%s_mce", p, u, set);
    if (e->groups)
      cell(c, "%.6f", NAN, "%s%s%s_worst_group_acc", p, u, set), cell(c, "%.6f", NAN, "%s%s%s_group_disparity", p, u, set),
          cell(c, "%.6f", NAN, "%s%s%s_biasamp", p, u, set);
    return;
  }
  const int32_t *pred = e->pred + t * e->cap, *lab = e->labels + t * e->cap;
  if (e->conf) {
    pb_calib *cb = pb_xmalloc(sizeof *cb);
    pb_calib_from_conf(e->conf + t * e->cap, pred, lab, e->n, PB_CALIB_DEFAULT_BINS, NULL, cb);
    cell(c, "%.6f", cb->ece, "%s%s%s_ece", p, u, set);
    cell(c, "%.6f", cb->mce, "%s%s%s_mce", p, u, set);
    free(cb);
  }
  if (!e->groups) return;
  int ng = 1;
  for (long i = 0; i < e->n; i++) ng = PB_MAX(ng, e->groups[i] + 1);
  pb_group_acc g;
  pb_group_accuracy(pred, lab, e->groups, e->n, ng, &g);
  cell(c, "%.6f", g.present ? g.acc[g.worst] : NAN, "%s%s%s_worst_group_acc", p, u, set);
  cell(c, "%.6f", g.disparity, "%s%s%s_group_disparity", p, u, set);
  pb_group_acc_free(&g);
  pb_biasamp b;
  pb_biasamp_compute(lab, e->groups, pred, e->n, l->term[t].classes, ng, PB_BIASAMP_A_TO_T, PB_BIASAMP_STUDY, NULL,
                     NULL, 0, &b);
  cell(c, "%.6f", b.value, "%s%s%s_biasamp", p, u, set);
  pb_biasamp_free(&b);
}

/* SET_bias_bounty_score when the model has heads named skin, age and gender (NaN without
 * figures: the column check of [run] select). */
static void bounty_cell(pb_report_cells *c, const pb_terms *l, const pb_eval *e, const char *set) {
  double score = NAN;
  int found = 0;
  for (int t = 0; t < l->n; t++)
    found += l->term[t].classes &&
             (!strcmp(l->term[t].name, "skin") || !strcmp(l->term[t].name, "age") || !strcmp(l->term[t].name, "gender"));
  if (found != 3) return;
  if (e->n) pb_eval_bounty(l, e, &score);
  cell(c, "%.6f", score, "%s_bias_bounty_score", set);
}

void pb_report_cells_of(const pb_terms *l, const pb_epoch_figures *f, pb_report_cells *c) {
  c->n = 0;
  int nm = named(l), nt = l->n;
  cell(c, "%lld", (double)(f->epoch + 1), "epoch");
  cell(c, "%lld", (double)f->step, "step");
  cell(c, "%.6g", f->lr, "lr");
  cell(c, "%.6f", pb_report_train_loss(l, f->train, f->train_images), "train_loss");
  for (int t = 0; t < nt; t++) {
    const char *p = l->term[t].name, *u = nm ? "_" : "";
    long n = f->train->seen[t];
    if (l->term[t].stat) /* a statistic of training: train_active */
      cell(c, "%.6f", n ? f->train->loss[t] / (double)n : NAN, "train_%s", p);
    else if (nm)
      cell(c, "%.6f", n ? f->train->loss[t] / (double)n : NAN, "%s%strain_loss", p, u);
    if (l->term[t].classes && !l->term[t].multilabel)
      cell(c, "%.6f", pb_ratio(f->train->correct[t], n), "%s%strain_acc", p, u);
  }
  const pb_eval *sets[1 + 4] = {f->val};
  const char *sn[1 + 4] = {"val"};
  for (int k = 0; k < f->ntests; k++) sets[1 + k] = f->tests[k], sn[1 + k] = f->test_names[k];
  for (int s = 0; l->emb_dim && s < 1 + f->ntests; s++) { /* verification figures */
    const pb_verif_result *v = sets[s] ? sets[s]->verif : NULL;
    cell(c, "%.6f", v ? v->all.auc : NAN, "%s_auc", sn[s]);
    cell(c, "%.6f", v ? v->all.eer : NAN, "%s_eer", sn[s]);
    for (int i = 0; i < l->nfpr; i++)
      cell(c, "%.6f", v && i < v->all.npoints ? v->all.at[i].tpr : NAN, "%s_tpr_at_fpr_%g", sn[s], l->fpr[i]);
    for (int g = 0; v && g < v->ngroups && g < 16; g++) { /* each group's pairs at the global thresholds
                                                           (all of them: eval.json) */
      cell(c, "%.6f", v->group[g].own.auc, "%s_group%d_auc", sn[s], (int)v->group[g].id);
      for (int i = 0; i < l->nfpr && i < v->all.npoints; i++)
        cell(c, "%.6f", v->group[g].at_global[i].tpr, "%s_group%d_tpr_at_fpr_%g", sn[s], (int)v->group[g].id,
             l->fpr[i]);
    }
  }
  for (int s = 0; s < 1 + f->ntests; s++) {
    for (int t = 0; t < nt; t++) {
      const char *p = l->term[t].name, *u = nm ? "_" : "";
      if (!l->term[t].classes) continue; /* a value, no predictions */
      if (l->term[t].multilabel) {
        ml_cells(c, sets[s], sn[s]);
        continue;
      }
      pb_class_counts k = {0};
      if (sets[s]) pb_eval_class_counts(sets[s], t, l->term[t].classes, &k);
      cell(c, "%.6f", k.n ? k.loss_sum / (double)k.n : NAN, "%s%s%s_loss", p, u, sn[s]);
      cell(c, "%.6f", pb_ratio(k.correct, k.n), "%s%s%s_acc", p, u, sn[s]);
      if (sets[s] && sets[s]->ngroupings) {
        pb_cell_acc a;
        pb_eval_cell_acc(sets[s], t, l->term[t].classes, &a);
        cell(c, "%.6f", a.mean, "%s%s%s_cell_acc", p, u, sn[s]);
      }
      if (nm && s >= 1) cell(c, "%.6f", pb_class_counts_disparity(&k), "%s_%s_disparity", p, sn[s]);
      pb_class_counts_free(&k);
      if (sets[s]) fairness_cells(c, l, t, sets[s], sn[s]);
    }
    if (sets[s]) bounty_cell(c, l, sets[s], sn[s]);
  }
  for (int k = 0; !nm && !l->term[0].multilabel && k < f->ntests; k++) {
    pb_cls_counts b;
    pb_eval_bias_counts(f->tests[k], &b);
    cell(c, "%.6f", pb_ratio(b.correct_aligned, b.n_aligned), "%s_aligned_acc", f->test_names[k]);
    cell(c, "%.6f", pb_ratio(b.correct_conflicting, b.n_conflicting), "%s_conflicting_acc", f->test_names[k]);
  }
  cell(c, "%.2f", f->train_seconds, "epoch_seconds");
  cell(c, "%.1f", f->images_per_second, "images_per_second");
}

int pb_report_value(const pb_terms *terms, const pb_epoch_figures *f, const char *name, double *v) {
  pb_report_cells *c = pb_xmalloc(sizeof *c);
  pb_report_cells_of(terms, f, c);
  int found = 0;
  for (int i = 0; i < c->n && !found; i++)
    if (!strcmp(c->name[i], name)) found = 1, *v = strtod(c->val[i], NULL);
  free(c);
  return found;
}

typedef struct {
  char path[4200];
} csv_priv;

static void csv_epoch(pb_report_writer *w, const pb_terms *l, const pb_epoch_figures *f) {
  csv_priv *p = w->priv;
  int fresh = access(p->path, F_OK) != 0;
  FILE *fp = fopen(p->path, "a");
  if (!fp) {
    pb_log("warning: cannot append to %s: %s", p->path, strerror(errno));
    return;
  }
  pb_report_cells *c = pb_xmalloc(sizeof *c);
  pb_report_cells_of(l, f, c);
  if (fresh)
    for (int i = 0; i < c->n; i++) fprintf(fp, "%s%s", c->name[i], i + 1 < c->n ? "," : "\n");
  for (int i = 0; i < c->n; i++) fprintf(fp, "%s%s", c->val[i], i + 1 < c->n ? "," : "\n");
  free(c);
  if (fclose(fp)) pb_log("warning: cannot write %s: %s", p->path, strerror(errno));
}

static void csv_free(pb_report_writer *w) {
  free(w->priv);
  free(w);
}

pb_report_writer *pb_report_csv(const char *dir) {
  pb_report_writer *w = pb_xcalloc(1, sizeof *w);
  csv_priv *p = pb_xcalloc(1, sizeof *p);
  snprintf(p->path, sizeof p->path, "%s/metrics.csv", dir);
  w->name = "metrics.csv";
  w->epoch = csv_epoch;
  w->free = csv_free;
  w->priv = p;
  return w;
}
