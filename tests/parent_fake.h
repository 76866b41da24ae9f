/* A hostile runner for the parent tests: speaks the wire format by hand (a
 * tiny protobuf writer, independent of both codecs) so it can send anything,
 * including frames no codec would encode. Test-only, header-only. */
#ifndef TETHER_TEST_PARENT_FAKE_H
#define TETHER_TEST_PARENT_FAKE_H

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "tether/limits.h"

typedef struct pf_buf {
  uint8_t b[1 << 18];
  size_t n;
} pf_buf;

static void pf_varint(pf_buf *p, uint64_t v) {
  while (v >= 0x80) {
    p->b[p->n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p->b[p->n++] = (uint8_t)v;
}
static void pf_uint(pf_buf *p, int field, uint64_t v) {
  pf_varint(p, (uint64_t)field << 3);
  pf_varint(p, v);
}
static void pf_bytes(pf_buf *p, int field, const void *d, size_t n) {
  pf_varint(p, ((uint64_t)field << 3) | 2);
  pf_varint(p, n);
  memcpy(p->b + p->n, d, n);
  p->n += n;
}
static void pf_str(pf_buf *p, int field, const char *s) { pf_bytes(p, field, s, strlen(s)); }

static int pf_write_all(int fd, const void *d, size_t n) {
  const uint8_t *b = d;
  while (n > 0) {
    ssize_t w = write(fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Sends a raw payload as one frame. */
static int pf_send_raw(int fd, const void *payload, size_t n) {
  uint8_t hdr[4] = { (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24) };
  if (pf_write_all(fd, hdr, 4) < 0) return -1;
  return pf_write_all(fd, payload, n);
}

/* Sends Frame{session, body field = body}. */
static int pf_send(int fd, uint32_t session, int body_field, const pf_buf *body) {
  static pf_buf f;
  f.n = 0;
  if (session) pf_uint(&f, 1, session);
  pf_bytes(&f, body_field, body ? body->b : (const uint8_t *)"", body ? body->n : 0);
  return pf_send_raw(fd, f.b, f.n);
}

static int pf_preface(int fd) { return pf_write_all(fd, TETHER_PREFACE_BYTES, TETHER_PREFACE_LEN); }

static void pf_hello_body(pf_buf *h, uint32_t vmin, uint32_t vmax, uint32_t role) {
  h->n = 0;
  pf_uint(h, 1, vmin);
  pf_uint(h, 2, vmax);
  pf_uint(h, 3, role);
  pf_str(h, 4, "fake-runner");
  pf_str(h, 5, "0.0.1");
  pf_uint(h, 7, TETHER_FRAME_MAX_DEFAULT);
  pf_uint(h, 8, 1024);
}

static int pf_hello(int fd) {
  static pf_buf h;
  pf_hello_body(&h, 1, 1, 2);
  return pf_send(fd, 0, 2, &h);
}

/* Bodies the scenarios use. */
static int pf_spawned(int fd, uint32_t sid, uint64_t pid) {
  static pf_buf b;
  b.n = 0;
  pf_uint(&b, 1, pid);
  return pf_send(fd, sid, 4, &b);
}
static int pf_spawn_failed(int fd, uint32_t sid) {
  static pf_buf b;
  b.n = 0;
  pf_uint(&b, 1, 5);
  pf_uint(&b, 2, 1);
  pf_uint(&b, 3, 2);
  pf_uint(&b, 4, 1);
  pf_str(&b, 5, "exec \"x\": No such file or directory");
  return pf_send(fd, sid, 5, &b);
}
static int pf_output(int fd, uint32_t sid, uint32_t stream, const char *data, size_t len,
                     uint64_t off) {
  static pf_buf b;
  b.n = 0;
  pf_uint(&b, 1, stream);
  pf_bytes(&b, 2, data, len);
  if (off) pf_uint(&b, 3, off);
  return pf_send(fd, sid, 6, &b);
}
static int pf_exited(int fd, uint32_t sid, uint32_t code) {
  static pf_buf b;
  b.n = 0;
  pf_uint(&b, 1, code); /* oneof: explicit even when 0 */
  return pf_send(fd, sid, 16, &b);
}
static int pf_error(int fd, uint32_t sid, uint32_t code, int fatal, const char *msg) {
  static pf_buf b;
  b.n = 0;
  pf_uint(&b, 1, code);
  pf_str(&b, 2, msg);
  if (fatal) pf_uint(&b, 3, 1);
  return pf_send(fd, sid, 17, &b);
}

/* ---- reading the parent's frames ---- */

static int pf_read_full(int fd, void *d, size_t n) {
  uint8_t *b = d;
  while (n > 0) {
    ssize_t r = read(fd, b, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    b += r;
    n -= (size_t)r;
  }
  return 0;
}

static int pf_getvarint(const uint8_t *b, size_t n, size_t *i, uint64_t *v) {
  *v = 0;
  for (int s = 0; s < 64 && *i < n; s += 7) {
    uint8_t c = b[(*i)++];
    *v |= (uint64_t)(c & 0x7f) << s;
    if (!(c & 0x80)) return 0;
  }
  return -1;
}

typedef struct pf_frame {
  uint32_t session;
  int body;               /* field number */
  const uint8_t *bd;      /* body bytes */
  size_t bn;
} pf_frame;

/* Reads one frame (after the preface was consumed); -1 at EOF. */
static int pf_recv(int fd, pf_frame *f) {
  static uint8_t buf[TETHER_FRAME_MAX_DEFAULT];
  uint8_t hdr[4];
  if (pf_read_full(fd, hdr, 4) < 0) return -1;
  size_t n = (size_t)hdr[0] | (size_t)hdr[1] << 8 | (size_t)hdr[2] << 16 | (size_t)hdr[3] << 24;
  if (n > sizeof buf) return -1;
  if (pf_read_full(fd, buf, n) < 0) return -1;
  memset(f, 0, sizeof *f);
  size_t i = 0;
  while (i < n) {
    uint64_t tag, v;
    if (pf_getvarint(buf, n, &i, &tag) < 0) return -1;
    int field = (int)(tag >> 3), wt = (int)(tag & 7);
    if (wt == 0) {
      if (pf_getvarint(buf, n, &i, &v) < 0) return -1;
      if (field == 1) f->session = (uint32_t)v;
    } else if (wt == 2) {
      if (pf_getvarint(buf, n, &i, &v) < 0 || v > n - i) return -1;
      f->body = field;
      f->bd = buf + i;
      f->bn = (size_t)v;
      i += (size_t)v;
    } else {
      return -1;
    }
  }
  return 0;
}

/* A varint field of a body (0 if absent), or the length of a bytes field. */
static uint64_t pf_body_field(const pf_frame *f, int want) {
  size_t i = 0;
  while (i < f->bn) {
    uint64_t tag, v;
    if (pf_getvarint(f->bd, f->bn, &i, &tag) < 0) return 0;
    int wt = (int)(tag & 7);
    if (pf_getvarint(f->bd, f->bn, &i, &v) < 0) return 0;
    if ((int)(tag >> 3) == want) return v;
    if (wt == 2) i += (size_t)v;
    else if (wt != 0) return 0;
  }
  return 0;
}

/* Error body fields: code (1), fatal (3). */
static void pf_error_fields(const pf_frame *f, uint32_t *code, int *fatal) {
  size_t i = 0;
  *code = 0;
  *fatal = 0;
  while (i < f->bn) {
    uint64_t tag, v;
    if (pf_getvarint(f->bd, f->bn, &i, &tag) < 0) return;
    int wt = (int)(tag & 7);
    if (wt == 0) {
      if (pf_getvarint(f->bd, f->bn, &i, &v) < 0) return;
      if ((tag >> 3) == 1) *code = (uint32_t)v;
      if ((tag >> 3) == 3) *fatal = v != 0;
    } else if (wt == 2) {
      if (pf_getvarint(f->bd, f->bn, &i, &v) < 0) return;
      i += (size_t)v;
    } else {
      return;
    }
  }
}

#endif
