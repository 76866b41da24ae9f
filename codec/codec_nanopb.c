/* nanopb adapter (runner side): fixed memory, no allocation per frame.
 *
 * Every string and bytes field is a callback field (proto/tether.options).
 * On decode the callbacks record views straight into the payload buffer
 * (the buffer istream's state is the current pointer) and list entries into
 * the decoder's tether_msg_store; nothing is copied. Callbacks inside the
 * Frame.body oneof are installed from Frame's submessage callback, which
 * nanopb calls once the body type is known.
 *
 * The semantics follow the protobuf-c adapter exactly, including the corner
 * cases where the two libraries differ by default:
 *  - a second oneof member (a second body, or code and signal) and a
 *    repeated submessage are refused by the shared wire check (wire.h)
 *    before either library sees them;
 *  - uint32 fields are 64-bit in the nanopb structs and truncated here, as
 *    protobuf-c truncates (nanopb would reject);
 *  - Hello.capabilities is read by a small wire walker with protobuf-c's
 *    wire-type rules, since a field callback cannot see the wire type;
 *  - list counts are not enforced while parsing but checked afterwards in
 *    the same order as the protobuf-c adapter, so a payload that is both
 *    malformed and over a limit is reported the same way by both.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pb_decode.h>
#include <pb_common.h>
#include <pb_encode.h>

#include "codec/codec.h"
#include "codec/wire.h"
#include "tether/error.h"
#include "tether/v1/tether.pb.h"

typedef struct np_list {
  tether_bytes *items;
  size_t cap;
  size_t count; /* may exceed cap: counted, not stored */
} np_list;

typedef struct tether_nanopb_decoder decoder;

/* What a field callback's arg points at. */
typedef struct np_view_arg {
  decoder *d;
  tether_bytes *dst;
} np_view_arg;

typedef struct np_list_arg {
  decoder *d;
  np_list *list;
} np_list_arg;

struct tether_nanopb_decoder {
  const uint8_t *lo, *hi; /* the payload being decoded */
  np_list argv, env, roots, subpaths;
  tether_bytes text1, text2, cwd, profile_cwd, data;
  np_view_arg va_text1, va_text2, va_cwd, va_pcwd, va_data;
  np_list_arg la_argv, la_env, la_roots, la_sub;
  uint32_t caps;
  bool caps_bad;
  tether_v1_Frame frame;
  char why[192];
  tether_msg_store store;
};

int tether_nanopb_decoder_new(tether_nanopb_decoder **out) {
  tether_nanopb_decoder *d = calloc(1, sizeof *d);
  if (!d) return TETHER_ENOMEM;
  d->argv.items = d->store.argv, d->argv.cap = TETHER_ARGV_MAX_COUNT;
  d->env.items = d->store.env, d->env.cap = TETHER_ENV_MAX_COUNT;
  d->roots.items = d->store.writable_roots, d->roots.cap = TETHER_PROFILE_MAX_PATHS;
  d->subpaths.items = d->store.read_only_subpaths;
  d->subpaths.cap = TETHER_PROFILE_MAX_PATHS;
  d->va_text1 = (np_view_arg){d, &d->text1};
  d->va_text2 = (np_view_arg){d, &d->text2};
  d->va_cwd = (np_view_arg){d, &d->cwd};
  d->va_pcwd = (np_view_arg){d, &d->profile_cwd};
  d->va_data = (np_view_arg){d, &d->data};
  d->la_argv = (np_list_arg){d, &d->argv};
  d->la_env = (np_list_arg){d, &d->env};
  d->la_roots = (np_list_arg){d, &d->roots};
  d->la_sub = (np_list_arg){d, &d->subpaths};
  *out = d;
  return 0;
}

void tether_nanopb_decoder_free(tether_nanopb_decoder *d) { free(d); }

