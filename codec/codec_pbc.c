/* protobuf-c adapter (parent side).
 *
 * Decode: protobuf-c unpacks into an arena owned by the decoder (one custom
 * ProtobufCAllocator; nothing is freed piecemeal, the whole arena goes on the
 * next decode or on free), then the unpacked message is translated into a
 * tether_msg whose views point into it. Encode: the protobuf-c structs are
 * built on the stack pointing at the caller's views; only the repeated-bytes
 * descriptor array (one allocation) and text fields (bounded stack copies,
 * because protobuf-c packs strings as NUL-terminated char *) are not views.
 */
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "codec/wire.h"
#include "tether/error.h"
#include "tether/v1/tether.pb-c.h"

/* ------------------------------------------------------------------ arena */

typedef struct arena_chunk {
  struct arena_chunk *next;
  size_t cap, used;
  alignas(max_align_t) unsigned char data[];
} arena_chunk;

typedef struct arena {
  arena_chunk *head;
  bool oom;
} arena;

#define ARENA_ALIGN (alignof(max_align_t))
#define ARENA_HDR ARENA_ALIGN /* each block is preceded by its size */
#define ARENA_CHUNK_MIN 4096u

static size_t align_up(size_t n) { return (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1); }

static void *arena_alloc(void *data, size_t size) {
  arena *a = data;
  if (size > SIZE_MAX / 2) {
    a->oom = true;
    return NULL;
  }
  size_t need = ARENA_HDR + align_up(size);
  arena_chunk *c = a->head;
  if (!c || c->cap - c->used < need) {
    size_t cap = c ? c->cap * 2 : ARENA_CHUNK_MIN;
    if (cap < need) cap = need;
    c = malloc(sizeof *c + cap);
    if (!c) {
      a->oom = true;
      return NULL;
    }
    c->next = a->head;
    c->cap = cap;
    c->used = 0;
    a->head = c;
  }
  unsigned char *p = c->data + c->used + ARENA_HDR;
  memcpy(p - sizeof(size_t), &size, sizeof size);
  c->used += need;
  return p;
}

static void arena_free_block(void *data, void *p) { (void)data, (void)p; }

/* The size protobuf-c asked for when it allocated `p`. */
static size_t arena_block_size(const void *p) {
  size_t n;
  memcpy(&n, (const unsigned char *)p - sizeof(size_t), sizeof n);
  return n;
}

static void arena_reset(arena *a) {
  while (a->head) {
    arena_chunk *next = a->head->next;
    free(a->head);
    a->head = next;
  }
  a->oom = false;
}

/* ---------------------------------------------------------------- decoder */

struct tether_pbc_decoder {
  arena arena;
  ProtobufCAllocator alloc;
  tether_msg_store store;
  char why[192];
};

int tether_pbc_decoder_new(tether_pbc_decoder **out) {
  tether_pbc_decoder *d = calloc(1, sizeof *d);
  if (!d) return TETHER_ENOMEM;
  d->alloc.alloc = arena_alloc;
  d->alloc.free = arena_free_block;
  d->alloc.allocator_data = &d->arena;
  *out = d;
  return 0;
}

void tether_pbc_decoder_free(tether_pbc_decoder *d) {
  if (!d) return;
  arena_reset(&d->arena);
  free(d);
}

static int dfail(tether_pbc_decoder *d, const char **why, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d->why, sizeof d->why, fmt, ap);
  va_end(ap);
  if (why) *why = d->why;
  return code;
}

/* protobuf-c keeps strings as NUL-terminated copies and drops the length,
 * so a string with an embedded NUL would look shorter than it is. The
 * arena remembers the size of each block: protobuf-c allocates exactly
 * length + 1 for a string it unpacks, so the view gets the true length and
 * tether_msg_validate() sees (and rejects) the NUL just as the nanopb side
 * does. Absent strings point at protobuf_c_empty_string, not the arena. */
static tether_bytes text_view(const char *s) {
  tether_bytes b = {NULL, 0};
  if (!s || s == protobuf_c_empty_string) return b;
  size_t n = arena_block_size(s);
  b.data = (const uint8_t *)s;
  b.len = n ? n - 1 : 0;
  return b;
}

