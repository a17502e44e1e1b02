/* cmd_bench.c: `plumb bench`: dispatches to the model benchmark (bench_model.c: training and
 * inference throughput and peak device memory on synthetic data) or the loader benchmark
 * (bench_loader.c: decode + augment images/s per worker count). */
#include <stdio.h>
#include <string.h>

#include "engine/cli/cli.h"

int pb_cmd_bench(int argc, char **argv) {
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--model")) return pb_cmd_bench_model(argc, argv);
    if (!strcmp(argv[i], "--loader")) return pb_cmd_bench_loader(argc, argv);
  }
  fprintf(stderr,
          "plumb bench: say what to measure:\n"
          "  plumb bench --model NAME [--batch N] [--set section.key=value]...\n"
          "  plumb bench --loader CONFIG [--set section.key=value]...\n");
  return 2;
}
