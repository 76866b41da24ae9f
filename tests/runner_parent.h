/* A minimal parent for the runner tests: starts a real tether-runner
 * process over a socketpair (`--fd 3`), speaks to it through the channel
 * and the protobuf-c codec (the parent's codec, so every test also
 * cross-checks the runner's nanopb encoder), and records what arrives per
 * session. Test-only; header-only so each test file can include it.
 *
 * Flow control: rp_open() announces no capabilities (the runner's old,
 * credit-free behaviour). rp_open_flow() lists CAPABILITY_FLOW_CONTROL with
 * a window; the parent then checks that no Output exceeds the credit it
 * granted, tracks the stdin credit the runner grants (rp_session.in_credit)
 * and, in RP_GRANT_AUTO mode, grants output credit back as it records
 * Output (as a real parent does when its embedder consumes it). In
 * RP_GRANT_NONE mode it grants nothing unless told (rp_credit). */
#ifndef TETHER_TEST_RUNNER_PARENT_H
#define TETHER_TEST_RUNNER_PARENT_H

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "harness.h"

#include "codec/codec.h"
#include "codec/hello.h"
#include "tether/limits.h"
#include "channel_send.h"
#include "transport/channel.h"

#define RP_MAX_SESSIONS 256
#define RP_OUT_MAX (8u << 20)

typedef struct rp_session rp_session;
/* Optional: receives a session's output instead of the buffer (for
 * streams larger than RP_OUT_MAX); out_len still counts it. */
typedef void (*rp_sink)(rp_session *s, int i, const uint8_t *p, size_t n);

typedef enum rp_grant { RP_GRANT_AUTO = 0, RP_GRANT_NONE = 1 } rp_grant;

struct rp_session {
  int nframes;           /* frames seen for this session */
  bool spawned;
  uint64_t pid;
  int spawned_index;     /* nframes when Spawned arrived (must be 1) */
  bool spawn_failed;
  uint32_t sf_stage, sf_error, sf_space;
  int64_t sf_os_error;
  char sf_message[1100];
  uint8_t *out[2];       /* stdout (or the pty), stderr */
  size_t out_len[2];
  uint32_t out_stream[2]; /* the wire stream each index carried (0: none yet) */
  rp_sink sink;
  void *sink_arg;
  uint64_t truncated[2]; /* OutputTruncated.dropped */
  bool exited;
  int nerrors_at_exit;   /* Errors before Exited */
  tether_msg_exited ex;
  int frames_after_exit;
  int nerrors;
  uint32_t last_error;
  bool last_error_fatal;
  char last_error_msg[1100];
  bool status_seen;
  bool status_running;
  uint64_t status_pid;
  /* flow control (rp_open_flow) */
  bool flow_init;        /* credits below were set for this session */
  uint64_t out_credit[2]; /* what the runner may still send per stream */
  uint64_t owed[2];      /* received, not yet granted back (AUTO) */
  uint64_t in_credit;    /* stdin bytes we may still send */
  uint64_t in_granted;   /* total Credit{STDIN} received */
  int ncredits;          /* Credit{STDIN} frames received */
};

typedef struct rp {
  pid_t pid;               /* the runner */
  tether_channel *ch;
  tether_pbc_decoder *dec;
  tether_msg hello;        /* the runner's Hello (views into dec) */
  bool got_hello;
  bool closed;             /* recv reported the end */
  int close_code;
  rp_session s[RP_MAX_SESSIONS];
  /* connection-level (session 0) errors */
  int nerrors0;
  uint32_t error0;
  bool error0_fatal;
  char error0_msg[1100];
  bool goodbye;            /* the runner's Goodbye arrived */
  int frames_after_goodbye;
  /* flow control: both Hellos list the capability */
  bool flow;
  rp_grant grant;
  uint32_t window, max_window; /* agreed */
} rp;

