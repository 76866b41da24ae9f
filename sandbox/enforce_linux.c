/* Linux enforcement of a resolved permission profile (see sandbox.h and
 * docs/SANDBOX.md).
 *
 * Prepared in the runner before fork: the Landlock ruleset with all its
 * rules (landlock_linux.c), the id maps of a user namespace, the mount
 * flags of each read-only subpath. In the child, in this order:
 *   1. unshare(CLONE_NEWNET for a denied network, CLONE_NEWNS for
 *      read-only subpaths; with CLONE_NEWUSER + id maps when not root);
 *      loopback up in the new network namespace;
 *   2. "/" becomes a slave mount (nothing propagates back), then each
 *      read-only subpath is bind-mounted onto itself and remounted
 *      read-only, keeping the flags a user namespace may not drop;
 *   3. back into the runner's cwd (so an inherited cwd sees the new mounts;
 *      spawn_posix.c then enters Spawn.cwd);
 *   4. root only: the capabilities that could undo the above or reach
 *      around it are dropped from every set and the bounding set;
 *   5. no_new_privs;
 *   6. landlock_restrict_self with the prepared ruleset.
 * Every step is a plain system call (async-signal-safe). */
#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/linux.h"

/* Landlock ABI a restricted filesystem needs: 3 makes truncate(2)
 * controllable (kernel 6.2). Below it a "read-only" file could still be
 * truncated, so such kernels are refused (fail closed). */
#define TETHER__LANDLOCK_ABI_MIN 3

struct tether__sandbox_plan {
  int ruleset_fd;         /* >= 3 */
  int ns_flags;           /* CLONE_NEWNET | CLONE_NEWNS, or 0 */
  bool userns;
  char uid_map[64], gid_map[64];
  char **ro;              /* bind-mounted read-only */
  unsigned long *ro_flags;
  size_t nro;
  char *rechdir;          /* the runner's cwd, re-entered after the mounts */
  bool drop_caps;
};

/* ------------------------------------------------------------- probing */

void tether__sandbox_platform_probe(tether__sandbox_support *s) {
  int err = 0;
  size_t o = 0;
  s->root = geteuid() == 0;
  s->userns = !s->root;
  s->landlock_abi = tether__landlock_abi(&err);
  if (s->landlock_abi < TETHER__LANDLOCK_ABI_MIN)
    o += (size_t)snprintf(s->missing + o, sizeof s->missing - o,
                          s->landlock_abi ? "Landlock ABI %d, need %d (Linux 6.2)%s%s; "
                                          : "no Landlock (%d/%d%s%s); ",
                          s->landlock_abi, TETHER__LANDLOCK_ABI_MIN,
                          s->landlock_abi ? "" : ": ", s->landlock_abi ? "" : strerror(err));
  int e = tether__ns_probe(CLONE_NEWNET, s->userns);
  s->netns = e == 0;
  if (e && o < sizeof s->missing)
    o += (size_t)snprintf(s->missing + o, sizeof s->missing - o,
                          "network namespaces are not available (unshare(CLONE_NEWNET%s): %s); ",
                          s->userns ? "|CLONE_NEWUSER" : "", strerror(e));
  e = tether__ns_probe(CLONE_NEWNS, s->userns);
  s->mountns = e == 0;
  if (e && o < sizeof s->missing)
    o += (size_t)snprintf(s->missing + o, sizeof s->missing - o,
                          "mount namespaces are not available (unshare(CLONE_NEWNS%s): %s); ",
                          s->userns ? "|CLONE_NEWUSER" : "", strerror(e));
  s->enforced = s->landlock_abi >= TETHER__LANDLOCK_ABI_MIN && s->netns && s->mountns;
  if (o >= 2 && o < sizeof s->missing) s->missing[o - 2] = '\0'; /* the last "; " */
}

/* ------------------------------------------------------------ the plan */

void tether__sandbox_plan_free(tether__sandbox_plan *p) {
  if (!p) return;
  if (p->ruleset_fd >= 0) close(p->ruleset_fd);
  for (size_t i = 0; i < p->nro; i++) free(p->ro[i]);
  free(p->ro);
  free(p->ro_flags);
  free(p->rechdir);
  free(p);
}

