/* Spawning a session's child on Windows: the request's bytes become a
 * UTF-16 command line (MSVCRT quoting) and environment block, the program
 * is found on PATH, the stdio pipes (or the pseudoconsole) are created,
 * and the child is created suspended with STARTUPINFOEXW, exactly its
 * stdio handles inheritable (PROC_THREAD_ATTRIBUTE_HANDLE_LIST), put into
 * a kill-on-close job, then resumed. See proc_win.h. */
#ifndef WIN32_LEAN_AND_MEAN
#  define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <bcrypt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "conpty/pty_win.h"
#include "transport/cmdline_win.h"
#include "runner_internal.h"
#include "transport/escape.h"

#define CMDLINE_MAX 32767 /* CreateProcessW's limit, in UTF-16 units with the NUL */
#define PIPE_BUF_SIZE (64u << 10)

uint32_t tether__spawn_error_from_win32(unsigned long err) {
  switch (err) {
  case ERROR_FILE_NOT_FOUND:
  case ERROR_PATH_NOT_FOUND:
  case ERROR_INVALID_DRIVE:
  case ERROR_BAD_NETPATH:
  case ERROR_MOD_NOT_FOUND:
    return TETHER_SPAWN_ERR_NOT_FOUND;
  case ERROR_ACCESS_DENIED:
  case ERROR_SHARING_VIOLATION:
  case 740: /* ERROR_ELEVATION_REQUIRED */
    return TETHER_SPAWN_ERR_PERMISSION_DENIED;
  case ERROR_BAD_EXE_FORMAT:
  case ERROR_EXE_MACHINE_TYPE_MISMATCH:
  case ERROR_EXE_MARKED_INVALID:
  case ERROR_BAD_FORMAT:
  case ERROR_INVALID_EXE_SIGNATURE:
    return TETHER_SPAWN_ERR_NOT_EXECUTABLE;
  case ERROR_DIRECTORY:
    return TETHER_SPAWN_ERR_NOT_A_DIRECTORY;
  case ERROR_NOT_ENOUGH_MEMORY:
  case ERROR_OUTOFMEMORY:
  case ERROR_NO_SYSTEM_RESOURCES:
  case ERROR_TOO_MANY_OPEN_FILES:
  case ERROR_COMMITMENT_LIMIT:
    return TETHER_SPAWN_ERR_NO_RESOURCES;
  case ERROR_FILENAME_EXCED_RANGE:
    return TETHER_SPAWN_ERR_LIMIT;
  case ERROR_NOT_SUPPORTED:
  case ERROR_CALL_NOT_IMPLEMENTED:
    return TETHER_SPAWN_ERR_UNSUPPORTED;
  default:
    return TETHER_SPAWN_ERR_OTHER;
  }
}

/* ------------------------------------------------------------ failures */

static void sys_message(DWORD err, char *buf, size_t len) {
  wchar_t w[256];
  DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, err,
                           0, w, 256, NULL);
  while (n > 0 && (w[n - 1] == L'\r' || w[n - 1] == L'\n' || w[n - 1] == L' ' || w[n - 1] == L'.'))
    n--;
  w[n] = 0;
  char u[512];
  if (n == 0 || !WideCharToMultiByte(CP_UTF8, 0, w, -1, u, sizeof u, NULL, NULL))
    snprintf(u, sizeof u, "Win32 error");
  /* Printable ASCII only (the message goes on the wire as such). */
  tether__escape(buf, len, (const uint8_t *)u, strlen(u), 0);
}

/* Fills the failure; `what` names the step and may hold one %s for `arg`
 * (escaped). The Win32 error, when not 0, is appended with its text. */
static int fail(tether__spawn_out *out, uint32_t stage, uint32_t error, DWORD os_error,
                const char *what, const char *arg) {
  char esc[256], head[400], sys[256];
  tether__escape(esc, sizeof esc, (const uint8_t *)(arg ? arg : ""),
                        arg ? strlen(arg) : 0, 0);
  snprintf(head, sizeof head, what, esc);
  out->stage = stage;
  out->error = error;
  out->os_error = (int)os_error;
  if (os_error) {
    sys_message(os_error, sys, sizeof sys);
    snprintf(out->message, sizeof out->message, "%s: %s (Win32 error %lu)", head, sys,
             (unsigned long)os_error);
  } else {
    snprintf(out->message, sizeof out->message, "%s", head);
  }
  return -1;
}

