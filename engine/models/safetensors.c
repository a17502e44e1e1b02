/* safetensors.c: reading and writing the safetensors format declared in safetensors.h.
 * No twin (host-only I/O). The reader is meant to survive any input: the JSON header is
 * parsed by a small strict parser that never looks outside the header's N bytes, and every
 * offset and size is checked before a data pointer is formed. */
#include "engine/models/safetensors.h"

#include "kernels/pb_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Headers are small (kilobytes); a length beyond this is a corrupt or hostile file. */
#define PB_ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

static const struct {
  const char *name;
  size_t size;
} pb_st_dtypes[] = {
    [PB_ST_F32] = {"F32", 4},   [PB_ST_F64] = {"F64", 8}, [PB_ST_F16] = {"F16", 2},
    [PB_ST_BF16] = {"BF16", 2}, [PB_ST_I64] = {"I64", 8}, [PB_ST_I32] = {"I32", 4},
    [PB_ST_I16] = {"I16", 2},   [PB_ST_I8] = {"I8", 1},   [PB_ST_U8] = {"U8", 1},
    [PB_ST_BOOL] = {"BOOL", 1},
};
#define PB_ST_NDTYPES ((int)(sizeof pb_st_dtypes / sizeof pb_st_dtypes[0]))

size_t pb_st_dtype_size(pb_st_dtype t) {
  PB_ASSERT((int)t >= 0 && (int)t < PB_ST_NDTYPES);
  return pb_st_dtypes[t].size;
}

const char *pb_st_dtype_name(pb_st_dtype t) {
  PB_ASSERT((int)t >= 0 && (int)t < PB_ST_NDTYPES);
  return pb_st_dtypes[t].name;
}

/* ---------------------------------------------------------------- writing */

typedef struct st_buf {
  char *p;
  size_t n, cap;
} st_buf;

static void buf_put(st_buf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n + 1) cap *= 2;
    b->p = pb_xrealloc(b->p, cap);
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void buf_puts(st_buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_printf(st_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(st_buf *b, const char *fmt, ...) {
  char tmp[128];
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  PB_ASSERT(k >= 0 && (size_t)k < sizeof tmp);
  buf_put(b, tmp, (size_t)k);
}

/* A JSON string literal; bytes >= 0x80 pass through (UTF-8 is the caller's business). */
static void buf_json_string(st_buf *b, const char *s) {
  buf_put(b, "\"", 1);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\') {
      char e[2] = {'\\', (char)*c};
      buf_put(b, e, 2);
    } else if (*c < 0x20) {
      buf_printf(b, "\\u%04x", *c);
    } else {
      buf_put(b, (const char *)c, 1);
    }
  }
  buf_put(b, "\"", 1);
}

static int cmp_strp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Bytes of a tensor as its shape says; -1 on overflow or a negative dimension. */
static int64_t st_shape_bytes(const int64_t *shape, int ndim, size_t dsize) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0 || __builtin_mul_overflow(n, shape[d], &n)) return -1;
  }
  if (__builtin_mul_overflow(n, (int64_t)dsize, &n)) return -1;
  return n;
}

