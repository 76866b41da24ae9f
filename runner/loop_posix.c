/* The runner's event loop: poll(2) over the channel, every session's
 * pipes and pidfds (or the SIGCHLD self-pipe), with the timers of
 * runner.c as the timeout. Single-threaded. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runner_internal.h"

/* How long the last frames (Exited, Error) may take to reach the parent
 * once everything else is done. */
#define FINAL_FLUSH_MS 2000

enum { W_CH_READ, W_CH_WRITE, W_SIGCHLD, W_OUT0, W_OUT1, W_STDIN, W_PIDFD };

typedef struct slot {
  int what;
  tether__session *s;
} slot;

static void flush(tether__runner *r) {
  if (r->channel_dead) return;
  int rc = tether_channel_flush(r->ch);
  if (rc == 0 || rc == TETHER_EAGAIN) return;
  r->channel_dead = true;
  /* The parent is gone: like end of input, end the sessions. */
  tether__runner_close(r, rc == TETHER_ECLOSED ? 0 : rc, "writing to the parent failed: %s",
                       tether_channel_error(r->ch));
}

int tether__runner_serve(tether__runner *r) {
  /* SIGPIPE from a write to a child's closed stdin must not kill us; block
   * it in this thread and consume what our writes raised at the end. */
  sigset_t pipeset, oldmask, pending;
  sigemptyset(&pipeset);
  sigaddset(&pipeset, SIGPIPE);
  sigemptyset(&pending);
  pthread_sigmask(SIG_BLOCK, &pipeset, &oldmask);
  sigpending(&pending);
  int pipe_was_pending = sigismember(&pending, SIGPIPE);

  size_t cap = 3 + 4 * (size_t)r->opt.max_sessions;
  struct pollfd *fds = malloc(cap * sizeof *fds);
  slot *slots = malloc(cap * sizeof *slots);
  if (!fds || !slots) {
    free(fds);
    free(slots);
    pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
    snprintf(r->why, sizeof r->why, "out of memory");
    return TETHER_ENOMEM;
  }

  /* Read the channel only when poll said so (or a turn held input back):
   * reading it at every turn costs an EAGAIN per child output event. */
  bool input_ready = true;
  for (;;) {
    if (!r->input_done && input_ready) {
      tether__runner_on_input(r);
      input_ready = tether__runner_input_blocked(r);
    }
    tether__runner_reap_finished(r);
    flush(r);
    if (tether__runner_done(r)) break;
    int timeout = tether__runner_on_timers(r, tether__runner_now_ms());
    tether__runner_reap_finished(r);
    if (tether__runner_done(r)) break;

    bool bp = tether__runner_backpressured(r);
    nfds_t n = 0;
#define ADD(fd_, ev_, what_, s_)                                               \
  do {                                                                         \
    fds[n].fd = (fd_);                                                         \
    fds[n].events = (ev_);                                                     \
    fds[n].revents = 0;                                                        \
    slots[n].what = (what_);                                                   \
    slots[n].s = (s_);                                                         \
    n++;                                                                       \
  } while (0)
    if (!r->input_done && !tether__runner_input_blocked(r))
      ADD(tether_channel_read_handle(r->ch), POLLIN, W_CH_READ, NULL);
    if (!r->channel_dead && tether_channel_pending(r->ch) > 0)
      ADD(tether_channel_write_handle(r->ch), POLLOUT, W_CH_WRITE, NULL);
    if (r->watch.sigchld_fd >= 0) ADD(r->watch.sigchld_fd, POLLIN, W_SIGCHLD, NULL);
    for (size_t i = 0; i < r->nsessions; i++) {
      tether__session *s = r->sessions[i];
      /* Backpressure: while the parent lags, leave children's output in
       * their pipes; a flooding child then blocks on its own write. */
      /* Flow control: a stream without credit is not read either; its
       * child blocks once its pipe or terminal buffer is full. */
      if (!bp && tether__runner_stream_wanted(r, s, 0)) ADD(s->out[0].fd, POLLIN, W_OUT0, s);
      if (!bp && tether__runner_stream_wanted(r, s, 1)) ADD(s->out[1].fd, POLLIN, W_OUT1, s);
      if (s->stdin_fd >= 0 && s->in_len > 0) ADD(s->stdin_fd, POLLOUT, W_STDIN, s);
      if (s->proc.pidfd >= 0) ADD(s->proc.pidfd, POLLIN, W_PIDFD, s);
    }
#undef ADD

    int rc = poll(fds, n, timeout);
    if (rc < 0) {
      if (errno == EINTR) continue;
      tether__runner_close(r, TETHER_EOS, "poll: %s", strerror(errno));
      continue;
    }
    for (nfds_t k = 0; k < n && rc > 0; k++) {
      if (!fds[k].revents) continue;
      tether__session *s = slots[k].s;
      switch (slots[k].what) {
      case W_CH_READ:
        input_ready = true;
        break; /* read at the top of the loop */
      case W_CH_WRITE:
        break; /* flushed at the top of the loop */
      case W_SIGCHLD:
        tether__exitwatch_drain(&r->watch);
        for (size_t i = 0; i < r->nsessions; i++) tether__proc_try_reap(&r->sessions[i]->proc);
        break;
      case W_OUT0:
        tether__runner_on_output(r, s, 0);
        break;
      case W_OUT1:
        tether__runner_on_output(r, s, 1);
        break;
      case W_STDIN:
        tether__runner_on_stdin_writable(r, s);
        break;
      case W_PIDFD:
        tether__proc_try_reap(&s->proc);
        break;
      }
    }
  }
  free(fds);
  free(slots);

  if (!r->channel_dead) {
    (void)tether_channel_flush_wait(r->ch, FINAL_FLUSH_MS);
    (void)tether_channel_shutdown_write(r->ch);
  }

  if (!pipe_was_pending) {
    struct timespec zero = { 0, 0 };
    while (sigtimedwait(&pipeset, NULL, &zero) == SIGPIPE) {}
  }
  pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
  return r->result;
}
