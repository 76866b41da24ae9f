/* tether — every limit in one place.
 *
 * Each limit is a named constant; where the embedder may change it, the
 * options struct of the library has a typed field initialised from the
 * default here. A value on the wire or in a request that breaks a limit is
 * refused with the error named beside it, before anything is allocated for
 * it; an options-struct field set outside its range makes the constructor
 * return TETHER_EINVAL. There is no "0 means unlimited".
 */
#ifndef TETHER_LIMITS_H
#define TETHER_LIMITS_H

/* Protocol versions this build speaks (docs/PROTOCOL.md, version history).
 * 2: permission profiles are enforced (docs/SANDBOX.md); on a connection
 * that agreed on 1 a Spawn with a profile is refused.
 * 3: per-session resource limits (Spawn.limits) and Exited.limit; on a
 * connection that agreed on 1 or 2 a Spawn with limits is refused. */
#define TETHER_PROTOCOL_VERSION_MIN 1u
#define TETHER_PROTOCOL_VERSION_MAX 3u
/* The first version with per-session resource limits. */
#define TETHER_PROTOCOL_VERSION_LIMITS 3u

/* Frame payload length. Default is what a peer accepts unless configured;
 * the ceiling is the most any peer may announce. TETHER_EFRAME_TOO_LARGE. */
#define TETHER_FRAME_MAX_DEFAULT (1u << 20)      /* 1 MiB */
#define TETHER_FRAME_MAX_CEILING (16u << 20)     /* 16 MiB */
#define TETHER_FRAME_MAX_MINIMUM (64u << 10)     /* 64 KiB: smallest allowed */

/* Field occurrences in one frame, nested ones included: bounds what a
 * decoder allocates for a frame whatever its size (argv + env at their
 * limits fit). Over it the frame does not decode (TETHER_EDECODE). */
#define TETHER_FRAME_FIELDS_MAX 16384u

/* Spawn request. */
#define TETHER_ARGV_MAX_COUNT 4096u              /* TETHER_ELIMIT_ARGV_COUNT */
#define TETHER_ARGV_MAX_BYTES (256u << 10)       /* TETHER_ELIMIT_ARGV_BYTES */
#define TETHER_ENV_MAX_COUNT 4096u               /* TETHER_ELIMIT_ENV_COUNT */
#define TETHER_ENV_MAX_BYTES (256u << 10)        /* TETHER_ELIMIT_ENV_BYTES */
#define TETHER_PATH_MAX_BYTES 4096u              /* TETHER_ELIMIT_PATH (cwd, roots) */
#define TETHER_PROFILE_MAX_PATHS 64u             /* TETHER_ELIMIT_ROOTS, per list */

/* Text fields (implementation names, error messages). TETHER_ELIMIT_STRING */
#define TETHER_NAME_MAX_BYTES 64u
#define TETHER_MESSAGE_MAX_BYTES 1024u

/* Largest terminal dimension (rows or columns) of a pty session; a Spawn
 * or Resize past it is refused (TETHER_EINVAL locally, INVALID on the
 * wire). */
#define TETHER_PTY_DIM_MAX 32767u

/* Sessions per connection. TETHER_ELIMIT_SESSIONS */
#define TETHER_SESSIONS_MAX_DEFAULT 1024u
#define TETHER_SESSIONS_MAX_CEILING 65536u

/* Flow control, per stream. TETHER_ELIMIT_WINDOW */
#define TETHER_WINDOW_DEFAULT (256u << 10)       /* 256 KiB */
#define TETHER_WINDOW_MAX (16u << 20)            /* 16 MiB */

/* Per-session resource limits (Spawn.limits, protocol version 3): the
 * accepted range of each field when set (0 = unset). A value outside is
 * refused: SpawnFailed{LIMITS, INVALID} from the runner, TETHER_EINVAL in
 * the parent library. */
#define TETHER_RLIMIT_MEMORY_MIN (1u << 20)          /* 1 MiB */
#define TETHER_RLIMIT_MEMORY_MAX (1ull << 50)        /* 1 PiB */
#define TETHER_RLIMIT_PROCESSES_MIN 1u
#define TETHER_RLIMIT_PROCESSES_MAX 4194304u         /* Linux pid_max ceiling */
#define TETHER_RLIMIT_CPU_MS_MIN 1000u               /* RLIMIT_CPU counts seconds */
#define TETHER_RLIMIT_CPU_MS_MAX (1ull << 40)
#define TETHER_RLIMIT_OPEN_FILES_MIN 4u              /* stdio and one more */
#define TETHER_RLIMIT_OPEN_FILES_MAX 1048576u        /* Linux nr_open default */
#define TETHER_RLIMIT_FILE_SIZE_MIN 1u
#define TETHER_RLIMIT_FILE_SIZE_MAX (1ull << 60)

/* Time limits, milliseconds. */
#define TETHER_HANDSHAKE_TIMEOUT_MS 10000u
#define TETHER_TERMINATE_GRACE_MS 2000u          /* Terminate{grace_ms: 0} */

/* Parent library (tether/parent.h). */
/* Stdin bytes a session queues before tether_session_write says
 * TETHER_EAGAIN. */
#define TETHER_PARENT_STDIN_QUEUE_DEFAULT (1u << 20)
/* Blocking writes to a runner that stopped reading fail after this long
 * (TETHER_ETIMEDOUT). */
#define TETHER_PARENT_WRITE_TIMEOUT_MS 10000
/* tether_parent_free waits this long for the runner to end its sessions
 * and exit before it kills the runner. */
#define TETHER_PARENT_SHUTDOWN_TIMEOUT_MS (TETHER_TERMINATE_GRACE_MS + 3000)
/* tether_capture keeps at most this much of a stream whose spawn options
 * set no cap. */
#define TETHER_CAPTURE_MAX_DEFAULT (16u << 20)

/* Preface: 8 bytes sent by each side before its first frame. */
#define TETHER_PREFACE_LEN 8u
#define TETHER_PREFACE_BYTES "\0TETHER\n"

#endif
