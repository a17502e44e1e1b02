/* pb_file.h: files written so that a crash never leaves one half-written, and paths joined
 * without silent truncation. Every file plumb writes (checkpoints, configs, metrics, images)
 * goes through pb_afile: "<path>.tmp.<pid>" is written, flushed, fsync'ed, renamed over path
 * and the folder fsync'ed, so path holds either its old or its new contents, never a part.
 * A kill -9 can leave the temporary file; a run folder's start removes those ("*.tmp.*"). */
#ifndef PB_FILE_H
#define PB_FILE_H

#include <stdio.h>

#include "kernels/pb_common.h"

typedef struct pb_afile {
  FILE *f;        /* write the contents here */
  char path[4096];
  char tmp[4160];
} pb_afile;

/* Creates the temporary file beside path. Fails (PB_ERR, message naming path) when it cannot. */
int pb_afile_open(pb_afile *a, const char *path, pb_err *err);
/* Flushes, fsyncs and closes the temporary file, renames it over path and fsyncs the folder.
 * On any failure the temporary file is removed and path is left as it was. */
int pb_afile_commit(pb_afile *a, pb_err *err);
/* Abandons the write: closes and removes the temporary file; path is untouched. Also after a
 * writer closed f itself (a->f == NULL). */
void pb_afile_abort(pb_afile *a);

/* out = dir "/" name (name alone when dir is empty or name is absolute). PB_ERR (message naming
 * both) when the result does not fit len bytes. */
int pb_path_join(char *out, size_t len, const char *dir, const char *name, pb_err *err);

#endif
