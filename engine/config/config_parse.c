/* config_parse.c: reading INI files into a config (pb_config_load, config.h) through inih.
 *
 * Debian's inih calls the handler without a line number and silently splits lines longer
 * than its buffer, so every line passes through our own reader first (cfg_read_line): it
 * counts lines, refuses over-long ones, checks section headers and the 'key = value'
 * syntax, drops leading whitespace (which inih would take as a multi-line continuation of
 * the previous value), and stops the parse at the first error. The handler strips inline
 * '#' comments (inih strips only ';'), applies values and follows includes. */
#define _XOPEN_SOURCE 700

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <ini.h>

#include "engine/config/config_internal.h"

#define CFG_MAX_DEPTH 32

typedef struct cfg_load {
  pb_config *c;
  pb_err *err;
  int failed;
} cfg_load;

/* One file being read; includes form a chain through `parent`. */
typedef struct cfg_file {
  cfg_load *load;
  struct cfg_file *parent;
  const char *path; /* as shown in messages: as given, or joined to the including file's folder */
  char *real;       /* realpath, for cycle detection */
  FILE *f;
  int lineno; /* the line being handled */
  int depth;
  char *buf;
  size_t cap;
} cfg_file;

/* Marks the load failed and puts "file:line" before the message already in err. */
static int cfg_fail(cfg_file *fl) {
  fl->load->failed = 1;
  return pb_err_prefix(fl->load->err, "%s:%d", fl->path, fl->lineno);
}

static int cfg_syntax_error(cfg_file *fl, int line) {
  fl->load->failed = 1;
  return pb_err_set(fl->load->err, "%s:%d: expected 'key = value' or '[section]'", fl->path, line);
}

/* fgets-style reader for ini_parse_stream: one line per call, checked (see the top). */
static char *cfg_read_line(char *str, int num, void *stream) {
  cfg_file *fl = stream;
  cfg_load *L = fl->load;
  if (L->failed) return NULL;
  errno = 0;
  ssize_t got = getline(&fl->buf, &fl->cap, fl->f);
  if (got < 0) {
    if (ferror(fl->f)) {
      L->failed = 1;
      pb_err_set(L->err, "%s: cannot read: %s", fl->path, strerror(errno ? errno : EIO));
    }
    return NULL;
  }
  fl->lineno++;
  char *line = fl->buf;
  size_t n = strlen(line); /* a NUL byte ends the line early; inih would do the same */
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
  int limit = PB_MIN(num - 3, pb_cfg_line_limit());
  if ((long)n > limit) {
    L->failed = 1;
    pb_err_set(L->err, "%s:%d: line is longer than %d characters (%zu); inih, the INI parser, would split it", fl->path,
               fl->lineno, limit, n);
    return NULL;
  }
  if (fl->lineno == 1 && !strncmp(line, "\xEF\xBB\xBF", 3)) line += 3; /* UTF-8 byte order mark */
  while (isspace((unsigned char)*line)) line++;

  if (*line == '[') {
    char *close = strchr(line, ']');
    if (!close) {
      cfg_syntax_error(fl, fl->lineno);
      return NULL;
    }
    char name[128];
    size_t len = (size_t)(close - line - 1);
    if (len >= sizeof name) len = sizeof name - 1;
    memcpy(name, line + 1, len);
    name[len] = '\0';
    char base[64], nm[64];
    int named = pb_cfg_split_named(name, base, sizeof base, nm, sizeof nm, L->err);
    if (named < 0) {
      cfg_fail(fl);
      return NULL;
    }
    if (named) { /* [model.f]: declared here, even when no key follows */
      char origin[PATH_MAX + 32];
      snprintf(origin, sizeof origin, "%s:%d", fl->path, fl->lineno);
      if (!pb_cfg_named_get(L->c, base, nm, origin, L->err)) {
        cfg_fail(fl);
        return NULL;
      }
    } else if (!pb_cfg_section_known(name)) {
      pb_cfg_err_unknown_section(L->err, name);
      cfg_fail(fl);
      return NULL;
    }
  } else if (*line && *line != ';' && *line != '#' && !strpbrk(line, "=:")) {
    cfg_syntax_error(fl, fl->lineno);
    return NULL;
  }
  size_t len = strlen(line);
  memcpy(str, line, len);
  str[len] = '\n';
  str[len + 1] = '\0';
  return str;
}

static int cfg_load_file(cfg_load *L, const char *path, cfg_file *parent, const char *inc_section,
                         const char *inc_value);

/* Drops an inline '#' comment (inih drops only ';' ones) and the spaces before it. */
static void cfg_strip_hash_comment(char *v) {
  for (char *p = v; *p; p++)
    if (*p == '#' && p > v && isspace((unsigned char)p[-1])) {
      *p = '\0';
      break;
    }
  size_t n = strlen(v);
  while (n && isspace((unsigned char)v[n - 1])) v[--n] = '\0';
}

static int cfg_include(cfg_file *fl, const char *section, const char *value) {
  cfg_load *L = fl->load;
  if (!*value) {
    pb_err_set(L->err, "%s%s%sinclude is empty; expected a file name", *section ? "[" : "", section,
               *section ? "] " : "");
    return cfg_fail(fl);
  }
  /* Relative to the including file's folder. */
  const char *slash = strrchr(fl->path, '/');
  size_t dir = value[0] == '/' || !slash ? 0 : (size_t)(slash - fl->path) + 1;
  char *path = pb_xmalloc(dir + strlen(value) + 1);
  memcpy(path, fl->path, dir);
  strcpy(path + dir, value);
  int rc = cfg_load_file(L, path, fl, section, value);
  free(path);
  return rc;
}

