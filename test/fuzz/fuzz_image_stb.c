/* fuzz_image_stb.c: libFuzzer harness of image decoding through stb_image alone (JPEG, PNG,
 * BMP; loaders/image.c with TurboJPEG off) and of the augmentations that follow it; one decoder
 * kept across inputs, checked on a known-good JPEG after each (fuzz_image.h). */
#define PB_FUZZ_USE_TJ 0
#include "test/fuzz/fuzz_image.h"
