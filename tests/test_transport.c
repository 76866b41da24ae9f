/* Transports: pipes, socketpairs, Unix sockets, memory; SIGPIPE safety,
 * EINTR, short writes, CLOEXEC, failure injection. */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include "harness.h"
#include "transport/transport.h"


/* ---- helpers ---- */

static void check_cloexec(int fd) {
  int fl = fcntl(fd, F_GETFD);
  if (fl < 0 || !(fl & FD_CLOEXEC)) FAIL("fd %d is not close-on-exec", fd);
}

static void check_transport_cloexec(tether_transport *t) {
  check_cloexec(t->vt->read_handle(t));
  check_cloexec(t->vt->write_handle(t));
}

/* Reads exactly n bytes (blocking transport or waiting on a non-blocking
 * one). */
static void read_exact(tether_transport *t, void *buf, size_t n) {
  char *p = buf;
  while (n > 0) {
    long r = tether_transport_read(t, p, n);
    if (r == TETHER_EAGAIN) {
      CHECK_OK(tether_transport_wait(t, 0, 5000));
      continue;
    }
    if (r <= 0) FAIL("read returned %ld (%s)", r, tether_err_name((int)r));
    p += r;
    n -= (size_t)r;
  }
}

static void round_trip(tether_transport *a, tether_transport *b) {
  CHECK_OK(tether_transport_write_all(a, "ping", 4, 1000));
  char buf[8] = { 0 };
  read_exact(b, buf, 4);
  CHECK_EQ_MEM(buf, 4, "ping", 4);
  CHECK_EQ_INT(tether_transport_write(b, "pong!", 5), 5);
  read_exact(a, buf, 5);
  CHECK_EQ_MEM(buf, 5, "pong!", 5);
}

static char tmpdir[64];

static void make_tmpdir(void) {
  strcpy(tmpdir, "/tmp/tether-test-XXXXXX");
  CHECK(mkdtemp(tmpdir) != NULL);
}

static void sock_path(char *out, size_t n, const char *name) {
  snprintf(out, n, "%s/%s", tmpdir, name);
}

static void check_sigpipe_default(void) {
  struct sigaction sa;
  CHECK(sigaction(SIGPIPE, NULL, &sa) == 0);
  CHECK(sa.sa_handler == SIG_DFL);
  sigset_t cur;
  CHECK(pthread_sigmask(SIG_SETMASK, NULL, &cur) == 0);
  CHECK(!sigismember(&cur, SIGPIPE)); /* the mask was restored */
  sigset_t pend;
  sigpending(&pend);
  CHECK(!sigismember(&pend, SIGPIPE)); /* nothing left pending */
}

/* The harness ignores SIGPIPE for its own sake; these tests need the
 * default (fatal) disposition to prove the transport never raises it. */