static int cfg_handler(void *user, const char *section, const char *name, const char *value) {
  cfg_file *fl = user;
  cfg_load *L = fl->load;
  if (L->failed) return 0;
  char *v = pb_xstrdup(value ? value : "");
  cfg_strip_hash_comment(v);
  int rc = PB_OK;
  if (!strcmp(name, "include")) {
    rc = cfg_include(fl, section, v);
  } else if (!*section) {
    /* Only include may come before the first [section]. */
    int other = -1;
    for (int i = 0; i < pb_cfg_nkeys && other < 0; i++)
      if (!strcmp(pb_cfg_keys[i].key, name)) other = i;
    if (other >= 0)
      pb_err_set(L->err, "key '%s' is outside any section; it belongs under [%s]", name, pb_cfg_keys[other].section);
    else
      pb_err_set(L->err, "key '%s' is outside any section (only 'include' may come before the first [section])", name);
    rc = cfg_fail(fl);
  } else if (!pb_cfg_section_known(section)) { /* the reader checks headers; kept for safety */
    pb_cfg_err_unknown_section(L->err, section);
    rc = cfg_fail(fl);
  } else {
    char base[64], nm[64];
    int named = pb_cfg_split_named(section, base, sizeof base, nm, sizeof nm, NULL) == 1;
    int idx = pb_cfg_find(named ? base : section, name);
    char origin[PATH_MAX + 32];
    snprintf(origin, sizeof origin, "%s:%d", fl->path, fl->lineno);
    pb_cfg_named *ns = named ? pb_cfg_named_get(L->c, base, nm, origin, L->err) : NULL;
    if (idx < 0) {
      pb_cfg_err_unknown_key(L->err, section, name);
      rc = cfg_fail(fl);
    } else if (named && !ns) {
      rc = cfg_fail(fl);
    } else if (ns ? pb_cfg_assign_val(&ns->v[idx], idx, v, origin, L->err)
                  : pb_cfg_assign(L->c, idx, v, origin, L->err)) {
      rc = cfg_fail(fl);
    }
  }
  free(v);
  return rc == PB_OK;
}

/* Reads one file. parent is the including file (NULL for the top one), where an include's
 * errors are reported, with inc_section/inc_value as written there. */
static int cfg_load_file(cfg_load *L, const char *path, cfg_file *parent, const char *inc_section,
                         const char *inc_value) {
  char where[PATH_MAX + 256] = "";
  if (parent)
    snprintf(where, sizeof where, "%s:%d: %s%s%sinclude = %s: ", parent->path, parent->lineno, *inc_section ? "[" : "",
             inc_section, *inc_section ? "] " : "", inc_value);
  if (parent && parent->depth + 1 >= CFG_MAX_DEPTH) {
    L->failed = 1;
    return pb_err_set(L->err, "%sincludes nest deeper than %d files", where, CFG_MAX_DEPTH);
  }
  FILE *f = fopen(path, "r");
  if (!f) {
    L->failed = 1;
    if (parent) return pb_err_set(L->err, "%scannot open %s: %s", where, path, strerror(errno));
    return pb_err_set(L->err, "cannot open config file %s: %s", path, strerror(errno));
  }
  char *real = realpath(path, NULL);
  if (!real) real = pb_xstrdup(path);
  for (cfg_file *p = parent; p; p = p->parent) {
    if (strcmp(p->real, real)) continue;
    /* The chain, from the top file down to the one that closes the cycle. */
    const cfg_file *chain[CFG_MAX_DEPTH];
    int n = 0;
    for (cfg_file *q = parent; q && n < CFG_MAX_DEPTH; q = q->parent) chain[n++] = q;
    char list[768] = "";
    size_t len = 0;
    for (int i = n - 1; i >= 0; i--)
      len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0, "%s -> ", chain[i]->path);
    snprintf(list + PB_MIN(len, sizeof list - 1), len < sizeof list ? sizeof list - len : 0, "%s", path);
    fclose(f);
    free(real);
    L->failed = 1;
    return pb_err_set(L->err, "%sinclude cycle: %s", where, list);
  }
  cfg_file fl = {
      .load = L, .parent = parent, .path = path, .real = real, .f = f, .depth = parent ? parent->depth + 1 : 0};
  int ret = ini_parse_stream(cfg_read_line, &fl, cfg_handler, &fl);
  if (ret == -2) PB_FATAL("inih: out of memory reading %s", path);
  if (ret > 0 && !L->failed) cfg_syntax_error(&fl, ret); /* a line inih refused that the reader let by */
  fclose(f);
  free(fl.buf);
  free(real);
  return L->failed ? PB_ERR : PB_OK;
}

int pb_config_load(pb_config *c, const char *path, pb_err *err) {
  PB_ASSERT(c && path);
  pb_err scratch = {{0}};
  cfg_load L = {.c = c, .err = err ? err : &scratch, .failed = 0};
  return cfg_load_file(&L, path, NULL, "", "");
}
