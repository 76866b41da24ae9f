/* Codec adapters: protobuf-c and nanopb against each other and themselves. */
#include "harness.h"

#include "fuzz/msg_compare.h"
#include "codec/codec.h"
#include "tether/error.h"
#include "tether/v1/tether.pb-c.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
/* The harness ends each test with _exit(), which skips LeakSanitizer's exit
 * check, so tests that exercise error paths ask for it explicitly. */
#define CHECK_NO_LEAKS() CHECK(__lsan_do_recoverable_leak_check() == 0)
#else
#define CHECK_NO_LEAKS() ((void)0)
#endif

#define CHECK_RC(expr, want)                                                   \
  do {                                                                         \
    int rc__ = (expr);                                                         \
    if (rc__ != (want)) FAIL("%s returned %d, want %d", #expr, rc__, (int)(want)); \
  } while (0)

/* ------------------------------------------------------------- fixtures */

static const uint8_t awk[] = {'a', 0, 0xFF, 'z', 0x80, 0};
#define AWK ((tether_bytes){awk, sizeof awk})
#define TXT(s) ((tether_bytes){(const uint8_t *)(s), sizeof(s) - 1})

static tether_bytes fx_argv[4], fx_env[3], fx_roots[2], fx_sub[2];

static void fill(tether_msg *m, tether_msg_type t) {
  memset(m, 0, sizeof *m);
  m->session = 0xFFFFFFF0u;
  m->type = t;
  switch (t) {
  case TETHER_MSG_HELLO:
    m->u.hello = (tether_msg_hello){
        .version_min = 1, .version_max = 7, .role = TETHER_ROLE_RUNNER,
        .implementation = TXT("tether-runner \xC3\xA9\xE2\x82\xAC"),
        .implementation_version = TXT("0.1.0-\xF0\x9F\x98\x80"),
        .capabilities = TETHER_CAP_BIT(0) | TETHER_CAP_BIT(TETHER_CAP_PTY) |
                        TETHER_CAP_BIT(TETHER_CAP_PROCESS_GROUPS) | TETHER_CAP_BIT(31),
        .max_frame_size = 0xFFFFFFFFu, .max_sessions = 3, .initial_window = 4,
        .max_window = 5};
    break;
  case TETHER_MSG_SPAWN: {
    fx_argv[0] = TXT("/bin/prog");
    fx_argv[1] = (tether_bytes){NULL, 0}; /* empty entry */
    fx_argv[2] = AWK;
    fx_argv[3] = TXT("");
    fx_env[0] = TXT("A=1");
    fx_env[1] = AWK;
    fx_env[2] = TXT("REMOVE");
    fx_roots[0] = TXT("/w");
    fx_roots[1] = AWK;
    fx_sub[0] = TXT(".git");
    fx_sub[1] = TXT("");
    tether_msg_spawn *s = &m->u.spawn;
    s->argv = (tether_bytes_list){fx_argv, 4};
    s->env_mode = TETHER_ENV_CLEAR;
    s->env = (tether_bytes_list){fx_env, 3};
    s->cwd = AWK;
    s->io_mode = TETHER__IO_PTY;
    s->pty_rows = 50, s->pty_cols = 132;
    s->stdin_mode = TETHER__STDIN_NULL;
    s->merge_stderr = true;
    s->has_stdout_cap = true, s->stdout_cap = 0; /* present, zero */
    s->has_stderr_cap = true, s->stderr_cap = UINT64_MAX;
    s->timeout_ms = 0xFFFFFFFFu;
    s->has_profile = true;
    s->profile = (tether_msg_profile){TETHER_FS_WORKSPACE_WRITE, {fx_roots, 2},
                                      {fx_sub, 2}, TETHER_NET_DENIED};
    s->profile_cwd = TXT("/ws\xFF");
    s->has_limits = true;
    s->limits = (tether_msg_limits){UINT64_MAX, 1, 0, 4, 1u << 20};
    break;
  }
  case TETHER_MSG_SPAWNED:
    m->u.spawned.pid = UINT64_MAX;
    break;
  case TETHER_MSG_SPAWN_FAILED:
    m->u.spawn_failed = (tether_msg_spawn_failed){TETHER_STAGE_PERMISSIONS,
                                                  TETHER_SPAWN_ERR_OTHER, INT64_MIN,
                                                  TETHER_OS_ERR_WIN32, TXT("n\xC3\xA9 x")};
    break;
  case TETHER_MSG_OUTPUT:
    m->u.output = (tether_msg_output){TETHER_STREAM_PTY, AWK, UINT64_MAX - 1};
    break;
  case TETHER_MSG_OUTPUT_TRUNCATED:
    m->u.output_truncated.stream = TETHER_STREAM_STDERR;
    m->u.output_truncated.dropped = 1ull << 40;
    break;
  case TETHER_MSG_STDIN:
    m->u.stdin_data.data = TXT("\0");
    m->u.stdin_data.offset = 12345678901ull;
    break;
  case TETHER_MSG_RESIZE:
    m->u.resize.rows = 0xFFFFFFFFu, m->u.resize.cols = 1;
    break;
  case TETHER_MSG_SIGNAL:
    m->u.signal.signal = TETHER_SIG_WINCH, m->u.signal.group = true;
    break;
  case TETHER_MSG_TERMINATE:
    m->u.terminate.grace_ms = 77;
    break;
  case TETHER_MSG_CREDIT:
    m->u.credit.stream = TETHER_STREAM_STDIN, m->u.credit.bytes = 1u << 30;
    break;
  case TETHER_MSG_STATUS_REPLY:
    m->u.status_reply.running = true, m->u.status_reply.pid = 4242;
    break;
  case TETHER_MSG_EXITED:
    m->u.exited = (tether_msg_exited){.signaled = true, .signal = TETHER_SIG_KILL,
                                      .raw_signal = -9, .core_dumped = true,
                                      .timed_out = true, .has_usage = true,
                                      .user_time_us = 1, .system_time_us = 2,
                                      .max_rss_kib = UINT64_MAX,
                                      .tree_peak_memory_bytes = UINT64_MAX,
                                      .tree_cpu_us = 3, .limit = 0xFFFFFFFFu};
    break;
  case TETHER_MSG_ERROR:
    m->u.error.code = TETHER_WIRE_TIMEOUT;
    m->u.error.message = TXT("handshake \xE2\x8C\x9B timed out");
    m->u.error.fatal = true;
    break;
  case TETHER_MSG_GOODBYE:
    m->u.goodbye.reason = TXT("bye");
    break;
  case TETHER_MSG_STDIN_CLOSE:
  case TETHER_MSG_STATUS_REQUEST:
  case TETHER_MSG_NONE:
    break;
  }
}

static const tether_msg_type all_types[] = {
    TETHER_MSG_HELLO,   TETHER_MSG_SPAWN,          TETHER_MSG_SPAWNED,
    TETHER_MSG_SPAWN_FAILED, TETHER_MSG_OUTPUT,    TETHER_MSG_OUTPUT_TRUNCATED,
    TETHER_MSG_STDIN,   TETHER_MSG_STDIN_CLOSE,    TETHER_MSG_RESIZE,
    TETHER_MSG_SIGNAL,  TETHER_MSG_TERMINATE,      TETHER_MSG_CREDIT,
    TETHER_MSG_STATUS_REQUEST, TETHER_MSG_STATUS_REPLY, TETHER_MSG_EXITED,
    TETHER_MSG_ERROR,   TETHER_MSG_GOODBYE};
#define N_TYPES (sizeof all_types / sizeof all_types[0])

/* ------------------------------------------------------------ comparison */

/* The comparator the fuzzers use (fuzz/msg_compare.c): one definition of
 * "the same frame" for tests and harnesses. */
static void msg_eq(const char *ctx, const tether_msg *a, const tether_msg *b) {
  char diff[256];
  if (!fuzz_msg_equal(a, b, diff, sizeof diff)) FAIL("%s: %s", ctx, diff);
}

/* ------------------------------------------------------------ codec pair */

typedef struct codecs {
  tether_pbc_decoder *pbc;
  tether_nanopb_decoder *np;
} codecs;

static codecs codecs_new(void) {
  codecs c;
  CHECK_RC(tether_pbc_decoder_new(&c.pbc), 0);
  CHECK_RC(tether_nanopb_decoder_new(&c.np), 0);
  return c;
}

static void codecs_free(codecs *c) {
  tether_pbc_decoder_free(c->pbc);
  tether_nanopb_decoder_free(c->np);
}

static uint8_t *enc_buf(size_t n) {
  uint8_t *b = malloc(n ? n : 1);
  CHECK(b);
  return b;
}

/* Encodes with both encoders; checks sizes and that the bytes are equal. */
static size_t encode_both(const tether_msg *m, uint8_t **out) {
  size_t np_size = tether_nanopb_encoded_size(m), pbc_size = tether_pbc_encoded_size(m);
  CHECK(np_size > 0);
  CHECK_EQ_INT(np_size, pbc_size);
  uint8_t *a = enc_buf(pbc_size), *b = enc_buf(np_size);
  size_t wa = 0, wb = 0;
  const char *why = NULL;
  CHECK_RC(tether_pbc_encode(m, a, pbc_size, &wa, &why), 0);
  CHECK_RC(tether_nanopb_encode(m, b, np_size, &wb, &why), 0);
  CHECK_EQ_INT(wa, pbc_size);
  CHECK_EQ_INT(wb, np_size);
  CHECK_EQ_MEM(a, wa, b, wb);
  free(b);
  *out = a;
  return wa;
}

/* Decodes with both; both must return `want`; on success both results must
 * equal each other (and `expect` if given). */
static void decode_both(codecs *c, const uint8_t *p, size_t n, int want,
                        const tether_msg *expect, const char *ctx) {
  tether_msg a, b;
  const char *wa = NULL, *wb = NULL;
  int ra = tether_pbc_decode(c->pbc, p, n, &a, &wa);
  int rb = tether_nanopb_decode(c->np, p, n, &b, &wb);
  if (ra != want || rb != want)
    FAIL("%s: pbc %d (%s), nanopb %d (%s), want %d", ctx, ra, wa ? wa : "-", rb,
         wb ? wb : "-", want);
  if (want == 0) {
    msg_eq(ctx, &a, &b);
    if (expect) msg_eq(ctx, expect, &a);
  } else {
    CHECK(wa && wb);
    /* both keep the address of a frame that parsed but broke a rule, and
     * nothing else */
    CHECK_EQ_INT(a.session, b.session);
    CHECK_EQ_INT(a.type, b.type);
    if (want == TETHER_EDECODE) CHECK(a.type == TETHER_MSG_NONE && a.session == 0);
    if (want != TETHER_EDECODE && expect) {
      CHECK_EQ_INT(a.session, expect->session);
      CHECK_EQ_INT(a.type, expect->type);
    }
  }
}

/* --------------------------------------------------------- wire builder */

typedef struct wbuf {
  uint8_t *p;
  size_t len, cap;
} wbuf;

static void w_raw(wbuf *w, const void *d, size_t n) {
  if (w->len + n > w->cap) {
    w->cap = (w->len + n) * 2 + 64;
    w->p = realloc(w->p, w->cap);
    CHECK(w->p);
  }
  if (n) memcpy(w->p + w->len, d, n);
  w->len += n;
}

static void w_varint(wbuf *w, uint64_t v) {
  uint8_t b[10];
  size_t n = 0;
  do {
    b[n] = (uint8_t)(v & 0x7F);
    v >>= 7;
    if (v) b[n] |= 0x80;
    n++;
  } while (v);
  w_raw(w, b, n);
}

static void w_tag(wbuf *w, uint32_t field, uint32_t wt) { w_varint(w, (uint64_t)field << 3 | wt); }
static void w_bytes(wbuf *w, uint32_t field, const void *d, size_t n) {
  w_tag(w, field, 2);
  w_varint(w, n);
  w_raw(w, d, n);
}
static void w_uint(wbuf *w, uint32_t field, uint64_t v) {
  w_tag(w, field, 0);
  w_varint(w, v);
}
/* Wraps `inner` as Frame{session, body field `body` = inner}. */
static wbuf w_frame(uint32_t session, uint32_t body, const wbuf *inner) {
  wbuf f = {0};
  w_uint(&f, 1, session);
  w_bytes(&f, body, inner->p, inner->len);
  return f;
}
static void w_free(wbuf *w) { free(w->p); }

/* ------------------------------------------------------------------ tests */

TEST(roundtrip_every_type_both_directions) {
  codecs c = codecs_new();
  for (size_t i = 0; i < N_TYPES; i++) {
    tether_msg m;
    fill(&m, all_types[i]);
    uint8_t *enc;
    size_t n = encode_both(&m, &enc); /* pbc bytes == nanopb bytes */
    char ctx[64];
    snprintf(ctx, sizeof ctx, "%s", tether_msg_type_name(all_types[i]));
    decode_both(&c, enc, n, 0, &m, ctx);
    /* Each decoded message re-encodes to the same bytes (self round trip). */
    tether_msg back;
    uint8_t again[4096];
    size_t w = 0;
    CHECK_RC(tether_pbc_decode(c.pbc, enc, n, &back, NULL), 0);
    CHECK_RC(tether_pbc_encode(&back, again, sizeof again, &w, NULL), 0);
    CHECK_EQ_MEM(again, w, enc, n);
    CHECK_RC(tether_nanopb_decode(c.np, enc, n, &back, NULL), 0);
    CHECK_RC(tether_nanopb_encode(&back, again, sizeof again, &w, NULL), 0);
    CHECK_EQ_MEM(again, w, enc, n);
    free(enc);
  }
  codecs_free(&c);
  CHECK_NO_LEAKS();
}

TEST(defaults_and_exit_code_arm) {
  codecs c = codecs_new();
  for (size_t i = 0; i < N_TYPES; i++) {
    tether_msg m;
    memset(&m, 0, sizeof m);
    m.type = all_types[i];
    if (m.type == TETHER_MSG_OUTPUT) m.u.output.data = TXT("x");
    if (m.type == TETHER_MSG_STDIN) m.u.stdin_data.data = TXT("x");
    uint8_t *enc;
    size_t n = encode_both(&m, &enc);
    decode_both(&c, enc, n, 0, &m, tether_msg_type_name(m.type));
    free(enc);
  }
  tether_msg m;
  fill(&m, TETHER_MSG_EXITED);
  m.u.exited.signaled = false, m.u.exited.signal = 0, m.u.exited.code = 0xFFFFFFFFu;
  uint8_t *enc;
  size_t n = encode_both(&m, &enc);
  decode_both(&c, enc, n, 0, &m, "exited code");
  free(enc);
  codecs_free(&c);
}

TEST(views_point_into_payload_for_nanopb) {
  tether_nanopb_decoder *d;
  CHECK_RC(tether_nanopb_decoder_new(&d), 0);
  tether_msg m, out;
  fill(&m, TETHER_MSG_OUTPUT);
  uint8_t buf[256];
  size_t n;
  CHECK_RC(tether_nanopb_encode(&m, buf, sizeof buf, &n, NULL), 0);
  CHECK_RC(tether_nanopb_decode(d, buf, n, &out, NULL), 0);
  CHECK(out.u.output.data.data >= buf && out.u.output.data.data < buf + n);
  tether_nanopb_decoder_free(d);
}

static void spawn_with_argv(codecs *c, size_t count, size_t each, int want,
                            uint32_t field) {
  wbuf s = {0};
  uint8_t *item = calloc(1, each ? each : 1);
  CHECK(item);
  memset(item, 'x', each);
  for (size_t i = 0; i < count; i++) w_bytes(&s, field, item, each);
  wbuf f = w_frame(9, 3, &s);
  char ctx[96];
  snprintf(ctx, sizeof ctx, "field %u: %zu x %zu bytes", field, count, each);
  tether_msg addr = {.session = 9, .type = TETHER_MSG_SPAWN};
  decode_both(c, f.p, f.len, want, want ? &addr : NULL, ctx);
  free(item);
  w_free(&s);
  w_free(&f);
}

TEST(limit_argv_and_env_count) {
  codecs c = codecs_new();
  spawn_with_argv(&c, TETHER_ARGV_MAX_COUNT, 1, 0, 1);
  spawn_with_argv(&c, TETHER_ARGV_MAX_COUNT + 1, 1, TETHER_ELIMIT_ARGV_COUNT, 1);
  spawn_with_argv(&c, TETHER_ARGV_MAX_COUNT + 1, 0, TETHER_ELIMIT_ARGV_COUNT, 1);
  spawn_with_argv(&c, TETHER_ENV_MAX_COUNT, 1, 0, 3);
  spawn_with_argv(&c, TETHER_ENV_MAX_COUNT + 1, 1, TETHER_ELIMIT_ENV_COUNT, 3);
  /* The message names the field and the limit. */
  tether_msg m;
  const char *why = NULL;
  wbuf s = {0};
  for (size_t i = 0; i < TETHER_ARGV_MAX_COUNT + 1; i++) w_bytes(&s, 1, "a", 1);
  wbuf f = w_frame(1, 3, &s);
  CHECK_RC(tether_pbc_decode(c.pbc, f.p, f.len, &m, &why), TETHER_ELIMIT_ARGV_COUNT);
  CHECK_EQ_STR(why, "Spawn.argv has 4097 entries; the limit is 4096");
  CHECK_RC(tether_nanopb_decode(c.np, f.p, f.len, &m, &why), TETHER_ELIMIT_ARGV_COUNT);
  CHECK_EQ_STR(why, "Spawn.argv has 4097 entries; the limit is 4096");
  w_free(&s);
  w_free(&f);
  codecs_free(&c);
  CHECK_NO_LEAKS();
}

TEST(limit_argv_and_env_bytes) {
  codecs c = codecs_new();
  size_t each = TETHER_ARGV_MAX_BYTES / 4;
  spawn_with_argv(&c, 4, each, 0, 1);
  spawn_with_argv(&c, 5, each / 4, 0, 1);
  /* 4 x each + 1 byte more */
  wbuf s = {0};
  uint8_t *item = calloc(1, each + 1);
  for (int i = 0; i < 3; i++) w_bytes(&s, 1, item, each);
  w_bytes(&s, 1, item, each + 1);
  for (int i = 0; i < 3; i++) w_bytes(&s, 3, item, TETHER_ENV_MAX_BYTES / 4);
  w_bytes(&s, 3, item, TETHER_ENV_MAX_BYTES / 4);
  wbuf f = w_frame(1, 3, &s);
  decode_both(&c, f.p, f.len, TETHER_ELIMIT_ARGV_BYTES, NULL, "argv bytes + 1");
  w_free(&s), w_free(&f);
  memset(&s, 0, sizeof s);
  for (int i = 0; i < 3; i++) w_bytes(&s, 3, item, TETHER_ENV_MAX_BYTES / 4);
  w_bytes(&s, 3, item, TETHER_ENV_MAX_BYTES / 4);
  f = w_frame(1, 3, &s);
  decode_both(&c, f.p, f.len, 0, NULL, "env bytes at limit");
  w_free(&f);
  w_bytes(&s, 3, item, 1);
  f = w_frame(1, 3, &s);
  decode_both(&c, f.p, f.len, TETHER_ELIMIT_ENV_BYTES, NULL, "env bytes + 1");
  w_free(&s), w_free(&f);
  free(item);
  codecs_free(&c);
}

static void spawn_field(codecs *c, uint32_t field, size_t len, int want) {
  wbuf s = {0};
  uint8_t *item = calloc(1, len + 1);
  memset(item, '/', len);
  w_bytes(&s, field, item, len);
  wbuf f = w_frame(1, 3, &s);
  char ctx[64];
  snprintf(ctx, sizeof ctx, "Spawn field %u len %zu", field, len);
  decode_both(c, f.p, f.len, want, NULL, ctx);
  w_free(&s), w_free(&f), free(item);
}

static void profile_list(codecs *c, uint32_t field, size_t count, size_t len, int want) {
  wbuf p = {0}, s = {0};
  uint8_t *item = calloc(1, len + 1);
  memset(item, 'r', len);
  for (size_t i = 0; i < count; i++) w_bytes(&p, field, item, len);
  w_bytes(&s, 13, p.p, p.len);
  wbuf f = w_frame(1, 3, &s);
  char ctx[64];
  snprintf(ctx, sizeof ctx, "profile field %u: %zu x %zu", field, count, len);
  decode_both(c, f.p, f.len, want, NULL, ctx);
  w_free(&p), w_free(&s), w_free(&f), free(item);
}

TEST(limit_paths_and_profile) {
  codecs c = codecs_new();
  spawn_field(&c, 4, TETHER_PATH_MAX_BYTES, 0);
  spawn_field(&c, 4, TETHER_PATH_MAX_BYTES + 1, TETHER_ELIMIT_PATH);
  spawn_field(&c, 14, TETHER_PATH_MAX_BYTES, 0);
  spawn_field(&c, 14, TETHER_PATH_MAX_BYTES + 1, TETHER_ELIMIT_PATH);
  for (uint32_t field = 2; field <= 3; field++) {
    profile_list(&c, field, TETHER_PROFILE_MAX_PATHS, 3, 0);
    profile_list(&c, field, TETHER_PROFILE_MAX_PATHS + 1, 3, TETHER_ELIMIT_ROOTS);
    profile_list(&c, field, 1, TETHER_PATH_MAX_BYTES, 0);
    profile_list(&c, field, 1, TETHER_PATH_MAX_BYTES + 1, TETHER_ELIMIT_PATH);
  }
  codecs_free(&c);
}

/* Frame{body = {field: text}} */
static void text_case(codecs *c, uint32_t body, uint32_t field, const void *text,
                      size_t len, int want, const char *ctx) {
  wbuf s = {0};
  w_bytes(&s, field, text, len);
  wbuf f = w_frame(0, body, &s);
  decode_both(c, f.p, f.len, want, NULL, ctx);
  w_free(&s), w_free(&f);
}

TEST(limit_text_fields) {
  codecs c = codecs_new();
  char big[TETHER_MESSAGE_MAX_BYTES + 2];
  memset(big, 'm', sizeof big);
  text_case(&c, 17, 2, big, TETHER_MESSAGE_MAX_BYTES, 0, "Error.message at limit");
  text_case(&c, 17, 2, big, TETHER_MESSAGE_MAX_BYTES + 1, TETHER_ELIMIT_STRING,
            "Error.message + 1");
  text_case(&c, 5, 5, big, TETHER_MESSAGE_MAX_BYTES + 1, TETHER_ELIMIT_STRING,
            "SpawnFailed.message + 1");
  text_case(&c, 18, 1, big, TETHER_MESSAGE_MAX_BYTES + 1, TETHER_ELIMIT_STRING,
            "Goodbye.reason + 1");
  text_case(&c, 2, 4, big, TETHER_NAME_MAX_BYTES, 0, "Hello.implementation at limit");
  text_case(&c, 2, 4, big, TETHER_NAME_MAX_BYTES + 1, TETHER_ELIMIT_STRING,
            "Hello.implementation + 1");
  text_case(&c, 2, 5, big, TETHER_NAME_MAX_BYTES + 1, TETHER_ELIMIT_STRING,
            "Hello.implementation_version + 1");
  /* Encoders refuse what decoders refuse. */
  tether_msg m;
  fill(&m, TETHER_MSG_ERROR);
  m.u.error.message = (tether_bytes){(const uint8_t *)big, TETHER_MESSAGE_MAX_BYTES + 1};
  uint8_t out[2048];
  size_t w;
  const char *why = NULL;
  CHECK_RC(tether_pbc_encode(&m, out, sizeof out, &w, &why), TETHER_ELIMIT_STRING);
  CHECK_EQ_STR(why, "Error.message is 1025 bytes; the limit is 1024");
  CHECK_RC(tether_nanopb_encode(&m, out, sizeof out, &w, &why), TETHER_ELIMIT_STRING);
  CHECK_EQ_INT(tether_pbc_encoded_size(&m), 0);
  CHECK_EQ_INT(tether_nanopb_encoded_size(&m), 0);
  codecs_free(&c);
}

TEST(invalid_utf8_and_nul_rejected) {
  codecs c = codecs_new();
  static const char *bad[] = {"\xFF", "ab\xC3", "\xC0\x80", "\xED\xA0\x80",
                              "\xF4\x90\x80\x80", "\xE0\x80\xAF", "x\x80"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    text_case(&c, 17, 2, bad[i], strlen(bad[i]), TETHER_EINVAL, "Error.message utf8");
    text_case(&c, 2, 4, bad[i], strlen(bad[i]), TETHER_EINVAL, "Hello.impl utf8");
  }
  text_case(&c, 17, 2, "a\0b", 3, TETHER_EINVAL, "Error.message NUL");
  text_case(&c, 18, 1, "\0", 1, TETHER_EINVAL, "Goodbye.reason NUL");
  text_case(&c, 17, 2, "\xF4\x8F\xBF\xBF \xEF\xBF\xBF", 8, 0, "max code points");
  codecs_free(&c);
  CHECK_NO_LEAKS();
}

TEST(empty_data_rejected) {
  codecs c = codecs_new();
  wbuf s = {0};
  w_uint(&s, 1, TETHER_STREAM_STDOUT);
  w_uint(&s, 3, 5);
  wbuf f = w_frame(1, 6, &s);
  decode_both(&c, f.p, f.len, TETHER_EINVAL, NULL, "Output without data");
  w_free(&f);
  f = w_frame(1, 8, &s); /* Stdin: field 1 is data; varint there is a wire error */
  decode_both(&c, f.p, f.len, TETHER_EDECODE, NULL, "Stdin data as varint");
  w_free(&f), w_free(&s);
  memset(&s, 0, sizeof s);
  w_bytes(&s, 1, "", 0);
  f = w_frame(1, 8, &s);
  decode_both(&c, f.p, f.len, TETHER_EINVAL, NULL, "Stdin with empty data");
  w_free(&f), w_free(&s);
  tether_msg m;
  fill(&m, TETHER_MSG_OUTPUT);
  m.u.output.data.len = 0;
  uint8_t out[64];
  size_t w;
  CHECK_RC(tether_pbc_encode(&m, out, sizeof out, &w, NULL), TETHER_EINVAL);
  CHECK_RC(tether_nanopb_encode(&m, out, sizeof out, &w, NULL), TETHER_EINVAL);
  codecs_free(&c);
}

TEST(garbage_and_truncation) {
  codecs c = codecs_new();
  static const uint8_t junk[][6] = {{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF},
                                    {0x1A, 0x05, 0x0A},
                                    {0x0F},
                                    {0x08},
                                    {0x00, 0x00},
                                    {0x1A, 0x02, 0x0B, 0x00}};
  static const size_t junk_len[] = {6, 3, 1, 1, 2, 4};
  for (size_t i = 0; i < 6; i++)
    decode_both(&c, junk[i], junk_len[i], TETHER_EDECODE, NULL, "junk");
  /* Every prefix of every frame: both decoders agree, whatever the verdict. */
  for (size_t t = 0; t < N_TYPES; t++) {
    tether_msg m;
    fill(&m, all_types[t]);
    uint8_t *enc;
    size_t n = encode_both(&m, &enc);
    for (size_t cut = 0; cut < n; cut++) {
      uint8_t *p = enc_buf(cut);
      memcpy(p, enc, cut);
      tether_msg a, b;
      int ra = tether_pbc_decode(c.pbc, p, cut, &a, NULL);
      int rb = tether_nanopb_decode(c.np, p, cut, &b, NULL);
      if (ra != rb) FAIL("%s cut at %zu: pbc %d nanopb %d", tether_msg_type_name(all_types[t]), cut, ra, rb);
      if (ra == 0) msg_eq("prefix", &a, &b);
      free(p);
    }
    free(enc);
  }
  codecs_free(&c);
  CHECK_NO_LEAKS();
}

TEST(random_bytes_differential) {
  codecs c = codecs_new();
  uint64_t seed = 0x7e7e7ull ^ 0x9E3779B97F4A7C15ull;
  uint8_t buf[64];
  for (int iter = 0; iter < 2000000; iter++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    size_t n = (size_t)(seed >> 58);
    for (size_t i = 0; i < n; i++) {
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      buf[i] = (uint8_t)(seed >> 56);
    }
    /* Bias towards plausible frames: a valid body tag up front. */
    if (n > 2 && (iter & 1)) buf[0] = (uint8_t)(((2 + iter % 17) << 3) | 2), buf[1] = (uint8_t)(n - 2);
    tether_msg a, b;
    int ra = tether_pbc_decode(c.pbc, buf, n, &a, NULL);
    int rb = tether_nanopb_decode(c.np, buf, n, &b, NULL);
    if (ra != rb) {
      fprintf(stderr, "  input:");
      for (size_t i = 0; i < n; i++) fprintf(stderr, " %02x", buf[i]);
      fprintf(stderr, "\n");
      FAIL("iteration %d: pbc %d nanopb %d", iter, ra, rb);
    }
    if (ra == 0) msg_eq("random", &a, &b);
  }
  codecs_free(&c);
  CHECK_NO_LEAKS();
}

/* Valid frames with a few bytes changed, inserted or dropped. */
TEST(mutated_frames_differential) {
  codecs c = codecs_new();
  uint64_t seed = 12345;
#define RND() (seed = seed * 6364136223846793005ull + 1442695040888963407ull, seed >> 33)
  uint8_t *enc[N_TYPES];
  size_t len[N_TYPES];
  for (size_t t = 0; t < N_TYPES; t++) {
    tether_msg m;
    fill(&m, all_types[t]);
    len[t] = encode_both(&m, &enc[t]);
  }
  uint8_t buf[512];
  for (int iter = 0; iter < 300000; iter++) {
    size_t t = RND() % N_TYPES, n = len[t];
    memcpy(buf, enc[t], n);
    int edits = 1 + (int)(RND() % 3);
    for (int e = 0; e < edits && n > 0; e++) {
      size_t at = RND() % n;
      switch (RND() % 4) {
      case 0: buf[at] = (uint8_t)RND(); break;
      case 1: buf[at] ^= (uint8_t)(1u << (RND() % 8)); break;
      case 2: memmove(buf + at, buf + at + 1, n - at - 1), n--; break;
      default:
        if (n < sizeof buf) memmove(buf + at + 1, buf + at, n - at), buf[at] = (uint8_t)RND(), n++;
      }
    }
    tether_msg a, b;
    int ra = tether_pbc_decode(c.pbc, buf, n, &a, NULL);
    int rb = tether_nanopb_decode(c.np, buf, n, &b, NULL);
    if (ra != rb) {
      fprintf(stderr, "  input:");
      for (size_t i = 0; i < n; i++) fprintf(stderr, " %02x", buf[i]);
      fprintf(stderr, "\n");
      FAIL("iteration %d: pbc %d nanopb %d", iter, ra, rb);
    }
    if (ra == 0) msg_eq("mutated", &a, &b);
  }
#undef RND
  for (size_t t = 0; t < N_TYPES; t++) free(enc[t]);
  codecs_free(&c);
  CHECK_NO_LEAKS();
}

TEST(unknown_body_and_unknown_fields) {
  codecs c = codecs_new();
  /* Frame{session 5, field 99 = {1: 1}} */
  wbuf inner = {0};
  w_uint(&inner, 1, 1);
  wbuf f = w_frame(5, 99, &inner);
  tether_msg want;
  memset(&want, 0, sizeof want);
  want.session = 5;
  want.type = TETHER_MSG_NONE;
  decode_both(&c, f.p, f.len, 0, &want, "unknown body 99");
  w_free(&f), w_free(&inner);
  /* Known body followed by an unknown body: the oneof stays set. */
  wbuf g = {0};
  w_bytes(&g, 10, "\x08\x02\x10\x03", 4);
  w_tag(&g, 98, 0), w_varint(&g, 7);
  want.type = TETHER_MSG_RESIZE, want.session = 0;
  want.u.resize.rows = 2, want.u.resize.cols = 3;
  decode_both(&c, g.p, g.len, 0, &want, "resize + unknown");
  w_free(&g);
  /* Unknown fields of every wire type inside a known message. */
  wbuf s = {0};
  w_uint(&s, 1, TETHER_STREAM_STDERR);
  w_uint(&s, 50, 123456789);
  w_bytes(&s, 2, "hi", 2);
  w_bytes(&s, 51, "\xFF\x00", 2);
  w_tag(&s, 52, 5), w_raw(&s, "\1\2\3\4", 4);
  w_tag(&s, 53, 1), w_raw(&s, "\1\2\3\4\5\6\7\x8", 8);
  w_uint(&s, 3, 9);
  f = w_frame(4, 6, &s);
  memset(&want, 0, sizeof want);
  want.session = 4, want.type = TETHER_MSG_OUTPUT;
  want.u.output = (tether_msg_output){TETHER_STREAM_STDERR, TXT("hi"), 9};
  decode_both(&c, f.p, f.len, 0, &want, "unknown fields in Output");
  w_free(&s), w_free(&f);
  codecs_free(&c);
  CHECK_NO_LEAKS();
}

TEST(open_enums_preserved) {
  codecs c = codecs_new();
  tether_msg m;
  fill(&m, TETHER_MSG_OUTPUT);
  m.u.output.stream = 0xFFFFFFFFu; /* -1 on the wire */
  uint8_t *enc;
  size_t n = encode_both(&m, &enc);
  decode_both(&c, enc, n, 0, &m, "negative enum");
  free(enc);
  fill(&m, TETHER_MSG_SIGNAL);
  m.u.signal.signal = 999;
  n = encode_both(&m, &enc);
  decode_both(&c, enc, n, 0, &m, "unknown enum");
  free(enc);
  fill(&m, TETHER_MSG_SPAWN);
  m.u.spawn.env_mode = 0x80000000u, m.u.spawn.profile.network = 77;
  n = encode_both(&m, &enc);
  decode_both(&c, enc, n, 0, &m, "spawn enums");
  free(enc);
  codecs_free(&c);
}

TEST(wire_corner_cases_agree) {
  codecs c = codecs_new();
  tether_msg want;
  /* uint32 varint above 2^32: truncated by both (protobuf rule). */
  wbuf s = {0};
  w_uint(&s, 1, (1ull << 32) + 5);
  wbuf f = w_frame(0, 10, &s);
  memset(&want, 0, sizeof want);
  want.type = TETHER_MSG_RESIZE, want.u.resize.rows = 5;
  decode_both(&c, f.p, f.len, 0, &want, "uint32 overflow");
  w_free(&s), w_free(&f);
  /* Capabilities: unpacked and packed mixed, out-of-range values ignored. */
  memset(&s, 0, sizeof s);
  w_uint(&s, 6, 2);
  w_bytes(&s, 6, "\x01\x28\x1F", 3); /* 1, 40 (ignored), 31 */
  w_uint(&s, 6, (uint64_t)-1);       /* negative: ignored */
  f = w_frame(0, 2, &s);
  memset(&want, 0, sizeof want);
  want.type = TETHER_MSG_HELLO;
  want.u.hello.capabilities = TETHER_CAP_BIT(1) | TETHER_CAP_BIT(2) | TETHER_CAP_BIT(31);
  decode_both(&c, f.p, f.len, 0, &want, "capabilities");
  w_free(&s), w_free(&f);
  /* Capabilities with a fixed32 wire type, or a broken packed run. */
  memset(&s, 0, sizeof s);
  w_tag(&s, 6, 5), w_raw(&s, "\1\0\0\0", 4);
  f = w_frame(0, 2, &s);
  decode_both(&c, f.p, f.len, TETHER_EDECODE, NULL, "caps fixed32");
  w_free(&s), w_free(&f);
  memset(&s, 0, sizeof s);
  w_bytes(&s, 6, "\x01\x80", 2);
  f = w_frame(0, 2, &s);
  decode_both(&c, f.p, f.len, TETHER_EDECODE, NULL, "caps packed broken");
  w_free(&s), w_free(&f);
  /* argv as a varint: wrong wire type for bytes. */
  memset(&s, 0, sizeof s);
  w_uint(&s, 1, 3);
  f = w_frame(0, 3, &s);
  decode_both(&c, f.p, f.len, TETHER_EDECODE, NULL, "argv varint");
  w_free(&s), w_free(&f);
  /* A submessage field sent twice is refused by both (protobuf-c would
   * overwrite what nanopb merges); distinct oneof members: the last wins. */
  wbuf a = {0}, b = {0}, p1 = {0}, p2 = {0};
  w_bytes(&a, 1, "first", 5);
  w_uint(&a, 6, 10);
  w_bytes(&b, 1, "second", 6);
  w_bytes(&p1, 2, "/r1", 3);
  w_bytes(&p2, 4, "", 0);
  w_bytes(&b, 13, p1.p, p1.len);
  memset(&f, 0, sizeof f);
  w_bytes(&f, 3, a.p, a.len);
  w_bytes(&f, 3, b.p, b.len);
  decode_both(&c, f.p, f.len, TETHER_EDECODE, NULL, "Frame.spawn twice");
  w_free(&f);
  w_bytes(&b, 13, p1.p, p1.len); /* Spawn.permission_profile twice */
  memset(&f, 0, sizeof f);
  w_bytes(&f, 3, b.p, b.len);
  decode_both(&c, f.p, f.len, TETHER_EDECODE, NULL, "Spawn.permission_profile twice");
  w_free(&f);
  /* spawn, then hello: two bodies in one frame are refused by both, never
   * "the last member wins" (PROTOCOL.md §8); so are code and signal in one
   * Exited. */
  memset(&f, 0, sizeof f);
  w_bytes(&f, 3, a.p, a.len);
  w_bytes(&f, 2, "", 0);
  decode_both(&c, f.p, f.len, TETHER_EDECODE, NULL, "spawn then hello");
  w_free(&f);
  wbuf e = {0};
  w_uint(&e, 1, 0);
  w_uint(&e, 2, 9);
  memset(&f, 0, sizeof f);
  w_bytes(&f, 16, e.p, e.len);
  decode_both(&c, f.p, f.len, TETHER_EDECODE, NULL, "Exited with code and signal");
  w_free(&f), w_free(&e);
  /* Exited with neither: decodes, marked (the receiver's rule, §5.9). */
  memset(&f, 0, sizeof f);
  w_uint(&f, 1, 4);
  w_bytes(&f, 16, "", 0);
  tether_msg got;
  CHECK_RC(tether_nanopb_decode(c.np, f.p, f.len, &got, NULL), 0);
  CHECK(got.type == TETHER_MSG_EXITED && got.u.exited.no_status);
  decode_both(&c, f.p, f.len, 0, &got, "Exited with no status");
  w_free(&f), w_free(&a), w_free(&b), w_free(&p1), w_free(&p2);
  /* More than TETHER_FRAME_FIELDS_MAX field occurrences: refused by both
   * before protobuf-c allocates for them; exactly at the limit: decodes. */
  memset(&f, 0, sizeof f);
  w_uint(&f, 1, 7); /* Frame.session: one field */
  for (size_t i = 1; i < TETHER_FRAME_FIELDS_MAX; i++) w_uint(&f, 99, 0); /* unknown */
  decode_both(&c, f.p, f.len, 0, NULL, "fields at the limit");
  w_uint(&f, 99, 0);
  decode_both(&c, f.p, f.len, TETHER_EDECODE, NULL, "fields over the limit");
  w_free(&f);
  /* Wire edges where protobuf-c and nanopb differ by default: both reject. */
  static const struct { const char *bytes; size_t len; const char *what; } edges[] = {
      {"\x7a\x05\x0d\x01\x00\x00\x00", 7, "bool as fixed32"},
      {"\x7a\x0b\x08\x80\x80\x80\x80\x80\x80\x80\x80\x01", 12, "bool as 10-byte varint"},
      {"\x52\x83\x80\x80\x80\x80\x00\x08\x01\x10\x02", 11, "6-byte length"},
      {"\x08\x01\xc1\x9a\x8b\xb0\x5b\x00", 8, "key beyond 32 bits"},
      {"\x80\x00\x01", 3, "field number 0"},
      {"\xa8\x06\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 12, "varint beyond 64 bits"},
      {"\x0b\x0c", 2, "group wire types"}};
  for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
    decode_both(&c, (const uint8_t *)edges[i].bytes, edges[i].len, TETHER_EDECODE, NULL,
                edges[i].what);
  /* Exited: two arms of the status oneof are refused, never "the last
   * wins" (the first would be lost unseen). */
  memset(&s, 0, sizeof s);
  w_uint(&s, 2, 9);
  w_uint(&s, 1, 3);
  f = w_frame(0, 16, &s);
  decode_both(&c, f.p, f.len, TETHER_EDECODE, NULL, "exited arms");
  w_free(&s), w_free(&f);
  codecs_free(&c);
  CHECK_NO_LEAKS();
}

TEST(encode_errors) {
  tether_msg m;
  uint8_t out[512];
  size_t w = 99;
  const char *why = NULL;
  memset(&m, 0, sizeof m);
  CHECK_RC(tether_pbc_encode(&m, out, sizeof out, &w, &why), TETHER_EINVAL);
  CHECK_RC(tether_nanopb_encode(&m, out, sizeof out, &w, &why), TETHER_EINVAL);
  CHECK_EQ_INT(w, 0);
  m.type = (tether_msg_type)19;
  CHECK_RC(tether_pbc_encode(&m, out, sizeof out, &w, &why), TETHER_EINVAL);
  CHECK_RC(tether_nanopb_encode(&m, out, sizeof out, &w, &why), TETHER_EINVAL);
  fill(&m, TETHER_MSG_SPAWN);
  size_t need = tether_pbc_encoded_size(&m);
  CHECK_RC(tether_pbc_encode(&m, out, need - 1, &w, &why), TETHER_EINVAL);
  CHECK_RC(tether_nanopb_encode(&m, out, need - 1, &w, &why), TETHER_EINVAL);
  CHECK_RC(tether_pbc_encode(&m, out, need, &w, &why), 0);
  CHECK_EQ_INT(w, need);
  /* Over-limit lists are refused by the encoders too. */
  static tether_bytes many[TETHER_ARGV_MAX_COUNT + 1];
  m.u.spawn.argv = (tether_bytes_list){many, TETHER_ARGV_MAX_COUNT + 1};
  CHECK_RC(tether_pbc_encode(&m, out, sizeof out, &w, &why), TETHER_ELIMIT_ARGV_COUNT);
  CHECK_RC(tether_nanopb_encode(&m, out, sizeof out, &w, &why), TETHER_ELIMIT_ARGV_COUNT);
  CHECK_EQ_STR(why, "Spawn.argv has 4097 entries; the limit is 4096");
  CHECK_EQ_STR(tether_msg_type_name(TETHER_MSG_SPAWN_FAILED), "SpawnFailed");
  CHECK_EQ_STR(tether_msg_type_name((tether_msg_type)42), "unknown");
  CHECK_NO_LEAKS();
}

TEST(protobuf_c_built_frames_decode) {
  /* A payload produced by protobuf-c directly (not through the adapter). */
  codecs c = codecs_new();
  ProtobufCBinaryData argv[2] = {{2, (uint8_t *)"ls"}, {0, NULL}};
  Tether__V1__Spawn sp = TETHER__V1__SPAWN__INIT;
  sp.n_argv = 2, sp.argv = argv;
  Tether__V1__Frame fr = TETHER__V1__FRAME__INIT;
  fr.session = 3, fr.body_case = TETHER__V1__FRAME__BODY_SPAWN, fr.spawn = &sp;
  uint8_t buf[64];
  size_t n = tether__v1__frame__pack(&fr, buf);
  tether_msg want;
  memset(&want, 0, sizeof want);
  tether_bytes items[2] = {TXT("ls"), {NULL, 0}};
  want.session = 3, want.type = TETHER_MSG_SPAWN;
  want.u.spawn.argv = (tether_bytes_list){items, 2};
  decode_both(&c, buf, n, 0, &want, "protobuf-c frame");
  codecs_free(&c);
}

TEST_MAIN(TEST_ENTRY(roundtrip_every_type_both_directions),
          TEST_ENTRY(defaults_and_exit_code_arm),
          TEST_ENTRY(views_point_into_payload_for_nanopb),
          TEST_ENTRY(limit_argv_and_env_count), TEST_ENTRY(limit_argv_and_env_bytes),
          TEST_ENTRY(limit_paths_and_profile), TEST_ENTRY(limit_text_fields),
          TEST_ENTRY(invalid_utf8_and_nul_rejected), TEST_ENTRY(empty_data_rejected),
          TEST_ENTRY(garbage_and_truncation), TEST_ENTRY(random_bytes_differential),
          TEST_ENTRY(mutated_frames_differential),
          TEST_ENTRY(unknown_body_and_unknown_fields), TEST_ENTRY(open_enums_preserved),
          TEST_ENTRY(wire_corner_cases_agree), TEST_ENTRY(encode_errors),
          TEST_ENTRY(protobuf_c_built_frames_decode))
