/* The in-memory transport: a connected pair in one process, for tests and
 * fuzzers. Each direction is a growable byte queue; the two sides share one
 * heap block that the last side to be freed releases, so the sides may be
 * freed independently and in any order. */
#include "transport.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef struct mem_queue {
  unsigned char *buf;
  size_t cap;
  size_t off; /* first unread byte */
  size_t len; /* end of the unread bytes */
  int closed; /* the writer shut down or is gone: EOF once drained */
} mem_queue;

typedef struct mem_shared {
  mem_queue q[2]; /* q[i]: bytes written by side i */
  int alive[2];
} mem_shared;

typedef struct mem_side {
  tether_transport base;
  mem_shared *sh;
  int idx;
  long long fail_after; /* -1: never */
  long long written;
} mem_side;

static const tether_transport_vtable mem_vtable;

static int queue_append(mem_queue *q, const void *p, size_t n) {
  if (q->cap - q->len < n && q->off > 0) {
    /* Compact before growing: a drained prefix is free room. */
    memmove(q->buf, q->buf + q->off, q->len - q->off);
    q->len -= q->off;
    q->off = 0;
  }
  if (q->cap - q->len < n) {
    size_t want = q->len + n;
    size_t cap = q->cap ? q->cap : 256;
    while (cap < want) cap *= 2;
    unsigned char *nb = realloc(q->buf, cap);
    if (!nb) return TETHER_ENOMEM;
    q->buf = nb;
    q->cap = cap;
  }
  memcpy(q->buf + q->len, p, n);
  q->len += n;
  return 0;
}

static long mem_read(tether_transport *t, void *buf, size_t len) {
  mem_side *s = (mem_side *)t;
  mem_queue *q = &s->sh->q[1 - s->idx];
  size_t avail = q->len - q->off;
  if (avail == 0) {
    if (q->closed) return 0;
    return TETHER_EAGAIN;
  }
  size_t n = len < avail ? len : avail;
  if (n > (size_t)LONG_MAX) n = (size_t)LONG_MAX;
  memcpy(buf, q->buf + q->off, n);
  q->off += n;
  if (q->off == q->len) q->off = q->len = 0;
  return (long)n;
}

static long mem_write(tether_transport *t, const void *buf, size_t len) {
  mem_side *s = (mem_side *)t;
  mem_queue *q = &s->sh->q[s->idx];
  if (q->closed || !s->sh->alive[1 - s->idx]) return TETHER_ECLOSED;
  if (len > (size_t)LONG_MAX) len = (size_t)LONG_MAX;
  if (s->fail_after >= 0) {
    long long room = s->fail_after - s->written;
    if (room <= 0) return TETHER_EIO;
    if ((unsigned long long)room < len) len = (size_t)room; /* partial, then EIO */
  }
  if (len == 0) return 0;
  int rc = queue_append(q, buf, len);
  if (rc < 0) return rc;
  s->written += (long long)len;
  return (long)len;
}

static tether_os_handle mem_handle(tether_transport *t) {
  (void)t;
  return TETHER_INVALID_HANDLE;
}

static int mem_shutdown_write(tether_transport *t) {
  mem_side *s = (mem_side *)t;
  s->sh->q[s->idx].closed = 1;
  return 0;
}

static int mem_set_nonblocking(tether_transport *t, int on) {
  (void)t;
  (void)on; /* always non-blocking: nothing could ever unblock it */
  return 0;
}

static int mem_ready(tether_transport *t, int for_write) {
  mem_side *s = (mem_side *)t;
  if (for_write) return 1; /* the queue grows; a write never waits */
  mem_queue *q = &s->sh->q[1 - s->idx];
  return q->len > q->off || q->closed;
}

static void mem_free(tether_transport *t) {
  mem_side *s = (mem_side *)t;
  mem_shared *sh = s->sh;
  sh->alive[s->idx] = 0;
  sh->q[s->idx].closed = 1; /* the peer reads what is left, then EOF */
  /* Nobody will read what the peer wrote to us. */
  free(sh->q[1 - s->idx].buf);
  memset(&sh->q[1 - s->idx], 0, sizeof sh->q[0]);
  if (!sh->alive[1 - s->idx]) {
    free(sh->q[0].buf);
    free(sh->q[1].buf);
    free(sh);
  }
  free(s);
}

static const tether_transport_vtable mem_vtable = {
  .name = "memory",
  .read = mem_read,
  .write = mem_write,
  .read_handle = mem_handle,
  .write_handle = mem_handle,
  .shutdown_write = mem_shutdown_write,
  .set_nonblocking = mem_set_nonblocking,
  .free = mem_free,
  .ready = mem_ready,
  /* 0 although a read takes all there is: the peer is this same thread,
   * which may add bytes between two reads, and there is no handle for the
   * channel's user to wait on, so keep reading until EAGAIN. */
  .short_read_drains = 0,
};

int tether_transport_memory_pair(tether_transport **a, tether_transport **b) {
  *a = *b = NULL;
  mem_shared *sh = calloc(1, sizeof *sh);
  mem_side *sa = calloc(1, sizeof *sa);
  mem_side *sb = calloc(1, sizeof *sb);
  if (!sh || !sa || !sb) {
    free(sh);
    free(sa);
    free(sb);
    return TETHER_ENOMEM;
  }
  sh->alive[0] = sh->alive[1] = 1;
  *sa = (mem_side){ .base.vt = &mem_vtable, .sh = sh, .idx = 0, .fail_after = -1 };
  *sb = (mem_side){ .base.vt = &mem_vtable, .sh = sh, .idx = 1, .fail_after = -1 };
  *a = &sa->base;
  *b = &sb->base;
  return 0;
}

void tether_transport_memory_fail_after(tether_transport *t, long long bytes) {
  if (!t || t->vt != &mem_vtable) return;
  mem_side *s = (mem_side *)t;
  s->fail_after = bytes < 0 ? -1 : bytes;
}
