/* expand.c: a sweep spec's trials (sweep.h): grid, zip and random expansion, cross_seeds, and
 * the run name of every trial. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/sweep/sweep.h"
#include "kernels/pb_rng.h"

#define EXPAND_MAX_TRIALS 10000

void pb_sweep_draw(const pb_sweep_key *k, int kidx, uint64_t seed, long t, char *out, size_t cap) {
  uint64_t stream = PB_RNG_STREAM(PB_RNG_SWEEP, (uint64_t)kidx), ctr = (uint64_t)t;
  switch (k->kind) {
    case PB_SWEEP_LIST:
    case PB_SWEEP_CHOICE:
      snprintf(out, cap, "%s", k->n == 1 ? k->vals[0] : k->vals[pb_rng_below(seed, stream, ctr, (uint64_t)k->n)]);
      return;
    case PB_SWEEP_UNIFORM: {
      double u = pb_rng_uniform_f64(seed, stream, ctr);
      snprintf(out, cap, "%.6g", k->a + u * (k->b - k->a));
      return;
    }
    case PB_SWEEP_LOGUNIFORM: {
      double u = pb_rng_uniform_f64(seed, stream, ctr), la = log(k->a), lb = log(k->b);
      snprintf(out, cap, "%.6g", exp(la + u * (lb - la)));
      return;
    }
    case PB_SWEEP_RANDINT: {
      uint64_t span = (uint64_t)(k->b - k->a) + 1;
      snprintf(out, cap, "%.0f", k->a + (double)pb_rng_below(seed, stream, ctr, span));
      return;
    }
  }
  PB_FATAL("bad sweep key kind %d", k->kind);
}

/* A value as it may appear in a folder name: [A-Za-z0-9._+=-] kept, anything else '_'. */
static void name_safe(char *dst, size_t cap, const char *src) {
  size_t n = 0;
  for (; *src && n + 1 < cap; src++)
    dst[n++] = isalnum((unsigned char)*src) || strchr("._+=-", *src) ? *src : '_';
  dst[n] = '\0';
}

/* The run name of trial t from the pattern; PB_ERR on an unknown {placeholder}. */
static int make_name(const pb_sweep_spec *s, const pb_sweep_plan *p, long t, char *out, size_t cap, pb_err *err) {
  const char *pat = s->name ? s->name : "trial-{trial}";
  const char *origin = s->name_origin ? s->name_origin : s->path;
  size_t n = 0;
  out[0] = '\0';
  for (const char *c = pat; *c;) {
    char piece[512];
    if (*c == '{') {
      const char *close = strchr(c, '}');
      if (!close) return pb_err_set(err, "%s: [sweep] name = %s: '{' without '}'", origin, pat);
      char key[256];
      snprintf(key, sizeof key, "%.*s", (int)(close - c - 1), c + 1);
      if (!strcmp(key, "trial")) {
        snprintf(piece, sizeof piece, "%04ld", t + 1);
      } else {
        int k = 0;
        while (k < p->nkeys && strcmp(p->keys[k], key)) k++;
        if (k == p->nkeys)
          return pb_err_set(err, "%s: [sweep] name = %s: {%s} is not a varied key (use {trial} or a key of [vary])",
                            origin, pat, key);
        name_safe(piece, sizeof piece, p->values[t * p->nkeys + k]);
      }
      c = close + 1;
    } else {
      const char *e = strchr(c, '{');
      size_t len = e ? (size_t)(e - c) : strlen(c);
      char lit[512];
      snprintf(lit, sizeof lit, "%.*s", (int)PB_MIN(len, sizeof lit - 1), c);
      name_safe(piece, sizeof piece, lit);
      c += len;
    }
    size_t len = strlen(piece);
    if (n + len + 1 > cap) return pb_err_set(err, "%s: [sweep] name = %s: a name is too long", origin, pat);
    memcpy(out + n, piece, len + 1);
    n += len;
  }
  if (!n || !strcmp(out, ".") || !strcmp(out, ".."))
    return pb_err_set(err, "%s: [sweep] name = %s gives the name '%s'", origin, pat, out);
  return PB_OK;
}

