/* Windows side of the parent: starting tether-runner.exe with a named pipe
 * (or its stdin/stdout), reaping it, waiting on the channel, the clock.
 *
 * TETHER_RUNNER_CHANNEL_FDS (the default) means a named pipe on Windows:
 * a fresh \\.\pipe\tether-<pid>-<128 random bits> server (current user
 * only, local only, first instance; transport/npipe_server_win.c) is
 * created, `--pipe NAME` is appended to runner_argv (default
 * {"tether-runner"}), and the one client accepted must be the process just
 * started (GetNamedPipeClientProcessId). runner_fds is ignored.
 * TETHER_RUNNER_CHANNEL_STDIO: two anonymous pipes are the runner's stdin
 * and stdout (runner_argv as given, e.g. {"tether-runner", "--stdio"}).
 *
 * The runner inherits exactly its three standard handles
 * (PROC_THREAD_ATTRIBUTE_HANDLE_LIST): NUL or the channel as stdin, our
 * stdout (or the channel) and our stderr. argv[0] is found by
 * CreateProcessW's own search (this executable's directory first, so a
 * tether-runner.exe next to the program is found, then the current
 * directory, the system directories and PATH; ".exe" is appended).
 * runner_new_group: CREATE_NEW_PROCESS_GROUP, which on Windows also makes
 * the runner (and so its children) ignore the console's Ctrl+C: the
 * embedder decides what to forward. */
#ifndef WIN32_LEAN_AND_MEAN
#  define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <io.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parent_internal.h"
#include "transport/cmdline_win.h"
#include "transport/transport.h"

#define CMDLINE_MAX 32767

int64_t tether__parent_now_ms(void) { return (int64_t)GetTickCount64(); }

void tether__parent_close_fd(int fd) {
  if (fd >= 0) _close(fd);
}

static void win_msg(DWORD err, char *buf, size_t len) {
  wchar_t w[256];
  DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, err,
                           0, w, 256, NULL);
  while (n > 0 && (w[n - 1] == L'\r' || w[n - 1] == L'\n' || w[n - 1] == L'.')) n--;
  w[n] = 0;
  if (!n || !WideCharToMultiByte(CP_UTF8, 0, w, -1, buf, (int)len, NULL, NULL))
    snprintf(buf, len, "Win32 error");
}

static wchar_t *to_wide(const char *s) {
  int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
  if (n <= 0) return NULL;
  wchar_t *w = malloc((size_t)n * sizeof *w);
  if (w) MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n);
  return w;
}

/* An inheritable duplicate of one of our standard handles, or NULL. */
static HANDLE inheritable_std(DWORD which) {
  HANDLE h = GetStdHandle(which), d = NULL;
  if (!h || h == INVALID_HANDLE_VALUE) return NULL;
  if (!DuplicateHandle(GetCurrentProcess(), h, GetCurrentProcess(), &d, 0, TRUE,
                       DUPLICATE_SAME_ACCESS))
    return NULL;
  return d;
}

static void close_h(HANDLE *h) {
  if (*h && *h != INVALID_HANDLE_VALUE) CloseHandle(*h);
  *h = NULL;
}

