/* lstm.cu: the LSTM op on cuDNN's RNN API (the v8 calls of cuDNN 9): training forward,
 * evaluation forward, backward. The CUDA twin of kernels/cpu/lstm.c; contracts in
 * kernels/ops.h ("LSTM") and kernels/ops_cuda.h.
 *
 * cuDNN set-up, per shape (T, N, D, H, L, dirs, env->tf32), cached in env->lstm_cache:
 *  - cudnnSetRNNDescriptor_v8: CUDNN_LSTM, CUDNN_RNN_DOUBLE_BIAS (b_ih and b_hh, as PyTorch),
 *    CUDNN_LINEAR_INPUT, uni- or bidirectional, float data and math precision, no projection,
 *    CUDNN_RNN_ALGO_STANDARD, a dropout descriptor of probability 0 (cuDNN never drops: plumb's
 *    dropout is its own, below), and CUDNN_RNN_PADDED_IO_ENABLED, which the unpacked layout
 *    needs. Math type as the convolutions and PyTorch: env->tf32 ? CUDNN_DEFAULT_MATH (TF32
 *    tensor cores allowed on Ampere and later) : CUDNN_FMA_MATH (full fp32).
 *  - data: CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED, i.e. plumb's [T, N, vector] with a host
 *    array of per-sequence lengths (any order) and padding fill 0; set per call (the lengths
 *    change per batch). cuDNN also reads the lengths on the device (devSeqLengths): they are
 *    put in the workspace by a kernel whose argument carries them (no pageable host copy).
 *  - states h0, c0, h_n, c_n: [L*dirs, N, H], cuDNN's hx / cx layout; NULL passes through
 *    (cuDNN reads NULL hx / cx as zeros and skips NULL outputs), as the contract wants.
 *
 * Weights. plumb's flat buffer is PyTorch's _flat_weights layout; cuDNN's weight space is
 * opaque. cudnnGetRNNWeightParams (pseudo-layer l*dirs + d; linLayerID 0-3 the input matrices
 * and the b_ih parts of gates i, f, g, o, 4-7 the recurrent ones and b_hh) gives every matrix
 * [H, in] (row-major, one gate's rows of W_ih / W_hh) and bias [H]; their offsets are taken
 * once per descriptor and checked (size, contiguity, inside the weight space). Every op first
 * copies w into a cuDNN weight space in the workspace (one gather kernel per 8 pseudo-layers).
 * The backward runs cudnnRNNBackwardWeights_v8 in CUDNN_WGRAD_MODE_ADD into a zeroed weight-
 * space gradient, then adds that into plumb's dw (dw[i] + g, one rounded add per element), so
 * dw accumulates as the contract says whatever cuDNN's layout is.
 *
 * Dropout between layers (training with dropout > 0 and L > 1): cuDNN runs ONE LAYER AT A TIME
 * (single-layer descriptors: input D for layer 0, dirs*H after) and plumb's counter-based mask
 * (ops.h: element e of layer l's input kept when pb_rng_uniform(seed, stream, (l << 40) | e)
 * >= p, scaled by 1/(1-p), the scale computed on the host in float as the CPU does) is applied
 * by a kernel in between: the same masks as the CPU, bitwise. Without dropout, in training or
 * evaluation, all L layers are one cuDNN call.
 *
 * Padding. Rows t >= lengths[n] of y (and of every layer output) are zeroed by a kernel after
 * the forward, and of dx (and of every layer's input gradient) after the backward data, when
 * a sequence is shorter than T: cuDNN's padding fill documents y only, the contract wants
 * exact zeros in both, and the kernel costs one pass over the rows (none for equal lengths).
 * dy's padded rows are never read (contract): when a sequence is short, the backward copies
 * dy into the workspace with those rows zeroed before cuDNN sees it.
 *
 * Workspace (env->workspace, pb_lstm_workspace_cuda bytes; the ops abort when it is smaller),
 * regions on 256 bytes: the cuDNN weight space and its gradient (the larger of the whole
 * stack's and a single layer's when the layer path may run), the device lengths [N] int32,
 * cuDNN's work space (the largest of what cudnnGetRNNTempSpaceSizes asks, training and
 * inference, whole stack and single layers, with every length T), two [T, N, dirs*H] float
 * buffers (dy with padding zeroed, or zeros for a NULL dy; the layer path's gradients between
 * layers, ping-pong) and one [T, N, D] (dx when the caller passes NULL). The workspace is used
 * only between this op's own launches on env->stream.
 *
 * Reserve (pb_lstm_reserve_cuda bytes, 256-byte aligned, the caller's): without the layer
 * path, cuDNN's reserve space of the whole stack (cudnnGetRNNTempSpaceSizes, training, every
 * length T). With it: each layer's cuDNN reserve space, then per layer l < L-1 its output
 * Y_l [T, N, dirs*H], the dropped input of layer l+1 X_{l+1} (same size) and its mask M_{l+1}
 * [T, N, dirs*H] bytes. cuDNN's backward data WRITES its reserve space (backward weights then
 * reads it): one backward per training forward.
 *
 * Determinism: cuDNN does not document its RNN routines as reproducible (nor as using
 * atomics); env->deterministic changes nothing here. test_cuda_lstm reports what a run shows.
 * Everything plumb adds (gathers, padding, dropout, the dw add) is elementwise and exact. */
#include <stdint.h>
#include <string.h>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/lstm_cache.h"

