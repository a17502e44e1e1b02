/* test_npy_groups.c: group ids of .npy datasets (loaders/load.c, sources.c) through
 * pb_data_load: [data] train_groups / test_groups (integer .npy [N]) and group_column over
 * .csv targets are read, follow the validation split and limit_train / limit_test to the rows
 * they belong to, and reach the loader's batches (pb_batch.groups); every bad input (float
 * dtype, wrong shape, wrong N, a negative or too large id, a missing file, both ways of giving
 * groups at once, groups for another source) is an error naming the key, the file and the
 * first bad row and value, and leaves the datasets empty. */
#include <stdlib.h>
#include <string.h>

#include "loaders/load.h"
#include "loaders/pool.h"
#include "test/testutil.h"

#define N 6  /* training tracks */
#define NT 5 /* test tracks */
#define T 4
#define D 3

static const char *g_dir;

/* A .npy of dtype descr ("<f4", "<i4", "<i8", "|u1") and shape dims[0..ndim) with the bytes of data. */
static void write_npy(const char *name, const char *descr, const long *dims, int ndim, const void *data,
                      size_t bytes) {
  char shape[96] = "", hdr[256];
  size_t o = 0;
  for (int k = 0; k < ndim; k++)
    o += (size_t)snprintf(shape + o, sizeof shape - o, "%ld,%s", dims[k], k + 1 < ndim ? " " : "");
  int hl = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shape);
  int pad = 64 - (10 + hl + 1) % 64;
  unsigned char *b = pb_xmalloc(10 + (size_t)hl + (size_t)pad + 1 + bytes);
  memcpy(b, "\x93NUMPY\x01\x00", 8);
  int total = hl + pad + 1;
  b[8] = (unsigned char)(total & 255), b[9] = (unsigned char)(total >> 8);
  memcpy(b + 10, hdr, (size_t)hl);
  memset(b + 10 + hl, ' ', (size_t)pad);
  b[10 + hl + pad] = '\n';
  memcpy(b + 10 + total, data, bytes);
  pb_test_write_file(pb_test_path(g_dir, name), b, 10 + (size_t)total + bytes);
  free(b);
}

static void write_i32(const char *name, const int32_t *v, long n) { write_npy(name, "<i4", &n, 1, v, (size_t)n * 4); }

/* Features whose first value is the row index (so a subset's rows can be told apart), labels
 * row % 3, groups 10 + row (train) and 20 + row (test). */
static void make_data(void) {
  float x[N * T * D];
  int32_t y[N], g[N], yt[NT];
  int64_t gt[NT];
  for (int i = 0; i < N * T * D; i++) x[i] = (float)(i / (T * D)) + 0.01f * (float)(i % (T * D));
  for (int i = 0; i < N; i++) y[i] = i % 3, g[i] = 10 + i;
  for (int i = 0; i < NT; i++) yt[i] = i % 3, gt[i] = 20 + i;
  long dx[3] = {N, T, D}, dt[3] = {NT, T, D}, n = N, nt = NT;
  write_npy("x.npy", "<f4", dx, 3, x, sizeof x);
  write_npy("xt.npy", "<f4", dt, 3, x, (size_t)NT * T * D * 4);
  write_i32("y.npy", y, N);
  write_i32("yt.npy", yt, NT);
  write_i32("g.npy", g, N);
  write_npy("gt.npy", "<i8", &nt, 1, gt, sizeof gt); /* int64, as numpy writes by default */
  uint8_t g8[N] = {0, 1, 0, 1, 255, 0};
  write_npy("g_u8.npy", "|u1", &n, 1, g8, sizeof g8);
  /* bad groups */
  float gf[N] = {0};
  write_npy("g_float.npy", "<f4", &n, 1, gf, sizeof gf);
  int32_t g2[N * 2] = {0};
  long d2[2] = {N, 2};
  write_npy("g_2d.npy", "<i4", d2, 2, g2, sizeof g2);
  write_i32("g_short.npy", g, N - 1);
  int32_t gneg[N] = {0, 1, 2, -1, 4, -5};
  write_i32("g_neg.npy", gneg, N);
  int32_t gbig[N] = {0, 1, 2, 3, 1 << 20, 5};
  write_i32("g_big.npy", gbig, N);
  /* .csv targets with a group column */
  FILE *f = fopen(pb_test_path(g_dir, "y.csv"), "w");
  PB_ASSERT(f);
  fprintf(f, "label,group,length\n");
  for (int i = 0; i < N; i++) fprintf(f, "%d,%d,%d\n", y[i], 30 + i, T);
  fclose(f);
  f = fopen(pb_test_path(g_dir, "yt.csv"), "w");
  PB_ASSERT(f);
  fprintf(f, "label,group,length\n");
  for (int i = 0; i < NT; i++) fprintf(f, "%d,%d,%d\n", yt[i], 40 + i, T);
  fclose(f);
  const char *name_csv = "label,group\n0,0\n1,a\n2,0\n0,0\n1,0\n";
  const char *big_csv = "label,group\n0,0\n1,1\n2,1048576\n0,0\n1,0\n";
  pb_test_write_file(pb_test_path(g_dir, "yt_name.csv"), name_csv, strlen(name_csv));
  pb_test_write_file(pb_test_path(g_dir, "yt_big.csv"), big_csv, strlen(big_csv));
}

