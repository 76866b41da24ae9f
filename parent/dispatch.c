/* Runner → parent frames: every one is checked against the protocol's
 * state machine before anything is delivered, because the runner is not
 * trusted. A violation ends the connection (Error{PROTOCOL, fatal}); it
 * never crashes the parent or reaches the embedder as bad data. */
#include "parent_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "transport/escape.h"

static const char *stream_name(uint32_t stream) {
  switch (stream) {
    case TETHER_STREAM_STDOUT: return "stdout";
    case TETHER_STREAM_STDERR: return "stderr";
    case TETHER_STREAM_PTY: return "pty";
    case TETHER_STREAM_STDIN: return "stdin";
    default: return "unknown";
  }
}

/* ------------------------------------------------------------ lifetime */

void tether__parent_session_release(tether_parent *p, tether_session *s) {
  tether__parent_table_del(p, s);
  if (s->prev) s->prev->next = s->next;
  else p->head = s->next;
  if (s->next) s->next->prev = s->prev;
  if (s->state != TETHER__S_DONE && p->active > 0) p->active--;
  free(s->in);
  free(s);
}

void tether__parent_session_done(tether_parent *p, tether_session *s, int result) {
  if (s->state == TETHER__S_DONE) return;
  s->state = TETHER__S_DONE;
  s->result = result;
  if (p->active > 0) p->active--;
  /* Unsent stdin has nowhere to go. */
  free(s->in);
  s->in = NULL;
  s->in_head = s->in_len = s->in_cap = 0;
}

/* Sessions the embedder freed and that are over are released once no
 * callback is running (a callback may free any session, even its own). */
static void sweep(tether_parent *p) {
  tether_session *s = p->head;
  while (s) {
    tether_session *next = s->next;
    if (s->detached && s->state == TETHER__S_DONE) tether__parent_session_release(p, s);
    s = next;
  }
}

/* Whether the embedder hears about `s` through callbacks. */
static int listening(const tether_session *s) { return !s->detached && !s->capture; }

/* ---------------------------------------------------------- connection */

static void describe_end(tether_parent *p, char *buf, size_t len) {
  char desc[128] = "";
  if (p->runner_pid >= 0) {
    tether__parent_reap_runner(p, TETHER__PARENT_REAP_GRACE_MS);
    tether__parent_describe_runner(p, desc, sizeof desc);
  }
  if (desc[0]) snprintf(buf, len, "runner %s", desc);
  else if (p->runner_pid >= 0) snprintf(buf, len, "runner exited (closed the channel)");
  else snprintf(buf, len, "runner closed the connection");
}

void tether__parent_fail(tether_parent *p, int code, int wire_code, const char *message) {
  char conn_msg[sizeof p->msg];
  char sess_msg[sizeof p->msg];
  if (p->dead) return;
  snprintf(conn_msg, sizeof conn_msg, "%s", message);
  p->dead = 1;
  if (wire_code) {
    tether_msg m;
    memset(&m, 0, sizeof m);
    m.type = TETHER_MSG_ERROR;
    m.u.error.code = (uint32_t)wire_code;
    m.u.error.message.data = (const uint8_t *)conn_msg;
    m.u.error.message.len = strlen(conn_msg);
    if (m.u.error.message.len > TETHER_MESSAGE_MAX_BYTES)
      m.u.error.message.len = tether__parent_utf8_cut(conn_msg, TETHER_MESSAGE_MAX_BYTES);
    m.u.error.fatal = true;
    size_t size = tether_pbc_encoded_size(&m);
    int rc;
    uint8_t *buf = size ? tether_channel_reserve(p->ch, size, &rc) : NULL;
    if (buf) {
      size_t w = 0;
      if (tether_pbc_encode(&m, buf, size, &w, NULL) == 0) tether_channel_commit(p->ch, w);
      else tether_channel_commit(p->ch, 0);
      int t = p->o.write_timeout_ms < 1000 ? p->o.write_timeout_ms : 1000;
      tether_channel_flush_wait(p->ch, t);
    }
  }
  tether_channel_shutdown_write(p->ch);

  int scode = code == TETHER_EPROTOCOL ? TETHER_EPROTOCOL : TETHER_ECLOSED;
  snprintf(sess_msg, sizeof sess_msg, "%s", conn_msg);

  p->in_callback++;
  if (p->o.callbacks.on_error) {
    p->o.callbacks.on_error(p, NULL, code, conn_msg, p->o.userdata);
    p->events++;
  }
  for (tether_session *s = p->head; s; s = s->next) {
    if (s->state == TETHER__S_DONE) continue;
    tether__parent_session_done(p, s, scode);
    if (listening(s) && p->o.callbacks.on_error) {
      p->o.callbacks.on_error(p, s, scode, sess_msg, p->o.userdata);
      p->events++;
    }
  }
  p->in_callback--;
  tether_channel_free(p->ch);
  p->ch = NULL;
  p->closed = 1;
  sweep(p);
}

