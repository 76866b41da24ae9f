/* The handle transport: two pipe handles (typically inherited anonymous
 * pipes from CreatePipe), one for each direction.
 *
 * Anonymous pipes cannot do overlapped I/O and have no readiness event, so
 * each direction gets a small thread doing the blocking calls, and the
 * transport turns them into POSIX-style non-blocking reads and writes:
 *
 * - the reader thread reads one chunk into the transport's buffer, signals
 *   the read event, and waits until the buffer is drained before reading
 *   again (so it never buffers more than one chunk);
 * - write() copies into a bounded queue (one chunk) and returns how much it
 *   took (TETHER_EAGAIN when full: the write event is reset until the
 *   writer thread has taken the queue); the writer thread writes it out.
 *
 * The threads issue their calls with an OVERLAPPED (and wait for it), so a
 * handle opened for overlapped I/O works as well as a synchronous one. A
 * blocked call is ended with CancelSynchronousIo / CancelIoEx when the
 * transport is freed. Where that does not work (Wine cannot cancel a read
 * on a pipe that came from a Unix fd, such as a runner's --stdio), free()
 * gives up after STOP_WAIT_MS and leaves the thread behind: the threads
 * and the transport share the state by reference count, so the last one
 * out frees it, and free() never hangs. shutdown_write closes the write
 * handle once the queue is written, so the peer reads end of stream (a
 * real half-close). */
#include "transport_win.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* How long free() keeps cancelling a thread's blocked call before it
 * leaves the thread behind. */
#define STOP_WAIT_MS 250

typedef struct handle_transport {
  tether_transport base;
  volatile LONG refs; /* the transport and each running thread */
  HANDLE rh, wh;      /* wh: NULL once shutdown_write closed it */
  int same;           /* rh == wh */
  int nonblocking;
  CRITICAL_SECTION mu;
  int stopping;       /* free: the threads end */

  HANDLE rthread;
  HANDLE rready;      /* manual: bytes, end of stream or an error to report */
  HANDLE rspace;      /* auto: the buffer was drained (or stopping) */
  OVERLAPPED rov;
  unsigned char *rbuf;
  size_t roff, rlen;
  int reof, rerr;

  HANDLE wthread;
  HANDLE wready;      /* manual: the queue has room (or write() will fail) */
  HANDLE wwork;       /* auto: bytes queued, shutdown asked, or stopping */
  HANDLE widle;       /* manual: queue empty and nothing being written */
  OVERLAPPED wov;
  unsigned char *wq;  /* queue: wq[0, wlen) */
  size_t wlen;
  unsigned char *wcur; /* what the writer thread is writing now */
  int werr;
  int wshut;          /* shutdown_write asked */
} handle_transport;

static const tether_transport_vtable handle_vtable;

/* One blocking transfer on either kind of handle. */
static int transfer(HANDLE h, OVERLAPPED *ov, int write, void *buf, DWORD len, DWORD *done) {
  BOOL ok;
  *done = 0;
  ResetEvent(ov->hEvent);
  ok = write ? WriteFile(h, buf, len, NULL, ov) : ReadFile(h, buf, len, NULL, ov);
  if (!ok && GetLastError() != ERROR_IO_PENDING) return 0;
  return GetOverlappedResult(h, ov, done, TRUE) ? 1 : 0;
}

