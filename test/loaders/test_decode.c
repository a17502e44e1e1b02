/* test_decode.c: loaders/image.c: PNGs and JPEGs written here (stb_image_write), the real
 * JPEGs and PNGs of Debian's darknet and python3-skimage packages (JPEGs through TurboJPEG, the
 * only JPEG decoder of a TurboJPEG build; the two decoders with and without reduced DCT agree at
 * full size), TurboJPEG's reduced DCT scale, 16-bit PNG rounding, and refusal (with a reason)
 * of truncated, empty, random and missing files. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "loaders/image.h"
#include "test/testutil.h"

#define DARKNET "/usr/share/darknet/data"
#define SKIMAGE "/usr/lib/python3/dist-packages/skimage/data"

static char g_dir[4096];

static const char *tpath(const char *name) { return pb_test_path(g_dir, name); }

/* A smooth test pattern (JPEG-friendly). */
static uint8_t *pattern(int w, int h, int c) {
  uint8_t *p = pb_xmalloc((size_t)w * h * c);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int ch = 0; ch < c; ch++)
        p[((size_t)y * w + x) * c + ch] = (uint8_t)(ch == 3 ? 200 : (x * 255 / w + ch * 60 + y * 100 / h) & 255);
  return p;
}

static void test_written(void) {
  pb_err err = {{0}};
  pb_decoder d;
  pb_decoder_init(&d, 1, 1);
  pb_image im = {0};
  for (int c = 1; c <= 4; c++) {
    uint8_t *p = pattern(37, 23, c);
    char name[64];
    snprintf(name, sizeof name, "p%d.png", c);
    PB_CHECK(pb_image_write_png(tpath(name), p, 37, 23, c, &err) == PB_OK);
    /* PNG is lossless: RGB reads back exactly (grey replicated, alpha dropped). */
    PB_CHECK_MSG(pb_image_load(&d, tpath(name), 3, 0, 0, &im, &err) == PB_OK, "%s", err.msg);
    PB_CHECK(im.w == 37 && im.h == 23 && im.c == 3);
    int same = 1;
    for (int i = 0; i < 37 * 23; i++)
      for (int ch = 0; ch < 3; ch++) same &= im.data[i * 3 + ch] == p[i * c + (c >= 3 ? ch : 0)];
    PB_CHECK_MSG(same, "PNG with %d channels", c);
    snprintf(name, sizeof name, "p%d.jpg", c);
    if (c == 1 || c == 3) {
      PB_CHECK(pb_image_write_jpg(tpath(name), p, 37, 23, c, 95, &err) == PB_OK);
      PB_CHECK_MSG(pb_image_load(&d, tpath(name), 3, 0, 0, &im, &err) == PB_OK, "%s", err.msg);
      double mad = 0;
      for (int i = 0; i < 37 * 23; i++)
        for (int ch = 0; ch < 3; ch++) mad += fabs((double)im.data[i * 3 + ch] - p[i * c + (c >= 3 ? ch : 0)]);
      mad /= 37 * 23 * 3;
      PB_CHECK_MSG(mad < 4.0, "JPEG (quality 95) of %d channels: mean abs error %.2f", c, mad);
    }
    free(p);
  }
  /* Without conversion a grey PNG in an RGB dataset is an unexpected channel count. */
  pb_decoder strict;
  pb_decoder_init(&strict, 1, 0);
  PB_CHECK(pb_image_load(&strict, tpath("p1.png"), 3, 0, 0, &im, &err) == PB_ERR && strstr(err.msg, "channel count"));
  PB_CHECK(pb_image_load(&strict, tpath("p3.png"), 3, 0, 0, &im, &err) == PB_OK);
  pb_decoder_free(&strict);
  pb_image_free(&im);
  pb_decoder_free(&d);
}

