/* libtether_parent against the real tether-runner, and against a hostile
 * fake runner (tests/parent_fake.h) that breaks the protocol on purpose. */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "harness.h"
#include "parent_fake.h"
#include "tether/parent.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
/* Tests end with _exit, which skips LeakSanitizer's exit hook. */
#define LEAK_CHECK() __lsan_do_leak_check()
#else
#define LEAK_CHECK() ((void)0)
#endif

#ifndef TETHER_RUNNER_PATH
#error "TETHER_RUNNER_PATH must name the tether-runner executable"
#endif

/* ------------------------------------------------------------ recorder */

typedef struct srec {
  int spawned, failed, exited, nerrors;
  uint64_t pid;
  tether_exit_status st;
  int stage, error;
  char fail_msg[1100];
  int last_error;
  char err_msg[1400];
  char *out[2];
  size_t len[2], cap[2];
  int status_seen, status_running;
  int free_in_exit;      /* tether_session_free from on_exit */
  int incallback_checked;
  unsigned streams;      /* 1 << stream of every Output delivered */
} srec;

typedef struct rec {
  int conn_errors;
  int conn_code;
  char conn_msg[1400];
  int session_errors;
  tether_parent *p;
} rec;

static srec *srec_of(tether_session *s) { return tether_session_userdata(s); }

static void cb_spawned(tether_session *s, uint64_t pid, void *ud) {
  srec *r = srec_of(s);
  r->spawned++;
  r->pid = pid;
}
static void cb_failed(tether_session *s, const tether_spawn_failure *f, void *ud) {
  srec *r = srec_of(s);
  r->failed++;
  r->stage = f->stage;
  r->error = f->error;
  snprintf(r->fail_msg, sizeof r->fail_msg, "%.*s", (int)f->message_len, f->message);
}
static void cb_output(tether_session *s, int stream, const void *d, size_t n, void *ud) {
  srec *r = srec_of(s);
  int i = stream == TETHER_STREAM_STDERR;
  r->streams |= 1u << stream;
  if (r->len[i] + n + 1 > r->cap[i]) {
    /* Geometric: a realloc per chunk is quadratic under ASan (it always
     * moves), which made the pty bulk tests take a minute. */
    size_t c = r->cap[i] ? r->cap[i] : 4096;
    while (c < r->len[i] + n + 1) c *= 2;
    r->out[i] = realloc(r->out[i], c);
    r->cap[i] = c;
  }
  memcpy(r->out[i] + r->len[i], d, n);
  r->len[i] += n;
  r->out[i][r->len[i]] = '\0';
}
static void cb_exit(tether_session *s, const tether_exit_status *st, void *ud) {
  srec *r = srec_of(s);
  rec *g = ud;
  r->exited++;
  r->st = *st;
  if (g && g->p) {
    /* Blocking calls are refused inside callbacks. */
    CHECK_EQ_INT(tether_parent_process(g->p), TETHER_EINCALLBACK);
    CHECK_EQ_INT(tether_parent_run(g->p, 0), TETHER_EINCALLBACK);
    CHECK_EQ_INT(tether_session_wait(s, 0, NULL), TETHER_EINCALLBACK);
    CHECK_EQ_INT(tether_parent_free(g->p), TETHER_EINCALLBACK);
    r->incallback_checked = 1;
  }
  if (r->free_in_exit) tether_session_free(s);
}
static void cb_status(tether_session *s, int running, uint64_t pid, void *ud) {
  srec *r = srec_of(s);
  r->status_seen++;
  r->status_running = running;
}
static void cb_error(tether_parent *p, tether_session *s, int code, const char *msg, void *ud) {
  rec *g = ud;
  if (!s) {
    g->conn_errors++;
    g->conn_code = code;
    snprintf(g->conn_msg, sizeof g->conn_msg, "%s", msg);
    return;
  }
  srec *r = srec_of(s);
  g->session_errors++;
  if (!r) return;
  r->nerrors++;
  r->last_error = code;
  snprintf(r->err_msg, sizeof r->err_msg, "%s", msg);
}

static void srec_free(srec *r) {
  free(r->out[0]);
  free(r->out[1]);
  memset(r, 0, sizeof *r);
}

static const char *runner_argv[] = { TETHER_RUNNER_PATH, "--fd", "3", NULL };

static void options(tether_parent_options *o, rec *g) {
  tether_parent_options_init(o);
  o->runner_argv = runner_argv;
  o->callbacks.on_spawned = cb_spawned;
  o->callbacks.on_spawn_failed = cb_failed;
  o->callbacks.on_output = cb_output;
  o->callbacks.on_exit = cb_exit;
  o->callbacks.on_status = cb_status;
  o->callbacks.on_error = cb_error;
  o->userdata = g;
}

static tether_parent *start(rec *g) {
  tether_parent_options o;
  char err[512] = "";
  options(&o, g);
  o.error_buf = err;
  o.error_buf_len = sizeof err;
  tether_parent *p = NULL;
  int rc = tether_parent_start(&o, &p);
  if (rc != 0) FAIL("tether_parent_start: %s: %s", tether_err_name(rc), err);
  g->p = p;
  return p;
}

static tether_session *spawn(tether_parent *p, srec *r, const char *const *argv) {
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.argv = argv;
  so.userdata = r;
  tether_session *s = NULL;
  CHECK_OK(tether_session_spawn(p, &so, &s));
  return s;
}

static int count_fds(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1; /* the DIR's own */
}

static int pid_gone(pid_t pid, int ms) {
  for (int i = 0; i < ms; i++) {
    if (kill(pid, 0) < 0 && errno == ESRCH) return 1;
    /* A zombie still answers kill(0); look at its state. */
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n > 0) {
      buf[n] = '\0';
      char *rp = strrchr(buf, ')');
      if (rp && rp[1] == ' ' && rp[2] == 'Z') return 1;
    }
    usleep(1000);
  }
  return 0;
}

/* ------------------------------------------------- with the real runner */

TEST(printf_exit7) {
  rec g = { 0 };
  srec r = { 0 };
  tether_parent *p = start(&g);
  const char *argv[] = { "sh", "-c", "printf out; printf err >&2; exit 7", NULL };
  tether_session *s = spawn(p, &r, argv);
  tether_exit_status st;
  CHECK_OK(tether_session_wait(s, 10000, &st));
  CHECK_EQ_INT(r.spawned, 1);
  CHECK(r.pid > 0);
  CHECK_EQ_INT(r.exited, 1);
  CHECK(r.incallback_checked);
  CHECK(st.exited && !st.signaled);
  CHECK_EQ_INT(st.code, 7);
  CHECK_EQ_MEM(r.out[0], r.len[0], "out", 3);
  CHECK_EQ_MEM(r.out[1], r.len[1], "err", 3);
  CHECK_EQ_INT(st.stdout_bytes, 3);
  CHECK_EQ_INT(g.session_errors + g.conn_errors, 0);
  tether_runner_info info;
  tether_parent_runner_info(p, &info);
  CHECK_EQ_STR(info.implementation, "tether-runner");
  CHECK_EQ_INT(info.version, TETHER_PROTOCOL_VERSION_MAX);
  CHECK(info.pid > 0);
  tether_session_free(s);
  CHECK_OK(tether_parent_free(p));
  srec_free(&r);
  LEAK_CHECK();
}

TEST(missing_program) {
  rec g = { 0 };
  srec r = { 0 };
  tether_parent *p = start(&g);
  const char *argv[] = { "/nonexistent", NULL };
  tether_session *s = spawn(p, &r, argv);
  CHECK_EQ_INT(tether_session_wait(s, 10000, NULL), TETHER_ESPAWN);
  CHECK_EQ_INT(r.failed, 1);
  CHECK_EQ_INT(r.spawned + r.exited, 0);
  CHECK_EQ_INT(r.stage, TETHER_STAGE_EXEC);
  CHECK_EQ_INT(r.error, TETHER_SPAWN_ERR_NOT_FOUND);
  CHECK(strstr(r.fail_msg, "/nonexistent") != NULL);
  /* The session is over: control calls say so. */
  CHECK_EQ_INT(tether_session_signal(s, TETHER_SIG_TERM, 1), TETHER_ESTATE);
  tether_session_free(s);
  CHECK_OK(tether_parent_free(p));
  LEAK_CHECK();
}

TEST(stdin_cat) {
  rec g = { 0 };
  srec r = { 0 };
  tether_parent *p = start(&g);
  const char *argv[] = { "cat", NULL };
  tether_session *s = spawn(p, &r, argv);
  CHECK_OK(tether_session_write(s, "hello ", 6));
  CHECK_OK(tether_session_write(s, "world", 5));
  CHECK_OK(tether_session_close_stdin(s));
  CHECK_OK(tether_session_close_stdin(s)); /* idempotent */
  CHECK_EQ_INT(tether_session_write(s, "x", 1), TETHER_ESTATE);
  tether_exit_status st;
  CHECK_OK(tether_session_wait(s, 10000, &st));
  CHECK_EQ_INT(st.code, 0);
  CHECK_EQ_MEM(r.out[0], r.len[0], "hello world", 11);
  tether_session_free(s);
  CHECK_OK(tether_parent_free(p));
  srec_free(&r);
  LEAK_CHECK();
}

TEST(signals) {
  rec g = { 0 };
  srec r1 = { 0 }, r2 = { 0 };
  tether_parent *p = start(&g);
  const char *a1[] = { "sh", "-c", "kill -TERM $$", NULL };
  tether_session *s1 = spawn(p, &r1, a1);
  tether_exit_status st;
  CHECK_OK(tether_session_wait(s1, 10000, &st));
  CHECK(st.signaled && !st.exited);
  CHECK_EQ_INT(st.signal, TETHER_SIG_TERM);
  /* A signal from the parent, to the group. */
  const char *a2[] = { "sleep", "30", NULL };
  tether_session *s2 = spawn(p, &r2, a2);
  while (!r2.spawned) CHECK_OK(tether_parent_run(p, 5000));
  CHECK_OK(tether_session_status(s2));
  while (!r2.status_seen) CHECK_OK(tether_parent_run(p, 5000));
  CHECK(r2.status_running);
  CHECK_EQ_INT(tether_session_signal(s2, 12345, 1), TETHER_EINVAL);
  CHECK_OK(tether_session_signal(s2, TETHER_SIG_INT, 1));
  CHECK_OK(tether_session_wait(s2, 10000, &st));
  CHECK(st.signaled);
  CHECK_EQ_INT(st.signal, TETHER_SIG_INT);
  tether_session_free(s1);
  tether_session_free(s2);
  CHECK_OK(tether_parent_free(p));
  LEAK_CHECK();
}

TEST(terminate_and_timeout) {
  rec g = { 0 };
  srec r1 = { 0 }, r2 = { 0 };
  tether_parent *p = start(&g);
  const char *a1[] = { "sleep", "30", NULL };
  tether_session *s1 = spawn(p, &r1, a1);
  CHECK_OK(tether_session_terminate(s1, 100));
  tether_exit_status st;
  CHECK_OK(tether_session_wait(s1, 10000, &st));
  CHECK(st.signaled);
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.argv = a1;
  so.timeout_ms = 200;
  so.userdata = &r2;
  tether_session *s2;
  CHECK_OK(tether_session_spawn(p, &so, &s2));
  uint64_t t0 = test_now_ms();
  CHECK_OK(tether_session_wait(s2, 10000, &st));
  CHECK(st.timed_out);
  CHECK(test_now_ms() - t0 < 5000);
  tether_session_free(s1);
  tether_session_free(s2);
  CHECK_OK(tether_parent_free(p));
  LEAK_CHECK();
}

