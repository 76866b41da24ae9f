/* The channel: framed send/recv over real and in-memory transports, flow
 * bounds, zero-copy reservations, protocol errors, descriptor hygiene. */
#include <dirent.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "channel_send.h"
#include "transport/channel.h"


/* ---- helpers ---- */

typedef int (*pair_fn)(tether_transport **, tether_transport **);

static void channel_pair(pair_fn make, const tether_channel_options *o, tether_channel **a,
                         tether_channel **b) {
  tether_transport *ta, *tb;
  CHECK_OK(make(&ta, &tb));
  CHECK_OK(tether_channel_new(ta, o, a));
  CHECK_OK(tether_channel_new(tb, o, b));
}

static void fill(uint8_t *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 131u + seed * 17u + (i >> 9));
}

/* Frame i of a test stream: size varies, content depends on i. */
static size_t frame_size(unsigned i) { return 1 + (i * 97u) % 3000u; }

/* Receives one frame, waiting on the read handle (memory: no waiting). */
static int recv_wait(tether_channel *ch, const uint8_t **p, size_t *n) {
  for (;;) {
    int rc = tether_channel_recv(ch, p, n);
    if (rc != 0) return rc;
    rc = tether_transport_wait(tether_channel_transport(ch), 0, 5000);
    if (rc < 0) return rc;
  }
}

static void check_msg(const char *msg, const char *want) {
  if (!strstr(msg, want)) FAIL("message \"%s\" lacks \"%s\"", msg, want);
}

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  CHECK(d != NULL);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

/* ---- tests ---- */

TEST(options_defaults) {
  tether_channel_options o;
  memset(&o, 0xff, sizeof o);
  tether_channel_options_init(&o);
  CHECK_EQ_INT(o.max_frame_in, TETHER_FRAME_MAX_DEFAULT);
  CHECK_EQ_INT(o.max_frame_out, TETHER_FRAME_MAX_DEFAULT);
  CHECK_EQ_INT(o.max_pending, 4u << 20);
}

TEST(new_rejects_bad_options) {
  tether_channel_options o;
  tether_channel *ch = (tether_channel *)1;
  tether_transport *a, *b;
  int before = count_fds();
  const int bad_case_count = 4;
  for (int k = 0; k < bad_case_count; k++) {
    tether_channel_options_init(&o);
    if (k == 0) o.max_frame_in = 0;
    if (k == 1) o.max_frame_in = TETHER_FRAME_MAX_CEILING + 1;
    if (k == 2) o.max_frame_out = 0;
    if (k == 3) o.max_pending = 0;
    CHECK_OK(tether_transport_socketpair(&a, &b));
    /* The transport is taken (and freed) also on failure. */
    CHECK_EQ_INT(tether_channel_new(a, &o, &ch), TETHER_EINVAL);
    CHECK(ch == NULL);
    tether_transport_free(b);
  }
  CHECK_EQ_INT(count_fds(), before);
  CHECK_EQ_INT(tether_channel_new(NULL, NULL, &ch), TETHER_EINVAL);
  tether_channel_free(NULL);
}

static void many_frames(pair_fn make) {
  tether_channel *a, *b;
  channel_pair(make, NULL, &a, &b);
  CHECK_EQ_INT(tether_channel_pending(a), TETHER_PREFACE_LEN); /* preface queued */
  const unsigned N = 2000;
  uint8_t want[3001];
  unsigned sent = 0, got = 0;
  while (got < N) {
    /* Queue what fits, flush what the transport takes, read what arrived. */
    while (sent < N) {
      size_t n = frame_size(sent);
      fill(want, n, sent);
      int rc = channel_send(a, want, n);
      if (rc == TETHER_EAGAIN) break;
      CHECK_OK(rc);
      sent++;
    }
    int rc = tether_channel_flush(a);
    CHECK(rc == 0 || rc == TETHER_EAGAIN);
    const uint8_t *p;
    size_t n;
    while ((rc = tether_channel_recv(b, &p, &n)) == 1) {
      size_t wn = frame_size(got);
      fill(want, wn, got);
      CHECK_EQ_MEM(p, n, want, wn);
      got++;
    }
    CHECK_EQ_INT(rc, 0);
  }
  CHECK_OK(tether_channel_flush(a));
  CHECK_EQ_INT(tether_channel_pending(a), 0);
  /* The other direction works too, and a clean close reads as ECLOSED. */
  CHECK_OK(channel_send(b, (const uint8_t *)"bye", 3));
  CHECK_OK(tether_channel_flush_wait(b, 5000));
  const uint8_t *p;
  size_t n;
  CHECK_EQ_INT(recv_wait(a, &p, &n), 1);
  CHECK_EQ_MEM(p, n, "bye", 3);
  tether_channel_free(b);
  CHECK_EQ_INT(recv_wait(a, &p, &n), TETHER_ECLOSED);
  check_msg(tether_channel_error(a), "closed the connection");
  CHECK_EQ_INT(tether_channel_recv(a, &p, &n), TETHER_ECLOSED); /* sticky */
  tether_channel_free(a);
}