static void sigpipe_default(void) {
  signal(SIGPIPE, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* ---- fd transports ---- */

TEST(pipe_pair) {
  tether_transport *a, *b;
  CHECK_OK(tether_transport_pipe_pair(&a, &b));
  CHECK_EQ_STR(a->vt->name, "fd");
  check_transport_cloexec(a);
  check_transport_cloexec(b);
  CHECK(a->vt->read_handle(a) != a->vt->write_handle(a));
  round_trip(a, b);
  /* shutdown_write: the peer sees EOF, the other direction still works. */
  CHECK_OK(a->vt->shutdown_write(a));
  char c;
  CHECK_EQ_INT(tether_transport_read(b, &c, 1), 0);
  CHECK_EQ_INT(tether_transport_write(a, "x", 1), TETHER_ECLOSED);
  CHECK_OK(tether_transport_write_all(b, "y", 1, 1000));
  read_exact(a, &c, 1);
  CHECK_EQ_INT(c, 'y');
  tether_transport_free(a);
  tether_transport_free(b);
  tether_transport_free(NULL);
}

TEST(socketpair) {
  tether_transport *a, *b;
  CHECK_OK(tether_transport_socketpair(&a, &b));
  check_transport_cloexec(a);
  check_transport_cloexec(b);
  CHECK_EQ_INT(a->vt->read_handle(a), a->vt->write_handle(a));
  round_trip(a, b);
  CHECK_OK(a->vt->shutdown_write(a));
  char c;
  CHECK_EQ_INT(tether_transport_read(b, &c, 1), 0);
  CHECK_OK(tether_transport_write_all(b, "z", 1, 1000));
  read_exact(a, &c, 1);
  CHECK_EQ_INT(c, 'z');
  tether_transport_free(b);
  tether_transport_free(a);
}

TEST(fd_new_adopts) {
  int p[2];
  CHECK(pipe(p) == 0); /* deliberately without O_CLOEXEC */
  CHECK(!(fcntl(p[0], F_GETFD) & FD_CLOEXEC));
  tether_transport *t;
  CHECK_OK(tether_transport_fd_new(p[0], p[1], &t));
  check_cloexec(p[0]);
  check_cloexec(p[1]);
  round_trip(t, t);
  tether_transport_free(t);
  CHECK(fcntl(p[0], F_GETFD) < 0 && errno == EBADF);
  CHECK(fcntl(p[1], F_GETFD) < 0 && errno == EBADF);
  CHECK_EQ_INT(tether_transport_fd_new(-1, 1, &t), TETHER_EINVAL);
  CHECK(t == NULL);
}

HELPER(fds_closed) {
  /* argv: fds_closed fd... ; exit 0 if every fd is closed after exec. */
  for (int i = 1; i < argc; i++) {
    int fd = atoi(argv[i]);
    if (fcntl(fd, F_GETFD) >= 0) {
      fprintf(stderr, "fd %d survived exec\n", fd);
      return 1;
    }
  }
  return 0;
}

TEST(cloexec_survives_no_exec) {
  make_tmpdir();
  char path[128];
  sock_path(path, sizeof path, "s");
  tether_transport *pa, *pb, *sa, *sb, *c, *acc;
  tether_listener *l;
  CHECK_OK(tether_transport_pipe_pair(&pa, &pb));
  CHECK_OK(tether_transport_socketpair(&sa, &sb));
  CHECK_OK(tether_listener_unix(path, &l));
  CHECK_OK(tether_transport_unix_connect(path, 1000, &c));
  CHECK_OK(tether_listener_accept(l, 1000, &acc));
  int fds[] = { pa->vt->read_handle(pa), pa->vt->write_handle(pa), pb->vt->read_handle(pb),
                pb->vt->write_handle(pb), sa->vt->read_handle(sa), sb->vt->read_handle(sb),
                tether_listener_handle(l), c->vt->read_handle(c), acc->vt->read_handle(acc) };
  char *argv[16];
  char num[9][16];
  int k = 0;
  argv[k++] = (char *)test_argv0;
  argv[k++] = "--helper";
  argv[k++] = "fds_closed";
  for (int i = 0; i < 9; i++) {
    check_cloexec(fds[i]);
    snprintf(num[i], sizeof num[i], "%d", fds[i]);
    argv[k++] = num[i];
  }
  argv[k] = NULL;
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    execv(test_argv0, argv);
    _exit(127);
  }
  int st;
  CHECK(waitpid(pid, &st, 0) == pid);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  tether_transport_free(pa);
  tether_transport_free(pb);
  tether_transport_free(sa);
  tether_transport_free(sb);
  tether_transport_free(c);
  tether_transport_free(acc);
  tether_listener_free(l);
  rmdir(tmpdir);
}

/* ---- SIGPIPE ---- */

static void check_write_to_closed(int use_socket) {
  sigpipe_default();
  tether_transport *a, *b;
  if (use_socket) CHECK_OK(tether_transport_socketpair(&a, &b));
  else CHECK_OK(tether_transport_pipe_pair(&a, &b));
  tether_transport_free(b);
  CHECK_EQ_INT(tether_transport_write(a, "x", 1), TETHER_ECLOSED);
  check_sigpipe_default();
  CHECK_EQ_INT(tether_transport_write_all(a, "hello", 5, 100), TETHER_ECLOSED);
  check_sigpipe_default();
  tether_transport_free(a);
}

TEST(pipe_write_to_closed_peer_no_sigpipe) { check_write_to_closed(0); }
TEST(socket_write_to_closed_peer_no_sigpipe) { check_write_to_closed(1); }

TEST(sigpipe_already_pending_is_left_alone) {
  sigpipe_default();
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  CHECK(pthread_sigmask(SIG_BLOCK, &set, &old) == 0);
  raise(SIGPIPE); /* the embedder's own, blocked and pending */
  tether_transport *a, *b;
  CHECK_OK(tether_transport_pipe_pair(&a, &b));
  tether_transport_free(b);
  CHECK_EQ_INT(tether_transport_write(a, "x", 1), TETHER_ECLOSED);
  sigset_t pend, cur;
  sigpending(&pend);
  CHECK(sigismember(&pend, SIGPIPE)); /* still theirs to take */
  CHECK(pthread_sigmask(SIG_SETMASK, NULL, &cur) == 0);
  CHECK(sigismember(&cur, SIGPIPE)); /* their mask is kept */
  struct timespec zero = { 0, 0 };
  CHECK_EQ_INT(sigtimedwait(&set, NULL, &zero), SIGPIPE);
  CHECK(pthread_sigmask(SIG_SETMASK, &old, NULL) == 0);
  check_sigpipe_default();
  tether_transport_free(a);
}

/* ---- EINTR and deadlines ---- */

static volatile sig_atomic_t alarms;
static void on_alarm(int sig) {
  (void)sig;
  alarms++;
}

static void interrupt_every(int ms) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm; /* no SA_RESTART: syscalls fail with EINTR */
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
  struct itimerval it = { { 0, ms * 1000 }, { 0, ms * 1000 } };
  CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
}

