/* conv.cu: 2-D convolution on cuDNN (forward, backward data, backward filter + bias), the CUDA
 * twin of kernels/cpu/conv.c and, for channels-last shapes (p->nhwc), of kernels/cpu/conv_nhwc.c
 * (PyTorch Conv2d semantics: float32, cross-correlation, stride, zero padding, dilation, groups,
 * optional bias). Contracts in kernels/ops.h / ops_cuda.h.
 *
 * Algorithm choice. Once per (shape, direction) the algorithms are timed with
 * cudnnFind*AlgorithmEx on the env workspace and the fastest one that qualifies is cached in
 * env->conv_cache: it must have succeeded, fit env->workspace_bytes, be CUDNN_DETERMINISTIC
 * when env->deterministic, and use an allowed math type (below). The cache key is every field
 * of pb_conv2d_params (the layout included) plus env->tf32 and env->deterministic (an env never
 * changes those, but the key must not depend on that); each entry holds the cuDNN descriptors
 * of the shape and one algorithm slot per direction.
 *
 * TF32. cuDNN's math types for float32 data: CUDNN_FMA_MATH restricts to FMA kernels (full
 * fp32, no tensor cores); CUDNN_DEFAULT_MATH and CUDNN_TENSOR_OP_MATH permit TF32 tensor-core
 * kernels on Ampere and later (cuDNN 8+ semantics, kept in 9); CUDNN_TENSOR_OP_MATH_ALLOW_
 * CONVERSION would also down-convert to fp16, which we never want. So: tf32 == 0 searches
 * with FMA_MATH and accepts only FMA results; tf32 == 1 searches with DEFAULT_MATH (as PyTorch
 * does with allow_tf32) and accepts any result but ALLOW_CONVERSION. The descriptor is set to
 * the math type the chosen result reports before every call, since cuDNN picks the kernel from
 * algorithm + math type. (The environment variable NVIDIA_TF32_OVERRIDE=0 disables TF32
 * process-wide whatever we ask.)
 *
 * Find runs the convolution, writing its output buffer. y and dx are overwritten by the op
 * anyway, so their Find runs first and writes there; dw ACCUMULATES, so bwd-filter's Find
 * writes into a scratch filter buffer allocated for the search (and, should that allocation
 * fail, the cuDNN heuristic cudnnGet*_v7 chooses instead, without running anything).
 *
 * Channels last (p->nhwc == 1). x, y, dx, dy are NHWC and described as CUDNN_TENSOR_NHWC. The
 * weight stays PyTorch's [c_out, c_in/groups, kh, kw] (KCRS) in memory, so that checkpoints do
 * not depend on the layout; cuDNN's channels-last kernels want the filter channels-last too
 * (KRSC, described as CUDNN_TENSOR_NHWC: what PyTorch's channels_last weight is), and mixing an
 * NHWC input with an NCHW filter is refused by most of them. So each NHWC entry has a device
 * buffer of the weight's size (cudaMalloc'd when the entry is made: on the first, eager, use of
 * the shape; the first use inside a CUDA-graph capture is a bug and aborts; entries of one weight
 * shape share one, so a new batch size costs no copy), and
 *  - forward and backward data first transpose w (KCRS) into it (layout.cuh's tiled transpose,
 *    on env's stream), then cuDNN reads it (Find included);
 *  - backward filter has cuDNN write this batch's KRSC gradient into it (beta = 0), then adds it
 *    transposed into dw (dw[k][c][r][s] += buf[k][r][s][c], one rounded add per element: the
 *    same accumulation rule as NCHW's beta = 1).
 * Every use of the buffer is enqueued on env->stream (cuDNN's handle is bound to it), so the
 * directions of one shape never overlap on it. Which algorithms support NHWC float32 is cuDNN's
 * business: Find reports the others with a failed status, and the pick below skips them like
 * any other failure (the abort message lists what was offered). The bias stays a [1, c_out, 1,
 * 1] tensor: for size-1 dimensions NCHW and NHWC are the same memory.
 *
 * Determinism: per the cuDNN docs only bwd-data ALGO_0 and bwd-filter ALGO_0 / ALGO_3 use
 * atomics; the determinism field of each result tells, and is what we filter on.
 * cudnnAddTensor (bias), cudnnConvolutionBackwardBias (dbias) and the transposes are
 * deterministic. */
#include <string.h>

