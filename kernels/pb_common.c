/* pb_common.c: the error tiers and allocation helpers declared in pb_common.h. */
#include "kernels/pb_common.h"

#include <stdarg.h>
#include <string.h>

int pb_err_set(pb_err *err, const char *fmt, ...) {
  if (!err) return PB_ERR;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return PB_ERR;
}

int pb_err_prefix(pb_err *err, const char *fmt, ...) {
  if (!err) return PB_ERR;
  char prefix[512], old[sizeof err->msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, err->msg, sizeof old);
  size_t np = strlen(prefix);
  if (np > sizeof err->msg - 3) np = sizeof err->msg - 3;
  memcpy(err->msg, prefix, np);
  memcpy(err->msg + np, ": ", 2);
  size_t room = sizeof err->msg - np - 3;
  size_t no = strnlen(old, room);
  memcpy(err->msg + np + 2, old, no);
  err->msg[np + 2 + no] = '\0';
  return PB_ERR;
}

void pb_fatal_at(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "plumb: fatal: %s:%d: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  abort();
}

void *pb_xmalloc(size_t bytes) {
  void *p = malloc(bytes ? bytes : 1);
  if (!p) PB_FATAL("out of host memory allocating %zu bytes", bytes);
  return p;
}

void *pb_xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) PB_FATAL("out of host memory allocating %zu x %zu bytes", n, size);
  return p;
}

void *pb_xrealloc(void *p, size_t bytes) {
  void *q = realloc(p, bytes ? bytes : 1);
  if (!q) PB_FATAL("out of host memory reallocating %zu bytes", bytes);
  return q;
}

char *pb_xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = pb_xmalloc(n);
  memcpy(d, s, n);
  return d;
}

void *pb_amalloc(size_t bytes) {
  size_t rounded = (bytes + 63) / 64 * 64;
  void *p = aligned_alloc(64, rounded ? rounded : 64);
  if (!p) PB_FATAL("out of host memory allocating %zu bytes", bytes);
  memset(p, 0, rounded ? rounded : 64);
  return p;
}

void pb_afree(void *p) { free(p); }
