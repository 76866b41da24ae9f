/* tether-bench: tether against the limit (one direct pipe hop) and against
 * its peers (ssh -T streaming, JSON + base64 framing), through the public
 * parent API (include/tether/parent.h) and a real tether-runner.
 *
 *   tether-bench                 everything (a few minutes)
 *   tether-bench --quick         a reduced set, under a minute
 *   tether-bench --smoke         a tiny set (ctest bench_smoke); checks that
 *                                every measurement works, never its speed
 *   --json FILE                  JSON lines to FILE instead of stdout
 *   --out DIR                    also DIR/bench.jsonl and the latency samples
 *                                (DIR/latency_*.txt) that bench/plot.sh draws
 *   --only GROUP[,GROUP]         throughput, latency, scale, codec; or profile:
 *                                one long pipe-mode stream for perf record
 *   --runner PATH                tether-runner (default: next to this program)
 *   --flood                      only the memory benchmark: 100 sessions each
 *                                writing 1 GiB to a slow consumer; prints the
 *                                runner's and this process's peak RSS (VmHWM)
 *                                against the documented bound
 *                                (docs/PERFORMANCE.md, "Memory under a flood")
 *   --flood-sessions N, --flood-bytes BYTES (per session),
 *   --flood-slow-s S (how long the consumer is slow),
 *   --flood-slow-us US (its sleep in every on_output)
 *
 * Output: one JSON object per line on stdout (the first one is pipe-mode
 * stdout at 64 KiB writes), a human table on stderr. Exit status 1 only when
 * a measurement went wrong (lost bytes, a failed spawn, a protocol error),
 * never because something was slow.
 *
 * The program doubles as its own helper children:
 *   --child-writer SIZE TOTAL    writes TOTAL bytes to stdout in SIZE writes
 *   --json-framer                reads stdin, writes u32 length + JSON frames
 *                                {"type":"output","stream":"stdout",
 *                                 "data":"<base64>"} to stdout (jansson)
 *
 * Throughput is timed from the first byte received to the last, so process
 * start-up and (for ssh) the key exchange are not counted: it is the
 * streaming rate. Every variant reads the child through the same topology
 * as tether where it has one: child -> middle process -> bench. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "codec/codec.h"
#include "tether/parent.h"
#include "tether/runner.h"

#ifdef TETHER_BENCH_HAVE_JANSSON
#include <jansson.h>
#endif

extern char **environ;

#define KiB ((uint64_t)1 << 10)
#define MiB ((uint64_t)1 << 20)
#define PIPE_READ_CHUNK (64 * 1024) /* what tether-runner reads per call too */

/* ================================================================ basics */

static struct {
  int quick, smoke;
  unsigned groups; /* G_* bits */
  FILE *json;      /* JSON lines */
  FILE *jsonl_copy; /* --out DIR/bench.jsonl */
  const char *out_dir;
  char self[PATH_MAX];
  char runner[PATH_MAX];
  int failures;
  /* --flood */
  int flood_sessions;
  uint64_t flood_bytes;
  double flood_slow_s;
  unsigned flood_slow_us;
  double throttle_until; /* now_s() before which on_output sleeps */
  unsigned throttle_us;
} G;

enum { G_THROUGHPUT = 1, G_LATENCY = 2, G_SCALE = 4, G_CODEC = 8, G_PROFILE = 16, G_FLOOD = 32,
       G_LIMITS = 64 };

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "tether-bench: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

__attribute__((format(printf, 1, 2)))
static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "tether-bench: FAILED: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  G.failures++;
}

__attribute__((format(printf, 1, 2)))
static void table(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
}

/* One JSON line; `body` is the object's members without braces. */
__attribute__((format(printf, 1, 2)))
static void emit(const char *fmt, ...) {
  char line[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  fprintf(G.json, "{%s}\n", line);
  fflush(G.json);
  if (G.jsonl_copy) {
    fprintf(G.jsonl_copy, "{%s}\n", line);
    fflush(G.jsonl_copy);
  }
}

/* A JSON string literal body (no quotes) for short messages. */
static void json_escape(char *dst, size_t cap, const char *src) {
  size_t o = 0;
  for (; *src && o + 7 < cap; src++) {
    unsigned char c = (unsigned char)*src;
    if (c == '"' || c == '\\') {
      dst[o++] = '\\';
      dst[o++] = (char)c;
    } else if (c < 0x20) {
      o += (size_t)snprintf(dst + o, cap - o, "\\u%04x", c);
    } else {
      dst[o++] = (char)c;
    }
  }
  dst[o] = '\0';
}

static void skip(const char *name, const char *reason) {
  char r[512];
  json_escape(r, sizeof r, reason);
  emit("\"kind\":\"skip\",\"name\":\"%s\",\"reason\":\"%s\"", name, r);
  table("  %-34s SKIPPED: %s\n", name, reason);
}

static int write_all(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n > 0) {
    ssize_t w = write(fd, b, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

static void xpipe(int fds[2]) {
  if (pipe2(fds, O_CLOEXEC) < 0) die("pipe2: %s", strerror(errno));
}

/* posix_spawn with the child's 0/1/2 taken from in/out/err (-1: inherit,
 * -2: /dev/null). Our own descriptors are all close-on-exec. */
static pid_t spawn_io(const char *const argv[], int in, int out, int err) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  int fds[3] = { in, out, err };
  for (int i = 0; i < 3; i++) {
    if (fds[i] >= 0) posix_spawn_file_actions_adddup2(&fa, fds[i], i);
    else if (fds[i] == -2)
      posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i ? O_WRONLY : O_RDONLY, 0);
  }
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) die("posix_spawn %s: %s", argv[0], strerror(rc));
  return pid;
}

static int wait_ok(pid_t pid) {
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return 0;
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double pct(const double *sorted, int n, double p) {
  double idx = p * (n - 1);
  int lo = (int)floor(idx), hi = (int)ceil(idx);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (idx - lo);
}

static const char *size_name(uint64_t size, char *buf, size_t cap) {
  if (size >= MiB && size % MiB == 0) snprintf(buf, cap, "%lluMiB", (unsigned long long)(size / MiB));
  else if (size >= KiB && size % KiB == 0) snprintf(buf, cap, "%lluKiB", (unsigned long long)(size / KiB));
  else snprintf(buf, cap, "%lluB", (unsigned long long)size);
  return buf;
}

/* ----------------------------------------------------------- /proc */

static long proc_status_kib(long pid, const char *field) {
  char path[64], line[256];
  size_t fl = strlen(field);
  snprintf(path, sizeof path, "/proc/%ld/status", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long v = -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, field, fl) && line[fl] == ':') {
      v = strtol(line + fl + 1, NULL, 10);
      break;
    }
  fclose(f);
  return v;
}

/* utime + stime of `pid` in seconds, -1 if unknown. */
static double proc_cpu_s(long pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')'); /* comm may hold spaces */
  if (!p) return -1;
  unsigned long ut = 0, st = 0;
  /* after ") ": state(3) ... utime is field 14, stime 15 */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
    return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

/* Resets this process's VmHWM to its current RSS (Linux >= 4.0). */
static void reset_self_hwm(void) {
  int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  (void)!write(fd, "5", 1);
  close(fd);
}

/* ====================================================== helper children */

static int child_writer_main(const char *size_s, const char *total_s) {
  size_t size = strtoull(size_s, NULL, 10);
  uint64_t total = strtoull(total_s, NULL, 10);
  if (size == 0) return 2;
  uint8_t *buf = malloc(size);
  if (!buf) return 2;
  for (size_t i = 0; i < size; i++) buf[i] = (uint8_t)('a' + i % 26);
  int rc = 0;
  while (total > 0 && rc == 0) {
    size_t n = total < size ? (size_t)total : size;
    if (write_all(1, buf, n) < 0) rc = 1; /* the reader went away */
    total -= n;
  }
  free(buf);
  return rc;
}

/* The middle process of the transport experiment: moves stdin to stdout
 * the way a runner could. read: read()+write() of 64 KiB; splice: splice(2)
 * pipe to pipe (no copy to user space); sndbuf: read()+write() after
 * raising SO_SNDBUF of a socket stdout to 4 MiB. */
