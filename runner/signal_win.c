/* Portable signal numbers on Windows. There are no signals: the runner
 * delivers what has a Windows meaning (see tether__session_signal in
 * session_win.c) and answers Error{UNSUPPORTED} for the rest
 * (docs/PROTOCOL.md §5.6, docs/WINDOWS.md):
 *   KILL        TerminateProcess (the child) or TerminateJobObject (group)
 *   INT, TERM   CTRL_BREAK_EVENT to the child's console process group
 *               (best effort: only for a child sharing the runner's console)
 * The "OS number" is the portable number itself. */
#include "runner_internal.h"

int tether__signal_to_os(uint32_t portable) {
  switch (portable) {
  case TETHER_SIG_KILL:
  case TETHER_SIG_INT:
  case TETHER_SIG_TERM:
    return (int)portable;
  case TETHER_SIG_HUP: case TETHER_SIG_QUIT: case TETHER_SIG_ILL: case TETHER_SIG_TRAP:
  case TETHER_SIG_ABRT: case TETHER_SIG_BUS: case TETHER_SIG_FPE: case TETHER_SIG_USR1:
  case TETHER_SIG_SEGV: case TETHER_SIG_USR2: case TETHER_SIG_PIPE: case TETHER_SIG_ALRM:
  case TETHER_SIG_CONT: case TETHER_SIG_STOP: case TETHER_SIG_TSTP: case TETHER_SIG_WINCH:
    return -1; /* known, not deliverable here */
  default:
    return 0;
  }
}

uint32_t tether__signal_from_os(int sig) {
  return sig == TETHER_SIG_KILL || sig == TETHER_SIG_INT || sig == TETHER_SIG_TERM ? (uint32_t)sig
                                                                                 : 0;
}
