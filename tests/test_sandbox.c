/* Permission profiles (sandbox/): resolution, checking, the CLI spec, the
 * runner's decision, and enforcement in a forked child.
 *
 * Resolution tests and the wire tests' refusals need no kernel feature. Enforcement tests need Landlock
 * (ABI >= 3) and namespaces: without them they say "skipped", except in CI
 * (CI=true), where a missing feature is a failure. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#pragma GCC diagnostic ignored "-Wunused-function"
#include "runner_parent.h" /* a real tether-runner over the wire */
#include "sandbox/sandbox.h"
#include "tether/error.h"
#include "tether/parent.h"

/* ------------------------------------------------------------- fixture */

static char base[PATH_MAX]; /* realpath of a fresh temp dir */

static void mk(const char *rel) {
  char p[PATH_MAX * 2];
  snprintf(p, sizeof p, "%s/%s", base, rel);
  CHECK(mkdir(p, 0755) == 0 || errno == EEXIST);
}

static void touch(const char *rel) {
  char p[PATH_MAX * 2];
  snprintf(p, sizeof p, "%s/%s", base, rel);
  int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  CHECK(fd >= 0);
  CHECK(write(fd, "data\n", 5) == 5);
  close(fd);
}

static void link_to(const char *target, const char *rel) {
  char p[PATH_MAX * 2];
  snprintf(p, sizeof p, "%s/%s", base, rel);
  CHECK(symlink(target, p) == 0);
}

static const char *abs_of(const char *rel) {
  static char bufs[8][PATH_MAX * 2];
  static int k;
  char *b = bufs[k++ % 8];
  if (rel[0]) snprintf(b, sizeof bufs[0], "%s/%s", base, rel);
  else snprintf(b, sizeof bufs[0], "%s", base);
  return b;
}

/* base/ws/{src,docs,sub/deep,.git/config,file,real/,link->real}, base/other */
static void fixture(void) {
  char tmpl[] = "/tmp/tether-sbx-XXXXXX";
  CHECK(mkdtemp(tmpl) != NULL);
  CHECK(realpath(tmpl, base) != NULL);
  mk("ws");
  mk("ws/src");
  mk("ws/docs");
  mk("ws/sub");
  mk("ws/sub/deep");
  mk("ws/.git");
  touch("ws/.git/config");
  touch("ws/file");
  mk("ws/real");
  link_to("real", "ws/link");
  mk("other");
  mk("other/.git");
  mk("tmp");
}

/* Removes the fixture; registered once per test process. */
static void cleanup(void) {
  char cmd[PATH_MAX + 32];
  if (!base[0]) return;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
  if (system(cmd) != 0) fprintf(stderr, "  could not remove %s\n", base);
}

static tether_bytes B(const char *s) { return (tether_bytes){ (const uint8_t *)s, strlen(s) }; }

typedef struct prof {
  tether_bytes roots[8], subs[8];
  tether_msg_profile p;
  tether_bytes cwd;
} prof;

/* NULL-terminated lists; cwd may be NULL. */
static void prof_set(prof *x, uint32_t fs, const char *const *roots, const char *const *subs,
                     const char *cwd) {
  memset(x, 0, sizeof *x);
  size_t n = 0;
  while (roots && roots[n]) x->roots[n] = B(roots[n]), n++;
  x->p.writable_roots = (tether_bytes_list){ x->roots, n };
  n = 0;
  while (subs && subs[n]) x->subs[n] = B(subs[n]), n++;
  x->p.read_only_subpaths = (tether_bytes_list){ x->subs, n };
  x->p.filesystem = fs;
  x->cwd = cwd ? B(cwd) : (tether_bytes){ NULL, 0 };
}

#define L(...) ((const char *const[]){ __VA_ARGS__, NULL })

static int resolve(prof *x, const char *tmp, tether__sandbox_resolved *r,
                   tether__sandbox_failure *f) {
  char why[256];
  int rc = tether__sandbox_check(&x->p, x->cwd, why, sizeof why);
  if (rc < 0) FAIL("check: %s (%s)", why, tether_err_name(rc));
  return tether__sandbox_resolve(&x->p, x->cwd, tmp, r, f);
}

/* ------------------------------------------------------ resolution tests */

/* The bug this design exists to avoid: relative roots resolved against the
 * command's cwd. Resolution takes no command cwd at all, and the process
 * cwd does not matter either. */
