/* One session's process, pipes or pseudoconsole on Windows, and exit
 * notification. See proc_win.h for the design.
 *
 * The shared session struct keeps POSIX-shaped fields: out[i].fd and
 * stdin_fd are only markers here (>= 0 while the stream is open); the
 * handles and their overlapped state live in tether__proc.pipe[]. */
#ifndef WIN32_LEAN_AND_MEAN
#  define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <psapi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conpty/pty_win.h"
#include "runner_internal.h"

#define PIPE_CHUNK (64u << 10)
/* How long tearing down waits for a cancelled operation's completion
 * routine. */
#define CANCEL_WAIT_MS 5000

struct tether__wpipe {
  OVERLAPPED ov;      /* first: the completion routine gets &ov */
  HANDLE h;
  bool reader;        /* stdout/stderr (true) or stdin (false) */
  bool pending;       /* a ReadFileEx/WriteFileEx is in flight */
  bool eof;           /* reader: end of file (or an error) seen */
  bool broken;        /* writer: the child closed its end */
  bool close_when_done; /* writer: close once the write in flight is done */
  DWORD err;
  uint8_t *buf;
  size_t cap;
  size_t off, len;    /* reader: unread bytes buf[off, len) */
};

/* ------------------------------------------------------------ pipes */

static VOID CALLBACK on_io_done(DWORD err, DWORD n, LPOVERLAPPED ov) {
  tether__wpipe *w = (tether__wpipe *)ov; /* ov is the first member */
  w->pending = false;
  if (w->reader) {
    w->off = 0;
    w->len = n;
    if (err || n == 0) {
      /* ERROR_BROKEN_PIPE: every writer closed its end. A zero-byte read
       * of a byte pipe is not EOF: a child may write 0 bytes; only an
       * error ends the stream. */
      if (err) {
        w->eof = true;
        w->err = err;
      }
    }
  } else if (err) {
    w->broken = true;
    w->err = err;
  }
}

static tether__wpipe *wpipe_new(HANDLE h, bool reader) {
  tether__wpipe *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->buf = malloc(PIPE_CHUNK);
  if (!w->buf) {
    free(w);
    return NULL;
  }
  w->h = h;
  w->reader = reader;
  w->cap = PIPE_CHUNK;
  return w;
}

/* Cancels what is in flight, waits for its completion routine (an APC on
 * this thread: alertable sleeps let it run), closes and frees. */
static void wpipe_free(tether__wpipe *w) {
  if (!w) return;
  if (w->pending) {
    CancelIoEx(w->h, &w->ov);
    ULONGLONG until = GetTickCount64() + CANCEL_WAIT_MS;
    while (w->pending && GetTickCount64() < until) SleepEx(50, TRUE);
    if (w->pending) {
      /* Never completed: the kernel may still write into it. Leak. */
      CloseHandle(w->h);
      return;
    }
  }
  CloseHandle(w->h);
  free(w->buf);
  free(w);
}

/* Starts a read of up to `want` bytes. */
static void wpipe_start_read(tether__wpipe *w, size_t want) {
  if (want > w->cap) want = w->cap;
  memset(&w->ov, 0, sizeof w->ov);
  w->off = w->len = 0;
  if (ReadFileEx(w->h, w->buf, (DWORD)want, &w->ov, on_io_done)) {
    w->pending = true; /* completes through on_io_done, even when immediate */
  } else {
    w->eof = true;
    w->err = GetLastError();
  }
}

bool tether__wpipe_busy(const tether__proc *p, int i) {
  return p->pipe[i] && p->pipe[i]->pending;
}

bool tether__wpipe_ready(const tether__proc *p, int i) {
  const tether__wpipe *w = p->pipe[i];
  return w && !w->pending && (w->len > w->off || w->eof);
}

/* ------------------------------------------------------------ exit watch */

static VOID CALLBACK on_exit_cb(PVOID ctx, BOOLEAN timed_out) {
  tether__proc *p = ctx;
  (void)timed_out;
  InterlockedExchange(&p->exited, 1);
  SetEvent(p->wake);
}

int tether__exitwatch_init(tether__exitwatch *w, tether_runner_child_watch mode) {
  w->sigchld_fd = -1;
  /* pidfd/SIGCHLD do not exist here: every mode means the one mechanism
   * Windows has. */
  (void)mode;
  w->wake = CreateEventW(NULL, FALSE, FALSE, NULL);
  return w->wake ? 0 : TETHER_EOS;
}

