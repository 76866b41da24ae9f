/* ConPTY terminal sessions (conpty/pty.h, pty_win.h).
 *
 * A pseudoconsole (CreatePseudoConsole) with two anonymous pipes: the
 * runner writes input into one and reads the console's rendered output
 * (UTF-8 text with VT sequences) from the other. Anonymous pipes have no
 * overlapped I/O, so two threads do the blocking calls:
 *
 *   - the drain thread reads output into a 64 KiB buffer. While the buffer
 *     is full it stops reading (the console, and then the child, block:
 *     flow control works as for pipes). Once the session is being freed it
 *     reads and discards, so the console can always write.
 *   - the writer thread writes queued input (64 KiB at most).
 *
 * Close order (tether__pty_hangup, then tether__pty_free): stop input (the
 * writer thread ends, the input pipe is closed); switch the drain to discarding; ClosePseudoConsole
 * on a thread of its own (it can wait for the console to flush its last
 * output, which only a drained pipe lets it do: calling it on a thread that
 * also drains would deadlock); wait for the drain thread to see the end of
 * the output pipe (the console has exited), then for the closer thread.
 * Each wait is bounded (CLOSE_WAIT_MS); a console that never exits leaks
 * its thread and this struct rather than risk a use after free. If the
 * output pipe has not ended EOF_GRACE_MS after ClosePseudoConsole
 * returned, the output counts as over (Wine's console sometimes stays).
 *
 * The end of a session's output: ConPTY keeps the output pipe open for as
 * long as the pseudoconsole exists, whoever is attached, so the runner
 * calls tether__pty_hangup when the child exits; the drain keeps
 * delivering (flow control still applies) until the console is gone.
 * Everything shared between the threads is guarded by one lock. */
#ifndef WIN32_LEAN_AND_MEAN
#  define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "conpty/pty_win.h"

#define OUT_CAP (64u << 10)
#define IN_CAP (64u << 10)
#define IO_CHUNK (16u << 10)
#define CLOSE_WAIT_MS 5000
#define EOF_GRACE_MS 1000

struct tether__pty {
  HPCON hpc;
  HANDLE in_w, out_r;        /* ours */
  HANDLE in_r, out_w;        /* the console's ends, until close_child_end */
  CRITICAL_SECTION lock;
  HANDLE wake;               /* borrowed */
  /* output (drain thread) */
  HANDLE drain;
  HANDLE room_ev;            /* auto-reset: room in out_buf, or discarding */
  uint8_t out_buf[OUT_CAP];
  size_t out_len;
  bool out_eof;
  bool discard;
  /* input (writer thread) */
  HANDLE writer;
  HANDLE in_ev;              /* auto-reset: input queued, or stop */
  uint8_t in_buf[IN_CAP];
  size_t in_len;
  bool in_stop, in_broken;
  /* closing */
  HANDLE closer;             /* ClosePseudoConsole thread */
  bool hung;
  bool eof_forced;           /* the console stayed after ClosePseudoConsole */
};

static void notify(tether__pty *p) {
  if (p->wake) SetEvent(p->wake);
}

static DWORD WINAPI drain_main(LPVOID arg) {
  tether__pty *p = arg;
  static uint8_t sink[IO_CHUNK]; /* discarded bytes only: never read */
  uint8_t tmp[IO_CHUNK];
  for (;;) {
    EnterCriticalSection(&p->lock);
    while (!p->discard && p->out_len >= OUT_CAP) {
      LeaveCriticalSection(&p->lock);
      WaitForSingleObject(p->room_ev, INFINITE);
      EnterCriticalSection(&p->lock);
    }
    bool discard = p->discard;
    size_t room = discard ? IO_CHUNK : OUT_CAP - p->out_len;
    if (room > IO_CHUNK) room = IO_CHUNK;
    LeaveCriticalSection(&p->lock);

    DWORD n = 0;
    BOOL ok = ReadFile(p->out_r, discard ? sink : tmp, (DWORD)room, &n, NULL);
    EnterCriticalSection(&p->lock);
    if (!ok) {
      p->out_eof = true; /* ERROR_BROKEN_PIPE: the console is gone */
      notify(p);
      LeaveCriticalSection(&p->lock);
      return 0;
    }
    if (n > 0 && !p->discard && !discard) {
      memcpy(p->out_buf + p->out_len, tmp, n);
      p->out_len += n;
      notify(p);
    }
    LeaveCriticalSection(&p->lock);
  }
}

