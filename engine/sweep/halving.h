/* halving.h: plumb halve: successive halving over the trials of a sweep folder (plumb sweep).
 *
 * Round 0 trains every trial of DIR/manifest.csv to R (min_epochs) epochs. After a round, the
 * last metrics.csv row's value of the metric column ranks its trials (larger is better; smaller
 * for a column ending in _loss or _eer, as [run] select and plumb collect; nan ranks last; ties:
 * the smaller trial number) and the best ceil(n / eta) of its n trials that did not fail go on
 * to round k + 1, trained to min(R eta^k, E) epochs, or to E when a single trial is left. A round
 * trained to E epochs, or with a single trial, is the last one. E (max_epochs) defaults to the
 * largest [train] epochs of the trial configs.
 *
 * The state is DIR/halving/state.csv: one row per finished trial and round
 * (round,trial,epochs,value,status,metric,eta,min_epochs,max_epochs; status trained while its
 * round is open, then kept or dropped; failed for a trial whose training failed), written
 * atomically after every change. Reopening a folder with state continues where it stopped.
 * The training itself is the caller's (engine/cli/cmd_halve.c). */
#ifndef PB_HALVING_H
#define PB_HALVING_H

#include <stdio.h>

#include "engine/sweep/collect.h"
#include "kernels/pb_common.h"

typedef struct pb_halve_row {
  int round;
  int t;         /* index into m.rows */
  long epochs;   /* the epochs metrics.csv's last row says it reached */
  double value;  /* the metric there (NAN: none) */
  char status[8]; /* trained | kept | dropped | failed */
} pb_halve_row;

typedef struct pb_halve {
  char *dir, *metric, *state_path;
  int eta;
  long r, e;
  pb_manifest m;
  int n, cap;
  pb_halve_row *rows;
} pb_halve;

/* Loads dir's manifest and trial configs and dir/halving/state.csv when there is one. e = 0:
 * the largest [train] epochs of the trials. Errors (h still to be freed): no manifest, eta < 2,
 * r < 1, r > e, a state file written with another metric, eta, min_epochs or max_epochs (the
 * message names the state file), an unreadable state file. */
int pb_halve_open(pb_halve *h, const char *dir, const char *metric, int eta, long r, long e, pb_err *err);
void pb_halve_free(pb_halve *h);

/* The current round: closes every complete round (ranks it, marks kept / dropped, saves) and
 * records, without training, the trials of the current round whose run already reached its
 * epochs. Returns 1 with *round, *epochs and todo[0..*ntodo) (indices into m.rows, todo holds
 * m.n) the trials still to train; 0 when the halving is over; PB_ERR (-1) on an error (every
 * trial of a round failed, a metrics.csv without the metric column, a state write). */
int pb_halve_next(pb_halve *h, int *round, long *epochs, int *todo, int *ntodo, pb_err *err);

/* Records trial t of round as finished: ok = its training exited 0 and its metrics.csv reached
 * epochs (else failed), value from its last row; saves the state. Errors: the metric column is
 * missing (named, with the columns there are), a state write. */
int pb_halve_record(pb_halve *h, int round, int t, long epochs, int ok, pb_err *err);

/* The ranking, best first: each trial by the last round it reached (later first), failed last,
 * then its value there. Printed to out (a table) and written atomically to
 * dir/halving/result.csv (rank,trial,<keys>,name,value,epochs,round,status). */
int pb_halve_result(const pb_halve *h, FILE *out, pb_err *err);

#endif