void tether__exitwatch_free(tether__exitwatch *w) {
  if (w->wake) CloseHandle(w->wake);
  w->wake = NULL;
}

int tether__exitwatch_add(tether__exitwatch *w, tether__proc *p) {
  p->wake = w->wake;
  HANDLE wait = NULL;
  if (!RegisterWaitForSingleObject(&wait, p->process, on_exit_cb, p, INFINITE,
                                   WT_EXECUTEONLYONCE))
    return TETHER_EOS;
  p->wait = wait;
  return 0;
}

static void collect(tether__proc *p) {
  DWORD code = 0;
  if (!GetExitCodeProcess(p->process, &code)) code = (DWORD)-1;
  p->code = code;
  /* CPU time of the whole job (the child and what it started, as far as
   * they have run), the peak working set of the child itself. */
  JOBOBJECT_BASIC_ACCOUNTING_INFORMATION acct;
  FILETIME c, e, k, u;
  if (p->job && QueryInformationJobObject(p->job, JobObjectBasicAccountingInformation, &acct,
                                          sizeof acct, NULL)) {
    p->user_us = (uint64_t)acct.TotalUserTime.QuadPart / 10u;
    p->system_us = (uint64_t)acct.TotalKernelTime.QuadPart / 10u;
  } else if (GetProcessTimes(p->process, &c, &e, &k, &u)) {
    p->user_us = (((uint64_t)u.dwHighDateTime << 32) | u.dwLowDateTime) / 10u;
    p->system_us = (((uint64_t)k.dwHighDateTime << 32) | k.dwLowDateTime) / 10u;
  }
  PROCESS_MEMORY_COUNTERS pmc;
  memset(&pmc, 0, sizeof pmc);
  if (K32GetProcessMemoryInfo(p->process, &pmc, sizeof pmc))
    p->peak_kib = (uint64_t)pmc.PeakWorkingSetSize / 1024u;
  p->reaped = true;
  if (p->wait) {
    UnregisterWaitEx(p->wait, INVALID_HANDLE_VALUE); /* waits for a running callback */
    p->wait = NULL;
  }
}

bool tether__proc_try_reap(tether__proc *p) {
  if (p->reaped || !p->process) return false;
  if (!p->exited && WaitForSingleObject(p->process, 0) != WAIT_OBJECT_0) return false;
  collect(p);
  return true;
}

void tether__proc_reap_blocking(tether__proc *p) {
  if (p->reaped || !p->process) return;
  WaitForSingleObject(p->process, INFINITE);
  collect(p);
}

void tether__proc_close(tether__proc *p) {
  if (p->wait) {
    UnregisterWaitEx(p->wait, INVALID_HANDLE_VALUE);
    p->wait = NULL;
  }
  for (int i = 0; i < 3; i++) {
    wpipe_free(p->pipe[i]);
    p->pipe[i] = NULL;
  }
  if (p->process) CloseHandle(p->process);
  p->process = NULL;
  /* Closing the job kills whatever is left in it (KILL_ON_JOB_CLOSE). */
  if (p->job) CloseHandle(p->job);
  p->job = NULL;
}

/* ------------------------------------------------------------ session */

