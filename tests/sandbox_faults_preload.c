/* Fault injection for the sandbox's child steps (test_sandbox_faults.sh),
 * loaded with LD_PRELOAD into tether-runner: TETHER_TEST_SB_FAIL=NAME makes
 * that one call fail with EPERM in a sandboxed child (a session leader that
 * the runner forked; the runner's own probes are left alone), so the test
 * can see the spawn refused with SpawnFailed{PERMISSIONS} naming the step:
 *
 *   unshare  mount_setattr  open_tree  capset  capbset_drop  no_new_privs
 *   landlock_restrict_self  seccomp  setsid
 *
 * and, in every process (so the runner's probe sees the kernel without the
 * feature): probe_ipc (unshare with CLONE_NEWIPC), probe_mount_setattr,
 * probe_seccomp (prctl(PR_GET_SECCOMP)).
 *
 * Test-only; never linked into anything. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <sched.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int armed(const char *name) {
  const char *want = getenv("TETHER_TEST_SB_FAIL");
  if (!want || strcmp(want, name) != 0) return 0;
  /* setsid is checked before the child leads its session */
  return strcmp(name, "setsid") == 0 || getsid(0) == getpid();
}

typedef int (*unshare_fn)(int);
typedef pid_t (*setsid_fn)(void);
typedef int (*prctl_fn)(int, ...);
typedef long (*syscall_fn)(long, ...);

/* dlsym's object pointer as a function pointer (POSIX guarantees it works;
 * memcpy keeps ISO C quiet) */
static void next(const char *name, void *fn, size_t size) {
  void *p = dlsym(RTLD_NEXT, name);
  memcpy(fn, &p, size);
}

/* exported over the project's hidden default visibility */
#define WRAP __attribute__((visibility("default")))
WRAP int unshare(int flags);
WRAP pid_t setsid(void);
WRAP int prctl(int op, ...);
WRAP long syscall(long nr, ...);

static int anywhere(const char *name) {
  const char *want = getenv("TETHER_TEST_SB_FAIL");
  return want && strcmp(want, name) == 0;
}

int unshare(int flags) {
  if (armed("unshare") || ((flags & CLONE_NEWIPC) && anywhere("probe_ipc"))) {
    errno = EPERM;
    return -1;
  }
  unshare_fn f;
  next("unshare", &f, sizeof f);
  return f(flags);
}

pid_t setsid(void) {
  /* the runner itself never calls it: only a child about to be sandboxed */
  if (armed("setsid")) {
    errno = EPERM;
    return -1;
  }
  setsid_fn f;
  next("setsid", &f, sizeof f);
  return f();
}

int prctl(int op, ...) {
  va_list ap;
  va_start(ap, op);
  unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long),
                a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
  va_end(ap);
  if ((op == PR_SET_SECCOMP && armed("seccomp")) ||
      (op == PR_GET_SECCOMP && anywhere("probe_seccomp")) ||
      (op == PR_CAPBSET_DROP && armed("capbset_drop")) ||
      (op == PR_SET_NO_NEW_PRIVS && armed("no_new_privs"))) {
    errno = EPERM;
    return -1;
  }
  prctl_fn f;
  next("prctl", &f, sizeof f);
  return f(op, a2, a3, a4, a5);
}

long syscall(long nr, ...) {
  va_list ap;
  va_start(ap, nr);
  long a[6];
  for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
  va_end(ap);
  if ((nr == 442 && (armed("mount_setattr") || anywhere("probe_mount_setattr"))) || (nr == 428 && armed("open_tree")) ||
      (nr == SYS_capset && armed("capset")) || (nr == 446 && armed("landlock_restrict_self"))) {
    errno = EPERM;
    return -1;
  }
  syscall_fn f;
  next("syscall", &f, sizeof f);
  return f(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
