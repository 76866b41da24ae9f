/* tether-run: run one command through a tether runner, as if run directly.
 *
 *   tether-run [--cwd DIR] [--env K=V]... [--clear-env] [--runner CMD]
 *              [--merge-stderr] [--sandbox MODE] [--no-network] [-t | -T] [-v]
 *              -- PROGRAM ARGS...
 *
 * Copies the program's stdout/stderr to its own as they arrive, forwards
 * its stdin, forwards SIGINT/SIGTERM/SIGHUP to the program's process group
 * (a second SIGINT/SIGTERM within 3 s terminates it: SIGTERM, then SIGKILL
 * after the runner's grace), and exits with the program's status: its exit
 * code, 128+N when portable signal N killed it, 255 for a signal without a
 * portable number, 127 when it was not found, 126 when it could not be
 * executed, 125 when tether-run or the runner failed (also when the runner
 * broke the protocol after the program's end). An exit code above 255 (a
 * runner on Windows: 32 bits, e.g. 0xC0000005) gives 1, never its low
 * byte, which could be 0; -v prints it whole. When the reader of our
 * stdout or stderr goes away, the program gets SIGPIPE. Text from the
 * runner is printed escaped (tether__run_printable).
 *
 * -t (--pty) runs the program on a pseudo-terminal (docs/PROTOCOL.md §6.5),
 * like `ssh -t`: when our stdin is a terminal it is put in raw mode (so ^C,
 * ^Z, ^D reach the program's terminal as bytes and its line discipline acts
 * on them), restored on every way out (normal exit, the program killed, the
 * runner gone, SIGTERM/SIGHUP/SIGINT/SIGQUIT, SIGTSTP while stopped), and
 * its size is sent at start and on every SIGWINCH. Without a local
 * terminal the size is $LINES x $COLUMNS, else 24 x 80, and input is
 * forwarded as typed; its end becomes the terminal's EOF character. In
 * pty mode SIGTERM to tether-run terminates the program (SIGTERM to its
 * groups, SIGKILL after the runner's grace) and SIGHUP hangs it up (SIGHUP,
 * then the same). -T (--no-pty) forces pipes, the default.
 *
 * Runner: `--runner CMD` runs CMD with `sh -c`, its stdin/stdout being the
 * channel (`tether-runner --stdio`, `ssh host tether-runner --stdio`).
 * Default: the tether-runner next to this executable, else the one on
 * PATH, given the channel as inherited descriptor 3 (`--fd 3`). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "tether/parent.h"
#include "run_cli.h"
#include "sandbox/profile.h"

#define EXIT_FAILED TETHER__RUN_EXIT_FAILED
/* Stdin is read only while less than this is queued for the program. */
#define STDIN_QUEUE_LOW (256u << 10)
#define STDIN_CHUNK (64u << 10)

static const char usage[] =
    "usage: tether-run [--cwd DIR] [--env K=V]... [--clear-env] [--runner CMD]\n"
    "                  [--merge-stderr] [--sandbox MODE] [--no-network]\n"
    "                  [--limit-memory SIZE] [--limit-procs N] [--limit-cpu SECONDS]\n"
    "                  [--limit-files N] [--limit-fsize SIZE] [--timeout SECONDS]\n"
    "                  [-t | -T] [-v] -- PROGRAM ARGS...\n"
    "\n"
    "Runs PROGRAM through a tether runner and behaves like it: same output,\n"
    "same input, same exit status (128+N if killed by signal N, 255 by a\n"
    "signal without a portable number; 127 not found; 126 not executable;\n"
    "125 if tether-run or the runner failed; 1 for an exit code above 255,\n"
    "from a runner on Windows). A second SIGINT/SIGTERM within 3 s\n"
    "terminates the program (SIGKILL after the runner's grace).\n"
    "\n"
    "  --cwd DIR        run the program in DIR\n"
    "  --env K=V        set a variable (K alone removes it); repeatable\n"
    "  --clear-env      start from an empty environment\n"
    "  --runner CMD     start the runner with `sh -c CMD`; its stdin/stdout\n"
    "                   are the channel (e.g. 'tether-runner --stdio')\n"
    "  --merge-stderr   send the program's stderr to stdout\n"
    "  --sandbox MODE   permission profile (docs/SANDBOX.md): read-only, or\n"
    "                   workspace-write[:ROOT,...] (default root \".\"; relative\n"
    "                   roots are resolved against tether-run's own cwd, not\n"
    "                   --cwd; .git stays read-only in each root)\n"
    "  --no-network     deny the program the network and Unix sockets\n"
    "  -t, --pty        run the program on a terminal (pty); a local terminal\n"
    "                   is put in raw mode and its size follows; TERM is passed\n"
    "  -T, --no-pty     use pipes (the default)\n"
    TETHER__RUN_LIMITS_USAGE
    "  -v               report the runner and the program's life on stderr\n";