TEST(many_frames_socketpair) { many_frames(tether_transport_socketpair); }
TEST(many_frames_pipe_pair) { many_frames(tether_transport_pipe_pair); }
TEST(many_frames_memory) { many_frames(tether_transport_memory_pair); }

/* Both sides send 1 MiB frames at once over a socketpair: neither can
 * finish without the other reading, so flush and recv are interleaved
 * under poll(2). */
TEST(large_frames_both_ways) {
  tether_channel *ch[2];
  channel_pair(tether_transport_socketpair, NULL, &ch[0], &ch[1]);
  const size_t BIG = TETHER_FRAME_MAX_DEFAULT;
  const unsigned FRAMES = 6;
  uint8_t *src = malloc(BIG), *want = malloc(BIG);
  CHECK(src && want);
  unsigned sent[2] = { 0, 0 }, got[2] = { 0, 0 };
  uint64_t deadline = test_now_ms() + 30000;
  while (got[0] < FRAMES || got[1] < FRAMES) {
    CHECK(test_now_ms() < deadline);
    struct pollfd pf[4];
    for (int s = 0; s < 2; s++) {
      if (sent[s] < FRAMES && tether_channel_pending(ch[s]) == 0) {
        fill(src, BIG, sent[s] * 2 + (unsigned)s);
        CHECK_OK(channel_send(ch[s], src, BIG));
        sent[s]++;
      }
      int rc = tether_channel_flush(ch[s]);
      CHECK(rc == 0 || rc == TETHER_EAGAIN);
      const uint8_t *p;
      size_t n;
      while ((rc = tether_channel_recv(ch[s], &p, &n)) == 1) {
        unsigned from = 1u - (unsigned)s;
        fill(want, BIG, got[s] * 2 + from);
        CHECK_EQ_MEM(p, n, want, BIG);
        got[s]++;
      }
      CHECK_EQ_INT(rc, 0);
      pf[2 * s] = (struct pollfd){ .fd = tether_channel_read_handle(ch[s]), .events = POLLIN };
      pf[2 * s + 1] = (struct pollfd){ .fd = tether_channel_write_handle(ch[s]),
                                       .events = tether_channel_pending(ch[s]) ? POLLOUT : 0 };
    }
    if (got[0] < FRAMES || got[1] < FRAMES) poll(pf, 4, 1000);
  }
  free(src);
  free(want);
  tether_channel_free(ch[0]);
  tether_channel_free(ch[1]);
}

