/* Internal: caller-allocated public structs that grow by appending
 * (include/tether/parent.h, "ABI: structs the caller allocates"). Each
 * such struct starts with `size_t struct_size`, the size the caller was
 * compiled with; these helpers move bytes between the caller's struct and
 * the library's own, touching no byte of the caller's past struct_size. */
#ifndef TETHER_SIZED_H
#define TETHER_SIZED_H

#include <stddef.h>

/* Bytes of `type` up to and including `field`: the size of a published
 * layout whose last member is `field`. */
#define TETHER__SIZE_THROUGH(type, field) \
  (offsetof(type, field) + sizeof(((type *)0)->field))

/* An init function: the caller's struct (`caller_size` bytes) gets the
 * library's defaults (`defaults`, `lib_size` bytes) for the part both know,
 * zeroes past that, and struct_size = caller_size. A caller_size too small
 * to hold struct_size writes nothing (the later use fails). */
void tether__sized_init(void *caller, size_t caller_size, const void *defaults,
                        size_t lib_size);

/* Reads a caller's struct into `lib` (`lib_size` bytes, already holding
 * the defaults): the fields both layouts have are copied, fields past the
 * caller's struct_size keep their defaults; lib's struct_size becomes
 * lib_size. Returns 0; TETHER_EINVAL if struct_size is below `min_size`
 * (the first published layout; 0 included); TETHER_EUNSUPPORTED if the
 * caller is newer and set a field this library does not know (a non-zero
 * byte past lib_size), so a newer option is never silently ignored; `lib`
 * then holds the known fields (e.g. where to write the error message). */
int tether__sized_read(void *lib, size_t lib_size, const void *caller, size_t min_size);

/* Writes the library's record `lib` (`lib_size` bytes) to the caller's
 * (`caller_size` bytes): the common part is copied, the rest of the
 * caller's zeroed, and its struct_size set to the bytes that carry data
 * (the smaller size). Returns 0; TETHER_EINVAL if caller_size is below
 * `min_size` (nothing is written then). */
int tether__sized_write(void *caller, size_t caller_size, const void *lib, size_t lib_size,
                        size_t min_size);

#endif
