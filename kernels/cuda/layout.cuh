/* layout.cuh: private to kernels/cuda/. The batched tiled transpose behind the layout ops
 * (layout.cu: NCHW <-> NHWC) and the convolution's weight reordering (conv.cu: PyTorch's KCRS
 * weight <-> cuDNN's KRSC filter for channels-last shapes). */
#ifndef PB_LAYOUT_CUH
#define PB_LAYOUT_CUH

#include <cuda_runtime.h>

/* For each of `batches` matrices: x [batches, rows, cols] -> y [batches, cols, rows], i.e.
 * y[b][j][i] = x[b][i][j] (accumulate == 0), or y[b][j][i] += x[b][i][j] with one IEEE-rounded
 * float add (accumulate == 1, a parameter gradient). Enqueued on stream; nothing when any size
 * is <= 0 (no launch). y and x must not overlap. Exact (a permutation) when not accumulating. */
void pb_cuda_transpose(float *y, const float *x, int batches, int rows, int cols, int accumulate,
                       cudaStream_t stream);

#endif