TEST(max_pending_bounds_the_queue) {
  tether_channel_options o;
  tether_channel_options_init(&o);
  o.max_pending = 1000;
  tether_channel *a, *b;
  channel_pair(tether_transport_memory_pair, &o, &a, &b);
  uint8_t buf[5000] = { 0 };
  CHECK_OK(channel_send(a, buf, 500)); /* 8 + 504 */
  CHECK_EQ_INT(channel_send(a, buf, 500), TETHER_EAGAIN);
  CHECK_OK(channel_send(a, buf, 484)); /* exactly 1000 pending */
  CHECK_EQ_INT(tether_channel_pending(a), 1000);
  CHECK_EQ_INT(channel_send(a, buf, 1), TETHER_EAGAIN);
  int err;
  CHECK(tether_channel_reserve(a, 1, &err) == NULL);
  CHECK_EQ_INT(err, TETHER_EAGAIN);
  CHECK_OK(tether_channel_flush(a));
  /* An empty queue takes one frame bigger than max_pending... */
  CHECK_OK(channel_send(a, buf, sizeof buf));
  CHECK_EQ_INT(tether_channel_pending(a), 4 + sizeof buf);
  /* ...but nothing after it until it drains. */
  CHECK_EQ_INT(channel_send(a, buf, 1), TETHER_EAGAIN);
  CHECK_OK(tether_channel_flush(a));
  CHECK_OK(channel_send(a, buf, 1));
  /* Frame limits of the sender. */
  CHECK_EQ_INT(channel_send(a, buf, 0), TETHER_EFRAME_EMPTY);
  tether_channel_set_limits(a, TETHER_FRAME_MAX_DEFAULT, 100);
  CHECK_EQ_INT(channel_send(a, buf, 101), TETHER_EFRAME_TOO_LARGE);
  CHECK_OK(channel_send(a, buf, 100));
  CHECK_OK(tether_channel_flush(a));
  const uint8_t *p;
  size_t n;
  int seen = 0;
  while (tether_channel_recv(b, &p, &n) == 1) seen++;
  CHECK_EQ_INT(seen, 5); /* 500, 484, 5000, 1, 100 */
  tether_channel_free(a);
  tether_channel_free(b);
}

TEST(reserve_commit) {
  tether_channel *a, *b;
  channel_pair(tether_transport_memory_pair, NULL, &a, &b);
  int err = 1;
  uint8_t *p = tether_channel_reserve(a, 100, &err);
  CHECK(p != NULL);
  CHECK_EQ_INT(err, 0);
  memcpy(p, "encoded in place", 16);
  CHECK_EQ_INT(tether_channel_reserve(a, 10, &err), NULL);
  CHECK_EQ_INT(err, TETHER_ESTATE); /* one reservation at a time */
  CHECK_EQ_INT(tether_channel_commit(a, 101), TETHER_EINVAL);
  /* The failed commit closed the reservation: reserve again. */
  p = tether_channel_reserve(a, 100, &err);
  CHECK(p != NULL);
  memcpy(p, "encoded in place", 16);
  CHECK_OK(tether_channel_flush(a)); /* flushing with a reservation open is safe */
  CHECK_OK(tether_channel_commit(a, 16));
  CHECK_EQ_INT(tether_channel_pending(a), 4 + 16);
  CHECK_EQ_INT(tether_channel_commit(a, 16), TETHER_ESTATE);
  /* commit(0) cancels: nothing is queued. */
  CHECK(tether_channel_reserve(a, 50, &err) != NULL);
  CHECK_EQ_INT(tether_channel_commit(a, 0), TETHER_EFRAME_EMPTY);
  CHECK_EQ_INT(tether_channel_pending(a), 4 + 16);
  CHECK(tether_channel_reserve(a, TETHER_FRAME_MAX_DEFAULT + 1, &err) == NULL);
  CHECK_EQ_INT(err, TETHER_EFRAME_TOO_LARGE);
  CHECK(tether_channel_reserve(a, 0, &err) == NULL);
  CHECK_EQ_INT(err, TETHER_EFRAME_EMPTY);
  /* A reservation that grows the queue. */
  p = tether_channel_reserve(a, 200000, &err);
  CHECK(p != NULL);
  fill(p, 200000, 9);
  CHECK_OK(tether_channel_commit(a, 150000));
  CHECK_OK(tether_channel_flush(a));
  const uint8_t *q;
  size_t n;
  CHECK_EQ_INT(tether_channel_recv(b, &q, &n), 1);
  CHECK_EQ_MEM(q, n, "encoded in place", 16);
  CHECK_EQ_INT(tether_channel_recv(b, &q, &n), 1);
  uint8_t *want = malloc(200000);
  fill(want, 200000, 9);
  CHECK_EQ_MEM(q, n, want, 150000);
  free(want);
  CHECK_EQ_INT(tether_channel_recv(b, &q, &n), 0);
  tether_channel_free(a);
  tether_channel_free(b);
}

