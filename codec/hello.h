/* Handshake helpers shared by parent and runner (codec-neutral). */
#ifndef TETHER_CODEC_HELLO_H
#define TETHER_CODEC_HELLO_H

#include "msg.h"

typedef struct tether_agreement {
  uint32_t version;          /* highest version both speak */
  uint32_t max_frame_out;    /* what we may send: the peer's max_frame_size */
  uint32_t peer_capabilities;
  uint32_t peer_max_sessions;
  uint32_t initial_window;   /* min of both sides' non-zero values */
  uint32_t max_window;
} tether_agreement;

/* Fills a Hello for this build with role, name and limits (versions from
 * tether/limits.h). */
void tether_hello_init(tether_msg *m, uint32_t role, const char *implementation,
                       uint32_t capabilities, uint32_t max_frame_size,
                       uint32_t max_sessions);

/* Checks the peer's Hello against ours: the peer's role must be
 * `expect_role`, its max_frame_size within [TETHER_FRAME_MAX_MINIMUM,
 * TETHER_FRAME_MAX_CEILING], a runner's max_sessions within [1,
 * TETHER_SESSIONS_MAX_CEILING], its version range well-formed (min <= max,
 * min >= 1), and the two ranges must overlap. Returns 0, TETHER_EVERSION (msg names both ranges) or
 * TETHER_EPROTOCOL; `msg` receives a human-readable reason. */
int tether_hello_agree(const tether_msg_hello *ours, const tether_msg_hello *peer,
                       uint32_t expect_role, tether_agreement *out,
                       char *msg, size_t msg_len);

#endif
