/* Internal: the per-platform waiting and clock primitives the shared
 * transport and channel code is built on (wait_posix.c, later wait_win.c). */
#ifndef TETHER_TRANSPORT_OS_WAIT_H
#define TETHER_TRANSPORT_OS_WAIT_H

#include <stdint.h>

#include "tether/os.h"

/* Monotonic milliseconds, for deadlines. */
int64_t tether__now_ms(void);

/* A deadline for timeout_ms (< 0: none, returned as -1). */
int64_t tether__deadline(int timeout_ms);
/* Milliseconds left until `deadline` (0 if passed, -1 if none). */
int tether__remaining_ms(int64_t deadline);

/* Waits for `h` to become readable (or writable). 0 when ready, including
 * hang-up and error conditions (the next I/O call reports them);
 * TETHER_ETIMEDOUT; TETHER_EIO if the handle is invalid. */
int tether__wait_handle(tether_os_handle h, int for_write, int timeout_ms);

/* Sleeps for `ms` milliseconds, resuming after signals. */
void tether__sleep_ms(int ms);

#endif
