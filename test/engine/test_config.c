/* test_config.c: the INI config (engine/config/config.h): a good file with every type and includes,
 * --set, every malformed case (the message must name file, line, section, key and the
 * suggestion), and write + reload. Each error message is printed once for a person to read. */
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "engine/config/config.h"
#include "test/testutil.h"

static const char *dir;

static const char *write_file(const char *name, const char *text) {
  static char paths[8][4096];
  static int next;
  char *p = paths[next++ % 8];
  snprintf(p, 4096, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  PB_ASSERT(f);
  fputs(text, f);
  fclose(f);
  return p;
}

/* Checks that msg holds every fragment (NULL-terminated list). */
static void expect_fragments(const char *what, const char *msg, va_list ap) {
  printf("  %-22s %s\n", what, msg);
  for (const char *frag; (frag = va_arg(ap, const char *));)
    PB_CHECK_MSG(strstr(msg, frag) != NULL, "%s: message lacks \"%s\"", what, frag);
}

/* Writes `text` as `name`, loads it into a fresh config and expects PB_ERR with the fragments. */
static void expect_load_fail(const char *what, const char *name, const char *text, ...) {
  const char *path = text ? write_file(name, text) : name;
  pb_config *c = pb_config_new();
  pb_err err = {{0}};
  int rc = pb_config_load(c, path, &err);
  PB_CHECK_MSG(rc == PB_ERR, "%s: load succeeded", what);
  va_list ap;
  va_start(ap, text);
  expect_fragments(what, err.msg, ap);
  va_end(ap);
  pb_config_free(c);
}

static void expect_set_fail(pb_config *c, const char *assignment, ...) {
  pb_err err = {{0}};
  PB_CHECK_MSG(pb_config_set(c, assignment, &err) == PB_ERR, "--set %s succeeded", assignment);
  va_list ap;
  va_start(ap, assignment);
  expect_fragments(assignment, err.msg, ap);
  va_end(ap);
}

static void test_good_file(void) {
  write_file("base.ini",
             "; base settings, included from the top of good.ini\n"
             "[optim]\n"
             "lr = 0.5\n"
             "name = adam\n"
             "[train]\n"
             "epochs = 3\n");
  write_file("mid.ini", "[optim]\nbeta2 = 0.98   # inline hash comment\n");
  const char *path = write_file("good.ini",
                                "include = base.ini\n"
                                "# a comment\n"
                                "\n"
                                "[run]\n"
                                "name = exp one ; inline semicolon comment\n"
                                "  seed = 42\n" /* indented: not a continuation of name */
                                "resume = no\n"
                                "deterministic = ON\n"
                                "device = cuda:1\n"
                                "[model]\n"
                                "arch = mlp\n"
                                "hidden = 512, 128 ,64\n"
                                "channels = 8\n"
                                "dropout = 0.25\n"
                                "init_from = w#1.safetensors\n"
                                "[data]\n"
                                "mean = 0.1,0.2,0.3\n"
                                "std = 1e-6\n"
                                "bias = colour\n"
                                "[optim]\n"
                                "lr = 0.25\n"
                                "[train]\n"
                                "include = mid.ini\n"
                                "batch_size = +64\n"
                                "[schedule]\n"
                                "milestones =\n"
                                "step_size = 1000000000000\n");
  pb_config *c = pb_config_new();
  pb_err err = {{0}};
  int rc = pb_config_load(c, path, &err);
  PB_CHECK_MSG(rc == PB_OK, "%s", err.msg);

  PB_CHECK(!strcmp(pb_config_str(c, "run", "name"), "exp one"));
  PB_CHECK(pb_config_int(c, "run", "seed") == 42);
  PB_CHECK(pb_config_bool(c, "run", "resume") == 0);
  PB_CHECK(pb_config_bool(c, "run", "deterministic") == 1);
  PB_CHECK(!strcmp(pb_config_str(c, "run", "device"), "cuda:1"));
  PB_CHECK(!strcmp(pb_config_str(c, "model", "arch"), "mlp"));
  PB_CHECK(pb_config_enum(c, "model", "arch") == 0);
  long h[PB_CFG_LIST_MAX];
  PB_CHECK(pb_config_ints(c, "model", "hidden", h, PB_CFG_LIST_MAX) == 3);
  PB_CHECK(h[0] == 512 && h[1] == 128 && h[2] == 64);
  PB_CHECK(pb_config_ints(c, "model", "hidden", h, 1) == 3); /* count beyond cap */
  PB_CHECK(pb_config_ints(c, "model", "channels", h, PB_CFG_LIST_MAX) == 1 && h[0] == 8);
  PB_CHECK(pb_config_float(c, "model", "dropout") == 0.25);
  PB_CHECK(!strcmp(pb_config_str(c, "model", "init_from"), "w#1.safetensors"));
  double m[PB_CFG_LIST_MAX];
  PB_CHECK(pb_config_floats(c, "data", "mean", m, PB_CFG_LIST_MAX) == 3);
  PB_CHECK(m[0] == 0.1 && m[1] == 0.2 && m[2] == 0.3);
  PB_CHECK(pb_config_floats(c, "data", "std", m, PB_CFG_LIST_MAX) == 1 && m[0] == 1e-6);
  PB_CHECK(pb_config_enum(c, "data", "bias") == 2);
  PB_CHECK(!strcmp(pb_config_str(c, "data", "bias"), "colour"));
  PB_CHECK(pb_config_float(c, "optim", "lr") == 0.25); /* later value wins */
  PB_CHECK(!strcmp(pb_config_str(c, "optim", "name"), "adam"));
  PB_CHECK(pb_config_float(c, "optim", "beta2") == 0.98);
  PB_CHECK(pb_config_int(c, "train", "epochs") == 3);
  PB_CHECK(pb_config_int(c, "train", "batch_size") == 64);
  PB_CHECK(pb_config_ints(c, "schedule", "milestones", h, PB_CFG_LIST_MAX) == 0);
  PB_CHECK(pb_config_int(c, "schedule", "step_size") == 1000000000000L);
  /* Defaults where absent. */
  PB_CHECK(pb_config_int(c, "run", "log_interval") == 50);
  PB_CHECK(pb_config_float(c, "optim", "eps") == 1e-8);
  PB_CHECK(pb_config_float(c, "data", "rho") == 0.99);
  PB_CHECK(pb_config_bool(c, "data", "shuffle") == 1);
  PB_CHECK(!strcmp(pb_config_str(c, "data", "dir"), "/usr/share/datasets/fashion-mnist"));
  PB_CHECK(pb_config_ints(c, "model", "channels", h, 0) == 1);
  /* Where values came from. */
  PB_CHECK(pb_config_is_set(c, "run", "seed"));
  PB_CHECK(!pb_config_is_set(c, "run", "log_interval"));
  PB_CHECK(!strcmp(pb_config_origin(c, "run", "log_interval"), "default"));
  const char *o = pb_config_origin(c, "train", "epochs");
  PB_CHECK_MSG(strstr(o, "base.ini:6") != NULL, "origin %s", o);
  o = pb_config_origin(c, "optim", "lr");
  PB_CHECK_MSG(strstr(o, "good.ini:21") != NULL, "origin %s", o);
  o = pb_config_origin(c, "optim", "beta2");
  PB_CHECK_MSG(strstr(o, "mid.ini:2") != NULL, "origin %s", o);

  /* --set overrides. */
  PB_CHECK(pb_config_set(c, "optim.lr=0.125", &err) == PB_OK);
  PB_CHECK(pb_config_float(c, "optim", "lr") == 0.125);
  PB_CHECK(!strcmp(pb_config_origin(c, "optim", "lr"), "--set"));
  PB_CHECK(pb_config_set(c, " run.name = spaced out ", &err) == PB_OK);
  PB_CHECK(!strcmp(pb_config_str(c, "run", "name"), "spaced out"));
  PB_CHECK(pb_config_set(c, "model.channels=4,8,16", &err) == PB_OK);
  PB_CHECK(pb_config_ints(c, "model", "channels", h, PB_CFG_LIST_MAX) == 3 && h[2] == 16);
  PB_CHECK(pb_config_set(c, "run.out_dir=a=b;c", &err) == PB_OK);
  PB_CHECK(!strcmp(pb_config_str(c, "run", "out_dir"), "a=b;c"));
  PB_CHECK(pb_config_set(c, "model.init_from=", &err) == PB_OK);
  PB_CHECK(!strcmp(pb_config_str(c, "model", "init_from"), ""));

  printf("--set errors:\n");
  expect_set_fail(c, "optim.lrr=1", "--set optim.lrr", "[optim] unknown key 'lrr'", "did you mean 'lr'", NULL);
  expect_set_fail(c, "optim", "--set", "expected section.key=value", NULL);
  expect_set_fail(c, "lr=1", "--set", "expected section.key=value", NULL);
  expect_set_fail(c, "optimiser.lr=1", "--set optimiser.lr", "unknown section [optimiser]", "did you mean [optim]",
                  NULL);
  expect_set_fail(c, "train.batch_size=0", "--set train.batch_size", "out of range [1, 65536]", NULL);
  expect_set_fail(c, "train.lr=0.1", "--set train.lr", "it belongs in [optim]", NULL);
  expect_set_fail(c, "run.device=gpu", "--set run.device", "device = gpu", "did you mean 'cpu'", NULL);
  expect_set_fail(c, "run.name=a #b", "--set run.name", "comment", NULL);
  PB_CHECK(pb_config_float(c, "optim", "lr") == 0.125); /* failed sets change nothing */
  PB_CHECK(!strcmp(pb_config_str(c, "run", "name"), "spaced out"));

  /* Write + reload reproduces every value. */
  char out[4200];
  snprintf(out, sizeof out, "%s/resolved.ini", dir);
  PB_CHECK_MSG(pb_config_write(c, out, &err) == PB_OK, "%s", err.msg);
  pb_config *r = pb_config_new();
  PB_CHECK_MSG(pb_config_load(r, out, &err) == PB_OK, "%s", err.msg);
  for (int i = 0; i < pb_cfg_nkeys; i++) {
    const pb_cfg_key *k = &pb_cfg_keys[i];
    int same = 0;
    switch (k->type) {
      case PB_CFG_INT: same = pb_config_int(c, k->section, k->key) == pb_config_int(r, k->section, k->key); break;
      case PB_CFG_FLOAT: same = pb_config_float(c, k->section, k->key) == pb_config_float(r, k->section, k->key); break;
      case PB_CFG_BOOL: same = pb_config_bool(c, k->section, k->key) == pb_config_bool(r, k->section, k->key); break;
      case PB_CFG_STRING:
      case PB_CFG_ENUM:
        same = !strcmp(pb_config_str(c, k->section, k->key), pb_config_str(r, k->section, k->key));
        break;
      case PB_CFG_INT_LIST: {
        long a[PB_CFG_LIST_MAX], b[PB_CFG_LIST_MAX];
        int na = pb_config_ints(c, k->section, k->key, a, PB_CFG_LIST_MAX);
        int nb = pb_config_ints(r, k->section, k->key, b, PB_CFG_LIST_MAX);
        same = na == nb && !memcmp(a, b, sizeof a[0] * (size_t)na);
        break;
      }
      case PB_CFG_FLOAT_LIST: {
        double a[PB_CFG_LIST_MAX], b[PB_CFG_LIST_MAX];
        int na = pb_config_floats(c, k->section, k->key, a, PB_CFG_LIST_MAX);
        int nb = pb_config_floats(r, k->section, k->key, b, PB_CFG_LIST_MAX);
        same = na == nb && !memcmp(a, b, sizeof a[0] * (size_t)na);
        break;
      }
    }
    PB_CHECK_MSG(same, "[%s] %s differs after write + reload", k->section, k->key);
  }
  /* Every key is in the written file, so every key now comes from it. */
  PB_CHECK(strstr(pb_config_origin(r, "run", "log_interval"), "resolved.ini:") != NULL);
  /* No temporary file left behind. */
  DIR *d = opendir(dir);
  PB_ASSERT(d);
  for (struct dirent *e; (e = readdir(d));) PB_CHECK_MSG(!strstr(e->d_name, ".tmp"), "left over: %s", e->d_name);
  closedir(d);
  char bad[4300];
  snprintf(bad, sizeof bad, "%s/no/such/dir/x.ini", dir);
  PB_CHECK(pb_config_write(c, bad, &err) == PB_ERR);
  printf("  %-22s %s\n", "write to a bad path", err.msg);
  pb_config_free(r);
  pb_config_free(c);
}

static void test_bad_files(void) {
  printf("load errors:\n");
  expect_load_fail("line without =", "noeq.ini", "[train]\nepochs 3\n",
                   "noeq.ini:2:", "expected 'key = value' or '[section]'", NULL);
  expect_load_fail("header without ]", "nobracket.ini", "[train\nepochs = 3\n", "nobracket.ini:1:", "expected", NULL);
  expect_load_fail("unknown section", "badsec.ini", "[optimiser]\nlr = 0.1\n",
                   "badsec.ini:1:", "unknown section [optimiser]; did you mean [optim]?",
                   "(sections: run, dist, log, data, loader, augment, model, train, verify, multilabel, predict, optim, schedule, method)", NULL);
  expect_load_fail("unknown key", "badkey.ini", "[optim]\n\nlr_rate = 0.1\n",
                   "badkey.ini:3:", "[optim] unknown key 'lr_rate'; did you mean 'lr'?", NULL);
  expect_load_fail("unknown key, far", "farkey.ini", "[optim]\nfrobnicate = 1\n",
                   "farkey.ini:2:", "[optim] unknown key 'frobnicate'", "(keys: name, lr,", NULL);
  expect_load_fail("key in wrong section", "wrongsec.ini", "[train]\nmomentum = 0.5\n",
                   "wrongsec.ini:2:", "[train] unknown key 'momentum'; it belongs in [optim]", NULL);
  expect_load_fail("key outside section", "toplevel.ini", "seed = 3\n", "toplevel.ini:1:", "'seed'", "[run]", NULL);
  expect_load_fail("out of bounds", "bounds.ini", "[train]\nbatch_size = 0\n",
                   "bounds.ini:2:", "[train] batch_size = 0 is out of range [1, 65536]", NULL);
  expect_load_fail("float out of bounds", "fbounds.ini", "[data]\nval_split = 0.95\n",
                   "fbounds.ini:2:", "[data] val_split = 0.95 is out of range [0, 0.9]", NULL);
  expect_load_fail("wrong type", "type.ini", "[train]\nepochs = ten\n",
                   "type.ini:2:", "[train] epochs = ten is not an integer", NULL);
  expect_load_fail("trailing garbage", "garbage.ini", "[train]\nepochs = 10x\n",
                   "garbage.ini:2:", "epochs = 10x is not an integer", NULL);
  expect_load_fail("int overflow", "overflow.ini", "[run]\nseed = 99999999999999999999999\n",
                   "overflow.ini:2:", "[run] seed = 99999999999999999999999 is out of range [0, 2147483647]", NULL);
  expect_load_fail("float garbage", "fgarbage.ini", "[optim]\nlr = 0.1.2\n", "[optim] lr = 0.1.2 is not a number",
                   NULL);
  expect_load_fail("nan", "nan.ini", "[optim]\nlr = nan\n", "nan.ini:2:", "[optim] lr = nan is not a finite number",
                   NULL);
  expect_load_fail("bad bool", "bool.ini", "[run]\nresume = maybe\n",
                   "bool.ini:2:", "[run] resume = maybe is not a boolean", NULL);
  expect_load_fail("unknown enum value", "enum.ini", "[optim]\nname = sgdd\n",
                   "enum.ini:2:", "[optim] name = sgdd is not one of sgd|adam|adamw; did you mean 'sgd'?", NULL);
  expect_load_fail("list element", "list.ini", "[model]\nchannels = 16,x,32\n",
                   "list.ini:2:", "[model] channels = 16,x,32: element 2 (x) is not an integer", NULL);
  expect_load_fail("list element bounds", "listb.ini", "[data]\nstd = 0.5, 0\n",
                   "listb.ini:2:", "element 2 (0) is out of range [1e-06, 10]", NULL);
  expect_load_fail("list empty element", "liste.ini", "[model]\nhidden = 10,,20\n",
                   "liste.ini:2:", "element 2 is empty", NULL);
  expect_load_fail("empty list", "emptyl.ini", "[data]\nmean =\n", "emptyl.ini:2:", "[data] mean is empty", NULL);
  expect_load_fail("empty int", "emptyint.ini", "[train]\nepochs =\n",
                   "emptyint.ini:2:", "[train] epochs is empty; expected an integer in [1, 100000]", NULL);
  expect_load_fail("bad device", "device.ini", "[run]\ndevice = gpu\n",
                   "device.ini:2:", "[run] device = gpu is not one of auto|cpu|cuda|cuda:N", "did you mean 'cpu'?",
                   NULL);
  expect_load_fail("bad device index", "device2.ini", "[run]\ndevice = cuda:x\n", "device2.ini:2:", "device = cuda:x",
                   NULL);

  write_file("a.ini", "include = b.ini\n[run]\nseed = 1\n");
  write_file("b.ini", "[run]\ninclude = a.ini\n");
  char a[4200];
  snprintf(a, sizeof a, "%s/a.ini", dir);
  expect_load_fail("include cycle", a, NULL, "b.ini:2:", "[run] include = a.ini", "include cycle:", "a.ini -> ",
                   "b.ini -> ", NULL);
  write_file("self.ini", "include = ./self.ini\n");
  expect_load_fail("self include", "self.ini", "include = ./self.ini\n", "self.ini:1:", "include cycle", NULL);
  expect_load_fail("missing include", "missinc.ini", "[data]\n\ninclude = nothere.ini\n",
                   "missinc.ini:3:", "include = nothere.ini", "No such file", NULL);
  write_file("inc_bad.ini", "[train]\nepochs = 0\n");
  expect_load_fail("error inside include", "outer.ini", "include = inc_bad.ini\n",
                   "inc_bad.ini:2:", "[train] epochs = 0 is out of range", NULL);

  char line[400];
  int n = snprintf(line, sizeof line, "[run]\nname = ");
  memset(line + n, 'x', 300);
  snprintf(line + n + 300, sizeof line - (size_t)n - 300, "\n");
  expect_load_fail("over-long line", "long.ini", line, "long.ini:2:", "line is longer than 197 characters", NULL);
  n = snprintf(line, sizeof line, "[run]\n# ");
  memset(line + n, 'c', 250);
  snprintf(line + n + 250, sizeof line - (size_t)n - 250, "\nseed = 1\n");
  expect_load_fail("over-long comment", "longc.ini", line, "longc.ini:2:", "longer than", NULL);

  char missing[4200];
  snprintf(missing, sizeof missing, "%s/nosuch.ini", dir);
  expect_load_fail("missing config file", missing, NULL, "nosuch.ini", "cannot open", NULL);

  /* The longest line that fits is read whole (197 characters with INI_MAX_LINE 200). */
  n = snprintf(line, sizeof line, "[run]\nname = ");
  memset(line + n, 'y', 197 - 7);
  snprintf(line + n + 190, sizeof line - (size_t)n - 190, "\r\n");
  const char *p = write_file("edge.ini", line);
  pb_config *c = pb_config_new();
  pb_err err = {{0}};
  PB_CHECK_MSG(pb_config_load(c, p, &err) == PB_OK, "%s", err.msg);
  PB_CHECK(strlen(pb_config_str(c, "run", "name")) == 190);
  pb_config_free(c);
}

/* Named sections [model.f], [optim.g]: their own values over the base section's, --set,
 * the written config reading back to the same models and values, and their errors. */
static void test_named(void) {
  const char *p = write_file("named.ini",
                             "[model]\narch = simpleconvnet\nkernel_size = 5\n[model.f]\nkernel_size = 7\n"
                             "[model.g]\n[optim]\nname = adam\nlr = 0.001\n[optim.g]\nlr = 0.01\n");
  pb_config *c = pb_config_new();
  pb_err err = {{0}};
  PB_ASSERT(pb_config_load(c, p, &err) == PB_OK);
  PB_CHECK(pb_config_set(c, "model.g.dropout=0.25", &err) == PB_OK);
  const char *names[4];
  PB_CHECK(pb_config_names(c, "model", names, 4) == 2 && !strcmp(names[0], "f") && !strcmp(names[1], "g"));
  PB_CHECK(pb_config_names(c, "optim", names, 4) == 1 && !strcmp(names[0], "g"));
  PB_CHECK(pb_config_names(c, "schedule", names, 4) == 0);
  PB_CHECK(strstr(pb_config_named_origin(c, "model", "g"), "named.ini:6") != NULL);
  PB_CHECK(pb_config_int(c, "model", "kernel_size") == 5); /* the base section is untouched */
  for (int pass = 0; pass < 2; pass++) {
    pb_config *f = pb_config_view(c, "f"), *g = pb_config_view(c, "g");
    PB_CHECK(pb_config_int(f, "model", "kernel_size") == 7 && pb_config_int(g, "model", "kernel_size") == 5);
    PB_CHECK(!strcmp(pb_config_str(g, "model", "arch"), "simpleconvnet")); /* inherited */
    PB_CHECK(pb_config_float(f, "optim", "lr") == 0.001 && pb_config_float(g, "optim", "lr") == 0.01);
    PB_CHECK(pb_config_float(g, "model", "dropout") == 0.25 && pb_config_float(f, "model", "dropout") == 0);
    PB_CHECK(pass || !strcmp(pb_config_origin(g, "model", "dropout"), "--set"));
    PB_CHECK(pb_config_named_is_set(c, "model", "g", "dropout") && !pb_config_named_is_set(c, "model", "g", "arch"));
    pb_config_free(f);
    pb_config_free(g);
    if (pass) break;
    /* the resolved config as a run folder keeps it: written, read back, the same */
    char out[4096];
    snprintf(out, sizeof out, "%s/named_written.ini", dir);
    PB_ASSERT(pb_config_write(c, out, &err) == PB_OK);
    pb_config_free(c);
    c = pb_config_new();
    PB_CHECK_MSG(pb_config_load(c, out, &err) == PB_OK, "%s", err.msg);
    PB_CHECK(pb_config_names(c, "model", names, 4) == 2);
  }
  expect_set_fail(c, "model.G.arch=mlp", "a model name is", NULL);
  expect_set_fail(c, "data.g.dir=x", "only [model], [optim] and [schedule] take named sections", NULL);
  expect_set_fail(c, "model.g.kernal_size=3", "[model.g] unknown key 'kernal_size'", "did you mean 'kernel_size'", NULL);
  expect_set_fail(c, "model.g.kernel_size=99", "kernel_size", NULL);
  pb_config_free(c);
  expect_load_fail("bad model name", "named_bad1.ini", "[model.F-1]\narch = mlp\n", "named_bad1.ini:1", "a model name is", NULL);
  expect_load_fail("named data section", "named_bad2.ini", "[train.f]\nepochs = 2\n", "named_bad2.ini:1",
                   "only [model], [optim] and [schedule]", NULL);
  expect_load_fail("unknown key in a named section", "named_bad3.ini", "[model.g]\nkernal_size = 1\n",
                   "named_bad3.ini:2", "[model.g] unknown key 'kernal_size'", NULL);
}

int main(void) {
  dir = pb_test_tmpdir("config");
  test_good_file();
  test_bad_files();
  test_named();
  printf("key reference (plumb config):\n");
  pb_config_print_reference(stdout);
  return pb_test_exit("test_config");
}
