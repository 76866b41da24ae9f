/* The runner's protocol logic: handshake, the connection state machine,
 * session bookkeeping and every frame the runner sends. No system calls
 * here; the platform files do those (session_posix.c, loop_posix.c).
 *
 * The parent is not trusted: every frame is decoded by nanopb into fixed
 * storage and validated (tether_msg_validate) before it is looked at, and
 * anything that breaks the state machine ends the connection with
 * Error{PROTOCOL, fatal}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runner_internal.h"
#include "transport/escape.h"
#include "transport/sized.h"
#include "tether/version.h"

/* The first published (0.2) layout of tether_runner_options: a smaller
 * struct_size is TETHER_EINVAL. Fixed for good; new fields are appended. */
#define TETHER__RUNNER_OPTIONS_SIZE_0_2 \
  TETHER__SIZE_THROUGH(tether_runner_options, allow_full_access)

/* How long a control frame may wait for room in a full output queue before
 * the parent is considered stalled. */
#define STALL_MS 10000
/* After the shutdown SIGKILL, how long to wait for pipes held open by
 * processes outside the group before giving up on their output. */
#define ABANDON_MS 1000u

const char *tether_runner_version(void) { return TETHER_VERSION_STRING; }

static void runner_defaults(tether_runner_options *o) {
  memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->max_sessions = TETHER_SESSIONS_MAX_DEFAULT;
  o->max_frame_size = TETHER_FRAME_MAX_DEFAULT;
  o->handshake_timeout_ms = TETHER_HANDSHAKE_TIMEOUT_MS;
  o->terminate_grace_ms = TETHER_TERMINATE_GRACE_MS;
  o->shutdown_grace_ms = TETHER_RUNNER_SHUTDOWN_GRACE_MS;
  o->output_high_water = TETHER_RUNNER_OUTPUT_HIGH_WATER_DEFAULT;
  o->stdin_queue_max = TETHER_RUNNER_STDIN_QUEUE_DEFAULT;
  o->window = TETHER_WINDOW_DEFAULT;
  o->max_window = TETHER_WINDOW_MAX;
  o->name = "tether-runner";
  o->child_watch = TETHER_RUNNER_WATCH_AUTO;
}

void tether_runner_options_init_sized(tether_runner_options *o, size_t struct_size) {
  tether_runner_options d;
  runner_defaults(&d);
  tether__sized_init(o, struct_size, &d, sizeof d);
}

uint64_t tether__runner_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int check_options(const tether_runner_options *o) {
  if (o->max_sessions < 1 || o->max_sessions > TETHER_SESSIONS_MAX_CEILING) return TETHER_EINVAL;
  if (o->max_frame_size < TETHER_FRAME_MAX_MINIMUM || o->max_frame_size > TETHER_FRAME_MAX_CEILING)
    return TETHER_EINVAL;
  if (o->handshake_timeout_ms < 1 || o->terminate_grace_ms < 1 || o->shutdown_grace_ms < 1)
    return TETHER_EINVAL;
  if (o->output_high_water < TETHER__RUNNER_READ_CHUNK || o->stdin_queue_max < 1) return TETHER_EINVAL;
  if (o->window < 1 || o->window > TETHER_WINDOW_MAX) return TETHER_EINVAL;
  if (o->max_window < o->window || o->max_window > TETHER_WINDOW_MAX) return TETHER_EINVAL;
  if (!o->name || strlen(o->name) > TETHER_NAME_MAX_BYTES) return TETHER_EINVAL;
  if ((unsigned)o->child_watch > TETHER_RUNNER_WATCH_SIGCHLD) return TETHER_EINVAL;
  return 0;
}

/* ------------------------------------------------------------ sending */

/* Encodes `m` straight into the channel's output queue (no extra copy). */
static int send_msg(tether__runner *r, const tether_msg *m) {
  /* After a fatal Error nothing more goes out (the Error said we close). */
  if (r->channel_dead || r->stop_output) return TETHER_ECLOSED;
  size_t size = tether_nanopb_encoded_size(m);
  if (size == 0) return TETHER_EINVAL; /* a bug: our own frame does not validate */
  int err = 0;
  uint8_t *buf = tether_channel_reserve(r->ch, size, &err);
  if (!buf && err == TETHER_EAGAIN) {
    /* Queue full: the parent has a bounded time to read before it counts
     * as stalled. Only control frames get here; Output stops earlier at the
     * high-water mark. */
    err = tether_channel_flush_wait(r->ch, STALL_MS);
    if (err == 0) buf = tether_channel_reserve(r->ch, size, &err);
  }
  if (!buf) {
    r->channel_dead = true;
    return err;
  }
  size_t written = 0;
  const char *why = NULL;
  err = tether_nanopb_encode(m, buf, size, &written, &why);
  if (err < 0) {
    tether_channel_commit(r->ch, 0); /* cancels the reservation */
    return err;
  }
  return tether_channel_commit(r->ch, written);
}

TETHER__PRINTF(5, 6)
static void send_error(tether__runner *r, uint32_t session, uint32_t code, bool fatal,
                       const char *fmt, ...) {
  char raw[512], msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(raw, sizeof raw, fmt, ap);
  va_end(ap);
  tether__escape(msg, sizeof msg, raw, strlen(raw), TETHER__ESC_KEEP_QUOTES);
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.session = session;
  m.type = TETHER_MSG_ERROR;
  m.u.error.code = code;
  m.u.error.fatal = fatal;
  m.u.error.message.data = (const uint8_t *)msg;
  m.u.error.message.len = strlen(msg);
  (void)send_msg(r, &m);
}