static tether_bytes bin_view(ProtobufCBinaryData v) {
  tether_bytes b = {v.data, v.len};
  return b;
}

static tether_bytes_list list_view(tether_bytes *store, size_t n,
                                   const ProtobufCBinaryData *items) {
  for (size_t i = 0; i < n; i++) store[i] = bin_view(items[i]);
  tether_bytes_list l = {store, n};
  return l;
}

/* Counts are checked before any entry is copied into the store; the nanopb
 * adapter checks the same counts in the same order. */
static int check_counts(tether_pbc_decoder *d, const Tether__V1__Spawn *s,
                        const char **why) {
  if (s->n_argv > TETHER_ARGV_MAX_COUNT)
    return dfail(d, why, TETHER_ELIMIT_ARGV_COUNT,
                 "Spawn.argv has %zu entries; the limit is %u", s->n_argv,
                 TETHER_ARGV_MAX_COUNT);
  if (s->n_env > TETHER_ENV_MAX_COUNT)
    return dfail(d, why, TETHER_ELIMIT_ENV_COUNT,
                 "Spawn.env has %zu entries; the limit is %u", s->n_env,
                 TETHER_ENV_MAX_COUNT);
  const Tether__V1__PermissionProfile *p = s->permission_profile;
  if (p && p->n_writable_roots > TETHER_PROFILE_MAX_PATHS)
    return dfail(d, why, TETHER_ELIMIT_ROOTS,
                 "Spawn.permission_profile.writable_roots has %zu entries; the limit is %u",
                 p->n_writable_roots, TETHER_PROFILE_MAX_PATHS);
  if (p && p->n_read_only_subpaths > TETHER_PROFILE_MAX_PATHS)
    return dfail(d, why, TETHER_ELIMIT_ROOTS,
                 "Spawn.permission_profile.read_only_subpaths has %zu entries; the limit is %u",
                 p->n_read_only_subpaths, TETHER_PROFILE_MAX_PATHS);
  return 0;
}