/* Starts the runner with `--fd 3` plus `extra` args (NULL-terminated). */
static void rp_start(rp *c, const char *const *extra) {
  memset(c, 0, sizeof *c);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  const char *argv[32];
  int n = 0;
  argv[n++] = TETHER_RUNNER_PATH;
  argv[n++] = "--fd";
  argv[n++] = "3";
  for (; extra && *extra && n < 30; extra++) argv[n++] = *extra;
  argv[n] = NULL;
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    if (sv[1] == 3) fcntl(3, F_SETFD, 0);
    else dup2(sv[1], 3);
    execv(argv[0], (char **)argv);
    _exit(127);
  }
  close(sv[1]);
  c->pid = pid;
  tether_transport *t = NULL;
  CHECK_OK(tether_transport_fd_new(sv[0], sv[0], &t));
  tether_channel_options o;
  tether_channel_options_init(&o);
  o.max_pending = 64u << 20;
  CHECK_OK(tether_channel_new(t, &o, &c->ch));
  CHECK_OK(tether_pbc_decoder_new(&c->dec));
}

static void rp_free(rp *c) {
  tether_channel_free(c->ch);
  c->ch = NULL;
  tether_pbc_decoder_free(c->dec);
  c->dec = NULL;
  for (int i = 0; i < RP_MAX_SESSIONS; i++) {
    free(c->s[i].out[0]);
    free(c->s[i].out[1]);
  }
}

static void rp_send(rp *c, const tether_msg *m) {
  size_t size = tether_pbc_encoded_size(m);
  CHECK(size > 0);
  uint8_t *buf = malloc(size);
  CHECK(buf);
  size_t w = 0;
  const char *why = NULL;
  int rc = tether_pbc_encode(m, buf, size, &w, &why);
  if (rc) FAIL("encode: %s", why ? why : "?");
  CHECK_OK(channel_send(c->ch, buf, w));
  free(buf);
  CHECK_OK(tether_channel_flush_wait(c->ch, 10000));
}

static void rp_send_raw(rp *c, const uint8_t *p, size_t n) {
  CHECK_OK(channel_send(c->ch, p, n));
  CHECK_OK(tether_channel_flush_wait(c->ch, 10000));
}

static void copy_text(char *dst, size_t cap, tether_bytes b) {
  size_t n = b.len < cap - 1 ? b.len : cap - 1;
  if (n) memcpy(dst, b.data, n);
  dst[n] = '\0';
}

static void rp_flow_init(rp *c, rp_session *s) {
  if (!c->flow || s->flow_init) return;
  s->flow_init = true;
  s->out_credit[0] = s->out_credit[1] = c->window;
  s->in_credit = c->window;
}