static int dfail(tether_nanopb_decoder *d, const char **why, int code, const char *fmt,
                 ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d->why, sizeof d->why, fmt, ap);
  va_end(ap);
  if (why) *why = d->why;
  return code;
}

/* ---------------------------------------------------------------- decoding */

/* Only a length-delimited field's substream points into the payload; for
 * any other wire type nanopb hands the callback a copy on its stack, and
 * protobuf-c rejects a bytes field with such a wire type. */
static bool in_payload(const tether_nanopb_decoder *d, const pb_istream_t *s) {
  const uint8_t *p = s->state;
  return p >= d->lo && p <= d->hi && s->bytes_left <= (size_t)(d->hi - p);
}

static bool take_view(tether_nanopb_decoder *d, pb_istream_t *s, tether_bytes *out) {
  if (!in_payload(d, s)) return false;
  out->data = s->state;
  out->len = s->bytes_left;
  return pb_read(s, NULL, s->bytes_left);
}

static bool dec_view(pb_istream_t *s, const pb_field_t *field, void **arg) {
  (void)field;
  np_view_arg *a = *arg;
  return take_view(a->d, s, a->dst);
}

static bool dec_list(pb_istream_t *s, const pb_field_t *field, void **arg) {
  (void)field;
  np_list_arg *a = *arg;
  tether_bytes b;
  if (!take_view(a->d, s, &b)) return false;
  if (a->list->count < a->list->cap) a->list->items[a->list->count] = b;
  if (a->list->count < SIZE_MAX) a->list->count++;
  return true;
}

/* Varint as protobuf-c reads it: at most 10 bytes, high bits ignored. */
static bool walk_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  uint64_t r = 0;
  for (unsigned i = 0; i < 10 && *p < end; i++) {
    uint8_t b = *(*p)++;
    r |= (uint64_t)(b & 0x7F) << (7 * i);
    if (!(b & 0x80)) {
      *v = r;
      return true;
    }
  }
  return false;
}

static void add_cap(tether_nanopb_decoder *d, uint64_t v) {
  int32_t c = (int32_t)(uint32_t)v; /* an enum is an int32 on the wire */
  if (c >= 0 && c <= TETHER__CAP_MAX) d->caps |= TETHER_CAP_BIT((uint32_t)c);
}

/* Collects Hello.capabilities (field 6) from the Hello's bytes: a varint,
 * or a packed run of varints; any other wire type is an error, as in
 * protobuf-c. Other fields are skipped; if the walk finds the message
 * malformed it stops and leaves the verdict to nanopb, which parses the
 * same bytes. */
static void walk_hello_caps(tether_nanopb_decoder *d, const uint8_t *p, size_t n) {
  const uint8_t *end = p + n;
  while (p < end) {
    uint64_t key, v;
    if (!walk_varint(&p, end, &key)) return;
    uint32_t wt = (uint32_t)(key & 7), num = (uint32_t)(key >> 3);
    if (num == tether_v1_Hello_capabilities_tag && wt != 0 && wt != 2) {
      d->caps_bad = true;
      return;
    }
    switch (wt) {
    case 0:
      if (!walk_varint(&p, end, &v)) return;
      if (num == tether_v1_Hello_capabilities_tag) add_cap(d, v);
      break;
    case 1:
      if ((size_t)(end - p) < 8) return;
      p += 8;
      break;
    case 5:
      if ((size_t)(end - p) < 4) return;
      p += 4;
      break;
    case 2: {
      uint64_t len;
      if (!walk_varint(&p, end, &len) || len > (uint64_t)(end - p)) return;
      if (num == tether_v1_Hello_capabilities_tag) {
        const uint8_t *q = p, *qend = p + len;
        while (q < qend) {
          if (!walk_varint(&q, qend, &v)) {
            d->caps_bad = true;
            return;
          }
          add_cap(d, v);
        }
      }
      p += len;
      break;
    }
    default:
      return;
    }
  }
}

