/* Codec adapters: tether_msg <-> encoded tether.v1.Frame payloads.
 *
 * Two adapters over the same schema: protobuf-c (the parent's) and nanopb
 * (the runner's, fixed memory). Both validate with tether_msg_validate()
 * after decoding and before encoding, so they accept and reject the same
 * frames. Decoders are reusable objects; a decoded tether_msg's views stay
 * valid until the next decode with the same decoder (nanopb: and while the
 * payload buffer is unchanged, since views point into it).
 *
 * Returns: 0, TETHER_EDECODE (does not parse), a TETHER_ELIMIT_* code or
 * TETHER_EINVAL (parses but breaks a rule; then out->session and
 * out->type are still set and the body is zeroed, so the receiver can
 * answer on the right session); `why` (may be NULL) gets a static or
 * decoder-owned message naming the field.
 *
 * Details (added with the implementation):
 *  - Decoding: a body type this build does not know, or no body, gives
 *    type TETHER_MSG_NONE and 0. Both decoders first run the same strict
 *    wire check (codec/wire.h), so they accept exactly the same payloads.
 *    List counts are checked before any entry is stored. The pbc decoder
 *    allocates (arena, freed on the next decode or on free; TETHER_ENOMEM if
 *    that fails); the nanopb decoder never allocates after _new.
 *  - Encoding: `m` is validated first (same codes as decoding); a
 *    TETHER_MSG_NONE message cannot be encoded (TETHER_EINVAL); a `cap` too
 *    small for the frame gives TETHER_EINVAL (use *_encoded_size first).
 *    `written` may be NULL. Both encoders produce identical bytes. The pbc
 *    encoder allocates one array for repeated bytes (TETHER_ENOMEM).
 *  - `why` from an encoder points to a per-thread buffer that the next
 *    tether_msg_validate() on that thread overwrites.
 */
#ifndef TETHER_CODEC_H
#define TETHER_CODEC_H

#include "msg.h"

/* ---- protobuf-c (parent side) ---- */
typedef struct tether_pbc_decoder tether_pbc_decoder;
int tether_pbc_decoder_new(tether_pbc_decoder **out);
void tether_pbc_decoder_free(tether_pbc_decoder *d); /* accepts NULL */
int tether_pbc_decode(tether_pbc_decoder *d, const uint8_t *payload, size_t len,
                      tether_msg *out, const char **why);
/* Exact encoded size, or 0 if `m` does not validate. */
size_t tether_pbc_encoded_size(const tether_msg *m);
int tether_pbc_encode(const tether_msg *m, uint8_t *buf, size_t cap,
                      size_t *written, const char **why);

/* ---- nanopb (runner side) ---- */
typedef struct tether_nanopb_decoder tether_nanopb_decoder;
int tether_nanopb_decoder_new(tether_nanopb_decoder **out);
void tether_nanopb_decoder_free(tether_nanopb_decoder *d); /* accepts NULL */
int tether_nanopb_decode(tether_nanopb_decoder *d, const uint8_t *payload,
                         size_t len, tether_msg *out, const char **why);
size_t tether_nanopb_encoded_size(const tether_msg *m);
int tether_nanopb_encode(const tether_msg *m, uint8_t *buf, size_t cap,
                         size_t *written, const char **why);

#endif
