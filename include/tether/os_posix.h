/* tether — POSIX platform types. */
#ifndef TETHER_OS_POSIX_H
#define TETHER_OS_POSIX_H

/* What an event loop waits on: a file descriptor. */
typedef int tether_os_handle;
#define TETHER_INVALID_HANDLE (-1)

#endif