extern "C" {
#include "kernels/ops_cuda.h"
#include "kernels/pb_rng.h"
}

#define PB_LSTM_AL(b) (((b) + 255) & ~(size_t)255)
#define PB_LSTM_MAP_MAX 8     /* pseudo-layers per weight gather launch (the map rides in the argument) */
#define PB_LSTM_LEN_CHUNK 512 /* lengths per upload launch (2 KiB of argument) */
#define PB_LSTM_PIECES 16     /* per pseudo-layer: 8 matrices, 8 biases */

#define PB_GRID_LOOP(i, n) \
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

/* ------------------------------------------------------------------ the descriptor cache */

typedef struct pb_lstm_key {
  int T, N, D, H, L, bi, tf32; /* all int: memcmp-comparable, no padding */
} pb_lstm_key;

/* One cuDNN RNN descriptor: `layers` layers, the first with input size in0. */
typedef struct pb_lstm_rnn {
  cudnnRNNDescriptor_t desc;
  int layers, pseudo, in0; /* pseudo = layers * dirs */
  size_t wbytes;           /* cudnnGetRNNWeightSpaceSize */
  size_t work_train, work_infer, reserve; /* cudnnGetRNNTempSpaceSizes with every length T */
  size_t *off; /* [pseudo][16] float offsets in the weight space: matrix of linLayerID q at q,
                * its bias at 8 + q; NULL until the first op maps them */
} pb_lstm_rnn;

typedef struct pb_lstm_entry {
  pb_lstm_key key;
  float fill;                          /* the padding fill value cuDNN is given (0) */
  cudnnDropoutDescriptor_t drop;       /* probability 0 */
  cudnnRNNDataDescriptor_t xd, md, yd; /* x [T,N,D]; a later layer's input, every output [T,N,dirs*H] */
  cudnnTensorDescriptor_t hall, hone;  /* states [L*dirs, N, H]; one layer's [dirs, N, H] */
  pb_lstm_rnn all;                     /* the whole stack */
  pb_lstm_rnn one[2];                  /* L > 1: one layer with input D [0], dirs*H [1] */
} pb_lstm_entry;

typedef struct pb_lstm_cache {
  pb_lstm_entry **e; /* heap entries: pointers stay valid as the table grows */
  size_t n, cap;
} pb_lstm_cache;

extern "C" void *pb_cuda_lstm_cache_new(void) { return pb_xcalloc(1, sizeof(pb_lstm_cache)); }

static void pb_lstm_rnn_free(pb_lstm_rnn *r) {
  if (r->desc) PB_CUDNN_CHECK(cudnnDestroyRNNDescriptor(r->desc));
  free(r->off);
  memset(r, 0, sizeof *r);
}

extern "C" void pb_cuda_lstm_cache_free(void *cache) {
  pb_lstm_cache *c = (pb_lstm_cache *)cache;
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) {
    pb_lstm_entry *e = c->e[i];
    pb_lstm_rnn_free(&e->all);
    pb_lstm_rnn_free(&e->one[0]);
    pb_lstm_rnn_free(&e->one[1]);
    PB_CUDNN_CHECK(cudnnDestroyRNNDataDescriptor(e->xd));
    PB_CUDNN_CHECK(cudnnDestroyRNNDataDescriptor(e->md));
    PB_CUDNN_CHECK(cudnnDestroyRNNDataDescriptor(e->yd));
    PB_CUDNN_CHECK(cudnnDestroyTensorDescriptor(e->hall));
    PB_CUDNN_CHECK(cudnnDestroyTensorDescriptor(e->hone));
    PB_CUDNN_CHECK(cudnnDestroyDropoutDescriptor(e->drop));
    free(e);
  }
  free(c->e);
  free(c);
}

static void pb_lstm_set_data(pb_lstm_entry *e, cudnnRNNDataDescriptor_t d, int vec, const int32_t *len) {
  PB_CUDNN_CHECK(cudnnSetRNNDataDescriptor(d, CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED, e->key.T,
                                           e->key.N, vec, (const int *)len, &e->fill));
}

static void pb_lstm_set_state(cudnnTensorDescriptor_t d, int rows, int N, int H) {
  const int dims[3] = {rows, N, H}, strides[3] = {N * H, H, 1};
  PB_CUDNN_CHECK(cudnnSetTensorNdDescriptor(d, CUDNN_DATA_FLOAT, 3, dims, strides));
}

static void pb_lstm_rnn_init(pb_lstm_rnn *r, cudnnHandle_t h, const pb_lstm_entry *e, int in0, int layers,
                             cudnnRNNDataDescriptor_t xdesc) {
  const pb_lstm_key *k = &e->key;
  r->layers = layers;
  r->pseudo = layers * (k->bi ? 2 : 1);
  r->in0 = in0;
  r->off = NULL;
  PB_CUDNN_CHECK(cudnnCreateRNNDescriptor(&r->desc));
  PB_CUDNN_CHECK(cudnnSetRNNDescriptor_v8(r->desc, CUDNN_RNN_ALGO_STANDARD, CUDNN_LSTM, CUDNN_RNN_DOUBLE_BIAS,
                                          k->bi ? CUDNN_BIDIRECTIONAL : CUDNN_UNIDIRECTIONAL, CUDNN_LINEAR_INPUT,
                                          CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT,
                                          k->tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH, in0, k->H, k->H, layers,
                                          e->drop, CUDNN_RNN_PADDED_IO_ENABLED));
  PB_CUDNN_CHECK(cudnnGetRNNWeightSpaceSize(h, r->desc, &r->wbytes));
  size_t unused = 0;
  PB_CUDNN_CHECK(cudnnGetRNNTempSpaceSizes(h, r->desc, CUDNN_FWD_MODE_TRAINING, xdesc, &r->work_train, &r->reserve));
  PB_CUDNN_CHECK(cudnnGetRNNTempSpaceSizes(h, r->desc, CUDNN_FWD_MODE_INFERENCE, xdesc, &r->work_infer, &unused));
}

