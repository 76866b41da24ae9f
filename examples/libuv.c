/* libuv.c — tether's parent library inside a libuv event loop.
 *
 *   libuv [SECONDS]
 *
 * Starts a runner and runs two commands through it at the same time:
 *
 *   [count]  sh -c 'for i in 1 2 3; do echo out $i; sleep 0.1; done'
 *   [long]   sh -c 'echo waiting; exec sleep 60'
 *
 * printing their output as it arrives. After SECONDS (default 1) a uv_timer
 * asks the runner to terminate [long] (SIGTERM to its process group), so its
 * exit shows "killed by signal 15". Once both sessions have ended every
 * handle is closed, the loop ends, and the parent is freed. Exit status 0
 * when [count] exited 0 and [long] was killed by the signal.
 *
 * The runner is `tether-runner` from PATH, or the program named by the
 * TETHER_RUNNER environment variable (e.g. build/bin/tether-runner).
 *
 * How tether fits into libuv: a uv_poll_t watches tether_parent_fd() for
 * UV_READABLE, plus UV_WRITABLE while tether_parent_wants_write(); each
 * event calls tether_parent_process(), which runs tether's callbacks. Any
 * tether call made outside tether_parent_process (here: the timer's
 * terminate) may queue output, so the poll is re-armed after those too.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tether/parent.h>
#include <uv.h>

typedef struct job {
  const char *name;
  tether_session *session;
  int done;
  tether_exit_status status; /* valid when exited or signaled is set */
} job;

typedef struct app {
  uv_loop_t *loop;
  tether_parent *p;
  /* One poll handle per descriptor: libuv must not have two uv_poll_t on
   * the same descriptor. With the default runner channel (a socketpair)
   * read and write share one; a pair of pipes would use both. */
  uv_poll_t rpoll, wpoll;
  int wpoll_used;
  uv_timer_t timer;
  uint64_t terminate_after_ms;
  job jobs[2];            /* [0] count, [1] long */
  int closing;
} app;

static void on_poll(uv_poll_t *h, int status, int events);

/* ---- tether callbacks (inside tether_parent_process) ---- */

static void on_output(tether_session *s, int stream, const void *data,
                      size_t len, void *userdata) {
  (void)userdata;
  job *j = tether_session_userdata(s);
  /* Chunks are printed whole with their prefix; poll.c shows how to keep
   * the prefix at line starts when chunks split lines. */
  FILE *out = stream == TETHER_STREAM_STDERR ? stderr : stdout;
  fprintf(out, "[%s] %.*s", j->name, (int)len, (const char *)data);
  if (((const char *)data)[len - 1] != '\n') fputc('\n', out);
  fflush(out);
}

static void on_spawned(tether_session *s, uint64_t pid, void *userdata) {
  (void)userdata;
  job *j = tether_session_userdata(s);
  printf("[%s] started, pid %" PRIu64 "\n", j->name, pid);
}

static void on_spawn_failed(tether_session *s, const tether_spawn_failure *f,
                            void *userdata) {
  (void)userdata;
  job *j = tether_session_userdata(s);
  printf("[%s] could not start: %.*s\n", j->name, (int)f->message_len, f->message);
  j->done = 1;
}

static void on_exit_status(tether_session *s, const tether_exit_status *st,
                           void *userdata) {
  (void)userdata;
  job *j = tether_session_userdata(s);
  if (st->exited)
    printf("[%s] exited with status %" PRIu32 "\n", j->name, st->code);
  else /* TETHER_SIG_* numbers are the same on every platform (tether/wire.h) */
    printf("[%s] killed by signal %d%s\n", j->name, st->signal,
           st->signal == TETHER_SIG_TERM ? " (TERM)" : "");
  j->status = *st;
  j->done = 1;
}

static void on_error(tether_parent *p, tether_session *s, int code,
                     const char *message, void *userdata) {
  (void)p;
  (void)userdata;
  job *j = s ? tether_session_userdata(s) : NULL;
  fprintf(stderr, "libuv: [%s] %s: %s\n", j ? j->name : "connection",
          tether_err_name(code), message);
  if (j && (code == TETHER_EPROTOCOL || code == TETHER_ECLOSED)) j->done = 1;
}

/* ---- libuv side ---- */

static void close_all(app *a) {
  if (a->closing) return;
  a->closing = 1;
  /* uv_close stops the handles; uv_run returns once their close callbacks
   * ran and nothing else is active. */
  uv_close((uv_handle_t *)&a->rpoll, NULL);
  if (a->wpoll_used) uv_close((uv_handle_t *)&a->wpoll, NULL);
  uv_close((uv_handle_t *)&a->timer, NULL);
}

/* Arms the poll handle(s) for what tether needs now; ends the loop when the
 * sessions are over or the connection is gone. Called after every tether
 * call that may have queued output. */
