/* fuzz_parent: a hostile runner against the real parent library.
 *
 * The parent (libtether_parent) is attached to one end of an in-memory
 * transport pair (tether__parent_attach_transport); the harness is the
 * runner on the other end. Nothing blocks: the memory transport has no
 * descriptor, so only tether_parent_process is used (never run / wait /
 * capture); a handshake that cannot complete is ended by closing the
 * runner's side, so the parent never waits out a timeout.
 *
 * Input (a script; reads past the end give 0, see session_script.h):
 *   h0  handshake: bits 0-3 mode (0-11 a valid runner Hello; 12 only
 *       versions above ours; 13 a valid Hello with byte [next] xor [next]; 14 cut to
 *       [next] bytes; 15 an Error frame instead), bits 4-5 the runner's
 *       max_sessions {1024, 1, 2, 1000}, bits 6-7 its initial_window
 *       {0 (the parent's), 1, 64, 4096}
 *   h1  parent options: bits 0-2 window {1, 7, 100, 1024, 4096, 65536,
 *       default, default}, bits 3-4 stdin_queue_max {1, 64, 4096, default},
 *       bit 5 the runner does not list FLOW_CONTROL, bit 6 the runner's
 *       max_frame is the minimum (64 KiB), bit 7 callbacks act: each
 *       callback takes one byte from the script and may free, write,
 *       spawn, close stdin, ask status or terminate from inside it
 *   then up to MAX_OPS operations (FP_* in session_script.h): parent API
 *   calls on the sessions it opened, and runner frames: well-formed ones
 *   addressed at known sessions with the next offsets (so sessions get
 *   deep), and hostile ones: wrong offsets, unknown or freed sessions,
 *   duplicates, huge credits, empty data, floods, wrong-way bodies,
 *   garbage payloads and headers, a mid-frame end.
 *
 * Invariants:
 *  1. per session, callbacks come in the documented order: on_spawned or
 *     on_spawn_failed first; on_output only while running, never empty, on
 *     stdout/stderr (stdout only when merged), within the caps, and its
 *     bytes are exactly the runner's bytes at the next offset of that
 *     stream (the harness's Output data is a function of the offset it
 *     claims, so an accepted gap or overlap shows); on_status only in
 *     answer to tether_session_status; on_exit last, with byte counts
 *     equal to what on_output delivered; nothing after on_exit,
 *     on_spawn_failed or a terminal on_error (EPROTOCOL / ECLOSED);
 *     nothing for a freed session; tether_session_done agrees;
 *  2. on_error codes are TETHER_E* codes with non-empty messages; after the
 *     connection ended every session that was not freed is over, and no
 *     callback runs once tether_parent_process returned TETHER_ECLOSED;
 *  3. every frame the parent sends decodes (nanopb, as a runner would) and
 *     is a parent-to-runner body: Hello first; Stdin offsets contiguous,
 *     bytes equal to what was written, never past StdinClose, never more
 *     than the window plus the stdin credit granted (flow control); Credit
 *     for stdout/stderr never more than the Output bytes sent; nothing
 *     after its fatal Error or its Goodbye;
 *  4. API calls return documented codes; no crash, no hang (bounded
 *     script), and after tether_parent_free every allocation is freed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_ops.h"
#include "fuzz.h"
#include "parent/parent_internal.h"
#include "session_script.h"
#include "transport/framing.h"
#include "transport/transport.h"

#define MAX_OPS 300
#define MAX_RECS 64
#define MAX_OUTPUT 4096

/* ---------------------------------------------------------------- input */

typedef struct script {
  const uint8_t *d;
  size_t n, i;
} script;

static script in;

static int more(void) { return in.i < in.n; }
static uint8_t u8(void) { return in.i < in.n ? in.d[in.i++] : 0; }
static uint16_t u16(void) { return (uint16_t)(u8() | (u8() << 8)); }
static uint32_t u32(void) { return (uint32_t)u16() | ((uint32_t)u16() << 16); }
static uint64_t u64(void) { return (uint64_t)u32() | ((uint64_t)u32() << 32); }

/* The byte at `off` of a runner stream or of a session's stdin. */
static uint8_t pat(uint32_t id, uint32_t stream, uint64_t off) {
  uint64_t x = (off + 1) * 0x9E3779B97F4A7C15ull ^ (((uint64_t)id << 8) | stream) * 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 32;
  return (uint8_t)x;
}

/* -------------------------------------------------------------- records */

enum { ST_PENDING, ST_RUNNING, ST_DONE };

typedef struct rec {
  tether_session *s;
  uint32_t id;
  int state;
  int freed;
  int merge, stdin_null;
  int has_cap[2];
  uint64_t cap[2];
  uint64_t delivered[2];     /* bytes through on_output */
  unsigned status_asked;     /* tether_session_status calls not answered */
  uint64_t written;          /* bytes accepted by tether_session_write */
  int close_asked;
  /* what the parent sent for it */
  int p_spawn_seen;
  uint64_t p_stdin_off;      /* next Stdin offset */
  int p_stdin_closed;
  uint64_t p_credit[2];      /* Credit bytes granted for stdout/stderr */
} rec;

/* The runner's view of a session id (what the harness sent), kept by id:
 * a frame sent before the parent opened that id still applies to it once
 * the parent reads it after the spawn. Ids the parent hands out are small. */
#define MAX_RV 256
typedef struct rview {
  uint64_t r_off[2];         /* the next Output offset */
  uint64_t r_sent[2];        /* Output data bytes sent, any offset */
  uint64_t r_credit[2];      /* flow control: what we may still send */
  uint64_t r_stdin_granted;  /* Credit{STDIN} bytes sent */
} rview;