static void stop_interrupts(void) {
  struct itimerval it = { { 0, 0 }, { 0, 0 } };
  setitimer(ITIMER_REAL, &it, NULL);
}

TEST(eintr_during_blocking_read) {
  tether_transport *a, *b;
  CHECK_OK(tether_transport_pipe_pair(&a, &b));
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    usleep(300 * 1000);
    _exit(tether_transport_write_all(a, "late", 4, 1000) == 0 ? 0 : 1);
  }
  interrupt_every(20);
  char buf[4];
  long n = tether_transport_read(b, buf, sizeof buf); /* blocking */
  stop_interrupts();
  CHECK(alarms > 0);
  CHECK_EQ_INT(n, 4);
  CHECK_EQ_MEM(buf, 4, "late", 4);
  int st;
  CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  tether_transport_free(a);
  tether_transport_free(b);
}

TEST(eintr_during_wait_keeps_deadline) {
  tether_transport *a, *b;
  CHECK_OK(tether_transport_socketpair(&a, &b));
  interrupt_every(20);
  uint64_t t0 = test_now_ms();
  CHECK_EQ_INT(tether_transport_wait(b, 0, 300), TETHER_ETIMEDOUT);
  uint64_t dt = test_now_ms() - t0;
  stop_interrupts();
  CHECK(alarms >= 5);
  if (dt < 295 || dt > 1500) FAIL("waited %llu ms for a 300 ms timeout", (unsigned long long)dt);
  tether_transport_free(a);
  tether_transport_free(b);
}

TEST(wait_ready_and_timeout) {
  tether_transport *a, *b;
  CHECK_OK(tether_transport_pipe_pair(&a, &b));
  CHECK_EQ_INT(tether_transport_wait(b, 0, 0), TETHER_ETIMEDOUT);
  CHECK_OK(tether_transport_wait(a, 1, 0));
  CHECK_OK(tether_transport_write_all(a, "x", 1, 0));
  CHECK_OK(tether_transport_wait(b, 0, 1000));
  tether_transport_free(a);
  /* Hang-up is "ready": the read reports it. */
  char c;
  CHECK_EQ_INT(tether_transport_read(b, &c, 1), 1);
  CHECK_OK(tether_transport_wait(b, 0, 1000));
  CHECK_EQ_INT(tether_transport_read(b, &c, 1), 0);
  tether_transport_free(b);
}

/* ---- non-blocking, short writes ---- */

#define BIG (1u << 20)

