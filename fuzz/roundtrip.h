/* One codec against itself: decode -> validate -> encode -> decode -> equal
 * -> encode -> same bytes. Shared by fuzz_pbc.c and fuzz_nanopb.c. */
#ifndef TETHER_FUZZ_ROUNDTRIP_H
#define TETHER_FUZZ_ROUNDTRIP_H

#include "codec_ops.h"

/* Runs every invariant for one input and aborts (fuzz_fail) on a breach. */
void fuzz_roundtrip(const fuzz_codec *c, const uint8_t *data, size_t size);

#endif
