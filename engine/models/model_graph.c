/* model_graph.c: CUDA graphs for inference-only models (model.h, pb_model_forward; [run]
 * cuda_graphs). A forward of a fixed (input buffer, batch size) enqueues the same kernels with
 * the same arguments every time: the arena places every tensor at a fixed address, batch norm
 * uses its running statistics, and nothing in an evaluation forward reads the host. So after one
 * eager forward of a (x, n) pair (which lets cuDNN choose its algorithms, and the workspace be
 * fitted), the next is captured once and every later one replays the graph: one launch instead
 * of one per op. The loader's double-buffered staging gives two input buffers, so an epoch of
 * evaluation uses two or three graphs (the last, smaller batch).
 *
 * Graph-safe: layers whose evaluation forward is kernels on fixed memory. Sequence layers read
 * the batch's lengths on the host (ctx->seq_lengths) and are not: their models stay eager, as do
 * CPU contexts. A capture the device refuses turns graphs off for the model, with the reason in
 * graphs_why; the forward then runs eagerly (nothing of the capture ran). */
#include <string.h>

#include "engine/device/backend.h"
#include "engine/models/model.h"

/* Layers whose forward (and, for training, backward) are kernels on memory fixed at build, with
 * arguments fixed by the batch size: dropout only in evaluation (training draws its mask from a
 * host-side counter). */
static const char *const SAFE[] = {"avgpool", "bagblock", "batchnorm", "conv2d",  "flatten", "gap",
                                   "heads",   "l2norm",   "linear",    "maxpool", "relu",    "resblock",
                                   "sigmoid", "to_nhwc",  "dropout"}; /* dropout last: see unsafe_layer */

static const pb_layer *unsafe_layer(const pb_layer *l, int train) {
  size_t nsafe = sizeof SAFE / sizeof SAFE[0] - (train ? 1 : 0); /* dropout last */
  int ok = 0;
  for (size_t i = 0; i < nsafe; i++) ok |= !strcmp(l->vt->kind, SAFE[i]);
  if (!ok) return l;
  for (int c = 0; c < l->nchildren; c++) {
    const pb_layer *u = unsafe_layer(l->children[c], train);
    if (u) return u;
  }
  return NULL;
}

const pb_layer *pb_model_graph_unsafe(const pb_model *m, int train) {
  for (int i = 0; i < m->nlayers; i++) {
    const pb_layer *u = unsafe_layer(m->layers[i], train);
    if (u) return u;
  }
  return NULL;
}

void pb_model_graphs_enable(pb_model *m, int on) {
  m->graphs_on = 0;
  if (!on) {
    snprintf(m->graphs_why, sizeof m->graphs_why, "off ([run] cuda_graphs = false)");
    return;
  }
  if (!m->infer_only) {
    snprintf(m->graphs_why, sizeof m->graphs_why, "off (a model planned for training)");
    return;
  }
  const pb_layer *u = pb_model_graph_unsafe(m, 0);
  if (u) {
    snprintf(m->graphs_why, sizeof m->graphs_why, "off (layer %s (%s) reads the host in its forward)", u->name,
             u->vt->kind);
    return;
  }
  if (!m->ctx->cuda) {
    snprintf(m->graphs_why, sizeof m->graphs_why, "off (the CPU has no graphs)");
    return;
  }
  m->graphs_on = 1;
  snprintf(m->graphs_why, sizeof m->graphs_why, "on");
}

void pb_model_graphs_free(pb_model *m) {
  for (int i = 0; i < m->ngraphs; i++)
    if (m->graphs[i].exec) m->ctx->ops->graph_free(m->ctx, m->graphs[i].exec);
  m->ngraphs = 0;
}

float *pb_model_graph_forward(pb_model *m, const float *x, int n, float *(*eager)(pb_model *, const float *, int)) {
  pb_model_graph *g = NULL;
  for (int i = 0; i < m->ngraphs; i++)
    if (m->graphs[i].x == x && m->graphs[i].n == n) g = &m->graphs[i];
  if (g && g->exec) { /* replay */
    m->input = x, m->last_n = n;
    float *out = pb_model_place(m, x);
    m->ctx->ops->graph_launch(m->ctx, g->exec);
    m->graph_launches++;
    return out;
  }
  if (!g) { /* first sight of (x, n): eager (cuDNN chooses its algorithms for this shape) */
    if (m->ngraphs == PB_MODEL_MAX_GRAPHS) return eager(m, x, n); /* a full cache: stays eager */
    g = &m->graphs[m->ngraphs++];
    g->x = x, g->n = n, g->exec = NULL;
    return eager(m, x, n);
  }
  /* second sight: capture it, then launch it (nothing of the capture ran) */
  pb_err err = {{0}};
  if (m->ctx->ops->graph_begin(m->ctx, &err)) {
    m->graphs_on = 0;
    snprintf(m->graphs_why, sizeof m->graphs_why, "off (the capture did not start: %s)", err.msg);
    return eager(m, x, n);
  }
  float *out = eager(m, x, n);
  void *exec = m->ctx->ops->graph_end(m->ctx, &err);
  if (!exec) {
    m->graphs_on = 0;
    snprintf(m->graphs_why, sizeof m->graphs_why, "off (the capture failed: %s)", err.msg);
    return eager(m, x, n);
  }
  g->exec = exec;
  m->ctx->ops->graph_launch(m->ctx, exec);
  m->graph_launches++;
  return out;
}