#include "kernels/cuda/conv_cache.h"
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/layout.cuh"

extern "C" {
#include "kernels/ops_cuda.h"
}

enum { PB_CONV_FWD = 0, PB_CONV_BWD_DATA = 1, PB_CONV_BWD_FILTER = 2, PB_CONV_DIRS = 3 };
static const char *const pb_conv_dir_name[PB_CONV_DIRS] = {"forward", "backward data", "backward filter"};

/* Enough for every algorithm of every direction in cuDNN 9 (at most 8 each). */
#define PB_CONV_MAX_PERF 16

typedef struct pb_conv_key {
  pb_conv2d_params p; /* all int: memcmp-comparable, no padding */
  int tf32, deterministic;
} pb_conv_key;

typedef struct pb_conv_algo {
  int chosen; /* 0 until this direction was searched */
  int algo;   /* cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t */
  cudnnMathType_t math;
  size_t memory; /* workspace bytes it needs (<= env->workspace_bytes) */
} pb_conv_algo;

typedef struct pb_conv_entry {
  pb_conv_key key;
  cudnnTensorDescriptor_t x, y, bias;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
  cudnnMathType_t search_math; /* what Find runs with: FMA (tf32 off) or DEFAULT (tf32 on) */
  pb_conv_algo dir[PB_CONV_DIRS];
  float *wbuf; /* NHWC shapes only (else NULL): [c_out, kh, kw, c_in/groups], the weight in cuDNN's
                  channels-last filter layout, or the KRSC weight gradient of bwd filter */
  int owns_wbuf; /* 1: wbuf was allocated for this entry; 0: shared with an earlier entry of the same
                    weight shape (another batch size or input size: one stream, every use refills it) */
} pb_conv_entry;

typedef struct pb_conv_cache {
  pb_conv_entry *e;
  size_t n, cap;
} pb_conv_cache;

extern "C" void *pb_cuda_conv_cache_new(void) { return pb_xcalloc(1, sizeof(pb_conv_cache)); }

extern "C" void pb_cuda_conv_cache_free(void *cache) {
  pb_conv_cache *c = (pb_conv_cache *)cache;
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) {
    pb_conv_entry *e = &c->e[i];
    PB_CUDNN_CHECK(cudnnDestroyTensorDescriptor(e->x));
    PB_CUDNN_CHECK(cudnnDestroyTensorDescriptor(e->y));
    PB_CUDNN_CHECK(cudnnDestroyTensorDescriptor(e->bias));
    PB_CUDNN_CHECK(cudnnDestroyFilterDescriptor(e->w));
    PB_CUDNN_CHECK(cudnnDestroyConvolutionDescriptor(e->conv));
    if (e->owns_wbuf) pb_cuda_free(e->wbuf);
  }
  free(c->e);
  free(c);
}

extern "C" size_t pb_cuda_conv_workspace_max(const pb_cuda_env *env) {
  const pb_conv_cache *c = (const pb_conv_cache *)env->conv_cache;
  size_t most = 0;
  for (size_t i = 0; c && i < c->n; i++)
    for (int d = 0; d < PB_CONV_DIRS; d++)
      if (c->e[i].dir[d].chosen && c->e[i].dir[d].memory > most) most = c->e[i].dir[d].memory;
  return most;
}

static void pb_conv_describe(char *buf, size_t len, const pb_conv2d_params *p) {
  if (p->nhwc)
    snprintf(buf, len,
             "NHWC x [%d,%d,%d,%d] w [%d,%d,%d,%d] stride %dx%d pad %dx%d dilation %dx%d groups %d -> y [%d,%d,%d,%d]",
             p->n, p->h_in, p->w_in, p->c_in, p->c_out, p->c_in / p->groups, p->kh, p->kw, p->stride_h, p->stride_w,
             p->pad_h, p->pad_w, p->dil_h, p->dil_w, p->groups, p->n, p->h_out, p->w_out, p->c_out);
  else
    snprintf(buf, len,
             "x [%d,%d,%d,%d] w [%d,%d,%d,%d] stride %dx%d pad %dx%d dilation %dx%d groups %d -> y [%d,%d,%d,%d]", p->n,
             p->c_in, p->h_in, p->w_in, p->c_out, p->c_in / p->groups, p->kh, p->kw, p->stride_h, p->stride_w, p->pad_h,
             p->pad_w, p->dil_h, p->dil_w, p->groups, p->n, p->c_out, p->h_out, p->w_out);
}

