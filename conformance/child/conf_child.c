/* tether-conf-child OP [ARG]... — runs the ops in order, then exits 0.
 * The conformance kit (conformance/tether_conformance.py, class Target)
 * describes each check's child as such a list, so the same checks run on
 * every platform. Ops:
 *
 *   out TEXT / err TEXT   TEXT and a newline on stdout / stderr
 *   outn TEXT             TEXT on stdout, no newline
 *   lines N               "out<i>\n" on stdout and "err<i>\n" on stderr, i = 1..N
 *   seq N / seqerr N      "1\n".."N\n" on stdout / stderr
 *   env A,B,..            the values of A, B, .. joined by ':' ("unset" if
 *                         missing), and a newline
 *   cwd                   the current directory and a newline
 *   cat                   stdin to stdout until end of input
 *   count                 the number of bytes on stdin until its end, and a newline
 *   zeros N               N zero bytes on stdout
 *   sleep MS              sleep
 *   ignore-term           ignore the polite stop (SIGTERM; CTRL_BREAK on Windows)
 *   beat PATH MS          for MS milliseconds, rewrite PATH with a growing
 *                         counter every 20 ms: the kit's proof of life that
 *                         needs no process id
 *   write PATH            create PATH holding "x\n"; status 1 at once if that fails
 *   chmod PATH            make PATH mode 0777; status 1 at once if that fails
 *   tiocsti               push a byte into the input of the terminal on stdin
 *                         (TIOCSTI); status 1 at once if that fails
 *   exit N                exit with status N now
 *
 * Output is flushed after every op, so ops on two streams keep their order
 * when the runner merges them. An unknown op or a bad number: a message on
 * stderr and status 125. */
#include "conf_child.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static FILE *in, *out, *err; /* from conf_stdio() */

static int usage(const char *why, const char *what) {
  fprintf(stderr, "tether-conf-child: %s%s%s\n", why, what ? ": " : "", what ? what : "");
  return 125;
}

static int number(const char *s, unsigned long long *value) {
  char *end;
  errno = 0;
  if (!s || !*s || *s == '-') return -1;
  *value = strtoull(s, &end, 10);
  return errno || *end ? -1 : 0;
}

static void copy_stdin(int count_only) {
  char buf[65536];
  unsigned long long total = 0;
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
    total += n;
    if (!count_only) {
      fwrite(buf, 1, n, out);
      fflush(out);
    }
  }
  if (count_only) fprintf(out, "%llu\n", total);
}

static void print_env(const char *names) {
  for (const char *p = names;;) {
    char name[256];
    size_t k = strcspn(p, ",");
    if (k >= sizeof name) k = sizeof name - 1;
    memcpy(name, p, k);
    name[k] = 0;
    const char *v = getenv(name);
    fprintf(out, "%s%s", p == names ? "" : ":", v ? v : "unset");
    p += strcspn(p, ",");
    if (!*p) break;
    p++;
  }
  fprintf(out, "\n");
}

static int beat(const char *path, unsigned long long ms) {
  unsigned long long end = conf_now_ms() + ms, n = 0;
  do {
    FILE *f = fopen(path, "wb");
    if (!f) return usage("cannot write", path);
    fprintf(f, "%llu\n", ++n);
    fclose(f);
    conf_sleep_ms(20);
  } while (conf_now_ms() < end);
  return 0;
}

int main(int argc, char **argv) {
  conf_stdio(&in, &out, &err);
  for (int i = 1; i < argc; i++) {
    const char *op = argv[i], *a = i + 1 < argc ? argv[i + 1] : NULL;
    unsigned long long n = 0;
    int takes = !strcmp(op, "out") || !strcmp(op, "err") || !strcmp(op, "outn") ||
                !strcmp(op, "env") || !strcmp(op, "beat") || !strcmp(op, "write") ||
                !strcmp(op, "chmod");
    int numeric = !strcmp(op, "lines") || !strcmp(op, "seq") || !strcmp(op, "seqerr") ||
                  !strcmp(op, "zeros") || !strcmp(op, "sleep") || !strcmp(op, "exit");
    if ((takes || numeric) && !a) return usage("missing argument for", op);
    if (numeric && number(a, &n) < 0) return usage("not a number", a);
    if (takes || numeric) i++;

    if (!strcmp(op, "out")) {
      fprintf(out, "%s\n", a);
    } else if (!strcmp(op, "err")) {
      fprintf(err, "%s\n", a);
    } else if (!strcmp(op, "outn")) {
      fprintf(out, "%s", a);
    } else if (!strcmp(op, "lines")) {
      for (unsigned long long k = 1; k <= n; k++) {
        fprintf(out, "out%llu\n", k);
        fprintf(err, "err%llu\n", k);
      }
    } else if (!strcmp(op, "seq") || !strcmp(op, "seqerr")) {
      FILE *f = op[3] ? err : out;
      for (unsigned long long k = 1; k <= n; k++) fprintf(f, "%llu\n", k);
    } else if (!strcmp(op, "env")) {
      print_env(a);
    } else if (!strcmp(op, "cwd")) {
      char buf[4096];
      if (conf_getcwd(buf, sizeof buf) < 0) return usage("cannot read the current directory", NULL);
      fprintf(out, "%s\n", buf);
    } else if (!strcmp(op, "cat") || !strcmp(op, "count")) {
      copy_stdin(op[1] == 'o');
    } else if (!strcmp(op, "zeros")) {
      static const char zero[65536];
      while (n > 0) {
        size_t k = n < sizeof zero ? (size_t)n : sizeof zero;
        if (fwrite(zero, 1, k, out) != k) return 1;
        n -= k;
      }
    } else if (!strcmp(op, "sleep")) {
      fflush(out);
      conf_sleep_ms((unsigned)(n > 86400000u ? 86400000u : n));
    } else if (!strcmp(op, "ignore-term")) {
      conf_ignore_term();
    } else if (!strcmp(op, "beat")) {
      if (i + 1 >= argc || number(argv[i + 1], &n) < 0)
        return usage("beat needs PATH MS", NULL);
      i++;
      fflush(out);
      if (beat(a, n) != 0) return 125;
    } else if (!strcmp(op, "write")) {
      FILE *f = fopen(a, "wb");
      if (!f || fputs("x\n", f) < 0 || fclose(f) != 0) {
        fprintf(err, "tether-conf-child: cannot write %s: %s\n", a, strerror(errno));
        return 1;
      }
    } else if (!strcmp(op, "chmod") || !strcmp(op, "tiocsti")) {
      int e = op[0] == 'c' ? conf_chmod(a) : conf_tiocsti();
      if (e) {
        fprintf(err, "tether-conf-child: %s%s%s: %s\n", op, a && op[0] == 'c' ? " " : "",
                op[0] == 'c' ? a : "", strerror(e));
        return 1;
      }
    } else if (!strcmp(op, "exit")) {
      fflush(out);
      fflush(err);
      return (int)(n & 0xff);
    } else {
      return usage("unknown op", op);
    }
    fflush(out);
    fflush(err);
  }
  return 0;
}
