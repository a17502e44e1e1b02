/* test_idx.c: loaders/idx.c: the real Fashion-MNIST files when installed, small raw and
 * gzipped files written here, and refusal of truncated, corrupt and malformed files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "loaders/idx.h"
#include "test/testutil.h"

#define FMNIST "/usr/share/datasets/fashion-mnist/"

static char g_dir[4096];

static const char *tpath(const char *name) { return pb_test_path(g_dir, name); }

static void write_gz(const char *path, const void *b, size_t n) {
  gzFile g = gzopen(path, "wb");
  PB_ASSERT(g);
  PB_ASSERT(gzwrite(g, b, (unsigned)n) == (int)n);
  PB_ASSERT(gzclose(g) == Z_OK);
}

static uint8_t *read_bytes(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  PB_ASSERT(f);
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = pb_xmalloc((size_t)sz);
  PB_ASSERT(fread(b, 1, (size_t)sz, f) == (size_t)sz);
  fclose(f);
  *n = (size_t)sz;
  return b;
}

/* An IDX image of the given dims with data[i] = (i * 7 + 3) & 255; returns its size. */
static size_t make_idx(uint8_t *buf, size_t cap, int ndim, const uint32_t *dims, size_t extra) {
  buf[0] = 0, buf[1] = 0, buf[2] = 0x08, buf[3] = (uint8_t)ndim;
  size_t total = 1, pos = 4;
  for (int d = 0; d < ndim; d++) {
    buf[pos++] = (uint8_t)(dims[d] >> 24), buf[pos++] = (uint8_t)(dims[d] >> 16);
    buf[pos++] = (uint8_t)(dims[d] >> 8), buf[pos++] = (uint8_t)dims[d];
    total *= dims[d];
  }
  PB_ASSERT(pos + total + extra <= cap);
  for (size_t i = 0; i < total + extra; i++) buf[pos + i] = (uint8_t)((i * 7 + 3) & 255);
  return pos + total + extra;
}

/* Expects path to be refused with a message naming it and containing word. */
static void expect_refused(const char *path, const char *word, const char *what) {
  pb_idx x;
  pb_err err = {0};
  int rc = pb_idx_read(&x, path, &err);
  if (rc == PB_OK) {
    PB_CHECK_MSG(0, "%s: accepted", what);
    pb_idx_free(&x);
    return;
  }
  PB_CHECK_MSG(x.data == NULL && x.ndim == 0, "%s: output not cleared", what);
  PB_CHECK_MSG(strstr(err.msg, path) != NULL, "%s: message lacks the path: %s", what, err.msg);
  PB_CHECK_MSG(!word || strstr(err.msg, word) != NULL, "%s: message lacks \"%s\": %s", what, word,
               err.msg);
}

static void test_real_dataset(void) {
  const char *labels = FMNIST "train-labels-idx1-ubyte.gz";
  const char *images = FMNIST "t10k-images-idx3-ubyte.gz";
  if (access(labels, R_OK) != 0 || access(images, R_OK) != 0) {
    printf("  skipped: dataset not installed (%s)\n", FMNIST);
    return;
  }
  pb_idx x;
  pb_err err = {0};
  if (pb_idx_read(&x, labels, &err) != PB_OK) {
    PB_CHECK_MSG(0, "%s", err.msg);
  } else {
    PB_CHECK(x.ndim == 1 && x.dims[0] == 60000 && x.item_bytes == 1);
    int count[10] = {0}, bad = 0;
    for (int i = 0; i < x.dims[0]; i++) {
      if (x.data[i] > 9)
        bad++;
      else
        count[x.data[i]]++;
    }
    PB_CHECK_MSG(bad == 0, "%d labels outside 0..9", bad);
    for (int c = 0; c < 10; c++) PB_CHECK_MSG(count[c] == 6000, "class %d: %d", c, count[c]);
    pb_idx_free(&x);
  }
  if (pb_idx_read(&x, images, &err) != PB_OK) {
    PB_CHECK_MSG(0, "%s", err.msg);
  } else {
    PB_CHECK(x.ndim == 3 && x.dims[0] == 10000 && x.dims[1] == 28 && x.dims[2] == 28 &&
             x.item_bytes == 784);
    int blank = 0, maxv = 0;
    for (int i = 0; i < x.dims[0]; i++) {
      int any = 0;
      for (int k = 0; k < 784; k++) {
        uint8_t v = x.data[(size_t)i * 784 + k];
        any |= v != 0;
        maxv = PB_MAX(maxv, v);
      }
      blank += !any;
    }
    PB_CHECK_MSG(blank == 0 && maxv == 255, "%d blank images, max pixel %d", blank, maxv);
    pb_idx_free(&x);
  }
  printf("  real Fashion-MNIST files read and checked\n");
}

