/* cmd_halve.c: `plumb halve DIR --metric COL [--eta 3] [--min-epochs R] [--max-epochs E]
 * [--jobs N] [--plumb PATH] [--plan | --print-round K | --close-round K]`: successive halving
 * over a sweep folder's trials (engine/sweep/halving.h).
 *
 * Locally, each round's trainings run here as up to N child processes `plumb train CONFIG --set
 * train.epochs=E`, logs in DIR/halving/round-K/. A stop signal is forwarded to the children
 * (each in its own process group, so that a terminal's Ctrl-C reaches them once, through here);
 * they checkpoint and exit 75, and so does this.
 *
 * On slurm (scripts/slurm/halve.sh), rounds are job arrays: --plan prints the current round as
 * one line `ROUND EPOCHS ROWS` (ROWS: the manifest's 0-based rows, comma-separated, what sbatch
 * --array takes) and trains nothing; after the round's array has ended, --close-round ROUND
 * records its trials whose runs did not reach the round's epochs as failed, so that the next
 * --plan moves on. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/cli/cli.h"
#include "engine/run/stop.h"
#include "engine/sweep/halving.h"

static int opt_long(const pb_cli_opts *o, const char *name, long def, long *out) {
  const char *v = pb_cli_opt(o, name);
  *out = def;
  if (!v) return 0;
  char *end = NULL;
  *out = strtol(v, &end, 10);
  if (!*v || *end) {
    fprintf(stderr, "plumb halve: error: --%s must be an integer, got '%s'\n", name, v);
    return -1;
  }
  return 0;
}

/* Starts `plumb train` for trial t; the child's pid, or -1 after a message. */
static pid_t spawn(const char *plumb, const pb_halve *h, int round, int t, long epochs) {
  char path[PATH_MAX + 64], set[64];
  snprintf(path, sizeof path, "%s/halving/round-%d", h->dir, round);
  if (mkdir(path, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "plumb halve: %s: cannot create: %s\n", path, strerror(errno));
    return -1;
  }
  snprintf(path, sizeof path, "%s/halving/round-%d/trial-%04ld.log", h->dir, round, h->m.rows[t].trial);
  snprintf(set, sizeof set, "train.epochs=%ld", epochs);
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "plumb halve: fork: %s\n", strerror(errno));
    return -1;
  }
  if (pid == 0) {
    setpgid(0, 0);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0666);
    if (fd < 0) _exit(126);
    dup2(fd, 1), dup2(fd, 2), close(fd);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execl(plumb, plumb, "train", h->m.rows[t].config, "--set", set, (char *)NULL);
    fprintf(stderr, "plumb halve: cannot run %s: %s\n", plumb, strerror(errno));
    _exit(127);
  }
  return pid;
}

typedef struct child {
  pid_t pid;
  int t;
} child;

/* Trains todo[0..ntodo) of round with up to jobs children. Returns 0, PB_EXIT_STOPPED after a
 * stop signal (children stopped), 1 on an error (message printed). */
static int run_round(const char *plumb, pb_halve *h, int round, long epochs, const int *todo, int ntodo, int jobs) {
  child *kids = calloc((size_t)jobs, sizeof *kids);
  int running = 0, next = 0, forwarded = 0, failed = 0;
  pb_err err = {{0}};
  while (next < ntodo || running) {
    int sig = pb_stop_signal();
    if ((sig || failed) && !forwarded) {
      for (int i = 0; i < jobs; i++)
        if (kids[i].pid > 0) kill(kids[i].pid, sig ? sig : SIGTERM);
      forwarded = 1;
    }
    while (!forwarded && next < ntodo && running < jobs) {
      int slot = 0;
      while (kids[slot].pid > 0) slot++;
      pid_t pid = spawn(plumb, h, round, todo[next], epochs);
      if (pid < 0) {
        failed = 1;
        break;
      }
      printf("plumb halve: round %d: trial %ld -> %ld epochs (log %s/halving/round-%d/trial-%04ld.log)\n", round,
             h->m.rows[todo[next]].trial, epochs, h->dir, round, h->m.rows[todo[next]].trial);
      fflush(stdout);
      kids[slot].pid = pid, kids[slot].t = todo[next];
      next++, running++;
    }
    if (forwarded && !running) break;
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      struct timespec ts = {0, 50 * 1000 * 1000};
      nanosleep(&ts, NULL);
      continue;
    }
    int slot = 0;
    while (slot < jobs && kids[slot].pid != pid) slot++;
    if (slot == jobs) continue;
    int t = kids[slot].t;
    kids[slot].pid = 0;
    running--;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (forwarded && (code == PB_EXIT_STOPPED || (WIFSIGNALED(status)))) continue; /* stopped: trains again on resume */
    if (failed) continue;
    if (code) fprintf(stderr, "plumb halve: round %d: trial %ld failed (exit %d; log %s/halving/round-%d/trial-%04ld.log)\n",
                      round, h->m.rows[t].trial, code, h->dir, round, h->m.rows[t].trial);
    if (pb_halve_record(h, round, t, epochs, code == 0, &err)) {
      fprintf(stderr, "plumb halve: error: %s\n", err.msg);
      failed = 1;
    }
  }
  free(kids);
  if (failed) return 1;
  if (pb_stop_signal()) {
    fprintf(stderr, "plumb halve: stopped on signal %d; the trainings checkpointed: rerun the same command to resume\n",
            pb_stop_signal());
    return PB_EXIT_STOPPED;
  }
  return 0;
}

/* --close-round: the round's array has ended; its trials still short of the round's epochs
 * (todo) failed (their log: slurm's output file). Then the round closes (ranked) when any
 * trial of it trained. 0, or 1 after a message. */