int tether__session_start(tether__runner *r, tether__session *s,
                          const tether_msg_spawn *req, tether__spawn_out *so) {
  s->stdin_fd = -1;
  s->out[0].fd = s->out[1].fd = -1;
  if (tether__limits_any(req)) { /* no mechanism here yet: fail closed */
    memset(so, 0, sizeof *so);
    so->stage = TETHER_STAGE_LIMITS;
    so->error = TETHER_SPAWN_ERR_UNSUPPORTED;
    snprintf(so->message, sizeof so->message,
             "resource limits are not enforced by this runner on Windows");
    return -1;
  }
  if (tether__spawn_win(req, &r->sandbox, so) < 0) return -1;
  s->proc.pid = so->pid;
  s->proc.process = so->process;
  s->proc.job = so->job;
  bool ok = true;
  if (so->stdout_h && !(s->proc.pipe[0] = wpipe_new(so->stdout_h, true))) ok = false;
  else so->stdout_h = NULL;
  if (ok && so->stderr_h && !(s->proc.pipe[1] = wpipe_new(so->stderr_h, true))) ok = false;
  else if (ok) so->stderr_h = NULL;
  if (ok && so->stdin_h && !(s->proc.pipe[2] = wpipe_new(so->stdin_h, false))) ok = false;
  else if (ok) so->stdin_h = NULL;
  int rc = ok ? tether__exitwatch_add(&r->watch, &s->proc) : TETHER_ENOMEM;
  if (rc < 0) {
    DWORD e = ok ? GetLastError() : ERROR_NOT_ENOUGH_MEMORY;
    TerminateJobObject(s->proc.job, 1);
    WaitForSingleObject(s->proc.process, 5000);
    if (so->stdout_h) CloseHandle(so->stdout_h);
    if (so->stderr_h) CloseHandle(so->stderr_h);
    if (so->stdin_h) CloseHandle(so->stdin_h);
    tether__pty_free(so->pty);
    so->pty = NULL;
    tether__proc_close(&s->proc);
    memset(&s->proc, 0, sizeof s->proc);
    so->stage = TETHER_STAGE_SETUP;
    so->error = tether__spawn_error_from_win32(e);
    so->os_error = (int)e;
    snprintf(so->message, sizeof so->message, "cannot watch the child (Win32 error %lu)",
             (unsigned long)e);
    return -1;
  }
  s->last_in = -1;
  if (so->pty) {
    s->pty = so->pty;
    so->pty = NULL;
    tether__pty_set_wake(s->pty, r->watch.wake);
    s->out[0].fd = 0;
    s->out[0].wire = TETHER_STREAM_PTY;
    s->out[0].present = true;
    s->out[0].capped = req->has_stdout_cap;
    s->out[0].cap = req->stdout_cap;
    s->out[1].fd = -1;
    s->out[1].wire = TETHER_STREAM_STDERR;
    if (req->stdin_mode != TETHER__STDIN_NULL) s->stdin_fd = 2;
    s->stdin_pipe_mode = s->stdin_fd >= 0;
    return 0;
  }
  s->out[0].fd = 0;
  s->out[0].wire = TETHER_STREAM_STDOUT;
  s->out[0].present = true;
  s->out[0].capped = req->has_stdout_cap;
  s->out[0].cap = req->stdout_cap;
  s->out[1].fd = s->proc.pipe[1] ? 1 : -1; /* -1 when merged into stdout */
  s->out[1].wire = TETHER_STREAM_STDERR;
  s->out[1].present = s->proc.pipe[1] != NULL;
  s->out[1].capped = req->has_stderr_cap;
  s->out[1].cap = req->stderr_cap;
  s->stdin_fd = s->proc.pipe[2] ? 2 : -1;
  s->stdin_pipe_mode = s->stdin_fd >= 0;
  return 0;
}

long tether__session_read(tether__session *s, int i, uint8_t *buf, size_t len) {
  if (s->pty && i == 0) return tether__pty_read(s->pty, buf, len);
  tether__wpipe *w = s->proc.pipe[i];
  if (!w) return 0;
  if (w->pending) return TETHER_EAGAIN;
  if (w->len > w->off) {
    size_t n = w->len - w->off;
    if (n > len) n = len;
    memcpy(buf, w->buf + w->off, n);
    w->off += n;
    return (long)n;
  }
  if (w->eof) return 0;
  /* Nothing buffered: ask for at most what the caller may take now (its
   * credit), so flow control holds the rest in the child's pipe. */
  wpipe_start_read(w, len);
  return w->eof ? 0 : TETHER_EAGAIN;
}

/* Never: the read after a short one is what re-arms the overlapped read. */
bool tether__session_short_read_drains(const tether__session *s, int i) {
  (void)s;
  (void)i;
  return false;
}

long tether__session_write_stdin(tether__session *s, const uint8_t *p, size_t n) {
  if (s->stdin_fd < 0) return TETHER_ECLOSED;
  if (s->pty) {
    long w = tether__pty_write(s->pty, p, n);
    if (w == TETHER_EAGAIN || w >= 0) return w;
    s->stdin_broken = true;
    s->stdin_fd = -1;
    return TETHER_ECLOSED;
  }
  tether__wpipe *w = s->proc.pipe[2];
  if (w->broken) {
    s->stdin_broken = true;
    s->stdin_fd = -1;
    s->proc.pipe[2] = NULL;
    wpipe_free(w);
    return TETHER_ECLOSED;
  }
  if (w->pending) return TETHER_EAGAIN;
  size_t k = n < w->cap ? n : w->cap;
  memcpy(w->buf, p, k);
  memset(&w->ov, 0, sizeof w->ov);
  if (!WriteFileEx(w->h, w->buf, (DWORD)k, &w->ov, on_io_done)) {
    w->broken = true;
    s->stdin_broken = true;
    s->stdin_fd = -1;
    s->proc.pipe[2] = NULL;
    wpipe_free(w);
    return TETHER_ECLOSED;
  }
  w->pending = true;
  return (long)k; /* accepted: the child may read it at its pace */
}

