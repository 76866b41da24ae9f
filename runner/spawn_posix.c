/* fork + exec with a CLOEXEC error pipe (the libuv pattern).
 *
 * Everything the child needs (NUL-terminated argv, the final environment,
 * the cwd, the list of program paths to try) is prepared before fork, so
 * the child only makes async-signal-safe system calls: it is safe to fork
 * from a multi-threaded embedder and under sanitizers. The child reports a
 * failure as one small struct on the error pipe; a pipe that closes with
 * zero bytes means execve succeeded. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#ifdef __linux__
#  include <sys/prctl.h>
#endif
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1u << 2)
#endif

#include "conpty/pty_posix.h"
#include "contain.h"
#include "proc_posix.h"
#include "transport/escape.h"

extern char **environ;

typedef struct child_report {
  int32_t stage;
  int32_t err;
} child_report;

typedef struct plan {
  char **argv;        /* NUL-terminated copies */
  char **envp;        /* final environment (pointers into environ or copies) */
  char **env_copies;  /* the copies we own */
  size_t n_env_copies;
  char *cwd;          /* NULL: inherit */
  char **paths;       /* candidate program paths, NULL-terminated */
  bool searched;      /* paths came from a PATH search */
  int max_fd;         /* highest descriptor to mark CLOEXEC without close_range */
  pid_t runner;       /* getppid() in the child while the runner lives */
  const tether__limits_plan *lim; /* resource limits, NULL: none */
} plan;

uint32_t tether__spawn_error_from_errno(int err) {
  switch (err) {
  case ENOENT: return TETHER_SPAWN_ERR_NOT_FOUND;
  case EACCES:
  case EPERM: return TETHER_SPAWN_ERR_PERMISSION_DENIED;
  case ENOEXEC: return TETHER_SPAWN_ERR_NOT_EXECUTABLE;
  case ENOTDIR: return TETHER_SPAWN_ERR_NOT_A_DIRECTORY;
  case ENOMEM:
  case EAGAIN:
  case EMFILE:
  case ENFILE: return TETHER_SPAWN_ERR_NO_RESOURCES;
  case E2BIG: return TETHER_SPAWN_ERR_LIMIT;
  default: return TETHER_SPAWN_ERR_OTHER;
  }
}

static int fail(tether__spawn_out *out, uint32_t stage, uint32_t error,
                int os_error, const char *fmt, const char *arg) {
  char esc[256];
  tether__escape(esc, sizeof esc, arg ? arg : "", arg ? strlen(arg) : 0, 0);
  out->stage = stage;
  out->error = error;
  out->os_error = os_error;
  snprintf(out->message, sizeof out->message, fmt, esc,
           os_error ? strerror(os_error) : "");
  return -1;
}

/* A NUL-terminated copy of `b`, or NULL (with *bad = 1 for an embedded NUL,
 * *bad = 0 for out of memory). */
static char *dup_bytes(tether_bytes b, int *bad) {
  if (memchr(b.data, '\0', b.len)) {
    *bad = 1;
    return NULL;
  }
  char *s = malloc(b.len + 1);
  if (!s) {
    *bad = 0;
    return NULL;
  }
  if (b.len) memcpy(s, b.data, b.len);
  s[b.len] = '\0';
  return s;
}

static size_t name_len(const char *entry) {
  const char *eq = strchr(entry, '=');
  return eq ? (size_t)(eq - entry) : strlen(entry);
}

static void plan_free(plan *p) {
  if (p->argv)
    for (char **a = p->argv; *a; a++) free(*a);
  free(p->argv);
  for (size_t i = 0; i < p->n_env_copies; i++) free(p->env_copies[i]);
  free(p->env_copies);
  free(p->envp);
  free(p->cwd);
  if (p->paths)
    for (char **a = p->paths; *a; a++) free(*a);
  free(p->paths);
  memset(p, 0, sizeof *p);
}

/* Builds the environment: OVERLAY starts from ours, CLEAR from nothing;
 * "NAME=VALUE" replaces NAME, "NAME" removes it. */
