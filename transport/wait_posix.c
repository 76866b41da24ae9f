/* POSIX waiting: poll(2) against a CLOCK_MONOTONIC deadline, so a signal
 * (EINTR) or a wall-clock jump never stretches or shortens a timeout. */
#include "os_wait.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <time.h>

#include "tether/error.h"

int64_t tether__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tether__deadline(int timeout_ms) {
  return timeout_ms < 0 ? -1 : tether__now_ms() + timeout_ms;
}

int tether__remaining_ms(int64_t deadline) {
  if (deadline < 0) return -1;
  int64_t left = deadline - tether__now_ms();
  if (left <= 0) return 0;
  return left > INT_MAX ? INT_MAX : (int)left;
}

int tether__wait_handle(tether_os_handle h, int for_write, int timeout_ms) {
  int64_t deadline = tether__deadline(timeout_ms);
  struct pollfd p = { .fd = h, .events = (short)(for_write ? POLLOUT : POLLIN) };
  for (;;) {
    p.revents = 0;
    int n = poll(&p, 1, tether__remaining_ms(deadline));
    if (n < 0) {
      if (errno == EINTR) continue;
      return TETHER_EIO;
    }
    if (n == 0) return TETHER_ETIMEDOUT;
    if (p.revents & POLLNVAL) return TETHER_EIO;
    return 0; /* POLLIN/POLLOUT, or POLLHUP/POLLERR that the next call reports */
  }
}

void tether__sleep_ms(int ms) {
  struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}