static void test_bad(void) {
  pb_err err = {{0}};
  pb_decoder dt, ds;
  pb_decoder_init(&dt, 1, 1);
  pb_decoder_init(&ds, 0, 1);
  pb_image im = {0};
  pb_test_write_file(tpath("empty.jpg"), "", 0);
  uint8_t junk[3000];
  for (int i = 0; i < 3000; i++) junk[i] = (uint8_t)(i * 2654435761u >> 13);
  pb_test_write_file(tpath("random.png"), junk, sizeof junk);
  /* A JPEG cut in half. */
  uint8_t *p = pattern(64, 64, 3);
  PB_CHECK(pb_image_write_jpg(tpath("whole.jpg"), p, 64, 64, 3, 90, &err) == PB_OK);
  FILE *f = fopen(tpath("whole.jpg"), "rb");
  uint8_t buf[65536];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  pb_test_write_file(tpath("half.jpg"), buf, n / 2);
  free(p);
  const char *bad[] = {"empty.jpg", "random.png", "half.jpg", "absent.png"};
  for (int i = 0; i < 4; i++)
    for (int k = 0; k < 2; k++) {
      err.msg[0] = 0;
      PB_CHECK_MSG(pb_image_load(k ? &ds : &dt, tpath(bad[i]), 3, 0, 0, &im, &err) == PB_ERR, "%s accepted", bad[i]);
      PB_CHECK_MSG(strstr(err.msg, bad[i]) != NULL, "message lacks the path: %s", err.msg);
    }
  const char *trunc = SKIMAGE "/truncated.jpg";
  if (fopen(trunc, "rb")) {
    for (int k = 0; k < 2; k++) {
      PB_CHECK_MSG(pb_image_load(k ? &ds : &dt, trunc, 3, 0, 0, &im, &err) == PB_ERR, "truncated.jpg accepted");
      printf("truncated.jpg (reduced DCT %s): %s\n", k ? "off" : "on", err.msg);
    }
  } else {
    printf("skimage data absent: truncated.jpg not tested\n");
  }
  pb_image_free(&im);
  pb_decoder_free(&dt);
  pb_decoder_free(&ds);
}

/* stb_image vs TurboJPEG on real photographs. Tolerance: the two use different integer
 * IDCTs and chroma upsampling, so pixels differ by rounding: measured max 3 levels, mean
 * <= 0.2 on the darknet and skimage JPEGs; asserted max |diff| <= 4, mean <= 0.5. */
static void test_real(void) {
  pb_err err = {{0}};
  pb_decoder dt, ds;
  pb_decoder_init(&dt, 1, 1);
  pb_decoder_init(&ds, 0, 1);
  pb_image a = {0}, b = {0};
  const char *dirs[] = {DARKNET, SKIMAGE};
  int decoded = 0;
  for (int di = 0; di < 2; di++) {
    DIR *dir = opendir(dirs[di]);
    if (!dir) {
      printf("%s absent: its images not tested (apt-get install %s)\n", dirs[di], di ? "python3-skimage" : "darknet");
      continue;
    }
    struct dirent *e;
    while ((e = readdir(dir))) {
      size_t L = strlen(e->d_name);
      int jpg = L > 4 && !strcmp(e->d_name + L - 4, ".jpg"), png = L > 4 && !strcmp(e->d_name + L - 4, ".png");
      if ((!jpg && !png) || !strcmp(e->d_name, "truncated.jpg")) continue;
      char path[4200];
      snprintf(path, sizeof path, "%s/%s", dirs[di], e->d_name);
      int ok = pb_image_load(&ds, path, 3, 0, 0, &a, &err) == PB_OK;
      PB_CHECK_MSG(ok, "%s", err.msg);
      if (!ok) continue;
      decoded++;
      if (!jpg || !pb_decoder_has_turbojpeg()) continue;
      PB_CHECK_MSG(pb_image_load(&dt, path, 3, 0, 0, &b, &err) == PB_OK, "%s", err.msg);
      PB_CHECK(a.w == b.w && a.h == b.h);
      if (a.w != b.w || a.h != b.h) continue;
      size_t n = (size_t)a.w * a.h * 3, over = 0;
      double sum = 0;
      int mx = 0;
      for (size_t i = 0; i < n; i++) {
        int dd = abs((int)a.data[i] - (int)b.data[i]);
        sum += dd;
        mx = PB_MAX(mx, dd);
        over += dd > 24;
      }
      printf("%-14s %4dx%-4d decoders without and with reduced DCT, full size: mean |diff| %.3f, max %d, >24 levels %.4f%%\n", e->d_name, a.w, a.h,
             sum / (double)n, mx, 100.0 * (double)over / (double)n);
      PB_CHECK_MSG(sum / (double)n <= 0.5, "%s: mean |diff| %.3f", e->d_name, sum / (double)n);
      PB_CHECK_MSG(mx <= 4 && over == 0, "%s: max |diff| %d", e->d_name, mx);
      /* Reduced DCT scale: asking for a quarter of the size decodes at 1/2 or smaller. */
      PB_CHECK(pb_image_load(&dt, path, 3, a.w / 4, a.h / 4, &b, &err) == PB_OK);
      PB_CHECK_MSG(b.w >= a.w / 4 && b.h >= a.h / 4 && b.w <= (a.w + 1) / 2 && b.h <= (a.h + 1) / 2,
                   "%s scaled to %dx%d", e->d_name, b.w, b.h);
    }
    closedir(dir);
  }
  printf("%d real images decoded\n", decoded);
  /* A real 16-bit RGB PNG (levels checked on the hand-written one, test_png16). */
  if (fopen(SKIMAGE "/chessboard_RGB.png", "rb")) {
    PB_CHECK_MSG(pb_image_load(&ds, SKIMAGE "/chessboard_RGB.png", 3, 0, 0, &a, &err) == PB_OK, "%s", err.msg);
    PB_CHECK(a.w == 200 && a.h == 200);
  }
  pb_image_free(&a);
  pb_image_free(&b);
  pb_decoder_free(&dt);
  pb_decoder_free(&ds);
}

