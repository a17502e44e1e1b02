/* log.c: stdout + log-file logging (log.h). The one piece of process-wide state in the
 * engine: a run has one log. */
#include "engine/run/log.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

static FILE *log_file;

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
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  if (log_file) {
    va_start(ap, fmt);
    vfprintf(log_file, fmt, ap);
    va_end(ap);
    fputc('\n', log_file);
    fflush(log_file);
  }
}
