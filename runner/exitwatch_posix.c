/* How the runner learns that a child exited: one small file so the choice
 * stays in one place.
 *
 * pidfd_open(2) (Linux >= 5.3): a descriptor per child that polls readable
 * once the child exited; no signal handler, no global state, and signals go
 * through pidfd_send_signal so a recycled pid can never be hit.
 *
 * Fallback: a SIGCHLD handler writing to a self-pipe. The pipe and the
 * previous disposition are process-global, so only one runner per process
 * may use it at a time. On a wakeup the runner tries wait4(pid, WNOHANG) on
 * each of its own children only (never waitpid(-1), which would steal the
 * embedder's children). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc_posix.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

static int sys_pidfd_open(pid_t pid) {
  return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int sys_pidfd_send_signal(int fd, int sig) {
  return (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
}

/* ---- SIGCHLD fallback: the library's only global state ---- */
static int g_sigchld_pipe[2] = { -1, -1 };
static struct sigaction g_old_sigchld;
static volatile sig_atomic_t g_sigchld_busy;

static void on_sigchld(int sig) {
  (void)sig;
  int saved = errno;
  char c = 0;
  ssize_t n = write(g_sigchld_pipe[1], &c, 1); /* full pipe: a wakeup is pending anyway */
  (void)n;
  errno = saved;
}

static int pidfd_works(void) {
  int fd = sys_pidfd_open(getpid());
  if (fd < 0) return 0;
  close(fd);
  return 1;
}

int tether__exitwatch_init(tether__exitwatch *w, tether_runner_child_watch mode) {
  w->use_pidfd = false;
  w->sigchld_fd = -1;
  if (mode != TETHER_RUNNER_WATCH_SIGCHLD && pidfd_works()) {
    w->use_pidfd = true;
    return 0;
  }
  if (mode == TETHER_RUNNER_WATCH_PIDFD) return TETHER_EUNSUPPORTED;
  if (g_sigchld_busy) return TETHER_ESTATE;
  if (pipe2(g_sigchld_pipe, O_CLOEXEC | O_NONBLOCK) < 0) return TETHER_EOS;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigchld;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  if (sigaction(SIGCHLD, &sa, &g_old_sigchld) < 0) {
    close(g_sigchld_pipe[0]);
    close(g_sigchld_pipe[1]);
    g_sigchld_pipe[0] = g_sigchld_pipe[1] = -1;
    return TETHER_EOS;
  }
  g_sigchld_busy = 1;
  w->sigchld_fd = g_sigchld_pipe[0];
  return 0;
}

void tether__exitwatch_free(tether__exitwatch *w) {
  if (!w->use_pidfd && w->sigchld_fd >= 0) {
    sigaction(SIGCHLD, &g_old_sigchld, NULL);
    close(g_sigchld_pipe[0]);
    close(g_sigchld_pipe[1]);
    g_sigchld_pipe[0] = g_sigchld_pipe[1] = -1;
    g_sigchld_busy = 0;
  }
  w->sigchld_fd = -1;
}

int tether__exitwatch_add(tether__exitwatch *w, tether__proc *p) {
  p->pidfd = -1;
  if (!w->use_pidfd) return 0;
  p->pidfd = sys_pidfd_open(p->pid);
  if (p->pidfd < 0) return TETHER_EOS;
  /* pidfd_open sets O_CLOEXEC itself. */
  return 0;
}

void tether__exitwatch_drain(tether__exitwatch *w) {
  char buf[64];
  if (w->sigchld_fd < 0) return;
  while (read(w->sigchld_fd, buf, sizeof buf) > 0) {}
}

bool tether__proc_try_reap(tether__proc *p) {
  if (p->reaped || p->pid <= 0) return p->reaped;
  int st;
  pid_t r;
  do r = wait4(p->pid, &st, WNOHANG, &p->ru);
  while (r < 0 && errno == EINTR);
  if (r == p->pid) {
    p->status = st;
    p->reaped = true;
  } else if (r < 0 && errno == ECHILD) {
    /* Someone else reaped it (SIGCHLD set to SIG_IGN by the embedder):
     * the status is lost; report a plain exit 0 rather than hang. */
    memset(&p->ru, 0, sizeof p->ru);
    p->status = 0;
    p->reaped = true;
  }
  if (p->reaped && p->pidfd >= 0) {
    close(p->pidfd);
    p->pidfd = -1;
  }
  return p->reaped;
}

void tether__proc_reap_blocking(tether__proc *p) {
  if (p->reaped || p->pid <= 0) return;
  int st;
  pid_t r;
  do r = wait4(p->pid, &st, 0, &p->ru);
  while (r < 0 && errno == EINTR);
  p->status = r == p->pid ? st : 0;
  p->reaped = true;
  if (p->pidfd >= 0) {
    close(p->pidfd);
    p->pidfd = -1;
  }
}

int tether__proc_kill(tether__proc *p, int sig) {
  if (p->reaped || p->pid <= 0) return 0;
  if (p->pidfd >= 0) return sys_pidfd_send_signal(p->pidfd, sig);
  return kill(p->pid, sig); /* not reaped yet: the pid is still ours */
}

void tether__proc_kill_group(tether__proc *p, int sig) {
  if (p->pid <= 0) return;
  (void)kill(-p->pid, sig); /* ESRCH once the whole group is gone */
  (void)tether__proc_kill(p, sig);
}

void tether__proc_close(tether__proc *p) {
  if (p->pidfd >= 0) close(p->pidfd);
  p->pidfd = -1;
}