static size_t pb_conv_w_bytes(const pb_conv2d_params *p) {
  return sizeof(float) * (size_t)p->c_out * (size_t)(p->c_in / p->groups) * (size_t)p->kh * (size_t)p->kw;
}

/* The channels-last filter buffer of a new NHWC entry. cudaMalloc is not a stream operation and
 * would not belong in a captured graph: a shape is first met eagerly (the first training step or
 * the first, uncaptured, inference batch; the algorithm search needs that anyway), so meeting it
 * inside a capture is a bug. Out of memory aborts with the size: the op has no error channel. */
static void pb_conv_wbuf_alloc(pb_conv_entry *e, const pb_conv2d_params *p, const pb_cuda_env *env) {
  /* an entry of the same weight shape (another batch or input size) lends its buffer: every use
   * fills it on env->stream before reading it, so uses never overlap */
  const pb_conv_cache *c = (const pb_conv_cache *)env->conv_cache;
  for (size_t i = 0; i < c->n; i++) {
    const pb_conv2d_params *q = &c->e[i].key.p;
    if (c->e[i].owns_wbuf && q->c_out == p->c_out && q->c_in / q->groups == p->c_in / p->groups && q->kh == p->kh &&
        q->kw == p->kw) {
      e->wbuf = c->e[i].wbuf, e->owns_wbuf = 0;
      return;
    }
  }
  char d[256];
  cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
  PB_CUDA_CHECK(cudaStreamIsCapturing(pb_cuda_stream_of(env->stream), &cap));
  if (cap != cudaStreamCaptureStatusNone) {
    pb_conv_describe(d, sizeof d, p);
    PB_FATAL("conv %s: first use of this channels-last shape while env's stream is capturing a CUDA graph; its "
             "filter buffer and algorithms are set up on the first eager call, which must come before any capture",
             d);
  }
  /* through pb_cuda_alloc: counted in plumb's device allocations (plumb bench's peak) */
  pb_err err = {{0}};
  void *buf = pb_cuda_alloc(pb_conv_w_bytes(p), "a channels-last convolution filter", &err);
  if (!buf) {
    pb_conv_describe(d, sizeof d, p);
    PB_FATAL("conv %s: %s", d, err.msg);
  }
  e->wbuf = (float *)buf, e->owns_wbuf = 1;
}

/* The entry of this shape, created (descriptors, no algorithm yet) on first use. The pointer is
 * valid until the next insertion. */
static pb_conv_entry *pb_conv_entry_get(const pb_conv2d_params *p, const pb_cuda_env *env) {
  pb_conv_cache *c = (pb_conv_cache *)env->conv_cache;
  PB_ASSERT(c != NULL);
  pb_conv_key key;
  memset(&key, 0, sizeof key);
  key.p = *p;
  key.tf32 = env->tf32 ? 1 : 0;
  key.deterministic = env->deterministic ? 1 : 0;
  /* Linear search: a model has tens of distinct shapes, and this is host work beside a
   * kernel launch. Most recently added first (a new model's shapes are the hot ones). */
  for (size_t i = c->n; i-- > 0;)
    if (memcmp(&c->e[i].key, &key, sizeof key) == 0) return &c->e[i];

  PB_ASSERT(p->groups >= 1 && p->c_in % p->groups == 0 && p->c_out % p->groups == 0);
  if (c->n == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 16;
    c->e = (pb_conv_entry *)pb_xrealloc(c->e, c->cap * sizeof *c->e);
  }
  pb_conv_entry *e = &c->e[c->n];
  memset(e, 0, sizeof *e);
  e->key = key;
  e->search_math = env->tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
  PB_CUDNN_CHECK(cudnnCreateTensorDescriptor(&e->x));
  PB_CUDNN_CHECK(cudnnCreateTensorDescriptor(&e->y));
  PB_CUDNN_CHECK(cudnnCreateTensorDescriptor(&e->bias));
  PB_CUDNN_CHECK(cudnnCreateFilterDescriptor(&e->w));
  PB_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&e->conv));
  /* The dimensions are given as (n, c, h, w) whatever the format; the format sets the strides. */
  const cudnnTensorFormat_t fmt = p->nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  PB_CUDNN_CHECK(cudnnSetTensor4dDescriptor(e->x, fmt, CUDNN_DATA_FLOAT, p->n, p->c_in, p->h_in, p->w_in));
  PB_CUDNN_CHECK(cudnnSetTensor4dDescriptor(e->y, fmt, CUDNN_DATA_FLOAT, p->n, p->c_out, p->h_out, p->w_out));
  PB_CUDNN_CHECK(cudnnSetTensor4dDescriptor(e->bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, p->c_out, 1, 1));
  PB_CUDNN_CHECK(cudnnSetFilter4dDescriptor(e->w, CUDNN_DATA_FLOAT, fmt, p->c_out, p->c_in / p->groups, p->kh, p->kw));
  PB_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(e->conv, p->pad_h, p->pad_w, p->stride_h, p->stride_w, p->dil_h,
                                                 p->dil_w, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  PB_CUDNN_CHECK(cudnnSetConvolutionGroupCount(e->conv, p->groups));
  PB_CUDNN_CHECK(cudnnSetConvolutionMathType(e->conv, e->search_math));
  /* cuDNN and pb_conv2d_params_finish must agree on the output size. */
  int on = 0, oc = 0, oh = 0, ow = 0;
  PB_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(e->conv, e->x, e->w, &on, &oc, &oh, &ow));
  if (on != p->n || oc != p->c_out || oh != p->h_out || ow != p->w_out) {
    char d[256];
    pb_conv_describe(d, sizeof d, p);
    PB_FATAL("conv %s: cuDNN computes output [%d,%d,%d,%d] (params not finished?)", d, on, oc, oh, ow);
  }
  if (p->nhwc) pb_conv_wbuf_alloc(e, p, env);
  c->n++;
  return e;
}

