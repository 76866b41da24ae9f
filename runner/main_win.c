/* tether-runner.exe: serves one connection, then exits (Windows).
 *
 * Where the connection comes from:
 *   --pipe NAME      connect, as a client, to the parent's named pipe
 *                    \\.\pipe\... (libtether_parent's convention: it
 *                    creates a random-named pipe, starts the runner with
 *                    `--pipe NAME` and accepts only this process). Missing
 *                    or busy pipes are retried until the handshake timeout.
 *   --handles R[,W]  inherited pipe handles (decimal or 0x hex values; W
 *                    defaults to R, which must then be overlapped).
 *   --stdio          stdin/stdout. They are taken over at once; the
 *                    standard handles and the C runtime's stdin/stdout are
 *                    pointed at NUL so nothing else writes into the channel.
 *
 * Exit status: 0 after an orderly end, 1 when the connection ended in an
 * error (one line on stderr), 2 for usage errors. */
#ifndef WIN32_LEAN_AND_MEAN
#  define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner_internal.h"
#include "cli.h"

static const char usage[] =
    "usage: tether-runner (--pipe NAME | --handles R[,W] | --stdio)\n"
    "                     [--max-sessions N] [--max-frame BYTES]\n"
    "                     [--handshake-timeout MS] [--window BYTES]\n"
    "                     [--max-window BYTES] [--name NAME]\n"
    "       tether-runner --help | --version\n"
    "\n"
    "Serves one tether connection: starts commands for the parent on the\n"
    "other end, streams their output and reports how they ended.\n"
    "\n"
    "  --pipe NAME             connect to the parent's named pipe (\\\\.\\pipe\\...)\n"
    "  --handles R[,W]         use inherited pipe handles (W defaults to R)\n"
    "  --stdio                 use stdin/stdout as the channel\n"
    "  --max-sessions N        concurrent sessions (default 1024)\n"
    "  --max-frame BYTES       largest frame accepted (default 1048576)\n"
    "  --handshake-timeout MS  deadline for the parent's Hello (default 10000)\n"
    "  --window BYTES          flow-control initial window per stream (default 262144)\n"
    "  --max-window BYTES      most outstanding credit per stream (default 16777216)\n"
    "  --name NAME             implementation name sent in Hello\n"
    "\n"
    "Permission profiles are not enforced on Windows: a Spawn that asks for\n"
    "one is refused (SpawnFailed, stage PERMISSIONS).\n";

static HANDLE parse_handle(const char *s, char **end) {
  errno = 0;
  unsigned long long v = strtoull(s, end, 0);
  if (errno || *end == s || v == 0 || s[0] == '-') return NULL;
  return (HANDLE)(uintptr_t)v;
}

static int die_usage(const char *msg, const char *arg) {
  fprintf(stderr, "tether-runner: %s%s%s\n%s", msg, arg ? " " : "", arg ? arg : "", usage);
  return 2;
}

/* Takes stdin/stdout as the channel and points them at NUL. */
static int take_stdio(HANDLE *rh, HANDLE *wh) {
  HANDLE self = GetCurrentProcess();
  HANDLE in = GetStdHandle(STD_INPUT_HANDLE), out = GetStdHandle(STD_OUTPUT_HANDLE);
  if (!in || in == INVALID_HANDLE_VALUE || !out || out == INVALID_HANDLE_VALUE) return -1;
  if (!DuplicateHandle(self, in, self, rh, 0, FALSE, DUPLICATE_SAME_ACCESS)) return -1;
  if (!DuplicateHandle(self, out, self, wh, 0, FALSE, DUPLICATE_SAME_ACCESS)) return -1;
  fflush(stdout);
  if (!freopen("NUL", "r", stdin) || !freopen("NUL", "w", stdout)) return -1;
  HANDLE nul = CreateFileW(L"NUL", GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE,
                           NULL, OPEN_EXISTING, 0, NULL);
  if (nul == INVALID_HANDLE_VALUE) return -1;
  SetStdHandle(STD_INPUT_HANDLE, nul);
  SetStdHandle(STD_OUTPUT_HANDLE, nul);
  /* Our duplicates keep the channel open; the originals may go. */
  CloseHandle(in);
  CloseHandle(out);
  return 0;
}

int main(int argc, char **argv) {
  tether_runner_options o;
  tether_runner_options_init(&o);
  char errbuf[256] = "";
  o.error_buf = errbuf;
  o.error_buf_len = sizeof errbuf;

  enum { NONE, STDIO, HANDLES, PIPE } mode = NONE;
  HANDLE rh = NULL, wh = NULL;
  const char *pipe_name = NULL;

  /* No error dialogs for us or (inherited) our children. */
  SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX | SEM_NOOPENFILEERRORBOX);

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage, stdout);
      return 0;
    } else if (!strcmp(a, "--version")) {
      printf("tether-runner %s (protocol %u..%u)\n", tether_runner_version(),
             TETHER_PROTOCOL_VERSION_MIN, TETHER_PROTOCOL_VERSION_MAX);
      return 0;
    } else if (!strcmp(a, "--stdio")) {
      mode = STDIO;
    } else if (!strcmp(a, "--pipe") && v) {
      mode = PIPE;
      pipe_name = v;
      i++;
    } else if (!strcmp(a, "--handles") && v) {
      char *end;
      rh = parse_handle(v, &end);
      wh = rh;
      if (rh && *end == ',') wh = parse_handle(end + 1, &end);
      if (!rh || !wh || *end) return die_usage("bad --handles value", v);
      mode = HANDLES;
      i++;
    } else {
      const char *bad = NULL;
      int took = tether__runner_cli_option(&o, a, v, &bad);
      if (took < 0) return die_usage(bad, v);
      if (took == 0) return die_usage("unknown or incomplete argument", a);
      i += took - 1;
    }
  }
  const char *rule = tether__runner_cli_check(&o);
  if (rule) return die_usage(rule, NULL);

  tether_transport *t = NULL;
  int rc;
  switch (mode) {
  case PIPE:
    rc = tether_transport_npipe_connect(pipe_name, (int)o.handshake_timeout_ms, &t);
    if (rc < 0) {
      fprintf(stderr, "tether-runner: connect %s: %s\n", pipe_name, tether_strerror(rc));
      return 1;
    }
    break;
  case STDIO:
    if (take_stdio(&rh, &wh) < 0) {
      fprintf(stderr, "tether-runner: cannot set up stdio (Win32 error %lu)\n",
              (unsigned long)GetLastError());
      return 1;
    }
    /* fall through */
  case HANDLES:
    if (GetFileType(rh) == FILE_TYPE_UNKNOWN && GetLastError() != NO_ERROR) {
      fprintf(stderr, "tether-runner: --handles: not a handle (Win32 error %lu)\n",
              (unsigned long)GetLastError());
      return 1;
    }
    rc = tether_transport_handle_new(rh, wh, &t);
    if (rc < 0) {
      fprintf(stderr, "tether-runner: cannot use the handles: %s\n", tether_strerror(rc));
      return 1;
    }
    break;
  default:
    return die_usage("choose one of --pipe, --handles, --stdio", NULL);
  }
  rc = tether__runner_serve_transport(&o, t);
  if (rc < 0) {
    fprintf(stderr, "tether-runner: %s\n", errbuf[0] ? errbuf : tether_strerror(rc));
    return 1;
  }
  return 0;
}
