/* stop.c: the stop-signal handlers (stop.h). Everything a handler does is async-signal-safe:
 * it sets sig_atomic_t flags, writes one fixed line with write(2), or re-raises the signal
 * with its default action. */
#include "engine/run/stop.h"

#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_signal; /* the first stop signal */
static volatile sig_atomic_t g_saving; /* a checkpoint is being written */

static void on_stop(int sig) {
  if (!g_signal || g_saving) {
    if (!g_signal) g_signal = sig;
    return;
  }
  static const char msg[] = "plumb: second stop signal: exiting now, without a new checkpoint\n";
  ssize_t k = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)k;
  signal(sig, SIG_DFL);
  raise(sig); /* delivered when the handler returns: the process ends by this signal */
}

void pb_stop_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sa.sa_flags = SA_RESTART; /* reads and writes in progress carry on */
  sigemptyset(&sa.sa_mask);
  const int sigs[] = {SIGINT, SIGTERM, SIGUSR1, SIGHUP, SIGUSR2};
  for (int i = 0; i < 5; i++) sigaddset(&sa.sa_mask, sigs[i]); /* one handler at a time */
  for (int i = 0; i < 5; i++) sigaction(sigs[i], &sa, NULL);
}

int pb_stop_signal(void) { return g_signal; }

const volatile sig_atomic_t *pb_stop_flag(void) { return &g_signal; }

void pb_stop_saving(int on) { g_saving = on; }