static int fail_win(tether__spawn_out *out, uint32_t stage, DWORD err, const char *what,
                    const char *arg) {
  return fail(out, stage, tether__spawn_error_from_win32(err), err, what, arg);
}

/* ------------------------------------------------------------ strings */

/* UTF-8 bytes -> a malloc'd NUL-terminated UTF-16 string. NULL with *bad
 * set for an embedded NUL or invalid UTF-8, NULL with *bad clear when out
 * of memory. */
static wchar_t *wide(tether_bytes b, int *bad) {
  *bad = 0;
  if (b.len > 0x7fffffff || memchr(b.data, '\0', b.len)) {
    *bad = 1;
    return NULL;
  }
  int n = b.len ? MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, (const char *)b.data,
                                      (int)b.len, NULL, 0)
                : 0;
  if (b.len && n <= 0) {
    *bad = 1;
    return NULL;
  }
  wchar_t *w = malloc(((size_t)n + 1) * sizeof *w);
  if (!w) return NULL;
  if (n) MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, (const char *)b.data, (int)b.len, w, n);
  w[n] = 0;
  return w;
}

/* ------------------------------------------------------------ plan */

typedef struct plan {
  wchar_t **argv;
  size_t argc;
  wchar_t *cmdline;
  wchar_t *cwd;        /* NULL: the runner's */
  wchar_t *env;        /* the block: NAME=VALUE\0...\0 */
  wchar_t *program;    /* the resolved executable */
} plan;

static void plan_free(plan *p) {
  if (p->argv)
    for (size_t i = 0; i < p->argc; i++) free(p->argv[i]);
  free(p->argv);
  free(p->cmdline);
  free(p->cwd);
  free(p->env);
  free(p->program);
}

/* Length of an environment entry's name: up to the first '=' after the
 * first character (Windows' hidden "=C:=C:\dir" entries start with '='). */
static size_t name_len(const wchar_t *e) {
  const wchar_t *eq = e[0] ? wcschr(e + 1, L'=') : NULL;
  return eq ? (size_t)(eq - e) : wcslen(e);
}

static bool same_name(const wchar_t *a, size_t al, const wchar_t *b, size_t bl) {
  return al == bl && CompareStringOrdinal(a, (int)al, b, (int)bl, TRUE) == CSTR_EQUAL;
}

typedef struct envlist {
  wchar_t **items; /* owned */
  size_t n, cap;
} envlist;

static bool env_push(envlist *l, wchar_t *e) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    wchar_t **ni = realloc(l->items, cap * sizeof *ni);
    if (!ni) return false;
    l->items = ni;
    l->cap = cap;
  }
  l->items[l->n++] = e;
  return true;
}

static void env_remove(envlist *l, const wchar_t *name, size_t nl) {
  size_t w = 0;
  for (size_t i = 0; i < l->n; i++) {
    if (same_name(l->items[i], name_len(l->items[i]), name, nl)) free(l->items[i]);
    else l->items[w++] = l->items[i];
  }
  l->n = w;
}

static int cmp_env(const void *a, const void *b) {
  const wchar_t *x = *(wchar_t *const *)a, *y = *(wchar_t *const *)b;
  int r = CompareStringOrdinal(x, (int)name_len(x), y, (int)name_len(y), TRUE);
  return r == CSTR_LESS_THAN ? -1 : r == CSTR_GREATER_THAN ? 1 : 0;
}

/* OVERLAY starts from the runner's environment, CLEAR from nothing; "K=V"
 * sets K (names compare case-insensitively, as Windows does), "K" alone
 * removes it. The block is sorted by name, as Windows expects. */
