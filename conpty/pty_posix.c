/* POSIX pseudo-terminals: posix_openpt + grantpt + unlockpt, the slave
 * opened by TIOCGPTPEER where the kernel has it (Linux >= 4.13: no path
 * lookup, works in a container whose /dev/pts is another instance) or by
 * name (ptsname_r, else ptsname).
 *
 * Linux-specific behaviour relied on, and what other systems do instead:
 *   - Reading the master after every slave descriptor was closed returns
 *     the buffered output first and then fails with EIO (the n_tty read
 *     flushes the pending buffer work before it reports the hang-up, so no
 *     byte is lost). The BSDs and macOS return 0 instead. Both map to 0.
 *   - termios, window-size and foreground-group ioctls on the master act on
 *     the slave side. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "conpty/pty_posix.h"

#ifndef _POSIX_VDISABLE
#define _POSIX_VDISABLE '\0'
#endif

/* Room for a slave name ("/dev/pts/123456", "/dev/ttys000"). */
#define SLAVE_NAME_MAX 128

struct tether__pty {
  int master;                    /* non-blocking, CLOEXEC */
  int slave;                     /* CLOEXEC; -1 once the runner dropped it */
  char name[SLAVE_NAME_MAX];     /* for the TIOCSCTTY-less fallback */
};

