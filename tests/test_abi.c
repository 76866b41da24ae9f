/* The growable public structs (include/tether/parent.h, "ABI").
 *
 * Compiled against tests/abi/0.2/tether/{parent,runner}.h, the layouts as
 * first published, and linked with today's libraries: this is an old
 * program meeting a newer library. It checks that every call reads and
 * writes only the caller's struct_size bytes (a canary after each struct
 * stays intact), that a struct_size below the 0.2 layout is refused, and,
 * by wrapping a 0.2 struct in a larger one, that a newer caller's unknown
 * fields are zeroed by init and refused when set. */
#include "harness.h"

#include <sys/socket.h>

#include "tether/parent.h"
#include "tether/runner.h"
#include "tether/version.h"

#ifndef TETHER_RUNNER_PATH
#error "TETHER_RUNNER_PATH must name the tether-runner executable"
#endif

#define CANARY 0xA5
#define CANARY_LEN 64

/* A struct of the caller's (old) size followed by canary bytes. */
#define GUARDED(type) struct { type v; unsigned char guard[CANARY_LEN]; }
#define ARM(g) memset(&(g), CANARY, sizeof(g))
#define GUARD_INTACT(g) guard_intact((g).guard)

static int guard_intact(const unsigned char *g) {
  for (size_t i = 0; i < CANARY_LEN; i++)
    if (g[i] != CANARY) return 0;
  return 1;
}

