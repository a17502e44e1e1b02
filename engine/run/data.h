/* data.h: a run's data from its config: the loaders' plain parameters filled from [data],
 * [model] num_classes / heads and [augment] size (loaders/load.h), and the per-channel
 * normalisation of [data] mean / std. The only place those keys are read for loading. */
#ifndef PB_RUN_DATA_H
#define PB_RUN_DATA_H

#include <stdint.h>

#include "engine/config/config.h"
#include "loaders/load.h"

/* Fills out from cfg and the run's seed. Its strings point into cfg (valid while cfg is).
 * [model] heads is parsed for csv sources only (the only ones that read labels per head);
 * fails with the parser's message when it is malformed. */
int pb_run_data_params(const pb_config *cfg, uint64_t seed, pb_data_params *out, pb_err *err);
/* pb_run_data_params then pb_data_load: train, validation split (val->n == 0 when
 * val_split = 0) and test, with the configured bias. On error all three are empty. */
int pb_run_load_data(const pb_config *cfg, uint64_t seed, pb_dataset *train, pb_dataset *val, pb_dataset *test,
                     pb_err *err);

/* The training set alone, whole (no validation split), for `plumb predict`: the class
 * vocabulary the model was trained with and the input shape, without the config's test data
 * (the training manifest / folder / files are read, the test ones are not looked at). On
 * error train is empty. */
int pb_run_load_train(const pb_config *cfg, uint64_t seed, pb_dataset *train, pb_err *err);

/* [data] test_variants: the test set again for each named bias variant ("biased": rho 1 /
 * eps 50; "unbiased": rho 0.1 / eps 0), each named after its variant, into tests[0..*n).
 * *n = 0 when the key is empty. Errors name the key: an unknown variant, variants without
 * [data] bias, more than cap. */
int pb_run_load_test_variants(const pb_config *cfg, uint64_t seed, pb_dataset *tests, int cap, int *n, pb_err *err);

/* Per-channel normalisation of u8 images: x = (v / 255 - mean[c]) / std[c]. */
typedef struct pb_norm {
  float mean[8], std[8];
} pb_norm;
/* From [data] mean / std: one value for all channels, or one per channel (channels <= 8).
 * Fails naming the keys otherwise. */
int pb_run_data_norm(const pb_config *cfg, int channels, pb_norm *out, pb_err *err);

#endif
