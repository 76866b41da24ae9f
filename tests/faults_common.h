/* Shared by the fault, soak and limit tests (tests/faults.cmake): a small
 * event recorder for libtether_parent and helpers that look at processes
 * from the outside (/proc): descriptor counts, children, zombies, process
 * groups. Test-only, header-only. */
#ifndef TETHER_TEST_FAULTS_COMMON_H
#define TETHER_TEST_FAULTS_COMMON_H

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "harness.h"
#include "tether/parent.h"

/* Not every test file uses every helper. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"

#ifndef TETHER_RUNNER_PATH
#error "TETHER_RUNNER_PATH must name the tether-runner executable"
#endif

/* ------------------------------------------------------------ recorder */

typedef struct fsess {
  int spawned, failed, exited, nerrors;
  uint64_t pid;
  int last_error;
  char err_msg[256];
  uint64_t t_error_us;     /* when on_error arrived (CLOCK_MONOTONIC, µs) */
  uint64_t bytes[2];       /* stdout, stderr */
  char head[2][64];        /* the first bytes of each stream */
  tether_exit_status st;
  tether_spawn_failure f;  /* stage/error only */
  char fail_msg[1100];
  int free_in_exit;
} fsess;

typedef struct fgroup {
  int conn_errors, conn_code;
  char conn_msg[512];
  int session_errors;
  int exits, failures;     /* totals over all sessions */
  unsigned output_sleep_us; /* slow consumer: sleep in every on_output */
} fgroup;

static inline uint64_t test_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void fcb_spawned(tether_session *s, uint64_t pid, void *ud) {
  (void)ud;
  fsess *r = tether_session_userdata(s);
  if (!r) return;
  r->spawned++;
  r->pid = pid;
}
static void fcb_failed(tether_session *s, const tether_spawn_failure *f, void *ud) {
  fgroup *g = ud;
  g->failures++;
  fsess *r = tether_session_userdata(s);
  if (!r) return;
  r->failed++;
  r->f.stage = f->stage;
  r->f.error = f->error;
  snprintf(r->fail_msg, sizeof r->fail_msg, "%.*s", (int)f->message_len, f->message);
}
static void fcb_output(tether_session *s, int stream, const void *d, size_t n, void *ud) {
  fgroup *g = ud;
  fsess *r = tether_session_userdata(s);
  if (r) {
    int i = stream == TETHER_STREAM_STDERR;
    size_t have = (size_t)r->bytes[i];
    if (have < sizeof r->head[i] - 1) {
      size_t k = n < sizeof r->head[i] - 1 - have ? n : sizeof r->head[i] - 1 - have;
      memcpy(r->head[i] + have, d, k);
    }
    r->bytes[i] += n;
  }
  if (g && g->output_sleep_us) usleep(g->output_sleep_us);
}
static void fcb_exit(tether_session *s, const tether_exit_status *st, void *ud) {
  fgroup *g = ud;
  g->exits++;
  fsess *r = tether_session_userdata(s);
  if (!r) return;
  r->exited++;
  r->st = *st;
  if (r->free_in_exit) tether_session_free(s);
}
static void fcb_error(tether_parent *p, tether_session *s, int code, const char *msg, void *ud) {
  (void)p;
  fgroup *g = ud;
  if (!s) {
    g->conn_errors++;
    g->conn_code = code;
    snprintf(g->conn_msg, sizeof g->conn_msg, "%s", msg);
    return;
  }
  g->session_errors++;
  fsess *r = tether_session_userdata(s);
  if (!r) return;
  r->nerrors++;
  r->last_error = code;
  r->t_error_us = test_now_us();
  snprintf(r->err_msg, sizeof r->err_msg, "%s", msg);
}

static const char *fault_runner_argv[] = { TETHER_RUNNER_PATH, "--fd", "3", NULL };

static void fopts(tether_parent_options *o, fgroup *g) {
  tether_parent_options_init(o);
  o->runner_argv = fault_runner_argv;
  o->callbacks.on_spawned = fcb_spawned;
  o->callbacks.on_spawn_failed = fcb_failed;
  o->callbacks.on_output = fcb_output;
  o->callbacks.on_exit = fcb_exit;
  o->callbacks.on_error = fcb_error;
  o->userdata = g;
}

