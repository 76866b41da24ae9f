/* fuzz_framing: arbitrary bytes into the incremental frame reader
 * (transport/framing.h), fed whole, in chunks chosen by the input, and one
 * byte at a time; all feedings must agree.
 *
 * Input layout (short inputs read missing bytes as 0):
 *   byte 0  flags
 *             bit 0   the reader expects the preface
 *             bit 1   the real preface is put in front of the stream (so
 *                     mutations are not spent on the 8 magic bytes)
 *             bit 2-3 max frame: 0 default (1 MiB), 1 ceiling (16 MiB),
 *                     2 byte1 + 1 (1..256), 3 the 64 KiB minimum
 *             bit 4   after the first frame, set_max(byte1 + 1)
 *             bit 5   also feed one byte at a time (always if <= 256 bytes)
 *   byte 1  small limit parameter
 *   byte 2  number of chunk sizes - 1 (low 4 bits)
 *   then    that many chunk sizes, one byte each, used in a cycle:
 *           0 is an empty feed, 1..199 that many bytes, 200..255 (b - 199) KiB
 *   rest    the stream
 *
 * Invariants:
 *  - feed never reports more consumed than it was given; 0 means every byte
 *    was taken; 1 means a frame is ready, and feeding again before _next
 *    returns 1 and takes nothing;
 *  - every frame is 1..max bytes (the limit in force when its header was
 *    read) and the reader's buffer never grows past the largest limit used;
 *  - errors are only EPREFACE (with a preface), EFRAME_EMPTY and
 *    EFRAME_TOO_LARGE while feeding, ETRUNCATED at EOF; they are sticky:
 *    feed, _next and _eof return the same code afterwards, feed takes
 *    nothing, and the message stays set;
 *  - _eof is 0 exactly when the reader was idle;
 *  - whole, chunked and byte-wise feeding give the same payloads in the
 *    same order, the same final code, the same EOF verdict and the same
 *    total consumed;
 *  - allocations balance once the reader is freed.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "transport/framing.h"

#define MAX_CHUNKS 16

typedef struct cfg {
  int expect_preface;
  uint32_t max0, max_after; /* max_after 0: no set_max */
  size_t chunks[MAX_CHUNKS];
  size_t nchunks;           /* 0: whole */
} cfg;

/* What a pass produced. The first pass records, later ones compare. */
typedef struct result {
  uint8_t *bytes; /* concatenated payloads */
  size_t *lens;
  size_t nframes, nbytes;
  int err;        /* sticky feed error, 0 if none */
  int eof_rc;
  size_t consumed;
} result;

static size_t chunk_len(const cfg *c, size_t i, size_t left) {
  size_t n = c->nchunks ? c->chunks[i % c->nchunks] : left;
  return n < left ? n : left;
}

static void check_sticky(tether_frame_reader *r, int err, const uint8_t *s, size_t n) {
  size_t used = 77;
  const uint8_t *p = NULL;
  size_t len = 0;
  FUZZ_CHECK(tether_frame_reader_error_code(r) == err, "error_code %d, want %d",
             tether_frame_reader_error_code(r), err);
  FUZZ_CHECK(tether_frame_reader_error(r)[0] != '\0', "error %d without a message", err);
  FUZZ_CHECK(tether_frame_reader_feed(r, s, n, &used) == err && used == 0,
             "feed after error %d is not sticky (consumed %zu)", err, used);
  FUZZ_CHECK(tether_frame_reader_next(r, &p, &len) == err, "next after error %d", err);
  FUZZ_CHECK(tether_frame_reader_eof(r) == err, "eof after error %d", err);
  FUZZ_CHECK(!tether_frame_reader_idle(r), "idle after error %d", err);
}

