/* cli.h: the plumb subcommands and what they share (argument parsing, config loading). */
#ifndef PB_CLI_H
#define PB_CLI_H

#include "engine/config.h"

/* Options common to the subcommands that take a config. */
typedef struct pb_cli_opts {
  const char *config;     /* CONFIG (positional) */
  const char *checkpoint; /* --checkpoint FILE (eval) */
  const char *resume;     /* --resume FILE (train) */
  const char *model;      /* --model NAME (info) */
  int nset;
  const char *set[256];   /* --set section.key=value */
} pb_cli_opts;

/* Parses argv[first..argc) into o. allowed: which of "checkpoint", "resume", "model" the
 * subcommand accepts (a comma-separated list). Prints a clear message and returns PB_ERR on an
 * unknown option or a missing value. */
int pb_cli_parse(int argc, char **argv, int first, const char *allowed, pb_cli_opts *o);
/* Loads o->config and applies --set; prints the error and returns NULL on failure. */
pb_config *pb_cli_config(const pb_cli_opts *o);

/* A config for `--model NAME`: [model] arch = NAME (num_classes 1000 for the ImageNet
 * families, as torchvision), then --set; prints the error and returns NULL on failure. */
pb_config *pb_cli_model_config(const pb_cli_opts *o);

int pb_cmd_train(int argc, char **argv);
int pb_cmd_eval(int argc, char **argv);
int pb_cmd_info(int argc, char **argv);
int pb_cmd_config(int argc, char **argv);
int pb_cmd_bench(int argc, char **argv);
/* plumb bench --model (bench_model.c) and --loader (bench_loader.c). */
int pb_cmd_bench_model(int argc, char **argv);
int pb_cmd_bench_loader(int argc, char **argv);

#endif