/* Error{code, fatal}, then the connection closes with `result`. */
TETHER__PRINTF(4, 5)
static void fatal(tether__runner *r, uint32_t code, int result, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (r->state != TETHER__CLOSING) send_error(r, 0, code, true, "%s", msg);
  tether__runner_close(r, result, "%s", msg);
}

static void send_spawn_failed(tether__runner *r, uint32_t session, uint32_t stage,
                              uint32_t error, int os_error, const char *message) {
  char msg[512];
  tether__escape(msg, sizeof msg, message, strlen(message), TETHER__ESC_KEEP_QUOTES);
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.session = session;
  m.type = TETHER_MSG_SPAWN_FAILED;
  m.u.spawn_failed.stage = stage;
  m.u.spawn_failed.error = error;
  m.u.spawn_failed.os_error = os_error;
  m.u.spawn_failed.os_error_space = os_error ? TETHER__OS_ERR_SPACE : 0;
  m.u.spawn_failed.message.data = (const uint8_t *)msg;
  m.u.spawn_failed.message.len = strlen(msg);
  (void)send_msg(r, &m);
}

bool tether__runner_backpressured(const tether__runner *r) {
  return !r->channel_dead && tether_channel_pending(r->ch) > r->opt.output_high_water;
}

bool tether__runner_input_blocked(const tether__runner *r) {
  return !r->channel_dead &&
         tether_channel_pending(r->ch) > r->opt.output_high_water + TETHER__CONTROL_ROOM;
}

/* ------------------------------------------------------------ lifecycle */

int tether__runner_init(tether__runner *r, const tether_runner_options *o,
                        tether_transport *t) {
  int rc;
  memset(r, 0, sizeof *r);
  r->watch.sigchld_fd = -1;
  runner_defaults(&r->opt);
  rc = o ? tether__sized_read(&r->opt, sizeof r->opt, o, TETHER__RUNNER_OPTIONS_SIZE_0_2) : 0;
  if (rc < 0) {
    tether_transport_free(t);
    snprintf(r->why, sizeof r->why, rc == TETHER_EINVAL
             ? "invalid runner options: struct_size is below the first published layout"
             : "runner options set fields this (older) library does not know");
    return rc;
  }
  rc = check_options(&r->opt);
  if (rc < 0) {
    tether_transport_free(t);
    snprintf(r->why, sizeof r->why, "invalid runner options");
    return rc;
  }

  tether_channel_options co;
  tether_channel_options_init(&co);
  co.max_frame_in = r->opt.max_frame_size;
  co.max_frame_out = TETHER_FRAME_MAX_MINIMUM; /* every peer takes this much */
  /* Output stops at the high-water mark; input at the high-water mark
   * plus TETHER__CONTROL_ROOM (so the parent's Terminate, Signal or
   * Credit are still read while children's output fills the queue); the
   * rest of the slack holds the control frames (Exited, errors, replies)
   * a turn can add beyond that. */
  co.max_pending = r->opt.output_high_water + (4u << 20);
  rc = tether_channel_new(t, &co, &r->ch); /* owns t from here, even on failure */
  if (rc < 0) goto fail;
  rc = tether_nanopb_decoder_new(&r->dec);
  if (rc < 0) goto fail;
  rc = TETHER_ENOMEM;
  r->read_buf = malloc(TETHER__RUNNER_READ_CHUNK);
  r->sessions = calloc(r->opt.max_sessions, sizeof *r->sessions);
  if (!r->read_buf || !r->sessions) goto fail;
  r->read_chunk = TETHER_FRAME_MAX_MINIMUM - TETHER__OUTPUT_OVERHEAD;
  /* Permission profiles (sandbox/): what this kernel can enforce. Probed
   * before the exit watch, so its SIGCHLD fallback never sees the probes. */
  tether__sandbox_policy_init(&r->sandbox, r->opt.name);
  r->sandbox.allow_full_access = r->opt.allow_full_access != 0;
  rc = tether__exitwatch_init(&r->watch, r->opt.child_watch);
  if (rc < 0) {
    snprintf(r->why, sizeof r->why, "cannot watch child exits: %s", tether_strerror(rc));
    goto fail;
  }

  tether_msg hello;
  tether_hello_init(&hello, TETHER_ROLE_RUNNER, r->opt.name,
                    TETHER_CAP_BIT(TETHER_CAP_PIPES) | TETHER_CAP_BIT(TETHER__PTY_CAPABILITY) |
                        TETHER_CAP_BIT(TETHER_CAP_SIGNALS) |
                        TETHER_CAP_BIT(TETHER_CAP_FLOW_CONTROL) |
                        TETHER_CAP_BIT(TETHER_CAP_PROCESS_GROUPS) |
                        TETHER_CAP_BIT(TETHER_CAP_RESOURCE_USAGE) |
                        TETHER__LIMITS_CAPABILITY |
                        (r->sandbox.support.enforced
                             ? TETHER_CAP_BIT(TETHER_CAP_PERMISSION_PROFILES) : 0),
                    r->opt.max_frame_size, r->opt.max_sessions);
  hello.u.hello.initial_window = r->opt.window;
  hello.u.hello.max_window = r->opt.max_window;
  r->hello = hello.u.hello;
  rc = send_msg(r, &hello);
  if (rc < 0) {
    snprintf(r->why, sizeof r->why, "cannot queue Hello: %s", tether_strerror(rc));
    goto fail;
  }
  r->state = TETHER__HANDSHAKE;
  r->handshake_deadline = tether__runner_now_ms() + r->opt.handshake_timeout_ms;
  return 0;
fail:
  if (!r->why[0]) snprintf(r->why, sizeof r->why, "runner setup failed: %s", tether_strerror(rc));
  tether__runner_free(r);
  return rc;
}

