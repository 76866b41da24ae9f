/* Linux enforcement pieces shared by enforce_linux.c, landlock_linux.c and
 * netns_linux.c. Not installed. */
#ifndef TETHER_SANDBOX_LINUX_H
#define TETHER_SANDBOX_LINUX_H

#include <stdbool.h>
#include <stdint.h>

#include "sandbox/sandbox.h"

/* ---- landlock_linux.c ---- */

/* The kernel's Landlock ABI version; 0 (with *err) if it has none. */
int tether__landlock_abi(int *err);

/* A ruleset for `r` under ABI `abi`, every rule added, as a close-on-exec
 * descriptor >= 3 (the child only calls landlock_restrict_self). If the
 * filesystem is restricted (READ_ONLY, WORKSPACE_WRITE): every access
 * right of the ABI is handled; read, read-dir and execute are allowed
 * beneath "/"; every right but making device nodes beneath each writable
 * root and the temp dir; read/write/truncate/ioctl on the device files of
 * tether__sandbox_devices. Otherwise (only the network is restricted) it
 * handles only MAKE_CHAR|MAKE_BLOCK and has no rules: a domain that keeps
 * the child from leaving through ptrace or mounts. -1 with `f` filled. */
int tether__landlock_ruleset(const tether__sandbox_resolved *r, int abi, int *fd,
                             tether__sandbox_failure *f);
/* In the child (async-signal-safe): 0 or errno. */
int tether__landlock_restrict(int ruleset_fd);

/* The device paths a restricted child may write (NULL-terminated); those
 * that do not exist are skipped. Directories end in '/'. */
extern const char *const tether__sandbox_devices[];

/* ---- netns_linux.c ---- */

/* "U U 1" style id maps for a user namespace of the current ids. */
void tether__ns_id_maps(char *uid_map, size_t ulen, char *gid_map, size_t glen);
/* Forks a child that unshares `flags` (plus CLONE_NEWUSER and the id maps
 * when `userns`), and for CLONE_NEWNS also makes "/" a slave mount; 0 if it
 * worked, else the errno. */
int tether__ns_probe(int flags, bool userns);
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
  TETHER__SB_LANDLOCK
};
#define TETHER__SB_PACK(step, idx, err) \
  ((int)(((unsigned)(step) << 24) | (((unsigned)(idx) & 0xffu) << 16) | ((unsigned)(err) & 0xffffu)))

#endif
