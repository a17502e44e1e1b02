/* launch.h: `plumb train CONFIG --nproc N`: N local ranks through Open MPI's mpirun. */
#ifndef PB_LAUNCH_H
#define PB_LAUNCH_H

#include "engine/cli/cli.h"

/* Replaces this process by `mpirun -np N --bind-to none [--oversubscribe] [--allow-run-as-root]
 * PLUMB train CONFIG [--set ...] [--resume ...]`; returns only on an error (exit status 2 for a
 * bad N, 1 when mpirun cannot run), after a message. */
int pb_launch_nproc(const char *nproc, const pb_cli_opts *o);

#endif