void tether__runner_free(tether__runner *r) {
  for (size_t i = 0; i < r->nsessions; i++) {
    tether__session_kill_now(r->sessions[i]);
    tether__session_release(r->sessions[i]);
    free(r->sessions[i]);
  }
  r->nsessions = 0;
  free(r->sessions);
  r->sessions = NULL;
  tether__exitwatch_free(&r->watch);
  tether_nanopb_decoder_free(r->dec);
  r->dec = NULL;
  free(r->read_buf);
  r->read_buf = NULL;
  tether_channel_free(r->ch);
  r->ch = NULL;
}

static void terminate(tether__runner *r, tether__session *s, uint32_t grace_ms) {
  tether__session_terminate(s);
  uint64_t at = tether__runner_now_ms() + grace_ms;
  if (!s->kill_at || at < s->kill_at) s->kill_at = at;
}

void tether__runner_close(tether__runner *r, int result, const char *fmt, ...) {
  if (r->state == TETHER__CLOSING) return;
  r->state = TETHER__CLOSING;
  r->input_done = true;
  r->result = result;
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
  }
  /* After a fatal error nothing more goes out (the Error said we close);
   * after Goodbye or end of input the sessions' last output and Exited
   * frames still go out while the channel takes them. */
  if (result != 0) r->stop_output = true;
  uint64_t now = tether__runner_now_ms();
  for (size_t i = 0; i < r->nsessions; i++) tether__session_terminate(r->sessions[i]);
  r->shutdown_kill_at = now + r->opt.shutdown_grace_ms;
  r->shutdown_abandon_at = r->shutdown_kill_at + ABANDON_MS;
}

bool tether__runner_done(const tether__runner *r) {
  return r->state == TETHER__CLOSING && r->nsessions == 0;
}

/* ------------------------------------------------------------ sessions */

static tether__session *find(tether__runner *r, uint32_t id) {
  for (size_t i = 0; i < r->nsessions; i++)
    if (r->sessions[i]->id == id) return r->sessions[i];
  return NULL;
}

static void handle_spawn(tether__runner *r, const tether_msg *m) {
  uint32_t id = m->session;
  if (find(r, id)) {
    send_error(r, id, TETHER_WIRE_SESSION_EXISTS, false, "session %u is still running", id);
    return;
  }
  if (r->nsessions >= r->opt.max_sessions) {
    char msg[96];
    snprintf(msg, sizeof msg, "too many concurrent sessions (limit %u)", r->opt.max_sessions);
    send_spawn_failed(r, id, TETHER_STAGE_LIMITS, TETHER_SPAWN_ERR_LIMIT, 0, msg);
    return;
  }
  tether__session *s = calloc(1, sizeof *s);
  if (!s) {
    send_spawn_failed(r, id, TETHER_STAGE_SETUP, TETHER_SPAWN_ERR_NO_RESOURCES, 0,
                      "out of memory");
    return;
  }
  if (tether__limits_any(&m->u.spawn) && r->sandbox.version < TETHER_PROTOCOL_VERSION_LIMITS) {
    char msg[128];
    snprintf(msg, sizeof msg,
             "resource limits need protocol version %u; this connection agreed on %u",
             TETHER_PROTOCOL_VERSION_LIMITS, r->sandbox.version);
    free(s);
    send_spawn_failed(r, id, TETHER_STAGE_LIMITS, TETHER_SPAWN_ERR_UNSUPPORTED, 0, msg);
    return;
  }
  s->id = id;
  tether__spawn_out so;
  r->sandbox.session = id; /* for the permission decision's log line */
  if (tether__session_start(r, s, &m->u.spawn, &so) < 0) {
    free(s);
    send_spawn_failed(r, id, so.stage, so.error, so.os_error, so.message);
    return;
  }
  if (m->u.spawn.timeout_ms) s->timeout_at = tether__runner_now_ms() + m->u.spawn.timeout_ms;
  /* Flow control: every stream starts with the agreed window, in both
   * directions (PROTOCOL.md §5.8); the parent's stdin credit is implicit. */
  s->out[0].credit = s->out[1].credit = r->window;
  s->in_credit = r->window;
  r->sessions[r->nsessions++] = s;

  tether_msg out;
  memset(&out, 0, sizeof out);
  out.session = id;
  out.type = TETHER_MSG_SPAWNED;
  out.u.spawned.pid = (uint64_t)s->proc.pid;
  (void)send_msg(r, &out);
}

static void write_or_queue(tether__runner *r, tether__session *s, const uint8_t *p, size_t len);

/* The most stdin bytes a session queues: the window with flow control (the
 * parent cannot send more than that ahead of the child), else the
 * configured bound. */
static size_t stdin_queue_limit(const tether__runner *r) {
  return r->flow ? (size_t)r->window : r->opt.stdin_queue_max;
}

/* Flow control: gives the parent back the stdin credit its bytes used once
 * they left the queue. Batched: a grant goes out once half the window was
 * taken (with an empty queue that is when the parent holds half a window
 * or less), so a steady stream costs one Credit per half window, and a
 * parent that ran out of credit always gets some back as soon as the child
 * has read half a window. */
