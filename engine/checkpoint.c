/* checkpoint.c: checkpoints over safetensors (checkpoint.h). */
#include "engine/checkpoint.h"

#include <stdlib.h>
#include <string.h>

/* Host copies of the model's blocks (the blocks themselves when the model is on the CPU). */
typedef struct {
  float *params, *buffers, *state;
  int owned;
} host_view;

static host_view host_view_get(pb_model *m, const pb_optim *opt) {
  host_view v = {m->params, m->buffers, opt ? opt->state : NULL, 0};
  if (!m->ctx->cuda) return v;
  v.owned = 1;
  v.params = pb_xmalloc(PB_MAX(m->nparams, 1) * sizeof(float));
  v.buffers = pb_xmalloc(PB_MAX(m->nbuffers, 1) * sizeof(float));
  pb_ctx_download(m->ctx, v.params, m->params, m->nparams * sizeof(float));
  pb_ctx_download(m->ctx, v.buffers, m->buffers, m->nbuffers * sizeof(float));
  if (opt && opt->nstate) {
    size_t n = (size_t)opt->nstate * opt->n;
    v.state = pb_xmalloc(n * sizeof(float));
    pb_ctx_download(m->ctx, v.state, opt->state, n * sizeof(float));
  }
  return v;
}

static void host_view_free(host_view *v) {
  if (!v->owned) return;
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
      pb_ctx_upload(m->ctx, p->data, s->data, p->numel * sizeof(float));
  }
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
      pb_ctx_upload(m->ctx, pb_optim_state(opt, s) + off, t->data, p->numel * sizeof(float));
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