int pb_st_write(const char *path, const pb_st_tensor *tensors, int n, const char *const *meta,
                int nmeta, pb_err *err) {
  PB_ASSERT(path && n >= 0 && nmeta >= 0 && (n == 0 || tensors) && (nmeta == 0 || meta));
  /* Contract checks: these are the caller's bugs, not user input. */
  if (n > 1) {
    const char **names = pb_xmalloc((size_t)n * sizeof *names);
    for (int i = 0; i < n; i++) names[i] = tensors[i].name;
    for (int i = 0; i < n; i++) PB_ASSERT(names[i]);
    qsort(names, (size_t)n, sizeof *names, cmp_strp);
    for (int i = 1; i < n; i++) {
      if (strcmp(names[i - 1], names[i]) == 0)
        PB_FATAL("pb_st_write(%s): duplicate tensor name \"%s\"", path, names[i]);
    }
    free(names);
  }
  for (int i = 0; i < nmeta; i++) PB_ASSERT(meta[2 * i] && meta[2 * i + 1]);

  st_buf h = {0};
  buf_puts(&h, "{");
  int first = 1;
  if (nmeta > 0) {
    buf_puts(&h, "\"__metadata__\":{");
    for (int i = 0; i < nmeta; i++) {
      if (i) buf_puts(&h, ",");
      buf_json_string(&h, meta[2 * i]);
      buf_puts(&h, ":");
      buf_json_string(&h, meta[2 * i + 1]);
    }
    buf_puts(&h, "}");
    first = 0;
  }
  /* Data are laid out by decreasing element size (as the reference writer does), so that
   * every tensor is aligned to its element size; the header keeps the caller's order. */
  uint64_t *offs = pb_xmalloc((size_t)(n ? n : 1) * sizeof *offs);
  int *order = pb_xmalloc((size_t)(n ? n : 1) * sizeof *order);
  uint64_t off = 0;
  int no = 0;
  for (size_t es = 8; es >= 1; es /= 2) {
    for (int i = 0; i < n; i++) {
      if (pb_st_dtype_size(tensors[i].dtype) != es) continue;
      order[no++] = i;
      offs[i] = off;
      off += tensors[i].nbytes;
    }
  }
  PB_ASSERT(no == n);
  for (int i = 0; i < n; i++) {
    const pb_st_tensor *t = &tensors[i];
    PB_ASSERT(t->name && strcmp(t->name, "__metadata__") != 0);
    PB_ASSERT(t->ndim >= 0 && t->ndim <= PB_ST_MAX_DIMS);
    int64_t bytes = st_shape_bytes(t->shape, t->ndim, pb_st_dtype_size(t->dtype));
    if (bytes < 0 || (uint64_t)bytes != t->nbytes)
      PB_FATAL("pb_st_write(%s): tensor \"%s\" has nbytes %zu but its shape says %lld", path,
               t->name, t->nbytes, (long long)bytes);
    PB_ASSERT(t->nbytes == 0 || t->data);
    if (!first) buf_puts(&h, ",");
    first = 0;
    buf_json_string(&h, t->name);
    buf_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", pb_st_dtype_name(t->dtype));
    for (int d = 0; d < t->ndim; d++) buf_printf(&h, d ? ",%lld" : "%lld", (long long)t->shape[d]);
    buf_printf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offs[i],
               (unsigned long long)(offs[i] + t->nbytes));
  }
  free(offs);
  buf_puts(&h, "}");
  /* Pad so that the data section starts 8-byte aligned in the file (and in memory). */
  while (h.n % 8) buf_puts(&h, " ");

  pb_afile af;
  if (pb_afile_open(&af, path, err)) {
    free(h.p);
    free(order);
    return PB_ERR;
  }
  unsigned char len8[8];
  uint64_t hn = h.n;
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(hn >> (8 * i));
  int ok = fwrite(len8, 1, 8, af.f) == 8 && fwrite(h.p, 1, h.n, af.f) == h.n;
  for (int k = 0; ok && k < n; k++) {
    const pb_st_tensor *t = &tensors[order[k]];
    ok = !t->nbytes || fwrite(t->data, 1, t->nbytes, af.f) == t->nbytes;
  }
  free(h.p);
  free(order);
  if (!ok) {
    int e = errno;
    pb_afile_abort(&af);
    return pb_err_set(err, "%s: writing failed: %s", path, strerror(e ? e : EIO));
  }
  return pb_afile_commit(&af, err);
}

/* ---------------------------------------------------------------- reading */

typedef struct st_mem {
  uint8_t *blob;      /* the whole file */
  uint8_t *data_copy; /* aligned copies of the tensors that were misaligned in blob */
} st_mem;

/* Parser over the header bytes [base, end): p never passes end. Strings are decoded in
 * place (a decoded string is never longer than its literal), so names point into the blob. */
typedef struct st_parser {
  const char *path;
  char *base, *p, *end;
  pb_err *err;
} st_parser;

static int jp_fail(st_parser *j, const char *what) {
  return pb_err_set(j->err, "%s: bad safetensors header at header byte %ld: %s", j->path,
                    (long)(j->p - j->base), what);
}

