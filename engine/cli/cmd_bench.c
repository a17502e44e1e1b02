/* cmd_bench.c: `plumb bench`: dispatches to the model benchmark (bench_model.c: training and
 * inference throughput and peak device memory on synthetic data), the config benchmark
 * (bench_config.c: a config's training step, any method, on synthetic data), the loader
 * benchmark (bench_loader.c: decode + augment images/s per worker count), the op benchmark
 * (bench_op.c: one op alone, ms per call) or the verification metrics benchmark
 * (bench_verification.c: TPR@FPR / AUC / EER over 1e8 pairs). */
#include <stdio.h>
#include <string.h>

#include "engine/cli/cli.h"

int pb_cmd_bench(const pb_cli_opts *o, pb_config *unused) {
  (void)unused;
  if (pb_cli_opt(o, "model")) return pb_cmd_bench_model(o);
  if (pb_cli_opt(o, "loader")) return pb_cmd_bench_loader(o);
  if (pb_cli_opt(o, "config")) return pb_cmd_bench_config(o);
  if (pb_cli_opt(o, "op")) return pb_cmd_bench_op(o);
  if (pb_cli_opt(o, "verification")) return pb_cmd_bench_verification(o);
  fprintf(stderr,
          "plumb bench: say what to measure:\n"
          "  plumb bench --model NAME [--batch N] [--set section.key=value]...\n"
          "  plumb bench --loader CONFIG [--set section.key=value]...\n"
          "  plumb bench --config CONFIG [--batch N] [--steps S] [--warmup W] [--set section.key=value]...\n"
          "  plumb bench --op lstm [--seq T] [--batch N] [--input D] [--hidden H] [--layers L] [--bidirectional 0|1]\n"
          "              [--dropout P] [--steps S] [--warmup W] [--set run.KEY=VALUE]...\n"
          "  plumb bench --op triplet [--batch N] [--P P] [--K K] [--dim D] [--mode hard|all] [--soft 0|1]\n"
          "              [--squared 0|1] [--margin M] [--reduction all|nonzero] [--emb FILE.npy] [--steps S]\n"
          "              [--warmup W] [--repeat R] [--set run.KEY=VALUE]...\n"
          "  plumb bench --verification PROBESxGALLERY|N [--dim D] [--threads T] [--repeat R]\n");
  return 2;
}