/* Closing stdin must not cut off a write still in flight (closing the
 * handle would cancel it): the pipe is closed once it completes
 * (tether__session_pump_closed, from the loop). */
void tether__session_close_stdin(tether__session *s) {
  s->stdin_fd = -1;
  if (s->pty) return; /* input stops; ^Z was the terminal's end of input */
  tether__wpipe *w = s->proc.pipe[2];
  if (!w) return;
  if (w->pending) {
    w->close_when_done = true;
    return;
  }
  s->proc.pipe[2] = NULL;
  wpipe_free(w);
}

size_t tether__session_stdin_eof(tether__session *s, uint8_t out[2]) {
  if (!s->pty) return 0;
  return tether__pty_eof_sequence(s->pty, s->last_in, out);
}

int tether__session_resize(tether__session *s, uint32_t rows, uint32_t cols) {
  if (!s->pty) return TETHER_EINVAL;
  if (rows < 1 || cols < 1 || rows > TETHER__PTY_MAX_DIM || cols > TETHER__PTY_MAX_DIM)
    return TETHER_EINVAL;
  return tether__pty_resize(s->pty, rows, cols);
}

void tether__session_close_stream(tether__session *s, int i) {
  if (s->pty && i == 0) {
    s->out[0].fd = -1;
    s->stdin_fd = -1;
    return;
  }
  s->out[i].fd = -1;
  wpipe_free(s->proc.pipe[i]);
  s->proc.pipe[i] = NULL;
}

/* The polite stop: CTRL_BREAK to the child's process group (it was
 * created with CREATE_NEW_PROCESS_GROUP). It reaches only processes that
 * share the runner's console; without one (or for a GUI program) it does
 * nothing and the kill after the grace does the work. */
static void polite(tether__session *s) {
  if (s->proc.reaped || !s->proc.pid) return;
  (void)GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, s->proc.pid);
}

void tether__session_signal(tether__session *s, int os_sig, bool group) {
  switch (os_sig) {
  case TETHER_SIG_KILL:
    if (group) {
      if (s->proc.job) TerminateJobObject(s->proc.job, 1);
    } else if (!s->proc.reaped && s->proc.process) {
      TerminateProcess(s->proc.process, 1);
    }
    break;
  case TETHER_SIG_INT:
  case TETHER_SIG_TERM:
    polite(s);
    break;
  default:
    break;
  }
}

void tether__session_terminate(tether__session *s) { polite(s); }

void tether__session_kill_now(tether__session *s) {
  /* The whole job: the child and everything it started. The exit code of
   * a process ended this way is 1. */
  if (s->proc.job) TerminateJobObject(s->proc.job, 1);
}

void tether__session_exit_info(const tether__session *s, tether_msg_exited *e) {
  memset(e, 0, sizeof *e);
  e->code = s->proc.code; /* the full 32 bits, e.g. 0xC0000005 */
  e->has_usage = true;
  e->user_time_us = s->proc.user_us;
  e->system_time_us = s->proc.system_us;
  e->max_rss_kib = s->proc.peak_kib;
}

void tether__session_release(tether__session *s) {
  s->stdin_fd = -1;
  s->out[0].fd = s->out[1].fd = -1;
  if (!s->proc.reaped && s->proc.process) {
    if (s->proc.job) TerminateJobObject(s->proc.job, 1);
    tether__proc_reap_blocking(&s->proc);
  }
  if (s->proc.job) TerminateJobObject(s->proc.job, 1); /* what the child left */
  tether__pty_free(s->pty);
  s->pty = NULL;
  tether__proc_close(&s->proc);
}

/* ------------------------------------------------------------ for the loop */

void tether__session_pump_closed(tether__session *s) {
  tether__wpipe *w = s->proc.pipe[2];
  if (w && !w->pending && (w->close_when_done || w->broken) && s->stdin_fd < 0) {
    s->proc.pipe[2] = NULL;
    wpipe_free(w);
  }
}

uint64_t tether__session_poll_limits(tether__session *s, uint64_t now) {
  (void)s;
  (void)now;
  return 0;
}
