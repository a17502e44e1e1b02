/* model.c: the sequential model: memory planning, initialisation, forward and backward
 * (model.h). */
#include "engine/models/model.h"

#include <math.h>
#include <string.h>

#include "engine/device/backend.h"
#include "engine/device/lowp.h"
#include "kernels/pb_rng.h"

pb_model *pb_model_new(pb_ctx *ctx, const int in[3], const char *arch) {
  pb_model *m = pb_xcalloc(1, sizeof *m);
  m->ctx = ctx;
  memcpy(m->in, in, sizeof m->in);
  snprintf(m->arch, sizeof m->arch, "%s", arch);
  return m;
}

const int *pb_model_out(const pb_model *m) { return m->nlayers ? m->layers[m->nlayers - 1]->out : m->in; }

/* Appends the tensors of l, then of its children (recursively), to the model's list. */
static void collect_tensors(pb_model *m, pb_layer *l) {
  for (int j = 0; j < l->nparams; j++) {
    if (m->ntensors == m->tensors_cap) {
      m->tensors_cap = m->tensors_cap ? 2 * m->tensors_cap : 64;
      m->tensors = pb_xrealloc(m->tensors, (size_t)m->tensors_cap * sizeof *m->tensors);
    }
    m->tensors[m->ntensors++] = &l->params[j];
  }
  for (int c = 0; c < l->nchildren; c++) collect_tensors(m, l->children[c]);
}

/* Layer kinds that read their input as a flat NCHW vector, and those indifferent to the layout
 * (elementwise); every other kind is an image layer, which follows the context's layout. */
static int kind_in(const char *kind, const char *const *list) {
  for (; *list; list++)
    if (!strcmp(kind, *list)) return 1;
  return 0;
}
static const char *const FLAT_KINDS[] = {"linear", "heads", "frames", "frame_linear", "lstm", "l2norm", NULL};
static const char *const ANY_KINDS[] = {"relu", "sigmoid", "dropout", "to_nhwc", NULL};

static void append(pb_model *m, pb_layer *l);

/* [run] layout = nhwc at the model's edges (model.h, pb_model_add). nhwc_stream: the current output
 * came from an image layer, so it is channels last; the two layouts differ only for maps of more
 * than one channel and pixel (map). */
static void layout_edges(pb_model *m, pb_layer *l) {
  if (!m->ctx || !m->ctx->nhwc) return;
  const int *cur = pb_model_out(m);
  const char *kind = l->vt->kind;
  const int map = cur[0] >= 2 && cur[1] * cur[2] >= 2;
  if (kind_in(kind, ANY_KINDS)) return;
  if (!strcmp(kind, "flatten")) {
    l->alias = !(map && m->nhwc_stream); /* behind channels-last maps: a permutation back to NCHW */
    m->nhwc_stream = 0;
    return;
  }
  if (kind_in(kind, FLAT_KINDS)) {
    PB_ASSERT(!(map && m->nhwc_stream)); /* builders flatten or pool before a fully connected layer */
    m->nhwc_stream = 0;
    return;
  }
  if (map && !m->nhwc_stream) append(m, pb_to_nhwc_layer("to_nhwc", cur));
  m->nhwc_stream = 1;
}

void pb_model_add(pb_model *m, pb_layer *l) {
  layout_edges(m, l);
  append(m, l);
}

static void append(pb_model *m, pb_layer *l) {
  const int *cur = pb_model_out(m);
  PB_ASSERT(l->in[0] * l->in[1] * l->in[2] == cur[0] * cur[1] * cur[2]);
  PB_ASSERT(!l->inplace || m->nlayers > 0); /* never overwrite the caller's input */
  if (m->nlayers == m->cap) {
    m->cap = m->cap ? 2 * m->cap : 16;
    m->layers = pb_xrealloc(m->layers, (size_t)m->cap * sizeof *m->layers);
  }
  m->layers[m->nlayers++] = l;
  collect_tensors(m, l);
}

#define PB_PAD16(x) (((x) + 15) / 16 * 16)

/* Saved floats of l and its children for batches of max_n. */
static size_t saved_size(const pb_layer *l, int max_n) {
  size_t s = PB_PAD16((size_t)max_n * l->saved_per_sample + l->saved_fixed);
  for (int c = 0; c < l->nchildren; c++) s += saved_size(l->children[c], max_n);
  return s;
}

