/* Internal: building a Windows command line from an argv, shared by the
 * runner (its children) and the parent (the runner). */
#ifndef TETHER_TRANSPORT_CMDLINE_WIN_H
#define TETHER_TRANSPORT_CMDLINE_WIN_H

#include <stddef.h>
#include <wchar.h>

/* Writes the command line for argv (UTF-16, argc >= 1 strings) to `out`
 * (capacity `cap` units, NUL-terminated) such that CommandLineToArgvW and
 * the MSVCRT/UCRT startup code give back exactly argv:
 *   - arguments after the first are quoted when empty or holding a space,
 *     tab, newline, vertical tab or quote; inside quotes a run of n
 *     backslashes is doubled when a quote (escaped as \") or the closing
 *     quote follows it, and left alone otherwise;
 *   - argv[0] follows the simpler rule those parsers apply to the program
 *     name (up to the next quote if it starts with one, else to the first
 *     space or tab; backslashes literal): quoted when empty or holding a
 *     space or tab, and it may not contain a quote.
 * Returns the length, or -1 if it does not fit or argv[0] has a quote.
 * cmd.exe and some other programs parse their command line by rules of
 * their own (docs/WINDOWS.md). */
long tether__win_quote_argv(const wchar_t *const *argv, size_t argc, wchar_t *out, size_t cap);

#endif
