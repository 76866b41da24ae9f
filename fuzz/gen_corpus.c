/* Writes the seed corpora under fuzz/corpus/<harness>/ (run by the
 * `fuzz-corpus` target; the output is committed).
 *
 *   tether_gen_corpus CORPUS_DIR
 *
 * Frames are built as tether_msg values and encoded by the protobuf-c
 * adapter; the nanopb adapter must produce the same bytes or the generator
 * fails. Codec harnesses get one payload per file (every body type, full
 * and default values, handshakes, limit edges, unknown fields and bodies);
 * fuzz_framing gets streams in its input layout (see fuzz_framing.c):
 * whole sessions in both directions, handshakes, and the framing errors.
 * fuzz_parent and fuzz_runner get scripts (session_script.h): whole
 * sessions, flow control, caps, pty, shutdown, and a few violations.
 * Only files named gen-* are removed and rewritten; anything else in the
 * directories (minimized finds kept on purpose) is left alone.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/codec.h"
#include "codec/hello.h"
#include "tether/error.h"
#include "transport/framing.h"

#include "session_script.h"

static const char *root;
static const char *const codec_dirs[] = {"fuzz_pbc", "fuzz_nanopb", "fuzz_differential"};
#define N_CODEC_DIRS (sizeof codec_dirs / sizeof codec_dirs[0])

static void die(const char *what, const char *detail) {
  fprintf(stderr, "gen_corpus: %s: %s\n", what, detail);
  exit(1);
}

static void prepare(const char *sub) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", root, sub);
  if (mkdir(path, 0755) != 0 && errno != EEXIST) die(path, strerror(errno));
  DIR *d = opendir(path);
  if (!d) die(path, strerror(errno));
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, "gen-", 4) != 0) continue;
    char f[4096 + 256 + 2];
    snprintf(f, sizeof f, "%s/%s", path, e->d_name);
    if (unlink(f) != 0) die(f, strerror(errno));
  }
  closedir(d);
}

static void write_file(const char *sub, const char *name, const uint8_t *p, size_t n) {
  char path[8192];
  snprintf(path, sizeof path, "%s/%s/gen-%s", root, sub, name);
  FILE *f = fopen(path, "wb");
  if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) die(path, "write failed");
}

/* ----------------------------------------------------------- encoding */

typedef struct buf {
  uint8_t *p;
  size_t len, cap;
} buf;

static void put(buf *b, const void *d, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2 + 256;
    b->p = realloc(b->p, b->cap);
    if (!b->p) die("realloc", "out of memory");
  }
  if (n) memcpy(b->p + b->len, d, n);
  b->len += n;
}

/* Encodes with both adapters; they must agree. */
static buf encode(const tether_msg *m) {
  size_t n = tether_pbc_encoded_size(m);
  if (n == 0) die("encode", tether_msg_type_name(m->type));
  buf b = {malloc(n), n, n}, c = {malloc(n), n, n};
  size_t w1 = 0, w2 = 0;
  const char *why = NULL;
  if (tether_pbc_encode(m, b.p, n, &w1, &why) != 0) die("pbc encode", why);
  if (tether_nanopb_encode(m, c.p, n, &w2, &why) != 0) die("nanopb encode", why);
  if (w1 != n || w2 != n || memcmp(b.p, c.p, n) != 0)
    die("encoders disagree on", tether_msg_type_name(m->type));
  free(c.p);
  return b;
}

static void codec_seed(const char *name, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < N_CODEC_DIRS; i++) write_file(codec_dirs[i], name, p, n);
}

static void codec_seed_msg(const char *name, const tether_msg *m) {
  buf b = encode(m);
  codec_seed(name, b.p, b.len);
  free(b.p);
}

/* Appends one frame (header + payload) to a stream. */
static void frame(buf *s, const tether_msg *m) {
  buf b = encode(m);
  uint8_t hdr[TETHER_FRAME_HEADER_LEN];
  tether_frame_header_put(hdr, (uint32_t)b.len);
  put(s, hdr, sizeof hdr);
  put(s, b.p, b.len);
  free(b.p);
}

/* fuzz_framing input: flags, small limit, chunk sizes, then the stream. */
static void framing_seed(const char *name, uint8_t flags, uint8_t small,
                         const uint8_t *chunks, size_t nchunks, const buf *stream) {
  buf in = {0};
  uint8_t hdr[3] = {flags, small, (uint8_t)((nchunks ? nchunks : 1) - 1)};
  put(&in, hdr, sizeof hdr);
  if (nchunks) put(&in, chunks, nchunks);
  else put(&in, "\x07", 1);
  put(&in, stream->p, stream->len);
  write_file("fuzz_framing", name, in.p, in.len);
  free(in.p);
}

