/* conv_cache.h: private to kernels/cuda/. The per-shape cuDNN convolution state owned by a
 * pb_cuda_env (env->conv_cache): descriptors, the measured algorithm of each direction and, for a
 * channels-last shape, its filter buffer (device memory of the weight's size, outside
 * pb_cuda_alloc's count). Created empty by pb_cuda_env_init, filled by kernels/cuda/conv.cu, freed by
 * pb_cuda_env_free. Not thread-safe: one env is driven by one host thread. */
#ifndef PB_CONV_CACHE_H
#define PB_CONV_CACHE_H

#ifdef __cplusplus
extern "C" {
#endif

/* An empty cache (never NULL; host memory exhaustion aborts). */
void *pb_cuda_conv_cache_new(void);
/* Destroys every cached descriptor, frees the filter buffers (cudaFree: synchronises the device)
 * and the cache; NULL is fine. */
void pb_cuda_conv_cache_free(void *cache);

#ifdef __cplusplus
}
#endif

#endif