static void run(const cfg *c, const uint8_t *s, size_t n, result *rec, const result *want,
                const char *pass) {
  tether_frame_reader r;
  FUZZ_CHECK(tether_frame_reader_init(&r, c->max0, c->expect_preface) == 0, "init");
  uint32_t max = c->max0, max_seen = c->max0;
  size_t pos = 0, off = 0, ci = 0, frames = 0, fbytes = 0;
  int err = 0;
  while (pos < n && !err) {
    size_t want_len = chunk_len(c, ci++, n - pos);
    off = 0;
    do {
      size_t used = (size_t)-1;
      int rc = tether_frame_reader_feed(&r, s + pos + off, want_len - off, &used);
      FUZZ_CHECK(used <= want_len - off, "%s: consumed %zu of %zu", pass, used,
                 want_len - off);
      off += used;
      if (rc < 0) {
        err = rc;
        break;
      }
      if (rc == 0) {
        FUZZ_CHECK(off == want_len, "%s: feed returned 0 with %zu bytes left", pass,
                   want_len - off);
        break;
      }
      FUZZ_CHECK(rc == 1, "%s: feed returned %d", pass, rc);
      size_t again = 5;
      FUZZ_CHECK(tether_frame_reader_feed(&r, s + pos + off, want_len - off, &again) == 1 &&
                     again == 0,
                 "%s: feed with a frame pending took %zu bytes", pass, again);
      const uint8_t *p = NULL;
      size_t len = 0;
      FUZZ_CHECK(tether_frame_reader_next(&r, &p, &len) == 1, "%s: next", pass);
      FUZZ_CHECK(len >= 1 && len <= max, "%s: frame of %zu bytes, limit %u", pass, len,
                 (unsigned)max);
      FUZZ_CHECK(r.cap <= max_seen, "%s: buffer of %zu bytes, limits up to %u", pass, r.cap,
                 (unsigned)max_seen);
      if (rec) {
        memcpy(rec->bytes + fbytes, p, len);
        rec->lens[frames] = len;
      } else {
        FUZZ_CHECK(frames < want->nframes, "%s: extra frame %zu", pass, frames);
        FUZZ_CHECK(want->lens[frames] == len &&
                       memcmp(want->bytes + fbytes, p, len) == 0,
                   "%s: frame %zu differs from the whole feed (%zu vs %zu bytes)", pass,
                   frames, len, want->lens[frames]);
      }
      frames++;
      fbytes += len;
      FUZZ_CHECK(tether_frame_reader_next(&r, &p, &len) == 0, "%s: frame taken twice", pass);
      FUZZ_CHECK(tether_frame_reader_idle(&r), "%s: not idle between frames", pass);
      if (frames == 1 && c->max_after) {
        FUZZ_CHECK(tether_frame_reader_set_max(&r, c->max_after) == 0, "set_max");
        max = c->max_after;
        if (max > max_seen) max_seen = max;
      }
    } while (off < want_len);
    pos += off;
  }

  int eof_rc;
  if (err) {
    FUZZ_CHECK(err == TETHER_EFRAME_EMPTY || err == TETHER_EFRAME_TOO_LARGE ||
                   (err == TETHER_EPREFACE && c->expect_preface),
               "%s: feed error %d (%s)", pass, err, tether_err_name(err));
    check_sticky(&r, err, s, n);
    eof_rc = err;
  } else {
    int idle = tether_frame_reader_idle(&r);
    eof_rc = tether_frame_reader_eof(&r);
    FUZZ_CHECK(idle ? eof_rc == 0 : eof_rc == TETHER_ETRUNCATED,
               "%s: eof %d while %s", pass, eof_rc, idle ? "idle" : "mid-frame");
    if (eof_rc) check_sticky(&r, eof_rc, s, n);
    else FUZZ_CHECK(tether_frame_reader_eof(&r) == 0, "%s: second eof", pass);
  }
  FUZZ_CHECK(r.cap <= max_seen, "%s: buffer of %zu bytes", pass, r.cap);
  tether_frame_reader_free(&r);

  if (rec) {
    rec->nframes = frames, rec->nbytes = fbytes;
    rec->err = err, rec->eof_rc = eof_rc, rec->consumed = pos;
  } else {
    FUZZ_CHECK(frames == want->nframes, "%s: %zu frames, whole feed %zu", pass, frames,
               want->nframes);
    FUZZ_CHECK(err == want->err && eof_rc == want->eof_rc,
               "%s: ended with %d/%d, whole feed %d/%d", pass, err, eof_rc, want->err,
               want->eof_rc);
    FUZZ_CHECK(pos == want->consumed, "%s: consumed %zu, whole feed %zu", pass, pos,
               want->consumed);
  }
}

static uint32_t pick_max(unsigned sel, uint8_t small) {
  switch (sel & 3u) {
  case 1: return TETHER_FRAME_MAX_CEILING;
  case 2: return (uint32_t)small + 1;
  case 3: return TETHER_FRAME_MAX_MINIMUM;
  default: return TETHER_FRAME_MAX_DEFAULT;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_set_input(data, size);
  uint8_t flags = size > 0 ? data[0] : 0, small = size > 1 ? data[1] : 0;
  size_t pos = size < 3 ? size : 3;
  cfg c = {0};
  c.expect_preface = flags & 1;
  c.max0 = pick_max(flags >> 2, small);
  c.max_after = (flags & 0x10) ? (uint32_t)small + 1 : 0;
  size_t want_chunks = size > 2 ? (size_t)(data[2] & 15) + 1 : 1, total = 0;
  for (size_t i = 0; i < want_chunks && pos < size; i++, pos++) {
    uint8_t b = data[pos];
    c.chunks[c.nchunks++] = b < 200 ? b : (size_t)(b - 199) * 1024;
    total += c.chunks[c.nchunks - 1];
  }
  if (c.nchunks == 0 || total == 0) c.chunks[0] = 1, c.nchunks = c.nchunks ? c.nchunks : 1;

  FUZZ_ALLOC_BEGIN();
  /* The stream, in its own exactly sized block so ASan sees any overread. */
  size_t body = size - pos, pre = (flags & 2) ? TETHER_PREFACE_LEN : 0, n = pre + body;
  uint8_t *s = malloc(n ? n : 1);
  FUZZ_CHECK(s != NULL, "out of memory in the harness");
  memcpy(s, tether_preface, pre);
  if (body) memcpy(s + pre, data + pos, body);

  result rec = {0};
  rec.bytes = malloc(n ? n : 1);
  rec.lens = malloc((n / (TETHER_FRAME_HEADER_LEN + 1) + 1) * sizeof *rec.lens);
  FUZZ_CHECK(rec.bytes && rec.lens, "out of memory in the harness");

  cfg whole = c;
  whole.nchunks = 0;
  run(&whole, s, n, &rec, NULL, "whole");
  run(&c, s, n, NULL, &rec, "chunked");
  if ((flags & 0x20) || n <= 256) {
    cfg bytewise = c;
    bytewise.nchunks = 1, bytewise.chunks[0] = 1;
    run(&bytewise, s, n, NULL, &rec, "byte-wise");
  }

  free(rec.bytes);
  free(rec.lens);
  free(s);
  FUZZ_ALLOC_END();
  return 0;
}
