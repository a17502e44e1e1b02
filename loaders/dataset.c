/* dataset.c: the dataset interface (dataset.h): freeing, subsets, the per-epoch order. */
#include "loaders/dataset.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/pb_rng.h"

size_t pb_dataset_sample_elems(const pb_dataset *d) {
  return (size_t)PB_MAX(d->frames, 1) * d->c * d->h * d->w;
}

void pb_dataset_free(pb_dataset *d) {
  if (!d) return;
  free(d->images);
  free(d->feats);
  if (d->paths)
    for (size_t i = 0; i < (size_t)d->n * PB_MAX(d->frames, 1); i++) free(d->paths[i]);
  free(d->paths);
  free(d->heads);
  free(d->multi);
  if (d->class_names)
    for (int i = 0; i < d->num_classes; i++) free(d->class_names[i]);
  free(d->class_names);
  free(d->labels);
  free(d->groups);
  free(d->lengths);
  free(d->groupings);
  free(d->aligned);
  memset(d, 0, sizeof *d);
}

void pb_dataset_take(pb_dataset *dst, const pb_dataset *src, const int32_t *idx, int n, const char *name) {
  size_t per = (size_t)src->c * src->h * src->w;
  memset(dst, 0, sizeof *dst);
  snprintf(dst->name, sizeof dst->name, "%s", name);
  dst->kind = src->kind;
  dst->n = n;
  dst->c = src->c;
  dst->h = src->h;
  dst->w = src->w;
  dst->frames = src->frames;
  dst->num_classes = src->num_classes;
  dst->nheads = src->nheads;
  dst->multi_k = src->multi_k;
  dst->ngroupings = src->ngroupings;
  size_t m = (size_t)PB_MAX(n, 1);
  if (src->images) dst->images = pb_xmalloc(m * per);
  if (src->feats) dst->feats = pb_xmalloc(m * per * sizeof(float));
  size_t nf = (size_t)PB_MAX(src->frames, 1); /* paths per sample */
  if (src->paths) dst->paths = pb_xcalloc(m * nf, sizeof(char *));
  if (src->heads) dst->heads = pb_xmalloc(m * src->nheads * sizeof(int32_t));
  if (src->multi) dst->multi = pb_xmalloc(m * src->multi_k);
  dst->labels = pb_xmalloc(m * sizeof(int32_t));
  if (src->groups) dst->groups = pb_xmalloc(m * sizeof(int32_t));
  if (src->lengths) dst->lengths = pb_xmalloc(m * sizeof(int32_t));
  if (src->groupings) dst->groupings = pb_xmalloc(m * src->ngroupings * sizeof(int32_t));
  if (src->aligned) dst->aligned = pb_xmalloc(m);
  if (src->class_names) {
    dst->class_names = pb_xcalloc((size_t)src->num_classes, sizeof(char *));
    for (int k = 0; k < src->num_classes; k++) dst->class_names[k] = pb_xstrdup(src->class_names[k]);
  }
  for (int i = 0; i < n; i++) {
    size_t j = (size_t)idx[i];
    if (src->images) memcpy(dst->images + (size_t)i * per, src->images + j * per, per);
    if (src->feats) memcpy(dst->feats + (size_t)i * per, src->feats + j * per, per * sizeof(float));
    if (src->paths)
      for (size_t t = 0; t < nf; t++)
        if (src->paths[j * nf + t]) dst->paths[i * nf + t] = pb_xstrdup(src->paths[j * nf + t]);
    if (src->heads) memcpy(dst->heads + (size_t)i * src->nheads, src->heads + j * src->nheads, src->nheads * sizeof(int32_t));
    if (src->multi) memcpy(dst->multi + (size_t)i * src->multi_k, src->multi + j * src->multi_k, src->multi_k);
    dst->labels[i] = src->labels[j];
    if (src->groups) dst->groups[i] = src->groups[j];
    if (src->lengths) dst->lengths[i] = src->lengths[j];
    if (src->groupings)
      memcpy(dst->groupings + (size_t)i * src->ngroupings, src->groupings + j * src->ngroupings,
             src->ngroupings * sizeof(int32_t));
    if (src->aligned) dst->aligned[i] = src->aligned[j];
  }
}

void pb_data_order(int32_t *perm, int n, uint64_t seed, int64_t epoch, int shuffle) {
  for (int i = 0; i < n; i++) perm[i] = i;
  if (!shuffle) return;
  uint64_t stream = PB_RNG_STREAM(PB_RNG_ORDER, (uint64_t)epoch);
  for (int i = n - 1; i > 0; i--) {
    int j = (int)pb_rng_below(seed, stream, (uint64_t)i, (uint64_t)i + 1);
    int32_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
}

const char *pb_dataset_path(const pb_dataset *d, int i) {
  if (!d->paths) return "";
  const char *p = d->paths[(size_t)i * (size_t)(d->frames > 0 ? d->frames : 1)];
  return p ? p : "";
}
