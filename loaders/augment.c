/* augment.c: per-sample augmentation (augment.h). CPU only: it runs in the loader's workers. */
#include "loaders/augment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/pb_rng.h"

/* Draw k of sample `index` in epoch `epoch`: 64 draws per sample. */
#define DRAWS 64
static double draw(uint64_t seed, int64_t epoch, int64_t index, int k) {
  return pb_rng_uniform_f64(seed, PB_RNG_STREAM(PB_RNG_AUGMENT, (uint64_t)epoch), (uint64_t)index * DRAWS + (uint64_t)k);
}

void pb_aug_min_size(const pb_aug *a, int *min_w, int *min_h) {
  if (a->views == 10) { /* pb_aug_view resizes the shorter side to resize */
    *min_w = *min_h = a->resize ? a->resize : PB_MAX(a->out_h, a->out_w);
    return;
  }
  switch (a->geom) {
  case PB_AUG_RESIZE_CROP:
  case PB_AUG_RESIZE_RANDOM_CROP:
    *min_w = *min_h = a->resize ? a->resize : PB_MAX(a->out_h, a->out_w);
    break;
  case PB_AUG_RRC:
  case PB_AUG_NONE:
    *min_w = a->out_w, *min_h = a->out_h;
    break;
  default:
    *min_w = *min_h = 0; /* pad + crop works on the stored pixels */
  }
}

void pb_aug_resample(const pb_image *in, float x0, float y0, float w, float h, int flip, uint8_t *out, int oh, int ow) {
  int c = in->c, iw = in->w, ih = in->h;
  size_t plane = (size_t)oh * ow;
  /* Exact copy when the rectangle is the pixel grid at scale 1. */
  if (w == (float)ow && h == (float)oh && x0 == floorf(x0) && y0 == floorf(y0) && x0 >= 0 && y0 >= 0 &&
      (int)x0 + ow <= iw && (int)y0 + oh <= ih) {
    for (int y = 0; y < oh; y++) {
      const uint8_t *row = in->data + ((size_t)((int)y0 + y) * iw + (int)x0) * c;
      for (int x = 0; x < ow; x++) {
        int sx = flip ? ow - 1 - x : x;
        for (int ch = 0; ch < c; ch++) out[ch * plane + (size_t)y * ow + x] = row[sx * c + ch];
      }
    }
    return;
  }
  int *xi = malloc(sizeof(int) * 2 * ow);
  float *xw = malloc(sizeof(float) * ow);
  PB_ASSERT(xi && xw);
  float sxs = w / (float)ow, sys = h / (float)oh;
  for (int x = 0; x < ow; x++) {
    int ox = flip ? ow - 1 - x : x;
    float sx = x0 + ((float)ox + 0.5f) * sxs - 0.5f;
    if (sx < 0) sx = 0;
    if (sx > iw - 1) sx = (float)(iw - 1);
    int i0 = (int)sx;
    int i1 = PB_MIN(i0 + 1, iw - 1);
    xi[2 * x] = i0 * c, xi[2 * x + 1] = i1 * c;
    xw[x] = sx - (float)i0;
  }
  for (int y = 0; y < oh; y++) {
    float sy = y0 + ((float)y + 0.5f) * sys - 0.5f;
    if (sy < 0) sy = 0;
    if (sy > ih - 1) sy = (float)(ih - 1);
    int j0 = (int)sy;
    int j1 = PB_MIN(j0 + 1, ih - 1);
    float fy = sy - (float)j0;
    const uint8_t *r0 = in->data + (size_t)j0 * iw * c, *r1 = in->data + (size_t)j1 * iw * c;
    for (int ch = 0; ch < c; ch++) {
      uint8_t *o = out + ch * plane + (size_t)y * ow;
      for (int x = 0; x < ow; x++) {
        int a = xi[2 * x] + ch, b = xi[2 * x + 1] + ch;
        float fx = xw[x];
        float top = (float)r0[a] + fx * (float)(r0[b] - r0[a]);
        float bot = (float)r1[a] + fx * (float)(r1[b] - r1[a]);
        o[x] = (uint8_t)(top + fy * (bot - top) + 0.5f);
      }
    }
  }
  free(xi);
  free(xw);
}

/* torchvision RandomResizedCrop.get_params with our draws. */
static void rrc_rect(const pb_aug *a, int W, int H, uint64_t seed, int64_t epoch, int64_t idx, float r[4]) {
  double area = (double)W * H, lr0 = log(a->ratio[0]), lr1 = log(a->ratio[1]);
  for (int t = 0; t < 10; t++) {
    double ta = area * (a->scale[0] + (a->scale[1] - a->scale[0]) * draw(seed, epoch, idx, 4 * t));
    double ar = exp(lr0 + (lr1 - lr0) * draw(seed, epoch, idx, 4 * t + 1));
    int w = (int)lround(sqrt(ta * ar)), h = (int)lround(sqrt(ta / ar));
    if (w > 0 && h > 0 && w <= W && h <= H) {
      int i = (int)floor(draw(seed, epoch, idx, 4 * t + 2) * (H - h + 1));
      int j = (int)floor(draw(seed, epoch, idx, 4 * t + 3) * (W - w + 1));
      r[0] = (float)j, r[1] = (float)i, r[2] = (float)w, r[3] = (float)h;
      return;
    }
  }
  double in_ratio = (double)W / H;
  int w, h;
  if (in_ratio < a->ratio[0]) {
    w = W, h = (int)lround(w / a->ratio[0]);
  } else if (in_ratio > a->ratio[1]) {
    h = H, w = (int)lround(h * a->ratio[1]);
  } else {
    w = W, h = H;
  }
  r[0] = (float)((W - w) / 2), r[1] = (float)((H - h) / 2), r[2] = (float)w, r[3] = (float)h;
}

