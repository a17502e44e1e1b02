/* step_graph.h: CUDA graphs of the plain trainer's micro-step ([run] cuda_graphs_train;
 * step_graph.c): forward, loss and backward captured per (input, labels, batch, labelled count,
 * accumulation, loss scale) after one eager run, and replayed with the host side effects of
 * those three done by hand: the model's input and pointers, every batch norm's
 * num_batches_tracked, the labelled count. The optimizer step stays outside (its learning rate
 * changes per step). */
#ifndef PB_STEP_GRAPH_H
#define PB_STEP_GRAPH_H

#include "engine/config/config.h"
#include "engine/models/model.h"

#define PB_STEP_MAX_GRAPHS 8

typedef struct pb_step_graph {
  const float *x;
  const int32_t *y;
  int n, accum;
  long cnt;     /* labelled rows: the loss's gradient scale */
  float scale;  /* fp16's loss scale */
  void *exec;   /* NULL: seen once (eager) */
} pb_step_graph;

typedef struct pb_step_graphs {
  int on;
  char why[200]; /* "on" or "off (why)" */
  int ng;
  pb_step_graph g[PB_STEP_MAX_GRAPHS];
  long launches;
  int nctr;
  pb_param **ctr; /* the model's counters (batch norm's num_batches_tracked) */
} pb_step_graphs;

struct pb_trainer;
struct pb_loss;
/* Decides whether the plain trainer t over model m may capture its micro-steps (GPU, key on, one
 * cross-entropy term, one process, layers whose training forward and backward are kernels on
 * fixed memory: no dropout, sequence or synchronised batch-norm layers). Always returns a
 * struct (freed with pb_step_graphs_free); ->why says why it is off. */
pb_step_graphs *pb_step_graphs_new(const pb_config *cfg, const struct pb_trainer *t, pb_model *m);
void pb_step_graphs_free(pb_step_graphs *s, pb_ctx *ctx);
/* The micro-step (eager: forward, loss, backward; it returns nothing) for this batch, captured,
 * replayed or eager. cnt: the batch's labelled rows (y_host's labels >= 0). */
void pb_step_graph_micro(pb_step_graphs *s, struct pb_trainer *t, pb_model *m, const float *x, const int32_t *y,
                         const int32_t *y_host, int n, int accum,
                         void (*eager)(struct pb_trainer *, const float *, const int32_t *, const int32_t *, int));

#endif
