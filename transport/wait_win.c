/* Windows waiting: WaitForMultipleObjects on the transports' event handles
 * against a QueryPerformanceCounter deadline (monotonic, unaffected by
 * wall-clock changes). Nothing here is alertable, so APCs never cut a wait
 * short. */
#include "os_wait.h"

#ifndef WIN32_LEAN_AND_MEAN
#  define WIN32_LEAN_AND_MEAN
#endif
#include <limits.h>
#include <windows.h>

#include "tether/error.h"

int64_t tether__now_ms(void) {
  static LARGE_INTEGER freq; /* constant while the system runs */
  LARGE_INTEGER now;
  if (freq.QuadPart == 0) QueryPerformanceFrequency(&freq);
  QueryPerformanceCounter(&now);
  return (int64_t)(now.QuadPart / freq.QuadPart) * 1000 +
         (int64_t)(now.QuadPart % freq.QuadPart) * 1000 / freq.QuadPart;
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

/* The transports keep their event signalled for exactly the state being
 * waited for (for_write picks which event the caller passed), so one
 * object is waited on either way. */
int tether__wait_handle(tether_os_handle h, int for_write, int timeout_ms) {
  (void)for_write;
  if (h == TETHER_INVALID_HANDLE || h == INVALID_HANDLE_VALUE) return TETHER_EIO;
  HANDLE hs[1] = { h };
  DWORD w = WaitForMultipleObjects(1, hs, FALSE, timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms);
  if (w == WAIT_OBJECT_0) return 0;
  if (w == WAIT_TIMEOUT) return TETHER_ETIMEDOUT;
  return TETHER_EIO; /* WAIT_FAILED: not a waitable handle */
}

void tether__sleep_ms(int ms) {
  if (ms > 0) Sleep((DWORD)ms);
}
