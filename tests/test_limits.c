/* The limits of include/tether/limits.h, end to end: for each limit a case
 * at the limit (works) and one past it (refused with the error named for
 * it), through the real parent API against a real tether-runner, or, where
 * the parent refuses before anything reaches the wire, by sending the raw
 * frame to the runner (tests/runner_parent.h) to check the runner's own
 * check too.
 *
 * Coverage of the limits table (docs/PROTOCOL.md §7) and where it lives:
 *
 *   limit                          here (end to end)          elsewhere
 *   PROTOCOL_VERSION_MIN/MAX       -                          test_parent hostile_version,
 *                                                             test_runner version_mismatch,
 *                                                             test_hello
 *   PREFACE                        -                          test_parent hostile_preface,
 *                                                             test_runner garbage_preface
 *   FRAME_MAX_DEFAULT              frame_runner_max           test_runner frame_too_large,
 *                                                             test_framing too_large
 *   FRAME_MAX_CEILING / MINIMUM    frame_options              test_hello, test_framing
 *   (zero-length frame)            -                          test_runner frame_empty,
 *                                                             test_framing
 *   FRAME_FIELDS_MAX               -                          test_codec (both codecs)
 *   ARGV_MAX_COUNT                 argv_count                 test_runner spawn_over_limits_*,
 *                                                             test_codec
 *   ARGV_MAX_BYTES                 argv_bytes                 test_codec
 *   ENV_MAX_COUNT / BYTES          env_count, env_bytes       test_codec
 *   PATH_MAX_BYTES                 path                       test_codec, test_sandbox
 *   PROFILE_MAX_PATHS              profile_paths              test_codec, test_sandbox
 *   NAME_MAX_BYTES                 name                       test_codec
 *   MESSAGE_MAX_BYTES              path (runner truncates)    test_codec
 *   SESSIONS_MAX_DEFAULT           sessions_default_1024      test_runner max_sessions
 *   SESSIONS_MAX_CEILING           sessions_ceiling           -
 *   WINDOW_DEFAULT / MAX           window                     test_runner flow_credit_errors
 *                                                             (Credit past max_window),
 *                                                             test_hello
 *   HANDSHAKE_TIMEOUT_MS           handshake_timeout          test_faults handshake_deadline_*,
 *                                                             test_runner handshake_timeout
 *   TERMINATE_GRACE_MS             terminate_grace            test_runner terminate_after_grace
 *   PARENT_STDIN_QUEUE_DEFAULT     stdin_queue                -
 *   PARENT_WRITE_TIMEOUT_MS        -                          test_faults stalled_*
 *   PARENT_SHUTDOWN_TIMEOUT_MS     -                          test_faults stalled_runner_free_bounded
 *   CAPTURE_MAX_DEFAULT            capture_max                -
 *   per-stream output caps         output_cap                 test_runner output_cap,
 *                                                             test_parent capture_caps
 *   runner stdin_queue_max         -                          test_runner stdin_queue_limit
 *   runner output_high_water       -                          test_runner flow_memory_bounded
 */
#include "faults_common.h"
#include "tether/runner.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "runner_parent.h"
#include "parent_fake.h"
#pragma GCC diagnostic pop

#define NOARGS ((const char *const *)NULL)

/* ------------------------------------------------------------- helpers */

/* Runs argv (with env, cwd) to completion through a fresh parent; returns
 * the spawn's return code; on 0, *st / *r are filled. */
static int run_one(const char *const *argv, const char *const *env, const char *cwd,
                   fsess *r, tether_exit_status *st) {
  fgroup g = { 0 };
  tether_parent *p = fstart(&g);
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.argv = argv;
  so.env = env;
  so.cwd = cwd;
  so.userdata = r;
  tether_session *s = NULL;
  int rc = tether_session_spawn(p, &so, &s);
  if (rc == 0) {
    int w = tether_session_wait(s, 30000, st);
    if (w != 0 && w != TETHER_ESPAWN) FAIL("wait: %s", tether_err_name(w));
    tether_session_free(s);
  } else {
    CHECK(s == NULL);
  }
  CHECK_EQ_INT(g.conn_errors, 0);
  CHECK_OK(tether_parent_free(p));
  return rc;
}

/* Builds NULL-terminated lists of `count` entries whose lengths add up to
 * `total` bytes (entry i is prefix + 'a' padding; each entry stays below
 * the kernel's 128 KiB per-string limit). */
typedef struct strlist {
  char **v;
  size_t count;
} strlist;