static int all_zero(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

static const char *runner_argv[] = { TETHER_RUNNER_PATH, "--fd", "3", NULL };

typedef struct rec {
  int exits;
  size_t exit_struct_size;
  uint32_t code;
} rec;

static void cb_exit(tether_session *s, const tether_exit_status *st, void *ud) {
  rec *r = ud;
  r->exits++;
  r->exit_struct_size = st->struct_size;
  r->code = st->code; /* a 0.2 field: always within what the library sent */
}

static tether_parent *start_old(rec *r) {
  GUARDED(tether_parent_options) o;
  char err[256] = "";
  ARM(o);
  tether_parent_options_init(&o.v);
  CHECK(GUARD_INTACT(o));
  CHECK(o.v.struct_size == sizeof o.v);
  CHECK(o.v.runner_new_group == 1);
  CHECK(o.v.callbacks.on_exit == NULL); /* init cleared what it knows */
  o.v.runner_argv = runner_argv;
  o.v.callbacks.on_exit = cb_exit;
  o.v.userdata = r;
  o.v.error_buf = err;
  o.v.error_buf_len = sizeof err;
  tether_parent *p = NULL;
  int rc = tether_parent_start(&o.v, &p);
  if (rc != 0) FAIL("tether_parent_start: %s: %s", tether_err_name(rc), err);
  CHECK(GUARD_INTACT(o));
  return p;
}

/* init, start, runner_info, spawn, wait, capture with the 0.2 layouts. */
TEST(old_layout_roundtrip) {
  rec r = { 0 };
  tether_parent *p = start_old(&r);

  GUARDED(tether_runner_info) info;
  ARM(info);
  CHECK_OK(tether_parent_runner_info(p, &info.v));
  CHECK(GUARD_INTACT(info));
  CHECK(info.v.struct_size == sizeof info.v);
  CHECK_EQ_STR(info.v.implementation, "tether-runner");
  CHECK(info.v.version >= 1);
  CHECK(info.v.pid > 0);

  GUARDED(tether_spawn_options) so;
  ARM(so);
  tether_spawn_options_init(&so.v);
  CHECK(GUARD_INTACT(so));
  CHECK(so.v.stdout_cap == TETHER_OUTPUT_UNCAPPED && so.v.stdin_mode == TETHER_STDIN_MODE_PIPE);
  const char *argv[] = { "sh", "-c", "echo hi; exit 3", NULL };
  so.v.argv = argv;
  so.v.stdin_mode = TETHER_STDIN_MODE_NULL;
  tether_session *s = NULL;
  CHECK_OK(tether_session_spawn(p, &so.v, &s));

  GUARDED(tether_exit_status) st;
  ARM(st);
  CHECK_OK(tether_session_wait(s, 30000, &st.v));
  CHECK(GUARD_INTACT(st));
  CHECK(st.v.struct_size == sizeof st.v);
  CHECK(st.v.exited == 1 && st.v.code == 3);
  CHECK(st.v.stdout_bytes == 3);
  CHECK_EQ_INT(r.exits, 1);
  CHECK(r.exit_struct_size >= sizeof(tether_exit_status));
  CHECK(r.code == 3);
  tether_session_free(s);

  GUARDED(tether_capture_result) cr;
  ARM(cr);
  const char *argv2[] = { "sh", "-c", "printf out; printf err >&2; exit 4", NULL };
  CHECK_OK(tether_capture(p, argv2, &so.v, &cr.v));
  CHECK(GUARD_INTACT(cr));
  CHECK(cr.v.struct_size == sizeof cr.v);
  CHECK(cr.v.status.struct_size == sizeof cr.v.status);
  CHECK_EQ_MEM(cr.v.stdout_data, cr.v.stdout_len, "out", 3);
  CHECK_EQ_MEM(cr.v.stderr_data, cr.v.stderr_len, "err", 3);
  CHECK(cr.v.status.exited && cr.v.status.code == 4);
  tether_capture_result_free(&cr.v);
  CHECK(GUARD_INTACT(cr));
  CHECK(cr.v.stdout_data == NULL && cr.v.status.code == 0);

  /* A failed spawn through capture fills `failure`, before `status`. */
  ARM(cr);
  const char *missing[] = { "/nonexistent/tether-abi", NULL };
  CHECK_EQ_INT(tether_capture(p, missing, NULL, &cr.v), TETHER_ESPAWN);
  CHECK(GUARD_INTACT(cr));
  CHECK(cr.v.failure.stage == TETHER_STAGE_EXEC);
  CHECK(cr.v.failure.message && strlen(cr.v.failure.message) == cr.v.failure.message_len);
  tether_capture_result_free(&cr.v);
  CHECK_OK(tether_parent_free(p));
}

/* struct_size 0 or below the 0.2 layout: TETHER_EINVAL, nothing written. */
TEST(struct_size_too_small) {
  GUARDED(tether_parent_options) o;
  ARM(o);
  tether_parent_options_init_sized(&o.v, 0);
  CHECK(GUARD_INTACT(o));
  CHECK(((unsigned char *)&o.v)[0] == CANARY); /* size 0: not one byte */
  tether_parent_options_init(&o.v);
  o.v.runner_argv = runner_argv;
  char err[256] = "untouched";
  o.v.error_buf = err;
  o.v.error_buf_len = sizeof err;
  tether_parent *p = NULL;
  o.v.struct_size = 0;
  CHECK_EQ_INT(tether_parent_start(&o.v, &p), TETHER_EINVAL);
  CHECK(p == NULL);
  CHECK_EQ_STR(err, "untouched"); /* errbuf is not within 0 bytes */
  o.v.struct_size = offsetof(tether_parent_options, error_buf_len);
  CHECK_EQ_INT(tether_parent_start(&o.v, &p), TETHER_EINVAL);
  CHECK(p == NULL);

  rec r = { 0 };
  p = start_old(&r);
  GUARDED(tether_spawn_options) so;
  tether_spawn_options_init(&so.v);
  const char *argv[] = { "true", NULL };
  so.v.argv = argv;
  tether_session *s = NULL;
  so.v.struct_size = 0;
  CHECK_EQ_INT(tether_session_spawn(p, &so.v, &s), TETHER_EINVAL);
  so.v.struct_size = offsetof(tether_spawn_options, pty_cols);
  CHECK_EQ_INT(tether_session_spawn(p, &so.v, &s), TETHER_EINVAL);
  CHECK(s == NULL);
  tether_capture_result cr;
  memset(&cr, CANARY, sizeof cr);
  CHECK_EQ_INT(tether_capture(p, argv, &so.v, &cr), TETHER_EINVAL);
  CHECK(cr.struct_size == sizeof cr); /* the result was written (empty) */
  tether_capture_result_free(&cr);

  GUARDED(tether_runner_info) info;
  ARM(info);
  CHECK_EQ_INT(tether_parent_runner_info_sized(p, &info.v, 0), TETHER_EINVAL);
  CHECK_EQ_INT(tether_parent_runner_info_sized(p, &info.v, sizeof info.v - 1), TETHER_EINVAL);
  CHECK(((unsigned char *)&info.v)[0] == CANARY && GUARD_INTACT(info));

  GUARDED(tether_capture_result) cres;
  ARM(cres);
  CHECK_EQ_INT(tether_capture_sized(p, argv, NULL, &cres.v, sizeof(size_t)), TETHER_EINVAL);
  CHECK(((unsigned char *)&cres.v)[0] == CANARY && GUARD_INTACT(cres));

  tether_spawn_options_init(&so.v);
  so.v.argv = argv;
  CHECK_OK(tether_session_spawn(p, &so.v, &s));
  GUARDED(tether_exit_status) st;
  ARM(st);
  CHECK_EQ_INT(tether_session_wait_sized(s, 30000, &st.v, 4), TETHER_EINVAL);
  CHECK(((unsigned char *)&st.v)[0] == CANARY && GUARD_INTACT(st));
  CHECK_OK(tether_session_wait_sized(s, 30000, NULL, 0)); /* no record: no size */
  tether_session_free(s);
  CHECK_OK(tether_parent_free(p));
}

/* A caller newer than the library: its struct has fields the library does
 * not know (simulated by a 0.2 struct with 4 KiB more after it). */
#define FUTURE 4096
#define NEWER(type) struct { type v; unsigned char future[FUTURE]; }

TEST(newer_caller) {
  NEWER(tether_parent_options) o;
  memset(&o, CANARY, sizeof o);
  tether_parent_options_init_sized(&o.v, sizeof o);
  CHECK(o.v.struct_size == sizeof o);
  CHECK(all_zero(o.future, FUTURE)); /* init zeroes what it does not know */
  o.v.runner_argv = runner_argv;
  char err[256] = "";
  o.v.error_buf = err;
  o.v.error_buf_len = sizeof err;
  tether_parent *p = NULL;
  o.future[FUTURE - 1] = 1; /* a newer option set: refused, not ignored */
  CHECK_EQ_INT(tether_parent_start(&o.v, &p), TETHER_EUNSUPPORTED);
  CHECK(p == NULL);
  CHECK(strstr(err, "does not know") != NULL);
  o.future[FUTURE - 1] = 0;
  CHECK_OK(tether_parent_start(&o.v, &p));

  NEWER(tether_runner_info) info;
  memset(&info, CANARY, sizeof info);
  CHECK_OK(tether_parent_runner_info_sized(p, &info.v, sizeof info));
  CHECK(info.v.struct_size >= sizeof info.v && info.v.struct_size < sizeof info);
  CHECK(all_zero((unsigned char *)&info + info.v.struct_size, sizeof info - info.v.struct_size));
  CHECK_EQ_STR(info.v.implementation, "tether-runner");

  NEWER(tether_spawn_options) so;
  tether_spawn_options_init_sized(&so.v, sizeof so);
  CHECK(all_zero(so.future, FUTURE));
  const char *argv[] = { "sh", "-c", "exit 6", NULL };
  so.v.argv = argv;
  tether_session *s = NULL;
  so.future[FUTURE - 1] = 1; /* past any layout the library may have */
  CHECK_EQ_INT(tether_session_spawn(p, &so.v, &s), TETHER_EUNSUPPORTED);
  CHECK(s == NULL);
  so.future[FUTURE - 1] = 0;
  CHECK_OK(tether_session_spawn(p, &so.v, &s));
  NEWER(tether_exit_status) st;
  memset(&st, CANARY, sizeof st);
  CHECK_OK(tether_session_wait_sized(s, 30000, &st.v, sizeof st));
  CHECK(st.v.struct_size >= sizeof st.v && st.v.struct_size < sizeof st);
  CHECK(all_zero((unsigned char *)&st + st.v.struct_size, sizeof st - st.v.struct_size));
  CHECK(st.v.exited && st.v.code == 6);
  tether_session_free(s);

  NEWER(tether_capture_result) cr;
  memset(&cr, CANARY, sizeof cr);
  CHECK_OK(tether_capture_sized(p, argv, &so.v, &cr.v, sizeof cr));
  CHECK(cr.v.struct_size >= sizeof cr.v && cr.v.struct_size < sizeof cr);
  CHECK(all_zero((unsigned char *)&cr + cr.v.struct_size, sizeof cr - cr.v.struct_size));
  CHECK(cr.v.status.code == 6);
  tether_capture_result_free(&cr.v);
  CHECK_OK(tether_parent_free(p));
}

/* The runner library with 0.2 options, served in a child process. */
static int serve_child(int fd, size_t struct_size, char *why, size_t why_len) {
  GUARDED(tether_runner_options) ro;
  ARM(ro);
  tether_runner_options_init(&ro.v);
  if (!GUARD_INTACT(ro) || ro.v.struct_size != sizeof ro.v) return 90;
  if (ro.v.max_sessions != TETHER_SESSIONS_MAX_DEFAULT) return 91;
  ro.v.error_buf = why;
  ro.v.error_buf_len = why_len;
  ro.v.struct_size = struct_size;
  int rc = tether_runner_serve_fds(&ro.v, fd, fd);
  if (!GUARD_INTACT(ro)) return 92;
  return rc == 0 ? 0 : 100 - rc;
}

TEST(runner_old_layout) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    char why[128];
    close(sv[0]);
    _exit(serve_child(sv[1], sizeof(tether_runner_options), why, sizeof why));
  }
  close(sv[1]);
  GUARDED(tether_parent_options) o;
  ARM(o);
  tether_parent_options_init(&o.v);
  tether_parent *p = NULL;
  CHECK_OK(tether_parent_attach_fds(&o.v, sv[0], sv[0], &p));
  tether_capture_result cr;
  const char *argv[] = { "sh", "-c", "echo served", NULL };
  CHECK_OK(tether_capture(p, argv, NULL, &cr));
  CHECK_EQ_MEM(cr.stdout_data, cr.stdout_len, "served\n", 7);
  tether_capture_result_free(&cr);
  CHECK_OK(tether_parent_free(p));
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  /* struct_size 0: EINVAL, before anything is served. */
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    char why[128] = "untouched";
    close(sv[0]);
    int rc = serve_child(sv[1], 0, why, sizeof why);
    _exit(strcmp(why, "untouched") == 0 ? rc : 93);
  }
  close(sv[1]);
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK_EQ_INT(WEXITSTATUS(status), 100 - TETHER_EINVAL);
  close(sv[0]);
}

