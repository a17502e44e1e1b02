/* fuzz_sweep_spec.c: libFuzzer harness of the sweep spec reader (engine/sweep/spec.c,
 * expand.c): pb_sweep_spec_load on the input written as "spec.ini" in the harness's folder,
 * then pb_sweep_expand when it loads; pb_sweep_plan_free / pb_sweep_spec_free.
 *
 * Input: the spec text. The harness appends "\n[sweep]\nbase = base.ini\n" (a later [sweep]
 * line replaces an earlier one), base.ini being a tiny valid config it writes beside the spec,
 * so that every input has an existing base and the fuzzer spends its time in [sweep], [set],
 * [vary] and include parsing rather than on the base's path. `include = spec.ini` is a cycle;
 * `include = base.ini` reads the config as a spec (an error).
 * Expansion is skipped when the spec would make more than 1000 trials (grid: the product of
 * the list lengths; zip: the first list; random: trials; times the cross_seeds), to keep each
 * execution fast; expand.c's own limit (10000) is tested by ctest.
 * Oracle besides the sanitizers: a plan that expands has ntrials >= 1 trials, each with a
 * non-NULL value per key and a non-empty name, and its keys are the spec's varied keys (then
 * run.seed with cross_seeds). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sweep/sweep.h"
#include "test/fuzz/fuzz_util.h"

#define MAX_TRIALS 1000

static const char k_force_base[] = "\n[sweep]\nbase = base.ini\n";
static const char k_base[] = "[run]\nname = base\nout_dir = runs\n[train]\nepochs = 1\n";

static void fail(const char *what, long t) {
  fprintf(stderr, "fuzz_sweep_spec: %s (trial %ld)\n", what, t);
  abort();
}

/* The trials the spec would make, saturated just above MAX_TRIALS. */
static long trials_of(const pb_sweep_spec *s) {
  long n = 1;
  if (s->mode == PB_SWEEP_RANDOM) {
    n = s->trials;
  } else if (s->mode == PB_SWEEP_ZIP) {
    n = s->nkeys ? s->keys[0].n : 1;
  } else {
    for (int k = 0; k < s->nkeys && n <= MAX_TRIALS; k++) n *= s->keys[k].n > 0 ? s->keys[k].n : 1;
  }
  if (n > MAX_TRIALS) return MAX_TRIALS + 1;
  if (s->nseeds > 0) n *= s->nseeds;
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int once;
  if (!once) {
    once = 1;
    pb_fuzz_quiet_stdin();
    pb_fuzz_write_tmp("base.ini", k_base, sizeof k_base - 1);
  }
  char *text = malloc(size + sizeof k_force_base);
  if (!text) abort();
  memcpy(text, data, size);
  memcpy(text + size, k_force_base, sizeof k_force_base - 1);
  const char *path = pb_fuzz_write_tmp("spec.ini", text, size + sizeof k_force_base - 1);
  free(text);

  pb_sweep_spec s;
  pb_err err = {{0}};
  int rc = pb_sweep_spec_load(&s, path, &err);
  pb_fuzz_say("fuzz_sweep_spec", "spec", rc, &err);
  if (rc == PB_OK && trials_of(&s) <= MAX_TRIALS) {
    pb_sweep_plan p;
    rc = pb_sweep_expand(&s, &p, &err);
    pb_fuzz_say("fuzz_sweep_spec", "expand", rc, &err);
    if (rc == PB_OK) {
      if (p.ntrials < 1 || !p.values || !p.names) fail("empty plan", 0);
      if (p.nkeys != s.nkeys + (s.nseeds > 0)) fail("plan keys are not the spec's", 0);
      for (int k = 0; k < s.nkeys; k++)
        if (strcmp(p.keys[k], s.keys[k].name)) fail("plan key is not the spec's", 0);
      for (long t = 0; t < p.ntrials; t++) {
        if (!p.names[t] || !p.names[t][0]) fail("empty run name", t);
        for (int k = 0; k < p.nkeys; k++)
          if (!p.values[t * p.nkeys + k]) fail("missing value", t);
      }
    }
    pb_sweep_plan_free(&p);
  }
  pb_sweep_spec_free(&s);
  return 0;
}