TEST(subdirectory_command_keeps_other_roots) {
  fixture();
  prof x;
  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L("src", "docs", "."), NULL, abs_of("ws"));
  const char *cwds[] = { abs_of("ws/src"), abs_of("ws/sub/deep"), "/" };
  for (size_t i = 0; i < 3; i++) {
    CHECK(chdir(cwds[i]) == 0);
    tether__sandbox_resolved r;
    tether__sandbox_failure f;
    CHECK_EQ_INT(resolve(&x, NULL, &r, &f), 0);
    CHECK_EQ_INT(r.nroots, 3);
    CHECK_EQ_STR(r.roots[0], abs_of("ws/src"));
    CHECK_EQ_STR(r.roots[1], abs_of("ws/docs"));
    CHECK_EQ_STR(r.roots[2], abs_of("ws"));
    CHECK(r.tmpdir == NULL);
    tether__sandbox_resolved_free(&r);
  }
  cleanup();
}

TEST(dotdot_escapes_resolve_physically) {
  fixture();
  prof x;
  /* ws/sub/../.. is the fixture's base: allowed, it is a real directory */
  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L("sub/../..", "sub/deep/../../docs", "./src/"),
           NULL, abs_of("ws"));
  tether__sandbox_resolved r;
  tether__sandbox_failure f;
  CHECK_EQ_INT(resolve(&x, NULL, &r, &f), 0);
  CHECK_EQ_INT(r.nroots, 3);
  CHECK_EQ_STR(r.roots[0], abs_of(""));
  CHECK_EQ_STR(r.roots[1], abs_of("ws/docs"));
  CHECK_EQ_STR(r.roots[2], abs_of("ws/src"));
  tether__sandbox_resolved_free(&r);
  /* .. out of the cwd into something that does not exist: refused, named */
  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L("../nowhere"), NULL, abs_of("ws"));
  CHECK_EQ_INT(resolve(&x, NULL, &r, &f), -1);
  CHECK_EQ_INT(f.error, TETHER_SPAWN_ERR_NOT_FOUND);
  CHECK_EQ_INT(f.os_error, ENOENT);
  CHECK(strstr(f.message, "../nowhere") != NULL);
  tether__sandbox_resolved_free(&r);
  /* the profile cwd itself may contain .. */
  char c[PATH_MAX * 2];
  snprintf(c, sizeof c, "%s/ws/sub/..", base);
  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L("docs"), NULL, c);
  CHECK_EQ_INT(resolve(&x, NULL, &r, &f), 0);
  CHECK_EQ_STR(r.roots[0], abs_of("ws/docs"));
  tether__sandbox_resolved_free(&r);
  cleanup();
}

TEST(symlinks_and_bad_roots) {
  fixture();
  prof x;
  tether__sandbox_resolved r;
  tether__sandbox_failure f;
  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L("link", "real", abs_of("ws/link")), NULL,
           abs_of("ws"));
  CHECK_EQ_INT(resolve(&x, NULL, &r, &f), 0);
  CHECK_EQ_INT(r.nroots, 1); /* all three are ws/real: duplicates collapse */
  CHECK_EQ_STR(r.roots[0], abs_of("ws/real"));
  tether__sandbox_resolved_free(&r);

  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L("missing"), NULL, abs_of("ws"));
  CHECK_EQ_INT(resolve(&x, NULL, &r, &f), -1);
  CHECK_EQ_INT(f.error, TETHER_SPAWN_ERR_NOT_FOUND);
  CHECK(strstr(f.message, "writable root \"missing\"") != NULL);
  CHECK(strstr(f.message, abs_of("ws/missing")) != NULL);
  tether__sandbox_resolved_free(&r);

  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L("file"), NULL, abs_of("ws"));
  CHECK_EQ_INT(resolve(&x, NULL, &r, &f), -1);
  CHECK_EQ_INT(f.error, TETHER_SPAWN_ERR_NOT_A_DIRECTORY);
  tether__sandbox_resolved_free(&r);

  /* the profile cwd must exist when a relative root needs it ... */
  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L("src"), NULL, abs_of("gone"));
  CHECK_EQ_INT(resolve(&x, NULL, &r, &f), -1);
  CHECK(strstr(f.message, "permission_profile_cwd") != NULL);
  tether__sandbox_resolved_free(&r);
  /* ... and only then (a remote parent's cwd need not exist here) */
  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L(abs_of("ws/src")), NULL, abs_of("gone"));
  CHECK_EQ_INT(resolve(&x, NULL, &r, &f), 0);
  tether__sandbox_resolved_free(&r);
  cleanup();
}