/* Index of the first (fastest: Find sorts by time) result that qualifies, or -1. The three
 * perf structs of cuDNN share these fields. */
template <typename Perf>
static int pb_conv_pick(const Perf *perf, int count, const pb_cuda_env *env) {
  for (int i = 0; i < count; i++) {
    const Perf *r = &perf[i];
    if (r->status != CUDNN_STATUS_SUCCESS) continue;
    if (r->memory > env->workspace_bytes) continue;
    if (env->deterministic && r->determinism != CUDNN_DETERMINISTIC) continue;
    if (r->mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
    if (!env->tf32 && r->mathType != CUDNN_FMA_MATH) continue;
    return i;
  }
  return -1;
}

template <typename Perf>
static void pb_conv_store(pb_conv_entry *e, int dir, const Perf *r) {
  e->dir[dir].chosen = 1;
  e->dir[dir].algo = (int)r->algo;
  e->dir[dir].math = r->mathType;
  e->dir[dir].memory = r->memory;
}

/* No result qualified: abort, listing what cuDNN offered so the log says why. */
template <typename Perf>
__attribute__((noreturn)) static void pb_conv_none(const pb_conv2d_params *p, int dir, const pb_cuda_env *env,
                                                   const Perf *perf, int count) {
  char d[256], offered[1024];
  pb_conv_describe(d, sizeof d, p);
  size_t used = 0;
  offered[0] = '\0';
  for (int i = 0; i < count && used + 1 < sizeof offered; i++) {
    int k = snprintf(offered + used, sizeof offered - used, "%s{algo %d: %s, %zu bytes, determinism %d, math %d}",
                     i ? ", " : "", (int)perf[i].algo, cudnnGetErrorString(perf[i].status), perf[i].memory,
                     (int)perf[i].determinism, (int)perf[i].mathType);
    if (k < 0) break;
    used += (size_t)k;
    if (used >= sizeof offered) used = sizeof offered - 1;
  }
  PB_FATAL("conv %s: no cuDNN %s algorithm qualifies (workspace %zu bytes, deterministic %d, tf32 %d); cuDNN "
           "offered: %s",
           d, pb_conv_dir_name[dir], env->workspace_bytes, env->deterministic, env->tf32,
           count ? offered : "nothing");
}

static int pb_conv_requested(int max_count) {
  return max_count < 1 ? PB_CONV_MAX_PERF : (max_count < PB_CONV_MAX_PERF ? max_count : PB_CONV_MAX_PERF);
}

static const pb_conv_algo *pb_conv_choose_fwd(pb_conv_entry *e, float *y, const float *x, const float *w,
                                              const pb_conv2d_params *p, const pb_cuda_env *env) {
  if (e->dir[PB_CONV_FWD].chosen) return &e->dir[PB_CONV_FWD];
  cudnnHandle_t h = (cudnnHandle_t)env->cudnn;
  int max_count = 0, got = 0;
  PB_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max_count));
  cudnnConvolutionFwdAlgoPerf_t perf[PB_CONV_MAX_PERF];
  memset(perf, 0, sizeof perf);
  PB_CUDNN_CHECK(cudnnSetConvolutionMathType(e->conv, e->search_math));
  PB_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, e->x, x, e->w, w, e->conv, e->y, y,
                                                        pb_conv_requested(max_count), &got, perf, env->workspace,
                                                        env->workspace_bytes));
  int i = pb_conv_pick(perf, got, env);
  if (i < 0) pb_conv_none(p, PB_CONV_FWD, env, perf, got);
  pb_conv_store(e, PB_CONV_FWD, &perf[i]);
  return &e->dir[PB_CONV_FWD];
}

