/* dist_nccl.c: the gradients of GPU ranks through NCCL (dist_nccl.h; ../shared/GPU-SPEED.md,
 * section 5): one communicator over the world, bootstrapped by MPI (rank 0's ncclUniqueId
 * broadcast), ncclAllReduce(sum) in place on the compute stream, then the scale on the same
 * stream; a rank's failure is seen by ncclCommGetAsyncError while its host waits. */
#include "engine/dist/dist_nccl.h"

#include <stdio.h>
#include <string.h>

#include "engine/device/backend.h"
#include "engine/device/ctx.h"
#include "engine/dist/dist.h"

#if PLUMB_HAVE_CUDA && PLUMB_HAVE_NCCL && PLUMB_HAVE_MPI
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include "kernels/ops_cuda.h"

static ncclComm_t comm;
static int have_comm;
static cudaStream_t comm_stream; /* the bucket launches (overlapped with the backward pass) */
static cudaEvent_t ev_ready, ev_done;

int pb_dist_nccl_init(pb_ctx *ctx, pb_err *err) {
  pb_dist *w = pb_dist_world();
  ncclUniqueId id;
  if (w->rank == 0) {
    ncclResult_t r = ncclGetUniqueId(&id);
    if (r != ncclSuccess) return pb_err_set(err, "ncclGetUniqueId: %s", ncclGetErrorString(r));
  }
  if (pb_dist_bcast(&id, sizeof id, 0, "the NCCL id", err)) return PB_ERR;
  cudaError_t ce = cudaSetDevice(ctx->dev.index);
  if (ce != cudaSuccess) return pb_err_set(err, "cudaSetDevice(%d): %s", ctx->dev.index, cudaGetErrorString(ce));
  ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
  cfg.blocking = 1;
  ncclResult_t r = ncclCommInitRankConfig(&comm, w->size, id, w->rank, &cfg);
  if (r != ncclSuccess)
    return pb_err_set(err, "rank %d: ncclCommInitRank over %d ranks on GPU %d: %s", w->rank, w->size, ctx->dev.index,
                      ncclGetErrorString(r));
  have_comm = 1;
  w->nccl = 1;
  if ((ce = cudaStreamCreateWithFlags(&comm_stream, cudaStreamNonBlocking)) != cudaSuccess ||
      (ce = cudaEventCreateWithFlags(&ev_ready, cudaEventDisableTiming)) != cudaSuccess ||
      (ce = cudaEventCreateWithFlags(&ev_done, cudaEventDisableTiming)) != cudaSuccess)
    return pb_err_set(err, "the NCCL stream and events: %s", cudaGetErrorString(ce));
  return PB_OK;
}

int pb_dist_nccl_launch(pb_ctx *ctx, float *buf, size_t n, const char *what, pb_err *err) {
  if (!have_comm) return pb_err_set(err, "%s: no NCCL communicator", what);
  cudaError_t ce;
  if ((ce = cudaEventRecord(ev_ready, (cudaStream_t)ctx->cuda->stream)) != cudaSuccess ||
      (ce = cudaStreamWaitEvent(comm_stream, ev_ready, 0)) != cudaSuccess)
    return pb_err_set(err, "%s: %s", what, cudaGetErrorString(ce));
  ncclResult_t r = ncclAllReduce(buf, buf, n, ncclFloat32, ncclSum, comm, comm_stream);
  if (r != ncclSuccess) return pb_err_set(err, "rank %d: %s: ncclAllReduce: %s", pb_dist_world()->rank, what, ncclGetErrorString(r));
  return PB_OK;
}

int pb_dist_nccl_sum_f64(pb_ctx *ctx, double *buf, size_t n, const char *what, pb_err *err) {
  if (!have_comm) return pb_err_set(err, "%s: no NCCL communicator", what);
  ncclResult_t r = ncclAllReduce(buf, buf, n, ncclFloat64, ncclSum, comm, (cudaStream_t)ctx->cuda->stream);
  if (r != ncclSuccess) return pb_err_set(err, "rank %d: %s: ncclAllReduce: %s", pb_dist_world()->rank, what, ncclGetErrorString(r));
  return PB_OK;
}

int pb_dist_nccl_join(pb_ctx *ctx, pb_err *err) {
  cudaError_t ce;
  if ((ce = cudaEventRecord(ev_done, comm_stream)) != cudaSuccess ||
      (ce = cudaStreamWaitEvent((cudaStream_t)ctx->cuda->stream, ev_done, 0)) != cudaSuccess)
    return pb_err_set(err, "the gradient exchange: %s", cudaGetErrorString(ce));
  ncclResult_t async = ncclSuccess;
  ncclCommGetAsyncError(comm, &async);
  if (async != ncclSuccess)
    return pb_err_set(err, "rank %d: the gradient exchange: NCCL: %s", pb_dist_world()->rank, ncclGetErrorString(async));
  return PB_OK;
}

void pb_dist_nccl_free(void) {
  if (have_comm) {
    ncclCommDestroy(comm);
    cudaStreamDestroy(comm_stream);
    cudaEventDestroy(ev_ready);
    cudaEventDestroy(ev_done);
  }
  have_comm = 0;
}

int pb_dist_nccl_allreduce(pb_ctx *ctx, float *buf, size_t n, float scale, const char *what, pb_err *err) {
  if (!have_comm) return pb_err_set(err, "%s: no NCCL communicator (pb_dist_configure was not called)", what);
  cudaStream_t s = (cudaStream_t)ctx->cuda->stream;
  ncclResult_t r = ncclAllReduce(buf, buf, n, ncclFloat32, ncclSum, comm, s);
  if (r != ncclSuccess) return pb_err_set(err, "rank %d: %s: ncclAllReduce: %s", pb_dist_world()->rank, what, ncclGetErrorString(r));
  ncclResult_t async = ncclSuccess;
  ncclCommGetAsyncError(comm, &async);
  if (async != ncclSuccess)
    return pb_err_set(err, "rank %d: %s: NCCL: %s", pb_dist_world()->rank, what, ncclGetErrorString(async));
  if (scale != 1.0f) ctx->ops->scale(ctx, buf, scale, n);
  return PB_OK;
}

#else

int pb_dist_nccl_init(pb_ctx *ctx, pb_err *err) {
  (void)ctx;
  return pb_err_set(err, "GPU ranks need NCCL and MPI: this plumb was built without %s",
                    !PLUMB_HAVE_CUDA ? "CUDA" : !PLUMB_HAVE_MPI ? "MPI (apt-get install libopenmpi-dev)" : "NCCL");
}

void pb_dist_nccl_free(void) {}

int pb_dist_nccl_allreduce(pb_ctx *ctx, float *buf, size_t n, float scale, const char *what, pb_err *err) {
  (void)ctx, (void)buf, (void)n, (void)scale;
  return pb_err_set(err, "%s: no NCCL in this build", what);
}

int pb_dist_nccl_launch(pb_ctx *ctx, float *buf, size_t n, const char *what, pb_err *err) {
  (void)ctx, (void)buf, (void)n;
  return pb_err_set(err, "%s: no NCCL in this build", what);
}

int pb_dist_nccl_sum_f64(pb_ctx *ctx, double *buf, size_t n, const char *what, pb_err *err) {
  (void)ctx, (void)buf, (void)n;
  return pb_err_set(err, "%s: no NCCL in this build", what);
}

int pb_dist_nccl_join(pb_ctx *ctx, pb_err *err) {
  (void)ctx;
  return pb_err_set(err, "no NCCL in this build");
}

#endif