typedef struct run {
  tether_parent *p;
  tether_session *s;
  char prog[512];     /* argv[0], printable (escaped) for our messages */
  int verbose;
  int out_broken;     /* our stdout is gone: output is dropped */
  int err_broken;
  int exit_code;      /* once decided */
  int decided;
  int pty;            /* -t: the program runs on a terminal */
  int local_tty;      /* pty, and our stdin is a terminal (raw mode) */
  int hung_up;        /* pty: SIGHUP was sent */
  long long hup_kill_at; /* ... then Terminate at this time (ms), 0: done */
  int winsz_fd;       /* the local terminal whose size we follow, -1: none */
  uint32_t rows, cols; /* the size last sent */
  long long stop_sig_at; /* when SIGINT/SIGTERM was last forwarded (ms), 0: never */
  const tether__run_cli *cli;
} run;

static int sig_pipe[2] = { -1, -1 };

/* ---------------------------------------------------- the local terminal */

/* -t with a terminal on stdin: its modes before raw mode. tty_restore is
 * async-signal-safe (tcsetattr is), so signal handlers may call it. */
static struct termios tty_saved;
static volatile sig_atomic_t tty_raw;

static void tty_restore(void) {
  if (!tty_raw) return;
  tty_raw = 0;
  tcsetattr(0, TCSADRAIN, &tty_saved);
}

/* Line end for our own messages: raw mode does not turn \n into \r\n. */
static const char *nl(void) { return tty_raw ? "\r\n" : "\n"; }

static int tty_make_raw(void) {
  static int registered;
  if (!registered) {
    if (tcgetattr(0, &tty_saved) < 0) return -1;
    if (atexit(tty_restore) != 0) return -1;
    registered = 1;
  }
  struct termios t = tty_saved;
  /* As ssh does: no input translation or flow control, no signals, echo or
   * line editing, no output processing (the program's terminal does the
   * \n -> \r\n), bytes one at a time. */
  cfmakeraw(&t);
  t.c_iflag &= ~(tcflag_t)(IXANY | IXOFF);
  tty_raw = 1;
  if (tcsetattr(0, TCSADRAIN, &t) < 0) {
    tty_raw = 0;
    return -1;
  }
  return 0;
}

/* Signals whose default action ends (or stops) us without the loop's
 * help: restore the terminal, then take the default action. */
static void on_fatal_signal(int sig) {
  tty_restore();
  signal(sig, SIG_DFL);
  raise(sig);
}

/* The local terminal's size: of the first of stdin, stdout, stderr that is
 * a terminal. 1 and *fd set if found. */
