/* Shared by every fuzz harness: the libFuzzer entry points, a failure
 * report that aborts (so libFuzzer and the standalone driver both save the
 * input), and the allocation-balance check.
 *
 * A harness is one file defining LLVMFuzzerTestOneInput (and optionally
 * LLVMFuzzerInitialize). It is linked either with libFuzzer
 * (-DTETHER_FUZZ=ON, clang) or with fuzz/standalone_main.c (any compiler);
 * it never knows which. See fuzz/CMakeLists.txt, tether_add_fuzzer().
 */
#ifndef TETHER_FUZZ_H
#define TETHER_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "alloc_count.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#if defined(__GNUC__)
#define FUZZ_NORETURN __attribute__((noreturn))
#define FUZZ_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FUZZ_NORETURN
#define FUZZ_PRINTF(a, b)
#endif

/* Prints "fuzz invariant failed at file:line: ...", the input (hex, first
 * 256 bytes) if one was registered with fuzz_set_input, and aborts. */
FUZZ_NORETURN FUZZ_PRINTF(3, 4) void fuzz_fail(const char *file, int line,
                                               const char *fmt, ...);
#define FUZZ_FAIL(...) fuzz_fail(__FILE__, __LINE__, __VA_ARGS__)
/* FUZZ_CHECK(cond, "format", args...): the format is required. */
#define FUZZ_CHECK(cond, ...)                                                  \
  do {                                                                         \
    if (!(cond)) FUZZ_FAIL("check failed: " #cond ": " __VA_ARGS__);           \
  } while (0)

/* The input being run, for fuzz_fail's report. */
void fuzz_set_input(const uint8_t *data, size_t size);

/* Deterministic 64-bit hash of the input (FNV-1a), for choices that must be
 * the same every time the input is replayed. */
uint64_t fuzz_hash(const uint8_t *data, size_t size);

/* Allocation balance around one input: every block allocated while running
 * it must be freed before it returns. */
#define FUZZ_ALLOC_BEGIN() const long fuzz_live0_ = fuzz_alloc_live()
#define FUZZ_ALLOC_END()                                                       \
  do {                                                                         \
    long fuzz_d_ = fuzz_alloc_live() - fuzz_live0_;                            \
    if (fuzz_d_ != 0) FUZZ_FAIL("allocations unbalanced: %+ld live blocks", fuzz_d_); \
  } while (0)

/* Largest payload the harnesses feed to a decoder: what the parent and the
 * runner accept by default (a bigger frame never reaches a decoder, the
 * frame reader refuses its header). */
#define FUZZ_MAX_PAYLOAD TETHER_FRAME_MAX_DEFAULT

#endif
