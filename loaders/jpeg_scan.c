/* jpeg_scan.c: the marker walk declared in jpeg_scan.h. No twin (host-only parsing).
 * Segment layouts are those of ITU-T T.81 annex B. */
#include "loaders/jpeg_scan.h"

#include <string.h>

int pb_jpeg_sniff(const uint8_t *buf, size_t len) { return len >= 1 && buf[0] == 0xFF; }

static unsigned be16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }

/* DHT payload: tables of (class/id, 16 counts, values). The counts must describe a complete
 * or incomplete prefix code (never over-subscribed) of at most 256 symbols. */
static int check_dht(const uint8_t *p, size_t n, unsigned *defined, pb_err *err) {
  while (n > 0) {
    if (n < 17) return pb_err_set(err, "corrupt JPEG: DHT segment cut short");
    int tc = p[0] >> 4, th = p[0] & 15;
    if (tc > 1 || th > 3) return pb_err_set(err, "corrupt JPEG: DHT table class %d / id %d", tc, th);
    unsigned total = 0;
    uint32_t code = 0;
    for (int len = 1; len <= 16; len++) {
      unsigned k = p[len];
      total += k;
      code += k;
      if (code > (1u << len)) return pb_err_set(err, "corrupt JPEG: DHT code lengths over-subscribe length %d", len);
      code <<= 1;
    }
    if (total > 256) return pb_err_set(err, "corrupt JPEG: DHT table with %u symbols (at most 256)", total);
    if (17 + (size_t)total > n) return pb_err_set(err, "corrupt JPEG: DHT values run past the segment");
    *defined |= 1u << (tc * 4 + th);
    p += 17 + total, n -= 17 + total;
  }
  return PB_OK;
}

static int check_dqt(const uint8_t *p, size_t n, unsigned *defined, pb_err *err) {
  while (n > 0) {
    int pq = p[0] >> 4, tq = p[0] & 15;
    if (pq > 1 || tq > 3) return pb_err_set(err, "corrupt JPEG: DQT precision %d / table %d", pq, tq);
    size_t need = 1 + (pq ? 128 : 64);
    if (need > n) return pb_err_set(err, "corrupt JPEG: DQT table runs past the segment");
    *defined |= 1u << tq;
    p += need, n -= need;
  }
  return PB_OK;
}

typedef struct frame {
  int seen, ncomp, scans;
  uint8_t ids[4], tq[4];
  unsigned dht; /* bit (class * 4 + id) set once a DHT defined that table */
  unsigned dqt; /* bit id set once a DQT defined that table */
} frame;

static int check_sof(int marker, const uint8_t *p, size_t n, frame *f, pb_jpeg_info *info, pb_err *err) {
  if (marker != 0xC0 && marker != 0xC1 && marker != 0xC2)
    return pb_err_set(err, "unsupported JPEG coding (SOF%d: lossless, hierarchical or arithmetic)", marker - 0xC0);
  if (f->seen) return pb_err_set(err, "corrupt JPEG: more than one frame header");
  if (n < 6) return pb_err_set(err, "corrupt JPEG: frame header cut short");
  int prec = p[0], h = (int)be16(p + 1), w = (int)be16(p + 3), nc = p[5];
  if (prec != 8) return pb_err_set(err, "unsupported JPEG sample precision %d (8-bit only)", prec);
  if (w == 0 || h == 0) return pb_err_set(err, "corrupt JPEG: frame of %dx%d pixels", w, h);
  if (nc != 1 && nc != 3 && nc != 4) return pb_err_set(err, "unsupported JPEG with %d components", nc);
  if (n != 6 + 3 * (size_t)nc) return pb_err_set(err, "corrupt JPEG: frame header length does not fit %d components", nc);
  for (int c = 0; c < nc; c++) {
    const uint8_t *q = p + 6 + 3 * c;
    int hs = q[1] >> 4, vs = q[1] & 15;
    if (hs < 1 || hs > 4 || vs < 1 || vs > 4 || q[2] > 3)
      return pb_err_set(err, "corrupt JPEG: component %d has sampling %dx%d, table %d", c, hs, vs, q[2]);
    for (int k = 0; k < c; k++)
      if (f->ids[k] == q[0]) return pb_err_set(err, "corrupt JPEG: component id %d twice in the frame", q[0]);
    f->ids[c] = q[0];
    f->tq[c] = q[2];
  }
  f->seen = 1, f->ncomp = nc;
  info->w = w, info->h = h, info->components = nc, info->progressive = marker == 0xC2;
  return PB_OK;
}

/* Marks info when the scan needs a table not defined yet: baseline scans decode DC and AC
 * coefficients, a progressive scan either DC (Ss = 0; its refinement passes, Ah > 0, read raw
 * bits) or AC (Ss > 0); every component needs its quantisation table. */
static void check_tables(const uint8_t *q, const uint8_t *t, const frame *f, const pb_jpeg_info *info,
                         int *undefined) {
  int td = q[1] >> 4, ta = q[1] & 15, dc = !info->progressive || (t[0] == 0 && (t[2] >> 4) == 0),
      ac = !info->progressive || t[0] > 0;
  if ((dc && !(f->dht >> td & 1)) || (ac && !(f->dht >> (4 + ta) & 1))) *undefined = 1;
  for (int c = 0; c < f->ncomp; c++)
    if (f->ids[c] == q[0] && !(f->dqt >> f->tq[c] & 1)) *undefined = 1;
}

