/* eval_json.h: eval.json, the file `plumb eval` writes: every figure the evaluated data supports,
 * each under a stable name, with the checkpoint, config and test set (variant) it came from, so
 * that a study can collect them without parsing logs. Layout (NaN as null):
 *
 *   {"plumb": VERSION, "checkpoint": PATH, "config": PATH (absolute), "model": ARCH,
 *    "sets": {"test": {"variant": NAME, "n": N,
 *                      "terms": {"" | NAME: {"classes": K, "loss": L, "accuracy": A,
 *                                             "per_class_accuracy": [..], "per_class_n": [..],
 *                                             "disparity": D, "cell_accuracy": {..} | absent,
 *                                             "group_accuracy": {..}, "bias_amplification": {..},
 *                                             "calibration": {.., "bins": [..]},
 *                                             "calibration_per_group": [..] | absent}
 *                                 multi-label: {"classes", "n", "multilabel": true, "positives",
 *                                             "loss", "loss_per", "precision_at_1",
 *                                             "f2": {"best", "best_threshold", "sweep": [..],
 *                                                    "select": {threshold, min/max_labels, f2}},
 *                                             "map", "mauc", "per_class_ap", "per_class_auc",
 *                                             "per_class_positives"}},
 *                      "bias": {"aligned_accuracy": .., ...} | absent,
 *                      "verification": {..} | absent (embedding models),
 *                      "identity_overlap": {..} | absent,
 *                      "skipped": {"METRIC": "why", ...}}}}
 *
 * A metric the data cannot support is listed under "skipped" with the reason (the bias-aligned
 * accuracy without a bias attribute, the cell-averaged accuracy without groupings). The file is
 * written atomically (pb_afile). */
#ifndef PB_RUN_EVAL_JSON_H
#define PB_RUN_EVAL_JSON_H

#include "engine/run/evaluate.h"

/* sets[nsets] evaluated on data[nsets] with the terms of the run's trainer. */
int pb_eval_json_write(const char *path, const pb_terms *terms, const pb_eval *const *sets, const pb_dataset *const *data,
                       int nsets, const char *checkpoint, const char *config, const char *arch, pb_err *err);

#endif
