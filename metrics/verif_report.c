/* verif_report.c: the verification writers (verification.h): the eval.json object, the log
 * line, the identity overlap warning. Undefined figures (NaN) are JSON null and "n/a" in the
 * line; an operating point with f * N_imp < 1 says it is meaningless in both. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/verification.h"

/* An snprintf-style appender: counts everything, writes what fits. */
typedef struct out_buf {
  char *buf;
  size_t len, pos;
} out_buf;

__attribute__((format(printf, 2, 3))) static void put(out_buf *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t room = o->pos < o->len ? o->len - o->pos : 0;
  int n = vsnprintf(room ? o->buf + o->pos : NULL, room, fmt, ap);
  va_end(ap);
  if (n > 0) o->pos += (size_t)n;
}

static void num(out_buf *o, const char *name, double v, const char *fmt) {
  put(o, "\"%s\": ", name);
  if (isnan(v) || isinf(v))
    put(o, "null");
  else
    put(o, fmt, v);
}

static const char *score_name(const pb_verif_result *r) {
  return r->protocol == PB_VERIF_GIVEN_SCORES ? "given" : r->score == PB_VERIF_NEG_L2 ? "neg_l2" : "cosine";
}
static const char *protocol_name(pb_verif_protocol p) {
  return p == PB_VERIF_ALL_PAIRS ? "all_pairs" : p == PB_VERIF_PROBE_GALLERY ? "probe_gallery" : "given_scores";
}
static const char *pair_group(pb_verif_protocol p) {
  return p == PB_VERIF_ALL_PAIRS ? "each_member" : p == PB_VERIF_PROBE_GALLERY ? "probe" : "given";
}

static void points(out_buf *o, const char *name, const pb_verif_point *pt, int n) {
  put(o, "\"%s\": [", name);
  for (int i = 0; i < n; i++) {
    const pb_verif_point *p = &pt[i];
    put(o, "%s{", i ? ", " : "");
    num(o, "fpr", p->fpr, "%.17g");
    put(o, ", \"k\": %" PRId64 ", ", p->k);
    num(o, "threshold", p->threshold, "%.9g"); /* a float32 score: 9 digits are exact */
    put(o, ", ");
    num(o, "tpr", p->tpr, "%.17g");
    put(o, ", ");
    num(o, "fpr_achieved", p->fpr_achieved, "%.17g");
    put(o, ", \"n_gen_accepted\": %" PRId64 ", \"n_imp_accepted\": %" PRId64 ", \"below_resolution\": %s",
        p->n_gen_accepted, p->n_imp_accepted, p->below_resolution ? "true" : "false");
    if (p->below_resolution) put(o, ", \"note\": \"f * N_imp < 1: the operating point is meaningless\"");
    put(o, "}");
  }
  put(o, "]");
}

static void figures(out_buf *o, const pb_verif_figures *f) {
  put(o, "\"n_gen\": %" PRId64 ", \"n_imp\": %" PRId64 ", ", f->n_gen, f->n_imp);
  num(o, "auc", f->auc, "%.17g");
  put(o, ", \"auc_greater\": %" PRIu64 ", \"auc_equal\": %" PRIu64 ", ", f->auc_greater, f->auc_equal);
  num(o, "eer", f->eer, "%.17g");
}

size_t pb_verif_json(const pb_verif_result *r, char *buf, size_t len) {
  out_buf o = {buf, len, 0};
  if (len) buf[0] = 0;
  put(&o, "{\"score\": \"%s\", \"protocol\": \"%s\", \"pair_group\": \"%s\", \"scores\": \"float32\", ",
      score_name(r), protocol_name(r->protocol), pair_group(r->protocol));
  figures(&o, &r->all);
  put(&o, ", ");
  points(&o, "tpr_at_fpr", r->all.at, r->all.npoints);
  put(&o, ", \"groups\": [");
  for (int g = 0; g < r->ngroups; g++) {
    const pb_verif_group *gr = &r->group[g];
    put(&o, "%s{\"group\": %d, ", g ? ", " : "", (int)gr->id);
    figures(&o, &gr->own);
    put(&o, ", ");
    points(&o, "at_own_threshold", gr->own.at, gr->own.npoints);
    put(&o, ", ");
    points(&o, "at_global_threshold", gr->at_global, r->all.npoints);
    put(&o, "}");
  }
  put(&o, "]}");
  return o.pos;
}

int pb_verif_json_write(const pb_verif_result *r, FILE *f, pb_err *err) {
  size_t n = pb_verif_json(r, NULL, 0);
  char *s = pb_xmalloc(n + 1);
  pb_verif_json(r, s, n + 1);
  int ok = fwrite(s, 1, n, f) == n && !ferror(f);
  free(s);
  return ok ? PB_OK : pb_err_set(err, "verification: writing the JSON object failed");
}

static void val(out_buf *o, double v, const char *fmt) {
  if (isnan(v))
    put(o, "n/a");
  else
    put(o, fmt, v);
}

void pb_verif_summary(const pb_verif_result *r, char *buf, size_t len) {
  out_buf o = {buf, len, 0};
  if (len) buf[0] = 0;
  const pb_verif_figures *a = &r->all;
  put(&o, "verification %s %s: n_gen=%" PRId64 " n_imp=%" PRId64 " auc=", score_name(r), protocol_name(r->protocol),
      a->n_gen, a->n_imp);
  val(&o, a->auc, "%.6f");
  put(&o, " eer=");
  val(&o, a->eer, "%.6f");
  for (int i = 0; i < a->npoints; i++) {
    put(&o, " tpr@%g=", a->at[i].fpr);
    val(&o, a->at[i].tpr, "%.4f");
    if (a->at[i].below_resolution) put(&o, "(meaningless: f*N_imp=%.3g<1)", a->at[i].fpr * (double)a->n_imp);
  }
  if (r->ngroups > 0 && a->npoints > 0) {
    int lo = -1, hi = -1;
    for (int g = 0; g < r->ngroups; g++) {
      double t = r->group[g].at_global[0].tpr;
      if (isnan(t)) continue;
      if (lo < 0 || t < r->group[lo].at_global[0].tpr) lo = g;
      if (hi < 0 || t > r->group[hi].at_global[0].tpr) hi = g;
    }
    put(&o, " | %d groups, tpr@%g at the global threshold:", r->ngroups, a->at[0].fpr);
    if (lo < 0)
      put(&o, " n/a");
    else
      put(&o, " min %.4f (group %d) max %.4f (group %d)", r->group[lo].at_global[0].tpr, (int)r->group[lo].id,
          r->group[hi].at_global[0].tpr, (int)r->group[hi].id);
  }
}

void pb_verif_overlap_str(const pb_verif_overlap *o, char *buf, size_t len) {
  out_buf b = {buf, len, 0};
  if (len) buf[0] = 0;
  if (!o->nshared) return;
  put(&b,
      "WARNING: %" PRId64 " of %" PRId64 " evaluated identities (%" PRId64 " evaluated rows) also appear in the "
      "training set: the verification figures are optimistic; shared ids:",
      o->nshared, o->neval_ids, o->neval_rows);
  for (int64_t i = 0; i < o->nshared && i < 10; i++) put(&b, " %d", (int)o->shared[i]);
  if (o->nshared > 10) put(&b, " ... (%" PRId64 " more)", o->nshared - 10);
}
