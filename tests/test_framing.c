/* The frame reader: split-anywhere decoding, limits checked from the header
 * alone, truncation, bad prefaces, sticky errors. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "transport/framing.h"


/* ---- helpers ---- */

typedef struct buf {
  uint8_t *p;
  size_t len, cap;
} buf;

static void buf_put(buf *b, const void *p, size_t n) {
  if (b->cap - b->len < n) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) cap *= 2;
    b->p = realloc(b->p, cap);
    CHECK(b->p != NULL);
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->len, p, n);
  b->len += n;
}

static void put_frame(buf *b, const uint8_t *payload, uint32_t n) {
  uint8_t hdr[TETHER_FRAME_HEADER_LEN];
  tether_frame_header_put(hdr, n);
  buf_put(b, hdr, sizeof hdr);
  buf_put(b, payload, n);
}

/* A stream: preface, then frames of the given sizes with varied content. */
static buf make_stream(const uint32_t *sizes, size_t n) {
  buf b = { 0 };
  buf_put(&b, tether_preface, TETHER_PREFACE_LEN);
  for (size_t i = 0; i < n; i++) {
    uint8_t *p = malloc(sizes[i]);
    CHECK(p != NULL);
    for (uint32_t k = 0; k < sizes[i]; k++) p[k] = (uint8_t)(k * 31u + i * 7u + 1u);
    put_frame(&b, p, sizes[i]);
    free(p);
  }
  return b;
}

/* Feeds `n` bytes, moving every completed frame to `out` as (u32 len,
 * payload) records. Returns 0 or the reader's error. */
static int feed_into(tether_frame_reader *r, const uint8_t *p, size_t n, buf *out) {
  while (n > 0) {
    size_t used = 0;
    int rc = tether_frame_reader_feed(r, p, n, &used);
    CHECK(used <= n);
    p += used;
    n -= used;
    if (rc < 0) return rc;
    if (rc == 1) {
      const uint8_t *pl = NULL;
      size_t len = 0;
      CHECK_EQ_INT(tether_frame_reader_next(r, &pl, &len), 1);
      uint8_t hdr[4];
      tether_frame_header_put(hdr, (uint32_t)len);
      buf_put(out, hdr, 4);
      buf_put(out, pl, len);
    } else {
      CHECK_EQ_INT(rc, 0);
      CHECK_EQ_INT(n, 0); /* 0 means every byte was taken */
    }
  }
  return 0;
}

/* Decodes `s` in chunks whose boundaries are cuts[0..ncuts). */
static buf decode_cuts(const buf *s, const size_t *cuts, size_t ncuts) {
  tether_frame_reader r;
  CHECK_OK(tether_frame_reader_init(&r, TETHER_FRAME_MAX_DEFAULT, 1));
  buf out = { 0 };
  size_t at = 0;
  for (size_t i = 0; i <= ncuts; i++) {
    size_t end = i < ncuts ? cuts[i] : s->len;
    CHECK_OK(feed_into(&r, s->p + at, end - at, &out));
    at = end;
  }
  CHECK_OK(tether_frame_reader_eof(&r));
  CHECK(tether_frame_reader_idle(&r));
  tether_frame_reader_free(&r);
  return out;
}

/* The stream minus its preface is exactly what the decoder outputs. */
static void check_decoded(const buf *s, const buf *out) {
  CHECK_EQ_MEM(out->p, out->len, s->p + TETHER_PREFACE_LEN, s->len - TETHER_PREFACE_LEN);
}

static int feed_bytes(tether_frame_reader *r, const void *p, size_t n, size_t *used) {
  return tether_frame_reader_feed(r, p, n, used);
}

/* ---- tests ---- */

TEST(header_encoding) {
  uint8_t h[4];
  tether_frame_header_put(h, 0x01020304u);
  CHECK(h[0] == 4 && h[1] == 3 && h[2] == 2 && h[3] == 1);
  tether_frame_header_put(h, 0xffffffffu);
  CHECK(h[0] == 0xff && h[3] == 0xff);
  CHECK_EQ_MEM(tether_preface, TETHER_PREFACE_LEN, "\0TETHER\n", 8);
}

TEST(round_trip_whole_and_bytewise) {
  static const uint32_t sizes[] = { 1, 2, 3, 4, 5, 100, 255, 256, 1000, 65535, 65536, 70001, 1 };
  buf s = make_stream(sizes, sizeof sizes / sizeof sizes[0]);
  buf whole = decode_cuts(&s, NULL, 0);
  check_decoded(&s, &whole);

  /* One byte at a time. */
  size_t *cuts = malloc(s.len * sizeof *cuts);
  CHECK(cuts != NULL);
  for (size_t i = 0; i < s.len; i++) cuts[i] = i + 1;
  buf bytewise = decode_cuts(&s, cuts, s.len - 1);
  CHECK_EQ_MEM(bytewise.p, bytewise.len, whole.p, whole.len);
  free(cuts);
  free(s.p);
  free(whole.p);
  free(bytewise.p);
}