/* ------------------------------------------------------------ messages */

#define LIT(s) {(const uint8_t *)(s), sizeof(s) - 1}
#define TXT(s) ((tether_bytes)LIT(s))

static tether_bytes argv3[] = {LIT("/bin/sh"), LIT("-c"), LIT("echo hi; exit 3")};
static tether_bytes env2[] = {LIT("LANG=C.UTF-8"), LIT("HOME")};
static tether_bytes roots[] = {LIT("/work"), LIT("build")};
static tether_bytes subs[] = {LIT(".git")};

static tether_msg base(tether_msg_type t, uint32_t session) {
  tether_msg m;
  memset(&m, 0, sizeof m);
  m.type = t;
  m.session = session;
  return m;
}

/* A message of type `t` with every field set to something non-default. */
static tether_msg full(tether_msg_type t) {
  tether_msg m = base(t, 7);
  switch (t) {
  case TETHER_MSG_HELLO:
    tether_hello_init(&m, TETHER_ROLE_RUNNER, "tether-runner",
                      TETHER_CAP_BIT(TETHER_CAP_PIPES) | TETHER_CAP_BIT(TETHER_CAP_SIGNALS) |
                          TETHER_CAP_BIT(TETHER_CAP_FLOW_CONTROL),
                      TETHER_FRAME_MAX_DEFAULT, TETHER_SESSIONS_MAX_DEFAULT);
    m.u.hello.initial_window = TETHER_WINDOW_DEFAULT;
    m.u.hello.max_window = TETHER_WINDOW_MAX;
    break;
  case TETHER_MSG_SPAWN: {
    tether_msg_spawn *s = &m.u.spawn;
    s->argv = (tether_bytes_list){argv3, 3};
    s->env_mode = TETHER_ENV_CLEAR;
    s->env = (tether_bytes_list){env2, 2};
    s->cwd = TXT("/tmp");
    s->io_mode = TETHER__IO_PTY;
    s->pty_rows = 50, s->pty_cols = 132;
    s->stdin_mode = TETHER__STDIN_PIPE;
    s->merge_stderr = true;
    s->has_stdout_cap = true, s->stdout_cap = 1 << 20;
    s->has_stderr_cap = true, s->stderr_cap = 0;
    s->timeout_ms = 30000;
    s->has_profile = true;
    s->profile = (tether_msg_profile){TETHER_FS_WORKSPACE_WRITE, {roots, 2}, {subs, 1},
                                      TETHER_NET_DENIED};
    s->profile_cwd = TXT("/work");
    s->has_limits = true; /* version 3 */
    s->limits = (tether_msg_limits){128u << 20, 64, 1000, 256, 1u << 20};
    break;
  }
  case TETHER_MSG_SPAWNED: m.u.spawned.pid = 4242; break;
  case TETHER_MSG_SPAWN_FAILED:
    m.u.spawn_failed = (tether_msg_spawn_failed){TETHER_STAGE_EXEC, TETHER_SPAWN_ERR_NOT_FOUND,
                                                 2, TETHER_OS_ERR_POSIX,
                                                 TXT("execve /nope: No such file")};
    break;
  case TETHER_MSG_OUTPUT:
    m.u.output = (tether_msg_output){TETHER_STREAM_STDOUT, TXT("hi\n"), 0};
    break;
  case TETHER_MSG_OUTPUT_TRUNCATED:
    m.u.output_truncated.stream = TETHER_STREAM_STDERR;
    m.u.output_truncated.dropped = 65536;
    break;
  case TETHER_MSG_STDIN:
    m.u.stdin_data.data = TXT("input\n");
    m.u.stdin_data.offset = 6;
    break;
  case TETHER_MSG_RESIZE: m.u.resize.rows = 40, m.u.resize.cols = 100; break;
  case TETHER_MSG_SIGNAL: m.u.signal.signal = TETHER_SIG_INT, m.u.signal.group = true; break;
  case TETHER_MSG_TERMINATE: m.u.terminate.grace_ms = 500; break;
  case TETHER_MSG_CREDIT:
    m.u.credit.stream = TETHER_STREAM_STDOUT, m.u.credit.bytes = 262144;
    break;
  case TETHER_MSG_STATUS_REPLY:
    m.u.status_reply.running = true, m.u.status_reply.pid = 4242;
    break;
  case TETHER_MSG_EXITED:
    m.u.exited = (tether_msg_exited){.signaled = true, .signal = TETHER_SIG_KILL,
                                     .raw_signal = 9, .core_dumped = true,
                                     .timed_out = true, .has_usage = true,
                                     .user_time_us = 1200, .system_time_us = 300,
                                     .max_rss_kib = 4096,
                                     .tree_peak_memory_bytes = 128u << 20,
                                     .tree_cpu_us = 1500, .limit = TETHER_LIMIT_MEMORY};
    break;
  case TETHER_MSG_ERROR:
    m.u.error.code = TETHER_WIRE_UNKNOWN_SESSION;
    m.u.error.message = TXT("no session 9 \xE2\x80\x94 ignored");
    m.u.error.fatal = true;
    break;
  case TETHER_MSG_GOODBYE: m.u.goodbye.reason = TXT("done"); break;
  case TETHER_MSG_STDIN_CLOSE:
  case TETHER_MSG_STATUS_REQUEST:
  case TETHER_MSG_NONE:
    break;
  }
  return m;
}

