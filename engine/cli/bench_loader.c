/* bench_loader.c: `plumb bench --loader CONFIG` (issue 5; not written yet). */
#include <stdio.h>

#include "engine/cli/cli.h"

int pb_cmd_bench_loader(int argc, char **argv) {
  (void)argc, (void)argv;
  fprintf(stderr, "plumb bench --loader: not available in this build yet\n");
  return 2;
}
