/* idx.c: the IDX reader declared in idx.h (MNIST / Fashion-MNIST files, gzipped or raw).
 * No twin. zlib's gzread reads raw files transparently, so one path serves both; every
 * read is checked against gzerror so that a corrupt or truncated stream is never mistaken
 * for a short file, and a final probe read forces zlib to verify the gzip trailer (CRC). */
#include "loaders/idx.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Data of this size or more is refused (dims must fit an int; no dataset comes close). */
#define PB_IDX_MAX_BYTES ((uint64_t)1 << 31)

/* gzerror's text without the "<fd:N>: " that gzdopen puts in front of it. */
static const char *idx_gzmsg(gzFile g, int *zerr) {
  const char *m = gzerror(g, zerr);
  if (m[0] == '<') {
    const char *c = strstr(m, ": ");
    if (c) m = c + 2;
  }
  return m;
}

/* Reads up to n bytes; returns the count, or -1 with a message on a stream error. */
static int64_t idx_gzread(gzFile g, void *buf, size_t n, const char *path, pb_err *err) {
  size_t done = 0;
  while (done < n) {
    size_t chunk = PB_MIN(n - done, (size_t)1 << 30);
    int k = gzread(g, (char *)buf + done, (unsigned)chunk);
    if (k < 0) {
      int zerr;
      const char *m = idx_gzmsg(g, &zerr);
      if (zerr == Z_ERRNO) m = strerror(errno);
      pb_err_set(err, "%s: read error: %s (corrupt gzip stream?)", path, m);
      return -1;
    }
    if (k == 0) break;
    done += (size_t)k;
  }
  /* zlib reports a stream cut short as a short read plus an error state, not a failed read. */
  int zerr;
  const char *m = idx_gzmsg(g, &zerr);
  if (zerr != Z_OK && zerr != Z_STREAM_END) {
    if (zerr == Z_BUF_ERROR)
      pb_err_set(err, "%s: truncated gzip stream (%s)", path, m);
    else
      pb_err_set(err, "%s: read error: %s", path, zerr == Z_ERRNO ? strerror(errno) : m);
    return -1;
  }
  return (int64_t)done;
}

int pb_idx_read(pb_idx *out, const char *path, pb_err *err) {
  PB_ASSERT(out && path);
  memset(out, 0, sizeof *out);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return pb_err_set(err, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return pb_err_set(err, "%s: not a regular file", path);
  }
  gzFile g = gzdopen(fd, "rb"); /* owns fd from here on */
  if (!g) {
    close(fd);
    return pb_err_set(err, "%s: cannot open: out of memory in zlib", path);
  }
  uint8_t *data = NULL;
  uint8_t hdr[4 + 4 * 4];
  int64_t got = idx_gzread(g, hdr, 4, path, err);
  if (got < 0) goto fail;
  if (got < 4) {
    pb_err_set(err, "%s: not an IDX file: only %lld bytes", path, (long long)got);
    goto fail;
  }
  if (hdr[0] != 0 || hdr[1] != 0) {
    pb_err_set(err, "%s: not an IDX file: magic %02x %02x %02x %02x does not start with 00 00",
               path, hdr[0], hdr[1], hdr[2], hdr[3]);
    goto fail;
  }
  if (hdr[2] != 0x08) {
    pb_err_set(err, "%s: unsupported IDX element type 0x%02x (only 0x08, unsigned byte)", path,
               hdr[2]);
    goto fail;
  }
  int ndim = hdr[3];
  if (ndim < 1 || ndim > 4) {
    pb_err_set(err, "%s: IDX ndim %d outside 1..4", path, ndim);
    goto fail;
  }
  got = idx_gzread(g, hdr + 4, (size_t)ndim * 4, path, err);
  if (got < 0) goto fail;
  if (got < ndim * 4) {
    pb_err_set(err, "%s: truncated IDX header (%d dims expected)", path, ndim);
    goto fail;
  }
  uint64_t total = 1;
  for (int d = 0; d < ndim; d++) {
    const uint8_t *b = hdr + 4 + 4 * d;
    uint64_t v = (uint64_t)b[0] << 24 | (uint64_t)b[1] << 16 | (uint64_t)b[2] << 8 | b[3];
    if (v == 0) {
      pb_err_set(err, "%s: IDX dim %d is zero", path, d);
      goto fail;
    }
    total *= v; /* each factor < 2^32 and total < 2^31 before it: no overflow */
    if (total >= PB_IDX_MAX_BYTES) {
      pb_err_set(err, "%s: IDX dims describe 2^31 bytes of data or more", path);
      goto fail;
    }
    out->dims[d] = (int)v;
  }
  out->ndim = ndim;
  out->item_bytes = (size_t)(total / (uint64_t)out->dims[0]);
  /* Grow as data arrives, so a tiny file claiming huge dims cannot make us allocate 2 GB. */
  size_t cap = (size_t)PB_MIN(total, (uint64_t)1 << 24), have = 0;
  data = pb_xmalloc(cap);
  for (;;) {
    got = idx_gzread(g, data + have, cap - have, path, err);
    if (got < 0) goto fail;
    have += (size_t)got;
    if (have < cap || cap == total) break;
    cap = (size_t)PB_MIN((uint64_t)cap * 2, total);
    data = pb_xrealloc(data, cap);
  }
  if (have < total) {
    pb_err_set(err, "%s: truncated: dims say %llu data bytes but the file holds %zu", path,
               (unsigned long long)total, have);
    goto fail;
  }
  uint8_t probe[16];
  got = idx_gzread(g, probe, sizeof probe, path, err); /* also verifies the gzip CRC */
  if (got < 0) goto fail;
  if (got > 0) {
    pb_err_set(err, "%s: trailing data after the %llu bytes the dims describe", path,
               (unsigned long long)total);
    goto fail;
  }
  int zc = gzclose(g);
  g = NULL;
  if (zc != Z_OK) {
    pb_err_set(err, "%s: error closing: %s", path, zc == Z_ERRNO ? strerror(errno) : "zlib error");
    goto fail;
  }
  out->data = data;
  return PB_OK;

fail:
  if (g) gzclose(g);
  free(data);
  memset(out, 0, sizeof *out);
  return PB_ERR;
}

void pb_idx_free(pb_idx *x) {
  if (!x) return;
  free(x->data);
  memset(x, 0, sizeof *x);
}
