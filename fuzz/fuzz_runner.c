/* fuzz_runner: a hostile parent against the runner's protocol logic, with
 * fake processes.
 *
 * runner/runner.c (all of the runner's protocol logic: handshake, frame
 * handling, sessions, flow control, output, timers) is compiled into this
 * harness as it is, together with runner/signal_posix.c (a number table).
 * The platform layer it calls (runner_internal.h: tether__session_*,
 * proc_posix.h: tether__exitwatch_*, tether__proc_reap_blocking) is not
 * linked: this file defines those functions as a fake process layer, so no
 * process, pipe, pid or signal is ever real. That link-time substitution is
 * the whole seam; runner/ has no hook for it. The event loop
 * (runner/loop_posix.c, poll(2)) is replaced by turn() below, which makes
 * the same calls in the same order for the fake descriptors that are
 * "ready". Time is the real monotonic clock plus a skew the script
 * advances, passed to tether__runner_on_timers.
 *
 * Input (a script; reads past the end give 0, see session_script.h):
 *   r0  runner options: bits 0-1 max_sessions {1, 2, 4, 8}, bits 2-4 its
 *       window {1, 7, 100, 4096, 65536, default x3}, bit 5 stdin_queue_max
 *       16, bits 6-7 the parent's Hello: 0 valid with FLOW_CONTROL, 1
 *       valid without, 2 bad (versions above ours, or role runner by r1 bit 7),
 *       3 none (the next op's frame comes first)
 *   r1  the parent's Hello: bits 0-1 initial_window {0, 1, 64, 4096},
 *       bits 2-3 max_window {0, 64, 65536, max}, bit 4 max_frame minimum
 *   then up to MAX_OPS operations (FR_* in session_script.h): parent frames
 *   (Spawn with a fake outcome, Stdin at the next or any offset,
 *   StdinClose, Resize, Signal, Terminate, Credit, StatusRequest, Goodbye,
 *   Error, a second Hello, runner-to-parent bodies, garbage payloads and
 *   headers, bodiless frames, a mid-frame end), and the children's side:
 *   output bytes on a stream, end of a stream, exit (code or signal,
 *   pipes closed or held by a grandchild), reading stdin, closing stdin,
 *   plus loop turns and clock steps.
 *
 * Invariants:
 *  1. every frame the runner sends decodes (protobuf-c, as the parent
 *     does) and is a runner-to-parent body: Hello first; per session
 *     Spawned or SpawnFailed first, each answering a Spawn; Output only
 *     while running, on the session's streams, offsets contiguous from 0,
 *     data never empty and equal to the child's bytes at that offset,
 *     within the cap and (flow control) the credit granted, never after
 *     that stream's OutputTruncated; OutputTruncated once per capped
 *     stream; StatusReply only when asked; Credit only for stdin, never
 *     more than the stdin bytes sent; Exited last, only once the fake
 *     process was reaped and every stream reached end of file (or the
 *     shutdown or the post-Terminate abandon gave up on it), and for
 *     every started process unless a fatal Error stopped output; nothing
 *     after a fatal Error or Goodbye;
 *  2. the fake layer is used as the real one may be: no read or write
 *     on a closed stream, no read of 0 bytes, bytes written to the child's
 *     stdin are the parent's bytes in order, no blocking reap of a live
 *     process, no release twice;
 *  3. after the parent closes the connection and time passes, the runner
 *     is done (no hang): every fake process was killed or exited, reaped
 *     and released; no crash; every allocation freed.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_ops.h"
#include "fuzz.h"
#include "runner/runner_internal.h"
#include "session_script.h"
#include "transport/framing.h"
#include "transport/transport.h"

#define MAX_OPS 300
#define MAX_PROCS 64
#define MAX_IDS 16
#define MAX_WRITE 4096

/* ---------------------------------------------------------------- input */

static struct {
  const uint8_t *d;
  size_t n, i;
} in;

static int more(void) { return in.i < in.n; }
static uint8_t u8(void) { return in.i < in.n ? in.d[in.i++] : 0; }
static uint16_t u16(void) { return (uint16_t)(u8() | (u8() << 8)); }
static uint32_t u32(void) { return (uint32_t)u16() | ((uint32_t)u16() << 16); }
static uint64_t u64(void) { return (uint64_t)u32() | ((uint64_t)u32() << 32); }

static uint8_t pat(uint32_t key, uint32_t stream, uint64_t off) {
  uint64_t x = (off + 1) * 0x9E3779B97F4A7C15ull ^ (((uint64_t)key << 8) | stream) * 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 32;
  return (uint8_t)x;
}

/* --------------------------------------------------------- fake processes */

typedef struct fproc {
  tether__session *s;        /* NULL once released */
  uint32_t id;               /* session id */
  int pty, ignore_term, grandchild;
  int alive;                 /* has not exited */
  int reaped;                /* the runner learned the exit (proc.reaped) */
  int released;
  int exit_sent;             /* tether__session_exit_info ran (Exited) */
  int signaled, code, sig;
  int present[2];
  int open[2];               /* the child's write end of stream i */
  uint64_t written[2], read[2];
  int eof_read[2];           /* a read returned end of file */
  int stdin_open;            /* the child's read end */
  size_t stdin_room;         /* bytes the child reads now */
  uint64_t stdin_got;
} fproc;

/* The parent's view of one session id. Spawns are answered in the order
 * they were sent (Spawned, SpawnFailed or Error{SESSION_EXISTS}), so the
 * Spawns in flight are a queue. */
