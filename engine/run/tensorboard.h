/* tensorboard.h: TensorBoard event files ([log] tensorboard = true), written without a protobuf
 * library: TFRecord framing of hand-encoded `Event` messages (tensorboard/compat/proto/event.proto,
 * summary.proto), scalars only.
 *
 * A record is: uint64 length (little-endian), masked CRC32C of those 8 bytes, the data, masked
 * CRC32C of the data; mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8. The file's first record
 * is Event{wall_time = 1, file_version = 3: "brain.Event:2"}; then one Event per scalar:
 * Event{wall_time (double, 1), step (int64, 2), summary (5): Summary{value (1):
 * Value{tag (string, 1), simple_value (float, 2)}}}. Fields at their proto3 default (step 0)
 * are left out, as protobuf's own encoder does.
 *
 * The file is RUN_DIR/events.out.tfevents.<unix seconds>.<hostname>.<pid>.<counter> (the run
 * folder itself, so that `tensorboard --logdir runs/` names each run by its folder). Every
 * session of a run (each resume) writes a new file beside the earlier ones; TensorBoard merges
 * the files of a folder. Records are flushed at every progress line and epoch row, so a killed
 * run keeps what was flushed; TensorBoard's reader ignores a record cut short at the end. */
#ifndef PB_RUN_TENSORBOARD_H
#define PB_RUN_TENSORBOARD_H

#include <stdint.h>

#include "engine/run/report.h"
#include "kernels/pb_common.h"

/* CRC32C (Castagnoli, reflected polynomial 0x82f63b78) of n bytes, continuing from crc (0 to
 * start): pb_crc32c(0, "123456789", 9) = 0xe3069283. */
uint32_t pb_crc32c(uint32_t crc, const void *data, size_t n);
/* TFRecord's masked CRC32C: ((c >> 15) | (c << 17)) + 0xa282ead8. */
uint32_t pb_crc32c_mask(uint32_t crc);

/* The encoded Event of the file's first record into buf (cap bytes): wall_time and
 * file_version "brain.Event:2". Returns the length, 0 when cap is too small. */
size_t pb_tb_event_version(uint8_t *buf, size_t cap, double wall_time);
/* The encoded Event of one scalar into buf (cap bytes): Event{wall_time, step,
 * summary{value{tag, simple_value}}}. Returns the length, 0 when cap is too small. */
size_t pb_tb_event_scalar(uint8_t *buf, size_t cap, double wall_time, int64_t step, const char *tag, float value);
/* The TFRecord frame of n data bytes into out (n + 16 bytes). */
void pb_tfrecord_frame(uint8_t *out, const uint8_t *data, size_t n);

/* An open events file. */
typedef struct pb_tb_file pb_tb_file;

/* Creates a new events file in folder dir (which must exist) and writes its version record.
 * Fails with a message naming the path when the file cannot be created or written. */
pb_tb_file *pb_tb_open(const char *dir, pb_err *err);
/* The path of the file. */
const char *pb_tb_path(const pb_tb_file *f);
/* Appends one scalar event (buffered; pb_tb_flush writes it out). Tags longer than 255 bytes
 * are cut. Returns PB_ERR (errno set) when the write failed. */
int pb_tb_scalar(pb_tb_file *f, const char *tag, int64_t step, double value);
/* Pushes buffered events to the file. Returns PB_ERR (errno set) when that failed. */
int pb_tb_flush(pb_tb_file *f);
/* Flushes and closes; NULL is fine. Returns PB_ERR when the final flush or close failed. */
int pb_tb_close(pb_tb_file *f);

/* The report writer of [log] tensorboard: a new events file in run folder dir; per progress
 * line the progress cells at that step (tags prefixed "progress/": progress/train_loss,
 * progress/train_acc, progress/lr, progress/images_per_second, ...), per epoch every
 * metrics.csv column under its own name at the epoch's last step. NULL with err set when the
 * file cannot be created; later write failures are one warning in the log. */
pb_report_writer *pb_report_tensorboard(const char *dir, pb_err *err);

#endif
