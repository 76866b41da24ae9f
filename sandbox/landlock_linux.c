/* Landlock (Linux >= 5.13): the filesystem half of a permission profile.
 *
 * The system headers may predate the ABI this kernel speaks (Debian 12's
 * stop at ABI 2), so the structures and access bits are declared here, as
 * the kernel's uapi defines them. Rights a kernel does not know are never
 * handled (they would be EINVAL); which ABI a profile needs at least is
 * decided in enforce_linux.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/linux.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule 445
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif

#define LL_CREATE_RULESET_VERSION (1u << 0)
#define LL_RULE_PATH_BENEATH 1

struct ll_ruleset_attr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net; /* ABI 4 */
  uint64_t scoped;             /* ABI 6 */
};
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ull << 0)
#define LL_SCOPE_SIGNAL (1ull << 1)
struct ll_path_beneath_attr {
  uint64_t allowed_access;
  int32_t parent_fd;
} __attribute__((packed));

#define FS_EXECUTE (1ull << 0)
#define FS_WRITE_FILE (1ull << 1)
#define FS_READ_FILE (1ull << 2)
#define FS_READ_DIR (1ull << 3)
#define FS_REMOVE_DIR (1ull << 4)
#define FS_REMOVE_FILE (1ull << 5)
#define FS_MAKE_CHAR (1ull << 6)
#define FS_MAKE_DIR (1ull << 7)
#define FS_MAKE_REG (1ull << 8)
#define FS_MAKE_SOCK (1ull << 9)
#define FS_MAKE_FIFO (1ull << 10)
#define FS_MAKE_BLOCK (1ull << 11)
#define FS_MAKE_SYM (1ull << 12)
#define FS_REFER (1ull << 13)     /* ABI 2 */
#define FS_TRUNCATE (1ull << 14)  /* ABI 3 */
#define FS_IOCTL_DEV (1ull << 15) /* ABI 5 */

const char *const tether__sandbox_devices[] = {
  "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", NULL
};
const char *const tether__sandbox_tty_devices[] = { "/dev/tty", "/dev/ptmx", "/dev/pts/", NULL };

int tether__landlock_abi(int *err) {
  long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
  *err = v < 0 ? errno : 0;
  return v < 0 ? 0 : (int)v;
}

/* Every filesystem right the ABI knows. */
static uint64_t handled_fs(int abi) {
  uint64_t h = (FS_MAKE_SYM << 1) - 1; /* ABI 1: bits 0..12 */
  if (abi >= 2) h |= FS_REFER;
  if (abi >= 3) h |= FS_TRUNCATE;
  if (abi >= 5) h |= FS_IOCTL_DEV;
  return h;
}

static int add_rule(int rs, const char *path, uint64_t access, bool dir, bool optional,
                    tether__sandbox_failure *f) {
  int fd = open(path, O_PATH | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
  if (fd < 0) {
    int e = errno;
    if (optional) return 0;
    f->error = TETHER_SPAWN_ERR_OTHER;
    f->os_error = e;
    snprintf(f->message, sizeof f->message, "Landlock rule for \"%.300s\": open: %s", path,
             strerror(e));
    return -1;
  }
  if (!dir) {
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode)) { /* only real device files */
      close(fd);
      return 0;
    }
  }
  struct ll_path_beneath_attr pb = { access, fd };
  long rc = syscall(SYS_landlock_add_rule, rs, LL_RULE_PATH_BENEATH, &pb, 0);
  int e = errno;
  close(fd);
  if (rc < 0) {
    f->error = TETHER_SPAWN_ERR_OTHER;
    f->os_error = e;
    snprintf(f->message, sizeof f->message, "landlock_add_rule(\"%.300s\"): %s", path,
             strerror(e));
    return -1;
  }
  return 0;
}

int tether__landlock_ruleset(const tether__sandbox_resolved *r, int abi, int *fd_out,
                             tether__sandbox_failure *f) {
  *fd_out = -1;
  bool fs = r->filesystem == TETHER_FS_READ_ONLY || r->filesystem == TETHER_FS_WORKSPACE_WRITE;
  uint64_t all = handled_fs(abi);
  struct ll_ruleset_attr attr = { fs ? all : (FS_MAKE_CHAR | FS_MAKE_BLOCK), 0, 0 };
  size_t asize = sizeof attr.handled_access_fs; /* what ABI < 4 accepts */
  if (abi >= TETHER__LANDLOCK_ABI_SCOPE) {
    attr.scoped = LL_SCOPE_SIGNAL | LL_SCOPE_ABSTRACT_UNIX_SOCKET;
    asize = sizeof attr;
  }
  long rs = syscall(SYS_landlock_create_ruleset, &attr, asize, 0);
  if (rs < 0) {
    int e = errno;
    f->error = TETHER_SPAWN_ERR_UNSUPPORTED;
    f->os_error = e;
    snprintf(f->message, sizeof f->message, "landlock_create_ruleset: %s", strerror(e));
    return -1;
  }
  int fd = (int)rs;
  if (fs) {
    const uint64_t read = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR;
    /* Never device nodes, not even in a root: as root that would reopen
     * every disk for writing. */
    const uint64_t write = all & ~(FS_MAKE_CHAR | FS_MAKE_BLOCK);
    const uint64_t dev = all & (FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV);
    if (add_rule(fd, "/", read, true, false, f) < 0) goto fail;
    for (size_t i = 0; i < r->nroots; i++)
      if (add_rule(fd, r->roots[i], write, true, false, f) < 0) goto fail;
    if (r->tmpdir && add_rule(fd, r->tmpdir, write, true, false, f) < 0) goto fail;
    for (int k = 0; k < 2; k++) {
      if (k == 1 && !r->tty) break; /* a pipes child has no terminal */
      for (const char *const *d = k ? tether__sandbox_tty_devices : tether__sandbox_devices; *d;
           d++) {
        size_t n = strlen(*d);
        bool dir = (*d)[n - 1] == '/';
        if (add_rule(fd, *d, dir ? dev | FS_READ_DIR : dev, dir, true, f) < 0) goto fail;
      }
    }
  }
  if (fd < 3) { /* keep it off 0..2, which the child's dup2s overwrite */
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int e = errno;
    close(fd);
    if (nfd < 0) {
      f->error = TETHER_SPAWN_ERR_NO_RESOURCES;
      f->os_error = e;
      snprintf(f->message, sizeof f->message, "Landlock ruleset descriptor: %s", strerror(e));
      return -1;
    }
    fd = nfd;
  }
  *fd_out = fd;
  return 0;
fail:
  close(fd);
  return -1;
}

int tether__landlock_restrict(int ruleset_fd) {
  if (syscall(SYS_landlock_restrict_self, ruleset_fd, 0) < 0) return errno;
  return 0;
}
