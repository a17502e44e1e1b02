/* eval_json.c: eval.json (eval_json.h). */
#include "engine/run/eval_json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pb_file.h"
#include "metrics/biasamp.h"
#include "metrics/calibration.h"
#include "metrics/groups.h"
#include "metrics/verification.h"

static void jstr(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p < 0x20)
      fprintf(f, "\\u%04x", *p);
    else
      fputc(*p, f);
  }
  fputc('"', f);
}

static void jnum(FILE *f, double v) {
  if (isfinite(v))
    fprintf(f, "%.17g", v);
  else
    fprintf(f, "null");
}

/* {"ece": .., "mce": .., "n": .., ...} of one reliability table; with bins the per-bin rows. */
static void calib_json(FILE *f, const pb_calib *c, int bins, const char *indent) {
  fprintf(f, "{\"ece\": ");
  jnum(f, c->ece);
  fprintf(f, ", \"mce\": ");
  jnum(f, c->mce);
  fprintf(f, ", \"n\": %ld, \"accuracy\": ", c->n);
  jnum(f, c->accuracy);
  fprintf(f, ", \"mean_confidence\": ");
  jnum(f, c->mean_conf);
  if (bins) {
    fprintf(f, ", \"nbins\": %d,\n%s  \"bins\": [", c->nbins, indent);
    for (int b = 0; b < c->nbins; b++) {
      const pb_calib_bin *x = &c->bins[b];
      fprintf(f, "%s{\"lower\": %.9g, \"upper\": %.9g, \"n\": %ld, \"accuracy\": ", b ? ", " : "", x->lower,
              x->upper, x->count);
      jnum(f, x->acc);
      fprintf(f, ", \"confidence\": ");
      jnum(f, x->conf);
      fprintf(f, "}");
    }
    fprintf(f, "]");
  }
  fprintf(f, "}");
}

/* Calibration of term t (15 bins), overall with its reliability table and per group. */
static void term_calibration(FILE *f, const pb_terms *l, int t, const pb_eval *e, const char *indent) {
  (void)l;
  const int32_t *pred = e->pred + t * e->cap, *lab = e->labels + t * e->cap;
  const float *conf = e->conf + t * e->cap;
  pb_calib *c = pb_xmalloc(sizeof *c);
  pb_calib_from_conf(conf, pred, lab, e->n, PB_CALIB_DEFAULT_BINS, NULL, c);
  fprintf(f, ",\n%s  \"calibration\": ", indent);
  calib_json(f, c, 1, indent);
  if (e->groups) {
    int ng = 0;
    for (long i = 0; i < e->n; i++) ng = PB_MAX(ng, e->groups[i] + 1);
    uint8_t *mask = pb_xmalloc((size_t)PB_MAX(e->n, 1));
    fprintf(f, ",\n%s  \"calibration_per_group\": [", indent);
    for (int g = 0; g < ng; g++) {
      for (long i = 0; i < e->n; i++) mask[i] = e->groups[i] == g;
      pb_calib_from_conf(conf, pred, lab, e->n, PB_CALIB_DEFAULT_BINS, mask, c);
      fprintf(f, "%s", g ? ",\n" : "");
      calib_json(f, c, 1, indent); /* with its table: a reliability diagram per group */
    }
    fprintf(f, "]");
    free(mask);
  }
  free(c);
}

/* A multi-label term: loss, precision at 1, the F2 sweep with its best threshold, the F2 of the
 * submission rule, mAP / macro AUC and AP / AUC / positives per class. */
