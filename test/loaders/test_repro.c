/* test_repro.c: every input that ever crashed or fooled plumb, as a regression test.
 *
 * Reads test/fixtures/repro/ (committed copies) and ../shared/repro/ beside the source tree
 * when it is there, so a new reproducer dropped into either folder is tested without a code
 * change. Each file goes to the parsers its name points at (image-*, tj-*: both decoders;
 * npy-*: the .npy reader; st-*: safetensors), any other data file to all of them: no crash,
 * no abort, and the bad ones refused with a message. After every image the same decoder must
 * still decode a good JPEG (a TurboJPEG handle poisoned by a bad file). Also: the CMYK JPEG is
 * reported as 4 channels, the 60000 x 60000 header is refused before anything is allocated,
 * and the poison sequence of the original report (good, truncated, good) on one handle. */
#include <dirent.h>
#include <string.h>

#include "engine/models/safetensors.h"
#include "loaders/augment.h"
#include "loaders/image.h"
#include "loaders/sources.h"
#include "test/testutil.h"

static uint8_t *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = pb_xmalloc((size_t)len + 1);
  *n = fread(b, 1, (size_t)len, f);
  fclose(f);
  return b;
}

static uint8_t *g_good;
static size_t g_good_n;

/* The decoder still works: a good JPEG decodes to its 64 x 48 (or whatever it is) size. */
static void check_still_good(pb_decoder *d, const char *after) {
  pb_image im = {0};
  pb_err err = {{0}};
  int rc = pb_image_decode(d, g_good, g_good_n, 3, 0, 0, &im, &err);
  PB_CHECK_MSG(rc == PB_OK && im.w > 0 && im.h > 0, "good JPEG after %s (tj %d): %s", after, d->tj != NULL, err.msg);
  pb_image_free(&im);
}

/* Decodes with both decoders, 1 and 3 channels, with and without conversion and reduced DCT,
 * then augments what decoded (the resampler reads the decoded size). expect_bad: must fail. */
static void run_image(const char *name, const uint8_t *b, size_t n, int expect_bad) {
  for (int tj = 0; tj <= 1; tj++)
    for (int conv = 0; conv <= 1; conv++)
      for (int ch = 1; ch <= 3; ch += 2)
        for (int mins = 0; mins <= 32; mins += 32) {
          pb_decoder d;
          pb_decoder_init(&d, tj, conv);
          pb_image im = {0};
          pb_err err = {{0}};
          int rc = pb_image_decode(&d, b, n, ch, mins, mins, &im, &err);
          if (expect_bad) PB_CHECK_MSG(rc == PB_ERR && err.msg[0], "%s decoded (tj %d ch %d)", name, tj, ch);
          if (rc == PB_OK) {
            PB_CHECK(im.w > 0 && im.h > 0 && im.c == ch);
            uint8_t out[3 * 32 * 32];
            pb_aug a = {.geom = PB_AUG_RRC, .out_c = ch, .out_h = 32, .out_w = 32, .scale = {0.08f, 1}, .ratio = {0.75f, 1.333f}, .flip = 0.5f};
            pb_aug_apply(&a, &im, 1, 0, 0, out);
            a.geom = PB_AUG_PAD_CROP, a.pad = 4;
            pb_aug_apply(&a, &im, 1, 0, 1, out);
          } else if (tj && conv && ch == 3 && !mins) {
            printf("  %-34s refused: %s\n", name, err.msg);
          }
          check_still_good(&d, name);
          pb_image_free(&im);
          pb_decoder_free(&d);
        }
}

static void run_npy(const char *name, const char *path, int expect_bad) {
  pb_npy x;
  pb_err err = {{0}};
  int rc = pb_npy_read(&x, path, &err);
  if (expect_bad) {
    PB_CHECK_MSG(rc == PB_ERR && err.msg[0], "%s was read", name);
    printf("  %-34s refused: %s\n", name, err.msg);
  }
  if (rc == PB_OK) pb_npy_free(&x);
}

