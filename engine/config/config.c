/* config.c: the configuration (config.h): the key table's check, value parsing and bounds,
 * the typed getters, --set, writing the resolved config and the key reference. Reading INI
 * files (inih, includes, line numbers) is config_parse.c; the keys are config_keys.c. */
#define _XOPEN_SOURCE 700

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "engine/config/config_internal.h"
#include "kernels/pb_file.h"

/* ------------------------------------------------------------------ small helpers */

static const char *cfg_type_name(pb_cfg_type t) {
  switch (t) {
    case PB_CFG_INT: return "int";
    case PB_CFG_FLOAT: return "float";
    case PB_CFG_BOOL: return "bool";
    case PB_CFG_STRING: return "string";
    case PB_CFG_ENUM: return "enum";
    case PB_CFG_INT_LIST: return "int list";
    case PB_CFG_FLOAT_LIST: return "float list";
  }
  return "?";
}

static int cfg_integral(pb_cfg_type t) { return t == PB_CFG_INT || t == PB_CFG_INT_LIST; }

/* A bound as a person would write it: integers in full, floats in the fewest digits. */
static void cfg_fmt_num(char *buf, size_t cap, double v, int integral) {
  if (integral) {
    snprintf(buf, cap, "%.0f", v);
    return;
  }
  for (int prec = 6; prec <= 17; prec++) {
    snprintf(buf, cap, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) return;
  }
}

static void cfg_fmt_bounds(char *buf, size_t cap, const pb_cfg_key *k) {
  char lo[40], hi[40];
  cfg_fmt_num(lo, sizeof lo, k->min, cfg_integral(k->type));
  cfg_fmt_num(hi, sizeof hi, k->max, cfg_integral(k->type));
  snprintf(buf, cap, "[%s, %s]", lo, hi);
}

/* Copies s[0..n) without surrounding whitespace into out (cap bytes, truncating). */
static void cfg_trim_copy(char *out, size_t cap, const char *s, size_t n) {
  while (n && isspace((unsigned char)*s)) s++, n--;
  while (n && isspace((unsigned char)s[n - 1])) n--;
  if (n >= cap) n = cap - 1;
  memcpy(out, s, n);
  out[n] = '\0';
}

static int cfg_lower_eq(const char *a, const char *b) {
  for (; *a && *b; a++, b++)
    if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
  return *a == *b;
}

