/* The tether-run command line, for both front ends (run_cli.h). */
#include "run_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/escape.h"

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
  switch (sig) {
    case TETHER_SIG_HUP: case TETHER_SIG_INT: case TETHER_SIG_QUIT:
    case TETHER_SIG_ILL: case TETHER_SIG_TRAP: case TETHER_SIG_ABRT:
    case TETHER_SIG_BUS: case TETHER_SIG_FPE: case TETHER_SIG_KILL:
    case TETHER_SIG_USR1: case TETHER_SIG_SEGV: case TETHER_SIG_USR2:
    case TETHER_SIG_PIPE: case TETHER_SIG_ALRM: case TETHER_SIG_TERM:
    case TETHER_SIG_CONT: case TETHER_SIG_STOP: case TETHER_SIG_TSTP:
    case TETHER_SIG_WINCH:
      return 128 + sig;
    default:
      return TETHER__RUN_EXIT_UNKNOWN_SIGNAL;
  }
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
