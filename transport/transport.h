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
  /* 1 if a read that returns fewer bytes than asked means the source is
   * empty now (POSIX fds), so the channel need not read again until the
   * read handle is ready; 0 where the next read is what re-arms the
   * transport (Windows overlapped reads). */
  int short_read_drains;
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

#ifdef _WIN32
/* ---- Windows ----
 *
 * tether_os_handle is a HANDLE: the read and write handles of these
 * transports are event objects (signalled when a read or write would not
 * return TETHER_EAGAIN), for WaitForMultipleObjects or any loop that waits
 * on handles. Transports start blocking, like the POSIX ones; a channel
 * makes them non-blocking. */

/* Named pipes (byte mode, overlapped I/O, no threads). Writes are accepted
 * one chunk at a time into the transport and complete in the background;
 * freeing the transport waits up to 2 s for an accepted write to reach the
 * pipe. Named pipes cannot half-close: shutdown_write returns
 * TETHER_EUNSUPPORTED. */
typedef struct tether_npipe_server tether_npipe_server;

typedef struct tether_npipe_options {
  /* The full pipe name in UTF-8 ("\\\\.\\pipe\\..."), or NULL for a fresh
   * random one: \\.\pipe\tether-<pid>-<32 hex digits> (128 bits from
   * BCryptGenRandom). */
  const char *name;
  /* A string SID ("S-1-5-...") also allowed to connect, e.g. a sandbox
   * account: it may read and write but not create instances. NULL: only
   * the current user. */
  const char *extra_sid;
  /* Instances that may exist at once, listening or connected: 1..255.
   * Default 1: one connection at a time. */
  unsigned max_instances;
  /* Pipe buffer size hint per direction, at most 16 MiB. Default 64 KiB. */
  unsigned buffer_size;
} tether_npipe_options;

void tether_npipe_options_init(tether_npipe_options *o);

/* Creates the pipe and starts listening. The pipe is local only
 * (PIPE_REJECT_REMOTE_CLIENTS), its DACL (protected) allows the current
 * user and `extra_sid` and nobody else, and its first instance is created
 * with FILE_FLAG_FIRST_PIPE_INSTANCE: TETHER_EADDRINUSE if the name exists
 * already (never join someone else's pipe). TETHER_EADDRESS for a name
 * that is not "\\.\pipe\..." or is too long; TETHER_EINVAL for bad options
 * or an invalid SID string. `o` may be NULL for the defaults. */
int tether_npipe_server_new(const tether_npipe_options *o, tether_npipe_server **out);
/* The pipe's name (UTF-8), to hand to the client. */
const char *tether_npipe_server_name(const tether_npipe_server *s);
/* An event signalled when a client has connected and accept would not
 * wait. Valid while the server is listening: from _new on, and after each
 * accept when max_instances allows another instance. */
tether_os_handle tether_npipe_server_handle(tether_npipe_server *s);
/* Waits up to timeout_ms (< 0: forever) for a client; TETHER_ETIMEDOUT
 * leaves the server listening. If expected_pid is not 0, the client's
 * process id (GetNamedPipeClientProcessId) must equal it: otherwise the
 * client is disconnected and TETHER_EPROTOCOL returned, and
 * tether_npipe_server_error says which process it was. TETHER_ESTATE when
 * max_instances are all connected. */
int tether_npipe_server_accept(tether_npipe_server *s, int timeout_ms,
                               unsigned long expected_pid, tether_transport **out);
/* Why the last call failed, "" if it did not. */
const char *tether_npipe_server_error(const tether_npipe_server *s);
void tether_npipe_server_free(tether_npipe_server *s); /* accepts NULL */

/* Connects to a local pipe. A pipe that does not exist yet or has no free
 * instance is retried until timeout_ms elapses (a server still starting),
 * then TETHER_ETIMEDOUT; timeout_ms 0 tries once. TETHER_EADDRESS for a
 * name that is not "\\.\pipe\..." or a pipe we may not open. The server
 * may identify but never impersonate the client (SECURITY_IDENTIFICATION). */
int tether_transport_npipe_connect(const char *name, int timeout_ms, tether_transport **out);

/* Two pipe handles, typically inherited anonymous pipes (CreatePipe): a
 * reader and a writer thread do the blocking calls, so the transport is
 * non-blocking and waitable all the same. Takes ownership of both handles
 * (also on failure) and makes them non-inheritable. They may be the same
 * handle only if it was opened for overlapped I/O (a synchronous handle
 * serializes the two threads' calls); shutdown_write is then
 * TETHER_EUNSUPPORTED, otherwise it closes the write handle once the
 * queued bytes are written. */
int tether_transport_handle_new(void *read_handle, void *write_handle, tether_transport **out);
/* A connected pair over two CreatePipe pipes: a->b and b->a. */
int tether_transport_handle_pipe_pair(tether_transport **a, tether_transport **b);
#endif

#endif
