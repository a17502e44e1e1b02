/* log.c: stdout + log-file logging (log.h). The one piece of process-wide state in the
 * engine: a run has one log. */
#include "engine/run/log.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

static FILE *log_file;
static int log_rank; /* data-parallel: rank 0 logs; the others only their warnings and errors */

void pb_log_set_rank(int rank) { log_rank = rank; }

int pb_log_open(const char *path, pb_err *err) {
  pb_log_close();
  log_file = fopen(path, "a");
  if (!log_file) return pb_err_set(err, "cannot open the log %s: %s", path, strerror(errno));
  return PB_OK;
}

void pb_log_close(void) {
  if (log_file) fclose(log_file);
  log_file = NULL;
}

void pb_log(const char *fmt, ...) {
  va_list ap;
  if (log_rank > 0) { /* its warnings (a bad image of its shard), to stderr, marked */
    if (strncmp(fmt, "warning", 7) && !strstr(fmt, "skipped")) return;
    fprintf(stderr, "rank %d: ", log_rank);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return;
  }
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
  if (log_file) {
    va_start(ap, fmt);
    vfprintf(log_file, fmt, ap);
    va_end(ap);
    fputc('\n', log_file);
    fflush(log_file);
  }
}

void pb_log_err(const char *fmt, ...) {
  /* one write: the lines of several ranks sharing a terminal do not interleave */
  char line[8192];
  int k = log_rank > 0 ? snprintf(line, sizeof line, "rank %d: ", log_rank) : 0;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line + k, sizeof line - (size_t)k - 1, fmt, ap);
  va_end(ap);
  size_t L = strlen(line);
  line[L] = '\n';
  fwrite(line, 1, L + 1, stderr);
  if (log_file) {
    fwrite(line + k, 1, L + 1 - (size_t)k, log_file);
    fflush(log_file);
  }
}