static strlist make_list(size_t count, size_t total, const char *first, int env) {
  strlist l;
  l.count = count;
  l.v = calloc(count + 1, sizeof *l.v);
  CHECK(l.v);
  size_t used = 0;
  for (size_t i = 0; i < count; i++) {
    char pre[32];
    if (i == 0 && first) snprintf(pre, sizeof pre, "%s", first);
    else if (env) snprintf(pre, sizeof pre, "TL%zu=", i);
    else snprintf(pre, sizeof pre, "%zu", i);
    size_t left = total - used, slots = count - i;
    size_t len = (i == 0 && first) ? strlen(pre) : left / slots;
    if (len < strlen(pre)) FAIL("list too dense");
    l.v[i] = malloc(len + 1);
    CHECK(l.v[i]);
    memcpy(l.v[i], pre, strlen(pre));
    memset(l.v[i] + strlen(pre), 'a', len - strlen(pre));
    l.v[i][len] = '\0';
    used += len;
  }
  if (used != total) FAIL("list is %zu bytes, wanted %zu", used, total);
  return l;
}

static void free_list(strlist *l) {
  for (size_t i = 0; i < l->count; i++) free(l->v[i]);
  free(l->v);
}

/* ---- raw Spawn frames for the runner's own checks ---- */

typedef struct rawbuf {
  uint8_t *b;
  size_t n, cap;
} rawbuf;