static void set_max_n(pb_layer *l, int max_n) {
  l->max_n = max_n;
  for (int c = 0; c < l->nchildren; c++) set_max_n(l->children[c], max_n);
}

static void assign_saved(pb_layer *l, float **cursor, int max_n) {
  l->saved = *cursor;
  *cursor += PB_PAD16((size_t)max_n * l->saved_per_sample + l->saved_fixed);
  for (int c = 0; c < l->nchildren; c++) assign_saved(l->children[c], cursor, max_n);
}

static size_t scratch_size(const pb_layer *l, int max_n, int nthreads) {
  size_t s = l->vt->scratch ? l->vt->scratch(l, max_n, nthreads) : 0;
  for (int c = 0; c < l->nchildren; c++) s = PB_MAX(s, scratch_size(l->children[c], max_n, nthreads));
  return s;
}

/* Calls every layer's plan hook (layer.h), children first. */
static int plan_layers(pb_layer *l, pb_ctx *ctx, int max_n, int train, pb_err *err) {
  for (int c = 0; c < l->nchildren; c++)
    if (plan_layers(l->children[c], ctx, max_n, train, err)) return PB_ERR;
  return l->vt->plan ? l->vt->plan(l, ctx, max_n, train, err) : PB_OK;
}

/* Does layer i write its output over its input: in place in every plan, or in evaluation in an
 * inference-only plan, but never over the caller's input (no layer before it makes a tensor)? */
static int runs_in_place(const pb_model *m, int i) {
  const pb_layer *l = m->layers[i];
  if (l->inplace) return 1;
  if (!m->infer_only || !l->inplace_eval) return 0;
  for (int j = 0; j < i; j++)
    if (!m->layers[j]->alias) return 1;
  return 0;
}

static size_t layer_work(const pb_layer *l, int max_n) { return (size_t)max_n * l->work_per_sample + l->work_fixed; }

#define PB_PAD64(x) (((x) + 63) / 64 * 64) /* 256 bytes: every region of the arena starts aligned */

/* The inference arena (model.h). Layer outputs alternate between the arena's two ends: a layer's
 * input lies at one end, its output goes to the other, and its work lies between them; in-place
 * and alias layers stay where their input is. The arena is the largest input + output + work
 * of any layer: only what the running layer touches is ever live (nothing is kept for a
 * backward), so memory is that of the widest layer rather than of two copies of the widest
 * tensor plus the largest work. Sets act[i] and each layer's work; returns the arena's floats
 * (with base NULL: sizes only). */
static size_t place_infer(pb_model *m, float *base, int max_n) {
  size_t need = 64, cur = 0; /* cur: the current tensor's padded size (0: the caller's input) */
  for (int i = 0; i < m->nlayers; i++) {
    const pb_layer *l = m->layers[i];
    size_t w = PB_PAD64(layer_work(l, max_n));
    if (l->alias || runs_in_place(m, i)) {
      need = PB_MAX(need, cur + w);
      continue;
    }
    size_t o = PB_PAD64((size_t)max_n * pb_layer_out_numel(l));
    need = PB_MAX(need, cur + o + w);
    cur = o;
  }
  if (!base) return need;
  int side = -1; /* the end the current tensor lies at: 0 bottom, 1 top, -1 the caller's input */
  cur = 0;
  for (int i = 0; i < m->nlayers; i++) {
    pb_layer *l = m->layers[i];
    size_t w = PB_PAD64(layer_work(l, max_n));
    if (l->alias || runs_in_place(m, i)) { /* work after the input at the bottom, else from 0 */
      l->work = base + (side == 0 ? cur : 0);
      if (side == 1) PB_ASSERT(w <= need - cur);
      continue;
    }
    size_t o = PB_PAD64((size_t)max_n * pb_layer_out_numel(l));
    int out_side = side == 0 ? 1 : 0;
    m->act[i] = out_side == 0 ? base : base + (need - o);
    l->work = base + (out_side == 0 ? o : (side == 0 ? cur : 0));
    PB_ASSERT(cur + o + w <= need);
    side = out_side;
    cur = o;
  }
  return need;
}

