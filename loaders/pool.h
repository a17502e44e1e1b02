/* pool.h: the loader: a persistent pool of worker threads that fetch (copy or decode) and
 * augment samples into whole batches, kept in a bounded queue of ready batches (in pinned
 * memory when the caller supplies a pinned allocator, so a GPU copy needs no extra pass).
 *
 * Batches come out in order; batch b of an epoch holds samples order[b*batch ...] and its
 * contents depend only on (dataset, order, seed, epoch, b): never on the number of workers or
 * their timing, so runs are reproducible and resume is exact. A sample whose file cannot be
 * decoded is left out of its batch and counted (its message travels with the batch, for the
 * caller to log), or, with fail_on_bad, the batch is marked failed. Workers never exit the
 * process and block SIGINT, SIGTERM, SIGUSR1 and SIGHUP (the main thread handles them). pb_loader_stop abandons
 * an epoch at any point; pb_loader_free joins the threads and frees everything. */
#ifndef PB_POOL_H
#define PB_POOL_H

#include <stdint.h>

#include "loaders/augment.h"
#include "loaders/dataset.h"

#define PB_BATCH_MSGS 4

typedef struct pb_batch {
  int64_t index;      /* batch number in the epoch */
  int n;              /* samples delivered (bad ones left out) */
  int views;          /* images per sample in u8: 1, or the test-time views (pb_aug views) */
  uint8_t *u8;        /* U8 / FILES datasets: [n * views, c, h, w], sample i's views at rows
                         i*views .. i*views + views - 1; image sequences (dataset frames = T):
                         [n, T, c, h, w], zero bytes past each sample's length */
  float *f32;         /* F32 datasets: [n, c, h, w] (the same memory as u8) */
  int32_t *y;         /* [n] labels (in the same allocation as u8: pinned with it) */
  int32_t *heads;     /* multi-head labels, HEAD-MAJOR: head h's label of sample i at
                         heads[h * max_batch + i], -1 = missing; max_heads rows (pinned with u8;
                         NULL when the loader was made with max_heads = 0). Multi-label data
                         (dataset multi): row c is 1 where sample i has label c, else 0 */
  int32_t *groups;    /* [n] group / attribute ids (dataset groups, else -1) */
  int32_t *lengths;   /* [n] sequence lengths (dataset lengths, else the dataset's h = T) */
  uint8_t *aligned;   /* [n] bias-aligned flags (dataset aligned, else 0) */
  int32_t *sample;    /* [n] dataset indices */
  int nbad;           /* samples left out as bad */
  int nmsg;           /* messages kept of them (at most PB_BATCH_MSGS) */
  char msg[PB_BATCH_MSGS][600];
  int failed;         /* fail_on_bad and a bad sample: msg[0] names it */
} pb_batch;

typedef struct pb_loader_opts {
  int workers;               /* threads, >= 1 */
  int depth;                 /* batches the queue holds, >= 3 */
  int max_batch;             /* largest batch to be requested */
  int max_views;             /* largest pb_aug views to be requested (0 = 1) */
  size_t max_sample_bytes;   /* largest pb_dataset_sample_elems (u8), times 4 (f32), of the datasets used */
  int reduced_dct;           /* let TurboJPEG decode JPEGs at 1/2..1/8 scale when the target allows */
  int convert_channels;      /* convert stored grey/RGB/RGBA to the wanted channels */
  int fail_on_bad;           /* a bad sample fails its batch instead of being skipped */
  int64_t max_pixels;        /* images larger than this (stored w x h) are bad (0 = PB_IMAGE_MAX_PIXELS) */
  uint64_t seed;             /* augmentation seed */
  int max_heads;             /* label columns carried per sample in pb_batch.heads (0 = none) */
  /* Batch memory (NULL: aligned host memory). alloc returns NULL on failure. */
  void *(*alloc)(size_t bytes, void *ctx);
  void (*dealloc)(void *p, void *ctx);
  void *alloc_ctx;
} pb_loader_opts;

typedef struct pb_loader pb_loader;

/* Starts the workers. Fails (NULL, err set) only when batch memory cannot be allocated. */
pb_loader *pb_loader_new(const pb_loader_opts *o, pb_err *err);
/* Abandons any epoch in progress, then starts batches first_batch.. of one pass over
 * order[0..n) (copied) of d in batches of `batch`, each sample augmented with aug (a copy is
 * kept; NULL = no augmentation) with draws from (seed, epoch, sample index), or, when
 * aug->views > 1 (at most max_views; image data only), made into its test-time views
 * (pb_aug_views; not image sequences). d must outlive the pass. */
void pb_loader_start(pb_loader *L, const pb_dataset *d, const pb_aug *aug, const int32_t *order, int n, int batch,
                     int64_t first_batch, int64_t epoch);
/* The next batch in order, waiting for it if needed; NULL when the pass is complete. The
 * caller releases it when done with its memory (a GPU copy from it finished). */
pb_batch *pb_loader_next(pb_loader *L);
void pb_loader_release(pb_loader *L, pb_batch *b);
/* Abandons the pass: returns once no worker touches a batch; held batches are released. */
void pb_loader_stop(pb_loader *L);
/* Stops, joins the workers, frees everything. NULL is fine. */
void pb_loader_free(pb_loader *L);
int pb_loader_workers(const pb_loader *L);

#endif