enum { PV_IDLE, PV_STARTING, PV_RUNNING };
#define PV_QUEUE 8
typedef struct spawn_cfg {
  int pty, merge;
  int capped[2];
  uint64_t cap[2];
} spawn_cfg;
typedef struct pview {
  uint32_t id;
  int state;
  spawn_cfg q[PV_QUEUE];     /* Spawns not answered yet */
  unsigned qh, qn;
  unsigned statuses;         /* StatusRequests (not all are answered) */
  spawn_cfg cfg;             /* of the Spawn that started it */
  uint64_t pid;
  uint64_t next_off[2];
  int truncated[2];
  /* Which incarnation a frame sent between two Spawns of one id reaches
   * depends on whether the first Spawn fails, so these count over every
   * incarnation of the id (the checks are upper bounds). */
  uint64_t credit_sent[2];   /* Credit bytes for stdout/stderr */
  uint64_t stdin_sent;       /* Stdin data bytes, any offset */
  uint64_t stdin_credit;     /* Credit{STDIN} received */
  int stdin_bad;             /* a Stdin whose bytes are not the pattern */
  uint64_t stdin_off;        /* the next Stdin offset (to build frames only) */
} pview;

static struct {
  tether__runner *r;
  tether_transport *pt;      /* the parent's end */
  fproc procs[MAX_PROCS];
  size_t nprocs;
  pview ids[MAX_IDS];
  size_t nids;
  uint64_t skew;
  int in_abandon;            /* on_timers is past the shutdown's abandon time */
  int pt_closed;
  /* runner output */
  tether_frame_reader rd;
  void *pdec, *ndec;
  int hello_seen, fatal_seen, goodbye_seen, goodbye_sent;
  int flow;
  uint32_t window;
  unsigned long rframes, outputs, exits; /* FUZZ_VERBOSE */
  int trace;                 /* FUZZ_VERBOSE=2: every frame */
} F;

static pview *view(uint32_t id, int create);

static fproc *fp(const tether__session *s) {
  long k = (long)s->proc.pid - 1000;
  FUZZ_CHECK(k >= 0 && (size_t)k < F.nprocs, "session %u has no fake process (pid %ld)",
             s->id, (long)s->proc.pid);
  fproc *f = &F.procs[k];
  FUZZ_CHECK(f->s == s && !f->released, "session %u: fake process %ld used after release",
             s->id, k);
  return f;
}

static void die(fproc *f, int sig) {
  if (!f->alive) return;
  f->alive = 0;
  f->signaled = sig != 0;
  f->sig = sig;
  if (!f->grandchild) {
    f->open[0] = f->open[1] = 0;
    f->stdin_open = 0;
  }
}

int tether__session_start(tether__runner *r, tether__session *s, const tether_msg_spawn *req,
                          tether__spawn_out *so) {
  (void)r;
  memset(so, 0, sizeof *so);
  so->pid = -1;
  so->stdin_fd = so->stdout_fd = so->stderr_fd = -1;
  s->stdin_fd = -1;
  s->out[0].fd = s->out[1].fd = -1;
  s->proc.pidfd = -1;
  uint8_t outcome = 0;
  if (req->argv.count && req->argv.items[0].len >= 2 && req->argv.items[0].data[0] == 'o')
    outcome = (uint8_t)(req->argv.items[0].data[1] - 'a');
  if ((outcome & FR_OUT_FAIL) || F.nprocs >= MAX_PROCS) {
    so->stage = TETHER_STAGE_EXEC;
    so->error = TETHER_SPAWN_ERR_NOT_FOUND;
    so->os_error = 2;
    strcpy(so->message, "fake: no such program");
    return -1;
  }
  fproc *f = &F.procs[F.nprocs];
  memset(f, 0, sizeof *f);
  f->s = s;
  f->id = s->id;
  f->pty = req->io_mode == TETHER__IO_PTY;
  f->ignore_term = (outcome & FR_OUT_IGNORE_TERM) != 0;
  f->grandchild = (outcome & FR_OUT_GRANDCHILD) != 0;
  f->alive = 1;
  f->stdin_open = 1;
  s->proc.pid = (pid_t)(1000 + F.nprocs);
  F.nprocs++;
  s->last_in = -1;
  s->out[0].fd = 100;
  s->out[0].wire = f->pty ? TETHER_STREAM_PTY : TETHER_STREAM_STDOUT;
  s->out[0].present = true;
  s->out[0].capped = req->has_stdout_cap;
  s->out[0].cap = req->stdout_cap;
  s->out[1].wire = TETHER_STREAM_STDERR;
  if (!f->pty && !req->merge_stderr) {
    s->out[1].fd = 101;
    s->out[1].present = true;
    s->out[1].capped = req->has_stderr_cap;
    s->out[1].cap = req->stderr_cap;
  }
  if (req->stdin_mode != TETHER__STDIN_NULL) s->stdin_fd = 102;
  s->stdin_pipe_mode = s->stdin_fd >= 0;
  for (int i = 0; i < 2; i++) f->present[i] = f->open[i] = s->out[i].fd >= 0;
  so->pid = s->proc.pid;
  return 0;
}

long tether__session_read(tether__session *s, int i, uint8_t *buf, size_t len) {
  fproc *f = fp(s);
  FUZZ_CHECK(i == 0 || i == 1, "read on stream %d", i);
  FUZZ_CHECK(s->out[i].fd >= 0 && f->present[i], "session %u: read on closed stream %d",
             s->id, i);
  FUZZ_CHECK(!f->eof_read[i], "session %u: read on stream %d after end of file", s->id, i);
  FUZZ_CHECK(len > 0, "session %u: read of 0 bytes (looks like end of file)", s->id);
  uint64_t avail = f->written[i] - f->read[i];
  if (avail == 0) {
    if (f->open[i]) return TETHER_EAGAIN;
    f->eof_read[i] = 1;
    return 0;
  }
  size_t n = avail < len ? (size_t)avail : len;
  for (size_t k = 0; k < n; k++) buf[k] = pat((uint32_t)s->proc.pid, (uint32_t)i, f->read[i] + k);
  f->read[i] += n;
  return (long)n;
}

/* The fake's read takes all there is, as a pipe's does. */
bool tether__session_short_read_drains(const tether__session *s, int i) {
  (void)s;
  (void)i;
  return true;
}