static unsigned long locked_flags(const char *path) {
  struct statvfs sv;
  unsigned long fl = 0;
  if (statvfs(path, &sv) < 0) return 0;
  if (sv.f_flag & ST_NOSUID) fl |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) fl |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) fl |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) fl |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) fl |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) fl |= MS_RELATIME;
  return fl;
}

int tether__sandbox_prepare(const tether__sandbox_resolved *r, const tether__sandbox_support *s,
                            tether__sandbox_plan **out, tether__sandbox_failure *f) {
  *out = NULL;
  tether__sandbox_plan *p = calloc(1, sizeof *p);
  if (!p) goto nomem;
  p->ruleset_fd = -1;
  if (r->network == TETHER_NET_DENIED) p->ns_flags |= CLONE_NEWNET;
  if (r->nro) {
    p->ns_flags |= CLONE_NEWNS;
    p->ro = calloc(r->nro, sizeof *p->ro);
    p->ro_flags = calloc(r->nro, sizeof *p->ro_flags);
    if (!p->ro || !p->ro_flags) goto nomem;
    for (size_t i = 0; i < r->nro; i++) {
      if (!(p->ro[i] = strdup(r->ro[i]))) goto nomem;
      p->nro++;
      p->ro_flags[i] = locked_flags(r->ro[i]);
    }
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) && !(p->rechdir = strdup(cwd))) goto nomem;
  }
  p->userns = p->ns_flags && s->userns;
  if (p->userns) tether__ns_id_maps(p->uid_map, sizeof p->uid_map, p->gid_map, sizeof p->gid_map);
  p->drop_caps = s->root;
  if (tether__landlock_ruleset(r, s->landlock_abi, &p->ruleset_fd, f) < 0) {
    tether__sandbox_plan_free(p);
    return -1;
  }
  *out = p;
  return 0;
nomem:
  tether__sandbox_plan_free(p);
  f->error = TETHER_SPAWN_ERR_NO_RESOURCES;
  f->os_error = ENOMEM;
  snprintf(f->message, sizeof f->message, "preparing the permission profile: %s",
           strerror(ENOMEM));
  return -1;
}

/* ------------------------------------------------------------ the child */

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE 40
#endif

/* What a root child loses: everything that could undo the namespaces,
 * mounts and Landlock domain or reach around them (kernel code, raw
 * devices, other processes' memory, file handles). It keeps the rest,
 * notably CAP_DAC_OVERRIDE and CAP_CHOWN inside what Landlock allows. */
static const int drop_caps[] = {
  CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_RAWIO, CAP_SYS_PTRACE, CAP_SYS_BOOT,
  CAP_SYS_TIME, CAP_MKNOD, CAP_NET_ADMIN, CAP_DAC_READ_SEARCH, CAP_MAC_ADMIN,
  CAP_MAC_OVERRIDE, CAP_SYSLOG, CAP_BPF, CAP_PERFMON, CAP_CHECKPOINT_RESTORE,
  CAP_LINUX_IMMUTABLE, CAP_SYS_TTY_CONFIG, CAP_SETPCAP /* last: needed for the drops */
};

