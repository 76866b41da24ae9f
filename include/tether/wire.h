/* tether — portable numbers of the wire schema that the public API uses.
 *
 * The values are the enum numbers of proto/tether/v1/tether.proto; they are
 * tether's own, not the OS's (TETHER_SIG_TERM is 15 on every platform). */
#ifndef TETHER_WIRE_H
#define TETHER_WIRE_H

/* Capabilities a peer lists in its Hello (Capability):
 * tether_runner_info.capabilities has TETHER_CAP_BIT(c) set for each
 * capability c the runner listed. Since 0.2 (public). */
enum {
  TETHER_CAP_PIPES = 1,
  TETHER_CAP_PTY = 2,
  TETHER_CAP_CONPTY = 3,
  TETHER_CAP_SIGNALS = 4,
  TETHER_CAP_FLOW_CONTROL = 5,
  TETHER_CAP_PERMISSION_PROFILES = 6,
  TETHER_CAP_RESOURCE_USAGE = 7,
  TETHER_CAP_PROCESS_GROUPS = 8,
  TETHER_CAP_RESOURCE_LIMITS = 9  /* Since 0.2 */
};
#define TETHER_CAP_BIT(c) (1u << (c))

/* Output streams (Stream). */
enum {
  TETHER_STREAM_STDOUT = 1,
  TETHER_STREAM_STDERR = 2,
  TETHER_STREAM_PTY = 3,
  TETHER_STREAM_STDIN = 4
};
/* Signals (SignalNumber): the classic POSIX numbering. */
enum {
  TETHER_SIG_HUP = 1, TETHER_SIG_INT = 2, TETHER_SIG_QUIT = 3,
  TETHER_SIG_ILL = 4, TETHER_SIG_TRAP = 5, TETHER_SIG_ABRT = 6,
  TETHER_SIG_BUS = 7, TETHER_SIG_FPE = 8, TETHER_SIG_KILL = 9,
  TETHER_SIG_USR1 = 10, TETHER_SIG_SEGV = 11, TETHER_SIG_USR2 = 12,
  TETHER_SIG_PIPE = 13, TETHER_SIG_ALRM = 14, TETHER_SIG_TERM = 15,
  TETHER_SIG_CONT = 18, TETHER_SIG_STOP = 19, TETHER_SIG_TSTP = 20,
  TETHER_SIG_XCPU = 24, TETHER_SIG_XFSZ = 25, TETHER_SIG_WINCH = 28
};
/* Where a spawn failed (SpawnStage). */
enum {
  TETHER_STAGE_REQUEST = 1,     /* the request itself was invalid */
  TETHER_STAGE_LIMITS = 2,      /* a runner limit refused it */
  TETHER_STAGE_SETUP = 3,       /* pipes, fork, process creation */
  TETHER_STAGE_CWD = 4,         /* changing to the cwd failed */
  TETHER_STAGE_EXEC = 5,        /* executing argv[0] failed */
  TETHER_STAGE_PTY = 6,         /* creating the terminal failed */
  TETHER_STAGE_PERMISSIONS = 7  /* the permission profile is unenforceable */
};
/* Portable classification of a spawn's OS error (SpawnError). */
enum {
  TETHER_SPAWN_ERR_NOT_FOUND = 1,
  TETHER_SPAWN_ERR_PERMISSION_DENIED = 2,
  TETHER_SPAWN_ERR_NOT_EXECUTABLE = 3,
  TETHER_SPAWN_ERR_NOT_A_DIRECTORY = 4,
  TETHER_SPAWN_ERR_NO_RESOURCES = 5,
  TETHER_SPAWN_ERR_INVALID = 6,
  TETHER_SPAWN_ERR_LIMIT = 7,
  TETHER_SPAWN_ERR_UNSUPPORTED = 8,
  TETHER_SPAWN_ERR_OTHER = 9
};
/* What tether_spawn_failure.os_error means (OsErrorSpace). */
enum { TETHER_OS_ERR_POSIX = 1, TETHER_OS_ERR_WIN32 = 2 };
/* Permission profiles (FilesystemMode, NetworkMode; protocol version 2,
 * docs/SANDBOX.md). 0 means "no restriction requested". */
enum { TETHER_FS_READ_ONLY = 1, TETHER_FS_WORKSPACE_WRITE = 2, TETHER_FS_FULL_ACCESS = 3 };
enum { TETHER_NET_ALLOWED = 1, TETHER_NET_DENIED = 2 };
/* Which limit ended a command (ExitLimit; protocol version 3). */
typedef enum tether_exit_limit {
  TETHER_LIMIT_NONE = 0,
  TETHER_LIMIT_MEMORY = 1,       /* the session's memory limit (OOM kill) */
  TETHER_LIMIT_PROCESSES = 2,    /* the process limit (a fork was refused) */
  TETHER_LIMIT_CPU = 3,          /* the CPU time limit */
  TETHER_LIMIT_FILE_SIZE = 4,    /* the file size limit */
  TETHER_LIMIT_WALL_TIMEOUT = 5  /* the wall-clock timeout */
} tether_exit_limit;

#endif
