/* test_sweep.c: sweep specs (engine/sweep/sweep.h): grid order (first key outermost),
 * zip, ranges (range() end excluded, a:b:step end included, ints and floats), '|' lists,
 * cross_seeds, random draws (reproducible, seed-dependent, within bounds, equal to
 * pb_sweep_draw), name patterns and the spec errors (file:line in the message). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sweep/sweep.h"
#include "test/testutil.h"

static char dir[256];

static const char *spec(const char *name, const char *body) {
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  PB_ASSERT(f);
  fprintf(f, "[sweep]\nbase = base.ini\n%s", body);
  fclose(f);
  return path;
}

/* Loads and expands; returns PB_OK or PB_ERR with the message in err. */
static int load(const char *body, pb_sweep_spec *s, pb_sweep_plan *p, pb_err *err) {
  memset(p, 0, sizeof *p);
  int rc = pb_sweep_spec_load(s, spec("s.ini", body), err);
  if (rc == PB_OK) rc = pb_sweep_expand(s, p, err);
  return rc;
}

static const char *val(const pb_sweep_plan *p, long t, int k) { return p->values[t * p->nkeys + k]; }

/* The values of key k over all trials, joined with ' '. */
static const char *column(const pb_sweep_plan *p, int k) {
  static char buf[4096];
  size_t n = 0;
  buf[0] = '\0';
  for (long t = 0; t < p->ntrials; t++) n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", t ? " " : "", val(p, t, k));
  return buf;
}

static void expect(const char *body, const char *const *cols, long ntrials) {
  pb_sweep_spec s;
  pb_sweep_plan p;
  pb_err err = {{0}};
  int rc = load(body, &s, &p, &err);
  PB_CHECK_MSG(rc == PB_OK, "%s", err.msg);
  if (rc == PB_OK) {
    PB_CHECK_MSG(p.ntrials == ntrials, "%ld trials, expected %ld", p.ntrials, ntrials);
    for (int k = 0; cols[k]; k++) PB_CHECK_MSG(!strcmp(column(&p, k), cols[k]), "key %d: '%s', expected '%s'", k, column(&p, k), cols[k]);
  }
  pb_sweep_plan_free(&p);
  pb_sweep_spec_free(&s);
}

static void expect_error(const char *body, const char *frag) {
  pb_sweep_spec s;
  pb_sweep_plan p;
  pb_err err = {{0}};
  int rc = load(body, &s, &p, &err);
  printf("  error: %s\n", err.msg);
  PB_CHECK_MSG(rc == PB_ERR && strstr(err.msg, frag), "expected an error with '%s', got '%s'", frag, err.msg);
  pb_sweep_plan_free(&p);
  pb_sweep_spec_free(&s);
}