static void grant_stdin(tether__runner *r, tether__session *s) {
  /* CLOSING: the parent's frames are no longer read, credit is moot. */
  if (!r->flow || s->stdin_closed || s->in_taken == 0 || r->state == TETHER__CLOSING) return;
  uint64_t half = r->window / 2 ? r->window / 2 : 1;
  if (s->in_taken < half) return;
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.session = s->id;
  m.type = TETHER_MSG_CREDIT;
  m.u.credit.stream = TETHER_STREAM_STDIN;
  m.u.credit.bytes = s->in_taken;
  s->in_credit += s->in_taken;
  s->in_taken = 0;
  (void)send_msg(r, &m);
}

static void handle_stdin(tether__runner *r, tether__session *s, const tether_msg *m) {
  const tether_bytes d = m->u.stdin_data.data;
  if (!s->stdin_pipe_mode) {
    send_error(r, s->id, TETHER_WIRE_INVALID, false, "session %u has no stdin pipe", s->id);
    return;
  }
  /* The parent's own input state machine is broken: PROTOCOL.md §6.4. */
  if (s->stdin_closed) {
    fatal(r, TETHER_WIRE_PROTOCOL, TETHER_EPROTOCOL,
          "Stdin on session %u after its StdinClose", s->id);
    return;
  }
  if (m->u.stdin_data.offset != s->stdin_offset) {
    fatal(r, TETHER_WIRE_PROTOCOL, TETHER_EPROTOCOL,
          "Stdin on session %u at offset %llu, expected %llu (bytes %s)", s->id,
          (unsigned long long)m->u.stdin_data.offset, (unsigned long long)s->stdin_offset,
          m->u.stdin_data.offset > s->stdin_offset ? "skipped" : "repeated");
    return;
  }
  if (r->flow) {
    if (d.len > s->in_credit) {
      fatal(r, TETHER_WIRE_PROTOCOL, TETHER_EPROTOCOL,
            "Stdin of %zu bytes on session %u exceeds the stdin credit granted (%llu)",
            d.len, s->id, (unsigned long long)s->in_credit);
      return;
    }
    s->in_credit -= d.len;
  } else if (s->in_len + d.len > r->opt.stdin_queue_max) {
    send_error(r, s->id, TETHER_WIRE_LIMIT, false,
               "stdin queue of session %u is full (%zu bytes queued, limit %zu)", s->id,
               s->in_len, r->opt.stdin_queue_max);
    return;
  }
  s->stdin_offset += d.len;
  s->last_in = d.data[d.len - 1]; /* where a pty's line stands (validated non-empty) */
  write_or_queue(r, s, d.data, d.len);
  grant_stdin(r, s);
}

/* Writes what the child takes now and queues the rest behind what is
 * already queued. */
static void write_or_queue(tether__runner *r, tether__session *s, const uint8_t *p, size_t len) {
  if (s->stdin_fd < 0) { /* the child closed its stdin: dropped */
    s->in_taken += len;
    return;
  }
  size_t off = 0;
  if (s->in_len == 0) {
    long n = tether__session_write_stdin(s, p, len);
    if (n < 0 && n != TETHER_EAGAIN) { /* broken: dropped */
      s->in_taken += len;
      return;
    }
    if (n > 0) off = (size_t)n;
    s->in_taken += off;
  }
  if (off < len) {
    size_t need = s->in_len + (len - off);
    if (need > s->in_cap) {
      size_t cap = s->in_cap ? s->in_cap : 4096;
      size_t limit = stdin_queue_limit(r);
      if (need > limit + 2) { /* cannot happen: handle_stdin checked the bound */
        s->in_taken += len - off;
        send_error(r, s->id, TETHER_WIRE_INTERNAL, false, "stdin queue overflow; bytes dropped");
        return;
      }
      while (cap < need) cap *= 2;
      /* +2: a terminal's end-of-input bytes (1 or 2, queued when nothing
       * else is) fit even when the limit is 1 */
      if (cap > limit + 2) cap = limit + 2;
      uint8_t *nb = realloc(s->in_buf, cap);
      if (!nb) {
        s->in_taken += len - off; /* dropped: the parent gets its credit back */
        send_error(r, s->id, TETHER_WIRE_INTERNAL, false, "out of memory for stdin");
        return;
      }
      s->in_buf = nb;
      s->in_cap = cap;
    }
    memcpy(s->in_buf + s->in_len, p + off, len - off);
    s->in_len += len - off;
  }
}

/* StdinClose, once every queued byte was written. Pipes: close the pipe.
 * PTY: write the end-of-input bytes the terminal's modes call for, decided
 * now (the program may have changed the modes while input was queued),
 * then stop taking input; the master stays open. */
static void end_input(tether__runner *r, tether__session *s) {
  uint8_t eof[2];
  size_t n = 0;
  if (!s->stdin_eof_queued && s->stdin_fd >= 0) n = tether__session_stdin_eof(s, eof);
  if (n == 0) {
    tether__session_close_stdin(s);
    return;
  }
  s->stdin_eof_queued = true;
  write_or_queue(r, s, eof, n);
  if (s->in_len == 0) tether__session_close_stdin(s);
}

void tether__runner_on_stdin_writable(tether__runner *r, tether__session *s) {
  while (s->in_len > 0 && s->stdin_fd >= 0) {
    long n = tether__session_write_stdin(s, s->in_buf, s->in_len);
    if (n == TETHER_EAGAIN) break;
    if (n < 0) break; /* broken: the session dropped the pipe */
    memmove(s->in_buf, s->in_buf + n, s->in_len - (size_t)n);
    s->in_len -= (size_t)n;
    s->in_taken += (uint64_t)n;
  }
  if (s->stdin_fd < 0) { /* dropped */
    s->in_taken += s->in_len;
    s->in_len = 0;
  }
  grant_stdin(r, s);
  if (s->in_len > 0) return;
  free(s->in_buf);
  s->in_buf = NULL;
  s->in_cap = 0;
  if (s->stdin_closed) end_input(r, s);
}