static const pb_conv_algo *pb_conv_choose_bwd_data(pb_conv_entry *e, float *dx, const float *dy, const float *w,
                                                   const pb_conv2d_params *p, const pb_cuda_env *env) {
  if (e->dir[PB_CONV_BWD_DATA].chosen) return &e->dir[PB_CONV_BWD_DATA];
  cudnnHandle_t h = (cudnnHandle_t)env->cudnn;
  int max_count = 0, got = 0;
  PB_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max_count));
  cudnnConvolutionBwdDataAlgoPerf_t perf[PB_CONV_MAX_PERF];
  memset(perf, 0, sizeof perf);
  PB_CUDNN_CHECK(cudnnSetConvolutionMathType(e->conv, e->search_math));
  PB_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(h, e->w, w, e->y, dy, e->conv, e->x, dx,
                                                             pb_conv_requested(max_count), &got, perf, env->workspace,
                                                             env->workspace_bytes));
  int i = pb_conv_pick(perf, got, env);
  if (i < 0) pb_conv_none(p, PB_CONV_BWD_DATA, env, perf, got);
  pb_conv_store(e, PB_CONV_BWD_DATA, &perf[i]);
  return &e->dir[PB_CONV_BWD_DATA];
}

static const pb_conv_algo *pb_conv_choose_bwd_filter(pb_conv_entry *e, const float *dy, const float *x,
                                                     const pb_conv2d_params *p, const pb_cuda_env *env) {
  if (e->dir[PB_CONV_BWD_FILTER].chosen) return &e->dir[PB_CONV_BWD_FILTER];
  cudnnHandle_t h = (cudnnHandle_t)env->cudnn;
  int max_count = 0, got = 0;
  PB_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max_count));
  cudnnConvolutionBwdFilterAlgoPerf_t perf[PB_CONV_MAX_PERF];
  memset(perf, 0, sizeof perf);
  PB_CUDNN_CHECK(cudnnSetConvolutionMathType(e->conv, e->search_math));
  /* Find writes the filter gradient it computes: give it a scratch buffer, never dw. */
  const size_t w_bytes = pb_conv_w_bytes(p);
  void *scratch = NULL;
  cudaError_t ae = cudaMalloc(&scratch, w_bytes);
  if (ae == cudaSuccess) {
    PB_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(h, e->x, x, e->y, dy, e->conv, e->w, scratch,
                                                                 pb_conv_requested(max_count), &got, perf,
                                                                 env->workspace, env->workspace_bytes));
    PB_CUDA_CHECK(cudaFree(scratch)); /* synchronises the device: Find has finished with it */
  } else if (ae == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    /* No room to measure: the heuristic's ranking (it runs nothing, writes nothing). */
    PB_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, e->x, e->y, e->conv, e->w,
                                                                 pb_conv_requested(max_count), &got, perf));
  } else {
    PB_CUDA_CHECK(ae);
  }
  int i = pb_conv_pick(perf, got, env);
  if (i < 0) pb_conv_none(p, PB_CONV_BWD_FILTER, env, perf, got);
  pb_conv_store(e, PB_CONV_BWD_FILTER, &perf[i]);
  return &e->dir[PB_CONV_BWD_FILTER];
}

/* The weight as cuDNN reads it: w itself (NCHW shapes), or, for NHWC shapes, w transposed KCRS ->
 * KRSC into the entry's buffer (enqueued before the cuDNN call that reads it). */
