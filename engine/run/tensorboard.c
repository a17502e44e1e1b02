/* tensorboard.c: TensorBoard event files: CRC32C, TFRecord framing, hand-encoded Event
 * protobufs and the report writer of [log] tensorboard (tensorboard.h). No CUDA twin: host
 * file output. */
#include "engine/run/tensorboard.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "engine/run/log.h"

/* ------------------------------------------------------------------ CRC32C */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
    crc_table[i] = c;
  }
}

uint32_t pb_crc32c(uint32_t crc, const void *data, size_t n) {
  pthread_once(&crc_once, crc_init);
  const uint8_t *p = data;
  crc = ~crc;
  for (size_t i = 0; i < n; i++) crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

uint32_t pb_crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

/* ------------------------------------------------------------------ protobuf encoding */

/* An output buffer; `over` is set once a write did not fit. */
typedef struct {
  uint8_t *p;
  size_t n, cap;
  int over;
} pbuf;

static void put(pbuf *b, const void *data, size_t n) {
  if (b->over || n > b->cap - b->n) {
    b->over = 1;
    return;
  }
  memcpy(b->p + b->n, data, n);
  b->n += n;
}

static void put_varint(pbuf *b, uint64_t v) {
  uint8_t t[10];
  size_t n = 0;
  do {
    t[n] = (uint8_t)(v & 0x7f);
    v >>= 7;
    if (v) t[n] |= 0x80;
    n++;
  } while (v);
  put(b, t, n);
}

static void put_le(pbuf *b, uint64_t v, int bytes) {
  uint8_t t[8];
  for (int i = 0; i < bytes; i++) t[i] = (uint8_t)(v >> (8 * i));
  put(b, t, (size_t)bytes);
}

/* Field keys: (number << 3) | wire type (0 varint, 1 64-bit, 2 length-delimited, 5 32-bit). */
static void put_key(pbuf *b, int field, int wire) { put_varint(b, (uint64_t)field << 3 | (uint64_t)wire); }

static void put_double(pbuf *b, int field, double v) {
  uint64_t u;
  memcpy(&u, &v, 8);
  put_key(b, field, 1);
  put_le(b, u, 8);
}

static void put_bytes(pbuf *b, int field, const void *data, size_t n) {
  put_key(b, field, 2);
  put_varint(b, n);
  put(b, data, n);
}

size_t pb_tb_event_version(uint8_t *buf, size_t cap, double wall_time) {
  pbuf b = {buf, 0, cap, 0};
  static const char version[] = "brain.Event:2";
  put_double(&b, 1, wall_time);                      /* Event.wall_time */
  put_bytes(&b, 3, version, sizeof version - 1);     /* Event.file_version */
  return b.over ? 0 : b.n;
}

size_t pb_tb_event_scalar(uint8_t *buf, size_t cap, double wall_time, int64_t step, const char *tag, float value) {
  size_t tl = strnlen(tag, 255);
  /* Summary.Value{tag (1), simple_value (2, float)}; then Summary{value (1)} around it. */
  uint8_t val[300], sum[310];
  pbuf v = {val, 0, sizeof val, 0}, s = {sum, 0, sizeof sum, 0};
  put_bytes(&v, 1, tag, tl);
  uint32_t u;
  memcpy(&u, &value, 4);
  put_key(&v, 2, 5);
  put_le(&v, u, 4);
  put_bytes(&s, 1, val, v.n);
  PB_ASSERT(!v.over && !s.over);
  pbuf b = {buf, 0, cap, 0};
  put_double(&b, 1, wall_time); /* Event.wall_time */
  if (step) {                   /* Event.step (int64: two's complement varint; proto3 omits 0) */
    put_key(&b, 2, 0);
    put_varint(&b, (uint64_t)step);
  }
  put_bytes(&b, 5, sum, s.n); /* Event.summary */
  return b.over ? 0 : b.n;
}

void pb_tfrecord_frame(uint8_t *out, const uint8_t *data, size_t n) {
  for (int i = 0; i < 8; i++) out[i] = (uint8_t)((uint64_t)n >> (8 * i));
  uint32_t c = pb_crc32c_mask(pb_crc32c(0, out, 8));
  for (int i = 0; i < 4; i++) out[8 + i] = (uint8_t)(c >> (8 * i));
  memcpy(out + 12, data, n);
  c = pb_crc32c_mask(pb_crc32c(0, data, n));
  for (int i = 0; i < 4; i++) out[12 + n + i] = (uint8_t)(c >> (8 * i));
}

/* ------------------------------------------------------------------ the file */

struct pb_tb_file {
  FILE *fp;
  char path[4400];
};

static double wall_now(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

const char *pb_tb_path(const pb_tb_file *f) { return f->path; }

static int write_record(pb_tb_file *f, const uint8_t *data, size_t n) {
  uint8_t rec[600];
  PB_ASSERT(n + 16 <= sizeof rec);
  pb_tfrecord_frame(rec, data, n);
  return fwrite(rec, 1, n + 16, f->fp) == n + 16 ? PB_OK : PB_ERR;
}

pb_tb_file *pb_tb_open(const char *dir, pb_err *err) {
  static int counter; /* files this process opened: unique names within the second */
  char host[256] = "localhost";
  if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "localhost");
  host[sizeof host - 1] = 0;
  for (char *h = host; *h; h++)
    if (*h == '/') *h = '_';
  pb_tb_file *f = pb_xcalloc(1, sizeof *f);
  double now = wall_now();
  snprintf(f->path, sizeof f->path, "%s/events.out.tfevents.%lld.%s.%ld.%d", dir, (long long)now, host,
           (long)getpid(), counter++);
  int fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0 || !(f->fp = fdopen(fd, "wb"))) {
    pb_err_set(err, "[log] tensorboard: cannot create the events file %s: %s", f->path, strerror(errno));
    if (fd >= 0) close(fd);
    free(f);
    return NULL;
  }
  uint8_t ev[64];
  size_t n = pb_tb_event_version(ev, sizeof ev, now);
  if (write_record(f, ev, n) || fflush(f->fp)) {
    pb_err_set(err, "[log] tensorboard: cannot write the events file %s: %s", f->path, strerror(errno));
    fclose(f->fp);
    free(f);
    return NULL;
  }
  return f;
}

