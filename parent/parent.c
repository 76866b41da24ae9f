/* The connection: options, opening (start / attach / connect), the
 * handshake, sending, the session table, and the orderly end. */
#include "parent_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "transport/escape.h"

#define PARENT_IMPLEMENTATION "libtether_parent"
/* A parent lists only what describes it (PROTOCOL.md §5.2); the others
 * are runner capabilities. */
#define PARENT_CAPS TETHER_CAP_BIT(TETHER_CAP_FLOW_CONTROL)

static void parent_defaults(tether_parent_options *o) {
  memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->runner_argv = NULL;
  o->runner_channel = TETHER_RUNNER_CHANNEL_FDS;
  o->runner_fds[0] = 3;
  o->runner_fds[1] = 3;
  o->runner_new_group = 1;
  o->max_frame_size = TETHER_FRAME_MAX_DEFAULT;
  o->window = TETHER_WINDOW_DEFAULT;
  o->handshake_timeout_ms = TETHER_HANDSHAKE_TIMEOUT_MS;
  o->write_timeout_ms = TETHER_PARENT_WRITE_TIMEOUT_MS;
  o->shutdown_timeout_ms = TETHER_PARENT_SHUTDOWN_TIMEOUT_MS;
  o->stdin_queue_max = TETHER_PARENT_STDIN_QUEUE_DEFAULT;
}

void tether_parent_options_init_sized(tether_parent_options *o, size_t struct_size) {
  tether_parent_options d;
  parent_defaults(&d);
  tether__sized_init(o, struct_size, &d, sizeof d);
}

static void put_err(const tether_parent_options *o, const char *msg) {
  if (o && o->error_buf && o->error_buf_len > 0) snprintf(o->error_buf, o->error_buf_len, "%s", msg);
}

/* Reads the caller's options `in` into `o` (the library's layout), then
 * checks them. */
static int check_options(const tether_parent_options *in, tether_parent_options *o,
                         char *err, size_t errlen) {
  const char *why = NULL;
  parent_defaults(o);
  int rc = tether__sized_read(o, sizeof *o, in, TETHER__PARENT_OPTIONS_SIZE_0_2);
  if (rc == TETHER_EINVAL)
    why = "struct_size is below the first published layout (use tether_parent_options_init)";
  else if (rc < 0) {
    snprintf(err, errlen, "parent options set fields this (older) library does not know");
    return rc;
  } else if (o->max_frame_size < TETHER_FRAME_MAX_MINIMUM || o->max_frame_size > TETHER_FRAME_MAX_CEILING)
    why = "max_frame_size is outside [TETHER_FRAME_MAX_MINIMUM, TETHER_FRAME_MAX_CEILING]";
  else if (o->window < 1 || o->window > TETHER_WINDOW_MAX)
    why = "window is outside [1, TETHER_WINDOW_MAX]";
  else if (o->handshake_timeout_ms == 0 || o->handshake_timeout_ms > INT32_MAX)
    why = "handshake_timeout_ms is outside [1, INT32_MAX]";
  else if (o->write_timeout_ms == 0 || o->write_timeout_ms > INT32_MAX)
    why = "write_timeout_ms is outside [1, INT32_MAX]";
  else if (o->shutdown_timeout_ms > INT32_MAX)
    why = "shutdown_timeout_ms is above INT32_MAX";
  else if (o->stdin_queue_max == 0)
    why = "stdin_queue_max must be > 0";
  if (!why) return 0;
  snprintf(err, errlen, "invalid parent options: %s", why);
  return TETHER_EINVAL;
}

/* ------------------------------------------------------------- helpers */

const char *tether__parent_fmt(tether_parent *p, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->msg, sizeof p->msg, fmt, ap);
  va_end(ap);
  return p->msg;
}


