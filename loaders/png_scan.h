/* png_scan.h: a strict walk over the chunks of a PNG file before stb_image sees it.
 *
 * stb_image grows its IDAT buffer to a chunk's declared length before it checks that the bytes
 * are there: a 150-byte PNG declaring a 1.4 GB IDAT chunk makes a loader worker allocate 1.4 GB.
 * plumb hands a PNG to stb only after this walk has checked that every chunk lies within the
 * file, that the header (IHDR) is first and valid, the critical chunks' CRCs, a palette where the
 * colour type needs one, at least one IDAT, and the IEND chunk (a file cut short has none).
 * No twin (host-only parsing). */
#ifndef PB_PNG_SCAN_H
#define PB_PNG_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/pb_common.h"

typedef struct pb_png_info {
  int w, h;
  int bit_depth;  /* 1, 2, 4, 8 or 16 */
  int colour;     /* 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA */
  int channels;   /* stored channels: 1, 3, 3 (palette), 2, 4 */
} pb_png_info;

/* 1 when buf starts with the 8-byte PNG signature. */
int pb_png_sniff(const uint8_t *buf, size_t len);

/* Walks buf[len]. Returns PB_OK and fills *info, or PB_ERR with the reason (without a path). */
int pb_png_scan(const uint8_t *buf, size_t len, pb_png_info *info, pb_err *err);

#endif
