/* tether — the parent library (libtether_parent).
 *
 * The embeddable side of tether: start a runner (or attach to one that is
 * already connected), open sessions on it, feed them input and receive their
 * output and exit status through callbacks.
 *
 * Shape (curl-multi-like):
 *
 *   tether_parent_options o;  tether_parent_options_init(&o);  // a macro
 *   o.callbacks.on_output = ...; o.callbacks.on_exit = ...;
 *   tether_parent *p;  tether_parent_start(&o, &p);       // blocking handshake
 *   tether_spawn_options so;  tether_spawn_options_init(&so);
 *   so.argv = argv;  tether_session *s;  tether_session_spawn(p, &so, &s);
 *   // event loop: wait on tether_parent_fd(p) for reading (and for writing
 *   // while tether_parent_wants_write(p)), then call tether_parent_process(p)
 *   // or, without a loop of your own: tether_session_wait(s, -1);
 *   tether_session_free(s);  tether_parent_free(p);
 *
 * Errors: every fallible call returns 0 or a negative TETHER_E* code from
 * tether/error.h; tether_strerror() names it. If a call returns an error,
 * nothing was queued and no callback will run for it.
 *
 * The runner is untrusted: every frame it sends is checked against the
 * protocol's state machine. A violation is fatal for the connection: the
 * parent sends Error{PROTOCOL, fatal}, closes the channel, reports
 * on_error(p, NULL, TETHER_EPROTOCOL, what) and then on_error(p, s,
 * TETHER_EPROTOCOL, what) for every session that had not ended. When the
 * runner goes away (end of stream, fatal Error, Goodbye) every open session
 * gets on_error(p, s, TETHER_ECLOSED, "runner exited ..."). After that the
 * handle only accepts tether_session_free and tether_parent_free; other
 * calls return TETHER_ECLOSED.
 *
 * Threading: a tether_parent and its sessions belong to one thread at a
 * time; different parents are independent (there is no global state). The
 * library installs no signal handlers and never dies of SIGPIPE.
 *
 * Callbacks run only inside tether_parent_process() and the blocking calls
 * built on it (tether_parent_run, tether_session_wait, tether_capture). From
 * inside a callback these calls are allowed, because they only queue:
 * tether_session_spawn, tether_session_write, tether_session_close_stdin,
 * tether_session_signal, tether_session_terminate, tether_session_status,
 * tether_session_resize, tether_session_free, and every accessor. These return TETHER_EINCALLBACK
 * there: tether_parent_process, tether_parent_run, tether_session_wait,
 * tether_capture, tether_parent_free.
 *
 * ABI: structs the caller allocates. The options structs
 * (tether_parent_options, tether_spawn_options) and the records the
 * library fills in for the caller (tether_runner_info, tether_exit_status
 * from tether_session_wait, tether_capture_result) start with
 * `size_t struct_size`: the size of the struct as the caller was compiled.
 * The init functions and the output functions take that size, through
 * macros that pass sizeof of the caller's own type (tether_X_init(o) is
 * tether_X_init_sized(o, sizeof *o)), so a program built against an older
 * header keeps working with a newer library, and the reverse:
 *   - the library writes only struct_size bytes of a caller's struct, and
 *     reads only the fields that lie within them; fields past struct_size
 *     get their defaults;
 *   - a struct_size below the first published layout (0.2), or 0, is
 *     TETHER_EINVAL (tether_parent_start and co. then write no message:
 *     error_buf may lie past what the caller has);
 *   - a newer caller's struct (struct_size larger than the library knows)
 *     is accepted when every byte the library does not know is zero (as
 *     init leaves them); a field set there is TETHER_EUNSUPPORTED, so an
 *     option this library cannot honour is never silently ignored;
 *   - records written out set struct_size to the bytes that carry data (the
 *     smaller of the two sizes): a newer caller sees which fields an older
 *     library filled in.
 * New fields are therefore only ever appended at the end of a struct.
 * tether_parent_callbacks, embedded in tether_parent_options, is frozen:
 * new callbacks are appended at the end of tether_parent_options instead.
 * Records the library owns and passes to callbacks (tether_exit_status,
 * tether_spawn_failure) also grow only at the end; a callback must not
 * copy one by value into a struct of its own compiled size without
 * checking struct_size (tether_exit_status) first. In tether_capture_result
 * `status` is the last member so it can grow with tether_exit_status; the
 * members before it, the embedded tether_spawn_failure included, are
 * frozen. Why not opaque handles with setters: the options are plain data
 * the embedder fills in one place (and bindings mirror, e.g. Python ctypes);
 * a size field keeps that and costs one size_t. The soname still changes
 * with every 0.x minor release (libtether_parent.so.0.2).
 *
 * Every function here is Since 0.1 unless it says otherwise.
 */