static tether_parent *fstart_with(tether_parent_options *o) {
  char err[512] = "";
  o->error_buf = err;
  o->error_buf_len = sizeof err;
  tether_parent *p = NULL;
  int rc = tether_parent_start(o, &p);
  if (rc != 0) FAIL("tether_parent_start: %s: %s", tether_err_name(rc), err);
  o->error_buf = NULL;
  o->error_buf_len = 0;
  return p;
}

static tether_parent *fstart(fgroup *g) {
  tether_parent_options o;
  fopts(&o, g);
  return fstart_with(&o);
}

static tether_session *fspawn(tether_parent *p, fsess *r, const char *const *argv) {
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.argv = argv;
  so.userdata = r;
  tether_session *s = NULL;
  CHECK_OK(tether_session_spawn(p, &so, &s));
  return s;
}

static pid_t frunner_pid(tether_parent *p) {
  tether_runner_info info;
  tether_parent_runner_info(p, &info);
  return (pid_t)info.pid;
}

/* Processes events until `*counter >= want`, failing after `ms`. */
static void frun_until(tether_parent *p, const int *counter, int want, int ms, const char *what) {
  uint64_t end = test_now_ms() + (uint64_t)ms;
  while (*counter < want) {
    uint64_t now = test_now_ms();
    if (now >= end) FAIL("timed out after %d ms waiting for %s (%d of %d)", ms, what, *counter, want);
    int rc = tether_parent_run(p, (int)(end - now));
    if (rc < 0 && rc != TETHER_ETIMEDOUT) FAIL("tether_parent_run: %s while waiting for %s", tether_err_name(rc), what);
  }
}

/* ------------------------------------------------- processes from outside */

/* Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the result. */
static long raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return (long)rl.rlim_cur;
}

/* Open descriptors of `pid` (0: this process, not counting the DIR's own). */
static int fd_count(pid_t pid) {
  char path[64];
  if (pid == 0) snprintf(path, sizeof path, "/proc/self/fd");
  else snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  DIR *d = opendir(path);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return pid == 0 ? n - 1 : n;
}

typedef struct pstat {
  pid_t pid, ppid, pgrp;
  char state;
  char comm[64];
} pstat;

static bool pstat_read(pid_t pid, pstat *out) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  char *lp = strchr(buf, '('), *rp = strrchr(buf, ')');
  if (!lp || !rp) return false;
  memset(out, 0, sizeof *out);
  out->pid = pid;
  snprintf(out->comm, sizeof out->comm, "%.*s", (int)(rp - lp - 1), lp + 1);
  int ppid = 0, pgrp = 0;
  if (sscanf(rp + 1, " %c %d %d", &out->state, &ppid, &pgrp) != 3) return false;
  out->ppid = ppid;
  out->pgrp = pgrp;
  return true;
}

/* Calls fn for every process on the system. */
static void for_each_proc(void (*fn)(const pstat *, void *), void *arg) {
  DIR *d = opendir("/proc");
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    pstat ps;
    if (pstat_read((pid_t)atoi(e->d_name), &ps)) fn(&ps, arg);
  }
  closedir(d);
}

typedef struct kid_count {
  pid_t parent;
  int all, zombies;
} kid_count;

static void kid_count_fn(const pstat *ps, void *arg) {
  kid_count *k = arg;
  if (ps->ppid != k->parent) return;
  k->all++;
  if (ps->state == 'Z') k->zombies++;
}

/* Children of `pid` (0: this process): how many, and how many zombies. */
static int children_of(pid_t pid, int *zombies) {
  kid_count k = { pid ? pid : getpid(), 0, 0 };
  for_each_proc(kid_count_fn, &k);
  if (zombies) *zombies = k.zombies;
  return k.all;
}

typedef struct init_find {
  pid_t runner, init;
} init_find;

static void init_find_fn(const pstat *ps, void *arg) {
  init_find *f = arg;
  if (ps->ppid == f->runner && !strcmp(ps->comm, "tether-init")) f->init = ps->pid;
}