static int check_sos(const uint8_t *p, size_t n, const frame *f, pb_jpeg_info *info, pb_err *err) {
  if (!f->seen) return pb_err_set(err, "corrupt JPEG: a scan before the frame header");
  if (n < 1) return pb_err_set(err, "corrupt JPEG: scan header cut short");
  int ns = p[0];
  if (ns < 1 || ns > f->ncomp) return pb_err_set(err, "corrupt JPEG: scan of %d components", ns);
  if (n != 4 + 2 * (size_t)ns) return pb_err_set(err, "corrupt JPEG: scan header length does not fit %d components", ns);
  for (int s = 0; s < ns; s++) {
    const uint8_t *q = p + 1 + 2 * s;
    int found = 0;
    for (int c = 0; c < f->ncomp; c++) found |= f->ids[c] == q[0];
    if (!found) return pb_err_set(err, "corrupt JPEG: scan names component id %d, not in the frame", q[0]);
    if ((q[1] >> 4) > 3 || (q[1] & 15) > 3) return pb_err_set(err, "corrupt JPEG: scan Huffman table id above 3");
  }
  const uint8_t *t = p + 1 + 2 * ns; /* Ss, Se, Ah/Al */
  if (t[0] > 63 || t[1] > 63 || (t[2] >> 4) > 13 || (t[2] & 15) > 13)
    return pb_err_set(err, "corrupt JPEG: scan spectral selection %d..%d / approximation %d", t[0], t[1], t[2]);
  for (int s = 0; s < ns; s++) check_tables(p + 1 + 2 * s, t, f, info, &info->undefined_tables);
  return PB_OK;
}

/* Skips entropy-coded data from i: returns the index of the next marker's 0xFF, or len. */
static size_t skip_entropy(const uint8_t *b, size_t len, size_t i) {
  for (;;) {
    const uint8_t *ff = memchr(b + i, 0xFF, len - i);
    if (!ff) return len;
    i = (size_t)(ff - b);
    size_t j = i + 1;
    while (j < len && b[j] == 0xFF) j++; /* fill bytes */
    if (j >= len) return len;
    if (b[j] == 0x00 || (b[j] >= 0xD0 && b[j] <= 0xD7)) {
      i = j + 1; /* a stuffed 0xFF data byte, or a restart marker inside the scan */
      continue;
    }
    return j - 1;
  }
}

int pb_jpeg_scan(const uint8_t *b, size_t len, pb_jpeg_info *info, pb_err *err) {
  memset(info, 0, sizeof *info);
  if (len < 4 || b[0] != 0xFF || b[1] != 0xD8)
    return pb_err_set(err, "not a JPEG: does not start with the start-of-image marker FF D8");
  frame f = {0};
  size_t i = 2;
  for (;;) {
    /* Like libjpeg's next_marker, tolerate stray bytes between segments, then fill bytes. */
    while (i < len && b[i] != 0xFF) i++;
    while (i < len && b[i] == 0xFF) i++;
    if (i >= len) return pb_err_set(err, "truncated JPEG (no end-of-image marker)");
    int m = b[i++];
    if (m == 0xD9) break; /* EOI; trailing bytes after it are ignored, as decoders do */
    if (m == 0xD8) return pb_err_set(err, "corrupt JPEG: a second start-of-image marker");
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue; /* TEM, RSTn: no length */
    if (m == 0x00) return pb_err_set(err, "corrupt JPEG: a stuffed zero outside a scan");
    if (len - i < 2) return pb_err_set(err, "truncated JPEG (segment length cut off)");
    size_t seg = be16(b + i);
    if (seg < 2) return pb_err_set(err, "corrupt JPEG: segment FF %02X of length %zu", m, seg);
    if (seg > len - i) return pb_err_set(err, "truncated JPEG (segment FF %02X runs past the end of the file)", m);
    const uint8_t *p = b + i + 2;
    size_t n = seg - 2;
    int rc = PB_OK;
    if (m == 0xC4)
      rc = check_dht(p, n, &f.dht, err);
    else if (m == 0xDB)
      rc = check_dqt(p, n, &f.dqt, err);
    else if (m == 0xDD)
      rc = n == 2 ? PB_OK : pb_err_set(err, "corrupt JPEG: restart interval segment of length %zu", seg);
    else if (m == 0xCC)
      rc = pb_err_set(err, "unsupported JPEG coding (arithmetic conditioning table)");
    else if (m >= 0xC0 && m <= 0xCF && m != 0xC8)
      rc = check_sof(m, p, n, &f, info, err);
    else if (m == 0xDA)
      rc = check_sos(p, n, &f, info, err), f.scans++;
    if (rc) return rc;
    i += seg;
    if (m == 0xDA) i = skip_entropy(b, len, i);
  }
  if (!f.seen) return pb_err_set(err, "corrupt JPEG: no frame header (SOF) before the end of the image");
  if (!f.scans) return pb_err_set(err, "corrupt JPEG: no scan before the end of the image");
  return PB_OK;
}
