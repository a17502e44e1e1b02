/* pool.c: the worker pool and its bounded, ordered queue of batches (pool.h).
 *
 * Batch b lives in slot b % depth. A worker claims the next batch number when its slot is
 * free, fills it outside the lock and marks it ready; the consumer takes batches strictly in
 * order. A generation counter cancels a pass: workers check it between samples, and a
 * batch finished for an abandoned generation is dropped. */
#include "loaders/pool.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

enum { SLOT_FREE = 0, SLOT_FILLING, SLOT_READY, SLOT_HELD };

typedef struct slot {
  int state;
  pb_batch b;
  void *mem;
} slot;

typedef struct worker {
  pb_loader *L;
  pthread_t th;
  pb_decoder dec;
  pb_image img;
} worker;

struct pb_loader {
  pb_loader_opts o;
  pthread_mutex_t mu;
  pthread_cond_t cv_work, cv_ready;
  int quit;
  atomic_int gen;
  /* the pass */
  const pb_dataset *d;
  pb_aug aug;
  int has_aug;
  int32_t *order;
  int n, order_cap, batch;
  int64_t epoch, claim, deliver, nbatches;
  slot *slots;
  worker *w;
  int nw;
};

static int64_t div_up(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* An identity pass over in-memory bytes: copy the stored sample as it is. */
static int u8_identity(const pb_dataset *d, const pb_aug *a, int has_aug) {
  return !has_aug || (a->geom == PB_AUG_NONE && a->out_h == d->h && a->out_w == d->w && a->flip <= 0 && a->invert <= 0 &&
                      a->views <= 1);
}

static void bad_sample(pb_batch *b, const char *msg) {
  if (b->nmsg < PB_BATCH_MSGS) snprintf(b->msg[b->nmsg++], sizeof b->msg[0], "%s", msg);
  b->nbad++;
}

/* Fills slot s with batch bi of generation gen. Returns 0 when cancelled. */
static int fill(worker *w, pb_batch *b, const pb_dataset *d, const pb_aug *aug, int has_aug, const int32_t *order,
                int n, int batch, int64_t bi, int64_t epoch, int gen) {
  pb_loader *L = w->L;
  int off = (int)(bi * batch), cnt = PB_MIN(batch, n - off), out = 0;
  size_t per = pb_dataset_sample_elems(d), fb = (size_t)d->c * d->h * d->w; /* sample, frame */
  int ident = d->kind == PB_DATA_U8 && u8_identity(d, aug, has_aug);
  int views = has_aug && aug->views > 1 ? aug->views : 1;
  int minw = 0, minh = 0;
  if (has_aug) pb_aug_min_size(aug, &minw, &minh);
  b->n = 0, b->nbad = 0, b->nmsg = 0, b->failed = 0, b->views = views;
  for (int k = 0; k < cnt; k++) {
    if (atomic_load_explicit(&L->gen, memory_order_relaxed) != gen) return 0;
    int i = order[off + k];
    uint8_t *dst = b->u8 + (size_t)out * views * per;
    if (d->kind == PB_DATA_F32) {
      memcpy(b->f32 + (size_t)out * per, d->feats + (size_t)i * per, per * sizeof(float));
    } else if (d->frames) {
      /* An image sequence: every frame with the sample's draws (index i), so a track gets one
       * crop and flip; zeros past its length; one bad frame makes the whole track bad. */
      pb_image *im = &w->img;
      int len = d->lengths[i], bad = 0;
      for (int t = 0; t < len && !bad; t++) {
        pb_err err = {{0}};
        if ((bad = pb_image_load(&w->dec, d->paths[(size_t)i * d->frames + t], d->c, minw, minh, im, &err) != 0)) {
          char m[sizeof b->msg[0]];
          snprintf(m, sizeof m, "frame %d of %d: %s", t, len, err.msg);
          bad_sample(b, m);
        } else if (has_aug) {
          pb_aug_apply(aug, im, L->o.seed, epoch, i, dst + (size_t)t * fb);
        } else {
          pb_aug plain = {.geom = PB_AUG_NONE, .out_c = d->c, .out_h = d->h, .out_w = d->w};
          pb_aug_apply(&plain, im, L->o.seed, epoch, i, dst + (size_t)t * fb);
        }
      }
      if (bad) {
        if (L->o.fail_on_bad) {
          b->failed = 1;
          break;
        }
        continue;
      }
      memset(dst + (size_t)len * fb, 0, (size_t)(d->frames - len) * fb);
    } else if (ident) {
      memcpy(dst, d->images + (size_t)i * per, per);
    } else {
      pb_image *im = &w->img;
      if (d->kind == PB_DATA_U8) {
        /* CHW bytes to the HWC the augmentations read. */
        size_t hw = (size_t)d->h * d->w;
        if (im->cap < per) im->data = pb_xrealloc(im->data, per), im->cap = per;
        im->w = d->w, im->h = d->h, im->c = d->c;
        const uint8_t *src = d->images + (size_t)i * per;
        for (int ch = 0; ch < d->c; ch++)
          for (size_t j = 0; j < hw; j++) im->data[j * d->c + ch] = src[ch * hw + j];
      } else {
        pb_err err = {{0}};
        if (pb_image_load(&w->dec, d->paths[i], d->c, minw, minh, im, &err)) {
          bad_sample(b, err.msg);
          if (L->o.fail_on_bad) {
            b->failed = 1;
            break;
          }
          continue;
        }
      }
      if (views > 1) {
        pb_aug_views(aug, im, dst);
      } else if (has_aug) {
        pb_aug_apply(aug, im, L->o.seed, epoch, i, dst);
      } else {
        pb_aug plain = {.geom = PB_AUG_NONE, .out_c = d->c, .out_h = d->h, .out_w = d->w};
        pb_aug_apply(&plain, im, L->o.seed, epoch, i, dst);
      }
    }
    b->y[out] = d->labels[i];
    for (int h = 0; h < L->o.max_heads; h++) /* multi-label: the multi-hot row; one label column: the labels */
      b->heads[(size_t)h * L->o.max_batch + out] =
          d->multi  ? (h < d->multi_k ? d->multi[(size_t)i * d->multi_k + h] != 0 : 0)
          : d->heads ? (h < d->nheads ? d->heads[(size_t)i * d->nheads + h] : -1)
                     : (h == 0 ? d->labels[i] : -1);
    b->groups[out] = d->groups ? d->groups[i] : -1;
    b->lengths[out] = d->lengths ? d->lengths[i] : d->h;
    b->aligned[out] = d->aligned ? d->aligned[i] : 0;
    b->sample[out] = i;
    out++;
  }
  b->n = out;
  return 1;
}

static void *worker_main(void *arg) {
  worker *w = arg;
  pb_loader *L = w->L;
  pthread_mutex_lock(&L->mu);
  for (;;) {
    while (!L->quit && !(L->claim < L->nbatches && L->slots[L->claim % L->o.depth].state == SLOT_FREE))
      pthread_cond_wait(&L->cv_work, &L->mu);
    if (L->quit) break;
    int64_t bi = L->claim++;
    slot *s = &L->slots[bi % L->o.depth];
    s->state = SLOT_FILLING;
    s->b.index = bi;
    int gen = atomic_load(&L->gen);
    const pb_dataset *d = L->d;
    pb_aug aug = L->aug;
    int has_aug = L->has_aug, n = L->n, batch = L->batch;
    int64_t epoch = L->epoch;
    const int32_t *order = L->order;
    pthread_mutex_unlock(&L->mu);
    int done = fill(w, &s->b, d, &aug, has_aug, order, n, batch, bi, epoch, gen);
    pthread_mutex_lock(&L->mu);
    s->state = done && gen == atomic_load(&L->gen) ? SLOT_READY : SLOT_FREE;
    pthread_cond_broadcast(&L->cv_ready);
    pthread_cond_broadcast(&L->cv_work);
  }
  pthread_mutex_unlock(&L->mu);
  return NULL;
}

static void *default_alloc(size_t bytes, void *ctx) {
  (void)ctx;
  return pb_amalloc(bytes);
}
static void default_free(void *p, void *ctx) {
  (void)ctx;
  pb_afree(p);
}

pb_loader *pb_loader_new(const pb_loader_opts *o, pb_err *err) {
  PB_ASSERT(o->workers >= 1 && o->depth >= 3 && o->max_batch >= 1);
  pb_loader *L = pb_xcalloc(1, sizeof *L);
  L->o = *o;
  if (!L->o.alloc) L->o.alloc = default_alloc, L->o.dealloc = default_free;
  pthread_mutex_init(&L->mu, NULL);
  pthread_cond_init(&L->cv_work, NULL);
  pthread_cond_init(&L->cv_ready, NULL);
  atomic_init(&L->gen, 0);
  L->slots = pb_xcalloc((size_t)o->depth, sizeof(slot));
  size_t data =
      ((size_t)o->max_batch * PB_MAX(o->max_views, 1) * PB_MAX(o->max_sample_bytes, 1) + 63) & ~(size_t)63;
  for (int i = 0; i < o->depth; i++) {
    slot *s = &L->slots[i];
    s->mem = L->o.alloc(data + (size_t)o->max_batch * (1 + (size_t)o->max_heads) * sizeof(int32_t), L->o.alloc_ctx);
    if (!s->mem) {
      pb_err_set(err, "cannot allocate the loader's batch memory (%d batches of %zu bytes): lower [loader] "
                      "queue_depth or [train] batch_size",
                 o->depth, data);
      pb_loader_free(L);
      return NULL;
    }
    s->b.u8 = s->mem;
    s->b.f32 = s->mem;
    s->b.y = (int32_t *)((uint8_t *)s->mem + data);
    s->b.heads = o->max_heads ? s->b.y + o->max_batch : NULL;
    s->b.groups = pb_xmalloc((size_t)o->max_batch * sizeof(int32_t));
    s->b.lengths = pb_xmalloc((size_t)o->max_batch * sizeof(int32_t));
    s->b.aligned = pb_xmalloc((size_t)o->max_batch);
    s->b.sample = pb_xmalloc((size_t)o->max_batch * sizeof(int32_t));
  }
  /* Workers inherit a mask without the stop signals: the main thread gets Ctrl-C and slurm's. */
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGUSR1);
  sigaddset(&block, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  L->w = pb_xcalloc((size_t)o->workers, sizeof(worker));
  for (int i = 0; i < o->workers; i++) {
    worker *w = &L->w[i];
    w->L = L;
    pb_decoder_init(&w->dec, o->reduced_dct, o->convert_channels);
    if (o->max_pixels > 0) w->dec.max_pixels = o->max_pixels;
    if (pthread_create(&w->th, NULL, worker_main, w)) {
      pb_decoder_free(&w->dec);
      break;
    }
    L->nw++;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (L->nw == 0) PB_FATAL("cannot start any loader thread");
  return L;
}

int pb_loader_workers(const pb_loader *L) { return L->nw; }

void pb_loader_stop(pb_loader *L) {
  pthread_mutex_lock(&L->mu);
  atomic_fetch_add(&L->gen, 1);
  L->nbatches = L->claim; /* nothing more to claim */
  for (;;) {
    int filling = 0;
    for (int i = 0; i < L->o.depth; i++) filling |= L->slots[i].state == SLOT_FILLING;
    if (!filling) break;
    pthread_cond_wait(&L->cv_ready, &L->mu);
  }
  for (int i = 0; i < L->o.depth; i++) L->slots[i].state = SLOT_FREE;
  L->deliver = L->claim;
  pthread_mutex_unlock(&L->mu);
}

void pb_loader_start(pb_loader *L, const pb_dataset *d, const pb_aug *aug, const int32_t *order, int n, int batch,
                     int64_t first_batch, int64_t epoch) {
  PB_ASSERT(batch >= 1 && batch <= L->o.max_batch);
  size_t per = pb_dataset_sample_elems(d) * (d->kind == PB_DATA_F32 ? sizeof(float) : 1);
  PB_ASSERT(per <= L->o.max_sample_bytes);
  PB_ASSERT(!aug || aug->views <= 1 || !d->frames);
  PB_ASSERT(!aug || aug->views <= PB_MAX(L->o.max_views, 1));
  PB_ASSERT(!aug || aug->views <= 1 || d->kind != PB_DATA_F32);
  pb_loader_stop(L);
  pthread_mutex_lock(&L->mu);
  if (n > L->order_cap) {
    L->order = pb_xrealloc(L->order, (size_t)n * sizeof(int32_t));
    L->order_cap = n;
  }
  memcpy(L->order, order, (size_t)n * sizeof(int32_t));
  L->d = d;
  L->has_aug = aug != NULL;
  if (aug) L->aug = *aug;
  L->n = n;
  L->batch = batch;
  L->epoch = epoch;
  L->nbatches = div_up(n, batch);
  L->claim = L->deliver = PB_MIN(first_batch, L->nbatches);
  pthread_cond_broadcast(&L->cv_work);
  pthread_mutex_unlock(&L->mu);
}

pb_batch *pb_loader_next(pb_loader *L) {
  pthread_mutex_lock(&L->mu);
  if (L->deliver >= L->nbatches) {
    pthread_mutex_unlock(&L->mu);
    return NULL;
  }
  slot *s = &L->slots[L->deliver % L->o.depth];
  while (!(s->state == SLOT_READY && s->b.index == L->deliver)) pthread_cond_wait(&L->cv_ready, &L->mu);
  s->state = SLOT_HELD;
  L->deliver++;
  pthread_mutex_unlock(&L->mu);
  return &s->b;
}

void pb_loader_release(pb_loader *L, pb_batch *b) {
  if (!b) return;
  pthread_mutex_lock(&L->mu);
  for (int i = 0; i < L->o.depth; i++)
    if (&L->slots[i].b == b && L->slots[i].state == SLOT_HELD) L->slots[i].state = SLOT_FREE;
  pthread_cond_broadcast(&L->cv_work);
  pthread_mutex_unlock(&L->mu);
}

void pb_loader_free(pb_loader *L) {
  if (!L) return;
  if (L->nw) pb_loader_stop(L);
  pthread_mutex_lock(&L->mu);
  L->quit = 1;
  pthread_cond_broadcast(&L->cv_work);
  pthread_mutex_unlock(&L->mu);
  for (int i = 0; i < L->nw; i++) {
    pthread_join(L->w[i].th, NULL);
    pb_decoder_free(&L->w[i].dec);
    pb_image_free(&L->w[i].img);
  }
  free(L->w);
  for (int i = 0; i < L->o.depth; i++) {
    slot *s = &L->slots[i];
    if (s->mem) L->o.dealloc(s->mem, L->o.alloc_ctx);
    free(s->b.groups);
    free(s->b.lengths);
    free(s->b.aligned);
    free(s->b.sample);
  }
  free(L->slots);
  free(L->order);
  pthread_mutex_destroy(&L->mu);
  pthread_cond_destroy(&L->cv_work);
  pthread_cond_destroy(&L->cv_ready);
  free(L);
}
