/* fuzz_image_tj.c: libFuzzer harness of image decoding with TurboJPEG on (loaders/image.c's
 * TurboJPEG path for JPEGs, stb_image for the rest) and of the augmentations that follow it;
 * one decoder kept across inputs, checked on a known-good JPEG after each (fuzz_image.h). */
#define PB_FUZZ_USE_TJ 1
#include "test/fuzz/fuzz_image.h"
