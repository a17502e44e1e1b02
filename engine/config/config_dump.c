/* config_dump.c: printing a resolved config as INI, through the public getters only. */
#include <string.h>

#include "engine/config/config.h"

static void print_value(FILE *out, const pb_config *c, const pb_cfg_key *k) {
  switch (k->type) {
    case PB_CFG_INT: fprintf(out, "%ld", pb_config_int(c, k->section, k->key)); break;
    case PB_CFG_FLOAT: fprintf(out, "%.17g", pb_config_float(c, k->section, k->key)); break;
    case PB_CFG_BOOL: fprintf(out, "%s", pb_config_bool(c, k->section, k->key) ? "true" : "false"); break;
    case PB_CFG_STRING:
    case PB_CFG_ENUM: fprintf(out, "%s", pb_config_str(c, k->section, k->key)); break;
    case PB_CFG_INT_LIST: {
      long v[PB_CFG_LIST_MAX];
      int n = pb_config_ints(c, k->section, k->key, v, PB_CFG_LIST_MAX);
      for (int j = 0; j < n; j++) fprintf(out, j ? ",%ld" : "%ld", v[j]);
      break;
    }
    case PB_CFG_FLOAT_LIST: {
      double v[PB_CFG_LIST_MAX];
      int n = pb_config_floats(c, k->section, k->key, v, PB_CFG_LIST_MAX);
      for (int j = 0; j < n; j++) fprintf(out, j ? ",%.17g" : "%.17g", v[j]);
      break;
    }
  }
}

void pb_config_dump(const pb_config *c, FILE *out) {
  const char *section = NULL;
  for (int i = 0; i < pb_cfg_nkeys; i++) {
    const pb_cfg_key *k = &pb_cfg_keys[i];
    if (!section || strcmp(section, k->section)) {
      fprintf(out, "%s[%s]\n", section ? "\n" : "", k->section);
      section = k->section;
    }
    fprintf(out, "%s = ", k->key);
    print_value(out, c, k);
    if (pb_config_is_set(c, k->section, k->key)) fprintf(out, "  # %s", pb_config_origin(c, k->section, k->key));
    fputc('\n', out);
  }
  /* Named sections: the keys each sets itself (the others are its base section's). */
  static const char *const bases[] = {"model", "optim", "schedule"};
  for (int b = 0; b < 3; b++) {
    const char *names[16];
    int n = pb_config_names(c, bases[b], names, 16);
    for (int j = 0; j < n && j < 16; j++) {
      fprintf(out, "\n[%s.%s]  # %s\n", bases[b], names[j], pb_config_named_origin(c, bases[b], names[j]));
      pb_config *v = pb_config_view(c, names[j]);
      for (int i = 0; i < pb_cfg_nkeys; i++) {
        const pb_cfg_key *k = &pb_cfg_keys[i];
        if (strcmp(k->section, bases[b]) || !pb_config_named_is_set(c, bases[b], names[j], k->key)) continue;
        fprintf(out, "%s = ", k->key);
        print_value(out, v, k);
        fprintf(out, "  # %s\n", pb_config_origin(v, k->section, k->key));
      }
      pb_config_free(v);
    }
  }
}
