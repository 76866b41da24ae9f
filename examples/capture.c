/* capture.c — run one command through tether and collect its output, with
 * the one-shot tether_capture().
 *
 *   capture [--stdout-cap N] [--stderr-cap N] [--timeout MS] [--merge-stderr]
 *           [--quiet] -- PROGRAM [ARGS...]
 *
 * Prints what the command wrote (unless --quiet), then a summary:
 *
 *   stdout: 3 bytes
 *   stderr: 0 bytes
 *   status: exited with code 4
 *
 * and exits like the command: its exit code, 128+N when signal N killed it,
 * 127 when it could not be started, 125 when the runner failed.
 *
 *   --stdout-cap N, --stderr-cap N  keep at most N bytes of the stream; the
 *                   rest is read and dropped by the runner, and the summary
 *                   says "truncated" (default: tether_capture's own bound,
 *                   TETHER_CAPTURE_MAX_DEFAULT)
 *   --timeout MS    terminate the command after MS milliseconds
 *   --merge-stderr  the command's stderr goes to its stdout
 *
 * The runner is `tether-runner` from PATH, or the program named by the
 * TETHER_RUNNER environment variable (e.g. build/bin/tether-runner).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tether/parent.h>

#define EXIT_RUNNER_FAILED 125
#define EXIT_NOT_STARTED 127

static int usage(void) {
  fprintf(stderr,
          "usage: capture [--stdout-cap N] [--stderr-cap N] [--timeout MS]\n"
          "               [--merge-stderr] [--quiet] -- PROGRAM [ARGS...]\n"
          "  (TETHER_RUNNER=path selects the runner)\n");
  return 2;
}

/* A whole decimal number, or -1. */
static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  if (s == NULL || s[0] < '0' || s[0] > '9') return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0') return -1;
  *out = v;
  return 0;
}

static void summary(const char *name, size_t len, int truncated,
                    uint64_t dropped) {
  printf("%s: %zu bytes", name, len);
  if (truncated) printf(", truncated (%" PRIu64 " bytes dropped)", dropped);
  printf("\n");
}

int main(int argc, char **argv) {
  tether_spawn_options so;
  tether_spawn_options_init(&so); /* no caps, no timeout, stdin from a pipe */
  so.stdin_mode = TETHER_STDIN_MODE_NULL; /* nothing to feed it */
  int quiet = 0;

  int i = 1;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    uint64_t v;
    if (strcmp(argv[i], "--stdout-cap") == 0 && parse_u64(argv[i + 1], &v) == 0) {
      so.stdout_cap = v;
      i++;
    } else if (strcmp(argv[i], "--stderr-cap") == 0 &&
               parse_u64(argv[i + 1], &v) == 0) {
      so.stderr_cap = v;
      i++;
    } else if (strcmp(argv[i], "--timeout") == 0 &&
               parse_u64(argv[i + 1], &v) == 0 && v <= UINT32_MAX) {
      so.timeout_ms = (uint32_t)v;
      i++;
    } else if (strcmp(argv[i], "--merge-stderr") == 0) {
      so.merge_stderr = 1;
    } else if (strcmp(argv[i], "--quiet") == 0) {
      quiet = 1;
    } else {
      return usage();
    }
  }
  if (i + 1 >= argc) return usage(); /* no "--", or nothing after it */
  const char *const *cmd = (const char *const *)(argv + i + 1);

  tether_parent_options o;
  tether_parent_options_init(&o);
  /* Which runner: TETHER_RUNNER if set, else `tether-runner --fd 3` from
   * PATH. No callbacks are needed: tether_capture puts the command's
   * events into its result. */
  const char *runner = getenv("TETHER_RUNNER");
  const char *runner_argv[] = { runner, "--fd", "3", NULL };
  if (runner != NULL && runner[0] != '\0') o.runner_argv = runner_argv;
  char err[256] = "";
  o.error_buf = err;
  o.error_buf_len = sizeof err;

  tether_parent *p;
  int rc = tether_parent_start(&o, &p);
  if (rc < 0) {
    fprintf(stderr, "capture: cannot start the runner: %s%s%s\n",
            tether_strerror(rc), err[0] ? ": " : "", err);
    return EXIT_RUNNER_FAILED;
  }

  /* Blocks until the command has ended and all of its output is in. */
  tether_capture_result r;
  rc = tether_capture(p, cmd, &so, &r);

  int status;
  if (rc == 0) {
    if (!quiet) {
      fwrite(r.stdout_data, 1, r.stdout_len, stdout);
      fwrite(r.stderr_data, 1, r.stderr_len, stderr);
      fflush(stdout);
    }
    const tether_exit_status *st = &r.status;
    summary("stdout", r.stdout_len, r.stdout_truncated, st->stdout_dropped);
    summary("stderr", r.stderr_len, r.stderr_truncated, st->stderr_dropped);
    if (st->exited) {
      printf("status: exited with code %" PRIu32 "\n", st->code);
      /* A 32-bit Windows code must not read as success through its low byte. */
      status = st->code <= 255 ? (int)st->code : 1;
    } else {
      printf("status: killed by signal %d%s%s\n", st->signal,
             st->core_dumped ? " (core dumped)" : "",
             st->timed_out ? " (timed out)" : "");
      status = 128 + st->signal;
    }
    if (st->has_usage)
      printf("usage: user %" PRIu64 " us, system %" PRIu64 " us, max rss %" PRIu64
             " KiB\n", st->user_time_us, st->system_time_us, st->max_rss_kib);
  } else if (rc == TETHER_ESPAWN) {
    /* Stage and error say where and why; the message is NUL-terminated
     * in a capture result. */
    fprintf(stderr, "capture: %s: could not start (stage %d, error %d): %s\n",
            cmd[0], r.failure.stage, r.failure.error,
            r.failure.message ? r.failure.message : "");
    status = EXIT_NOT_STARTED;
  } else {
    fprintf(stderr, "capture: %s: %s\n", cmd[0], tether_strerror(rc));
    status = EXIT_RUNNER_FAILED;
  }

  tether_capture_result_free(&r);
  tether_parent_free(p);
  return status;
}