static DWORD reader_main(void *arg) {
  handle_transport *t = arg;
  int is_pipe = GetFileType(t->rh) == FILE_TYPE_PIPE;
  for (;;) {
    EnterCriticalSection(&t->mu);
    while (t->rlen > t->roff && !t->stopping) {
      LeaveCriticalSection(&t->mu);
      WaitForSingleObject(t->rspace, INFINITE);
      EnterCriticalSection(&t->mu);
    }
    int stop = t->stopping;
    LeaveCriticalSection(&t->mu);
    if (stop) return 0;

    /* The buffer is empty, and read() does not touch it while it is. */
    DWORD n = 0;
    int ok = transfer(t->rh, &t->rov, 0, t->rbuf, TETHER__WIN_CHUNK, &n);
    DWORD e = ok ? 0 : GetLastError();
    if (ok && n == 0 && is_pipe) continue; /* a peer's empty write */

    EnterCriticalSection(&t->mu);
    if (t->stopping) {
      LeaveCriticalSection(&t->mu);
      return 0;
    }
    if (ok && n > 0) {
      t->roff = 0;
      t->rlen = n;
    } else if (ok || e == ERROR_BROKEN_PIPE || e == ERROR_HANDLE_EOF ||
               e == ERROR_PIPE_NOT_CONNECTED || e == ERROR_NO_DATA) {
      t->reof = 1;
    } else {
      t->rerr = tether__win_error(e);
    }
    int done = t->reof || t->rerr;
    SetEvent(t->rready);
    LeaveCriticalSection(&t->mu);
    if (done) return 0;
  }
}

static void destroy(handle_transport *t) {
  if (t->wh && !t->same) CloseHandle(t->wh);
  if (t->rh) CloseHandle(t->rh);
  HANDLE evs[] = { t->rready, t->rspace, t->rov.hEvent, t->wready, t->wwork, t->widle,
                   t->wov.hEvent };
  for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
    if (evs[i]) CloseHandle(evs[i]);
  DeleteCriticalSection(&t->mu);
  free(t->rbuf);
  free(t->wq);
  free(t->wcur);
  free(t);
}

static void release(handle_transport *t) {
  if (InterlockedDecrement(&t->refs) == 0) destroy(t);
}

static DWORD WINAPI reader_thread(void *arg) {
  reader_main(arg);
  release(arg);
  return 0;
}

static DWORD writer_main(void *arg) {
  handle_transport *t = arg;
  for (;;) {
    EnterCriticalSection(&t->mu);
    while (t->wlen == 0 && !t->wshut && !t->stopping) {
      SetEvent(t->widle);
      LeaveCriticalSection(&t->mu);
      WaitForSingleObject(t->wwork, INFINITE);
      EnterCriticalSection(&t->mu);
    }
    if (t->stopping) {
      LeaveCriticalSection(&t->mu);
      return 0;
    }
    if (t->wlen == 0) { /* shutdown asked and everything is written */
      CloseHandle(t->wh);
      t->wh = NULL;
      SetEvent(t->widle);
      LeaveCriticalSection(&t->mu);
      return 0;
    }
    size_t len = t->wlen;
    memcpy(t->wcur, t->wq, len);
    t->wlen = 0;
    SetEvent(t->wready);
    LeaveCriticalSection(&t->mu);

    size_t off = 0;
    DWORD e = 0;
    while (off < len) {
      DWORD n = 0;
      if (!transfer(t->wh, &t->wov, 1, t->wcur + off, (DWORD)(len - off), &n)) {
        e = GetLastError();
        break;
      }
      off += n;
    }
    if (e) {
      EnterCriticalSection(&t->mu);
      if (!t->stopping) t->werr = tether__win_error(e);
      t->wlen = 0;
      SetEvent(t->wready);
      SetEvent(t->widle);
      LeaveCriticalSection(&t->mu);
      return 0;
    }
  }
}

static DWORD WINAPI writer_thread(void *arg) {
  writer_main(arg);
  release(arg);
  return 0;
}

static long handle_read(tether_transport *tr, void *buf, size_t len) {
  handle_transport *t = (handle_transport *)tr;
  for (;;) {
    EnterCriticalSection(&t->mu);
    if (t->rlen > t->roff) {
      size_t n = t->rlen - t->roff;
      if (n > len) n = len;
      if (n > (size_t)LONG_MAX) n = (size_t)LONG_MAX;
      memcpy(buf, t->rbuf + t->roff, n);
      t->roff += n;
      if (t->roff == t->rlen) {
        t->roff = t->rlen = 0;
        ResetEvent(t->rready);
        SetEvent(t->rspace);
      }
      LeaveCriticalSection(&t->mu);
      return (long)n;
    }
    long rc = t->rerr ? t->rerr : t->reof ? 0 : TETHER_EAGAIN;
    LeaveCriticalSection(&t->mu);
    if (rc != TETHER_EAGAIN || t->nonblocking) return rc;
    WaitForSingleObject(t->rready, INFINITE);
  }
}

