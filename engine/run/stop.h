/* stop.h: stopping `plumb train` cleanly on a signal.
 *
 * SIGINT (Ctrl-C), SIGTERM, SIGUSR1 (slurm's warning before the time limit, sbatch
 * --signal=USR1@T), SIGHUP and SIGUSR2 (what `plumb train --nproc` sends its ranks through
 * mpirun, which would end the job on the others) all ask for the same thing: a checkpoint at the next step
 * boundary, then exit with PB_EXIT_STOPPED. A signal that arrives while a checkpoint is being
 * written never interrupts it. A second signal at any other time ends the process at once by
 * that signal (the shell sees 128 + N), leaving the checkpoints already written intact. */
#ifndef PB_STOP_H
#define PB_STOP_H

#include <signal.h>

/* "Stopped on a signal, checkpoint saved: run the same command to resume" (EX_TEMPFAIL). */
#define PB_EXIT_STOPPED 75

/* Installs the handlers (idempotent). */
void pb_stop_install(void);
/* The first stop signal received, 0 while none. */
int pb_stop_signal(void);
/* The flag the handlers set, for loops that poll it (non-zero: stop). */
const volatile sig_atomic_t *pb_stop_flag(void);
/* Brackets a checkpoint write: between pb_stop_saving(1) and pb_stop_saving(0) a signal only
 * asks for a stop, never kills. */
void pb_stop_saving(int on);

#endif