TEST(every_split_point) {
  static const uint32_t sizes[] = { 1, 2, 3, 4, 5, 17, 100, 300, 1 };
  buf s = make_stream(sizes, sizeof sizes / sizeof sizes[0]);
  buf whole = decode_cuts(&s, NULL, 0);
  check_decoded(&s, &whole);
  for (size_t cut = 0; cut <= s.len; cut++) {
    buf out = decode_cuts(&s, &cut, 1);
    CHECK_EQ_MEM(out.p, out.len, whole.p, whole.len);
    free(out.p);
  }
  free(s.p);
  free(whole.p);
}

TEST(every_pair_of_split_points) {
  static const uint32_t sizes[] = { 1, 5, 2, 9, 3 };
  buf s = make_stream(sizes, sizeof sizes / sizeof sizes[0]);
  buf whole = decode_cuts(&s, NULL, 0);
  for (size_t i = 0; i <= s.len; i++)
    for (size_t j = i; j <= s.len; j++) {
      size_t cuts[2] = { i, j };
      buf out = decode_cuts(&s, cuts, 2);
      CHECK_EQ_MEM(out.p, out.len, whole.p, whole.len);
      free(out.p);
    }
  free(s.p);
  free(whole.p);
}

TEST(feed_stops_at_frame_end) {
  static const uint32_t sizes[] = { 3, 4 };
  buf s = make_stream(sizes, 2);
  tether_frame_reader r;
  CHECK_OK(tether_frame_reader_init(&r, 100, 1));
  size_t used = 0;
  CHECK_EQ_INT(feed_bytes(&r, s.p, s.len, &used), 1);
  CHECK_EQ_INT(used, TETHER_PREFACE_LEN + 4 + 3);
  /* A ready frame must be taken first: feeding again takes nothing. */
  size_t again = 99;
  CHECK_EQ_INT(feed_bytes(&r, s.p + used, s.len - used, &again), 1);
  CHECK_EQ_INT(again, 0);
  const uint8_t *p;
  size_t n;
  CHECK_EQ_INT(tether_frame_reader_next(&r, &p, &n), 1);
  CHECK_EQ_INT(n, 3);
  CHECK_EQ_INT(tether_frame_reader_next(&r, &p, &n), 0);
  tether_frame_reader_free(&r);
  free(s.p);
}

TEST(buffer_reused) {
  tether_frame_reader r;
  CHECK_OK(tether_frame_reader_init(&r, 1000, 0));
  uint8_t payload[200] = { 0 };
  buf s = { 0 };
  put_frame(&s, payload, 200);
  buf out = { 0 };
  CHECK_OK(feed_into(&r, s.p, s.len, &out));
  uint8_t *first = r.buf;
  CHECK_EQ_INT(r.cap, 200);
  for (int i = 0; i < 100; i++) {
    s.len = 0;
    put_frame(&s, payload, (uint32_t)(1 + i % 200));
    CHECK_OK(feed_into(&r, s.p, s.len, &out));
    CHECK(r.buf == first); /* no allocation per frame in steady state */
    CHECK_EQ_INT(r.cap, 200);
  }
  tether_frame_reader_free(&r);
  free(s.p);
  free(out.p);
}

TEST(frame_at_limit_accepted) {
  tether_frame_reader r;
  CHECK_OK(tether_frame_reader_init(&r, TETHER_FRAME_MAX_DEFAULT, 1));
  uint32_t n = TETHER_FRAME_MAX_DEFAULT;
  buf s = make_stream(&n, 1);
  buf out = { 0 };
  CHECK_OK(feed_into(&r, s.p, s.len, &out));
  CHECK_EQ_INT(out.len, 4 + (size_t)n);
  tether_frame_reader_free(&r);
  free(s.p);
  free(out.p);
}

static void check_too_large(uint32_t max, uint32_t declared, const char *want_msg) {
  tether_frame_reader r;
  CHECK_OK(tether_frame_reader_init(&r, max, 1));
  uint8_t s[TETHER_PREFACE_LEN + 4 + 16];
  memcpy(s, tether_preface, TETHER_PREFACE_LEN);
  tether_frame_header_put(s + TETHER_PREFACE_LEN, declared);
  memset(s + TETHER_PREFACE_LEN + 4, 'x', 16); /* body bytes that must stay unread */
  size_t used = 0;
  CHECK_EQ_INT(feed_bytes(&r, s, sizeof s, &used), TETHER_EFRAME_TOO_LARGE);
  CHECK_EQ_INT(used, TETHER_PREFACE_LEN + 4);
  CHECK_EQ_INT(r.cap, 0);
  CHECK(r.buf == NULL);
  CHECK_EQ_INT(tether_frame_reader_error_code(&r), TETHER_EFRAME_TOO_LARGE);
  CHECK_EQ_STR(tether_frame_reader_error(&r), want_msg);
  tether_frame_reader_free(&r);
}