TEST(capture_caps) {
  rec g = { 0 };
  tether_parent *p = start(&g);
  tether_capture_result res;
  const char *a1[] = { "sh", "-c", "echo hello; echo oops >&2; exit 3", NULL };
  CHECK_OK(tether_capture(p, a1, NULL, &res));
  CHECK_EQ_STR(res.stdout_data, "hello\n");
  CHECK_EQ_STR(res.stderr_data, "oops\n");
  CHECK(res.status.exited);
  CHECK_EQ_INT(res.status.code, 3);
  CHECK(!res.stdout_truncated && !res.stderr_truncated);
  tether_capture_result_free(&res);

  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.stdout_cap = 1000;
  so.stderr_cap = 0;
  const char *a2[] = { "sh", "-c", "head -c 100000 /dev/zero; echo dropped >&2", NULL };
  CHECK_OK(tether_capture(p, a2, &so, &res));
  CHECK_EQ_INT(res.stdout_len, 1000);
  CHECK(res.stdout_truncated);
  CHECK_EQ_INT(res.status.stdout_dropped, 99000);
  CHECK_EQ_INT(res.stderr_len, 0);
  CHECK(res.stderr_truncated);
  CHECK_EQ_INT(res.status.code, 0);
  tether_capture_result_free(&res);

  const char *a3[] = { "/nonexistent/prog", NULL };
  CHECK_EQ_INT(tether_capture(p, a3, NULL, &res), TETHER_ESPAWN);
  CHECK_EQ_INT(res.failure.error, TETHER_SPAWN_ERR_NOT_FOUND);
  CHECK(res.failure.message && strstr(res.failure.message, "/nonexistent/prog"));
  tether_capture_result_free(&res);
  CHECK_EQ_INT(g.conn_errors + g.session_errors, 0);
  CHECK_OK(tether_parent_free(p));
  LEAK_CHECK();
}

#define CONCURRENT 200

TEST(concurrent_200) {
  rec g = { 0 };
  static srec r[CONCURRENT];
  static tether_session *s[CONCURRENT];
  char num[CONCURRENT][16];
  tether_parent *p = start(&g);
  for (int i = 0; i < CONCURRENT; i++) {
    snprintf(num[i], sizeof num[i], "%d", i);
    const char *argv[] = { "sh", "-c",
                           "printf o$0; printf e$0 >&2; head -c $(( $0 * 997 )) /dev/zero; "
                           "exit $(( $0 % 100 ))",
                           num[i], NULL };
    s[i] = spawn(p, &r[i], argv);
  }
  for (int i = 0; i < CONCURRENT; i++) {
    tether_exit_status st;
    CHECK_OK(tether_session_wait(s[i], 60000, &st));
  }
  for (int i = 0; i < CONCURRENT; i++) {
    char want[16];
    int n = snprintf(want, sizeof want, "o%d", i);
    CHECK_EQ_INT(r[i].exited, 1);
    CHECK_EQ_INT(r[i].st.code, i % 100);
    CHECK_EQ_INT(r[i].len[0], (size_t)n + (size_t)i * 997);
    CHECK(memcmp(r[i].out[0], want, (size_t)n) == 0);
    for (size_t k = (size_t)n; k < r[i].len[0]; k++) CHECK(r[i].out[0][k] == 0);
    n = snprintf(want, sizeof want, "e%d", i);
    CHECK_EQ_MEM(r[i].out[1], r[i].len[1], want, n);
    tether_session_free(s[i]);
    srec_free(&r[i]);
  }
  CHECK_EQ_INT(g.conn_errors + g.session_errors, 0);
  CHECK_OK(tether_parent_free(p));
  LEAK_CHECK();
}

TEST(runner_killed) {
  rec g = { 0 };
  srec r[3] = { { 0 } };
  tether_session *s[3];
  tether_parent *p = start(&g);
  const char *argv[] = { "sleep", "30", NULL };
  for (int i = 0; i < 3; i++) s[i] = spawn(p, &r[i], argv);
  while (!(r[0].spawned && r[1].spawned && r[2].spawned)) CHECK_OK(tether_parent_run(p, 5000));
  tether_runner_info info;
  tether_parent_runner_info(p, &info);
  uint64_t t0 = test_now_ms();
  CHECK(kill((pid_t)info.pid, SIGKILL) == 0);
  while (g.session_errors < 3) {
    int rc = tether_parent_run(p, 1000);
    if (rc == TETHER_ETIMEDOUT) FAIL("no error within 1 s");
  }
  CHECK(test_now_ms() - t0 < 1000);
  for (int i = 0; i < 3; i++) {
    CHECK_EQ_INT(r[i].last_error, TETHER_ECLOSED);
    CHECK(strstr(r[i].err_msg, "runner") != NULL);
    CHECK(tether_session_done(s[i]));
  }
  CHECK_EQ_INT(g.conn_errors, 1);
  CHECK(strstr(g.conn_msg, "signal 9") != NULL);
  CHECK_EQ_INT(tether_parent_process(p), TETHER_ECLOSED);
  CHECK_EQ_INT(tether_parent_fd(p), TETHER_INVALID_HANDLE);
  tether_session *s4;
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.argv = argv;
  CHECK_EQ_INT(tether_session_spawn(p, &so, &s4), TETHER_ECLOSED);
  CHECK_EQ_INT(tether_session_wait(s[0], 0, NULL), TETHER_ECLOSED);
  for (int i = 0; i < 3; i++) tether_session_free(s[i]);
  CHECK_OK(tether_parent_free(p));
  /* The runner's children were killed by the runner's death? Not our
   * concern here; sleep 30 may linger until its timeout. */
  LEAK_CHECK();
}

TEST(free_kills_everything) {
  rec g = { 0 };
  srec r = { 0 };
  tether_parent *p = start(&g);
  const char *argv[] = { "sleep", "30", NULL };
  tether_session *s = spawn(p, &r, argv);
  while (!r.spawned) CHECK_OK(tether_parent_run(p, 5000));
  tether_runner_info info;
  tether_parent_runner_info(p, &info);
  pid_t runner = (pid_t)info.pid, child = (pid_t)r.pid;
  CHECK(kill(child, 0) == 0);
  (void)s; /* still open: the parent's free ends it */
  uint64_t t0 = test_now_ms();
  CHECK_OK(tether_parent_free(p));
  CHECK(test_now_ms() - t0 < 4000);
  CHECK(pid_gone(child, 2000));
  CHECK(pid_gone(runner, 10));
  CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD); /* no zombie of ours */
  LEAK_CHECK();
}

TEST(sequential_1000) {
  rec g = { 0 };
  tether_parent *p = start(&g);
  const char *argv[] = { "true", NULL };
  int fds0 = -1;
  for (int i = 0; i < 1000; i++) {
    srec r = { 0 };
    tether_session *s = spawn(p, &r, argv);
    tether_exit_status st;
    CHECK_OK(tether_session_wait(s, 10000, &st));
    CHECK_EQ_INT(st.code, 0);
    tether_session_free(s);
    if (i == 9) fds0 = count_fds();
  }
  CHECK_EQ_INT(count_fds(), fds0);
  /* The runner reaped every child: it has none left but the init of its
   * children's PID namespace (tether-init, as root: runner/contain.h). */
  tether_runner_info info;
  tether_parent_runner_info(p, &info);
  char path[96], buf[256] = "";
  snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)info.pid, (int)info.pid);
  int fd = open(path, O_RDONLY);
  if (fd >= 0) {
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    for (char *tok = strtok(buf, " \n"); tok; tok = strtok(NULL, " \n")) {
      char comm[64] = "";
      snprintf(path, sizeof path, "/proc/%s/comm", tok);
      int cfd = open(path, O_RDONLY);
      if (cfd >= 0) {
        ssize_t k = read(cfd, comm, sizeof comm - 1);
        close(cfd);
        comm[k > 0 ? k : 0] = '\0';
      }
      CHECK_EQ_STR(comm, "tether-init\n");
    }
  }
  CHECK_EQ_INT(g.conn_errors + g.session_errors, 0);
  CHECK_OK(tether_parent_free(p));
  CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);
  LEAK_CHECK();
}

TEST(session_free_anytime) {
  rec g = { 0 };
  srec r1 = { 0 }, r2 = { 0 }, r3 = { 0 };
  tether_parent *p = start(&g);
  const char *a1[] = { "sh", "-c", "echo x; exec sleep 30", NULL };
  tether_session *s1 = spawn(p, &r1, a1);
  tether_session_free(s1); /* running: terminated, later frames dropped */
  const char *a2[] = { "echo", "two", NULL };
  r2.free_in_exit = 1;     /* freed inside its own on_exit */
  tether_session *s2 = spawn(p, &r2, a2);
  (void)s2;
  while (!r2.exited) CHECK_OK(tether_parent_run(p, 5000));
  const char *a3[] = { "true", NULL };
  tether_session *s3 = spawn(p, &r3, a3);
  CHECK_OK(tether_session_wait(s3, 10000, NULL));
  /* Let the first one's Exited arrive and be dropped. */
  uint64_t t0 = test_now_ms();
  while (test_now_ms() - t0 < 300) tether_parent_run(p, 50);
  CHECK_EQ_INT(r1.spawned + r1.exited + r1.nerrors, 0);
  CHECK_EQ_MEM(r2.out[0], r2.len[0], "two\n", 4);
  CHECK_EQ_INT(g.conn_errors + g.session_errors, 0);
  tether_session_free(s3);
  tether_session_free(NULL);
  CHECK_OK(tether_parent_free(p));
  CHECK_OK(tether_parent_free(NULL));
  srec_free(&r2);
  LEAK_CHECK();
}

TEST(event_loop_poll) {
  /* Embedding under poll(2): only tether_parent_fd / wants_write / process. */
  rec g = { 0 };
  srec r = { 0 };
  tether_parent *p = start(&g);
  const char *argv[] = { "sh", "-c", "head -c 3000000 /dev/zero", NULL };
  tether_session *s = spawn(p, &r, argv);
  while (!tether_session_done(s)) {
    struct pollfd pf = { .fd = tether_parent_fd(p), .events = POLLIN };
    if (tether_parent_wants_write(p)) pf.events |= POLLOUT;
    CHECK(poll(&pf, 1, 10000) == 1);
    CHECK_OK(tether_parent_process(p));
  }
  CHECK_EQ_INT(r.len[0], 3000000);
  CHECK_EQ_INT(r.st.code, 0);
  tether_session_free(s);
  CHECK_OK(tether_parent_free(p));
  srec_free(&r);
  LEAK_CHECK();
}

/* Embedding under edge-triggered epoll: an edge comes only for bytes that
 * arrive after a read, so this hangs (and fails at the deadline) if
 * tether_parent_process ever returns with bytes it has not read while the
 * transport still has them. 500 round trips through cat make many small
 * frames (each one a short read), next to a bulk stream. */