long tether__session_write_stdin(tether__session *s, const uint8_t *p, size_t n) {
  fproc *f = fp(s);
  if (s->stdin_fd < 0) return TETHER_ECLOSED;
  FUZZ_CHECK(n > 0, "session %u: stdin write of 0 bytes", s->id);
  if (!f->stdin_open) {
    s->stdin_broken = true;
    s->stdin_fd = -1;
    return TETHER_ECLOSED;
  }
  if (f->stdin_room == 0) return TETHER_EAGAIN;
  size_t w = n < f->stdin_room ? n : f->stdin_room;
  pview *v = view(s->id, 0);
  if (!f->pty && v && !v->stdin_bad)
    for (size_t k = 0; k < w; k++)
      FUZZ_CHECK(p[k] == pat(s->id, 4, f->stdin_got + k),
                 "session %u: stdin byte %llu reaching the child is not the parent's",
                 s->id, (unsigned long long)(f->stdin_got + k));
  f->stdin_got += w;
  f->stdin_room -= w;
  return (long)w;
}

void tether__session_close_stdin(tether__session *s) {
  (void)fp(s);
  s->stdin_fd = -1;
}

size_t tether__session_stdin_eof(tether__session *s, uint8_t out[2]) {
  fproc *f = fp(s);
  if (!f->pty) return 0;
  out[0] = 4; /* VEOF in canonical mode */
  return 1;
}

int tether__session_resize(tether__session *s, uint32_t rows, uint32_t cols) {
  fproc *f = fp(s);
  if (!f->pty) return TETHER_EINVAL;
  if (rows < 1 || cols < 1 || rows > 32767 || cols > 32767) return TETHER_EINVAL;
  return 0;
}

void tether__session_close_stream(tether__session *s, int i) {
  fproc *f = fp(s);
  FUZZ_CHECK(i == 0 || i == 1, "close of stream %d", i);
  if (s->out[i].fd < 0) return;
  FUZZ_CHECK(f->eof_read[i] || F.in_abandon,
             "session %u: stream %d closed before its end of file, outside the shutdown",
             s->id, i);
  s->out[i].fd = -1;
  if (f->pty && i == 0) s->stdin_fd = -1;
}

static void fake_signal(tether__session *s, int sig) {
  fproc *f = fp(s);
  switch (sig) {
    case SIGKILL: die(f, SIGKILL); break;
    case SIGTERM: case SIGINT: case SIGHUP: case SIGQUIT:
      if (!f->ignore_term) die(f, sig);
      break;
    default: break;
  }
}

void tether__session_signal(tether__session *s, int os_sig, bool group) {
  (void)group;
  fake_signal(s, os_sig);
}

void tether__session_terminate(tether__session *s) {
  fake_signal(s, SIGTERM);
  fake_signal(s, SIGCONT);
}

void tether__session_kill_now(tether__session *s) { fake_signal(s, SIGKILL); }

/* No cgroup in the fake: limits never poll (a Spawn with limits is still
 * version-gated by runner.c). */
uint64_t tether__session_poll_limits(tether__session *s, uint64_t now) {
  (void)s;
  (void)now;
  return 0;
}

void tether__session_exit_info(const tether__session *s, tether_msg_exited *e) {
  fproc *f = fp(s);
  FUZZ_CHECK(s->proc.reaped && f->reaped && !f->alive,
             "session %u: Exited for a process that was not reaped", s->id);
  for (int i = 0; i < 2; i++)
    FUZZ_CHECK(!f->present[i] || s->out[i].fd < 0,
               "session %u: Exited while stream %d is open", s->id, i);
  FUZZ_CHECK(!f->exit_sent, "session %u: a second Exited", s->id);
  f->exit_sent = 1;
  memset(e, 0, sizeof *e);
  if (f->signaled) {
    e->signaled = true;
    e->raw_signal = f->sig;
    e->signal = tether__signal_from_os(f->sig);
  } else {
    e->code = (uint32_t)f->code;
  }
  e->has_usage = true;
  e->user_time_us = 7;
}

void tether__session_release(tether__session *s) {
  fproc *f = fp(s);
  s->stdin_fd = -1;
  s->out[0].fd = s->out[1].fd = -1;
  if (!s->proc.reaped) {
    die(f, SIGKILL);
    s->proc.reaped = true;
    f->reaped = 1;
  }
  f->released = 1;
  f->s = NULL;
}

int tether__exitwatch_init(tether__exitwatch *w, tether_runner_child_watch mode) {
  (void)mode;
  w->use_pidfd = true;
  w->sigchld_fd = -1;
  return 0;
}

void tether__exitwatch_free(tether__exitwatch *w) { (void)w; }

void tether__proc_reap_blocking(tether__proc *p) {
  if (p->reaped) return;
  long k = (long)p->pid - 1000;
  FUZZ_CHECK(k >= 0 && (size_t)k < F.nprocs, "reap of an unknown pid %ld", (long)p->pid);
  FUZZ_CHECK(!F.procs[k].alive, "blocking reap of a live process (would hang)");
  p->reaped = true;
  F.procs[k].reaped = 1;
}

/* ------------------------------------------------------------- the loop */

static uint64_t vnow(void) { return tether__runner_now_ms() + F.skew; }

static void drain(void);

static void flush(tether__runner *r) {
  if (r->channel_dead) return;
  int rc = tether_channel_flush(r->ch);
  if (rc == 0 || rc == TETHER_EAGAIN) return;
  r->channel_dead = true;
  tether__runner_close(r, rc == TETHER_ECLOSED ? 0 : rc, "writing to the parent failed: %s",
                       tether_channel_error(r->ch));
}

/* One turn of runner/loop_posix.c's loop, with the fake descriptors that
 * poll(2) would report ready. */