#ifndef TETHER_PARENT_H
#define TETHER_PARENT_H

#include <stddef.h>
#include <stdint.h>

#include "tether/error.h"
#include "tether/export.h"
#include "tether/limits.h"
#include "tether/os.h"
#include "tether/version.h"
#include "tether/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tether_parent tether_parent;
typedef struct tether_session tether_session;


/* Parent limits (queue sizes, timeouts) are in tether/limits.h. */

/* "No cap" for tether_spawn_options.stdout_cap / stderr_cap. */
#define TETHER_OUTPUT_UNCAPPED UINT64_MAX

/* ------------------------------------------------------- event records */

/* A spawn the runner could not carry out. `message` is the runner's text
 * (UTF-8, not NUL-terminated, `message_len` bytes), valid during the
 * callback only. */
typedef struct tether_spawn_failure {
  int stage;            /* TETHER_STAGE_*; 0 if the runner gave none */
  int error;            /* TETHER_SPAWN_ERR_*; 0 if the runner gave none */
  int64_t os_error;     /* raw OS error (errno, GetLastError), 0 if none */
  int os_error_space;   /* TETHER_OS_ERR_*; 0: os_error is meaningless */
  const char *message;
  size_t message_len;
} tether_spawn_failure;

/* How a session ended. Exactly one of `exited` / `signaled` is set. */
typedef struct tether_exit_status {
  /* Bytes of this record that carry data (sizeof when delivered to
   * on_exit; see "ABI" above). Since 0.2. */
  size_t struct_size;
  int exited;           /* normal exit: `code` is valid */
  int signaled;         /* killed: `signal` is valid */
  uint32_t code;        /* exit code (full 32 bits on Windows) */
  int signal;           /* TETHER_SIG_* number */
  int raw_signal;       /* the runner's own OS signal number, 0 if none */
  int core_dumped;
  int timed_out;        /* killed because tether_spawn_options.timeout_ms passed */
  int has_usage;        /* the next three are filled in */
  uint64_t user_time_us, system_time_us, max_rss_kib;
  /* Output accounting for the session (both streams). */
  uint64_t stdout_bytes, stderr_bytes;     /* delivered through on_output */
  uint64_t stdout_dropped, stderr_dropped; /* dropped past the caps */
  /* (A pty session's one stream, TETHER_STREAM_PTY, counts as stdout.) */
} tether_exit_status;

/* Callbacks. Any may be NULL. `session` pointers are the handles returned by
 * tether_session_spawn; tether_session_userdata() gives the spawn's
 * userdata, `userdata` below is tether_parent_options.userdata. For each
 * session exactly one of on_spawn_failed / on_exit is delivered, or an
 * on_error for it when the connection ends first; nothing is delivered for
 * a session after tether_session_free. */
typedef struct tether_parent_callbacks {
  /* The runner started the command with process id `pid` (its OS's). */
  void (*on_spawned)(tether_session *s, uint64_t pid, void *userdata);
  /* The runner could not start it. The session is over. */
  void (*on_spawn_failed)(tether_session *s, const tether_spawn_failure *f,
                          void *userdata);
  /* `len` (> 0) bytes of `stream` (TETHER_STREAM_STDOUT or _STDERR; for a
   * pty session only TETHER_STREAM_PTY, the terminal's output), in
   * order, with no gaps. `data` is valid during the callback only. Output is
   * flow-controlled: the runner sends more once this callback has returned
   * (returning is what "consumed" means). */
  void (*on_output)(tether_session *s, int stream, const void *data,
                    size_t len, void *userdata);
  /* The session ended; all of its output was delivered before this. */
  void (*on_exit)(tether_session *s, const tether_exit_status *st,
                  void *userdata);
  /* Reply to tether_session_status. Not delivered if the session ends
   * first (on_exit comes instead). */
  void (*on_status)(tether_session *s, int running, uint64_t pid,
                    void *userdata);
  /* Something went wrong. `s` is NULL for the connection itself. `code` is
   * a TETHER_E* value; `message` is a NUL-terminated description valid
   * during the callback. For a session, TETHER_EPROTOCOL / TETHER_ECLOSED
   * mean the session is over (no on_exit will follow); other codes are
   * reports and the session goes on unless the runner ends it. A
   * non-fatal Error frame from the runner gives the code of its kind
   * (TETHER_ELIMIT for Error{LIMIT}: credit past max_window, a full stdin
   * queue; TETHER_EINVAL, TETHER_EUNSUPPORTED, ...; TETHER_ERUNNER for
   * INTERNAL or a kind this version does not know). */
  void (*on_error)(tether_parent *p, tether_session *s, int code,
                   const char *message, void *userdata);
} tether_parent_callbacks;

