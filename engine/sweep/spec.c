/* spec.c: reading a sweep spec (sweep.h): its sections, its value syntax, and the checks of
 * every key and value against the config table (through pb_config_set_at, so a sweep's errors
 * are the config's own, with the spec's file:line in front).
 *
 * The spec format (README.md, "Sweeps and collection"):
 *
 *   include = other_spec.ini        ; optional, anywhere: that spec's lines are read here
 *   [sweep]
 *   base = ../quickstart.ini        ; the config every trial starts from (relative to this file)
 *   mode = grid                     ; grid (default) | zip | random
 *   trials = 20                     ; random: how many settings to draw (required there)
 *   seed = 1                        ; random: the generator's key (default 0)
 *   name = q-eps{data.eps}-s{run.seed}  ; run names; {section.key} = the trial's value of a
 *                                   ; varied key, {trial} = its number 0001...; default trial-{trial}
 *   out_dir = runs                  ; the trials' [run] out_dir, relative to the sweep folder
 *   cross_seeds = 1, 2, 3           ; optional: every trial once per [run] seed (innermost)
 *   [set]                           ; fixed overrides for every trial, as --set
 *   train.epochs = 1
 *   [vary]                          ; the varied keys, in order (grid: first = outermost)
 *   data.eps = 0, 20, 40            ; a list
 *   optim.lr = range(0.01, 0.05, 0.01)   ; python's range (end excluded); ints when all are ints
 *   run.seed = 1:3                  ; a:b or a:b:step, end included
 *   model.head_weights = 10,2,4 | 1,1,1  ; with '|' the values are split at '|' (list keys)
 *   optim.weight_decay = loguniform(1e-5, 1e-3)   ; random only: uniform(a, b),
 *                                   ; loguniform(a, b), randint(a, b) (both ends included),
 *                                   ; choice(v1, v2, ...); a plain list is a choice there too
 *
 * Lines are 'key = value', '[section]', or comments (';' or '#' first, or after a space).
 * A later line for the same [sweep] or [set] key replaces the earlier one (so an including
 * spec can override what it includes); a later [vary] line for a key replaces its values
 * and keeps its place. Random draws print floats with 6 significant digits; that text is the
 * value the trial gets. */
#define _XOPEN_SOURCE 700

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/config/config.h"
#include "engine/sweep/sweep.h"

#define SPEC_MAX_DEPTH 16
#define SPEC_MAX_VALUES 100000

typedef struct spec_file {
  const char *path;
  struct spec_file *parent;
  int depth;
} spec_file;

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
  return s;
}

/* Drops an inline comment: ';' or '#' after whitespace. */
static void strip_comment(char *v) {
  for (char *p = v; *p; p++)
    if ((*p == '#' || *p == ';') && p > v && isspace((unsigned char)p[-1])) {
      *p = '\0';
      break;
    }
}

/* Path relative to the folder of `from` (absolute paths stay). Returns a new string. */
static char *relative_to(const char *from, const char *path) {
  const char *slash = strrchr(from, '/');
  size_t dir = path[0] == '/' || !slash ? 0 : (size_t)(slash - from) + 1;
  char *out = pb_xmalloc(dir + strlen(path) + 1);
  memcpy(out, from, dir);
  strcpy(out + dir, path);
  return out;
}

static void set_str(char **dst, const char *v) {
  free(*dst);
  *dst = pb_xstrdup(v);
}

/* The table entry of a "section.key" / "section.NAME.key" name, or NULL. */
static const pb_cfg_key *key_of(const char *name) {
  const char *dot = strchr(name, '.'), *last = strrchr(name, '.');
  if (!dot) return NULL;
  for (int i = 0; i < pb_cfg_nkeys; i++)
    if (strlen(pb_cfg_keys[i].section) == (size_t)(dot - name) && !strncmp(pb_cfg_keys[i].section, name, (size_t)(dot - name)) &&
        !strcmp(pb_cfg_keys[i].key, last + 1))
      return &pb_cfg_keys[i];
  return NULL;
}