static void turn(void) {
  tether__runner *r = F.r;
  if (!r->input_done) tether__runner_on_input(r);
  tether__runner_reap_finished(r);
  flush(r);
  drain();
  if (tether__runner_done(r)) return;
  uint64_t now = vnow();
  F.in_abandon = r->state == TETHER__CLOSING && r->nsessions && now >= r->shutdown_abandon_at;
  /* A reaped session whose pipes are still held 1 s after Terminate's kill
   * is abandoned too (PROTOCOL.md §6.3). */
  for (size_t i = 0; i < r->nsessions; i++) {
    const tether__session *s = r->sessions[i];
    if (s->abandon_at && now >= s->abandon_at && s->proc.reaped) F.in_abandon = 1;
  }
  (void)tether__runner_on_timers(r, now);
  F.in_abandon = 0;
  tether__runner_reap_finished(r);
  if (tether__runner_done(r)) {
    flush(r);
    drain();
    return;
  }
  bool bp = tether__runner_backpressured(r);
  for (size_t k = 0; k < r->nsessions; k++) {
    tether__session *s = r->sessions[k];
    fproc *f = fp(s);
    for (int i = 0; i < 2; i++)
      if (!bp && tether__runner_stream_wanted(r, s, i) &&
          (f->written[i] > f->read[i] || !f->open[i]))
        tether__runner_on_output(r, s, i);
    if (s->stdin_fd >= 0 && s->in_len > 0 && (f->stdin_room > 0 || !f->stdin_open))
      tether__runner_on_stdin_writable(r, s);
    if (!f->alive && !s->proc.reaped) { /* the pidfd polls readable */
      s->proc.reaped = true;
      f->reaped = 1;
    }
  }
  flush(r);
  drain();
}

/* --------------------------------------------------------- runner output */

static pview *view(uint32_t id, int create) {
  for (size_t i = 0; i < F.nids; i++)
    if (F.ids[i].id == id) return &F.ids[i];
  if (!create || F.nids >= MAX_IDS) return NULL;
  pview *v = &F.ids[F.nids++];
  memset(v, 0, sizeof *v);
  v->id = id;
  return v;
}

static int stream_ok(const pview *v, uint32_t stream) {
  if (v->cfg.pty) return stream == TETHER_STREAM_PTY;
  return stream == TETHER_STREAM_STDOUT || (stream == TETHER_STREAM_STDERR && !v->cfg.merge);
}

/* A new incarnation of the id starts (its Spawn found it idle). */
static void incarnation(pview *v) {
  v->state = PV_STARTING;
  v->stdin_off = 0;
}

static void session_over(pview *v) {
  v->state = PV_IDLE;
  if (v->qn) incarnation(v);
}

static spawn_cfg pop_spawn(pview *v) {
  spawn_cfg c = v->q[v->qh];
  v->qh = (v->qh + 1) % PV_QUEUE;
  v->qn--;
  return c;
}

