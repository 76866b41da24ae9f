/* Internal: small portability macros shared by every library (not
 * installed). */
#ifndef TETHER_TRANSPORT_COMPAT_H
#define TETHER_TRANSPORT_COMPAT_H

/* printf-style format checking. mingw-w64 with __USE_MINGW_ANSI_STDIO
 * (CMakeLists.txt) formats as C99 (%zu, %lld), which GCC checks only under
 * the __MINGW_PRINTF_FORMAT archetype; plain `printf` would check against
 * msvcrt's rules and reject %zu. */
#if defined(__MINGW32__)
#  include <stdio.h> /* __MINGW_PRINTF_FORMAT */
#  define TETHER__PRINTF(fmt, args) __attribute__((format(__MINGW_PRINTF_FORMAT, fmt, args)))
#elif defined(__GNUC__) || defined(__clang__)
#  define TETHER__PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#  define TETHER__PRINTF(fmt, args)
#endif

#endif
