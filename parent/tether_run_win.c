/* tether-run.exe: run one command through a tether runner, as if run
 * directly (Windows). The same command line as tether_run.c:
 *
 *   tether-run [--cwd DIR] [--env K=V]... [--clear-env] [--runner CMD]
 *              [--merge-stderr] [--sandbox MODE] [--no-network] [-v]
 *              -- PROGRAM ARGS...
 *
 * Copies the program's stdout/stderr to its own as they arrive, forwards
 * its stdin (a reader thread: console and pipe handles have no readiness
 * to wait on), forwards Ctrl+C / Ctrl+Break to the program as Signal INT
 * (best effort: the runner turns it into CTRL_BREAK for the program's
 * console process group), and exits with the program's exit code, all 32
 * bits of it; 127 when it was not found, 126 when it could not be
 * executed, 125 when tether-run or the runner failed.
 *
 * Runner: `--runner CMD` splits CMD like a command line (CommandLineToArgvW)
 * and runs it with its stdin/stdout as the channel (`tether-runner
 * --stdio`). Default: the tether-runner.exe next to this executable, else
 * the one Windows finds, over a named pipe (`--pipe NAME`). The platform
 * parts differ enough from tether_run.c (signals, poll, /proc) to be a
 * file of their own; the behaviour is the same. */
#ifndef WIN32_LEAN_AND_MEAN
#  define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <shellapi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tether/parent.h"
#include "run_cli.h"
#include "sandbox/profile.h"

#define EXIT_FAILED TETHER__RUN_EXIT_FAILED
#define STDIN_QUEUE_LOW (256u << 10)
#define STDIN_CHUNK (64u << 10)

static const char usage[] =
    "usage: tether-run [--cwd DIR] [--env K=V]... [--clear-env] [--runner CMD]\n"
    "                  [--merge-stderr] [--sandbox MODE] [--no-network] [-v]\n"
    "                  -- PROGRAM ARGS...\n"
    "\n"
    "Runs PROGRAM through a tether runner and behaves like it: same output,\n"
    "same input, same exit code (127 not found; 126 not executable; 125 if\n"
    "tether-run or the runner failed).\n"
    "\n"
    "  --cwd DIR        run the program in DIR\n"
    "  --env K=V        set a variable (K alone removes it); repeatable\n"
    "  --clear-env      start from an empty environment\n"
    "  --runner CMD     start the runner with the command line CMD; its\n"
    "                   stdin/stdout are the channel ('tether-runner --stdio')\n"
    "  --merge-stderr   send the program's stderr to stdout\n"
    "  --sandbox MODE   permission profile (docs/SANDBOX.md); Windows runners\n"
    "                   refuse profiles they cannot enforce\n"
    "  --no-network     deny the program the network\n"
    TETHER__RUN_LIMITS_USAGE
    "  -v               report the runner and the program's life on stderr\n";

typedef struct run {
  tether_parent *p;
  tether_session *s;
  char prog[512];     /* argv[0], printable (escaped) for our messages */
  int verbose;
  int out_broken, err_broken;
  unsigned long exit_code;
  int decided;
  const tether__run_cli *cli;
} run;

static void decide(run *r, unsigned long code) {
  if (r->decided) return;
  r->decided = 1;
  r->exit_code = code;
}

static int write_full(HANDLE h, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    DWORD n = 0, want = len > (1u << 20) ? (1u << 20) : (DWORD)len;
    if (!WriteFile(h, p, want, &n, NULL) || n == 0) return -1;
    p += n;
    len -= n;
  }
  return 0;
}

/* ------------------------------------------------------------ callbacks */

static void cb_spawned(tether_session *s, uint64_t pid, void *ud) {
  run *r = ud;
  (void)s;
  if (r->verbose)
    fprintf(stderr, "tether-run: started \"%s\" as pid %llu\n", r->prog, (unsigned long long)pid);
}

static void cb_spawn_failed(tether_session *s, const tether_spawn_failure *f, void *ud) {
  run *r = ud;
  (void)s;
  if (f->message_len > 0) {
    /* The runner's text: escaped, never raw bytes on the user's console. */
    char text[TETHER_MESSAGE_MAX_BYTES * 4 + 1];
    tether__run_printable(text, sizeof text, f->message, f->message_len);
    fprintf(stderr, "tether-run: %s\n", text);
  } else
    fprintf(stderr, "tether-run: cannot run \"%s\" (stage %d, error %d, %s error %lld)\n",
            r->prog, f->stage, f->error,
            f->os_error_space == TETHER_OS_ERR_WIN32 ? "Win32" : "OS",
            (long long)f->os_error);
  decide(r, (unsigned long)tether__run_spawn_failed_status(f));
}