TEST(event_loop_epoll_edge_triggered) {
  enum { ROUNDS = 500 };
  rec g = { 0 };
  srec rb = { 0 }, re = { 0 };
  tether_parent *p = start(&g);
  const char *bulk[] = { "head", "-c", "3000000", "/dev/zero", NULL };
  const char *echo[] = { "cat", NULL };
  tether_session *sb = spawn(p, &rb, bulk);
  tether_session *se = spawn(p, &re, echo);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  CHECK(ep >= 0);
  int fd = tether_parent_fd(p), wfd = tether_parent_write_fd(p);
  struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.fd = fd };
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
  if (wfd != fd) {
    ev = (struct epoll_event){ .events = EPOLLOUT | EPOLLET, .data.fd = wfd };
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, wfd, &ev) == 0);
  }
  char want[ROUNDS * 16];
  size_t sent = 0;
  int rounds = 0;
  while (!tether_session_done(sb) || !tether_session_done(se)) {
    if (rounds < ROUNDS && re.len[0] == sent) {
      /* The last echo is back: the next round. Queued bytes go out in
       * process, which an edge-triggered loop calls itself. */
      int n = snprintf(want + sent, sizeof want - sent, "round %d\n", rounds);
      CHECK_OK(tether_session_write(se, want + sent, (size_t)n));
      sent += (size_t)n;
      if (++rounds == ROUNDS) CHECK_OK(tether_session_close_stdin(se));
      CHECK_OK(tether_parent_process(p));
      continue;
    }
    struct epoll_event got[2];
    int n = epoll_wait(ep, got, 2, 10000);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0)
      FAIL("no edge for 10 s: bulk %zu of 3000000 bytes, echo %zu of %zu after %d rounds",
           rb.len[0], re.len[0], sent, rounds);
    CHECK(n > 0);
    CHECK_OK(tether_parent_process(p));
  }
  close(ep);
  CHECK_EQ_INT(rb.len[0], 3000000);
  CHECK_EQ_INT(rb.st.code, 0);
  CHECK_EQ_MEM(re.out[0], re.len[0], want, sent);
  CHECK_EQ_INT(re.st.code, 0);
  CHECK_EQ_INT(g.session_errors + g.conn_errors, 0);
  tether_session_free(sb);
  tether_session_free(se);
  CHECK_OK(tether_parent_free(p));
  srec_free(&rb);
  srec_free(&re);
  LEAK_CHECK();
}

TEST(bad_options) {
  tether_parent_options o;
  tether_parent *p = (tether_parent *)1;
  char err[256] = "";
  tether_parent_options_init(&o);
  o.error_buf = err;
  o.error_buf_len = sizeof err;
  o.max_frame_size = 10;
  CHECK_EQ_INT(tether_parent_start(&o, &p), TETHER_EINVAL);
  CHECK(p == NULL);
  CHECK(strstr(err, "max_frame") != NULL);
  tether_parent_options_init(&o);
  o.error_buf = err;
  o.error_buf_len = sizeof err;
  const char *nope[] = { "/nonexistent/tether-runner", NULL };
  o.runner_argv = nope;
  CHECK_EQ_INT(tether_parent_start(&o, &p), TETHER_EOS);
  CHECK(strstr(err, "/nonexistent/tether-runner") != NULL);
  const char *not_runner[] = { "sh", "-c", "echo hello >&3; sleep 5", NULL };
  o.runner_argv = not_runner;
  CHECK_EQ_INT(tether_parent_start(&o, &p), TETHER_EPREFACE);
  const char *quits[] = { "sh", "-c", "exit 3", NULL };
  o.runner_argv = quits;
  CHECK_EQ_INT(tether_parent_start(&o, &p), TETHER_ECLOSED);
  CHECK(strstr(err, "status 3") != NULL);
  CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);

  rec g = { 0 };
  p = start(&g);
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  tether_session *s;
  CHECK_EQ_INT(tether_session_spawn(p, &so, &s), TETHER_EINVAL); /* no argv */
  CHECK_OK(tether_parent_free(p));
  LEAK_CHECK();
}

TEST(stdio_runner_and_unix_socket) {
  /* The runner speaking on its stdin/stdout through `sh -c`. */
  rec g = { 0 };
  tether_parent_options o;
  options(&o, &g);
  const char *argv[] = { "sh", "-c", "exec " TETHER_RUNNER_PATH " --stdio", NULL };
  o.runner_argv = argv;
  o.runner_channel = TETHER_RUNNER_CHANNEL_STDIO;
  tether_parent *p;
  CHECK_OK(tether_parent_start(&o, &p));
  tether_capture_result res;
  const char *echo[] = { "echo", "hi", NULL };
  CHECK_OK(tether_capture(p, echo, NULL, &res));
  CHECK_EQ_STR(res.stdout_data, "hi\n");
  tether_capture_result_free(&res);
  CHECK_OK(tether_parent_free(p));

  /* A runner listening on a Unix socket. */
  char path[64];
  snprintf(path, sizeof path, "/tmp/tether-parent-test-%d.sock", (int)getpid());
  unlink(path);
  pid_t pid = fork();
  if (pid == 0) {
    execl(TETHER_RUNNER_PATH, TETHER_RUNNER_PATH, "--listen", path, (char *)NULL);
    _exit(127);
  }
  struct stat sb;
  for (int i = 0; i < 5000 && stat(path, &sb) < 0; i++) usleep(1000);
  options(&o, &g);
  CHECK_OK(tether_parent_connect_unix(&o, path, &p));
  CHECK_OK(tether_capture(p, echo, NULL, &res));
  CHECK_EQ_STR(res.stdout_data, "hi\n");
  tether_capture_result_free(&res);
  CHECK_OK(tether_parent_free(p));
  int st;
  CHECK(waitpid(pid, &st, 0) == pid);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  LEAK_CHECK();
}

/* ------------------------------------------------------- pty sessions */

static tether_session *spawn_pty(tether_parent *p, srec *r, const char *const *argv,
                                 uint32_t rows, uint32_t cols) {
  static const char *const env[] = { "TERM=xterm-256color", NULL };
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.argv = argv;
  so.env = env;
  so.userdata = r;
  so.io_mode = TETHER_IO_MODE_PTY;
  so.pty_rows = rows;
  so.pty_cols = cols;
  tether_session *s = NULL;
  CHECK_OK(tether_session_spawn(p, &so, &s));
  return s;
}

/* Processes events until the terminal's output holds `want`. */
static void await_output(tether_parent *p, srec *r, const char *want) {
  uint64_t t0 = test_now_ms();
  while (!r->out[0] || !strstr(r->out[0], want)) {
    if (test_now_ms() - t0 > 20000)
      FAIL("no \"%s\" in the output \"%s\"", want, r->out[0] ? r->out[0] : "");
    int rc = tether_parent_run(p, 200);
    if (rc != 0 && rc != TETHER_ETIMEDOUT) FAIL("tether_parent_run: %s", tether_err_name(rc));
  }
}

TEST(pty_basic) {
  rec g = { 0 };
  srec r = { 0 };
  tether_parent *p = start(&g);
  tether_runner_info info;
  tether_parent_runner_info(p, &info);
  CHECK(info.capabilities & (1u << 2)); /* CAPABILITY_PTY */
  const char *argv[] = { "sh", "-c", "tty; stty size; echo \"$TERM\"; echo err >&2; exit 4", NULL };
  tether_session *s = spawn_pty(p, &r, argv, 30, 100);
  CHECK_OK(tether_session_close_stdin(s));
  tether_exit_status st;
  CHECK_OK(tether_session_wait(s, 10000, &st));
  CHECK(st.exited);
  CHECK_EQ_INT(st.code, 4);
  CHECK_EQ_INT(r.streams, 1u << TETHER_STREAM_PTY); /* stdout and stderr: the terminal */
  CHECK(r.out[0] != NULL);
  if (strncmp(r.out[0], "/dev/pts/", 9) != 0) FAIL("tty printed \"%s\"", r.out[0]);
  CHECK(strstr(r.out[0], "\r\n30 100\r\nxterm-256color\r\nerr\r\n") != NULL);
  CHECK_EQ_INT(st.stdout_bytes, r.len[0]);
  CHECK_EQ_INT(st.stderr_bytes, 0);
  CHECK_EQ_INT(g.conn_errors + g.session_errors, 0);
  tether_session_free(s);
  CHECK_OK(tether_parent_free(p));
  srec_free(&r);
  LEAK_CHECK();
}

TEST(pty_resize) {
  rec g = { 0 };
  srec r = { 0 }, r2 = { 0 }, r3 = { 0 };
  tether_parent *p = start(&g);
  /* The child sees the new size... */
  const char *argv[] = { "sh", "-c", "read a; stty size; read b; stty size", NULL };
  tether_session *s = spawn_pty(p, &r, argv, 0, 0);
  CHECK_OK(tether_session_write(s, "a\n", 2));
  await_output(p, &r, "24 80\r\n"); /* 0 x 0: the default */
  CHECK_OK(tether_session_resize(s, 40, 120));
  CHECK_OK(tether_session_write(s, "b\n", 2));
  tether_exit_status st;
  CHECK_OK(tether_session_wait(s, 10000, &st));
  CHECK_EQ_INT(st.code, 0);
  CHECK(strstr(r.out[0], "24 80\r\n") && strstr(r.out[0], "40 120\r\n"));
  CHECK_EQ_INT(tether_session_resize(s, 10, 10), TETHER_ESTATE); /* over */
  tether_session_free(s);
  /* ... and its foreground job gets SIGWINCH. */
  const char *argv2[] = { "sh", "-c",
                          "trap 'stty size; exit 0' WINCH; echo ready; "
                          "while :; do sleep 0.05; done", NULL };
  s = spawn_pty(p, &r2, argv2, 24, 80);
  await_output(p, &r2, "ready");
  CHECK_OK(tether_session_resize(s, 50, 132));
  CHECK_OK(tether_session_wait(s, 10000, &st));
  CHECK_EQ_INT(st.code, 0);
  CHECK(strstr(r2.out[0], "50 132\r\n") != NULL);
  tether_session_free(s);
  /* Pipes sessions have no terminal; bad sizes are refused locally. */
  const char *argv3[] = { "sleep", "5", NULL };
  s = spawn(p, &r3, argv3);
  CHECK_EQ_INT(tether_session_resize(s, 24, 80), TETHER_ESTATE);
  CHECK_EQ_INT(tether_session_resize(s, 0, 80), TETHER_EINVAL);
  CHECK_EQ_INT(tether_session_resize(s, 24, TETHER_PTY_DIM_MAX + 1), TETHER_EINVAL);
  CHECK_EQ_INT(tether_session_resize(NULL, 24, 80), TETHER_EINVAL);
  tether_session_free(s);
  CHECK_EQ_INT(g.conn_errors + g.session_errors, 0);
  CHECK_OK(tether_parent_free(p));
  srec_free(&r);
  srec_free(&r2);
  LEAK_CHECK();
}