TEST(read_only_subpaths) {
  fixture();
  link_to("../other/.git", "ws/docs/.git"); /* escapes the roots: already read-only */
  prof x;
  tether__sandbox_resolved r;
  tether__sandbox_failure f;
  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L(".", "src", "docs"), L(".git", "sub/deep"),
           abs_of("ws"));
  CHECK_EQ_INT(resolve(&x, NULL, &r, &f), 0);
  CHECK_EQ_INT(r.nro, 2); /* ws/.git, ws/sub/deep; src has neither, docs/.git leaves */
  CHECK_EQ_STR(r.ro[0], abs_of("ws/.git"));
  CHECK_EQ_STR(r.ro[1], abs_of("ws/sub/deep"));
  tether__sandbox_resolved_free(&r);

  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L("src"), L(abs_of("ws/src")), abs_of("ws"));
  CHECK_EQ_INT(resolve(&x, NULL, &r, &f), 0); /* a whole root read-only: allowed */
  CHECK_EQ_INT(r.nro, 1);
  tether__sandbox_resolved_free(&r);

  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L("src"), L(abs_of("ws/.git")), abs_of("ws"));
  CHECK_EQ_INT(resolve(&x, NULL, &r, &f), -1);
  CHECK_EQ_INT(f.error, TETHER_SPAWN_ERR_INVALID);
  CHECK(strstr(f.message, "not inside any writable root") != NULL);
  tether__sandbox_resolved_free(&r);

  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L("."), L(abs_of("ws/nope")), abs_of("ws"));
  CHECK_EQ_INT(resolve(&x, NULL, &r, &f), -1);
  CHECK_EQ_INT(f.error, TETHER_SPAWN_ERR_NOT_FOUND);
  tether__sandbox_resolved_free(&r);
  cleanup();
}

TEST(temp_dir_is_explicit) {
  fixture();
  link_to(abs_of("tmp"), "tmplink");
  prof x;
  tether__sandbox_resolved r;
  tether__sandbox_failure f;
  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L("src"), NULL, abs_of("ws"));
  CHECK_EQ_INT(resolve(&x, abs_of("tmplink"), &r, &f), 0);
  CHECK_EQ_STR(r.tmpdir, abs_of("tmp")); /* resolved like a root */
  char d[2048];
  tether__sandbox_describe(&r, d, sizeof d);
  CHECK(strstr(d, "workspace-write, network allowed; writable: ") == d);
  CHECK(strstr(d, " (temp dir)") != NULL);
  tether__sandbox_resolved_free(&r);
  /* a temp dir that does not exist is left out, never replaced */
  CHECK_EQ_INT(resolve(&x, abs_of("notmp"), &r, &f), 0);
  CHECK(r.tmpdir == NULL);
  tether__sandbox_resolved_free(&r);
  /* read-only gets no temp dir */
  prof_set(&x, TETHER_FS_READ_ONLY, NULL, NULL, NULL);
  CHECK_EQ_INT(resolve(&x, abs_of("tmp"), &r, &f), 0);
  CHECK(r.tmpdir == NULL && r.nroots == 0);
  tether__sandbox_resolved_free(&r);
  cleanup();
}

TEST(check_rules) {
  prof x;
  char why[256];
  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L("rel"), NULL, NULL);
  CHECK_EQ_INT(tether__sandbox_check(&x.p, x.cwd, why, sizeof why), TETHER_EINVAL);
  CHECK(strstr(why, "rel") != NULL);
  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L("/abs"), NULL, NULL);
  CHECK_EQ_INT(tether__sandbox_check(&x.p, x.cwd, why, sizeof why), 0);
  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L("/abs"), NULL, "relative/cwd");
  CHECK_EQ_INT(tether__sandbox_check(&x.p, x.cwd, why, sizeof why), TETHER_EINVAL);
  prof_set(&x, TETHER_FS_READ_ONLY, L("/abs"), NULL, NULL);
  CHECK_EQ_INT(tether__sandbox_check(&x.p, x.cwd, why, sizeof why), TETHER_EINVAL);
  prof_set(&x, TETHER_FS_READ_ONLY, NULL, L(".git"), NULL);
  CHECK_EQ_INT(tether__sandbox_check(&x.p, x.cwd, why, sizeof why), TETHER_EINVAL);
  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L(""), NULL, "/");
  CHECK_EQ_INT(tether__sandbox_check(&x.p, x.cwd, why, sizeof why), TETHER_EINVAL);
  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L("/a"), NULL, "/");
  x.roots[0] = (tether_bytes){ (const uint8_t *)"/a\0b", 4 };
  CHECK_EQ_INT(tether__sandbox_check(&x.p, x.cwd, why, sizeof why), TETHER_EINVAL);
  prof_set(&x, 4, NULL, NULL, NULL);
  CHECK_EQ_INT(tether__sandbox_check(&x.p, x.cwd, why, sizeof why), TETHER_EUNSUPPORTED);
  prof_set(&x, 0, NULL, NULL, NULL);
  x.p.network = 3;
  CHECK_EQ_INT(tether__sandbox_check(&x.p, x.cwd, why, sizeof why), TETHER_EUNSUPPORTED);
  CHECK(!tether__sandbox_requested(&(tether_msg_profile){ 0 }));
  /* limits: at the limit, one past it */
  static tether_bytes many[TETHER_PROFILE_MAX_PATHS + 1];
  for (size_t i = 0; i <= TETHER_PROFILE_MAX_PATHS; i++) many[i] = B("/x");
  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, NULL, NULL, NULL);
  x.p.writable_roots = (tether_bytes_list){ many, TETHER_PROFILE_MAX_PATHS };
  CHECK_EQ_INT(tether__sandbox_check(&x.p, x.cwd, why, sizeof why), 0);
  x.p.writable_roots.count++;
  CHECK_EQ_INT(tether__sandbox_check(&x.p, x.cwd, why, sizeof why), TETHER_ELIMIT_ROOTS);
  static char longp[TETHER_PATH_MAX_BYTES + 2];
  memset(longp, 'a', sizeof longp - 1);
  longp[0] = '/';
  x.p.writable_roots = (tether_bytes_list){ x.roots, 1 };
  x.roots[0] = (tether_bytes){ (const uint8_t *)longp, TETHER_PATH_MAX_BYTES };
  CHECK_EQ_INT(tether__sandbox_check(&x.p, x.cwd, why, sizeof why), 0);
  x.roots[0].len++;
  CHECK_EQ_INT(tether__sandbox_check(&x.p, x.cwd, why, sizeof why), TETHER_ELIMIT_PATH);
}

