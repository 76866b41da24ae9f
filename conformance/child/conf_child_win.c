/* tether-conf-child, Windows parts. */
#include "conf_child.h"

#include <errno.h>

#ifndef WIN32_LEAN_AND_MEAN
#  define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>

static void let_console_render(void) { Sleep(200); }

static int usable(DWORD which) {
  HANDLE h = GetStdHandle(which);
  return h && h != INVALID_HANDLE_VALUE && GetFileType(h) != FILE_TYPE_UNKNOWN;
}

/* fd `fd` on the console device `name` (CONOUT$, CONIN$). */
static void on_console(int fd, const wchar_t *name) {
  HANDLE h = CreateFileW(name, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE,
                         NULL, OPEN_EXISTING, 0, NULL);
  if (h == INVALID_HANDLE_VALUE) return;
  int k = _open_osfhandle((intptr_t)h, _O_BINARY);
  if (k < 0) {
    CloseHandle(h);
    return;
  }
  _dup2(k, fd);
  _close(k);
}

void conf_stdio(FILE **in, FILE **out, FILE **err) {
  *in = stdin;
  *out = stdout;
  *err = stderr;
  /* Under a pseudoconsole Wine gives a child no standard handles, and then
   * msvcrt's stdout writes nowhere (nor can freopen open CONOUT$): use the
   * console itself on fds 0-2 through streams of our own, and give it a
   * moment to render what we wrote before we go (docs/WINDOWS.md). */
  if (!usable(STD_OUTPUT_HANDLE)) {
    on_console(0, L"CONIN$");
    on_console(1, L"CONOUT$");
    on_console(2, L"CONOUT$");
    FILE *i = _fdopen(0, "rb"), *o = _fdopen(1, "wb"), *e = _fdopen(2, "wb");
    if (i) *in = i;
    if (o) *out = o;
    if (e) *err = e;
    setvbuf(*out, NULL, _IOFBF, 4096); /* whole lines, not a write per byte */
    atexit(let_console_render);
  }
  _setmode(0, _O_BINARY);
  _setmode(1, _O_BINARY);
  _setmode(2, _O_BINARY);
}

void conf_sleep_ms(unsigned ms) { Sleep(ms); }

static BOOL WINAPI ignore(DWORD event) { return event == CTRL_C_EVENT || event == CTRL_BREAK_EVENT; }

void conf_ignore_term(void) { SetConsoleCtrlHandler(ignore, TRUE); }

int conf_getcwd(char *buf, size_t len) {
  wchar_t w[4096];
  DWORD n = GetCurrentDirectoryW(4096, w);
  if (n == 0 || n >= 4096) return -1;
  return WideCharToMultiByte(CP_UTF8, 0, w, -1, buf, (int)len, NULL, NULL) ? 0 : -1;
}

unsigned long long conf_now_ms(void) { return GetTickCount64(); }

int conf_chmod(const char *path) {
  (void)path;
  return ENOSYS; /* no POSIX modes to change */
}

int conf_tiocsti(void) { return ENOSYS; }
