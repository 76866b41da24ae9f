/* Terminal (pty) sessions of tether-runner, driven from outside as a real
 * process by the minimal parent of tests/runner_parent.h.
 *
 * The line discipline is left as the kernel sets it up (cooked mode, echo,
 * ONLCR), so the tests account for it: output lines end in "\r\n", and
 * input written to the terminal is echoed into the output. */
#include <dirent.h>

/* runner_parent.h is header-only; this file uses part of it. */
#pragma GCC diagnostic ignored "-Wunused-function"
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

static void pty_spawn_init(rp_spawn *sp, uint32_t id, const char *const *argv,
                           uint32_t rows, uint32_t cols) {
  rp_spawn_init(sp, id, argv);
  sp->m.u.spawn.io_mode = TETHER__IO_PTY;
  sp->m.u.spawn.pty_rows = rows;
  sp->m.u.spawn.pty_cols = cols;
}

static void pty_spawn(rp *c, uint32_t id, const char *const *argv, uint32_t rows, uint32_t cols) {
  rp_spawn sp;
  pty_spawn_init(&sp, id, argv, rows, cols);
  rp_send(c, &sp.m);
}

/* The session's terminal output as a C string (valid until more arrives). */
static const char *text(rp_session *s) {
  if (!s->out[0]) s->out[0] = malloc(RP_OUT_MAX);
  CHECK(s->out[0]);
  CHECK(s->out_len[0] < RP_OUT_MAX);
  s->out[0][s->out_len[0]] = '\0';
  return (const char *)s->out[0];
}

/* Frees and clears session `id` so the id can be used again. */
static void reset_session(rp *c, uint32_t id) {
  free(c->s[id].out[0]);
  free(c->s[id].out[1]);
  memset(&c->s[id], 0, sizeof c->s[id]);
}

typedef struct needle {
  uint32_t id;
  const char *s;
} needle;

static bool pred_output_has(rp *c, const void *a) {
  const needle *n = a;
  rp_session *s = &c->s[n->id];
  return s->out_len[0] > 0 && strstr(text(s), n->s) != NULL;
}

static void wait_output(rp *c, uint32_t id, const char *s) {
  needle n = { id, s };
  char what[160];
  snprintf(what, sizeof what, "\"%s\" in the output of session %u", s, id);
  rp_until(c, pred_output_has, &n, 20000, what);
}

/* Sends `data` as the next Stdin of a session; *offset tracks the stream. */
static void send_in(rp *c, uint32_t id, const char *data, uint64_t *offset) {
  rp_stdin(c, id, data, *offset);
  *offset += strlen(data);
}

static void send_resize(rp *c, uint32_t id, uint32_t rows, uint32_t cols) {
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.session = id;
  m.type = TETHER_MSG_RESIZE;
  m.u.resize.rows = rows;
  m.u.resize.cols = cols;
  rp_send(c, &m);
}

/* Pumps for `ms` and returns whether session `id` is still running. */
static bool still_running_after(rp *c, uint32_t id, int ms) {
  uint64_t end = test_now_ms() + (uint64_t)ms;
  while (test_now_ms() < end) rp_pump(c, 20);
  return !c->s[id].exited;
}

/* ---- /proc helpers ---- */

/* Field values from /proc/PID/stat: comm, ppid, pgrp, session. */
static bool proc_stat(pid_t pid, char *comm, size_t cap, int *ppid, int *pgrp, int *sid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return false;
  size_t got = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[got] = '\0';
  char *open_ = strchr(buf, '('), *close_ = strrchr(buf, ')');
  if (!open_ || !close_) return false;
  size_t n = (size_t)(close_ - open_ - 1);
  if (n >= cap) n = cap - 1;
  memcpy(comm, open_ + 1, n);
  comm[n] = '\0';
  char state;
  return sscanf(close_ + 1, " %c %d %d %d", &state, ppid, pgrp, sid) == 4 && state != 'Z';
}

/* A live child of `parent` whose command name is `name`, or 0. */
static pid_t find_child(pid_t parent, const char *name) {
  DIR *d = opendir("/proc");
  CHECK(d);
  pid_t found = 0;
  struct dirent *e;
  while (!found && (e = readdir(d))) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char comm[64];
    int ppid, pgrp, sid;
    pid_t pid = (pid_t)atoi(e->d_name);
    if (proc_stat(pid, comm, sizeof comm, &ppid, &pgrp, &sid) && ppid == parent &&
        strcmp(comm, name) == 0)
      found = pid;
  }
  closedir(d);
  return found;
}