int pb_sweep_expand(const pb_sweep_spec *s, pb_sweep_plan *p, pb_err *err) {
  PB_ASSERT(s && p);
  memset(p, 0, sizeof *p);
  int nk = s->nkeys + (s->nseeds > 0);
  p->nkeys = nk;
  p->keys = pb_xcalloc((size_t)nk + 1, sizeof *p->keys);
  p->origins = pb_xcalloc((size_t)nk + 1, sizeof *p->origins);
  for (int k = 0; k < s->nkeys; k++) p->keys[k] = s->keys[k].name, p->origins[k] = s->keys[k].origin;
  if (s->nseeds) p->keys[nk - 1] = "run.seed", p->origins[nk - 1] = s->seeds_origin;

  /* The settings (the spec's keys), before cross_seeds. */
  long nset = 1;
  if (s->mode == PB_SWEEP_GRID) {
    for (int k = 0; k < s->nkeys; k++) {
      nset *= s->keys[k].n;
      if (nset > EXPAND_MAX_TRIALS)
        return pb_err_set(err, "%s: the grid has more than %d trials", s->keys[k].origin, EXPAND_MAX_TRIALS);
    }
  } else if (s->mode == PB_SWEEP_ZIP) {
    nset = s->nkeys ? s->keys[0].n : 1;
    for (int k = 1; k < s->nkeys; k++)
      if (s->keys[k].n != nset) {
        char list[1024] = "";
        size_t len = 0;
        for (int j = 0; j < s->nkeys; j++)
          len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0, "%s%s has %d (%s)",
                                  j ? ", " : "", s->keys[j].name, s->keys[j].n, s->keys[j].origin);
        return pb_err_set(err, "%s: mode = zip needs value lists of one length: %s", s->keys[k].origin, list);
      }
  } else {
    nset = s->trials;
  }
  long total = nset * (s->nseeds ? s->nseeds : 1);
  if (total > EXPAND_MAX_TRIALS) return pb_err_set(err, "%s: more than %d trials", s->path, EXPAND_MAX_TRIALS);
  p->ntrials = total;
  p->values = pb_xcalloc((size_t)(total * nk) + 1, sizeof *p->values);
  p->names = pb_xcalloc((size_t)total + 1, sizeof *p->names);
  int reps = s->nseeds ? s->nseeds : 1;
  for (long i = 0; i < nset; i++) {
    long rem = i; /* grid: mixed radix, the last key fastest */
    for (int k = s->nkeys - 1; k >= 0; k--) {
      const pb_sweep_key *key = &s->keys[k];
      char buf[512];
      if (s->mode == PB_SWEEP_GRID) {
        snprintf(buf, sizeof buf, "%s", key->vals[rem % key->n]);
        rem /= key->n;
      } else if (s->mode == PB_SWEEP_ZIP) {
        snprintf(buf, sizeof buf, "%s", key->vals[i]);
      } else {
        pb_sweep_draw(key, k, s->seed, i, buf, sizeof buf);
      }
      for (int r = 0; r < reps; r++) p->values[(i * reps + r) * nk + k] = pb_xstrdup(buf);
    }
    for (int r = 0; s->nseeds && r < reps; r++) {
      char buf[32];
      snprintf(buf, sizeof buf, "%ld", s->seeds[r]);
      p->values[(i * reps + r) * nk + nk - 1] = pb_xstrdup(buf);
    }
  }
  for (long t = 0; t < total; t++) {
    char name[1024];
    if (make_name(s, p, t, name, sizeof name, err)) return PB_ERR;
    for (long u = 0; u < t; u++)
      if (!strcmp(p->names[u], name))
        return pb_err_set(err, "%s: trials %ld and %ld both get the run name '%s'; put every varied key in [sweep] name "
                          "(or {trial})",
                          s->name_origin ? s->name_origin : s->path, u + 1, t + 1, name);
    p->names[t] = pb_xstrdup(name);
  }
  return PB_OK;
}

void pb_sweep_plan_free(pb_sweep_plan *p) {
  if (!p) return;
  for (long i = 0; p->values && i < p->ntrials * p->nkeys; i++) free(p->values[i]);
  for (long i = 0; p->names && i < p->ntrials; i++) free(p->names[i]);
  free(p->values);
  free(p->names);
  free(p->keys);
  free(p->origins);
  memset(p, 0, sizeof *p);
}
