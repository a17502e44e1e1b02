/* test_cuda_resnet_golden.c: the ResNet PyTorch golden test on the GPU (test_resnet_golden.c
 * with the model on cuda:0, TF32 off; exits 77 without a GPU). */
#define PB_GOLDEN_DEVICE "cuda:0"
#define PB_GOLDEN_NAME "test_cuda_resnet_golden"
#include "test_resnet_golden.c"
