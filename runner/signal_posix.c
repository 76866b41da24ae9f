/* Portable SignalNumber <-> POSIX signal numbers. The wire values follow
 * the classic numbering but are tether's own; the OS numbers differ between
 * platforms (SIGBUS, SIGUSR1, SIGSTOP... on the BSDs), so always map. */
#include <signal.h>

#include "runner_internal.h"

static const struct { uint32_t portable; int os; } table[] = {
  { TETHER_SIG_HUP, SIGHUP },   { TETHER_SIG_INT, SIGINT },
  { TETHER_SIG_QUIT, SIGQUIT }, { TETHER_SIG_ILL, SIGILL },
  { TETHER_SIG_TRAP, SIGTRAP }, { TETHER_SIG_ABRT, SIGABRT },
  { TETHER_SIG_BUS, SIGBUS },   { TETHER_SIG_FPE, SIGFPE },
  { TETHER_SIG_KILL, SIGKILL }, { TETHER_SIG_USR1, SIGUSR1 },
  { TETHER_SIG_SEGV, SIGSEGV }, { TETHER_SIG_USR2, SIGUSR2 },
  { TETHER_SIG_PIPE, SIGPIPE }, { TETHER_SIG_ALRM, SIGALRM },
  { TETHER_SIG_TERM, SIGTERM }, { TETHER_SIG_CONT, SIGCONT },
  { TETHER_SIG_STOP, SIGSTOP }, { TETHER_SIG_TSTP, SIGTSTP },
  { TETHER_SIG_XCPU, SIGXCPU },  { TETHER_SIG_XFSZ, SIGXFSZ },
  { TETHER_SIG_WINCH, SIGWINCH },
};

int tether__signal_to_os(uint32_t portable) {
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (table[i].portable == portable) return table[i].os;
  return 0;
}

uint32_t tether__signal_from_os(int sig) {
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (table[i].os == sig) return table[i].portable;
  return 0;
}
