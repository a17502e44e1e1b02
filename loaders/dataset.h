/* dataset.h: in-memory image datasets (uint8, N x C x H x W) with labels and, for the
 * bias-injected variants, each sample's bias attribute and whether it is bias-aligned.
 * Loaded from IDX files (MNIST / Fashion-MNIST); bias injection is generated from the run's
 * seed, so the same config always gives the same data. */
#ifndef PB_DATASET_H
#define PB_DATASET_H

#include <stdint.h>

#include "engine/config.h"

/* Where a sample's data is: kind of pb_dataset. */
enum {
  PB_DATA_U8 = 0, /* images in memory: images [n, c, h, w] (IDX, bias-injected) */
  PB_DATA_FILES,  /* image files decoded per sample: paths [n]; c, h, w = the augmented output */
  PB_DATA_F32,    /* float32 features in memory: feats [n, c, h, w] ([N,D]: c = D, h = w = 1;
                     [N,T,D]: c = 1, h = T, w = D) */
};

/* The one dataset interface every source (IDX, image folders, CSV manifests, .npy) fills:
 * a sample is fetched (copied or decoded) and augmented into a fixed-size output by the
 * worker pool (loaders/pool.h). */
typedef struct pb_dataset {
  char name[16];     /* "train", "val", "test" */
  int kind;          /* PB_DATA_* */
  int n, c, h, w;
  uint8_t *images;   /* U8: n*c*h*w, owned */
  float *feats;      /* F32: n*c*h*w, owned */
  char **paths;      /* FILES: n file paths, owned */
  int nheads;        /* label columns (CSV manifests); labels = column 0 */
  int32_t *heads;    /* n*nheads, or NULL when nheads <= 1; -1 = missing (multi-head models) */
  int multi_k;       /* multi-label: classes of the multi-hot rows, else 0 */
  uint8_t *multi;    /* n*multi_k multi-hot, or NULL */
  char **class_names; /* num_classes names (folders, CSV names), or NULL */
  int32_t *labels;   /* n, in [0, num_classes) */
  int32_t *groups;   /* n bias attributes (inversion: 0/1; colour: colour index), or NULL */
  uint8_t *aligned;  /* n: 1 when the attribute is the one correlated with the label; NULL without bias */
  int num_classes;
} pb_dataset;

/* Loads [data]: train, optional validation split (val->n == 0 when val_split = 0) and test,
 * with the configured bias injected. Errors name the file and what is wrong. */
int pb_data_load(const pb_config *cfg, uint64_t seed, pb_dataset *train, pb_dataset *val, pb_dataset *test,
                 pb_err *err);
void pb_dataset_free(pb_dataset *d);
/* Multi-head models: [data] label_columns must be empty or name exactly the heads (any order);
 * the manifest's columns are then read in head order, an empty cell as a missing label (-1). */
struct pb_head;
int pb_data_heads_columns(const char *label_columns, const struct pb_head *heads, int nh, pb_err *err);
/* Copies samples idx[0..n) of src into dst (any kind). */
void pb_dataset_take(pb_dataset *dst, const pb_dataset *src, const int32_t *idx, int n, const char *name);

/* Order of the samples for an epoch: a permutation of [0, n) that depends only on
 * (seed, epoch) (identity when shuffle is 0). */
void pb_data_order(int32_t *perm, int n, uint64_t seed, int64_t epoch, int shuffle);

/* Per-channel normalisation from [data] mean/std (one value, or one per channel). */
typedef struct pb_norm {
  float mean[8], std[8];
} pb_norm;
int pb_data_norm(const pb_config *cfg, int channels, pb_norm *out, pb_err *err);

#endif
