/* dist_nccl.h: the NCCL side of dist.h (dist_nccl.c), for dist.c only. Without CUDA or NCCL in
 * the build these fail with a message (init) or are never reached. */
#ifndef PB_DIST_NCCL_H
#define PB_DIST_NCCL_H

#include <stddef.h>

#include "kernels/pb_common.h"

struct pb_ctx;

/* The communicator of the world's ranks on ctx's GPU: rank 0's unique id goes to every rank by
 * MPI. Every rank calls it once. */
int pb_dist_nccl_init(struct pb_ctx *ctx, pb_err *err);
void pb_dist_nccl_free(void);
/* buf [n] on ctx's GPU: scale * the sum over ranks, in place, enqueued on ctx's stream (no host
 * wait here; NCCL's own errors are checked when the stream is next waited for, and here). */
int pb_dist_nccl_allreduce(struct pb_ctx *ctx, float *buf, size_t n, float scale, const char *what, pb_err *err);

/* buf [n] on the GPU: an all-reduce (sum) of it enqueued on NCCL's own stream after what the
 * compute stream holds now (an event between them); no scale. */
int pb_dist_nccl_launch(struct pb_ctx *ctx, float *buf, size_t n, const char *what, pb_err *err);
/* buf [n] doubles on the GPU: the sum over ranks in place, on the compute stream. */
int pb_dist_nccl_sum_f64(struct pb_ctx *ctx, double *buf, size_t n, const char *what, pb_err *err);
/* The compute stream waits for every launch so far (an event). */
int pb_dist_nccl_join(struct pb_ctx *ctx, pb_err *err);

#endif
