/* Linux enforcement of a resolved permission profile (see sandbox.h and
 * docs/SANDBOX.md).
 *
 * Prepared in the runner before fork: the Landlock ruleset with all its
 * rules (landlock_linux.c), the seccomp filter (seccomp_linux.c), the id
 * maps of a user namespace, the mounts with their flags (mounts_linux.c).
 * In the child (already the leader of a new session, spawn_posix.c), in
 * this order:
 *   1. unshare(CLONE_NEWIPC always, CLONE_NEWNET for a denied network,
 *      CLONE_NEWNS for a restricted filesystem; with CLONE_NEWUSER + id
 *      maps when not root); loopback up in the new network namespace;
 *   2. the mounts: the whole tree read-only, the writable roots and the
 *      temp dir bound back writable, read-only subpaths and protected
 *      links on top;
 *   3. back into the runner's cwd (so an inherited cwd sees the new mounts;
 *      spawn_posix.c then enters Spawn.cwd);
 *   4. every capability dropped: bounding set, ambient, inheritable,
 *      permitted, effective (whatever the uid: a non-root runner may hold
 *      ambient capabilities), then checked with capget;
 *   5. no_new_privs;
 *   6. landlock_restrict_self with the prepared ruleset (scoped from ABI 6);
 *   7. the seccomp filter, last (it refuses the calls of steps 1-2).
 * Every step is a plain system call (async-signal-safe). */
#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/linux.h"

/* Landlock ABI a restricted filesystem needs: 3 makes truncate(2)
 * controllable (kernel 6.2). Below it a "read-only" file could still be
 * truncated, so such kernels are refused (fail closed). */
#define TETHER__LANDLOCK_ABI_MIN 3

struct tether__sandbox_plan {
  int ruleset_fd;         /* >= 3 */
  int ns_flags;           /* CLONE_NEWIPC [| CLONE_NEWNET] [| CLONE_NEWNS] */
  bool userns;
  char uid_map[64], gid_map[64];
  bool rdonly_tree;       /* the filesystem is restricted: "/" read-only */
  tether__mount *mounts;  /* in order: writable roots, read-only subpaths, links */
  size_t nmounts;
  char *rechdir;          /* the runner's cwd, re-entered after the mounts */
  tether__seccomp_prog seccomp;
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
  int e = tether__ns_probe(CLONE_NEWNET, s->userns, false);
  s->netns = e == 0;
  if (e && o < sizeof s->missing)
    o += (size_t)snprintf(s->missing + o, sizeof s->missing - o,
                          "network namespaces are not available (unshare(CLONE_NEWNET%s): %s); ",
                          s->userns ? "|CLONE_NEWUSER" : "", strerror(e));
  e = tether__ns_probe(CLONE_NEWNS, s->userns, false);
  s->mountns = e == 0;
  if (e && o < sizeof s->missing)
    o += (size_t)snprintf(s->missing + o, sizeof s->missing - o,
                          "mount namespaces are not available (unshare(CLONE_NEWNS%s): %s); ",
                          s->userns ? "|CLONE_NEWUSER" : "", strerror(e));
  if (s->mountns) {
    e = tether__ns_probe(CLONE_NEWNS, s->userns, true);
    s->mount_setattr = e == 0;
    if (e && o < sizeof s->missing)
      o += (size_t)snprintf(s->missing + o, sizeof s->missing - o,
                            "a read-only mount tree is not available "
                            "(mount_setattr(AT_RECURSIVE, MOUNT_ATTR_RDONLY): %s); ",
                            strerror(e));
  }
  e = tether__ns_probe(CLONE_NEWIPC, s->userns, false);
  s->ipcns = e == 0;
  if (e && o < sizeof s->missing)
    o += (size_t)snprintf(s->missing + o, sizeof s->missing - o,
                          "IPC namespaces are not available (unshare(CLONE_NEWIPC%s): %s); ",
                          s->userns ? "|CLONE_NEWUSER" : "", strerror(e));
  char why[160];
  e = tether__seccomp_probe(why, sizeof why);
  s->seccomp = e == 0;
  if (e && o < sizeof s->missing)
    o += (size_t)snprintf(s->missing + o, sizeof s->missing - o, "%s; ", why);
  s->enforced = s->landlock_abi >= TETHER__LANDLOCK_ABI_MIN && s->netns && s->mountns &&
                s->mount_setattr && s->ipcns && s->seccomp;
  if (o >= 2 && o < sizeof s->missing) s->missing[o - 2] = '\0'; /* the last "; " */
}

/* ------------------------------------------------------------ the plan */

void tether__sandbox_plan_free(tether__sandbox_plan *p) {
  if (!p) return;
  if (p->ruleset_fd >= 0) close(p->ruleset_fd);
  for (size_t i = 0; i < p->nmounts; i++) free(p->mounts[i].path);
  free(p->mounts);
  free(p->rechdir);
  free(p);
}

