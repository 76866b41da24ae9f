/* tether-runner, driven from outside as a real process by a minimal parent
 * (tests/runner_parent.h: channel + protobuf-c codec). */
#include <sys/stat.h>

#include "runner_parent.h"

static const char *const NOARGS[] = { NULL };

#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void goodbye_and_exit0(rp *c) {
  rp_simple(c, 0, TETHER_MSG_GOODBYE);
  int st = rp_wait_runner(c, 10000);
  CHECK(WIFEXITED(st));
  CHECK_EQ_INT(WEXITSTATUS(st), 0);
  rp_free(c);
}

static void expect_fatal_exit(rp *c, uint32_t code) { rp_expect_fatal_exit(c, code); }

/* Waits until session `id` has more than `n` Errors; returns the newest. */
static uint32_t wait_error_after(rp *c, uint32_t id, int n) {
  uint64_t deadline = test_now_ms() + 10000;
  while (c->s[id].nerrors <= n) {
    if (test_now_ms() > deadline) FAIL("no Error on session %u", id);
    CHECK(rp_pump(c, 1000) >= 0);
  }
  return c->s[id].last_error;
}

/* Pumps for `ms` whatever arrives (the connection must stay up). */
static void pump_for(rp *c, int ms) {
  uint64_t end = test_now_ms() + (uint64_t)ms;
  for (uint64_t now; (now = test_now_ms()) < end;) CHECK(rp_pump(c, (int)(end - now)) >= 0);
}

/* The runner's resident set, KiB. */
static long rss_kib(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  CHECK(f);
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld", &kib) == 1) break;
  fclose(f);
  CHECK(kib > 0);
  return kib;
}

/* ------------------------------------------------------------ handshake */

TEST(handshake) {
  rp c;
  rp_open(&c, NOARGS);
  const tether_msg_hello *h = &c.hello.u.hello;
  CHECK_EQ_INT(h->role, TETHER_ROLE_RUNNER);
  CHECK_EQ_INT(h->version_min, TETHER_PROTOCOL_VERSION_MIN);
  CHECK_EQ_INT(h->version_max, TETHER_PROTOCOL_VERSION_MAX);
  uint32_t want = TETHER_CAP_BIT(TETHER_CAP_PIPES) | TETHER_CAP_BIT(TETHER_CAP_PTY) |
                  TETHER_CAP_BIT(TETHER_CAP_SIGNALS) |
                  TETHER_CAP_BIT(TETHER_CAP_FLOW_CONTROL) |
                  TETHER_CAP_BIT(TETHER_CAP_PROCESS_GROUPS) |
                  TETHER_CAP_BIT(TETHER_CAP_RESOURCE_USAGE) |
                  TETHER_CAP_BIT(TETHER_CAP_RESOURCE_LIMITS);
  /* PERMISSION_PROFILES depends on what the kernel can enforce */
  CHECK_EQ_INT(h->capabilities & ~TETHER_CAP_BIT(TETHER_CAP_PERMISSION_PROFILES), want);
  CHECK_EQ_INT(h->max_frame_size, TETHER_FRAME_MAX_DEFAULT);
  CHECK_EQ_INT(h->max_sessions, TETHER_SESSIONS_MAX_DEFAULT);
  CHECK_EQ_INT(h->initial_window, TETHER_WINDOW_DEFAULT);
  CHECK_EQ_INT(h->max_window, TETHER_WINDOW_MAX);
  goodbye_and_exit0(&c);
  /* configured windows */
  rp_open(&c, ARGV("--window", "65536", "--max-window", "1048576"));
  CHECK_EQ_INT(c.hello.u.hello.initial_window, 65536);
  CHECK_EQ_INT(c.hello.u.hello.max_window, 1048576);
  goodbye_and_exit0(&c);
}

TEST(eof_after_handshake_exits_0) {
  rp c;
  rp_open(&c, NOARGS);
  tether_channel_free(c.ch);
  c.ch = NULL;
  int st = rp_wait_runner(&c, 10000);
  CHECK(WIFEXITED(st));
  CHECK_EQ_INT(WEXITSTATUS(st), 0);
  rp_free(&c);
}

TEST(version_mismatch) {
  rp c;
  rp_start(&c, NOARGS);
  rp_send_hello_versions(&c, 90, 99);
  expect_fatal_exit(&c, TETHER_WIRE_VERSION_UNSUPPORTED);
}

TEST(garbage_preface) {
  rp c;
  rp_start(&c, NOARGS);
  int fd = tether_channel_write_handle(c.ch);
  static const char junk[] = "hello there, runner!\n";
  CHECK(write(fd, junk, sizeof junk - 1) > 0);
  int st = rp_wait_runner(&c, 10000);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) != 0);
  rp_free(&c);
}

TEST(first_frame_not_hello) {
  rp c;
  rp_start(&c, NOARGS);
  rp_simple(&c, 1, TETHER_MSG_STATUS_REQUEST);
  expect_fatal_exit(&c, TETHER_WIRE_PROTOCOL);
}

TEST(second_hello) {
  rp c;
  rp_open(&c, NOARGS);
  rp_send_hello_versions(&c, 1, 1);
  expect_fatal_exit(&c, TETHER_WIRE_PROTOCOL);
}

TEST(handshake_timeout) {
  rp c;
  rp_start(&c, ARGV("--handshake-timeout", "200"));
  uint64_t t0 = test_now_ms();
  rp_until(&c, pred_error0, NULL, 10000, "the timeout Error");
  CHECK(test_now_ms() - t0 >= 150);
  expect_fatal_exit(&c, TETHER_WIRE_TIMEOUT);
}

TEST(stdio_mode) {
  int to_runner[2], from_runner[2];
  CHECK(pipe2(to_runner, O_CLOEXEC) == 0 && pipe2(from_runner, O_CLOEXEC) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    dup2(to_runner[0], 0);
    dup2(from_runner[1], 1);
    execl(TETHER_RUNNER_PATH, "tether-runner", "--stdio", (char *)NULL);
    _exit(127);
  }
  close(to_runner[0]);
  close(from_runner[1]);
  rp c;
  memset(&c, 0, sizeof c);
  c.pid = pid;
  tether_transport *t = NULL;
  CHECK_OK(tether_transport_fd_new(from_runner[0], to_runner[1], &t));
  CHECK_OK(tether_channel_new(t, NULL, &c.ch));
  CHECK_OK(tether_pbc_decoder_new(&c.dec));
  rp_send_hello_versions(&c, 1, 1);
  rp_until(&c, pred_hello, NULL, 10000, "Hello over stdio");
  /* fd 0 and 1 of the runner no longer reach the channel. */
  char path[64], target[256];
  for (int fd = 0; fd < 2; fd++) {
    snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    CHECK(n > 0);
    target[n] = '\0';
    CHECK_EQ_STR(target, "/dev/null");
  }
  rp_spawn_argv(&c, 1, ARGV("/bin/echo", "over stdio"));
  rp_wait_done(&c, 1);
  CHECK_EQ_MEM(c.s[1].out[0], c.s[1].out_len[0], "over stdio\n", 11);
  goodbye_and_exit0(&c);
}

TEST(unix_socket_connect) {
  char path[108];
  snprintf(path, sizeof path, "/tmp/tether-runner-test-%d.sock", (int)getpid());
  unlink(path);
  tether_listener *l = NULL;
  CHECK_OK(tether_listener_unix(path, &l));
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    execl(TETHER_RUNNER_PATH, "tether-runner", "--connect", path, (char *)NULL);
    _exit(127);
  }
  rp c;
  memset(&c, 0, sizeof c);
  c.pid = pid;
  tether_transport *t = NULL;
  CHECK_OK(tether_listener_accept(l, 10000, &t));
  tether_listener_free(l);
  CHECK_OK(tether_channel_new(t, NULL, &c.ch));
  CHECK_OK(tether_pbc_decoder_new(&c.dec));
  rp_send_hello_versions(&c, 1, 1);
  rp_until(&c, pred_hello, NULL, 10000, "Hello over a Unix socket");
  goodbye_and_exit0(&c);
}

TEST(unix_socket_listen) {
  char path[108];
  snprintf(path, sizeof path, "/tmp/tether-runner-listen-%d.sock", (int)getpid());
  unlink(path);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    execl(TETHER_RUNNER_PATH, "tether-runner", "--listen", path, (char *)NULL);
    _exit(127);
  }
  rp c;
  memset(&c, 0, sizeof c);
  c.pid = pid;
  tether_transport *t = NULL;
  uint64_t deadline = test_now_ms() + 10000;
  while (tether_transport_unix_connect(path, 1000, &t) != 0) {
    CHECK(test_now_ms() < deadline);
    usleep(10000);
  }
  CHECK_OK(tether_channel_new(t, NULL, &c.ch));
  CHECK_OK(tether_pbc_decoder_new(&c.dec));
  rp_send_hello_versions(&c, 1, 1);
  rp_until(&c, pred_hello, NULL, 10000, "Hello over a Unix socket");
  CHECK(access(path, F_OK) != 0); /* unlinked once accepted */
  goodbye_and_exit0(&c);
}

