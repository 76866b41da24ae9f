/* fuzz_differential: the same payload through both decoders, the parent's
 * (protobuf-c) and the runner's (nanopb).
 *
 * Input: one frame payload (at most the default frame limit).
 * Invariants:
 *  1. both return the same code (not only the same class: codec/wire.c and
 *     tether_msg_validate() make the adapters agree exactly, and the
 *     check_counts() order is shared); a rejected frame keeps the same
 *     session and type in both (the address the receiver answers on);
 *  2. when both accept, every field is equal (fuzz_msg_equal);
 *  3. when both accept a frame with a body, all four encodings (each
 *     encoder on each decoded message) are the same bytes, and the two
 *     encoded_size() agree; a body-less frame is refused by both encoders;
 *  4. allocations balance.
 * Known exceptions: none. A disagreement found here is a bug in one of the
 * adapters or in wire.c; if one is ever accepted on purpose it is listed
 * here and in SECURITY.md ("Decoder agreement").
 */
#include <stdlib.h>
#include <string.h>

#include "codec_ops.h"
#include "fuzz.h"
#include "msg_compare.h"
#include "tether/error.h"

static uint8_t *encode_with(const fuzz_codec *c, const tether_msg *m, size_t n) {
  uint8_t *buf = malloc(n);
  FUZZ_CHECK(buf != NULL, "out of memory in the harness");
  size_t w = 0;
  const char *why = NULL;
  int rc = c->encode(m, buf, n, &w, &why);
  FUZZ_CHECK(rc == 0 && w == n, "%s: encode of %s: %d (%s), %zu of %zu bytes", c->name,
             tether_msg_type_name(m->type), rc, why ? why : "-", w, n);
  return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > FUZZ_MAX_PAYLOAD) return 0;
  fuzz_set_input(data, size);
  const fuzz_codec *P = &fuzz_codec_pbc, *N = &fuzz_codec_nanopb;
  void *dp = fuzz_decoder(P, 0), *dn = fuzz_decoder(N, 0);
  FUZZ_CHECK(dp && dn, "decoder_new failed");
  fuzz_decoder_settle(P, dp);
  fuzz_decoder_settle(N, dn);
  FUZZ_ALLOC_BEGIN();

  tether_msg a, b;
  const char *wa = NULL, *wb = NULL;
  int ra = P->decode(dp, data, size, &a, &wa);
  int rb = N->decode(dn, data, size, &b, &wb);
  if (ra != rb)
    FUZZ_FAIL("decoders disagree: protobuf-c %d %s [%s] (%s), nanopb %d %s [%s] (%s)", ra,
              tether_err_name(ra), fuzz_code_class(ra), wa ? wa : "-", rb,
              tether_err_name(rb), fuzz_code_class(rb), wb ? wb : "-");
  FUZZ_CHECK(fuzz_decode_code_ok(ra), "unexpected decode code %d", ra);
  /* A rejected frame keeps the same address (session, type) in both. */
  if (ra != 0 && (a.session != b.session || a.type != b.type))
    FUZZ_FAIL("rejections (%d) keep different addresses: protobuf-c session %u type %d, "
              "nanopb session %u type %d", ra, (unsigned)a.session, (int)a.type,
              (unsigned)b.session, (int)b.type);

  if (ra == 0) {
    char diff[256];
    if (!fuzz_msg_equal(&a, &b, diff, sizeof diff))
      FUZZ_FAIL("decoders accept with different values: %s", diff);
    size_t sp = P->encoded_size(&a), sn = N->encoded_size(&b);
    size_t sx = P->encoded_size(&b), sy = N->encoded_size(&a);
    FUZZ_CHECK(sp == sn && sp == sx && sp == sy, "encoded sizes %zu %zu %zu %zu", sp, sn,
               sx, sy);
    if (a.type == TETHER_MSG_NONE) {
      uint8_t buf[8];
      FUZZ_CHECK(sp == 0, "size of a body-less frame is %zu", sp);
      FUZZ_CHECK(P->encode(&a, buf, sizeof buf, NULL, NULL) == TETHER_EINVAL &&
                     N->encode(&b, buf, sizeof buf, NULL, NULL) == TETHER_EINVAL,
                 "a body-less frame was encoded");
    } else {
      uint8_t *e[4] = {encode_with(P, &a, sp), encode_with(N, &b, sp),
                       encode_with(P, &b, sp), encode_with(N, &a, sp)};
      for (int i = 1; i < 4; i++)
        FUZZ_CHECK(memcmp(e[0], e[i], sp) == 0, "encoding %d differs from protobuf-c's", i);
      for (int i = 0; i < 4; i++) free(e[i]);
    }
  }

  fuzz_decoder_settle(P, dp);
  fuzz_decoder_settle(N, dn);
  FUZZ_ALLOC_END();
  return 0;
}