static struct {
  tether_parent *p;
  rview rv[MAX_RV + 1];      /* [MAX_RV]: every larger id (never opened) */
  tether_transport *rt;      /* the runner's end */
  rec recs[MAX_RECS];
  size_t nrecs;
  int act;                   /* callbacks take actions from the script */
  int conn_over;             /* a terminal on_error(NULL, ...) was seen */
  int closed_returned;       /* tether_parent_process returned ECLOSED */
  int in_cb;
  int depth;                 /* nested spawns from callbacks */
  int rt_closed;             /* the runner's side shut down */
  /* parent output */
  tether_frame_reader rd;
  void *dec;
  int p_hello_seen, p_fatal_sent, p_goodbye_sent;
  uint32_t flow, window;
  unsigned long cbs, pframes;  /* callbacks, parent frames (FUZZ_VERBOSE) */
} H;

static rview *RV(uint32_t id) { return &H.rv[id < MAX_RV ? id : MAX_RV]; }

static rec *find_rec(uint32_t id) {
  for (size_t i = 0; i < H.nrecs; i++)
    if (H.recs[i].id == id) return &H.recs[i];
  return NULL;
}

static rec *pick_live(uint8_t b) {
  if (H.nrecs == 0) return NULL;
  for (size_t k = 0; k < H.nrecs; k++) {
    rec *r = &H.recs[(b + k) % H.nrecs];
    if (!r->freed) return r;
  }
  return NULL;
}

static rec *rec_of(tether_session *s, const char *cb) {
  H.cbs++;
  FUZZ_CHECK(s != NULL, "%s without a session", cb);
  rec *r = tether_session_userdata(s);
  FUZZ_CHECK(r != NULL && r >= H.recs && r < H.recs + H.nrecs, "%s: foreign userdata", cb);
  FUZZ_CHECK(r->s == s, "%s: handle %p is not session %u's", cb, (void *)s, r->id);
  FUZZ_CHECK(!r->freed, "%s for session %u after tether_session_free", cb, r->id);
  FUZZ_CHECK(!H.closed_returned, "%s after tether_parent_process returned ECLOSED", cb);
  FUZZ_CHECK(r->state != ST_DONE, "%s for session %u, which was over", cb, r->id);
  FUZZ_CHECK(tether_session_id(s) == r->id, "%s: id changed", cb);
  return r;
}

/* ------------------------------------------------------- parent output */

static int known_code(int code) { return code < 0 && code > TETHER_E__LAST; }

static void parent_frame(const uint8_t *pl, size_t len) {
  tether_msg m;
  const char *why = NULL;
  int rc = fuzz_codec_nanopb.decode(H.dec, pl, len, &m, &why);
  H.pframes++;
  FUZZ_CHECK(rc == 0, "the parent sent a frame that does not decode: %s (%s)",
             tether_err_name(rc), why ? why : "-");
  FUZZ_CHECK(!H.p_fatal_sent, "the parent sent %s after its fatal Error",
             tether_msg_type_name(m.type));
  FUZZ_CHECK(!H.p_goodbye_sent, "the parent sent %s after its Goodbye",
             tether_msg_type_name(m.type));
  if (!H.p_hello_seen) {
    FUZZ_CHECK(m.type == TETHER_MSG_HELLO && m.session == 0 &&
                   m.u.hello.role == TETHER_ROLE_PARENT,
               "the parent's first frame is %s", tether_msg_type_name(m.type));
    H.p_hello_seen = 1;
    return;
  }
  rec *r = m.session ? find_rec(m.session) : NULL;
  switch (m.type) {
    case TETHER_MSG_ERROR:
      if (m.u.error.fatal) H.p_fatal_sent = 1;
      return;
    case TETHER_MSG_GOODBYE:
      FUZZ_CHECK(m.session == 0, "Goodbye on session %u", m.session);
      H.p_goodbye_sent = 1;
      return;
    case TETHER_MSG_SPAWN:
      /* Drained after tether_session_spawn returned: the record exists. */
      FUZZ_CHECK(r != NULL && !r->p_spawn_seen, "Spawn for session %u: %s", m.session,
                 r ? "a second one" : "no tether_session_spawn returned that id");
      FUZZ_CHECK(m.u.spawn.argv.count == 2 && m.u.spawn.stdin_mode ==
                     (r->stdin_null ? TETHER__STDIN_NULL : TETHER__STDIN_PIPE) &&
                     m.u.spawn.merge_stderr == (bool)r->merge,
                 "Spawn for session %u does not say what was asked", r->id);
      r->p_spawn_seen = 1;
      return;
    case TETHER_MSG_STDIN:
      FUZZ_CHECK(r != NULL && r->p_spawn_seen, "Stdin for session %u before its Spawn",
                 m.session);
      FUZZ_CHECK(!r->p_stdin_closed, "Stdin after StdinClose on session %u", r->id);
      FUZZ_CHECK(!r->stdin_null, "Stdin on null-stdin session %u", r->id);
      FUZZ_CHECK(m.u.stdin_data.offset == r->p_stdin_off,
                 "Stdin on session %u at offset %llu, expected %llu", r->id,
                 (unsigned long long)m.u.stdin_data.offset,
                 (unsigned long long)r->p_stdin_off);
      FUZZ_CHECK(r->p_stdin_off + m.u.stdin_data.data.len <= r->written,
                 "Stdin on session %u beyond what was written", r->id);
      for (size_t k = 0; k < m.u.stdin_data.data.len; k++)
        FUZZ_CHECK(m.u.stdin_data.data.data[k] == pat(r->id, 4, r->p_stdin_off + k),
                   "Stdin byte %llu of session %u differs from what was written",
                   (unsigned long long)(r->p_stdin_off + k), r->id);
      r->p_stdin_off += m.u.stdin_data.data.len;
      uint64_t g = RV(r->id)->r_stdin_granted;
      if (H.flow && g <= UINT64_MAX - H.window)
        FUZZ_CHECK(r->p_stdin_off <= (uint64_t)H.window + g,
                   "session %u: %llu stdin bytes sent with a window of %u and %llu granted",
                   r->id, (unsigned long long)r->p_stdin_off, H.window,
                   (unsigned long long)RV(r->id)->r_stdin_granted);
      return;
    case TETHER_MSG_STDIN_CLOSE:
      FUZZ_CHECK(r != NULL && !r->p_stdin_closed && r->close_asked && !r->stdin_null,
                 "unexpected StdinClose on session %u", m.session);
      FUZZ_CHECK(r->p_stdin_off == r->written, "StdinClose on session %u before all stdin",
                 r->id);
      r->p_stdin_closed = 1;
      return;
    case TETHER_MSG_CREDIT: {
      FUZZ_CHECK(r != NULL, "Credit for session %u, never opened", m.session);
      uint32_t st = m.u.credit.stream;
      FUZZ_CHECK(st == TETHER_STREAM_STDOUT || st == TETHER_STREAM_STDERR,
                 "the parent granted Credit for stream %u", st);
      FUZZ_CHECK(H.flow, "Credit without flow control");
      int i = st == TETHER_STREAM_STDERR;
      r->p_credit[i] += m.u.credit.bytes;
      FUZZ_CHECK(r->p_credit[i] <= RV(r->id)->r_sent[i],
                 "session %u: %llu bytes of credit for %llu bytes of output", r->id,
                 (unsigned long long)r->p_credit[i], (unsigned long long)RV(r->id)->r_sent[i]);
      RV(r->id)->r_credit[i] += m.u.credit.bytes;
      return;
    }
    case TETHER_MSG_SIGNAL:
    case TETHER_MSG_TERMINATE:
    case TETHER_MSG_STATUS_REQUEST:
      FUZZ_CHECK(r != NULL && r->p_spawn_seen, "%s for session %u before its Spawn",
                 tether_msg_type_name(m.type), m.session);
      return;
    default:
      FUZZ_FAIL("the parent sent %s", tether_msg_type_name(m.type));
  }
}