static int relay_main(const char *mode) {
  static uint8_t buf[PIPE_READ_CHUNK];
  if (!strcmp(mode, "sndbuf")) {
    int v = 4 << 20;
    setsockopt(1, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
  }
  if (!strcmp(mode, "splice")) {
    for (;;) {
      ssize_t n = splice(0, NULL, 1, NULL, PIPE_READ_CHUNK, SPLICE_F_MOVE);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return 1;
      if (n == 0) return 0;
    }
  }
  for (;;) {
    ssize_t n = read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return 1;
    if (n == 0) return 0;
    if (write_all(1, buf, (size_t)n) < 0) return 1;
  }
}

/* ---- base64 (RFC 4648, with padding) ---- */

#ifdef TETHER_BENCH_HAVE_JANSSON
static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_encoded_len(size_t n) { return (n + 2) / 3 * 4; }

static size_t b64_encode(const uint8_t *in, size_t n, char *out) {
  size_t o = 0, i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = b64_alphabet[v >> 18];
    out[o++] = b64_alphabet[(v >> 12) & 63];
    out[o++] = b64_alphabet[(v >> 6) & 63];
    out[o++] = b64_alphabet[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
    out[o++] = b64_alphabet[v >> 18];
    out[o++] = b64_alphabet[(v >> 12) & 63];
    out[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  return o;
}

static int8_t b64_rev[256];

static void b64_init(void) {
  memset(b64_rev, -1, sizeof b64_rev);
  for (int i = 0; i < 64; i++) b64_rev[(unsigned char)b64_alphabet[i]] = (int8_t)i;
}

/* Returns the decoded length, or -1 on bad input. */
static long b64_decode(const char *in, size_t n, uint8_t *out) {
  if (n % 4) return -1;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 4) {
    int a = b64_rev[(unsigned char)in[i]], b = b64_rev[(unsigned char)in[i + 1]];
    int c = b64_rev[(unsigned char)in[i + 2]], d = b64_rev[(unsigned char)in[i + 3]];
    if (a < 0 || b < 0) return -1;
    out[o++] = (uint8_t)(a << 2 | b >> 4);
    if (in[i + 2] == '=') {
      if (i + 4 != n || in[i + 3] != '=') return -1;
      break;
    }
    if (c < 0) return -1;
    out[o++] = (uint8_t)(b << 4 | c >> 2);
    if (in[i + 3] == '=') {
      if (i + 4 != n) return -1;
      break;
    }
    if (d < 0) return -1;
    out[o++] = (uint8_t)(c << 6 | d);
  }
  return (long)o;
}

/* The middle process of the JSON system: reads the child's pipe in the
 * runner's chunk size and writes one JSON frame per read. */
static int json_framer_main(void) {
  size_t chunk = PIPE_READ_CHUNK;
  uint8_t *in = malloc(chunk);
  char *b64 = malloc(b64_encoded_len(chunk) + 1);
  size_t cap = b64_encoded_len(chunk) + 256;
  char *out = malloc(cap + 4);
  int rc = 2;
  if (!in || !b64 || !out) goto done;
  for (;;) {
    ssize_t n = read(0, in, chunk);
    if (n < 0 && errno == EINTR) continue;
    rc = 1;
    if (n < 0) goto done;
    if (n == 0) break;
    size_t bl = b64_encode(in, (size_t)n, b64);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("output"));
    json_object_set_new(o, "stream", json_string("stdout"));
    json_object_set_new(o, "data", json_stringn(b64, bl));
    size_t need = json_dumpb(o, out + 4, cap, JSON_COMPACT);
    if (need > cap) {
      char *bigger = realloc(out, need + 4);
      if (!bigger) {
        json_decref(o);
        rc = 2;
        goto done;
      }
      out = bigger;
      cap = need;
      need = json_dumpb(o, out + 4, cap, JSON_COMPACT);
    }
    json_decref(o);
    if (need == 0) goto done;
    out[0] = (char)(need & 0xff);
    out[1] = (char)(need >> 8 & 0xff);
    out[2] = (char)(need >> 16 & 0xff);
    out[3] = (char)(need >> 24 & 0xff);
    if (write_all(1, out, need + 4) < 0) goto done; /* the reader went away */
  }
  rc = 0;
done:
  free(in);
  free(b64);
  free(out);
  return rc;
}
#endif

/* ======================================================== the parent side */

typedef struct sess_stat {
  uint64_t got;       /* stdout bytes */
  uint64_t expect;
  double t_spawn, t_spawned, t_first, t_last, t_exit;
  int spawned, exited, failed;
  tether_exit_status st;
} sess_stat;

typedef struct par_stat {
  int errors;
  char last_error[256];
  int exits;
} par_stat;

static void cb_spawned(tether_session *s, uint64_t pid, void *ud) {
  (void)pid;
  (void)ud;
  sess_stat *ss = tether_session_userdata(s);
  ss->spawned = 1;
  ss->t_spawned = now_s();
}

static void cb_spawn_failed(tether_session *s, const tether_spawn_failure *f, void *ud) {
  sess_stat *ss = tether_session_userdata(s);
  par_stat *ps = ud;
  ss->failed = 1;
  ps->errors++;
  snprintf(ps->last_error, sizeof ps->last_error, "spawn failed: %.*s", (int)f->message_len,
           f->message ? f->message : "");
}

static void cb_output(tether_session *s, int stream, const void *data, size_t len, void *ud) {
  (void)data;
  (void)ud;
  sess_stat *ss = tether_session_userdata(s);
  if (stream != TETHER_STREAM_STDOUT && stream != TETHER_STREAM_PTY) return;
  if (ss->got == 0) ss->t_first = now_s();
  ss->got += len;
  if (ss->got >= ss->expect) ss->t_last = now_s();
  /* --flood: a slow consumer (returning from on_output is what consuming
   * means, so sleeping here holds the credit back) */
  if (G.throttle_until > 0 && now_s() < G.throttle_until) usleep(G.throttle_us);
}

static void cb_exit(tether_session *s, const tether_exit_status *st, void *ud) {
  sess_stat *ss = tether_session_userdata(s);
  par_stat *ps = ud;
  ss->exited = 1;
  ss->st = *st;
  ss->t_exit = now_s();
  ps->exits++;
}

static void cb_error(tether_parent *p, tether_session *s, int code, const char *msg, void *ud) {
  (void)p;
  par_stat *ps = ud;
  ps->errors++;
  snprintf(ps->last_error, sizeof ps->last_error, "%s: %s", tether_err_name(code), msg);
  if (s) ((sess_stat *)tether_session_userdata(s))->failed = 1;
}

static tether_parent *parent_start(par_stat *ps) {
  static const char *argv[4];
  argv[0] = G.runner;
  argv[1] = "--fd";
  argv[2] = "3";
  argv[3] = NULL;
  tether_parent_options o;
  tether_parent_options_init(&o);
  o.runner_argv = argv;
  o.callbacks.on_spawned = cb_spawned;
  o.callbacks.on_spawn_failed = cb_spawn_failed;
  o.callbacks.on_output = cb_output;
  o.callbacks.on_exit = cb_exit;
  o.callbacks.on_error = cb_error;
  memset(ps, 0, sizeof *ps);
  o.userdata = ps;
  char err[256] = "";
  o.error_buf = err;
  o.error_buf_len = sizeof err;
  tether_parent *p = NULL;
  int rc = tether_parent_start(&o, &p);
  if (rc < 0) die("tether_parent_start(%s): %s: %s", G.runner, tether_strerror(rc), err);
  return p;
}

static long runner_pid(tether_parent *p) {
  tether_runner_info ri;
  tether_parent_runner_info(p, &ri);
  return (long)ri.pid;
}

/* Runs the loop until `*done` >= want or the timeout (seconds) passes. */
static int run_until(tether_parent *p, const int *done, int want, double timeout) {
  double end = now_s() + timeout;
  while (*done < want) {
    double left = end - now_s();
    if (left <= 0) return TETHER_ETIMEDOUT;
    int rc = tether_parent_run(p, (int)(left * 1000) + 1);
    if (rc < 0 && rc != TETHER_ETIMEDOUT) return rc;
  }
  return 0;
}

/* ============================================================ throughput */

typedef struct tp_result {
  double bps;         /* first byte -> last byte */
  double wall_s;      /* start -> child reaped / Exited */
  double mid_cpu_s;   /* the middle process (runner, framer), -1 unknown */
  double self_cpu_s;  /* this process */
} tp_result;

/* Reads `fd` to EOF, timing first byte -> last byte. */
static uint64_t drain_fd(int fd, double *t_first, double *t_last) {
  static uint8_t buf[PIPE_READ_CHUNK];
  uint64_t got = 0;
  *t_first = *t_last = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (!got) *t_first = now_s();
    got += (uint64_t)n;
    *t_last = now_s();
  }
  return got;
}

static void writer_argv(const char *argv[5], char sz[32], char tot[32], uint64_t size,
                        uint64_t total) {
  snprintf(sz, 32, "%llu", (unsigned long long)size);
  snprintf(tot, 32, "%llu", (unsigned long long)total);
  argv[0] = G.self;
  argv[1] = "--child-writer";
  argv[2] = sz;
  argv[3] = tot;
  argv[4] = NULL;
}

/* (a) one direct pipe hop: the helper writes into a pipe this process reads. */
static int tp_direct(uint64_t size, uint64_t total, tp_result *r) {
  char sz[32], tot[32];
  const char *argv[5];
  writer_argv(argv, sz, tot, size, total);
  int pfd[2];
  xpipe(pfd);
  double c0 = self_cpu_s(), t0 = now_s();
  pid_t pid = spawn_io(argv, -2, pfd[1], -1);
  close(pfd[1]);
  double tf, tl;
  uint64_t got = drain_fd(pfd[0], &tf, &tl);
  close(pfd[0]);
  int ok = wait_ok(pid);
  r->wall_s = now_s() - t0;
  r->self_cpu_s = self_cpu_s() - c0;
  r->mid_cpu_s = -1;
  if (!ok || got != total) {
    fail("direct pipe %llu B writes: got %llu of %llu bytes", (unsigned long long)size,
         (unsigned long long)got, (unsigned long long)total);
    return -1;
  }
  r->bps = (double)total / (tl - tf > 0 ? tl - tf : 1e-9);
  return 0;
}

/* tether: the helper as a session of a fresh runner, pipe or pty mode
 * (the writer sends no newlines, so the pty's output processing adds no
 * bytes). */
static int tp_tether_mode(uint64_t size, uint64_t total, tp_result *r, int pty) {
  char sz[32], tot[32];
  const char *argv[5];
  writer_argv(argv, sz, tot, size, total);
  par_stat ps;
  tether_parent *p = parent_start(&ps);
  long rp = runner_pid(p);
  double rc0 = proc_cpu_s(rp), c0 = self_cpu_s();
  sess_stat ss;
  memset(&ss, 0, sizeof ss);
  ss.expect = total;
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.argv = argv;
  so.stdin_mode = TETHER_STDIN_MODE_NULL;
  if (pty) so.io_mode = TETHER_IO_MODE_PTY;
  so.userdata = &ss;
  tether_session *s = NULL;
  double t0 = now_s();
  int rc = tether_session_spawn(p, &so, &s);
  if (rc == 0) rc = tether_session_wait(s, 600000, NULL);
  r->wall_s = now_s() - t0;
  r->self_cpu_s = self_cpu_s() - c0;
  double rc1 = proc_cpu_s(rp);
  r->mid_cpu_s = rc0 >= 0 && rc1 >= 0 ? rc1 - rc0 : -1;
  tether_session_free(s);
  tether_parent_free(p);
  if (rc < 0 || ss.got != total || !ss.st.exited || ss.st.code != 0) {
    fail("tether %s %llu B writes: %s; got %llu of %llu bytes (%s)", pty ? "pty" : "pipe",
         (unsigned long long)size,
         tether_strerror(rc), (unsigned long long)ss.got, (unsigned long long)total,
         ps.last_error);
    return -1;
  }
  r->bps = (double)total / (ss.t_last - ss.t_first > 0 ? ss.t_last - ss.t_first : 1e-9);
  return 0;
}

static int tp_tether(uint64_t size, uint64_t total, tp_result *r) {
  return tp_tether_mode(size, total, r, 0);
}

static int tp_tether_pty(uint64_t size, uint64_t total, tp_result *r) {
  return tp_tether_mode(size, total, r, 1);
}

/* ---- (b) OpenSSH ---- */

static struct {
  int ready;
  char dir[64];
  char key[128];
  char port[16];
  pid_t sshd;
  char why[256];
} SSH;

static int run_quiet(const char *const argv[]) {
  pid_t pid = spawn_io(argv, -2, -2, -2);
  return wait_ok(pid) ? 0 : -1;
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  close(fd);
  return ntohs(a.sin_port);
}

static int port_open(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)port);
  int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  if (fd >= 0) close(fd);
  return ok;
}

