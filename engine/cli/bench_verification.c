/* bench_verification.c: `plumb bench --verification PxG | N [--dim D] [--threads T] [--repeat R]`:
 * wall time of the verification figures (metrics/verification.h: TPR at the default FPRs, AUC,
 * EER, per group) on random embeddings: P probes x G gallery rows (or all pairs of N rows),
 * D-dimensional (default 128), identity structure as in face verification (1 identity per 10
 * probes, each identity in both sets: N_gen = P G / ids; 4 groups by identity), cosine score.
 * Prints each of R runs (default 2; the first also faults the pages in) with its wall and CPU
 * seconds (CPU time tells more on a busy machine), the best wall time and the summary line.
 * scripts/bench/bench_verification.sh runs numpy / scikit-learn on the same kind of data beside it. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "engine/cli/cli.h"
#include "kernels/pb_rng.h"
#include "metrics/verification.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_s(void) { /* user + system seconds of every thread so far */
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
         1e-6 * (double)ru.ru_stime.tv_usec;
}

static float normal(uint64_t stream, uint64_t i) {
  float u1 = pb_rng_uniform(2026, stream, 2 * i), u2 = pb_rng_uniform(2026, stream, 2 * i + 1);
  return sqrtf(-2.0f * logf(1.0f - u1)) * cosf(6.2831853f * u2);
}

int pb_cmd_bench_verification(const pb_cli_opts *o) {
  const char *spec = pb_cli_opt(o, "verification"), *v;
  long long np = 0, ng = 0;
  int all_pairs = sscanf(spec, "%lldx%lld", &np, &ng) == 1;
  int d = (v = pb_cli_opt(o, "dim")) ? atoi(v) : 128;
  int nt = (v = pb_cli_opt(o, "threads")) ? atoi(v) : omp_get_max_threads();
  int repeat = (v = pb_cli_opt(o, "repeat")) ? atoi(v) : 2;
  if (np < 2 || (!all_pairs && ng < 1) || d < 1 || nt < 1 || repeat < 1) {
    fprintf(stderr, "plumb bench --verification: want PROBESxGALLERY (10000x10000) or N (all pairs of N rows), "
                    "--dim >= 1, --threads >= 1, --repeat >= 1; got '%s'\n", spec);
    return 2;
  }
  const int64_t n = all_pairs ? np : np + ng, ids = np / 10 > 0 ? np / 10 : 1;
  float *e = malloc((size_t)n * d * sizeof *e), *ctr = malloc((size_t)ids * d * sizeof *ctr);
  int32_t *lab = malloc((size_t)n * sizeof *lab), *grp = malloc((size_t)n * sizeof *grp);
  int64_t *idx = malloc((size_t)n * sizeof *idx);
  if (!e || !ctr || !lab || !grp || !idx) {
    fprintf(stderr, "plumb bench --verification: out of memory for %lld x %d embeddings\n", (long long)n, d);
    return 1;
  }
  const float sc = 1.0f / sqrtf((float)d);
  for (int64_t i = 0; i < ids * d; i++) ctr[i] = sc * normal(1, (uint64_t)i);
  for (int64_t i = 0; i < n; i++) {
    int64_t row = all_pairs ? i : i < np ? i : i - np; /* probe i and gallery i share identity i % ids */
    lab[i] = (int32_t)(row % ids);
    grp[i] = lab[i] % 4;
    idx[i] = i;
    for (int k = 0; k < d; k++) e[i * d + k] = ctr[lab[i] * d + k] + 1.5f * sc * normal(2, (uint64_t)(i * d + k));
  }
  pb_verif_data x = {e, lab, grp, n, d};
  pb_verif_pairs pr = {all_pairs ? PB_VERIF_ALL_PAIRS : PB_VERIF_PROBE_GALLERY, all_pairs ? NULL : idx, np,
                       all_pairs ? NULL : idx + np, ng};
  pb_verif_params p = {.score = PB_VERIF_COSINE, .nthreads = nt};
  double pairs = all_pairs ? (double)np * (double)(np - 1) / 2 : (double)np * (double)ng, best = 1e30, best_cpu = 1e30;
  printf("verification bench: %s, D %d, %.4g pairs, %d identities, 4 groups, cosine, %d thread(s), default FPRs\n",
         spec, d, pairs, (int)ids, nt);
  pb_verif_result r = {0};
  int rc = 0;
  for (int k = 0; k < repeat && !rc; k++) {
    pb_err err = {{0}};
    pb_verif_result_free(&r);
    double t0 = now_s(), c0 = cpu_s();
    if (pb_verif_eval(&x, &pr, &p, &r, &err)) {
      fprintf(stderr, "plumb bench --verification: error: %s\n", err.msg);
      rc = 1;
      break;
    }
    double t = now_s() - t0, c = cpu_s() - c0;
    printf("  run %d: %.3f s wall, %.3f s CPU (all threads)\n", k + 1, t, c);
    best = t < best ? t : best;
    best_cpu = c < best_cpu ? c : best_cpu;
  }
  if (!rc) {
    char line[1024];
    pb_verif_summary(&r, line, sizeof line);
    printf("  %s\n", line);
    printf("plumb_verification_seconds=%.3f pairs_per_second=%.3g cpu_seconds=%.3f threads=%d dim=%d\n", best,
           pairs / best, best_cpu, nt, d);
  }
  pb_verif_result_free(&r);
  free(e), free(ctr), free(lab), free(grp), free(idx);
  return rc;
}
