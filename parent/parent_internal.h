/* Parent internals: the connection, the session table and the seams between
 * the shared protocol logic and the platform file (parent_posix.c).
 * Not installed. Internal names are tether__parent_* or static. */
#ifndef TETHER_PARENT_INTERNAL_H
#define TETHER_PARENT_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The codec view first: it declares the wire constants parent.h shares. */
#include "codec/codec.h"
#include "codec/hello.h"
#include "tether/parent.h"
#include "transport/channel.h"
#include "transport/compat.h"
#include "transport/sized.h"

/* The first published (0.2) layouts of the growable public structs: a
 * caller's struct_size below these is TETHER_EINVAL. Fixed for good: new
 * fields are appended after them. */
#define TETHER__PARENT_OPTIONS_SIZE_0_2 TETHER__SIZE_THROUGH(tether_parent_options, error_buf_len)
#define TETHER__SPAWN_OPTIONS_SIZE_0_2 TETHER__SIZE_THROUGH(tether_spawn_options, pty_cols)
#define TETHER__EXIT_STATUS_SIZE_0_2 TETHER__SIZE_THROUGH(tether_exit_status, stderr_dropped)
#define TETHER__RUNNER_INFO_SIZE_0_2 TETHER__SIZE_THROUGH(tether_runner_info, pid)
#define TETHER__CAPTURE_RESULT_SIZE_0_2 \
  (offsetof(tether_capture_result, status) + TETHER__EXIT_STATUS_SIZE_0_2)

/* Room for an Output/Stdin frame's non-data fields. */
#define TETHER__PARENT_FRAME_OVERHEAD 64u
/* Largest Stdin frame data we send. */
#define TETHER__PARENT_STDIN_CHUNK (64u << 10)
/* Stdin is handed to the channel only while less than this is queued
 * there, so control frames (Signal, Credit, ...) always find room. */
#define TETHER__PARENT_STDIN_HIGH_WATER (1u << 20)
/* How long to wait for a dead runner's exit status for the message. */
#define TETHER__PARENT_REAP_GRACE_MS 200

typedef enum tether__session_state {
  TETHER__S_PENDING = 0, /* Spawn sent, no answer yet */
  TETHER__S_RUNNING,     /* Spawned */
  TETHER__S_DONE         /* Exited, SpawnFailed, or ended by an error */
} tether__session_state;

/* Collector for tether_capture (blocking.c). */
typedef struct tether__capture {
  uint8_t *buf[2];
  size_t len[2], cap[2], max[2];
  int truncated[2];
  tether_spawn_failure failure;
  char *failure_msg;
} tether__capture;

struct tether_session {
  tether_parent *p;
  uint32_t id;
  tether__session_state state;
  int result;                 /* once DONE: 0, TETHER_ESPAWN or an error */
  tether_exit_status status;  /* once exited */
  int merge_stderr;
  int pty;                    /* TETHER_IO_MODE_PTY: one stream, STREAM_PTY */
  int stdin_null;
  int has_cap[2];             /* [0] stdout, [1] stderr */
  uint64_t cap[2];
  /* Per output stream: [0] stdout (or a pty session's STREAM_PTY), [1] stderr. */
  uint64_t next_off[2];       /* the next Output offset expected */
  uint64_t consumed[2];       /* delivered, not yet granted back as credit */
  int truncated[2];           /* OutputTruncated seen: the stream is over */
  int paused[2];              /* tether_session_pause_output: credit held back */
  /* stdin: queued bytes in[in_head, in_len) */
  uint8_t *in;
  size_t in_head, in_len, in_cap;
  uint64_t in_offset;         /* wire offset of the next Stdin byte */
  uint64_t in_credit;         /* bytes the runner allows us to send */
  int close_req, close_sent;
  unsigned status_pending;    /* StatusRequests without a reply */
  int detached;               /* the embedder freed the handle */
  void *userdata;
  tether__capture *capture;   /* events go here instead of callbacks */
  tether_session *prev, *next; /* every session of the parent */
};

struct tether_parent {
  tether_parent_options o;    /* copy; runner_argv and error_buf cleared */
  tether_channel *ch;
  tether_pbc_decoder *dec;
  int64_t runner_pid;         /* -1: none (attached) */
  int runner_reaped;
  int runner_status;          /* wait status once reaped */
  void *runner_os;            /* Windows: the runner's process HANDLE (parent_win.c) */
  int dead;                   /* the connection has ended */
  int closed;                 /* ... and the channel is freed */
  int in_callback;
  uint64_t events;            /* callbacks delivered, for tether_parent_run */
  /* agreement */
  uint32_t version;
  uint32_t max_frame_out;
  uint32_t peer_caps;
  uint32_t peer_max_sessions;
  uint32_t window;            /* agreed initial window per stream */
  uint32_t max_window;        /* agreed most outstanding credit per stream */
  int flow;                   /* the runner does credit-based flow control */
  char impl[TETHER_NAME_MAX_BYTES * 4 + 1];
  char impl_version[TETHER_NAME_MAX_BYTES * 4 + 1];
  /* sessions */
  uint32_t next_id;           /* the next id to try */
  uint32_t max_id;            /* highest id assigned (until ids wrap) */
  int ids_wrapped;
  tether_session **table;     /* open addressing by id, power-of-two size */
  size_t table_cap, table_used;
  tether_session *head;       /* list of every session */
  size_t active;              /* sessions the runner still hosts */
  char msg[TETHER_MESSAGE_MAX_BYTES + 256];
};