size_t tether__parent_utf8_cut(const char *s, size_t n) {
  /* Drop a trailing sequence that may be incomplete, so text cut to a
   * limit stays valid UTF-8 (it goes on the wire in Error frames). */
  size_t k = n;
  while (k > 0 && ((uint8_t)s[k - 1] & 0xC0) == 0x80) k--;
  if (k > 0 && (uint8_t)s[k - 1] >= 0xC0) return k - 1;
  return n;
}

/* --------------------------------------------------------------- table */

static size_t slot_of(const tether_parent *p, uint32_t id) {
  return (size_t)((id * 2654435761u) & (uint32_t)(p->table_cap - 1));
}

tether_session *tether__parent_find(tether_parent *p, uint32_t id) {
  if (p->table_cap == 0) return NULL;
  for (size_t i = slot_of(p, id);; i = (i + 1) & (p->table_cap - 1)) {
    tether_session *s = p->table[i];
    if (!s) return NULL;
    if (s->id == id) return s;
  }
}

static void table_put(tether_session **t, size_t cap, tether_session *s, size_t start) {
  for (size_t i = start;; i = (i + 1) & (cap - 1)) {
    if (!t[i]) {
      t[i] = s;
      return;
    }
  }
}

int tether__parent_table_add(tether_parent *p, tether_session *s) {
  if ((p->table_used + 1) * 2 > p->table_cap) {
    size_t ncap = p->table_cap ? p->table_cap * 2 : 64;
    tether_session **nt = calloc(ncap, sizeof *nt);
    if (!nt) return TETHER_ENOMEM;
    size_t old = p->table_cap;
    tether_session **ot = p->table;
    p->table = nt;
    p->table_cap = ncap;
    for (size_t i = 0; i < old; i++)
      if (ot[i]) table_put(nt, ncap, ot[i], slot_of(p, ot[i]->id));
    free(ot);
  }
  table_put(p->table, p->table_cap, s, slot_of(p, s->id));
  p->table_used++;
  return 0;
}

void tether__parent_table_del(tether_parent *p, tether_session *s) {
  size_t mask = p->table_cap - 1, i;
  if (p->table_cap == 0) return;
  for (i = slot_of(p, s->id);; i = (i + 1) & mask) {
    if (!p->table[i]) return;
    if (p->table[i] == s) break;
  }
  /* Backward-shift deletion keeps every probe chain unbroken. */
  p->table[i] = NULL;
  p->table_used--;
  for (size_t j = (i + 1) & mask; p->table[j]; j = (j + 1) & mask) {
    tether_session *e = p->table[j];
    p->table[j] = NULL;
    table_put(p->table, p->table_cap, e, slot_of(p, e->id));
  }
}

/* ---------------------------------------------------------------- send */

int tether__parent_flush(tether_parent *p) {
  if (p->closed) return TETHER_ECLOSED;
  int rc = tether_channel_flush(p->ch);
  return rc == TETHER_EAGAIN ? 0 : rc;
}

static int send_raw(tether_parent *p, const tether_msg *m, int blocking, int timeout_ms) {
  int rc = tether_msg_validate(m, NULL);
  if (rc < 0) return rc;
  size_t size = tether_pbc_encoded_size(m);
  if (size == 0) return TETHER_EINVAL;
  if (size > p->max_frame_out) return TETHER_EFRAME_TOO_LARGE;
  int64_t deadline = tether__parent_now_ms() + timeout_ms;
  for (;;) {
    uint8_t *buf = tether_channel_reserve(p->ch, size, &rc);
    if (buf) {
      size_t written = 0;
      rc = tether_pbc_encode(m, buf, size, &written, NULL);
      if (rc < 0) {
        tether_channel_commit(p->ch, 0);
        return rc;
      }
      return tether_channel_commit(p->ch, written);
    }
    if (rc != TETHER_EAGAIN || !blocking) return rc;
    int64_t left = deadline - tether__parent_now_ms();
    if (left <= 0) return TETHER_ETIMEDOUT;
    rc = tether_channel_flush_wait(p->ch, (int)left);
    if (rc < 0) return rc;
  }
}

