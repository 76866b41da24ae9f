/* The runner's event loop on Windows. Single-threaded protocol logic: it
 * waits, alertably, on at most three handles (the channel's read and write
 * events and the wake event that exit waits and ConPTY threads set); the
 * children's pipes complete their overlapped I/O as completion routines
 * during that wait (proc_win.h). After every wait each session is looked
 * at once: exits collected, output taken or a read started, queued stdin
 * written. So any number of sessions is served, with no 64-handle limit. */
#ifndef WIN32_LEAN_AND_MEAN
#  define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conpty/pty_win.h"
#include "runner_internal.h"

/* How long the last frames (Exited, Error) may take to reach the parent
 * once everything else is done. */
#define FINAL_FLUSH_MS 2000

static void flush(tether__runner *r) {
  if (r->channel_dead) return;
  int rc = tether_channel_flush(r->ch);
  if (rc == 0 || rc == TETHER_EAGAIN) return;
  r->channel_dead = true;
  tether__runner_close(r, rc == TETHER_ECLOSED ? 0 : rc, "writing to the parent failed: %s",
                       tether_channel_error(r->ch));
}

/* Output stream i of `s` can make progress now: bytes or the end are
 * there, or (a pipe) no read is in flight and one should be started. */
static bool out_actionable(const tether__runner *r, tether__session *s, int i, bool bp) {
  if (s->out[i].fd < 0 || bp || !tether__runner_stream_wanted(r, s, i)) return false;
  if (s->pty && i == 0) return tether__pty_readable(s->pty) != 0;
  return !tether__wpipe_busy(&s->proc, i);
}

static bool in_actionable(tether__session *s) {
  if (s->stdin_fd < 0 || s->in_len == 0) return false;
  if (s->pty) return tether__pty_writable(s->pty) != 0;
  return !tether__wpipe_busy(&s->proc, 2);
}

/* One pass over the sessions; true if something is still actionable
 * (then the loop does not block). */
static bool service(tether__runner *r) {
  bool more = false;
  for (size_t k = 0; k < r->nsessions; k++) {
    tether__session *s = r->sessions[k];
    if (!s->proc.reaped && s->proc.exited) tether__proc_try_reap(&s->proc);
    /* A terminal session's output ends when its console closes, and that
     * happens when the child has gone (pty_win.h). */
    if (s->proc.reaped && s->pty) tether__pty_hangup(s->pty);
    for (int i = 0; i < 2; i++)
      if (out_actionable(r, s, i, tether__runner_backpressured(r)))
        tether__runner_on_output(r, s, i);
    if (in_actionable(s)) tether__runner_on_stdin_writable(r, s);
    tether__session_pump_closed(s);
    bool bp = tether__runner_backpressured(r);
    for (int i = 0; i < 2; i++) {
      if (!out_actionable(r, s, i, bp)) continue;
      /* A pipe with nothing buffered was just given a read; only leftover
       * bytes (READS_PER_TURN) or its end count. */
      if (s->pty && i == 0) more = true;
      else if (tether__wpipe_ready(&s->proc, i)) more = true;
    }
    if (in_actionable(s)) more = true;
  }
  return more;
}

int tether__runner_serve(tether__runner *r) {
  for (;;) {
    if (!r->input_done) tether__runner_on_input(r);
    bool more = service(r);
    tether__runner_reap_finished(r);
    flush(r);
    if (tether__runner_done(r)) break;
    int timeout = tether__runner_on_timers(r, tether__runner_now_ms());
    tether__runner_reap_finished(r);
    if (tether__runner_done(r)) break;

    HANDLE hs[3];
    DWORD n = 0;
    if (!r->input_done && !tether__runner_input_blocked(r))
      hs[n++] = tether_channel_read_handle(r->ch);
    if (!r->channel_dead && tether_channel_pending(r->ch) > 0) {
      HANDLE w = tether_channel_write_handle(r->ch);
      if (!n || w != hs[0]) hs[n++] = w;
    }
    hs[n++] = r->watch.wake;
    DWORD ms = more ? 0 : timeout < 0 ? INFINITE : (DWORD)timeout;
    /* Alertable: the pipes' completion routines run here. */
    DWORD w = WaitForMultipleObjectsEx(n, hs, FALSE, ms, TRUE);
    if (w == WAIT_FAILED)
      tether__runner_close(r, TETHER_EOS, "WaitForMultipleObjectsEx failed (Win32 error %lu)",
                           (unsigned long)GetLastError());
  }

  if (!r->channel_dead) {
    (void)tether_channel_flush_wait(r->ch, FINAL_FLUSH_MS);
    (void)tether_channel_shutdown_write(r->ch); /* named pipes: unsupported, harmless */
  }
  return r->result;
}
