/* requeue.h: [run] requeue: a slurm job that `plumb train` stopped on SIGUSR1 (sbatch
 * --signal=B:USR1@T, the warning before the time limit or a preemption) puts itself back in
 * the queue, so that the same command runs again later and resumes from the run folder. */
#ifndef PB_REQUEUE_H
#define PB_REQUEUE_H

#include "engine/config/config.h"

/* Called once the run has stopped on signal sig with its checkpoint saved. When sig is SIGUSR1,
 * [run] requeue is true and SLURM_JOB_ID is set, runs `scontrol requeue $SLURM_JOB_ID` (scontrol
 * from PATH, no shell; an array task's SLURM_JOB_ID is the task's own job id) and logs what it
 * did; otherwise does nothing. Never fails the run: a failed scontrol is logged as an error
 * naming the command and its exit status (the checkpoint is saved either way). The stop
 * signals are ignored from here on: slurm ends the requeued job with SIGTERM, which must not
 * cut the process short now that all is saved. Returns 1 when the job was requeued, else 0. */
int pb_run_requeue(const pb_config *cfg, int sig);

#endif