static uint32_t checksum(const unsigned char *p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

TEST(short_writes_nonblocking_pipe) {
  tether_transport *a, *b;
  CHECK_OK(tether_transport_pipe_pair(&a, &b));
  CHECK_OK(a->vt->set_nonblocking(a, 1));
  CHECK(fcntl(a->vt->write_handle(a), F_GETFL) & O_NONBLOCK);
  unsigned char *big = malloc(BIG);
  CHECK(big != NULL);
  for (size_t i = 0; i < BIG; i++) big[i] = (unsigned char)(i * 7 + (i >> 12));

  /* Nobody reads: the pipe takes less than asked, then would block. */
  long n = tether_transport_write(a, big, BIG);
  CHECK(n > 0 && (size_t)n < BIG);
  CHECK_EQ_INT(tether_transport_write(a, big, BIG), TETHER_EAGAIN);
  CHECK_EQ_INT(tether_transport_write_all(a, big, BIG, 50), TETHER_ETIMEDOUT);
  tether_transport_free(a);
  tether_transport_free(b);

  /* A slow reader drains it: write_all waits through many short writes. */
  CHECK_OK(tether_transport_pipe_pair(&a, &b));
  CHECK_OK(a->vt->set_nonblocking(a, 1));
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    unsigned char *got = malloc(BIG);
    size_t have = 0;
    while (have < BIG) {
      long r = tether_transport_read(b, got + have, 4096 < BIG - have ? 4096 : BIG - have);
      if (r <= 0) _exit(2);
      have += (size_t)r;
      if (have % (64 * 1024) < 4096) usleep(1000);
    }
    _exit(checksum(got, BIG) == checksum(big, BIG) ? 0 : 3);
  }
  CHECK_OK(tether_transport_write_all(a, big, BIG, 20000));
  int st;
  CHECK(waitpid(pid, &st, 0) == pid);
  CHECK(WIFEXITED(st));
  CHECK_EQ_INT(WEXITSTATUS(st), 0);
  CHECK_OK(a->vt->set_nonblocking(a, 0));
  CHECK(!(fcntl(a->vt->write_handle(a), F_GETFL) & O_NONBLOCK));
  free(big);
  tether_transport_free(a);
  tether_transport_free(b);
}

/* ---- Unix sockets ---- */

TEST(unix_listen_accept_connect) {
  make_tmpdir();
  char path[128];
  sock_path(path, sizeof path, "runner.sock");
  tether_listener *l;
  CHECK_OK(tether_listener_unix(path, &l));
  struct stat st;
  CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode));
  check_cloexec(tether_listener_handle(l));
  CHECK_EQ_INT(tether_listener_accept(l, 50, &(tether_transport *){ NULL }), TETHER_ETIMEDOUT);
  tether_transport *c, *s;
  CHECK_OK(tether_transport_unix_connect(path, 1000, &c));
  CHECK_OK(tether_listener_accept(l, 1000, &s));
  check_transport_cloexec(c);
  check_transport_cloexec(s);
  /* Both start blocking. */
  CHECK(!(fcntl(c->vt->read_handle(c), F_GETFL) & O_NONBLOCK));
  CHECK(!(fcntl(s->vt->read_handle(s), F_GETFL) & O_NONBLOCK));
  round_trip(c, s);
  tether_listener_free(l);
  CHECK(stat(path, &st) != 0 && errno == ENOENT); /* free unlinked it */
  round_trip(s, c); /* connections outlive the listener */
  tether_transport_free(c);
  tether_transport_free(s);
  tether_listener_free(NULL);
  rmdir(tmpdir);
}

TEST(unix_path_too_long) {
  char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
  memset(path, 'a', sizeof path - 1);
  path[sizeof path - 1] = '\0';
  path[0] = '/';
  tether_listener *l = (tether_listener *)1;
  tether_transport *t = (tether_transport *)1;
  CHECK_EQ_INT(tether_listener_unix(path, &l), TETHER_EADDRESS);
  CHECK(l == NULL);
  CHECK_EQ_INT(tether_transport_unix_connect(path, 1000, &t), TETHER_EADDRESS);
  CHECK(t == NULL);
  /* Exactly sun_path bytes leaves no room for the NUL: still too long. */
  path[sizeof(((struct sockaddr_un *)0)->sun_path)] = '\0';
  CHECK_EQ_INT(tether_listener_unix(path, &l), TETHER_EADDRESS);
  CHECK_EQ_INT(tether_listener_unix("", &l), TETHER_EADDRESS);
  CHECK(strstr(tether_strerror(TETHER_EADDRESS), "too long") != NULL);
}

