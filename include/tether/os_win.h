/* tether — Windows platform types. */
#ifndef TETHER_OS_WIN_H
#define TETHER_OS_WIN_H

#include <stddef.h>

/* What an event loop waits on: a HANDLE (an event object), kept as void *
 * so this header does not pull in <windows.h>. */
typedef void *tether_os_handle;
#define TETHER_INVALID_HANDLE ((void *)0)

typedef struct tether_iov {
  void *iov_base;
  size_t iov_len;
} tether_iov;
#define TETHER_IOV(ptr, n) ((tether_iov){ .iov_base = (void *)(ptr), .iov_len = (n) })

#endif