static int plan_env(plan *p, const tether_msg_spawn *req, tether__spawn_out *out) {
  envlist l = { NULL, 0, 0 };
  int rc = -1;
  if (req->env_mode != TETHER_ENV_CLEAR) {
    wchar_t *base = GetEnvironmentStringsW();
    if (base) {
      for (const wchar_t *e = base; *e; e += wcslen(e) + 1) {
        wchar_t *c = _wcsdup(e);
        if (!c || !env_push(&l, c)) {
          free(c);
          FreeEnvironmentStringsW(base);
          goto nomem;
        }
      }
      FreeEnvironmentStringsW(base);
    }
  }
  for (size_t i = 0; i < req->env.count; i++) {
    int bad;
    wchar_t *e = wide(req->env.items[i], &bad);
    if (!e) {
      if (bad) {
        fail(out, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0,
             "env entry %s contains a NUL byte or is not UTF-8", "");
        goto done;
      }
      goto nomem;
    }
    size_t nl = wcschr(e, L'=') ? (size_t)(wcschr(e, L'=') - e) : wcslen(e);
    if (nl == 0) {
      free(e);
      fail(out, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0,
           "env entry %s has an empty name", "");
      goto done;
    }
    env_remove(&l, e, nl);
    if (e[nl] == L'=') {
      if (!env_push(&l, e)) {
        free(e);
        goto nomem;
      }
    } else {
      free(e);
    }
  }
  qsort(l.items, l.n, sizeof *l.items, cmp_env);
  size_t total = 2;
  for (size_t i = 0; i < l.n; i++) total += wcslen(l.items[i]) + 1;
  p->env = malloc(total * sizeof *p->env);
  if (!p->env) goto nomem;
  size_t k = 0;
  for (size_t i = 0; i < l.n; i++) {
    size_t n = wcslen(l.items[i]) + 1;
    memcpy(p->env + k, l.items[i], n * sizeof *p->env);
    k += n;
  }
  p->env[k++] = 0;
  if (l.n == 0) p->env[k++] = 0; /* an empty block is two NULs */
  rc = 0;
  goto done;
nomem:
  fail_win(out, TETHER_STAGE_SETUP, ERROR_NOT_ENOUGH_MEMORY, "environment%s", "");
done:
  for (size_t i = 0; i < l.n; i++) free(l.items[i]);
  free(l.items);
  return rc;
}

/* PATH as the child will see it. */
static const wchar_t *child_path(const plan *p) {
  for (const wchar_t *e = p->env; *e; e += wcslen(e) + 1)
    if (same_name(e, name_len(e), L"PATH", 4) && e[4] == L'=') return e + 5;
  return NULL;
}

static bool is_file(const wchar_t *path) {
  DWORD a = GetFileAttributesW(path);
  return a != INVALID_FILE_ATTRIBUTES && !(a & FILE_ATTRIBUTE_DIRECTORY);
}

/* argv[0] with a path separator or drive is used as is (relative to
 * Spawn.cwd when one is given, like exec after chdir), trying NAME.exe
 * when NAME does not exist; otherwise it is searched for on the child's
 * PATH (the runner's when the child's environment has none), with .exe
 * appended when it has no extension. Not found: NOT_FOUND with
 * ERROR_FILE_NOT_FOUND. */
static int plan_program(plan *p, tether__spawn_out *out, const char *arg0) {
  const wchar_t *a0 = p->argv[0];
  wchar_t buf[MAX_PATH * 4];
  bool has_sep = wcspbrk(a0, L"\\/:") != NULL;
  if (has_sep) {
    bool absolute = a0[0] == L'\\' || a0[0] == L'/' || (a0[0] && a0[1] == L':');
    wchar_t joined[MAX_PATH * 4];
    const wchar_t *name = a0;
    if (!absolute && p->cwd) {
      if (_snwprintf(joined, MAX_PATH * 4, L"%ls\\%ls", p->cwd, a0) >= MAX_PATH * 4)
        return fail_win(out, TETHER_STAGE_EXEC, ERROR_FILENAME_EXCED_RANGE,
                        "program \"%s\"", arg0);
      joined[MAX_PATH * 4 - 1] = 0;
      name = joined;
    }
    DWORD n = GetFullPathNameW(name, MAX_PATH * 4, buf, NULL);
    if (n == 0 || n >= MAX_PATH * 4)
      return fail_win(out, TETHER_STAGE_EXEC, n ? ERROR_FILENAME_EXCED_RANGE : GetLastError(),
                      "program \"%s\"", arg0);
    if (!is_file(buf) && n + 4 < MAX_PATH * 4) {
      wcscat(buf, L".exe");
      if (!is_file(buf))
        return fail_win(out, TETHER_STAGE_EXEC, ERROR_FILE_NOT_FOUND, "program \"%s\"", arg0);
    }
  } else {
    const wchar_t *path = child_path(p);
    wchar_t *own = NULL;
    if (!path) {
      DWORD n = GetEnvironmentVariableW(L"PATH", NULL, 0);
      if (n) {
        own = malloc(n * sizeof *own);
        if (own && GetEnvironmentVariableW(L"PATH", own, n) < n) path = own;
      }
    }
    DWORD n = path && path[0] ? SearchPathW(path, a0, L".exe", MAX_PATH * 4, buf, NULL) : 0;
    DWORD err = GetLastError();
    free(own);
    if (n == 0 || n >= MAX_PATH * 4 || !is_file(buf))
      return fail_win(out, TETHER_STAGE_EXEC,
                      n >= MAX_PATH * 4 ? ERROR_FILENAME_EXCED_RANGE
                      : err == ERROR_PATH_NOT_FOUND || n ? ERROR_FILE_NOT_FOUND
                      : err ? err : ERROR_FILE_NOT_FOUND,
                      "program \"%s\" not found on PATH", arg0);
  }
  p->program = _wcsdup(buf);
  if (!p->program) return fail_win(out, TETHER_STAGE_SETUP, ERROR_NOT_ENOUGH_MEMORY, "program%s", "");
  return 0;
}