static pb_data_params params(void) {
  pb_data_params p = {0};
  p.source = PB_SOURCE_NPY;
  p.dir = g_dir;
  p.train_images = p.train_labels = p.test_images = p.test_labels = "";
  p.train_path = "x.npy", p.test_path = "xt.npy";
  p.train_targets = "y.npy", p.test_targets = "yt.npy";
  p.train_lengths = p.test_lengths = p.train_groups = p.test_groups = "";
  p.image_root = p.path_column = p.label_columns = p.group_column = p.path_suffix = p.test_group_columns = "";
  p.num_classes = 3;
  p.seed = 7;
  return p;
}

/* Row i of d (its first feature is the original row index). */
static int row_of(const pb_dataset *d, int i) { return (int)d->feats[(size_t)i * T * D]; }

/* Every sample of d has group base + its original row. */
static int groups_follow(const pb_dataset *d, int base) {
  if (!d->groups) return 0;
  for (int i = 0; i < d->n; i++)
    if (d->groups[i] != base + row_of(d, i)) return 0;
  return 1;
}

static void free3(pb_dataset *a, pb_dataset *b, pb_dataset *c) {
  pb_dataset_free(a), pb_dataset_free(b), pb_dataset_free(c);
}

static void test_good(void) {
  pb_data_params p = params();
  pb_dataset tr, va, te;
  pb_err err = {{0}};
  /* no groups: none */
  PB_CHECK_MSG(pb_data_load(&p, &tr, &va, &te, &err) == PB_OK, "%s", err.msg);
  PB_CHECK(!tr.groups && !te.groups);
  free3(&tr, &va, &te);
  /* both files, int32 and int64 */
  p.train_groups = "g.npy", p.test_groups = "gt.npy";
  PB_CHECK_MSG(pb_data_load(&p, &tr, &va, &te, &err) == PB_OK, "%s", err.msg);
  PB_CHECK(tr.n == N && te.n == NT && groups_follow(&tr, 10) && groups_follow(&te, 20));
  free3(&tr, &va, &te);
  /* the validation split: each half keeps its rows' groups */
  p.val_split = 0.5;
  PB_CHECK_MSG(pb_data_load(&p, &tr, &va, &te, &err) == PB_OK, "%s", err.msg);
  PB_CHECK(tr.n == 3 && va.n == 3 && groups_follow(&tr, 10) && groups_follow(&va, 10) && groups_follow(&te, 20));
  int moved = 0;
  for (int i = 0; i < tr.n; i++) moved |= row_of(&tr, i) != i;
  PB_CHECK(moved); /* the split shuffled: the check above could fail */
  free3(&tr, &va, &te);
  /* limit_train / limit_test: the first rows and their groups */
  p.val_split = 0, p.limit_train = 4, p.limit_test = 2;
  PB_CHECK_MSG(pb_data_load(&p, &tr, &va, &te, &err) == PB_OK, "%s", err.msg);
  PB_CHECK(tr.n == 4 && te.n == 2 && groups_follow(&tr, 10) && groups_follow(&te, 20));
  PB_CHECK(tr.labels[3] == 0 && te.labels[1] == 1);
  free3(&tr, &va, &te);
  p.limit_train = p.limit_test = 0;
  /* test-only groups (uint8 file for train would do too: any integer dtype) */
  p.train_groups = "";
  PB_CHECK_MSG(pb_data_load(&p, &tr, &va, &te, &err) == PB_OK, "%s", err.msg);
  PB_CHECK(!tr.groups && groups_follow(&te, 20));
  free3(&tr, &va, &te);
  p.train_groups = "g_u8.npy", p.test_groups = "";
  PB_CHECK_MSG(pb_data_load(&p, &tr, &va, &te, &err) == PB_OK, "%s", err.msg);
  PB_CHECK(tr.groups && tr.groups[4] == 255 && tr.groups[1] == 1 && !te.groups);
  free3(&tr, &va, &te);
  /* group_column of .csv targets, through a validation split */
  p = params();
  p.train_targets = "y.csv", p.test_targets = "yt.csv", p.label_columns = "label", p.group_column = "group";
  p.val_split = 0.34;
  PB_CHECK_MSG(pb_data_load(&p, &tr, &va, &te, &err) == PB_OK, "%s", err.msg);
  PB_CHECK(tr.n == 4 && va.n == 2 && groups_follow(&tr, 30) && groups_follow(&va, 30) && groups_follow(&te, 40));
  PB_CHECK(te.labels[2] == 2 && !tr.groupings && !te.groupings && te.ngroupings == 0);
  free3(&tr, &va, &te);
}

