/* Soak: many sessions through one parent and one runner, with no
 * descriptor growth and no zombies in either process.
 *
 *   sequential        N sessions of /bin/true, one after the other
 *   concurrent_500    N sessions in rounds of 500 live at once (`cat`,
 *                     each fed one line, echoing it, then closed)
 *
 * N is TETHER_SOAK_SESSIONS (default 10000). tests/faults.cmake sets it to
 * 10000 in non-sanitized trees (ctest label `soak`; .ci/run runs it from
 * the Release tree) and to a smaller count under ASan. Each test prints its
 * rate so the CI cost is visible. */
#include "faults_common.h"

static int soak_n(void) {
  const char *e = getenv("TETHER_SOAK_SESSIONS");
  int n = e ? atoi(e) : 0;
  return n > 0 ? n : 10000;
}

typedef struct snapshot {
  int parent_fds, runner_fds;
  int parent_kids, parent_zombies; /* the runner itself is the one child */
  int runner_kids, runner_zombies;
} snapshot;

static snapshot snap(pid_t runner) {
  snapshot s;
  s.parent_fds = fd_count(0);
  s.runner_fds = fd_count(runner);
  s.parent_kids = children_of(0, &s.parent_zombies);
  s.runner_kids = session_processes_of(runner, &s.runner_zombies);
  return s;
}

static void check_clean(const snapshot *a, const snapshot *b) {
  printf("  fds parent %d -> %d, runner %d -> %d; runner children %d (zombies %d), "
         "parent children %d (zombies %d)\n",
         a->parent_fds, b->parent_fds, a->runner_fds, b->runner_fds, b->runner_kids,
         b->runner_zombies, b->parent_kids, b->parent_zombies);
  CHECK_EQ_INT(b->parent_fds, a->parent_fds);
  CHECK_EQ_INT(b->runner_fds, a->runner_fds);
  CHECK_EQ_INT(b->runner_kids, 0);
  CHECK_EQ_INT(b->runner_zombies, 0);
  CHECK_EQ_INT(b->parent_kids, 1); /* the runner */
  CHECK_EQ_INT(b->parent_zombies, 0);
}

TEST(sequential) {
  int n = soak_n();
  fgroup g = { 0 };
  tether_parent *p = fstart(&g);
  pid_t runner = frunner_pid(p);
  const char *argv[] = { "/bin/true", NULL };
  snapshot a = { 0 };
  uint64_t t0 = test_now_ms();
  for (int i = 0; i < n + 10; i++) {
    if (i == 10) {
      a = snap(runner); /* after warm-up: lazily grown buffers are there */
      t0 = test_now_ms();
    }
    fsess r = { 0 };
    tether_session *s = fspawn(p, &r, argv);
    tether_exit_status st;
    int rc = tether_session_wait(s, 30000, &st);
    if (rc != 0) FAIL("session %d: %s", i, tether_err_name(rc));
    CHECK(st.exited);
    CHECK_EQ_INT(st.code, 0);
    tether_session_free(s);
  }
  uint64_t ms = test_now_ms() - t0;
  snapshot b = snap(runner);
  printf("  %d sequential sessions in %.1f s (%.0f/s)\n", n, (double)ms / 1000.0,
         (double)n * 1000.0 / (double)(ms ? ms : 1));
  check_clean(&a, &b);
  CHECK_EQ_INT(g.conn_errors + g.session_errors + g.failures, 0);
  CHECK_OK(tether_parent_free(p));
  CHECK_EQ_INT(children_of(0, NULL), 0);
}

#define WAVE 500

TEST(concurrent_500) {
  int n = soak_n();
  long nofile = raise_nofile();
  /* ~4 descriptors per pipe session in the runner (3 pipes + pidfd). */
  if (nofile < 4 * WAVE + 64) FAIL("RLIMIT_NOFILE %ld is too small for %d sessions", nofile, WAVE);
  fgroup g = { 0 };
  tether_parent *p = fstart(&g);
  pid_t runner = frunner_pid(p);
  tether_runner_info info;
  tether_parent_runner_info(p, &info);
  CHECK(info.max_sessions >= WAVE);
  static fsess r[WAVE];
  static tether_session *s[WAVE];
  const char *argv[] = { "cat", NULL };
  snapshot a = { 0 };
  int rounds = (n + WAVE - 1) / WAVE;
  int done_total = 0, peak_live = 0;
  uint64_t t0 = test_now_ms();
  for (int round = -1; round < rounds; round++) { /* round -1: warm-up */
    int k = round < 0 ? 10 : (n - round * WAVE < WAVE ? n - round * WAVE : WAVE);
    if (round == 0) {
      a = snap(runner);
      t0 = test_now_ms();
    }
    memset(r, 0, sizeof r);
    for (int i = 0; i < k; i++) s[i] = fspawn(p, &r[i], argv);
    /* all k alive at once */
    int spawned = 0;
    uint64_t end = test_now_ms() + 120000;
    while (spawned < k) {
      spawned = 0;
      for (int i = 0; i < k; i++) spawned += r[i].spawned;
      if (spawned == k) break;
      if (test_now_ms() > end) FAIL("round %d: %d of %d spawned", round, spawned, k);
      int rc = tether_parent_run(p, 1000);
      if (rc < 0 && rc != TETHER_ETIMEDOUT) FAIL("run: %s", tether_err_name(rc));
    }
    int live = 0;
    for (int i = 0; i < k; i++) live += r[i].spawned && !r[i].exited;
    if (live > peak_live) peak_live = live;
    for (int i = 0; i < k; i++) {
      char line[32];
      int len = snprintf(line, sizeof line, "%d.%d\n", round, i);
      CHECK_OK(tether_session_write(s[i], line, (size_t)len));
      CHECK_OK(tether_session_close_stdin(s[i]));
    }
    int exits0 = g.exits;
    frun_until(p, &g.exits, exits0 + k, 120000, "Exited");
    for (int i = 0; i < k; i++) {
      char line[32];
      int len = snprintf(line, sizeof line, "%d.%d\n", round, i);
      CHECK_EQ_INT(r[i].exited, 1);
      CHECK_EQ_INT(r[i].st.code, 0);
      CHECK_EQ_MEM(r[i].head[0], r[i].bytes[0], line, len);
      tether_session_free(s[i]);
    }
    if (round >= 0) done_total += k;
  }
  uint64_t ms = test_now_ms() - t0;
  snapshot b = snap(runner);
  printf("  %d sessions, %d live at once, in %.1f s (%.0f/s)\n", done_total, peak_live,
         (double)ms / 1000.0, (double)done_total * 1000.0 / (double)(ms ? ms : 1));
  CHECK_EQ_INT(done_total, n);
  CHECK_EQ_INT(peak_live, n < WAVE ? n : WAVE);
  check_clean(&a, &b);
  CHECK_EQ_INT(g.conn_errors + g.session_errors + g.failures, 0);
  CHECK_OK(tether_parent_free(p));
  CHECK_EQ_INT(children_of(0, NULL), 0);
}

TEST_MAIN(TEST_ENTRY(sequential), TEST_ENTRY(concurrent_500))
