/* Counting wrappers behind alloc_count.h; see there for how they are wired. */
#include "alloc_count.h"

#include <errno.h>
#include <stdint.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

static _Thread_local long live;
static _Thread_local unsigned long count;
static _Thread_local unsigned long long bytes;
static _Thread_local unsigned long fail_in; /* 0: off; 1: fail the next one */
static _Thread_local int failed;

long fuzz_alloc_live(void) { return live; }
unsigned long fuzz_alloc_count(void) { return count; }
unsigned long long fuzz_alloc_bytes(void) { return bytes; }

void fuzz_alloc_fail_nth(unsigned long k) {
  fail_in = k;
  failed = 0;
}

int fuzz_alloc_failed(void) { return failed; }

/* True if this allocation is the one chosen to fail. */
static int inject(void) {
  if (fail_in == 0) return 0;
  if (--fail_in != 0) return 0;
  failed = 1;
  errno = ENOMEM;
  return 1;
}

void *__wrap_malloc(size_t n) {
  if (inject()) return NULL;
  void *p = __real_malloc(n);
  if (p) live++, count++, bytes += n;
  return p;
}

void *__wrap_calloc(size_t n, size_t size) {
  if (inject()) return NULL;
  void *p = __real_calloc(n, size);
  if (p) live++, count++, bytes += (unsigned long long)n * size;
  return p;
}

void *__wrap_realloc(void *p, size_t n) {
  if (!p) return __wrap_malloc(n);
  if (n == 0) {
    /* glibc and the sanitizers free the block and return NULL (or a new
     * minimal block, counted as one). */
    void *q = __real_realloc(p, 0);
    if (!q) live--;
    return q;
  }
  if (inject()) return NULL;
  void *q = __real_realloc(p, n);
  if (q) count++, bytes += n;
  return q;
}

void __wrap_free(void *p) {
  if (p) live--;
  __real_free(p);
}