/* The sessions' processes a runner still has: its children and those of
 * its tether-init (the init of the PID namespace a root runner gives its
 * children, runner/contain_linux.c, where orphans go), not counting
 * tether-init itself. */
static int session_processes_of(pid_t runner, int *zombies) {
  init_find f = { runner, 0 };
  for_each_proc(init_find_fn, &f);
  int z = 0, n = children_of(runner, &z) - (f.init ? 1 : 0);
  if (f.init) {
    int zi = 0;
    n += children_of(f.init, &zi);
    z += zi;
  }
  if (zombies) *zombies = z;
  return n;
}

typedef struct grp_count {
  const pid_t *pgrps;
  int n;
  int alive;           /* not zombies */
  pid_t example;
} grp_count;

static void grp_count_fn(const pstat *ps, void *arg) {
  grp_count *g = arg;
  if (ps->state == 'Z') return;
  for (int i = 0; i < g->n; i++)
    if (ps->pgrp == g->pgrps[i]) {
      g->alive++;
      g->example = ps->pid;
    }
}

/* Live (non-zombie) processes in any of the process groups. */
static int alive_in_groups(const pid_t *pgrps, int n, pid_t *example) {
  grp_count g = { pgrps, n, 0, 0 };
  for_each_proc(grp_count_fn, &g);
  if (example) *example = g.example;
  return g.alive;
}

static bool proc_alive(pid_t pid) {
  pstat ps;
  return pstat_read(pid, &ps) && ps.state != 'Z';
}

/* The pid, in our PID namespace, of the process that calls itself `ns_pid`
 * in the namespace of process `ref` (a root runner's children live in one
 * of their own, runner/contain_linux.c, so `echo $$` there is not a pid
 * here). 0 if there is none. */
static pid_t host_pid_of(pid_t ref, pid_t ns_pid) {
  char want[64] = "", path[300], link[64];
  snprintf(path, sizeof path, "/proc/%d/ns/pid", (int)ref);
  ssize_t n = readlink(path, want, sizeof want - 1);
  if (n <= 0) return 0;
  want[n] = '\0';
  ssize_t m = readlink("/proc/self/ns/pid", link, sizeof link - 1);
  if (m > 0 && m == n && !memcmp(link, want, (size_t)n)) return ns_pid; /* ours */
  DIR *d = opendir("/proc");
  if (!d) return 0;
  pid_t found = 0;
  struct dirent *e;
  while (!found && (e = readdir(d))) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    snprintf(path, sizeof path, "/proc/%s/ns/pid", e->d_name);
    m = readlink(path, link, sizeof link - 1);
    if (m != n || memcmp(link, want, (size_t)n)) continue;
    char buf[4096];
    snprintf(path, sizeof path, "/proc/%s/status", e->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got <= 0) continue;
    buf[got] = '\0';
    const char *ns = strstr(buf, "\nNSpid:");
    if (!ns) continue;
    const char *end = strchr(ns + 1, '\n');
    const char *last = end ? end : ns + strlen(ns);
    while (last > ns && last[-1] >= '0' && last[-1] <= '9') last--;
    if (atoi(last) == ns_pid) found = (pid_t)atoi(e->d_name);
  }
  closedir(d);
  return found;
}

/* Reaps every exited child of this process (we may be a subreaper). */
static int reap_all_nohang(void) {
  int n = 0;
  while (waitpid(-1, NULL, WNOHANG) > 0) n++;
  return n;
}

/* Waits up to `ms` for the groups to have no live process, reaping as it
 * goes (we may be their subreaper); returns how many are still alive. A
 * killed process closes its pipes before it becomes a zombie, so a group
 * can look alive for a moment after its session's Exited. */
static int alive_in_groups_after(const pid_t *pgrps, int n, int ms, pid_t *example) {
  uint64_t end = test_now_ms() + (uint64_t)ms;
  while (alive_in_groups(pgrps, n, NULL) > 0 && test_now_ms() < end) {
    reap_all_nohang();
    usleep(1000);
  }
  return alive_in_groups(pgrps, n, example);
}

#pragma GCC diagnostic pop

#endif
