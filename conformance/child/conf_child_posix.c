/* tether-conf-child, POSIX parts. */
#include "conf_child.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

void conf_stdio(FILE **in, FILE **out, FILE **err) {
  *in = stdin;
  *out = stdout;
  *err = stderr;
}

void conf_sleep_ms(unsigned ms) {
  struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) != 0) {
  }
}

void conf_ignore_term(void) { signal(SIGTERM, SIG_IGN); }

int conf_getcwd(char *buf, size_t len) { return getcwd(buf, len) ? 0 : -1; }

unsigned long long conf_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (unsigned long long)ts.tv_sec * 1000u + (unsigned long long)ts.tv_nsec / 1000000u;
}