TEST(usage_errors) {
  static const char *const cases[][6] = {
    { "--bogus", NULL },
    { "--stdio", "--window", "0", NULL },
    { "--stdio", "--window", "16777217", NULL },
    { "--stdio", "--max-window", "1000", NULL }, /* below the default window */
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
      int null = open("/dev/null", O_WRONLY);
      dup2(null, 2);
      const char *argv[8] = { "tether-runner" };
      for (int i = 0; cases[k][i]; i++) argv[i + 1] = cases[k][i];
      execv(TETHER_RUNNER_PATH, (char **)argv);
      _exit(127);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ_INT(WEXITSTATUS(st), 2);
  }
}

/* ------------------------------------------------------------ spawn */

static void check_spawn_output_exit(const char *const *extra) {
  rp c;
  rp_open(&c, extra);
  rp_spawn_argv(&c, 1, ARGV("sh", "-c", "printf out; printf err >&2; exit 7"));
  rp_wait_done(&c, 1);
  rp_session *s = &c.s[1];
  CHECK(s->spawned);
  CHECK_EQ_INT(s->spawned_index, 1); /* Spawned first */
  CHECK(s->pid > 0);
  CHECK_EQ_MEM(s->out[0], s->out_len[0], "out", 3);
  CHECK_EQ_MEM(s->out[1], s->out_len[1], "err", 3);
  CHECK(s->exited);
  CHECK(!s->ex.signaled);
  CHECK_EQ_INT(s->ex.code, 7);
  CHECK(s->ex.has_usage);
  CHECK(!s->ex.timed_out);
  /* Exited is last: nothing more arrives for the session. */
  rp_pump(&c, 200);
  CHECK_EQ_INT(s->frames_after_exit, 0);
  goodbye_and_exit0(&c);
}

TEST(spawn_output_exit) { check_spawn_output_exit(NOARGS); }

TEST(spawn_output_exit_sigchld_fallback) {
  check_spawn_output_exit(ARGV("--child-watch", "sigchld"));
}

static void expect_spawn_failed(rp *c, uint32_t id, uint32_t stage, uint32_t error, int os_error) {
  rp_wait_done(c, id);
  rp_session *s = &c->s[id];
  CHECK(s->spawn_failed);
  CHECK(!s->spawned);
  CHECK_EQ_INT(s->sf_stage, stage);
  CHECK_EQ_INT(s->sf_error, error);
  CHECK_EQ_INT(s->sf_os_error, os_error);
  CHECK_EQ_INT(s->sf_space, os_error ? TETHER_OS_ERR_POSIX : 0);
  CHECK(s->sf_message[0]);
}

TEST(spawn_not_found) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("/nonexistent"));
  expect_spawn_failed(&c, 1, TETHER_STAGE_EXEC, TETHER_SPAWN_ERR_NOT_FOUND, ENOENT);
  CHECK_EQ_STR(c.s[1].sf_message, "exec \"/nonexistent\": No such file or directory");
  /* PATH search: the error is exact too. */
  rp_spawn_argv(&c, 2, ARGV("tether-no-such-program"));
  expect_spawn_failed(&c, 2, TETHER_STAGE_EXEC, TETHER_SPAWN_ERR_NOT_FOUND, ENOENT);
  /* The failed id is free again. */
  rp_spawn_argv(&c, 1, ARGV("true"));
  goodbye_and_exit0(&c);
}

TEST(spawn_not_executable) {
  char path[64];
  snprintf(path, sizeof path, "/tmp/tether-noexec-%d", (int)getpid());
  int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK(write(fd, "echo hi\n", 8) == 8);
  close(fd);
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV(path));
  rp_wait_done(&c, 1);
  unlink(path);
  if (geteuid() == 0 && c.s[1].sf_error != TETHER_SPAWN_ERR_PERMISSION_DENIED) {
    /* root may exec a 0644 file on some file systems? execve still needs an
     * x bit for everyone, so this should not happen; report it. */
    FAIL("stage %u error %u", c.s[1].sf_stage, c.s[1].sf_error);
  }
  expect_spawn_failed(&c, 1, TETHER_STAGE_EXEC, TETHER_SPAWN_ERR_PERMISSION_DENIED, EACCES);
  goodbye_and_exit0(&c);
}

TEST(spawn_bad_cwd) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn sp;
  rp_spawn_init(&sp, 1, ARGV("true"));
  sp.m.u.spawn.cwd.data = (const uint8_t *)"/nonexistent-dir";
  sp.m.u.spawn.cwd.len = strlen("/nonexistent-dir");
  rp_send(&c, &sp.m);
  expect_spawn_failed(&c, 1, TETHER_STAGE_CWD, TETHER_SPAWN_ERR_NOT_FOUND, ENOENT);
  /* A cwd that works. */
  rp_spawn_init(&sp, 2, ARGV("pwd"));
  sp.m.u.spawn.cwd.data = (const uint8_t *)"/tmp";
  sp.m.u.spawn.cwd.len = 4;
  rp_send(&c, &sp.m);
  rp_wait_done(&c, 2);
  CHECK_EQ_MEM(c.s[2].out[0], c.s[2].out_len[0], "/tmp\n", 5);
  goodbye_and_exit0(&c);
}

TEST(spawn_bad_requests) {
  rp c;
  rp_open(&c, NOARGS);
  /* empty argv */
  rp_spawn sp;
  rp_spawn_init(&sp, 1, NOARGS);
  rp_send(&c, &sp.m);
  expect_spawn_failed(&c, 1, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0);
  /* empty argv[0] */
  rp_spawn_init(&sp, 6, ARGV("", "x"));
  rp_send(&c, &sp.m);
  expect_spawn_failed(&c, 6, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0);
  /* embedded NUL */
  rp_spawn_init(&sp, 2, ARGV("echo", "x"));
  sp.argv[1].data = (const uint8_t *)"a\0b";
  sp.argv[1].len = 3;
  rp_send(&c, &sp.m);
  expect_spawn_failed(&c, 2, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0);
  /* a terminal larger than a winsize holds */
  rp_spawn_init(&sp, 3, ARGV("true"));
  sp.m.u.spawn.io_mode = TETHER__IO_PTY;
  sp.m.u.spawn.pty_cols = 40000;
  rp_send(&c, &sp.m);
  expect_spawn_failed(&c, 3, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0);
  /* an unknown io_mode */
  rp_spawn_init(&sp, 5, ARGV("true"));
  sp.m.u.spawn.io_mode = 9;
  rp_send(&c, &sp.m);
  expect_spawn_failed(&c, 5, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0);
  /* restrictive permission profiles fail closed when the runner cannot
   * enforce them (it then does not list PERMISSION_PROFILES) */
  rp_spawn_init(&sp, 4, ARGV("true"));
  sp.m.u.spawn.has_profile = true;
  sp.m.u.spawn.profile.network = TETHER_NET_DENIED;
  rp_send(&c, &sp.m);
  if (!(c.hello.u.hello.capabilities & TETHER_CAP_BIT(TETHER_CAP_PERMISSION_PROFILES)))
    expect_spawn_failed(&c, 4, TETHER_STAGE_PERMISSIONS, TETHER_SPAWN_ERR_UNSUPPORTED, 0);
  else
    rp_wait_done(&c, 4);
  goodbye_and_exit0(&c);
}

TEST(spawn_env) {
  setenv("TETHER_TEST_KEEP", "kept", 1);
  rp c;
  rp_open(&c, NOARGS);
  const char *script = "echo \"${FOO-unset}:${TETHER_TEST_KEEP-unset}:${HOME-unset}\"";
  rp_spawn sp;
  /* CLEAR: only what we pass; PATH unset, so "sh" is found on /bin:/usr/bin */
  rp_spawn_init(&sp, 1, ARGV("sh", "-c", script));
  sp.m.u.spawn.env_mode = TETHER_ENV_CLEAR;
  rp_spawn_env(&sp, ARGV("FOO=bar"));
  rp_send(&c, &sp.m);
  rp_wait_done(&c, 1);
  CHECK_EQ_MEM(c.s[1].out[0], c.s[1].out_len[0], "bar:unset:unset\n", 16);
  /* OVERLAY: the runner's environment, FOO set, HOME removed */
  rp_spawn_init(&sp, 2, ARGV("sh", "-c", script));
  rp_spawn_env(&sp, ARGV("FOO=baz", "HOME", "FOO=qux"));
  rp_send(&c, &sp.m);
  rp_wait_done(&c, 2);
  CHECK_EQ_MEM(c.s[2].out[0], c.s[2].out_len[0], "qux:kept:unset\n", 15);
  goodbye_and_exit0(&c);
}