int tether__parent_send(tether_parent *p, const tether_msg *m, int blocking) {
  if (p->dead) return TETHER_ECLOSED;
  return send_raw(p, m, blocking, p->o.write_timeout_ms);
}

/* ----------------------------------------------------------- handshake */

/* Tells the runner why we give up, best effort and briefly. */
static void send_fatal(tether_parent *p, uint32_t wire, const char *message) {
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.type = TETHER_MSG_ERROR;
  m.u.error.code = wire;
  size_t n = strlen(message);
  if (n > TETHER_MESSAGE_MAX_BYTES) n = tether__parent_utf8_cut(message, TETHER_MESSAGE_MAX_BYTES);
  m.u.error.message.data = (const uint8_t *)message;
  m.u.error.message.len = n;
  m.u.error.fatal = true;
  if (send_raw(p, &m, 0, 0) == 0) {
    int t = p->o.write_timeout_ms < 1000 ? p->o.write_timeout_ms : 1000;
    tether_channel_flush_wait(p->ch, t);
  }
  tether_channel_shutdown_write(p->ch);
}

int tether__parent_handshake(tether_parent *p, char *err, size_t errlen) {
  tether_msg ours, m;
  char why[512];
  int rc;
  int64_t deadline = tether__parent_now_ms() + p->o.handshake_timeout_ms;

  tether_hello_init(&ours, TETHER_ROLE_PARENT, PARENT_IMPLEMENTATION, PARENT_CAPS,
                    p->o.max_frame_size, TETHER_SESSIONS_MAX_DEFAULT);
  ours.u.hello.initial_window = p->o.window;
  ours.u.hello.max_window = p->o.window;
  rc = send_raw(p, &ours, 0, 0);
  if (rc < 0) {
    snprintf(err, errlen, "cannot send Hello: %s", tether_strerror(rc));
    return rc;
  }
  for (;;) {
    int64_t left = deadline - tether__parent_now_ms();
    if (left <= 0) {
      snprintf(err, errlen, "no Hello from the runner within %u ms",
               (unsigned)p->o.handshake_timeout_ms);
      send_fatal(p, TETHER_WIRE_TIMEOUT, err);
      return TETHER_ETIMEDOUT;
    }
    /* A failed write is not final yet: the runner may have said why it
     * went, so its input is read first. */
    (void)tether_channel_flush(p->ch);
    const uint8_t *pl;
    size_t len;
    rc = tether_channel_recv(p->ch, &pl, &len);
    if (rc == 0) {
      rc = tether__parent_wait(p, (int)left);
      if (rc < 0 && rc != TETHER_ETIMEDOUT) return rc;
      continue;
    }
    if (rc < 0) {
      char desc[128] = "";
      if (rc == TETHER_EPREFACE) {
        snprintf(err, errlen, "the runner is not a tether peer (%s)",
                 tether_channel_error(p->ch));
        return TETHER_EPREFACE;
      }
      if (rc == TETHER_ECLOSED || rc == TETHER_ETRUNCATED || rc == TETHER_EIO) {
        if (p->runner_pid >= 0) {
          tether__parent_reap_runner(p, 1000);
          tether__parent_describe_runner(p, desc, sizeof desc);
        }
        snprintf(err, errlen, "the runner closed the channel before the handshake%s%s",
                 desc[0] ? ": " : "", desc);
        return TETHER_ECLOSED;
      }
      snprintf(err, errlen, "bad frame from the runner during the handshake: %s",
               tether_channel_error(p->ch));
      send_fatal(p, TETHER_WIRE_PROTOCOL, err);
      return TETHER_EPROTOCOL;
    }
    const char *dwhy = NULL;
    rc = tether_pbc_decode(p->dec, pl, len, &m, &dwhy);
    if (rc < 0) {
      snprintf(err, errlen, "the runner's first frame does not decode (%s: %s)",
               tether_err_name(rc), dwhy ? dwhy : "?");
      send_fatal(p, TETHER_WIRE_PROTOCOL, err);
      return TETHER_EPROTOCOL;
    }
    if (m.type == TETHER_MSG_ERROR) {
      tether__escape(why, sizeof why, m.u.error.message.data, m.u.error.message.len, TETHER__ESC_KEEP_UTF8 | TETHER__ESC_KEEP_QUOTES);
      snprintf(err, errlen, "the runner refused the connection: %s", why);
      return m.u.error.code == TETHER_WIRE_VERSION_UNSUPPORTED ? TETHER_EVERSION
                                                                : TETHER_EPROTOCOL;
    }
    if (m.type != TETHER_MSG_HELLO || m.session != 0) {
      snprintf(err, errlen, "the runner sent %s on session %u before its Hello",
               tether_msg_type_name(m.type), m.session);
      send_fatal(p, TETHER_WIRE_PROTOCOL, err);
      return TETHER_EPROTOCOL;
    }
    tether_agreement ag;
    rc = tether_hello_agree(&ours.u.hello, &m.u.hello, TETHER_ROLE_RUNNER, &ag, why,
                            sizeof why);
    if (rc < 0) {
      snprintf(err, errlen, "bad Hello from the runner: %s", why);
      send_fatal(p, rc == TETHER_EVERSION ? TETHER_WIRE_VERSION_UNSUPPORTED
                                          : TETHER_WIRE_PROTOCOL, err);
      return rc == TETHER_EVERSION ? TETHER_EVERSION : TETHER_EPROTOCOL;
    }
    p->version = ag.version;
    p->max_frame_out = ag.max_frame_out;
    p->peer_caps = ag.peer_capabilities;
    p->peer_max_sessions = ag.peer_max_sessions; /* [1, ceiling]: checked by agree */
    p->window = ag.initial_window ? ag.initial_window : p->o.window;
    p->max_window = ag.max_window;
    p->flow = (p->peer_caps & TETHER_CAP_BIT(TETHER_CAP_FLOW_CONTROL)) != 0;
    tether__escape(p->impl, sizeof p->impl, m.u.hello.implementation.data,
                          m.u.hello.implementation.len, TETHER__ESC_KEEP_UTF8 | TETHER__ESC_KEEP_QUOTES);
    tether__escape(p->impl_version, sizeof p->impl_version,
                          m.u.hello.implementation_version.data,
                          m.u.hello.implementation_version.len, TETHER__ESC_KEEP_UTF8 | TETHER__ESC_KEEP_QUOTES);
    tether_channel_set_limits(p->ch, p->o.max_frame_size, p->max_frame_out);
    return 0;
  }
}