static void ssh_argv(const char *argv[24], const char *const *cmd) {
  int i = 0;
  argv[i++] = "/usr/bin/ssh";
  argv[i++] = "-T";
  argv[i++] = "-F";
  argv[i++] = "/dev/null";
  argv[i++] = "-p";
  argv[i++] = SSH.port;
  argv[i++] = "-i";
  argv[i++] = SSH.key;
  argv[i++] = "-o";
  argv[i++] = "StrictHostKeyChecking=no";
  argv[i++] = "-o";
  argv[i++] = "UserKnownHostsFile=/dev/null";
  argv[i++] = "-o";
  argv[i++] = "BatchMode=yes";
  argv[i++] = "-o";
  argv[i++] = "IdentitiesOnly=yes";
  argv[i++] = "-o";
  argv[i++] = "LogLevel=ERROR";
  argv[i++] = "127.0.0.1";
  while (*cmd && i < 23) argv[i++] = *cmd++;
  argv[i] = NULL;
}

static void ssh_stop(void) {
  if (SSH.sshd > 0) {
    kill(SSH.sshd, SIGTERM);
    wait_ok(SSH.sshd);
    SSH.sshd = 0;
  }
  if (SSH.dir[0]) {
    static const char *const files[] = { "host_key", "host_key.pub", "user_key", "user_key.pub",
                                         "authorized_keys", "sshd_config", "sshd.log",
                                         "sshd.pid", NULL };
    char path[160];
    for (int i = 0; files[i]; i++) {
      snprintf(path, sizeof path, "%s/%s", SSH.dir, files[i]);
      unlink(path);
    }
    rmdir(SSH.dir);
    SSH.dir[0] = '\0';
  }
  SSH.ready = 0;
}

/* Starts a private sshd on a loopback port: throwaway host and user keys in
 * a temporary directory, no system configuration read or changed. */
static int ssh_start(void) {
  struct stat sb;
  if (stat("/usr/sbin/sshd", &sb) < 0 || stat("/usr/bin/ssh", &sb) < 0 ||
      stat("/usr/bin/ssh-keygen", &sb) < 0) {
    snprintf(SSH.why, sizeof SSH.why,
             "OpenSSH not installed (/usr/sbin/sshd, /usr/bin/ssh; Debian: openssh-server, "
             "openssh-client)");
    return -1;
  }
  /* sshd running as root insists on its privilege-separation directory,
   * which the package's service normally creates at boot. */
  if (geteuid() == 0 && stat("/run/sshd", &sb) < 0 && mkdir("/run/sshd", 0755) < 0) {
    snprintf(SSH.why, sizeof SSH.why, "cannot create /run/sshd: %s", strerror(errno));
    return -1;
  }
  snprintf(SSH.dir, sizeof SSH.dir, "/tmp/tether-bench-ssh.XXXXXX");
  if (!mkdtemp(SSH.dir)) {
    SSH.dir[0] = '\0';
    snprintf(SSH.why, sizeof SSH.why, "mkdtemp: %s", strerror(errno));
    return -1;
  }
  char hk[128], cfg[128], log[128], ak[128], pub[140], path[256];
  snprintf(hk, sizeof hk, "%s/host_key", SSH.dir);
  snprintf(SSH.key, sizeof SSH.key, "%s/user_key", SSH.dir);
  snprintf(cfg, sizeof cfg, "%s/sshd_config", SSH.dir);
  snprintf(log, sizeof log, "%s/sshd.log", SSH.dir);
  snprintf(ak, sizeof ak, "%s/authorized_keys", SSH.dir);
  snprintf(pub, sizeof pub, "%s.pub", SSH.key);
  const char *kg1[] = { "/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hk, NULL };
  const char *kg2[] = { "/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", SSH.key, NULL };
  if (run_quiet(kg1) < 0 || run_quiet(kg2) < 0) {
    snprintf(SSH.why, sizeof SSH.why, "ssh-keygen failed");
    goto fail;
  }
  if (link(pub, ak) < 0) {
    snprintf(SSH.why, sizeof SSH.why, "authorized_keys: %s", strerror(errno));
    goto fail;
  }
  int port = free_port();
  if (port < 0) {
    snprintf(SSH.why, sizeof SSH.why, "no free loopback port");
    goto fail;
  }
  snprintf(SSH.port, sizeof SSH.port, "%d", port);
  FILE *f = fopen(cfg, "w");
  if (!f) {
    snprintf(SSH.why, sizeof SSH.why, "%s: %s", cfg, strerror(errno));
    goto fail;
  }
  fprintf(f,
          "Port %d\nListenAddress 127.0.0.1\nHostKey %s\nPidFile %s/sshd.pid\n"
          "AuthorizedKeysFile %s\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
          "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
          "StrictModes no\nUsePAM no\nX11Forwarding no\nAllowTcpForwarding no\n"
          "PrintMotd no\nLogLevel ERROR\n",
          port, hk, SSH.dir, ak);
  fclose(f);
  int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const char *sd[] = { "/usr/sbin/sshd", "-D", "-e", "-f", cfg, NULL };
  SSH.sshd = spawn_io(sd, -2, -2, logfd);
  if (logfd >= 0) close(logfd);
  for (int i = 0; i < 100 && !port_open(port); i++) {
    if (waitpid(SSH.sshd, NULL, WNOHANG) == SSH.sshd) {
      SSH.sshd = 0;
      break;
    }
    usleep(20000);
  }
  if (SSH.sshd <= 0 || !port_open(port)) {
    snprintf(SSH.why, sizeof SSH.why, "sshd did not start (see its log: %s)", log);
    goto fail;
  }
  const char *cmd[] = { "true", NULL };
  const char *argv[24];
  ssh_argv(argv, cmd);
  if (run_quiet(argv) < 0) {
    snprintf(SSH.why, sizeof SSH.why, "ssh to the private sshd failed");
    goto fail;
  }
  SSH.ready = 1;
  return 0;
fail:
  snprintf(path, sizeof path, "%s", SSH.why);
  ssh_stop();
  snprintf(SSH.why, sizeof SSH.why, "%s", path);
  return -1;
}

static int tp_ssh(uint64_t size, uint64_t total, tp_result *r) {
  char sz[32], tot[32];
  const char *wargv[5];
  writer_argv(wargv, sz, tot, size, total);
  const char *argv[24];
  ssh_argv(argv, wargv);
  int pfd[2];
  xpipe(pfd);
  double c0 = self_cpu_s(), t0 = now_s();
  pid_t pid = spawn_io(argv, -2, pfd[1], -1);
  close(pfd[1]);
  double tf, tl;
  uint64_t got = drain_fd(pfd[0], &tf, &tl);
  close(pfd[0]);
  int ok = wait_ok(pid);
  r->wall_s = now_s() - t0;
  r->self_cpu_s = self_cpu_s() - c0;
  r->mid_cpu_s = -1;
  if (!ok || got != total) {
    fail("ssh %llu B writes: got %llu of %llu bytes", (unsigned long long)size,
         (unsigned long long)got, (unsigned long long)total);
    return -1;
  }
  r->bps = (double)total / (tl - tf > 0 ? tl - tf : 1e-9);
  return 0;
}

/* ---- (c) JSON + base64 ---- */

#ifdef TETHER_BENCH_HAVE_JANSSON
static int tp_json(uint64_t size, uint64_t total, tp_result *r) {
  char sz[32], tot[32];
  const char *wargv[5];
  writer_argv(wargv, sz, tot, size, total);
  const char *fargv[] = { G.self, "--json-framer", NULL };
  int a[2], b[2];
  xpipe(a);
  xpipe(b);
  double c0 = self_cpu_s(), t0 = now_s();
  pid_t child = spawn_io(wargv, -2, a[1], -1);
  pid_t framer = spawn_io(fargv, a[0], b[1], -1);
  close(a[0]);
  close(a[1]);
  close(b[1]);
  size_t cap = 4 * MiB, have = 0, pos = 0;
  uint8_t *buf = malloc(cap);
  uint8_t *dec = malloc(PIPE_READ_CHUNK + 16);
  uint64_t got = 0;
  double tf = 0, tl = 0;
  int bad = 0, eof = 0;
  while (!bad) {
    /* parse every complete frame */
    while (have - pos >= 4) {
      uint32_t len = (uint32_t)buf[pos] | (uint32_t)buf[pos + 1] << 8 |
                     (uint32_t)buf[pos + 2] << 16 | (uint32_t)buf[pos + 3] << 24;
      if (len > cap - 4) {
        bad = 1;
        break;
      }
      if (have - pos - 4 < len) break;
      json_error_t jerr;
      json_t *o = json_loadb((const char *)buf + pos + 4, len, 0, &jerr);
      const char *type = json_string_value(json_object_get(o, "type"));
      const char *stream = json_string_value(json_object_get(o, "stream"));
      json_t *data = json_object_get(o, "data");
      const char *d = json_string_value(data);
      if (!o || !type || strcmp(type, "output") || !stream || strcmp(stream, "stdout") || !d) {
        bad = 1;
      } else {
        size_t dl = json_string_length(data);
        long n = dl <= b64_encoded_len(PIPE_READ_CHUNK) ? b64_decode(d, dl, dec) : -1;
        if (n < 0) bad = 1;
        else {
          if (!got) tf = now_s();
          got += (uint64_t)n;
          tl = now_s();
        }
      }
      json_decref(o);
      pos += 4 + len;
    }
    if (bad || eof) break;
    if (pos > 0 && (pos == have || cap - have < cap / 4)) {
      memmove(buf, buf + pos, have - pos);
      have -= pos;
      pos = 0;
    }
    ssize_t n = read(b[0], buf + have, cap - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof = 1;
      continue;
    }
    have += (size_t)n;
  }
  close(b[0]);
  int ok = wait_ok(child);
  ok = wait_ok(framer) && ok;
  r->wall_s = now_s() - t0;
  r->self_cpu_s = self_cpu_s() - c0;
  r->mid_cpu_s = -1;
  free(buf);
  free(dec);
  if (!ok || bad || got != total) {
    fail("json+base64 %llu B writes: got %llu of %llu bytes%s", (unsigned long long)size,
         (unsigned long long)got, (unsigned long long)total, bad ? " (bad frame)" : "");
    return -1;
  }
  r->bps = (double)total / (tl - tf > 0 ? tl - tf : 1e-9);
  return 0;
}
#endif

/* The transport experiment: child -> relay process -> this process, where
 * the relay hop is a pipe or a Unix socketpair (tether's channel). It bounds
 * what the runner's channel could reach with each transport. */
static int tp_relay(const char *mode, int use_socket, uint64_t size, uint64_t total,
                    tp_result *r) {
  char sz[32], tot[32];
  const char *wargv[5];
  writer_argv(wargv, sz, tot, size, total);
  const char *rargv[] = { G.self, "--relay", mode, NULL };
  int a[2], b[2];
  xpipe(a);
  if (use_socket) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b) < 0) die("socketpair: %s", strerror(errno));
  } else {
    xpipe(b);
  }
  double c0 = self_cpu_s(), t0 = now_s();
  pid_t child = spawn_io(wargv, -2, a[1], -1);
  pid_t relay = spawn_io(rargv, a[0], b[1], -1);
  close(a[0]);
  close(a[1]);
  close(b[1]);
  double tf, tl;
  uint64_t got = drain_fd(b[0], &tf, &tl);
  close(b[0]);
  int ok = wait_ok(child);
  ok = wait_ok(relay) && ok;
  r->wall_s = now_s() - t0;
  r->self_cpu_s = self_cpu_s() - c0;
  r->mid_cpu_s = -1;
  if (!ok || got != total) {
    fail("relay %s: got %llu of %llu bytes", mode, (unsigned long long)got,
         (unsigned long long)total);
    return -1;
  }
  r->bps = (double)total / (tl - tf > 0 ? tl - tf : 1e-9);
  return 0;
}

