/* cmd_sweep.c: `plumb sweep SPEC --out DIR [--force] [--set section.key=value]...`: a sweep
 * spec (engine/sweep/sweep.h) expanded into DIR/configs/trial-NNNN.ini and DIR/manifest.csv. */
#include <stdio.h>
#include <string.h>

#include "engine/cli/cli.h"
#include "engine/sweep/sweep.h"

int pb_cmd_sweep(const pb_cli_opts *o, pb_config *cfg) {
  (void)cfg;
  if (o->nargs != 1) {
    fprintf(stderr, "usage: plumb sweep SPEC.ini --out DIR [--force] [--set section.key=value]...\n");
    return 2;
  }
  const char *out = pb_cli_opt(o, "out");
  pb_err err = {{0}};
  pb_sweep_spec s;
  pb_sweep_plan p;
  memset(&p, 0, sizeof p);
  int rc = pb_sweep_spec_load(&s, o->args[0], &err);
  /* --set may not name a varied key: the trial's value would silently win. */
  for (int i = 0; rc == PB_OK && i < o->nset; i++)
    for (int k = 0; k < s.nkeys; k++) {
      size_t n = strlen(s.keys[k].name);
      const char *a = o->set[i];
      while (*a == ' ') a++;
      if (!strncmp(a, s.keys[k].name, n) && (a[n] == '=' || a[n] == ' ')) {
        rc = pb_err_set(&err, "--set %s: %s is varied by the spec (%s)", o->set[i], s.keys[k].name, s.keys[k].origin);
        break;
      }
    }
  if (rc == PB_OK) rc = pb_sweep_expand(&s, &p, &err);
  if (rc == PB_OK) rc = pb_sweep_write(&s, &p, out, o->set, o->nset, pb_cli_opt(o, "force") != NULL, &err);
  if (rc == PB_OK) {
    static const char *const modes[] = {"grid", "zip", "random"};
    printf("plumb sweep: %ld trials (%s", p.ntrials, modes[s.mode]);
    for (int k = 0; k < p.nkeys; k++) printf("%s%s", k ? " x " : ": ", p.keys[k]);
    printf(") -> %s/manifest.csv, %s/configs/trial-*.ini\n", out, out);
    printf("run them with:  for c in %s/configs/trial-*.ini; do plumb train \"$c\"; done\n", out);
    printf("then:           plumb collect %s --out results.csv\n", out);
  } else {
    fprintf(stderr, "plumb sweep: error: %s\n", err.msg);
  }
  pb_sweep_plan_free(&p);
  pb_sweep_spec_free(&s);
  return rc == PB_OK ? 0 : 1;
}