static int plan_env(plan *p, const tether_msg_spawn *req, tether__spawn_out *out) {
  size_t base = 0;
  if (req->env_mode != TETHER_ENV_CLEAR)
    while (environ && environ[base]) base++;
  size_t cap = base + req->env.count + 1;
  p->envp = calloc(cap, sizeof *p->envp);
  p->env_copies = calloc(req->env.count + 1, sizeof *p->env_copies);
  if (!p->envp || !p->env_copies)
    return fail(out, TETHER_STAGE_SETUP, TETHER_SPAWN_ERR_NO_RESOURCES, ENOMEM,
                "environment%s: %s", "");
  size_t n = 0;
  for (size_t i = 0; i < base; i++) p->envp[n++] = environ[i];
  for (size_t i = 0; i < req->env.count; i++) {
    int bad = 0;
    char *e = dup_bytes(req->env.items[i], &bad);
    if (!e) {
      if (bad)
        return fail(out, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0,
                    "env entry contains a NUL byte%s%s", "");
      return fail(out, TETHER_STAGE_SETUP, TETHER_SPAWN_ERR_NO_RESOURCES, ENOMEM,
                  "environment%s: %s", "");
    }
    p->env_copies[p->n_env_copies++] = e;
    size_t nl = name_len(e);
    if (nl == 0)
      return fail(out, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0,
                  "env entry \"%s\" has an empty name%s", e);
    size_t w = 0;
    for (size_t k = 0; k < n; k++) {
      const char *x = p->envp[k];
      if (!(strncmp(x, e, nl) == 0 && x[nl] == '=')) p->envp[w++] = p->envp[k];
    }
    n = w;
    if (e[nl] == '=') p->envp[n++] = e;
  }
  p->envp[n] = NULL;
  return 0;
}

/* Program lookup, execvpe-style but decided here so errors are exact: a
 * name with a '/' is used as is; otherwise each PATH element (from the
 * child's environment; "/bin:/usr/bin" if unset) is tried in order. */
static int plan_paths(plan *p, tether__spawn_out *out) {
  const char *prog = p->argv[0];
  if (prog[0] == '\0' || strchr(prog, '/')) {
    p->paths = calloc(2, sizeof *p->paths);
    if (!p->paths || !(p->paths[0] = strdup(prog))) goto nomem;
    return 0;
  }
  const char *path = NULL;
  for (char **e = p->envp; *e; e++)
    if (strncmp(*e, "PATH=", 5) == 0) path = *e + 5;
  if (!path) path = "/bin:/usr/bin";
  size_t k = 1;
  for (const char *c = path; *c; c++) k += (*c == ':');
  p->paths = calloc(k + 1, sizeof *p->paths);
  if (!p->paths) goto nomem;
  p->searched = true;
  size_t plen = strlen(prog), i = 0;
  const char *start = path;
  for (;;) {
    const char *end = strchr(start, ':');
    size_t dl = end ? (size_t)(end - start) : strlen(start);
    char *s = malloc(dl + plen + 2);
    if (!s) goto nomem;
    if (dl == 0) {
      memcpy(s, prog, plen + 1); /* empty element: the current directory */
    } else {
      memcpy(s, start, dl);
      s[dl] = '/';
      memcpy(s + dl + 1, prog, plen + 1);
    }
    p->paths[i++] = s;
    if (!end) break;
    start = end + 1;
  }
  return 0;
nomem:
  return fail(out, TETHER_STAGE_SETUP, TETHER_SPAWN_ERR_NO_RESOURCES, ENOMEM,
              "program path%s: %s", "");
}

static int plan_build(plan *p, const tether_msg_spawn *req, tether__spawn_out *out) {
  if (req->argv.count == 0)
    return fail(out, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0,
                "argv is empty%s%s", "");
  if (req->argv.items[0].len == 0)
    return fail(out, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0,
                "argv[0] is empty%s%s", "");
  if (req->io_mode != 0 && req->io_mode != TETHER__IO_PIPES && req->io_mode != TETHER__IO_PTY)
    return fail(out, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0,
                "unknown io_mode%s%s", "");
  if (req->io_mode == TETHER__IO_PTY &&
      (req->pty_rows > TETHER__PTY_MAX_DIM || req->pty_cols > TETHER__PTY_MAX_DIM))
    return fail(out, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0,
                "pty_rows/pty_cols above 32767%s%s", "");
  if (req->stdin_mode > TETHER__STDIN_NULL)
    return fail(out, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0,
                "unknown stdin_mode%s%s", "");
  if (req->env_mode > TETHER_ENV_CLEAR)
    return fail(out, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0,
                "unknown env_mode%s%s", "");
  p->argv = calloc(req->argv.count + 1, sizeof *p->argv);
  if (!p->argv)
    return fail(out, TETHER_STAGE_SETUP, TETHER_SPAWN_ERR_NO_RESOURCES, ENOMEM,
                "argv%s: %s", "");
  for (size_t i = 0; i < req->argv.count; i++) {
    int bad = 0;
    p->argv[i] = dup_bytes(req->argv.items[i], &bad);
    if (!p->argv[i]) {
      if (bad)
        return fail(out, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0,
                    "argv entry contains a NUL byte%s%s", "");
      return fail(out, TETHER_STAGE_SETUP, TETHER_SPAWN_ERR_NO_RESOURCES, ENOMEM,
                  "argv%s: %s", "");
    }
  }
  if (req->cwd.len) {
    int bad = 0;
    p->cwd = dup_bytes(req->cwd, &bad);
    if (!p->cwd) {
      if (bad)
        return fail(out, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0,
                    "cwd contains a NUL byte%s%s", "");
      return fail(out, TETHER_STAGE_SETUP, TETHER_SPAWN_ERR_NO_RESOURCES, ENOMEM,
                  "cwd%s: %s", "");
    }
  }
  if (plan_env(p, req, out) < 0) return -1;
  struct rlimit rl;
  p->runner = tether__contain_child_ppid();
  p->max_fd = 1023;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    p->max_fd = rl.rlim_cur > 65536 ? 65535 : (int)rl.rlim_cur - 1;
  return plan_paths(p, out);
}

