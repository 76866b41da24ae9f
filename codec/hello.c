/* Handshake helpers (see hello.h). */
#include "codec/hello.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tether/error.h"
#include "tether/version.h"


static int fail(char *msg, size_t msg_len, int code, const char *fmt, ...) {
  if (msg && msg_len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msg_len, fmt, ap);
    va_end(ap);
  }
  return code;
}

static const char *role_name(uint32_t role) {
  switch (role) {
  case TETHER_ROLE_PARENT: return "parent";
  case TETHER_ROLE_RUNNER: return "runner";
  case TETHER_ROLE_UNSPECIFIED: return "unspecified";
  }
  return "unknown";
}

void tether_hello_init(tether_msg *m, uint32_t role, const char *implementation,
                       uint32_t capabilities, uint32_t max_frame_size,
                       uint32_t max_sessions) {
  memset(m, 0, sizeof *m);
  m->session = 0;
  m->type = TETHER_MSG_HELLO;
  tether_msg_hello *h = &m->u.hello;
  h->version_min = TETHER_PROTOCOL_VERSION_MIN;
  h->version_max = TETHER_PROTOCOL_VERSION_MAX;
  h->role = role;
  if (implementation) {
    h->implementation.data = (const uint8_t *)implementation;
    h->implementation.len = strlen(implementation);
  }
  h->implementation_version.data = (const uint8_t *)TETHER_VERSION_STRING;
  h->implementation_version.len = strlen(TETHER_VERSION_STRING);
  h->capabilities = capabilities;
  h->max_frame_size = max_frame_size;
  h->max_sessions = max_sessions;
  h->initial_window = TETHER_WINDOW_DEFAULT;
  h->max_window = TETHER_WINDOW_MAX;
}

/* The smaller of the non-zero values; `dflt` when both are zero. */
static uint32_t min_nonzero(uint32_t a, uint32_t b, uint32_t dflt) {
  if (!a) return b ? b : dflt;
  if (!b) return a;
  return a < b ? a : b;
}

int tether_hello_agree(const tether_msg_hello *ours, const tether_msg_hello *peer,
                       uint32_t expect_role, tether_agreement *out, char *msg,
                       size_t msg_len) {
  if (msg && msg_len) msg[0] = '\0';
  if (!ours || !peer || !out)
    return fail(msg, msg_len, TETHER_EINVAL, "tether_hello_agree: NULL argument");
  memset(out, 0, sizeof *out);

  if (peer->role != expect_role)
    return fail(msg, msg_len, TETHER_EPROTOCOL,
                "peer announced role %s (%u); expected %s", role_name(peer->role),
                peer->role, role_name(expect_role));
  if (peer->version_min < 1 || peer->version_min > peer->version_max)
    return fail(msg, msg_len, TETHER_EPROTOCOL,
                "peer's protocol version range %u..%u is malformed",
                peer->version_min, peer->version_max);

  uint32_t lo = ours->version_min > peer->version_min ? ours->version_min
                                                      : peer->version_min;
  uint32_t hi = ours->version_max < peer->version_max ? ours->version_max
                                                      : peer->version_max;
  if (lo > hi)
    return fail(msg, msg_len, TETHER_EVERSION,
                "no common protocol version: we speak %u..%u, peer speaks %u..%u",
                ours->version_min, ours->version_max, peer->version_min,
                peer->version_max);

  if (peer->max_frame_size < TETHER_FRAME_MAX_MINIMUM ||
      peer->max_frame_size > TETHER_FRAME_MAX_CEILING)
    return fail(msg, msg_len, TETHER_EPROTOCOL,
                "peer's max_frame_size %u is outside [%u, %u]", peer->max_frame_size,
                TETHER_FRAME_MAX_MINIMUM, TETHER_FRAME_MAX_CEILING);

  /* A runner hosts at least one session; a parent's value is informational. */
  if (expect_role == TETHER_ROLE_RUNNER &&
      (peer->max_sessions < 1 || peer->max_sessions > TETHER_SESSIONS_MAX_CEILING))
    return fail(msg, msg_len, TETHER_EPROTOCOL,
                "runner's max_sessions %u is outside [1, %u]", peer->max_sessions,
                TETHER_SESSIONS_MAX_CEILING);

  out->version = hi;
  out->max_frame_out = peer->max_frame_size;
  out->peer_capabilities = peer->capabilities;
  out->peer_max_sessions = peer->max_sessions;
  out->max_window = min_nonzero(ours->max_window, peer->max_window, TETHER_WINDOW_MAX);
  if (out->max_window > TETHER_WINDOW_MAX) out->max_window = TETHER_WINDOW_MAX;
  out->initial_window =
      min_nonzero(ours->initial_window, peer->initial_window, TETHER_WINDOW_DEFAULT);
  /* A window larger than the most outstanding credit could never be used. */
  if (out->initial_window > out->max_window) out->initial_window = out->max_window;
  return 0;
}