int pb_tb_scalar(pb_tb_file *f, const char *tag, int64_t step, double value) {
  uint8_t ev[400];
  size_t n = pb_tb_event_scalar(ev, sizeof ev, wall_now(), step, tag, (float)value);
  PB_ASSERT(n > 0);
  return write_record(f, ev, n);
}

int pb_tb_flush(pb_tb_file *f) { return fflush(f->fp) ? PB_ERR : PB_OK; }

int pb_tb_close(pb_tb_file *f) {
  if (!f) return PB_OK;
  int rc = fclose(f->fp) ? PB_ERR : PB_OK;
  free(f);
  return rc;
}

/* ------------------------------------------------------------------ the report writer */

typedef struct {
  pb_tb_file *file;
  int warned; /* one warning for a file that stopped taking writes, not one per line */
} tb_priv;

/* Writes cells as scalars at step (tags: prefix + cell name), then flushes. */
static void tb_cells(tb_priv *p, const char *prefix, int64_t step, const pb_report_cells *c) {
  int bad = 0;
  for (int i = 0; i < c->n && !bad; i++) {
    char tag[128];
    snprintf(tag, sizeof tag, "%s%s", prefix, c->name[i]);
    bad = pb_tb_scalar(p->file, tag, step, strtod(c->val[i], NULL)) != PB_OK;
  }
  if (!bad) bad = pb_tb_flush(p->file) != PB_OK;
  if (bad && !p->warned) {
    p->warned = 1;
    pb_log("warning: cannot write %s: %s", pb_tb_path(p->file), strerror(errno));
  }
}

static void tb_epoch(pb_report_writer *w, const pb_terms *l, const pb_epoch_figures *f) {
  pb_report_cells *c = pb_xmalloc(sizeof *c);
  pb_report_cells_of(l, f, c);
  tb_cells(w->priv, "", f->step, c);
  free(c);
}

static void tb_progress(pb_report_writer *w, int64_t step, const pb_report_cells *c) {
  tb_cells(w->priv, "progress/", step, c);
}

static void tb_free(pb_report_writer *w) {
  tb_priv *p = w->priv;
  if (p->file) {
    char path[4400];
    snprintf(path, sizeof path, "%s", pb_tb_path(p->file));
    if (pb_tb_close(p->file) && !p->warned) pb_log("warning: cannot write %s: %s", path, strerror(errno));
  }
  free(p);
  free(w);
}

pb_report_writer *pb_report_tensorboard(const char *dir, pb_err *err) {
  pb_tb_file *file = pb_tb_open(dir, err);
  if (!file) return NULL;
  pb_report_writer *w = pb_xcalloc(1, sizeof *w);
  tb_priv *p = pb_xcalloc(1, sizeof *p);
  p->file = file;
  pb_log("tensorboard: writing %s", pb_tb_path(file));
  w->name = "tensorboard";
  w->epoch = tb_epoch;
  w->progress = tb_progress;
  w->free = tb_free;
  w->priv = p;
  return w;
}