/* ---- the child: async-signal-safe calls only from here ---- */

static void child_report_fail(int fd, int32_t stage, int err) {
  child_report rep = { stage, err };
  ssize_t n;
  do n = write(fd, &rep, sizeof rep);
  while (n < 0 && errno == EINTR);
  _exit(127);
}

/* Moves fd above 2 so the dup2s onto 0..2 cannot clobber it. */
static int child_lift(int fd) {
  if (fd >= 0 && fd < 3) return fcntl(fd, F_DUPFD_CLOEXEC, 3);
  return fd;
}

/* PIPES: in/out/err go to 0..2, pty is NULL. PTY: the terminal goes to
 * 0..2, then `in` (>= 0 only for STDIN_MODE_NULL) replaces 0; out and err
 * are -1. */
__attribute__((noreturn)) static void child_main(const plan *p, int errw,
                                                 const tether__pty *pty, int in,
                                                 int out, int err,
                                                 const tether__sandbox_plan *sb) {
  /* A terminal session gets setsid (in tether__pty_child_attach, below),
   * which also makes the child a group leader. A sandboxed pipes child gets
   * a session of its own too: no controlling terminal, so /dev/tty is not
   * the user's (no TIOCSTI, no tcsetpgrp on it). */
  if (!pty && (sb ? setsid() : setpgid(0, 0)) < 0)
    child_report_fail(errw, TETHER_STAGE_SETUP, errno);
#ifdef PR_SET_PDEATHSIG
  /* If the runner dies without ending its sessions (SIGKILL, a crash), the
   * kernel kills its children: no session outlives it as an orphan. The
   * check after it closes the race with a runner that died just before. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) child_report_fail(errw, TETHER_STAGE_SETUP, errno);
  if (getppid() != p->runner) _exit(127);
#endif
  int cerr = tether__contain_child(); /* runner/contain.h: /proc of its PID namespace */
  if (cerr) child_report_fail(errw, TETHER_STAGE_SETUP, cerr);
  if (p->lim && (cerr = tether__limits_child_join(p->lim)))
    child_report_fail(errw, TETHER_STAGE_LIMITS, cerr);

  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) (void)sigaction(sig, &dfl, NULL);

  int e = child_lift(errw);
  if (e < 0) child_report_fail(errw, TETHER_STAGE_SETUP, errno);
  errw = e;
  int fds[3] = { in, out, err };
  for (int i = 0; i < 3; i++) {
    if (fds[i] < 0) continue;
    fds[i] = child_lift(fds[i]);
    if (fds[i] < 0) child_report_fail(errw, TETHER_STAGE_SETUP, errno);
  }
  if (pty) {
    int perr = tether__pty_child_attach(pty);
    if (perr) child_report_fail(errw, TETHER_STAGE_PTY, perr);
  }
  for (int i = 0; i < 3; i++)
    if (fds[i] >= 0 && dup2(fds[i], i) < 0) child_report_fail(errw, TETHER_STAGE_SETUP, errno);
  /* fds[] keep CLOEXEC and vanish at exec; 0..2 are inheritable. Anything
   * the runner itself inherited without CLOEXEC (its own parent's leaks)
   * is marked CLOEXEC too: the child gets exactly 0, 1 and 2. The error
   * pipe stays open until exec. */
  int cr = -1;
#ifdef SYS_close_range
  cr = (int)syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC);
