/* pb_common.h: what every folder of plumb shares: the two error tiers and small helpers.
 *
 * Tier 1 (bugs and device failures): PB_ASSERT / PB_FATAL abort with file and line.
 * Tier 2 (bad user input): functions return PB_ERR and fill a pb_err with a message that
 * says what was wrong and where; only the CLI turns it into an exit code. */
#ifndef PB_COMMON_H
#define PB_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define PB_OK 0
#define PB_ERR (-1)

/* A user-facing error message. Zero-initialise; pb_err_set fills it. */
typedef struct pb_err {
  char msg[1024];
} pb_err;

/* printf-style; always returns PB_ERR so that `return pb_err_set(err, ...)` reads well.
 * err may be NULL (the message is dropped). */
int pb_err_set(pb_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes an existing message: "<prefix>: <old message>". Returns PB_ERR. */
int pb_err_prefix(pb_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Bug tier: aborts the process with file, line and a message. */
void pb_fatal_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
#define PB_FATAL(...) pb_fatal_at(__FILE__, __LINE__, __VA_ARGS__)
#define PB_ASSERT(cond)                                                     \
  do {                                                                      \
    if (!(cond)) pb_fatal_at(__FILE__, __LINE__, "assertion failed: %s", #cond); \
  } while (0)

/* Allocation that aborts on failure (host memory exhaustion is not user input). */
void *pb_xmalloc(size_t bytes);
void *pb_xcalloc(size_t n, size_t size);
void *pb_xrealloc(void *p, size_t bytes);
char *pb_xstrdup(const char *s);
/* 64-byte aligned, zeroed; free with pb_afree. */
void *pb_amalloc(size_t bytes);
void pb_afree(void *p);

#define PB_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PB_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
