/* image_write.c: the PNG and JPEG writers of image.h (tests, sample grids, benchmark corpora).
 * PNG through stb_image_write; JPEG through TurboJPEG's compressor when plumb is built with it
 * (stb_image_write's JPEG encoder shifts its bit buffer past the range of an int, which UBSan
 * flags), else through stb_image_write. Both write a temporary file and rename it. */
#include "loaders/image.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#pragma GCC diagnostic pop

#if PLUMB_HAVE_TURBOJPEG
#include <turbojpeg.h>
#endif

static int rename_into_place(const char *tmp, const char *path, pb_err *err) {
  if (!rename(tmp, path)) return PB_OK;
  pb_err_set(err, "%s: cannot rename into place: %s", path, strerror(errno));
  remove(tmp);
  return PB_ERR;
}

int pb_image_write_png(const char *path, const uint8_t *hwc, int w, int h, int c, pb_err *err) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  if (!stbi_write_png(tmp, w, h, c, hwc, w * c)) return pb_err_set(err, "%s: cannot write the PNG", tmp);
  return rename_into_place(tmp, path, err);
}

#if PLUMB_HAVE_TURBOJPEG
static int write_jpg_tj(const char *tmp, const uint8_t *hwc, int w, int h, int c, int quality, pb_err *err) {
  /* Grey + alpha has no TurboJPEG pixel format: the alpha is dropped, as stb_image_write does. */
  uint8_t *grey = NULL;
  if (c == 2) {
    grey = pb_xmalloc((size_t)w * h);
    for (size_t i = 0; i < (size_t)w * h; i++) grey[i] = hwc[2 * i];
    hwc = grey, c = 1;
  }
  static const int fmt[5] = {0, TJPF_GRAY, 0, TJPF_RGB, TJPF_RGBX};
  tjhandle tj = tjInitCompress();
  unsigned char *jpg = NULL;
  unsigned long n = 0;
  int rc = PB_OK;
  /* Chroma subsampled at quality <= 90 only, as stb_image_write does. */
  int samp = c == 1 ? TJSAMP_GRAY : quality > 90 ? TJSAMP_444 : TJSAMP_420;
  if (!tj || tjCompress2(tj, hwc, w, 0, h, fmt[c], &jpg, &n, samp, quality, 0)) {
    rc = pb_err_set(err, "%s: cannot encode the JPEG (%s)", tmp, tj ? tjGetErrorStr2(tj) : "no TurboJPEG handle");
  } else {
    FILE *f = fopen(tmp, "wb");
    if (!f || fwrite(jpg, 1, n, f) != n) rc = pb_err_set(err, "%s: cannot write the JPEG: %s", tmp, strerror(errno));
    if (f && fclose(f) && rc == PB_OK) rc = pb_err_set(err, "%s: cannot write the JPEG: %s", tmp, strerror(errno));
  }
  tjFree(jpg);
  if (tj) tjDestroy(tj);
  free(grey);
  return rc;
}
#endif

int pb_image_write_jpg(const char *path, const uint8_t *hwc, int w, int h, int c, int quality, pb_err *err) {
  PB_ASSERT(c >= 1 && c <= 4 && quality >= 1 && quality <= 100);
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
#if PLUMB_HAVE_TURBOJPEG
  if (write_jpg_tj(tmp, hwc, w, h, c, quality, err)) {
    remove(tmp);
    return PB_ERR;
  }
#else
  if (!stbi_write_jpg(tmp, w, h, c, hwc, quality)) return pb_err_set(err, "%s: cannot write the JPEG", tmp);
#endif
  return rename_into_place(tmp, path, err);
}