/* Checks name = value on a scratch config: the config's own messages (unknown section or key
 * with the closest one, type, bounds), prefixed with origin. */
static int check_value(const char *name, const char *value, const char *origin, pb_err *err) {
  pb_config *c = pb_config_new();
  int rc = pb_config_set_at(c, name, value, origin, err);
  pb_config_free(c);
  return rc;
}

static int parse_num(const char *s, double *v, int *integral) {
  char *end;
  errno = 0;
  *v = strtod(s, &end);
  if (end == s || *trim(end) || !isfinite(*v)) return PB_ERR;
  *integral = !strpbrk(s, ".eEnN") && *v == floor(*v);
  return PB_OK;
}

/* Splits text into values at '|' when it holds one, else at ','. Returns the count, or -1
 * (err set) on an empty element. */
static int split_values(char *text, char ***out, const char *origin, const char *name, pb_err *err) {
  char sep = strchr(text, '|') ? '|' : ',';
  int n = 0, cap = 8;
  char **v = pb_xmalloc((size_t)cap * sizeof *v);
  for (char *p = text;;) {
    char *e = strchr(p, sep);
    if (e) *e = '\0';
    char *t = trim(p);
    if (!*t) {
      for (int i = 0; i < n; i++) free(v[i]);
      free(v);
      return pb_err_set(err, "%s: %s: value %d is empty", origin, name, n + 1), -1;
    }
    if (n == cap) v = pb_xrealloc(v, (size_t)(cap *= 2) * sizeof *v);
    v[n++] = pb_xstrdup(t);
    if (!e) break;
    p = e + 1;
  }
  *out = v;
  return n;
}

/* range(...) (end excluded) or a:b[:step] (end included) into k->vals. */
static int expand_range(pb_sweep_key *k, char **arg, int narg, int inclusive, const char *text, pb_err *err) {
  double x[3] = {0, 0, 1};
  int integral = 1;
  if (narg < 1 || narg > 3 || (inclusive && narg < 2))
    return pb_err_set(err, "%s: %s = %s: expected %s", k->origin, k->name, text,
                      inclusive ? "a:b or a:b:step" : "range(stop), range(start, stop) or range(start, stop, step)");
  double got[3];
  for (int i = 0; i < narg; i++) {
    int in;
    if (parse_num(arg[i], &got[i], &in))
      return pb_err_set(err, "%s: %s = %s: '%s' is not a number", k->origin, k->name, text, arg[i]);
    integral &= in;
  }
  if (narg == 1) x[1] = got[0];
  else {
    x[0] = got[0], x[1] = got[1];
    if (narg == 3) x[2] = got[2];
  }
  if (x[2] == 0) return pb_err_set(err, "%s: %s = %s: the step is 0", k->origin, k->name, text);
  double tol = 1e-9 * fabs(x[2]);
  k->n = 0;
  k->vals = NULL;
  for (long i = 0;; i++) {
    double v = x[0] + (double)i * x[2];
    int more = x[2] > 0 ? (inclusive ? v <= x[1] + tol : v < x[1] - tol) : (inclusive ? v >= x[1] - tol : v > x[1] + tol);
    if (!more) break;
    if (i >= SPEC_MAX_VALUES)
      return pb_err_set(err, "%s: %s = %s has more than %d values", k->origin, k->name, text, SPEC_MAX_VALUES);
    char buf[64];
    if (integral) snprintf(buf, sizeof buf, "%.0f", v);
    else snprintf(buf, sizeof buf, "%.10g", v);
    if (!(k->n & (k->n - 1))) /* capacity doubles at each power of 2: growing by one was quadratic */
      k->vals = pb_xrealloc(k->vals, (size_t)(k->n ? 2 * k->n : 1) * sizeof *k->vals);
    k->vals[k->n++] = pb_xstrdup(buf);
  }
  if (!k->n) return pb_err_set(err, "%s: %s = %s holds no value", k->origin, k->name, text);
  return PB_OK;
}

/* "a:b" or "a:b:step" of numbers. */
static int is_colon_range(const char *t) {
  if (!strchr(t, ':')) return 0;
  for (const char *p = t; *p; p++)
    if (!isdigit((unsigned char)*p) && !strchr("+-.:eE ", *p)) return 0;
  return 1;
}

