/* layer.h: the layer vtable and parameter descriptors.
 *
 * A layer is a const vtable over private state. Shapes are per sample (C, H, W; a vector is
 * (D, 1, 1)); the batch size n is given to each call and is at most the max_n the model was
 * planned for. Layers never allocate in forward/backward: the model assigns parameter,
 * gradient, buffer and activation memory when it is built. */
#ifndef PB_LAYER_H
#define PB_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "engine/device/ctx.h"

typedef enum pb_param_kind {
  PB_PARAM_TRAINABLE, /* in the parameter block; has a gradient; the optimizer steps it */
  PB_PARAM_BUFFER,    /* float state saved in checkpoints (BN running stats) */
  PB_PARAM_COUNTER,   /* one int64 saved in checkpoints (BN num_batches_tracked) */
} pb_param_kind;

typedef enum pb_init_kind {
  PB_INIT_TORCH_DEFAULT, /* nn.Conv2d / nn.Linear weight: kaiming_uniform_(a=sqrt(5)) */
  PB_INIT_TORCH_BIAS,    /* their bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
  PB_INIT_KAIMING_NORMAL_FAN_OUT, /* kaiming_normal_(mode='fan_out', nonlinearity='relu') */
  PB_INIT_CONST,         /* init_value everywhere */
} pb_init_kind;

typedef struct pb_param {
  char name[96];                   /* PyTorch state_dict key: "extracter.1.running_mean" */
  int ndim, shape[4];
  size_t numel;
  pb_param_kind kind;
  pb_init_kind init;
  float init_value;                /* PB_INIT_CONST */
  int fan_in, fan_out;             /* for the Kaiming inits */
  float *data;                     /* assigned by the model (TRAINABLE, BUFFER) */
  float *grad;                     /* TRAINABLE only */
  int64_t counter;                 /* COUNTER only */
  int packed;                      /* TRAINABLE: the model places the NEXT trainable tensor right
                                      after this one, without padding (a layer whose op reads its
                                      tensors as one flat buffer: the LSTM) */
} pb_param;

/* Parameters a LEAF layer owns directly (batch norm has 5). Composite layers (residual
 * blocks, heads) own child layers instead, to any depth; the model enumerates the tensors of
 * a layer and then those of its children, recursively (pb_model_tensor). */
#define PB_LAYER_MAX_PARAMS 32 /* the LSTM: 4 per layer and direction, at most 4 layers x 2 */

typedef struct pb_layer pb_layer;

typedef struct pb_layer_vt {
  const char *kind;
  /* y[n, out] = f(x[n, in]). train != 0: training mode (batch stats, dropout on). */
  void (*forward)(pb_layer *l, pb_ctx *ctx, int n, const float *x, float *y, int train);
  /* Given x, y of the last TRAINING forward and dy: parameter grads +=; dx = (overwrite)
   * unless dx is NULL (the first layer needs no input gradient). */
  void (*backward)(pb_layer *l, pb_ctx *ctx, int n, const float *x, const float *y, const float *dy,
                   float *dx);
  /* Host scratch floats needed for batch max_n (0 if none); a composite returns the max over
   * its children. */
  size_t (*scratch)(const pb_layer *l, int max_n, int nthreads);
  void (*free)(pb_layer *l);
  /* Optional, called once by the model when it is finalized for batches of max_n, before any
   * memory is sized: a layer whose saved or work memory, or whose op's scratch, depends on the
   * device sets saved_* / work_* here and reserves the op memory (the LSTM). Errors (a device
   * that cannot run it, a workspace too small) name the layer. */
  int (*plan)(pb_layer *l, pb_ctx *ctx, int max_n, int train, pb_err *err);
  /* Optional: the layer's RNG call counter (dropout, the LSTM's dropout), saved in checkpoints
   * so that resuming redraws the same masks. */
  uint64_t *(*rng_counter)(pb_layer *l);
} pb_layer_vt;

struct pb_layer {
  const pb_layer_vt *vt;
  char name[64];    /* module path, e.g. "extracter.0" or "conv1" */
  int in[3], out[3];/* per-sample C, H, W */
  int alias;        /* 1: output is the input's memory (flatten); forward/backward do nothing */
  int inplace;      /* 1: forward may write its output over its input (ReLU after batch norm):
                       the model gives it the input's memory; set only where the previous
                       layer's backward does not read that layer's output */
  int inplace_eval; /* 1: its EVALUATION forward may write over its input (batch norm, ReLU): a
                       model planned for inference only (no backward reads anything) runs it in
                       the input's memory */
  int nparams;
  pb_param params[PB_LAYER_MAX_PARAMS];
  size_t saved_per_sample; /* floats kept per sample for backward (masks, argmax) */
  size_t saved_fixed;      /* floats kept regardless of the batch (BN's batch statistics) */
  float *saved;            /* assigned by the model, on the model's device:
                              max_n * saved_per_sample + saved_fixed floats; NULL in a model
                              planned for inference only (train = 0 forwards never use it) */
  size_t work_per_sample;  /* floats of temporaries per sample during ONE forward or backward
                              call (intermediates of a block in evaluation, gradient temporaries) */
  size_t work_fixed;
  float *work;             /* assigned by the model: ONE region shared by every layer (calls do
                              not overlap), max over layers of max_n * work_per_sample + work_fixed */
  int max_n;               /* the batch bound the model planned for (set at finalize, children too) */
  int nchildren;
  pb_layer **children;     /* owned; their saved memory is assigned by the model too */
  void *priv;
};