static void runner_frame(const uint8_t *pl, size_t len) {
  tether_msg m;
  const char *why = NULL;
  int rc = fuzz_codec_pbc.decode(F.pdec, pl, len, &m, &why);
  F.rframes++;
  F.outputs += rc == 0 && m.type == TETHER_MSG_OUTPUT;
  F.exits += rc == 0 && m.type == TETHER_MSG_EXITED;
  FUZZ_CHECK(rc == 0, "the runner sent a frame that does not decode: %s (%s)",
             tether_err_name(rc), why ? why : "-");
  const char *name = tether_msg_type_name(m.type);
  if (F.trace)
    fprintf(stderr, "  runner> %s session %u%s\n", name, m.session,
            m.type == TETHER_MSG_CREDIT || m.type == TETHER_MSG_ERROR ? " (...)" : "");
  FUZZ_CHECK(!F.fatal_seen, "the runner sent %s after its fatal Error", name);
  FUZZ_CHECK(!F.goodbye_seen, "the runner sent %s after its Goodbye", name);
  if (!F.hello_seen) {
    FUZZ_CHECK(m.type == TETHER_MSG_HELLO && m.session == 0 &&
                   m.u.hello.role == TETHER_ROLE_RUNNER,
               "the runner's first frame is %s", name);
    F.hello_seen = 1;
    return;
  }
  if (m.type == TETHER_MSG_ERROR) {
    FUZZ_CHECK(m.u.error.code >= 1 && m.u.error.code <= 9, "Error code %u", m.u.error.code);
    FUZZ_CHECK(m.u.error.message.len > 0, "Error without a message");
    if (m.u.error.fatal) F.fatal_seen = 1;
    pview *v = m.session ? view(m.session, 0) : NULL;
    if (v && m.u.error.code == TETHER_WIRE_SESSION_EXISTS) {
      FUZZ_CHECK(v->qn > 0 && v->state != PV_IDLE, "SESSION_EXISTS for session %u", v->id);
      (void)pop_spawn(v);
    }
    return;
  }
  if (m.type == TETHER_MSG_GOODBYE) {
    FUZZ_CHECK(m.session == 0 && F.goodbye_sent, "Goodbye the parent did not ask for");
    F.goodbye_seen = 1;
    for (size_t i = 0; i < F.nids; i++)
      FUZZ_CHECK(F.ids[i].state != PV_RUNNING, "Goodbye while session %u runs", F.ids[i].id);
    return;
  }
  FUZZ_CHECK(m.session != 0, "%s on session 0", name);
  pview *v = view(m.session, 0);
  FUZZ_CHECK(v != NULL, "%s for session %u, which the parent never spawned", name, m.session);
  switch (m.type) {
    case TETHER_MSG_SPAWNED:
    case TETHER_MSG_SPAWN_FAILED:
      FUZZ_CHECK(v->state == PV_STARTING && v->qn > 0,
                 "%s for session %u, which is not starting (state %d, spawns %u)", name, v->id,
                 v->state, v->qn);
      v->cfg = pop_spawn(v);
      if (m.type == TETHER_MSG_SPAWN_FAILED) {
        session_over(v);
        return;
      }
      v->state = PV_RUNNING;
      v->pid = m.u.spawned.pid;
      for (int i = 0; i < 2; i++) {
        v->next_off[i] = 0;
        v->truncated[i] = 0;
      }
      return;
    case TETHER_MSG_OUTPUT: {
      const tether_msg_output *o = &m.u.output;
      FUZZ_CHECK(v->state == PV_RUNNING, "Output for session %u, which is not running", v->id);
      FUZZ_CHECK(stream_ok(v, o->stream), "Output on stream %u of session %u", o->stream,
                 v->id);
      int i = o->stream == TETHER_STREAM_STDERR;
      FUZZ_CHECK(!v->truncated[i], "Output after OutputTruncated on session %u", v->id);
      FUZZ_CHECK(o->offset == v->next_off[i],
                 "session %u stream %u: Output at offset %llu, expected %llu", v->id,
                 o->stream, (unsigned long long)o->offset,
                 (unsigned long long)v->next_off[i]);
      FUZZ_CHECK(o->data.len > 0, "empty Output");
      for (size_t k = 0; k < o->data.len; k++)
        FUZZ_CHECK(o->data.data[k] == pat((uint32_t)v->pid, (uint32_t)i, o->offset + k),
                   "session %u stream %u: Output byte %llu is not the child's", v->id,
                   o->stream, (unsigned long long)(o->offset + k));
      v->next_off[i] += o->data.len;
      FUZZ_CHECK(!v->cfg.capped[i] || v->next_off[i] <= v->cfg.cap[i],
                 "session %u: Output past the cap", v->id);
      if (F.flow && v->credit_sent[i] <= UINT64_MAX - F.window)
        FUZZ_CHECK(v->next_off[i] <= (uint64_t)F.window + v->credit_sent[i],
                   "session %u stream %u: %llu bytes of Output with a window of %u and "
                   "%llu credited", v->id, o->stream, (unsigned long long)v->next_off[i],
                   F.window, (unsigned long long)v->credit_sent[i]);
      return;
    }
    case TETHER_MSG_OUTPUT_TRUNCATED: {
      uint32_t st = m.u.output_truncated.stream;
      FUZZ_CHECK(v->state == PV_RUNNING && stream_ok(v, st), "OutputTruncated");
      int i = st == TETHER_STREAM_STDERR;
      FUZZ_CHECK(v->cfg.capped[i] && !v->truncated[i] && m.u.output_truncated.dropped > 0,
                 "OutputTruncated on session %u: capped %d, again %d, dropped %llu", v->id,
                 v->cfg.capped[i], v->truncated[i],
                 (unsigned long long)m.u.output_truncated.dropped);
      v->truncated[i] = 1;
      return;
    }
    case TETHER_MSG_STATUS_REPLY:
      FUZZ_CHECK(v->state == PV_RUNNING && v->statuses > 0, "StatusReply for session %u",
                 v->id);
      v->statuses--;
      return;
    case TETHER_MSG_CREDIT:
      FUZZ_CHECK(F.flow && v->state == PV_RUNNING && m.u.credit.stream == TETHER_STREAM_STDIN,
                 "Credit on stream %u for session %u", m.u.credit.stream, v->id);
      v->stdin_credit += m.u.credit.bytes;
      FUZZ_CHECK(v->stdin_credit <= v->stdin_sent,
                 "session %u: %llu bytes of stdin credit given back for %llu sent", v->id,
                 (unsigned long long)v->stdin_credit, (unsigned long long)v->stdin_sent);
      return;
    case TETHER_MSG_EXITED:
      FUZZ_CHECK(v->state == PV_RUNNING, "Exited for session %u, which is not running", v->id);
      session_over(v);
      return;
    default:
      FUZZ_FAIL("the runner sent %s", name);
  }
}

static void drain(void) {
  uint8_t buf[4096];
  for (;;) {
    long n = tether_transport_read(F.pt, buf, sizeof buf);
    if (n <= 0) return;
    size_t off = 0;
    while (off < (size_t)n) {
      size_t used = 0;
      int rc = tether_frame_reader_feed(&F.rd, buf + off, (size_t)n - off, &used);
      off += used;
      FUZZ_CHECK(rc >= 0, "the runner's output does not frame: %s",
                 tether_frame_reader_error(&F.rd));
      if (rc == 1) {
        const uint8_t *pl;
        size_t len;
        tether_frame_reader_next(&F.rd, &pl, &len);
        runner_frame(pl, len);
      }
    }
  }
}

/* --------------------------------------------------------- parent frames */

/* Updates the parent's view for a frame about to be sent, as the runner
 * will decode it (garbage included). Returns 0 if the frame must not be
 * sent (too many Spawns in flight for the model). */
static int push_spawn(uint32_t id, const tether_msg_spawn *sp) {
  pview *v = view(id, 1);
  if (!v || v->qn == PV_QUEUE) return 0;
  spawn_cfg c;
  memset(&c, 0, sizeof c);
  if (sp) {
    c.pty = sp->io_mode == TETHER__IO_PTY;
    c.merge = sp->merge_stderr;
    c.capped[0] = sp->has_stdout_cap;
    c.cap[0] = sp->stdout_cap;
    c.capped[1] = sp->has_stderr_cap;
    c.cap[1] = sp->stderr_cap;
  }
  v->q[(v->qh + v->qn) % PV_QUEUE] = c;
  v->qn++;
  if (v->state == PV_IDLE) incarnation(v);
  return 1;
}

