/* tether — Windows platform types. */
#ifndef TETHER_OS_WIN_H
#define TETHER_OS_WIN_H

#include <stddef.h>

/* What an event loop waits on: a HANDLE (an event object), kept as void *
 * so this header does not pull in <windows.h>. */
typedef void *tether_os_handle;
#define TETHER_INVALID_HANDLE ((void *)0)

#endif
