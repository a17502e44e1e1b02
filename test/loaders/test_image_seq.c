/* test_image_seq.c: image-sequence datasets (csv manifests of one row per frame, [data]
 * track_column / frame_column / max_frames: loaders/sources.c, load.c, pool.c, dataset.c):
 *  - tracks in the order of their first rows, frames sorted by number from a shuffled file,
 *    labels by name (the training vocabulary reused for the test manifest), groups, lengths,
 *    paths [n * T] with NULL past a length; the test manifest keeps the training T;
 *  - the val split and limit_train / limit_test count tracks (pb_dataset_take keeps frames);
 *  - batches [n, T, c, h, w]: each frame the decoded image, zero bytes past a length; with
 *    flip, all frames of a track are mirrored alike; identical bytes with 1 and 3 workers;
 *  - bad inputs: a duplicate frame, a track with two labels or two groups, a track longer than
 *    max_frames (train and test), a missing frame file (the whole track counted bad, the
 *    message naming the frame's path), tta with sequences, track_column with dataset = npy,
 *    a missing track / frame column, a frame number that is not an integer. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/config/config.h"
#include "engine/run/data.h"
#include "engine/run/run.h"
#include "loaders/load.h"
#include "loaders/pool.h"
#include "loaders/sources.h"
#include "test/testutil.h"

enum { S = 8, C = 3 }; /* frames are S x S RGB PNGs */

static char g_dir[4096];

static void write_text(const char *name, const char *s) { pb_test_write_file(pb_test_path(g_dir, name), s, strlen(s)); }

/* Pixel (y, x, ch) of frame f of track k: asymmetric in x, so a mirror image differs. */
static uint8_t pix(int k, int f, int y, int x, int ch) { return (uint8_t)(1 + k * 37 + f * 11 + y * 5 + x * 13 + ch * 3); }

/* img/<k>_<f>.png for the frames the manifests name. */
static void write_frame(int k, int f) {
  uint8_t px[S * S * C];
  for (int y = 0; y < S; y++)
    for (int x = 0; x < S; x++)
      for (int ch = 0; ch < C; ch++) px[(y * S + x) * C + ch] = pix(k, f, y, x, ch);
  char name[64];
  snprintf(name, sizeof name, "img/%d_%d.png", k, f);
  pb_err err;
  PB_CHECK(pb_image_write_png(pb_test_path(g_dir, name), px, S, S, C, &err) == PB_OK);
}

/* Tracks of the training manifest, in the order of their first rows: id, label, group, and
 * the frame numbers (sorted). */
typedef struct track {
  const char *id, *label, *group;
  int nf, frames[5];
} track;
static const track k_train[] = {
    {"walk-7", "cat", "g1", 3, {5, 10, 20}},
    {"b", "dog", "g0", 1, {3}},
    {"c c", "cat", "g0", 5, {0, 1, 2, 3, 4}},
    {"d", "bird", "g1", 2, {-1, 7}},
};
enum { NTRACK = 4, TMAX = 5 };

static void make_tree(void) {
  snprintf(g_dir, sizeof g_dir, "%s", pb_test_tmpdir("test_image_seq"));
  mkdir(pb_test_path(g_dir, "img"), 0755);
  for (int k = 0; k < NTRACK; k++)
    for (int j = 0; j < k_train[k].nf; j++) write_frame(k, k_train[k].frames[j]);
  /* Rows shuffled: frames out of order, tracks interleaved (first rows: walk-7, b, "c c", d). */
  write_text("train.csv",
             "track,frame,path,label,grp\n"
             "walk-7,20,img/0_20.png,cat,g1\n"
             "b,3,img/1_3.png,dog,g0\n"
             "\"c c\",4,img/2_4.png,cat,g0\n"
             "walk-7,5,img/0_5.png,cat,g1\n"
             "d,7,img/3_7.png,bird,g1\n"
             "\"c c\",0,img/2_0.png,cat,g0\n"
             "\"c c\",2,img/2_2.png,cat,g0\n"
             "d,-1,img/3_-1.png,bird,g1\n"
             "\"c c\",3,img/2_3.png,cat,g0\n"
             "walk-7,10,img/0_10.png,cat,g1\n"
             "\"c c\",1,img/2_1.png,cat,g0\n");
  /* The test set: two tracks of the training frames, labels by name. */
  write_text("test.csv",
             "track,frame,path,label,grp\n"
             "t2,1,img/3_7.png,dog,g0\n"
             "t1,0,img/0_5.png,bird,g1\n"
             "t1,1,img/0_10.png,bird,g1\n");
}

