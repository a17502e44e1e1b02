/* model.h: a model = an ordered stack of layers (a backbone ending in a classification head),
 * some of them composite (residual blocks owning child layers), with its parameters,
 * gradients and buffers each in ONE contiguous block, and activation memory planned once for
 * a maximum batch size (never allocated in forward/backward).
 *
 * Two plans. TRAIN: every layer output is kept for backward, plus what each layer saves
 * (saved_per_sample: block intermediates, masks, BN batch statistics), two activation-gradient
 * buffers, and one work region shared by all layers. INFER (pb_model_finalize_infer): no
 * gradients, nothing saved; ONE arena: layer outputs alternate between its two ends and each
 * layer's work lies between its input and its output, so the arena is the largest input +
 * output + work of a single layer; batch norm and ReLU run in place (inplace_eval); a training
 * forward is a bug. ReLUs after batch norm run in place in both plans, and an evaluation
 * forward runs a batch norm and the in-place ReLU after it as one op (pb_batchnorm_eval). */
#ifndef PB_MODEL_H
#define PB_MODEL_H

#include <stdio.h>

#include "engine/config/config.h"
#include "engine/layers/layer.h"

#define PB_MAX_HEADS 16
#define PB_MODEL_MAX_GRAPHS 8

/* A captured inference forward (model_graph.c): input buffer and batch size, its instance. */
typedef struct pb_model_graph {
  const float *x;
  int n;
  void *exec; /* NULL: seen once (run eagerly), not captured yet */
} pb_model_graph;

/* One classification head of a multi-head model ([model] heads). */
typedef struct pb_head {
  char name[32];  /* "skin": its layer is heads.skin, its CSV label column the same name */
  int classes;
  int offset;     /* sum of the classes of the heads before it */
  float weight;   /* loss weight ([model] head_weights) */
} pb_head;

typedef struct pb_model {
  pb_ctx *ctx;
  int in[3];         /* input per sample (C, H, W) */
  int nlayers, cap;
  pb_layer **layers; /* owned */
  int max_n;         /* batch size the memory is planned for (set by pb_model_finalize) */
  float *params;     /* all trainable parameters, contiguous */
  float *grads;      /* their gradients, same layout */
  size_t nparams;
  float *buffers;    /* BN running statistics etc. */
  size_t nbuffers;
  float **act;       /* act[i]: output of layer i ([max_n, out numel]) */
  float *act_block, *saved_block, *dbuf[2], *work_block;
  int infer_only;     /* planned with pb_model_finalize_infer */
  int nhwc_stream;    /* [run] layout = nhwc: the layers added so far hand on channels-last maps (an
                         entry layer turned the input; pb_model_add) */
  int workspace_fitted; /* inference: the context's workspace was fitted after the first forward */
  /* CUDA graphs of the inference forward (model_graph.c; [run] cuda_graphs) */
  int graphs_on;
  char graphs_why[160];  /* "on", or "off (why)" */
  int ngraphs;
  pb_model_graph graphs[PB_MODEL_MAX_GRAPHS];
  long graph_launches;   /* forwards that ran as a graph */
  /* Optional: called during backward after each layer's, with the lowest offset into grads from
   * which on every gradient is final for this backward (the layers from this one to the last are
   * done; grads are laid out in layer order). The data-parallel buckets start their exchange
   * there while the earlier layers' backward runs (engine/dist/dist.h). */
  void (*grads_ready)(void *user, size_t lo);
  void *grads_ready_user;
  /* bytes planned on the device, by purpose (pb_model_print_memory) */
  size_t mem_params, mem_grads, mem_buffers, mem_act, mem_saved, mem_dgrad, mem_work;
  int ntensors, tensors_cap;
  pb_param **tensors; /* every tensor of every layer and child, in model order */
  const float *input; /* input of the last forward */
  int last_n;
  char arch[32];
  /* The output. nheads == 0: one classification head (fc), logits [n, out]. nheads >= 1: the
   * "heads" layer; head h's logits are the CONTIGUOUS block [n, heads[h].classes] at
   * output + n * heads[h].offset (head-major, see pb_heads_layer). embed_dim > 0: an embedding
   * [n, embed_dim] (L2-normalised when embed_l2), no classes. */
  int nheads;
  pb_head heads[PB_MAX_HEADS];
  int embed_dim, embed_l2;
} pb_model;