static void jp_ws(st_parser *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int jp_expect(st_parser *j, char c, const char *what) {
  jp_ws(j);
  if (j->p >= j->end) return jp_fail(j, "unexpected end of header");
  if (*j->p != c) return jp_fail(j, what);
  j->p++;
  return PB_OK;
}

static int jp_hex4(st_parser *j, unsigned *out) {
  if (j->end - j->p < 4) return jp_fail(j, "unexpected end of header in \\u escape");
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = j->p[i];
    unsigned d;
    if (c >= '0' && c <= '9')
      d = (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      d = (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      d = (unsigned)(c - 'A' + 10);
    else
      return jp_fail(j, "bad hex digit in \\u escape");
    v = v * 16 + d;
  }
  j->p += 4;
  *out = v;
  return PB_OK;
}

/* Parses a string literal at p (after whitespace); *out is the NUL-terminated decoded text. */
static int jp_string(st_parser *j, char **out) {
  jp_ws(j);
  if (j->p >= j->end) return jp_fail(j, "unexpected end of header, expected a string");
  if (*j->p != '"') return jp_fail(j, "expected a string");
  j->p++;
  char *w = j->p, *start = j->p;
  for (;;) {
    if (j->p >= j->end) return jp_fail(j, "unterminated string");
    unsigned char c = (unsigned char)*j->p;
    if (c == '"') {
      *w = '\0'; /* w <= p: the closing quote's byte is ours to overwrite */
      j->p++;
      *out = start;
      return PB_OK;
    }
    if (c < 0x20) return jp_fail(j, "control character in string");
    if (c != '\\') {
      *w++ = (char)c;
      j->p++;
      continue;
    }
    j->p++;
    if (j->p >= j->end) return jp_fail(j, "unterminated escape");
    char e = *j->p++;
    switch (e) {
      case '"':
        *w++ = '"';
        break;
      case '\\':
        *w++ = '\\';
        break;
      case '/':
        *w++ = '/';
        break;
      case 'b':
        *w++ = '\b';
        break;
      case 'f':
        *w++ = '\f';
        break;
      case 'n':
        *w++ = '\n';
        break;
      case 'r':
        *w++ = '\r';
        break;
      case 't':
        *w++ = '\t';
        break;
      case 'u': {
        unsigned cp;
        if (jp_hex4(j, &cp)) return PB_ERR;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return jp_fail(j, "lone low surrogate in \\u escape");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          unsigned lo;
          if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
            return jp_fail(j, "high surrogate not followed by a low one");
          j->p += 2;
          if (jp_hex4(j, &lo)) return PB_ERR;
          if (lo < 0xDC00 || lo > 0xDFFF) return jp_fail(j, "bad low surrogate in \\u escape");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp == 0) return jp_fail(j, "NUL character (\\u0000) in string");
        /* UTF-8 is at most 4 bytes, the escape at least 6: w stays behind p. */
        if (cp < 0x80) {
          *w++ = (char)cp;
        } else if (cp < 0x800) {
          *w++ = (char)(0xC0 | (cp >> 6));
          *w++ = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
          *w++ = (char)(0xE0 | (cp >> 12));
          *w++ = (char)(0x80 | ((cp >> 6) & 0x3F));
          *w++ = (char)(0x80 | (cp & 0x3F));
        } else {
          *w++ = (char)(0xF0 | (cp >> 18));
          *w++ = (char)(0x80 | ((cp >> 12) & 0x3F));
          *w++ = (char)(0x80 | ((cp >> 6) & 0x3F));
          *w++ = (char)(0x80 | (cp & 0x3F));
        }
        break;
      }
      default:
        j->p--;
        return jp_fail(j, "bad escape in string");
    }
  }
}

/* A non-negative integer without sign, fraction or exponent, at most 2^62. */
static int jp_uint(st_parser *j, int64_t *out) {
  jp_ws(j);
  if (j->p >= j->end) return jp_fail(j, "unexpected end of header, expected an integer");
  if (*j->p == '-') return jp_fail(j, "negative integer");
  if (*j->p < '0' || *j->p > '9') return jp_fail(j, "expected a non-negative integer");
  if (*j->p == '0' && j->end - j->p > 1 && j->p[1] >= '0' && j->p[1] <= '9')
    return jp_fail(j, "integer with a leading zero");
  int64_t v = 0;
  const int64_t limit = (int64_t)1 << 62;
  while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
    int d = *j->p - '0';
    /* Checked before the arithmetic: v * 10 + d may not overflow (20 digits would wrap). */
    if (v > (limit - d) / 10) return jp_fail(j, "integer too large");
    v = v * 10 + d;
    j->p++;
  }
  if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
    return jp_fail(j, "expected an integer, not a fraction");
  *out = v;
  return PB_OK;
}

