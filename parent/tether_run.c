/* tether-run: run one command through a tether runner, as if run directly.
 *
 *   tether-run [--cwd DIR] [--env K=V]... [--clear-env] [--runner CMD]
 *              [--merge-stderr] [-v] -- PROGRAM ARGS...
 *
 * Copies the program's stdout/stderr to its own as they arrive, forwards
 * its stdin, forwards SIGINT/SIGTERM/SIGHUP to the program's process group,
 * and exits with the program's status: its exit code, 128+N when signal N
 * killed it, 127 when it was not found, 126 when it could not be executed,
 * 125 when tether-run or the runner failed.
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
#include <sys/stat.h>
#include <unistd.h>

#include "tether/parent.h"

#define EXIT_FAILED 125
#define EXIT_CANNOT_EXEC 126
#define EXIT_NOT_FOUND 127
/* Stdin is read only while less than this is queued for the program. */
#define STDIN_QUEUE_LOW (256u << 10)
#define STDIN_CHUNK (64u << 10)

static const char usage[] =
    "usage: tether-run [--cwd DIR] [--env K=V]... [--clear-env] [--runner CMD]\n"
    "                  [--merge-stderr] [-v] -- PROGRAM ARGS...\n"
    "\n"
    "Runs PROGRAM through a tether runner and behaves like it: same output,\n"
    "same input, same exit status (128+N if killed by signal N; 127 not\n"
    "found; 126 not executable; 125 if tether-run or the runner failed).\n"
    "\n"
    "  --cwd DIR        run the program in DIR\n"
    "  --env K=V        set a variable (K alone removes it); repeatable\n"
    "  --clear-env      start from an empty environment\n"
    "  --runner CMD     start the runner with `sh -c CMD`; its stdin/stdout\n"
    "                   are the channel (e.g. 'tether-runner --stdio')\n"
    "  --merge-stderr   send the program's stderr to stdout\n"
    "  -v               report the runner and the program's life on stderr\n";

typedef struct run {
  tether_parent *p;
  tether_session *s;
  const char *prog;
  int verbose;
  int out_broken;     /* our stdout is gone: output is dropped */
  int err_broken;
  int exit_code;      /* once decided */
  int decided;
} run;

static int sig_pipe[2] = { -1, -1 };

static void on_signal(int sig) {
  int saved = errno;
  unsigned char b = (unsigned char)sig;
  ssize_t r = write(sig_pipe[1], &b, 1);
  (void)r;
  errno = saved;
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
    fprintf(stderr, "tether-run: started \"%s\" as pid %llu\n", r->prog,
            (unsigned long long)pid);
}

static void cb_spawn_failed(tether_session *s, const tether_spawn_failure *f, void *ud) {
  run *r = ud;
  if (f->message_len > 0)
    fprintf(stderr, "tether-run: %.*s\n", (int)f->message_len, f->message);
  else if (f->os_error_space == TETHER_OS_ERR_POSIX && f->os_error > 0)
    fprintf(stderr, "tether-run: cannot run \"%s\": %s\n", r->prog,
            strerror((int)f->os_error));
  else
    fprintf(stderr, "tether-run: cannot run \"%s\" (stage %d, error %d)\n", r->prog,
            f->stage, f->error);
  if (f->stage == TETHER_STAGE_EXEC)
    decide(r, f->error == TETHER_SPAWN_ERR_NOT_FOUND ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC);
  else
    decide(r, EXIT_FAILED);
}

static void cb_output(tether_session *s, int stream, const void *data, size_t len,
                      void *ud) {
  run *r = ud;
  int err = stream == TETHER_STREAM_STDERR;
  int *broken = err ? &r->err_broken : &r->out_broken;
  if (*broken) return;
  if (write_full(err ? 2 : 1, data, len) < 0) {
    *broken = 1;
    /* The program would have died of SIGPIPE writing to a closed pipe. */
    if (!err) tether_session_signal(s, TETHER_SIG_PIPE, 1);
  }
}

static void cb_exit(tether_session *s, const tether_exit_status *st, void *ud) {
  run *r = ud;
  if (st->signaled) {
    if (r->verbose)
      fprintf(stderr, "tether-run: \"%s\" was killed by signal %d%s%s\n", r->prog,
              st->signal, st->core_dumped ? " (core dumped)" : "",
              st->timed_out ? " (timed out)" : "");
    decide(r, 128 + (st->signal & 0x7f));
  } else {
    if (r->verbose)
      fprintf(stderr, "tether-run: \"%s\" exited with status %u\n", r->prog, st->code);
    decide(r, (int)(st->code & 0xff));
  }
}