/* Edit distance, for suggestions; long words get no suggestion. */
static int cfg_levenshtein(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  if (na > 64 || nb > 64) return 1 << 20;
  int row[65];
  for (size_t j = 0; j <= nb; j++) row[j] = (int)j;
  for (size_t i = 1; i <= na; i++) {
    int diag = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= nb; j++) {
      int up = row[j];
      int best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[nb];
}

/* The closest candidate to `word`: within edit distance max(2, len/3), or else one that is
 * a prefix of the word or has it as a prefix ("lr_rate" -> "lr"). NULL when none is close. */
static const char *cfg_suggest(const char *word, const char *const *cand, int n) {
  int limit = PB_MAX(2, (int)strlen(word) / 3), best = limit + 1;
  const char *pick = NULL;
  for (int i = 0; i < n; i++) {
    int d = cfg_levenshtein(word, cand[i]);
    if (d < best) best = d, pick = cand[i];
  }
  if (pick || !*word) return pick;
  for (int i = 0; i < n; i++) {
    size_t lw = strlen(word), lc = strlen(cand[i]), ls = PB_MIN(lw, lc);
    if (ls >= 2 && !strncmp(word, cand[i], ls)) return cand[i];
  }
  return NULL;
}

/* Splits "a|b|c" into pointers into buf. Returns the count. */
static int cfg_split_choices(const char *choices, char *buf, size_t cap, const char **out, int max) {
  snprintf(buf, cap, "%s", choices);
  int n = 0;
  for (char *p = buf; n < max;) {
    out[n++] = p;
    char *bar = strchr(p, '|');
    if (!bar) break;
    *bar = '\0';
    p = bar + 1;
  }
  return n;
}

/* ------------------------------------------------------------------ the table */

#define CFG_MAX_SECTIONS 32
static const char *cfg_sections[CFG_MAX_SECTIONS];
static int cfg_nsections;
static int cfg_checked;

int pb_cfg_find(const char *section, const char *key) {
  for (int i = 0; i < pb_cfg_nkeys; i++)
    if (!strcmp(pb_cfg_keys[i].section, section) && !strcmp(pb_cfg_keys[i].key, key)) return i;
  return -1;
}

int pb_cfg_section_known(const char *section) {
  for (int i = 0; i < cfg_nsections; i++)
    if (!strcmp(cfg_sections[i], section)) return 1;
  char base[64], name[64];
  return pb_cfg_split_named(section, base, sizeof base, name, sizeof name, NULL) == 1;
}

static int cfg_parse(const pb_cfg_key *k, const char *text, pb_cfg_val *v, pb_err *err);

void pb_cfg_check_table(void) {
  if (cfg_checked) return;
  cfg_nsections = 0;
  for (int i = 0; i < pb_cfg_nkeys; i++) {
    const pb_cfg_key *k = &pb_cfg_keys[i];
    if (!k->section || !*k->section || !k->key || !*k->key || !k->def || !k->doc)
      PB_FATAL("pb_cfg_keys[%d]: section, key, default and doc are required", i);
    if (strpbrk(k->section, ".=:[] \t") || strpbrk(k->key, ".=:[] \t;#"))
      PB_FATAL("pb_cfg_keys[%d]: [%s] %s: names may not hold '.', '=', ':', brackets or spaces", i, k->section, k->key);
    if (!strcmp(k->key, "include")) PB_FATAL("pb_cfg_keys[%d]: 'include' is reserved", i);
    for (int j = 0; j < i; j++)
      if (!strcmp(pb_cfg_keys[j].section, k->section) && !strcmp(pb_cfg_keys[j].key, k->key))
        PB_FATAL("pb_cfg_keys: [%s] %s is declared twice (entries %d and %d)", k->section, k->key, j, i);
    if (!pb_cfg_section_known(k->section)) {
      if (cfg_nsections == CFG_MAX_SECTIONS) PB_FATAL("pb_cfg_keys: more than %d sections", CFG_MAX_SECTIONS);
      cfg_sections[cfg_nsections++] = k->section;
    }
    if ((k->type == PB_CFG_ENUM) != (k->choices != NULL) || (k->choices && !*k->choices))
      PB_FATAL("pb_cfg_keys: [%s] %s: choices are required for enums and only for enums", k->section, k->key);
    int numeric =
        k->type == PB_CFG_INT || k->type == PB_CFG_FLOAT || k->type == PB_CFG_INT_LIST || k->type == PB_CFG_FLOAT_LIST;
    if (numeric && !(k->min <= k->max)) PB_FATAL("pb_cfg_keys: [%s] %s: min > max", k->section, k->key);
    if (cfg_integral(k->type) &&
        (k->min != floor(k->min) || k->max != floor(k->max) || fabs(k->min) > 9e15 || fabs(k->max) > 9e15))
      PB_FATAL("pb_cfg_keys: [%s] %s: integer bounds must be whole numbers", k->section, k->key);
    pb_cfg_val v;
    pb_err e = {{0}};
    if (cfg_parse(k, k->def, &v, &e)) PB_FATAL("pb_cfg_keys: bad default: %s", e.msg);
  }
  cfg_checked = 1;
}

int pb_cfg_line_limit(void) { return INI_MAX_LINE - 3; }

/* ------------------------------------------------------------------ values */

static int cfg_parse_long(const char *s, long *out) { /* 0 ok, 1 not an integer, 2 overflow */
  const char *p = s;
  if (*p == '+' || *p == '-') p++;
  if (!isdigit((unsigned char)*p)) return 1;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (*end) return 1;
  if (errno == ERANGE) return 2;
  *out = v;
  return 0;
}

static int cfg_parse_double(const char *s, double *out) { /* 0 ok, 1 not a number, 2 not finite */
  if (!*s || isspace((unsigned char)*s)) return 1;
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end) return 1;
  if (!isfinite(v)) return 2;
  *out = v;
  return 0;
}

/* [run] device is a string with a pattern: auto | cpu | cuda | cuda:N. pb_cfg_key has no
 * per-key validator (one special case does not justify one), so it is checked here. */