static void cb_output(tether_session *s, int stream, const void *data, size_t len, void *ud) {
  run *r = ud;
  (void)s;
  int err = stream == TETHER_STREAM_STDERR;
  int *broken = err ? &r->err_broken : &r->out_broken;
  if (*broken) return;
  if (!err) fflush(stdout);
  if (write_full(GetStdHandle(err ? STD_ERROR_HANDLE : STD_OUTPUT_HANDLE), data, len) < 0)
    *broken = 1; /* no SIGPIPE on Windows: the program's writes would fail; drop */
}

static void cb_exit(tether_session *s, const tether_exit_status *st, void *ud) {
  run *r = ud;
  (void)s;
  tether__run_say_limit(st, r->cli);
  if (r->verbose)
    fprintf(stderr, "tether-run: \"%s\" exited with status %lu (0x%08lx)%s\n", r->prog,
            (unsigned long)st->code, (unsigned long)st->code, st->timed_out ? " (timed out)" : "");
  decide(r, st->signaled ? EXIT_FAILED : st->code);
}

static void cb_error(tether_parent *p, tether_session *s, int code, const char *msg, void *ud) {
  run *r = ud;
  (void)p;
  (void)code;
  if (r->decided) return;
  fprintf(stderr, "tether-run: %s\n", msg);
  if (s && !tether_session_done(s)) {
    fprintf(stderr, "tether-run: stopping \"%s\"\n", r->prog);
    tether_session_terminate(s, 0);
  }
  decide(r, EXIT_FAILED);
}

/* ------------------------------------------------------------ stdin, ^C */

static HANDLE ctrl_ev;
static volatile LONG ctrl_count;

static BOOL WINAPI on_ctrl(DWORD type) {
  if (type != CTRL_C_EVENT && type != CTRL_BREAK_EVENT) return FALSE;
  InterlockedIncrement(&ctrl_count);
  SetEvent(ctrl_ev);
  return TRUE;
}

typedef struct stdin_reader {
  HANDLE h;
  HANDLE have;       /* auto-reset: a chunk (or the end) is ready */
  HANDLE taken;      /* auto-reset: the main thread took it */
  char buf[STDIN_CHUNK];
  DWORD len;
  int eof;
} stdin_reader;

static DWORD WINAPI stdin_main(LPVOID arg) {
  stdin_reader *sr = arg;
  for (;;) {
    DWORD n = 0;
    BOOL ok = ReadFile(sr->h, sr->buf, STDIN_CHUNK, &n, NULL);
    sr->len = ok ? n : 0;
    sr->eof = !ok || n == 0;
    SetEvent(sr->have);
    if (sr->eof) return 0;
    WaitForSingleObject(sr->taken, INFINITE);
  }
}

/* The null device (or no stdin at all): the program gets NUL too. */
static int stdin_is_null(HANDLE h) {
  if (!h || h == INVALID_HANDLE_VALUE) return 1;
  DWORD mode;
  return GetFileType(h) == FILE_TYPE_CHAR && !GetConsoleMode(h, &mode);
}

/* The tether-runner.exe next to this executable, if there is one. */
static char *sibling_runner(void) {
  wchar_t self[MAX_PATH * 4];
  DWORD n = GetModuleFileNameW(NULL, self, MAX_PATH * 4);
  if (n == 0 || n >= MAX_PATH * 4 - 20) return NULL;
  wchar_t *slash = wcsrchr(self, L'\\');
  if (!slash) return NULL;
  wcscpy(slash + 1, L"tether-runner.exe");
  DWORD a = GetFileAttributesW(self);
  if (a == INVALID_FILE_ATTRIBUTES || (a & FILE_ATTRIBUTE_DIRECTORY)) return NULL;
  int k = WideCharToMultiByte(CP_UTF8, 0, self, -1, NULL, 0, NULL, NULL);
  char *s = k > 0 ? malloc((size_t)k) : NULL;
  if (s) WideCharToMultiByte(CP_UTF8, 0, self, -1, s, k, NULL, NULL);
  return s;
}

/* argv as UTF-8, from the UTF-16 command line (the ANSI argv loses
 * characters outside the code page). */