static void ml_term_json(FILE *f, const pb_eval *e, const char *indent) {
  pb_eval_ml m;
  pb_eval_multilabel(e, &m);
  int k = e->score_k;
  fprintf(f, "{\"classes\": %d, \"n\": %ld, \"multilabel\": true, \"positives\": %ld, \"loss\": ", k, e->n,
          e->ml_positives);
  jnum(f, m.loss);
  fprintf(f, ", \"loss_per\": \"%s\", \"precision_at_1\": ", e->ml_inclusive ? "positive" : "image");
  jnum(f, m.p1);
  fprintf(f, ", \"images_with_positive\": %ld,\n%s  \"f2\": {\"best\": ", m.n_with_positive, indent);
  jnum(f, m.sweep.best_f2);
  fprintf(f, ", \"best_threshold\": ");
  jnum(f, m.sweep.best_t);
  fprintf(f, ", \"sweep\": [");
  for (int i = 0; i < PB_ML_NTHRESH; i++) {
    fprintf(f, "%s{\"threshold\": %.17g, \"f2\": ", i ? ", " : "", m.sweep.t[i]);
    jnum(f, m.sweep.f2[i]);
    fprintf(f, "}");
  }
  fprintf(f, "],\n%s    \"select\": {\"threshold\": %.17g, \"min_labels\": %d, \"max_labels\": %d, \"f2\": ", indent,
          e->ml_threshold, e->ml_min_labels, e->ml_max_labels < 0 ? 0 : e->ml_max_labels);
  jnum(f, m.f2_select);
  fprintf(f, "}},\n%s  \"map\": ", indent);
  jnum(f, m.rank.map);
  fprintf(f, ", \"map_classes\": %d, \"mauc\": ", m.rank.nap);
  jnum(f, m.rank.mauc);
  fprintf(f, ", \"mauc_classes\": %d,\n%s  \"per_class_ap\": [", m.rank.nauc, indent);
  for (int j = 0; j < k; j++) {
    if (j) fprintf(f, ", ");
    jnum(f, m.rank.ap[j]);
  }
  fprintf(f, "],\n%s  \"per_class_auc\": [", indent);
  for (int j = 0; j < k; j++) {
    if (j) fprintf(f, ", ");
    jnum(f, m.rank.auc[j]);
  }
  fprintf(f, "],\n%s  \"per_class_positives\": [", indent);
  for (int j = 0; j < k; j++) fprintf(f, "%s%ld", j ? ", " : "", m.rank.pos[j]);
  fprintf(f, "]}");
  pb_eval_ml_free(&m);
}