TEST(merge_stderr_and_stdin_null) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn sp;
  rp_spawn_init(&sp, 1, ARGV("sh", "-c", "echo a; echo b >&2; cat; echo c"));
  sp.m.u.spawn.merge_stderr = true;
  sp.m.u.spawn.stdin_mode = TETHER__STDIN_NULL;
  rp_send(&c, &sp.m);
  rp_wait_done(&c, 1);
  CHECK_EQ_MEM(c.s[1].out[0], c.s[1].out_len[0], "a\nb\nc\n", 6);
  CHECK_EQ_INT(c.s[1].out_len[1], 0);
  CHECK_EQ_INT(c.s[1].ex.code, 0);
  goodbye_and_exit0(&c);
}

/* Descriptors the child sees: only 0, 1, 2. */
HELPER(list_fds) {
  (void)argc;
  (void)argv;
  DIR *d = opendir("/proc/self/fd");
  if (!d) return 3;
  int self = dirfd(d);
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.' && atoi(e->d_name) != self) printf("%s ", e->d_name);
  closedir(d);
  return 0;
}

TEST(child_inherits_only_stdio) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("sleep", "100")); /* another session's pipes exist */
  rp_wait_spawned(&c, 1);
  rp_spawn_argv(&c, 2, ARGV(test_argv0, "--helper", "list_fds"));
  rp_wait_done(&c, 2);
  CHECK_EQ_INT(c.s[2].ex.code, 0);
  CHECK_EQ_MEM(c.s[2].out[0], c.s[2].out_len[0], "0 1 2 ", 6);
  goodbye_and_exit0(&c);
}

/* Signal dispositions and mask are defaults in the child, even though the
 * runner ignores SIGPIPE and its parent ignores SIGINT and blocks SIGUSR1;
 * and the child leads its own process group. */
TEST(child_signal_state) {
  signal(SIGINT, SIG_IGN);
  sigset_t m;
  sigemptyset(&m);
  sigaddset(&m, SIGUSR1);
  sigprocmask(SIG_BLOCK, &m, NULL);
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("cat", "/proc/self/status"));
  rp_wait_done(&c, 1);
  CHECK_EQ_INT(c.s[1].ex.code, 0);
  rp_session *s = &c.s[1];
  CHECK(s->out_len[0] > 0 && s->out_len[0] < RP_OUT_MAX);
  s->out[0][s->out_len[0]] = '\0';
  const char *txt = (const char *)s->out[0];
  CHECK(strstr(txt, "SigBlk:\t0000000000000000\n"));
  CHECK(strstr(txt, "SigIgn:\t0000000000000000\n"));
  CHECK(strstr(txt, "SigCgt:\t0000000000000000\n"));
  rp_spawn_argv(&c, 2, ARGV("cat", "/proc/self/stat"));
  rp_wait_done(&c, 2);
  s = &c.s[2];
  s->out[0][s->out_len[0]] = '\0';
  const char *close_paren = strrchr((const char *)s->out[0], ')');
  CHECK(close_paren);
  char state;
  int self, ppid, pgrp;
  CHECK(sscanf((const char *)s->out[0], "%d", &self) == 1);
  CHECK(sscanf(close_paren + 1, " %c %d %d", &state, &ppid, &pgrp) == 3);
  if (ppid == 0 && geteuid() == 0) {
    /* Contained (runner/contain_linux.c): the child lives in the runner's
     * PID namespace, where its parent has no number; it leads its group
     * there too. */
    CHECK((uint64_t)self != s->pid);
    CHECK_EQ_INT(pgrp, self);
  } else {
    CHECK_EQ_INT(ppid, c.pid);
    CHECK_EQ_INT((uint64_t)pgrp, s->pid);
  }
  goodbye_and_exit0(&c);
}

/* ------------------------------------------------------------ stdin */

TEST(stdin_cat) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("cat"));
  rp_wait_spawned(&c, 1);
  rp_stdin(&c, 1, "hello ", 0);
  rp_stdin(&c, 1, "world", 6);
  rp_simple(&c, 1, TETHER_MSG_STDIN_CLOSE);
  rp_wait_done(&c, 1);
  CHECK_EQ_MEM(c.s[1].out[0], c.s[1].out_len[0], "hello world", 11);
  CHECK_EQ_INT(c.s[1].ex.code, 0);
  CHECK_EQ_INT(c.s[1].nerrors, 0);
  goodbye_and_exit0(&c);
}

TEST(stdin_large) {
  /* More than a pipe buffer: exercises the stdin queue. */
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("wc", "-c"));
  rp_wait_spawned(&c, 1);
  static char chunk[32769];
  memset(chunk, 'x', sizeof chunk - 1);
  uint64_t off = 0;
  for (int i = 0; i < 16; i++) {
    rp_stdin(&c, 1, chunk, off);
    off += sizeof chunk - 1;
  }
  rp_simple(&c, 1, TETHER_MSG_STDIN_CLOSE);
  rp_wait_done(&c, 1);
  CHECK_EQ_INT(c.s[1].nerrors, 0);
  CHECK(c.s[1].out_len[0] > 0);
  c.s[1].out[0][c.s[1].out_len[0] - 1] = '\0';
  CHECK_EQ_INT(atoll((char *)c.s[1].out[0]), 16 * 32768);
  goodbye_and_exit0(&c);
}

TEST(stdin_queue_limit) {
  /* The child never reads: the pipe fills, then the runner's queue (1 MiB);
   * the frame that would pass the bound gets Error{LIMIT}, not accepted. */
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("sleep", "100"));
  rp_wait_spawned(&c, 1);
  static char chunk[65537];
  memset(chunk, 'x', sizeof chunk - 1);
  uint64_t off = 0;
  int sent = 0;
  while (c.s[1].nerrors == 0 && sent < 40) {
    rp_stdin(&c, 1, chunk, off);
    off += sizeof chunk - 1;
    sent++;
    rp_pump(&c, 20);
  }
  rp_wait_error(&c, 1);
  CHECK_EQ_INT(c.s[1].last_error, TETHER_WIRE_LIMIT);
  CHECK(!c.s[1].last_error_fatal);
  /* pipe (64 KiB) + queue (1 MiB) = 17 chunks accepted, the next refused */
  CHECK(sent >= 17 && sent <= 19);
  rp_terminate(&c, 1, 100);
  rp_wait_done(&c, 1);
  goodbye_and_exit0(&c);
}

/* A gap or an overlap in Stdin offsets breaks the parent's own state
 * machine: Error{PROTOCOL, fatal} (PROTOCOL.md §6.4). */
TEST(stdin_offset_gap) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("cat"));
  rp_wait_spawned(&c, 1);
  rp_stdin(&c, 1, "abc", 0);
  rp_stdin(&c, 1, "def", 5); /* gap */
  uint64_t pid = c.s[1].pid;
  expect_fatal_exit(&c, TETHER_WIRE_PROTOCOL);
  CHECK(!rp_pid_alive(pid));
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("cat"));
  rp_stdin(&c, 1, "abc", 0);
  rp_stdin(&c, 1, "bc", 1); /* overlap */
  expect_fatal_exit(&c, TETHER_WIRE_PROTOCOL);
}

/* Stdin after StdinClose, and a second StdinClose: fatal PROTOCOL. */
TEST(stdin_after_stdin_close) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("sleep", "100"));
  rp_stdin(&c, 1, "abc", 0);
  rp_simple(&c, 1, TETHER_MSG_STDIN_CLOSE);
  rp_stdin(&c, 1, "def", 3);
  expect_fatal_exit(&c, TETHER_WIRE_PROTOCOL);
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("sleep", "100"));
  rp_simple(&c, 1, TETHER_MSG_STDIN_CLOSE);
  rp_simple(&c, 1, TETHER_MSG_STDIN_CLOSE);
  expect_fatal_exit(&c, TETHER_WIRE_PROTOCOL);
  /* StdinClose on a STDIN_MODE_NULL session is refused (INVALID), like Stdin */
  rp_open(&c, NOARGS);
  rp_spawn sp;
  rp_spawn_init(&sp, 1, ARGV("sleep", "100"));
  sp.m.u.spawn.stdin_mode = TETHER__STDIN_NULL;
  rp_send(&c, &sp.m);
  rp_simple(&c, 1, TETHER_MSG_STDIN_CLOSE);
  CHECK_EQ_INT(wait_error_after(&c, 1, 0), TETHER_WIRE_INVALID);
  CHECK(!c.s[1].last_error_fatal);
  rp_terminate(&c, 1, 100);
  rp_wait_done(&c, 1);
  goodbye_and_exit0(&c);
}

TEST(stdin_after_child_closed_it) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("sh", "-c", "exec 0<&-; echo ready; sleep 0.3; echo done"));
  rp_wait_spawned(&c, 1);
  while (c.s[1].out_len[0] < 6) CHECK(rp_pump(&c, 5000) == 1);
  rp_stdin(&c, 1, "into the void", 0); /* EPIPE: dropped, not fatal */
  rp_stdin(&c, 1, "more", 13);
  rp_wait_done(&c, 1);
  CHECK_EQ_MEM(c.s[1].out[0], c.s[1].out_len[0], "ready\ndone\n", 11);
  CHECK_EQ_INT(c.s[1].ex.code, 0);
  CHECK_EQ_INT(c.s[1].nerrors, 0);
  goodbye_and_exit0(&c);
}