static void update(app *a) {
  if (a->closing) return;
  /* When the connection ends, tether closes its descriptor inside
   * tether_parent_process; uv_close (which stops the poll at once) follows
   * before anything can reuse the descriptor's number. */
  if ((a->jobs[0].done && a->jobs[1].done) ||
      tether_parent_fd(a->p) == TETHER_INVALID_HANDLE) {
    close_all(a);
    return;
  }
  int want_write = tether_parent_wants_write(a->p);
  if (!a->wpoll_used) {
    uv_poll_start(&a->rpoll, UV_READABLE | (want_write ? UV_WRITABLE : 0), on_poll);
  } else if (want_write) {
    uv_poll_start(&a->wpoll, UV_WRITABLE, on_poll);
  } else {
    uv_poll_stop(&a->wpoll);
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)events; /* tether_parent_process reads and writes what it can */
  app *a = h->data;
  if (status < 0)
    fprintf(stderr, "libuv: poll: %s\n", uv_strerror(status));
  int rc = tether_parent_process(a->p);
  if (rc < 0 && rc != TETHER_ECLOSED) /* ECLOSED: callbacks told the story */
    fprintf(stderr, "libuv: tether_parent_process: %s\n", tether_strerror(rc));
  update(a);
}

static void on_timer(uv_timer_t *t) {
  app *a = t->data;
  job *j = &a->jobs[1];
  if (j->done) return;
  printf("[%s] terminating after %" PRIu64 " ms\n", j->name, a->terminate_after_ms);
  /* SIGTERM to the group now, SIGKILL after the grace if it is still there. */
  int rc = tether_session_terminate(j->session, 2000);
  if (rc < 0) fprintf(stderr, "libuv: terminate: %s\n", tether_strerror(rc));
  update(a); /* the Terminate frame is queued: wait for writability */
}

static int spawn(app *a, job *j, const char *const *argv) {
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.argv = argv;
  so.stdin_mode = TETHER_STDIN_MODE_NULL;
  so.userdata = j;
  int rc = tether_session_spawn(a->p, &so, &j->session);
  if (rc < 0) fprintf(stderr, "libuv: spawn %s: %s\n", argv[0], tether_strerror(rc));
  return rc;
}

int main(int argc, char **argv) {
  static const char *const count_argv[] = {
    "sh", "-c", "for i in 1 2 3; do echo out $i; sleep 0.1; done", NULL };
  static const char *const long_argv[] = {
    "sh", "-c", "echo waiting; exec sleep 60", NULL };

  app a;
  memset(&a, 0, sizeof a);
  a.terminate_after_ms = 1000;
  if (argc > 1) {
    char *end;
    double secs = strtod(argv[1], &end);
    if (argc > 2 || *end != '\0' || !(secs >= 0 && secs <= 3600)) {
      fprintf(stderr, "usage: libuv [SECONDS]  (TETHER_RUNNER=path selects the runner)\n");
      return 2;
    }
    a.terminate_after_ms = (uint64_t)(secs * 1000);
  }
  a.jobs[0].name = "count";
  a.jobs[1].name = "long";

  tether_parent_options o;
  tether_parent_options_init(&o);
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

  /* The handshake blocks (briefly) before the loop runs. */
  int rc = tether_parent_start(&o, &a.p);
  if (rc < 0) {
    fprintf(stderr, "libuv: cannot start the runner: %s%s%s\n",
            tether_strerror(rc), err[0] ? ": " : "", err);
    return 1;
  }

  a.loop = uv_default_loop();
  int rfd = tether_parent_fd(a.p), wfd = tether_parent_write_fd(a.p);
  uv_poll_init(a.loop, &a.rpoll, rfd);
  a.rpoll.data = &a;
  if (wfd != rfd) {
    uv_poll_init(a.loop, &a.wpoll, wfd);
    a.wpoll.data = &a;
    a.wpoll_used = 1;
    uv_poll_start(&a.rpoll, UV_READABLE, on_poll);
  }
  uv_timer_init(a.loop, &a.timer);
  a.timer.data = &a;

  int ok = spawn(&a, &a.jobs[0], count_argv) == 0 &&
           spawn(&a, &a.jobs[1], long_argv) == 0;
  if (ok) uv_timer_start(&a.timer, on_timer, a.terminate_after_ms, 0);
  else close_all(&a);
  update(&a);                    /* the Spawn frames are queued */
  uv_run(a.loop, UV_RUN_DEFAULT); /* until close_all's handles are closed */

  ok = ok && a.jobs[0].status.exited && a.jobs[0].status.code == 0 &&
       a.jobs[1].status.signaled && a.jobs[1].status.signal == TETHER_SIG_TERM;
  /* Only now, with no handle left on its descriptor, free the parent. */
  for (int i = 0; i < 2; i++) tether_session_free(a.jobs[i].session);
  tether_parent_free(a.p);
  uv_loop_close(a.loop);
  return ok ? 0 : 1;
}
