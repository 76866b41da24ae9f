/* The tether-runner options shared by every platform (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tether/limits.h"

static int parse_u32(const char *s, uint32_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || v > 0xffffffffu || s[0] == '-') return -1;
  *out = (uint32_t)v;
  return 0;
}

int tether__runner_cli_option(tether_runner_options *o, const char *a, const char *v,
                              const char **bad) {
  static const struct {
    const char *name, *bad;
    size_t offset;
  } numbers[] = {
      {"--max-sessions", "bad --max-sessions", offsetof(tether_runner_options, max_sessions)},
      {"--max-frame", "bad --max-frame", offsetof(tether_runner_options, max_frame_size)},
      {"--handshake-timeout", "bad --handshake-timeout",
       offsetof(tether_runner_options, handshake_timeout_ms)},
      {"--window", "bad --window", offsetof(tether_runner_options, window)},
      {"--max-window", "bad --max-window", offsetof(tether_runner_options, max_window)},
  };
  if (!strcmp(a, "--allow-full-access")) {
    o->allow_full_access = 1;
    return 1;
  }
  if (!v) return 0; /* every other option here takes a value */
  if (!strcmp(a, "--name")) {
    o->name = v;
    return 2;
  }
  for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
    if (strcmp(a, numbers[i].name)) continue;
    uint32_t *field = (uint32_t *)((char *)o + numbers[i].offset);
    if (parse_u32(v, field) < 0) {
      *bad = numbers[i].bad;
      return -1;
    }
    return 2;
  }
  return 0;
}

const char *tether__runner_cli_check(const tether_runner_options *o) {
  if (o->window < 1 || o->window > TETHER_WINDOW_MAX)
    return "--window must be in 1..16777216";
  if (o->max_window < o->window || o->max_window > TETHER_WINDOW_MAX)
    return "--max-window must be in [--window, 16777216]";
  return NULL;
}
