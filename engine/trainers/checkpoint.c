/* checkpoint.c: checkpoints over safetensors (checkpoint.h). Tensors move between the file and
 * the model's device through the context's ops table (engine/device/backend.h: download, upload). */
#include "engine/trainers/checkpoint.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "engine/device/backend.h"

/* Host copies of the model's blocks and the optimizer state, downloaded from the model's device
 * (on the CPU a plain copy: one transient host copy of the blocks, the price of not asking
 * which device holds them). */
typedef struct {
  float *params, *buffers, *state;
} host_view;

static host_view host_view_get(pb_model *m, const pb_optim *opt) {
  pb_ctx *c = m->ctx;
  host_view v = {NULL, NULL, NULL};
  v.params = pb_xmalloc(PB_MAX(m->nparams, 1) * sizeof(float));
  v.buffers = pb_xmalloc(PB_MAX(m->nbuffers, 1) * sizeof(float));
  c->ops->download(c, v.params, m->params, m->nparams * sizeof(float));
  c->ops->download(c, v.buffers, m->buffers, m->nbuffers * sizeof(float));
  if (opt && opt->nstate) {
    size_t n = (size_t)opt->nstate * opt->n;
    v.state = pb_xmalloc(PB_MAX(n, 1) * sizeof(float));
    c->ops->download(c, v.state, opt->state, n * sizeof(float));
  }
  return v;
}

static void host_view_free(host_view *v) {
  free(v->params);
  free(v->buffers);
  free(v->state);
}

/* Host address of a parameter's values in the view. */
static float *host_of(const pb_model *m, const host_view *v, const pb_param *p) {
  if (p->kind == PB_PARAM_TRAINABLE) return v->params + (p->data - m->params);
  return v->buffers + (p->data - m->buffers);
}

static int fill_model_tensors(pb_model *m, const host_view *v, pb_st_tensor *t) {
  int n = 0;
  for (int i = 0; i < pb_model_ntensors(m); i++) {
    pb_param *p = pb_model_tensor(m, i);
    pb_st_tensor *s = &t[n++];
    memset(s, 0, sizeof *s);
    s->name = p->name;
    s->ndim = p->ndim;
    for (int d = 0; d < p->ndim; d++) s->shape[d] = p->shape[d];
    if (p->kind == PB_PARAM_COUNTER) {
      s->dtype = PB_ST_I64;
      s->data = &p->counter;
      s->nbytes = sizeof p->counter;
    } else {
      s->dtype = PB_ST_F32;
      s->data = host_of(m, v, p);
      s->nbytes = p->numel * sizeof(float);
    }
  }
  return n;
}

int pb_ckpt_save(const char *base, pb_model *m, const pb_optim *opt, const char *const *meta, int nmeta,
                 pb_err *err) {
  char path[4096];
  int nt = pb_model_ntensors(m);
  host_view hv = host_view_get(m, opt);
  if (opt && opt->nstate > 0) {
    pb_st_tensor *t = pb_xcalloc((size_t)nt * (size_t)opt->nstate, sizeof *t);
    char(*names)[160] = pb_xcalloc((size_t)nt * (size_t)opt->nstate, sizeof *names);
    int n = 0;
    for (int i = 0; i < nt; i++) {
      pb_param *p = pb_model_tensor(m, i);
      if (p->kind != PB_PARAM_TRAINABLE) continue;
      size_t off = (size_t)(p->data - m->params);
      for (int s = 0; s < opt->nstate; s++) {
        snprintf(names[n], sizeof names[n], "optimizer.%s.%s", p->name, pb_optim_state_name(opt, s));
        t[n].name = names[n];
        t[n].dtype = PB_ST_F32;
        t[n].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) t[n].shape[d] = p->shape[d];
        t[n].data = hv.state + (size_t)s * opt->n + off;
        t[n].nbytes = p->numel * sizeof(float);
        n++;
      }
    }
    snprintf(path, sizeof path, "%s.state.safetensors", base);
    int rc = pb_st_write(path, t, n, meta, nmeta, err);
    free(t);
    free(names);
    if (rc) {
      host_view_free(&hv);
      return rc;
    }
  } else if (opt) {
    snprintf(path, sizeof path, "%s.state.safetensors", base);
    if (pb_st_write(path, NULL, 0, meta, nmeta, err)) {
      host_view_free(&hv);
      return PB_ERR;
    }
  }
  pb_st_tensor *t = pb_xcalloc((size_t)PB_MAX(nt, 1), sizeof *t);
  int n = fill_model_tensors(m, &hv, t);
  snprintf(path, sizeof path, "%s.safetensors", base);
  int rc = pb_st_write(path, t, n, meta, nmeta, err);
  free(t);
  host_view_free(&hv);
  return rc;
}