/* A raw peer: the other end is a bare transport writing arbitrary bytes. */
static tether_channel *raw_peer(pair_fn make, tether_transport **raw) {
  tether_transport *t;
  tether_channel *ch;
  CHECK_OK(make(&t, raw));
  CHECK_OK(tether_channel_new(t, NULL, &ch));
  return ch;
}

TEST(garbage_preface) {
  tether_transport *raw;
  tether_channel *ch = raw_peer(tether_transport_socketpair, &raw);
  const char *junk = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  CHECK_OK(tether_transport_write_all(raw, junk, strlen(junk), 1000));
  const uint8_t *p;
  size_t n;
  CHECK_EQ_INT(recv_wait(ch, &p, &n), TETHER_EPREFACE);
  check_msg(tether_channel_error(ch), "not a tether peer: got \"HTTP/1.1 200 OK\\r");
  CHECK_EQ_INT(tether_channel_recv(ch, &p, &n), TETHER_EPREFACE);
  tether_channel_free(ch);
  tether_transport_free(raw);
}

TEST(shell_message_instead_of_peer) {
  tether_transport *raw;
  tether_channel *ch = raw_peer(tether_transport_pipe_pair, &raw);
  const char *junk = "sh: 1: tether-runner: not found\n";
  CHECK_OK(tether_transport_write_all(raw, junk, strlen(junk), 1000));
  tether_transport_free(raw);
  const uint8_t *p;
  size_t n;
  CHECK_EQ_INT(recv_wait(ch, &p, &n), TETHER_EPREFACE);
  check_msg(tether_channel_error(ch), "not a tether peer: got \"sh: 1: tether-ru");
  tether_channel_free(ch);
}

TEST(peer_closes_mid_frame) {
  tether_transport *raw;
  tether_channel *ch = raw_peer(tether_transport_pipe_pair, &raw);
  uint8_t s[TETHER_PREFACE_LEN + 4 + 4 + 4 + 10];
  memcpy(s, tether_preface, TETHER_PREFACE_LEN);
  tether_frame_header_put(s + 8, 4);
  memcpy(s + 12, "full", 4);
  tether_frame_header_put(s + 16, 100);
  memset(s + 20, 'x', 10);
  CHECK_OK(tether_transport_write_all(raw, s, sizeof s, 1000));
  tether_transport_free(raw); /* gone after 10 of 100 bytes */
  const uint8_t *p;
  size_t n;
  CHECK_EQ_INT(recv_wait(ch, &p, &n), 1); /* the whole frame still arrives */
  CHECK_EQ_MEM(p, n, "full", 4);
  CHECK_EQ_INT(recv_wait(ch, &p, &n), TETHER_ETRUNCATED);
  check_msg(tether_channel_error(ch), "connection ended in a frame (10 of 100 bytes)");
  CHECK_EQ_INT(tether_channel_recv(ch, &p, &n), TETHER_ETRUNCATED);
  tether_channel_free(ch);
}

TEST(peer_frame_too_large) {
  tether_channel_options o;
  tether_channel_options_init(&o);
  o.max_frame_in = 64u << 10;
  tether_transport *t, *raw;
  tether_channel *ch;
  CHECK_OK(tether_transport_socketpair(&t, &raw));
  CHECK_OK(tether_channel_new(t, &o, &ch));
  uint8_t s[TETHER_PREFACE_LEN + 4];
  memcpy(s, tether_preface, TETHER_PREFACE_LEN);
  tether_frame_header_put(s + 8, (64u << 10) + 1);
  CHECK_OK(tether_transport_write_all(raw, s, sizeof s, 1000));
  const uint8_t *p;
  size_t n;
  CHECK_EQ_INT(recv_wait(ch, &p, &n), TETHER_EFRAME_TOO_LARGE);
  check_msg(tether_channel_error(ch), "frame of 65537 bytes exceeds the limit of 65536");
  tether_channel_free(ch);
  tether_transport_free(raw);
}