/* --------------------------------------------------------- the parent */

/* How the channel reaches a runner started by tether_parent_start. */
typedef enum tether_runner_channel {
  /* One end of a socketpair is given to the runner as the inherited
   * descriptors runner_fds[0] (read) and [1] (write), default both 3, to
   * match `tether-runner --fd 3`. Its stdin is the null device; stdout and
   * stderr are inherited. */
  TETHER_RUNNER_CHANNEL_FDS = 0,
  /* The runner's stdin and stdout are the channel (for `tether-runner
   * --stdio`, `ssh host tether-runner --stdio`, `sh -c CMD`); stderr is
   * inherited. */
  TETHER_RUNNER_CHANNEL_STDIO = 1
} tether_runner_channel;

typedef struct tether_parent_options {
  /* Set by tether_parent_options_init (see "ABI" above). Since 0.2. */
  size_t struct_size;
  /* NULL-terminated argv of the runner to start (tether_parent_start only);
   * argv[0] without a '/' is looked up in PATH. NULL: the default
   * {"tether-runner", "--fd", "3", NULL}. Not copied: must stay valid
   * during tether_parent_start. */
  const char *const *runner_argv;
  tether_runner_channel runner_channel;
  int runner_fds[2];           /* TETHER_RUNNER_CHANNEL_FDS: {3, 3} */
  /* The runner starts in a process group of its own (1, the default), so
   * a terminal's ^C reaches the embedder, which decides what to do. */
  int runner_new_group;

  tether_parent_callbacks callbacks;
  void *userdata;

  /* Largest frame payload accepted from the runner: in
   * [TETHER_FRAME_MAX_MINIMUM, TETHER_FRAME_MAX_CEILING]. */
  uint32_t max_frame_size;
  /* Output window per stream announced to the runner: in
   * [1, TETHER_WINDOW_MAX]. */
  uint32_t window;
  /* Timeouts in ms, each at most INT32_MAX (uint32_t as in
   * tether_runner_options; int before 0.2). */
  uint32_t handshake_timeout_ms; /* TETHER_HANDSHAKE_TIMEOUT_MS; > 0 */
  uint32_t write_timeout_ms;     /* TETHER_PARENT_WRITE_TIMEOUT_MS; > 0 */
  uint32_t shutdown_timeout_ms;  /* TETHER_PARENT_SHUTDOWN_TIMEOUT_MS; may be 0 */
  size_t stdin_queue_max;      /* TETHER_PARENT_STDIN_QUEUE_DEFAULT; > 0 */

  /* If non-NULL, a failing start/attach/connect writes a NUL-terminated
   * description here (e.g. both version ranges on a mismatch). */
  char *error_buf;
  size_t error_buf_len;
  /* New options (and new callbacks) are appended here. */
} tether_parent_options;

/* Fills `o` (struct_size bytes) with the defaults above and sets
 * o->struct_size. Use the macro. Since 0.2 (0.1 had
 * tether_parent_options_init as a function). */
TETHER_EXTERN void tether_parent_options_init_sized(tether_parent_options *o,
                                                   size_t struct_size);
#define tether_parent_options_init(o) tether_parent_options_init_sized((o), sizeof *(o))

