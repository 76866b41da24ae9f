/* The tether-run command line, for both front ends (run_cli.h). */
#include "run_cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/msg.h"
#include "transport/escape.h"
/* "128M", "1G", "4096": bytes (K/M/G are powers of 1024). 0 on success. */
static int parse_size(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  if (*s < '0' || *s > '9') return -1;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno) return -1;
  unsigned shift = 0;
  if (*end == 'K' || *end == 'k') shift = 10;
  else if (*end == 'M' || *end == 'm') shift = 20;
  else if (*end == 'G' || *end == 'g') shift = 30;
  if (shift) end++;
  if (*end || v > (UINT64_MAX >> shift)) return -1;
  *out = (uint64_t)v << shift;
  return 0;
}

/* "1", "2.5": seconds, as milliseconds (at most 3 decimals). */
static int parse_seconds(const char *s, uint64_t *ms) {
  uint64_t whole = 0, frac = 0;
  int digits = 0, fd = 0;
  const char *p = s;
  for (; *p >= '0' && *p <= '9'; p++, digits++) {
    if (whole > UINT64_MAX / 10000) return -1;
    whole = whole * 10 + (uint64_t)(*p - '0');
  }
  if (*p == '.') {
    for (p++; *p >= '0' && *p <= '9'; p++, fd++)
      if (fd < 3) frac = frac * 10 + (uint64_t)(*p - '0');
    while (fd < 3) frac *= 10, fd++;
  }
  if (*p || !digits) return -1;
  *ms = whole * 1000 + frac;
  return 0;
}

/* One --limit-* or --timeout option with its value; 1 if `a` is one, 0 if
 * not, -1 after printing what was wrong with the value. */
static int limit_option(const char *a, const char *v, const char *usage, tether__run_cli *o) {
  tether_resource_limits *l = &o->limits;
  uint64_t x = 0, lo, hi;
  const char *kind;
  int bad;
  if (!strcmp(a, "--limit-memory")) {
    bad = parse_size(v, &x), kind = "a size like 128M";
    lo = TETHER_RLIMIT_MEMORY_MIN, hi = TETHER_RLIMIT_MEMORY_MAX, l->memory_bytes = x;
  } else if (!strcmp(a, "--limit-fsize")) {
    bad = parse_size(v, &x), kind = "a size like 1M";
    lo = TETHER_RLIMIT_FILE_SIZE_MIN, hi = TETHER_RLIMIT_FILE_SIZE_MAX, l->file_size_bytes = x;
  } else if (!strcmp(a, "--limit-procs")) {
    bad = parse_size(v, &x) || strpbrk(v, "KkMmGg"), kind = "a count";
    lo = TETHER_RLIMIT_PROCESSES_MIN, hi = TETHER_RLIMIT_PROCESSES_MAX, l->processes = x;
  } else if (!strcmp(a, "--limit-files")) {
    bad = parse_size(v, &x) || strpbrk(v, "KkMmGg"), kind = "a count";
    lo = TETHER_RLIMIT_OPEN_FILES_MIN, hi = TETHER_RLIMIT_OPEN_FILES_MAX, l->open_files = x;
  } else if (!strcmp(a, "--limit-cpu")) {
    bad = parse_seconds(v, &x), kind = "seconds";
    lo = TETHER_RLIMIT_CPU_MS_MIN, hi = TETHER_RLIMIT_CPU_MS_MAX, l->cpu_ms = x;
  } else if (!strcmp(a, "--timeout")) {
    bad = parse_seconds(v, &x), kind = "seconds";
    lo = 1, hi = UINT32_MAX, o->timeout_ms = (uint32_t)(x > UINT32_MAX ? 0 : x);
  } else {
    return 0;
  }
  if (bad || x < lo || x > hi) {
    fprintf(stderr, "tether-run: bad %s \"%s\": want %s", a, v, kind);
    if (strcmp(a, "--limit-cpu") && strcmp(a, "--timeout"))
      fprintf(stderr, " from %" PRIu64 " to %" PRIu64 "\n%s", lo, hi, usage);
    else
      fprintf(stderr, " from %" PRIu64 ".%03u to %" PRIu64 "\n%s", lo / 1000,
              (unsigned)(lo % 1000), hi / 1000, usage);
    return -1;
  }
  return 1;
}

int tether__run_cli_parse(int argc, char **argv, const char *usage, int with_pty,
                          tether__run_cli *o) {
  memset(o, 0, sizeof *o);
  o->env = calloc((size_t)argc + 2, sizeof *o->env);
  if (!o->env) {
    fprintf(stderr, "tether-run: out of memory\n");
    return -1;
  }
  int i;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has_value = i + 1 < argc;
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (a[0] != '-') break;
    if (strcmp(a, "--cwd") == 0 && has_value) o->cwd = argv[++i];
    else if (strcmp(a, "--env") == 0 && has_value && argv[i + 1][0]) o->env[o->nenv++] = argv[++i];
    else if (strcmp(a, "--clear-env") == 0) o->clear_env = 1;
    else if (strcmp(a, "--runner") == 0 && has_value) o->runner_cmd = argv[++i];
    else if (strcmp(a, "--merge-stderr") == 0) o->merge = 1;
    else if (strcmp(a, "--sandbox") == 0 && has_value) o->sandbox = argv[++i];
    else if (strcmp(a, "--no-network") == 0) o->no_network = 1;
    else if (with_pty && (strcmp(a, "-t") == 0 || strcmp(a, "--pty") == 0)) o->pty = 1;
    else if (with_pty && (strcmp(a, "-T") == 0 || strcmp(a, "--no-pty") == 0)) o->pty = 0;
    else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) o->verbose = 1;
    else if (has_value && (strncmp(a, "--limit-", 8) == 0 || strcmp(a, "--timeout") == 0)) {
      int took = limit_option(a, argv[i + 1], usage, o);
      if (took < 0) return -1;
      if (took == 0) {
        fprintf(stderr, "tether-run: bad option or missing value: %s\n%s", a, usage);
        return -1;
      }
      i++;
    }
    else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage, stdout);
      return 0;
    } else {
      fprintf(stderr, "tether-run: bad option or missing value: %s\n%s", a, usage);
      return -1;
    }
  }
  if (i >= argc) {
    fprintf(stderr, "tether-run: no program given\n%s", usage);
    return -1;
  }
  o->program = i;
  return 1;
}