static void cb_error(tether_parent *p, tether_session *s, int code, const char *msg,
                     void *ud) {
  run *r = ud;
  if (r->decided) return;
  fprintf(stderr, "tether-run: %s\n", msg);
  if (s && !tether_session_done(s)) {
    /* The runner refused something for the program (e.g. input it could not
     * queue): it no longer runs as it would directly, so stop it rather
     * than let it go on with a hole in its input. */
    fprintf(stderr, "tether-run: stopping \"%s\"\n", r->prog);
    tether_session_terminate(s, 0);
  }
  decide(r, EXIT_FAILED);
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

static int portable_signal(int sig) {
  switch (sig) {
    case SIGINT: return TETHER_SIG_INT;
    case SIGTERM: return TETHER_SIG_TERM;
    case SIGHUP: return TETHER_SIG_HUP;
    default: return 0;
  }
}

/* ----------------------------------------------------------------- loop */

static void forward_signals(run *r) {
  unsigned char buf[64];
  ssize_t n;
  while ((n = read(sig_pipe[0], buf, sizeof buf)) > 0) {
    for (ssize_t i = 0; i < n; i++) {
      int sig = portable_signal(buf[i]);
      if (sig && !tether_session_done(r->s)) {
        if (r->verbose) fprintf(stderr, "tether-run: forwarding signal %d\n", buf[i]);
        tether_session_signal(r->s, sig, 1);
      }
    }
  }
}

/* Reads one chunk of our stdin into the session. 0 at end of input. */
static int forward_stdin(run *r, char *buf) {
  ssize_t n = read(0, buf, STDIN_CHUNK);
  if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return 1;
  if (n <= 0) {
    tether_session_close_stdin(r->s);
    return 0;
  }
  int rc = tether_session_write(r->s, buf, (size_t)n);
  if (rc < 0 && rc != TETHER_ESTATE)
    fprintf(stderr, "tether-run: cannot forward input: %s\n", tether_strerror(rc));
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
    if (poll(fds, (nfds_t)n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
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
  const char *cwd = NULL, *runner_cmd = NULL;
  int clear_env = 0, merge = 0, verbose = 0;
  const char **env = calloc((size_t)argc + 1, sizeof *env);
  size_t nenv = 0;
  int i;

  if (!env) return EXIT_FAILED;
  /* Decided before anything opens a descriptor, which could land on a
   * closed fd 0; then 0-2 are filled so none of ours ever is one of them. */
  int null_stdin = stdin_is_null();
  for (int fd = 0; fd <= 2; fd++)
    if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd) {
      free(env);
      return EXIT_FAILED;
    }
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (a[0] != '-') break;
    if (strcmp(a, "--cwd") == 0 && i + 1 < argc) cwd = argv[++i];
    else if (strcmp(a, "--env") == 0 && i + 1 < argc && argv[i + 1][0]) env[nenv++] = argv[++i];
    else if (strcmp(a, "--clear-env") == 0) clear_env = 1;
    else if (strcmp(a, "--runner") == 0 && i + 1 < argc) runner_cmd = argv[++i];
    else if (strcmp(a, "--merge-stderr") == 0) merge = 1;
    else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) verbose = 1;
    else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage, stdout);
      free(env);
      return 0;
    } else {
      fprintf(stderr, "tether-run: bad option or missing value: %s\n%s", a, usage);
      free(env);
      return EXIT_FAILED;
    }
  }
  if (i >= argc) {
    fprintf(stderr, "tether-run: no program given\n%s", usage);
    free(env);
    return EXIT_FAILED;
  }
  if (install_signals() < 0) {
    fprintf(stderr, "tether-run: cannot set up signal forwarding: %s\n", strerror(errno));
    free(env);
    return EXIT_FAILED;
  }

  run r;
  memset(&r, 0, sizeof r);
  r.prog = argv[i];
  r.verbose = verbose;

  char runner_path[PATH_MAX];
  const char *runner_argv[4];
  tether_parent_options po;
  tether_parent_options_init(&po);
  if (runner_cmd) {
    runner_argv[0] = "/bin/sh";
    runner_argv[1] = "-c";
    runner_argv[2] = runner_cmd;
    runner_argv[3] = NULL;
    po.runner_channel = TETHER_RUNNER_CHANNEL_STDIO;
  } else {
    runner_argv[0] = sibling_runner(runner_path, sizeof runner_path) ? runner_path
                                                                     : "tether-runner";
    runner_argv[1] = "--fd";
    runner_argv[2] = "3";
    runner_argv[3] = NULL;
  }
  char errbuf[1024] = "";
  po.runner_argv = runner_argv;
  po.callbacks.on_spawned = cb_spawned;
  po.callbacks.on_spawn_failed = cb_spawn_failed;
  po.callbacks.on_output = cb_output;
  po.callbacks.on_exit = cb_exit;
  po.callbacks.on_error = cb_error;
  po.userdata = &r;
  po.errbuf = errbuf;
  po.errbuf_len = sizeof errbuf;

  int rc = tether_parent_start(&po, &r.p);
  if (rc < 0) {
    fprintf(stderr, "tether-run: cannot start the runner: %s\n",
            errbuf[0] ? errbuf : tether_strerror(rc));
    free(env);
    return EXIT_FAILED;
  }
  if (verbose) {
    tether_runner_info info;
    tether_parent_runner_info(r.p, &info);
    fprintf(stderr, "tether-run: runner %s %s, pid %lld, protocol %u\n",
            info.implementation, info.implementation_version, (long long)info.pid,
            info.version);
  }

  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.argv = (const char *const *)(argv + i);
  so.env = nenv ? env : NULL;
  so.clear_env = clear_env;
  so.cwd = cwd;
  so.merge_stderr = merge;
  so.stdin_mode = null_stdin ? TETHER_STDIN_MODE_NULL : TETHER_STDIN_MODE_PIPE;
  so.userdata = &r;
  rc = tether_session_spawn(r.p, &so, &r.s);
  if (rc < 0) {
    fprintf(stderr, "tether-run: cannot ask the runner to start \"%s\": %s\n", r.prog,
            tether_strerror(rc));
    tether_parent_free(r.p);
    free(env);
    return EXIT_FAILED;
  }
  free(env);

  loop(&r, !null_stdin);
  if (!r.decided) {
    fprintf(stderr, "tether-run: the runner went away before \"%s\" ended\n", r.prog);
    decide(&r, EXIT_FAILED);
  }
  tether_session_free(r.s);
  tether_parent_free(r.p);
  return r.exit_code;
}
