/* image.c: image decoding (image.h): stb_image (compiled here, static, JPEG/PNG/BMP only) and
 * the TurboJPEG fast path for JPEG, each behind a check of the file's structure (jpeg_scan.h,
 * png_scan.h). The writers are in image_write.c. */
#include "loaders/image.h"

#include "loaders/jpeg_scan.h"
#include "loaders/png_scan.h"

#include <errno.h>
#include <string.h>

/* The unused static stb functions are only reported at the end of the file. */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
/* With TurboJPEG, stb_image never sees a JPEG: its JPEG decoder has undefined behaviour (shifts
 * past 32 bits, reads of unset tables) on corrupt entropy data that no check of the headers can
 * rule out. Builds without libturbojpeg fall back on it. */
#if !PLUMB_HAVE_TURBOJPEG
#define STBI_ONLY_JPEG
#endif
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#include <stb_image.h>
#pragma GCC diagnostic pop

#if PLUMB_HAVE_TURBOJPEG
#include <turbojpeg.h>
#endif

void pb_image_free(pb_image *im) {
  if (!im) return;
  free(im->data);
  memset(im, 0, sizeof *im);
}

static uint8_t *image_reserve(pb_image *im, int w, int h, int c) {
  size_t need = (size_t)w * h * c;
  if (need > im->cap) {
    im->data = pb_xrealloc(im->data, need);
    im->cap = need;
  }
  im->w = w, im->h = h, im->c = c;
  return im->data;
}

int pb_decoder_has_turbojpeg(void) { return PLUMB_HAVE_TURBOJPEG; }

void pb_decoder_init(pb_decoder *d, int reduced_dct, int convert_channels) {
  memset(d, 0, sizeof *d);
  d->convert = convert_channels;
  d->reduce = reduced_dct;
  d->max_pixels = PB_IMAGE_MAX_PIXELS;
#if PLUMB_HAVE_TURBOJPEG
  d->tj = tjInitDecompress();
  if (!d->tj) PB_FATAL("tjInitDecompress: %s", tjGetErrorStr2(NULL));
#endif
}

void pb_decoder_free(pb_decoder *d) {
  if (!d) return;
#if PLUMB_HAVE_TURBOJPEG
  if (d->tj) tjDestroy(d->tj);
#endif
  free(d->file);
  memset(d, 0, sizeof *d);
}

static int too_large(const pb_decoder *d, int64_t w, int64_t h, pb_err *err) {
  if (w <= 0 || h <= 0) return pb_err_set(err, "corrupt image header (%lldx%lld pixels)", (long long)w, (long long)h);
  if (w * h <= d->max_pixels) return PB_OK;
  return pb_err_set(err, "image of %lldx%lld pixels is larger than [loader] max_image_pixels = %lld", (long long)w,
                    (long long)h, (long long)d->max_pixels);
}

static int channels_fit(const pb_decoder *d, int stored, int channels, const char *what, pb_err *err) {
  if (d->convert || stored == channels) return PB_OK;
  return pb_err_set(err, "unexpected channel count: %d stored%s, %d wanted ([data] convert_channels = true converts)",
                    stored, what, channels);
}

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

/* stb_image decodes an uncompressed BMP (it has no RLE) of any size its header claims, reading
 * zeros past the end of the file: a 120-byte file claiming 6 x 12.7M pixels costs a worker
 * 230 MB and seconds. The pixel rows the header describes must be in the file. */
static int check_bmp(const uint8_t *b, size_t len, pb_err *err) {
  if (len < 26) return pb_err_set(err, "truncated BMP header");
  uint32_t off = le32(b + 10), hs = le32(b + 14);
  int64_t w, h, bpp, comp = 0;
  if (hs == 12) {
    w = b[18] | b[19] << 8, h = b[20] | b[21] << 8, bpp = b[24] | b[25] << 8;
  } else {
    if (hs < 40 || len < 34) return pb_err_set(err, "corrupt BMP header (size %u)", hs);
    w = (int32_t)le32(b + 18), h = (int32_t)le32(b + 22), bpp = b[28] | b[29] << 8, comp = le32(b + 30);
  }
  if (h < 0) h = -h; /* top-down rows (INT32_MIN stays in range: h is 64-bit) */
  if (w <= 0 || h <= 0) return pb_err_set(err, "corrupt BMP header (%lldx%lld pixels)", (long long)w, (long long)h);
  if (comp != 0 && comp != 3 && comp != 6) return pb_err_set(err, "unsupported BMP compression %lld (RLE or embedded JPEG/PNG)", (long long)comp);
  if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
    return pb_err_set(err, "corrupt BMP header (%lld bits per pixel)", (long long)bpp);
  int64_t row = (bpp * w + 31) / 32 * 4;
  if (off > len || row > (int64_t)(len - off) / h)
    return pb_err_set(err, "truncated BMP (%lldx%lld pixels of %lld bits need %.0f bytes, the file holds %zu)", (long long)w,
                      (long long)h, (long long)bpp, (double)row * (double)h, off > len ? (size_t)0 : len - off);
  return PB_OK;
}

