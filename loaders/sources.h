/* sources.h: datasets of image files and feature arrays, filling the pb_dataset interface:
 * image folders (ImageNet style), CSV manifests, and .npy arrays. Errors in the listings
 * themselves (a CSV row with the wrong number of columns, an unknown label, a path that
 * leaves the image root) name the file and line; bad image files are found later, when a
 * worker decodes them (loaders/pool.h), and are skipped and counted there. */
#ifndef PB_SOURCES_H
#define PB_SOURCES_H

#include "loaders/dataset.h"

/* Label vocabularies of a training manifest, reused for its test manifest so that ids agree.
 * One per label column, plus the group column. */
typedef struct pb_vocab {
  int ncols;
  int numeric[16];   /* 1: the column holds integer ids; 0: names, ids from sorted names */
  int count[16];
  char **names[16];  /* sorted names (when not numeric) */
} pb_vocab;
void pb_vocab_free(pb_vocab *v);

/* root/<class>/<file>: one sub-folder per class, class ids from the sorted folder names,
 * files sorted by name (hidden entries skipped; every other regular file is a sample, so a
 * non-image file is found and counted when decoded). classes: the training set's class
 * names to map a test folder onto (NULL for the training set). */
int pb_data_folder(pb_dataset *d, const char *name, const char *root, const pb_dataset *classes, pb_err *err);

typedef struct pb_csv_opts {
  const char *path_column;   /* "" = the first column */
  const char *label_columns; /* comma-separated header names; "" = the second column */
  const char *group_column;  /* "" = none */
  int multilabel;            /* label column 1 holds space-separated labels (names or ids) */
  const char *path_suffix;   /* appended to every path (Kaggle ids without extension) */
  int num_classes;           /* [model] num_classes: bound of integer labels */
  const char *group_columns; /* comma-separated header names of groupings (pb_dataset groupings:
                                integer group ids >= 0, outside the vocabularies); the engine sets
                                them for the test manifest only; NULL or "" = none */
  const char *group_columns_key; /* the [data] key the groupings' errors name; NULL = test_group_columns */
  /* Image sequences: NULL or "" = off. One row per frame; the rows of a track (any string in
   * this column) become one sample of d->frames paths (dataset.h), in the order of the tracks'
   * first rows, their frames sorted by the integer frame column. */
  const char *track_column;
  const char *frame_column;  /* NULL or "" = "frame" */
  int max_frames;            /* T; 0 = the longest track of this file; a longer track is an error */
  int max_frames_key;        /* [data] max_frames as configured (messages name it) */
} pb_csv_opts;

/* A CSV manifest with a header row; image paths relative to root (never absolute, never
 * through ".."). With o->track_column, rows are frames of tracks: every row of a track carries
 * the same labels and group, and a frame number appears once per track. vocab: filled from this file when vocab->ncols == 0 (the training set),
 * else used to map this file's labels (test set; a label it lacks is an error). Errors name the
 * file and line, and the [data] key of a column that is missing or holds a bad value. */
int pb_data_csv(pb_dataset *d, const char *name, const char *csv, const char *root, const pb_csv_opts *o,
                pb_vocab *vocab, pb_err *err);
/* The same for multi-head models ([model] heads): bounds[v] bounds the integer labels of label
 * column v, and an empty label cell is a missing label (id -1) instead of an error. */
int pb_data_csv_heads(pb_dataset *d, const char *name, const char *csv, const char *root, const pb_csv_opts *o,
                      const int *bounds, pb_vocab *vocab, pb_err *err);

/* The CSV reading the manifests use, for other readers of CSV listings (loaders/unlabelled.h):
 * pb_csv_read_text returns the whole file NUL-terminated (free it; NULL with err naming the
 * path when it cannot be read); pb_csv_next_row splits the next line at *p in place into
 * fields[0..cap) (quotes "..." with "" escapes) and returns the number of fields (may exceed
 * cap), 0 at the end of the text, -1 for an unterminated quote. */
char *pb_csv_read_text(const char *path, pb_err *err);
int pb_csv_next_row(char **p, char **fields, int cap);

/* feats: a float32 .npy of [N, D] or [N, T, D]; labels: a .npy of integers [N] or a CSV with
 * a header whose column `label_column` ("" = the last) holds integer labels. group_column
 * (NULL or "" = none; [data] group_column): a column of that CSV holding each row's group id,
 * an integer in [0, PB_DATA_GROUP_BOUND), into d->groups; with a .npy of labels it is an error.
 * Errors name the file, and the row or line and value at fault. */
int pb_data_npy(pb_dataset *d, const char *name, const char *feats, const char *labels, const char *label_column,
                const char *group_column, int num_classes, pb_err *err);

/* Reads a .npy array (little-endian f4, i1/u1, i4, i8; C order) as float32 or int32 values. */
typedef struct pb_npy {
  int ndim;
  long dims[4];
  float *f32;   /* for float files */
  int32_t *i32; /* for integer files */
} pb_npy;
int pb_npy_read(pb_npy *out, const char *path, pb_err *err);
void pb_npy_free(pb_npy *x);

#endif
