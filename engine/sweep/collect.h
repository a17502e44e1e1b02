/* collect.h: plumb collect: the results of a sweep's trials (or of run folders) gathered into
 * one CSV row per trial, and a summary over seeds per setting. README.md ("Sweeps and
 * collection") documents the columns. */
#ifndef PB_COLLECT_H
#define PB_COLLECT_H

#include <stdio.h>

#include "kernels/pb_common.h"

typedef struct pb_collect_opts {
  const char *const *dirs; /* sweep folders (holding manifest.csv) or run folders (metrics.csv) */
  int ndirs;
  const char *out;         /* the per-trial CSV */
  const char *summary;     /* the per-setting CSV; NULL = out less ".csv", plus "_summary.csv" */
  const char *const *metrics; /* metrics.csv columns to keep (NULL / 0 = every column) */
  int nmetrics;
} pb_collect_opts;

/* Reads every trial's run folder (the manifest's config says where: [run] out_dir / name) and
 * writes o->out and the summary atomically, after everything was read. Per trial: trial,
 * <the manifest's varied keys>, name, config, run_dir, status (complete | partial | missing:
 * the last epoch of metrics.csv against [train] epochs of the trial's config), epochs_done,
 * final_<col> (the last row's text) for every metrics.csv column but epoch, and best_<col>
 * (max; min for columns ending in _loss or _eer; nan and empty cells skipped; the text of the
 * first best row) for every column but epoch and step. Summary: the varied keys but run.seed,
 * n (trials not missing), seeds, then mean_X and std_X (sample, ddof 1; nan below 2 values) of
 * every final_ and best_ column over the setting's trials with a finite value.
 * Errors (nothing written; the message names the folder or file): a folder with neither
 * manifest.csv nor metrics.csv, a manifest whose run folders are all missing, an unreadable
 * manifest or trial config, a --metric no metrics.csv has. info (may be NULL) gets a line per
 * file written. */
int pb_collect(const pb_collect_opts *o, FILE *info, pb_err *err);

/* The rule of [run] select and of best_ above: 1 when a smaller value of column col is better
 * (its name ends in _loss or _eer), else 0. */
int pb_collect_minimised(const char *col);

/* The last row of run_dir/metrics.csv: *value = column col's number (NAN when the cell is
 * empty or not a number), *epochs = its epoch (-1 and PB_OK when there is no metrics.csv or it
 * has no rows; *value NAN then). A metrics.csv without column col is an error naming the column
 * and the columns it has. */
int pb_collect_last(const char *run_dir, const char *col, double *value, long *epochs, pb_err *err);

/* One row of a sweep's manifest.csv, its trial config resolved ([run] out_dir / name, [train]
 * epochs). */
typedef struct pb_manifest_row {
  long trial;     /* the manifest's trial number */
  char *name;     /* run name */
  char *config;   /* the trial config's path (relative to the sweep folder resolved) */
  char *run_dir;  /* [run] out_dir / name of that config */
  long epochs;    /* [train] epochs of that config */
  char **vals;    /* [nkeys] the varied keys' values */
} pb_manifest_row;

typedef struct pb_manifest {
  int nkeys;
  char **keys;    /* the varied keys (the columns between trial and name) */
  int n;
  pb_manifest_row *rows;
} pb_manifest;

/* Reads dir/manifest.csv (plumb sweep's) and every trial config it names into m (zeroed
 * first; pb_manifest_free it also after a failure). Errors name the manifest (and line): no
 * manifest.csv, a bad header, a row of the wrong width, an unreadable trial config, no rows. */
int pb_manifest_load(pb_manifest *m, const char *dir, pb_err *err);
void pb_manifest_free(pb_manifest *m);

#endif