/* ---------------------------------------------------------------- open */

int tether__parent_open(const tether_parent_options *o, tether_transport *t,
                        int64_t runner_pid, void *runner_os, tether_parent **out) {
  char err[TETHER_MESSAGE_MAX_BYTES];
  tether_parent *p = NULL;
  int rc;

  *out = NULL;
  p = calloc(1, sizeof *p);
  if (!p) {
    tether_transport_free(t);
    rc = TETHER_ENOMEM;
    snprintf(err, sizeof err, "out of memory");
    goto fail;
  }
  p->o = *o;
  p->o.runner_argv = NULL;
  p->o.error_buf = NULL;
  p->o.error_buf_len = 0;
  p->runner_pid = runner_pid;
  p->runner_os = runner_os;
  p->next_id = 1;
  p->max_frame_out = TETHER_FRAME_MAX_MINIMUM;

  tether_channel_options co;
  tether_channel_options_init(&co);
  co.max_frame_in = o->max_frame_size;
  co.max_frame_out = TETHER_FRAME_MAX_MINIMUM;
  rc = tether_channel_new(t, &co, &p->ch); /* takes t */
  if (rc < 0) {
    snprintf(err, sizeof err, "cannot set up the channel: %s", tether_strerror(rc));
    goto fail;
  }
  rc = tether_pbc_decoder_new(&p->dec);
  if (rc < 0) {
    snprintf(err, sizeof err, "cannot create the decoder: %s", tether_strerror(rc));
    goto fail;
  }
  rc = tether__parent_handshake(p, err, sizeof err);
  if (rc < 0) goto fail;
  *out = p;
  return 0;

fail:
  put_err(o, err);
  if (p) {
    p->dead = 1;
    tether_channel_free(p->ch);
    p->ch = NULL;
    p->closed = 1;
    if (p->runner_pid >= 0 && !tether__parent_reap_runner(p, 0)) {
      tether__parent_kill_runner(p);
      tether__parent_reap_runner(p, -1);
    }
    tether_pbc_decoder_free(p->dec);
    free(p);
  }
  return rc;
}