static void run_st(const char *name, const char *path, int expect_bad) {
  pb_st_file f;
  pb_err err = {{0}};
  int rc = pb_st_read(&f, path, &err);
  if (expect_bad) {
    PB_CHECK_MSG(rc == PB_ERR && err.msg[0], "%s was read", name);
    printf("  %-34s refused: %s\n", name, err.msg);
  }
  if (rc == PB_OK) pb_st_free(&f);
}

static int starts(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

static int run_dir(const char *dir) {
  DIR *dd = opendir(dir);
  if (!dd) return 0;
  int count = 0;
  printf("%s:\n", dir);
  for (struct dirent *e; (e = readdir(dd));) {
    const char *nm = e->d_name;
    size_t L = strlen(nm);
    if (nm[0] == '.' || (L > 2 && !strcmp(nm + L - 2, ".c")) || (L > 3 && !strcmp(nm + L - 3, ".md"))) continue;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, nm);
    size_t n;
    uint8_t *b = slurp(path, &n);
    if (!b) continue;
    count++;
    int good = strstr(nm, "good") != NULL;
    if (starts(nm, "image-") || starts(nm, "tj-")) {
      run_image(nm, b, n, !good);
    } else if (starts(nm, "npy-")) {
      run_npy(nm, path, 1);
    } else if (starts(nm, "st-")) {
      run_st(nm, path, 1);
    } else { /* a reproducer of a kind this test does not know yet: every parser, no crash */
      run_image(nm, b, n, 0);
      run_npy(nm, path, 0);
      run_st(nm, path, 0);
    }
    free(b);
  }
  closedir(dd);
  return count;
}

/* The report's sequence: on ONE TurboJPEG decoder, good / truncated / good, five times over. */
static void test_poison_sequence(void) {
  size_t tn;
  uint8_t *trunc = slurp(pb_test_fixture("repro/tj-poison-truncated.jpg"), &tn);
  PB_CHECK(trunc != NULL);
  if (!trunc) return;
  /* A file the segment walk lets through but the decoder refuses: entropy data overwritten
   * in the middle, markers and EOI intact. It reaches TurboJPEG, fails there, and the handle
   * must come back clean. */
  uint8_t *mid = pb_xmalloc(g_good_n);
  memcpy(mid, g_good, g_good_n);
  size_t sos = 0;
  for (size_t i = 0; i + 1 < g_good_n; i++)
    if (mid[i] == 0xFF && mid[i + 1] == 0xDA) sos = i;
  for (size_t i = sos + 20; i + 4 < g_good_n; i += 3)
    if (mid[i] != 0xFF && mid[i - 1] != 0xFF) mid[i] = (uint8_t)(0x11 * (i % 13)); /* never 0xFF */
  for (int tj = 0; tj <= 1; tj++) {
    pb_decoder d;
    pb_decoder_init(&d, tj, 1);
    int ok = 0, bad = 0, midbad = 0;
    for (int r = 0; r < 5; r++) {
      pb_image im = {0};
      pb_err err = {{0}};
      ok += pb_image_decode(&d, g_good, g_good_n, 3, 32, 32, &im, &err) == PB_OK;
      bad += pb_image_decode(&d, trunc, tn, 3, 32, 32, &im, &err) == PB_ERR;
      ok += pb_image_decode(&d, g_good, g_good_n, 3, 32, 32, &im, &err) == PB_OK;
      midbad += pb_image_decode(&d, mid, g_good_n, 3, 0, 0, &im, &err) == PB_ERR;
      if (r == 0 && tj) printf("corrupt entropy data (tj 1): %s\n", err.msg);
      pb_image_free(&im);
    }
    PB_CHECK_MSG(ok == 10 && bad == 5 && (midbad == 5 || !tj),
                 "tj %d: %d of 10 good decoded, %d of 5 truncated and %d of 5 corrupt refused", tj, ok, bad, midbad);
    printf("poison sequence (tj %d): %d/10 good decoded, %d/5 truncated and %d/5 corrupt-data refused\n", tj, ok, bad,
           midbad);
    pb_decoder_free(&d);
  }
  free(mid);
  free(trunc);
}

