/* test_biasamp_data.c: the released bias-amplification data (loaders/biasamp.c) and the pieces of
 * loaders/bias.c that use it, without Fashion-MNIST:
 *  - the committed data/biasamp/class_assignments.csv: rows 0 and 19 as generate_experiment_
 *    configs.py lists them (in0 = super-class 0 = the CSV's 0s), index 20 is an error naming
 *    the file and the count; malformed CSVs (header, a 2, six 1s, a short row, rows out of
 *    order, a missing file) are errors naming file:line;
 *  - thresholds 20 p by hand: eps 0 -> 10/10, 5 -> 11/9, 35 -> 17/3, 50 -> 20/0; eps 2.5 is
 *    off the grid (error);
 *  - the committed lists: train [20, 60000], test [10000], values 0..19, each class's twentieths
 *    uniform (every assignment's train row has 3000 of each twentieth, the test row 500: the
 *    rank of a shuffled list of 6000 / 1000); row 20 is an error; a truncated file, a float
 *    file, a value 20 and a 3-D file are errors naming the file;
 *  - pb_bias_inversion_lists and pb_bias_superclass_labels on a 4-sample set: exactly the
 *    samples below their super-class's threshold are inverted (255 - x), groups / aligned
 *    follow, labels become super-classes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loaders/bias.h"
#include "loaders/biasamp.h"
#include "test/testutil.h"

static const char *src(const char *rel) { return pb_test_path(PLUMB_SOURCE_DIR, rel); }

static void write_text(const char *path, const char *s) { pb_test_write_file(path, s, strlen(s)); }

/* A v1.0 .npy of descr `dt` and shape text `shape`, body of n bytes. */
static void write_npy(const char *path, const char *dt, const char *shape, const void *body, size_t n) {
  char hdr[256];
  int hl = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", dt, shape);
  int total = 10 + hl + 1, pad = (64 - total % 64) % 64;
  FILE *f = fopen(path, "wb");
  PB_CHECK(f);
  uint16_t len = (uint16_t)(hl + pad + 1);
  fwrite("\x93NUMPY\x01\x00", 1, 8, f);
  fputc(len & 0xff, f), fputc(len >> 8, f);
  fwrite(hdr, 1, (size_t)hl, f);
  for (int i = 0; i < pad; i++) fputc(' ', f);
  fputc('\n', f);
  fwrite(body, 1, n, f);
  fclose(f);
}

static void expect_err(const char *what, int rc, const pb_err *err, const char *frag) {
  PB_CHECK_MSG(rc == PB_ERR, "%s: no error", what);
  PB_CHECK_MSG(strstr(err->msg, frag) != NULL, "%s: message '%s' lacks '%s'", what, err->msg, frag);
  printf("  %s: %s\n", what, err->msg);
}

static void test_assignments(void) {
  const char *csv = src("data/biasamp/class_assignments.csv");
  pb_err err = {{0}};
  uint8_t in0[10];
  static const uint8_t row0[10] = {1, 1, 0, 1, 0, 0, 0, 0, 1, 1}, row19[10] = {1, 0, 0, 0, 0, 1, 1, 1, 1, 0};
  PB_CHECK(pb_biasamp_assignment(csv, 0, in0, &err) == PB_OK);
  for (int c = 0; c < 10; c++) PB_CHECK(in0[c] == !row0[c]);
  PB_CHECK(pb_biasamp_assignment(csv, 19, in0, &err) == PB_OK);
  for (int c = 0; c < 10; c++) PB_CHECK(in0[c] == !row19[c]);
  expect_err("index 20", pb_biasamp_assignment(csv, 20, in0, &err), &err, "holds 20 assignments");

  const char *dir = pb_test_tmpdir("biasamp");
  static const char *const H = "assignment,class0,class1,class2,class3,class4,class5,class6,class7,class8,class9\n";
  struct {
    const char *name, *body, *frag;
  } bad[] = {
      {"header", "assignment,c0\n0,1,1,1,1,1,0,0,0,0,0\n", ":1: header"},
      {"value 2", "0,1,1,1,1,2,0,0,0,0,0\n", ":2: class4 must be 0 or 1"},
      {"six ones", "0,1,1,1,1,1,1,0,0,0,0\n", ":2: 6 classes in super-class 1"},
      {"short row", "0,1,1,1,1,1,0,0,0,0\n", ":2: class8"},
      {"out of order", "0,1,1,1,1,1,0,0,0,0,0\n2,1,1,1,1,1,0,0,0,0,0\n", ":3: the assignment column must be 1"},
  };
  char path[512], body[512];
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(path, sizeof path, "%s/bad%zu.csv", dir, i);
    snprintf(body, sizeof body, "%s%s", i ? H : "", bad[i].body);
    write_text(path, body);
    memset(&err, 0, sizeof err);
    memset(in0, 0xAB, sizeof in0);
    expect_err(bad[i].name, pb_biasamp_assignment(path, 0, in0, &err), &err, bad[i].frag);
    PB_CHECK(strstr(err.msg, path) != NULL);
    /* Nothing changed on error, even when row 0 was read before the bad row (fuzz_biasamp_csv). */
    for (int c = 0; c < 10; c++) PB_CHECK(in0[c] == 0xAB);
  }
  snprintf(path, sizeof path, "%s/none.csv", dir);
  expect_err("missing file", pb_biasamp_assignment(path, 0, in0, &err), &err, "cannot open");
}

