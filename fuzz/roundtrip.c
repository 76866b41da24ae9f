/* Self round trip of one codec adapter (see roundtrip.h).
 *
 * Invariants, per input:
 *  1. decode returns 0 or a documented rejection code, with a reason;
 *     it never reads outside the payload (ASan) and a rejected decode
 *     leaves *out zeroed except, for a rule failure, its session and type;
 *  2. an accepted frame passes tether_msg_validate() as decoded;
 *  3. a body-less frame (TETHER_MSG_NONE) cannot be encoded (EINVAL, size 0);
 *  4. otherwise encoded_size() == bytes written, encoding into one byte less
 *     fails with EINVAL without writing past the buffer, the encoding
 *     decodes to an equal message, and that message encodes to the same
 *     bytes (canonical form is a fixed point);
 *  5. allocation: nanopb never allocates on decode or encode; for
 *     protobuf-c, the k-th allocation of the decode (k chosen from the
 *     input) is made to fail: the decode returns TETHER_ENOMEM (or its
 *     original rejection), leaks nothing, and the decoder decodes the input
 *     correctly right after; a Spawn encode whose array allocation fails
 *     returns TETHER_ENOMEM;
 *     With FUZZ_MAX_AMPLIFICATION=N in the environment, a decode may not
 *     ask for more than N bytes per payload byte (+ 64 KiB);
 *  6. every allocation is freed when the input is done: the decoders live
 *     across inputs (codec_ops.h), so "done" is measured after the next
 *     decode released what this one kept.
 * Inputs larger than the default frame limit are skipped: the frame reader
 * refuses them before any decoder runs.
 */
#include "roundtrip.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "msg_compare.h"
#include "tether/error.h"

/* What a rejected decode may leave in *out (codec/msg.h,
 * tether__msg_keep_address): a frame that parsed but broke a rule (EINVAL,
 * ELIMIT_*) keeps its session and type so the receiver can answer on that
 * session; anything else leaves all of it zero. */
static bool rejected_ok(const tether_msg *m, int rc) {
  static const tether_msg zero;
  tether_msg t = *m;
  bool keeps = rc == TETHER_EINVAL || strcmp(fuzz_code_class(rc), "limit") == 0;
  if (keeps) {
    if ((uint32_t)t.type > TETHER_MSG_TYPE_MAX) return false;
    t.session = 0;
    t.type = TETHER_MSG_NONE;
  }
  return memcmp(&t, &zero, sizeof t) == 0;
}

static uint8_t *xmalloc(size_t n) {
  uint8_t *p = malloc(n ? n : 1);
  FUZZ_CHECK(p != NULL, "out of memory in the harness");
  return p;
}

/* Encodes `m` into an exactly sized buffer; returns it (caller frees). */
static uint8_t *encode_exact(const fuzz_codec *c, const tether_msg *m, size_t *n_out) {
  size_t n = c->encoded_size(m);
  FUZZ_CHECK(n >= 2, "%s: encoded_size of a valid %s is %zu", c->name,
             tether_msg_type_name(m->type), n);
  /* One byte short: refused, and nothing written past the short buffer. */
  uint8_t *shortbuf = xmalloc(n - 1);
  size_t w = 1234;
  const char *why = NULL;
  int rc = c->encode(m, shortbuf, n - 1, &w, &why);
  FUZZ_CHECK(rc == TETHER_EINVAL && w == 0, "%s: encode into %zu of %zu bytes gave %d",
             c->name, n - 1, n, rc);
  free(shortbuf);

  uint8_t *buf = xmalloc(n);
  rc = c->encode(m, buf, n, &w, &why);
  FUZZ_CHECK(rc == 0, "%s: encoding a decoded %s failed: %d (%s)", c->name,
             tether_msg_type_name(m->type), rc, why ? why : "-");
  FUZZ_CHECK(w == n, "%s: encoded_size %zu but %zu written", c->name, n, w);
  *n_out = n;
  return buf;
}

