/* crop_add.c: the residual add of ReBias's BagNet blocks, y = a + (b cropped to a's size at its
 * top-left), and its backward (ops.h, "crop add"). Its CUDA twin is kernels/cuda/crop_add.cu.
 *
 * Why an op: a BagNet block's convolutions have no padding, so its residual branch is smaller
 * than the shortcut, and the released code (models/imagenet_models.py, BasicBlock_) adds
 * identity[:, :, :-diff, :-diff]: the shortcut's top-left part. */
#include "kernels/ops.h"

/* Row by row: element (i, j) of a plane is read before y's (i, j) is written, so y may alias a. */
void pb_add_crop_fwd_cpu(float *y, const float *a, const float *b, const pb_crop_params *pv) {
  const pb_crop_params q = pb_crop_params_nchw_view(pv), *p = &q; /* channels last: the NCHW view */
  const size_t planes = (size_t)p->n * (size_t)p->c, out = (size_t)p->h * p->w, in = (size_t)p->h_in * p->w_in;
  for (size_t pl = 0; pl < planes; pl++) {
    const float *ap = a + pl * out, *bp = b + pl * in;
    float *yp = y + pl * out;
    for (int i = 0; i < p->h; i++)
      for (int j = 0; j < p->w; j++) yp[(size_t)i * p->w + j] = ap[(size_t)i * p->w + j] + bp[(size_t)i * p->w_in + j];
  }
}

void pb_add_crop_bwd_cpu(float *db, const float *dy, const pb_crop_params *pv) {
  const pb_crop_params q = pb_crop_params_nchw_view(pv), *p = &q; /* channels last: the NCHW view */
  const size_t planes = (size_t)p->n * (size_t)p->c, out = (size_t)p->h * p->w, in = (size_t)p->h_in * p->w_in;
  for (size_t pl = 0; pl < planes; pl++) {
    const float *g = dy + pl * out;
    float *d = db + pl * in;
    for (int i = 0; i < p->h_in; i++)
      for (int j = 0; j < p->w_in; j++)
        d[(size_t)i * p->w_in + j] = (i < p->h && j < p->w) ? g[(size_t)i * p->w + j] : 0.0f;
  }
}
