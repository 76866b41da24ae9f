/* poll.c — tether's parent library inside your own poll() loop.
 *
 *   poll [PROGRAM [ARGS...]]
 *
 * Starts a runner, runs two commands through it at the same time, and prints
 * their output as it arrives, each line prefixed with its session's name:
 *
 *   [count]   sh -c 'for i in 1 2 3; do echo out $i; sleep 0.1; done'
 *   [second]  ls -l /            (or PROGRAM ARGS... when given)
 *
 * then exits once both have ended: 0 if both exited with status 0.
 *
 * The runner is `tether-runner` from PATH, or the program named by the
 * TETHER_RUNNER environment variable (e.g. build/bin/tether-runner).
 *
 * The loop is the whole embedding contract (tether/parent.h):
 *   - wait for tether_parent_fd() to become readable, and for
 *     tether_parent_write_fd() to become writable while
 *     tether_parent_wants_write() says output is queued;
 *   - then call tether_parent_process(), which runs the callbacks.
 * Nothing in the library blocks or runs on its own; your loop can wait on
 * other descriptors (sockets, timers) in the same poll() call.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tether/parent.h>

/* One command we run: its name (the output prefix) and what became of it. */
typedef struct job {
  const char *name;
  tether_session *session;
  int done;            /* ended: exited, failed to start, or lost */
  int exit_ok;         /* exited with status 0 */
  int line_start[2];   /* [0] stdout, [1] stderr: the next byte starts a line */
} job;

/* Prints `len` bytes, starting each line with the job's prefix. Output
 * arrives in chunks that need not end at a line end, so whether the next
 * byte starts a line is remembered per stream. */
static void print_prefixed(job *j, int stream, const char *data, size_t len) {
  int err = stream == TETHER_STREAM_STDERR;
  FILE *out = err ? stderr : stdout;
  while (len > 0) {
    if (j->line_start[err]) fprintf(out, "[%s%s] ", j->name, err ? ":err" : "");
    const char *nl = memchr(data, '\n', len);
    size_t n = nl ? (size_t)(nl - data) + 1 : len;
    fwrite(data, 1, n, out);
    j->line_start[err] = nl != NULL;
    data += n;
    len -= n;
  }
  fflush(out); /* show it now, also when stdout is a pipe */
}

/* ---- callbacks: they run only inside tether_parent_process() ---- */

static void on_spawned(tether_session *s, uint64_t pid, void *userdata) {
  (void)userdata; /* tether_parent_options.userdata: unused here */
  job *j = tether_session_userdata(s);
  printf("[%s] started, pid %" PRIu64 "\n", j->name, pid);
}

static void on_spawn_failed(tether_session *s, const tether_spawn_failure *f,
                            void *userdata) {
  (void)userdata;
  job *j = tether_session_userdata(s);
  /* The message is not NUL-terminated: print it with its length. */
  printf("[%s] could not start (stage %d, error %d, os error %" PRId64 "): %.*s\n",
         j->name, f->stage, f->error, f->os_error, (int)f->message_len,
         f->message);
  j->done = 1;
}

static void on_output(tether_session *s, int stream, const void *data,
                      size_t len, void *userdata) {
  (void)userdata;
  print_prefixed(tether_session_userdata(s), stream, data, len);
}

static void on_exit_status(tether_session *s, const tether_exit_status *st,
                           void *userdata) {
  (void)userdata;
  job *j = tether_session_userdata(s);
  if (st->exited)
    printf("[%s] exited with status %" PRIu32 "\n", j->name, st->code);
  else
    printf("[%s] killed by signal %d\n", j->name, st->signal);
  j->exit_ok = st->exited && st->code == 0;
  j->done = 1;
}

static void on_error(tether_parent *p, tether_session *s, int code,
                     const char *message, void *userdata) {
  (void)p; /* the parent: we have only one */
  (void)userdata;
  if (s == NULL) { /* the connection itself: every open session follows */
    fprintf(stderr, "poll: runner connection: %s: %s\n", tether_err_name(code),
            message);
    return;
  }
  job *j = tether_session_userdata(s);
  fprintf(stderr, "poll: [%s] %s: %s\n", j->name, tether_err_name(code), message);
  /* These two end the session; other codes are reports. */
  if (code == TETHER_EPROTOCOL || code == TETHER_ECLOSED) j->done = 1;
}

/* ---- the loop ---- */