static const tether_msg_type all_types[] = {
    TETHER_MSG_HELLO, TETHER_MSG_SPAWN, TETHER_MSG_SPAWNED, TETHER_MSG_SPAWN_FAILED,
    TETHER_MSG_OUTPUT, TETHER_MSG_OUTPUT_TRUNCATED, TETHER_MSG_STDIN, TETHER_MSG_STDIN_CLOSE,
    TETHER_MSG_RESIZE, TETHER_MSG_SIGNAL, TETHER_MSG_TERMINATE, TETHER_MSG_CREDIT,
    TETHER_MSG_STATUS_REQUEST, TETHER_MSG_STATUS_REPLY, TETHER_MSG_EXITED,
    TETHER_MSG_ERROR, TETHER_MSG_GOODBYE};
#define N_TYPES (sizeof all_types / sizeof all_types[0])

/* Lower-case name for file names: "spawn_failed". */
static void file_name(char *out, size_t n, tether_msg_type t, const char *suffix) {
  const char *s = tether_msg_type_name(t);
  size_t o = 0;
  for (size_t i = 0; s[i] && o + 2 < n; i++) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') {
      if (i) out[o++] = '_';
      c = (char)(c - 'A' + 'a');
    }
    out[o++] = c;
  }
  snprintf(out + o, n - o, "%s", suffix);
}

/* ------------------------------------------------------------- seeds */

static void codec_seeds(void) {
  char name[64];
  for (size_t i = 0; i < N_TYPES; i++) {
    tether_msg m = full(all_types[i]);
    file_name(name, sizeof name, all_types[i], "-full.bin");
    codec_seed_msg(name, &m);
    m = base(all_types[i], 0);
    if (m.type == TETHER_MSG_OUTPUT) m.u.output.data = TXT("x");
    if (m.type == TETHER_MSG_STDIN) m.u.stdin_data.data = TXT("x");
    file_name(name, sizeof name, all_types[i], "-default.bin");
    codec_seed_msg(name, &m);
  }
  /* Handshakes as each side sends them. */
  tether_msg h;
  tether_hello_init(&h, TETHER_ROLE_PARENT, "tether-parent",
                    TETHER_CAP_BIT(TETHER_CAP_FLOW_CONTROL), TETHER_FRAME_MAX_DEFAULT,
                    TETHER_SESSIONS_MAX_DEFAULT);
  codec_seed_msg("hello-parent.bin", &h);
  tether_hello_init(&h, TETHER_ROLE_RUNNER, "tether-runner",
                    TETHER_CAP_BIT(TETHER_CAP_PIPES) | TETHER_CAP_BIT(TETHER_CAP_PTY) |
                        TETHER_CAP_BIT(TETHER_CAP_SIGNALS) |
                        TETHER_CAP_BIT(TETHER_CAP_PROCESS_GROUPS),
                    TETHER_FRAME_MAX_CEILING, TETHER_SESSIONS_MAX_CEILING);
  codec_seed_msg("hello-runner.bin", &h);
  /* Exited through the code arm of its oneof. */
  tether_msg m = full(TETHER_MSG_EXITED);
  m.u.exited.signaled = false, m.u.exited.signal = 0, m.u.exited.code = 3;
  m.u.exited.has_usage = false;
  codec_seed_msg("exited-code.bin", &m);
  /* Limit edges: text at its limit, a list at its count limit. */
  static char text[TETHER_MESSAGE_MAX_BYTES];
  memset(text, 'e', sizeof text);
  m = base(TETHER_MSG_ERROR, 0);
  m.u.error.message = (tether_bytes){(const uint8_t *)text, sizeof text};
  codec_seed_msg("error-message-at-limit.bin", &m);
  static tether_bytes many[TETHER_ARGV_MAX_COUNT];
  for (size_t i = 0; i < TETHER_ARGV_MAX_COUNT; i++) many[i] = TXT("a");
  m = base(TETHER_MSG_SPAWN, 1);
  m.u.spawn.argv = (tether_bytes_list){many, TETHER_ARGV_MAX_COUNT};
  codec_seed_msg("spawn-argv-at-count-limit.bin", &m);
  /* Raw payloads the encoders never make. */
  codec_seed("empty.bin", NULL, 0);
  static const uint8_t unknown_body[] = {0x08, 0x05, 0x9a, 0x06, 0x02, 0x08, 0x01};
  codec_seed("unknown-body.bin", unknown_body, sizeof unknown_body);
  /* Output with unknown fields of every wire type between known ones. */
  static const uint8_t unknown_fields[] = {
      0x08, 0x04, 0x32, 0x23, 0x08, 0x02, 0x90, 0x03, 0x95, 0x9a, 0xef, 0x3a, 0x12, 0x02,
      'h',  'i',  0x9a, 0x03, 0x02, 0xff, 0x00, 0xa5, 0x03, 1,    2,    3,    4,    0x18,
      0x09, 0xa9, 0x03, 1,    2,    3,    4,    5,    6,    7,    8};
  codec_seed("output-unknown-fields.bin", unknown_fields, sizeof unknown_fields);
  /* Hello.capabilities unpacked and packed, mixed. */
  static const uint8_t caps[] = {0x12, 0x09, 0x30, 0x02, 0x32, 0x03, 0x01, 0x28, 0x1f, 0x30, 0x08};
  codec_seed("hello-caps-mixed.bin", caps, sizeof caps);
  /* Two Spawn members in one frame: the second replaces the first. */
  static const uint8_t twice[] = {0x1a, 0x04, 0x0a, 0x02, 'l', 's', 0x1a, 0x05,
                                  0x0a, 0x03, 'p', 'w', 'd'};
  codec_seed("spawn-twice.bin", twice, sizeof twice);
}

