/* tether's own, codec-neutral view of one tether.v1.Frame.
 *
 * Only the codec adapters (codec_pbc.c, codec_nanopb.c) touch generated
 * types; everything else reads and writes this struct. Byte and text fields
 * are views (pointer + length) and are never NUL-terminated: after a decode
 * they point into the payload buffer or into the decoder's storage and stay
 * valid until the next decode with the same decoder; for an encode they are
 * whatever the caller points them at.
 *
 * Enum-typed fields hold the wire numbers of the enums in tether.proto
 * (TETHER_STREAM_STDOUT == Stream.STREAM_STDOUT, and so on). proto3 enums
 * are open: a decoded value may be one this build does not name.
 */
#ifndef TETHER_CODEC_MSG_H
#define TETHER_CODEC_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tether/limits.h"
#include "tether/wire.h" /* streams, signals, spawn stages and errors */

typedef struct tether_bytes {
  const uint8_t *data;
  size_t len;
} tether_bytes;

/* Body types; the value is the field number in Frame.body. */
typedef enum tether_msg_type {
  TETHER_MSG_NONE = 0, /* no body, or a body type this build does not know */
  TETHER_MSG_HELLO = 2,
  TETHER_MSG_SPAWN = 3,
  TETHER_MSG_SPAWNED = 4,
  TETHER_MSG_SPAWN_FAILED = 5,
  TETHER_MSG_OUTPUT = 6,
  TETHER_MSG_OUTPUT_TRUNCATED = 7,
  TETHER_MSG_STDIN = 8,
  TETHER_MSG_STDIN_CLOSE = 9,
  TETHER_MSG_RESIZE = 10,
  TETHER_MSG_SIGNAL = 11,
  TETHER_MSG_TERMINATE = 12,
  TETHER_MSG_CREDIT = 13,
  TETHER_MSG_STATUS_REQUEST = 14,
  TETHER_MSG_STATUS_REPLY = 15,
  TETHER_MSG_EXITED = 16,
  TETHER_MSG_ERROR = 17,
  TETHER_MSG_GOODBYE = 18
} tether_msg_type;
#define TETHER_MSG_TYPE_MAX 18

enum { TETHER_ROLE_UNSPECIFIED = 0, TETHER_ROLE_PARENT = 1, TETHER_ROLE_RUNNER = 2 };

/* TETHER_CAP_* and TETHER_CAP_BIT are public: tether/wire.h. */
#define TETHER__CAP_MAX 31 /* capabilities above this are ignored on decode */

enum { TETHER_ENV_OVERLAY = 1, TETHER_ENV_CLEAR = 2 };
enum { TETHER__IO_PIPES = 1, TETHER__IO_PTY = 2 };
enum { TETHER__STDIN_PIPE = 1, TETHER__STDIN_NULL = 2 };
/* TETHER_FS_* and TETHER_NET_* (profile modes) are in tether/wire.h. */

/* Wire ErrorCode values. */
enum {
  TETHER_WIRE_PROTOCOL = 1,
  TETHER_WIRE_VERSION_UNSUPPORTED = 2,
  TETHER_WIRE_UNSUPPORTED = 3,
  TETHER_WIRE_UNKNOWN_SESSION = 4,
  TETHER_WIRE_SESSION_EXISTS = 5,
  TETHER_WIRE_LIMIT = 6,
  TETHER_WIRE_INTERNAL = 7,
  TETHER_WIRE_INVALID = 8,
  TETHER_WIRE_TIMEOUT = 9
};

typedef struct tether_msg_hello {
  uint32_t version_min, version_max;
  uint32_t role;
  tether_bytes implementation;         /* UTF-8, <= TETHER_NAME_MAX_BYTES */
  tether_bytes implementation_version; /* UTF-8, <= TETHER_NAME_MAX_BYTES */
  uint32_t capabilities;               /* TETHER_CAP_BIT() set */
  uint32_t max_frame_size, max_sessions;
  uint32_t initial_window, max_window;
} tether_msg_hello;

typedef struct tether_bytes_list {
  const tether_bytes *items;
  size_t count;
} tether_bytes_list;

typedef struct tether_msg_profile {
  uint32_t filesystem;
  tether_bytes_list writable_roots;     /* <= TETHER_PROFILE_MAX_PATHS */
  tether_bytes_list read_only_subpaths; /* <= TETHER_PROFILE_MAX_PATHS */
  uint32_t network;
} tether_msg_profile;

/* ResourceLimits: 0 = unset; set values within TETHER_RLIMIT_*. */
typedef struct tether_msg_limits {
  uint64_t memory_bytes, processes, cpu_ms, open_files, file_size_bytes;
} tether_msg_limits;