/* ------------------------------------------------------------ signals */

TEST(signal_term) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("sleep", "100"));
  rp_wait_spawned(&c, 1);
  rp_signal(&c, 1, TETHER_SIG_TERM, false);
  rp_wait_done(&c, 1);
  CHECK(c.s[1].ex.signaled);
  CHECK_EQ_INT(c.s[1].ex.signal, TETHER_SIG_TERM);
  CHECK_EQ_INT(c.s[1].ex.raw_signal, SIGTERM);
  goodbye_and_exit0(&c);
}

TEST(signal_group_and_unknown) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("sh", "-c", "sleep 100; exit 3"));
  rp_wait_spawned(&c, 1);
  rp_signal(&c, 1, 99, false); /* unknown: INVALID (PROTOCOL.md §5.6) */
  CHECK_EQ_INT(wait_error_after(&c, 1, 0), TETHER_WIRE_INVALID);
  CHECK(!c.s[1].last_error_fatal);
  rp_signal(&c, 1, 0, true); /* SIGNAL_UNSPECIFIED: INVALID */
  CHECK_EQ_INT(wait_error_after(&c, 1, 1), TETHER_WIRE_INVALID);
  rp_signal(&c, 1, TETHER_SIG_KILL, true); /* the shell and its sleep */
  rp_wait_done(&c, 1);
  CHECK(c.s[1].ex.signaled);
  CHECK_EQ_INT(c.s[1].ex.signal, TETHER_SIG_KILL);
  goodbye_and_exit0(&c);
}

TEST(terminate_after_grace) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("sh", "-c", "trap '' TERM; echo ready; sleep 100"));
  rp_wait_spawned(&c, 1);
  while (c.s[1].out_len[0] < 6) CHECK(rp_pump(&c, 5000) == 1);
  uint64_t t0 = test_now_ms();
  rp_terminate(&c, 1, 300);
  rp_wait_done(&c, 1);
  uint64_t dt = test_now_ms() - t0;
  CHECK(dt >= 250);
  CHECK(dt < 5000);
  CHECK(c.s[1].ex.signaled);
  CHECK_EQ_INT(c.s[1].ex.signal, TETHER_SIG_KILL);
  goodbye_and_exit0(&c);
}

TEST(terminate_polite) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("sleep", "100"));
  rp_wait_spawned(&c, 1);
  rp_terminate(&c, 1, 0);
  rp_wait_done(&c, 1);
  CHECK_EQ_INT(c.s[1].ex.signal, TETHER_SIG_TERM);
  goodbye_and_exit0(&c);
}

TEST(spawn_timeout) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn sp;
  rp_spawn_init(&sp, 1, ARGV("sleep", "100"));
  sp.m.u.spawn.timeout_ms = 200;
  uint64_t t0 = test_now_ms();
  rp_send(&c, &sp.m);
  rp_wait_done(&c, 1);
  CHECK(test_now_ms() - t0 >= 150);
  CHECK(c.s[1].ex.timed_out);
  CHECK(c.s[1].ex.signaled);
  CHECK_EQ_INT(c.s[1].ex.signal, TETHER_SIG_TERM);
  goodbye_and_exit0(&c);
}

TEST(status) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("sleep", "100"));
  rp_wait_spawned(&c, 1);
  rp_simple(&c, 1, TETHER_MSG_STATUS_REQUEST);
  uint32_t id = 1;
  rp_until(&c, pred_status, &id, 10000, "StatusReply");
  CHECK(c.s[1].status_running);
  CHECK_EQ_INT(c.s[1].status_pid, c.s[1].pid);
  rp_terminate(&c, 1, 100);
  rp_wait_done(&c, 1);
  /* after Exited the session is gone */
  rp_simple(&c, 1, TETHER_MSG_STATUS_REQUEST);
  rp_wait_error(&c, 1);
  CHECK_EQ_INT(c.s[1].last_error, TETHER_WIRE_UNKNOWN_SESSION);
  goodbye_and_exit0(&c);
}

/* ------------------------------------------------------------ output */

TEST(output_cap) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn sp;
  rp_spawn_init(&sp, 1, ARGV("sh", "-c", "head -c 100000 /dev/zero; head -c 10 /dev/zero >&2"));
  sp.m.u.spawn.has_stdout_cap = true;
  sp.m.u.spawn.stdout_cap = 1000;
  sp.m.u.spawn.has_stderr_cap = true;
  sp.m.u.spawn.stderr_cap = 0;
  rp_send(&c, &sp.m);
  rp_wait_done(&c, 1);
  CHECK_EQ_INT(c.s[1].out_len[0], 1000);
  CHECK_EQ_INT(c.s[1].truncated[0], 99000);
  CHECK_EQ_INT(c.s[1].out_len[1], 0);
  CHECK_EQ_INT(c.s[1].truncated[1], 10);
  CHECK_EQ_INT(c.s[1].ex.code, 0);
  goodbye_and_exit0(&c);
}

TEST(output_large_streams) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("sh", "-c", "head -c 5000000 /dev/urandom | od -An -v | head -c 6000000"));
  rp_wait_done(&c, 1);
  CHECK_EQ_INT(c.s[1].out_len[0], 6000000);
  goodbye_and_exit0(&c);
}

TEST(output_respects_parent_max_frame) {
  /* A parent that takes only 64 KiB frames still gets all the output. */
  rp c;
  rp_start(&c, NOARGS);
  tether_msg m;
  tether_hello_init(&m, TETHER_ROLE_PARENT, "small-frames", 0, TETHER_FRAME_MAX_MINIMUM, 0);
  rp_send(&c, &m);
  rp_until(&c, pred_hello, NULL, 10000, "Hello");
  tether_channel_set_limits(c.ch, TETHER_FRAME_MAX_MINIMUM, TETHER_FRAME_MAX_MINIMUM);
  rp_spawn_argv(&c, 1, ARGV("head", "-c", "1000000", "/dev/zero"));
  rp_wait_done(&c, 1);
  CHECK_EQ_INT(c.s[1].out_len[0], 1000000);
  goodbye_and_exit0(&c);
}

TEST(output_backpressure) {
  /* The parent reads nothing for a while: the runner must not buffer the
   * child's flood (its queue stays near the 1 MiB high-water mark). */
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("head", "-c", "100000000", "/dev/zero"));
  usleep(1000 * 1000);
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)c.pid);
  FILE *f = fopen(path, "r");
  CHECK(f);
  long rss_kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld", &rss_kib) == 1) break;
  fclose(f);
  CHECK(rss_kib > 0);
  CHECK(rss_kib < 64 * 1024); /* far below the 100 MB the child wants out */
  rp_terminate(&c, 1, 100);
  rp_wait_done(&c, 1);
  goodbye_and_exit0(&c);
}

/* ------------------------------------------------------------ sessions */

static void check_concurrent_50(const char *const *extra) {
  rp c;
  rp_open(&c, extra);
  for (uint32_t id = 1; id <= 50; id++) {
    char n[16];
    snprintf(n, sizeof n, "%u", id);
    rp_spawn_argv(&c, id, ARGV("sh", "-c", "echo \"out $0\"; echo \"err $0\" >&2; exit $0", n));
  }
  for (uint32_t id = 1; id <= 50; id++) {
    rp_wait_done(&c, id);
    char want[32];
    int len = snprintf(want, sizeof want, "out %u\n", id);
    CHECK_EQ_MEM(c.s[id].out[0], c.s[id].out_len[0], want, (size_t)len);
    len = snprintf(want, sizeof want, "err %u\n", id);
    CHECK_EQ_MEM(c.s[id].out[1], c.s[id].out_len[1], want, (size_t)len);
    CHECK_EQ_INT(c.s[id].ex.code, id);
  }
  goodbye_and_exit0(&c);
}

TEST(concurrent_50) { check_concurrent_50(NOARGS); }

TEST(concurrent_50_sigchld_fallback) { check_concurrent_50(ARGV("--child-watch", "sigchld")); }

/* A Spawn with `count` argv entries of `each` bytes, built by hand: the
 * encoders refuse to produce an over-limit frame. */