/* Credit{stream} from the parent (flow control in effect): more room for
 * that output stream. */
static void handle_credit(tether__runner *r, tether__session *s, const tether_msg *m) {
  uint32_t stream = m->u.credit.stream;
  tether__stream *st = NULL;
  for (int i = 0; i < 2; i++)
    if (s->out[i].present && s->out[i].wire == stream) st = &s->out[i];
  if (!st) {
    send_error(r, s->id, TETHER_WIRE_INVALID, false,
               "Credit for stream %u, which session %u does not have%s", stream, s->id,
               stream == TETHER_STREAM_STDIN ? " (stdin credit is the runner's to grant)" : "");
    return;
  }
  uint64_t add = m->u.credit.bytes;
  if (add > (uint64_t)r->max_window - st->credit) {
    send_error(r, s->id, TETHER_WIRE_LIMIT, false,
               "Credit of %llu bytes on session %u stream %u would leave %llu bytes "
               "outstanding, more than max_window %u; ignored",
               (unsigned long long)add, s->id, stream,
               (unsigned long long)(st->credit + (add > UINT32_MAX ? UINT32_MAX : add)),
               r->max_window);
    return;
  }
  st->credit += add;
}

static void handle_session_frame(tether__runner *r, const tether_msg *m) {
  if (m->type == TETHER_MSG_SPAWN) {
    handle_spawn(r, m);
    return;
  }
  tether__session *s = find(r, m->session);
  if (!s) {
    send_error(r, m->session, TETHER_WIRE_UNKNOWN_SESSION, false, "no session %u (%s)",
               m->session, tether_msg_type_name(m->type));
    return;
  }
  switch (m->type) {
  case TETHER_MSG_STDIN:
    handle_stdin(r, s, m);
    break;
  case TETHER_MSG_STDIN_CLOSE:
    if (!s->stdin_pipe_mode) {
      send_error(r, s->id, TETHER_WIRE_INVALID, false, "session %u has no stdin pipe", s->id);
      break;
    }
    if (s->stdin_closed) {
      fatal(r, TETHER_WIRE_PROTOCOL, TETHER_EPROTOCOL, "second StdinClose on session %u",
            s->id);
      break;
    }
    s->stdin_closed = true;
    if (s->in_len == 0) end_input(r, s);
    break;
  case TETHER_MSG_CREDIT:
    handle_credit(r, s, m);
    break;
  case TETHER_MSG_RESIZE: {
    uint32_t rows = m->u.resize.rows, cols = m->u.resize.cols;
    int rc = tether__session_resize(s, rows, cols);
    if (rc == TETHER_EINVAL)
      send_error(r, s->id, TETHER_WIRE_INVALID, false,
                 "Resize %ux%u on session %u: %s", rows, cols, s->id,
                 s->out[0].wire == TETHER_STREAM_PTY
                     ? "rows and cols must be in 1..32767"
                     : "not a terminal session");
    else if (rc < 0) /* UNSUPPORTED: a console that cannot resize (Wine's ConPTY) */
      send_error(r, s->id,
                 rc == TETHER_EUNSUPPORTED ? TETHER_WIRE_UNSUPPORTED : TETHER_WIRE_INTERNAL, false,
                 "Resize on session %u failed: %s", s->id, tether_strerror(rc));
    break;
  }
  case TETHER_MSG_SIGNAL: {
    /* Every portable number has a POSIX signal, so a number without a
     * mapping is 0 or unknown: INVALID (PROTOCOL.md §5.6). */
    int sig = tether__signal_to_os(m->u.signal.signal);
    if (sig < 0) { /* known, but the platform cannot deliver it (Windows) */
      send_error(r, s->id, TETHER_WIRE_UNSUPPORTED, false,
                 "signal %u cannot be delivered on this platform", m->u.signal.signal);
      break;
    }
    if (!sig) {
      send_error(r, s->id, TETHER_WIRE_INVALID, false, "signal %u is %s", m->u.signal.signal,
                 m->u.signal.signal ? "not a known SignalNumber" : "SIGNAL_UNSPECIFIED");
      break;
    }
    tether__session_signal(s, sig, m->u.signal.group);
    break;
  }
  case TETHER_MSG_TERMINATE:
    terminate(r, s, m->u.terminate.grace_ms ? m->u.terminate.grace_ms
                                            : r->opt.terminate_grace_ms);
    break;
  case TETHER_MSG_STATUS_REQUEST: {
    tether_msg out;
    memset(&out, 0, sizeof out);
    out.session = s->id;
    out.type = TETHER_MSG_STATUS_REPLY;
    out.u.status_reply.running = !s->proc.reaped;
    out.u.status_reply.pid = (uint64_t)s->proc.pid;
    (void)send_msg(r, &out);
    break;
  }
  default:
    break;
  }
}

