/* bench_model.c: `plumb bench --model NAME` (issue 4; not written yet). */
#include <stdio.h>

#include "engine/cli/cli.h"

int pb_cmd_bench_model(int argc, char **argv) {
  (void)argc, (void)argv;
  fprintf(stderr, "plumb bench --model: not available in this build yet\n");
  return 2;
}
