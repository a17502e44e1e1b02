/* folder.c: the run folder's paths, checkpoint list, lock, crash leftovers and metrics.csv
 * trimming (folder.h). */
#include "engine/run/folder.h"

#include <dirent.h>
#include <inttypes.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/run/log.h"
#include "kernels/pb_file.h"

int pb_runfolder_lock(const char *dir, pb_err *err) {
  char p[4200];
  snprintf(p, sizeof p, "%s/.lock", dir);
  int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return pb_err_set(err, "cannot create the lock file %s: %s", p, strerror(errno)), -1;
  if (flock(fd, LOCK_EX | LOCK_NB)) {
    int e = errno;
    char pid[32] = "";
    ssize_t k = pread(fd, pid, sizeof pid - 1, 0);
    pid[k > 0 ? k : 0] = 0;
    pid[strcspn(pid, "\n")] = 0;
    close(fd);
    if (e == EWOULDBLOCK)
      return pb_err_set(err, "the run folder %s is in use by another plumb process (pid %s): wait for it to end or "
                             "choose another [run] name",
                        dir, pid[0] ? pid : "?"),
             -1;
    return pb_err_set(err, "cannot lock %s: %s", p, strerror(e)), -1;
  }
  char pid[32];
  int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) || pwrite(fd, pid, (size_t)n, 0) != n) {
    /* The lock holds without the pid; the pid only makes the message above friendlier. */
  }
  return fd;
}

/* A companion of a checkpoint, "step-<digits>.<more>.safetensors" (its state file, another
 * model's files), whose model file "step-<digits>.safetensors" (written last) is missing. */
static int orphan_state(const char *dir, const char *name, char *model, size_t len) {
  const char *suf = ".safetensors";
  size_t L = strlen(name), S = strlen(suf), i = 5;
  if (strncmp(name, "step-", 5) || L <= 5 + S || strcmp(name + L - S, suf)) return 0;
  while (i < L && name[i] >= '0' && name[i] <= '9') i++;
  if (i == 5 || name[i] != '.' || i + S == L) return 0; /* the model file itself */
  snprintf(model, len, "%s/%.*s.safetensors", dir, (int)i, name);
  return access(model, F_OK) != 0;
}

static int clean_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int removed = 0;
  for (struct dirent *e; (e = readdir(d));) {
    char p[4400], model[4400];
    int tmp = strstr(e->d_name, ".tmp.") != NULL;
    if (!tmp && !orphan_state(dir, e->d_name, model, sizeof model)) continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(p, &st) || !S_ISREG(st.st_mode)) continue;
    if (unlink(p)) {
      pb_log("warning: cannot remove the stale %s: %s", p, strerror(errno));
      continue;
    }
    pb_log("removed stale %s (%s)", p,
           tmp ? "a temporary file of a write that did not finish" : "a file of an unfinished checkpoint");
    removed++;
  }
  closedir(d);
  return removed;
}

int pb_runfolder_clean(const char *dir, const char *ckdir) { return clean_dir(dir) + clean_dir(ckdir); }