/* [a, b, ...] of at most max non-negative integers. */
static int jp_uint_array(st_parser *j, int64_t *vals, int max, int *n, const char *what) {
  if (jp_expect(j, '[', what)) return PB_ERR;
  *n = 0;
  jp_ws(j);
  if (j->p < j->end && *j->p == ']') {
    j->p++;
    return PB_OK;
  }
  for (;;) {
    if (*n >= max) return jp_fail(j, "too many elements in an array");
    if (jp_uint(j, &vals[(*n)++])) return PB_ERR;
    jp_ws(j);
    if (j->p >= j->end) return jp_fail(j, "unexpected end of header in an array");
    if (*j->p == ']') {
      j->p++;
      return PB_OK;
    }
    if (*j->p != ',') return jp_fail(j, "expected ',' or ']' in an array");
    j->p++;
  }
}

/* Ends an object member: ',' (returns 0: more follow) or '}' (returns 1); PB_ERR else. */
static int jp_member_end(st_parser *j) {
  jp_ws(j);
  if (j->p >= j->end) return jp_fail(j, "unexpected end of header in an object");
  if (*j->p == '}') {
    j->p++;
    return 1;
  }
  if (*j->p != ',') return jp_fail(j, "expected ',' or '}' in an object");
  j->p++;
  return 0;
}

/* Opens an object; returns 1 if it is empty ("{}"), 0 if members follow. */
static int jp_object_open(st_parser *j, const char *what) {
  if (jp_expect(j, '{', what)) return PB_ERR;
  jp_ws(j);
  if (j->p < j->end && *j->p == '}') {
    j->p++;
    return 1;
  }
  return 0;
}

typedef struct st_parsed {
  pb_st_tensor *t;
  int64_t (*off)[2];
  int n, cap;
  char **meta;
  int nmeta, metacap;
  int have_meta;
} st_parsed;

static int jp_metadata(st_parser *j, st_parsed *ps) {
  if (ps->have_meta) return jp_fail(j, "duplicate \"__metadata__\"");
  ps->have_meta = 1;
  int r = jp_object_open(j, "\"__metadata__\" must be an object");
  if (r != 0) return r < 0 ? PB_ERR : PB_OK;
  for (;;) {
    char *k, *v;
    if (jp_string(j, &k)) return PB_ERR;
    if (jp_expect(j, ':', "expected ':' after a key")) return PB_ERR;
    jp_ws(j);
    if (j->p < j->end && *j->p != '"') {
      char msg[200];
      snprintf(msg, sizeof msg, "metadata value of \"%.100s\" is not a string", k);
      return jp_fail(j, msg);
    }
    if (jp_string(j, &v)) return PB_ERR;
    for (int i = 0; i < ps->nmeta; i++) {
      if (strcmp(ps->meta[2 * i], k) == 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "duplicate metadata key \"%.100s\"", k);
        return jp_fail(j, msg);
      }
    }
    if (ps->nmeta == ps->metacap) {
      ps->metacap = ps->metacap ? 2 * ps->metacap : 8;
      ps->meta = pb_xrealloc(ps->meta, (size_t)ps->metacap * 2 * sizeof *ps->meta);
    }
    ps->meta[2 * ps->nmeta] = k;
    ps->meta[2 * ps->nmeta + 1] = v;
    ps->nmeta++;
    r = jp_member_end(j);
    if (r < 0) return PB_ERR;
    if (r == 1) return PB_OK;
  }
}

