/* The seccomp half of a permission profile (Linux): system calls no
 * sandboxed command needs and that reach around the namespaces, the
 * read-only mounts and Landlock. Each fails with EPERM (not a kill), so a
 * command gets a clear error:
 *   - keyrings (add_key, request_key, keyctl), acct, ptrace and
 *     process_vm_*, io_uring_* (a second syscall path), bpf,
 *     perf_event_open, userfaultfd, kernel modules, kexec, reboot, swap,
 *     quotas, syslog, open_by_handle_at;
 *   - every mount and namespace call (tether's own setup is done by then):
 *     mount, umount2, pivot_root, chroot, unshare, setns, open_tree,
 *     move_mount, fsopen, fsconfig, fsmount, fspick, mount_setattr, and
 *     clone with a CLONE_NEW* flag; clone3 fails with ENOSYS so libc falls
 *     back to clone, whose flags a filter can see;
 *   - terminal injection: ioctl TIOCSTI and TIOCLINUX;
 *   - other processes' priority and limits (same uid is enough for the
 *     kernel): setpriority and ioprio_set other than on the caller itself,
 *     prlimit64 setting another pid's limits;
 *   - socket() and socketpair() families other than AF_UNIX, AF_INET,
 *     AF_INET6 and AF_NETLINK with NETLINK_ROUTE (no AF_VSOCK, AF_PACKET,
 *     NETLINK_AUDIT, ...); with the network denied, socket(AF_UNIX) too
 *     (socketpair stays): seccomp cannot see a connect()'s path, and a path
 *     socket outside the sandbox (a tether-runner --listen, Docker, D-Bus)
 *     would run anything unconfined.
 * Syscalls from another ABI (i386 on x86_64) kill the process (libseccomp's
 * default for a foreign architecture).
 *
 * The filters are built with libseccomp once per process and exported as
 * classic BPF; the child only calls prctl(PR_SET_SECCOMP) (async-signal-
 * safe), last of all its steps. */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/linux.h"

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static const char *const denied_calls[] = {
  "add_key", "request_key", "keyctl", "acct", "ptrace", "process_vm_readv",
  "process_vm_writev", "io_uring_setup", "io_uring_enter", "io_uring_register", "bpf",
  "perf_event_open", "userfaultfd", "init_module", "finit_module", "delete_module",
  "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "quotactl", "quotactl_fd",
  "syslog", "open_by_handle_at", "name_to_handle_at", "lookup_dcookie", "vhangup",
  "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "open_tree", "move_mount",
  "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
  NULL
};

static const uint64_t clone_ns_flags[] = {
  CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWPID,
  CLONE_NEWCGROUP, CLONE_NEWTIME
};

/* Static, not malloc'd: built once per process and kept for its life, so
 * nothing the runner allocates outlives it (the fuzzers count blocks). */
typedef struct built {
  struct sock_filter insns[BPF_MAXINSNS];
  unsigned short len;
  int err;           /* errno when building failed */
  char what[96];     /* the libseccomp call that failed */
} built;

static built filters[2]; /* [0]: network allowed, [1]: network denied */
static pthread_once_t once = PTHREAD_ONCE_INIT;

#define RULE(ctx, act, name, ...)                                                  \
  seccomp_rule_add(ctx, act, seccomp_syscall_resolve_name(name), __VA_ARGS__)

/* Argument comparisons, spelled out: libseccomp's SCMP_A* macros leave a
 * field to the compiler's zero-fill, which -Wextra (clang) reports. */
static struct scmp_arg_cmp cmp(unsigned arg, enum scmp_compare op, uint64_t value) {
  struct scmp_arg_cmp c;
  memset(&c, 0, sizeof c);
  c.arg = arg;
  c.op = op;
  c.datum_a = value;
  return c;
}

/* (argument & mask) == value */
static struct scmp_arg_cmp masked(unsigned arg, uint64_t mask, uint64_t value) {
  struct scmp_arg_cmp c = cmp(arg, SCMP_CMP_MASKED_EQ, mask);
  c.datum_b = value;
  return c;
}

static bool family_allowed(int af, bool net_denied) {
  if (af == AF_UNIX) return !net_denied;
  return af == AF_INET || af == AF_INET6 || af == AF_NETLINK;
}

