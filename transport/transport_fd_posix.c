/* The fd transport: pipes, socketpairs, Unix sockets, any two descriptors.
 *
 * SIGPIPE: a library must neither die of it nor change the process's
 * disposition (the embedder owns it). Sockets get MSG_NOSIGNAL. Pipes have
 * no such flag, so around write(2) the calling thread blocks SIGPIPE and,
 * if the write raised one (EPIPE) that was not pending before, consumes it
 * with sigtimedwait before restoring the mask (as libcurl and libuv do). */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct fd_transport {
  tether_transport base;
  int rfd;
  int wfd;    /* -1 after shutdown_write closed a pipe */
  int wsock;  /* wfd is a socket: send(MSG_NOSIGNAL), shutdown(SHUT_WR) */
} fd_transport;

static const tether_transport_vtable fd_vtable;

static long map_errno(int e) {
  switch (e) {
  case EAGAIN:
#if EWOULDBLOCK != EAGAIN
  case EWOULDBLOCK:
#endif
    return TETHER_EAGAIN;
  case EPIPE:
  case ECONNRESET:
  case ENOTCONN:
    return TETHER_ECLOSED;
  default:
    return TETHER_EIO;
  }
}

typedef struct sigpipe_guard {
  sigset_t old;
  int was_pending;
} sigpipe_guard;

static void sigpipe_block(sigpipe_guard *g) {
  sigset_t set, pending;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, &g->old);
  sigemptyset(&pending);
  sigpending(&pending);
  g->was_pending = sigismember(&pending, SIGPIPE) == 1;
}

/* `raised`: the write failed with EPIPE, so a SIGPIPE is now pending. One
 * that was pending before is the embedder's and stays. */
static void sigpipe_unblock(sigpipe_guard *g, int raised) {
  if (raised && !g->was_pending) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    struct timespec zero = { 0, 0 };
    while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

static long fd_read(tether_transport *t, void *buf, size_t len) {
  fd_transport *f = (fd_transport *)t;
  for (;;) {
    ssize_t n = read(f->rfd, buf, len);
    if (n >= 0) return (long)n;
    if (errno == EINTR) continue;
    return map_errno(errno);
  }
}

static long fd_write(tether_transport *t, const void *buf, size_t len) {
  fd_transport *f = (fd_transport *)t;
  if (f->wfd < 0) return TETHER_ECLOSED;
  for (;;) {
    ssize_t w;
    int e;
    if (f->wsock) {
      w = send(f->wfd, buf, len, MSG_NOSIGNAL);
      e = errno;
    } else {
      sigpipe_guard g;
      sigpipe_block(&g);
      w = write(f->wfd, buf, len);
      e = errno;
      sigpipe_unblock(&g, w < 0 && e == EPIPE);
    }
    if (w >= 0) return (long)w;
    if (e == EINTR) continue;
    return map_errno(e);
  }
}

static tether_os_handle fd_read_handle(tether_transport *t) {
  return ((fd_transport *)t)->rfd;
}

static tether_os_handle fd_write_handle(tether_transport *t) {
  return ((fd_transport *)t)->wfd;
}

static int fd_shutdown_write(tether_transport *t) {
  fd_transport *f = (fd_transport *)t;
  if (f->wfd < 0) return 0;
  if (f->wsock) {
    if (shutdown(f->wfd, SHUT_WR) != 0 && errno != ENOTCONN) return TETHER_EIO;
    return 0;
  }
  /* One non-socket fd for both directions (a tty, a FIFO opened O_RDWR):
   * closing it would end reading too. */
  if (f->wfd == f->rfd) return TETHER_EUNSUPPORTED;
  close(f->wfd);
  f->wfd = -1;
  return 0;
}

static int set_flag(int fd, int on) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return TETHER_EIO;
  int want = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
  if (want != fl && fcntl(fd, F_SETFL, want) < 0) return TETHER_EIO;
  return 0;
}

static int fd_set_nonblocking(tether_transport *t, int on) {
  fd_transport *f = (fd_transport *)t;
  int rc = set_flag(f->rfd, on);
  if (rc == 0 && f->wfd >= 0 && f->wfd != f->rfd) rc = set_flag(f->wfd, on);
  return rc;
}

static void fd_free(tether_transport *t) {
  fd_transport *f = (fd_transport *)t;
  if (f->wfd >= 0 && f->wfd != f->rfd) close(f->wfd);
  close(f->rfd);
  free(f);
}

static const tether_transport_vtable fd_vtable = {
  .name = "fd",
  .read = fd_read,
  .write = fd_write,
  .read_handle = fd_read_handle,
  .write_handle = fd_write_handle,
  .shutdown_write = fd_shutdown_write,
  .set_nonblocking = fd_set_nonblocking,
  .free = fd_free,
  .ready = NULL,
  .short_read_drains = 1,
};

static int set_cloexec(int fd) {
  int fl = fcntl(fd, F_GETFD);
  if (fl < 0) return -1;
  if (fl & FD_CLOEXEC) return 0;
  return fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

static int is_socket(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

int tether_transport_fd_new(int read_fd, int write_fd, tether_transport **out) {
  int rc = TETHER_EINVAL;
  fd_transport *f = NULL;
  *out = NULL;
  if (read_fd < 0 || write_fd < 0) goto fail;
  rc = TETHER_EIO;
  if (set_cloexec(read_fd) != 0 || set_cloexec(write_fd) != 0) goto fail;
  rc = TETHER_ENOMEM;
  f = calloc(1, sizeof *f);
  if (!f) goto fail;
  f->base.vt = &fd_vtable;
  f->rfd = read_fd;
  f->wfd = write_fd;
  f->wsock = is_socket(write_fd);
  *out = &f->base;
  return 0;
fail:
  if (read_fd >= 0) close(read_fd);
  if (write_fd >= 0 && write_fd != read_fd) close(write_fd);
  return rc;
}

/* Builds both ends; on failure every fd not yet owned by a transport is
 * closed and any transport made is freed. */
static int make_pair(int a_r, int a_w, int b_r, int b_w, tether_transport **a,
                     tether_transport **b) {
  *a = *b = NULL;
  int rc = tether_transport_fd_new(a_r, a_w, a);
  if (rc < 0) {
    close(b_r);
    if (b_w != b_r) close(b_w);
    return rc;
  }
  rc = tether_transport_fd_new(b_r, b_w, b);
  if (rc < 0) {
    tether_transport_free(*a);
    *a = NULL;
  }
  return rc;
}

int tether_transport_pipe_pair(tether_transport **a, tether_transport **b) {
  int ab[2], ba[2];
  *a = *b = NULL;
  if (pipe2(ab, O_CLOEXEC) != 0) return errno == EMFILE || errno == ENFILE ? TETHER_EOS : TETHER_EIO;
  if (pipe2(ba, O_CLOEXEC) != 0) {
    int e = errno;
    close(ab[0]);
    close(ab[1]);
    return e == EMFILE || e == ENFILE ? TETHER_EOS : TETHER_EIO;
  }
  /* a writes ab[1] -> b reads ab[0]; b writes ba[1] -> a reads ba[0]. */
  return make_pair(ba[0], ab[1], ab[0], ba[1], a, b);
}

int tether_transport_socketpair(tether_transport **a, tether_transport **b) {
  int sv[2];
  *a = *b = NULL;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return errno == EMFILE || errno == ENFILE ? TETHER_EOS : TETHER_EIO;
  return make_pair(sv[0], sv[0], sv[1], sv[1], a, b);
}
