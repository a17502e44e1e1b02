/* dist.h: data-parallel training over processes (ranks): who this process is among them and the
 * few collectives training needs, behind one small interface.
 *
 * The ranks come from the launcher: mpirun (OMPI_COMM_WORLD_RANK / _SIZE / _LOCAL_RANK), srun
 * (SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID, with --mpi=pmix for MPI), or `plumb train
 * --nproc N`, which runs mpirun itself (launch.c). The transports are the libraries clusters
 * run: MPI (Open MPI) between processes, for every host-side collective and for the gradients
 * of CPU ranks; NCCL for the gradients of GPU ranks (bootstrapped through MPI). There is no
 * home-made transport. A build without MPI runs one rank and refuses a launch of several.
 *
 * One process-wide world (like MPI_COMM_WORLD): pb_dist_world(). Size 1 (no launcher, or a
 * launch of one) makes every collective a no-op, so single-process runs pay nothing.
 *
 * Errors: a rank that fails prints its message and calls pb_dist_abort, which ends every rank
 * (MPI_Abort) instead of leaving them waiting; a collective that does not finish within
 * [dist] timeout seconds (a rank died or hangs) aborts the same way, naming the collective. */
#ifndef PB_DIST_H
#define PB_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/pb_common.h"

struct pb_ctx;

enum { PB_DIST_SINGLE = 0, PB_DIST_MPI = 1 };
enum { PB_REDUCE_ORDERED = 0, PB_REDUCE_LIBRARY = 1 };

typedef struct pb_dist {
  int rank, size;             /* this process among size ranks; 0 of 1 without a launcher */
  int local_rank, local_size; /* on this node (the GPU a rank uses is its local rank) */
  int transport;              /* PB_DIST_SINGLE / PB_DIST_MPI */
  const char *launcher;       /* "none", "mpirun", "srun" */
  double timeout_s;           /* collectives longer than this abort the job (0: never) */
  size_t bucket_values;       /* [dist] bucket_mb in floats (0: one exchange after the backward) */
  int reduce;                 /* gradients: PB_REDUCE_ORDERED (rank order, every rank the same
                                 bits, run after run) or PB_REDUCE_LIBRARY (MPI_Allreduce / NCCL) */
  int nccl;                   /* gradients of GPU ranks go through NCCL (set by pb_dist_configure) */
  int forced;                 /* PLUMB_DIST_ONE=1: a world of one runs the exchange all the same */
  int sync_bn;                /* [dist] sync_bn with several ranks: batch norm's training statistics are
                                 the global batch's (engine/layers/batchnorm.c) */
  void *impl;                 /* the transport's state (dist_mpi.c, dist_nccl.c) */
  /* the gradient all-reduces so far: calls, values per call (the last), host seconds spent in
   * them (CPU ranks: the whole exchange; GPU ranks: only the enqueueing) */
  long grad_calls;
  size_t grad_values;
  double grad_seconds;
} pb_dist;

/* The process's world (size 1 until pb_dist_init found a launch). */
pb_dist *pb_dist_world(void);

/* Finds the launch from the environment and starts the transport. Errors: several ranks
 * launched but this build has no MPI (the message says how to build with it), MPI failing to
 * start. Call once, before any other thread starts. */
int pb_dist_init(pb_err *err);
/* [dist] reduce / timeout from the config, and on a GPU the NCCL communicator for the context's
 * device (every rank must call it, same order). */
struct pb_config;
int pb_dist_configure(const struct pb_config *cfg, struct pb_ctx *ctx, pb_err *err);
void pb_dist_finalize(void);
/* Ends every rank now (after this rank printed why): exit status `code` for the job. */
void pb_dist_abort(int code) __attribute__((noreturn));

/* Collectives. Every rank calls each with the same arguments in the same order; `what` names it
 * in a timeout's message. Host buffers unless said otherwise. */
/* In place, on the context's device (the gradients): buf[i] = scale * sum over ranks. */
int pb_dist_allreduce_grads(struct pb_ctx *ctx, float *buf, size_t n, float scale, const char *what, pb_err *err);
/* Buckets overlapped with the backward pass (GPU ranks, [dist] bucket_mb > 0, a model stepped
 * after each backward): the model's backward calls pb_dist_bucket_ready after each layer
 * (pb_model.grads_ready) and every time bucket values of finished gradients have piled up above
 * what was sent, they go to an NCCL all-reduce on a stream of its own while the earlier layers'
 * backward runs on the compute stream; at the step, pb_dist_bucket_finish sends the rest, makes
 * the compute stream wait for the exchange, scales, and rearms for the next backward. */
typedef struct pb_dist_bucket {
  struct pb_ctx *ctx;
  float *grads;
  size_t n, sent_lo, bucket; /* gradients [sent_lo, n) are on their way */
} pb_dist_bucket;
void pb_dist_bucket_ready(void *bucket, size_t lo);
int pb_dist_bucket_finish(pb_dist_bucket *b, float scale, const char *what, pb_err *err);

/* In place on the context's device, n doubles summed over the ranks (synchronised batch norm's
 * statistics; MPI on CPU ranks, NCCL on the compute stream on GPU ranks). */
int pb_dist_sum_f64_dev(struct pb_ctx *ctx, double *buf, size_t n, const char *what, pb_err *err);

/* Host sums / maxima, in place. */
int pb_dist_sum_f64(double *buf, int n, const char *what, pb_err *err);
int pb_dist_sum_i64(int64_t *buf, int n, const char *what, pb_err *err);
int pb_dist_max_i64(int64_t *buf, int n, const char *what, pb_err *err);
/* bytes from rank root to every rank. */
int pb_dist_bcast(void *buf, size_t bytes, int root, const char *what, pb_err *err);
/* Each rank's `bytes` at out + rank * bytes on every rank. */
int pb_dist_allgather(const void *mine, void *out, size_t bytes, const char *what, pb_err *err);
/* Rank 0 receives every rank's `counts[rank]` bytes, concatenated in rank order, in out (rank 0
 * only; counts known on rank 0). */
int pb_dist_gatherv(const void *mine, size_t bytes, void *out, const size_t *counts, const char *what, pb_err *err);
int pb_dist_barrier(const char *what, pb_err *err);

/* Sharding: the part [*lo, *hi) of n items rank `rank` of `size` takes, contiguous, in rank
 * order; the first n % size ranks take one more. */
static inline void pb_dist_share(int64_t n, int rank, int size, int64_t *lo, int64_t *hi) {
  int64_t q = n / size, r = n % size;
  *lo = (int64_t)rank * q + (rank < r ? rank : r);
  *hi = *lo + q + (rank < r ? 1 : 0);
}

#endif
