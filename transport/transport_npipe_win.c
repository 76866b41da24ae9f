/* The named-pipe transport: one overlapped pipe handle (server or client
 * end), byte mode, driven without threads.
 *
 * POSIX non-blocking semantics on top of overlapped I/O:
 *
 * Reading: a read into an internal buffer is kept pending at all times
 * (from construction on), and its event is the read handle. read() hands
 * out buffered bytes and, once the buffer is drained, starts the next
 * overlapped read at once, so the event means "a read would not return
 * TETHER_EAGAIN": it is signalled while bytes are buffered, at end of
 * stream and after an error, and reset while a read is in flight.
 *
 * Writing: write() copies up to one chunk into an internal buffer and
 * issues an overlapped write; it returns the number of bytes copied (never
 * more than it took, so short writes are reported as such). While that
 * write is in flight, write() returns TETHER_EAGAIN and the write event
 * (the write handle) is reset; it is signalled when the write completed.
 * A write that fails after its bytes were accepted makes the next write
 * fail, as a socket does. Freeing the transport gives an accepted write
 * TETHER__WIN_CLOSE_GRACE_MS to complete, so the last frames of a
 * conversation are not lost to a close; a peer that stopped reading makes
 * free cancel it after that.
 *
 * Windows cancels overlapped I/O when the thread that issued it exits; a
 * transport may still move between threads (one at a time): an operation
 * aborted that way is simply issued again by the next call.
 *
 * Named pipes have no half-close: shutdown_write is TETHER_EUNSUPPORTED
 * (the protocol ends a conversation with Goodbye, not with end of stream). */
#include "transport_win.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "os_wait.h"

/* Retry interval while the pipe does not exist yet (a server still
 * starting). */
#define CONNECT_RETRY_MS 10

typedef struct npipe_transport {
  tether_transport base;
  HANDLE h;
  int nonblocking;

  OVERLAPPED rov;   /* rov.hEvent (manual reset) is the read handle */
  int rpending;     /* an overlapped read is in flight */
  unsigned char *rbuf;
  size_t roff, rlen; /* buffered bytes: rbuf[roff, rlen) */
  int reof;         /* the peer closed: 0 once the buffer is drained */
  int rerr;         /* sticky read error */

  OVERLAPPED wov;   /* wov.hEvent (manual reset) is the write handle */
  int wpending;     /* an overlapped write of wbuf[0, wlen) is in flight */
  unsigned char *wbuf;
  size_t wlen;
  int werr;         /* sticky write error */
} npipe_transport;

static const tether_transport_vtable npipe_vtable;

static int is_eof_error(DWORD e) {
  return e == ERROR_BROKEN_PIPE || e == ERROR_PIPE_NOT_CONNECTED || e == ERROR_HANDLE_EOF ||
         e == ERROR_NO_DATA;
}

/* ---- reading ---- */

static void read_failed(npipe_transport *p, DWORD e) {
  p->rpending = 0;
  if (is_eof_error(e)) p->reof = 1;
  else p->rerr = tether__win_error(e);
  SetEvent(p->rov.hEvent); /* ready: the next read reports it */
}

/* Collects the result of the read in flight (blocking if `wait`).
 * TETHER_EAGAIN while it is still pending. */
static int read_collect(npipe_transport *p, BOOL wait) {
  DWORD n = 0;
  if (!GetOverlappedResult(p->h, &p->rov, &n, wait)) {
    DWORD e = GetLastError();
    if (e == ERROR_IO_INCOMPLETE) return TETHER_EAGAIN;
    if (e == ERROR_OPERATION_ABORTED && n == 0) {
      /* The thread that started the read exited (only free cancels on
       * purpose): nothing was read; the caller starts a new one. */
      p->rpending = 0;
      p->roff = p->rlen = 0;
      return 0;
    }
    if (e != ERROR_MORE_DATA && e != ERROR_OPERATION_ABORTED) {
      /* MORE_DATA: a message-mode peer; the bytes are good. */
      read_failed(p, e);
      return 0;
    }
  }
  p->rpending = 0;
  p->roff = 0;
  p->rlen = n;
  SetEvent(p->rov.hEvent);
  return 0;
}

/* Starts the next overlapped read; the buffer must be empty. A read that
 * completes at once fills the buffer. A zero-byte completion (a peer's
 * empty write) carries nothing and is simply re-issued. */