typedef struct tether_msg_spawn {
  tether_bytes_list argv;  /* <= TETHER_ARGV_MAX_COUNT / _BYTES */
  uint32_t env_mode;
  tether_bytes_list env;   /* <= TETHER_ENV_MAX_COUNT / _BYTES */
  tether_bytes cwd;        /* <= TETHER_PATH_MAX_BYTES */
  uint32_t io_mode;
  uint32_t pty_rows, pty_cols;
  uint32_t stdin_mode;
  bool merge_stderr;
  bool has_stdout_cap, has_stderr_cap;
  uint64_t stdout_cap, stderr_cap;
  uint32_t timeout_ms;
  bool has_profile;
  tether_msg_profile profile;
  tether_bytes profile_cwd; /* <= TETHER_PATH_MAX_BYTES */
  bool has_limits;          /* ResourceLimits present (version 3) */
  tether_msg_limits limits;
} tether_msg_spawn;

typedef struct tether_msg_spawn_failed {
  uint32_t stage;
  uint32_t error;
  int64_t os_error;
  uint32_t os_error_space;
  tether_bytes message; /* UTF-8, <= TETHER_MESSAGE_MAX_BYTES */
} tether_msg_spawn_failed;

typedef struct tether_msg_output {
  uint32_t stream;
  tether_bytes data;
  uint64_t offset;
} tether_msg_output;

typedef struct tether_msg_exited {
  bool signaled;        /* which arm of the oneof: false = code, true = signal */
  bool no_status;       /* neither arm set (invalid, PROTOCOL.md §5.9); on
                         * encode: both left out (tests and fuzzers only) */
  uint32_t code;
  uint32_t signal;
  int32_t raw_signal;
  bool core_dumped;
  bool timed_out;
  bool has_usage;
  uint64_t user_time_us, system_time_us, max_rss_kib;
  uint64_t tree_peak_memory_bytes, tree_cpu_us; /* 0: not measured */
  uint32_t limit;       /* ExitLimit (TETHER_LIMIT_*); open enum */
} tether_msg_exited;

typedef struct tether_msg {
  uint32_t session;
  tether_msg_type type;
  union {
    tether_msg_hello hello;
    tether_msg_spawn spawn;
    struct { uint64_t pid; } spawned;
    tether_msg_spawn_failed spawn_failed;
    tether_msg_output output;
    struct { uint32_t stream; uint64_t dropped; } output_truncated;
    struct { tether_bytes data; uint64_t offset; } stdin_data;
    struct { uint32_t rows, cols; } resize;
    struct { uint32_t signal; bool group; } signal;
    struct { uint32_t grace_ms; } terminate;
    struct { uint32_t stream; uint64_t bytes; } credit;
    struct { bool running; uint64_t pid; } status_reply;
    tether_msg_exited exited;
    struct { uint32_t code; tether_bytes message; bool fatal; } error;
    struct { tether_bytes reason; } goodbye;
  } u;
} tether_msg;

/* Storage for the lists a decode fills, sized by the limits; a decoder owns
 * one and reuses it, so decoding never allocates per list item. */
typedef struct tether_msg_store {
  tether_bytes argv[TETHER_ARGV_MAX_COUNT];
  tether_bytes env[TETHER_ENV_MAX_COUNT];
  tether_bytes writable_roots[TETHER_PROFILE_MAX_PATHS];
  tether_bytes read_only_subpaths[TETHER_PROFILE_MAX_PATHS];
} tether_msg_store;

/* Checks every limit and value rule that does not depend on connection
 * state (text is UTF-8 and within its limit, lists within counts and bytes,
 * Output/Stdin data non-empty, enum fields of known kinds where the schema
 * requires one). Both adapters call it after decoding and before encoding,
 * so the two codecs accept and reject the same frames. Returns 0 or a
 * TETHER_E* code, with a message naming the field in `why` if non-NULL.
 * Rules: text is strict UTF-8 without NUL bytes (protobuf-c carries text as
 * C strings) -> TETHER_EINVAL; list byte limits are the sum of the entries'
 * lengths; a non-zero length with a NULL pointer -> TETHER_EINVAL; a `type`
 * outside tether_msg_type -> TETHER_EINVAL; TETHER_MSG_NONE is valid. `why`
 * points to a per-thread buffer, valid until the next call on the thread. */
int tether_msg_validate(const tether_msg *m, const char **why);

/* After a failed decode: a frame that parsed but broke a rule (a limit or
 * TETHER_EINVAL) keeps its session and type so the receiver can answer on
 * the right session; everything else is zeroed. Any other failure zeroes
 * all of `m`. Used by both adapters. */
void tether__msg_keep_address(tether_msg *m, int rc);

/* 1 if `sig` is a TETHER_SIG_* value of the SignalNumber table (the
 * portable signals), 0 otherwise. */
int tether__signal_portable(int sig);

/* "Hello", "Spawn", ... or "unknown" (also for TETHER_MSG_NONE). */
const char *tether_msg_type_name(tether_msg_type t);

#endif
