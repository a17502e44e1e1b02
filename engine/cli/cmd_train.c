/* cmd_train.c: `plumb train CONFIG [--resume CHECKPOINT] [--nproc N]`: the training run of
 * engine/run/loop.h behind the command line: its error goes to stderr and the run's log,
 * its result becomes the exit status (0, 1, or 75 after a stop on a signal; with [run] requeue a
 * slurm job stopped by SIGUSR1 requeues itself first, engine/run/requeue.h).
 *
 * Data-parallel: launched as several ranks (mpirun, srun; engine/dist/dist.h), or --nproc N,
 * which runs `mpirun -np N` over this same command (engine/dist/launch.c). A rank that fails
 * stops every rank (the others would wait for it). */
#include <stdlib.h>

#include "engine/cli/cli.h"
#include "engine/dist/dist.h"
#include "engine/dist/launch.h"
#include "engine/run/log.h"
#include "engine/run/loop.h"
#include "engine/run/requeue.h"
#include "engine/run/stop.h"

int pb_cmd_train(const pb_cli_opts *o, pb_config *cfg) {
  pb_err err = {{0}};
  const char *np = pb_cli_opt(o, "nproc");
  if (np) return pb_launch_nproc(np, o);
  if (pb_dist_init(&err)) {
    pb_log_err("plumb train: error: %s", err.msg);
    return 1;
  }
  pb_dist *w = pb_dist_world();
  pb_log_set_rank(w->rank);
  int rc = pb_train_run(cfg, pb_cli_opt(o, "resume"), &err);
  if (rc == PB_ERR) {
    pb_log_err("plumb train: error: %s", err.msg);
    if (w->size > 1) {
      pb_log_close();
      pb_dist_abort(1);
    }
  }
  if (rc == PB_EXIT_STOPPED && w->rank == 0) pb_run_requeue(cfg, pb_stop_signal());
  pb_log_close();
  pb_dist_finalize();
  return rc == PB_ERR ? 1 : rc;
}
