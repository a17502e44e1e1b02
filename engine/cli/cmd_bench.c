/* cmd_bench.c: `plumb bench`: dispatches to the model benchmark (bench_model.c: training and
 * inference throughput and peak device memory on synthetic data), the config benchmark
 * (bench_config.c: a config's training step, any method, on synthetic data) or the loader
 * benchmark (bench_loader.c: decode + augment images/s per worker count) or the verification
 * metrics benchmark (bench_verification.c: TPR@FPR / AUC / EER over 1e8 pairs). */
#include <stdio.h>
#include <string.h>

#include "engine/cli/cli.h"

int pb_cmd_bench(const pb_cli_opts *o, pb_config *unused) {
  (void)unused;
  if (pb_cli_opt(o, "model")) return pb_cmd_bench_model(o);
  if (pb_cli_opt(o, "loader")) return pb_cmd_bench_loader(o);
  if (pb_cli_opt(o, "config")) return pb_cmd_bench_config(o);
  if (pb_cli_opt(o, "verification")) return pb_cmd_bench_verification(o);
  fprintf(stderr,
          "plumb bench: say what to measure:\n"
          "  plumb bench --model NAME [--batch N] [--set section.key=value]...\n"
          "  plumb bench --loader CONFIG [--set section.key=value]...\n"
          "  plumb bench --config CONFIG [--batch N] [--steps S] [--warmup W] [--set section.key=value]...\n"
          "  plumb bench --verification PROBESxGALLERY|N [--dim D] [--threads T] [--repeat R]\n");
  return 2;
}