static pid_t wait_child(pid_t parent, const char *name) {
  uint64_t deadline = test_now_ms() + 10000;
  pid_t p;
  while (!(p = find_child(parent, name))) {
    if (test_now_ms() > deadline) FAIL("no child \"%s\" of %d appeared", name, (int)parent);
    usleep(5000);
  }
  return p;
}

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

/* ------------------------------------------------------------ basics */

TEST(hello_advertises_pty) {
  rp c;
  rp_open(&c, NOARGS);
  CHECK(c.hello.u.hello.capabilities & TETHER_CAP_BIT(TETHER_CAP_PTY));
  goodbye_and_exit0(&c);
}

/* The child sees a terminal of the requested size on 0, 1 and 2; output
 * arrives as STREAM_PTY with "\r\n" line ends. */
TEST(tty_and_size) {
  rp c;
  rp_open(&c, NOARGS);
  pty_spawn(&c, 1, ARGV("sh", "-c", "tty; stty size; test -t 0 && test -t 1 && test -t 2 && echo all-tty"),
            30, 100);
  rp_wait_done(&c, 1);
  rp_session *s = &c.s[1];
  CHECK_EQ_INT(s->spawned_index, 1);
  CHECK_EQ_INT(s->out_stream[0], TETHER_STREAM_PTY);
  CHECK_EQ_INT(s->out_len[1], 0);
  CHECK_EQ_INT(s->ex.code, 0);
  const char *t = text(s);
  unsigned n = 0;
  char rest[64];
  if (sscanf(t, "/dev/pts/%u\r\n%63[^\n]", &n, rest) != 2) FAIL("unexpected output: %s", t);
  CHECK_EQ_STR(rest, "30 100\r");
  CHECK(strstr(t, "30 100\r\nall-tty\r\n"));
  goodbye_and_exit0(&c);
}

TEST(default_size_24x80) {
  rp c;
  rp_open(&c, NOARGS);
  pty_spawn(&c, 1, ARGV("stty", "size"), 0, 0);
  rp_wait_done(&c, 1);
  CHECK_EQ_STR(text(&c.s[1]), "24 80\r\n");
  CHECK_EQ_INT(c.s[1].ex.code, 0);
  goodbye_and_exit0(&c);
}

/* The child leads its own session and process group, and the terminal is
 * its controlling terminal (reading /dev/tty works). */
TEST(session_leader_with_controlling_tty) {
  rp c;
  rp_open(&c, NOARGS);
  pty_spawn(&c, 1,
            ARGV("sh", "-c",
                 "read a b c d e f g rest < /proc/$$/stat; echo \"ids $a $e $f\"; "
                 "echo hi > /dev/tty && echo ctty-ok"),
            0, 0);
  rp_wait_done(&c, 1);
  /* pid, process group and session are one number: Spawned.pid, or (a
   * root runner's children live in its PID namespace, runner/contain.h)
   * the child's number there. */
  unsigned long long self = 0, pgrp = 1, sid = 2;
  CHECK(sscanf(text(&c.s[1]), "ids %llu %llu %llu", &self, &pgrp, &sid) == 3);
  CHECK(self == pgrp && pgrp == sid);
  CHECK(self == c.s[1].pid || geteuid() == 0);
  CHECK(strstr(text(&c.s[1]), "\r\nhi\r\nctty-ok\r\n") != NULL);
  goodbye_and_exit0(&c);
}

/* The slave and the master never leak into the child: exactly 0, 1, 2. */
TEST(child_inherits_only_the_terminal) {
  rp c;
  rp_open(&c, NOARGS);
  pty_spawn(&c, 1, ARGV("sleep", "100"), 0, 0); /* another terminal exists */
  rp_wait_spawned(&c, 1);
  pty_spawn(&c, 2, ARGV(test_argv0, "--helper", "list_fds"), 0, 0);
  rp_wait_done(&c, 2);
  CHECK_EQ_INT(c.s[2].ex.code, 0);
  CHECK_EQ_STR(text(&c.s[2]), "0 1 2 ");
  rp_terminate(&c, 1, 100);
  rp_wait_done(&c, 1);
  goodbye_and_exit0(&c);
}