static int local_size(int *fd, uint32_t *rows, uint32_t *cols) {
  for (int i = 0; i < 3; i++) {
    struct winsize ws;
    if ((*fd < 0 || *fd == i) && ioctl(i, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
        ws.ws_col > 0) {
      *fd = i;
      *rows = ws.ws_row < TETHER_PTY_DIM_MAX ? ws.ws_row : TETHER_PTY_DIM_MAX;
      *cols = ws.ws_col < TETHER_PTY_DIM_MAX ? ws.ws_col : TETHER_PTY_DIM_MAX;
      return 1;
    }
  }
  return 0;
}

static uint32_t env_dim(const char *name) {
  const char *v = getenv(name);
  char *end;
  if (!v || !*v) return 0;
  unsigned long n = strtoul(v, &end, 10);
  return *end || n > TETHER_PTY_DIM_MAX ? 0 : (uint32_t)n;
}

static void on_signal(int sig) {
  int saved = errno;
  unsigned char b = (unsigned char)sig;
  ssize_t r = write(sig_pipe[1], &b, 1);
  (void)r;
  errno = saved;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* pty: the local side goes away (SIGHUP, our terminal or stdout gone): hang
 * the program's terminal up as the kernel would (SIGHUP to its group and
 * foreground job); if that does not end it within HANGUP_GRACE_MS,
 * Terminate (SIGTERM, then SIGKILL after the runner's grace). */
#define HANGUP_GRACE_MS 2000
static void hang_up(run *r) {
  if (r->hung_up || tether_session_done(r->s)) return;
  r->hung_up = 1;
  tether_session_signal(r->s, TETHER_SIG_HUP, 1);
  r->hup_kill_at = now_ms() + HANGUP_GRACE_MS;
}

static void decide(run *r, int code) {
  if (r->decided) return;
  r->decided = 1;
  r->exit_code = code;
}

/* Writes all of it, waiting when the descriptor is non-blocking and full.
 * -1 once the reader is gone (EPIPE) or the descriptor failed. */
static int write_full(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n > 0) {
      data += n;
      len -= (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd pf = { .fd = fd, .events = POLLOUT };
      poll(&pf, 1, -1);
      continue;
    }
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------ callbacks */

static void cb_spawned(tether_session *s, uint64_t pid, void *ud) {
  run *r = ud;
  if (r->verbose)
    fprintf(stderr, "tether-run: started \"%s\" as pid %llu%s", r->prog,
            (unsigned long long)pid, nl());
}

static void cb_spawn_failed(tether_session *s, const tether_spawn_failure *f, void *ud) {
  run *r = ud;
  tty_restore();
  if (f->message_len > 0) {
    /* The runner's text: escaped, never raw bytes on the user's terminal. */
    char text[TETHER_MESSAGE_MAX_BYTES * 4 + 1];
    tether__run_printable(text, sizeof text, f->message, f->message_len);
    fprintf(stderr, "tether-run: %s\n", text);
  } else if (f->os_error_space == TETHER_OS_ERR_POSIX && f->os_error > 0)
    fprintf(stderr, "tether-run: cannot run \"%s\": %s\n", r->prog,
            strerror((int)f->os_error));
  else
    fprintf(stderr, "tether-run: cannot run \"%s\" (stage %d, error %d)\n", r->prog,
            f->stage, f->error);
  decide(r, tether__run_spawn_failed_status(f));
}

static void cb_output(tether_session *s, int stream, const void *data, size_t len,
                      void *ud) {
  run *r = ud;
  int err = stream == TETHER_STREAM_STDERR;
  int *broken = err ? &r->err_broken : &r->out_broken;
  if (*broken) return;
  if (write_full(err ? 2 : 1, data, len) < 0) {
    *broken = 1;
    /* The program would have died of SIGPIPE writing to a closed pipe
     * (stdout's or stderr's reader gone alike); on a terminal, the
     * terminal is gone. */
    if (r->pty) hang_up(r);
    else tether_session_signal(s, TETHER_SIG_PIPE, 1);
  }
}

static void cb_exit(tether_session *s, const tether_exit_status *st, void *ud) {
  run *r = ud;
  tty_restore(); /* all of its output has been written */
  tether__run_say_limit(st, r->cli);
  if (st->signaled) {
    if (r->verbose)
      fprintf(stderr, "tether-run: \"%s\" was killed by signal %d%s%s\n", r->prog,
              st->signal, st->core_dumped ? " (core dumped)" : "",
              st->timed_out ? " (timed out)" : "");
    decide(r, tether__run_signal_status(st->signal));
  } else {
    if (r->verbose)
      fprintf(stderr, "tether-run: \"%s\" exited with status %u (0x%X)\n", r->prog, st->code,
              st->code);
    decide(r, st->code <= 255 ? (int)st->code : 1);
  }
}

static void cb_error(tether_parent *p, tether_session *s, int code, const char *msg,
                     void *ud) {
  run *r = ud;
  (void)p;
  /* `msg` is the library's; any runner text in it is already escaped. */
  int over = code == TETHER_EPROTOCOL || code == TETHER_ECLOSED;
  if (!s && over) {
    /* The connection ended. After the program's end that is news only if
     * the runner broke the protocol: then its report cannot be trusted
     * either, and the status is 125, never the program's. */
    if (r->decided && code != TETHER_EPROTOCOL) return;
    tty_restore();
    fprintf(stderr, "tether-run: %s\n", msg);
    r->decided = 0;
    decide(r, EXIT_FAILED);
    return;
  }
  if (r->decided) return;
  tty_restore();
  fprintf(stderr, "tether-run: %s%s", msg, nl());
  if (s && tether_session_done(s)) { /* ended without a status */
    decide(r, EXIT_FAILED);
    return;
  }
  /* Otherwise a non-fatal Error from the runner: a report, the program
   * goes on (PROTOCOL.md §5.10) -- except Error{LIMIT} on the session,
   * the runner refusing input it could not queue: the program no longer
   * runs as it would directly, so it is stopped rather than go on with a
   * hole in its input. */
  if (s && code == TETHER_ELIMIT) {
    fprintf(stderr, "tether-run: stopping \"%s\"%s", r->prog, nl());
    tether_session_terminate(s, 0);
    decide(r, EXIT_FAILED);
  }
}

/* ---------------------------------------------------------------- setup */

static int stdin_is_null(void) {
  struct stat st, nst;
  if (fstat(0, &st) < 0) return 1; /* closed */
  if (!S_ISCHR(st.st_mode)) return 0;
  if (stat("/dev/null", &nst) < 0) return 0;
  return st.st_rdev == nst.st_rdev;
}

/* The tether-runner next to this executable, if there is one. */
static int sibling_runner(char *buf, size_t len) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return 0;
  self[n] = '\0';
  char *slash = strrchr(self, '/');
  if (!slash) return 0;
  *slash = '\0';
  if ((size_t)snprintf(buf, len, "%s/tether-runner", self) >= len) return 0;
  return access(buf, X_OK) == 0;
}

static int install_signals(void) {
  if (pipe(sig_pipe) < 0) return -1;
  for (int i = 0; i < 2; i++) {
    fcntl(sig_pipe[i], F_SETFD, FD_CLOEXEC);
    fcntl(sig_pipe[i], F_SETFL, O_NONBLOCK);
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0 ||
      sigaction(SIGHUP, &sa, NULL) < 0)
    return -1;
  signal(SIGPIPE, SIG_IGN);
  return 0;
}

/* -t: SIGWINCH (the size follows) always; with a local terminal in raw
 * mode also SIGTSTP (suspend: restore, stop, raw again) and, for signals
 * that would end us without the loop, restore-then-default. */
static int install_pty_signals(int raw) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sa.sa_handler = on_signal;
  if (!raw) return sigaction(SIGWINCH, &sa, NULL);
  if (sigaction(SIGTSTP, &sa, NULL) < 0) return -1;
  static const int fatal[] = { SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM };
  sa.sa_handler = on_fatal_signal;
  for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
    if (sigaction(fatal[i], &sa, NULL) < 0) return -1;
  return 0;
}

static int portable_signal(int sig) {
  switch (sig) {
    case SIGINT: return TETHER_SIG_INT;
    case SIGTERM: return TETHER_SIG_TERM;
    case SIGHUP: return TETHER_SIG_HUP;
    default: return 0;
  }
}

/* ----------------------------------------------------------------- loop */

/* pty: sends the local terminal's size if it changed. */
static void follow_size(run *r) {
  uint32_t rows, cols;
  if (r->winsz_fd < 0 || !local_size(&r->winsz_fd, &rows, &cols)) return;
  if (rows == r->rows && cols == r->cols) return;
  if (r->verbose)
    fprintf(stderr, "tether-run: terminal size %ux%u%s", (unsigned)rows, (unsigned)cols, nl());
  if (tether_session_resize(r->s, rows, cols) == 0) {
    r->rows = rows;
    r->cols = cols;
  }
}

/* pty, SIGTSTP (kill -TSTP; a typed ^Z is input for the program): stop
 * with the terminal restored, take raw mode back when continued. */
static void suspend(run *r) {
  struct sigaction sa, old;
  tty_restore();
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTSTP, &sa, &old);
  raise(SIGTSTP);
  /* Continued. */
  sigaction(SIGTSTP, &old, NULL);
  if (tty_make_raw() < 0)
    fprintf(stderr, "tether-run: cannot put the terminal in raw mode again: %s\n",
            strerror(errno));
  follow_size(r);
}

