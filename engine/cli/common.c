/* common.c: the preamble the subcommands share (cli.h): argument parsing, config loading. */
#include <stdio.h>
#include <string.h>

#include "engine/cli/cli.h"
#include "engine/run/stop.h"

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

const char *pb_cli_opt(const pb_cli_opts *o, const char *name) {
  for (int i = o->nopt - 1; i >= 0; i--) /* the last one given wins */
    if (!strcmp(o->opt_name[i], name)) return o->opt_value[i];
  return NULL;
}

int pb_cli_parse(const pb_command *c, int argc, char **argv, pb_cli_opts *o) {
  memset(o, 0, sizeof *o);
  o->command = c->name;
  static char names[PB_CLI_MAX_OPTS][64];
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (!strncmp(a, "--", 2)) {
      const char *name = a + 2, *val = NULL;
      char buf[64];
      const char *eq = strchr(name, '=');
      if (eq) {
        snprintf(buf, sizeof buf, "%.*s", (int)(eq - name), name);
        name = buf;
        val = eq + 1;
      }
      int flag = allowed_opt(c->flags, name);
      if (flag && eq) {
        fprintf(stderr, "plumb %s: option --%s takes no value\n", c->name, name);
        return PB_ERR;
      }
      if (flag) {
        val = "1";
      } else if (strcmp(name, "set") && !allowed_opt(c->options, name)) {
        fprintf(stderr, "plumb %s: unknown option '%s'\n", c->name, a);
        return PB_ERR;
      } else if (!eq && i + 1 < argc) {
        val = argv[++i];
      }
      if (!val) {
        fprintf(stderr, "plumb %s: option --%s needs a value\n", c->name, name);
        return PB_ERR;
      }
      if (!strcmp(name, "set")) {
        if (o->nset == (int)(sizeof o->set / sizeof o->set[0])) {
          fprintf(stderr, "plumb %s: too many --set options\n", c->name);
          return PB_ERR;
        }
        o->set[o->nset++] = val;
      } else {
        if (o->nopt == PB_CLI_MAX_OPTS) {
          fprintf(stderr, "plumb %s: too many options\n", c->name);
          return PB_ERR;
        }
        snprintf(names[o->nopt], sizeof names[0], "%s", name);
        o->opt_name[o->nopt] = names[o->nopt];
        o->opt_value[o->nopt++] = val;
      }
    } else if (c->config == PB_CLI_ARGS) {
      if (o->nargs == (int)(sizeof o->args / sizeof o->args[0])) {
        fprintf(stderr, "plumb %s: too many arguments\n", c->name);
        return PB_ERR;
      }
      o->args[o->nargs++] = a;
    } else if (!o->config && c->config != PB_CLI_NO_CONFIG) {
      o->config = a;
    } else {
      fprintf(stderr, "plumb %s: unexpected argument '%s'%s\n", c->name, a,
              c->config != PB_CLI_NO_CONFIG ? " (one CONFIG only)" : "");
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

int pb_cli_main(const pb_command *c, int argc, char **argv) {
  pb_cli_opts o;
  if (pb_cli_parse(c, argc, argv, &o)) return 2;
  int missing = c->config == PB_CLI_CONFIG && !o.config;
  for (const char *p = c->required; p && *p && !missing;) { /* every required --option given */
    const char *e = strchr(p, ',');
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
    missing = !pb_cli_opt(&o, name);
    p = e ? e + 1 : NULL;
  }
  if (missing) {
    fprintf(stderr, "usage: plumb %s %s\n", c->name, c->usage);
    return 2;
  }
  /* From here a stop signal only asks for a stop: one during start-up ends the run at its
   * first step boundary, with a checkpoint. */
  if (c->signals) pb_stop_install();
  pb_config *cfg = NULL;
  if (o.config && !(cfg = pb_cli_config(&o))) return 2;
  int rc = c->run(&o, cfg);
  pb_config_free(cfg);
  return rc;
}