static void test_round_trip(void) {
  static uint8_t buf[4096];
  const uint32_t d3[] = {3, 4, 5}, d1[] = {17}, d4[] = {2, 3, 2, 4};
  const struct {
    int ndim;
    const uint32_t *dims;
  } shapes[] = {{3, d3}, {1, d1}, {4, d4}};
  for (int s = 0; s < 3; s++) {
    size_t n = make_idx(buf, sizeof buf, shapes[s].ndim, shapes[s].dims, 0);
    for (int gz = 0; gz < 2; gz++) {
      const char *path = tpath(gz ? "rt.idx.gz" : "rt.idx");
      if (gz)
        write_gz(path, buf, n);
      else
        pb_test_write_file(path, buf, n);
      pb_idx x;
      pb_err err = {0};
      if (pb_idx_read(&x, path, &err) != PB_OK) {
        PB_CHECK_MSG(0, "%s", err.msg);
        continue;
      }
      size_t item = 1, hdr = 4 + 4 * (size_t)shapes[s].ndim;
      PB_CHECK(x.ndim == shapes[s].ndim);
      for (int d = 0; d < x.ndim; d++) {
        PB_CHECK(x.dims[d] == (int)shapes[s].dims[d]);
        if (d) item *= shapes[s].dims[d];
      }
      PB_CHECK(x.item_bytes == item);
      PB_CHECK(memcmp(x.data, buf + hdr, n - hdr) == 0);
      pb_idx_free(&x);
      pb_idx_free(&x);
    }
  }
  pb_idx_free(NULL);
}