/* Records one frame. */
static void rp_record(rp *c, const tether_msg *m) {
  if (m->type == TETHER_MSG_HELLO) {
    c->hello = *m;
    c->got_hello = true;
    return;
  }
  if (c->goodbye) c->frames_after_goodbye++;
  if (m->session == 0 && m->type == TETHER_MSG_GOODBYE) {
    c->goodbye = true;
    return;
  }
  if (m->session == 0) {
    if (m->type == TETHER_MSG_ERROR) {
      c->nerrors0++;
      c->error0 = m->u.error.code;
      c->error0_fatal = m->u.error.fatal;
      copy_text(c->error0_msg, sizeof c->error0_msg, m->u.error.message);
      return;
    }
    FAIL("unexpected %s on session 0", tether_msg_type_name(m->type));
  }
  if (m->session >= RP_MAX_SESSIONS) FAIL("session id %u out of range", m->session);
  rp_session *s = &c->s[m->session];
  s->nframes++;
  if (s->exited) s->frames_after_exit++;
  switch (m->type) {
  case TETHER_MSG_SPAWNED:
    rp_flow_init(c, s);
    s->spawned = true;
    s->pid = m->u.spawned.pid;
    s->spawned_index = s->nframes;
    break;
  case TETHER_MSG_SPAWN_FAILED:
    s->spawn_failed = true;
    s->sf_stage = m->u.spawn_failed.stage;
    s->sf_error = m->u.spawn_failed.error;
    s->sf_os_error = m->u.spawn_failed.os_error;
    s->sf_space = m->u.spawn_failed.os_error_space;
    copy_text(s->sf_message, sizeof s->sf_message, m->u.spawn_failed.message);
    break;
  case TETHER_MSG_OUTPUT: {
    /* A pty session's single stream is recorded as index 0. */
    uint32_t st = m->u.output.stream;
    int i = st == TETHER_STREAM_STDERR ? 1 : 0;
    CHECK(st == TETHER_STREAM_STDOUT || st == TETHER_STREAM_STDERR || st == TETHER_STREAM_PTY);
    CHECK(s->spawned);
    CHECK(!s->exited);
    CHECK(s->out_stream[i] == 0 || s->out_stream[i] == st); /* never mixed */
    s->out_stream[i] = st;
    CHECK_EQ_INT(m->u.output.offset, s->out_len[i]); /* no gaps, in order */
    if (c->flow) {
      /* never more than the credit we granted */
      if (m->u.output.data.len > s->out_credit[i])
        FAIL("session %u: %zu bytes of Output with %llu bytes of credit", m->session,
             m->u.output.data.len, (unsigned long long)s->out_credit[i]);
      s->out_credit[i] -= m->u.output.data.len;
      s->owed[i] += m->u.output.data.len;
    }
    if (s->sink) {
      s->sink(s, i, m->u.output.data.data, m->u.output.data.len);
      s->out_len[i] += m->u.output.data.len;
      break;
    }
    CHECK(s->out_len[i] + m->u.output.data.len <= RP_OUT_MAX);
    if (!s->out[i]) s->out[i] = malloc(RP_OUT_MAX);
    CHECK(s->out[i]);
    memcpy(s->out[i] + s->out_len[i], m->u.output.data.data, m->u.output.data.len);
    s->out_len[i] += m->u.output.data.len;
    break;
  }
  case TETHER_MSG_OUTPUT_TRUNCATED: {
    int i = m->u.output_truncated.stream == TETHER_STREAM_STDERR ? 1 : 0;
    CHECK(s->out_stream[i] == 0 || s->out_stream[i] == m->u.output_truncated.stream);
    CHECK(!s->exited);
    s->truncated[i] = m->u.output_truncated.dropped;
    break;
  }
  case TETHER_MSG_EXITED:
    CHECK(s->spawned);
    CHECK(!s->exited);
    s->exited = true;
    s->nerrors_at_exit = s->nerrors;
    s->ex = m->u.exited;
    break;
  case TETHER_MSG_ERROR:
    s->nerrors++;
    s->last_error = m->u.error.code;
    s->last_error_fatal = m->u.error.fatal;
    copy_text(s->last_error_msg, sizeof s->last_error_msg, m->u.error.message);
    break;
  case TETHER_MSG_CREDIT:
    if (!c->flow) FAIL("session %u: Credit without flow control", m->session);
    CHECK_EQ_INT(m->u.credit.stream, TETHER_STREAM_STDIN);
    CHECK(s->spawned);
    CHECK(!s->exited);
    s->in_credit += m->u.credit.bytes;
    s->in_granted += m->u.credit.bytes;
    s->ncredits++;
    CHECK(s->in_credit <= c->max_window);
    break;
  case TETHER_MSG_STATUS_REPLY:
    s->status_seen = true;
    s->status_running = m->u.status_reply.running;
    s->status_pid = m->u.status_reply.pid;
    break;
  default:
    FAIL("unexpected %s from the runner", tether_msg_type_name(m->type));
  }
}

static void rp_send(rp *c, const tether_msg *m);

/* Credit{stream, bytes} on session `id` (and our view of the runner's
 * credit grows by as much). */
