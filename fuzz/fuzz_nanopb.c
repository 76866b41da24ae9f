/* fuzz_nanopb: arbitrary bytes as one frame payload into the nanopb adapter
 * (the runner's decoder, fixed memory: every byte from the parent is hostile).
 *
 * Input: the payload itself (at most the default frame limit, as the frame
 * reader would deliver it). Invariants: see fuzz/roundtrip.c.
 */
#include "fuzz.h"
#include "roundtrip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_set_input(data, size);
  fuzz_roundtrip(&fuzz_codec_nanopb, data, size);
  return 0;
}
