/* Runner internals: the connection state, sessions, and the seams between
 * the shared protocol logic (runner.c) and the platform files
 * (*_posix.c). Not installed. */
#ifndef TETHER_RUNNER_INTERNAL_H
#define TETHER_RUNNER_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tether/runner.h"
#include "codec/codec.h"
#include "codec/hello.h"
#include "sandbox/sandbox.h"
#include "transport/channel.h"
#include "transport/escape.h" /* tether__escape: printable messages */
#include "transport/compat.h"

/* The platform layer. Besides its types, each names the OsErrorSpace of
 * SpawnFailed.os_error and the capability its terminal sessions have. */
#ifdef _WIN32
#  include "proc_win.h" /* TETHER_OS_ERR_WIN32, TETHER_CAP_CONPTY */
   /* Spawn.limits: refused (SpawnFailed{LIMITS, UNSUPPORTED}). */
#  define TETHER__LIMITS_CAPABILITY 0u
#else
#  include "proc_posix.h"
#  define TETHER__OS_ERR_SPACE TETHER_OS_ERR_POSIX
#  define TETHER__PTY_CAPABILITY TETHER_CAP_PTY
#  define TETHER__LIMITS_CAPABILITY TETHER_CAP_BIT(TETHER_CAP_RESOURCE_LIMITS)
#endif

/* How often a session cgroup is asked whether a limit was hit. */
#define TETHER__LIMITS_POLL_MS 50u

/* True when Spawn.limits asks for anything (0 = unset everywhere). */
static inline bool tether__limits_any(const tether_msg_spawn *req) {
  const tether_msg_limits *l = &req->limits;
  return req->has_limits && (l->memory_bytes || l->processes || l->cpu_ms ||
                             l->open_files || l->file_size_bytes);
}

struct tether__cgroup;

/* Output read size: one Output frame carries at most this many data bytes
 * (further bounded by the peer's max frame size minus framing overhead). */
#define TETHER__RUNNER_READ_CHUNK (64u << 10)
/* Room for an Output frame's non-data fields (session, stream, offset,
 * tags and lengths). */
#define TETHER__OUTPUT_OVERHEAD 64u
/* Reads per output fd per loop turn, so one chatty child cannot starve the
 * others or the channel. */
#define TETHER__READS_PER_TURN 4
/* Queued channel output allowed beyond output_high_water for replies to
 * the parent's frames before the runner stops reading them too. */
#define TETHER__CONTROL_ROOM (1u << 20)

typedef struct tether__stream {
  int fd;            /* parent end of the pipe (pty: the master, borrowed);
                        -1 after EOF */
  uint32_t wire;     /* TETHER_STREAM_STDOUT / _STDERR / _PTY */
  bool present;      /* the session has this stream (not merged, not pty) */
  uint64_t offset;   /* bytes sent so far (the next Output's offset) */
  bool capped;
  uint64_t cap;      /* bytes we may still send, when capped */
  uint64_t dropped;  /* bytes read past the cap */
  /* Flow control: bytes of Output the parent still allows on this stream
   * (granted and not yet used); <= the agreed max_window. */
  uint64_t credit;
} tether__stream;

typedef struct tether__session {
  uint32_t id;
  tether__proc proc;          /* platform process state (pid, pidfd, status) */
  tether__stream out[2];      /* [0] stdout (or the pty), [1] stderr */
  /* PTY mode: the terminal; out[0].fd and stdin_fd are its master
   * (borrowed: closed with the pty, never on their own). NULL for pipes. */
  tether__pty *pty;
  /* stdin */
  int stdin_fd;               /* -1: none (NULL mode), closed, or broken */
  bool stdin_pipe_mode;       /* Stdin frames are accepted */
  bool stdin_closed;          /* StdinClose received */
  bool stdin_eof_queued;      /* PTY: the end-of-input bytes are in in_buf */
  int last_in;                /* PTY: last byte of accepted input, -1: none */
  bool stdin_broken;          /* the child closed its end: data is dropped */
  uint64_t stdin_offset;      /* next expected Stdin offset */
  uint8_t *in_buf;            /* queued bytes not yet taken by the pipe */
  size_t in_len, in_cap;
  /* Flow control, stdin: in_credit is what the parent may still send
   * (granted, not yet received); in_taken counts Stdin bytes that left the
   * queue (written to the child, or dropped after it closed its input)
   * since the last Credit{STDIN}. in_credit + in_len + in_taken == the
   * agreed window until StdinClose. */
  uint64_t in_credit;
  uint64_t in_taken;
  /* timers (monotonic ms, 0 = not armed) */
  uint64_t timeout_at;        /* Spawn.timeout_ms deadline */
  uint64_t kill_at;           /* SIGKILL after a Terminate grace */
  uint64_t abandon_at;        /* after that kill: stop waiting for held pipes */
  bool timed_out;
  /* resource limits (POSIX): the session cgroup (NULL: none), what was
   * asked, which limit the runner saw hit, the next check */
  struct tether__cgroup *cg;
  tether_msg_limits limits;
  uint32_t limit_hit;         /* TETHER_LIMIT_* */
  uint64_t limits_poll_at;
} tether__session;

