/* load.h: loading the train / validation / test datasets of a run from plain parameters (the
 * engine fills them from the config: engine/run/data.h): dispatch over the sources (IDX files,
 * image folders, CSV manifests, .npy arrays), bias injection for IDX data, and the seeded
 * validation split. */
#ifndef PB_LOAD_H
#define PB_LOAD_H

#include <stdint.h>

#include "loaders/bias.h"
#include "loaders/dataset.h"

/* [data] dataset */
enum { PB_SOURCE_IDX = 0, PB_SOURCE_FOLDER, PB_SOURCE_CSV, PB_SOURCE_NPY };

#define PB_DATA_MAX_HEADS 16

/* One head of a multi-head model: it reads the CSV label column of its name. */
typedef struct pb_data_head {
  char name[32];
  int classes;   /* bound of its integer labels */
} pb_data_head;

/* Everything loading reads. Strings are borrowed (they must outlive pb_data_load), never NULL:
 * "" for empty. File names are relative to dir. */
typedef struct pb_data_params {
  int source;                /* PB_SOURCE_* */
  const char *dir;
  /* idx: IDX files (optionally gzipped), the first limit_* samples (0 = all; npy too), bias */
  const char *train_images, *train_labels, *test_images, *test_labels;
  long limit_train, limit_test;
  pb_bias_params bias;       /* kind != PB_BIAS_NONE needs PB_SOURCE_IDX */
  /* folder: class-folder roots; csv: manifests; npy: feature arrays */
  const char *train_path, *test_path;
  const char *train_targets, *test_targets; /* npy: labels, an integer .npy or a .csv */
  const char *train_lengths, *test_lengths; /* npy [N, T, D]: sequence lengths, an integer .npy [N]
                                               in 1..T ("" = every sample has T steps) */
  const char *train_groups, *test_groups;   /* npy: group ids, an integer .npy [N] in
                                               [0, PB_DATA_GROUP_BOUND) ("" = none; each split on its
                                               own); not with group_column */
  /* csv (label_columns and group_column also npy with .csv targets: its label column, "" = the
   * last, and its group column) */
  const char *image_root;    /* the manifests' paths are relative to dir/image_root */
  const char *path_column, *label_columns, *group_column, *path_suffix;
  const char *test_group_columns; /* csv: groupings read from the test manifest alone ("" = none;
                                     any other source is an error) */
  int multilabel;
  const char *track_column;  /* csv image sequences: the track id column ("" or NULL = not sequences) */
  const char *frame_column;  /* its frame number column ("" or NULL = "frame") */
  int max_frames;            /* frames a track may have, T (0 = the training manifest's longest) */
  int channels;              /* folder, csv: channels the images are decoded to */
  int size;                  /* folder, csv: output height = width ([augment] size); must be > 0 */
  double val_split;          /* fraction of the training set held out for validation (of the tracks
                                of image sequences, as limit_train / limit_test) */
  int num_classes;           /* [model] num_classes: bound of the labels */
  int nheads;                /* csv, multi-head models ([model] heads): 0 = a single label */
  pb_data_head heads[PB_DATA_MAX_HEADS];
  uint64_t seed;             /* the run's seed: bias injection and the validation split */
} pb_data_params;

/* Loads p's training set, its validation split (val->n == 0 when val_split = 0) and test set,
 * with the bias injected. train, val, test are overwritten (zeroed first); on error all three
 * are left empty. Errors name the file and what is wrong, and the [section] key of the
 * parameter at fault. */
int pb_data_load(const pb_data_params *p, pb_dataset *train, pb_dataset *val, pb_dataset *test, pb_err *err);

/* Multi-head models: label_columns must be empty or name exactly the heads (any order);
 * the manifest's columns are then read in head order, an empty cell as a missing label (-1). */
int pb_data_heads_columns(const char *label_columns, const pb_data_head *heads, int nh, pb_err *err);

#endif