/* tether/version.h agrees with both libraries and with what the runner
 * announces in its Hello. */
TEST(version) {
  char want[32];
  CHECK(TETHER_VERSION_NUM == ((TETHER_VERSION_MAJOR << 16) | (TETHER_VERSION_MINOR << 8) |
                               TETHER_VERSION_PATCH));
  snprintf(want, sizeof want, "%d.%d.%d", TETHER_VERSION_MAJOR, TETHER_VERSION_MINOR,
           TETHER_VERSION_PATCH);
  CHECK_EQ_STR(TETHER_VERSION_STRING, want);
  CHECK(tether_version() == TETHER_VERSION_NUM);
  CHECK_EQ_STR(tether_version_string(), TETHER_VERSION_STRING);
  CHECK_EQ_STR(tether_runner_version(), TETHER_VERSION_STRING);
  rec r = { 0 };
  tether_parent *p = start_old(&r);
  tether_runner_info info;
  CHECK_OK(tether_parent_runner_info(p, &info));
  CHECK_EQ_STR(info.implementation_version, TETHER_VERSION_STRING);
  CHECK_OK(tether_parent_free(p));
}

TEST_MAIN(TEST_ENTRY(version), TEST_ENTRY(old_layout_roundtrip), TEST_ENTRY(struct_size_too_small),
          TEST_ENTRY(newer_caller), TEST_ENTRY(runner_old_layout))
