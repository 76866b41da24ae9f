/* Containment of the runner's whole child tree (PROTOCOL.md §9): every
 * descendant of every session dies with the runner, even when the runner
 * itself is killed with SIGKILL.
 *
 * Linux (contain_linux.c): when the runner may create a PID namespace
 * (CAP_SYS_ADMIN: root), its children are born in one whose init is a tiny
 * process that dies with the runner (PR_SET_PDEATHSIG); the kernel then
 * kills everything left in the namespace, setsid'd and double-forked
 * daemons included. Elsewhere (contain_none.c), and unprivileged on Linux,
 * only the runner's direct children die with it (PR_SET_PDEATHSIG); the
 * rest is ended by process-group kills while the runner lives. */
#ifndef TETHER_RUNNER_CONTAIN_H
#define TETHER_RUNNER_CONTAIN_H

#include <stddef.h>
#include <sys/types.h>

/* Sets up containment for this process's future children. Call once,
 * before the first child is started and while the process has one thread
 * (it changes which PID namespace later children are born in, for the
 * whole process: tether-runner's main calls it; an embedder of
 * libtether_runner does not get it). Returns 1 when the whole tree is
 * contained; 0 on the fallback, -1 when the process can start no child at
 * all any more (the namespace exists but its init could not be started):
 * `why` says which. */
int tether__contain_init(char *why, size_t len);

/* Around the fork of a session's child: children forked between enter and
 * leave are born in the runner's PID namespace; any other process the
 * runner forks (a sanitizer's helper, say) is born beside the runner as
 * before. enter returns 0 or the errno that failed (then the spawn must
 * fail: its child would not be contained); both are no-ops when not
 * contained. */
int tether__contain_enter(void);
void tether__contain_leave(void);

/* What a newly forked child sees as getppid() while the runner is alive:
 * the runner's pid, or 0 when children are born in the runner's PID
 * namespace (their parent lives outside it). */
pid_t tether__contain_child_ppid(void);

/* In a new child, before exec (async-signal-safe): when contained, gives
 * the child a mount namespace of its own (mounts propagate into it, never
 * out) with a /proc of the runner's PID namespace, so getpid() and
 * /proc/self agree (ps and friends work) and it lists the runner's
 * children. Best effort (a container may refuse a new /proc): returns 0,
 * or an errno when the child must not run. */
int tether__contain_child(void);

#endif