TEST(frame_over_limit_rejected_from_header) {
  check_too_large(TETHER_FRAME_MAX_DEFAULT, TETHER_FRAME_MAX_DEFAULT + 1,
                  "frame of 1048577 bytes exceeds the limit of 1048576");
  check_too_large(1000, 1001, "frame of 1001 bytes exceeds the limit of 1000");
  check_too_large(TETHER_FRAME_MAX_CEILING, 0xffffffffu,
                  "frame of 4294967295 bytes exceeds the limit of 16777216");
}

TEST(zero_length_frame) {
  tether_frame_reader r;
  CHECK_OK(tether_frame_reader_init(&r, 100, 0));
  uint8_t z[5] = { 0, 0, 0, 0, 'x' };
  size_t used = 0;
  CHECK_EQ_INT(feed_bytes(&r, z, sizeof z, &used), TETHER_EFRAME_EMPTY);
  CHECK_EQ_INT(used, 4);
  CHECK(strstr(tether_frame_reader_error(&r), "zero-length frame") != NULL);
  tether_frame_reader_free(&r);
}

static void check_eof_after(const buf *s, size_t upto, int want, const char *want_sub) {
  tether_frame_reader r;
  CHECK_OK(tether_frame_reader_init(&r, 1000, 1));
  buf out = { 0 };
  CHECK_OK(feed_into(&r, s->p, upto, &out));
  CHECK_EQ_INT(tether_frame_reader_eof(&r), want);
  if (want) {
    CHECK(strstr(tether_frame_reader_error(&r), want_sub) != NULL);
    CHECK_EQ_INT(tether_frame_reader_eof(&r), want); /* sticky */
    size_t used = 7;
    CHECK_EQ_INT(feed_bytes(&r, s->p, 1, &used), want);
    CHECK_EQ_INT(used, 0);
  }
  tether_frame_reader_free(&r);
  free(out.p);
}

TEST(truncated_stream) {
  static const uint32_t sizes[] = { 10, 20 };
  buf s = make_stream(sizes, 2);
  const size_t P = TETHER_PREFACE_LEN;
  check_eof_after(&s, 0, 0, NULL);                      /* nothing at all */
  check_eof_after(&s, 3, TETHER_ETRUNCATED, "ended in the preface (3 of 8 bytes)");
  check_eof_after(&s, P, 0, NULL);                      /* preface only */
  check_eof_after(&s, P + 2, TETHER_ETRUNCATED, "ended in a frame header (2 of 4 bytes)");
  check_eof_after(&s, P + 4, TETHER_ETRUNCATED, "ended in a frame (0 of 10 bytes)");
  check_eof_after(&s, P + 9, TETHER_ETRUNCATED, "ended in a frame (5 of 10 bytes)");
  check_eof_after(&s, P + 14, 0, NULL);                 /* frame boundary */
  check_eof_after(&s, s.len - 1, TETHER_ETRUNCATED, "ended in a frame (19 of 20 bytes)");
  check_eof_after(&s, s.len, 0, NULL);
  free(s.p);
}

static void check_preface_error(const void *data, size_t n, const char *want_sub) {
  tether_frame_reader r;
  CHECK_OK(tether_frame_reader_init(&r, 1000, 1));
  size_t used = 0;
  int rc = feed_bytes(&r, data, n, &used);
  if (rc != TETHER_EPREFACE) FAIL("feed: %s for \"%s\"", tether_err_name(rc), want_sub);
  const char *msg = tether_frame_reader_error(&r);
  if (strncmp(msg, "not a tether peer: ", 19) != 0 || !strstr(msg, want_sub))
    FAIL("message \"%s\" lacks \"%s\"", msg, want_sub);
  /* sticky, and the same message */
  char copy[sizeof r.msg];
  strcpy(copy, msg);
  CHECK_EQ_INT(feed_bytes(&r, tether_preface, TETHER_PREFACE_LEN, &used), TETHER_EPREFACE);
  const uint8_t *p;
  size_t len;
  CHECK_EQ_INT(tether_frame_reader_next(&r, &p, &len), TETHER_EPREFACE);
  CHECK_EQ_INT(tether_frame_reader_eof(&r), TETHER_EPREFACE);
  CHECK_EQ_STR(tether_frame_reader_error(&r), copy);
  CHECK(!tether_frame_reader_idle(&r));
  tether_frame_reader_free(&r);
}