/* Parses a [vary] value into k (name and origin already set) and checks it. */
static int parse_vary(pb_sweep_key *k, const char *value, int mode, pb_err *err) {
  const pb_cfg_key *tk = key_of(k->name);
  char *text = pb_xstrdup(value), *t = trim(text);
  int rc = PB_ERR;
  static const char *const fns[] = {"range", "uniform", "loguniform", "randint", "choice"};
  int fn = -1;
  char *args = NULL;
  for (int i = 0; i < 5; i++) {
    size_t n = strlen(fns[i]);
    if (!strncmp(t, fns[i], n)) {
      char *p = t + n;
      while (isspace((unsigned char)*p)) p++;
      size_t len = strlen(p);
      if (*p == '(' && len >= 2 && p[len - 1] == ')') {
        fn = i;
        p[len - 1] = '\0';
        args = p + 1;
      }
    }
  }
  char **v = NULL;
  int n = 0;
  if (!*t) {
    pb_err_set(err, "%s: %s: the value list is empty", k->origin, k->name);
    goto out;
  }
  if (!tk) { /* unknown key: the config's message, with its suggestion */
    check_value(k->name, "", k->origin, err);
    goto out;
  }
  if (fn < 0 && is_colon_range(t)) {
    char *parts[4];
    int np = 0;
    for (char *p = t; np < 4;) {
      char *e = strchr(p, ':');
      if (e) *e = '\0';
      parts[np++] = trim(p);
      if (!e) break;
      p = e + 1;
    }
    k->kind = PB_SWEEP_LIST;
    if (expand_range(k, parts, np, 1, value, err)) goto out;
  } else if (fn == 0) {
    if ((n = split_values(args, &v, k->origin, k->name, err)) < 0) goto out;
    k->kind = PB_SWEEP_LIST;
    if (expand_range(k, v, n, 0, value, err)) goto out;
  } else if (fn == 4 || fn < 0) {
    if ((n = split_values(fn == 4 ? args : t, &v, k->origin, k->name, err)) < 0) goto out;
    k->kind = fn == 4 ? PB_SWEEP_CHOICE : PB_SWEEP_LIST;
    k->vals = v, k->n = n, v = NULL, n = 0;
  } else { /* uniform, loguniform, randint */
    k->kind = fn == 1 ? PB_SWEEP_UNIFORM : fn == 2 ? PB_SWEEP_LOGUNIFORM : PB_SWEEP_RANDINT;
    if ((n = split_values(args, &v, k->origin, k->name, err)) < 0) goto out;
    int ia, ib;
    if (n != 2 || parse_num(v[0], &k->a, &ia) || parse_num(v[1], &k->b, &ib)) {
      pb_err_set(err, "%s: %s = %s: expected %s(a, b) with two numbers", k->origin, k->name, value, fns[fn]);
      goto out;
    }
    if (k->a > k->b) {
      pb_err_set(err, "%s: %s = %s: a > b", k->origin, k->name, value);
      goto out;
    }
    if (k->kind == PB_SWEEP_LOGUNIFORM && k->a <= 0) {
      pb_err_set(err, "%s: %s = %s: loguniform needs 0 < a <= b", k->origin, k->name, value);
      goto out;
    }
    if (k->kind == PB_SWEEP_RANDINT ? tk->type != PB_CFG_INT && tk->type != PB_CFG_FLOAT
                                    : tk->type != PB_CFG_FLOAT) {
      pb_err_set(err, "%s: %s = %s: [%s] %s is not a %s key", k->origin, k->name, value, tk->section, tk->key,
                 k->kind == PB_SWEEP_RANDINT ? "number" : "float");
      goto out;
    }
    if (k->kind == PB_SWEEP_RANDINT && (!ia || !ib)) {
      pb_err_set(err, "%s: %s = %s: randint needs integers", k->origin, k->name, value);
      goto out;
    }
    /* Both ends must be values the key takes. */
    for (int i = 0; i < 2; i++)
      if (check_value(k->name, v[i], k->origin, err)) goto out;
  }
  if (mode != PB_SWEEP_RANDOM && k->kind != PB_SWEEP_LIST) {
    pb_err_set(err, "%s: %s = %s: %s() draws at random; it needs [sweep] mode = random", k->origin, k->name, value,
               fns[fn]);
    goto out;
  }
  for (int i = 0; k->kind <= PB_SWEEP_CHOICE && i < k->n; i++)
    if (check_value(k->name, k->vals[i], k->origin, err)) goto out;
  rc = PB_OK;
out:
  for (int i = 0; i < n; i++) free(v[i]);
  free(v);
  free(text);
  return rc;
}

