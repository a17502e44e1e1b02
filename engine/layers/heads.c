/* heads.c: the multi-head classifier (layer.h, pb_heads_layer): one Linear child per named head
 * over the same input, outputs laid out head-major (head h's [n, k_h] block at y + n * off_h).
 * The children are ordinary linear layers (engine/layers/linear.c); the input gradient is the
 * sum of the heads' (the ops table's accumulate, engine/device/backend.h). No twin: every op goes
 * through the table. */
#include <string.h>

#include "engine/device/backend.h"
#include "engine/layers/layer.h"

typedef struct {
  int nheads;
  int off[16]; /* per-sample offset of head h's logits: the classes of heads 0..h-1 */
} heads_priv;

static void heads_fwd(pb_layer *l, pb_ctx *c, int n, const float *x, float *y, int train) {
  heads_priv *p = l->priv;
  for (int h = 0; h < p->nheads; h++) {
    pb_layer *ch = l->children[h];
    ch->vt->forward(ch, c, n, x, y + (size_t)n * p->off[h], train);
  }
}

/* Head 0 writes dx, every later head writes its input gradient to the work region and adds it. */
static void heads_bwd(pb_layer *l, pb_ctx *c, int n, const float *x, const float *y, const float *dy, float *dx) {
  heads_priv *p = l->priv;
  size_t cnt = (size_t)n * pb_layer_in_numel(l);
  for (int h = 0; h < p->nheads; h++) {
    pb_layer *ch = l->children[h];
    size_t o = (size_t)n * p->off[h];
    float *d = dx && h > 0 ? l->work : dx;
    ch->vt->backward(ch, c, n, x, y + o, dy + o, d);
    if (dx && h > 0) c->ops->accumulate(c, dx, d, cnt);
  }
}

static const pb_layer_vt heads_vt = {"heads", heads_fwd, heads_bwd, NULL, NULL, NULL, NULL};

pb_layer *pb_heads_layer(const char *name, const int in[3], int nheads, const char *const *names,
                         const int *classes, pb_err *err) {
  if (nheads < 1 || nheads > 16) {
    pb_err_set(err, "layer %s: 1 to 16 heads, got %d", name, nheads);
    return NULL;
  }
  pb_layer *l = pb_layer_new(&heads_vt, name, in);
  heads_priv *p = pb_xcalloc(1, sizeof *p);
  l->priv = p;
  p->nheads = nheads;
  int total = 0;
  for (int h = 0; h < nheads; h++) {
    char cn[64];
    snprintf(cn, sizeof cn, "%s.%s", name, names[h]);
    p->off[h] = total;
    if (!pb_layer_add_child(l, pb_linear_layer(cn, in, classes[h], 1, err))) {
      pb_layer_free(l);
      return NULL;
    }
    total += classes[h];
  }
  l->out[0] = total;
  l->out[1] = l->out[2] = 1;
  if (nheads > 1) l->work_per_sample = pb_layer_in_numel(l);
  return l;
}
