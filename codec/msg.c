/* Per-frame rules shared by both codec adapters (see msg.h). */
#include "codec/msg.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tether/error.h"

/* `why` must outlive the call and carry numbers, so it is formatted into a
 * per-thread buffer; decoders copy it into their own storage. */
static _Thread_local char why_buf[192];

static int fail(const char **why, int code, const char *fmt, ...) {
  if (why) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why_buf, sizeof why_buf, fmt, ap);
    va_end(ap);
    *why = why_buf;
  }
  return code;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
 * U+10FFFF. Returns the offset of the first bad byte, or len if valid. */
static size_t utf8_check(const uint8_t *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint8_t c = s[i];
    size_t n;
    uint32_t cp, min;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1, cp = c & 0x1Fu, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2, cp = c & 0x0Fu, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3, cp = c & 0x07u, min = 0x10000;
    } else {
      return i;
    }
    if (len - i <= n) return i;
    for (size_t k = 1; k <= n; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += n + 1;
  }
  return len;
}

static int check_view(const tether_bytes *b, const char *field, const char **why) {
  if (b->len && !b->data)
    return fail(why, TETHER_EINVAL, "%s has length %zu but no data", field, b->len);
  return 0;
}

static int check_text(const tether_bytes *b, const char *field, size_t limit,
                      const char **why) {
  int rc = check_view(b, field, why);
  if (rc) return rc;
  if (b->len > limit)
    return fail(why, TETHER_ELIMIT_STRING, "%s is %zu bytes; the limit is %zu",
                field, b->len, limit);
  size_t bad = utf8_check(b->data, b->len);
  if (bad != b->len)
    return fail(why, TETHER_EINVAL, "%s is not valid UTF-8 (at byte %zu)", field, bad);
  /* protobuf-c carries text as C strings, so a NUL could not round-trip. */
  if (b->len && memchr(b->data, 0, b->len))
    return fail(why, TETHER_EINVAL, "%s contains a NUL byte", field);
  return 0;
}

static int check_path(const tether_bytes *b, const char *field, const char **why) {
  int rc = check_view(b, field, why);
  if (rc) return rc;
  if (b->len > TETHER_PATH_MAX_BYTES)
    return fail(why, TETHER_ELIMIT_PATH, "%s is %zu bytes; the limit is %u", field,
                b->len, TETHER_PATH_MAX_BYTES);
  return 0;
}

/* A list's byte total is the sum of its entries' lengths. */
static int check_list(const tether_bytes_list *l, const char *field, size_t max_count,
                      int count_code, size_t max_bytes, int bytes_code,
                      const char **why) {
  if (l->count && !l->items)
    return fail(why, TETHER_EINVAL, "%s has %zu entries but no items", field, l->count);
  if (l->count > max_count)
    return fail(why, count_code, "%s has %zu entries; the limit is %zu", field,
                l->count, max_count);
  size_t total = 0;
  for (size_t i = 0; i < l->count; i++) {
    const tether_bytes *b = &l->items[i];
    if (b->len && !b->data)
      return fail(why, TETHER_EINVAL, "%s[%zu] has length %zu but no data", field, i,
                  b->len);
    total = b->len > SIZE_MAX - total ? SIZE_MAX : total + b->len;
  }
  if (total > max_bytes)
    return fail(why, bytes_code, "%s is %zu bytes in all; the limit is %zu", field,
                total, max_bytes);
  return 0;
}

static int check_roots(const tether_bytes_list *l, const char *field, const char **why) {
  int rc = check_list(l, field, TETHER_PROFILE_MAX_PATHS, TETHER_ELIMIT_ROOTS,
                      (size_t)TETHER_PROFILE_MAX_PATHS * TETHER_PATH_MAX_BYTES,
                      TETHER_ELIMIT_PATH, why);
  if (rc) return rc;
  for (size_t i = 0; i < l->count; i++)
    if (l->items[i].len > TETHER_PATH_MAX_BYTES)
      return fail(why, TETHER_ELIMIT_PATH, "%s[%zu] is %zu bytes; the limit is %u",
                  field, i, l->items[i].len, TETHER_PATH_MAX_BYTES);
  return 0;
}

static int check_spawn(const tether_msg_spawn *s, const char **why) {
  int rc;
  if ((rc = check_list(&s->argv, "Spawn.argv", TETHER_ARGV_MAX_COUNT,
                       TETHER_ELIMIT_ARGV_COUNT, TETHER_ARGV_MAX_BYTES,
                       TETHER_ELIMIT_ARGV_BYTES, why)))
    return rc;
  if ((rc = check_list(&s->env, "Spawn.env", TETHER_ENV_MAX_COUNT,
                       TETHER_ELIMIT_ENV_COUNT, TETHER_ENV_MAX_BYTES,
                       TETHER_ELIMIT_ENV_BYTES, why)))
    return rc;
  if ((rc = check_path(&s->cwd, "Spawn.cwd", why))) return rc;
  if (s->has_profile) {
    if ((rc = check_roots(&s->profile.writable_roots,
                          "Spawn.permission_profile.writable_roots", why)))
      return rc;
    if ((rc = check_roots(&s->profile.read_only_subpaths,
                          "Spawn.permission_profile.read_only_subpaths", why)))
      return rc;
  }
  return check_path(&s->profile_cwd, "Spawn.permission_profile_cwd", why);
}