static int from_pbc(tether_pbc_decoder *d, const Tether__V1__Frame *f, tether_msg *m,
                    const char **why) {
  memset(m, 0, sizeof *m);
  m->session = f->session;
  switch (f->body_case) {
  case TETHER__V1__FRAME__BODY_HELLO: {
    const Tether__V1__Hello *h = f->hello;
    tether_msg_hello *o = &m->u.hello;
    o->version_min = h->version_min;
    o->version_max = h->version_max;
    o->role = (uint32_t)h->role;
    o->implementation = text_view(h->implementation);
    o->implementation_version = text_view(h->implementation_version);
    for (size_t i = 0; i < h->n_capabilities; i++) {
      int32_t c = (int32_t)h->capabilities[i];
      if (c >= 0 && c <= TETHER__CAP_MAX) o->capabilities |= TETHER_CAP_BIT((uint32_t)c);
    }
    o->max_frame_size = h->max_frame_size;
    o->max_sessions = h->max_sessions;
    o->initial_window = h->initial_window;
    o->max_window = h->max_window;
    break;
  }
  case TETHER__V1__FRAME__BODY_SPAWN: {
    const Tether__V1__Spawn *s = f->spawn;
    tether_msg_spawn *o = &m->u.spawn;
    m->type = TETHER_MSG_SPAWN; /* kept if a count is over its limit */
    int rc = check_counts(d, s, why);
    if (rc) return rc;
    o->argv = list_view(d->store.argv, s->n_argv, s->argv);
    o->env_mode = (uint32_t)s->env_mode;
    o->env = list_view(d->store.env, s->n_env, s->env);
    o->cwd = bin_view(s->cwd);
    o->io_mode = (uint32_t)s->io_mode;
    o->pty_rows = s->pty_rows;
    o->pty_cols = s->pty_cols;
    o->stdin_mode = (uint32_t)s->stdin_mode;
    o->merge_stderr = s->merge_stderr != 0;
    if (s->stdout_cap) o->has_stdout_cap = true, o->stdout_cap = s->stdout_cap->bytes;
    if (s->stderr_cap) o->has_stderr_cap = true, o->stderr_cap = s->stderr_cap->bytes;
    o->timeout_ms = s->timeout_ms;
    if (s->permission_profile) {
      const Tether__V1__PermissionProfile *p = s->permission_profile;
      o->has_profile = true;
      o->profile.filesystem = (uint32_t)p->filesystem;
      o->profile.writable_roots =
          list_view(d->store.writable_roots, p->n_writable_roots, p->writable_roots);
      o->profile.read_only_subpaths = list_view(
          d->store.read_only_subpaths, p->n_read_only_subpaths, p->read_only_subpaths);
      o->profile.network = (uint32_t)p->network;
    }
    o->profile_cwd = bin_view(s->permission_profile_cwd);
    if (s->limits) {
      o->has_limits = true;
      o->limits.memory_bytes = s->limits->memory_bytes;
      o->limits.processes = s->limits->processes;
      o->limits.cpu_ms = s->limits->cpu_ms;
      o->limits.open_files = s->limits->open_files;
      o->limits.file_size_bytes = s->limits->file_size_bytes;
    }
    break;
  }
  case TETHER__V1__FRAME__BODY_SPAWNED:
    m->u.spawned.pid = f->spawned->pid;
    break;
  case TETHER__V1__FRAME__BODY_SPAWN_FAILED: {
    const Tether__V1__SpawnFailed *s = f->spawn_failed;
    m->u.spawn_failed.stage = (uint32_t)s->stage;
    m->u.spawn_failed.error = (uint32_t)s->error;
    m->u.spawn_failed.os_error = s->os_error;
    m->u.spawn_failed.os_error_space = (uint32_t)s->os_error_space;
    m->u.spawn_failed.message = text_view(s->message);
    break;
  }
  case TETHER__V1__FRAME__BODY_OUTPUT:
    m->u.output.stream = (uint32_t)f->output->stream;
    m->u.output.data = bin_view(f->output->data);
    m->u.output.offset = f->output->offset;
    break;
  case TETHER__V1__FRAME__BODY_OUTPUT_TRUNCATED:
    m->u.output_truncated.stream = (uint32_t)f->output_truncated->stream;
    m->u.output_truncated.dropped = f->output_truncated->dropped;
    break;
  case TETHER__V1__FRAME__BODY_STDIN_DATA:
    m->u.stdin_data.data = bin_view(f->stdin_data->data);
    m->u.stdin_data.offset = f->stdin_data->offset;
    break;
  case TETHER__V1__FRAME__BODY_STDIN_CLOSE:
  case TETHER__V1__FRAME__BODY_STATUS_REQUEST:
    break;
  case TETHER__V1__FRAME__BODY_RESIZE:
    m->u.resize.rows = f->resize->rows;
    m->u.resize.cols = f->resize->cols;
    break;
  case TETHER__V1__FRAME__BODY_SIGNAL:
    m->u.signal.signal = (uint32_t)f->signal->signal;
    m->u.signal.group = f->signal->group != 0;
    break;
  case TETHER__V1__FRAME__BODY_TERMINATE:
    m->u.terminate.grace_ms = f->terminate->grace_ms;
    break;
  case TETHER__V1__FRAME__BODY_CREDIT:
    m->u.credit.stream = (uint32_t)f->credit->stream;
    m->u.credit.bytes = f->credit->bytes;
    break;
  case TETHER__V1__FRAME__BODY_STATUS_REPLY:
    m->u.status_reply.running = f->status_reply->running != 0;
    m->u.status_reply.pid = f->status_reply->pid;
    break;
  case TETHER__V1__FRAME__BODY_EXITED: {
    const Tether__V1__Exited *e = f->exited;
    tether_msg_exited *o = &m->u.exited;
    if (e->status_case == TETHER__V1__EXITED__STATUS_SIGNAL) {
      o->signaled = true;
      o->signal = (uint32_t)e->signal;
    } else if (e->status_case == TETHER__V1__EXITED__STATUS_CODE) {
      o->code = e->code;
    } else {
      o->no_status = true;
    }
    o->raw_signal = e->raw_signal;
    o->core_dumped = e->core_dumped != 0;
    o->timed_out = e->timed_out != 0;
    if (e->usage) {
      o->has_usage = true;
      o->user_time_us = e->usage->user_time_us;
      o->system_time_us = e->usage->system_time_us;
      o->max_rss_kib = e->usage->max_rss_kib;
      o->tree_peak_memory_bytes = e->usage->tree_peak_memory_bytes;
      o->tree_cpu_us = e->usage->tree_cpu_us;
    }
    o->limit = (uint32_t)e->limit;
    break;
  }
  case TETHER__V1__FRAME__BODY_ERROR:
    m->u.error.code = (uint32_t)f->error->code;
    m->u.error.message = text_view(f->error->message);
    m->u.error.fatal = f->error->fatal != 0;
    break;
  case TETHER__V1__FRAME__BODY_GOODBYE:
    m->u.goodbye.reason = text_view(f->goodbye->reason);
    break;
  default:
    /* No body, or one this build does not know: not an error. */
    m->type = TETHER_MSG_NONE;
    return 0;
  }
  m->type = (tether_msg_type)f->body_case;
  return 0;
}

