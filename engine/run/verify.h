/* verify.h: verification of an embedding run ([model] embedding_dim, [train] loss = triplet):
 * after an evaluation pass has collected a set's embeddings (evaluate.h), every pair of the set
 * is scored and the figures of metrics/verification.h computed ([verify] score and fpr), per
 * group when the data has groups; the identities the set shares with the training set are
 * found and warned about (figures on identities seen in training are optimistic). The
 * per-epoch eval.json writer lives here too. */
#ifndef PB_RUN_VERIFY_H
#define PB_RUN_VERIFY_H

#include "engine/run/evaluate.h"
#include "engine/run/report.h"
#include "metrics/verification.h"

/* [verify] score and fpr as verification params: fpr[PB_VERIF_MAX_FPR] is the caller's storage
 * the params point into. nthreads: the context's. User errors name the keys. */
int pb_run_verif_params(const pb_config *cfg, int nthreads, double *fpr, pb_verif_params *p, pb_err *err);

/* At run init, for an embedding model: no test-time views; each evaluated set (val, tests)
 * holds two identities and one identity with two samples (else no pair is genuine or none an
 * impostor): errors naming the set and the counts. */
int pb_run_check_verif_sets(const pb_run *r, pb_err *err);

/* e's verification over all pairs of its rows (e->emb, labels row 0, groups) into e->verif, and
 * its identities shared with r->train into e->overlap (none when d is r->train itself). Errors
 * name the set. */
int pb_run_verify(const pb_run *r, const pb_dataset *d, pb_eval *e, pb_err *err);

/* The warning lines of the run log, once at its start: each evaluated set whose identities also
 * appear in the training set. */
void pb_run_log_overlap(const pb_run *r);

/* The eval.json writer: after each epoch, dir/eval.json (atomically replaced) holds the epoch,
 * the step and per evaluated set its size, its identity overlap with training and its
 * verification object (metrics/verification.h pb_verif_json). Sets without figures (a
 * classifier) write nothing. */
pb_report_writer *pb_report_eval_json(const char *dir);

#endif
