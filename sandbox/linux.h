/* Linux enforcement pieces shared by enforce_linux.c, landlock_linux.c and
 * netns_linux.c. Not installed. */
#ifndef TETHER_SANDBOX_LINUX_H
#define TETHER_SANDBOX_LINUX_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox/sandbox.h"

/* ---- landlock_linux.c ---- */

/* Landlock ABI 6 (Linux 6.12): scoping of signals and abstract Unix
 * sockets to the domain; applied where the kernel has it. */
#define TETHER__LANDLOCK_ABI_SCOPE 6

/* The kernel's Landlock ABI version; 0 (with *err) if it has none. */
int tether__landlock_abi(int *err);

/* A ruleset for `r` under ABI `abi`, every rule added, as a close-on-exec
 * descriptor >= 3 (the child only calls landlock_restrict_self). If the
 * filesystem is restricted (READ_ONLY, WORKSPACE_WRITE): every access
 * right of the ABI is handled; read, read-dir and execute are allowed
 * beneath "/"; every right but making device nodes beneath each writable
 * root and the temp dir; read/write/truncate/ioctl on the device files of
 * tether__sandbox_devices (the terminal ones only when r->tty). From ABI 6
 * the domain is also scoped: no signals to processes outside it (the
 * runner included) and no connecting to abstract Unix sockets created
 * outside it. Otherwise (only the network is restricted) it
 * handles only MAKE_CHAR|MAKE_BLOCK and has no rules: a domain that keeps
 * the child from leaving through ptrace or mounts. -1 with `f` filled. */
int tether__landlock_ruleset(const tether__sandbox_resolved *r, int abi, int *fd,
                             tether__sandbox_failure *f);
/* In the child (async-signal-safe): 0 or errno. */
int tether__landlock_restrict(int ruleset_fd);

/* The device paths a restricted child may write (NULL-terminated); those
 * that do not exist are skipped. Directories end in '/'. The terminal
 * devices (/dev/tty, /dev/ptmx, /dev/pts/) are granted to pty sessions
 * only: tether__sandbox_tty_devices. */
extern const char *const tether__sandbox_devices[];
extern const char *const tether__sandbox_tty_devices[];

/* ---- mounts_linux.c ---- */

enum { TETHER__MNT_RW = 1, TETHER__MNT_RO, TETHER__MNT_LINK };
typedef struct tether__mount {
  char *path;
  unsigned long flags; /* MS_* flags the remount must keep (statvfs of path) */
  int kind;            /* TETHER__MNT_* */
} tether__mount;

/* The flags a bind remount of `path` must keep, MS_RDONLY included when its
 * filesystem is read-only. */
unsigned long tether__mount_locked_flags(const char *path);
/* In the child (after unshare(CLONE_NEWNS)): "/" a slave, the tree
 * read-only when `rdonly_tree`, then each entry in order. 0 or a packed
 * step code. */
int tether__mounts_apply(const tether__mount *m, size_t n, bool rdonly_tree);
/* mount_setattr("/", AT_RECURSIVE, MOUNT_ATTR_RDONLY): 0 or errno. */
int tether__mount_tree_rdonly(void);

/* ---- seccomp_linux.c ---- */

typedef struct sock_fprog tether__seccomp_prog;
/* The filter for a network allowed / denied child (built once per
 * process, shared, never freed). 0, or an errno with `why` filled. */
int tether__seccomp_filter(bool net_denied, tether__seccomp_prog *out, char *why, size_t len);
/* Whether seccomp filters can be built and loaded here: 0 or errno (why). */
int tether__seccomp_probe(char *why, size_t len);
/* In the child, after no_new_privs: 0 or errno. */
int tether__seccomp_load(const tether__seccomp_prog *p);

/* ---- netns_linux.c ---- */

/* "U U 1" style id maps for a user namespace of the current ids. */
void tether__ns_id_maps(char *uid_map, size_t ulen, char *gid_map, size_t glen);
/* Forks a child that unshares `flags` (plus CLONE_NEWUSER and the id maps
 * when `userns`), and for CLONE_NEWNS also makes "/" a slave mount and,
 * with `rdonly_tree`, the tree read-only (mount_setattr); 0 if it worked,
 * else the errno. */
int tether__ns_probe(int flags, bool userns, bool rdonly_tree);
/* In the child: unshare + id maps. 0, or (step << 24 | errno). */
int tether__ns_enter(int flags, bool userns, const char *uid_map, const char *gid_map);
/* In the child: "lo" up in a fresh network namespace; best effort. */
void tether__ns_loopback_up(void);

/* Steps of the child, packed as step << 24 | index << 16 | errno. */
enum {
  TETHER__SB_UNSHARE = 1,
  TETHER__SB_SETGROUPS,
  TETHER__SB_UID_MAP,
  TETHER__SB_GID_MAP,
  TETHER__SB_PROPAGATION,
  TETHER__SB_BIND,
  TETHER__SB_REMOUNT,
  TETHER__SB_CHDIR,
  TETHER__SB_CAPS,
  TETHER__SB_NO_NEW_PRIVS,
  TETHER__SB_LANDLOCK,
  TETHER__SB_RDONLY_TREE,
  TETHER__SB_SECCOMP,
  TETHER__SB_SETSID
};
#define TETHER__SB_PACK(step, idx, err) \
  ((int)(((unsigned)(step) << 24) | (((unsigned)(idx) & 0xffu) << 16) | ((unsigned)(err) & 0xffffu)))

#endif
