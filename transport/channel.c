/* The channel: a frame reader on the input side, one contiguous output
 * queue on the other, over a non-blocking transport.
 *
 * Output: [out_off, out_len) holds framed bytes not yet written. A
 * reservation hands out the room just past out_len with the 4 header bytes
 * kept in front, so callers encode in place and commit writes the header:
 * no second copy. When the queue drains the offsets go back to 0, so steady
 * traffic reuses the same memory.
 *
 * Input: the transport is read in chunks into `rbuf`; the reader takes bytes
 * up to the end of one frame, and whatever follows in the chunk stays in
 * rbuf[rpos, rlen) for the next recv, before the transport is read again.
 *
 * The two directions fail separately: a peer that stopped reading may still
 * have frames for us, so a write error does not hide them. */
#include "channel.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os_wait.h"

#define READ_CHUNK (64u << 10)
#define MAX_PENDING_DEFAULT ((size_t)4 << 20)

struct tether_channel {
  tether_transport *t;
  tether_frame_reader reader;
  uint32_t max_out;
  size_t max_pending;

  uint8_t *out;
  size_t out_cap, out_off, out_len;
  size_t reserved;  /* payload room of the open reservation */
  int reserving;
  int shut_req;     /* shut down writing once the queue is empty */
  int shut_done;
  int out_err;      /* sticky output error */

  uint8_t *rbuf;
  size_t rpos, rlen;
  int rdrained;     /* the last read was short: the transport is empty */
  int in_err;       /* sticky input error */

  char msg[160];
};

void tether_channel_options_init(tether_channel_options *o) {
  o->max_frame_in = TETHER_FRAME_MAX_DEFAULT;
  o->max_frame_out = TETHER_FRAME_MAX_DEFAULT;
  o->max_pending = MAX_PENDING_DEFAULT;
}

#if defined(__MINGW_PRINTF_FORMAT) /* mingw-w64: the printf it implements */
__attribute__((format(__MINGW_PRINTF_FORMAT, 3, 4)))
#elif defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int set_msg(tether_channel *ch, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ch->msg, sizeof ch->msg, fmt, ap);
  va_end(ap);
  return code;
}

static int valid_frame_max(uint32_t m) {
  return m >= 1 && m <= TETHER_FRAME_MAX_CEILING;
}

int tether_channel_new(tether_transport *t, const tether_channel_options *o,
                       tether_channel **out) {
  tether_channel_options defaults;
  tether_channel *ch = NULL;
  int rc = TETHER_EINVAL;
  *out = NULL;
  if (!t) return TETHER_EINVAL;
  if (!o) {
    tether_channel_options_init(&defaults);
    o = &defaults;
  }
  if (!valid_frame_max(o->max_frame_in) || !valid_frame_max(o->max_frame_out) ||
      o->max_pending == 0)
    goto fail;
  rc = TETHER_ENOMEM;
  ch = calloc(1, sizeof *ch);
  if (!ch) goto fail;
  ch->t = t;
  ch->max_out = o->max_frame_out;
  ch->max_pending = o->max_pending;
  rc = tether_frame_reader_init(&ch->reader, o->max_frame_in, 1);
  if (rc < 0) goto fail;
  rc = TETHER_ENOMEM;
  ch->rbuf = malloc(READ_CHUNK);
  ch->out_cap = 4096;
  ch->out = malloc(ch->out_cap);
  if (!ch->rbuf || !ch->out) goto fail;
  memcpy(ch->out, tether_preface, TETHER_PREFACE_LEN);
  ch->out_len = TETHER_PREFACE_LEN;
  rc = t->vt->set_nonblocking(t, 1);
  if (rc < 0) goto fail;
  *out = ch;
  return 0;
fail:
  if (ch) {
    ch->t = NULL; /* freed below exactly once */
    tether_channel_free(ch);
  }
  tether_transport_free(t);
  return rc;
}