static int jp_tensor(st_parser *j, st_parsed *ps, char *name) {
  if (ps->n == ps->cap) {
    ps->cap = ps->cap ? 2 * ps->cap : 16;
    ps->t = pb_xrealloc(ps->t, (size_t)ps->cap * sizeof *ps->t);
    ps->off = pb_xrealloc(ps->off, (size_t)ps->cap * sizeof *ps->off);
  }
  pb_st_tensor *t = &ps->t[ps->n];
  memset(t, 0, sizeof *t);
  t->name = name;
  char msg[200];
  int r = jp_object_open(j, "a tensor entry must be an object");
  if (r < 0) return PB_ERR;
  int have_dtype = 0, have_shape = 0, have_off = 0;
  while (r == 0) {
    char *k;
    if (jp_string(j, &k)) return PB_ERR;
    if (jp_expect(j, ':', "expected ':' after a key")) return PB_ERR;
    if (strcmp(k, "dtype") == 0) {
      if (have_dtype++) return jp_fail(j, "duplicate \"dtype\"");
      char *d;
      if (jp_string(j, &d)) return PB_ERR;
      int found = -1;
      for (int i = 0; i < PB_ST_NDTYPES; i++) {
        if (strcmp(d, pb_st_dtypes[i].name) == 0) found = i;
      }
      if (found < 0) {
        snprintf(msg, sizeof msg, "tensor \"%.80s\" has unknown dtype \"%.20s\"", name, d);
        return jp_fail(j, msg);
      }
      t->dtype = (pb_st_dtype)found;
    } else if (strcmp(k, "shape") == 0) {
      if (have_shape++) return jp_fail(j, "duplicate \"shape\"");
      if (jp_uint_array(j, t->shape, PB_ST_MAX_DIMS, &t->ndim, "\"shape\" must be an array"))
        return PB_ERR;
    } else if (strcmp(k, "data_offsets") == 0) {
      if (have_off++) return jp_fail(j, "duplicate \"data_offsets\"");
      int no;
      int64_t o[3];
      if (jp_uint_array(j, o, 3, &no, "\"data_offsets\" must be an array")) return PB_ERR;
      if (no != 2) return jp_fail(j, "\"data_offsets\" must have two elements");
      ps->off[ps->n][0] = o[0];
      ps->off[ps->n][1] = o[1];
    } else {
      snprintf(msg, sizeof msg, "tensor \"%.80s\" has unknown field \"%.40s\"", name, k);
      return jp_fail(j, msg);
    }
    r = jp_member_end(j);
    if (r < 0) return PB_ERR;
  }
  if (!have_dtype || !have_shape || !have_off) {
    snprintf(msg, sizeof msg, "tensor \"%.80s\" lacks %s", name,
             !have_dtype   ? "\"dtype\""
             : !have_shape ? "\"shape\""
                           : "\"data_offsets\"");
    return jp_fail(j, msg);
  }
  ps->n++;
  return PB_OK;
}

static int jp_header(st_parser *j, st_parsed *ps) {
  int r = jp_object_open(j, "the header must be a JSON object");
  if (r < 0) return PB_ERR;
  while (r == 0) {
    char *k;
    if (jp_string(j, &k)) return PB_ERR;
    if (jp_expect(j, ':', "expected ':' after a key")) return PB_ERR;
    if (strcmp(k, "__metadata__") == 0 ? jp_metadata(j, ps) : jp_tensor(j, ps, k)) return PB_ERR;
    r = jp_member_end(j);
    if (r < 0) return PB_ERR;
  }
  jp_ws(j);
  if (j->p != j->end) return jp_fail(j, "trailing characters after the header object");
  return PB_OK;
}

typedef struct st_span {
  int64_t b, e;
  int i;
} st_span;

static int cmp_span(const void *a, const void *b) {
  const st_span *x = a, *y = b;
  if (x->b != y->b) return x->b < y->b ? -1 : 1;
  if (x->e != y->e) return x->e < y->e ? -1 : 1;
  return 0;
}