static void set_view_cb(pb_callback_t *cb, np_view_arg *a) {
  cb->funcs.decode = dec_view;
  cb->arg = a;
}

static void set_list_cb(pb_callback_t *cb, np_list_arg *a) {
  cb->funcs.decode = dec_list;
  cb->arg = a;
}

/* Called by nanopb before it decodes a Frame.body member. */
static bool dec_body(pb_istream_t *s, const pb_field_t *field, void **arg) {
  tether_nanopb_decoder *d = *arg;
  /* A repeated member replaces the earlier one, as in protobuf-c; nanopb
   * only clears the member when the body type changes. */
  memset(field->pData, 0, field->data_size);
  d->argv.count = d->env.count = d->roots.count = d->subpaths.count = 0;
  memset(&d->text1, 0, sizeof d->text1);
  d->text2 = d->cwd = d->profile_cwd = d->data = d->text1;
  d->caps = 0;
  /* caps_bad is not reset here: protobuf-c rejects the whole frame when an
   * earlier Hello member had bad capabilities, even if another member
   * replaced it; it is reset once per decode. */

  tether_v1_Frame *f = &d->frame;
  switch (field->tag) {
  case tether_v1_Frame_hello_tag:
    set_view_cb(&f->body.hello.implementation, &d->va_text1);
    set_view_cb(&f->body.hello.implementation_version, &d->va_text2);
    walk_hello_caps(d, s->state, s->bytes_left);
    break;
  case tether_v1_Frame_spawn_tag:
    set_list_cb(&f->body.spawn.argv, &d->la_argv);
    set_list_cb(&f->body.spawn.env, &d->la_env);
    set_view_cb(&f->body.spawn.cwd, &d->va_cwd);
    set_view_cb(&f->body.spawn.permission_profile_cwd, &d->va_pcwd);
    set_list_cb(&f->body.spawn.permission_profile.writable_roots, &d->la_roots);
    set_list_cb(&f->body.spawn.permission_profile.read_only_subpaths, &d->la_sub);
    break;
  case tether_v1_Frame_spawn_failed_tag:
    set_view_cb(&f->body.spawn_failed.message, &d->va_text1);
    break;
  case tether_v1_Frame_output_tag:
    set_view_cb(&f->body.output.data, &d->va_data);
    break;
  case tether_v1_Frame_stdin_data_tag:
    set_view_cb(&f->body.stdin_data.data, &d->va_data);
    break;
  case tether_v1_Frame_error_tag:
    set_view_cb(&f->body.error.message, &d->va_text1);
    break;
  case tether_v1_Frame_goodbye_tag:
    set_view_cb(&f->body.goodbye.reason, &d->va_text1);
    break;
  default:
    break;
  }
  return true;
}

static tether_bytes_list list_of(const np_list *l) {
  tether_bytes_list r = {l->items, l->count};
  return r;
}

/* Same checks, same order, as check_counts() in codec_pbc.c. */
static int check_counts(decoder *d, const tether_v1_Spawn *s, const char **why) {
  if (d->argv.count > TETHER_ARGV_MAX_COUNT)
    return dfail(d, why, TETHER_ELIMIT_ARGV_COUNT,
                 "Spawn.argv has %zu entries; the limit is %u", d->argv.count,
                 TETHER_ARGV_MAX_COUNT);
  if (d->env.count > TETHER_ENV_MAX_COUNT)
    return dfail(d, why, TETHER_ELIMIT_ENV_COUNT,
                 "Spawn.env has %zu entries; the limit is %u", d->env.count,
                 TETHER_ENV_MAX_COUNT);
  if (s->has_permission_profile && d->roots.count > TETHER_PROFILE_MAX_PATHS)
    return dfail(d, why, TETHER_ELIMIT_ROOTS,
                 "Spawn.permission_profile.writable_roots has %zu entries; the limit is %u",
                 d->roots.count, TETHER_PROFILE_MAX_PATHS);
  if (s->has_permission_profile && d->subpaths.count > TETHER_PROFILE_MAX_PATHS)
    return dfail(d, why, TETHER_ELIMIT_ROOTS,
                 "Spawn.permission_profile.read_only_subpaths has %zu entries; the limit is %u",
                 d->subpaths.count, TETHER_PROFILE_MAX_PATHS);
  return 0;
}

