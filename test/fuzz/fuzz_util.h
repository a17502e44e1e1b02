/* fuzz_util.h: what the libFuzzer harnesses share. plumb's parsers take paths, so an input is
 * handed over as a memfd (memfd_create) named by "/proc/self/fd/N"; a private temporary folder
 * holds the files a parser writes or needs beside the input (labels, configs written back).
 * Header-only (static functions): each harness is one translation unit. */
#ifndef PB_FUZZ_UTIL_H
#define PB_FUZZ_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create; the build also defines it */
#endif
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernels/pb_common.h"

#define PB_FUZZ_SLOTS 4

/* Writes data[size] to memfd `slot` (one reusable fd per slot, so no descriptor is leaked
 * across runs) and returns its path, valid until the next call with the same slot. A parser
 * that fopen()s the path gets a fresh file offset. Aborts on system errors (not the input's
 * fault). */
static inline const char *pb_fuzz_memfd(int slot, const uint8_t *data, size_t size) {
  static int fds[PB_FUZZ_SLOTS] = {-1, -1, -1, -1};
  static char paths[PB_FUZZ_SLOTS][64];
  if (slot < 0 || slot >= PB_FUZZ_SLOTS) abort();
  if (fds[slot] < 0) {
    fds[slot] = memfd_create("pb_fuzz", MFD_CLOEXEC);
    if (fds[slot] < 0) perror("memfd_create"), abort();
    snprintf(paths[slot], sizeof paths[slot], "/proc/self/fd/%d", fds[slot]);
  }
  if (ftruncate(fds[slot], 0)) perror("ftruncate"), abort();
  size_t done = 0;
  while (done < size) {
    ssize_t k = pwrite(fds[slot], data + done, size - done, (off_t)done);
    if (k <= 0) perror("pwrite"), abort();
    done += (size_t)k;
  }
  return paths[slot];
}

/* The harness's private folder (created on first use, removed at exit with what is in it). */
static char pb_fuzz_dir_buf[64];
static inline void pb_fuzz_dir_cleanup(void) {
  DIR *d = pb_fuzz_dir_buf[0] ? opendir(pb_fuzz_dir_buf) : NULL;
  if (!d) return;
  char p[512];
  for (struct dirent *e; (e = readdir(d));) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(p, sizeof p, "%s/%s", pb_fuzz_dir_buf, e->d_name);
    unlink(p);
  }
  closedir(d);
  rmdir(pb_fuzz_dir_buf);
}
static inline const char *pb_fuzz_dir(void) {
  if (!pb_fuzz_dir_buf[0]) {
    snprintf(pb_fuzz_dir_buf, sizeof pb_fuzz_dir_buf, "/tmp/pb_fuzz.XXXXXX");
    if (!mkdtemp(pb_fuzz_dir_buf)) perror("mkdtemp"), abort();
    atexit(pb_fuzz_dir_cleanup);
  }
  return pb_fuzz_dir_buf;
}

/* A path in the private folder; the returned buffer is one of 4 rotating ones. */
static inline const char *pb_fuzz_tmp(const char *name) {
  static char bufs[4][256];
  static int next;
  char *b = bufs[next++ & 3];
  snprintf(b, sizeof bufs[0], "%s/%s", pb_fuzz_dir(), name);
  return b;
}

/* Writes data[size] to the file `name` in the private folder; returns its path. */
static inline const char *pb_fuzz_write_tmp(const char *name, const void *data, size_t size) {
  const char *p = pb_fuzz_tmp(name);
  FILE *f = fopen(p, "wb");
  if (!f || fwrite(data, 1, size, f) != size || fclose(f)) perror(p), abort();
  return p;
}

/* PB_FUZZ_VERBOSE=1 in the environment: harnesses print each parser's verdict (to check seeds). */
static inline int pb_fuzz_verbose(void) {
  static int v = -1;
  if (v < 0) v = getenv("PB_FUZZ_VERBOSE") != NULL;
  return v;
}
static inline void pb_fuzz_say(const char *harness, const char *what, int rc, const pb_err *err) {
  if (pb_fuzz_verbose()) fprintf(stderr, "%s: %s: %s\n", harness, what, rc == PB_OK ? "ok" : err->msg);
}

/* Points stdin at /dev/null: a config's `include = 0` beside a memfd reads /proc/self/fd/0,
 * which must not wait on a terminal. */
static inline void pb_fuzz_quiet_stdin(void) {
  if (!freopen("/dev/null", "r", stdin)) perror("freopen"), abort();
}

#endif