/* Checks sizes, offsets and names of the parsed tensors against a data section of dn bytes. */
static int st_validate(const char *path, st_parsed *ps, uint64_t dn, pb_err *err) {
  for (int i = 0; i < ps->n; i++) {
    const pb_st_tensor *t = &ps->t[i];
    int64_t b = ps->off[i][0], e = ps->off[i][1];
    if (b > e)
      return pb_err_set(err, "%s: tensor \"%s\": data_offsets [%lld, %lld] run backwards", path,
                        t->name, (long long)b, (long long)e);
    if ((uint64_t)e > dn)
      return pb_err_set(err,
                        "%s: tensor \"%s\": data_offsets [%lld, %lld] lie beyond the data "
                        "section (%llu bytes; truncated file?)",
                        path, t->name, (long long)b, (long long)e, (unsigned long long)dn);
    int64_t bytes = st_shape_bytes(t->shape, t->ndim, pb_st_dtype_size(t->dtype));
    if (bytes < 0) return pb_err_set(err, "%s: tensor \"%s\": shape is too large", path, t->name);
    if (bytes != e - b)
      return pb_err_set(err,
                        "%s: tensor \"%s\": shape and dtype %s make %lld bytes but data_offsets "
                        "[%lld, %lld] hold %lld",
                        path, t->name, pb_st_dtype_name(t->dtype), (long long)bytes, (long long)b,
                        (long long)e, (long long)(e - b));
  }
  if (ps->n == 0) {
    if (dn != 0)
      return pb_err_set(err, "%s: %llu bytes of data but no tensors", path, (unsigned long long)dn);
    return PB_OK;
  }
  /* No globals for qsort: loader threads may read files concurrently. */
  const char **names = pb_xmalloc((size_t)ps->n * sizeof *names);
  int rc = PB_OK;
  for (int i = 0; i < ps->n; i++) names[i] = ps->t[i].name;
  qsort(names, (size_t)ps->n, sizeof *names, cmp_strp);
  for (int i = 1; i < ps->n && rc == PB_OK; i++) {
    if (strcmp(names[i - 1], names[i]) == 0)
      rc = pb_err_set(err, "%s: duplicate tensor name \"%s\"", path, names[i]);
  }
  free(names);
  /* Like the reference implementation: tensors tile the data section exactly, in some order. */
  st_span *sp = pb_xmalloc((size_t)ps->n * sizeof *sp);
  for (int i = 0; i < ps->n; i++) sp[i] = (st_span){ps->off[i][0], ps->off[i][1], i};
  qsort(sp, (size_t)ps->n, sizeof *sp, cmp_span);
  int64_t pos = 0;
  for (int i = 0; i < ps->n && rc == PB_OK; i++) {
    const char *nm = ps->t[sp[i].i].name;
    if (sp[i].b < pos)
      rc = pb_err_set(err, "%s: tensor \"%s\": data_offsets [%lld, %lld] overlap another tensor",
                      path, nm, (long long)sp[i].b, (long long)sp[i].e);
    else if (sp[i].b > pos)
      rc = pb_err_set(err,
                      "%s: tensor \"%s\": data_offsets [%lld, %lld] leave a gap after byte %lld",
                      path, nm, (long long)sp[i].b, (long long)sp[i].e, (long long)pos);
    pos = sp[i].e;
  }
  if (rc == PB_OK && (uint64_t)pos != dn)
    rc = pb_err_set(err, "%s: %llu trailing bytes after the last tensor's data", path,
                    (unsigned long long)(dn - (uint64_t)pos));
  free(sp);
  return rc;
}