static int from_nanopb(decoder *d, tether_msg *m, const char **why) {
  const tether_v1_Frame *f = &d->frame;
  memset(m, 0, sizeof *m);
  m->session = (uint32_t)f->session;
  switch (f->which_body) {
  case tether_v1_Frame_hello_tag: {
    const tether_v1_Hello *h = &f->body.hello;
    tether_msg_hello *o = &m->u.hello;
    o->version_min = (uint32_t)h->version_min;
    o->version_max = (uint32_t)h->version_max;
    o->role = (uint32_t)h->role;
    o->implementation = d->text1;
    o->implementation_version = d->text2;
    o->capabilities = d->caps;
    o->max_frame_size = (uint32_t)h->max_frame_size;
    o->max_sessions = (uint32_t)h->max_sessions;
    o->initial_window = (uint32_t)h->initial_window;
    o->max_window = (uint32_t)h->max_window;
    break;
  }
  case tether_v1_Frame_spawn_tag: {
    const tether_v1_Spawn *s = &f->body.spawn;
    tether_msg_spawn *o = &m->u.spawn;
    m->type = TETHER_MSG_SPAWN; /* kept if a count is over its limit */
    int rc = check_counts(d, s, why);
    if (rc) return rc;
    o->argv = list_of(&d->argv);
    o->env_mode = (uint32_t)s->env_mode;
    o->env = list_of(&d->env);
    o->cwd = d->cwd;
    o->io_mode = (uint32_t)s->io_mode;
    o->pty_rows = (uint32_t)s->pty_rows;
    o->pty_cols = (uint32_t)s->pty_cols;
    o->stdin_mode = (uint32_t)s->stdin_mode;
    o->merge_stderr = s->merge_stderr;
    o->has_stdout_cap = s->has_stdout_cap;
    o->stdout_cap = s->has_stdout_cap ? s->stdout_cap.bytes : 0;
    o->has_stderr_cap = s->has_stderr_cap;
    o->stderr_cap = s->has_stderr_cap ? s->stderr_cap.bytes : 0;
    o->timeout_ms = (uint32_t)s->timeout_ms;
    if (s->has_permission_profile) {
      o->has_profile = true;
      o->profile.filesystem = (uint32_t)s->permission_profile.filesystem;
      o->profile.writable_roots = list_of(&d->roots);
      o->profile.read_only_subpaths = list_of(&d->subpaths);
      o->profile.network = (uint32_t)s->permission_profile.network;
    }
    o->profile_cwd = d->profile_cwd;
    if (s->has_limits) {
      o->has_limits = true;
      o->limits.memory_bytes = s->limits.memory_bytes;
      o->limits.processes = s->limits.processes;
      o->limits.cpu_ms = s->limits.cpu_ms;
      o->limits.open_files = s->limits.open_files;
      o->limits.file_size_bytes = s->limits.file_size_bytes;
    }
    break;
  }
  case tether_v1_Frame_spawned_tag:
    m->u.spawned.pid = f->body.spawned.pid;
    break;
  case tether_v1_Frame_spawn_failed_tag: {
    const tether_v1_SpawnFailed *s = &f->body.spawn_failed;
    m->u.spawn_failed.stage = (uint32_t)s->stage;
    m->u.spawn_failed.error = (uint32_t)s->error;
    m->u.spawn_failed.os_error = s->os_error;
    m->u.spawn_failed.os_error_space = (uint32_t)s->os_error_space;
    m->u.spawn_failed.message = d->text1;
    break;
  }
  case tether_v1_Frame_output_tag:
    m->u.output.stream = (uint32_t)f->body.output.stream;
    m->u.output.data = d->data;
    m->u.output.offset = f->body.output.offset;
    break;
  case tether_v1_Frame_output_truncated_tag:
    m->u.output_truncated.stream = (uint32_t)f->body.output_truncated.stream;
    m->u.output_truncated.dropped = f->body.output_truncated.dropped;
    break;
  case tether_v1_Frame_stdin_data_tag:
    m->u.stdin_data.data = d->data;
    m->u.stdin_data.offset = f->body.stdin_data.offset;
    break;
  case tether_v1_Frame_stdin_close_tag:
  case tether_v1_Frame_status_request_tag:
    break;
  case tether_v1_Frame_resize_tag:
    m->u.resize.rows = (uint32_t)f->body.resize.rows;
    m->u.resize.cols = (uint32_t)f->body.resize.cols;
    break;
  case tether_v1_Frame_signal_tag:
    m->u.signal.signal = (uint32_t)f->body.signal.signal;
    m->u.signal.group = f->body.signal.group;
    break;
  case tether_v1_Frame_terminate_tag:
    m->u.terminate.grace_ms = (uint32_t)f->body.terminate.grace_ms;
    break;
  case tether_v1_Frame_credit_tag:
    m->u.credit.stream = (uint32_t)f->body.credit.stream;
    m->u.credit.bytes = f->body.credit.bytes;
    break;
  case tether_v1_Frame_status_reply_tag:
    m->u.status_reply.running = f->body.status_reply.running;
    m->u.status_reply.pid = f->body.status_reply.pid;
    break;
  case tether_v1_Frame_exited_tag: {
    const tether_v1_Exited *e = &f->body.exited;
    tether_msg_exited *o = &m->u.exited;
    if (e->which_status == tether_v1_Exited_signal_tag) {
      o->signaled = true;
      o->signal = (uint32_t)e->status.signal;
    } else if (e->which_status == tether_v1_Exited_code_tag) {
      o->code = (uint32_t)e->status.code;
    } else {
      o->no_status = true;
    }
    o->raw_signal = e->raw_signal;
    o->core_dumped = e->core_dumped;
    o->timed_out = e->timed_out;
    if (e->has_usage) {
      o->has_usage = true;
      o->user_time_us = e->usage.user_time_us;
      o->system_time_us = e->usage.system_time_us;
      o->max_rss_kib = e->usage.max_rss_kib;
      o->tree_peak_memory_bytes = e->usage.tree_peak_memory_bytes;
      o->tree_cpu_us = e->usage.tree_cpu_us;
    }
    o->limit = (uint32_t)e->limit;
    break;
  }
  case tether_v1_Frame_error_tag:
    m->u.error.code = (uint32_t)f->body.error.code;
    m->u.error.message = d->text1;
    m->u.error.fatal = f->body.error.fatal;
    break;
  case tether_v1_Frame_goodbye_tag:
    m->u.goodbye.reason = d->text1;
    break;
  default:
    /* No body, or one this build does not know: not an error. */
    m->type = TETHER_MSG_NONE;
    return 0;
  }
  m->type = (tether_msg_type)f->which_body;
  return 0;
}

