/* dataset.h: the one dataset interface every source fills (IDX, image folders, CSV manifests,
 * .npy arrays): in-memory images (uint8, N x C x H x W), image files decoded per sample, or
 * float features, with labels and, for the bias-injected variants, each sample's bias
 * attribute and whether it is bias-aligned. Plus what works on any dataset: freeing, taking
 * a subset, and the per-epoch sample order. The sources are in loaders/sources.h and
 * loaders/idx.h, bias injection in loaders/bias.h, loading a train/val/test triple from
 * plain parameters in loaders/load.h. */
#ifndef PB_DATASET_H
#define PB_DATASET_H

#include <stdint.h>

#include "kernels/pb_common.h"

/* Where a sample's data is: kind of pb_dataset. */
enum {
  PB_DATA_U8 = 0, /* images in memory: images [n, c, h, w] (IDX, bias-injected) */
  PB_DATA_FILES,  /* image files decoded per sample: paths [n] (image sequences: [n * frames]);
                     c, h, w = the augmented output (of one frame) */
  PB_DATA_F32,    /* float32 features in memory: feats [n, c, h, w] ([N,D]: c = D, h = w = 1;
                     [N,T,D]: c = 1, h = T, w = D) */
};

/* Bound of the group ids of .npy data: ids are small integers (identity groups, attributes);
 * a larger one is a wrong file, not a group. */
#define PB_DATA_GROUP_BOUND (1 << 20)

/* Most groupings a dataset carries (test_group_columns). */
#define PB_DATA_MAX_GROUPINGS 16

/* A sample is fetched (copied or decoded) and augmented into a fixed-size output by the
 * worker pool (loaders/pool.h). */
typedef struct pb_dataset {
  char name[16];     /* "train", "val", "test" */
  int kind;          /* PB_DATA_* */
  int n, c, h, w;
  uint8_t *images;   /* U8: n*c*h*w, owned */
  float *feats;      /* F32: n*c*h*w, owned */
  char **paths;      /* FILES: n file paths, owned; image sequences (frames > 0): n * frames,
                        frame t of sample i at paths[i * frames + t], NULL for t >= lengths[i] */
  int frames;        /* image sequences (csv manifests with [data] track_column): T, the frames a
                        sample holds; 0 = not a sequence. Kind FILES; c, h, w are one decoded
                        frame's shape; lengths [n] in 1..T is set. A sample is frames * c * h * w
                        bytes, [T, c, h, w]: frame t at t * c * h * w; the frames past its length
                        are zero bytes. Every frame goes through the sample's augmentation with the
                        sample's draws (one crop and flip for the whole track); a frame that cannot
                        be decoded makes the whole sample bad. */
  int nheads;        /* label columns (CSV manifests); labels = column 0 */
  int32_t *heads;    /* n*nheads, or NULL when nheads <= 1; -1 = missing (multi-head models) */
  int multi_k;       /* multi-label: classes of the multi-hot rows, else 0 */
  uint8_t *multi;    /* n*multi_k multi-hot, or NULL */
  char **class_names; /* num_classes names (folders, CSV names), or NULL */
  int32_t *labels;   /* n, in [0, num_classes) */
  int32_t *groups;   /* n bias attributes (inversion: 0/1; colour: colour index), group column
                        values (csv), group ids in [0, PB_DATA_GROUP_BOUND) (npy: [data]
                        *_groups or group_column), or NULL */
  int ngroupings;    /* groupings of the cell-averaged accuracy (metrics/cells.h), else 0 */
  int32_t *groupings; /* [n, ngroupings] row-major: group ids >= 0 from the test manifest's
                         [data] test_group_columns (ImageNet-9's texture clusters), or NULL */
  uint8_t *aligned;  /* n: 1 when the attribute is the one correlated with the label; NULL without bias */
  int32_t *lengths;  /* n sequence lengths in 1..h (F32 [N, T, D] data with [data] *_lengths), in
                        1..frames (image sequences), or NULL: every sample has h = T steps; steps
                        past a length are zeros */
  int num_classes;
} pb_dataset;

/* Elements of one sample: c * h * w, times frames for image sequences (bytes for U8 / FILES,
 * floats for F32). */
size_t pb_dataset_sample_elems(const pb_dataset *d);

/* The file path that names sample i: its image, or for an image sequence its first frame's; ""
 * for in-memory data. */
const char *pb_dataset_path(const pb_dataset *d, int i);

/* Frees everything d owns and zeroes it; d may be NULL or zeroed already. */
void pb_dataset_free(pb_dataset *d);
/* Copies samples idx[0..n) of src into dst (any kind; dst is overwritten, not freed first;
 * idx values in [0, src->n)). Cannot fail (allocation failure aborts). */
void pb_dataset_take(pb_dataset *dst, const pb_dataset *src, const int32_t *idx, int n, const char *name);

/* Order of the samples for an epoch: perm [n] becomes a permutation of [0, n) that depends
 * only on (seed, epoch) (identity when shuffle is 0). */
void pb_data_order(int32_t *perm, int n, uint64_t seed, int64_t epoch, int shuffle);

#endif
