/* Internal: what the Windows transports share (transport_npipe_win.c,
 * npipe_server_win.c, transport_handle_win.c). */
#ifndef TETHER_TRANSPORT_WIN_H
#define TETHER_TRANSPORT_WIN_H

#ifndef WIN32_LEAN_AND_MEAN
#  define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include "transport.h"

/* Bytes moved per overlapped read or write: the size of the internal
 * buffers each direction of a transport keeps. */
#define TETHER__WIN_CHUNK (64u << 10)

/* How long freeing a transport waits for a write it already accepted (and
 * reported as written) to reach the pipe, before cancelling it. Only a peer
 * that stopped reading makes this wait. */
#define TETHER__WIN_CLOSE_GRACE_MS 2000

/* Longest pipe name: "\\.\pipe\" plus 256 characters. */
#define TETHER__NPIPE_NAME_MAX 265

/* A Win32 error as a tether code: a peer that went away is TETHER_ECLOSED,
 * exhausted resources TETHER_EOS, anything else TETHER_EIO. */
static inline int tether__win_error(DWORD e) {
  switch (e) {
  case ERROR_BROKEN_PIPE:
  case ERROR_NO_DATA:
  case ERROR_PIPE_NOT_CONNECTED:
  case ERROR_NETNAME_DELETED:
    return TETHER_ECLOSED;
  case ERROR_NOT_ENOUGH_MEMORY:
  case ERROR_OUTOFMEMORY:
  case ERROR_NO_SYSTEM_RESOURCES:
  case ERROR_TOO_MANY_OPEN_FILES:
  case ERROR_COMMITMENT_LIMIT:
    return TETHER_EOS;
  default:
    return TETHER_EIO;
  }
}

/* Wraps a connected, overlapped named-pipe handle (either end) as a
 * transport, taking ownership of `h` (closed on failure). */
int tether__npipe_wrap(HANDLE h, tether_transport **out);

/* UTF-8 pipe name -> UTF-16, checked: it must be a local pipe name,
 * "\\.\pipe\" and at least one more character, valid UTF-8, at most
 * TETHER__NPIPE_NAME_MAX UTF-16 units. TETHER_EADDRESS otherwise. `out`
 * holds TETHER__NPIPE_NAME_MAX + 1 units. */
int tether__npipe_wide_name(const char *name, wchar_t *out);

#endif
