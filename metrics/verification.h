/* verification.h: face / re-identification verification figures over embeddings, as pure
 * functions over host arrays: TPR at given FPRs (exact operating points), ROC AUC and EER, over
 * all pairs and per group (bias), plus the train / evaluation identity overlap warning and the
 * eval.json / log writers. Implementation: verification.c (pairs, scores, blocks),
 * verif_select.c (the exact selection over float bits), verif_report.c (JSON, log line).
 *
 * Definitions (REFERENCES.md, "Metric learning and verification"). Scores are "higher = more
 * similar". A pair is genuine when both rows have the same identity label, impostor otherwise.
 * - TPR at FPR f: with N_imp impostor scores, k = floor(f * N_imp) (IEEE double product) impostors
 *   are accepted at most; the threshold t is the (k+1)-th largest impostor score; TPR = the
 *   fraction of genuine scores > t (a genuine score equal to t is rejected); the achieved FPR is
 *   (impostors > t) / N_imp <= f. When f * N_imp < 1 (k = 0, t = the best impostor) the point says
 *   only which genuine pairs beat every impostor: `below_resolution` is set and every writer says
 *   so. FPR = 1e-6 needs N_imp >= 1e6.
 * - ROC AUC = P(genuine score > impostor score) + 1/2 P(equal), over all N_gen * N_imp pairs of
 *   pairs (the Mann-Whitney statistic; equals sklearn.metrics.roc_auc_score). Counted exactly in
 *   integers (auc_greater, auc_equal); auc = (2 greater + equal) / (2 N_gen N_imp), both
 *   integers exact, divided in double (relative error < 4e-16).
 * - EER: the ROC curve is the polyline through (0, 0) and, for every distinct score v in
 *   decreasing order, (FPR(v), TPR(v)) with FPR(v) = (impostors >= v) / N_imp and TPR(v) =
 *   (genuine >= v) / N_gen (sklearn roc_curve's points, drop_intermediate=False). Along it
 *   FPR + TPR increases strictly, so it crosses FPR = 1 - TPR exactly once: on the segment
 *   P0 -> P1 with s0 = x0 + y0 - 1 < 0 <= s1 = x1 + y1 - 1, at lambda = -s0 / (s1 - s0);
 *   eer = x0 + lambda (x1 - x0) (= 1 - TPR there). The segment is chosen in exact integers.
 * - Scores are float32. Cosine: rows normalised (norm in double, rows rounded to float32), then
 *   a float32 GEMM (pb_sgemm_cpu): |error| ~ a few ulp * sqrt(D), e.g. <= 1e-6 at D 512 typical.
 *   Negative L2: -sqrtf(max(|a|^2 + |b|^2 - 2 a.b, 0)) from the same GEMM in float32 (absolute
 *   error ~ 1e-7 * (|a|^2 + |b|^2) before the root: near-duplicates lose resolution). Every
 *   figure is exact for the float32 scores that pb_verif_score_matrix returns, bit for bit the
 *   ones evaluated: the GEMM runs over a fixed grid of blocks, so results do not depend on the
 *   number of threads.
 * - Groups (bias): each row may carry a group id (>= 0; negative = no group). In the
 *   probe x gallery protocol a pair's group is the PROBE's group. In the all-pairs protocol a pair
 *   has no probe: it counts in the group of each of its two rows (once when they share it), so
 *   group figures there are "the pairs involving a member of the group" and group counts can sum
 *   to more than the totals. Per group: the same figures at the group's own thresholds, and TPR /
 *   achieved FPR of the group's pairs at the global thresholds (computed on all impostors).
 *
 * Cost: two passes over the pairs (the second recomputes the blocks instead of storing N_imp
 * scores): pass 1 histograms the top 16 bits of every impostor score key and keeps the genuine
 * keys; pass 2 resolves the low 16 bits in the few buckets that hold a threshold or the EER
 * crossing, and counts the AUC comparisons inside buckets that hold genuine keys. No sort of
 * impostor scores. Memory: a float32 copy of the evaluated rows, (1 + groups) x 512 KiB of
 * histogram per thread, and up to ~50 bytes per genuine pair and scope it is in (keys, prefix
 * tables); nothing grows with N_imp. 1e8 pairs at D 128 take ~2 CPU-seconds
 * (scripts/bench/bench_verification.sh). */
#ifndef PB_METRICS_VERIFICATION_H
#define PB_METRICS_VERIFICATION_H