/* The entry of this shape, created on first use (descriptors and sizes; weights not mapped). */
static pb_lstm_entry *pb_lstm_entry_get(const pb_lstm_params *p, const pb_cuda_env *env) {
  pb_lstm_cache *c = (pb_lstm_cache *)env->lstm_cache;
  PB_ASSERT(c != NULL);
  PB_ASSERT(p->seq_len >= 1 && p->batch >= 1 && p->input_size >= 1 && p->hidden_size >= 1);
  PB_ASSERT(p->num_layers >= 1 && (p->bidirectional == 0 || p->bidirectional == 1));
  PB_ASSERT(p->dropout >= 0.0f && p->dropout < 1.0f);
  pb_lstm_key key;
  memset(&key, 0, sizeof key);
  key.T = p->seq_len, key.N = p->batch, key.D = p->input_size, key.H = p->hidden_size, key.L = p->num_layers;
  key.bi = p->bidirectional, key.tf32 = env->tf32 ? 1 : 0;
  for (size_t i = c->n; i-- > 0;)
    if (memcmp(&c->e[i]->key, &key, sizeof key) == 0) return c->e[i];

  cudnnHandle_t h = (cudnnHandle_t)env->cudnn;
  pb_lstm_entry *e = (pb_lstm_entry *)pb_xcalloc(1, sizeof *e);
  e->key = key;
  e->fill = 0.0f;
  const int dirs = key.bi ? 2 : 1, out = dirs * key.H;
  PB_CUDNN_CHECK(cudnnCreateDropoutDescriptor(&e->drop));
  /* probability 0: no states, no RNG initialisation (as PyTorch's set_no_dropout) */
  PB_CUDNN_CHECK(cudnnSetDropoutDescriptor(e->drop, h, 0.0f, NULL, 0, 0));
  PB_CUDNN_CHECK(cudnnCreateRNNDataDescriptor(&e->xd));
  PB_CUDNN_CHECK(cudnnCreateRNNDataDescriptor(&e->md));
  PB_CUDNN_CHECK(cudnnCreateRNNDataDescriptor(&e->yd));
  PB_CUDNN_CHECK(cudnnCreateTensorDescriptor(&e->hall));
  PB_CUDNN_CHECK(cudnnCreateTensorDescriptor(&e->hone));
  /* the sizes are asked with every sequence of length T: an upper bound for any lengths */
  int32_t *full = (int32_t *)pb_xmalloc(sizeof(int32_t) * (size_t)key.N);
  for (int n = 0; n < key.N; n++) full[n] = key.T;
  pb_lstm_set_data(e, e->xd, key.D, full);
  pb_lstm_set_data(e, e->md, out, full);
  pb_lstm_set_data(e, e->yd, out, full);
  free(full);
  pb_lstm_set_state(e->hall, key.L * dirs, key.N, key.H);
  pb_lstm_set_state(e->hone, dirs, key.N, key.H);
  pb_lstm_rnn_init(&e->all, h, e, key.D, key.L, e->xd);
  if (key.L > 1) {
    pb_lstm_rnn_init(&e->one[0], h, e, key.D, 1, e->xd);
    pb_lstm_rnn_init(&e->one[1], h, e, out, 1, e->md);
  }
  if (c->n == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 8;
    c->e = (pb_lstm_entry **)pb_xrealloc(c->e, c->cap * sizeof *c->e);
  }
  c->e[c->n++] = e;
  return e;
}

/* ------------------------------------------------------------------ the weight map */

/* The float offset of one matrix or bias reported by cudnnGetRNNWeightParams, after checking
 * it: float, `want` elements, contiguous row-major, inside the weight space. */
static size_t pb_lstm_piece(cudnnTensorDescriptor_t d, const void *addr, const void *base, size_t want,
                            size_t wbytes, int pseudo, int lin, const char *what) {
  cudnnDataType_t dt;
  int nb = 0, dims[8] = {0}, strides[8] = {0};
  PB_CUDNN_CHECK(cudnnGetTensorNdDescriptor(d, 8, &dt, &nb, dims, strides));
  size_t cnt = 1, expect = 1;
  int contiguous = nb >= 1 && nb <= 8;
  for (int i = nb - 1; contiguous && i >= 0; i--) {
    if (dims[i] > 1 && (size_t)strides[i] != expect) contiguous = 0;
    expect *= (size_t)dims[i];
    cnt *= (size_t)dims[i];
  }
  const ptrdiff_t b = (const char *)addr - (const char *)base;
  if (!addr || dt != CUDNN_DATA_FLOAT || !contiguous || cnt != want || b < 0 || b % 4 != 0 ||
      (size_t)b + want * sizeof(float) > wbytes)
    PB_FATAL("LSTM: cuDNN's %s of pseudo-layer %d, linLayerID %d is not what plumb expects: address %s, offset %lld "
             "bytes, %zu elements (want %zu), data type %d, contiguous %d, weight space %zu bytes",
             what, pseudo, lin, addr ? "set" : "NULL", (long long)b, cnt, want, (int)dt, contiguous, wbytes);
  return (size_t)b / sizeof(float);
}