TEST(cli_spec_and_encode) {
  int fs = -1;
  char **roots = NULL;
  CHECK_OK(tether__sandbox_parse_spec("read-only", &fs, &roots));
  CHECK(fs == TETHER_FS_READ_ONLY && roots == NULL);
  CHECK_OK(tether__sandbox_parse_spec("workspace-write", &fs, &roots));
  CHECK(fs == TETHER_FS_WORKSPACE_WRITE && roots && !strcmp(roots[0], ".") && !roots[1]);
  tether__sandbox_free_strv(roots);
  CHECK_OK(tether__sandbox_parse_spec("workspace-write:src,/abs/x,../y", &fs, &roots));
  CHECK_EQ_STR(roots[0], "src");
  CHECK_EQ_STR(roots[1], "/abs/x");
  CHECK_EQ_STR(roots[2], "../y");
  CHECK(roots[3] == NULL);
  tether__sandbox_free_strv(roots);
  CHECK_EQ_INT(tether__sandbox_parse_spec("workspace-write:", &fs, &roots), TETHER_EINVAL);
  CHECK_EQ_INT(tether__sandbox_parse_spec("workspace-write:a,,b", &fs, &roots), TETHER_EINVAL);
  CHECK_EQ_INT(tether__sandbox_parse_spec("workspace-writeX", &fs, &roots), TETHER_EINVAL);
  CHECK_EQ_INT(tether__sandbox_parse_spec("none", &fs, &roots), TETHER_EINVAL);

  tether_permission_profile pp;
  memset(&pp, 0, sizeof pp);
  pp.filesystem = TETHER_FS_WORKSPACE_WRITE;
  pp.writable_roots = L("a", "/b");
  pp.read_only_subpaths = L(".git");
  pp.network = TETHER_NET_DENIED;
  pp.cwd = "/ws";
  tether_msg_profile m;
  tether_bytes cwd, *items = NULL;
  CHECK_OK(tether__sandbox_encode(&pp, &m, &cwd, &items, NULL, 0));
  CHECK_EQ_INT(m.filesystem, TETHER_FS_WORKSPACE_WRITE);
  CHECK_EQ_INT(m.network, TETHER_NET_DENIED);
  CHECK_EQ_INT(m.writable_roots.count, 2);
  CHECK_EQ_MEM(m.writable_roots.items[1].data, m.writable_roots.items[1].len, "/b", 2);
  CHECK_EQ_INT(m.read_only_subpaths.count, 1);
  CHECK_EQ_MEM(cwd.data, cwd.len, "/ws", 3);
  free(items);
  pp.cwd = NULL; /* relative root, no cwd */
  CHECK_EQ_INT(tether__sandbox_encode(&pp, &m, &cwd, &items, NULL, 0), TETHER_EINVAL);
  CHECK(items == NULL);
  pp.cwd = "/ws";
  pp.filesystem = 7; /* a typo in the caller is EINVAL, not "newer peer" */
  CHECK_EQ_INT(tether__sandbox_encode(&pp, &m, &cwd, &items, NULL, 0), TETHER_EINVAL);
}

/* --------------------------------------------------------- the decision */

