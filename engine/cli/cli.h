/* cli.h: the plumb command line: the command table every subcommand is registered in, and
 * the preamble they share (argument parsing, config loading, the exit codes). The work itself
 * lives below the CLI (engine/run/ for training and evaluation). */
#ifndef PB_CLI_H
#define PB_CLI_H

#include "engine/config/config.h"

#define PB_CLI_MAX_OPTS 16

/* Parsed arguments of a subcommand. */
typedef struct pb_cli_opts {
  const char *command;    /* argv[1] */
  const char *config;     /* CONFIG (positional) */
  int nopt;
  const char *opt_name[PB_CLI_MAX_OPTS], *opt_value[PB_CLI_MAX_OPTS]; /* --NAME VALUE */
  int nset;
  const char *set[256];   /* --set section.key=value */
  int nargs;
  const char *args[256];  /* PB_CLI_ARGS: the positional arguments, in order */
} pb_cli_opts;

/* The value of --name, or NULL when it was not given. */
const char *pb_cli_opt(const pb_cli_opts *o, const char *name);

/* PB_CLI_ARGS: positional arguments that are not a config (plumb sweep SPEC, plumb collect
 * DIR...), collected in args; the command checks their number. */
enum { PB_CLI_NO_CONFIG, PB_CLI_CONFIG, PB_CLI_OPTIONAL_CONFIG, PB_CLI_ARGS };

typedef struct pb_command {
  const char *name;
  const char *usage;   /* the arguments after "plumb NAME", for the usage message */
  const char *help;    /* one line */
  const char *options; /* the --options it takes besides --set (each with a value), comma-separated */
  const char *required; /* those of them it cannot run without (comma-separated; "" = none) */
  const char *flags;   /* options that take no value (comma-separated; given = "1") */
  int config;          /* PB_CLI_*: whether a positional CONFIG is required, optional or refused */
  int signals;         /* install the stop handlers (stop.h) before anything else */
  /* cfg: CONFIG loaded with --set applied (NULL when no CONFIG was given). Returns the exit
   * status. The preamble frees cfg. */
  int (*run)(const pb_cli_opts *o, pb_config *cfg);
} pb_command;

/* Parses argv[2..argc) for command c into o. Prints a clear message and returns PB_ERR on an
 * unknown option, a missing value or a stray argument. */
int pb_cli_parse(const pb_command *c, int argc, char **argv, pb_cli_opts *o);
/* Loads o->config and applies --set; prints the error and returns NULL on failure. */
pb_config *pb_cli_config(const pb_cli_opts *o);
/* Parses, loads the config and runs c: the preamble every subcommand shares. */
int pb_cli_main(const pb_command *c, int argc, char **argv);

/* A config for `--model NAME`: [model] arch = NAME (num_classes 1000 for the ImageNet
 * families, as torchvision), then --set; prints the error and returns NULL on failure. */
pb_config *pb_cli_model_config(const pb_cli_opts *o);

int pb_cmd_train(const pb_cli_opts *o, pb_config *cfg);
int pb_cmd_eval(const pb_cli_opts *o, pb_config *cfg);
int pb_cmd_embed(const pb_cli_opts *o, pb_config *cfg);
int pb_cmd_predict(const pb_cli_opts *o, pb_config *cfg);
int pb_cmd_verify(const pb_cli_opts *o, pb_config *cfg);
int pb_cmd_info(const pb_cli_opts *o, pb_config *cfg);
int pb_cmd_config(const pb_cli_opts *o, pb_config *cfg);
int pb_cmd_bench(const pb_cli_opts *o, pb_config *cfg);
int pb_cmd_sweep(const pb_cli_opts *o, pb_config *cfg);
int pb_cmd_collect(const pb_cli_opts *o, pb_config *cfg);
int pb_cmd_halve(const pb_cli_opts *o, pb_config *cfg);
/* plumb bench --model (bench_model.c), --loader (bench_loader.c), --config
 * (bench_config.c), --op (bench_op.c) and --verification (bench_verification.c). */
int pb_cmd_bench_model(const pb_cli_opts *o);
int pb_cmd_bench_loader(const pb_cli_opts *o);
int pb_cmd_bench_config(const pb_cli_opts *o);
int pb_cmd_bench_op(const pb_cli_opts *o);
int pb_cmd_bench_verification(const pb_cli_opts *o);
/* The benchmarks' memory lines after a run (bench_model.c): on a GPU plumb's peak device
 * allocations and cudaMemGetInfo's use of the device; on the CPU the process's peak RSS. */
struct pb_ctx;
void pb_cli_bench_memory(const struct pb_ctx *c);
/* An integer option --name >= lo (and <= 1000000), or def when absent; -1 after a message on
 * stderr when malformed (bench_op.c). */
long pb_cli_opt_long(const pb_cli_opts *o, const char *name, long def, long lo);
/* plumb bench --op triplet (bench_triplet.c) on context c, after bench_op.c made it from --set:
 * the exit status. */
int pb_cli_bench_triplet(const pb_cli_opts *o, struct pb_ctx *c, int steps, int warmup);

#endif