static tether__wire_kind pbc_kind(const void *msg, uint32_t number, const void **sub,
                                  int *oneof) {
  const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(msg, number);
  if (!f) return TETHER__WIRE_UNKNOWN;
  *oneof = (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
  if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
    *sub = f->descriptor;
    return TETHER__WIRE_MESSAGE;
  }
  return f->type == PROTOBUF_C_TYPE_BOOL ? TETHER__WIRE_BOOL : TETHER__WIRE_OTHER;
}

int tether_pbc_decode(tether_pbc_decoder *d, const uint8_t *payload, size_t len,
                      tether_msg *out, const char **why) {
  memset(out, 0, sizeof *out);
  arena_reset(&d->arena);
  if (len && !payload) return dfail(d, why, TETHER_EINVAL, "no payload");
  const char *w = NULL;
  if (tether__wire_check(payload, len, &tether__v1__frame__descriptor, pbc_kind, &w))
    return dfail(d, why, TETHER_EDECODE, "payload is not a valid tether.v1.Frame (%s)", w);
  Tether__V1__Frame *f = tether__v1__frame__unpack(&d->alloc, len, payload);
  if (!f) {
    bool oom = d->arena.oom;
    arena_reset(&d->arena);
    if (oom) return dfail(d, why, TETHER_ENOMEM, "out of memory decoding a frame");
    return dfail(d, why, TETHER_EDECODE, "payload is not a valid tether.v1.Frame");
  }
  int rc = from_pbc(d, f, out, why);
  if (rc == 0) {
    rc = tether_msg_validate(out, &w);
    if (rc) dfail(d, why, rc, "%s", w);
  }
  if (rc) {
    tether__msg_keep_address(out, rc);
    arena_reset(&d->arena);
  }
  return rc;
}

/* ---------------------------------------------------------------- encoder */

/* Everything an encode points at that is not a caller's view. */
typedef struct pbc_frame {
  Tether__V1__Frame frame;
  union {
    Tether__V1__Hello hello;
    Tether__V1__Spawn spawn;
    Tether__V1__Spawned spawned;
    Tether__V1__SpawnFailed spawn_failed;
    Tether__V1__Output output;
    Tether__V1__OutputTruncated output_truncated;
    Tether__V1__Stdin stdin_;
    Tether__V1__StdinClose stdin_close;
    Tether__V1__Resize resize;
    Tether__V1__Signal signal;
    Tether__V1__Terminate terminate;
    Tether__V1__Credit credit;
    Tether__V1__StatusRequest status_request;
    Tether__V1__StatusReply status_reply;
    Tether__V1__Exited exited;
    Tether__V1__Error error;
    Tether__V1__Goodbye goodbye;
  } b;
  Tether__V1__OutputCap stdout_cap, stderr_cap;
  Tether__V1__PermissionProfile profile;
  Tether__V1__ResourceUsage usage;
  Tether__V1__ResourceLimits limits;
  Tether__V1__Capability caps[TETHER__CAP_MAX + 1];
  ProtobufCBinaryData *bins; /* argv, env, roots, subpaths: one allocation */
  /* NUL-terminated copies of the text fields (validated lengths). */
  char text1[TETHER_MESSAGE_MAX_BYTES + 1];
  char text2[TETHER_NAME_MAX_BYTES + 1];
} pbc_frame;

