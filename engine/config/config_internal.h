/* config_internal.h: what config.c (values, table, getters, writing) shares with
 * config_parse.c (reading INI files through inih). Not part of the public API. */
#ifndef PB_CONFIG_INTERNAL_H
#define PB_CONFIG_INTERNAL_H

#include "engine/config/config.h"

/* One key's current value. `raw` is the trimmed text as given (what pb_config_write writes
 * back, so a written file re-reads to exactly the same values); the rest is parsed from it. */
typedef struct pb_cfg_val {
  char *raw;
  char *origin; /* "file:line" or "--set"; NULL = default */
  long i;       /* INT; BOOL (0/1); ENUM (index in choices) */
  double f;     /* FLOAT */
  int n;        /* list length */
  union {
    long i[PB_CFG_LIST_MAX];
    double f[PB_CFG_LIST_MAX];
  } list;
} pb_cfg_val;

struct pb_config {
  pb_cfg_val *v; /* [pb_cfg_nkeys], in table order */
};

/* Checks pb_cfg_keys[] once (PB_FATAL on a bad table). */
void pb_cfg_check_table(void);
/* Index of section.key in pb_cfg_keys[], or -1. */
int pb_cfg_find(const char *section, const char *key);
int pb_cfg_section_known(const char *section);

/* Error bodies (no location prefix; the caller adds "file:line" or "--set x.y"). */
int pb_cfg_err_unknown_section(pb_err *err, const char *section);
int pb_cfg_err_unknown_key(pb_err *err, const char *section, const char *key);

/* Parses `value` for key `idx` and stores it with `origin` (copied; NULL = default). On a bad
 * value returns PB_ERR with a body like "[train] epochs = ten is not an integer" and leaves
 * the old value in place. */
int pb_cfg_assign(pb_config *c, int idx, const char *value, const char *origin, pb_err *err);

/* The longest line inih reads whole (its buffer less '\r', '\n' and '\0'). */
int pb_cfg_line_limit(void);

#endif