static int finalize(pb_model *m, int max_n, int infer, pb_err *err) {
  PB_ASSERT(m->nlayers > 0 && max_n > 0 && !m->params);
  m->max_n = max_n;
  m->infer_only = infer;
  for (int i = 0; i < m->nlayers; i++)
    if (plan_layers(m->layers[i], m->ctx, max_n, !infer, err))
      return pb_err_prefix(err, "model %s for batches of %d", m->arch, max_n);
  size_t np = 0, nb = 0, acts = 0, saved = 0, maxact = pb_layer_in_numel(m->layers[0]), scratch = 0, work = 0;
  for (int t = 0; t < m->ntensors; t++) {
    const pb_param *p = m->tensors[t];
    if (p->kind == PB_PARAM_TRAINABLE) np = p->packed ? np + p->numel : PB_PAD16(np + p->numel);
    if (p->kind == PB_PARAM_BUFFER) nb += PB_PAD16(p->numel);
  }
  for (int i = 0; i < m->nlayers; i++) {
    pb_layer *l = m->layers[i];
    size_t o = (size_t)max_n * pb_layer_out_numel(l);
    if (!l->alias && !l->inplace) acts += PB_PAD16(o);
    maxact = PB_MAX(maxact, o);
    saved += saved_size(l, max_n);
    work = PB_MAX(work, (size_t)max_n * l->work_per_sample + l->work_fixed);
    scratch = PB_MAX(scratch, scratch_size(l, max_n, m->ctx->nthreads));
  }
  maxact = PB_PAD16(maxact);
  if (infer) {
    acts = place_infer(m, NULL, max_n); /* one arena: outputs at alternate ends, work between */
    saved = 0;
    work = 0;
  }
  m->nparams = np;
  m->nbuffers = nb;
  pb_ctx *c = m->ctx;
  size_t f = sizeof(float);
  m->mem_params = np * f;
  m->mem_grads = infer ? 0 : np * f;
  m->mem_buffers = nb * f;
  m->mem_act = acts * f;
  m->mem_saved = saved * f;
  m->mem_dgrad = infer ? 0 : 2 * maxact * f;
  m->mem_work = work * f;
  if (!(m->params = pb_ctx_alloc(c, PB_MAX(np, 1) * f, "the parameters", err)) ||
      (!infer && !(m->grads = pb_ctx_alloc(c, PB_MAX(np, 1) * f, "the gradients", err))) ||
      !(m->buffers = pb_ctx_alloc(c, PB_MAX(nb, 1) * f, "the batch-norm statistics", err)) ||
      !(m->act_block = pb_ctx_alloc(c, PB_MAX(acts, 1) * f, "the activations", err)) ||
      (!infer && !(m->saved_block = pb_ctx_alloc(c, PB_MAX(saved, 1) * f, "the tensors saved for backward", err))) ||
      (!infer && !(m->dbuf[0] = pb_ctx_alloc(c, maxact * f, "the activation gradients", err))) ||
      (!infer && !(m->dbuf[1] = pb_ctx_alloc(c, maxact * f, "the activation gradients", err))) ||
      (!infer && !(m->work_block = pb_ctx_alloc(c, PB_MAX(work, 1) * f, "the layers' work memory", err))))
    return pb_err_prefix(err, "model %s for batches of %d", m->arch, max_n);
  m->act = pb_xcalloc((size_t)m->nlayers, sizeof *m->act);
  size_t po = 0, bo = 0;
  for (int t = 0; t < m->ntensors; t++) {
    pb_param *p = m->tensors[t];
    if (p->kind == PB_PARAM_TRAINABLE) {
      p->data = m->params + po;
      p->grad = infer ? NULL : m->grads + po;
      po = p->packed ? po + p->numel : PB_PAD16(po + p->numel); /* every unpacked tensor starts 16-aligned */
    } else if (p->kind == PB_PARAM_BUFFER) {
      p->data = m->buffers + bo;
      bo += PB_PAD16(p->numel);
    }
  }
  size_t ao = 0;
  float *scursor = m->saved_block;
  for (int i = 0; i < m->nlayers; i++) {
    pb_layer *l = m->layers[i];
    l->work = m->work_block;
    set_max_n(l, max_n);
    if (!infer) {
      if (!l->alias && !l->inplace) {
        m->act[i] = m->act_block + ao;
        ao += PB_PAD16((size_t)max_n * pb_layer_out_numel(l));
      }
      assign_saved(l, &scursor, max_n);
    }
    /* alias and in-place layers: act[i] is resolved per forward (the input of the layer) */
  }
  if (infer) place_infer(m, m->act_block, max_n); /* act[i] and each layer's work in the arena */
  pb_ctx_reserve_scratch(c, scratch); /* host scratch of the CPU ops; nothing on a GPU */
  /* [run] precision bf16 / fp16: room for rounded copies of the largest weight run (a packed
   * run is one op's weights: the LSTM's) */
  size_t run = 0, most = 0;
  for (int t = 0; t < m->ntensors; t++) {
    const pb_param *p = m->tensors[t];
    if (p->kind != PB_PARAM_TRAINABLE) continue;
    run += p->numel;
    most = PB_MAX(most, run);
    if (!p->packed) run = 0;
  }
  if (pb_lowp_reserve(c, most, err)) return pb_err_prefix(err, "model %s for batches of %d", m->arch, max_n);
  return PB_OK;
}

