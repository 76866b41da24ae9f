/* Handshake helpers: tether_hello_init / tether_hello_agree. */
#include "harness.h"

#include "codec/hello.h"
#include "tether/error.h"

#define CHECK_RC(expr, want)                                                   \
  do {                                                                         \
    int rc__ = (expr);                                                         \
    if (rc__ != (want)) FAIL("%s returned %d, want %d", #expr, rc__, (int)(want)); \
  } while (0)

static tether_msg_hello peer_hello(uint32_t role, uint32_t vmin, uint32_t vmax) {
  tether_msg m;
  tether_hello_init(&m, role, "peer", TETHER_CAP_BIT(TETHER_CAP_PTY),
                    TETHER_FRAME_MAX_DEFAULT, 7);
  m.u.hello.version_min = vmin;
  m.u.hello.version_max = vmax;
  return m.u.hello;
}

static tether_msg_hello ours_hello(uint32_t vmin, uint32_t vmax) {
  tether_msg m;
  tether_hello_init(&m, TETHER_ROLE_PARENT, "tether-parent", 0,
                    TETHER_FRAME_MAX_DEFAULT, 1);
  m.u.hello.version_min = vmin;
  m.u.hello.version_max = vmax;
  return m.u.hello;
}

TEST(init_fills_hello) {
  tether_msg m;
  memset(&m, 0xAB, sizeof m);
  tether_hello_init(&m, TETHER_ROLE_RUNNER, "tether-runner", 6, 1u << 20, 9);
  CHECK_EQ_INT(m.type, TETHER_MSG_HELLO);
  CHECK_EQ_INT(m.session, 0);
  CHECK_EQ_INT(m.u.hello.version_min, TETHER_PROTOCOL_VERSION_MIN);
  CHECK_EQ_INT(m.u.hello.version_max, TETHER_PROTOCOL_VERSION_MAX);
  CHECK_EQ_INT(m.u.hello.role, TETHER_ROLE_RUNNER);
  CHECK_EQ_MEM(m.u.hello.implementation.data, m.u.hello.implementation.len,
               "tether-runner", 13);
  CHECK(m.u.hello.implementation_version.len > 0);
  CHECK_EQ_INT(m.u.hello.capabilities, 6);
  CHECK_EQ_INT(m.u.hello.max_frame_size, 1u << 20);
  CHECK_EQ_INT(m.u.hello.max_sessions, 9);
  CHECK_EQ_INT(m.u.hello.initial_window, TETHER_WINDOW_DEFAULT);
  CHECK_EQ_INT(m.u.hello.max_window, TETHER_WINDOW_MAX);
  CHECK_EQ_INT(tether_msg_validate(&m, NULL), 0);
}

TEST(overlap_picks_highest_common) {
  tether_msg_hello ours = ours_hello(1, 4), peer = peer_hello(TETHER_ROLE_RUNNER, 2, 9);
  tether_agreement a;
  char msg[160];
  CHECK_RC(tether_hello_agree(&ours, &peer, TETHER_ROLE_RUNNER, &a, msg, sizeof msg), 0);
  CHECK_EQ_INT(a.version, 4);
  CHECK_EQ_INT(a.max_frame_out, TETHER_FRAME_MAX_DEFAULT);
  CHECK_EQ_INT(a.peer_capabilities, TETHER_CAP_BIT(TETHER_CAP_PTY));
  CHECK_EQ_INT(a.peer_max_sessions, 7);
  CHECK_EQ_INT(a.initial_window, TETHER_WINDOW_DEFAULT);
  CHECK_EQ_INT(a.max_window, TETHER_WINDOW_MAX);
  /* Identical single versions. */
  ours = ours_hello(1, 1), peer = peer_hello(TETHER_ROLE_RUNNER, 1, 1);
  CHECK_RC(tether_hello_agree(&ours, &peer, TETHER_ROLE_RUNNER, &a, msg, sizeof msg), 0);
  CHECK_EQ_INT(a.version, 1);
}

TEST(no_overlap_names_both_ranges) {
  tether_msg_hello ours = ours_hello(1, 1), peer = peer_hello(TETHER_ROLE_RUNNER, 2, 3);
  tether_agreement a;
  char msg[160];
  CHECK_RC(tether_hello_agree(&ours, &peer, TETHER_ROLE_RUNNER, &a, msg, sizeof msg),
           TETHER_EVERSION);
  CHECK_EQ_STR(msg, "no common protocol version: we speak 1..1, peer speaks 2..3");
  ours = ours_hello(5, 8), peer = peer_hello(TETHER_ROLE_RUNNER, 1, 4);
  CHECK_RC(tether_hello_agree(&ours, &peer, TETHER_ROLE_RUNNER, &a, msg, sizeof msg),
           TETHER_EVERSION);
  CHECK_EQ_STR(msg, "no common protocol version: we speak 5..8, peer speaks 1..4");
  /* NULL / zero-size message buffers are allowed. */
  CHECK_RC(tether_hello_agree(&ours, &peer, TETHER_ROLE_RUNNER, &a, NULL, 0),
           TETHER_EVERSION);
  char tiny[8];
  CHECK_RC(tether_hello_agree(&ours, &peer, TETHER_ROLE_RUNNER, &a, tiny, sizeof tiny),
           TETHER_EVERSION);
  CHECK_EQ_INT(strlen(tiny), 7);
}

TEST(wrong_role) {
  tether_msg_hello ours = ours_hello(1, 1), peer = peer_hello(TETHER_ROLE_PARENT, 1, 1);
  tether_agreement a;
  char msg[160];
  CHECK_RC(tether_hello_agree(&ours, &peer, TETHER_ROLE_RUNNER, &a, msg, sizeof msg),
           TETHER_EPROTOCOL);
  CHECK(strstr(msg, "role") != NULL);
  peer.role = 77;
  CHECK_RC(tether_hello_agree(&ours, &peer, TETHER_ROLE_RUNNER, &a, msg, sizeof msg),
           TETHER_EPROTOCOL);
}

TEST(frame_size_bounds) {
  tether_msg_hello ours = ours_hello(1, 1), peer = peer_hello(TETHER_ROLE_RUNNER, 1, 1);
  tether_agreement a;
  char msg[160];
  static const struct { uint32_t size; int rc; } cases[] = {
      {0, TETHER_EPROTOCOL},
      {TETHER_FRAME_MAX_MINIMUM - 1, TETHER_EPROTOCOL},
      {TETHER_FRAME_MAX_MINIMUM, 0},
      {TETHER_FRAME_MAX_CEILING, 0},
      {TETHER_FRAME_MAX_CEILING + 1, TETHER_EPROTOCOL},
      {UINT32_MAX, TETHER_EPROTOCOL}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    peer.max_frame_size = cases[i].size;
    CHECK_RC(tether_hello_agree(&ours, &peer, TETHER_ROLE_RUNNER, &a, msg, sizeof msg),
             cases[i].rc);
    if (cases[i].rc == 0) CHECK_EQ_INT(a.max_frame_out, cases[i].size);
    else CHECK(strstr(msg, "max_frame_size") != NULL);
  }
}

TEST(malformed_version_range) {
  tether_msg_hello ours = ours_hello(1, 1), peer = peer_hello(TETHER_ROLE_RUNNER, 3, 2);
  tether_agreement a;
  char msg[160];
  CHECK_RC(tether_hello_agree(&ours, &peer, TETHER_ROLE_RUNNER, &a, msg, sizeof msg),
           TETHER_EPROTOCOL);
  CHECK(strstr(msg, "3..2") != NULL);
  peer = peer_hello(TETHER_ROLE_RUNNER, 0, 1);
  CHECK_RC(tether_hello_agree(&ours, &peer, TETHER_ROLE_RUNNER, &a, msg, sizeof msg),
           TETHER_EPROTOCOL);
}

TEST(windows_min_of_nonzero) {
  tether_msg_hello ours = ours_hello(1, 1), peer = peer_hello(TETHER_ROLE_RUNNER, 1, 1);
  tether_agreement a;
  ours.initial_window = 1000, peer.initial_window = 0;
  ours.max_window = 0, peer.max_window = 5000;
  CHECK_RC(tether_hello_agree(&ours, &peer, TETHER_ROLE_RUNNER, &a, NULL, 0), 0);
  CHECK_EQ_INT(a.initial_window, 1000);
  CHECK_EQ_INT(a.max_window, 5000);
  ours.initial_window = 0, ours.max_window = 0;
  peer.initial_window = 0, peer.max_window = 0;
  CHECK_RC(tether_hello_agree(&ours, &peer, TETHER_ROLE_RUNNER, &a, NULL, 0), 0);
  CHECK_EQ_INT(a.initial_window, TETHER_WINDOW_DEFAULT);
  CHECK_EQ_INT(a.max_window, TETHER_WINDOW_MAX);
  ours.initial_window = 300, peer.initial_window = 200;
  ours.max_window = 100, peer.max_window = UINT32_MAX;
  CHECK_RC(tether_hello_agree(&ours, &peer, TETHER_ROLE_RUNNER, &a, NULL, 0), 0);
  CHECK_EQ_INT(a.max_window, 100);
  CHECK_EQ_INT(a.initial_window, 100); /* never above max_window */
  ours.max_window = 0;
  CHECK_RC(tether_hello_agree(&ours, &peer, TETHER_ROLE_RUNNER, &a, NULL, 0), 0);
  CHECK_EQ_INT(a.max_window, TETHER_WINDOW_MAX); /* peer's huge value capped */
}

TEST_MAIN(TEST_ENTRY(init_fills_hello), TEST_ENTRY(overlap_picks_highest_common),
          TEST_ENTRY(no_overlap_names_both_ranges), TEST_ENTRY(wrong_role),
          TEST_ENTRY(frame_size_bounds), TEST_ENTRY(malformed_version_range),
          TEST_ENTRY(windows_min_of_nonzero))
