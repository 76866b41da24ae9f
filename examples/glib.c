/* glib.c — tether's parent library inside a GLib main loop.
 *
 *   glib [SECONDS]
 *
 * Runs the same two commands as libuv.c, at the same time:
 *
 *   [count]  sh -c 'for i in 1 2 3; do echo out $i; sleep 0.1; done'
 *   [long]   sh -c 'echo waiting; exec sleep 60'
 *
 * printing their output as it arrives. After SECONDS (default 1) a GLib
 * timeout asks the runner to terminate [long] (SIGTERM to its process
 * group), so its exit shows "killed by signal 15". Once both sessions have
 * ended the loop quits and the parent is freed. Exit status 0 when [count]
 * exited 0 and [long] was killed by the signal.
 *
 * The runner is `tether-runner` from PATH, or the program named by the
 * TETHER_RUNNER environment variable (e.g. build/bin/tether-runner).
 *
 * How tether fits into GLib: a GSource of its own (tether_source_new below,
 * ready to copy). It watches tether_parent_fd() with g_source_add_unix_fd;
 * its prepare step asks for writability only while
 * tether_parent_wants_write() says bytes are queued. Prepare runs before
 * every poll, so calls made outside tether_parent_process (a spawn, the
 * timeout's terminate) need no re-arming. Dispatch calls
 * tether_parent_process(), which runs tether's callbacks, then the source's
 * callback.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <tether/parent.h>

/* ---- a GSource for a tether_parent ---- */

typedef struct tether_source {
  GSource base;
  tether_parent *p;
  gpointer rtag, wtag; /* the same tag when one descriptor does both */
} tether_source;

static gboolean source_prepare(GSource *src, gint *timeout) {
  tether_source *ts = (tether_source *)src;
  *timeout = -1;
  GIOCondition w = tether_parent_wants_write(ts->p) ? G_IO_OUT : 0;
  if (ts->wtag == ts->rtag)
    g_source_modify_unix_fd(src, ts->rtag, G_IO_IN | G_IO_HUP | G_IO_ERR | w);
  else
    g_source_modify_unix_fd(src, ts->wtag, w);
  return FALSE; /* nothing is ready before the poll says so */
}

static gboolean source_check(GSource *src) {
  tether_source *ts = (tether_source *)src;
  return g_source_query_unix_fd(src, ts->rtag) != 0 ||
         (ts->wtag != ts->rtag && g_source_query_unix_fd(src, ts->wtag) != 0);
}

static gboolean source_dispatch(GSource *src, GSourceFunc callback, gpointer data) {
  tether_source *ts = (tether_source *)src;
  int rc = tether_parent_process(ts->p);
  if (rc < 0 && rc != TETHER_ECLOSED) /* ECLOSED: the callbacks told the story */
    fprintf(stderr, "glib: tether_parent_process: %s\n", tether_strerror(rc));
  gboolean again = callback ? callback(data) : G_SOURCE_CONTINUE;
  /* When the connection ends, tether closes its descriptor inside
   * tether_parent_process: the source must not poll it any more. */
  if (tether_parent_fd(ts->p) == TETHER_INVALID_HANDLE) return G_SOURCE_REMOVE;
  return again;
}

static GSourceFuncs tether_source_funcs = {
  .prepare = source_prepare,
  .check = source_check,
  .dispatch = source_dispatch,
};

/* A source that drives `p`; attach it, and destroy it before freeing `p`.
 * Its callback (g_source_set_callback, a GSourceFunc) runs after every
 * tether_parent_process; returning G_SOURCE_REMOVE ends the source. */
static GSource *tether_source_new(tether_parent *p) {
  tether_source *ts = (tether_source *)g_source_new(&tether_source_funcs, sizeof *ts);
  ts->p = p;
  int rfd = tether_parent_fd(p), wfd = tether_parent_write_fd(p);
  ts->rtag = g_source_add_unix_fd(&ts->base, rfd, G_IO_IN | G_IO_HUP | G_IO_ERR);
  ts->wtag = wfd == rfd ? ts->rtag : g_source_add_unix_fd(&ts->base, wfd, 0);
  g_source_set_name(&ts->base, "tether");
  return &ts->base;
}

/* ---- the example ---- */

typedef struct job {
  const char *name;
  tether_session *session;
  int done;
  tether_exit_status status; /* valid when exited or signaled is set */
} job;