#endif
  if (cr < 0)
    for (int fd = 3; fd <= p->max_fd; fd++) (void)fcntl(fd, F_SETFD, FD_CLOEXEC);

  /* The permission profile: namespaces, read-only mounts, Landlock (their
   * descriptors are >= 3 and survive until exec). Before chdir, so the cwd
   * is looked up in the new mount namespace. */
  if (sb) {
    int serr = tether__sandbox_child_apply(sb);
    if (serr) child_report_fail(errw, TETHER_STAGE_PERMISSIONS, serr);
  }
  if (p->cwd && chdir(p->cwd) < 0) child_report_fail(errw, TETHER_STAGE_CWD, errno);

  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (p->lim && (cerr = tether__limits_child_rlimits(p->lim)))
    child_report_fail(errw, TETHER_STAGE_LIMITS, cerr);

  int seen_eacces = 0, last = ENOENT;
  for (char **path = p->paths; *path; path++) {
    execve(*path, p->argv, p->envp);
    last = errno;
    if (!p->searched) break;
    switch (last) {
    case EACCES: seen_eacces = 1; /* fall through */
    case ENOENT:
    case ENOTDIR:
    case ESTALE:
    case ELOOP:
    case ENAMETOOLONG:
    case ENODEV:
    case ETIMEDOUT:
      continue; /* like execvp: try the next PATH element */
    default:
      child_report_fail(errw, TETHER_STAGE_EXEC, last);
    }
  }
  if (p->searched) last = seen_eacces ? EACCES : ENOENT;
  child_report_fail(errw, TETHER_STAGE_EXEC, last);
  _exit(127);
}

/* ---- the parent ---- */

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static int set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* vfork: the child borrows the runner's memory until it execs, so
 * spawning costs no page-table copy however large the runner is (the child
 * path only makes system calls on prepared data and never returns; its
 * signal table, fd table and cwd are its own). A sandboxed child needs
 * unshare(CLONE_NEWUSER...), which the kernel refuses to a process that
 * shares its memory, so it gets a real fork. A function of its own, so no
 * variable of the caller lives across vfork. */
__attribute__((noinline)) static pid_t start_child(const plan *p, int errw,
                                                    const tether__pty *pty, int in,
                                                    int out, int err,
                                                    const tether__sandbox_plan *sb) {
  pid_t pid = sb ? fork() : vfork();
  if (pid == 0) child_main(p, errw, pty, in, out, err, sb);
  return pid;
}

