/* Namespaces (Linux): a fresh network namespace for NETWORK_MODE_DENIED, a
 * private mount namespace for a restricted filesystem, a private IPC
 * namespace always, and a user namespace around them when the runner is
 * not root. The child-side functions make
 * async-signal-safe system calls only. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/linux.h"

void tether__ns_id_maps(char *uid_map, size_t ulen, char *gid_map, size_t glen) {
  snprintf(uid_map, ulen, "%lu %lu 1\n", (unsigned long)geteuid(), (unsigned long)geteuid());
  snprintf(gid_map, glen, "%lu %lu 1\n", (unsigned long)getegid(), (unsigned long)getegid());
}

static int write_file(const char *path, const char *s) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  size_t n = strlen(s);
  ssize_t w = write(fd, s, n);
  int e = w == (ssize_t)n ? 0 : (w < 0 ? errno : EIO);
  close(fd);
  return e;
}

int tether__ns_enter(int flags, bool userns, const char *uid_map, const char *gid_map) {
  if (userns) flags |= CLONE_NEWUSER;
  if (unshare(flags) < 0) return TETHER__SB_PACK(TETHER__SB_UNSHARE, 0, errno);
  if (!userns) return 0;
  int e = write_file("/proc/self/setgroups", "deny");
  if (e && e != ENOENT) return TETHER__SB_PACK(TETHER__SB_SETGROUPS, 0, e);
  if ((e = write_file("/proc/self/uid_map", uid_map)))
    return TETHER__SB_PACK(TETHER__SB_UID_MAP, 0, e);
  if ((e = write_file("/proc/self/gid_map", gid_map)))
    return TETHER__SB_PACK(TETHER__SB_GID_MAP, 0, e);
  return 0;
}

void tether__ns_loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, "lo", 3);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    (void)ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  close(s);
}

int tether__ns_probe(int flags, bool userns, bool rdonly_tree) {
  char um[64], gm[64];
  tether__ns_id_maps(um, sizeof um, gm, sizeof gm);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = fork();
  if (pid == 0) {
    int rc = tether__ns_enter(flags, userns, um, gm);
    if (rc) _exit((rc & 0xffff) > 0 && (rc & 0xffff) < 256 ? rc & 0xffff : 1);
    if ((flags & CLONE_NEWNS) && mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
      _exit(errno > 0 && errno < 256 ? errno : 1);
    if (rdonly_tree) {
      int e = tether__mount_tree_rdonly();
      if (e) _exit(e > 0 && e < 256 ? e : 1);
    }
    _exit(0);
  }
  int e = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (pid < 0) return e;
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return ECHILD;
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  return EPERM;
}