typedef enum tether__conn_state {
  TETHER__HANDSHAKE = 0, /* waiting for the parent's Hello */
  TETHER__READY,         /* serving */
  TETHER__CLOSING        /* no more input: ending sessions, then exit */
} tether__conn_state;

typedef struct tether__runner {
  tether_runner_options opt;
  tether_channel *ch;
  tether_nanopb_decoder *dec;
  tether__conn_state state;
  tether_msg_hello hello;     /* ours */
  uint32_t max_frame_out;     /* the parent's limit, once agreed */
  size_t read_chunk;          /* data bytes per Output frame */
  uint8_t *read_buf;          /* read_chunk bytes */
  bool channel_dead;          /* writes failed: discard further output */
  bool stop_output;           /* a fatal Error went out: send nothing more */
  bool input_done;            /* stop reading the channel */
  bool goodbye;               /* the parent said Goodbye: answer with ours */
  bool goodbye_sent;
  /* flow control (both Hellos list CAPABILITY_FLOW_CONTROL) */
  bool flow;
  uint32_t window;            /* agreed initial_window */
  uint32_t max_window;        /* agreed max_window */
  /* permission profiles: what the kernel enforces, the agreed version,
   * --allow-full-access (sandbox/sandbox.h) */
  tether__sandbox_policy sandbox;
  /* sessions: dense array of pointers, unordered */
  tether__session **sessions;
  size_t nsessions;
  /* timers */
  uint64_t handshake_deadline;
  uint64_t shutdown_kill_at;  /* CLOSING: SIGKILL every group */
  uint64_t shutdown_abandon_at; /* CLOSING: stop waiting for pipe EOF */
  bool shutdown_killed;
  /* outcome */
  int result;                 /* first error, or 0 */
  char why[256];
  tether__exitwatch watch;
} tether__runner;

/* ---- runner.c: shared protocol logic ---- */
int tether__runner_init(tether__runner *r, const tether_runner_options *o,
                        tether_transport *t);
void tether__runner_free(tether__runner *r);
/* Handles every complete frame the channel has; stops at AGAIN. */
void tether__runner_on_input(tether__runner *r);
/* Output of session `s`, stream index i, is readable (or hung up). */
void tether__runner_on_output(tether__runner *r, tether__session *s, int i);
/* Called after a turn: sends Exited for finished sessions and frees them;
 * once CLOSING after the parent's Goodbye and no session is left, sends
 * the runner's Goodbye (its last frame). */
void tether__runner_reap_finished(tether__runner *r);
/* Timers; returns ms until the next one (-1: none). */
int tether__runner_on_timers(tether__runner *r, uint64_t now);
/* Enter CLOSING: stop input, terminate all sessions. */
void tether__runner_close(tether__runner *r, int result, const char *fmt, ...)
    TETHER__PRINTF(3, 4);
/* After the parent's Goodbye, once serving is over: the runner's own
 * Goodbye, its last frame (PROTOCOL.md §9). Sent once; a no-op otherwise.
 * tether__runner_reap_finished calls it, so a loop need not. */
void tether__runner_say_goodbye(tether__runner *r);
/* True when serving is over (CLOSING and no sessions left). */
bool tether__runner_done(const tether__runner *r);
/* True while channel output is above the high-water mark: children's
 * output is not read. */
