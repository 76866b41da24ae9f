/* The runner's child tree in a PID namespace of its own (runner/contain.h).
 *
 * unshare(CLONE_NEWPID) leaves the runner where it is but makes its next
 * child the init (pid 1) of a new namespace, and every later child a member
 * of it. That init is the small loop below: it dies with the runner
 * (PR_SET_PDEATHSIG), and when a namespace's init dies the kernel SIGKILLs
 * every process left in it, however it daemonized. While the runner lives,
 * init reaps the orphans reparented to it, so none stays a zombie. Each
 * child also gets a /proc of that namespace (tether__contain_child):
 * with the runner's /proc, getpid() names some other process's /proc entry
 * and tools like ps stop with "lookup self".
 *
 * Unprivileged, a PID namespace needs a user namespace too, and a user
 * namespace changes what the children see (unmapped owners become
 * "nobody", set-uid programs stop working), so the runner does not do that:
 * it falls back to PR_SET_PDEATHSIG on each child (SECURITY.md). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "contain.h"

#include <stdbool.h>

static bool g_contained;
/* The namespace for the sessions' children, and the runner's own: the
 * runner switches its pid_for_children to the first only around a session
 * spawn (setns), so LeakSanitizer's helper, which must see the runner's
 * pids, is born beside the runner. */
static int g_ns_fd = -1, g_own_fd = -1;

static void on_sigchld(int sig) { (void)sig; }

/* pid 1 of the namespace. `alive` reads a pipe the runner holds open until
 * `ready` says PR_SET_PDEATHSIG is in place: a runner that died before
 * that shows as end of file, and init leaves at once (taking the
 * namespace with it). */
__attribute__((noreturn)) static void init_main(int alive, int ready) {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) _exit(1);
  struct pollfd pf = { .fd = alive, .events = POLLIN };
  if (poll(&pf, 1, 0) != 0) _exit(1); /* the runner is already gone */
  char c = 1;
  if (write(ready, &c, 1) != 1) _exit(1);

  (void)setsid(); /* out of the runner's terminal job control */
  (void)chdir("/");
  (void)prctl(PR_SET_NAME, "tether-init");
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int fd = 0; fd < 3 && null >= 0; fd++) (void)dup2(null, fd);
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 3u, ~0u, 0u) < 0)
#endif
    for (int fd = 3; fd < 1024; fd++) (void)close(fd);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigchld;
  sigemptyset(&sa.sa_mask);
  (void)sigaction(SIGCHLD, &sa, NULL);
  sigset_t wake;
  sigfillset(&wake);
  sigdelset(&wake, SIGCHLD);
  for (;;) {
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
    sigsuspend(&wake); /* SIGCHLD stays blocked in between: none is lost */
  }
}

int tether__contain_init(char *why, size_t len) {
  g_own_fd = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
  if (g_own_fd < 0) {
    snprintf(why, len, "/proc/self/ns/pid: %s", strerror(errno));
    return 0;
  }
  if (unshare(CLONE_NEWPID) < 0) {
    close(g_own_fd);
    g_own_fd = -1;
    snprintf(why, len, "unshare(CLONE_NEWPID): %s", strerror(errno));
    return 0;
  }
  int alive[2], ready[2];
  if (pipe2(alive, O_CLOEXEC) < 0) goto broken;
  if (pipe2(ready, O_CLOEXEC) < 0) {
    close(alive[0]);
    close(alive[1]);
    goto broken;
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(alive[1]);
    close(ready[0]);
    init_main(alive[0], ready[1]);
  }
  int e = errno;
  close(alive[0]);
  close(ready[1]);
  char c = 0;
  ssize_t n = -1;
  if (pid > 0)
    do n = read(ready[0], &c, 1);
    while (n < 0 && errno == EINTR);
  close(ready[0]);
  close(alive[1]);
  if (n == 1) {
    g_contained = true;
    g_ns_fd = open("/proc/self/ns/pid_for_children", O_RDONLY | O_CLOEXEC);
    if (g_ns_fd < 0 || setns(g_own_fd, CLONE_NEWPID) < 0) {
      snprintf(why, len, "switching between PID namespaces: %s", strerror(errno));
      return -1;
    }
    return 1;
  }
  if (pid > 0) (void)waitpid(pid, NULL, 0);
  errno = pid < 0 ? e : ECHILD;
broken:
  /* The namespace has no init: no child could be born in it. Nothing can
   * undo unshare(CLONE_NEWPID), so the runner must not go on. */
  snprintf(why, len, "starting the PID namespace's init: %s", strerror(errno));
  return -1;
}

pid_t tether__contain_child_ppid(void) { return g_contained ? 0 : getpid(); }

int tether__contain_child(void) {
  if (!g_contained) return 0;
  /* Best effort: where a new /proc cannot be mounted (a container that
   * masks parts of its /proc refuses it), the command still runs, with
   * the runner's /proc. */
  if (unshare(CLONE_NEWNS) < 0) return 0;
  /* Slave, not private: the host's later mounts still reach the child. */
  if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) return 0;
  (void)mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  return 0;
}

int tether__contain_enter(void) {
  if (!g_contained) return 0;
  return setns(g_ns_fd, CLONE_NEWPID) < 0 ? errno : 0;
}

void tether__contain_leave(void) {
  if (g_contained) (void)setns(g_own_fd, CLONE_NEWPID);
}
