/* Transports: a byte stream with a small vtable.
 *
 * read/write follow the shape of read(2)/write(2) but speak tether codes:
 * they return a byte count (> 0), 0 from read at end of stream, or a
 * negative TETHER_E* code: TETHER_EAGAIN when a non-blocking transport has
 * nothing to give or no room, TETHER_ECLOSED when the peer is gone (EPIPE,
 * ECONNRESET), TETHER_EIO otherwise. Short writes are normal; EINTR is
 * retried inside. No transport ever raises SIGPIPE.
 *
 * A transport is owned by whoever holds it; tether_transport_free closes it.
 * Transports are not thread-safe; one thread uses one at a time.
 */
#ifndef TETHER_TRANSPORT_H
#define TETHER_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "tether/error.h"
#include "tether/os.h"

typedef struct tether_transport tether_transport;

typedef struct tether_transport_vtable {
  const char *name; /* "fd", "unix", "memory", "npipe" */
  long (*read)(tether_transport *t, void *buf, size_t len);
  long (*write)(tether_transport *t, const void *buf, size_t len);
  /* Gathers `n` buffers; may write fewer bytes than their total. */
  long (*writev)(tether_transport *t, const tether_iov *iov, int n);
  /* The handle to wait on for readability (and writability when the
   * transport says it is write-blocked); TETHER_INVALID_HANDLE if none. */
  tether_os_handle (*read_handle)(tether_transport *t);
  tether_os_handle (*write_handle)(tether_transport *t);
  /* Stop writing: the peer sees end of stream; reading goes on. */
  int (*shutdown_write)(tether_transport *t);
  int (*set_nonblocking)(tether_transport *t, int on);
  void (*free)(tether_transport *t);
  /* For transports without an OS handle (memory): 1 if a read (or a write
   * when `for_write`) would not return TETHER_EAGAIN now, else 0. NULL for
   * transports with handles; tether_transport_wait polls those. */
  int (*ready)(tether_transport *t, int for_write);
} tether_transport_vtable;

struct tether_transport {
  const tether_transport_vtable *vt;
};

static inline long tether_transport_read(tether_transport *t, void *buf, size_t len) {
  return t->vt->read(t, buf, len);
}
static inline long tether_transport_write(tether_transport *t, const void *buf, size_t len) {
  return t->vt->write(t, buf, len);
}
static inline long tether_transport_writev(tether_transport *t, const tether_iov *iov, int n) {
  return t->vt->writev(t, iov, n);
}
void tether_transport_free(tether_transport *t); /* accepts NULL */

/* Blocking helpers built on the vtable: loop until all bytes moved, waiting
 * on the handles when the transport is non-blocking. timeout_ms < 0 waits
 * forever; TETHER_ETIMEDOUT when it elapses. */
int tether_transport_write_all(tether_transport *t, const void *buf, size_t len,
                               int timeout_ms);
/* Waits until the transport is readable (or writable if `for_write`).
 * 0 when ready (or at end of stream / error: the next read or write tells),
 * TETHER_ETIMEDOUT when timeout_ms elapses. EINTR is retried against the same
 * deadline. A transport without an OS handle (memory) cannot be waited on
 * from the thread that would feed it: it returns 0 at once if ready and
 * TETHER_EAGAIN otherwise, whatever the timeout. */
int tether_transport_wait(tether_transport *t, int for_write, int timeout_ms);

/* ---- implementations ---- */

/* Takes ownership of two descriptors (may be the same one: a socket). Sets
 * CLOEXEC on both. On failure both are closed. Writes to a socket use
 * MSG_NOSIGNAL; writes to a pipe block SIGPIPE in the calling thread for the
 * call and consume the one they caused, so the process's signal disposition
 * is never touched. */
int tether_transport_fd_new(int read_fd, int write_fd, tether_transport **out);
/* A connected pair over pipe(2): a->b and b->a (two pipes). */
int tether_transport_pipe_pair(tether_transport **a, tether_transport **b);
/* A connected pair over socketpair(AF_UNIX, SOCK_STREAM). */
int tether_transport_socketpair(tether_transport **a, tether_transport **b);

/* Unix-domain stream sockets on a filesystem path. */
typedef struct tether_listener tether_listener;
/* Binds and listens on `path`: TETHER_EADDRESS if the path is empty or
 * longer than sun_path allows, TETHER_EADDRINUSE if anything already exists
 * there (a stale socket is never removed silently). The socket is CLOEXEC. */
int tether_listener_unix(const char *path, tether_listener **out);
/* Waits up to timeout_ms (< 0: forever) for one connection. */
int tether_listener_accept(tether_listener *l, int timeout_ms, tether_transport **out);
tether_os_handle tether_listener_handle(tether_listener *l);
void tether_listener_free(tether_listener *l); /* unlinks the path */
/* Connects to a listening socket at `path`. A path that does not exist yet
 * or refuses (ENOENT, ECONNREFUSED, full backlog) is retried every few
 * milliseconds until timeout_ms elapses (a runner that is still starting),
 * then TETHER_ETIMEDOUT; timeout_ms 0 tries once. TETHER_EADDRESS for a
 * path too long for sun_path. */
int tether_transport_unix_connect(const char *path, int timeout_ms, tether_transport **out);

/* In-memory pair for tests and fuzzers: bytes written to one are read from
 * the other. `fail_after` >= 0 makes writes on `a` fail with TETHER_EIO
 * after that many bytes in total (failure injection); -1 disables it. The
 * memory transport has no OS handle; reads return TETHER_EAGAIN when empty
 * and the peer is open. */
int tether_transport_memory_pair(tether_transport **a, tether_transport **b);
void tether_transport_memory_fail_after(tether_transport *t, long long bytes);

#endif