static DWORD WINAPI writer_main(LPVOID arg) {
  tether__pty *p = arg;
  uint8_t tmp[IO_CHUNK];
  for (;;) {
    EnterCriticalSection(&p->lock);
    while (p->in_len == 0 && !p->in_stop) {
      LeaveCriticalSection(&p->lock);
      WaitForSingleObject(p->in_ev, INFINITE);
      EnterCriticalSection(&p->lock);
    }
    if (p->in_stop) {
      LeaveCriticalSection(&p->lock);
      return 0;
    }
    size_t n = p->in_len < IO_CHUNK ? p->in_len : IO_CHUNK;
    memcpy(tmp, p->in_buf, n);
    LeaveCriticalSection(&p->lock);

    DWORD w = 0;
    BOOL ok = WriteFile(p->in_w, tmp, (DWORD)n, &w, NULL);
    EnterCriticalSection(&p->lock);
    if (!ok) {
      p->in_broken = true;
      p->in_len = 0;
      notify(p);
      LeaveCriticalSection(&p->lock);
      return 0;
    }
    if (w > p->in_len) w = (DWORD)p->in_len;
    memmove(p->in_buf, p->in_buf + w, p->in_len - w);
    p->in_len -= w;
    notify(p);
    LeaveCriticalSection(&p->lock);
  }
}

/* ClosePseudoConsole, then up to EOF_GRACE_MS for the console to exit and
 * the output pipe to end. Wine 8's console does not always exit (seen
 * after input was typed into it): then the output is declared over, so the
 * session can end; the drain thread is cancelled when the pty is freed. */
static DWORD WINAPI closer_main(LPVOID arg) {
  tether__pty *p = arg;
  ClosePseudoConsole(p->hpc);
  if (WaitForSingleObject(p->drain, EOF_GRACE_MS) == WAIT_TIMEOUT) {
    EnterCriticalSection(&p->lock);
    p->out_eof = true;
    p->eof_forced = true;
    notify(p);
    LeaveCriticalSection(&p->lock);
  }
  return 0;
}

static void close_h(HANDLE *h) {
  if (*h) CloseHandle(*h);
  *h = NULL;
}

int tether__pty_open(unsigned rows, unsigned cols, tether__pty **out, int *os_error) {
  *out = NULL;
  *os_error = 0;
  if (rows < 1 || cols < 1 || rows > TETHER__PTY_MAX_DIM || cols > TETHER__PTY_MAX_DIM)
    return TETHER_EINVAL;
  tether__pty *p = calloc(1, sizeof *p);
  if (!p) return TETHER_ENOMEM;
  InitializeCriticalSection(&p->lock);
  int rc = TETHER_EOS;
  if (!CreatePipe(&p->in_r, &p->in_w, NULL, 0) || !CreatePipe(&p->out_r, &p->out_w, NULL, 0)) {
    *os_error = (int)GetLastError();
    goto fail;
  }
  COORD size = { (SHORT)cols, (SHORT)rows };
  HRESULT hr = CreatePseudoConsole(size, p->in_r, p->out_w, 0, &p->hpc);
  if (FAILED(hr)) {
    p->hpc = NULL;
    *os_error = (int)hr;
    goto fail;
  }
  p->room_ev = CreateEventW(NULL, FALSE, FALSE, NULL);
  p->in_ev = CreateEventW(NULL, FALSE, FALSE, NULL);
  if (!p->room_ev || !p->in_ev) {
    *os_error = (int)GetLastError();
    goto fail;
  }
  p->drain = CreateThread(NULL, 64u << 10, drain_main, p, 0, NULL);
  if (!p->drain) {
    *os_error = (int)GetLastError();
    goto fail;
  }
  p->writer = CreateThread(NULL, 64u << 10, writer_main, p, 0, NULL);
  if (!p->writer) {
    *os_error = (int)GetLastError();
    goto fail; /* tether__pty_free stops the drain thread */
  }
  *out = p;
  return 0;
fail:
  if (p->drain || p->hpc) {
    tether__pty_free(p);
    return rc;
  }
  close_h(&p->in_r);
  close_h(&p->in_w);
  close_h(&p->out_r);
  close_h(&p->out_w);
  close_h(&p->room_ev);
  close_h(&p->in_ev);
  DeleteCriticalSection(&p->lock);
  free(p);
  return rc;
}

HPCON tether__pty_hpcon(tether__pty *p) { return p->hpc; }

void tether__pty_close_child_end(tether__pty *p) {
  if (!p) return;
  /* The console holds its own duplicates: once ours are closed, the output
   * pipe ends when the console exits. */
  close_h(&p->in_r);
  close_h(&p->out_w);
}

void tether__pty_set_wake(tether__pty *p, HANDLE wake) {
  EnterCriticalSection(&p->lock);
  p->wake = wake;
  if (p->out_len || p->out_eof || p->in_broken) notify(p);
  LeaveCriticalSection(&p->lock);
}

tether_os_handle tether__pty_output_handle(const tether__pty *p) { return p->wake; }
tether_os_handle tether__pty_input_handle(const tether__pty *p) { return p->wake; }

int tether__pty_readable(tether__pty *p) {
  EnterCriticalSection(&p->lock);
  int r = p->out_len > 0 || p->out_eof;
  LeaveCriticalSection(&p->lock);
  return r;
}

int tether__pty_writable(tether__pty *p) {
  EnterCriticalSection(&p->lock);
  int r = p->in_broken || p->in_len < IN_CAP;
  LeaveCriticalSection(&p->lock);
  return r;
}