TEST(unix_path_exists) {
  make_tmpdir();
  char path[128];
  sock_path(path, sizeof path, "taken");
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  fputs("not a socket", f);
  fclose(f);
  tether_listener *l;
  CHECK_EQ_INT(tether_listener_unix(path, &l), TETHER_EADDRINUSE);
  CHECK(strstr(tether_strerror(TETHER_EADDRINUSE), "already exists") != NULL);
  struct stat st;
  CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode)); /* left untouched */
  unlink(path);
  /* A live listener's path is refused too, and stays live. */
  sock_path(path, sizeof path, "live");
  tether_listener *l1;
  CHECK_OK(tether_listener_unix(path, &l1));
  CHECK_EQ_INT(tether_listener_unix(path, &l), TETHER_EADDRINUSE);
  tether_transport *c, *s;
  CHECK_OK(tether_transport_unix_connect(path, 1000, &c));
  CHECK_OK(tether_listener_accept(l1, 1000, &s));
  tether_transport_free(c);
  tether_transport_free(s);
  tether_listener_free(l1);
  rmdir(tmpdir);
}

TEST(unix_connect_timeout_nonexistent) {
  make_tmpdir();
  char path[128];
  sock_path(path, sizeof path, "nobody");
  tether_transport *t = (tether_transport *)1;
  uint64_t t0 = test_now_ms();
  CHECK_EQ_INT(tether_transport_unix_connect(path, 200, &t), TETHER_ETIMEDOUT);
  uint64_t dt = test_now_ms() - t0;
  CHECK(t == NULL);
  if (dt < 195 || dt > 2000) FAIL("took %llu ms for a 200 ms timeout", (unsigned long long)dt);
  CHECK_EQ_INT(tether_transport_unix_connect(path, 0, &t), TETHER_ETIMEDOUT);
  rmdir(tmpdir);
}

TEST(unix_connect_waits_for_listener) {
  make_tmpdir();
  char path[128];
  sock_path(path, sizeof path, "late.sock");
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    usleep(150 * 1000);
    tether_listener *l;
    tether_transport *s;
    if (tether_listener_unix(path, &l) != 0) _exit(2);
    if (tether_listener_accept(l, 5000, &s) != 0) _exit(3);
    int rc = tether_transport_write_all(s, "hi", 2, 1000);
    tether_transport_free(s);
    tether_listener_free(l);
    _exit(rc == 0 ? 0 : 4);
  }
  tether_transport *c;
  CHECK_OK(tether_transport_unix_connect(path, 5000, &c));
  char buf[2];
  read_exact(c, buf, 2);
  CHECK_EQ_MEM(buf, 2, "hi", 2);
  int st;
  CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  tether_transport_free(c);
  rmdir(tmpdir);
}

/* ---- memory ---- */

TEST(memory_pair) {
  tether_transport *a, *b;
  CHECK_OK(tether_transport_memory_pair(&a, &b));
  CHECK_EQ_STR(a->vt->name, "memory");
  CHECK_EQ_INT(a->vt->read_handle(a), TETHER_INVALID_HANDLE);
  CHECK_EQ_INT(a->vt->write_handle(a), TETHER_INVALID_HANDLE);
  char c;
  CHECK_EQ_INT(tether_transport_read(b, &c, 1), TETHER_EAGAIN);
  CHECK_EQ_INT(tether_transport_wait(b, 0, 1000), TETHER_EAGAIN);
  CHECK_OK(tether_transport_wait(a, 1, 0));
  round_trip(a, b);
  /* Large transfers grow the queue and keep order. */
  unsigned char *big = malloc(BIG), *got = malloc(BIG);
  for (size_t i = 0; i < BIG; i++) big[i] = (unsigned char)(i ^ (i >> 8));
  for (size_t off = 0; off < BIG; off += 1000)
    CHECK_OK(tether_transport_write_all(a, big + off, BIG - off < 1000 ? BIG - off : 1000, 0));
  CHECK_OK(tether_transport_wait(b, 0, 0));
  read_exact(b, got, BIG);
  CHECK_EQ_MEM(got, BIG, big, BIG);
  free(big);
  free(got);
  /* Half-close: b drains what a wrote, then EOF; b can still write. */
  CHECK_OK(tether_transport_write_all(a, "end", 3, 0));
  CHECK_OK(a->vt->shutdown_write(a));
  CHECK_EQ_INT(tether_transport_write(a, "x", 1), TETHER_ECLOSED);
  char buf[3];
  read_exact(b, buf, 3);
  CHECK_EQ_INT(tether_transport_read(b, &c, 1), 0);
  CHECK_OK(tether_transport_wait(b, 0, 0)); /* EOF is "ready" */
  CHECK_OK(tether_transport_write_all(b, "k", 1, 0));
  read_exact(a, &c, 1);
  tether_transport_free(a);
  tether_transport_free(b);
}