int tether__parent_spawn_runner(const tether_parent_options *o, tether_transport **t,
                                int64_t *pid_out, void **os, char *err, size_t errlen) {
  static const char *const default_argv[] = { "tether-runner", NULL };
  const char *const *argv = o->runner_argv ? o->runner_argv : default_argv;
  bool use_pipe = o->runner_channel == TETHER_RUNNER_CHANNEL_FDS;
  tether_npipe_server *srv = NULL;
  HANDLE std[3] = { NULL, NULL, NULL };   /* the runner's, inheritable */
  HANDLE mine_r = NULL, mine_w = NULL;     /* STDIO: our ends */
  wchar_t **wargv = NULL, *cmd = NULL;
  size_t argc = 0;
  LPPROC_THREAD_ATTRIBUTE_LIST attrs = NULL;
  PROCESS_INFORMATION pi;
  memset(&pi, 0, sizeof pi);
  int rc = TETHER_EOS;
  char sys[256];

  *t = NULL;
  *pid_out = -1;
  *os = NULL;
  if (!argv[0] || !argv[0][0]) {
    snprintf(err, errlen, "empty runner argv");
    return TETHER_EINVAL;
  }
  if (!use_pipe && o->runner_channel != TETHER_RUNNER_CHANNEL_STDIO) {
    snprintf(err, errlen, "invalid runner_channel %d", (int)o->runner_channel);
    return TETHER_EINVAL;
  }

  if (use_pipe) {
    rc = tether_npipe_server_new(NULL, &srv);
    if (rc < 0) {
      snprintf(err, errlen, "cannot create the runner's named pipe: %s", tether_strerror(rc));
      goto out;
    }
  }
  while (argv[argc]) argc++;
  wargv = calloc(argc + 2, sizeof *wargv);
  cmd = malloc(CMDLINE_MAX * sizeof *cmd);
  rc = TETHER_ENOMEM;
  if (!wargv || !cmd) {
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < argc; i++)
    if (!(wargv[i] = to_wide(argv[i]))) {
      rc = TETHER_EINVAL;
      snprintf(err, errlen, "runner argv[%zu] is not UTF-8", i);
      goto out;
    }
  size_t wargc = argc;
  if (use_pipe) {
    wargv[wargc++] = to_wide("--pipe");
    wargv[wargc++] = to_wide(tether_npipe_server_name(srv));
    if (!wargv[argc] || !wargv[argc + 1]) {
      snprintf(err, errlen, "out of memory");
      goto out;
    }
  }
  if (tether__win_quote_argv((const wchar_t *const *)wargv, wargc, cmd, CMDLINE_MAX) < 0) {
    rc = TETHER_EINVAL;
    snprintf(err, errlen, "runner argv too long, or argv[0] contains a quote");
    goto out;
  }

  rc = TETHER_EOS;
  SECURITY_ATTRIBUTES inh = { sizeof inh, NULL, TRUE };
  if (use_pipe) {
    std[0] = CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, &inh,
                         OPEN_EXISTING, 0, NULL);
    if (std[0] == INVALID_HANDLE_VALUE) std[0] = NULL;
    std[1] = inheritable_std(STD_OUTPUT_HANDLE);
  } else {
    /* Our ends are not inheritable; the runner's are. */
    if (!CreatePipe(&std[0], &mine_w, NULL, 0) || !CreatePipe(&mine_r, &std[1], NULL, 0)) {
      win_msg(GetLastError(), sys, sizeof sys);
      snprintf(err, errlen, "CreatePipe: %s", sys);
      goto out;
    }
    SetHandleInformation(std[0], HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);
    SetHandleInformation(std[1], HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);
  }
  std[2] = inheritable_std(STD_ERROR_HANDLE);

  HANDLE list[3];
  DWORD nlist = 0;
  for (int i = 0; i < 3; i++)
    if (std[i]) list[nlist++] = std[i];
  SIZE_T size = 0;
  InitializeProcThreadAttributeList(NULL, 1, 0, &size);
  attrs = HeapAlloc(GetProcessHeap(), 0, size);
  if (!attrs || !InitializeProcThreadAttributeList(attrs, 1, 0, &size)) {
    if (attrs) HeapFree(GetProcessHeap(), 0, attrs);
    attrs = NULL;
    snprintf(err, errlen, "InitializeProcThreadAttributeList failed");
    goto out;
  }
  if (nlist && !UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, list,
                                          nlist * sizeof(HANDLE), NULL, NULL)) {
    win_msg(GetLastError(), sys, sizeof sys);
    snprintf(err, errlen, "PROC_THREAD_ATTRIBUTE_HANDLE_LIST: %s", sys);
    goto out;
  }
  STARTUPINFOEXW si;
  memset(&si, 0, sizeof si);
  si.StartupInfo.cb = sizeof si;
  si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
  si.StartupInfo.hStdInput = std[0];
  si.StartupInfo.hStdOutput = std[1];
  si.StartupInfo.hStdError = std[2];
  si.lpAttributeList = attrs;
  DWORD flags = EXTENDED_STARTUPINFO_PRESENT | (o->runner_new_group ? CREATE_NEW_PROCESS_GROUP : 0);
  if (!CreateProcessW(NULL, cmd, NULL, NULL, nlist ? TRUE : FALSE, flags, NULL, NULL,
                      &si.StartupInfo, &pi)) {
    DWORD e = GetLastError();
    win_msg(e, sys, sizeof sys);
    snprintf(err, errlen, "cannot start the runner \"%s\": %s (Win32 error %lu)", argv[0], sys,
             (unsigned long)e);
    memset(&pi, 0, sizeof pi);
    rc = e == ERROR_NOT_ENOUGH_MEMORY || e == ERROR_OUTOFMEMORY ? TETHER_ENOMEM : TETHER_EOS;
    goto out;
  }
  CloseHandle(pi.hThread);
  pi.hThread = NULL;
  for (int i = 0; i < 3; i++) close_h(&std[i]); /* the runner's copies are its own */

  if (use_pipe) {
    /* Only the process we started may connect; a runner that exits before
     * it connects must not leave us waiting for the whole timeout. */
    int64_t deadline = tether__parent_now_ms() + o->handshake_timeout_ms;
    for (;;) {
      int64_t left = deadline - tether__parent_now_ms();
      int slice = left > 100 ? 100 : left > 0 ? (int)left : 0;
      rc = tether_npipe_server_accept(srv, slice, (unsigned long)pi.dwProcessId, t);
      if (rc != TETHER_ETIMEDOUT) break;
      if (WaitForSingleObject(pi.hProcess, 0) == WAIT_OBJECT_0) {
        DWORD code = 0;
        GetExitCodeProcess(pi.hProcess, &code);
        rc = TETHER_ECLOSED;
        snprintf(err, errlen, "the runner \"%s\" exited with status %lu before connecting",
                 argv[0], (unsigned long)code);
        break;
      }
      if (left <= 0) {
        snprintf(err, errlen, "the runner \"%s\" did not connect within %u ms", argv[0],
                 (unsigned)o->handshake_timeout_ms);
        break;
      }
    }
    if (rc < 0 && rc != TETHER_ECLOSED && rc != TETHER_ETIMEDOUT)
      snprintf(err, errlen, "accepting the runner's connection: %s",
               rc == TETHER_EPROTOCOL ? tether_npipe_server_error(srv) : tether_strerror(rc));
  } else {
    rc = tether_transport_handle_new(mine_r, mine_w, t); /* owns both, also on failure */
    mine_r = mine_w = NULL;
    if (rc < 0) snprintf(err, errlen, "cannot use the runner's pipes: %s", tether_strerror(rc));
  }
  if (rc < 0) {
    TerminateProcess(pi.hProcess, 1);
    WaitForSingleObject(pi.hProcess, INFINITE);
    goto out;
  }
  *pid_out = (int64_t)pi.dwProcessId;
  *os = pi.hProcess;
  pi.hProcess = NULL;
  rc = 0;

