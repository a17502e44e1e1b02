/* test_tensorboard.c: the TensorBoard events writer (engine/run/tensorboard.h): CRC32C on its
 * standard check values (RFC 3720 B.4), the masked CRC of TFRecord, Event encodings and their
 * frames byte-compared to test/fixtures/tensorboard_events.bin (written by protobuf and
 * TensorBoard's RecordWriter: scripts/fixtures/gen_tensorboard_fixture.py), and a file written
 * through pb_tb_open read back record by record. The reader side (TensorBoard's own
 * EventAccumulator on a real run) is test/cli/test_cli_tensorboard.sh. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/run/tensorboard.h"
#include "test/testutil.h"

static void test_crc(void) {
  PB_CHECK(pb_crc32c(0, "123456789", 9) == 0xe3069283u);
  PB_CHECK(pb_crc32c(0, "", 0) == 0);
  uint8_t b[32];
  memset(b, 0, sizeof b);
  PB_CHECK(pb_crc32c(0, b, 32) == 0x8a9136aau);
  memset(b, 0xff, sizeof b);
  PB_CHECK(pb_crc32c(0, b, 32) == 0x62a8ab43u);
  for (int i = 0; i < 32; i++) b[i] = (uint8_t)i;
  PB_CHECK(pb_crc32c(0, b, 32) == 0x46dd794eu);
  for (int i = 0; i < 32; i++) b[i] = (uint8_t)(31 - i);
  PB_CHECK(pb_crc32c(0, b, 32) == 0x113fdb5cu);
  /* continuing a CRC over a split buffer gives the one-shot value */
  PB_CHECK(pb_crc32c(pb_crc32c(0, "1234", 4), "56789", 5) == 0xe3069283u);
  /* TFRecord's mask: ((c >> 15) | (c << 17)) + 0xa282ead8; the value TensorBoard's masked_crc32c
   * gives for "123456789" */
  PB_CHECK(pb_crc32c_mask(0xe3069283u) == 0xc78ab0e5u);
  PB_CHECK(pb_crc32c_mask(0) == 0xa282ead8u);
}

static uint8_t *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *buf = malloc(1 << 16);
  *n = fread(buf, 1, 1 << 16, f);
  fclose(f);
  return buf;
}

/* Appends the frame of an encoded event to out at *at. */
static void frame_into(uint8_t *out, size_t *at, const uint8_t *ev, size_t n) {
  pb_tfrecord_frame(out + *at, ev, n);
  *at += n + 16;
}

static void test_fixture(void) {
  size_t nref = 0;
  uint8_t *ref = read_all(PLUMB_FIXTURES "/tensorboard_events.bin", &nref);
  PB_CHECK_MSG(ref != NULL, "cannot read %s", PLUMB_FIXTURES "/tensorboard_events.bin");
  if (!ref) return;
  uint8_t got[2048], ev[512];
  size_t at = 0, n;
  n = pb_tb_event_version(ev, sizeof ev, 1234567890.5);
  PB_CHECK(n == 24);
  frame_into(got, &at, ev, n);
  n = pb_tb_event_scalar(ev, sizeof ev, 1234567891.25, 42, "train_loss", 0.5f);
  PB_CHECK(n > 0);
  frame_into(got, &at, ev, n);
  n = pb_tb_event_scalar(ev, sizeof ev, 1700000000.125, 0, "progress/lr", -1.75f);
  frame_into(got, &at, ev, n);
  n = pb_tb_event_scalar(ev, sizeof ev, 1700000001.0, ((int64_t)1 << 40) + 3, "test_conflicting_acc", 0.1f);
  frame_into(got, &at, ev, n);
  PB_CHECK_MSG(at == nref, "%zu bytes, the fixture has %zu", at, nref);
  for (size_t i = 0; i < at && i < nref; i++)
    if (got[i] != ref[i]) {
      PB_CHECK_MSG(got[i] == ref[i], "byte %zu: 0x%02x, the fixture has 0x%02x", i, got[i], ref[i]);
      break;
    }
  /* a buffer too small is refused, not overrun */
  PB_CHECK(pb_tb_event_version(ev, 10, 1.0) == 0);
  PB_CHECK(pb_tb_event_scalar(ev, 20, 1.0, 7, "a_long_enough_tag_name", 1.0f) == 0);
  free(ref);
}

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static void test_file(void) {
  char dir[] = "/tmp/pb_test_tb.XXXXXX";
  PB_CHECK(mkdtemp(dir) != NULL);
  pb_err err = {0};
  pb_tb_file *f = pb_tb_open(dir, &err);
  PB_CHECK_MSG(f != NULL, "%s", err.msg);
  if (!f) return;
  char path[4400];
  snprintf(path, sizeof path, "%s", pb_tb_path(f));
  PB_CHECK(!strncmp(path, dir, strlen(dir)) && strstr(path, "/events.out.tfevents.") != NULL);
  PB_CHECK(pb_tb_scalar(f, "train_loss", 10, 2.25) == PB_OK);
  PB_CHECK(pb_tb_scalar(f, "lr", 10, 0.05) == PB_OK);
  PB_CHECK(pb_tb_close(f) == PB_OK);
  size_t n = 0;
  uint8_t *buf = read_all(path, &n);
  PB_CHECK(buf != NULL);
  int records = 0;
  for (size_t at = 0; buf && at + 12 <= n; records++) {
    uint64_t len = 0;
    for (int i = 0; i < 8; i++) len |= (uint64_t)buf[at + i] << (8 * i);
    PB_CHECK(le32(buf + at + 8) == pb_crc32c_mask(pb_crc32c(0, buf + at, 8)));
    PB_CHECK(at + 16 + len <= n);
    if (at + 16 + len > n) break;
    PB_CHECK(le32(buf + at + 12 + len) == pb_crc32c_mask(pb_crc32c(0, buf + at + 12, len)));
    if (records == 0) PB_CHECK(len == 24 && !memcmp(buf + at + 12 + 11, "brain.Event:2", 13));
    at += 16 + len;
  }
  PB_CHECK(records == 3);
  free(buf);
  unlink(path);
  /* a second file in the same folder and second has its own name (the counter) */
  pb_tb_file *a = pb_tb_open(dir, &err), *b = pb_tb_open(dir, &err);
  PB_CHECK(a && b && strcmp(pb_tb_path(a), pb_tb_path(b)));
  if (a) unlink(pb_tb_path(a));
  if (b) unlink(pb_tb_path(b));
  pb_tb_close(a);
  pb_tb_close(b);
  rmdir(dir);
  /* a folder that does not exist: an error naming the path */
  memset(&err, 0, sizeof err);
  PB_CHECK(pb_tb_open("/nonexistent/pb_tb", &err) == NULL);
  PB_CHECK_MSG(strstr(err.msg, "/nonexistent/pb_tb/events.out.tfevents.") != NULL, "%s", err.msg);
}

int main(void) {
  test_crc();
  test_fixture();
  test_file();
  return pb_test_exit("test_tensorboard");
}
