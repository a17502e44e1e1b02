/* fuzz_image.h: the body of the two image harnesses, which define PB_FUZZ_USE_TJ before
 * including it: fuzz_image_tj.c (decoder with reduced-DCT JPEG decoding) and fuzz_image_stb.c
 * (without: JPEGs at full size; its seeds are mostly the PNGs and BMPs stb_image decodes). In a
 * TurboJPEG build every JPEG goes to TurboJPEG; stb_image decodes PNG and BMP.
 *
 * One decoder lives across all inputs, as in a loader worker, so state that one input leaves in
 * the TurboJPEG handle reaches the next. Each input is decoded (loaders/image.c), then, when it
 * decodes, augmented to 32x32 (loaders/augment.c: RandomResizedCrop, pad + crop, resize + centre
 * crop, ten-crop views) so that the resampler sees the decoded size. After every input the same
 * decoder must still decode a known-good JPEG (embedded below) to the same size and pixels as
 * before the first input, else abort(): a handle poisoned by a bad file fails every later good
 * one.
 *
 * Input: "PBFZ" flags min_w min_h <image>: flags bit 0 = 1 channel (else 3), bit 1 = convert
 * channels (pb_decoder.convert); min_w / min_h as the decoder's size hint. Any other input is an
 * image file as it is, decoded twice: 3 channels with the 32x32 hint of the RRC (a training
 * config's default), and 1 channel at full size; both with conversion on. */
#ifndef PB_FUZZ_IMAGE_H
#define PB_FUZZ_IMAGE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loaders/augment.h"
#include "loaders/image.h"
#include "test/fuzz/fuzz_util.h"

/* A 24x16 RGB baseline JPEG (PIL, quality 50, optimised Huffman tables). */
static const uint8_t k_good_jpeg[] = {
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01,
    0x00, 0x00, 0xff, 0xdb, 0x00, 0x43, 0x00, 0x10, 0x0b, 0x0c, 0x0e, 0x0c, 0x0a, 0x10, 0x0e, 0x0d, 0x0e, 0x12,
    0x11, 0x10, 0x13, 0x18, 0x28, 0x1a, 0x18, 0x16, 0x16, 0x18, 0x31, 0x23, 0x25, 0x1d, 0x28, 0x3a, 0x33, 0x3d,
    0x3c, 0x39, 0x33, 0x38, 0x37, 0x40, 0x48, 0x5c, 0x4e, 0x40, 0x44, 0x57, 0x45, 0x37, 0x38, 0x50, 0x6d, 0x51,
    0x57, 0x5f, 0x62, 0x67, 0x68, 0x67, 0x3e, 0x4d, 0x71, 0x79, 0x70, 0x64, 0x78, 0x5c, 0x65, 0x67, 0x63, 0xff,
    0xdb, 0x00, 0x43, 0x01, 0x11, 0x12, 0x12, 0x18, 0x15, 0x18, 0x2f, 0x1a, 0x1a, 0x2f, 0x63, 0x42, 0x38, 0x42,
    0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63,
    0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63,
    0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0x63, 0xff, 0xc0, 0x00, 0x11,
    0x08, 0x00, 0x10, 0x00, 0x18, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01, 0xff, 0xc4, 0x00,
    0x17, 0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x04, 0x05, 0x06, 0xff, 0xc4, 0x00, 0x17, 0x10, 0x00, 0x03, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x04, 0x61, 0xff, 0xc4, 0x00, 0x15, 0x01, 0x01, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x05, 0xff, 0xc4,
    0x00, 0x1b, 0x11, 0x00, 0x02, 0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x03, 0x04, 0x01, 0x02, 0x22, 0x31, 0x61, 0xff, 0xda, 0x00, 0x0c, 0x03, 0x01, 0x00, 0x02, 0x11,
    0x03, 0x11, 0x00, 0x3f, 0x00, 0xcb, 0x26, 0x1c, 0x1e, 0x4c, 0x38, 0x57, 0x4c, 0x38, 0x3c, 0x98, 0x70, 0x1b,
    0x5a, 0x04, 0x69, 0xdd, 0x24, 0x26, 0x1c, 0x03, 0x4c, 0x98, 0x70, 0x05, 0xa3, 0x4b, 0xab, 0x9d, 0x8e, 0xcf,
    0xff, 0xd9,
};
enum { GOOD_W = 24, GOOD_H = 16, OUT = 32 };

static pb_decoder g_dec;
static pb_image g_img, g_good;
static uint8_t *g_good_ref; /* the known-good JPEG's pixels before any input */
static uint8_t g_out[10 * 3 * OUT * OUT];

