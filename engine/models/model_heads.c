/* model_heads.c: the classifier that ends every arch (model.h, pb_model_add_classifier): one
 * linear layer (fc, the default and every existing checkpoint), several named heads ([model]
 * heads: the 8-bit Bias Bounty shape, engine/layers/heads.c), or an embedding for metric
 * learning ([model] embedding_dim, optionally L2-normalised: engine/layers/l2norm.c). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "engine/models/model.h"

int pb_heads_parse(const pb_config *cfg, pb_head *heads, int *n, pb_err *err) {
  const char *spec = pb_config_str(cfg, "model", "heads");
  *n = 0;
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", spec);
  for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    while (*t == ' ') t++;
    char *colon = strchr(t, ':');
    if (*n == PB_MAX_HEADS)
      return pb_err_set(err, "[model] heads = %s: at most %d heads", spec, PB_MAX_HEADS);
    if (!colon)
      return pb_err_set(err, "[model] heads = %s: '%s' is not NAME:CLASSES (e.g. heads = skin:10,gender:2,age:4)",
                        spec, t);
    *colon = 0;
    size_t L = strlen(t);
    int ok = L > 0 && L < sizeof heads[0].name;
    for (size_t i = 0; i < L; i++) ok &= isalnum((unsigned char)t[i]) || t[i] == '_';
    if (!ok)
      return pb_err_set(err, "[model] heads = %s: head name '%s' must be 1-31 letters, digits or _", spec, t);
    char *end;
    long k = strtol(colon + 1, &end, 10);
    while (*end == ' ') end++;
    if (end == colon + 1 || *end || k < 1 || k > 1000000)
      return pb_err_set(err, "[model] heads = %s: head '%s' needs a class count >= 1, got '%s'", spec, t, colon + 1);
    for (int h = 0; h < *n; h++)
      if (!strcmp(heads[h].name, t)) return pb_err_set(err, "[model] heads = %s: head '%s' appears twice", spec, t);
    pb_head *hd = &heads[*n];
    memset(hd, 0, sizeof *hd);
    snprintf(hd->name, sizeof hd->name, "%s", t);
    hd->classes = (int)k;
    hd->offset = *n ? heads[*n - 1].offset + heads[*n - 1].classes : 0;
    hd->weight = 1.0f;
    (*n)++;
  }
  double w[PB_CFG_LIST_MAX];
  int nw = pb_config_floats(cfg, "model", "head_weights", w, PB_CFG_LIST_MAX);
  if (nw && nw != *n)
    return pb_err_set(err, "[model] head_weights has %d values for %d heads ([model] heads = %s)", nw, *n, spec);
  for (int h = 0; h < nw; h++) heads[h].weight = (float)w[h];
  return PB_OK;
}

int pb_model_add_classifier(pb_model *m, const pb_config *cfg, const char *fc_name, int nclass, pb_err *err) {
  int nh;
  if (pb_heads_parse(cfg, m->heads, &nh, err)) return PB_ERR;
  int ed = (int)pb_config_int(cfg, "model", "embedding_dim");
  if (nh && ed)
    return pb_err_set(err, "[model] heads and [model] embedding_dim are both set: a model ends in classification "
                           "heads or in an embedding, not both");
  if (!ed && pb_config_bool(cfg, "model", "embedding_l2"))
    return pb_err_set(err, "[model] embedding_l2 = true needs [model] embedding_dim > 0");
  pb_layer *l;
  if (nh) {
    const char *names[PB_MAX_HEADS];
    int k[PB_MAX_HEADS];
    for (int h = 0; h < nh; h++) names[h] = m->heads[h].name, k[h] = m->heads[h].classes;
    if (!(l = pb_heads_layer("heads", pb_model_out(m), nh, names, k, err))) return PB_ERR;
    pb_model_add(m, l);
    m->nheads = nh;
    return PB_OK;
  }
  if (ed) {
    if (!(l = pb_linear_layer("embedding", pb_model_out(m), ed, 1, err))) return PB_ERR;
    pb_model_add(m, l);
    m->embed_dim = ed;
    m->embed_l2 = pb_config_bool(cfg, "model", "embedding_l2");
    if (m->embed_l2) pb_model_add(m, pb_l2norm_layer("l2norm", pb_model_out(m)));
    return PB_OK;
  }
  if (!(l = pb_linear_layer(fc_name, pb_model_out(m), nclass, 1, err))) return PB_ERR;
  pb_model_add(m, l);
  return PB_OK;
}
