/* tether — one pseudo-terminal interface for the runner (internal, not
 * installed).
 *
 * A tether__pty is the runner's end of a terminal session: the POSIX pty
 * master (pty_posix.c), or later a Windows pseudoconsole with its two pipes
 * (pty_win.c). The shared part of the interface is here; how a child is
 * attached to the terminal is platform-specific and lives in
 * pty_posix.h (fork hooks) or pty_win.h (the STARTUPINFOEX attribute).
 *
 * Lifetime: tether__pty_open() creates both ends. The child is attached
 * (platform hook), then the runner drops its copy of the child's end
 * (tether__pty_close_child_end) so that the terminal reports end of output
 * once the last process holding the child's end has gone. tether__pty_free()
 * closes everything; closing the runner's end while processes still use the
 * terminal hangs it up (POSIX: SIGHUP to the session's foreground group).
 *
 * Threading: a tether__pty is used by one thread at a time. Every
 * descriptor/handle it creates is close-on-exec / non-inheritable; the
 * runner's end is non-blocking.
 */
#ifndef TETHER_CONPTY_PTY_H
#define TETHER_CONPTY_PTY_H

#include <stddef.h>
#include <stdint.h>

#include "tether/error.h"
#include "tether/limits.h"
#include "tether/os.h"

typedef struct tether__pty tether__pty;

/* Size used when a Spawn asks for 0 rows or 0 columns. */
#define TETHER__PTY_DEFAULT_ROWS 24u
#define TETHER__PTY_DEFAULT_COLS 80u
/* Largest accepted dimension: TETHER_PTY_DIM_MAX (struct winsize / COORD
 * hold 16 bits; ConPTY takes SHORT). */
#define TETHER__PTY_MAX_DIM TETHER_PTY_DIM_MAX

/* Opens a terminal of rows x cols (each in [1, TETHER__PTY_MAX_DIM]).
 * Returns 0 and *out, or TETHER_EINVAL (bad size), TETHER_ENOMEM, or
 * TETHER_EOS with the OS error in *os_error (errno / GetLastError). On
 * failure nothing is left open. */
int tether__pty_open(unsigned rows, unsigned cols, tether__pty **out, int *os_error);

/* Closes both ends (NULL is fine). */
void tether__pty_free(tether__pty *p);

/* After the child was attached: close the runner's copy of the child's
 * end. Idempotent. */
void tether__pty_close_child_end(tether__pty *p);

/* What to wait on: readable when output (or the end of it) is there, and
 * writable when input may be written. The same descriptor on POSIX. */
tether_os_handle tether__pty_output_handle(const tether__pty *p);
tether_os_handle tether__pty_input_handle(const tether__pty *p);

/* Reads terminal output. > 0 bytes; 0 when no process holds the child's end
 * any more AND everything they wrote has been read (the end of the
 * session's output: Linux reports it as EIO, which maps to 0 here);
 * TETHER_EAGAIN; another negative code on a real error (treat as the end). */
long tether__pty_read(tether__pty *p, uint8_t *buf, size_t len);

/* Writes input, as if typed. Bytes written (may be short), TETHER_EAGAIN,
 * or TETHER_ECLOSED when the terminal is hung up (no reader can ever come). */
long tether__pty_write(tether__pty *p, const uint8_t *buf, size_t len);

/* Sets the window size (each in [1, TETHER__PTY_MAX_DIM]). POSIX: the
 * kernel sends SIGWINCH to the terminal's foreground process group. 0,
 * TETHER_EINVAL or TETHER_EOS. */
int tether__pty_resize(tether__pty *p, unsigned rows, unsigned cols);

/* The bytes that end input "the way a terminal does", given the last byte
 * of input written so far (-1 if none). Fills out[0..n) and returns n (1 or
 * 2). The current terminal modes decide (POSIX termios, read now):
 *   - canonical mode (ICANON): the VEOF character (^D if disabled); twice
 *     unless the input is at the start of a line, i.e. nothing was written
 *     yet or the last byte was '\n', VEOL, VEOL2, VEOF, or '\r' while ICRNL
 *     is set and IGNCR is not. The first VEOF pushes the pending partial
 *     line to the reader, the second makes its read() return 0.
 *   - non-canonical ("raw") mode: there is no end of input in a terminal;
 *     VEOF is sent once, as an ordinary byte, and the program decides.
 * Never fails: without modes to read, it answers as for the defaults. */
size_t tether__pty_eof_sequence(tether__pty *p, int last_byte, uint8_t out[2]);

#endif
