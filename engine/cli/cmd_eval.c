/* cmd_eval.c: `plumb eval CONFIG --checkpoint FILE`: test loss, accuracy and bias figures
 * (per head and per class for multi-head models). */
#include <stdio.h>
#include <string.h>

#include "engine/trainers/checkpoint.h"
#include "engine/cli/cli.h"
#include "engine/run/evaluate.h"
#include "engine/run/report.h"
#include "engine/run/state.h"

int pb_cmd_eval(const pb_cli_opts *o, pb_config *cfg) {
  const char *ck = pb_cli_opt(o, "checkpoint");
  if (!ck) {
    fprintf(stderr, "usage: plumb eval CONFIG --checkpoint CHECKPOINT.safetensors [--set section.key=value]...\n");
    return 2;
  }
  pb_err err = {{0}};
  pb_run r;
  if (pb_run_init_infer(&r, cfg, &err)) {
    fprintf(stderr, "plumb eval: error: %s\n", err.msg);
    return 1;
  }
  int rc = 1;
  pb_eval e = {0};
  if (pb_run_load_models(&r, ck, &err)) goto out;
  /* The inference plan: no gradients, nothing saved for backward (one line, for the log). */
  pb_model_print_memory(r.model, stdout);
  /* --model NAME: that model's figures only (the others' terms are left out of the report) */
  pb_terms terms = r.tr->terms;
  const char *only = pb_cli_opt(o, "model");
  if (only) {
    int found = 0;
    for (int t = 0; t < terms.n; t++) {
      if (terms.term[t].classes && !strcmp(terms.term[t].name, only)) found = 1;
      else terms.term[t].classes = 0;
    }
    if (!found) {
      pb_err_set(&err, "--model %s: the config has no model of that name ([model.NAME] sections)", only);
      goto out;
    }
  }
  for (int k = 0; k < r.ntests; k++) {
    if (pb_run_evaluate(&r, &r.tests[k], &e, &err)) goto out;
    char part[4096], pre[32];
    snprintf(pre, sizeof pre, "%s_", r.tests[k].name);
    pb_report_eval_str(&terms, &e, pre, 1, part, sizeof part);
    printf("checkpoint %s: %ld %s images\n", ck, e.n, r.tests[k].name);
    printf("%s\n", part + 1);
    pb_report_per_class(&terms, &e, stdout);
    pb_eval_free(&e);
  }
  rc = 0;
out:
  if (rc) fprintf(stderr, "plumb eval: error: %s\n", err.msg);
  pb_eval_free(&e);
  pb_run_free(&r);
  return rc;
}