static void handle_hello(tether__runner *r, const tether_msg *m) {
  if (m->type == TETHER_MSG_ERROR) { /* ends the handshake; never answered */
    char text[256];
    tether__escape(text, sizeof text, m->u.error.message.data, m->u.error.message.len, 0);
    tether__runner_close(r, m->u.error.code == TETHER_WIRE_VERSION_UNSUPPORTED
                                ? TETHER_EVERSION : TETHER_EPROTOCOL,
                         "the parent ended the handshake with an error: %s", text);
    return;
  }
  if (m->type != TETHER_MSG_HELLO) {
    fatal(r, TETHER_WIRE_PROTOCOL, TETHER_EPROTOCOL,
          "expected Hello as the first frame, got %s", tether_msg_type_name(m->type));
    return;
  }
  if (m->session != 0) {
    fatal(r, TETHER_WIRE_PROTOCOL, TETHER_EPROTOCOL, "Hello on session %u, not 0", m->session);
    return;
  }
  char msg[256];
  tether_agreement ag;
  int rc = tether_hello_agree(&r->hello, &m->u.hello, TETHER_ROLE_PARENT, &ag, msg, sizeof msg);
  if (rc == TETHER_EVERSION) {
    fatal(r, TETHER_WIRE_VERSION_UNSUPPORTED, TETHER_EVERSION, "%s", msg);
    return;
  }
  if (rc < 0) {
    fatal(r, TETHER_WIRE_PROTOCOL, TETHER_EPROTOCOL, "bad Hello: %s", msg);
    return;
  }
  r->max_frame_out = ag.max_frame_out;
  r->sandbox.version = ag.version; /* profiles are honoured from version 2 */
  tether_channel_set_limits(r->ch, r->opt.max_frame_size, ag.max_frame_out);
  /* Flow control only when both Hellos list it (PROTOCOL.md §4, §5.8);
   * otherwise the channel's queued output is the only output bound and
   * stdin_queue_max the stdin bound. */
  r->flow = (ag.peer_capabilities & TETHER_CAP_BIT(TETHER_CAP_FLOW_CONTROL)) != 0;
  r->window = ag.initial_window;
  r->max_window = ag.max_window;
  size_t chunk = ag.max_frame_out - TETHER__OUTPUT_OVERHEAD;
  r->read_chunk = chunk < TETHER__RUNNER_READ_CHUNK ? chunk : TETHER__RUNNER_READ_CHUNK;
  r->state = TETHER__READY;
  r->handshake_deadline = 0;
}

/* An Error from the parent is never answered (PROTOCOL.md §5.10). PROTOCOL,
 * VERSION_UNSUPPORTED and TIMEOUT end the connection whatever `fatal`
 * says; any other code (an unknown one too) ends it only if fatal. */
static void on_error_frame(tether__runner *r, const tether_msg *m) {
  uint32_t code = m->u.error.code;
  if (!m->u.error.fatal && code != TETHER_WIRE_PROTOCOL &&
      code != TETHER_WIRE_VERSION_UNSUPPORTED && code != TETHER_WIRE_TIMEOUT)
    return;
  char text[256];
  tether__escape(text, sizeof text, m->u.error.message.data, m->u.error.message.len, 0);
  tether__runner_close(r, code == TETHER_WIRE_VERSION_UNSUPPORTED ? TETHER_EVERSION
                          : code == TETHER_WIRE_TIMEOUT           ? TETHER_ETIMEDOUT
                                                                  : TETHER_EPROTOCOL,
                       "the parent sent a fatal error (code %u): %s", code, text);
}

/* A session frame from the parent that parsed but broke a limit or a value
 * rule: the decoder kept its session and type, so the answer goes to that
 * session and the connection carries on. Returns false if the frame was not
 * such a frame (then it is a protocol error). */
static bool refuse_invalid(tether__runner *r, const tether_msg *m, int rc, const char *why) {
  if (rc == TETHER_EDECODE || rc == TETHER_ENOMEM || r->state != TETHER__READY ||
      m->session == 0)
    return false;
  bool limit = rc != TETHER_EINVAL;
  if (m->type == TETHER_MSG_CREDIT && !r->flow) return true; /* ignored (§5.8) */
  switch (m->type) {
  case TETHER_MSG_SPAWN:
    if (find(r, m->session))
      send_error(r, m->session, TETHER_WIRE_SESSION_EXISTS, false,
                 "session %u is still running", m->session);
    else
      send_spawn_failed(r, m->session, limit ? TETHER_STAGE_LIMITS : TETHER_STAGE_REQUEST,
                        limit ? TETHER_SPAWN_ERR_LIMIT : TETHER_SPAWN_ERR_INVALID, 0, why);
    return true;
  case TETHER_MSG_STDIN:
  case TETHER_MSG_STDIN_CLOSE:
  case TETHER_MSG_RESIZE:
  case TETHER_MSG_SIGNAL:
  case TETHER_MSG_TERMINATE:
  case TETHER_MSG_CREDIT:
  case TETHER_MSG_STATUS_REQUEST:
    send_error(r, m->session, limit ? TETHER_WIRE_LIMIT : TETHER_WIRE_INVALID, false,
               "%s: %s", tether_msg_type_name(m->type), why);
    return true;
  default:
    return false;
  }
}