/* Starts a runner process with `o->runner_argv`, hands it the channel (a
 * socketpair; every descriptor is close-on-exec except the runner's own
 * ends in the runner), and completes the handshake, blocking for at most
 * o->handshake_timeout_ms. On success *out owns the runner: free reaps it.
 * Returns 0; TETHER_EINVAL (options); TETHER_EOS (the runner could not be
 * started, e.g. not found); TETHER_ECLOSED (it exited before the
 * handshake); TETHER_ETIMEDOUT; TETHER_EPREFACE (not a tether runner);
 * TETHER_EPROTOCOL / TETHER_EVERSION (bad or incompatible Hello);
 * TETHER_EUNSUPPORTED (o is of a newer layout and sets an option this
 * library does not know). On error nothing is left running and *out is
 * NULL. */
TETHER_EXTERN int tether_parent_start(const tether_parent_options *o,
                                      tether_parent **out);

/* Same, over a channel that is already connected: `read_fd` and `write_fd`
 * (may be equal, e.g. a socket) are taken over (also on failure) and made
 * close-on-exec. No runner process is owned: free only closes. */
TETHER_EXTERN int tether_parent_attach_fds(const tether_parent_options *o,
                                           int read_fd, int write_fd,
                                           tether_parent **out);

/* Connects to a runner listening on the Unix socket `path` (e.g.
 * `tether-runner --listen PATH`), then as tether_parent_attach_fds. Extra
 * errors: TETHER_EADDRESS (path too long), TETHER_ECLOSED (nobody listens). */
TETHER_EXTERN int tether_parent_connect_unix(const tether_parent_options *o,
                                             const char *path,
                                             tether_parent **out);

/* Ends the connection and frees `p` and every session handle still
 * allocated (they become invalid; no callbacks run). Sends Goodbye, so the
 * runner terminates the sessions still running and exits; waits up to
 * o.shutdown_timeout_ms for that, then kills a runner it started, and reaps
 * it. Accepts NULL (returns 0). Returns TETHER_EINCALLBACK, freeing nothing,
 * when called from a callback. */
TETHER_EXTERN int tether_parent_free(tether_parent *p);

/* Facts about the connected runner, from its Hello. Strings are
 * NUL-terminated and owned by `p`. */
typedef struct tether_runner_info {
  size_t struct_size;                  /* bytes filled in; Since 0.2 */
  const char *implementation;          /* e.g. "tether-runner" */
  const char *implementation_version;  /* e.g. "0.2.0" */
  uint32_t version;                    /* agreed protocol version */
  uint32_t capabilities;               /* TETHER_CAP_BIT(TETHER_CAP_*) bits */
  uint32_t max_sessions;
  uint32_t max_frame_size;             /* what the runner accepts */
  int64_t pid;                         /* of a started runner; -1 if attached */
} tether_runner_info;
/* Fills `out` (struct_size bytes; use the macro). Returns 0, or
 * TETHER_EINVAL (NULL, or struct_size below the 0.2 layout: nothing
 * written). Since 0.2 (0.1 had tether_parent_runner_info returning void). */
TETHER_EXTERN int tether_parent_runner_info_sized(const tether_parent *p,
                                                  tether_runner_info *out,
                                                  size_t struct_size);
#define tether_parent_runner_info(p, out) \
  tether_parent_runner_info_sized((p), (out), sizeof *(out))

/* ---- event-loop embedding ---- */

/* The descriptor to wait on for readability (a Windows HANDLE there).
 * TETHER_INVALID_HANDLE once the connection has ended: the descriptor is
 * closed right after the callbacks that report the end return. */
TETHER_EXTERN tether_os_handle tether_parent_fd(const tether_parent *p);

/* 1 if output is queued for the runner: also wait for writability, on
 * tether_parent_write_fd (the same descriptor as tether_parent_fd for a
 * socket; the write end for a pair of pipes). */
TETHER_EXTERN int tether_parent_wants_write(const tether_parent *p);
TETHER_EXTERN tether_os_handle tether_parent_write_fd(const tether_parent *p);

/* Non-blocking: reads every complete frame available, delivers callbacks,
 * writes what the channel takes. Call when the descriptor is readable or
 * writable (calling it spuriously is harmless). It reads until the
 * descriptor is empty, so edge-triggered waiting (epoll EPOLLET) works too;
 * there, also call it after queuing frames (a spawn, stdin), since no edge
 * comes for a descriptor that stayed writable. Returns 0;
 * TETHER_ECLOSED once the connection has ended (the callbacks that told of
 * it have run); TETHER_EINCALLBACK. A protocol error by the runner is
 * reported through callbacks, then TETHER_ECLOSED is returned. */