static int plan_build(plan *p, const tether_msg_spawn *req, tether__spawn_out *out,
                      char *arg0, size_t arg0_len) {
  if (req->argv.count == 0)
    return fail(out, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0, "argv is empty%s", "");
  if (req->argv.items[0].len == 0)
    return fail(out, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0, "argv[0] is empty%s", "");
  if (req->io_mode != 0 && req->io_mode != TETHER__IO_PIPES && req->io_mode != TETHER__IO_PTY)
    return fail(out, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0, "unknown io_mode%s", "");
  if (req->io_mode == TETHER__IO_PTY &&
      (req->pty_rows > TETHER__PTY_MAX_DIM || req->pty_cols > TETHER__PTY_MAX_DIM))
    return fail(out, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0,
                "pty_rows/pty_cols above 32767%s", "");
  if (req->stdin_mode > TETHER__STDIN_NULL)
    return fail(out, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0, "unknown stdin_mode%s", "");
  if (req->env_mode > TETHER_ENV_CLEAR)
    return fail(out, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0, "unknown env_mode%s", "");
  tether__escape(arg0, arg0_len, req->argv.items[0].data, req->argv.items[0].len, 0);

  p->argv = calloc(req->argv.count, sizeof *p->argv);
  if (!p->argv) return fail_win(out, TETHER_STAGE_SETUP, ERROR_NOT_ENOUGH_MEMORY, "argv%s", "");
  p->argc = req->argv.count;
  for (size_t i = 0; i < req->argv.count; i++) {
    int bad;
    p->argv[i] = wide(req->argv.items[i], &bad);
    if (!p->argv[i]) {
      if (bad)
        return fail(out, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0,
                    "argv entry %s contains a NUL byte or is not UTF-8", "");
      return fail_win(out, TETHER_STAGE_SETUP, ERROR_NOT_ENOUGH_MEMORY, "argv%s", "");
    }
  }
  p->cmdline = malloc(CMDLINE_MAX * sizeof *p->cmdline);
  if (!p->cmdline) return fail_win(out, TETHER_STAGE_SETUP, ERROR_NOT_ENOUGH_MEMORY, "argv%s", "");
  if (wcschr(p->argv[0], L'"'))
    return fail(out, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0,
                "argv[0] \"%s\" contains a quote, which Windows cannot pass", arg0);
  if (tether__win_quote_argv((const wchar_t *const *)p->argv, p->argc, p->cmdline,
                             CMDLINE_MAX) < 0)
    return fail(out, TETHER_STAGE_LIMITS, TETHER_SPAWN_ERR_LIMIT, 0,
                "the command line is longer than Windows allows (32767 UTF-16 units)%s", "");

  if (req->cwd.len) {
    int bad;
    p->cwd = wide(req->cwd, &bad);
    if (!p->cwd) {
      if (bad)
        return fail(out, TETHER_STAGE_REQUEST, TETHER_SPAWN_ERR_INVALID, 0,
                    "cwd %s contains a NUL byte or is not UTF-8", "");
      return fail_win(out, TETHER_STAGE_SETUP, ERROR_NOT_ENOUGH_MEMORY, "cwd%s", "");
    }
    char cwd_esc[256];
    tether__escape(cwd_esc, sizeof cwd_esc, req->cwd.data, req->cwd.len, 0);
    DWORD a = GetFileAttributesW(p->cwd);
    if (a == INVALID_FILE_ATTRIBUTES)
      return fail_win(out, TETHER_STAGE_CWD, GetLastError(), "cwd \"%s\"", cwd_esc);
    if (!(a & FILE_ATTRIBUTE_DIRECTORY))
      return fail_win(out, TETHER_STAGE_CWD, ERROR_DIRECTORY, "cwd \"%s\"", cwd_esc);
  }
  if (plan_env(p, req, out) < 0) return -1;
  return plan_program(p, out, arg0);
}