TEST(pty_bad_options) {
  rec g = { 0 };
  srec r = { 0 };
  tether_parent *p = start(&g);
  const char *argv[] = { "true", NULL };
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.argv = argv;
  so.userdata = &r;
  tether_session *s = NULL;
  so.io_mode = (tether_io_mode)7;
  CHECK_EQ_INT(tether_session_spawn(p, &so, &s), TETHER_EINVAL);
  so.io_mode = TETHER_IO_MODE_PTY;
  so.pty_rows = TETHER_PTY_DIM_MAX + 1;
  CHECK_EQ_INT(tether_session_spawn(p, &so, &s), TETHER_EINVAL);
  so.pty_rows = 24;
  so.pty_cols = TETHER_PTY_DIM_MAX + 1;
  CHECK_EQ_INT(tether_session_spawn(p, &so, &s), TETHER_EINVAL);
  CHECK(s == NULL);
  /* The largest size is fine. */
  so.pty_rows = so.pty_cols = TETHER_PTY_DIM_MAX;
  so.stdin_mode = TETHER_STDIN_MODE_NULL;
  CHECK_OK(tether_session_spawn(p, &so, &s));
  tether_exit_status st;
  CHECK_OK(tether_session_wait(s, 10000, &st));
  CHECK_EQ_INT(st.code, 0);
  CHECK_EQ_INT(tether_session_write(s, "x", 1), TETHER_ESTATE);
  tether_session_free(s);
  CHECK_OK(tether_parent_free(p));
  LEAK_CHECK();
}

TEST(pty_stdin_eof) {
  rec g = { 0 };
  srec r = { 0 };
  tether_parent *p = start(&g);
  const char *argv[] = { "wc", "-c", NULL };
  tether_session *s = spawn_pty(p, &r, argv, 0, 0);
  CHECK_OK(tether_session_write(s, "abc", 3));
  CHECK_OK(tether_session_close_stdin(s)); /* a partial line: VEOF twice */
  tether_exit_status st;
  CHECK_OK(tether_session_wait(s, 10000, &st));
  CHECK_EQ_INT(st.code, 0);
  CHECK_EQ_STR(r.out[0], "abc3\r\n"); /* the echo, then wc's count */
  tether_session_free(s);
  CHECK_OK(tether_parent_free(p));
  srec_free(&r);
  LEAK_CHECK();
}

TEST(pty_ctrl_c) {
  rec g = { 0 };
  srec r = { 0 };
  tether_parent *p = start(&g);
  const char *argv[] = { "sh", "-c",
                         "trap 'echo caught; exit 9' INT; echo ready; "
                         "while :; do sleep 0.05; done", NULL };
  tether_session *s = spawn_pty(p, &r, argv, 0, 0);
  await_output(p, &r, "ready");
  CHECK_OK(tether_session_write(s, "\003", 1)); /* ^C, typed */
  tether_exit_status st;
  CHECK_OK(tether_session_wait(s, 10000, &st));
  CHECK(st.exited);
  CHECK_EQ_INT(st.code, 9);
  CHECK(strstr(r.out[0], "caught\r\n") != NULL);
  tether_session_free(s);
  CHECK_OK(tether_parent_free(p));
  srec_free(&r);
  LEAK_CHECK();
}

