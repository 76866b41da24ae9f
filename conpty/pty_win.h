/* Windows-only part of the pty interface (conpty/pty.h): a ConPTY
 * pseudoconsole and how the runner attaches a child to it and learns of
 * its output. Internal. */
#ifndef TETHER_CONPTY_PTY_WIN_H
#define TETHER_CONPTY_PTY_WIN_H

#ifndef WIN32_LEAN_AND_MEAN
#  define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include "conpty/pty.h"

/* The HPCON, for UpdateProcThreadAttribute(PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE). */
HPCON tether__pty_hpcon(tether__pty *p);

/* An event set (SetEvent) whenever output, the end of output, or room for
 * input becomes available: the runner's wake event (borrowed). Set at once
 * if something is already waiting. */
void tether__pty_set_wake(tether__pty *p, HANDLE wake);

/* True when tether__pty_read would not return TETHER_EAGAIN. */
int tether__pty_readable(tether__pty *p);
/* True when tether__pty_write would not return TETHER_EAGAIN. */
int tether__pty_writable(tether__pty *p);

/* The child has exited: close the pseudoconsole (ClosePseudoConsole, on a
 * thread of its own) while output keeps being drained, so its last output
 * is still read and the output then ends (tether__pty_read returns 0).
 * ConPTY has no "last process left" notion the runner could see, so this
 * is how a terminal session's output ends; processes still attached to
 * the console are sent CTRL_CLOSE_EVENT by the console. Idempotent. */
void tether__pty_hangup(tether__pty *p);

#endif