/* ------------------------------------------------------------ pipes */

/* A named pipe for one stdio stream: the runner's end (overlapped,
 * non-inheritable) and the child's end (synchronous, non-inheritable until
 * just before CreateProcess). `inbound`: the runner reads (stdout, stderr). */
static DWORD make_pipe(bool inbound, HANDLE *mine, HANDLE *child) {
  static volatile LONG counter;
  wchar_t name[128];
  uint32_t rnd[2] = { 0, 0 };
  if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, (PUCHAR)rnd, sizeof rnd,
                                      BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
    return ERROR_GEN_FAILURE;
  _snwprintf(name, 128, L"\\\\.\\pipe\\tether-r-%lu-%ld-%08x%08x",
             (unsigned long)GetCurrentProcessId(), (long)InterlockedIncrement(&counter),
             (unsigned)rnd[0], (unsigned)rnd[1]);
  name[127] = 0;
  HANDLE s = CreateNamedPipeW(name,
                              (inbound ? PIPE_ACCESS_INBOUND : PIPE_ACCESS_OUTBOUND) |
                                  FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
                              PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
                                  PIPE_REJECT_REMOTE_CLIENTS,
                              1, PIPE_BUF_SIZE, PIPE_BUF_SIZE, 0, NULL);
  if (s == INVALID_HANDLE_VALUE) return GetLastError();
  HANDLE c = CreateFileW(name,
                         inbound ? GENERIC_WRITE | FILE_READ_ATTRIBUTES
                                 : GENERIC_READ | FILE_WRITE_ATTRIBUTES,
                         0, NULL, OPEN_EXISTING, 0, NULL);
  if (c == INVALID_HANDLE_VALUE) {
    DWORD e = GetLastError();
    CloseHandle(s);
    return e;
  }
  /* The client is connected already: ConnectNamedPipe says so at once. */
  OVERLAPPED ov;
  memset(&ov, 0, sizeof ov);
  ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
  DWORD err = 0;
  if (!ov.hEvent) {
    err = GetLastError();
  } else if (!ConnectNamedPipe(s, &ov)) {
    err = GetLastError();
    if (err == ERROR_PIPE_CONNECTED) {
      err = 0;
    } else if (err == ERROR_IO_PENDING) { /* cannot happen; do not wait */
      CancelIoEx(s, &ov);
      DWORD n;
      GetOverlappedResult(s, &ov, &n, TRUE);
      err = ERROR_PIPE_NOT_CONNECTED;
    }
  }
  if (ov.hEvent) CloseHandle(ov.hEvent);
  if (err) {
    CloseHandle(c);
    CloseHandle(s);
    return err;
  }
  *mine = s;
  *child = c;
  return 0;
}

static void close_h(HANDLE *h) {
  if (*h && *h != INVALID_HANDLE_VALUE) CloseHandle(*h);
  *h = NULL;
}

/* ------------------------------------------------------------ spawn */