/* Reads and checks everything the parent wrote so far. */
static void drain(void) {
  uint8_t buf[4096];
  for (;;) {
    long n = tether_transport_read(H.rt, buf, sizeof buf);
    if (n <= 0) return;
    size_t off = 0;
    while (off < (size_t)n) {
      size_t used = 0;
      int rc = tether_frame_reader_feed(&H.rd, buf + off, (size_t)n - off, &used);
      off += used;
      FUZZ_CHECK(rc >= 0, "the parent's output does not frame: %s",
                 tether_frame_reader_error(&H.rd));
      if (rc == 1) {
        const uint8_t *pl;
        size_t len;
        tether_frame_reader_next(&H.rd, &pl, &len);
        parent_frame(pl, len);
      }
    }
  }
}

/* ------------------------------------------------------------- sending */

static void send_payload(const uint8_t *pl, size_t len) {
  uint8_t hdr[TETHER_FRAME_HEADER_LEN];
  tether_frame_header_put(hdr, (uint32_t)len);
  if (tether_transport_write(H.rt, hdr, sizeof hdr) < 0) return;
  if (len) (void)tether_transport_write(H.rt, pl, len);
}

static int send_msg(const tether_msg *m) {
  static uint8_t buf[MAX_OUTPUT + 1024];
  size_t n = fuzz_codec_nanopb.encoded_size(m);
  if (n == 0 || n > sizeof buf) return -1;
  size_t w = 0;
  if (fuzz_codec_nanopb.encode(m, buf, n, &w, NULL) != 0) return -1;
  send_payload(buf, w);
  return 0;
}