static char **utf8_argv(int *argc) {
  wchar_t **w = CommandLineToArgvW(GetCommandLineW(), argc);
  if (!w) return NULL;
  char **a = calloc((size_t)*argc + 1, sizeof *a);
  for (int i = 0; a && i < *argc; i++) {
    int k = WideCharToMultiByte(CP_UTF8, 0, w[i], -1, NULL, 0, NULL, NULL);
    a[i] = k > 0 ? malloc((size_t)k) : NULL;
    if (!a[i]) return NULL;
    WideCharToMultiByte(CP_UTF8, 0, w[i], -1, a[i], k, NULL, NULL);
  }
  LocalFree(w);
  return a;
}

static int loop(run *r, stdin_reader *sr) {
  int stdin_open = sr != NULL, waiting_taken = 0;
  while (!tether_session_done(r->s)) {
    HANDLE hs[4];
    DWORD n = 0;
    HANDLE fd = tether_parent_fd(r->p);
    if (!fd) break;
    hs[n++] = fd;
    if (tether_parent_wants_write(r->p)) {
      HANDLE w = tether_parent_write_fd(r->p);
      if (w && w != fd) hs[n++] = w;
    }
    hs[n++] = ctrl_ev;
    DWORD iin = MAXDWORD;
    if (stdin_open && !r->decided && tether_session_stdin_queued(r->s) < STDIN_QUEUE_LOW) {
      iin = n;
      hs[n++] = sr->have;
    }
    DWORD w = WaitForMultipleObjects(n, hs, FALSE, INFINITE);
    if (w == WAIT_FAILED) break;
    if (w == WAIT_OBJECT_0 + iin) {
      if (sr->eof) {
        tether_session_close_stdin(r->s);
        stdin_open = 0;
      } else {
        int rc = tether_session_write(r->s, sr->buf, sr->len);
        if (rc < 0 && rc != TETHER_ESTATE)
          fprintf(stderr, "tether-run: cannot forward input: %s\n", tether_strerror(rc));
        if (rc == TETHER_ESTATE) stdin_open = 0;
        else SetEvent(sr->taken);
      }
      (void)waiting_taken;
    }
    if (InterlockedExchange(&ctrl_count, 0) > 0 && !tether_session_done(r->s)) {
      if (r->verbose) fprintf(stderr, "tether-run: forwarding Ctrl+C\n");
      tether_session_signal(r->s, TETHER_SIG_INT, 1);
    }
    if (tether_parent_process(r->p) == TETHER_ECLOSED) break;
  }
  return 0;
}

