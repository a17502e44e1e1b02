/* cmd_eval.c: `plumb eval CONFIG --checkpoint FILE`: test loss, accuracy and bias figures. */
#include <stdio.h>

#include "engine/checkpoint.h"
#include "engine/cli/cli.h"
#include "engine/cli/run.h"

int pb_cmd_eval(int argc, char **argv) {
  pb_cli_opts o;
  if (pb_cli_parse(argc, argv, 2, "checkpoint", &o)) return 2;
  if (!o.config || !o.checkpoint) {
    fprintf(stderr, "usage: plumb eval CONFIG --checkpoint CHECKPOINT.safetensors [--set section.key=value]...\n");
    return 2;
  }
  pb_config *cfg = pb_cli_config(&o);
  if (!cfg) return 2;
  pb_err err = {{0}};
  pb_run r;
  if (pb_run_init_infer(&r, cfg, &err)) {
    fprintf(stderr, "plumb eval: error: %s\n", err.msg);
    pb_config_free(cfg);
    return 1;
  }
  int rc = 1;
  if (pb_ckpt_load_model(o.checkpoint, r.model, &err)) {
    fprintf(stderr, "plumb eval: error: %s\n", err.msg);
    goto out;
  }
  /* The inference plan: no gradients, nothing saved for backward (one line, for the log). */
  pb_model_print_memory(r.model, stdout);
  if (r.nheads) {
    pb_heads_eval he = {0};
    if (pb_run_evaluate_heads(&r, &r.test, &he, &err)) {
      pb_heads_eval_free(&he);
      fprintf(stderr, "plumb eval: error: %s\n", err.msg);
      goto out;
    }
    char part[2048];
    pb_heads_eval_str(&r, &he, "test_", part, sizeof part);
    printf("checkpoint %s: %d test images\n", o.checkpoint, r.test.n);
    printf("%s\n", part + 1);
    for (int h = 0; h < he.nheads; h++) { /* per-class accuracy behind each disparity */
      const pb_class_counts *c = &he.h[h];
      printf("  %s per-class accuracy (labelled %ld):", r.model->heads[h].name, c->n);
      for (int j = 0; j < c->k; j++)
        if (c->per_n[j])
          printf(" %.3f", pb_ratio(c->per_correct[j], c->per_n[j]));
        else
          printf(" -");
      printf("\n");
    }
    pb_heads_eval_free(&he);
    rc = 0;
    goto out;
  }
  pb_cls_counts c;
  if (pb_run_evaluate(&r, &r.test, &c, &err)) {
    fprintf(stderr, "plumb eval: error: %s\n", err.msg);
    goto out;
  }
  printf("checkpoint %s: %ld test images\n", o.checkpoint, c.n);
  printf("test_loss=%.4f test_acc=%.4f", c.loss_sum / (double)(c.n ? c.n : 1), pb_ratio(c.correct, c.n));
  if (c.n_aligned + c.n_conflicting > 0)
    printf(" test_aligned_acc=%.4f test_conflicting_acc=%.4f (aligned %ld, conflicting %ld)",
           pb_ratio(c.correct_aligned, c.n_aligned), pb_ratio(c.correct_conflicting, c.n_conflicting), c.n_aligned,
           c.n_conflicting);
  printf("\n");
  rc = 0;
out:
  pb_run_free(&r);
  pb_config_free(cfg);
  return rc;
}