static void handle_payload(tether__runner *r, const uint8_t *p, size_t n) {
  tether_msg m;
  const char *why = NULL;
  int rc = tether_nanopb_decode(r->dec, p, n, &m, &why);
  if (rc < 0 && refuse_invalid(r, &m, rc, why ? why : tether_strerror(rc))) return;
  if (rc < 0 && m.type == TETHER_MSG_ERROR) {
    /* Its text is not UTF-8 or too long: undecodable, but an Error is never
     * answered with one (§5.10), so the connection just ends. */
    tether__runner_close(r, TETHER_EPROTOCOL, "the parent sent an Error that does not "
                         "decode: %s", why ? why : tether_strerror(rc));
    return;
  }
  if (rc < 0) {
    fatal(r, TETHER_WIRE_PROTOCOL, TETHER_EPROTOCOL, "bad frame from the parent: %s (%s)",
          why ? why : "does not decode", tether_err_name(rc));
    return;
  }
  if (r->state == TETHER__HANDSHAKE) {
    handle_hello(r, &m);
    return;
  }
  switch (m.type) {
  case TETHER_MSG_NONE:
    send_error(r, m.session, TETHER_WIRE_UNSUPPORTED, false,
               "frame with no body or an unknown body type");
    return;
  case TETHER_MSG_HELLO:
    fatal(r, TETHER_WIRE_PROTOCOL, TETHER_EPROTOCOL, "second Hello");
    return;
  case TETHER_MSG_GOODBYE:
    r->goodbye = true; /* ours goes out once the sessions ended (§9) */
    tether__runner_close(r, 0, NULL);
    return;
  case TETHER_MSG_ERROR:
    on_error_frame(r, &m);
    return;
  case TETHER_MSG_CREDIT:
    /* Without flow control every Credit is ignored, even one for a session
     * that is not live (§5.8). */
    if (!r->flow) return;
    break;
  case TETHER_MSG_SPAWNED:
  case TETHER_MSG_SPAWN_FAILED:
  case TETHER_MSG_OUTPUT:
  case TETHER_MSG_OUTPUT_TRUNCATED:
  case TETHER_MSG_STATUS_REPLY:
  case TETHER_MSG_EXITED:
    fatal(r, TETHER_WIRE_PROTOCOL, TETHER_EPROTOCOL, "%s is a runner-to-parent frame",
          tether_msg_type_name(m.type));
    return;
  default:
    break;
  }
  if (m.session == 0) {
    fatal(r, TETHER_WIRE_PROTOCOL, TETHER_EPROTOCOL, "%s on session 0 (the connection)",
          tether_msg_type_name(m.type));
    return;
  }
  handle_session_frame(r, &m);
}

void tether__runner_on_input(tether__runner *r) {
  while (!r->input_done && !tether__runner_input_blocked(r)) {
    const uint8_t *p;
    size_t n;
    int rc = tether_channel_recv(r->ch, &p, &n);
    if (rc == 0) return;
    if (rc == 1) {
      handle_payload(r, p, n);
      continue;
    }
    switch (rc) {
    case TETHER_ECLOSED:
      if (r->state == TETHER__HANDSHAKE)
        tether__runner_close(r, TETHER_ECLOSED, "the parent closed the connection before its Hello");
      else
        tether__runner_close(r, 0, NULL);
      break;
    case TETHER_EPREFACE:
      fatal(r, TETHER_WIRE_PROTOCOL, TETHER_EPREFACE,
            "not a tether peer: the parent's first bytes are not the tether preface");
      break;
    case TETHER_EFRAME_EMPTY:
    case TETHER_EFRAME_TOO_LARGE:
      fatal(r, TETHER_WIRE_PROTOCOL, TETHER_EPROTOCOL, "%s", tether_channel_error(r->ch));
      break;
    case TETHER_ETRUNCATED:
      tether__runner_close(r, rc, "the parent closed the connection in the middle of a frame");
      break;
    default:
      tether__runner_close(r, rc, "reading from the parent failed: %s", tether_channel_error(r->ch));
      break;
    }
    return;
  }
}

/* ------------------------------------------------------------ output */

static void emit(tether__runner *r, tether__session *s, tether__stream *st,
                 const uint8_t *data, size_t n) {
  size_t send = n;
  if (st->capped) {
    if (send > st->cap) send = (size_t)st->cap;
    st->cap -= send;
    st->dropped += n - send;
  }
  /* Flow control: only CLOSING reads past the credit (no Credit can come
   * any more, and the pipes must drain to end of file); those bytes come
   * after the stream's last Output and are discarded. */
  if (r->flow) {
    if (send > st->credit) send = (size_t)st->credit;
    st->credit -= send;
  }
  if (send == 0) return;
  if (!r->stop_output) {
    tether_msg m;
    memset(&m, 0, sizeof m);
    m.session = s->id;
    m.type = TETHER_MSG_OUTPUT;
    m.u.output.stream = st->wire;
    m.u.output.data.data = data;
    m.u.output.data.len = send;
    m.u.output.offset = st->offset;
    (void)send_msg(r, &m);
  }
  st->offset += send;
}

/* How many bytes stream `st` may read now: a chunk, or (flow control) no
 * more than the credit covers. Bytes past a cap cost no credit, so once the
 * cap is within the credit a full chunk may be read; a capped stream whose
 * cap is used up drains freely, so the child never blocks on it. */
static size_t read_size(const tether__runner *r, const tether__stream *st) {
  size_t n = r->read_chunk;
  if (!r->flow || r->state == TETHER__CLOSING) return n;
  if (st->capped && st->cap <= st->credit) return n;
  return st->credit < n ? (size_t)st->credit : n;
}

bool tether__runner_stream_wanted(const tether__runner *r, const tether__session *s, int i) {
  const tether__stream *st = &s->out[i];
  return st->fd >= 0 && read_size(r, st) > 0;
}

void tether__runner_on_output(tether__runner *r, tether__session *s, int i) {
  tether__stream *st = &s->out[i];
  for (int k = 0; k < TETHER__READS_PER_TURN && st->fd >= 0; k++) {
    if (tether__runner_backpressured(r)) return;
    size_t want = read_size(r, st);
    if (want == 0) return; /* out of credit: the child's bytes wait in its pipe */
    long n = tether__session_read(s, i, r->read_buf, want);
    if (n == TETHER_EAGAIN) return;
    if (n <= 0) {
      tether__session_close_stream(s, i); /* EOF (or an error, treated as EOF) */
      return;
    }
    emit(r, s, st, r->read_buf, (size_t)n);
    /* After a short read from a drained stream the next read could only
     * say EAGAIN (the platform layer knows when that holds). */
    if ((size_t)n < want && tether__session_short_read_drains(s, i)) return;
  }
}

