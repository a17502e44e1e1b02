/* requeue.c: [run] requeue (requeue.h): `scontrol requeue` for a slurm job stopped on SIGUSR1. */
#include "engine/run/requeue.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/run/log.h"

static const int stop_sigs[] = {SIGINT, SIGTERM, SIGUSR1, SIGHUP};

static void set_stop_sigs(void (*h)(int)) {
  for (size_t i = 0; i < sizeof stop_sigs / sizeof stop_sigs[0]; i++) signal(stop_sigs[i], h);
}

/* A job id is digits only (an array task's own SLURM_JOB_ID is too): nothing else reaches argv. */
static int valid_job_id(const char *s) {
  if (!s || !*s || strlen(s) > 32) return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

int pb_run_requeue(const pb_config *cfg, int sig) {
  if (sig != SIGUSR1 || !pb_config_bool(cfg, "run", "requeue")) return 0;
  const char *job = getenv("SLURM_JOB_ID");
  if (!job || !*job) {
    pb_log("[run] requeue = true but SLURM_JOB_ID is not set (not a slurm job): nothing requeued");
    return 0;
  }
  if (!valid_job_id(job)) {
    pb_log_err("plumb train: error: SLURM_JOB_ID = '%s' is not a job id: nothing requeued", job);
    return 0;
  }
  const char *arr = getenv("SLURM_ARRAY_JOB_ID"), *task = getenv("SLURM_ARRAY_TASK_ID");
  const char *restarts = getenv("SLURM_RESTART_COUNT");
  char what[160];
  if (arr && task)
    snprintf(what, sizeof what, "slurm job %s (array task %s_%s, restarts so far %s)", job, arr, task,
             restarts ? restarts : "0");
  else
    snprintf(what, sizeof what, "slurm job %s (restarts so far %s)", job, restarts ? restarts : "0");
  set_stop_sigs(SIG_IGN);
  pb_log("[run] requeue: scontrol requeue %s for %s", job, what);
  pid_t pid = fork();
  if (pid == 0) {
    set_stop_sigs(SIG_DFL);
    char *argv[] = {"scontrol", "requeue", (char *)job, NULL};
    execvp(argv[0], argv);
    _exit(127);
  }
  int st = 0;
  if (pid < 0) {
    pb_log_err("plumb train: error: scontrol requeue %s: fork failed: %s; the checkpoint is saved, "
               "submit the job again to resume", job, strerror(errno));
    return 0;
  }
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
    pb_log("requeued %s: it runs again (after slurm's cred_expire wait) and resumes from this run folder", what);
    return 1;
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
    pb_log_err("plumb train: error: scontrol requeue %s: could not run scontrol (exit status 127: not on PATH?); "
               "the checkpoint is saved, submit the job again to resume", job);
  else if (WIFEXITED(st))
    pb_log_err("plumb train: error: scontrol requeue %s failed with exit status %d; the checkpoint is saved, "
               "submit the job again to resume", job, WEXITSTATUS(st));
  else
    pb_log_err("plumb train: error: scontrol requeue %s ended by signal %d; the checkpoint is saved, "
               "submit the job again to resume", job, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  return 0;
}
