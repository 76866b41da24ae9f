/* POSIX process plumbing behind the runner: spawning (spawn_posix.c), exit
 * notification (exitwatch_posix.c) and per-process state. */
#ifndef TETHER_RUNNER_PROC_POSIX_H
#define TETHER_RUNNER_PROC_POSIX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "tether/runner.h"
#include "codec/msg.h"
#include "conpty/pty.h"
#include "sandbox/sandbox.h"
#include "limits_posix.h"

typedef struct tether__proc {
  pid_t pid;          /* also the process group id (the child is its leader) */
  int pidfd;          /* readable once the child exited; -1 on the fallback */
  bool reaped;
  int status;         /* wait status, valid once reaped */
  struct rusage ru;   /* valid once reaped */
} tether__proc;

/* ---- spawn_posix.c ---- */

typedef struct tether__spawn_out {
  pid_t pid;
  int stdin_fd;   /* write end, non-blocking, CLOEXEC; -1 for STDIN_MODE_NULL */
  int stdout_fd;  /* read end, non-blocking, CLOEXEC */
  int stderr_fd;  /* read end; -1 when merge_stderr */
  /* PTY mode: the terminal (owned by the caller on success); stdin_fd,
   * stdout_fd and stderr_fd are then all -1. */
  tether__pty *pty;
  /* on failure */
  uint32_t stage;     /* TETHER_STAGE_* */
  uint32_t error;     /* TETHER_SPAWN_ERR_* */
  int os_error;       /* errno, 0 if none */
  char message[512];  /* printable ASCII */
} tether__spawn_out;

/* Starts `req` with fork + exec and a CLOEXEC error pipe. PIPES mode: the
 * child is put in its own process group (setpgid) with pipes on 0..2. PTY
 * mode: a terminal of pty_rows x pty_cols (0 -> 24 x 80) is opened, the
 * child becomes a session leader (so also a group leader) with the
 * terminal as its controlling terminal and on 0..2 (fd 0 is /dev/null
 * instead in STDIN_MODE_NULL). Returns 0 with pid and fds or pty, or -1
 * with stage/error/os_error/message filled in (nothing
 * left open, the failed child reaped). Blocks only until the child has
 * exec'd or failed. The child path after fork is async-signal-safe.
 * req's permission profile is decided by `sandbox` (sandbox/sandbox.h)
 * after the request's validation and enforced in the child before chdir
 * and exec; a refusal is stage PERMISSIONS. `lim` (NULL: none) is applied
 * in the child (runner/limits_posix.h): the cgroup is joined first, the
 * rlimits are set just before exec; a failure is stage LIMITS. */
int tether__spawn_posix(const tether_msg_spawn *req, const tether__sandbox_policy *sandbox,
                        const tether__limits_plan *lim, tether__spawn_out *out);

/* Portable SpawnError for an errno value. */
uint32_t tether__spawn_error_from_errno(int err);

/* ---- exitwatch_posix.c: pidfd, or a SIGCHLD self-pipe fallback ---- */

typedef struct tether__exitwatch {
  bool use_pidfd;
  int sigchld_fd;   /* read end of the self-pipe on the fallback, else -1 */
} tether__exitwatch;

/* Picks pidfd (if `mode` allows and the kernel has it) or installs the
 * SIGCHLD handler. TETHER_ESTATE if another runner holds the fallback. */
int tether__exitwatch_init(tether__exitwatch *w, tether_runner_child_watch mode);
void tether__exitwatch_free(tether__exitwatch *w);
/* Sets p->pidfd for a new child (-1 on the fallback). */
int tether__exitwatch_add(tether__exitwatch *w, tether__proc *p);
/* Empties the self-pipe after it polled readable. */
void tether__exitwatch_drain(tether__exitwatch *w);
/* wait4(WNOHANG): true if the process was reaped now (status, ru set). */
bool tether__proc_try_reap(tether__proc *p);
/* Blocking reap (after SIGKILL). */
void tether__proc_reap_blocking(tether__proc *p);
/* Signals the process (not the group) if it has not been reaped, through
 * its pidfd when there is one so a recycled pid is never hit. */
int tether__proc_kill(tether__proc *p, int sig);
/* Signals the process group (and the leader itself, in case it left the
 * group). */
void tether__proc_kill_group(tether__proc *p, int sig);
void tether__proc_close(tether__proc *p);

#endif