static void test_thresholds(void) {
  pb_err err = {{0}};
  const struct {
    double eps;
    int t0, t1;
  } T[] = {{0, 10, 10}, {5, 11, 9}, {35, 17, 3}, {50, 20, 0}, {45, 19, 1}};
  for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
    int t0 = -1, t1 = -1;
    PB_CHECK(pb_biasamp_threshold(T[i].eps, 1, &t0, &err) == PB_OK && t0 == T[i].t0);
    PB_CHECK(pb_biasamp_threshold(T[i].eps, 0, &t1, &err) == PB_OK && t1 == T[i].t1);
  }
  int t;
  expect_err("eps 2.5", pb_biasamp_threshold(2.5, 1, &t, &err), &err, "eps 0, 5, ..., 50 only");
}

static void test_lists(void) {
  pb_err err = {{0}};
  const char *dir = src("data/biasamp");
  for (int a = 0; a < 20; a += 19) {
    uint8_t *b = NULL;
    int n = 0;
    PB_CHECK(pb_biasamp_lists(dir, a, 1, &b, &n, &err) == PB_OK && n == 60000);
    int count[20] = {0};
    for (int k = 0; b && k < n; k++) count[b[k]]++;
    for (int v = 0; v < 20; v++) PB_CHECK_MSG(count[v] == 3000, "train row %d twentieth %d: %d", a, v, count[v]);
    free(b);
  }
  uint8_t *b = NULL;
  int n = 0;
  PB_CHECK(pb_biasamp_lists(dir, 7, 2, &b, &n, &err) == PB_OK && n == 10000);
  int count[20] = {0};
  for (int k = 0; b && k < n; k++) count[b[k]]++;
  for (int v = 0; v < 20; v++) PB_CHECK(count[v] == 500);
  free(b);
  expect_err("row 20", pb_biasamp_lists(dir, 20, 1, &b, &n, &err), &err, "no row for [data] class_assignment = 20");

  const char *tmp = pb_test_tmpdir("biasamp_lists");
  char path[512];
  uint8_t body[8] = {0, 1, 2, 19, 5, 6, 7, 8};
  snprintf(path, sizeof path, "%s/inversion_train.npy", tmp);
  write_npy(path, "|u1", "(2, 4)", body, 8);
  PB_CHECK(pb_biasamp_lists(tmp, 1, 1, &b, &n, &err) == PB_OK && n == 4 && b[0] == 5 && b[3] == 8);
  free(b);
  write_npy(path, "|u1", "(2, 4)", body, 5);
  expect_err("truncated", pb_biasamp_lists(tmp, 0, 1, &b, &n, &err), &err, "inversion_train.npy");
  body[2] = 20;
  write_npy(path, "|u1", "(2, 4)", body, 8);
  expect_err("value 20", pb_biasamp_lists(tmp, 0, 1, &b, &n, &err), &err, "is 20; twentieths lie in 0..19");
  write_npy(path, "|u1", "(2, 2, 2)", body, 8);
  expect_err("3-D", pb_biasamp_lists(tmp, 0, 1, &b, &n, &err), &err, "3 dimensions");
  float fl[2] = {0, 1};
  write_npy(path, "<f4", "(1, 2)", fl, sizeof fl);
  expect_err("floats", pb_biasamp_lists(tmp, 0, 1, &b, &n, &err), &err, "holds floats");
  expect_err("missing test list", pb_biasamp_lists(tmp, 0, 2, &b, &n, &err), &err, "inversion_test.npy");
}

static void test_inject_pieces(void) {
  uint8_t img[4][2] = {{0, 10}, {0, 10}, {0, 10}, {0, 10}};
  int32_t labels[4] = {0, 0, 5, 5};
  pb_dataset d;
  memset(&d, 0, sizeof d);
  d.kind = PB_DATA_U8, d.n = 4, d.c = 1, d.h = 1, d.w = 2, d.num_classes = 10;
  d.images = malloc(sizeof img), d.labels = malloc(sizeof labels);
  memcpy(d.images, img, sizeof img), memcpy(d.labels, labels, sizeof labels);
  uint8_t in0[10] = {1, 1, 1, 1, 1, 0, 0, 0, 0, 0};
  const uint8_t b[4] = {12, 13, 2, 3}; /* eps 15: t0 = 13, t1 = 7 */
  pb_bias_inversion_lists(&d, in0, b, 13, 7);
  const int inv[4] = {1, 0, 1, 1};
  for (int i = 0; i < 4; i++) {
    PB_CHECK(d.groups[i] == inv[i]);
    PB_CHECK(d.aligned[i] == (i < 2 ? inv[i] : !inv[i]));
    PB_CHECK(d.images[2 * i] == (inv[i] ? 255 : 0) && d.images[2 * i + 1] == (inv[i] ? 245 : 10));
  }
  pb_bias_superclass_labels(&d, in0);
  PB_CHECK(d.labels[0] == 0 && d.labels[1] == 0 && d.labels[2] == 1 && d.labels[3] == 1 && d.num_classes == 2);
  pb_dataset_free(&d);
}

int main(void) {
  test_assignments();
  test_thresholds();
  test_lists();
  test_inject_pieces();
  return pb_test_exit("test_biasamp_data");
}