typedef struct app {
  GMainLoop *loop;
  tether_parent *p;
  guint terminate_after_ms;
  guint timeout_id; /* 0 once it fired */
  job jobs[2];      /* [0] count, [1] long */
} app;

static void on_output(tether_session *s, int stream, const void *data, size_t len,
                      void *userdata) {
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

static void on_exit_status(tether_session *s, const tether_exit_status *st, void *userdata) {
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

static void on_error(tether_parent *p, tether_session *s, int code, const char *message,
                     void *userdata) {
  (void)p;
  (void)userdata;
  job *j = s ? tether_session_userdata(s) : NULL;
  fprintf(stderr, "glib: [%s] %s: %s\n", j ? j->name : "connection", tether_err_name(code),
          message);
  if (j && (code == TETHER_EPROTOCOL || code == TETHER_ECLOSED)) j->done = 1;
}

/* The source's callback: quit once both sessions are over. */
static gboolean on_tether_event(gpointer data) {
  app *a = data;
  if (!(a->jobs[0].done && a->jobs[1].done)) return G_SOURCE_CONTINUE;
  g_main_loop_quit(a->loop);
  return G_SOURCE_REMOVE;
}

static gboolean on_timeout(gpointer data) {
  app *a = data;
  job *j = &a->jobs[1];
  a->timeout_id = 0;
  if (!j->done) {
    printf("[%s] terminating after %u ms\n", j->name, a->terminate_after_ms);
    /* SIGTERM to the group now, SIGKILL after the grace if still there. */
    int rc = tether_session_terminate(j->session, 2000);
    if (rc < 0) fprintf(stderr, "glib: terminate: %s\n", tether_strerror(rc));
  }
  return G_SOURCE_REMOVE;
}

static int spawn(app *a, job *j, const char *const *argv) {
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.argv = argv;
  so.stdin_mode = TETHER_STDIN_MODE_NULL;
  so.userdata = j;
  int rc = tether_session_spawn(a->p, &so, &j->session);
  if (rc < 0) fprintf(stderr, "glib: spawn %s: %s\n", argv[0], tether_strerror(rc));
  return rc;
}

int main(int argc, char **argv) {
  static const char *const count_argv[] = {
    "sh", "-c", "for i in 1 2 3; do echo out $i; sleep 0.1; done", NULL };
  static const char *const long_argv[] = { "sh", "-c", "echo waiting; exec sleep 60", NULL };

  app a;
  memset(&a, 0, sizeof a);
  a.terminate_after_ms = 1000;
  if (argc > 1) {
    char *end;
    double secs = strtod(argv[1], &end);
    if (argc > 2 || *end != '\0' || !(secs >= 0 && secs <= 3600)) {
      fprintf(stderr, "usage: glib [SECONDS]  (TETHER_RUNNER=path selects the runner)\n");
      return 2;
    }
    a.terminate_after_ms = (guint)(secs * 1000);
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
    fprintf(stderr, "glib: cannot start the runner: %s%s%s\n", tether_strerror(rc),
            err[0] ? ": " : "", err);
    return 1;
  }

  a.loop = g_main_loop_new(NULL, FALSE);
  GSource *src = tether_source_new(a.p);
  g_source_set_callback(src, on_tether_event, &a, NULL);
  g_source_attach(src, NULL);

  int ok = spawn(&a, &a.jobs[0], count_argv) == 0 && spawn(&a, &a.jobs[1], long_argv) == 0;
  if (ok) {
    a.timeout_id = g_timeout_add(a.terminate_after_ms, on_timeout, &a);
    g_main_loop_run(a.loop); /* until on_tether_event quits it */
  }

  ok = ok && a.jobs[0].status.exited && a.jobs[0].status.code == 0 &&
       a.jobs[1].status.signaled && a.jobs[1].status.signal == TETHER_SIG_TERM;
  if (a.timeout_id) g_source_remove(a.timeout_id);
  /* The source goes before the parent whose descriptor it watches. */
  g_source_destroy(src);
  g_source_unref(src);
  for (int i = 0; i < 2; i++) tether_session_free(a.jobs[i].session);
  tether_parent_free(a.p);
  g_main_loop_unref(a.loop);
  return ok ? 0 : 1;
}