static tether__wire_kind np_kind(const void *msg, uint32_t number, const void **sub,
                                 int *oneof) {
  /* The iterator only computes field addresses from this; never accessed. */
  static tether_v1_Frame scratch;
  pb_field_iter_t it;
  if (!pb_field_iter_begin(&it, msg, &scratch) || !pb_field_iter_find(&it, number))
    return TETHER__WIRE_UNKNOWN;
  *oneof = PB_HTYPE(it.type) == PB_HTYPE_ONEOF;
  if (PB_LTYPE_IS_SUBMSG(it.type)) {
    *sub = it.submsg_desc;
    return TETHER__WIRE_MESSAGE;
  }
  return PB_LTYPE(it.type) == PB_LTYPE_BOOL ? TETHER__WIRE_BOOL : TETHER__WIRE_OTHER;
}

int tether_nanopb_decode(tether_nanopb_decoder *d, const uint8_t *payload, size_t len,
                         tether_msg *out, const char **why) {
  static const uint8_t empty[1];
  memset(out, 0, sizeof *out);
  if (len && !payload) return dfail(d, why, TETHER_EINVAL, "no payload");
  const char *w = NULL;
  if (tether__wire_check(payload, len, tether_v1_Frame_fields, np_kind, &w))
    return dfail(d, why, TETHER_EDECODE, "payload is not a valid tether.v1.Frame (%s)", w);
  if (!payload) payload = empty;
  d->lo = payload;
  d->hi = payload + len;
  d->caps = 0;
  d->caps_bad = false;
  memset(&d->frame, 0, sizeof d->frame);
  d->frame.cb_body.funcs.decode = dec_body;
  d->frame.cb_body.arg = d;

  pb_istream_t s = pb_istream_from_buffer(payload, len);
  bool ok = pb_decode_ex(&s, tether_v1_Frame_fields, &d->frame, PB_DECODE_NOINIT);
  int rc;
  if (!ok)
    rc = dfail(d, why, TETHER_EDECODE, "payload is not a valid tether.v1.Frame (%s)",
               PB_GET_ERROR(&s));
  else if (d->caps_bad)
    rc = dfail(d, why, TETHER_EDECODE,
               "payload is not a valid tether.v1.Frame (bad Hello.capabilities)");
  else if ((rc = from_nanopb(d, out, why)) == 0) {
    rc = tether_msg_validate(out, &w);
    if (rc) dfail(d, why, rc, "%s", w);
  }
  if (rc) tether__msg_keep_address(out, rc);
  return rc;
}