/* An empty model for inputs of shape in. */
pb_model *pb_model_new(pb_ctx *ctx, const int in[3], const char *arch);
/* Appends l, taking ownership. Its input shape must equal the current output shape (a bug
 * otherwise: builders compute shapes from the previous layer). With [run] layout = nhwc (the
 * context's nhwc) and a map of several channels at that point: an image layer (convolution,
 * batch norm, pools, blocks) gets the entry layer to_nhwc before it, named "to_nhwc" (no
 * parameters: checkpoints unchanged), unless the maps are channels last already; a flatten
 * behind channels-last maps permutes them back instead of aliasing; a layer that reads the map
 * as a flat NCHW vector (linear, heads, frames, the sequence layers) behind channels-last maps
 * is a builder bug (assert). */
void pb_model_add(pb_model *m, pb_layer *l);
/* For model builders: appends the layer expr returns, or jumps to the builder's `fail` label
 * when it returned NULL (its constructor set err). Needs `pb_model *m` in scope. */
#define PB_MODEL_ADD_OR_FAIL(expr) \
  do {                             \
    pb_layer *l_ = (expr);         \
    if (!l_) goto fail;            \
    pb_model_add(m, l_);           \
  } while (0)

/* Output shape of the last layer (or the input when empty). */
const int *pb_model_out(const pb_model *m);
/* Allocates the parameter, gradient, buffer and activation blocks for batches up to max_n on
 * the context's device, and reserves the ops' scratch. Called once, after the last
 * pb_model_add. Fails (err names what did not fit) on out-of-memory. */
int pb_model_finalize(pb_model *m, int max_n, pb_err *err);
/* The same for evaluation only: parameters, buffers and the activation arena (above) holding the
 * layers' work too; no gradients and no memory saved for backward. */
int pb_model_finalize_infer(pb_model *m, int max_n, pb_err *err);
/* Prints the planned device memory by purpose (one line). */
void pb_model_print_memory(const pb_model *m, FILE *out);
/* PyTorch-style initialisation from (seed, tensor ordinal): each tensor's values depend only
 * on the seed and its position in the model. */
void pb_model_init(pb_model *m, uint64_t seed);
/* Forward of n <= max_n samples x [n, in] (on the model's device); returns the output [n, out] (model-owned, valid
 * until the next forward). train != 0 keeps what backward needs and uses batch statistics. The
 * first forward of an inference-only model then fits the context's workspace to what its ops
 * chose (ops table workspace_fit: on a GPU the cuDNN workspace shrinks to the largest need of the
 * chosen convolution algorithms; a later new shape searches within that). */
float *pb_model_forward(pb_model *m, const float *x, int n, int train);
/* CUDA graphs for an inference-only model on a GPU (model_graph.c): on != 0 turns them on when
 * every layer is graph-safe (else graphs_why says which is not); off on the CPU. Each (input
 * buffer, batch) pair runs eagerly once, is captured the second time and replayed from then on. */
void pb_model_graphs_enable(pb_model *m, int on);
/* The first layer (in model order, children included) a CUDA graph cannot hold: one whose
 * forward (train != 0: and backward) reads or changes host state; NULL when there is none. */
const pb_layer *pb_model_graph_unsafe(const pb_model *m, int train);
void pb_model_graphs_free(pb_model *m);
/* The pointers a forward of x sets without running anything (act[i] of alias and in-place layers
 * = their input); returns the output. For a replayed graph. */