int tether__run_spawn_failed_status(const tether_spawn_failure *f) {
  if (f->stage != TETHER_STAGE_EXEC) return TETHER__RUN_EXIT_FAILED;
  return f->error == TETHER_SPAWN_ERR_NOT_FOUND ? TETHER__RUN_EXIT_NOT_FOUND
                                                : TETHER__RUN_EXIT_CANNOT_EXEC;
}

int tether__run_signal_status(int sig) {
  return tether__signal_portable(sig) ? 128 + sig : TETHER__RUN_EXIT_UNKNOWN_SIGNAL;
}

void tether__run_printable(char *dst, size_t cap, const void *src, size_t len) {
  tether__escape(dst, cap, src, len, TETHER__ESC_KEEP_UTF8 | TETHER__ESC_KEEP_QUOTES);
}

tether_parent *tether__run_start(tether_parent_options *po, int verbose) {
  char errbuf[1024] = "";
  po->error_buf = errbuf;
  po->error_buf_len = sizeof errbuf;
  tether_parent *p = NULL;
  int rc = tether_parent_start(po, &p);
  po->error_buf = NULL;
  po->error_buf_len = 0;
  if (rc < 0) {
    fprintf(stderr, "tether-run: cannot start the runner: %s\n",
            errbuf[0] ? errbuf : tether_strerror(rc));
    return NULL;
  }
  if (verbose) {
    tether_runner_info info;
    tether_parent_runner_info(p, &info);
    fprintf(stderr, "tether-run: runner %s %s, pid %lld, protocol %u\n", info.implementation,
            info.implementation_version, (long long)info.pid, info.version);
  }
  return p;
}

/* "128 MiB", "1 GiB", "1500 bytes": the largest unit that divides it. */
static void say_size(char *buf, size_t len, uint64_t v) {
  static const char *const unit[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
  int u = 0;
  while (u < 4 && v >= 1024 && v % 1024 == 0) v /= 1024, u++;
  snprintf(buf, len, "%" PRIu64 " %s", v, unit[u]);
}

/* " 1.500 s" for milliseconds; "" for 0 (a limit we did not ask for). */
static void say_ms(char *buf, size_t len, uint64_t ms) {
  if (ms) snprintf(buf, len, " %" PRIu64 ".%03u s", ms / 1000, (unsigned)(ms % 1000));
  else buf[0] = '\0';
}

void tether__run_say_limit(const tether_exit_status *st, const tether__run_cli *o) {
  const tether_resource_limits *l = &o->limits;
  char what[96] = "";
  if (o->verbose && (st->tree_peak_memory_bytes || st->tree_cpu_us)) {
    char peak[48] = "not measured";
    if (st->tree_peak_memory_bytes) say_size(peak, sizeof peak, st->tree_peak_memory_bytes);
    fprintf(stderr, "tether-run: the whole tree used CPU %" PRIu64 ".%03u s, peak memory %s\n",
            st->tree_cpu_us / 1000000, (unsigned)(st->tree_cpu_us / 1000 % 1000), peak);
  }
  switch (st->limit) {
  case TETHER_LIMIT_NONE: return;
  case TETHER_LIMIT_MEMORY:
    if (l->memory_bytes) what[0] = ' ', say_size(what + 1, sizeof what - 1, l->memory_bytes);
    fprintf(stderr, "tether-run: killed: memory limit%s reached\n", what);
    return;
  case TETHER_LIMIT_PROCESSES:
    if (l->processes) snprintf(what, sizeof what, " %" PRIu64, l->processes);
    fprintf(stderr, "tether-run: killed: process limit%s reached\n", what);
    return;
  case TETHER_LIMIT_CPU:
    say_ms(what, sizeof what, l->cpu_ms);
    fprintf(stderr, "tether-run: killed: CPU time limit%s reached\n", what);
    return;
  case TETHER_LIMIT_FILE_SIZE:
    if (l->file_size_bytes) what[0] = ' ', say_size(what + 1, sizeof what - 1, l->file_size_bytes);
    fprintf(stderr, "tether-run: killed: file size limit%s reached\n", what);
    return;
  case TETHER_LIMIT_WALL_TIMEOUT:
    say_ms(what, sizeof what, o->timeout_ms);
    fprintf(stderr, "tether-run: killed: timeout%s reached\n", what);
    return;
  default:
    fprintf(stderr, "tether-run: killed: a limit the runner calls %" PRIu32 " was reached\n",
            st->limit);
  }
}