long tether__pty_read(tether__pty *p, uint8_t *buf, size_t len) {
  long r;
  EnterCriticalSection(&p->lock);
  if (p->out_len > 0) {
    size_t n = len < p->out_len ? len : p->out_len;
    memcpy(buf, p->out_buf, n);
    memmove(p->out_buf, p->out_buf + n, p->out_len - n);
    p->out_len -= n;
    r = (long)n;
    SetEvent(p->room_ev);
  } else {
    r = p->out_eof ? 0 : TETHER_EAGAIN;
  }
  LeaveCriticalSection(&p->lock);
  return r;
}

long tether__pty_write(tether__pty *p, const uint8_t *buf, size_t len) {
  long r;
  EnterCriticalSection(&p->lock);
  if (p->in_broken || p->in_stop || p->hung) {
    r = TETHER_ECLOSED;
  } else if (p->in_len >= IN_CAP) {
    r = TETHER_EAGAIN;
  } else {
    size_t n = IN_CAP - p->in_len;
    if (n > len) n = len;
    memcpy(p->in_buf + p->in_len, buf, n);
    p->in_len += n;
    r = (long)n;
    SetEvent(p->in_ev);
  }
  LeaveCriticalSection(&p->lock);
  return r;
}

int tether__pty_resize(tether__pty *p, unsigned rows, unsigned cols) {
  if (rows < 1 || cols < 1 || rows > TETHER__PTY_MAX_DIM || cols > TETHER__PTY_MAX_DIM)
    return TETHER_EINVAL;
  if (p->hung) return 0; /* the console is closing: nobody to tell */
  COORD size = { (SHORT)cols, (SHORT)rows };
  HRESULT hr = ResizePseudoConsole(p->hpc, size);
  if (SUCCEEDED(hr)) return 0;
  /* Wine 8 answers E_NOTIMPL: reported to the parent, not ignored. */
  return hr == E_NOTIMPL ? TETHER_EUNSUPPORTED : TETHER_EOS;
}

/* Windows consoles end input with ^Z at the start of a read: in cooked
 * mode ReadFile/ReadConsole return the line with the ^Z, and the C
 * runtimes (text mode) and most console programs take ^Z as the end of
 * input. So ^Z then Enter, whatever the line holds. A program reading raw
 * console input (ReadConsoleInput) sees two key presses and decides. */
size_t tether__pty_eof_sequence(tether__pty *p, int last_byte, uint8_t out[2]) {
  (void)p;
  (void)last_byte;
  out[0] = 0x1a;
  out[1] = '\r';
  return 2;
}

/* Stops the writer thread (cancelling a WriteFile the console does not
 * take) and closes the input pipe: the first step of closing (Wine's
 * console does not exit while its input pipe is open). */
static void stop_input(tether__pty *p) {
  EnterCriticalSection(&p->lock);
  p->in_stop = true;
  p->in_len = 0;
  LeaveCriticalSection(&p->lock);
  if (p->in_ev) SetEvent(p->in_ev);
  if (p->writer && WaitForSingleObject(p->writer, 200) == WAIT_TIMEOUT) {
    CancelSynchronousIo(p->writer);
    WaitForSingleObject(p->writer, CLOSE_WAIT_MS);
  }
  close_h(&p->in_w);
}

void tether__pty_hangup(tether__pty *p) {
  if (!p || p->hung) return;
  p->hung = true;
  stop_input(p);
  p->closer = CreateThread(NULL, 64u << 10, closer_main, p, 0, NULL);
  if (!p->closer) ClosePseudoConsole(p->hpc); /* no thread: the drain still runs */
}

void tether__pty_free(tether__pty *p) {
  if (!p) return;
  /* 1. Input: stop the writer, close the input pipe. */
  stop_input(p);
  /* 2. Output: from now on read and discard. */
  EnterCriticalSection(&p->lock);
  p->discard = true;
  LeaveCriticalSection(&p->lock);
  if (p->room_ev) SetEvent(p->room_ev);
  /* 3. Close the console on its own thread while the drain runs. */
  tether__pty_close_child_end(p);
  if (p->hpc) tether__pty_hangup(p);
  /* 4. Wait for the end of the output, then for the closer. */
  bool drained = true;
  if (p->closer) WaitForSingleObject(p->closer, CLOSE_WAIT_MS);
  if (p->drain && WaitForSingleObject(p->drain, p->eof_forced ? 0 : CLOSE_WAIT_MS) == WAIT_TIMEOUT) {
    CancelSynchronousIo(p->drain);
    drained = WaitForSingleObject(p->drain, 1000) != WAIT_TIMEOUT;
  }
  bool closed = !p->closer || WaitForSingleObject(p->closer, CLOSE_WAIT_MS) != WAIT_TIMEOUT;
  if (!drained || !closed) return; /* a console that does not exit: leak, never free in use */
  close_h(&p->drain);
  close_h(&p->writer);
  close_h(&p->closer);
  close_h(&p->out_r);
  close_h(&p->room_ev);
  close_h(&p->in_ev);
  DeleteCriticalSection(&p->lock);
  free(p);
}