#if PLUMB_HAVE_TURBOJPEG
/* A handle that failed on one file may carry its state into the next one (a failed header
 * call leaves it mid-header): a loader worker gets a fresh handle after every failure. */
static int tj_fail(pb_decoder *d, pb_err *err, const char *what) {
  pb_err_set(err, "%s (%s)", what, tjGetErrorStr2(d->tj));
  tjDestroy(d->tj);
  d->tj = tjInitDecompress();
  return PB_ERR;
}

/* x * y / 255 rounded, as stb_image's stbi__blinn_8x8. */
static uint8_t blinn(unsigned x, unsigned y) {
  unsigned t = x * y + 128;
  return (uint8_t)((t + (t >> 8)) >> 8);
}

/* CMYK and YCCK JPEGs: TurboJPEG cannot convert them to RGB, and stb_image's JPEG decoder has
 * undefined behaviour on corrupt entropy data that no header check can rule out, so TurboJPEG
 * decodes the four stored channels (libjpeg turns YCCK into CMYK) and they are converted here
 * the way stb_image and Pillow read Adobe's inverted CMYK: R = C * K / 255 (likewise G from M,
 * B from Y), grey = (77 R + 150 G + 29 B) >> 8. */
static int decode_tj_cmyk(pb_decoder *d, const uint8_t *buf, size_t len, uint8_t *dst, int sw, int sh, int channels,
                          pb_err *err) {
  uint8_t *cmyk = pb_xmalloc((size_t)sw * sh * 4);
  if (tjDecompress2(d->tj, buf, (unsigned long)len, cmyk, sw, 0, sh, TJPF_CMYK, 0)) {
    free(cmyk);
    return tj_fail(d, err, "corrupt JPEG data");
  }
  for (size_t i = 0; i < (size_t)sw * sh; i++) {
    const uint8_t *p = cmyk + 4 * i;
    uint8_t r = blinn(p[0], p[3]), g = blinn(p[1], p[3]), b = blinn(p[2], p[3]);
    if (channels == 3)
      dst[3 * i] = r, dst[3 * i + 1] = g, dst[3 * i + 2] = b;
    else
      dst[i] = (uint8_t)((r * 77 + g * 150 + b * 29) >> 8);
  }
  free(cmyk);
  return PB_OK;
}

/* info: the frame header as pb_jpeg_scan read it; TurboJPEG must agree with it. */
static int decode_tj(pb_decoder *d, const uint8_t *buf, size_t len, const pb_jpeg_info *info, int channels, int min_w,
                     int min_h, pb_image *out, pb_err *err) {
  int w = 0, h = 0, subsamp = -1, cs = -1;
  if (tjDecompressHeader3(d->tj, buf, (unsigned long)len, &w, &h, &subsamp, &cs))
    return tj_fail(d, err, "corrupt JPEG header");
  if (w != info->w || h != info->h) {
    tjDestroy(d->tj);
    d->tj = tjInitDecompress();
    return pb_err_set(err, "corrupt JPEG header (the decoder reads %dx%d, the frame header says %dx%d)", w, h,
                      info->w, info->h);
  }
  /* Smallest power-of-two reduction that still covers min_w x min_h. */
  int denom = 1;
  while (d->reduce && denom < 8 && min_w > 0 && min_h > 0 && (w + 2 * denom - 1) / (2 * denom) >= min_w &&
         (h + 2 * denom - 1) / (2 * denom) >= min_h)
    denom *= 2;
  int sw = (w + denom - 1) / denom, sh = (h + denom - 1) / denom;
  uint8_t *dst = image_reserve(out, sw, sh, channels);
  if (info->components == 4) return decode_tj_cmyk(d, buf, len, dst, sw, sh, channels, err);
  /* A warning (truncated or corrupt entropy data) leaves a partly grey image: refuse it. */
  if (tjDecompress2(d->tj, buf, (unsigned long)len, dst, sw, 0, sh, channels == 1 ? TJPF_GRAY : TJPF_RGB, 0))
    return tj_fail(d, err, "corrupt JPEG data");
  return PB_OK;
}
#endif