TEST(set_limits_lowers_input_limit) {
  tether_channel *a, *b;
  channel_pair(tether_transport_memory_pair, NULL, &a, &b);
  tether_channel_set_limits(b, 10, TETHER_FRAME_MAX_DEFAULT);
  uint8_t buf[11] = { 0 };
  CHECK_OK(channel_send(a, buf, 10));
  CHECK_OK(channel_send(a, buf, 11));
  CHECK_OK(tether_channel_flush(a));
  const uint8_t *p;
  size_t n;
  CHECK_EQ_INT(tether_channel_recv(b, &p, &n), 1);
  CHECK_EQ_INT(tether_channel_recv(b, &p, &n), TETHER_EFRAME_TOO_LARGE);
  check_msg(tether_channel_error(b), "frame of 11 bytes exceeds the limit of 10");
  tether_channel_free(a);
  tether_channel_free(b);
}

/* Several frames in one chunk, then EOF: each is delivered from the
 * leftover bytes before the channel sees the end. */
TEST(leftover_bytes_delivered_before_eof) {
  tether_transport *raw;
  tether_channel *ch = raw_peer(tether_transport_socketpair, &raw);
  uint8_t s[TETHER_PREFACE_LEN + 3 * 5];
  memcpy(s, tether_preface, TETHER_PREFACE_LEN);
  for (int i = 0; i < 3; i++) {
    tether_frame_header_put(s + 8 + 5 * i, 1);
    s[8 + 5 * i + 4] = (uint8_t)('a' + i);
  }
  CHECK_OK(tether_transport_write_all(raw, s, sizeof s, 1000));
  tether_transport_free(raw);
  const uint8_t *p;
  size_t n;
  for (int i = 0; i < 3; i++) {
    CHECK_EQ_INT(recv_wait(ch, &p, &n), 1);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(p[0], 'a' + i);
  }
  CHECK_EQ_INT(recv_wait(ch, &p, &n), TETHER_ECLOSED);
  tether_channel_free(ch);
}

TEST(write_to_closed_peer) {
  signal(SIGPIPE, SIG_DFL); /* must not matter */
  tether_channel *a, *b;
  channel_pair(tether_transport_pipe_pair, NULL, &a, &b);
  CHECK_OK(channel_send(b, (const uint8_t *)"last", 4));
  CHECK_OK(tether_channel_flush_wait(b, 1000));
  tether_channel_free(b);
  CHECK_OK(channel_send(a, (const uint8_t *)"x", 1));
  CHECK_EQ_INT(tether_channel_flush(a), TETHER_ECLOSED);
  check_msg(tether_channel_error(a), "write to the fd transport failed: the connection is closed");
  CHECK_EQ_INT(tether_channel_flush(a), TETHER_ECLOSED); /* sticky */
  CHECK_EQ_INT(channel_send(a, (const uint8_t *)"y", 1), TETHER_ECLOSED);
  /* Reading goes on: the peer's last frame is still there. */
  const uint8_t *p;
  size_t n;
  CHECK_EQ_INT(recv_wait(a, &p, &n), 1);
  CHECK_EQ_MEM(p, n, "last", 4);
  CHECK_EQ_INT(recv_wait(a, &p, &n), TETHER_ECLOSED);
  tether_channel_free(a);
}

TEST(shutdown_write_after_flush) {
  tether_channel *a, *b;
  channel_pair(tether_transport_socketpair, NULL, &a, &b);
  CHECK_OK(channel_send(a, (const uint8_t *)"one", 3));
  CHECK_OK(tether_channel_shutdown_write(a));
  CHECK_EQ_INT(channel_send(a, (const uint8_t *)"two", 3), TETHER_ECLOSED);
  CHECK_OK(tether_channel_flush_wait(a, 1000));
  const uint8_t *p;
  size_t n;
  CHECK_EQ_INT(recv_wait(b, &p, &n), 1);
  CHECK_EQ_MEM(p, n, "one", 3);
  CHECK_EQ_INT(recv_wait(b, &p, &n), TETHER_ECLOSED);
  /* The other direction is still open. */
  CHECK_OK(channel_send(b, (const uint8_t *)"back", 4));
  CHECK_OK(tether_channel_flush_wait(b, 1000));
  CHECK_EQ_INT(recv_wait(a, &p, &n), 1);
  CHECK_EQ_MEM(p, n, "back", 4);
  tether_channel_free(a);
  tether_channel_free(b);
}

/* I/O failing after byte N, for every N across a few frames: the sender
 * fails with EIO (sticky), the receiver gets every whole frame that made
 * it and then TRUNCATED or CLOSED, never garbage. */