static void raw_put(rawbuf *r, const void *d, size_t n) {
  if (r->n + n > r->cap) {
    r->cap = (r->n + n) * 2 + 64;
    r->b = realloc(r->b, r->cap);
    CHECK(r->b);
  }
  memcpy(r->b + r->n, d, n);
  r->n += n;
}
static void raw_varint(rawbuf *r, uint64_t v) {
  uint8_t t[10];
  size_t k = 0;
  while (v >= 0x80) {
    t[k++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  t[k++] = (uint8_t)v;
  raw_put(r, t, k);
}
static void raw_bytes(rawbuf *r, int field, const void *d, size_t n) {
  raw_varint(r, ((uint64_t)field << 3) | 2);
  raw_varint(r, n);
  raw_put(r, d, n);
}

/* Spawn.argv = 1, Spawn.env = 3, Spawn.cwd = 4; Frame.session = 1,
 * Frame.spawn = 3. */
static void raw_spawn(rp *c, uint32_t id, const strlist *argv, const strlist *env, const char *cwd) {
  rawbuf sp = { 0 }, fr = { 0 };
  for (size_t i = 0; i < argv->count; i++) raw_bytes(&sp, 1, argv->v[i], strlen(argv->v[i]));
  if (env)
    for (size_t i = 0; i < env->count; i++) raw_bytes(&sp, 3, env->v[i], strlen(env->v[i]));
  if (cwd) raw_bytes(&sp, 4, cwd, strlen(cwd));
  raw_varint(&fr, 1 << 3);
  raw_varint(&fr, id);
  raw_bytes(&fr, 3, sp.b, sp.n);
  rp_send_raw(c, fr.b, fr.n);
  free(sp.b);
  free(fr.b);
}

static void rp_bye(rp *c) {
  rp_simple(c, 0, TETHER_MSG_GOODBYE);
  int st = rp_wait_runner(c, 10000);
  CHECK(WIFEXITED(st));
  CHECK_EQ_INT(WEXITSTATUS(st), 0);
  rp_free(c);
}

static void expect_runner_limit(rp *c, uint32_t id, const char *what) {
  rp_wait_done(c, id);
  if (!c->s[id].spawn_failed || c->s[id].sf_stage != TETHER_STAGE_LIMITS ||
      c->s[id].sf_error != TETHER_SPAWN_ERR_LIMIT)
    FAIL("%s: want SpawnFailed{LIMITS, LIMIT}, got spawn_failed %d stage %u error %u (%s)", what,
         c->s[id].spawn_failed, c->s[id].sf_stage, c->s[id].sf_error, c->s[id].sf_message);
  CHECK(strlen(c->s[id].sf_message) <= TETHER_MESSAGE_MAX_BYTES);
}

static void expect_runner_ran(rp *c, uint32_t id, const char *what) {
  rp_wait_done(c, id);
  if (c->s[id].spawn_failed)
    FAIL("%s: SpawnFailed stage %u error %u (%s)", what, c->s[id].sf_stage, c->s[id].sf_error,
         c->s[id].sf_message);
  CHECK_EQ_INT(c->s[id].ex.code, 0);
}

/* ===================================================== Spawn contents */

TEST(argv_count) {
  /* parent API: `true` and 4095 more arguments runs; one more is refused */
  strlist at = make_list(TETHER_ARGV_MAX_COUNT, TETHER_ARGV_MAX_COUNT * 4, "true", 0);
  fsess r = { 0 };
  tether_exit_status st;
  CHECK_OK(run_one((const char *const *)at.v, NULL, NULL, &r, &st));
  CHECK(r.exited && st.exited && st.code == 0);
  strlist past = make_list(TETHER_ARGV_MAX_COUNT + 1, (TETHER_ARGV_MAX_COUNT + 1) * 4, "true", 0);
  CHECK_EQ_INT(run_one((const char *const *)past.v, NULL, NULL, &r, &st), TETHER_ELIMIT_ARGV_COUNT);
  /* the runner's own check */
  rp c;
  rp_open(&c, NOARGS);
  raw_spawn(&c, 1, &at, NULL, NULL);
  expect_runner_ran(&c, 1, "argv count at the limit");
  raw_spawn(&c, 2, &past, NULL, NULL);
  expect_runner_limit(&c, 2, "argv count past the limit");
  rp_bye(&c);
  free_list(&at);
  free_list(&past);
}

TEST(argv_bytes) {
  strlist at = make_list(8, TETHER_ARGV_MAX_BYTES, "true", 0);
  fsess r = { 0 };
  tether_exit_status st;
  CHECK_OK(run_one((const char *const *)at.v, NULL, NULL, &r, &st));
  CHECK(r.exited && st.code == 0);
  strlist past = make_list(8, TETHER_ARGV_MAX_BYTES + 1, "true", 0);
  CHECK_EQ_INT(run_one((const char *const *)past.v, NULL, NULL, &r, &st), TETHER_ELIMIT_ARGV_BYTES);
  rp c;
  rp_open(&c, NOARGS);
  raw_spawn(&c, 1, &at, NULL, NULL);
  expect_runner_ran(&c, 1, "argv bytes at the limit");
  raw_spawn(&c, 2, &past, NULL, NULL);
  expect_runner_limit(&c, 2, "argv bytes past the limit");
  rp_bye(&c);
  free_list(&at);
  free_list(&past);
}

static const char *const true_argv[] = { "true", NULL };
static const strlist true_list = { (char **)true_argv, 1 };

TEST(env_count) {
  strlist at = make_list(TETHER_ENV_MAX_COUNT, TETHER_ENV_MAX_COUNT * 8, NULL, 1);
  fsess r = { 0 };
  tether_exit_status st;
  CHECK_OK(run_one(true_argv, (const char *const *)at.v, NULL, &r, &st));
  CHECK(r.exited && st.code == 0);
  strlist past = make_list(TETHER_ENV_MAX_COUNT + 1, (TETHER_ENV_MAX_COUNT + 1) * 8, NULL, 1);
  CHECK_EQ_INT(run_one(true_argv, (const char *const *)past.v, NULL, &r, &st), TETHER_ELIMIT_ENV_COUNT);
  rp c;
  rp_open(&c, NOARGS);
  raw_spawn(&c, 1, &true_list, &at, NULL);
  expect_runner_ran(&c, 1, "env count at the limit");
  raw_spawn(&c, 2, &true_list, &past, NULL);
  expect_runner_limit(&c, 2, "env count past the limit");
  rp_bye(&c);
  free_list(&at);
  free_list(&past);
}

TEST(env_bytes) {
  strlist at = make_list(8, TETHER_ENV_MAX_BYTES, NULL, 1);
  fsess r = { 0 };
  tether_exit_status st;
  CHECK_OK(run_one(true_argv, (const char *const *)at.v, NULL, &r, &st));
  CHECK(r.exited && st.code == 0);
  strlist past = make_list(8, TETHER_ENV_MAX_BYTES + 1, NULL, 1);
  CHECK_EQ_INT(run_one(true_argv, (const char *const *)past.v, NULL, &r, &st), TETHER_ELIMIT_ENV_BYTES);
  rp c;
  rp_open(&c, NOARGS);
  raw_spawn(&c, 1, &true_list, &at, NULL);
  expect_runner_ran(&c, 1, "env bytes at the limit");
  raw_spawn(&c, 2, &true_list, &past, NULL);
  expect_runner_limit(&c, 2, "env bytes past the limit");
  rp_bye(&c);
  free_list(&at);
  free_list(&past);
}

/* cwd: 4096 bytes pass the limit check (and then fail at the cwd stage,
 * since no such directory exists); 4097 are refused. The runner's
 * SpawnFailed message, which quotes the path, is cut to
 * TETHER_MESSAGE_MAX_BYTES. */
TEST(path) {
  static char cwd[TETHER_PATH_MAX_BYTES + 2];
  memset(cwd, 'd', sizeof cwd - 1);
  cwd[0] = '/';
  cwd[TETHER_PATH_MAX_BYTES] = '\0';
  fsess r = { 0 };
  tether_exit_status st;
  CHECK_OK(run_one(true_argv, NULL, cwd, &r, &st));
  CHECK_EQ_INT(r.failed, 1);
  CHECK_EQ_INT(r.f.stage, TETHER_STAGE_CWD);
  CHECK(strlen(r.fail_msg) <= TETHER_MESSAGE_MAX_BYTES);
  cwd[TETHER_PATH_MAX_BYTES] = 'd';
  CHECK_EQ_INT(run_one(true_argv, NULL, cwd, &r, &st), TETHER_ELIMIT_PATH);
  rp c;
  rp_open(&c, NOARGS);
  cwd[TETHER_PATH_MAX_BYTES] = '\0';
  raw_spawn(&c, 1, &true_list, NULL, cwd);
  rp_wait_done(&c, 1);
  CHECK(c.s[1].spawn_failed);
  CHECK_EQ_INT(c.s[1].sf_stage, TETHER_STAGE_CWD);
  cwd[TETHER_PATH_MAX_BYTES] = 'd';
  raw_spawn(&c, 2, &true_list, NULL, cwd);
  expect_runner_limit(&c, 2, "cwd past the limit");
  rp_bye(&c);
}

/* Permission-profile path lists: 64 entries pass the syntax check, 65 are
 * refused before anything is sent; a root of 4097 bytes likewise. */
TEST(profile_paths) {
  fgroup g = { 0 };
  tether_parent *p = fstart(&g);
  static char roots[TETHER_PROFILE_MAX_PATHS + 1][16];
  const char *list[TETHER_PROFILE_MAX_PATHS + 2];
  for (unsigned i = 0; i <= TETHER_PROFILE_MAX_PATHS; i++) {
    snprintf(roots[i], sizeof roots[i], "/tmp/r%u", i);
    list[i] = roots[i];
  }
  list[TETHER_PROFILE_MAX_PATHS] = NULL;
  tether_permission_profile prof;
  memset(&prof, 0, sizeof prof);
  prof.filesystem = TETHER_FS_WORKSPACE_WRITE;
  prof.writable_roots = list;
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.argv = true_argv;
  so.permission_profile = &prof;
  fsess r = { 0 };
  so.userdata = &r;
  tether_session *s = NULL;
  int rc = tether_session_spawn(p, &so, &s);
  printf("  64 writable roots: %s\n", tether_err_name(rc));
  CHECK(rc != TETHER_ELIMIT_ROOTS && rc != TETHER_ELIMIT_PATH && rc != TETHER_EINVAL);
  if (rc == 0) {
    CHECK(tether_session_wait(s, 30000, NULL) == 0 || r.failed);
    tether_session_free(s);
  }
  list[TETHER_PROFILE_MAX_PATHS] = roots[TETHER_PROFILE_MAX_PATHS];
  list[TETHER_PROFILE_MAX_PATHS + 1] = NULL;
  CHECK_EQ_INT(tether_session_spawn(p, &so, &s), TETHER_ELIMIT_ROOTS);
  prof.writable_roots = NULL;
  prof.read_only_subpaths = list;
  CHECK_EQ_INT(tether_session_spawn(p, &so, &s), TETHER_ELIMIT_ROOTS);
  static char longroot[TETHER_PATH_MAX_BYTES + 2];
  memset(longroot, 'r', sizeof longroot - 1);
  longroot[0] = '/';
  const char *one[] = { longroot, NULL };
  prof.read_only_subpaths = NULL;
  prof.writable_roots = one;
  CHECK_EQ_INT(tether_session_spawn(p, &so, &s), TETHER_ELIMIT_PATH);
  longroot[TETHER_PATH_MAX_BYTES] = '\0';
  rc = tether_session_spawn(p, &so, &s);
  CHECK(rc != TETHER_ELIMIT_PATH && rc != TETHER_EINVAL);
  if (rc == 0) {
    tether_session_wait(s, 30000, NULL);
    tether_session_free(s);
  }
  CHECK_EQ_INT(g.conn_errors, 0);
  CHECK_OK(tether_parent_free(p));
}

/* ====================================================== the connection */

/* Largest frame the parent accepts, as an option. */
TEST(frame_options) {
  struct { uint32_t v; int want; } cases[] = {
    { TETHER_FRAME_MAX_MINIMUM, 0 },
    { TETHER_FRAME_MAX_MINIMUM - 1, TETHER_EINVAL },
    { TETHER_FRAME_MAX_CEILING, 0 },
    { TETHER_FRAME_MAX_CEILING + 1, TETHER_EINVAL },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fgroup g = { 0 };
    tether_parent_options o;
    fopts(&o, &g);
    o.max_frame_size = cases[i].v;
    char err[256] = "";
    o.error_buf = err;
    o.error_buf_len = sizeof err;
    tether_parent *p = NULL;
    int rc = tether_parent_start(&o, &p);
    if (rc != cases[i].want) FAIL("max_frame %u: %s (%s)", cases[i].v, tether_err_name(rc), err);
    if (rc == 0) {
      tether_capture_result res;
      const char *argv[] = { "head", "-c", "300000", "/dev/zero", NULL };
      CHECK_OK(tether_capture(p, argv, NULL, &res));
      CHECK_EQ_INT(res.stdout_len, 300000);
      tether_capture_result_free(&res);
      CHECK_OK(tether_parent_free(p));
    } else {
      CHECK(strstr(err, "max_frame") != NULL);
    }
  }
  /* the runner's option */
  struct { const char *v; int ok; } rcases[] = {
    { "65536", 1 }, { "65535", 0 }, { "16777216", 1 }, { "16777217", 0 },
  };
  for (size_t i = 0; i < sizeof rcases / sizeof rcases[0]; i++) {
    fgroup g = { 0 };
    tether_parent_options o;
    fopts(&o, &g);
    const char *argv[] = { TETHER_RUNNER_PATH, "--fd", "3", "--max-frame", rcases[i].v, NULL };
    o.runner_argv = argv;
    tether_parent *p = NULL;
    int rc = tether_parent_start(&o, &p);
    if (rcases[i].ok) {
      CHECK_OK(rc);
      tether_runner_info info;
      tether_parent_runner_info(p, &info);
      CHECK_EQ_INT(info.max_frame_size, strtoul(rcases[i].v, NULL, 10));
      CHECK_OK(tether_parent_free(p));
    } else {
      CHECK_EQ_INT(rc, TETHER_ECLOSED); /* usage error: exits before Hello */
    }
  }
}

/* A Spawn frame against the runner's announced max_frame (64 KiB here):
 * the largest that fits is sent and runs, one byte more of argv is
 * refused by the parent with TETHER_EFRAME_TOO_LARGE before sending. */
TEST(frame_runner_max) {
  fgroup g = { 0 };
  tether_parent_options o;
  fopts(&o, &g);
  const char *rargv[] = { TETHER_RUNNER_PATH, "--fd", "3", "--max-frame", "65536", NULL };
  o.runner_argv = rargv;
  tether_parent *p = fstart_with(&o);
  static char pad[70000];
  const char *argv[] = { "true", pad, NULL };
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.argv = argv;
  tether_session *s = NULL;
  size_t lo = 60000, hi = 66000; /* lo fits, hi does not */
  while (hi - lo > 1) {
    size_t mid = (lo + hi) / 2;
    memset(pad, 'p', mid);
    pad[mid] = '\0';
    /* probe without spawning: a frame that fits would be sent, so probe by
     * spawning and letting it run */
    int rc = tether_session_spawn(p, &so, &s);
    if (rc == 0) {
      CHECK_OK(tether_session_wait(s, 30000, NULL));
      tether_session_free(s);
      lo = mid;
    } else {
      CHECK_EQ_INT(rc, TETHER_EFRAME_TOO_LARGE);
      CHECK(s == NULL);
      hi = mid;
    }
  }
  printf("  largest argv entry that fits a 65536-byte frame: %zu bytes\n", lo);
  CHECK(lo > 65000 && lo < 65536);
  CHECK_EQ_INT(g.conn_errors + g.session_errors + g.failures, 0);
  CHECK_OK(tether_parent_free(p));
}

/* Hello.implementation: the runner's --name. */
TEST(name) {
  char name[TETHER_NAME_MAX_BYTES + 2];
  memset(name, 'n', sizeof name - 1);
  name[TETHER_NAME_MAX_BYTES] = '\0';
  fgroup g = { 0 };
  tether_parent_options o;
  fopts(&o, &g);
  const char *argv[] = { TETHER_RUNNER_PATH, "--fd", "3", "--name", name, NULL };
  o.runner_argv = argv;
  tether_parent *p = NULL;
  CHECK_OK(tether_parent_start(&o, &p));
  tether_runner_info info;
  tether_parent_runner_info(p, &info);
  CHECK_EQ_STR(info.implementation, name);
  CHECK_OK(tether_parent_free(p));
  name[TETHER_NAME_MAX_BYTES] = 'n';
  name[TETHER_NAME_MAX_BYTES + 1] = '\0';
  CHECK_EQ_INT(tether_parent_start(&o, &p), TETHER_ECLOSED); /* usage error */
}

/* Sessions: --max-sessions 3 (and the default 1024 in the next test). */
TEST(sessions) {
  fgroup g = { 0 };
  tether_parent_options o;
  fopts(&o, &g);
  const char *rargv[] = { TETHER_RUNNER_PATH, "--fd", "3", "--max-sessions", "3", NULL };
  o.runner_argv = rargv;
  tether_parent *p = fstart_with(&o);
  fsess r[4];
  memset(r, 0, sizeof r);
  tether_session *s[4];
  const char *cat[] = { "cat", NULL };
  for (int i = 0; i < 3; i++) s[i] = fspawn(p, &r[i], cat);
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.argv = cat;
  so.userdata = &r[3];
  CHECK_EQ_INT(tether_session_spawn(p, &so, &s[3]), TETHER_ELIMIT_SESSIONS);
  CHECK_OK(tether_session_close_stdin(s[0]));
  CHECK_OK(tether_session_wait(s[0], 10000, NULL));
  CHECK_OK(tether_session_spawn(p, &so, &s[3])); /* a slot is free again */
  for (int i = 1; i < 4; i++) CHECK_OK(tether_session_close_stdin(s[i]));
  for (int i = 1; i < 4; i++) CHECK_OK(tether_session_wait(s[i], 10000, NULL));
  CHECK_EQ_INT(g.conn_errors + g.session_errors + g.failures, 0);
  CHECK_OK(tether_parent_free(p));
  /* the ceiling, as the runner's option */
  const char *at[] = { TETHER_RUNNER_PATH, "--fd", "3", "--max-sessions", "65536", NULL };
  o.runner_argv = at;
  p = fstart_with(&o);
  tether_runner_info info;
  tether_parent_runner_info(p, &info);
  CHECK_EQ_INT(info.max_sessions, TETHER_SESSIONS_MAX_CEILING);
  CHECK_OK(tether_parent_free(p));
  const char *past[] = { TETHER_RUNNER_PATH, "--fd", "3", "--max-sessions", "65537", NULL };
  o.runner_argv = past;
  CHECK_EQ_INT(tether_parent_start(&o, &p), TETHER_ECLOSED);
}

TEST(sessions_default_1024) {
  raise_nofile();
  fgroup g = { 0 };
  tether_parent *p = fstart(&g);
  tether_runner_info info;
  tether_parent_runner_info(p, &info);
  CHECK_EQ_INT(info.max_sessions, TETHER_SESSIONS_MAX_DEFAULT);
  enum { N = TETHER_SESSIONS_MAX_DEFAULT };
  static fsess r[N + 1];
  static tether_session *s[N + 1];
  const char *cat[] = { "cat", NULL };
  uint64_t t0 = test_now_ms();
  for (int i = 0; i < N; i++) s[i] = fspawn(p, &r[i], cat);
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.argv = cat;
  so.userdata = &r[N];
  CHECK_EQ_INT(tether_session_spawn(p, &so, &s[N]), TETHER_ELIMIT_SESSIONS);
  int spawned = 0;
  uint64_t end = test_now_ms() + 120000;
  while (spawned < N) {
    spawned = 0;
    for (int i = 0; i < N; i++) spawned += r[i].spawned;
    if (test_now_ms() > end) FAIL("%d of %d spawned", spawned, N);
    if (spawned < N) tether_parent_run(p, 1000);
  }
  for (int i = 0; i < N; i++) CHECK_OK(tether_session_close_stdin(s[i]));
  frun_until(p, &g.exits, N, 120000, "Exited");
  printf("  %d live sessions, then all ended: %.1f s\n", N, (double)(test_now_ms() - t0) / 1000.0);
  CHECK_EQ_INT(g.conn_errors + g.session_errors + g.failures, 0);
  CHECK_OK(tether_parent_free(p));
}

/* Flow-control windows as options: [1, TETHER_WINDOW_MAX]. */
TEST(window) {
  struct { uint32_t v; int want; } cases[] = {
    { 1, 0 }, { 0, TETHER_EINVAL }, { TETHER_WINDOW_MAX, 0 }, { TETHER_WINDOW_MAX + 1, TETHER_EINVAL },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fgroup g = { 0 };
    tether_parent_options o;
    fopts(&o, &g);
    o.window = cases[i].v;
    char err[256] = "";
    o.error_buf = err;
    o.error_buf_len = sizeof err;
    tether_parent *p = NULL;
    int rc = tether_parent_start(&o, &p);
    if (rc != cases[i].want) FAIL("window %u: %s (%s)", cases[i].v, tether_err_name(rc), err);
    if (rc == 0) {
      /* the window works: 20 kB through it (one byte per Output with
       * window 1) */
      tether_capture_result res;
      const char *argv[] = { "head", "-c", "20000", "/dev/zero", NULL };
      CHECK_OK(tether_capture(p, argv, NULL, &res));
      CHECK_EQ_INT(res.stdout_len, 20000);
      tether_capture_result_free(&res);
      CHECK_OK(tether_parent_free(p));
    } else {
      CHECK(strstr(err, "window") != NULL);
    }
  }
  struct { const char *v; int ok; } rcases[] = {
    { "1", 1 }, { "0", 0 }, { "16777216", 1 }, { "16777217", 0 },
  };
  for (size_t i = 0; i < sizeof rcases / sizeof rcases[0]; i++) {
    fgroup g = { 0 };
    tether_parent_options o;
    fopts(&o, &g);
    const char *argv[] = { TETHER_RUNNER_PATH, "--fd", "3", "--window", rcases[i].v, NULL };
    o.runner_argv = argv;
    tether_parent *p = NULL;
    int rc = tether_parent_start(&o, &p);
    if (rcases[i].ok) {
      CHECK_OK(rc);
      CHECK_OK(tether_parent_free(p));
    } else {
      CHECK_EQ_INT(rc, TETHER_ECLOSED);
    }
  }
}

/* The handshake deadline: a runner that answers just inside it is fine,
 * one that answers after it is not. */
TEST(handshake_timeout) {
  tether_parent_options o;
  fgroup g = { 0 };
  fopts(&o, &g);
  CHECK_EQ_INT(o.handshake_timeout_ms, TETHER_HANDSHAKE_TIMEOUT_MS);
  const char *slow[] = { "sh", "-c", "sleep 0.3; exec " TETHER_RUNNER_PATH " --fd 3", NULL };
  o.runner_argv = slow;
  o.handshake_timeout_ms = 3000;
  tether_parent *p = NULL;
  CHECK_OK(tether_parent_start(&o, &p));
  CHECK_OK(tether_parent_free(p));
  o.handshake_timeout_ms = 100;
  uint64_t t = test_now_ms();
  CHECK_EQ_INT(tether_parent_start(&o, &p), TETHER_ETIMEDOUT);
  CHECK(test_now_ms() - t < 2000);
  o.handshake_timeout_ms = 0;
  CHECK_EQ_INT(tether_parent_start(&o, &p), TETHER_EINVAL);
  CHECK_EQ_INT(children_of(0, NULL), 0);
}

/* Terminate{grace_ms: 0} means the runner's default grace, 2000 ms, before
 * SIGKILL reaches a process that ignores SIGTERM. */
TEST(terminate_grace) {
  fgroup g = { 0 };
  fsess r = { 0 }, r2 = { 0 };
  tether_parent *p = fstart(&g);
  const char *argv[] = { "sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done", NULL };
  tether_session *s = fspawn(p, &r, argv);
  tether_session *s2 = fspawn(p, &r2, argv);
  while (r.bytes[0] < 6 || r2.bytes[0] < 6) CHECK(tether_parent_run(p, 5000) == 0);
  uint64_t t = test_now_ms();
  CHECK_OK(tether_session_terminate(s, 0));
  CHECK_OK(tether_session_terminate(s2, 300));
  tether_exit_status st, st2;
  CHECK_OK(tether_session_wait(s2, 10000, &st2));
  uint64_t d2 = test_now_ms() - t;
  CHECK_OK(tether_session_wait(s, 10000, &st));
  uint64_t d = test_now_ms() - t;
  printf("  grace 0 (default %u ms): killed after %llu ms; grace 300: %llu ms\n",
         TETHER_TERMINATE_GRACE_MS, (unsigned long long)d, (unsigned long long)d2);
  CHECK(st.signaled && st.signal == TETHER_SIG_KILL);
  CHECK(st2.signaled && st2.signal == TETHER_SIG_KILL);
  CHECK(d >= TETHER_TERMINATE_GRACE_MS - 50 && d < TETHER_TERMINATE_GRACE_MS + 1500);
  CHECK(d2 >= 250 && d2 < 300 + 1500);
  tether_session_free(s);
  tether_session_free(s2);
  CHECK_OK(tether_parent_free(p));
}

/* Per-stream output caps: exactly the cap is delivered whole, one byte
 * more is cut with dropped = 1. */
TEST(output_cap) {
  fgroup g = { 0 };
  tether_parent *p = fstart(&g);
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.stdout_cap = 100000;
  so.stderr_cap = 10;
  tether_capture_result res;
  const char *at[] = { "sh", "-c", "head -c 100000 /dev/zero; printf 0123456789 >&2", NULL };
  CHECK_OK(tether_capture(p, at, &so, &res));
  CHECK_EQ_INT(res.stdout_len, 100000);
  CHECK(!res.stdout_truncated && !res.stderr_truncated);
  CHECK_EQ_INT(res.status.stdout_dropped + res.status.stderr_dropped, 0);
  CHECK_EQ_STR(res.stderr_data, "0123456789");
  tether_capture_result_free(&res);
  const char *past[] = { "sh", "-c", "head -c 100001 /dev/zero; printf 0123456789X >&2", NULL };
  CHECK_OK(tether_capture(p, past, &so, &res));
  CHECK_EQ_INT(res.stdout_len, 100000);
  CHECK(res.stdout_truncated && res.stderr_truncated);
  CHECK_EQ_INT(res.status.stdout_dropped, 1);
  CHECK_EQ_INT(res.status.stderr_dropped, 1);
  CHECK_EQ_STR(res.stderr_data, "0123456789");
  tether_capture_result_free(&res);
  CHECK_OK(tether_parent_free(p));
}

/* tether_capture without caps keeps TETHER_CAPTURE_MAX_DEFAULT bytes. */
TEST(capture_max) {
  fgroup g = { 0 };
  tether_parent *p = fstart(&g);
  char n_at[32], n_past[32];
  snprintf(n_at, sizeof n_at, "%u", TETHER_CAPTURE_MAX_DEFAULT);
  snprintf(n_past, sizeof n_past, "%u", TETHER_CAPTURE_MAX_DEFAULT + 1);
  tether_capture_result res;
  const char *at[] = { "head", "-c", n_at, "/dev/zero", NULL };
  CHECK_OK(tether_capture(p, at, NULL, &res));
  CHECK_EQ_INT(res.stdout_len, TETHER_CAPTURE_MAX_DEFAULT);
  CHECK(!res.stdout_truncated);
  tether_capture_result_free(&res);
  const char *past[] = { "head", "-c", n_past, "/dev/zero", NULL };
  CHECK_OK(tether_capture(p, past, NULL, &res));
  CHECK_EQ_INT(res.stdout_len, TETHER_CAPTURE_MAX_DEFAULT);
  CHECK(res.stdout_truncated);
  CHECK_EQ_INT(res.status.stdout_dropped, 1);
  tether_capture_result_free(&res);
  CHECK_OK(tether_parent_free(p));
}

/* tether_session_write accepts a write whole while fewer than
 * stdin_queue_max bytes are queued, and says TETHER_EAGAIN at the limit.
 * A fake runner with a 16-byte stdin window that never grants more keeps
 * the queue from draining. */
static int stingy_runner(int fd) {
  static pf_buf b;
  char preface[TETHER_PREFACE_LEN];
  pf_preface(fd);
  pf_hello_body(&b, 1, 1, 2);
  pf_uint(&b, 6, 5);         /* FLOW_CONTROL */
  pf_uint(&b, 9, 16);        /* initial_window */
  pf_uint(&b, 10, 1 << 20);  /* max_window */
  pf_send(fd, 0, 2, &b);
  if (pf_read_full(fd, preface, sizeof preface) < 0) return 6;
  pf_frame f;
  uint32_t sid = 0;
  while (pf_recv(fd, &f) == 0)
    if (f.body == 3) {
      sid = f.session;
      break;
    }
  if (!sid) return 7;
  pf_spawned(fd, sid, 4242);
  uint64_t got = 0;
  while (pf_recv(fd, &f) == 0)
    if (f.body == 8) got += pf_body_field(&f, 1); /* Stdin.data length */
  return got == 16 ? 0 : 8;
}

TEST(stdin_queue) {
  tether_parent_options o;
  fgroup g = { 0 };
  fopts(&o, &g);
  CHECK_EQ_INT(o.stdin_queue_max, TETHER_PARENT_STDIN_QUEUE_DEFAULT);
  o.stdin_queue_max = 1000;
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    close(sv[0]);
    _exit(stingy_runner(sv[1]));
  }
  close(sv[1]);
  tether_parent *p = NULL;
  CHECK_OK(tether_parent_attach_fds(&o, sv[0], sv[0], &p));
  fsess r = { 0 };
  const char *argv[] = { "x", NULL };
  tether_session *s = fspawn(p, &r, argv);
  frun_until(p, &r.spawned, 1, 5000, "Spawned");
  static char data[2000];
  CHECK_OK(tether_session_write(s, data, 16)); /* the window: sent */
  tether_parent_process(p);
  CHECK_EQ_INT(tether_session_stdin_queued(s), 0);
  CHECK_OK(tether_session_write(s, data, 999));
  CHECK_EQ_INT(tether_session_stdin_queued(s), 999);
  CHECK_OK(tether_session_write(s, data, 1)); /* 999 < 1000 queued: accepted */
  CHECK_EQ_INT(tether_session_stdin_queued(s), 1000);
  CHECK_EQ_INT(tether_session_write(s, data, 1), TETHER_EAGAIN); /* at the limit */
  CHECK_EQ_INT(tether_session_stdin_queued(s), 1000);
  tether_session_free(s);
  CHECK_OK(tether_parent_free(p));
  int st = 0;
  CHECK(waitpid(pid, &st, 0) == pid);
  CHECK(WIFEXITED(st));
  CHECK_EQ_INT(WEXITSTATUS(st), 0); /* it never got more than its window */
}

TEST_MAIN(TEST_ENTRY(argv_count), TEST_ENTRY(argv_bytes), TEST_ENTRY(env_count),
          TEST_ENTRY(env_bytes), TEST_ENTRY(path), TEST_ENTRY(profile_paths),
          TEST_ENTRY(frame_options), TEST_ENTRY(frame_runner_max), TEST_ENTRY(name),
          TEST_ENTRY(sessions), TEST_ENTRY(sessions_default_1024), TEST_ENTRY(window),
          TEST_ENTRY(handshake_timeout), TEST_ENTRY(terminate_grace), TEST_ENTRY(output_cap),
          TEST_ENTRY(capture_max), TEST_ENTRY(stdin_queue))