static void bench_relay(void) {
  static const struct {
    const char *name, *mode;
    int sock;
  } rv[] = {
    { "relay_socketpair_readwrite_64KiB", "read", 1 },
    { "relay_socketpair_sndbuf4M_64KiB", "sndbuf", 1 },
    { "relay_pipe_readwrite_64KiB", "read", 0 },
    { "relay_pipe_splice_64KiB", "splice", 0 },
  };
  enum { NR = sizeof rv / sizeof *rv };
  uint64_t total = G.smoke ? 4 * MiB : G.quick ? 256 * MiB : 1024 * MiB;
  int reps = G.smoke ? 1 : G.quick ? 3 : 5;
  double bps[NR + 1][16];
  int n[NR + 1] = { 0 };
  for (int rep = 0; rep < reps; rep++) {
    tp_result r;
    if (tp_direct(64 * KiB, total, &r) == 0) bps[NR][n[NR]++] = r.bps;
    for (int k = 0; k < NR; k++)
      if (tp_relay(rv[k].mode, rv[k].sock, 64 * KiB, total, &r) == 0) bps[k][n[k]++] = r.bps;
  }
  if (!n[NR]) return;
  double base = median(bps[NR], n[NR]);
  table("\n== transport experiment: child -> relay process -> this process, 64 KiB writes ==\n");
  for (int k = 0; k < NR; k++) {
    if (!n[k]) continue;
    double m = median(bps[k], n[k]);
    emit("\"kind\":\"relay\",\"name\":\"%s\",\"write_size\":65536,\"bytes\":%llu,"
         "\"reps\":%d,\"bytes_per_s\":%.0f,\"baseline\":\"direct_pipe_64KiB\","
         "\"baseline_bytes_per_s\":%.0f,\"ratio_to_pipe\":%.3f",
         rv[k].name, (unsigned long long)total, n[k], m, base, m / base);
    table("  %-34s %12.1f %12.1f %8.3f\n", rv[k].name, m / 1e6, base / 1e6, m / base);
  }
}

typedef struct tp_variant {
  const char *name; /* JSON name prefix */
  const char *label;
  int (*fn)(uint64_t size, uint64_t total, tp_result *r);
  double share;     /* of the base total */
  int available;
  const char *why;
  double bps[16];
  double mid_cpu[16];
  int n;
} tp_variant;

static double tp_cpu_per_gib(const tp_variant *v, double bps) {
  (void)bps;
  if (v->n == 0) return -1;
  double s = 0;
  for (int i = 0; i < v->n; i++) {
    if (v->mid_cpu[i] < 0) return -1;
    s += v->mid_cpu[i];
  }
  return s / v->n;
}

static struct {
  double tether64, direct64, ssh64, json64;
} TGT;

static void bench_throughput(void) {
  uint64_t sizes[] = { 64 * KiB, 4 * KiB, 1 * MiB };
  uint64_t base = G.smoke ? 4 * MiB : G.quick ? 128 * MiB : 512 * MiB;
  int reps = G.smoke ? 1 : G.quick ? 3 : 7;

  enum { NV = 5 };
  tp_variant v[NV];
  memset(v, 0, sizeof v);
  v[0] = (tp_variant){ "direct_pipe", "direct pipe hop (a)", tp_direct, 2.0, 1, NULL, {0}, {0}, 0 };
  v[1] = (tp_variant){ "tether_pipe_stdout", "tether pipe mode", tp_tether, 1.0, 1, NULL, {0}, {0}, 0 };
  v[2] = (tp_variant){ "ssh", "ssh -T localhost (b)", tp_ssh, 0.5, 0, NULL, {0}, {0}, 0 };
#ifdef TETHER_BENCH_HAVE_JANSSON
  v[3] = (tp_variant){ "json_base64", "JSON+base64 (c)", tp_json, 0.25, 1, NULL, {0}, {0}, 0 };
#else
  v[3] = (tp_variant){ "json_base64", "JSON+base64 (c)", NULL, 0.25, 0,
                       "built without jansson (Debian: libjansson-dev)", {0}, {0}, 0 };
#endif
  /* A pty moves bytes through the line discipline far slower than a pipe:
   * a smaller share keeps the run short. */
  v[4] = (tp_variant){ "tether_pty", "tether pty mode", tp_tether_pty, 1.0 / 64, 1, NULL, {0}, {0}, 0 };
  if (G.smoke) {
    v[2].why = "not run in --smoke";
  } else if (ssh_start() == 0) {
    v[2].available = 1;
  } else {
    v[2].why = SSH.why;
  }

  table("\n== throughput: child stdout -> this process, first byte to last, median of %d ==\n", reps);
  table("  %-34s %12s %12s %8s %14s\n", "name", "MB/s", "pipe MB/s", "ratio", "mid CPU s/run");
  for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
    uint64_t size = sizes[si];
    char sn[32];
    size_name(size, sn, sizeof sn);
    for (int k = 0; k < NV; k++) v[k].n = 0;
    /* Interleaved repetitions: drift of a shared machine hits all alike. */
    for (int rep = 0; rep < reps; rep++) {
      for (int k = 0; k < NV; k++) {
        if (!v[k].available) continue;
        uint64_t total = (uint64_t)(base * v[k].share);
        if (G.smoke && k != 0) total = base;
        tp_result r;
        if (v[k].fn(size, total, &r) == 0) {
          v[k].bps[v[k].n] = r.bps;
          v[k].mid_cpu[v[k].n] = r.mid_cpu_s;
          v[k].n++;
        }
      }
    }
    double med[NV] = { 0 }, lo[NV] = { 0 }, hi[NV] = { 0 };
    for (int k = 0; k < NV; k++) {
      if (!v[k].n) continue;
      double tmp[16];
      memcpy(tmp, v[k].bps, sizeof tmp);
      med[k] = median(tmp, v[k].n);
      lo[k] = tmp[0];
      hi[k] = tmp[v[k].n - 1];
    }
    /* tether first: the first JSON line is pipe-mode stdout at 64 KiB */
    static const int order[NV] = { 1, 4, 0, 2, 3 };
    for (int oi = 0; oi < NV; oi++) {
      int k = order[oi];
      char name[96];
      snprintf(name, sizeof name, "%s_%s", v[k].name, sn);
      if (!v[k].available || !v[k].n) {
        if (si == 0 || !v[k].available) skip(name, v[k].why ? v[k].why : "measurement failed");
        continue;
      }
      double base_bps = med[0];
      double ratio = base_bps > 0 ? med[k] / base_bps : 0;
      double cpu = tp_cpu_per_gib(&v[k], med[k]);
      uint64_t total = G.smoke && k != 0 ? base : (uint64_t)(base * v[k].share);
      char extra[256] = "";
      if (k == 2 || k == 3)
        snprintf(extra, sizeof extra, ",\"tether_bytes_per_s\":%.0f,\"tether_to_this\":%.3f",
                 med[1], med[k] > 0 ? med[1] / med[k] : 0);
      if (cpu >= 0)
        snprintf(extra + strlen(extra), sizeof extra - strlen(extra),
                 ",\"middle_cpu_s_per_run\":%.3f", cpu);
      emit("\"kind\":\"throughput\",\"name\":\"%s\",\"mode\":\"%s\",\"write_size\":%llu,"
           "\"bytes\":%llu,\"reps\":%d,\"bytes_per_s\":%.0f,\"min_bytes_per_s\":%.0f,"
           "\"max_bytes_per_s\":%.0f,\"baseline\":\"direct_pipe_%s\","
           "\"baseline_bytes_per_s\":%.0f,\"ratio_to_pipe\":%.3f%s",
           name, k == 1 ? "pipe" : k == 4 ? "pty" : v[k].name, (unsigned long long)size,
           (unsigned long long)total, v[k].n, med[k], lo[k], hi[k], sn, base_bps, ratio, extra);
      char cpus[32] = "";
      if (cpu >= 0) snprintf(cpus, sizeof cpus, "%.2f", cpu);
      table("  %-34s %12.1f %12.1f %8.3f %14s\n", name, med[k] / 1e6, base_bps / 1e6, ratio, cpus);
    }
    if (size == 64 * KiB) {
      TGT.tether64 = med[1];
      TGT.direct64 = med[0];
      TGT.ssh64 = med[2];
      TGT.json64 = med[3];
    }
  }
  ssh_stop();
  bench_relay();
}

/* =============================================================== latency */

typedef struct lat {
  double *v; /* microseconds */
  int n;
} lat;

static void lat_summary(lat *l, double *p50, double *p99, double *mean) {
  qsort(l->v, (size_t)l->n, sizeof *l->v, cmp_double);
  double s = 0;
  for (int i = 0; i < l->n; i++) s += l->v[i];
  *mean = l->n ? s / l->n : 0;
  *p50 = l->n ? pct(l->v, l->n, 0.50) : 0;
  *p99 = l->n ? pct(l->v, l->n, 0.99) : 0;
}

static void lat_save(const char *name, const lat *l) {
  if (!G.out_dir) return;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/latency_%s.txt", G.out_dir, name);
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "tether-bench: %s: %s\n", path, strerror(errno));
    return;
  }
  for (int i = 0; i < l->n; i++) fprintf(f, "%.3f\n", l->v[i]);
  fclose(f);
}

static struct {
  double spawn_ratio, echo1_ratio, echo4k_ratio;
  double spawn_ratio_p99, echo1_ratio_p99, echo4k_ratio_p99;
  double sandbox_extra_ms; /* p50 sandboxed - p50 plain spawn->Exited; 0: not measured */
} LT;

