/* POSIX side of the parent: starting the runner process with the channel
 * as inherited descriptors, reaping it, waiting on the channel, the clock. */
#include "parent_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int64_t tether__parent_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tether__parent_close_fd(int fd) {
  if (fd >= 0) close(fd);
}

static const char *const default_argv[] = { "tether-runner", "--fd", "3", NULL };

int tether__parent_spawn_runner(const tether_parent_options *o, tether_transport **t,
                                int64_t *pid_out, void **os, char *err, size_t errlen) {
  const char *const *argv = o->runner_argv ? o->runner_argv : default_argv;
  int sv[2] = { -1, -1 };
  int child = -1, rc = 0, have_fa = 0, have_attr = 0;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  int rfd = 0, wfd = 1;

  *t = NULL;
  *pid_out = -1;
  *os = NULL; /* the pid is enough: it stays ours until we reap it */
  if (!argv[0] || !argv[0][0]) {
    snprintf(err, errlen, "empty runner argv");
    return TETHER_EINVAL;
  }
  if (o->runner_channel == TETHER_RUNNER_CHANNEL_FDS) {
    rfd = o->runner_fds[0];
    wfd = o->runner_fds[1];
    if (rfd < 0 || wfd < 0 || rfd > 1023 || wfd > 1023) {
      snprintf(err, errlen, "invalid runner_fds %d,%d", rfd, wfd);
      return TETHER_EINVAL;
    }
  } else if (o->runner_channel != TETHER_RUNNER_CHANNEL_STDIO) {
    snprintf(err, errlen, "invalid runner_channel %d", (int)o->runner_channel);
    return TETHER_EINVAL;
  }

  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    snprintf(err, errlen, "socketpair: %s", strerror(errno));
    return errno == EMFILE || errno == ENFILE || errno == ENOMEM ? TETHER_ENOMEM : TETHER_EOS;
  }
  /* Larger send buffers: the runner's copy into the socket is the biggest
   * cost of streaming output, and a bigger buffer means fewer, larger
   * copies and wakeups (the kernel caps it at net.core.wmem_max; failure
   * only costs speed). */
  int sndbuf = 1 << 20;
  (void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  (void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  /* Move the runner's end above every target descriptor, so each dup2
   * below really duplicates (a dup2 onto itself would keep CLOEXEC). */
  int floor = (rfd > wfd ? rfd : wfd) + 1;
  if (floor < 3) floor = 3;
  child = fcntl(sv[1], F_DUPFD_CLOEXEC, floor);
  if (child < 0) {
    snprintf(err, errlen, "fcntl(F_DUPFD_CLOEXEC): %s", strerror(errno));
    rc = TETHER_EOS;
    goto out;
  }
  close(sv[1]);
  sv[1] = -1;

  if ((rc = posix_spawn_file_actions_init(&fa)) != 0) goto spawn_fail;
  have_fa = 1;
  if (o->runner_channel == TETHER_RUNNER_CHANNEL_FDS) {
    if (rfd != 0 && wfd != 0 &&
        (rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) != 0)
      goto spawn_fail;
    if ((rc = posix_spawn_file_actions_adddup2(&fa, child, rfd)) != 0) goto spawn_fail;
    if (wfd != rfd && (rc = posix_spawn_file_actions_adddup2(&fa, child, wfd)) != 0)
      goto spawn_fail;
  } else {
    if ((rc = posix_spawn_file_actions_adddup2(&fa, child, 0)) != 0) goto spawn_fail;
    if ((rc = posix_spawn_file_actions_adddup2(&fa, child, 1)) != 0) goto spawn_fail;
  }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  /* Nothing else of the embedder's leaks into the runner, even descriptors
   * someone forgot to mark close-on-exec. */
  if ((rc = posix_spawn_file_actions_addclosefrom_np(&fa, floor)) != 0) goto spawn_fail;
#endif

  if ((rc = posix_spawnattr_init(&attr)) != 0) goto spawn_fail;
  have_attr = 1;
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (o->runner_new_group) flags |= POSIX_SPAWN_SETPGROUP;
  if ((rc = posix_spawnattr_setsigmask(&attr, &none)) != 0) goto spawn_fail;
  if ((rc = posix_spawnattr_setsigdefault(&attr, &all)) != 0) goto spawn_fail;
  if ((rc = posix_spawnattr_setpgroup(&attr, 0)) != 0) goto spawn_fail;
  if ((rc = posix_spawnattr_setflags(&attr, flags)) != 0) goto spawn_fail;

  pid_t pid;
  if (strchr(argv[0], '/'))
    rc = posix_spawn(&pid, argv[0], &fa, &attr, (char *const *)argv, environ);
  else
    rc = posix_spawnp(&pid, argv[0], &fa, &attr, (char *const *)argv, environ);
  if (rc != 0) goto spawn_fail;

  *pid_out = pid;
  close(child);
  child = -1;
  rc = tether_transport_fd_new(sv[0], sv[0], t);
  sv[0] = -1; /* owned by the transport now, also on failure */
  if (rc < 0) {
    snprintf(err, errlen, "cannot use the channel socket: %s", tether_strerror(rc));
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    *pid_out = -1;
  }
  goto out;

spawn_fail:
  snprintf(err, errlen, "cannot start the runner \"%s\": %s", argv[0], strerror(rc));
  rc = (rc == ENOMEM || rc == EAGAIN) ? TETHER_ENOMEM : TETHER_EOS;
out:
  if (have_fa) posix_spawn_file_actions_destroy(&fa);
  if (have_attr) posix_spawnattr_destroy(&attr);
  if (child >= 0) close(child);
  if (sv[0] >= 0) close(sv[0]);
  if (sv[1] >= 0) close(sv[1]);
  return rc;
}

int tether__parent_reap_runner(tether_parent *p, int timeout_ms) {
  if (p->runner_pid < 0) return 1;
  if (p->runner_reaped) return 1;
  int64_t deadline = tether__parent_now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
  int delay_us = 500;
  for (;;) {
    int st = 0;
    pid_t r = waitpid((pid_t)p->runner_pid, &st, timeout_ms < 0 ? 0 : WNOHANG);
    if (r == (pid_t)p->runner_pid) {
      p->runner_reaped = 1;
      p->runner_status = st;
      return 1;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      /* ECHILD: the embedder reaps children itself (SIGCHLD handler or
       * SA_NOCLDWAIT); the status is not ours to know. */
      p->runner_reaped = 1;
      p->runner_status = -1;
      return 1;
    }
    if (tether__parent_now_ms() >= deadline) return 0;
    usleep((useconds_t)delay_us);
    if (delay_us < 10000) delay_us *= 2;
  }
}

void tether__parent_kill_runner(tether_parent *p) {
  if (p->runner_pid > 0 && !p->runner_reaped) kill((pid_t)p->runner_pid, SIGKILL);
}

void tether__parent_describe_runner(tether_parent *p, char *buf, size_t len) {
  buf[0] = '\0';
  if (p->runner_pid < 0 || !p->runner_reaped || p->runner_status < 0) return;
  int st = p->runner_status;
  if (WIFEXITED(st))
    snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
  else if (WIFSIGNALED(st))
    snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
}

int tether__parent_wait(tether_parent *p, int timeout_ms) {
  if (p->closed) return TETHER_ECLOSED;
  struct pollfd fds[2];
  int n = 0;
  int rfd = tether_channel_read_handle(p->ch);
  int wfd = tether_channel_write_handle(p->ch);
  fds[n++] = (struct pollfd){ .fd = rfd, .events = POLLIN };
  if (!p->dead && tether_channel_pending(p->ch) > 0) {
    if (wfd == rfd) fds[0].events |= POLLOUT;
    else fds[n++] = (struct pollfd){ .fd = wfd, .events = POLLOUT };
  }
  int64_t deadline = tether__parent_now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
  for (;;) {
    int left = -1;
    if (timeout_ms >= 0) {
      int64_t l = deadline - tether__parent_now_ms();
      left = l < 0 ? 0 : (int)l;
    }
    int r = poll(fds, (nfds_t)n, left);
    if (r > 0) return 0;
    if (r == 0) return TETHER_ETIMEDOUT;
    if (errno != EINTR) return TETHER_EOS;
  }
}