static void policy(tether__sandbox_policy *pol, uint32_t version) {
  memset(pol, 0, sizeof *pol);
  pol->version = version;
  pol->log_name = "test";
  tether__sandbox_probe(&pol->support);
}

TEST(decision_fails_closed) {
  tether__sandbox_policy pol;
  tether__sandbox_plan *plan = (tether__sandbox_plan *)&pol; /* must become NULL */
  tether__sandbox_failure f;
  tether_msg_spawn req;
  memset(&req, 0, sizeof req);
  policy(&pol, 2);
  /* no profile, and a present all-default profile: nothing to do */
  CHECK_EQ_INT(tether__sandbox_decide(&req, &pol, &plan, &f), 0);
  CHECK(plan == NULL);
  req.has_profile = true;
  CHECK_EQ_INT(tether__sandbox_decide(&req, &pol, &plan, &f), 0);
  CHECK(plan == NULL);
  /* version 1: refused, whatever the kernel can do */
  req.profile.network = TETHER_NET_DENIED;
  policy(&pol, 1);
  CHECK_EQ_INT(tether__sandbox_decide(&req, &pol, &plan, &f), -1);
  CHECK_EQ_INT(f.error, TETHER_SPAWN_ERR_UNSUPPORTED);
  CHECK(strstr(f.message, "protocol version 2") != NULL);
  /* unknown modes from a newer peer */
  policy(&pol, 2);
  req.profile.network = 9;
  CHECK_EQ_INT(tether__sandbox_decide(&req, &pol, &plan, &f), -1);
  CHECK_EQ_INT(f.error, TETHER_SPAWN_ERR_UNSUPPORTED);
  CHECK(strstr(f.message, "unknown network mode 9") != NULL);
  req.profile.network = 0;
  req.profile.filesystem = 5;
  CHECK_EQ_INT(tether__sandbox_decide(&req, &pol, &plan, &f), -1);
  CHECK(strstr(f.message, "unknown filesystem mode 5") != NULL);
  /* full access only with the runner's flag */
  req.profile.filesystem = TETHER_FS_FULL_ACCESS;
  CHECK_EQ_INT(tether__sandbox_decide(&req, &pol, &plan, &f), -1);
  CHECK_EQ_INT(f.error, TETHER_SPAWN_ERR_PERMISSION_DENIED);
  CHECK(strstr(f.message, "--allow-full-access") != NULL);
  pol.allow_full_access = true;
  CHECK_EQ_INT(tether__sandbox_decide(&req, &pol, &plan, &f), 0);
  CHECK(plan == NULL);
  /* a kernel that cannot enforce: refused, naming what is missing */
  req.profile.filesystem = TETHER_FS_READ_ONLY;
  pol.support.enforced = false;
  snprintf(pol.support.missing, sizeof pol.support.missing, "no Landlock (test)");
  CHECK_EQ_INT(tether__sandbox_decide(&req, &pol, &plan, &f), -1);
  CHECK_EQ_INT(f.error, TETHER_SPAWN_ERR_UNSUPPORTED);
  CHECK(strstr(f.message, "no Landlock (test)") != NULL);
}

/* .git in its other shapes (issue 16): a symlink (the link and its target
 * are protected), a "gitdir:" file (the file and the directory it names),
 * one that resolves into the temp dir (writable, so protected). */
TEST(git_shapes_are_protected) {
  fixture();
  prof x;
  tether__sandbox_resolved r;
  tether__sandbox_failure f;
  mk("ws/src/store");
  mk("ws/docs/real.git");
  link_to("real.git", "ws/docs/.git");
  char gd[PATH_MAX * 2];
  snprintf(gd, sizeof gd, "%s/ws/src/.git", base);
  FILE *fp = fopen(gd, "w");
  CHECK(fp != NULL);
  fprintf(fp, "gitdir: store\n");
  fclose(fp);
  mk("tmp/g");
  link_to(abs_of("tmp/g"), "ws/sub/.git");
  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L("src", "docs", "sub"), L(".git"), abs_of("ws"));
  CHECK_EQ_INT(resolve(&x, abs_of("tmp"), &r, &f), 0);
  CHECK_EQ_INT(r.nro, 4);
  CHECK_EQ_STR(r.ro[0], abs_of("ws/src/store")); /* the gitdir target ... */
  CHECK_EQ_STR(r.ro[1], abs_of("ws/src/.git"));  /* ... and the file */
  CHECK_EQ_STR(r.ro[2], abs_of("ws/docs/real.git"));
  CHECK_EQ_STR(r.ro[3], abs_of("tmp/g"));        /* inside the temp dir */
  CHECK_EQ_INT(r.nro_links, 2);
  CHECK_EQ_STR(r.ro_links[0], abs_of("ws/docs/.git"));
  CHECK_EQ_STR(r.ro_links[1], abs_of("ws/sub/.git"));
  tether__sandbox_resolved_free(&r);
  cleanup();
}