static size_t build_spawn_argv(uint8_t *buf, uint32_t session, size_t count, size_t each) {
  size_t body = count * (2 + each), n = 0;
  buf[n++] = 0x08; /* Frame.session */
  buf[n++] = (uint8_t)session;
  buf[n++] = 0x1a; /* Frame.spawn */
  for (size_t v = body; ; v >>= 7) {
    buf[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    if (v <= 0x7f) break;
  }
  for (size_t i = 0; i < count; i++) {
    buf[n++] = 0x0a; /* Spawn.argv */
    buf[n++] = (uint8_t)each;
    memset(buf + n, 'a', each);
    n += each;
  }
  return n;
}

TEST(spawn_over_limits_fails_session_only) {
  rp c;
  rp_open(&c, NOARGS);
  static uint8_t buf[64 * 1024];
  /* at the count limit: accepted (the program "aaa..." then does not exist) */
  rp_send_raw(&c, buf, build_spawn_argv(buf, 1, TETHER_ARGV_MAX_COUNT, 1));
  rp_wait_done(&c, 1);
  CHECK(c.s[1].spawn_failed);
  CHECK_EQ_INT(c.s[1].sf_stage, TETHER_STAGE_EXEC);
  /* one past it: SpawnFailed{LIMITS} on that session, connection goes on */
  rp_send_raw(&c, buf, build_spawn_argv(buf, 2, TETHER_ARGV_MAX_COUNT + 1, 1));
  rp_wait_done(&c, 2);
  CHECK(c.s[2].spawn_failed);
  CHECK_EQ_INT(c.s[2].sf_stage, TETHER_STAGE_LIMITS);
  CHECK_EQ_INT(c.s[2].sf_error, TETHER_SPAWN_ERR_LIMIT);
  CHECK(strstr(c.s[2].sf_message, "4096") != NULL);
  rp_spawn_argv(&c, 3, ARGV("true"));
  rp_wait_done(&c, 3);
  CHECK(!c.s[3].spawn_failed);
  CHECK_EQ_INT(c.s[3].ex.code, 0);
  goodbye_and_exit0(&c);
}

TEST(max_sessions) {
  rp c;
  rp_open(&c, ARGV("--max-sessions", "2"));
  CHECK_EQ_INT(c.hello.u.hello.max_sessions, 2);
  rp_spawn_argv(&c, 1, ARGV("sleep", "100"));
  rp_spawn_argv(&c, 2, ARGV("sleep", "100"));
  rp_spawn_argv(&c, 3, ARGV("sleep", "100"));
  rp_wait_done(&c, 3);
  CHECK(c.s[3].spawn_failed);
  CHECK_EQ_INT(c.s[3].sf_stage, TETHER_STAGE_LIMITS);
  CHECK_EQ_INT(c.s[3].sf_error, TETHER_SPAWN_ERR_LIMIT);
  goodbye_and_exit0(&c);
}

TEST(session_exists) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("sleep", "100"));
  rp_wait_spawned(&c, 1);
  rp_spawn_argv(&c, 1, ARGV("true"));
  rp_wait_error(&c, 1);
  CHECK_EQ_INT(c.s[1].last_error, TETHER_WIRE_SESSION_EXISTS);
  goodbye_and_exit0(&c);
}

TEST(unknown_session) {
  rp c;
  rp_open(&c, NOARGS);
  rp_stdin(&c, 77, "x", 0);
  rp_wait_error(&c, 77);
  CHECK_EQ_INT(c.s[77].last_error, TETHER_WIRE_UNKNOWN_SESSION);
  CHECK(!c.s[77].last_error_fatal);
  rp_simple(&c, 78, TETHER_MSG_RESIZE);
  rp_wait_error(&c, 78);
  CHECK_EQ_INT(c.s[78].last_error, TETHER_WIRE_UNKNOWN_SESSION);
  goodbye_and_exit0(&c);
}

/* Resize on a pipes session is a bad value (docs/PROTOCOL.md §5.6). */
TEST(resize_on_pipes_invalid) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("sleep", "100"));
  rp_wait_spawned(&c, 1);
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.session = 1;
  m.type = TETHER_MSG_RESIZE;
  m.u.resize.rows = 30;
  m.u.resize.cols = 100;
  rp_send(&c, &m);
  rp_wait_error(&c, 1);
  CHECK_EQ_INT(c.s[1].last_error, TETHER_WIRE_INVALID);
  CHECK(!c.s[1].last_error_fatal);
  goodbye_and_exit0(&c);
}

TEST(unknown_body) {
  rp c;
  rp_open(&c, NOARGS);
  /* Frame{session: 5, field 99: ""} */
  static const uint8_t frame[] = { 0x08, 0x05, 0x9a, 0x06, 0x00 };
  rp_send_raw(&c, frame, sizeof frame);
  rp_wait_error(&c, 5);
  CHECK_EQ_INT(c.s[5].last_error, TETHER_WIRE_UNSUPPORTED);
  CHECK(!c.s[5].last_error_fatal);
  /* the connection keeps working */
  rp_spawn_argv(&c, 6, ARGV("echo", "still here"));
  rp_wait_done(&c, 6);
  CHECK_EQ_MEM(c.s[6].out[0], c.s[6].out_len[0], "still here\n", 11);
  goodbye_and_exit0(&c);
}

/* The runner closes without sending anything (an Error is never answered
 * with an Error, PROTOCOL.md §5.10) and exits non-zero. Frees c. */
static void expect_silent_close(rp *c) {
  rp_until(c, pred_closed, NULL, 10000, "the runner to close");
  CHECK_EQ_INT(c->nerrors0, 0);
  int st = rp_wait_runner(c, 10000);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) != 0);
  rp_free(c);
}

static void send_error_frame(rp *c, uint32_t session, uint32_t code, bool fatal) {
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.session = session;
  m.type = TETHER_MSG_ERROR;
  m.u.error.code = code;
  m.u.error.fatal = fatal;
  m.u.error.message = (tether_bytes){ (const uint8_t *)"fatal flag left out", 19 };
  rp_send(c, &m);
}

/* PROTOCOL, VERSION_UNSUPPORTED and TIMEOUT end the connection whatever
 * `fatal` says (§5.10), and the runner does not answer. */
TEST(error_protocol_not_flagged_fatal) {
  static const uint32_t codes[] = { TETHER_WIRE_PROTOCOL, TETHER_WIRE_VERSION_UNSUPPORTED,
                                    TETHER_WIRE_TIMEOUT };
  for (size_t i = 0; i < 3; i++) {
    rp c;
    rp_open(&c, NOARGS);
    rp_spawn_argv(&c, 1, ARGV("sleep", "100"));
    rp_wait_spawned(&c, 1);
    send_error_frame(&c, 0, codes[i], false);
    expect_silent_close(&c);
  }
}

/* Non-fatal Errors, about a session that does not exist or with a code
 * this build does not know, get no answer; the connection goes on. */
TEST(error_never_answered) {
  rp c;
  rp_open(&c, NOARGS);
  send_error_frame(&c, 99, TETHER_WIRE_UNKNOWN_SESSION, false);
  send_error_frame(&c, 98, 77, false);
  send_error_frame(&c, 0, TETHER_WIRE_INTERNAL, false);
  rp_spawn_argv(&c, 6, ARGV("echo", "still here"));
  rp_wait_done(&c, 6);
  CHECK_EQ_MEM(c.s[6].out[0], c.s[6].out_len[0], "still here\n", 11);
  CHECK_EQ_INT(c.nerrors0, 0);
  CHECK_EQ_INT(c.s[99].last_error + c.s[98].last_error, 0);
  goodbye_and_exit0(&c);
}

/* An Error whose message is over TETHER_MESSAGE_MAX_BYTES does not decode:
 * the connection ends, without an Error in reply. */
TEST(error_message_too_long) {
  rp c;
  rp_open(&c, NOARGS);
  static uint8_t frame[TETHER_MESSAGE_MAX_BYTES + 16];
  size_t n = 0, len = TETHER_MESSAGE_MAX_BYTES + 1;
  frame[n++] = 0x8a; /* Frame.error (17), length-delimited */
  frame[n++] = 0x01;
  size_t body = 2 + 3 + len; /* code, message key + 2-byte length + text */
  frame[n++] = (uint8_t)(body | 0x80);
  frame[n++] = (uint8_t)(body >> 7);
  frame[n++] = 0x08; /* code */
  frame[n++] = TETHER_WIRE_INVALID;
  frame[n++] = 0x12; /* message */
  frame[n++] = (uint8_t)(len | 0x80);
  frame[n++] = (uint8_t)(len >> 7);
  memset(frame + n, 'm', len);
  n += len;
  rp_send_raw(&c, frame, n);
  expect_silent_close(&c);
}

/* Two bodies in one frame (StdinClose and StatusRequest): undecodable,
 * fatal; protobuf would keep the last and silently drop the first. */
TEST(two_bodies_in_one_frame) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("cat"));
  rp_wait_spawned(&c, 1);
  static const uint8_t frame[] = { 0x08, 0x01, 0x4a, 0x00, 0x72, 0x00 };
  rp_send_raw(&c, frame, sizeof frame);
  expect_fatal_exit(&c, TETHER_WIRE_PROTOCOL);
}

TEST(malformed_payload) {
  rp c;
  rp_open(&c, NOARGS);
  static const uint8_t junk[] = { 0x12, 0xff, 0xff, 0xff, 0x0f, 0x01 };
  rp_send_raw(&c, junk, sizeof junk);
  expect_fatal_exit(&c, TETHER_WIRE_PROTOCOL);
}

