/* augment.h: per-sample augmentation of a decoded 8-bit image (HWC) into the fixed-size
 * output a batch holds (CHW), with counter-based randomness: every draw is a function of
 * (seed, epoch, sample index, draw number) (kernels/pb_rng.h), so a sample's augmentation
 * does not depend on which worker makes it, on the batch it is in, or on the thread count.
 *
 * Geometry: none (resize the whole image to the output, or copy when the sizes agree),
 * RandomResizedCrop(scale, ratio) (torchvision's sampling: 10 tries, then a centre crop
 * with the ratio clamped), resize-shorter-side + centre crop, pad + random crop (CIFAR);
 * then horizontal flip and colour inversion (255 - x), each with a probability.
 * Per-channel normalisation ((x/255 - mean)/std, [data] mean/std) is applied where the
 * batch becomes float: on the GPU (kernels/cuda/convert.cu) or on the CPU (kernels/cpu/convert.c).
 * Resampling is bilinear (half-pixel centres), without an anti-aliasing filter: large
 * reductions are left to TurboJPEG's DCT scaling (pb_aug_min_size). Ten-crop and flip views
 * for test-time augmentation: pb_aug_view. */
#ifndef PB_AUGMENT_H
#define PB_AUGMENT_H

#include <stdint.h>

#include "loaders/image.h"

/* RESIZE_RANDOM_CROP: shorter side to `resize`, then a random out_h x out_w crop at an integer offset
 * of the resized grid (torchvision Resize(resize) + RandomCrop(size), the Inclusive Images solution's
 * training transform). */
enum { PB_AUG_NONE = 0, PB_AUG_RRC, PB_AUG_RESIZE_CROP, PB_AUG_PAD_CROP, PB_AUG_RESIZE_RANDOM_CROP };

typedef struct pb_aug {
  int geom;                    /* PB_AUG_* */
  int out_c, out_h, out_w;     /* output size (channels = the input's) */
  float scale[2], ratio[2];    /* RRC: area fraction and aspect-ratio ranges */
  int resize;                  /* RESIZE_CROP / RESIZE_RANDOM_CROP: shorter side before the crop */
  int pad;                     /* PAD_CROP: zero padding on each side */
  float flip, invert;          /* probabilities */
  int views;                   /* test-time views per sample (pb_aug_views): 0 or 1 = one */
} pb_aug;

/* The smallest decoded size this augmentation can use without losing detail it keeps (a
 * decoder hint; 0 x 0 = full size). */
void pb_aug_min_size(const pb_aug *a, int *min_w, int *min_h);

/* Augments in (HWC, in->c == a->out_c) into out [out_c, out_h, out_w]. */
void pb_aug_apply(const pb_aug *a, const pb_image *in, uint64_t seed, int64_t epoch, int64_t index, uint8_t *out);

/* Test-time view v of in: resize shorter side to a->resize (or to the output when 0), then
 * views 0-4 = centre, top-left, top-right, bottom-left, bottom-right crops, 5-9 = the same
 * flipped (torchvision TenCrop order differs: it lists the 5 crops then their flips, with the
 * centre last; views here put the centre first so that 1 view = centre, 2 = centre + flip
 * when v is mapped as {0, 5}). */
void pb_aug_view(const pb_aug *a, const pb_image *in, int view, uint8_t *out);

/* The a->views (2 or 10) test-time views of in, one after the other in out
 * [views, out_c, out_h, out_w]: 2 = the evaluation view (pb_aug_apply without random flip or
 * inversion) and its mirror image; 10 = pb_aug_view 0..9 (five crops, then the same mirrored).
 * Deterministic: no draws. */
void pb_aug_views(const pb_aug *a, const pb_image *in, uint8_t *out);

/* Bilinear resampling of the source rectangle (x0, y0, w, h) in pixels of in into
 * out [c, oh, ow], mirrored horizontally when flip; exposed for tests. */
void pb_aug_resample(const pb_image *in, float x0, float y0, float w, float h, int flip, uint8_t *out, int oh, int ow);

#endif