static inline size_t pb_layer_in_numel(const pb_layer *l) { return (size_t)l->in[0] * l->in[1] * l->in[2]; }
static inline size_t pb_layer_out_numel(const pb_layer *l) { return (size_t)l->out[0] * l->out[1] * l->out[2]; }

/* Adds a parameter descriptor to l (at build). Returns it for further settings. */
pb_param *pb_layer_add_param(pb_layer *l, const char *suffix, pb_param_kind kind, int ndim, const int *shape,
                             pb_init_kind init, int fan_in, int fan_out);
/* Frees l (and its priv with free()). NULL-safe. */
void pb_layer_free(pb_layer *l);
/* A zeroed layer with name and vtable. */
pb_layer *pb_layer_new(const pb_layer_vt *vt, const char *name, const int in[3]);
/* Makes child (may be NULL: returns NULL, for error chaining) a child of l, which owns it. */
pb_layer *pb_layer_add_child(pb_layer *l, pb_layer *child);
/* Trainable parameters of l and its children (count of floats). */
size_t pb_layer_count_params(const pb_layer *l);

/* The evaluation forward of a batch-norm layer fused with what follows it in a ResNet:
 * y = relu?(bn_eval(x) + r) (ops table bn_eval_fused; r [n, c, hw] or NULL), y may be x or r.
 * Bitwise the layer's forward (train = 0), then the add, then the ReLU. */
void pb_batchnorm_eval(pb_layer *bn, pb_ctx *ctx, int n, const float *x, const float *r, float *y, int relu);

/* The training forward of a batch-norm layer fused with what follows it in a ResNet: y = relu?(
 * bn_train(x) + r), r [n, c, hw] or NULL: the layer's forward (train = 1, statistics and counter
 * included), the add, the ReLU. One op (ops table bn_fwd_train_fused) when ctx->fused_bn and not
 * [dist] sync_bn, else the three: the same bits on the CPU. y must not alias x or r. */
void pb_batchnorm_train(pb_layer *bn, pb_ctx *ctx, int n, const float *x, const float *r, float *y, int relu);
/* Its backward: dz = relu ? (y > 0 ? dy : 0) : dy (dz may alias dy: the gradient the residual r
 * receives too), then the layer's backward of dz into dx (parameter gradients accumulate). y: the
 * fused forward's output, x its input. */
void pb_batchnorm_train_bwd(pb_layer *bn, pb_ctx *ctx, int n, const float *x, const float *y, const float *dy,
                            float *dz, float *dx, int relu);

/* Constructors. Each checks its shapes and returns NULL with err set when they are invalid
 * (the message names the layer). */
pb_layer *pb_conv2d_layer(const char *name, const int in[3], int c_out, int k, int stride, int pad, int dil,
                          int groups, int bias, pb_init_kind winit, pb_err *err);
pb_layer *pb_batchnorm_layer(const char *name, const int in[3], float eps, float momentum, pb_err *err);
pb_layer *pb_relu_layer(const char *name, const int in[3]);
pb_layer *pb_sigmoid_layer(const char *name, const int in[3]);
pb_layer *pb_maxpool_layer(const char *name, const int in[3], int k, int stride, int pad, pb_err *err);
pb_layer *pb_avgpool_layer(const char *name, const int in[3], int k, int stride, int pad, pb_err *err);
pb_layer *pb_gap_layer(const char *name, const int in[3]);
/* A view (alias) of NCHW memory; behind channels-last layers ([run] layout = nhwc) the model makes
 * it a permutation back to NCHW order (alias = 0), so a classifier's weights stay PyTorch's. */
pb_layer *pb_flatten_layer(const char *name, const int in[3]);
/* [run] layout = nhwc: the permutation of a model's NCHW input to channels last (layout.c), put
 * before the first image layer by the model. */
pb_layer *pb_to_nhwc_layer(const char *name, const int in[3]);
/* ReLU that overwrites its input (see pb_layer.inplace). */
pb_layer *pb_relu_inplace_layer(const char *name, const int in[3]);
pb_layer *pb_linear_layer(const char *name, const int in[3], int out, int bias, pb_err *err);
/* Dropout draws its mask from (seed, stream = PB_RNG_DROPOUT | layer index | call counter). */
pb_layer *pb_dropout_layer(const char *name, const int in[3], float p, uint64_t seed, int index);
/* Dropout's call counter (part of the RNG state saved in checkpoints). */
uint64_t *pb_dropout_counter(pb_layer *l);
/* The RNG call counter of any layer that draws (vt->rng_counter), else NULL. */
uint64_t *pb_layer_rng_counter(pb_layer *l);