static int cfg_check_device(const pb_cfg_key *k, const char *s, pb_err *err) {
  if (strcmp(k->section, "run") || strcmp(k->key, "device")) return PB_OK;
  if (!strcmp(s, "auto") || !strcmp(s, "cpu") || !strcmp(s, "cuda")) return PB_OK;
  if (!strncmp(s, "cuda:", 5) && s[5] && strlen(s + 5) <= 4 && strspn(s + 5, "0123456789") == strlen(s + 5))
    return PB_OK;
  static const char *const names[] = {"auto", "cpu", "cuda"};
  const char *sug = cfg_suggest(s, names, 3);
  if (!sug && !strncmp(s, "cuda", 4)) sug = "cuda:0";
  char hint[64] = "";
  if (sug) snprintf(hint, sizeof hint, "; did you mean '%s'?", sug);
  return pb_err_set(err, "[run] device = %s is not one of auto|cpu|cuda|cuda:N (N = GPU index)%s", s, hint);
}

/* One list element (already trimmed) of key k; i is 1-based for the message. */
static int cfg_parse_elem(const pb_cfg_key *k, const char *text, const char *el, int i, pb_cfg_val *v, pb_err *err) {
  char b[96];
  if (!*el) return pb_err_set(err, "[%s] %s = %s: element %d is empty", k->section, k->key, text, i);
  double x;
  if (k->type == PB_CFG_INT_LIST) {
    long l = 0;
    int r = cfg_parse_long(el, &l);
    if (r == 1)
      return pb_err_set(err, "[%s] %s = %s: element %d (%s) is not an integer", k->section, k->key, text, i, el);
    x = r == 2 ? (el[0] == '-' ? -HUGE_VAL : HUGE_VAL) : (double)l;
    v->list.i[i - 1] = l;
  } else {
    int r = cfg_parse_double(el, &x);
    if (r == 1)
      return pb_err_set(err, "[%s] %s = %s: element %d (%s) is not a number", k->section, k->key, text, i, el);
    if (r == 2)
      return pb_err_set(err, "[%s] %s = %s: element %d (%s) is not a finite number", k->section, k->key, text, i, el);
    v->list.f[i - 1] = x;
  }
  if (x < k->min || x > k->max) {
    cfg_fmt_bounds(b, sizeof b, k);
    return pb_err_set(err, "[%s] %s = %s: element %d (%s) is out of range %s", k->section, k->key, text, i, el, b);
  }
  return PB_OK;
}