static int note_sent(const uint8_t *pl, size_t len) {
  tether_msg m;
  int rc = fuzz_codec_nanopb.decode(F.ndec, pl, len, &m, NULL);
  if (F.trace)
    fprintf(stderr, "  parent> %s session %u (%s)\n", tether_msg_type_name(m.type), m.session,
            tether_err_name(rc));
  if (rc != 0 && rc != TETHER_EDECODE && m.session != 0 && m.type == TETHER_MSG_SPAWN)
    return push_spawn(m.session, NULL); /* refused, but answered on its session */
  if (rc != 0 || m.session == 0) {
    if (rc == 0 && m.type == TETHER_MSG_GOODBYE) F.goodbye_sent = 1;
    return 1;
  }
  if (m.type == TETHER_MSG_SPAWN) return push_spawn(m.session, &m.u.spawn);
  pview *v = view(m.session, 0);
  if (!v) return 1;
  switch (m.type) {
    case TETHER_MSG_STDIN: {
      const tether_bytes d = m.u.stdin_data.data;
      for (size_t k = 0; k < d.len; k++)
        if (d.data[k] != pat(v->id, 4, m.u.stdin_data.offset + k)) v->stdin_bad = 1;
      v->stdin_sent += d.len;
      if (m.u.stdin_data.offset == v->stdin_off) v->stdin_off += d.len;
      break;
    }
    case TETHER_MSG_STATUS_REQUEST:
      v->statuses++;
      break;
    case TETHER_MSG_CREDIT:
      if (m.u.credit.stream == TETHER_STREAM_STDOUT || m.u.credit.stream == TETHER_STREAM_STDERR ||
          m.u.credit.stream == TETHER_STREAM_PTY) {
        int i = m.u.credit.stream == TETHER_STREAM_STDERR;
        uint64_t c = v->credit_sent[i] + m.u.credit.bytes;
        v->credit_sent[i] = c < v->credit_sent[i] ? UINT64_MAX : c;
      }
      break;
    default: break;
  }
  return 1;
}

static void send_payload(const uint8_t *pl, size_t len) {
  uint8_t hdr[TETHER_FRAME_HEADER_LEN];
  if (F.pt_closed) return;
  if (len && !note_sent(pl, len)) return;
  tether_frame_header_put(hdr, (uint32_t)len);
  if (tether_transport_write(F.pt, hdr, sizeof hdr) < 0) return;
  if (len) (void)tether_transport_write(F.pt, pl, len);
}

static void send_msg(const tether_msg *m) {
  static uint8_t buf[MAX_WRITE + 1024];
  size_t n = fuzz_codec_pbc.encoded_size(m), w = 0;
  if (n == 0 || n > sizeof buf) return;
  if (fuzz_codec_pbc.encode(m, buf, n, &w, NULL) != 0) return;
  send_payload(buf, w);
}

static tether_msg msg(uint32_t session, tether_msg_type t) {
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.session = session;
  m.type = t;
  return m;
}

static uint32_t pick_id(void) {
  uint8_t b = u8();
  if (b < FS_SEL_ZERO) return 1 + b % 6;
  if (b == FS_SEL_ZERO) return 0;
  if (b == FS_SEL_NEVER) return 999;
  return u32();
}

static fproc *pick_proc(void) {
  uint8_t b = u8();
  if (F.nprocs == 0) return NULL;
  /* Prefer processes that are still someone's. */
  for (size_t k = 0; k < F.nprocs; k++) {
    fproc *f = &F.procs[(b + k) % F.nprocs];
    if (f->s) return f;
  }
  return &F.procs[b % F.nprocs];
}

static uint32_t pick_stream(void) {
  uint8_t b = u8();
  switch (b & 7) {
    case 0: case 1: case 2: return TETHER_STREAM_STDOUT;
    case 3: case 4: return TETHER_STREAM_STDERR;
    case 5: return TETHER_STREAM_PTY;
    case 6: return TETHER_STREAM_STDIN;
    default: return b >> 3;
  }
}

static void send_spawn(void) {
  static char argv0[3] = "oa";
  static const tether_bytes env1[] = {{(const uint8_t *)"A=1", 3}};
  uint32_t id = pick_id();
  uint8_t flags = u8(), outcome = u8();
  tether_bytes argv[2] = {{(const uint8_t *)argv0, 2}, {(const uint8_t *)"x", 1}};
  argv0[1] = (char)('a' + (outcome & 15));
  tether_msg m = msg(id, TETHER_MSG_SPAWN);
  m.u.spawn.argv = (tether_bytes_list){argv, 1 + (flags & 1)};
  m.u.spawn.env_mode = (flags & 2) ? TETHER_ENV_CLEAR : TETHER_ENV_OVERLAY;
  if (flags & 4) m.u.spawn.env = (tether_bytes_list){env1, 1};
  m.u.spawn.io_mode = (outcome & FR_OUT_PTY) ? TETHER__IO_PTY : TETHER__IO_PIPES;
  m.u.spawn.stdin_mode = (flags & 8) ? TETHER__STDIN_NULL : TETHER__STDIN_PIPE;
  m.u.spawn.merge_stderr = (flags & 16) != 0;
  if (flags & 32) {
    m.u.spawn.has_stdout_cap = true;
    m.u.spawn.stdout_cap = u8();
  }
  if (flags & 64) {
    m.u.spawn.has_stderr_cap = true;
    m.u.spawn.stderr_cap = (uint64_t)u8() * 16;
  }
  if (flags & 128) m.u.spawn.timeout_ms = 1 + u8() * 100u;
  if (m.u.spawn.io_mode == TETHER__IO_PTY) {
    m.u.spawn.pty_rows = outcome >> 4;
    m.u.spawn.pty_cols = 80;
  }
  send_msg(&m);
}

static void send_stdin(uint32_t id, uint64_t off, size_t len) {
  static uint8_t data[512];
  if (len == 0) return;
  for (size_t k = 0; k < len; k++) data[k] = pat(id, 4, off + k);
  tether_msg m = msg(id, TETHER_MSG_STDIN);
  m.u.stdin_data.data = (tether_bytes){data, len};
  m.u.stdin_data.offset = off;
  send_msg(&m);
}

static void child_write(fproc *f, int i, size_t len) {
  if (!f || !f->present[i] || !f->open[i]) return;
  if (!f->alive && !f->grandchild) return;
  f->written[i] += len;
}

