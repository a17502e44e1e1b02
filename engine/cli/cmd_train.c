/* cmd_train.c: `plumb train CONFIG [--resume CHECKPOINT]`: the training run of
 * engine/run/loop.h behind the command line: its error goes to stderr and the run's log,
 * its result becomes the exit status (0, 1, or 75 after a stop on a signal; with [run] requeue a
 * slurm job stopped by SIGUSR1 requeues itself first, engine/run/requeue.h). */
#include "engine/cli/cli.h"
#include "engine/run/log.h"
#include "engine/run/loop.h"
#include "engine/run/requeue.h"
#include "engine/run/stop.h"

int pb_cmd_train(const pb_cli_opts *o, pb_config *cfg) {
  pb_err err = {{0}};
  int rc = pb_train_run(cfg, pb_cli_opt(o, "resume"), &err);
  if (rc == PB_ERR) pb_log_err("plumb train: error: %s", err.msg);
  if (rc == PB_EXIT_STOPPED) pb_run_requeue(cfg, pb_stop_signal());
  pb_log_close();
  return rc == PB_ERR ? 1 : rc;
}