static pb_data_params params(void) {
  pb_data_params p = {0};
  p.source = PB_SOURCE_CSV;
  p.dir = g_dir;
  p.train_images = p.train_labels = p.test_images = p.test_labels = "";
  p.train_targets = p.test_targets = p.train_lengths = p.test_lengths = "";
  p.train_groups = p.test_groups = "";
  p.train_path = "train.csv";
  p.test_path = "test.csv";
  p.image_root = "";
  p.path_column = "path";
  p.label_columns = "label";
  p.group_column = "grp";
  p.path_suffix = "";
  p.test_group_columns = "";
  p.track_column = "track";
  p.frame_column = "frame";
  p.channels = C;
  p.size = S;
  p.num_classes = 3;
  p.seed = 3;
  return p;
}

/* Sample i of d is training track k: its labels, group, length and frame paths in order. */
static void check_track(const pb_dataset *d, int i, int k) {
  const track *t = &k_train[k];
  static const char *const names[] = {"bird", "cat", "dog"};
  PB_CHECK_MSG(!strcmp(names[d->labels[i]], t->label), "sample %d: label %d, track %s", i, d->labels[i], t->id);
  PB_CHECK(d->groups && d->groups[i] == (t->group[1] - '0'));
  PB_CHECK_MSG(d->lengths[i] == t->nf, "sample %d: length %d, want %d", i, d->lengths[i], t->nf);
  for (int f = 0; f < d->frames; f++) {
    const char *p = d->paths[(size_t)i * d->frames + f];
    if (f >= t->nf) {
      PB_CHECK_MSG(p == NULL, "sample %d frame %d past the length has path %s", i, f, p);
      continue;
    }
    char want[64];
    snprintf(want, sizeof want, "img/%d_%d.png", k, t->frames[f]);
    PB_CHECK_MSG(p && strstr(p, want) && !strcmp(p + strlen(p) - strlen(want), want), "sample %d frame %d: %s, want %s",
                 i, f, p ? p : "NULL", want);
  }
}

/* The track sample i of d came from (by its first path). */
static int track_of(const pb_dataset *d, int i) {
  const char *p = strrchr(d->paths[(size_t)i * d->frames], '/');
  return p ? p[1] - '0' : -1;
}

