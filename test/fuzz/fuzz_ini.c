/* fuzz_ini.c: libFuzzer harness of the INI config parser (engine/config/config_parse.c, config.c):
 * pb_config_load on the input, pb_config_set on `--set` assignments, then pb_config_write and
 * pb_config_dump of a config that loaded.
 *
 * Input: INI text [0x00 assignment '\n' assignment ...]: the bytes after the first NUL are
 * the --set overrides, one per line. Oracle besides the sanitizers: a config that loaded and
 * was written must read back (pb_config_write's values are meant to survive a re-read). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/config/config.h"
#include "test/fuzz/fuzz_util.h"

static FILE *g_null;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  pb_fuzz_quiet_stdin();
  g_null = fopen("/dev/null", "w");
  if (!g_null) abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, 0, size);
  size_t ini_len = nul ? (size_t)(nul - data) : size;
  pb_err err = {{0}};
  pb_config *c = pb_config_new();
  int loaded = pb_config_load(c, pb_fuzz_memfd(0, data, ini_len), &err) == PB_OK;
  pb_fuzz_say("fuzz_ini", "pb_config_load", loaded ? PB_OK : PB_ERR, &err);

  /* The --set part, split at '\n' into NUL-terminated assignments. */
  if (nul) {
    size_t n = size - ini_len - 1;
    char *sets = malloc(n + 1);
    if (!sets) abort();
    memcpy(sets, nul + 1, n);
    sets[n] = 0;
    for (char *s = sets, *e; s; s = e) {
      e = strchr(s, '\n');
      if (e) *e++ = 0;
      pb_err serr = {{0}};
      int rc = pb_config_set(c, s, &serr);
      pb_fuzz_say("fuzz_ini", s, rc, &serr);
    }
    free(sets);
  }

  if (loaded) {
    const char *out = pb_fuzz_tmp("written.ini");
    if (pb_config_write(c, out, &err) == PB_OK) {
      pb_config *back = pb_config_new();
      if (pb_config_load(back, out, &err) != PB_OK) {
        fprintf(stderr, "fuzz_ini: the written config does not read back: %s\n", err.msg);
        abort();
      }
      pb_config_free(back);
    }
    pb_config_dump(c, g_null);
  }
  pb_config_free(c);
  return 0;
}
