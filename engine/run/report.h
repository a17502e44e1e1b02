/* report.h: what a run reports: the progress line at log points, the line after each epoch,
 * and per-epoch rows (and progress figures) for the writers that plug in: metrics.csv,
 * eval.json of embedding runs, TensorBoard event files with [log] tensorboard (tensorboard.h).
 * The columns follow the loss's terms: a one-term loss gives
 * train_loss, train_acc, val_*, test_* and the bias-aligned / bias-conflicting accuracies;
 * a multi-head loss gives NAME_train_loss, NAME_train_acc, ... and NAME_test_disparity per
 * head. */
#ifndef PB_REPORT_H
#define PB_REPORT_H

#include <stdio.h>

#include "engine/run/evaluate.h"

/* One epoch's figures. */
typedef struct pb_epoch_figures {
  int64_t epoch;           /* 0-based */
  int epochs;
  int64_t step;
  double lr;
  const pb_train_stats *train;
  long train_images;
  const pb_eval *val;      /* NULL without a validation set */
  int ntests;
  const pb_eval *tests[4]; /* the test sets, named test_names[k] ("test", or the variants) */
  const char *test_names[4];
  double train_seconds, wall_seconds, images_per_second, loader_wait;
  long bad_images;
} pb_epoch_figures;

/* A row as named cells, in column order: the metrics.csv columns of an epoch, or the figures
 * of a progress line. Values are the text metrics.csv holds ("nan" where a figure is missing). */
typedef struct pb_report_cells {
  int n;
  char name[1024][64]; /* terms x sets x their figures; verification: <= 16 groups per set here */
  char val[1024][32];
} pb_report_cells;

typedef struct pb_report_writer pb_report_writer;
struct pb_report_writer {
  const char *name;
  /* One row per epoch; failures to write are warnings in the log. */
  void (*epoch)(pb_report_writer *w, const pb_terms *terms, const pb_epoch_figures *f);
  /* At each progress line (NULL: the writer has no use for them): the figures of the line as
   * cells (train_loss, train_acc or NAME_train_loss / NAME_train_acc per term as trained so far
   * this epoch, lr, images_per_second) at optimizer step `step`. */
  void (*progress)(pb_report_writer *w, int64_t step, const pb_report_cells *c);
  void (*free)(pb_report_writer *w);
  void *priv;
};

#define PB_REPORT_MAX_WRITERS 4

typedef struct pb_report {
  const pb_terms *terms; /* name the figures */
  int nwriters;
  pb_report_writer *writer[PB_REPORT_MAX_WRITERS];
} pb_report;

/* A report for a run with these terms writing to run folder dir (dir NULL: log lines only). */
void pb_report_init(pb_report *rep, const pb_terms *terms, const char *dir);
void pb_report_free(pb_report *rep);
/* Adds writer w (owned by rep from now on: pb_report_free frees it). */
void pb_report_add(pb_report *rep, pb_report_writer *w);
/* The per-epoch line in the log, then every writer's row. */
void pb_report_epoch(pb_report *rep, const pb_epoch_figures *f);
/* The progress line at a log point. */
void pb_report_progress(const pb_report *rep, int64_t epoch, int epochs, int64_t batch, int64_t batches, int64_t step,
                        const pb_train_stats *s, long images_seen, double lr, double images_per_second,
                        const char *eta);
/* The evaluation figures of one set as "PREFIXloss=.. PREFIXacc=.." (one-term) or per head
 * " PREFIXNAME_loss=.. PREFIXNAME_acc=.. PREFIXNAME_disparity=.."; with bias flags the
 * aligned / conflicting accuracies follow when bias is set (one-term). Starts with a space. */
void pb_report_eval_str(const pb_terms *l, const pb_eval *e, const char *prefix, int bias, char *buf, size_t len);
/* Per-class accuracy lines of each head (plumb eval of a multi-head model). */
void pb_report_per_class(const pb_terms *l, const pb_eval *e, FILE *out);

/* The training objective per image: sum over terms of weight * loss sum, over the images. */
double pb_report_train_loss(const pb_terms *l, const pb_train_stats *s, long images);

/* f's metrics.csv row as cells (c: a large struct, allocate it). */
void pb_report_cells_of(const pb_terms *terms, const pb_epoch_figures *f, pb_report_cells *c);

/* The value of metrics.csv column `name` in f's row: 1 when the row has that column, else 0
 * (v untouched). */
int pb_report_value(const pb_terms *terms, const pb_epoch_figures *f, const char *name, double *v);

/* The metrics.csv writer (dir/metrics.csv, appended; the header when the file is new). */
pb_report_writer *pb_report_csv(const char *dir);

#endif