/* pty mode: the terminal's signals, and SIGTERM/SIGHUP end the session. */
static int pty_signal(run *r, int sig) {
  switch (sig) {
    case SIGWINCH: follow_size(r); return 1;
    case SIGTSTP: suspend(r); return 1;
    case SIGTERM:
      if (r->verbose) fprintf(stderr, "tether-run: SIGTERM: terminating \"%s\"%s", r->prog, nl());
      tether_session_terminate(r->s, 0);
      return 1;
    case SIGHUP:
      if (r->verbose) fprintf(stderr, "tether-run: SIGHUP: hanging up \"%s\"%s", r->prog, nl());
      hang_up(r);
      return 1;
    default: return 0; /* SIGINT: forwarded as in pipes mode */
  }
}

/* A second SIGINT or SIGTERM within ESCALATE_MS of the last forwarded one
 * terminates the program (polite signal to its group, SIGKILL after the
 * runner's grace), as `docker run` does: a program that ignores them can
 * still be stopped without killing tether-run. */
#define ESCALATE_MS 3000
static int escalate(run *r, int sig) {
  if (sig != SIGINT && sig != SIGTERM) return 0;
  long long now = now_ms();
  int again = r->stop_sig_at && now - r->stop_sig_at <= ESCALATE_MS;
  r->stop_sig_at = now;
  if (!again) return 0;
  if (r->verbose)
    fprintf(stderr, "tether-run: second %s: terminating \"%s\"%s",
            sig == SIGINT ? "SIGINT" : "SIGTERM", r->prog, nl());
  tether_session_terminate(r->s, 0);
  return 1;
}