/* TERM is whatever the Spawn's environment says; nothing is injected. */
TEST(term_from_spawn_env_only) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn sp;
  pty_spawn_init(&sp, 1, ARGV("/bin/sh", "-c", "echo \"T=${TERM-unset}\""), 0, 0);
  sp.m.u.spawn.env_mode = TETHER_ENV_CLEAR;
  rp_spawn_env(&sp, ARGV("TERM=xterm-tether"));
  rp_send(&c, &sp.m);
  rp_wait_done(&c, 1);
  CHECK_EQ_STR(text(&c.s[1]), "T=xterm-tether\r\n");

  pty_spawn_init(&sp, 2, ARGV("/bin/sh", "-c", "echo \"T=${TERM-unset}\""), 0, 0);
  sp.m.u.spawn.env_mode = TETHER_ENV_CLEAR;
  rp_send(&c, &sp.m);
  rp_wait_done(&c, 2);
  CHECK_EQ_STR(text(&c.s[2]), "T=unset\r\n");
  goodbye_and_exit0(&c);
}

/* STDIN_MODE_NULL in a terminal session: fd 0 is /dev/null, 1 and 2 the
 * terminal; Stdin frames are refused. */
TEST(stdin_null_in_pty) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn sp;
  pty_spawn_init(&sp, 1, ARGV("sh", "-c", "test -t 0 || echo in-not-tty; test -t 1 && echo out-tty; cat; echo eof"), 0, 0);
  sp.m.u.spawn.stdin_mode = TETHER__STDIN_NULL;
  rp_send(&c, &sp.m);
  rp_wait_done(&c, 1);
  CHECK_EQ_STR(text(&c.s[1]), "in-not-tty\r\nout-tty\r\neof\r\n");
  pty_spawn_init(&sp, 2, ARGV("sleep", "100"), 0, 0);
  sp.m.u.spawn.stdin_mode = TETHER__STDIN_NULL;
  rp_send(&c, &sp.m);
  rp_wait_spawned(&c, 2);
  rp_stdin(&c, 2, "x", 0);
  rp_wait_error(&c, 2);
  CHECK_EQ_INT(c.s[2].last_error, TETHER_WIRE_INVALID);
  rp_terminate(&c, 2, 100);
  rp_wait_done(&c, 2);
  goodbye_and_exit0(&c);
}

TEST(output_cap_applies_to_pty_stream) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn sp;
  pty_spawn_init(&sp, 1, ARGV("seq", "1", "1000"), 0, 0);
  sp.m.u.spawn.has_stdout_cap = true;
  sp.m.u.spawn.stdout_cap = 100;
  rp_send(&c, &sp.m);
  rp_wait_done(&c, 1);
  CHECK_EQ_INT(c.s[1].out_len[0], 100);
  /* seq 1 1000 writes 3893 bytes; ONLCR adds one '\r' per line */
  CHECK_EQ_INT(c.s[1].truncated[0], 3893 + 1000 - 100);
  CHECK_EQ_INT(c.s[1].ex.code, 0);
  goodbye_and_exit0(&c);
}

/* ------------------------------------------------------------ resize */

TEST(resize_then_stty_size) {
  rp c;
  rp_open(&c, NOARGS);
  pty_spawn(&c, 1, ARGV("sh", "-c", "stty size; read x; stty size"), 24, 80);
  wait_output(&c, 1, "24 80\r\n");
  send_resize(&c, 1, 50, 132);
  uint64_t off = 0;
  send_in(&c, 1, "go\n", &off);
  rp_wait_done(&c, 1);
  /* "go" is echoed by the terminal */
  CHECK_EQ_STR(text(&c.s[1]), "24 80\r\ngo\r\n50 132\r\n");
  CHECK_EQ_INT(c.s[1].nerrors, 0);
  goodbye_and_exit0(&c);
}

/* The kernel tells the foreground process group (SIGWINCH). */
TEST(resize_delivers_sigwinch) {
  rp c;
  rp_open(&c, NOARGS);
  pty_spawn(&c, 1,
            ARGV("sh", "-c", "trap 'stty size; exit 0' WINCH; echo ready; while :; do sleep 0.05; done"),
            24, 80);
  wait_output(&c, 1, "ready\r\n");
  send_resize(&c, 1, 40, 90);
  rp_wait_done(&c, 1);
  CHECK_EQ_STR(text(&c.s[1]), "ready\r\n40 90\r\n");
  CHECK_EQ_INT(c.s[1].ex.code, 0);
  goodbye_and_exit0(&c);
}

TEST(resize_bad_values) {
  rp c;
  rp_open(&c, NOARGS);
  pty_spawn(&c, 1, ARGV("sleep", "100"), 0, 0);
  rp_wait_spawned(&c, 1);
  send_resize(&c, 1, 0, 80);
  rp_wait_error(&c, 1);
  CHECK_EQ_INT(c.s[1].last_error, TETHER_WIRE_INVALID);
  CHECK(!c.s[1].last_error_fatal);
  send_resize(&c, 1, 24, 40000);
  while (c.s[1].nerrors < 2) CHECK(rp_pump(&c, 5000) == 1);
  CHECK_EQ_INT(c.s[1].last_error, TETHER_WIRE_INVALID);
  rp_terminate(&c, 1, 100);
  rp_wait_done(&c, 1);
  goodbye_and_exit0(&c);
}

