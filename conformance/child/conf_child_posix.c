/* tether-conf-child, POSIX parts. */
#include "conf_child.h"

#include <errno.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
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

int conf_chmod(const char *path) { return chmod(path, 0777) == 0 ? 0 : errno; }

int conf_tiocsti(void) {
#ifdef TIOCSTI
  char c = '#';
  return ioctl(0, TIOCSTI, &c) == 0 ? 0 : errno;
#else
  return ENOSYS;
#endif
}

#if defined(__SANITIZE_ADDRESS__)
/* In a sandbox seccomp refuses ptrace, which LeakSanitizer's exit-time
 * check needs (it would fail the child); this tiny program frees nothing
 * worth checking. */
__attribute__((visibility("default"))) const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "detect_leaks=0"; }
#endif