static void rp_credit(rp *c, uint32_t id, uint32_t stream, uint64_t bytes) {
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.session = id;
  m.type = TETHER_MSG_CREDIT;
  m.u.credit.stream = stream;
  m.u.credit.bytes = bytes;
  rp_send(c, &m);
  int i = stream == TETHER_STREAM_STDERR ? 1 : 0;
  if (c->flow && id < RP_MAX_SESSIONS && stream != TETHER_STREAM_STDIN)
    c->s[id].out_credit[i] += bytes;
}

/* Grants back what session `id` received, per stream, once at least `min`
 * bytes are owed. */
static void rp_grant_owed(rp *c, uint32_t id, uint64_t min) {
  if (id == 0 || id >= RP_MAX_SESSIONS) return;
  rp_session *s = &c->s[id];
  if (s->exited) return;
  for (int i = 0; i < 2; i++) {
    if (s->owed[i] == 0 || s->owed[i] < min) continue;
    uint64_t n = s->owed[i];
    s->owed[i] = 0;
    rp_credit(c, id, s->out_stream[i] ? s->out_stream[i] : (i ? TETHER_STREAM_STDERR : TETHER_STREAM_STDOUT), n);
  }
}

/* Receives and records frames for up to timeout_ms or until one arrived.
 * Returns 1 if a frame was recorded, 0 on timeout, -1 at the end. */
static int rp_pump(rp *c, int timeout_ms) {
  if (c->closed) return -1;
  uint64_t deadline = test_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    const uint8_t *p;
    size_t n;
    int rc = tether_channel_recv(c->ch, &p, &n);
    if (rc == 1) {
      tether_msg m;
      const char *why = NULL;
      int d = tether_pbc_decode(c->dec, p, n, &m, &why);
      if (d) FAIL("runner sent an undecodable frame: %s", why ? why : "?");
      rp_record(c, &m);
      if (c->flow && c->grant == RP_GRANT_AUTO && m.type == TETHER_MSG_OUTPUT)
        rp_grant_owed(c, m.session, c->window / 4 ? c->window / 4 : 1);
      return 1;
    }
    if (rc < 0) {
      c->closed = true;
      c->close_code = rc;
      return -1;
    }
    uint64_t now = test_now_ms();
    if (now >= deadline) return 0;
    tether_transport_wait(tether_channel_transport(c->ch), 0, (int)(deadline - now));
  }
}

typedef bool (*rp_pred)(rp *c, const void *arg);

/* Pumps until pred holds; fails the test after timeout_ms. */
static void rp_until(rp *c, rp_pred pred, const void *arg, int timeout_ms, const char *what) {
  uint64_t deadline = test_now_ms() + (uint64_t)timeout_ms;
  while (!pred(c, arg)) {
    uint64_t now = test_now_ms();
    if (now >= deadline) FAIL("timed out waiting for %s", what);
    if (rp_pump(c, (int)(deadline - now)) < 0 && !pred(c, arg))
      FAIL("connection ended (%s) while waiting for %s", tether_err_name(c->close_code), what);
  }
}

static bool pred_hello(rp *c, const void *a) { (void)a; return c->got_hello; }
static bool pred_closed(rp *c, const void *a) { (void)a; return c->closed; }
static bool pred_error0(rp *c, const void *a) { (void)a; return c->nerrors0 > 0; }
static bool pred_done(rp *c, const void *a) {
  const rp_session *s = &c->s[*(const uint32_t *)a];
  return s->exited || s->spawn_failed;
}
static bool pred_spawned(rp *c, const void *a) {
  const rp_session *s = &c->s[*(const uint32_t *)a];
  return s->spawned || s->spawn_failed;
}
static bool pred_error(rp *c, const void *a) {
  return c->s[*(const uint32_t *)a].nerrors > 0;
}
static bool pred_status(rp *c, const void *a) {
  return c->s[*(const uint32_t *)a].status_seen;
}