/* The runner's cwd is re-entered in the child to see the new mounts: if it
 * cannot be named (deleted), the spawn is refused, never run without. */
TEST(getcwd_failure_fails_closed) {
  fixture();
  tether__sandbox_policy pol;
  memset(&pol, 0, sizeof pol);
  pol.version = 2;
  pol.log_name = "test";
  tether__sandbox_probe(&pol.support);
  pol.support.enforced = true; /* the decision only: nothing is applied */
  tether_msg_spawn req;
  memset(&req, 0, sizeof req);
  req.has_profile = true;
  req.profile.filesystem = TETHER_FS_READ_ONLY;
  mk("gone");
  CHECK(chdir(abs_of("gone")) == 0);
  CHECK(rmdir(abs_of("gone")) == 0);
  tether__sandbox_plan *plan = NULL;
  tether__sandbox_failure f;
  CHECK_EQ_INT(tether__sandbox_decide(&req, &pol, &plan, &f), -1);
  CHECK(plan == NULL);
  CHECK(strstr(f.message, "getcwd") != NULL);
  CHECK_EQ_INT(f.os_error, ENOENT);
  CHECK(chdir("/") == 0);
  cleanup();
}

/* --------------------------------------------------------- enforcement */

/* True if this kernel enforces profiles; otherwise says why and whether the
 * test fails (CI=true) or is skipped. */
static bool need_enforcement(void) {
  tether__sandbox_support s;
  tether__sandbox_probe(&s);
  if (s.enforced) return true;
  const char *ci = getenv("CI");
  if (ci && !strcmp(ci, "true")) FAIL("CI=true but profiles cannot be enforced: %s", s.missing);
  printf("  skipped: %s\n", s.missing);
  return false;
}

/* Decides `x` (plus network) like the runner, forks, applies the plan in
 * the child and runs `fn` there; returns its exit status. */
static int in_sandbox(prof *x, uint32_t network, const char *tmp, int (*fn)(void *), void *arg) {
  tether__sandbox_policy pol;
  policy(&pol, 2);
  tether_msg_spawn req;
  memset(&req, 0, sizeof req);
  req.has_profile = true;
  req.profile = x->p;
  req.profile.network = network;
  req.profile_cwd = x->cwd;
  if (tmp) setenv("TMPDIR", tmp, 1);
  else unsetenv("TMPDIR");
  tether__sandbox_plan *plan = NULL;
  tether__sandbox_failure f;
  if (tether__sandbox_decide(&req, &pol, &plan, &f) < 0) FAIL("decide: %s", f.message);
  CHECK(plan != NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    (void)setsid(); /* as spawn_posix.c does; child_apply checks it */
    int e = tether__sandbox_child_apply(plan);
    if (e) {
      char what[300];
      int os = 0;
      tether__sandbox_child_error(plan, e, &os, what, sizeof what);
      fprintf(stderr, "  child: %s: %s\n", what, strerror(os));
      _exit(99);
    }
    _exit(fn(arg));
  }
  int st;
  CHECK(waitpid(pid, &st, 0) == pid);
  tether__sandbox_plan_free(plan);
  CHECK(WIFEXITED(st));
  return WEXITSTATUS(st);
}

/* 0 if creating `path` worked, else its errno. */
static int try_write(const char *path) {
  int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}

static int can_read(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char c;
  int ok = read(fd, &c, 1) == 1;
  close(fd);
  return ok;
}

/* Outside the writable roots: the read-only mount (EROFS) or Landlock
 * (EACCES) refuses, whichever the kernel checks first. */
static bool refused(int e) { return e == EROFS || e == EACCES; }

static int child_read_only(void *arg) {
  (void)arg;
  if (!refused(try_write(abs_of("ws/new")))) return 1;
  if (!can_read(abs_of("ws/file"))) return 2;
  if (truncate(abs_of("ws/file"), 0) == 0 || !refused(errno)) return 3;
  if (mkdir(abs_of("ws/d"), 0755) == 0 || !refused(errno)) return 4;
  if (!refused(try_write(abs_of("tmp/t")))) return 5; /* no temp dir in read-only */
  if (try_write("/dev/null") != 0) return 6;
  return 0;
}

TEST(enforce_read_only) {
  fixture();
  if (!need_enforcement()) {
    cleanup();
    return;
  }
  prof x;
  prof_set(&x, TETHER_FS_READ_ONLY, NULL, NULL, NULL);
  CHECK_EQ_INT(in_sandbox(&x, 0, abs_of("tmp"), child_read_only, NULL), 0);
  cleanup();
}