/* r->off from cudnnGetRNNWeightParams, once per descriptor. base: the weight space's device
 * address (cuDNN returns addresses in it; only their offsets are kept). */
static void pb_lstm_map_init(pb_lstm_rnn *r, cudnnHandle_t h, const void *base, const pb_lstm_key *k) {
  if (r->off) return;
  const int dirs = k->bi ? 2 : 1, out = dirs * k->H;
  size_t *off = (size_t *)pb_xcalloc((size_t)r->pseudo * PB_LSTM_PIECES, sizeof(size_t));
  cudnnTensorDescriptor_t md, bd;
  PB_CUDNN_CHECK(cudnnCreateTensorDescriptor(&md));
  PB_CUDNN_CHECK(cudnnCreateTensorDescriptor(&bd));
  for (int j = 0; j < r->pseudo; j++) {
    const size_t in = (size_t)(j / dirs == 0 ? r->in0 : out), H = (size_t)k->H;
    for (int lin = 0; lin < 8; lin++) {
      void *ma = NULL, *ba = NULL;
      PB_CUDNN_CHECK(cudnnGetRNNWeightParams(h, r->desc, j, r->wbytes, base, lin, md, &ma, bd, &ba));
      off[j * PB_LSTM_PIECES + lin] = pb_lstm_piece(md, ma, base, H * (lin < 4 ? in : H), r->wbytes, j, lin, "matrix");
      off[j * PB_LSTM_PIECES + 8 + lin] = pb_lstm_piece(bd, ba, base, H, r->wbytes, j, lin, "bias");
    }
  }
  PB_CUDNN_CHECK(cudnnDestroyTensorDescriptor(md));
  PB_CUDNN_CHECK(cudnnDestroyTensorDescriptor(bd));
  r->off = off;
}

/* Up to PB_LSTM_MAP_MAX (layer, direction) blocks of plumb's buffer and where their pieces are
 * in cuDNN's weight space. Passed by value (~1.1 KiB) and read in place (__grid_constant__). */
typedef struct pb_lstm_map_arg {
  unsigned long long cu[PB_LSTM_MAP_MAX][PB_LSTM_PIECES]; /* float offsets in the weight space */
  unsigned long long pb[PB_LSTM_MAP_MAX];                 /* float offset of the block in w / dw */
  unsigned long long n[PB_LSTM_MAP_MAX];                  /* floats of the block */
  int in[PB_LSTM_MAP_MAX];                                /* the block's input size */
  int H;
} pb_lstm_map_arg;

/* Where element i of a (layer, direction) block of plumb's buffer (W_ih [4H, in], W_hh [4H, H],
 * b_ih [4H], b_hh [4H], gates in order i, f, g, o) lives in the weight space. */
__device__ __forceinline__ static size_t pb_lstm_cu_index(const unsigned long long *cu, size_t H, size_t in,
                                                          size_t i) {
  const size_t mih = H * in, mhh = H * H;
  if (i < 4 * mih) {
    const size_t q = i / mih;
    return (size_t)cu[q] + (i - q * mih);
  }
  i -= 4 * mih;
  if (i < 4 * mhh) {
    const size_t q = i / mhh;
    return (size_t)cu[4 + q] + (i - q * mhh);
  }
  i -= 4 * mhh;
  const size_t q = i / H; /* 0-3: b_ih of gate q (linLayerID q); 4-7: b_hh (linLayerID q) */
  return (size_t)cu[8 + q] + (i - q * H);
}

/* wsp (cuDNN's layout) = w (plumb's), blockIdx.y = the block. */
__global__ static void pb_lstm_pack_kernel(float *__restrict__ wsp, const float *__restrict__ w,
                                           const __grid_constant__ pb_lstm_map_arg a) {
  const int j = blockIdx.y;
  const size_t H = (size_t)a.H, in = (size_t)a.in[j], n = (size_t)a.n[j];
  const float *src = w + a.pb[j];
  PB_GRID_LOOP(i, n) wsp[pb_lstm_cu_index(a.cu[j], H, in, i)] = src[i];
}

/* dw (plumb's layout) += dwsp (cuDNN's), blockIdx.y = the block. */
__global__ static void pb_lstm_add_kernel(float *__restrict__ dw, const float *__restrict__ dwsp,
                                          const __grid_constant__ pb_lstm_map_arg a) {
  const int j = blockIdx.y;
  const size_t H = (size_t)a.H, in = (size_t)a.in[j], n = (size_t)a.n[j];
  float *dst = dw + a.pb[j];
  PB_GRID_LOOP(i, n) dst[i] = __fadd_rn(dst[i], dwsp[pb_lstm_cu_index(a.cu[j], H, in, i)]);
}

/* add 0: cuDNN weight space `space` = plumb's `flat` (w); add 1: plumb's `flat` (dw) += `space`
 * (the weight-space gradient). The descriptor r's pseudo-layer j is plumb's block block0 + j
 * (block = layer * dirs + direction). */
