/* log.h: run logging: each line goes to stdout and, once a run directory exists, is appended
 * to its log file (flushed per line, so a killed run keeps everything it printed). */
#ifndef PB_LOG_H
#define PB_LOG_H

#include "kernels/pb_common.h"

/* Opens (appends to) path as the log file. */
int pb_log_open(const char *path, pb_err *err);
void pb_log_close(void);
/* printf-style; a newline is added. */
void pb_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Data-parallel runs: ranks other than 0 print only warnings and errors, to stderr, marked
 * "rank K: ", and no log file. */
void pb_log_set_rank(int rank);

/* The same to stderr and the log file (errors). */
void pb_log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