#include <stdint.h>
#include <stdio.h>

#include "kernels/pb_common.h"

#define PB_VERIF_MAX_FPR 16
#define PB_VERIF_MAX_GROUPS 64

typedef enum pb_verif_score { PB_VERIF_COSINE = 0, PB_VERIF_NEG_L2 = 1 } pb_verif_score;
typedef enum pb_verif_protocol {
  PB_VERIF_ALL_PAIRS = 0,     /* every pair i < j of one set */
  PB_VERIF_PROBE_GALLERY = 1, /* every probe against every gallery row */
  PB_VERIF_GIVEN_SCORES = 2   /* pb_verif_eval_scores: pairs and scores given */
} pb_verif_protocol;

/* The rows to evaluate: emb [n, d] row-major float32, label [n] identities (>= 0), group [n]
 * (NULL: no groups; negative: the row is in no group). Borrowed, read-only. */
typedef struct pb_verif_data {
  const float *emb;
  const int32_t *label;
  const int32_t *group;
  int64_t n;
  int d;
} pb_verif_data;

/* Which pairs. ALL_PAIRS: rows a[0..na) (a NULL: rows 0..n-1, na ignored), pairs (a[i], a[j])
 * for i < j. PROBE_GALLERY: probes a[0..na), gallery b[0..nb) (both required), every (probe,
 * gallery) pair. In both, a pair of a row with itself (the same row listed twice, or in both
 * sets) is no pair and is skipped. */
typedef struct pb_verif_pairs {
  pb_verif_protocol protocol;
  const int64_t *a;
  int64_t na;
  const int64_t *b;
  int64_t nb;
} pb_verif_pairs;

typedef struct pb_verif_params {
  pb_verif_score score;
  const double *fpr; /* [nfpr] operating points, each in (0, 1); NULL or nfpr 0: the default
                        {1e-3, 1e-4, 1e-5, 1e-6} */
  int nfpr;          /* <= PB_VERIF_MAX_FPR */
  int nthreads;      /* OpenMP threads; <= 0: omp_get_max_threads() */
  int64_t list_max;  /* tuning / tests: a pass-2 bucket holding more impostors than this is
                        resolved with a dense 2^16 histogram instead of a list; 0: 2^17 */
} pb_verif_params;

/* One operating point. For a group at the global thresholds, threshold / k are the global ones
 * and tpr / fpr_achieved are the group's pairs' figures there. */
typedef struct pb_verif_point {
  double fpr;             /* the f asked for */
  int64_t k;              /* floor(f * N_imp): impostors accepted at most */
  double threshold;       /* t (a float32 score, widened); NaN when undefined */
  double tpr;             /* n_gen_accepted / N_gen; NaN when N_gen = 0 */
  double fpr_achieved;    /* n_imp_accepted / N_imp; NaN when N_imp = 0 */
  int64_t n_gen_accepted; /* genuine scores > t */
  int64_t n_imp_accepted; /* impostor scores > t */
  int below_resolution;   /* f * N_imp < 1: the point is meaningless (or N_imp = 0) */
} pb_verif_point;

/* The figures of one set of pairs. A figure that is undefined (a group without genuine or
 * without impostor pairs) is NaN; the writers print null / "n/a". */
typedef struct pb_verif_figures {
  int64_t n_gen, n_imp;
  uint64_t auc_greater, auc_equal; /* (genuine, impostor) pairs of pairs with gen > imp, gen == imp */
  double auc, eer;
  int npoints;
  pb_verif_point at[PB_VERIF_MAX_FPR]; /* at the set's own thresholds, in the order asked */
} pb_verif_figures;

typedef struct pb_verif_group {
  int32_t id; /* the group id as given */
  pb_verif_figures own;
  pb_verif_point at_global[PB_VERIF_MAX_FPR]; /* the group's pairs at the global thresholds */
} pb_verif_group;

typedef struct pb_verif_result {
  pb_verif_score score;
  pb_verif_protocol protocol;
  pb_verif_figures all;
  int ngroups;
  pb_verif_group *group; /* [ngroups] in increasing id, owned: pb_verif_result_free */
} pb_verif_result;