TEST(memory_free_any_order) {
  for (int order = 0; order < 2; order++) {
    tether_transport *a, *b;
    CHECK_OK(tether_transport_memory_pair(&a, &b));
    CHECK_OK(tether_transport_write_all(a, "to-b", 4, 0));
    CHECK_OK(tether_transport_write_all(b, "to-a", 4, 0));
    tether_transport *first = order ? b : a, *second = order ? a : b;
    tether_transport_free(first);
    /* The survivor still reads what was written before, then EOF, and
     * writing to the freed side fails. */
    char buf[4];
    read_exact(second, buf, 4);
    CHECK_EQ_MEM(buf, 4, order ? "to-a" : "to-b", 4);
    CHECK_EQ_INT(tether_transport_read(second, buf, 4), 0);
    CHECK_EQ_INT(tether_transport_write(second, "x", 1), TETHER_ECLOSED);
    tether_transport_free(second);
  }
}

TEST(memory_fail_after_every_n) {
  static const char msg[] = "a small message of 33 bytes long";
  const size_t len = sizeof msg - 1;
  for (long long n = 0; n <= (long long)len + 1; n++) {
    tether_transport *a, *b;
    CHECK_OK(tether_transport_memory_pair(&a, &b));
    tether_transport_memory_fail_after(a, n);
    int rc = tether_transport_write_all(a, msg, len, 0);
    if ((size_t)n >= len) CHECK_OK(rc);
    else CHECK_EQ_INT(rc, TETHER_EIO);
    size_t want = (size_t)n < len ? (size_t)n : len;
    char got[64];
    long r = tether_transport_read(b, got, sizeof got);
    if (want == 0) CHECK_EQ_INT(r, TETHER_EAGAIN);
    else {
      CHECK_EQ_INT(r, (long)want);
      CHECK_EQ_MEM(got, want, msg, want);
    }
    /* a second write hits the same budget */
    long w = tether_transport_write(a, "1234", 4);
    long room = n - (long long)want;
    if (room <= 0) CHECK_EQ_INT(w, TETHER_EIO);
    else CHECK_EQ_INT(w, room < 4 ? room : 4);
    tether_transport_memory_fail_after(a, -1);
    CHECK_EQ_INT(tether_transport_write(a, "z", 1), 1);
    tether_transport_free(b);
    tether_transport_free(a);
  }
  /* A non-memory transport ignores the call. */
  tether_transport *x, *y;
  CHECK_OK(tether_transport_socketpair(&x, &y));
  tether_transport_memory_fail_after(x, 0);
  CHECK_EQ_INT(tether_transport_write(x, "q", 1), 1);
  tether_transport_free(x);
  tether_transport_free(y);
}

TEST_MAIN(TEST_ENTRY(pipe_pair), TEST_ENTRY(socketpair), TEST_ENTRY(fd_new_adopts),
          TEST_ENTRY(cloexec_survives_no_exec),
          TEST_ENTRY(pipe_write_to_closed_peer_no_sigpipe),
          TEST_ENTRY(socket_write_to_closed_peer_no_sigpipe),
          TEST_ENTRY(sigpipe_already_pending_is_left_alone),
          TEST_ENTRY(eintr_during_blocking_read), TEST_ENTRY(eintr_during_wait_keeps_deadline),
          TEST_ENTRY(wait_ready_and_timeout), TEST_ENTRY(short_writes_nonblocking_pipe),
          TEST_ENTRY(unix_listen_accept_connect), TEST_ENTRY(unix_path_too_long),
          TEST_ENTRY(unix_path_exists), TEST_ENTRY(unix_connect_timeout_nonexistent),
          TEST_ENTRY(unix_connect_waits_for_listener), TEST_ENTRY(memory_pair),
          TEST_ENTRY(memory_free_any_order), TEST_ENTRY(memory_fail_after_every_n),
          HELPER_ENTRY(fds_closed))
