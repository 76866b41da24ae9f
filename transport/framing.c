/* The incremental frame reader (see framing.h for the contract).
 *
 * Bytes move through three stages: preface, 4-byte header, payload. Each
 * stage keeps its own progress counter, so input split at any byte takes the
 * same path as input fed whole. The payload length is judged from the header
 * alone, before the buffer grows or a body byte is consumed: a peer cannot
 * make us allocate more than max_frame. */
#include "framing.h"

#include "escape.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const uint8_t tether_preface[TETHER_PREFACE_LEN] = TETHER_PREFACE_BYTES;

/* Bytes of a bad preface shown in the error message. */
#define PREFACE_SHOW_MAX 16u

void tether_frame_header_put(uint8_t hdr[TETHER_FRAME_HEADER_LEN], uint32_t len) {
  hdr[0] = (uint8_t)(len & 0xffu);
  hdr[1] = (uint8_t)((len >> 8) & 0xffu);
  hdr[2] = (uint8_t)((len >> 16) & 0xffu);
  hdr[3] = (uint8_t)((len >> 24) & 0xffu);
}

static uint32_t header_get(const uint8_t hdr[TETHER_FRAME_HEADER_LEN]) {
  return (uint32_t)hdr[0] | ((uint32_t)hdr[1] << 8) | ((uint32_t)hdr[2] << 16) |
         ((uint32_t)hdr[3] << 24);
}

static int valid_max(uint32_t max_frame) {
  return max_frame >= 1 && max_frame <= TETHER_FRAME_MAX_CEILING;
}

#if defined(__MINGW_PRINTF_FORMAT) /* mingw-w64: the printf it implements */
__attribute__((format(__MINGW_PRINTF_FORMAT, 3, 4)))
#elif defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail(tether_frame_reader *r, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->msg, sizeof r->msg, fmt, ap);
  va_end(ap);
  r->err = code;
  r->ready = 0;
  return code;
}

int tether_frame_reader_init(tether_frame_reader *r, uint32_t max_frame,
                             int expect_preface) {
  memset(r, 0, sizeof *r);
  if (!valid_max(max_frame))
    return fail(r, TETHER_EINVAL, "max frame %u outside [1, %u]", (unsigned)max_frame,
                (unsigned)TETHER_FRAME_MAX_CEILING);
  r->max_frame = max_frame;
  r->want_preface = expect_preface != 0;
  return 0;
}

void tether_frame_reader_free(tether_frame_reader *r) {
  if (!r) return;
  free(r->buf);
  r->buf = NULL;
  r->cap = 0;
  r->ready = 0;
}

int tether_frame_reader_set_max(tether_frame_reader *r, uint32_t max_frame) {
  if (!valid_max(max_frame)) return TETHER_EINVAL;
  r->max_frame = max_frame;
  return 0;
}

/* The preface bytes already matched are the expected ones, so the bytes to
 * show are those plus what this feed holds, up to PREFACE_SHOW_MAX. */
static int preface_error(tether_frame_reader *r, const uint8_t *data, size_t len) {
  uint8_t got[PREFACE_SHOW_MAX];
  size_t n = r->preface_seen;
  memcpy(got, tether_preface, n);
  size_t more = len < PREFACE_SHOW_MAX - n ? len : PREFACE_SHOW_MAX - n;
  memcpy(got + n, data, more);
  n += more;
  char shown[PREFACE_SHOW_MAX * 4 + 1];
  tether__escape(shown, sizeof shown, got, n, 0);
  return fail(r, TETHER_EPREFACE, "not a tether peer: got \"%s\" at byte %zu",
              shown, r->preface_seen);
}

static int take_preface(tether_frame_reader *r, const uint8_t *data, size_t len,
                        size_t *used) {
  size_t i = 0;
  while (i < len && r->preface_seen < TETHER_PREFACE_LEN) {
    if (data[i] != tether_preface[r->preface_seen]) {
      *used = i;
      return preface_error(r, data + i, len - i);
    }
    r->preface_seen++;
    i++;
  }
  if (r->preface_seen == TETHER_PREFACE_LEN) r->want_preface = 0;
  *used = i;
  return 0;
}