/* ---------------------------------------------------------------- encoding */

static bool enc_bytes(pb_ostream_t *s, const pb_field_t *field, void *const *arg) {
  const tether_bytes *b = *arg;
  if (!b->len) return true; /* proto3: the default is not sent */
  return pb_encode_tag_for_field(s, field) && pb_encode_string(s, b->data, b->len);
}

static bool enc_list(pb_ostream_t *s, const pb_field_t *field, void *const *arg) {
  const tether_bytes_list *l = *arg;
  for (size_t i = 0; i < l->count; i++)
    if (!pb_encode_tag_for_field(s, field) ||
        !pb_encode_string(s, l->items[i].data, l->items[i].len))
      return false;
  return true;
}

/* Packed, ascending, as protobuf-c packs a repeated enum in proto3. */
static bool enc_caps(pb_ostream_t *s, const pb_field_t *field, void *const *arg) {
  uint32_t caps = *(const uint32_t *)*arg;
  if (!caps) return true;
  uint64_t n = 0;
  for (uint32_t c = 0; c <= TETHER__CAP_MAX; c++)
    if (caps & TETHER_CAP_BIT(c)) n++; /* every value < 128: one byte each */
  if (!pb_encode_tag(s, PB_WT_STRING, field->tag) || !pb_encode_varint(s, n))
    return false;
  for (uint32_t c = 0; c <= TETHER__CAP_MAX; c++)
    if ((caps & TETHER_CAP_BIT(c)) && !pb_encode_varint(s, c)) return false;
  return true;
}

static void set_enc(pb_callback_t *cb, bool (*fn)(pb_ostream_t *, const pb_field_t *,
                                                  void *const *),
                    const void *arg) {
  cb->funcs.encode = fn;
  cb->arg = (void *)(uintptr_t)arg;
}

