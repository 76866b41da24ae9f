/* tether — POSIX platform types. */
#ifndef TETHER_OS_POSIX_H
#define TETHER_OS_POSIX_H

#include <sys/uio.h>

/* What an event loop waits on: a file descriptor. */
typedef int tether_os_handle;
#define TETHER_INVALID_HANDLE (-1)

/* A gather buffer, layout-compatible with struct iovec. */
typedef struct iovec tether_iov;
#define TETHER_IOV(ptr, n) ((tether_iov){ .iov_base = (void *)(ptr), .iov_len = (n) })

#endif