static void term_json(FILE *f, const pb_terms *l, int t, const pb_eval *e, const char *indent) {
  if (l->term[t].multilabel) {
    if (e->truth) {
      ml_term_json(f, e, indent);
    } else {
      fprintf(f, "{\"classes\": %d, \"n\": %ld, \"multilabel\": true}", l->term[t].classes, e->n);
    }
    return;
  }
  pb_class_counts c;
  pb_eval_class_counts(e, t, l->term[t].classes, &c);
  fprintf(f, "{\"classes\": %d, \"n\": %ld, \"loss\": ", c.k, c.n);
  jnum(f, c.n ? c.loss_sum / (double)c.n : NAN);
  fprintf(f, ", \"accuracy\": ");
  jnum(f, pb_ratio(c.correct, c.n));
  fprintf(f, ",\n%s  \"per_class_accuracy\": [", indent);
  for (int j = 0; j < c.k; j++) {
    if (j) fprintf(f, ", ");
    jnum(f, pb_ratio(c.per_correct[j], c.per_n[j]));
  }
  fprintf(f, "],\n%s  \"per_class_n\": [", indent);
  for (int j = 0; j < c.k; j++) fprintf(f, "%s%ld", j ? ", " : "", c.per_n[j]);
  fprintf(f, "],\n%s  \"disparity\": ", indent);
  jnum(f, pb_class_counts_disparity(&c));
  if (e->groups) { /* accuracy per group (bias attribute) and bias amplification A->T */
    int ng = 0;
    for (long i = 0; i < e->n; i++) ng = PB_MAX(ng, e->groups[i] + 1);
    const int32_t *pred = e->pred + t * e->cap, *lab = e->labels + t * e->cap;
    pb_group_acc g;
    pb_group_accuracy(pred, lab, e->groups, e->n, ng, &g);
    fprintf(f, ",\n%s  \"group_accuracy\": {\"per_group\": [", indent);
    for (int j = 0; j < ng; j++) {
      if (j) fprintf(f, ", ");
      jnum(f, g.acc[j]);
    }
    fprintf(f, "], \"per_group_n\": [");
    for (int j = 0; j < ng; j++) fprintf(f, "%s%ld", j ? ", " : "", g.per_n[j]);
    fprintf(f, "], \"disparity\": ");
    jnum(f, g.disparity);
    fprintf(f, ", \"worst\": %d, \"best\": %d}", g.worst, g.best);
    pb_group_acc_free(&g);
    fprintf(f, ",\n%s  \"bias_amplification\": {", indent);
    for (int v = 0; v < 2; v++) {
      pb_biasamp b;
      pb_biasamp_compute(lab, e->groups, pred, e->n, l->term[t].classes, PB_MAX(ng, 1), PB_BIASAMP_A_TO_T,
                         v ? PB_BIASAMP_WANG : PB_BIASAMP_STUDY, NULL, NULL, 0, &b);
      fprintf(f, "%s\"%s\": ", v ? ", " : "", b.name);
      jnum(f, b.value);
      pb_biasamp_free(&b);
    }
    fprintf(f, ", \"attribute\": \"the data's group\", \"task\": \"the label\"}");
  }
  if (e->conf) term_calibration(f, l, t, e, indent);
  if (e->ngroupings) {
    pb_cell_acc a;
    pb_eval_cell_acc(e, t, l->term[t].classes, &a);
    fprintf(f, ",\n%s  \"cell_accuracy\": {\"mean\": ", indent);
    jnum(f, a.mean);
    fprintf(f, ", \"min_cell\": %d, \"groupings\": [", e->min_cell);
    for (int j = 0; j < a.ngroupings; j++) {
      fprintf(f, "%s{\"accuracy\": ", j ? ", " : "");
      jnum(f, a.acc[j]);
      fprintf(f, ", \"cells\": %d, \"images\": %ld}", a.cells[j], a.images[j]);
    }
    fprintf(f, "]}");
  }
  fprintf(f, "}");
  pb_class_counts_free(&c);
}

/* The 8-bit Bias Bounty score when the model has heads named skin, age and gender; else a note
 * for multi-head models. */
static void bounty(FILE *f, const pb_terms *l, const pb_eval *e, char *skipped, size_t len, size_t *n) {
  double score;
  if (pb_eval_bounty(l, e, &score)) {
    fprintf(f, ",\n      \"bias_bounty_score\": ");
    jnum(f, score);
  } else if (l->n > 1 && l->term[0].name[0] && l->term[0].classes) {
    *n += (size_t)snprintf(skipped + *n, len - *n,
                           "%s\"bias_bounty_score\": \"needs heads named skin, age and gender\"", *n ? ", " : "");
  }
}

