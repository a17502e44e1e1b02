/* test_loader.c: loaders/pool.c, augment.c, sources.c: bitwise-identical batches with 1, 2
 * and 8 workers (image files with RandomResizedCrop + flip + inversion, and in-memory bytes
 * with pad + crop), bad files skipped and counted with their paths, CSV manifest errors
 * naming file:line, image folders, .npy features, and stopping the pool mid-epoch.
 * `test_loader stop` runs only the stop scenario (test/cli/test_loader_valgrind.sh runs it
 * under valgrind). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loaders/pool.h"
#include "loaders/sources.h"
#include "test/testutil.h"

static char g_dir[4096];

static const char *tpath(const char *name) {
  static char p[8][4200];
  static int k;
  k = (k + 1) % 8;
  snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
  return p[k];
}

static void write_text(const char *path, const char *s) {
  FILE *f = fopen(path, "wb");
  PB_ASSERT(f);
  fputs(s, f);
  fclose(f);
}

/* Class folders a/ and b/ with JPEGs and PNGs of varied sizes, plus bad files in b/. */
static void make_folder(const char *root, int per_class) {
  mkdir(root, 0755);
  char p[4300];
  pb_err err;
  for (int c = 0; c < 2; c++) {
    snprintf(p, sizeof p, "%s/%c", root, 'a' + c);
    mkdir(p, 0755);
    for (int i = 0; i < per_class; i++) {
      int w = 40 + 13 * i, h = 30 + 7 * ((i * 5) % 11);
      uint8_t *px = pb_xmalloc((size_t)w * h * 3);
      for (int j = 0; j < w * h * 3; j++) px[j] = (uint8_t)((j * 7 + i * 31 + c * 80) % 251);
      snprintf(p, sizeof p, "%s/%c/img%02d.%s", root, 'a' + c, i, i % 2 ? "png" : "jpg");
      PB_CHECK(i % 2 ? pb_image_write_png(p, px, w, h, 3, &err) == PB_OK
                     : pb_image_write_jpg(p, px, w, h, 3, 90, &err) == PB_OK);
      free(px);
    }
  }
  snprintf(p, sizeof p, "%s/b/zz_empty.jpg", root);
  write_text(p, "");
  snprintf(p, sizeof p, "%s/b/zz_notes.txt", root);
  write_text(p, "not an image at all\n");
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

/* Runs two epochs over d with `workers` threads; returns a hash of every batch. */
static uint64_t run_pass(const pb_dataset *d, const pb_aug *aug, int workers, int batch, long *bad) {
  pb_loader_opts o = {.workers = workers, .depth = workers + 2, .max_batch = batch,
                      .max_sample_bytes = (size_t)d->c * d->h * d->w, .reduced_dct = 1, .convert_channels = 1,
                      .seed = 42};
  pb_err err;
  pb_loader *L = pb_loader_new(&o, &err);
  PB_ASSERT(L);
  int32_t *order = pb_xmalloc((size_t)d->n * sizeof(int32_t));
  uint64_t h = 1469598103934665603ull;
  *bad = 0;
  for (int ep = 0; ep < 2; ep++) {
    pb_data_order(order, d->n, 7, ep, 1);
    pb_loader_start(L, d, aug, order, d->n, batch, 0, ep);
    for (pb_batch *b; (b = pb_loader_next(L));) {
      h = hash_bytes(h, &b->n, sizeof b->n);
      h = hash_bytes(h, b->u8, (size_t)b->n * d->c * d->h * d->w);
      h = hash_bytes(h, b->y, (size_t)b->n * sizeof(int32_t));
      h = hash_bytes(h, b->sample, (size_t)b->n * sizeof(int32_t));
      *bad += b->nbad;
      for (int i = 0; i < b->nmsg; i++) PB_CHECK_MSG(strstr(b->msg[i], "zz_") != NULL, "%s", b->msg[i]);
      pb_loader_release(L, b);
    }
  }
  free(order);
  pb_loader_free(L);
  return h;
}

static void test_determinism(void) {
  pb_err err = {{0}};
  make_folder(tpath("imgs"), 12);
  pb_dataset d;
  PB_CHECK_MSG(pb_data_folder(&d, "train", tpath("imgs"), NULL, &err) == PB_OK, "%s", err.msg);
  PB_CHECK(d.num_classes == 2 && d.n == 26 && !strcmp(d.class_names[1], "b"));
  d.c = 3, d.h = d.w = 24;
  pb_aug a = {.geom = PB_AUG_RRC, .out_c = 3, .out_h = 24, .out_w = 24, .scale = {0.08f, 1}, .ratio = {0.75f, 4 / 3.f},
              .flip = 0.5f, .invert = 0.3f};
  long bad[3];
  uint64_t h1 = run_pass(&d, &a, 1, 5, &bad[0]), h2 = run_pass(&d, &a, 2, 5, &bad[1]),
           h8 = run_pass(&d, &a, 8, 5, &bad[2]);
  printf("image files (RRC + flip + invert): hashes %016llx %016llx %016llx, bad %ld %ld %ld\n",
         (unsigned long long)h1, (unsigned long long)h2, (unsigned long long)h8, bad[0], bad[1], bad[2]);
  PB_CHECK(h1 == h2 && h1 == h8);
  PB_CHECK(bad[0] == 4 && bad[1] == 4 && bad[2] == 4); /* 2 bad files x 2 epochs */
  pb_dataset_free(&d);

  /* In-memory bytes with pad + random crop + flip. */
  pb_dataset m = {.kind = PB_DATA_U8, .n = 100, .c = 1, .h = 12, .w = 12, .num_classes = 10};
  m.images = pb_xmalloc(100 * 144);
  m.labels = pb_xmalloc(100 * sizeof(int32_t));
  for (int i = 0; i < 100 * 144; i++) m.images[i] = (uint8_t)(i * 13 % 256);
  for (int i = 0; i < 100; i++) m.labels[i] = i % 10;
  pb_aug p = {.geom = PB_AUG_PAD_CROP, .out_c = 1, .out_h = 12, .out_w = 12, .pad = 2, .flip = 0.5f};
  h1 = run_pass(&m, &p, 1, 16, &bad[0]), h2 = run_pass(&m, &p, 2, 16, &bad[1]), h8 = run_pass(&m, &p, 8, 16, &bad[2]);
  PB_CHECK(h1 == h2 && h1 == h8);
  /* No augmentation: the bytes as stored, in the order given. */
  pb_loader_opts o = {.workers = 3, .depth = 4, .max_batch = 16, .max_sample_bytes = 144, .seed = 1};
  pb_loader *L = pb_loader_new(&o, &err);
  int32_t order[100];
  pb_data_order(order, 100, 5, 0, 1);
  pb_loader_start(L, &m, NULL, order, 100, 16, 2, 0); /* from batch 2, as on resume */
  int k = 32, ok = 1;
  for (pb_batch *b; (b = pb_loader_next(L));) {
    for (int i = 0; i < b->n; i++, k++)
      ok &= !memcmp(b->u8 + i * 144, m.images + order[k] * 144, 144) && b->y[i] == m.labels[order[k]];
    pb_loader_release(L, b);
  }
  PB_CHECK(ok && k == 100);
  pb_loader_free(L);
  pb_dataset_free(&m);
}

/* resize_random_crop (torchvision Resize + RandomCrop): at scale 1 (resize = the shorter side)
 * every output is an exact block of the input at an integer offset inside the resized grid, and
 * over many samples both extreme offsets occur; scaled by 2 (a 2x downsample), the offsets are
 * whole resized pixels: the output equals the resample of that source rectangle. */
static void test_resize_random_crop(void) {
  enum { W = 40, H = 30 };
  uint8_t px[W * H];
  for (int i = 0; i < W * H; i++) px[i] = (uint8_t)(i * 7 + i / W);
  pb_image im = {.data = px, .w = W, .h = H, .c = 1};
  pb_aug a = {.geom = PB_AUG_RESIZE_RANDOM_CROP, .out_c = 1, .out_h = 24, .out_w = 24, .resize = 30};
  uint8_t out[24 * 24], ref[24 * 24];
  int seen_x[W] = {0}, seen_y[H] = {0}, exact = 1;
  for (int idx = 0; idx < 400; idx++) {
    pb_aug_apply(&a, &im, 5, 0, idx, out);
    int found = 0;
    for (int oy = 0; oy <= H - 24 && !found; oy++)
      for (int ox = 0; ox <= W - 24 && !found; ox++) {
        int same = 1;
        for (int y = 0; y < 24 && same; y++) same = !memcmp(out + y * 24, px + (oy + y) * W + ox, 24);
        if (same) found = 1, seen_x[ox] = 1, seen_y[oy] = 1;
      }
    exact &= found;
  }
  PB_CHECK(exact && seen_x[0] && seen_x[W - 24] && seen_y[0] && seen_y[H - 24]);
  a.resize = 15; /* k = 2: resized 20 x 15, crop 12 x 12 at whole resized pixels */
  a.out_h = a.out_w = 12;
  int match = 1;
  for (int idx = 0; idx < 50; idx++) {
    pb_aug_apply(&a, &im, 5, 0, idx, out);
    int found = 0;
    for (int oy = 0; oy <= 15 - 12 && !found; oy++)
      for (int ox = 0; ox <= 20 - 12 && !found; ox++) {
        pb_aug_resample(&im, (float)ox * 2, (float)oy * 2, 24, 24, 0, ref, 12, 12);
        found = !memcmp(out, ref, sizeof(uint8_t) * 144);
      }
    match &= found;
  }
  PB_CHECK(match);
}

/* Stopping mid-epoch and freeing: no leak, no hang (valgrind runs this). */
static void test_stop(void) {
  make_folder(tpath("stop"), 10);
  pb_dataset d;
  pb_err err;
  PB_ASSERT(pb_data_folder(&d, "train", tpath("stop"), NULL, &err) == PB_OK);
  d.c = 3, d.h = d.w = 16;
  pb_aug a = {.geom = PB_AUG_RRC, .out_c = 3, .out_h = 16, .out_w = 16, .scale = {0.5f, 1}, .ratio = {0.75f, 4 / 3.f}};
  pb_loader_opts o = {.workers = 4, .depth = 6, .max_batch = 3, .max_sample_bytes = 3 * 16 * 16, .reduced_dct = 1,
                      .convert_channels = 1, .seed = 3};
  pb_loader *L = pb_loader_new(&o, &err);
  int32_t order[64];
  pb_data_order(order, d.n, 1, 0, 1);
  for (int round = 0; round < 3; round++) {
    pb_loader_start(L, &d, &a, order, d.n, 3, 0, round);
    pb_batch *b = pb_loader_next(L);
    PB_CHECK(b && b->index == 0);
    if (round == 1) pb_loader_release(L, b); /* a held batch is fine too */
    pb_loader_stop(L);
  }
  pb_loader_start(L, &d, &a, order, d.n, 3, 1, 0); /* left running: free stops it */
  pb_loader_free(L);
  pb_loader_free(NULL);
  pb_dataset_free(&d);
}

static void expect_csv_error(const char *name, const char *text, const char *frag) {
  pb_err err = {{0}};
  write_text(tpath(name), text);
  pb_csv_opts o = {"", "", "", 0, "", 10, "", NULL, NULL, NULL, 0, 0};
  pb_vocab v = {0};
  pb_dataset d;
  int rc = pb_data_csv(&d, "train", tpath(name), g_dir, &o, &v, &err);
  PB_CHECK_MSG(rc == PB_ERR && strstr(err.msg, frag), "%s: %s", name, err.msg);
  if (!rc) pb_dataset_free(&d);
  pb_vocab_free(&v);
}

static void test_csv(void) {
  pb_err err = {{0}};
  /* A Kaggle-style labels.csv: names, several label columns, a group column. */
  write_text(tpath("labels.csv"), "name,skin_tone,gender,age\nx1.jpg,monk_3,female,0_17\n\"x2.jpg\",monk_1,male,18_30\n"
                                  "x3.jpg,monk_3,male,0_17\r\n");
  pb_csv_opts o = {"name", "skin_tone,age", "gender", 0, "", 10, "", NULL, NULL, NULL, 0, 0};
  pb_vocab v = {0};
  pb_dataset d;
  PB_CHECK_MSG(pb_data_csv(&d, "train", tpath("labels.csv"), g_dir, &o, &v, &err) == PB_OK, "%s", err.msg);
  if (d.n == 3) {
    PB_CHECK(d.num_classes == 2 && d.labels[0] == 1 && d.labels[1] == 0 && d.labels[2] == 1);
    PB_CHECK(d.nheads == 2 && d.heads[1] == 0 && d.heads[3] == 1);
    PB_CHECK(d.groups[0] == 0 && d.groups[1] == 1);
    PB_CHECK(strstr(d.paths[1], "/x2.jpg") != NULL);
  }
  pb_dataset_free(&d);
  /* The test manifest maps onto the training vocabulary; a label it lacks is an error. */
  write_text(tpath("test.csv"), "name,skin_tone,gender,age\nx1.jpg,monk_9,female,0_17\n");
  PB_CHECK(pb_data_csv(&d, "test", tpath("test.csv"), g_dir, &o, &v, &err) == PB_ERR &&
           strstr(err.msg, "test.csv:2: unknown label 'monk_9'"));
  pb_vocab_free(&v);
  /* Multi-label names. */
  write_text(tpath("multi.csv"), "ImageID,Labels\na,cat dog\nb,dog\nc,\n");
  pb_csv_opts m = {"", "", "", 1, ".jpg", 10, "", NULL, NULL, NULL, 0, 0};
  PB_CHECK_MSG(pb_data_csv(&d, "train", tpath("multi.csv"), g_dir, &m, &v, &err) == PB_OK, "%s", err.msg);
  if (d.multi) PB_CHECK(d.multi_k == 2 && d.multi[0] && d.multi[1] && !d.multi[2] && d.multi[3] && !d.multi[4]);
  if (d.paths) PB_CHECK(strstr(d.paths[0], "/a.jpg") != NULL);
  pb_dataset_free(&d);
  pb_vocab_free(&v);
  expect_csv_error("cols.csv", "path,label\na.jpg,1\nb.jpg,2,3\n", "cols.csv:3: 3 columns, the header has 2");
  expect_csv_error("escape.csv", "path,label\na.jpg,1\n../../etc/passwd,2\n", "escape.csv:3: path '../../etc/passwd'");
  expect_csv_error("abs.csv", "path,label\n/etc/passwd,2\n", "abs.csv:2: path '/etc/passwd'");
  expect_csv_error("range.csv", "path,label\na.jpg,1\nb.jpg,12\n", "range.csv:3: unknown label '12'");
  expect_csv_error("empty.csv", "", "empty.csv:1: empty manifest");
}

/* [data] test_group_columns: groupings read as integer ids, in column order, beside the
 * vocabulary columns; carried by pb_dataset_take; a missing column or a bad id names the file,
 * line, column and key. */
static void test_csv_groupings(void) {
  pb_err err = {{0}};
  write_text(tpath("val9.csv"), "path,label,cluster1,cluster2\na.jpg,0,3,8\nb.jpg,1,0,2147483646\nc.jpg,1,5,2x\n");
  pb_csv_opts o = {"", "", "", 0, "", 9, "cluster2, cluster1", NULL, NULL, NULL, 0, 0};
  pb_vocab v = {0};
  pb_dataset d, sub;
  PB_CHECK_MSG(pb_data_csv(&d, "test", tpath("val9.csv"), g_dir, &o, &v, &err) == PB_ERR &&
                   strstr(err.msg, "val9.csv:4: '2x' in column 'cluster2' is not a group id"),
               "%s", err.msg);
  write_text(tpath("val9.csv"), "path,label,cluster1,cluster2\na.jpg,0,3,8\nb.jpg,1,0,2147483646\nc.jpg,1,5,2\n");
  PB_CHECK_MSG(pb_data_csv(&d, "test", tpath("val9.csv"), g_dir, &o, &v, &err) == PB_OK, "%s", err.msg);
  if (d.groupings) {
    const int32_t want[6] = {8, 3, 2147483646, 0, 2, 5};
    PB_CHECK(d.ngroupings == 2 && !memcmp(d.groupings, want, sizeof want) && !d.groups && d.labels[2] == 1);
    const int32_t idx[2] = {2, 0};
    pb_dataset_take(&sub, &d, idx, 2, "sub");
    PB_CHECK(sub.ngroupings == 2 && sub.groupings[0] == 2 && sub.groupings[1] == 5 && sub.groupings[3] == 3);
    pb_dataset_free(&sub);
  }
  pb_dataset_free(&d);
  pb_vocab_free(&v);
  o.group_columns = "cluster1,cluster3";
  PB_CHECK(pb_data_csv(&d, "test", tpath("val9.csv"), g_dir, &o, &v, &err) == PB_ERR &&
           strstr(err.msg, "val9.csv:1: no column named 'cluster3' ([data] test_group_columns)"));
  pb_vocab_free(&v);
  write_text(tpath("val9.csv"), "path,label,cluster1\na.jpg,0,3\nb.jpg,1,-1\n");
  o.group_columns = "cluster1";
  PB_CHECK(pb_data_csv(&d, "test", tpath("val9.csv"), g_dir, &o, &v, &err) == PB_ERR &&
           strstr(err.msg, "val9.csv:3: '-1' in column 'cluster1' is not a group id"));
  pb_vocab_free(&v);
}

static void test_npy(void) {
  /* [4, 3] float32 features and int64 labels written by hand. */
  const char *hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), }";
  char buf[128];
  memset(buf, ' ', sizeof buf);
  memcpy(buf, "\x93NUMPY\x01\x00", 8);
  buf[8] = 118, buf[9] = 0;
  memcpy(buf + 10, hdr, strlen(hdr));
  buf[127] = '\n';
  FILE *f = fopen(tpath("x.npy"), "wb");
  fwrite(buf, 1, 128, f);
  float x[12];
  for (int i = 0; i < 12; i++) x[i] = (float)i * 0.5f;
  fwrite(x, sizeof(float), 12, f);
  fclose(f);
  write_text(tpath("y.csv"), "id,label\n0,1\n1,0\n2,2\n3,1\n");
  pb_dataset d;
  pb_err err = {{0}};
  PB_CHECK_MSG(pb_data_npy(&d, "train", tpath("x.npy"), tpath("y.csv"), "", "", 3, &err) == PB_OK, "%s", err.msg);
  if (d.feats) PB_CHECK(d.n == 4 && d.c == 3 && d.h == 1 && d.feats[11] == 5.5f && d.labels[2] == 2);
  pb_dataset_free(&d);
  PB_CHECK(pb_data_npy(&d, "train", tpath("x.npy"), tpath("y.csv"), "", "", 2, &err) == PB_ERR &&
           strstr(err.msg, "y.csv:4: unknown label '2'"));
}

int main(int argc, char **argv) {
  snprintf(g_dir, sizeof g_dir, "%s", pb_test_tmpdir("test_loader"));
  if (argc > 1 && !strcmp(argv[1], "stop")) {
    test_stop();
    return pb_test_exit("test_loader stop");
  }
  test_determinism();
  test_stop();
  test_csv();
  test_csv_groupings();
  test_npy();
  test_resize_random_crop();
  return pb_test_exit("test_loader");
}