/* Parses text for key k into v's parsed fields (not raw/origin). */
static int cfg_parse(const pb_cfg_key *k, const char *text, pb_cfg_val *v, pb_err *err) {
  char b[96];
  memset(v, 0, sizeof *v);
  cfg_fmt_bounds(b, sizeof b, k);
  switch (k->type) {
    case PB_CFG_INT: {
      if (!*text) return pb_err_set(err, "[%s] %s is empty; expected an integer in %s", k->section, k->key, b);
      int r = cfg_parse_long(text, &v->i);
      if (r == 1) return pb_err_set(err, "[%s] %s = %s is not an integer", k->section, k->key, text);
      if (r == 2 || (double)v->i < k->min || (double)v->i > k->max)
        return pb_err_set(err, "[%s] %s = %s is out of range %s", k->section, k->key, text, b);
      return PB_OK;
    }
    case PB_CFG_FLOAT: {
      if (!*text) return pb_err_set(err, "[%s] %s is empty; expected a number in %s", k->section, k->key, b);
      int r = cfg_parse_double(text, &v->f);
      if (r == 1) return pb_err_set(err, "[%s] %s = %s is not a number", k->section, k->key, text);
      if (r == 2) return pb_err_set(err, "[%s] %s = %s is not a finite number", k->section, k->key, text);
      if (v->f < k->min || v->f > k->max)
        return pb_err_set(err, "[%s] %s = %s is out of range %s", k->section, k->key, text, b);
      return PB_OK;
    }
    case PB_CFG_BOOL: {
      static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
      for (int i = 0; i < 4; i++) {
        if (cfg_lower_eq(text, yes[i])) return v->i = 1, PB_OK;
        if (cfg_lower_eq(text, no[i])) return v->i = 0, PB_OK;
      }
      return pb_err_set(err, "[%s] %s = %s is not a boolean (true|false, yes|no, on|off, 1|0)", k->section, k->key,
                        text);
    }
    case PB_CFG_STRING: return cfg_check_device(k, text, err);
    case PB_CFG_ENUM: {
      char buf[256];
      const char *names[32];
      int n = cfg_split_choices(k->choices, buf, sizeof buf, names, 32);
      for (int i = 0; i < n; i++)
        if (!strcmp(text, names[i])) return v->i = i, PB_OK;
      if (!*text) return pb_err_set(err, "[%s] %s is empty; expected one of %s", k->section, k->key, k->choices);
      const char *sug = cfg_suggest(text, names, n);
      char hint[160] = "";
      if (sug) snprintf(hint, sizeof hint, "; did you mean '%s'?", sug);
      return pb_err_set(err, "[%s] %s = %s is not one of %s%s", k->section, k->key, text, k->choices, hint);
    }
    case PB_CFG_INT_LIST:
    case PB_CFG_FLOAT_LIST: {
      const char *p = text;
      while (isspace((unsigned char)*p)) p++;
      if (!*p) {
        if (!*k->def) return PB_OK; /* an empty list is allowed where it is the default */
        return pb_err_set(err, "[%s] %s is empty; expected a comma-separated list of %s in %s", k->section, k->key,
                          k->type == PB_CFG_INT_LIST ? "integers" : "numbers", b);
      }
      for (int i = 1;; i++) {
        if (i > PB_CFG_LIST_MAX)
          return pb_err_set(err, "[%s] %s = %s has more than %d elements", k->section, k->key, text, PB_CFG_LIST_MAX);
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char el[64];
        if (n >= sizeof el) return pb_err_set(err, "[%s] %s = %s: element %d is too long", k->section, k->key, text, i);
        cfg_trim_copy(el, sizeof el, p, n);
        if (cfg_parse_elem(k, text, el, i, v, err)) return PB_ERR;
        v->n = i;
        if (!comma) return PB_OK;
        p = comma + 1;
      }
    }
  }
  PB_FATAL("bad config type %d", (int)k->type);
}

int pb_cfg_assign(pb_config *c, int idx, const char *value, const char *origin, pb_err *err) {
  PB_ASSERT(idx >= 0 && idx < pb_cfg_nkeys);
  return pb_cfg_assign_val(&c->v[idx], idx, value, origin, err);
}

int pb_cfg_assign_val(pb_cfg_val *dst, int idx, const char *value, const char *origin, pb_err *err) {
  PB_ASSERT(idx >= 0 && idx < pb_cfg_nkeys);
  pb_cfg_val v;
  if (cfg_parse(&pb_cfg_keys[idx], value, &v, err)) return PB_ERR;
  free(dst->raw);
  free(dst->origin);
  v.raw = pb_xstrdup(value);
  v.origin = origin ? pb_xstrdup(origin) : NULL;
  *dst = v;
  return PB_OK;
}

/* ------------------------------------------------------------------ messages */

int pb_cfg_err_unknown_section(pb_err *err, const char *section) {
  char list[512] = "";
  size_t n = 0;
  for (int i = 0; i < cfg_nsections; i++)
    n += (size_t)snprintf(list + n, n < sizeof list ? sizeof list - n : 0, "%s%s", i ? ", " : "", cfg_sections[i]);
  const char *sug = cfg_suggest(section, cfg_sections, cfg_nsections);
  char hint[128] = "";
  if (sug) snprintf(hint, sizeof hint, "; did you mean [%s]?", sug);
  return pb_err_set(err, "unknown section [%s]%s (sections: %s)", section, hint, list);
}