/* Emits a pair (tether, baseline) and returns the p50 ratio. */
static double lat_report(const char *name, lat *t, const char *bname, lat *b, double *ratio99) {
  double tp50, tp99, tmean, bp50, bp99, bmean;
  lat_save(name, t);
  lat_save(bname, b);
  lat_summary(t, &tp50, &tp99, &tmean);
  lat_summary(b, &bp50, &bp99, &bmean);
  double r50 = bp50 > 0 ? tp50 / bp50 : 0, r99 = bp99 > 0 ? tp99 / bp99 : 0;
  emit("\"kind\":\"latency\",\"name\":\"%s\",\"samples\":%d,\"p50_us\":%.1f,\"p99_us\":%.1f,"
       "\"mean_us\":%.1f,\"baseline\":\"%s\",\"baseline_p50_us\":%.1f,\"baseline_p99_us\":%.1f,"
       "\"ratio_p50\":%.3f,\"ratio_p99\":%.3f",
       name, t->n, tp50, tp99, tmean, bname, bp50, bp99, r50, r99);
  emit("\"kind\":\"latency\",\"name\":\"%s\",\"samples\":%d,\"p50_us\":%.1f,\"p99_us\":%.1f,"
       "\"mean_us\":%.1f",
       bname, b->n, bp50, bp99, bmean);
  table("  %-34s %10.1f %10.1f %10.1f %10.1f %8.2f %8.2f\n", name, tp50, tp99, bp50, bp99, r50, r99);
  if (ratio99) *ratio99 = r99;
  return r50;
}

/* One spawn -> Spawned -> Exited of /bin/true, timed into *ss: with a
 * permission profile, and with a per-session cgroup (a process limit
 * needs one) when `limited`. 0 or a TETHER_E* code. */
static int spawn_true(tether_parent *p, const tether_permission_profile *prof, int limited,
                      sess_stat *ss) {
  static const char *tv[] = { "/bin/true", NULL };
  memset(ss, 0, sizeof *ss);
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.argv = tv;
  so.userdata = ss;
  so.permission_profile = prof;
  if (limited) so.limits.processes = 1000;
  tether_session *s = NULL;
  ss->t_spawn = now_s();
  int rc = tether_session_spawn(p, &so, &s);
  if (rc == 0) rc = tether_session_wait(s, 10000, NULL);
  tether_session_free(s);
  return rc;
}

static void bench_latency(void) {
  int n = G.smoke ? 20 : G.quick ? 300 : 2000;
  table("\n== latency (us), %d samples each; baseline = the same thing without tether ==\n", n);
  table("  %-34s %10s %10s %10s %10s %8s %8s\n", "name", "p50", "p99", "base p50", "base p99",
        "x p50", "x p99");
  lat t = { calloc((size_t)n, sizeof(double)), 0 }, b = { calloc((size_t)n, sizeof(double)), 0 };
  lat t2 = { calloc((size_t)n, sizeof(double)), 0 };
  if (!t.v || !b.v || !t2.v) die("out of memory");

  /* ---- spawn -> Spawned -> Exited of /bin/true vs posix_spawn + waitpid */
  par_stat ps;
  tether_parent *p = parent_start(&ps);
  const char *tv[] = { "/bin/true", NULL };
  for (int i = 0; i < n + n / 10; i++) { /* the first 10% warm up */
    sess_stat ss;
    int rc = spawn_true(p, NULL, 0, &ss);
    if (rc < 0 || !ss.exited) {
      fail("tether spawn /bin/true: %s (%s)", tether_strerror(rc), ps.last_error);
      break;
    }
    double t0 = now_s();
    pid_t pid = spawn_io(tv, -1, -1, -1);
    int ok = wait_ok(pid);
    double t1 = now_s();
    if (!ok) fail("posix_spawn /bin/true failed");
    if (i < n / 10) continue;
    t.v[t.n++] = (ss.t_exit - ss.t_spawn) * 1e6;
    t2.v[t2.n++] = (ss.t_spawned - ss.t_spawn) * 1e6;
    b.v[b.n++] = (t1 - t0) * 1e6;
  }
  LT.spawn_ratio = lat_report("tether_spawn_exit_true", &t, "posix_spawn_waitpid_true", &b,
                              &LT.spawn_ratio_p99);
  {
    double p50, p99, mean;
    lat_save("tether_spawn_to_spawned_true", &t2);
    lat_summary(&t2, &p50, &p99, &mean);
    emit("\"kind\":\"latency\",\"name\":\"tether_spawn_to_spawned_true\",\"samples\":%d,"
         "\"p50_us\":%.1f,\"p99_us\":%.1f,\"mean_us\":%.1f",
         t2.n, p50, p99, mean);
    table("  %-34s %10.1f %10.1f\n", "tether_spawn_to_spawned_true", p50, p99);
  }

  /* ---- the same with --sandbox workspace-write --no-network, interleaved
   * with plain spawns on the same runner: the sandbox's cost per spawn */
  {
    char root[] = "/tmp/tether-bench-ws-XXXXXX";
    if (!mkdtemp(root)) die("mkdtemp: %s", strerror(errno));
    const char *roots[] = { root, NULL };
    tether_permission_profile prof;
    memset(&prof, 0, sizeof prof);
    prof.filesystem = TETHER_FS_WORKSPACE_WRITE;
    prof.writable_roots = roots;
    prof.network = TETHER_NET_DENIED;
    t.n = b.n = 0;
    bool refused = false;
    for (int i = 0; i < n + n / 10 && !refused; i++) {
      double us[2] = { 0, 0 };
      for (int k = 0; k < 2; k++) {
        sess_stat ss;
        int rc = spawn_true(p, k ? &prof : NULL, 0, &ss);
        if (k && ss.failed) { /* this machine cannot enforce profiles: not an error */
          table("  sandboxed spawn not measured: %s\n", ps.last_error);
          refused = true;
          break;
        }
        if (rc < 0 || !ss.exited) {
          fail("tether spawn /bin/true%s: %s (%s)", k ? " (sandboxed)" : "", tether_strerror(rc),
               ps.last_error);
          refused = true;
          break;
        }
        us[k] = (ss.t_exit - ss.t_spawn) * 1e6;
      }
      if (refused || i < n / 10) continue;
      t.v[t.n++] = us[1];
      b.v[b.n++] = us[0];
    }
    rmdir(root);
    if (!refused && t.n) {
      lat_report("tether_spawn_exit_true_sandboxed", &t, "tether_spawn_exit_true_plain", &b, NULL);
      double tp50, tp99, tmean, bp50, bp99, bmean;
      lat_summary(&t, &tp50, &tp99, &tmean);
      lat_summary(&b, &bp50, &bp99, &bmean);
      LT.sandbox_extra_ms = (tp50 - bp50) / 1000.0;
      if (LT.sandbox_extra_ms <= 0) LT.sandbox_extra_ms = 1e-3; /* within noise */
    }
  }

  /* ---- stdin -> cat -> output round trips */
  static const size_t lens[] = { 1, 4096 };
  static uint8_t msg[4096];
  memset(msg, 'e', sizeof msg);
  for (int li = 0; li < 2; li++) {
    size_t len = lens[li];
    t.n = b.n = 0;
    sess_stat ss;
    memset(&ss, 0, sizeof ss);
    ss.expect = UINT64_MAX;
    const char *cv[] = { "/bin/cat", NULL };
    tether_spawn_options so;
    tether_spawn_options_init(&so);
    so.argv = cv;
    so.userdata = &ss;
    tether_session *s = NULL;
    int rc = tether_session_spawn(p, &so, &s);
    if (rc == 0) rc = run_until(p, &ss.spawned, 1, 10);
    int in[2], out[2];
    xpipe(in);
    xpipe(out);
    pid_t cat = spawn_io(cv, in[0], out[1], -1);
    close(in[0]);
    close(out[1]);
    static uint8_t rb[8192];
    for (int i = 0; rc == 0 && i < n + n / 10; i++) {
      uint64_t want = ss.got + len;
      double t0 = now_s();
      rc = tether_session_write(s, msg, len);
      double end = t0 + 10;
      while (rc == 0 && ss.got < want && !ss.failed) {
        rc = tether_parent_run(p, 10000);
        if (now_s() > end) rc = TETHER_ETIMEDOUT;
      }
      double t1 = now_s();
      if (rc < 0 || ss.got != want) {
        fail("tether echo %zu B: %s (%s)", len, tether_strerror(rc), ps.last_error);
        break;
      }
      double r0 = now_s();
      if (write_all(in[1], msg, len) < 0) die("write to cat: %s", strerror(errno));
      size_t got = 0;
      while (got < len) {
        ssize_t k = read(out[0], rb, sizeof rb);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) die("raw cat ended early");
        got += (size_t)k;
      }
      double r1 = now_s();
      if (i < n / 10) continue;
      t.v[t.n++] = (t1 - t0) * 1e6;
      b.v[b.n++] = (r1 - r0) * 1e6;
    }
    close(in[1]);
    close(out[0]);
    wait_ok(cat);
    if (s) {
      tether_session_close_stdin(s);
      tether_session_wait(s, 10000, NULL);
      tether_session_free(s);
    }
    char name[64], bname[64];
    snprintf(name, sizeof name, "tether_echo_cat_%s", li ? "4KiB" : "1B");
    snprintf(bname, sizeof bname, "raw_pipes_echo_cat_%s", li ? "4KiB" : "1B");
    double r99;
    double r = lat_report(name, &t, bname, &b, &r99);
    if (li == 0) LT.echo1_ratio = r, LT.echo1_ratio_p99 = r99;
    else LT.echo4k_ratio = r, LT.echo4k_ratio_p99 = r99;
  }
  tether_parent_free(p);
  free(t.v);
  free(b.v);
  free(t2.v);
}

/* ================================================================ limits */

static double limits_spawn_ratio; /* 0: not measured */

/* One spawn -> Exited of /bin/true, with or without a per-session cgroup
 * (a process limit needs one), in microseconds; < 0 on failure. */
static double spawn_true_us(tether_parent *p, int limited) {
  sess_stat ss;
  int rc = spawn_true(p, NULL, limited, &ss);
  return rc < 0 || !ss.exited ? -1 : (ss.t_exit - ss.t_spawn) * 1e6;
}

/* Spawn latency with a per-session cgroup (Spawn.limits) against the same
 * spawn without limits, interleaved on one runner. Needs a runner that can
 * make cgroups (root); otherwise reported as not measured. */
static void bench_limits(void) {
  int n = G.smoke ? 20 : G.quick ? 200 : 1000;
  table("\n== spawn with a session cgroup (us), %d samples each ==\n", n);
  lat t = { calloc((size_t)n, sizeof(double)), 0 }, b = { calloc((size_t)n, sizeof(double)), 0 };
  if (!t.v || !b.v) die("out of memory");
  par_stat ps;
  tether_parent *p = parent_start(&ps);
  if (spawn_true_us(p, 1) < 0) {
    table("  not measured: the runner cannot enforce a process limit here (%s)\n", ps.last_error);
    emit("\"kind\":\"latency\",\"name\":\"tether_spawn_exit_true_cgroup\",\"samples\":0");
  } else {
    for (int i = 0; i < n + n / 10; i++) {
      double lim = spawn_true_us(p, 1), plain = spawn_true_us(p, 0);
      if (lim < 0 || plain < 0) {
        fail("spawn /bin/true with limits: %s", ps.last_error);
        break;
      }
      if (i < n / 10) continue;
      t.v[t.n++] = lim;
      b.v[b.n++] = plain;
    }
    limits_spawn_ratio = lat_report("tether_spawn_exit_true_cgroup", &t, "tether_spawn_exit_true", &b,
                                    NULL);
  }
  tether_parent_free(p);
  free(t.v);
  free(b.v);
}

