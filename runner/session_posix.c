/* One session's process and its pipes or terminal on POSIX. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conpty/pty_posix.h"
#include "contain.h"
#include "runner_internal.h"

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

int tether__session_start(tether__runner *r, tether__session *s,
                          const tether_msg_spawn *req, tether__spawn_out *so) {
  s->stdin_fd = -1;
  s->out[0].fd = s->out[1].fd = -1;
  s->proc.pidfd = -1;
  int cerr = tether__contain_enter(); /* runner/contain.h */
  if (cerr) {
    so->stage = TETHER_STAGE_SETUP;
    so->error = tether__spawn_error_from_errno(cerr);
    so->os_error = cerr;
    snprintf(so->message, sizeof so->message, "entering the runner's PID namespace: %s",
             strerror(cerr));
    return -1;
  }
  tether__limits_plan lp;
  bool limited = tether__limits_any(req);
  if (limited) {
    tether__limits_failure lf;
    if (tether__limits_prepare(&req->limits, s->id, &lp, &s->cg, &lf) < 0) {
      tether__contain_leave();
      memset(so, 0, sizeof *so);
      so->stage = TETHER_STAGE_LIMITS;
      so->error = lf.error;
      so->os_error = lf.os_error;
      snprintf(so->message, sizeof so->message, "%s", lf.message);
      return -1;
    }
    s->limits = req->limits;
  }
  int src = tether__spawn_posix(req, &r->sandbox, limited ? &lp : NULL, so);
  tether__contain_leave();
  if (limited) tether__limits_plan_close(&lp);
  if (src < 0) {
    tether__cgroup_free(s->cg);
    s->cg = NULL;
    return -1;
  }
  if (s->cg) s->limits_poll_at = tether__runner_now_ms() + TETHER__LIMITS_POLL_MS;
  s->proc.pid = so->pid;
  if (tether__exitwatch_add(&r->watch, &s->proc) < 0) {
    /* Without a pidfd we cannot learn when it exits: undo the spawn. */
    int e = errno;
    kill(-so->pid, SIGKILL);
    kill(so->pid, SIGKILL);
    tether__proc_reap_blocking(&s->proc);
    close_fd(&so->stdin_fd);
    close_fd(&so->stdout_fd);
    close_fd(&so->stderr_fd);
    tether__pty_free(so->pty);
    so->pty = NULL;
    so->stage = TETHER_STAGE_SETUP;
    so->error = tether__spawn_error_from_errno(e);
    so->os_error = e;
    snprintf(so->message, sizeof so->message, "pidfd_open: %s", strerror(e));
    return -1;
  }
  s->last_in = -1;
  if (so->pty) {
    s->pty = so->pty;
    so->pty = NULL;
    s->out[0].fd = tether__pty_output_handle(s->pty);
    s->out[0].wire = TETHER_STREAM_PTY;
    s->out[0].present = true;
    s->out[0].capped = req->has_stdout_cap;
    s->out[0].cap = req->stdout_cap;
    s->out[1].fd = -1;
    s->out[1].wire = TETHER_STREAM_STDERR;
    if (req->stdin_mode != TETHER__STDIN_NULL) s->stdin_fd = tether__pty_input_handle(s->pty);
    s->stdin_pipe_mode = s->stdin_fd >= 0;
    return 0;
  }
  s->out[0].fd = so->stdout_fd;
  s->out[0].wire = TETHER_STREAM_STDOUT;
  s->out[0].present = true;
  s->out[0].capped = req->has_stdout_cap;
  s->out[0].cap = req->stdout_cap;
  s->out[1].fd = so->stderr_fd; /* -1 when merged into stdout */
  s->out[1].wire = TETHER_STREAM_STDERR;
  s->out[1].present = so->stderr_fd >= 0;
  s->out[1].capped = req->has_stderr_cap;
  s->out[1].cap = req->stderr_cap;
  s->stdin_fd = so->stdin_fd;
  s->stdin_pipe_mode = so->stdin_fd >= 0;
  return 0;
}