int tether_parent_start(const tether_parent_options *o, tether_parent **out) {
  char err[TETHER_MESSAGE_MAX_BYTES];
  tether_transport *t = NULL;
  int64_t pid = -1;
  void *os = NULL;
  if (!out) return TETHER_EINVAL;
  *out = NULL;
  if (!o) return TETHER_EINVAL;
  tether_parent_options opt;
  int rc = check_options(o, &opt, err, sizeof err);
  if (rc == 0) rc = tether__parent_spawn_runner(&opt, &t, &pid, &os, err, sizeof err);
  if (rc < 0) {
    put_err(&opt, err);
    return rc;
  }
  return tether__parent_open(&opt, t, pid, os, out);
}

int tether_parent_attach_fds(const tether_parent_options *o, int read_fd, int write_fd,
                             tether_parent **out) {
  char err[TETHER_MESSAGE_MAX_BYTES];
  tether_transport *t = NULL;
  if (!out) return TETHER_EINVAL;
  *out = NULL;
  tether_parent_options opt;
  parent_defaults(&opt);
  int rc = o ? check_options(o, &opt, err, sizeof err) : TETHER_EINVAL;
  if (rc == 0 && (read_fd < 0 || write_fd < 0)) {
    rc = TETHER_EINVAL;
    snprintf(err, sizeof err, "invalid descriptors %d,%d", read_fd, write_fd);
  }
  if (rc == 0) {
    rc = tether_transport_fd_new(read_fd, write_fd, &t);
    if (rc < 0) snprintf(err, sizeof err, "cannot use descriptors %d,%d: %s", read_fd,
                         write_fd, tether_strerror(rc));
    /* tether_transport_fd_new owns the descriptors from here on. */
    read_fd = write_fd = -1;
  }
  if (rc < 0) {
    put_err(&opt, err);
    /* Descriptors are taken over also on failure. */
    if (read_fd >= 0) tether__parent_close_fd(read_fd);
    if (write_fd >= 0 && write_fd != read_fd) tether__parent_close_fd(write_fd);
    return rc;
  }
  return tether__parent_open(&opt, t, -1, NULL, out);
}

int tether_parent_connect_unix(const tether_parent_options *o, const char *path,
                               tether_parent **out) {
  char err[TETHER_MESSAGE_MAX_BYTES];
  tether_transport *t = NULL;
  if (!out) return TETHER_EINVAL;
  *out = NULL;
  tether_parent_options opt;
  parent_defaults(&opt);
  int rc = o ? check_options(o, &opt, err, sizeof err) : TETHER_EINVAL;
  if (rc == 0 && !path) {
    rc = TETHER_EINVAL;
    snprintf(err, sizeof err, "no socket path");
  }
  if (rc == 0) {
    rc = tether_transport_unix_connect(path, opt.handshake_timeout_ms, &t);
    if (rc < 0) snprintf(err, sizeof err, "cannot connect to \"%s\": %s", path,
                         tether_strerror(rc));
  }
  if (rc < 0) {
    put_err(&opt, err);
    return rc;
  }
  return tether__parent_open(&opt, t, -1, NULL, out);
}

