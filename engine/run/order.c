/* order.c: a run's training order ([data] sampler; run.h): every sample once per epoch
 * (shuffled or not), or the P x K batches of metric learning (loaders/sampler.h). */
#include <inttypes.h>
#include <string.h>

#include "engine/run/run.h"

int pb_run_sampler_init(pb_run *r, pb_err *err) {
  const pb_config *cfg = r->cfg;
  r->pk_p = r->pk_k = 0;
  r->epoch_samples = r->train.n;
  r->batches_per_epoch = (r->train.n + r->batch - 1) / r->batch;
  if (strcmp(pb_config_str(cfg, "data", "sampler"), "pk")) return PB_OK;
  int P = (int)pb_config_int(cfg, "data", "pk_identities"), K = (int)pb_config_int(cfg, "data", "pk_samples");
  if ((int64_t)P * K != r->batch)
    return pb_err_set(err, "%s: [data] sampler = pk draws P x K = %d x %d = %lld samples per batch, but [train] "
                           "batch_size = %d (%s): set batch_size = %lld or change pk_identities / pk_samples",
                      pb_config_origin(cfg, "data", "sampler"), P, K, (long long)P * K, r->batch,
                      pb_config_origin(cfg, "train", "batch_size"), (long long)P * K);
  if (pb_pk_plan(r->train.labels, r->train.n, P, K, &r->pk, err))
    return pb_err_prefix(err, "[data] sampler = pk over the training set");
  r->pk_p = P, r->pk_k = K;
  r->batches_per_epoch = r->pk.batches;
  r->epoch_samples = (int64_t)r->pk.batches * P * K;
  return PB_OK;
}

void pb_run_epoch_order(const pb_run *r, int32_t *order, int64_t epoch) {
  if (r->pk_p)
    pb_pk_order(order, r->train.labels, r->train.n, r->pk_p, r->pk_k, r->seed, epoch, &r->pk);
  else
    pb_data_order(order, r->train.n, r->seed, epoch, pb_config_bool(r->cfg, "data", "shuffle"));
}

void pb_run_sampler_str(const pb_run *r, char *buf, size_t len) {
  if (!r->pk_p) {
    if (len) buf[0] = 0;
    return;
  }
  snprintf(buf, len,
           "sampler pk: %d identities x %d samples per batch, %d batches per epoch over %d identities (%d left out "
           "of each epoch; %d with fewer than %d samples drawn with replacement, %d of them singletons)",
           r->pk_p, r->pk_k, r->pk.batches, r->pk.identities, r->pk.left_out, r->pk.short_ids, r->pk_k,
           r->pk.singletons);
}
