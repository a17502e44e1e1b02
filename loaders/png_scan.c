/* png_scan.c: the chunk walk declared in png_scan.h (PNG specification, 2nd edition, 5.3 and
 * 11.2). No twin (host-only parsing). */
#include "loaders/png_scan.h"

#include <string.h>
#include <zlib.h>

static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

int pb_png_sniff(const uint8_t *buf, size_t len) { return len >= 8 && !memcmp(buf, sig, 8); }

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Bit depths allowed for each colour type. */
static int depth_ok(int colour, int depth) {
  switch (colour) {
    case 0: return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    case 3: return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    case 2: case 4: case 6: return depth == 8 || depth == 16;
    default: return 0;
  }
}

int pb_png_scan(const uint8_t *b, size_t len, pb_png_info *info, pb_err *err) {
  memset(info, 0, sizeof *info);
  if (!pb_png_sniff(b, len)) return pb_err_set(err, "not a PNG: no PNG signature");
  size_t i = 8;
  int nchunk = 0, idat = 0, plte = 0, idat_done = 0;
  for (;;) {
    if (len - i < 12) return pb_err_set(err, "truncated PNG (no IEND chunk)");
    uint32_t n = be32(b + i);
    const uint8_t *type = b + i + 4, *data = b + i + 8;
    if (n > 0x7FFFFFFFu) return pb_err_set(err, "corrupt PNG: chunk length %u above 2^31 - 1", n);
    if (n > len - i - 12)
      return pb_err_set(err, "truncated PNG (chunk %.4s of %u bytes runs past the end of the file)", (const char *)type, n);
    for (int k = 0; k < 4; k++)
      if (!((type[k] >= 'A' && type[k] <= 'Z') || (type[k] >= 'a' && type[k] <= 'z')))
        return pb_err_set(err, "corrupt PNG: chunk type is not 4 letters");
    int critical = type[0] >= 'A' && type[0] <= 'Z';
    /* Fuzzing builds skip the CRC, as libpng's do, so that mutated files reach the decoder. */
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    if (critical) {
      uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), type, (uInt)n + 4);
      if (crc != be32(data + n)) return pb_err_set(err, "corrupt PNG: CRC mismatch in chunk %.4s", (const char *)type);
    }
#endif
    if (nchunk++ == 0 && memcmp(type, "IHDR", 4)) return pb_err_set(err, "corrupt PNG: the first chunk is not IHDR");
    if (!memcmp(type, "IHDR", 4)) {
      if (nchunk != 1) return pb_err_set(err, "corrupt PNG: a second IHDR chunk");
      if (n != 13) return pb_err_set(err, "corrupt PNG: IHDR of %u bytes", n);
      uint32_t w = be32(data), h = be32(data + 4);
      int depth = data[8], colour = data[9];
      if (w == 0 || h == 0 || w > 0x7FFFFFFFu || h > 0x7FFFFFFFu)
        return pb_err_set(err, "corrupt PNG: image of %ux%u pixels", w, h);
      if (!depth_ok(colour, depth)) return pb_err_set(err, "corrupt PNG: colour type %d with bit depth %d", colour, depth);
      if (data[10] != 0 || data[11] != 0 || data[12] > 1)
        return pb_err_set(err, "corrupt PNG: compression %d, filter %d, interlace %d", data[10], data[11], data[12]);
      static const int ch[7] = {1, 0, 3, 3, 2, 0, 4};
      info->w = (int)w, info->h = (int)h, info->bit_depth = depth, info->colour = colour, info->channels = ch[colour];
    } else if (!memcmp(type, "PLTE", 4)) {
      if (idat || plte++) return pb_err_set(err, "corrupt PNG: a PLTE chunk after IDAT or twice");
      if (n == 0 || n % 3 || n > 768) return pb_err_set(err, "corrupt PNG: PLTE of %u bytes", n);
    } else if (!memcmp(type, "IDAT", 4)) {
      if (idat_done) return pb_err_set(err, "corrupt PNG: IDAT chunks not consecutive");
      /* stb_image offsets its still-NULL buffer by an empty first IDAT (undefined behaviour). */
      if (!idat && n == 0) return pb_err_set(err, "unsupported PNG: an empty first IDAT chunk");
      idat++;
    } else if (!memcmp(type, "IEND", 4)) {
      break;
    } else if (critical) {
      return pb_err_set(err, "unsupported PNG: unknown critical chunk %.4s", (const char *)type);
    }
    if (idat && memcmp(type, "IDAT", 4)) idat_done = 1;
    i += 12 + (size_t)n;
  }
  if (!idat) return pb_err_set(err, "corrupt PNG: no IDAT chunk");
  if (info->colour == 3 && !plte) return pb_err_set(err, "corrupt PNG: a palette image without PLTE");
  return PB_OK;
}