float *pb_model_place(pb_model *m, const float *x);
/* For pb_model_forward: the graph of (x, n), captured or replayed; eager runs the ops. */
float *pb_model_graph_forward(pb_model *m, const float *x, int n, float *(*eager)(pb_model *, const float *, int));

/* Backward of the last training forward: parameter gradients ACCUMULATE. */
void pb_model_backward(pb_model *m, const float *dout, int n);
/* The same, calling hook(user, dfeat, n) once the gradient of the FEATURES (the input of the
 * last layer, the classifier: [n, dim] on the device) is formed, so that a penalty on the
 * features (HSIC) adds its gradient there before it flows into the backbone. */
typedef void (*pb_feature_grad_fn)(void *user, float *dfeat, int n);
void pb_model_backward_hook(pb_model *m, const float *dout, int n, pb_feature_grad_fn hook, void *user);
/* The features of the last forward: the input of the last layer (after global pooling and
 * flattening), [n, *dim] on the device, valid until the next forward. */
const float *pb_model_features(const pb_model *m, int *dim);
void pb_model_zero_grad(pb_model *m);
void pb_model_free(pb_model *m);

/* Every tensor a checkpoint holds (parameters, buffers, counters), in model order. */
int pb_model_ntensors(const pb_model *m);
pb_param *pb_model_tensor(pb_model *m, int i);
pb_param *pb_model_find(pb_model *m, const char *name);

/* Prints one line per layer (name, kind, output shape, parameters) and the totals. */
void pb_model_summary(const pb_model *m, FILE *out);

/* Builds the model named by [model] arch for inputs `in`, planned for max_n. Bad keys (such as
 * a kernel that does not fit the input) are errors naming the key. */
pb_model *pb_model_from_config(const pb_config *cfg, pb_ctx *ctx, const int in[3], int max_n, uint64_t seed,
                               pb_err *err);
/* The same with the choice of plan: infer != 0 plans for evaluation only. */
pb_model *pb_model_build(const pb_config *cfg, pb_ctx *ctx, const int in[3], int max_n, uint64_t seed, int infer,
                         pb_err *err);
/* Input shape of [model] arch for `plumb info --model` and `plumb bench`: in_channels (3 when
 * 0) x input_size x input_size. */
void pb_model_config_input(const pb_config *cfg, int in[3]);

/* The classifier at the end of every arch (model_heads.c): [model] heads -> a "heads" layer
 * (heads.NAME linear per head), [model] embedding_dim -> "embedding" linear [+ "l2norm"], else
 * the single linear fc_name with nclass outputs (every existing checkpoint name unchanged). */
int pb_model_add_classifier(pb_model *m, const pb_config *cfg, const char *fc_name, int nclass, pb_err *err);
/* Parses [model] heads and head_weights into heads[PB_MAX_HEADS]; *n = 0 when heads is empty.
 * Errors name the key and the bad entry. */
int pb_heads_parse(const pb_config *cfg, pb_head *heads, int *n, pb_err *err);

/* The ResNet family (models_resnet.c): builds [model] arch (resnet*, seresnet*, cifar_resnet,
 * bagnet18) into m. Returns PB_ERR with err naming the key when a key does not fit. */
int pb_build_resnet(pb_model *m, const pb_config *cfg, int nclass, pb_err *err);
int pb_arch_is_resnet(const char *arch);
/* Sequence models (models_seq.c): [model] arch = lstm over (1, T, D) inputs, or with [model]
 * frame_encoder over image sequences (T*C, H, W). */
int pb_build_lstm(pb_model *m, const pb_config *cfg, int nclass, uint64_t seed, pb_err *err);
/* Appends the layers of `arch` (the registry: mlp ... bagnet18, lstm) with its classifier for
 * nclass to m, without planning memory (pb_model_build = this, then finalize and init). */
int pb_model_add_arch(pb_model *m, const pb_config *cfg, const char *arch, int nclass, uint64_t seed, pb_err *err);

#endif