int tether__spawn_win(const tether_msg_spawn *req, const tether__sandbox_policy *sandbox,
                      tether__spawn_out *out) {
  plan p;
  memset(&p, 0, sizeof p);
  memset(out, 0, sizeof *out);
  char arg0[256] = "";
  HANDLE mine[3] = { NULL, NULL, NULL }, child[3] = { NULL, NULL, NULL };
  HANDLE job = NULL, nul = NULL;
  LPPROC_THREAD_ATTRIBUTE_LIST attrs = NULL;
  tether__pty *pty = NULL;
  bool use_pty = req->io_mode == TETHER__IO_PTY;
  PROCESS_INFORMATION pi;
  memset(&pi, 0, sizeof pi);
  int rc = -1;

  if (plan_build(&p, req, out, arg0, sizeof arg0) < 0) goto done;

  /* Permission profiles: decided as on POSIX; nothing is enforceable on
   * Windows (sandbox/enforce_none.c), so a restricting profile is refused
   * here. The errno it may carry is not a Win32 error: dropped. */
  tether__sandbox_plan *sb = NULL;
  tether__sandbox_failure sbf;
  if (tether__sandbox_decide(req, sandbox, &sb, &sbf) < 0) {
    out->stage = TETHER_STAGE_PERMISSIONS;
    out->error = sbf.error;
    out->os_error = 0;
    snprintf(out->message, sizeof out->message, "%s", sbf.message);
    goto done;
  }
  if (sb) { /* cannot happen with enforce_none.c: refuse rather than ignore */
    tether__sandbox_plan_free(sb);
    fail(out, TETHER_STAGE_PERMISSIONS, TETHER_SPAWN_ERR_UNSUPPORTED, 0,
         "permission profiles are not enforced on Windows%s", "");
    goto done;
  }

  SIZE_T attr_size = 0;
  InitializeProcThreadAttributeList(NULL, 1, 0, &attr_size);
  attrs = HeapAlloc(GetProcessHeap(), 0, attr_size);
  if (!attrs) {
    fail_win(out, TETHER_STAGE_SETUP, ERROR_NOT_ENOUGH_MEMORY, "attribute list%s", "");
    goto done;
  }
  if (!InitializeProcThreadAttributeList(attrs, 1, 0, &attr_size)) {
    DWORD err = GetLastError();
    HeapFree(GetProcessHeap(), 0, attrs);
    attrs = NULL;
    fail_win(out, TETHER_STAGE_SETUP, err, "InitializeProcThreadAttributeList%s", "");
    goto done;
  }

  STARTUPINFOEXW si;
  memset(&si, 0, sizeof si);
  si.StartupInfo.cb = sizeof si;
  si.lpAttributeList = attrs;
  HANDLE list[3];
  DWORD nlist = 0;
  BOOL inherit = FALSE;

  if (use_pty) {
    int os_err = 0;
    unsigned rows = req->pty_rows ? req->pty_rows : TETHER__PTY_DEFAULT_ROWS;
    unsigned cols = req->pty_cols ? req->pty_cols : TETHER__PTY_DEFAULT_COLS;
    int prc = tether__pty_open(rows, cols, &pty, &os_err);
    if (prc < 0) {
      fail(out, TETHER_STAGE_PTY,
           prc == TETHER_ENOMEM ? TETHER_SPAWN_ERR_NO_RESOURCES
                                : tether__spawn_error_from_win32((DWORD)os_err),
           (DWORD)os_err, "CreatePseudoConsole %s", "");
      goto done;
    }
    if (!UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE,
                                   tether__pty_hpcon(pty), sizeof(HPCON), NULL, NULL)) {
      fail_win(out, TETHER_STAGE_PTY, GetLastError(),
               "PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE%s", "");
      goto done;
    }
    /* No handle is inherited. STARTF_USESTDHANDLES with NULL handles, so
     * the child does not get copies of the runner's own standard handles
     * (whatever they are): Windows then gives it the pseudoconsole's.
     * Wine 8 leaves them NULL: there only a child that opens CONOUT$ /
     * CONIN$ itself reaches the terminal (docs/WINDOWS.md). */
    si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
  } else {
    DWORD err;
    if ((err = make_pipe(true, &mine[1], &child[1])) != 0) {
      fail_win(out, TETHER_STAGE_SETUP, err, "stdout pipe%s", "");
      goto done;
    }
    if (!req->merge_stderr && (err = make_pipe(true, &mine[2], &child[2])) != 0) {
      fail_win(out, TETHER_STAGE_SETUP, err, "stderr pipe%s", "");
      goto done;
    }
    if (req->stdin_mode == TETHER__STDIN_NULL) {
      nul = CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
                        OPEN_EXISTING, 0, NULL);
      if (nul == INVALID_HANDLE_VALUE) {
        nul = NULL;
        fail_win(out, TETHER_STAGE_SETUP, GetLastError(), "opening NUL%s", "");
        goto done;
      }
      child[0] = nul;
      nul = NULL;
    } else if ((err = make_pipe(false, &mine[0], &child[0])) != 0) {
      fail_win(out, TETHER_STAGE_SETUP, err, "stdin pipe%s", "");
      goto done;
    }
    for (int i = 0; i < 3; i++)
      if (child[i]) list[nlist++] = child[i];
    /* Inheritable only now, for this CreateProcess, and only these three:
     * the attribute list keeps every other inheritable handle of the
     * process (the embedder's, say) out of the child. */
    for (DWORD i = 0; i < nlist; i++)
      if (!SetHandleInformation(list[i], HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT)) {
        fail_win(out, TETHER_STAGE_SETUP, GetLastError(), "SetHandleInformation%s", "");
        goto done;
      }
    if (!UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, list,
                                   nlist * sizeof(HANDLE), NULL, NULL)) {
      fail_win(out, TETHER_STAGE_SETUP, GetLastError(), "PROC_THREAD_ATTRIBUTE_HANDLE_LIST%s", "");
      goto done;
    }
    si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    si.StartupInfo.hStdInput = child[0];
    si.StartupInfo.hStdOutput = child[1];
    si.StartupInfo.hStdError = child[2] ? child[2] : child[1];
    inherit = TRUE;
  }

  job = CreateJobObjectW(NULL, NULL);
  if (!job) {
    fail_win(out, TETHER_STAGE_SETUP, GetLastError(), "CreateJobObject%s", "");
    goto done;
  }
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION li;
  memset(&li, 0, sizeof li);
  li.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
  if (!SetInformationJobObject(job, JobObjectExtendedLimitInformation, &li, sizeof li)) {
    fail_win(out, TETHER_STAGE_SETUP, GetLastError(), "SetInformationJobObject%s", "");
    goto done;
  }

  /* A process group of its own, so CTRL_BREAK can be aimed at it. */
  DWORD flags = CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT | EXTENDED_STARTUPINFO_PRESENT |
                CREATE_NEW_PROCESS_GROUP;
  if (!CreateProcessW(p.program, p.cmdline, NULL, NULL, inherit, flags, p.env, p.cwd,
                      &si.StartupInfo, &pi)) {
    DWORD err = GetLastError();
    fail_win(out, err == ERROR_DIRECTORY ? TETHER_STAGE_CWD : TETHER_STAGE_EXEC, err,
             "CreateProcess \"%s\"", arg0);
    memset(&pi, 0, sizeof pi);
    goto done;
  }
  /* Suspended: nothing of the child has run, so nothing can have escaped
   * the job before it is in it. */
  if (!AssignProcessToJobObject(job, pi.hProcess)) {
    DWORD err = GetLastError();
    TerminateProcess(pi.hProcess, 1);
    WaitForSingleObject(pi.hProcess, 5000);
    fail_win(out, TETHER_STAGE_SETUP, err, "AssignProcessToJobObject%s", "");
    goto done;
  }
  if (ResumeThread(pi.hThread) == (DWORD)-1) {
    DWORD err = GetLastError();
    TerminateJobObject(job, 1);
    WaitForSingleObject(pi.hProcess, 5000);
    fail_win(out, TETHER_STAGE_SETUP, err, "ResumeThread%s", "");
    goto done;
  }
  CloseHandle(pi.hThread);
  pi.hThread = NULL;

  out->pid = pi.dwProcessId;
  out->process = pi.hProcess;
  pi.hProcess = NULL;
  out->job = job;
  job = NULL;
  out->stdin_h = mine[0];
  out->stdout_h = mine[1];
  out->stderr_h = mine[2];
  mine[0] = mine[1] = mine[2] = NULL;
  if (pty) {
    tether__pty_close_child_end(pty);
    out->pty = pty;
    pty = NULL;
  }
  rc = 0;

done:
  if (pi.hThread) CloseHandle(pi.hThread);
  if (pi.hProcess) CloseHandle(pi.hProcess);
  if (job) CloseHandle(job);
  for (int i = 0; i < 3; i++) {
    close_h(&mine[i]);
    close_h(&child[i]);
  }
  close_h(&nul);
  if (attrs) {
    DeleteProcThreadAttributeList(attrs);
    HeapFree(GetProcessHeap(), 0, attrs);
  }
  tether__pty_free(pty);
  plan_free(&p);
  return rc;
}