bool tether__runner_backpressured(const tether__runner *r);
/* True while channel output is above the high-water mark plus
 * TETHER__CONTROL_ROOM: the parent's frames are not read either (each can
 * add a reply). Input is read past the output mark so a parent's control
 * frames are never starved by its children's output. */
bool tether__runner_input_blocked(const tether__runner *r);
/* Writes queued stdin for `s`; closes the pipe when StdinClose is due. */
void tether__runner_on_stdin_writable(tether__runner *r, tether__session *s);
/* True when output stream i of `s` should be polled for reading now: it is
 * open and (flow control) has credit, or its bytes will be dropped anyway
 * (past a cap, or the connection is closing). */
bool tether__runner_stream_wanted(const tether__runner *r, const tether__session *s, int i);

uint64_t tether__runner_now_ms(void);

/* ---- session_posix.c: one session's process and pipes ---- */
/* Spawns `req` for `s` (pid, pidfd, pipes, streams set up). -1 with `so`
 * describing the failure; nothing is left open then. */
int tether__session_start(tether__runner *r, tether__session *s,
                          const tether_msg_spawn *req, tether__spawn_out *so);
/* > 0 bytes, 0 at EOF, TETHER_EAGAIN, or another negative code (treat as
 * EOF). */
long tether__session_read(tether__session *s, int i, uint8_t *buf, size_t len);
/* True when a read of stream `i` that returned less than asked left it
 * empty, so the stream waits for poll instead of reading again. */
bool tether__session_short_read_drains(const tether__session *s, int i);
/* Bytes written, TETHER_EAGAIN, or TETHER_ECLOSED after the child closed
 * its stdin (the pipe is then closed and stdin_broken set). */
long tether__session_write_stdin(tether__session *s, const uint8_t *p, size_t n);
/* PIPES: closes the stdin pipe. PTY: stops accepting input; the master
 * stays open (closing it would hang up the terminal). */
void tether__session_close_stdin(tether__session *s);
/* PTY: the bytes that end input now (tether__pty_eof_sequence); 0 for a
 * pipes session. */
size_t tether__session_stdin_eof(tether__session *s, uint8_t out[2]);
/* PTY: new window size. TETHER_EINVAL for a pipes session; 0 when the
 * terminal is already closed (nothing to resize). */
int tether__session_resize(tether__session *s, uint32_t rows, uint32_t cols);
void tether__session_close_stream(tether__session *s, int i);
/* group: to the child's process group and, in PTY mode, also to the
 * terminal's foreground process group (when the platform reports it and it
 * differs); else to the child alone. */
void tether__session_signal(tether__session *s, int os_sig, bool group);
/* SIGTERM (+ SIGCONT, so a stopped group can act on it) to the group(s)
 * as for a group signal. */
void tether__session_terminate(tether__session *s);
/* SIGKILL to the group(s) as for a group signal. */
void tether__session_kill_now(tether__session *s);
/* Checks the session cgroup for a hit limit; on one, kills the session's
 * whole tree and records it. Returns the next check time (0: none). */
uint64_t tether__session_poll_limits(tether__session *s, uint64_t now);
/* Fills code/signal/usage (and the limit and tree usage) from the reaped
 * status. */
void tether__session_exit_info(const tether__session *s, tether_msg_exited *e);
/* Closes every descriptor; kills and reaps the child if still unreaped. */
void tether__session_release(tether__session *s);

/* ---- signal_posix.c ---- */
/* OS signal for a portable SignalNumber; 0 if unknown; -1 if known but not
 * deliverable on this platform (Windows: Error{UNSUPPORTED}). */
int tether__signal_to_os(uint32_t portable);
/* Portable number for an OS signal; 0 if it has none. */
uint32_t tether__signal_from_os(int sig);

/* ---- loop_posix.c ---- */
int tether__runner_serve(tether__runner *r);
/* tether_runner_serve_fds over any transport (takes ownership of `t`);
 * used by tether-runner for Unix sockets. */
int tether__runner_serve_transport(const tether_runner_options *o, tether_transport *t);

#endif
