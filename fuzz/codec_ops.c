/* fuzz_codec tables for the two adapters (see codec_ops.h). */
#include "codec_ops.h"

#include "tether/error.h"

static int pbc_new(void **out) {
  tether_pbc_decoder *d = NULL;
  int rc = tether_pbc_decoder_new(&d);
  *out = d;
  return rc;
}
static void pbc_free(void *d) { tether_pbc_decoder_free(d); }
static int pbc_decode(void *d, const uint8_t *p, size_t n, tether_msg *out,
                      const char **why) {
  return tether_pbc_decode(d, p, n, out, why);
}

static int np_new(void **out) {
  tether_nanopb_decoder *d = NULL;
  int rc = tether_nanopb_decoder_new(&d);
  *out = d;
  return rc;
}
static void np_free(void *d) { tether_nanopb_decoder_free(d); }
static int np_decode(void *d, const uint8_t *p, size_t n, tether_msg *out,
                     const char **why) {
  return tether_nanopb_decode(d, p, n, out, why);
}

const fuzz_codec fuzz_codec_pbc = {"protobuf-c", pbc_new, pbc_free, pbc_decode,
                                   tether_pbc_encoded_size, tether_pbc_encode,
                                   true, true};
const fuzz_codec fuzz_codec_nanopb = {"nanopb", np_new, np_free, np_decode,
                                      tether_nanopb_encoded_size, tether_nanopb_encode,
                                      false, false};

void *fuzz_decoder(const fuzz_codec *c, int slot) {
  static void *pool[2][2];
  int k = c == &fuzz_codec_pbc ? 0 : 1;
  if (!pool[k][slot] && c->dec_new(&pool[k][slot]) != 0) return NULL;
  return pool[k][slot];
}

void fuzz_decoder_settle(const fuzz_codec *c, void *d) {
  static const uint8_t session_only[] = {0x08, 0x01}; /* Frame{session: 1} */
  tether_msg m;
  (void)c->decode(d, session_only, sizeof session_only, &m, NULL);
}

bool fuzz_decode_code_ok(int rc) {
  switch (rc) {
  case 0:
  case TETHER_EDECODE:
  case TETHER_EINVAL:
  case TETHER_ELIMIT_ARGV_COUNT:
  case TETHER_ELIMIT_ARGV_BYTES:
  case TETHER_ELIMIT_ENV_COUNT:
  case TETHER_ELIMIT_ENV_BYTES:
  case TETHER_ELIMIT_PATH:
  case TETHER_ELIMIT_STRING:
  case TETHER_ELIMIT_ROOTS:
    return true;
  default:
    return false;
  }
}

const char *fuzz_code_class(int rc) {
  switch (rc) {
  case 0: return "ok";
  case TETHER_EDECODE: return "decode";
  case TETHER_EINVAL: return "invalid";
  case TETHER_ENOMEM: return "nomem";
  case TETHER_ELIMIT_ARGV_COUNT:
  case TETHER_ELIMIT_ARGV_BYTES:
  case TETHER_ELIMIT_ENV_COUNT:
  case TETHER_ELIMIT_ENV_BYTES:
  case TETHER_ELIMIT_PATH:
  case TETHER_ELIMIT_STRING:
  case TETHER_ELIMIT_ROOTS:
    return "limit";
  default:
    return "other";
  }
}
