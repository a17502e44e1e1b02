/* loop.h: a training run from start to end: the run folder (lock, leftovers, resolved config,
 * log), resuming from a checkpoint, the epoch loop with its log points, evaluation after each
 * epoch, reports, checkpoints (with the training state in their metadata) and the clean stop
 * on a signal (stop.h). `plumb train` is this behind the command line. */
#ifndef PB_LOOP_H
#define PB_LOOP_H

#include "engine/config/config.h"

/* Trains cfg; resume: a checkpoint's model file to continue from (NULL: the run folder's
 * newest when [run] resume, else a fresh run). Returns 0 when the run is complete (or
 * reached [train] max_steps), PB_EXIT_STOPPED (stop.h) after a signal with the checkpoint
 * saved, PB_ERR with err set on bad input or a failed write (nothing already written is
 * lost). Logs to stdout and the run's log.txt. */
int pb_train_run(pb_config *cfg, const char *resume, pb_err *err);

#endif