static void decode_good(void) {
  pb_err err = {{0}};
  int convert = g_dec.convert;
  g_dec.convert = 1;
  int rc = pb_image_decode(&g_dec, k_good_jpeg, sizeof k_good_jpeg, 3, 0, 0, &g_good, &err);
  g_dec.convert = convert;
  if (rc != PB_OK || g_good.w != GOOD_W || g_good.h != GOOD_H || g_good.c != 3) {
    fprintf(stderr, "fuzz_image: the known-good JPEG no longer decodes on this decoder (rc %d, %dx%dx%d): %s\n", rc,
            g_good.w, g_good.h, g_good.c, rc ? err.msg : "wrong size");
    abort();
  }
  if (g_good_ref && memcmp(g_good_ref, g_good.data, (size_t)GOOD_W * GOOD_H * 3)) {
    fprintf(stderr, "fuzz_image: the known-good JPEG decodes to other pixels than before the first input\n");
    abort();
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  pb_decoder_init(&g_dec, PB_FUZZ_USE_TJ, 1);
  /* [loader] max_image_pixels lowered from 179M to 1M: the same code paths, but a mutated
   * header claiming 10000 x 10000 pixels no longer costs a 300 MB decode per execution. */
  g_dec.max_pixels = 1 << 20;
  decode_good();
  g_good_ref = malloc((size_t)GOOD_W * GOOD_H * 3);
  if (!g_good_ref) abort();
  memcpy(g_good_ref, g_good.data, (size_t)GOOD_W * GOOD_H * 3);
  return 0;
}

/* Runs every augmentation of loaders/augment.h on the decoded image. */
static void augment(const pb_image *im, size_t seed) {
  pb_aug rrc = {.geom = PB_AUG_RRC, .out_c = im->c, .out_h = OUT, .out_w = OUT,
                .scale = {0.08f, 1.f}, .ratio = {0.75f, 4.f / 3.f}, .flip = 0.5f};
  pb_aug pad = {.geom = PB_AUG_PAD_CROP, .out_c = im->c, .out_h = OUT, .out_w = OUT, .pad = 4,
                .flip = 0.5f, .invert = 0.5f};
  pb_aug crop = {.geom = PB_AUG_RESIZE_CROP, .out_c = im->c, .out_h = OUT, .out_w = OUT, .resize = 36, .views = 10};
  pb_aug_apply(&rrc, im, seed, 0, 0, g_out);
  pb_aug_apply(&pad, im, seed, 1, 0, g_out);
  pb_aug_apply(&crop, im, seed, 2, 0, g_out);
  pb_aug_views(&crop, im, g_out);
}

/* Fills the stack below the caller with a pattern, so that a variable the decoder reads
 * without having written it (a header call that fails to set the size) holds a huge value
 * every time rather than whatever the last call left there (MSan cannot run here: TurboJPEG and
 * OpenBLAS are not instrumented). */
__attribute__((noinline)) static void paint_stack(void) {
  volatile uint8_t pad[16384];
  for (size_t i = 0; i < sizeof pad; i++) pad[i] = 0x5A;
}

static void decode(const uint8_t *buf, size_t len, int channels, int convert, int min_w, int min_h) {
  pb_err err = {{0}};
  g_dec.convert = convert;
  paint_stack();
  int rc = pb_image_decode(&g_dec, buf, len, channels, min_w, min_h, &g_img, &err);
  if (pb_fuzz_verbose())
    fprintf(stderr, "fuzz_image: %d channel(s), convert %d, min %dx%d: %s (%dx%d)\n", channels, convert, min_w, min_h,
            rc ? err.msg : "ok", rc ? 0 : g_img.w, rc ? 0 : g_img.h);
  if (rc == PB_OK) {
    if (g_img.w <= 0 || g_img.h <= 0 || g_img.c != channels || !g_img.data ||
        (size_t)g_img.w * g_img.h * g_img.c > g_img.cap) {
      fprintf(stderr, "fuzz_image: decoded to %dx%dx%d in a buffer of %zu bytes\n", g_img.w, g_img.h, g_img.c,
              g_img.cap);
      abort();
    }
    augment(&g_img, len);
  }
  g_dec.convert = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size >= 7 && !memcmp(data, "PBFZ", 4)) {
    decode(data + 7, size - 7, data[4] & 1 ? 1 : 3, (data[4] >> 1) & 1, data[5], data[6]);
  } else {
    int mw, mh;
    pb_aug rrc = {.geom = PB_AUG_RRC, .out_c = 3, .out_h = OUT, .out_w = OUT};
    pb_aug_min_size(&rrc, &mw, &mh);
    decode(data, size, 3, 1, mw, mh);
    decode(data, size, 1, 1, 0, 0);
  }
  decode_good();
  return 0;
}

#endif