static void pb_lstm_map_run(int add, float *space, float *flat, const pb_lstm_rnn *r, int block0,
                            const pb_lstm_params *p, const pb_cuda_env *env) {
  PB_ASSERT(r->off != NULL);
  const int dirs = p->bidirectional ? 2 : 1, H = p->hidden_size, out = dirs * H;
  for (int j0 = 0; j0 < r->pseudo; j0 += PB_LSTM_MAP_MAX) {
    pb_lstm_map_arg a;
    memset(&a, 0, sizeof a);
    a.H = H;
    const int cnt = PB_MIN(PB_LSTM_MAP_MAX, r->pseudo - j0);
    size_t nmax = 0;
    for (int c = 0; c < cnt; c++) {
      const int j = j0 + c, b = block0 + j, in = b / dirs == 0 ? p->input_size : out;
      const size_t g = 4 * (size_t)H, n = g * (size_t)in + g * (size_t)H + 2 * g;
      const pb_lstm_weight first = pb_lstm_weight_at(p, 4 * b), last = pb_lstm_weight_at(p, 4 * b + 3);
      PB_ASSERT(first.shape[1] == in && last.offset + g == first.offset + n); /* plumb's block, as the kernel reads it */
      a.in[c] = in;
      a.n[c] = n;
      a.pb[c] = first.offset;
      for (int q = 0; q < PB_LSTM_PIECES; q++) a.cu[c][q] = r->off[(size_t)j * PB_LSTM_PIECES + q];
      nmax = n > nmax ? n : nmax;
    }
    const dim3 grid(pb_cuda_blocks(nmax, PB_CUDA_THREADS), (unsigned int)cnt);
    cudaStream_t s = pb_cuda_stream_of(env->stream);
    if (add) {
      pb_lstm_add_kernel<<<grid, PB_CUDA_THREADS, 0, s>>>(flat, space, a);
      PB_CUDA_CHECK_LAUNCH("pb_lstm_add_kernel");
    } else {
      pb_lstm_pack_kernel<<<grid, PB_CUDA_THREADS, 0, s>>>(space, flat, a);
      PB_CUDA_CHECK_LAUNCH("pb_lstm_pack_kernel");
    }
  }
}

/* ------------------------------------------------------------------ small kernels */

typedef struct pb_lstm_len_arg {
  int32_t v[PB_LSTM_LEN_CHUNK];
} pb_lstm_len_arg;

__global__ static void pb_lstm_len_kernel(int32_t *dst, const __grid_constant__ pb_lstm_len_arg a, int n) {
  const int i = (int)threadIdx.x;
  if (i < n) dst[i] = a.v[i];
}

/* a [T, N, width]: rows t >= len[n] = 0. total = T*N*width. */
__global__ static void pb_lstm_zero_pad_kernel(float *a, const int32_t *len, int N, int width, size_t total) {
  PB_GRID_LOOP(e, total) {
    const size_t r = e / (size_t)width;
    if ((int)(r / (size_t)N) >= len[r % (size_t)N]) a[e] = 0.0f;
  }
}

/* dst = src with rows t >= len[n] = 0 (src's padded rows are not read). */
__global__ static void pb_lstm_copy_pad_kernel(float *__restrict__ dst, const float *__restrict__ src,
                                               const int32_t *len, int N, int width, size_t total) {
  PB_GRID_LOOP(e, total) {
    const size_t r = e / (size_t)width;
    dst[e] = (int)(r / (size_t)N) < len[r % (size_t)N] ? src[e] : 0.0f;
  }
}

/* Layer l's dropped input: xd = y * (kept ? scale : 0), mask = kept; counters hi | e. As the CPU's
 * pb_lstm_dropout_fwd, one rounded multiply. */
__global__ static void pb_lstm_drop_fwd_kernel(float *__restrict__ xd, uint8_t *__restrict__ mask,
                                               const float *__restrict__ y, size_t n, float p, float scale,
                                               uint64_t seed, uint64_t stream, uint64_t hi) {
  PB_GRID_LOOP(e, n) {
    const int keep = pb_rng_uniform(seed, stream, hi | (uint64_t)e) >= p;
    mask[e] = (uint8_t)keep;
    xd[e] = __fmul_rn(y[e], keep ? scale : 0.0f);
  }
}

/* In place: d *= (mask ? scale : 0), as the CPU's backward through its saved scale. */
__global__ static void pb_lstm_drop_bwd_kernel(float *d, const uint8_t *__restrict__ mask, size_t n, float scale) {
  PB_GRID_LOOP(e, n) d[e] = __fmul_rn(d[e], mask[e] ? scale : 0.0f);
}

/* ------------------------------------------------------------------ workspace and reserve */

typedef struct pb_lstm_ws {
  float *wsp, *dwsp;  /* cuDNN weight space and its gradient */
  size_t wbytes;      /* bytes of each */
  int32_t *lens;      /* [N] */
  void *work;         /* cuDNN's work space */
  size_t work_bytes;
  float *za, *zb;     /* [T*N*dirs*H] each (zb only on the layer path) */
  float *xs;          /* [T*N*D]: dx when the caller passes NULL */
} pb_lstm_ws;

static int pb_lstm_layer_path(const pb_lstm_params *p) { return p->dropout > 0.0f && p->num_layers > 1; }

static size_t pb_lstm_tno(const pb_lstm_key *k) { return (size_t)k->T * k->N * (k->bi ? 2 : 1) * k->H; }

