/* fuzz.h helpers shared by every harness. */
#include "fuzz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const uint8_t *cur_data;
static size_t cur_size;

void fuzz_set_input(const uint8_t *data, size_t size) {
  cur_data = data;
  cur_size = size;
}

uint64_t fuzz_hash(const uint8_t *data, size_t size) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 0x100000001b3ull;
  return h;
}

void fuzz_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "\nfuzz invariant failed at %s:%d: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n");
  if (cur_data) {
    size_t n = cur_size < 256 ? cur_size : 256;
    fprintf(stderr, "input (%zu bytes):", cur_size);
    for (size_t i = 0; i < n; i++) fprintf(stderr, "%s%02x", i % 32 ? " " : "\n  ", cur_data[i]);
    fprintf(stderr, "%s\n", n < cur_size ? " ..." : "");
  }
  fflush(stderr);
  abort();
}