static void read_start(npipe_transport *p) {
  while (!p->rpending && p->rlen == p->roff && !p->reof && !p->rerr) {
    p->roff = p->rlen = 0;
    ResetEvent(p->rov.hEvent);
    if (ReadFile(p->h, p->rbuf, TETHER__WIN_CHUNK, NULL, &p->rov)) {
      read_collect(p, FALSE);
      continue;
    }
    DWORD e = GetLastError();
    if (e == ERROR_IO_PENDING) {
      p->rpending = 1;
    } else if (e == ERROR_MORE_DATA) {
      read_collect(p, FALSE);
    } else {
      read_failed(p, e);
    }
  }
}

static long npipe_read(tether_transport *t, void *buf, size_t len) {
  npipe_transport *p = (npipe_transport *)t;
  for (;;) {
    if (p->rlen > p->roff) {
      size_t n = p->rlen - p->roff;
      if (n > len) n = len;
      if (n > (size_t)LONG_MAX) n = (size_t)LONG_MAX;
      memcpy(buf, p->rbuf + p->roff, n);
      p->roff += n;
      if (p->roff == p->rlen) read_start(p); /* keep one read in flight */
      return (long)n;
    }
    if (p->rerr) return p->rerr;
    if (p->reof) return 0;
    if (p->rpending) {
      if (read_collect(p, !p->nonblocking) == TETHER_EAGAIN) return TETHER_EAGAIN;
      if (p->rlen == p->roff) read_start(p); /* an empty completion */
      continue;
    }
    read_start(p);
  }
}

/* ---- writing ---- */

static int write_failed(npipe_transport *p, DWORD e) {
  p->wpending = 0;
  p->wlen = 0;
  p->werr = tether__win_error(e);
  if (p->werr == TETHER_EIO && is_eof_error(e)) p->werr = TETHER_ECLOSED;
  SetEvent(p->wov.hEvent);
  return p->werr;
}

static int write_issue(npipe_transport *p);

/* Collects the write in flight (blocking if `wait`): 0 when it is done,
 * TETHER_EAGAIN while pending, or the error it ended with. */
static int write_collect(npipe_transport *p, BOOL wait) {
  DWORD n = 0;
  if (!GetOverlappedResult(p->h, &p->wov, &n, wait)) {
    DWORD e = GetLastError();
    if (e == ERROR_IO_INCOMPLETE) return TETHER_EAGAIN;
    /* Aborted because the thread that issued it exited: what was not
     * written yet is issued again, below. */
    if (e != ERROR_OPERATION_ABORTED) return write_failed(p, e);
  }
  p->wpending = 0;
  if (n < p->wlen) {
    /* Byte-mode pipes complete whole writes; if one ever comes back short,
     * the rest still goes out, in order. */
    memmove(p->wbuf, p->wbuf + n, p->wlen - n);
    p->wlen -= n;
    return write_issue(p);
  }
  p->wlen = 0;
  return 0;
}

static int write_issue(npipe_transport *p) {
  ResetEvent(p->wov.hEvent);
  if (WriteFile(p->h, p->wbuf, (DWORD)p->wlen, NULL, &p->wov)) return write_collect(p, FALSE);
  DWORD e = GetLastError();
  if (e != ERROR_IO_PENDING) return write_failed(p, e);
  p->wpending = 1;
  return 0;
}

static long npipe_write(tether_transport *t, const void *buf, size_t len) {
  npipe_transport *p = (npipe_transport *)t;
  int rc;
  if (p->werr) return p->werr;
  while (p->wpending) {
    rc = write_collect(p, !p->nonblocking);
    if (rc < 0) return rc; /* TETHER_EAGAIN, or the earlier write failed */
  }
  size_t total = len < TETHER__WIN_CHUNK ? len : TETHER__WIN_CHUNK;
  if (total == 0) return 0;
  memcpy(p->wbuf, buf, total);
  p->wlen = total;
  rc = write_issue(p);
  if (rc < 0) return rc; /* nothing of this call was written */
  /* Blocking mode: the bytes are in the pipe when write returns. A failure
   * here still reports the bytes as taken; the next write fails. */
  while (!p->nonblocking && p->wpending)
    if (write_collect(p, TRUE) < 0) break;
  return (long)total;
}

/* ---- the rest of the vtable ---- */

static tether_os_handle npipe_read_handle(tether_transport *t) {
  return ((npipe_transport *)t)->rov.hEvent;
}

static tether_os_handle npipe_write_handle(tether_transport *t) {
  return ((npipe_transport *)t)->wov.hEvent;
}

static int npipe_shutdown_write(tether_transport *t) {
  (void)t;
  return TETHER_EUNSUPPORTED; /* a pipe handle closes both ways at once */
}

static int npipe_set_nonblocking(tether_transport *t, int on) {
  ((npipe_transport *)t)->nonblocking = on != 0;
  return 0;
}

/* Waits for (or cancels) an operation in flight, so the kernel no longer
 * writes into our buffers once they are freed. */