static void forward_signals(run *r) {
  unsigned char buf[64];
  ssize_t n;
  while ((n = read(sig_pipe[0], buf, sizeof buf)) > 0) {
    for (ssize_t i = 0; i < n; i++) {
      if (!tether_session_done(r->s) && escalate(r, buf[i])) continue;
      if (r->pty && !tether_session_done(r->s) && pty_signal(r, buf[i])) continue;
      int sig = portable_signal(buf[i]);
      if (sig && !tether_session_done(r->s)) {
        if (r->verbose) fprintf(stderr, "tether-run: forwarding signal %d%s", buf[i], nl());
        tether_session_signal(r->s, sig, 1);
      }
    }
  }
}

/* Reads one chunk of our stdin into the session. 0 at end of input. */
static int forward_stdin(run *r, char *buf) {
  ssize_t n = read(0, buf, STDIN_CHUNK);
  if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return 1;
  if (n <= 0 && r->local_tty) {
    /* A raw terminal has no end of input (^D is a byte): it hung up. */
    hang_up(r);
    return 0;
  }
  if (n <= 0) {
    tether_session_close_stdin(r->s);
    return 0;
  }
  int rc = tether_session_write(r->s, buf, (size_t)n);
  if (rc < 0 && rc != TETHER_ESTATE)
    fprintf(stderr, "tether-run: cannot forward input: %s%s", tether_strerror(rc), nl());
  return rc == TETHER_ESTATE ? 0 : 1;
}