/* Judges a complete header; only then may the buffer grow, and only to the
 * declared length. The buffer is kept for the next frame. */
static int start_body(tether_frame_reader *r) {
  uint32_t n = header_get(r->hdr);
  if (n == 0)
    return fail(r, TETHER_EFRAME_EMPTY, "zero-length frame (a frame carries at least one byte)");
  if (n > r->max_frame)
    return fail(r, TETHER_EFRAME_TOO_LARGE, "frame of %lu bytes exceeds the limit of %lu",
                (unsigned long)n, (unsigned long)r->max_frame);
  if (r->cap < n) {
    uint8_t *nb = realloc(r->buf, n);
    if (!nb)
      return fail(r, TETHER_ENOMEM, "out of memory for a frame of %lu bytes",
                  (unsigned long)n);
    r->buf = nb;
    r->cap = n;
  }
  r->need = n;
  r->have = 0;
  return 0;
}

int tether_frame_reader_feed(tether_frame_reader *r, const uint8_t *data,
                             size_t len, size_t *consumed) {
  size_t pos = 0;
  int rc = 0;
  if (r->err) {
    rc = r->err;
    goto out;
  }
  if (r->ready) {
    rc = 1; /* the caller must take the frame with _next first */
    goto out;
  }
  if (r->want_preface) {
    rc = take_preface(r, data, len, &pos);
    if (rc < 0 || r->want_preface) goto out;
  }
  while (pos < len) {
    if (r->hdr_seen < TETHER_FRAME_HEADER_LEN) {
      r->hdr[r->hdr_seen++] = data[pos++];
      if (r->hdr_seen == TETHER_FRAME_HEADER_LEN) {
        rc = start_body(r);
        if (rc < 0) goto out;
      }
      continue;
    }
    size_t want = (size_t)r->need - r->have;
    size_t n = len - pos < want ? len - pos : want;
    memcpy(r->buf + r->have, data + pos, n);
    r->have += n;
    pos += n;
    if (r->have == r->need) {
      r->ready = 1;
      rc = 1;
      goto out;
    }
  }
out:
  if (consumed) *consumed = pos;
  return rc;
}

int tether_frame_reader_next(tether_frame_reader *r, const uint8_t **payload,
                             size_t *len) {
  if (r->err) return r->err;
  if (!r->ready) return 0;
  *payload = r->buf;
  *len = r->need;
  /* Reset progress now; the bytes stay in buf until the next feed. */
  r->ready = 0;
  r->hdr_seen = 0;
  r->have = 0;
  r->need = 0;
  return 1;
}

int tether_frame_reader_idle(const tether_frame_reader *r) {
  if (r->err) return 0;
  if (r->want_preface && r->preface_seen > 0) return 0;
  return r->ready || r->hdr_seen == 0;
}

int tether_frame_reader_eof(tether_frame_reader *r) {
  if (r->err) return r->err;
  if (tether_frame_reader_idle(r)) return 0;
  if (r->want_preface)
    return fail(r, TETHER_ETRUNCATED, "connection ended in the preface (%zu of %u bytes)",
                r->preface_seen, (unsigned)TETHER_PREFACE_LEN);
  if (r->hdr_seen < TETHER_FRAME_HEADER_LEN)
    return fail(r, TETHER_ETRUNCATED,
                "connection ended in a frame header (%zu of %u bytes)", r->hdr_seen,
                (unsigned)TETHER_FRAME_HEADER_LEN);
  return fail(r, TETHER_ETRUNCATED, "connection ended in a frame (%zu of %lu bytes)",
              r->have, (unsigned long)r->need);
}

int tether_frame_reader_error_code(const tether_frame_reader *r) { return r->err; }

const char *tether_frame_reader_error(const tether_frame_reader *r) {
  return r->err ? r->msg : "";
}