TETHER_EXTERN int tether_parent_process(tether_parent *p);

/* ---- blocking layer (built on the above; not from callbacks) ---- */

/* Waits and processes until at least one callback was delivered or
 * `timeout_ms` passed (< 0: no limit). 0 if something was delivered;
 * TETHER_ETIMEDOUT; TETHER_ECLOSED; TETHER_EINCALLBACK. */
TETHER_EXTERN int tether_parent_run(tether_parent *p, int timeout_ms);

/* ------------------------------------------------------------ sessions */

typedef enum tether_stdin_mode {
  TETHER_STDIN_MODE_PIPE = 0,  /* tether_session_write feeds the child */
  TETHER_STDIN_MODE_NULL = 1   /* the child's stdin is the null device */
} tether_stdin_mode;

/* How the command's standard descriptors are connected. Since 0.1. */
typedef enum tether_io_mode {
  TETHER_IO_MODE_PIPES = 0,    /* separate stdin, stdout and stderr pipes */
  /* A pseudo-terminal (docs/PROTOCOL.md §6.5) is the command's stdin,
   * stdout and stderr, and its controlling terminal; the command leads a
   * new session. Needs a runner that lists TETHER_CAP_PTY
   * (tether_runner_info), else on_spawn_failed with stage
   * TETHER_STAGE_PTY. Output arrives as TETHER_STREAM_PTY only (stdout
   * and stderr interleaved as written, plus the terminal's echo of the
   * input); merge_stderr and stderr_cap do not apply, stdout_cap caps it.
   * tether_session_write types into the terminal (a byte 03 is ^C, which
   * interrupts the foreground job while the terminal has ISIG), and
   * tether_session_close_stdin ends input the way a terminal does, with
   * the EOF character (VEOF, ^D). TERM is whatever the spawn's environment
   * says: set it in tether_spawn_options.env. */
  TETHER_IO_MODE_PTY = 1
} tether_io_mode;

/* A permission profile (docs/SANDBOX.md): what the command may write and
 * whether it may use the network. The runner enforces it or refuses the
 * spawn (on_spawn_failed, stage TETHER_STAGE_PERMISSIONS); it never runs the
 * command unsandboxed. Needs protocol version 2 and a runner that lists
 * TETHER_CAP_PERMISSION_PROFILES (tether_runner_info). Since 0.1. */
typedef struct tether_permission_profile {
  /* 0: no filesystem restriction; TETHER_FS_READ_ONLY: read everywhere,
   * write nowhere; TETHER_FS_WORKSPACE_WRITE: write only below
   * writable_roots (and the runner's temp dir); TETHER_FS_FULL_ACCESS:
   * explicitly unrestricted (refused unless the runner was started with
   * --allow-full-access). */
  int filesystem;
  /* WORKSPACE_WRITE only; NULL-terminated, NULL: none. Relative entries
   * are resolved by the runner against `cwd` below, never against the
   * command's tether_spawn_options.cwd. */
  const char *const *writable_roots;
  /* WORKSPACE_WRITE only; paths that stay read-only inside the roots, e.g.
   * ".git". Relative entries apply below every writable root. */
  const char *const *read_only_subpaths;
  /* 0: no restriction; TETHER_NET_ALLOWED; TETHER_NET_DENIED (no network
   * but Unix sockets). */
  int network;
  /* Spawn.permission_profile_cwd: absolute, or NULL (then every writable
   * root must be absolute). */
  const char *cwd;
} tether_permission_profile;