static int check_shape(const char *path, const pb_st_tensor *s, const pb_param *p, pb_st_dtype want,
                       pb_err *err) {
  int same = s->dtype == want && s->ndim == p->ndim;
  for (int d = 0; same && d < p->ndim; d++) same = s->shape[d] == p->shape[d];
  if (same) return PB_OK;
  char got[128] = "", exp[128] = "";
  size_t o = 0;
  for (int d = 0; d < s->ndim && o < sizeof got; d++) o += (size_t)snprintf(got + o, sizeof got - o, d ? ", %lld" : "%lld", (long long)s->shape[d]);
  o = 0;
  for (int d = 0; d < p->ndim && o < sizeof exp; d++) o += (size_t)snprintf(exp + o, sizeof exp - o, d ? ", %d" : "%d", p->shape[d]);
  return pb_err_set(err, "%s: tensor '%s' is %s [%s], the model expects %s [%s]", path, s->name,
                    pb_st_dtype_name(s->dtype), got, pb_st_dtype_name(want), exp);
}

int pb_ckpt_load_model(const char *path, pb_model *m, pb_err *err) {
  pb_st_file f;
  if (pb_st_read(&f, path, err)) return PB_ERR;
  int rc = PB_ERR;
  int nt = pb_model_ntensors(m);
  for (int i = 0; i < nt; i++) {
    pb_param *p = pb_model_tensor(m, i);
    const pb_st_tensor *s = pb_st_find(&f, p->name);
    if (!s) {
      pb_err_set(err, "%s: tensor '%s' is missing (is this a checkpoint of the same [model]?)", path, p->name);
      goto out;
    }
    if (check_shape(path, s, p, p->kind == PB_PARAM_COUNTER ? PB_ST_I64 : PB_ST_F32, err)) goto out;
  }
  for (int j = 0; j < f.n; j++) {
    if (!pb_model_find(m, f.tensors[j].name)) {
      pb_err_set(err, "%s: unexpected tensor '%s' (not in the model %s)", path, f.tensors[j].name, m->arch);
      goto out;
    }
  }
  for (int i = 0; i < nt; i++) {
    pb_param *p = pb_model_tensor(m, i);
    const pb_st_tensor *s = pb_st_find(&f, p->name);
    if (p->kind == PB_PARAM_COUNTER)
      memcpy(&p->counter, s->data, sizeof p->counter);
    else
      m->ctx->ops->upload(m->ctx, p->data, s->data, p->numel * sizeof(float));
  }
  rc = PB_OK;
out:
  pb_st_free(&f);
  return rc;
}

static int excluded(const char *exclude, const char *name) {
  char pat[256];
  for (const char *p = exclude; p && *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    while (len && *p == ' ') p++, len--;
    while (len && p[len - 1] == ' ') len--;
    if (len && len < sizeof pat) {
      memcpy(pat, p, len);
      pat[len] = 0;
      if (!fnmatch(pat, name, 0)) return 1;
    }
    p = e ? e + 1 : NULL;
  }
  return 0;
}

/* Appends "name" (and "shape") to a problem list, up to a length; counts every entry. */
static void list_add(char *buf, size_t len, int *count, const char *item) {
  size_t o = strlen(buf);
  if (*count < 12 && o + strlen(item) + 4 < len) snprintf(buf + o, len - o, "%s%s", *count ? ", " : "", item);
  (*count)++;
}

static void shape_str(char *out, size_t len, int ndim, const int64_t *shape) {
  size_t o = (size_t)snprintf(out, len, "[");
  for (int d = 0; d < ndim && o < len; d++) o += (size_t)snprintf(out + o, len - o, d ? ", %lld" : "%lld", (long long)shape[d]);
  if (o < len) snprintf(out + o, len - o, "]");
}

