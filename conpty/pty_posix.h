/* tether — POSIX-only part of the pty interface: the hooks a fork/exec
 * spawner uses to make the terminal a child's controlling terminal, and the
 * job-control query signals need. Internal. */
#ifndef TETHER_CONPTY_PTY_POSIX_H
#define TETHER_CONPTY_PTY_POSIX_H

#include <sys/types.h>

#include "conpty/pty.h"

/* In the child between fork and exec. Async-signal-safe (system calls on
 * prepared data only). Makes the child a session leader (setsid, so it is
 * also its own process group leader), makes the terminal its controlling
 * terminal (TIOCSCTTY, or reopening the slave by name where TIOCSCTTY does
 * not exist), and puts the terminal on descriptors 0, 1 and 2 (all three:
 * a caller that wants another stdin dup2s over 0 afterwards). The slave
 * descriptor itself stays close-on-exec. Returns 0 or an errno value; on
 * failure the child should report it and _exit. */
int tether__pty_child_attach(const tether__pty *p);

/* The terminal's foreground process group (tcgetpgrp on the master), or -1
 * if there is none (e.g. the session leader is gone) or the platform does
 * not answer it for the master side (Linux does). */
pid_t tether__pty_foreground_pgrp(const tether__pty *p);

#endif