/* Evaluates the pairs of x chosen by pairs with score p->score. Fills *out (its previous
 * content is ignored; free it with pb_verif_result_free, also after a failure). Returns PB_OK,
 * or PB_ERR with err naming what was wrong: fewer than 2 rows (all pairs) or an empty probe /
 * gallery set, an index out of range, a negative identity label, a non-finite embedding value, a
 * zero-norm row with the cosine score (a row the L2 score would overflow), no genuine pair, no
 * impostor pair, more than PB_VERIF_MAX_GROUPS groups, an FPR outside (0, 1), N_gen * N_imp >=
 * 2^62. No figure of a successful call on the whole set is NaN. Uses up to p->nthreads threads
 * and sets OpenBLAS to one thread (pb_cpu_blas_init). */
int pb_verif_eval(const pb_verif_data *x, const pb_verif_pairs *pairs, const pb_verif_params *p,
                  pb_verif_result *out, pb_err *err);

/* The same figures from pairs whose scores are given: score [n] (finite float32), genuine [n]
 * (non-zero: genuine), group [n] the pair's group (NULL: none; negative: in no group). For
 * scores computed elsewhere (a GPU, another tool). Same errors and ownership as pb_verif_eval. */
int pb_verif_eval_scores(const float *score, const uint8_t *genuine, const int32_t *group, int64_t n,
                         const pb_verif_params *p, pb_verif_result *out, pb_err *err);

/* The scores pb_verif_eval evaluates, bit for bit: out [na, nb] (PROBE_GALLERY: probe i against
 * gallery j) or [na, na] (ALL_PAIRS: entries j > i, the rest set to 0), row-major, caller-owned.
 * Self pairs are computed like any other. Same input errors as pb_verif_eval (pair counts are
 * not checked). For tests and for dumping the scores of small sets. */
int pb_verif_score_matrix(const pb_verif_data *x, const pb_verif_pairs *pairs, const pb_verif_params *p, float *out,
                          pb_err *err);

void pb_verif_result_free(pb_verif_result *r); /* NULL is fine; leaves *r zeroed */

/* ------------------------------------------------------------------ identity overlap */

/* Identities seen in training that are also evaluated: with them the verification figures are
 * optimistic (the seed 004 author got near-100% TPR from exactly this). */
typedef struct pb_verif_overlap {
  int64_t ntrain_ids, neval_ids; /* distinct identities on each side */
  int64_t nshared;
  int32_t *shared;               /* [nshared] ascending, owned: pb_verif_overlap_free */
  int64_t neval_rows;            /* evaluated rows whose identity is shared */
} pb_verif_overlap;

/* train [ntrain], eval [neval]: identity labels (any int32). Cannot fail (allocation failure
 * aborts). */
void pb_verif_overlap_find(const int32_t *train, int64_t ntrain, const int32_t *eval, int64_t neval,
                           pb_verif_overlap *out);
void pb_verif_overlap_free(pb_verif_overlap *o);
/* One warning line (no newline), "" when nothing is shared: how many identities and rows, the
 * first ids. */
void pb_verif_overlap_str(const pb_verif_overlap *o, char *buf, size_t len);

/* ------------------------------------------------------------------ writers (verif_report.c) */

/* r as one JSON object (the "verification" value of eval.json): score ("cosine", "neg_l2", or
 * "given" for pb_verif_eval_scores), protocol ("all_pairs", "probe_gallery", "given_scores"),
 * pair_group ("each_member", "probe", "given": how a pair's group is decided), scores ("float32"),
 * n_gen, n_imp, auc, eer, tpr_at_fpr [{fpr, k, threshold, tpr, fpr_achieved, n_gen_accepted,
 * n_imp_accepted, below_resolution, note?}], groups [{group, n_gen, n_imp, auc, eer,
 * at_own_threshold [...], at_global_threshold [...]}]; NaN as null; doubles with 17 digits.
 * snprintf's contract: writes at most len bytes (NUL-terminated when len > 0) and returns the
 * length of the whole object. */
size_t pb_verif_json(const pb_verif_result *r, char *buf, size_t len);
/* The same object to f; PB_ERR with err on a write error. */
int pb_verif_json_write(const pb_verif_result *r, FILE *f, pb_err *err);
/* One log line (no newline): "verification cosine probe_gallery: n_gen=.. n_imp=.. auc=..
 * eer=.. tpr@0.001=.. ..." with "(f*N_imp<1: meaningless)" after such points, then the spread of
 * the first point's TPR over the groups at the global threshold. Truncated to len. */
void pb_verif_summary(const pb_verif_result *r, char *buf, size_t len);

#endif
