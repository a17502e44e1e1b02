/* checkpoint.h: model and training-state checkpoints in the safetensors format.
 *
 * A checkpoint is two files written atomically (temp + rename), the state file first:
 *   <base>.state.safetensors  optimizer state ("optimizer.<param>.<state>") and trainer
 *                             metadata (step, epoch, cursor, RNG counters)
 *   <base>.safetensors        the model alone, keyed like a PyTorch state_dict, so that
 *                             model.load_state_dict(safetensors.torch.load_file(path)) works.
 * The model file is written last: its presence marks a complete checkpoint. */
#ifndef PB_CHECKPOINT_H
#define PB_CHECKPOINT_H

#include "engine/models/model.h"
#include "engine/trainers/optim.h"
#include "engine/models/safetensors.h"

/* Writes <base>.state.safetensors (when opt is non-NULL) then <base>.safetensors. meta: nmeta
 * key/value pairs stored in both files' metadata. */
int pb_ckpt_save(const char *base, pb_model *m, const pb_optim *opt, const char *const *meta, int nmeta,
                 pb_err *err);

/* Loads model tensors from a model file (every tensor must be present with its shape;
 * unexpected tensors are refused). Errors name the file and the tensor. */
int pb_ckpt_load_model(const char *path, pb_model *m, pb_err *err);

/* [model] init_from: initialises m from a safetensors state dict (a plumb checkpoint, or a
 * torchvision / timm state dict converted with scripts/torch_to_plumb.py). exclude: comma-
 * separated patterns (fnmatch, e.g. "fc.*") of tensors left at their random initialisation and
 * ignored in the file (fine-tuning with another number of classes). Any missing, unexpected or
 * mis-shaped tensor (not excluded) is an error that lists them all, by name and shape; nothing
 * is loaded then. On success, summary (if non-NULL) gets one line: loaded / excluded counts. */
int pb_ckpt_init_from(const char *path, const char *exclude, pb_model *m, char *summary, size_t summary_len,
                      pb_err *err);

/* Loads the optimizer state file; its metadata stays readable in *state (pb_st_free it). */
int pb_ckpt_load_state(const char *path, pb_optim *opt, pb_model *m, pb_st_file *state, pb_err *err);

#endif