static long handle_write(tether_transport *tr, const void *buf, size_t len) {
  handle_transport *t = (handle_transport *)tr;
  for (;;) {
    EnterCriticalSection(&t->mu);
    long rc = t->werr ? t->werr : t->wshut ? TETHER_ECLOSED : 0;
    if (rc == 0) {
      size_t k = len;
      if (k > TETHER__WIN_CHUNK - t->wlen) k = TETHER__WIN_CHUNK - t->wlen;
      memcpy(t->wq + t->wlen, buf, k);
      t->wlen += k;
      if (k > 0) {
        ResetEvent(t->widle);
        if (t->wlen == TETHER__WIN_CHUNK) ResetEvent(t->wready);
        SetEvent(t->wwork);
        rc = (long)k;
      } else if (len > 0) {
        rc = TETHER_EAGAIN; /* the queue is full */
      }
    }
    LeaveCriticalSection(&t->mu);
    if (rc != TETHER_EAGAIN || t->nonblocking) return rc;
    WaitForSingleObject(t->wready, INFINITE);
  }
}

static tether_os_handle handle_read_handle(tether_transport *tr) {
  return ((handle_transport *)tr)->rready;
}

static tether_os_handle handle_write_handle(tether_transport *tr) {
  return ((handle_transport *)tr)->wready;
}

static int handle_shutdown_write(tether_transport *tr) {
  handle_transport *t = (handle_transport *)tr;
  /* One handle for both directions: closing it would end reading too. */
  if (t->same) return TETHER_EUNSUPPORTED;
  EnterCriticalSection(&t->mu);
  t->wshut = 1;
  SetEvent(t->wwork);
  LeaveCriticalSection(&t->mu);
  return 0;
}

static int handle_set_nonblocking(tether_transport *tr, int on) {
  ((handle_transport *)tr)->nonblocking = on != 0;
  return 0;
}

/* Ends a thread that may sit in a blocking ReadFile/WriteFile: cancel its
 * call until it notices `stopping` (a cancel that lands before the call
 * starts is lost, hence the loop), for at most STOP_WAIT_MS. True if the
 * thread ended; otherwise it is left behind with its reference. */
static bool stop_thread(HANDLE thread, HANDLE h, OVERLAPPED *ov) {
  if (!thread) return true;
  bool ended = false;
  for (int waited = 0; !ended && waited < STOP_WAIT_MS; waited += 10) {
    ended = WaitForSingleObject(thread, 10) != WAIT_TIMEOUT;
    if (!ended) {
      CancelSynchronousIo(thread);
      if (h) CancelIoEx(h, ov);
    }
  }
  CloseHandle(thread);
  return ended;
}

static void handle_free(tether_transport *tr) {
  handle_transport *t = (handle_transport *)tr;
  /* Bytes write() accepted get a grace period to leave, as bytes in a
   * POSIX pipe outlive close(). */
  if (t->wthread && t->widle) WaitForSingleObject(t->widle, TETHER__WIN_CLOSE_GRACE_MS);
  EnterCriticalSection(&t->mu);
  t->stopping = 1;
  LeaveCriticalSection(&t->mu);
  if (t->wwork) SetEvent(t->wwork);
  if (t->rspace) SetEvent(t->rspace);
  /* The peer reads end of stream now, even if a thread is left behind. */
  if (stop_thread(t->wthread, t->wh, &t->wov) && t->wh && !t->same) {
    CloseHandle(t->wh);
    t->wh = NULL;
  }
  (void)stop_thread(t->rthread, t->rh, &t->rov);
  release(t);
}

static const tether_transport_vtable handle_vtable = {
  .name = "handle",
  .read = handle_read,
  .write = handle_write,
  .read_handle = handle_read_handle,
  .write_handle = handle_write_handle,
  .shutdown_write = handle_shutdown_write,
  .set_nonblocking = handle_set_nonblocking,
  .free = handle_free,
  .ready = NULL,
};