static int child_workspace(void *arg) {
  (void)arg;
  if (try_write(abs_of("ws/src/a")) != 0) return 1;
  if (try_write(abs_of("ws/docs/b")) != 0) return 2;        /* the other root */
  if (!refused(try_write(abs_of("ws/top")))) return 3;       /* ws is not a root here */
  if (!refused(try_write(abs_of("other/x")))) return 4;
  int e = try_write(abs_of("ws/src/.git/config"));
  if (e != EROFS && e != EACCES) return 5;
  e = try_write(abs_of("ws/src/.git/new"));
  if (e != EROFS && e != EACCES) return 6;
  if (!can_read(abs_of("ws/src/.git/config"))) return 7;
  if (try_write(abs_of("tmp/t")) != 0) return 8;             /* the temp dir */
  if (mkdir(abs_of("ws/src/newdir"), 0755) != 0) return 9;
  if (rename(abs_of("ws/src/a"), abs_of("ws/src/newdir/a")) != 0) return 10;
  return 0;
}

TEST(enforce_workspace_write) {
  fixture();
  if (!need_enforcement()) {
    cleanup();
    return;
  }
  mk("ws/src/.git");
  touch("ws/src/.git/config");
  prof x;
  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L("src", "docs"), L(".git"), abs_of("ws"));
  /* the command (here: this process) runs in a subdirectory */
  CHECK(chdir(abs_of("ws/src")) == 0);
  CHECK_EQ_INT(in_sandbox(&x, 0, abs_of("tmp"), child_workspace, NULL), 0);
  struct stat st;
  CHECK(stat(abs_of("ws/src/newdir/a"), &st) == 0);
  CHECK(stat(abs_of("ws/docs/b"), &st) == 0);
  CHECK(stat(abs_of("ws/top"), &st) < 0);
  cleanup();
}

static int child_connect(void *arg) {
  int port = *(int *)arg;
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return 2;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = connect(s, (struct sockaddr *)&a, sizeof a);
  close(s);
  if (rc == 0) return 0;
  return 1;
}

TEST(enforce_network_denied) {
  fixture();
  if (!need_enforcement()) {
    cleanup();
    return;
  }
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(l >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(l, (struct sockaddr *)&a, sizeof a) == 0);
  CHECK(listen(l, 8) == 0);
  socklen_t al = sizeof a;
  CHECK(getsockname(l, (struct sockaddr *)&a, &al) == 0);
  int port = ntohs(a.sin_port);
  CHECK_EQ_INT(child_connect(&port), 0); /* without the profile it connects */
  prof x;
  prof_set(&x, 0, NULL, NULL, NULL);
  CHECK_EQ_INT(in_sandbox(&x, TETHER_NET_DENIED, NULL, child_connect, &port), 1);
  /* with a filesystem restriction as well */
  prof_set(&x, TETHER_FS_READ_ONLY, NULL, NULL, NULL);
  CHECK_EQ_INT(in_sandbox(&x, TETHER_NET_DENIED, NULL, child_connect, &port), 1);
  close(l);
  cleanup();
}

/* -------------------------------------------------- over the wire */

static void wire_open(rp *c, const char *const *extra, uint32_t vmax) {
  rp_start(c, extra);
  rp_send_hello_versions(c, 1, vmax);
  rp_until(c, pred_hello, NULL, 10000, "the runner's Hello");
}

static void wire_close(rp *c) {
  rp_simple(c, 0, TETHER_MSG_GOODBYE);
  int st = rp_wait_runner(c, 10000);
  CHECK(WIFEXITED(st));
  CHECK_EQ_INT(WEXITSTATUS(st), 0);
  rp_free(c);
}

static void wire_spawn(rp *c, uint32_t id, const char *const *argv, const prof *x,
                       uint32_t network) {
  rp_spawn sp;
  rp_spawn_init(&sp, id, argv);
  sp.m.u.spawn.has_profile = true;
  sp.m.u.spawn.profile = x->p;
  sp.m.u.spawn.profile.network = network;
  sp.m.u.spawn.profile_cwd = x->cwd;
  rp_send(c, &sp.m);
  rp_wait_done(c, id);
}

static void wire_refused(rp *c, uint32_t id, uint32_t error, const char *text) {
  rp_session *s = &c->s[id];
  CHECK(s->spawn_failed);
  CHECK_EQ_INT(s->sf_stage, TETHER_STAGE_PERMISSIONS);
  CHECK_EQ_INT(s->sf_error, error);
  if (!strstr(s->sf_message, text)) FAIL("\"%s\" not in \"%s\"", text, s->sf_message);
}