long tether__session_read(tether__session *s, int i, uint8_t *buf, size_t len) {
  /* The terminal's output ends only once no process holds its slave end
   * and everything they wrote was read: reading on until then (not until
   * the child exits) is what keeps a child's last bytes. */
  if (s->pty && i == 0) return tether__pty_read(s->pty, buf, len);
  for (;;) {
    ssize_t n = read(s->out[i].fd, buf, len);
    if (n >= 0) return (long)n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return TETHER_EAGAIN;
    return TETHER_EIO;
  }
}

/* A pipe read returns short only when the pipe is empty. A terminal hands
 * bytes over in pieces as its line discipline takes them, so there the
 * next read often finds more. */
bool tether__session_short_read_drains(const tether__session *s, int i) {
  return !(s->pty && i == 0);
}

long tether__session_write_stdin(tether__session *s, const uint8_t *p, size_t n) {
  if (s->stdin_fd < 0) return TETHER_ECLOSED;
  if (s->pty) {
    long w = tether__pty_write(s->pty, p, n);
    if (w == TETHER_EAGAIN || w >= 0) return w;
    s->stdin_broken = true; /* hung up: further input is dropped */
    s->stdin_fd = -1;       /* borrowed: the pty keeps the master */
    return TETHER_ECLOSED;
  }
  for (;;) {
    /* SIGPIPE is blocked in the serving thread (loop_posix.c). */
    ssize_t w = write(s->stdin_fd, p, n);
    if (w >= 0) return (long)w;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return TETHER_EAGAIN;
    /* EPIPE: the child closed its stdin. Not an error of the session:
     * further input is dropped. */
    s->stdin_broken = true;
    close_fd(&s->stdin_fd);
    return TETHER_ECLOSED;
  }
}

void tether__session_close_stdin(tether__session *s) {
  if (s->pty) s->stdin_fd = -1; /* the master stays open for output */
  else close_fd(&s->stdin_fd);
}

size_t tether__session_stdin_eof(tether__session *s, uint8_t out[2]) {
  if (!s->pty) return 0;
  return tether__pty_eof_sequence(s->pty, s->last_in, out);
}

int tether__session_resize(tether__session *s, uint32_t rows, uint32_t cols) {
  if (!s->pty) return TETHER_EINVAL;
  if (rows < 1 || cols < 1 || rows > TETHER__PTY_MAX_DIM || cols > TETHER__PTY_MAX_DIM)
    return TETHER_EINVAL;
  /* After the end of output the size no longer matters to anyone; the
   * call still succeeds. */
  return tether__pty_resize(s->pty, rows, cols);
}

void tether__session_close_stream(tether__session *s, int i) {
  if (s->out[0].wire == TETHER_STREAM_PTY && i == 0) {
    /* The end of the terminal's output; no input can be read any more
     * either. The master itself stays open until the session is released:
     * closing it hangs the terminal up, and the SIGHUP would reach a child
     * that closed its descriptors but has not exited yet (cat does that
     * before it exits), turning its exit status into a signal. */
    s->out[0].fd = -1;
    s->stdin_fd = -1;
    return;
  }
  close_fd(&s->out[i].fd);
}

/* The terminal's foreground process group when it is not the child's own
 * group (a job started by an interactive shell), else -1. Asked before the
 * child's group is signalled: once the session leader is gone the terminal
 * has no foreground group. */
static pid_t other_foreground(const tether__session *s) {
  if (!s->pty || s->proc.pid <= 0) return -1;
  pid_t fg = tether__pty_foreground_pgrp(s->pty);
  return fg > 0 && fg != s->proc.pid ? fg : -1;
}

void tether__session_signal(tether__session *s, int os_sig, bool group) {
  if (group) {
    pid_t fg = other_foreground(s);
    if (s->proc.pid > 0) (void)kill(-s->proc.pid, os_sig);
    if (fg > 0) (void)kill(-fg, os_sig);
  } else {
    (void)tether__proc_kill(&s->proc, os_sig);
  }
}

