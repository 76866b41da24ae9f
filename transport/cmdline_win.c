/* Command-line quoting (cmdline_win.h). */
#include <stdbool.h>

#include "transport/cmdline_win.h"

static bool put(wchar_t *out, size_t cap, size_t *k, wchar_t c) {
  if (*k + 1 >= cap) return false;
  out[(*k)++] = c;
  return true;
}

/* The rules of CommandLineToArgvW and the MSVCRT/UCRT startup code for
 * arguments after the first: inside quotes, 2n backslashes before a quote
 * are n backslashes and the quote ends (or starts) quoting; 2n+1 are n
 * backslashes and a literal quote; backslashes not before a quote are
 * literal. So: quote an argument that is empty or has whitespace or a
 * quote; double the backslashes that precede a quote or the closing
 * quote, and escape each quote. */
static bool quote_arg(const wchar_t *a, wchar_t *out, size_t cap, size_t *k) {
  if (a[0] && !wcspbrk(a, L" \t\n\v\"")) {
    for (const wchar_t *p = a; *p; p++)
      if (!put(out, cap, k, *p)) return false;
    return true;
  }
  if (!put(out, cap, k, L'"')) return false;
  for (const wchar_t *p = a;; p++) {
    size_t bs = 0;
    while (*p == L'\\') {
      p++;
      bs++;
    }
    if (!*p) {
      for (size_t i = 0; i < bs * 2; i++)
        if (!put(out, cap, k, L'\\')) return false;
      break;
    }
    if (*p == L'"') {
      for (size_t i = 0; i < bs * 2 + 1; i++)
        if (!put(out, cap, k, L'\\')) return false;
    } else {
      for (size_t i = 0; i < bs; i++)
        if (!put(out, cap, k, L'\\')) return false;
    }
    if (!put(out, cap, k, *p)) return false;
  }
  return put(out, cap, k, L'"');
}

long tether__win_quote_argv(const wchar_t *const *argv, size_t argc, wchar_t *out, size_t cap) {
  size_t k = 0;
  if (argc == 0 || cap == 0) return -1;
  /* The program name: everything up to the next quote when it starts with
   * one, else up to the first space or tab; backslashes are literal. */
  const wchar_t *a0 = argv[0];
  if (wcschr(a0, L'"')) return -1;
  bool q = !a0[0] || wcspbrk(a0, L" \t");
  if (q && !put(out, cap, &k, L'"')) return -1;
  for (const wchar_t *p = a0; *p; p++)
    if (!put(out, cap, &k, *p)) return -1;
  if (q && !put(out, cap, &k, L'"')) return -1;
  for (size_t i = 1; i < argc; i++) {
    if (!put(out, cap, &k, L' ')) return -1;
    if (!quote_arg(argv[i], out, cap, &k)) return -1;
  }
  out[k] = 0;
  return (long)k;
}