int pb_cfg_err_unknown_key(pb_err *err, const char *section, const char *key) {
  const char *names[128] = {0};
  int n = 0, other = -1;
  char base[64], nm[64]; /* a named section [model.f] has [model]'s keys */
  const char *look = pb_cfg_split_named(section, base, sizeof base, nm, sizeof nm, NULL) == 1 ? base : section;
  for (int i = 0; i < pb_cfg_nkeys && n < 128; i++) {
    if (!strcmp(pb_cfg_keys[i].section, look))
      names[n++] = pb_cfg_keys[i].key;
    else if (other < 0 && !strcmp(pb_cfg_keys[i].key, key))
      other = i;
  }
  const char *sug = cfg_suggest(key, names, n);
  if (sug) return pb_err_set(err, "[%s] unknown key '%s'; did you mean '%s'?", section, key, sug);
  if (other >= 0)
    return pb_err_set(err, "[%s] unknown key '%s'; it belongs in [%s]", section, key, pb_cfg_keys[other].section);
  char list[768] = "";
  size_t len = 0;
  for (int i = 0; i < n; i++)
    len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0, "%s%s", i ? ", " : "", names[i]);
  return pb_err_set(err, "[%s] unknown key '%s' (keys: %s)", section, key, list);
}

/* ------------------------------------------------------------------ the public API */

pb_config *pb_config_new(void) {
  pb_cfg_check_table();
  pb_config *c = pb_xcalloc(1, sizeof *c);
  c->v = pb_xcalloc((size_t)pb_cfg_nkeys, sizeof *c->v);
  for (int i = 0; i < pb_cfg_nkeys; i++) {
    pb_err e = {{0}};
    if (pb_cfg_assign(c, i, pb_cfg_keys[i].def, NULL, &e)) PB_FATAL("pb_cfg_keys: %s", e.msg);
  }
  return c;
}

void pb_config_free(pb_config *c) {
  if (!c) return;
  for (int i = 0; i < pb_cfg_nkeys; i++) {
    free(c->v[i].raw);
    free(c->v[i].origin);
  }
  free(c->v);
  pb_cfg_free_named(c);
  free(c);
}

int pb_config_set(pb_config *c, const char *assignment, pb_err *err) {
  PB_ASSERT(c && assignment);
  const char *eq = strchr(assignment, '=');
  char name[128];
  cfg_trim_copy(name, sizeof name, assignment, eq ? (size_t)(eq - assignment) : strlen(assignment));
  if (!eq || !strchr(name, '.'))
    return pb_err_set(err, "--set '%s': expected section.key=value (e.g. --set train.epochs=5)", assignment);
  return pb_config_set_at(c, name, eq + 1, NULL, err);
}

int pb_config_set_at(pb_config *c, const char *name_in, const char *value_in, const char *origin, pb_err *err) {
  PB_ASSERT(c && name_in && value_in);
  char name[128], section[64], key[64], loc[PATH_MAX + 192];
  cfg_trim_copy(name, sizeof name, name_in, strlen(name_in));
  char *dot = strrchr(name, '.'); /* section.key, or section.NAME.key for a named section */
  if (!dot) {
    if (origin) return pb_err_set(err, "%s: '%s': expected section.key (e.g. train.epochs)", origin, name);
    return pb_err_set(err, "--set '%s': expected section.key=value (e.g. --set train.epochs=5)", name);
  }
  cfg_trim_copy(section, sizeof section, name, (size_t)(dot - name));
  cfg_trim_copy(key, sizeof key, dot + 1, strlen(dot + 1));
  if (origin)
    snprintf(loc, sizeof loc, "%s", origin);
  else
    snprintf(loc, sizeof loc, "--set %s.%s", section, key);
  const char *from = origin ? origin : "--set";
  char base[64], nm[64];
  int named = pb_cfg_split_named(section, base, sizeof base, nm, sizeof nm, err);
  if (named < 0) return pb_err_prefix(err, "%s", loc);
  if (!named && !pb_cfg_section_known(section))
    return pb_cfg_err_unknown_section(err, section), pb_err_prefix(err, "%s", loc);
  int idx = pb_cfg_find(named ? base : section, key);
  if (idx < 0) return pb_cfg_err_unknown_key(err, section, key), pb_err_prefix(err, "%s", loc);
  pb_cfg_named *ns = NULL;
  if (named && !(ns = pb_cfg_named_get(c, base, nm, from, err))) return pb_err_prefix(err, "%s", loc);

  /* The value must survive pb_config_write and a re-read: one line, no inline comment. */
  const char *v0 = value_in;
  size_t vn = strlen(v0);
  char *value = pb_xmalloc(vn + 1);
  cfg_trim_copy(value, vn + 1, v0, vn);
  int rc = PB_ERR;
  if (strpbrk(value, "\r\n")) {
    pb_err_set(err, "%s: the value holds a line break", loc);
  } else if (strlen(key) + 1 + strlen(value) > (size_t)pb_cfg_line_limit()) {
    pb_err_set(err, "%s: the value is too long for a config file line (%d characters at most)", loc,
               pb_cfg_line_limit());
  } else {
    const char *p = value;
    for (; *p; p++)
      if ((*p == '#' || *p == ';') && p > value && isspace((unsigned char)p[-1])) break;
    if (*p)
      pb_err_set(err, "%s: the value holds ' %c', which a config file reads as the start of a comment", loc, *p);
    else if (ns ? pb_cfg_assign_val(&ns->v[idx], idx, value, from, err) : pb_cfg_assign(c, idx, value, from, err))
      pb_err_prefix(err, "%s", loc);
    else
      rc = PB_OK;
  }
  free(value);
  return rc;
}

