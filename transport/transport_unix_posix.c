/* Unix-domain stream sockets on a path: a listener and a connector. The
 * connected sockets become fd transports. */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "os_wait.h"

/* Retry interval while a connect target is missing or refusing. */
#define CONNECT_RETRY_MS 10

struct tether_listener {
  int fd;
  dev_t dev; /* identity of the socket file we bound, so free never */
  ino_t ino; /* unlinks a file someone else put at the path since */
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static int make_addr(const char *path, struct sockaddr_un *sa) {
  size_t n = path ? strlen(path) : 0;
  /* sun_path needs room for the terminating NUL; no abstract names here. */
  if (n == 0 || n >= sizeof sa->sun_path) return TETHER_EADDRESS;
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  memcpy(sa->sun_path, path, n + 1);
  return 0;
}

static int os_error(int e) {
  return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM ? TETHER_EOS : TETHER_EIO;
}

int tether_listener_unix(const char *path, tether_listener **out) {
  struct sockaddr_un sa;
  tether_listener *l = NULL;
  int fd = -1, bound = 0;
  *out = NULL;
  int rc = make_addr(path, &sa);
  if (rc < 0) return rc;
  rc = TETHER_ENOMEM;
  l = calloc(1, sizeof *l);
  if (!l) goto fail;
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    rc = os_error(errno);
    goto fail;
  }
  /* bind refuses an existing path atomically: never unlink a stale one,
   * it may belong to a live runner. */
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    rc = errno == EADDRINUSE ? TETHER_EADDRINUSE
         : errno == ENOENT || errno == ENOTDIR || errno == ENAMETOOLONG || errno == EACCES
             ? TETHER_EADDRESS
             : os_error(errno);
    goto fail;
  }
  bound = 1;
  struct stat st;
  if (stat(path, &st) != 0 || listen(fd, 16) != 0) {
    rc = os_error(errno);
    goto fail;
  }
  l->fd = fd;
  l->dev = st.st_dev;
  l->ino = st.st_ino;
  memcpy(l->path, sa.sun_path, sizeof l->path);
  *out = l;
  return 0;
fail:
  if (bound) unlink(sa.sun_path);
  if (fd >= 0) close(fd);
  free(l);
  return rc;
}

int tether_listener_accept(tether_listener *l, int timeout_ms, tether_transport **out) {
  int64_t deadline = tether__deadline(timeout_ms);
  *out = NULL;
  for (;;) {
    /* Accepted sockets start blocking, like every fresh transport. */
    int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0) return tether_transport_fd_new(fd, fd, out);
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return os_error(errno);
    int left = tether__remaining_ms(deadline);
    if (left == 0) return TETHER_ETIMEDOUT;
    int rc = tether__wait_handle(l->fd, 0, left);
    if (rc < 0) return rc;
  }
}

tether_os_handle tether_listener_handle(tether_listener *l) { return l->fd; }

void tether_listener_free(tether_listener *l) {
  if (!l) return;
  struct stat st;
  if (stat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
    unlink(l->path);
  close(l->fd);
  free(l);
}

/* One non-blocking connect attempt: 0 connected, 1 retry later (missing,
 * refused, backlog full), or an error. */
static int connect_once(int fd, const struct sockaddr_un *sa, int64_t deadline) {
  if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0) return 0;
  int e = errno;
  if (e == ENOENT || e == ECONNREFUSED || e == EAGAIN) return 1;
  if (e == ENOTDIR || e == EACCES || e == ENAMETOOLONG) return TETHER_EADDRESS;
  if (e != EINPROGRESS && e != EINTR) return os_error(e);
  int rc = tether__wait_handle(fd, 1, tether__remaining_ms(deadline));
  if (rc < 0) return rc;
  int soerr = 0;
  socklen_t sl = sizeof soerr;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) return os_error(errno);
  if (soerr == 0) return 0;
  return soerr == ECONNREFUSED || soerr == ENOENT ? 1 : os_error(soerr);
}

int tether_transport_unix_connect(const char *path, int timeout_ms, tether_transport **out) {
  struct sockaddr_un sa;
  *out = NULL;
  int rc = make_addr(path, &sa);
  if (rc < 0) return rc;
  int64_t deadline = tether__deadline(timeout_ms);
  for (;;) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return os_error(errno);
    rc = connect_once(fd, &sa, deadline);
    if (rc == 0) {
      int fl = fcntl(fd, F_GETFL);
      if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        close(fd);
        return TETHER_EIO;
      }
      return tether_transport_fd_new(fd, fd, out);
    }
    /* A failed connect leaves the socket unusable: start afresh. */
    close(fd);
    if (rc < 0) return rc;
    int left = tether__remaining_ms(deadline);
    if (left == 0) return TETHER_ETIMEDOUT;
    tether__sleep_ms(left < 0 || left > CONNECT_RETRY_MS ? CONNECT_RETRY_MS : left);
  }
}
