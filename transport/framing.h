/* Framing: preface + length-prefixed frames over a byte stream.
 *
 * Codec-agnostic: bytes in, frame payloads out (hiredis-style reader). The
 * reader never touches a transport; it accepts input split at any byte.
 *
 *   preface   TETHER_PREFACE_LEN bytes, TETHER_PREFACE_BYTES
 *   frame     u32 little-endian payload length, then the payload
 *
 * A length of 0 is TETHER_EFRAME_EMPTY; a length above the reader's maximum
 * is TETHER_EFRAME_TOO_LARGE, detected from the 4 header bytes alone, before
 * any buffer is grown or any body byte is consumed. Errors are sticky: after
 * one, every call returns the same code and tether_frame_reader_error()
 * keeps the message.
 */
#ifndef TETHER_FRAMING_H
#define TETHER_FRAMING_H

#include <stddef.h>
#include <stdint.h>

#include "tether/error.h"
#include "tether/limits.h"

#define TETHER_FRAME_HEADER_LEN 4u

extern const uint8_t tether_preface[TETHER_PREFACE_LEN];

/* Writes the 4-byte header for a payload of `len` bytes. */
void tether_frame_header_put(uint8_t hdr[TETHER_FRAME_HEADER_LEN], uint32_t len);

typedef struct tether_frame_reader {
  uint32_t max_frame;   /* payload limit */
  int want_preface;     /* still expecting (part of) the preface */
  size_t preface_seen;  /* preface bytes matched so far */
  uint8_t hdr[TETHER_FRAME_HEADER_LEN];
  size_t hdr_seen;
  uint8_t *buf;         /* payload buffer, grown to the largest frame seen */
  size_t cap;
  uint32_t need;        /* payload length of the frame being read */
  size_t have;          /* payload bytes read so far */
  int ready;            /* a complete frame sits in buf[0..need) */
  int err;              /* sticky error code, 0 if none */
  char msg[128];        /* sticky error message */
} tether_frame_reader;

/* max_frame must be in [1, TETHER_FRAME_MAX_CEILING]; expect_preface
 * non-zero makes the first bytes the preface. Allocates nothing. */
int tether_frame_reader_init(tether_frame_reader *r, uint32_t max_frame,
                             int expect_preface);
/* Frees the buffer; the reader may be re-initialised. */
void tether_frame_reader_free(tether_frame_reader *r);
/* Changes the limit for frames whose header has not been read yet (after
 * the handshake negotiated one). */
int tether_frame_reader_set_max(tether_frame_reader *r, uint32_t max_frame);

/* Consumes up to `len` bytes, stopping at the end of the first complete
 * frame; *consumed says how many were taken. Returns 1 when a frame is
 * ready (take it with _next before feeding more), 0 when more bytes are
 * needed, or a negative error. */
int tether_frame_reader_feed(tether_frame_reader *r, const uint8_t *data,
                             size_t len, size_t *consumed);

/* The ready frame's payload, valid until the next feed; clears "ready".
 * Returns 1 with the payload, 0 if none is ready, or the sticky error. */
int tether_frame_reader_next(tether_frame_reader *r, const uint8_t **payload,
                             size_t *len);

/* True if the reader is between frames (a clean place for EOF). */
int tether_frame_reader_idle(const tether_frame_reader *r);

/* Call at end of input: 0 if idle, else TETHER_ETRUNCATED (sticky). */
int tether_frame_reader_eof(tether_frame_reader *r);

int tether_frame_reader_error_code(const tether_frame_reader *r);
const char *tether_frame_reader_error(const tether_frame_reader *r);

#endif