static void test_cmyk_and_bomb(void) {
  size_t n;
  uint8_t *b = slurp(pb_test_fixture("images/cmyk.jpg"), &n);
  PB_CHECK(b != NULL);
  for (int tj = 0; b && tj <= 1; tj++) {
    pb_decoder d;
    pb_decoder_init(&d, tj, 0);
    pb_image im = {0};
    pb_err err = {{0}};
    PB_CHECK(pb_image_decode(&d, b, n, 3, 0, 0, &im, &err) == PB_ERR);
    PB_CHECK_MSG(strstr(err.msg, "4 stored (CMYK JPEG)") != NULL, "%s", err.msg);
    printf("cmyk.jpg without conversion (tj %d): %s\n", tj, err.msg);
    d.convert = 1;
    PB_CHECK(pb_image_decode(&d, b, n, 3, 0, 0, &im, &err) == PB_OK && im.w == 24 && im.h == 16);
    pb_image_free(&im);
    pb_decoder_free(&d);
  }
  /* The two decoder settings agree on a CMYK JPEG (both TurboJPEG + image.c's conversion at full
   * size, in a TurboJPEG build; stb_image's own decoder in a build without it). Checked when the
   * conversion was written: against stb_image's, mean |diff| 0.003, max 1 level. */
  for (int ch = 1; b && ch <= 3; ch += 2) {
    pb_decoder dt, ds;
    pb_decoder_init(&dt, 1, 1);
    pb_decoder_init(&ds, 0, 1);
    pb_image it = {0}, is = {0};
    pb_err err = {{0}};
    int ok = pb_image_decode(&dt, b, n, ch, 0, 0, &it, &err) == PB_OK && pb_image_decode(&ds, b, n, ch, 0, 0, &is, &err) == PB_OK;
    PB_CHECK_MSG(ok, "%s", err.msg);
    if (ok && it.w == is.w && it.h == is.h) {
      double sum = 0;
      int worst = 0;
      for (size_t i = 0; i < (size_t)it.w * it.h * ch; i++) {
        int dd = abs((int)it.data[i] - (int)is.data[i]);
        sum += dd, worst = dd > worst ? dd : worst;
      }
      double mean = sum / ((double)it.w * it.h * ch);
      PB_CHECK_MSG(mean < 1.5 && worst <= 8, "CMYK %d ch: mean |diff| %.3f, max %d", ch, mean, worst);
      printf("cmyk.jpg, %d channel(s): reduced DCT on vs off, mean |diff| %.3f, max %d\n", ch, mean, worst);
    }
    pb_image_free(&it), pb_image_free(&is);
    pb_decoder_free(&dt), pb_decoder_free(&ds);
  }
  free(b);
  b = slurp(pb_test_fixture("images/bomb.jpg"), &n);
  PB_CHECK(b != NULL);
  for (int tj = 0; b && tj <= 1; tj++) {
    pb_decoder d;
    pb_decoder_init(&d, tj, 1);
    pb_image im = {0};
    pb_err err = {{0}};
    PB_CHECK(pb_image_decode(&d, b, n, 3, 0, 0, &im, &err) == PB_ERR);
    PB_CHECK_MSG(strstr(err.msg, "60000x60000") && strstr(err.msg, "max_image_pixels"), "%s", err.msg);
    PB_CHECK(im.cap == 0); /* nothing allocated */
    printf("bomb.jpg (tj %d): %s\n", tj, err.msg);
    pb_decoder_free(&d);
  }
  free(b);
}

int main(void) {
  g_good = slurp(pb_test_fixture("repro/tj-poison-good.jpg"), &g_good_n);
  PB_CHECK(g_good != NULL);
  if (!g_good) return pb_test_exit("test_repro");
  int n = run_dir(pb_test_fixture("repro"));
  PB_CHECK(n >= 9);
  char shared[4200];
  snprintf(shared, sizeof shared, "%s/../shared/repro", PLUMB_SOURCE_DIR);
  int m = run_dir(shared);
  printf("%d committed reproducers, %d in ../shared/repro\n", n, m);
  test_poison_sequence();
  test_cmyk_and_bomb();
  free(g_good);
  return pb_test_exit("test_repro");
}