static void test_load(void) {
  pb_data_params p = params();
  pb_dataset tr, va, te;
  pb_err err = {{0}};
  PB_CHECK_MSG(pb_data_load(&p, &tr, &va, &te, &err) == PB_OK, "%s", err.msg);
  PB_CHECK(tr.kind == PB_DATA_FILES && tr.n == NTRACK && tr.frames == TMAX);
  PB_CHECK(tr.c == C && tr.h == S && tr.w == S);
  PB_CHECK(pb_dataset_sample_elems(&tr) == (size_t)TMAX * C * S * S);
  PB_CHECK(tr.num_classes == 3 && tr.class_names && !strcmp(tr.class_names[0], "bird"));
  for (int i = 0; i < tr.n && i < NTRACK; i++) check_track(&tr, i, i);
  /* The test manifest: the training vocabulary, the training T. */
  PB_CHECK(te.n == 2 && te.frames == TMAX);
  PB_CHECK(te.labels[0] == 2 && te.labels[1] == 0); /* t2: dog, t1: bird (first-row order) */
  PB_CHECK(te.lengths[0] == 1 && te.lengths[1] == 2);
  PB_CHECK(te.groups[0] == 0 && te.groups[1] == 1);
  PB_CHECK(strstr(te.paths[TMAX + 1], "img/0_10.png") && !te.paths[TMAX + 2]);
  pb_dataset_free(&tr), pb_dataset_free(&va), pb_dataset_free(&te);

  /* The val split holds out whole tracks; every sample keeps its own frames. */
  p.val_split = 0.5;
  PB_CHECK_MSG(pb_data_load(&p, &tr, &va, &te, &err) == PB_OK, "%s", err.msg);
  PB_CHECK(tr.n == 2 && va.n == 2 && va.frames == TMAX && tr.frames == TMAX);
  int seen[NTRACK] = {0};
  for (int s = 0; s < 2; s++) {
    const pb_dataset *d = s ? &va : &tr;
    for (int i = 0; i < d->n; i++) {
      int k = track_of(d, i);
      PB_CHECK(k >= 0 && k < NTRACK);
      if (k < 0 || k >= NTRACK) continue;
      seen[k]++;
      check_track(d, i, k);
    }
  }
  for (int k = 0; k < NTRACK; k++) PB_CHECK_MSG(seen[k] == 1, "track %d in %d splits", k, seen[k]);
  pb_dataset_free(&tr), pb_dataset_free(&va), pb_dataset_free(&te);

  /* The limits count tracks. */
  p.val_split = 0;
  p.limit_train = 2, p.limit_test = 1;
  PB_CHECK_MSG(pb_data_load(&p, &tr, &va, &te, &err) == PB_OK, "%s", err.msg);
  PB_CHECK(tr.n == 2 && te.n == 1 && tr.frames == TMAX);
  for (int i = 0; i < tr.n; i++) check_track(&tr, i, i);
  pb_dataset_free(&tr), pb_dataset_free(&va), pb_dataset_free(&te);

  /* max_frames above the longest track: T is the key's value. */
  p.limit_train = p.limit_test = 0;
  p.max_frames = 7;
  PB_CHECK_MSG(pb_data_load(&p, &tr, &va, &te, &err) == PB_OK, "%s", err.msg);
  PB_CHECK(tr.frames == 7 && te.frames == 7 && !tr.paths[6] && tr.lengths[2] == 5);
  pb_dataset_free(&tr), pb_dataset_free(&va), pb_dataset_free(&te);

  /* The [data] keys through the engine's config. */
  pb_config *c = pb_config_new();
  char kv[4300];
  const char *sets[] = {"data.dataset=csv", "data.train_path=train.csv", "data.test_path=test.csv",
                        "data.path_column=path", "data.label_columns=label", "data.group_column=grp",
                        "data.track_column=track", "model.num_classes=3", "augment.size=8"};
  for (size_t k = 0; k < sizeof sets / sizeof *sets; k++) PB_ASSERT(pb_config_set(c, sets[k], &err) == PB_OK);
  snprintf(kv, sizeof kv, "data.dir=%s", g_dir);
  PB_ASSERT(pb_config_set(c, kv, &err) == PB_OK);
  PB_CHECK_MSG(pb_run_load_data(c, 1, &tr, &va, &te, &err) == PB_OK, "%s", err.msg);
  PB_CHECK(tr.n == NTRACK && tr.frames == TMAX && te.frames == TMAX);
  /* test-time views of sequences: a config error */
  pb_aug at, ae;
  PB_CHECK(pb_run_augs(c, &tr, &at, &ae, &err) == PB_OK);
  PB_ASSERT(pb_config_set(c, "augment.tta=flip", &err) == PB_OK);
  PB_CHECK(pb_run_augs(c, &tr, &at, &ae, &err) == PB_ERR);
  PB_CHECK_MSG(strstr(err.msg, "[augment] tta = flip with image sequences") && strstr(err.msg, "track_column = track"),
               "%s", err.msg);
  pb_dataset_free(&tr), pb_dataset_free(&va), pb_dataset_free(&te);
  pb_config_free(c);
}

/* Every batch of one pass over d in order, concatenated: [n, T, c, h, w]. */
static uint8_t *pass(const pb_dataset *d, const pb_aug *a, int workers, int batch, int64_t epoch, int *nbad,
                     char *msg, size_t msg_cap) {
  size_t per = pb_dataset_sample_elems(d);
  pb_loader_opts o = {.workers = workers, .depth = 4, .max_batch = batch, .max_sample_bytes = per, .seed = 9};
  pb_err err;
  pb_loader *L = pb_loader_new(&o, &err);
  PB_ASSERT(L);
  int32_t order[64];
  for (int i = 0; i < d->n; i++) order[i] = i;
  uint8_t *all = pb_xcalloc((size_t)d->n, per);
  int got = 0;
  *nbad = 0;
  pb_loader_start(L, d, a, order, d->n, batch, 0, epoch);
  for (pb_batch *b; (b = pb_loader_next(L));) {
    memcpy(all + (size_t)got * per, b->u8, (size_t)b->n * per);
    for (int i = 0; i < b->n; i++) PB_CHECK(b->lengths[i] == d->lengths[b->sample[i]]);
    if (b->nmsg && msg) snprintf(msg, msg_cap, "%s", b->msg[0]);
    got += b->n;
    *nbad += b->nbad;
    pb_loader_release(L, b);
  }
  PB_CHECK(got + *nbad == d->n);
  pb_loader_free(L);
  return all;
}

/* Whether sample i of out (track k of the training manifest) holds its frames as stored
 * (mirror 0) or mirrored (1), and zeros past its length. */