/* An old peer (version 1) gets a clear refusal, never a misread profile. */
TEST(wire_version_1_refuses_profiles) {
  rp c;
  prof x;
  wire_open(&c, NULL, 1);
  prof_set(&x, 0, NULL, NULL, NULL);
  wire_spawn(&c, 1, L("true"), &x, TETHER_NET_DENIED);
  wire_refused(&c, 1, TETHER_SPAWN_ERR_UNSUPPORTED, "need protocol version 2");
  wire_spawn(&c, 2, L("true"), &x, 0); /* all defaults: no profile */
  CHECK(c.s[2].exited && c.s[2].ex.code == 0);
  wire_close(&c);
}

TEST(wire_version_2_decisions) {
  fixture();
  tether__sandbox_support sup;
  tether__sandbox_probe(&sup);
  rp c;
  prof x;
  /* the runner's temp dir is writable: keep it out of the fixture's /tmp */
  setenv("TMPDIR", abs_of("tmp"), 1);
  wire_open(&c, NULL, 2);
  CHECK_EQ_INT((c.hello.u.hello.capabilities >> TETHER_CAP_PERMISSION_PROFILES) & 1,
               sup.enforced);
  prof_set(&x, 7, NULL, NULL, NULL);
  wire_spawn(&c, 1, L("true"), &x, 0);
  wire_refused(&c, 1, TETHER_SPAWN_ERR_UNSUPPORTED, "unknown filesystem mode 7");
  prof_set(&x, TETHER_FS_FULL_ACCESS, NULL, NULL, NULL);
  wire_spawn(&c, 2, L("true"), &x, 0);
  wire_refused(&c, 2, TETHER_SPAWN_ERR_PERMISSION_DENIED, "--allow-full-access");
  prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L("rel"), NULL, NULL);
  wire_spawn(&c, 3, L("true"), &x, 0);
  wire_refused(&c, 3, TETHER_SPAWN_ERR_INVALID, "permission_profile_cwd is empty");
  if (sup.enforced) {
    prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L("src", "missing"), NULL, abs_of("ws"));
    wire_spawn(&c, 4, L("true"), &x, 0);
    wire_refused(&c, 4, TETHER_SPAWN_ERR_NOT_FOUND, abs_of("ws/missing"));
    CHECK_EQ_INT(c.s[4].sf_os_error, ENOENT);
    /* enforced: the command runs, and what it may not do fails */
    prof_set(&x, TETHER_FS_WORKSPACE_WRITE, L("src"), NULL, abs_of("ws"));
    char script[PATH_MAX * 3];
    snprintf(script, sizeof script, "echo ok >'%s' && ! echo no 2>/dev/null >'%s'",
             abs_of("ws/src/ok"), abs_of("ws/no"));
    wire_spawn(&c, 5, L("sh", "-c", script), &x, 0);
    CHECK(c.s[5].exited);
    CHECK_EQ_INT(c.s[5].ex.code, 0);
  } else {
    prof_set(&x, TETHER_FS_READ_ONLY, NULL, NULL, NULL);
    wire_spawn(&c, 4, L("true"), &x, 0);
    wire_refused(&c, 4, TETHER_SPAWN_ERR_UNSUPPORTED, "cannot enforce");
  }
  wire_close(&c);
  rp_start(&c, L("--allow-full-access"));
  rp_send_hello_versions(&c, 1, 2);
  rp_until(&c, pred_hello, NULL, 10000, "the runner's Hello");
  prof_set(&x, TETHER_FS_FULL_ACCESS, NULL, NULL, NULL);
  wire_spawn(&c, 1, L("true"), &x, 0);
  CHECK(c.s[1].exited && c.s[1].ex.code == 0);
  wire_close(&c);
  cleanup();
}

TEST_MAIN(TEST_ENTRY(subdirectory_command_keeps_other_roots),
          TEST_ENTRY(dotdot_escapes_resolve_physically), TEST_ENTRY(symlinks_and_bad_roots),
          TEST_ENTRY(read_only_subpaths), TEST_ENTRY(temp_dir_is_explicit),
          TEST_ENTRY(check_rules), TEST_ENTRY(cli_spec_and_encode),
          TEST_ENTRY(decision_fails_closed), TEST_ENTRY(git_shapes_are_protected),
          TEST_ENTRY(getcwd_failure_fails_closed), TEST_ENTRY(enforce_read_only),
          TEST_ENTRY(enforce_workspace_write), TEST_ENTRY(enforce_network_denied),
          TEST_ENTRY(wire_version_1_refuses_profiles), TEST_ENTRY(wire_version_2_decisions))
