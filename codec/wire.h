/* Internal: a strict wire-syntax check both codec adapters run before their
 * library parses a payload.
 *
 * protobuf-c and nanopb disagree at the edges of the wire format (a field key
 * or length whose varint runs past 32 bits, a 6-byte padded length, a bool
 * sent as a 64-bit varint or with a fixed wire type, an overlong unknown varint, field number 0): one
 * accepts what the other rejects. Both adapters reject all of those here,
 * walking the same bytes with the same rules, each describing the schema
 * from its own generated descriptors; after that the two libraries agree.
 * Two rules go beyond syntax: a frame holds at most TETHER_FRAME_FIELDS_MAX
 * field occurrences (bounding protobuf-c's allocations, which happen before
 * any count check), a singular submessage field may appear only once
 * per message (the schema has no repeated message fields; a future one
 * needs its own kind here), and a message holds at most one occurrence of
 * oneof members (protobuf keeps the last and silently drops the others:
 * Output then Exited in one Frame would lose the Output; every message in
 * the schema has at most one oneof, so one count per message suffices).
 */
#ifndef TETHER_CODEC_WIRE_H
#define TETHER_CODEC_WIRE_H

#include <stddef.h>
#include <stdint.h>

typedef enum tether__wire_kind {
  TETHER__WIRE_UNKNOWN, /* not in the schema: skipped */
  TETHER__WIRE_OTHER,   /* known scalar, bytes, string, enum */
  TETHER__WIRE_BOOL,    /* known bool: its varint must fit 32 bits */
  TETHER__WIRE_MESSAGE  /* known submessage: walked with *sub */
} tether__wire_kind;

/* Kind of field `number` in message `msg` (an adapter's descriptor); *oneof
 * is set to 1 when the field is a member of a oneof. */
typedef tether__wire_kind (*tether__wire_kind_fn)(const void *msg, uint32_t number,
                                                  const void **sub, int *oneof);

/* 0 if `p` passes the strict rules, else TETHER_EDECODE with a static
 * reason in *why. */
int tether__wire_check(const uint8_t *p, size_t len, const void *root,
                       tether__wire_kind_fn kind, const char **why);

#endif