static void put32(uint8_t *p, uint32_t v) { p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = (uint8_t)v; }

/* A 16-bit grey PNG of 4x1 pixels written by hand: 65280 must become 254 (65280 * 255 / 65535 =
 * 254.0; stb's own 8-bit conversion, v >> 8, gives 255), 257 -> 1, 65535 -> 255, 0 -> 0. */
static void test_png16(void) {
  uint16_t v[4] = {65280, 257, 65535, 0};
  uint8_t raw[9] = {0};
  for (int i = 0; i < 4; i++) raw[1 + 2 * i] = v[i] >> 8, raw[2 + 2 * i] = v[i] & 255;
  uint8_t z[128];
  uLongf zn = sizeof z;
  PB_ASSERT(compress(z, &zn, raw, sizeof raw) == Z_OK);
  uint8_t png[256];
  size_t n = 0;
  memcpy(png, "\x89PNG\r\n\x1a\n", 8), n = 8;
  uint8_t ihdr[13] = {0, 0, 0, 4, 0, 0, 0, 1, 16, 0, 0, 0, 0};
  const uint8_t *bodies[3] = {ihdr, z, NULL};
  size_t lens[3] = {13, zn, 0};
  const char *types[3] = {"IHDR", "IDAT", "IEND"};
  for (int c = 0; c < 3; c++) {
    put32(png + n, (uint32_t)lens[c]);
    memcpy(png + n + 4, types[c], 4);
    if (lens[c]) memcpy(png + n + 8, bodies[c], lens[c]);
    put32(png + n + 8 + lens[c], (uint32_t)crc32(0, png + n + 4, (uInt)(4 + lens[c])));
    n += 12 + lens[c];
  }
  pb_decoder d;
  pb_decoder_init(&d, 1, 1);
  pb_image im = {0};
  pb_err err = {{0}};
  PB_CHECK_MSG(pb_image_decode(&d, png, n, 1, 0, 0, &im, &err) == PB_OK, "%s", err.msg);
  if (im.data) PB_CHECK_MSG(im.data[0] == 254 && im.data[1] == 1 && im.data[2] == 255 && im.data[3] == 0,
                            "16-bit levels %d %d %d %d", im.data[0], im.data[1], im.data[2], im.data[3]);
  pb_image_free(&im);
  pb_decoder_free(&d);
}

int main(void) {
  test_png16();
  snprintf(g_dir, sizeof g_dir, "%s", pb_test_tmpdir("test_decode"));
  printf("TurboJPEG in this build: %s\n", pb_decoder_has_turbojpeg() ? "yes" : "no");
  test_written();
  test_bad();
  test_real();
  return pb_test_exit("test_decode");
}