static int frames_are(const uint8_t *out, int i, int k, int mirror) {
  const uint8_t *s = out + (size_t)i * TMAX * C * S * S;
  for (int f = 0; f < TMAX; f++)
    for (int ch = 0; ch < C; ch++)
      for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
          uint8_t got = s[(((size_t)f * C + ch) * S + y) * S + x];
          uint8_t want = f < k_train[k].nf ? pix(k, k_train[k].frames[f], y, mirror ? S - 1 - x : x, ch) : 0;
          if (got != want) return 0;
        }
  return 1;
}

static void test_batches(void) {
  pb_data_params p = params();
  pb_dataset tr, va, te;
  pb_err err = {{0}};
  PB_ASSERT(pb_data_load(&p, &tr, &va, &te, &err) == PB_OK);
  int nbad;
  /* No augmentation: each frame as stored (CHW), zeros past the length. */
  uint8_t *a = pass(&tr, NULL, 2, 3, 0, &nbad, NULL, 0);
  PB_CHECK(nbad == 0);
  for (int i = 0; i < NTRACK; i++) PB_CHECK_MSG(frames_are(a, i, i, 0), "track %d not as stored", i);
  free(a);
  /* Flip with probability 1/2: per track, every frame mirrored alike; over epochs both occur. */
  pb_aug fl = {.geom = PB_AUG_NONE, .out_c = C, .out_h = S, .out_w = S, .flip = 0.5f};
  int plain = 0, mirrored = 0;
  for (int64_t e = 0; e < 6; e++) {
    a = pass(&tr, &fl, 2, 3, e, &nbad, NULL, 0);
    for (int i = 0; i < NTRACK; i++) {
      int m0 = frames_are(a, i, i, 0), m1 = frames_are(a, i, i, 1);
      PB_CHECK_MSG(m0 || m1, "epoch %lld track %d: frames neither all stored nor all mirrored", (long long)e, i);
      plain += m0, mirrored += m1;
    }
    free(a);
  }
  PB_CHECK_MSG(plain > 0 && mirrored > 0, "flip 0.5 over 24 tracks: %d plain, %d mirrored", plain, mirrored);
  /* Random resized crops + flip + inversion: 1 and 3 workers give the same bytes. */
  pb_aug rrc = {.geom = PB_AUG_RRC, .out_c = C, .out_h = 6, .out_w = 6, .scale = {0.3f, 1}, .ratio = {0.75f, 1.33f},
                .flip = 0.5f, .invert = 0.3f};
  pb_dataset small = tr;
  small.h = small.w = 6; /* the augmented output */
  uint8_t *w1 = pass(&small, &rrc, 1, 2, 4, &nbad, NULL, 0);
  uint8_t *w3 = pass(&small, &rrc, 3, 2, 4, &nbad, NULL, 0);
  PB_CHECK(!memcmp(w1, w3, (size_t)NTRACK * pb_dataset_sample_elems(&small)));
  free(w1), free(w3);
  pb_dataset_free(&tr), pb_dataset_free(&va), pb_dataset_free(&te);
}

/* pb_data_load fails with a message holding every fragment. */
static void expect_error(const pb_data_params *p, const char *const *frags) {
  pb_dataset tr, va, te;
  pb_err err = {{0}};
  int rc = pb_data_load(p, &tr, &va, &te, &err);
  PB_CHECK_MSG(rc == PB_ERR, "expected an error with '%s'", frags[0]);
  for (int k = 0; frags[k]; k++) PB_CHECK_MSG(strstr(err.msg, frags[k]), "'%s' not in: %s", frags[k], err.msg);
  PB_CHECK(tr.n == 0 && va.n == 0 && te.n == 0);
}