static const float *pb_conv_filter(pb_conv_entry *e, const float *w, const pb_conv2d_params *p,
                                   const pb_cuda_env *env) {
  if (!e->wbuf) return w;
  /* per output channel k: [c_in/groups, kh*kw] -> [kh*kw, c_in/groups] */
  pb_cuda_transpose(e->wbuf, w, p->c_out, p->c_in / p->groups, p->kh * p->kw, 0, pb_cuda_stream_of(env->stream));
  return e->wbuf;
}

extern "C" void pb_conv2d_fwd_cuda(float *y, const float *x, const float *w, const float *bias,
                                   const pb_conv2d_params *p, const pb_cuda_env *env) {
  if (p->n <= 0) return;
  cudnnHandle_t h = (cudnnHandle_t)env->cudnn;
  pb_conv_entry *e = pb_conv_entry_get(p, env);
  const float *wk = pb_conv_filter(e, w, p, env);
  const pb_conv_algo *a = pb_conv_choose_fwd(e, y, x, wk, p, env); /* before the real run: Find writes y */
  const float one = 1.0f, zero = 0.0f;
  PB_CUDNN_CHECK(cudnnSetConvolutionMathType(e->conv, a->math));
  PB_CUDNN_CHECK(cudnnConvolutionForward(h, &one, e->x, x, e->w, wk, e->conv, (cudnnConvolutionFwdAlgo_t)a->algo,
                                         env->workspace, env->workspace_bytes, &zero, e->y, y));
  if (bias) PB_CUDNN_CHECK(cudnnAddTensor(h, &one, e->bias, bias, &one, e->y, y));
}

extern "C" void pb_conv2d_bwd_data_cuda(float *dx, const float *dy, const float *w, const pb_conv2d_params *p,
                                        const pb_cuda_env *env) {
  if (p->n <= 0) return;
  cudnnHandle_t h = (cudnnHandle_t)env->cudnn;
  pb_conv_entry *e = pb_conv_entry_get(p, env);
  const float *wk = pb_conv_filter(e, w, p, env);
  const pb_conv_algo *a = pb_conv_choose_bwd_data(e, dx, dy, wk, p, env); /* Find writes dx: before */
  const float one = 1.0f, zero = 0.0f;
  PB_CUDNN_CHECK(cudnnSetConvolutionMathType(e->conv, a->math));
  PB_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &one, e->w, wk, e->y, dy, e->conv,
                                              (cudnnConvolutionBwdDataAlgo_t)a->algo, env->workspace,
                                              env->workspace_bytes, &zero, e->x, dx));
}

extern "C" void pb_conv2d_bwd_filter_cuda(float *dw, float *dbias, const float *dy, const float *x,
                                          const pb_conv2d_params *p, const pb_cuda_env *env) {
  if (p->n <= 0) return;
  cudnnHandle_t h = (cudnnHandle_t)env->cudnn;
  pb_conv_entry *e = pb_conv_entry_get(p, env);
  const pb_conv_algo *a = pb_conv_choose_bwd_filter(e, dy, x, p, env);
  const float one = 1.0f, zero = 0.0f;
  PB_CUDNN_CHECK(cudnnSetConvolutionMathType(e->conv, a->math));
  if (e->wbuf) {
    /* NHWC: this batch's gradient, KRSC, overwrites the buffer; then dw (KCRS) += it transposed:
     * per output channel k, [kh*kw, c_in/groups] -> [c_in/groups, kh*kw]. */
    PB_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, e->x, x, e->y, dy, e->conv,
                                                  (cudnnConvolutionBwdFilterAlgo_t)a->algo, env->workspace,
                                                  env->workspace_bytes, &zero, e->w, e->wbuf));
    pb_cuda_transpose(dw, e->wbuf, p->c_out, p->kh * p->kw, p->c_in / p->groups, 1, pb_cuda_stream_of(env->stream));
  } else {
    /* beta = 1: dw += the gradient of this batch. */
    PB_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, e->x, x, e->y, dy, e->conv,
                                                  (cudnnConvolutionBwdFilterAlgo_t)a->algo, env->workspace,
                                                  env->workspace_bytes, &one, e->w, dw));
  }
  if (dbias) PB_CUDNN_CHECK(cudnnConvolutionBackwardBias(h, &one, e->y, dy, &one, e->bias, dbias));
}
