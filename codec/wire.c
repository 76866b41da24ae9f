/* Strict wire-syntax check shared by both adapters (see wire.h). */
#include "codec/wire.h"

#include "tether/error.h"
#include "tether/limits.h"

#define MAX_DEPTH 16 /* the schema nests 3 deep; this only bounds the stack */

typedef struct walk {
  tether__wire_kind_fn kind;
  const char *why;
  size_t fields; /* field occurrences seen in the whole payload */
} walk;

static int bad(walk *w, const char *why) {
  w->why = why;
  return TETHER_EDECODE;
}

/* A varint of at most `max` bytes; with max == 5 the value must fit 32 bits
 * (nanopb's rule for keys, lengths and bools), with max == 10 the tenth
 * byte may only carry bit 63 (nanopb's rule for 64-bit fields). */
static int varint(walk *w, const uint8_t **p, const uint8_t *end, unsigned max,
                  uint64_t *out) {
  uint64_t v = 0;
  for (unsigned i = 0; i < max; i++) {
    if (*p >= end) return bad(w, "truncated varint");
    uint8_t b = *(*p)++;
    if (i == 4 && max == 5 && (b & 0x70)) return bad(w, "varint exceeds 32 bits");
    if (i == 9 && (b & 0xFE)) return bad(w, "varint exceeds 64 bits");
    v |= (uint64_t)(b & 0x7F) << (7 * i);
    if (!(b & 0x80)) {
      *out = v;
      return 0;
    }
  }
  return bad(w, max == 5 ? "varint exceeds 32 bits" : "varint longer than 10 bytes");
}

static int message(walk *w, const uint8_t *p, const uint8_t *end, const void *msg,
                   int depth) {
  if (depth > MAX_DEPTH) return bad(w, "messages nested too deeply");
  uint64_t seen_messages = 0; /* known submessage fields met, by number */
  int seen_oneof = 0;         /* a oneof member was met */
  while (p < end) {
    /* Bounds what protobuf-c allocates per frame (one bookkeeping record
     * per field occurrence, unknown fields kept) independently of the
     * frame size; nanopb allocates nothing, but both must agree. */
    if (++w->fields > TETHER_FRAME_FIELDS_MAX)
      return bad(w, "more than TETHER_FRAME_FIELDS_MAX (16384) fields in one frame");
    uint64_t key, v;
    int rc = varint(w, &p, end, 5, &key);
    if (rc) return rc;
    uint32_t number = (uint32_t)(key >> 3), wt = (uint32_t)(key & 7);
    if (number == 0) return bad(w, "field number 0");
    const void *sub = NULL;
    int oneof = 0;
    tether__wire_kind k = w->kind(msg, number, &sub, &oneof);
    /* Two bodies in one Frame (or code and signal in one Exited): refused,
     * never "the last one wins", which would drop the first unseen. */
    if (oneof) {
      if (seen_oneof) return bad(w, "two members of a oneof (two bodies in one frame)");
      seen_oneof = 1;
    }
    /* The schema has no repeated message fields. A singular submessage
     * sent twice is merged by nanopb (as protobuf says) but overwritten by
     * protobuf-c: no tether peer splits a submessage, so it is refused. */
    if (k == TETHER__WIRE_MESSAGE && number < 64) {
      if (seen_messages & ((uint64_t)1 << number))
        return bad(w, "a submessage field appears twice");
      seen_messages |= (uint64_t)1 << number;
    }
    /* protobuf-c reads a bool from the raw bytes of any wire type. */
    if (k == TETHER__WIRE_BOOL && wt != 0) return bad(w, "bool sent with a non-varint wire type");
    switch (wt) {
    case 0:
      if ((rc = varint(w, &p, end, k == TETHER__WIRE_BOOL ? 5 : 10, &v))) return rc;
      break;
    case 1:
      if (end - p < 8) return bad(w, "truncated fixed64");
      p += 8;
      break;
    case 5:
      if (end - p < 4) return bad(w, "truncated fixed32");
      p += 4;
      break;
    case 2:
      if ((rc = varint(w, &p, end, 5, &v))) return rc;
      if (v > (uint64_t)(end - p)) return bad(w, "length runs past the payload");
      if (k == TETHER__WIRE_MESSAGE && (rc = message(w, p, p + v, sub, depth + 1)))
        return rc;
      p += v;
      break;
    default:
      return bad(w, "unsupported wire type");
    }
  }
  return 0;
}

int tether__wire_check(const uint8_t *p, size_t len, const void *root,
                       tether__wire_kind_fn kind, const char **why) {
  walk w = {kind, NULL, 0};
  int rc = len ? message(&w, p, p + len, root, 0) : 0;
  if (rc && why) *why = w.why;
  return rc;
}