static void test_bad(void) {
  pb_data_params p = params();
  char want[4300];
  /* a frame number twice in one track */
  write_text("dup.csv", "track,frame,path,label,grp\n"
                        "a,1,img/0_5.png,cat,g0\n"
                        "a,2,img/0_10.png,cat,g0\n"
                        "a,1,img/0_20.png,cat,g0\n");
  p.train_path = "dup.csv";
  snprintf(want, sizeof want, "%s/dup.csv:4", g_dir);
  expect_error(&p, (const char *const[]){want, "frame 1 of track 'a' again (first at line 2)", "[data] frame_column",
                                         NULL});
  /* a track with two labels, and one with two groups */
  write_text("twolab.csv", "track,frame,path,label,grp\n"
                           "a,1,img/0_5.png,cat,g0\n"
                           "b,1,img/0_5.png,dog,g0\n"
                           "a,2,img/0_10.png,dog,g0\n");
  p.train_path = "twolab.csv";
  snprintf(want, sizeof want, "%s/twolab.csv:4", g_dir);
  expect_error(&p, (const char *const[]){want, "track 'a' has label 'dog' in column 'label' here but 'cat' at line 2",
                                         "[data] label_columns", NULL});
  write_text("twogrp.csv", "track,frame,path,label,grp\n"
                           "a,1,img/0_5.png,cat,g0\n"
                           "a,2,img/0_10.png,cat,g1\n");
  p.train_path = "twogrp.csv";
  snprintf(want, sizeof want, "%s/twogrp.csv:3", g_dir);
  expect_error(&p, (const char *const[]){want, "track 'a' has group 'g1' in column 'grp' here but 'g0' at line 2",
                                         "[data] group_column", NULL});
  /* a track longer than max_frames; a test track longer than the training manifest's longest */
  p.train_path = "train.csv";
  p.max_frames = 3;
  snprintf(want, sizeof want, "%s/train.csv:10", g_dir); /* the line of "c c"'s 4th frame, number 3 */
  expect_error(&p, (const char *const[]){want, "track 'c c' has 5 frames, more than [data] max_frames = 3", NULL});
  p.max_frames = 0;
  write_text("long_test.csv", "track,frame,path,label,grp\n"
                              "t,0,img/2_0.png,cat,g0\nt,1,img/2_1.png,cat,g0\nt,2,img/2_2.png,cat,g0\n"
                              "t,3,img/2_3.png,cat,g0\nt,4,img/2_4.png,cat,g0\nt,5,img/2_4.png,cat,g0\n");
  p.test_path = "long_test.csv";
  snprintf(want, sizeof want, "%s/long_test.csv:7", g_dir);
  expect_error(&p, (const char *const[]){want, "track 't' has 6 frames, more than the 5 of the training manifest's "
                                         "longest track ([data] max_frames = 0)", NULL});
  p.test_path = "test.csv";
  /* columns: no track column, no frame column, a frame that is not an integer, an empty track */
  p.track_column = "clip";
  expect_error(&p, (const char *const[]){"train.csv:1: no column named 'clip' ([data] track_column)", NULL});
  p.track_column = "track";
  p.frame_column = "t";
  expect_error(&p, (const char *const[]){"train.csv:1: no column named 't' ([data] frame_column)", NULL});
  p.frame_column = "frame";
  write_text("badframe.csv", "track,frame,path,label,grp\na,1,img/0_5.png,cat,g0\na,2x,img/0_10.png,cat,g0\n");
  p.train_path = "badframe.csv";
  expect_error(&p, (const char *const[]){"badframe.csv:3: frame '2x' in column 'frame' is not an integer", NULL});
  write_text("notrack.csv", "track,frame,path,label,grp\n,1,img/0_5.png,cat,g0\n");
  p.train_path = "notrack.csv";
  expect_error(&p, (const char *const[]){"notrack.csv:2: empty track id in column 'track' ([data] track_column)",
                                         NULL});
  /* track_column with another dataset kind */
  p.train_path = "train.csv";
  p.source = PB_SOURCE_NPY;
  expect_error(&p, (const char *const[]){"[data] track_column = track needs dataset = csv", NULL});
  p.source = PB_SOURCE_FOLDER;
  expect_error(&p, (const char *const[]){"[data] track_column = track needs dataset = csv", NULL});
  p.source = PB_SOURCE_CSV;

  /* A missing frame file: the whole track is bad, counted once, the message naming the frame. */
  write_text("missing.csv", "track,frame,path,label,grp\n"
                            "a,0,img/0_5.png,cat,g0\n"
                            "a,1,img/nope.png,cat,g0\n"
                            "a,2,img/0_10.png,cat,g0\n"
                            "b,0,img/1_3.png,dog,g0\n");
  p.train_path = p.test_path = "missing.csv";
  pb_dataset tr, va, te;
  pb_err err = {{0}};
  PB_ASSERT(pb_data_load(&p, &tr, &va, &te, &err) == PB_OK);
  PB_CHECK(tr.n == 2 && tr.frames == 3);
  int nbad;
  char msg[600] = "";
  uint8_t *a = pass(&tr, NULL, 2, 2, 0, &nbad, msg, sizeof msg);
  PB_CHECK_MSG(nbad == 1, "%d bad tracks", nbad);
  PB_CHECK_MSG(strstr(msg, "img/nope.png") && strstr(msg, "frame 1 of 3"), "%s", msg);
  free(a);
  pb_dataset_free(&tr), pb_dataset_free(&va), pb_dataset_free(&te);
}

int main(void) {
  make_tree();
  test_load();
  test_batches();
  test_bad();
  return pb_test_exit("test_image_seq");
}