static void check_bad_header(const uint8_t hdr[4]) {
  rp c;
  rp_open(&c, NOARGS);
  int fd = tether_channel_write_handle(c.ch);
  CHECK(write(fd, hdr, 4) == 4);
  expect_fatal_exit(&c, TETHER_WIRE_PROTOCOL);
}

TEST(frame_too_large) {
  /* one byte past the runner's 1 MiB limit: refused from the header alone */
  static const uint8_t hdr[4] = { 0x01, 0x00, 0x10, 0x00 };
  check_bad_header(hdr);
}

TEST(frame_empty) {
  static const uint8_t hdr[4] = { 0, 0, 0, 0 };
  check_bad_header(hdr);
}

TEST(spawn_on_session_0) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 0, ARGV("true"));
  expect_fatal_exit(&c, TETHER_WIRE_PROTOCOL);
}

TEST(runner_only_frame_from_parent) {
  rp c;
  rp_open(&c, NOARGS);
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.session = 1;
  m.type = TETHER_MSG_OUTPUT;
  m.u.output.stream = TETHER_STREAM_STDOUT;
  m.u.output.data.data = (const uint8_t *)"x";
  m.u.output.data.len = 1;
  rp_send(&c, &m);
  expect_fatal_exit(&c, TETHER_WIRE_PROTOCOL);
}

/* ------------------------------------------------------------ flow control */

/* Not negotiated (our Hello lacks the capability): Credit frames are
 * ignored, even nonsense ones and ones for sessions that are not live. */
TEST(flow_credit_ignored_without_flow) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("sleep", "100"));
  rp_wait_spawned(&c, 1);
  rp_credit(&c, 1, TETHER_STREAM_STDOUT, UINT64_MAX);
  rp_credit(&c, 1, TETHER_STREAM_STDIN, 5);
  rp_credit(&c, 1, 99, 5);
  rp_credit(&c, 77, TETHER_STREAM_STDOUT, 5);
  rp_simple(&c, 1, TETHER_MSG_STATUS_REQUEST);
  uint32_t id = 1;
  rp_until(&c, pred_status, &id, 10000, "StatusReply");
  CHECK_EQ_INT(c.s[1].nerrors, 0);
  CHECK_EQ_INT(c.s[77].nerrors, 0);
  CHECK_EQ_INT(c.nerrors0, 0);
  rp_terminate(&c, 1, 100);
  rp_wait_done(&c, 1);
  goodbye_and_exit0(&c);
}

/* The agreed window is the smaller non-zero initial_window of the two
 * Hellos; output stops there until the parent grants more. The child
 * blocks on its own write: `done` (after 1 MB on stdout) does not reach
 * stderr, whose own window is open, while stdout credit is withheld. */
TEST(flow_output_stops_at_window) {
  rp c;
  rp_open_flow(&c, NOARGS, 65536, 0, RP_GRANT_NONE);
  CHECK_EQ_INT(c.window, 65536);
  rp_spawn_argv(&c, 1, ARGV("sh", "-c", "head -c 1000000 /dev/zero; echo done >&2"));
  rp_wait_spawned(&c, 1);
  pump_for(&c, 700);
  rp_session *s = &c.s[1];
  CHECK_EQ_INT(s->out_len[0], 65536); /* the whole window, not a byte more */
  CHECK_EQ_INT(s->out_len[1], 0);     /* head is blocked: no "done" yet */
  CHECK(!s->exited);
  rp_simple(&c, 1, TETHER_MSG_STATUS_REQUEST);
  uint32_t id = 1;
  rp_until(&c, pred_status, &id, 10000, "StatusReply");
  CHECK(s->status_running);
  /* credit in small, uneven grants: output resumes and ends complete */
  uint64_t grants = 0;
  uint64_t deadline = test_now_ms() + 30000;
  while (!s->exited) {
    CHECK(test_now_ms() < deadline);
    if (s->out_credit[0] == 0) {
      rp_credit(&c, 1, TETHER_STREAM_STDOUT, 10000 + (grants % 7) * 1000);
      grants++;
    }
    CHECK(rp_pump(&c, 200) >= 0);
  }
  CHECK_EQ_INT(s->out_len[0], 1000000);
  CHECK_EQ_MEM(s->out[1], s->out_len[1], "done\n", 5);
  CHECK_EQ_INT(s->ex.code, 0);
  CHECK_EQ_INT(s->nerrors, 0);
  goodbye_and_exit0(&c);
}

/* A pty session's single stream has the same window. */
TEST(flow_pty_window) {
  rp c;
  rp_open_flow(&c, NOARGS, 65536, 0, RP_GRANT_NONE);
  rp_spawn sp;
  rp_spawn_init(&sp, 1, ARGV("head", "-c", "300000", "/dev/zero"));
  sp.m.u.spawn.io_mode = TETHER__IO_PTY;
  sp.m.u.spawn.stdin_mode = TETHER__STDIN_NULL;
  rp_send(&c, &sp.m);
  rp_wait_spawned(&c, 1);
  pump_for(&c, 700);
  rp_session *s = &c.s[1];
  CHECK_EQ_INT(s->out_len[0], 65536);
  CHECK_EQ_INT(s->out_stream[0], TETHER_STREAM_PTY);
  CHECK(!s->exited);
  rp_credit(&c, 1, TETHER_STREAM_STDOUT, 1); /* not this session's stream */
  CHECK_EQ_INT(wait_error_after(&c, 1, 0), TETHER_WIRE_INVALID);
  c.s[1].out_credit[0] -= 1; /* (rp_credit counted it) */
  c.grant = RP_GRANT_AUTO;
  rp_credit(&c, 1, TETHER_STREAM_PTY, 65536);
  rp_wait_done(&c, 1);
  CHECK_EQ_INT(s->out_len[0], 300000);
  CHECK_EQ_INT(s->ex.code, 0);
  goodbye_and_exit0(&c);
}

/* Credit past max_window: Error{LIMIT}, ignored; Credit for a stream the
 * session lacks: Error{INVALID}. Neither ends the session. */
TEST(flow_credit_errors) {
  rp c;
  rp_open_flow(&c, NOARGS, 65536, 131072, RP_GRANT_NONE);
  CHECK_EQ_INT(c.max_window, 131072);
  rp_spawn_argv(&c, 1, ARGV("sleep", "100"));
  rp_spawn sp;
  rp_spawn_init(&sp, 2, ARGV("sleep", "100"));
  sp.m.u.spawn.merge_stderr = true;
  rp_send(&c, &sp.m);
  rp_wait_spawned(&c, 1);
  rp_wait_spawned(&c, 2);
  rp_session *s = &c.s[1];
  rp_credit(&c, 1, TETHER_STREAM_STDOUT, 65536); /* now exactly max_window */
  rp_credit(&c, 1, TETHER_STREAM_STDERR, 0);     /* a no-op */
  rp_simple(&c, 1, TETHER_MSG_STATUS_REQUEST);
  uint32_t id = 1;
  rp_until(&c, pred_status, &id, 10000, "StatusReply");
  CHECK_EQ_INT(s->nerrors, 0);
  rp_credit(&c, 1, TETHER_STREAM_STDOUT, 1);
  CHECK_EQ_INT(wait_error_after(&c, 1, 0), TETHER_WIRE_LIMIT);
  CHECK(!s->last_error_fatal);
  rp_credit(&c, 1, TETHER_STREAM_STDERR, UINT64_MAX);
  CHECK_EQ_INT(wait_error_after(&c, 1, 1), TETHER_WIRE_LIMIT);
  rp_credit(&c, 1, TETHER_STREAM_PTY, 1);
  CHECK_EQ_INT(wait_error_after(&c, 1, 2), TETHER_WIRE_INVALID);
  rp_credit(&c, 1, TETHER_STREAM_STDIN, 1);
  CHECK_EQ_INT(wait_error_after(&c, 1, 3), TETHER_WIRE_INVALID);
  rp_credit(&c, 1, 99, 1);
  CHECK_EQ_INT(wait_error_after(&c, 1, 4), TETHER_WIRE_INVALID);
  CHECK(!s->last_error_fatal);
  rp_credit(&c, 2, TETHER_STREAM_STDERR, 1); /* merged into stdout */
  CHECK_EQ_INT(wait_error_after(&c, 2, 0), TETHER_WIRE_INVALID);
  rp_credit(&c, 9, TETHER_STREAM_STDOUT, 1);
  CHECK_EQ_INT(wait_error_after(&c, 9, 0), TETHER_WIRE_UNKNOWN_SESSION);
  CHECK(!s->exited && !c.s[2].exited);
  CHECK_EQ_INT(c.nerrors0, 0);
  rp_terminate(&c, 1, 100);
  rp_terminate(&c, 2, 100);
  rp_wait_done(&c, 1);
  rp_wait_done(&c, 2);
  goodbye_and_exit0(&c);
}

/* Stdin beyond the credit the runner granted is a parent bug:
 * Error{PROTOCOL, fatal}. */