static int add_rules(scmp_filter_ctx ctx, bool net_denied, const char **what) {
  const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
  int rc;
  for (const char *const *n = denied_calls; *n; n++) {
    int nr = seccomp_syscall_resolve_name(*n);
    if (nr == __NR_SCMP_ERROR) continue; /* not on this architecture */
    *what = *n;
    if ((rc = seccomp_rule_add(ctx, eperm, nr, 0)) < 0) return rc;
  }
  *what = "clone3";
  int nr3 = seccomp_syscall_resolve_name("clone3");
  if (nr3 != __NR_SCMP_ERROR && (rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr3, 0)) < 0)
    return rc;
  *what = "clone";
  for (size_t i = 0; i < sizeof clone_ns_flags / sizeof clone_ns_flags[0]; i++)
    if ((rc = RULE(ctx, eperm, "clone", 1,
                   masked(0, clone_ns_flags[i], clone_ns_flags[i]))) < 0)
      return rc;
  *what = "ioctl";
  if ((rc = RULE(ctx, eperm, "ioctl", 1, masked(1, 0xffffffffu, TIOCSTI))) < 0)
    return rc;
  if ((rc = RULE(ctx, eperm, "ioctl", 1, masked(1, 0xffffffffu, TIOCLINUX))) <
      0)
    return rc;
  /* priorities and limits: only the caller's own (who/pid 0) */
  *what = "setpriority";
  if ((rc = RULE(ctx, eperm, "setpriority", 1, cmp(0, SCMP_CMP_NE, PRIO_PROCESS))) < 0 ||
      (rc = RULE(ctx, eperm, "setpriority", 1, cmp(1, SCMP_CMP_NE, 0))) < 0)
    return rc;
  *what = "ioprio_set";
  if ((rc = RULE(ctx, eperm, "ioprio_set", 1, cmp(0, SCMP_CMP_NE, 1 /* IOPRIO_WHO_PROCESS */))) <
          0 ||
      (rc = RULE(ctx, eperm, "ioprio_set", 1, cmp(1, SCMP_CMP_NE, 0))) < 0)
    return rc;
  *what = "prlimit64";
  if ((rc = RULE(ctx, eperm, "prlimit64", 2, cmp(0, SCMP_CMP_NE, 0), cmp(2, SCMP_CMP_NE, 0))) <
      0)
    return rc;
  *what = "socket";
  for (int af = 0; af < AF_MAX; af++) {
    if (!family_allowed(af, net_denied))
      if ((rc = RULE(ctx, eperm, "socket", 1,
                     masked(0, 0xffffffffu, (uint64_t)af))) < 0)
        return rc;
    if (af != AF_UNIX)
      if ((rc = RULE(ctx, eperm, "socketpair", 1,
                     masked(0, 0xffffffffu, (uint64_t)af))) < 0)
        return rc;
  }
  if ((rc = RULE(ctx, eperm, "socket", 1, cmp(0, SCMP_CMP_GE, (uint64_t)AF_MAX))) < 0) return rc;
  if ((rc = RULE(ctx, eperm, "socketpair", 1, cmp(0, SCMP_CMP_GE, (uint64_t)AF_MAX))) < 0)
    return rc;
  /* netlink: the route family only (getaddrinfo, ip addr); never audit,
   * uevents, sock_diag, ... */
  if ((rc = RULE(ctx, eperm, "socket", 2, masked(0, 0xffffffffu, AF_NETLINK),
                 cmp(2, SCMP_CMP_NE, NETLINK_ROUTE))) < 0)
    return rc;
  return 0;
}

static void build(built *b, bool net_denied) {
  const char *what = "seccomp_init";
  int rc = 0, fd = -1;
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) {
    rc = -ENOMEM;
    goto out;
  }
  if ((rc = add_rules(ctx, net_denied, &what)) < 0) goto out;
  what = "seccomp_export_bpf";
  fd = memfd_create("tether-seccomp", MFD_CLOEXEC);
  if (fd < 0) {
    rc = -errno;
    goto out;
  }
  if ((rc = seccomp_export_bpf(ctx, fd)) < 0) goto out;
  struct stat st;
  if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) ||
      st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS) {
    rc = -EINVAL;
    goto out;
  }
  if (pread(fd, b->insns, (size_t)st.st_size, 0) != st.st_size) {
    rc = -EIO;
    goto out;
  }
  b->len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
out:
  if (rc < 0) {
    b->err = -rc;
    snprintf(b->what, sizeof b->what, "libseccomp (%s)", what);
  }
  if (fd >= 0) close(fd);
  if (ctx) seccomp_release(ctx);
}

static void build_all(void) {
  build(&filters[0], false);
  build(&filters[1], true);
}

int tether__seccomp_filter(bool net_denied, tether__seccomp_prog *out, char *why, size_t len) {
  pthread_once(&once, build_all);
  built *b = &filters[net_denied]; /* sock_fprog.filter is not const */
  if (!b->len) {
    snprintf(why, len, "%s: %s", b->what, strerror(b->err));
    return b->err ? b->err : EINVAL;
  }
  out->len = b->len;
  out->filter = b->insns;
  return 0;
}

int tether__seccomp_probe(char *why, size_t len) {
  if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0) {
    int e = errno;
    snprintf(why, len, "seccomp is not available (prctl(PR_GET_SECCOMP): %s)", strerror(e));
    return e;
  }
  tether__seccomp_prog p;
  int e = tether__seccomp_filter(false, &p, why, len);
  if (!e) e = tether__seccomp_filter(true, &p, why, len);
  return e;
}

int tether__seccomp_load(const tether__seccomp_prog *p) {
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, p, 0, 0) < 0) return errno;
  return 0;
}