/* ------------------------------------------------------------ volume */

/* Every line of a large output arrives, in order (ONLCR: "\r\n"). */
TEST(seq_200000_complete) {
  rp c;
  rp_open(&c, NOARGS);
  pty_spawn(&c, 1, ARGV("seq", "1", "200000"), 0, 0);
  rp_wait_done(&c, 1);
  CHECK_EQ_INT(c.s[1].ex.code, 0);
  const char *t = text(&c.s[1]);
  const char *end = t + c.s[1].out_len[0];
  char want[16];
  long line = 0;
  const char *p = t;
  /* memchr, not strstr: a sanitizer's strstr scans the whole rest */
  while (p < end) {
    const char *eol = memchr(p, '\r', (size_t)(end - p));
    if (!eol || eol + 1 >= end || eol[1] != '\n') FAIL("line %ld does not end in \\r\\n", line + 1);
    line++;
    int n = snprintf(want, sizeof want, "%ld", line);
    if ((size_t)(eol - p) != (size_t)n || memcmp(p, want, (size_t)n) != 0)
      FAIL("line %ld is \"%.*s\"", line, (int)(eol - p), p);
    p = eol + 2;
  }
  CHECK_EQ_INT(line, 200000);
  goodbye_and_exit0(&c);
}

typedef struct yes_count {
  uint64_t y, nl, cr, other;
  int last;
  bool bad_pair; /* a '\n' not preceded by '\r' */
} yes_count;

static void yes_sink(rp_session *s, int i, const uint8_t *p, size_t n) {
  (void)i;
  yes_count *yc = s->sink_arg;
  for (size_t k = 0; k < n; k++) {
    switch (p[k]) {
    case 'y': yc->y++; break;
    case '\r': yc->cr++; break;
    case '\n':
      yc->nl++;
      if (yc->last != '\r') yc->bad_pair = true;
      break;
    default: yc->other++; break;
    }
    yc->last = p[k];
  }
}

/* 50 000 000 bytes of "y\n" through the terminal: 25 000 000 lines, each
 * "\n" turned into "\r\n" by the line discipline. */
TEST(yes_50mb_exact) {
  rp c;
  rp_open(&c, NOARGS);
  yes_count yc;
  memset(&yc, 0, sizeof yc);
  yc.last = -1;
  c.s[1].sink = yes_sink;
  c.s[1].sink_arg = &yc;
  pty_spawn(&c, 1, ARGV("sh", "-c", "yes | head -c 50000000"), 0, 0);
  rp_until(&c, pred_done, &(uint32_t){ 1 }, 120000, "Exited");
  CHECK_EQ_INT(c.s[1].ex.code, 0);
  CHECK(!c.s[1].ex.signaled);
  CHECK_EQ_INT(yc.other, 0);
  CHECK(!yc.bad_pair);
  CHECK_EQ_INT(yc.y, 25000000);
  CHECK_EQ_INT(yc.nl, 25000000);
  CHECK_EQ_INT(yc.cr, 25000000);
  CHECK_EQ_INT(c.s[1].out_len[0] - yc.cr, 50000000);
  goodbye_and_exit0(&c);
}

/* A child that writes and exits at once never loses its last bytes: Exited
 * waits until the master reported the end (EIO), which Linux gives only
 * once the buffered output was read. 1000 sessions, 50 at a time. */
TEST(last_output_never_lost_1000) {
  rp c;
  rp_open(&c, NOARGS);
  enum { WAVE = 50, TOTAL = 1000 };
  for (int done = 0; done < TOTAL; done += WAVE) {
    for (uint32_t id = 1; id <= WAVE; id++) pty_spawn(&c, id, ARGV("printf", "last-line"), 0, 0);
    for (uint32_t id = 1; id <= WAVE; id++) {
      rp_wait_done(&c, id);
      rp_session *s = &c.s[id];
      if (!s->exited) FAIL("session %u (round %d) did not start: %s", id, done / WAVE, s->sf_message);
      CHECK_EQ_INT(s->ex.code, 0);
      if (s->out_len[0] != 9 || memcmp(s->out[0], "last-line", 9) != 0)
        FAIL("round %d session %u: output \"%s\"", done / WAVE, id, text(s));
      reset_session(&c, id);
    }
  }
  goodbye_and_exit0(&c);
}

