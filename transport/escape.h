/* Internal: one printable rendering of untrusted bytes for error messages
 * (a peer's text, a path, a bad preface), shared by every layer. */
#ifndef TETHER_ESCAPE_H
#define TETHER_ESCAPE_H

#include <stddef.h>

/* Keep bytes >= 0x80 as they are (the source is UTF-8 text meant for a
 * person), except the C1 controls U+0080..U+009F; without it they are
 * escaped like any other non-ASCII byte. */
#define TETHER__ESC_KEEP_UTF8 1u
/* Keep '"' and '\\' as they are: the result is a whole message, not a
 * value about to be quoted inside one. */
#define TETHER__ESC_KEEP_QUOTES 2u

/* Writes a NUL-terminated rendering of `len` bytes of `src` into `dst`
 * (`cap` bytes, cap >= 1): printable ASCII as is, \n \r \t \" \\ as such,
 * every other byte as \xNN. Truncated at a character boundary when it does
 * not fit. */
void tether__escape(char *dst, size_t cap, const void *src, size_t len, unsigned flags);

#endif