static void put_varint(uint8_t *b, size_t *n, uint64_t v) {
  while (v >= 0x80) {
    b[(*n)++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  b[(*n)++] = (uint8_t)v;
}

/* Session id for a runner frame: a known session, 0, never used, or raw. */
static uint32_t pick_id(rec **out) {
  uint8_t b = u8();
  *out = NULL;
  if (b < FS_SEL_ZERO) {
    if (H.nrecs == 0) return 1;
    *out = &H.recs[b % H.nrecs];
    return (*out)->id;
  }
  if (b == FS_SEL_ZERO) return 0;
  if (b == FS_SEL_NEVER) return 1000000u;
  uint32_t id = u32();
  *out = find_rec(id);
  return id;
}

static tether_msg msg(uint32_t session, tether_msg_type t) {
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.session = session;
  m.type = t;
  return m;
}

/* Text from the script, made printable ASCII so it encodes. */
static tether_bytes text(uint8_t *buf, size_t cap) {
  size_t n = u8() % cap;
  for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)(0x20 + u8() % 0x5f);
  return (tether_bytes){buf, n};
}

static uint32_t pick_stream(void) {
  uint8_t b = u8();
  switch (b & 7) {
    case 0: case 1: case 2: return TETHER_STREAM_STDOUT;
    case 3: case 4: case 5: return TETHER_STREAM_STDERR;
    case 6: return TETHER_STREAM_PTY + (b >> 7);
    default: return b >> 3;
  }
}

/* Output at `off` of `len` bytes (pattern data) for `id`. */
static void send_output(uint32_t id, rec *r, uint32_t stream, uint64_t off, size_t len) {
  static uint8_t data[MAX_OUTPUT];
  if (len == 0 || len > MAX_OUTPUT) return;
  for (size_t k = 0; k < len; k++) data[k] = pat(id, stream, off + k);
  tether_msg m = msg(id, TETHER_MSG_OUTPUT);
  m.u.output.stream = stream;
  m.u.output.data = (tether_bytes){data, len};
  m.u.output.offset = off;
  if (send_msg(&m) != 0) return;
  (void)r;
  if (stream == TETHER_STREAM_STDOUT || stream == TETHER_STREAM_STDERR) {
    int i = stream == TETHER_STREAM_STDERR;
    rview *v = RV(id);
    v->r_sent[i] += len;
    if (off == v->r_off[i]) v->r_off[i] += len;
    v->r_credit[i] = v->r_credit[i] > len ? v->r_credit[i] - len : 0;
  }
}

/* A well-formed Output at the next offset, within the credit. */
static void send_next_output(rec *r, uint32_t stream, size_t len) {
  int i = stream == TETHER_STREAM_STDERR;
  rview *v = RV(r->id);
  if (H.flow && len > v->r_credit[i]) len = (size_t)v->r_credit[i];
  uint64_t used = v->r_off[i] < r->cap[i] ? v->r_off[i] : r->cap[i];
  if (r->has_cap[i] && r->cap[i] - used < len) len = (size_t)(r->cap[i] - used);
  if (len == 0) return;
  send_output(r->id, r, stream, v->r_off[i], len);
}

/* ------------------------------------------------------------ callbacks */

static void api_spawn(uint8_t flags);

/* From a callback: one action chosen by the script. Must be the last
 * thing the callback does with `r` (it may free it). */
static void cb_act(rec *r) {
  if (!H.act || !more()) return;
  uint8_t b = u8();
  switch (b & 15) {
    case 0: r->freed = 1; tether_session_free(r->s); break;
    case 1: {
      uint8_t buf[32];
      size_t n = 1 + (b >> 4);
      for (size_t k = 0; k < n; k++) buf[k] = pat(r->id, 4, r->written + k);
      int rc = tether_session_write(r->s, buf, n);
      if (rc == 0) r->written += n;
      break;
    }
    case 2: if (H.depth < 4) { H.depth++; api_spawn(b >> 4); H.depth--; } break;
    case 3: if (tether_session_close_stdin(r->s) == 0) r->close_asked = 1; break;
    case 4: if (tether_session_status(r->s) == 0) r->status_asked++; break;
    case 5: (void)tether_session_terminate(r->s, 0); break;
    case 6: {
      rec *o = pick_live(b >> 4);
      if (o) {
        o->freed = 1;
        tether_session_free(o->s);
      }
      break;
    }
    case 7:
      FUZZ_CHECK(tether_parent_process(H.p) == TETHER_EINCALLBACK, "process in a callback");
      FUZZ_CHECK(tether_parent_free(H.p) == TETHER_EINCALLBACK, "free in a callback");
      break;
    default: break;
  }
}

static void on_spawned(tether_session *s, uint64_t pid, void *ud) {
  (void)pid, (void)ud;
  rec *r = rec_of(s, "on_spawned");
  FUZZ_CHECK(r->state == ST_PENDING, "on_spawned for session %u twice", r->id);
  r->state = ST_RUNNING;
  cb_act(r);
}

static void on_spawn_failed(tether_session *s, const tether_spawn_failure *f, void *ud) {
  (void)ud;
  rec *r = rec_of(s, "on_spawn_failed");
  FUZZ_CHECK(r->state == ST_PENDING, "on_spawn_failed for session %u after on_spawned",
             r->id);
  FUZZ_CHECK(f && (f->message_len == 0 || f->message), "bad failure record");
  r->state = ST_DONE;
  FUZZ_CHECK(tether_session_done(s), "on_spawn_failed but session %u is not done", r->id);
  cb_act(r);
}

static void on_output(tether_session *s, int stream, const void *data, size_t len,
                      void *ud) {
  (void)ud;
  rec *r = rec_of(s, "on_output");
  FUZZ_CHECK(r->state == ST_RUNNING, "on_output for session %u before on_spawned", r->id);
  FUZZ_CHECK(len > 0 && data, "empty on_output");
  FUZZ_CHECK(stream == TETHER_STREAM_STDOUT || (stream == TETHER_STREAM_STDERR && !r->merge),
             "on_output on stream %d (merged %d)", stream, r->merge);
  int i = stream == TETHER_STREAM_STDERR;
  const uint8_t *d = data;
  for (size_t k = 0; k < len; k++)
    FUZZ_CHECK(d[k] == pat(r->id, (uint32_t)stream, r->delivered[i] + k),
               "session %u stream %d: byte %llu delivered is not the runner's byte at "
               "that offset (a gap or an overlap was accepted)", r->id, stream,
               (unsigned long long)(r->delivered[i] + k));
  r->delivered[i] += len;
  FUZZ_CHECK(!r->has_cap[i] || r->delivered[i] <= r->cap[i],
             "session %u: %llu bytes delivered past a cap of %llu", r->id,
             (unsigned long long)r->delivered[i], (unsigned long long)r->cap[i]);
  cb_act(r);
}

static void on_exit_cb(tether_session *s, const tether_exit_status *st, void *ud) {
  (void)ud;
  rec *r = rec_of(s, "on_exit");
  FUZZ_CHECK(r->state == ST_RUNNING, "on_exit for session %u before on_spawned", r->id);
  FUZZ_CHECK(!!st->exited + !!st->signaled == 1, "exit status: exited %d signaled %d",
             st->exited, st->signaled);
  FUZZ_CHECK(st->stdout_bytes == r->delivered[0] && st->stderr_bytes == r->delivered[1],
             "session %u: exit status counts %llu/%llu bytes, on_output delivered %llu/%llu",
             r->id, (unsigned long long)st->stdout_bytes,
             (unsigned long long)st->stderr_bytes, (unsigned long long)r->delivered[0],
             (unsigned long long)r->delivered[1]);
  r->state = ST_DONE;
  FUZZ_CHECK(tether_session_done(s), "on_exit but session %u is not done", r->id);
  cb_act(r);
}

static void on_status(tether_session *s, int running, uint64_t pid, void *ud) {
  (void)running, (void)pid, (void)ud;
  rec *r = rec_of(s, "on_status");
  FUZZ_CHECK(r->status_asked > 0, "on_status for session %u, which asked for none", r->id);
  r->status_asked--;
  cb_act(r);
}

static void on_error(tether_parent *p, tether_session *s, int code, const char *message,
                     void *ud) {
  (void)ud;
  FUZZ_CHECK(p == H.p, "on_error for another parent");
  FUZZ_CHECK(known_code(code), "on_error code %d", code);
  FUZZ_CHECK(message && message[0], "on_error %s without a message", tether_err_name(code));
  FUZZ_CHECK(strlen(message) < sizeof H.p->msg, "on_error message too long");
  FUZZ_CHECK(!H.closed_returned, "on_error after process returned ECLOSED");
  if (!s) {
    FUZZ_CHECK(!H.conn_over, "a connection on_error after the connection ended: %s",
               message);
    if (code == TETHER_EPROTOCOL || code == TETHER_ECLOSED) H.conn_over = 1;
    return;
  }
  rec *r = rec_of(s, "on_error");
  if (code == TETHER_EPROTOCOL || code == TETHER_ECLOSED) {
    r->state = ST_DONE;
    FUZZ_CHECK(tether_session_done(s), "terminal on_error but session %u is not done",
               r->id);
  } else {
    FUZZ_CHECK(!H.conn_over, "a session report after the connection ended");
  }
  cb_act(r);
}

/* ------------------------------------------------------------------ API */

static const char *const argv_a[] = {"prog", "arg", NULL};
static const char *const env_a[] = {"A=1", "B", NULL};

static void api_spawn(uint8_t flags) {
  if (H.nrecs >= MAX_RECS) return;
  tether_spawn_options o;
  tether_spawn_options_init(&o);
  o.argv = argv_a;
  o.merge_stderr = flags & 1;
  o.stdin_mode = (flags & 2) ? TETHER_STDIN_MODE_NULL : TETHER_STDIN_MODE_PIPE;
  if (flags & 4) o.stdout_cap = u8();
  if (flags & 8) o.stderr_cap = (uint64_t)u8() * 64;
  if (flags & 16) o.env = env_a;
  if (flags & 32) o.cwd = "/tmp";
  if (flags & 64) o.timeout_ms = 1000;
  o.clear_env = (flags & 128) != 0;
  rec *r = &H.recs[H.nrecs];
  memset(r, 0, sizeof *r);
  o.userdata = r;
  tether_session *s = NULL;
  int rc = tether_session_spawn(H.p, &o, &s);
  FUZZ_CHECK(rc == 0 || rc == TETHER_ECLOSED || rc == TETHER_ELIMIT_SESSIONS,
             "tether_session_spawn: %s", tether_err_name(rc));
  if (rc != 0) {
    FUZZ_CHECK(s == NULL, "a failed spawn returned a handle");
    return;
  }
  H.nrecs++;
  r->s = s;
  r->id = tether_session_id(s);
  r->state = ST_PENDING;
  r->merge = o.merge_stderr;
  r->stdin_null = (flags & 2) != 0;
  r->has_cap[0] = o.stdout_cap != TETHER_OUTPUT_UNCAPPED;
  r->cap[0] = o.stdout_cap;
  r->has_cap[1] = o.stderr_cap != TETHER_OUTPUT_UNCAPPED;
  r->cap[1] = o.stderr_cap;
  FUZZ_CHECK(tether_session_userdata(s) == r && tether_session_parent(s) == H.p,
             "accessors");
  FUZZ_CHECK(!tether_session_done(s), "a new session is done");
}

static void check_rc(const char *what, int rc, int ok1, int ok2, int ok3) {
  FUZZ_CHECK(rc == 0 || rc == ok1 || rc == ok2 || rc == ok3 || rc == TETHER_ECLOSED,
             "%s returned %s", what, tether_err_name(rc));
}

static void api_op(int op) {
  rec *r = pick_live(u8());
  if (!r) return;
  switch (op) {
    case FP_WRITE: {
      uint8_t buf[256];
      size_t n = u8();
      for (size_t k = 0; k < n; k++) buf[k] = pat(r->id, 4, r->written + k);
      int rc = tether_session_write(r->s, buf, n);
      check_rc("write", rc, TETHER_EAGAIN, TETHER_ESTATE, 0);
      if (rc == 0) r->written += n;
      if (rc == TETHER_ESTATE)
        FUZZ_CHECK(r->stdin_null || r->close_asked || r->state == ST_DONE,
                   "write: ESTATE on a session with open stdin");
      break;
    }
    case FP_CLOSE_STDIN: {
      int rc = tether_session_close_stdin(r->s);
      check_rc("close_stdin", rc, TETHER_ESTATE, 0, 0);
      if (rc == 0) r->close_asked = 1;
      break;
    }
    case FP_SIGNAL: {
      static const int sigs[] = {TETHER_SIG_INT, TETHER_SIG_TERM, TETHER_SIG_KILL,
                                 TETHER_SIG_WINCH, 0, 99};
      uint8_t b = u8();
      int sig = sigs[b % 6];
      check_rc("signal", tether_session_signal(r->s, sig, b >> 7), TETHER_ESTATE,
               TETHER_EINVAL, 0);
      break;
    }
    case FP_TERMINATE:
      check_rc("terminate", tether_session_terminate(r->s, (uint32_t)u8() * 10),
               TETHER_ESTATE, 0, 0);
      break;
    case FP_STATUS: {
      int rc = tether_session_status(r->s);
      check_rc("status", rc, TETHER_ESTATE, 0, 0);
      if (rc == 0) r->status_asked++;
      break;
    }
    case FP_FREE:
      r->freed = 1;
      tether_session_free(r->s);
      break;
    default: break;
  }
}

static void process(void) {
  if (H.closed_returned) {
    FUZZ_CHECK(tether_parent_process(H.p) == TETHER_ECLOSED, "process after ECLOSED");
    return;
  }
  int rc = tether_parent_process(H.p);
  FUZZ_CHECK(rc == 0 || rc == TETHER_ECLOSED, "process returned %s", tether_err_name(rc));
  if (rc == TETHER_ECLOSED) {
    H.closed_returned = 1;
    FUZZ_CHECK(tether_parent_fd(H.p) == TETHER_INVALID_HANDLE && !tether_parent_wants_write(H.p),
               "a closed parent still has a channel");
    /* Every session the embedder still holds is over and was told. */
    for (size_t i = 0; i < H.nrecs; i++) {
      rec *r = &H.recs[i];
      if (r->freed) continue;
      FUZZ_CHECK(r->state == ST_DONE && tether_session_done(r->s),
                 "session %u is not over after the connection ended", r->id);
    }
  }
}

/* ------------------------------------------------------- runner frames */

static void runner_op(int op) {
  rec *r = NULL;
  uint32_t id;
  tether_msg m;
  uint8_t tbuf[64];
  switch (op) {
    case FP_R_SPAWNED:
      id = pick_id(&r);
      m = msg(id, TETHER_MSG_SPAWNED);
      m.u.spawned.pid = u32();
      send_msg(&m);
      break;
    case FP_R_SPAWN_FAILED:
      id = pick_id(&r);
      m = msg(id, TETHER_MSG_SPAWN_FAILED);
      m.u.spawn_failed.stage = u8() % 9;
      m.u.spawn_failed.error = u8() % 11;
      m.u.spawn_failed.os_error = (int8_t)u8();
      m.u.spawn_failed.os_error_space = m.u.spawn_failed.os_error ? 1 : 0;
      m.u.spawn_failed.message = text(tbuf, sizeof tbuf);
      send_msg(&m);
      break;
    case FP_R_OUTPUT: {
      id = pick_id(&r);
      uint32_t stream = pick_stream();
      size_t len = u16() % (MAX_OUTPUT + 1);
      if (r && (stream == TETHER_STREAM_STDOUT || stream == TETHER_STREAM_STDERR))
        send_next_output(r, stream, len);
      else
        send_output(id, r, stream, 0, len);
      break;
    }
    case FP_R_OUTPUT_AT: {
      id = pick_id(&r);
      uint32_t stream = pick_stream();
      size_t len = u16() % (MAX_OUTPUT + 1);
      uint8_t mode = u8();
      uint64_t next = stream && stream <= 2 ? RV(id)->r_off[stream == 2] : 0;
      uint64_t off;
      switch (mode & 3) {
        case 0: off = next + 1 + (mode >> 2); break;
        case 1: off = next > (uint64_t)(mode >> 2) ? next - 1 - (mode >> 2) : 0; break;
        case 2: off = UINT64_MAX - (mode >> 2); break;
        default: off = u64(); break;
      }
      send_output(id, r, stream, off, len);
      break;
    }
    case FP_R_TRUNCATED:
      id = pick_id(&r);
      m = msg(id, TETHER_MSG_OUTPUT_TRUNCATED);
      m.u.output_truncated.stream = pick_stream();
      m.u.output_truncated.dropped = (u8() & 1) ? UINT64_MAX - u8() : u16();
      send_msg(&m);
      break;
    case FP_R_EXITED: {
      id = pick_id(&r);
      uint8_t f = u8();
      m = msg(id, TETHER_MSG_EXITED);
      m.u.exited.signaled = f & 1;
      if (f & 1) m.u.exited.signal = u8();
      else m.u.exited.code = u8();
      m.u.exited.raw_signal = (f & 1) ? (int32_t)m.u.exited.signal : 0;
      m.u.exited.core_dumped = (f >> 1) & 1;
      m.u.exited.timed_out = (f >> 2) & 1;
      m.u.exited.has_usage = (f >> 3) & 1;
      m.u.exited.user_time_us = (f & 16) ? UINT64_MAX : 5;
      m.u.exited.no_status = (f >> 5) & 1; /* invalid: never a success */
      send_msg(&m);
      break;
    }
    case FP_R_STATUS_REPLY:
      id = pick_id(&r);
      m = msg(id, TETHER_MSG_STATUS_REPLY);
      m.u.status_reply.running = u8() & 1;
      m.u.status_reply.pid = 42;
      send_msg(&m);
      break;
    case FP_R_CREDIT: {
      id = pick_id(&r);
      m = msg(id, TETHER_MSG_CREDIT);
      uint8_t b = u8();
      m.u.credit.stream = (b & 3) ? TETHER_STREAM_STDIN : pick_stream();
      switch ((b >> 2) & 3) {
        case 0: m.u.credit.bytes = u8(); break;
        case 1: m.u.credit.bytes = u16(); break;
        case 2: m.u.credit.bytes = UINT64_MAX - u8(); break;
        default: m.u.credit.bytes = u64(); break;
      }
      if (send_msg(&m) == 0 && m.u.credit.stream == TETHER_STREAM_STDIN) {
        rview *v = RV(id);
        uint64_t g = v->r_stdin_granted + m.u.credit.bytes;
        v->r_stdin_granted = g < v->r_stdin_granted ? UINT64_MAX : g;
      }
      break;
    }
    case FP_R_ERROR: {
      id = pick_id(&r);
      m = msg(id, TETHER_MSG_ERROR);
      uint8_t b = u8();
      m.u.error.code = b % 12;
      m.u.error.fatal = (b >> 4) & 1;
      m.u.error.message = text(tbuf, sizeof tbuf);
      send_msg(&m);
      break;
    }
    case FP_R_GOODBYE:
      id = pick_id(&r);
      m = msg(id, TETHER_MSG_GOODBYE);
      m.u.goodbye.reason = text(tbuf, sizeof tbuf);
      send_msg(&m);
      break;
    case FP_R_HELLO:
      tether_hello_init(&m, TETHER_ROLE_RUNNER, "again", 0, TETHER_FRAME_MAX_DEFAULT, 0);
      send_msg(&m);
      break;
    case FP_R_WRONG_WAY: {
      static const tether_msg_type ways[] = {
          TETHER_MSG_SPAWN, TETHER_MSG_STDIN, TETHER_MSG_STDIN_CLOSE, TETHER_MSG_RESIZE,
          TETHER_MSG_SIGNAL, TETHER_MSG_TERMINATE, TETHER_MSG_STATUS_REQUEST};
      static const tether_bytes argv1[] = {{(const uint8_t *)"x", 1}};
      id = pick_id(&r);
      m = msg(id, ways[u8() % 7]);
      if (m.type == TETHER_MSG_SPAWN) m.u.spawn.argv = (tether_bytes_list){argv1, 1};
      if (m.type == TETHER_MSG_STDIN) m.u.stdin_data.data = argv1[0];
      send_msg(&m);
      break;
    }
    case FP_R_RAW: {
      uint8_t buf[256];
      size_t n = u8();
      for (size_t k = 0; k < n; k++) buf[k] = u8();
      send_payload(buf, n);
      break;
    }
    case FP_R_RAW_HEADER: {
      uint8_t hdr[4] = {u8(), u8(), u8(), u8()};
      (void)tether_transport_write(H.rt, hdr, 4);
      break;
    }
    case FP_R_FLOOD: {
      id = pick_id(&r);
      size_t count = 1 + u8() % 64;
      size_t len = 1 + u8();
      uint32_t stream = (u8() & 1) ? TETHER_STREAM_STDERR : TETHER_STREAM_STDOUT;
      for (size_t k = 0; k < count; k++) {
        if (r) send_next_output(r, stream, len);
        else send_output(id, NULL, stream, k * len, len);
      }
      break;
    }
    case FP_R_EOF: {
      uint8_t b = u8();
      if (b & 1) { /* in the middle of a frame */
        uint8_t part[3] = {5, 0, 0};
        (void)tether_transport_write(H.rt, part, 1 + (b >> 1) % 3);
      }
      H.rt->vt->shutdown_write(H.rt);
      H.rt_closed = 1;
      break;
    }
    case FP_R_EMPTY_OUTPUT: {
      uint8_t b[32];
      size_t n = 0;
      id = pick_id(&r);
      uint32_t stream = pick_stream();
      uint64_t off = stream && stream <= 2 ? RV(id)->r_off[stream == 2] : 0;
      uint8_t body[24];
      size_t bn = 0;
      body[bn++] = 0x08;
      put_varint(body, &bn, stream);
      body[bn++] = 0x18;
      put_varint(body, &bn, off);
      b[n++] = 0x08;
      put_varint(b, &n, id);
      b[n++] = 0x32;
      put_varint(b, &n, bn);
      memcpy(b + n, body, bn);
      n += bn;
      send_payload(b, n);
      break;
    }
    case FP_R_NONE_BODY: {
      uint8_t b[8];
      size_t n = 0;
      id = pick_id(&r);
      b[n++] = 0x08;
      put_varint(b, &n, id);
      send_payload(b, n);
      break;
    }
    default: break;
  }
}

/* ------------------------------------------------------------ handshake */

static void handshake_bytes(uint8_t h0, uint8_t h1) {
  /* (0 would be a bad Hello: a runner hosts at least one session) */
  static const uint32_t sessions[] = {TETHER_SESSIONS_MAX_DEFAULT, 1, 2, 1000};
  static const uint32_t windows[] = {0, 1, 64, 4096};
  uint8_t buf[512];
  int mode = h0 & 15;
  (void)tether_transport_write(H.rt, tether_preface, TETHER_PREFACE_LEN);
  tether_msg m;
  if (mode == 15) {
    m = msg(0, TETHER_MSG_ERROR);
    m.u.error.code = TETHER_WIRE_VERSION_UNSUPPORTED;
    m.u.error.fatal = 1;
    m.u.error.message = (tether_bytes){(const uint8_t *)"no", 2};
  } else {
    uint32_t caps = TETHER_CAP_BIT(TETHER_CAP_PIPES) | TETHER_CAP_BIT(TETHER_CAP_SIGNALS);
    if (!(h1 & 32)) caps |= TETHER_CAP_BIT(TETHER_CAP_FLOW_CONTROL);
    tether_hello_init(&m, TETHER_ROLE_RUNNER, "fuzz-runner", caps,
                      (h1 & 64) ? TETHER_FRAME_MAX_MINIMUM : TETHER_FRAME_MAX_DEFAULT,
                      sessions[(h0 >> 4) & 3]);
    m.u.hello.initial_window = windows[h0 >> 6];
    m.u.hello.max_window = windows[h0 >> 6];
    if (mode == 12) /* no version in common with ours */
      m.u.hello.version_min = TETHER_PROTOCOL_VERSION_MAX + 1,
      m.u.hello.version_max = TETHER_PROTOCOL_VERSION_MAX + 2;
  }
  size_t n = fuzz_codec_nanopb.encoded_size(&m), w = 0;
  FUZZ_CHECK(n > 0 && n <= sizeof buf - 4 &&
                 fuzz_codec_nanopb.encode(&m, buf + 4, n, &w, NULL) == 0,
             "cannot encode the runner's Hello");
  tether_frame_header_put(buf, (uint32_t)w);
  size_t total = w + 4;
  if (mode == 13) {
    uint8_t at = u8();
    buf[at % total] ^= u8();
  } else if (mode == 14) {
    total = u8() % total;
  }
  (void)tether_transport_write(H.rt, buf, total);
  /* A handshake that cannot complete: end the stream, so the parent's
   * handshake fails now instead of waiting out its timeout. */
  tether_frame_reader fr;
  tether_frame_reader_init(&fr, TETHER_FRAME_MAX_CEILING, 0);
  size_t used = 0;
  int rc = tether_frame_reader_feed(&fr, buf, total, &used);
  tether_frame_reader_free(&fr);
  if (rc == 0) {
    H.rt->vt->shutdown_write(H.rt);
    H.rt_closed = 1;
  }
}

/* ----------------------------------------------------------------- main */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_set_input(data, size);
  H.dec = fuzz_decoder(&fuzz_codec_nanopb, 0);
  FUZZ_CHECK(H.dec != NULL, "decoder");
  FUZZ_ALLOC_BEGIN();
  in = (script){data, size, 0};
  void *dec = H.dec;
  memset(&H, 0, sizeof H);
  H.dec = dec;
  tether_frame_reader_init(&H.rd, TETHER_FRAME_MAX_CEILING, 1);

  uint8_t h0 = u8(), h1 = u8();
  static const uint32_t windows[] = {1, 7, 100, 1024, 4096, 65536, TETHER_WINDOW_DEFAULT,
                                     TETHER_WINDOW_DEFAULT};
  static const size_t queues[] = {1, 64, 4096, TETHER_PARENT_STDIN_QUEUE_DEFAULT};
  H.act = (h1 & 128) != 0;

  tether_transport *pt = NULL;
  FUZZ_CHECK(tether_transport_memory_pair(&pt, &H.rt) == 0, "memory pair");
  handshake_bytes(h0, h1);

  tether_parent_options o;
  tether_parent_options_init(&o);
  o.window = windows[h1 & 7];
  o.stdin_queue_max = queues[(h1 >> 3) & 3];
  /* Backstops only: the memory transport never makes the parent wait (a
   * handshake that cannot complete was ended above; writes always fit). */
  o.handshake_timeout_ms = 1000;
  o.write_timeout_ms = 1000;
  o.shutdown_timeout_ms = 0;
  o.callbacks = (tether_parent_callbacks){on_spawned, on_spawn_failed, on_output, on_exit_cb,
                                          on_status, on_error};
  char errbuf[256];
  o.error_buf = errbuf;
  o.error_buf_len = sizeof errbuf;
  int rc = tether__parent_attach_transport(&o, pt, &H.p);
  int mode = h0 & 15;
  if (mode < 12 && !H.rt_closed)
    FUZZ_CHECK(rc == 0, "a valid handshake failed: %s: %s", tether_err_name(rc), errbuf);
  if (rc != 0) {
    FUZZ_CHECK(H.p == NULL && known_code(rc) && errbuf[0], "failed attach: %d", rc);
    FUZZ_CHECK(rc == TETHER_EPROTOCOL || rc == TETHER_EVERSION || rc == TETHER_ECLOSED ||
                   rc == TETHER_EPREFACE || rc == TETHER_ETIMEDOUT,
               "attach returned %s", tether_err_name(rc));
    drain();
  } else {
    H.flow = (uint32_t)H.p->flow;
    H.window = H.p->window;
    for (size_t k = 0; k <= MAX_RV; k++) H.rv[k].r_credit[0] = H.rv[k].r_credit[1] = H.window;
    tether_runner_info info;
    tether_parent_runner_info(H.p, &info);
    FUZZ_CHECK(info.pid == -1 && info.version >= TETHER_PROTOCOL_VERSION_MIN &&
                   info.version <= TETHER_PROTOCOL_VERSION_MAX,
               "runner info");
    drain();
    for (int ops = 0; ops < MAX_OPS && more(); ops++) {
      uint8_t opb = u8();
      int op = (opb & 0x1f) % FP_OP_COUNT;
      if (op == FP_SPAWN) api_spawn(u8());
      else if (op <= FP_FREE) api_op(op);
      else if (op == FP_PROCESS) process();
      else runner_op(op);
      if (opb & FS_THEN_PROCESS) process();
      drain();
      for (size_t i = 0; i < H.nrecs; i++) {
        rec *r = &H.recs[i];
        if (!r->freed)
          FUZZ_CHECK(tether_session_done(r->s) == (r->state == ST_DONE),
                     "session %u: tether_session_done %d, callbacks say %d", r->id,
                     tether_session_done(r->s), r->state);
      }
    }
    /* Let the parent read whatever is left, then end. */
    for (int k = 0; k < 3 && !H.closed_returned; k++) process();
    drain();
    /* Free some handles first (by the script's last byte), the rest go with the parent. */
    uint8_t last = size ? data[size - 1] : 0;
    for (size_t i = 0; i < H.nrecs; i++)
      if (!H.recs[i].freed && ((last >> (i & 7)) & 1)) {
        H.recs[i].freed = 1;
        tether_session_free(H.recs[i].s);
      }
    int was_open = !H.closed_returned;
    H.closed_returned = 1; /* no callback may run from here on */
    FUZZ_CHECK(tether_parent_free(H.p) == 0, "tether_parent_free");
    H.p = NULL;
    drain();
    if (was_open && !H.p_fatal_sent)
      FUZZ_CHECK(H.p_goodbye_sent || H.rt_closed, "an open parent was freed without Goodbye");
  }
  static int verbose = -1;
  if (verbose < 0) verbose = getenv("FUZZ_VERBOSE") != NULL;
  if (verbose)
    fprintf(stderr, "fuzz_parent: attach %s, %zu sessions, %lu callbacks, %lu parent frames, "
            "%zu of %zu script bytes\n", tether_err_name(rc), H.nrecs, H.cbs, H.pframes,
            in.i, in.n);
  tether_transport_free(H.rt);
  tether_frame_reader_free(&H.rd);
  fuzz_decoder_settle(&fuzz_codec_nanopb, H.dec);
  FUZZ_ALLOC_END();
  return 0;
}
