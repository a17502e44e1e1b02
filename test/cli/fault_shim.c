/* fault_shim.c: an LD_PRELOAD library for the CLI fault tests (test_cli_signals.sh,
 * test_cli_kill9.sh). It wraps fsync(2), the last call of an atomic write before its rename, to
 * put faults exactly where they are hardest to handle: inside a checkpoint write.
 *
 *   PB_SHIM_SLOW_FSYNC_MS=ms       sleep ms before every fsync (widens the window of a write)
 *   PB_SHIM_KILL_AT_FSYNC=k        SIGKILL the process inside the k-th counted fsync: the data
 *                                  are written, the rename has not happened (a crash mid-write)
 *   PB_SHIM_SIGNAL_AT_FSYNC=k:SIG  kill(getpid(), SIG) inside the k-th counted fsync, then carry
 *                                  on (SIG: a number or INT, TERM, HUP, USR1, USR2)
 *   PB_SHIM_FAIL_OPEN=text         open(2) of a path containing text fails with EACCES (a folder
 *                                  that refuses a file even to root; test_cli_tensorboard.sh)
 *   PB_SHIM_MATCH=text             count only fsyncs of files whose path contains text; default
 *                                  ".tmp.", the temporary files of atomic writes, so that the
 *                                  directory fsync after a rename is not counted ("" counts all)
 *
 * k counts from 1. The counter is atomic: any thread may call fsync. Unset variables do nothing,
 * so with none set the shim is a plain pass-through. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_long g_calls; /* counted fsyncs so far */

static long env_long(const char *name) {
  const char *v = getenv(name);
  return v && *v ? strtol(v, NULL, 10) : 0;
}

/* "k:SIG" -> k, *sig; 0 when unset or malformed. */
static long signal_at(int *sig) {
  const char *v = getenv("PB_SHIM_SIGNAL_AT_FSYNC");
  const char *colon = v ? strchr(v, ':') : NULL;
  if (!colon) return 0;
  static const struct { const char *name; int sig; } names[] = {
      {"INT", SIGINT}, {"TERM", SIGTERM}, {"HUP", SIGHUP}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}};
  const char *s = colon + 1;
  if (!strncmp(s, "SIG", 3)) s += 3;
  *sig = (int)strtol(s, NULL, 10);
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcmp(s, names[i].name)) *sig = names[i].sig;
  return *sig > 0 ? strtol(v, NULL, 10) : 0;
}

/* Whether this fsync counts: fd's path (through /proc) contains PB_SHIM_MATCH. */
static int counted(int fd) {
  const char *match = getenv("PB_SHIM_MATCH");
  if (!match) match = ".tmp.";
  if (!*match) return 1;
  char link[64], path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n < 0) return 0;
  path[n] = 0;
  return strstr(path, match) != NULL;
}

int fsync(int fd) {
  static int (*real_fsync)(int);
  if (!real_fsync) real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  long ms = env_long("PB_SHIM_SLOW_FSYNC_MS");
  if (ms > 0) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts)) {} /* a signal handler must not cut the delay short */
  }
  if (counted(fd)) {
    long k = atomic_fetch_add(&g_calls, 1) + 1;
    int sig = 0;
    if (k == env_long("PB_SHIM_KILL_AT_FSYNC")) {
      fprintf(stderr, "fault_shim: SIGKILL in fsync %ld\n", k);
      raise(SIGKILL);
    }
    if (k == signal_at(&sig)) {
      fprintf(stderr, "fault_shim: signal %d in fsync %ld\n", sig, k);
      kill(getpid(), sig); /* process-directed, as a signal from outside is */
    }
  }
  return real_fsync(fd);
}

/* open / open64 (the same call on 64-bit glibc; either may be the one linked): PB_SHIM_FAIL_OPEN. */
static int shim_open(const char *sym, const char *path, int flags, mode_t mode) {
  const char *fail = getenv("PB_SHIM_FAIL_OPEN");
  if (fail && *fail && strstr(path, fail)) {
    errno = EACCES;
    return -1;
  }
  int (*real)(const char *, int, ...) = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, sym);
  return real(path, flags, mode);
}

int open(const char *path, int flags, ...) {
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  return shim_open("open", path, flags, mode);
}

int open64(const char *path, int flags, ...) {
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = (mode_t)va_arg(ap, int);
    va_end(ap);
  }
  return shim_open("open64", path, flags, mode);
}