/* ================================================================= scale */

static int scale_1000_ok = -1;

static void bench_scale(void) {
  int levels[] = { 1, 10, 100, 1000 };
  int nlevels = G.smoke ? 2 : 4;
  uint64_t budget = G.smoke ? 4 * MiB : G.quick ? 64 * MiB : 256 * MiB;
  uint64_t floor_bytes = G.smoke ? 64 * KiB : G.quick ? 64 * KiB : 256 * KiB;
  table("\n== scale: N concurrent sessions, each `head -c BYTES /dev/zero` ==\n");
  table("  %-6s %10s %10s %10s %10s %10s %10s %10s %s\n", "N", "bytes/ses", "MB/s", "wall s",
        "runnerHWM", "benchHWM", "runnerCPU", "benchCPU", "check");
  for (int li = 0; li < nlevels; li++) {
    int n = levels[li];
    uint64_t per = budget / (uint64_t)n;
    if (per < floor_bytes) per = floor_bytes;
    char bytes_s[32];
    snprintf(bytes_s, sizeof bytes_s, "%llu", (unsigned long long)per);
    const char *argv[] = { "head", "-c", bytes_s, "/dev/zero", NULL };
    sess_stat *ss = calloc((size_t)n, sizeof *ss);
    tether_session **sv = calloc((size_t)n, sizeof *sv);
    if (!ss || !sv) die("out of memory");
    par_stat ps;
    tether_parent *p = parent_start(&ps);
    long rp = runner_pid(p);
    reset_self_hwm();
    double rc0 = proc_cpu_s(rp), c0 = self_cpu_s(), t0 = now_s();
    int rc = 0, spawned = 0;
    for (int i = 0; i < n && rc == 0; i++) {
      tether_spawn_options so;
      tether_spawn_options_init(&so);
      so.argv = argv;
      so.stdin_mode = TETHER_STDIN_MODE_NULL;
      ss[i].expect = per;
      so.userdata = &ss[i];
      rc = tether_session_spawn(p, &so, &sv[i]);
      if (rc == 0) spawned++;
    }
    if (rc < 0) fail("scale %d: spawn %d: %s", n, spawned, tether_strerror(rc));
    /* every session ends in on_exit, on_spawn_failed or on_error */
    double end = now_s() + 600;
    for (;;) {
      int done = 0;
      for (int i = 0; i < spawned; i++) done += ss[i].exited || ss[i].failed;
      if (done == spawned) break;
      if (now_s() > end) {
        fail("scale %d: timed out", n);
        break;
      }
      int r = tether_parent_run(p, 1000);
      if (r < 0 && r != TETHER_ETIMEDOUT) {
        fail("scale %d: %s (%s)", n, tether_strerror(r), ps.last_error);
        break;
      }
    }
    double wall = now_s() - t0;
    double rcpu = proc_cpu_s(rp) - rc0, bcpu = self_cpu_s() - c0;
    long rhwm = proc_status_kib(rp, "VmHWM"), bhwm = proc_status_kib((long)getpid(), "VmHWM");
    int bad = 0;
    uint64_t sum = 0;
    for (int i = 0; i < n; i++) {
      sum += ss[i].got;
      if (i >= spawned || !ss[i].exited || ss[i].failed || ss[i].got != per ||
          ss[i].st.stdout_bytes != per || !ss[i].st.exited || ss[i].st.code != 0)
        bad++;
    }
    if (bad) fail("scale %d: %d sessions with a wrong byte count or status (%s)", n, bad, ps.last_error);
    for (int i = 0; i < spawned; i++) tether_session_free(sv[i]);
    tether_parent_free(p);
    double bps = (double)sum / wall;
    if (n == 1000) scale_1000_ok = !bad;
    emit("\"kind\":\"scale\",\"name\":\"scale_%d_sessions\",\"sessions\":%d,"
         "\"bytes_per_session\":%llu,\"bytes\":%llu,\"wall_s\":%.3f,\"bytes_per_s\":%.0f,"
         "\"runner_vmhwm_kib\":%ld,\"bench_vmhwm_kib\":%ld,\"runner_cpu_s\":%.2f,"
         "\"bench_cpu_s\":%.2f,\"sessions_correct\":%d,\"all_correct\":%s",
         n, n, (unsigned long long)per, (unsigned long long)sum, wall, bps, rhwm, bhwm, rcpu,
         bcpu, n - bad, bad ? "false" : "true");
    table("  %-6d %10llu %10.1f %10.3f %9ldK %9ldK %10.2f %10.2f %s\n", n,
          (unsigned long long)per, bps / 1e6, wall, rhwm, bhwm, rcpu, bcpu,
          bad ? "WRONG" : "all correct");
    free(ss);
    free(sv);
  }
}

/* ================================================================ codecs */

typedef size_t (*size_fn)(const tether_msg *);
typedef int (*enc_fn)(const tether_msg *, uint8_t *, size_t, size_t *, const char **);

static void bench_codec(void) {
  static const size_t sizes[] = { 64, 4096, 65536 };
  double dur = G.smoke ? 0.02 : G.quick ? 0.2 : 1.0;
  table("\n== codecs: Output frame encode + decode (MB/s of payload) ==\n");
  table("  %-34s %12s %12s %12s\n", "name", "enc+dec", "encode", "decode");
  uint8_t *payload = malloc(65536), *buf = malloc(65536 + 256);
  if (!payload || !buf) die("out of memory");
  for (size_t i = 0; i < 65536; i++) payload[i] = (uint8_t)(i * 131u);
  tether_pbc_decoder *pd = NULL;
  tether_nanopb_decoder *nd = NULL;
  if (tether_pbc_decoder_new(&pd) < 0 || tether_nanopb_decoder_new(&nd) < 0)
    die("codec decoder_new failed");
  for (int c = 0; c < 2; c++) {
    for (size_t si = 0; si < 3; si++) {
      size_t psz = sizes[si];
      tether_msg m;
      memset(&m, 0, sizeof m);
      m.session = 7;
      m.type = TETHER_MSG_OUTPUT;
      m.u.output.stream = TETHER_STREAM_STDOUT;
      m.u.output.data.data = payload;
      m.u.output.data.len = psz;
      m.u.output.offset = 123456789;
      size_fn szf = c ? tether_nanopb_encoded_size : tether_pbc_encoded_size;
      enc_fn enf = c ? tether_nanopb_encode : tether_pbc_encode;
      size_t w = 0;
      /* encode */
      uint64_t it = 0;
      double t0 = now_s(), t1;
      do {
        for (int k = 0; k < 64; k++) {
          size_t sz = szf(&m);
          if (enf(&m, buf, sz, &w, NULL) < 0) die("encode failed");
        }
        it += 64;
      } while ((t1 = now_s()) - t0 < dur);
      double enc_per = (t1 - t0) / (double)it;
      /* decode */
      it = 0;
      t0 = now_s();
      do {
        for (int k = 0; k < 64; k++) {
          tether_msg out;
          int rc = c ? tether_nanopb_decode(nd, buf, w, &out, NULL)
                     : tether_pbc_decode(pd, buf, w, &out, NULL);
          if (rc < 0 || out.type != TETHER_MSG_OUTPUT || out.u.output.data.len != psz)
            die("decode failed");
        }
        it += 64;
      } while ((t1 = now_s()) - t0 < dur);
      double dec_per = (t1 - t0) / (double)it;
      char name[96], sn[32];
      snprintf(name, sizeof name, "codec_%s_output_%s", c ? "nanopb" : "protobuf_c",
               size_name(psz, sn, sizeof sn));
      double both = (double)psz / (enc_per + dec_per), enc = (double)psz / enc_per,
             dec = (double)psz / dec_per;
      emit("\"kind\":\"codec\",\"name\":\"%s\",\"codec\":\"%s\",\"payload\":%zu,"
           "\"frame_bytes\":%zu,\"bytes_per_s\":%.0f,\"encode_bytes_per_s\":%.0f,"
           "\"decode_bytes_per_s\":%.0f,\"encode_ns\":%.1f,\"decode_ns\":%.1f",
           name, c ? "nanopb" : "protobuf-c", psz, w, both, enc, dec, enc_per * 1e9,
           dec_per * 1e9);
      table("  %-34s %12.1f %12.1f %12.1f\n", name, both / 1e6, enc / 1e6, dec / 1e6);
    }
  }
  tether_pbc_decoder_free(pd);
  tether_nanopb_decoder_free(nd);
  free(payload);
  free(buf);
}

/* ================================================================ flood */

/* --flood: S sessions each write BYTES (the bench's --child-writer, 64 KiB
 * writes) as fast as they can while the consumer is slow (on_output sleeps
 * flood_slow_us per delivery for the first flood_slow_s seconds, so every
 * window fills and every child blocks on its pipe), then reads at full
 * speed to the end. Reports the runner's and this process's peak RSS
 * (VmHWM) against the bound documented in docs/PERFORMANCE.md and
 * docs/PROTOCOL.md §5.8, computed from the measured start-up RSS:
 *
 *   runner <= R0 + S * Win + H + 4 MiB + F + C + S * 4 KiB
 *   parent <= P0 + Fp + C + 4 MiB + Fr + S * 4 KiB
 *
 * R0/P0: RSS after the handshake, before any session; Win: stdin window
 * (0 here: the flood sessions have no stdin); H: the runner's channel high
 * water (1 MiB); 4 MiB: its channel hard cap above H (replies included);
 * F: the runner's max_frame (1 MiB, one input frame); C: read chunk (64
 * KiB); Fp: the parent's max_frame (its frame reader); Fr: one frame the
 * parent's output queue may hold past its 4 MiB bound; 4 KiB: per-session
 * state (structs, poll slots), generous. The Done criterion of the issue is
 * runner <= 32 MiB for 100 sessions with default windows. */
#define FLOOD_RUNNER_TARGET (32 * MiB)

static void bench_flood_stdin(int n);