typedef struct tether_spawn_options {
  /* Set by tether_spawn_options_init (see "ABI" above). Since 0.2. */
  size_t struct_size;
  /* NULL-terminated; argv[0] is the program (the runner searches its PATH
   * when it has no '/'). Required. */
  const char *const *argv;
  /* NULL-terminated "NAME=VALUE" entries set, "NAME" entries remove
   * (without clear_env); NULL: none. */
  const char *const *env;
  int clear_env;              /* start from an empty environment */
  const char *cwd;            /* NULL: the runner's cwd */
  int merge_stderr;           /* stderr arrives as TETHER_STREAM_STDOUT */
  tether_stdin_mode stdin_mode;
  /* Bytes of each stream delivered; the rest is read and dropped by the
   * runner (counted in tether_exit_status.*_dropped). TETHER_OUTPUT_UNCAPPED:
   * no cap (the default); 0 discards everything. */
  uint64_t stdout_cap, stderr_cap;
  /* 0: none; else the runner terminates the command after this long and
   * reports timed_out. */
  uint32_t timeout_ms;
  void *userdata;             /* tether_session_userdata() */
  /* NULL: no profile. Copied by tether_session_spawn; checked there for
   * syntax (TETHER_EINVAL, TETHER_ELIMIT_ROOTS, TETHER_ELIMIT_PATH).
   * Since 0.1. */
  const tether_permission_profile *permission_profile;
  /* TETHER_IO_MODE_PIPES (the default) or TETHER_IO_MODE_PTY. Since 0.1. */
  tether_io_mode io_mode;
  /* TETHER_IO_MODE_PTY only: the terminal's size, each at most
   * TETHER_PTY_DIM_MAX; 0 means 24 rows, 80 columns. Since 0.1. */
  uint32_t pty_rows, pty_cols;
  /* New options are appended here. */
} tether_spawn_options;

/* Fills `o` (struct_size bytes) with the defaults above (argv NULL) and
 * sets o->struct_size. Use the macro. Since 0.2. */
TETHER_EXTERN void tether_spawn_options_init_sized(tether_spawn_options *o,
                                                  size_t struct_size);
#define tether_spawn_options_init(o) tether_spawn_options_init_sized((o), sizeof *(o))

/* Opens a session: assigns it an id, validates and queues the Spawn (argv,
 * env and cwd are copied; the options need not outlive the call). The
 * result arrives later as on_spawned then output and on_exit, or as
 * on_spawn_failed. *out is owned by the caller until tether_session_free.
 * Returns 0; TETHER_EINVAL (no argv, bad options); TETHER_ELIMIT_* (a
 * limit of tether/limits.h); TETHER_ELIMIT_SESSIONS (the runner's
 * max_sessions are open); TETHER_EUNSUPPORTED (o is of a newer layout and
 * sets an option this library does not know); TETHER_ETIMEDOUT (the runner stopped reading);
 * TETHER_ECLOSED; TETHER_ENOMEM. Allowed in callbacks. */
TETHER_EXTERN int tether_session_spawn(tether_parent *p,
                                       const tether_spawn_options *o,
                                       tether_session **out);

/* Queues `len` bytes for the session's stdin (copied). Sending follows
 * the runner's stdin credit; the write is accepted whole when less than
 * stdin_queue_max bytes are queued, else TETHER_EAGAIN (nothing queued:
 * process events, then retry; see tether_session_stdin_queued). Also
 * TETHER_ESTATE (stdin closed, null stdin, session over), TETHER_ECLOSED.
 * len 0 is a no-op. Allowed in callbacks. */
TETHER_EXTERN int tether_session_write(tether_session *s, const void *data,
                                       size_t len);

/* Bytes accepted by tether_session_write that are not yet handed to the
 * channel. */
TETHER_EXTERN size_t tether_session_stdin_queued(const tether_session *s);

/* Ends the child's input once everything queued was sent. Idempotent.
 * TETHER_ESTATE for null stdin; TETHER_ECLOSED. Allowed in callbacks. */
TETHER_EXTERN int tether_session_close_stdin(tether_session *s);

/* Sends a TETHER_SIG_* signal to the process, or to its whole process
 * group when `group` is non-zero. TETHER_EINVAL (unknown signal);
 * TETHER_ESTATE (the session is over); TETHER_ECLOSED; TETHER_ETIMEDOUT.
 * Allowed in callbacks. */
TETHER_EXTERN int tether_session_signal(tether_session *s, int sig, int group);

/* Polite stop: SIGTERM to the group, SIGKILL after `grace_ms` (0: the
 * runner's default, TETHER_TERMINATE_GRACE_MS). Errors as
 * tether_session_signal. Allowed in callbacks. */
TETHER_EXTERN int tether_session_terminate(tether_session *s, uint32_t grace_ms);

/* Asks the runner whether the process still runs; the answer arrives as
 * on_status. Errors as tether_session_signal. Allowed in callbacks. */
TETHER_EXTERN int tether_session_status(tether_session *s);