static char *text_copy(char *dst, tether_bytes b) {
  if (b.len) memcpy(dst, b.data, b.len);
  dst[b.len] = '\0';
  return dst;
}

static ProtobufCBinaryData bin(tether_bytes b) {
  ProtobufCBinaryData v = {b.len, (uint8_t *)(uintptr_t)b.data};
  return v;
}

/* Fills the next l.count slots of *next and moves it past them; an empty
 * list takes no slot (and *next may be NULL then: no arithmetic on it). */
static ProtobufCBinaryData *bins_take(ProtobufCBinaryData **next, tether_bytes_list l) {
  if (!l.count) return NULL;
  ProtobufCBinaryData *dst = *next;
  for (size_t i = 0; i < l.count; i++) dst[i] = bin(l.items[i]);
  *next = dst + l.count;
  return dst;
}

/* Builds `p` from a validated `m`. Returns 0 or TETHER_ENOMEM; on success the
 * caller frees p->bins. */
static int to_pbc(const tether_msg *m, pbc_frame *p) {
  Tether__V1__Frame *f = &p->frame;
  tether__v1__frame__init(f);
  p->bins = NULL;
  f->session = m->session;
  f->body_case = (Tether__V1__Frame__BodyCase)m->type;
  switch (m->type) {
  case TETHER_MSG_HELLO: {
    const tether_msg_hello *h = &m->u.hello;
    Tether__V1__Hello *o = &p->b.hello;
    tether__v1__hello__init(o);
    o->version_min = h->version_min;
    o->version_max = h->version_max;
    o->role = (Tether__V1__Role)h->role;
    o->implementation = text_copy(p->text2, h->implementation);
    o->implementation_version = text_copy(p->text1, h->implementation_version);
    for (uint32_t c = 0; c <= TETHER__CAP_MAX; c++)
      if (h->capabilities & TETHER_CAP_BIT(c))
        p->caps[o->n_capabilities++] = (Tether__V1__Capability)c;
    o->capabilities = o->n_capabilities ? p->caps : NULL;
    o->max_frame_size = h->max_frame_size;
    o->max_sessions = h->max_sessions;
    o->initial_window = h->initial_window;
    o->max_window = h->max_window;
    f->hello = o;
    break;
  }
  case TETHER_MSG_SPAWN: {
    const tether_msg_spawn *s = &m->u.spawn;
    Tether__V1__Spawn *o = &p->b.spawn;
    tether__v1__spawn__init(o);
    size_t n = s->argv.count + s->env.count;
    if (s->has_profile)
      n += s->profile.writable_roots.count + s->profile.read_only_subpaths.count;
    if (n) {
      p->bins = malloc(n * sizeof *p->bins);
      if (!p->bins) return TETHER_ENOMEM;
    }
    ProtobufCBinaryData *next = p->bins;
    o->n_argv = s->argv.count;
    o->argv = bins_take(&next, s->argv);
    o->env_mode = (Tether__V1__EnvMode)s->env_mode;
    o->n_env = s->env.count;
    o->env = bins_take(&next, s->env);
    o->cwd = bin(s->cwd);
    o->io_mode = (Tether__V1__IoMode)s->io_mode;
    o->pty_rows = s->pty_rows;
    o->pty_cols = s->pty_cols;
    o->stdin_mode = (Tether__V1__StdinMode)s->stdin_mode;
    o->merge_stderr = s->merge_stderr;
    if (s->has_stdout_cap) {
      tether__v1__output_cap__init(&p->stdout_cap);
      p->stdout_cap.bytes = s->stdout_cap;
      o->stdout_cap = &p->stdout_cap;
    }
    if (s->has_stderr_cap) {
      tether__v1__output_cap__init(&p->stderr_cap);
      p->stderr_cap.bytes = s->stderr_cap;
      o->stderr_cap = &p->stderr_cap;
    }
    o->timeout_ms = s->timeout_ms;
    if (s->has_profile) {
      Tether__V1__PermissionProfile *q = &p->profile;
      tether__v1__permission_profile__init(q);
      q->filesystem = (Tether__V1__FilesystemMode)s->profile.filesystem;
      q->n_writable_roots = s->profile.writable_roots.count;
      q->writable_roots = bins_take(&next, s->profile.writable_roots);
      q->n_read_only_subpaths = s->profile.read_only_subpaths.count;
      q->read_only_subpaths = bins_take(&next, s->profile.read_only_subpaths);
      q->network = (Tether__V1__NetworkMode)s->profile.network;
      o->permission_profile = q;
    }
    o->permission_profile_cwd = bin(s->profile_cwd);
    if (s->has_limits) {
      tether__v1__resource_limits__init(&p->limits);
      p->limits.memory_bytes = s->limits.memory_bytes;
      p->limits.processes = s->limits.processes;
      p->limits.cpu_ms = s->limits.cpu_ms;
      p->limits.open_files = s->limits.open_files;
      p->limits.file_size_bytes = s->limits.file_size_bytes;
      o->limits = &p->limits;
    }
    f->spawn = o;
    break;
  }
  case TETHER_MSG_SPAWNED:
    tether__v1__spawned__init(&p->b.spawned);
    p->b.spawned.pid = m->u.spawned.pid;
    f->spawned = &p->b.spawned;
    break;
  case TETHER_MSG_SPAWN_FAILED: {
    Tether__V1__SpawnFailed *o = &p->b.spawn_failed;
    tether__v1__spawn_failed__init(o);
    o->stage = (Tether__V1__SpawnStage)m->u.spawn_failed.stage;
    o->error = (Tether__V1__SpawnError)m->u.spawn_failed.error;
    o->os_error = m->u.spawn_failed.os_error;
    o->os_error_space = (Tether__V1__OsErrorSpace)m->u.spawn_failed.os_error_space;
    o->message = text_copy(p->text1, m->u.spawn_failed.message);
    f->spawn_failed = o;
    break;
  }
  case TETHER_MSG_OUTPUT:
    tether__v1__output__init(&p->b.output);
    p->b.output.stream = (Tether__V1__Stream)m->u.output.stream;
    p->b.output.data = bin(m->u.output.data);
    p->b.output.offset = m->u.output.offset;
    f->output = &p->b.output;
    break;
  case TETHER_MSG_OUTPUT_TRUNCATED:
    tether__v1__output_truncated__init(&p->b.output_truncated);
    p->b.output_truncated.stream = (Tether__V1__Stream)m->u.output_truncated.stream;
    p->b.output_truncated.dropped = m->u.output_truncated.dropped;
    f->output_truncated = &p->b.output_truncated;
    break;
  case TETHER_MSG_STDIN:
    tether__v1__stdin__init(&p->b.stdin_);
    p->b.stdin_.data = bin(m->u.stdin_data.data);
    p->b.stdin_.offset = m->u.stdin_data.offset;
    f->stdin_data = &p->b.stdin_;
    break;
  case TETHER_MSG_STDIN_CLOSE:
    tether__v1__stdin_close__init(&p->b.stdin_close);
    f->stdin_close = &p->b.stdin_close;
    break;
  case TETHER_MSG_RESIZE:
    tether__v1__resize__init(&p->b.resize);
    p->b.resize.rows = m->u.resize.rows;
    p->b.resize.cols = m->u.resize.cols;
    f->resize = &p->b.resize;
    break;
  case TETHER_MSG_SIGNAL:
    tether__v1__signal__init(&p->b.signal);
    p->b.signal.signal = (Tether__V1__SignalNumber)m->u.signal.signal;
    p->b.signal.group = m->u.signal.group;
    f->signal = &p->b.signal;
    break;
  case TETHER_MSG_TERMINATE:
    tether__v1__terminate__init(&p->b.terminate);
    p->b.terminate.grace_ms = m->u.terminate.grace_ms;
    f->terminate = &p->b.terminate;
    break;
  case TETHER_MSG_CREDIT:
    tether__v1__credit__init(&p->b.credit);
    p->b.credit.stream = (Tether__V1__Stream)m->u.credit.stream;
    p->b.credit.bytes = m->u.credit.bytes;
    f->credit = &p->b.credit;
    break;
  case TETHER_MSG_STATUS_REQUEST:
    tether__v1__status_request__init(&p->b.status_request);
    f->status_request = &p->b.status_request;
    break;
  case TETHER_MSG_STATUS_REPLY:
    tether__v1__status_reply__init(&p->b.status_reply);
    p->b.status_reply.running = m->u.status_reply.running;
    p->b.status_reply.pid = m->u.status_reply.pid;
    f->status_reply = &p->b.status_reply;
    break;
  case TETHER_MSG_EXITED: {
    const tether_msg_exited *e = &m->u.exited;
    Tether__V1__Exited *o = &p->b.exited;
    tether__v1__exited__init(o);
    if (e->no_status) {
      o->status_case = TETHER__V1__EXITED__STATUS__NOT_SET;
    } else if (e->signaled) {
      o->status_case = TETHER__V1__EXITED__STATUS_SIGNAL;
      o->signal = (Tether__V1__SignalNumber)e->signal;
    } else {
      o->status_case = TETHER__V1__EXITED__STATUS_CODE;
      o->code = e->code;
    }
    o->raw_signal = e->raw_signal;
    o->core_dumped = e->core_dumped;
    o->timed_out = e->timed_out;
    if (e->has_usage) {
      tether__v1__resource_usage__init(&p->usage);
      p->usage.user_time_us = e->user_time_us;
      p->usage.system_time_us = e->system_time_us;
      p->usage.max_rss_kib = e->max_rss_kib;
      p->usage.tree_peak_memory_bytes = e->tree_peak_memory_bytes;
      p->usage.tree_cpu_us = e->tree_cpu_us;
      o->usage = &p->usage;
    }
    o->limit = (Tether__V1__ExitLimit)e->limit;
    f->exited = o;
    break;
  }
  case TETHER_MSG_ERROR:
    tether__v1__error__init(&p->b.error);
    p->b.error.code = (Tether__V1__ErrorCode)m->u.error.code;
    p->b.error.message = text_copy(p->text1, m->u.error.message);
    p->b.error.fatal = m->u.error.fatal;
    f->error = &p->b.error;
    break;
  case TETHER_MSG_GOODBYE:
    tether__v1__goodbye__init(&p->b.goodbye);
    p->b.goodbye.reason = text_copy(p->text1, m->u.goodbye.reason);
    f->goodbye = &p->b.goodbye;
    break;
  case TETHER_MSG_NONE:
    break;
  }
  return 0;
}