int tether__parent_attach_transport(const tether_parent_options *o, tether_transport *t,
                                    tether_parent **out) {
  char err[TETHER_MESSAGE_MAX_BYTES];
  if (!out || !o || !t) {
    tether_transport_free(t);
    if (out) *out = NULL;
    return TETHER_EINVAL;
  }
  *out = NULL;
  tether_parent_options opt;
  int rc = check_options(o, &opt, err, sizeof err);
  if (rc < 0) {
    put_err(&opt, err);
    tether_transport_free(t);
    return rc;
  }
  return tether__parent_open(&opt, t, -1, NULL, out);
}

/* ----------------------------------------------------------------- end */

int tether_parent_free(tether_parent *p) {
  if (!p) return 0;
  if (p->in_callback) return TETHER_EINCALLBACK;
  int64_t deadline = tether__parent_now_ms() + p->o.shutdown_timeout_ms;
  if (!p->closed) {
    if (!p->dead) {
      tether_msg m;
      memset(&m, 0, sizeof m);
      m.type = TETHER_MSG_GOODBYE;
      static const char reason[] = "parent closing";
      m.u.goodbye.reason.data = (const uint8_t *)reason;
      m.u.goodbye.reason.len = sizeof reason - 1;
      if (send_raw(p, &m, 1, p->o.write_timeout_ms) == 0) {
        int64_t left = deadline - tether__parent_now_ms();
        tether_channel_flush_wait(p->ch, left > 0 ? (int)left : 0);
      }
      tether_channel_shutdown_write(p->ch);
      /* Read (and drop) until the runner closes: it ends its sessions
       * first, so when free returns their processes are gone. */
      for (;;) {
        const uint8_t *pl;
        size_t len;
        int rc = tether_channel_recv(p->ch, &pl, &len);
        if (rc < 0) break;
        if (rc == 1) continue;
        int64_t left = deadline - tether__parent_now_ms();
        if (left <= 0) break;
        p->dead = 1; /* tether__parent_wait: read only */
        if (tether__parent_wait(p, (int)left) == TETHER_ETIMEDOUT) break;
      }
    }
    tether_channel_free(p->ch);
    p->ch = NULL;
    p->closed = 1;
    p->dead = 1;
  }
  if (p->runner_pid >= 0 && !p->runner_reaped) {
    int64_t left = deadline - tether__parent_now_ms();
    if (!tether__parent_reap_runner(p, left > 0 ? (int)left : 0)) {
      tether__parent_kill_runner(p);
      tether__parent_reap_runner(p, -1);
    }
  }
  while (p->head) tether__parent_session_release(p, p->head);
  free(p->table);
  tether_pbc_decoder_free(p->dec);
  free(p);
  return 0;
}

/* ----------------------------------------------------------- accessors */

int tether_parent_runner_info_sized(const tether_parent *p, tether_runner_info *out,
                                    size_t struct_size) {
  tether_runner_info info;
  if (!p || !out) return TETHER_EINVAL;
  memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  info.implementation = p->impl;
  info.implementation_version = p->impl_version;
  info.version = p->version;
  info.capabilities = p->peer_caps;
  info.max_sessions = p->peer_max_sessions;
  info.max_frame_size = p->max_frame_out;
  info.pid = p->runner_pid;
  return tether__sized_write(out, struct_size, &info, sizeof info,
                             TETHER__RUNNER_INFO_SIZE_0_2);
}

tether_os_handle tether_parent_fd(const tether_parent *p) {
  if (!p || p->closed) return TETHER_INVALID_HANDLE;
  return tether_channel_read_handle(p->ch);
}

tether_os_handle tether_parent_write_fd(const tether_parent *p) {
  if (!p || p->closed) return TETHER_INVALID_HANDLE;
  return tether_channel_write_handle(p->ch);
}

int tether_parent_wants_write(const tether_parent *p) {
  if (!p || p->closed) return 0;
  return tether_channel_pending(p->ch) > 0;
}