static void framing_seeds(void) {
  tether_msg m;
  buf s = {0};
  const uint8_t whole[] = {0}, small[] = {1, 3, 7, 2}, big[] = {0xc8, 5};

  /* The handshake as each side sends it (preface in the stream). */
  put(&s, tether_preface, TETHER_PREFACE_LEN);
  tether_hello_init(&m, TETHER_ROLE_PARENT, "tether-parent", 0, TETHER_FRAME_MAX_DEFAULT,
                    TETHER_SESSIONS_MAX_DEFAULT);
  frame(&s, &m);
  framing_seed("handshake-parent.bin", 0x01, 0, whole, 1, &s);
  framing_seed("handshake-parent-bytewise.bin", 0x21, 0, small, sizeof small, &s);
  s.len = 0;

  /* Runner to parent: one whole session, preface prepended by the flags. */
  m = full(TETHER_MSG_HELLO), m.session = 0;
  frame(&s, &m);
  m = full(TETHER_MSG_SPAWNED), m.session = 1;
  frame(&s, &m);
  for (uint64_t off = 0; off < 9; off += 3) {
    m = base(TETHER_MSG_OUTPUT, 1);
    m.u.output = (tether_msg_output){TETHER_STREAM_STDOUT, TXT("ab\n"), off};
    frame(&s, &m);
  }
  m = base(TETHER_MSG_OUTPUT, 1);
  m.u.output = (tether_msg_output){TETHER_STREAM_STDERR, TXT("warn\n"), 0};
  frame(&s, &m);
  m = full(TETHER_MSG_OUTPUT_TRUNCATED), m.session = 1;
  frame(&s, &m);
  m = full(TETHER_MSG_EXITED), m.session = 1;
  frame(&s, &m);
  m = full(TETHER_MSG_GOODBYE), m.session = 0;
  frame(&s, &m);
  framing_seed("session-runner-to-parent.bin", 0x03, 0, whole, 1, &s);
  framing_seed("session-runner-to-parent-split.bin", 0x03, 0, small, sizeof small, &s);
  framing_seed("session-runner-to-parent-setmax.bin", 0x1b, 40, small, sizeof small, &s);
  s.len = 0;

  /* Parent to runner: every request type. */
  put(&s, tether_preface, TETHER_PREFACE_LEN);
  static const tether_msg_type req[] = {
      TETHER_MSG_HELLO, TETHER_MSG_SPAWN, TETHER_MSG_STDIN, TETHER_MSG_RESIZE,
      TETHER_MSG_CREDIT, TETHER_MSG_STATUS_REQUEST, TETHER_MSG_SIGNAL,
      TETHER_MSG_STDIN_CLOSE, TETHER_MSG_TERMINATE, TETHER_MSG_GOODBYE};
  for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
    m = full(req[i]);
    m.session = req[i] == TETHER_MSG_HELLO || req[i] == TETHER_MSG_GOODBYE ? 0 : 1;
    if (req[i] == TETHER_MSG_HELLO) m.u.hello.role = TETHER_ROLE_PARENT;
    frame(&s, &m);
  }
  framing_seed("session-parent-to-runner.bin", 0x01, 0, whole, 1, &s);
  framing_seed("session-parent-to-runner-chunks.bin", 0x21, 0, big, sizeof big, &s);
  s.len = 0;

  /* Every frame type once, no preface, small limit set from the input. */
  for (size_t i = 0; i < N_TYPES; i++) {
    m = full(all_types[i]);
    frame(&s, &m);
  }
  framing_seed("all-types-no-preface.bin", 0x00, 0, whole, 1, &s);
  framing_seed("all-types-limit-64k.bin", 0x0c, 0, small, sizeof small, &s);
  s.len = 0;

  /* Framing errors: not a tether peer, empty frame, too large, truncated. */
  put(&s, "bash: tether-runner: command not found\n", 39);
  framing_seed("bad-preface.bin", 0x01, 0, small, sizeof small, &s);
  s.len = 0;
  put(&s, "\0\0\0\0", 4);
  framing_seed("empty-frame.bin", 0x03, 0, whole, 1, &s);
  s.len = 0;
  put(&s, "\x01\x00\x10\x00", 4); /* 1 MiB + 1 */
  framing_seed("too-large.bin", 0x03, 0, whole, 1, &s);
  s.len = 0;
  m = full(TETHER_MSG_OUTPUT);
  frame(&s, &m);
  framing_seed("small-limit-exceeded.bin", 0x0b, 3, whole, 1, &s);
  s.len -= 2;
  framing_seed("truncated.bin", 0x03, 0, small, sizeof small, &s);
  free(s.p);
}

