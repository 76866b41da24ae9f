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
    s->io_mode = TETHER_IO_PTY;
    s->pty_rows = 50, s->pty_cols = 132;
    s->stdin_mode = TETHER_STDIN_PIPE;
    s->merge_stderr = true;
    s->has_stdout_cap = true, s->stdout_cap = 1 << 20;
    s->has_stderr_cap = true, s->stderr_cap = 0;
    s->timeout_ms = 30000;
    s->has_profile = true;
    s->profile = (tether_msg_profile){TETHER_FS_WORKSPACE_WRITE, {roots, 2}, {subs, 1},
                                      TETHER_NET_DENIED};
    s->profile_cwd = TXT("/work");
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
                                     .max_rss_kib = 4096};
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

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  root = argv[1];
  if (mkdir(root, 0755) != 0 && errno != EEXIST) die(root, strerror(errno));
  for (size_t i = 0; i < N_CODEC_DIRS; i++) prepare(codec_dirs[i]);
  prepare("fuzz_framing");
  codec_seeds();
  framing_seeds();
  return 0;
}
