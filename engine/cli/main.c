/* main.c: the plumb command line: dispatch to the subcommands. */
#include <stdio.h>
#include <string.h>

#include "engine/cli/cli.h"

static void usage(FILE *out) {
  fprintf(out,
          "plumb %s: training and inference for computer-vision bias research\n"
          "\n"
          "usage:\n"
          "  plumb train CONFIG [--set section.key=value]... [--resume CHECKPOINT]\n"
          "  plumb eval CONFIG --checkpoint CHECKPOINT [--set section.key=value]...\n"
          "  plumb info                 the build, libraries and GPUs\n"
          "  plumb config [CONFIG] [--set ...]\n"
          "                             without CONFIG: every config key with its type, bounds,\n"
          "                             default and meaning; with CONFIG: the resolved config\n"
          "  plumb bench --model NAME [--batch N] [--set ...]\n"
          "                             training / inference throughput on synthetic data\n"
          "  plumb bench --loader CONFIG [--set ...]\n"
          "                             decode + augment throughput per worker count\n"
          "  plumb help\n",
          PLUMB_VERSION);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "train")) return pb_cmd_train(argc, argv);
  if (!strcmp(cmd, "eval")) return pb_cmd_eval(argc, argv);
  if (!strcmp(cmd, "info")) return pb_cmd_info(argc, argv);
  if (!strcmp(cmd, "config")) return pb_cmd_config(argc, argv);
  if (!strcmp(cmd, "bench")) return pb_cmd_bench(argc, argv);
  if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version")) {
    printf("plumb %s\n", PLUMB_VERSION);
    return 0;
  }
  fprintf(stderr, "plumb: unknown command '%s'\n\n", cmd);
  usage(stderr);
  return 2;
}
