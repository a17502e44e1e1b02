/* image.h: decoding image files into 8-bit interleaved pixels (HWC).
 *
 * PNG and BMP through stb_image (grey, grey+alpha, RGB, RGBA; 16-bit PNG rounded to 8 bits),
 * JPEG (grey, YCbCr, CMYK / YCCK) through TurboJPEG, which may decode at a reduced DCT scale
 * (1/2, 1/4, 1/8) when the caller needs an image at least 2x smaller than the stored one; a
 * build without TurboJPEG (PLUMB_HAVE_TURBOJPEG 0) decodes JPEG with stb_image, whose JPEG
 * decoder has undefined behaviour on some corrupt files. Every file's structure is checked
 * before a decoder sees it (jpeg_scan.h, png_scan.h, the BMP header). A file that cannot be decoded is reported, never a crash:
 * missing, empty, truncated, corrupt, not an image, or (when conversion is off) a stored
 * channel count other than the one wanted. */
#ifndef PB_IMAGE_H
#define PB_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/pb_common.h"

/* An 8-bit image, rows of w * c interleaved bytes; data is a reusable buffer (cap bytes). */
typedef struct pb_image {
  int w, h, c;
  uint8_t *data;
  size_t cap;
} pb_image;
void pb_image_free(pb_image *im);

/* Pillow's limit for a decompression bomb (2 x its warning threshold): a 60000 x 60000 JPEG
 * header in a few hundred bytes must not make a worker allocate 10 GB. */
#define PB_IMAGE_MAX_PIXELS ((int64_t)178956970)

/* One per thread: a TurboJPEG handle (when enabled) and the file buffer. */
typedef struct pb_decoder {
  void *tj;           /* tjhandle (NULL in builds without TurboJPEG) */
  int reduce;         /* TurboJPEG may decode at a reduced DCT scale (pb_decoder_init) */
  int convert;        /* 1: convert any of 1..4 stored channels; 0: other counts are an error */
  int64_t max_pixels; /* stored width x height above this is refused (PB_IMAGE_MAX_PIXELS) */
  uint8_t *file;      /* the last file read */
  size_t file_len, file_cap;
} pb_decoder;

/* JPEGs go to TurboJPEG (stb_image's JPEG decoder only in builds without it). reduced_dct: 1
 * lets TurboJPEG decode at 1/2, 1/4 or 1/8 scale when the caller's min_w x min_h allows (see
 * pb_image_decode); 0 always decodes at full size. Sets max_pixels to PB_IMAGE_MAX_PIXELS; the
 * caller may lower or raise it. */
void pb_decoder_init(pb_decoder *d, int reduced_dct, int convert_channels);
void pb_decoder_free(pb_decoder *d);
/* 1 when this build has the TurboJPEG path. */
int pb_decoder_has_turbojpeg(void);

/* Decodes buf[len] into out with `channels` (1 or 3) channels. min_w/min_h: the smallest
 * size the caller can use (0 = full size); TurboJPEG then decodes at the smallest DCT scale
 * 1/2, 1/4 or 1/8 whose result is still at least that large. Returns PB_ERR with the reason
 * (without the path) for anything that is not a decodable image. */
int pb_image_decode(pb_decoder *d, const uint8_t *buf, size_t len, int channels, int min_w, int min_h,
                    pb_image *out, pb_err *err);
/* Reads path into d->file and decodes it; errors name the path. */
int pb_image_load(pb_decoder *d, const char *path, int channels, int min_w, int min_h, pb_image *out, pb_err *err);

/* Writes an 8-bit PNG (tests, sample grids); c in 1..4. */
int pb_image_write_png(const char *path, const uint8_t *hwc, int w, int h, int c, pb_err *err);
/* Writes a baseline JPEG of quality 1..100 (tests, benchmark corpora); c in 1..4. */
int pb_image_write_jpg(const char *path, const uint8_t *hwc, int w, int h, int c, int quality, pb_err *err);

#endif