int pb_runfolder_trim_metrics(const char *dir, int64_t epochs_done, pb_err *err) {
  char path[4200];
  snprintf(path, sizeof path, "%s/metrics.csv", dir);
  FILE *f = fopen(path, "rb");
  if (!f) return PB_OK; /* none yet */
  size_t cap = 1 << 16, n = 0, got;
  char *text = pb_xmalloc(cap);
  while ((got = fread(text + n, 1, cap - n - 1, f)) > 0) {
    n += got;
    if (cap - n < 2) text = pb_xrealloc(text, cap *= 2);
  }
  int rerr = ferror(f);
  fclose(f);
  text[n] = 0;
  if (rerr) {
    free(text);
    return pb_err_set(err, "%s: read error", path);
  }
  /* Keep the header and complete rows whose epoch (first field) is at most epochs_done. */
  size_t keep = 0;
  int first = 1, drop = 0;
  for (size_t i = 0; i < n;) {
    char *nl = memchr(text + i, '\n', n - i);
    if (!nl) { /* a last line cut short by a kill */
      drop = 1;
      break;
    }
    size_t end = (size_t)(nl - text) + 1;
    if (!first && strtoll(text + i, NULL, 10) > epochs_done) {
      drop = 1;
      break; /* rows are in epoch order: the rest are later still */
    }
    first = 0;
    keep = end;
    i = end;
  }
  if (!drop) {
    free(text);
    return PB_OK;
  }
  pb_afile af;
  int rc = pb_afile_open(&af, path, err);
  if (rc == PB_OK) {
    if (fwrite(text, 1, keep, af.f) != keep) {
      pb_afile_abort(&af);
      rc = pb_err_set(err, "%s: cannot rewrite it without the rows after epoch %lld: %s", path,
                      (long long)epochs_done, strerror(errno));
    } else {
      rc = pb_afile_commit(&af, err);
    }
  }
  free(text);
  if (rc) return rc;
  pb_log("metrics.csv: dropped the rows after epoch %lld (trained again from the checkpoint)", (long long)epochs_done);
  return PB_OK;
}

static int mkdir_p(const char *path, pb_err *err) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0755) && errno != EEXIST) return pb_err_set(err, "cannot create %s: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0755) && errno != EEXIST) return pb_err_set(err, "cannot create %s: %s", buf, strerror(errno));
  return PB_OK;
}

int pb_runfolder_make(pb_runfolder *f, const char *out_dir, const char *name, pb_err *err) {
  snprintf(f->dir, sizeof f->dir, "%s/%s", out_dir, name);
  snprintf(f->ckdir, sizeof f->ckdir, "%s/checkpoints", f->dir);
  return mkdir_p(f->ckdir, err);
}

void pb_runfolder_ckpt_base(const pb_runfolder *f, int64_t step, char *base, size_t len) {
  snprintf(base, len, "%s/step-%010" PRId64, f->ckdir, step);
}

/* Steps of the complete checkpoints (model + state file) in the folder, ascending. */
static int list_steps(const char *dir, int64_t *steps, int cap) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    long long s;
    char tail[64];
    if (sscanf(e->d_name, "step-%lld%63s", &s, tail) != 2 || strcmp(tail, ".safetensors")) continue;
    char st[4400];
    snprintf(st, sizeof st, "%s/step-%010lld.state.safetensors", dir, s);
    if (access(st, R_OK) || n == cap) continue;
    steps[n++] = s;
  }
  closedir(d);
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && steps[j] < steps[j - 1]; j--) {
      int64_t t = steps[j];
      steps[j] = steps[j - 1];
      steps[j - 1] = t;
    }
  return n;
}

int pb_runfolder_latest(const pb_runfolder *f, char *path, size_t len) {
  int64_t steps[4096];
  int n = list_steps(f->ckdir, steps, 4096);
  if (!n) return 0;
  snprintf(path, len, "%s/step-%010" PRId64 ".safetensors", f->ckdir, steps[n - 1]);
  return 1;
}

void pb_runfolder_prune(const pb_runfolder *f, int keep) {
  int64_t steps[4096];
  int n = list_steps(f->ckdir, steps, 4096);
  for (int i = 0; i < n - keep; i++) {
    char p[4400], prefix[64];
    /* the model file first: without it the checkpoint no longer counts as complete */
    snprintf(p, sizeof p, "%s/step-%010" PRId64 ".safetensors", f->ckdir, steps[i]);
    unlink(p);
    snprintf(prefix, sizeof prefix, "step-%010" PRId64 ".", steps[i]); /* its state file, other models' files */
    DIR *d = opendir(f->ckdir);
    if (!d) continue;
    for (struct dirent *e; (e = readdir(d));) {
      if (strncmp(e->d_name, prefix, strlen(prefix))) continue;
      snprintf(p, sizeof p, "%s/%s", f->ckdir, e->d_name);
      unlink(p);
    }
    closedir(d);
  }
}