/* ------------------------------------------------------------ stdin EOF */

/* "abc" without a newline, then StdinClose: VEOF twice (the first hands
 * "abc" to cat, the second makes its read return 0). */
TEST(stdin_close_partial_line_cat) {
  rp c;
  rp_open(&c, NOARGS);
  pty_spawn(&c, 1, ARGV("cat"), 0, 0);
  rp_wait_spawned(&c, 1);
  uint64_t off = 0;
  send_in(&c, 1, "abc", &off);
  rp_simple(&c, 1, TETHER_MSG_STDIN_CLOSE);
  rp_wait_done(&c, 1);
  if (c.s[1].ex.signaled) FAIL("cat died of signal %d; output \"%s\"", c.s[1].ex.raw_signal, text(&c.s[1]));
  CHECK(strstr(text(&c.s[1]), "abc"));
  CHECK_EQ_INT(c.s[1].ex.code, 0);
  goodbye_and_exit0(&c);
}

/* The output also holds the echo of "abc"; the count line is what wc
 * says: 3 bytes, no newline was typed. */
TEST(stdin_close_partial_line_wc) {
  rp c;
  rp_open(&c, NOARGS);
  pty_spawn(&c, 1, ARGV("wc", "-c"), 0, 0);
  rp_wait_spawned(&c, 1);
  uint64_t off = 0;
  send_in(&c, 1, "abc", &off);
  rp_simple(&c, 1, TETHER_MSG_STDIN_CLOSE);
  rp_wait_done(&c, 1);
  CHECK_EQ_INT(c.s[1].ex.code, 0);
  const char *t = text(&c.s[1]);
  size_t n = strlen(t);
  CHECK(n >= 3);
  CHECK_EQ_STR(t + n - 3, "3\r\n");
  CHECK(strncmp(t, "abc", 3) == 0); /* the echo comes first */
  goodbye_and_exit0(&c);
}

/* After a complete line only one VEOF goes out: the first wc sees EOF, the
 * second is not given a stray one and keeps waiting. */
TEST(stdin_close_at_line_start_sends_one_eof) {
  rp c;
  rp_open(&c, NOARGS);
  pty_spawn(&c, 1, ARGV("sh", "-c", "wc -c; echo second; wc -c; echo end"), 0, 0);
  rp_wait_spawned(&c, 1);
  uint64_t off = 0;
  send_in(&c, 1, "abc\n", &off);
  rp_simple(&c, 1, TETHER_MSG_STDIN_CLOSE);
  wait_output(&c, 1, "4\r\nsecond\r\n");
  CHECK(still_running_after(&c, 1, 300));
  CHECK(!strstr(text(&c.s[1]), "end"));
  rp_terminate(&c, 1, 200);
  rp_wait_done(&c, 1);
  goodbye_and_exit0(&c);
}

/* Nothing typed at all: StdinClose is one VEOF, read returns 0 at once. */
TEST(stdin_close_without_input) {
  rp c;
  rp_open(&c, NOARGS);
  pty_spawn(&c, 1, ARGV("sh", "-c", "wc -c; echo second; wc -c; echo end"), 0, 0);
  rp_wait_spawned(&c, 1);
  rp_simple(&c, 1, TETHER_MSG_STDIN_CLOSE);
  wait_output(&c, 1, "0\r\nsecond\r\n");
  CHECK(still_running_after(&c, 1, 300));
  rp_terminate(&c, 1, 200);
  rp_wait_done(&c, 1);
  goodbye_and_exit0(&c);
}

/* A terminal's Enter key sends '\r'; with ICRNL (the default) that ends the
 * line too, so one VEOF. */
TEST(stdin_close_after_cr_line) {
  rp c;
  rp_open(&c, NOARGS);
  pty_spawn(&c, 1, ARGV("sh", "-c", "wc -c; echo second; wc -c; echo end"), 0, 0);
  rp_wait_spawned(&c, 1);
  uint64_t off = 0;
  send_in(&c, 1, "abcd\r", &off);
  rp_simple(&c, 1, TETHER_MSG_STDIN_CLOSE);
  wait_output(&c, 1, "5\r\nsecond\r\n");
  CHECK(still_running_after(&c, 1, 300));
  rp_terminate(&c, 1, 200);
  rp_wait_done(&c, 1);
  goodbye_and_exit0(&c);
}

/* Non-canonical mode has no end of input: StdinClose sends VEOF once, as
 * an ordinary byte, and the program decides what it means. */
