/* The two codec adapters behind one table, so one round-trip harness body
 * (roundtrip.c) serves both fuzz_pbc and fuzz_nanopb, and the differential
 * harness can treat them alike. */
#ifndef TETHER_FUZZ_CODEC_OPS_H
#define TETHER_FUZZ_CODEC_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/codec.h"

typedef struct fuzz_codec {
  const char *name;
  int (*dec_new)(void **out);
  void (*dec_free)(void *d);
  int (*decode)(void *d, const uint8_t *p, size_t n, tether_msg *out, const char **why);
  size_t (*encoded_size)(const tether_msg *m);
  int (*encode)(const tether_msg *m, uint8_t *buf, size_t cap, size_t *written,
                const char **why);
  /* codec.h's promises: nanopb never allocates after _new; protobuf-c
   * allocates its arena on decode and one array when encoding a Spawn. */
  bool decode_allocates;
  bool encode_allocates;
} fuzz_codec;

extern const fuzz_codec fuzz_codec_pbc;
extern const fuzz_codec fuzz_codec_nanopb;

/* Long-lived decoders, one per (codec, slot 0..1), created on first use
 * and kept for the life of the process, as the parent and the runner keep
 * theirs: a fresh ~140 KiB decoder per input would cost more than the
 * decode (and would miss state carried from one frame to the next).
 * fuzz_decoder_settle() decodes a tiny fixed frame, which releases whatever
 * the previous decode kept (protobuf-c's arena) and leaves the same fixed
 * footprint every time, so allocation balance can be checked per input
 * between two settles. */
void *fuzz_decoder(const fuzz_codec *c, int slot);
void fuzz_decoder_settle(const fuzz_codec *c, void *d);

/* Every code a decoder may return for hostile input (ENOMEM only when an
 * allocation failed). */
bool fuzz_decode_code_ok(int rc);
/* Coarse class of a decode result: "ok", "decode", "limit", "invalid",
 * "nomem" or "other"; the differential harness reports it. */
const char *fuzz_code_class(int rc);

#endif
