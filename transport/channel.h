/* Channel: one framed connection over a transport, non-blocking.
 *
 * Owns the transport, a frame reader for input and a byte queue for output.
 * Sending queues a framed payload and never blocks; flushing writes what
 * the transport takes. The output queue is bounded by `max_pending`:
 * a send that would exceed it returns TETHER_EAGAIN (the caller flushes,
 * waits for writability, or treats the peer as stalled).
 *
 * Both sides send the preface first: tether_channel_new queues it, and the
 * reader expects the peer's preface before the first frame.
 */
#ifndef TETHER_CHANNEL_H
#define TETHER_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "framing.h"
#include "transport.h"

typedef struct tether_channel tether_channel;

typedef struct tether_channel_options {
  uint32_t max_frame_in;  /* largest payload accepted from the peer */
  uint32_t max_frame_out; /* largest payload we send (the peer's limit) */
  size_t max_pending;     /* output queue bound in bytes */
} tether_channel_options;

void tether_channel_options_init(tether_channel_options *o);

/* Takes ownership of `t` (also on failure) and makes it non-blocking.
 * `o` may be NULL for the defaults. TETHER_EINVAL if a frame limit is
 * outside [1, TETHER_FRAME_MAX_CEILING] or max_pending is 0. */
int tether_channel_new(tether_transport *t, const tether_channel_options *o,
                       tether_channel **out);
void tether_channel_free(tether_channel *ch); /* accepts NULL; frees t */

/* Queuing a frame, without a copy: returns room for up to `max_payload`
 * bytes in the queue, then commit the real length. On failure NULL with
 * *err set: TETHER_EFRAME_TOO_LARGE if above max_frame_out,
 * TETHER_EFRAME_EMPTY if 0, TETHER_EAGAIN if the queue is full,
 * TETHER_ECLOSED after the transport failed or after
 * tether_channel_shutdown_write. An empty queue always takes one frame, so
 * a frame larger than max_pending (up to max_frame_out) can still be
 * queued. Only one reservation may be open at a time (TETHER_ESTATE).
 * The space is bounded by max_payload, not by what is committed. commit
 * with 0 cancels the reservation (and returns TETHER_EFRAME_EMPTY); a length
 * above the reservation is TETHER_EINVAL and also closes it. flush may run
 * while a reservation is open; the pointer stays valid until commit. */
uint8_t *tether_channel_reserve(tether_channel *ch, size_t max_payload, int *err);
int tether_channel_commit(tether_channel *ch, size_t payload_len);

/* Writes queued bytes. 0 when the queue is empty, TETHER_EAGAIN when bytes
 * remain (wait for tether_channel_write_handle to be writable), or an error
 * (sticky). */
int tether_channel_flush(tether_channel *ch);
/* Flush with a deadline, blocking (timeout_ms < 0: forever). */
int tether_channel_flush_wait(tether_channel *ch, int timeout_ms);
size_t tether_channel_pending(const tether_channel *ch);

/* Returns 1 with the next payload (valid until the next recv), 0 when none
 * is complete and the transport has nothing more now (wait for the read
 * handle before calling again: a call without waiting may return 0 again
 * without reading, when the last read already found the transport empty),
 * or a negative code:
 * TETHER_ECLOSED at a clean end of stream, TETHER_ETRUNCATED if it ended
 * mid-frame, a framing error, or a transport error. Errors are sticky. */
int tether_channel_recv(tether_channel *ch, const uint8_t **payload, size_t *len);

/* Adjusts limits after the handshake; the input limit applies from the
 * next frame header. Values are clamped to [1, TETHER_FRAME_MAX_CEILING]. */
void tether_channel_set_limits(tether_channel *ch, uint32_t max_frame_in,
                               uint32_t max_frame_out);

/* Stops the output side once the queue is flushed (half-close): flushes
 * what it can now, and the next flush that empties the queue shuts the
 * transport's write side. Sends fail with TETHER_ECLOSED from here on. */
int tether_channel_shutdown_write(tether_channel *ch);

tether_os_handle tether_channel_read_handle(tether_channel *ch);
tether_os_handle tether_channel_write_handle(tether_channel *ch);
tether_transport *tether_channel_transport(tether_channel *ch);
/* Message of the last error (framing or transport), "" if none. Input and
 * output fail separately: after a write error, frames the peer sent before
 * it went away can still be received. */
const char *tether_channel_error(const tether_channel *ch);

#endif