static void finish(tether__runner *r, tether__session *s) {
  if (!r->stop_output) {
    tether_msg m;
    for (int i = 0; i < 2; i++) {
      if (!s->out[i].dropped) continue;
      memset(&m, 0, sizeof m);
      m.session = s->id;
      m.type = TETHER_MSG_OUTPUT_TRUNCATED;
      m.u.output_truncated.stream = s->out[i].wire;
      m.u.output_truncated.dropped = s->out[i].dropped;
      (void)send_msg(r, &m);
    }
    memset(&m, 0, sizeof m);
    m.session = s->id;
    m.type = TETHER_MSG_EXITED;
    tether__session_exit_info(s, &m.u.exited);
    m.u.exited.timed_out = s->timed_out;
    if (s->timed_out) m.u.exited.limit = TETHER_LIMIT_WALL_TIMEOUT;
    if (r->sandbox.version < TETHER_PROTOCOL_VERSION_LIMITS) { /* version 3 fields */
      m.u.exited.limit = TETHER_LIMIT_NONE;
      m.u.exited.tree_peak_memory_bytes = m.u.exited.tree_cpu_us = 0;
    }
    (void)send_msg(r, &m);
  }
  tether__session_release(s);
  free(s->in_buf);
  free(s);
}

void tether__runner_say_goodbye(tether__runner *r) {
  if (!tether__runner_done(r) || !r->goodbye || r->goodbye_sent || r->stop_output ||
      r->channel_dead)
    return;
  r->goodbye_sent = true;
  static const char reason[] = "goodbye";
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.type = TETHER_MSG_GOODBYE;
  m.u.goodbye.reason.data = (const uint8_t *)reason;
  m.u.goodbye.reason.len = sizeof reason - 1;
  (void)send_msg(r, &m);
}

void tether__runner_reap_finished(tether__runner *r) {
  for (size_t i = r->nsessions; i-- > 0;) {
    tether__session *s = r->sessions[i];
    if (!s->proc.reaped || s->out[0].fd >= 0 || s->out[1].fd >= 0) continue;
    r->sessions[i] = r->sessions[--r->nsessions];
    r->sessions[r->nsessions] = NULL;
    finish(r, s);
  }
  tether__runner_say_goodbye(r);
}

/* ------------------------------------------------------------ timers */

static void next_timer(uint64_t at, uint64_t now, int64_t *best) {
  if (!at) return;
  int64_t d = at > now ? (int64_t)(at - now) : 0;
  if (*best < 0 || d < *best) *best = d;
}

int tether__runner_on_timers(tether__runner *r, uint64_t now) {
  int64_t best = -1;
  if (r->state == TETHER__HANDSHAKE && r->handshake_deadline) {
    if (now >= r->handshake_deadline) {
      fatal(r, TETHER_WIRE_TIMEOUT, TETHER_ETIMEDOUT,
            "no Hello from the parent within %u ms", r->opt.handshake_timeout_ms);
    } else {
      next_timer(r->handshake_deadline, now, &best);
    }
  }
  for (size_t i = 0; i < r->nsessions; i++) {
    tether__session *s = r->sessions[i];
    if (s->timeout_at && now >= s->timeout_at) {
      s->timeout_at = 0;
      if (!s->proc.reaped) {
        s->timed_out = true;
        terminate(r, s, r->opt.terminate_grace_ms);
      }
    }
    if (s->limits_poll_at && now >= s->limits_poll_at)
      s->limits_poll_at = tether__session_poll_limits(s, now);
    if (s->kill_at && now >= s->kill_at) {
      s->kill_at = 0;
      tether__session_kill_now(s);
      s->abandon_at = now + ABANDON_MS;
    }
    if (s->abandon_at && now >= s->abandon_at) {
      s->abandon_at = 0;
      /* The group is dead and the child reaped, yet a pipe is still open:
       * a process that left the group (setsid) holds it. Stop waiting, so
       * Exited goes out and the session's slot is freed (PROTOCOL.md §6.3). */
      if (s->proc.reaped) {
        tether__session_close_stream(s, 0);
        tether__session_close_stream(s, 1);
      }
    }
    next_timer(s->timeout_at, now, &best);
    next_timer(s->kill_at, now, &best);
    next_timer(s->abandon_at, now, &best);
    next_timer(s->limits_poll_at, now, &best);
  }
  if (r->state == TETHER__CLOSING && r->nsessions) {
    if (!r->shutdown_killed && now >= r->shutdown_kill_at) {
      r->shutdown_killed = true;
      for (size_t i = 0; i < r->nsessions; i++) tether__session_kill_now(r->sessions[i]);
    }
    if (now >= r->shutdown_abandon_at) {
      /* Pipes still held by processes that left the group, or output the
       * parent will not read: stop waiting for them. */
      for (size_t i = 0; i < r->nsessions; i++) {
        tether__session *s = r->sessions[i];
        tether__session_close_stream(s, 0);
        tether__session_close_stream(s, 1);
        tether__session_kill_now(s);
        tether__proc_reap_blocking(&s->proc);
      }
    } else {
      next_timer(r->shutdown_killed ? r->shutdown_abandon_at : r->shutdown_kill_at, now, &best);
    }
  }
  if (best > 60000) best = 60000;
  return (int)best;
}