out:
  if (pi.hProcess) CloseHandle(pi.hProcess);
  if (pi.hThread) CloseHandle(pi.hThread);
  for (int i = 0; i < 3; i++) close_h(&std[i]);
  close_h(&mine_r);
  close_h(&mine_w);
  if (attrs) {
    DeleteProcThreadAttributeList(attrs);
    HeapFree(GetProcessHeap(), 0, attrs);
  }
  if (wargv)
    for (size_t i = 0; i < argc + 2; i++) free(wargv[i]);
  free(wargv);
  free(cmd);
  tether_npipe_server_free(srv); /* the accepted instance outlives the server */
  return rc;
}

int tether__parent_reap_runner(tether_parent *p, int timeout_ms) {
  if (p->runner_pid < 0 || p->runner_reaped) return 1;
  HANDLE h = p->runner_os;
  if (!h) {
    p->runner_reaped = 1;
    p->runner_status = -1;
    return 1;
  }
  DWORD w = WaitForSingleObject(h, timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms);
  if (w == WAIT_TIMEOUT) return 0;
  DWORD code = 0;
  p->runner_status = -1;
  if (w == WAIT_OBJECT_0 && GetExitCodeProcess(h, &code)) p->runner_status = (int)code;
  p->runner_reaped = 1;
  CloseHandle(h);
  p->runner_os = NULL;
  return 1;
}

void tether__parent_kill_runner(tether_parent *p) {
  if (p->runner_os && !p->runner_reaped) TerminateProcess(p->runner_os, 1);
}

void tether__parent_describe_runner(tether_parent *p, char *buf, size_t len) {
  buf[0] = '\0';
  if (p->runner_pid < 0 || !p->runner_reaped) return;
  unsigned long code = (unsigned long)(unsigned)p->runner_status;
  if (p->runner_status == -1) return; /* unknown (0xFFFFFFFF is ambiguous: reported as unknown) */
  snprintf(buf, len, code > 255 ? "exited with status 0x%08lx" : "exited with status %lu", code);
}

int tether__parent_wait(tether_parent *p, int timeout_ms) {
  if (p->closed) return TETHER_ECLOSED;
  HANDLE hs[2];
  DWORD n = 0;
  hs[n++] = tether_channel_read_handle(p->ch);
  if (!p->dead && tether_channel_pending(p->ch) > 0) {
    HANDLE w = tether_channel_write_handle(p->ch);
    if (w && w != hs[0]) hs[n++] = w;
  }
  DWORD r = WaitForMultipleObjects(n, hs, FALSE, timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms);
  if (r == WAIT_TIMEOUT) return TETHER_ETIMEDOUT;
  if (r == WAIT_FAILED) return TETHER_EOS;
  return 0;
}