void tether_channel_free(tether_channel *ch) {
  if (!ch) return;
  tether_frame_reader_free(&ch->reader);
  free(ch->rbuf);
  free(ch->out);
  tether_transport_free(ch->t);
  free(ch);
}

/* Room for `need` more bytes at out_len: compact first, grow if still
 * short. The queue may exceed max_pending only by one frame (see reserve). */
static int out_room(tether_channel *ch, size_t need) {
  if (ch->out_cap - ch->out_len >= need) return 0;
  if (ch->out_off > 0) {
    memmove(ch->out, ch->out + ch->out_off, ch->out_len - ch->out_off);
    ch->out_len -= ch->out_off;
    ch->out_off = 0;
    if (ch->out_cap - ch->out_len >= need) return 0;
  }
  size_t cap = ch->out_cap * 2;
  if (cap < ch->out_len + need) cap = ch->out_len + need;
  uint8_t *nb = realloc(ch->out, cap);
  if (!nb) return TETHER_ENOMEM;
  ch->out = nb;
  ch->out_cap = cap;
  return 0;
}

uint8_t *tether_channel_reserve(tether_channel *ch, size_t max_payload, int *err) {
  int rc;
  if (ch->reserving) {
    rc = TETHER_ESTATE;
    goto fail;
  }
  if (ch->out_err || ch->shut_req) {
    rc = TETHER_ECLOSED;
    goto fail;
  }
  if (max_payload == 0) {
    rc = TETHER_EFRAME_EMPTY;
    goto fail;
  }
  if (max_payload > ch->max_out) {
    rc = TETHER_EFRAME_TOO_LARGE;
    goto fail;
  }
  size_t need = TETHER_FRAME_HEADER_LEN + max_payload;
  size_t pending = ch->out_len - ch->out_off;
  /* An empty queue always takes one frame, so a frame bigger than
   * max_pending (up to max_out) can still be sent. */
  if (pending > 0 && need > ch->max_pending - (pending < ch->max_pending ? pending : ch->max_pending)) {
    rc = TETHER_EAGAIN;
    goto fail;
  }
  rc = out_room(ch, need);
  if (rc < 0) goto fail;
  ch->reserving = 1;
  ch->reserved = max_payload;
  if (err) *err = 0;
  return ch->out + ch->out_len + TETHER_FRAME_HEADER_LEN;
fail:
  if (err) *err = rc;
  return NULL;
}

int tether_channel_commit(tether_channel *ch, size_t payload_len) {
  if (!ch->reserving) return TETHER_ESTATE;
  ch->reserving = 0;
  if (payload_len == 0) return TETHER_EFRAME_EMPTY; /* cancels the reservation */
  if (payload_len > ch->reserved) return TETHER_EINVAL;
  tether_frame_header_put(ch->out + ch->out_len, (uint32_t)payload_len);
  ch->out_len += TETHER_FRAME_HEADER_LEN + payload_len;
  return 0;
}

static int out_fail(tether_channel *ch, int code) {
  ch->out_err = code;
  return set_msg(ch, code, "write to the %s transport failed: %s", ch->t->vt->name,
                 tether_strerror(code));
}

int tether_channel_flush(tether_channel *ch) {
  if (ch->out_err) return ch->out_err;
  while (ch->out_len > ch->out_off) {
    long n = tether_transport_write(ch->t, ch->out + ch->out_off, ch->out_len - ch->out_off);
    if (n > 0) {
      ch->out_off += (size_t)n;
      continue;
    }
    if (n == TETHER_EAGAIN) return TETHER_EAGAIN;
    return out_fail(ch, n == 0 ? TETHER_EIO : (int)n);
  }
  /* An open reservation points past out_len: keep the offsets until then. */
  if (!ch->reserving) ch->out_off = ch->out_len = 0;
  if (ch->shut_req && !ch->shut_done && !ch->reserving) {
    ch->shut_done = 1;
    int rc = ch->t->vt->shutdown_write(ch->t);
    if (rc < 0) return out_fail(ch, rc);
  }
  return 0;
}

