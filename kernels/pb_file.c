/* pb_file.c: atomic file writes and path joins (pb_file.h). */
#include "kernels/pb_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int pb_path_join(char *out, size_t len, const char *dir, const char *name, pb_err *err) {
  int k = dir[0] && name[0] != '/' ? snprintf(out, len, "%s/%s", dir, name) : snprintf(out, len, "%s", name);
  if (k >= 0 && (size_t)k < len) return PB_OK;
  if (len) out[0] = 0;
  return pb_err_set(err, "path too long: %s/%s", dir, name);
}

int pb_afile_open(pb_afile *a, const char *path, pb_err *err) {
  memset(a, 0, sizeof *a);
  if (snprintf(a->path, sizeof a->path, "%s", path) >= (int)sizeof a->path ||
      snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof a->tmp)
    return pb_err_set(err, "%s: path too long", path);
  a->f = fopen(a->tmp, "wb");
  if (!a->f) return pb_err_set(err, "%s: cannot create the temporary file %s: %s", path, a->tmp, strerror(errno));
  return PB_OK;
}

void pb_afile_abort(pb_afile *a) {
  if (!a) return;
  if (a->f) fclose(a->f);
  a->f = NULL;
  if (a->tmp[0]) unlink(a->tmp);
  a->tmp[0] = 0;
}

/* The rename itself is made durable; a failure here loses nothing already written. */
static void fsync_dir(const char *path) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash == dir)
    slash[1] = '\0';
  else if (slash)
    *slash = '\0';
  else
    snprintf(dir, sizeof dir, ".");
  int fd = open(dir, O_RDONLY);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
}

int pb_afile_commit(pb_afile *a, pb_err *err) {
  if (!a->f) { /* a writer's callback gave up on a short write */
    pb_afile_abort(a);
    return pb_err_set(err, "%s: writing failed", a->path);
  }
  errno = 0;
  int bad = ferror(a->f) || fflush(a->f) || fsync(fileno(a->f));
  int e = errno;
  if (fclose(a->f) && !bad) bad = 1, e = errno;
  a->f = NULL;
  if (!bad && rename(a->tmp, a->path)) bad = 1, e = errno;
  if (bad) {
    pb_err_set(err, "%s: writing %s failed: %s", a->path, a->tmp, strerror(e ? e : EIO));
    unlink(a->tmp);
    a->tmp[0] = 0;
    return PB_ERR;
  }
  a->tmp[0] = 0;
  fsync_dir(a->path);
  return PB_OK;
}