static void bench_flood(void) {
  int n = G.flood_sessions > 0 ? G.flood_sessions : G.smoke ? 4 : 100;
  uint64_t per = G.flood_bytes ? G.flood_bytes
                 : G.smoke ? 2 * MiB : G.quick ? 64 * MiB : 1024 * MiB;
  double slow_s = G.flood_slow_s >= 0 ? G.flood_slow_s : G.smoke ? 0.3 : G.quick ? 3 : 10;
  unsigned slow_us = G.flood_slow_us ? G.flood_slow_us : 2000;
  table("\n== flood: %d sessions x %llu bytes, consumer sleeps %u us per delivery for %.1f s ==\n",
        n, (unsigned long long)per, slow_us, slow_s);
  sess_stat *ss = calloc((size_t)n, sizeof *ss);
  tether_session **sv = calloc((size_t)n, sizeof *sv);
  if (!ss || !sv) die("out of memory");
  par_stat ps;
  tether_parent *p = parent_start(&ps);
  long rp = runner_pid(p);
  tether_runner_info ri;
  tether_parent_runner_info(p, &ri);
  tether_parent_options defaults;
  tether_parent_options_init(&defaults);
  reset_self_hwm();
  long r0 = proc_status_kib(rp, "VmRSS"), p0 = proc_status_kib((long)getpid(), "VmRSS");
  char sz[32], tot[32];
  const char *argv[5];
  writer_argv(argv, sz, tot, 64 * KiB, per);
  int rc = 0, spawned = 0;
  double t0 = now_s();
  G.throttle_until = t0 + slow_s;
  G.throttle_us = slow_us;
  for (int i = 0; i < n && rc == 0; i++) {
    tether_spawn_options so;
    tether_spawn_options_init(&so);
    so.argv = argv;
    so.stdin_mode = TETHER_STDIN_MODE_NULL;
    ss[i].expect = per;
    so.userdata = &ss[i];
    rc = tether_session_spawn(p, &so, &sv[i]);
    if (rc == 0) spawned++;
  }
  if (rc < 0) fail("flood: spawn %d: %s", spawned, tether_strerror(rc));
  long r_slow = 0, p_slow = 0; /* peaks while the consumer was slow */
  double next_report = t0 + 5, end = t0 + 3600;
  for (;;) {
    int done = 0;
    uint64_t got = 0;
    for (int i = 0; i < spawned; i++) {
      done += ss[i].exited || ss[i].failed;
      got += ss[i].got;
    }
    if (done == spawned) break;
    double now = now_s();
    if (now > end) {
      fail("flood: timed out");
      break;
    }
    if (now < G.throttle_until) {
      long a = proc_status_kib(rp, "VmHWM"), b = proc_status_kib((long)getpid(), "VmHWM");
      if (a > r_slow) r_slow = a;
      if (b > p_slow) p_slow = b;
    }
    if (now >= next_report) {
      table("  %6.1f s: %8.2f GiB delivered, %d/%d ended, runner RSS %ld KiB, bench RSS %ld KiB\n",
            now - t0, (double)got / (double)(1024 * MiB), done, spawned,
            proc_status_kib(rp, "VmRSS"), proc_status_kib((long)getpid(), "VmRSS"));
      next_report = now + 5;
    }
    int r = tether_parent_run(p, 200);
    if (r < 0 && r != TETHER_ETIMEDOUT) {
      fail("flood: %s (%s)", tether_strerror(r), ps.last_error);
      break;
    }
  }
  G.throttle_until = 0;
  double wall = now_s() - t0;
  long rhwm = proc_status_kib(rp, "VmHWM"), phwm = proc_status_kib((long)getpid(), "VmHWM");
  int bad = 0;
  uint64_t sum = 0;
  for (int i = 0; i < n; i++) {
    sum += ss[i].got;
    if (i >= spawned || !ss[i].exited || ss[i].failed || ss[i].got != per ||
        ss[i].st.stdout_bytes != per || !ss[i].st.exited || ss[i].st.code != 0)
      bad++;
  }
  if (bad) fail("flood: %d sessions with a wrong byte count or status (%s)", bad, ps.last_error);
  for (int i = 0; i < spawned; i++) tether_session_free(sv[i]);
  tether_parent_free(p);

  const long H = (long)(TETHER_RUNNER_OUTPUT_HIGH_WATER_DEFAULT / KiB), C = 64, cap = 4 * 1024;
  long F = (long)(ri.max_frame_size / KiB), Fp = (long)(defaults.max_frame_size / KiB);
  long per_sess = 4, win_in = 0; /* no stdin in the flood */
  long rbound = r0 + (long)n * win_in + H + cap + F + C + (long)n * per_sess;
  long rbound_stdin = rbound + (long)n * (long)(TETHER_WINDOW_DEFAULT / KiB);
  long pbound = p0 + Fp + C + cap + Fp + (long)n * per_sess;
  int r_ok = rhwm > 0 && rhwm <= rbound && rhwm <= (long)(FLOOD_RUNNER_TARGET / KiB);
  int p_ok = phwm > 0 && phwm <= pbound;
  table("  %d sessions x %.0f MiB = %.2f GiB in %.1f s (%.0f MB/s; consumer slow for the first %.1f s)\n",
        n, (double)per / (double)MiB, (double)sum / (double)(1024 * MiB), wall,
        (double)sum / wall / 1e6, slow_s);
  table("  runner: peak RSS %ld KiB (%ld while slow; %ld at start) vs bound %ld KiB "
        "(%ld with every stdin window full); target <= %ld KiB: %s\n",
        rhwm, r_slow, r0, rbound, rbound_stdin, (long)(FLOOD_RUNNER_TARGET / KiB),
        r_ok ? "met" : "MISSED");
  table("  parent: peak RSS %ld KiB (%ld while slow; %ld at start) vs bound %ld KiB: %s\n",
        phwm, p_slow, p0, pbound, p_ok ? "met" : "MISSED");
  emit("\"kind\":\"flood\",\"name\":\"flood_%d_sessions\",\"sessions\":%d,"
       "\"bytes_per_session\":%llu,\"bytes\":%llu,\"wall_s\":%.2f,\"bytes_per_s\":%.0f,"
       "\"slow_s\":%.1f,\"slow_us\":%u,\"window\":%u,"
       "\"runner_start_kib\":%ld,\"runner_vmhwm_kib\":%ld,\"runner_vmhwm_slow_kib\":%ld,"
       "\"runner_bound_kib\":%ld,\"runner_bound_with_stdin_kib\":%ld,"
       "\"bench_start_kib\":%ld,\"bench_vmhwm_kib\":%ld,\"bench_vmhwm_slow_kib\":%ld,"
       "\"bench_bound_kib\":%ld,\"all_correct\":%s",
       n, n, (unsigned long long)per, (unsigned long long)sum, wall, (double)sum / wall, slow_s,
       slow_us, defaults.window, r0, rhwm, r_slow, rbound, rbound_stdin, p0, phwm, p_slow,
       pbound, bad ? "false" : "true");
  emit("\"kind\":\"target\",\"name\":\"flood_runner_rss\",\"what\":\"runner peak RSS, %d "
       "flooding sessions, default windows\",\"value\":%ld,\"goal\":\"<= %ld KiB and <= bound %ld KiB\",\"met\":%s",
       n, rhwm, (long)(FLOOD_RUNNER_TARGET / KiB), rbound, r_ok ? "true" : "false");
  emit("\"kind\":\"target\",\"name\":\"flood_parent_rss\",\"what\":\"parent (bench) peak RSS\","
       "\"value\":%ld,\"goal\":\"<= bound %ld KiB\",\"met\":%s",
       phwm, pbound, p_ok ? "true" : "false");
  /* A broken memory bound is a correctness failure, not slowness; --smoke
   * (ctest, possibly under ASan, whose shadow memory counts as RSS) only
   * checks that the measurement works. */
  if (!G.smoke && !r_ok) fail("flood: runner peak RSS %ld KiB is over its bound", rhwm);
  if (!G.smoke && !p_ok) fail("flood: parent peak RSS %ld KiB is over its bound", phwm);
  free(ss);
  free(sv);
  bench_flood_stdin(n);
}

/* The other half of the runner's bound: every session's stdin window
 * full. S sessions of `sleep` (which never reads its stdin) get 1 MiB of
 * stdin each; the runner queues what the pipe does not take, up to the
 * window per session (flow control), so its RSS approaches R0 + S * W +
 * the fixed terms. Reported, and checked against that bound. */
static void bench_flood_stdin(int n) {
  sess_stat *ss = calloc((size_t)n, sizeof *ss);
  tether_session **sv = calloc((size_t)n, sizeof *sv);
  if (!ss || !sv) die("out of memory");
  par_stat ps;
  tether_parent *p = parent_start(&ps);
  long rp = runner_pid(p);
  tether_runner_info ri;
  tether_parent_runner_info(p, &ri);
  reset_self_hwm();
  long r0 = proc_status_kib(rp, "VmRSS"), p0 = proc_status_kib((long)getpid(), "VmRSS");
  const char *argv[] = { "sleep", "30", NULL };
  static uint8_t chunk[1 << 20];
  memset(chunk, 's', sizeof chunk);
  int spawned = 0;
  for (int i = 0; i < n; i++) {
    tether_spawn_options so;
    tether_spawn_options_init(&so);
    so.argv = argv;
    so.userdata = &ss[i];
    if (tether_session_spawn(p, &so, &sv[i]) < 0) break;
    spawned++;
    tether_session_write(sv[i], chunk, sizeof chunk);
  }
  double end = now_s() + (G.smoke ? 0.5 : 2.0);
  while (now_s() < end) tether_parent_run(p, 100);
  long rhwm = proc_status_kib(rp, "VmHWM"), phwm = proc_status_kib((long)getpid(), "VmHWM");
  for (int i = 0; i < spawned; i++) tether_session_free(sv[i]);
  tether_parent_free(p);
  const long H = (long)(TETHER_RUNNER_OUTPUT_HIGH_WATER_DEFAULT / KiB), C = 64, cap = 4 * 1024;
  long F = (long)(ri.max_frame_size / KiB);
  long bound = r0 + (long)n * (long)(TETHER_WINDOW_DEFAULT / KiB) + H + cap + F + C + (long)n * 4;
  int ok = spawned == n && rhwm > 0 && rhwm <= bound;
  table("  stdin: %d sessions, 1 MiB of stdin each to a child that never reads it: runner peak "
        "RSS %ld KiB (%ld at start) vs bound %ld KiB: %s\n",
        n, rhwm, r0, bound, ok ? "met" : "MISSED");
  /* The parent keeps what the runner's credit does not cover yet: up to
   * stdin_queue_max (1 MiB) per session plus the write that crossed it.
   * That is the embedder's own data, bounded by that option. */
  table("         parent peak RSS %ld KiB (%ld at start): it holds the %d x %u KiB the runner has "
        "no credit for yet (bounded by stdin_queue_max per session)\n",
        phwm, p0, n, (unsigned)(sizeof chunk / KiB) - (unsigned)(TETHER_WINDOW_DEFAULT / KiB));
  emit("\"kind\":\"flood\",\"name\":\"flood_stdin_%d_sessions\",\"sessions\":%d,"
       "\"stdin_bytes_per_session\":%u,\"runner_start_kib\":%ld,\"runner_vmhwm_kib\":%ld,"
       "\"runner_bound_kib\":%ld,\"bench_start_kib\":%ld,\"bench_vmhwm_kib\":%ld,\"met\":%s",
       n, n, (unsigned)sizeof chunk, r0, rhwm, bound, p0, phwm, ok ? "true" : "false");
  if (!G.smoke && !ok) fail("flood: runner peak RSS %ld KiB with full stdin windows is over its bound", rhwm);
  free(ss);
  free(sv);
}

