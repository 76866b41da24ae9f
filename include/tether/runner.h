/* tether — the runner library (libtether_runner).
 *
 * A runner serves ONE connection from a parent: it answers the handshake,
 * then starts commands ("sessions") on request, streams their output back,
 * feeds their stdin, signals and terminates them, and reports how each one
 * ended. `tether-runner` is a thin executable around this library; embed the
 * library to run the same service inside another program (a sandbox helper,
 * a container init, a test).
 *
 * Threading: tether_runner_serve_fds() blocks the calling thread until the
 * connection ends and uses no other thread. Several runners may serve in
 * different threads of one process when the kernel has pidfd_open(2)
 * (Linux >= 5.3); on the SIGCHLD fallback only one runner per process may
 * serve at a time (a second one gets TETHER_ESTATE).
 *
 * Process-wide effects, all undone before serve returns:
 *   - SIGPIPE is blocked in the serving thread while it runs (a child that
 *     closes its stdin must not kill the runner); pending SIGPIPEs raised by
 *     the runner's own writes are consumed.
 *   - SIGCHLD fallback only: a SIGCHLD handler (self-pipe) is installed and
 *     the previous disposition restored afterwards. This is the library's
 *     only global state. With pidfd no handler is installed.
 * The embedder must not set SIGCHLD to SIG_IGN (children would be reaped by
 * the kernel and exit statuses lost) and must not reap the runner's
 * children (waitpid(-1, ...)) while a runner serves.
 *
 * Children: each session runs in its own process group (setpgid), with
 * default signal dispositions and an empty signal mask, stdin from a pipe or
 * /dev/null, stdout/stderr to pipes; it inherits exactly descriptors 0, 1
 * and 2 (everything else, including descriptors the runner itself
 * inherited, is close-on-exec in the child). A PTY session's child leads
 * its own session instead (setsid), with a pseudo-terminal as controlling
 * terminal and as 0, 1 and 2; see docs/PROTOCOL.md §6.5 for its output,
 * StdinClose, Resize and signal semantics. When the connection ends
 * (Goodbye, end of stream or a protocol error) every session's group gets
 * SIGTERM, then SIGKILL after `shutdown_grace_ms`; every child is reaped
 * before serve returns. After Goodbye or end of input the sessions' last
 * Output and Exited frames are still sent (output beyond the stream's
 * credit is then read and discarded, so the pipes reach end of file), and
 * after the parent's Goodbye the runner sends its own Goodbye as its last
 * frame; after a fatal Error nothing more is sent.
 *
 * Session policies (see docs/PROTOCOL.md for the frames):
 *   - Spawned/SpawnFailed first; Output in order with offsets; Exited last,
 *     sent only once the child was reaped AND both output pipes reached end
 *     of file. A grandchild that keeps a pipe open after the child exited
 *     holds Exited back until it closes the pipe or the parent sends
 *     Terminate (which signals the whole process group, the usual home of
 *     such a grandchild). StatusReply.running is false as soon as the
 *     child itself was reaped. The session id is free again after Exited.
 *   - Output caps: bytes past a cap are read and dropped; one
 *     OutputTruncated{stream, dropped} per capped stream precedes Exited.
 *   - Spawn.timeout_ms: Terminate with the default grace when it elapses;
 *     Exited.timed_out is then set.
 *   - Flow control (docs/PROTOCOL.md §5.8): the runner lists
 *     TETHER_CAP_FLOW_CONTROL with initial_window = `window` and
 *     max_window = `max_window`. When the parent lists it too, every
 *     output stream starts with the agreed initial window (the smaller of
 *     the two Hellos' values), the runner reads a child's pipe or pty only
 *     up to the credit the parent granted (a child that floods then blocks
 *     on its own write), and it grants Credit{STDIN} back as it writes the
 *     parent's Stdin into the child, so a session's stdin queue never
 *     holds more than the window. A stream out of credit is not read even
 *     for its end of file, so Exited waits for credit too; after Goodbye
 *     or end of input the runner reads past the credit and discards.
 *     Otherwise (a parent without the
 *     capability) Credit frames are ignored and output_high_water plus
 *     stdin_queue_max are the only bounds. output_high_water bounds the
 *     channel's queued output in both cases.
 *   - Stdin after the child closed its stdin (EPIPE) is dropped silently.
 */
#ifndef TETHER_RUNNER_H
#define TETHER_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "tether/error.h"
#include "tether/export.h"
#include "tether/limits.h"
#include "tether/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default bound on the runner's queued channel output: while more than this
 * is waiting to be written to the parent, the runner stops reading
 * children's output (and, past this plus 1 MiB of replies, the parent's
 * frames), so memory stays bounded and a flooding child blocks on its own
 * write. Applies with and without flow control. */
#define TETHER_RUNNER_OUTPUT_HIGH_WATER_DEFAULT (1u << 20)   /* 1 MiB */
/* Default bound on stdin bytes queued per session (written to the child as
 * its pipe takes them) when flow control is not in effect. A Stdin frame
 * that would exceed it is refused with Error{LIMIT} on that session and its
 * bytes are not accepted. With flow control the agreed window bounds the
 * queue instead, and Stdin beyond the granted credit is a fatal protocol
 * error. */
#define TETHER_RUNNER_STDIN_QUEUE_DEFAULT (1u << 20)         /* 1 MiB */
/* The runner's flow-control windows (announced in Hello) default to
 * TETHER_WINDOW_DEFAULT (initial, 256 KiB) and TETHER_WINDOW_MAX (most
 * outstanding credit per stream, 16 MiB) from tether/limits.h. */
/* Grace between SIGTERM and SIGKILL when the connection ends. */
#define TETHER_RUNNER_SHUTDOWN_GRACE_MS 500u