TEST(stdin_close_raw_mode_sends_veof_once) {
  rp c;
  rp_open(&c, NOARGS);
  pty_spawn(&c, 1,
            ARGV("sh", "-c", "stty raw -echo; echo ready; head -c 1 | od -An -tx1; stty sane"),
            0, 0);
  wait_output(&c, 1, "ready");
  rp_simple(&c, 1, TETHER_MSG_STDIN_CLOSE);
  rp_wait_done(&c, 1);
  CHECK_EQ_INT(c.s[1].ex.code, 0);
  CHECK(strstr(text(&c.s[1]), " 04"));
  goodbye_and_exit0(&c);
}

/* VEOF is read from the terminal: a program that moved it to ^X gets ^X. */
TEST(stdin_close_uses_termios_veof) {
  rp c;
  rp_open(&c, NOARGS);
  pty_spawn(&c, 1, ARGV("sh", "-c", "stty eof '^X'; echo ready; wc -c"), 0, 0);
  wait_output(&c, 1, "ready\r\n");
  uint64_t off = 0;
  send_in(&c, 1, "hello", &off);
  rp_simple(&c, 1, TETHER_MSG_STDIN_CLOSE);
  rp_wait_done(&c, 1);
  CHECK_EQ_INT(c.s[1].ex.code, 0);
  const char *t = text(&c.s[1]);
  size_t n = strlen(t);
  CHECK(n >= 3);
  CHECK_EQ_STR(t + n - 3, "5\r\n");
  goodbye_and_exit0(&c);
}

/* The terminal keeps working for output after StdinClose (the master is
 * not closed). Stdin after StdinClose breaks the parent's input state
 * machine: Error{PROTOCOL, fatal} in pty mode as with pipes (PROTOCOL.md
 * §6.4; tests/test_runner.c stdin_after_stdin_close). */
TEST(stdin_close_keeps_output_open) {
  rp c;
  rp_open(&c, NOARGS);
  pty_spawn(&c, 1, ARGV("sh", "-c", "cat; sleep 0.2; echo after-eof"), 0, 0);
  rp_wait_spawned(&c, 1);
  rp_simple(&c, 1, TETHER_MSG_STDIN_CLOSE);
  rp_wait_done(&c, 1);
  CHECK_EQ_INT(c.s[1].ex.code, 0);
  CHECK_EQ_INT(c.s[1].nerrors, 0);
  CHECK(strstr(text(&c.s[1]), "after-eof\r\n"));
  pty_spawn(&c, 2, ARGV("sleep", "100"), 0, 0);
  rp_wait_spawned(&c, 2);
  rp_simple(&c, 2, TETHER_MSG_STDIN_CLOSE);
  rp_stdin(&c, 2, "late", 0);
  rp_expect_fatal_exit(&c, TETHER_WIRE_PROTOCOL);
}

/* ------------------------------------------------------------ signals */

/* An interactive shell runs `sleep` as a foreground job in its own process
 * group. Signal{INT, group} reaches that job (the terminal's foreground
 * group) as well as the shell's group; the shell survives it. */
TEST(signal_int_group_reaches_foreground_job) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn sp;
  pty_spawn_init(&sp, 1, ARGV("sh", "-i"), 0, 0);
  rp_spawn_env(&sp, ARGV("PS1=$ ", "ENV=/dev/null"));
  rp_send(&c, &sp.m);
  rp_wait_spawned(&c, 1);
  pid_t shell = (pid_t)c.s[1].pid;
  uint64_t off = 0;
  send_in(&c, 1, "sleep 100\n", &off);
  pid_t job = wait_child(shell, "sleep");
  char comm[64];
  int ppid, pgrp, sid;
  /* job control: the job is its own group, and the terminal's foreground */
  for (uint64_t end = test_now_ms() + 5000;;) {
    CHECK(proc_stat(job, comm, sizeof comm, &ppid, &pgrp, &sid));
    if (pgrp == job) break;
    CHECK(test_now_ms() < end);
    usleep(5000);
  }
  CHECK(pgrp != shell);
  CHECK_EQ_INT(sid, shell);
  rp_signal(&c, 1, TETHER_SIG_INT, true);
  for (uint64_t end = test_now_ms() + 10000; rp_pid_alive((uint64_t)job);) {
    CHECK(test_now_ms() < end);
    rp_pump(&c, 10);
  }
  send_in(&c, 1, "echo alive-$((40+2))\n", &off);
  wait_output(&c, 1, "alive-42");
  CHECK(!c.s[1].exited);
  send_in(&c, 1, "exit 3\n", &off);
  rp_wait_done(&c, 1);
  CHECK(!c.s[1].ex.signaled);
  CHECK_EQ_INT(c.s[1].ex.code, 3);
  goodbye_and_exit0(&c);
}

