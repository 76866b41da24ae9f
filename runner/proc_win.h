/* Windows process plumbing behind the runner (runner_internal.h includes
 * this instead of proc_posix.h): spawning (spawn_win.c), the session's
 * pipes and exit notification (session_win.c), the loop (loop_win.c).
 *
 * Design (docs/WINDOWS.md, "The runner"):
 *   - A child's stdin/stdout/stderr are named pipes created per stream
 *     (\\.\pipe\tether-r-<pid>-<n>-<random>, one instance, local only). The
 *     child gets the synchronous client end; the runner keeps the server
 *     end, opened for overlapped I/O, and reads and writes it with
 *     ReadFileEx/WriteFileEx: completion routines (APCs) that run on the
 *     runner's thread while it waits alertably. No thread per pipe and no
 *     handle per pipe in the wait set, so WaitForMultipleObjects' 64-handle
 *     limit never applies: the loop waits on at most three handles (the
 *     channel's read and write events and one wake event).
 *   - A child's exit is noticed by a thread-pool wait
 *     (RegisterWaitForSingleObject) that sets a flag and the wake event.
 *   - Each child is created suspended, put in its own job object
 *     (JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE) and only then resumed, so neither
 *     it nor anything it starts escapes the job; terminate and kill end the
 *     job. Only the handles in PROC_THREAD_ATTRIBUTE_HANDLE_LIST are
 *     inherited.
 * Everything here runs on the serving thread, except the wait callback
 * (which touches only `exited` and the wake event) and ConPTY's drain
 * thread (conpty/pty_win.c). */
#ifndef TETHER_RUNNER_PROC_WIN_H
#define TETHER_RUNNER_PROC_WIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tether/runner.h"
#include "codec/msg.h"
#include "conpty/pty.h"
#include "sandbox/sandbox.h"

/* SpawnFailed.os_error is a GetLastError() (or HRESULT) value; terminal
 * sessions are ConPTY sessions. */
#define TETHER__OS_ERR_SPACE TETHER_OS_ERR_WIN32
#define TETHER__PTY_CAPABILITY TETHER_CAP_CONPTY

/* One runner-side pipe end with its overlapped I/O (session_win.c). */
typedef struct tether__wpipe tether__wpipe;

typedef struct tether__proc {
  uint32_t pid;
  void *process;          /* HANDLE of the child */
  void *job;              /* HANDLE of its job (kill on close) */
  void *wait;             /* RegisterWaitForSingleObject handle, NULL after reaping */
  void *wake;             /* the loop's wake event (borrowed) */
  volatile long exited;   /* set by the wait callback */
  bool reaped;            /* the exit was collected */
  uint32_t code;          /* GetExitCodeProcess, valid once reaped */
  uint64_t user_us, system_us, peak_kib;
  /* The session's pipes: [0] stdout, [1] stderr, [2] stdin; NULL if none.
   * The shared session's fds are only markers on Windows (>= 0: open). */
  tether__wpipe *pipe[3];
} tether__proc;

/* ---- spawn_win.c ---- */

typedef struct tether__spawn_out {
  uint32_t pid;
  void *process, *job;   /* HANDLEs, owned by the caller on success */
  void *stdin_h;         /* runner ends (overlapped, non-inheritable); NULL if none */
  void *stdout_h;
  void *stderr_h;        /* NULL when merge_stderr */
  tether__pty *pty;      /* PTY mode: the pseudoconsole (pipes all NULL) */
  /* on failure */
  uint32_t stage;        /* TETHER_STAGE_* */
  uint32_t error;        /* TETHER_SPAWN_ERR_* */
  int os_error;          /* GetLastError() or HRESULT, 0 if none */
  char message[512];     /* printable ASCII */
} tether__spawn_out;

/* Starts `req`: validates it, builds the UTF-16 command line (MSVCRT
 * quoting, transport/cmdline_win.h) and environment block, finds the
 * program, creates the pipes (or the pseudoconsole), creates the process
 * suspended with exactly its three stdio handles inheritable through
 * PROC_THREAD_ATTRIBUTE_HANDLE_LIST, assigns it to a new kill-on-close job
 * and resumes it. 0, or -1 with stage/error/os_error/message (nothing
 * left open or running). */
int tether__spawn_win(const tether_msg_spawn *req, const tether__sandbox_policy *sandbox,
                      tether__spawn_out *out);

/* Portable SpawnError for a Win32 error. */
uint32_t tether__spawn_error_from_win32(unsigned long err);

/* ---- session_win.c: exit notification ---- */

typedef struct tether__exitwatch {
  int sigchld_fd;  /* unused on Windows (runner.c initialises it) */
  void *wake;      /* auto-reset event: a child exited, a ConPTY has news */
} tether__exitwatch;

int tether__exitwatch_init(tether__exitwatch *w, tether_runner_child_watch mode);
void tether__exitwatch_free(tether__exitwatch *w);
/* Registers the exit wait for a started process (proc->process set). */
int tether__exitwatch_add(tether__exitwatch *w, tether__proc *p);
/* Collects the exit if the process has ended: true if reaped now. */
bool tether__proc_try_reap(tether__proc *p);
/* Waits for the process to end and collects it. */
void tether__proc_reap_blocking(tether__proc *p);
void tether__proc_close(tether__proc *p);

/* ---- session_win.c: pipes, for loop_win.c ---- */

/* An overlapped operation on pipe i (0 stdout, 1 stderr, 2 stdin) is in
 * flight. */
bool tether__wpipe_busy(const tether__proc *p, int i);
/* Pipe i has bytes (or its end) waiting to be taken by a read. */
bool tether__wpipe_ready(const tether__proc *p, int i);
struct tether__session;
/* Closes a stdin pipe whose close waited for the write in flight, once
 * that write has completed. */
void tether__session_pump_closed(struct tether__session *s);

#endif