static const pb_cfg_val *cfg_get(const pb_config *c, const char *section, const char *key, pb_cfg_type t1,
                                 pb_cfg_type t2, const char *fn) {
  PB_ASSERT(c && section && key);
  int i = pb_cfg_find(section, key);
  if (i < 0) PB_FATAL("%s: [%s] %s is not declared in pb_cfg_keys[]", fn, section, key);
  pb_cfg_type t = pb_cfg_keys[i].type;
  if (t != t1 && t != t2) PB_FATAL("%s: [%s] %s is a %s", fn, section, key, cfg_type_name(t));
  return &c->v[i];
}

long pb_config_int(const pb_config *c, const char *section, const char *key) {
  return cfg_get(c, section, key, PB_CFG_INT, PB_CFG_INT, __func__)->i;
}

double pb_config_float(const pb_config *c, const char *section, const char *key) {
  return cfg_get(c, section, key, PB_CFG_FLOAT, PB_CFG_FLOAT, __func__)->f;
}

int pb_config_bool(const pb_config *c, const char *section, const char *key) {
  return (int)cfg_get(c, section, key, PB_CFG_BOOL, PB_CFG_BOOL, __func__)->i;
}

const char *pb_config_str(const pb_config *c, const char *section, const char *key) {
  return cfg_get(c, section, key, PB_CFG_STRING, PB_CFG_ENUM, __func__)->raw;
}

int pb_config_enum(const pb_config *c, const char *section, const char *key) {
  return (int)cfg_get(c, section, key, PB_CFG_ENUM, PB_CFG_ENUM, __func__)->i;
}

int pb_config_ints(const pb_config *c, const char *section, const char *key, long *out, int cap) {
  const pb_cfg_val *v = cfg_get(c, section, key, PB_CFG_INT_LIST, PB_CFG_INT_LIST, __func__);
  for (int i = 0; i < v->n && i < cap; i++) out[i] = v->list.i[i];
  return v->n;
}

int pb_config_floats(const pb_config *c, const char *section, const char *key, double *out, int cap) {
  const pb_cfg_val *v = cfg_get(c, section, key, PB_CFG_FLOAT_LIST, PB_CFG_FLOAT_LIST, __func__);
  for (int i = 0; i < v->n && i < cap; i++) out[i] = v->list.f[i];
  return v->n;
}

static const pb_cfg_val *cfg_get_any(const pb_config *c, const char *section, const char *key) {
  PB_ASSERT(c && section && key);
  int i = pb_cfg_find(section, key);
  if (i < 0) PB_FATAL("[%s] %s is not declared in pb_cfg_keys[]", section, key);
  return &c->v[i];
}

int pb_config_is_set(const pb_config *c, const char *section, const char *key) {
  return cfg_get_any(c, section, key)->origin != NULL;
}

const char *pb_config_origin(const pb_config *c, const char *section, const char *key) {
  const char *o = cfg_get_any(c, section, key)->origin;
  return o ? o : "default";
}

