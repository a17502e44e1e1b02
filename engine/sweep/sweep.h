/* sweep.h: plumb sweep: a sweep spec (an INI file naming a base config and the keys to vary)
 * expanded into trials, each written as a resolved config, plus a manifest listing them.
 *
 * The spec format is documented at the top of engine/sweep/spec.c and in README.md
 * ("Sweeps and collection"). spec.c reads a spec and checks every key and value against the
 * config table; expand.c turns it into the list of trials (grid, zip, random, cross_seeds)
 * and their run names; write.c resolves each trial's config and writes the sweep folder.
 * Results are gathered by engine/sweep/collect.h. */
#ifndef PB_SWEEP_H
#define PB_SWEEP_H

#include <stdint.h>
#include <stdio.h>

#include "kernels/pb_common.h"

enum { PB_SWEEP_GRID, PB_SWEEP_ZIP, PB_SWEEP_RANDOM };

/* How a varied key's values are given. */
enum {
  PB_SWEEP_LIST,       /* values[0..n): a list, range(...) or a:b:step (random mode: a choice) */
  PB_SWEEP_CHOICE,     /* choice(...): random mode only */
  PB_SWEEP_UNIFORM,    /* uniform(a, b): a + u (b - a) */
  PB_SWEEP_LOGUNIFORM, /* loguniform(a, b): exp(log a + u (log b - log a)) */
  PB_SWEEP_RANDINT,    /* randint(a, b): an integer in [a, b], both included */
};

typedef struct pb_sweep_key {
  char *name;   /* "data.eps" (or "model.f.lr" for a named section), as written */
  char *origin; /* "spec.ini:12": the line that gave it */
  int kind;     /* PB_SWEEP_* above */
  int n;        /* LIST / CHOICE: the values, as text, each checked against the key */
  char **vals;
  double a, b;  /* UNIFORM, LOGUNIFORM, RANDINT */
} pb_sweep_key;

/* A fixed override: [set] section.key = value. */
typedef struct pb_sweep_fixed {
  char *name, *value, *origin;
} pb_sweep_fixed;

typedef struct pb_sweep_spec {
  char *path;               /* the spec file as given */
  char *base, *base_origin; /* the base config, relative to the spec that named it resolved */
  int mode;                 /* PB_SWEEP_GRID (default), _ZIP, _RANDOM */
  char *mode_origin;
  long trials;              /* random: settings sampled (0 = not given) */
  char *trials_origin;
  uint64_t seed;            /* random: the Philox key */
  char *name, *name_origin; /* run-name pattern (NULL = "trial-{trial}") */
  char *out_dir;            /* the trials' [run] out_dir, relative to the sweep folder (NULL = "runs") */
  int nseeds;               /* cross_seeds: every trial is run once per seed (innermost) */
  long *seeds;
  char *seeds_origin;
  int nfixed;
  pb_sweep_fixed *fixed;    /* [set], in order */
  int nkeys;
  pb_sweep_key *keys;       /* [vary], in order of first appearance */
} pb_sweep_spec;

/* Reads a spec file (and the specs it includes) into s (zero it first; pb_sweep_spec_free it
 * also after a failure). Every varied and fixed key must exist in the config table and every
 * listed value (and each end of a distribution) must pass the key's type and bounds checks.
 * Errors name the spec file and line: unknown section or key (with the closest key), an empty
 * value list, a value of the wrong type or out of bounds, a distribution outside mode =
 * random, trials < 1, a missing base, an include cycle. */
int pb_sweep_spec_load(pb_sweep_spec *s, const char *path, pb_err *err);
void pb_sweep_spec_free(pb_sweep_spec *s);

/* The trials of a spec: trial t (0-based) gives key k the text values[t * nkeys + k]. keys are
 * the spec's varied keys in order, then run.seed when cross_seeds is given. */
typedef struct pb_sweep_plan {
  int nkeys;
  const char **keys;    /* point into the spec */
  const char **origins; /* the line of each key ("spec.ini:4") */
  long ntrials;
  char **values;        /* [ntrials * nkeys] */
  char **names;         /* [ntrials] run names */
} pb_sweep_plan;

/* Expands s: grid = cartesian product, first key outermost (the last key changes fastest);
 * zip = the i-th value of every key (lists of equal length); random = `trials` draws (below);
 * then cross_seeds, innermost. Random draw of trial t, key k: Philox (kernels/pb_rng.h) with
 * key `seed`, stream PB_RNG_STREAM(PB_RNG_SWEEP, k), counter t. Run names come from the name
 * pattern and must be distinct. Errors (zip lengths, repeated names, too many trials) name the
 * spec line. p is zeroed first; pb_sweep_plan_free it also after a failure. */
int pb_sweep_expand(const pb_sweep_spec *s, pb_sweep_plan *p, pb_err *err);
void pb_sweep_plan_free(pb_sweep_plan *p);

/* Writes the sweep folder dir: configs/trial-NNNN.ini (NNNN = trial number from 1, four
 * digits or more), each the resolved config of the base, then [set], then sets[0..nset)
 * ("section.key=value", as --set), then [run] name and out_dir, then the trial's values; and
 * manifest.csv (trial,<keys>,name,config; config relative to dir). Every trial's config is
 * resolved (and checked) before anything is written. A dir that holds manifest.csv is refused
 * unless force; with force, trial configs of the old sweep beyond this one's are removed.
 * Each file is written atomically, the manifest last. */
int pb_sweep_write(const pb_sweep_spec *s, const pb_sweep_plan *p, const char *dir, const char *const *sets, int nset,
                   int force, pb_err *err);

/* The random draw of expand.c (exposed for the tests): the text of key k's value in trial t. */
void pb_sweep_draw(const pb_sweep_key *k, int kidx, uint64_t seed, long t, char *out, size_t cap);

/* One CSV field (NULL as empty) and its separator (',' or, when last, a newline); quoted, with
 * doubled quotes, when it holds a comma, a quote or a line break (manifest.csv, collect's CSVs). */
void pb_sweep_csv_field(FILE *f, const char *v, int last);

#endif
