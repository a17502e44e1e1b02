/* common.c: argument parsing and config loading shared by the subcommands (cli.h). */
#include <stdio.h>
#include <string.h>

#include "engine/cli/cli.h"

static int allowed_opt(const char *allowed, const char *name) {
  size_t n = strlen(name);
  for (const char *p = allowed; p && *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && !strncmp(p, name, n)) return 1;
    p = e ? e + 1 : NULL;
  }
  return 0;
}

int pb_cli_parse(int argc, char **argv, int first, const char *allowed, pb_cli_opts *o) {
  memset(o, 0, sizeof *o);
  for (int i = first; i < argc; i++) {
    const char *a = argv[i];
    if (!strncmp(a, "--", 2)) {
      const char *name = a + 2, *val = NULL;
      char buf[64];
      const char *eq = strchr(name, '=');
      if (eq) {
        snprintf(buf, sizeof buf, "%.*s", (int)(eq - name), name);
        name = buf;
        val = eq + 1;
      } else if (i + 1 < argc) {
        val = argv[++i];
      }
      int known = !strcmp(name, "set") || allowed_opt(allowed, name);
      if (!known) {
        fprintf(stderr, "plumb %s: unknown option '%s'\n", argv[1], a);
        return PB_ERR;
      }
      if (!val) {
        fprintf(stderr, "plumb %s: option --%s needs a value\n", argv[1], name);
        return PB_ERR;
      }
      if (!strcmp(name, "set")) {
        if (o->nset == (int)(sizeof o->set / sizeof o->set[0])) {
          fprintf(stderr, "plumb %s: too many --set options\n", argv[1]);
          return PB_ERR;
        }
        o->set[o->nset++] = val;
      } else if (!strcmp(name, "checkpoint")) {
        o->checkpoint = val;
      } else if (!strcmp(name, "resume")) {
        o->resume = val;
      } else if (!strcmp(name, "model")) {
        o->model = val;
      }
    } else if (!o->config) {
      o->config = a;
    } else {
      fprintf(stderr, "plumb %s: unexpected argument '%s' (one CONFIG only)\n", argv[1], a);
      return PB_ERR;
    }
  }
  return PB_OK;
}

pb_config *pb_cli_config(const pb_cli_opts *o) {
  pb_config *c = pb_config_new();
  pb_err err = {{0}};
  if (o->config && pb_config_load(c, o->config, &err)) {
    fprintf(stderr, "plumb: config error: %s\n", err.msg);
    pb_config_free(c);
    return NULL;
  }
  for (int i = 0; i < o->nset; i++) {
    if (pb_config_set(c, o->set[i], &err)) {
      fprintf(stderr, "plumb: config error: %s\n", err.msg);
      pb_config_free(c);
      return NULL;
    }
  }
  return c;
}