/* The [vary] lines are kept raw until the whole spec is read (the mode may come later). */
typedef struct raw_vary {
  char *name, *value, *origin;
} raw_vary;

typedef struct spec_read {
  pb_sweep_spec *s;
  int nraw;
  raw_vary *raw;
} spec_read;

static int sweep_key(spec_read *R, const char *key, const char *value, const char *path, const char *origin,
                     pb_err *err) {
  pb_sweep_spec *s = R->s;
  if (!strcmp(key, "base")) {
    if (!*value) return pb_err_set(err, "%s: [sweep] base is empty; expected a config file", origin);
    free(s->base);
    s->base = relative_to(path, value);
    set_str(&s->base_origin, origin);
  } else if (!strcmp(key, "mode")) {
    if (!strcmp(value, "grid")) s->mode = PB_SWEEP_GRID;
    else if (!strcmp(value, "zip")) s->mode = PB_SWEEP_ZIP;
    else if (!strcmp(value, "random")) s->mode = PB_SWEEP_RANDOM;
    else return pb_err_set(err, "%s: [sweep] mode = %s is not one of grid|zip|random", origin, value);
    set_str(&s->mode_origin, origin);
  } else if (!strcmp(key, "trials") || !strcmp(key, "seed")) {
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (!*value || *end || errno) return pb_err_set(err, "%s: [sweep] %s = %s is not an integer", origin, key, value);
    if (!strcmp(key, "seed")) {
      if (v < 0) return pb_err_set(err, "%s: [sweep] seed = %s is negative", origin, value);
      s->seed = (uint64_t)v;
    } else {
      if (v < 1 || v > SPEC_MAX_VALUES)
        return pb_err_set(err, "%s: [sweep] trials = %s is out of range [1, %d]", origin, value, SPEC_MAX_VALUES);
      s->trials = v;
      set_str(&s->trials_origin, origin);
    }
  } else if (!strcmp(key, "name")) {
    if (!*value) return pb_err_set(err, "%s: [sweep] name is empty", origin);
    set_str(&s->name, value);
    set_str(&s->name_origin, origin);
  } else if (!strcmp(key, "out_dir")) {
    if (!*value) return pb_err_set(err, "%s: [sweep] out_dir is empty", origin);
    set_str(&s->out_dir, value);
  } else if (!strcmp(key, "cross_seeds")) {
    char *text = pb_xstrdup(value), **v = NULL;
    int n = split_values(text, &v, origin, "[sweep] cross_seeds", err);
    free(text);
    if (n < 0) return PB_ERR;
    free(s->seeds);
    s->seeds = pb_xmalloc((size_t)n * sizeof *s->seeds);
    s->nseeds = n;
    int rc = PB_OK;
    for (int i = 0; i < n; i++) {
      char *end;
      errno = 0;
      s->seeds[i] = strtol(v[i], &end, 10);
      if (rc == PB_OK && (*end || errno || check_value("run.seed", v[i], origin, err)))
        rc = *end || errno ? pb_err_set(err, "%s: [sweep] cross_seeds: '%s' is not an integer", origin, v[i]) : PB_ERR;
      free(v[i]);
    }
    free(v);
    set_str(&s->seeds_origin, origin);
    return rc;
  } else {
    return pb_err_set(err, "%s: [sweep] unknown key '%s' (keys: base, mode, trials, seed, name, out_dir, cross_seeds)",
                      origin, key);
  }
  return PB_OK;
}