static void parent_hello(uint8_t r0, uint8_t r1) {
  static const uint32_t windows[] = {0, 1, 64, 4096};
  static const uint32_t maxw[] = {0, 64, 65536, TETHER_WINDOW_MAX};
  (void)tether_transport_write(F.pt, tether_preface, TETHER_PREFACE_LEN);
  int mode = r0 >> 6;
  if (mode == 3) return;
  tether_msg m;
  uint32_t caps = TETHER_CAP_BIT(TETHER_CAP_PIPES) | TETHER_CAP_BIT(TETHER_CAP_SIGNALS);
  if (mode != 1) caps |= TETHER_CAP_BIT(TETHER_CAP_FLOW_CONTROL);
  tether_hello_init(&m, TETHER_ROLE_PARENT, "fuzz-parent", caps,
                    (r1 & 16) ? TETHER_FRAME_MAX_MINIMUM : TETHER_FRAME_MAX_DEFAULT, 0);
  m.u.hello.initial_window = windows[r1 & 3];
  m.u.hello.max_window = maxw[(r1 >> 2) & 3];
  if (mode == 2) {
    if (r1 & 128) m.u.hello.role = TETHER_ROLE_RUNNER;
    else /* no version in common with ours */
      m.u.hello.version_min = TETHER_PROTOCOL_VERSION_MAX + 1,
      m.u.hello.version_max = TETHER_PROTOCOL_VERSION_MAX + 2;
  }
  send_msg(&m);
}

static void op(int code) {
  uint32_t id;
  tether_msg m;
  switch (code) {
    case FR_SPAWN: send_spawn(); break;
    case FR_STDIN: {
      id = pick_id();
      pview *v = view(id, 0);
      size_t len = u8() * 2u;
      send_stdin(id, v ? v->stdin_off : 0, len);
      break;
    }
    case FR_STDIN_AT: {
      id = pick_id();
      size_t len = u8();
      uint8_t mode = u8();
      pview *v = view(id, 0);
      uint64_t next = v ? v->stdin_off : 0;
      uint64_t off = (mode & 1) ? next + 1 + (mode >> 1) : (mode & 2) ? u64() : (next ? next - 1 : 0);
      send_stdin(id, off, len ? len : 1);
      break;
    }
    case FR_STDIN_CLOSE: send_msg(&(tether_msg){.session = pick_id(), .type = TETHER_MSG_STDIN_CLOSE}); break;
    case FR_RESIZE:
      m = msg(pick_id(), TETHER_MSG_RESIZE);
      m.u.resize.rows = u16();
      m.u.resize.cols = u16();
      send_msg(&m);
      break;
    case FR_SIGNAL: {
      static const uint32_t sigs[] = {TETHER_SIG_TERM, TETHER_SIG_KILL, TETHER_SIG_INT,
                                      TETHER_SIG_WINCH, TETHER_SIG_STOP, 0, 77, TETHER_SIG_CONT};
      m = msg(pick_id(), TETHER_MSG_SIGNAL);
      uint8_t b = u8();
      m.u.signal.signal = sigs[b & 7];
      m.u.signal.group = (b >> 3) & 1;
      send_msg(&m);
      break;
    }
    case FR_TERMINATE:
      m = msg(pick_id(), TETHER_MSG_TERMINATE);
      m.u.terminate.grace_ms = u8() * 10u;
      send_msg(&m);
      break;
    case FR_CREDIT: {
      m = msg(pick_id(), TETHER_MSG_CREDIT);
      m.u.credit.stream = pick_stream();
      uint8_t b = u8();
      switch (b & 3) {
        case 0: m.u.credit.bytes = u8(); break;
        case 1: m.u.credit.bytes = u16(); break;
        case 2: m.u.credit.bytes = UINT64_MAX - u8(); break;
        default: m.u.credit.bytes = u64(); break;
      }
      send_msg(&m);
      break;
    }
    case FR_STATUS: send_msg(&(tether_msg){.session = pick_id(), .type = TETHER_MSG_STATUS_REQUEST}); break;
    case FR_GOODBYE:
      m = msg(0, TETHER_MSG_GOODBYE);
      send_msg(&m);
      break;
    case FR_ERROR: {
      m = msg(pick_id(), TETHER_MSG_ERROR);
      uint8_t b = u8();
      m.u.error.code = b % 11;
      m.u.error.fatal = (b >> 4) & 1;
      m.u.error.message = (tether_bytes){(const uint8_t *)"err", 3};
      send_msg(&m);
      break;
    }
    case FR_HELLO:
      tether_hello_init(&m, TETHER_ROLE_PARENT, "again", 0, TETHER_FRAME_MAX_DEFAULT, 0);
      send_msg(&m);
      break;
    case FR_WRONG_WAY: {
      static const tether_msg_type ways[] = {
          TETHER_MSG_SPAWNED, TETHER_MSG_SPAWN_FAILED, TETHER_MSG_OUTPUT,
          TETHER_MSG_OUTPUT_TRUNCATED, TETHER_MSG_STATUS_REPLY, TETHER_MSG_EXITED};
      m = msg(pick_id(), ways[u8() % 6]);
      if (m.type == TETHER_MSG_OUTPUT) {
        m.u.output.stream = 1;
        m.u.output.data = (tether_bytes){(const uint8_t *)"x", 1};
      }
      send_msg(&m);
      break;
    }
    case FR_RAW: {
      uint8_t buf[256];
      size_t n = u8();
      for (size_t k = 0; k < n; k++) buf[k] = u8();
      send_payload(buf, n);
      break;
    }
    case FR_RAW_HEADER: {
      uint8_t hdr[4] = {u8(), u8(), u8(), u8()};
      if (!F.pt_closed) (void)tether_transport_write(F.pt, hdr, 4);
      break;
    }
    case FR_NONE_BODY: {
      uint8_t b[6] = {0x08, (uint8_t)(pick_id() & 0x7f)};
      send_payload(b, 2);
      break;
    }
    case FR_CHILD_WRITE: {
      fproc *f = pick_proc();
      uint8_t s = u8();
      child_write(f, s & 1, 1 + u16() % MAX_WRITE);
      break;
    }
    case FR_CHILD_EOF: {
      fproc *f = pick_proc();
      uint8_t s = u8();
      if (f) f->open[s & 1] = 0;
      break;
    }
    case FR_CHILD_EXIT: {
      fproc *f = pick_proc();
      uint8_t how = u8();
      if (f && f->alive) {
        f->code = u8();
        die(f, (how & 1) ? SIGSEGV : 0);
      }
      break;
    }
    case FR_CHILD_READ: {
      fproc *f = pick_proc();
      size_t n = (size_t)u8() * 64;
      if (f && (f->alive || f->grandchild)) f->stdin_room += n;
      break;
    }
    case FR_CHILD_CLOSE_STDIN: {
      fproc *f = pick_proc();
      if (f) f->stdin_open = 0;
      break;
    }
    case FR_TURN: turn(); break;
    case FR_TIME: {
      static const uint64_t steps[] = {1, 100, 1000, 2100, 5000, 11000, 60000, 1000000};
      F.skew += steps[u8() & 7];
      turn();
      break;
    }
    case FR_EOF: {
      uint8_t b = u8();
      if (F.pt_closed) break;
      if (b & 1) {
        uint8_t part[3] = {9, 0, 0};
        (void)tether_transport_write(F.pt, part, 1 + (b >> 1) % 3);
      }
      F.pt->vt->shutdown_write(F.pt);
      F.pt_closed = 1;
      break;
    }
    case FR_FLOOD: {
      fproc *f = pick_proc();
      uint8_t s = u8();
      size_t count = 1 + u8() % 32;
      for (size_t k = 0; k < count; k++) {
        child_write(f, s & 1, 1 + (size_t)(s >> 1) * 64);
        turn();
      }
      break;
    }
    default: break;
  }
}