/* ============================================================== profile */

/* --only profile: one long pipe-mode stream at 64 KiB writes and nothing
 * else, for `perf record -a -g -- tether-bench --only profile`. */
static void bench_profile(void) {
  uint64_t total = G.smoke ? 16 * MiB : G.quick ? 1024 * MiB : 4096 * MiB;
  tp_result r;
  if (tp_tether(64 * KiB, total, &r) < 0) return;
  emit("\"kind\":\"profile\",\"name\":\"tether_pipe_stdout_64KiB_profile\",\"bytes\":%llu,"
       "\"bytes_per_s\":%.0f,\"wall_s\":%.3f,\"runner_cpu_s\":%.2f,\"bench_cpu_s\":%.2f",
       (unsigned long long)total, r.bps, r.wall_s, r.mid_cpu_s, r.self_cpu_s);
  table("profile run: %.1f MB/s over %llu bytes; runner CPU %.2f s, bench CPU %.2f s, wall %.2f s\n",
        r.bps / 1e6, (unsigned long long)total, r.mid_cpu_s, r.self_cpu_s, r.wall_s);
}

/* =============================================================== summary */

static void target(const char *name, double value, const char *op, double goal, const char *what) {
  if (value <= 0) {
    emit("\"kind\":\"target\",\"name\":\"%s\",\"what\":\"%s\",\"value\":null,\"goal\":\"%s %.2f\","
         "\"met\":null",
         name, what, op, goal);
    table("  %-28s %-48s %8s %s %-5.2f %s\n", name, what, "-", op, goal, "n/a");
    return;
  }
  int met = op[0] == '>' ? value >= goal : value <= goal;
  emit("\"kind\":\"target\",\"name\":\"%s\",\"what\":\"%s\",\"value\":%.3f,\"goal\":\"%s %.2f\","
       "\"met\":%s",
       name, what, value, op, goal, met ? "true" : "false");
  table("  %-28s %-48s %8.2f %s %-5.2f %s\n", name, what, value, op, goal, met ? "met" : "MISSED");
}

static void machine(double elapsed) {
  char model[256] = "unknown", line[512];
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f) {
    while (fgets(line, sizeof line, f))
      if (!strncmp(line, "model name", 10)) {
        char *c = strchr(line, ':');
        if (c) {
          c++;
          while (*c == ' ' || *c == '\t') c++;
          c[strcspn(c, "\n")] = '\0';
          json_escape(model, sizeof model, c);
        }
        break;
      }
    fclose(f);
  }
  struct utsname u;
  uname(&u);
  double load[3] = { -1, -1, -1 };
  if (getloadavg(load, 3) < 0) load[0] = -1;
  emit("\"kind\":\"machine\",\"nproc\":%ld,\"cpu\":\"%s\",\"kernel\":\"%s %s\",\"set\":\"%s\","
       "\"elapsed_s\":%.1f,\"failures\":%d,\"loadavg_1m_at_end\":%.2f",
       sysconf(_SC_NPROCESSORS_ONLN), model, u.sysname, u.release,
       G.smoke ? "smoke" : G.quick ? "quick" : "full", elapsed, G.failures, load[0]);
  table("\nmachine: %ld CPUs, %s, %s %s; %s set in %.1f s; load average %.2f\n",
        sysconf(_SC_NPROCESSORS_ONLN), model, u.sysname, u.release,
        G.smoke ? "smoke" : G.quick ? "quick" : "full", elapsed, load[0]);
}

/* ================================================================== main */

static void usage(void) {
  fprintf(stderr,
          "usage: tether-bench [--quick | --smoke] [--json FILE] [--out DIR]\n"
          "                    [--only throughput,latency,scale,codec,profile,limits]\n"
          "                    [--runner PATH]\n"
          "       tether-bench --flood [--quick] [--flood-sessions N] [--flood-bytes BYTES]\n"
          "                    [--flood-slow-s S] [--flood-slow-us US]\n"
          "JSON lines on stdout (or FILE), a table on stderr; see docs/PERFORMANCE.md.\n");
  exit(2);
}

static void find_self(void) {
  ssize_t n = readlink("/proc/self/exe", G.self, sizeof G.self - 1);
  if (n <= 0) die("readlink /proc/self/exe: %s", strerror(errno));
  G.self[n] = '\0';
  char *slash = strrchr(G.self, '/');
  snprintf(G.runner, sizeof G.runner, "%.*s/tether-runner", (int)(slash - G.self), G.self);
}

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "--child-writer")) return child_writer_main(argv[2], argv[3]);
  if (argc == 3 && !strcmp(argv[1], "--relay")) return relay_main(argv[2]);
  if (argc == 2 && !strcmp(argv[1], "--json-framer")) {
#ifdef TETHER_BENCH_HAVE_JANSSON
    return json_framer_main();
#else
    return 2;
#endif
  }
  signal(SIGPIPE, SIG_IGN);
  find_self();
  G.json = stdout;
  G.groups = G_THROUGHPUT | G_LATENCY | G_SCALE | G_CODEC | G_LIMITS;
  G.flood_slow_s = -1;
  const char *json_path = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) G.quick = 1;
    else if (!strcmp(argv[i], "--smoke")) G.smoke = 1;
    else if (!strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
    else if (!strcmp(argv[i], "--out") && i + 1 < argc) G.out_dir = argv[++i];
    else if (!strcmp(argv[i], "--runner") && i + 1 < argc) snprintf(G.runner, sizeof G.runner, "%s", argv[++i]);
    else if (!strcmp(argv[i], "--flood")) G.groups = G_FLOOD;
    else if (!strcmp(argv[i], "--flood-sessions") && i + 1 < argc) G.flood_sessions = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--flood-bytes") && i + 1 < argc) G.flood_bytes = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--flood-slow-s") && i + 1 < argc) G.flood_slow_s = atof(argv[++i]);
    else if (!strcmp(argv[i], "--flood-slow-us") && i + 1 < argc) G.flood_slow_us = (unsigned)atoi(argv[++i]);
    else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
      const char *s = argv[++i];
      G.groups = 0;
      if (strstr(s, "throughput")) G.groups |= G_THROUGHPUT;
      if (strstr(s, "latency")) G.groups |= G_LATENCY;
      if (strstr(s, "scale")) G.groups |= G_SCALE;
      if (strstr(s, "codec")) G.groups |= G_CODEC;
      if (strstr(s, "profile")) G.groups |= G_PROFILE;
      if (strstr(s, "limits")) G.groups |= G_LIMITS;
      if (!G.groups) usage();
    } else usage();
  }
  if (access(G.runner, X_OK) < 0) die("no tether-runner at %s (use --runner PATH)", G.runner);
  if (json_path && !(G.json = fopen(json_path, "w"))) die("%s: %s", json_path, strerror(errno));
  if (G.out_dir) {
    char path[PATH_MAX];
    mkdir(G.out_dir, 0755);
    snprintf(path, sizeof path, "%s/bench.jsonl", G.out_dir);
    if (!(G.jsonl_copy = fopen(path, "w"))) die("%s: %s", path, strerror(errno));
  }
#ifdef TETHER_BENCH_HAVE_JANSSON
  b64_init();
#endif
  /* 1000 sessions need ~3 descriptors each in the runner, which inherits
   * this limit. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  double t0 = now_s();
  if (G.groups & G_THROUGHPUT) bench_throughput();
  if (G.groups & G_LATENCY) bench_latency();
  if (G.groups & G_SCALE) bench_scale();
  if (G.groups & G_CODEC) bench_codec();
  if (G.groups & G_PROFILE) bench_profile();
  if (G.groups & G_LIMITS) bench_limits();
  if (G.groups & G_FLOOD) bench_flood();

  table("\n== targets (ratios from this run) ==\n");
  if (G.groups & G_THROUGHPUT) {
    target("pipe_vs_direct_64KiB", TGT.direct64 > 0 ? TGT.tether64 / TGT.direct64 : 0, ">=", 0.6,
           "tether pipe / direct pipe hop, 64 KiB writes");
    target("pipe_vs_ssh_64KiB", TGT.ssh64 > 0 ? TGT.tether64 / TGT.ssh64 : 0, ">=", 2.0,
           "tether pipe / ssh -T, 64 KiB writes");
    target("pipe_vs_json_64KiB", TGT.json64 > 0 ? TGT.tether64 / TGT.json64 : 0, ">=", 3.0,
           "tether pipe / JSON+base64, 64 KiB writes");
  }
  if (G.groups & G_LATENCY) {
    target("spawn_vs_posix_spawn", LT.spawn_ratio, "<=", 1.3,
           "spawn->Exited p50 / posix_spawn+waitpid p50");
    target("echo_1B_vs_raw", LT.echo1_ratio, "<=", 2.0, "stdin->cat->output 1 B p50 / raw p50");
    target("echo_4KiB_vs_raw", LT.echo4k_ratio, "<=", 2.0, "stdin->cat->output 4 KiB p50 / raw p50");
    target("sandbox_spawn_extra_ms", LT.sandbox_extra_ms, "<=", 3.0,
           "workspace-write+no-network p50 - plain p50 (ms)");
  }
  if (G.groups & G_LIMITS)
    target("spawn_cgroup_vs_plain", limits_spawn_ratio, "<=", 1.5,
           "spawn->Exited p50 with a session cgroup / without");
  if ((G.groups & G_SCALE) && scale_1000_ok >= 0) {
    emit("\"kind\":\"target\",\"name\":\"scale_1000_correct\",\"what\":\"1000 concurrent "
         "sessions, every byte count right\",\"value\":%d,\"goal\":\"== 1\",\"met\":%s",
         scale_1000_ok, scale_1000_ok ? "true" : "false");
    table("  %-28s %-48s %8s\n", "scale_1000_correct", "1000 concurrent sessions all correct",
          scale_1000_ok ? "met" : "MISSED");
  }
  machine(now_s() - t0);
  if (G.json != stdout) fclose(G.json);
  if (G.jsonl_copy) fclose(G.jsonl_copy);
  if (G.failures) {
    fprintf(stderr, "tether-bench: %d measurement(s) went wrong\n", G.failures);
    return 1;
  }
  return 0;
}