/* ------------------------------------------------ state-machine scripts */

/* Appends bytes to a script. */
#define S(...)                                                                 \
  do {                                                                         \
    static const uint8_t b_[] = {__VA_ARGS__};                                 \
    put(&s, b_, sizeof b_);                                                    \
  } while (0)
#define P FS_THEN_PROCESS
/* SCRIPT(dir, name) { S(...); ... } writes one script (the body runs once). */
#define SCRIPT(dir, name)                                                      \
  for (buf s = {0}, *once_ = &s; once_;                                        \
       write_file(dir, name, s.p, s.len), free(s.p), once_ = NULL)

/* fuzz_parent: the harness is the runner (layout at the top of
 * fuzz_parent.c). Session 1 is the first spawn; selector 0 picks it. */
static void parent_scripts(void) {
  const char *d = "fuzz_parent";
  SCRIPT(d, "session.bin") {
    S(0x00, 0x06);                                   /* valid Hello, default window */
    S(FP_SPAWN, 0x00);
    S(FP_R_SPAWNED, 0, 0x10, 0x27, 0, 0);
    S(FP_R_OUTPUT, 0, 0, 100, 0);                    /* stdout, 100 bytes */
    S(FP_R_OUTPUT | P, 0, 3, 50, 0);                 /* stderr, 50 bytes */
    S(FP_WRITE, 0, 20, FP_CLOSE_STDIN, 0, FP_STATUS | P, 0);
    S(FP_R_STATUS_REPLY, 0, 1, FP_R_CREDIT | P, 0, 0x01, 64);
    S(FP_R_OUTPUT, 0, 0, 10, 0);
    S(FP_R_EXITED | P, 0, 0x08, 3);
    S(FP_FREE, 0, FP_PROCESS);
  }
  SCRIPT(d, "two-sessions-goodbye.bin") {
    S(0x00, 0x06, FP_SPAWN, 0x02, FP_SPAWN, 0x01);
    S(FP_R_SPAWNED, 0, 1, 0, 0, 0, FP_R_SPAWNED | P, 1, 2, 0, 0, 0);
    S(FP_R_OUTPUT, 1, 0, 5, 0, FP_SIGNAL, 0, 1, FP_TERMINATE | P, 1, 5);
    S(FP_R_GOODBYE | P, FS_SEL_ZERO, 3, 'b', 'y', 'e');
    S(FP_WRITE, 0, 3, FP_PROCESS);
  }
  SCRIPT(d, "flow-small-window.bin") {
    S(0x80, 0x03);                                   /* runner window 64, ours 1024 */
    S(FP_SPAWN, 0x00, FP_R_SPAWNED | P, 0, 7, 0, 0, 0);
    S(FP_R_FLOOD | P, 0, 10, 31, 0);                 /* 10 x 32 bytes, within credit */
    S(FP_R_FLOOD | P, 0, 10, 7, 1);
    S(FP_WRITE, 0, 200, FP_PROCESS, FP_R_CREDIT | P, 0, 0x01, 100);
    S(FP_R_OUTPUT | P, 0, 0, 64, 0);                 /* beyond the credit left: violation */
  }
  SCRIPT(d, "spawn-failed.bin") {
    S(0x00, 0x06, FP_SPAWN, 0x40);
    S(FP_R_SPAWN_FAILED | P, 0, 5, 1, 4, 'n', 'o', 'p', 'e');
    S(FP_R_OUTPUT | P, 0, 0, 1, 0);                  /* after the end: dropped or fatal */
  }
  SCRIPT(d, "cap-truncated.bin") {
    S(0x00, 0x06, FP_SPAWN, 0x0c, 10, 1);            /* stdout cap 10, stderr cap 64 */
    S(FP_R_SPAWNED, 0, 1, 0, 0, 0, FP_R_OUTPUT, 0, 0, 10, 0);
    S(FP_R_TRUNCATED, 0, 0, 0, 90, 0, FP_R_OUTPUT, 0, 3, 64, 0);
    S(FP_R_EXITED | P, 0, 0x01, 9);
  }
  SCRIPT(d, "merged-stderr-violation.bin") {
    S(0x00, 0x06, FP_SPAWN, 0x01, FP_R_SPAWNED, 0, 1, 0, 0, 0);
    S(FP_R_OUTPUT | P, 0, 3, 5, 0, FP_SPAWN, 0);
  }
  SCRIPT(d, "offset-gap.bin") {
    S(0x00, 0x06, FP_SPAWN, 0, FP_R_SPAWNED, 0, 1, 0, 0, 0);
    S(FP_R_OUTPUT, 0, 0, 8, 0, FP_R_OUTPUT_AT | P, 0, 0, 8, 0, 0x04);
  }
  SCRIPT(d, "callbacks-act.bin") {
    S(0x00, 0x86);                                   /* callbacks take actions */
    S(FP_SPAWN, 0, FP_SPAWN, 0, FP_R_SPAWNED, 0, 1, 0, 0, 0, FP_R_SPAWNED, 1, 2, 0, 0, 0);
    S(FP_R_OUTPUT, 0, 0, 4, 0, FP_R_OUTPUT, 1, 0, 4, 0, FP_R_EXITED, 1, 0, 0);
    S(FP_PROCESS, 0x01 | 0x30, 0x07, 0x02, 0x06, 0x00);
    S(FP_R_ERROR | P, FS_SEL_ZERO, 0x01, 0, 0x00);
  }
  SCRIPT(d, "eof-mid-frame.bin") {
    S(0x00, 0x06, FP_SPAWN, 0, FP_R_SPAWNED, 0, 1, 0, 0, 0, FP_R_EOF | P, 0x01);
  }
  SCRIPT(d, "garbage.bin") {
    S(0x00, 0x06, FP_SPAWN, 0, FP_R_NONE_BODY | P, 0, FP_R_EMPTY_OUTPUT | P, 0, 0);
    S(FP_R_WRONG_WAY | P, 0, 2, FP_R_RAW | P, 6, 0x08, 0x01, 0x32, 0x02, 0x08, 0x01);
  }
  SCRIPT(d, "handshake-version.bin") { S(0x0c, 0x06, FP_SPAWN, 0); }
  SCRIPT(d, "handshake-corrupt.bin") { S(0x0d, 0x06, 9, 0x40, FP_SPAWN, 0); }
  SCRIPT(d, "handshake-truncated.bin") { S(0x0e, 0x06, 20); }
  SCRIPT(d, "handshake-error.bin") { S(0x0f, 0x06); }
  /* Issue 17: where a hostile runner found the parent and the document
   * apart. */
  SCRIPT(d, "exited-no-status.bin") {               /* never a success */
    S(0x00, 0x06, FP_SPAWN, 0, FP_R_SPAWNED, 0, 1, 0, 0, 0, FP_R_OUTPUT, 0, 0, 4, 0);
    S(FP_R_EXITED | P, 0, 0x20, 0, FP_R_OUTPUT | P, 0, 0, 1, 0);
  }
  SCRIPT(d, "credit-over-window.bin") {             /* refused whole: Error{LIMIT} */
    S(0x80, 0x03, FP_SPAWN, 0, FP_R_SPAWNED | P, 0, 1, 0, 0, 0, FP_WRITE | P, 0, 200);
    S(FP_R_CREDIT | P, 0, 0x09);                     /* STDIN, UINT64_MAX - 0 */
    S(FP_R_CREDIT | P, 0, 0x01, 10, FP_PROCESS);
  }
  SCRIPT(d, "credit-stdin-null.bin") {              /* Error{INVALID}, ignored */
    S(0x00, 0x06, FP_SPAWN, 0x02, FP_R_SPAWNED, 0, 1, 0, 0, 0);
    S(FP_R_CREDIT | P, 0, 0x01, 100, FP_R_EXITED | P, 0, 0, 0);
  }
  SCRIPT(d, "two-bodies.bin") {                     /* Output and Exited: fatal */
    S(0x00, 0x06, FP_SPAWN, 0, FP_R_SPAWNED | P, 0, 1, 0, 0, 0);
    S(FP_R_RAW | P, 14, 0x08, 0x01, 0x32, 0x05, 0x08, 0x01, 0x12, 0x01, 0x78,
      0x82, 0x01, 0x02, 0x08, 0x00);
  }
  SCRIPT(d, "bad-stream-ignored.bin") {             /* INVALID, the session goes on */
    S(0x00, 0x06, FP_SPAWN, 0x01, FP_R_SPAWNED, 0, 1, 0, 0, 0);
    S(FP_R_OUTPUT | P, 0, 3, 5, 0, FP_R_OUTPUT | P, 0, 6, 2, 0, FP_R_EMPTY_OUTPUT | P, 0, 0);
    S(FP_R_OUTPUT, 0, 0, 5, 0, FP_R_EXITED | P, 0, 0, 0);
  }
  SCRIPT(d, "errors-never-answered.bin") {          /* no reply, nothing ends */
    S(0x00, 0x06, FP_SPAWN, 0, FP_R_SPAWNED, 0, 1, 0, 0, 0);
    S(FP_R_ERROR | P, FS_SEL_NEVER, 0x04, 2, 'n', 'o');
    S(FP_R_ERROR | P, 0, 0x07, 1, 'i', FP_R_ERROR | P, 0, 0x0b, 1, '?');
    S(FP_R_ERROR | P, FS_SEL_ZERO, 0x09, 1, 't');   /* TIMEOUT, not flagged: fatal */
  }
  SCRIPT(d, "late-after-free.bin") {                /* fatal, never dropped */
    S(0x00, 0x06, FP_SPAWN, 0, FP_R_SPAWNED, 0, 1, 0, 0, 0, FP_R_EXITED | P, 0, 0, 0);
    S(FP_FREE, 0, FP_PROCESS, FP_R_OUTPUT | P, FS_SEL_RAW, 1, 0, 0, 0, 0, 3, 0);
  }
}

