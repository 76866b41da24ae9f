/* The mount namespace of a restricted filesystem (Linux):
 *
 *   1. "/" becomes a slave mount (nothing propagates back to the host);
 *   2. the whole tree is made read-only, recursively (mount_setattr with
 *      AT_RECURSIVE): Landlock has no right for chmod, chown, utimensat or
 *      setxattr, a read-only mount refuses all of them, even to root;
 *      device nodes stay usable (a read-only mount does not stop writes to
 *      /dev/null or a pty), and nothing under /proc/sys or /sys is writable;
 *   3. each writable root and the temp dir is bind-mounted onto itself
 *      (with what lies beneath it, still read-only) and that one mount is
 *      made writable again, unless its filesystem was read-only to begin
 *      with; being a mount point, a root can no longer be renamed away
 *      (EBUSY), so `mv sub sub-old; git init sub` cannot swap a repository;
 *   4. each read-only subpath (a directory or a file) is bind-mounted onto
 *      itself read-only; a protected symlink (.git -> elsewhere) is cloned
 *      with open_tree(AT_SYMLINK_NOFOLLOW) and mounted over itself, so the
 *      link cannot be removed or replaced either (EBUSY).
 * The paths and flags are prepared by the runner; the child makes plain
 * system calls only. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/linux.h"

/* glibc 2.36 lacks wrappers for the new mount API on Debian 12: the
 * numbers are the same on every architecture (asm-generic). */
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif

struct tether__mount_attr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};

unsigned long tether__mount_locked_flags(const char *path) {
  struct statvfs sv;
  unsigned long fl = 0;
  if (statvfs(path, &sv) < 0) return 0;
  if (sv.f_flag & ST_RDONLY) fl |= MS_RDONLY;
  if (sv.f_flag & ST_NOSUID) fl |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) fl |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) fl |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) fl |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) fl |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) fl |= MS_RELATIME;
  return fl;
}

int tether__mount_tree_rdonly(void) {
  struct tether__mount_attr a = { MOUNT_ATTR_RDONLY, 0, 0, 0 };
  if (syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &a, sizeof a) < 0) return errno;
  return 0;
}

int tether__mounts_apply(const tether__mount *m, size_t n, bool rdonly_tree) {
  if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
    return TETHER__SB_PACK(TETHER__SB_PROPAGATION, 0, errno);
  if (rdonly_tree) {
    int e = tether__mount_tree_rdonly();
    if (e) return TETHER__SB_PACK(TETHER__SB_RDONLY_TREE, 0, e);
  }
  for (size_t i = 0; i < n; i++) {
    const tether__mount *x = &m[i];
    switch (x->kind) {
    case TETHER__MNT_RW:
      if (mount(x->path, x->path, NULL, MS_BIND | MS_REC, NULL) < 0)
        return TETHER__SB_PACK(TETHER__SB_BIND, i, errno);
      if (mount(NULL, x->path, NULL, MS_BIND | MS_REMOUNT | x->flags, NULL) < 0)
        return TETHER__SB_PACK(TETHER__SB_REMOUNT, i, errno);
      break;
    case TETHER__MNT_RO:
      if (mount(x->path, x->path, NULL, MS_BIND, NULL) < 0)
        return TETHER__SB_PACK(TETHER__SB_BIND, i, errno);
      if (mount(NULL, x->path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | x->flags, NULL) < 0)
        return TETHER__SB_PACK(TETHER__SB_REMOUNT, i, errno);
      break;
    case TETHER__MNT_LINK: {
      int fd = (int)syscall(SYS_open_tree, AT_FDCWD, x->path,
                            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
      if (fd < 0) return TETHER__SB_PACK(TETHER__SB_BIND, i, errno);
      long rc = syscall(SYS_move_mount, fd, "", AT_FDCWD, x->path, MOVE_MOUNT_F_EMPTY_PATH);
      int e = errno;
      close(fd);
      if (rc < 0) return TETHER__SB_PACK(TETHER__SB_BIND, i, e);
      break;
    }
    default: return TETHER__SB_PACK(TETHER__SB_BIND, i, EINVAL);
    }
  }
  return 0;
}
