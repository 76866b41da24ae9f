/* tether-runner: serves one connection, then exits.
 *
 * Where the connection comes from:
 *   --fd R[,W]      inherited descriptors (R for reading, W for writing; W
 *                   defaults to R, e.g. one end of a socketpair). This is
 *                   the convention of libtether_parent: it starts the
 *                   runner with `--fd 3` (a socketpair end as fd 3) or
 *                   `--fd 3,4` (pipes: read from 3, write to 4).
 *   --stdio         stdin/stdout (so `ssh host tether-runner --stdio`
 *                   works). The two are moved to private descriptors at
 *                   once and fd 0/1 are pointed at /dev/null, so nothing
 *                   else in this process can write into the channel.
 *   --connect PATH  connect to a Unix socket.
 *   --listen PATH   listen on a Unix socket, accept one connection, unlink.
 *
 * Exit status: 0 after an orderly end (Goodbye, or end of input between
 * frames), 1 when the connection ended in an error (one line on stderr),
 * 2 for usage errors. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner_internal.h"
#include "cli.h"
#include "contain.h"

static const char usage[] =
    "usage: tether-runner (--stdio | --fd R[,W] | --connect PATH | --listen PATH)\n"
    "                     [--max-sessions N] [--max-frame BYTES]\n"
    "                     [--handshake-timeout MS] [--window BYTES]\n"
    "                     [--max-window BYTES] [--name NAME] [--allow-full-access]\n"
    "       tether-runner --help | --version\n"
    "\n"
    "Serves one tether connection: starts commands for the parent on the\n"
    "other end, streams their output and reports how they ended.\n"
    "\n"
    "  --stdio                 use stdin/stdout as the channel\n"
    "  --fd R[,W]              use inherited descriptors (W defaults to R)\n"
    "  --connect PATH          connect to a Unix socket\n"
    "  --listen PATH           accept one connection on a Unix socket\n"
    "  --max-sessions N        concurrent sessions (default 1024)\n"
    "  --max-frame BYTES       largest frame accepted (default 1048576)\n"
    "  --handshake-timeout MS  deadline for the parent's Hello (default 10000)\n"
    "  --window BYTES          flow-control initial window per stream (default 262144)\n"
    "  --max-window BYTES      most outstanding credit per stream (default 16777216)\n"
    "  --name NAME             implementation name sent in Hello\n"
    "  --allow-full-access     honour permission profiles that ask for full access\n"
    "\n"
    "Permission profiles are enforced with Landlock and namespaces (Linux);\n"
    "TETHER_LOG=debug logs each Spawn's permission decision on stderr.\n";

static int parse_fd(const char *s, char **end) {
  errno = 0;
  long v = strtol(s, end, 10);
  if (errno || *end == s || v < 0 || v > 1 << 24) return -1;
  return (int)v;
}

static int die_usage(const char *msg, const char *arg) {
  fprintf(stderr, "tether-runner: %s%s%s\n%s", msg, arg ? " " : "", arg ? arg : "", usage);
  return 2;
}

/* Moves the channel off fd 0/1 and points those at /dev/null. */
static int take_stdio(int *rfd, int *wfd) {
  *rfd = fcntl(0, F_DUPFD_CLOEXEC, 3);
  *wfd = fcntl(1, F_DUPFD_CLOEXEC, 3);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (*rfd < 0 || *wfd < 0 || null < 0) return -1;
  if (dup2(null, 0) < 0 || dup2(null, 1) < 0) return -1;
  close(null);
  return 0;
}

int main(int argc, char **argv) {
  tether_runner_options o;
  tether_runner_options_init(&o);
  char errbuf[256] = "";
  o.error_buf = errbuf;
  o.error_buf_len = sizeof errbuf;

  enum { NONE, STDIO, FD, CONNECT, LISTEN } mode = NONE;
  int rfd = -1, wfd = -1;
  const char *path = NULL;

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
    } else if (!strcmp(a, "--fd") && v) {
      char *end;
      rfd = parse_fd(v, &end);
      wfd = rfd;
      if (rfd >= 0 && *end == ',') wfd = parse_fd(end + 1, &end);
      if (rfd < 0 || wfd < 0 || *end) return die_usage("bad --fd value", v);
      mode = FD;
      i++;
    } else if ((!strcmp(a, "--connect") || !strcmp(a, "--listen")) && v) {
      mode = a[2] == 'c' ? CONNECT : LISTEN;
      path = v;
      i++;
    } else if (!strcmp(a, "--child-watch") && v) { /* testing: force the fallback */
      if (!strcmp(v, "sigchld")) o.child_watch = TETHER_RUNNER_WATCH_SIGCHLD;
      else if (!strcmp(v, "pidfd")) o.child_watch = TETHER_RUNNER_WATCH_PIDFD;
      else if (!strcmp(v, "auto")) o.child_watch = TETHER_RUNNER_WATCH_AUTO;
      else return die_usage("bad --child-watch", v);
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

  /* Before the first child: every descendant dies with this process. */
  char why[160];
  int contained = tether__contain_init(why, sizeof why);
  if (contained < 0) {
    fprintf(stderr, "tether-runner: %s\n", why);
    return 1;
  }
  const char *lv = getenv("TETHER_LOG");
  if (lv && !strcmp(lv, "debug"))
    fprintf(stderr, "tether-runner: %s\n",
            contained ? "children live in a PID namespace that dies with the runner"
                      : why);

  /* The library never dies of SIGPIPE, but a write to stderr might. */
  signal(SIGPIPE, SIG_IGN);

  int rc;
  switch (mode) {
  case STDIO:
    if (take_stdio(&rfd, &wfd) < 0) {
      fprintf(stderr, "tether-runner: cannot set up stdio: %s\n", strerror(errno));
      return 1;
    }
    rc = tether_runner_serve_fds(&o, rfd, wfd);
    break;
  case FD:
    if (fcntl(rfd, F_GETFD) < 0 || fcntl(wfd, F_GETFD) < 0) {
      fprintf(stderr, "tether-runner: --fd %d,%d: %s\n", rfd, wfd, strerror(errno));
      return 1;
    }
    rc = tether_runner_serve_fds(&o, rfd, wfd);
    break;
  case CONNECT: {
    tether_transport *t = NULL;
    rc = tether_transport_unix_connect(path, (int)o.handshake_timeout_ms, &t);
    if (rc < 0) {
      fprintf(stderr, "tether-runner: connect %s: %s\n", path, tether_strerror(rc));
      return 1;
    }
    rc = tether__runner_serve_transport(&o, t);
    break;
  }
  case LISTEN: {
    tether_listener *l = NULL;
    tether_transport *t = NULL;
    rc = tether_listener_unix(path, &l);
    if (rc < 0) {
      fprintf(stderr, "tether-runner: listen %s: %s\n", path, tether_strerror(rc));
      return 1;
    }
    rc = tether_listener_accept(l, -1, &t);
    tether_listener_free(l);
    if (rc < 0) {
      fprintf(stderr, "tether-runner: accept on %s: %s\n", path, tether_strerror(rc));
      return 1;
    }
    rc = tether__runner_serve_transport(&o, t);
    break;
  }
  default:
    return die_usage("choose one of --stdio, --fd, --connect, --listen", NULL);
  }
  if (rc < 0) {
    fprintf(stderr, "tether-runner: %s\n", errbuf[0] ? errbuf : tether_strerror(rc));
    return 1;
  }
  return 0;
}