int main(void) {
  snprintf(dir, sizeof dir, "%s/pb_test_sweep.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  PB_ASSERT(mkdtemp(dir));
  char base[300];
  snprintf(base, sizeof base, "%s/base.ini", dir);
  FILE *f = fopen(base, "w");
  fputs("[train]\nepochs = 2\n", f);
  fclose(f);

  /* grid: first key outermost, the last fastest; a:b end included */
  expect("[vary]\ndata.eps = 0, 40\nrun.seed = 1:3\n", (const char *[]){"0 0 0 40 40 40", "1 2 3 1 2 3", NULL}, 6);
  /* range(): end excluded; floats; negative steps; one-argument form */
  expect("[vary]\ndata.eps = range(0, 55, 5)\n", (const char *[]){"0 5 10 15 20 25 30 35 40 45 50", NULL}, 11);
  expect("[vary]\noptim.lr = range(0.1, 0.4, 0.1)\n", (const char *[]){"0.1 0.2 0.3", NULL}, 3);
  expect("[vary]\ndata.eps = 0:50:25\n", (const char *[]){"0 25 50", NULL}, 3);
  expect("[vary]\ndata.eps = 10:0:-5\n", (const char *[]){"10 5 0", NULL}, 3);
  expect("[vary]\nrun.seed = range(3)\n", (const char *[]){"0 1 2", NULL}, 3);
  /* '|' separates values of list keys */
  expect("[vary]\nmodel.channels = 8,16 | 16,32\n", (const char *[]){"8,16 16,32", NULL}, 2);
  /* zip, and cross_seeds innermost */
  expect("[sweep]\nmode = zip\ncross_seeds = 7, 8\n[vary]\ndata.eps = 0, 20, 40\noptim.lr = 0.1, 0.2, 0.3\n",
         (const char *[]){"0 0 20 20 40 40", "0.1 0.1 0.2 0.2 0.3 0.3", "7 8 7 8 7 8", NULL}, 6);
  /* a later [vary] line replaces the values and keeps the key's place */
  expect("[vary]\ndata.eps = 0\nrun.seed = 1, 2\ndata.eps = 5, 6\n", (const char *[]){"5 5 6 6", "1 2 1 2", NULL}, 4);

  /* random: reproducible, seed-dependent, in bounds, equal to pb_sweep_draw */
  const char *rnd = "[sweep]\nmode = random\ntrials = 50\nseed = %d\n[vary]\noptim.lr = loguniform(0.001, 0.1)\n"
                    "data.eps = uniform(0, 50)\ntrain.batch_size = randint(16, 20)\nmodel.arch = choice(mlp, simplecnn)\n";
  char body[1024];
  pb_sweep_spec s1, s2, s3;
  pb_sweep_plan p1, p2, p3;
  pb_err err = {{0}};
  snprintf(body, sizeof body, rnd, 3);
  PB_CHECK_MSG(load(body, &s1, &p1, &err) == PB_OK, "%s", err.msg);
  PB_CHECK_MSG(load(body, &s2, &p2, &err) == PB_OK, "%s", err.msg);
  snprintf(body, sizeof body, rnd, 4);
  PB_CHECK_MSG(load(body, &s3, &p3, &err) == PB_OK, "%s", err.msg);
  int differ = 0, seen[5] = {0}, arch[2] = {0};
  double lmin = 1, lmax = 0;
  for (long t = 0; t < p1.ntrials; t++) {
    for (int k = 0; k < p1.nkeys; k++) {
      PB_CHECK(!strcmp(val(&p1, t, k), val(&p2, t, k)));
      differ += strcmp(val(&p1, t, k), val(&p3, t, k)) != 0;
      char d[64];
      pb_sweep_draw(&s1.keys[k], k, 3, t, d, sizeof d);
      PB_CHECK(!strcmp(d, val(&p1, t, k)));
    }
    double lr = atof(val(&p1, t, 0)), eps = atof(val(&p1, t, 1));
    long bs = atol(val(&p1, t, 2));
    PB_CHECK(lr >= 0.001 && lr <= 0.1 && eps >= 0 && eps <= 50 && bs >= 16 && bs <= 20);
    if (bs >= 16 && bs <= 20) seen[bs - 16] = 1;
    arch[!strcmp(val(&p1, t, 3), "simplecnn")] = 1;
    lmin = lr < lmin ? lr : lmin, lmax = lr > lmax ? lr : lmax;
  }
  PB_CHECK_MSG(differ > 100, "seed 3 and 4 share too many values (%d differ)", differ);
  PB_CHECK(seen[0] && seen[1] && seen[2] && seen[3] && seen[4] && arch[0] && arch[1]);
  PB_CHECK_MSG(lmin < 0.003 && lmax > 0.03, "loguniform spread [%g, %g]", lmin, lmax);
  pb_sweep_plan_free(&p1), pb_sweep_plan_free(&p2), pb_sweep_plan_free(&p3);
  pb_sweep_spec_free(&s1), pb_sweep_spec_free(&s2), pb_sweep_spec_free(&s3);

  /* names */
  {
    pb_sweep_spec s;
    pb_sweep_plan p;
    PB_CHECK(load("name = e{data.eps}/{trial}\n[vary]\ndata.eps = 0.5, 40\n", &s, &p, &err) == PB_OK);
    PB_CHECK_MSG(p.ntrials == 2 && !strcmp(p.names[0], "e0.5_0001") && !strcmp(p.names[1], "e40_0002"), "%s %s",
                 p.names ? p.names[0] : "", p.names ? p.names[1] : "");
    pb_sweep_plan_free(&p);
    pb_sweep_spec_free(&s);
  }

  /* errors, each naming the spec line */
  expect_error("[vary]\ndata.epz = 0, 1\n", "s.ini:4: [data] unknown key 'epz'; did you mean 'eps'?");
  expect_error("[vary]\ndata.eps = 0, 60\n", "s.ini:4: [data] eps = 60 is out of range [0, 50]");
  expect_error("[vary]\ntrain.epochs = 1.5\n", "s.ini:4: [train] epochs = 1.5 is not an integer");
  expect_error("[vary]\ndata.eps =\n", "s.ini:4: data.eps: the value list is empty");
  expect_error("[vary]\ndata.eps = 0,,5\n", "s.ini:4: data.eps: value 2 is empty");
  expect_error("[vary]\ndata.eps = range(0, 10, 0)\n", "s.ini:4: data.eps = range(0, 10, 0): the step is 0");
  expect_error("[vary]\ndata.eps = range(10, 0)\n", "holds no value");
  expect_error("mode = zip\n[vary]\ndata.eps = 0, 1\nrun.seed = 1\n", "s.ini:6: mode = zip needs value lists of one length");
  expect_error("mode = random\n[vary]\ndata.eps = 0, 1\n", "s.ini:3: mode = random needs [sweep] trials = N");
  expect_error("mode = random\ntrials = 0\n[vary]\ndata.eps = 1\n", "s.ini:4: [sweep] trials = 0 is out of range");
  expect_error("[vary]\noptim.lr = loguniform(0.1, 0.2)\n", "it needs [sweep] mode = random");
  expect_error("mode = random\ntrials = 2\n[vary]\noptim.lr = loguniform(0, 0.2)\n", "loguniform needs 0 < a <= b");
  expect_error("mode = random\ntrials = 2\n[vary]\ntrain.epochs = uniform(1, 5)\n", "[train] epochs is not a float key");
  expect_error("mode = gird\n", "s.ini:3: [sweep] mode = gird is not one of grid|zip|random");
  expect_error("bsae = x\n", "s.ini:3: [sweep] unknown key 'bsae'");
  expect_error("[vray]\n", "s.ini:3: unknown section [vray]");
  expect_error("[set]\ntrain.epochs = 1\n[vary]\ntrain.epochs = 1, 2\n", "train.epochs is varied and also fixed in [set]");
  expect_error("name = x\n[vary]\ndata.eps = 0, 1\n", "s.ini:3: trials 1 and 2 both get the run name 'x'");
  expect_error("name = {data.rho}\n[vary]\ndata.eps = 0, 1\n", "{data.rho} is not a varied key");
  expect_error("", "nothing is varied");
  char cmd[320];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd)) printf("could not remove %s\n", dir);
  return pb_test_exit("test_sweep");
}
