/* config_named.c: named sections (config.h). [model.f], [optim.f] and [schedule.f] give model
 * f its own values of the [model], [optim] and [schedule] keys; a key a named section does
 * not set takes the base section's value, so what every model shares is written once. The
 * models of a run are the [model.NAME] sections, in the order they first appear. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "engine/config/config_internal.h"

static const char *const named_bases[] = {"model", "optim", "schedule"};
#define NBASES ((int)(sizeof named_bases / sizeof named_bases[0]))

int pb_cfg_split_named(const char *section, char *base, size_t blen, char *name, size_t nlen, pb_err *err) {
  const char *dot = strchr(section, '.');
  if (!dot) return 0;
  snprintf(base, blen, "%.*s", (int)(dot - section), section);
  snprintf(name, nlen, "%s", dot + 1);
  int known = 0;
  for (int i = 0; i < NBASES; i++) known |= !strcmp(base, named_bases[i]);
  if (!known) {
    if (err) pb_err_set(err, "[%s]: only [model], [optim] and [schedule] take named sections ([model.NAME])", section);
    return -1;
  }
  size_t n = strlen(dot + 1);
  int ok = n >= 1 && n < 32 && islower((unsigned char)dot[1]);
  for (size_t i = 0; ok && i < n; i++) {
    unsigned char ch = (unsigned char)dot[1 + i];
    ok = islower(ch) || isdigit(ch) || ch == '_';
  }
  if (!ok) {
    if (err)
      pb_err_set(err, "[%s]: a model name is 1 to 31 characters of a-z, 0-9 and _, starting with a letter", section);
    return -1;
  }
  return 1;
}

pb_cfg_named *pb_cfg_named_get(pb_config *c, const char *base, const char *name, const char *origin, pb_err *err) {
  for (int i = 0; i < c->nnamed; i++)
    if (!strcmp(c->named[i].section, base) && !strcmp(c->named[i].name, name)) return &c->named[i];
  if (c->nnamed == PB_CFG_MAX_NAMED) {
    pb_err_set(err, "[%s.%s]: more than %d named sections", base, name, PB_CFG_MAX_NAMED);
    return NULL;
  }
  pb_cfg_named *n = &c->named[c->nnamed++];
  memset(n, 0, sizeof *n);
  snprintf(n->section, sizeof n->section, "%s", base);
  snprintf(n->name, sizeof n->name, "%s", name);
  n->origin = pb_xstrdup(origin ? origin : "--set");
  n->v = pb_xcalloc((size_t)pb_cfg_nkeys, sizeof *n->v);
  return n;
}

void pb_cfg_free_named(pb_config *c) {
  for (int i = 0; i < c->nnamed; i++) {
    for (int k = 0; k < pb_cfg_nkeys; k++) {
      free(c->named[i].v[k].raw);
      free(c->named[i].v[k].origin);
    }
    free(c->named[i].v);
    free(c->named[i].origin);
  }
  c->nnamed = 0;
}

void pb_cfg_write_named(const pb_config *c, FILE *f) {
  for (int i = 0; i < c->nnamed; i++) {
    const pb_cfg_named *n = &c->named[i];
    fprintf(f, "\n# from %s\n[%s.%s]\n", n->origin, n->section, n->name);
    for (int k = 0; k < pb_cfg_nkeys; k++) {
      const pb_cfg_val *v = &n->v[k];
      if (!v->raw || strcmp(pb_cfg_keys[k].section, n->section)) continue;
      if (v->origin) fprintf(f, "# from %s\n", v->origin);
      fprintf(f, "%s = %s\n", pb_cfg_keys[k].key, v->raw);
    }
  }
}

static const pb_cfg_named *find(const pb_config *c, const char *section, const char *name) {
  for (int i = 0; i < c->nnamed; i++)
    if (!strcmp(c->named[i].section, section) && !strcmp(c->named[i].name, name)) return &c->named[i];
  return NULL;
}

int pb_config_names(const pb_config *c, const char *section, const char **names, int cap) {
  int n = 0;
  for (int i = 0; i < c->nnamed; i++)
    if (!strcmp(c->named[i].section, section)) {
      if (n < cap) names[n] = c->named[i].name;
      n++;
    }
  return n;
}

const char *pb_config_named_origin(const pb_config *c, const char *section, const char *name) {
  const pb_cfg_named *n = find(c, section, name);
  return n ? n->origin : NULL;
}

int pb_config_named_is_set(const pb_config *c, const char *section, const char *name, const char *key) {
  const pb_cfg_named *n = find(c, section, name);
  int idx = pb_cfg_find(section, key);
  PB_ASSERT(idx >= 0);
  return n && n->v[idx].raw != NULL;
}

pb_config *pb_config_view(const pb_config *c, const char *name) {
  pb_config *v = pb_config_new();
  for (int k = 0; k < pb_cfg_nkeys; k++) {
    const pb_cfg_val *src = &c->v[k];
    for (int b = 0; name && *name && b < NBASES; b++) {
      const pb_cfg_named *n = find(c, named_bases[b], name);
      if (n && n->v[k].raw && !strcmp(pb_cfg_keys[k].section, named_bases[b])) src = &n->v[k];
    }
    pb_err e = {{0}};
    if (pb_cfg_assign_val(&v->v[k], k, src->raw, src->origin, &e)) PB_FATAL("pb_config_view: %s", e.msg);
  }
  return v;
}