static int check_encodable(const tether_msg *m, const char **why) {
  int rc = tether_msg_validate(m, why);
  if (rc) return rc;
  if (m->type == TETHER_MSG_NONE) {
    if (why) *why = "a frame without a body cannot be encoded";
    return TETHER_EINVAL;
  }
  return 0;
}

size_t tether_pbc_encoded_size(const tether_msg *m) {
  if (check_encodable(m, NULL)) return 0;
  pbc_frame p;
  if (to_pbc(m, &p)) return 0;
  size_t n = tether__v1__frame__get_packed_size(&p.frame);
  free(p.bins);
  return n;
}

int tether_pbc_encode(const tether_msg *m, uint8_t *buf, size_t cap, size_t *written,
                      const char **why) {
  if (written) *written = 0;
  int rc = check_encodable(m, why);
  if (rc) return rc;
  pbc_frame p;
  if ((rc = to_pbc(m, &p))) {
    if (why) *why = "out of memory encoding a frame";
    return rc;
  }
  size_t n = tether__v1__frame__get_packed_size(&p.frame);
  if (n > cap || (n && !buf)) {
    free(p.bins);
    if (why) *why = "the output buffer is too small for the encoded frame";
    return TETHER_EINVAL;
  }
  size_t w = tether__v1__frame__pack(&p.frame, buf);
  free(p.bins);
  if (written) *written = w;
  return 0;
}
