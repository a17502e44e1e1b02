/* state.h: a run's training state in its checkpoints. Beside the trainer's tensors (every
 * learner's model and optimizer state, trainer.h) a checkpoint's metadata holds where the run
 * was (step, epoch, cursor: the next batch), its seed, the epoch's progress per loss term and
 * the dropout RNG counters, so that resuming continues bit for bit. */
#ifndef PB_STATE_H
#define PB_STATE_H

#include "engine/run/folder.h"
#include "engine/run/run.h"

/* Writes the checkpoint of the trainer's current step into f (atomically, a signal waiting
 * for it: stop.h), then keeps the newest [run] keep_checkpoints. progress 0: an epoch-end
 * checkpoint, which carries no progress of the epoch. path gets its model file. */
int pb_run_save_state(pb_run *r, const pb_runfolder *f, int64_t epoch, int64_t cursor, int progress, char *path,
                      size_t len, pb_err *err);
/* Reads the checkpoint whose model file is model_path (its state file beside it) into r's
 * trainer and progress. Errors name the file: not a training checkpoint, another seed, a
 * cursor that does not fit this config's epoch. */
int pb_run_restore_state(pb_run *r, const char *model_path, pb_err *err);

/* Loads every model of r from the checkpoint whose model file is model_path (the reported
 * model) and, in a multi-model run, its companions model_path less ".safetensors" plus
 * ".NAME.safetensors" (plumb eval). Errors name the file and the tensor. */
int pb_run_load_models(pb_run *r, const char *model_path, pb_err *err);

#endif