static int check_data(const tether_bytes *b, const char *field, const char **why) {
  int rc = check_view(b, field, why);
  if (rc) return rc;
  if (b->len == 0) return fail(why, TETHER_EINVAL, "%s is empty; it must not be", field);
  return 0;
}

int tether_msg_validate(const tether_msg *m, const char **why) {
  if (!m) return fail(why, TETHER_EINVAL, "no message");
  switch (m->type) {
  case TETHER_MSG_NONE:
    return 0;
  case TETHER_MSG_HELLO: {
    int rc = check_text(&m->u.hello.implementation, "Hello.implementation",
                        TETHER_NAME_MAX_BYTES, why);
    if (rc) return rc;
    return check_text(&m->u.hello.implementation_version,
                      "Hello.implementation_version", TETHER_NAME_MAX_BYTES, why);
  }
  case TETHER_MSG_SPAWN:
    return check_spawn(&m->u.spawn, why);
  case TETHER_MSG_SPAWN_FAILED:
    return check_text(&m->u.spawn_failed.message, "SpawnFailed.message",
                      TETHER_MESSAGE_MAX_BYTES, why);
  case TETHER_MSG_OUTPUT:
    return check_data(&m->u.output.data, "Output.data", why);
  case TETHER_MSG_STDIN:
    return check_data(&m->u.stdin_data.data, "Stdin.data", why);
  case TETHER_MSG_ERROR:
    return check_text(&m->u.error.message, "Error.message", TETHER_MESSAGE_MAX_BYTES,
                      why);
  case TETHER_MSG_GOODBYE:
    return check_text(&m->u.goodbye.reason, "Goodbye.reason", TETHER_MESSAGE_MAX_BYTES,
                      why);
  case TETHER_MSG_SPAWNED:
  case TETHER_MSG_OUTPUT_TRUNCATED:
  case TETHER_MSG_STDIN_CLOSE:
  case TETHER_MSG_RESIZE:
  case TETHER_MSG_SIGNAL:
  case TETHER_MSG_TERMINATE:
  case TETHER_MSG_CREDIT:
  case TETHER_MSG_STATUS_REQUEST:
  case TETHER_MSG_STATUS_REPLY:
  case TETHER_MSG_EXITED:
    return 0;
  }
  return fail(why, TETHER_EINVAL, "frame type %d is not a tether.v1.Frame body",
              (int)m->type);
}

const char *tether_msg_type_name(tether_msg_type t) {
  switch (t) {
  case TETHER_MSG_NONE: return "unknown";
  case TETHER_MSG_HELLO: return "Hello";
  case TETHER_MSG_SPAWN: return "Spawn";
  case TETHER_MSG_SPAWNED: return "Spawned";
  case TETHER_MSG_SPAWN_FAILED: return "SpawnFailed";
  case TETHER_MSG_OUTPUT: return "Output";
  case TETHER_MSG_OUTPUT_TRUNCATED: return "OutputTruncated";
  case TETHER_MSG_STDIN: return "Stdin";
  case TETHER_MSG_STDIN_CLOSE: return "StdinClose";
  case TETHER_MSG_RESIZE: return "Resize";
  case TETHER_MSG_SIGNAL: return "Signal";
  case TETHER_MSG_TERMINATE: return "Terminate";
  case TETHER_MSG_CREDIT: return "Credit";
  case TETHER_MSG_STATUS_REQUEST: return "StatusRequest";
  case TETHER_MSG_STATUS_REPLY: return "StatusReply";
  case TETHER_MSG_EXITED: return "Exited";
  case TETHER_MSG_ERROR: return "Error";
  case TETHER_MSG_GOODBYE: return "Goodbye";
  }
  return "unknown";
}

void tether__msg_keep_address(tether_msg *m, int rc) {
  uint32_t session = m->session;
  tether_msg_type type = m->type;
  memset(m, 0, sizeof *m);
  if (rc == TETHER_EINVAL || (rc <= TETHER_ELIMIT_ARGV_COUNT && rc >= TETHER_ELIMIT_WINDOW)) {
    m->session = session;
    m->type = type;
  }
}

int tether__signal_portable(int sig) {
  switch (sig) {
    case TETHER_SIG_HUP: case TETHER_SIG_INT: case TETHER_SIG_QUIT:
    case TETHER_SIG_ILL: case TETHER_SIG_TRAP: case TETHER_SIG_ABRT:
    case TETHER_SIG_BUS: case TETHER_SIG_FPE: case TETHER_SIG_KILL:
    case TETHER_SIG_USR1: case TETHER_SIG_SEGV: case TETHER_SIG_USR2:
    case TETHER_SIG_PIPE: case TETHER_SIG_ALRM: case TETHER_SIG_TERM:
    case TETHER_SIG_CONT: case TETHER_SIG_STOP: case TETHER_SIG_TSTP:
    case TETHER_SIG_XCPU: case TETHER_SIG_XFSZ: case TETHER_SIG_WINCH:
      return 1;
    default:
      return 0;
  }
}