TEST(memory_fail_after_every_n) {
  const size_t sizes[] = { 3, 1, 40 };
  size_t total = TETHER_PREFACE_LEN;
  for (size_t i = 0; i < 3; i++) total += 4 + sizes[i];
  for (size_t nfail = 0; nfail <= total; nfail++) {
    tether_transport *ta, *tb;
    CHECK_OK(tether_transport_memory_pair(&ta, &tb));
    tether_transport_memory_fail_after(ta, (long long)nfail);
    tether_channel *a, *b;
    CHECK_OK(tether_channel_new(ta, NULL, &a));
    CHECK_OK(tether_channel_new(tb, NULL, &b));
    uint8_t buf[40];
    for (size_t i = 0; i < 3; i++) {
      fill(buf, sizes[i], (unsigned)i);
      CHECK_OK(channel_send(a, buf, sizes[i]));
    }
    int rc = tether_channel_flush(a);
    if (nfail < total) {
      CHECK_EQ_INT(rc, TETHER_EIO);
      check_msg(tether_channel_error(a), "input/output error");
    } else {
      CHECK_OK(rc);
    }
    tether_channel_free(a); /* b sees EOF after the bytes that made it */
    const uint8_t *p;
    size_t n;
    size_t at = TETHER_PREFACE_LEN, frames = 0;
    while ((rc = tether_channel_recv(b, &p, &n)) == 1) {
      fill(buf, sizes[frames], (unsigned)frames);
      CHECK_EQ_MEM(p, n, buf, sizes[frames]);
      at += 4 + sizes[frames];
      frames++;
    }
    if (nfail == at || nfail == 0) CHECK_EQ_INT(rc, TETHER_ECLOSED);
    else CHECK_EQ_INT(rc, TETHER_ETRUNCATED);
    CHECK(at <= nfail || nfail < TETHER_PREFACE_LEN);
    tether_channel_free(b);
  }
}

TEST(no_fd_leaks) {
  int before = count_fds();
  for (int i = 0; i < 1000; i++) {
    tether_channel *a, *b;
    channel_pair(i % 2 ? tether_transport_socketpair : tether_transport_pipe_pair, NULL, &a, &b);
    if (i % 3 == 0) {
      CHECK_OK(channel_send(a, (const uint8_t *)"x", 1));
      CHECK_OK(tether_channel_flush(a));
    }
    if (i % 5 == 0) CHECK_OK(tether_channel_shutdown_write(b));
    tether_channel_free(i % 2 ? a : b);
    tether_channel_free(i % 2 ? b : a);
  }
  CHECK_EQ_INT(count_fds(), before);
}

/* A transport that counts reads, forwarding everything to `inner`. */
typedef struct counting {
  tether_transport base;
  tether_transport *inner;
  tether_transport_vtable vt;
  int reads;
} counting;

static tether_transport *inner_of(tether_transport *t) { return ((counting *)t)->inner; }
static long c_read(tether_transport *t, void *buf, size_t len) {
  ((counting *)t)->reads++;
  return tether_transport_read(inner_of(t), buf, len);
}
static long c_write(tether_transport *t, const void *buf, size_t len) {
  return tether_transport_write(inner_of(t), buf, len);
}
static tether_os_handle c_read_handle(tether_transport *t) {
  return inner_of(t)->vt->read_handle(inner_of(t));
}
static tether_os_handle c_write_handle(tether_transport *t) {
  return inner_of(t)->vt->write_handle(inner_of(t));
}
static int c_shutdown_write(tether_transport *t) {
  return inner_of(t)->vt->shutdown_write(inner_of(t));
}
static int c_set_nonblocking(tether_transport *t, int on) {
  return inner_of(t)->vt->set_nonblocking(inner_of(t), on);
}
static int c_ready(tether_transport *t, int for_write) {
  return inner_of(t)->vt->ready(inner_of(t), for_write);
}
static void c_free(tether_transport *t) {
  tether_transport_free(inner_of(t));
  free(t);
}

