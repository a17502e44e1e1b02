/* cmd_info.c: `plumb info`: the build, the libraries and the GPUs this binary sees;
 * and `plumb config`: the key reference or a resolved config. */
#include <omp.h>
#include <stdio.h>
#include <unistd.h>

#include "engine/cli/cli.h"
#include "kernels/cuda_device.h"

int pb_cmd_info(int argc, char **argv) {
  pb_cli_opts o;
  if (pb_cli_parse(argc, argv, 2, "", &o)) return 2;
  printf("plumb %s\n", PLUMB_VERSION);
  printf("compiler: %s, C11%s\n", PLUMB_C_COMPILER, pb_cuda_built() ? " + CUDA" : "");
  printf("CPU GEMM: %s\n", PLUMB_HAVE_OPENBLAS ? "OpenBLAS" : "built-in blocked kernel");
  printf("TurboJPEG: %s\n", PLUMB_HAVE_TURBOJPEG ? "found at build time" : "not built");
  printf("CPU threads available: %d\n", omp_get_num_procs());
  char buf[512];
  pb_cuda_build_info(buf, sizeof buf);
  printf("%s\n", buf);
  char why[256] = "";
  int n = pb_cuda_device_count(why, sizeof why);
  printf("GPUs: %d%s%s\n", n, n ? "" : " — ", n ? "" : why);
  for (int i = 0; i < n; i++) {
    pb_cuda_describe(i, buf, sizeof buf);
    printf("  %s\n", buf);
  }
  return 0;
}

int pb_cmd_config(int argc, char **argv) {
  pb_cli_opts o;
  if (pb_cli_parse(argc, argv, 2, "", &o)) return 2;
  if (!o.config && o.nset == 0) {
    pb_config_print_reference(stdout);
    return 0;
  }
  pb_config *cfg = pb_cli_config(&o);
  if (!cfg) return 2;
  pb_config_dump(cfg, stdout);
  pb_config_free(cfg);
  return 0;
}
