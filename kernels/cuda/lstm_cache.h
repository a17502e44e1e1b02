/* lstm_cache.h: private to kernels/cuda/. The per-shape cuDNN RNN state owned by a pb_cuda_env
 * (env->lstm_cache): the RNN and data descriptors of each LSTM shape, their weight-space and
 * temporary-space sizes, and where cuDNN keeps each matrix and bias in its weight space.
 * Created empty by pb_cuda_env_init, filled by kernels/cuda/lstm.cu, freed by
 * pb_cuda_env_free. Not thread-safe: one env is driven by one host thread. */
#ifndef PB_LSTM_CACHE_H
#define PB_LSTM_CACHE_H

#ifdef __cplusplus
extern "C" {
#endif

/* An empty cache (never NULL; host memory exhaustion aborts). */
void *pb_cuda_lstm_cache_new(void);
/* Destroys every cached descriptor and the cache; NULL is fine. */
void pb_cuda_lstm_cache_free(void *cache);

#ifdef __cplusplus
}
#endif

#endif