/* Sets the terminal size of a pty session (the kernel sends SIGWINCH to
 * its foreground job if the size changed). TETHER_EINVAL (a dimension 0
 * or above TETHER_PTY_DIM_MAX); TETHER_ESTATE (a pipes session, or the
 * session is over); TETHER_ECLOSED; TETHER_ETIMEDOUT. Allowed in
 * callbacks. Since 0.1. */
TETHER_EXTERN int tether_session_resize(tether_session *s, uint32_t rows, uint32_t cols);

/* The spawn options' userdata. */
TETHER_EXTERN void *tether_session_userdata(const tether_session *s);
/* The parent the session belongs to. */
TETHER_EXTERN tether_parent *tether_session_parent(const tether_session *s);
/* The session id on the wire (for logs). */
TETHER_EXTERN uint32_t tether_session_id(const tether_session *s);
/* 1 once the session is over (exited, spawn failed, or ended by an error). */
TETHER_EXTERN int tether_session_done(const tether_session *s);

/* Waits and processes (delivering every parent callback, for all
 * sessions) until `s` is over or `timeout_ms` passed (< 0: no limit).
 * 0 if it exited; TETHER_ESPAWN if the spawn failed; TETHER_ETIMEDOUT; the
 * error that ended it (TETHER_ECLOSED, TETHER_EPROTOCOL, ...);
 * TETHER_EINCALLBACK. `st` (may be NULL) receives the exit status in its
 * `struct_size` bytes (the macro passes sizeof(tether_exit_status));
 * TETHER_EINVAL if that is below the 0.2 layout. Since 0.2 (0.1 had
 * tether_session_wait as a function). */
TETHER_EXTERN int tether_session_wait_sized(tether_session *s, int timeout_ms,
                                            tether_exit_status *st, size_t struct_size);
#define tether_session_wait(s, timeout_ms, st) \
  tether_session_wait_sized((s), (timeout_ms), (st), sizeof(tether_exit_status))

/* Releases the handle. Valid at any time, also in callbacks (including the
 * session's own) and after the connection ended. If the command still runs
 * it is terminated (runner's default grace); the runner's later frames for
 * it are dropped silently. Accepts NULL. */
TETHER_EXTERN void tether_session_free(tether_session *s);

/* ------------------------------------------------------------ capture */

/* Frozen but for `status`, which is last so it grows with
 * tether_exit_status (see "ABI" above). */
typedef struct tether_capture_result {
  size_t struct_size;         /* bytes filled in by tether_capture; Since 0.2 */
  char *stdout_data;          /* malloc'd, NUL-terminated after stdout_len */
  size_t stdout_len;
  int stdout_truncated;       /* the cap dropped bytes */
  char *stderr_data;
  size_t stderr_len;
  int stderr_truncated;
  /* When it returned TETHER_ESPAWN: the failure; message is malloc'd and
   * NUL-terminated. */
  tether_spawn_failure failure;
  tether_exit_status status;  /* when tether_capture returned 0 */
} tether_capture_result;

/* Runs argv to completion and collects its output: the common case in one
 * call. `o` (may be NULL) supplies everything but argv (its argv and
 * userdata are ignored); a stream without a cap is kept up to
 * TETHER_CAPTURE_MAX_DEFAULT bytes. Blocks until the command ended
 * (bound it with o->timeout_ms), delivering other sessions' callbacks
 * meanwhile; its own events go to the result, not to callbacks. Returns 0
 * (see result->status), TETHER_ESPAWN (result->failure), or an error; in
 * every case free the result with tether_capture_result_free.
 * TETHER_EINCALLBACK from a callback. The result is written in its
 * `struct_size` bytes (the macro passes sizeof *result); TETHER_EINVAL,
 * nothing written, if that is below the 0.2 layout. Since 0.2 (0.1 had
 * tether_capture as a function). */
TETHER_EXTERN int tether_capture_sized(tether_parent *p, const char *const *argv,
                                       const tether_spawn_options *o,
                                       tether_capture_result *result, size_t struct_size);
#define tether_capture(p, argv, o, result) \
  tether_capture_sized((p), (argv), (o), (result), sizeof *(result))

/* Frees what a capture result holds and zeroes it (its struct_size
 * bytes). Accepts NULL. */
TETHER_EXTERN void tether_capture_result_free(tether_capture_result *r);

#ifdef __cplusplus
}
#endif
#endif
