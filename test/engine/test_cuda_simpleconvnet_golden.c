/* test_cuda_simpleconvnet_golden.c: the SimpleConvNet PyTorch golden test on the GPU
 * (test_simpleconvnet_golden.c with the model on cuda:0; exits 77 without a GPU). */
#define PB_GOLDEN_DEVICE "cuda:0"
#define PB_GOLDEN_NAME "test_cuda_simpleconvnet_golden"
#include "test_simpleconvnet_golden.c"
