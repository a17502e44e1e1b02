/* cmd_collect.c: `plumb collect DIR... --out FILE.csv [--summary FILE.csv] [--metric COL,...]`:
 * the results of sweep folders or run folders in one CSV (engine/sweep/collect.h). */
#include <stdio.h>
#include <string.h>

#include "engine/cli/cli.h"
#include "engine/sweep/collect.h"

int pb_cmd_collect(const pb_cli_opts *o, pb_config *cfg) {
  (void)cfg;
  if (o->nargs < 1) {
    fprintf(stderr, "usage: plumb collect DIR... --out FILE.csv [--summary FILE.csv] [--metric COL[,COL...]]...\n");
    return 2;
  }
  /* --metric may repeat and hold comma-separated names. */
  static char buf[PB_CLI_MAX_OPTS][1024];
  const char *metrics[256];
  int nm = 0;
  for (int i = 0; i < o->nopt; i++) {
    if (strcmp(o->opt_name[i], "metric")) continue;
    snprintf(buf[i], sizeof buf[i], "%s", o->opt_value[i]);
    for (char *p = strtok(buf[i], ", "); p && nm < 256; p = strtok(NULL, ", ")) metrics[nm++] = p;
  }
  pb_collect_opts co = {.dirs = o->args,
                        .ndirs = o->nargs,
                        .out = pb_cli_opt(o, "out"),
                        .summary = pb_cli_opt(o, "summary"),
                        .metrics = metrics,
                        .nmetrics = nm};
  pb_err err = {{0}};
  if (pb_collect(&co, stdout, &err)) {
    fprintf(stderr, "plumb collect: error: %s\n", err.msg);
    return 1;
  }
  return 0;
}