static void settle(HANDLE h, OVERLAPPED *ov, DWORD grace_ms) {
  if (WaitForSingleObject(ov->hEvent, grace_ms) != WAIT_OBJECT_0) CancelIoEx(h, ov);
  DWORD n;
  GetOverlappedResult(h, ov, &n, TRUE);
}

static void npipe_free(tether_transport *t) {
  npipe_transport *p = (npipe_transport *)t;
  if (p->h) {
    if (p->wpending) settle(p->h, &p->wov, TETHER__WIN_CLOSE_GRACE_MS);
    if (p->rpending) settle(p->h, &p->rov, 0);
    CloseHandle(p->h);
  }
  if (p->rov.hEvent) CloseHandle(p->rov.hEvent);
  if (p->wov.hEvent) CloseHandle(p->wov.hEvent);
  free(p->rbuf);
  free(p->wbuf);
  free(p);
}

static const tether_transport_vtable npipe_vtable = {
  .name = "npipe",
  .read = npipe_read,
  .write = npipe_write,
  .read_handle = npipe_read_handle,
  .write_handle = npipe_write_handle,
  .shutdown_write = npipe_shutdown_write,
  .set_nonblocking = npipe_set_nonblocking,
  .free = npipe_free,
  .ready = NULL,
};

int tether__npipe_wrap(HANDLE h, tether_transport **out) {
  *out = NULL;
  npipe_transport *p = calloc(1, sizeof *p);
  if (!p) {
    CloseHandle(h);
    return TETHER_ENOMEM;
  }
  p->base.vt = &npipe_vtable;
  p->h = h;
  /* Like CLOEXEC on POSIX: a child started later never inherits it. */
  SetHandleInformation(h, HANDLE_FLAG_INHERIT, 0);
  p->rbuf = malloc(TETHER__WIN_CHUNK);
  p->wbuf = malloc(TETHER__WIN_CHUNK);
  p->rov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
  p->wov.hEvent = CreateEventW(NULL, TRUE, TRUE, NULL); /* nothing in flight: writable */
  if (!p->rbuf || !p->wbuf) {
    npipe_free(&p->base);
    return TETHER_ENOMEM;
  }
  if (!p->rov.hEvent || !p->wov.hEvent) {
    npipe_free(&p->base);
    return TETHER_EOS;
  }
  read_start(p); /* from now on the read event tells the truth */
  *out = &p->base;
  return 0;
}

/* ---- names and the client side ---- */

int tether__npipe_wide_name(const char *name, wchar_t *out) {
  static const char prefix[] = "\\\\.\\pipe\\";
  size_t plen = sizeof prefix - 1;
  if (!name || _strnicmp(name, prefix, plen) != 0 || name[plen] == '\0')
    return TETHER_EADDRESS;
  int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, name, -1, out,
                              TETHER__NPIPE_NAME_MAX + 1);
  if (n <= 0) return TETHER_EADDRESS; /* not UTF-8, or too long */
  return 0;
}

int tether_transport_npipe_connect(const char *name, int timeout_ms, tether_transport **out) {
  wchar_t wname[TETHER__NPIPE_NAME_MAX + 1];
  *out = NULL;
  int rc = tether__npipe_wide_name(name, wname);
  if (rc < 0) return rc;
  int64_t deadline = tether__deadline(timeout_ms);
  for (;;) {
    /* SECURITY_IDENTIFICATION: whoever owns the name may learn who we are
     * but can never act as us. */
    HANDLE h = CreateFileW(wname, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                           FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT |
                               SECURITY_IDENTIFICATION,
                           NULL);
    if (h != INVALID_HANDLE_VALUE) return tether__npipe_wrap(h, out);
    DWORD e = GetLastError();
    if (e == ERROR_ACCESS_DENIED || e == ERROR_INVALID_NAME || e == ERROR_BAD_PATHNAME ||
        e == ERROR_BAD_NETPATH)
      return TETHER_EADDRESS;
    if (e != ERROR_FILE_NOT_FOUND && e != ERROR_PIPE_BUSY) return tether__win_error(e);
    int left = tether__remaining_ms(deadline);
    if (left == 0) return TETHER_ETIMEDOUT;
    int step = left < 0 || left > CONNECT_RETRY_MS ? CONNECT_RETRY_MS : left;
    /* Every instance busy: wait for one to listen. A missing pipe (or a
     * WaitNamedPipe that returns at once, as Wine's does for a missing
     * name) is polled. */
    if (e != ERROR_PIPE_BUSY || !WaitNamedPipeW(wname, left < 0 ? NMPWAIT_WAIT_FOREVER
                                                                : (DWORD)left))
      tether__sleep_ms(step);
  }
}