/* Every line stays within inih's limit, so the file reads back whole. */
static void cfg_write_body(const pb_config *c, FILE *f) {
  int limit = pb_cfg_line_limit();
  fprintf(f,
          "# plumb: the resolved config, every key; '# from' says where a value given by a file or --set came from\n");
  for (int s = 0; s < cfg_nsections; s++) {
    fprintf(f, "\n[%s]\n", cfg_sections[s]);
    for (int i = 0; i < pb_cfg_nkeys; i++) {
      const pb_cfg_key *k = &pb_cfg_keys[i];
      if (strcmp(k->section, cfg_sections[s])) continue;
      const pb_cfg_val *v = &c->v[i];
      if (v->origin) {
        size_t n = strlen(v->origin), room = (size_t)limit - 10;
        if (n <= room)
          fprintf(f, "# from %s\n", v->origin);
        else
          fprintf(f, "# from ...%s\n", v->origin + (n - room));
      }
      int spaced = strlen(k->key) + 3 + strlen(v->raw) <= (size_t)limit;
      fprintf(f, spaced ? "%s = %s\n" : "%s=%s\n", k->key, v->raw);
    }
  }
  pb_cfg_write_named(c, f);
}

int pb_config_write(const pb_config *c, const char *path, pb_err *err) {
  PB_ASSERT(c && path);
  for (int i = 0; i < pb_cfg_nkeys; i++)
    if (strlen(pb_cfg_keys[i].key) + 1 + strlen(c->v[i].raw) > (size_t)pb_cfg_line_limit())
      return pb_err_set(err, "cannot write %s: [%s] %s is longer than a config line", path, pb_cfg_keys[i].section,
                        pb_cfg_keys[i].key);
  pb_afile af;
  if (pb_afile_open(&af, path, err)) return PB_ERR;
  cfg_write_body(c, af.f);
  return pb_afile_commit(&af, err);
}

/* Writes text from column `col` (already reached) wrapped at 80 columns, continuation lines
 * indented by `indent`; breaks at spaces (a word longer than a line stays whole). */
static void ref_wrap(FILE *out, const char *text, int col, int indent) {
  const int width = 80;
  const char *p = text;
  while (*p) {
    while (*p == ' ') p++;
    const char *w = p;
    while (*p && *p != ' ') p++;
    int len = (int)(p - w);
    if (!len) break;
    if (col > indent && col + 1 + len > width) {
      fprintf(out, "\n%*s", indent, "");
      col = indent;
    } else if (col > indent) {
      fputc(' ', out);
      col++;
    }
    fprintf(out, "%.*s", len, w);
    col += len;
  }
  fputc('\n', out);
}

/* One key per entry, readable in an 80-column terminal:
 *   name (type, bounds; default value)
 *       its choices (enums), then its meaning, wrapped under it */
void pb_config_print_reference(FILE *out) {
  pb_cfg_check_table();
  char range[256], head[768], choices[1024];
  for (int s = 0; s < cfg_nsections; s++) {
    fprintf(out, "%s[%s]\n", s ? "\n" : "", cfg_sections[s]);
    for (int i = 0; i < pb_cfg_nkeys; i++) {
      const pb_cfg_key *k = &pb_cfg_keys[i];
      if (strcmp(k->section, cfg_sections[s])) continue;
      range[0] = 0;
      if (k->type != PB_CFG_ENUM && k->type != PB_CFG_BOOL && k->type != PB_CFG_STRING) {
        char b[200];
        cfg_fmt_bounds(b, sizeof b, k);
        snprintf(range, sizeof range, ", %s", b);
      }
      snprintf(head, sizeof head, "  %s (%s%s; default %s)", k->key, cfg_type_name(k->type), range,
               *k->def ? k->def : "\"\"");
      fprintf(out, "%s\n", head);
      if (k->type == PB_CFG_ENUM) { /* "one of: a | b | c", wrapped */
        size_t n = 0;
        n += (size_t)snprintf(choices + n, sizeof choices - n, "one of:");
        for (const char *c = k->choices; *c && n < sizeof choices;) {
          const char *e = strchr(c, '|');
          int len = e ? (int)(e - c) : (int)strlen(c);
          n += (size_t)snprintf(choices + n, sizeof choices - n, " %.*s%s", len, c, e ? " |" : "");
          c = e ? e + 1 : c + len;
        }
        fprintf(out, "      ");
        ref_wrap(out, choices, 6, 6);
      }
      fprintf(out, "      ");
      ref_wrap(out, k->doc, 6, 6);
    }
  }
}