TEST(flow_stdin_beyond_credit) {
  static uint8_t buf[262145];
  memset(buf, 'x', sizeof buf);
  rp c;
  /* one frame larger than the whole window */
  rp_open_flow(&c, NOARGS, 65536, 0, RP_GRANT_AUTO);
  rp_spawn_argv(&c, 1, ARGV("cat"));
  rp_wait_spawned(&c, 1);
  c.flow = false; /* (so rp_stdin_bytes does not refuse) */
  rp_stdin_bytes(&c, 1, buf, 65537, 0);
  c.flow = true;
  expect_fatal_exit(&c, TETHER_WIRE_PROTOCOL);
  /* the window used up in several frames while the child reads nothing
   * (its pipe takes 64 KiB of the 256 KiB: less than the half window
   * after which the runner grants), then one byte more */
  rp_open_flow(&c, NOARGS, 262144, 0, RP_GRANT_AUTO);
  CHECK_EQ_INT(c.window, 262144);
  rp_spawn_argv(&c, 1, ARGV("sleep", "100"));
  rp_wait_spawned(&c, 1);
  for (int i = 0; i < 4; i++) rp_stdin_bytes(&c, 1, buf, 65536, (uint64_t)i * 65536);
  CHECK_EQ_INT(c.s[1].in_credit, 0);
  c.flow = false;
  rp_stdin_bytes(&c, 1, buf, 1, 262144);
  c.flow = true;
  expect_fatal_exit(&c, TETHER_WIRE_PROTOCOL);
}

/* Position k of the test stream. */
static uint8_t gen_byte(uint64_t k) {
  uint64_t x = k * 0x9E3779B97F4A7C15ull;
  return (uint8_t)(x >> 56 ^ x >> 29 ^ k);
}

static void sink_check(rp_session *s, int i, const uint8_t *p, size_t n) {
  CHECK_EQ_INT(i, 0);
  uint64_t at = s->out_len[0];
  for (size_t k = 0; k < n; k++)
    if (p[k] != gen_byte(at + k)) FAIL("output byte %llu differs", (unsigned long long)(at + k));
}

static void sink_discard(rp_session *s, int i, const uint8_t *p, size_t n) {
  (void)s; (void)i; (void)p; (void)n;
}

/* `cat` fed and read at full speed in one session: stdin and output both
 * saturated, with credit in both directions and no deadlock; the output is
 * byte-identical. `window` 0: the runner's default. */
static void check_cat_saturated(uint32_t window, uint64_t total) {
  rp c;
  rp_open_flow(&c, NOARGS, window, 0, RP_GRANT_AUTO);
  rp_spawn_argv(&c, 1, ARGV("cat"));
  rp_session *s = &c.s[1];
  s->sink = sink_check;
  static uint8_t buf[60000];
  uint64_t sent = 0;
  bool closed = false;
  uint64_t deadline = test_now_ms() + 300000;
  while (!s->exited) {
    CHECK(test_now_ms() < deadline);
    bool progress = false;
    rp_flow_init(&c, s);
    if (sent < total && s->in_credit > 0) {
      size_t n = sizeof buf;
      if (n > s->in_credit) n = (size_t)s->in_credit;
      if (n > total - sent) n = (size_t)(total - sent);
      for (size_t k = 0; k < n; k++) buf[k] = gen_byte(sent + k);
      rp_stdin_bytes(&c, 1, buf, n, sent);
      sent += n;
      progress = true;
    } else if (sent == total && !closed) {
      rp_simple(&c, 1, TETHER_MSG_STDIN_CLOSE);
      closed = true;
    }
    int r, got = 0;
    while ((r = rp_pump(&c, 0)) == 1) got++;
    CHECK(r >= 0);
    if (!progress && !got) CHECK(rp_pump(&c, 50) >= 0);
  }
  CHECK_EQ_INT(s->out_len[0], total);
  CHECK_EQ_INT(s->out_len[1], 0);
  CHECK_EQ_INT(s->ex.code, 0);
  /* (a Credit we sent may cross the Exited: UNKNOWN_SESSION, §6.1) */
  if (s->nerrors_at_exit) FAIL("Error %u: %s", s->last_error, s->last_error_msg);
  if (s->nerrors) CHECK_EQ_INT(s->last_error, TETHER_WIRE_UNKNOWN_SESSION);
  CHECK(s->ncredits > 0);
  /* everything but (at most) the last window came back as credit */
  CHECK(s->in_granted + c.window >= total);
  goodbye_and_exit0(&c);
}

TEST(flow_cat_saturated_32MiB) { check_cat_saturated(0, 32u << 20); }

/* A tiny window still gets everything through. */
TEST(flow_cat_small_window) { check_cat_saturated(1000, 3u << 20); }

/* Bytes past a cap cost no credit: a capped stream keeps draining with no
 * credit at all, so the child finishes. A cap larger than the window waits
 * for credit for the bytes it will send. */
TEST(flow_capped_stream_drains) {
  rp c;
  rp_open_flow(&c, NOARGS, 65536, 0, RP_GRANT_NONE);
  rp_spawn sp;
  rp_spawn_init(&sp, 1, ARGV("sh", "-c",
                             "head -c 3000000 /dev/zero; head -c 2000000 /dev/zero >&2; echo done"));
  sp.m.u.spawn.has_stdout_cap = true;
  sp.m.u.spawn.stdout_cap = 1000;
  sp.m.u.spawn.has_stderr_cap = true;
  sp.m.u.spawn.stderr_cap = 0;
  rp_send(&c, &sp.m);
  rp_wait_done(&c, 1);
  rp_session *s = &c.s[1];
  CHECK_EQ_INT(s->out_len[0], 1000);
  CHECK_EQ_INT(s->truncated[0], 3000005 - 1000);
  CHECK_EQ_INT(s->out_len[1], 0);
  CHECK_EQ_INT(s->truncated[1], 2000000);
  CHECK_EQ_INT(s->ex.code, 0);

  rp_spawn_init(&sp, 2, ARGV("head", "-c", "3000000", "/dev/zero"));
  sp.m.u.spawn.has_stdout_cap = true;
  sp.m.u.spawn.stdout_cap = 100000;
  rp_send(&c, &sp.m);
  rp_wait_spawned(&c, 2);
  pump_for(&c, 500);
  s = &c.s[2];
  CHECK_EQ_INT(s->out_len[0], 65536);
  CHECK(!s->exited);
  rp_credit(&c, 2, TETHER_STREAM_STDOUT, 100000 - 65536); /* exactly the rest of the cap */
  rp_wait_done(&c, 2);
  CHECK_EQ_INT(s->out_len[0], 100000);
  CHECK_EQ_INT(s->truncated[0], 3000000 - 100000);
  CHECK_EQ_INT(s->ex.code, 0);
  CHECK_EQ_INT(s->nerrors, 0);
  goodbye_and_exit0(&c);
}

/* Children flood while the parent grants credit slowly: the runner's memory
 * stays bounded (it never reads more than the credit). Then the parent
 * grants each stream the most credit it may (max_window, 16 MiB) and stops
 * reading the connection: the channel's pending-output bound still holds. */
TEST(flow_memory_bounded) {
  enum { N = 8 };
  rp c;
  rp_open_flow(&c, NOARGS, 0, 0, RP_GRANT_NONE);
  CHECK_EQ_INT(c.window, TETHER_WINDOW_DEFAULT);
  CHECK_EQ_INT(c.max_window, TETHER_WINDOW_MAX);
  for (uint32_t id = 1; id <= N; id++) {
    rp_spawn_argv(&c, id, ARGV("head", "-c", "2000000000", "/dev/zero"));
    c.s[id].sink = sink_discard;
  }
  for (uint32_t id = 1; id <= N; id++) rp_wait_spawned(&c, id);
  long peak = 0;
  uint64_t end = test_now_ms() + 2000;
  while (test_now_ms() < end) {
    for (uint32_t id = 1; id <= N; id++)
      if (c.s[id].out_credit[0] == 0) rp_credit(&c, id, TETHER_STREAM_STDOUT, 65536);
    pump_for(&c, 20);
    long kib = rss_kib(c.pid);
    if (kib > peak) peak = kib;
  }
  for (uint32_t id = 1; id <= N; id++) CHECK(c.s[id].out_len[0] >= 65536);
  CHECK(peak < 64 * 1024);
  for (uint32_t id = 1; id <= N; id++)
    rp_credit(&c, id, TETHER_STREAM_STDOUT, TETHER_WINDOW_MAX - c.s[id].out_credit[0]);
  for (int k = 0; k < 10; k++) {
    usleep(150 * 1000); /* not reading */
    long kib = rss_kib(c.pid);
    if (kib > peak) peak = kib;
  }
  CHECK(peak < 64 * 1024);
  /* The children still flood with credit to spare: the parent's control
   * frames are read all the same (input is not starved by output). */
  uint64_t t0 = test_now_ms();
  for (uint32_t id = 1; id <= N; id++) rp_terminate(&c, id, 100);
  for (uint32_t id = 1; id <= N; id++) rp_wait_done(&c, id);
  CHECK(test_now_ms() - t0 < 10000);
  for (uint32_t id = 1; id <= N; id++) CHECK_EQ_INT(c.s[id].ex.signal, TETHER_SIG_TERM);
  goodbye_and_exit0(&c);
}