static int spawn(tether_parent *p, job *j, const char *const *argv) {
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.argv = argv;                    /* copied by tether_session_spawn */
  so.stdin_mode = TETHER_STDIN_MODE_NULL;
  so.userdata = j;
  j->line_start[0] = j->line_start[1] = 1;
  int rc = tether_session_spawn(p, &so, &j->session);
  if (rc < 0)
    fprintf(stderr, "poll: cannot spawn %s: %s\n", argv[0], tether_strerror(rc));
  return rc;
}

/* Waits on the channel and lets the library work until every job is done.
 * 0, or -1 when the loop had to stop early. */
static int run_loop(tether_parent *p, job *jobs, size_t njobs) {
  for (;;) {
    size_t done = 0;
    for (size_t i = 0; i < njobs; i++) done += jobs[i].done;
    if (done == njobs) return 0;

    int rfd = tether_parent_fd(p);
    if (rfd == TETHER_INVALID_HANDLE) return -1; /* connection over */

    struct pollfd pfd[2] = { { .fd = rfd, .events = POLLIN } };
    nfds_t n = 1;
    if (tether_parent_wants_write(p)) {
      int wfd = tether_parent_write_fd(p);
      if (wfd == rfd) { /* a socket: one descriptor for both ways */
        pfd[0].events |= POLLOUT;
      } else {
        pfd[1] = (struct pollfd){ .fd = wfd, .events = POLLOUT };
        n = 2;
      }
    }
    /* A real program would add its own descriptors here and use a timeout
     * for its own timers. */
    if (poll(pfd, n, -1) < 0) {
      if (errno == EINTR) continue;
      perror("poll: poll");
      return -1;
    }
    int rc = tether_parent_process(p);
    if (rc == TETHER_ECLOSED) {
      /* The callbacks have already told each session's end. */
      return -1;
    }
    if (rc < 0) {
      fprintf(stderr, "poll: tether_parent_process: %s\n", tether_strerror(rc));
      return -1;
    }
  }
}

int main(int argc, char **argv) {
  static const char *const count_argv[] = {
    "sh", "-c", "for i in 1 2 3; do echo out $i; sleep 0.1; done", NULL };
  static const char *const ls_argv[] = { "ls", "-l", "/", NULL };
  const char *const *second_argv = ls_argv;
  if (argc > 1) {
    if (argv[1][0] == '-') {
      fprintf(stderr, "usage: poll [PROGRAM [ARGS...]]\n"
                      "  runs a counting loop and `ls -l /` (or PROGRAM) "
                      "through tether-runner\n"
                      "  (TETHER_RUNNER=path selects the runner)\n");
      return 2;
    }
    second_argv = (const char *const *)(argv + 1);
  }

  job jobs[2] = { { .name = "count" }, { .name = "second" } };

  tether_parent_options o;
  tether_parent_options_init(&o);
  /* Which runner: TETHER_RUNNER if set, else the default `tether-runner
   * --fd 3` found in PATH. The channel is descriptor 3 in the runner. */
  const char *runner = getenv("TETHER_RUNNER");
  const char *runner_argv[] = { runner, "--fd", "3", NULL };
  if (runner != NULL && runner[0] != '\0') o.runner_argv = runner_argv;
  o.callbacks.on_spawned = on_spawned;
  o.callbacks.on_spawn_failed = on_spawn_failed;
  o.callbacks.on_output = on_output;
  o.callbacks.on_exit = on_exit_status;
  o.callbacks.on_error = on_error;
  char err[256] = "";
  o.error_buf = err;
  o.error_buf_len = sizeof err;

  /* Starting blocks until the handshake is done (handshake_timeout_ms). */
  tether_parent *p;
  int rc = tether_parent_start(&o, &p);
  if (rc < 0) {
    fprintf(stderr, "poll: cannot start the runner: %s%s%s\n",
            tether_strerror(rc), err[0] ? ": " : "", err);
    return 1;
  }
  tether_runner_info info;
  tether_parent_runner_info(p, &info);
  printf("connected to %s %s (protocol %" PRIu32 ")\n", info.implementation,
         info.implementation_version, info.version);

  /* Both spawns are only queued here; the loop sends them. */
  int ok = spawn(p, &jobs[0], count_argv) == 0 &&
           spawn(p, &jobs[1], second_argv) == 0 &&
           run_loop(p, jobs, 2) == 0;

  for (size_t i = 0; i < 2; i++) {
    ok = ok && jobs[i].exit_ok;
    tether_session_free(jobs[i].session); /* accepts NULL */
  }
  /* Says Goodbye, waits for the runner to exit and reaps it. */
  tether_parent_free(p);
  return ok ? 0 : 1;
}
