/* config.h: the table-driven INI configuration (inih underneath).
 *
 * Every key is declared once, in pb_cfg_keys[] (engine/config/config_keys.c), with its section,
 * type, bounds, default and one line of documentation. Nothing reads a key that is not in
 * the table (asking for one is a bug and aborts). Values come from, in order: the defaults,
 * the config file (and the files it includes), then --set overrides. */
#ifndef PB_CONFIG_H
#define PB_CONFIG_H

#include <stdio.h>

#include "kernels/pb_common.h"

typedef enum pb_cfg_type {
  PB_CFG_INT,
  PB_CFG_FLOAT,
  PB_CFG_BOOL,       /* true/false, yes/no, on/off, 1/0 */
  PB_CFG_STRING,
  PB_CFG_ENUM,       /* one of `choices`, "a|b|c" */
  PB_CFG_INT_LIST,   /* comma-separated, e.g. "10,20"; each element within [min,max] */
  PB_CFG_FLOAT_LIST, /* comma-separated floats; each element within [min,max] */
} pb_cfg_type;

typedef struct pb_cfg_key {
  const char *section;
  const char *key;
  pb_cfg_type type;
  double min, max;     /* inclusive bounds for numbers and list elements */
  const char *def;     /* default, as it would be written in the file ("" = empty) */
  const char *choices; /* PB_CFG_ENUM only */
  const char *doc;     /* one line */
} pb_cfg_key;

extern const pb_cfg_key pb_cfg_keys[];
extern const int pb_cfg_nkeys;

#define PB_CFG_LIST_MAX 64

typedef struct pb_config pb_config;

/* A config holding every key at its default. Never fails. */
pb_config *pb_config_new(void);
void pb_config_free(pb_config *c);

/* Reads an INI file over the current values. `include = other.ini` (at the top of a file or in
 * any section) reads another file at that point, relative to the including file's folder.
 * Errors (message names file, line, section and key, with the closest valid key or section
 * as a suggestion): missing file, a line without '=', unknown section, unknown key, wrong
 * type, value out of bounds, unknown enum value, a line longer than inih's limit, an include
 * cycle, a missing include. On error the config may hold part of the file. */
int pb_config_load(pb_config *c, const char *path, pb_err *err);

/* Applies one "section.key=value" override (from --set). Same checks as the file. */
int pb_config_set(pb_config *c, const char *assignment, pb_err *err);
/* The same for a name "section.key" (or "section.NAME.key") and a value given apart, recorded
 * with `origin` ("sweep.ini:12"; NULL = "--set"), which also prefixes an error message:
 * "sweep.ini:12: [data] eps = 60 is out of range [0, 50]". For tools that write configs
 * (plumb sweep). */
int pb_config_set_at(pb_config *c, const char *name, const char *value, const char *origin, pb_err *err);

/* Typed getters. Asking for an undeclared key, or with the wrong type, aborts (a bug). */
long pb_config_int(const pb_config *c, const char *section, const char *key);
double pb_config_float(const pb_config *c, const char *section, const char *key);
int pb_config_bool(const pb_config *c, const char *section, const char *key);
const char *pb_config_str(const pb_config *c, const char *section, const char *key); /* STRING, ENUM */
int pb_config_enum(const pb_config *c, const char *section, const char *key); /* index in choices */
/* Lists: returns the element count (<= PB_CFG_LIST_MAX) and copies up to `cap` elements. */
int pb_config_ints(const pb_config *c, const char *section, const char *key, long *out, int cap);
int pb_config_floats(const pb_config *c, const char *section, const char *key, double *out, int cap);
/* 1 when the key was given by a file or --set (not left at its default). */
int pb_config_is_set(const pb_config *c, const char *section, const char *key);
/* Where the value came from, for error messages: "exp.ini:12", "--set", or "default". */
const char *pb_config_origin(const pb_config *c, const char *section, const char *key);

/* Named sections. [model.NAME], [optim.NAME] and [schedule.NAME] (NAME: a-z, 0-9, _) take the
 * keys of their base section; a key they do not set takes the base section's value. The names
 * of the [section.NAME] sections given, in order of first appearance: returns their count,
 * copies up to cap pointers (valid while c lives). */
int pb_config_names(const pb_config *c, const char *section, const char **names, int cap);
/* "file:line" of a named section's header (or "--set"); NULL when it was not given. */
const char *pb_config_named_origin(const pb_config *c, const char *section, const char *name);
/* 1 when [section.name] sets key itself. */
int pb_config_named_is_set(const pb_config *c, const char *section, const char *name, const char *key);
/* A new config (pb_config_free it) equal to c, except that [model], [optim] and [schedule]
 * hold the values model `name` sees: its named sections' over the base sections'. name
 * NULL or "": a plain copy. Named sections are not carried into the view. */
pb_config *pb_config_view(const pb_config *c, const char *name);

/* Writes the resolved config (every key, with its value) as INI, atomically (temp + rename). */
int pb_config_write(const pb_config *c, const char *path, pb_err *err);

/* Prints the resolved config as INI (every key with its value; a comment gives the origin of
 * each non-default value). Built on the public getters: engine/config/config_dump.c. */
void pb_config_dump(const pb_config *c, FILE *out);

/* Prints the reference of every key: section, key, type, bounds or choices, default, doc. */
void pb_config_print_reference(FILE *out);

#endif
