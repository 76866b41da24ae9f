/* tether-conf-child: the one program the conformance kit spawns when it
 * checks a runner with `--child` (always on Windows, where there is no
 * sh/cat/sleep). The platform parts, in conf_child_posix.c and
 * conf_child_win.c. */
#ifndef TETHER_CONF_CHILD_H
#define TETHER_CONF_CHILD_H

#include <stddef.h>
#include <stdio.h>

/* The streams to use for stdin/stdout/stderr, as raw bytes (no "\n" ->
 * "\r\n" on Windows). */
void conf_stdio(FILE **in, FILE **out, FILE **err);
void conf_sleep_ms(unsigned ms);
/* Ignore the polite stop: SIGTERM, or CTRL_BREAK/CTRL_C on Windows. */
void conf_ignore_term(void);
/* The current directory as the OS names it (UTF-8); 0, or -1 on error. */
int conf_getcwd(char *buf, size_t len);
/* Make PATH mode 0777 (a metadata change; the permission check's attack):
 * 0, or an errno. */
int conf_chmod(const char *path);
/* Push one byte into the input of the terminal on stdin (TIOCSTI): 0, or
 * an errno (ENOSYS where there is no such call). */
int conf_tiocsti(void);
/* Milliseconds from a monotonic clock. */
unsigned long long conf_now_ms(void);

#endif
