/* Platform-neutral transport helpers, written once against the vtable. */
#include "transport.h"

#include "os_wait.h"

void tether_transport_free(tether_transport *t) {
  if (t) t->vt->free(t);
}

int tether_transport_wait(tether_transport *t, int for_write, int timeout_ms) {
  tether_os_handle h = for_write ? t->vt->write_handle(t) : t->vt->read_handle(t);
  if (h != TETHER_INVALID_HANDLE) return tether__wait_handle(h, for_write, timeout_ms);
  if (!t->vt->ready) return TETHER_EINVAL; /* no handle and no way to ask */
  /* Without a handle the bytes can only come from this thread, so blocking
   * would never end: answer now. */
  return t->vt->ready(t, for_write) ? 0 : TETHER_EAGAIN;
}

int tether_transport_write_all(tether_transport *t, const void *buf, size_t len,
                               int timeout_ms) {
  const unsigned char *p = buf;
  int64_t deadline = tether__deadline(timeout_ms);
  while (len > 0) {
    long n = tether_transport_write(t, p, len);
    if (n > 0) {
      p += n;
      len -= (size_t)n;
      continue;
    }
    if (n == 0) return TETHER_EIO; /* a write that moves nothing cannot progress */
    if (n != TETHER_EAGAIN) return (int)n;
    if (deadline >= 0 && tether__remaining_ms(deadline) == 0) return TETHER_ETIMEDOUT;
    int rc = tether_transport_wait(t, 1, tether__remaining_ms(deadline));
    if (rc < 0) return rc;
  }
  return 0;
}