static int add_mount(tether__sandbox_plan *p, const char *path, int kind) {
  for (size_t i = 0; i < p->nmounts; i++)
    if (p->mounts[i].kind == kind && strcmp(p->mounts[i].path, path) == 0) return 0;
  char *c = strdup(path);
  if (!c) return -1;
  tether__mount *m = &p->mounts[p->nmounts++];
  m->path = c;
  m->kind = kind;
  /* A symlink is mounted as it is; a read-only subpath adds MS_RDONLY. */
  m->flags = kind == TETHER__MNT_LINK ? 0 : tether__mount_locked_flags(path);
  if (kind == TETHER__MNT_RO) m->flags &= ~(unsigned long)MS_RDONLY;
  return 0;
}

/* Writable roots, shortest first: a root inside another is bound after
 * (on top of) the outer one. */
static int by_length(const void *a, const void *b) {
  size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
  return la < lb ? -1 : la > lb;
}

static int plan_mounts(tether__sandbox_plan *p, const tether__sandbox_resolved *r) {
  size_t n = r->nroots + (r->tmpdir ? 1 : 0);
  const char **rw = calloc(n ? n : 1, sizeof *rw);
  p->mounts = calloc(n + r->nro + r->nro_links + 1, sizeof *p->mounts);
  if (!rw || !p->mounts) {
    free(rw);
    return -1;
  }
  for (size_t i = 0; i < r->nroots; i++) rw[i] = r->roots[i];
  if (r->tmpdir) rw[r->nroots] = r->tmpdir;
  qsort(rw, n, sizeof *rw, by_length);
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) rc = add_mount(p, rw[i], TETHER__MNT_RW);
  for (size_t i = 0; i < r->nro && !rc; i++) rc = add_mount(p, r->ro[i], TETHER__MNT_RO);
  for (size_t i = 0; i < r->nro_links && !rc; i++)
    rc = add_mount(p, r->ro_links[i], TETHER__MNT_LINK);
  free(rw);
  return rc;
}

static int refuse_plan(tether__sandbox_plan *p, tether__sandbox_failure *f, uint32_t error, int e,
                       const char *what) {
  tether__sandbox_plan_free(p);
  f->error = error;
  f->os_error = e;
  snprintf(f->message, sizeof f->message, "%s: %s", what, strerror(e));
  return -1;
}

int tether__sandbox_prepare(const tether__sandbox_resolved *r, const tether__sandbox_support *s,
                            tether__sandbox_plan **out, tether__sandbox_failure *f) {
  *out = NULL;
  tether__sandbox_plan *p = calloc(1, sizeof *p);
  if (!p) return refuse_plan(p, f, TETHER_SPAWN_ERR_NO_RESOURCES, ENOMEM,
                             "preparing the permission profile");
  p->ruleset_fd = -1;
  bool fs = r->filesystem == TETHER_FS_READ_ONLY || r->filesystem == TETHER_FS_WORKSPACE_WRITE;
  p->ns_flags = CLONE_NEWIPC; /* SysV IPC of outside processes: never reachable */
  if (r->network == TETHER_NET_DENIED) p->ns_flags |= CLONE_NEWNET;
  if (fs) {
    p->ns_flags |= CLONE_NEWNS;
    p->rdonly_tree = true;
    if (plan_mounts(p, r) < 0)
      return refuse_plan(p, f, TETHER_SPAWN_ERR_NO_RESOURCES, ENOMEM,
                         "preparing the permission profile");
    /* The child re-enters the runner's cwd to see the new mounts: without
     * it, it would keep a cwd outside them (fail closed). */
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd))
      return refuse_plan(p, f, TETHER_SPAWN_ERR_OTHER, errno,
                         "the runner's current directory (getcwd)");
    if (!(p->rechdir = strdup(cwd)))
      return refuse_plan(p, f, TETHER_SPAWN_ERR_NO_RESOURCES, ENOMEM,
                         "preparing the permission profile");
  }
  p->userns = s->userns;
  if (p->userns) tether__ns_id_maps(p->uid_map, sizeof p->uid_map, p->gid_map, sizeof p->gid_map);
  char why[200];
  int e = tether__seccomp_filter(r->network == TETHER_NET_DENIED, &p->seccomp, why, sizeof why);
  if (e) {
    tether__sandbox_plan_free(p);
    f->error = TETHER_SPAWN_ERR_UNSUPPORTED;
    f->os_error = e;
    snprintf(f->message, sizeof f->message, "the seccomp filter: %s", why);
    return -1;
  }
  if (tether__landlock_ruleset(r, s->landlock_abi, &p->ruleset_fd, f) < 0) {
    tether__sandbox_plan_free(p);
    return -1;
  }
  *out = p;
  return 0;
}

/* ------------------------------------------------------------ the child */

/* Every capability goes, whatever the uid: from the bounding set (needs
 * CAP_SETPCAP, which root and a fresh user namespace have; without it the
 * step fails closed), the ambient set, then inheritable, permitted and
 * effective. Then capget and the ambient set must show nothing left. */