/* A protocol violation: fatal. */
TETHER__PRINTF(2, 3)
static void violation(tether_parent *p, const char *fmt, ...) {
  char buf[sizeof p->msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  tether__parent_fail(p, TETHER_EPROTOCOL, TETHER_WIRE_PROTOCOL, buf);
}

static void on_recv_error(tether_parent *p, int rc) {
  char buf[sizeof p->msg];
  switch (rc) {
    case TETHER_ECLOSED:
    case TETHER_ETRUNCATED:
    case TETHER_EIO:
      describe_end(p, buf, sizeof buf);
      if (rc == TETHER_ETRUNCATED) {
        size_t n = strlen(buf);
        snprintf(buf + n, sizeof buf - n, " in the middle of a frame");
      }
      tether__parent_fail(p, TETHER_ECLOSED, 0, buf);
      break;
    default:
      violation(p, "runner sent a bad frame: %s (%s)", tether_channel_error(p->ch),
                tether_err_name(rc));
      break;
  }
}

/* ------------------------------------------------------------- deliver */

static void deliver_output(tether_parent *p, tether_session *s, uint32_t stream,
                           const uint8_t *data, size_t len) {
  if (s->capture) {
    tether__capture *c = s->capture;
    int i = stream == TETHER_STREAM_STDERR;
    size_t room = c->max[i] - c->len[i];
    size_t n = len < room ? len : room;
    if (n < len) c->truncated[i] = 1;
    if (n > 0) {
      if (c->len[i] + n + 1 > c->cap[i]) {
        size_t ncap = c->cap[i] ? c->cap[i] : 4096;
        while (ncap < c->len[i] + n + 1) ncap *= 2;
        uint8_t *nb = realloc(c->buf[i], ncap);
        if (!nb) {
          c->truncated[i] = 1;
          return;
        }
        c->buf[i] = nb;
        c->cap[i] = ncap;
      }
      memcpy(c->buf[i] + c->len[i], data, n);
      c->len[i] += n;
    }
    return;
  }
  if (!listening(s) || !p->o.callbacks.on_output) return;
  p->in_callback++;
  p->o.callbacks.on_output(s, (int)stream, data, len, p->o.userdata);
  p->in_callback--;
  p->events++;
}

/* ------------------------------------------------------ session frames */

/* A pipes session has stdout and stderr (only stdout with merge_stderr);
 * a pty session only STREAM_PTY (docs/PROTOCOL.md §5.5). */
static int stream_valid(const tether_session *s, uint32_t stream) {
  if (s->pty) return stream == TETHER_STREAM_PTY;
  if (stream == TETHER_STREAM_STDOUT) return 1;
  if (stream == TETHER_STREAM_STDERR) return !s->merge_stderr;
  return 0;
}

static void reply_error(tether_parent *p, uint32_t session, uint32_t wire,
                        const char *text) {
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.session = session;
  m.type = TETHER_MSG_ERROR;
  m.u.error.code = wire;
  m.u.error.message.data = (const uint8_t *)text;
  m.u.error.message.len = strlen(text);
  tether__parent_send(p, &m, 1);
}

/* An Output or OutputTruncated on a stream the session does not have (or
 * an unknown value): a well-formed frame with a bad value, so
 * Error{INVALID} and the frame is ignored (PROTOCOL.md §6.4); no byte of a
 * stream the session has is lost. */
static int check_stream(tether_parent *p, tether_session *s, const char *what,
                        uint32_t stream) {
  if (stream_valid(s, stream)) return 1;
  const char *text;
  if (s->pty)
    text = tether__parent_fmt(p, "%s on stream %u (%s) for session %u, a terminal (pty) "
                              "session, which only has pty output; ignored", what, stream,
                              stream_name(stream), s->id);
  else if (stream == TETHER_STREAM_STDERR)
    text = tether__parent_fmt(p, "%s on stderr for session %u, whose stderr is merged "
                              "into stdout; ignored", what, s->id);
  else
    text = tether__parent_fmt(p, "%s on stream %u (%s) for session %u, which only has "
                              "stdout and stderr; ignored", what, stream, stream_name(stream),
                              s->id);
  reply_error(p, s->id, TETHER_WIRE_INVALID, text);
  return 0;
}

static void on_spawned(tether_parent *p, tether_session *s, const tether_msg *m) {
  if (s->state != TETHER__S_PENDING) {
    violation(p, "runner sent Spawned for session %u, which was already %s", s->id,
              s->state == TETHER__S_RUNNING ? "reported Spawned" : "over");
    return;
  }
  s->state = TETHER__S_RUNNING;
  if (!listening(s) || !p->o.callbacks.on_spawned) return;
  p->in_callback++;
  p->o.callbacks.on_spawned(s, m->u.spawned.pid, p->o.userdata);
  p->in_callback--;
  p->events++;
}

static void on_spawn_failed(tether_parent *p, tether_session *s, const tether_msg *m) {
  if (s->state != TETHER__S_PENDING) {
    violation(p, "runner sent SpawnFailed for session %u after %s", s->id,
              s->state == TETHER__S_RUNNING ? "Spawned" : "it was over");
    return;
  }
  const tether_msg_spawn_failed *f = &m->u.spawn_failed;
  tether_spawn_failure sf;
  sf.stage = (int)f->stage;
  sf.error = (int)f->error;
  sf.os_error = f->os_error;
  sf.os_error_space = (int)f->os_error_space;
  sf.message = (const char *)f->message.data;
  sf.message_len = f->message.len;
  tether__parent_session_done(p, s, TETHER_ESPAWN);
  if (s->capture) {
    tether__capture *c = s->capture;
    c->failure = sf;
    c->failure_msg = malloc(sf.message_len + 1);
    if (c->failure_msg) {
      memcpy(c->failure_msg, sf.message ? sf.message : "", sf.message_len);
      c->failure_msg[sf.message_len] = '\0';
      c->failure.message = c->failure_msg;
    } else {
      c->failure.message = NULL;
      c->failure.message_len = 0;
    }
    return;
  }
  if (!listening(s) || !p->o.callbacks.on_spawn_failed) return;
  p->in_callback++;
  p->o.callbacks.on_spawn_failed(s, &sf, p->o.userdata);
  p->in_callback--;
  p->events++;
}

static const char *state_word(const tether_session *s) {
  return s->state == TETHER__S_PENDING ? "before Spawned" : "after it was over";
}

static void on_output(tether_parent *p, tether_session *s, const tether_msg *m) {
  const tether_msg_output *o = &m->u.output;
  if (s->state != TETHER__S_RUNNING) {
    violation(p, "runner sent Output for session %u %s", s->id, state_word(s));
    return;
  }
  if (!check_stream(p, s, "Output", o->stream)) return;
  int i = o->stream == TETHER_STREAM_STDERR;
  if (s->truncated[i]) {
    violation(p, "runner sent %s Output for session %u after that stream's "
              "OutputTruncated", stream_name(o->stream), s->id);
    return;
  }
  if (o->data.len == 0) { /* decode refuses it first (on_undecodable): a backstop */
    reply_error(p, s->id, TETHER_WIRE_INVALID, "empty Output.data; ignored");
    return;
  }
  if (o->offset != s->next_off[i]) {
    violation(p, "runner sent %s Output for session %u at offset %llu, expected %llu "
              "(bytes %s)", stream_name(o->stream), s->id,
              (unsigned long long)o->offset, (unsigned long long)s->next_off[i],
              o->offset > s->next_off[i] ? "skipped" : "repeated");
    return;
  }
  if (s->has_cap[i] && (o->data.len > s->cap[i] || o->offset > s->cap[i] - o->data.len)) {
    violation(p, "runner sent %s Output for session %u past its cap of %llu bytes",
              stream_name(o->stream), s->id, (unsigned long long)s->cap[i]);
    return;
  }
  if (p->flow && s->consumed[i] + o->data.len > (uint64_t)p->window) {
    violation(p, "runner sent %s Output for session %u beyond the credit it had",
              stream_name(o->stream), s->id);
    return;
  }
  s->next_off[i] += o->data.len;
  if (i) s->status.stderr_bytes += o->data.len;
  else s->status.stdout_bytes += o->data.len;
  s->consumed[i] += o->data.len;
  deliver_output(p, s, o->stream, o->data.data, o->data.len);
  /* Credit goes back once a quarter window was consumed: the runner still
   * holds credit for the rest, so it is never starved, and a small
   * delivery does not cost it a wakeup. */
  if (!p->dead) tether__parent_grant(p, s);
}

static void on_truncated(tether_parent *p, tether_session *s, const tether_msg *m) {
  uint32_t stream = m->u.output_truncated.stream;
  if (s->state != TETHER__S_RUNNING) {
    violation(p, "runner sent OutputTruncated for session %u %s", s->id, state_word(s));
    return;
  }
  if (!check_stream(p, s, "OutputTruncated", stream)) return;
  int i = stream == TETHER_STREAM_STDERR;
  if (!s->has_cap[i]) {
    violation(p, "runner sent OutputTruncated on %s for session %u, which has no cap",
              stream_name(stream), s->id);
    return;
  }
  if (s->truncated[i]) {
    violation(p, "runner sent a second OutputTruncated on %s for session %u",
              stream_name(stream), s->id);
    return;
  }
  s->truncated[i] = 1;
  uint64_t *d = i ? &s->status.stderr_dropped : &s->status.stdout_dropped;
  uint64_t add = m->u.output_truncated.dropped;
  *d = (UINT64_MAX - *d < add) ? UINT64_MAX : *d + add;
}

static void on_credit(tether_parent *p, tether_session *s, const tether_msg *m) {
  if (!p->flow) return; /* not negotiated: Credit frames are ignored (§5.8) */
  if (s->state == TETHER__S_DONE) {
    violation(p, "runner sent Credit for session %u after it was over", s->id);
    return;
  }
  if (m->u.credit.stream != TETHER_STREAM_STDIN || s->stdin_null) {
    /* A well-formed frame with a bad value: Error{INVALID}, ignored. */
    const char *text =
        m->u.credit.stream != TETHER_STREAM_STDIN
            ? tether__parent_fmt(p, "Credit for stream %u (%s) on session %u; a runner "
                                 "grants stdin credit only", m->u.credit.stream,
                                 stream_name(m->u.credit.stream), s->id)
            : tether__parent_fmt(p, "Credit{STDIN} on session %u, whose stdin is the null "
                                 "device; ignored", s->id);
    reply_error(p, s->id, TETHER_WIRE_INVALID, text);
    return;
  }
  /* Outstanding credit never exceeds max_window: a grant that would pass it
   * is refused whole, as the runner refuses output credit (§5.8). */
  uint64_t add = m->u.credit.bytes;
  if (s->in_credit > p->max_window || add > p->max_window - s->in_credit) {
    const char *text = tether__parent_fmt(
        p, "Credit of %llu stdin bytes on session %u would leave more than max_window %u "
        "outstanding (%llu now); ignored", (unsigned long long)add, s->id, p->max_window,
        (unsigned long long)s->in_credit);
    reply_error(p, s->id, TETHER_WIRE_LIMIT, text);
    return;
  }
  s->in_credit += add;
}

static void on_status_reply(tether_parent *p, tether_session *s, const tether_msg *m) {
  if (s->state == TETHER__S_DONE) {
    violation(p, "runner sent StatusReply for session %u after it was over", s->id);
    return;
  }
  if (s->status_pending == 0) {
    violation(p, "runner sent StatusReply for session %u, which asked for none", s->id);
    return;
  }
  s->status_pending--;
  if (!listening(s) || !p->o.callbacks.on_status) return;
  p->in_callback++;
  p->o.callbacks.on_status(s, m->u.status_reply.running, m->u.status_reply.pid,
                           p->o.userdata);
  p->in_callback--;
  p->events++;
}

static void on_exited(tether_parent *p, tether_session *s, const tether_msg *m) {
  if (s->state != TETHER__S_RUNNING) {
    if (s->state == TETHER__S_PENDING)
      violation(p, "runner sent Exited for session %u before Spawned", s->id);
    else
      violation(p, "runner sent a second Exited (or Exited after SpawnFailed) for "
                "session %u", s->id);
    return;
  }
  const tether_msg_exited *e = &m->u.exited;
  if (e->no_status) {
    /* Invalid (§5.9): Error{INVALID}, and the session is over with no
     * status. It must never read as "exited 0" because a field was missing. */
    const char *text = tether__parent_fmt(
        p, "Exited for session %u with neither code nor signal; the session is over, "
        "its exit status unknown", s->id);
    reply_error(p, s->id, TETHER_WIRE_INVALID, text);
    if (p->dead) return;
    tether__parent_session_done(p, s, TETHER_EPROTOCOL);
    if (!listening(s) || !p->o.callbacks.on_error) return;
    char buf[sizeof p->msg];
    snprintf(buf, sizeof buf, "runner sent %s", text);
    p->in_callback++;
    p->o.callbacks.on_error(p, s, TETHER_EPROTOCOL, buf, p->o.userdata);
    p->in_callback--;
    p->events++;
    return;
  }
  tether_exit_status *st = &s->status;
  st->exited = !e->signaled;
  st->signaled = e->signaled;
  st->code = e->signaled ? 0 : e->code;
  st->signal = e->signaled ? (int)e->signal : 0;
  st->raw_signal = e->raw_signal;
  st->core_dumped = e->core_dumped;
  st->timed_out = e->timed_out;
  st->has_usage = e->has_usage;
  st->user_time_us = e->user_time_us;
  st->system_time_us = e->system_time_us;
  st->max_rss_kib = e->max_rss_kib;
  /* Version 3 fields: an older runner cannot mean them. timed_out and
   * limit WALL_TIMEOUT say the same (a version-2 runner sends only the
   * first). */
  bool v3 = p->version >= TETHER_PROTOCOL_VERSION_LIMITS;
  st->tree_peak_memory_bytes = v3 ? e->tree_peak_memory_bytes : 0;
  st->tree_cpu_us = v3 ? e->tree_cpu_us : 0;
  st->limit = v3 ? e->limit : TETHER_LIMIT_NONE;
  if (!st->limit && e->timed_out) st->limit = TETHER_LIMIT_WALL_TIMEOUT;
  if (st->limit == TETHER_LIMIT_WALL_TIMEOUT) st->timed_out = 1;
  tether__parent_session_done(p, s, 0);
  if (!listening(s) || !p->o.callbacks.on_exit) return;
  p->in_callback++;
  p->o.callbacks.on_exit(s, st, p->o.userdata);
  p->in_callback--;
  p->events++;
}

/* --------------------------------------------------------- Error frame */

static int map_wire(uint32_t wire) {
  switch (wire) {
    case TETHER_WIRE_PROTOCOL: return TETHER_EPROTOCOL;
    case TETHER_WIRE_VERSION_UNSUPPORTED: return TETHER_EVERSION;
    case TETHER_WIRE_UNSUPPORTED: return TETHER_EUNSUPPORTED;
    case TETHER_WIRE_UNKNOWN_SESSION: return TETHER_EUNKNOWN_SESSION;
    case TETHER_WIRE_SESSION_EXISTS: return TETHER_ESESSION_EXISTS;
    case TETHER_WIRE_INVALID: return TETHER_EINVAL;
    case TETHER_WIRE_TIMEOUT: return TETHER_ETIMEDOUT;
    case TETHER_WIRE_LIMIT: return TETHER_ELIMIT;
    default: return TETHER_ERUNNER; /* INTERNAL, unknown */
  }
}

static void on_error_frame(tether_parent *p, tether_session *s, const tether_msg *m) {
  char text[TETHER_MESSAGE_MAX_BYTES + 1];
  char buf[sizeof p->msg];
  int code = map_wire(m->u.error.code);
  int fatal = m->u.error.fatal || m->u.error.code == TETHER_WIRE_PROTOCOL ||
              m->u.error.code == TETHER_WIRE_VERSION_UNSUPPORTED ||
              m->u.error.code == TETHER_WIRE_TIMEOUT; /* fatal whatever the flag (§5.10) */
  tether__escape(text, sizeof text, m->u.error.message.data,
                        m->u.error.message.len, TETHER__ESC_KEEP_UTF8 | TETHER__ESC_KEEP_QUOTES);
  /* A session-scoped Error is a report: it never ends the session (a bad
   * Spawn is answered with SpawnFailed, never an Error). One for a session
   * that is over answers a request that crossed its Exited (a late Signal,
   * Terminate, Status): nothing to report. A fatal PROTOCOL one is not
   * reported here either: for a session TETHER_EPROTOCOL means "over", and
   * tether__parent_fail below reports that end once, with the text. */
  if (s && s->state != TETHER__S_DONE && listening(s) && p->o.callbacks.on_error &&
      !(fatal && code == TETHER_EPROTOCOL)) {
    snprintf(buf, sizeof buf, "runner error on session %u: %s", s->id, text);
    p->in_callback++;
    p->o.callbacks.on_error(p, s, code, buf, p->o.userdata);
    p->in_callback--;
    p->events++;
  }
  if (fatal) {
    snprintf(buf, sizeof buf, "runner ended the connection with an error (%s): %s",
             tether_err_name(code), text);
    tether__parent_fail(p, code == TETHER_EPROTOCOL ? TETHER_EPROTOCOL : TETHER_ECLOSED,
                        0, buf);
    return;
  }
  if (!s && m->session == 0 && p->o.callbacks.on_error) {
    snprintf(buf, sizeof buf, "runner error: %s", text);
    p->in_callback++;
    p->o.callbacks.on_error(p, NULL, code, buf, p->o.userdata);
    p->in_callback--;
    p->events++;
  }
}

/* ----------------------------------------------------------- dispatcher */

/* A frame that did not decode. One that parsed but broke a value rule keeps
 * its session and type (tether__msg_keep_address): an empty Output.data on
 * a live session is Error{INVALID} and ignored (§6.4), returning 0. Text
 * that is not UTF-8 or over its limit is undecodable (§8), fatal; in an
 * Error frame the connection ends without a reply, since an Error is never
 * answered with an Error (§5.10). Returns 1 once the connection is over. */
static int on_undecodable(tether_parent *p, const tether_msg *m, int rc, const char *why) {
  char buf[sizeof p->msg];
  if (rc == TETHER_EINVAL && m->type == TETHER_MSG_OUTPUT && m->session != 0) {
    tether_session *s = tether__parent_find(p, m->session);
    if (s && s->state == TETHER__S_RUNNING) {
      reply_error(p, m->session, TETHER_WIRE_INVALID,
                  tether__parent_fmt(p, "Output for session %u: %s; ignored", m->session, why));
      return p->dead;
    }
  }
  snprintf(buf, sizeof buf, "runner sent a frame that does not decode (%s: %s)",
           tether_err_name(rc), why);
  if (m->type == TETHER_MSG_ERROR) tether__parent_fail(p, TETHER_EPROTOCOL, 0, buf);
  else tether__parent_fail(p, TETHER_EPROTOCOL, TETHER_WIRE_PROTOCOL, buf);
  return 1;
}


static void handle(tether_parent *p, const tether_msg *m) {
  const char *name = tether_msg_type_name(m->type);
  switch (m->type) {
    case TETHER_MSG_NONE:
      reply_error(p, m->session, TETHER_WIRE_UNSUPPORTED, "unknown frame body type");
      return;
    case TETHER_MSG_HELLO:
      violation(p, "runner sent a second Hello");
      return;
    case TETHER_MSG_GOODBYE: {
      char text[TETHER_MESSAGE_MAX_BYTES + 1];
      char buf[sizeof p->msg];
      if (m->session != 0) {
        violation(p, "runner sent Goodbye on session %u", m->session);
        return;
      }
      tether__escape(text, sizeof text, m->u.goodbye.reason.data,
                            m->u.goodbye.reason.len, TETHER__ESC_KEEP_UTF8 | TETHER__ESC_KEEP_QUOTES);
      snprintf(buf, sizeof buf, "runner said goodbye%s%s", text[0] ? ": " : "", text);
      tether__parent_fail(p, TETHER_ECLOSED, 0, buf);
      return;
    }
    case TETHER_MSG_SPAWN:
    case TETHER_MSG_STDIN:
    case TETHER_MSG_STDIN_CLOSE:
    case TETHER_MSG_RESIZE:
    case TETHER_MSG_SIGNAL:
    case TETHER_MSG_TERMINATE:
    case TETHER_MSG_STATUS_REQUEST:
      violation(p, "runner sent %s, which only a parent sends", name);
      return;
    default:
      break;
  }
  tether_session *s = NULL;
  if (m->session != 0) {
    s = tether__parent_find(p, m->session);
    if (!s) {
      /* An Error is never answered (§5.10): about a session that is over
       * (a request that crossed its Exited) it reports nothing; a fatal
       * one still ends the connection. */
      if (m->type == TETHER_MSG_ERROR) {
        on_error_frame(p, NULL, m);
        return;
      }
      if (m->type == TETHER_MSG_CREDIT && !p->flow) return; /* ignored (§5.8) */
      /* A runner sends nothing on a session after its Exited or
       * SpawnFailed, so a frame for an id that is not live is a violation
       * whether the id is over (its record freed) or was never used. */
      if (p->ids_wrapped || m->session <= p->max_id)
        violation(p, "runner sent %s for session %u after it was over", name, m->session);
      else
        violation(p, "runner sent %s for session %u, which was never created", name,
                  m->session);
      return;
    }
  } else if (m->type != TETHER_MSG_ERROR) {
    violation(p, "runner sent %s on session 0, which is the connection", name);
    return;
  }
  switch (m->type) {
    case TETHER_MSG_ERROR: on_error_frame(p, s, m); break;
    case TETHER_MSG_SPAWNED: on_spawned(p, s, m); break;
    case TETHER_MSG_SPAWN_FAILED: on_spawn_failed(p, s, m); break;
    case TETHER_MSG_OUTPUT: on_output(p, s, m); break;
    case TETHER_MSG_OUTPUT_TRUNCATED: on_truncated(p, s, m); break;
    case TETHER_MSG_CREDIT: on_credit(p, s, m); break;
    case TETHER_MSG_STATUS_REPLY: on_status_reply(p, s, m); break;
    case TETHER_MSG_EXITED: on_exited(p, s, m); break;
    default:
      violation(p, "runner sent %s, which this parent does not expect", name);
      break;
  }
}

int tether__parent_dispatch(tether_parent *p) {
  int swept = 0;
  while (!p->dead) {
    const uint8_t *pl;
    size_t len;
    int rc = tether_channel_recv(p->ch, &pl, &len);
    if (rc == 0) break;
    if (rc < 0) {
      on_recv_error(p, rc);
      break;
    }
    tether_msg m;
    const char *why = NULL;
    rc = tether_pbc_decode(p->dec, pl, len, &m, &why);
    if (rc < 0 && on_undecodable(p, &m, rc, why ? why : "?")) break;
    if (rc < 0) continue;
    handle(p, &m);
    if (!p->in_callback) {
      sweep(p);
      swept = 1;
    }
  }
  if (p->dead) return TETHER_ECLOSED;
  if (!swept && !p->in_callback) sweep(p);
  int rc = tether__parent_pump_stdin(p);
  if (rc == 0) rc = tether__parent_flush(p);
  if (rc < 0 && rc != TETHER_ETIMEDOUT && !p->dead) {
    char buf[sizeof p->msg];
    /* Writing failed but reading did not report the end yet: the runner is
     * gone or broken all the same. */
    describe_end(p, buf, sizeof buf);
    tether__parent_fail(p, TETHER_ECLOSED, 0, buf);
  }
  return p->dead ? TETHER_ECLOSED : 0;
}

int tether_parent_process(tether_parent *p) {
  if (!p) return TETHER_EINVAL;
  if (p->in_callback) return TETHER_EINCALLBACK;
  if (p->dead) return TETHER_ECLOSED;
  return tether__parent_dispatch(p);
}