/* run.name and run.out_dir belong to the sweep. */
static int check_reserved(const char *name, const char *origin, pb_err *err) {
  if (!strcmp(name, "run.name") || !strcmp(name, "run.out_dir"))
    return pb_err_set(err, "%s: %s is set by plumb sweep: use [sweep] %s", origin, name,
                      !strcmp(name, "run.name") ? "name" : "out_dir");
  return PB_OK;
}

static int read_spec(spec_read *R, const char *path, spec_file *parent, const char *inc_origin, pb_err *err) {
  int depth = parent ? parent->depth + 1 : 0;
  if (depth >= SPEC_MAX_DEPTH) return pb_err_set(err, "%s: includes nest deeper than %d files", inc_origin, SPEC_MAX_DEPTH);
  char *real = realpath(path, NULL);
  for (spec_file *p = parent; p && real; p = p->parent) {
    char *pr = realpath(p->path, NULL);
    int same = pr && !strcmp(pr, real);
    free(pr);
    if (same) {
      free(real);
      return pb_err_set(err, "%s: include cycle: %s is already being read", inc_origin, path);
    }
  }
  free(real);
  FILE *f = fopen(path, "r");
  if (!f) {
    if (parent) return pb_err_set(err, "%s: include = %s: cannot open %s: %s", inc_origin, path, path, strerror(errno));
    return pb_err_set(err, "cannot open sweep spec %s: %s", path, strerror(errno));
  }
  spec_file me = {.path = path, .parent = parent, .depth = depth};
  char *line = NULL, section[32] = "";
  size_t cap = 0;
  int lineno = 0, rc = PB_OK;
  char origin[PATH_MAX + 32];
  while (rc == PB_OK && getline(&line, &cap, f) >= 0) {
    lineno++;
    snprintf(origin, sizeof origin, "%s:%d", path, lineno);
    char *t = line;
    if (lineno == 1 && !strncmp(t, "\xEF\xBB\xBF", 3)) t += 3;
    t = trim(t);
    if (!*t || *t == ';' || *t == '#') continue;
    if (*t == '[') {
      char *close = strchr(t, ']');
      if (close) *close = '\0';
      char *name = trim(t + 1);
      if (!close || *trim(close + 1)) {
        rc = pb_err_set(err, "%s: expected '[section]'", origin);
      } else if (strcmp(name, "sweep") && strcmp(name, "set") && strcmp(name, "vary")) {
        rc = pb_err_set(err, "%s: unknown section [%s] (a sweep spec has [sweep], [set] and [vary])", origin, name);
      } else {
        snprintf(section, sizeof section, "%s", name);
      }
      continue;
    }
    char *eq = strchr(t, '=');
    if (!eq) {
      rc = pb_err_set(err, "%s: expected 'key = value' or '[section]'", origin);
      continue;
    }
    *eq = '\0';
    char *key = trim(t), *value = eq + 1;
    strip_comment(value);
    value = trim(value);
    if (!strcmp(key, "include")) {
      char *inc = relative_to(path, value);
      rc = *value ? read_spec(R, inc, &me, origin, err) : pb_err_set(err, "%s: include is empty", origin);
      free(inc);
    } else if (!*section) {
      rc = pb_err_set(err, "%s: '%s' is outside any section (only include may come before [sweep])", origin, key);
    } else if (!strcmp(section, "sweep")) {
      rc = sweep_key(R, key, value, path, origin, err);
    } else if (check_reserved(key, origin, err)) {
      rc = PB_ERR;
    } else if (!strcmp(section, "set")) {
      if ((rc = check_value(key, value, origin, err))) continue;
      pb_sweep_spec *s = R->s;
      int i = 0;
      while (i < s->nfixed && strcmp(s->fixed[i].name, key)) i++;
      if (i == s->nfixed) {
        s->fixed = pb_xrealloc(s->fixed, (size_t)(s->nfixed + 1) * sizeof *s->fixed);
        s->fixed[s->nfixed++] = (pb_sweep_fixed){pb_xstrdup(key), NULL, NULL};
      }
      set_str(&s->fixed[i].value, value);
      set_str(&s->fixed[i].origin, origin);
    } else { /* vary */
      int i = 0;
      while (i < R->nraw && strcmp(R->raw[i].name, key)) i++;
      if (i == R->nraw) {
        R->raw = pb_xrealloc(R->raw, (size_t)(R->nraw + 1) * sizeof *R->raw);
        R->raw[R->nraw++] = (raw_vary){pb_xstrdup(key), NULL, NULL};
      }
      set_str(&R->raw[i].value, value);
      set_str(&R->raw[i].origin, origin);
    }
  }
  free(line);
  fclose(f);
  return rc;
}