/* fuzz_runner: the harness is the parent and the children (layout at the
 * top of fuzz_runner.c). Spawn selector 0 is session 1; process 0 its
 * fake child. */
static void runner_scripts(void) {
  const char *d = "fuzz_runner";
  SCRIPT(d, "session.bin") {
    S(0x15, 0x00);                                   /* 2 sessions, default window */
    S(FR_SPAWN | P, 0, 0x00, 0x00);
    S(FR_CHILD_WRITE, 0, 0, 100, 0, FR_CHILD_WRITE | P, 0, 1, 10, 0);
    S(FR_STDIN, 0, 10, FR_CHILD_READ | P, 0, 1);
    S(FR_STDIN_CLOSE, 0, FR_STATUS | P, 0);
    S(FR_CHILD_EXIT | P, 0, 0, 3, FR_TURN);
    S(FR_GOODBYE | P);
  }
  SCRIPT(d, "flow-small-window.bin") {
    S(0x09, 0x01);                                   /* window 100 (runner), 1 (parent) */
    S(FR_SPAWN | P, 0, 0x00, 0x00);
    S(FR_CHILD_WRITE | P, 0, 0, 0xe8, 0x03);         /* 1000 bytes */
    S(FR_CREDIT | P, 0, 0, 0, 100, FR_CREDIT | P, 0, 3, 1, 50);
    S(FR_STDIN, 0, 60, FR_CHILD_READ | P, 0, 4);
    S(FR_CHILD_EXIT | P, 0, 0, 0, FR_TURN);
  }
  SCRIPT(d, "pty.bin") {
    S(0x15, 0x00, FR_SPAWN | P, 0, 0x00, FR_OUT_PTY);
    S(FR_RESIZE, 0, 30, 0, 100, 0, FR_STDIN, 0, 4, FR_STDIN_CLOSE | P, 0);
    S(FR_CHILD_READ | P, 0, 2, FR_CHILD_WRITE | P, 0, 0, 20, 0);
    S(FR_CHILD_EXIT | P, 0, 0, 0, FR_CHILD_EOF | P, 0, 0);
  }
  SCRIPT(d, "spawn-failed-and-limit.bin") {
    S(0x00, 0x00);                                   /* 1 session */
    S(FR_SPAWN | P, 0, 0, FR_OUT_FAIL, FR_SPAWN, 0, 0, 0, FR_SPAWN | P, 1, 0, 0);
    S(FR_SPAWN | P, 0, 0, 0, FR_STDIN | P, 5, 3);    /* exists; unknown session */
  }
  SCRIPT(d, "terminate-grace.bin") {
    S(0x15, 0x00, FR_SPAWN | P, 0, 0, FR_OUT_IGNORE_TERM);
    S(FR_TERMINATE | P, 0, 10, FR_TIME, 3, FR_TIME, 3);
  }
  SCRIPT(d, "grandchild-shutdown.bin") {
    S(0x15, 0x00, FR_SPAWN | P, 0, 0, FR_OUT_GRANDCHILD);
    S(FR_CHILD_EXIT | P, 0, 1, 0, FR_CHILD_WRITE | P, 0, 0, 5, 0, FR_EOF | P, 0);
    S(FR_TIME, 6, FR_TIME, 7);
  }
  SCRIPT(d, "timeout-and-caps.bin") {
    S(0x15, 0x00, FR_SPAWN | P, 0, 0xe0, 0, 10, 2, 3);  /* caps 10 / 32, 301 ms */
    S(FR_CHILD_WRITE, 0, 0, 100, 0, FR_CHILD_WRITE | P, 0, 1, 100, 0);
    S(FR_TIME, 3, FR_TIME, 3);
  }
  SCRIPT(d, "no-flow-stdin-queue.bin") {
    S(0x61, 0x00);                                   /* no FLOW_CONTROL, stdin queue 16 */
    S(FR_SPAWN | P, 0, 0, 0, FR_STDIN | P, 0, 5, FR_STDIN | P, 0, 2, FR_STDIN | P, 0, 4);
    S(FR_CHILD_READ | P, 0, 1);
    S(FR_CHILD_CLOSE_STDIN, 0, FR_STDIN | P, 0, 4, FR_CHILD_EXIT | P, 0, 0, 0);
  }
  SCRIPT(d, "violations.bin") {
    S(0x15, 0x00, FR_SPAWN | P, 0, 0, 0, FR_STDIN_AT | P, 0, 4, 0x01);
  }
  SCRIPT(d, "garbage.bin") {
    S(0x15, 0x00, FR_NONE_BODY | P, 0, FR_RESIZE | P, 0, 0, 0, 0, 0);
    S(FR_WRONG_WAY | P, 0, 2, FR_RAW | P, 3, 0x08, 0x01, 0x4a);
  }
  SCRIPT(d, "no-hello.bin") { S(0xd5, 0x00, FR_SPAWN | P, 0, 0, 0); }
  SCRIPT(d, "bad-hello.bin") { S(0x95, 0x80, FR_TURN); }
  SCRIPT(d, "handshake-timeout.bin") { S(0xd5, 0x00, FR_TIME, 6, FR_TIME, 6); }
  /* Issue 17. */
  SCRIPT(d, "error-protocol-unflagged.bin") {       /* fatal whatever the flag */
    S(0x15, 0x00, FR_SPAWN | P, 0, 0, 0, FR_ERROR | P, FS_SEL_ZERO, 0x01, FR_TURN);
  }
  SCRIPT(d, "errors-never-answered.bin") {          /* no reply; goes on */
    S(0x15, 0x00, FR_ERROR | P, FS_SEL_NEVER, 0x04, FR_ERROR | P, FS_SEL_ZERO, 0x07);
    S(FR_SPAWN | P, 0, 0, 0, FR_CHILD_EXIT | P, 0, 0, 0, FR_TURN);
  }
  SCRIPT(d, "error-undecodable.bin") {              /* closed without a reply */
    S(0x15, 0x00, FR_RAW | P, 8, 0x8a, 0x01, 0x05, 0x08, 0x08, 0x12, 0x01, 0xff);
  }
  SCRIPT(d, "two-bodies.bin") {                     /* StdinClose + StatusRequest */
    S(0x15, 0x00, FR_SPAWN | P, 0, 0, 0, FR_RAW | P, 6, 0x08, 0x01, 0x4a, 0x00, 0x72, 0x00);
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  root = argv[1];
  if (mkdir(root, 0755) != 0 && errno != EEXIST) die(root, strerror(errno));
  for (size_t i = 0; i < N_CODEC_DIRS; i++) prepare(codec_dirs[i]);
  prepare("fuzz_framing");
  prepare("fuzz_parent");
  prepare("fuzz_runner");
  codec_seeds();
  framing_seeds();
  parent_scripts();
  runner_scripts();
  return 0;
}