TEST(garbage_prefaces) {
  check_preface_error("HTTP/1.1 400 Bad Request\r\n", 26, "got \"HTTP/1.1 400 Bad\" at byte 0");
  const char *sh = "bash: tether-runner: command not found\n";
  check_preface_error(sh, strlen(sh), "got \"bash: tether-run\"");
  check_preface_error("\0TETHEX\n", 8, "got \"\\x00TETHEX\\n\" at byte 6");
  /* Each byte position wrong, fed whole and fed one byte at a time. */
  for (size_t i = 0; i < TETHER_PREFACE_LEN; i++) {
    uint8_t bad[TETHER_PREFACE_LEN];
    memcpy(bad, tether_preface, sizeof bad);
    bad[i] ^= 0x20;
    char at[32];
    snprintf(at, sizeof at, "at byte %zu", i);
    check_preface_error(bad, sizeof bad, at);

    tether_frame_reader r;
    CHECK_OK(tether_frame_reader_init(&r, 1000, 1));
    int rc = 0;
    size_t used;
    for (size_t k = 0; k <= i; k++) rc = feed_bytes(&r, bad + k, 1, &used);
    CHECK_EQ_INT(rc, TETHER_EPREFACE);
    CHECK(strstr(tether_frame_reader_error(&r), at) != NULL);
    tether_frame_reader_free(&r);
  }
}

TEST(no_preface_mode) {
  tether_frame_reader r;
  CHECK_OK(tether_frame_reader_init(&r, 10, 0));
  buf s = { 0 };
  put_frame(&s, (const uint8_t *)"abc", 3);
  buf out = { 0 };
  CHECK_OK(feed_into(&r, s.p, s.len, &out));
  CHECK_EQ_MEM(out.p, out.len, s.p, s.len);
  tether_frame_reader_free(&r);
  free(s.p);
  free(out.p);
}

TEST(set_max) {
  tether_frame_reader r;
  CHECK_OK(tether_frame_reader_init(&r, 100, 0));
  CHECK_EQ_INT(tether_frame_reader_set_max(&r, 0), TETHER_EINVAL);
  CHECK_EQ_INT(tether_frame_reader_set_max(&r, TETHER_FRAME_MAX_CEILING + 1), TETHER_EINVAL);
  CHECK_EQ_INT(r.max_frame, 100);
  /* A frame whose header was read keeps the old limit. */
  uint8_t body[100];
  memset(body, 'b', sizeof body);
  buf s = { 0 };
  put_frame(&s, body, 100);
  buf out = { 0 };
  CHECK_OK(feed_into(&r, s.p, 6, &out));
  CHECK_OK(tether_frame_reader_set_max(&r, 50));
  CHECK_OK(feed_into(&r, s.p + 6, s.len - 6, &out));
  CHECK_EQ_INT(out.len, 104);
  /* The next one is judged by the new limit. */
  size_t used;
  int rc = feed_bytes(&r, s.p, s.len, &used);
  CHECK_EQ_INT(rc, TETHER_EFRAME_TOO_LARGE);
  CHECK_EQ_STR(tether_frame_reader_error(&r), "frame of 100 bytes exceeds the limit of 50");
  tether_frame_reader_free(&r);
  free(s.p);
  free(out.p);
}

TEST(init_limits) {
  tether_frame_reader r;
  CHECK_EQ_INT(tether_frame_reader_init(&r, 0, 1), TETHER_EINVAL);
  CHECK(strstr(tether_frame_reader_error(&r), "max frame 0 outside") != NULL);
  tether_frame_reader_free(&r);
  CHECK_EQ_INT(tether_frame_reader_init(&r, TETHER_FRAME_MAX_CEILING + 1, 1), TETHER_EINVAL);
  CHECK(strstr(tether_frame_reader_error(&r), "16777217") != NULL);
  tether_frame_reader_free(&r);
  CHECK_OK(tether_frame_reader_init(&r, TETHER_FRAME_MAX_CEILING, 1));
  CHECK_OK(tether_frame_reader_init(&r, 1, 1));
  CHECK(r.buf == NULL && r.cap == 0); /* init allocates nothing */
  CHECK_EQ_STR(tether_frame_reader_error(&r), "");
  tether_frame_reader_free(&r);
  tether_frame_reader_free(NULL);
}

TEST_MAIN(TEST_ENTRY(header_encoding), TEST_ENTRY(round_trip_whole_and_bytewise),
          TEST_ENTRY(every_split_point), TEST_ENTRY(every_pair_of_split_points),
          TEST_ENTRY(feed_stops_at_frame_end), TEST_ENTRY(buffer_reused),
          TEST_ENTRY(frame_at_limit_accepted),
          TEST_ENTRY(frame_over_limit_rejected_from_header), TEST_ENTRY(zero_length_frame),
          TEST_ENTRY(truncated_stream), TEST_ENTRY(garbage_prefaces),
          TEST_ENTRY(no_preface_mode), TEST_ENTRY(set_max), TEST_ENTRY(init_limits))