int pb_sweep_spec_load(pb_sweep_spec *s, const char *path, pb_err *err) {
  PB_ASSERT(s && path);
  memset(s, 0, sizeof *s);
  s->path = pb_xstrdup(path);
  spec_read R = {.s = s};
  int rc = read_spec(&R, path, NULL, NULL, err);
  if (rc == PB_OK && !s->base) rc = pb_err_set(err, "%s: [sweep] base is missing: the config every trial starts from", path);
  if (rc == PB_OK) {
    FILE *f = fopen(s->base, "r");
    if (!f) rc = pb_err_set(err, "%s: [sweep] base = %s: cannot open it: %s", s->base_origin, s->base, strerror(errno));
    else fclose(f);
  }
  if (rc == PB_OK && s->mode == PB_SWEEP_RANDOM && !s->trials)
    rc = pb_err_set(err, "%s: mode = random needs [sweep] trials = N", s->mode_origin);
  if (rc == PB_OK && s->mode != PB_SWEEP_RANDOM && s->trials)
    rc = pb_err_set(err, "%s: [sweep] trials applies to mode = random only", s->trials_origin);
  if (rc == PB_OK && !R.nraw && !s->nseeds)
    rc = pb_err_set(err, "%s: nothing is varied: give a [vary] section (or [sweep] cross_seeds)", path);
  s->keys = pb_xcalloc((size_t)R.nraw + 1, sizeof *s->keys);
  for (int i = 0; i < R.nraw; i++) {
    pb_sweep_key *k = &s->keys[s->nkeys];
    if (rc == PB_OK) {
      k->name = pb_xstrdup(R.raw[i].name);
      k->origin = pb_xstrdup(R.raw[i].origin);
      s->nkeys++;
      rc = parse_vary(k, R.raw[i].value, s->mode, err);
      for (int j = 0; rc == PB_OK && j < s->nfixed; j++)
        if (!strcmp(s->fixed[j].name, k->name))
          rc = pb_err_set(err, "%s: %s is varied and also fixed in [set] (%s)", k->origin, k->name, s->fixed[j].origin);
      if (rc == PB_OK && s->nseeds && !strcmp(k->name, "run.seed"))
        rc = pb_err_set(err, "%s: run.seed is varied and also crossed by [sweep] cross_seeds (%s)", k->origin,
                        s->seeds_origin);
    }
    free(R.raw[i].name);
    free(R.raw[i].value);
    free(R.raw[i].origin);
  }
  free(R.raw);
  return rc;
}

void pb_sweep_spec_free(pb_sweep_spec *s) {
  if (!s) return;
  for (int i = 0; i < s->nkeys; i++) {
    for (int j = 0; j < s->keys[i].n; j++) free(s->keys[i].vals[j]);
    free(s->keys[i].vals);
    free(s->keys[i].name);
    free(s->keys[i].origin);
  }
  free(s->keys);
  for (int i = 0; i < s->nfixed; i++) {
    free(s->fixed[i].name);
    free(s->fixed[i].value);
    free(s->fixed[i].origin);
  }
  free(s->fixed);
  free(s->path);
  free(s->base);
  free(s->base_origin);
  free(s->mode_origin);
  free(s->trials_origin);
  free(s->name);
  free(s->name_origin);
  free(s->out_dir);
  free(s->seeds);
  free(s->seeds_origin);
  memset(s, 0, sizeof *s);
}