int pb_image_decode(pb_decoder *d, const uint8_t *buf, size_t len, int channels, int min_w, int min_h,
                    pb_image *out, pb_err *err) {
  PB_ASSERT(channels == 1 || channels == 3);
  if (len == 0) return pb_err_set(err, "empty file");
  if (len > 0x7FFFFFFF) return pb_err_set(err, "file over 2 GiB");
  int w, h, stored;
  if (pb_jpeg_sniff(buf, len)) {
    /* No decoder sees a JPEG before its every segment has been checked (jpeg_scan.h). */
    pb_jpeg_info info;
    if (pb_jpeg_scan(buf, len, &info, err) || too_large(d, info.w, info.h, err)) return PB_ERR;
    if (channels_fit(d, info.components, channels, info.components == 4 ? " (CMYK JPEG)" : "", err)) return PB_ERR;
#if PLUMB_HAVE_TURBOJPEG
    return decode_tj(d, buf, len, &info, channels, min_w, min_h, out, err);
#else
    (void)min_w, (void)min_h; /* no reduced DCT without TurboJPEG */
    if (info.undefined_tables)
      return pb_err_set(err, "corrupt JPEG: a scan uses a Huffman or quantisation table that is not defined%s",
                        info.components == 4 ? " (CMYK)" : "");
    if (!stbi_info_from_memory(buf, (int)len, &w, &h, &stored) || w != info.w || h != info.h)
      return pb_err_set(err, "corrupt JPEG header (%s)", stbi_failure_reason());
#endif
  } else {
    pb_png_info png;
    if (pb_png_sniff(buf, len) && pb_png_scan(buf, len, &png, err)) return PB_ERR;
    if (len >= 2 && buf[0] == 'B' && buf[1] == 'M' && check_bmp(buf, len, err)) return PB_ERR;
    if (!stbi_info_from_memory(buf, (int)len, &w, &h, &stored))
      return pb_err_set(err, "not a decodable JPEG, PNG or BMP image (%s)", stbi_failure_reason());
    if (too_large(d, w, h, err) || channels_fit(d, stored, channels, "", err)) return PB_ERR;
  }
  /* The bit depth from the IHDR chunk (stbi_is_16_bit_from_memory misses some files). */
  if (len > 25 && !memcmp(buf, "\x89PNG", 4) && buf[24] == 16) {
    /* stb would truncate (v >> 8); round to the nearest 8-bit level instead. */
    stbi_us *p = stbi_load_16_from_memory(buf, (int)len, &w, &h, &stored, channels);
    if (!p) return pb_err_set(err, "corrupt image data (%s)", stbi_failure_reason());
    uint8_t *dst = image_reserve(out, w, h, channels);
    size_t n = (size_t)w * h * channels;
    for (size_t i = 0; i < n; i++) dst[i] = (uint8_t)(((uint32_t)p[i] * 255u + 32767u) / 65535u);
    stbi_image_free(p);
    return PB_OK;
  }
  uint8_t *p = stbi_load_from_memory(buf, (int)len, &w, &h, &stored, channels);
  if (!p) return pb_err_set(err, "corrupt image data (%s)", stbi_failure_reason());
  if (w <= 0 || h <= 0) {
    stbi_image_free(p);
    return pb_err_set(err, "corrupt image data (%dx%d pixels)", w, h);
  }
  memcpy(image_reserve(out, w, h, channels), p, (size_t)w * h * channels);
  stbi_image_free(p);
  return PB_OK;
}

int pb_image_load(pb_decoder *d, const char *path, int channels, int min_w, int min_h, pb_image *out, pb_err *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return pb_err_set(err, "%s: cannot open: %s", path, strerror(errno));
  d->file_len = 0;
  for (;;) {
    if (d->file_cap - d->file_len < 65536) {
      d->file_cap = d->file_cap ? 2 * d->file_cap : 1 << 20;
      d->file = pb_xrealloc(d->file, d->file_cap);
    }
    size_t got = fread(d->file + d->file_len, 1, d->file_cap - d->file_len, f);
    d->file_len += got;
    if (got == 0) break;
    if (d->file_len > ((size_t)1 << 31)) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) return pb_err_set(err, "%s: read error", path);
  if (pb_image_decode(d, d->file, d->file_len, channels, min_w, min_h, out, err)) return pb_err_prefix(err, "%s", path);
  return PB_OK;
}