static int set_json(FILE *f, const pb_terms *l, const pb_eval *e, const pb_dataset *d, pb_err *err) {
  fprintf(f, "{\"variant\": ");
  jstr(f, d->name);
  fprintf(f, ", \"n\": %ld, \"samples\": %d,\n      \"terms\": {", e->n, d->n);
  int first = 1;
  for (int t = 0; t < l->n; t++) {
    if (!l->term[t].classes) continue; /* a value or a statistic of training: no predictions */
    fprintf(f, "%s\n        ", first ? "" : ",");
    jstr(f, l->term[t].name);
    fprintf(f, ": ");
    term_json(f, l, t, e, "        ");
    first = 0;
  }
  fprintf(f, "%s}", first ? "" : "\n      ");
  char skipped[1024] = "";
  size_t n = 0;
  if (l->n >= 1 && l->term[0].multilabel) {
    fprintf(f, ",\n      \"skipped\": {\"accuracy\": \"multi-label: precision_at_1, f2 and map in its place\", "
               "\"calibration\": \"multi-label: no single confidence per image\", \"group_accuracy\": \"multi-label\", "
               "\"bias_amplification\": \"multi-label\"%s}}",
            e->truth ? "" : ", \"f2\": \"no per-image scores (a multi-model method)\"");
    return PB_OK;
  }
  const int one = l->n >= 1 && !l->term[0].name[0] && l->term[0].classes;
  if (one && e->aligned) {
    pb_cls_counts b;
    pb_eval_bias_counts(e, &b);
    fprintf(f, ",\n      \"bias\": {\"aligned_accuracy\": ");
    jnum(f, pb_ratio(b.correct_aligned, b.n_aligned));
    fprintf(f, ", \"conflicting_accuracy\": ");
    jnum(f, pb_ratio(b.correct_conflicting, b.n_conflicting));
    fprintf(f, ", \"n_aligned\": %ld, \"n_conflicting\": %ld}", b.n_aligned, b.n_conflicting);
  } else if (one) {
    n += (size_t)snprintf(skipped + n, sizeof skipped - n,
                          "%s\"bias\": \"the data has no bias attribute ([data] bias = none)\"", n ? ", " : "");
  }
  if (!e->groups && l->n && l->term[0].classes)
    n += (size_t)snprintf(skipped + n, sizeof skipped - n,
                          "%s\"group_accuracy\": \"the data has no group / attribute (csv: [data] group_column; "
                          "npy: test_groups; idx: [data] bias)\", \"bias_amplification\": \"needs an attribute: the same\"",
                          n ? ", " : "");
  if (l->n && l->term[0].classes)
    n += (size_t)snprintf(skipped + n, sizeof skipped - n,
                          "%s\"bias_amplification_t_to_a\": \"needs predictions of the attribute (a model of it)\"",
                          n ? ", " : "");
  bounty(f, l, e, skipped, sizeof skipped, &n);
  if (!e->conf && l->n && l->term[0].classes)
    n += (size_t)snprintf(skipped + n, sizeof skipped - n,
                          "%s\"calibration\": \"no per-image confidences: a multi-model method keeps its logits "
                          "to itself\"",
                          n ? ", " : "");
  if (!e->ngroupings && l->n && l->term[0].classes)
    n += (size_t)snprintf(skipped + n, sizeof skipped - n,
                          "%s\"cell_accuracy\": \"the test data has no groupings ([data] test_group_columns)\"",
                          n ? ", " : "");
  if (e->verif) {
    fprintf(f, ",\n      \"verification\": ");
    if (pb_verif_json_write(e->verif, f, err)) return PB_ERR;
  }
  if (e->overlap)
    fprintf(f, ",\n      \"identity_overlap\": {\"train_identities\": %lld, \"identities\": %lld, \"shared\": %lld, "
               "\"rows_shared\": %lld}",
            (long long)e->overlap->ntrain_ids, (long long)e->overlap->neval_ids, (long long)e->overlap->nshared,
            (long long)e->overlap->neval_rows);
  fprintf(f, ",\n      \"skipped\": {%s}}", skipped);
  return PB_OK;
}

int pb_eval_json_write(const char *path, const pb_terms *terms, const pb_eval *const *sets, const pb_dataset *const *data,
                       int nsets, const char *checkpoint, const char *config, const char *arch, pb_err *err) {
  pb_afile a;
  if (pb_afile_open(&a, path, err)) return PB_ERR;
  FILE *f = a.f;
  fprintf(f, "{\"plumb\": \"%s\", \"checkpoint\": ", PLUMB_VERSION);
  jstr(f, checkpoint);
  fprintf(f, ", \"config\": ");
  jstr(f, config);
  fprintf(f, ", \"model\": ");
  jstr(f, arch);
  fprintf(f, ",\n  \"sets\": {");
  for (int k = 0; k < nsets; k++) {
    fprintf(f, "%s\n    ", k ? "," : "");
    jstr(f, data[k]->name);
    fprintf(f, ": ");
    if (set_json(f, terms, sets[k], data[k], err)) {
      pb_afile_abort(&a);
      return PB_ERR;
    }
  }
  fprintf(f, "\n  }\n}\n");
  return pb_afile_commit(&a, err);
}
