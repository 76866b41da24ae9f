/* Growable caller-allocated structs: transport/sized.h. */
#include "transport/sized.h"

#include <string.h>

#include "tether/error.h"

static size_t min_of(size_t a, size_t b) { return a < b ? a : b; }

void tether__sized_init(void *caller, size_t caller_size, const void *defaults,
                        size_t lib_size) {
  if (!caller || caller_size < sizeof(size_t)) return;
  memset(caller, 0, caller_size);
  memcpy(caller, defaults, min_of(caller_size, lib_size));
  memcpy(caller, &caller_size, sizeof caller_size);
}

int tether__sized_read(void *lib, size_t lib_size, const void *caller, size_t min_size) {
  size_t caller_size;
  memcpy(&caller_size, caller, sizeof caller_size);
  if (caller_size < min_size) return TETHER_EINVAL;
  memcpy(lib, caller, min_of(caller_size, lib_size));
  memcpy(lib, &lib_size, sizeof lib_size);
  if (caller_size > lib_size) {
    const unsigned char *tail = (const unsigned char *)caller + lib_size;
    for (size_t i = 0; i < caller_size - lib_size; i++)
      if (tail[i]) return TETHER_EUNSUPPORTED;
  }
  return 0;
}

int tether__sized_write(void *caller, size_t caller_size, const void *lib, size_t lib_size,
                        size_t min_size) {
  if (caller_size < min_size) return TETHER_EINVAL;
  size_t n = min_of(caller_size, lib_size);
  memcpy(caller, lib, n);
  if (caller_size > n) memset((unsigned char *)caller + n, 0, caller_size - n);
  memcpy(caller, &n, sizeof n);
  return 0;
}
