/* Printable rendering of untrusted bytes (see escape.h). */
#include "escape.h"

void tether__escape(char *dst, size_t cap, const void *src, size_t len, unsigned flags) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = src;
  size_t o = 0;
  if (!cap) return;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = s[i];
    char two = 0;
    switch (c) {
    case '\n': two = 'n'; break;
    case '\r': two = 'r'; break;
    case '\t': two = 't'; break;
    case '"':
    case '\\':
      if (!(flags & TETHER__ESC_KEEP_QUOTES)) two = (char)c;
      break;
    default: break;
    }
    /* C1 controls (U+0080..U+009F, UTF-8 C2 80..C2 9F) are escaped even
     * with KEEP_UTF8: some terminals act on U+009B as CSI. */
    if ((flags & TETHER__ESC_KEEP_UTF8) && c == 0xC2 && i + 1 < len && s[i + 1] >= 0x80 &&
        s[i + 1] <= 0x9F) {
      if (o + 8 >= cap) break;
      i++;
      const char c1[8] = { '\\', 'x', 'c', '2', '\\', 'x', hex[s[i] >> 4], hex[s[i] & 15] };
      for (int k = 0; k < 8; k++) dst[o++] = c1[k];
      continue;
    }
    if (two) {
      if (o + 2 >= cap) break;
      dst[o++] = '\\';
      dst[o++] = two;
    } else if ((c >= 0x20 && c < 0x7f) || (c >= 0x80 && (flags & TETHER__ESC_KEEP_UTF8))) {
      if (o + 1 >= cap) break;
      dst[o++] = (char)c;
    } else {
      if (o + 4 >= cap) break;
      dst[o++] = '\\';
      dst[o++] = 'x';
      dst[o++] = hex[c >> 4];
      dst[o++] = hex[c & 15];
    }
  }
  dst[o] = '\0';
}