static HANDLE event(BOOL manual, BOOL set) { return CreateEventW(NULL, manual, set, NULL); }

int tether_transport_handle_new(void *read_handle, void *write_handle, tether_transport **out) {
  HANDLE rh = read_handle, wh = write_handle;
  *out = NULL;
  if (!rh || rh == INVALID_HANDLE_VALUE || !wh || wh == INVALID_HANDLE_VALUE) {
    if (rh && rh != INVALID_HANDLE_VALUE) CloseHandle(rh);
    if (wh && wh != INVALID_HANDLE_VALUE && wh != rh) CloseHandle(wh);
    return TETHER_EINVAL;
  }
  handle_transport *t = calloc(1, sizeof *t);
  if (!t) {
    CloseHandle(rh);
    if (wh != rh) CloseHandle(wh);
    return TETHER_ENOMEM;
  }
  t->base.vt = &handle_vtable;
  t->refs = 1;
  t->rh = rh;
  t->wh = wh;
  t->same = rh == wh;
  InitializeCriticalSection(&t->mu);
  /* Like CLOEXEC on POSIX: children started later never inherit them. */
  SetHandleInformation(rh, HANDLE_FLAG_INHERIT, 0);
  SetHandleInformation(wh, HANDLE_FLAG_INHERIT, 0);
  int rc = TETHER_ENOMEM;
  t->rbuf = malloc(TETHER__WIN_CHUNK);
  t->wq = malloc(TETHER__WIN_CHUNK);
  t->wcur = malloc(TETHER__WIN_CHUNK);
  if (!t->rbuf || !t->wq || !t->wcur) goto fail;
  rc = TETHER_EOS;
  t->rready = event(TRUE, FALSE);
  t->rspace = event(FALSE, FALSE);
  t->rov.hEvent = event(TRUE, FALSE);
  t->wready = event(TRUE, TRUE);
  t->wwork = event(FALSE, FALSE);
  t->widle = event(TRUE, TRUE);
  t->wov.hEvent = event(TRUE, FALSE);
  if (!t->rready || !t->rspace || !t->rov.hEvent || !t->wready || !t->wwork || !t->widle ||
      !t->wov.hEvent)
    goto fail;
  InterlockedIncrement(&t->refs);
  t->rthread = CreateThread(NULL, 64 << 10, reader_thread, t, STACK_SIZE_PARAM_IS_A_RESERVATION,
                            NULL);
  if (!t->rthread) {
    InterlockedDecrement(&t->refs);
    goto fail;
  }
  InterlockedIncrement(&t->refs);
  t->wthread = CreateThread(NULL, 64 << 10, writer_thread, t, STACK_SIZE_PARAM_IS_A_RESERVATION,
                            NULL);
  if (!t->wthread) {
    InterlockedDecrement(&t->refs);
    goto fail;
  }
  *out = &t->base;
  return 0;
fail:
  handle_free(&t->base);
  return rc;
}

int tether_transport_handle_pipe_pair(tether_transport **a, tether_transport **b) {
  HANDLE ab_r, ab_w, ba_r, ba_w;
  *a = *b = NULL;
  if (!CreatePipe(&ab_r, &ab_w, NULL, 0)) return tether__win_error(GetLastError());
  if (!CreatePipe(&ba_r, &ba_w, NULL, 0)) {
    DWORD e = GetLastError();
    CloseHandle(ab_r);
    CloseHandle(ab_w);
    return tether__win_error(e);
  }
  /* a writes ab_w -> b reads ab_r; b writes ba_w -> a reads ba_r. */
  int rc = tether_transport_handle_new(ba_r, ab_w, a);
  if (rc < 0) {
    CloseHandle(ab_r);
    CloseHandle(ba_w);
    return rc;
  }
  rc = tether_transport_handle_new(ab_r, ba_w, b);
  if (rc < 0) {
    tether_transport_free(*a);
    *a = NULL;
  }
  return rc;
}
