/* test_cuda_bagnet_golden.c: the BagNet-18 PyTorch golden test on the GPU (test_bagnet_golden.c
 * with the model on cuda:0, TF32 off; exits 77 without a GPU). */
#define PB_GOLDEN_DEVICE "cuda:0"
#define PB_GOLDEN_NAME "test_cuda_bagnet_golden"
#include "test_bagnet_golden.c"