int tether__spawn_posix(const tether_msg_spawn *req, const tether__sandbox_policy *sandbox,
                        const tether__limits_plan *lim, tether__spawn_out *out) {
  tether__sandbox_plan *sb = NULL;
  plan p;
  memset(&p, 0, sizeof p);
  memset(out, 0, sizeof *out);
  out->pid = -1;
  out->stdin_fd = out->stdout_fd = out->stderr_fd = -1;
  int errp[2] = { -1, -1 }, inp[2] = { -1, -1 }, outp[2] = { -1, -1 },
      errpipe[2] = { -1, -1 };
  int rc = -1;

  tether__pty *pty = NULL;
  bool use_pty = req->io_mode == TETHER__IO_PTY;

  if (plan_build(&p, req, out) < 0) goto done;
  p.lim = lim;
  tether__sandbox_failure sbf;
  if (tether__sandbox_decide(req, sandbox, &sb, &sbf) < 0) {
    out->stage = TETHER_STAGE_PERMISSIONS; /* the message names the path or the feature */
    out->error = sbf.error;
    out->os_error = sbf.os_error;
    snprintf(out->message, sizeof out->message, "%s", sbf.message);
    goto done;
  }

  if (use_pty) {
    int os_err = 0;
    unsigned rows = req->pty_rows ? req->pty_rows : TETHER__PTY_DEFAULT_ROWS;
    unsigned cols = req->pty_cols ? req->pty_cols : TETHER__PTY_DEFAULT_COLS;
    int prc = tether__pty_open(rows, cols, &pty, &os_err);
    if (prc < 0) {
      int e = prc == TETHER_ENOMEM ? ENOMEM : os_err;
      fail(out, TETHER_STAGE_PTY, tether__spawn_error_from_errno(e), e,
           "opening a pseudo-terminal%s: %s", "");
      goto done;
    }
  }

  if (pipe2(errp, O_CLOEXEC) < 0 ||
      (!use_pty && pipe2(outp, O_CLOEXEC) < 0) ||
      (!use_pty && !req->merge_stderr && pipe2(errpipe, O_CLOEXEC) < 0)) {
    int e = errno;
    fail(out, TETHER_STAGE_SETUP, tether__spawn_error_from_errno(e), e, "pipe%s: %s", "");
    goto done;
  }
  if (req->stdin_mode == TETHER__STDIN_NULL) {
    inp[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (inp[0] < 0) {
      int e = errno;
      fail(out, TETHER_STAGE_SETUP, tether__spawn_error_from_errno(e), e,
           "open \"%s\": %s", "/dev/null");
      goto done;
    }
  } else if (!use_pty && pipe2(inp, O_CLOEXEC) < 0) {
    int e = errno;
    fail(out, TETHER_STAGE_SETUP, tether__spawn_error_from_errno(e), e, "pipe%s: %s", "");
    goto done;
  }

  /* Block every signal across fork so no handler of the runner (or of the
   * embedder) runs in the child before it resets the dispositions. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = start_child(&p, errp[1], pty, inp[0], outp[1],
                          req->merge_stderr ? outp[1] : errpipe[1], sb);
  int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (pid < 0) {
    fail(out, TETHER_STAGE_SETUP, tether__spawn_error_from_errno(fork_errno), fork_errno,
         "fork%s: %s", "");
    goto done;
  }

  close_fd(&errp[1]);
  close_fd(&inp[0]);
  close_fd(&outp[1]);
  close_fd(&errpipe[1]);
  /* Only the child may hold the terminal's slave end, or its output would
   * never reach its end (EIO) after the child exits. */
  if (pty) tether__pty_close_child_end(pty);

  child_report rep;
  size_t got = 0;
  while (got < sizeof rep) {
    ssize_t n = read(errp[0], (char *)&rep + got, sizeof rep - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  if (got != 0) {
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (got != sizeof rep) {
      fail(out, TETHER_STAGE_SETUP, TETHER_SPAWN_ERR_OTHER, 0,
           "child failed before exec%s%s", "");
    } else if (rep.stage == TETHER_STAGE_CWD) {
      fail(out, TETHER_STAGE_CWD, tether__spawn_error_from_errno(rep.err), rep.err,
           "chdir \"%s\": %s", p.cwd);
    } else if (rep.stage == TETHER_STAGE_PTY) {
      fail(out, TETHER_STAGE_PTY, tether__spawn_error_from_errno(rep.err), rep.err,
           "making the pseudo-terminal the controlling terminal%s: %s", "");
    } else if (rep.stage == TETHER_STAGE_PERMISSIONS) {
      char what[400];
      int e = 0;
      uint32_t se = tether__sandbox_child_error(sb, rep.err, &e, what, sizeof what);
      fail(out, TETHER_STAGE_PERMISSIONS, se, e, "enforcing the permission profile: %s: %s", what);
    } else if (rep.stage == TETHER_STAGE_LIMITS) {
      fail(out, TETHER_STAGE_LIMITS, tether__spawn_error_from_errno(rep.err), rep.err,
           "applying the resource limits%s: %s", "");
    } else if (rep.stage == TETHER_STAGE_EXEC) {
      fail(out, TETHER_STAGE_EXEC, tether__spawn_error_from_errno(rep.err), rep.err,
           "exec \"%s\": %s", p.argv[0]);
    } else {
      fail(out, TETHER_STAGE_SETUP, tether__spawn_error_from_errno(rep.err), rep.err,
           "child setup%s: %s", "");
    }
    goto done;
  }

  out->pid = pid;
  if (pty) {
    out->pty = pty; /* the master is already non-blocking */
    pty = NULL;
    rc = 0;
    goto done;
  }
  out->stdout_fd = outp[0];
  outp[0] = -1;
  out->stderr_fd = errpipe[0];
  errpipe[0] = -1;
  if (req->stdin_mode != TETHER__STDIN_NULL) {
    out->stdin_fd = inp[1];
    inp[1] = -1;
  }
  set_nonblock(out->stdout_fd);
  if (out->stderr_fd >= 0) set_nonblock(out->stderr_fd);
  if (out->stdin_fd >= 0) set_nonblock(out->stdin_fd);
  rc = 0;

done:
  close_fd(&errp[0]);
  close_fd(&errp[1]);
  close_fd(&inp[0]);
  close_fd(&inp[1]);
  close_fd(&outp[0]);
  close_fd(&outp[1]);
  close_fd(&errpipe[0]);
  close_fd(&errpipe[1]);
  tether__pty_free(pty);
  tether__sandbox_plan_free(sb);
  plan_free(&p);
  return rc;
}