/* How the runner learns that a child exited. AUTO uses pidfd_open(2) and
 * falls back to a SIGCHLD self-pipe when the kernel lacks it. */
typedef enum tether_runner_child_watch {
  TETHER_RUNNER_WATCH_AUTO = 0,
  TETHER_RUNNER_WATCH_PIDFD = 1,
  TETHER_RUNNER_WATCH_SIGCHLD = 2
} tether_runner_child_watch;

typedef struct tether_runner_options {
  /* Set by tether_runner_options_init: the size the caller was compiled
   * with. Grows like the parent's options (tether/parent.h, "ABI"): the
   * library reads only fields within struct_size (defaults for the rest),
   * below the 0.2 layout or 0 is TETHER_EINVAL, and a newer caller's
   * field this library does not know, if set, is TETHER_EUNSUPPORTED.
   * Since 0.2. */
  size_t struct_size;
  /* Concurrent sessions; [1, TETHER_SESSIONS_MAX_CEILING]. A Spawn beyond
   * it gets SpawnFailed{stage LIMITS}. Announced in Hello. */
  uint32_t max_sessions;
  /* Largest frame payload accepted from the parent; announced in Hello.
   * [TETHER_FRAME_MAX_MINIMUM, TETHER_FRAME_MAX_CEILING]. */
  uint32_t max_frame_size;
  /* The parent's Hello must arrive within this many ms (>= 1), else
   * Error{TIMEOUT, fatal}. */
  uint32_t handshake_timeout_ms;
  /* Terminate{grace_ms: 0} and Spawn.timeout_ms use this grace (>= 1). */
  uint32_t terminate_grace_ms;
  /* SIGTERM -> SIGKILL grace when the connection ends (>= 1). */
  uint32_t shutdown_grace_ms;
  /* See TETHER_RUNNER_OUTPUT_HIGH_WATER_DEFAULT; >= 64 KiB. */
  size_t output_high_water;
  /* See TETHER_RUNNER_STDIN_QUEUE_DEFAULT; >= 1. Applies only when flow
   * control is not in effect (with it, the stdin window bounds the queue). */
  size_t stdin_queue_max;
  /* Flow control: Hello.initial_window, [1, TETHER_WINDOW_MAX], default
   * TETHER_WINDOW_DEFAULT. The agreed value (the smaller of this and the
   * parent's) is each stream's starting credit, and the stdin window the
   * runner keeps granting to the parent per session. */
  uint32_t window;
  /* Flow control: Hello.max_window, [window, TETHER_WINDOW_MAX], default
   * TETHER_WINDOW_MAX. A parent's Credit that would give a stream more
   * outstanding credit than the agreed max_window gets Error{LIMIT}. */
  uint32_t max_window;
  /* Hello.implementation; UTF-8, <= TETHER_NAME_MAX_BYTES, not NULL.
   * Borrowed for the duration of serve. */
  const char *name;
  tether_runner_child_watch child_watch;
  /* Optional: receives a one-line, NUL-terminated description of why serve
   * returned an error ("" on success). Borrowed; may be NULL. */
  char *error_buf;
  size_t error_buf_len;
  /* Non-zero: honour permission profiles with filesystem mode FULL_ACCESS
   * (tether-runner --allow-full-access); otherwise they are refused with
   * SpawnFailed{PERMISSIONS, PERMISSION_DENIED}. Default 0. Profiles are
   * enforced with Landlock and namespaces (docs/SANDBOX.md); set
   * TETHER_LOG=debug to log each Spawn's permission decision on stderr.
   * Since 0.1. */
  int allow_full_access;
  /* New options are appended here. */
} tether_runner_options;

/* Fills `o` (struct_size bytes) with the defaults from tether/limits.h
 * and the constants above, name "tether-runner", and sets o->struct_size.
 * Use the macro. Since 0.2 (0.1 had tether_runner_options_init as a
 * function). */
TETHER_EXTERN void tether_runner_options_init_sized(tether_runner_options *o,
                                                   size_t struct_size);
#define tether_runner_options_init(o) tether_runner_options_init_sized((o), sizeof *(o))

/* Serves one connection over `read_fd` / `write_fd` (the same descriptor for
 * a socket) and returns when it ends. Takes ownership of both descriptors:
 * they are closed before return, on every path. They are set non-blocking
 * and close-on-exec. `o` may be NULL for the defaults.
 *
 * Returns 0 after an orderly end (Goodbye or end of stream from the parent
 * between frames); otherwise a negative TETHER_E* code: TETHER_EINVAL (bad
 * options), TETHER_EPREFACE (not a tether peer), TETHER_EPROTOCOL (the
 * parent broke the protocol; it was sent Error{PROTOCOL}), TETHER_EVERSION,
 * TETHER_ETIMEDOUT (handshake deadline), TETHER_ETRUNCATED, TETHER_EIO,
 * TETHER_ECLOSED (end of stream before the parent's Hello), TETHER_ESTATE
 * (another runner already uses the SIGCHLD fallback in this process),
 * TETHER_EUNSUPPORTED (child_watch PIDFD without kernel support),
 * TETHER_ENOMEM, TETHER_EOS. A fatal Error from the parent ends serving
 * with TETHER_EVERSION or TETHER_EPROTOCOL. Since 0.1. */
TETHER_EXTERN int tether_runner_serve_fds(const tether_runner_options *o,
                                          int read_fd, int write_fd);

/* The version announced as Hello.implementation_version: the same string
 * as tether_version_string() (tether/version.h). */
TETHER_EXTERN const char *tether_runner_version(void);

#ifdef __cplusplus
}
#endif
#endif