static size_t pb_lstm_ws_layout(const pb_lstm_entry *e, const pb_lstm_params *p, pb_lstm_ws *w, char *base) {
  const pb_lstm_key *k = &e->key;
  const int layered = pb_lstm_layer_path(p);
  size_t wb = e->all.wbytes, work = PB_MAX(e->all.work_train, e->all.work_infer);
  if (layered)
    for (int i = 0; i < 2; i++) wb = PB_MAX(wb, e->one[i].wbytes), work = PB_MAX(work, e->one[i].work_train);
  const size_t tno = pb_lstm_tno(k), tnd = (size_t)k->T * k->N * k->D;
  const size_t sz[7] = {wb, wb, sizeof(int32_t) * (size_t)k->N, work, sizeof(float) * tno,
                        layered ? sizeof(float) * tno : 0, sizeof(float) * tnd};
  void *at[7];
  size_t off = 0;
  for (int i = 0; i < 7; i++) {
    at[i] = base ? base + off : NULL;
    off += PB_LSTM_AL(sz[i]);
  }
  w->wsp = (float *)at[0], w->dwsp = (float *)at[1], w->wbytes = wb;
  w->lens = (int32_t *)at[2];
  w->work = at[3], w->work_bytes = work;
  w->za = (float *)at[4], w->zb = (float *)at[5], w->xs = (float *)at[6];
  return off;
}

/* Layer path reserve: byte offset of layer l's cuDNN reserve space (l = L: the end of them). */
static size_t pb_lstm_rs_cudnn(const pb_lstm_entry *e, int l) {
  size_t off = 0;
  for (int k = 0; k < l; k++) off += PB_LSTM_AL(e->one[k > 0].reserve);
  return off;
}

/* Layer path reserve: byte offset of Y_l, 0 <= l < L-1 (l = L-1: the end); X_{l+1} follows it,
 * then M_{l+1}. */
static size_t pb_lstm_rs_y(const pb_lstm_entry *e, int l) {
  const size_t tno = pb_lstm_tno(&e->key);
  return pb_lstm_rs_cudnn(e, e->key.L) + (size_t)l * (2 * PB_LSTM_AL(sizeof(float) * tno) + PB_LSTM_AL(tno));
}

static size_t pb_lstm_reserve_bytes(const pb_lstm_entry *e, const pb_lstm_params *p) {
  return pb_lstm_layer_path(p) ? pb_lstm_rs_y(e, e->key.L - 1) : e->all.reserve;
}

extern "C" size_t pb_lstm_workspace_cuda(const pb_lstm_params *p, const pb_cuda_env *env) {
  pb_lstm_ws w;
  return pb_lstm_ws_layout(pb_lstm_entry_get(p, env), p, &w, NULL);
}

extern "C" size_t pb_lstm_reserve_cuda(const pb_lstm_params *p, const pb_cuda_env *env) {
  return pb_lstm_reserve_bytes(pb_lstm_entry_get(p, env), p);
}

/* ------------------------------------------------------------------ one call's set-up */

typedef struct pb_lstm_run {
  pb_lstm_entry *e;
  pb_lstm_ws w;
  cudnnHandle_t h;
  cudaStream_t s;
  int dirs, out;
  size_t tno, st; /* T*N*dirs*H; one layer's rows of a state tensor (dirs*N*H) */
  int ragged;          /* some sequence is shorter than T */
} pb_lstm_run;

/* The entry, the workspace (checked), the data descriptors for these lengths, the device
 * lengths. */
static void pb_lstm_begin(pb_lstm_run *r, const int32_t *lengths, const pb_lstm_params *p, const pb_cuda_env *env,
                          const char *op) {
  r->e = pb_lstm_entry_get(p, env);
  const size_t need = pb_lstm_ws_layout(r->e, p, &r->w, NULL);
  if (!env->workspace || env->workspace_bytes < need)
    PB_FATAL("LSTM %s T=%d N=%d D=%d H=%d L=%d bidirectional=%d dropout=%g needs %zu bytes of workspace, the "
             "environment has %zu (pb_lstm_workspace_cuda: the caller checks this when it is built)",
             op, p->seq_len, p->batch, p->input_size, p->hidden_size, p->num_layers, p->bidirectional,
             (double)p->dropout, need, env->workspace ? env->workspace_bytes : (size_t)0);
  pb_lstm_ws_layout(r->e, p, &r->w, (char *)env->workspace);
  r->h = (cudnnHandle_t)env->cudnn;
  r->s = pb_cuda_stream_of(env->stream);
  r->dirs = p->bidirectional ? 2 : 1;
  r->out = r->dirs * p->hidden_size;
  r->tno = pb_lstm_tno(&r->e->key);
  r->st = (size_t)r->dirs * p->batch * p->hidden_size;
  r->ragged = 0;
  for (int n = 0; n < p->batch; n++) {
    PB_ASSERT(lengths[n] >= 1 && lengths[n] <= p->seq_len);
    r->ragged |= lengths[n] < p->seq_len;
  }
  pb_lstm_set_data(r->e, r->e->xd, p->input_size, lengths);
  pb_lstm_set_data(r->e, r->e->md, r->out, lengths);
  pb_lstm_set_data(r->e, r->e->yd, r->out, lengths);
  for (int i0 = 0; i0 < p->batch; i0 += PB_LSTM_LEN_CHUNK) {
    const int cnt = PB_MIN(PB_LSTM_LEN_CHUNK, p->batch - i0);
    pb_lstm_len_arg a;
    memset(&a, 0, sizeof a);
    memcpy(a.v, lengths + i0, sizeof(int32_t) * (size_t)cnt);
    pb_lstm_len_kernel<<<1, PB_LSTM_LEN_CHUNK, 0, r->s>>>(r->w.lens + i0, a, cnt);
    PB_CUDA_CHECK_LAUNCH("pb_lstm_len_kernel");
  }
}