static int loop(run *r, int stdin_open) {
  char *buf = malloc(STDIN_CHUNK);
  if (!buf) return -1;
  while (!tether_session_done(r->s)) {
    struct pollfd fds[4];
    int n = 0, ich = -1, iwr = -1, isig, iin = -1;
    int fd = tether_parent_fd(r->p);
    if (fd < 0) break;
    ich = n;
    fds[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
    if (tether_parent_wants_write(r->p)) {
      int wfd = tether_parent_write_fd(r->p);
      if (wfd == fd) fds[ich].events |= POLLOUT;
      else {
        iwr = n;
        fds[n++] = (struct pollfd){ .fd = wfd, .events = POLLOUT };
      }
    }
    isig = n;
    fds[n++] = (struct pollfd){ .fd = sig_pipe[0], .events = POLLIN };
    if (stdin_open && !r->decided && tether_session_stdin_queued(r->s) < STDIN_QUEUE_LOW) {
      iin = n;
      fds[n++] = (struct pollfd){ .fd = 0, .events = POLLIN };
    }
    int timeout = -1;
    if (r->hup_kill_at) {
      long long left = r->hup_kill_at - now_ms();
      timeout = left > 0 ? (int)left : 0;
    }
    if (poll(fds, (nfds_t)n, timeout) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (r->hup_kill_at && now_ms() >= r->hup_kill_at) {
      r->hup_kill_at = 0;
      tether_session_terminate(r->s, 0);
    }
    if (fds[isig].revents) forward_signals(r);
    if (iin >= 0 && fds[iin].revents) {
      if (fds[iin].revents & POLLNVAL) {
        tether_session_close_stdin(r->s);
        stdin_open = 0;
      } else {
        stdin_open = forward_stdin(r, buf);
      }
    }
    (void)iwr;
    int rc = tether_parent_process(r->p);
    if (rc == TETHER_ECLOSED) break;
  }
  free(buf);
  return 0;
}

int main(int argc, char **argv) {
  /* Decided before anything opens a descriptor, which could land on a
   * closed fd 0; then 0-2 are filled so none of ours ever is one of them. */
  int null_stdin = stdin_is_null();
  for (int fd = 0; fd <= 2; fd++)
    if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
      return EXIT_FAILED;
  tether__run_cli o;
  int parsed = tether__run_cli_parse(argc, argv, usage, 1, &o);
  if (parsed <= 0) {
    free(o.env);
    return parsed == 0 ? 0 : EXIT_FAILED;
  }
  const char **env = o.env; /* room for TERM */
  size_t nenv = o.nenv;
  int i = o.program;
  if (install_signals() < 0) {
    fprintf(stderr, "tether-run: cannot set up signal forwarding: %s\n", strerror(errno));
    free(env);
    return EXIT_FAILED;
  }

  run r;
  memset(&r, 0, sizeof r);
  tether__run_printable(r.prog, sizeof r.prog, argv[i], strlen(argv[i]));
  r.verbose = o.verbose;

  char runner_path[PATH_MAX];
  const char *runner_argv[4];
  tether_parent_options po;
  tether_parent_options_init(&po);
  if (o.runner_cmd) {
    runner_argv[0] = "/bin/sh";
    runner_argv[1] = "-c";
    runner_argv[2] = o.runner_cmd;
    runner_argv[3] = NULL;
    po.runner_channel = TETHER_RUNNER_CHANNEL_STDIO;
  } else {
    runner_argv[0] = sibling_runner(runner_path, sizeof runner_path) ? runner_path
                                                                     : "tether-runner";
    runner_argv[1] = "--fd";
    runner_argv[2] = "3";
    runner_argv[3] = NULL;
  }
  po.runner_argv = runner_argv;
  po.callbacks.on_spawned = cb_spawned;
  po.callbacks.on_spawn_failed = cb_spawn_failed;
  po.callbacks.on_output = cb_output;
  po.callbacks.on_exit = cb_exit;
  po.callbacks.on_error = cb_error;
  po.userdata = &r;
  r.p = tether__run_start(&po, o.verbose);
  if (!r.p) {
    free(env);
    return EXIT_FAILED;
  }

  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.argv = (const char *const *)(argv + i);
  so.env = nenv ? env : NULL;
  so.clear_env = o.clear_env;
  so.cwd = o.cwd;
  so.merge_stderr = o.merge;
  so.stdin_mode = null_stdin ? TETHER_STDIN_MODE_NULL : TETHER_STDIN_MODE_PIPE;
  so.userdata = &r;
  so.limits = o.limits;
  so.timeout_ms = o.timeout_ms;
  r.cli = &o;
  /* -t: a terminal of the local terminal's size (SIGWINCH is caught before
   * the size is read, so no change is missed), and our TERM (first, so an
   * --env TERM=... wins). */
  char *term_env = NULL;
  if (o.pty) {
    r.pty = 1;
    r.winsz_fd = -1;
    if (install_pty_signals(0) < 0)
      fprintf(stderr, "tether-run: cannot catch SIGWINCH: %s\n", strerror(errno));
    if (!local_size(&r.winsz_fd, &r.rows, &r.cols)) {
      r.rows = env_dim("LINES");
      r.cols = env_dim("COLUMNS");
    }
    so.io_mode = TETHER_IO_MODE_PTY;
    so.pty_rows = r.rows;
    so.pty_cols = r.cols;
    /* The terminal is the program's stdin even when ours is null; then its
     * end of input is sent at once. */
    so.stdin_mode = TETHER_STDIN_MODE_PIPE;
    const char *term = getenv("TERM");
    if (term && *term && (term_env = malloc(strlen(term) + 6)) != NULL) {
      snprintf(term_env, strlen(term) + 6, "TERM=%s", term);
      memmove(env + 1, env, nenv * sizeof *env);
      env[0] = term_env;
      nenv++;
      so.env = env;
    }
  }
  /* The profile's relative roots are resolved by the runner against our
   * cwd (permission_profile_cwd), never against --cwd. */
  static const char *const git_ro[] = { ".git", NULL };
  char **roots = NULL, here[PATH_MAX];
  tether_permission_profile prof;
  memset(&prof, 0, sizeof prof);
  if (o.sandbox || o.no_network) {
    if (o.sandbox && tether__sandbox_parse_spec(o.sandbox, &prof.filesystem, &roots) < 0) {
      fprintf(stderr, "tether-run: bad --sandbox \"%s\": use read-only or "
                      "workspace-write[:ROOT,...]\n", o.sandbox);
      tether_parent_free(r.p);
      free(env);
      return EXIT_FAILED;
    }
    prof.writable_roots = (const char *const *)roots;
    if (prof.filesystem == TETHER_FS_WORKSPACE_WRITE) prof.read_only_subpaths = git_ro;
    prof.network = o.no_network ? TETHER_NET_DENIED : 0;
    prof.cwd = getcwd(here, sizeof here);
    so.permission_profile = &prof;
  }
  int rc = tether_session_spawn(r.p, &so, &r.s);
  tether__sandbox_free_strv(roots);
  free(term_env);
  if (rc == TETHER_EUNSUPPORTED)
    fprintf(stderr, "tether-run: the runner does not enforce resource limits (that needs "
                    "protocol version %u and CAPABILITY_RESOURCE_LIMITS)\n",
            TETHER_PROTOCOL_VERSION_LIMITS);
  else if (rc < 0)
    fprintf(stderr, "tether-run: cannot ask the runner to start \"%s\": %s\n", r.prog,
            tether_strerror(rc));
  if (rc < 0) {
    tether_parent_free(r.p);
    free(env);
    return EXIT_FAILED;
  }
  free(env);

  if (o.pty && isatty(0)) {
    r.local_tty = 1;
    if (install_pty_signals(1) < 0 || tty_make_raw() < 0)
      fprintf(stderr, "tether-run: cannot put the terminal in raw mode: %s\n",
              strerror(errno));
  }
  if (o.pty && null_stdin) tether_session_close_stdin(r.s);
  loop(&r, !null_stdin);
  tty_restore();
  if (!r.decided) {
    fprintf(stderr, "tether-run: the runner went away before \"%s\" ended\n", r.prog);
    decide(&r, EXIT_FAILED);
  }
  tether_session_free(r.s);
  tether_parent_free(r.p);
  return r.exit_code;
}
