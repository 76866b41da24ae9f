/* The descriptor-based entry points of transport.h on Windows, so the
 * parent's and runner's public fd functions (tether_parent_attach_fds,
 * tether_parent_connect_unix) mean something there too:
 *   - tether_transport_fd_new takes C runtime descriptors (_open_osfhandle,
 *     _fileno): their handles are duplicated into a handle-pair transport
 *     (transport_handle_win.c) and the descriptors closed.
 *   - Unix-domain sockets are not supported on Windows builds:
 *     tether_transport_unix_connect returns TETHER_EUNSUPPORTED. */
#include <io.h>

#include "transport_win.h"

int tether_transport_fd_new(int read_fd, int write_fd, tether_transport **out) {
  HANDLE self = GetCurrentProcess();
  HANDLE r = NULL, w = NULL;
  int rc = 0;
  *out = NULL;
  HANDLE rh = read_fd >= 0 ? (HANDLE)_get_osfhandle(read_fd) : INVALID_HANDLE_VALUE;
  HANDLE wh = write_fd >= 0 ? (HANDLE)_get_osfhandle(write_fd) : INVALID_HANDLE_VALUE;
  if (rh == INVALID_HANDLE_VALUE || wh == INVALID_HANDLE_VALUE ||
      !DuplicateHandle(self, rh, self, &r, 0, FALSE, DUPLICATE_SAME_ACCESS) ||
      !DuplicateHandle(self, wh, self, &w, 0, FALSE, DUPLICATE_SAME_ACCESS))
    rc = TETHER_EINVAL;
  if (read_fd >= 0) _close(read_fd);
  if (write_fd >= 0 && write_fd != read_fd) _close(write_fd);
  if (rc < 0) {
    if (r) CloseHandle(r);
    if (w) CloseHandle(w);
    return rc;
  }
  return tether_transport_handle_new(r, w, out); /* owns both, also on failure */
}

int tether_transport_unix_connect(const char *path, int timeout_ms, tether_transport **out) {
  (void)path;
  (void)timeout_ms;
  *out = NULL;
  return TETHER_EUNSUPPORTED;
}