int main(void) {
  int argc = 0;
  char **argv = utf8_argv(&argc);
  if (!argv) return EXIT_FAILED;
  SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX | SEM_NOOPENFILEERRORBOX);
  tether__run_cli o;
  int parsed = tether__run_cli_parse(argc, argv, usage, 0, &o);
  if (parsed <= 0) {
    free(o.env);
    return parsed == 0 ? 0 : EXIT_FAILED;
  }
  int i = o.program;
  ctrl_ev = CreateEventW(NULL, FALSE, FALSE, NULL);
  if (!ctrl_ev) return EXIT_FAILED;
  SetConsoleCtrlHandler(on_ctrl, TRUE);

  run r;
  memset(&r, 0, sizeof r);
  tether__run_printable(r.prog, sizeof r.prog, argv[i], strlen(argv[i]));
  r.verbose = o.verbose;

  tether_parent_options po;
  tether_parent_options_init(&po);
  char **rargv = NULL;
  const char *def_argv[2] = { NULL, NULL };
  if (o.runner_cmd) {
    int wn = MultiByteToWideChar(CP_UTF8, 0, o.runner_cmd, -1, NULL, 0);
    wchar_t *w = wn > 0 ? malloc((size_t)wn * sizeof *w) : NULL;
    int rc_argc = 0;
    wchar_t **wa = NULL;
    if (w) {
      MultiByteToWideChar(CP_UTF8, 0, o.runner_cmd, -1, w, wn);
      wa = CommandLineToArgvW(w, &rc_argc);
    }
    free(w);
    if (!wa || rc_argc < 1) {
      fprintf(stderr, "tether-run: bad --runner command line\n");
      return EXIT_FAILED;
    }
    rargv = calloc((size_t)rc_argc + 1, sizeof *rargv);
    for (int k = 0; rargv && k < rc_argc; k++) {
      int n = WideCharToMultiByte(CP_UTF8, 0, wa[k], -1, NULL, 0, NULL, NULL);
      rargv[k] = malloc((size_t)(n > 0 ? n : 1));
      if (rargv[k]) WideCharToMultiByte(CP_UTF8, 0, wa[k], -1, rargv[k], n, NULL, NULL);
    }
    LocalFree(wa);
    po.runner_argv = (const char *const *)rargv;
    po.runner_channel = TETHER_RUNNER_CHANNEL_STDIO;
  } else {
    char *sib = sibling_runner();
    def_argv[0] = sib ? sib : "tether-runner";
    po.runner_argv = def_argv;
  }
  po.callbacks.on_spawned = cb_spawned;
  po.callbacks.on_spawn_failed = cb_spawn_failed;
  po.callbacks.on_output = cb_output;
  po.callbacks.on_exit = cb_exit;
  po.callbacks.on_error = cb_error;
  po.userdata = &r;
  r.p = tether__run_start(&po, o.verbose);
  if (!r.p) return EXIT_FAILED;

  HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
  int null_stdin = stdin_is_null(in);
  tether_spawn_options so;
  tether_spawn_options_init(&so);
  so.argv = (const char *const *)(argv + i);
  so.env = o.nenv ? o.env : NULL;
  so.clear_env = o.clear_env;
  so.cwd = o.cwd;
  so.merge_stderr = o.merge;
  so.stdin_mode = null_stdin ? TETHER_STDIN_MODE_NULL : TETHER_STDIN_MODE_PIPE;
  so.userdata = &r;
  so.limits = o.limits;
  so.timeout_ms = o.timeout_ms;
  r.cli = &o;
  static const char *const git_ro[] = { ".git", NULL };
  char **roots = NULL;
  char here[MAX_PATH * 4];
  tether_permission_profile prof;
  memset(&prof, 0, sizeof prof);
  if (o.sandbox || o.no_network) {
    if (o.sandbox && tether__sandbox_parse_spec(o.sandbox, &prof.filesystem, &roots) < 0) {
      fprintf(stderr, "tether-run: bad --sandbox \"%s\": use read-only or "
                      "workspace-write[:ROOT,...]\n", o.sandbox);
      tether_parent_free(r.p);
      return EXIT_FAILED;
    }
    prof.writable_roots = (const char *const *)roots;
    if (prof.filesystem == TETHER_FS_WORKSPACE_WRITE) prof.read_only_subpaths = git_ro;
    prof.network = o.no_network ? TETHER_NET_DENIED : 0;
    wchar_t wh[MAX_PATH * 4];
    DWORD n = GetCurrentDirectoryW(MAX_PATH * 4, wh);
    if (n > 0 && n < MAX_PATH * 4 &&
        WideCharToMultiByte(CP_UTF8, 0, wh, -1, here, sizeof here, NULL, NULL) > 0)
      prof.cwd = here;
    so.permission_profile = &prof;
  }
  int rc = tether_session_spawn(r.p, &so, &r.s);
  tether__sandbox_free_strv(roots);
  free(o.env);
  if (rc < 0) {
    fprintf(stderr, "tether-run: cannot ask the runner to start \"%s\": %s\n", r.prog,
            tether_strerror(rc));
    tether_parent_free(r.p);
    return EXIT_FAILED;
  }

  stdin_reader *sr = NULL;
  if (!null_stdin) {
    sr = calloc(1, sizeof *sr);
    if (sr) {
      sr->h = in;
      sr->have = CreateEventW(NULL, FALSE, FALSE, NULL);
      sr->taken = CreateEventW(NULL, FALSE, FALSE, NULL);
      HANDLE th = sr->have && sr->taken ? CreateThread(NULL, 0, stdin_main, sr, 0, NULL) : NULL;
      if (th) CloseHandle(th);
      else sr = NULL; /* no input then: close it at once */
    }
    if (!sr) tether_session_close_stdin(r.s);
  }
  loop(&r, sr);
  if (!r.decided) {
    fprintf(stderr, "tether-run: the runner went away before \"%s\" ended\n", r.prog);
    decide(&r, EXIT_FAILED);
  }
  tether_session_free(r.s);
  tether_parent_free(r.p);
  fflush(stdout);
  fflush(stderr);
  /* A reader thread may still block in ReadFile: ExitProcess ends it. */
  ExitProcess((UINT)r.exit_code);
}