int pb_ckpt_init_from(const char *path, const char *exclude, pb_model *m, char *summary, size_t summary_len,
                      pb_err *err) {
  pb_st_file f;
  if (pb_st_read(&f, path, err)) return PB_ERR;
  char missing[512] = "", unexpected[512] = "", misshaped[768] = "", item[320];
  int nmiss = 0, nunexp = 0, nshape = 0, nexcl = 0, nload = 0;
  for (int i = 0; i < pb_model_ntensors(m); i++) {
    pb_param *p = pb_model_tensor(m, i);
    if (excluded(exclude, p->name)) {
      nexcl++;
      continue;
    }
    const pb_st_tensor *s = pb_st_find(&f, p->name);
    if (!s) {
      list_add(missing, sizeof missing, &nmiss, p->name);
      continue;
    }
    pb_st_dtype want = p->kind == PB_PARAM_COUNTER ? PB_ST_I64 : PB_ST_F32;
    int same = s->dtype == want && s->ndim == p->ndim;
    for (int d = 0; same && d < p->ndim; d++) same = s->shape[d] == p->shape[d];
    if (!same) {
      int64_t ps[4];
      for (int d = 0; d < p->ndim; d++) ps[d] = p->shape[d];
      char got[96], exp[96];
      shape_str(got, sizeof got, s->ndim, s->shape);
      shape_str(exp, sizeof exp, p->ndim, ps);
      snprintf(item, sizeof item, "%s (file %s %s, model %s %s)", p->name, pb_st_dtype_name(s->dtype), got,
               pb_st_dtype_name(want), exp);
      list_add(misshaped, sizeof misshaped, &nshape, item);
    }
  }
  for (int j = 0; j < f.n; j++) {
    const char *name = f.tensors[j].name;
    if (!pb_model_find(m, name) && !excluded(exclude, name)) list_add(unexpected, sizeof unexpected, &nunexp, name);
  }
  int rc = PB_ERR;
  if (nmiss || nunexp || nshape) {
    pb_err_set(err,
               "%s does not fit the model %s: %d missing tensor(s)%s%s%s; %d unexpected tensor(s)%s%s%s; %d "
               "mis-shaped tensor(s)%s%s%s. Set [model] init_exclude (e.g. init_exclude = fc.*) to leave tensors at "
               "their random initialisation",
               path, m->arch, nmiss, nmiss ? " (" : "", missing, nmiss > 12 ? ", ...)" : nmiss ? ")" : "", nunexp,
               nunexp ? " (" : "", unexpected, nunexp > 12 ? ", ...)" : nunexp ? ")" : "", nshape,
               nshape ? " (" : "", misshaped, nshape > 12 ? ", ...)" : nshape ? ")" : "");
    goto out;
  }
  for (int i = 0; i < pb_model_ntensors(m); i++) {
    pb_param *p = pb_model_tensor(m, i);
    if (excluded(exclude, p->name)) continue;
    const pb_st_tensor *s = pb_st_find(&f, p->name);
    if (p->kind == PB_PARAM_COUNTER)
      memcpy(&p->counter, s->data, sizeof p->counter);
    else
      m->ctx->ops->upload(m->ctx, p->data, s->data, p->numel * sizeof(float));
    nload++;
  }
  if (summary)
    snprintf(summary, summary_len, "init_from %s: loaded %d tensors, %d left at their initialisation (init_exclude = %s)",
             path, nload, nexcl, exclude && *exclude ? exclude : "none");
  rc = PB_OK;
out:
  pb_st_free(&f);
  return rc;
}

int pb_ckpt_load_state(const char *path, pb_optim *opt, pb_model *m, pb_st_file *state, pb_err *err) {
  if (pb_st_read(state, path, err)) return PB_ERR;
  int nt = pb_model_ntensors(m), expected = 0;
  for (int i = 0; i < nt; i++) {
    pb_param *p = pb_model_tensor(m, i);
    if (p->kind != PB_PARAM_TRAINABLE) continue;
    size_t off = (size_t)(p->data - m->params);
    for (int s = 0; s < opt->nstate; s++) {
      char name[160];
      snprintf(name, sizeof name, "optimizer.%s.%s", p->name, pb_optim_state_name(opt, s));
      const pb_st_tensor *t = pb_st_find(state, name);
      if (!t) {
        pb_err_set(err, "%s: optimizer tensor '%s' is missing (was the run started with another [optim] name?)",
                   path, name);
        goto fail;
      }
      if (check_shape(path, t, p, PB_ST_F32, err)) goto fail;
      m->ctx->ops->upload(m->ctx, pb_optim_state(opt, s) + off, t->data, p->numel * sizeof(float));
      expected++;
    }
  }
  if (state->n != expected) {
    pb_err_set(err, "%s: holds %d optimizer tensors, the [optim] configured expects %d", path, state->n, expected);
    goto fail;
  }
  return PB_OK;
fail:
  pb_st_free(state);
  memset(state, 0, sizeof *state);
  return PB_ERR;
}
