/* step_graph.c: CUDA graphs of the plain trainer's micro-step (step_graph.h).
 *
 * What a replay must redo on the host, because captured host code does not run again: the
 * forward's m->input / last_n and the pointers of in-place layers (pb_model_place), each batch
 * norm's num_batches_tracked (+1 per training forward), and the loss's labelled count (t->seen).
 * Everything else the three stages do is device work on memory fixed at build (the model's
 * blocks, the trainer's accumulators) with arguments fixed by the key: the input and label
 * buffers (the loader's two staging slots), n, the labelled count and accumulation (the loss's
 * gradient scale), fp16's loss scale. Layers outside model_graph.c's list (pb_model_graph_unsafe)
 * change host state in their forward (dropout's and the LSTM's RNG counters), read the host
 * (sequence lengths) or talk to other ranks; their models stay eager, as do CPU contexts and
 * data-parallel runs. */
#include "engine/trainers/step_graph.h"

#include <string.h>

#include "engine/device/backend.h"
#include "engine/device/lowp.h"
#include "engine/dist/dist.h"
#include "engine/losses/loss.h"
#include "engine/trainers/trainer.h"

pb_step_graphs *pb_step_graphs_new(const pb_config *cfg, const pb_trainer *t, pb_model *m) {
  pb_step_graphs *s = pb_xcalloc(1, sizeof *s);
  const pb_dist *w = pb_dist_world();
  const pb_layer *u = pb_model_graph_unsafe(m, 1);
  if (!pb_config_bool(cfg, "run", "cuda_graphs_train"))
    snprintf(s->why, sizeof s->why, "off ([run] cuda_graphs_train = false)");
  else if (u)
    snprintf(s->why, sizeof s->why, "off (layer %s (%s) changes or reads the host in its step)", u->name, u->vt->kind);
  else if (strcmp(t->loss->vt->kind, "xent") || t->loss->nterms != 1)
    snprintf(s->why, sizeof s->why, "off (the %s loss with %d terms)", t->loss->vt->kind, t->loss->nterms);
  else if (w->size > 1 || w->forced)
    snprintf(s->why, sizeof s->why, "off (data-parallel: the gradients go to the other ranks during the backward)");
  else if (w->sync_bn)
    snprintf(s->why, sizeof s->why, "off ([dist] sync_bn)");
  else if (!m->ctx->cuda)
    snprintf(s->why, sizeof s->why, "off (the CPU has no graphs)");
  else
    s->on = 1, snprintf(s->why, sizeof s->why, "on");
  for (int i = 0; i < pb_model_ntensors(m); i++)
    if (pb_model_tensor(m, i)->kind == PB_PARAM_COUNTER) {
      s->ctr = pb_xrealloc(s->ctr, (size_t)(s->nctr + 1) * sizeof *s->ctr);
      s->ctr[s->nctr++] = pb_model_tensor(m, i);
    }
  return s;
}

void pb_step_graphs_free(pb_step_graphs *s, pb_ctx *ctx) {
  if (!s) return;
  for (int i = 0; i < s->ng; i++)
    if (s->g[i].exec) ctx->ops->graph_free(ctx, s->g[i].exec);
  free(s->ctr);
  free(s);
}

void pb_step_graph_micro(pb_step_graphs *s, pb_trainer *t, pb_model *m, const float *x, const int32_t *y,
                         const int32_t *y_host, int n, int accum,
                         void (*eager)(pb_trainer *, const float *, const int32_t *, const int32_t *, int)) {
  pb_ctx *c = m->ctx;
  long cnt = 0;
  for (int i = 0; i < n; i++) cnt += y_host[i] >= 0;
  float scale = pb_lowp_scale(c);
  pb_step_graph *g = NULL;
  for (int i = 0; i < s->ng && !g; i++) {
    pb_step_graph *q = &s->g[i];
    if (q->x == x && q->y == y && q->n == n && q->cnt == cnt && q->accum == accum && q->scale == scale) g = q;
  }
  if (g && g->exec) { /* replay, with the host side effects done here */
    m->input = x, m->last_n = n;
    pb_model_place(m, x);
    for (int i = 0; i < s->nctr; i++) s->ctr[i]->counter++;
    t->seen[0] += cnt;
    c->ops->graph_launch(c, g->exec);
    s->launches++;
    return;
  }
  if (!g) { /* first sight: eager (cuDNN chooses its algorithms for these shapes) */
    if (s->ng < PB_STEP_MAX_GRAPHS) s->g[s->ng++] = (pb_step_graph){x, y, n, accum, cnt, scale, NULL};
    eager(t, x, y, y_host, n);
    return;
  }
  /* second sight: capture (the host side effects happen once, now), then launch */
  pb_err err = {{0}};
  if (c->ops->graph_begin(c, &err)) {
    s->on = 0;
    snprintf(s->why, sizeof s->why, "off (the capture did not start: %s)", err.msg);
    eager(t, x, y, y_host, n);
    return;
  }
  /* the capture runs the host code once: keep its side effects, undo none */
  eager(t, x, y, y_host, n);
  void *exec = c->ops->graph_end(c, &err);
  if (!exec) { /* nothing ran: run it for real, without counting the host effects twice */
    s->on = 0;
    snprintf(s->why, sizeof s->why, "off (the capture failed: %s)", err.msg);
    for (int i = 0; i < s->nctr; i++) s->ctr[i]->counter--;
    t->seen[0] -= cnt;
    eager(t, x, y, y_host, n);
    return;
  }
  g->exec = exec;
  c->ops->graph_launch(c, exec);
  s->launches++;
}
