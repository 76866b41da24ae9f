/* Tests only: queue one frame by copying `len` bytes (reserve + commit),
 * the copy the library itself never needs. */
#ifndef TETHER_TEST_CHANNEL_SEND_H
#define TETHER_TEST_CHANNEL_SEND_H

#include <string.h>

#include "transport/channel.h"

static inline int channel_send(tether_channel *ch, const uint8_t *payload, size_t len) {
  int rc;
  uint8_t *p = tether_channel_reserve(ch, len, &rc);
  if (!p) return rc;
  memcpy(p, payload, len);
  return tether_channel_commit(ch, len);
}

#endif