/* Without `group` the signal goes to the session leader alone. */
TEST(signal_without_group_hits_leader_only) {
  rp c;
  rp_open(&c, NOARGS);
  pty_spawn(&c, 1, ARGV("sh", "-c", "trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.05; done"), 0, 0);
  wait_output(&c, 1, "ready\r\n");
  rp_signal(&c, 1, TETHER_SIG_USR1, false);
  wait_output(&c, 1, "got-usr1\r\n");
  rp_signal(&c, 1, TETHER_SIG_KILL, false);
  rp_wait_done(&c, 1);
  CHECK(c.s[1].ex.signaled);
  CHECK_EQ_INT(c.s[1].ex.signal, TETHER_SIG_KILL);
  goodbye_and_exit0(&c);
}

TEST(terminate_kills_pty_session) {
  rp c;
  rp_open(&c, NOARGS);
  pty_spawn(&c, 1, ARGV("sleep", "100"), 0, 0);
  rp_wait_spawned(&c, 1);
  rp_terminate(&c, 1, 0);
  rp_wait_done(&c, 1);
  CHECK(c.s[1].ex.signaled);
  CHECK_EQ_INT(c.s[1].ex.signal, TETHER_SIG_TERM);
  /* one that ignores SIGTERM is killed after the grace */
  pty_spawn(&c, 2, ARGV("sh", "-c", "trap '' TERM HUP; echo ready; while :; do sleep 1; done"), 0, 0);
  wait_output(&c, 2, "ready\r\n");
  uint64_t t0 = test_now_ms();
  rp_terminate(&c, 2, 300);
  rp_wait_done(&c, 2);
  CHECK(test_now_ms() - t0 >= 250);
  CHECK(c.s[2].ex.signaled);
  CHECK_EQ_INT(c.s[2].ex.signal, TETHER_SIG_KILL);
  goodbye_and_exit0(&c);
}

/* Terminate of an interactive shell also ends its foreground job, which
 * lives in another process group. */
TEST(terminate_reaches_foreground_job) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn sp;
  pty_spawn_init(&sp, 1, ARGV("sh", "-i"), 0, 0);
  rp_spawn_env(&sp, ARGV("PS1=$ ", "ENV=/dev/null"));
  rp_send(&c, &sp.m);
  rp_wait_spawned(&c, 1);
  pid_t shell = (pid_t)c.s[1].pid;
  uint64_t off = 0;
  send_in(&c, 1, "sh -c 'trap \"\" HUP; sleep 100'\n", &off);
  pid_t job = wait_child(shell, "sh");
  char comm[64];
  int ppid, pgrp, sid;
  for (uint64_t end = test_now_ms() + 5000;;) {
    CHECK(proc_stat(job, comm, sizeof comm, &ppid, &pgrp, &sid));
    if (pgrp == job) break;
    CHECK(test_now_ms() < end);
    usleep(5000);
  }
  rp_terminate(&c, 1, 300);
  rp_wait_done(&c, 1);
  CHECK(!rp_pid_alive((uint64_t)job));
  goodbye_and_exit0(&c);
}

/* ------------------------------------------------------------ failures */

TEST(pty_spawn_failures_report_stage) {
  rp c;
  rp_open(&c, NOARGS);
  rp_spawn sp;
  pty_spawn_init(&sp, 1, ARGV("true"), 0, 0);
  sp.m.u.spawn.cwd.data = (const uint8_t *)"/nonexistent-dir";
  sp.m.u.spawn.cwd.len = strlen("/nonexistent-dir");
  rp_send(&c, &sp.m);
  rp_wait_done(&c, 1);
  CHECK(c.s[1].spawn_failed);
  CHECK_EQ_INT(c.s[1].sf_stage, TETHER_STAGE_CWD);
  CHECK_EQ_INT(c.s[1].sf_error, TETHER_SPAWN_ERR_NOT_FOUND);
  CHECK_EQ_INT(c.s[1].sf_os_error, ENOENT);
  pty_spawn(&c, 2, ARGV("/nonexistent-program"), 0, 0);
  rp_wait_done(&c, 2);
  CHECK(c.s[2].spawn_failed);
  CHECK_EQ_INT(c.s[2].sf_stage, TETHER_STAGE_EXEC);
  CHECK_EQ_INT(c.s[2].sf_error, TETHER_SPAWN_ERR_NOT_FOUND);
  pty_spawn(&c, 3, ARGV("true"), 24, 40000);
  rp_wait_done(&c, 3);
  CHECK(c.s[3].spawn_failed);
  CHECK_EQ_INT(c.s[3].sf_stage, TETHER_STAGE_REQUEST);
  CHECK_EQ_INT(c.s[3].sf_error, TETHER_SPAWN_ERR_INVALID);
  goodbye_and_exit0(&c);
}