static void signal_groups(tether__session *s, int sig) {
  pid_t fg = other_foreground(s);
  tether__proc_kill_group(&s->proc, sig);
  if (fg > 0) (void)kill(-fg, sig);
}

void tether__session_terminate(tether__session *s) {
  pid_t fg = other_foreground(s);
  tether__proc_kill_group(&s->proc, SIGTERM);
  tether__proc_kill_group(&s->proc, SIGCONT);
  if (fg > 0) {
    (void)kill(-fg, SIGTERM);
    (void)kill(-fg, SIGCONT);
  }
}

void tether__session_kill_now(tether__session *s) {
  signal_groups(s, SIGKILL);
  tether__cgroup_kill(s->cg); /* daemonized grandchildren too */
}

uint64_t tether__session_poll_limits(tether__session *s, uint64_t now) {
  if (!s->cg || s->limit_hit) return 0;
  uint32_t hit = tether__cgroup_limit_hit(s->cg);
  if (!hit) return now + TETHER__LIMITS_POLL_MS;
  /* A hit limit ends the session, like the OOM kill it may have been. */
  s->limit_hit = hit;
  tether__cgroup_kill(s->cg);
  return 0;
}

/* Which limit ended the command, from the cgroup's counters and the
 * signal that ended the child. */
static uint32_t limit_reason(const tether__session *s, const tether_msg_exited *e) {
  if (s->limit_hit) return s->limit_hit;
  uint32_t hit = tether__cgroup_limit_hit(s->cg);
  if (hit) return hit;
  if (!e->signaled) return TETHER_LIMIT_NONE;
  if (e->raw_signal == SIGXCPU && s->limits.cpu_ms) return TETHER_LIMIT_CPU;
  if (e->raw_signal == SIGXFSZ && s->limits.file_size_bytes) return TETHER_LIMIT_FILE_SIZE;
  /* SIGKILL at RLIMIT_CPU's hard limit (SIGXCPU was caught or ignored) */
  if (e->raw_signal == SIGKILL && s->limits.cpu_ms &&
      (e->user_time_us + e->system_time_us) / 1000 >= (s->limits.cpu_ms + 999) / 1000 * 1000)
    return TETHER_LIMIT_CPU;
  return TETHER_LIMIT_NONE;
}

void tether__session_exit_info(const tether__session *s, tether_msg_exited *e) {
  int st = s->proc.status;
  memset(e, 0, sizeof *e);
  if (WIFSIGNALED(st)) {
    e->signaled = true;
    e->raw_signal = WTERMSIG(st);
    e->signal = tether__signal_from_os(WTERMSIG(st));
#ifdef WCOREDUMP
    e->core_dumped = WCOREDUMP(st) != 0;
#endif
  } else {
    e->code = (uint32_t)WEXITSTATUS(st);
  }
  const struct rusage *ru = &s->proc.ru;
  e->has_usage = true;
  e->user_time_us = (uint64_t)ru->ru_utime.tv_sec * 1000000u + (uint64_t)ru->ru_utime.tv_usec;
  e->system_time_us = (uint64_t)ru->ru_stime.tv_sec * 1000000u + (uint64_t)ru->ru_stime.tv_usec;
  e->max_rss_kib = (uint64_t)ru->ru_maxrss; /* Linux reports KiB */
  tether__cgroup_usage(s->cg, &e->tree_peak_memory_bytes, &e->tree_cpu_us);
  e->limit = limit_reason(s, e);
}

void tether__session_release(tether__session *s) {
  if (s->pty) {
    s->stdin_fd = -1;
    s->out[0].fd = -1;
  }
  close_fd(&s->stdin_fd);
  close_fd(&s->out[0].fd);
  close_fd(&s->out[1].fd);
  if (!s->proc.reaped && s->proc.pid > 0) {
    signal_groups(s, SIGKILL);
    tether__proc_reap_blocking(&s->proc);
  }
  tether__pty_free(s->pty);
  s->pty = NULL;
  tether__proc_close(&s->proc);
  /* With a session cgroup, nothing of the session outlives it. */
  tether__cgroup_free(s->cg);
  s->cg = NULL;
}