int pb_model_finalize(pb_model *m, int max_n, pb_err *err) { return finalize(m, max_n, 0, err); }
int pb_model_finalize_infer(pb_model *m, int max_n, pb_err *err) { return finalize(m, max_n, 1, err); }

void pb_model_print_memory(const pb_model *m, FILE *out) {
  double mb = 1.0 / (1024.0 * 1024.0);
  size_t total = m->mem_params + m->mem_grads + m->mem_buffers + m->mem_act + m->mem_saved + m->mem_dgrad +
                 m->mem_work;
  fprintf(out,
          "planned memory (%s, batch %d): %.1f MiB = parameters %.1f + gradients %.1f + buffers %.1f + "
          "activations %.1f + saved for backward %.1f + activation gradients %.1f + work %.1f%s\n",
          m->infer_only ? "inference" : "training", m->max_n, (double)total * mb, (double)m->mem_params * mb,
          (double)m->mem_grads * mb, (double)m->mem_buffers * mb, (double)m->mem_act * mb, (double)m->mem_saved * mb,
          (double)m->mem_dgrad * mb, (double)m->mem_work * mb,
          m->infer_only ? " (work inside the activation arena)" : "");
}

/* Standard normal from two uniforms (Box-Muller), counter-based. */
static float normal01(uint64_t seed, uint64_t stream, uint64_t i) {
  double u1 = pb_rng_uniform_f64(seed, stream, 2 * i), u2 = pb_rng_uniform_f64(seed, stream, 2 * i + 1);
  if (u1 < 1e-300) u1 = 1e-300;
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void pb_model_init(pb_model *m, uint64_t seed) {
  float *host = NULL;
  size_t host_cap = 0;
  for (int ordinal = 0; ordinal < m->ntensors; ordinal++) {
    {
      pb_param *p = m->tensors[ordinal];
      uint64_t stream = PB_RNG_STREAM(PB_RNG_INIT, ordinal);
      if (p->kind == PB_PARAM_COUNTER) {
        p->counter = 0;
        continue;
      }
      if (p->numel > host_cap) {
        host_cap = p->numel;
        host = pb_xrealloc(host, host_cap * sizeof(float));
      }
      for (size_t k = 0; k < p->numel; k++) {
        float v = 0;
        switch (p->init) {
          case PB_INIT_TORCH_DEFAULT:
          case PB_INIT_TORCH_BIAS: {
            /* kaiming_uniform_(a=sqrt(5)) has bound sqrt(6/((1+5) fan_in)) = 1/sqrt(fan_in), the
             * same bound as the bias init. */
            float bound = p->fan_in > 0 ? 1.0f / sqrtf((float)p->fan_in) : 0.0f;
            v = bound * (2.0f * pb_rng_uniform(seed, stream, k) - 1.0f);
            break;
          }
          case PB_INIT_KAIMING_NORMAL_FAN_OUT:
            v = sqrtf(2.0f / (float)p->fan_out) * normal01(seed, stream, k);
            break;
          case PB_INIT_CONST:
            v = p->init_value;
            break;
        }
        host[k] = v;
      }
      pb_ctx_upload(m->ctx, p->data, host, p->numel * sizeof(float));
    }
  }
  free(host);
}

float *pb_model_place(pb_model *m, const float *x) {
  const float *cur = x;
  for (int i = 0; i < m->nlayers; i++) {
    if (m->layers[i]->alias || runs_in_place(m, i)) m->act[i] = (float *)cur;
    cur = m->act[i];
  }
  return (float *)cur;
}

/* Is layer i a batch norm whose output the in-place ReLU i + 1 overwrites (run as one op)? */
static int bn_relu_pair(const pb_model *m, int i) {
  return i + 1 < m->nlayers && !strcmp(m->layers[i]->vt->kind, "batchnorm") &&
         !strcmp(m->layers[i + 1]->vt->kind, "relu") && runs_in_place(m, i + 1);
}

static float *forward_eager(pb_model *m, const float *x, int n, int train);
static float *eval_eager(pb_model *m, const float *x, int n) { return forward_eager(m, x, n, 0); }

float *pb_model_forward(pb_model *m, const float *x, int n, int train) {
  PB_ASSERT(n >= 1 && n <= m->max_n);
  PB_ASSERT(!train || !m->infer_only);
  if (!train && m->graphs_on && m->workspace_fitted) return pb_model_graph_forward(m, x, n, eval_eager);
  return forward_eager(m, x, n, train);
}

static float *forward_eager(pb_model *m, const float *x, int n, int train) {
  m->input = x;
  m->last_n = n;
  const float *cur = x;
  for (int i = 0; i < m->nlayers; i++) {
    pb_layer *l = m->layers[i];
    if (l->alias) {
      m->act[i] = (float *)cur;
      continue;
    }
    if (runs_in_place(m, i)) m->act[i] = (float *)cur;
    if (bn_relu_pair(m, i)) {
      /* batch norm and the in-place ReLU after it in one op, bitwise the two (training: fused
       * with [run] fused_bn_train; model backward undoes them as one too) */
      if (train)
        pb_batchnorm_train(l, m->ctx, n, cur, NULL, m->act[i], 1);
      else
        pb_batchnorm_eval(l, m->ctx, n, cur, NULL, m->act[i], 1);
      i++;
      m->act[i] = m->act[i - 1];
    } else {
      l->vt->forward(l, m->ctx, n, cur, m->act[i], train);
    }
    cur = m->act[i];
  }
  if (m->infer_only && !m->workspace_fitted) {
    pb_err err = {{0}};
    if (m->ctx->ops->workspace_fit(m->ctx, NULL, &err)) PB_FATAL("model %s: %s", m->arch, err.msg);
    m->workspace_fitted = 1;
  }
  return (float *)cur;
}

void pb_model_backward(pb_model *m, const float *dout, int n) { pb_model_backward_hook(m, dout, n, NULL, NULL); }

/* The lowest gradient offset of l's trainable tensors (its children's too), else lo. */
static size_t grad_lo(const pb_model *m, const pb_layer *l, size_t lo) {
  for (int j = 0; j < l->nparams; j++)
    if (l->params[j].kind == PB_PARAM_TRAINABLE && l->params[j].grad) {
      size_t off = (size_t)(l->params[j].grad - m->grads);
      if (off < lo) lo = off;
    }
  for (int c = 0; c < l->nchildren; c++) lo = grad_lo(m, l->children[c], lo);
  return lo;
}

void pb_model_backward_hook(pb_model *m, const float *dout, int n, pb_feature_grad_fn hook, void *user) {
  PB_ASSERT(n == m->last_n && !m->infer_only && m->nlayers >= (hook ? 2 : 1));
  const float *dy = dout;
  int which = 0;
  size_t lo = m->nparams;
  /* the first layer that computes from the input: the layers before it (flatten views, the
   * channels-last entry) need no gradient, and neither does its input */
  int first = 0;
  while (first < m->nlayers - 1 && (m->layers[first]->alias || !strcmp(m->layers[first]->vt->kind, "to_nhwc")))
    first++;
  for (int i = m->nlayers - 1; i >= first; i--) {
    pb_layer *l = m->layers[i];
    if (l->alias) continue;
    if (i - 1 >= first && bn_relu_pair(m, i - 1) && !(hook && i == m->nlayers - 1)) {
      /* the ReLU's mask and the batch norm's backward in one op (the forward ran them as one) */
      pb_layer *bn = m->layers[i - 1];
      /* dz in the other buffer: dy's own (dz may alias dy), or a free one when dy is dout */
      float *dz = m->dbuf[which ^ 1], *dx = m->dbuf[which];
      pb_batchnorm_train_bwd(bn, m->ctx, n, i - 1 > 0 ? m->act[i - 2] : m->input, m->act[i], dy, dz, dx, 1);
      if (m->grads_ready) {
        lo = grad_lo(m, bn, grad_lo(m, l, lo));
        m->grads_ready(m->grads_ready_user, lo);
      }
      dy = dx;
      which ^= 1;
      i--;
      continue;
    }
    const float *x = i > 0 ? m->act[i - 1] : m->input;
    /* The first layer needs no input gradient, except batch norm whose op always writes one. */
    int need_dx = i > first || !strcmp(l->vt->kind, "batchnorm") || (hook && i == m->nlayers - 1);
    float *dx = need_dx ? m->dbuf[which] : NULL;
    l->vt->backward(l, m->ctx, n, x, m->act[i], dy, dx);
    /* the classifier's input gradient is formed: the hook adds to it before it flows on */
    if (hook && i == m->nlayers - 1) hook(user, dx, n);
    if (m->grads_ready) {
      lo = grad_lo(m, l, lo);
      m->grads_ready(m->grads_ready_user, lo);
    }
    dy = dx;
    which ^= 1;
  }
}

const float *pb_model_features(const pb_model *m, int *dim) {
  PB_ASSERT(m->nlayers >= 2);
  const pb_layer *last = m->layers[m->nlayers - 1];
  if (dim) *dim = (int)pb_layer_in_numel(last);
  return m->act[m->nlayers - 2];
}

void pb_model_zero_grad(pb_model *m) { pb_ctx_zero(m->ctx, m->grads, PB_MAX(m->nparams, 1) * sizeof(float)); }

void pb_model_free(pb_model *m) {
  if (!m) return;
  pb_model_graphs_free(m);
  for (int i = 0; i < m->nlayers; i++) pb_layer_free(m->layers[i]);
  free(m->layers);
  free(m->act);
  pb_ctx_free_mem(m->ctx, m->params);
  pb_ctx_free_mem(m->ctx, m->grads);
  pb_ctx_free_mem(m->ctx, m->buffers);
  pb_ctx_free_mem(m->ctx, m->act_block);
  pb_ctx_free_mem(m->ctx, m->saved_block);
  pb_ctx_free_mem(m->ctx, m->dbuf[0]);
  pb_ctx_free_mem(m->ctx, m->dbuf[1]);
  pb_ctx_free_mem(m->ctx, m->work_block);
  free(m->tensors);
  free(m);
}

int pb_model_ntensors(const pb_model *m) { return m->ntensors; }

pb_param *pb_model_tensor(pb_model *m, int k) { return k >= 0 && k < m->ntensors ? m->tensors[k] : NULL; }

pb_param *pb_model_find(pb_model *m, const char *name) {
  for (int i = 0; i < m->ntensors; i++)
    if (!strcmp(m->tensors[i]->name, name)) return m->tensors[i];
  return NULL;
}

void pb_model_summary(const pb_model *m, FILE *out) {
  size_t total = 0;
  fprintf(out, "model %s: input %dx%dx%d\n", m->arch, m->in[0], m->in[1], m->in[2]);
  fprintf(out, "  %-24s %-10s %-16s %12s\n", "layer", "kind", "output", "params");
  for (int i = 0; i < m->nlayers; i++) {
    const pb_layer *l = m->layers[i];
    size_t np = pb_layer_count_params(l);
    total += np;
    char shape[48];
    snprintf(shape, sizeof shape, "%dx%dx%d", l->out[0], l->out[1], l->out[2]);
    fprintf(out, "  %-24s %-10s %-16s %12zu\n", l->name, l->vt->kind, shape, np);
  }
  fprintf(out, "  total trainable parameters: %zu\n", total);
}
