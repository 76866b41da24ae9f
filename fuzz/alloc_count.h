/* Allocation counting for the fuzz harnesses (linked into fuzzers only).
 *
 * The fuzz targets link with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,
 * --wrap=free, so every call to those functions from a statically linked
 * object (the harness, tether's libraries, the generated code, nanopb's
 * static runtime) goes through the wrappers in alloc_count.c first and then
 * to the real allocator (ASan's, when sanitized). Calls made inside shared
 * libraries (libc, libprotobuf-c.so) are not seen; tether always hands
 * protobuf-c its own allocator, so its unpacking is counted through it.
 *
 * Counters are per thread, so an allocation on another thread (libFuzzer's
 * helpers) never shows up in a harness's balance.
 *
 * Works the same under libFuzzer and under fuzz/standalone_main.c, with or
 * without sanitizers.
 */
#ifndef TETHER_FUZZ_ALLOC_COUNT_H
#define TETHER_FUZZ_ALLOC_COUNT_H

#include <stddef.h>

/* Blocks allocated and not yet freed by this thread, since it started. */
long fuzz_alloc_live(void);
/* Successful allocations (malloc, calloc, realloc of NULL) by this thread. */
unsigned long fuzz_alloc_count(void);

/* Bytes requested by successful allocations (malloc, calloc, and the new
 * size of a realloc) by this thread: a measure of how much a decode asks
 * for, not of what is live. */
unsigned long long fuzz_alloc_bytes(void);

/* Failure injection: the `k`-th allocation from now (1 = the next one) on
 * this thread returns NULL with errno ENOMEM; later ones succeed again.
 * 0 disables it. A realloc that grows a block counts as an allocation. */
void fuzz_alloc_fail_nth(unsigned long k);
/* 1 once the injected failure has happened (reset by fuzz_alloc_fail_nth). */
int fuzz_alloc_failed(void);

#endif