/* Builds the nanopb frame for a validated `m`; the callbacks point into `m`. */
static void to_nanopb(const tether_msg *m, tether_v1_Frame *f) {
  memset(f, 0, sizeof *f);
  f->session = m->session;
  f->which_body = (pb_size_t)m->type;
  switch (m->type) {
  case TETHER_MSG_HELLO: {
    const tether_msg_hello *h = &m->u.hello;
    tether_v1_Hello *o = &f->body.hello;
    o->version_min = h->version_min;
    o->version_max = h->version_max;
    o->role = (tether_v1_Role)h->role;
    set_enc(&o->implementation, enc_bytes, &h->implementation);
    set_enc(&o->implementation_version, enc_bytes, &h->implementation_version);
    set_enc(&o->capabilities, enc_caps, &h->capabilities);
    o->max_frame_size = h->max_frame_size;
    o->max_sessions = h->max_sessions;
    o->initial_window = h->initial_window;
    o->max_window = h->max_window;
    break;
  }
  case TETHER_MSG_SPAWN: {
    const tether_msg_spawn *s = &m->u.spawn;
    tether_v1_Spawn *o = &f->body.spawn;
    set_enc(&o->argv, enc_list, &s->argv);
    o->env_mode = (tether_v1_EnvMode)s->env_mode;
    set_enc(&o->env, enc_list, &s->env);
    set_enc(&o->cwd, enc_bytes, &s->cwd);
    o->io_mode = (tether_v1_IoMode)s->io_mode;
    o->pty_rows = s->pty_rows;
    o->pty_cols = s->pty_cols;
    o->stdin_mode = (tether_v1_StdinMode)s->stdin_mode;
    o->merge_stderr = s->merge_stderr;
    o->has_stdout_cap = s->has_stdout_cap;
    o->stdout_cap.bytes = s->stdout_cap;
    o->has_stderr_cap = s->has_stderr_cap;
    o->stderr_cap.bytes = s->stderr_cap;
    o->timeout_ms = s->timeout_ms;
    if (s->has_profile) {
      o->has_permission_profile = true;
      o->permission_profile.filesystem = (tether_v1_FilesystemMode)s->profile.filesystem;
      set_enc(&o->permission_profile.writable_roots, enc_list, &s->profile.writable_roots);
      set_enc(&o->permission_profile.read_only_subpaths, enc_list,
              &s->profile.read_only_subpaths);
      o->permission_profile.network = (tether_v1_NetworkMode)s->profile.network;
    }
    set_enc(&o->permission_profile_cwd, enc_bytes, &s->profile_cwd);
    if (s->has_limits) {
      o->has_limits = true;
      o->limits.memory_bytes = s->limits.memory_bytes;
      o->limits.processes = s->limits.processes;
      o->limits.cpu_ms = s->limits.cpu_ms;
      o->limits.open_files = s->limits.open_files;
      o->limits.file_size_bytes = s->limits.file_size_bytes;
    }
    break;
  }
  case TETHER_MSG_SPAWNED:
    f->body.spawned.pid = m->u.spawned.pid;
    break;
  case TETHER_MSG_SPAWN_FAILED: {
    tether_v1_SpawnFailed *o = &f->body.spawn_failed;
    o->stage = (tether_v1_SpawnStage)m->u.spawn_failed.stage;
    o->error = (tether_v1_SpawnError)m->u.spawn_failed.error;
    o->os_error = m->u.spawn_failed.os_error;
    o->os_error_space = (tether_v1_OsErrorSpace)m->u.spawn_failed.os_error_space;
    set_enc(&o->message, enc_bytes, &m->u.spawn_failed.message);
    break;
  }
  case TETHER_MSG_OUTPUT:
    f->body.output.stream = (tether_v1_Stream)m->u.output.stream;
    set_enc(&f->body.output.data, enc_bytes, &m->u.output.data);
    f->body.output.offset = m->u.output.offset;
    break;
  case TETHER_MSG_OUTPUT_TRUNCATED:
    f->body.output_truncated.stream = (tether_v1_Stream)m->u.output_truncated.stream;
    f->body.output_truncated.dropped = m->u.output_truncated.dropped;
    break;
  case TETHER_MSG_STDIN:
    set_enc(&f->body.stdin_data.data, enc_bytes, &m->u.stdin_data.data);
    f->body.stdin_data.offset = m->u.stdin_data.offset;
    break;
  case TETHER_MSG_STDIN_CLOSE:
  case TETHER_MSG_STATUS_REQUEST:
  case TETHER_MSG_NONE:
    break;
  case TETHER_MSG_RESIZE:
    f->body.resize.rows = m->u.resize.rows;
    f->body.resize.cols = m->u.resize.cols;
    break;
  case TETHER_MSG_SIGNAL:
    f->body.signal.signal = (tether_v1_SignalNumber)m->u.signal.signal;
    f->body.signal.group = m->u.signal.group;
    break;
  case TETHER_MSG_TERMINATE:
    f->body.terminate.grace_ms = m->u.terminate.grace_ms;
    break;
  case TETHER_MSG_CREDIT:
    f->body.credit.stream = (tether_v1_Stream)m->u.credit.stream;
    f->body.credit.bytes = m->u.credit.bytes;
    break;
  case TETHER_MSG_STATUS_REPLY:
    f->body.status_reply.running = m->u.status_reply.running;
    f->body.status_reply.pid = m->u.status_reply.pid;
    break;
  case TETHER_MSG_EXITED: {
    const tether_msg_exited *e = &m->u.exited;
    tether_v1_Exited *o = &f->body.exited;
    if (e->no_status) {
      o->which_status = 0;
    } else if (e->signaled) {
      o->which_status = tether_v1_Exited_signal_tag;
      o->status.signal = (tether_v1_SignalNumber)e->signal;
    } else {
      o->which_status = tether_v1_Exited_code_tag;
      o->status.code = e->code;
    }
    o->raw_signal = e->raw_signal;
    o->core_dumped = e->core_dumped;
    o->timed_out = e->timed_out;
    o->has_usage = e->has_usage;
    o->usage.user_time_us = e->user_time_us;
    o->usage.system_time_us = e->system_time_us;
    o->usage.max_rss_kib = e->max_rss_kib;
    o->usage.tree_peak_memory_bytes = e->tree_peak_memory_bytes;
    o->usage.tree_cpu_us = e->tree_cpu_us;
    o->limit = (tether_v1_ExitLimit)e->limit;
    break;
  }
  case TETHER_MSG_ERROR:
    f->body.error.code = (tether_v1_ErrorCode)m->u.error.code;
    set_enc(&f->body.error.message, enc_bytes, &m->u.error.message);
    f->body.error.fatal = m->u.error.fatal;
    break;
  case TETHER_MSG_GOODBYE:
    set_enc(&f->body.goodbye.reason, enc_bytes, &m->u.goodbye.reason);
    break;
  }
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

size_t tether_nanopb_encoded_size(const tether_msg *m) {
  if (check_encodable(m, NULL)) return 0;
  tether_v1_Frame f;
  to_nanopb(m, &f);
  size_t n = 0;
  if (!pb_get_encoded_size(&n, tether_v1_Frame_fields, &f)) return 0;
  return n;
}

int tether_nanopb_encode(const tether_msg *m, uint8_t *buf, size_t cap, size_t *written,
                         const char **why) {
  if (written) *written = 0;
  int rc = check_encodable(m, why);
  if (rc) return rc;
  tether_v1_Frame f;
  to_nanopb(m, &f);
  pb_ostream_t s = pb_ostream_from_buffer(buf, buf ? cap : 0);
  if (!pb_encode(&s, tether_v1_Frame_fields, &f)) {
    if (why) *why = "the output buffer is too small for the encoded frame";
    return TETHER_EINVAL;
  }
  if (written) *written = s.bytes_written;
  return 0;
}