int tether_channel_flush_wait(tether_channel *ch, int timeout_ms) {
  int64_t deadline = tether__deadline(timeout_ms);
  for (;;) {
    int rc = tether_channel_flush(ch);
    if (rc != TETHER_EAGAIN) return rc;
    int left = tether__remaining_ms(deadline);
    if (left == 0) return TETHER_ETIMEDOUT;
    rc = tether_transport_wait(ch->t, 1, left);
    if (rc < 0) return rc;
  }
}

size_t tether_channel_pending(const tether_channel *ch) {
  return ch->out_len - ch->out_off;
}

static int in_fail(tether_channel *ch, int code, const char *what) {
  ch->in_err = code;
  return set_msg(ch, code, "%s", what);
}

int tether_channel_recv(tether_channel *ch, const uint8_t **payload, size_t *len) {
  if (ch->in_err) return ch->in_err;
  for (;;) {
    if (ch->rpos < ch->rlen) {
      size_t used = 0;
      int rc = tether_frame_reader_feed(&ch->reader, ch->rbuf + ch->rpos,
                                        ch->rlen - ch->rpos, &used);
      ch->rpos += used;
      if (rc == 1) return tether_frame_reader_next(&ch->reader, payload, len);
      if (rc < 0) return in_fail(ch, rc, tether_frame_reader_error(&ch->reader));
      continue;
    }
    ch->rpos = ch->rlen = 0;
    /* After a short read the next one can only say EAGAIN: end this batch
     * without it (the caller waits for the read handle next). */
    if (ch->rdrained) {
      ch->rdrained = 0;
      return 0;
    }
    long n = tether_transport_read(ch->t, ch->rbuf, READ_CHUNK);
    if (n > 0) {
      ch->rlen = (size_t)n;
      ch->rdrained = ch->t->vt->short_read_drains && (size_t)n < READ_CHUNK;
      continue;
    }
    if (n == TETHER_EAGAIN) return 0;
    if (n == 0) {
      int rc = tether_frame_reader_eof(&ch->reader);
      if (rc < 0) return in_fail(ch, rc, tether_frame_reader_error(&ch->reader));
      return in_fail(ch, TETHER_ECLOSED, "the peer closed the connection");
    }
    char what[96];
    snprintf(what, sizeof what, "read from the %s transport failed: %s", ch->t->vt->name,
             tether_strerror((int)n));
    return in_fail(ch, (int)n, what);
  }
}

void tether_channel_set_limits(tether_channel *ch, uint32_t max_frame_in,
                               uint32_t max_frame_out) {
  /* Out-of-range values are clamped: the ceiling binds every peer. */
  if (max_frame_in < 1) max_frame_in = 1;
  if (max_frame_in > TETHER_FRAME_MAX_CEILING) max_frame_in = TETHER_FRAME_MAX_CEILING;
  if (max_frame_out < 1) max_frame_out = 1;
  if (max_frame_out > TETHER_FRAME_MAX_CEILING) max_frame_out = TETHER_FRAME_MAX_CEILING;
  tether_frame_reader_set_max(&ch->reader, max_frame_in);
  ch->max_out = max_frame_out;
}

int tether_channel_shutdown_write(tether_channel *ch) {
  if (ch->out_err) return ch->out_err;
  ch->shut_req = 1;
  int rc = tether_channel_flush(ch);
  return rc == TETHER_EAGAIN ? 0 : rc;
}

tether_os_handle tether_channel_read_handle(tether_channel *ch) {
  return ch->t->vt->read_handle(ch->t);
}

tether_os_handle tether_channel_write_handle(tether_channel *ch) {
  return ch->t->vt->write_handle(ch->t);
}

tether_transport *tether_channel_transport(tether_channel *ch) { return ch->t; }

const char *tether_channel_error(const tether_channel *ch) { return ch->msg; }