TEST(pty_capture) {
  rec g = { 0 };
  tether_parent *p = start(&g);
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.io_mode = TETHER_IO_MODE_PTY;
  const char *argv[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
  tether_capture_result res;
  CHECK_OK(tether_capture(p, argv, &so, &res));
  CHECK_EQ_INT(res.status.code, 3);
  CHECK_EQ_STR(res.stdout_data, "out\r\nerr\r\n");
  CHECK_EQ_INT(res.stderr_len, 0);
  tether_capture_result_free(&res);
  CHECK_OK(tether_parent_free(p));
  LEAK_CHECK();
}

TEST(pty_bulk_exact) {
  rec g = { 0 };
  srec r = { 0 }, r2 = { 0 };
  tether_parent *p = start(&g);
  /* Output: 5 MB through the terminal (and the parent's Credit{PTY}). */
  const char *argv[] = { "sh", "-c", "yes | head -c 5000000", NULL };
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.argv = argv;
  so.userdata = &r;
  so.io_mode = TETHER_IO_MODE_PTY;
  so.stdin_mode = TETHER_STDIN_MODE_NULL;
  tether_session *s = NULL;
  CHECK_OK(tether_session_spawn(p, &so, &s));
  tether_exit_status st;
  CHECK_OK(tether_session_wait(s, 60000, &st));
  CHECK_EQ_INT(st.code, 0);
  size_t y = 0, nl = 0, cr = 0;
  for (size_t i = 0; i < r.len[0]; i++) {
    char c = r.out[0][i];
    if (c == 'y') y++;
    else if (c == '\n') nl++;
    else if (c == '\r') cr++;
    else FAIL("byte %zu is %d", i, c);
  }
  CHECK_EQ_INT(y, 2500000);
  CHECK_EQ_INT(nl, 2500000);
  CHECK_EQ_INT(cr, 2500000);
  tether_session_free(s);
  srec_free(&r);
  /* Input: 200000 lines typed in, counted by the program after VEOF. Echo
   * is turned off first: under load the line discipline drops echoed bytes
   * it has no room for, which would make the output's tail unpredictable. */
  const char *argv2[] = { "sh", "-c", "stty -echo; echo ready; exec wc -c", NULL };
  s = spawn_pty(p, &r2, argv2, 0, 0);
  uint64_t ready_by = test_now_ms() + 20000;
  while (!(r2.len[0] >= 7 && memmem(r2.out[0], r2.len[0], "ready\r\n", 7)) &&
         test_now_ms() < ready_by)
    tether_parent_run(p, 100);
  CHECK(r2.len[0] >= 7);
  char line[16];
  size_t total = 0;
  for (int i = 1; i <= 200000; i++) {
    int n = snprintf(line, sizeof line, "%d\n", i);
    int rc;
    while ((rc = tether_session_write(s, line, (size_t)n)) == TETHER_EAGAIN)
      tether_parent_run(p, 100);
    CHECK_OK(rc);
    total += (size_t)n;
  }
  CHECK_EQ_INT(total, 1288895);
  CHECK_OK(tether_session_close_stdin(s));
  CHECK_OK(tether_session_wait(s, 60000, &st));
  CHECK_EQ_INT(st.code, 0);
  const char *want = "ready\r\n1288895\r\n";
  CHECK_EQ_MEM(r2.out[0], r2.len[0], want, strlen(want));
  CHECK_EQ_INT(g.conn_errors + g.session_errors, 0);
  tether_session_free(s);
  CHECK_OK(tether_parent_free(p));
  srec_free(&r2);
  LEAK_CHECK();
}

TEST(pty_last_output_300) {
  /* A child that writes and exits at once never loses its last bytes. */
  rec g = { 0 };
  tether_parent *p = start(&g);
  const char *argv[] = { "printf", "last", NULL };
  for (int i = 0; i < 300; i++) {
    srec r = { 0 };
    tether_spawn_options so;
    tether_spawn_options_init(&so);
    so.argv = argv;
    so.userdata = &r;
    so.io_mode = TETHER_IO_MODE_PTY;
    so.stdin_mode = TETHER_STDIN_MODE_NULL;
    tether_session *s = NULL;
    CHECK_OK(tether_session_spawn(p, &so, &s));
    tether_exit_status st;
    CHECK_OK(tether_session_wait(s, 10000, &st));
    CHECK_EQ_INT(st.code, 0);
    if (!r.out[0] || strcmp(r.out[0], "last") != 0)
      FAIL("run %d: \"%s\"", i, r.out[0] ? r.out[0] : "(nothing)");
    tether_session_free(s);
    srec_free(&r);
  }
  CHECK_EQ_INT(g.conn_errors + g.session_errors, 0);
  CHECK_OK(tether_parent_free(p));
  LEAK_CHECK();
}

TEST(pty_terminate_interactive) {
  /* An interactive shell ignores SIGTERM: Terminate kills it after the
   * grace period. */
  rec g = { 0 };
  srec r = { 0 };
  tether_parent *p = start(&g);
  const char *argv[] = { "sh", "-i", NULL };
  tether_session *s = spawn_pty(p, &r, argv, 0, 0);
  CHECK_OK(tether_session_write(s, "echo hi-$((6*7))\n", 17));
  await_output(p, &r, "hi-42");
  uint64_t t0 = test_now_ms();
  CHECK_OK(tether_session_terminate(s, 300));
  tether_exit_status st;
  CHECK_OK(tether_session_wait(s, 10000, &st));
  CHECK(st.signaled);
  CHECK_EQ_INT(st.signal, TETHER_SIG_KILL);
  CHECK(test_now_ms() - t0 < 5000);
  tether_session_free(s);
  CHECK_OK(tether_parent_free(p));
  srec_free(&r);
  LEAK_CHECK();
}

/* ------------------------------------------------------- hostile runner */

typedef enum fake_kind {
  FK_GARBAGE,
  FK_OUTPUT_BEFORE_SPAWNED,
  FK_OUTPUT_AFTER_EXITED,
  FK_OFFSET_SKIP,
  FK_OFFSET_REPEAT,
  FK_EXITED_BEFORE_SPAWNED,
  FK_TWO_EXITED,
  FK_SPAWNFAILED_AFTER_SPAWNED,
  FK_UNKNOWN_SESSION,
  FK_BAD_STREAM,
  FK_STDERR_WHEN_MERGED,
  FK_EMPTY_DATA,
  FK_SESSION_FRAME_ON_0,
  FK_PARENT_ONLY_FRAME,
  FK_SECOND_HELLO,
  FK_OVER_CAP,
  FK_TOO_LARGE,
  FK_STDOUT_ON_PTY,
  /* not violations */
  FK_EOF_MID_SESSION,
  FK_FATAL_ERROR,
  FK_SESSION_ERROR,
  FK_FREED_SESSION,
  FK_STALL,
  FK_FLOW,
  FK_PTY_FLOW,
  FK_CREDIT_OVER_WINDOW,  /* Credit{STDIN} past max_window: Error{LIMIT}, ignored */
  FK_CREDIT_STDIN_NULL,   /* Credit{STDIN} on a NULL-stdin session: Error{INVALID} */
  FK_EXITED_NO_STATUS,    /* Exited with neither code nor signal */
  FK_TWO_BODIES,          /* Output and Exited in one Frame */
  FK_ERROR_UNKNOWN_SESSION, /* a non-fatal Error on a never-created id: not answered */
  FK_ERROR_LONG,          /* Error with a 1025-byte message: close, no reply */
  FK_ERROR_TIMEOUT_NONFATAL, /* Error{TIMEOUT, fatal: false}: fatal all the same */
  FK_LATE_AFTER_FREE,     /* Output for a session over and released: fatal */
  FK_HELLO_CAPS           /* checks the parent's Hello capabilities */
} fake_kind;

/* Handshake variants. */
typedef enum fake_hello {
  FH_OK,
  FH_FRAME_FIRST,
  FH_WRONG_ROLE,
  FH_VERSION,
  FH_PREFACE,
  FH_SILENT,
  FH_GARBAGE,
  FH_MAX_SESSIONS_0
} fake_hello;

/* The last Spawn's io_mode (5), pty_rows (6), pty_cols (7). */
static uint64_t fake_spawn_io, fake_spawn_rows, fake_spawn_cols;

/* Reads the parent's frames until it sends a Spawn; returns its session. */
static uint32_t fake_await_spawn(int fd) {
  pf_frame f;
  while (pf_recv(fd, &f) == 0)
    if (f.body == 3) {
      fake_spawn_io = pf_body_field(&f, 5);
      fake_spawn_rows = pf_body_field(&f, 6);
      fake_spawn_cols = pf_body_field(&f, 7);
      return f.session;
    }
  _exit(4);
}

/* Until EOF: 0 if an Error{code, fatal} arrived, else 3. */
static int fake_drain(int fd, uint32_t want_code) {
  pf_frame f;
  int got = 0;
  while (pf_recv(fd, &f) == 0) {
    if (f.body == 17) {
      uint32_t code;
      int fatal;
      pf_error_fields(&f, &code, &fatal);
      if (code == want_code && fatal) got = 1;
    }
  }
  return got ? 0 : 3;
}

/* Until EOF: 0 if a non-fatal Error{code} arrived on `sid` and no Error was
 * fatal, else 3. */
static int fake_expect_report(int fd, uint32_t sid, uint32_t want_code) {
  pf_frame f;
  int got = 0, fatal_seen = 0;
  while (pf_recv(fd, &f) == 0) {
    if (f.body == 17) {
      uint32_t code;
      int fatal;
      pf_error_fields(&f, &code, &fatal);
      if (fatal) fatal_seen = 1;
      else if (code == want_code && f.session == sid) got = 1;
    }
  }
  return got && !fatal_seen ? 0 : 3;
}

/* Until EOF: 0 if no Error frame at all arrived, else 3. */
static int fake_expect_silence(int fd) {
  pf_frame f;
  int errors = 0;
  while (pf_recv(fd, &f) == 0)
    if (f.body == 17) errors++;
  return errors ? 3 : 0;
}

static int fake_main(int fd, fake_hello h, fake_kind k) {
  static pf_buf b;
  char preface[TETHER_PREFACE_LEN];
  if (h == FH_PREFACE) {
    pf_write_all(fd, "HTTP/1.1 200 OK\r\n", 17);
    return fake_drain(fd, 0) == 0 ? 5 : 0;
  }
  pf_preface(fd);
  switch (h) {
    case FH_FRAME_FIRST: pf_spawned(fd, 1, 42); break;
    case FH_WRONG_ROLE:
      pf_hello_body(&b, 1, 1, 1);
      pf_send(fd, 0, 2, &b);
      break;
    case FH_VERSION:
      pf_hello_body(&b, 5, 7, 2);
      pf_send(fd, 0, 2, &b);
      break;
    case FH_SILENT:
      /* Never says Hello; expects Error{TIMEOUT, fatal} and the close. */
      if (pf_read_full(fd, preface, sizeof preface) < 0) return 6;
      return fake_drain(fd, 9);
    case FH_GARBAGE: pf_send_raw(fd, "\xff\xff\xff", 3); break;
    case FH_MAX_SESSIONS_0:
      pf_hello_body(&b, 1, 1, 2);
      b.n -= 3; /* drop max_sessions (40 80 08): it is 0 */
      pf_send(fd, 0, 2, &b);
      break;
    default:
      if (k == FK_FLOW || k == FK_PTY_FLOW || k == FK_CREDIT_OVER_WINDOW ||
          k == FK_CREDIT_STDIN_NULL) {
        /* Flow control on, with a 64 KiB window. */
        pf_hello_body(&b, 1, 1, 2);
        pf_uint(&b, 6, 5);
        pf_uint(&b, 9, 65536);
        pf_uint(&b, 10, 1 << 20);
        pf_send(fd, 0, 2, &b);
      } else {
        pf_hello(fd);
      }
      break;
  }
  if (pf_read_full(fd, preface, sizeof preface) < 0) return 6;
  if (h == FH_VERSION) return fake_drain(fd, 2);
  if (h != FH_OK) return fake_drain(fd, 1);
  if (k == FK_HELLO_CAPS) {
    /* A parent lists only CAPABILITY_FLOW_CONTROL (PROTOCOL.md §5.2). */
    pf_frame f;
    if (pf_recv(fd, &f) < 0 || f.body != 2) return 30;
    size_t i = 0;
    while (i < f.bn) {
      uint64_t tag, v;
      if (pf_getvarint(f.bd, f.bn, &i, &tag) < 0) return 31;
      if ((tag & 7) == 2) {
        if (pf_getvarint(f.bd, f.bn, &i, &v) < 0 || v > f.bn - i) return 32;
        if ((tag >> 3) == 6 && !(v == 1 && f.bd[i] == 5)) return 33;
        i += (size_t)v;
      } else if ((tag & 7) == 0) {
        if (pf_getvarint(f.bd, f.bn, &i, &v) < 0) return 34;
        if ((tag >> 3) == 6 && v != 5) return 35; /* unpacked */
      } else {
        return 36;
      }
    }
  }

  uint32_t sid = fake_await_spawn(fd);
  switch (k) {
    case FK_GARBAGE: pf_send_raw(fd, "\x0a\xff\xff\xff", 4); break;
    case FK_OUTPUT_BEFORE_SPAWNED: pf_output(fd, sid, 1, "x", 1, 0); break;
    case FK_OUTPUT_AFTER_EXITED:
      pf_spawned(fd, sid, 42);
      pf_exited(fd, sid, 0);
      pf_output(fd, sid, 1, "x", 1, 0);
      break;
    case FK_OFFSET_SKIP:
      pf_spawned(fd, sid, 42);
      pf_output(fd, sid, 1, "x", 1, 5);
      break;
    case FK_OFFSET_REPEAT:
      pf_spawned(fd, sid, 42);
      pf_output(fd, sid, 1, "ab", 2, 0);
      pf_output(fd, sid, 1, "c", 1, 1);
      break;
    case FK_EXITED_BEFORE_SPAWNED: pf_exited(fd, sid, 0); break;
    case FK_TWO_EXITED:
      pf_spawned(fd, sid, 42);
      pf_exited(fd, sid, 0);
      pf_exited(fd, sid, 0);
      break;
    case FK_SPAWNFAILED_AFTER_SPAWNED:
      pf_spawned(fd, sid, 42);
      pf_spawn_failed(fd, sid);
      break;
    case FK_UNKNOWN_SESSION: pf_spawned(fd, sid + 98, 42); break;
    case FK_BAD_STREAM:
      pf_spawned(fd, sid, 42);
      pf_output(fd, sid, 3, "x", 1, 0);
      pf_output(fd, sid, 1, "ok", 2, 0);
      pf_exited(fd, sid, 0);
      return fake_expect_report(fd, sid, 8);
    case FK_STDERR_WHEN_MERGED:
      pf_spawned(fd, sid, 42);
      pf_output(fd, sid, 2, "x", 1, 0);
      pf_output(fd, sid, 1, "ok", 2, 0);
      pf_exited(fd, sid, 0);
      return fake_expect_report(fd, sid, 8);
    case FK_EMPTY_DATA:
      pf_spawned(fd, sid, 42);
      pf_output(fd, sid, 1, "", 0, 0);
      pf_output(fd, sid, 1, "ok", 2, 0);
      pf_exited(fd, sid, 0);
      return fake_expect_report(fd, sid, 8);
    case FK_SESSION_FRAME_ON_0: pf_spawned(fd, 0, 42); break;
    case FK_PARENT_ONLY_FRAME:
      b.n = 0;
      pf_bytes(&b, 1, "x", 1);
      pf_send(fd, sid, 8, &b);
      break;
    case FK_SECOND_HELLO: pf_hello(fd); break;
    case FK_OVER_CAP:
      pf_spawned(fd, sid, 42);
      pf_output(fd, sid, 1, "0123456789abc", 13, 0);
      break;
    case FK_TOO_LARGE: {
      uint8_t hdr[4] = { 0, 0, 0, 0x7f };
      pf_write_all(fd, hdr, 4);
      break;
    }
    case FK_STDOUT_ON_PTY:
      pf_spawned(fd, sid, 42);
      pf_output(fd, sid, 1, "x", 1, 0);
      pf_output(fd, sid, 3, "ok", 2, 0);
      pf_exited(fd, sid, 0);
      return fake_expect_report(fd, sid, 8);
    case FK_EOF_MID_SESSION:
      pf_spawned(fd, sid, 42);
      pf_output(fd, sid, 1, "partial", 7, 0);
      return 0;
    case FK_FATAL_ERROR:
      pf_spawned(fd, sid, 42);
      pf_error(fd, 0, 7, 1, "boom: the fake runner gives up");
      return 0;
    case FK_SESSION_ERROR:
      pf_spawned(fd, sid, 42);
      pf_error(fd, sid, 6, 0, "stdin queue full (fake)");
      pf_output(fd, sid, 1, "ok", 2, 0);
      pf_exited(fd, sid, 0);
      return fake_drain(fd, 999) == 3 ? 0 : 7; /* no fatal Error expected */
    case FK_FREED_SESSION: {
      /* The parent frees session 1 at once (Terminate), then spawns 2. */
      uint32_t sid2 = fake_await_spawn(fd);
      pf_spawned(fd, sid, 42);
      pf_output(fd, sid, 1, "late", 4, 0);
      pf_exited(fd, sid, 0);
      pf_spawned(fd, sid2, 43);
      pf_output(fd, sid2, 1, "two", 3, 0);
      pf_exited(fd, sid2, 0);
      return fake_drain(fd, 999) == 3 ? 0 : 7;
    }
    case FK_STALL: sleep(20); return 0;
    case FK_FLOW: {
      pf_frame f;
      uint64_t got = 0;
      pf_spawned(fd, sid, 42);
      while (got < 65536) {
        if (pf_recv(fd, &f) < 0) return 10;
        if (f.body == 8) got += pf_body_field(&f, 1);
      }
      if (got != 65536) return 11; /* sent past its credit */
      struct pollfd pl = { .fd = fd, .events = POLLIN };
      if (poll(&pl, 1, 200) != 0) return 12; /* anything more now is too much */
      b.n = 0;
      pf_uint(&b, 1, 4);
      pf_uint(&b, 2, 200000 - 65536); /* within max_window (the parent's 256 KiB) */
      pf_send(fd, sid, 13, &b); /* Credit{STDIN} */
      int closed = 0;
      while (!closed) {
        if (pf_recv(fd, &f) < 0) return 13;
        if (f.body == 8) got += pf_body_field(&f, 1);
        if (f.body == 9) closed = 1;
      }
      if (got != 200000) return 14;
      static char chunk[65536];
      pf_output(fd, sid, 1, chunk, sizeof chunk, 0); /* the whole window */
      uint64_t credit = 0;
      while (credit < 65536) {
        if (pf_recv(fd, &f) < 0) return 15;
        if (f.body == 13 && pf_body_field(&f, 1) == 1) credit += pf_body_field(&f, 2);
      }
      pf_output(fd, sid, 1, "z", 1, 65536);
      pf_exited(fd, sid, 0);
      return fake_drain(fd, 999) == 3 ? 0 : 7;
    }
    case FK_PTY_FLOW: {
      /* A pty session: the Spawn says so, output is STREAM_PTY, the parent
       * grants Credit{PTY} (nothing else) and sends the Resize. */
      pf_frame f;
      uint64_t credit = 0, rows = 0, cols = 0;
      if (fake_spawn_io != 2 || fake_spawn_rows != 30 || fake_spawn_cols != 100) return 20;
      pf_spawned(fd, sid, 42);
      static char chunk[65536];
      pf_output(fd, sid, 3, chunk, sizeof chunk, 0); /* the whole window */
      while (credit < 65536 || rows == 0) {
        if (pf_recv(fd, &f) < 0) return 21;
        if (f.body == 13) {
          if (pf_body_field(&f, 1) != 3) return 22;
          credit += pf_body_field(&f, 2);
        }
        if (f.body == 10) {
          rows = pf_body_field(&f, 1);
          cols = pf_body_field(&f, 2);
        }
      }
      if (credit != 65536 || rows != 40 || cols != 120) return 23;
      pf_output(fd, sid, 3, "z", 1, 65536);
      pf_exited(fd, sid, 0);
      return fake_drain(fd, 999) == 3 ? 0 : 7;
    }
    case FK_CREDIT_OVER_WINDOW: {
      /* 64 KiB window, 256 KiB max_window (the parent's): the parent has
       * sent its 64 KiB, so its outstanding credit is 0. Grants of 2^64-1
       * and of max_window + 1 are refused whole (Error{LIMIT}) and no
       * stdin byte follows them (an obeying parent would send the other
       * 134464 bytes right after its reply); max_window exactly fits. */
      static const uint64_t grants[] = { UINT64_MAX, 262145, 262144 };
      pf_frame f;
      uint64_t got = 0;
      pf_spawned(fd, sid, 42);
      while (got < 65536) {
        if (pf_recv(fd, &f) < 0) return 40;
        if (f.body == 8) got += pf_body_field(&f, 1);
      }
      for (int g = 0; g < 3; g++) {
        b.n = 0;
        pf_uint(&b, 1, 4);
        pf_uint(&b, 2, grants[g]);
        pf_send(fd, sid, 13, &b);
        if (g == 2) break;
        int limit_seen = 0;
        while (!limit_seen) {
          if (pf_recv(fd, &f) < 0) return 41;
          if (f.body == 8) got += pf_body_field(&f, 1);
          if (f.body == 17) {
            uint32_t code;
            int fatal;
            pf_error_fields(&f, &code, &fatal);
            if (code != 6 || fatal || f.session != sid) return 42;
            limit_seen = 1;
          }
        }
        if (got != 65536) return 43;
      }
      while (got < 200000) {
        if (pf_recv(fd, &f) < 0) return 44;
        if (f.body == 8) got += pf_body_field(&f, 1);
        if (f.body == 17) return 45; /* the grant at max_window was refused */
      }
      if (got != 200000) return 46;
      pf_exited(fd, sid, 0);
      return fake_drain(fd, 999) == 3 ? 0 : 7;
    }
    case FK_CREDIT_STDIN_NULL:
      pf_spawned(fd, sid, 42);
      b.n = 0;
      pf_uint(&b, 1, 4);
      pf_uint(&b, 2, 100);
      pf_send(fd, sid, 13, &b);
      pf_output(fd, sid, 1, "ok", 2, 0);
      pf_exited(fd, sid, 0);
      return fake_expect_report(fd, sid, 8);
    case FK_EXITED_NO_STATUS:
      pf_spawned(fd, sid, 42);
      pf_output(fd, sid, 1, "x", 1, 0);
      pf_send(fd, sid, 16, NULL); /* Exited{}: no code, no signal */
      return fake_expect_report(fd, sid, 8);
    case FK_TWO_BODIES: {
      pf_buf f;
      pf_spawned(fd, sid, 42);
      f.n = 0;
      pf_uint(&f, 1, sid);
      b.n = 0;
      pf_uint(&b, 1, 1);
      pf_bytes(&b, 2, "lost", 4);
      pf_bytes(&f, 6, b.b, b.n); /* Output */
      b.n = 0;
      pf_uint(&b, 1, 0);
      pf_bytes(&f, 16, b.b, b.n); /* and Exited{code 0} */
      pf_send_raw(fd, f.b, f.n);
      break; /* Error{PROTOCOL, fatal} expected */
    }
    case FK_ERROR_UNKNOWN_SESSION:
      pf_spawned(fd, sid, 42);
      pf_error(fd, sid + 98, 4, 0, "no session 99");
      pf_error(fd, sid + 99, 77, 0, "a code from the future");
      pf_output(fd, sid, 1, "ok", 2, 0);
      pf_exited(fd, sid, 0);
      return fake_expect_silence(fd);
    case FK_ERROR_LONG: {
      static char longmsg[TETHER_MESSAGE_MAX_BYTES + 2];
      memset(longmsg, 'm', TETHER_MESSAGE_MAX_BYTES + 1);
      pf_spawned(fd, sid, 42);
      pf_error(fd, sid, 8, 0, longmsg);
      return fake_expect_silence(fd);
    }
    case FK_ERROR_TIMEOUT_NONFATAL:
      pf_spawned(fd, sid, 42);
      pf_error(fd, 0, 9, 0, "timeout, fatal flag left out");
      return fake_expect_silence(fd);
    case FK_LATE_AFTER_FREE: {
      /* Session 1 ends and is released; then the parent spawns session 2,
       * whose Spawned tells that the release happened; then a late Output
       * for session 1. */
      pf_spawned(fd, sid, 42);
      pf_exited(fd, sid, 0);
      uint32_t sid2 = fake_await_spawn(fd);
      pf_spawned(fd, sid2, 43);
      pf_output(fd, sid, 1, "late", 4, 0);
      break; /* Error{PROTOCOL, fatal} expected */
    }
    case FK_HELLO_CAPS:
      pf_spawned(fd, sid, 42);
      pf_exited(fd, sid, 0);
      return fake_drain(fd, 999) == 3 ? 0 : 7;
  }
  return fake_drain(fd, 1);
}

typedef struct fake {
  pid_t pid;
  int fd;  /* the parent's end */
} fake;

static fake fake_start(fake_hello h, fake_kind k) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  fake f;
  f.pid = fork();
  CHECK(f.pid >= 0);
  if (f.pid == 0) {
    close(sv[0]);
    _exit(fake_main(sv[1], h, k));
  }
  close(sv[1]);
  f.fd = sv[0];
  return f;
}