static counting *counting_wrap(tether_transport *inner) {
  counting *c = calloc(1, sizeof *c);
  CHECK(c != NULL);
  c->inner = inner;
  c->vt = *inner->vt; /* name and short_read_drains */
  c->vt.read = c_read;
  c->vt.write = c_write;
  c->vt.read_handle = c_read_handle;
  c->vt.write_handle = c_write_handle;
  c->vt.shutdown_write = c_shutdown_write;
  c->vt.set_nonblocking = c_set_nonblocking;
  c->vt.ready = inner->vt->ready ? c_ready : NULL;
  c->vt.free = c_free;
  c->base.vt = &c->vt;
  return c;
}

/* After a short read from a POSIX fd the channel ends the batch (returns
 * 0) without the read that could only say EAGAIN; the next call reads
 * again, so a frame that came in between is not lost. A memory transport
 * does not claim that short reads drain it: it reads until EAGAIN. */
static void short_read_ends_batch(pair_fn make, int drains) {
  tether_transport *ta, *tb;
  tether_channel *a, *b;
  CHECK_OK(make(&ta, &tb));
  counting *cb = counting_wrap(tb);
  CHECK_EQ_INT(cb->vt.short_read_drains, drains);
  CHECK_OK(tether_channel_new(ta, NULL, &a));
  CHECK_OK(tether_channel_new(&cb->base, NULL, &b));
  const uint8_t *p;
  size_t n;
  CHECK_OK(channel_send(a, (const uint8_t *)"one", 3));
  CHECK_OK(tether_channel_flush(a));
  CHECK_EQ_INT(recv_wait(b, &p, &n), 1);
  CHECK_EQ_MEM(p, n, "one", 3);
  int reads = cb->reads;
  CHECK_EQ_INT(tether_channel_recv(b, &p, &n), 0);
  CHECK_EQ_INT(cb->reads - reads, (drains ? 0 : 1));

  /* A frame that arrives now: the batch is over, the next call reads it. */
  CHECK_OK(channel_send(a, (const uint8_t *)"two", 3));
  CHECK_OK(tether_channel_flush(a));
  CHECK_EQ_INT(recv_wait(b, &p, &n), 1);
  CHECK_EQ_MEM(p, n, "two", 3);
  CHECK_EQ_INT(tether_channel_recv(b, &p, &n), 0);

  /* End of stream after a short read is still seen. */
  CHECK_OK(channel_send(a, (const uint8_t *)"three", 5));
  CHECK_OK(tether_channel_shutdown_write(a));
  CHECK_EQ_INT(recv_wait(b, &p, &n), 1);
  CHECK_EQ_MEM(p, n, "three", 5);
  CHECK_EQ_INT(recv_wait(b, &p, &n), TETHER_ECLOSED);
  tether_channel_free(a);
  tether_channel_free(b);
}

TEST(short_read_ends_batch_socketpair) { short_read_ends_batch(tether_transport_socketpair, 1); }
TEST(short_read_ends_batch_pipe_pair) { short_read_ends_batch(tether_transport_pipe_pair, 1); }
TEST(short_read_ends_batch_memory) { short_read_ends_batch(tether_transport_memory_pair, 0); }

TEST_MAIN(TEST_ENTRY(options_defaults), TEST_ENTRY(new_rejects_bad_options),
          TEST_ENTRY(many_frames_socketpair), TEST_ENTRY(many_frames_pipe_pair),
          TEST_ENTRY(many_frames_memory), TEST_ENTRY(large_frames_both_ways),
          TEST_ENTRY(max_pending_bounds_the_queue), TEST_ENTRY(reserve_commit),
          TEST_ENTRY(garbage_preface), TEST_ENTRY(shell_message_instead_of_peer),
          TEST_ENTRY(peer_closes_mid_frame), TEST_ENTRY(peer_frame_too_large),
          TEST_ENTRY(set_limits_lowers_input_limit),
          TEST_ENTRY(leftover_bytes_delivered_before_eof), TEST_ENTRY(write_to_closed_peer),
          TEST_ENTRY(shutdown_write_after_flush), TEST_ENTRY(memory_fail_after_every_n),
          TEST_ENTRY(no_fd_leaks), TEST_ENTRY(short_read_ends_batch_socketpair),
          TEST_ENTRY(short_read_ends_batch_pipe_pair), TEST_ENTRY(short_read_ends_batch_memory))
