/* fuzz_manifest.c: libFuzzer harness of the sweep manifest reader of plumb collect
 * (engine/sweep/collect.c): pb_manifest_load on the input written as "manifest.csv" in the
 * harness's folder; pb_manifest_free (also after a failure, as collect.h asks).
 *
 * Input: the manifest text (trial,<keys>,name,config, as plumb sweep writes it). Every row's
 * trial config is read: the harness writes two valid ones beside the manifest,
 * configs/trial-0001.ini and configs/trial-0002.ini (the seeds name them), removed at exit.
 * Oracle besides the sanitizers: a manifest that loads has n >= 1 rows, each with a name, a
 * config path, a run folder and a value per key; the keys are non-NULL. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/sweep/collect.h"
#include "test/fuzz/fuzz_util.h"

static const char k_trial[2][80] = {"[run]\nname = t1\nout_dir = runs\n[train]\nepochs = 2\n",
                                    "[run]\nname = t2\nout_dir = ../elsewhere\n[train]\nepochs = 3\n"};

static void fail(const char *what, int i) {
  fprintf(stderr, "fuzz_manifest: %s (row %d)\n", what, i);
  abort();
}

/* Runs before pb_fuzz_dir_cleanup (atexit is last in, first out), which removes files only. */
static void cleanup_configs(void) {
  for (int i = 0; i < 2; i++) {
    char name[64];
    snprintf(name, sizeof name, "configs/trial-%04d.ini", i + 1);
    unlink(pb_fuzz_tmp(name));
  }
  rmdir(pb_fuzz_tmp("configs"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int once;
  if (!once) {
    once = 1;
    pb_fuzz_quiet_stdin();
    if (mkdir(pb_fuzz_tmp("configs"), 0700)) perror("mkdir"), abort();
    atexit(cleanup_configs);
    for (int i = 0; i < 2; i++) {
      char name[64];
      snprintf(name, sizeof name, "configs/trial-%04d.ini", i + 1);
      pb_fuzz_write_tmp(name, k_trial[i], strlen(k_trial[i]));
    }
  }
  pb_fuzz_write_tmp("manifest.csv", data, size);
  pb_manifest m;
  pb_err err = {{0}};
  int rc = pb_manifest_load(&m, pb_fuzz_dir(), &err);
  pb_fuzz_say("fuzz_manifest", "manifest", rc, &err);
  if (rc == PB_OK) {
    if (m.n < 1 || !m.rows || m.nkeys < 0 || (m.nkeys && !m.keys)) fail("empty manifest", 0);
    for (int k = 0; k < m.nkeys; k++)
      if (!m.keys[k]) fail("NULL key", k);
    for (int i = 0; i < m.n; i++) {
      const pb_manifest_row *r = &m.rows[i];
      if (!r->name || !r->config || !r->run_dir) fail("row without name, config or run folder", i);
      for (int k = 0; k < m.nkeys; k++)
        if (!r->vals || !r->vals[k]) fail("row without a key's value", i);
    }
  }
  pb_manifest_free(&m);
  return 0;
}
