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

#endif