void fuzz_roundtrip(const fuzz_codec *c, const uint8_t *data, size_t size) {
  if (size > FUZZ_MAX_PAYLOAD) return;
  void *d1 = fuzz_decoder(c, 0), *d2 = fuzz_decoder(c, 1);
  FUZZ_CHECK(d1 && d2, "%s: decoder_new failed", c->name);
  fuzz_decoder_settle(c, d1);
  fuzz_decoder_settle(c, d2);
  FUZZ_ALLOC_BEGIN();

  tether_msg m1, m2;
  const char *why = NULL;
  unsigned long a0 = fuzz_alloc_count();
  unsigned long long b0 = fuzz_alloc_bytes();
  int rc = c->decode(d1, data, size, &m1, &why);
  unsigned long allocs = fuzz_alloc_count() - a0;
  unsigned long long abytes = fuzz_alloc_bytes() - b0;
  /* SECURITY.md, guarantee 5: a decode asks for at most N bytes per
   * payload byte plus a fixed allowance (what TETHER_FRAME_FIELDS_MAX field
   * records cost protobuf-c); N = FUZZ_MAX_AMPLIFICATION, default 16, 0
   * turns the check off. */
  static long max_amp = -1;
  if (max_amp < 0) {
    const char *e = getenv("FUZZ_MAX_AMPLIFICATION");
    max_amp = e ? atol(e) : 16;
  }
  if (max_amp > 0)
    FUZZ_CHECK(abytes <= (unsigned long long)max_amp * size + (8u << 20),
               "%s: decoding %zu bytes allocated %llu bytes (over %ldx)", c->name, size,
               abytes, max_amp);
  FUZZ_CHECK(fuzz_decode_code_ok(rc), "%s: decode returned %d (%s)", c->name, rc,
             tether_err_name(rc));
  if (!c->decode_allocates)
    FUZZ_CHECK(allocs == 0, "%s: decode allocated %lu blocks", c->name, allocs);
  if (rc != 0) {
    FUZZ_CHECK(why && why[0], "%s: rejection %d without a reason", c->name, rc);
    FUZZ_CHECK(rejected_ok(&m1, rc), "%s: rejected decode (%d) left more than its address",
               c->name, rc);
  } else {
    const char *vwhy = NULL;
    int v = tether_msg_validate(&m1, &vwhy);
    FUZZ_CHECK(v == 0, "%s: decoded %s fails validation: %d (%s)", c->name,
               tether_msg_type_name(m1.type), v, vwhy ? vwhy : "-");
  }

  uint8_t *enc1 = NULL, *enc2 = NULL;
  size_t n1 = 0, n2 = 0;
  if (rc == 0 && m1.type == TETHER_MSG_NONE) {
    uint8_t b[16];
    size_t w = 0;
    FUZZ_CHECK(c->encoded_size(&m1) == 0, "%s: size of a body-less frame", c->name);
    FUZZ_CHECK(c->encode(&m1, b, sizeof b, &w, NULL) == TETHER_EINVAL && w == 0,
               "%s: a body-less frame was encoded", c->name);
  } else if (rc == 0) {
    unsigned long e0 = fuzz_alloc_count();
    enc1 = encode_exact(c, &m1, &n1);
    if (!c->encode_allocates)
      FUZZ_CHECK(fuzz_alloc_count() - e0 == 2, /* the harness's two buffers */
                 "%s: encode allocated", c->name);
    int rc2 = c->decode(d2, enc1, n1, &m2, &why);
    FUZZ_CHECK(rc2 == 0, "%s: re-decoding its own encoding of %s failed: %d (%s)",
               c->name, tether_msg_type_name(m1.type), rc2, why ? why : "-");
    char diff[256];
    FUZZ_CHECK(fuzz_msg_equal(&m1, &m2, diff, sizeof diff),
               "%s: decode(encode(m)) != m: %s", c->name, diff);
    enc2 = encode_exact(c, &m2, &n2);
    FUZZ_CHECK(n1 == n2 && memcmp(enc1, enc2, n1) == 0,
               "%s: second encoding differs (%zu vs %zu bytes)", c->name, n1, n2);

    if (c->encode_allocates && m1.type == TETHER_MSG_SPAWN) {
      unsigned long s0 = fuzz_alloc_count();
      size_t sz = c->encoded_size(&m2);
      if (fuzz_alloc_count() > s0) { /* the Spawn has list entries */
        uint8_t *b = xmalloc(sz);
        size_t w = 99;
        fuzz_alloc_fail_nth(1);
        int e = c->encode(&m2, b, sz, &w, &why);
        fuzz_alloc_fail_nth(0);
        FUZZ_CHECK(e == TETHER_ENOMEM && w == 0, "%s: encode with failing malloc: %d",
                   c->name, e);
        fuzz_alloc_fail_nth(1);
        FUZZ_CHECK(c->encoded_size(&m2) == 0, "%s: size with failing malloc", c->name);
        fuzz_alloc_fail_nth(0);
        free(b);
      }
    }
  }

  /* m1 is not used past here: d1 is free for the failure injection. */
  if (c->decode_allocates && allocs > 0) {
    unsigned long k = 1 + (unsigned long)(fuzz_hash(data, size) % allocs);
    tether_msg m3;
    fuzz_alloc_fail_nth(k);
    int rc3 = c->decode(d1, data, size, &m3, &why);
    bool hit = fuzz_alloc_failed();
    fuzz_alloc_fail_nth(0);
    FUZZ_CHECK(hit, "%s: allocation %lu of %lu never happened on the same input",
               c->name, k, allocs);
    FUZZ_CHECK(rc3 == TETHER_ENOMEM || (rc != 0 && rc3 == rc),
               "%s: decode with allocation %lu of %lu failing returned %d (was %d)",
               c->name, k, allocs, rc3, rc);
    FUZZ_CHECK(rejected_ok(&m3, rc3), "%s: failed decode left more than its address",
               c->name);
    /* The decoder is fully usable after running out of memory. */
    rc3 = c->decode(d1, data, size, &m3, &why);
    FUZZ_CHECK(rc3 == rc, "%s: decode after ENOMEM returned %d, first time %d",
               c->name, rc3, rc);
    char diff[256];
    if (rc == 0 && m3.type != TETHER_MSG_NONE)
      FUZZ_CHECK(fuzz_msg_equal(&m3, &m2, diff, sizeof diff),
                 "%s: decode after ENOMEM differs: %s", c->name, diff);
  }

  free(enc1);
  free(enc2);
  fuzz_decoder_settle(c, d1);
  fuzz_decoder_settle(c, d2);
  FUZZ_ALLOC_END();
}
