/* folder.h: a run folder (runs/<name>/): its paths, its checkpoints, and keeping it consistent
 * across crashes and restarts.
 *
 * plumb writes every file of a run by temporary file + rename, so a kill -9 leaves at worst a
 * "*.tmp.*" file beside intact ones, or a checkpoint's state file without its model file (the
 * model file is written last and marks a complete checkpoint). A starting run takes the
 * folder's lock, removes those leftovers, and on resume cuts metrics.csv back to the epochs
 * its checkpoint has seen. */
#ifndef PB_RUNFOLDER_H
#define PB_RUNFOLDER_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/pb_common.h"

/* Takes an exclusive lock on dir/.lock (flock; released by the kernel when the process dies,
 * kill -9 included) and writes our pid into it. Fails, naming the pid that holds it, when
 * another plumb process runs in the same folder. Returns the descriptor to keep open, or -1. */
int pb_runfolder_lock(const char *dir, pb_err *err);

/* Removes from dir and ckdir the files a killed run left: names containing ".tmp." and
 * step-N.state.safetensors without step-N.safetensors. Each removal is logged (pb_log).
 * Only call with the folder's lock held. Returns the number of files removed. */
int pb_runfolder_clean(const char *dir, const char *ckdir);

/* Resuming from a checkpoint taken after `epochs_done` epochs: rewrites dir/metrics.csv
 * (atomically) without the rows of later epochs and without a last line cut short, so that
 * the epochs trained again are not listed twice. Nothing happens when there is nothing to
 * drop. Fails only on an I/O error. */
int pb_runfolder_trim_metrics(const char *dir, int64_t epochs_done, pb_err *err);

/* The folder dir = [run] out_dir/[run] name and its checkpoints/ sub-folder, created with
 * their parents (mkdir -p). */
typedef struct pb_runfolder {
  char dir[4096], ckdir[4200];
} pb_runfolder;
int pb_runfolder_make(pb_runfolder *f, const char *out_dir, const char *name, pb_err *err);

/* The newest complete checkpoint in f (its model file path); 0 when none. */
int pb_runfolder_latest(const pb_runfolder *f, char *path, size_t len);
/* Keeps the newest `keep` complete checkpoints, removing older ones (the model file first:
 * without it the pair no longer counts as complete). */
void pb_runfolder_prune(const pb_runfolder *f, int keep);
/* The base path of the checkpoint at `step`: ckdir/step-NNNNNNNNNN (the files add
 * ".safetensors" and ".state.safetensors"). */
void pb_runfolder_ckpt_base(const pb_runfolder *f, int64_t step, char *base, size_t len);

#endif
