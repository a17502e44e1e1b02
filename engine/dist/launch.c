/* launch.c: plumb train --nproc N (launch.h). mpirun starts the ranks and exits with the first
 * non-zero status of a rank; the ranks find each other through it (engine/dist/dist.c).
 * --bind-to none leaves each rank's OpenMP threads free (mpirun binds one rank to one core by
 * default); --oversubscribe allows more ranks than cores; root (a container, CI) needs
 * --allow-run-as-root.
 *
 * This process stays as mpirun's parent, with mpirun in a process group of its own: mpirun ends
 * the whole job (status 1) on SIGINT or SIGTERM, but forwards SIGUSR1 and SIGUSR2 to every rank.
 * So a first Ctrl-C, SIGTERM or SIGHUP here becomes SIGUSR2 to the ranks (each checkpoints at the
 * same step and exits 75, and so does mpirun, and so does this), SIGUSR1 goes on as SIGUSR1, and
 * a second stop signal is SIGTERM to mpirun (the job ends now). */
#define _GNU_SOURCE
#include "engine/dist/launch.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t child_pid, stops;

static void forward(int sig) {
  if (child_pid <= 0) return;
  if (sig == SIGUSR1) {
    kill(child_pid, SIGUSR1);
    return;
  }
  kill(child_pid, stops++ ? SIGTERM : SIGUSR2);
}

int pb_launch_nproc(const char *nproc, const pb_cli_opts *o) {
  char *end = NULL;
  long n = strtol(nproc, &end, 10);
  if (!*nproc || *end || n < 1 || n > 4096) {
    fprintf(stderr, "plumb train: error: --nproc %s: expected a number of ranks, 1..4096\n", nproc);
    return 2;
  }
#if !PLUMB_HAVE_MPI
  if (n > 1) {
    fprintf(stderr, "plumb train: error: --nproc %ld needs MPI, and this plumb was built without it: install Open MPI "
                    "(apt-get install libopenmpi-dev openmpi-bin; scripts/setup.sh does) and build again\n", n);
    return 1;
  }
#endif
  char self[PATH_MAX];
  ssize_t L = readlink("/proc/self/exe", self, sizeof self - 1);
  if (L <= 0) {
    fprintf(stderr, "plumb train: error: --nproc: cannot find this program (/proc/self/exe): %s\n", strerror(errno));
    return 1;
  }
  self[L] = 0;
  char nbuf[16];
  snprintf(nbuf, sizeof nbuf, "%ld", n);
  const char **argv = calloc((size_t)(2 * o->nset + 32), sizeof *argv);
  int k = 0;
  argv[k++] = "mpirun";
  argv[k++] = "-np";
  argv[k++] = nbuf;
  argv[k++] = "--bind-to";
  argv[k++] = "none";
  argv[k++] = "--oversubscribe";
  if (geteuid() == 0) argv[k++] = "--allow-run-as-root";
  argv[k++] = self;
  argv[k++] = "train";
  argv[k++] = o->config;
  for (int i = 0; i < o->nset; i++) argv[k++] = "--set", argv[k++] = o->set[i];
  const char *resume = pb_cli_opt(o, "resume");
  if (resume) argv[k++] = "--resume", argv[k++] = resume;
  argv[k] = NULL;
  fflush(NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2};
  sigset_t block, old;
  sigemptyset(&block);
  for (int i = 0; i < 5; i++) sigaddset(&block, sigs[i]), sigaddset(&sa.sa_mask, sigs[i]);
  sigprocmask(SIG_BLOCK, &block, &old);
  for (int i = 0; i < 5; i++) sigaction(sigs[i], &sa, NULL);
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0); /* a terminal's Ctrl-C reaches this parent only */
    for (int i = 0; i < 5; i++) signal(sigs[i], SIG_DFL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    execvp("mpirun", (char *const *)argv);
    fprintf(stderr, "plumb train: error: --nproc %ld: cannot run mpirun (%s): install Open MPI (apt-get install "
                    "openmpi-bin)\n", n, strerror(errno));
    _exit(127);
  }
  free(argv);
  if (pid < 0) {
    sigprocmask(SIG_SETMASK, &old, NULL);
    fprintf(stderr, "plumb train: error: --nproc: fork: %s\n", strerror(errno));
    return 1;
  }
  child_pid = pid;
  sigprocmask(SIG_SETMASK, &old, NULL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
