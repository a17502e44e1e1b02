/* layer.c: helpers shared by every layer (layer.h). */
#include <stdlib.h>
#include <string.h>

#include "engine/layers/layer.h"

pb_layer *pb_layer_new(const pb_layer_vt *vt, const char *name, const int in[3]) {
  pb_layer *l = pb_xcalloc(1, sizeof *l);
  l->vt = vt;
  snprintf(l->name, sizeof l->name, "%s", name);
  memcpy(l->in, in, sizeof l->in);
  memcpy(l->out, in, sizeof l->out);
  return l;
}

pb_param *pb_layer_add_param(pb_layer *l, const char *suffix, pb_param_kind kind, int ndim, const int *shape,
                             pb_init_kind init, int fan_in, int fan_out) {
  PB_ASSERT(l->nparams < PB_LAYER_MAX_PARAMS);
  pb_param *p = &l->params[l->nparams++];
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s.%s", l->name, suffix);
  p->ndim = ndim;
  p->numel = 1;
  for (int i = 0; i < ndim; i++) {
    p->shape[i] = shape[i];
    p->numel *= (size_t)shape[i];
  }
  p->kind = kind;
  p->init = init;
  p->fan_in = fan_in;
  p->fan_out = fan_out;
  return p;
}

pb_layer *pb_layer_add_child(pb_layer *l, pb_layer *child) {
  if (!child) return NULL;
  l->children = pb_xrealloc(l->children, (size_t)(l->nchildren + 1) * sizeof *l->children);
  l->children[l->nchildren++] = child;
  return child;
}

size_t pb_layer_count_params(const pb_layer *l) {
  size_t n = 0;
  for (int j = 0; j < l->nparams; j++)
    if (l->params[j].kind == PB_PARAM_TRAINABLE) n += l->params[j].numel;
  for (int c = 0; c < l->nchildren; c++) n += pb_layer_count_params(l->children[c]);
  return n;
}

uint64_t *pb_layer_rng_counter(pb_layer *l) { return l->vt->rng_counter ? l->vt->rng_counter(l) : NULL; }

void pb_layer_free(pb_layer *l) {
  if (!l) return;
  if (l->vt && l->vt->free) l->vt->free(l);
  for (int c = 0; c < l->nchildren; c++) pb_layer_free(l->children[c]);
  free(l->children);
  free(l->priv);
  free(l);
}
