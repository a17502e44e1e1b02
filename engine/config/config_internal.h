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

/* A named section, [model.f]: its own values of [model]'s keys; the keys it does not set
 * take [model]'s values (config_named.c). */
#define PB_CFG_MAX_NAMED 16
typedef struct pb_cfg_named {
  char section[16]; /* the base section: "model", "optim" or "schedule" */
  char name[32];    /* [a-z0-9_], starting with a letter */
  char *origin;     /* where its header (or first --set) appeared */
  pb_cfg_val *v;    /* [pb_cfg_nkeys]; raw == NULL: not set here (inherited) */
} pb_cfg_named;

struct pb_config {
  pb_cfg_val *v; /* [pb_cfg_nkeys], in table order */
  int nnamed;
  pb_cfg_named named[PB_CFG_MAX_NAMED]; /* in order of first appearance */
};

/* "model.f" -> base "model" and name "f". Returns 1 when section has that form with a base
 * that takes named sections and a valid name, 0 when it is not of the form base.name, -1
 * with err set when it is but the base or the name is not allowed. */
int pb_cfg_split_named(const char *section, char *base, size_t blen, char *name, size_t nlen, pb_err *err);
/* The named section base.name, created (with origin) when new. NULL with err when there
 * are too many. */
pb_cfg_named *pb_cfg_named_get(pb_config *c, const char *base, const char *name, const char *origin, pb_err *err);
/* Parses value for key idx into dst (the key's checks), replacing what dst held. */
int pb_cfg_assign_val(pb_cfg_val *dst, int idx, const char *value, const char *origin, pb_err *err);
/* Writes the named sections (only their own values) after the base sections. */
void pb_cfg_write_named(const pb_config *c, FILE *f);
void pb_cfg_free_named(pb_config *c);

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
