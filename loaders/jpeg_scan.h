/* jpeg_scan.h: a strict walk over the marker segments of a JPEG file before any decoder sees it.
 *
 * Decoders trust parts of a JPEG that a hostile file can get wrong: stb_image 2.27 writes past
 * its Huffman tables when a DHT segment's 16 code counts sum to more than 256, TurboJPEG's header
 * call can succeed on a stream without a frame header and leave the size unwritten. plumb hands a
 * JPEG to a decoder only after this walk has checked every segment's length, every DHT and DQT
 * table, the frame header (one SOF with sane size and 1, 3 or 4 components) and each scan header,
 * and has found the end-of-image marker. No twin (host-only parsing). */
#ifndef PB_JPEG_SCAN_H
#define PB_JPEG_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/pb_common.h"

typedef struct pb_jpeg_info {
  int w, h;        /* from the frame header */
  int components;  /* 1 (grey), 3 (YCbCr / RGB) or 4 (CMYK / YCCK) */
  int progressive; /* SOF2 */
  /* A scan uses a Huffman or quantisation table that no DHT / DQT segment defined before it.
   * libjpeg falls back on the standard Huffman tables (Motion-JPEG frames have none); stb_image
   * reads its uninitialised tables, so such a file must never reach it. */
  int undefined_tables;
} pb_jpeg_info;

/* 1 when buf looks like a JPEG to some decoder: it starts with 0xFF (stb_image skips any number
 * of 0xFF fill bytes before SOI; no PNG or BMP starts with 0xFF). */
int pb_jpeg_sniff(const uint8_t *buf, size_t len);

/* Walks buf[len] from SOI to EOI. Returns PB_OK and fills *info, or PB_ERR with the reason
 * (without a path): not starting with exactly FF D8, a segment running past the file, a bad
 * DHT / DQT / SOF / SOS / DRI segment, no or several frame headers, a scan before the frame
 * header, a frame of 12-bit, lossless or arithmetic-coded type, no EOI (truncated file). */
int pb_jpeg_scan(const uint8_t *buf, size_t len, pb_jpeg_info *info, pb_err *err);

#endif