/* ----------------------------------------------------------------- main */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_set_input(data, size);
  void *pdec = fuzz_decoder(&fuzz_codec_pbc, 0), *ndec = fuzz_decoder(&fuzz_codec_nanopb, 1);
  FUZZ_CHECK(pdec && ndec, "decoders");
  fuzz_decoder_settle(&fuzz_codec_pbc, pdec);
  FUZZ_ALLOC_BEGIN();
  memset(&F, 0, sizeof F);
  F.pdec = pdec;
  F.ndec = ndec;
  in.d = data, in.n = size, in.i = 0;
  const char *ve = getenv("FUZZ_VERBOSE");
  F.trace = ve && ve[0] == '2';
  tether_frame_reader_init(&F.rd, TETHER_FRAME_MAX_CEILING, 1);

  uint8_t r0 = u8(), r1 = u8();
  static const uint32_t sessions[] = {1, 2, 4, 8};
  static const uint32_t windows[] = {1, 7, 100, 4096, 65536, TETHER_WINDOW_DEFAULT,
                                     TETHER_WINDOW_DEFAULT, TETHER_WINDOW_DEFAULT};
  tether_runner_options o;
  tether_runner_options_init(&o);
  o.max_sessions = sessions[r0 & 3];
  o.window = windows[(r0 >> 2) & 7];
  if (r0 & 32) o.stdin_queue_max = 16;

  tether_transport *rt = NULL;
  FUZZ_CHECK(tether_transport_memory_pair(&F.pt, &rt) == 0, "memory pair");
  F.r = malloc(sizeof *F.r);
  FUZZ_CHECK(F.r != NULL, "malloc");
  int rc = tether__runner_init(F.r, &o, rt);
  FUZZ_CHECK(rc == 0, "runner init: %s (%s)", tether_err_name(rc), F.r->why);
  parent_hello(r0, r1);
  turn();
  if (F.r->state == TETHER__READY) {
    F.flow = F.r->flow;
    F.window = F.r->window;
  }

  for (int ops = 0; ops < MAX_OPS && more(); ops++) {
    uint8_t b = u8();
    op((b & 0x1f) % FR_OP_COUNT);
    if (b & FS_THEN_PROCESS) turn();
    if (F.r->state == TETHER__READY && !F.window) {
      F.flow = F.r->flow;
      F.window = F.r->window;
    }
  }

  /* The end: the parent goes away; within a bounded number of turns and
   * enough (virtual) time the runner must be done. */
  if (!F.pt_closed) {
    F.pt->vt->shutdown_write(F.pt);
    F.pt_closed = 1;
  }
  for (int k = 0; k < 8 && !tether__runner_done(F.r); k++) {
    turn();
    F.skew += 100000;
  }
  FUZZ_CHECK(tether__runner_done(F.r),
             "the runner is not done after the connection closed (state %d, %zu sessions)",
             (int)F.r->state, F.r->nsessions);
  static int verbose = -1;
  if (verbose < 0) verbose = getenv("FUZZ_VERBOSE") != NULL;
  if (verbose)
    fprintf(stderr, "fuzz_runner: %zu processes, %lu frames (%lu Output, %lu Exited), "
            "result %s (%s), %zu of %zu script bytes\n", F.nprocs, F.rframes, F.outputs,
            F.exits, tether_err_name(F.r->result), F.r->why, in.i, in.n);
  tether__runner_say_goodbye(F.r);
  flush(F.r);
  drain();
  int stopped = F.r->stop_output || F.r->channel_dead;
  tether__runner_free(F.r);
  free(F.r);
  F.r = NULL;
  for (size_t k = 0; k < F.nprocs; k++) {
    fproc *f = &F.procs[k];
    FUZZ_CHECK(f->released && f->reaped && !f->alive,
               "fake process %zu (session %u): released %d reaped %d alive %d", k, f->id,
               f->released, f->reaped, f->alive);
    FUZZ_CHECK(f->exit_sent || stopped, "session %u ended without Exited", f->id);
  }
  tether_transport_free(F.pt);
  tether_frame_reader_free(&F.rd);
  fuzz_decoder_settle(&fuzz_codec_pbc, pdec);
  FUZZ_ALLOC_END();
  return 0;
}