/* After the parent's Goodbye no Credit can come: the runner ends the
 * sessions, reads (and discards) what is past the credit so the pipes reach
 * end of file at once, sends Exited and its Goodbye. */
TEST(flow_goodbye_without_credit) {
  rp c;
  rp_open_flow(&c, NOARGS, 65536, 0, RP_GRANT_NONE);
  rp_spawn_argv(&c, 1, ARGV("head", "-c", "100000000", "/dev/zero"));
  rp_wait_spawned(&c, 1);
  pump_for(&c, 300);
  CHECK_EQ_INT(c.s[1].out_len[0], 65536);
  uint64_t t0 = test_now_ms();
  rp_simple(&c, 0, TETHER_MSG_GOODBYE);
  rp_until(&c, pred_closed, NULL, 10000, "the runner to close");
  /* well before the shutdown grace (500 ms) + abandon (1 s) timers */
  CHECK(test_now_ms() - t0 < 1400);
  CHECK(c.s[1].exited);
  CHECK_EQ_INT(c.s[1].ex.signal, TETHER_SIG_TERM);
  CHECK_EQ_INT(c.s[1].out_len[0], 65536);
  CHECK(c.goodbye);
  CHECK_EQ_INT(c.frames_after_goodbye, 0);
  int st = rp_wait_runner(&c, 10000);
  CHECK(WIFEXITED(st));
  CHECK_EQ_INT(WEXITSTATUS(st), 0);
  rp_free(&c);
}

/* ------------------------------------------------------------ lifetime */

TEST(parent_close_kills_children) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("sleep", "1000"));
  rp_spawn_argv(&c, 2, ARGV("sh", "-c", "trap '' TERM; sleep 1000"));
  rp_wait_spawned(&c, 1);
  rp_wait_spawned(&c, 2);
  uint64_t p1 = c.s[1].pid, p2 = c.s[2].pid;
  CHECK(rp_pid_alive(p1));
  tether_channel_free(c.ch);
  c.ch = NULL;
  int st = rp_wait_runner(&c, 10000);
  CHECK(WIFEXITED(st));
  CHECK_EQ_INT(WEXITSTATUS(st), 0);
  CHECK(!rp_pid_alive(p1));
  CHECK(!rp_pid_alive(p2));
  rp_free(&c);
}

TEST(goodbye_ends_sessions_with_exited) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("sleep", "1000"));
  rp_wait_spawned(&c, 1);
  rp_simple(&c, 0, TETHER_MSG_GOODBYE);
  rp_wait_done(&c, 1);
  CHECK_EQ_INT(c.s[1].ex.signal, TETHER_SIG_TERM);
  /* then the runner's own Goodbye, as its last frame (PROTOCOL.md §9) */
  rp_until(&c, pred_closed, NULL, 10000, "the runner to close");
  CHECK(c.goodbye);
  CHECK_EQ_INT(c.frames_after_goodbye, 0);
  int st = rp_wait_runner(&c, 10000);
  CHECK(WIFEXITED(st));
  CHECK_EQ_INT(WEXITSTATUS(st), 0);
  rp_free(&c);
}

TEST(grandchild_holds_stdout) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn_argv(&c, 1, ARGV("sh", "-c", "sleep 100 & echo started"));
  rp_wait_spawned(&c, 1);
  /* The shell exits at once; its background sleep keeps the pipe open, so
   * no Exited yet. */
  uint64_t end = test_now_ms() + 700;
  while (test_now_ms() < end) rp_pump(&c, 100);
  CHECK(!c.s[1].exited);
  CHECK_EQ_MEM(c.s[1].out[0], c.s[1].out_len[0], "started\n", 8);
  rp_simple(&c, 1, TETHER_MSG_STATUS_REQUEST);
  uint32_t id = 1;
  rp_until(&c, pred_status, &id, 10000, "StatusReply");
  CHECK(!c.s[1].status_running); /* the child itself is gone */
  rp_terminate(&c, 1, 200);
  rp_wait_done(&c, 1);
  CHECK(!c.s[1].ex.signaled);
  CHECK_EQ_INT(c.s[1].ex.code, 0);
  goodbye_and_exit0(&c);
}

TEST(no_fd_leak_no_zombies) {
  rp c;
  rp_open(&c, NOARGS);
  int before = rp_count_fds(c.pid);
  for (uint32_t i = 0; i < 200; i++) {
    uint32_t id = 1 + (i % 3); /* ids are reused after Exited */
    if (i % 4 == 3)
      rp_spawn_argv(&c, id, ARGV("/nonexistent"));
    else
      rp_spawn_argv(&c, id, ARGV("sh", "-c", "echo x; echo y >&2"));
    rp_wait_done(&c, id);
    free(c.s[id].out[0]);
    free(c.s[id].out[1]);
    memset(&c.s[id], 0, sizeof c.s[id]);
  }
  int after = rp_count_fds(c.pid);
  CHECK_EQ_INT(after, before);
  int zombies = 0;
  int kids = rp_children(c.pid, &zombies);
  CHECK_EQ_INT(zombies, 0);
  CHECK_EQ_INT(kids, 0);
  goodbye_and_exit0(&c);
}

TEST_MAIN(TEST_ENTRY(handshake), TEST_ENTRY(eof_after_handshake_exits_0),
          TEST_ENTRY(version_mismatch), TEST_ENTRY(garbage_preface),
          TEST_ENTRY(first_frame_not_hello), TEST_ENTRY(second_hello),
          TEST_ENTRY(handshake_timeout), TEST_ENTRY(stdio_mode),
          TEST_ENTRY(unix_socket_connect), TEST_ENTRY(unix_socket_listen), TEST_ENTRY(usage_errors),
          TEST_ENTRY(spawn_output_exit), TEST_ENTRY(spawn_output_exit_sigchld_fallback),
          TEST_ENTRY(spawn_not_found), TEST_ENTRY(spawn_not_executable),
          TEST_ENTRY(spawn_bad_cwd), TEST_ENTRY(spawn_bad_requests), TEST_ENTRY(spawn_env),
          TEST_ENTRY(merge_stderr_and_stdin_null), TEST_ENTRY(child_inherits_only_stdio),
          TEST_ENTRY(child_signal_state), TEST_ENTRY(stdin_cat), TEST_ENTRY(stdin_large),
          TEST_ENTRY(stdin_queue_limit), TEST_ENTRY(stdin_offset_gap), TEST_ENTRY(stdin_after_child_closed_it),
          TEST_ENTRY(signal_term), TEST_ENTRY(signal_group_and_unknown),
          TEST_ENTRY(terminate_after_grace), TEST_ENTRY(terminate_polite),
          TEST_ENTRY(spawn_timeout), TEST_ENTRY(status), TEST_ENTRY(output_cap),
          TEST_ENTRY(output_large_streams), TEST_ENTRY(output_respects_parent_max_frame), TEST_ENTRY(output_backpressure),
          TEST_ENTRY(concurrent_50), TEST_ENTRY(concurrent_50_sigchld_fallback), TEST_ENTRY(max_sessions), TEST_ENTRY(spawn_over_limits_fails_session_only), TEST_ENTRY(session_exists),
          TEST_ENTRY(unknown_session), TEST_ENTRY(resize_on_pipes_invalid),
          TEST_ENTRY(unknown_body), TEST_ENTRY(malformed_payload), TEST_ENTRY(error_protocol_not_flagged_fatal),
          TEST_ENTRY(error_never_answered), TEST_ENTRY(error_message_too_long),
          TEST_ENTRY(two_bodies_in_one_frame),
          TEST_ENTRY(frame_too_large), TEST_ENTRY(frame_empty), TEST_ENTRY(spawn_on_session_0), TEST_ENTRY(runner_only_frame_from_parent),
          TEST_ENTRY(parent_close_kills_children), TEST_ENTRY(goodbye_ends_sessions_with_exited),
          TEST_ENTRY(grandchild_holds_stdout), TEST_ENTRY(no_fd_leak_no_zombies),
          TEST_ENTRY(stdin_after_stdin_close), TEST_ENTRY(flow_credit_ignored_without_flow),
          TEST_ENTRY(flow_output_stops_at_window), TEST_ENTRY(flow_pty_window),
          TEST_ENTRY(flow_credit_errors), TEST_ENTRY(flow_stdin_beyond_credit),
          TEST_ENTRY(flow_cat_saturated_32MiB), TEST_ENTRY(flow_cat_small_window),
          TEST_ENTRY(flow_capped_stream_drains), TEST_ENTRY(flow_memory_bounded),
          TEST_ENTRY(flow_goodbye_without_credit),
          HELPER_ENTRY(list_fds))
