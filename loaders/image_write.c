/* image_write.c: the PNG and JPEG writers of image.h (tests, sample grids, benchmark corpora).
 * PNG through stb_image_write; JPEG through TurboJPEG's compressor when plumb is built with it
 * (stb_image_write's JPEG encoder shifts its bit buffer past the range of an int, which UBSan
 * flags), else through stb_image_write. Both are written atomically (kernels/pb_file.h). */
#include "loaders/image.h"
#include "kernels/pb_file.h"

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

/* stb_image_write's callback: appends to the temporary file, remembering a short write. */
static void put(void *ctx, void *data, int size) {
  pb_afile *a = ctx;
  if (a->f && fwrite(data, 1, (size_t)size, a->f) != (size_t)size) {
    fclose(a->f);
    a->f = NULL; /* pb_image_write_png sees the failure */
  }
}

int pb_image_write_png(const char *path, const uint8_t *hwc, int w, int h, int c, pb_err *err) {
  pb_afile a;
  if (pb_afile_open(&a, path, err)) return PB_ERR;
  if (!stbi_write_png_to_func(put, &a, w, h, c, hwc, w * c) || !a.f) {
    pb_afile_abort(&a);
    return pb_err_set(err, "%s: cannot write the PNG", path);
  }
  return pb_afile_commit(&a, err);
}

#if PLUMB_HAVE_TURBOJPEG
/* Encodes with TurboJPEG into *jpg (tjFree it). */
static int encode_tj(const uint8_t *hwc, int w, int h, int c, int quality, unsigned char **jpg, unsigned long *n,
                     const char *path, pb_err *err) {
  /* Grey + alpha has no TurboJPEG pixel format: the alpha is dropped, as stb_image_write does. */
  uint8_t *grey = NULL;
  if (c == 2) {
    grey = pb_xmalloc((size_t)w * h);
    for (size_t i = 0; i < (size_t)w * h; i++) grey[i] = hwc[2 * i];
    hwc = grey, c = 1;
  }
  static const int fmt[5] = {0, TJPF_GRAY, 0, TJPF_RGB, TJPF_RGBX};
  tjhandle tj = tjInitCompress();
  int rc = PB_OK;
  /* Chroma subsampled at quality <= 90 only, as stb_image_write does. */
  int samp = c == 1 ? TJSAMP_GRAY : quality > 90 ? TJSAMP_444 : TJSAMP_420;
  if (!tj || tjCompress2(tj, hwc, w, 0, h, fmt[c], jpg, n, samp, quality, 0))
    rc = pb_err_set(err, "%s: cannot encode the JPEG (%s)", path, tj ? tjGetErrorStr2(tj) : "no TurboJPEG handle");
  if (tj) tjDestroy(tj);
  free(grey);
  return rc;
}
#endif

int pb_image_write_jpg(const char *path, const uint8_t *hwc, int w, int h, int c, int quality, pb_err *err) {
  PB_ASSERT(c >= 1 && c <= 4 && quality >= 1 && quality <= 100);
  pb_afile a;
#if PLUMB_HAVE_TURBOJPEG
  unsigned char *jpg = NULL;
  unsigned long n = 0;
  if (encode_tj(hwc, w, h, c, quality, &jpg, &n, path, err) || pb_afile_open(&a, path, err)) {
    tjFree(jpg);
    return PB_ERR;
  }
  int ok = fwrite(jpg, 1, n, a.f) == n;
  tjFree(jpg);
#else
  if (pb_afile_open(&a, path, err)) return PB_ERR;
  int ok = stbi_write_jpg_to_func(put, &a, w, h, c, hwc, quality) && a.f;
#endif
  if (!ok) {
    pb_afile_abort(&a);
    return pb_err_set(err, "%s: cannot write the JPEG", path);
  }
  return pb_afile_commit(&a, err);
}