static int set_cloexec(int fd) {
  int fl = fcntl(fd, F_GETFD);
  return fl < 0 ? -1 : fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

static int set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int open_master(void) {
  int fd = -1;
#ifdef O_CLOEXEC
  /* glibc and FreeBSD pass the flag through; others may reject it. */
  fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd >= 0) return fd;
  if (errno != EINVAL) return -1;
#endif
  fd = posix_openpt(O_RDWR | O_NOCTTY);
  if (fd >= 0 && set_cloexec(fd) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

static int slave_name(int master, char *buf, size_t cap) {
#ifdef TETHER_HAVE_PTSNAME_R
  int e = ptsname_r(master, buf, cap);
  if (e) {
    errno = e;
    return -1;
  }
  return 0;
#else
  const char *n = ptsname(master); /* not thread-safe; the fallback only */
  if (!n) return -1;
  if (strlen(n) >= cap) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(buf, n, strlen(n) + 1);
  return 0;
#endif
}

static int open_slave(tether__pty *p) {
#ifdef TIOCGPTPEER
  int fd = ioctl(p->master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd >= 0) return fd;
  /* EINVAL/ENOTTY: an older kernel; fall back to the name. */
#endif
  int s = open(p->name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  return s;
}

static int apply_size(int fd, unsigned rows, unsigned cols) {
  struct winsize ws;
  memset(&ws, 0, sizeof ws);
  ws.ws_row = (unsigned short)rows;
  ws.ws_col = (unsigned short)cols;
  int rc;
  do rc = ioctl(fd, TIOCSWINSZ, &ws);
  while (rc < 0 && errno == EINTR);
  return rc;
}

static bool size_ok(unsigned rows, unsigned cols) {
  return rows >= 1 && cols >= 1 && rows <= TETHER__PTY_MAX_DIM && cols <= TETHER__PTY_MAX_DIM;
}

int tether__pty_open(unsigned rows, unsigned cols, tether__pty **out, int *os_error) {
  *out = NULL;
  *os_error = 0;
  if (!size_ok(rows, cols)) return TETHER_EINVAL;
  tether__pty *p = calloc(1, sizeof *p);
  if (!p) return TETHER_ENOMEM;
  p->master = p->slave = -1;
  p->master = open_master();
  if (p->master < 0) goto os_fail;
  if (grantpt(p->master) < 0 || unlockpt(p->master) < 0) goto os_fail;
  if (slave_name(p->master, p->name, sizeof p->name) < 0) goto os_fail;
  p->slave = open_slave(p);
  if (p->slave < 0) goto os_fail;
  if (set_nonblock(p->master) < 0) goto os_fail;
  if (apply_size(p->master, rows, cols) < 0) goto os_fail;
  *out = p;
  return 0;
os_fail:
  *os_error = errno;
  tether__pty_free(p);
  return TETHER_EOS;
}

void tether__pty_free(tether__pty *p) {
  if (!p) return;
  if (p->slave >= 0) close(p->slave);
  if (p->master >= 0) close(p->master);
  free(p);
}

void tether__pty_close_child_end(tether__pty *p) {
  if (p->slave >= 0) close(p->slave);
  p->slave = -1;
}

tether_os_handle tether__pty_output_handle(const tether__pty *p) { return p->master; }
tether_os_handle tether__pty_input_handle(const tether__pty *p) { return p->master; }

long tether__pty_read(tether__pty *p, uint8_t *buf, size_t len) {
  for (;;) {
    ssize_t n = read(p->master, buf, len);
    if (n >= 0) return (long)n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return TETHER_EAGAIN;
    if (errno == EIO) return 0; /* every slave end closed, buffer drained */
    return TETHER_EIO;
  }
}

long tether__pty_write(tether__pty *p, const uint8_t *buf, size_t len) {
  for (;;) {
    ssize_t n = write(p->master, buf, len);
    if (n >= 0) return (long)n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return TETHER_EAGAIN;
    return TETHER_ECLOSED; /* EIO: hung up */
  }
}

int tether__pty_resize(tether__pty *p, unsigned rows, unsigned cols) {
  if (!size_ok(rows, cols)) return TETHER_EINVAL;
  return apply_size(p->master, rows, cols) < 0 ? TETHER_EOS : 0;
}

static bool is_char(const struct termios *t, int idx, int c) {
  cc_t v = t->c_cc[idx];
  return v != (cc_t)_POSIX_VDISABLE && (int)(unsigned char)v == c;
}

size_t tether__pty_eof_sequence(tether__pty *p, int last_byte, uint8_t out[2]) {
  struct termios t;
  bool canon = true, icrnl = true, igncr = false;
  uint8_t eof = 0x04; /* ^D, the default VEOF */
  bool have = p->master >= 0 && tcgetattr(p->master, &t) == 0;
  if (have) {
    canon = (t.c_lflag & ICANON) != 0;
    icrnl = (t.c_iflag & ICRNL) != 0;
    igncr = (t.c_iflag & IGNCR) != 0;
    if (t.c_cc[VEOF] != (cc_t)_POSIX_VDISABLE) eof = (uint8_t)t.c_cc[VEOF];
  }
  out[0] = eof;
  if (!canon) return 1;
  bool line_start = last_byte < 0 || last_byte == '\n' || last_byte == eof ||
                    (last_byte == '\r' && icrnl && !igncr);
  if (have && !line_start) {
    line_start = is_char(&t, VEOL, last_byte);
#ifdef VEOL2
    line_start = line_start || is_char(&t, VEOL2, last_byte);
#endif
  }
  if (line_start) return 1;
  out[1] = eof;
  return 2;
}

/* ---- fork hooks ---- */

int tether__pty_child_attach(const tether__pty *p) {
  int slave = p->slave;
  if (slave < 0) return EBADF;
  if (setsid() < 0) return errno;
#ifdef TIOCSCTTY
  if (ioctl(slave, TIOCSCTTY, 0) < 0) return errno;
#else
  /* System V style: the first terminal a session leader opens without
   * O_NOCTTY becomes its controlling terminal. */
  int ctty = open(p->name, O_RDWR);
  if (ctty < 0) return errno;
  close(ctty);
#endif
  /* Keep the slave off 0..2 while they are being replaced. */
  if (slave < 3) {
    slave = fcntl(slave, F_DUPFD_CLOEXEC, 3);
    if (slave < 0) return errno;
  }
  for (int fd = 0; fd < 3; fd++)
    if (dup2(slave, fd) < 0) return errno;
  return 0;
}

pid_t tether__pty_foreground_pgrp(const tether__pty *p) {
  if (p->master < 0) return -1;
  pid_t g = tcgetpgrp(p->master);
  return g > 0 ? g : -1;
}