/* The groups reach the batches, in the batch's sample order. */
static void test_batches(void) {
  pb_data_params p = params();
  p.train_groups = "g.npy";
  pb_dataset tr, va, te;
  pb_err err = {{0}};
  PB_ASSERT(pb_data_load(&p, &tr, &va, &te, &err) == PB_OK);
  pb_loader_opts o = {.workers = 2, .depth = 3, .max_batch = 4, .max_sample_bytes = T * D * sizeof(float),
                      .seed = 1};
  pb_loader *L = pb_loader_new(&o, &err);
  PB_ASSERT(L);
  int32_t order[N] = {5, 2, 0, 3, 1, 4};
  pb_loader_start(L, &tr, NULL, order, N, 4, 0, 0);
  int seen = 0;
  for (pb_batch *b; (b = pb_loader_next(L)); pb_loader_release(L, b))
    for (int i = 0; i < b->n; i++, seen++)
      PB_CHECK(b->sample[i] == order[seen] && b->groups[i] == 10 + order[seen] && b->lengths[i] == T);
  PB_CHECK(seen == N);
  int32_t order_t[NT] = {4, 2, 0, 3, 1};
  pb_loader_start(L, &te, NULL, order_t, NT, 4, 0, 0); /* no groups: -1 */
  for (pb_batch *b; (b = pb_loader_next(L)); pb_loader_release(L, b))
    for (int i = 0; i < b->n; i++) PB_CHECK(b->groups[i] == -1);
  pb_loader_free(L);
  free3(&tr, &va, &te);
}