static void rp_wait_done(rp *c, uint32_t id) { rp_until(c, pred_done, &id, 20000, "Exited/SpawnFailed"); }
static void rp_wait_spawned(rp *c, uint32_t id) { rp_until(c, pred_spawned, &id, 20000, "Spawned"); }
static void rp_wait_error(rp *c, uint32_t id) { rp_until(c, pred_error, &id, 20000, "Error"); }

static void rp_send_hello_versions(rp *c, uint32_t vmin, uint32_t vmax) {
  tether_msg m;
  tether_hello_init(&m, TETHER_ROLE_PARENT, "test-parent", 0, TETHER_FRAME_MAX_DEFAULT, 0);
  m.u.hello.version_min = vmin;
  m.u.hello.version_max = vmax;
  rp_send(c, &m);
}

/* Starts a runner and completes the handshake. */
static void rp_open(rp *c, const char *const *extra) {
  rp_start(c, extra);
  rp_send_hello_versions(c, TETHER_PROTOCOL_VERSION_MIN, TETHER_PROTOCOL_VERSION_MAX);
  rp_until(c, pred_hello, NULL, 10000, "the runner's Hello");
}

/* The smaller non-zero value, or `dflt` if both are 0 (PROTOCOL.md §5.8). */
static uint32_t rp_min_nonzero(uint32_t a, uint32_t b, uint32_t dflt) {
  if (!a) return b ? b : dflt;
  if (!b) return a;
  return a < b ? a : b;
}

/* Starts a runner and completes a handshake with flow control: our Hello
 * lists CAPABILITY_FLOW_CONTROL with `window` / `max_window` (0: no
 * preference). The agreed values land in c->window / c->max_window. */
static void rp_open_flow(rp *c, const char *const *extra, uint32_t window, uint32_t max_window,
                         rp_grant grant) {
  rp_start(c, extra);
  tether_msg m;
  tether_hello_init(&m, TETHER_ROLE_PARENT, "test-parent",
                    TETHER_CAP_BIT(TETHER_CAP_FLOW_CONTROL), TETHER_FRAME_MAX_DEFAULT, 0);
  m.u.hello.initial_window = window;
  m.u.hello.max_window = max_window;
  rp_send(c, &m);
  rp_until(c, pred_hello, NULL, 10000, "the runner's Hello");
  const tether_msg_hello *h = &c->hello.u.hello;
  CHECK(h->capabilities & TETHER_CAP_BIT(TETHER_CAP_FLOW_CONTROL));
  c->flow = true;
  c->grant = grant;
  c->max_window = rp_min_nonzero(max_window, h->max_window, TETHER_WINDOW_MAX);
  c->window = rp_min_nonzero(window, h->initial_window, TETHER_WINDOW_DEFAULT);
  if (c->window > c->max_window) c->window = c->max_window;
}

/* Stdin within the credit the runner granted: fails the test if `len`
 * exceeds it (use rp_stdin for deliberate violations). */
static void rp_stdin_bytes(rp *c, uint32_t id, const uint8_t *data, size_t len, uint64_t offset) {
  rp_session *s = &c->s[id];
  if (c->flow) {
    rp_flow_init(c, s);
    if (len > s->in_credit) FAIL("test bug: %zu stdin bytes with %llu credit", len,
                                 (unsigned long long)s->in_credit);
    s->in_credit -= len;
  }
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.session = id;
  m.type = TETHER_MSG_STDIN;
  m.u.stdin_data.data.data = data;
  m.u.stdin_data.data.len = len;
  m.u.stdin_data.offset = offset;
  rp_send(c, &m);
}


/* Waits for the runner process; returns its wait status (fails after
 * timeout_ms). */
static int rp_wait_runner(rp *c, int timeout_ms) {
  uint64_t deadline = test_now_ms() + (uint64_t)timeout_ms;
  int st = 0;
  for (;;) {
    pid_t r = waitpid(c->pid, &st, WNOHANG);
    if (r == c->pid) return st;
    CHECK(r == 0);
    if (test_now_ms() > deadline) FAIL("runner did not exit within %d ms", timeout_ms);
    usleep(2000);
  }
}