static int fake_status(fake *f) {
  int st = 0;
  CHECK(waitpid(f->pid, &st, 0) == f->pid);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void hostile_handshake(fake_hello h, int want_rc, const char *want1, const char *want2) {
  rec g = { 0 };
  tether_parent_options o;
  char err[512] = "";
  options(&o, &g);
  o.error_buf = err;
  o.error_buf_len = sizeof err;
  o.handshake_timeout_ms = 500;
  fake f = fake_start(h, FK_GARBAGE);
  tether_parent *p = (tether_parent *)1;
  int rc = tether_parent_attach_fds(&o, f.fd, f.fd, &p);
  if (rc != want_rc)
    FAIL("attach: %s, want %s (%s)", tether_err_name(rc), tether_err_name(want_rc), err);
  CHECK(p == NULL);
  if (want1 && !strstr(err, want1)) FAIL("\"%s\" lacks \"%s\"", err, want1);
  if (want2 && !strstr(err, want2)) FAIL("\"%s\" lacks \"%s\"", err, want2);
  CHECK_EQ_INT(fake_status(&f), 0);
  LEAK_CHECK();
}

TEST(hostile_frame_before_hello) {
  hostile_handshake(FH_FRAME_FIRST, TETHER_EPROTOCOL, "Spawned", "before its Hello");
}
TEST(hostile_wrong_role) { hostile_handshake(FH_WRONG_ROLE, TETHER_EPROTOCOL, "role", NULL); }
TEST(hostile_version) { hostile_handshake(FH_VERSION, TETHER_EVERSION, "5", "7"); }
TEST(hostile_preface) { hostile_handshake(FH_PREFACE, TETHER_EPREFACE, "not a tether", NULL); }
TEST(hostile_silent) { hostile_handshake(FH_SILENT, TETHER_ETIMEDOUT, "500 ms", NULL); }
TEST(hostile_hello_garbage) {
  hostile_handshake(FH_GARBAGE, TETHER_EPROTOCOL, "does not decode", NULL);
}

typedef struct hostile_run {
  rec g;
  srec r, r2;
  tether_parent *p;
  tether_session *s, *s2;
  fake f;
} hostile_run;

/* The io mode of hostile_open's session (30x100 for a pty). */
static tether_io_mode hostile_io_mode = TETHER_IO_MODE_PIPES;
static tether_stdin_mode hostile_stdin_mode = TETHER_STDIN_MODE_PIPE;

static void hostile_open(hostile_run *h, fake_kind k, int merge, uint64_t cap) {
  tether_parent_options o;
  memset(h, 0, sizeof *h);
  options(&o, &h->g);
  o.write_timeout_ms = 300;
  o.shutdown_timeout_ms = 1000;
  h->f = fake_start(FH_OK, k);
  CHECK_OK(tether_parent_attach_fds(&o, h->f.fd, h->f.fd, &h->p));
  h->g.p = NULL; /* no in-callback checks here */
  tether_runner_info info;
  tether_parent_runner_info(h->p, &info);
  CHECK_EQ_STR(info.implementation, "fake-runner");
  CHECK_EQ_INT(info.pid, -1);
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  const char *argv[] = { "whatever", NULL };
  so.argv = argv;
  so.merge_stderr = merge;
  so.stdout_cap = cap;
  so.userdata = &h->r;
  so.io_mode = hostile_io_mode;
  so.stdin_mode = hostile_stdin_mode;
  if (hostile_io_mode == TETHER_IO_MODE_PTY) {
    so.pty_rows = 30;
    so.pty_cols = 100;
  }
  CHECK_OK(tether_session_spawn(h->p, &so, &h->s));
}

/* Ends a hostile run that the parent survived: the fake runner saw
 * nothing fatal from us (fake_status 0). */
static void hostile_close_clean(hostile_run *h) {
  tether_session_free(h->s);
  CHECK_OK(tether_parent_free(h->p));
  CHECK_EQ_INT(fake_status(&h->f), 0);
  srec_free(&h->r);
}

static void hostile_violation(fake_kind k, int merge, uint64_t cap, const char *want) {
  hostile_run h;
  hostile_open(&h, k, merge, cap);
  uint64_t t0 = test_now_ms();
  while (h.g.conn_errors == 0) {
    int rc = tether_parent_run(h.p, 3000);
    if (rc == TETHER_ETIMEDOUT || test_now_ms() - t0 > 5000) FAIL("no protocol error");
  }
  CHECK_EQ_INT(h.g.conn_code, TETHER_EPROTOCOL);
  if (!strstr(h.g.conn_msg, want)) FAIL("\"%s\" lacks \"%s\"", h.g.conn_msg, want);
  /* The session ends with the connection, unless it had already ended. */
  if (!h.r.exited) {
    CHECK_EQ_INT(h.r.nerrors, 1);
    CHECK_EQ_INT(h.r.last_error, TETHER_EPROTOCOL);
  }
  CHECK(tether_session_done(h.s));
  CHECK_EQ_INT(tether_parent_process(h.p), TETHER_ECLOSED);
  CHECK_EQ_INT(tether_session_write(h.s, "x", 1), TETHER_ECLOSED);
  tether_session_free(h.s);
  CHECK_OK(tether_parent_free(h.p));
  CHECK_EQ_INT(fake_status(&h.f), 0); /* it received Error{PROTOCOL, fatal} */
  srec_free(&h.r);
  LEAK_CHECK();
}

TEST(hostile_garbage) { hostile_violation(FK_GARBAGE, 0, TETHER_OUTPUT_UNCAPPED, "does not decode"); }
TEST(hostile_output_before_spawned) {
  hostile_violation(FK_OUTPUT_BEFORE_SPAWNED, 0, TETHER_OUTPUT_UNCAPPED, "Output for session 1 before Spawned");
}
TEST(hostile_output_after_exited) {
  hostile_violation(FK_OUTPUT_AFTER_EXITED, 0, TETHER_OUTPUT_UNCAPPED, "Output for session 1 after it was over");
}
TEST(hostile_offset_skip) { hostile_violation(FK_OFFSET_SKIP, 0, TETHER_OUTPUT_UNCAPPED, "skipped"); }
TEST(hostile_offset_repeat) { hostile_violation(FK_OFFSET_REPEAT, 0, TETHER_OUTPUT_UNCAPPED, "repeated"); }
TEST(hostile_exited_before_spawned) {
  hostile_violation(FK_EXITED_BEFORE_SPAWNED, 0, TETHER_OUTPUT_UNCAPPED, "Exited for session 1 before Spawned");
}
TEST(hostile_two_exited) { hostile_violation(FK_TWO_EXITED, 0, TETHER_OUTPUT_UNCAPPED, "second Exited"); }
TEST(hostile_spawnfailed_after_spawned) {
  hostile_violation(FK_SPAWNFAILED_AFTER_SPAWNED, 0, TETHER_OUTPUT_UNCAPPED, "SpawnFailed for session 1 after Spawned");
}
TEST(hostile_unknown_session) {
  hostile_violation(FK_UNKNOWN_SESSION, 0, TETHER_OUTPUT_UNCAPPED, "session 99, which was never created");
}
/* A well-formed frame with a bad value: Error{INVALID} on its session, the
 * frame ignored, the session and the connection go on (PROTOCOL.md §6.4). */
static void hostile_invalid(fake_kind k, int merge) {
  hostile_run h;
  hostile_open(&h, k, merge, TETHER_OUTPUT_UNCAPPED);
  tether_exit_status st;
  CHECK_OK(tether_session_wait(h.s, 5000, &st));
  CHECK(st.exited && st.code == 0);
  CHECK_EQ_MEM(h.r.out[0], h.r.len[0], "ok", 2);
  CHECK_EQ_INT(h.r.len[1], 0);
  CHECK_EQ_INT(h.g.conn_errors + h.g.session_errors, 0);
  tether_session_free(h.s);
  CHECK_OK(tether_parent_free(h.p));
  CHECK_EQ_INT(fake_status(&h.f), 0); /* it got Error{INVALID}, nothing fatal */
  srec_free(&h.r);
  LEAK_CHECK();
}

TEST(hostile_bad_stream) { hostile_invalid(FK_BAD_STREAM, 0); }
TEST(hostile_stderr_when_merged) { hostile_invalid(FK_STDERR_WHEN_MERGED, 1); }
TEST(hostile_empty_data) { hostile_invalid(FK_EMPTY_DATA, 0); }
TEST(hostile_credit_stdin_null) {
  hostile_stdin_mode = TETHER_STDIN_MODE_NULL;
  hostile_invalid(FK_CREDIT_STDIN_NULL, 0);
}
TEST(hostile_session_frame_on_0) {
  hostile_violation(FK_SESSION_FRAME_ON_0, 0, TETHER_OUTPUT_UNCAPPED, "session 0");
}
TEST(hostile_parent_only_frame) {
  hostile_violation(FK_PARENT_ONLY_FRAME, 0, TETHER_OUTPUT_UNCAPPED, "only a parent sends");
}
TEST(hostile_second_hello) { hostile_violation(FK_SECOND_HELLO, 0, TETHER_OUTPUT_UNCAPPED, "second Hello"); }
TEST(hostile_over_cap) { hostile_violation(FK_OVER_CAP, 0, 10, "past its cap"); }
TEST(hostile_too_large) { hostile_violation(FK_TOO_LARGE, 0, TETHER_OUTPUT_UNCAPPED, "bad frame"); }
TEST(hostile_stdout_on_pty) {
  hostile_io_mode = TETHER_IO_MODE_PTY;
  hostile_run h;
  hostile_open(&h, FK_STDOUT_ON_PTY, 0, TETHER_OUTPUT_UNCAPPED);
  tether_exit_status st;
  CHECK_OK(tether_session_wait(h.s, 5000, &st));
  CHECK_EQ_MEM(h.r.out[0], h.r.len[0], "ok", 2);
  CHECK_EQ_INT(h.r.streams, 1u << TETHER_STREAM_PTY);
  CHECK_EQ_INT(h.g.conn_errors + h.g.session_errors, 0);
  hostile_close_clean(&h);
  LEAK_CHECK();
}

TEST(hostile_eof_mid_session) {
  hostile_run h;
  hostile_open(&h, FK_EOF_MID_SESSION, 0, TETHER_OUTPUT_UNCAPPED);
  CHECK_EQ_INT(tether_session_wait(h.s, 5000, NULL), TETHER_ECLOSED);
  CHECK_EQ_MEM(h.r.out[0], h.r.len[0], "partial", 7);
  CHECK_EQ_INT(h.r.last_error, TETHER_ECLOSED);
  CHECK(strstr(h.r.err_msg, "runner") != NULL);
  CHECK_EQ_INT(h.g.conn_errors, 1);
  hostile_close_clean(&h);
  LEAK_CHECK();
}

TEST(hostile_fatal_error_frame) {
  hostile_run h;
  hostile_open(&h, FK_FATAL_ERROR, 0, TETHER_OUTPUT_UNCAPPED);
  CHECK_EQ_INT(tether_session_wait(h.s, 5000, NULL), TETHER_ECLOSED);
  CHECK(strstr(h.g.conn_msg, "boom") != NULL);
  CHECK(strstr(h.r.err_msg, "boom") != NULL);
  tether_session_free(h.s);
  CHECK_OK(tether_parent_free(h.p));
  CHECK_EQ_INT(fake_status(&h.f), 0);
  LEAK_CHECK();
}

TEST(hostile_session_error_is_report) {
  hostile_run h;
  hostile_open(&h, FK_SESSION_ERROR, 0, TETHER_OUTPUT_UNCAPPED);
  tether_exit_status st;
  CHECK_OK(tether_session_wait(h.s, 5000, &st));
  CHECK_EQ_INT(h.r.nerrors, 1);
  CHECK_EQ_INT(h.r.last_error, TETHER_ELIMIT); /* Error{LIMIT} */
  CHECK(strstr(h.r.err_msg, "stdin queue full") != NULL);
  CHECK_EQ_MEM(h.r.out[0], h.r.len[0], "ok", 2);
  CHECK_EQ_INT(h.g.conn_errors, 0);
  hostile_close_clean(&h);
  LEAK_CHECK();
}

TEST(hostile_freed_session_dropped) {
  hostile_run h;
  hostile_open(&h, FK_FREED_SESSION, 0, TETHER_OUTPUT_UNCAPPED);
  tether_session_free(h.s);
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  const char *argv[] = { "two", NULL };
  so.argv = argv;
  so.userdata = &h.r2;
  CHECK_OK(tether_session_spawn(h.p, &so, &h.s2));
  CHECK_OK(tether_session_wait(h.s2, 5000, NULL));
  CHECK_EQ_MEM(h.r2.out[0], h.r2.len[0], "two", 3);
  CHECK_EQ_INT(h.r.spawned + h.r.exited + h.r.nerrors, 0);
  CHECK_EQ_INT(h.g.conn_errors + h.g.session_errors, 0);
  tether_session_free(h.s2);
  CHECK_OK(tether_parent_free(h.p));
  CHECK_EQ_INT(fake_status(&h.f), 0);
  srec_free(&h.r2);
  LEAK_CHECK();
}

TEST(hostile_max_sessions_0) {
  hostile_handshake(FH_MAX_SESSIONS_0, TETHER_EPROTOCOL, "max_sessions 0", NULL);
}

TEST(hostile_two_bodies) {
  hostile_violation(FK_TWO_BODIES, 0, TETHER_OUTPUT_UNCAPPED, "two members of a oneof");
}

/* Credit{STDIN} past max_window (2^64-1, max_window + 1): Error{LIMIT},
 * the whole grant ignored; exactly max_window is obeyed. The fake checks
 * the stdin bytes after each grant. */
TEST(hostile_credit_over_window) {
  hostile_run h;
  hostile_open(&h, FK_CREDIT_OVER_WINDOW, 0, TETHER_OUTPUT_UNCAPPED);
  static char data[200000];
  CHECK_OK(tether_session_write(h.s, data, sizeof data));
  tether_exit_status st;
  CHECK_OK(tether_session_wait(h.s, 5000, &st));
  CHECK_EQ_INT(h.g.conn_errors + h.g.session_errors, 0);
  hostile_close_clean(&h);
  LEAK_CHECK();
}

/* Exited with neither code nor signal: never "exited 0". The session is
 * over with TETHER_EPROTOCOL, the runner gets Error{INVALID}, and the
 * connection goes on. */
TEST(hostile_exited_no_status) {
  hostile_run h;
  hostile_open(&h, FK_EXITED_NO_STATUS, 0, TETHER_OUTPUT_UNCAPPED);
  tether_exit_status st;
  memset(&st, 0, sizeof st);
  CHECK_EQ_INT(tether_session_wait(h.s, 5000, &st), TETHER_EPROTOCOL);
  CHECK_EQ_INT(h.r.exited, 0);
  CHECK_EQ_INT(h.r.nerrors, 1);
  CHECK_EQ_INT(h.r.last_error, TETHER_EPROTOCOL);
  CHECK(strstr(h.r.err_msg, "neither code nor signal") != NULL);
  CHECK_EQ_INT(h.g.conn_errors, 0);
  CHECK_EQ_INT(tether_parent_process(h.p), 0); /* still connected */
  hostile_close_clean(&h);
  LEAK_CHECK();
}

/* An Error is never answered: neither one for a session that was never
 * created nor one with a code this build does not know; both are reports
 * about nothing live, and the session goes on. */
TEST(hostile_error_unknown_session) {
  hostile_run h;
  hostile_open(&h, FK_ERROR_UNKNOWN_SESSION, 0, TETHER_OUTPUT_UNCAPPED);
  tether_exit_status st;
  CHECK_OK(tether_session_wait(h.s, 5000, &st));
  CHECK_EQ_MEM(h.r.out[0], h.r.len[0], "ok", 2);
  CHECK_EQ_INT(h.g.conn_errors + h.g.session_errors, 0);
  tether_session_free(h.s);
  CHECK_OK(tether_parent_free(h.p));
  CHECK_EQ_INT(fake_status(&h.f), 0); /* no Error came back */
  srec_free(&h.r);
  LEAK_CHECK();
}

/* Fatal without an answer: an Error with a message over 1024 bytes is
 * undecodable, and Error{TIMEOUT, fatal: false} is fatal by its code. */
static void hostile_silent_end(fake_kind k, int want_code, const char *want) {
  hostile_run h;
  hostile_open(&h, k, 0, TETHER_OUTPUT_UNCAPPED);
  CHECK(tether_session_wait(h.s, 5000, NULL) < 0);
  CHECK_EQ_INT(h.g.conn_errors, 1);
  CHECK_EQ_INT(h.g.conn_code, want_code);
  if (!strstr(h.g.conn_msg, want)) FAIL("\"%s\" lacks \"%s\"", h.g.conn_msg, want);
  tether_session_free(h.s);
  CHECK_OK(tether_parent_free(h.p));
  CHECK_EQ_INT(fake_status(&h.f), 0); /* no Error came back */
  srec_free(&h.r);
  LEAK_CHECK();
}
TEST(hostile_error_long) { hostile_silent_end(FK_ERROR_LONG, TETHER_EPROTOCOL, "1024"); }
TEST(hostile_error_timeout_nonfatal) {
  hostile_silent_end(FK_ERROR_TIMEOUT_NONFATAL, TETHER_ECLOSED, "fatal flag left out");
}

/* A frame for a session that is over stays a violation after the embedder
 * released the session (PROTOCOL.md §6.4: one behaviour, fatal). */
TEST(hostile_late_after_free) {
  hostile_run h;
  hostile_open(&h, FK_LATE_AFTER_FREE, 0, TETHER_OUTPUT_UNCAPPED);
  CHECK_OK(tether_session_wait(h.s, 5000, NULL));
  tether_session_free(h.s);
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  const char *argv[] = { "two", NULL };
  so.argv = argv;
  so.userdata = &h.r2;
  CHECK_OK(tether_session_spawn(h.p, &so, &h.s2));
  CHECK_EQ_INT(tether_session_wait(h.s2, 5000, NULL), TETHER_EPROTOCOL);
  CHECK_EQ_INT(h.g.conn_code, TETHER_EPROTOCOL);
  if (!strstr(h.g.conn_msg, "Output for session 1 after it was over"))
    FAIL("conn_msg: %s", h.g.conn_msg);
  CHECK_EQ_INT(h.r2.len[0], 0);
  tether_session_free(h.s2);
  CHECK_OK(tether_parent_free(h.p));
  CHECK_EQ_INT(fake_status(&h.f), 0); /* it got Error{PROTOCOL, fatal} */
  srec_free(&h.r2);
  LEAK_CHECK();
}

TEST(hostile_hello_caps) {
  hostile_run h;
  hostile_open(&h, FK_HELLO_CAPS, 0, TETHER_OUTPUT_UNCAPPED);
  CHECK_OK(tether_session_wait(h.s, 5000, NULL));
  tether_session_free(h.s);
  CHECK_OK(tether_parent_free(h.p));
  CHECK_EQ_INT(fake_status(&h.f), 0);
  LEAK_CHECK();
}

TEST(hostile_stalled_runner) {
  hostile_run h;
  hostile_open(&h, FK_STALL, 0, TETHER_OUTPUT_UNCAPPED);
  /* The runner reads nothing: big Spawns fill the socket and the queue. */
  static char big[100000];
  memset(big, 'a', sizeof big - 1);
  const char *argv[] = { "x", big, NULL };
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.argv = argv;
  int rc = 0, n = 0;
  uint64_t t0 = test_now_ms();
  tether_session *ss[200];
  while (rc == 0 && n < 200) {
    rc = tether_session_spawn(h.p, &so, &ss[n]);
    if (rc == 0) n++;
  }
  CHECK_EQ_INT(rc, TETHER_ETIMEDOUT);
  CHECK(test_now_ms() - t0 < 5000);
  t0 = test_now_ms();
  CHECK_OK(tether_parent_free(h.p)); /* does not hang either */
  CHECK(test_now_ms() - t0 < 8000);
  kill(h.f.pid, SIGKILL);
  fake_status(&h.f);
  LEAK_CHECK();
}

TEST(flow_control) {
  hostile_run h;
  hostile_open(&h, FK_FLOW, 0, TETHER_OUTPUT_UNCAPPED);
  static char data[200000];
  CHECK_OK(tether_session_write(h.s, data, sizeof data));
  CHECK_OK(tether_session_close_stdin(h.s));
  tether_exit_status st;
  CHECK_OK(tether_session_wait(h.s, 5000, &st));
  CHECK_EQ_INT(h.r.len[0], 65537);
  CHECK_EQ_INT(h.g.conn_errors + h.g.session_errors, 0);
  hostile_close_clean(&h);
  LEAK_CHECK();
}

TEST(pty_flow_control) {
  hostile_run h;
  hostile_io_mode = TETHER_IO_MODE_PTY;
  hostile_open(&h, FK_PTY_FLOW, 0, TETHER_OUTPUT_UNCAPPED);
  CHECK_OK(tether_session_resize(h.s, 40, 120)); /* allowed before Spawned */
  tether_exit_status st;
  CHECK_OK(tether_session_wait(h.s, 5000, &st));
  CHECK_EQ_INT(h.r.len[0], 65537);
  CHECK_EQ_INT(st.stdout_bytes, 65537);
  CHECK_EQ_INT(h.r.streams, 1u << TETHER_STREAM_PTY);
  CHECK_EQ_INT(h.g.conn_errors + h.g.session_errors, 0);
  hostile_close_clean(&h);
  LEAK_CHECK();
}

/* tether_session_pause_output holds credit back: a flood stops after one
 * window and the child stays blocked until resume grants it again. */
TEST(pause_output) {
  rec g = { 0 };
  srec r = { 0 };
  tether_parent_options o;
  options(&o, &g);
  o.window = 64 << 10;
  tether_parent *p = NULL;
  CHECK_OK(tether_parent_start(&o, &p));
  g.p = p;
  const char *argv[] = { "head", "-c", "10000000", "/dev/zero", NULL };
  tether_session *s = spawn(p, &r, argv);
  CHECK_EQ_INT(tether_session_pause_output(s, TETHER_STREAM_PTY), TETHER_EINVAL);
  CHECK_EQ_INT(tether_session_pause_output(s, 99), TETHER_EINVAL);
  CHECK_OK(tether_session_pause_output(s, TETHER_STREAM_STDOUT));
  CHECK_OK(tether_session_pause_output(s, TETHER_STREAM_STDOUT)); /* no-op */
  /* Process until nothing more arrives. */
  while (tether_parent_run(p, 500) == 0) {
  }
  CHECK(r.len[0] > 0);
  CHECK(r.len[0] <= (size_t)o.window);
  CHECK_EQ_INT(r.exited, 0);
  CHECK_OK(tether_session_status(s));
  while (!r.status_seen) CHECK_OK(tether_parent_run(p, 10000));
  CHECK_EQ_INT(r.status_running, 1);
  CHECK_OK(tether_session_resume_output(s, TETHER_STREAM_STDOUT));
  CHECK_OK(tether_session_resume_output(s, TETHER_STREAM_STDOUT)); /* no-op */
  tether_exit_status st;
  CHECK_OK(tether_session_wait(s, 30000, &st));
  CHECK_EQ_INT(r.len[0], 10000000);
  CHECK_EQ_INT(st.code, 0);
  CHECK_EQ_INT(tether_session_resume_output(s, TETHER_STREAM_STDOUT), TETHER_ESTATE);
  CHECK_EQ_INT(g.session_errors + g.conn_errors, 0);
  tether_session_free(s);
  CHECK_OK(tether_parent_free(p));
  srec_free(&r);
  LEAK_CHECK();
}

TEST_MAIN(TEST_ENTRY(printf_exit7), TEST_ENTRY(missing_program), TEST_ENTRY(stdin_cat),
          TEST_ENTRY(signals), TEST_ENTRY(terminate_and_timeout), TEST_ENTRY(capture_caps),
          TEST_ENTRY(concurrent_200), TEST_ENTRY(runner_killed),
          TEST_ENTRY(free_kills_everything), TEST_ENTRY(sequential_1000),
          TEST_ENTRY(session_free_anytime), TEST_ENTRY(event_loop_poll),
          TEST_ENTRY(event_loop_epoll_edge_triggered),
          TEST_ENTRY(bad_options), TEST_ENTRY(stdio_runner_and_unix_socket),
          TEST_ENTRY(hostile_frame_before_hello), TEST_ENTRY(hostile_wrong_role),
          TEST_ENTRY(hostile_version), TEST_ENTRY(hostile_preface), TEST_ENTRY(hostile_silent),
          TEST_ENTRY(hostile_hello_garbage), TEST_ENTRY(hostile_garbage),
          TEST_ENTRY(hostile_output_before_spawned), TEST_ENTRY(hostile_output_after_exited),
          TEST_ENTRY(hostile_offset_skip), TEST_ENTRY(hostile_offset_repeat),
          TEST_ENTRY(hostile_exited_before_spawned), TEST_ENTRY(hostile_two_exited),
          TEST_ENTRY(hostile_spawnfailed_after_spawned), TEST_ENTRY(hostile_unknown_session),
          TEST_ENTRY(hostile_bad_stream), TEST_ENTRY(hostile_stderr_when_merged),
          TEST_ENTRY(hostile_empty_data), TEST_ENTRY(hostile_session_frame_on_0),
          TEST_ENTRY(hostile_parent_only_frame), TEST_ENTRY(hostile_second_hello),
          TEST_ENTRY(hostile_over_cap), TEST_ENTRY(hostile_too_large),
          TEST_ENTRY(hostile_eof_mid_session), TEST_ENTRY(hostile_fatal_error_frame),
          TEST_ENTRY(hostile_session_error_is_report), TEST_ENTRY(hostile_freed_session_dropped),
          TEST_ENTRY(hostile_stalled_runner), TEST_ENTRY(flow_control),
          TEST_ENTRY(hostile_credit_stdin_null), TEST_ENTRY(hostile_max_sessions_0),
          TEST_ENTRY(hostile_two_bodies), TEST_ENTRY(hostile_credit_over_window),
          TEST_ENTRY(hostile_exited_no_status), TEST_ENTRY(hostile_error_unknown_session),
          TEST_ENTRY(hostile_error_long), TEST_ENTRY(hostile_error_timeout_nonfatal),
          TEST_ENTRY(hostile_late_after_free), TEST_ENTRY(hostile_hello_caps),
          TEST_ENTRY(hostile_stdout_on_pty), TEST_ENTRY(pty_flow_control),
          TEST_ENTRY(pty_basic), TEST_ENTRY(pty_resize), TEST_ENTRY(pty_bad_options),
          TEST_ENTRY(pty_stdin_eof), TEST_ENTRY(pty_ctrl_c), TEST_ENTRY(pty_capture),
          TEST_ENTRY(pty_bulk_exact), TEST_ENTRY(pty_last_output_300),
          TEST_ENTRY(pty_terminate_interactive), TEST_ENTRY(pause_output))
