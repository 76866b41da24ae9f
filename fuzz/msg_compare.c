/* Field-by-field tether_msg comparison (see msg_compare.h). */
#include "msg_compare.h"

#include <stdio.h>
#include <string.h>

typedef struct cmp {
  char *diff;
  size_t len;
  bool differs;
} cmp;

static void note(cmp *c, const char *field, unsigned long long x, unsigned long long y) {
  if (c->differs) return;
  c->differs = true;
  if (c->diff && c->len) snprintf(c->diff, c->len, "%s: %llu vs %llu", field, x, y);
}

static void num(cmp *c, const char *field, unsigned long long x, unsigned long long y) {
  if (x != y) note(c, field, x, y);
}

static void bytes(cmp *c, const char *field, tether_bytes x, tether_bytes y) {
  if (c->differs) return;
  if (x.len != y.len) {
    c->differs = true;
    if (c->diff && c->len)
      snprintf(c->diff, c->len, "%s: %zu bytes vs %zu bytes", field, x.len, y.len);
  } else if (x.len && memcmp(x.data, y.data, x.len) != 0) {
    size_t i = 0;
    while (x.data[i] == y.data[i]) i++;
    c->differs = true;
    if (c->diff && c->len)
      snprintf(c->diff, c->len, "%s: byte %zu is 0x%02x vs 0x%02x", field, i, x.data[i],
               y.data[i]);
  }
}

static void list(cmp *c, const char *field, tether_bytes_list x, tether_bytes_list y) {
  char name[96];
  if (c->differs) return;
  snprintf(name, sizeof name, "%s.count", field);
  num(c, name, x.count, y.count);
  for (size_t i = 0; i < x.count && !c->differs; i++) {
    snprintf(name, sizeof name, "%s[%zu]", field, i);
    bytes(c, name, x.items[i], y.items[i]);
  }
}

#define NUM(f) num(&c, #f, (unsigned long long)a->f, (unsigned long long)b->f)
#define BYTES(f) bytes(&c, #f, a->f, b->f)
#define LIST(f) list(&c, #f, a->f, b->f)

bool fuzz_msg_equal(const tether_msg *a, const tether_msg *b, char *diff,
                    size_t diff_len) {
  cmp c = {diff, diff_len, false};
  if (diff && diff_len) diff[0] = '\0';
  NUM(session);
  NUM(type);
  if (c.differs) return false;
  switch (a->type) {
  case TETHER_MSG_HELLO:
    NUM(u.hello.version_min);
    NUM(u.hello.version_max);
    NUM(u.hello.role);
    BYTES(u.hello.implementation);
    BYTES(u.hello.implementation_version);
    NUM(u.hello.capabilities);
    NUM(u.hello.max_frame_size);
    NUM(u.hello.max_sessions);
    NUM(u.hello.initial_window);
    NUM(u.hello.max_window);
    break;
  case TETHER_MSG_SPAWN:
    LIST(u.spawn.argv);
    NUM(u.spawn.env_mode);
    LIST(u.spawn.env);
    BYTES(u.spawn.cwd);
    NUM(u.spawn.io_mode);
    NUM(u.spawn.pty_rows);
    NUM(u.spawn.pty_cols);
    NUM(u.spawn.stdin_mode);
    NUM(u.spawn.merge_stderr);
    NUM(u.spawn.has_stdout_cap);
    NUM(u.spawn.stdout_cap);
    NUM(u.spawn.has_stderr_cap);
    NUM(u.spawn.stderr_cap);
    NUM(u.spawn.timeout_ms);
    NUM(u.spawn.has_profile);
    if (a->u.spawn.has_profile && b->u.spawn.has_profile) {
      NUM(u.spawn.profile.filesystem);
      LIST(u.spawn.profile.writable_roots);
      LIST(u.spawn.profile.read_only_subpaths);
      NUM(u.spawn.profile.network);
    }
    BYTES(u.spawn.profile_cwd);
    NUM(u.spawn.has_limits);
    NUM(u.spawn.limits.memory_bytes);
    NUM(u.spawn.limits.processes);
    NUM(u.spawn.limits.cpu_ms);
    NUM(u.spawn.limits.open_files);
    NUM(u.spawn.limits.file_size_bytes);
    break;
  case TETHER_MSG_SPAWNED:
    NUM(u.spawned.pid);
    break;
  case TETHER_MSG_SPAWN_FAILED:
    NUM(u.spawn_failed.stage);
    NUM(u.spawn_failed.error);
    NUM(u.spawn_failed.os_error);
    NUM(u.spawn_failed.os_error_space);
    BYTES(u.spawn_failed.message);
    break;
  case TETHER_MSG_OUTPUT:
    NUM(u.output.stream);
    BYTES(u.output.data);
    NUM(u.output.offset);
    break;
  case TETHER_MSG_OUTPUT_TRUNCATED:
    NUM(u.output_truncated.stream);
    NUM(u.output_truncated.dropped);
    break;
  case TETHER_MSG_STDIN:
    BYTES(u.stdin_data.data);
    NUM(u.stdin_data.offset);
    break;
  case TETHER_MSG_RESIZE:
    NUM(u.resize.rows);
    NUM(u.resize.cols);
    break;
  case TETHER_MSG_SIGNAL:
    NUM(u.signal.signal);
    NUM(u.signal.group);
    break;
  case TETHER_MSG_TERMINATE:
    NUM(u.terminate.grace_ms);
    break;
  case TETHER_MSG_CREDIT:
    NUM(u.credit.stream);
    NUM(u.credit.bytes);
    break;
  case TETHER_MSG_STATUS_REPLY:
    NUM(u.status_reply.running);
    NUM(u.status_reply.pid);
    break;
  case TETHER_MSG_EXITED:
    NUM(u.exited.signaled);
    NUM(u.exited.no_status);
    NUM(u.exited.code);
    NUM(u.exited.signal);
    NUM(u.exited.raw_signal);
    NUM(u.exited.core_dumped);
    NUM(u.exited.timed_out);
    NUM(u.exited.has_usage);
    NUM(u.exited.user_time_us);
    NUM(u.exited.system_time_us);
    NUM(u.exited.max_rss_kib);
    NUM(u.exited.tree_peak_memory_bytes);
    NUM(u.exited.tree_cpu_us);
    NUM(u.exited.limit);
    break;
  case TETHER_MSG_ERROR:
    NUM(u.error.code);
    BYTES(u.error.message);
    NUM(u.error.fatal);
    break;
  case TETHER_MSG_GOODBYE:
    BYTES(u.goodbye.reason);
    break;
  case TETHER_MSG_STDIN_CLOSE:
  case TETHER_MSG_STATUS_REQUEST:
  case TETHER_MSG_NONE:
    break;
  }
  return !c.differs;
}