/* ------------------------------------------------------------ lifetime */

TEST(no_fd_leak_no_zombies_200) {
  rp c;
  rp_open(&c, NOARGS);
  int before = rp_count_fds(c.pid);
  for (uint32_t i = 0; i < 200; i++) {
    uint32_t id = 1 + (i % 3);
    if (i % 5 == 4) {
      rp_spawn sp;
      pty_spawn_init(&sp, id, ARGV("true"), 0, 0);
      sp.m.u.spawn.cwd.data = (const uint8_t *)"/nonexistent-dir";
      sp.m.u.spawn.cwd.len = strlen("/nonexistent-dir");
      rp_send(&c, &sp.m);
    } else if (i % 5 == 3) {
      pty_spawn(&c, id, ARGV("cat"), 0, 0);
      rp_simple(&c, id, TETHER_MSG_STDIN_CLOSE);
    } else {
      pty_spawn(&c, id, ARGV("sh", "-c", "echo x; echo y >&2"), 0, 0);
    }
    rp_wait_done(&c, id);
    reset_session(&c, id);
  }
  int after = rp_count_fds(c.pid);
  CHECK_EQ_INT(after, before);
  int zombies = 0;
  int kids = rp_children(c.pid, &zombies);
  CHECK_EQ_INT(zombies, 0);
  CHECK_EQ_INT(kids, 0);
  goodbye_and_exit0(&c);
}

/* The connection going away ends terminal sessions too. */
TEST(parent_close_kills_pty_children) {
  rp c;
  rp_open(&c, NOARGS);
  pty_spawn(&c, 1, ARGV("sleep", "1000"), 0, 0);
  pty_spawn(&c, 2, ARGV("sh", "-c", "trap '' TERM HUP; sleep 1000"), 0, 0);
  rp_wait_spawned(&c, 1);
  rp_wait_spawned(&c, 2);
  uint64_t p1 = c.s[1].pid, p2 = c.s[2].pid;
  tether_channel_free(c.ch);
  c.ch = NULL;
  int st = rp_wait_runner(&c, 10000);
  CHECK(WIFEXITED(st));
  CHECK_EQ_INT(WEXITSTATUS(st), 0);
  CHECK(!rp_pid_alive(p1));
  CHECK(!rp_pid_alive(p2));
  rp_free(&c);
}

TEST_MAIN(TEST_ENTRY(hello_advertises_pty), TEST_ENTRY(tty_and_size),
          TEST_ENTRY(default_size_24x80), TEST_ENTRY(session_leader_with_controlling_tty),
          TEST_ENTRY(child_inherits_only_the_terminal), TEST_ENTRY(term_from_spawn_env_only),
          TEST_ENTRY(stdin_null_in_pty), TEST_ENTRY(output_cap_applies_to_pty_stream),
          TEST_ENTRY(resize_then_stty_size), TEST_ENTRY(resize_delivers_sigwinch),
          TEST_ENTRY(resize_bad_values), TEST_ENTRY(seq_200000_complete),
          TEST_ENTRY(yes_50mb_exact), TEST_ENTRY(last_output_never_lost_1000),
          TEST_ENTRY(stdin_close_partial_line_cat), TEST_ENTRY(stdin_close_partial_line_wc),
          TEST_ENTRY(stdin_close_at_line_start_sends_one_eof),
          TEST_ENTRY(stdin_close_without_input), TEST_ENTRY(stdin_close_after_cr_line),
          TEST_ENTRY(stdin_close_raw_mode_sends_veof_once),
          TEST_ENTRY(stdin_close_uses_termios_veof), TEST_ENTRY(stdin_close_keeps_output_open),
          TEST_ENTRY(signal_int_group_reaches_foreground_job),
          TEST_ENTRY(signal_without_group_hits_leader_only),
          TEST_ENTRY(terminate_kills_pty_session), TEST_ENTRY(terminate_reaches_foreground_job),
          TEST_ENTRY(pty_spawn_failures_report_stage), TEST_ENTRY(no_fd_leak_no_zombies_200),
          TEST_ENTRY(parent_close_kills_pty_children), HELPER_ENTRY(list_fds))
