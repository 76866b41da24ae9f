/* tether — error codes shared by every tether library.
 *
 * Every fallible call returns 0 or one of these negative codes. The numbers
 * are stable across releases (append only); they are tether's own and never
 * raw errno or Win32 values. Codes that cross the wire are the ErrorCode enum
 * in proto/tether/v1/tether.proto, not these.
 */
#ifndef TETHER_ERROR_H
#define TETHER_ERROR_H

#include "tether/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, value, message) */
#define TETHER_ERRNO_MAP(X)                                                   \
  X(AGAIN, -1, "operation would block; try again later")                    \
  X(NOMEM, -2, "out of memory")                                             \
  X(INVAL, -3, "invalid argument")                                          \
  X(CLOSED, -4, "the connection is closed")                                 \
  X(IO, -5, "input/output error on the transport")                          \
  X(TIMEDOUT, -6, "timed out")                                              \
  X(PREFACE, -7, "not a tether peer (wrong preface bytes)")                 \
  X(FRAME_EMPTY, -8, "zero-length frame")                                   \
  X(FRAME_TOO_LARGE, -9, "frame length exceeds the maximum frame size")     \
  X(TRUNCATED, -10, "connection ended in the middle of a frame")            \
  X(DECODE, -11, "frame payload is not a valid tether.v1.Frame")            \
  X(PROTOCOL, -12, "protocol violation by the peer")                        \
  X(VERSION, -13, "no protocol version in common with the peer")            \
  X(UNSUPPORTED, -14, "not supported")                                      \
  X(UNKNOWN_SESSION, -15, "no such session")                                \
  X(SESSION_EXISTS, -16, "session id already in use")                       \
  X(LIMIT_ARGV_COUNT, -17, "too many argv entries")                         \
  X(LIMIT_ARGV_BYTES, -18, "argv is too large")                             \
  X(LIMIT_ENV_COUNT, -19, "too many environment entries")                   \
  X(LIMIT_ENV_BYTES, -20, "environment is too large")                       \
  X(LIMIT_PATH, -21, "path is too long")                                    \
  X(LIMIT_SESSIONS, -22, "too many concurrent sessions")                    \
  X(LIMIT_STRING, -23, "text field is too long")                            \
  X(LIMIT_ROOTS, -24, "too many permission-profile paths")                  \
  X(LIMIT_WINDOW, -25, "flow-control credit exceeds the window")            \
  X(INCALLBACK, -26, "call not allowed from inside a callback")             \
  X(STATE, -27, "call not valid in the current state")                      \
  X(SPAWN, -28, "the runner could not start the command")                   \
  X(RUNNER, -29, "the runner reported an error")                            \
  X(OS, -30, "operating system call failed")                                \
  X(ADDRESS, -31, "socket path is too long or invalid")                    \
  X(ADDRINUSE, -32, "socket path already exists")                           \
  X(LIMIT, -33, "the runner refused a request: a limit was exceeded")

typedef enum tether_errno {
  TETHER_OK = 0,
#define TETHER__ERRNO_ENUM(name, value, msg) TETHER_E##name = (value),
  TETHER_ERRNO_MAP(TETHER__ERRNO_ENUM)
#undef TETHER__ERRNO_ENUM
  TETHER_E__LAST = -34
} tether_errno;

/* A static message for `code` ("unknown error" for codes not in the list).
 * Since 0.1. */
TETHER_EXTERN const char *tether_strerror(int code);

/* The code's name, e.g. "TETHER_EFRAME_TOO_LARGE". Since 0.1. */
TETHER_EXTERN const char *tether_err_name(int code);

#ifdef __cplusplus
}
#endif
#endif