/* Expects the runner to send a fatal Error{code} on session 0, close and
 * exit non-zero. Frees c. */
static void rp_expect_fatal_exit(rp *c, uint32_t code) {
  rp_until(c, pred_error0, NULL, 10000, "a connection Error");
  CHECK_EQ_INT(c->error0, code);
  CHECK(c->error0_fatal);
  rp_until(c, pred_closed, NULL, 10000, "the runner to close");
  int st = rp_wait_runner(c, 10000);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) != 0);
  rp_free(c);
}

/* ---- building frames ---- */

typedef struct rp_spawn {
  tether_msg m;
  tether_bytes argv[64];
  tether_bytes env[16];
} rp_spawn;

/* argv as NUL-terminated strings, ending with NULL. */
static void rp_spawn_init(rp_spawn *sp, uint32_t id, const char *const *argv) {
  memset(sp, 0, sizeof *sp);
  sp->m.session = id;
  sp->m.type = TETHER_MSG_SPAWN;
  size_t n = 0;
  for (; argv[n]; n++) {
    sp->argv[n].data = (const uint8_t *)argv[n];
    sp->argv[n].len = strlen(argv[n]);
  }
  sp->m.u.spawn.argv.items = sp->argv;
  sp->m.u.spawn.argv.count = n;
}

static void rp_spawn_env(rp_spawn *sp, const char *const *env) {
  size_t n = 0;
  for (; env[n]; n++) {
    sp->env[n].data = (const uint8_t *)env[n];
    sp->env[n].len = strlen(env[n]);
  }
  sp->m.u.spawn.env.items = sp->env;
  sp->m.u.spawn.env.count = n;
}

static void rp_spawn_argv(rp *c, uint32_t id, const char *const *argv) {
  rp_spawn sp;
  rp_spawn_init(&sp, id, argv);
  rp_send(c, &sp.m);
}

static void rp_simple(rp *c, uint32_t id, tether_msg_type type) {
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.session = id;
  m.type = type;
  rp_send(c, &m);
}

static void rp_stdin(rp *c, uint32_t id, const char *data, uint64_t offset) {
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.session = id;
  m.type = TETHER_MSG_STDIN;
  m.u.stdin_data.data.data = (const uint8_t *)data;
  m.u.stdin_data.data.len = strlen(data);
  m.u.stdin_data.offset = offset;
  rp_send(c, &m);
}

static void rp_signal(rp *c, uint32_t id, uint32_t sig, bool group) {
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.session = id;
  m.type = TETHER_MSG_SIGNAL;
  m.u.signal.signal = sig;
  m.u.signal.group = group;
  rp_send(c, &m);
}

static void rp_terminate(rp *c, uint32_t id, uint32_t grace_ms) {
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.session = id;
  m.type = TETHER_MSG_TERMINATE;
  m.u.terminate.grace_ms = grace_ms;
  rp_send(c, &m);
}

/* ---- looking at the runner from outside ---- */

static int rp_count_fds(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  DIR *d = opendir(path);
  CHECK(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

/* Children of `pid` (any state), and how many of them are zombies. */
static int rp_children(pid_t pid, int *zombies) {
  DIR *d = opendir("/proc");
  CHECK(d);
  int n = 0;
  *zombies = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char path[300], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[got] = '\0';
    char *rp_ = strrchr(buf, ')');
    if (!rp_) continue;
    char state;
    int ppid;
    if (sscanf(rp_ + 1, " %c %d", &state, &ppid) != 2) continue;
    if (ppid != pid) continue;
    n++;
    if (state == 'Z') (*zombies)++;
  }
  closedir(d);
  return n;
}

static bool rp_pid_alive(uint64_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%llu/stat", (unsigned long long)pid);
  FILE *f = fopen(path, "r");
  if (!f) return false;
  size_t got = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[got] = '\0';
  char *p = strrchr(buf, ')');
  return p && p[1] == ' ' && p[2] != 'Z';
}

#endif