/* The weights of descriptor rnn (plumb blocks block0...) into the workspace's weight space. */
static void pb_lstm_pack(pb_lstm_run *r, pb_lstm_rnn *rnn, int block0, const float *w, const pb_lstm_params *p,
                         const pb_cuda_env *env) {
  pb_lstm_map_init(rnn, r->h, r->w.wsp, &r->e->key);
  pb_lstm_map_run(0, r->w.wsp, (float *)w, rnn, block0, p, env);
}

static void pb_lstm_zero_pad(pb_lstm_run *r, float *a, int width) {
  const size_t total = (size_t)r->e->key.T * r->e->key.N * (size_t)width;
  pb_lstm_zero_pad_kernel<<<pb_cuda_blocks(total, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, r->s>>>(
      a, r->w.lens, r->e->key.N, width, total);
  PB_CUDA_CHECK_LAUNCH("pb_lstm_zero_pad_kernel");
}

static const float *pb_lstm_rows(const float *a, size_t off) { return a ? a + off : NULL; }
static float *pb_lstm_rows_w(float *a, size_t off) { return a ? a + off : NULL; }

/* ------------------------------------------------------------------ forward */

static void pb_lstm_forward(int train, float *y, float *h_n, float *c_n, float *reserve, const float *x,
                            const float *h0, const float *c0, const float *w, const int32_t *lengths, uint64_t seed,
                            uint64_t stream, const pb_lstm_params *p, const pb_cuda_env *env) {
  pb_lstm_run r;
  pb_lstm_begin(&r, lengths, p, env, train ? "training forward" : "evaluation forward");
  pb_lstm_entry *e = r.e;
  if (train) PB_ASSERT(reserve != NULL && ((uintptr_t)reserve & 255) == 0);
  if (!train || !pb_lstm_layer_path(p)) {
    pb_lstm_pack(&r, &e->all, 0, w, p, env);
    PB_CUDNN_CHECK(cudnnRNNForward(r.h, e->all.desc, train ? CUDNN_FWD_MODE_TRAINING : CUDNN_FWD_MODE_INFERENCE,
                                   r.w.lens, e->xd, x, e->yd, y, e->hall, h0, h_n, e->hall, c0, c_n, e->all.wbytes,
                                   r.w.wsp, r.w.work_bytes, r.w.work, train ? e->all.reserve : 0,
                                   train ? (void *)reserve : NULL));
    if (r.ragged) pb_lstm_zero_pad(&r, y, r.out);
    return;
  }
  /* the layer path: cuDNN one layer at a time, plumb's dropout in between */
  const int L = p->num_layers;
  const float scale = 1.0f / (1.0f - p->dropout); /* as the CPU, on the host */
  char *rs = (char *)reserve;
  const float *in = x;
  for (int l = 0; l < L; l++) {
    pb_lstm_rnn *one = &e->one[l > 0];
    float *out = l == L - 1 ? y : (float *)(rs + pb_lstm_rs_y(e, l));
    const size_t st = (size_t)l * r.st;
    pb_lstm_pack(&r, one, l * r.dirs, w, p, env);
    PB_CUDNN_CHECK(cudnnRNNForward(r.h, one->desc, CUDNN_FWD_MODE_TRAINING, r.w.lens, l ? e->md : e->xd, in, e->yd,
                                   out, e->hone, pb_lstm_rows(h0, st), pb_lstm_rows_w(h_n, st), e->hone,
                                   pb_lstm_rows(c0, st), pb_lstm_rows_w(c_n, st), one->wbytes, r.w.wsp,
                                   r.w.work_bytes, r.w.work, one->reserve, rs + pb_lstm_rs_cudnn(e, l)));
    if (r.ragged) pb_lstm_zero_pad(&r, out, r.out);
    if (l == L - 1) break;
    float *xd = (float *)(rs + pb_lstm_rs_y(e, l) + PB_LSTM_AL(sizeof(float) * r.tno));
    uint8_t *mask = (uint8_t *)xd + PB_LSTM_AL(sizeof(float) * r.tno);
    pb_lstm_drop_fwd_kernel<<<pb_cuda_blocks(r.tno, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, r.s>>>(
        xd, mask, out, r.tno, p->dropout, scale, seed, stream, (uint64_t)(l + 1) << 40);
    PB_CUDA_CHECK_LAUNCH("pb_lstm_drop_fwd_kernel");
    in = xd;
  }
}

extern "C" void pb_lstm_fwd_train_cuda(float *y, float *h_n, float *c_n, float *reserve, const float *x,
                                       const float *h0, const float *c0, const float *w, const int32_t *lengths,
                                       uint64_t seed, uint64_t stream, const pb_lstm_params *p,
                                       const pb_cuda_env *env) {
  pb_lstm_forward(1, y, h_n, c_n, reserve, x, h0, c0, w, lengths, seed, stream, p, env);
}

extern "C" void pb_lstm_fwd_eval_cuda(float *y, float *h_n, float *c_n, const float *x, const float *h0,
                                      const float *c0, const float *w, const int32_t *lengths,
                                      const pb_lstm_params *p, const pb_cuda_env *env) {
  pb_lstm_forward(0, y, h_n, c_n, NULL, x, h0, c0, w, lengths, 0, 0, p, env);
}

/* ------------------------------------------------------------------ backward */

/* Backward data then weights of descriptor rnn (plumb blocks block0...): dxl = the gradient
 * of its input xl (overwritten), dw += its weights' gradient. */
static void pb_lstm_bwd_one(pb_lstm_run *r, pb_lstm_rnn *rnn, int block0, cudnnRNNDataDescriptor_t xdesc,
                            cudnnTensorDescriptor_t hdesc, float *dxl, float *dh0, float *dc0, float *dw,
                            const float *dyl, const float *dh_n, const float *dc_n, const float *xl,
                            const float *h0, const float *c0, const float *w, const float *yl, void *rs,
                            const pb_lstm_params *p, const pb_cuda_env *env) {
  pb_lstm_entry *e = r->e;
  pb_lstm_pack(r, rnn, block0, w, p, env);
  PB_CUDNN_CHECK(cudnnRNNBackwardData_v8(r->h, rnn->desc, r->w.lens, e->yd, yl, dyl, xdesc, dxl, hdesc, h0, dh_n, dh0,
                                         hdesc, c0, dc_n, dc0, rnn->wbytes, r->w.wsp, r->w.work_bytes, r->w.work,
                                         rnn->reserve, rs));
  PB_CUDA_CHECK(cudaMemsetAsync(r->w.dwsp, 0, rnn->wbytes, r->s));
  PB_CUDNN_CHECK(cudnnRNNBackwardWeights_v8(r->h, rnn->desc, CUDNN_WGRAD_MODE_ADD, r->w.lens, xdesc, xl, hdesc, h0,
                                            e->yd, yl, rnn->wbytes, r->w.dwsp, r->w.work_bytes, r->w.work,
                                            rnn->reserve, rs));
  pb_lstm_map_run(1, r->w.dwsp, dw, rnn, block0, p, env);
}

extern "C" void pb_lstm_bwd_cuda(float *dx, float *dh0, float *dc0, float *dw, const float *dy, const float *dh_n,
                                 const float *dc_n, const float *x, const float *h0, const float *c0, const float *w,
                                 const float *y, const int32_t *lengths, float *reserve, const pb_lstm_params *p,
                                 const pb_cuda_env *env) {
  pb_lstm_run r;
  pb_lstm_begin(&r, lengths, p, env, "backward");
  pb_lstm_entry *e = r.e;
  PB_ASSERT(reserve != NULL && ((uintptr_t)reserve & 255) == 0);
  /* dy as cuDNN reads it: padded rows zero, or all zero for NULL */
  const float *dcur = dy;
  if (!dy) {
    PB_CUDA_CHECK(cudaMemsetAsync(r.w.za, 0, sizeof(float) * r.tno, r.s));
    dcur = r.w.za;
  } else if (r.ragged) {
    pb_lstm_copy_pad_kernel<<<pb_cuda_blocks(r.tno, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, r.s>>>(
        r.w.za, dy, r.w.lens, p->batch, r.out, r.tno);
    PB_CUDA_CHECK_LAUNCH("pb_lstm_copy_pad_kernel");
    dcur = r.w.za;
  }
  if (!pb_lstm_layer_path(p)) {
    float *dxo = dx ? dx : r.w.xs;
    pb_lstm_bwd_one(&r, &e->all, 0, e->xd, e->hall, dxo, dh0, dc0, dw, dcur, dh_n, dc_n, x, h0, c0, w, y, reserve, p,
                    env);
    if (r.ragged && dx) pb_lstm_zero_pad(&r, dx, p->input_size);
    return;
  }
  /* the layer path, last layer first; the gradient between layers goes through the mask */
  const int L = p->num_layers;
  const float scale = 1.0f / (1.0f - p->dropout);
  char *rs = (char *)reserve;
  for (int l = L - 1; l >= 0; l--) {
    const size_t st = (size_t)l * r.st, ybytes = PB_LSTM_AL(sizeof(float) * r.tno);
    const float *yl = l == L - 1 ? y : (const float *)(rs + pb_lstm_rs_y(e, l));
    const float *xl = l == 0 ? x : (const float *)(rs + pb_lstm_rs_y(e, l - 1) + ybytes);
    float *dxl = l == 0 ? (dx ? dx : r.w.xs) : (dcur == r.w.za ? r.w.zb : r.w.za);
    pb_lstm_bwd_one(&r, &e->one[l > 0], l * r.dirs, l ? e->md : e->xd, e->hone, dxl, pb_lstm_rows_w(dh0, st),
                    pb_lstm_rows_w(dc0, st), dw, dcur, pb_lstm_rows(dh_n, st), pb_lstm_rows(dc_n, st), xl,
                    pb_lstm_rows(h0, st), pb_lstm_rows(c0, st), w, yl, rs + pb_lstm_rs_cudnn(e, l), p, env);
    if (r.ragged && (l > 0 || dx)) pb_lstm_zero_pad(&r, dxl, l ? r.out : p->input_size);
    if (l == 0) break;
    const uint8_t *mask = (const uint8_t *)(rs + pb_lstm_rs_y(e, l - 1) + 2 * ybytes);
    pb_lstm_drop_bwd_kernel<<<pb_cuda_blocks(r.tno, PB_CUDA_THREADS), PB_CUDA_THREADS, 0, r.s>>>(dxl, mask, r.tno,
                                                                                                 scale);
    PB_CUDA_CHECK_LAUNCH("pb_lstm_drop_bwd_kernel");
    dcur = dxl;
  }
}