/* Sequence layers: per sample (1, T, D), the layout of a float32 [N, T, D] dataset; each
 * batch's sequence lengths come from ctx->seq_lengths (NULL: every sample has T steps).
 * pb_frame_linear_layer (linear.c): nn.Linear applied to every step (frame): (1, T, D) ->
 * (1, T, out), weight [out, D] (a Linear over the last dimension, as PyTorch's). */
pb_layer *pb_frame_linear_layer(const char *name, const int in[3], int out, int bias, pb_err *err);
/* nn.LSTM (batch_first = True in plumb's per-sample layout) over (1, T, D), named NAME.weight_ih_l0 ...
 * (lstm.c). pooling: PB_SEQ_ALL -> (1, T, dirs*H), every step, zeros past each length;
 * PB_SEQ_LAST -> (dirs*H, 1, 1), the last layer's final states h_n (forward: each
 * sequence's last valid step; reverse: step 0) concatenated; PB_SEQ_MEAN -> (dirs*H, 1, 1), the
 * mean of the output over the valid steps. dropout between layers from (seed, index, calls),
 * as pb_dropout_layer. */
enum { PB_SEQ_ALL, PB_SEQ_LAST, PB_SEQ_MEAN };
pb_layer *pb_lstm_layer(const char *name, const int in[3], int hidden, int layers, int bidirectional, float dropout,
                        int pooling, uint64_t seed, int index, pb_err *err);

/* Frame encoder (frames.c): children = an image model's layers (for (C, H, W) frames, without
 * its classifier; owned from here on, also on failure) run on every valid frame of (T*C, H, W)
 * image sequences, named NAME.<child> ("encoder.conv1.weight"). Output (1, T, F), zeros past
 * each sequence's length (ctx->seq_lengths); only valid frames are encoded. */
pb_layer *pb_frames_layer(const char *name, const int in[3], int T, pb_layer **children, int nchildren, pb_err *err);

/* Multi-head classifier (heads.c): one linear child per head, named NAME.<head> ("heads.skin"),
 * over the same input. Output per sample: sum of classes, but laid out HEAD-MAJOR for a batch
 * of n: head h's logits are the contiguous [n, classes[h]] block at y + n * (sum of the classes
 * of heads 0..h-1), so each head's loss runs on a plain [n, k] matrix. dx = sum over heads. */
pb_layer *pb_heads_layer(const char *name, const int in[3], int nheads, const char *const *names,
                         const int *classes, pb_err *err);
/* Row-wise L2 normalisation of the flattened input (l2norm.c): y = x / max(||x||, 1e-12), as
 * F.normalize. Saves the row norms for backward. */
pb_layer *pb_l2norm_layer(const char *name, const int in[3]);

/* Residual blocks (resblock.c): composite layers over child conv / batch-norm layers, named
 * as torchvision's BasicBlock and Bottleneck (conv1, bn1, ..., downsample.0, downsample.1) and
 * timm's SE module (se.fc1, se.fc2: 1x1 convolutions with bias). planes: the block's width;
 * the output has planes (basic) or 4*planes (bottleneck) channels; stride on the 3x3 conv
 * (torchvision "v1.5"); a 1x1 conv + BN downsample when the shape changes. k: the kernel of
 * the spatial convolutions (3; 1 for BagNet-style blocks). se_reduction > 0 adds a
 * squeeze-excitation (global average pool, fc1 -> ReLU -> fc2 -> sigmoid, channel scale)
 * after the last BN, before the residual add. zero_init: the last BN's weight starts at 0. */
pb_layer *pb_basic_block(const char *name, const int in[3], int planes, int stride, int k, int se_reduction,
                         int zero_init, pb_err *err);
pb_layer *pb_bottleneck_block(const char *name, const int in[3], int planes, int stride, int se_reduction,
                              int zero_init, pb_err *err);
/* ReBias's BagNet block (resblock.c; BasicBlock_ of the released models/imagenet_models.py):
 * conv1 k x k with the stride, bn1, ReLU, conv2 1x1, bn2, both convolutions WITHOUT padding;
 * the shortcut (x, or downsample.0 1x1 conv with the stride + downsample.1 BN when the stride
 * is not 1 or the channels change) is cropped to the output's size at its top-left before the
 * add, then ReLU. Names as torchvision's BasicBlock. zero_init as pb_basic_block. */
pb_layer *pb_bagnet_block(const char *name, const int in[3], int planes, int stride, int k, int zero_init,
                          pb_err *err);

#endif