static int child_drop_caps(void) {
  for (unsigned long c = 0; c < 64; c++) {
    int in = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
    if (in < 0) break; /* EINVAL: past the kernel's last capability */
    if (in && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) return errno;
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return errno;
  struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct d[2];
  memset(d, 0, sizeof d);
  if (syscall(SYS_capset, &hdr, d) < 0) return errno;
  if (syscall(SYS_capget, &hdr, d) < 0) return errno;
  for (int i = 0; i < 2; i++)
    if (d[i].effective || d[i].permitted || d[i].inheritable) return EPERM;
  for (unsigned long c = 0; c < 64; c++) {
    int in = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0);
    if (in < 0) break;
    if (in) return EPERM;
  }
  return 0;
}

int tether__sandbox_child_apply(const tether__sandbox_plan *p) {
  /* The caller made the child a session leader (setsid, or the pty's
   * setsid): without that the user's terminal stays reachable. */
  if (getsid(0) != getpid()) return TETHER__SB_PACK(TETHER__SB_SETSID, 0, EPERM);
  int rc = tether__ns_enter(p->ns_flags, p->userns, p->uid_map, p->gid_map);
  if (rc) return rc;
  if (p->ns_flags & CLONE_NEWNET) tether__ns_loopback_up();
  if (p->ns_flags & CLONE_NEWNS) {
    rc = tether__mounts_apply(p->mounts, p->nmounts, p->rdonly_tree);
    if (rc) return rc;
    if (chdir(p->rechdir) < 0) return TETHER__SB_PACK(TETHER__SB_CHDIR, 0, errno);
  }
  int e = child_drop_caps();
  if (e) return TETHER__SB_PACK(TETHER__SB_CAPS, 0, e);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return TETHER__SB_PACK(TETHER__SB_NO_NEW_PRIVS, 0, errno);
  e = tether__landlock_restrict(p->ruleset_fd);
  if (e) return TETHER__SB_PACK(TETHER__SB_LANDLOCK, 0, e);
  e = tether__seccomp_load(&p->seccomp);
  if (e) return TETHER__SB_PACK(TETHER__SB_SECCOMP, 0, e);
  return 0;
}

uint32_t tether__sandbox_child_error(const tether__sandbox_plan *p, int packed, int *os_error,
                                     char *buf, size_t len) {
  int step = (packed >> 24) & 0xff, idx = (packed >> 16) & 0xff, e = packed & 0xffff;
  const char *mp = p && (size_t)idx < p->nmounts ? p->mounts[idx].path : "?";
  int kind = p && (size_t)idx < p->nmounts ? p->mounts[idx].kind : 0;
  const char *what = kind == TETHER__MNT_RW   ? "writable root"
                     : kind == TETHER__MNT_RO ? "read-only subpath"
                                              : "protected link";
  *os_error = e;
  switch (step) {
  case TETHER__SB_UNSHARE:
    snprintf(buf, len, "unshare(CLONE_NEWIPC%s%s%s)",
             p && (p->ns_flags & CLONE_NEWNET) ? "|CLONE_NEWNET" : "",
             p && (p->ns_flags & CLONE_NEWNS) ? "|CLONE_NEWNS" : "",
             p && p->userns ? "|CLONE_NEWUSER" : "");
    break;
  case TETHER__SB_SETGROUPS: snprintf(buf, len, "writing /proc/self/setgroups"); break;
  case TETHER__SB_UID_MAP: snprintf(buf, len, "writing /proc/self/uid_map"); break;
  case TETHER__SB_GID_MAP: snprintf(buf, len, "writing /proc/self/gid_map"); break;
  case TETHER__SB_PROPAGATION: snprintf(buf, len, "making / a slave mount"); break;
  case TETHER__SB_RDONLY_TREE:
    snprintf(buf, len, "making the mount tree read-only (mount_setattr)");
    break;
  case TETHER__SB_BIND: snprintf(buf, len, "bind-mounting %s %.300s", what, mp); break;
  case TETHER__SB_REMOUNT:
    snprintf(buf, len, "remounting %s %.300s %s", what, mp,
             kind == TETHER__MNT_RW ? "writable" : "read-only");
    break;
  case TETHER__SB_CHDIR: snprintf(buf, len, "re-entering the runner's cwd"); break;
  case TETHER__SB_CAPS: snprintf(buf, len, "dropping capabilities"); break;
  case TETHER__SB_NO_NEW_PRIVS: snprintf(buf, len, "prctl(PR_SET_NO_NEW_PRIVS)"); break;
  case TETHER__SB_LANDLOCK: snprintf(buf, len, "landlock_restrict_self"); break;
  case TETHER__SB_SETSID: snprintf(buf, len, "a session of its own (setsid)"); break;
  case TETHER__SB_SECCOMP: snprintf(buf, len, "loading the seccomp filter"); break;
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