static void test_refusals(void) {
  static uint8_t buf[8192];
  const uint32_t dims[] = {40, 5, 5}; /* 1,000 data bytes */
  size_t n = make_idx(buf, sizeof buf, 3, dims, 0);
  const char *raw = tpath("t.idx"), *gz = tpath("t.idx.gz");

  /* Every proper prefix of a raw file. */
  int all_refused = 1;
  for (size_t len = 0; len < n; len++) {
    pb_test_write_file(raw, buf, len);
    pb_idx x;
    pb_err err = {0};
    if (pb_idx_read(&x, raw, &err) == PB_OK) {
      all_refused = 0;
      pb_idx_free(&x);
    } else if (!strstr(err.msg, raw)) {
      all_refused = 0;
    }
    if (len == n - 1) printf("  example (raw file cut short): %s\n", err.msg);
  }
  PB_CHECK_MSG(all_refused, "a truncated raw file was accepted or its message lacked the path");

  /* Every proper prefix of a gzipped file (cut inside header, deflate data and trailer). */
  write_gz(gz, buf, n);
  size_t gn;
  uint8_t *g = read_bytes(gz, &gn);
  const char *gzc = tpath("cut.idx.gz");
  all_refused = 1;
  for (size_t len = 0; len < gn; len++) {
    pb_test_write_file(gzc, g, len);
    pb_idx x;
    pb_err err = {0};
    if (pb_idx_read(&x, gzc, &err) == PB_OK) {
      PB_CHECK_MSG(0, "gzip cut to %zu of %zu bytes accepted", len, gn);
      all_refused = 0;
      pb_idx_free(&x);
    } else if (!strstr(err.msg, gzc)) {
      all_refused = 0;
    }
    if (len == gn / 2) printf("  example (gzip cut in half): %s\n", err.msg);
  }
  PB_CHECK(all_refused);
  expect_refused(gzc, NULL, "gzip cut");

  /* Corrupt gzip streams: a damaged deflate body, CRC and length trailers. */
  const char *bad = tpath("bad.idx.gz");
  const size_t spots[] = {gn / 2, gn - 8, gn - 3};
  for (int s = 0; s < 3; s++) {
    uint8_t *c = pb_xmalloc(gn);
    memcpy(c, g, gn);
    c[spots[s]] ^= 0x5a;
    pb_test_write_file(bad, c, gn);
    free(c);
    expect_refused(bad, NULL, "corrupt gzip");
  }
  {
    pb_err err = {0};
    pb_idx x;
    uint8_t *c = pb_xmalloc(gn);
    memcpy(c, g, gn);
    c[gn - 6] ^= 0x01; /* CRC */
    pb_test_write_file(bad, c, gn);
    free(c);
    if (pb_idx_read(&x, bad, &err) == PB_OK) pb_idx_free(&x);
    printf("  example (gzip CRC damaged): %s\n", err.msg);
  }
  free(g);

  /* Malformed headers and sizes, raw and gzipped. */
  static uint8_t m[8192];
  for (int gzip = 0; gzip < 2; gzip++) {
    const char *p = tpath(gzip ? "m.idx.gz" : "m.idx");
#define WRITE_M(len) (gzip ? write_gz(p, m, (len)) : pb_test_write_file(p, m, (len)))
    memcpy(m, buf, n);
    m[0] = 0x01;
    WRITE_M(n);
    expect_refused(p, "magic", "wrong magic byte 0");
    memcpy(m, buf, n);
    m[1] = 0x08;
    WRITE_M(n);
    expect_refused(p, "magic", "wrong magic byte 1");
    memcpy(m, buf, n);
    m[2] = 0x0d; /* float data */
    WRITE_M(n);
    expect_refused(p, "type", "unsupported type");
    memcpy(m, buf, n);
    m[3] = 0;
    WRITE_M(n);
    expect_refused(p, "ndim", "ndim 0");
    memcpy(m, buf, n);
    m[3] = 5;
    WRITE_M(n);
    expect_refused(p, "ndim", "ndim 5");
    memcpy(m, buf, n);
    m[4 + 4 + 3] = 0; /* second dim 5 -> 0 */
    WRITE_M(n);
    expect_refused(p, "zero", "zero dim");
    memcpy(m, buf, n);
    m[4] = 0x10; /* first dim 40 -> 2^28 + 40: times 25 > 2^31 bytes */
    m[5] = 0x00;
    WRITE_M(n);
    expect_refused(p, "2^31", "huge dims");
    memcpy(m, buf, n);
    m[4] = 0xff; /* first dim near 2^32 */
    WRITE_M(n);
    expect_refused(p, "2^31", "dim near 2^32");
    memcpy(m, buf, n);
    m[4 + 4 * 3 - 1] = 6; /* last dim 5 -> 6: data now too short */
    WRITE_M(n);
    expect_refused(p, "truncated", "dims larger than the data");
    memcpy(m, buf, n);
    m[n] = 1; /* one byte of trailing data */
    WRITE_M(n + 1);
    expect_refused(p, "trailing", "trailing data");
    WRITE_M(0);
    expect_refused(p, NULL, "empty file");
#undef WRITE_M
  }

  /* Missing file, a directory. */
  const char *missing = tpath("missing-idx1-ubyte.gz");
  expect_refused(missing, strerror(ENOENT), "missing file");
  {
    pb_idx x;
    pb_err err = {0};
    pb_idx_read(&x, missing, &err);
    printf("  example (missing file): %s\n", err.msg);
  }
  expect_refused(g_dir, NULL, "a directory");
}

int main(void) {
  snprintf(g_dir, sizeof g_dir, "%s", pb_test_tmpdir("idx"));
  test_real_dataset();
  test_round_trip();
  test_refusals();
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
  return pb_test_exit("test_idx");
}