/* ---- parent.c ---- */
tether_session *tether__parent_find(tether_parent *p, uint32_t id);
int tether__parent_table_add(tether_parent *p, tether_session *s);
void tether__parent_table_del(tether_parent *p, tether_session *s);
/* Encodes and queues `m`. `blocking`: when the queue is full, flush for up
 * to write_timeout_ms (TETHER_ETIMEDOUT); else TETHER_EAGAIN. */
int tether__parent_send(tether_parent *p, const tether_msg *m, int blocking);
/* Writes what the channel takes, non-blocking. */
int tether__parent_flush(tether_parent *p);
/* snprintf into p->msg. */
const char *tether__parent_fmt(tether_parent *p, const char *fmt, ...)
    TETHER__PRINTF(2, 3);
/* The longest prefix of s[0..n) that does not end in a cut UTF-8 sequence. */
size_t tether__parent_utf8_cut(const char *s, size_t n);
/* The handshake, blocking, on p->ch. */
int tether__parent_handshake(tether_parent *p, char *err, size_t errlen);
/* Shared tail of start/attach/connect. Takes `t` (also on failure). */
int tether__parent_open(const tether_parent_options *o, tether_transport *t,
                        int64_t runner_pid, void *runner_os, tether_parent **out);
/* tether_parent_attach_fds over a transport that is already connected,
 * e.g. one end of tether_transport_memory_pair (fuzz/fuzz_parent.c).
 * Takes `t` (also on failure); no runner process is owned. A transport
 * without an OS handle cannot be waited on: the handshake's Hello must be
 * readable already (or the channel at its end), else it waits out
 * o->handshake_timeout_ms. Not part of the API. */
int tether__parent_attach_transport(const tether_parent_options *o, tether_transport *t,
                                    tether_parent **out);

/* ---- dispatch.c ---- */
/* Reads and handles every complete frame; delivers callbacks. */
int tether__parent_dispatch(tether_parent *p);
/* Ends the connection: Error frame (if wire_code), callbacks, close. */
void tether__parent_fail(tether_parent *p, int code, int wire_code,
                         const char *message);
/* Marks `s` DONE with `result`; decrements the active count once. */
void tether__parent_session_done(tether_parent *p, tether_session *s, int result);
/* Frees a session's memory and unlinks it from the table and list. */
void tether__parent_session_release(tether_parent *p, tether_session *s);

/* ---- session.c ---- */
/* Reads a caller's spawn options into `o` (the library's layout, defaults
 * for fields past the caller's struct_size): 0, TETHER_EINVAL,
 * TETHER_EUNSUPPORTED (transport/sized.h). */
int tether__spawn_options_read(const tether_spawn_options *caller, tether_spawn_options *o);
/* tether_session_spawn, with an optional capture sink; `o` is in the
 * library's layout (tether__spawn_options_read). */
int tether__parent_spawn(tether_parent *p, const tether_spawn_options *o,
                         tether__capture *capture, tether_session **out);
/* Hands queued stdin to the channel as credit and room allow. */
int tether__parent_pump_stdin(tether_parent *p);
/* Sends Credit for output the embedder consumed, once it reaches a quarter
 * of the window. */
int tether__parent_grant(tether_parent *p, tether_session *s);

/* ---- parent_posix.c / parent_win.c: the platform ---- */
int64_t tether__parent_now_ms(void);
/* Starts the runner with the child end of a socketpair (Windows: a named
 * pipe); returns our end as a transport. *os: a platform handle on the
 * runner process for the functions below (Windows: its process HANDLE,
 * which also keeps its pid from being reused); NULL on POSIX. */
int tether__parent_spawn_runner(const tether_parent_options *o,
                                tether_transport **t, int64_t *pid, void **os,
                                char *err, size_t errlen);
/* Waits up to timeout_ms (< 0 forever) for the runner to exit; 1 if it
 * was reaped (status set), 0 if it still runs. */
int tether__parent_reap_runner(tether_parent *p, int timeout_ms);
/* SIGKILL to a started runner that has not been reaped. */
void tether__parent_kill_runner(tether_parent *p);
/* Describes the runner's exit ("exited with status 1", "killed by signal
 * 9"), or "" if unknown. */
void tether__parent_describe_runner(tether_parent *p, char *buf, size_t len);
/* Waits for the channel to become readable (or writable if wants_write);
 * 0 ready, TETHER_ETIMEDOUT, or an error. */
int tether__parent_wait(tether_parent *p, int timeout_ms);
void tether__parent_close_fd(int fd);

#endif