static int child_drop_caps(void) {
  size_t n = sizeof drop_caps / sizeof drop_caps[0];
  for (size_t i = 0; i < n; i++)
    if (prctl(PR_CAPBSET_DROP, (unsigned long)drop_caps[i], 0, 0, 0) < 0 && errno != EINVAL)
      return errno;
  struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct d[2];
  memset(d, 0, sizeof d);
  if (syscall(SYS_capget, &hdr, d) < 0) return errno;
  for (size_t i = 0; i < n; i++) {
    int c = drop_caps[i];
    uint32_t bit = 1u << (c & 31);
    d[c >> 5].effective &= ~bit;
    d[c >> 5].permitted &= ~bit;
    d[c >> 5].inheritable &= ~bit;
  }
  if (syscall(SYS_capset, &hdr, d) < 0) return errno;
  (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  return 0;
}

int tether__sandbox_child_apply(const tether__sandbox_plan *p) {
  if (p->ns_flags) {
    int rc = tether__ns_enter(p->ns_flags, p->userns, p->uid_map, p->gid_map);
    if (rc) return rc;
    if (p->ns_flags & CLONE_NEWNET) tether__ns_loopback_up();
  }
  if (p->nro) {
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
      return TETHER__SB_PACK(TETHER__SB_PROPAGATION, 0, errno);
    for (size_t i = 0; i < p->nro; i++) {
      if (mount(p->ro[i], p->ro[i], NULL, MS_BIND, NULL) < 0)
        return TETHER__SB_PACK(TETHER__SB_BIND, i, errno);
      if (mount(NULL, p->ro[i], NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | p->ro_flags[i], NULL) < 0)
        return TETHER__SB_PACK(TETHER__SB_REMOUNT, i, errno);
    }
    if (p->rechdir && chdir(p->rechdir) < 0) return TETHER__SB_PACK(TETHER__SB_CHDIR, 0, errno);
  }
  if (p->drop_caps) {
    int e = child_drop_caps();
    if (e) return TETHER__SB_PACK(TETHER__SB_CAPS, 0, e);
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return TETHER__SB_PACK(TETHER__SB_NO_NEW_PRIVS, 0, errno);
  int e = tether__landlock_restrict(p->ruleset_fd);
  if (e) return TETHER__SB_PACK(TETHER__SB_LANDLOCK, 0, e);
  return 0;
}

uint32_t tether__sandbox_child_error(const tether__sandbox_plan *p, int packed, int *os_error,
                                     char *buf, size_t len) {
  int step = (packed >> 24) & 0xff, idx = (packed >> 16) & 0xff, e = packed & 0xffff;
  const char *ro = p && (size_t)idx < p->nro ? p->ro[idx] : "?";
  *os_error = e;
  switch (step) {
  case TETHER__SB_UNSHARE:
    snprintf(buf, len, "unshare(%s%s%s)",
             p && (p->ns_flags & CLONE_NEWNET) ? "CLONE_NEWNET" : "",
             p && (p->ns_flags & CLONE_NEWNS) ? (p->ns_flags & CLONE_NEWNET ? "|CLONE_NEWNS"
                                                                           : "CLONE_NEWNS")
                                              : "",
             p && p->userns ? "|CLONE_NEWUSER" : "");
    break;
  case TETHER__SB_SETGROUPS: snprintf(buf, len, "writing /proc/self/setgroups"); break;
  case TETHER__SB_UID_MAP: snprintf(buf, len, "writing /proc/self/uid_map"); break;
  case TETHER__SB_GID_MAP: snprintf(buf, len, "writing /proc/self/gid_map"); break;
  case TETHER__SB_PROPAGATION: snprintf(buf, len, "making / a slave mount"); break;
  case TETHER__SB_BIND: snprintf(buf, len, "bind-mounting read-only subpath %.300s", ro); break;
  case TETHER__SB_REMOUNT:
    snprintf(buf, len, "remounting read-only subpath %.300s read-only", ro);
    break;
  case TETHER__SB_CHDIR: snprintf(buf, len, "re-entering the runner's cwd"); break;
  case TETHER__SB_CAPS: snprintf(buf, len, "dropping capabilities"); break;
  case TETHER__SB_NO_NEW_PRIVS: snprintf(buf, len, "prctl(PR_SET_NO_NEW_PRIVS)"); break;
  case TETHER__SB_LANDLOCK: snprintf(buf, len, "landlock_restrict_self"); break;
  default: snprintf(buf, len, "applying the permission profile"); break;
  }
  switch (e) {
  case EPERM:
  case EINVAL:
  case ENOSYS:
  case EOPNOTSUPP: return TETHER_SPAWN_ERR_UNSUPPORTED;
  case ENOMEM:
  case ENOSPC:
  case EAGAIN: return TETHER_SPAWN_ERR_NO_RESOURCES;
  case EACCES: return TETHER_SPAWN_ERR_PERMISSION_DENIED;
  default: return TETHER_SPAWN_ERR_OTHER;
  }
}