int pb_st_read(pb_st_file *out, const char *path, pb_err *err) {
  PB_ASSERT(out && path);
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (!f) return pb_err_set(err, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0) {
    pb_err_set(err, "%s: cannot stat: %s", path, strerror(errno));
    fclose(f);
    return PB_ERR;
  }
  if (!S_ISREG(st.st_mode)) {
    fclose(f);
    return pb_err_set(err, "%s: not a regular file", path);
  }
  uint64_t size = (uint64_t)st.st_size;
  if (size < 8) {
    fclose(f);
    return pb_err_set(
        err, "%s: not a safetensors file: %llu bytes, shorter than the 8-byte header length", path,
        (unsigned long long)size);
  }
  if (size > (uint64_t)SIZE_MAX / 2) {
    fclose(f);
    return pb_err_set(err, "%s: file too large (%llu bytes)", path, (unsigned long long)size);
  }
  /* Validate the header length before allocating anything the size of the file. */
  uint8_t len8[8];
  if (fread(len8, 1, 8, f) != 8) {
    pb_err_set(err, "%s: read error: %s", path, strerror(errno));
    fclose(f);
    return PB_ERR;
  }
  uint64_t hn = 0;
  for (int i = 0; i < 8; i++) hn |= (uint64_t)len8[i] << (8 * i);
  if (hn > size - 8 || hn >= PB_ST_MAX_HEADER) {
    fclose(f);
    return pb_err_set(err,
                      "%s: header length %llu is impossible for a file of %llu bytes "
                      "(truncated or not a safetensors file)",
                      path, (unsigned long long)hn, (unsigned long long)size);
  }
  uint8_t *blob = pb_xmalloc((size_t)size);
  memcpy(blob, len8, 8);
  size_t got = fread(blob + 8, 1, (size_t)size - 8, f);
  int rerr = ferror(f), e = errno;
  fclose(f);
  if (got != size - 8) {
    free(blob);
    if (rerr) return pb_err_set(err, "%s: read error: %s", path, strerror(e));
    return pb_err_set(err, "%s: file shrank while being read", path);
  }
  st_parser j = {path, (char *)blob + 8, (char *)blob + 8, (char *)blob + 8 + hn, err};
  st_parsed ps = {0};
  uint64_t dn = size - 8 - hn;
  if (jp_header(&j, &ps) || st_validate(path, &ps, dn, err)) {
    free(ps.t);
    free(ps.off);
    free(ps.meta);
    free(blob);
    return PB_ERR;
  }
  st_mem *m = pb_xcalloc(1, sizeof *m);
  m->blob = blob;
  /* Tensors must be aligned to their element size for direct use. Our writer and the
   * reference one guarantee it; a foreign file that does not gets those tensors copied. */
  const uint8_t *data = blob + 8 + hn;
  size_t copy_bytes = 0;
  for (int i = 0; i < ps.n; i++) {
    size_t es = pb_st_dtype_size(ps.t[i].dtype);
    if (ps.off[i][1] > ps.off[i][0] && (uintptr_t)(data + ps.off[i][0]) % es != 0)
      copy_bytes += ((size_t)(ps.off[i][1] - ps.off[i][0]) + 7) / 8 * 8;
  }
  if (copy_bytes) m->data_copy = pb_amalloc(copy_bytes);
  size_t cpos = 0;
  for (int i = 0; i < ps.n; i++) {
    size_t es = pb_st_dtype_size(ps.t[i].dtype), nb = (size_t)(ps.off[i][1] - ps.off[i][0]);
    ps.t[i].data = data + ps.off[i][0];
    ps.t[i].nbytes = nb;
    if (nb > 0 && (uintptr_t)ps.t[i].data % es != 0) {
      memcpy(m->data_copy + cpos, ps.t[i].data, nb);
      ps.t[i].data = m->data_copy + cpos;
      cpos += (nb + 7) / 8 * 8;
    }
  }
  free(ps.off);
  out->n = ps.n;
  out->tensors = ps.t;
  out->nmeta = ps.nmeta;
  out->meta = ps.meta;
  out->mem = m;
  return PB_OK;
}

const pb_st_tensor *pb_st_find(const pb_st_file *f, const char *name) {
  for (int i = 0; i < f->n; i++) {
    if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
  }
  return NULL;
}

const char *pb_st_meta(const pb_st_file *f, const char *key) {
  for (int i = 0; i < f->nmeta; i++) {
    if (strcmp(f->meta[2 * i], key) == 0) return f->meta[2 * i + 1];
  }
  return NULL;
}

void pb_st_free(pb_st_file *f) {
  if (!f) return;
  st_mem *m = f->mem;
  if (m) {
    free(m->blob);
    pb_afree(m->data_copy);
    free(m);
  }
  free(f->tensors);
  free(f->meta);
  memset(f, 0, sizeof *f);
}