static int close_round(pb_halve *h, int round, long epochs, const int *todo, int ntodo) {
  pb_err err = {{0}};
  for (int j = 0; j < ntodo; j++) {
    fprintf(stderr, "plumb halve: round %d: trial %ld did not reach %ld epochs: failed (%s)\n", round,
            h->m.rows[todo[j]].trial, epochs, h->m.rows[todo[j]].run_dir);
    if (pb_halve_record(h, round, todo[j], epochs, 0, &err)) {
      fprintf(stderr, "plumb halve: error: %s\n", err.msg);
      return 1;
    }
  }
  int *next = pb_xmalloc(((size_t)h->m.n + 1) * sizeof *next), nnext = 0, r2 = 0;
  long e2 = 0;
  int st = pb_halve_next(h, &r2, &e2, next, &nnext, &err);
  free(next);
  if (st < 0) {
    fprintf(stderr, "plumb halve: error: %s\n", err.msg);
    return 1;
  }
  fprintf(stderr, "plumb halve: round %d closed (%d failed)%s\n", round, ntodo,
          st == 0 ? "; the halving is over: plumb halve without --close-round writes result.csv" : "");
  return 0;
}

int pb_cmd_halve(const pb_cli_opts *o, pb_config *cfg) {
  (void)cfg;
  if (o->nargs != 1) {
    fprintf(stderr, "usage: plumb halve DIR --metric COLUMN [--eta 3] [--min-epochs R] [--max-epochs E] [--jobs N] "
                    "[--plumb PATH] [--plan | --print-round K | --close-round K]\n");
    return 2;
  }
  long eta, r, e, jobs, pr, cr;
  if (opt_long(o, "eta", 3, &eta) || opt_long(o, "min-epochs", 1, &r) || opt_long(o, "max-epochs", 0, &e) ||
      opt_long(o, "jobs", 1, &jobs) || opt_long(o, "print-round", -1, &pr) || opt_long(o, "close-round", -1, &cr))
    return 2;
  if ((pb_cli_opt(o, "plan") != NULL) + (pr >= 0) + (cr >= 0) > 1) {
    fprintf(stderr, "plumb halve: error: --plan, --print-round and --close-round exclude each other\n");
    return 2;
  }
  if (jobs < 1 || jobs > 4096 || e < 0 || eta > 1000000) {
    fprintf(stderr, "plumb halve: error: --jobs must be 1..4096, --max-epochs >= 1, --eta <= 1000000\n");
    return 2;
  }
  const char *plumb = pb_cli_opt(o, "plumb") ? pb_cli_opt(o, "plumb") : "/proc/self/exe";
  int plan = pb_cli_opt(o, "plan") != NULL || pr >= 0 || cr >= 0;
  pb_err err = {{0}};
  pb_halve h;
  int rc = pb_halve_open(&h, o->args[0], pb_cli_opt(o, "metric"), (int)eta, r, e, &err);
  int *todo = pb_xmalloc(((size_t)h.m.n + 1) * sizeof *todo), ntodo = 0, round = 0, st = 0;
  long epochs = 0;
  while (rc == PB_OK && (st = pb_halve_next(&h, &round, &epochs, todo, &ntodo, &err)) == 1) {
    if (plan) break;
    rc = run_round(plumb, &h, round, epochs, todo, ntodo, (int)jobs);
    if (rc) break;
  }
  int code = rc ? rc : 0;
  if (rc == PB_OK && st < 0) {
    fprintf(stderr, "plumb halve: error: %s\n", err.msg);
    code = 1;
  } else if (rc < 0) {
    fprintf(stderr, "plumb halve: error: %s\n", err.msg);
    code = 1;
  } else if (rc == PB_OK && plan) {
    if (st == 0) {
      fprintf(stderr, "plumb halve: the halving is over: no round to train (plumb halve without --plan / --close-round writes %s/halving/result.csv)\n", h.dir);
    } else if (cr >= 0 && cr < round) { /* its trials all reached the epochs: closed already */
      fprintf(stderr, "plumb halve: round %ld is closed (the current round is %d)\n", cr, round);
    } else if ((pr >= 0 && pr != round) || (cr >= 0 && cr != round)) {
      fprintf(stderr, "plumb halve: error: --%s %ld: the current round is %d (%s)\n",
              pr >= 0 ? "print-round" : "close-round", pr >= 0 ? pr : cr, round, h.state_path);
      code = 1;
    } else if (cr >= 0) {
      code = close_round(&h, round, epochs, todo, ntodo);
    } else {
      /* array.sbatch's task ids are 0-based manifest rows */
      if (pr < 0) printf("%d %ld ", round, epochs);
      for (int j = 0; j < ntodo; j++) printf("%s%d", j ? "," : "", todo[j]);
      printf("\n");
      fprintf(stderr, "plumb halve: round %d: %d trials to %ld epochs: sbatch --array=", round, ntodo, epochs);
      for (int j = 0; j < ntodo; j++) fprintf(stderr, "%s%d", j ? "," : "", todo[j]);
      fprintf(stderr, " scripts/slurm/array.sbatch %s/manifest.csv --set train.epochs=%ld\n", h.dir, epochs);
    }
  } else if (rc == PB_OK) {
    if (pb_halve_result(&h, stdout, &err)) {
      fprintf(stderr, "plumb halve: error: %s\n", err.msg);
      code = 1;
    } else {
      printf("wrote %s/halving/result.csv\n", h.dir);
    }
  }
  free(todo);
  pb_halve_free(&h);
  return code;
}