/* Resize shorter side to s (as a scale), centre crop oh x ow: the source rectangle. */
static void centre_rect(int W, int H, int s, int oh, int ow, float r[4]) {
  float k = (float)PB_MIN(W, H) / (float)s; /* source pixels per resized pixel */
  float cw = PB_MIN((float)ow * k, (float)W), ch = PB_MIN((float)oh * k, (float)H);
  r[0] = ((float)W - cw) * 0.5f, r[1] = ((float)H - ch) * 0.5f, r[2] = cw, r[3] = ch;
}

void pb_aug_apply(const pb_aug *a, const pb_image *in, uint64_t seed, int64_t epoch, int64_t index, uint8_t *out) {
  PB_ASSERT(in->c == a->out_c);
  int flip = a->flip > 0 && draw(seed, epoch, index, 60) < a->flip;
  int invert = a->invert > 0 && draw(seed, epoch, index, 61) < a->invert;
  int oh = a->out_h, ow = a->out_w, c = a->out_c;
  float r[4];
  switch (a->geom) {
  case PB_AUG_RRC:
    rrc_rect(a, in->w, in->h, seed, epoch, index, r);
    pb_aug_resample(in, r[0], r[1], r[2], r[3], flip, out, oh, ow);
    break;
  case PB_AUG_RESIZE_CROP:
    centre_rect(in->w, in->h, a->resize ? a->resize : PB_MAX(oh, ow), oh, ow, r);
    pb_aug_resample(in, r[0], r[1], r[2], r[3], flip, out, oh, ow);
    break;
  case PB_AUG_RESIZE_RANDOM_CROP: {
    /* the resized grid: shorter side s, the longer one scaled alike (rounded); a crop offset of
     * whole resized pixels, uniform over the positions that fit (0 where the crop is larger) */
    int s = a->resize ? a->resize : PB_MAX(oh, ow);
    float k = (float)PB_MIN(in->w, in->h) / (float)s; /* source pixels per resized pixel */
    int rw = (int)lroundf((float)in->w / k), rh = (int)lroundf((float)in->h / k);
    int ox = (int)floor(draw(seed, epoch, index, 0) * (PB_MAX(rw - ow, 0) + 1));
    int oy = (int)floor(draw(seed, epoch, index, 1) * (PB_MAX(rh - oh, 0) + 1));
    float cw = PB_MIN((float)ow * k, (float)in->w), ch = PB_MIN((float)oh * k, (float)in->h);
    float x0 = PB_MIN((float)ox * k, (float)in->w - cw), y0 = PB_MIN((float)oy * k, (float)in->h - ch);
    pb_aug_resample(in, x0, y0, cw, ch, flip, out, oh, ow);
    break;
  }
  case PB_AUG_PAD_CROP: {
    /* Offsets into the zero-padded image; the output keeps the stored scale. */
    int p = a->pad;
    int ox = (int)floor(draw(seed, epoch, index, 0) * (in->w + 2 * p - ow + 1));
    int oy = (int)floor(draw(seed, epoch, index, 1) * (in->h + 2 * p - oh + 1));
    size_t plane = (size_t)oh * ow;
    for (int y = 0; y < oh; y++) {
      int sy = oy + y - p;
      for (int x = 0; x < ow; x++) {
        int sx = (flip ? ow - 1 - x : x) + ox - p;
        int inside = sy >= 0 && sy < in->h && sx >= 0 && sx < in->w;
        for (int ch = 0; ch < c; ch++)
          out[ch * plane + (size_t)y * ow + x] = inside ? in->data[((size_t)sy * in->w + sx) * c + ch] : 0;
      }
    }
    break;
  }
  default:
    pb_aug_resample(in, 0, 0, (float)in->w, (float)in->h, flip, out, oh, ow);
  }
  if (invert) {
    size_t n = (size_t)c * oh * ow;
    for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(255 - out[i]);
  }
}

void pb_aug_view(const pb_aug *a, const pb_image *in, int view, uint8_t *out) {
  int oh = a->out_h, ow = a->out_w;
  int s = a->resize ? a->resize : PB_MAX(oh, ow);
  float k = (float)PB_MIN(in->w, in->h) / (float)s;
  float cw = PB_MIN((float)ow * k, (float)in->w), ch = PB_MIN((float)oh * k, (float)in->h);
  float xs[5] = {((float)in->w - cw) * 0.5f, 0, (float)in->w - cw, 0, (float)in->w - cw};
  float ys[5] = {((float)in->h - ch) * 0.5f, 0, 0, (float)in->h - ch, (float)in->h - ch};
  int v = view % 5;
  pb_aug_resample(in, xs[v], ys[v], cw, ch, view >= 5, out, oh, ow);
}

void pb_aug_views(const pb_aug *a, const pb_image *in, uint8_t *out) {
  size_t plane = (size_t)a->out_h * a->out_w, per = (size_t)a->out_c * plane;
  if (a->views == 10) {
    for (int v = 0; v < 10; v++) pb_aug_view(a, in, v, out + v * per);
    return;
  }
  PB_ASSERT(a->views == 2);
  pb_aug one = *a;
  one.flip = 0, one.invert = 0, one.views = 0;
  pb_aug_apply(&one, in, 0, 0, 0, out);
  uint8_t *m = out + per;
  for (size_t r = 0; r < (size_t)a->out_c * a->out_h; r++)
    for (int x = 0; x < a->out_w; x++) m[r * a->out_w + x] = out[r * a->out_w + (a->out_w - 1 - x)];
}
