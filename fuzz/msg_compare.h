/* Field-by-field comparison of two tether_msg values (codec/msg.h).
 *
 * Only the fields of the active body member are compared (the rest of the
 * union is not meaningful), byte views by content, never by address. Used
 * by the fuzz harnesses; a test may include it too (it depends on
 * codec/msg.h only).
 */
#ifndef TETHER_FUZZ_MSG_COMPARE_H
#define TETHER_FUZZ_MSG_COMPARE_H

#include <stdbool.h>
#include <stddef.h>

#include "codec/msg.h"

/* True if `a` and `b` carry the same frame. Otherwise false, and `diff`
 * (if not NULL) receives the first differing field, e.g.
 * "u.spawn.argv[2]: 3 bytes vs 4 bytes". */
bool fuzz_msg_equal(const tether_msg *a, const tether_msg *b, char *diff,
                    size_t diff_len);

#endif
