/* Internal: what the two tether-run front ends share (tether_run.c on
 * POSIX, tether_run_win.c on Windows): the command line and the exit
 * statuses that are not the program's own. */
#ifndef TETHER_PARENT_RUN_CLI_H
#define TETHER_PARENT_RUN_CLI_H

#include <stddef.h>

#include "tether/parent.h"

#define TETHER__RUN_EXIT_FAILED 125      /* tether-run or the runner failed */
#define TETHER__RUN_EXIT_CANNOT_EXEC 126 /* the program could not be executed */
#define TETHER__RUN_EXIT_NOT_FOUND 127   /* the program was not found */
#define TETHER__RUN_EXIT_UNKNOWN_SIGNAL 255 /* killed by a signal without a portable number */

typedef struct tether__run_cli {
  const char *cwd, *runner_cmd, *sandbox;
  const char **env; /* the --env values (nenv), with room for 2 more */
  size_t nenv;
  int clear_env, merge, no_network, pty, verbose;
  int program;      /* argv index of PROGRAM */
  tether_resource_limits limits; /* --limit-* (0: unset) */
  uint32_t timeout_ms;           /* --timeout (0: none) */
} tether__run_cli;

/* The --limit-*, --timeout help lines both front ends print. */
#define TETHER__RUN_LIMITS_USAGE \
  "  --limit-memory SIZE  memory of the whole program tree (SIZE: bytes, or\n" \
  "                   with a K, M or G suffix: 128M)\n" \
  "  --limit-procs N  processes and threads of the program tree\n" \
  "  --limit-cpu SECONDS  CPU time of each process\n" \
  "  --limit-files N  open files per process\n" \
  "  --limit-fsize SIZE  largest file the program may write\n" \
  "  --timeout SECONDS  terminate the program after this long (wall clock)\n"

/* After the program ended because of a limit: one line on stderr naming
 * it ("tether-run: killed: memory limit 128 MiB reached"); nothing when no
 * limit ended it. With -v, also the whole tree's usage when the runner
 * measured it. */
void tether__run_say_limit(const tether_exit_status *st, const tether__run_cli *o);

/* Parses argv. Returns 1 to run argv[o->program..], 0 after printing
 * `usage` for -h (exit 0), -1 after printing what was wrong (exit
 * TETHER__RUN_EXIT_FAILED). `with_pty`: -t/-T are options. Free o->env
 * with free() after any return. */
int tether__run_cli_parse(int argc, char **argv, const char *usage, int with_pty,
                          tether__run_cli *o);

/* The status for a failed Spawn: 127 not found, 126 not executable (other
 * EXEC failures), 125 for every other stage. */
int tether__run_spawn_failed_status(const tether_spawn_failure *f);

/* The status for a program killed by portable signal `sig`: 128+N for a
 * signal PROTOCOL.md §5.6 names (the shell's convention), 255 for any
 * other (SIGNAL_UNSPECIFIED or a number this build does not know), which
 * would otherwise alias an exit code (signal 200 would read as exit 200). */
int tether__run_signal_status(int sig);

/* `len` bytes the runner chose (a message, a name) as printable text for
 * our stderr: the one escaper (transport/escape.h), UTF-8 kept, control
 * bytes (ESC, CSI, \r, \b, C1) as \xNN. NUL-terminated, truncated to fit. */
void tether__run_printable(char *dst, size_t cap, const void *src, size_t len);

/* Starts the runner `po` names (callbacks and userdata set by the caller;
 * error_buf is set here). Returns NULL after printing why it could not start;
 * with `verbose`, prints which runner answered. */
tether_parent *tether__run_start(tether_parent_options *po, int verbose);

#endif