/* pb_data_load(p) fails with a message holding each of the fragments, and leaves the datasets empty. */
static void expect_err(const pb_data_params *p, const char *f1, const char *f2, int line) {
  pb_dataset tr, va, te;
  pb_err err = {{0}};
  int rc = pb_data_load(p, &tr, &va, &te, &err);
  if (rc != PB_ERR || !strstr(err.msg, f1) || (f2 && !strstr(err.msg, f2))) {
    fprintf(stderr, "FAIL line %d: rc %d, message '%s' lacks '%s'%s%s\n", line, rc, err.msg, f1, f2 ? " or " : "",
            f2 ? f2 : "");
    pb_test_failures++;
  }
  PB_CHECK(tr.n == 0 && va.n == 0 && te.n == 0 && !tr.groups && !te.groups && !tr.feats && !te.feats);
  if (rc == PB_OK) free3(&tr, &va, &te);
}
#define EXPECT_ERR(p, f1, f2) expect_err(&(p), f1, f2, __LINE__)

static void test_bad(void) {
  pb_data_params p = params();
  p.train_groups = "g_float.npy";
  EXPECT_ERR(p, "[data] train_groups = ", "g_float.npy: group ids must be integers (int8/uint8/int32/int64)");
  p.train_groups = "g_2d.npy";
  EXPECT_ERR(p, "[data] train_groups = ",
             "g_2d.npy: group ids must be [N] with N = 6 (the features' rows), not (6, 2)");
  p.train_groups = "g_short.npy";
  EXPECT_ERR(p, "g_short.npy: group ids must be [N] with N = 6 (the features' rows), not (5)", NULL);
  p.train_groups = "g_neg.npy";
  EXPECT_ERR(p, "[data] train_groups = ", "g_neg.npy: group id -1 of row 3 is not in [0, 2^20)");
  p.train_groups = "g_big.npy";
  EXPECT_ERR(p, "g_big.npy: group id 1048576 of row 4 is not in [0, 2^20)", NULL);
  p.train_groups = "nope.npy";
  EXPECT_ERR(p, "[data] train_groups: ", "nope.npy: cannot open");
  /* the test split's file, named by its key: 6 ids for its 5 rows */
  p.train_groups = "g.npy", p.test_groups = "g.npy";
  EXPECT_ERR(p, "[data] test_groups = ", "g.npy: group ids must be [N] with N = 5 (the features' rows), not (6)");
  /* both ways at once */
  p = params();
  p.train_targets = "y.csv", p.test_targets = "yt.csv", p.label_columns = "label", p.group_column = "group";
  p.train_groups = "g.npy";
  EXPECT_ERR(p, "[data] group_column = group and train_groups = g.npy both give the groups", NULL);
  p.train_groups = "", p.test_groups = "gt.npy";
  EXPECT_ERR(p, "[data] group_column = group and test_groups = gt.npy both give the groups", NULL);
  /* group_column: a .csv of targets, one integer column of ids in [0, 2^20) */
  p.test_groups = "", p.test_targets = "yt.npy";
  EXPECT_ERR(p, "[data] group_column = group reads a column of .csv targets; the test targets ",
             "yt.npy are not a .csv");
  p.test_targets = "yt_name.csv";
  EXPECT_ERR(p, "yt_name.csv:3: 'a' in column 'group' is not a group id (an integer >= 0; [data] group_column)",
             NULL);
  p.test_targets = "yt_big.csv";
  EXPECT_ERR(p, "yt_big.csv: group id 1048576 of row 2 (column 'group', [data] group_column) is not below 2^20",
             NULL);
  p.test_targets = "yt.csv", p.group_column = "grp";
  EXPECT_ERR(p, "y.csv:1: no column named 'grp' ([data] group_column)", NULL);
  p.group_column = "group,label";
  EXPECT_ERR(p, "[data] group_column = group,label: one column name, not a list", NULL);
  /* groups files are for .npy data */
  p = params();
  p.source = PB_SOURCE_CSV, p.test_groups = "gt.npy";
  EXPECT_ERR(p, "[data] test_groups = gt.npy needs dataset = npy", NULL);
}

int main(void) {
  g_dir = pb_test_tmpdir("test_npy_groups");
  make_data();
  test_good();
  test_batches();
  test_bad();
  return pb_test_exit("test_npy_groups");
}
