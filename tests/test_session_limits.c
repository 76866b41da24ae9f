/* Resource limits through libtether_parent and the real tether-runner
 * (issue 20): the exit status names the limit, the tree usage is measured,
 * Terminate reaches a daemonized grandchild, bad values are refused before
 * anything is sent. The cgroup checks need root; unprivileged they print
 * "(not root: skipped)" and pass. tests/test_session_limits.sh covers
 * tether-run and the runner's own death. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "tether/parent.h"

#ifndef TETHER_RUNNER_PATH
#error "TETHER_RUNNER_PATH must name the tether-runner executable"
#endif

static const char *runner_argv[] = { TETHER_RUNNER_PATH, "--fd", "3", NULL };

static tether_parent *start(void) {
  tether_parent_options o;
  tether_parent_options_init(&o);
  o.runner_argv = runner_argv;
  char err[256] = "";
  o.error_buf = err;
  o.error_buf_len = sizeof err;
  tether_parent *p = NULL;
  int rc = tether_parent_start(&o, &p);
  if (rc != 0) FAIL("tether_parent_start: %s: %s", tether_err_name(rc), err);
  return p;
}

/* Processes whose argv[0] is `path`. */
static int count_procs(const char *path) {
  DIR *d = opendir("/proc");
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char p[300], buf[512];
    snprintf(p, sizeof p, "/proc/%s/cmdline", e->d_name);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t k = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (k <= 0) continue;
    buf[k] = '\0';
    n += strcmp(buf, path) == 0;
  }
  closedir(d);
  return n;
}

/* Polls up to `ms` for count_procs(path) == want, processing the
 * parent's events meanwhile (`s` may be over). */
static int wait_procs(tether_session *s, const char *path, int want, int ms) {
  for (int t = 0; t < ms; t += 20) {
    if (count_procs(path) == want) return 1;
    if (tether_session_done(s) || tether_session_wait(s, 20, NULL) != TETHER_ETIMEDOUT)
      usleep(20000);
  }
  return count_procs(path) == want;
}

static int run_limited(const char *const *argv, const tether_resource_limits *l,
                       tether_exit_status *st) {
  tether_parent *p = start();
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.argv = argv;
  so.stdin_mode = TETHER_STDIN_MODE_NULL;
  so.limits = *l;
  tether_session *s = NULL;
  int rc = tether_session_spawn(p, &so, &s);
  if (rc == 0) rc = tether_session_wait(s, 60000, st);
  tether_session_free(s);
  tether_parent_free(p);
  return rc;
}

TEST(bad_values_refused_locally) {
  tether_parent *p = start();
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  const char *argv[] = { "true", NULL };
  so.argv = argv;
  tether_session *s = NULL;
  so.limits.memory_bytes = TETHER_RLIMIT_MEMORY_MIN - 1;
  CHECK_EQ_INT(tether_session_spawn(p, &so, &s), TETHER_EINVAL);
  so.limits.memory_bytes = 0;
  so.limits.cpu_ms = TETHER_RLIMIT_CPU_MS_MAX + 1;
  CHECK_EQ_INT(tether_session_spawn(p, &so, &s), TETHER_EINVAL);
  so.limits.cpu_ms = 0;
  so.limits.open_files = TETHER_RLIMIT_OPEN_FILES_MIN; /* at the limit: fine */
  CHECK_OK(tether_session_spawn(p, &so, &s));
  tether_exit_status st;
  CHECK_OK(tether_session_wait(s, 30000, &st));
  CHECK_EQ_INT(st.exited, 1);
  CHECK_EQ_INT((int)st.limit, TETHER_LIMIT_NONE);
  tether_session_free(s);
  tether_parent_free(p);
}

TEST(memory_limit_named_with_tree_usage) {
  if (geteuid() != 0) {
    printf("  (not root: skipped)\n");
    return;
  }
  tether_resource_limits l = { 0 };
  l.memory_bytes = 64u << 20;
  const char *argv[] = { "python3", "-c", "b = bytearray(1 << 30)", NULL };
  tether_exit_status st;
  CHECK_OK(run_limited(argv, &l, &st));
  CHECK_EQ_INT((int)st.limit, TETHER_LIMIT_MEMORY);
  CHECK(st.tree_peak_memory_bytes > (32u << 20));
  CHECK(st.tree_peak_memory_bytes <= (64u << 20));
}

TEST(cpu_limit_named) {
  tether_resource_limits l = { 0 };
  l.cpu_ms = 1000;
  const char *argv[] = { "sh", "-c", "while :; do :; done", NULL };
  tether_exit_status st;
  CHECK_OK(run_limited(argv, &l, &st));
  CHECK_EQ_INT(st.signaled, 1);
  CHECK_EQ_INT(st.signal, TETHER_SIG_XCPU);
  CHECK_EQ_INT((int)st.limit, TETHER_LIMIT_CPU);
  CHECK(st.user_time_us + st.system_time_us >= 900000);
  if (geteuid() == 0) CHECK(st.tree_cpu_us >= 900000); /* measured by the cgroup */
}

TEST(timeout_is_a_limit_too) {
  tether_parent *p = start();
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  const char *argv[] = { "sleep", "30", NULL };
  so.argv = argv;
  so.timeout_ms = 100;
  tether_session *s = NULL;
  CHECK_OK(tether_session_spawn(p, &so, &s));
  tether_exit_status st;
  CHECK_OK(tether_session_wait(s, 30000, &st));
  CHECK_EQ_INT(st.timed_out, 1);
  CHECK_EQ_INT((int)st.limit, TETHER_LIMIT_WALL_TIMEOUT);
  tether_session_free(s);
  tether_parent_free(p);
}

/* Terminate ends a session whose child left a setsid daemon behind: with
 * a session cgroup the daemon dies too, while the runner lives on. */
TEST(terminate_kills_daemonized_grandchild) {
  if (geteuid() != 0) {
    printf("  (not root: skipped)\n");
    return;
  }
  char dir[] = "/tmp/tether-limits-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char daemon[128], cmd[512];
  snprintf(daemon, sizeof daemon, "%s/tether-daemon", dir);
  snprintf(cmd, sizeof cmd, "cp \"$(command -v sleep)\" %s", daemon);
  CHECK_EQ_INT(system(cmd), 0);
  snprintf(cmd, sizeof cmd,
           "(setsid %s 300 </dev/null >/dev/null 2>&1 &); exec sleep 300", daemon);
  tether_parent *p = start();
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  const char *argv[] = { "sh", "-c", cmd, NULL };
  so.argv = argv;
  so.limits.processes = 100;
  tether_session *s = NULL;
  CHECK_OK(tether_session_spawn(p, &so, &s));
  if (!wait_procs(s, daemon, 1, 10000)) {
    tether_exit_status st0;
    int rc0 = tether_session_wait(s, 0, &st0);
    FAIL("the daemon did not start (session: %s)", tether_err_name(rc0));
  }
  CHECK_OK(tether_session_terminate(s, 200));
  tether_exit_status st;
  CHECK_OK(tether_session_wait(s, 30000, &st));
  int gone = wait_procs(s, daemon, 0, 3000); /* the runner is still up */
  tether_session_free(s);
  tether_parent_free(p);
  unlink(daemon);
  rmdir(dir);
  CHECK(gone);
}

TEST_MAIN(TEST_ENTRY(bad_values_refused_locally), TEST_ENTRY(memory_limit_named_with_tree_usage),
          TEST_ENTRY(cpu_limit_named), TEST_ENTRY(timeout_is_a_limit_too),
          TEST_ENTRY(terminate_kills_daemonized_grandchild))
